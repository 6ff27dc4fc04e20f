//! Voice profiles ("clone"): what a target voice sounds like on average, learned from one or
//! more reference clips of speech or singing.
//!
//! A [`ProfileBuilder`] analyses each clip in frames ([`FrameAnalyser`]): the true envelope of
//! every voiced frame on the fixed mel grid (so a profile applies at any sample rate), averaged
//! in dB with the frames weighted by how voiced they are, exactly as the converter averages its
//! input; the harmonic-to-noise ratio of the voiced frames (breathiness); and, from the
//! [`PitchTracker`], the pitch range and the voiced duration. The result is a small, readable,
//! versioned JSON document ([`VoiceProfile`]) with warnings when the reference is short, noisy
//! or hardly a voice.

use serde::{Deserialize, Serialize};

use super::envelope::{
    FrameAnalyser, FrameAnalysis, GRID_POINTS, HIGH_POINTS, MIN_SAMPLE_RATE, SILENCE_DB,
    covered_high, covered_points, grid_frequencies, level_points, voicing,
};
use super::pitch::{PitchConfig, PitchFrame, PitchTracker};

/// Version of the [`VoiceProfile`] layout, stored with it. Version 2 added `spread_db` and
/// `classes`; version 1 profiles (without them) are still read, and convert by the average alone.
pub const PROFILE_VERSION: u32 = 2;
/// The oldest profile version this build reads.
const OLDEST_VERSION: u32 = 1;
/// Envelope classes a profile learns (k-means centroids of its voiced frames' envelopes).
pub const CLASSES: usize = 16;
/// Lowest frequency the classes are told apart by, Hz: below it harmonics of most voices do not
/// sample the envelope.
pub(crate) const CLASS_MIN_HZ: f32 = 300.0;
/// K-means rounds when learning the classes.
const KMEANS_ROUNDS: usize = 30;
/// At most this many voiced frames are clustered (evenly picked), so long references stay quick.
const KMEANS_MAX_FRAMES: usize = 20_000;
/// Voiced reference audio below this many seconds gives a warning.
pub const RECOMMENDED_VOICED_SECONDS: f64 = 10.0;
/// A reference whose voiced share of its sounding audio is below this gives a warning.
const MIN_VOICED_SHARE: f64 = 0.3;
/// A median harmonic-to-noise ratio of the voiced frames below this (dB) gives a "noisy"
/// warning: noise under the voice (or a whisper) lifts the envelope between the harmonics.
const MIN_HNR_DB: f32 = 8.0;
/// Fewest grid points a profile must cover (up to about 3.5 kHz, what 8 kHz audio holds).
const MIN_COVERED_POINTS: usize = 30;
/// Samples per analysis call, for progress reports.
const CHUNK_SECONDS: f32 = 1.0;

/// What went wrong while learning or loading a voice profile.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A clip's sample rate is below what the analysis needs.
    #[error("sample rate {0} Hz is below the 8000 Hz voice analysis needs")]
    UnsupportedRate(f32),
    /// The references hold no voiced audio at all (silence, noise, drums...).
    #[error(
        "no voiced audio: the reference holds no singing or speech (silence, noise or a \
         non-vocal instrument?)"
    )]
    NoVoice,
    /// A stored profile is not one this build can use.
    #[error("not a valid voice profile: {0}")]
    Invalid(String),
}

/// The pitch range of a voice, from its voiced frames.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PitchStats {
    /// Median fundamental frequency, Hz.
    pub median_hz: f32,
    /// 5th percentile, Hz (the low end of the range).
    pub p5_hz: f32,
    /// 95th percentile, Hz (the high end of the range).
    pub p95_hz: f32,
}

