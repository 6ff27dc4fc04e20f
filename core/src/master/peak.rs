//! True-peak detection: polyphase interpolation between samples (4x below 96 kHz, 2x above, as
//! ITU-R BS.1770 describes for true-peak meters).
//!
//! The interpolator's symmetry halves its work. Its half-sample phase is a symmetric filter, so
//! it needs one multiply per pair of samples equally far from its centre. Its quarter and
//! three-quarter phases (4x only) mirror each other: from the pairs' sums and differences come
//! `P = y1 + y3` and `Q = y1 - y3`, and `max(|y1|, |y3|) = (|P| + |Q|) / 2`, so the two phases
//! cost two multiplies per pair instead of four.
//!
//! The interpolation is laid out across time: each sum is accumulated over a run of frames one
//! pair at a time, a multiply-add over contiguous samples that vectorises fully. The kernel is
//! compiled for AVX2 too and picked at run time (`multiversion`); multiplications and additions
//! stay separate (no fused multiply-add), so every CPU computes the same peaks.

use multiversion::multiversion;

/// The most frames [`PeakDetector::push_block`] interpolates per step (it loops over longer
/// blocks); its scratch line is sized for it, so detection never allocates.
const MAX_BLOCK: usize = 256;
/// Frames sharing one "can this beat the threshold?" test.
const GROUP: usize = 16;

/// A streaming inter-sample peak detector for a fixed channel count.
#[derive(Debug, Clone)]
pub(crate) struct PeakDetector {
    /// The interpolating phases' coefficients per sample pair (see [`Kernel`]).
    kernel: Kernel,
    /// Per channel: the last `taps` samples, oldest first.
    tails: Vec<Vec<f32>>,
    /// Scratch for one channel: its tail followed by the frames being scanned.
    line: Vec<f32>,
    /// The largest gain of any phase (sum of absolute coefficients): no interpolated value
    /// exceeds the largest nearby sample times this.
    gain_bound: f32,
    /// Samples between an input and the interval its peak describes.
    delay: usize,
}

/// The interpolating phases folded by their symmetry. Pair `k` is the samples `k` and
/// `span - k` steps back from the newest.
#[derive(Debug, Clone)]
struct Kernel {
    /// Distance in steps between the newest and the oldest sample a phase reads.
    span: usize,
    /// The half-sample phase's coefficient per pair (it is symmetric).
    middle: Vec<f32>,
    /// `h1[k] + h1[span - k]` per pair, weighting the pair's sum into `P = y1 + y3` (4x only;
    /// empty at 2x).
    sum: Vec<f32>,
    /// `h1[k] - h1[span - k]` per pair, weighting the pair's difference into `Q = y1 - y3`.
    difference: Vec<f32>,
}

impl Kernel {
    /// Folds the phases of a `factor`x interpolator with `taps + 1` coefficients per phase.
    fn new(factor: usize, taps: usize) -> Self {
        let phases = interpolation_phases(factor, taps);
        // Every interpolating phase's last coefficient is 0 (the window's end), so each spans
        // `taps - 1` steps, in `taps / 2` pairs.
        let span = taps - 1;
        let pairs = taps / 2;
        let half = &phases[factor / 2];
        let middle = (0..pairs).map(|k| half[k]).collect();
        let (sum, difference) = if factor == 4 {
            let h1 = &phases[1];
            (0..pairs)
                .map(|k| (h1[k] + h1[span - k], h1[k] - h1[span - k]))
                .unzip()
        } else {
            (Vec::new(), Vec::new())
        };
        Self {
            span,
            middle,
            sum,
            difference,
        }
    }
}

