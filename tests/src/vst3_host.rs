//! A small VST3 host on `vst3-host` (in-process), enough to drive Mixsmith the way a DAW does.
//!
//! `vst3-host` does the VST3 lifecycle (setupProcessing, setActive, setProcessing); this wrapper
//! adds what the tests need: servicing the plugin's `restartComponent` (nice-plug reports its
//! latency that way after activation) before reading the latency, blocks of varying length,
//! sample-accurate parameter changes, process mode, mono/stereo bus arrangements and state.

use std::path::Path;

use anyhow::{Result, anyhow, bail};
pub use vst3_host::ProcessMode;
use vst3_host::{
    AudioBuffers, BusDirection, MediaType, Plugin, SpeakerArrangement, TransportPosition, Vst3Host,
};

use crate::signal::Planar;

/// How many restart rounds [`Vst3Plugin::start`] services before giving up.
const MAX_RESTARTS: u32 = 4;

/// A parameter change queued at an exact frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Vst3ParamChange {
    /// The frame (from the start of the processed signal) the change applies at.
    pub frame: usize,
    /// The VST3 parameter id (the same hash as CLAP, see [`crate::spec::param_hash`]).
    pub id: u32,
    /// The normalised value, 0..1.
    pub value: f64,
}

/// A loaded VST3 plugin.
pub struct Vst3Plugin {
    /// The plugin instance.
    plugin: Plugin,
    /// The host that loaded it (kept alive alongside).
    _host: Vst3Host,
    /// Input and output channel counts of the current bus arrangement.
    channels: (usize, usize),
    /// The configured sample rate.
    sample_rate: f64,
    /// The configured maximum block size.
    max_block: usize,
    /// How many latency/IO restarts were serviced.
    restarts_serviced: u32,
}

impl Vst3Plugin {
    /// Loads the bundle folder `bundle` in-process, configured for `sample_rate` and a maximum
    /// block of `max_block` frames, with the plugin's default (stereo) buses.
    pub fn load(bundle: &Path, sample_rate: f64, max_block: usize) -> Result<Self> {
        Self::load_class(bundle, None, sample_rate, max_block)
    }

    /// Like [`Self::load`], for the class `class_id` of the bundle (its 16 bytes, as the plugin
    /// declares them), or the bundle's first class for `None`.
    pub fn load_class(
        bundle: &Path,
        class_id: Option<&[u8; 16]>,
        sample_rate: f64,
        max_block: usize,
    ) -> Result<Self> {
        let mut host = Vst3Host::builder()
            .sample_rate(sample_rate)
            .block_size(max_block)
            .with_process_isolation(false)
            .build()
            .map_err(|e| anyhow!("could not build the VST3 host: {e}"))?;
        let plugin = match class_id {
            Some(id) => {
                let hex: String = id.iter().map(|byte| format!("{byte:02X}")).collect();
                host.load_plugin_class(bundle, &hex)
            }
            None => host.load_plugin(bundle),
        }
        .map_err(|e| anyhow!("could not load {}: {e}", bundle.display()))?;
        let mut this = Self {
            plugin,
            _host: host,
            channels: (2, 2),
            sample_rate,
            max_block,
            restarts_serviced: 0,
        };
        this.channels = this.bus_channels()?;
        Ok(this)
    }

    /// The plugin's name as its factory reports it.
    pub fn name(&self) -> &str {
        &self.plugin.info().name
    }

    /// The configured sample rate.
    pub fn sample_rate(&self) -> f64 {
        self.sample_rate
    }

    /// Input and output channel counts.
    pub fn channels(&self) -> (usize, usize) {
        self.channels
    }

    /// How many latency/IO restart requests were serviced so far.
    pub fn restarts_serviced(&self) -> u32 {
        self.restarts_serviced
    }

