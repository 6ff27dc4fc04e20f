//! Mixsmith Stems in both hosts: buses, latency, the stems adding up to the mix, gain / mute /
//! solo automation, realtime and offline, and the offline render against the CLI.

use std::path::Path;

use anyhow::{Context, Result, ensure};

use crate::clap_host::{Activation, ClapPlugin, ParamChange, RenderMode};
use crate::signal::{self, Planar};
use crate::spec;
use crate::vst3_host::{ProcessMode, Vst3ParamChange, Vst3Plugin};

/// The Stems plugin's CLAP id.
pub const STEMS_CLAP_ID: &str = "com.mixsmith.stems";
/// The Stems plugin's VST3 class id.
pub const STEMS_VST3_CLASS: [u8; 16] = *b"MixsmithStems001";
/// The stems in the order of the auxiliary outputs.
pub const STEMS: [&str; 4] = ["vocals", "drums", "bass", "other"];
/// The stem gain parameters' range in dB (linear in dB).
const GAIN_RANGE_DB: (f64, f64) = (-60.0, 12.0);
/// Frames after a parameter change by which the mix has settled on the new gains.
const SETTLE_FRAMES: usize = 4800;
/// Absolute tolerance for sums of stems against the mix (float rounding of four terms).
const SUM_TOLERANCE: f32 = 2e-5;

/// A parameter change at a frame, by nice-plug id (`"vocals_mute"`), normalised 0..1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StemChange {
    /// The frame the change applies at.
    pub frame: usize,
    /// The parameter's nice-plug id.
    pub id: &'static str,
    /// The normalised value.
    pub value: f64,
}

/// The normalised value of a stem gain in dB.
pub fn gain_normalized(db: f64) -> f64 {
    (db - GAIN_RANGE_DB.0) / (GAIN_RANGE_DB.1 - GAIN_RANGE_DB.0)
}

/// What the scenarios need from a host running Mixsmith Stems.
pub trait StemsHost {
    /// "CLAP" or "VST3".
    fn format(&self) -> &'static str;
    /// The latency the plugin reports.
    fn latency(&mut self) -> Result<usize>;
    /// Processes `input` in `blocks` with `changes`: the main output, then the four auxiliary
    /// outputs (vocals, drums, bass, other).
    fn process(
        &mut self,
        input: &Planar,
        blocks: &[usize],
        changes: &[StemChange],
    ) -> Result<Vec<Planar>>;
}

/// Mixsmith Stems in the CLAP host.
pub struct ClapStems {
    /// The plugin.
    pub plugin: ClapPlugin,
    /// Channels per port.
    channels: usize,
}

impl ClapStems {
    /// Loads and activates Mixsmith Stems with `channels` per port, offline or realtime.
    pub fn new(sample_rate: f64, max_block: usize, channels: usize, offline: bool) -> Result<Self> {
        let mut plugin = ClapPlugin::load(&crate::paths::clap_bundle()?, STEMS_CLAP_ID)?;
        if channels != 2 {
            plugin.select_channels(channels as u32)?;
        }
        if offline {
            plugin.set_render_mode(RenderMode::Offline)?;
        }
        plugin.activate(Activation::new(sample_rate, max_block as u32))?;
        Ok(Self { plugin, channels })
    }
}

impl StemsHost for ClapStems {
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
        changes: &[StemChange],
    ) -> Result<Vec<Planar>> {
        let changes: Vec<ParamChange> = changes
            .iter()
            .map(|c| ParamChange {
                frame: c.frame,
                id: spec::param_hash(c.id),
                value: c.value,
            })
            .collect();
        self.plugin
            .process_buses(input, &[self.channels; 5], blocks, &changes)
    }
}

/// Mixsmith Stems in the VST3 host, stereo, with its auxiliary outputs active.
pub struct Vst3Stems {
    /// The plugin.
    pub plugin: Vst3Plugin,
}

impl Vst3Stems {
    /// Loads Mixsmith Stems from the bundle, activates its auxiliary outputs and starts it,
    /// offline or realtime.
    pub fn new(sample_rate: f64, max_block: usize, offline: bool) -> Result<Self> {
        let mut plugin = Vst3Plugin::load_class(
            &crate::paths::vst3_bundle()?,
            Some(&STEMS_VST3_CLASS),
            sample_rate,
            max_block,
        )?;
        plugin.activate_aux_outputs()?;
        if offline {
            plugin.set_process_mode(ProcessMode::Offline)?;
        } else {
            plugin.start()?;
        }
        Ok(Self { plugin })
    }
}

