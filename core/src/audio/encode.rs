//! Streaming WAV writing (16-bit, 24-bit integer or 32-bit float) with hound.
//!
//! Samples are written as they come, so writing a 1-hour file needs no more memory than writing
//! a short one. Integer formats clamp to full scale (no dither); NaN and infinite samples are
//! written as 0 and counted; float output keeps values beyond ±1.0 as they are.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::{AudioBuffer, AudioError};

/// The sample encoding of a WAV file written by [`WavWriter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// 16-bit signed integer PCM.
    Int16,
    /// 24-bit signed integer PCM.
    Int24,
    /// 32-bit IEEE float.
    Float32,
}

impl SampleFormat {
    fn hound_spec(self, sample_rate: u32, channels: u16) -> hound::WavSpec {
        let (bits_per_sample, sample_format) = match self {
            SampleFormat::Int16 => (16, hound::SampleFormat::Int),
            SampleFormat::Int24 => (24, hound::SampleFormat::Int),
            SampleFormat::Float32 => (32, hound::SampleFormat::Float),
        };
        hound::WavSpec {
            channels,
            sample_rate,
            bits_per_sample,
            sample_format,
        }
    }
}

/// A WAV file being written, fed with planar blocks.
///
/// Call [`finalize`](Self::finalize) at the end: it writes the final header sizes and reports
/// write errors. Dropping the writer without it also finalises but swallows errors.
pub struct WavWriter {
    path: PathBuf,
    inner: hound::WavWriter<BufWriter<File>>,
    format: SampleFormat,
    channels: usize,
    frames: u64,
    clipped: u64,
    non_finite: u64,
}

impl std::fmt::Debug for WavWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavWriter")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("channels", &self.channels)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl WavWriter {
    /// Creates (or truncates) `path` for `channels` channels at `sample_rate` Hz.
    pub fn create(
        path: impl AsRef<Path>,
        sample_rate: u32,
        channels: usize,
        format: SampleFormat,
    ) -> Result<Self, AudioError> {
        let path = path.as_ref();
        if sample_rate == 0 || channels == 0 || channels > usize::from(u16::MAX) {
            return Err(AudioError::InvalidArgument(format!(
                "cannot write {channels} channels at {sample_rate} Hz to {}",
                path.display()
            )));
        }
        let spec = format.hound_spec(sample_rate, channels as u16);
        let inner = hound::WavWriter::create(path, spec).map_err(|e| hound_error(path, e))?;
        Ok(Self {
            path: path.into(),
            inner,
            format,
            channels,
            frames: 0,
            clipped: 0,
            non_finite: 0,
        })
    }

    /// Appends one planar block: one slice per channel, all of the same length.
    pub fn write_planar<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<(), AudioError> {
        if block.len() != self.channels {
            return Err(AudioError::InvalidArgument(format!(
                "{}: got {} channels for a {}-channel file",
                self.path.display(),
                block.len(),
                self.channels
            )));
        }
        let frames = block[0].as_ref().len();
        if block.iter().any(|c| c.as_ref().len() != frames) {
            return Err(AudioError::InvalidArgument(format!(
                "{}: the channels of a block differ in length",
                self.path.display()
            )));
        }
        for i in 0..frames {
            for ch in block {
                let mut s = ch.as_ref()[i];
                if !s.is_finite() {
                    self.non_finite += 1;
                    s = 0.0;
                }
                let r = match self.format {
                    SampleFormat::Int16 => {
                        let v = self.quantise(s, 32_768.0);
                        self.inner.write_sample(v as i16)
                    }
                    SampleFormat::Int24 => {
                        let v = self.quantise(s, 8_388_608.0);
                        self.inner.write_sample(v)
                    }
                    SampleFormat::Float32 => self.inner.write_sample(s),
                };
                r.map_err(|e| hound_error(&self.path, e))?;
            }
        }
        self.frames += frames as u64;
        Ok(())
    }

    /// Scales to an integer of full scale `scale` (2^(bits-1)) and clamps, counting clips.
    fn quantise(&mut self, s: f32, scale: f32) -> i32 {
        let v = (s * scale).round();
        let max = scale - 1.0;
        if v > max || v < -scale {
            self.clipped += 1;
        }
        v.clamp(-scale, max) as i32
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Samples that were out of range for an integer format and were clamped.
    pub fn clipped_samples(&self) -> u64 {
        self.clipped
    }

    /// NaN or infinite samples that were written as 0.
    pub fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }

    /// Writes the final header and flushes the file.
    pub fn finalize(self) -> Result<(), AudioError> {
        let path = self.path;
        self.inner.finalize().map_err(|e| hound_error(&path, e))
    }
}

/// Writes a whole buffer to a WAV file.
pub fn write_wav(
    path: impl AsRef<Path>,
    buffer: &AudioBuffer,
    format: SampleFormat,
) -> Result<(), AudioError> {
    let mut w = WavWriter::create(path, buffer.sample_rate(), buffer.num_channels(), format)?;
    w.write_planar(buffer.channels())?;
    w.finalize()
}

fn hound_error(path: &Path, e: hound::Error) -> AudioError {
    match e {
        hound::Error::IoError(io) => AudioError::from_io(path, io),
        other => AudioError::InvalidArgument(format!("{}: {other}", path.display())),
    }
}
