//! Streaming decoding of WAV, FLAC, MP3, OGG/Vorbis and AIFF with symphonia.
//!
//! [`AudioReader`] opens a file, identifies its format by content (the extension is only a hint,
//! so a FLAC file named `.wav` still decodes) and hands out planar `f32` blocks one at a time.
//! Only the current block is held in memory, so a pass over a 1-hour file uses the same memory as
//! a pass over a 3-minute one. Plain little-endian PCM (16/24/32-bit integer and 32-bit float
//! WAV) is demuxed by symphonia and converted from its packets' bytes directly, which gives the
//! same values as symphonia's decoder at several times its speed.
//!
//! Problems are typed [`AudioError`]s naming the file:
//!
//! - a missing file is [`AudioError::NotFound`], a 0-byte file [`AudioError::Empty`];
//! - bytes that no decoder recognises are [`AudioError::Unsupported`] ("not a recognised audio
//!   format"), a known container whose contents are malformed is [`AudioError::Corrupt`];
//! - a file that ends before the frame count its header announces (e.g. a WAV cut in half)
//!   delivers every frame that is present and then returns [`AudioError::Truncated`] from the
//!   next call, so a caller can keep the partial audio or treat the file as broken; when frames
//!   are missing because packets failed to decode (damaged FLAC or MP3 frames), the error is
//!   [`AudioError::Corrupt`] instead. A few damaged packets within the length tolerance are
//!   skipped and counted in [`AudioReader::skipped_packets`]. Formats that do not announce a
//!   length (MP3 without a Xing/LAME header, some OGG files) cannot be checked for truncation,
//!   and damaged bytes inside PCM data decode as noise: nothing can tell them from audio;
//! - NaN and infinite samples (possible in float WAV files) are replaced by 0 and counted in
//!   [`AudioReader::non_finite_samples`]; they never reach the caller.

use std::fs::File;
use std::path::{Path, PathBuf};

use symphonia::core::audio::{AudioBufferRef, Signal};
use symphonia::core::codecs::{
    CODEC_TYPE_NULL, CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24LE,
    CODEC_TYPE_PCM_S32LE, CodecParameters, CodecType, Decoder, DecoderOptions,
};
use symphonia::core::conv::IntoSample;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::sample::Sample;

use super::{AudioBuffer, AudioError};

/// Consecutive undecodable packets after which a stream is declared corrupt.
const MAX_CONSECUTIVE_DECODE_ERRORS: u32 = 16;

/// What a reader knows about its stream before decoding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioSpec {
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Number of channels.
    pub channels: usize,
    /// Frames per channel announced by the container, when it announces them. Exact for WAV,
    /// AIFF and FLAC; for lossy formats an estimate from the container (or `None`, e.g. for MP3
    /// files without a Xing/LAME header).
    pub total_frames: Option<u64>,
    /// A short name of the codec, e.g. `"pcm_s16le"`, `"flac"`, `"mp3"`, `"vorbis"`.
    pub codec: String,
}

impl AudioSpec {
    /// The announced duration in seconds, when the frame count is known.
    pub fn duration_s(&self) -> Option<f64> {
        self.total_frames
            .map(|n| n as f64 / f64::from(self.sample_rate))
    }
}

/// A streaming decoder over one audio file, yielding planar `f32` blocks.
///
/// ```no_run
/// # fn main() -> Result<(), mixsmith_core::audio::AudioError> {
/// let mut reader = mixsmith_core::audio::AudioReader::open("song.flac")?;
/// let mut peak = 0.0f32;
/// while let Some(block) = reader.next_block()? {
///     for channel in block {
///         peak = channel.iter().fold(peak, |m, s| m.max(s.abs()));
///     }
/// }
/// # Ok(()) }
/// ```
pub struct AudioReader {
    path: PathBuf,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn Decoder>,
    /// Set for plain little-endian PCM (WAV), whose packets are converted straight from their
    /// bytes instead of through the decoder.
    raw_pcm: Option<RawPcm>,
    track_id: u32,
    spec: AudioSpec,
    lossless: bool,
    /// Frames past which decoded audio is dropped (AIFF: symphonia 0.5 counts the 8-byte
    /// SSND offset/block-size header as audio, reading up to two frames past the data).
    frame_limit: Option<u64>,
    /// The current decoded block, planar; `block_pos` frames of it are already consumed.
    block: Vec<Vec<f32>>,
    block_pos: usize,
    frames_decoded: u64,
    non_finite: u64,
    decode_errors: u64,
    /// Places where the demuxer skipped ahead over damaged data (a gap in packet timestamps).
    gaps: u64,
    /// Timestamp the next packet should have if nothing was skipped.
    next_ts: Option<u64>,
    consecutive_errors: u32,
    finished: bool,
}

