//! Audio to notes to MIDI with Spotify's basic-pitch model (`nmp.onnx`).
//!
//! - [`input::load`] decodes any file, mixes it to mono and resamples it to 22 050 Hz.
//! - [`BasicPitch`] runs the graph over the whole signal with basic-pitch's own windowing
//!   (2-s windows, 30 frames of overlap, half an overlap of leading zeros), batching windows
//!   through one warmed session, and unwraps the outputs into [`Activations`].
//! - [`notes_from_activations`] creates notes exactly as basic-pitch 0.4.0 does (onsets,
//!   frame-difference onsets, the second pass over the remaining energy, pitch bends from the
//!   contour), so the same file gives the same notes as the Python package.
//! - [`write_midi`] writes a standard MIDI file at the song's tempo.
//!
//! [`find_model`] locates the fetched model; [`transcribe_file`] does it all for one file,
//! [`transcribe_audio`] for audio in memory.

mod bends;
mod error;
pub mod input;
mod midi;
mod model;
mod notes;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::analyze::MusicalAnalyzer;

pub use bends::{bend_to_midi, frame_time};
pub use error::TranscribeError;
pub use midi::{DEFAULT_BPM, TICKS_PER_BEAT, midi_bytes, write_midi};
pub use model::{Activations, BasicPitch, CONTOUR_BINS, FRAME_RATE, NOTE_BINS, frame_count};
pub use notes::MIDI_OFFSET;

use crate::inference::{
    MANIFEST_FILE, Manifest, ModelPack, basic_pitch, own_binary_path, user_models_dir,
};

/// The basic-pitch pack's manifest, built in so a bare fetched `nmp.onnx` is checked too.
const BUILT_IN_MANIFEST: &str = include_str!("../../../models/basic-pitch/manifest.toml");
/// The model file inside the pack.
pub const MODEL_FILE: &str = "nmp.onnx";
/// Environment variable naming the `nmp.onnx` file to use.
pub const ENV_MODEL: &str = "MIXSMITH_BASIC_PITCH_ONNX";

/// The note-creation settings, with basic-pitch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NoteSettings {
    /// Minimum onset activation for a note to start (0..1).
    pub onset_threshold: f64,
    /// Minimum note activation for a note to continue (0..1).
    pub frame_threshold: f64,
    /// Notes must be longer than this, in milliseconds.
    pub min_note_ms: f64,
    /// Estimate pitch bends from the contour.
    pub pitch_bends: bool,
}

impl Default for NoteSettings {
    fn default() -> Self {
        Self {
            onset_threshold: 0.5,
            frame_threshold: 0.3,
            min_note_ms: 127.7,
            pitch_bends: true,
        }
    }
}

impl NoteSettings {
    /// Checks the ranges: thresholds in 0..=1, minimum length in 0..=10 000 ms.
    pub fn validate(&self) -> Result<(), TranscribeError> {
        let check = |name, value: f64, max: f64, expected| {
            if value.is_finite() && (0.0..=max).contains(&value) {
                Ok(())
            } else {
                Err(TranscribeError::Setting {
                    name,
                    expected,
                    value,
                })
            }
        };
        check(
            "onset threshold",
            self.onset_threshold,
            1.0,
            "between 0 and 1",
        )?;
        check(
            "frame threshold",
            self.frame_threshold,
            1.0,
            "between 0 and 1",
        )?;
        check(
            "minimum note length",
            self.min_note_ms,
            10_000.0,
            "between 0 and 10000 ms",
        )
    }

    /// The minimum length in model frames (rounded, as the reference does).
    pub fn min_note_frames(&self) -> usize {
        let per_second = f64::from(basic_pitch::SAMPLE_RATE) / f64::from(basic_pitch::HOP);
        (self.min_note_ms / 1000.0 * per_second).round() as usize
    }
}

/// One transcribed note.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Note {
    /// Start in seconds from the beginning of the file.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// MIDI note number (21..=108).
    pub pitch: u8,
    /// Mean note activation over the note (0..1); the velocity is `round(127 * amplitude)`.
    pub amplitude: f64,
    /// One bend per model frame (86 per second) in thirds of a semitone, when estimated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bends: Option<Vec<i32>>,
}

impl Note {
    /// The MIDI velocity, 1..=127.
    pub fn velocity(&self) -> u8 {
        (127.0 * self.amplitude).round().clamp(1.0, 127.0) as u8
    }
}

/// Creates notes from activations, sorted by start time, then pitch.
pub fn notes_from_activations(act: &Activations, settings: &NoteSettings) -> Vec<Note> {
    let thresholds = notes::Thresholds {
        onset: settings.onset_threshold,
        frame: settings.frame_threshold,
        min_frames: settings.min_note_frames(),
    };
    let mut out: Vec<Note> = notes::decode(act, thresholds)
        .into_iter()
        .map(|n| Note {
            start_s: frame_time(n.start),
            end_s: frame_time(n.end),
            pitch: n.pitch,
            amplitude: n.amplitude,
            bends: settings
                .pitch_bends
                .then(|| bends::pitch_bends(act, n.start, n.end, n.pitch)),
        })
        .collect();
    out.sort_by(|a, b| a.start_s.total_cmp(&b.start_s).then(a.pitch.cmp(&b.pitch)));
    out
}

