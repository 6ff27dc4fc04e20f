//! `mixsmith midi` as a process: a MIDI file and the JSON notes, and one-line errors for a
//! missing runtime, a missing model, bad settings and a corrupt file.
//!
//! Needs ONNX Runtime and `nmp.onnx` from `cargo xtask setup` in `<workspace>/vendor/` (or
//! `ORT_DYLIB_PATH`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn ort_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || workspace().join("vendor/onnxruntime/libonnxruntime.so.1.31.1"),
        PathBuf::from,
    )
}

fn model_dir() -> PathBuf {
    workspace().join("vendor/models/basic-pitch")
}

/// Runs `mixsmith midi INPUT -o OUTPUT EXTRA...` with `ort` as the runtime library.
fn midi(dir: &Path, input: &Path, output: &Path, extra: &[&str], ort: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .arg("midi")
        .arg(input)
        .arg("-o")
        .arg(output)
        .args(extra)
        .env("ORT_DYLIB_PATH", ort)
        .env("XDG_DATA_HOME", dir.join("data"))
        .output()
        .expect("run mixsmith")
}

/// Two seconds of a 440 Hz tone with two harmonics, then a second of silence, 16-bit stereo.
fn write_tone(path: &Path) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..44_100 * 3 {
        let t = i as f64 / 44_100.0;
        let s = if t < 2.0 {
            (1..=3)
                .map(|h| 0.3 / h as f64 * (std::f64::consts::TAU * 440.0 * h as f64 * t).sin())
                .sum::<f64>()
        } else {
            0.0
        };
        let v = (s * 32767.0).round() as i16;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn writes_a_midi_file_and_prints_the_notes() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    let mid = dir.path().join("tone.mid");
    write_tone(&wav);
    let model = model_dir();
    let model = model.to_str().unwrap();
    let extra = ["--json", "--model", model];
    let out = midi(dir.path(), &wav, &mid, &extra, &ort_library());
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tempo_bpm"].as_f64(), Some(120.0));
    assert_eq!(v["channels"].as_u64(), Some(2));
    let notes = v["notes"].as_array().unwrap();
    assert!(!notes.is_empty(), "{v}");
    // The tone is an A4 from 0 to 2 s.
    let a4 = notes
        .iter()
        .find(|n| n["pitch"].as_u64() == Some(69))
        .expect("an A4");
    assert!(a4["start_s"].as_f64().unwrap() < 0.05, "{a4}");
    assert!((a4["end_s"].as_f64().unwrap() - 2.0).abs() < 0.1, "{a4}");
    let bytes = std::fs::read(&mid).unwrap();
    assert_eq!(&bytes[..4], b"MThd");

    // Without pitch bends, no bends in the notes.
    let extra = ["--json", "--no-pitch-bends", "--model", model];
    let out = midi(dir.path(), &wav, &mid, &extra, &ort_library());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = v["notes"].as_array().unwrap();
    assert!(notes.iter().all(|n| n.get("bends").is_none()), "{v}");
}

#[test]
fn errors_are_one_line_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    let mid = dir.path().join("out.mid");
    write_tone(&wav);
    let model = model_dir();
    let model = model.to_str().unwrap();
    let fails_with = |input: &Path, extra: &[&str], ort: &Path, needle: &str| {
        let out = midi(dir.path(), input, &mid, extra, ort);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(needle), "expected `{needle}` in: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(!mid.exists(), "nothing is written on failure");
    };
    let no_runtime = Path::new("/nonexistent/libonnxruntime.so");
    fails_with(&wav, &["--model", model], no_runtime, "cargo xtask setup");
    fails_with(&wav, &["--model", model], no_runtime, "ONNX Runtime");

    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let extra = ["--model", empty.to_str().unwrap()];
    fails_with(&wav, &extra, &ort_library(), "(nmp.onnx) was not found");

    let extra = ["--onset-threshold", "2", "--model", model];
    fails_with(
        &wav,
        &extra,
        &ort_library(),
        "onset threshold must be between 0 and 1",
    );

    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, b"not audio at all").unwrap();
    fails_with(&junk, &["--model", model], &ort_library(), "junk.wav");
}
