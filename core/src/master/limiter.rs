//! A linked true-peak lookahead limiter.
//!
//! Peaks are detected between samples on the band-limited reconstruction (16x interpolation
//! in two stages below 96 kHz, 8x above), with a margin that covers what its grid can miss, so
//! the waveform a DAC or a lossy decoder rebuilds stays under the ceiling; and by the BS.1770
//! meter's interpolator too, so that standard reading stays under it as well (see
//! [`CeilingDetector`]). The gain needed to keep each sample interval under the ceiling is held
//! for the lookahead time (a sliding minimum), released exponentially, then smoothed by a moving
//! average as long as the lookahead, so the gain reaches the level a peak needs exactly when the
//! (delayed) peak arrives, never later: the attack is a smooth ramp, not a step, and the output
//! never exceeds the ceiling. All channels share one gain so the stereo image does not shift.

use super::peak::CeilingDetector;

/// Lookahead (and attack ramp) in seconds.
pub const LOOKAHEAD_SECONDS: f64 = 0.005;
/// Frames processed per pass of the limiter's inner loops (stack buffers, no allocation).
const SUB_BLOCK: usize = 256;

/// What the limiter did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LimiterStats {
    /// Largest gain reduction in dB (0 = never limited).
    pub max_gain_reduction_db: f32,
    /// Gain reduction in dB summed over frames (divide by `frames` for the mean; sampled every
    /// 16th frame).
    pub sum_gain_reduction_db: f64,
    /// Frames processed.
    pub frames: u64,
    /// Frames where the gain was reduced by more than 0.1 dB.
    pub limited_frames: u64,
}

/// A true-peak lookahead limiter for a fixed channel count.
#[derive(Debug)]
pub struct TruePeakLimiter {
    enabled: bool,
    /// The level the detector's (margin-scaled) peaks are held under: the ceiling.
    threshold: f32,
    ceiling: f32,
    detector: CeilingDetector,
    previous_peak: f32,
    lookahead: usize,
    /// The gains the last `lookahead - 1` intervals require, oldest first, then room for a
    /// sub-block's: the sliding minimum reads its windows from here.
    required: Vec<f32>,
    /// Scratch for the sliding minimum, each as long as `required`.
    minima: [Vec<f32>; 2],
    /// The last `lookahead` envelope values, oldest first, then room for a sub-block's (the
    /// ramp adds each new value and drops the one `lookahead` before it).
    ramp: Vec<f64>,
    ramp_sum: f64,
    /// How far the released envelope is below 1 (the envelope is `1 - depth`): in this form
    /// the release recursion is one multiply and one max per frame.
    depth: f64,
    /// The release's decay per frame to the powers 1 to 4 (the recursion advances four frames
    /// per step).
    release_powers: [f64; 4],
    /// Per channel: the last `delay` input samples, then room for a sub-block (the output is
    /// read `delay` samples behind the input, a vectorisable multiply).
    delay_lines: Vec<Vec<f32>>,
    delay: usize,
    stats: LimiterStats,
}

impl TruePeakLimiter {
    /// A limiter for `channels` at `sample_rate` with a ceiling in dBTP and a release time.
    /// Disabled, it only delays by the same [`latency`](Self::latency), so toggling it does not
    /// move the audio.
    pub fn new(
        channels: usize,
        sample_rate: u32,
        ceiling_dbtp: f32,
        release_ms: f32,
        enabled: bool,
    ) -> Self {
        let detector = CeilingDetector::new(channels, sample_rate);
        let lookahead = ((LOOKAHEAD_SECONDS * f64::from(sample_rate)).round() as usize).max(1);
        let delay = detector.delay() + lookahead - 1;
        let ceiling = 10f64.powf(f64::from(ceiling_dbtp) / 20.0);
        let release_s = f64::from(release_ms).max(1.0) / 1000.0;
        let release = (-1.0 / (release_s * f64::from(sample_rate))).exp();
        Self {
            enabled,
            threshold: ceiling as f32,
            ceiling: ceiling as f32,
            detector,
            previous_peak: 0.0,
            lookahead,
            required: vec![1.0; lookahead - 1 + SUB_BLOCK],
            minima: std::array::from_fn(|_| vec![1.0; lookahead - 1 + SUB_BLOCK]),
            ramp: vec![1.0; lookahead + SUB_BLOCK],
            ramp_sum: lookahead as f64,
            depth: 0.0,
            release_powers: [
                release,
                release * release,
                release * release * release,
                release * release * release * release,
            ],
            delay_lines: vec![vec![0.0; delay + SUB_BLOCK]; channels],
            delay,
            stats: LimiterStats::default(),
        }
    }

