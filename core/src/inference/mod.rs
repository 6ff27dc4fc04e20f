//! ONNX inference: loading ONNX Runtime, sessions, model packs and their manifests.
//!
//! - [`Runtime`] loads `libonnxruntime` from an explicit path (beside the plugin binary, then
//!   `ORT_DYLIB_PATH`, then the user data folder), once per process. A missing or too old
//!   library is an [`InferenceError`], never a panic: callers keep their DSP defaults and show
//!   the message.
//! - [`ModelSession`] is one graph with one intra-op thread, cached per model file by
//!   [`Runtime::session`], checked against its [`Convention`] and warmed up before use.
//! - [`ModelPack`] is a folder with a `manifest.toml` ([`Manifest`]) and files whose SHA-256 it
//!   verifies.
//!
//! Everything here is slow (file I/O, allocation, graph optimisation) and must run on worker
//! threads, never on the audio thread.

mod convention;
mod error;
mod manifest;
mod pack;
mod runtime;
mod session;
#[cfg(any(test, feature = "test-graphs"))]
pub mod test_child;
#[cfg(feature = "test-graphs")]
pub mod test_graph;

pub use convention::{Convention, Dim, PortElement, PortSpec, SignatureSpec, Task, basic_pitch};
pub use error::InferenceError;
pub use manifest::{
    MANIFEST_FILE, MANIFEST_VERSION, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE, Manifest, PackFile,
};
pub(crate) use pack::file_digest;
pub use pack::{ModelPack, scan_packs, sha256_file, user_models_dir};
pub use runtime::{
    Candidate, CandidateOrigin, ENV_DYLIB_PATH, LIBRARY_FILE, RUNTIME_VERSION, Runtime,
    RuntimeSearch, SkippedCandidate, own_binary_path, required_version, user_data_dir,
};
pub use session::{
    ElementType, GraphSignature, InputTensor, ModelSession, Outputs, TensorInfo, format_dims,
};
