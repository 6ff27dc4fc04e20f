//! A small CLAP host on `clack-host`, enough to drive Mixsmith the way a DAW does.
//!
//! - [`ClapPlugin::load`] loads a `.clap` file and instantiates the plugin by its id.
//! - [`ClapPlugin::activate`] activates with a sample rate and min/max block size, and honours the
//!   restart nice-plug requests when it sets its latency during activation (deactivate, then
//!   activate again), so [`ClapPlugin::latency`] is the settled value.
//! - [`ClapPlugin::process`] runs planar `f32` audio through the plugin in blocks of any length
//!   up to the maximum, with parameter changes delivered as `CLAP_EVENT_PARAM_VALUE` input events
//!   at exact frames, on a separate audio thread (as hosts do: nice-plug tells the main thread
//!   from the audio thread by thread id).
//! - [`ClapPlugin::set_render_mode`] uses the `render` extension (realtime or offline).
//! - [`ClapPlugin::save_state`] / [`ClapPlugin::load_state`] use the `state` extension.
//! - [`ClapPlugin::select_channels`] picks an audio-ports configuration (stereo or mono).

use std::cell::Cell;
use std::ffi::CString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clack_extensions::audio_ports::{
    AudioPortInfoBuffer, AudioPortRescanFlags, HostAudioPorts, HostAudioPortsImpl, PluginAudioPorts,
};
use clack_extensions::audio_ports_config::{
    AudioPortsConfigBuffer, HostAudioPortsConfig, HostAudioPortsConfigImpl, PluginAudioPortsConfig,
};
use clack_extensions::latency::{HostLatency, HostLatencyImpl, PluginLatency};
use clack_extensions::params::{
    HostParams, HostParamsImplMainThread, HostParamsImplShared, ParamClearFlags, ParamInfoBuffer,
    ParamInfoFlags, ParamRescanFlags, PluginParams,
};
use clack_extensions::render::PluginRender;
pub use clack_extensions::render::RenderMode;
use clack_extensions::state::{HostState, HostStateImpl, PluginState};
use clack_host::events::EventFlags;
use clack_host::events::event_types::{ParamValueEvent, TransportEvent, TransportFlags};
use clack_host::prelude::*;
use clack_host::utils::{BeatTime, SecondsTime};

use crate::signal::Planar;

/// How many activate/restart rounds [`ClapPlugin::activate`] allows before giving up.
const MAX_RESTARTS: u32 = 4;

/// The host's handler types.
pub struct MixsmithHost;

/// Thread-safe host state: the plugin's requests.
#[derive(Default)]
pub struct HostShared {
    /// The plugin asked to be deactivated and activated again.
    restart_requested: AtomicBool,
    /// The plugin asked for a main-thread callback.
    callback_requested: AtomicBool,
    /// The plugin asked for a parameter flush.
    flush_requested: AtomicBool,
    /// How many restarts the plugin has requested in total.
    restart_requests: AtomicU32,
}

impl SharedHandler<'_> for HostShared {
    fn request_restart(&self) {
        self.restart_requests.fetch_add(1, Ordering::SeqCst);
        self.restart_requested.store(true, Ordering::SeqCst);
    }

    fn request_process(&self) {}

    fn request_callback(&self) {
        self.callback_requested.store(true, Ordering::SeqCst);
    }
}

impl HostParamsImplShared for HostShared {
    fn request_flush(&self) {
        self.flush_requested.store(true, Ordering::SeqCst);
    }
}

/// Main-thread host state: notifications from the plugin.
#[derive(Default)]
pub struct HostMainThread {
    /// How many times the plugin called `clap_host_latency.changed`.
    latency_changes: Cell<u32>,
    /// Whether the plugin marked its state dirty.
    state_dirty: Cell<bool>,
    /// How many parameter rescans the plugin asked for.
    param_rescans: Cell<u32>,
    /// How many audio-port rescans the plugin asked for.
    port_rescans: Cell<u32>,
}

impl MainThreadHandler<'_> for HostMainThread {}

impl HostLatencyImpl for HostMainThread {
    fn changed(&self) {
        self.latency_changes.set(self.latency_changes.get() + 1);
    }
}

