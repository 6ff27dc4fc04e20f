//! `mixsmith separate --model` and `mixsmith models add` as processes, with model packs made of
//! the generated graphs of `mixsmith_core::inference::test_graph`.
//!
//! Needs ONNX Runtime from `cargo xtask setup` in `<workspace>/vendor/` (or `ORT_DYLIB_PATH`).

mod common;

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Output};

use common::ort_library;
use mixsmith_core::inference::test_graph::{mdx_low_pass, write_pack};

/// Runs `mixsmith ARGS` with the data folder in `data`.
fn mixsmith(data: &Path, args: &[&OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mixsmith"))
        .args(args)
        .env("ORT_DYLIB_PATH", ort_library())
        .env("XDG_DATA_HOME", data)
        .output()
        .expect("run mixsmith")
}

/// Six seconds of 100 Hz + 3 kHz, stereo 32-bit float; returns the low tone.
fn write_two_tones(path: &Path) -> Vec<f32> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 44_100,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    let mut low = Vec::new();
    for i in 0..6 * 44_100 {
        let t = i as f64 / 44_100.0;
        let l = 0.5 * (std::f64::consts::TAU * 100.0 * t).sin();
        let h = 0.3 * (std::f64::consts::TAU * 3000.0 * t).sin();
        low.push(l as f32);
        w.write_sample((l + h) as f32).unwrap();
        w.write_sample((l + h) as f32).unwrap();
    }
    w.finalize().unwrap();
    low
}

fn read_left(path: &Path) -> Vec<f32> {
    let mut r = hound::WavReader::open(path).unwrap();
    let samples: Vec<f32> = r.samples::<f32>().map(Result::unwrap).collect();
    samples.chunks_exact(2).map(|c| c[0]).collect()
}

const MDX_HEAD: &str = "name = \"low\"\ntask = \"separate\"\nconvention = \"mdx\"\nsample_rate = 44100\n\
                        stems = [\"vocals\"]\n[params]\nn_fft = 6144\ndim_f = 2048\ndim_t = 256\n";

fn s(x: &Path) -> &OsStr {
    x.as_os_str()
}

#[test]
fn separate_with_a_model_pack_writes_its_stem_and_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("mix.wav");
    let low = write_two_tones(&input);
    let pack = tmp.path().join("pack");
    write_pack(
        &pack,
        "model.onnx",
        &mdx_low_pass(6144, 2048, Some(256), 500.0),
        MDX_HEAD,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = mixsmith(
        tmp.path(),
        &[
            "separate".as_ref(),
            s(&input),
            "-o".as_ref(),
            s(&out),
            "--two-stems".as_ref(),
            "vocals".as_ref(),
            "--model".as_ref(),
            s(&pack),
            "--float".as_ref(),
            "--json".as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let files = &report["separated"][0]["files"];
    assert_eq!(files[0]["name"], "vocals");
    assert_eq!(files[1]["name"], "no_vocals");
    let vocals = read_left(&out.join("vocals.wav"));
    assert_eq!(vocals.len(), low.len());
    let inner = 6144..low.len() - 6144;
    let (e, p): (f64, f64) = inner.fold((0.0, 0.0), |(e, p), i| {
        (
            e + f64::from(vocals[i] - low[i]).powi(2),
            p + f64::from(low[i]).powi(2),
        )
    });
    let db = 10.0 * (e / p).log10();
    assert!(db < -70.0, "vocals against the low tone: {db:.1} dB");
}

#[test]
fn a_pack_that_does_not_match_its_graph_fails_naming_the_file_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("mix.wav");
    write_two_tones(&input);
    let pack = tmp.path().join("bad");
    // The graph takes 1024 bins, the manifest says 2048.
    write_pack(
        &pack,
        "model.onnx",
        &mdx_low_pass(6144, 1024, Some(256), 500.0),
        MDX_HEAD,
    )
    .unwrap();
    let out = tmp.path().join("out");
    let args = ["separate".as_ref(), s(&input), "-o".as_ref(), s(&out)];
    let o = mixsmith(
        tmp.path(),
        &[&args[..], &["--model".as_ref(), s(&pack)]].concat(),
    );
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(&pack.join("model.onnx").display().to_string()),
        "{stderr}"
    );
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
    // Not a pack at all.
    let o = mixsmith(
        tmp.path(),
        &[&args[..], &["--model".as_ref(), "no-such-pack".as_ref()]].concat(),
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no-such-pack"));
    // The DSP default keeps working.
    let o = mixsmith(tmp.path(), &args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(out.join("vocals.wav").is_file() && out.join("other.wav").is_file());
}

#[test]
fn models_add_makes_a_pack_that_separate_finds_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let onnx = tmp.path().join("UVR low.onnx");
    std::fs::write(&onnx, mdx_low_pass(6144, 2048, Some(256), 500.0)).unwrap();
    // The mdx numbers are required.
    let o = mixsmith(
        &data,
        &[
            "models".as_ref(),
            "add".as_ref(),
            s(&onnx),
            "--stem".as_ref(),
            "vocals".as_ref(),
        ],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--n-fft"));
    let add = [
        "models".as_ref(),
        "add".as_ref(),
        s(&onnx),
        "--stem".as_ref(),
        "vocals".as_ref(),
        "--n-fft".as_ref(),
        "6144".as_ref(),
        "--dim-f".as_ref(),
        "2048".as_ref(),
        "--dim-t".as_ref(),
        "256".as_ref(),
        "--compensation".as_ref(),
        "1.0".as_ref(),
    ];
    let o = mixsmith(&data, &add);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let dir = data.join("mixsmith/models/UVR-low");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).trim(),
        dir.display().to_string()
    );
    let manifest = std::fs::read_to_string(dir.join("manifest.toml")).unwrap();
    assert!(manifest.contains("name = \"UVR low\""), "{manifest}");
    assert!(dir.join("UVR low.onnx").is_file());
    // Adding it again is refused.
    assert_eq!(mixsmith(&data, &add).status.code(), Some(1));
    // Numbers that disagree with the graph are refused and leave nothing behind.
    let wrong = [
        &add[..8],
        &[
            "1024".as_ref(),
            "--dim-t".as_ref(),
            "256".as_ref(),
            "--name".as_ref(),
            "wrong".as_ref(),
        ],
    ]
    .concat();
    let o = mixsmith(&data, &wrong);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!data.join("mixsmith/models/wrong").exists());

    let input = tmp.path().join("mix.wav");
    write_two_tones(&input);
    let out = tmp.path().join("out");
    let o = mixsmith(
        &data,
        &[
            "separate".as_ref(),
            s(&input),
            "-o".as_ref(),
            s(&out),
            "--model".as_ref(),
            "UVR low".as_ref(),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for stem in ["vocals", "drums", "bass", "other"] {
        assert!(out.join(format!("{stem}.wav")).is_file(), "{stem}");
    }
}
