//! The host scenarios, written once over [`TestHost`] and run for CLAP and VST3.
//!
//! Every scenario checks the plugin's central promise: the output is the input delayed by
//! exactly the reported latency, times the gain (or the dry delayed input when bypassed).

use anyhow::{Context, Result, bail, ensure};

use crate::clap_host::{Activation, ClapPlugin, ParamChange, RenderMode, Transport};
use crate::signal::{self, Planar};
use crate::spec;
use crate::state;
use crate::vst3_host::{ProcessMode, Vst3ParamChange, Vst3Plugin};

/// The session version the plugin writes (`mixsmith_plugin::session::SESSION_VERSION`; version
/// 2 made the loudness match the mastering default).
const SESSION_VERSION: u64 = 2;

/// Absolute tolerance for sample comparisons (the plugin's gain is computed in `f32`).
pub const TOLERANCE: f32 = 1e-5;

/// A parameter value in plain units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Param {
    /// Output gain in dB.
    GainDb(f64),
    /// Bypass on or off.
    Bypass(bool),
    /// The `mode` enum: false = "Monitor", true = "Master".
    Master(bool),
    /// The level-matched A/B switch (`compare`, "A/B Original") on or off.
    Compare(bool),
}

impl Param {
    /// The host-visible parameter id and the value a host sends for this change: CLAP's value
    /// for continuous parameters is normalised 0..1 and for stepped ones 0..=steps; VST3's is
    /// normalised 0..1. Both agree here because the bools and the two-variant `mode` enum have
    /// one step.
    pub fn host_value(&self) -> (u32, f64) {
        let on = |on: bool| if on { 1.0 } else { 0.0 };
        match *self {
            Self::GainDb(db) => (spec::param_hash("gain"), spec::gain_normalized(db)),
            Self::Bypass(value) => (spec::param_hash("bypass"), on(value)),
            Self::Master(value) => (spec::param_hash("mode"), on(value)),
            Self::Compare(value) => (spec::param_hash("compare"), on(value)),
        }
    }
}

/// A parameter change at a frame of the processed signal.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// The frame the change applies at.
    pub frame: usize,
    /// The new value.
    pub param: Param,
}

/// What the scenarios need from a host.
pub trait TestHost {
    /// "CLAP" or "VST3", for messages.
    fn format(&self) -> &'static str;
    /// (Re)activates at `sample_rate` with blocks of up to `max_block` frames.
    fn configure(&mut self, sample_rate: f64, max_block: usize) -> Result<()>;
    /// Switches offline (true) or realtime (false) rendering.
    fn set_offline(&mut self, offline: bool) -> Result<()>;
    /// The latency the plugin reports now.
    fn latency(&mut self) -> Result<u32>;
    /// The number of audio channels (in = out).
    fn channels(&self) -> usize;
    /// Processes `input` in `blocks` with parameter `changes`.
    fn process(&mut self, input: &Planar, blocks: &[usize], changes: &[Change]) -> Result<Planar>;
    /// The plugin's own state bytes (nice-plug JSON).
    fn save_state(&mut self) -> Result<Vec<u8>>;
    /// Loads state bytes; an error means the plugin refused them.
    fn load_state(&mut self, blob: &[u8]) -> Result<()>;
    /// The gain parameter's current value in dB, read back from the plugin.
    fn gain_db(&mut self) -> Result<f64>;
    /// The current sample rate.
    fn sample_rate(&self) -> f64;
    /// The current maximum block size.
    fn max_block(&self) -> usize;
    /// Plays the transport from `position` samples (a jump if it was elsewhere).
    fn play_from(&mut self, position: i64) -> Result<()>;
}

/// [`TestHost`] over the CLAP host.
pub struct ClapUnderTest {
    /// The plugin.
    pub plugin: ClapPlugin,
    /// The current activation.
    activation: Activation,
    /// Channels in = out.
    channels: usize,
}

impl ClapUnderTest {
    /// Loads the CLAP bundle and activates it at `sample_rate` / `max_block` with `channels`
    /// (2 = stereo default, 1 = the mono audio-port configuration).
    pub fn new(sample_rate: f64, max_block: usize, channels: usize) -> Result<Self> {
        Self::with_state(sample_rate, max_block, channels, None)
    }

