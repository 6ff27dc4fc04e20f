//! "Export MIDI" for the Analyze tab: the notes of captured playback or of a file, transcribed
//! with basic-pitch (`mixsmith_core::transcribe`, the code `mixsmith midi` runs) on a background
//! thread with a progress bar, and written to a standard MIDI file at the audio's tempo.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::mixsmith::job::BackgroundJob;
use mixsmith_core::analyze::MusicalAnalyzer;
use mixsmith_core::transcribe::{
    DEFAULT_BPM, NoteSettings, TranscribeError, find_model, open_model, transcribe_audio,
    transcribe_file_with_tempo, write_midi,
};

/// Progress once the model is loaded and the audio is being read.
const LOADED: f32 = 0.1;
/// Progress once every model window has run.
const TRANSCRIBED: f32 = 0.95;

/// Where the audio to transcribe comes from.
pub enum ExportSource {
    /// Audio captured from the host's playback.
    Captured {
        /// One buffer per channel, shared with the tab so it can be exported again.
        audio: Arc<Vec<Vec<f32>>>,
        /// Its sample rate.
        sample_rate: u32,
    },
    /// An audio file chosen by the user.
    File(PathBuf),
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportReport {
    /// The MIDI file written.
    pub midi: PathBuf,
    /// The number of notes in it.
    pub notes: usize,
    /// The tempo written into it (the audio's, else 120 BPM).
    pub tempo_bpm: f64,
    /// Whether `tempo_bpm` was measured (false: no steady beat, the default was written).
    pub tempo_measured: bool,
    /// The transcribed audio's length in seconds.
    pub duration_s: f64,
}

/// A running export: its progress and, at the end, the report or a one-line error.
pub type ExportJob = BackgroundJob<ExportReport>;

impl ExportJob {
    /// Starts transcribing `source` into `output` on a new thread, with the basic-pitch model
    /// found in the first folder of `model_search` that holds it (the editor passes
    /// [`mixsmith_core::transcribe::model_search`]).
    pub fn start(source: ExportSource, output: PathBuf, model_search: Vec<PathBuf>) -> Self {
        BackgroundJob::spawn("mixsmith-midi-export", "export", move |report| {
            export_midi(&source, &output, &model_search, report)
        })
    }
}

/// Transcribes `source` and writes its notes to `output` (`.mid` added when it has no
/// extension), as `mixsmith midi` does: basic-pitch's default settings, the tempo of the audio
/// (120 BPM without a steady beat). Blocking and slow: runs on [`ExportJob`]'s thread.
///
/// Errors are one line for the user: a missing ONNX Runtime or model says to run `cargo xtask
/// setup`, an unreadable file names it.
pub fn export_midi(
    source: &ExportSource,
    output: &Path,
    model_search: &[PathBuf],
    mut progress: impl FnMut(f32),
) -> Result<ExportReport, String> {
    let output = midi_path(output)?;
    if let ExportSource::Captured { audio, .. } = source
        && audio.first().is_none_or(Vec::is_empty)
    {
        return Err("nothing captured yet: press Capture, play in the host, then Stop".into());
    }
    let pack = find_model(model_search).map_err(|e| message(&e))?;
    let model = open_model(&pack).map_err(|e| message(&e))?;
    progress(LOADED);
    let settings = NoteSettings::default();
    let mut windows = |done: usize, total: usize| {
        progress(LOADED + (TRANSCRIBED - LOADED) * done as f32 / total.max(1) as f32);
    };
    let (transcription, measured) = match source {
        ExportSource::Captured { audio, sample_rate } => {
            let mut tempo = MusicalAnalyzer::new(*sample_rate);
            tempo.add_frames(audio.as_slice());
            transcribe_audio(
                audio.as_slice(),
                *sample_rate,
                &model,
                &settings,
                &mut windows,
            )
            .map(|transcription| (transcription, tempo.finish(false).bpm))
        }
        ExportSource::File(path) => {
            transcribe_file_with_tempo(path, &model, &settings, &mut windows)
        }
    }
    .map_err(|e| message(&e))?;
    // The audio's own tempo puts the notes on the DAW's grid; without a steady beat, 120 BPM.
    let tempo_bpm = measured.unwrap_or(DEFAULT_BPM);
    write_midi(&output, &transcription.notes, tempo_bpm).map_err(|e| message(&e))?;
    progress(1.0);
    Ok(ExportReport {
        midi: output,
        notes: transcription.notes.len(),
        tempo_bpm,
        tempo_measured: measured.is_some(),
        duration_s: transcription.duration_s,
    })
}

/// The MIDI file to write: an absolute path in an existing folder, `.mid` added when the name
/// has no extension.
fn midi_path(output: &Path) -> Result<PathBuf, String> {
    if output.as_os_str().is_empty() {
        return Err("choose where to write the MIDI file".into());
    }
    if !output.is_absolute() {
        return Err(format!(
            "{}: give the MIDI file's full path (e.g. /home/me/notes.mid)",
            output.display()
        ));
    }
    let mut output = output.to_path_buf();
    if output.extension().is_none() {
        output.set_extension("mid");
    }
    match output.parent() {
        Some(folder) if folder.is_dir() => Ok(output),
        _ => Err(format!(
            "{}: its folder does not exist; choose another place",
            output.display()
        )),
    }
}

/// One line for the user. ONNX Runtime is loaded once per process, so after fixing a missing
/// runtime the host has to be restarted.
fn message(error: &TranscribeError) -> String {
    match error {
        TranscribeError::ModelMissing { searched } => {
            let folders: Vec<String> = searched.iter().map(|p| p.display().to_string()).collect();
            format!(
                "the basic-pitch model (nmp.onnx) was not found in {}: run `cargo xtask setup`, \
                 or put nmp.onnx in one of those folders",
                folders.join(", ")
            )
        }
        TranscribeError::Inference(inner) if inner.is_runtime_unavailable() => {
            format!("{inner}; then restart the host")
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
