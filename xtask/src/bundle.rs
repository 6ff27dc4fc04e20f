//! `cargo xtask bundle`: the plugin built and bundled as `Mixsmith.clap` and `Mixsmith.vst3` with
//! the ONNX Runtime library next to the plugin binary (where the engine looks for it).

use crate::fetch;
use crate::setup;
use crate::util::{self, PLUGIN_PACKAGE, Workspace};
use anyhow::{Context, Result, ensure};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Bundle name from `bundler.toml`.
const BUNDLE_NAME: &str = "Mixsmith";

/// Folder of the plugin binary inside the VST3 bundle on x86-64 Linux.
const VST3_BINARY_DIR: &str = "Contents/x86_64-linux";

/// The standalone runner's binary (feature `standalone`); the nice-plug bundler does not copy it
/// because its name differs from the package's.
const STANDALONE_BINARY: &str = "mixsmith-standalone";

/// Which build to bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Release build, bundles stay in `target/bundled/`.
    Release,
    /// Debug build (for tests), bundles copied into `target/test-bundles/`.
    Debug,
}

/// The bundles produced by [`bundle`].
#[derive(Debug, Clone)]
pub struct Bundles {
    /// The folder holding both bundles and the runtime beside the `.clap`.
    pub dir: PathBuf,
    /// `<dir>/Mixsmith.clap` (a single shared library on Linux).
    pub clap: PathBuf,
    /// `<dir>/Mixsmith.vst3` (a folder).
    pub vst3: PathBuf,
    /// The standalone runner, when built with the `standalone` feature.
    pub standalone: Option<PathBuf>,
    /// The ONNX Runtime library beside the `.clap` (a copy is also inside the `.vst3`).
    pub runtime: PathBuf,
}

impl Bundles {
    /// The paths of the bundles inside `dir`.
    fn in_dir(dir: PathBuf, standalone: bool, runtime_name: &OsStr) -> Self {
        Self {
            runtime: dir.join(runtime_name),
            clap: dir.join(format!("{BUNDLE_NAME}.clap")),
            vst3: dir.join(format!("{BUNDLE_NAME}.vst3")),
            standalone: standalone.then(|| dir.join(STANDALONE_BINARY)),
            dir,
        }
    }

    /// The folder of the plugin binary inside the VST3 bundle.
    pub fn vst3_binary_dir(&self) -> PathBuf {
        self.vst3.join(VST3_BINARY_DIR)
    }
}

/// Whether cargo arguments turn on the plugin's `standalone` feature.
fn enables_standalone(cargo_args: &[String]) -> bool {
    let mut args = cargo_args.iter();
    while let Some(arg) = args.next() {
        let features = if arg == "--features" || arg == "-F" {
            args.next().map(String::as_str)
        } else {
            arg.strip_prefix("--features=")
        };
        if features.is_some_and(|list| {
            list.split([',', ' '])
                .any(|f| f == "standalone" || f == "mixsmith-plugin/standalone")
        }) {
            return true;
        }
        if arg == "--all-features" {
            return true;
        }
    }
    false
}

/// Builds the plugin with `cargo_args` (plus `--release` for [`Variant::Release`]), bundles it with
/// nice-plug-xtask and adds the ONNX Runtime library beside the `.clap` and inside the `.vst3`.
pub fn bundle(workspace: &Workspace, variant: Variant, cargo_args: &[String]) -> Result<Bundles> {
    let runtime = setup::ensure_file(workspace, fetch::ONNXRUNTIME)?;
    let runtime_name = runtime
        .file_name()
        .context("runtime path has no file name")?;

    let mut args = cargo_args.to_vec();
    if variant == Variant::Release {
        args.insert(0, "--release".to_owned());
    }
    let standalone = enables_standalone(cargo_args);

    // The bundler never deletes what an earlier run left: start from empty outputs.
    let bundled = Bundles::in_dir(workspace.target.join("bundled"), standalone, runtime_name);
    for stale in [&bundled.clap, &bundled.vst3] {
        util::remove_path(stale)?;
    }
    util::remove_path(&bundled.runtime)?;
    util::remove_path(&bundled.dir.join(STANDALONE_BINARY))?;

    nice_plug_xtask::build(&[PLUGIN_PACKAGE.to_owned()], &args)?;
    nice_plug_xtask::bundle(&workspace.target, PLUGIN_PACKAGE, &args, false)?;
    ensure!(
        bundled.clap.is_file() && bundled.vst3_binary_dir().is_dir(),
        "the bundler did not produce {} and {}",
        bundled.clap.display(),
        bundled.vst3.display()
    );
    if let Some(standalone) = &bundled.standalone {
        let profile = match variant {
            Variant::Release => "release",
            Variant::Debug => "debug",
        };
        util::copy_file(
            &workspace.target.join(profile).join(STANDALONE_BINARY),
            standalone,
        )?;
        set_executable(standalone)?;
    }

    let bundles = match variant {
        Variant::Release => bundled,
        Variant::Debug => {
            let test_bundles = Bundles::in_dir(
                workspace.target.join("test-bundles"),
                standalone,
                runtime_name,
            );
            util::remove_path(&test_bundles.dir)?;
            util::copy_file(&bundled.clap, &test_bundles.clap)?;
            util::copy_dir(&bundled.vst3, &test_bundles.vst3)?;
            if let (Some(from), Some(to)) = (&bundled.standalone, &test_bundles.standalone) {
                util::copy_file(from, to)?;
                set_executable(to)?;
            }
            test_bundles
        }
    };
    util::copy_file(&runtime, &bundles.runtime)?;
    util::copy_file(&runtime, &bundles.vst3_binary_dir().join(runtime_name))?;
    println!(
        "bundled: {} and {} (with {} beside the plugin binary)",
        bundles.clap.display(),
        bundles.vst3.display(),
        runtime_name.to_string_lossy()
    );
    Ok(bundles)
}

/// Adds the executable bits (copies keep them, but be explicit about the runner).
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path)
        .with_context(|| format!("could not stat {}", path.display()))?
        .permissions();
    permissions.set_mode(permissions.mode() | 0o111);
    std::fs::set_permissions(path, permissions)
        .with_context(|| format!("could not make {} executable", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn detects_the_standalone_feature_in_cargo_arguments() {
        assert!(enables_standalone(&args(&["--features", "standalone"])));
        assert!(enables_standalone(&args(&[
            "--features=assert_process_allocs,standalone"
        ])));
        assert!(enables_standalone(&args(&[
            "-F",
            "mixsmith-plugin/standalone"
        ])));
        assert!(enables_standalone(&args(&["--all-features"])));
        assert!(!enables_standalone(&args(&[
            "--features",
            "assert_process_allocs"
        ])));
        assert!(!enables_standalone(&args(&["standalone"])));
    }
}
