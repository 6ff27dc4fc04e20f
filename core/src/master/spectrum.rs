//! Streaming mid/side spectrum analysis restricted to the loud sections of a piece.
//!
//! Welch's method with an FFT long enough for about 5 Hz resolution at any rate, Hann windows
//! side by side: without overlap a song still gives hundreds of frames to average, at half the
//! FFTs. Frames are grouped into segments of about 0.75 s; each segment's
//! level decides whether it counts as "loud". Segment spectra are accumulated in a histogram of
//! 1 dB level bins, so memory stays bounded however long the input is, and at the end only the
//! segments within [`LOUD_GATE_DB`] of the power mean are averaged: quiet intros, breaks and fades
//! do not skew the match.
//!
//! Spectra are power spectral densities per Hz, so inputs at different sample rates (and FFT
//! sizes) compare directly.

use std::sync::Arc;

use realfft::num_complex::Complex32;
use realfft::{RealFftPlanner, RealToComplex};

use super::estimate::FrameBands;

/// Segments quieter than the power mean of all audible segments minus this many dB are left
/// out of the average spectrum.
pub const LOUD_GATE_DB: f64 = 4.0;
/// Segments below this level (dB re full-scale power) are silence and always left out.
const SILENCE_DB: f64 = -80.0;
/// Length of a level segment in seconds.
const SEGMENT_SECONDS: f64 = 0.75;
/// Lowest level bin, dB.
const HIST_MIN_DB: f64 = -120.0;
/// Number of 1 dB level bins.
const HIST_BINS: usize = 150;

/// The averaged spectra of one input.
#[derive(Debug, Clone)]
pub struct Spectrum {
    /// Sample rate of the analysed input.
    pub sample_rate: u32,
    /// Bin spacing in Hz.
    pub bin_hz: f64,
    /// Mid power spectral density per bin (per Hz).
    pub mid: Vec<f64>,
    /// Side power spectral density per bin (all zero for mono).
    pub side: Vec<f64>,
    /// Frames analysed.
    pub frames: u64,
    /// Fraction of the analysed segments that counted as loud.
    pub loud_fraction: f64,
    /// Every frame's K-weighted band energies, when the analyser kept them
    /// ([`SpectrumAnalyser::with_frame_bands`]).
    pub frame_bands: Option<FrameBands>,
}

impl Spectrum {
    /// Mean density of `psd` over `[lo, hi]` Hz, treating each bin as constant over its width.
    pub fn band_mean(&self, psd: &[f64], lo: f64, hi: f64) -> f64 {
        self.band_means(psd, [(lo, hi)])[0]
    }

    /// [`band_mean`](Self::band_mean) of every `(lo, hi)` band in Hz: the bins are summed once
    /// (a running sum), so each band costs a few operations whatever its width.
    pub fn band_means(&self, psd: &[f64], bands: impl IntoIterator<Item = (f64, f64)>) -> Vec<f64> {
        // `running[k]` is the sum of `psd[..k]`.
        let mut running = Vec::with_capacity(psd.len() + 1);
        running.push(0.0);
        let mut sum = 0.0;
        for p in psd {
            sum += p;
            running.push(sum);
        }
        let cum = |f: f64| -> f64 {
            // Integral of psd from -bin/2 to f (bin k covers [(k-0.5)df, (k+0.5)df]).
            let x = (f / self.bin_hz + 0.5).clamp(0.0, psd.len() as f64);
            let k = (x.floor() as usize).min(psd.len() - 1);
            (running[k] + psd[k] * (x - k as f64)) * self.bin_hz
        };
        bands
            .into_iter()
            .map(|(lo, hi)| {
                let (lo, hi) = (lo.max(0.0), hi.max(lo));
                if hi - lo < 1e-9 {
                    let k = ((lo / self.bin_hz).round() as usize).min(psd.len() - 1);
                    return psd[k];
                }
                (cum(hi) - cum(lo)) / (hi - lo)
            })
            .collect()
    }

