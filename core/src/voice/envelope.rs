//! Frame analysis shared by voice cloning and conversion: the spectral envelope of a frame on a
//! fixed mel grid (so profiles apply at any sample rate), its periodicity and its level.
//!
//! The envelope is a "true envelope" (Röbel & Rodet): the cepstrally smoothed log-magnitude
//! spectrum, raised to the spectral peaks by a few iterations of `A = max(log|X|, smooth(A))`,
//! so it follows the harmonics' tops rather than the mean of harmonics and valleys and does
//! not depend much on the pitch. Periodicity is the normalised autocorrelation peak of the
//! frame corrected for the window (Boersma 1993), computed through a zero-padded FFT.
//!
//! Everything is planned and allocated in [`FrameAnalyser::new`]; [`FrameAnalyser::analyse`]
//! allocates nothing, so the converter can call it on an audio thread.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Points of the envelope grid.
pub const GRID_POINTS: usize = 48;
/// Lowest frequency of the envelope grid in Hz.
pub const GRID_MIN_HZ: f32 = 60.0;
/// Highest frequency of the envelope grid in Hz.
pub const GRID_MAX_HZ: f32 = 9000.0;
/// Points above the grid where envelopes are measured too, Hz (the band the grid's mel spacing
/// leaves out; a voice's level there matters to how bright it sounds).
pub const HIGH_HZ: [f32; HIGH_POINTS] = [10_500.0, 12_500.0, 15_000.0, 18_000.0, 21_000.0];
/// Number of [`HIGH_HZ`] points.
pub const HIGH_POINTS: usize = 5;
/// Envelopes are levelled by their mean over the grid points in this band (Hz): above most
/// voices' fundamental, where harmonics sample the envelope, and below what every supported
/// sample rate covers.
const LEVEL_BAND_HZ: (f32, f32) = (400.0, 3500.0);
/// The lowest supported sample rate in Hz.
pub const MIN_SAMPLE_RATE: f32 = 8000.0;
/// Grid points above this fraction of the sample rate are not measured (anti-alias roll-off).
const COVERED_FRACTION: f32 = 0.45;
/// Longest analysis frame in seconds: the frame (and so the converter's latency) is the largest
/// power of two of samples not longer than this.
const MAX_FRAME_SECONDS: f32 = 0.024;
/// Quefrency cut-off of the envelope's cepstral smoothing in seconds (detail down to ~300 Hz,
/// coarser than the harmonics of most voices).
const LIFTER_SECONDS: f32 = 0.0016;
/// Smoothing passes of the true envelope (the first is plain cepstral smoothing).
const ENVELOPE_PASSES: usize = 3;
/// Highest fundamental the periodicity search looks for, Hz.
const MAX_F0_HZ: f32 = 1000.0;
/// The periodicity search's longest lag as a fraction of the frame (the window correction gets
/// unreliable beyond).
const MAX_LAG_FRACTION: f32 = 0.6;
/// Frames quieter than this (mean square, dBFS) count as silence: never voiced.
pub(crate) const SILENCE_DB: f32 = -70.0;
/// Periodicity at which a frame starts to count as voiced, and at which it is fully voiced.
const VOICING_RANGE: (f32, f32) = (0.45, 0.75);
/// Log-spectrum floor below the frame's strongest bin (power ratio, -100 dB).
const SPECTRUM_FLOOR: f32 = 1e-10;

/// The envelope grid's frequencies in Hz, evenly spaced on the mel scale.
pub fn grid_frequencies() -> [f32; GRID_POINTS] {
    let (lo, hi) = (hz_to_mel(GRID_MIN_HZ), hz_to_mel(GRID_MAX_HZ));
    std::array::from_fn(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (GRID_POINTS - 1) as f32))
}

/// Grid points a signal at `sample_rate` measures: those below 45 % of the rate.
pub fn covered_points(sample_rate: f32) -> usize {
    grid_frequencies()
        .iter()
        .take_while(|&&f| f <= COVERED_FRACTION * sample_rate)
        .count()
}

/// [`HIGH_HZ`] points a signal at `sample_rate` measures: those below 45 % of the rate.
pub fn covered_high(sample_rate: f32) -> usize {
    HIGH_HZ
        .iter()
        .take_while(|&&f| f <= COVERED_FRACTION * sample_rate)
        .count()
}

/// The analysis frame length at `sample_rate`: the largest power of two not longer than 24 ms
/// (1024 at 44.1 and 48 kHz, 256 at 16 kHz).
pub fn frame_len(sample_rate: f32) -> usize {
    let most = (sample_rate * MAX_FRAME_SECONDS).max(64.0) as usize;
    1 << (usize::BITS - 1 - most.leading_zeros())
}

fn hz_to_mel(hz: f32) -> f32 {
    2595.0 * (1.0 + hz / 700.0).log10()
}

