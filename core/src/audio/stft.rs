//! Short-time Fourier transform and its inverse on realfft.
//!
//! Frames are centred (the signal is padded with `n_fft / 2` zeros on both sides, as librosa
//! does with `center=True`) and windowed with a periodic Hann window. The inverse overlap-adds
//! the windowed frames and divides by the summed squared window, so the round trip is exact up
//! to float rounding (better than -100 dB) for every hop from 1 to `n_fft / 2`, and spectra that
//! were modified are resynthesised with least-squares error (Griffin & Lim).

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::AudioError;

/// A spectrogram of one channel: `frames` rows of `bins = n_fft / 2 + 1` complex values,
/// stored frame-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrogram {
    /// Number of frames (time steps).
    pub frames: usize,
    /// Number of frequency bins per frame (`n_fft / 2 + 1`).
    pub bins: usize,
    /// `frames * bins` values; bin `k` of frame `t` is at `t * bins + k`.
    pub data: Vec<Complex32>,
}

impl Spectrogram {
    /// The bins of frame `t`.
    pub fn frame(&self, t: usize) -> &[Complex32] {
        &self.data[t * self.bins..(t + 1) * self.bins]
    }

    /// The bins of frame `t`, mutable.
    pub fn frame_mut(&mut self, t: usize) -> &mut [Complex32] {
        &mut self.data[t * self.bins..(t + 1) * self.bins]
    }
}

/// A planned STFT of a fixed size and hop; reuse it for many signals.
pub struct Stft {
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
}

impl std::fmt::Debug for Stft {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stft")
            .field("n_fft", &self.n_fft)
            .field("hop", &self.hop)
            .finish_non_exhaustive()
    }
}

impl Stft {
    /// Plans an STFT of `n_fft` points (even, at least 4) with a hop of `hop` frames
    /// (1 ..= `n_fft / 2`, so the squared windows overlap everywhere).
    pub fn new(n_fft: usize, hop: usize) -> Result<Self, AudioError> {
        if n_fft < 4 || !n_fft.is_multiple_of(2) {
            return Err(AudioError::InvalidArgument(format!(
                "STFT size must be even and at least 4, got {n_fft}"
            )));
        }
        if hop == 0 || hop > n_fft / 2 {
            return Err(AudioError::InvalidArgument(format!(
                "STFT hop must be between 1 and n_fft / 2 = {}, got {hop}",
                n_fft / 2
            )));
        }
        let mut planner = RealFftPlanner::<f32>::new();
        let window = periodic_hann(n_fft);
        Ok(Self {
            n_fft,
            hop,
            window,
            forward: planner.plan_fft_forward(n_fft),
            inverse: planner.plan_fft_inverse(n_fft),
        })
    }

    /// The FFT size.
    pub fn n_fft(&self) -> usize {
        self.n_fft
    }

    /// The hop between frames.
    pub fn hop(&self) -> usize {
        self.hop
    }

    /// Bins per frame, `n_fft / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// The periodic Hann window used for analysis and synthesis.
    pub fn window(&self) -> &[f32] {
        &self.window
    }

    /// Frames produced for a signal of `len` samples: `1 + ceil(len / hop)` (1 for `len == 0`).
    pub fn frames_for(&self, len: usize) -> usize {
        1 + len.div_ceil(self.hop)
    }

    /// The centred STFT of `signal`.
    pub fn forward(&self, signal: &[f32]) -> Spectrogram {
        let frames = self.frames_for(signal.len());
        let bins = self.bins();
        let half = self.n_fft / 2;
        let mut data = vec![Complex32::new(0.0, 0.0); frames * bins];
        let mut frame = self.forward.make_input_vec();
        let mut scratch = self.forward.make_scratch_vec();
        for (t, out) in data.chunks_exact_mut(bins).enumerate() {
            // Frame t covers signal samples [t*hop - half, t*hop - half + n_fft).
            let start = (t * self.hop) as isize - half as isize;
            for (i, (f, w)) in frame.iter_mut().zip(&self.window).enumerate() {
                let idx = start + i as isize;
                *f = if idx >= 0 && (idx as usize) < signal.len() {
                    signal[idx as usize] * w
                } else {
                    0.0
                };
            }
            self.forward
                .process_with_scratch(&mut frame, out, &mut scratch)
                .expect("buffer sizes come from the plan");
        }
        Spectrogram { frames, bins, data }
    }

