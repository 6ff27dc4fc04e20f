//! The real runtime on real weights: ONNX Runtime 1.31.1 and basic-pitch's `nmp.onnx`, both
//! fetched by `cargo xtask setup` (never committed).
//!
//! Paths come from `ORT_DYLIB_PATH` and `MIXSMITH_BASIC_PITCH_ONNX` (set by `cargo xtask test`),
//! else `<workspace>/vendor/...`. Missing files fail the tests with a message saying to run
//! `cargo xtask setup`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{fetched, workspace};

use mixsmith_core::inference::{
    Convention, InferenceError, LIBRARY_FILE, MANIFEST_FILE, ModelPack, Runtime, RuntimeSearch,
    basic_pitch, sha256_file,
};

fn ort_library() -> PathBuf {
    fetched(
        "ORT_DYLIB_PATH",
        &format!("vendor/onnxruntime/{LIBRARY_FILE}"),
    )
}

fn nmp_onnx() -> PathBuf {
    fetched(
        "MIXSMITH_BASIC_PITCH_ONNX",
        "vendor/models/basic-pitch/nmp.onnx",
    )
}

fn runtime() -> &'static Runtime {
    let lib = ort_library();
    Runtime::global_with(|| RuntimeSearch::explicit([lib])).expect("load ONNX Runtime")
}

/// The committed manifest with the fetched model (the layout before `cargo xtask setup` copies
/// the manifest beside the model).
fn basic_pitch_pack() -> ModelPack {
    let model = nmp_onnx();
    ModelPack::load_from(
        &workspace().join("models/basic-pitch").join(MANIFEST_FILE),
        model.parent().unwrap(),
    )
    .expect("load the basic-pitch pack")
}

/// A pack in a temporary folder holding `model` under `file`, with a manifest for `header`.
fn temp_pack(header: &str, file: &str, model: &[u8]) -> (tempfile::TempDir, ModelPack) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), model).unwrap();
    let sha = sha256_file(&dir.path().join(file)).unwrap();
    std::fs::write(
        dir.path().join(MANIFEST_FILE),
        format!("{header}\n[[files]]\npath = \"{file}\"\nsha256 = \"{sha}\"\n"),
    )
    .unwrap();
    let pack = ModelPack::load(dir.path()).unwrap();
    (dir, pack)
}

#[derive(serde::Deserialize)]
struct Reference {
    model_sha256: String,
    input: ReferenceInput,
    outputs: std::collections::BTreeMap<String, ReferenceOutput>,
}

#[derive(serde::Deserialize)]
struct ReferenceInput {
    name: String,
    sample_rate: f64,
    length: usize,
    partials: Vec<Partial>,
    sum: f64,
    abs_sum: f64,
}

#[derive(serde::Deserialize)]
struct Partial {
    freq: f64,
    start: usize,
    amp: f64,
}

#[derive(serde::Deserialize)]
struct ReferenceOutput {
    shape: Vec<usize>,
    sum: f64,
    max: f64,
    min: f64,
    samples: Vec<(usize, usize, f64)>,
}

