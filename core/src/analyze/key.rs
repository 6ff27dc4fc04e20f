//! Musical key (tonic and mode) from a tuning-aware chroma.
//!
//! [`ChromaAccumulator`] halves the analysis rate again (to about 5.5 or 6 kHz), takes long
//! frames (about 370 ms), picks the spectral peaks between 50 Hz and 2.5 kHz, and adds each
//! peak's weight to a pitch-class histogram ten bins per semitone fine, each frame normalised
//! so that loud passages do not outvote quiet ones. The histogram's circular mean within the
//! semitone is the recording's tuning (a song tuned to 432 Hz, or a tape running fast, still
//! reads its written key), and the twelve chroma values are the histogram summed around the
//! tuned semitone centres. Two more histograms of the same kind are kept: the bass (each
//! frame's lowest strong peak, when it is below 300 Hz: the note the harmony stands on) and the
//! opening (every peak of the first 1.5 s of pitched sound).
//!
//! [`estimate_key`] correlates the log-compressed chroma (so that a few loud notes do not
//! outweigh the rest of the scale) with the 24 rotations of Krumhansl and Kessler's major and
//! minor key profiles, each spread over the first six harmonics of its notes as a recording
//! spreads a played note (Gómez, 2006): a note's third harmonic sounds its fifth, its fifth
//! harmonic its major third. Two cues then separate keys that share their notes (a minor key
//! and its relative major, or the major key a tone below): the share of the bass that sits on
//! the tonic, and the correlation of the opening with the key's profile (songs mostly begin on
//! their tonic chord). (On the bench set, Krumhansl and Kessler's profiles spread over
//! harmonics gave a weighted score of 0.81 against 0.77 for Temperley's Kostka–Payne profiles
//! spread the same way; the compression, the bass and the opening raise it from 0.83 to 0.94,
//! and from 0.86 to 0.99 on a second set of other songs.)

use std::fmt;

use serde::{Serialize, Serializer};

use super::frontend::{MonoDecimator, PowerSpectrumPairs, lane_max};

/// Sub-bins per semitone of the fine pitch-class histogram.
const FINE: usize = 10;
/// Lowest peak frequency considered, in Hz.
const LOWEST_HZ: f64 = 50.0;
/// Highest peak frequency considered, in Hz (at most 0.45 of the halved analysis rate, 2.48 kHz
/// from 44.1 kHz). Reading up to 4 kHz at the full analysis rate, as before, gave the same keys
/// on the bench songs except one more read as its relative minor, for twice the work.
const HIGHEST_HZ: f64 = 2_500.0;
/// Peaks more than this far below the frame's strongest are ignored (in magnitude, 40 dB).
const PEAK_FLOOR: f32 = 0.01;
/// Frames whose strongest peak is below this (a full-scale sine is 1; -80 dBFS) are silence.
const SILENT_PEAK: f32 = 1e-4;
/// Amplitude ratio between consecutive harmonics in the spread key profiles.
const HARMONIC_DECAY: f64 = 0.6;
/// Semitones above the fundamental (mod 12) of harmonics 1 to 6.
const HARMONIC_INTERVALS: [usize; 6] = [0, 0, 7, 0, 4, 7];
/// Krumhansl and Kessler's major-key profile (probe-tone ratings), C to B.
const MAJOR_PROFILE: [f64; 12] = [
    6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88,
];
/// Krumhansl and Kessler's minor-key profile (probe-tone ratings), C to B.
const MINOR_PROFILE: [f64; 12] = [
    6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17,
];
/// Highest frequency of a frame's lowest strong peak that counts as a bass note, in Hz.
const BASS_HIGHEST_HZ: f64 = 300.0;
/// A frame's bass note is its lowest peak at least this strong relative to its strongest.
const BASS_PEAK: f32 = 0.3;
/// Seconds of pitched sound from the start that make up the opening.
const OPENING_S: f64 = 1.5;
/// Log compression of the chroma: `ln(1 + CHROMA_COMPRESSION * c / max c)`.
const CHROMA_COMPRESSION: f64 = 100.0;
/// Weight of the bass's share on the tonic in a key's score.
const BASS_TONIC_WEIGHT: f64 = 0.3;
/// Weight of the opening's correlation with the key's profile in a key's score.
const OPENING_WEIGHT: f64 = 0.4;
/// Below this correlation with the best key profile there is no key.
const MIN_CORRELATION: f64 = 0.65;
/// Below this spread of the chroma (standard deviation over mean) the material has no pitch
/// centre (noise, speech, drums).
const MIN_CHROMA_CONTRAST: f64 = 0.1;

