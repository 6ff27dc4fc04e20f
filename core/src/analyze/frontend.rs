//! The shared front end of the musical analyses (tempo, beats, key): a mono mix-down of the
//! input, decimated by a power of two to a rate between 8 and 20 kHz, and cut into overlapping
//! frames.
//!
//! [`PowerSpectrumPairs`] turns that stream into Hann-windowed power spectra, two frames at a
//! time, for the onset envelope and the chroma.
//!
//! Tempo and key need nothing above a few kHz, so working at about 11 or 12 kHz makes every FFT
//! after this stage four times cheaper than at 44.1 or 48 kHz, at the cost of a low-pass
//! evaluated once per kept sample (8 multiply-adds per input sample).

use std::sync::Arc;

use multiversion::multiversion;

use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::audio::periodic_hann;
use crate::master::kaiser_at;

/// The analysis rate is the input rate halved while it stays at or above this, in Hz.
const MIN_ANALYSIS_RATE: f64 = 10_000.0;

/// Low-pass taps per unit of decimation factor: a factor of 4 filters with 32 taps, 8
/// multiply-adds per input sample. (The 12 per factor used before gave the same answers on the
/// 120 bench songs, one tempo 0.1 BPM apart, for half as much work again.)
const TAPS_PER_FACTOR: usize = 8;
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
    /// A decimator for input at `sample_rate` Hz to the analysis rate.
    pub(crate) fn new(sample_rate: u32) -> Self {
        let mut factor = 1;
        let mut rate = f64::from(sample_rate);
        while rate / 2.0 >= MIN_ANALYSIS_RATE {
            rate /= 2.0;
            factor *= 2;
        }
        Self::by_factor(rate * factor as f64, factor)
    }

    /// A decimator for input at `sample_rate` Hz by `factor` (a power of two).
    pub(crate) fn by_factor(sample_rate: f64, factor: usize) -> Self {
        let rate = sample_rate / factor as f64;
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
/// (`factor` is the number of phases), taps in order. Four taps at a time go through the outputs
/// together (one load and store of each output per four taps instead of per tap), added one
/// after the other so the sums round exactly as tap by tap. Compiled for AVX2 too and picked at
/// run time.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn weigh_phases(taps: &[f32], phases: &[Vec<f32>], out: &mut [f32]) {
    let (factor, outputs) = (phases.len(), out.len());
    let run = |k: usize| &phases[k % factor][k / factor..k / factor + outputs];
    let mut quads = taps.chunks_exact(4);
    for (q, quad) in quads.by_ref().enumerate() {
        let &[t0, t1, t2, t3] = quad else {
            unreachable!("chunks of four")
        };
        let k = 4 * q;
        let samples = run(k)
            .iter()
            .zip(run(k + 1))
            .zip(run(k + 2))
            .zip(run(k + 3));
        for (o, (((x0, x1), x2), x3)) in out.iter_mut().zip(samples) {
            *o = *o + t0 * x0 + t1 * x1 + t2 * x2 + t3 * x3;
        }
    }
    let first = taps.len() - quads.remainder().len();
    for (k, tap) in quads.remainder().iter().enumerate() {
        for (o, x) in out.iter_mut().zip(run(first + k)) {
            *o += tap * x;
        }
    }
}

/// Appends the mean of `block`'s channels (planar, equal lengths) to `mix`; non-finite sums
/// count as 0. Stereo, the usual case, is mixed in one pass.
fn append_mono_mix<S: AsRef<[f32]>>(block: &[S], mix: &mut Vec<f32>) {
    let finite_or_zero = |m: f32| if m.is_finite() { m } else { 0.0 };
    match block {
        [] => {}
        [left, right] => mix.extend(
            (left.as_ref().iter().zip(right.as_ref())).map(|(l, r)| finite_or_zero((l + r) * 0.5)),
        ),
        [first, others @ ..] => {
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
                *m = finite_or_zero(*m * gain);
            }
        }
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

/// Cuts a stream into frames of `len` samples every `hop` samples, two at a time, keeping only
/// what the next frames need (memory does not grow with the stream's length).
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

    /// The next two whole frames, if the stream has reached the second one's end.
    pub(crate) fn next_two_frames(&mut self) -> Option<(&[f32], &[f32])> {
        let (first, second) = (self.start, self.start + self.hop);
        if second + self.len > self.buffer.len() {
            return None;
        }
        self.start += 2 * self.hop;
        Some((
            &self.buffer[first..first + self.len],
            &self.buffer[second..second + self.len],
        ))
    }
}

