//! Tempo, beats and key of a stream: [`MusicalAnalyzer`] runs the shared front end (mono,
//! decimated to about 11 kHz), the onset envelope and the chroma on every block it is given, and
//! [`MusicalAnalyzer::finish`] turns them into a [`MusicalReport`].
//!
//! Memory: the chroma is a fixed-size histogram; the onset envelope keeps one `f32` per 11.6 ms
//! frame (1.2 MB for an hour), which the beat tracker needs whole.

use serde::Serialize;

use super::frontend::MonoDecimator;
use super::key::{ChromaAccumulator, Key, estimate_key};
use super::onset::OnsetEnvelope;
use super::tempo::{estimate_tempo, fitted_bpm, track_beats};

/// Tempo, beats and key of a piece of audio.
///
/// Serialised as JSON with exactly these field names; `null` where the material has no tempo or
/// no key (silence, speech, noise, a drum loop has no key).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MusicalReport {
    /// Global tempo in beats per minute (60–200), rounded to one decimal.
    pub bpm: Option<f64>,
    /// How steady the pulse is at that tempo, 0 to 1.
    pub bpm_confidence: Option<f64>,
    /// The key, written as a musician would (`"A minor"`, `"Eb major"`).
    pub key: Option<Key>,
    /// The correlation of the chroma with that key's profile, 0 to 1.
    pub key_confidence: Option<f64>,
    /// Beat times in seconds from the start; only filled when asked for, and then omitted from
    /// JSON when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beats: Option<Vec<f64>>,
}

/// Streams audio into the tempo, beat and key analyses.
#[derive(Debug)]
pub struct MusicalAnalyzer {
    decimator: MonoDecimator,
    onsets: OnsetEnvelope,
    chroma: ChromaAccumulator,
    /// Decimated samples of the current block (kept to reuse its allocation).
    mono: Vec<f32>,
}

impl MusicalAnalyzer {
    /// An analyzer for audio at `sample_rate` Hz (any channel count).
    pub fn new(sample_rate: u32) -> Self {
        let decimator = MonoDecimator::new(sample_rate.max(1));
        let rate = decimator.rate();
        Self {
            decimator,
            onsets: OnsetEnvelope::new(rate),
            chroma: ChromaAccumulator::new(rate),
            mono: Vec::new(),
        }
    }

    /// An analyzer for live input (the plugin's Analyze tab): the key is that of everything
    /// heard since the last [`reset`](Self::reset), the tempo that of the last `tempo_window_s`
    /// seconds, so the work of a [`finish`](Self::finish) stays bounded however long it runs.
    pub fn live(sample_rate: u32, tempo_window_s: f64) -> Self {
        let mut analyzer = Self::new(sample_rate);
        analyzer.onsets.keep_newest(tempo_window_s);
        analyzer
    }

    /// Forgets everything heard.
    pub fn reset(&mut self) {
        self.decimator.reset();
        self.onsets.reset();
        self.chroma.reset();
    }

    /// Adds a planar block (one slice per channel, equal lengths). NaN and infinite samples
    /// count as 0.
    pub fn add_frames<S: AsRef<[f32]>>(&mut self, block: &[S]) {
        self.mono.clear();
        self.decimator.process(block, &mut self.mono);
        self.onsets.push(&self.mono);
        self.chroma.push(&self.mono);
    }

    /// A mix-down decimator to the rate [`add_decimated`](Self::add_decimated) expects, for a
    /// caller that decimates on another thread.
    pub(crate) fn decimator(&self) -> MonoDecimator {
        let mut decimator = self.decimator.clone();
        decimator.reset();
        decimator
    }

    /// Adds mono samples already mixed down and decimated by a [`decimator`](Self::decimator).
    pub(crate) fn add_decimated(&mut self, mono: &[f32]) {
        self.onsets.push(mono);
        self.chroma.push(mono);
    }

    /// The tempo, key and (with `with_beats`) the beat times of everything added so far.
    pub fn finish(&self, with_beats: bool) -> MusicalReport {
        let envelope = self.onsets.envelope();
        let frame_rate = self.onsets.frame_rate();
        let tempo = estimate_tempo(envelope, frame_rate);
        let beats = tempo.map(|t| track_beats(envelope, frame_rate, t.bpm));
        let bpm = tempo.map(|t| {
            beats
                .as_deref()
                .and_then(|b| fitted_bpm(b, frame_rate))
                // The fit refines the autocorrelation's period; a fit far from it followed
                // another metrical level and is not used.
                .filter(|fit| (fit / t.bpm - 1.0).abs() < 0.04)
                .unwrap_or(t.bpm)
        });
        let key = self
            .chroma
            .evidence()
            .and_then(|evidence| estimate_key(&evidence));
        let offset = self.onsets.time_offset();
        MusicalReport {
            bpm: bpm.map(|b| (b * 10.0).round() / 10.0),
            bpm_confidence: tempo.map(|t| round3(t.confidence)),
            key: key.map(|k| k.key),
            key_confidence: key.map(|k| round3(k.confidence)),
            beats: with_beats.then(|| {
                beats
                    .unwrap_or_default()
                    .into_iter()
                    .map(|b| round3(b as f64 / frame_rate + offset))
                    .collect()
            }),
        }
    }
}

/// Rounds to three decimals (milliseconds for times).
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