    /// The level (linear) the detector's margin-scaled peaks are held under.
    pub(crate) fn threshold(&self) -> f32 {
        self.threshold
    }

    /// The lookahead (and attack ramp) in frames.
    pub(crate) fn lookahead_frames(&self) -> usize {
        self.lookahead
    }

    /// The release's decay per frame.
    pub(crate) fn release_per_frame(&self) -> f64 {
        self.release_powers[0]
    }

    /// The delay in frames between input and output.
    pub fn latency(&self) -> usize {
        self.delay
    }

    /// What the limiter did since construction or the last reset.
    pub fn stats(&self) -> LimiterStats {
        self.stats
    }

    /// Forgets all history.
    pub fn reset(&mut self) {
        self.detector.reset();
        self.delay_lines.iter_mut().for_each(|d| d.fill(0.0));
        self.previous_peak = 0.0;
        self.required.fill(1.0);
        self.ramp.fill(1.0);
        self.ramp_sum = self.lookahead as f64;
        self.depth = 0.0;
        self.stats = LimiterStats::default();
    }

    /// Limits `channels` in place (all slices the same length, one per channel).
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        self.process_blocks(channels, None);
    }

    /// Limits `channels` in place like [`process`](Self::process), with the detector's peaks
    /// of these frames already known: `peaks[i] * scale` is what the detector would report
    /// for frame `i` (a pass over the same audio at another gain measured them). The
    /// detector itself is not fed, so a limiter is driven by one of the two methods only.
    pub(crate) fn process_with_peaks(
        &mut self,
        channels: &mut [&mut [f32]],
        peaks: &[f32],
        scale: f32,
    ) {
        self.process_blocks(channels, Some((peaks, scale)));
    }

    fn process_blocks(&mut self, channels: &mut [&mut [f32]], known: Option<(&[f32], f32)>) {
        let frames = channels.first().map_or(0, |c| c.len());
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(SUB_BLOCK);
            let known = known.map(|(peaks, scale)| (&peaks[start..start + n], scale));
            self.process_sub_block(channels, start, n, known);
            start += n;
        }
    }

    /// Three passes over at most [`SUB_BLOCK`] frames: peaks (detected, or the `known` ones
    /// scaled), gains, delayed output.
    fn process_sub_block(
        &mut self,
        channels: &mut [&mut [f32]],
        start: usize,
        n: usize,
        known: Option<(&[f32], f32)>,
    ) {
        let mut gains = [1.0f32; SUB_BLOCK];
        let gains = &mut gains[..n];
        if self.enabled {
            match known {
                Some((peaks, scale)) => {
                    for (g, p) in gains.iter_mut().zip(peaks) {
                        *g = p * scale;
                    }
                }
                None => self
                    .detector
                    .push_block(channels, start, gains, self.threshold),
            }
            let loud = gains.iter().any(|p| *p > self.threshold);
            if !loud && self.at_rest() {
                // Nothing to limit and nothing to release: the gain stays at exactly 1.
                gains.fill(1.0);
                self.previous_peak = 0.0;
            } else {
                self.peaks_to_gains(gains);
            }
        }
        // Never needed by construction; a last guard against a bug becoming a clip.
        let bound = if self.enabled {
            self.ceiling
        } else {
            f32::INFINITY
        };
        let delay = self.delay;
        for (ch, line) in channels.iter_mut().zip(&mut self.delay_lines) {
            let block = &mut ch[start..start + n];
            line[delay..delay + n].copy_from_slice(block);
            for ((y, x), g) in block.iter_mut().zip(&line[..n]).zip(gains.iter()) {
                *y = (x * g).clamp(-bound, bound);
            }
            line.copy_within(n..n + delay, 0);
        }
        if self.enabled {
            let limited_below = 10f32.powf(-0.1 / 20.0);
            let min_gain = gains.iter().fold(1.0f32, |m, g| m.min(*g));
            if min_gain < 1.0 {
                self.stats.limited_frames +=
                    gains.iter().filter(|g| **g < limited_below).count() as u64;
                // The mean is sampled every 16th frame: a logarithm per frame would cost more
                // than the rest of the limiter.
                let offset = (16 - self.stats.frames % 16) as usize % 16;
                for g in gains.iter().skip(offset).step_by(16) {
                    self.stats.sum_gain_reduction_db += 16.0 * f64::from(-20.0 * g.log10());
                }
                let max_gr = -20.0 * min_gain.log10();
                self.stats.max_gain_reduction_db = self.stats.max_gain_reduction_db.max(max_gr);
            }
        }
        self.stats.frames += n as u64;
    }

    /// True when the gain is back at 1 everywhere (released, nothing held, ramp flat). Snaps a
    /// nearly released envelope to exactly 1 so the fast path can take over.
    fn at_rest(&mut self) -> bool {
        let history = &self.required[..self.lookahead - 1];
        let nothing_held = history.iter().all(|&r| r >= 1.0);
        if self.depth < 1e-7
            && nothing_held
            && self.ramp[..self.lookahead].iter().all(|r| 1.0 - r < 1e-7)
        {
            self.depth = 0.0;
            self.ramp.fill(1.0);
            self.ramp_sum = self.lookahead as f64;
        }
        self.depth <= 0.0 && self.ramp_sum >= self.lookahead as f64 && nothing_held
    }

    /// Turns the peaks of the newest detector intervals into the gains for the frames leaving
    /// the delay, in place.
    ///
    /// Four passes: the gain each interval requires and their minimum over the lookahead (the
    /// sliding minimum by doubling windows), both elementwise, then the release and the ramp,
    /// recursions that advance four frames per step.
    fn peaks_to_gains(&mut self, gains: &mut [f32]) {
        let (threshold, lookahead) = (self.threshold, self.lookahead);
        let n = gains.len();
        let history = lookahead - 1;
        let mut previous_peak = self.previous_peak;
        for (r, &peak) in self.required[history..history + n]
            .iter_mut()
            .zip(gains.iter())
        {
            // An interval's peak also bounds the interval before it (they share a sample).
            let need = peak.max(previous_peak);
            previous_peak = peak;
            *r = if need > threshold {
                threshold / need
            } else {
                1.0
            };
        }
        self.previous_peak = previous_peak;
        sliding_minimum(
            &self.required[..history + n],
            lookahead,
            &mut self.minima,
            gains,
        );
        self.required.copy_within(n..n + history, 0);

        let (depth, envelopes) = (self.depth, &mut self.ramp[lookahead..lookahead + n]);
        self.depth = release_envelope(gains, depth, self.release_powers, envelopes);
        self.ramp_sum = moving_average(&self.ramp, lookahead, self.ramp_sum, gains);
        self.ramp.copy_within(n..n + lookahead, 0);
    }
}

