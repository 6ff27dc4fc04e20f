//! The one error type of the inference module.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong while loading ONNX Runtime, a model pack or a session, or while
/// running a graph. Every variant names the file (and, for manifests, the field) it is about, and
/// its message says what to do. The type is `Clone` because the process-wide runtime handle keeps
/// the outcome of its one load attempt and hands it to every later caller.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InferenceError {
    /// No ONNX Runtime library was found at any of the places searched.
    #[error(
        "ONNX Runtime ({file}) was not found; searched: {}. Run `cargo xtask setup`, set ORT_DYLIB_PATH \
         to the library's absolute path, or copy it into the data folder's `onnxruntime/`",
        display_paths(.searched)
    )]
    RuntimeMissing {
        /// The library file name that was looked for.
        file: String,
        /// Every path that was tried, in search order.
        searched: Vec<PathBuf>,
    },

    /// A library was found but it is an ONNX Runtime older than the one Mixsmith needs.
    #[error(
        "ONNX Runtime at `{}` is version {found}, Mixsmith needs {required} or newer; replace it \
         (run `cargo xtask setup`)",
        .path.display()
    )]
    RuntimeVersion {
        /// The library that was rejected.
        path: PathBuf,
        /// The version string the library reported.
        found: String,
        /// The oldest version that works (`1.<api>.0`).
        required: String,
    },

    /// A file was found at a runtime candidate path but it could not be used as ONNX Runtime:
    /// it is not a loadable library, it lacks `OrtGetApiBase`, or the environment failed.
    #[error("ONNX Runtime at `{}` could not be loaded: {reason}", .path.display())]
    RuntimeLoad {
        /// The library that failed.
        path: PathBuf,
        /// What the loader said.
        reason: String,
    },

    /// A model file could not be opened as an ONNX graph (missing, unreadable, not ONNX, or an
    /// operator the runtime does not support).
    #[error("model file `{}`: {reason}", .path.display())]
    ModelFile {
        /// The model file.
        path: PathBuf,
        /// Why it could not be used.
        reason: String,
    },

    /// A graph's inputs or outputs disagree with what its convention expects.
    #[error(
        "model `{}` does not match the `{convention}` convention: {kind} `{name}`: expected {expected}, got {got}",
        .path.display()
    )]
    ShapeMismatch {
        /// The model file.
        path: PathBuf,
        /// The convention the manifest names.
        convention: super::Convention,
        /// `input` or `output`.
        kind: &'static str,
        /// The input or output name (or its position, `#0`, when the convention does not fix
        /// names).
        name: String,
        /// What the convention expects (names, element type and shape).
        expected: String,
        /// What the graph has.
        got: String,
    },

    /// A `manifest.toml` is not valid TOML.
    #[error("{}: invalid TOML: {message}", .path.display())]
    ManifestSyntax {
        /// The manifest file.
        path: PathBuf,
        /// The TOML parser's message (with line and column).
        message: String,
    },

    /// A `manifest.toml` field is missing or has a bad value.
    #[error("{}: field `{field}`: {problem}", .path.display())]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// The field, e.g. `sample_rate` or `files[1].sha256`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },

    /// A pack file's SHA-256 differs from the one its manifest records.
    #[error(
        "model file `{}` is damaged or was replaced: its SHA-256 is {actual}, the manifest says {expected}",
        .file.display()
    )]
    Checksum {
        /// The file that failed the check.
        file: PathBuf,
        /// The SHA-256 from the manifest.
        expected: String,
        /// The SHA-256 of the file on disk.
        actual: String,
    },

    /// Reading a file failed.
    #[error("cannot read `{}`: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating-system error.
        source: Arc<std::io::Error>,
    },

    /// Running a graph failed (bad input data, or a failure inside ONNX Runtime).
    #[error("running model `{}` failed: {reason}", .path.display())]
    Run {
        /// The model file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl InferenceError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    pub(crate) fn manifest(
        path: impl Into<PathBuf>,
        field: impl Into<String>,
        problem: impl fmt::Display,
    ) -> Self {
        Self::Manifest {
            path: path.into(),
            field: field.into(),
            problem: problem.to_string(),
        }
    }

    pub(crate) fn run(path: impl Into<PathBuf>, reason: impl fmt::Display) -> Self {
        Self::Run {
            path: path.into(),
            reason: reason.to_string(),
        }
    }

    /// True for the errors that mean "no usable ONNX Runtime": callers fall back to their DSP
    /// defaults and show the message once.
    pub fn is_runtime_unavailable(&self) -> bool {
        matches!(
            self,
            Self::RuntimeMissing { .. } | Self::RuntimeVersion { .. } | Self::RuntimeLoad { .. }
        )
    }
}

fn display_paths(paths: &[PathBuf]) -> String {
    if paths.is_empty() {
        return "(nowhere: no candidate location could be determined)".to_owned();
    }
    paths
        .iter()
        .map(|p| format!("`{}`", p.display()))
        .collect::<Vec<_>>()
        .join(", ")
}
