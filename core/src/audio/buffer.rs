//! [`AudioBuffer`]: a whole clip in memory as planar `f32`.

use super::AudioError;

/// A clip held in memory: one `Vec<f32>` per channel, all of the same length, plus its rate.
///
/// Meant for short material (clips, model windows, test signals). Passes over whole files use
/// the streaming [`AudioReader`](super::AudioReader) instead, so memory does not grow with the
/// file's length.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioBuffer {
    sample_rate: u32,
    channels: Vec<Vec<f32>>,
}

impl AudioBuffer {
    /// Builds a buffer from planar channel data.
    ///
    /// Fails if `sample_rate` is 0, there are no channels, or the channels differ in length.
    pub fn from_planar(sample_rate: u32, channels: Vec<Vec<f32>>) -> Result<Self, AudioError> {
        if sample_rate == 0 {
            return Err(AudioError::InvalidArgument(
                "sample rate must be above 0".into(),
            ));
        }
        if channels.is_empty() {
            return Err(AudioError::InvalidArgument(
                "an audio buffer needs at least one channel".into(),
            ));
        }
        let frames = channels[0].len();
        if let Some((i, c)) = channels.iter().enumerate().find(|(_, c)| c.len() != frames) {
            return Err(AudioError::InvalidArgument(format!(
                "channel {i} holds {} frames but channel 0 holds {frames}",
                c.len()
            )));
        }
        Ok(Self {
            sample_rate,
            channels,
        })
    }

    /// A buffer of `frames` frames of silence.
    pub fn silence(sample_rate: u32, channels: usize, frames: usize) -> Result<Self, AudioError> {
        Self::from_planar(sample_rate, vec![vec![0.0; frames]; channels])
    }

    /// The sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// The number of channels.
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// The number of frames (samples per channel).
    pub fn frames(&self) -> usize {
        self.channels[0].len()
    }

    /// The duration in seconds.
    pub fn duration_s(&self) -> f64 {
        self.frames() as f64 / f64::from(self.sample_rate)
    }

    /// All channels, planar.
    pub fn channels(&self) -> &[Vec<f32>] {
        &self.channels
    }

    /// One channel's samples. Panics if `index` is out of range, like slice indexing.
    pub fn channel(&self, index: usize) -> &[f32] {
        &self.channels[index]
    }

    /// One channel's samples, mutable. Panics if `index` is out of range.
    pub fn channel_mut(&mut self, index: usize) -> &mut [f32] {
        &mut self.channels[index]
    }

    /// Gives back the planar channel data.
    pub fn into_channels(self) -> Vec<Vec<f32>> {
        self.channels
    }

    /// The largest absolute sample value over all channels (0 for an empty buffer).
    pub fn peak(&self) -> f32 {
        self.channels
            .iter()
            .flat_map(|c| c.iter())
            .fold(0.0f32, |m, s| m.max(s.abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_ragged_and_empty_input() {
        assert!(AudioBuffer::from_planar(48_000, vec![vec![0.0; 3], vec![0.0; 2]]).is_err());
        assert!(AudioBuffer::from_planar(48_000, vec![]).is_err());
        assert!(AudioBuffer::from_planar(0, vec![vec![0.0]]).is_err());
        let b = AudioBuffer::from_planar(48_000, vec![vec![0.5, -0.75]; 2]).unwrap();
        assert_eq!((b.frames(), b.num_channels()), (2, 2));
        assert_eq!(b.peak(), 0.75);
    }
}