    /// Nyquist frequency of the analysed input.
    pub fn nyquist(&self) -> f64 {
        f64::from(self.sample_rate) / 2.0
    }
}

/// Accumulated spectra of one level bin.
#[derive(Debug, Clone)]
struct LevelBin {
    mid: Vec<f64>,
    side: Vec<f64>,
    frames: u64,
    segments: u64,
    power: f64,
}

/// A streaming mid/side spectrum analyser.
pub struct SpectrumAnalyser {
    sample_rate: u32,
    channels: usize,
    n_fft: usize,
    hop: usize,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    scratch: Vec<Complex32>,
    fft_in: Vec<f32>,
    fft_out: Vec<Complex32>,
    /// Pending mid/side samples not yet consumed by a frame.
    mid_buf: Vec<f32>,
    side_buf: Vec<f32>,
    /// The segment being filled.
    seg_mid: Vec<f64>,
    seg_side: Vec<f64>,
    seg_frames: usize,
    seg_power: f64,
    frames_per_segment: usize,
    /// Level histogram of finished segments.
    hist: Vec<Option<LevelBin>>,
    /// Gate relative to the power mean; `None` averages every audible segment.
    gate_db: Option<f64>,
    samples_in: u64,
    frames_done: u64,
    norm: f64,
    frame_bands: Option<FrameBands>,
}

impl std::fmt::Debug for SpectrumAnalyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpectrumAnalyser")
            .field("sample_rate", &self.sample_rate)
            .field("n_fft", &self.n_fft)
            .finish_non_exhaustive()
    }
}

/// The sum of the squared window (its power, for PSD scaling).
fn window_power(window: &[f32]) -> f64 {
    window.iter().map(|w| f64::from(*w).powi(2)).sum()
}

/// FFT length for about 5 Hz resolution at `sample_rate`.
pub fn analysis_fft_len(sample_rate: u32) -> usize {
    ((f64::from(sample_rate) * 0.18) as usize)
        .next_power_of_two()
        .max(512)
}

impl SpectrumAnalyser {
    /// An analyser for `channels` (1 or 2) at `sample_rate`, averaging only loud segments when
    /// `loud_only` is true.
    pub fn new(sample_rate: u32, channels: usize, loud_only: bool) -> Self {
        let n_fft = analysis_fft_len(sample_rate);
        let hop = n_fft;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let window: Vec<f32> = (0..n_fft)
            .map(|i| {
                let x = std::f64::consts::TAU * i as f64 / n_fft as f64;
                (0.5 - 0.5 * x.cos()) as f32
            })
            .collect();
        let win_power = window_power(&window);
        let bins = n_fft / 2 + 1;
        let frames_per_segment =
            ((SEGMENT_SECONDS * f64::from(sample_rate) / hop as f64).round() as usize).max(1);
        Self {
            sample_rate,
            channels,
            n_fft,
            hop,
            scratch: fft.make_scratch_vec(),
            fft_in: fft.make_input_vec(),
            fft_out: fft.make_output_vec(),
            fft,
            window,
            mid_buf: Vec::with_capacity(2 * n_fft),
            side_buf: Vec::with_capacity(2 * n_fft),
            seg_mid: vec![0.0; bins],
            seg_side: vec![0.0; bins],
            seg_frames: 0,
            seg_power: 0.0,
            frames_per_segment,
            hist: vec![None; HIST_BINS],
            gate_db: loud_only.then_some(LOUD_GATE_DB),
            samples_in: 0,
            frames_done: 0,
            // One-sided PSD per Hz: 2 |X|^2 / (fs * sum w^2).
            norm: 2.0 / (f64::from(sample_rate) * win_power),
            frame_bands: None,
        }
    }

