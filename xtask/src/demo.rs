//! `cargo xtask demo`: a short walk through what the project can do, from a freshly built plugin
//! and CLI to files under `target/demo/`.
//!
//! The demo is a list of [`DemoStep`]s run in order ([`STEPS`]); a new capability adds its own
//! step function and one entry to the list.

use crate::bundle::{self, Bundles, Variant};
use crate::util::{self, Steps, Workspace};
use anyhow::{Context, Result, ensure};
use std::f32::consts::TAU;
use std::fs;
use std::path::{Path, PathBuf};

mod voice;

/// Sample rate of the generated clip.
const SAMPLE_RATE: u32 = 48_000;

/// Length of the generated clip in seconds.
const CLIP_SECONDS: u32 = 10;

/// Tempo of the generated clip's noise bursts (one per beat).
const CLIP_BPM: u32 = 120;

/// Output gain (dB) the render step sets on the plugin, so its effect is visible in the peaks.
const RENDER_GAIN_DB: f32 = -6.0;

/// State shared by the demo steps.
pub struct Demo<'a> {
    /// The workspace.
    workspace: &'a Workspace,
    /// `target/demo/`.
    out_dir: PathBuf,
    /// The release bundles, once built.
    bundles: Option<Bundles>,
    /// Lines for the final report ("what is where").
    report: Vec<String>,
}

/// One step of the demo.
pub struct DemoStep {
    /// What the step does (printed with its duration).
    pub name: &'static str,
    /// The step itself.
    pub run: fn(&mut Demo) -> Result<()>,
}

/// The demo, in order.
pub const STEPS: &[DemoStep] = &[
    DemoStep {
        name: "bundle the release plugin (CLAP + VST3)",
        run: build_bundles,
    },
    DemoStep {
        name: "build the CLI (release)",
        run: build_cli,
    },
    DemoStep {
        name: "generate a 10 s stereo clip (chords + noise bursts)",
        run: generate_clip,
    },
    DemoStep {
        name: "render the clip through Mixsmith.clap (offline, gain -6 dB)",
        run: render_through_plugin,
    },
    DemoStep {
        name: "analyze the clip and the rendered clip with the CLI",
        run: analyze_with_cli,
    },
    DemoStep {
        name: "master the clip against a generated brighter, wider reference",
        run: master_with_cli,
    },
    DemoStep {
        name: "separate a generated four-part mix into stems and score them (SDR)",
        run: separate_with_cli,
    },
    DemoStep {
        name: "clone a generated singer's voice and convert another singer towards it",
        run: voice::clone_and_convert,
    },
];

/// Runs every demo step and prints where everything is.
pub fn run(workspace: &Workspace) -> Result<()> {
    let out_dir = workspace.target.join("demo");
    fs::create_dir_all(&out_dir)
        .with_context(|| format!("could not create {}", out_dir.display()))?;
    let mut demo = Demo {
        workspace,
        out_dir,
        bundles: None,
        report: Vec::new(),
    };
    let mut steps = Steps::default();
    for step in STEPS {
        steps.run(step.name, || (step.run)(&mut demo))?;
    }
    steps.print_summary();
    println!("---- demo outputs ----");
    for line in &demo.report {
        println!("{line}");
    }
    Ok(())
}

impl Demo<'_> {
    /// The generated input clip.
    fn clip(&self) -> PathBuf {
        self.out_dir.join("clip.wav")
    }
}

/// Step: release bundles.
fn build_bundles(demo: &mut Demo) -> Result<()> {
    let bundles = bundle::bundle(demo.workspace, Variant::Release, &[])?;
    demo.report
        .push(format!("CLAP plugin:  {}", bundles.clap.display()));
    demo.report
        .push(format!("VST3 plugin:  {}", bundles.vst3.display()));
    demo.bundles = Some(bundles);
    Ok(())
}

/// Step: the `mixsmith` CLI.
fn build_cli(demo: &mut Demo) -> Result<()> {
    util::run(
        demo.workspace
            .cargo()
            .args(["build", "--release", "-p", "mixsmith"]),
    )?;
    demo.report.push(format!(
        "CLI:          {}",
        demo.workspace.target.join("release/mixsmith").display()
    ));
    Ok(())
}

