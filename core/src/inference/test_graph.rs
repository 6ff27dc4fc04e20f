//! Small ONNX graphs with the real inputs and outputs of a convention, written by the project
//! itself (feature `test-graphs`), so tests and benches run the whole pre- and post-processing
//! around a graph without committing model binaries.
//!
//! The protobuf messages below are hand-declared subsets of `onnx.proto` (ONNX IR version 8)
//! with the official field numbers; [`prost`] encodes them.

use std::path::Path;

use prost::Message;

use super::manifest::MANIFEST_FILE;
use super::pack::sha256_file;

/// The ONNX IR version written.
const IR_VERSION: i64 = 8;
/// The default-domain operator set the graphs use (Unsqueeze takes its axes as an input).
const OPSET: i64 = 13;
/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;
/// `TensorProto.DataType.INT64`.
const INT64: i32 = 7;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(string, tag = "2")]
    producer_name: String,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
}

#[derive(Clone, PartialEq, Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int64, repeated, tag = "7")]
    int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<Dimension>,
}

#[derive(Clone, PartialEq, Message)]
struct Dimension {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}

/// A graph input or output: a float tensor whose dimensions are fixed (`Some`) or named
/// dynamic ones (`None`, written as `d0`, `d1`, ...).
fn float_port(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    typed_port(name, FLOAT, dims)
}

/// [`float_port`] for an `int64` tensor.
fn int64_port(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    typed_port(name, INT64, dims)
}

