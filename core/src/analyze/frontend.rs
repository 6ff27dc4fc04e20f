//! The shared front end of the musical analyses (tempo, beats, key): a mono mix-down of the
//! input, decimated by a power of two to a rate between 8 and 20 kHz, and cut into overlapping
//! frames.
//!
//! [`SpectralFrames`] turns that stream into Hann-windowed spectra for the onset envelope and
//! the chroma.
//!
//! Tempo and key need nothing above a few kHz, so working at about 11 or 12 kHz makes every FFT
//! after this stage four times cheaper than at 44.1 or 48 kHz, at the cost of a low-pass
//! evaluated once per kept sample (12 multiply-adds per input sample).

use std::sync::Arc;

use multiversion::multiversion;

use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};

use crate::master::kaiser_at;

/// The analysis rate is the input rate halved while it stays at or above this, in Hz.
const MIN_ANALYSIS_RATE: f64 = 10_000.0;

/// Low-pass taps per unit of decimation factor: a factor of 4 filters with 48 taps, 12
/// multiply-adds per input sample.
const TAPS_PER_FACTOR: usize = 12;
/// The low-pass's cutoff (its -6 dB point) as a fraction of the output rate.
const CUTOFF: f64 = 0.45;

/// Mixes planar blocks down to mono and decimates them to the analysis rate with a
/// linear-phase FIR low-pass (Kaiser-windowed sinc), evaluated only at the kept samples.
#[derive(Debug, Clone)]
pub(crate) struct MonoDecimator {
    /// Input samples per output sample (a power of two; 1 passes the mix through).
    factor: usize,
    /// The low-pass, cutoff at [`CUTOFF`] of the output rate; empty when `factor` is 1.
    taps: Vec<f32>,
    /// The mono mix not yet consumed: the last `taps.len() - 1` samples the next output needs,
    /// then the newest block's.
    history: Vec<f32>,
    /// Scratch: the history split into its `factor` phases (phase `r` holds the samples
    /// `r, r + factor, r + 2 factor, ...`), so each tap weighs a contiguous run of samples into a
    /// contiguous run of outputs, which vectorises.
    phases: Vec<Vec<f32>>,
    /// The analysis rate in Hz.
    rate: f64,
}

impl MonoDecimator {
    /// A decimator for input at `sample_rate` Hz.
    pub(crate) fn new(sample_rate: u32) -> Self {
        let mut factor = 1;
        let mut rate = f64::from(sample_rate);
        while rate / 2.0 >= MIN_ANALYSIS_RATE {
            rate /= 2.0;
            factor *= 2;
        }
        let taps = if factor == 1 {
            Vec::new()
        } else {
            low_pass(TAPS_PER_FACTOR * factor, CUTOFF / factor as f64)
        };
        Self {
            history: vec![0.0; taps.len().saturating_sub(1)],
            phases: vec![Vec::new(); factor],
            factor,
            taps,
            rate,
        }
    }

    /// Forgets the filter state.
    pub(crate) fn reset(&mut self) {
        self.history.clear();
        self.history.resize(self.taps.len().saturating_sub(1), 0.0);
    }

    /// The output (analysis) rate in Hz.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Appends the decimated mono mix of `block` (planar, equal lengths) to `out`.
    /// Non-finite samples count as 0.
    pub(crate) fn process<S: AsRef<[f32]>>(&mut self, block: &[S], out: &mut Vec<f32>) {
        if self.factor == 1 {
            append_mono_mix(block, out);
            return;
        }
        append_mono_mix(block, &mut self.history);
        let (len, factor) = (self.taps.len(), self.factor);
        if self.history.len() < len {
            return;
        }
        // Output `j` is `sum over k of taps[k] * history[j factor + k]`; with `k = m factor + r`
        // that is `taps[k] * phases[r][j + m]`: per tap, a run of samples weighed into the run
        // of outputs.
        let outputs = (self.history.len() - len) / factor + 1;
        let per_phase = len / factor;
        let samples = outputs + per_phase - 1;
        for phase in &mut self.phases {
            phase.resize(samples, 0.0);
        }
        let grouped = &self.history[..samples * factor];
        match factor {
            2 => split_phases::<2>(grouped, &mut self.phases),
            4 => split_phases::<4>(grouped, &mut self.phases),
            8 => split_phases::<8>(grouped, &mut self.phases),
            16 => split_phases::<16>(grouped, &mut self.phases),
            // Rates of 320 kHz and more.
            _ => {
                for (i, group) in grouped.chunks_exact(factor).enumerate() {
                    for (phase, x) in self.phases.iter_mut().zip(group) {
                        phase[i] = *x;
                    }
                }
            }
        }
        let start = out.len();
        out.resize(start + outputs, 0.0);
        weigh_phases(&self.taps, &self.phases, &mut out[start..]);
        self.history.drain(..outputs * factor);
    }
}