impl PeakDetector {
    /// A detector for `channels` at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Self {
        let (factor, taps) = if sample_rate < 96_000 {
            (4, 12)
        } else {
            (2, 24)
        };
        let gain_bound = interpolation_phases(factor, taps)
            .iter()
            .skip(1)
            .map(|p| p.iter().map(|c| c.abs()).sum::<f32>())
            .fold(1.0f32, f32::max)
            * 1.001;
        Self {
            gain_bound,
            tails: vec![vec![0.0; taps]; channels],
            line: Vec::with_capacity(taps + MAX_BLOCK),
            kernel: Kernel::new(factor, taps),
            delay: taps / 2,
        }
    }

    /// The delay in samples between the newest input and the interval whose peak
    /// [`push_block`](Self::push_block) reports for it.
    pub(crate) fn delay(&self) -> usize {
        self.delay
    }

    /// Forgets all history.
    pub(crate) fn reset(&mut self) {
        self.tails.iter_mut().for_each(|t| t.fill(0.0));
    }

    /// Pushes frames `start..start + peaks.len()` of every channel and stores, per frame, the
    /// largest absolute value over all channels of the signal between `delay()` samples before
    /// it (included) and the sample after that — except that groups of frames whose peaks
    /// provably stay below `skip_below` (their samples times the interpolator's gain bound)
    /// are not interpolated and count as 0.
    pub(crate) fn push_block<S: AsRef<[f32]>>(
        &mut self,
        channels: &[S],
        start: usize,
        peaks: &mut [f32],
        skip_below: f32,
    ) {
        peaks.fill(0.0);
        let mut done = 0;
        while done < peaks.len() {
            let n = (peaks.len() - done).min(MAX_BLOCK);
            let out = &mut peaks[done..done + n];
            for (ch, tail) in channels.iter().zip(&mut self.tails) {
                let from = start + done;
                self.line.clear();
                self.line.extend_from_slice(tail);
                self.line.extend_from_slice(&ch.as_ref()[from..from + n]);
                channel_peaks(
                    &self.line,
                    &self.kernel,
                    self.delay,
                    self.gain_bound,
                    skip_below,
                    out,
                );
                let taps = tail.len();
                tail.copy_from_slice(&self.line[self.line.len() - taps..]);
            }
            done += n;
        }
    }

    /// Scans a whole block and returns the larger of its largest inter-sample peak and
    /// `known` (a peak already found: regions that cannot beat it are skipped).
    pub(crate) fn scan<S: AsRef<[f32]>>(&mut self, channels: &[S], known: f32) -> f32 {
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        let mut peaks = [0.0f32; MAX_BLOCK];
        let mut max = known;
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(MAX_BLOCK);
            self.push_block(channels, start, &mut peaks[..n], max);
            max = peaks[..n].iter().fold(max, |m, p| m.max(*p));
            start += n;
        }
        max
    }

    /// Feeds `delay()` zeros so the last real samples' intervals are scanned too.
    pub(crate) fn flush(&mut self) -> f32 {
        let zeros = [0.0f32; MAX_BLOCK];
        let silence = vec![&zeros[..=self.delay]; self.tails.len()];
        self.scan(&silence, 0.0)
    }
}

/// Interpolates one channel: `line` is the channel's last `taps` samples followed by one per
/// entry of `peaks` (at most [`MAX_BLOCK`]), and every entry becomes the larger of itself and
/// that frame's interval peak (see [`PeakDetector::push_block`]). Groups that cannot reach
/// `skip_below` are left alone; runs of the others are interpolated together.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn channel_peaks(
    line: &[f32],
    kernel: &Kernel,
    delay: usize,
    gain_bound: f32,
    skip_below: f32,
    peaks: &mut [f32],
) {
    let taps = line.len() - peaks.len();
    let frames = peaks.len();
    let mut run_start = None;
    for first in (0..frames).step_by(GROUP).chain([frames]) {
        let end = (first + GROUP).min(frames);
        let skip = first == frames || max_abs(&line[first..end + taps]) * gain_bound < skip_below;
        match (skip, run_start) {
            (false, None) => run_start = Some(first),
            (true, Some(start)) => {
                interpolate_run(line, start, first, taps, delay, kernel, peaks);
                run_start = None;
            }
            _ => {}
        }
    }
}

/// Interval peaks of frames `start..end`, max-ed into `peaks`. Each sum is accumulated over the
/// whole run one sample pair at a time (`acc += c * (a ± b)` over contiguous slices), which
/// vectorises fully; sums are in pair order, the same on every CPU.
#[inline(always)]
fn interpolate_run(
    line: &[f32],
    start: usize,
    end: usize,
    taps: usize,
    delay: usize,
    kernel: &Kernel,
    peaks: &mut [f32],
) {
    let n = end - start;
    // Sample `k` steps before frame `start + i` is `line[start + taps - k + i]`.
    let back = |k: usize| &line[start + taps - k..start + taps - k + n];
    let mut middle = [0.0f32; MAX_BLOCK];
    for (k, c) in kernel.middle.iter().enumerate() {
        for ((m, a), b) in middle[..n]
            .iter_mut()
            .zip(back(k))
            .zip(back(kernel.span - k))
        {
            *m += c * (a + b);
        }
    }
    let delayed = back(delay);
    if kernel.sum.is_empty() {
        for (p, (d, m)) in peaks[start..end]
            .iter_mut()
            .zip(delayed.iter().zip(&middle))
        {
            *p = max(max(*p, d.abs()), m.abs());
        }
        return;
    }
    let (mut sum, mut difference) = ([0.0f32; MAX_BLOCK], [0.0f32; MAX_BLOCK]);
    for (k, (cs, cd)) in kernel.sum.iter().zip(&kernel.difference).enumerate() {
        let pairs = back(k).iter().zip(back(kernel.span - k));
        for ((s, d), (a, b)) in sum[..n].iter_mut().zip(&mut difference[..n]).zip(pairs) {
            *s += cs * (a + b);
            *d += cd * (a - b);
        }
    }
    let outer = sum.iter().zip(&difference);
    for ((p, d), (m, (s, q))) in peaks[start..end]
        .iter_mut()
        .zip(delayed)
        .zip(middle.iter().zip(outer))
    {
        // max(|y1|, |y3|) from P = y1 + y3 and Q = y1 - y3.
        let quarter = 0.5 * (s.abs() + q.abs());
        *p = max(max(*p, d.abs()), max(m.abs(), quarter));
    }
}

