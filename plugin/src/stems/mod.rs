//! Mixsmith Stems: separates the mix it is inserted on into vocals, drums, bass and other.
//!
//! The DSP separator ([`LiveSeparator`]) runs on the realtime bridge's worker. Its stems come
//! back a fixed latency later and go out twice: each on its own auxiliary stereo (or mono)
//! output, as separated, so a host can route every stem to a track of its own; and summed at
//! the per-stem gain, mute and solo into the main output, the rebalanced mix. With every stem
//! at 0 dB the main output is the input delayed by the reported latency.

pub mod ahead;
mod editor;
pub mod engine;
pub mod mixer;
pub mod params;
#[cfg(test)]
pub(crate) mod tests;

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use mixsmith_core::realtime::{EngineStats, flush_subnormals};
use mixsmith_core::separate::STEMS;
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use ahead::{AheadCommand, AheadShared, AheadThreads};
use crossbeam_channel::Sender;
use engine::{MAX_CHANNELS, StemsEngine};
use mixer::StemMeters;
use params::StemsParams;

use crate::suite::{self, TransportFollower};

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
    /// The running engine, created in `activate()` and dropped (its worker joined) in
    /// `deactivate()`.
    engine: Option<StemsEngine>,
    /// Restarts the stream when the transport jumps.
    transport: TransportFollower,
    /// Separating ahead with a model pack: the chosen pack, progress and status.
    ahead: Arc<AheadShared>,
    /// The capture and separation threads, started in `activate()`.
    ahead_threads: Option<AheadThreads>,
    /// The separation thread's commands, for the editor's "Export stems" (while active).
    commands: Arc<Mutex<Option<Sender<AheadCommand>>>>,
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
            engine: None,
            transport: TransportFollower::default(),
            ahead: Arc::default(),
            ahead_threads: None,
            commands: Arc::default(),
            editor_state: editor::default_state(),
        }
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
                main_input: None,
                main_output: None,
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
                main_input: None,
                main_output: None,
                aux_inputs: &[],
                aux_outputs: &AUX_NAMES,
            },
            ..AudioIOLayout::const_default()
        },
    ];

    // A mute or solo lands on its exact frame: nice-plug splits the block there.
    const SAMPLE_ACCURATE_AUTOMATION: bool = true;

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
                self.ahead.clone(),
                self.commands.clone(),
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
        // Drop the previous engine and threads first, joining their workers.
        self.engine = None;
        self.ahead_threads = None;
        let pack = self
            .params
            .pack
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        self.ahead.set_pack(&pack);
        let sample_rate = buffer_config.sample_rate.round() as u32;
        let (threads, ahead) = match AheadThreads::start(sample_rate, channels, self.ahead.clone())
        {
            Ok(started) => started,
            Err(error) => {
                nice_error!("Mixsmith Stems could not start its threads: {error}");
                return false;
            }
        };
        if let Ok(mut commands) = self.commands.lock() {
            *commands = Some(threads.commands());
        }
        self.ahead_threads = Some(threads);
        let engine = match StemsEngine::start(
            buffer_config.sample_rate,
            channels,
            buffer_config.max_buffer_size as usize,
            suite::render_mode(buffer_config.process_mode),
            self.params.mix_gains(),
            self.meters.clone(),
            self.stats.clone(),
            Some(ahead),
        ) {
            Ok(engine) => engine,
            Err(error) => {
                nice_error!("Mixsmith Stems cannot run this configuration: {error}");
                return false;
            }
        };
        context.set_latency_samples(engine.latency_frames() as u32);
        self.engine = Some(engine);
        self.sample_rate
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        true
    }

    fn reset(&mut self) {
        self.transport.reset();
        let gains = self.params.mix_gains();
        if let Some(engine) = self.engine.as_mut() {
            engine.reset(gains);
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.transport.follow(
            context.transport(),
            buffer.samples(),
            self.engine.as_mut().map(StemsEngine::audio),
        );
        if let Some(engine) = self.engine.as_mut() {
            let mut flat = aux
                .outputs
                .iter_mut()
                .flat_map(|bus| bus.as_slice().iter_mut().map(|channel| &mut **channel));
            let mut stems: [&mut [f32]; MAX_CHANNELS * STEMS] =
                std::array::from_fn(|_| flat.next().unwrap_or(&mut [][..]));
            let transport = context.transport();
            let position = transport.pos_samples().filter(|_| transport.playing);
            engine.process(
                buffer.as_slice(),
                &mut stems,
                self.params.mix_gains(),
                position,
            );
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
        self.engine = None;
        if let Ok(mut commands) = self.commands.lock() {
            *commands = None;
        }
        self.ahead_threads = None;
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