/// Major or minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// A major key.
    Major,
    /// A (natural, harmonic or melodic) minor key.
    Minor,
}

/// A key: a tonic pitch class and a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    /// The tonic's pitch class, 0 = C, 1 = C#/Db, ..., 11 = B.
    pub tonic: u8,
    /// Major or minor.
    pub mode: Mode,
}

/// Tonic names of major keys as musicians write them (the key signature with fewer
/// accidentals; F# rather than Gb).
const MAJOR_NAMES: [&str; 12] = [
    "C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B",
];
/// Tonic names of minor keys as musicians write them (C# and G# minor, Eb and Bb minor).
const MINOR_NAMES: [&str; 12] = [
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B",
];

impl Key {
    /// The tonic's name, e.g. `"Eb"` or `"F#"`.
    pub fn tonic_name(&self) -> &'static str {
        match self.mode {
            Mode::Major => MAJOR_NAMES[usize::from(self.tonic % 12)],
            Mode::Minor => MINOR_NAMES[usize::from(self.tonic % 12)],
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            Mode::Major => "major",
            Mode::Minor => "minor",
        };
        write!(f, "{} {mode}", self.tonic_name())
    }
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A key estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KeyEstimate {
    /// The most likely key.
    pub key: Key,
    /// The correlation of the chroma with that key's profile, 0 to 1.
    pub confidence: f64,
    /// The recording's tuning relative to A = 440 Hz, in cents (-50 to 50).
    pub tuning_cents: f64,
}

/// Streaming pitch-class histogram of a mono signal (see the module documentation).
pub(crate) struct ChromaAccumulator {
    /// Halves the analysis rate again: the chroma reads nothing above 2.5 kHz, and its long
    /// frames cost half as much at the same resolution.
    halving: MonoDecimator,
    /// Scratch: the halved block.
    halved: Vec<f32>,
    spectra: PowerSpectrumPairs,
    pitches: PeakPitches,
    histograms: Histograms,
}

/// Where in the spectrum peaks are read, and the pitch of a peak.
struct PeakPitches {
    /// Bins searched for peaks.
    bins: std::ops::Range<usize>,
    bin_hz: f64,
    /// The fine pitch-class position of each bin's centre frequency, in fine bins above C at
    /// A = 440 Hz (not yet wrapped to the octave), from 0 up to `bins.end`, with its first and
    /// half its second derivative by the bin, so that a peak's position between bins is a
    /// polynomial (three terms of its Taylor series).
    bin_positions: Vec<[f64; 3]>,
}

/// The peaks gathered so far.
struct Histograms {
    /// Accumulated weight per fine pitch-class bin (bin 0 is centred on C at A = 440 Hz).
    all: [f64; 12 * FINE],
    /// The same for each frame's bass note (one count per frame that has one).
    bass: [f64; 12 * FINE],
    /// The same as `all` for the opening frames only.
    opening: [f64; 12 * FINE],
    /// Pitched frames that make up the opening.
    opening_frames: u64,
    /// Frames that held a pitched peak.
    frames: u64,
}

/// What the chroma accumulator has gathered, tuned: the evidence the key is chosen from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct KeyEvidence {
    /// The recording's tuning relative to A = 440 Hz, in cents (-50 to 50).
    pub(crate) tuning_cents: f64,
    /// The chroma of everything heard, C to B.
    pub(crate) chroma: [f64; 12],
    /// The chroma of the bass notes, C to B (all zero when there were none).
    pub(crate) bass: [f64; 12],
    /// The chroma of the opening, C to B.
    pub(crate) opening: [f64; 12],
}

