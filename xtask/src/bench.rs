//! `cargo xtask bench`: the engine's criterion benchmarks, the bundle sizes and (opt-in) clean
//! build times of the plugin.

use crate::bundle::{self, Variant};
use crate::setup;
use crate::util::{self, PLUGIN_PACKAGE, Steps, Workspace};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime};

/// The Python package the mastering benchmark compares against, pinned.
const MATCHERING: &str = "matchering==2.0.6";
/// The Python package the transcription benchmark compares against, pinned.
const BASIC_PITCH: &str = "basic-pitch==0.4.0";
/// What `basic-pitch` imports when it runs its ONNX model (pinned where versions matter).
const BASIC_PITCH_DEPS: &[&str] = &[
    "librosa==0.10.2.post1",
    "mir_eval==0.7",
    "pretty_midi==0.2.10",
    "resampy==0.4.2",
    "onnxruntime==1.31.1",
    "numpy<2.1",
    "scipy",
    "scikit-learn",
    "typing-extensions",
];
/// The Python packages of the tempo and key bench (librosa is the baseline, mido writes the
/// songs' MIDI files), pinned.
const TEMPO_KEY_PACKAGES: &[&str] = &["librosa==0.10.2.post1", "mido==1.3.3"];
/// What the separation bench adds to the tempo and key bench's packages: the WORLD vocoder
/// that sings its vocals.
const SEPARATE_PACKAGES: &[&str] = &["pyworld==0.3.5"];
/// What the voice conversion bench adds to the separation bench's packages: SPTK's mel-cepstrum
/// for the mel-cepstral distortion.
const VOICE_PACKAGES: &[&str] = &["pysptk==1.0.1"];
/// Songs in the voice conversion bench set (each sung by both voices, both directions scored).
const VOICE_SONGS: &str = "8";
/// Songs in the separation bench set.
const SEPARATE_SONGS: &str = "8";
/// Songs in the tempo and key bench set.
const TEMPO_KEY_SONGS: &str = "60";
/// Melodies (15 s each) in the F0 bench set.
const PITCH_MELODIES: &str = "20";

/// `benchmark.json` that criterion writes for each benchmark.
#[derive(Deserialize)]
struct BenchmarkId {
    /// `group/function/value`.
    full_id: String,
}

/// `estimates.json` that criterion writes for each benchmark (only the part read here).
#[derive(Deserialize)]
struct Estimates {
    /// Mean time per iteration.
    mean: Estimate,
}

/// One criterion estimate, in nanoseconds.
#[derive(Deserialize)]
struct Estimate {
    /// The point estimate.
    point_estimate: f64,
}