impl HostStateImpl for HostMainThread {
    fn mark_dirty(&self) {
        self.state_dirty.set(true);
    }
}

impl HostParamsImplMainThread for HostMainThread {
    fn rescan(&self, _flags: ParamRescanFlags) {
        self.param_rescans.set(self.param_rescans.get() + 1);
    }

    fn clear(&self, _param_id: ClapId, _flags: ParamClearFlags) {}
}

impl HostAudioPortsImpl for HostMainThread {
    fn is_rescan_flag_supported(&self, _flag: AudioPortRescanFlags) -> bool {
        true
    }

    fn rescan(&self, _flags: AudioPortRescanFlags) {
        self.port_rescans.set(self.port_rescans.get() + 1);
    }
}

impl HostAudioPortsConfigImpl for HostMainThread {
    fn rescan(&self) {
        self.port_rescans.set(self.port_rescans.get() + 1);
    }
}

impl HostHandlers for MixsmithHost {
    type Shared<'a> = HostShared;
    type MainThread<'a> = HostMainThread;
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder
            .register::<HostLatency>()
            .register::<HostState>()
            .register::<HostParams>()
            .register::<HostAudioPorts>()
            .register::<HostAudioPortsConfig>();
    }
}

/// An activation's audio configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Activation {
    /// Sample rate in Hz.
    pub sample_rate: f64,
    /// Smallest block the host will send.
    pub min_frames: u32,
    /// Largest block the host will send.
    pub max_frames: u32,
}

impl Activation {
    /// Blocks of any length from 1 to `max_frames`.
    pub fn new(sample_rate: f64, max_frames: u32) -> Self {
        Self {
            sample_rate,
            min_frames: 1,
            max_frames,
        }
    }
}

/// A parameter change delivered as a `CLAP_EVENT_PARAM_VALUE` event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ParamChange {
    /// The frame (from the start of the processed signal) the change applies at.
    pub frame: usize,
    /// The parameter id (the hash of its string id, see [`crate::spec::param_hash`]).
    pub id: u32,
    /// The CLAP value: normalised 0..1 for continuous parameters, `0..=steps` for stepped ones.
    pub value: f64,
}

/// An audio port as the host sees it: its channel count and name.
pub type PortSummary = (u32, String);

/// What a parameter looks like to the host.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamSummary {
    /// The parameter id.
    pub id: u32,
    /// The display name.
    pub name: String,
    /// The smallest CLAP value.
    pub min: f64,
    /// The largest CLAP value.
    pub max: f64,
    /// The default CLAP value.
    pub default: f64,
    /// Whether the parameter is stepped (integer CLAP values: bools, enums).
    pub stepped: bool,
}

/// A playing transport: where the playhead is and the tempo. The host advances the playhead by
/// every processed frame and sends a `CLAP_EVENT_TRANSPORT` with each block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transport {
    /// The playhead in samples at the start of the next block.
    pub position: i64,
    /// Tempo in beats per minute.
    pub tempo: f64,
}

impl Transport {
    /// The transport event for a block starting `offset` frames after the playhead.
    fn event(&self, offset: usize, sample_rate: f64) -> TransportEvent {
        let seconds = (self.position + offset as i64) as f64 / sample_rate;
        TransportEvent {
            header: EventHeader::new_core(0, EventFlags::empty()),
            flags: TransportFlags::HAS_TEMPO
                | TransportFlags::HAS_BEATS_TIMELINE
                | TransportFlags::HAS_SECONDS_TIMELINE
                | TransportFlags::HAS_TIME_SIGNATURE
                | TransportFlags::IS_PLAYING,
            song_pos_beats: BeatTime::from_float(seconds * self.tempo / 60.0),
            song_pos_seconds: SecondsTime::from_float(seconds),
            tempo: self.tempo,
            tempo_inc: 0.0,
            loop_start_beats: BeatTime::from_int(0),
            loop_end_beats: BeatTime::from_int(0),
            loop_start_seconds: SecondsTime::from_int(0),
            loop_end_seconds: SecondsTime::from_int(0),
            bar_start: BeatTime::from_int(0),
            bar_number: 0,
            time_signature_numerator: 4,
            time_signature_denominator: 4,
        }
    }
}