/// A learned target voice: its average timbre, breathiness and range.
///
/// Envelopes are dB on the fixed mel grid of [`grid_frequencies`] (60 Hz to 9 kHz, stored in
/// `grid_hz` for readers), levelled to a mean of 0 dB from 400 Hz to 3.5 kHz, so only their shape
/// matters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceProfile {
    /// Layout version ([`PROFILE_VERSION`]).
    pub version: u32,
    /// Total duration of the reference clips, seconds.
    pub seconds: f64,
    /// Voiced duration (the pitch tracker's voiced frames), seconds.
    pub voiced_seconds: f64,
    /// Pitch statistics of the voiced frames.
    pub pitch: PitchStats,
    /// Median harmonic-to-noise ratio of the voiced frames, dB: lower is breathier (clean
    /// sung vowels are above 15 dB, breathy or whispery voices below 8; at most 30).
    pub hnr_db: f32,
    /// The grid's frequencies, Hz.
    pub grid_hz: Vec<f32>,
    /// Average log envelope of the voiced frames, dB, one value per grid point.
    pub envelope_db: Vec<f32>,
    /// Leading grid points the references measured (the rest hold the last measured value:
    /// references at low sample rates have no highs).
    pub covered_points: usize,
    /// Standard deviation of the voiced frames' envelopes about `envelope_db`, dB, one value per
    /// grid point: how much the voice's timbre moves from sound to sound (version 2; empty in
    /// version 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spread_db: Vec<f32>,
    /// The voice's envelope classes: up to [`CLASSES`] centroids (k-means, voicing-weighted) of
    /// its voiced frames' envelopes, dB on the grid, levelled like `envelope_db` (roughly its
    /// vowels and voiced consonants). The converter maps each input frame to them (version 2;
    /// empty in version 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<Vec<f32>>,
    /// Average log envelope of the voiced frames above the grid, at
    /// [`HIGH_HZ`](super::envelope::HIGH_HZ), dB, levelled like `envelope_db`; the points past
    /// `high_covered` hold the last measured value (version 2; empty in version 1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub high_db: Vec<f32>,
    /// Leading `high_db` points the references measured (0: none, the converter leaves the band
    /// above the grid to the input's own shape).
    #[serde(default)]
    pub high_covered: usize,
    /// What the user should know about the reference (too short, noisy, hardly a voice).
    pub warnings: Vec<String>,
}

impl VoiceProfile {
    /// Reads a profile from JSON and validates it.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        let profile: Self =
            serde_json::from_str(text).map_err(|e| ProfileError::Invalid(e.to_string()))?;
        profile.validate()?;
        Ok(profile)
    }

    /// The profile as pretty-printed JSON, each list of numbers on one line.
    pub fn to_json(&self) -> String {
        let pretty = serde_json::to_string_pretty(self).expect("a profile always serialises");
        compact_number_lists(&pretty)
    }

    /// Checks the version, the grid and the values (for profiles from files or plugin state).
    pub fn validate(&self) -> Result<(), ProfileError> {
        let invalid = |why: String| Err(ProfileError::Invalid(why));
        if !(OLDEST_VERSION..=PROFILE_VERSION).contains(&self.version) {
            return invalid(format!(
                "version {} (this build reads {OLDEST_VERSION} to {PROFILE_VERSION})",
                self.version
            ));
        }
        let grid = grid_frequencies();
        if self.grid_hz.len() != GRID_POINTS
            || self
                .grid_hz
                .iter()
                .zip(grid)
                .any(|(a, b)| (a - b).abs() > 0.5)
        {
            return invalid(format!(
                "its grid is not this build's {GRID_POINTS}-point mel grid"
            ));
        }
        if self.envelope_db.len() != GRID_POINTS
            || self
                .envelope_db
                .iter()
                .any(|v| !v.is_finite() || v.abs() > 200.0)
        {
            return invalid(format!(
                "the envelope needs {GRID_POINTS} finite values in dB"
            ));
        }
        let bad = |v: &Vec<f32>| {
            v.len() != GRID_POINTS || v.iter().any(|x| !x.is_finite() || x.abs() > 200.0)
        };
        if !self.spread_db.is_empty()
            && (bad(&self.spread_db) || self.spread_db.iter().any(|&x| x < 0.0))
        {
            return invalid(format!(
                "spread_db needs {GRID_POINTS} finite values of at least 0 dB"
            ));
        }
        if self.classes.len() > CLASSES || self.classes.iter().any(bad) {
            return invalid(format!(
                "classes needs at most {CLASSES} envelopes of {GRID_POINTS} finite values in dB"
            ));
        }
        if !self.high_db.is_empty() && bad_high(&self.high_db)
            || self.high_covered > self.high_db.len()
        {
            return invalid(format!(
                "high_db needs {HIGH_POINTS} finite values in dB and high_covered at most that"
            ));
        }
        if !self.classes.is_empty() && self.spread_db.is_empty() {
            return invalid("classes need spread_db".into());
        }
        if !(MIN_COVERED_POINTS..=GRID_POINTS).contains(&self.covered_points) {
            return invalid(format!(
                "covered_points {} is outside {MIN_COVERED_POINTS}..={GRID_POINTS}",
                self.covered_points
            ));
        }
        Ok(())
    }

    /// A few lines for a terminal: durations, range, breathiness (the warnings are in
    /// [`warnings`](Self::warnings)).
    pub fn summary(&self) -> String {
        let p = &self.pitch;
        format!(
            "Reference   {:.1} s, {:.1} s voiced\n\
             Pitch       median {:.0} Hz ({}), {:.0}–{:.0} Hz (5th–95th percentile)\n\
             Breath      harmonic-to-noise {:.1} dB\n\
             Timbre      {} mel points up to {:.0} Hz, {} classes\n",
            self.seconds,
            self.voiced_seconds,
            p.median_hz,
            note_name(p.median_hz),
            p.p5_hz,
            p.p95_hz,
            self.hnr_db,
            self.covered_points,
            self.grid_hz[self.covered_points - 1],
            self.classes.len(),
        )
    }
}