/// The fractional grid index of a frequency in Hz (below 0 or above the last point outside the
/// grid).
pub(crate) fn grid_index(hz: f32) -> f32 {
    let (lo, hi) = (hz_to_mel(GRID_MIN_HZ), hz_to_mel(GRID_MAX_HZ));
    (hz_to_mel(hz) - lo) / (hi - lo) * (GRID_POINTS - 1) as f32
}

/// The grid points from 400 Hz to 3.5 kHz, over which envelopes are levelled.
pub(crate) fn level_points() -> std::ops::Range<usize> {
    let grid = grid_frequencies();
    let count = |hz: f32| grid.iter().take_while(|&&f| f < hz).count();
    count(LEVEL_BAND_HZ.0)..count(LEVEL_BAND_HZ.1)
}

/// How voiced a frame is, 0..1: none when silent, else rising with its periodicity.
pub(crate) fn voicing(analysis: &FrameAnalysis) -> f32 {
    if analysis.level_db > SILENCE_DB {
        let (lo, hi) = VOICING_RANGE;
        ((analysis.periodicity - lo) / (hi - lo)).clamp(0.0, 1.0)
    } else {
        0.0
    }
}

fn mel_to_hz(mel: f32) -> f32 {
    700.0 * (10f32.powf(mel / 2595.0) - 1.0)
}

/// Where a frequency falls among evenly spaced values: the index below and the fraction
/// towards the next, clamped to the first `len` values.
pub(crate) fn position(index: f32, len: usize) -> (usize, f32) {
    let index = index.clamp(0.0, (len - 1) as f32);
    let i = (index as usize).min(len.saturating_sub(2));
    (i, index - i as f32)
}

/// Linear interpolation `a + frac * (b - a)`: exact when `a == b`.
pub(crate) fn lerp(a: f32, b: f32, frac: f32) -> f32 {
    a + frac * (b - a)
}

/// What [`FrameAnalyser::analyse`] measured on one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameAnalysis {
    /// Mean square of the frame (Hann-weighted), in dB full scale; `-inf` for digital silence.
    pub level_db: f32,
    /// Normalised autocorrelation peak at a pitch lag, 0 (noise) to 1 (perfectly periodic).
    pub periodicity: f32,
    /// The lag of the periodicity peak as a frequency, Hz (0 when there is none). Octave errors
    /// are common; the converter only averages it.
    pub f0_hz: f32,
    /// The log envelope in dB on the grid, levelled to a mean of 0 dB from 400 Hz to 3.5 kHz. Points
    /// the sample rate does not cover hold the last covered value.
    pub envelope_db: [f32; GRID_POINTS],
    /// The log envelope in dB at [`HIGH_HZ`], levelled like `envelope_db`; points the sample
    /// rate does not cover hold the last covered value (the grid's top when none is).
    pub high_db: [f32; HIGH_POINTS],
}

impl FrameAnalysis {
    fn silent() -> Self {
        Self {
            level_db: f32::NEG_INFINITY,
            periodicity: 0.0,
            f0_hz: 0.0,
            envelope_db: [0.0; GRID_POINTS],
            high_db: [0.0; HIGH_POINTS],
        }
    }
}

/// Analyses frames of [`frame_len`] samples at one sample rate.
pub struct FrameAnalyser {
    n: usize,
    sample_rate: f32,
    window: Vec<f32>,
    /// Sum of the squared window, to turn energy into mean square.
    window_power: f32,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    forward2: Arc<dyn RealToComplex<f32>>,
    inverse2: Arc<dyn ComplexToReal<f32>>,
    /// The windowed frame, then scratch for cepstra.
    real: Vec<f32>,
    /// The windowed frame's spectrum (kept for the converter).
    spectrum: Vec<Complex32>,
    /// Scratch spectrum for the cepstral passes.
    scratch_spectrum: Vec<Complex32>,
    /// Natural-log magnitudes of `spectrum`.
    log_mag: Vec<f32>,
    /// The current envelope estimate, natural-log magnitude per bin.
    envelope: Vec<f32>,
    /// Zero-padded frame and its spectrum for the autocorrelation.
    real2: Vec<f32>,
    spectrum2: Vec<Complex32>,
    fft_scratch: Vec<Complex32>,
    /// The window's own normalised autocorrelation per lag.
    window_acf: Vec<f32>,
    lag_range: (usize, usize),
    lifter: usize,
    /// Bin position (index, fraction) of each grid point.
    grid_bins: [(usize, f32); GRID_POINTS],
    covered: usize,
    /// Bin position of each [`HIGH_HZ`] point, and how many the rate covers.
    high_bins: [(usize, f32); HIGH_POINTS],
    high_covered: usize,
    levelled: std::ops::Range<usize>,
    result: FrameAnalysis,
}