    /// Also keeps every frame's K-weighted band energies, so the loudness of the input after a
    /// filter can be estimated without filtering it ([`FrameBands`]).
    pub fn with_frame_bands(mut self) -> Self {
        self.frame_bands = Some(FrameBands::new(
            self.sample_rate,
            self.channels,
            self.n_fft,
            self.hop,
            window_power(&self.window),
        ));
        self
    }

    /// Feeds one planar block (one slice per channel, all the same length).
    pub fn push<S: AsRef<[f32]>>(&mut self, block: &[S]) {
        let frames = block.first().map_or(0, |c| c.as_ref().len());
        if self.channels >= 2 {
            let pairs = block[0].as_ref().iter().zip(block[1].as_ref());
            self.mid_buf
                .extend(pairs.clone().map(|(l, r)| 0.5 * (l + r)));
            self.side_buf.extend(pairs.map(|(l, r)| 0.5 * (l - r)));
        } else {
            self.mid_buf.extend_from_slice(&block[0].as_ref()[..frames]);
            self.side_buf.resize(self.mid_buf.len(), 0.0);
        }
        self.samples_in += frames as u64;
        // Frames are cut from a moving start; the consumed samples are dropped once.
        let mut start = 0;
        while self.mid_buf.len() - start >= self.n_fft {
            self.frame(start);
            start += self.hop;
        }
        self.mid_buf.drain(..start);
        self.side_buf.drain(..start);
    }

    /// Analyses the frame of `n_fft` samples of the buffers from `start`.
    fn frame(&mut self, start: usize) {
        let mut power = 0.0;
        for (which, acc) in [0, 1].into_iter().zip([true, false]) {
            let src = if acc { &self.mid_buf } else { &self.side_buf };
            let src = &src[start..start + self.n_fft];
            for ((o, x), w) in self.fft_in.iter_mut().zip(src).zip(&self.window) {
                *o = x * w;
            }
            // Lengths match the plan, so this cannot fail.
            let _ = self.fft.process_with_scratch(
                &mut self.fft_in,
                &mut self.fft_out,
                &mut self.scratch,
            );
            if let Some(bands) = &mut self.frame_bands {
                if which == 0 {
                    bands.start_frame();
                }
                bands.add(which == 1, &self.fft_out);
            }
            let seg = if which == 0 {
                &mut self.seg_mid
            } else {
                &mut self.seg_side
            };
            for (s, c) in seg.iter_mut().zip(&self.fft_out) {
                let p = f64::from(c.norm_sqr()) * self.norm;
                *s += p;
                power += p;
            }
        }
        self.seg_power += power;
        self.seg_frames += 1;
        self.frames_done += 1;
        if self.seg_frames == self.frames_per_segment {
            self.close_segment();
        }
    }

    fn close_segment(&mut self) {
        if self.seg_frames == 0 {
            return;
        }
        // Mean total density per frame, scaled to a level in dB (relative; only differences
        // between segments matter).
        let mean = self.seg_power / self.seg_frames as f64 * f64::from(self.sample_rate) * 0.5
            / self.seg_mid.len() as f64;
        let level = 10.0 * mean.max(1e-30).log10();
        let index = ((level - HIST_MIN_DB).floor().max(0.0) as usize).min(HIST_BINS - 1);
        let bins = self.seg_mid.len();
        let bin = self.hist[index].get_or_insert_with(|| LevelBin {
            mid: vec![0.0; bins],
            side: vec![0.0; bins],
            frames: 0,
            segments: 0,
            power: 0.0,
        });
        for (a, s) in bin.mid.iter_mut().zip(&mut self.seg_mid) {
            *a += *s;
            *s = 0.0;
        }
        for (a, s) in bin.side.iter_mut().zip(&mut self.seg_side) {
            *a += *s;
            *s = 0.0;
        }
        bin.frames += self.seg_frames as u64;
        bin.segments += 1;
        bin.power += mean;
        self.seg_frames = 0;
        self.seg_power = 0.0;
    }

