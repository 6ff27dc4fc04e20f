//! `mixsmith voice clone` and `mixsmith voice convert` on generated voices.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `mixsmith voice ARGS...`.
fn voice(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .arg("voice")
        .args(args)
        .output()
        .expect("run mixsmith")
}

fn utf8(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A sung voice: a sawtooth at MIDI notes `notes` (0.5 s each, a short gap between them)
/// through two-pole formant resonators at `formants` Hz, as 32-bit float WAV with `channels`
/// (the second at half level).
fn write_voice(path: &Path, rate: u32, channels: u16, notes: &[f32], formants: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let fs = rate as f32;
    let mut state: Vec<(f32, f32)> = vec![(0.0, 0.0); formants.len()];
    let mut phase = 0.0f32;
    for &note in notes {
        let hz = 440.0 * 2f32.powf((note - 69.0) / 12.0);
        let len = (0.5 * fs) as usize;
        for i in 0..len + (0.1 * fs) as usize {
            phase = (phase + hz / fs).fract();
            let mut x = if i < len { 2.0 * phase - 1.0 } else { 0.0 };
            for ((y1, y2), &f) in state.iter_mut().zip(formants) {
                let r = (-std::f32::consts::PI * 100.0 / fs).exp();
                let b1 = 2.0 * r * (std::f32::consts::TAU * f / fs).cos();
                let y = (1.0 - b1 + r * r) * x + b1 * *y1 - r * r * *y2;
                (*y1, *y2) = (y, *y1);
                x = y;
            }
            let x = 0.2 * x;
            w.write_sample(x).unwrap();
            if channels == 2 {
                w.write_sample(0.5 * x).unwrap();
            }
        }
    }
    w.finalize().unwrap();
}

fn samples(path: &Path) -> (hound::WavSpec, Vec<f32>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let s = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => r
            .samples::<i32>()
            .map(|s| s.unwrap() as f32 / (1 << (spec.bits_per_sample - 1)) as f32)
            .collect(),
    };
    (spec, s)
}

/// The reference voice, the voice to convert, the profile and the output, in `dir`.
fn files(dir: &Path) -> [std::path::PathBuf; 4] {
    ["x.wav", "y.wav", "x.json", "out.wav"].map(|name| dir.join(name))
}

const MELODY: [f32; 8] = [52.0, 55.0, 57.0, 59.0, 57.0, 55.0, 54.0, 52.0];

