//! The Stems plugin's audio path, apart from the plugin API so a bench can drive it: the input
//! goes through the DSP separator on the realtime bridge, the stems come back a fixed latency
//! later, go to the auxiliary outputs as separated and into the main output at their gains.

use std::sync::Arc;

use mixsmith_core::realtime::{Bridge, BridgeAudio, BridgeConfig, EngineStats, RenderMode};
use mixsmith_core::separate::{LiveSeparator, STEMS, Stem};

use super::ahead::AheadAudio;
use super::mixer::{StemMeters, StemMixer, peak_db, publish};

/// The most channels the main input has (stereo).
pub const MAX_CHANNELS: usize = 2;

/// A running Stems engine: the bridge with its separator, and the mix.
pub struct StemsEngine {
    /// The bridge running a [`LiveSeparator`] on its worker.
    bridge: Bridge,
    /// Whether blocks wait for the worker (offline) or never do (realtime).
    mode: RenderMode,
    /// The main input's channel count.
    channels: usize,
    /// The bridge's output for one block: `STEMS × channels` buffers of the largest block, in
    /// the separator's channel order.
    separated: Vec<Vec<f32>>,
    /// Sums the stems into the main output.
    mixer: StemMixer,
    /// Peak levels for the editor.
    meters: Arc<StemMeters>,
    /// Captures playback for a model pack and plays what it separated, when there is one.
    ahead: Option<AheadAudio>,
}

impl StemsEngine {
    /// Starts an engine for `channels` (1 or 2) at `sample_rate` Hz and blocks of up to
    /// `max_block` frames, mixing at `gains` to begin with, with `ahead` for a model pack.
    /// Allocates everything the audio thread will use; call it from `activate()`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        sample_rate: f32,
        channels: usize,
        max_block: usize,
        mode: RenderMode,
        gains: [f32; STEMS],
        meters: Arc<StemMeters>,
        stats: Arc<EngineStats>,
        ahead: Option<AheadAudio>,
    ) -> Result<Self, String> {
        if !(1..=MAX_CHANNELS).contains(&channels) {
            return Err(format!("{channels} channels (mono or stereo only)"));
        }
        let separator = LiveSeparator::new(sample_rate.round() as u32, channels)
            .map_err(|error| error.to_string())?;
        let max_block = max_block.max(1);
        let config = BridgeConfig {
            channels,
            output_channels: separator.output_channels(),
            sample_rate,
            max_block_frames: max_block,
        };
        let bridge = Bridge::start(separator, config, stats)
            .map_err(|error| format!("could not start the worker thread: {error}"))?;
        Ok(Self {
            bridge,
            mode,
            channels,
            separated: vec![vec![0.0; max_block]; config.output_channels],
            mixer: StemMixer::new(sample_rate, gains),
            meters,
            ahead,
        })
    }

    /// The latency to report, in frames.
    pub fn latency_frames(&self) -> usize {
        self.bridge.latency_frames()
    }

    /// The bridge's audio-thread side (for a transport jump's reset).
    pub fn audio(&mut self) -> &mut BridgeAudio {
        self.bridge.audio()
    }

    /// Restarts the stream and jumps the mix to `gains` (a host reset).
    pub fn reset(&mut self, gains: [f32; STEMS]) {
        self.bridge.audio().reset();
        self.mixer.set(gains);
    }

    /// Processes one host block played at timeline `position` (`None` when the transport is
    /// stopped): `main` (one slice per channel) is the input and becomes the rebalanced mix;
    /// `aux` holds the auxiliary outputs' channels, stem by stem in [`Stem::ALL`] order (fewer
    /// when a host connects fewer). Allocation-free.
    pub fn process(
        &mut self,
        main: &mut [&mut [f32]],
        aux: &mut [&mut [f32]],
        gains: [f32; STEMS],
        position: Option<i64>,
    ) {
        let frames = main.first().map_or(0, |c| c.len());
        let block = self.separated.first().map_or(0, Vec::len);
        let mut start = 0;
        while start < frames {
            let len = (frames - start).min(block);
            let at = position.map(|p| p + start as i64);
            self.render(main, aux, start..start + len, gains, at);
            start += len;
        }
    }

    /// [`Self::process`] for the frames `range` (played at `position`), at most one
    /// `separated` buffer long.
    fn render(
        &mut self,
        main: &mut [&mut [f32]],
        aux: &mut [&mut [f32]],
        range: std::ops::Range<usize>,
        gains: [f32; STEMS],
        position: Option<i64>,
    ) {
        let channels = self.channels;
        let len = range.len();
        let mut outputs: [&mut [f32]; MAX_CHANNELS * STEMS] = {
            let mut buffers = self.separated.iter_mut();
            std::array::from_fn(|_| buffers.next().map_or(&mut [][..], |b| &mut b[..len]))
        };
        let outputs = &mut outputs[..channels * STEMS];
        {
            let input: [&[f32]; MAX_CHANNELS] =
                std::array::from_fn(|c| &main[c.min(channels - 1)][range.clone()]);
            self.bridge
                .audio()
                .process_into(&input[..channels], outputs, self.mode);
            if let Some(ahead) = self.ahead.as_mut() {
                ahead.hear(position, &input[..channels]);
                if let Some(position) = position {
                    let latency = self.bridge.latency_frames();
                    ahead.overlay(position, latency, outputs, self.mode);
                }
            }
        }
        let separated = &*outputs;
        let stem_channel = |stem: Stem, channel: usize| -> &[f32] {
            separated[LiveSeparator::output_channel(stem, channel, channels)]
        };
        for stem in Stem::ALL {
            for channel in 0..channels {
                if let Some(out) = aux.get_mut(stem.index() * channels + channel) {
                    out[range.clone()].copy_from_slice(stem_channel(stem, channel));
                }
            }
            let level = peak_db((0..channels).map(|c| stem_channel(stem, c)));
            publish(&self.meters.stems[stem.index()], level);
        }
        let mut mix: [&mut [f32]; MAX_CHANNELS] = {
            let mut main = main.iter_mut();
            std::array::from_fn(|_| main.next().map_or(&mut [][..], |c| &mut c[range.clone()]))
        };
        self.mixer.mix(
            gains,
            |s, c| stem_channel(Stem::ALL[s], c),
            &mut mix[..channels],
        );
        publish(
            &self.meters.mix,
            peak_db(mix[..channels].iter().map(|c| &**c)),
        );
    }
}
