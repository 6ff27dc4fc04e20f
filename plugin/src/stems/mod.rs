//! Mixsmith Stems: separates the mix it is inserted on into vocals, drums, bass and other.
//!
//! The DSP separator ([`LiveSeparator`]) runs on the realtime bridge's worker. Its stems come
//! back a fixed latency later and go out twice: each on its own auxiliary stereo (or mono)
//! output, as separated, so a host can route every stem to a track of its own; and summed at
//! the per-stem gain, mute and solo into the main output, the rebalanced mix. With every stem
//! at 0 dB the main output is the input delayed by the reported latency.

mod editor;
mod mixer;
pub mod params;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use mixsmith_core::realtime::{Bridge, BridgeConfig, EngineStats, RenderMode, flush_subnormals};
use mixsmith_core::separate::{LiveSeparator, STEMS, Stem};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use mixer::{StemMeters, StemMixer, peak_db, publish};
use params::StemsParams;

use crate::suite::{self, TransportFollower};

/// The most channels the main input has (stereo).
const MAX_CHANNELS: usize = 2;

/// The auxiliary outputs' names, in [`Stem::ALL`] order (the bus order hosts show).
const AUX_NAMES: [&str; STEMS] = ["Vocals", "Drums", "Bass", "Other"];

/// The Stems plugin.
pub struct MixsmithStems {
    /// Per-stem gain, mute and solo; shared with the editor and the host.
    params: Arc<StemsParams>,
    /// Engine counters (latency, load, underruns), shared with the editor.
    stats: Arc<EngineStats>,
    /// The current sample rate, for the editor's read-outs.
    sample_rate: Arc<AtomicF32>,
    /// Peak levels per stem and of the mix, for the editor.
    meters: Arc<StemMeters>,
    /// The running bridge, created in `activate()` and dropped in `deactivate()`.
    bridge: Option<Bridge>,
    /// Whether the host renders in realtime or offline, fixed per activation.
    render_mode: RenderMode,
    /// The main input's channel count in this activation.
    channels: usize,
    /// The bridge's output for one block: `STEMS × channels` buffers of the largest block, in
    /// the separator's channel order (sized in `activate()`).
    separated: Vec<Vec<f32>>,
    /// Sums the stems into the main output.
    mixer: StemMixer,
    /// Restarts the stream when the transport jumps.
    transport: TransportFollower,
    /// The editor window's size.
    editor_state: Arc<EguiEditorState>,
}

impl Default for MixsmithStems {
    fn default() -> Self {
        Self {
            params: Arc::new(StemsParams::default()),
            stats: Arc::new(EngineStats::default()),
            sample_rate: Arc::new(AtomicF32::new(48_000.0)),
            meters: Arc::new(StemMeters::default()),
            bridge: None,
            render_mode: RenderMode::Realtime,
            channels: MAX_CHANNELS,
            separated: Vec::new(),
            mixer: StemMixer::new(48_000.0, [1.0; STEMS]),
            transport: TransportFollower::default(),
            editor_state: editor::default_state(),
        }
    }
}

impl MixsmithStems {
    /// Separates frames `start..start + len` of the main buffer (at most one `separated`
    /// buffer long), writes the stems to the auxiliary outputs and the rebalanced mix over the
    /// main buffer.
    fn render(
        &mut self,
        main: &mut [&mut [f32]],
        aux: &mut [Buffer],
        start: usize,
        len: usize,
        gains: [f32; STEMS],
    ) {
        let channels = self.channels;
        let Some(bridge) = self.bridge.as_mut() else {
            return;
        };
        let mut outputs: [&mut [f32]; MAX_CHANNELS * STEMS] = {
            let mut buffers = self.separated.iter_mut();
            std::array::from_fn(|_| buffers.next().map_or(&mut [][..], |b| &mut b[..len]))
        };
        let outputs = &mut outputs[..channels * STEMS];
        {
            let input: [&[f32]; MAX_CHANNELS] =
                std::array::from_fn(|c| &main[c.min(channels - 1)][start..start + len]);
            bridge
                .audio()
                .process_into(&input[..channels], outputs, self.render_mode);
        }
        for (stem, bus) in Stem::ALL.into_iter().zip(aux.iter_mut()) {
            for (channel, out) in bus.as_slice().iter_mut().enumerate().take(channels) {
                let separated = &outputs[LiveSeparator::output_channel(stem, channel, channels)];
                out[start..start + len].copy_from_slice(separated);
            }
        }
        for stem in Stem::ALL {
            let level = peak_db(
                (0..channels).map(|c| &*outputs[LiveSeparator::output_channel(stem, c, channels)]),
            );
            publish(&self.meters.stems[stem.index()], level);
        }
        let mut mix: [&mut [f32]; MAX_CHANNELS] = {
            let mut channels_iter = main.iter_mut();
            std::array::from_fn(|_| {
                channels_iter
                    .next()
                    .map_or(&mut [][..], |c| &mut c[start..start + len])
            })
        };
        let separated = &*outputs;
        self.mixer.mix(
            gains,
            |s, c| separated[LiveSeparator::output_channel(Stem::ALL[s], c, channels)],
            &mut mix[..channels],
        );
        publish(
            &self.meters.mix,
            peak_db(mix[..channels].iter().map(|c| &**c)),
        );
    }
}