/// A loaded, instantiated CLAP plugin.
pub struct ClapPlugin {
    /// The audio processor while active (started or stopped).
    processor: Option<PluginAudioProcessor<MixsmithHost>>,
    /// The plugin instance (main thread). Declared before `_entry` so it is dropped first.
    instance: PluginInstance<MixsmithHost>,
    /// The loaded entry; kept alive as long as the instance.
    _entry: PluginEntry,
    /// The current activation, if active.
    active: Option<Activation>,
    /// Frames processed since activation (the steady time).
    steady_time: u64,
    /// How many deactivate/activate rounds were done for plugin restart requests.
    restarts_honoured: u32,
    /// The playing transport, if any (none: free-running, no transport sent).
    transport: Option<Transport>,
}

impl ClapPlugin {
    /// Loads `path` (a `.clap` file) and instantiates the plugin with id `plugin_id`.
    pub fn load(path: &Path, plugin_id: &str) -> Result<Self> {
        // SAFETY: loading a plugin runs its code; the bundles under test are our own build.
        let entry = unsafe { PluginEntry::load(path) }
            .map_err(|e| anyhow!("could not load CLAP entry {}: {e}", path.display()))?;
        let factory = entry
            .get_plugin_factory()
            .with_context(|| format!("{} has no plugin factory", path.display()))?;
        let wanted = CString::new(plugin_id)?;
        let found = factory
            .plugin_descriptors()
            .any(|d| d.id() == Some(wanted.as_c_str()));
        if !found {
            let ids: Vec<String> = factory
                .plugin_descriptors()
                .filter_map(|d| d.id().map(|id| id.to_string_lossy().into_owned()))
                .collect();
            bail!(
                "{} has no plugin with id {plugin_id} (it has {ids:?})",
                path.display()
            );
        }
        let host_info = HostInfo::new(
            "mixsmith-tests",
            "Mixsmith",
            "https://mixsmith.invalid",
            env!("CARGO_PKG_VERSION"),
        )?;
        let instance = PluginInstance::<MixsmithHost>::new(
            |_| HostShared::default(),
            |_| HostMainThread::default(),
            &entry,
            &wanted,
            &host_info,
        )
        .map_err(|e| anyhow!("could not instantiate {plugin_id}: {e}"))?;
        Ok(Self {
            processor: None,
            instance,
            _entry: entry,
            active: None,
            steady_time: 0,
            restarts_honoured: 0,
            transport: None,
        })
    }

    /// Loads the Mixsmith plugin (by its spec id) from `path`.
    pub fn load_mixsmith(path: &Path) -> Result<Self> {
        Self::load(path, crate::spec::CLAP_ID)
    }

    /// The current activation, if the plugin is active.
    pub fn activation(&self) -> Option<Activation> {
        self.active
    }

    /// How many plugin restart requests were honoured (deactivate + activate) so far.
    pub fn restarts_honoured(&self) -> u32 {
        self.restarts_honoured
    }

    /// How many times the plugin reported a latency change through `clap_host_latency`.
    pub fn latency_change_notifications(&self) -> u32 {
        self.instance.access_handler(|h| h.latency_changes.get())
    }

    /// Whether the plugin has marked its state dirty since loading.
    pub fn state_marked_dirty(&self) -> bool {
        self.instance.access_handler(|h| h.state_dirty.get())
    }

    /// Runs the plugin's main-thread callback if it asked for one.
    pub fn pump_main_thread(&mut self) {
        let requested = self
            .instance
            .access_shared_handler(|s| s.callback_requested.swap(false, Ordering::SeqCst));
        if requested {
            self.instance.call_on_main_thread_callback();
        }
    }

