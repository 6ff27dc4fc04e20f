//! The separator that needs no model: soft time-frequency masks from the cues a mix offers,
//! refined jointly by a multichannel Wiener filter.
//!
//! A streaming STFT (periodic Hann, 75 % overlap, about 90 ms frames) feeds, per bin of each
//! frame:
//!
//! - **harmonic / percussive structure** (Fitzgerald's median filtering): the median of the
//!   bin's magnitude over ±[`TIME_MEDIAN`] frames follows sustained partials, the median over
//!   ±[`FREQUENCY_MEDIAN`] bins of the frame follows broadband hits; their cubes give the
//!   percussive share `P` and the harmonic share `H = 1 - P`;
//! - **register**: harmonic energy below 100 Hz, fading out by 350 Hz, is the bass's; the voice's
//!   band starts where the bass's ends and fades to half above 8 kHz;
//! - **stereo position**: the voice sits in the centre, so its share is weighted by the bin's
//!   inter-channel coherence `2 |L R*| / (|L|² + |R|²)` (1 in the centre, 0 hard-panned) raised
//!   to [`CENTRE_SHARPNESS`]; without two channels there is no such cue and half goes each way.
//!
//! The masks are `drums = P`, `bass = H b(f)`, `vocals = H v(f) c(k)` and `other` the rest, so
//! they sum to 1 in every bin. Without a stereo pair they are applied to the mix as they are.
//! For a stereo pair they only give each stem's power in the bin, `v_j = mask_j (|L|² + |R|²)
//! / 2`, and a **multichannel Wiener filter** (as in Nugraha, Liutkus and Vincent's, one pass)
//! shares the bin's two channels out: stem `j` gets `v_j R_j (Σ_i v_i R_i)⁻¹ x`, where `R_j` is
//! its 2 × 2 spatial covariance. Voice and bass are taken to sit in the centre (`R` all ones,
//! [`CENTRE_DIFFUSE`] of it uncorrelated); drums and other have per-bin running covariances,
//! the mix's `x xᴴ` averaged over about [`SPATIAL_SECONDS`] weighted by the square of the
//! stem's mask, plus [`SPATIAL_DIFFUSE`] of the identity; in the bass's register the drums'
//! turns to the centred one by the register's weight (a kick drum sits in the centre). So a panned part is cancelled out of
//! the centred stems with the other channel rather than only attenuated, and what the masks
//! give the voice or the bass off-centre goes back to the stems that live there.
//!
//! The three masked stems are synthesised by overlap-add; `other` is the delayed input minus
//! their sum, so the four stems add up to the input to float rounding whatever the masks and
//! filters are.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::median::{CAPACITY, SortedWindow, sliding_median};
use super::{STEMS, SeparateError, Separator, Stem};

/// Frames either side of the centre in the harmonic (time) median: ±139 ms at 44.1 kHz.
const TIME_MEDIAN: usize = 6;
/// Bins either side of the centre in the percussive (frequency) median: ±86 Hz at 44.1 kHz.
const FREQUENCY_MEDIAN: usize = 8;
const _: () = assert!(2 * TIME_MEDIAN < CAPACITY && 2 * FREQUENCY_MEDIAN < CAPACITY);
/// The power the centre weight is raised to: a source panned 30 % (constant power) keeps
/// 40 % of its weight, one panned 10 % nine tenths.
const CENTRE_SHARPNESS: i32 = 8;
/// The centre weight without a stereo pair to measure it.
const NO_STEREO_CUE: f32 = 0.5;
/// Where the bass's register fades out (full below the first, none above the second), in Hz.
const BASS_FADE_HZ: (f32, f32) = (100.0, 350.0);
/// Where the voice's band fades to [`VOICE_TOP_WEIGHT`] (in Hz).
const VOICE_TOP_FADE_HZ: (f32, f32) = (8_000.0, 12_000.0);
/// The voice's weight above its band.
const VOICE_TOP_WEIGHT: f32 = 0.5;