fn typed_port(name: &str, elem_type: i32, dims: &[Option<usize>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .enumerate()
                        .map(|(i, d)| Dimension {
                            dim_value: d.map(|d| d as i64),
                            dim_param: d.is_none().then(|| format!("d{i}")),
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

fn float_tensor(name: &str, dims: &[usize], data: Vec<f32>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        float_data: data,
        name: name.to_owned(),
        ..TensorProto::default()
    }
}

/// An `int64` constant; empty `dims` make a scalar.
fn int64_tensor(name: &str, dims: &[usize], data: Vec<i64>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: INT64,
        int64_data: data,
        name: name.to_owned(),
        ..TensorProto::default()
    }
}

fn node(op_type: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        input: inputs.iter().map(|s| (*s).to_owned()).collect(),
        output: vec![output.to_owned()],
        name: output.to_owned(),
        op_type: op_type.to_owned(),
    }
}

fn model(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "mixsmith test_graph".to_owned(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
    }
    .encode_to_vec()
}

/// An `mdx` graph: `input` f32 [batch, 4, dim_f, dim_t] to `output` of the same shape, keeping
/// the frequency bins below `cutoff_hz` (at 44.1 kHz with `n_fft`) and zeroing the others, so
/// the "stem" is the low band of the mix. `dim_t: None` leaves the time axis dynamic.
pub fn mdx_low_pass(n_fft: usize, dim_f: usize, dim_t: Option<usize>, cutoff_hz: f32) -> Vec<u8> {
    let bin_hz = 44_100.0 / n_fft as f32;
    let mask = (0..dim_f)
        .map(|k| {
            if (k as f32) * bin_hz < cutoff_hz {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    let dims = [None, Some(4), Some(dim_f), dim_t];
    model(GraphProto {
        name: "mdx_low_pass".to_owned(),
        node: vec![node("Mul", &["input", "mask"], "output")],
        initializer: vec![float_tensor("mask", &[1, 1, dim_f, 1], mask)],
        input: vec![float_port("input", &dims)],
        output: vec![float_port("output", &dims)],
    })
}

/// The segment length of the HTDemucs split export.
pub const DEMUCS_SEGMENT: usize = 343_980;
/// Frequency bins of its spectrogram input.
pub const DEMUCS_BINS: usize = 2048;
/// Frames of its spectrogram input.
pub const DEMUCS_FRAMES: usize = 336;

/// A `demucs-onnx` graph with the real ports of the split export (`input` waveform
/// [1, 2, 343980] and `x` spectrogram [1, 4, 2048, 336] in; `output` spectrogram
/// [1, S, 4, 2048, 336] and `add_67` waveform [1, S, 2, 343980] out) where source `s` is
/// `spectrogram_weights[s]` times the input spectrogram and `wave_weights[s]` times the input
/// waveform. `S` is the weights' length (which must be equal).
pub fn demucs_weighted(wave_weights: &[f32], spectrogram_weights: &[f32]) -> Vec<u8> {
    assert_eq!(wave_weights.len(), spectrogram_weights.len());
    let s = wave_weights.len();
    let axes = TensorProto {
        dims: vec![1],
        data_type: INT64,
        int64_data: vec![1],
        name: "axes".to_owned(),
        ..TensorProto::default()
    };
    model(GraphProto {
        name: "demucs_weighted".to_owned(),
        node: vec![
            node("Unsqueeze", &["x", "axes"], "x_sources"),
            node("Mul", &["x_sources", "spectrogram_weights"], "output"),
            node("Unsqueeze", &["input", "axes"], "input_sources"),
            node("Mul", &["input_sources", "wave_weights"], "add_67"),
        ],
        initializer: vec![
            axes,
            float_tensor(
                "spectrogram_weights",
                &[1, s, 1, 1, 1],
                spectrogram_weights.to_vec(),
            ),
            float_tensor("wave_weights", &[1, s, 1, 1], wave_weights.to_vec()),
        ],
        input: vec![
            float_port("input", &[Some(1), Some(2), Some(DEMUCS_SEGMENT)]),
            float_port(
                "x",
                &[Some(1), Some(4), Some(DEMUCS_BINS), Some(DEMUCS_FRAMES)],
            ),
        ],
        output: vec![
            float_port(
                "output",
                &[
                    Some(1),
                    Some(s),
                    Some(4),
                    Some(DEMUCS_BINS),
                    Some(DEMUCS_FRAMES),
                ],
            ),
            float_port("add_67", &[Some(1), Some(s), Some(2), Some(DEMUCS_SEGMENT)]),
        ],
    })
}

/// Samples of 16 kHz audio per ContentVec frame (50 frames/s).
pub const CONTENTVEC_FRAME: usize = 320;

/// A `contentvec` graph whose features are each 20-ms frame's mean absolute sample times
/// pi/2 (a sine's amplitude), the same in all `width` (768 or 256) channels. `units: false`
/// gives the usual export, `source` f32 [1, 1, N] to `features` f32 [1, N/320, width];
/// `units: true` the other one, `audio` f32 [1, N] to `units` f32 [1, N/320, width]. N must be a
/// multiple of 320 (real exports drop a partial last frame; this graph refuses it).
pub fn contentvec_mean_abs(width: usize, units: bool) -> Vec<u8> {
    let (input, output, input_dims) = if units {
        ("audio", "units", vec![Some(1), None])
    } else {
        ("source", "features", vec![Some(1), Some(1), None])
    };
    let scale = std::f32::consts::FRAC_PI_2 / CONTENTVEC_FRAME as f32;
    model(GraphProto {
        name: "contentvec_mean_abs".to_owned(),
        node: vec![
            node("Reshape", &[input, "frames_shape"], "frames"),
            node("Abs", &["frames"], "magnitudes"),
            node("MatMul", &["magnitudes", "mean"], output),
        ],
        initializer: vec![
            int64_tensor("frames_shape", &[3], vec![1, -1, CONTENTVEC_FRAME as i64]),
            float_tensor(
                "mean",
                &[CONTENTVEC_FRAME, width],
                vec![scale; CONTENTVEC_FRAME * width],
            ),
        ],
        input: vec![float_port(input, &input_dims)],
        output: vec![float_port(output, &[Some(1), None, Some(width)])],
    })
}

/// An `rvc-v2` synthesizer at `sample_rate` (32, 40 or 48 kHz; hop = rate / 100) with the real
/// ports (`phone` f32 [1, T, `phone_width`], `phone_lengths` i64 [1], `pitch` i64 [1, T],
/// `pitchf` f32 [1, T], `ds` i64 [1], `rnd` f32 [1, 192, T] in; `audio` f32 [1, 1, T hop] out)
/// that renders a sine at `pitchf` (each frame's F0 held for a hop; silent where it is 0) whose
/// amplitude is the first channel of `phone`. Its phase starts at 0 in every call, as a real
/// synthesizer's source does not continue from one call to the next either.
pub fn rvc_sine(sample_rate: u32, phone_width: usize) -> Vec<u8> {
    let hop = (sample_rate / 100) as i64;
    model(GraphProto {
        name: "rvc_sine".to_owned(),
        node: vec![
            node("Unsqueeze", &["pitchf", "last_axis"], "f0_column"),
            node("Expand", &["f0_column", "hold"], "f0_held"),
            node("Reshape", &["f0_held", "flat"], "f0"),
            node("Mul", &["f0", "radians_per_hz"], "increment"),
            node("CumSum", &["increment", "time_axis"], "phase"),
            node("Sin", &["phase"], "sine"),
            node("Sign", &["f0"], "voiced"),
            node("Mul", &["sine", "voiced"], "voiced_sine"),
            node(
                "Slice",
                &["phone", "zero", "one", "last_axis"],
                "level_column",
            ),
            node("Expand", &["level_column", "hold"], "level_held"),
            node("Reshape", &["level_held", "flat"], "level"),
            node("Mul", &["voiced_sine", "level"], "samples"),
            node("Reshape", &["samples", "audio_shape"], "audio"),
        ],
        initializer: vec![
            int64_tensor("last_axis", &[1], vec![2]),
            int64_tensor("hold", &[3], vec![1, 1, hop]),
            int64_tensor("flat", &[2], vec![1, -1]),
            int64_tensor("audio_shape", &[3], vec![1, 1, -1]),
            int64_tensor("time_axis", &[], vec![1]),
            int64_tensor("zero", &[1], vec![0]),
            int64_tensor("one", &[1], vec![1]),
            float_tensor(
                "radians_per_hz",
                &[1],
                vec![std::f32::consts::TAU / sample_rate as f32],
            ),
        ],
        input: vec![
            float_port("phone", &[Some(1), None, Some(phone_width)]),
            int64_port("phone_lengths", &[Some(1)]),
            int64_port("pitch", &[Some(1), None]),
            float_port("pitchf", &[Some(1), None]),
            int64_port("ds", &[Some(1)]),
            float_port("rnd", &[Some(1), Some(192), None]),
        ],
        output: vec![float_port("audio", &[Some(1), Some(1), None])],
    })
}

/// Samples of 16 kHz audio per FCPE frame (100 frames/s).
pub const FCPE_FRAME: usize = 160;

/// An `fcpe` graph (`wav` f32 [1, N] to `f0` f32 [1, N/160 + 1]) whose F0 is `hz` in every
/// 10-ms frame holding any signal and 0 in silent ones (the last frame, past the end, is silent).
/// N must be a multiple of 160.
pub fn fcpe_constant(hz: f32) -> Vec<u8> {
    model(GraphProto {
        name: "fcpe_constant".to_owned(),
        node: vec![
            node("Pad", &["wav", "one_frame_after"], "padded"),
            node("Reshape", &["padded", "frames_shape"], "frames"),
            node("Abs", &["frames"], "magnitudes"),
            node("MatMul", &["magnitudes", "sum"], "levels"),
            node("Sign", &["levels"], "voiced"),
            node("Mul", &["voiced", "hz"], "f0_column"),
            node("Reshape", &["f0_column", "flat"], "f0"),
        ],
        initializer: vec![
            int64_tensor("one_frame_after", &[4], vec![0, 0, 0, FCPE_FRAME as i64]),
            int64_tensor("frames_shape", &[3], vec![1, -1, FCPE_FRAME as i64]),
            int64_tensor("flat", &[2], vec![1, -1]),
            float_tensor("sum", &[FCPE_FRAME, 1], vec![1.0; FCPE_FRAME]),
            float_tensor("hz", &[1], vec![hz]),
        ],
        input: vec![float_port("wav", &[Some(1), None])],
        output: vec![float_port("f0", &[Some(1), None])],
    })
}

/// Samples per CREPE frame (16 kHz).
pub const CREPE_FRAME: usize = 1024;
/// CREPE's pitch bins.
pub const CREPE_BINS: usize = 360;

/// A `crepe` graph (`frames` f32 [B, 1024] to `probabilities` f32 [B, 360]) whose every frame
/// holding any signal peaks at `bin` (a Gaussian of 1.5 bins, 0.9 at its top) and every silent
/// frame is all zeros.
pub fn crepe_peak(bin: usize) -> Vec<u8> {
    let profile = (0..CREPE_BINS)
        .map(|i| 0.9 * (-((i as f32 - bin as f32) / 1.5).powi(2) / 2.0).exp())
        .collect();
    model(GraphProto {
        name: "crepe_peak".to_owned(),
        node: vec![
            node("Abs", &["frames"], "magnitudes"),
            node("MatMul", &["magnitudes", "sum"], "levels"),
            node("Sign", &["levels"], "voiced"),
            node("Mul", &["voiced", "profile"], "probabilities"),
        ],
        initializer: vec![
            float_tensor("sum", &[CREPE_FRAME, 1], vec![1.0; CREPE_FRAME]),
            float_tensor("profile", &[1, CREPE_BINS], profile),
        ],
        input: vec![float_port("frames", &[None, Some(CREPE_FRAME)])],
        output: vec![float_port("probabilities", &[None, Some(CREPE_BINS)])],
    })
}

/// Writes a model pack into `dir`: `graph` as `file` and a `manifest.toml` made of `head` (the
/// manifest's fields before `[[files]]`, e.g. name, task, convention, sample rate, stems and
/// `[params]`) and the file's entry with its SHA-256.
pub fn write_pack(dir: &Path, file: &str, graph: &[u8], head: &str) -> std::io::Result<()> {
    write_pack_files(dir, head, &[(file, graph, None)])
}

/// [`write_pack`] for several files: each `(file, graph, convention)` is written and listed with
/// its SHA-256 and, when given, its own `convention` (e.g. the `contentvec` encoder of a voice
/// pack).
pub fn write_pack_files(
    dir: &Path,
    head: &str,
    files: &[(&str, &[u8], Option<&str>)],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut manifest = format!("{head}\n");
    for (file, graph, convention) in files {
        let path = dir.join(file);
        std::fs::write(&path, graph)?;
        let sha = sha256_file(&path).map_err(std::io::Error::other)?;
        manifest += &format!("[[files]]\npath = \"{file}\"\nsha256 = \"{sha}\"\n");
        if let Some(c) = convention {
            manifest += &format!("convention = \"{c}\"\n");
        }
    }
    std::fs::write(dir.join(MANIFEST_FILE), manifest)
}

/// Writes the RVC v2 sine test pack named `name` into `dir`: the generated "ContentVec" (each
/// frame's level, [`contentvec_mean_abs`]) and a 40 kHz synthesizer singing a sine at `pitchf`
/// with that level ([`rvc_sine`]), so the output's pitch shows what the windowing path did.
pub fn write_rvc_sine_pack(dir: &Path, name: &str) -> std::io::Result<()> {
    let head = format!(
        "name = \"{name}\"\ntask = \"voice\"\nconvention = \"rvc-v2\"\nsample_rate = 40000\n"
    );
    write_pack_files(
        dir,
        &head,
        &[
            ("voice.onnx", &rvc_sine(40_000, 768), None),
            (
                "contentvec.onnx",
                &contentvec_mean_abs(768, false),
                Some("contentvec"),
            ),
        ],
    )
}