/// Step: the demo clip, written with hound.
fn generate_clip(demo: &mut Demo) -> Result<()> {
    let clip = demo.clip();
    write_wav(&clip, &demo_clip(SAMPLE_RATE, CLIP_SECONDS))?;
    demo.report.push(format!(
        "input clip:   {} (peak {:.1} dBFS)",
        clip.display(),
        peak_dbfs(&clip)?
    ));
    Ok(())
}

/// Step: offline render through the CLAP plugin with the in-repo host.
fn render_through_plugin(demo: &mut Demo) -> Result<()> {
    let plugin = &demo
        .bundles
        .as_ref()
        .context("the bundle step did not run")?
        .clap;
    let output = demo.out_dir.join("clip-rendered.wav");
    let summary = util::run_capture(
        demo.workspace
            .cargo()
            .args([
                "run",
                "--release",
                "-p",
                "mixsmith-tests",
                "--bin",
                "mixsmith-host",
                "--",
                "render",
                "--offline",
                "--block",
                "512",
            ])
            .arg("--plugin")
            .arg(plugin)
            .arg("--input")
            .arg(demo.clip())
            .arg("--output")
            .arg(&output)
            .arg("--param")
            .arg(format!("gain={RENDER_GAIN_DB}")),
    )?;
    let summary_file = demo.out_dir.join("render.json");
    fs::write(&summary_file, &summary)
        .with_context(|| format!("could not write {}", summary_file.display()))?;
    demo.report.push(format!(
        "rendered:     {} (peak {:.1} dBFS; host summary in {})",
        output.display(),
        peak_dbfs(&output)?,
        summary_file.display()
    ));
    Ok(())
}

/// Step: `mixsmith analyze --json` on the clip and on the rendered clip; prints their loudness,
/// tempo and key.
fn analyze_with_cli(demo: &mut Demo) -> Result<()> {
    let cli = demo.workspace.target.join("release/mixsmith");
    let mut loudness = Vec::new();
    let mut musical = Vec::new();
    for (input, name) in [
        (demo.clip(), "analyze.json"),
        (
            demo.out_dir.join("clip-rendered.wav"),
            "analyze-rendered.json",
        ),
    ] {
        let report = util::run_capture(
            std::process::Command::new(&cli)
                .arg("analyze")
                .arg(&input)
                .arg("--json"),
        )?;
        let report_file = demo.out_dir.join(name);
        fs::write(&report_file, &report)
            .with_context(|| format!("could not write {}", report_file.display()))?;
        let json = serde_json::from_str::<serde_json::Value>(&report)
            .with_context(|| format!("{} is not JSON", report_file.display()))?;
        let lufs = json["lufs"].as_f64();
        loudness.push(lufs.map_or_else(|| "?".to_owned(), |l| format!("{l:.1} LUFS")));
        demo.report
            .push(format!("analysis:     {}", report_file.display()));
        musical.push(tempo_and_key(&json));
    }
    demo.report.push(format!(
        "loudness:     {} in, {} rendered (gain {RENDER_GAIN_DB} dB)",
        loudness[0], loudness[1]
    ));
    demo.report.push(format!(
        "tempo, key:   {} in (generated at {CLIP_BPM} BPM in C major), {} rendered",
        musical[0], musical[1]
    ));
    Ok(())
}

/// `120.0 BPM (confidence 0.93), C major (confidence 0.81)` from `mixsmith analyze --json`'s
/// `bpm`, `bpm_confidence`, `key` and `key_confidence`; a missing value reads "no steady beat" or
/// "no key".
fn tempo_and_key(json: &serde_json::Value) -> String {
    let confidence = |field: &str| {
        json[field]
            .as_f64()
            .map_or_else(String::new, |c| format!(" (confidence {c:.2})"))
    };
    let tempo = json["bpm"].as_f64().map_or_else(
        || "no steady beat".to_owned(),
        |bpm| format!("{bpm:.1} BPM{}", confidence("bpm_confidence")),
    );
    let key = json["key"].as_str().map_or_else(
        || "no key".to_owned(),
        |key| format!("{key}{}", confidence("key_confidence")),
    );
    format!("{tempo}, {key}")
}