/// The time constant of the running spatial covariances of drums and other, in seconds.
const SPATIAL_SECONDS: f32 = 10.0;
/// The share of the identity (a diffuse, uncorrelated part) in those covariances.
const SPATIAL_DIFFUSE: f32 = 0.05;
/// The uncorrelated share of the centred spatial covariance of the voice and the bass.
const CENTRE_DIFFUSE: f32 = 0.01;

/// Below this total power (the covariance's trace) a bin is silent and the Wiener filter is
/// skipped (dividing by it would leave `f32`'s range).
const SILENT_BIN_POWER: f32 = 1e-30;

/// The stems the masks produce directly; `other` is the rest.
const MASKED: usize = 3;

/// The FFT length at `sample_rate`: about 85 ms, a power of two, at least 512.
fn fft_size(sample_rate: u32) -> usize {
    ((f64::from(sample_rate) * 0.085) as usize)
        .next_power_of_two()
        .max(512)
}

/// The DSP separator (see the module documentation). [`Separator::process`] allocates nothing
/// for blocks of up to a quarter of the FFT length (1024 frames at 44.1 kHz); longer blocks may
/// grow its output queue once.
pub struct DspSeparator {
    channels: usize,
    n: usize,
    hop: usize,
    window: Vec<f32>,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// Per bin, the weight of the bass's register and of the voice's band.
    bass_weight: Vec<f32>,
    voice_weight: Vec<f32>,
    /// Per channel, the newest `n` input samples (the next frame's).
    frame: Vec<Vec<f32>>,
    /// New input samples since the last frame.
    filled: usize,
    /// Per channel, the spectra of the last `2 TIME_MEDIAN + 1` frames (a ring).
    spectra: Vec<Vec<Vec<Complex32>>>,
    /// The magnitudes (over channels) of the same frames.
    magnitudes: Vec<Vec<f32>>,
    /// Per bin, the same magnitudes in ascending order: the time median at a glance.
    sorted: Vec<SortedWindow>,
    /// Frames seen so far.
    frames: usize,
    /// Per masked stem and channel, the overlap-add accumulator (`n` samples).
    accumulators: Vec<Vec<Vec<f32>>>,
    /// Per channel, the input delayed by the latency (for `other`), as a ring of `latency`.
    delay: Vec<Vec<f32>>,
    delay_pos: usize,
    /// Per masked stem and channel, synthesised samples not yet handed out (a FIFO with the
    /// latency's zeros in front at the start).
    ready: Vec<Vec<Vec<f32>>>,
    /// Completed synthesis samples still to drop (they lie before the stream's start).
    discard: usize,
    /// Scratch: a frame's time samples, spectrum, masks and FFT scratch.
    time: Vec<f32>,
    spectrum: Vec<Complex32>,
    masks: [Vec<f32>; STEMS],
    /// Per masked stem and channel, the centre frame's stem spectrum.
    stem_spectra: Vec<Vec<Vec<Complex32>>>,
    /// Stereo only: per bin, the running spatial covariances of drums and other.
    spatial: Vec<[Spatial; 2]>,
    /// The running averages' decay per frame.
    spatial_decay: f32,
    /// Scratch: the newest frame's magnitudes, and the centre frame's frequency medians.
    fresh: Vec<f32>,
    percussive: Vec<f32>,
    fft_scratch: Vec<Complex32>,
}

impl std::fmt::Debug for DspSeparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DspSeparator")
            .field("channels", &self.channels)
            .field("fft", &self.n)
            .field("hop", &self.hop)
            .finish_non_exhaustive()
    }
}

