//! Where the engine reads audio from: whole buffers in memory or files streamed from disk.

use std::path::{Path, PathBuf};

use crate::audio::AudioReader;

use super::MasterError;

/// A rewindable stream of planar audio. Learning reads the target and the reference once (the
/// target again for each loudness-priority pass); rendering reads the target once more.
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

/// Samples (over all channels) a [`FileSource`] keeps in memory for rewinds: 256 MB, about
/// 12 minutes of stereo at 44.1 kHz.
pub const CACHE_SAMPLES: usize = 1 << 26;

/// An audio file decoded as a stream (symphonia through [`AudioReader`]).
///
/// A compressed file (FLAC, MP3, ...) of up to [`CACHE_SAMPLES`] samples is kept in memory as
/// it is first read, so that after [`rewind`](AudioSource::rewind) (learning, then rendering)
/// it is replayed instead of decoded again; a longer file is decoded again from the start, so
/// memory never grows past the cap. PCM WAV is not kept: converting its bytes again costs less
/// than filling and replaying a copy ([`AudioReader::decodes_cheaply`]).
#[derive(Debug)]
pub struct FileSource {
    path: PathBuf,
    name: String,
    reader: AudioReader,
    /// Everything read since the first frame while it fits the cap; `None` once it does not.
    cache: Option<Vec<Vec<f32>>>,
    /// The cap in samples ([`CACHE_SAMPLES`]; smaller in tests).
    cache_limit: usize,
    /// Whether `cache` holds the whole file (its end was read).
    cached_to_end: bool,
    /// Frames replayed from the cache since the last rewind; `None` while decoding.
    replay: Option<usize>,
}

impl FileSource {
    /// Opens `path` (WAV, FLAC, MP3, OGG/Vorbis, AIFF).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, MasterError> {
        let path = path.as_ref();
        let reader = AudioReader::open(path)?;
        let limit = if reader.decodes_cheaply() {
            0
        } else {
            CACHE_SAMPLES
        };
        Ok(Self::with_reader(path, reader, limit))
    }

    /// Opens `path` without keeping anything for rewinds (which decode it again): for an input
    /// read once, like the reference, whose copy in memory would only cost time and memory.
    pub fn streaming(path: impl AsRef<Path>) -> Result<Self, MasterError> {
        Self::with_cache_limit(path.as_ref(), 0)
    }

    /// Opens `path`, keeping at most `cache_limit` samples in memory for rewinds.
    pub(crate) fn with_cache_limit(path: &Path, cache_limit: usize) -> Result<Self, MasterError> {
        Ok(Self::with_reader(
            path,
            AudioReader::open(path)?,
            cache_limit,
        ))
    }

    fn with_reader(path: &Path, reader: AudioReader, cache_limit: usize) -> Self {
        let fits = reader.spec().total_frames.is_none_or(|frames| {
            frames.saturating_mul(reader.spec().channels as u64) <= cache_limit as u64
        });
        let cache = fits.then(|| {
            let frames = reader.spec().total_frames.unwrap_or(0) as usize;
            (0..reader.spec().channels)
                .map(|_| Vec::with_capacity(frames))
                .collect()
        });
        Self {
            path: path.into(),
            name: path.display().to_string(),
            reader,
            cache,
            cache_limit,
            cached_to_end: false,
            replay: None,
        }
    }

    /// Keeps the frames just read in `out` in the cache, or drops the cache when they would
    /// pass the cap.
    fn remember(&mut self, out: &[Vec<f32>], frames: usize, max_frames: usize) {
        let Some(cache) = &mut self.cache else {
            return;
        };
        let held = cache.first().map_or(0, Vec::len);
        if (held + frames) * cache.len() > self.cache_limit {
            self.cache = None;
            return;
        }
        for (c, o) in cache.iter_mut().zip(out) {
            c.extend_from_slice(o);
        }
        self.cached_to_end = frames < max_frames;
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
        if self.cache.is_some() && self.cached_to_end {
            self.replay = Some(0);
            return Ok(());
        }
        self.reader = AudioReader::open(&self.path)?;
        // A file read only partly is cached from the start again; one past the cap is not.
        if let Some(cache) = &mut self.cache {
            cache.iter_mut().for_each(Vec::clear);
        }
        self.replay = None;
        Ok(())
    }

    fn read(&mut self, out: &mut [Vec<f32>], max_frames: usize) -> Result<usize, MasterError> {
        for o in out.iter_mut() {
            o.clear();
        }
        if let (Some(position), Some(cache)) = (&mut self.replay, &self.cache) {
            let n = max_frames.min(cache.first().map_or(0, Vec::len) - *position);
            for (o, c) in out.iter_mut().zip(cache) {
                o.extend_from_slice(&c[*position..*position + n]);
            }
            *position += n;
            return Ok(n);
        }
        let n = self.reader.read_frames(out, max_frames)?;
        self.remember(out, n, max_frames);
        Ok(n)
    }

    /// While replaying from the cache, the count of the whole file (met when it was decoded).
    fn non_finite_samples(&self) -> u64 {
        self.reader.non_finite_samples()
    }
}