    /// Activates the plugin. If the plugin requests a restart (nice-plug does when it sets its
    /// latency during activation), deactivates and activates again until it settles.
    pub fn activate(&mut self, activation: Activation) -> Result<()> {
        if self.active.is_some() {
            bail!("the plugin is already active; deactivate it first");
        }
        self.activate_once(activation)?;
        let mut rounds = 0;
        loop {
            self.pump_main_thread();
            let restart = self
                .instance
                .access_shared_handler(|s| s.restart_requested.swap(false, Ordering::SeqCst));
            if !restart {
                return Ok(());
            }
            rounds += 1;
            if rounds > MAX_RESTARTS {
                bail!("the plugin kept requesting restarts ({rounds} in a row)");
            }
            self.deactivate();
            self.activate_once(activation)?;
            self.restarts_honoured += 1;
        }
    }

    fn activate_once(&mut self, activation: Activation) -> Result<()> {
        let configuration = PluginAudioConfiguration {
            sample_rate: activation.sample_rate,
            min_frames_count: activation.min_frames,
            max_frames_count: activation.max_frames,
        };
        let processor = self
            .instance
            .activate(|_, _| (), configuration)
            .map_err(|e| anyhow!("activation with {activation:?} failed: {e}"))?;
        self.processor = Some(processor.into());
        self.active = Some(activation);
        self.steady_time = 0;
        Ok(())
    }

    /// Starts (or moves) a playing transport at `position` samples; `None` stops sending one.
    pub fn set_transport(&mut self, transport: Option<Transport>) {
        self.transport = transport;
    }

    /// The transport, advanced by everything processed since it was set.
    pub fn transport(&self) -> Option<Transport> {
        self.transport
    }

    /// Stops and restarts processing (`stop_processing` then `start_processing`, on an audio
    /// thread), as hosts do when playback stops and starts; nice-plug resets the plugin then.
    pub fn restart_processing(&mut self) -> Result<()> {
        let processor = self
            .processor
            .take()
            .context("restart_processing needs an active plugin")?;
        let (processor, result) = std::thread::scope(|s| {
            s.spawn(move || {
                let mut processor = processor;
                processor.ensure_processing_stopped();
                let result = processor
                    .start_processing()
                    .map(drop)
                    .map_err(|e| anyhow!("start_processing failed: {e}"));
                (processor, result)
            })
            .join()
            .expect("the audio thread panicked")
        });
        self.processor = Some(processor);
        self.pump_main_thread();
        result
    }

    /// Stops processing (on an audio thread) and deactivates. Does nothing if inactive.
    pub fn deactivate(&mut self) {
        if let Some(processor) = self.processor.take() {
            let stopped = std::thread::scope(|s| {
                s.spawn(move || processor.into_stopped())
                    .join()
                    .expect("stop_processing panicked")
            });
            self.instance.deactivate(stopped);
        }
        self.active = None;
        self.pump_main_thread();
    }

    /// Deactivates and activates with a new configuration (sample rate or block size change).
    pub fn reconfigure(&mut self, activation: Activation) -> Result<()> {
        self.deactivate();
        self.activate(activation)
    }