    /// Like [`ClapUnderTest::new`], loading `state` (nice-plug JSON) before the activation, the
    /// way a host opens a project.
    pub fn with_state(
        sample_rate: f64,
        max_block: usize,
        channels: usize,
        state: Option<&[u8]>,
    ) -> Result<Self> {
        let mut plugin = ClapPlugin::load_mixsmith(&crate::paths::clap_bundle()?)?;
        if channels != 2 {
            plugin.select_channels(channels as u32)?;
        }
        if let Some(state) = state {
            plugin
                .load_state(&state::clap_frame(state))
                .context("loading the state before activation")?;
        }
        let (inputs, outputs) = plugin.channels()?;
        ensure!(
            inputs as usize == channels && outputs as usize == channels,
            "asked for {channels} channels, the plugin's ports have {inputs} in / {outputs} out"
        );
        let activation = Activation::new(sample_rate, max_block as u32);
        plugin.activate(activation)?;
        Ok(Self {
            plugin,
            activation,
            channels,
        })
    }
}

impl TestHost for ClapUnderTest {
    fn format(&self) -> &'static str {
        "CLAP"
    }

    fn configure(&mut self, sample_rate: f64, max_block: usize) -> Result<()> {
        self.activation = Activation::new(sample_rate, max_block as u32);
        self.plugin.reconfigure(self.activation)
    }

    fn set_offline(&mut self, offline: bool) -> Result<()> {
        let mode = if offline {
            RenderMode::Offline
        } else {
            RenderMode::Realtime
        };
        self.plugin.set_render_mode(mode)
    }

    fn latency(&mut self) -> Result<u32> {
        self.plugin.latency()
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn process(&mut self, input: &Planar, blocks: &[usize], changes: &[Change]) -> Result<Planar> {
        let changes: Vec<ParamChange> = changes
            .iter()
            .map(|c| {
                let (id, value) = c.param.host_value();
                ParamChange {
                    frame: c.frame,
                    id,
                    value,
                }
            })
            .collect();
        self.plugin.process(input, self.channels, blocks, &changes)
    }

    fn save_state(&mut self) -> Result<Vec<u8>> {
        state::clap_unframe(&self.plugin.save_state()?)
    }

    fn load_state(&mut self, blob: &[u8]) -> Result<()> {
        self.plugin.load_state(&state::clap_frame(blob))
    }

    fn gain_db(&mut self) -> Result<f64> {
        let value = self.plugin.param_value(spec::param_hash("gain"))?;
        Ok(spec::GAIN_RANGE_DB.0 + value * (spec::GAIN_RANGE_DB.1 - spec::GAIN_RANGE_DB.0))
    }

    fn sample_rate(&self) -> f64 {
        self.activation.sample_rate
    }

    fn max_block(&self) -> usize {
        self.activation.max_frames as usize
    }

    fn play_from(&mut self, position: i64) -> Result<()> {
        self.plugin.set_transport(Some(Transport {
            position,
            tempo: 120.0,
        }));
        Ok(())
    }
}

/// [`TestHost`] over the VST3 host.
pub struct Vst3UnderTest {
    /// The plugin.
    pub plugin: Vst3Plugin,
    /// The current maximum block size.
    max_block: usize,
}

impl Vst3UnderTest {
    /// Loads the VST3 bundle at `sample_rate` / `max_block` with `channels` (1 or 2) and starts
    /// processing.
    pub fn new(sample_rate: f64, max_block: usize, channels: usize) -> Result<Self> {
        Self::with_state(sample_rate, max_block, channels, None)
    }

    /// Like [`Vst3UnderTest::new`], loading `state` (nice-plug JSON) before processing starts,
    /// the way a host opens a project.
    pub fn with_state(
        sample_rate: f64,
        max_block: usize,
        channels: usize,
        state: Option<&[u8]>,
    ) -> Result<Self> {
        let mut plugin = Vst3Plugin::load(&crate::paths::vst3_bundle()?, sample_rate, max_block)?;
        if channels != plugin.channels().0 {
            plugin.set_channels(channels)?;
        }
        if let Some(state) = state {
            plugin
                .load_state(state)
                .context("loading the state before processing starts")?;
        }
        plugin.start()?;
        Ok(Self { plugin, max_block })
    }
}