impl Plugin for MixsmithStems {
    const NAME: &'static str = "Mixsmith Stems";
    const VENDOR: &'static str = suite::VENDOR;
    const URL: &'static str = suite::URL;
    const EMAIL: &'static str = suite::EMAIL;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            aux_output_ports: &[new_nonzero_u32(2); STEMS],
            names: PortNames {
                layout: Some("Stereo"),
                main_input: Some("Mix"),
                main_output: Some("Rebalanced mix"),
                aux_inputs: &[],
                aux_outputs: &AUX_NAMES,
            },
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            aux_output_ports: &[new_nonzero_u32(1); STEMS],
            names: PortNames {
                layout: Some("Mono"),
                main_input: Some("Mix"),
                main_output: Some("Rebalanced mix"),
                aux_inputs: &[],
                aux_outputs: &AUX_NAMES,
            },
            ..AudioIOLayout::const_default()
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::StemsEditor>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.editor_state.clone(),
            editor::StemsEditor::new(
                self.params.clone(),
                self.stats.clone(),
                self.sample_rate.clone(),
                self.meters.clone(),
            ),
        )
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let channels = audio_io_layout
            .main_input_channels
            .map_or(2, NonZeroU32::get) as usize;
        let sample_rate = buffer_config.sample_rate.round() as u32;
        let separator = match LiveSeparator::new(sample_rate, channels) {
            Ok(separator) => separator,
            Err(error) => {
                nice_error!("Mixsmith Stems cannot run this configuration: {error}");
                return false;
            }
        };
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        let config = BridgeConfig {
            channels,
            output_channels: separator.output_channels(),
            sample_rate: buffer_config.sample_rate,
            max_block_frames: max_block,
        };
        // Drop the previous bridge first, joining its worker.
        self.bridge = None;
        let bridge = match Bridge::start(separator, config, self.stats.clone()) {
            Ok(bridge) => bridge,
            Err(error) => {
                nice_error!("Mixsmith Stems could not start its worker thread: {error}");
                return false;
            }
        };
        context.set_latency_samples(bridge.latency_frames() as u32);
        self.bridge = Some(bridge);
        self.channels = channels;
        self.separated = vec![vec![0.0; max_block]; config.output_channels];
        self.mixer = StemMixer::new(buffer_config.sample_rate, self.params.mix_gains());
        self.sample_rate
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        self.render_mode = suite::render_mode(buffer_config.process_mode);
        true
    }

    fn reset(&mut self) {
        self.transport.reset();
        self.mixer.set(self.params.mix_gains());
        if let Some(bridge) = self.bridge.as_mut() {
            bridge.audio().reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let frames = buffer.samples();
        self.transport.follow(
            context.transport(),
            frames,
            self.bridge.as_mut().map(Bridge::audio),
        );
        let gains = self.params.mix_gains();
        let block = self.separated.first().map_or(0, Vec::len);
        if block > 0 {
            let main = buffer.as_slice();
            let mut start = 0;
            while start < frames {
                let len = (frames - start).min(block);
                self.render(main, aux.outputs, start, len, gains);
                start += len;
            }
        }
        // Copied samples (the delayed dry signal) keep any subnormal the host sent; none leaves
        // the plugin.
        for channel in buffer.as_slice() {
            flush_subnormals(channel);
        }
        for bus in aux.outputs.iter_mut() {
            for channel in bus.as_slice() {
                flush_subnormals(channel);
            }
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.bridge = None;
    }
}

impl ClapPlugin for MixsmithStems {
    const CLAP_ID: &'static str = "com.mixsmith.stems";
    const CLAP_DESCRIPTION: Option<&'static str> = Some(
        "Stem separation: vocals, drums, bass and other on their own outputs, and a rebalanced mix",
    );
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Mixing,
        ClapFeature::Utility,
    ];
}

impl Vst3Plugin for MixsmithStems {
    const VST3_CLASS_ID: [u8; 16] = *b"MixsmithStems001";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::Tools];
}