impl std::fmt::Debug for AudioReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioReader")
            .field("path", &self.path)
            .field("spec", &self.spec)
            .field("frames_decoded", &self.frames_decoded)
            .finish_non_exhaustive()
    }
}

impl AudioReader {
    /// Opens `path`, identifies its format by content and decodes the first block, so a file
    /// whose first packet cannot be decoded fails here rather than later.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| AudioError::from_io(path, e))?;
        if meta.is_dir() {
            return Err(AudioError::Unsupported {
                path: path.into(),
                reason: "is a directory, not an audio file".into(),
            });
        }
        if meta.len() == 0 {
            return Err(AudioError::Empty { path: path.into() });
        }
        let magic = read_magic(path)?;
        let file = File::open(path).map_err(|e| AudioError::from_io(path, e))?;
        let mss = MediaSourceStream::new(Box::new(file), MediaSourceStreamOptions::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let format_opts = FormatOptions {
            enable_gapless: true,
            ..FormatOptions::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &format_opts, &MetadataOptions::default())
            .map_err(|e| probe_error(path, &magic, e))?;
        let format = probed.format;

        let track = format
            .tracks()
            .iter()
            .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
            .ok_or_else(|| AudioError::Unsupported {
                path: path.into(),
                reason: "the file holds no audio track".into(),
            })?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let codec = codec_name(params.codec);
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(what) => AudioError::Unsupported {
                    path: path.into(),
                    reason: format!("codec {codec}: {what}"),
                },
                other => sym_error(path, other),
            })?;
        let sample_rate = params.sample_rate.ok_or_else(|| AudioError::Corrupt {
            path: path.into(),
            reason: "the stream does not state a sample rate".into(),
        })?;
        if sample_rate == 0 {
            return Err(AudioError::Corrupt {
                path: path.into(),
                reason: "the stream states a sample rate of 0 Hz".into(),
            });
        }
        let channels = params.channels.map(|c| c.count()).unwrap_or(0);
        let lossless = is_lossless(&codec);
        let aiff_frames = if container_from_magic(&magic) == Some("AIFF") {
            aiff_frame_count(path)
        } else {
            None
        };
        let total_frames = aiff_frames.or(params.n_frames);

        let mut reader = Self {
            path: path.into(),
            raw_pcm: RawPcm::for_stream(&params, channels),
            format,
            decoder,
            track_id,
            spec: AudioSpec {
                sample_rate,
                channels,
                total_frames,
                codec,
            },
            lossless,
            frame_limit: aiff_frames,
            block: vec![Vec::new(); channels],
            block_pos: 0,
            frames_decoded: 0,
            non_finite: 0,
            decode_errors: 0,
            gaps: 0,
            next_ts: None,
            consecutive_errors: 0,
            finished: false,
        };
        // Decode ahead to the first audio: learns the channel count when the container does not
        // state it and surfaces a corrupt (or empty-but-announced, i.e. truncated) stream at once.
        reader.fill()?;
        if reader.spec.channels == 0 {
            return Err(AudioError::Corrupt {
                path: path.into(),
                reason: "the stream does not state its channel count and holds no audio".into(),
            });
        }
        Ok(reader)
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample rate, channel count and (when known) the announced length.
    pub fn spec(&self) -> &AudioSpec {
        &self.spec
    }

    /// Whether decoding is a plain conversion of the file's bytes (little-endian PCM WAV), as
    /// cheap as copying decoded audio: keeping decoded audio for a second pass gains nothing.
    pub fn decodes_cheaply(&self) -> bool {
        self.raw_pcm.is_some()
    }

    /// Frames handed out so far (per channel).
    pub fn frames_read(&self) -> u64 {
        self.frames_decoded - (self.block_len() - self.block_pos) as u64
    }

    /// NaN or infinite samples met so far; each was replaced by 0.
    pub fn non_finite_samples(&self) -> u64 {
        self.non_finite
    }

    /// Damaged stretches skipped so far: packets that failed to decode plus places where the
    /// demuxer had to skip damaged data to find the next packet. A few are tolerated in lossy
    /// streams; too many in a row, or frames missing at the end because of them, make the
    /// stream [`AudioError::Corrupt`].
    pub fn skipped_packets(&self) -> u64 {
        self.decode_errors + self.gaps
    }

    /// The next block of planar samples (one slice per channel, all of the same length, never
    /// empty), or `None` at the end of the stream.
    ///
    /// Block sizes follow the codec's packets (typically 576–8192 frames). A file cut short
    /// returns its remaining frames first and then [`AudioError::Truncated`].
    pub fn next_block(&mut self) -> Result<Option<&[Vec<f32>]>, AudioError> {
        if !self.fill()? {
            return Ok(None);
        }
        if self.block_pos > 0 {
            let pos = self.block_pos;
            for ch in &mut self.block {
                ch.drain(..pos);
            }
        }
        self.block_pos = self.block_len();
        Ok(Some(&self.block))
    }

    /// Appends up to `max_frames` frames to `out` (one `Vec` per channel; `out.len()` must equal
    /// the channel count) and returns how many were appended: fewer than `max_frames` only at the
    /// end of the stream. Use this for fixed-size chunks.
    pub fn read_frames(
        &mut self,
        out: &mut [Vec<f32>],
        max_frames: usize,
    ) -> Result<usize, AudioError> {
        if out.len() != self.spec.channels {
            return Err(AudioError::InvalidArgument(format!(
                "read_frames got {} output channels for a {}-channel file",
                out.len(),
                self.spec.channels
            )));
        }
        let mut done = 0;
        while done < max_frames && self.fill()? {
            let n = (max_frames - done).min(self.block_len() - self.block_pos);
            for (o, b) in out.iter_mut().zip(&self.block) {
                o.extend_from_slice(&b[self.block_pos..self.block_pos + n]);
            }
            self.block_pos += n;
            done += n;
        }
        Ok(done)
    }

    /// Decodes the rest of the stream into memory. For clips; long files should be streamed.
    pub fn read_all(mut self) -> Result<AudioBuffer, AudioError> {
        let mut channels: Vec<Vec<f32>> = (0..self.spec.channels)
            .map(|_| Vec::with_capacity(self.spec.total_frames.unwrap_or(0).min(1 << 26) as usize))
            .collect();
        while let Some(block) = self.next_block()? {
            for (c, b) in channels.iter_mut().zip(block) {
                c.extend_from_slice(b);
            }
        }
        AudioBuffer::from_planar(self.spec.sample_rate, channels)
    }

    fn block_len(&self) -> usize {
        self.block.first().map_or(0, Vec::len)
    }

    /// Makes sure unread frames are in `block`; `false` at the end of the stream.
    fn fill(&mut self) -> Result<bool, AudioError> {
        while self.block_pos >= self.block_len() {
            if self.finished {
                return Ok(false);
            }
            self.decode_next()?;
        }
        Ok(true)
    }

    /// Decodes one packet into `block` (which may stay empty) or marks the end of the stream.
    fn decode_next(&mut self) -> Result<(), AudioError> {
        for ch in &mut self.block {
            ch.clear();
        }
        self.block_pos = 0;
        let packet = match self.format.next_packet() {
            Ok(p) => p,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return self.end_of_stream();
            }
            // A chained stream changed its parameters: not supported, end at the first link.
            Err(SymError::ResetRequired) => return self.end_of_stream(),
            Err(e) => {
                self.finished = true;
                return Err(sym_error(&self.path, e));
            }
        };
        if packet.track_id() != self.track_id {
            return Ok(());
        }
        if let Some(expected) = self.next_ts
            && packet.ts() > expected
        {
            self.gaps += 1;
        }
        self.next_ts = Some(packet.ts() + packet.dur());
        if packet.buf().is_empty() {
            // The container announced more data than the file holds.
            return self.end_of_stream();
        }
        let decoded = match self.raw_pcm {
            Some(raw) => Ok(Ok(raw.append(packet.buf(), &mut self.block))),
            None => self
                .decoder
                .decode(&packet)
                .map(|decoded| append_decoded(decoded, &mut self.block, &mut self.spec.channels)),
        };
        match decoded {
            Ok(appended) => {
                self.consecutive_errors = 0;
                match appended {
                    Ok(non_finite) => {
                        self.non_finite += non_finite;
                        if let Some(limit) = self.frame_limit {
                            let room = limit.saturating_sub(self.frames_decoded) as usize;
                            for ch in &mut self.block {
                                ch.truncate(room);
                            }
                        }
                        self.frames_decoded += self.block_len() as u64;
                        Ok(())
                    }
                    Err(reason) => {
                        self.finished = true;
                        Err(AudioError::Unsupported {
                            path: self.path.clone(),
                            reason,
                        })
                    }
                }
            }
            Err(SymError::DecodeError(msg)) => {
                self.decode_errors += 1;
                self.consecutive_errors += 1;
                if self.consecutive_errors >= MAX_CONSECUTIVE_DECODE_ERRORS
                    || (self.frames_decoded == 0 && self.consecutive_errors >= 4)
                {
                    self.finished = true;
                    return Err(AudioError::Corrupt {
                        path: self.path.clone(),
                        reason: format!(
                            "{} packets in a row failed to decode: {msg}",
                            self.consecutive_errors
                        ),
                    });
                }
                Ok(())
            }
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                self.end_of_stream()
            }
            Err(e) => {
                self.finished = true;
                Err(sym_error(&self.path, e))
            }
        }
    }

    fn end_of_stream(&mut self) -> Result<(), AudioError> {
        self.finished = true;
        if let Some(expected) = self.spec.total_frames {
            // Lossy decoders may deliver a packet or two less than the container's estimate.
            let tolerance = if self.lossless { 0 } else { 4096 };
            if self.frames_decoded + tolerance < expected && self.skipped_packets() > 0 {
                return Err(AudioError::Corrupt {
                    path: self.path.clone(),
                    reason: format!(
                        "{} damaged stretch(es) could not be decoded ({} of {expected} frames decoded)",
                        self.skipped_packets(),
                        self.frames_decoded
                    ),
                });
            }
            if self.frames_decoded + tolerance < expected {
                return Err(AudioError::Truncated {
                    path: self.path.clone(),
                    expected_frames: expected,
                    decoded_frames: self.frames_decoded,
                });
            }
        }
        Ok(())
    }
}