impl TestHost for Vst3UnderTest {
    fn format(&self) -> &'static str {
        "VST3"
    }

    fn configure(&mut self, sample_rate: f64, max_block: usize) -> Result<()> {
        self.max_block = max_block;
        self.plugin.reconfigure(sample_rate, max_block)
    }

    fn set_offline(&mut self, offline: bool) -> Result<()> {
        let mode = if offline {
            ProcessMode::Offline
        } else {
            ProcessMode::Realtime
        };
        self.plugin.set_process_mode(mode)
    }

    fn latency(&mut self) -> Result<u32> {
        Ok(self.plugin.latency())
    }

    fn channels(&self) -> usize {
        self.plugin.channels().0
    }

    fn process(&mut self, input: &Planar, blocks: &[usize], changes: &[Change]) -> Result<Planar> {
        let changes: Vec<Vst3ParamChange> = changes
            .iter()
            .map(|c| {
                let (id, value) = c.param.host_value();
                Vst3ParamChange {
                    frame: c.frame,
                    id,
                    value,
                }
            })
            .collect();
        self.plugin.process(input, blocks, &changes)
    }

    fn save_state(&mut self) -> Result<Vec<u8>> {
        state::vst3_component(&self.plugin.save_state()?)
    }

    fn load_state(&mut self, blob: &[u8]) -> Result<()> {
        self.plugin.load_state(blob)
    }

    fn gain_db(&mut self) -> Result<f64> {
        let value = self.plugin.param_value(spec::param_hash("gain"))?;
        Ok(spec::GAIN_RANGE_DB.0 + value * (spec::GAIN_RANGE_DB.1 - spec::GAIN_RANGE_DB.0))
    }

    fn sample_rate(&self) -> f64 {
        self.plugin.sample_rate()
    }

    fn max_block(&self) -> usize {
        self.max_block
    }

    fn play_from(&mut self, position: i64) -> Result<()> {
        self.plugin.play_from(position)
    }
}

/// Prints a measured figure (the isolation helper forwards `figure:` lines).
pub fn figure(text: impl std::fmt::Display) {
    println!("figure: {text}");
}

/// Checks the reported latency against the spec, then runs an impulse through the plugin in
/// `blocks` (a function of the signal length and the maximum block) and checks that it comes
/// out exactly `latency` frames later at unity gain, every other frame silent.
pub fn check_impulse(
    host: &mut dyn TestHost,
    blocks: &dyn Fn(usize, usize) -> Vec<usize>,
) -> Result<u32> {
    let latency = host.latency()?;
    let expected = spec::expected_latency(host.max_block() as u32, host.sample_rate());
    ensure!(
        latency == expected,
        "{}: reported latency {latency}, the spec says 2*512 + max block {} + mastering = {expected}",
        host.format(),
        host.max_block()
    );
    let at = 37;
    let frames = at + latency as usize + 300;
    let input = signal::impulse(host.channels(), frames, at, 0.75);
    let plan = blocks(frames, host.max_block());
    let output = host.process(&input, &plan, &[])?;
    let measured = signal::measure_delay(&input, &output).with_context(|| {
        format!(
            "{} at {} Hz, max block {}",
            host.format(),
            host.sample_rate(),
            host.max_block()
        )
    })?;
    for (channel, delay) in measured.iter().enumerate() {
        ensure!(
            *delay == latency as usize,
            "{} channel {channel}: impulse came out {delay} frames late, reported latency is \
             {latency}",
            host.format()
        );
    }
    signal::check_delayed(&input, &output, latency as usize, 1.0, 0, TOLERANCE)
        .with_context(|| format!("{}: impulse response", host.format()))?;
    Ok(latency)
}

/// A gain segment: from `start` on, the output gain is `gain` (linear), reached `settle`
/// frames after `start`.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// First output frame of the segment.
    pub start: usize,
    /// Linear gain applied to the delayed input.
    pub gain: f32,
    /// Frames after `start` not checked (the gain smoother's ramp).
    pub settle: usize,
}