/// Step: `mixsmith master` of the clip against a reference made from it (brighter and wider),
/// then prints the report's headline figures.
fn master_with_cli(demo: &mut Demo) -> Result<()> {
    let reference = demo.out_dir.join("reference.wav");
    write_wav(
        &reference,
        &brighter_louder(&demo_clip(SAMPLE_RATE, CLIP_SECONDS)),
    )?;
    let mastered = demo.out_dir.join("clip-mastered.wav");
    let report_file = demo.out_dir.join("master-report.json");
    util::run(
        std::process::Command::new(demo.workspace.target.join("release/mixsmith"))
            .arg("master")
            .arg(demo.clip())
            .arg("--reference")
            .arg(&reference)
            .arg("-o")
            .arg(&mastered)
            .arg("--report")
            .arg(&report_file),
    )?;
    let report: serde_json::Value = serde_json::from_str(
        &fs::read_to_string(&report_file)
            .with_context(|| format!("could not read {}", report_file.display()))?,
    )
    .with_context(|| format!("{} is not JSON", report_file.display()))?;
    let lufs = |value: &serde_json::Value| {
        value
            .as_f64()
            .map_or_else(|| "?".to_owned(), |l| format!("{l:.1} LUFS"))
    };
    demo.report
        .push(format!("mastered:     {}", mastered.display()));
    demo.report
        .push(format!("master report: {}", report_file.display()));
    demo.report.push(format!(
        "mastering:    mix {} -> output {} (reference {}), gain {:+.1} dB, limiter max {:.1} dB; {}",
        lufs(&report["target"]["loudness"]["integrated_lufs"]),
        lufs(&report["output"]["integrated_lufs"]),
        lufs(&report["reference"]["loudness"]["integrated_lufs"]),
        report["loudness_gain_db"].as_f64().unwrap_or(f64::NAN),
        report["limiter"]["max_gain_reduction_db"]
            .as_f64()
            .unwrap_or(f64::NAN),
        report["loudness_match"]["explanation"]
            .as_str()
            .unwrap_or("")
    ));
    Ok(())
}

/// The four parts of the generated mix, in `mixsmith separate`'s file order.
const STEM_NAMES: [&str; 4] = ["vocals", "drums", "bass", "other"];

fn separate_with_cli(demo: &mut Demo) -> Result<()> {
    let parts = four_part_song(SAMPLE_RATE, CLIP_SECONDS);
    let truth_dir = demo.out_dir.join("song-stems-truth");
    fs::create_dir_all(&truth_dir)
        .with_context(|| format!("could not create {}", truth_dir.display()))?;
    for (name, part) in STEM_NAMES.iter().zip(&parts) {
        write_wav(&truth_dir.join(format!("{name}.wav")), part)?;
    }
    let song: Vec<[f32; 2]> = (0..parts[0].len())
        .map(|t| {
            let sum = |c: usize| parts.iter().map(|part| part[t][c]).sum::<f32>();
            [sum(0), sum(1)]
        })
        .collect();
    let song_path = demo.out_dir.join("song.wav");
    write_wav(&song_path, &song)?;
    let stems_dir = demo.out_dir.join("song-stems");
    util::run(
        std::process::Command::new(demo.workspace.target.join("release/mixsmith"))
            .arg("separate")
            .arg(&song_path)
            .arg("-o")
            .arg(&stems_dir),
    )?;
    // The truth as written (16-bit), so quantisation is not counted as separation error.
    let mut scores = Vec::new();
    for name in STEM_NAMES {
        let truth = read_wav(&truth_dir.join(format!("{name}.wav")))?;
        let estimate = read_wav(&stems_dir.join(format!("{name}.wav")))?;
        scores.push(format!("{name} {:.1} dB", sdr(&truth, &estimate)));
    }
    demo.report.push(format!(
        "stems:        {} (from {})",
        stems_dir.display(),
        song_path.display()
    ));
    demo.report.push(format!(
        "separation:   SDR against the generated parts (DSP default, no model): {}",
        scores.join(", ")
    ));
    Ok(())
}

