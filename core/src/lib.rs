//! The Mixsmith engine.
//!
//! Everything the plugin, the standalone runner and the `mixsmith` CLI share lives here: audio
//! file I/O, DSP, ONNX inference, loudness analysis and the realtime bridge that moves audio
//! between a host's audio callback and background workers. There is no plugin framework and no
//! GUI in this crate, so it can also be used as a library.

pub mod analyze;
pub mod audio;
pub mod client;
pub mod inference;
pub mod master;
pub mod realtime;
pub mod separate;
pub mod transcribe;
pub mod voice;
