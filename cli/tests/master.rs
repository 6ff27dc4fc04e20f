//! Runs `mixsmith master` on generated WAV files.

use std::path::Path;
use std::process::{Command, Output};

fn mixsmith<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .args(args)
        .output()
        .expect("run mixsmith")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Writes `channels` of noise coloured by a one-pole low-pass (`tilt` in 0..1, higher is
/// darker) at about `rms`, as 32-bit float.
fn write_noise(path: &Path, rate: u32, channels: u16, secs: f64, rms: f32, tilt: f32, seed: u32) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut state = seed | 1;
    let mut lp = vec![0.0f32; usize::from(channels)];
    let scale = rms * 1.7 * (1.0 + tilt * 2.0);
    for _ in 0..(secs * f64::from(rate)) as usize {
        for ch in lp.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let white = state as f32 / u32::MAX as f32 * 2.0 - 1.0;
            *ch = tilt * *ch + (1.0 - tilt) * white;
            w.write_sample(*ch * scale).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// Integrated loudness and true peak as `mixsmith analyze --json` measures them.
fn analyze(path: &Path) -> (f64, f64) {
    let out = mixsmith(&["analyze".as_ref(), path.as_os_str(), "--json".as_ref()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["lufs"].as_f64().unwrap(),
        v["true_peak_dbtp"].as_f64().unwrap(),
    )
}

#[test]
fn masters_a_stereo_mix_to_a_reference_at_another_rate() {
    let dir = tempfile::tempdir().unwrap();
    let (input, reference, output, report) = (
        dir.path().join("mix.wav"),
        dir.path().join("ref.wav"),
        dir.path().join("master.wav"),
        dir.path().join("report.json"),
    );
    write_noise(&input, 44_100, 2, 6.0, 0.03, 0.9, 1);
    write_noise(&reference, 48_000, 2, 6.0, 0.12, 0.3, 2);
    let out = mixsmith(&[
        "master".as_ref(),
        input.as_os_str(),
        "--reference".as_ref(),
        reference.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("Output") && stdout.contains("LUFS"),
        "{stdout}"
    );

    let wav = hound::WavReader::open(&output).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (
            spec.bits_per_sample,
            spec.sample_format,
            spec.channels,
            spec.sample_rate
        ),
        (24, hound::SampleFormat::Int, 2, 44_100)
    );
    assert_eq!(wav.duration(), 6 * 44_100, "same length as the input");
    assert!(!dir.path().join(".master.wav.mixsmith-partial").exists());

    let (ref_lufs, _) = analyze(&reference);
    let (out_lufs, out_tp) = analyze(&output);
    assert!(
        (out_lufs - ref_lufs).abs() <= 0.3,
        "{out_lufs} vs {ref_lufs}"
    );
    assert!(out_tp <= -1.0 + 0.05, "true peak {out_tp}");

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    let lufs = |x: &serde_json::Value| x["integrated_lufs"].as_f64().unwrap();
    assert!((lufs(&v["reference"]["loudness"]) - ref_lufs).abs() < 0.01);
    assert!((lufs(&v["output"]) - out_lufs).abs() < 0.05);
    assert!(lufs(&v["target"]["loudness"]) < ref_lufs - 6.0);
    assert!(v["loudness_gain_db"].as_f64().unwrap() > 6.0);
    assert_eq!(v["loudness_match"]["matched"], true);
    assert!(v["limiter"]["max_gain_reduction_db"].as_f64().is_some());
    assert_eq!(v["reference"]["sample_rate"], 48_000);
    let curve = &v["curve"];
    let n = curve["frequencies_hz"].as_array().unwrap().len();
    assert!(n > 100);
    assert_eq!(curve["mid_db"].as_array().unwrap().len(), n);
    // The darker mix needs its highs raised relative to its lows.
    let mid = curve["mid_db"].as_array().unwrap();
    assert!(mid[n - 20].as_f64().unwrap() > mid[40].as_f64().unwrap() + 3.0);
}

#[test]
fn mono_mix_stereo_reference_and_float_output() {
    let dir = tempfile::tempdir().unwrap();
    let (input, reference, output) = (
        dir.path().join("mono.wav"),
        dir.path().join("ref.wav"),
        dir.path().join("out.wav"),
    );
    write_noise(&input, 22_050, 1, 4.0, 0.05, 0.5, 3);
    write_noise(&reference, 96_000, 2, 4.0, 0.1, 0.5, 4);
    let out = mixsmith(&[
        "master".as_ref(),
        input.as_os_str(),
        "-r".as_ref(),
        reference.as_os_str(),
        "-o".as_ref(),
        output.as_os_str(),
        "--float".as_ref(),
        "--amount".as_ref(),
        "50".as_ref(),
        "--smoothing".as_ref(),
        "1/6".as_ref(),
    ]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("mono"),
        "a note about the mono target: {}",
        stderr(&out)
    );
    let wav = hound::WavReader::open(&output).unwrap();
    let spec = wav.spec();
    assert_eq!(
        (
            spec.bits_per_sample,
            spec.sample_format,
            spec.channels,
            spec.sample_rate
        ),
        (32, hound::SampleFormat::Float, 1, 22_050)
    );
    let samples: Vec<f32> = wav.into_samples().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 4 * 22_050);
    assert!(samples.iter().all(|s| s.is_finite() && s.abs() < 1.0));
}

#[test]
fn bad_input_gives_one_line_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (input, silent, short, output) = (
        dir.path().join("mix.wav"),
        dir.path().join("silent.wav"),
        dir.path().join("short.wav"),
        dir.path().join("out.wav"),
    );
    write_noise(&input, 44_100, 2, 2.0, 0.05, 0.5, 5);
    write_noise(&silent, 44_100, 2, 2.0, 0.0, 0.5, 6);
    write_noise(&short, 8_000, 2, 0.2, 0.1, 0.5, 7);
    let run = |reference: &Path, extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "master".as_ref(),
            input.as_os_str(),
            "-r".as_ref(),
            reference.as_os_str(),
            "-o".as_ref(),
            output.as_os_str(),
        ];
        args.extend(extra.iter().map(std::ffi::OsStr::new));
        mixsmith(&args)
    };
    for (reference, extra, expect) in [
        (&silent, &[][..], "silent"),
        (&short, &[][..], "too short"),
        (&dir.path().join("missing.wav"), &[][..], "not found"),
        (&silent, &["--amount", "120"][..], "--amount"),
        (&silent, &["--ceiling", "3"][..], "ceiling_dbtp"),
    ] {
        let out = run(reference, extra);
        assert_eq!(out.status.code(), Some(1), "{expect}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.starts_with("error: ") && err.contains(expect),
            "{expect}: {err}"
        );
        if extra.is_empty() {
            let name = reference
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            assert!(err.contains(&name), "{err}");
        }
        assert!(!output.exists(), "no output after an error");
    }
}
