//! Linear-phase FIR design from a magnitude curve in Hz, and uniformly partitioned FFT
//! convolution (overlap-save) to apply it in fixed chunks without allocating.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// The power of two `N` for a match filter at `sample_rate`: the filter has `N - 1` taps (about
/// 0.15–0.3 s, enough to follow a 1/3-octave curve down to 40 Hz) and delays by `N / 2 - 1`.
pub fn fir_size(sample_rate: u32) -> usize {
    ((f64::from(sample_rate) * 0.15) as usize)
        .next_power_of_two()
        .max(1024)
}

/// The delay in frames of a filter designed by [`design_linear_phase`] at `sample_rate`.
pub fn fir_latency(sample_rate: u32) -> usize {
    fir_size(sample_rate) / 2 - 1
}

/// Where the match filter's band edge starts and ends, as fractions of the sample rate.
const BAND_EDGE: (f64, f64) = (0.45, 0.46);

/// The roll-off in dB at `hz` that keeps a limited match inside the band its limiter's
/// detector follows exactly (see [`Grade::Reconstruction`](super::Grade)): 0 dB up to 0.45 of
/// the sample rate (19.8 kHz at 44.1 kHz, 21.6 kHz at 48 kHz), a raised-cosine slope to
/// -120 dB at 0.46, and -120 dB above.
pub(crate) fn band_edge_db(hz: f64, sample_rate: u32) -> f64 {
    let x = hz / f64::from(sample_rate);
    let (start, end) = BAND_EDGE;
    if x <= start {
        0.0
    } else if x >= end {
        -120.0
    } else {
        let t = (x - start) / (end - start);
        let gain = 0.5 + 0.5 * (std::f64::consts::PI * t).cos();
        (20.0 * gain.log10()).max(-120.0)
    }
}

/// Designs a symmetric (linear-phase, type I) FIR of `fir_size(sample_rate) - 1` taps whose
/// magnitude follows `gain_db(frequency_hz)`: the curve is sampled on a dense FFT grid with zero
/// phase, transformed to an impulse response, centred and Hann-windowed.
pub fn design_linear_phase(gain_db: impl Fn(f64) -> f64, sample_rate: u32) -> Vec<f32> {
    let n = fir_size(sample_rate);
    let dense = 4 * n;
    let mut planner = RealFftPlanner::<f64>::new();
    let inverse = planner.plan_fft_inverse(dense);
    let mut spectrum = inverse.make_input_vec();
    let bin_hz = f64::from(sample_rate) / dense as f64;
    for (k, c) in spectrum.iter_mut().enumerate() {
        let g = 10f64.powf(gain_db(k as f64 * bin_hz) / 20.0);
        *c = realfft::num_complex::Complex64::new(if g.is_finite() { g } else { 1.0 }, 0.0);
    }
    let mut impulse = inverse.make_output_vec();
    // Lengths match the plan and the DC/Nyquist bins are real, so this cannot fail.
    let _ = inverse.process(&mut spectrum, &mut impulse);
    let taps = n - 1;
    let centre = n / 2 - 1;
    (0..taps)
        .map(|i| {
            let offset = i as isize - centre as isize;
            let h = impulse[offset.rem_euclid(dense as isize) as usize] / dense as f64;
            let w = 0.5 - 0.5 * (std::f64::consts::TAU * (i + 1) as f64 / n as f64).cos();
            (h * w) as f32
        })
        .collect()
}

/// Convolution of a stream with a fixed FIR in blocks of `block` frames (overlap-save):
/// latency-free (the FIR's own delay aside) and allocation-free after construction.
///
/// A FIR longer than a block is cut into partitions of a block each (uniformly partitioned,
/// FFTs of two blocks), so small realtime blocks stay cheap. A FIR that fits a block is one
/// partition, with the smallest power-of-two FFT that holds a block and the FIR: for long
/// offline blocks ([`render_chunk_frames`](super::render_chunk_frames)) that costs a quarter
/// less than partitions would.
pub struct PartitionedConvolver {
    block: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// Spectra of the filter's partitions.
    partitions: Vec<Vec<Complex32>>,
    /// Spectra of the last `partitions.len()` input windows (frequency-domain delay line).
    history: Vec<Vec<Complex32>>,
    /// Index in `history` of the newest spectrum.
    newest: usize,
    /// The newest input frames, as many as the FFT is long (the current block last).
    window: Vec<f32>,
    time: Vec<f32>,
    spectrum: Vec<Complex32>,
    sum: Vec<Complex32>,
    scratch_fwd: Vec<Complex32>,
    scratch_inv: Vec<Complex32>,
}

impl std::fmt::Debug for PartitionedConvolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartitionedConvolver")
            .field("block", &self.block)
            .field("partitions", &self.partitions.len())
            .finish_non_exhaustive()
    }
}

