//! The Mixsmith plugin, for the master bus or any bus: Analyze, Master and Generate.
//!
//! A thin shell around `mixsmith-core`: `activate()` starts a realtime bridge whose worker runs
//! the active tool, `process()` moves the host's audio through it without allocating, locking or
//! blocking, and the egui editor shows the engine's state.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use mixsmith_core::analyze::{LiveLoudness, MeteredProcessor};
use mixsmith_core::realtime::clip::{ClipPlayer, ClipSender, clip_channel};
use mixsmith_core::realtime::{Bridge, BridgeConfig, EngineStats, RenderMode, flush_subnormals};
use nice_plug::prelude::*;
use nice_plug_egui::EguiEditorState;

mod editor;
mod generate;
mod job;
mod learn;
mod midi_export;
pub mod params;
pub mod session;
mod tools;

use crate::suite::{self, TransportFollower};
use learn::MasterLink;
use params::{MixsmithParams, Mode};
use tools::{Capture, Captures, ToolSlot};

/// The Mixsmith plugin.
pub struct Mixsmith {
    /// Parameters and the persisted session, shared with the editor and the host.
    params: Arc<MixsmithParams>,
    /// Engine counters, shared with the editor; they outlive each bridge.
    stats: Arc<EngineStats>,
    /// The current sample rate, for the editor's time read-outs.
    sample_rate: Arc<AtomicF32>,
    /// The live loudness readings of the plugin's input, for the Analyze tab.
    loudness: Arc<LiveLoudness>,
    /// Mastering's link between the editor and the running tool slot.
    master: Arc<MasterLink>,
    /// Capture of the input for the Analyze tab's "Export MIDI" (armed by the editor, filled by
    /// the bridge's worker).
    midi_capture: Arc<Capture>,
    /// Plays an auditioned generated clip in sync with the transport (audio thread side).
    clip_player: ClipPlayer,
    /// Publishes auditioned clips (the editor's side of `clip_player`).
    clip_sender: Arc<Mutex<ClipSender>>,
    /// The transport position the host is hearing now (the block's position minus the
    /// latency), for placing an auditioned clip; written by the audio thread.
    heard_position: Arc<AtomicI64>,
    /// The running bridge, created in `activate()` and dropped (its worker joined) in
    /// `deactivate()`.
    bridge: Option<Bridge>,
    /// Whether the host renders in realtime or offline, fixed per activation.
    render_mode: RenderMode,
    /// Restarts the stream when the transport jumps.
    transport: TransportFollower,
    /// The editor window's size.
    editor_state: Arc<EguiEditorState>,
}

/// The notice shown when a stored match cannot be used.
fn unusable_match_notice(error: &str) -> String {
    format!("The saved mastering match could not be used ({error}); learn it again.")
}

impl Default for Mixsmith {
    fn default() -> Self {
        let (clip_sender, clip_player) = clip_channel();
        let params = Arc::new(MixsmithParams::default());
        let master = Arc::new(MasterLink::default());
        // A state loaded while the plugin is active (a preset recall, an undo) carries its own
        // match: install it on the running engine, as activation does. Inactive, this does
        // nothing and the next activation builds it.
        let link = Arc::clone(&master);
        params
            .session
            .set_on_load(move |session| match link.install(&session.master) {
                Ok(()) => None,
                Err(error) => {
                    // Do not leave the previous match running for a session that has another.
                    let _ = link.install(&session::MasterSession::default());
                    Some(unusable_match_notice(&error))
                }
            });
        Self {
            params,
            stats: Arc::new(EngineStats::default()),
            sample_rate: Arc::new(AtomicF32::new(48_000.0)),
            loudness: Arc::new(LiveLoudness::default()),
            master,
            midi_capture: Arc::default(),
            clip_player,
            clip_sender: Arc::new(Mutex::new(clip_sender)),
            heard_position: Arc::new(AtomicI64::new(0)),
            bridge: None,
            render_mode: RenderMode::Realtime,
            transport: TransportFollower::default(),
            editor_state: editor::default_state(),
        }
    }
}

impl Mixsmith {
    /// Builds the mastering processor from the stored match. A stored match that cannot be used
    /// (damaged, or from an incompatible version) is reported in the editor and mastering stays
    /// off until the user learns again.
    fn restore_master(
        &self,
        sample_rate: u32,
        channels: usize,
    ) -> Option<mixsmith_core::master::Mastering> {
        let Ok(mut session) = self.params.session.write() else {
            return None;
        };
        match self.master.build(&session.master, sample_rate, channels) {
            Ok(master) => master,
            Err(error) => {
                session.notice = Some(unusable_match_notice(&error));
                None
            }
        }
    }