impl StemsHost for Vst3Stems {
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
        changes: &[StemChange],
    ) -> Result<Vec<Planar>> {
        let changes: Vec<Vst3ParamChange> = changes
            .iter()
            .map(|c| Vst3ParamChange {
                frame: c.frame,
                id: spec::param_hash(c.id),
                value: c.value,
            })
            .collect();
        self.plugin.process_buses(input, blocks, &changes)
    }
}

/// A small song: a 55 Hz bass in the centre, noise hits four times a second in the centre, and
/// a chord panned left (on stereo). Returns the mix and its bass part.
pub fn test_mix(channels: usize, frames: usize, sample_rate: f64) -> (Planar, Planar) {
    let mut noise = signal::Rng::new(11);
    let beat = (sample_rate / 4.0) as usize;
    let mut hit = vec![0.0f32; frames];
    for (t, sample) in hit.iter_mut().enumerate() {
        let since = t % beat;
        *sample = 0.4 * noise.sample() * (-(since as f32) / 400.0).exp();
    }
    let tone = |hz: f64, t: usize| (std::f64::consts::TAU * hz * t as f64 / sample_rate).sin();
    let bass: Vec<f32> = (0..frames).map(|t| (0.3 * tone(55.0, t)) as f32).collect();
    let chord: Vec<f32> = (0..frames)
        .map(|t| (0.05 * (tone(440.0, t) + tone(554.4, t) + tone(659.3, t))) as f32)
        .collect();
    let pan = if channels == 2 {
        [0.9f32, 0.1]
    } else {
        [0.5, 0.5]
    };
    let mix = (0..channels)
        .map(|c| {
            (0..frames)
                .map(|t| bass[t] + hit[t] + pan[c] * chord[t])
                .collect()
        })
        .collect();
    (mix, vec![bass; channels])
}

/// `Σ gains[s] · aux[s]` per channel.
fn weighted_sum(aux: &[Planar], gains: [f32; 4]) -> Planar {
    let channels = aux[0].len();
    let frames = aux[0][0].len();
    (0..channels)
        .map(|c| {
            (0..frames)
                .map(|t| (0..4).map(|s| gains[s] * aux[s][c][t]).sum())
                .collect()
        })
        .collect()
}

/// Checks `a == b` on the frames `range` within `tolerance`.
fn check_equal(a: &Planar, b: &Planar, range: std::ops::Range<usize>, what: &str) -> Result<()> {
    for (channel, (x, y)) in a.iter().zip(b).enumerate() {
        for t in range.clone() {
            ensure!(
                (x[t] - y[t]).abs() <= SUM_TOLERANCE,
                "{what}: channel {channel}, frame {t}: {} against {}",
                x[t],
                y[t]
            );
        }
    }
    Ok(())
}

/// Signal-to-distortion ratio of `estimate` against `reference` on `range`, in dB.
fn sdr(reference: &[f32], estimate: &[f32], range: std::ops::Range<usize>) -> f64 {
    let (mut signal, mut error) = (0.0f64, 0.0f64);
    for t in range {
        signal += f64::from(reference[t]).powi(2);
        error += f64::from(reference[t] - estimate[t]).powi(2);
    }
    10.0 * (signal / error.max(1e-30)).log10()
}

/// At 0 dB the main output is the input delayed by exactly the reported latency, the four
/// auxiliary outputs add up to it, and the bass lands in the bass output.
pub fn stems_add_up_to_the_delayed_mix(host: &mut dyn StemsHost, channels: usize) -> Result<()> {
    let rate = 48_000.0;
    let latency = host.latency()?;
    let frames = latency + 96_000;
    let (mix, bass) = test_mix(channels, frames, rate);
    let blocks = signal::random_blocks(frames, 512, 3);
    let outputs = host.process(&mix, &blocks, &[])?;
    ensure!(outputs.len() == 5, "{} output ports", outputs.len());
    let format = host.format();
    signal::check_delayed(&mix, &outputs[0], latency, 1.0, 0, 1e-5)
        .with_context(|| format!("{format}: the main output at 0 dB"))?;
    check_equal(
        &weighted_sum(&outputs[1..], [1.0; 4]),
        &outputs[0],
        0..frames,
        "the auxiliary outputs' sum against the main output",
    )?;
    let steady = latency + 24_000..frames;
    let bass_sdr = sdr(
        &bass[0][..frames - latency],
        &outputs[3][0][latency..],
        steady.start - latency..frames - latency,
    );
    crate::harness::figure(format!(
        "{format} Stems: latency {latency} frames; bass output SDR {bass_sdr:.1} dB"
    ));
    ensure!(
        bass_sdr > 10.0,
        "{format}: the bass output is {bass_sdr:.1} dB from the bass"
    );
    Ok(())
}

