//! Mixsmith Voice: moves the timbre of the voice on its track towards a learned voice profile,
//! keeping the melody, timing and words as sung.
//!
//! The DSP converter runs on the audio thread itself ([`engine`]): it is allocation-free, costs
//! a few percent of a core and adds one analysis frame of latency (about 21 ms at 48 kHz),
//! reported to the host. The profile comes from a file written by `mixsmith voice clone`, or is
//! learned in the plugin ("Learn voice") from what the host plays or from a picked file, on the
//! monitor thread ([`monitor`]), which also follows the pitch going in and coming out for the
//! editor's plot. The profile is saved in the plugin state, so a reopened project sounds the
//! same without the file. An offline render equals `mixsmith voice convert` on the same input,
//! delayed by the latency.
//!
//! With an RVC v2 pack picked ([`pack`]; its folder saved in the state) the conversion runs on
//! the realtime bridge's worker instead, with the pack's latency (about 1.8 s): realtime never
//! waits for it (a late block is the delayed dry signal, counted as an underrun), offline
//! waits, so a render equals `mixsmith voice convert --model PACK`.

mod editor;
pub mod engine;
pub mod monitor;
pub mod pack;
pub mod params;
#[cfg(test)]
mod rvc_tests;
#[cfg(test)]
mod tests;

use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use crossbeam_channel::Sender;
use mixsmith_core::realtime::flush_subnormals;
use mixsmith_core::voice::{ConvertSettings, VoiceProfile};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

use engine::{EngineLinks, VoiceControls, VoiceEngine};
use monitor::{Monitor, VoiceCommand, VoiceShared};
use pack::PackCache;
use params::VoiceParams;

use crate::suite::{self, TransportFollower};

/// The Voice plugin.
pub struct MixsmithVoice {
    /// Conversion controls and the saved profile; shared with the editor and the host.
    params: Arc<VoiceParams>,
    /// The current sample rate, for the editor's read-outs.
    sample_rate: Arc<AtomicF32>,
    /// Pitch history, learning progress and status, shared with the monitor and the editor.
    shared: Arc<VoiceShared>,
    /// The running engine, created in `activate()`.
    engine: Option<VoiceEngine>,
    /// The monitor thread, started in `activate()` and joined in `deactivate()`.
    monitor: Option<Monitor>,
    /// The monitor's commands, for the editor (while active).
    commands: Arc<Mutex<Option<Sender<VoiceCommand>>>>,
    /// The RVC pack last loaded, kept across activations; shared with the editor, which loads
    /// a chosen pack before asking for the restart (never locked on the audio thread).
    packs: Arc<Mutex<PackCache>>,
    /// Restarts the pack's stream when the transport jumps.
    transport: TransportFollower,
    /// The editor window's size.
    editor_state: Arc<EguiEditorState>,
}

impl Default for MixsmithVoice {
    fn default() -> Self {
        Self {
            params: Arc::new(VoiceParams::default()),
            sample_rate: Arc::new(AtomicF32::new(48_000.0)),
            shared: Arc::default(),
            engine: None,
            monitor: None,
            commands: Arc::default(),
            packs: Arc::default(),
            transport: TransportFollower::default(),
            editor_state: editor::default_state(),
        }
    }
}

impl MixsmithVoice {
    /// The controls in force, from the host's parameters.
    fn controls(&self) -> VoiceControls {
        VoiceControls {
            convert: ConvertSettings {
                amount: self.params.amount.value() / 100.0,
                formant_semitones: self.params.formant.value(),
                protect: self.params.protect.value(),
                transpose_semitones: self.params.transpose.value(),
            },
            wet: self.params.dry_wet.value() / 100.0,
            bypass: self.params.bypass.value(),
        }
    }

    /// The engine for this activation: with the pack named in the state when there is one
    /// and it loads (its sessions created and warmed here, off the audio thread), else with
    /// the DSP converter, the pack's line saying why.
    fn start_engine(
        &mut self,
        channels: usize,
        config: &BufferConfig,
    ) -> Result<(VoiceEngine, EngineLinks), String> {
        let (rate, block) = (config.sample_rate, config.max_buffer_size as usize);
        let folder = self
            .params
            .pack
            .read()
            .map(|p| p.clone())
            .unwrap_or_default();
        if let Ok(mut rvc) = self.shared.rvc.lock() {
            *rvc = None;
        }
        if folder.is_empty() {
            self.shared.set_pack_status("");
            return VoiceEngine::new(rate, channels, block);
        }
        let started = self
            .packs
            .lock()
            .map_err(|_| "the pack cache is unusable after a crash".to_owned())
            .and_then(|mut packs| packs.load(&folder))
            .and_then(|converter| {
                VoiceEngine::with_pack(
                    rate,
                    channels,
                    block,
                    converter,
                    suite::render_mode(config.process_mode),
                    self.shared.stats.clone(),
                )
            });
        match started {
            Ok((engine, links, stream)) => {
                if let Ok(mut rvc) = self.shared.rvc.lock() {
                    *rvc = Some(stream);
                }
                self.shared.set_pack_status(format!(
                    "Converting with the RVC pack {folder} (latency {:.0} ms; Amount, Formant \
                     and Protect apply to the DSP converter only).",
                    engine.latency_frames() as f64 * 1000.0 / f64::from(rate)
                ));
                Ok((engine, links))
            }
            Err(error) => {
                nice_error!("Mixsmith Voice: {error}");
                self.shared
                    .set_pack_status(format!("{error}. The DSP converter runs instead."));
                VoiceEngine::new(rate, channels, block)
            }
        }
    }

