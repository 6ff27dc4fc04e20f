//! `mixsmith voice convert --model PACK` as a process, with an RVC v2 pack made of the generated
//! graphs of `mixsmith_core::inference::test_graph` (a synthesizer that sings a sine at the F0
//! it is given).
//!
//! Needs ONNX Runtime from `cargo xtask setup` in `<workspace>/vendor/` (or `ORT_DYLIB_PATH`).

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use common::ort_library;
use mixsmith_core::inference::test_graph::{contentvec_mean_abs, rvc_sine, write_pack_files};
use mixsmith_core::voice::{PitchConfig, track};

/// Runs `mixsmith voice convert ARGS` with ONNX Runtime at `library` and the data folder in
/// `data`.
fn convert(library: &Path, data: &Path, args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .args(["voice", "convert"])
        .args(args)
        .env("ORT_DYLIB_PATH", library)
        .env("XDG_DATA_HOME", data)
        .output()
        .expect("run mixsmith")
}

/// An RVC pack at 40 kHz whose content file is `content`.
fn write_pack(dir: &Path, content: &[u8]) {
    write_pack_files(
        dir,
        "name = \"sine voice\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\nsample_rate = 40000\n",
        &[
            ("voice.onnx", &rvc_sine(40_000, 768), None),
            ("contentvec.onnx", content, Some("contentvec")),
        ],
    )
    .unwrap();
}

/// Three seconds of a 220 Hz sine at 44.1 kHz, stereo 32-bit float (the right channel a fifth
/// higher); returns its channels.
fn write_input(path: &Path) -> Vec<Vec<f32>> {
    let (rate, frames) = (44_100u32, 44_100 * 3 + 77);
    let channels: Vec<Vec<f32>> = [220.0f64, 330.0]
        .iter()
        .map(|hz| {
            (0..frames)
                .map(|i| {
                    0.4 * (std::f64::consts::TAU * hz * i as f64 / f64::from(rate)).sin() as f32
                })
                .collect()
        })
        .collect();
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for (&left, &right) in channels[0].iter().zip(&channels[1]) {
        w.write_sample(left).unwrap();
        w.write_sample(right).unwrap();
    }
    w.finalize().unwrap();
    channels
}

/// The median voiced F0 of a channel.
fn median_f0(samples: &[f32], rate: u32) -> f32 {
    let mut f0: Vec<f32> = track(samples, rate as f32, &PitchConfig::default())
        .iter()
        .map(|f| f.f0_hz)
        .filter(|&f| f > 0.0)
        .collect();
    f0.sort_by(f32::total_cmp);
    f0[f0.len() / 2]
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn an_rvc_pack_converts_a_file_with_its_length_rate_channels_and_transposed_pitch() {
    let tmp = tempfile::tempdir().unwrap();
    let pack = tmp.path().join("pack");
    write_pack(&pack, &contentvec_mean_abs(768, false));
    let input = tmp.path().join("in.wav");
    let channels = write_input(&input);
    let output = tmp.path().join("out.wav");
    let out = convert(
        &ort_library(),
        tmp.path(),
        &[
            input.as_os_str(),
            OsStr::new("--model"),
            pack.as_os_str(),
            OsStr::new("--transpose"),
            OsStr::new("-12"),
            OsStr::new("--float"),
            OsStr::new("-o"),
            output.as_os_str(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sine voice") && stdout.contains("40000 Hz"),
        "{stdout}"
    );
    let mut reader = hound::WavReader::open(&output).unwrap();
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate), (2, 44_100));
    let samples: Vec<f32> = reader.samples::<f32>().map(Result::unwrap).collect();
    assert_eq!(samples.len(), 2 * channels[0].len());
    for (c, want) in [(0, 110.0), (1, 165.0)] {
        let channel: Vec<f32> = samples.iter().skip(c).step_by(2).copied().collect();
        let got = median_f0(&channel, 44_100);
        let cents = 1200.0 * (got / want).log2();
        assert!(
            cents.abs() < 3.0,
            "channel {c}: {got} Hz, {cents:.1} cents off {want}"
        );
    }
    assert_eq!(
        std::fs::read_dir(tmp.path()).unwrap().count(),
        3,
        "no partial file left"
    );
}

#[test]
fn bad_packs_a_missing_runtime_and_dsp_only_flags_fail_clearly_writing_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.wav");
    write_input(&input);
    let output = tmp.path().join("out.wav");
    let run = |library: &Path, pack: &Path, extra: &[&str]| {
        let mut args = vec![
            input.as_os_str(),
            OsStr::new("--model"),
            pack.as_os_str(),
            OsStr::new("-o"),
            output.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        let out = convert(library, tmp.path(), &args);
        assert!(!out.status.success());
        assert!(!output.exists());
        stderr(&out)
    };

    // The content file is a 256-wide encoder for a 768-wide synthesizer.
    let bad = tmp.path().join("bad");
    write_pack(&bad, &contentvec_mean_abs(256, false));
    let err = run(&ort_library(), &bad, &[]);
    assert!(
        err.contains(&bad.join("contentvec.onnx").display().to_string()),
        "{err}"
    );

    let good = tmp.path().join("good");
    write_pack(&good, &contentvec_mean_abs(768, false));
    let err = run(&tmp.path().join("none.so"), &good, &[]);
    assert!(
        err.contains("ONNX Runtime") && err.contains("ORT_DYLIB_PATH"),
        "{err}"
    );

    let err = run(&ort_library(), &good, &["--protect", "0.2"]);
    assert!(
        err.contains("--protect") && err.contains("--voice"),
        "{err}"
    );

    let err = run(&ort_library(), &tmp.path().join("absent"), &[]);
    assert!(err.contains("not a model pack folder"), "{err}");

    // --voice and --model exclude each other.
    let out = convert(
        &ort_library(),
        tmp.path(),
        &[
            input.as_os_str(),
            OsStr::new("--voice"),
            OsStr::new("v.json"),
            OsStr::new("--model"),
            good.as_os_str(),
            OsStr::new("-o"),
            output.as_os_str(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot be used with"),
        "{}",
        stderr(&out)
    );
}