    fn bus_channels(&self) -> Result<(usize, usize)> {
        let arrangements = self
            .plugin
            .bus_arrangements()
            .map_err(|e| anyhow!("bus_arrangements failed: {e}"))?;
        let count = |buses: &[SpeakerArrangement]| {
            buses.first().map_or(0, |a| a.raw().count_ones() as usize)
        };
        Ok((count(&arrangements.inputs), count(&arrangements.outputs)))
    }

    /// The channel count of every output bus, main bus first.
    pub fn output_buses(&self) -> Result<Vec<usize>> {
        let arrangements = self
            .plugin
            .bus_arrangements()
            .map_err(|e| anyhow!("bus_arrangements failed: {e}"))?;
        Ok(arrangements
            .outputs
            .iter()
            .map(|a| a.raw().count_ones() as usize)
            .collect())
    }

    /// Activates every auxiliary output bus (VST3 hosts leave them off until a user routes
    /// them). The plugin must be stopped.
    pub fn activate_aux_outputs(&mut self) -> Result<()> {
        for bus in 1..self.output_buses()?.len() {
            self.plugin
                .set_bus_active(MediaType::Audio, BusDirection::Output, bus as i32, true)
                .map_err(|e| anyhow!("activating output bus {bus} failed: {e}"))?;
        }
        Ok(())
    }

    /// Starts processing (setActive + setProcessing) and services the restarts the plugin asks
    /// for (latency changes), so [`Self::latency`] is the settled value.
    pub fn start(&mut self) -> Result<()> {
        self.plugin
            .start_processing()
            .map_err(|e| anyhow!("start_processing failed: {e}"))?;
        for _ in 0..MAX_RESTARTS {
            let flags = self
                .plugin
                .service_host_requests()
                .map_err(|e| anyhow!("servicing restartComponent failed: {e}"))?;
            if flags.is_empty() {
                return Ok(());
            }
            if flags.latency_changed() || flags.io_changed() {
                self.restarts_serviced += 1;
            }
        }
        bail!("the plugin kept requesting restarts")
    }

    /// Stops processing and deactivates.
    pub fn stop(&mut self) -> Result<()> {
        self.plugin
            .stop_processing()
            .map_err(|e| anyhow!("stop_processing failed: {e}"))
    }

    /// The latency the plugin reports (`getLatencySamples`, re-read after restarts).
    pub fn latency(&self) -> u32 {
        self.plugin.latency_samples()
    }

    /// Changes sample rate and maximum block size (stop, reconfigure, start).
    pub fn reconfigure(&mut self, sample_rate: f64, max_block: usize) -> Result<()> {
        self.stop()?;
        self.plugin
            .reconfigure(sample_rate, max_block)
            .map_err(|e| anyhow!("reconfigure({sample_rate}, {max_block}) failed: {e}"))?;
        self.sample_rate = sample_rate;
        self.max_block = max_block;
        self.start()
    }

    /// Switches between realtime and offline processing (stop, setupProcessing, start).
    pub fn set_process_mode(&mut self, mode: ProcessMode) -> Result<()> {
        self.stop()?;
        self.plugin
            .set_process_mode(mode)
            .map_err(|e| anyhow!("set_process_mode({mode:?}) failed: {e}"))?;
        self.start()
    }

    /// Asks for `channels` (1 or 2) on the main input and output buses. The plugin must be
    /// stopped. Fails if the plugin declines.
    pub fn set_channels(&mut self, channels: usize) -> Result<()> {
        let arrangement = match channels {
            1 => SpeakerArrangement::MONO,
            2 => SpeakerArrangement::STEREO,
            n => bail!("no speaker arrangement for {n} channels here"),
        };
        self.plugin
            .set_bus_arrangements(&[arrangement], &[arrangement])
            .map_err(|e| anyhow!("set_bus_arrangements({channels} ch) failed: {e}"))?;
        self.channels = self.bus_channels()?;
        if self.channels != (channels, channels) {
            bail!(
                "asked for {channels} channels, the plugin now has {:?}",
                self.channels
            );
        }
        Ok(())
    }

