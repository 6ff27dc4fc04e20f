//! The error type of every audio I/O operation.

use std::path::{Path, PathBuf};

/// What went wrong while reading, writing or converting audio.
///
/// Every variant that concerns a file carries its path, and the `Display` text always starts with
/// that path, so `error: {err}` is a complete one-line message for a user.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file does not exist.
    #[error("{}: file not found", path.display())]
    NotFound {
        /// The file that was asked for.
        path: PathBuf,
    },
    /// The file exists but holds no bytes at all.
    #[error("{}: file is empty (0 bytes)", path.display())]
    Empty {
        /// The empty file.
        path: PathBuf,
    },
    /// The file is not in a format or codec this build can decode (or is not a regular file).
    #[error("{}: unsupported: {reason}", path.display())]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// What is unsupported, e.g. "not a recognised audio format".
        reason: String,
    },
    /// The file claims a known format but its contents are malformed.
    #[error("{}: corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, as reported by the demuxer or decoder.
        reason: String,
    },
    /// The file ends before the number of frames its header announces. (Damage inside an MP3
    /// stream, which its demuxer skips without a trace, also shows up this way.)
    ///
    /// The frames that were present have already been delivered when this error is returned:
    /// a reader yields every decodable block first and reports the truncation at the end.
    #[error(
        "{}: truncated: the header announces {expected_frames} frames but only {decoded_frames} could be decoded",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Frames announced by the header.
        expected_frames: u64,
        /// Frames actually decoded.
        decoded_frames: u64,
    },
    /// Any other I/O failure (permissions, a disk error, a directory given as a file...).
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A caller passed an invalid argument (mismatched channel lengths, a zero sample rate...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl AudioError {
    /// The file the error concerns, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            AudioError::NotFound { path }
            | AudioError::Empty { path }
            | AudioError::Unsupported { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::Truncated { path, .. }
            | AudioError::Io { path, .. } => Some(path),
            AudioError::InvalidArgument(_) => None,
        }
    }

    /// Maps an I/O error on `path` to the matching variant ([`AudioError::NotFound`] or
    /// [`AudioError::Io`]).
    pub fn from_io(path: &Path, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            AudioError::NotFound {
                path: path.to_path_buf(),
            }
        } else {
            AudioError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    }
}
