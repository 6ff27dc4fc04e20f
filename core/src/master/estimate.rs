//! The target's loudness after the tone and width match, estimated from its analysis frames.
//!
//! The loudness gain must land the matched target on the reference's integrated loudness, so
//! learning needs the loudness of the target *after* the match filters. Filtering and metering
//! the whole target once more costs as much as the render itself; instead, while the target is
//! analysed, every spectrum frame leaves its K-weighted mid and side energies in coarse bands
//! ([`FrameBands`]). A filter is a gain per band, so each frame's filtered energy is a weighted
//! sum, and BS.1770 gating over blocks of frames gives the filtered loudness. The estimate is
//! used as a *change* against the same estimate without the filters, added to the exactly
//! metered loudness of the target, so what the frames cannot see (their windowing, the blocks'
//! alignment) cancels out. Tested against metering a real render to within 0.1 LU.

use realfft::num_complex::Complex32;

use crate::analyze::gating::GatedIntegrator;

use super::loudness::k_weighting;

/// Bands per octave above the frequency where bins are finer than the band grid.
const BANDS_PER_OCTAVE: f64 = 12.0;
/// Length of a BS.1770 gating block in seconds.
const BLOCK_SECONDS: f64 = 0.4;

/// K-weighted mid and side energies of every analysis frame in coarse bands.
#[derive(Debug, Clone)]
pub struct FrameBands {
    /// The first FFT bin of every band, then one past the last bin (bands are contiguous).
    band_starts: Vec<usize>,
    /// Per bin: the K-weighting's power gain times the scale that makes a frame's band sums
    /// mean squares per sample.
    bin_weight: Vec<f32>,
    /// Scratch: one frame's weighted bin powers.
    powers: Vec<f32>,
    /// Geometric centre frequency of every band in Hz, where filter gains are read.
    centres: Vec<f64>,
    /// Per frame: `bands` mid energies, then `bands` side energies.
    energies: Vec<f32>,
    /// Frames per gating block.
    frames_per_block: usize,
    /// Channel count of the input: the BS.1770 channel sum of L and R is twice mid plus side.
    channels: usize,
}

impl FrameBands {
    /// Bands for frames of `n_fft` samples, `hop` apart, at `sample_rate`, Hann-windowed with
    /// `window_power` (the sum of the squared window).
    pub(crate) fn new(
        sample_rate: u32,
        channels: usize,
        n_fft: usize,
        hop: usize,
        window_power: f64,
    ) -> Self {
        let rate = f64::from(sample_rate);
        let bins = n_fft / 2 + 1;
        let bin_hz = rate / n_fft as f64;
        let [shelf, high_pass] = k_weighting(sample_rate);
        // Bins are one band each until the band grid gets wider than a bin.
        let ratio = 2f64.powf(1.0 / BANDS_PER_OCTAVE);
        let mut band_starts = Vec::new();
        let mut band_top = 0.0;
        for k in 0..bins {
            let hz = k as f64 * bin_hz;
            if band_starts.is_empty() || hz >= band_top {
                band_starts.push(k);
                band_top = (hz + bin_hz).max(hz * ratio);
            }
        }
        band_starts.push(bins);
        // One-sided |X|² to mean square per sample: DC and Nyquist count once, others twice.
        let bin_weight = (0..bins)
            .map(|k| {
                let hz = k as f64 * bin_hz;
                let k_gain = shelf.power_gain(hz, rate) * high_pass.power_gain(hz, rate);
                let sides = if k == 0 || k == bins - 1 { 1.0 } else { 2.0 };
                (k_gain * sides / (n_fft as f64 * window_power)) as f32
            })
            .collect::<Vec<_>>();
        let centres = band_starts
            .windows(2)
            .map(|b| {
                let (lo, hi) = (b[0] as f64 * bin_hz, (b[1] - 1) as f64 * bin_hz);
                (lo.max(bin_hz / 2.0) * hi.max(bin_hz / 2.0)).sqrt()
            })
            .collect();
        Self {
            band_starts,
            bin_weight,
            powers: vec![0.0; bins],
            centres,
            energies: Vec::new(),
            frames_per_block: ((BLOCK_SECONDS * rate / hop as f64).round() as usize).max(1),
            channels,
        }
    }

    fn bands(&self) -> usize {
        self.centres.len()
    }

    /// Starts a frame: its mid and side spectra follow through [`add`](Self::add).
    pub(crate) fn start_frame(&mut self) {
        self.energies
            .resize(self.energies.len() + 2 * self.bands(), 0.0);
    }

    /// Adds the spectrum of the current frame's mid (`side == false`) or side.
    pub(crate) fn add(&mut self, side: bool, spectrum: &[Complex32]) {
        let bands = self.bands();
        let start = self.energies.len() - 2 * bands + if side { bands } else { 0 };
        for ((p, c), w) in self.powers.iter_mut().zip(spectrum).zip(&self.bin_weight) {
            *p = c.norm_sqr() * w;
        }
        let half = &mut self.energies[start..start + bands];
        for (e, range) in half.iter_mut().zip(self.band_starts.windows(2)) {
            *e = sum(&self.powers[range[0]..range[1]]);
        }
    }

    /// Gated loudness in LUFS of the frames with mid bands scaled by `mid_db(hz)` and side
    /// bands by `side_db(hz)` (gains in dB); `None` for silence or under one block.
    fn gated_lufs(&self, mid_db: &dyn Fn(f64) -> f64, side_db: &dyn Fn(f64) -> f64) -> Option<f64> {
        let power = |db: f64| 10f64.powf(db / 10.0);
        let mid_gain: Vec<f64> = self.centres.iter().map(|f| power(mid_db(*f))).collect();
        let side_gain: Vec<f64> = self.centres.iter().map(|f| power(side_db(*f))).collect();
        let channel_sum = if self.channels == 2 { 2.0 } else { 1.0 };
        let frame_energy: Vec<f64> = self
            .energies
            .chunks_exact(2 * self.bands())
            .map(|frame| {
                let (m, s) = frame.split_at(self.bands());
                let mid: f64 = m
                    .iter()
                    .zip(&mid_gain)
                    .map(|(e, g)| f64::from(*e) * g)
                    .sum();
                let side: f64 = s
                    .iter()
                    .zip(&side_gain)
                    .map(|(e, g)| f64::from(*e) * g)
                    .sum();
                channel_sum * (mid + side)
            })
            .collect();
        let n = self.frames_per_block;
        let mut gate = GatedIntegrator::new();
        for block in frame_energy.windows(n) {
            gate.add(block.iter().sum::<f64>() / n as f64);
        }
        Some(gate.integrated()).filter(|l| l.is_finite() && *l > -70.0)
    }

    /// The change in integrated loudness (LU) the filters `mid_db(hz)` and `side_db(hz)`
    /// (gains in dB) make to the analysed input; `None` when it is silent or too short.
    pub fn loudness_change_db(
        &self,
        mid_db: &dyn Fn(f64) -> f64,
        side_db: &dyn Fn(f64) -> f64,
    ) -> Option<f64> {
        let flat = self.gated_lufs(&|_| 0.0, &|_| 0.0)?;
        let filtered = self.gated_lufs(mid_db, side_db)?;
        Some(filtered - flat)
    }
}

/// The sum of `values` in eight interleaved partial sums (they vectorise; one chain does not).
fn sum(values: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let mut chunks = values.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, v) in lanes.iter_mut().zip(chunk) {
            *l += v;
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>()
}
