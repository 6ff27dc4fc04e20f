//! The shared front end of the musical analyses (tempo, beats, key): a mono mix-down of the
//! input, decimated by a power of two to a rate between 8 and 20 kHz, and cut into overlapping
//! frames.
//!
//! [`SpectralFrames`] turns that stream into Hann-windowed spectra for the onset envelope and
//! the chroma.
//!
//! Tempo and key need nothing above a few kHz, so working at about 11 or 12 kHz makes every FFT
//! after this stage four times cheaper than at 44.1 or 48 kHz, at the cost of two biquads per
//! input sample.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};

/// The analysis rate is the input rate halved while it stays at or above this, in Hz.
const MIN_ANALYSIS_RATE: f64 = 10_000.0;

/// A second-order IIR section (transposed direct form II).
#[derive(Debug, Clone, Copy)]
struct Biquad {
    b: [f32; 3],
    a: [f32; 2],
    z: [f32; 2],
}

impl Biquad {
    /// A Butterworth-style low-pass section at `cutoff` (as a fraction of the sample rate) with
    /// quality factor `q` (RBJ cookbook).
    fn low_pass(cutoff: f64, q: f64) -> Self {
        let w0 = std::f64::consts::TAU * cutoff;
        let alpha = w0.sin() / (2.0 * q);
        let cos = w0.cos();
        let a0 = 1.0 + alpha;
        let b1 = (1.0 - cos) / a0;
        Self {
            b: [(b1 / 2.0) as f32, b1 as f32, (b1 / 2.0) as f32],
            a: [(-2.0 * cos / a0) as f32, ((1.0 - alpha) / a0) as f32],
            z: [0.0; 2],
        }
    }

    fn process(&mut self, x: f32) -> f32 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }
}

/// Mixes planar blocks down to mono and decimates them to the analysis rate.
#[derive(Debug, Clone)]
pub(crate) struct MonoDecimator {
    /// Input samples per output sample (a power of two; 1 passes the mix through).
    factor: usize,
    /// Fourth-order low-pass (two sections) at 0.45 of the output rate, before the decimation.
    filters: [Biquad; 2],
    /// Input samples since the last output sample.
    phase: usize,
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
        let cutoff = 0.45 / factor as f64;
        // Q of the two sections of a fourth-order Butterworth filter.
        let filters = [
            Biquad::low_pass(cutoff, 0.5412),
            Biquad::low_pass(cutoff, 1.3066),
        ];
        Self {
            factor,
            filters,
            phase: 0,
            rate,
        }
    }

    /// Forgets the filter state.
    pub(crate) fn reset(&mut self) {
        for f in &mut self.filters {
            f.z = [0.0; 2];
        }
        self.phase = 0;
    }

    /// The output (analysis) rate in Hz.
    pub(crate) fn rate(&self) -> f64 {
        self.rate
    }

    /// Appends the decimated mono mix of `block` (planar, equal lengths) to `out`.
    /// Non-finite samples count as 0.
    pub(crate) fn process<S: AsRef<[f32]>>(&mut self, block: &[S], out: &mut Vec<f32>) {
        let Some(first) = block.first() else { return };
        let frames = first.as_ref().len();
        let gain = 1.0 / block.len() as f32;
        for i in 0..frames {
            let mut x: f32 = block.iter().map(|c| c.as_ref()[i]).sum::<f32>() * gain;
            if !x.is_finite() {
                x = 0.0;
            }
            if self.factor == 1 {
                out.push(x);
                continue;
            }
            let y = self.filters[0].process(x);
            let y = self.filters[1].process(y);
            self.phase += 1;
            if self.phase == self.factor {
                self.phase = 0;
                out.push(y);
            }
        }
    }
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
