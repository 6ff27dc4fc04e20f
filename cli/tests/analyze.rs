//! Runs the built `mixsmith` binary on generated files.

use std::path::Path;
use std::process::{Command, Output};

fn mixsmith(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .args(args)
        .output()
        .expect("run mixsmith")
}

/// A stereo 1 kHz sine with its peak at `peak_dbfs`, 16-bit.
fn write_sine(path: &Path, rate: u32, secs: f64, peak_dbfs: f64) {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let amp = 10f64.powf(peak_dbfs / 20.0);
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(secs * f64::from(rate)) as usize {
        let s = amp * (std::f64::consts::TAU * 1000.0 * i as f64 / f64::from(rate)).sin();
        let v = (s * 32768.0).round() as i16;
        w.write_sample(v).unwrap();
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn json_output_parses_and_reads_the_sine() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sine.wav");
    write_sine(&path, 48_000, 10.0, -23.0);
    let out = mixsmith(&["analyze".as_ref(), path.as_os_str(), "--json".as_ref()]);
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let lufs = v["lufs"].as_f64().unwrap();
    assert!((lufs + 23.0).abs() < 0.1, "lufs {lufs}");
    let peak = v["sample_peak_dbfs"].as_f64().unwrap();
    assert!((peak + 23.0).abs() < 0.01, "peak {peak}");
    assert!(v["true_peak_dbtp"].as_f64().unwrap() >= peak);
    // A 1 kHz sine's band-limited peak is its amplitude.
    let reconstructed = v["reconstructed_peak_dbfs"].as_f64().unwrap();
    assert!(
        (reconstructed + 23.0).abs() < 0.01,
        "reconstructed {reconstructed}"
    );
    assert!(v["lra"].as_f64().unwrap() < 0.5);
    assert_eq!(v["duration_s"].as_f64(), Some(10.0));
    assert_eq!(v["sample_rate"].as_u64(), Some(48_000));
    assert_eq!(v["channels"].as_u64(), Some(2));
    // A steady sine has neither a beat nor a key.
    assert!(v["bpm"].is_null() && v["bpm_confidence"].is_null(), "{v}");
    assert!(v["key"].is_null() && v["key_confidence"].is_null(), "{v}");
    assert_eq!(v.as_object().unwrap().len(), 12, "{v}");
}

#[test]
fn table_output_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sine.wav");
    write_sine(&path, 44_100, 2.0, -23.0);
    let out = mixsmith(&["analyze".as_ref(), path.as_os_str()]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("-23.0 LUFS"), "{stdout}");
    assert!(stdout.contains("44100 Hz"), "{stdout}");
    assert!(stdout.contains("dBTP"), "{stdout}");
}

#[test]
fn silence_is_null_not_invalid_json() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("silence.wav");
    write_sine(&path, 48_000, 1.0, -200.0);
    let out = mixsmith(&["analyze".as_ref(), path.as_os_str(), "--json".as_ref()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        v["lufs"].is_null() && v["sample_peak_dbfs"].is_null(),
        "{v}"
    );
}

#[test]
fn bad_input_exits_non_zero_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.wav");
    let garbage = dir.path().join("garbage.mp3");
    std::fs::write(&garbage, "hello, this is text\n".repeat(100)).unwrap();
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    for path in [&missing, &garbage, &empty] {
        let out = mixsmith(&["analyze".as_ref(), path.as_os_str(), "--json".as_ref()]);
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: {}: ", path.display())),
            "{stderr}"
        );
    }
}

#[test]
fn several_files_give_one_json_line_each_in_order_and_a_bad_one_does_not_stop_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let loud = dir.path().join("loud.wav");
    let quiet = dir.path().join("quiet.wav");
    let missing = dir.path().join("missing.wav");
    write_sine(&loud, 48_000, 6.0, -14.0);
    write_sine(&quiet, 44_100, 6.0, -30.0);
    let out = mixsmith(&[
        "analyze".as_ref(),
        "--json".as_ref(),
        loud.as_os_str(),
        missing.as_os_str(),
        quiet.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!("error: {}: ", missing.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("1 of 3 files could not be analysed"),
        "{stderr}"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for (line, (path, lufs, rate)) in lines
        .iter()
        .zip([(&loud, -14.0, 48_000), (&quiet, -30.0, 44_100)])
    {
        assert!(stdout.contains(&format!(
            "{{\"file\":{}",
            serde_json::to_string(&path.display().to_string()).unwrap()
        )));
        assert_eq!(
            line["file"].as_str(),
            Some(path.display().to_string().as_str())
        );
        // A stereo 1 kHz sine reads its peak level in LUFS (see the single-file test).
        let measured = line["lufs"].as_f64().unwrap();
        assert!((measured - lufs).abs() < 0.1, "{path:?}: {measured} LUFS");
        assert_eq!(line["sample_rate"].as_u64(), Some(rate));
    }

    let out = mixsmith(&["analyze".as_ref(), loud.as_os_str(), quiet.as_os_str()]);
    assert!(out.status.success());
    let tables = String::from_utf8(out.stdout).unwrap();
    assert_eq!(tables.matches("Integrated").count(), 2, "{tables}");
    assert!(
        tables.contains(&format!("File            {}", quiet.display())),
        "{tables}"
    );
}

#[test]
fn usage_errors_exit_with_2() {
    let out = mixsmith(&["analyze".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    let out = mixsmith(&["no-such-command".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
}
