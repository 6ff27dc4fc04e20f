//! Streaming WAV writing (16-bit, 24-bit integer or 32-bit float).
//!
//! Samples are written as they come, so writing a 1-hour file needs no more memory than writing
//! a short one. Integer formats clamp to full scale (no dither); NaN and infinite samples are
//! written as 0 and counted; float output keeps values beyond ±1.0 as they are.
//!
//! hound builds the header (so the files are byte for byte what hound writes); the sample data
//! is converted a whole block at a time into interleaved little-endian bytes and written with
//! one call, which is several times faster than hound's one-sample-at-a-time writing.

use std::fs::File;
use std::io::{BufWriter, Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use multiversion::multiversion;

use super::{AudioBuffer, AudioError};

/// Bytes buffered before they go to the file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

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

    fn bytes_per_sample(self) -> usize {
        match self {
            SampleFormat::Int16 => 2,
            SampleFormat::Int24 => 3,
            SampleFormat::Float32 => 4,
        }
    }
}

/// A WAV file being written, fed with planar blocks.
///
/// Call [`finalize`](Self::finalize) at the end: it writes the final header sizes and reports
/// write errors. Dropping the writer without it also finalises but swallows errors.
pub struct WavWriter {
    path: PathBuf,
    file: BufWriter<File>,
    format: SampleFormat,
    channels: usize,
    /// Offset of the data chunk's 32-bit length: the last 4 bytes of the header.
    data_len_offset: u64,
    /// Bytes of sample data written so far.
    data_bytes: u64,
    /// Scratch for one block's interleaved bytes.
    bytes: Vec<u8>,
    frames: u64,
    clipped: u64,
    non_finite: u64,
    finalized: bool,
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
        let header = header_bytes(spec).map_err(|e| hound_error(path, e))?;
        let file = File::create(path).map_err(|e| AudioError::from_io(path, e))?;
        let mut file = BufWriter::with_capacity(WRITE_BUFFER_BYTES, file);
        file.write_all(&header)
            .map_err(|e| AudioError::from_io(path, e))?;
        Ok(Self {
            path: path.into(),
            file,
            format,
            channels,
            data_len_offset: header.len() as u64 - 4,
            data_bytes: 0,
            bytes: Vec::new(),
            frames: 0,
            clipped: 0,
            non_finite: 0,
            finalized: false,
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
        if frames == 0 {
            return Ok(());
        }
        let width = self.format.bytes_per_sample();
        let len = frames * self.channels * width;
        // The RIFF sizes are 32-bit: refuse to write a file they cannot describe.
        if self.data_len_offset + 4 + self.data_bytes + len as u64 - 8 > u64::from(u32::MAX) {
            return Err(AudioError::InvalidArgument(format!(
                "{}: too long for a WAV file (over 4 GiB)",
                self.path.display()
            )));
        }
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        bytes.resize(len, 0);
        let (clipped, non_finite) = match self.format {
            // Two's complement: the low bytes of the i32 are the i16 or i24 sample.
            SampleFormat::Int16 => {
                interleave::<2, S>(block, &mut bytes, Encoding::Int { scale: 32_768.0 })
            }
            SampleFormat::Int24 => {
                interleave::<3, S>(block, &mut bytes, Encoding::Int { scale: 8_388_608.0 })
            }
            SampleFormat::Float32 => interleave::<4, S>(block, &mut bytes, Encoding::Float),
        };
        let written = self.file.write_all(&bytes);
        self.bytes = bytes;
        written.map_err(|e| AudioError::from_io(&self.path, e))?;
        self.clipped += clipped;
        self.non_finite += non_finite;
        self.data_bytes += len as u64;
        self.frames += frames as u64;
        Ok(())
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
    pub fn finalize(mut self) -> Result<(), AudioError> {
        self.finish()
            .map_err(|e| AudioError::from_io(&self.path, e))
    }

    /// Writes the RIFF and data chunk sizes and flushes. Runs once.
    fn finish(&mut self) -> std::io::Result<()> {
        self.finalized = true;
        // Both sizes fit in 32 bits: `write_planar` refuses data that would not.
        let riff_size = (self.data_len_offset + 4 - 8 + self.data_bytes) as u32;
        let f = &mut self.file;
        f.seek(SeekFrom::Start(4))?;
        f.write_all(&riff_size.to_le_bytes())?;
        f.seek(SeekFrom::Start(self.data_len_offset))?;
        f.write_all(&(self.data_bytes as u32).to_le_bytes())?;
        f.flush()
    }
}

impl Drop for WavWriter {
    fn drop(&mut self) {
        if !self.finalized {
            let _ = self.finish();
        }
    }
}

/// How [`encode_words`] turns samples into words.
#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// Signed integers of full scale `scale` (2^(bits-1)): the word's low bytes are the sample.
    Int { scale: f32 },
    /// IEEE float bits.
    Float,
}

/// Encodes `samples` into `words` (non-finite samples as 0); returns the counts of clipped and
/// of non-finite samples. At most `u32::MAX` samples per call.
///
/// Integers are scaled, rounded halves away from zero like `f32::round` and clamped: after
/// clamping to one step beyond the range (which keeps every clip a clip), truncation is one
/// instruction and `x - trunc(x)` is exact, so the rounding is exact. Branch-free with 32-bit
/// counters, so the loop runs in full-width vectors; compiled for AVX2 too and picked at run
/// time (`multiversion`).
#[multiversion(targets("x86_64+avx2", "aarch64+neon"))]
fn encode_words(samples: &[f32], words: &mut [u32], encoding: Encoding) -> (u32, u32) {
    let (mut clipped, mut non_finite) = (0u32, 0u32);
    match encoding {
        Encoding::Int { scale } => {
            let (lo, hi) = (-scale, scale - 1.0);
            let (lo_int, hi_int) = (lo as i32, hi as i32);
            for (w, &s) in words.iter_mut().zip(samples) {
                let finite = s.is_finite();
                non_finite += u32::from(!finite);
                let s = if finite { s } else { 0.0 };
                let x = (s * scale).clamp(lo - 1.0, hi + 1.0);
                let t = x as i32;
                let d = x - t as f32;
                let v = t + i32::from(d >= 0.5) - i32::from(d <= -0.5);
                clipped += u32::from((v > hi_int) | (v < lo_int));
                *w = v.clamp(lo_int, hi_int) as u32;
            }
        }
        Encoding::Float => {
            for (w, &s) in words.iter_mut().zip(samples) {
                let finite = s.is_finite();
                non_finite += u32::from(!finite);
                *w = if finite { s.to_bits() } else { 0 };
            }
        }
    }
    (clipped, non_finite)
}

/// Encodes planar `block` into interleaved `bytes` of `W` bytes per sample (the low bytes of
/// each word, little-endian). Returns the clipped and the non-finite counts.
///
/// Two steps per piece of frames: encoding each channel into words ([`encode_words`]), then
/// laying the words' bytes out interleaved.
fn interleave<const W: usize, S: AsRef<[f32]>>(
    block: &[S],
    bytes: &mut [u8],
    encoding: Encoding,
) -> (u64, u64) {
    const PIECE: usize = 1024;
    let channels = block.len();
    let frames = block.first().map_or(0, |c| c.as_ref().len());
    let (mut clipped, mut non_finite) = (0u64, 0u64);
    let mut words = [[0u32; PIECE]; 2];
    let mut encode_into = |words: &mut [u32; PIECE], samples: &[f32]| {
        let (c, n) = encode_words(samples, words, encoding);
        clipped += u64::from(c);
        non_finite += u64::from(n);
    };
    // The word bits that are written.
    let mask = u64::from(u32::MAX) >> (32 - 8 * W);
    for start in (0..frames).step_by(PIECE) {
        let n = PIECE.min(frames - start);
        let out = &mut bytes[start * channels * W..(start + n) * channels * W];
        // Stereo, the common case, encodes both channels and writes each frame as one word.
        if let [left, right] = block {
            for (words, ch) in words.iter_mut().zip([left, right]) {
                encode_into(words, &ch.as_ref()[start..start + n]);
            }
            let [l, r] = &words;
            for ((frame, l), r) in out.chunks_exact_mut(2 * W).zip(l).zip(r) {
                let pair = (u64::from(*l) & mask) | (u64::from(*r) & mask) << (8 * W);
                frame.copy_from_slice(&pair.to_le_bytes()[..2 * W]);
            }
            continue;
        }
        for (c, ch) in block.iter().enumerate() {
            let words = &mut words[0];
            encode_into(words, &ch.as_ref()[start..start + n]);
            for (w, sample) in words.iter().zip(out[c * W..].chunks_mut(channels * W)) {
                sample[..W].copy_from_slice(&w.to_le_bytes()[..W]);
            }
        }
    }
    (clipped, non_finite)
}

/// The header hound writes for `spec` with no data yet, ending with the data chunk's length.
fn header_bytes(spec: hound::WavSpec) -> Result<Vec<u8>, hound::Error> {
    let mut cursor = Cursor::new(Vec::new());
    hound::WavWriter::new(&mut cursor, spec)?.finalize()?;
    Ok(cursor.into_inner())
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What hound's own sample-at-a-time writer produces for the same samples.
    fn hound_bytes(block: &[Vec<f32>], format: SampleFormat) -> Vec<u8> {
        let spec = format.hound_spec(44_100, block.len() as u16);
        let mut cursor = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
        for i in 0..block[0].len() {
            for ch in block {
                let s = if ch[i].is_finite() { ch[i] } else { 0.0 };
                match format {
                    SampleFormat::Int16 => {
                        let v = (s * 32_768.0).round().clamp(-32_768.0, 32_767.0);
                        w.write_sample(v as i16).unwrap();
                    }
                    SampleFormat::Int24 => {
                        let v = (s * 8_388_608.0).round().clamp(-8_388_608.0, 8_388_607.0);
                        w.write_sample(v as i32).unwrap();
                    }
                    SampleFormat::Float32 => w.write_sample(s).unwrap(),
                }
            }
        }
        w.finalize().unwrap();
        cursor.into_inner()
    }

    #[test]
    fn block_writer_matches_hound_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let special = [1.5, -1.5, f32::NAN, f32::INFINITY, 1.0, -1.0, 0.75, -0.5];
        for channels in [1usize, 2, 3] {
            let block: Vec<Vec<f32>> = (0..channels)
                .map(|c| {
                    (0..1001)
                        .map(|i| {
                            if i < special.len() {
                                special[(i + c) % special.len()]
                            } else {
                                ((i * (c + 3)) as f32 * 0.013).sin() * 0.9
                            }
                        })
                        .collect()
                })
                .collect();
            for format in [
                SampleFormat::Int16,
                SampleFormat::Int24,
                SampleFormat::Float32,
            ] {
                let path = dir.path().join(format!("{channels}-{format:?}.wav"));
                let mut w = WavWriter::create(&path, 44_100, channels, format).unwrap();
                // Uneven blocks, including an empty one.
                for (a, b) in [(0, 7), (7, 7), (7, 600), (600, 1001)] {
                    let part: Vec<&[f32]> = block.iter().map(|c| &c[a..b]).collect();
                    w.write_planar(&part).unwrap();
                }
                assert_eq!(w.frames_written(), 1001);
                assert_eq!(w.non_finite_samples(), 2 * channels as u64);
                let clips = if format == SampleFormat::Float32 {
                    0
                } else {
                    3
                };
                assert_eq!(w.clipped_samples(), clips * channels as u64);
                w.finalize().unwrap();
                let ours = std::fs::read(&path).unwrap();
                assert!(
                    ours == hound_bytes(&block, format),
                    "{channels} ch {format:?}"
                );
            }
        }
    }