fn bad_high(v: &[f32]) -> bool {
    v.len() != HIGH_POINTS || v.iter().any(|x| !x.is_finite() || x.abs() > 200.0)
}

/// Pretty-printed JSON with every list that holds only numbers joined onto one line.
fn compact_number_lists(pretty: &str) -> String {
    let mut out = String::with_capacity(pretty.len());
    let mut lines = pretty.lines().peekable();
    while let Some(line) = lines.next() {
        out.push_str(line);
        if line.ends_with('[') {
            let mut numbers = Vec::new();
            while let Some(next) = lines.peek() {
                let item = next.trim().trim_end_matches(',');
                if item.parse::<f64>().is_err() {
                    break;
                }
                numbers.push(item);
                lines.next();
            }
            out.push_str(&numbers.join(", "));
            if !numbers.is_empty() {
                // The closing bracket joins the line too.
                if let Some(close) = lines.next() {
                    out.push_str(close.trim_start());
                }
            }
        }
        out.push('\n');
    }
    out.pop();
    out
}

/// The nearest equal-tempered note to `hz`, e.g. `A3`.
fn note_name(hz: f32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    let midi = (69.0 + 12.0 * (hz / 440.0).log2()).round() as i32;
    format!(
        "{}{}",
        NAMES[midi.rem_euclid(12) as usize],
        midi.div_euclid(12) - 1
    )
}

/// Learns a [`VoiceProfile`] from reference clips added one by one.
#[derive(Debug, Default)]
pub struct ProfileBuilder {
    /// Voicing-weighted sums of the voiced frames' envelopes, and their weights, per point.
    sums: Vec<f64>,
    weights: Vec<f64>,
    /// The same above the grid, at the high points.
    high_sums: [f64; HIGH_POINTS],
    high_weights: [f64; HIGH_POINTS],
    /// Harmonic-to-noise ratios of the voiced frames, dB.
    hnr_db: Vec<f32>,
    /// The voiced frames' envelopes and voicing weights, for the spread and the classes.
    frames: Vec<([f32; GRID_POINTS], f32)>,
    /// The tracker's F0 of its voiced frames, Hz.
    f0_hz: Vec<f32>,
    seconds: f64,
    sounding_seconds: f64,
    voiced_seconds: f64,
}