/// Processes noise with `changes` and checks every gain segment (the output between two
/// segments' starts is the input delayed by the latency times that segment's gain).
pub fn check_segments(
    host: &mut dyn TestHost,
    frames: usize,
    blocks: &[usize],
    changes: &[Change],
    segments: &[Segment],
    seed: u64,
) -> Result<Planar> {
    let latency = host.latency()? as usize;
    let input = signal::noise(host.channels(), frames, seed);
    let output = host.process(&input, blocks, changes)?;
    for (index, segment) in segments.iter().enumerate() {
        let end = segments.get(index + 1).map_or(frames, |next| next.start);
        let range = (segment.start + segment.settle).min(end)..end;
        signal::check_delayed_range(&input, &output, latency, segment.gain, range, TOLERANCE)
            .with_context(|| {
                format!(
                    "{}: segment {index} (from frame {}, gain {})",
                    host.format(),
                    segment.start,
                    segment.gain
                )
            })?;
    }
    Ok(output)
}

/// Silence long enough to flush the plugin's delay line, so the next signal starts clean.
pub fn flush(host: &mut dyn TestHost) -> Result<()> {
    let frames = host.latency()? as usize + host.max_block();
    let silence = vec![vec![0.0; frames]; host.channels()];
    let plan = signal::fixed_blocks(frames, host.max_block());
    let output = host.process(&silence, &plan, &[])?;
    // What comes out is the tail of the previous signal; nothing to check here.
    drop(output);
    Ok(())
}

/// Realtime or offline: latency as specified, the impulse delayed exactly, a gain of -6 dB set
/// by an event applied exactly (after the smoother).
pub fn delay_and_gain(host: &mut dyn TestHost, offline: bool) -> Result<()> {
    host.set_offline(offline)?;
    let latency = check_impulse(host, &|n, max| signal::fixed_blocks(n, max))?;
    figure(format!(
        "{} {} latency {latency} frames at {} Hz / max block {}",
        host.format(),
        if offline { "offline" } else { "realtime" },
        host.sample_rate(),
        host.max_block()
    ));
    let smooth = spec::smoothing_frames(host.sample_rate());
    let frames = 12_000;
    let plan = signal::fixed_blocks(frames, host.max_block());
    check_segments(
        host,
        frames,
        &plan,
        &[Change {
            frame: 0,
            param: Param::GainDb(-6.0),
        }],
        &[Segment {
            start: 0,
            gain: spec::db_to_amplitude(-6.0),
            settle: smooth,
        }],
        11,
    )?;
    let read_back = host.gain_db()?;
    ensure!(
        (read_back + 6.0).abs() < 0.01,
        "{}: gain reads back as {read_back} dB after setting -6 dB",
        host.format()
    );
    Ok(())
}

/// Gain automation: 0 dB, then -12 dB, then +6 dB at block boundaries, each level exact after
/// the smoother; the measured levels are printed.
pub fn gain_automation(host: &mut dyn TestHost) -> Result<()> {
    let block = host.max_block();
    let smooth = spec::smoothing_frames(host.sample_rate());
    // Changes land after the first latency period, so every segment is measurable, and on
    // block boundaries, where nice-plug applies them.
    let base = (host.latency()? as usize).div_ceil(block) * block;
    let (first, second) = (base + 10 * block, base + 24 * block);
    let frames = base + 36 * block;
    let changes = [
        Change {
            frame: first,
            param: Param::GainDb(-12.0),
        },
        Change {
            frame: second,
            param: Param::GainDb(6.0),
        },
    ];
    let output = check_segments(
        host,
        frames,
        &signal::fixed_blocks(frames, block),
        &changes,
        &[
            Segment {
                start: 0,
                gain: 1.0,
                settle: 0,
            },
            Segment {
                start: first,
                gain: spec::db_to_amplitude(-12.0),
                settle: smooth,
            },
            Segment {
                start: second,
                gain: spec::db_to_amplitude(6.0),
                settle: smooth,
            },
        ],
        21,
    )?;
    // The measured gain of each segment: output level over the delayed input's level.
    let latency = host.latency()? as usize;
    let input = signal::noise(host.channels(), frames, 21);
    let level_db = |range: std::ops::Range<usize>| {
        let delayed = range.start - latency..range.end - latency;
        20.0 * (signal::rms(&output[0], range) / signal::rms(&input[0], delayed)).log10()
    };
    figure(format!(
        "{} automation: measured {:.3} dB, {:.3} dB, {:.3} dB (set 0, -12, +6)",
        host.format(),
        level_db(latency..first),
        level_db(first + smooth..second),
        level_db(second + smooth..frames)
    ));
    Ok(())
}