impl std::fmt::Debug for ChromaAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromaAccumulator")
            .field("frame_len", &self.spectra.len())
            .field("frames", &self.histograms.frames)
            .finish_non_exhaustive()
    }
}

impl ChromaAccumulator {
    /// An accumulator for a mono stream at `rate` Hz (8–20 kHz).
    pub(crate) fn new(rate: f64) -> Self {
        let halving = MonoDecimator::by_factor(rate, 2);
        let rate = halving.rate();
        let len = if rate <= 6_250.0 { 2048 } else { 4096 };
        let bin_hz = rate / len as f64;
        let lo = ((LOWEST_HZ / bin_hz).floor() as usize).max(1);
        let hi = ((HIGHEST_HZ.min(0.45 * rate) / bin_hz).ceil() as usize).min(len / 2 - 1);
        let hop = len / 2;
        Self {
            halving,
            halved: Vec::new(),
            spectra: PowerSpectrumPairs::new(len, hop),
            pitches: PeakPitches {
                bins: lo..hi,
                bin_hz,
                bin_positions: (0..hi)
                    .map(|k| {
                        let k = (k as f64).max(1.0);
                        let slope = (12 * FINE) as f64 / (k * std::f64::consts::LN_2);
                        [fine_position(k * bin_hz), slope, -0.5 * slope / k]
                    })
                    .collect(),
            },
            histograms: Histograms {
                all: [0.0; 12 * FINE],
                bass: [0.0; 12 * FINE],
                opening: [0.0; 12 * FINE],
                opening_frames: (OPENING_S * rate / hop as f64).round().max(1.0) as u64,
                frames: 0,
            },
        }
    }

    /// Forgets everything heard.
    pub(crate) fn reset(&mut self) {
        self.halving.reset();
        self.spectra.reset();
        let h = &mut self.histograms;
        (h.all, h.bass, h.opening) = ([0.0; 12 * FINE], [0.0; 12 * FINE], [0.0; 12 * FINE]);
        h.frames = 0;
    }

    /// Adds mono samples at the analysis rate. A frame counts once the next one is complete
    /// too (see [`PowerSpectrumPairs`]), 186 ms later.
    pub(crate) fn push(&mut self, samples: &[f32]) {
        self.halved.clear();
        self.halving.process(&[samples], &mut self.halved);
        self.spectra.push(&self.halved);
        while let Some(pair) = self.spectra.next_pair() {
            for power in pair {
                self.histograms.add_peaks(power, &self.pitches);
            }
        }
    }

    /// The tuning and the tuned chromas of everything heard, of the bass and of the opening;
    /// `None` if no frame held a pitched peak.
    pub(crate) fn evidence(&self) -> Option<KeyEvidence> {
        let histograms = &self.histograms;
        if histograms.frames == 0 {
            return None;
        }
        let (mut sin, mut cos) = (0.0, 0.0);
        for (i, h) in histograms.all.iter().enumerate() {
            let phase = std::f64::consts::TAU * (i % FINE) as f64 / FINE as f64;
            sin += h * phase.sin();
            cos += h * phase.cos();
        }
        let tuning = sin.atan2(cos) / std::f64::consts::TAU; // semitones, -0.5..0.5
        let shift = (tuning * FINE as f64).round() as isize;
        Some(KeyEvidence {
            tuning_cents: tuning * 100.0,
            chroma: tuned_chroma(&histograms.all, shift),
            bass: tuned_chroma(&histograms.bass, shift),
            opening: tuned_chroma(&histograms.opening, shift),
        })
    }
}