    /// Renders one block in place: the bridge's output (or the delayed dry signal when bypassed
    /// or comparing), an auditioned clip over it, then the output gain.
    fn render(&mut self, channels: &mut [&mut [f32]], context: &mut impl ProcessContext<Self>) {
        let frames = channels.first().map_or(0, |channel| channel.len());
        self.transport.follow(
            context.transport(),
            frames,
            self.bridge.as_mut().map(Bridge::audio),
        );
        let Some(bridge) = self.bridge.as_mut() else {
            return;
        };
        if self.params.bypass.value() {
            bridge.audio().process_bypassed(channels, self.render_mode);
            return;
        }
        if self.params.compare.value() && self.params.mode.value() == Mode::Master {
            bridge.audio().process_bypassed(channels, self.render_mode);
            let gain = self.master.compare_gain();
            for channel in channels.iter_mut() {
                channel.iter_mut().for_each(|sample| *sample *= gain);
            }
            return;
        }
        bridge.audio().process(channels, self.render_mode);
        // An auditioned clip replaces the output while the transport plays over it. The host
        // delays our output by the latency, so the clip is read at the position heard now.
        let heard = context
            .transport()
            .pos_samples()
            .filter(|_| context.transport().playing)
            .map(|position| position - bridge.latency_frames() as i64);
        if let Some(position) = heard {
            self.heard_position.store(position, Ordering::Relaxed);
        }
        self.clip_player.render(heard, channels);
        for frame in 0..frames {
            let gain = util::db_to_gain(self.params.gain.smoothed.next());
            for channel in channels.iter_mut() {
                channel[frame] *= gain;
            }
        }
    }
}

impl Plugin for Mixsmith {
    const NAME: &'static str = "Mixsmith";
    const VENDOR: &'static str = suite::VENDOR;
    const URL: &'static str = suite::URL;
    const EMAIL: &'static str = suite::EMAIL;
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(2),
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
        AudioIOLayout {
            main_input_channels: NonZeroU32::new(1),
            main_output_channels: NonZeroU32::new(1),
            ..AudioIOLayout::const_default()
        },
    ];

    type SysExMessage = ();
    type BackgroundTask = ();
    type Editor = nice_plug_egui::EguiEditor<editor::MixsmithEditor>;

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        crate::editor::create(
            self.editor_state.clone(),
            Self::NAME,
            editor::MixsmithEditor::new(
                self.params.clone(),
                self.stats.clone(),
                self.sample_rate.clone(),
                self.loudness.clone(),
                self.master.clone(),
                self.midi_capture.clone(),
                self.clip_sender.clone(),
                self.heard_position.clone(),
            ),
        )
    }

    fn filter_state(state: &mut PluginState) {
        if let Some(stored) = state.fields.get_mut(session::SESSION_FIELD) {
            let migrated = session::migrate_stored(stored);
            if let Ok(json) = serde_json::to_string(&migrated) {
                *stored = json;
            }
        }
    }

    fn activate(
        &mut self,
        audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let channels = audio_io_layout
            .main_output_channels
            .map_or(2, NonZeroU32::get) as usize;
        let config = BridgeConfig {
            channels,
            output_channels: channels,
            sample_rate: buffer_config.sample_rate,
            max_block_frames: buffer_config.max_buffer_size.max(1) as usize,
        };
        let sample_rate = buffer_config.sample_rate.round() as u32;
        let master = self.restore_master(sample_rate, channels);
        let params = self.params.clone();
        let (slot, installer) = ToolSlot::new(
            move || params.mode.value(),
            master,
            channels,
            sample_rate,
            Captures {
                learn: self.master.capture.clone(),
                midi: self.midi_capture.clone(),
            },
        );
        // The Analyze tab meters the input whatever the tool. The meter takes 1-64 channels at
        // any rate a host offers, so failing here means a configuration Mixsmith cannot run.
        let processor =
            match MeteredProcessor::new(slot, channels, sample_rate, self.loudness.clone()) {
                Ok(metered) => metered,
                Err(error) => {
                    nice_error!("Mixsmith cannot run this configuration: {error}");
                    return false;
                }
            };
        // Drop the previous bridge first, joining its worker.
        self.bridge = None;
        let bridge = match Bridge::start(processor, config, self.stats.clone()) {
            Ok(bridge) => bridge,
            Err(error) => {
                nice_error!("Mixsmith could not start its worker thread: {error}");
                return false;
            }
        };
        context.set_latency_samples(bridge.latency_frames() as u32);
        self.bridge = Some(bridge);
        self.master.attach(sample_rate, channels, installer);
        self.sample_rate
            .store(buffer_config.sample_rate, Ordering::Relaxed);
        self.render_mode = suite::render_mode(buffer_config.process_mode);
        true
    }

    fn reset(&mut self) {
        self.transport.reset();
        if let Some(bridge) = self.bridge.as_mut() {
            bridge.audio().reset();
        }
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        _aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        self.render(buffer.as_slice(), context);
        // Copied samples (the delayed dry signal, a bypass) keep any subnormal the host sent;
        // none leaves the plugin.
        for channel in buffer.as_slice() {
            flush_subnormals(channel);
        }
        ProcessStatus::Normal
    }

    fn deactivate(&mut self) {
        self.master.detach();
        self.bridge = None;
    }
}

impl ClapPlugin for Mixsmith {
    const CLAP_ID: &'static str = "com.mixsmith.mixsmith";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("AI audio toolkit: analysis, mastering, separation, voice and generation");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] = &[
        ClapFeature::AudioEffect,
        ClapFeature::Stereo,
        ClapFeature::Mono,
        ClapFeature::Analyzer,
        ClapFeature::Mastering,
    ];
}

impl Vst3Plugin for Mixsmith {
    const VST3_CLASS_ID: [u8; 16] = *b"MixsmithToolkit1";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] = &[
        Vst3SubCategory::Fx,
        Vst3SubCategory::Analyzer,
        Vst3SubCategory::Mastering,
    ];
}