    /// Resynthesises `len` samples from a spectrogram made by [`forward`](Self::forward) (or a
    /// modified copy of one). Fails if the spectrogram's bin count does not match this plan.
    pub fn inverse(&self, spec: &Spectrogram, len: usize) -> Result<Vec<f32>, AudioError> {
        if spec.bins != self.bins() || spec.data.len() != spec.frames * spec.bins {
            return Err(AudioError::InvalidArgument(format!(
                "spectrogram has {} bins x {} frames ({} values) but this STFT makes {} bins",
                spec.bins,
                spec.frames,
                spec.data.len(),
                self.bins()
            )));
        }
        let half = self.n_fft / 2;
        let padded = (spec.frames.saturating_sub(1)) * self.hop + self.n_fft;
        let mut acc = vec![0.0f64; padded.max(len + half)];
        let mut norm = vec![0.0f64; acc.len()];
        let mut bins = self.inverse.make_input_vec();
        let mut frame = self.inverse.make_output_vec();
        let mut scratch = self.inverse.make_scratch_vec();
        let scale = 1.0 / self.n_fft as f64;
        for t in 0..spec.frames {
            bins.copy_from_slice(spec.frame(t));
            // A real signal's DC and Nyquist bins are real; drop any imaginary part an edit left.
            bins[0].im = 0.0;
            bins[half].im = 0.0;
            self.inverse
                .process_with_scratch(&mut bins, &mut frame, &mut scratch)
                .expect("buffer sizes come from the plan");
            let start = t * self.hop;
            for (i, (s, w)) in frame.iter().zip(&self.window).enumerate() {
                let w = f64::from(*w);
                acc[start + i] += f64::from(*s) * scale * w;
                norm[start + i] += w * w;
            }
        }
        Ok((0..len)
            .map(|i| {
                let n = norm[i + half];
                if n > 1e-10 {
                    (acc[i + half] / n) as f32
                } else {
                    0.0
                }
            })
            .collect())
    }
}

/// The periodic Hann window (`torch.hann_window(n)`), computed in `f64`.
pub(crate) fn periodic_hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| (0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos()) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn error_db(a: &[f32], b: &[f32]) -> f64 {
        let e: f64 = a.iter().zip(b).map(|(x, y)| f64::from(x - y).powi(2)).sum();
        let p: f64 = b.iter().map(|y| f64::from(*y).powi(2)).sum();
        10.0 * (e / p).log10()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn round_trip_is_below_minus_100_db(
            signal in prop::collection::vec(-1.0f32..1.0, 1..6000),
            n_fft_pow in 2u32..12,
            hop_div in prop::sample::select(vec![2usize, 3, 4, 8]),
        ) {
            let n_fft = 1usize << n_fft_pow;
            let hop = (n_fft / hop_div).max(1);
            prop_assume!(signal.iter().any(|s| *s != 0.0));
            let stft = Stft::new(n_fft, hop).unwrap();
            let spec = stft.forward(&signal);
            prop_assert_eq!(spec.frames, stft.frames_for(signal.len()));
            let back = stft.inverse(&spec, signal.len()).unwrap();
            let err = error_db(&back, &signal);
            prop_assert!(err < -100.0, "n_fft {} hop {} len {}: {:.1} dB", n_fft, hop, signal.len(), err);
        }
    }

    #[test]
    fn a_sine_lands_in_its_bin() {
        let stft = Stft::new(1024, 256).unwrap();
        let sig: Vec<f32> = (0..8192)
            .map(|i| (std::f32::consts::TAU * 64.0 * i as f32 / 1024.0).sin())
            .collect();
        let spec = stft.forward(&sig);
        let mid = spec.frame(spec.frames / 2);
        let peak = (0..mid.len()).max_by(|&a, &b| mid[a].norm().total_cmp(&mid[b].norm()));
        assert_eq!(peak, Some(64));
    }

    #[test]
    fn rejects_bad_sizes() {
        assert!(Stft::new(1023, 256).is_err());
        assert!(Stft::new(1024, 0).is_err());
        assert!(Stft::new(1024, 513).is_err());
        let a = Stft::new(1024, 256).unwrap();
        let b = Stft::new(512, 128).unwrap();
        assert!(b.inverse(&a.forward(&[0.5; 100]), 100).is_err());
    }
}