impl Histograms {
    /// Adds the peaks of a frame's power spectrum `p` (a full-scale sine reads 1). Peaks are
    /// found and weighed by magnitude, compared here as powers: the square roots are taken for
    /// the peaks alone.
    fn add_peaks(&mut self, p: &[f32], pitches: &PeakPitches) {
        let strongest = lane_max(&p[pitches.bins.clone()]);
        if strongest < SILENT_PEAK * SILENT_PEAK {
            return;
        }
        let floor = strongest * (PEAK_FLOOR * PEAK_FLOOR);
        let mut contributions = [0.0f64; 12 * FINE];
        let mut total = 0.0;
        let mut bass_note = None;
        for k in pitches.bins.clone() {
            if p[k] <= floor || p[k] <= p[k - 1] || p[k] < p[k + 1] {
                continue;
            }
            let (hz, fine) = pitches.peak_pitch(p, k);
            if bass_note.is_none() && p[k] >= (BASS_PEAK * BASS_PEAK) * strongest {
                bass_note = Some((hz, fine));
            }
            let weight = f64::from((p[k] / strongest).sqrt());
            contributions[fine] += weight;
            total += weight;
        }
        if total <= 0.0 {
            return;
        }
        let opening = self.frames < self.opening_frames;
        for (i, c) in contributions.into_iter().enumerate() {
            self.all[i] += c / total;
            if opening {
                self.opening[i] += c / total;
            }
        }
        if let Some((_, fine)) = bass_note.filter(|&(hz, _)| hz <= BASS_HIGHEST_HZ) {
            self.bass[fine] += 1.0;
        }
        self.frames += 1;
    }
}

impl PeakPitches {
    /// The frequency of the spectral peak at bin `k` of the power spectrum `p`, by parabolic
    /// interpolation of the log magnitude, and its fine pitch-class bin.
    fn peak_pitch(&self, p: &[f32], k: usize) -> (f64, usize) {
        // The neighbours' log powers relative to the peak's (one logarithm each): twice their
        // log magnitudes, which the interpolation's ratio does not see.
        let (l, r) = ((p[k - 1] / p[k]).ln(), (p[k + 1] / p[k]).ln());
        let denom = l + r;
        let shift = if denom < 0.0 {
            f64::from((0.5 * (l - r) / denom).clamp(-0.5, 0.5))
        } else {
            0.0
        };
        // The position moves from the bin's by 12 FINE log2(1 + shift / k) fine bins; with
        // |shift / k| at most 1/32 (bins from 50 Hz up are at least the 16th), the Taylor
        // series' third term is under 0.002 of a fine bin.
        let [centre, slope, curvature] = self.bin_positions[k];
        let position = centre + shift * (slope + shift * curvature);
        // Rounded by truncating a value made positive by whole octaves (one instruction, where
        // `round` is a library call).
        let fine = (position + 0.5 + (120 * FINE) as f64) as usize % (12 * FINE);
        ((k as f64 + shift) * self.bin_hz, fine)
    }
}

/// The position of a frequency on the fine pitch-class scale: fine bins above C at A = 440 Hz,
/// not wrapped to the octave.
fn fine_position(hz: f64) -> f64 {
    (69.0 + 12.0 * (hz / 440.0).log2()) * FINE as f64
}

/// The twelve chroma values (C to B) of a fine histogram, summed around the semitone centres
/// moved by `shift` fine bins (the tuning).
fn tuned_chroma(histogram: &[f64; 12 * FINE], shift: isize) -> [f64; 12] {
    let mut chroma = [0.0; 12];
    for (pc, c) in chroma.iter_mut().enumerate() {
        let centre = (pc * FINE) as isize + shift;
        for j in -(FINE as isize / 2)..(FINE as isize / 2) {
            let i = (centre + j).rem_euclid((12 * FINE) as isize) as usize;
            *c += histogram[i];
        }
    }
    chroma
}

/// A key profile spread over its notes' first six harmonics.
fn harmonic_profile(profile: &[f64; 12]) -> [f64; 12] {
    let mut out = [0.0; 12];
    for (pc, &p) in profile.iter().enumerate() {
        let mut amplitude = 1.0;
        for interval in HARMONIC_INTERVALS {
            out[(pc + interval) % 12] += p * amplitude;
            amplitude *= HARMONIC_DECAY;
        }
    }
    out
}