/// Signal-to-distortion ratio of `estimate` against `truth` over both channels, in dB.
fn sdr(truth: &[f32], estimate: &[f32]) -> f64 {
    let (mut signal, mut error) = (0.0f64, 0.0f64);
    for (t, e) in truth.iter().zip(estimate) {
        signal += f64::from(*t).powi(2);
        error += f64::from(t - e).powi(2);
    }
    10.0 * (signal / error.max(1e-30)).log10()
}

/// Reads a WAV's samples (interleaved) as floats in -1..1.
fn read_wav(path: &Path) -> Result<Vec<f32>> {
    let mut reader = hound::WavReader::open(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let spec = reader.spec();
    let samples: Result<Vec<f32>, _> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect()
        }
    };
    samples.with_context(|| format!("bad samples in {}", path.display()))
}

/// A short song in four known parts (vocals, drums, bass, other), each stereo: a sung-like
/// melody in the centre (a harmonic tone with a vocal formant shape, vibrato and note
/// glides), kick and noise hits on the beat, a bass line on the chord roots, and the demo
/// clip's chords panned to one side.
fn four_part_song(sample_rate: u32, seconds: u32) -> [Vec<[f32; 2]>; 4] {
    const ROOTS: [f32; 4] = [65.41, 55.00, 43.65, 49.00]; // C2 A1 F1 G1
    const MELODY: [f32; 8] = [
        392.00, 440.00, 523.25, 440.00, 349.23, 392.00, 329.63, 293.66,
    ];
    let rate = sample_rate as f32;
    let frames = (sample_rate * seconds) as usize;
    let beat_len = (60.0 / CLIP_BPM as f32 * rate) as usize;
    let chord_len = (2.5 * rate) as usize;
    let note_len = chord_len / 2;
    let mut noise = XorShift(0x2545_F491_4F6C_DD1D);
    let (mut voice_phase, mut bass_phase) = (0.0f32, 0.0f32);
    let mut vocals = Vec::with_capacity(frames);
    let mut drums = Vec::with_capacity(frames);
    let mut bass = Vec::with_capacity(frames);
    for n in 0..frames {
        let t = n as f32 / rate;
        // Vocals: each note glides in over 40 ms; 5.5 Hz vibrato; harmonics shaped by a formant
        // around 700 Hz; a breath between notes.
        let note = (n / note_len) % MELODY.len();
        let since_note = (n % note_len) as f32 / rate;
        let previous = MELODY[(note + MELODY.len() - 1) % MELODY.len()];
        let glide = (since_note / 0.04).min(1.0);
        let pitch =
            (previous + (MELODY[note] - previous) * glide) * (1.0 + 0.012 * (TAU * 5.5 * t).sin());
        voice_phase = (voice_phase + pitch / rate).fract();
        let mut voice = 0.0;
        for harmonic in 1..=12 {
            let frequency = pitch * harmonic as f32;
            let formant = (-((frequency - 700.0) / 600.0).powi(2)).exp() + 0.15;
            voice += formant / harmonic as f32 * (TAU * harmonic as f32 * voice_phase).sin();
        }
        let note_envelope = (since_note / 0.03).min(1.0) * (1.0 - (since_note / 1.25).powi(8));
        let voice = 0.12 * voice * note_envelope.max(0.0);
        vocals.push([voice, voice]);
        // Drums: a kick (a 50 Hz thump falling in pitch) on every beat and a noise hit on 2 and 4.
        let since_beat = (n % beat_len) as f32 / rate;
        let kick = (TAU * (50.0 + 80.0 * (-since_beat / 0.03).exp()) * since_beat).sin()
            * (-since_beat / 0.12).exp();
        let snare = if (n / beat_len) % 2 == 1 {
            noise.next() * (-since_beat / 0.05).exp()
        } else {
            0.0
        };
        let hit = 0.3 * kick + 0.2 * snare;
        drums.push([hit, hit]);
        // Bass: the chord's root as a soft saw, in eighth notes.
        let root = ROOTS[(n / chord_len) % ROOTS.len()];
        bass_phase = (bass_phase + root / rate).fract();
        let since_eighth = (n % (beat_len / 2)) as f32 / rate;
        let saw = (1..=6)
            .map(|k| (TAU * k as f32 * bass_phase).sin() / k as f32)
            .sum::<f32>();
        let low = 0.16 * saw * (-since_eighth / 0.4).exp();
        bass.push([low, low]);
    }
    // Other: the demo clip's chords, pushed to the left.
    let other = (0..frames)
        .map(|n| {
            let [left, right] = chord_frame(n, rate);
            [left, 0.35 * right]
        })
        .collect();
    [vocals, drums, bass, other]
}