impl DspSeparator {
    /// A separator for `channels` channels at `sample_rate` Hz. All memory is allocated here.
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self, SeparateError> {
        if !(1..=64).contains(&channels) || !(1000..=768_000).contains(&sample_rate) {
            return Err(SeparateError::Unsupported {
                channels,
                sample_rate,
            });
        }
        let n = fft_size(sample_rate);
        let hop = n / 4;
        let bins = n / 2 + 1;
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / n as f32).cos())
            .collect();
        let bin_hz = sample_rate as f32 / n as f32;
        let fade = |f: f32, (from, to): (f32, f32)| {
            let x = ((f - from) / (to - from)).clamp(0.0, 1.0);
            (0.5 + 0.5 * (std::f32::consts::PI * x).cos()).clamp(0.0, 1.0)
        };
        let bass_weight: Vec<f32> = (0..bins)
            .map(|k| fade(k as f32 * bin_hz, BASS_FADE_HZ))
            .collect();
        let voice_weight = (0..bins)
            .map(|k| {
                let f = k as f32 * bin_hz;
                let top = VOICE_TOP_WEIGHT + (1.0 - VOICE_TOP_WEIGHT) * fade(f, VOICE_TOP_FADE_HZ);
                (1.0 - bass_weight[k]) * top
            })
            .collect();
        let ring = 2 * TIME_MEDIAN + 1;
        let latency = n + TIME_MEDIAN * hop;
        let scratch = forward.get_scratch_len().max(inverse.get_scratch_len());
        let mut separator = Self {
            channels,
            n,
            hop,
            window,
            bass_weight,
            voice_weight,
            frame: vec![vec![0.0; n]; channels],
            filled: 0,
            spectra: vec![vec![vec![Complex32::default(); bins]; ring]; channels],
            magnitudes: vec![vec![0.0; bins]; ring],
            sorted: vec![SortedWindow::EMPTY; bins],
            frames: 0,
            accumulators: vec![vec![vec![0.0; n]; channels]; MASKED],
            delay: vec![vec![0.0; latency]; channels],
            delay_pos: 0,
            ready: vec![vec![Vec::with_capacity(latency + 2 * hop); channels]; MASKED],
            discard: 0,
            time: vec![0.0; n],
            spectrum: vec![Complex32::default(); bins],
            masks: std::array::from_fn(|_| vec![0.0; bins]),
            stem_spectra: vec![vec![vec![Complex32::default(); bins]; channels]; MASKED],
            spatial: vec![[Spatial::default(); 2]; if channels == 2 { bins } else { 0 }],
            spatial_decay: (-(hop as f32) / (SPATIAL_SECONDS * sample_rate as f32)).exp(),
            fresh: vec![0.0; bins],
            percussive: vec![0.0; bins],
            fft_scratch: vec![Complex32::default(); scratch],
            forward,
            inverse,
        };
        separator.reset();
        Ok(separator)
    }

    /// The largest block [`Separator::process`] takes without allocating: the STFT's hop
    /// (1024 frames at 44.1 and 48 kHz).
    pub fn block_frames(&self) -> usize {
        self.hop
    }

    /// Runs one frame: analyses the newest `n` samples, and once the ring holds the frames the
    /// time median needs, synthesises the centre frame's stems into the accumulators and moves
    /// its completed first `hop` samples to `ready`.
    fn run_frame(&mut self) {
        let ring = 2 * TIME_MEDIAN + 1;
        let slot = self.frames % ring;
        let bins = self.spectrum.len();
        self.fresh.fill(0.0);
        for (channel, frame) in self.frame.iter().enumerate() {
            for ((t, x), w) in self.time.iter_mut().zip(frame).zip(&self.window) {
                *t = x * w;
            }
            let spectrum = &mut self.spectra[channel][slot];
            self.forward
                .process_with_scratch(&mut self.time, spectrum, &mut self.fft_scratch)
                .expect("buffer sizes come from the plan");
            for (m, c) in self.fresh.iter_mut().zip(spectrum.iter()) {
                *m += c.norm_sqr();
            }
        }
        let scale = 1.0 / self.channels as f32;
        let oldest = &mut self.magnitudes[slot];
        for ((fresh, old), sorted) in self.fresh.iter().zip(oldest).zip(&mut self.sorted) {
            let new = (fresh * scale).sqrt();
            sorted.replace(*old, new);
            *old = new;
        }
        self.frames += 1;
        if self.frames <= TIME_MEDIAN {
            return;
        }
        // The centre frame is `TIME_MEDIAN` frames back.
        let centre = (self.frames - 1 - TIME_MEDIAN) % ring;
        self.compute_masks(centre, bins);
        self.filter(centre);
        let synthesis_scale = 1.0 / (1.5 * self.n as f32);
        for stem in 0..MASKED {
            for channel in 0..self.channels {
                self.spectrum
                    .copy_from_slice(&self.stem_spectra[stem][channel]);
                // The DC and Nyquist bins of a real signal's spectrum are real.
                self.spectrum[0].im = 0.0;
                self.spectrum[bins - 1].im = 0.0;
                self.inverse
                    .process_with_scratch(&mut self.spectrum, &mut self.time, &mut self.fft_scratch)
                    .expect("buffer sizes come from the plan");
                let accumulator = &mut self.accumulators[stem][channel];
                for ((a, t), w) in accumulator.iter_mut().zip(&self.time).zip(&self.window) {
                    *a += t * w * synthesis_scale;
                }
                let drop = self.discard.min(self.hop);
                self.ready[stem][channel].extend_from_slice(&accumulator[drop..self.hop]);
                accumulator.copy_within(self.hop.., 0);
                let n = self.n;
                accumulator[n - self.hop..].fill(0.0);
            }
        }
        self.discard -= self.discard.min(self.hop);
    }

    /// The masks of the ring's frame `centre` (see the module documentation).
    fn compute_masks(&mut self, centre: usize, bins: usize) {
        let [drums, bass, vocals, other] = &mut self.masks;
        sliding_median(
            &self.magnitudes[centre],
            FREQUENCY_MEDIAN,
            &mut self.percussive,
        );
        for k in 0..bins {
            let harmonic = self.sorted[k].median();
            let percussive = self.percussive[k];
            let h3 = harmonic * harmonic * harmonic;
            let p3 = percussive * percussive * percussive;
            let percussive_share = if h3 + p3 > 0.0 { p3 / (h3 + p3) } else { 0.0 };
            let harmonic_share = 1.0 - percussive_share;
            let centre_weight = if self.channels == 2 {
                let (l, r) = (self.spectra[0][centre][k], self.spectra[1][centre][k]);
                let (l2, r2) = (l.norm_sqr(), r.norm_sqr());
                let power = l2 + r2;
                if power > 0.0 {
                    // The coherence squared, without a square root: 4 |L|² |R|² / (|L|² + |R|²)².
                    (4.0 * l2 * r2 / (power * power))
                        .min(1.0)
                        .powi(CENTRE_SHARPNESS / 2)
                } else {
                    0.0
                }
            } else {
                NO_STEREO_CUE
            };
            drums[k] = percussive_share;
            bass[k] = harmonic_share * self.bass_weight[k];
            vocals[k] = harmonic_share * self.voice_weight[k] * centre_weight;
            other[k] = (harmonic_share - bass[k] - vocals[k]).max(0.0);
        }
    }

    /// The masked stems' spectra of the ring's frame `centre`. For a stereo pair, a
    /// multichannel Wiener filter (see the module documentation); otherwise the masks times
    /// the mix.
    fn filter(&mut self, centre: usize) {
        if self.channels != 2 {
            for stem in 0..MASKED {
                for channel in 0..self.channels {
                    for ((s, c), m) in self.stem_spectra[stem][channel]
                        .iter_mut()
                        .zip(&self.spectra[channel][centre])
                        .zip(&self.masks[stem])
                    {
                        *s = c * *m;
                    }
                }
            }
            return;
        }
        let decay = self.spatial_decay;
        let centred = Spatial::centred(CENTRE_DIFFUSE);
        for k in 0..self.spectrum.len() {
            let x = [self.spectra[0][centre][k], self.spectra[1][centre][k]];
            let power = 0.5 * (x[0].norm_sqr() + x[1].norm_sqr());
            let mix = Spatial::of(x);
            let masks: [f32; STEMS] = std::array::from_fn(|stem| self.masks[stem][k]);
            // Drums (0) and other (3) have running spatial covariances; bass (1) and vocals
            // (2) are centred.
            let running = &mut self.spatial[k];
            for (r, m) in running.iter_mut().zip([masks[0], masks[3]]) {
                r.add(&mix, m * m, decay);
            }
            let spatial = [
                running[0]
                    .normalised(SPATIAL_DIFFUSE)
                    .towards(&centred, self.bass_weight[k]),
                centred,
                centred,
                running[1].normalised(SPATIAL_DIFFUSE),
            ];
            let power = masks.map(|m| m * power);
            let mut covariance = Spatial::default();
            for (r, v) in spatial.iter().zip(power) {
                covariance.add(r, v, 1.0);
            }
            let trace = covariance.a + covariance.d;
            if trace.is_nan() || trace <= SILENT_BIN_POWER {
                // A silent (or NaN) bin: the filter's inverse would overflow, and the masks
                // alone give the same nothing.
                for (stem, mask) in self.stem_spectra.iter_mut().zip(masks) {
                    for (channel, x) in stem.iter_mut().zip(x) {
                        channel[k] = x * mask;
                    }
                }
                continue;
            }
            // Solved at unit trace, so that quiet bins keep the 2×2 inverse within `f32`.
            let scale = 1.0 / trace;
            covariance.a = covariance.a * scale + 1e-6;
            covariance.d = covariance.d * scale + 1e-6;
            covariance.b *= scale;
            let z = covariance.solve(x).map(|z| z * scale);
            for stem in 0..MASKED {
                let y = spatial[stem].apply(z);
                self.stem_spectra[stem][0][k] = y[0] * power[stem];
                self.stem_spectra[stem][1][k] = y[1] * power[stem];
            }
        }
    }
}

