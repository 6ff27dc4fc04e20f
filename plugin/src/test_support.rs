//! What the plugin crate's tests share: the files `cargo xtask setup` fetches.

use std::path::{Path, PathBuf};

use mixsmith_core::inference::{LIBRARY_FILE, Runtime, RuntimeSearch};

/// A file fetched by `cargo xtask setup`: `var` if set, else the workspace fallback; fails
/// loudly when the file is missing.
pub fn fetched(var: &str, fallback: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(fallback)
        });
    assert!(
        path.is_file(),
        "{} is missing (from {var} or the default {fallback}): run `cargo xtask setup`",
        path.display()
    );
    std::fs::canonicalize(&path).unwrap()
}

/// Loads the fetched ONNX Runtime for this process (`ORT_DYLIB_PATH`, else `vendor/`).
pub fn load_runtime() {
    let lib = fetched(
        "ORT_DYLIB_PATH",
        &format!("vendor/onnxruntime/{LIBRARY_FILE}"),
    );
    Runtime::global_with(|| RuntimeSearch::explicit([lib])).expect("load ONNX Runtime");
}