/// Appends a decoded packet to `block` as `f32`, zeroing non-finite samples. Returns how many
/// were zeroed, or why the packet cannot be used.
fn append_decoded(
    decoded: AudioBufferRef<'_>,
    block: &mut Vec<Vec<f32>>,
    spec_channels: &mut usize,
) -> Result<u64, String> {
    let channels = decoded.spec().channels.count();
    if *spec_channels == 0 {
        *spec_channels = channels;
        *block = vec![Vec::new(); channels];
    }
    if channels != *spec_channels {
        return Err(format!(
            "the channel count changes mid-stream ({spec_channels} -> {channels})"
        ));
    }
    // Integer samples are always finite; only float formats need the scan.
    let float = matches!(decoded, AudioBufferRef::F32(_) | AudioBufferRef::F64(_));
    match decoded {
        AudioBufferRef::U8(b) => copy_planar(&b, block),
        AudioBufferRef::U16(b) => copy_planar(&b, block),
        AudioBufferRef::U24(b) => copy_planar(&b, block),
        AudioBufferRef::U32(b) => copy_planar(&b, block),
        AudioBufferRef::S8(b) => copy_planar(&b, block),
        AudioBufferRef::S16(b) => copy_planar(&b, block),
        AudioBufferRef::S24(b) => copy_planar(&b, block),
        AudioBufferRef::S32(b) => copy_planar(&b, block),
        AudioBufferRef::F32(b) => copy_planar(&b, block),
        AudioBufferRef::F64(b) => copy_planar(&b, block),
    }
    Ok(if float { zero_non_finite(block) } else { 0 })
}

