//! Onset strength: how much new energy each short frame brings, summed over log-spaced bands
//! (log-compressed spectral flux, half-wave rectified). Peaks mark note and drum onsets; the
//! tempo and beat tracker work on this envelope.

use multiversion::multiversion;

use super::frontend::{PowerSpectrumPairs, lane_sum};

/// Lowest band edge in Hz.
const LOWEST_HZ: f64 = 30.0;
/// Bands per octave of the flux (merged where bins are wider than a band).
const BANDS_PER_OCTAVE: f64 = 6.0;
/// Log compression: a band's level is `ln(1 + COMPRESSION * magnitude)` with magnitude 1 for a
/// full-scale sine.
const COMPRESSION: f32 = 1000.0;

/// Streaming onset-strength envelope at about 86 frames per second.
pub(crate) struct OnsetEnvelope {
    frames: PowerSpectrumPairs,
    flux: BandFlux,
    /// The envelope so far, one value per frame (the newest `kept_frames` at least, when set).
    envelope: Vec<f32>,
    /// Keep only about this many of the newest frames (live analysis); `None` keeps all.
    kept_frames: Option<usize>,
    rate: f64,
}

impl std::fmt::Debug for OnsetEnvelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnsetEnvelope")
            .field("frame_len", &self.frames.len())
            .field("frames", &self.envelope.len())
            .finish_non_exhaustive()
    }
}

impl OnsetEnvelope {
    /// An envelope of a mono stream at `rate` Hz (8–20 kHz, see [`super::frontend`]).
    pub(crate) fn new(rate: f64) -> Self {
        let len = if rate <= 12_500.0 { 512 } else { 1024 };
        let hop = len / 4;
        let bin_hz = rate / len as f64;
        let mut band_edges = vec![(LOWEST_HZ / bin_hz).ceil().max(1.0) as usize];
        let top = len / 2;
        let mut edge_hz = LOWEST_HZ;
        while *band_edges.last().expect("not empty") < top {
            edge_hz *= 2f64.powf(1.0 / BANDS_PER_OCTAVE);
            let bin = ((edge_hz / bin_hz).ceil() as usize).min(top);
            if bin > *band_edges.last().expect("not empty") {
                band_edges.push(bin);
            }
        }
        Self {
            frames: PowerSpectrumPairs::new(len, hop),
            flux: BandFlux::new(band_edges),
            envelope: Vec::new(),
            kept_frames: None,
            rate,
        }
    }

    /// Keeps only the newest `seconds` of the envelope (between once and twice that, so old
    /// frames are dropped in batches).
    pub(crate) fn keep_newest(&mut self, seconds: f64) {
        let frames = (seconds * self.frame_rate()).ceil() as usize;
        self.envelope.reserve(2 * frames);
        self.kept_frames = Some(frames);
    }

    /// Forgets the stream (the band levels and the envelope).
    pub(crate) fn reset(&mut self) {
        self.frames.reset();
        self.flux.previous.fill(0.0);
        self.envelope.clear();
    }

    /// Frames per second of the envelope.
    pub(crate) fn frame_rate(&self) -> f64 {
        self.rate / (self.frames.len() / 4) as f64
    }

    /// Seconds from the start of the stream to the moment frame 0 stands for (the first frame's
    /// centre).
    pub(crate) fn time_offset(&self) -> f64 {
        self.frames.len() as f64 / 2.0 / self.rate
    }

    /// Adds mono samples at the analysis rate. A frame enters the envelope with the next one
    /// (see [`PowerSpectrumPairs`]), 11.6 ms later.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        self.frames.push(samples);
        while let Some(pair) = self.frames.next_pair() {
            for power in pair {
                if let Some(kept) = self.kept_frames
                    && self.envelope.len() >= 2 * kept
                {
                    self.envelope.drain(..self.envelope.len() - kept);
                }
                self.envelope.push(self.flux.next(power));
            }
        }
    }

    /// The envelope so far, one value per frame.
    pub(crate) fn envelope(&self) -> &[f32] {
        &self.envelope
    }
}

/// The bands' levels from frame to frame.
struct BandFlux {
    /// First bin of each band; the last entry is one past the last band's end.
    band_edges: Vec<usize>,
    /// One over each band's width in bins.
    inverse_widths: Vec<f32>,
    /// Each band's compressed level in the previous frame.
    previous: Vec<f32>,
    /// Scratch: each band's power, then level, in the current frame.
    levels: Vec<f32>,
}

