//! The model's input from any file: decoded, mixed to mono (the mean of the channels) and
//! resampled to 22 050 Hz, in that order, as the reference's `librosa.load(sr=22050, mono=True)`
//! does.

use std::path::Path;

use super::TranscribeError;
use crate::audio::{AudioReader, AudioSpec, Resampler};
use crate::inference::basic_pitch;

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
    let mut resampler = Resampler::new(spec.sample_rate, basic_pitch::SAMPLE_RATE, 1)?;
    let expected = spec.total_frames.map_or(0, |n| {
        (n as f64 * f64::from(basic_pitch::SAMPLE_RATE) / f64::from(spec.sample_rate)) as usize + 1
    });
    let mut out = vec![Vec::with_capacity(expected.min(1 << 28))];
    let mut mono = Vec::new();
    let scale = 1.0 / spec.channels as f32;
    while let Some(block) = reader.next_block()? {
        on_block(block, spec.sample_rate);
        mono.clear();
        mono.extend_from_slice(&block[0]);
        for channel in &block[1..] {
            for (m, &s) in mono.iter_mut().zip(channel) {
                *m += s;
            }
        }
        if block.len() > 1 {
            mono.iter_mut().for_each(|m| *m *= scale);
        }
        resampler.process(&[&mono], &mut out)?;
    }
    resampler.finish(&mut out)?;
    if reader.non_finite_samples() > 0 {
        return Err(TranscribeError::NonFinite {
            path: path.to_path_buf(),
            count: reader.non_finite_samples(),
        });
    }
    let samples = out.pop().unwrap_or_default();
    Ok(ModelInput {
        samples,
        frames: reader.frames_read(),
        spec,
    })
}