/// Replaces NaN and infinite samples in `block` by 0; returns how many there were.
fn zero_non_finite(block: &mut [Vec<f32>]) -> u64 {
    let mut non_finite = 0;
    for s in block.iter_mut().flatten() {
        if !s.is_finite() {
            *s = 0.0;
            non_finite += 1;
        }
    }
    non_finite
}

/// The little-endian PCM layouts [`AudioReader`] converts itself: symphonia's PCM decoder
/// goes through a generic per-sample buffer, several times slower than this straight
/// conversion, and the values are the same (integers scaled by a power of two are exact, and
/// 32-bit integers round once either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RawPcm {
    S16,
    S24,
    S32,
    F32,
}

impl RawPcm {
    /// The layout of a stream of `channels` with `params`, when it is one of these and every
    /// coded bit is significant (streams that code fewer bits go through the decoder, which
    /// shifts them).
    fn for_stream(params: &CodecParameters, channels: usize) -> Option<Self> {
        let (raw, bits) = match params.codec {
            CODEC_TYPE_PCM_S16LE => (Self::S16, 16),
            CODEC_TYPE_PCM_S24LE => (Self::S24, 24),
            CODEC_TYPE_PCM_S32LE => (Self::S32, 32),
            CODEC_TYPE_PCM_F32LE => (Self::F32, 32),
            _ => return None,
        };
        let coded = params.bits_per_coded_sample.or(params.bits_per_sample);
        (channels > 0 && coded.is_none_or(|b| b == bits)).then_some(raw)
    }