/// Bypass: with the gain at -12 dB, bypassing gives the dry input delayed by the same latency;
/// un-bypassing brings the gain back.
pub fn bypass(host: &mut dyn TestHost) -> Result<()> {
    let block = host.max_block();
    let smooth = spec::smoothing_frames(host.sample_rate());
    let base = (host.latency()? as usize).div_ceil(block) * block;
    let (on, off) = (base + 12 * block, base + 24 * block);
    let frames = base + 36 * block;
    let quiet = spec::db_to_amplitude(-12.0);
    check_segments(
        host,
        frames,
        &signal::fixed_blocks(frames, block),
        &[
            Change {
                frame: 0,
                param: Param::GainDb(-12.0),
            },
            Change {
                frame: on,
                param: Param::Bypass(true),
            },
            Change {
                frame: off,
                param: Param::Bypass(false),
            },
        ],
        &[
            Segment {
                start: 0,
                gain: quiet,
                settle: smooth,
            },
            Segment {
                start: on,
                gain: 1.0,
                settle: 0,
            },
            Segment {
                start: off,
                gain: quiet,
                settle: 0,
            },
        ],
        31,
    )?;
    Ok(())
}

/// The latency, impulse and a -3 dB noise pass through the current configuration with blocks
/// from `blocks`.
pub fn check_configuration(
    host: &mut dyn TestHost,
    blocks: &dyn Fn(usize, usize) -> Vec<usize>,
    seed: u64,
) -> Result<()> {
    check_impulse(host, blocks)?;
    let smooth = spec::smoothing_frames(host.sample_rate());
    let frames = host.latency()? as usize + smooth + 4000;
    let plan = blocks(frames, host.max_block());
    check_segments(
        host,
        frames,
        &plan,
        &[Change {
            frame: 0,
            param: Param::GainDb(-3.0),
        }],
        &[Segment {
            start: 0,
            gain: spec::db_to_amplitude(-3.0),
            settle: smooth,
        }],
        seed,
    )?;
    // Back to unity for the next configuration, and flush the delay line.
    let frames = host.max_block();
    let silence = vec![vec![0.0; frames]; host.channels()];
    host.process(
        &silence,
        &[frames],
        &[Change {
            frame: 0,
            param: Param::GainDb(0.0),
        }],
    )?;
    flush(host)?;
    // Let the smoother reach unity: 20 ms of silence, twice its ramp.
    let settle = signal::fixed_blocks(host.sample_rate() as usize / 50 + 1, host.max_block());
    let total: usize = settle.iter().sum();
    host.process(&vec![vec![0.0; total]; host.channels()], &settle, &[])?;
    Ok(())
}

/// Sample-rate changes mid-stream: 8, 44.1, 96 and 192 kHz, one instance, each checked.
pub fn sample_rates(host: &mut dyn TestHost) -> Result<()> {
    for (index, rate) in [8_000.0, 44_100.0, 96_000.0, 192_000.0]
        .into_iter()
        .enumerate()
    {
        host.configure(rate, 512)?;
        check_configuration(
            host,
            &|n, max| signal::fixed_blocks(n, max),
            40 + index as u64,
        )
        .with_context(|| format!("{} at {rate} Hz", host.format()))?;
        figure(format!(
            "{} {rate} Hz: latency {} frames",
            host.format(),
            host.latency()?
        ));
    }
    Ok(())
}

