//! The DSP separator on the realtime bridge, for the Stems plugin.

use super::{DspSeparator, STEMS, SeparateError, Separator, Stem};
use crate::realtime::StreamProcessor;

/// The order of the stems in a [`LiveSeparator`]'s output channels. `other` comes first: where
/// the bridge has no separated audio (start-up, an underrun) it puts the delayed input in the
/// first channels, so the whole mix then sits in `other` and the stems still add up to it.
pub const LIVE_ORDER: [Stem; STEMS] = [Stem::Other, Stem::Vocals, Stem::Drums, Stem::Bass];

/// A [`DspSeparator`] as a [`StreamProcessor`]: `channels` in, `STEMS × channels` out, one group
/// of `channels` per stem in [`LIVE_ORDER`] (see [`LiveSeparator::output_channel`]).
pub struct LiveSeparator {
    separator: DspSeparator,
    /// The separator's output for the current chunk, sized once for a whole chunk.
    stems: [Vec<Vec<f32>>; STEMS],
}

impl std::fmt::Debug for LiveSeparator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSeparator")
            .field("separator", &self.separator)
            .finish_non_exhaustive()
    }
}

impl LiveSeparator {
    /// A live separator for `channels` channels at `sample_rate` Hz.
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self, SeparateError> {
        let separator = DspSeparator::new(sample_rate, channels)?;
        let chunk = separator.block_frames();
        Ok(Self {
            separator,
            stems: std::array::from_fn(|_| vec![Vec::with_capacity(chunk); channels]),
        })
    }

    /// The number of output channels: one group of the input's channels per stem.
    pub fn output_channels(&self) -> usize {
        STEMS * self.separator.channels()
    }

    /// The output channel carrying channel `channel` of `stem`, for a separator of `channels`
    /// channels.
    pub fn output_channel(stem: Stem, channel: usize, channels: usize) -> usize {
        let group = LIVE_ORDER
            .iter()
            .position(|s| *s == stem)
            .expect("every stem is in LIVE_ORDER");
        group * channels + channel
    }
}

impl StreamProcessor for LiveSeparator {
    fn chunk_frames(&self) -> usize {
        self.separator.block_frames()
    }

    fn latency_frames(&self) -> usize {
        self.separator.latency()
    }

    fn reset(&mut self) {
        self.separator.reset();
    }

    fn process_chunk(&mut self, input: &[&[f32]], output: &mut [&mut [f32]]) {
        self.separator.process(input, &mut self.stems);
        let channels = input.len();
        for stem in Stem::ALL {
            for (channel, samples) in self.stems[stem.index()].iter().enumerate() {
                output[Self::output_channel(stem, channel, channels)].copy_from_slice(samples);
            }
        }
    }
}