impl std::fmt::Debug for FrameAnalyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAnalyser")
            .field("n", &self.n)
            .field("covered", &self.covered)
            .finish_non_exhaustive()
    }
}

impl FrameAnalyser {
    /// Plans the FFTs and buffers for `sample_rate` (at least [`MIN_SAMPLE_RATE`]).
    pub fn new(sample_rate: f32) -> Self {
        assert!(
            sample_rate >= MIN_SAMPLE_RATE,
            "sample rate {sample_rate} below {MIN_SAMPLE_RATE}"
        );
        let n = frame_len(sample_rate);
        let mut planner = RealFftPlanner::<f32>::new();
        let forward = planner.plan_fft_forward(n);
        let inverse = planner.plan_fft_inverse(n);
        let forward2 = planner.plan_fft_forward(2 * n);
        let inverse2 = planner.plan_fft_inverse(2 * n);
        let scratch_len = [
            forward.get_scratch_len(),
            inverse.get_scratch_len(),
            forward2.get_scratch_len(),
            inverse2.get_scratch_len(),
        ]
        .into_iter()
        .max()
        .unwrap_or(0);
        let window: Vec<f32> = (0..n)
            .map(|i| {
                let x = std::f64::consts::TAU * i as f64 / n as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        let window_power = window.iter().map(|w| w * w).sum();
        let window_acf = (0..=n / 2 + n / 8)
            .map(|lag| {
                let r: f32 = (0..n - lag).map(|i| window[i] * window[i + lag]).sum();
                r / window_power
            })
            .collect();
        let max_lag = ((n as f32 * MAX_LAG_FRACTION) as usize).min(n / 2 + n / 8);
        let min_lag = ((sample_rate / MAX_F0_HZ) as usize).max(2);
        let bins = n / 2 + 1;
        let grid = grid_frequencies();
        let grid_bins = std::array::from_fn(|i| position(grid[i] * n as f32 / sample_rate, bins));
        let covered = covered_points(sample_rate);
        let high_bins =
            std::array::from_fn(|i| position(HIGH_HZ[i] * n as f32 / sample_rate, bins));
        Self {
            high_bins,
            high_covered: covered_high(sample_rate),
            n,
            sample_rate,
            window,
            window_power,
            real: vec![0.0; n],
            spectrum: vec![Complex32::default(); bins],
            scratch_spectrum: vec![Complex32::default(); bins],
            log_mag: vec![0.0; bins],
            envelope: vec![0.0; bins],
            real2: vec![0.0; 2 * n],
            spectrum2: vec![Complex32::default(); n + 1],
            fft_scratch: vec![Complex32::default(); scratch_len],
            forward,
            inverse,
            forward2,
            inverse2,
            window_acf,
            lag_range: (min_lag, max_lag),
            lifter: ((sample_rate * LIFTER_SECONDS) as usize).clamp(4, n / 4),
            grid_bins,
            covered,
            levelled: level_points(),
            result: FrameAnalysis::silent(),
        }
    }

    /// The frame length in samples.
    pub fn frame_len(&self) -> usize {
        self.n
    }

    /// The analysis (and synthesis) window, a periodic Hann.
    pub fn window(&self) -> &[f32] {
        &self.window
    }

    /// The spectrum of the last analysed frame, windowed (`frame_len / 2 + 1` bins), to be
    /// transformed in place, and its true envelope, natural-log magnitude per bin (not updated by
    /// a silent frame).
    pub fn spectrum_and_envelope(&mut self) -> (&mut [Complex32], &[f32]) {
        (&mut self.spectrum, &self.envelope)
    }

    /// Analyses `frame` (exactly [`frame_len`](Self::frame_len) samples, finite): windows and
    /// transforms it (see [`spectrum_and_envelope`](Self::spectrum_and_envelope)), then measures
    /// its level, periodicity and envelope.
    pub fn analyse(&mut self, frame: &[f32]) -> &FrameAnalysis {
        assert_eq!(frame.len(), self.n, "frame length");
        for ((r, x), w) in self.real.iter_mut().zip(frame).zip(&self.window) {
            *r = x * w;
        }
        let energy: f32 = self.real.iter().map(|x| x * x).sum();
        self.real2[..self.n].copy_from_slice(&self.real);
        self.real2[self.n..].fill(0.0);
        self.forward
            .process_with_scratch(&mut self.real, &mut self.spectrum, &mut self.fft_scratch)
            .expect("sizes come from the plan");
        if energy <= f32::MIN_POSITIVE {
            self.result = FrameAnalysis::silent();
            return &self.result;
        }
        self.result.level_db = 10.0 * (energy / self.window_power).log10();
        (self.result.periodicity, self.result.f0_hz) = self.periodicity();
        self.true_envelope();
        self.sample_grid();
        &self.result
    }

    /// The window-corrected normalised autocorrelation peak over the pitch lags, taken after
    /// the autocorrelation's first zero crossing (so a dull, low-passed noise does not count),
    /// and the frequency of its lag (0 when there is no peak).
    fn periodicity(&mut self) -> (f32, f32) {
        self.forward2
            .process_with_scratch(&mut self.real2, &mut self.spectrum2, &mut self.fft_scratch)
            .expect("sizes come from the plan");
        for c in &mut self.spectrum2 {
            *c = Complex32::new(c.norm_sqr(), 0.0);
        }
        self.inverse2
            .process_with_scratch(&mut self.spectrum2, &mut self.real2, &mut self.fft_scratch)
            .expect("sizes come from the plan");
        let r0 = self.real2[0];
        if r0 <= 0.0 {
            return (0.0, 0.0);
        }
        let (min_lag, max_lag) = self.lag_range;
        let acf = |lag: usize| self.real2[lag] / r0;
        let Some(start) = (1..max_lag).find(|&l| acf(l) < 0.0) else {
            return (0.0, 0.0);
        };
        let (mut best, mut best_lag) = (0.0f32, 0);
        for lag in start.max(min_lag)..max_lag {
            let a = acf(lag);
            if a > acf(lag - 1) && a >= acf(lag + 1) && a / self.window_acf[lag] > best {
                (best, best_lag) = (a / self.window_acf[lag], lag);
            }
        }
        let f0 = if best_lag > 0 {
            self.sample_rate / best_lag as f32
        } else {
            0.0
        };
        (best.clamp(0.0, 1.0), f0)
    }

    /// The true envelope of `spectrum` into `envelope` (natural-log magnitude per bin).
    fn true_envelope(&mut self) {
        let max_power = self
            .spectrum
            .iter()
            .map(|c| c.norm_sqr())
            .fold(0.0, f32::max);
        let floor = max_power * SPECTRUM_FLOOR + f32::MIN_POSITIVE;
        for (l, c) in self.log_mag.iter_mut().zip(&self.spectrum) {
            *l = 0.5 * (c.norm_sqr() + floor).ln();
        }
        self.envelope.copy_from_slice(&self.log_mag);
        let (n, q) = (self.n, self.lifter);
        for pass in 0..ENVELOPE_PASSES {
            for (s, &e) in self.scratch_spectrum.iter_mut().zip(&self.envelope) {
                *s = Complex32::new(e, 0.0);
            }
            self.inverse
                .process_with_scratch(
                    &mut self.scratch_spectrum,
                    &mut self.real,
                    &mut self.fft_scratch,
                )
                .expect("sizes come from the plan");
            // Keep quefrencies up to q (and their mirror), scaled by 1/n for the round trip.
            let scale = 1.0 / n as f32;
            for (i, c) in self.real.iter_mut().enumerate() {
                let quefrency = i.min(n - i);
                *c = match quefrency.cmp(&q) {
                    std::cmp::Ordering::Less => *c * scale,
                    std::cmp::Ordering::Equal => *c * scale * 0.5,
                    std::cmp::Ordering::Greater => 0.0,
                };
            }
            self.forward
                .process_with_scratch(
                    &mut self.real,
                    &mut self.scratch_spectrum,
                    &mut self.fft_scratch,
                )
                .expect("sizes come from the plan");
            let last = pass + 1 == ENVELOPE_PASSES;
            for ((e, s), &l) in self
                .envelope
                .iter_mut()
                .zip(&self.scratch_spectrum)
                .zip(&self.log_mag)
            {
                *e = if last { s.re } else { s.re.max(l) };
            }
        }
    }

    /// Samples `envelope` at the grid points in dB, levels it, holds the last covered value.
    fn sample_grid(&mut self) {
        const DB_PER_NEPER: f32 = 20.0 / std::f32::consts::LN_10;
        let env = &mut self.result.envelope_db;
        for (e, &(i, frac)) in env.iter_mut().zip(&self.grid_bins).take(self.covered) {
            *e = DB_PER_NEPER * lerp(self.envelope[i], self.envelope[i + 1], frac);
        }
        let mean = env[self.levelled.clone()].iter().sum::<f32>() / self.levelled.len() as f32;
        let last = env[self.covered - 1] - mean;
        for (i, e) in env.iter_mut().enumerate() {
            *e = if i < self.covered { *e - mean } else { last };
        }
        let mut held = last;
        for (i, (h, &(b, frac))) in self
            .result
            .high_db
            .iter_mut()
            .zip(&self.high_bins)
            .enumerate()
        {
            if i < self.high_covered {
                held = DB_PER_NEPER * lerp(self.envelope[b], self.envelope[b + 1], frac) - mean;
            }
            *h = held;
        }
    }
}