/// Hann-windowed power spectra of a stream, `len` samples every `hop`, scaled so that a
/// full-scale sine's bin reads 1.
///
/// Frames come two at a time from one complex FFT of their own length (the first frame as the
/// real part, the second as the imaginary part), split by the spectrum's symmetry: with `Z` the
/// transform of the pair, the frames' spectra are `(Z[k] + conj Z[-k]) / 2` and
/// `(Z[k] - conj Z[-k]) / 2i`. Against one real FFT per frame this saves the real transform's
/// twiddled post-processing, which does not vectorise. A frame whose partner has not arrived
/// yet waits for it.
pub(crate) struct PowerSpectrumPairs {
    framer: Framer,
    fft: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
    /// The windowed pair going in, the pair's spectrum coming out.
    pair: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// The two frames' power spectra, bins 0 to `len / 2`.
    powers: [Vec<f32>; 2],
    /// Scales `|Z[k] ± conj Z[-k]|²` to a power where a full-scale sine reads 1.
    power_scale: f32,
}

impl std::fmt::Debug for PowerSpectrumPairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PowerSpectrumPairs")
            .field("len", &self.window.len())
            .finish_non_exhaustive()
    }
}

impl PowerSpectrumPairs {
    /// Power spectra of `len`-sample frames every `hop` samples.
    pub(crate) fn new(len: usize, hop: usize) -> Self {
        let fft = FftPlanner::<f32>::new().plan_fft_forward(len);
        let window = periodic_hann(len);
        // A full-scale sine's bin has magnitude window_sum / 2 in one frame's spectrum, which
        // is half of |Z[k] ± conj Z[-k]|.
        let window_sum: f32 = window.iter().sum();
        Self {
            framer: Framer::new(len, hop),
            pair: vec![Complex32::default(); len],
            scratch: vec![Complex32::default(); fft.get_inplace_scratch_len()],
            powers: [vec![0.0; len / 2 + 1], vec![0.0; len / 2 + 1]],
            power_scale: (1.0 / window_sum).powi(2),
            fft,
            window,
        }
    }

    /// The frame length in samples.
    pub(crate) fn len(&self) -> usize {
        self.window.len()
    }

    /// Forgets the stream.
    pub(crate) fn reset(&mut self) {
        self.framer.reset();
    }

    /// Adds samples to the stream.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        self.framer.push(samples);
    }

    /// The power spectra of the next two whole frames, if the stream has reached the second's
    /// end.
    pub(crate) fn next_pair(&mut self) -> Option<&[Vec<f32>; 2]> {
        let (first, second) = self.framer.next_two_frames()?;
        window_pair(first, second, &self.window, &mut self.pair);
        self.fft
            .process_with_scratch(&mut self.pair, &mut self.scratch);
        let [first, second] = &mut self.powers;
        split_powers(&self.pair, self.power_scale, first, second);
        Some(&self.powers)
    }
}

/// Windows two frames into one complex sequence: the first as its real part, the second as
/// its imaginary part. Compiled for AVX2 too and picked at run time.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn window_pair(first: &[f32], second: &[f32], window: &[f32], pair: &mut [Complex32]) {
    for (((z, a), b), w) in pair.iter_mut().zip(first).zip(second).zip(window) {
        *z = Complex32::new(a * w, b * w);
    }
}

/// Splits the spectrum `pair` of two frames packed as by [`window_pair`] into the frames' power
/// spectra (bins 0 to n / 2), times `scale`: bin `k` of the first frame is
/// `|Z[k] + conj Z[-k]|² / 4`, of the second `|Z[k] - conj Z[-k]|² / 4`. Compiled for AVX2 too
/// and picked at run time.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn split_powers(pair: &[Complex32], scale: f32, first: &mut [f32], second: &mut [f32]) {
    let split = |z: Complex32, mirror: Complex32| {
        let (sum_re, diff_im) = (z.re + mirror.re, z.im - mirror.im);
        let (diff_re, sum_im) = (z.re - mirror.re, z.im + mirror.im);
        (
            (sum_re * sum_re + diff_im * diff_im) * scale,
            (diff_re * diff_re + sum_im * sum_im) * scale,
        )
    };
    // Bin 0 and bin n / 2 are their own mirrors; bin k in between mirrors bin n - k.
    let half = pair.len() / 2;
    (first[0], second[0]) = split(pair[0], pair[0]);
    let bins = pair[1..=half].iter().zip(pair[half..].iter().rev());
    for ((p1, p2), (z, mirror)) in first[1..].iter_mut().zip(&mut second[1..]).zip(bins) {
        (*p1, *p2) = split(*z, *mirror);
    }
}

