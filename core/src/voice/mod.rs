//! Voice tools: the F0 tracker that the voice converter and `mixsmith voice pitch` use.
//!
//! [`PitchTracker`] follows the fundamental of a singing or speaking voice as a stream with a
//! small fixed latency and no allocation while it runs; [`track`] runs it over a whole signal.
//! [`ProfileBuilder`] learns a [`VoiceProfile`] (average timbre, breathiness, range) from
//! reference clips ("clone"), and [`VoiceConverter`] moves a voice's timbre towards a profile
//! as a low-latency stream, allocation-free after it is made. [`RvcConverter`] runs an RVC v2
//! model pack (ContentVec + synthesizer) in overlapping windows instead (see [`rvc`]).

mod convert;
#[cfg(test)]
mod convert_tests;
pub mod envelope;
pub mod pitch;
mod profile;
#[cfg(test)]
mod profile_tests;
pub mod rvc;
mod shift;
#[cfg(test)]
mod shift_tests;
#[cfg(test)]
mod synth;
#[cfg(test)]
mod testvoice;

pub use convert::{
    ConvertSettings, MAX_FORMANT_SEMITONES, MAX_PROTECT, MAX_TRANSPOSE_SEMITONES, VoiceConverter,
    convert,
};
pub use pitch::{PitchConfig, PitchConfigError, PitchFrame, PitchTracker, track};
pub use profile::{
    CLASSES, PROFILE_VERSION, PitchStats, ProfileBuilder, ProfileError, RECOMMENDED_VOICED_SECONDS,
    VoiceProfile, learn,
};
pub use rvc::{RvcConverter, RvcError, RvcSettings};
pub use shift::octave_transpose;
