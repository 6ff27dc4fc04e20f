//! HTDemucs split exports (`demucs-onnx`): waveform and spectrogram in, both branches out, all
//! sources at once.
//!
//! The processing follows `demucs` 4 (`api.py`, `apply.py::apply_model`, `htdemucs.py`
//! `_spec` / `_ispec` / `_magnitude` / `_mask`, `spec.py`), without random shifts:
//!
//! - the whole track is normalised by the mean and (unbiased) standard deviation of its mono
//!   mix, undone on every source at the end;
//! - segments of 343 980 samples start every 257 985 (25 % overlap); a segment shorter than
//!   that at the end is centred in a full-length window filled from the track around it, zeros
//!   beyond the track (`TensorChunk.padded`), and its output cut back (`center_trim`);
//! - the spectrogram input: the segment reflect-padded by 1536 before and to 336 hops + 1536
//!   after, centred STFT (periodic Hann 4096, hop 1024, reflect, `normalized=True`, i.e. times
//!   1/64), frames 2..338 and bins 0..2048 (Nyquist dropped), channels L-re, L-im, R-re, R-im;
//! - each source's spectrogram output is inverted the same way (Nyquist bin and two frames on
//!   each side zero-padded, so the window-square sum counts 340 frames) and added to its
//!   waveform output;
//! - segments are cross-faded with triangular weights and divided by the summed weights.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::mdx::{reflect, single_onnx};
use super::{STEMS, SeparateError, Stem};
use crate::audio::periodic_hann;
use crate::inference::{InferenceError, InputTensor, ModelPack, ModelSession};

/// Samples per segment.
pub const SEGMENT: usize = 343_980;
/// Samples between segment starts (`int(0.75 * SEGMENT)`).
const STRIDE: usize = 257_985;
const N_FFT: usize = 4096;
const HOP: usize = 1024;
/// Spectrogram bins and frames fed to the graph.
const BINS: usize = 2048;
const FRAMES: usize = 336;