/// A 2×2 Hermitian matrix `[[a, b], [b*, d]]` and the weight (mean power) behind it: a stem's
/// spatial covariance.
#[derive(Debug, Clone, Copy, Default)]
struct Spatial {
    a: f32,
    d: f32,
    b: Complex32,
    weight: f32,
}

impl Spatial {
    /// A source in the centre (equal in both channels), `diffuse` of it uncorrelated.
    fn centred(diffuse: f32) -> Self {
        Self {
            a: 1.0,
            d: 1.0,
            b: Complex32::new(1.0 - diffuse, 0.0),
            weight: 1.0,
        }
    }

    /// `x x^H`, weighing `(|x0|² + |x1|²) / 2`.
    fn of(x: [Complex32; 2]) -> Self {
        let (a, d) = (x[0].norm_sqr(), x[1].norm_sqr());
        Self {
            a,
            d,
            b: x[0] * x[1].conj(),
            weight: 0.5 * (a + d),
        }
    }

    /// `self = decay self + w other`.
    fn add(&mut self, other: &Self, w: f32, decay: f32) {
        self.a = decay * self.a + w * other.a;
        self.d = decay * self.d + w * other.d;
        self.b = self.b * decay + other.b * w;
        self.weight = decay * self.weight + w * other.weight;
    }

