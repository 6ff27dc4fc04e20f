//! The model's input from any file or from audio in memory: mixed to mono (the mean of the
//! channels) and resampled to 22 050 Hz, in that order, as the reference's
//! `librosa.load(sr=22050, mono=True)` does.

use std::path::Path;

use super::TranscribeError;
use crate::audio::{AudioReader, AudioSpec, Resampler};
use crate::inference::basic_pitch;

/// Frames per block when audio in memory is fed to the resampler.
const BLOCK_FRAMES: usize = 8192;

/// A whole file as the model hears it.
#[derive(Debug, Clone)]
pub struct ModelInput {
    /// Mono samples at 22 050 Hz.
    pub samples: Vec<f32>,
    /// The file's own format.
    pub spec: AudioSpec,
    /// Frames read from the file (at its own rate).
    pub frames: u64,
}

/// Mixes planar blocks to mono and resamples them to the model's rate, block by block.
struct ToModelRate {
    resampler: Resampler,
    /// The resampled signal (one channel).
    out: Vec<Vec<f32>>,
    /// The current block mixed to mono (kept to reuse its allocation).
    mono: Vec<f32>,
}

impl ToModelRate {
    /// A converter from `sample_rate`; `frames`, when known, sizes the output once.
    fn new(sample_rate: u32, frames: Option<u64>) -> Result<Self, TranscribeError> {
        let expected = frames.map_or(0, |n| {
            (n as f64 * f64::from(basic_pitch::SAMPLE_RATE) / f64::from(sample_rate)) as usize + 1
        });
        Ok(Self {
            resampler: Resampler::new(sample_rate, basic_pitch::SAMPLE_RATE, 1)?,
            out: vec![Vec::with_capacity(expected.min(1 << 28))],
            mono: Vec::new(),
        })
    }

    /// Adds one planar block (one slice per channel, equal lengths, at least one channel).
    fn push<S: AsRef<[f32]>>(&mut self, block: &[S]) -> Result<(), TranscribeError> {
        let Some((first, rest)) = block.split_first() else {
            return Ok(());
        };
        self.mono.clear();
        self.mono.extend_from_slice(first.as_ref());
        for channel in rest {
            for (m, &s) in self.mono.iter_mut().zip(channel.as_ref()) {
                *m += s;
            }
        }
        if !rest.is_empty() {
            let scale = 1.0 / block.len() as f32;
            self.mono.iter_mut().for_each(|m| *m *= scale);
        }
        self.resampler.process(&[&self.mono], &mut self.out)?;
        Ok(())
    }

    /// Flushes the resampler and returns the signal at 22 050 Hz.
    fn finish(mut self) -> Result<Vec<f32>, TranscribeError> {
        self.resampler.finish(&mut self.out)?;
        Ok(self.out.pop().unwrap_or_default())
    }
}

/// Reads `path` into the model's input. `on_block(block, sample_rate)` sees every decoded
/// planar block first (e.g. for a tempo analyser that wants the original audio in one pass).
///
/// NaN or infinite samples are an error ([`TranscribeError::NonFinite`]).
pub fn load(
    path: &Path,
    mut on_block: impl FnMut(&[Vec<f32>], u32),
) -> Result<ModelInput, TranscribeError> {
    let mut reader = AudioReader::open(path)?;
    let spec = reader.spec().clone();
    let mut convert = ToModelRate::new(spec.sample_rate, spec.total_frames)?;
    while let Some(block) = reader.next_block()? {
        on_block(block, spec.sample_rate);
        convert.push(block)?;
    }
    let samples = convert.finish()?;
    if reader.non_finite_samples() > 0 {
        return Err(TranscribeError::NonFinite {
            path: path.to_path_buf(),
            count: reader.non_finite_samples(),
        });
    }
    Ok(ModelInput {
        samples,
        frames: reader.frames_read(),
        spec,
    })
}

/// The model's input from audio in memory (planar `channels` of equal length at `sample_rate`),
/// converted exactly as [`load`] converts a file's blocks.
///
/// NaN or infinite samples are an error ([`TranscribeError::NonFiniteAudio`]); so are no
/// channels and a sample rate the resampler does not take.
pub fn from_channels<S: AsRef<[f32]>>(
    channels: &[S],
    sample_rate: u32,
) -> Result<Vec<f32>, TranscribeError> {
    if channels.is_empty() {
        return Err(TranscribeError::NoChannels);
    }
    let non_finite = channels
        .iter()
        .flat_map(|channel| channel.as_ref())
        .filter(|s| !s.is_finite())
        .count();
    if non_finite > 0 {
        return Err(TranscribeError::NonFiniteAudio {
            count: non_finite as u64,
        });
    }
    let frames = channels.iter().map(|c| c.as_ref().len()).min().unwrap_or(0);
    let mut convert = ToModelRate::new(sample_rate, Some(frames as u64))?;
    for start in (0..frames).step_by(BLOCK_FRAMES) {
        let end = (start + BLOCK_FRAMES).min(frames);
        let block: Vec<&[f32]> = channels.iter().map(|c| &c.as_ref()[start..end]).collect();
        convert.push(&block)?;
    }
    convert.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: &[Vec<f32>]) {
        let spec = hound::WavSpec {
            channels: channels.len() as u16,
            sample_rate: rate,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        for i in 0..channels[0].len() {
            for c in channels {
                w.write_sample(c[i]).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    #[test]
    fn audio_in_memory_is_converted_like_the_same_audio_in_a_file() {
        let rate = 44_100;
        let left: Vec<f32> = (0..rate * 3)
            .map(|n| (n as f32 * 0.031).sin() * 0.5)
            .collect();
        let right: Vec<f32> = (0..rate * 3)
            .map(|n| (n as f32 * 0.007).cos() * 0.3)
            .collect();
        let channels = vec![left, right];
        let dir = tempfile::tempdir().unwrap();
        let wav = dir.path().join("clip.wav");
        write_wav(&wav, rate, &channels);
        let from_file = load(&wav, |_, _| {}).unwrap().samples;
        let from_memory = from_channels(&channels, rate).unwrap();
        assert_eq!(from_memory.len(), from_file.len());
        let max_error = from_memory
            .iter()
            .zip(&from_file)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0_f32, f32::max);
        // The file's decoder hands the resampler other block sizes; the signal is the same.
        assert!(max_error < 1e-4, "{max_error}");
    }

    #[test]
    fn bad_audio_in_memory_is_refused() {
        let err = from_channels(&[vec![0.0, f32::NAN, f32::INFINITY]], 48_000).unwrap_err();
        assert!(err.to_string().contains("2 NaN or infinite"), "{err}");
        let none: [Vec<f32>; 0] = [];
        assert!(from_channels(&none, 48_000).is_err());
    }
}