/// Writes the reference voice (the melody 2.5 times, at 48 kHz) to `reference` and clones it
/// into `profile`.
fn clone_reference(reference: &Path, profile: &Path) -> Output {
    let notes: Vec<f32> = MELODY.iter().cycle().take(20).copied().collect();
    write_voice(reference, 48_000, 1, &notes, &[600.0, 1000.0, 2400.0]);
    let out = voice(&["clone", utf8(reference), "-o", utf8(profile)]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    out
}

#[test]
fn clones_a_voice_and_converts_a_stereo_file_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let [reference, input, profile, output] = files(dir.path());
    write_voice(&input, 44_100, 2, &MELODY, &[400.0, 2000.0, 3000.0]);

    let out = clone_reference(&reference, &profile);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Pitch") && stdout.contains("voiced"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(v["version"], 2);
    assert_eq!(v["classes"].as_array().unwrap().len(), 16, "{v}");
    assert!(v["voiced_seconds"].as_f64().unwrap() > 9.0, "{v}");
    assert!(!dir.path().join(".x.json.mixsmith-partial").exists());

    let out = voice(&[
        "convert",
        utf8(&input),
        "--voice",
        utf8(&profile),
        "-o",
        utf8(&output),
        "--formant",
        "-1",
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let (in_spec, dry) = samples(&input);
    let (spec, wet) = samples(&output);
    assert_eq!((spec.channels, spec.sample_rate), (2, 44_100));
    assert_eq!(wet.len(), dry.len(), "same length as the input");
    assert_eq!(in_spec.channels, 2);
    assert!(wet.iter().all(|s| s.is_finite()));
    let diff: f32 = wet.iter().zip(&dry).map(|(a, b)| (a - b).abs()).sum();
    assert!(diff > 1.0, "the conversion changed the voice ({diff})");
    assert!(!dir.path().join(".out.wav.mixsmith-partial").exists());

    // Amount 0 is the input, aligned (the latency is removed).
    let out = voice(&[
        "convert",
        utf8(&input),
        "--voice",
        utf8(&profile),
        "-o",
        utf8(&output),
        "--amount",
        "0",
        "--float",
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let (_, same) = samples(&output);
    let worst = same
        .iter()
        .zip(&dry)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-5, "{worst}");
}

#[test]
fn bad_input_fails_cleanly_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (silence, profile, clip, output) = (
        dir.path().join("silence.wav"),
        dir.path().join("p.json"),
        dir.path().join("v.wav"),
        dir.path().join("out.wav"),
    );
    let w = hound::WavWriter::create(
        &silence,
        hound::WavSpec {
            channels: 1,
            sample_rate: 16_000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        },
    );
    let mut w = w.unwrap();
    for _ in 0..48_000 {
        w.write_sample(0i16).unwrap();
    }
    w.finalize().unwrap();
    let out = voice(&["clone", utf8(&silence), "-o", utf8(&profile)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no voiced audio"), "{}", stderr(&out));
    assert!(!profile.exists());

    write_voice(&clip, 8000, 1, &MELODY, &[500.0, 1500.0]);
    std::fs::write(&profile, "{\"version\": 1}").unwrap();
    let convert = |extra: &[&str]| {
        let mut args = vec!["convert", utf8(&clip), "--voice", utf8(&profile)];
        args.extend(["-o", utf8(&output)]);
        args.extend(extra);
        voice(&args)
    };
    let out = convert(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("p.json") && stderr(&out).contains("not a valid voice profile"),
        "{}",
        stderr(&out)
    );
    let out = convert(&["--protect", "0.7"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--protect"), "{}", stderr(&out));
    assert!(!output.exists());

    // An 8 kHz voice cloned and converted with itself.
    let notes: Vec<f32> = MELODY.iter().cycle().take(16).copied().collect();
    write_voice(&clip, 8000, 1, &notes, &[500.0, 1500.0]);
    let out = voice(&["clone", utf8(&clip), "-o", utf8(&profile)]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let out = convert(&[]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let (spec, wet) = samples(&output);
    assert_eq!((spec.channels, spec.sample_rate), (1, 8000));
    assert!(wet.iter().all(|s| s.is_finite()) && wet.iter().any(|&s| s != 0.0));
}

/// The median F0 of `samples` at `rate` over its voiced frames.
fn median_f0(samples: &[f32], rate: f32) -> f32 {
    let frames = mixsmith_core::voice::track(samples, rate, &Default::default());
    let mut voiced: Vec<f32> = frames
        .iter()
        .map(|f| f.f0_hz)
        .filter(|&f| f > 0.0)
        .collect();
    assert!(voiced.len() > frames.len() / 3, "{} voiced", voiced.len());
    voiced.sort_by(f32::total_cmp);
    voiced[voiced.len() / 2]
}

#[test]
fn transposes_by_semitones_or_automatically_by_octaves() {
    let dir = tempfile::tempdir().unwrap();
    let [reference, input, profile, output] = files(dir.path());
    // The profile's voice sings an octave below the input's.
    clone_reference(&reference, &profile);
    let high: Vec<f32> = MELODY.iter().map(|n| n + 12.0).collect();
    write_voice(&input, 48_000, 1, &high, &[400.0, 2000.0, 3000.0]);
    let (_, dry) = samples(&input);
    let dry_f0 = median_f0(&dry, 48_000.0);

    let convert = |transpose: &str| {
        let args = ["convert", utf8(&input), "--voice", utf8(&profile)];
        voice(&[&args[..], &["-o", utf8(&output), "--transpose", transpose]].concat())
    };
    for (transpose, semitones) in [("12", 12.0f32), ("-7.5", -7.5), ("auto", -12.0)] {
        let out = convert(transpose);
        assert!(out.status.success(), "stderr: {}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        if transpose == "auto" {
            assert!(
                stdout.contains("transpose auto") && stdout.contains("-12 semitones"),
                "{stdout}"
            );
        }
        let (spec, wet) = samples(&output);
        assert_eq!(wet.len(), dry.len());
        let cents = 1200.0 * (median_f0(&wet, spec.sample_rate as f32) / dry_f0).log2();
        println!("--transpose {transpose}: moved {cents:.1} cents");
        assert!(
            (cents - 100.0 * semitones).abs() < 10.0,
            "--transpose {transpose}: {cents} cents"
        );
    }

    std::fs::remove_file(&output).unwrap();
    for bad in ["abc", "30", "-24.5", ""] {
        let out = convert(bad);
        assert!(!out.status.success(), "--transpose {bad:?} was accepted");
        assert!(stderr(&out).contains("--transpose"), "{}", stderr(&out));
        assert!(!output.exists());
    }
}
