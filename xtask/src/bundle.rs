//! `cargo xtask bundle`: the plugin built and bundled as `Mixsmith.clap` and `Mixsmith.vst3` with
//! the ONNX Runtime library next to the plugin binary (where the engine looks for it).

use crate::fetch;
use crate::setup;
use crate::util::{self, PLUGIN_PACKAGE, Workspace};
use anyhow::{Context, Result, ensure};
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

/// Bundle name from `bundler.toml`.
const BUNDLE_NAME: &str = "Mixsmith";

/// Folder of the plugin binary inside the VST3 bundle on x86-64 Linux.
const VST3_BINARY_DIR: &str = "Contents/x86_64-linux";

/// The plugin library cargo builds (`lib` + package name with underscores + `.so`).
const PLUGIN_LIBRARY: &str = "libmixsmith_plugin.so";

/// The standalone runner's binary (feature `standalone`); the nice-plug bundler does not copy it
/// because its name differs from the package's.
const STANDALONE_BINARY: &str = "mixsmith-standalone";

/// Which build to bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// Release build, bundles stay in `target/bundled/`.
    Release,
    /// Debug (dev profile) build for the tests, bundled into `target/test-bundles/`;
    /// `target/bundled/` is left alone.
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
    /// The standalone runner, when a release build has the `standalone` feature (debug test runs
    /// use `target/debug/mixsmith-standalone` directly).
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
    nice_plug_xtask::build(&[PLUGIN_PACKAGE.to_owned()], &args)?;
    let bundles = match variant {
        Variant::Release => bundle_release(workspace, &args, runtime_name)?,
        Variant::Debug => bundle_debug(workspace, &args, runtime_name)?,
    };
    util::copy_file(&runtime, &bundles.runtime)?;
    util::copy_file(&runtime, &bundles.vst3_binary_dir().join(runtime_name))?;
    println!(
        "bundled: {} and {} (with {} beside the plugin binary)",
        bundles.clap.display(),
        bundles.vst3.display(),
        runtime_name.to_string_lossy()
    );
    if let Some(standalone) = &bundles.standalone {
        println!("standalone runner: {}", standalone.display());
    }
    Ok(bundles)
}

/// Bundles the release build into `target/bundled/`, plus the standalone runner when its feature
/// is on.
fn bundle_release(workspace: &Workspace, args: &[String], runtime_name: &OsStr) -> Result<Bundles> {
    let standalone = enables_standalone(args);
    let bundles = Bundles::in_dir(workspace.target.join("bundled"), standalone, runtime_name);
    // The bundler never deletes what an earlier run left: start from empty outputs.
    for stale in [&bundles.clap, &bundles.vst3, &bundles.runtime] {
        util::remove_path(stale)?;
    }
    util::remove_path(&bundles.dir.join(STANDALONE_BINARY))?;
    nice_plug_xtask::bundle(&workspace.target, PLUGIN_PACKAGE, args, false)?;
    check_bundled(&bundles)?;
    if let Some(standalone) = &bundles.standalone {
        util::copy_file(
            &workspace.target.join("release").join(STANDALONE_BINARY),
            standalone,
        )?;
        set_executable(standalone)?;
    }
    Ok(bundles)
}

/// Bundles the debug build into `target/test-bundles/` without touching `target/bundled/`: the
/// bundler is pointed at a staging folder whose `debug/` holds a link to the built library, and
/// the staging folder's `bundled/` becomes `target/test-bundles/`.
fn bundle_debug(workspace: &Workspace, args: &[String], runtime_name: &OsStr) -> Result<Bundles> {
    let stage = workspace.target.join("xtask-debug-stage");
    util::remove_path(&stage)?;
    let library = workspace.target.join("debug").join(PLUGIN_LIBRARY);
    let staged_library = stage.join("debug").join(PLUGIN_LIBRARY);
    fs::create_dir_all(stage.join("debug"))
        .with_context(|| format!("could not create {}", stage.display()))?;
    std::os::unix::fs::symlink(&library, &staged_library)
        .with_context(|| format!("could not link {}", staged_library.display()))?;
    nice_plug_xtask::bundle(&stage, PLUGIN_PACKAGE, args, false)?;
    let staged = Bundles::in_dir(stage.join("bundled"), false, runtime_name);
    check_bundled(&staged)?;

    let bundles = Bundles::in_dir(workspace.target.join("test-bundles"), false, runtime_name);
    util::remove_path(&bundles.dir)?;
    fs::rename(&staged.dir, &bundles.dir).with_context(|| {
        format!(
            "could not move {} to {}",
            staged.dir.display(),
            bundles.dir.display()
        )
    })?;
    util::remove_path(&stage)?;
    Ok(bundles)
}

/// Fails unless the bundler produced both bundles.
fn check_bundled(bundles: &Bundles) -> Result<()> {
    ensure!(
        bundles.clap.is_file() && bundles.vst3_binary_dir().is_dir(),
        "the bundler did not produce {} and {}",
        bundles.clap.display(),
        bundles.vst3.display()
    );
    Ok(())
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