    /// The latency the plugin reports now (`latency` extension).
    pub fn latency(&mut self) -> Result<u32> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginLatency>()
            .context("the plugin has no latency extension")?;
        Ok(ext.get(&self.instance.plugin_handle()))
    }

    /// Sets the render mode (`render` extension). While active, the plugin asks for a restart
    /// to see the new mode in `activate()`; this honours it.
    pub fn set_render_mode(&mut self, mode: RenderMode) -> Result<()> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginRender>()
            .context("the plugin has no render extension")?;
        ext.set(&self.instance.plugin_handle(), mode)
            .map_err(|e| anyhow!("render.set({mode:?}) failed: {e}"))?;
        if let Some(activation) = self.active {
            let restart = self
                .instance
                .access_shared_handler(|s| s.restart_requested.swap(false, Ordering::SeqCst));
            if restart {
                self.deactivate();
                self.activate(activation)?;
                self.restarts_honoured += 1;
            }
        }
        Ok(())
    }

    /// All parameters as the host sees them.
    pub fn params(&mut self) -> Result<Vec<ParamSummary>> {
        let ext = self.params_ext()?;
        let handle = self.instance.plugin_handle();
        let mut buffer = ParamInfoBuffer::new();
        let mut params = Vec::new();
        for index in 0..ext.count(&handle) {
            let info = ext
                .get_info(&handle, index, &mut buffer)
                .with_context(|| format!("params.get_info({index}) failed"))?;
            params.push(ParamSummary {
                id: info.id.get(),
                name: String::from_utf8_lossy(info.name).into_owned(),
                min: info.min_value,
                max: info.max_value,
                default: info.default_value,
                stepped: info.flags.contains(ParamInfoFlags::IS_STEPPED),
            });
        }
        Ok(params)
    }

    /// The current CLAP value of a parameter.
    pub fn param_value(&mut self, id: u32) -> Result<f64> {
        let ext = self.params_ext()?;
        ext.get_value(&self.instance.plugin_handle(), ClapId::new(id))
            .with_context(|| format!("params.get_value({id}) failed"))
    }

    /// Converts a plain value written as text (e.g. "-6" for -6 dB) to the parameter's CLAP
    /// value, with the plugin's own `text_to_value`.
    pub fn text_to_value(&mut self, id: u32, text: &str) -> Result<f64> {
        let ext = self.params_ext()?;
        let text = CString::new(text)?;
        ext.text_to_value(&self.instance.plugin_handle(), ClapId::new(id), &text)
            .with_context(|| format!("the plugin could not read {text:?} for parameter {id}"))
    }

    /// Applies parameter changes while inactive, through `params.flush`.
    pub fn flush_params(&mut self, changes: &[(u32, f64)]) -> Result<()> {
        let ext = self.params_ext()?;
        let mut input = EventBuffer::with_capacity(changes.len());
        for &(id, value) in changes {
            input.push(&ParamValueEvent::new(
                0,
                ClapId::new(id),
                Pckn::match_all(),
                value,
            ));
        }
        let mut output = EventBuffer::new();
        let mut handle = self
            .instance
            .inactive_plugin_handle()
            .context("flush_params needs an inactive plugin")?;
        ext.flush(&mut handle, &input.as_input(), &mut output.as_output());
        Ok(())
    }

    fn params_ext(&self) -> Result<PluginParams> {
        self.instance
            .plugin_shared_handle()
            .get_extension::<PluginParams>()
            .context("the plugin has no params extension")
    }

    /// The channel counts of the main input and output ports (`audio-ports` extension).
    pub fn channels(&mut self) -> Result<(u32, u32)> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginAudioPorts>()
            .context("the plugin has no audio-ports extension")?;
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortInfoBuffer::new();
        let mut count = |is_input: bool| -> Result<u32> {
            if ext.count(&handle, is_input) == 0 {
                return Ok(0);
            }
            let info = ext
                .get(&handle, 0, is_input, &mut buffer)
                .context("audio_ports.get(0) failed")?;
            Ok(info.channel_count)
        };
        Ok((count(true)?, count(false)?))
    }

    /// Every audio port as (channel count, name): the inputs, then the outputs, main ports
    /// first (`audio-ports` extension).
    pub fn audio_ports(&mut self) -> Result<(Vec<PortSummary>, Vec<PortSummary>)> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginAudioPorts>()
            .context("the plugin has no audio-ports extension")?;
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortInfoBuffer::new();
        let mut ports = |is_input: bool| -> Result<Vec<PortSummary>> {
            (0..ext.count(&handle, is_input))
                .map(|index| {
                    let info = ext
                        .get(&handle, index, is_input, &mut buffer)
                        .with_context(|| format!("audio_ports.get({index}) failed"))?;
                    Ok((
                        info.channel_count,
                        String::from_utf8_lossy(info.name).into_owned(),
                    ))
                })
                .collect()
        };
        Ok((ports(true)?, ports(false)?))
    }

    /// The audio-port configurations the plugin offers: (id, name, main input channels, main
    /// output channels).
    pub fn port_configs(&mut self) -> Result<Vec<(u32, String, u32, u32)>> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginAudioPortsConfig>()
            .context("the plugin has no audio-ports-config extension")?;
        let handle = self.instance.plugin_handle();
        let mut buffer = AudioPortsConfigBuffer::new();
        let mut configs = Vec::new();
        for index in 0..ext.count(&handle) {
            let config = ext
                .get(&handle, index, &mut buffer)
                .with_context(|| format!("audio_ports_config.get({index}) failed"))?;
            configs.push((
                config.id.get(),
                String::from_utf8_lossy(config.name).into_owned(),
                config.main_input.as_ref().map_or(0, |p| p.channel_count),
                config.main_output.as_ref().map_or(0, |p| p.channel_count),
            ));
        }
        Ok(configs)
    }

    /// Selects the audio-port configuration whose main ports have `channels` channels in and
    /// out. The plugin must be inactive.
    pub fn select_channels(&mut self, channels: u32) -> Result<()> {
        if self.active.is_some() {
            bail!("select the audio-port configuration while the plugin is inactive");
        }
        let configs = self.port_configs()?;
        let (id, ..) = configs
            .iter()
            .find(|(_, _, input, output)| *input == channels && *output == channels)
            .with_context(|| {
                format!("no audio-port configuration with {channels} channels in {configs:?}")
            })?;
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginAudioPortsConfig>()
            .context("the plugin has no audio-ports-config extension")?;
        ext.select(&self.instance.plugin_handle(), ClapId::new(*id))
            .map_err(|e| anyhow!("audio_ports_config.select({id}) failed: {e:?}"))?;
        Ok(())
    }

    /// Saves the plugin state (`state` extension).
    pub fn save_state(&mut self) -> Result<Vec<u8>> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginState>()
            .context("the plugin has no state extension")?;
        let mut blob = Vec::new();
        ext.save(&self.instance.plugin_handle(), &mut blob)
            .map_err(|e| anyhow!("state.save failed: {e}"))?;
        self.pump_main_thread();
        Ok(blob)
    }

    /// Loads a plugin state (`state` extension). An error means the plugin refused it.
    pub fn load_state(&mut self, blob: &[u8]) -> Result<()> {
        let ext = self
            .instance
            .plugin_shared_handle()
            .get_extension::<PluginState>()
            .context("the plugin has no state extension")?;
        let mut reader = blob;
        let result = ext.load(&self.instance.plugin_handle(), &mut reader);
        self.pump_main_thread();
        result.map_err(|e| anyhow!("the plugin refused the state: {e}"))
    }

    /// Processes `input` (planar, one `Vec` per input channel) in blocks of the given lengths
    /// (each at most the activation's maximum; they must add up to the input length), with
    /// `changes` delivered as input events at their frames. Returns the planar output with
    /// `output_channels` channels. The blocks run on a separate audio thread while this thread
    /// serves the plugin's main-thread requests.
    pub fn process(
        &mut self,
        input: &Planar,
        output_channels: usize,
        blocks: &[usize],
        changes: &[ParamChange],
    ) -> Result<Planar> {
        let mut buses = self.process_buses(input, &[output_channels], blocks, changes)?;
        Ok(buses.remove(0))
    }

    /// Like [`Self::process`] for a plugin with several output ports: `output_ports` gives each
    /// port's channel count, main port first. Returns one planar output per port.
    pub fn process_buses(
        &mut self,
        input: &Planar,
        output_ports: &[usize],
        blocks: &[usize],
        changes: &[ParamChange],
    ) -> Result<Vec<Planar>> {
        let activation = self.active.context("process() needs an active plugin")?;
        let frames = input.first().map_or(0, Vec::len);
        if input.iter().any(|c| c.len() != frames) {
            bail!("input channels have different lengths");
        }
        let total: usize = blocks.iter().sum();
        if total != frames {
            bail!("blocks add up to {total} frames but the input has {frames}");
        }
        if let Some(bad) = blocks
            .iter()
            .find(|&&b| b == 0 || b > activation.max_frames as usize)
        {
            bail!(
                "block of {bad} frames outside 1..={}",
                activation.max_frames
            );
        }
        if let Some(late) = changes.iter().find(|c| c.frame >= frames) {
            bail!(
                "parameter change at frame {} is past the {frames}-frame input",
                late.frame
            );
        }
        let mut changes = changes.to_vec();
        changes.sort_by_key(|c| c.frame);

        let processor = self.processor.take().context("no audio processor")?;
        let steady_time = self.steady_time;
        let transport = self.transport;
        let mut output: Vec<Planar> = output_ports
            .iter()
            .map(|&channels| vec![vec![0.0f32; frames]; channels])
            .collect();

        let (processor, result) = std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                let mut processor = processor;
                let plan = RunPlan {
                    blocks,
                    changes: &changes,
                    max_frames: activation.max_frames as usize,
                    steady_time,
                    transport: transport.map(|t| (t, activation.sample_rate)),
                };
                let result = run_blocks(&mut processor, input, &mut output, &plan);
                (processor, result)
            });
            while !worker.is_finished() {
                self.pump_main_thread();
                std::thread::sleep(Duration::from_millis(1));
            }
            worker.join().expect("the audio thread panicked")
        });
        self.processor = Some(processor);
        self.pump_main_thread();
        result?;
        self.steady_time += frames as u64;
        if let Some(transport) = self.transport.as_mut() {
            transport.position += frames as i64;
        }
        Ok(output)
    }
}