    /// Appends the whole frames in the interleaved `bytes` to `block` (one `Vec` per channel);
    /// returns the count of non-finite samples, which become 0.
    fn append(self, bytes: &[u8], block: &mut [Vec<f32>]) -> u64 {
        match self {
            Self::S16 => deinterleave::<2>(bytes, block, |b| {
                f32::from(i16::from_le_bytes(b)) * (1.0 / 32_768.0)
            }),
            Self::S24 => deinterleave::<3>(bytes, block, |[a, b, c]| {
                (i32::from_le_bytes([0, a, b, c]) >> 8) as f32 * (1.0 / 8_388_608.0)
            }),
            Self::S32 => deinterleave::<4>(bytes, block, |b| {
                i32::from_le_bytes(b) as f32 * (1.0 / 2_147_483_648.0)
            }),
            Self::F32 => {
                deinterleave::<4>(bytes, block, f32::from_le_bytes);
                return zero_non_finite(block);
            }
        }
        // Integer samples are always finite.
        0
    }
}

/// Appends the whole frames of `W`-byte samples in `bytes` to `block`. Mono and stereo, the
/// usual layouts, are converted in one pass over the frames with the frame size known at
/// compile time; other channel counts channel by channel.
fn deinterleave<const W: usize>(
    bytes: &[u8],
    block: &mut [Vec<f32>],
    sample: impl Fn([u8; W]) -> f32,
) {
    let word = |b: &[u8]| -> [u8; W] { std::array::from_fn(|i| b[i]) };
    let frames = bytes.len() / (W * block.len());
    let start = block.first().map_or(0, Vec::len);
    for channel in block.iter_mut() {
        channel.resize(start + frames, 0.0);
    }
    match block {
        [mono] => {
            for (o, b) in mono[start..].iter_mut().zip(bytes.chunks_exact(W)) {
                *o = sample(word(b));
            }
        }
        [left, right] => {
            let outs = left[start..].iter_mut().zip(&mut right[start..]);
            for ((l, r), b) in outs.zip(bytes.chunks_exact(2 * W)) {
                *l = sample(word(&b[..W]));
                *r = sample(word(&b[W..]));
            }
        }
        _ => {
            let frame = W * block.len();
            for (c, out) in block.iter_mut().enumerate() {
                for (o, b) in out[start..].iter_mut().zip(bytes.chunks_exact(frame)) {
                    *o = sample(word(&b[c * W..]));
                }
            }
        }
    }
}

