//! The YIN difference function of one frame, computed through an FFT, and its pitch candidates
//! with pYIN's probabilities (Mauch & Dixon 2014).
//!
//! The lags are split into octave bands, each measured on the central part of the frame that
//! holds [`PERIODS_PER_FRAME`] periods of the band's longest lag. Within a band, the stretch is
//! compared with itself shifted by each lag `τ` over the part both copies cover (`x[0..N-τ]`
//! against `x[τ..N]`), so every lag looks at the same audio, centred on the frame's centre. The squared difference is divided by the energy of the two parts, which
//! removes the shrinking overlap's bias towards long lags (low octaves), and then by its
//! cumulative mean (YIN's CMNDF), which removes the trivial dip at lag 0.
//!
//! pYIN replaces YIN's single threshold by a distribution of thresholds, Beta(2, 18): for each
//! threshold the first dip below it is the pitch. A dip's probability is the share of thresholds
//! that choose it, so a clean period gets nearly all the mass, a first dip that is only half as
//! deep as a later one shares it, and noise, whose dips stay near 1, gets almost none.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// At most this many candidates per frame; further ones (rare: only noise has many successively
/// deeper dips) are dropped.
const MAX_CANDIDATES: usize = 16;

/// The second parameter of pYIN's Beta(2, b) threshold distribution (mean 2 / (2 + b) = 0.1).
const BETA_B: i32 = 18;

/// The share of the thresholds that no dip reaches (those below the deepest dip) that pYIN still
/// gives to the deepest dip.
const ABSOLUTE_MINIMUM_WEIGHT: f32 = 0.01;

/// One possible fundamental of a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Candidate {
    /// Frequency in Hz, from the dip's interpolated lag.
    pub(super) hz: f32,
    /// The share of the thresholds that choose this dip.
    pub(super) probability: f32,
}

/// The candidates of one frame, in order of rising lag (falling frequency).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Candidates {
    items: [Candidate; MAX_CANDIDATES],
    len: usize,
}

impl Candidates {
    /// The candidates as a slice.
    pub(super) fn as_slice(&self) -> &[Candidate] {
        &self.items[..self.len]
    }

    /// The sum of the candidates' probabilities: pYIN's probability that the frame is voiced.
    pub(super) fn voiced_probability(&self) -> f32 {
        self.as_slice().iter().map(|c| c.probability).sum::<f32>()
    }

    fn clear(&mut self) {
        self.len = 0;
    }

    fn push(&mut self, candidate: Candidate) {
        if self.len < MAX_CANDIDATES {
            self.items[self.len] = candidate;
            self.len += 1;
        }
    }
}

/// The cumulative distribution function of Beta(2, b): `1 - (1 - x)^b (1 + b x)`.
fn threshold_cdf(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    1.0 - (1.0 - x).powi(BETA_B) * (1.0 + BETA_B as f32 * x)
}

/// Periods of a band's longest lag in its frame (the longest band's frame has two, the length of
/// the whole analysis frame).
const PERIODS_PER_FRAME: usize = 3;

/// The difference function of one band of lags, on the central part of the frame that is
/// [`PERIODS_PER_FRAME`] periods of the band's longest lag: short periods are measured on a short
/// stretch, so that the track follows a new note within a frame or two, and long periods on a
/// long one.
struct Band {
    /// The lags whose dips this band reports.
    lags: std::ops::RangeInclusive<usize>,
    /// Frame length.
    len: usize,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    /// The frame, zero-padded to the FFT length (long enough that no lag up to the band's
    /// longest plus one wraps around).
    padded: Vec<f32>,
    spectrum: Vec<Complex32>,
    scratch: Vec<Complex32>,
    /// The autocorrelation, times the FFT length.
    acf: Vec<f32>,
    /// `energy[i]` = sum of the squares of the frame's first `i` samples.
    energy: Vec<f64>,
    /// The difference function divided by the energy of the compared parts, lags from 0 to the
    /// band's longest plus one.
    diff: Vec<f32>,
    /// The cumulative-mean-normalised difference (YIN's d'), same lags.
    cmnd: Vec<f32>,
}

impl Band {
    /// A band reporting `lags` from frames of `len` samples (`len >= lags.end() + 2`).
    fn new(lags: std::ops::RangeInclusive<usize>, len: usize) -> Self {
        let max_lag = *lags.end();
        debug_assert!(*lags.start() >= 2 && max_lag + 2 <= len);
        let fft_len = fft_len(len + max_lag + 2);
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(fft_len);
        let inverse = planner.plan_fft_inverse(fft_len);
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        Self {
            lags,
            len,
            padded: forward.make_input_vec(),
            spectrum: forward.make_output_vec(),
            scratch: vec![Complex32::default(); scratch_len],
            acf: inverse.make_output_vec(),
            forward,
            inverse,
            energy: vec![0.0; len + 1],
            diff: vec![0.0; max_lag + 2],
            cmnd: vec![0.0; max_lag + 2],
        }
    }

