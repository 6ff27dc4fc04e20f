//! The CREPE and FCPE graphs made by `cargo xtask models export` (optional, needs torch; never
//! run by setup or CI), run through the voice packs' F0 path on a generated melody.
//!
//! Each test looks for `MIXSMITH_CREPE_TINY_ONNX`, `MIXSMITH_CREPE_FULL_ONNX` or
//! `MIXSMITH_FCPE_ONNX`, else `<workspace>/vendor/models/pitch/<model>.onnx`, and passes with a
//! printed reason when the file is absent. Needs ONNX Runtime from `cargo xtask setup`.
//! With `MIXSMITH_PITCH_COMPARE_DIR` set they also write the melody and each F0 track there for
//! `xtask/scripts/compare_pitch.py` (torchcrepe and torchfcpe on the same file).

mod common;

use std::f64::consts::TAU;
use std::path::PathBuf;

use common::{fetched, workspace};
use std::sync::atomic::AtomicBool;

use mixsmith_core::inference::test_graph::{
    contentvec_mean_abs, rvc_sine, write_pack, write_pack_files,
};
use mixsmith_core::inference::{Convention, LIBRARY_FILE, ModelPack, Runtime, RuntimeSearch};
use mixsmith_core::voice::rvc::graph_f0;
use mixsmith_core::voice::{PitchConfig, RvcConverter, RvcSettings, track};

/// The melody: (frequency in Hz, seconds), sung with vibrato and harmonics at 16 kHz.
const MELODY: [(f64, f64); 6] = [
    (220.0, 0.6),
    (246.94, 0.4),
    (329.63, 0.5),
    (0.0, 0.3),
    (392.0, 0.6),
    (174.61, 0.6),
];

/// The exported graph, or `None` (with the reason printed) when it has not been exported.
fn exported(var: &str, file: &str) -> Option<PathBuf> {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("vendor/models/pitch").join(file));
    if path.is_file() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is absent (make it with `cargo xtask models export`, or set {var})",
            path.display()
        );
        None
    }
}

/// The melody at 16 kHz (a 5.5 Hz vibrato of ±20 cents, three harmonics, soft attacks) and the
/// true F0 of every 10 ms frame (0 in the rest and within 40 ms of a note's edge).
fn melody() -> (Vec<f32>, Vec<f64>) {
    let rate = 16_000.0;
    let mut signal = Vec::new();
    let mut truth = Vec::new();
    let mut phase = 0.0f64;
    for (hz, seconds) in MELODY {
        let len = (seconds * rate) as usize;
        let start = signal.len();
        for i in 0..len {
            let t = i as f64 / rate;
            let f = hz * (20.0 / 1200.0 * (TAU * 5.5 * t).sin()).exp2();
            phase += TAU * f / rate;
            let attack = (t / 0.03).min(1.0) * ((seconds - t) / 0.03).min(1.0);
            let x = phase.sin() + 0.5 * (2.0 * phase).sin() + 0.25 * (3.0 * phase).sin();
            signal.push((0.3 * attack * x) as f32);
        }
        let first = start.div_ceil(160);
        for frame in first..(start + len).div_ceil(160) {
            let t = (frame * 160 - start) as f64 / rate;
            let inside = t > 0.04 && t < seconds - 0.04;
            let f = hz * (20.0 / 1200.0 * (TAU * 5.5 * t).sin()).exp2();
            truth.push(if inside && hz > 0.0 { f } else { -1.0 });
        }
    }
    truth.truncate(signal.len() / 160 + 1);
    (signal, truth)
}

/// Runs the graph at `path` as a voice pack's F0 graph on the melody and checks the median and
/// 95th-percentile error in cents over the frames inside notes, and that the rest is unvoiced.
fn check(path: PathBuf, convention: Convention, limit_median: f64) {
    let lib = fetched(
        "ORT_DYLIB_PATH",
        &format!("vendor/onnxruntime/{LIBRARY_FILE}"),
    );
    Runtime::global_with(|| RuntimeSearch::explicit([lib])).expect("load ONNX Runtime");
    let dir = tempfile::tempdir().unwrap();
    let head = format!(
        "name = \"f0\"\ntask = \"pitch\"\nconvention = \"{convention}\"\nsample_rate = 16000\n"
    );
    write_pack(dir.path(), "f0.onnx", &std::fs::read(&path).unwrap(), &head).unwrap();
    let pack = ModelPack::load(dir.path()).unwrap();
    let session = pack.open_session("f0.onnx").unwrap();
    let (signal, truth) = melody();
    let started = std::time::Instant::now();
    let f0 = graph_f0(convention, &session, &signal).unwrap();
    let took = started.elapsed().as_secs_f64();
    assert_eq!(f0.len(), signal.len() / 160 + 1);
    if let Some(dir) = compare_dir() {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let values: Vec<f64> = f0.iter().map(|&f| f64::from(f)).collect();
        write_column(&dir.join(format!("{name}.core.txt")), &values);
    }
    let mut cents: Vec<f64> = Vec::new();
    let mut unvoiced_in_notes = 0;
    let mut voiced_in_rest = 0;
    for (t, (&got, &want)) in f0.iter().zip(&truth).enumerate() {
        let rest = (1.56..1.74).contains(&(t as f64 / 100.0));
        if want > 0.0 {
            if got > 0.0 {
                cents.push((1200.0 * (f64::from(got) / want).log2()).abs());
            } else {
                unvoiced_in_notes += 1;
            }
        } else if rest && got > 0.0 {
            voiced_in_rest += 1;
        }
    }
    cents.sort_by(f64::total_cmp);
    let median = cents[cents.len() / 2];
    let p95 = cents[cents.len() * 95 / 100];
    eprintln!(
        "{}: {} frames in notes, median error {median:.2} cents, 95th percentile {p95:.2}, \
         {unvoiced_in_notes} unvoiced in notes, {voiced_in_rest} voiced in the rest; \
         {took:.2} s for {:.1} s of audio",
        path.display(),
        cents.len(),
        signal.len() as f64 / 16_000.0
    );
    assert!(median < limit_median, "median error {median:.2} cents");
    assert!(p95 < 50.0, "95th percentile {p95:.2} cents");
    assert!(
        unvoiced_in_notes * 20 < cents.len(),
        "{unvoiced_in_notes} frames unvoiced"
    );
    assert!(
        voiced_in_rest <= 4,
        "{voiced_in_rest} frames voiced in the rest"
    );
}