    /// Frames fed so far.
    pub fn frames_in(&self) -> u64 {
        self.samples_in
    }

    /// Finishes the analysis: pads out a last partial frame and averages the loud segments.
    pub fn finish(mut self) -> Spectrum {
        if !self.mid_buf.is_empty() && (self.frames_done == 0 || self.mid_buf.len() > self.hop) {
            self.mid_buf.resize(self.n_fft, 0.0);
            self.side_buf.resize(self.n_fft, 0.0);
            self.frame(0);
        }
        self.close_segment();
        let bins = self.n_fft / 2 + 1;
        let level_of = |i: usize| HIST_MIN_DB + i as f64 + 0.5;
        let audible: Vec<usize> = (0..HIST_BINS)
            .filter(|&i| self.hist[i].is_some() && level_of(i) > SILENCE_DB)
            .collect();
        // Every segment counts when none is audible (the caller reports silence separately).
        let candidates: Vec<usize> = if audible.is_empty() {
            (0..HIST_BINS).filter(|&i| self.hist[i].is_some()).collect()
        } else {
            audible
        };
        let (sum_power, sum_segments) = candidates.iter().fold((0.0, 0u64), |(p, n), &i| {
            let b = self.hist[i].as_ref().expect("candidate bins exist");
            (p + b.power, n + b.segments)
        });
        let selected: Vec<usize> = match self.gate_db {
            Some(gate) if sum_segments > 0 => {
                let mean_db = 10.0 * (sum_power / sum_segments as f64).max(1e-30).log10();
                let loud: Vec<usize> = candidates
                    .iter()
                    .copied()
                    .filter(|&i| level_of(i) >= mean_db - gate)
                    .collect();
                if loud.is_empty() {
                    candidates.clone()
                } else {
                    loud
                }
            }
            _ => candidates.clone(),
        };
        let mut mid = vec![0.0; bins];
        let mut side = vec![0.0; bins];
        let mut frames = 0;
        let mut segments = 0;
        for &i in &selected {
            let b = self.hist[i].as_ref().expect("selected bins exist");
            for (m, a) in mid.iter_mut().zip(&b.mid) {
                *m += a;
            }
            for (s, a) in side.iter_mut().zip(&b.side) {
                *s += a;
            }
            frames += b.frames;
            segments += b.segments;
        }
        if frames > 0 {
            let inv = 1.0 / frames as f64;
            mid.iter_mut()
                .chain(side.iter_mut())
                .for_each(|v| *v *= inv);
        }
        Spectrum {
            sample_rate: self.sample_rate,
            bin_hz: f64::from(self.sample_rate) / self.n_fft as f64,
            mid,
            side,
            frames: self.samples_in,
            loud_fraction: if sum_segments > 0 {
                segments as f64 / sum_segments as f64
            } else {
                0.0
            },
            frame_bands: self.frame_bands,
        }
    }
}

/// Centre frequencies of the 1/3-octave bands from 50 Hz to 16 kHz (base-2, 1 kHz reference).
pub fn third_octave_centres() -> Vec<f64> {
    (-13..=12)
        .map(|k| 1000.0 * 2f64.powf(f64::from(k) / 3.0))
        .collect()
}

/// Levels in dB of the 1/3-octave bands from 50 Hz to 16 kHz of planar audio (power summed over
/// channels, whole signal, no gating). Used to measure how close a match got.
pub fn third_octave_levels(channels: &[Vec<f32>], sample_rate: u32) -> Vec<f64> {
    // Power summed over channels: analyse each channel as a mono stream and add the spectra.
    let mut total: Option<Spectrum> = None;
    for ch in channels {
        let mut a = SpectrumAnalyser::new(sample_rate, 1, false);
        a.push(&[ch.as_slice()]);
        let s = a.finish();
        total = Some(match total {
            None => s,
            Some(mut t) => {
                t.mid.iter_mut().zip(&s.mid).for_each(|(a, b)| *a += b);
                t
            }
        });
    }
    let Some(spectrum) = total else {
        return Vec::new();
    };
    band_levels(&spectrum, &spectrum.mid)
}

