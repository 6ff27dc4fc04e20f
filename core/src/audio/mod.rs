//! Audio file I/O and signal helpers.
//!
//! - [`AudioReader`] streams WAV, FLAC, MP3, OGG/Vorbis and AIFF files as planar `f32` blocks
//!   (symphonia); every pass over a file goes through it, so memory does not grow with length.
//! - [`AudioBuffer`] holds a whole clip in memory for short material.
//! - [`WavWriter`] writes 16-bit, 24-bit or 32-bit float WAV files as a stream (hound).
//! - [`Resampler`] converts sample rates with a high-quality windowed-sinc filter (rubato).
//! - [`Stft`] computes centred Hann-window STFTs and their inverse (realfft).
//!
//! Errors are [`AudioError`]s that name the file and the problem.

mod buffer;
mod decode;
mod encode;
mod error;
mod resample;
mod stft;

#[cfg(test)]
mod tests;

pub use buffer::AudioBuffer;
pub use decode::{AudioReader, AudioSpec, read_file};
pub use encode::{SampleFormat, WavWriter, write_wav};
pub use error::AudioError;
pub use resample::{Resampler, resample};
pub(crate) use stft::periodic_hann;
pub use stft::{Spectrogram, Stft};
#[cfg(test)]
pub(crate) mod testutil;