/// The sum of `values`, kept in eight running sums side by side (one running sum waits for
/// each addition to finish before the next).
pub(crate) fn lane_sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest: f32 = chunks.remainder().iter().sum();
    for chunk in chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane += x;
        }
    }
    lanes.iter().sum::<f32>() + rest
}

/// The largest of `values` (0 for none or all negative), kept in eight running maxima side by
/// side.
pub(crate) fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let rest = chunks.remainder().iter().copied().fold(0.0, f32::max);
    for chunk in chunks {
        for (lane, x) in lanes.iter_mut().zip(chunk) {
            *lane = if *x > *lane { *x } else { *lane };
        }
    }
    lanes.into_iter().fold(rest, f32::max)
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
    fn paired_power_spectra_are_each_frames_own() {
        let (len, hop) = (512, 128);
        let signal: Vec<f32> = (0..5_000u32)
            .map(|i| {
                let noise = ((i.wrapping_mul(2_654_435_761) >> 8) as f32 / (1 << 24) as f32) - 0.5;
                0.3 * (i as f32 * 0.07).sin() + 0.2 * noise
            })
            .collect();
        // Each frame on its own through a real FFT.
        let window = periodic_hann(len);
        let scale = 2.0 / window.iter().sum::<f32>();
        let fft = realfft::RealFftPlanner::<f32>::new().plan_fft_forward(len);
        let single: Vec<Vec<f32>> = (0..=(signal.len() - len) / hop)
            .map(|f| {
                let mut frame: Vec<f32> = signal[f * hop..f * hop + len]
                    .iter()
                    .zip(&window)
                    .map(|(x, w)| x * w)
                    .collect();
                let mut spectrum = fft.make_output_vec();
                fft.process(&mut frame, &mut spectrum)
                    .expect("sizes from the plan");
                spectrum
                    .iter()
                    .map(|z| z.norm_sqr() * scale * scale)
                    .collect()
            })
            .collect();
        let mut pairs = PowerSpectrumPairs::new(len, hop);
        let (mut frames, mut max_error) = (0, 0.0f32);
        // Pushed in uneven blocks: a frame waits for its partner across pushes.
        for block in signal.chunks(333) {
            pairs.push(block);
            while let Some(powers) = pairs.next_pair() {
                for power in powers {
                    for (p, q) in power.iter().zip(&single[frames]) {
                        max_error = max_error.max((p - q).abs());
                    }
                    frames += 1;
                }
            }
        }
        // 36 whole frames: 18 pairs, and none left over.
        assert_eq!(frames, single.len());
        assert!(max_error < 1e-6, "{max_error}");
        // A full-scale sine in the middle of a bin reads 1.
        let bin = 32.0;
        let sine: Vec<f32> = (0..len + hop)
            .map(|i| (std::f32::consts::TAU * bin * i as f32 / len as f32).sin())
            .collect();
        let mut pairs = PowerSpectrumPairs::new(len, hop);
        pairs.push(&sine);
        let powers = pairs.next_pair().expect("two frames");
        for power in powers {
            assert!((power[32] - 1.0).abs() < 1e-4, "{}", power[32]);
        }
        assert!(pairs.next_pair().is_none());
    }

    #[test]
    fn lane_sums_and_maxima_are_the_sum_and_maximum() {
        for n in [0, 1, 7, 8, 9, 31, 100] {
            let values: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 * 0.25).collect();
            let sum: f32 = values.iter().sum();
            assert!((lane_sum(&values) - sum).abs() < 1e-4, "{n}");
            assert_eq!(
                lane_max(&values),
                values.iter().copied().fold(0.0, f32::max),
                "{n}"
            );
        }
    }

    #[test]
    fn framer_yields_hop_spaced_frame_pairs_across_pushes() {
        let mut f = Framer::new(4, 2);
        let mut starts = Vec::new();
        for chunk in (0..13).map(|i| i as f32).collect::<Vec<_>>().chunks(3) {
            f.push(chunk);
            while let Some((first, second)) = f.next_two_frames() {
                assert_eq!((first.len(), second.len()), (4, 4));
                assert_eq!(first[3], first[0] + 3.0);
                assert_eq!(second[0], first[0] + 2.0);
                starts.extend([first[0], second[0]]);
            }
        }
        // Frames start at 0, 2, 4, 6 and 8; the one at 8 waits for its partner.
        assert_eq!(starts, [0.0, 2.0, 4.0, 6.0]);
    }
}
