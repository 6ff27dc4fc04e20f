//! The error type of reference mastering.

use crate::audio::AudioError;

/// What went wrong while learning or applying a reference match.
///
/// Variants that concern one input name it (`"target"`, `"reference"` or a file path), so
/// `error: {err}` is a complete one-line message for a user.
#[derive(Debug, thiserror::Error)]
pub enum MasterError {
    /// Reading or writing an audio file failed.
    #[error(transparent)]
    Audio(#[from] AudioError),
    /// An input holds too little audio to analyse.
    #[error(
        "{name}: too short to analyse: {seconds:.2} s of audio, at least {minimum:.1} s is needed"
    )]
    TooShort {
        /// The input (its file name or role).
        name: String,
        /// Its length in seconds.
        seconds: f64,
        /// The minimum length in seconds.
        minimum: f64,
    },
    /// An input is silent (its integrated loudness is below the -70 LUFS gate), so there is no
    /// tone or loudness to measure.
    #[error("{name}: silent: no audio above -70 LUFS to analyse")]
    Silent {
        /// The input (its file name or role).
        name: String,
    },
    /// An input has a channel count mastering does not handle.
    #[error("{name}: {channels} channels: only mono and stereo can be mastered")]
    UnsupportedChannels {
        /// The input (its file name or role).
        name: String,
        /// Its channel count.
        channels: usize,
    },
    /// A setting is out of range.
    #[error("invalid setting {field}: {reason}")]
    InvalidSettings {
        /// The field of [`MatchSettings`](super::MatchSettings) at fault.
        field: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// A sample rate the engine cannot work at (zero, or beyond 768 kHz).
    #[error("{name}: unsupported sample rate {sample_rate} Hz")]
    UnsupportedRate {
        /// The input (its file name or role).
        name: String,
        /// The rate.
        sample_rate: u32,
    },
    /// A stored profile is inconsistent (e.g. curves of the wrong length after a bad edit).
    #[error("invalid match profile: {0}")]
    InvalidProfile(String),
    /// The loudness meter failed (should not happen with valid rates and channel counts).
    #[error("loudness measurement failed: {0}")]
    Loudness(String),
}
