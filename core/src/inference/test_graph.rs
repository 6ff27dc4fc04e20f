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
    ValueInfoProto {
        name: name.to_owned(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
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

/// Writes a model pack into `dir`: `graph` as `file` and a `manifest.toml` made of `head` (the
/// manifest's fields before `[[files]]`, e.g. name, task, convention, sample rate, stems and
/// `[params]`) and the file's entry with its SHA-256.
pub fn write_pack(dir: &Path, file: &str, graph: &[u8], head: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(file);
    std::fs::write(&path, graph)?;
    let sha = sha256_file(&path).map_err(std::io::Error::other)?;
    std::fs::write(
        dir.join(MANIFEST_FILE),
        format!("{head}\n[[files]]\npath = \"{file}\"\nsha256 = \"{sha}\"\n"),
    )
}