/// Deals `grouped` (whole groups of `F` samples) out to `F` phases as long as its groups:
/// phase `r` gets the `r`-th sample of every group. `F` is known when compiled, so each group
/// is one load per phase with no bounds checks.
fn split_phases<const F: usize>(grouped: &[f32], phases: &mut [Vec<f32>]) {
    let phases: &mut [Vec<f32>; F] = phases.try_into().expect("one phase per sample of a group");
    let groups = grouped.len() / F;
    let mut outs: [&mut [f32]; F] = phases.each_mut().map(|p| &mut p[..groups]);
    for (i, group) in grouped.chunks_exact(F).enumerate() {
        for (out, x) in outs.iter_mut().zip(group) {
            out[i] = *x;
        }
    }
}

/// Adds to each `out[j]` the sum over the taps `k = m factor + r` of `taps[k] * phases[r][j + m]`
/// (`factor` is the number of phases), taps in order: one contiguous multiply-add over all the
/// outputs per tap. Compiled for AVX2 too and picked at run time.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn weigh_phases(taps: &[f32], phases: &[Vec<f32>], out: &mut [f32]) {
    let (factor, outputs) = (phases.len(), out.len());
    for (k, tap) in taps.iter().enumerate() {
        let (m, r) = (k / factor, k % factor);
        for (o, x) in out.iter_mut().zip(&phases[r][m..m + outputs]) {
            *o += tap * x;
        }
    }
}

/// Appends the mean of `block`'s channels (planar, equal lengths) to `mix`; non-finite sums
/// count as 0.
fn append_mono_mix<S: AsRef<[f32]>>(block: &[S], mix: &mut Vec<f32>) {
    let Some((first, others)) = block.split_first() else {
        return;
    };
    let start = mix.len();
    mix.extend_from_slice(first.as_ref());
    let added = &mut mix[start..];
    for channel in others {
        for (m, x) in added.iter_mut().zip(channel.as_ref()) {
            *m += x;
        }
    }
    let gain = 1.0 / block.len() as f32;
    for m in added.iter_mut() {
        *m = if m.is_finite() { *m * gain } else { 0.0 };
    }
}

/// A linear-phase low-pass of `len` taps with its -6 dB point at `cutoff` (a fraction of the
/// sample rate), unity gain at DC.
fn low_pass(len: usize, cutoff: f64) -> Vec<f32> {
    let centre = (len - 1) as f64 / 2.0;
    let taps: Vec<f64> = (0..len)
        .map(|i| {
            let t = i as f64 - centre;
            let x = std::f64::consts::TAU * cutoff * t;
            let sinc = if t == 0.0 { 1.0 } else { x.sin() / x };
            sinc * kaiser_at(t / (centre + 1.0))
        })
        .collect();
    let sum: f64 = taps.iter().sum();
    taps.iter().map(|t| (t / sum) as f32).collect()
}

/// Cuts a stream into frames of `len` samples every `hop` samples, keeping only what the next
/// frames need (memory does not grow with the stream's length).
#[derive(Debug, Clone)]
pub(crate) struct Framer {
    len: usize,
    hop: usize,
    buffer: Vec<f32>,
    /// Where the next frame starts in `buffer`.
    start: usize,
}

impl Framer {
    /// Frames of `len` samples, `hop` apart.
    pub(crate) fn new(len: usize, hop: usize) -> Self {
        Self {
            len,
            hop,
            buffer: Vec::with_capacity(4 * len),
            start: 0,
        }
    }

    /// Adds samples to the stream.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        if self.start >= self.len {
            self.buffer.drain(..self.start);
            self.start = 0;
        }
        self.buffer.extend_from_slice(samples);
    }

    /// Forgets the stream.
    pub(crate) fn reset(&mut self) {
        self.buffer.clear();
        self.start = 0;
    }

    /// The next whole frame, if the stream has reached its end.
    pub(crate) fn next_frame(&mut self) -> Option<&[f32]> {
        let end = self.start + self.len;
        if end > self.buffer.len() {
            return None;
        }
        let frame = &self.buffer[self.start..end];
        self.start += self.hop;
        Some(frame)
    }
}

/// Hann-windowed spectra of a stream, `len` samples every `hop`.
pub(crate) struct SpectralFrames {
    framer: Framer,
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    frame: Vec<f32>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// Scales a bin's magnitude so that a full-scale sine reads 1.
    magnitude_scale: f32,
}

impl std::fmt::Debug for SpectralFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectralFrames")
            .field("len", &self.window.len())
            .finish_non_exhaustive()
    }
}

