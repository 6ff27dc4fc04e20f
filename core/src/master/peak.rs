//! True-peak detection: polyphase interpolation between samples (4x below 96 kHz, 2x above, as
//! ITU-R BS.1770 describes for true-peak meters), laid out four lanes wide so each tap is one
//! vector multiply-add.

/// A streaming inter-sample peak detector for a fixed channel count.
#[derive(Debug, Clone)]
pub(crate) struct PeakDetector {
    /// `coeffs[k][lane]` multiplies the sample `k` steps back; lanes are the interpolation
    /// phases (repeated when there are fewer than four).
    coeffs: Vec<[f32; 4]>,
    /// Per channel: the last `coeffs.len()` samples stored twice, newest first from `pos`.
    history: Vec<Vec<f32>>,
    pos: usize,
    /// The largest gain of any phase (sum of absolute coefficients): no interpolated value
    /// exceeds the largest nearby sample times this.
    gain_bound: f32,
    /// Samples between an input and the interval its peak describes.
    delay: usize,
}

impl PeakDetector {
    /// A detector for `channels` at `sample_rate`.
    pub(crate) fn new(channels: usize, sample_rate: u32) -> Self {
        let (factor, taps) = if sample_rate < 96_000 {
            (4, 12)
        } else {
            (2, 24)
        };
        let phases = interpolation_phases(factor, taps);
        let coeffs: Vec<[f32; 4]> = (0..=taps)
            .map(|k| std::array::from_fn(|lane| phases[lane % factor][k]))
            .collect();
        let len = coeffs.len();
        let gain_bound = (0..4)
            .map(|lane| coeffs.iter().map(|c| c[lane].abs()).sum::<f32>())
            .fold(0.0f32, f32::max)
            * 1.001;
        Self {
            gain_bound,
            history: vec![vec![0.0; 2 * len]; channels],
            pos: 0,
            coeffs,
            delay: taps / 2,
        }
    }

    /// The delay in samples between the newest input and the interval whose peak
    /// [`push_frame`](Self::push_frame) returns.
    pub(crate) fn delay(&self) -> usize {
        self.delay
    }

    /// Forgets all history.
    pub(crate) fn reset(&mut self) {
        self.history.iter_mut().for_each(|h| h.fill(0.0));
        self.pos = 0;
    }

    /// Pushes frame `i` of `channels` and returns the largest absolute value over all channels
    /// of the signal between `delay()` samples ago (included) and the sample after it.
    #[inline]
    pub(crate) fn push_frame<S: AsRef<[f32]>>(&mut self, channels: &[S], i: usize) -> f32 {
        let len = self.coeffs.len();
        self.pos = if self.pos == 0 { len - 1 } else { self.pos - 1 };
        let pos = self.pos;
        let mut peak = 0.0f32;
        for (ch, hist) in channels.iter().zip(&mut self.history) {
            let x = ch.as_ref()[i];
            hist[pos] = x;
            hist[pos + len] = x;
            let mut acc = [0.0f32; 4];
            for (c, x) in self.coeffs.iter().zip(&hist[pos..pos + len]) {
                for lane in 0..4 {
                    acc[lane] += c[lane] * x;
                }
            }
            for a in acc {
                peak = peak.max(a.abs());
            }
        }
        peak
    }

    /// Pushes frames `start..start + peaks.len()` of every channel and stores, per frame, the
    /// largest interval peak over the channels, like [`push_frame`](Self::push_frame) — except
    /// that groups of frames whose peaks provably stay below `skip_below` (their samples times
    /// the interpolator's gain bound) are not interpolated and count as 0. Channel by channel,
    /// so the inner loop stays in registers.
    pub(crate) fn push_block<S: AsRef<[f32]>>(
        &mut self,
        channels: &[S],
        start: usize,
        peaks: &mut [f32],
        skip_below: f32,
    ) {
        const GROUP: usize = 16;
        let len = self.coeffs.len();
        let n = peaks.len();
        peaks.fill(0.0);
        let first_pos = self.pos;
        for (ch, hist) in channels.iter().zip(&mut self.history) {
            let input = &ch.as_ref()[start..start + n];
            let mut pos = first_pos;
            for (group, group_peaks) in input.chunks(GROUP).zip(peaks.chunks_mut(GROUP)) {
                let reach = hist[pos..pos + len]
                    .iter()
                    .chain(group)
                    .fold(0.0f32, |m, x| m.max(x.abs()));
                if reach * self.gain_bound < skip_below {
                    for x in group {
                        pos = if pos == 0 { len - 1 } else { pos - 1 };
                        hist[pos] = *x;
                        hist[pos + len] = *x;
                    }
                    continue;
                }
                for (x, peak) in group.iter().zip(group_peaks.iter_mut()) {
                    pos = if pos == 0 { len - 1 } else { pos - 1 };
                    hist[pos] = *x;
                    hist[pos + len] = *x;
                    // Two accumulators halve the dependency chain.
                    let (mut even, mut odd) = ([0.0f32; 4], [0.0f32; 4]);
                    let window = &hist[pos..pos + len];
                    let pairs = self.coeffs.chunks_exact(2).zip(window.chunks_exact(2));
                    for (c, h) in pairs {
                        for lane in 0..4 {
                            even[lane] += c[0][lane] * h[0];
                            odd[lane] += c[1][lane] * h[1];
                        }
                    }
                    if len % 2 == 1 {
                        let last = &self.coeffs[len - 1];
                        for (e, c) in even.iter_mut().zip(last) {
                            *e += c * window[len - 1];
                        }
                    }
                    let m = (0..4).fold(0.0f32, |m, l| m.max((even[l] + odd[l]).abs()));
                    *peak = peak.max(m);
                }
            }
        }
        self.pos = (first_pos + len - n % len) % len;
    }

    /// Scans a whole block and returns the larger of its largest inter-sample peak and
    /// `known` (a peak already found: regions that cannot beat it are skipped).
    pub(crate) fn scan<S: AsRef<[f32]>>(&mut self, channels: &[S], known: f32) -> f32 {
        let frames = channels.first().map_or(0, |c| c.as_ref().len());
        let mut peaks = [0.0f32; 256];
        let mut max = known;
        let mut start = 0;
        while start < frames {
            let n = (frames - start).min(peaks.len());
            self.push_block(channels, start, &mut peaks[..n], max);
            max = peaks[..n].iter().fold(max, |m, p| m.max(*p));
            start += n;
        }
        max
    }

    /// Feeds `delay()` zeros so the last real samples' intervals are scanned too.
    pub(crate) fn flush(&mut self) -> f32 {
        let zeros = vec![[0.0f32]; self.history.len()];
        (0..=self.delay).fold(0.0, |m, _| m.max(self.push_frame(&zeros, 0)))
    }
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