/// The larger of two finite values (one compare and select; `f32::max` also handles NaN).
#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if a > b { a } else { b }
}

/// The largest absolute value in `samples` (finite), as an integer reduction that vectorises:
/// the magnitude bits of finite floats order like their values.
#[inline(always)]
fn max_abs(samples: &[f32]) -> f32 {
    let bits = samples
        .iter()
        .map(|x| x.to_bits() & 0x7fff_ffff)
        .max()
        .unwrap_or(0);
    f32::from_bits(bits)
}

/// Hann-windowed sinc interpolator split into `factor` phases of `taps + 1` coefficients. Phase
/// p at input time n is the upsampled output at `factor * n + p`, which sits at time
/// `n - taps / 2 + p / factor`; its tap k multiplies `x[n - k]`. Phase 0 is a pure delay.
fn interpolation_phases(factor: usize, taps: usize) -> Vec<Vec<f32>> {
    let len = factor * taps;
    let centre = len as f64 / 2.0;
    let proto: Vec<f64> = (0..=len)
        .map(|m| {
            let x = (m as f64 - centre) / factor as f64;
            let sinc = if x == 0.0 {
                1.0
            } else {
                (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
            };
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * m as f64 / len as f64).cos();
            sinc * w
        })
        .collect();
    (0..factor)
        .map(|p| {
            (0..=taps)
                .map(|k| proto.get(factor * k + p).copied().unwrap_or(0.0) as f32)
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_interpolate_a_sine() {
        // A sine well below Nyquist: every phase's output matches the sine at its time offset.
        let (factor, taps) = (4, 12);
        let phases = interpolation_phases(factor, taps);
        let f = 0.05;
        let x: Vec<f64> = (0..200)
            .map(|n| (std::f64::consts::TAU * f * n as f64).sin())
            .collect();
        let n = 100;
        for (p, phase) in phases.iter().enumerate() {
            let y: f64 = phase
                .iter()
                .enumerate()
                .map(|(k, h)| f64::from(*h) * x[n - k])
                .sum();
            let t = n as f64 - (taps / 2) as f64 + p as f64 / factor as f64;
            let want = (std::f64::consts::TAU * f * t).sin();
            assert!((y - want).abs() < 0.01, "phase {p}: {y} vs {want}");
        }
    }

    #[test]
    fn folded_kernel_equals_the_direct_phases() {
        // Noise, then the detector's peaks against the largest of the direct phase outputs.
        let mut seed = 0x2545_f491u32;
        let x: Vec<f32> = (0..3000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as f32 / u32::MAX as f32 * 2.0 - 1.0
            })
            .collect();
        for (rate, factor, taps) in [(44_100, 4, 12), (192_000, 2, 24)] {
            let phases = interpolation_phases(factor, taps);
            let mut d = PeakDetector::new(1, rate);
            let mut peaks = vec![0.0; x.len()];
            for (block, out) in x.chunks(700).zip(peaks.chunks_mut(700)) {
                d.push_block(&[block], 0, out, 0.0);
            }
            for n in taps..x.len() {
                let direct = phases
                    .iter()
                    .map(|phase| {
                        let y: f64 = phase
                            .iter()
                            .enumerate()
                            .map(|(k, h)| f64::from(*h) * f64::from(x[n - k]))
                            .sum();
                        y.abs()
                    })
                    .fold(0.0, f64::max);
                assert!(
                    (f64::from(peaks[n]) - direct).abs() < 1e-5,
                    "{rate} Hz frame {n}: {} vs {direct}",
                    peaks[n]
                );
            }
        }
    }

    #[test]
    fn finds_the_peak_between_samples() {
        // fs/4 sine at 45 degrees: every sample is at 0.707, the true peak is 1.0.
        for rate in [44_100, 96_000] {
            let x: Vec<f32> = (0..4000)
                .map(|n| {
                    (std::f64::consts::FRAC_PI_2 * n as f64 + std::f64::consts::FRAC_PI_4).sin()
                        as f32
                })
                .collect();
            let mut d = PeakDetector::new(1, rate);
            let peak = d.scan(&[x.as_slice()], 0.0);
            assert!(peak > 0.97 && peak < 1.03, "{rate}: {peak}");
        }
    }
}