    /// The profile saved in the state, if there is one and it is valid.
    fn saved_profile(&self) -> Option<VoiceProfile> {
        let json = self.params.profile.read().ok()?.clone();
        if json.is_empty() {
            return None;
        }
        match VoiceProfile::from_json(&json) {
            Ok(profile) => Some(profile),
            Err(error) => {
                self.shared
                    .set_status(format!("The saved profile is unusable: {error}"));
                None
            }
        }
    }
}

impl Plugin for MixsmithVoice {
    const NAME: &'static str = "Mixsmith Voice";
    const VENDOR: &'static str = suite::VENDOR;
    const URL: &'static str = suite::URL;
    const EMAIL: &'static str = suite::EMAIL;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            names: PortNames::const_default(),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            names: PortNames::const_default(),
            ..AudioIOLayout::const_default()
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::VoiceEditor>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(
            self.editor_state.clone(),
            editor::VoiceEditor::new(
                self.params.clone(),
                self.sample_rate.clone(),
                self.shared.clone(),
                self.commands.clone(),
                self.packs.clone(),
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
            .map_or(1, NonZeroU32::get) as usize;
        // Join the previous monitor before its engine goes.
        self.monitor = None;
        self.engine = None;
        let (engine, mut links) = match self.start_engine(channels, buffer_config) {
            Ok(started) => started,
            Err(error) => {
                // The host's audio still passes, untouched and without latency.
                nice_error!("Mixsmith Voice cannot convert at {error}: passing audio through");
                context.set_latency_samples(0);
                self.shared.latency_frames.store(0, Ordering::Relaxed);
                self.shared.set_pack_status("");
                self.shared.set_status(format!(
                    "Not converting at {error}: the audio passes unchanged."
                ));
                return true;
            }
        };
        if let Some(profile) = self.saved_profile() {
            let _ = links.profile.publish(Some(Arc::new(profile)));
        }
        let monitor = match Monitor::start(
            buffer_config.sample_rate,
            links,
            self.params.clone(),
            self.shared.clone(),
        ) {
            Ok(monitor) => monitor,
            Err(error) => {
                nice_error!("Mixsmith Voice could not start its monitor thread: {error}");
                return false;
            }
        };
        if let Ok(mut commands) = self.commands.lock() {
            *commands = Some(monitor.commands());
        }
        let latency = engine.latency_frames();
        context.set_latency_samples(latency as u32);
        self.shared
            .latency_frames
            .store(latency as u32, Ordering::Relaxed);
        self.engine = Some(engine);
        self.monitor = Some(monitor);
        self.sample_rate
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        true
    }

    fn reset(&mut self) {
        self.transport.reset();
        if let Some(engine) = self.engine.as_mut() {
            engine.reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.transport.follow(
            context.transport(),
            buffer.samples(),
            self.engine.as_mut().and_then(VoiceEngine::bridge),
        );
        let controls = self.controls();
        if let Some(engine) = self.engine.as_mut() {
            engine.process(buffer.as_slice(), controls);
        }
        for channel in buffer.as_slice() {
            flush_subnormals(channel);
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        if let Ok(mut commands) = self.commands.lock() {
            *commands = None;
        }
        self.monitor = None;
        self.engine = None;
    }
}

impl ClapPlugin for MixsmithVoice {
    const CLAP_ID: &'static str = "com.mixsmith.voice";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Voice conversion: moves a vocal's timbre to a learned voice, keeping the melody");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Mono,
        ClapFeature::Stereo,
        ClapFeature::PitchShifter,
    ];
}

impl Vst3Plugin for MixsmithVoice {
    const VST3_CLASS_ID: [u8; 16] = *b"MixsmithVoice001";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Fx, Vst3SubCategory::PitchShift];
}