/// Block-size changes mid-stream: maximum blocks of 1, 64 and 8192 frames (full blocks), then
/// random block lengths up to 512 within one activation.
pub fn block_sizes(host: &mut dyn TestHost) -> Result<()> {
    for (index, max) in [1usize, 64, 8192].into_iter().enumerate() {
        host.configure(48_000.0, max)?;
        check_configuration(
            host,
            &|n, max| signal::fixed_blocks(n, max),
            50 + index as u64,
        )
        .with_context(|| format!("{} with blocks of {max}", host.format()))?;
        figure(format!(
            "{} max block {max}: latency {} frames",
            host.format(),
            host.latency()?
        ));
    }
    host.configure(48_000.0, 512)?;
    check_configuration(host, &|n, max| signal::random_blocks(n, max, 77), 60)
        .with_context(|| format!("{} with random blocks up to 512", host.format()))?;
    Ok(())
}

/// State round trip: gain and session survive save -> load into a fresh instance.
pub fn state_round_trip(
    host: &mut dyn TestHost,
    fresh: &dyn Fn() -> Result<Box<dyn TestHost>>,
) -> Result<()> {
    let frames = 4 * host.max_block();
    host.process(
        &vec![vec![0.0; frames]; host.channels()],
        &signal::fixed_blocks(frames, host.max_block()),
        &[Change {
            frame: 0,
            param: Param::GainDb(-7.5),
        }],
    )?;
    let blob = host.save_state()?;
    let saved = state::parse(&blob)?;
    let gain = state::param_f32(&saved, "gain")?;
    ensure!(
        (gain + 7.5).abs() < 1e-4,
        "saved gain is {gain} dB, set -7.5"
    );
    let session = state::session(&saved)?;
    ensure!(
        session["version"] == SESSION_VERSION,
        "saved session has no version {SESSION_VERSION}: {session}"
    );

    let mut other = fresh()?;
    other.load_state(&blob)?;
    let restored = other.gain_db()?;
    ensure!(
        (restored + 7.5).abs() < 0.01,
        "{}: gain after restore is {restored} dB, saved -7.5",
        other.format()
    );
    let resaved = state::parse(&other.save_state()?)?;
    ensure!(
        state::session(&resaved)? == session,
        "session changed across a round trip: {session} -> {}",
        state::session(&resaved)?
    );
    // The restored instance processes with the restored gain (no smoothing from 0 dB expected
    // to matter after the settle window).
    let smooth = spec::smoothing_frames(other.sample_rate());
    let frames = other.latency()? as usize + smooth + 3000;
    let plan = signal::fixed_blocks(frames, other.max_block());
    check_segments(
        other.as_mut(),
        frames,
        &plan,
        &[],
        &[Segment {
            start: 0,
            gain: spec::db_to_amplitude(-7.5),
            settle: smooth,
        }],
        70,
    )?;
    Ok(())
}