    /// Plays the transport from `position` samples (the host advances it every block; the
    /// default tempo is 120 BPM).
    pub fn play_from(&mut self, position: i64) -> Result<()> {
        self.plugin
            .set_playing(true)
            .map_err(|e| anyhow!("set_playing failed: {e}"))?;
        let quarter_notes = position as f64 / self.sample_rate * 2.0;
        self.plugin
            .set_transport_position(TransportPosition {
                samples: position,
                quarter_notes,
            })
            .map_err(|e| anyhow!("set_transport_position({position}) failed: {e}"))
    }

    /// Sets a parameter by display name to a normalised value (applied at the next block).
    pub fn set_param_by_name(&mut self, name: &str, normalized: f64) -> Result<()> {
        self.plugin
            .set_parameter_by_name(name, normalized)
            .map_err(|e| anyhow!("set_parameter_by_name({name:?}, {normalized}) failed: {e}"))
    }

    /// The id of the parameter with display name `name`.
    pub fn param_id(&self, name: &str) -> Result<u32> {
        self.plugin
            .find_parameter(name)
            .map(|p| p.id)
            .map_err(|e| anyhow!("no parameter {name:?}: {e}"))
    }

    /// All parameters: (id, name).
    pub fn params(&self) -> Result<Vec<(u32, String)>> {
        Ok(self
            .plugin
            .get_parameters()
            .map_err(|e| anyhow!("get_parameters failed: {e}"))?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect())
    }

    /// Sets a parameter the way a host's GUI or automation read-out does: the edit controller's
    /// `setParamNormalized`, at once, plus the same value queued for the processor's next block.
    pub fn set_param(&mut self, id: u32, normalized: f64) -> Result<()> {
        self.plugin
            .set_parameter(id, normalized)
            .map_err(|e| anyhow!("set_parameter({id}, {normalized}) failed: {e}"))
    }

    /// The normalised value of a parameter (the edit controller's `getParamNormalized`).
    pub fn param_value(&self, id: u32) -> Result<f64> {
        self.plugin
            .get_parameter(id)
            .map_err(|e| anyhow!("get_parameter({id}) failed: {e}"))
    }

    /// The plugin's own text for a normalised value.
    pub fn format_param(&self, id: u32, normalized: f64) -> Result<String> {
        self.plugin
            .format_parameter(id, normalized)
            .map_err(|e| anyhow!("format_parameter({id}) failed: {e}"))
    }

    /// Saves the state (a `vst3-host` envelope; see [`crate::state::vst3_component`]).
    pub fn save_state(&self) -> Result<Vec<u8>> {
        self.plugin
            .save_state()
            .map_err(|e| anyhow!("save_state failed: {e}"))
    }

    /// Loads a state (an envelope or a bare component stream). An error means it was refused.
    pub fn load_state(&mut self, blob: &[u8]) -> Result<()> {
        self.plugin
            .load_state(blob)
            .map_err(|e| anyhow!("the plugin refused the state: {e}"))?;
        // Restoring re-activates the component; service what it asks for.
        self.plugin
            .service_host_requests()
            .map_err(|e| anyhow!("servicing requests after load_state failed: {e}"))?;
        Ok(())
    }