/// The released envelope `1 - depth` of the held gains into `envelopes`, where
/// `depth[i] = max(1 - held[i], release * depth[i - 1])`: an instant attack to the held value
/// and an exponential release. Returns the last depth.
///
/// Four frames per step, each computed from the depth before the step
/// (`depth[i + 3] = max(x[i + 3], r x[i + 2], r² x[i + 1], r³ x[i], r⁴ depth[i - 1])`), so the
/// recursion's multiply and maximum are paid once per four frames.
fn release_envelope(held: &[f32], mut depth: f64, r: [f64; 4], envelopes: &mut [f64]) -> f64 {
    let x = |g: f32| 1.0 - f64::from(g);
    let mut steps = held.chunks_exact(4);
    let mut outs = envelopes.chunks_exact_mut(4);
    for (h, e) in (&mut steps).zip(&mut outs) {
        let (x0, x1, x2, x3) = (x(h[0]), x(h[1]), x(h[2]), x(h[3]));
        let d0 = x0.max(r[0] * depth);
        let d1 = x1.max(r[0] * x0).max(r[1] * depth);
        let d2 = x2.max(r[0] * x1).max(r[1] * x0).max(r[2] * depth);
        let d3 = x3
            .max(r[0] * x2)
            .max(r[1] * x1)
            .max(r[2] * x0)
            .max(r[3] * depth);
        e.copy_from_slice(&[1.0 - d0, 1.0 - d1, 1.0 - d2, 1.0 - d3]);
        depth = d3;
    }
    for (h, e) in steps.remainder().iter().zip(outs.into_remainder()) {
        depth = x(*h).max(r[0] * depth);
        *e = 1.0 - depth;
    }
    depth
}