impl ProfileBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            sums: vec![0.0; GRID_POINTS],
            weights: vec![0.0; GRID_POINTS],
            ..Self::default()
        }
    }

    /// Analyses one mono clip at `sample_rate` (at least 8 kHz), reporting progress (0..1).
    /// NaN and infinite samples are read as 0.
    pub fn add_clip(
        &mut self,
        samples: &[f32],
        sample_rate: f32,
        progress: &mut dyn FnMut(f64),
    ) -> Result<(), ProfileError> {
        if sample_rate.is_nan() || sample_rate < MIN_SAMPLE_RATE {
            return Err(ProfileError::UnsupportedRate(sample_rate));
        }
        let mut analyser = FrameAnalyser::new(sample_rate);
        let mut tracker = PitchTracker::new(sample_rate, PitchConfig::default());
        let (n, hop) = (analyser.frame_len(), analyser.frame_len() / 4);
        let hop_seconds = hop as f64 / f64::from(sample_rate);
        let covered = covered_points(sample_rate);
        let high = covered_high(sample_rate);
        let mut frame = vec![0.0f32; n];
        let mut f0_hz = Vec::new();
        let mut on_pitch = |f: PitchFrame| {
            if f.f0_hz > 0.0 {
                f0_hz.push(f.f0_hz);
            }
        };
        let chunk = (sample_rate * CHUNK_SECONDS) as usize;
        let mut clean = Vec::with_capacity(chunk);
        let mut start = 0;
        for part in samples.chunks(chunk) {
            clean.extend(part.iter().map(|&x| if x.is_finite() { x } else { 0.0 }));
            tracker.process(&clean[clean.len() - part.len()..], &mut on_pitch);
            // Every frame that ends within the samples read so far.
            while start + n <= clean.len() {
                frame.copy_from_slice(&clean[start..start + n]);
                self.add_frame(analyser.analyse(&frame), covered, high, hop_seconds);
                start += hop;
            }
            progress(clean.len() as f64 / samples.len() as f64);
        }
        tracker.finish(&mut on_pitch);
        self.voiced_seconds += (f0_hz.len() * tracker.hop_frames()) as f64 / f64::from(sample_rate);
        self.f0_hz.append(&mut f0_hz);
        self.seconds += samples.len() as f64 / f64::from(sample_rate);
        Ok(())
    }

    /// Counts one analysed frame in.
    fn add_frame(
        &mut self,
        analysis: &FrameAnalysis,
        covered: usize,
        high: usize,
        hop_seconds: f64,
    ) {
        if analysis.level_db > SILENCE_DB {
            self.sounding_seconds += hop_seconds;
        }
        let v = voicing(analysis);
        if v == 0.0 {
            return;
        }
        let r = analysis.periodicity.min(0.999);
        self.hnr_db.push(10.0 * (r / (1.0 - r)).log10());
        self.frames.push((analysis.envelope_db, v));
        for ((s, w), e) in self
            .high_sums
            .iter_mut()
            .zip(&mut self.high_weights)
            .zip(&analysis.high_db)
            .take(high)
        {
            *s += f64::from(v * e);
            *w += f64::from(v);
        }
        for ((s, w), e) in self
            .sums
            .iter_mut()
            .zip(&mut self.weights)
            .zip(&analysis.envelope_db)
            .take(covered)
        {
            *s += f64::from(v * e);
            *w += f64::from(v);
        }
    }

    /// The profile of every clip added, or [`ProfileError::NoVoice`] when none held a voice.
    pub fn finish(mut self) -> Result<VoiceProfile, ProfileError> {
        let covered = self.weights.iter().take_while(|&&w| w > 0.0).count();
        if self.f0_hz.is_empty() || covered < MIN_COVERED_POINTS {
            return Err(ProfileError::NoVoice);
        }
        let mut envelope: Vec<f32> = (0..GRID_POINTS)
            .map(|i| (self.sums[i.min(covered - 1)] / self.weights[i.min(covered - 1)]) as f32)
            .collect();
        let levelled = level_points();
        let mean = envelope[levelled.clone()].iter().sum::<f32>() / levelled.len() as f32;
        let spread = spread(&self.frames, &envelope, covered);
        let classes = kmeans(&self.frames, covered)
            .into_iter()
            .map(|c| {
                (0..GRID_POINTS)
                    .map(|i| round2(c[i.min(covered - 1)] - mean))
                    .collect()
            })
            .collect();
        let high_covered = self.high_weights.iter().take_while(|&&w| w > 0.0).count();
        let high_db = (0..HIGH_POINTS)
            .map(|i| match high_covered {
                0 => 0.0,
                c => round2(
                    (self.high_sums[i.min(c - 1)] / self.high_weights[i.min(c - 1)]) as f32 - mean,
                ),
            })
            .collect();
        for e in &mut envelope {
            *e = round2(*e - mean);
        }
        let pitch = PitchStats {
            median_hz: round2(percentile(&mut self.f0_hz, 0.5)),
            p5_hz: round2(percentile(&mut self.f0_hz, 0.05)),
            p95_hz: round2(percentile(&mut self.f0_hz, 0.95)),
        };
        let hnr_db = round2(percentile(&mut self.hnr_db, 0.5));
        let mut warnings = Vec::new();
        if self.voiced_seconds < RECOMMENDED_VOICED_SECONDS {
            warnings.push(format!(
                "only {:.1} s of voiced audio: {RECOMMENDED_VOICED_SECONDS:.0} s or more gives a \
                 steadier profile",
                self.voiced_seconds
            ));
        }
        let share = self.voiced_seconds / self.sounding_seconds.max(1e-9);
        if share < MIN_VOICED_SHARE {
            warnings.push(format!(
                "only {:.0} % of the sounding audio is voiced: is the reference a voice?",
                100.0 * share.min(1.0)
            ));
        }
        if hnr_db < MIN_HNR_DB {
            warnings.push(format!(
                "noisy or breathy reference: the voiced parts' harmonic-to-noise ratio is \
                 {hnr_db:.1} dB (under {MIN_HNR_DB:.0}); a dry, clean recording gives a truer \
                 profile"
            ));
        }
        Ok(VoiceProfile {
            version: PROFILE_VERSION,
            seconds: self.seconds,
            voiced_seconds: self.voiced_seconds,
            pitch,
            hnr_db,
            grid_hz: grid_frequencies().iter().map(|&f| round2(f)).collect(),
            envelope_db: envelope,
            covered_points: covered,
            spread_db: spread,
            classes,
            high_db,
            high_covered,
            warnings,
        })
    }
}