/// Decodes a whole file into memory. For clips; long files should go through [`AudioReader`].
pub fn read_file(path: impl AsRef<Path>) -> Result<AudioBuffer, AudioError> {
    AudioReader::open(path)?.read_all()
}

fn copy_planar<S>(buf: &symphonia::core::audio::AudioBuffer<S>, out: &mut [Vec<f32>])
where
    S: Sample + IntoSample<f32>,
{
    for (c, o) in out.iter_mut().enumerate() {
        o.extend(buf.chan(c).iter().map(|&s| -> f32 { s.into_sample() }));
    }
}

fn read_magic(path: &Path) -> Result<[u8; 12], AudioError> {
    use std::io::Read;
    let mut magic = [0u8; 12];
    let mut f = File::open(path).map_err(|e| AudioError::from_io(path, e))?;
    let mut filled = 0;
    while filled < magic.len() {
        match f.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) => return Err(AudioError::from_io(path, e)),
        }
    }
    Ok(magic)
}

/// The `numSampleFrames` field of an AIFF file's COMM chunk, if it can be read.
fn aiff_frame_count(path: &Path) -> Option<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path).ok()?;
    f.seek(SeekFrom::Start(12)).ok()?;
    let mut header = [0u8; 8];
    // Walk at most a few dozen chunks to find COMM.
    for _ in 0..64 {
        f.read_exact(&mut header).ok()?;
        let size = u64::from(u32::from_be_bytes(header[4..8].try_into().ok()?));
        if &header[..4] == b"COMM" {
            let mut comm = [0u8; 6];
            f.read_exact(&mut comm).ok()?;
            return Some(u64::from(u32::from_be_bytes(comm[2..6].try_into().ok()?)));
        }
        f.seek(SeekFrom::Current((size + size % 2) as i64)).ok()?;
    }
    None
}

/// The container a file's first bytes announce, if any.
fn container_from_magic(magic: &[u8; 12]) -> Option<&'static str> {
    match magic {
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'A', b'V', b'E'] => Some("WAV"),
        [b'R', b'I', b'F', b'F', ..] | [b'R', b'F', b'6', b'4', ..] => Some("RIFF"),
        [b'F', b'O', b'R', b'M', _, _, _, _, b'A', b'I', b'F', _] => Some("AIFF"),
        [b'f', b'L', b'a', b'C', ..] => Some("FLAC"),
        [b'O', b'g', b'g', b'S', ..] => Some("OGG"),
        [b'I', b'D', b'3', ..] => Some("MP3 (ID3)"),
        _ => None,
    }
}

fn probe_error(path: &Path, magic: &[u8; 12], e: SymError) -> AudioError {
    match (e, container_from_magic(magic)) {
        (SymError::IoError(io), container) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            AudioError::Corrupt {
                path: path.into(),
                reason: format!("the {} header is cut short", container.unwrap_or("file")),
            }
        }
        (SymError::IoError(io), _) => AudioError::from_io(path, io),
        (SymError::Unsupported(_), None) => AudioError::Unsupported {
            path: path.into(),
            reason: "not a recognised audio format (WAV, FLAC, MP3, OGG/Vorbis, AIFF)".into(),
        },
        (e, Some(container)) => AudioError::Corrupt {
            path: path.into(),
            reason: format!("looks like {container} but cannot be read: {e}"),
        },
        (e, None) => sym_error(path, e),
    }
}

fn sym_error(path: &Path, e: SymError) -> AudioError {
    match e {
        SymError::IoError(io) => AudioError::from_io(path, io),
        SymError::Unsupported(what) => AudioError::Unsupported {
            path: path.into(),
            reason: what.to_string(),
        },
        other => AudioError::Corrupt {
            path: path.into(),
            reason: other.to_string(),
        },
    }
}

fn is_lossless(codec_name: &str) -> bool {
    codec_name == "flac" || codec_name.starts_with("pcm_") || codec_name.starts_with("adpcm")
}

fn codec_name(codec: CodecType) -> String {
    symphonia::default::get_codecs()
        .get_codec(codec)
        .map(|d| d.short_name.to_string())
        .unwrap_or_else(|| format!("{codec}"))
}