    /// Fills `diff` and `cmnd` from the central `len` samples of `frame`.
    fn difference(&mut self, frame: &[f32]) {
        let n = self.len;
        let start = (frame.len() - n) / 2;
        let frame = &frame[start..start + n];
        let mut sum = 0.0f64;
        self.energy[0] = 0.0;
        for (i, &x) in frame.iter().enumerate() {
            sum += f64::from(x) * f64::from(x);
            self.energy[i + 1] = sum;
        }
        self.padded[..n].copy_from_slice(frame);
        self.padded[n..].fill(0.0);
        // Both transforms only fail on buffers of the wrong length, which `new` rules out.
        self.forward
            .process_with_scratch(&mut self.padded, &mut self.spectrum, &mut self.scratch)
            .expect("FFT buffers sized by their plan");
        for c in &mut self.spectrum {
            *c = Complex32::new(c.norm_sqr(), 0.0);
        }
        self.inverse
            .process_with_scratch(&mut self.spectrum, &mut self.acf, &mut self.scratch)
            .expect("FFT buffers sized by their plan");
        let scale = 1.0 / self.acf.len() as f64;
        self.diff[0] = 0.0;
        self.cmnd[0] = 1.0;
        let mut running = 0.0f64;
        for lag in 1..self.diff.len() {
            // Energy of x[0..n-lag] plus energy of x[lag..n].
            let parts = self.energy[n - lag] + sum - self.energy[lag];
            let d = parts - 2.0 * f64::from(self.acf[lag]) * scale;
            let normalised = if parts > f64::MIN_POSITIVE {
                (d / parts).max(0.0)
            } else {
                1.0
            };
            self.diff[lag] = normalised as f32;
            running += normalised;
            self.cmnd[lag] = if running > 0.0 {
                (normalised * lag as f64 / running) as f32
            } else {
                1.0
            };
        }
    }

    /// The lag of the dip at integer `lag`, to a fraction of a sample: the vertex of the parabola
    /// through the normalised difference at `lag` and its neighbours.
    fn refined_lag(&self, lag: usize) -> f32 {
        let [a, b, c] = [lag - 1, lag, lag + 1].map(|l| f64::from(self.diff[l]));
        (lag as f64 + vertex(a, b, c)) as f32
    }
}

/// The offset from the middle point of the vertex of the parabola through three equally spaced
/// values, in steps, within half a step (0 when they do not curve upwards).
fn vertex(a: f64, b: f64, c: f64) -> f64 {
    let curvature = a - 2.0 * b + c;
    if curvature > 0.0 {
        (0.5 * (a - c) / curvature).clamp(-0.5, 0.5)
    } else {
        0.0
    }
}

/// The analysis of one frame: the normalised difference functions of its bands and their
/// candidates.
pub(super) struct Yin {
    sample_rate: f32,
    /// Frames with a mean square below this are silent: no candidates.
    silence_power: f64,
    /// Bands of lags, shortest lags first, each an octave of lags or more.
    bands: Vec<Band>,
}

impl Yin {
    /// An analysis of `len`-sample frames for lags `min_lag..=max_lag` (`2 <= min_lag <
    /// max_lag`, `2 * max_lag <= len`).
    pub(super) fn new(
        sample_rate: f32,
        len: usize,
        min_lag: usize,
        max_lag: usize,
        silence_db: f32,
    ) -> Self {
        debug_assert!(min_lag >= 2 && min_lag < max_lag && 2 * max_lag <= len);
        let mut bands = Vec::new();
        let mut high = max_lag;
        let mut frame = len;
        loop {
            let low = (high / 2 + 1).max(min_lag);
            // The shortest band takes the rest when less than an octave would remain.
            let low = if low / 2 < min_lag { min_lag } else { low };
            bands.push(Band::new(low..=high, frame));
            if low == min_lag {
                break;
            }
            high = low - 1;
            frame = (PERIODS_PER_FRAME * high).min(len) & !1;
        }
        bands.reverse();
        Self {
            sample_rate,
            silence_power: 10f64.powf(f64::from(silence_db) / 10.0),
            bands,
        }
    }

    /// Finds the candidates of `frame` (`len` finite samples) and stores them in `out`.
    pub(super) fn analyse(&mut self, frame: &[f32], out: &mut Candidates) {
        out.clear();
        let power = frame
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>();
        if power < self.silence_power * frame.len() as f64 {
            return;
        }
        // Thresholds above `lowest` have found a dip already; a later dip gets the thresholds
        // between its depth and `lowest`.
        let mut lowest = 1.0f32;
        let mut deepest = None;
        for band in &mut self.bands {
            band.difference(frame);
            for lag in band.lags.clone() {
                let value = band.cmnd[lag];
                let is_dip = value < band.cmnd[lag - 1] && value <= band.cmnd[lag + 1];
                if !is_dip || value >= lowest {
                    continue;
                }
                let probability = (threshold_cdf(lowest) - threshold_cdf(value)).max(0.0);
                lowest = value;
                deepest = Some(out.len);
                out.push(Candidate {
                    hz: self.sample_rate / band.refined_lag(lag),
                    probability,
                });
            }
        }
        if let Some(i) = deepest.filter(|&i| i < out.len) {
            // The thresholds below the deepest dip find none.
            out.items[i].probability += ABSOLUTE_MINIMUM_WEIGHT * threshold_cdf(lowest);
        }
    }
}

/// The smallest FFT length of the form 2^k or 3 * 2^k that is at least `min_len`.
fn fft_len(min_len: usize) -> usize {
    let power = min_len.next_power_of_two();
    let three = 3 * (power / 4);
    if three >= min_len { three } else { power }
}