/// The demo's reference: the clip with its highs lifted (a first-difference boost) and its side
/// widened, normalised to a 0.95 peak.
fn brighter_louder(clip: &[[f32; 2]]) -> Vec<[f32; 2]> {
    let mut previous = [0.0_f32; 2];
    let frames: Vec<[f32; 2]> = clip
        .iter()
        .map(|frame| {
            let bright = [
                frame[0] + 0.8 * (frame[0] - previous[0]),
                frame[1] + 0.8 * (frame[1] - previous[1]),
            ];
            previous = *frame;
            let (mid, side) = (0.5 * (bright[0] + bright[1]), 0.5 * (bright[0] - bright[1]));
            [2.0 * (mid + 1.5 * side), 2.0 * (mid - 1.5 * side)]
        })
        .collect();
    let peak = frames
        .iter()
        .flatten()
        .fold(0.0_f32, |peak, sample| peak.max(sample.abs()));
    let scale = if peak > 0.95 { 0.95 / peak } else { 1.0 };
    frames
        .into_iter()
        .map(|[left, right]| [left * scale, right * scale])
        .collect()
}

/// A stereo test clip: a I-vi-IV-V chord progression (C, Am, F, G, one chord per 2.5 s, slightly
/// different voicing per channel) with short decaying noise bursts on every beat at 120 BPM.
/// Interleaved samples, peak below 0.9.
pub fn demo_clip(sample_rate: u32, seconds: u32) -> Vec<[f32; 2]> {
    let rate = sample_rate as f32;
    let beat_len = (60.0 / CLIP_BPM as f32 * rate) as usize;
    let mut noise = XorShift(0x9E37_79B9_7F4A_7C15);
    (0..(sample_rate * seconds) as usize)
        .map(|n| {
            let [left, right] = chord_frame(n, rate);
            let since_beat = (n % beat_len) as f32 / rate;
            let burst = if since_beat < 0.08 {
                noise.next() * (-since_beat / 0.015).exp() * 0.5
            } else {
                0.0
            };
            [left + burst, right + burst]
        })
        .collect()
}

/// Frame `n` of the demo clip's chords: C, Am, F, G, one chord per 2.5 s with a soft attack,
/// each voice a tone and its octave, panned a little differently.
fn chord_frame(n: usize, rate: f32) -> [f32; 2] {
    const CHORDS: [[f32; 3]; 4] = [
        [261.63, 329.63, 392.00], // C
        [220.00, 261.63, 329.63], // Am
        [174.61, 220.00, 261.63], // F
        [196.00, 246.94, 293.66], // G
    ];
    let chord_len = (2.5 * rate) as usize;
    let t = n as f32 / rate;
    let chord = CHORDS[(n / chord_len) % CHORDS.len()];
    let since_change = (n % chord_len) as f32 / rate;
    let envelope = (since_change / 0.02).min(1.0);
    let (mut left, mut right) = (0.0, 0.0);
    for (i, frequency) in chord.iter().enumerate() {
        let tone = (TAU * frequency * t).sin() + 0.3 * (TAU * 2.0 * frequency * t).sin();
        let pan = 0.35 + 0.15 * i as f32;
        left += tone * (1.0 - pan);
        right += tone * pan;
    }
    [0.18 * envelope * left, 0.18 * envelope * right]
}

/// Small deterministic noise source in -1..1 (the clip is the same on every run).
struct XorShift(u64);