/// The voicing-weighted standard deviation of the frames about `mean` per grid point (the
/// first `covered` measured, the last held above), dB.
fn spread(frames: &[([f32; GRID_POINTS], f32)], mean: &[f32], covered: usize) -> Vec<f32> {
    let mut sums = [0.0f64; GRID_POINTS];
    let mut weight = 0.0f64;
    for (e, v) in frames {
        for (s, (x, m)) in sums.iter_mut().zip(e.iter().zip(mean)).take(covered) {
            *s += f64::from(*v) * f64::from(x - m).powi(2);
        }
        weight += f64::from(*v);
    }
    (0..GRID_POINTS)
        .map(|i| round2((sums[i.min(covered - 1)] / weight.max(1e-9)).sqrt() as f32))
        .collect()
}

/// Squared distance of two envelopes over the class points (from [`CLASS_MIN_HZ`] to `covered`).
pub(crate) fn class_distance(a: &[f32], b: &[f32], points: std::ops::Range<usize>) -> f32 {
    a[points.clone()]
        .iter()
        .zip(&b[points])
        .map(|(x, y)| (x - y) * (x - y))
        .sum()
}

/// The grid points the classes are told apart by: from [`CLASS_MIN_HZ`] to `covered`.
pub(crate) fn class_points(covered: usize) -> std::ops::Range<usize> {
    let first = grid_frequencies()
        .iter()
        .take_while(|&&f| f < CLASS_MIN_HZ)
        .count();
    first.min(covered.saturating_sub(1))..covered
}