impl SpectralFrames {
    /// Spectra of `len`-sample frames every `hop` samples.
    pub(crate) fn new(len: usize, hop: usize) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(len);
        let window: Vec<f32> = (0..len)
            .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / len as f32).cos())
            .collect();
        let window_sum: f32 = window.iter().sum();
        Self {
            framer: Framer::new(len, hop),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            frame: fft.make_input_vec(),
            fft,
            window,
            magnitude_scale: 2.0 / window_sum,
        }
    }

    /// The frame length in samples.
    pub(crate) fn len(&self) -> usize {
        self.window.len()
    }

    /// The factor that makes a full-scale sine's bin magnitude read 1.
    pub(crate) fn magnitude_scale(&self) -> f32 {
        self.magnitude_scale
    }

    /// Forgets the stream.
    pub(crate) fn reset(&mut self) {
        self.framer.reset();
    }

    /// Adds samples to the stream.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        self.framer.push(samples);
    }

    /// The spectrum of the next whole frame, if the stream has reached its end.
    pub(crate) fn next_spectrum(&mut self) -> Option<&[Complex32]> {
        let frame = self.framer.next_frame()?;
        for ((out, x), w) in self.frame.iter_mut().zip(frame).zip(&self.window) {
            *out = x * w;
        }
        self.fft
            .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
            .expect("buffer sizes come from the plan");
        Some(&self.spectrum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimates_to_between_10_and_20_khz() {
        for (rate, expected) in [
            (8_000, 8_000.0),
            (16_000, 16_000.0),
            (22_050, 11_025.0),
            (44_100, 11_025.0),
            (48_000, 12_000.0),
            (192_000, 12_000.0),
        ] {
            assert_eq!(MonoDecimator::new(rate).rate(), expected, "{rate} Hz");
        }
    }

    #[test]
    fn decimation_keeps_a_low_tone_and_removes_a_high_one() {
        let rate = 48_000.0;
        let mut d = MonoDecimator::new(48_000);
        let tone = |f: f64| -> Vec<f32> {
            (0..48_000)
                .map(|i| (std::f64::consts::TAU * f * i as f64 / rate).sin() as f32)
                .collect()
        };
        let rms = |x: &[f32]| (x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32).sqrt();
        let mut low = Vec::new();
        d.process(&[tone(440.0), tone(440.0)], &mut low);
        assert_eq!(low.len(), 12_000);
        assert!(
            (rms(&low[2000..]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.01,
            "{}",
            rms(&low)
        );
        let mut d = MonoDecimator::new(48_000);
        let mut high = Vec::new();
        d.process(&[tone(15_000.0)], &mut high);
        assert!(rms(&high[2000..]) < 0.01, "{}", rms(&high[2000..]));
    }

    #[test]
    fn streamed_decimation_is_the_low_pass_read_every_factor_samples() {
        // Factors 2, 4, 8, 16 and 32.
        for rate in [22_050, 44_100, 96_000, 192_000, 384_000] {
            let mut d = MonoDecimator::new(rate);
            let (taps, factor) = (d.taps.clone(), d.factor);
            // A noise-like mono signal, pushed in blocks of every size from 1 to 700 frames.
            let signal: Vec<f32> = (0..20_000u32)
                .map(|i| ((i.wrapping_mul(2_654_435_761) >> 8) as f32 / (1 << 24) as f32) - 0.5)
                .collect();
            let mut streamed = Vec::new();
            let (mut start, mut size) = (0, 1);
            while start < signal.len() {
                let end = (start + size).min(signal.len());
                d.process(&[&signal[start..end]], &mut streamed);
                (start, size) = (end, size % 700 + 37);
            }
            // The filter's history starts as zeros: output `j` reads the padded signal from
            // `j factor`.
            let padded: Vec<f32> = std::iter::repeat_n(0.0, taps.len() - 1)
                .chain(signal.iter().copied())
                .collect();
            let direct: Vec<f32> = padded
                .windows(taps.len())
                .step_by(factor)
                .map(|w| w.iter().zip(&taps).map(|(x, t)| x * t).sum())
                .collect();
            assert_eq!(streamed.len(), direct.len(), "{rate} Hz");
            for (j, (s, d)) in streamed.iter().zip(&direct).enumerate() {
                assert!(
                    (s - d).abs() < 1e-6,
                    "{rate} Hz, output {j}: {s} against {d}"
                );
            }
        }
    }

    #[test]
    fn framer_yields_hop_spaced_frames_across_pushes() {
        let mut f = Framer::new(4, 2);
        let mut starts = Vec::new();
        for chunk in (0..11).map(|i| i as f32).collect::<Vec<_>>().chunks(3) {
            f.push(chunk);
            while let Some(frame) = f.next_frame() {
                assert_eq!(frame.len(), 4);
                assert_eq!(frame[3], frame[0] + 3.0);
                starts.push(frame[0]);
            }
        }
        assert_eq!(starts, [0.0, 2.0, 4.0, 6.0]);
    }
}