/// The ramp: writes into `gains` the mean of the last `window` envelopes at each new frame,
/// given `history` (the `window` envelopes before the new ones, then one new envelope per
/// gain) and `sum`, the sum of the first `window`. Returns the sum of the last `window`.
///
/// The running sum advances four frames per step: the changes within a step are summed off
/// the recursion, which adds once per step.
fn moving_average(history: &[f64], window: usize, mut sum: f64, gains: &mut [f32]) -> f64 {
    let n = gains.len();
    let scale = 1.0 / window as f64;
    let change = |i: usize| history[window + i] - history[i];
    let mean = |s: f64| (s * scale).min(1.0) as f32;
    let mut i = 0;
    while i + 4 <= n {
        let (c0, c1, c2, c3) = (change(i), change(i + 1), change(i + 2), change(i + 3));
        let c01 = c0 + c1;
        let c012 = c01 + c2;
        let c0123 = c012 + c3;
        gains[i..i + 4].copy_from_slice(&[
            mean(sum + c0),
            mean(sum + c01),
            mean(sum + c012),
            mean(sum + c0123),
        ]);
        sum += c0123;
        i += 4;
    }
    for (k, g) in gains.iter_mut().enumerate().skip(i) {
        sum += change(k);
        *g = mean(sum);
    }
    sum
}