/// Runs the benchmarks, then measures bundle sizes and, with `build_times`, clean build durations.
pub fn run(workspace: &Workspace, build_times: bool) -> Result<()> {
    let mut steps = Steps::default();
    let started = SystemTime::now();
    let matchering = steps.run("matchering for the mastering comparison", || {
        Ok(matchering_python(workspace))
    })?;
    let basic_pitch = steps.run("basic-pitch for the transcription comparison", || {
        Ok(basic_pitch_cli(workspace))
    })?;
    let cli = steps.run(
        "release mixsmith CLI for the mastering and MIDI comparisons",
        || {
            util::run(
                workspace
                    .cargo()
                    .args(["build", "--release", "-p", "mixsmith"]),
            )?;
            Ok(workspace.target.join("release/mixsmith"))
        },
    )?;
    steps.run("cargo bench -p mixsmith-core", || {
        let mut bench = workspace.cargo();
        bench.env("MIXSMITH_CLI", &cli);
        if let Some(python) = &matchering {
            bench.env("MIXSMITH_MATCHERING_PYTHON", python);
        }
        if let Some(cli) = &basic_pitch {
            bench.env("MIXSMITH_BASIC_PITCH_CLI", cli);
        }
        bench.env(
            "ORT_DYLIB_PATH",
            workspace
                .root
                .join("vendor/onnxruntime/libonnxruntime.so.1.31.1"),
        );
        util::run(bench.args(["bench", "-p", "mixsmith-core"]))
    })?;
    steps.run(
        "cargo bench -p mixsmith-plugin (the Stems plugin's block)",
        || {
            util::run(workspace.cargo().args([
                "bench",
                "-p",
                "mixsmith-plugin",
                "--bench",
                "stems",
            ]))
        },
    )?;
    let tempo_key = steps.run("tempo and key bench set (librosa baseline)", || {
        bench_script(
            workspace,
            "librosa, mido",
            &[TEMPO_KEY_PACKAGES],
            "tempo_key_bench.py",
            &cli,
            "bench-tempo-key",
            TEMPO_KEY_SONGS,
        )
    })?;
    let separation = steps.run("separation bench set (HPSS + REPET baseline)", || {
        bench_script(
            workspace,
            "librosa, mido, pyworld",
            &[TEMPO_KEY_PACKAGES, SEPARATE_PACKAGES],
            "separate_bench.py",
            &cli,
            "bench-separate",
            SEPARATE_SONGS,
        )
    })?;
    let pitch = steps.run("F0 bench set (librosa pYIN baseline)", || {
        bench_script(
            workspace,
            "librosa",
            &[TEMPO_KEY_PACKAGES],
            "pitch_bench.py",
            &cli,
            "bench-pitch",
            PITCH_MELODIES,
        )
    })?;
    let voice = steps.run("voice conversion bench set (pyworld baseline)", || {
        bench_script(
            workspace,
            "librosa, mido, pyworld, pysptk",
            &[TEMPO_KEY_PACKAGES, SEPARATE_PACKAGES, VOICE_PACKAGES],
            "voice_bench.py",
            &cli,
            "bench-voice",
            VOICE_SONGS,
        )
    })?;
    let figures = steps.run("collect criterion figures", || {
        criterion_figures(&workspace.target.join("criterion"), started)
    })?;

    let bundles = steps.run("release bundles", || {
        bundle::bundle(workspace, Variant::Release, &[])
    })?;
    let clap_size = util::tree_size(&bundles.clap)?;
    let vst3_size = util::tree_size(&bundles.vst3)?;
    let runtime_size = util::tree_size(&bundles.runtime)?;

    let mut durations = Vec::new();
    if build_times {
        for profile in ["debug", "release"] {
            let duration = steps.run(&format!("clean {profile} build of the plugin"), || {
                clean_build(workspace, profile)
            })?;
            durations.push((profile, duration));
        }
    }

    steps.print_summary();
    println!("---- benchmarks (mean time per iteration, this run) ----");
    if figures.is_empty() {
        println!("(no criterion benchmarks ran; add them under core/benches/)");
    }
    for (name, nanoseconds) in &figures {
        println!("{:>14}  {name}", format_nanoseconds(*nanoseconds));
    }
    println!("---- tempo and key (xtask/scripts/tempo_key_bench.py) ----");
    print!(
        "{}",
        tempo_key
            .as_deref()
            .unwrap_or("(skipped: no Python with librosa)\n")
    );
    println!("---- stem separation (xtask/scripts/separate_bench.py) ----");
    print!(
        "{}",
        separation
            .as_deref()
            .unwrap_or("(skipped: no Python with librosa and pyworld)\n")
    );
    println!("---- F0 tracking (xtask/scripts/pitch_bench.py) ----");
    print!(
        "{}",
        pitch
            .as_deref()
            .unwrap_or("(skipped: no Python with librosa)\n")
    );
    println!("---- voice conversion (xtask/scripts/voice_bench.py) ----");
    print!(
        "{}",
        voice
            .as_deref()
            .unwrap_or("(skipped: no Python with librosa, mido, pyworld and pysptk)\n")
    );
    println!("---- bundle sizes ----");
    println!(
        "{:>10}  {}",
        util::format_bytes(clap_size),
        bundles.clap.display()
    );
    println!(
        "{:>10}  {} (with the runtime inside)",
        util::format_bytes(vst3_size),
        bundles.vst3.display()
    );
    println!(
        "{:>10}  {} (the ONNX Runtime library beside the .clap)",
        util::format_bytes(runtime_size),
        bundles.runtime.display()
    );
    for (profile, duration) in durations {
        println!(
            "clean {profile} build of {PLUGIN_PACKAGE}: {}",
            util::format_duration(duration)
        );
    }
    Ok(())
}

/// Builds the plugin from scratch in `target/bench-clean-<profile>` and removes that folder.
fn clean_build(workspace: &Workspace, profile: &str) -> Result<std::time::Duration> {
    let target_dir = workspace.target.join(format!("bench-clean-{profile}"));
    util::remove_path(&target_dir)?;
    let mut command = workspace.cargo();
    command
        .args(["build", "-p", PLUGIN_PACKAGE])
        .env("CARGO_TARGET_DIR", &target_dir);
    if profile == "release" {
        command.arg("--release");
    }
    let started = Instant::now();
    let result = util::run(&mut command);
    let duration = started.elapsed();
    util::remove_path(&target_dir)?;
    result.map(|()| duration)
}

/// `(benchmark id, mean ns)` of every criterion benchmark under `dir` written since `since`,
/// sorted by id.
fn criterion_figures(dir: &Path, since: SystemTime) -> Result<Vec<(String, f64)>> {
    let mut figures = Vec::new();
    if !dir.is_dir() {
        return Ok(figures);
    }
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.with_context(|| format!("could not walk {}", dir.display()))?;
        let path = entry.path();
        if path.file_name() != Some("estimates.json".as_ref())
            || path.parent().and_then(Path::file_name) != Some("new".as_ref())
        {
            continue;
        }
        let modified = entry.metadata()?.modified()?;
        if modified < since {
            continue;
        }
        let id_file = path.with_file_name("benchmark.json");
        let id: BenchmarkId = read_json(&id_file)?;
        let estimates: Estimates = read_json(path)?;
        figures.push((id.full_id, estimates.mean.point_estimate));
    }
    figures.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(figures)
}

