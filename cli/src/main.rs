//! `mixsmith`: batch analysis and processing of audio files from a terminal.
//!
//! One module per subcommand; each has an `Args` struct (clap derive) and a `run` function.
//! Errors print as one line, `error: <file>: <problem>`, with exit code 1; usage errors exit
//! with clap's code 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod analyze;
mod cloud;
mod generate;
mod hanolab;
mod jobs;
mod master;
mod midi;
mod models;
mod musicapi;
mod progress;
mod separate;
mod voice;

/// Mixsmith: music AI tools for producers, from the command line.
#[derive(Debug, Parser)]
#[command(name = "mixsmith", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure loudness (LUFS, LRA) and peaks (true peak, sample peak) of an audio file.
    Analyze(analyze::Args),
    /// Master a mix towards a reference: match tone (EQ), width and loudness, true-peak limit.
    Master(master::Args),
    /// Transcribe audio to a MIDI file with the basic-pitch model (notes, onsets, pitch bends).
    Midi(midi::Args),
    /// Split mixes into stems (vocals, drums, bass, other), or one stem and the rest.
    Separate(separate::Args),
    /// Voice tools: `voice pitch IN` tracks the fundamental (F0) of a voice, `voice clone`
    /// learns a voice profile, `voice convert` moves a voice towards one.
    Voice(voice::Args),
    /// Manage model packs (`models add FILE.onnx ...`).
    Models(models::Args),
    /// Generate music with a cloud provider (hanolab, musicapi, suno, minimax).
    Generate(Box<generate::Args>),
    /// List, resume or cancel stored cloud jobs.
    Jobs(jobs::Args),
    /// HanoLab voice and toolkit operations (cloud).
    Hanolab(hanolab::Args),
    /// MusicAPI operations: extend, cover, concat, upload, persona, lyrics, bpm, stems, ...
    Musicapi(musicapi::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Analyze(args) => analyze::run(&args),
        Command::Master(args) => master::run(&args),
        Command::Midi(args) => midi::run(&args),
        Command::Separate(args) => separate::run(&args),
        Command::Voice(args) => voice::run(&args),
        Command::Models(args) => models::run(&args),
        Command::Generate(args) => generate::run(&args),
        Command::Jobs(args) => jobs::run(&args),
        Command::Hanolab(args) => hanolab::run(&args),
        Command::Musicapi(args) => musicapi::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line, whatever the error: join any embedded newlines.
            let msg = err.to_string().replace('\n', " ");
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}
