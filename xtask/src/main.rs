//! Mixsmith developer tasks, run as `cargo xtask <command>`: set-up, bundling, installation, the CI
//! test run, a demo and benchmarks. Every path is computed from the workspace root.

mod bench;
mod bundle;
mod clap_validator;
mod demo;
mod fetch;
mod install;
mod models;
mod setup;
mod test;
mod util;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// Mixsmith developer tasks.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", about = "Mixsmith developer tasks")]
struct Cli {
    /// The task to run.
    #[command(subcommand)]
    command: Task,
}

/// The tasks.
#[derive(Debug, Subcommand)]
enum Task {
    /// Install missing system packages (as root, with apt-get) and fetch the ONNX Runtime library
    /// and the basic-pitch model from their PyPI wheels into vendor/. Quick when nothing is missing.
    Setup,
    /// Build the plugin and bundle it as target/bundled/Mixsmith.clap and Mixsmith.vst3 with the
    /// ONNX Runtime library beside the plugin binary. Extra arguments go to `cargo build`
    /// (e.g. `--features standalone`).
    Bundle {
        /// Bundle a debug build into target/test-bundles/ instead (what `test` uses).
        #[arg(long)]
        debug: bool,
        /// Extra `cargo build` arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// Bundle a release build and copy it to ~/.vst3/ and ~/.clap/Mixsmith/.
    Install {
        /// Extra `cargo build` arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        cargo_args: Vec<String>,
    },
    /// What CI runs: setup, fmt check, debug test bundles, all tests, clap-validator's suite and
    /// fuzzer, clippy -D warnings.
    Test,
    /// Build everything, generate a clip, render it through the plugin and analyze it.
    Demo,
    /// Run the engine benchmarks and measure bundle sizes (and clean build times).
    Bench {
        /// Also time clean debug and release builds of the plugin (about 15 minutes).
        #[arg(long)]
        build_times: bool,
    },
    /// Optional model tools (never run by setup, test or CI).
    Models {
        /// What to do.
        #[command(subcommand)]
        command: ModelsTask,
    },
}

/// The `models` tasks.
#[derive(Debug, Subcommand)]
enum ModelsTask {
    /// Export a pitch model from its PyPI wheel to ONNX (makes vendor/export-venv with torch,
    /// about 6 GB, on first use), for a voice pack's `crepe` or `fcpe` F0 graph.
    Export {
        /// Which model.
        #[arg(value_enum)]
        model: models::PitchModel,
        /// Where to write `<model>.onnx` (default vendor/models/pitch/).
        #[arg(long)]
        out: Option<std::path::PathBuf>,
    },
}

/// Runs the task; on failure prints the error with its causes (without a backtrace, which only
/// shows xtask's own frames) and exits with status 1.
fn main() {
    if let Err(error) = run(Cli::parse()) {
        eprintln!("error: {error}");
        for cause in error.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}

/// Dispatches to the task.
fn run(cli: Cli) -> Result<()> {
    let workspace = util::Workspace::locate()?;
    match cli.command {
        Task::Setup => setup::run(&workspace),
        Task::Bundle { debug, cargo_args } => {
            let variant = if debug {
                bundle::Variant::Debug
            } else {
                bundle::Variant::Release
            };
            bundle::bundle(&workspace, variant, &cargo_args).map(drop)
        }
        Task::Install { cargo_args } => install::run(&workspace, &cargo_args),
        Task::Test => test::run(&workspace),
        Task::Demo => demo::run(&workspace),
        Task::Bench { build_times } => bench::run(&workspace, build_times),
        Task::Models {
            command: ModelsTask::Export { model, out },
        } => models::export(&workspace, model, out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_unknown_flags_through_to_cargo() {
        let cli = Cli::try_parse_from(["xtask", "bundle", "--features", "standalone"]).unwrap();
        match cli.command {
            Task::Bundle { debug, cargo_args } => {
                assert!(!debug);
                assert_eq!(cargo_args, ["--features", "standalone"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        let cli = Cli::try_parse_from(["xtask", "bundle", "--debug", "--features", "x"]).unwrap();
        assert!(matches!(cli.command, Task::Bundle { debug: true, .. }));
        assert!(Cli::try_parse_from(["xtask", "frobnicate"]).is_err());
        let cli = Cli::try_parse_from(["xtask", "models", "export", "fcpe", "--out", "d"]).unwrap();
        assert!(matches!(
            cli.command,
            Task::Models {
                command: ModelsTask::Export {
                    model: models::PitchModel::Fcpe,
                    out: Some(_)
                }
            }
        ));
        assert!(Cli::try_parse_from(["xtask", "models", "export", "crepe-huge"]).is_err());
    }
}
