//! Rendering a WAV file through a CLAP plugin, with latency compensation (`mixsmith-host render`).
//!
//! The input is fed followed by `latency` frames of silence, and the first `latency` output
//! frames are dropped, so the output lines up with the input frame for frame. The output is a
//! 32-bit float WAV with the input's sample rate and channel count.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use serde_json::json;

use crate::clap_host::{Activation, ClapPlugin, RenderMode};
use crate::signal::{Planar, fixed_blocks};

/// What to render.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// The `.clap` file.
    pub plugin: PathBuf,
    /// The input WAV.
    pub input: PathBuf,
    /// The output WAV (32-bit float).
    pub output: PathBuf,
    /// Offline render mode (the plugin waits for its worker) instead of realtime.
    pub offline: bool,
    /// Frames per block (also the activation's maximum block).
    pub block: usize,
    /// Parameters as (string id, plain value text), e.g. ("gain", "-6").
    pub params: Vec<(String, String)>,
}

/// What was rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderSummary {
    /// Frames written (equal to the input's).
    pub frames: usize,
    /// Channels.
    pub channels: usize,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// The plugin's reported latency, compensated.
    pub latency: u32,
    /// Blocks processed.
    pub blocks: usize,
    /// Wall-clock seconds spent rendering (activation to the last block).
    pub seconds: f64,
    /// "offline" or "realtime".
    pub mode: &'static str,
}

impl RenderSummary {
    /// The one-line JSON summary the tool prints.
    pub fn to_json(&self) -> String {
        json!({
            "frames": self.frames,
            "channels": self.channels,
            "sample_rate": self.sample_rate,
            "latency": self.latency,
            "blocks": self.blocks,
            "seconds": self.seconds,
            "audio_seconds": self.frames as f64 / f64::from(self.sample_rate),
            "mode": self.mode,
        })
        .to_string()
    }
}

/// Parses `id=value` (the `--param` syntax).
pub fn parse_param(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((id, value)) if !id.trim().is_empty() && !value.trim().is_empty() => {
            Ok((id.trim().to_owned(), value.trim().to_owned()))
        }
        _ => bail!("--param expects id=value (e.g. gain=-6), got {text:?}"),
    }
}

/// Reads a WAV file as planar `f32` (integer formats scaled to -1..1).
pub fn read_wav(path: &Path) -> Result<(Planar, u32)> {
    let mut reader = hound::WavReader::open(path)
        .with_context(|| format!("cannot read WAV {}", path.display()))?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels);
    if channels == 0 {
        bail!("{}: the WAV has no channels", path.display());
    }
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .with_context(|| format!("{}: bad float samples", path.display()))?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()
                .with_context(|| format!("{}: bad integer samples", path.display()))?
        }
    };
    let frames = interleaved.len() / channels;
    let mut planar = vec![Vec::with_capacity(frames); channels];
    for frame in interleaved.chunks_exact(channels) {
        for (channel, sample) in planar.iter_mut().zip(frame) {
            channel.push(*sample);
        }
    }
    Ok((planar, spec.sample_rate))
}

/// Writes planar audio as a 32-bit float WAV.
pub fn write_wav(path: &Path, audio: &Planar, sample_rate: u32) -> Result<()> {
    let spec = hound::WavSpec {
        channels: u16::try_from(audio.len()).context("too many channels")?,
        sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("cannot create WAV {}", path.display()))?;
    let frames = audio.first().map_or(0, Vec::len);
    for frame in 0..frames {
        for channel in audio {
            writer
                .write_sample(channel[frame])
                .with_context(|| format!("cannot write to {}", path.display()))?;
        }
    }
    writer
        .finalize()
        .with_context(|| format!("cannot finish {}", path.display()))
}

/// The CLAP value for a parameter given as (string id, plain text).
fn param_value(plugin: &mut ClapPlugin, id: &str, text: &str) -> Result<(u32, f64)> {
    let hash = crate::spec::param_hash(id);
    let params = plugin.params()?;
    let Some(info) = params.iter().find(|p| p.id == hash) else {
        let names: Vec<&str> = params.iter().map(|p| p.name.as_str()).collect();
        bail!("--param {id}: the plugin has no parameter with that id (its parameters: {names:?})");
    };
    // nice-plug reads bools as "on"/"true" only; accept 1/0 for on/off switches too.
    if info.stepped && info.max == 1.0 {
        match text {
            "1" => return Ok((hash, 1.0)),
            "0" => return Ok((hash, 0.0)),
            _ => {}
        }
    }
    let value = plugin
        .text_to_value(hash, text)
        .with_context(|| format!("--param {id}={text}: not a value {:?} accepts", info.name))?;
    Ok((hash, value))
}

/// Renders `options.input` through the plugin into `options.output`.
pub fn render(options: &RenderOptions) -> Result<RenderSummary> {
    if options.block == 0 {
        bail!("--block must be at least 1");
    }
    let (input, sample_rate) = read_wav(&options.input)?;
    let channels = input.len();
    if channels > 2 {
        bail!(
            "{}: {channels} channels; the plugin takes mono or stereo",
            options.input.display()
        );
    }
    let frames = input[0].len();
    let mut plugin = ClapPlugin::load_mixsmith(&options.plugin)?;
    if channels == 1 {
        plugin
            .select_channels(1)
            .with_context(|| format!("{}: mono input", options.input.display()))?;
    }
    let mut changes = Vec::new();
    for (id, text) in &options.params {
        changes.push(param_value(&mut plugin, id, text)?);
    }
    // Applied before activation, so the gain smoother starts at the target.
    plugin.flush_params(&changes)?;
    let mode = if options.offline {
        RenderMode::Offline
    } else {
        RenderMode::Realtime
    };
    plugin.set_render_mode(mode)?;

    let started = Instant::now();
    plugin.activate(Activation::new(
        f64::from(sample_rate),
        options.block as u32,
    ))?;
    let latency = plugin.latency()?;
    let padded: Planar = input
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.resize(frames + latency as usize, 0.0);
            c
        })
        .collect();
    let blocks = fixed_blocks(frames + latency as usize, options.block);
    let output = plugin.process(&padded, channels, &blocks, &[])?;
    plugin.deactivate();
    let seconds = started.elapsed().as_secs_f64();

    let aligned: Planar = output
        .into_iter()
        .map(|c| c[latency as usize..].to_vec())
        .collect();
    write_wav(&options.output, &aligned, sample_rate)?;
    Ok(RenderSummary {
        frames,
        channels,
        sample_rate,
        latency,
        blocks: blocks.len(),
        seconds,
        mode: if options.offline {
            "offline"
        } else {
            "realtime"
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_parse() {
        assert_eq!(
            parse_param("gain=-6").unwrap(),
            ("gain".to_owned(), "-6".to_owned())
        );
        assert!(parse_param("gain").is_err());
        assert!(parse_param("=3").is_err());
    }

    #[test]
    fn wav_round_trips_as_float() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let audio = vec![vec![0.25, -0.5, 1.0], vec![0.0, 0.125, -1.0]];
        write_wav(&path, &audio, 44_100).unwrap();
        let (back, rate) = read_wav(&path).unwrap();
        assert_eq!(rate, 44_100);
        assert_eq!(back, audio);
        let missing = read_wav(&dir.path().join("missing.wav")).unwrap_err();
        assert!(format!("{missing:#}").contains("missing.wav"));
    }
}