    /// The matrix over its weight (trace 2), `diffuse` of it replaced by the identity (the
    /// identity alone while nothing was added).
    fn normalised(&self, diffuse: f32) -> Self {
        if self.weight <= 1e-30 {
            return Self::centred(1.0);
        }
        let s = (1.0 - diffuse) / self.weight;
        Self {
            a: self.a * s + diffuse,
            d: self.d * s + diffuse,
            b: self.b * s,
            weight: 1.0,
        }
    }

    /// `(1 - t) self + t other` (both normalised).
    fn towards(&self, other: &Self, t: f32) -> Self {
        Self {
            a: self.a + t * (other.a - self.a),
            d: self.d + t * (other.d - self.d),
            b: self.b + (other.b - self.b) * t,
            weight: 1.0,
        }
    }

    /// `self⁻¹ x` (the matrix must be positive definite).
    fn solve(&self, x: [Complex32; 2]) -> [Complex32; 2] {
        let inverse_det = 1.0 / (self.a * self.d - self.b.norm_sqr());
        [
            (x[0] * self.d - self.b * x[1]) * inverse_det,
            (x[1] * self.a - self.b.conj() * x[0]) * inverse_det,
        ]
    }

    /// `self x`.
    fn apply(&self, x: [Complex32; 2]) -> [Complex32; 2] {
        [
            x[0] * self.a + self.b * x[1],
            self.b.conj() * x[0] + x[1] * self.d,
        ]
    }
}