/// In realtime the worker may fall behind; whatever it delivers, the main output stays the
/// delayed input and the auxiliary outputs add up to it (missing stems come out in `other`).
pub fn realtime_keeps_the_mix_whole(host: &mut dyn StemsHost, channels: usize) -> Result<()> {
    let latency = host.latency()?;
    let frames = latency + 48_000;
    let (mix, _) = test_mix(channels, frames, 48_000.0);
    let outputs = host.process(&mix, &signal::fixed_blocks(frames, 256), &[])?;
    signal::check_delayed(&mix, &outputs[0], latency, 1.0, 0, 1e-5)
        .with_context(|| format!("{}: the realtime main output", host.format()))?;
    check_equal(
        &weighted_sum(&outputs[1..], [1.0; 4]),
        &outputs[0],
        0..frames,
        "the realtime auxiliary outputs' sum against the main output",
    )
}

/// Gain, mute and solo change the main output (after a short glide) and never the auxiliary
/// outputs.
pub fn gain_mute_and_solo_rebalance_the_mix(host: &mut dyn StemsHost) -> Result<()> {
    let latency = host.latency()?;
    let segment = 24_000;
    let first = latency + segment;
    let frames = first + 4 * segment;
    let (mix, _) = test_mix(2, frames, 48_000.0);
    let at = |k: usize| first + k * segment;
    let changes = [
        StemChange {
            frame: at(0),
            id: "vocals_mute",
            value: 1.0,
        },
        StemChange {
            frame: at(1),
            id: "drums_solo",
            value: 1.0,
        },
        StemChange {
            frame: at(2),
            id: "drums_solo",
            value: 0.0,
        },
        StemChange {
            frame: at(2),
            id: "bass_gain",
            value: gain_normalized(-6.0),
        },
        StemChange {
            frame: at(3),
            id: "vocals_mute",
            value: 0.0,
        },
    ];
    let outputs = host.process(&mix, &signal::fixed_blocks(frames, 480), &changes)?;
    let half = 10f32.powf(-6.0 / 20.0);
    let expected_gains = [
        [0.0, 1.0, 1.0, 1.0],
        [0.0, 1.0, 0.0, 0.0],
        [0.0, 1.0, half, 1.0],
        [1.0, 1.0, half, 1.0],
    ];
    for (k, gains) in expected_gains.into_iter().enumerate() {
        let range = at(k) + SETTLE_FRAMES..at(k + 1);
        check_equal(
            &weighted_sum(&outputs[1..], gains),
            &outputs[0],
            range,
            &format!("{}: the mix with stem gains {gains:?}", host.format()),
        )?;
    }
    // The auxiliary outputs still add up to the delayed input.
    let delayed: Planar = mix
        .iter()
        .map(|c| {
            std::iter::repeat_n(0.0, latency)
                .chain(c[..frames - latency].iter().copied())
                .collect()
        })
        .collect();
    check_equal(
        &weighted_sum(&outputs[1..], [1.0; 4]),
        &delayed,
        0..frames,
        "the auxiliary outputs under automation",
    )
}