impl XorShift {
    /// The next sample.
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}

/// Writes 16-bit PCM with `CHANNELS` channels at the demo's sample rate.
fn write_wav<const CHANNELS: usize>(path: &Path, frames: &[[f32; CHANNELS]]) -> Result<()> {
    let spec = hound::WavSpec {
        channels: CHANNELS as u16,
        sample_rate: SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)
        .with_context(|| format!("could not create {}", path.display()))?;
    for frame in frames {
        for sample in frame {
            writer.write_sample((sample.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16)?;
        }
    }
    writer
        .finalize()
        .with_context(|| format!("could not finish {}", path.display()))
}

/// Sample peak of a WAV file in dBFS (integer or float samples).
fn peak_dbfs(path: &Path) -> Result<f32> {
    let mut reader = hound::WavReader::open(path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let spec = reader.spec();
    let peak = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .try_fold(0f32, |peak, s| s.map(|s| peak.max(s.abs())))?,
        hound::SampleFormat::Int => {
            let full_scale = (1i64 << (spec.bits_per_sample - 1)) as f32;
            reader.samples::<i32>().try_fold(0f32, |peak, s| {
                s.map(|s| peak.max(s.abs() as f32 / full_scale))
            })?
        }
    };
    ensure!(peak > 0.0, "{} is silent", path.display());
    Ok(20.0 * peak.log10())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_clip_is_ten_seconds_of_loud_but_unclipped_stereo() -> Result<()> {
        let clip = demo_clip(SAMPLE_RATE, CLIP_SECONDS);
        assert_eq!(clip.len(), (SAMPLE_RATE * CLIP_SECONDS) as usize);
        let peak = clip.iter().flatten().fold(0f32, |p, s| p.max(s.abs()));
        assert!(peak > 0.3 && peak < 0.9, "peak {peak}");
        let differs = clip.iter().any(|[l, r]| (l - r).abs() > 0.01);
        assert!(differs, "channels should differ");
        assert_eq!(clip, demo_clip(SAMPLE_RATE, CLIP_SECONDS), "deterministic");

        let dir = tempfile::tempdir()?;
        let path = dir.path().join("clip.wav");
        write_wav(&path, &clip)?;
        let measured = peak_dbfs(&path)?;
        assert!((measured - 20.0 * peak.log10()).abs() < 0.01, "{measured}");
        Ok(())
    }

    #[test]
    fn the_four_part_song_has_every_part_and_does_not_clip() {
        let parts = four_part_song(SAMPLE_RATE, CLIP_SECONDS);
        let frames = (SAMPLE_RATE * CLIP_SECONDS) as usize;
        let mut peak = 0.0f32;
        for t in 0..frames {
            for c in 0..2 {
                peak = peak.max(parts.iter().map(|p| p[t][c]).sum::<f32>().abs());
            }
        }
        assert!(peak < 1.0 && peak > 0.3, "mix peak {peak}");
        for (name, part) in STEM_NAMES.iter().zip(&parts) {
            assert_eq!(part.len(), frames, "{name}");
            let rms = (part.iter().map(|f| f[0] * f[0]).sum::<f32>() / frames as f32).sqrt();
            assert!(rms > 0.01, "{name} is nearly silent: {rms}");
        }
        // The voice and the bass sit in the centre, the chords mostly left.
        assert!(parts[0].iter().chain(&parts[2]).all(|[l, r]| l == r));
        let side: f32 = parts[3].iter().map(|[l, r]| (l - r).abs()).sum();
        assert!(side > 0.0);
    }

    #[test]
    fn tempo_and_key_read_the_analyze_json() {
        let json = serde_json::json!({
            "lufs": -14.0, "bpm": 120.04, "bpm_confidence": 0.9, "key": "C major",
            "key_confidence": 0.812
        });
        assert_eq!(
            tempo_and_key(&json),
            "120.0 BPM (confidence 0.90), C major (confidence 0.81)"
        );
        let json = serde_json::json!({"bpm": null, "bpm_confidence": null, "key": null});
        assert_eq!(tempo_and_key(&json), "no steady beat, no key");
    }
}