impl PartitionedConvolver {
    /// A convolver applying `taps` in blocks of `block` frames.
    pub fn new(taps: &[f32], block: usize) -> Self {
        assert!(block > 0, "block must be positive");
        let size = if taps.len() <= block {
            (block + taps.len().max(1) - 1).next_power_of_two()
        } else {
            2 * block
        };
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(size);
        let inverse = planner.plan_fft_inverse(size);
        let mut scratch_fwd = forward.make_scratch_vec();
        let count = taps.len().div_ceil(block).max(1);
        let scale = 1.0 / size as f32;
        let partitions = (0..count)
            .map(|p| {
                let mut time = forward.make_input_vec();
                let start = (p * block).min(taps.len());
                let end = ((p + 1) * block).min(taps.len());
                for (t, h) in time.iter_mut().zip(&taps[start..end]) {
                    *t = h * scale;
                }
                let mut spec = forward.make_output_vec();
                let _ = forward.process_with_scratch(&mut time, &mut spec, &mut scratch_fwd);
                spec
            })
            .collect();
        Self {
            block,
            history: vec![forward.make_output_vec(); count],
            newest: 0,
            window: vec![0.0; size],
            time: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            sum: forward.make_output_vec(),
            scratch_inv: inverse.make_scratch_vec(),
            scratch_fwd,
            partitions,
            forward,
            inverse,
        }
    }

    /// Clears the history (the next output is as if the stream started now).
    pub fn reset(&mut self) {
        self.window.iter_mut().for_each(|x| *x = 0.0);
        for h in &mut self.history {
            h.iter_mut().for_each(|c| *c = Complex32::default());
        }
    }

    /// Filters one block of exactly `block` frames into `output`.
    pub fn process(&mut self, input: &[f32], output: &mut [f32]) {
        let (b, tail) = (self.block, self.window.len() - self.block);
        self.window.copy_within(b.., 0);
        self.window[tail..].copy_from_slice(&input[..b]);
        self.time.copy_from_slice(&self.window);
        self.newest = (self.newest + 1) % self.history.len();
        let _ = self.forward.process_with_scratch(
            &mut self.time,
            &mut self.history[self.newest],
            &mut self.scratch_fwd,
        );
        self.sum.iter_mut().for_each(|c| *c = Complex32::default());
        let count = self.history.len();
        for (p, h) in self.partitions.iter().enumerate() {
            let x = &self.history[(self.newest + count - p) % count];
            for ((s, a), b) in self.sum.iter_mut().zip(x).zip(h) {
                *s += a * b;
            }
        }
        self.spectrum.copy_from_slice(&self.sum);
        // The DC and Nyquist bins of a product of real spectra are real up to rounding.
        self.spectrum[0].im = 0.0;
        let last = self.spectrum.len() - 1;
        self.spectrum[last].im = 0.0;
        let _ = self.inverse.process_with_scratch(
            &mut self.spectrum,
            &mut self.time,
            &mut self.scratch_inv,
        );
        output[..b].copy_from_slice(&self.time[tail..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn direct(x: &[f32], h: &[f32]) -> Vec<f32> {
        (0..x.len())
            .map(|n| {
                (0..h.len())
                    .filter(|&k| k <= n)
                    .map(|k| f64::from(h[k]) * f64::from(x[n - k]))
                    .sum::<f64>() as f32
            })
            .collect()
    }

    #[test]
    fn partitioned_equals_direct_convolution() {
        let h: Vec<f32> = (0..300)
            .map(|i| ((i * 7919) % 101) as f32 / 101.0 - 0.5)
            .collect();
        let x: Vec<f32> = (0..2000)
            .map(|i| ((i * 104_729) % 211) as f32 / 211.0 - 0.5)
            .collect();
        let want = direct(&x, &h);
        for block in [1, 64, 100, 512] {
            let mut conv = PartitionedConvolver::new(&h, block);
            let mut got = vec![0.0; x.len() / block * block];
            for (i, o) in x.chunks_exact(block).zip(got.chunks_exact_mut(block)) {
                conv.process(i, o);
            }
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "block {block}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn designed_filter_follows_its_curve() {
        let rate = 48_000;
        let curve = |f: f64| 6.0 * (f / 1000.0).log2().clamp(-1.0, 1.0);
        let taps = design_linear_phase(curve, rate);
        // Evaluate the response at a few frequencies by direct DTFT.
        for f in [200.0, 700.0, 1000.0, 1500.0, 5000.0] {
            let w = std::f64::consts::TAU * f / f64::from(rate);
            let (re, im) = taps
                .iter()
                .enumerate()
                .fold((0.0, 0.0), |(re, im), (n, h)| {
                    let p = w * n as f64;
                    (re + f64::from(*h) * p.cos(), im - f64::from(*h) * p.sin())
                });
            let db = 10.0 * (re * re + im * im).log10();
            assert!((db - curve(f)).abs() < 0.1, "{f} Hz: {db} vs {}", curve(f));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(12))]
        #[test]
        fn flat_curve_is_an_identity_delay(
            rate in prop::sample::select(vec![8_000u32, 44_100, 48_000, 96_000]),
            gain_db in -12.0f64..12.0,
            block in prop::sample::select(vec![64usize, 512, 1000]),
        ) {
            let taps = design_linear_phase(|_| gain_db, rate);
            let g = 10f64.powf(gain_db / 20.0) as f32;
            let delay = fir_latency(rate);
            let x: Vec<f32> = (0..delay + 3 * block).map(|i| ((i * 37) % 19) as f32 / 19.0 - 0.5).collect();
            let mut conv = PartitionedConvolver::new(&taps, block);
            let mut y = vec![0.0; x.len() / block * block];
            for (i, o) in x.chunks_exact(block).zip(y.chunks_exact_mut(block)) {
                conv.process(i, o);
            }
            for n in delay..y.len() {
                prop_assert!((y[n] - g * x[n - delay]).abs() < 1e-4 * g.max(1.0), "frame {}: {} vs {}", n, y[n], g * x[n - delay]);
            }
        }
    }
}