#[test]
fn exported_crepe_tiny_follows_the_melody() {
    if let Some(path) = exported("MIXSMITH_CREPE_TINY_ONNX", "crepe-tiny.onnx") {
        check(path, Convention::Crepe, 15.0);
    }
}

#[test]
fn exported_crepe_full_follows_the_melody() {
    if let Some(path) = exported("MIXSMITH_CREPE_FULL_ONNX", "crepe-full.onnx") {
        check(path, Convention::Crepe, 15.0);
    }
}

#[test]
fn exported_fcpe_follows_the_melody() {
    if let Some(path) = exported("MIXSMITH_FCPE_ONNX", "fcpe.onnx") {
        check(path, Convention::Fcpe, 15.0);
    }
}

/// A whole voice pack with the exported graph as its F0 graph (and the project's test
/// synthesizer, which sings a sine at `pitchf`, and test ContentVec): the converted melody
/// (16 kHz in, 48 kHz synthesizer) is tracked and compared with the melody's true F0.
#[test]
fn exported_graphs_drive_a_voice_pack() {
    let graphs = [
        ("MIXSMITH_CREPE_TINY_ONNX", "crepe-tiny.onnx", "crepe"),
        ("MIXSMITH_FCPE_ONNX", "fcpe.onnx", "fcpe"),
    ];
    for (var, file, convention) in graphs {
        let Some(path) = exported(var, file) else {
            continue;
        };
        let lib = fetched(
            "ORT_DYLIB_PATH",
            &format!("vendor/onnxruntime/{LIBRARY_FILE}"),
        );
        Runtime::global_with(|| RuntimeSearch::explicit([lib])).expect("load ONNX Runtime");
        let tmp = tempfile::tempdir().unwrap();
        let dir = compare_dir()
            .map(|d| d.join(format!("pack-{convention}")))
            .unwrap_or_else(|| tmp.path().to_path_buf());
        write_pack_files(
            &dir,
            "name = \"sine voice\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\nsample_rate = 48000\n",
            &[
                ("voice.onnx", &rvc_sine(48_000, 768), None),
                (
                    "contentvec.onnx",
                    &contentvec_mean_abs(768, false),
                    Some("contentvec"),
                ),
                (file, &std::fs::read(&path).unwrap(), Some(convention)),
            ],
        )
        .unwrap();
        let converter = RvcConverter::load(&ModelPack::load(&dir).unwrap()).unwrap();
        let (signal, truth) = melody();
        let output = converter
            .convert(
                &[signal],
                16_000,
                &RvcSettings::default(),
                &mut |_, _| {},
                &AtomicBool::new(false),
            )
            .unwrap();
        let frames = track(&output[0], 16_000.0, &PitchConfig::default());
        let mut cents: Vec<f64> = frames
            .iter()
            .filter_map(|f| {
                let want = *truth.get((f.time * 100.0).round() as usize)?;
                (want > 0.0 && f.f0_hz > 0.0)
                    .then(|| (1200.0 * (f64::from(f.f0_hz) / want).log2()).abs())
            })
            .collect();
        cents.sort_by(f64::total_cmp);
        let median = cents[cents.len() / 2];
        eprintln!(
            "{convention} pack: converted melody within a median {median:.2} cents of the true \
             F0 over {} frames",
            cents.len()
        );
        assert!(median < 20.0, "{convention}: median {median:.2} cents");
    }
}

/// Writes the melody as a 16 kHz WAV (`melody.wav`) and its true F0 per frame
/// (`truth.txt`, -1 where not scored) into `MIXSMITH_PITCH_COMPARE_DIR` when it is set, for
/// `xtask/scripts/compare_pitch.py`.
#[test]
fn writes_the_melody_when_asked() {
    let Some(dir) = compare_dir() else {
        return;
    };
    let (signal, truth) = melody();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 16_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut writer = hound::WavWriter::create(dir.join("melody.wav"), spec).unwrap();
    signal.iter().for_each(|&x| writer.write_sample(x).unwrap());
    writer.finalize().unwrap();
    write_column(&dir.join("truth.txt"), &truth);
}

/// `MIXSMITH_PITCH_COMPARE_DIR`, created, when set.
fn compare_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(std::env::var_os("MIXSMITH_PITCH_COMPARE_DIR")?);
    std::fs::create_dir_all(&dir).unwrap();
    Some(dir)
}

/// One value per line.
fn write_column(path: &std::path::Path, values: &[f64]) {
    let text: String = values.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(path, text).unwrap();
}