/// What [`transcribe_file`] or [`transcribe_audio`] found.
#[derive(Debug, Clone)]
pub struct Transcription {
    /// The notes, by start time.
    pub notes: Vec<Note>,
    /// The input's sample rate.
    pub sample_rate: u32,
    /// The input's channel count.
    pub channels: usize,
    /// The input's duration in seconds.
    pub duration_s: f64,
}

/// Transcribes one file: reads it ([`input::load`], `on_block` sees every decoded block), runs
/// the model (`progress(done, total)` in windows) and creates the notes.
pub fn transcribe_file(
    path: &Path,
    model: &BasicPitch,
    settings: &NoteSettings,
    on_block: impl FnMut(&[Vec<f32>], u32),
    progress: impl FnMut(usize, usize),
) -> Result<Transcription, TranscribeError> {
    settings.validate()?;
    let input = input::load(path, on_block)?;
    let act = model.activations(&input.samples, progress)?;
    Ok(Transcription {
        notes: notes_from_activations(&act, settings),
        sample_rate: input.spec.sample_rate,
        channels: input.spec.channels,
        duration_s: input.frames as f64 / f64::from(input.spec.sample_rate),
    })
}

/// [`transcribe_file`] that also measures the file's tempo in the same pass over its audio
/// ([`MusicalAnalyzer`]): the transcription and the tempo in BPM, `None` without a steady beat.
/// What `mixsmith midi` and the plugin's "Export MIDI" write into a MIDI file.
pub fn transcribe_file_with_tempo(
    path: &Path,
    model: &BasicPitch,
    settings: &NoteSettings,
    progress: impl FnMut(usize, usize),
) -> Result<(Transcription, Option<f64>), TranscribeError> {
    let mut tempo: Option<MusicalAnalyzer> = None;
    let transcription = transcribe_file(
        path,
        model,
        settings,
        |block, rate| {
            tempo
                .get_or_insert_with(|| MusicalAnalyzer::new(rate))
                .add_frames(block)
        },
        progress,
    )?;
    Ok((transcription, tempo.and_then(|t| t.finish(false).bpm)))
}

/// Transcribes audio in memory (planar `channels` of equal length at `sample_rate`, e.g. a
/// capture of the plugin's input), converted as [`transcribe_file`] converts a file
/// ([`input::from_channels`]); `progress(done, total)` in windows.
pub fn transcribe_audio<S: AsRef<[f32]>>(
    channels: &[S],
    sample_rate: u32,
    model: &BasicPitch,
    settings: &NoteSettings,
    progress: impl FnMut(usize, usize),
) -> Result<Transcription, TranscribeError> {
    settings.validate()?;
    let samples = input::from_channels(channels, sample_rate)?;
    let act = model.activations(&samples, progress)?;
    let frames = channels.iter().map(|c| c.as_ref().len()).min().unwrap_or(0);
    Ok(Transcription {
        notes: notes_from_activations(&act, settings),
        sample_rate,
        channels: channels.len(),
        duration_s: frames as f64 / f64::from(sample_rate.max(1)),
    })
}

/// Folders searched for the model, in order: `explicit` alone when given; else the folder of
/// `$MIXSMITH_BASIC_PITCH_ONNX`, `<data dir>/mixsmith/models/basic-pitch`, `models/basic-pitch`
/// beside the running binary, and the source tree's `vendor/models/basic-pitch` (where `cargo
/// xtask setup` puts it) above a `target/<profile>/` binary.
pub fn model_search(explicit: Option<&Path>) -> Vec<PathBuf> {
    if let Some(dir) = explicit {
        return vec![dir.to_path_buf()];
    }
    let mut dirs = Vec::new();
    if let Some(file) = std::env::var_os(ENV_MODEL).filter(|v| !v.is_empty()) {
        let file = PathBuf::from(file);
        dirs.push(file.parent().map(Path::to_path_buf).unwrap_or_default());
    }
    if let Some(models) = user_models_dir() {
        dirs.push(models.join("basic-pitch"));
    }
    if let Some(bin_dir) = own_binary_path().as_deref().and_then(Path::parent) {
        dirs.push(bin_dir.join("models/basic-pitch"));
        if let Some(root) = bin_dir.ancestors().nth(2) {
            dirs.push(root.join("vendor/models/basic-pitch"));
        }
    }
    dirs
}

/// The first folder of `search` holding `nmp.onnx`, loaded as a pack (its own `manifest.toml`,
/// else the built-in one) and checked by SHA-256.
pub fn find_model(search: &[PathBuf]) -> Result<ModelPack, TranscribeError> {
    for dir in search {
        if dir.join(MANIFEST_FILE).is_file() {
            return Ok(ModelPack::load(dir)?);
        }
        if dir.join(MODEL_FILE).is_file() {
            let origin = Path::new("built-in models/basic-pitch/manifest.toml");
            let manifest = Manifest::parse(BUILT_IN_MANIFEST, origin)?;
            return Ok(ModelPack::load_with(manifest, origin, dir)?);
        }
    }
    Err(TranscribeError::ModelMissing {
        searched: search.to_vec(),
    })
}

/// Opens and warms up the basic-pitch graph of `pack` in the process-wide ONNX Runtime.
pub fn open_model(pack: &ModelPack) -> Result<BasicPitch, TranscribeError> {
    Ok(BasicPitch::new(pack.open_session(MODEL_FILE)?))
}
