//! Where the bundles under test and the standalone binary are.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// The hint printed when a bundle is missing.
const BUILD_HINT: &str = "run `cargo xtask test` (or `cargo xtask bundle`)";

/// The workspace root (the parent of this crate's folder).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The folder holding `Mixsmith.clap` and `Mixsmith.vst3`: `MIXSMITH_BUNDLE_DIR` if set (by
/// `cargo xtask test`), else `<workspace>/target/bundled`.
pub fn bundle_dir() -> PathBuf {
    match std::env::var_os("MIXSMITH_BUNDLE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => workspace_root().join("target").join("bundled"),
    }
}

/// The CLAP bundle (a single shared library on Linux). Fails with a build hint if missing.
pub fn clap_bundle() -> Result<PathBuf> {
    let path = bundle_dir().join("Mixsmith.clap");
    if !path.exists() {
        bail!("CLAP bundle {} not found: {BUILD_HINT}", path.display());
    }
    Ok(path)
}

/// The VST3 bundle folder. Fails with a build hint if missing.
pub fn vst3_bundle() -> Result<PathBuf> {
    let path = bundle_dir().join("Mixsmith.vst3");
    if !path.is_dir() {
        bail!("VST3 bundle {} not found: {BUILD_HINT}", path.display());
    }
    Ok(path)
}

/// The standalone runner: `MIXSMITH_STANDALONE` if set, else
/// `<workspace>/target/debug/mixsmith-standalone`. Fails with a build hint if missing.
pub fn standalone_binary() -> Result<PathBuf> {
    let path = match std::env::var_os("MIXSMITH_STANDALONE") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => workspace_root()
            .join("target")
            .join("debug")
            .join("mixsmith-standalone"),
    };
    if !path.is_file() {
        bail!(
            "standalone binary {} not found: run `cargo xtask test` (or \
             `cargo build -p mixsmith-plugin --features standalone`)",
            path.display()
        );
    }
    Ok(path)
}
