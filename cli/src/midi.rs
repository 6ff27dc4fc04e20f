//! `mixsmith midi IN -o OUT.mid`: audio to MIDI with the basic-pitch model.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mixsmith_core::transcribe::{
    DEFAULT_BPM, Note, NoteSettings, find_model, model_search, open_model,
    transcribe_file_with_tempo, write_midi,
};
use serde::Serialize;

/// Arguments of `mixsmith midi`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The audio file (WAV, FLAC, MP3, OGG/Vorbis or AIFF; any sample rate and channel count).
    pub input: PathBuf,
    /// Where to write the standard MIDI file.
    #[arg(long, short = 'o')]
    pub output: PathBuf,
    /// Minimum onset activation for a note to start (0–1; lower finds more notes).
    #[arg(long, default_value_t = 0.5)]
    pub onset_threshold: f64,
    /// Minimum note activation for a note to continue (0–1; lower makes notes longer).
    #[arg(long, default_value_t = 0.3)]
    pub frame_threshold: f64,
    /// Shortest note kept, in milliseconds.
    #[arg(long, default_value_t = 127.0)]
    pub min_note_ms: f64,
    /// Do not estimate pitch bends.
    #[arg(long)]
    pub no_pitch_bends: bool,
    /// The folder holding `nmp.onnx` (default: the data folder's `models/basic-pitch`, then
    /// beside the binary, then the source tree's `vendor/`).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Print the notes as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// The `--json` report.
#[derive(Debug, Serialize)]
struct Report<'a> {
    /// The MIDI file written.
    midi: &'a Path,
    /// The tempo written into it.
    tempo_bpm: f64,
    duration_s: f64,
    sample_rate: u32,
    channels: usize,
    notes: &'a [Note],
}

/// Runs the command: transcribes the input and writes the MIDI file.
pub fn run(args: &Args) -> Result<()> {
    let settings = NoteSettings {
        onset_threshold: args.onset_threshold,
        frame_threshold: args.frame_threshold,
        min_note_ms: args.min_note_ms,
        pitch_bends: !args.no_pitch_bends,
    };
    settings.validate()?;
    let pack = find_model(&model_search(args.model.as_deref()))?;
    let model = open_model(&pack)?;
    let bar = ProgressBar::hidden();
    let transcription =
        transcribe_file_with_tempo(&args.input, &model, &settings, |done, total| {
            if bar.is_hidden() && total > 20 {
                bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} windows")
                        .expect("valid template"),
                );
                bar.set_message("transcribing");
            }
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        });
    bar.finish_and_clear();
    let (transcription, tempo) = transcription?;
    // The file's own tempo puts the notes on the DAW's grid; without a steady beat, 120 BPM.
    let tempo_bpm = tempo.unwrap_or(DEFAULT_BPM);
    write_midi(&args.output, &transcription.notes, tempo_bpm)
        .with_context(|| format!("writing {}", args.output.display()))?;
    if args.json {
        let report = Report {
            midi: &args.output,
            tempo_bpm,
            duration_s: transcription.duration_s,
            sample_rate: transcription.sample_rate,
            channels: transcription.channels,
            notes: &transcription.notes,
        };
        println!("{}", serde_json::to_string(&report)?);
    } else {
        eprintln!(
            "{}: {} notes, {:.1} s, written to {} at {tempo_bpm:.1} BPM",
            args.input.display(),
            transcription.notes.len(),
            transcription.duration_s,
            args.output.display()
        );
    }
    Ok(())
}
