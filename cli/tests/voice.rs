//! `mixsmith voice pitch` on generated files.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `mixsmith voice pitch INPUT ARGS...`.
fn voice_pitch(input: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .args(["voice", "pitch"])
        .arg(input)
        .args(args)
        .output()
        .expect("run mixsmith")
}

/// A stereo 16-bit file: `voiced_s` seconds of a harmonic tone at `f0` (a sawtooth of 10
/// harmonics, the right channel at half level), then `silent_s` seconds of silence.
fn write_tone(path: &Path, rate: u32, f0: f64, voiced_s: f64, silent_s: f64) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let voiced = (voiced_s * f64::from(rate)) as usize;
    let total = voiced + (silent_s * f64::from(rate)) as usize;
    for i in 0..total {
        let t = i as f64 / f64::from(rate);
        let s = if i < voiced {
            (1..=10)
                .map(|k| (std::f64::consts::TAU * f64::from(k) * f0 * t).sin() / f64::from(k))
                .sum::<f64>()
                * 0.2
        } else {
            0.0
        };
        w.write_sample((s * 32767.0).round() as i16).unwrap();
        w.write_sample((s * 0.5 * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn csv_file_and_json_summary() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("a3.wav");
    write_tone(&wav, 44_100, 220.0, 1.0, 0.5);
    let csv = dir.path().join("track.csv");
    let out = voice_pitch(&wav, &["--csv", csv.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        (v["median_f0_hz"].as_f64().unwrap() - 220.0).abs() < 0.1,
        "{v}"
    );
    assert_eq!(v["median_note"], "A3 +0 cents", "{v}");
    let share = v["voiced_share"].as_f64().unwrap();
    assert!((share - 1.0 / 1.5).abs() < 0.03, "{v}");
    let range = v["range_hz"].as_array().unwrap();
    assert!(
        range
            .iter()
            .all(|r| (r.as_f64().unwrap() - 220.0).abs() < 0.5),
        "{v}"
    );
    assert_eq!(v["sample_rate"], 44_100);
    assert_eq!(v["channels"], 2);
    assert!(v.get("frames").is_none(), "frames go to the CSV: {v}");

    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("time_s,f0_hz,voiced_probability"));
    let rows: Vec<[f64; 3]> = lines
        .map(|l| {
            let f: Vec<f64> = l.split(',').map(|x| x.parse().unwrap()).collect();
            [f[0], f[1], f[2]]
        })
        .collect();
    // One row per 235-sample hop (5.3 ms at 44.1 kHz) of the 1.5 s.
    assert_eq!(rows.len(), (44_100 * 3 / 2usize).div_ceil(235));
    assert_eq!(rows.len() as u64, v["frame_count"].as_u64().unwrap());
    for r in &rows {
        if (0.05..0.95).contains(&r[0]) {
            assert!((r[1] - 220.0).abs() < 0.2 && r[2] > 0.9, "{r:?}");
        }
        if r[0] > 1.1 {
            assert_eq!(r[1], 0.0, "{r:?}");
        }
    }
    // Nothing left beside the CSV.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn csv_on_stdout_and_summary_on_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("low.wav");
    write_tone(&wav, 16_000, 110.0, 0.5, 0.0);
    let out = voice_pitch(&wav, &[]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(stdout.starts_with("time_s,f0_hz,voiced_probability\n"));
    assert_eq!(stdout.lines().count(), 1 + 8000usize.div_ceil(85));
    let err = stderr(&out);
    assert!(
        err.contains("Median F0") && err.contains("(A2 +0 cents)"),
        "{err}"
    );

    // --json without --csv carries the frames.
    let out = voice_pitch(&wav, &["--json"]);
    assert!(out.status.success(), "stderr: {}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let frames = v["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 8000usize.div_ceil(85));
    let middle = &frames[frames.len() / 2];
    assert!(
        (middle["f0_hz"].as_f64().unwrap() - 110.0).abs() < 0.1,
        "{middle}"
    );
}

#[test]
fn failures_are_clear_and_leave_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let out = voice_pitch(&missing, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    assert!(stderr(&out).contains("missing.wav"), "{}", stderr(&out));

    let wav = dir.path().join("tone.wav");
    write_tone(&wav, 8_000, 200.0, 0.3, 0.0);
    // 8 kHz audio cannot hold a 2.5 kHz fundamental's analysis.
    let out = voice_pitch(&wav, &["--max-hz", "2500"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("quarter of the sample rate"),
        "{}",
        stderr(&out)
    );

    // A CSV path that cannot be created, and one whose rename fails (a folder is in the way):
    // an error naming the file, and no partial file left behind.
    let folder = dir.path().join("taken");
    std::fs::create_dir(&folder).unwrap();
    for csv in [dir.path().join("no-such-folder").join("track.csv"), folder] {
        let out = voice_pitch(&wav, &["--csv", csv.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1));
        let name = csv.file_name().unwrap().to_string_lossy().into_owned();
        assert!(stderr(&out).contains(&name), "{}", stderr(&out));
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["taken", "tone.wav"]);
    }
}
