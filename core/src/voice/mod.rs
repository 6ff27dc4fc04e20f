//! Voice tools: the F0 tracker that the voice converter and `mixsmith voice pitch` use.
//!
//! [`PitchTracker`] follows the fundamental of a singing or speaking voice as a stream with a
//! small fixed latency and no allocation while it runs; [`track`] runs it over a whole signal.
//! Both live in [`pitch`] and are re-exported here.

pub mod pitch;
#[cfg(test)]
mod synth;

pub use pitch::{PitchConfig, PitchConfigError, PitchFrame, PitchTracker, track};