/// Writes into `out[i]` the minimum of `values[i..i + window]` for every `i` in `out` (so
/// `values` holds `out.len() + window - 1` entries), using two scratch buffers as long as
/// `values`.
///
/// Windows double from pass to pass: after the pass for `k`, entry `j` is the minimum of
/// `values[j..j + 2k]`. Two overlapping windows of the largest power of two within `window`
/// then cover each window exactly. Every pass is an elementwise minimum, which vectorises; a
/// monotonic queue would branch on every sample.
pub(crate) fn sliding_minimum(
    values: &[f32],
    window: usize,
    scratch: &mut [Vec<f32>; 2],
    out: &mut [f32],
) {
    let n = out.len();
    debug_assert_eq!(values.len(), n + window - 1);
    let [front, back] = scratch;
    let (mut front, mut back) = (&mut front[..], &mut back[..]);
    let mut k = 1;
    while 2 * k <= window {
        // The windows of 2k that the following passes (or the last step) still read.
        let needed = n + window - 2 * k;
        let source: &[f32] = if k == 1 { values } else { front };
        for (m, (a, b)) in back[..needed]
            .iter_mut()
            .zip(source.iter().zip(&source[k..]))
        {
            *m = a.min(*b);
        }
        std::mem::swap(&mut front, &mut back);
        k *= 2;
    }
    let minima: &[f32] = if k == 1 { values } else { front };
    let offset = window - k;
    for ((o, a), b) in out.iter_mut().zip(minima).zip(&minima[offset..]) {
        *o = a.min(*b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// True peak of planar audio by ebur128's meter, in dBTP.
    fn true_peak_db(channels: &[Vec<f32>], rate: u32) -> f64 {
        let mut m =
            ebur128::EbuR128::new(channels.len() as u32, rate, ebur128::Mode::TRUE_PEAK).unwrap();
        let refs: Vec<&[f32]> = channels.iter().map(Vec::as_slice).collect();
        m.add_frames_planar_f32(&refs).unwrap();
        (0..channels.len())
            .map(|c| 20.0 * m.true_peak(c as u32).unwrap().log10())
            .fold(f64::NEG_INFINITY, f64::max)
    }

    fn run(
        limiter: &mut TruePeakLimiter,
        mut channels: Vec<Vec<f32>>,
        block: usize,
    ) -> Vec<Vec<f32>> {
        let frames = channels[0].len();
        let mut start = 0;
        while start < frames {
            let end = (start + block).min(frames);
            let mut slices: Vec<&mut [f32]> =
                channels.iter_mut().map(|c| &mut c[start..end]).collect();
            limiter.process(&mut slices);
            start = end;
        }
        channels
    }

    #[test]
    fn sliding_minimum_equals_the_direct_minimum() {
        let values: Vec<f32> = (0..700u32)
            .map(|i| ((i.wrapping_mul(2_654_435_761) >> 7) % 1000) as f32)
            .collect();
        for window in [1, 2, 3, 7, 8, 9, 221, 256, 441] {
            for n in [1, 37, 256] {
                let input = &values[..n + window - 1];
                let mut scratch = [vec![0.0; input.len()], vec![0.0; input.len()]];
                let mut out = vec![0.0; n];
                sliding_minimum(input, window, &mut scratch, &mut out);
                for (i, o) in out.iter().enumerate() {
                    let want = input[i..i + window]
                        .iter()
                        .fold(f32::INFINITY, |m, v| m.min(*v));
                    assert_eq!(*o, want, "window {window}, n {n}, frame {i}");
                }
            }
        }
    }

    #[test]
    fn stepped_recursions_equal_the_frame_by_frame_ones() {
        let held: Vec<f32> = (0..259u32)
            .map(|i| 1.0 - ((i.wrapping_mul(2_654_435_761) >> 9) % 500) as f32 / 1000.0)
            .collect();
        let r = 0.97f64;
        let mut envelopes = vec![0.0; held.len()];
        let last = release_envelope(
            &held,
            0.3,
            [r, r * r, r * r * r, r * r * r * r],
            &mut envelopes,
        );
        let mut depth = 0.3f64;
        for (h, e) in held.iter().zip(&envelopes) {
            depth = (1.0 - f64::from(*h)).max(r * depth);
            assert!((1.0 - depth - e).abs() < 1e-12, "{e} vs {}", 1.0 - depth);
        }
        assert!((last - depth).abs() < 1e-12);

        let window = 7;
        let history: Vec<f64> = (0..window + held.len())
            .map(|i| 0.5 + 0.5 * ((i * 37) % 11) as f64 / 11.0)
            .collect();
        let start: f64 = history[..window].iter().sum();
        let mut gains = vec![0.0; held.len()];
        let end = moving_average(&history, window, start, &mut gains);
        for (i, g) in gains.iter().enumerate() {
            let mean = history[i + 1..i + 1 + window].iter().sum::<f64>() / window as f64;
            assert!(
                (f64::from(*g) - mean.min(1.0)).abs() < 1e-6,
                "frame {i}: {g} vs {mean}"
            );
        }
        let want: f64 = history[held.len()..].iter().sum();
        assert!((end - want).abs() < 1e-9, "{end} vs {want}");
    }

    #[test]
    fn disabled_is_a_pure_delay() {
        let mut lim = TruePeakLimiter::new(2, 44_100, -1.0, 200.0, false);
        let d = lim.latency();
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.37).sin() * 3.0).collect();
        let out = run(&mut lim, vec![x.clone(), x.clone()], 64);
        for n in d..1000 {
            assert_eq!(out[0][n], x[n - d]);
        }
    }

    #[test]
    fn quiet_signal_passes_untouched() {
        let mut lim = TruePeakLimiter::new(1, 48_000, -1.0, 200.0, true);
        let d = lim.latency();
        let x: Vec<f32> = (0..5000).map(|i| (i as f32 * 0.01).sin() * 0.5).collect();
        let out = run(&mut lim, vec![x.clone()], 128);
        for n in d..5000 {
            assert!((out[0][n] - x[n - d]).abs() < 1e-6);
        }
        assert_eq!(lim.stats().max_gain_reduction_db, 0.0);
    }

    #[test]
    fn intersample_peaks_are_caught() {
        // fs/4 sine with a 45 degree phase: samples at 0.707, true peak at 1.0 (+3 dB).
        let rate = 44_100;
        let x: Vec<f32> = (0..rate as usize)
            .map(|n| {
                (std::f64::consts::FRAC_PI_2 * n as f64 + std::f64::consts::FRAC_PI_4).sin() as f32
                    * 1.2
            })
            .collect();
        let mut lim = TruePeakLimiter::new(1, rate, -1.0, 100.0, true);
        let out = run(&mut lim, vec![x], 512);
        let tp = true_peak_db(&out, rate);
        assert!(tp <= -1.0 + 0.05, "true peak {tp}");
        assert!(tp > -1.5, "over-limited: {tp}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn never_exceeds_the_ceiling(
            seed in any::<u32>(),
            gain_db in 0.0f32..30.0,
            ceiling in -6.0f32..0.0,
            rate in prop::sample::select(vec![8_000u32, 44_100, 48_000, 96_000]),
            release in 20.0f32..1000.0,
            block in 1usize..700,
        ) {
            // Noisy bursts with sharp onsets and high-frequency content (worst case for ISPs).
            let mut state = seed | 1;
            let len = rate as usize / 2;
            let g = 10f32.powf(gain_db / 20.0);
            let mut noise = || {
                state ^= state << 13; state ^= state >> 17; state ^= state << 5;
                (state as f32 / u32::MAX as f32) * 2.0 - 1.0
            };
            let burst = |n: usize| if (n / 2000).is_multiple_of(3) { 1.0 } else { 0.2 };
            let l: Vec<f32> = (0..len).map(|n| noise() * g * burst(n)).collect();
            let r: Vec<f32> = (0..len).map(|n| noise() * g * 0.5 * burst(n)).collect();
            let mut lim = TruePeakLimiter::new(2, rate, ceiling, release, true);
            let out = run(&mut lim, vec![l, r], block);
            let tp = true_peak_db(&out, rate);
            prop_assert!(tp <= f64::from(ceiling) + 0.05, "true peak {} over ceiling {}", tp, ceiling);
        }
    }
}