/// 1/3-octave band levels (dB) of one density spectrum.
pub fn band_levels(spectrum: &Spectrum, psd: &[f64]) -> Vec<f64> {
    let edge = 2f64.powf(1.0 / 6.0);
    third_octave_centres()
        .into_iter()
        .map(|fc| {
            let p = spectrum.band_mean(psd, fc / edge, fc * edge) * fc * (edge - 1.0 / edge);
            10.0 * p.max(1e-30).log10()
        })
        .collect()
}

/// Mean absolute difference in dB between two sets of band levels after removing their mean
/// offset (the overall level is a loudness question, measured separately).
pub fn band_distance_db(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    if n == 0 {
        return 0.0;
    }
    let offset: f64 = a.iter().zip(b).map(|(x, y)| x - y).sum::<f64>() / n as f64;
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y - offset).abs())
        .sum::<f64>()
        / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, rate: u32, secs: f64, amp: f32) -> Vec<f32> {
        (0..(f64::from(rate) * secs) as usize)
            .map(|i| amp * (std::f64::consts::TAU * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect()
    }

    #[test]
    fn density_is_rate_independent() {
        // The same white noise level at two rates gives the same density per Hz.
        let mut levels = Vec::new();
        for rate in [22_050u32, 96_000] {
            let mut state = 1u32;
            let noise: Vec<f32> = (0..rate as usize * 3)
                .map(|_| {
                    state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
                })
                .collect();
            let mut a = SpectrumAnalyser::new(rate, 1, false);
            a.push(&[noise.as_slice()]);
            let s = a.finish();
            levels.push(
                10.0 * s.band_mean(&s.mid, 1000.0, 4000.0).log10() + 10.0 * f64::from(rate).log10(),
            );
        }
        // White noise of the same variance: density scales with 1/rate; compensated above.
        assert!((levels[0] - levels[1]).abs() < 0.3, "{levels:?}");
    }

    #[test]
    fn quiet_intro_is_left_out() {
        let rate = 44_100;
        let mut signal = sine(200.0, rate, 4.0, 0.01); // quiet intro at 200 Hz
        signal.extend(sine(2000.0, rate, 4.0, 0.5)); // loud body at 2 kHz
        let mut a = SpectrumAnalyser::new(rate, 1, true);
        a.push(&[signal.as_slice()]);
        let s = a.finish();
        let low = s.band_mean(&s.mid, 190.0, 210.0);
        let high = s.band_mean(&s.mid, 1990.0, 2010.0);
        // Only the one segment straddling the change holds a little of the intro.
        assert!(
            low < high * 5e-5,
            "intro leaked into the loud spectrum: {low} vs {high}"
        );
        assert!(
            s.loud_fraction > 0.3 && s.loud_fraction < 0.7,
            "{}",
            s.loud_fraction
        );

        let mut all = SpectrumAnalyser::new(rate, 1, false);
        all.push(&[signal.as_slice()]);
        let s = all.finish();
        assert!(s.band_mean(&s.mid, 190.0, 210.0) > s.band_mean(&s.mid, 1990.0, 2010.0) * 2e-4);
    }

    #[test]
    fn mid_and_side_separate() {
        let rate = 48_000;
        let l = sine(500.0, rate, 2.0, 0.5);
        let r: Vec<f32> = l.iter().map(|x| -x).collect();
        let mut a = SpectrumAnalyser::new(rate, 2, true);
        a.push(&[l.as_slice(), r.as_slice()]);
        let s = a.finish();
        assert!(s.mid.iter().all(|m| *m < 1e-12));
        assert!(s.band_mean(&s.side, 490.0, 510.0) > 1e-6);
    }
}
