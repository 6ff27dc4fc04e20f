//! Where the engine reads audio from: whole buffers in memory or files streamed from disk.

use std::path::{Path, PathBuf};

use crate::audio::AudioReader;

use super::MasterError;

/// A rewindable stream of planar audio. Learning reads the target twice (analysis, then the
/// loudness check) and the reference once; rendering reads the target once more.
pub trait AudioSource: Send {
    /// A name for error messages and reports: the file path or a role like `"target"`.
    fn name(&self) -> &str;
    /// Sample rate in Hz.
    fn sample_rate(&self) -> u32;
    /// Channel count.
    fn channels(&self) -> usize;
    /// Length in frames, when known before reading.
    fn total_frames(&self) -> Option<u64>;
    /// Goes back to the first frame.
    fn rewind(&mut self) -> Result<(), MasterError>;
    /// Replaces the contents of `out` (one `Vec` per channel) with up to `max_frames` frames and
    /// returns how many were read: fewer only at the end of the stream. Never yields NaN or
    /// infinite samples (they are replaced by 0 and counted).
    fn read(&mut self, out: &mut [Vec<f32>], max_frames: usize) -> Result<usize, MasterError>;
    /// NaN or infinite samples met so far and replaced by 0.
    fn non_finite_samples(&self) -> u64;
}

/// Planar audio held in memory (e.g. a clip captured by the plugin).
#[derive(Debug, Clone)]
pub struct BufferSource<'a> {
    name: String,
    sample_rate: u32,
    channels: &'a [Vec<f32>],
    frames: usize,
    position: usize,
    non_finite: u64,
}

impl<'a> BufferSource<'a> {
    /// A source over `channels` (one `Vec` per channel; the shortest sets the length).
    pub fn new(name: impl Into<String>, sample_rate: u32, channels: &'a [Vec<f32>]) -> Self {
        let frames = channels.iter().map(Vec::len).min().unwrap_or(0);
        Self {
            name: name.into(),
            sample_rate,
            channels,
            frames,
            position: 0,
            non_finite: 0,
        }
    }
}

impl AudioSource for BufferSource<'_> {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn channels(&self) -> usize {
        self.channels.len()
    }

    fn total_frames(&self) -> Option<u64> {
        Some(self.frames as u64)
    }

    fn rewind(&mut self) -> Result<(), MasterError> {
        self.position = 0;
        self.non_finite = 0;
        Ok(())
    }

    fn read(&mut self, out: &mut [Vec<f32>], max_frames: usize) -> Result<usize, MasterError> {
        let n = max_frames.min(self.frames - self.position);
        for (o, c) in out.iter_mut().zip(self.channels) {
            o.clear();
            for &s in &c[self.position..self.position + n] {
                if s.is_finite() {
                    o.push(s);
                } else {
                    self.non_finite += 1;
                    o.push(0.0);
                }
            }
        }
        self.position += n;
        Ok(n)
    }

    fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }
}

/// An audio file decoded as a stream (symphonia through [`AudioReader`]): memory does not grow
/// with the file's length. Rewinding reopens the file.
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    name: String,
    reader: AudioReader,
}

impl FileSource {
    /// Opens `path` (WAV, FLAC, MP3, OGG/Vorbis, AIFF).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MasterError> {
        let path = path.as_ref();
        let reader = AudioReader::open(path)?;
        Ok(Self {
            path: path.into(),
            name: path.display().to_string(),
            reader,
        })
    }
}

impl AudioSource for FileSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.reader.spec().sample_rate
    }

    fn channels(&self) -> usize {
        self.reader.spec().channels
    }

    fn total_frames(&self) -> Option<u64> {
        self.reader.spec().total_frames
    }

    fn rewind(&mut self) -> Result<(), MasterError> {
        self.reader = AudioReader::open(&self.path)?;
        Ok(())
    }

    fn read(&mut self, out: &mut [Vec<f32>], max_frames: usize) -> Result<usize, MasterError> {
        for o in out.iter_mut() {
            o.clear();
        }
        Ok(self.reader.read_frames(out, max_frames)?)
    }

    fn non_finite_samples(&self) -> u64 {
        self.reader.non_finite_samples()
    }
}
