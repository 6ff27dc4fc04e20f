//! Shared helpers: the workspace paths, running commands, timed steps, hashing and copying files.

use anyhow::{Context, Result, bail};
use sha2::{Digest, Sha256};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The cargo package of the plugin.
pub const PLUGIN_PACKAGE: &str = "mixsmith-plugin";

/// Where the workspace lives; every path the tasks use is computed from here.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The workspace root (the folder holding the root `Cargo.toml`); also the current directory.
    pub root: PathBuf,
    /// Cargo's target directory (usually `<root>/target`).
    pub target: PathBuf,
}

impl Workspace {
    /// Changes into the workspace root and asks cargo for the target directory.
    pub fn locate() -> Result<Self> {
        nice_plug_xtask::chdir_workspace_root()?;
        let root = std::env::current_dir().context("could not read the current directory")?;
        let metadata = cargo_metadata::MetadataCommand::new()
            .manifest_path(root.join("Cargo.toml"))
            .no_deps()
            .exec()
            .context("could not run `cargo metadata` to find the target directory")?;
        Ok(Self {
            root,
            target: metadata.target_directory.into_std_path_buf(),
        })
    }

    /// `cargo` with the workspace root as its working directory.
    pub fn cargo(&self) -> Command {
        let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.current_dir(&self.root);
        command
    }
}

/// A command line as a user could type it again (environment assignments first).
pub fn describe(command: &Command) -> String {
    let mut words: Vec<String> = command
        .get_envs()
        .filter_map(|(key, value)| {
            value.map(|v| format!("{}={}", key.to_string_lossy(), v.to_string_lossy()))
        })
        .collect();
    words.push(command.get_program().to_string_lossy().into_owned());
    words.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    words
        .into_iter()
        .map(|w| {
            if w.is_empty() || w.contains(char::is_whitespace) {
                format!("'{w}'")
            } else {
                w
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs a command with inherited stdin/stdout/stderr (output streams live) and fails unless it
/// exits with status 0.
pub fn run(command: &mut Command) -> Result<()> {
    let line = describe(command);
    eprintln!("$ {line}");
    let status = command
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs a command, streaming its stderr, and returns its stdout (which is also echoed).
pub fn run_capture(command: &mut Command) -> Result<String> {
    let line = describe(command);
    eprintln!("$ {line}");
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("could not start `{line}`"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    print!("{stdout}");
    if !output.status.success() {
        bail!("`{line}` failed ({})", output.status);
    }
    Ok(stdout)
}

/// One finished step of a task, for the summary.
struct StepRecord {
    name: String,
    duration: Duration,
    ok: bool,
}

/// Runs named steps in order, prints a one-line result with the duration of each, and stops at
/// the first failure with an error naming the step.
#[derive(Default)]
pub struct Steps {
    records: Vec<StepRecord>,
}

impl Steps {
    /// Runs one step; its error is wrapped with the step's name.
    pub fn run<T>(&mut self, name: &str, step: impl FnOnce() -> Result<T>) -> Result<T> {
        println!("==> {name}");
        let started = Instant::now();
        let result = step();
        let duration = started.elapsed();
        let ok = result.is_ok();
        println!(
            "<== {name}: {} in {}",
            if ok { "ok" } else { "FAILED" },
            format_duration(duration)
        );
        self.records.push(StepRecord {
            name: name.to_owned(),
            duration,
            ok,
        });
        if !ok {
            self.print_summary();
        }
        result.with_context(|| format!("step `{name}` failed"))
    }

    /// Prints one line per step run so far.
    pub fn print_summary(&self) {
        println!("---- summary ----");
        for record in &self.records {
            println!(
                "{:<8} {:>9}  {}",
                if record.ok { "ok" } else { "FAILED" },
                format_duration(record.duration),
                record.name
            );
        }
    }
}

/// `1m 02.3s` / `4.2s`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds >= 60.0 {
        let minutes = (seconds / 60.0).floor();
        format!("{minutes:.0}m {:04.1}s", seconds - minutes * 60.0)
    } else {
        format!("{seconds:.1}s")
    }
}

/// `7.5 MB` (decimal units).
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "kB", "MB", "GB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Lower-case hex SHA-256 of a file.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file =
        fs::File::open(path).with_context(|| format!("could not open {}", path.display()))?;
    let mut hasher = Sha256::new();
    io::copy(&mut file, &mut hasher)
        .with_context(|| format!("could not read {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `path` with `suffix` appended to its file name (for temporary names next to the target).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// Copies a file through a temporary name in the destination folder, then renames it into place,
/// so a reader never sees a half-written file. Creates the destination folder.
pub fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("could not create {}", parent.display()))?;
    }
    let temporary = with_suffix(to, ".part");
    fs::copy(from, &temporary).with_context(|| {
        format!(
            "could not copy {} to {}",
            from.display(),
            temporary.display()
        )
    })?;
    fs::rename(&temporary, to)
        .with_context(|| format!("could not rename {} into place", temporary.display()))
}

/// Copies a folder tree (files and folders; symlinks are followed).
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for entry in walkdir::WalkDir::new(from).follow_links(true) {
        let entry = entry.with_context(|| format!("could not walk {}", from.display()))?;
        let relative = entry
            .path()
            .strip_prefix(from)
            .context("walkdir returned a path outside its root")?;
        let destination = to.join(relative);
        if entry.file_type().is_dir() {
            fs::create_dir_all(&destination)
                .with_context(|| format!("could not create {}", destination.display()))?;
        } else {
            copy_file(entry.path(), &destination)?;
        }
    }
    Ok(())
}

/// Removes a file or a folder tree if it exists.
pub fn remove_path(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(metadata) if metadata.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => Err(error),
    }
    .with_context(|| format!("could not remove {}", path.display()))
}

/// Total size of the files under `path` (or of `path` itself when it is a file).
pub fn tree_size(path: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in walkdir::WalkDir::new(path) {
        let entry = entry.with_context(|| format!("could not walk {}", path.display()))?;
        if entry.file_type().is_file() {
            total += entry
                .metadata()
                .with_context(|| format!("could not stat {}", entry.path().display()))?
                .len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_durations_and_sizes() {
        assert_eq!(format_duration(Duration::from_millis(4_240)), "4.2s");
        assert_eq!(format_duration(Duration::from_millis(62_300)), "1m 02.3s");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(7_512_345), "7.5 MB");
    }

    #[test]
    fn hashes_files_and_copies_trees() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let source = dir.path().join("a/b");
        fs::create_dir_all(&source)?;
        fs::write(source.join("f.txt"), b"abc")?;
        assert_eq!(
            sha256_file(&source.join("f.txt"))?,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        copy_dir(&dir.path().join("a"), &dir.path().join("c"))?;
        assert_eq!(fs::read(dir.path().join("c/b/f.txt"))?, b"abc");
        assert_eq!(tree_size(&dir.path().join("c"))?, 3);
        remove_path(&dir.path().join("c"))?;
        assert!(!dir.path().join("c").exists());
        remove_path(&dir.path().join("c"))?;
        Ok(())
    }

    #[test]
    fn describes_commands_for_copy_and_paste() {
        let mut command = Command::new("cargo");
        command.args(["test", "--features", "a b"]).env("X", "1");
        assert_eq!(describe(&command), "X=1 cargo test --features 'a b'");
    }
}
