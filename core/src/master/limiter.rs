//! A linked true-peak lookahead limiter.
//!
//! Peaks are detected between samples by polyphase interpolation (4x below 96 kHz, 2x above,
//! see [`PeakDetector`]). The gain needed to keep each sample interval under the ceiling is held
//! for the lookahead time (a sliding minimum), released exponentially, then smoothed by a moving
//! average as long as the lookahead, so the gain reaches the level a peak needs exactly when the
//! (delayed) peak arrives, never later: the attack is a smooth ramp, not a step, and the output
//! never exceeds the ceiling. All channels share one gain so the stereo image does not shift.

use std::collections::VecDeque;

use super::peak::PeakDetector;

/// Lookahead (and attack ramp) in seconds.
pub const LOOKAHEAD_SECONDS: f64 = 0.005;
/// The limiter aims this many dB under the ceiling, to absorb the difference between its
/// interpolator and any true-peak meter's.
const MARGIN_DB: f64 = 0.06;
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
    threshold: f32,
    ceiling: f32,
    detector: PeakDetector,
    previous_peak: f32,
    lookahead: usize,
    /// Monotonic queue of (time, required gain) for the sliding minimum.
    hold: VecDeque<(u64, f32)>,
    time: u64,
    /// The last `lookahead` envelope values and their sum.
    ramp: Vec<f64>,
    ramp_pos: usize,
    ramp_sum: f64,
    /// `1 / lookahead`, so the ramp's mean is a multiplication.
    inv_lookahead: f64,
    /// How far the released envelope is below 1 (the envelope is `1 - depth`): in this form
    /// the release recursion is one multiply and one max per frame.
    depth: f64,
    release: f64,
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
        let detector = PeakDetector::new(channels, sample_rate);
        let lookahead = ((LOOKAHEAD_SECONDS * f64::from(sample_rate)).round() as usize).max(1);
        let delay = detector.delay() + lookahead - 1;
        let ceiling = 10f64.powf(f64::from(ceiling_dbtp) / 20.0);
        let release_s = f64::from(release_ms).max(1.0) / 1000.0;
        let mut hold = VecDeque::with_capacity(lookahead + 2);
        hold.push_back((0, 1.0));
        Self {
            enabled,
            threshold: (ceiling * 10f64.powf(-MARGIN_DB / 20.0)) as f32,
            ceiling: ceiling as f32,
            detector,
            previous_peak: 0.0,
            lookahead,
            hold,
            time: 0,
            ramp: vec![1.0; lookahead],
            ramp_pos: 0,
            ramp_sum: lookahead as f64,
            inv_lookahead: 1.0 / lookahead as f64,
            depth: 0.0,
            release: (-1.0 / (release_s * f64::from(sample_rate))).exp(),
            delay_lines: vec![vec![0.0; delay + SUB_BLOCK]; channels],
            delay,
            stats: LimiterStats::default(),
        }
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
        self.hold.clear();
        self.time = 0;
        self.hold.push_back((0, 1.0));
        self.ramp.fill(1.0);
        self.ramp_pos = 0;
        self.ramp_sum = self.lookahead as f64;
        self.depth = 0.0;
        self.stats = LimiterStats::default();
    }

    /// Limits `channels` in place (all slices the same length, one per channel).
    pub fn process(&mut self, channels: &mut [&mut [f32]]) {
        let frames = channels.first().map_or(0, |c| c.len());
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(SUB_BLOCK);
            self.process_sub_block(channels, start, n);
            start += n;
        }
    }

    /// Three passes over at most [`SUB_BLOCK`] frames: peaks, gains, delayed output.
    fn process_sub_block(&mut self, channels: &mut [&mut [f32]], start: usize, n: usize) {
        let mut gains = [1.0f32; SUB_BLOCK];
        let gains = &mut gains[..n];
        if self.enabled {
            self.detector
                .push_block(channels, start, gains, self.threshold);
            let loud = gains.iter().any(|p| *p > self.threshold);
            if !loud && self.at_rest() {
                // Nothing to limit and nothing to release: the gain stays at exactly 1.
                gains.fill(1.0);
                self.time += n as u64;
                self.hold.clear();
                self.hold.push_back((self.time, 1.0));
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
        if self.depth < 1e-7 && self.hold.len() == 1 {
            let held = self.hold.front().map_or(1.0, |&(_, v)| v);
            if held >= 1.0 && self.ramp.iter().all(|r| 1.0 - r < 1e-7) {
                self.depth = 0.0;
                self.ramp.fill(1.0);
                self.ramp_sum = self.lookahead as f64;
            }
        }
        self.depth <= 0.0
            && self.ramp_sum >= self.lookahead as f64
            && self.hold.iter().all(|&(_, v)| v >= 1.0)
    }

    /// Turns the peaks of the newest detector intervals into the gains for the frames leaving
    /// the delay, in place. The state lives in locals for the loop (the ramp's stores could
    /// alias `self` as far as the compiler knows, and would force every field through memory).
    fn peaks_to_gains(&mut self, gains: &mut [f32]) {
        let (threshold, lookahead, release) = (self.threshold, self.lookahead, self.release);
        let inv_lookahead = self.inv_lookahead;
        let (mut previous_peak, mut time, mut depth) = (self.previous_peak, self.time, self.depth);
        let (mut ramp_sum, mut ramp_pos) = (self.ramp_sum, self.ramp_pos);
        let (hold, ramp) = (&mut self.hold, &mut self.ramp[..]);
        for g in gains.iter_mut() {
            let peak = *g;
            let need = peak.max(previous_peak);
            previous_peak = peak;
            let required = if need > threshold {
                threshold / need
            } else {
                1.0
            };

            // Sliding minimum over the lookahead.
            time += 1;
            while hold.back().is_some_and(|&(_, v)| v >= required) {
                hold.pop_back();
            }
            hold.push_back((time, required));
            while hold
                .front()
                .is_some_and(|&(t, _)| t + lookahead as u64 <= time)
            {
                hold.pop_front();
            }
            let held = f64::from(hold.front().map_or(1.0, |&(_, v)| v));

            // Exponential release, instant attack on the held value.
            depth = (1.0 - held).max(depth * release);
            let envelope = 1.0 - depth;

            // Moving average over the lookahead: a smooth ramp that is never above `held`.
            ramp_sum += envelope - ramp[ramp_pos];
            ramp[ramp_pos] = envelope;
            ramp_pos += 1;
            if ramp_pos == lookahead {
                ramp_pos = 0;
            }
            *g = (ramp_sum * inv_lookahead).min(1.0) as f32;
        }
        (self.previous_peak, self.time, self.depth) = (previous_peak, time, depth);
        (self.ramp_sum, self.ramp_pos) = (ramp_sum, ramp_pos);
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
