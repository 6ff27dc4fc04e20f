//! Runs the built `mixsmith separate` on generated files.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

fn mixsmith(args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .args(args)
        .output()
        .expect("run mixsmith")
}

/// A stereo 32-bit float mix of a bass sine, noise hits and a tone panned left, `secs` long.
fn write_mix(path: &Path, rate: u32, secs: f64) -> Vec<[f32; 2]> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut state = 12345u32;
    let frames: Vec<[f32; 2]> = (0..(secs * f64::from(rate)) as usize)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let t = i as f32 / rate as f32;
            let hit = (state as f32 / u32::MAX as f32 - 0.5)
                * (-((i % (rate as usize / 4)) as f32) / 800.0).exp();
            let bass = 0.3 * (std::f32::consts::TAU * 55.0 * t).sin();
            let tone = 0.2 * (std::f32::consts::TAU * 440.0 * t).sin();
            [bass + hit + tone, bass + hit]
        })
        .collect();
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for frame in &frames {
        w.write_sample(frame[0]).unwrap();
        w.write_sample(frame[1]).unwrap();
    }
    w.finalize().unwrap();
    frames
}

fn read(path: &Path) -> (u32, Vec<[f32; 2]>) {
    let mut r = hound::WavReader::open(path).unwrap();
    let spec = r.spec();
    let samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => r.samples::<f32>().map(Result::unwrap).collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u32 << (spec.bits_per_sample - 1)) as f32;
            r.samples::<i32>()
                .map(|s| s.unwrap() as f32 * scale)
                .collect()
        }
    };
    let rate = spec.sample_rate;
    (
        rate,
        samples.chunks_exact(2).map(|c| [c[0], c[1]]).collect(),
    )
}

#[test]
fn four_stems_as_long_as_the_mix_add_up_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mix.wav");
    let mix = write_mix(&input, 44_100, 3.0);
    let out = dir.path().join("stems");
    let run = mixsmith(&[
        "separate".as_ref(),
        input.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        "--float".as_ref(),
        "--json".as_ref(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let files = report["separated"][0]["files"].as_array().unwrap();
    let names: Vec<&str> = files.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["vocals", "drums", "bass", "other"]);
    assert_eq!(report["separated"][0]["frames"], mix.len());
    let stems: Vec<Vec<[f32; 2]>> = names
        .iter()
        .map(|n| {
            let (rate, frames) = read(&out.join(format!("{n}.wav")));
            assert_eq!(rate, 44_100);
            frames
        })
        .collect();
    for (i, frame) in mix.iter().enumerate() {
        for c in 0..2 {
            let sum: f32 = stems.iter().map(|s| s[i][c]).sum();
            assert!(
                (sum - frame[c]).abs() < 1e-5,
                "frame {i}: {sum} vs {}",
                frame[c]
            );
        }
    }
    // The bass sine (0.3 on both channels: 0.09 per frame) goes to the bass stem.
    let energy = |s: &[[f32; 2]]| s.iter().map(|f| f[0] * f[0] + f[1] * f[1]).sum::<f32>();
    let bass = 0.09 * mix.len() as f32;
    let ratio = energy(&stems[2]) / bass;
    assert!(
        (0.7..1.3).contains(&ratio),
        "bass stem holds {ratio:.2} of the bass"
    );
}

#[test]
fn two_stems_and_several_inputs_get_one_folder_each() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.wav"), dir.path().join("b.wav"));
    write_mix(&a, 22_050, 1.0);
    write_mix(&b, 48_000, 1.5);
    let out = dir.path().join("stems");
    let run = mixsmith(&[
        "separate".as_ref(),
        a.as_os_str(),
        b.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--two-stems".as_ref(),
        "drums".as_ref(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for (name, rate, frames) in [("a", 22_050, 22_050), ("b", 48_000, 72_000)] {
        for stem in ["drums", "no_drums"] {
            let (r, f) = read(&out.join(name).join(format!("{stem}.wav")));
            assert_eq!((r, f.len()), (rate, frames), "{name}/{stem}");
        }
        assert_eq!(std::fs::read_dir(out.join(name)).unwrap().count(), 2);
    }
}

#[test]
fn bad_inputs_fail_clearly_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = dir.path().join("corrupt.wav");
    std::fs::write(&corrupt, b"RIFF\x10\0\0\0WAVEjunkjunk").unwrap();
    let out = dir.path().join("stems");
    for input in [corrupt.clone(), dir.path().join("missing.flac")] {
        let run = mixsmith(&[
            "separate".as_ref(),
            input.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert_eq!(run.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            stderr.starts_with("error: ") && stderr.contains(&*input.to_string_lossy()),
            "{stderr}"
        );
        let written = std::fs::read_dir(&out).map_or(0, |d| d.count());
        assert_eq!(written, 0, "{}", input.display());
    }
    // Two inputs named alike would overwrite each other's stems.
    let (x, y) = (dir.path().join("x/song.wav"), dir.path().join("y/song.wav"));
    for p in [&x, &y] {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        write_mix(p, 8_000, 0.5);
    }
    let run = mixsmith(&[
        "separate".as_ref(),
        x.as_os_str(),
        y.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr).contains("would both be written"));
    // An unknown stem is a usage error.
    let run = mixsmith(&[
        "separate".as_ref(),
        x.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--two-stems".as_ref(),
        "voice".as_ref(),
    ]);
    assert_eq!(run.status.code(), Some(2));
}