impl Drop for ClapPlugin {
    fn drop(&mut self) {
        self.deactivate();
    }
}

/// The audio thread's loop: starts processing if needed, then runs every block.
/// What the audio thread runs: the blocks, their events and timing.
struct RunPlan<'a> {
    /// Block lengths, in order.
    blocks: &'a [usize],
    /// Parameter changes, sorted by frame.
    changes: &'a [ParamChange],
    /// The activation's maximum block.
    max_frames: usize,
    /// The steady time of the first frame.
    steady_time: u64,
    /// The playing transport at the first frame, with the sample rate.
    transport: Option<(Transport, f64)>,
}

fn run_blocks(
    processor: &mut PluginAudioProcessor<MixsmithHost>,
    input: &Planar,
    output: &mut [Planar],
    plan: &RunPlan<'_>,
) -> Result<()> {
    let RunPlan {
        blocks,
        changes,
        max_frames,
        steady_time,
        transport,
    } = *plan;
    let processor = processor
        .ensure_processing_started()
        .map_err(|e| anyhow!("start_processing failed: {e}"))?;
    let in_channels = input.len();
    let out_channels: usize = output.iter().map(Vec::len).sum();
    let mut scratch = vec![vec![0.0f32; max_frames]; in_channels];
    let mut input_ports = AudioPorts::with_capacity(in_channels, 1);
    let mut output_ports = AudioPorts::with_capacity(out_channels, output.len());
    let mut events = EventBuffer::with_capacity(changes.len().max(1));
    let mut out_events = EventBuffer::with_capacity(16);
    let mut next_change = 0;
    let mut start = 0usize;

    for &len in blocks {
        let end = start + len;
        events.clear();
        while next_change < changes.len() && changes[next_change].frame < end {
            let change = changes[next_change];
            let time = change.frame.saturating_sub(start) as u32;
            events.push(&ParamValueEvent::new(
                time,
                ClapId::new(change.id),
                Pckn::match_all(),
                change.value,
            ));
            next_change += 1;
        }
        out_events.clear();
        for (dst, src) in scratch.iter_mut().zip(input) {
            dst[..len].copy_from_slice(&src[start..end]);
        }
        let inputs = input_ports.with_input_buffers([AudioPortBuffer {
            latency: 0,
            channels: AudioPortBufferType::f32_input_only(
                scratch
                    .iter_mut()
                    .map(|c| InputChannel::variable(&mut c[..len])),
            ),
        }]);
        let mut outputs =
            output_ports.with_output_buffers(output.iter_mut().map(|port| AudioPortBuffer {
                latency: 0,
                channels: AudioPortBufferType::f32_output_only(
                    port.iter_mut().map(|c| &mut c[start..end]),
                ),
            }));
        let transport_event = transport.map(|(t, rate)| t.event(start, rate));
        processor
            .process(
                &inputs,
                &mut outputs,
                &events.as_input(),
                &mut out_events.as_output(),
                Some(steady_time + start as u64),
                transport_event.as_ref(),
            )
            .map_err(|e| anyhow!("process() failed at frame {start} (block of {len}): {e}"))?;
        start = end;
    }
    Ok(())
}