    /// Like [`Self::process`], keeping the buses apart: returns one planar output per output
    /// bus, main bus first (inactive buses come back silent).
    pub fn process_buses(
        &mut self,
        input: &Planar,
        blocks: &[usize],
        changes: &[Vst3ParamChange],
    ) -> Result<Vec<Planar>> {
        let frames = self.check_run(input, blocks, changes)?;
        let mut changes = changes.to_vec();
        changes.sort_by_key(|c| c.frame);
        let mut next_change = 0;
        let mut output: Vec<Planar> = self
            .output_buses()?
            .into_iter()
            .map(|channels| vec![vec![0.0f32; frames]; channels])
            .collect();
        let mut start = 0;
        for &len in blocks {
            let end = start + len;
            next_change = self.queue_changes(&changes, next_change, start, end)?;
            let mut buffers = self
                .plugin
                .create_bus_audio_buffers(len)
                .map_err(|e| anyhow!("create_bus_audio_buffers failed: {e}"))?;
            for (dst, src) in buffers.inputs[0].channels.iter_mut().zip(input) {
                dst.copy_from_slice(&src[start..end]);
            }
            self.plugin
                .process_bus_audio(&mut buffers)
                .map_err(|e| anyhow!("process_bus_audio failed at frame {start} ({len}): {e}"))?;
            for (bus, produced) in output.iter_mut().zip(&buffers.outputs) {
                for (dst, src) in bus.iter_mut().zip(&produced.channels) {
                    dst[start..end].copy_from_slice(src);
                }
            }
            start = end;
        }
        Ok(output)
    }

    /// Checks a run's input, blocks and changes; returns its length in frames.
    fn check_run(
        &self,
        input: &Planar,
        blocks: &[usize],
        changes: &[Vst3ParamChange],
    ) -> Result<usize> {
        let in_channels = self.channels.0;
        if input.len() != in_channels {
            bail!(
                "{} input channels for a plugin with {in_channels}",
                input.len()
            );
        }
        let frames = input.first().map_or(0, Vec::len);
        let total: usize = blocks.iter().sum();
        if total != frames {
            bail!("blocks add up to {total} frames but the input has {frames}");
        }
        if let Some(bad) = blocks.iter().find(|&&b| b == 0 || b > self.max_block) {
            bail!("block of {bad} frames outside 1..={}", self.max_block);
        }
        if let Some(late) = changes.iter().find(|c| c.frame >= frames) {
            bail!(
                "parameter change at frame {} is past the {frames}-frame input",
                late.frame
            );
        }
        Ok(frames)
    }

    /// Queues the (sorted) changes from index `next` that fall in the block `start..end` at
    /// their offsets; returns the index of the first change after the block.
    fn queue_changes(
        &mut self,
        changes: &[Vst3ParamChange],
        mut next: usize,
        start: usize,
        end: usize,
    ) -> Result<usize> {
        while next < changes.len() && changes[next].frame < end {
            let change = changes[next];
            let offset = change.frame.saturating_sub(start) as i32;
            self.plugin
                .set_parameter_at(change.id, change.value, offset)
                .map_err(|e| anyhow!("set_parameter_at({change:?}) failed: {e}"))?;
            next += 1;
        }
        Ok(next)
    }

    /// Processes `input` (planar) in blocks of the given lengths (each at most the maximum block),
    /// with `changes` queued at their frames. Returns the planar output.
    pub fn process(
        &mut self,
        input: &Planar,
        blocks: &[usize],
        changes: &[Vst3ParamChange],
    ) -> Result<Planar> {
        let frames = self.check_run(input, blocks, changes)?;
        let (in_channels, out_channels) = self.channels;
        let mut changes = changes.to_vec();
        changes.sort_by_key(|c| c.frame);
        let mut next_change = 0;
        let mut output = vec![vec![0.0f32; frames]; out_channels];
        let mut start = 0;
        for &len in blocks {
            let end = start + len;
            next_change = self.queue_changes(&changes, next_change, start, end)?;
            let mut buffers = AudioBuffers::new(in_channels, out_channels, len, self.sample_rate);
            for (dst, src) in buffers.inputs.iter_mut().zip(input) {
                dst.copy_from_slice(&src[start..end]);
            }
            self.plugin
                .process_audio(&mut buffers)
                .map_err(|e| anyhow!("process_audio failed at frame {start} ({len}): {e}"))?;
            for (dst, src) in output.iter_mut().zip(&buffers.outputs) {
                dst[start..end].copy_from_slice(src);
            }
            start = end;
        }
        Ok(output)
    }
}

impl Drop for Vst3Plugin {
    fn drop(&mut self) {
        let _ = self.plugin.stop_processing();
    }
}
