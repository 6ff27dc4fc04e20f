//! `mixsmith-host`: a minimal command-line CLAP host for Mixsmith.
//!
//! `mixsmith-host render --plugin PATH.clap --input IN.wav --output OUT.wav [--offline]
//! [--block 512] [--param id=plain ...]` renders a WAV through the plugin, compensating its
//! latency so OUT lines up with IN, writes 32-bit float, and prints a one-line JSON summary.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mixsmith_tests::render::{RenderOptions, parse_param, render};

/// A minimal CLAP host for Mixsmith.
#[derive(Parser)]
#[command(name = "mixsmith-host", version)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Render a WAV file through the plugin (latency-compensated, 32-bit float output).
    Render {
        /// The plugin (.clap file). Default: Mixsmith.clap in $MIXSMITH_BUNDLE_DIR or
        /// target/bundled.
        #[arg(long)]
        plugin: Option<PathBuf>,
        /// The input WAV (mono or stereo; 16/24/32-bit integer or 32-bit float).
        #[arg(long)]
        input: PathBuf,
        /// The output WAV (32-bit float, same rate and channels).
        #[arg(long)]
        output: PathBuf,
        /// Render offline (the plugin waits for its worker) instead of in realtime mode.
        #[arg(long)]
        offline: bool,
        /// Frames per block (the activation's maximum block size).
        #[arg(long, default_value_t = 512)]
        block: usize,
        /// A parameter as id=plain value, e.g. gain=-6 or bypass=on; repeatable.
        #[arg(long = "param", value_parser = parse_param)]
        params: Vec<(String, String)>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Render {
            plugin,
            input,
            output,
            offline,
            block,
            params,
        } => plugin
            .map_or_else(mixsmith_tests::paths::clap_bundle, Ok)
            .and_then(|plugin| {
                render(&RenderOptions {
                    plugin,
                    input,
                    output,
                    offline,
                    block,
                    params,
                })
            }),
    };
    match result {
        Ok(summary) => {
            println!("{}", summary.to_json());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
