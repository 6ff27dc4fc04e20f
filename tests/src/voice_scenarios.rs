//! Mixsmith Voice in both hosts: the latency it reports is the delay it has, the voice passes
//! delayed without a profile, a profile in the saved state converts exactly as
//! `mixsmith voice convert`, and automation of the amount; an RVC pack named in the saved state
//! renders offline exactly as `mixsmith voice convert --model`, and a missing one leaves the
//! DSP path running.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use mixsmith_core::inference::test_graph::write_rvc_sine_pack;
use mixsmith_core::voice::{VoiceProfile, learn};

use crate::clap_host::{Activation, ClapPlugin, ParamChange, RenderMode};
use crate::signal::{self, Planar};
use crate::spec;
use crate::state;
use crate::vst3_host::{ProcessMode, Vst3ParamChange, Vst3Plugin};

/// The Voice plugin's CLAP id.
pub const VOICE_CLAP_ID: &str = "com.mixsmith.voice";
/// The Voice plugin's VST3 class id.
pub const VOICE_VST3_CLASS: [u8; 16] = *b"MixsmithVoice001";
/// The largest latency the plugin may report, in seconds.
const MAX_LATENCY_S: f64 = 0.030;

/// What the scenarios need from a host running Mixsmith Voice (stereo).
pub trait VoiceHost {
    /// "CLAP" or "VST3".
    fn format(&self) -> &'static str;
    /// The latency the plugin reports.
    fn latency(&mut self) -> Result<usize>;
    /// Processes `input` in `blocks` with changes of the parameter `id` (normalised values).
    fn process(
        &mut self,
        input: &Planar,
        blocks: &[usize],
        changes: &[(usize, &'static str, f64)],
    ) -> Result<Planar>;
    /// The saved state, as the host stores it.
    fn save_state(&mut self) -> Result<Vec<u8>>;
}

/// Mixsmith Voice in the CLAP host.
pub struct ClapVoice {
    /// The plugin.
    pub plugin: ClapPlugin,
}

impl ClapVoice {
    /// Loads Mixsmith Voice with `profile` (if any) put into its state, or the saved `blob`, and
    /// activates it offline or realtime.
    pub fn new(
        sample_rate: f64,
        max_block: usize,
        offline: bool,
        profile: Option<&VoiceProfile>,
        blob: Option<&[u8]>,
    ) -> Result<Self> {
        Self::with_pack(sample_rate, max_block, offline, profile, blob, None)
    }

    /// Like [`new`](Self::new), with the RVC pack folder `pack` (if any) put into the state.
    pub fn with_pack(
        sample_rate: f64,
        max_block: usize,
        offline: bool,
        profile: Option<&VoiceProfile>,
        blob: Option<&[u8]>,
        pack: Option<&Path>,
    ) -> Result<Self> {
        let mut plugin = ClapPlugin::load(&crate::paths::clap_bundle()?, VOICE_CLAP_ID)?;
        if profile.is_some() || pack.is_some() {
            let mut saved = state::parse(&state::clap_unframe(&plugin.save_state()?)?)?;
            put_fields(&mut saved, profile, pack)?;
            plugin.load_state(&state::clap_frame(&state::to_bytes(&saved)?))?;
        }
        if let Some(blob) = blob {
            plugin.load_state(blob)?;
        }
        if offline {
            plugin.set_render_mode(RenderMode::Offline)?;
        }
        plugin.activate(Activation::new(sample_rate, max_block as u32))?;
        Ok(Self { plugin })
    }
}

impl VoiceHost for ClapVoice {
    fn format(&self) -> &'static str {
        "CLAP"
    }

    fn latency(&mut self) -> Result<usize> {
        Ok(self.plugin.latency()? as usize)
    }

    fn process(
        &mut self,
        input: &Planar,
        blocks: &[usize],
        changes: &[(usize, &'static str, f64)],
    ) -> Result<Planar> {
        let changes: Vec<ParamChange> = changes
            .iter()
            .map(|&(frame, id, value)| ParamChange {
                frame,
                id: spec::param_hash(id),
                value,
            })
            .collect();
        self.plugin.process(input, 2, blocks, &changes)
    }

    fn save_state(&mut self) -> Result<Vec<u8>> {
        self.plugin.save_state()
    }
}

/// Mixsmith Voice in the VST3 host.
pub struct Vst3Voice {
    /// The plugin.
    pub plugin: Vst3Plugin,
}

impl Vst3Voice {
    /// Loads Mixsmith Voice with `profile` (if any) put into its state, and starts it offline or
    /// realtime.
    pub fn new(
        sample_rate: f64,
        max_block: usize,
        offline: bool,
        profile: Option<&VoiceProfile>,
    ) -> Result<Self> {
        Self::with_pack(sample_rate, max_block, offline, profile, None)
    }

    /// Like [`new`](Self::new), with the RVC pack folder `pack` (if any) put into the state.
    pub fn with_pack(
        sample_rate: f64,
        max_block: usize,
        offline: bool,
        profile: Option<&VoiceProfile>,
        pack: Option<&Path>,
    ) -> Result<Self> {
        let mut plugin = Vst3Plugin::load_class(
            &crate::paths::vst3_bundle()?,
            Some(&VOICE_VST3_CLASS),
            sample_rate,
            max_block,
        )?;
        if profile.is_some() || pack.is_some() {
            let mut saved = state::parse(&state::vst3_component(&plugin.save_state()?)?)?;
            put_fields(&mut saved, profile, pack)?;
            plugin.load_state(&state::to_bytes(&saved)?)?;
        }
        if offline {
            plugin.set_process_mode(ProcessMode::Offline)?;
        } else {
            plugin.start()?;
        }
        Ok(Self { plugin })
    }
}

impl VoiceHost for Vst3Voice {
    fn format(&self) -> &'static str {
        "VST3"
    }

    fn latency(&mut self) -> Result<usize> {
        Ok(self.plugin.latency() as usize)
    }

    fn process(
        &mut self,
        input: &Planar,
        blocks: &[usize],
        changes: &[(usize, &'static str, f64)],
    ) -> Result<Planar> {
        let changes: Vec<Vst3ParamChange> = changes
            .iter()
            .map(|&(frame, id, value)| Vst3ParamChange {
                frame,
                id: spec::param_hash(id),
                value,
            })
            .collect();
        self.plugin.process(input, blocks, &changes)
    }

    fn save_state(&mut self) -> Result<Vec<u8>> {
        self.plugin.save_state()
    }
}

/// Puts `profile` and the pack folder `pack` (those given) into a parsed nice-plug state as
/// the plugin saves them.
fn put_fields(
    saved: &mut serde_json::Value,
    profile: Option<&VoiceProfile>,
    pack: Option<&Path>,
) -> Result<()> {
    if let Some(profile) = profile {
        saved["fields"]["profile"] =
            serde_json::Value::String(serde_json::to_string(&profile.to_json())?);
        saved["fields"]["profile_source"] =
            serde_json::Value::String(serde_json::to_string("test voice")?);
    }
    if let Some(pack) = pack {
        saved["fields"]["pack"] =
            serde_json::Value::String(serde_json::to_string(&pack.display().to_string())?);
    }
    Ok(())
}

/// Writes an RVC v2 test pack into `dir`: the generated "ContentVec" (each frame's level) and
/// a 40 kHz synthesizer singing a sine at `pitchf` with that level.
pub fn sine_pack(dir: &Path) -> Result<PathBuf> {
    write_rvc_sine_pack(dir, "sine voice")?;
    Ok(dir.to_path_buf())
}

/// With the RVC pack `pack` in the state, an offline render is `mixsmith voice convert
/// --float --model PACK --transpose 5` of the same input (the transpose automated before the
/// first block), delayed by the reported latency (between 1 and 2.5 s), to float rounding.
pub fn pack_render_equals_the_cli(
    host: &mut dyn VoiceHost,
    pack: &Path,
    rate: f64,
    work: &Path,
) -> Result<()> {
    let latency = host.latency()?;
    eprintln!(
        "{}: latency with the pack at {rate} Hz: {latency} frames = {:.1} ms",
        host.format(),
        1000.0 * latency as f64 / rate
    );
    ensure!(
        (1.0..2.5).contains(&(latency as f64 / rate)),
        "{}: latency {latency} frames at {rate} Hz",
        host.format()
    );
    let model = ["--model".as_ref(), pack.as_os_str()];
    transposed_render_equals_the_cli(host, rate, work, "pack", &model, 5.0, 7)
}

/// Writes `input` to `work/{name}-in.wav`, runs `mixsmith voice convert --float ARGS` on it into
/// `work/{name}-out.wav` and reads that back.
fn convert_with_cli(
    input: &Planar,
    rate: f64,
    work: &Path,
    name: &str,
    args: &[&std::ffi::OsStr],
) -> Result<Planar> {
    let wav = work.join(format!("{name}-in.wav"));
    crate::render::write_wav(&wav, input, rate as u32)?;
    let converted = work.join(format!("{name}-out.wav"));
    let status = std::process::Command::new(crate::fake_providers::cli_binary())
        .args(["voice", "convert", "--float"])
        .args(args)
        .arg("-o")
        .arg(&converted)
        .arg(&wav)
        .status()
        .context("running mixsmith voice convert")?;
    ensure!(status.success(), "mixsmith voice convert failed: {status}");
    Ok(crate::render::read_wav(&converted)?.0)
}

/// Checks that a plugin's `output` is the CLI's `cli` conversion of `input`, `latency` frames
/// later, and that the conversion changed every channel.
fn ensure_render_equals_the_cli(
    format: &str,
    input: &Planar,
    output: &Planar,
    cli: &Planar,
    latency: usize,
) -> Result<()> {
    let frames = input[0].len();
    for (c, ((x, y), expected)) in input.iter().zip(output).zip(cli).enumerate() {
        ensure!(
            expected.len() == frames,
            "the CLI wrote {} frames",
            expected.len()
        );
        let mut moved = 0.0f32;
        for t in 0..frames {
            ensure!(
                (expected[t] - y[t + latency]).abs() <= 1e-6,
                "{format}: channel {c}, frame {t}: {} against the CLI's {}",
                y[t + latency],
                expected[t]
            );
            moved = moved.max((x[t] - expected[t]).abs());
        }
        ensure!(moved > 0.01, "channel {c} was not converted");
    }
    Ok(())
}

/// A sung vowel: a sawtooth at `f0` Hz with a 5.5 Hz vibrato of ±30 cents, through resonators
/// at `formants` Hz, `seconds` long at `rate`.
pub fn vowel(rate: f64, seconds: f64, f0: f64, formants: &[f64]) -> Vec<f32> {
    let frames = (seconds * rate) as usize;
    let mut phase = 0.0f64;
    let source: Vec<f64> = (0..frames)
        .map(|t| {
            let cents = 30.0 * (std::f64::consts::TAU * 5.5 * t as f64 / rate).sin();
            phase = (phase + f0 * 2f64.powf(cents / 1200.0) / rate).fract();
            2.0 * phase - 1.0
        })
        .collect();
    let mut out = vec![0.0f32; frames];
    for &formant in formants {
        let r = (-std::f64::consts::PI * 80.0 / rate).exp();
        let c = 2.0 * r * (std::f64::consts::TAU * formant / rate).cos();
        let (mut y1, mut y2) = (0.0f64, 0.0f64);
        for (o, &x) in out.iter_mut().zip(&source) {
            let y = (1.0 - r) * x + c * y1 - r * r * y2;
            y2 = y1;
            y1 = y;
            *o += (0.3 * y) as f32;
        }
    }
    out
}

/// A profile learned from a 12-second vowel unlike [`test_voice`]'s.
pub fn test_profile(rate: f64) -> Result<VoiceProfile> {
    Ok(learn(
        &vowel(rate, 12.0, 180.0, &[300.0, 2300.0, 3000.0]),
        rate as f32,
    )?)
}

/// Two seconds of stereo voice to convert (a different vowel in each channel).
pub fn test_voice(rate: f64) -> Planar {
    vec![
        vowel(rate, 2.0, 220.0, &[800.0, 1200.0, 2500.0]),
        vowel(rate, 2.0, 150.0, &[500.0, 1500.0, 2600.0]),
    ]
}

/// Without a profile the voice passes unchanged, delayed by the reported latency (at most
/// 30 ms), in random blocks.
pub fn passes_delayed_without_a_profile(host: &mut dyn VoiceHost, rate: f64) -> Result<()> {
    let latency = host.latency()?;
    ensure!(
        latency as f64 / rate <= MAX_LATENCY_S,
        "{}: latency {latency} frames at {rate} Hz",
        host.format()
    );
    let input = test_voice(rate);
    let frames = input[0].len();
    let output = host.process(&input, &signal::random_blocks(frames, 512, 3), &[])?;
    for (c, (x, y)) in input.iter().zip(&output).enumerate() {
        for t in latency..frames {
            ensure!(
                (x[t - latency] - y[t]).abs() <= 1e-4,
                "{}: channel {c}, frame {t}: {} against the input's {}",
                host.format(),
                y[t],
                x[t - latency]
            );
        }
    }
    Ok(())
}

/// With a profile in the state and `transpose` semitones automated before the first block, each
/// channel's output is `mixsmith voice convert --float --transpose N` of the same input with the
/// same profile, delayed by the latency, to float rounding.
pub fn offline_render_equals_the_cli(
    host: &mut dyn VoiceHost,
    profile: &VoiceProfile,
    transpose: f64,
    rate: f64,
    work: &Path,
) -> Result<()> {
    let voice = work.join("voice.json");
    std::fs::write(&voice, profile.to_json())?;
    let model = ["--voice".as_ref(), voice.as_os_str()];
    transposed_render_equals_the_cli(host, rate, work, "voice", &model, transpose, 5)
}

/// Renders [`test_voice`] offline with `transpose` semitones automated before the first block,
/// in random blocks (drawn from `seed`), and checks it is `mixsmith voice convert --float
/// --transpose N MODEL...` of the same input, delayed by the latency, to float rounding.
fn transposed_render_equals_the_cli(
    host: &mut dyn VoiceHost,
    rate: f64,
    work: &Path,
    name: &str,
    model: &[&std::ffi::OsStr],
    transpose: f64,
    seed: u64,
) -> Result<()> {
    let latency = host.latency()?;
    let input = test_voice(rate);
    let frames = input[0].len();
    let semitones = transpose.to_string();
    let mut args = vec!["--transpose".as_ref(), semitones.as_ref()];
    args.extend_from_slice(model);
    let cli = convert_with_cli(&input, rate, work, name, &args)?;
    let padded = signal::pad(input.clone(), latency);
    let output = host.process(
        &padded,
        &signal::random_blocks(frames + latency, 512, seed),
        &[(0, "transpose", normalised_transpose(transpose))],
    )?;
    ensure_render_equals_the_cli(host.format(), &input, &output, &cli, latency)
}

/// The `transpose` parameter's normalised value for `semitones` (its range is ±24).
fn normalised_transpose(semitones: f64) -> f64 {
    (semitones + 24.0) / 48.0
}

/// Automating the amount to 0 returns the output to the delayed input once the gains have
/// glided there.
pub fn amount_automation_returns_to_the_dry_voice(
    host: &mut dyn VoiceHost,
    rate: f64,
) -> Result<()> {
    let latency = host.latency()?;
    let input = test_voice(rate);
    let frames = input[0].len();
    let change = frames / 4;
    let output = host.process(
        &input,
        &signal::fixed_blocks(frames, 480),
        &[(change, "amount", 0.0)],
    )?;
    let settled = change + latency + (0.5 * rate) as usize;
    for (c, (x, y)) in input.iter().zip(&output).enumerate() {
        let before = (latency..change)
            .map(|t| (x[t - latency] - y[t]).abs())
            .fold(0.0f32, f32::max);
        ensure!(
            before > 0.01,
            "{}: channel {c} unconverted before the change",
            host.format()
        );
        for t in settled..frames {
            ensure!(
                (x[t - latency] - y[t]).abs() <= 1e-3,
                "{}: channel {c}, frame {t} after amount 0: {} against {}",
                host.format(),
                y[t],
                x[t - latency]
            );
        }
    }
    Ok(())
}