impl Separator for DspSeparator {
    fn channels(&self) -> usize {
        self.channels
    }

    fn latency(&self) -> usize {
        self.n + TIME_MEDIAN * self.hop
    }

    fn reset(&mut self) {
        let latency = self.latency();
        self.frame.iter_mut().for_each(|f| f.fill(0.0));
        self.filled = 0;
        self.frames = 0;
        for ring in &mut self.spectra {
            ring.iter_mut().for_each(|s| s.fill(Complex32::default()));
        }
        self.magnitudes.iter_mut().for_each(|m| m.fill(0.0));
        self.spatial.fill([Spatial::default(); 2]);
        self.sorted.fill(SortedWindow::zeros(2 * TIME_MEDIAN + 1));
        for stem in &mut self.accumulators {
            stem.iter_mut().for_each(|a| a.fill(0.0));
        }
        self.delay.iter_mut().for_each(|d| d.fill(0.0));
        self.delay_pos = 0;
        for stem in &mut self.ready {
            for channel in stem {
                channel.clear();
                channel.resize(latency, 0.0);
            }
        }
        // Frame 0 ends at sample `hop`: its first completed samples lie `n - hop` before the
        // start.
        self.discard = self.n - self.hop;
    }

    fn process(&mut self, input: &[&[f32]], stems: &mut [Vec<Vec<f32>>; STEMS]) {
        let frames = input.first().map_or(0, |c| c.len());
        let mut done = 0;
        while done < frames {
            let take = (self.hop - self.filled).min(frames - done);
            for (frame, channel) in self.frame.iter_mut().zip(input) {
                let start = self.n - self.hop + self.filled;
                frame[start..start + take].copy_from_slice(&channel[done..done + take]);
            }
            self.filled += take;
            done += take;
            if self.filled == self.hop {
                self.run_frame();
                let hop = self.hop;
                self.frame.iter_mut().for_each(|f| f.copy_within(hop.., 0));
                self.filled = 0;
            }
        }
        // Hand out as many samples as came in, `latency` behind.
        let latency = self.delay[0].len();
        for (channel, samples) in input.iter().enumerate() {
            let masked: [&[f32]; MASKED] =
                std::array::from_fn(|stem| &self.ready[stem][channel][..frames]);
            let delay = &mut self.delay[channel];
            let other = &mut stems[Stem::Other.index()][channel];
            other.clear();
            let mut pos = self.delay_pos;
            for (i, x) in samples.iter().enumerate() {
                let delayed = std::mem::replace(&mut delay[pos], *x);
                pos = if pos + 1 == latency { 0 } else { pos + 1 };
                other.push(delayed - masked[0][i] - masked[1][i] - masked[2][i]);
            }
            for (stem, produced) in [Stem::Drums, Stem::Bass, Stem::Vocals]
                .into_iter()
                .zip(masked)
            {
                let out = &mut stems[stem.index()][channel];
                out.clear();
                out.extend_from_slice(produced);
            }
        }
        self.delay_pos = (self.delay_pos + frames) % latency;
        for stem in &mut self.ready {
            for channel in stem {
                channel.drain(..frames);
            }
        }
    }
}