    #[test]
    fn fast_quantising_equals_round_and_clamp() {
        for scale in [32_768.0f32, 8_388_608.0] {
            let mut values = vec![0.0f32, -0.0, 1.0, -1.0, 2.0, -2.0, 1e20, -1e20];
            for k in [0.0f32, 1.0, 2.0, 1000.0, scale - 2.0, scale - 1.0, scale] {
                for off in [-0.5f32, 0.5, 0.499_999_97, -0.499_999_97] {
                    values.push((k + off) / scale);
                    values.push(-(k + off) / scale);
                }
            }
            let mut x = 0x1234_5678u32;
            for _ in 0..200_000 {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                values.push((x as f32 / u32::MAX as f32) * 2.4 - 1.2);
                let any = f32::from_bits(x);
                if any.is_finite() {
                    values.push(any);
                }
            }
            let mut words = vec![0u32; values.len()];
            let (clipped, non_finite) = encode_words(&values, &mut words, Encoding::Int { scale });
            let mut expected_clips = 0;
            for (s, w) in values.iter().zip(&words) {
                let v = (s * scale).round();
                let expected = v.clamp(-scale, scale - 1.0) as i32;
                expected_clips += u32::from(v > scale - 1.0 || v < -scale);
                assert_eq!(*w as i32, expected, "{s} at {scale}");
            }
            assert_eq!((clipped, non_finite), (expected_clips, 0), "at {scale}");
        }
    }

    #[test]
    fn dropped_writer_still_writes_valid_sizes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drop.wav");
        let block = vec![vec![0.25f32; 10], vec![-0.25f32; 10]];
        {
            let mut w = WavWriter::create(&path, 44_100, 2, SampleFormat::Int24).unwrap();
            w.write_planar(&block).unwrap();
        }
        assert_eq!(
            std::fs::read(&path).unwrap(),
            hound_bytes(&block, SampleFormat::Int24)
        );
    }
}