/// One opened `demucs-onnx` graph.
pub(crate) struct DemucsModel {
    session: Arc<ModelSession>,
    /// Graph port names: waveform and spectrogram inputs, spectrogram and waveform outputs.
    inputs: [String; 2],
    outputs: [String; 2],
    /// The stem each graph source adds to.
    sources: Vec<Stem>,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl DemucsModel {
    /// Opens the pack's one `.onnx` file; every manifest stem must be one of drums, bass,
    /// other, vocals, guitar or piano (the last two are added to `other`).
    pub(crate) fn load(pack: &ModelPack) -> Result<Self, SeparateError> {
        let sources = pack
            .manifest()
            .stems
            .iter()
            .map(|name| match name.as_str() {
                "guitar" | "piano" => Ok(Stem::Other),
                name => name.parse::<Stem>().map_err(|_| SeparateError::Pack {
                    path: pack.manifest_path().to_path_buf(),
                    reason: format!(
                        "stems: `{name}` is not a demucs source (drums, bass, other, vocals, \
                         guitar, piano)"
                    ),
                }),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let file = single_onnx(pack)?;
        let session = pack.open_session(&file.to_string_lossy())?;
        let sig = session.signature();
        let path = session.path().to_path_buf();
        for output in &sig.outputs[..2] {
            if let Some(s) = output.dims[1]
                && s != sources.len() as u64
            {
                return Err(InferenceError::ShapeMismatch {
                    path,
                    convention: crate::inference::Convention::DemucsOnnx,
                    kind: "output",
                    name: output.name.clone(),
                    expected: format!("{} sources (the manifest's stems) on axis 1", sources.len()),
                    got: s.to_string(),
                }
                .into());
            }
        }
        let mut planner = RealFftPlanner::<f32>::new();
        Ok(Self {
            inputs: [sig.inputs[0].name.clone(), sig.inputs[1].name.clone()],
            outputs: [sig.outputs[0].name.clone(), sig.outputs[1].name.clone()],
            session,
            sources,
            window: periodic_hann(N_FFT),
            forward: planner.plan_fft_forward(N_FFT),
            inverse: planner.plan_fft_inverse(N_FFT),
        })
    }

    /// The model file.
    pub(crate) fn path(&self) -> &std::path::Path {
        self.session.path()
    }

    /// Graph runs for a signal of `frames` samples.
    pub(crate) fn runs(&self, frames: usize) -> usize {
        frames.div_ceil(STRIDE).max(1)
    }

    /// The four stems of `mix` (44.1 kHz stereo, equal lengths), each as long as the mix. Calls
    /// `tick` after every graph run; stops with [`SeparateError::Cancelled`] when `cancel` is set.
    pub(crate) fn run(
        &self,
        mix: &[Vec<f32>; 2],
        tick: &mut dyn FnMut(),
        cancel: &AtomicBool,
    ) -> Result<[[Vec<f32>; 2]; STEMS], SeparateError> {
        let len = mix[0].len();
        let (mean, std) = mono_mean_std(mix);
        let mut out: [[Vec<f32>; 2]; STEMS] =
            std::array::from_fn(|_| [vec![0.0; len], vec![0.0; len]]);
        let mut sum_weight = vec![0.0f32; len];
        let weight = triangle(SEGMENT);
        let envelope = envelope(&self.window);
        let mut segment = [vec![0.0f32; SEGMENT], vec![0.0f32; SEGMENT]];
        let mut spec = vec![0.0f32; 4 * BINS * FRAMES];
        let mut frame = vec![0.0f32; N_FFT];
        let mut bins = vec![Complex32::default(); N_FFT / 2 + 1];
        let mut fft = vec![
            Complex32::default();
            self.forward
                .get_scratch_len()
                .max(self.inverse.get_scratch_len())
        ];
        let mut acc = vec![0.0f32; SEGMENT + 2 * N_FFT];
        let mut offset = 0;
        while offset < len.max(1) {
            if cancel.load(Ordering::Relaxed) {
                return Err(SeparateError::Cancelled);
            }
            let kept = SEGMENT.min(len - offset);
            let lead = (SEGMENT - kept) / 2;
            // The normalised track around the segment, zeros beyond it.
            for (seg, channel) in segment.iter_mut().zip(mix) {
                for (i, x) in seg.iter_mut().enumerate() {
                    *x = (offset + i)
                        .checked_sub(lead)
                        .and_then(|p| channel.get(p))
                        .map_or(0.0, |x| (x - mean) / std);
                }
            }
            // The spectrogram input.
            let plane = BINS * FRAMES;
            for (c, seg) in segment.iter().enumerate() {
                for j in 0..FRAMES {
                    let start = (j * HOP + HOP / 2) as isize - (N_FFT / 2) as isize;
                    for (i, (f, w)) in frame.iter_mut().zip(&self.window).enumerate() {
                        *f = seg[reflect(start + i as isize, SEGMENT)] * w;
                    }
                    self.forward
                        .process_with_scratch(&mut frame, &mut bins, &mut fft)
                        .expect("buffer sizes come from the plan");
                    let scale = 1.0 / (N_FFT as f32).sqrt();
                    for (k, z) in bins[..BINS].iter().enumerate() {
                        spec[(2 * c) * plane + k * FRAMES + j] = z.re * scale;
                        spec[(2 * c + 1) * plane + k * FRAMES + j] = z.im * scale;
                    }
                }
            }
            let wave: Vec<f32> = segment.iter().flatten().copied().collect();
            let outputs = self.session.run(&[
                (
                    self.inputs[0].as_str(),
                    InputTensor::F32 {
                        shape: &[1, 2, SEGMENT],
                        data: &wave,
                    },
                ),
                (
                    self.inputs[1].as_str(),
                    InputTensor::F32 {
                        shape: &[1, 4, BINS, FRAMES],
                        data: &spec,
                    },
                ),
            ])?;
            let s = self.sources.len();
            let spec_out = outputs.require(self.path(), &self.outputs[0])?;
            let wave_out = outputs.require(self.path(), &self.outputs[1])?;
            for (value, shape) in [
                (spec_out, vec![1, s, 4, BINS, FRAMES]),
                (wave_out, vec![1, s, 2, SEGMENT]),
            ] {
                if value.shape() != shape.as_slice() {
                    return Err(InferenceError::run(
                        self.path(),
                        format!(
                            "an output has shape {:?}, expected {shape:?}",
                            value.shape()
                        ),
                    )
                    .into());
                }
            }
            let spec_out = spec_out.as_standard_layout();
            let spec_out = spec_out.as_slice().expect("standard layout is contiguous");
            let wave_out = wave_out.as_standard_layout();
            let wave_out = wave_out.as_slice().expect("standard layout is contiguous");
            for (source, stem) in self.sources.iter().enumerate() {
                for c in 0..2 {
                    // Inverse STFT of the source's spectrogram: frame j is centred at segment
                    // sample `j hop + hop / 2`, i.e. at `acc` index `j hop + hop / 2 + n_fft`.
                    acc.fill(0.0);
                    let base = (source * 4 + 2 * c) * plane;
                    for j in 0..FRAMES {
                        bins.fill(Complex32::default());
                        for (k, z) in bins[..BINS].iter_mut().enumerate() {
                            *z = Complex32::new(
                                spec_out[base + k * FRAMES + j],
                                spec_out[base + plane + k * FRAMES + j],
                            );
                        }
                        bins[0].im = 0.0;
                        self.inverse
                            .process_with_scratch(&mut bins, &mut frame, &mut fft)
                            .expect("buffer sizes come from the plan");
                        let at = j * HOP + HOP / 2 + N_FFT / 2;
                        let scale = 1.0 / (N_FFT as f32).sqrt();
                        for ((a, x), w) in
                            acc[at..at + N_FFT].iter_mut().zip(&frame).zip(&self.window)
                        {
                            *a += x * w * scale;
                        }
                    }
                    let wave = &wave_out[(source * 2 + c) * SEGMENT..][..SEGMENT];
                    let target = &mut out[stem.index()][c][offset..offset + kept];
                    for (q, t) in target.iter_mut().enumerate() {
                        let p = lead + q;
                        let y = acc[p + N_FFT] / envelope[p] + wave[p];
                        *t += weight[q] * y;
                    }
                }
            }
            for (q, s) in sum_weight[offset..offset + kept].iter_mut().enumerate() {
                *s += weight[q];
            }
            tick();
            offset += STRIDE;
        }
        for stem in &mut out {
            for channel in stem.iter_mut() {
                for (x, w) in channel.iter_mut().zip(&sum_weight) {
                    *x = *x / w * std + mean;
                }
            }
        }
        Ok(out)
    }
}

/// The mean and unbiased standard deviation of the mono mix (a standard deviation of 1 for
/// silence or a single sample, where the reference would divide by zero).
fn mono_mean_std(mix: &[Vec<f32>; 2]) -> (f32, f32) {
    let n = mix[0].len();
    let mono = || {
        mix[0]
            .iter()
            .zip(&mix[1])
            .map(|(l, r)| (f64::from(*l) + f64::from(*r)) / 2.0)
    };
    let mean = mono().sum::<f64>() / n.max(1) as f64;
    let var = mono().map(|x| (x - mean).powi(2)).sum::<f64>() / n.saturating_sub(1).max(1) as f64;
    let std = var.sqrt();
    (mean as f32, if std > 1e-8 { std as f32 } else { 1.0 })
}

/// The cross-fade weights of `apply_model`: 1, 2, ..., n/2, then down to 1, over the maximum.
fn triangle(n: usize) -> Vec<f32> {
    let half = n / 2;
    let max = half.max(n - half) as f32;
    (1..=half)
        .chain((1..=n - half).rev())
        .map(|w| w as f32 / max)
        .collect()
}

/// The window-square sum of the inverse STFT at each segment sample: the 336 frames and the
/// four zero frames around them (centred at `(j - 2) hop + hop / 2`, j = 0..340).
fn envelope(window: &[f32]) -> Vec<f32> {
    let mut sum = vec![0.0f32; SEGMENT];
    for j in 0..FRAMES + 4 {
        let centre = (j * HOP + HOP / 2) as isize - 2 * HOP as isize;
        for (i, w) in window.iter().enumerate() {
            let p = centre - (N_FFT / 2) as isize + i as isize;
            if (0..SEGMENT as isize).contains(&p) {
                sum[p as usize] += w * w;
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_weights_rise_and_fall_like_the_reference() {
        let w = triangle(SEGMENT);
        assert_eq!(w.len(), SEGMENT);
        assert_eq!(w[0], 1.0 / 171_990.0);
        assert_eq!(w[SEGMENT / 2 - 1], 1.0);
        assert_eq!(w[SEGMENT / 2], 1.0);
        assert_eq!(w[SEGMENT - 1], 1.0 / 171_990.0);
    }

    #[test]
    fn every_segment_sample_is_covered_by_four_frames() {
        let e = envelope(&periodic_hann(N_FFT));
        for (p, v) in e.iter().enumerate() {
            assert!((v - 1.5).abs() < 1e-4, "sample {p}: {v}");
        }
    }
}