/// Reads and parses one JSON file, naming it in errors.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text =
        fs::read_to_string(path).with_context(|| format!("could not read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("could not parse {}", path.display()))
}

/// `812 ns`, `45.20 µs`, `3.10 ms`, `1.25 s`.
fn format_nanoseconds(nanoseconds: f64) -> String {
    if nanoseconds < 1e3 {
        format!("{nanoseconds:.0} ns")
    } else if nanoseconds < 1e6 {
        format!("{:.2} µs", nanoseconds / 1e3)
    } else if nanoseconds < 1e9 {
        format!("{:.2} ms", nanoseconds / 1e6)
    } else {
        format!("{:.2} s", nanoseconds / 1e9)
    }
}

/// Runs `xtask/scripts/SCRIPT CLI target/WORK SONGS` with a bench Python that can import
/// `module` (installing `installs` when it cannot) and returns what it printed; `None` when
/// there is no such Python.
fn bench_script(
    workspace: &Workspace,
    module: &str,
    installs: &[&[&str]],
    script: &str,
    cli: &Path,
    work: &str,
    songs: &str,
) -> Result<Option<String>> {
    setup::ensure_bench_tools()?;
    let Some(python) = bench_python(workspace, module, installs) else {
        return Ok(None);
    };
    let output = Command::new(python)
        .arg(workspace.root.join("xtask/scripts").join(script))
        .arg(cli)
        .arg(workspace.target.join(work))
        .arg(songs)
        .output()
        .with_context(|| format!("could not run xtask/scripts/{script}"))?;
    if !output.status.success() {
        anyhow::bail!(
            "{script} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(Some(String::from_utf8_lossy(&output.stdout).into_owned()))
}

/// A Python that can import `matchering`; see [`bench_python`].
fn matchering_python(workspace: &Workspace) -> Option<PathBuf> {
    bench_python(workspace, "matchering", &[&[MATCHERING]])
}

/// The `basic-pitch` command of a Python with `basic-pitch` and onnxruntime (no TensorFlow, so
/// it runs the same `nmp.onnx` as Mixsmith); see [`bench_python`]. The package is installed
/// without its dependencies (on Linux they pull in TensorFlow), then the ones it imports.
fn basic_pitch_cli(workspace: &Workspace) -> Option<PathBuf> {
    let python = bench_python(
        workspace,
        "basic_pitch.inference",
        &[&["--no-deps", BASIC_PITCH], BASIC_PITCH_DEPS],
    )?;
    Some(python.with_file_name("basic-pitch"))
}

/// A Python in `vendor/bench-venv` that can import `module`, made and filled from PyPI (one
/// `pip install` per entry of `installs`) when it cannot. `None`, with the reason printed, when
/// that cannot be done; the benchmark then says it skipped the comparison.
fn bench_python(workspace: &Workspace, module: &str, installs: &[&[&str]]) -> Option<PathBuf> {
    let venv = workspace.root.join("vendor/bench-venv");
    let python = venv.join("bin/python");
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if imports(&python) {
        return Some(python);
    }
    let mut installed = if python.is_file() {
        Ok(())
    } else {
        util::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
    };
    for args in installs {
        installed = installed.and_then(|()| {
            util::run(
                Command::new(&python)
                    .args(["-m", "pip", "install", "--quiet"])
                    .args(*args),
            )
        });
    }
    match installed {
        Ok(()) if imports(&python) => Some(python),
        Ok(()) => {
            eprintln!("bench: `{module}` installed but does not import; no comparison");
            None
        }
        Err(e) => {
            eprintln!(
                "bench: cannot install `{module}` into {} ({e:#}); no comparison",
                venv.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_criterion_estimates_written_in_this_run() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let before = SystemTime::now() - std::time::Duration::from_secs(5);
        let bench = dir.path().join("stft/forward_2048/new");
        fs::create_dir_all(&bench)?;
        fs::write(
            bench.join("benchmark.json"),
            r#"{"group_id":"stft","function_id":"forward_2048","value_str":null,"throughput":null,"full_id":"stft/forward_2048","directory_name":"stft/forward_2048","title":"stft/forward_2048"}"#,
        )?;
        fs::write(
            bench.join("estimates.json"),
            r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":45200.0,"standard_error":1.0},"median":{"point_estimate":1.0}}"#,
        )?;
        // An older baseline folder is not this run's figure.
        fs::create_dir_all(dir.path().join("stft/forward_2048/base"))?;
        let figures = criterion_figures(dir.path(), before)?;
        assert_eq!(figures, [("stft/forward_2048".to_owned(), 45200.0)]);
        assert!(
            criterion_figures(
                dir.path(),
                SystemTime::now() + std::time::Duration::from_secs(60)
            )?
            .is_empty()
        );
        assert_eq!(format_nanoseconds(45200.0), "45.20 µs");
        Ok(())
    }
}