/// Up to [`CLASSES`] voicing-weighted k-means centroids of the frames' envelopes (k-means++
/// seeding from a fixed seed, so a reference always gives the same profile); fewer when there are
/// fewer frames.
fn kmeans(frames: &[([f32; GRID_POINTS], f32)], covered: usize) -> Vec<[f32; GRID_POINTS]> {
    let step = frames.len().div_ceil(KMEANS_MAX_FRAMES).max(1);
    let data: Vec<&([f32; GRID_POINTS], f32)> = frames.iter().step_by(step).collect();
    let k = CLASSES.min(data.len());
    if k == 0 {
        return Vec::new();
    }
    let points = class_points(covered);
    let mut seed = 0x9E37_79B9_7F4A_7C15u64;
    let mut random = move || {
        // xorshift64*, uniform in 0..1
        seed ^= seed >> 12;
        seed ^= seed << 25;
        seed ^= seed >> 27;
        (seed.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut centroids: Vec<[f32; GRID_POINTS]> = vec![data[0].0];
    let mut nearest: Vec<f32> = data
        .iter()
        .map(|(e, _)| class_distance(e, &centroids[0], points.clone()))
        .collect();
    while centroids.len() < k {
        let total: f64 = nearest
            .iter()
            .zip(&data)
            .map(|(d, (_, v))| f64::from(d * v))
            .sum();
        let mut pick = random() * total;
        let mut chosen = data.len() - 1;
        for (i, (d, (_, v))) in nearest.iter().zip(&data).enumerate() {
            pick -= f64::from(d * v);
            if pick <= 0.0 {
                chosen = i;
                break;
            }
        }
        let c = data[chosen].0;
        for (n, (e, _)) in nearest.iter_mut().zip(&data) {
            *n = n.min(class_distance(e, &c, points.clone()));
        }
        centroids.push(c);
    }
    let mut labels = vec![0usize; data.len()];
    for _ in 0..KMEANS_ROUNDS {
        for (l, (e, _)) in labels.iter_mut().zip(&data) {
            *l = (0..k)
                .min_by(|&a, &b| {
                    class_distance(e, &centroids[a], points.clone()).total_cmp(&class_distance(
                        e,
                        &centroids[b],
                        points.clone(),
                    ))
                })
                .unwrap_or(0);
        }
        let mut sums = vec![[0.0f64; GRID_POINTS]; k];
        let mut weights = vec![0.0f64; k];
        for (&l, (e, v)) in labels.iter().zip(&data) {
            for (s, x) in sums[l].iter_mut().zip(e) {
                *s += f64::from(v * x);
            }
            weights[l] += f64::from(*v);
        }
        for ((c, s), w) in centroids.iter_mut().zip(&sums).zip(&weights) {
            if *w > 0.0 {
                for (c, s) in c.iter_mut().zip(s) {
                    *c = (s / w) as f32;
                }
            }
        }
    }
    centroids
}

/// Learns a profile from one mono clip (see [`ProfileBuilder`]).
pub fn learn(samples: &[f32], sample_rate: f32) -> Result<VoiceProfile, ProfileError> {
    let mut builder = ProfileBuilder::new();
    builder.add_clip(samples, sample_rate, &mut |_| {})?;
    builder.finish()
}

/// `v` rounded to 0.01, to keep the JSON short.
fn round2(v: f32) -> f32 {
    (v * 100.0).round() / 100.0
}

/// The `q` quantile (0..1) of `values` (reordered; not empty).
fn percentile(values: &mut [f32], q: f32) -> f32 {
    let i = ((values.len() - 1) as f32 * q).round() as usize;
    *values.select_nth_unstable_by(i, f32::total_cmp).1
}
