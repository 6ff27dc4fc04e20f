//! The one error type of the transcription module.

use std::path::PathBuf;

use crate::audio::AudioError;
use crate::inference::InferenceError;

/// Everything that can stop a transcription. Each message names the file or setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum TranscribeError {
    /// The input file could not be read or decoded.
    #[error(transparent)]
    Audio(#[from] AudioError),

    /// ONNX Runtime or the basic-pitch model could not be loaded or run.
    #[error(transparent)]
    Inference(#[from] InferenceError),

    /// No basic-pitch model was found at any of the places searched.
    #[error(
        "the basic-pitch model (nmp.onnx) was not found; searched: {}. Run `cargo xtask setup`, \
         or pass the folder holding nmp.onnx with --model",
        display_paths(.searched)
    )]
    ModelMissing {
        /// Every folder that was looked in, in search order.
        searched: Vec<PathBuf>,
    },

    /// The input holds NaN or infinite samples: transcribing them would invent or hide notes.
    #[error(
        "{}: {count} NaN or infinite sample(s); repair the file (e.g. re-render it) before \
         transcribing",
        .path.display()
    )]
    NonFinite {
        /// The input file.
        path: PathBuf,
        /// How many samples were not finite.
        count: u64,
    },

    /// Audio in memory (e.g. a capture of a plugin's input) holds NaN or infinite samples.
    #[error(
        "the audio holds {count} NaN or infinite sample(s); transcribing them would invent or \
         hide notes"
    )]
    NonFiniteAudio {
        /// How many samples were not finite.
        count: u64,
    },

    /// Audio in memory has no channels.
    #[error("the audio has no channels")]
    NoChannels,

    /// A note-creation setting is out of range.
    #[error("{name} must be {expected}, got {value}")]
    Setting {
        /// The setting, spelled as on the command line.
        name: &'static str,
        /// The accepted range.
        expected: &'static str,
        /// The rejected value.
        value: f64,
    },

    /// The MIDI file could not be written.
    #[error("{}: cannot write the MIDI file: {source}", .path.display())]
    Write {
        /// The output file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "nothing".to_owned();
    }
    let parts: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    parts.join(", ")
}