/// A state from an older version: session v0 `{"tab":"Engine"}` and plugin version "0.0.1"
/// load, and re-saving writes the current session version keeping the tab.
pub fn state_old_version(host: &mut dyn TestHost) -> Result<()> {
    let mut old = state::parse(&host.save_state()?)?;
    state::set_session_raw(&mut old, r#"{"tab":"Engine"}"#)?;
    state::set_version(&mut old, "0.0.1")?;
    host.load_state(&state::to_bytes(&old)?)
        .context("loading a v0 session state")?;
    let migrated = state::parse(&host.save_state()?)?;
    let session = state::session(&migrated)?;
    ensure!(
        session["version"] == SESSION_VERSION && session["tab"] == "Engine",
        "{}: v0 session re-saved as {session}, expected version {SESSION_VERSION} with tab Engine",
        host.format()
    );
    ensure!(
        session["notice"].is_null(),
        "{}: a clean migration should leave no notice, got {session}",
        host.format()
    );
    check_impulse(host, &|n, max| signal::fixed_blocks(n, max))?;
    Ok(())
}

/// A corrupt session field (`"{not json"`) loads, processing goes on, and the re-saved session
/// carries a notice for the user.
pub fn state_corrupt_session(host: &mut dyn TestHost) -> Result<()> {
    let mut bad = state::parse(&host.save_state()?)?;
    state::set_session_raw(&mut bad, "{not json")?;
    host.load_state(&state::to_bytes(&bad)?)
        .context("a state whose session field is corrupt must still load")?;
    check_impulse(host, &|n, max| signal::fixed_blocks(n, max))?;
    let resaved = state::parse(&host.save_state()?)?;
    let session = state::session(&resaved)?;
    match session["notice"].as_str() {
        Some(notice) if !notice.is_empty() => {
            figure(format!("{} notice: {notice}", host.format()));
        }
        _ => bail!(
            "{}: after loading a corrupt session the re-saved session has no notice: {session}",
            host.format()
        ),
    }
    ensure!(
        session["version"] == SESSION_VERSION,
        "session after recovery: {session}"
    );
    Ok(())
}

/// A corrupt blob (random bytes) is refused or ignored: the plugin keeps its state (a gain of
/// -3 dB set before) and keeps processing.
pub fn state_corrupt_blob(host: &mut dyn TestHost) -> Result<()> {
    let frames = 4 * host.max_block();
    host.process(
        &vec![vec![0.0; frames]; host.channels()],
        &signal::fixed_blocks(frames, host.max_block()),
        &[Change {
            frame: 0,
            param: Param::GainDb(-3.0),
        }],
    )?;
    let mut rng = signal::Rng::new(99);
    let garbage: Vec<u8> = (0..777).map(|_| rng.next_u64() as u8).collect();
    let refused = host.load_state(&garbage).is_err();
    figure(format!(
        "{} random-bytes state: {}",
        host.format(),
        if refused {
            "refused"
        } else {
            "accepted (ignored)"
        }
    ));
    let gain = host.gain_db()?;
    ensure!(
        (gain + 3.0).abs() < 0.01,
        "{}: after a corrupt state blob the gain is {gain} dB, it was -3 dB",
        host.format()
    );
    flush(host)?;
    let smooth = spec::smoothing_frames(host.sample_rate());
    let frames = host.latency()? as usize + smooth + 3000;
    let plan = signal::fixed_blocks(frames, host.max_block());
    check_segments(
        host,
        frames,
        &plan,
        &[],
        &[Segment {
            start: 0,
            gain: spec::db_to_amplitude(-3.0),
            settle: smooth,
        }],
        80,
    )?;
    Ok(())
}

/// Mono layout: one channel in and out, the impulse delayed exactly.
pub fn mono(host: &mut dyn TestHost) -> Result<()> {
    ensure!(
        host.channels() == 1,
        "{}: expected a mono host, it has {} channels",
        host.format(),
        host.channels()
    );
    check_configuration(host, &|n, max| signal::fixed_blocks(n, max), 90)
}

/// Processes consecutive pieces of one signal, calling `between` before every piece but the
/// first, and checks that the whole output is the whole input delayed by the latency, with no
/// dropout or misalignment at the seams.
pub fn check_continuous<H: TestHost + ?Sized>(
    host: &mut H,
    pieces: usize,
    between: &mut dyn FnMut(&mut H, usize) -> Result<()>,
) -> Result<()> {
    let block = host.max_block();
    let piece = 20 * block;
    let input = signal::noise(host.channels(), pieces * piece, 101);
    let mut output: Planar = vec![Vec::new(); host.channels()];
    for index in 0..pieces {
        if index > 0 {
            between(host, index)?;
        }
        let part: Planar = input
            .iter()
            .map(|c| c[index * piece..(index + 1) * piece].to_vec())
            .collect();
        let out = host.process(&part, &signal::fixed_blocks(piece, block), &[])?;
        for (all, new) in output.iter_mut().zip(out) {
            all.extend(new);
        }
    }
    let latency = host.latency()? as usize;
    signal::check_delayed(&input, &output, latency, 1.0, 0, TOLERANCE)
        .with_context(|| format!("{}: output across {pieces} pieces", host.format()))
}

/// A playing transport that advances block by block, then jumps twice (forward, back to 0):
/// the plugin restarts its stream at each jump, and the output stays the input delayed by the
/// latency throughout (the delayed dry signal covers the restart).
pub fn transport_jumps<H: TestHost + ?Sized>(host: &mut H) -> Result<()> {
    host.play_from(0)?;
    let rate = host.sample_rate() as i64;
    check_continuous(host, 3, &mut |host: &mut H, index| {
        host.play_from(if index == 1 { 10 * rate } else { 0 })
    })
}