fn reference() -> Reference {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/basic_pitch_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The same formula as `models/scripts/basic_pitch_reference.py`: a sum of sines computed in
/// f64, stored as f32.
fn reference_input(r: &ReferenceInput) -> Vec<f32> {
    (0..r.length)
        .map(|n| {
            r.partials
                .iter()
                .filter(|p| n >= p.start)
                .map(|p| {
                    let t = (n - p.start) as f64;
                    p.amp * (2.0 * std::f64::consts::PI * p.freq * t / r.sample_rate).sin()
                })
                .sum::<f64>() as f32
        })
        .collect()
}

const TOLERANCE: f64 = 1e-5;

#[test]
fn basic_pitch_outputs_match_python_onnxruntime() {
    let reference = reference();
    let pack = basic_pitch_pack();
    assert_eq!(pack.manifest().files[0].sha256, reference.model_sha256);
    let session = pack
        .open_session_in(runtime(), "nmp.onnx")
        .expect("open nmp.onnx");

    let input = reference_input(&reference.input);
    let sum: f64 = input.iter().map(|&x| f64::from(x)).sum();
    let abs_sum: f64 = input.iter().map(|&x| f64::from(x).abs()).sum();
    assert!((sum - reference.input.sum).abs() < 1e-6, "input sum {sum}");
    assert!(
        (abs_sum - reference.input.abs_sum).abs() < 1e-6,
        "input |sum| {abs_sum}"
    );

    assert_eq!(reference.input.name, basic_pitch::INPUT);
    let outputs = session
        .run_f32(basic_pitch::INPUT, &[1, input.len(), 1], &input)
        .expect("run basic-pitch");

    assert_eq!(reference.outputs.len(), 3);
    let mut worst = 0.0f64;
    for name in [basic_pitch::NOTE, basic_pitch::ONSET, basic_pitch::CONTOUR] {
        let want = &reference.outputs[name];
        let got = outputs.require(session.path(), name).unwrap();
        assert_eq!(got.shape(), want.shape.as_slice(), "{name} shape");
        for &(frame, bin, value) in &want.samples {
            let v = f64::from(got[[0, frame, bin]]);
            worst = worst.max((v - value).abs());
            assert!(
                (v - value).abs() <= TOLERANCE,
                "{name}[0, {frame}, {bin}] = {v}, Python onnxruntime gave {value}"
            );
        }
        let max = got.iter().copied().fold(f32::MIN, f32::max);
        let min = got.iter().copied().fold(f32::MAX, f32::min);
        assert!(
            (f64::from(max) - want.max).abs() <= TOLERANCE,
            "{name} max {max}"
        );
        assert!(
            (f64::from(min) - want.min).abs() <= TOLERANCE,
            "{name} min {min}"
        );
        // Each value is within 1e-5, so the sum is within 1e-5 per value.
        let sum: f64 = got.iter().map(|&x| f64::from(x)).sum();
        let bound = TOLERANCE * got.len() as f64;
        assert!(
            (sum - want.sum).abs() <= bound,
            "{name} sum {sum} vs {}",
            want.sum
        );
        assert!(want.samples.len() >= 200, "{name}: reference too small");
    }
    eprintln!("largest difference from Python onnxruntime over the sampled values: {worst:e}");
    // The input holds notes: the note activations must cross basic-pitch's frame threshold.
    let note = outputs.get(basic_pitch::NOTE).unwrap();
    assert!(note.iter().any(|&v| v > 0.5));
}

#[test]
fn the_runtime_is_loaded_once_from_the_given_path() {
    let first = runtime();
    assert_eq!(first.library_path(), ort_library());
    // Later callers get the same runtime, whatever search they bring.
    let again = Runtime::global_with(|| RuntimeSearch::explicit(["/nonexistent.so"])).unwrap();
    assert!(std::ptr::eq(first, again));
    assert!(std::ptr::eq(first, Runtime::global().unwrap()));
    assert_eq!(first.version(), Some("1.31.1"));
    assert!(
        first.build_info().contains("Release"),
        "{}",
        first.build_info()
    );
}

#[test]
fn sessions_are_cached_per_file_and_warmed_up() {
    let pack = basic_pitch_pack();
    let a = pack.open_session_in(runtime(), "nmp.onnx").unwrap();
    let b = pack.open_session_in(runtime(), "nmp.onnx").unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    // A different path to the same file is the same cache entry.
    let c = runtime()
        .session(&pack.files_dir().join(".").join("nmp.onnx"))
        .unwrap();
    assert!(Arc::ptr_eq(&a, &c));
    // Already warmed up by open_session_in: returns the recorded outcome.
    assert!(a.warm_up().is_ok());

    let sig = a.signature();
    let input = sig.input(basic_pitch::INPUT).unwrap();
    assert_eq!(input.dims, vec![None, Some(43844), Some(1)]);
    assert_eq!(sig.output(basic_pitch::CONTOUR).unwrap().dims[2], Some(264));
}

#[test]
fn a_graph_of_another_convention_is_a_shape_mismatch() {
    let model = std::fs::read(nmp_onnx()).unwrap();
    let (_dir, pack) = temp_pack(
        "name = \"not crepe\"\ntask = \"pitch\"\nconvention = \"crepe\"\nsample_rate = 16000",
        "crepe.onnx",
        &model,
    );
    let err = pack.open_session_in(runtime(), "crepe.onnx").unwrap_err();
    match &err {
        InferenceError::ShapeMismatch {
            convention,
            kind,
            name,
            expected,
            got,
            ..
        } => {
            assert_eq!(*convention, Convention::Crepe);
            assert_eq!(*kind, "input");
            assert_eq!(name, basic_pitch::INPUT);
            assert_eq!(expected, "f32 [?, 1024]");
            assert_eq!(got, "f32 [?, 43844, 1]");
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    assert!(err.to_string().contains("crepe.onnx"), "{err}");
}

#[test]
fn a_file_that_is_not_onnx_is_a_model_file_error() {
    let (dir, pack) = temp_pack(
        "name = \"junk\"\ntask = \"transcribe\"\nconvention = \"basic-pitch\"\nsample_rate = 22050",
        "junk.onnx",
        b"this is not a protobuf-encoded ONNX graph",
    );
    let err = pack.open_session_in(runtime(), "junk.onnx").unwrap_err();
    match &err {
        InferenceError::ModelFile { path, reason } => {
            assert_eq!(
                std::fs::canonicalize(path).unwrap(),
                std::fs::canonicalize(dir.path().join("junk.onnx")).unwrap()
            );
            assert!(reason.contains("not a valid ONNX model"), "{reason}");
        }
        other => panic!("expected ModelFile, got {other:?}"),
    }
    // A file that does not exist at all.
    let err = runtime()
        .session(&dir.path().join("absent.onnx"))
        .unwrap_err();
    assert!(matches!(err, InferenceError::ModelFile { .. }), "{err:?}");
}

#[test]
fn wrong_input_data_is_a_run_error_not_a_panic() {
    let pack = basic_pitch_pack();
    let session = pack.open_session_in(runtime(), "nmp.onnx").unwrap();
    let short = vec![0.0f32; 1000];
    let err = session
        .run_f32(basic_pitch::INPUT, &[1, 1000, 1], &short)
        .unwrap_err();
    assert!(matches!(err, InferenceError::Run { .. }), "{err:?}");
    let err = session
        .run_f32(basic_pitch::INPUT, &[1, 43844, 1], &short)
        .unwrap_err();
    assert!(err.to_string().contains(basic_pitch::INPUT), "{err}");
}