/// The offline render's stems equal `mixsmith separate --float` on the same audio.
pub fn offline_stems_equal_the_cli(host: &mut dyn StemsHost, work: &Path) -> Result<()> {
    let rate = 48_000u32;
    let latency = host.latency()?;
    let song = 72_000;
    let (mix, _) = test_mix(2, song, f64::from(rate));
    let input = work.join("mix.wav");
    crate::render::write_wav(&input, &mix, rate)?;
    let out = work.join("stems");
    let status = std::process::Command::new(crate::fake_providers::cli_binary())
        .args(["separate", "--float", "-o"])
        .arg(&out)
        .arg(&input)
        .status()
        .context("running mixsmith separate")?;
    ensure!(status.success(), "mixsmith separate failed: {status}");
    let padded = signal::pad(mix, latency);
    let outputs = host.process(&padded, &signal::random_blocks(song + latency, 512, 9), &[])?;
    for (index, stem) in STEMS.iter().enumerate() {
        let (cli, _) = crate::render::read_wav(&out.join(format!("{stem}.wav")))?;
        for (channel, (cli, plugin)) in cli.iter().zip(&outputs[index + 1]).enumerate() {
            ensure!(cli.len() == song, "{stem}.wav has {} frames", cli.len());
            for t in 0..song {
                ensure!(
                    (cli[t] - plugin[t + latency]).abs() <= 1e-6,
                    "{}: {stem}, channel {channel}, frame {t}: CLI {} against the render {}",
                    host.format(),
                    cli[t],
                    plugin[t + latency]
                );
            }
        }
    }
    Ok(())
}

/// With a model pack chosen (in the saved state), the first pass is captured and separated in
/// the background; an offline second pass over the same audio plays the pack's stems (equal to
/// the pack run directly on the audio) in every whole cell, and they still add up to the mix.
/// Runs the audio thread's capture and cache paths under the allocation check.
pub fn clap_pack_stems_play_on_the_second_pass(work: &Path) -> Result<()> {
    use mixsmith_core::inference::ModelPack;
    use mixsmith_core::inference::test_graph::{mdx_low_pass, write_pack};
    use mixsmith_core::separate::ahead::{CELL_FRAMES, cell_of};
    use mixsmith_core::separate::{PackSeparator, StemLayout};

    let rate = 44_100u32;
    let pack = work.join("pack");
    let head = "name = \"low 500\"\ntask = \"separate\"\nconvention = \"mdx\"\nsample_rate = 44100\n\
                stems = [\"bass\"]\n[params]\nn_fft = 4096\ndim_f = 1024\ndim_t = 64\ncompensation = 1.0\n";
    write_pack(
        &pack,
        "model.onnx",
        &mdx_low_pass(4096, 1024, Some(64), 500.0),
        head,
    )?;

    let mut plugin = ClapPlugin::load(&crate::paths::clap_bundle()?, STEMS_CLAP_ID)?;
    let mut saved = crate::state::parse(&crate::state::clap_unframe(&plugin.save_state()?)?)?;
    saved["fields"]["pack"] =
        serde_json::Value::String(serde_json::to_string(&pack.display().to_string())?);
    plugin.load_state(&crate::state::clap_frame(&crate::state::to_bytes(&saved)?))?;
    plugin.set_render_mode(RenderMode::Offline)?;
    plugin.activate(Activation::new(f64::from(rate), 512))?;
    let latency = plugin.latency()? as usize;

    let frames = 3 * rate as usize;
    let (mix, _) = test_mix(2, frames, f64::from(rate));
    let blocks = signal::fixed_blocks(frames, 512);
    let transport = crate::clap_host::Transport {
        position: 0,
        tempo: 120.0,
    };
    plugin.set_transport(Some(transport));
    plugin.process_buses(&mix, &[2; 5], &blocks, &[])?;
    // Stopped for a second: the capture closes the region and the pack starts on it.
    plugin.set_transport(None);
    let silence = vec![vec![0.0f32; 512]; 2];
    for _ in 0..20 {
        plugin.process_buses(&silence, &[2; 5], &[512], &[])?;
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    plugin.set_transport(Some(transport));
    let second = plugin.process_buses(&mix, &[2; 5], &blocks, &[])?;

    let expected = PackSeparator::load(&[ModelPack::load(&pack)?])?.separate(
        &mix,
        rate,
        StemLayout::Four,
        &mut |_, _| {},
        &Default::default(),
    )?;
    let whole = cell_of(frames as i64) as usize * CELL_FRAMES;
    for (stem, name) in STEMS.iter().enumerate() {
        for channel in 0..2 {
            for t in latency..whole {
                ensure!(
                    second[stem + 1][channel][t] == expected[stem][channel][t - latency],
                    "{name}, channel {channel}, frame {t}: the render {} against the pack's {}",
                    second[stem + 1][channel][t],
                    expected[stem][channel][t - latency]
                );
            }
        }
    }
    check_equal(
        &weighted_sum(&second[1..], [1.0; 4]),
        &second[0],
        0..frames,
        "the pack's stems against the main output",
    )
}