/// Pearson correlation of `chroma` with `profile` rotated to `tonic`.
fn correlation(chroma: &[f64; 12], profile: &[f64; 12], tonic: usize) -> f64 {
    let mean_c = chroma.iter().sum::<f64>() / 12.0;
    let mean_p = profile.iter().sum::<f64>() / 12.0;
    let (mut num, mut var_c, mut var_p) = (0.0, 0.0, 0.0);
    for (pc, &c) in chroma.iter().enumerate() {
        let p = profile[(pc + 12 - tonic) % 12] - mean_p;
        let c = c - mean_c;
        num += c * p;
        var_c += c * c;
        var_p += p * p;
    }
    if var_c <= 0.0 || var_p <= 0.0 {
        0.0
    } else {
        num / (var_c * var_p).sqrt()
    }
}

/// `chroma` compressed as `ln(1 + CHROMA_COMPRESSION * c / max c)`.
fn log_compressed(chroma: &[f64; 12]) -> [f64; 12] {
    let max = chroma.iter().copied().fold(0.0, f64::max);
    if max <= 0.0 {
        return *chroma;
    }
    chroma.map(|c| (CHROMA_COMPRESSION * c / max).ln_1p())
}

/// Whether `chroma` has a pitch centre at all: its spread (standard deviation over mean) is
/// large enough.
fn has_pitch_centre(chroma: &[f64; 12]) -> bool {
    let mean = chroma.iter().sum::<f64>() / 12.0;
    if mean <= 0.0 {
        return false;
    }
    let spread = (chroma.iter().map(|c| (c - mean).powi(2)).sum::<f64>() / 12.0).sqrt() / mean;
    spread >= MIN_CHROMA_CONTRAST
}

/// The key that best explains the evidence (see the module documentation); `None` when the
/// chroma has no pitch centre (too flat, or no profile correlates well with the uncompressed
/// chroma). The confidence is the uncompressed chroma's correlation with the key's profile.
pub(crate) fn estimate_key(evidence: &KeyEvidence) -> Option<KeyEstimate> {
    if !has_pitch_centre(&evidence.chroma) {
        return None;
    }
    let chroma = log_compressed(&evidence.chroma);
    let bass_total = evidence.bass.iter().sum::<f64>();
    let bass_share = |tonic: usize| {
        if bass_total > 0.0 {
            evidence.bass[tonic] / bass_total
        } else {
            0.0
        }
    };
    let profiles = [
        (Mode::Major, harmonic_profile(&MAJOR_PROFILE)),
        (Mode::Minor, harmonic_profile(&MINOR_PROFILE)),
    ];
    let best_fit = profiles
        .iter()
        .flat_map(|(_, profile)| {
            (0..12).map(move |tonic| correlation(&evidence.chroma, profile, tonic))
        })
        .fold(f64::NEG_INFINITY, f64::max);
    if best_fit < MIN_CORRELATION {
        return None;
    }
    let (key, profile) = profiles
        .iter()
        .flat_map(|(mode, profile)| {
            (0..12).map(move |tonic| {
                let key = Key {
                    tonic: tonic as u8,
                    mode: *mode,
                };
                (key, profile)
            })
        })
        .max_by(|a, b| {
            let score = |(key, profile): &(Key, &[f64; 12])| {
                let tonic = usize::from(key.tonic);
                correlation(&chroma, profile, tonic)
                    + BASS_TONIC_WEIGHT * bass_share(tonic)
                    + OPENING_WEIGHT * correlation(&evidence.opening, profile, tonic)
            };
            score(a).total_cmp(&score(b))
        })?;
    let confidence = correlation(&evidence.chroma, profile, usize::from(key.tonic)).max(0.0);
    Some(KeyEstimate {
        key,
        confidence,
        tuning_cents: evidence.tuning_cents,
    })
}