impl BandFlux {
    /// The flux of bands with these edges (first bin of each, then one past the last band's).
    fn new(band_edges: Vec<usize>) -> Self {
        let inverse_widths: Vec<f32> = band_edges
            .windows(2)
            .map(|band| 1.0 / (band[1] - band[0]) as f32)
            .collect();
        let bands = inverse_widths.len();
        Self {
            band_edges,
            inverse_widths,
            previous: vec![0.0; bands],
            levels: vec![0.0; bands],
        }
    }

    /// The mean rise of the bands' levels from the previous frame to the one of power spectrum
    /// `power`, which becomes the previous frame.
    fn next(&mut self, power: &[f32]) -> f32 {
        // The bands' powers first, then their levels in one loop that vectorises.
        for (band, level) in self.band_edges.windows(2).zip(&mut self.levels) {
            *level = lane_sum(&power[band[0]..band[1]]);
        }
        compress_levels(&mut self.levels, &self.inverse_widths);
        let mut flux = 0.0;
        for (level, previous) in self.levels.iter().zip(&mut self.previous) {
            flux += (level - *previous).max(0.0);
            *previous = *level;
        }
        flux / self.previous.len() as f32
    }
}

/// Turns the bands' powers into their compressed levels: `ln(1 + COMPRESSION m)` of the mean
/// magnitude `m` over the band. Compiled for AVX2 too and picked at run time.
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn compress_levels(powers: &mut [f32], inverse_widths: &[f32]) {
    for (level, inverse_width) in powers.iter_mut().zip(inverse_widths) {
        let magnitude = (*level * inverse_width).sqrt();
        *level = ln_of_at_least_one(1.0 + COMPRESSION * magnitude);
    }
}

/// The natural logarithm of `x`, a finite number of at least 1, to within 1e-6: the exponent
/// times ln 2 plus the mantissa's logarithm by the series of `2 atanh(t)` with
/// `t = (m - 1) / (m + 1)` (with the mantissa `m` in [√½, √2), `|t|` < 0.172, so four terms
/// leave under 1.4e-8). Branch-free arithmetic, so a loop of them vectorises, where the C
/// library's `logf` is one call per value.
fn ln_of_at_least_one(x: f32) -> f32 {
    let bits = x.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 127;
    let mantissa = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    let high = mantissa > std::f32::consts::SQRT_2;
    let (mantissa, exponent) = if high {
        (0.5 * mantissa, exponent + 1)
    } else {
        (mantissa, exponent)
    };
    let t = (mantissa - 1.0) / (mantissa + 1.0);
    let t2 = t * t;
    let series = t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0))));
    2.0 * series + exponent as f32 * std::f32::consts::LN_2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_logarithm_is_the_logarithm() {
        let mut x = 1.0f32;
        while x < 1e9 {
            let (fast, exact) = (ln_of_at_least_one(x), f64::from(x).ln());
            assert!(
                (f64::from(fast) - exact).abs() <= 1e-6 * exact.max(1.0),
                "ln {x}: {fast} against {exact}"
            );
            x *= 1.0013;
        }
    }

    #[test]
    fn clicks_make_peaks_at_their_times() {
        let rate = 11_025.0;
        let mut signal = vec![0.0f32; 5 * 11_025];
        let clicks = [0.5, 1.25, 2.0, 3.3, 4.1];
        for &t in &clicks {
            let start = (t * rate) as usize;
            for (i, s) in signal[start..start + 200].iter_mut().enumerate() {
                *s = (0.5 * (i as f32 * 0.7).sin()) * (-(i as f32) / 40.0).exp();
            }
        }
        let mut onsets = OnsetEnvelope::new(rate);
        for chunk in signal.chunks(1000) {
            onsets.push(chunk);
        }
        let env = onsets.envelope();
        let max = env.iter().copied().fold(0.0, f32::max);
        let fps = onsets.frame_rate();
        for &t in &clicks {
            let frame = ((t - onsets.time_offset()) * fps).round() as usize;
            let local = env[frame.saturating_sub(2)..frame + 3]
                .iter()
                .copied()
                .fold(0.0, f32::max);
            assert!(local > 0.5 * max, "click at {t} s: {local} vs {max}");
        }
        let quiet = env[((0.8 - onsets.time_offset()) * fps) as usize];
        assert!(quiet < 0.05 * max, "{quiet} vs {max}");
    }
}
