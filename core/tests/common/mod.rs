//! Helpers shared by the integration tests.

pub mod synth;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file fetched by `cargo xtask setup`: `var` if set, else the workspace fallback; fails
/// loudly when the file is missing.
pub fn fetched(var: &str, fallback: &str) -> PathBuf {
    let path = std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(fallback));
    assert!(
        path.is_file(),
        "{} is missing (from {var} or the default {fallback}): run `cargo xtask setup`",
        path.display()
    );
    std::fs::canonicalize(&path).unwrap()
}
