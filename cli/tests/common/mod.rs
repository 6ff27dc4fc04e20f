//! Helpers shared by the CLI's integration tests.

use std::path::{Path, PathBuf};

/// ONNX Runtime from `ORT_DYLIB_PATH`, else where `cargo xtask setup` puts it.
pub fn ort_library() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../vendor/onnxruntime/libonnxruntime.so.1.31.1")
        },
        PathBuf::from,
    )
}
