//! `mixsmith voice ...`: voice tools. `voice pitch IN [--csv FILE] [--json]` writes the F0 track
//! of a file (one row per frame of about 5 ms) and summarises it.

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use clap::Subcommand;
use mixsmith_core::audio::AudioReader;
use mixsmith_core::voice::{PitchConfig, PitchFrame, PitchTracker};
use serde::Serialize;

mod clone;
mod convert;
mod rvc;

use crate::master::partial_path;
use crate::progress::frames_bar;

/// Arguments of `mixsmith voice`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The voice tool to run.
    #[command(subcommand)]
    pub command: VoiceCommand,
}

/// The subcommands of `mixsmith voice`.
#[derive(Debug, Subcommand)]
pub enum VoiceCommand {
    /// Track the fundamental frequency (F0) of a voice: CSV rows `time_s,f0_hz,voiced_probability`
    /// every ~5 ms (f0_hz 0 where unvoiced), and a summary.
    Pitch(PitchArgs),
    /// Learn a voice from reference clips (speech or singing, 10 s or more): its average
    /// timbre, breathiness and range, as a JSON profile for `voice convert`.
    Clone(clone::CloneArgs),
    /// Move a voice's timbre towards a profile from `voice clone` (or convert it with an RVC v2
    /// model pack, `--model`), keeping its melody, timing and words.
    Convert(convert::ConvertArgs),
}

/// Runs a `mixsmith voice` subcommand.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        VoiceCommand::Pitch(args) => pitch(args),
        VoiceCommand::Clone(args) => clone::run(args),
        VoiceCommand::Convert(args) => convert::run(args),
    }
}

/// Arguments of `mixsmith voice pitch`.
#[derive(Debug, clap::Args)]
pub struct PitchArgs {
    /// The audio file (WAV, FLAC, MP3, OGG/Vorbis or AIFF; any sample rate, channels mixed to
    /// mono).
    pub input: PathBuf,
    /// Write the CSV track to this file (replaced only once complete) instead of stdout; the
    /// summary then goes to stdout.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Print one JSON object on stdout: the summary, and the frames when there is no `--csv`.
    #[arg(long)]
    pub json: bool,
    /// Lowest F0 searched, in Hz (it sets the analysis frame: two of its periods).
    #[arg(long, default_value_t = PitchConfig::default().min_hz)]
    pub min_hz: f32,
    /// Highest F0 searched, in Hz (at most a quarter of the sample rate).
    #[arg(long, default_value_t = PitchConfig::default().max_hz)]
    pub max_hz: f32,
}

/// What `voice pitch` reports about a track.
#[derive(Debug, Serialize)]
struct Summary {
    /// Frames in the track.
    frame_count: usize,
    /// Seconds between frames.
    hop_s: f64,
    duration_s: f64,
    sample_rate: u32,
    channels: usize,
    /// Share (0–1) of the frames that are voiced.
    voiced_share: f64,
    /// Median F0 of the voiced frames in Hz (`null` when none is voiced).
    median_f0_hz: Option<f32>,
    /// The note nearest the median and the distance to it, e.g. `"A3 +12 cents"`.
    median_note: Option<String>,
    /// The 5th and 95th percentiles of the voiced F0 in Hz: the range sung or spoken, without
    /// the odd stray frame.
    range_hz: Option<[f32; 2]>,
    /// NaN or infinite samples in the file, read as 0. Only present in JSON when above 0.
    #[serde(skip_serializing_if = "is_zero")]
    non_finite_samples: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The `--json` object when the frames go with it.
#[derive(Debug, Serialize)]
struct WithFrames<'a> {
    #[serde(flatten)]
    summary: &'a Summary,
    frames: &'a [PitchFrame],
}

/// Runs `voice pitch`.
fn pitch(args: &PitchArgs) -> Result<()> {
    let (frames, summary) = track_file(args)?;
    let table = || {
        format!(
            "{}\n",
            summary_lines(&args.input.display().to_string(), &summary)
        )
    };
    match (&args.csv, args.json) {
        (Some(path), json) => {
            write_atomically(path, |out| write_csv(out, &frames))?;
            if json {
                println!("{}", serde_json::to_string(&summary)?);
            } else {
                print!("{}", table());
            }
        }
        (None, true) => {
            let all = WithFrames {
                summary: &summary,
                frames: &frames,
            };
            println!("{}", serde_json::to_string(&all)?);
        }
        (None, false) => {
            let stdout = std::io::stdout().lock();
            let mut out = BufWriter::new(stdout);
            if let Err(e) = write_csv(&mut out, &frames).and_then(|()| out.flush()) {
                bail!("writing the CSV to stdout: {e}");
            }
            eprint!("{}", table());
        }
    }
    Ok(())
}

/// Decodes the file, mixes it to mono and streams it through the tracker.
fn track_file(args: &PitchArgs) -> Result<(Vec<PitchFrame>, Summary)> {
    let mut reader = AudioReader::open(&args.input)?;
    let spec = reader.spec().clone();
    let rate = spec.sample_rate as f32;
    let config = PitchConfig {
        min_hz: args.min_hz,
        max_hz: args.max_hz,
        ..PitchConfig::default()
    };
    if let Err(e) = config.validate(rate) {
        bail!(
            "{}: {e} ({} Hz audio)",
            args.input.display(),
            spec.sample_rate
        );
    }
    let mut tracker = PitchTracker::new(rate, config);
    let label = args.input.file_name().map_or_else(
        || args.input.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let bar = frames_bar(&label, spec.total_frames, spec.sample_rate);
    let mut frames = Vec::new();
    let mut mono = Vec::new();
    let gain = 1.0 / spec.channels as f32;
    while let Some(block) = reader.next_block()? {
        mono.clear();
        mono.resize(block[0].len(), 0.0);
        for channel in block {
            for (m, &x) in mono.iter_mut().zip(channel) {
                *m += x * gain;
            }
        }
        tracker.process(&mono, &mut |f| frames.push(f));
        bar.set_position(reader.frames_read());
    }
    tracker.finish(&mut |f| frames.push(f));
    bar.finish_and_clear();
    let samples = reader.frames_read();
    if samples == 0 {
        bail!("{}: no audio frames (duration 0)", args.input.display());
    }
    let mut voiced: Vec<f32> = frames
        .iter()
        .map(|f| f.f0_hz)
        .filter(|&f| f > 0.0)
        .collect();
    voiced.sort_by(f32::total_cmp);
    let percentile = |p: f64| voiced[((voiced.len() - 1) as f64 * p).round() as usize];
    let median = (!voiced.is_empty()).then(|| percentile(0.5));
    let summary = Summary {
        frame_count: frames.len(),
        hop_s: tracker.hop_frames() as f64 / f64::from(spec.sample_rate),
        duration_s: samples as f64 / f64::from(spec.sample_rate),
        sample_rate: spec.sample_rate,
        channels: spec.channels,
        voiced_share: voiced.len() as f64 / frames.len() as f64,
        median_f0_hz: median,
        median_note: median.map(note_name),
        range_hz: median.map(|_| [percentile(0.05), percentile(0.95)]),
        non_finite_samples: reader.non_finite_samples(),
    };
    if summary.non_finite_samples > 0 {
        eprintln!(
            "warning: {}: {} NaN or infinite samples were read as 0",
            args.input.display(),
            summary.non_finite_samples
        );
    }
    Ok((frames, summary))
}

/// Writes the CSV header and one row per frame.
fn write_csv(out: &mut impl Write, frames: &[PitchFrame]) -> std::io::Result<()> {
    writeln!(out, "time_s,f0_hz,voiced_probability")?;
    for f in frames {
        writeln!(
            out,
            "{:.6},{:.3},{:.3}",
            f.time, f.f0_hz, f.voiced_probability
        )?;
    }
    Ok(())
}

/// Writes `path` through a hidden partial file beside it, renamed into place once complete, so
/// that `path` is never half-written; the partial file is removed on failure.
fn write_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let partial = partial_path(path);
    let result = (|| {
        let mut out = BufWriter::new(std::fs::File::create(&partial)?);
        write(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&partial, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&partial);
        bail!("{}: cannot write: {e}", path.display());
    }
    Ok(())
}

/// The summary as aligned lines.
fn summary_lines(file: &str, s: &Summary) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<16}{v}");
    };
    row("File", file.to_string());
    row(
        "Frames",
        format!(
            "{} ({:.1} ms apart, {:.3} s)",
            s.frame_count,
            s.hop_s * 1e3,
            s.duration_s
        ),
    );
    row("Voiced", format!("{:.1} %", 100.0 * s.voiced_share));
    match (s.median_f0_hz, &s.median_note, s.range_hz) {
        (Some(median), Some(note), Some([low, high])) => {
            row("Median F0", format!("{median:.1} Hz ({note})"));
            row(
                "Range",
                format!(
                    "{low:.1}–{high:.1} Hz ({} to {}, 5th to 95th percentile)",
                    note_name(low),
                    note_name(high)
                ),
            );
        }
        _ => row("Median F0", "none (no voiced frames)".to_string()),
    }
    out.trim_end().to_string()
}

/// The nearest note to `hz` and the distance to it, e.g. `"A3 +12 cents"` (A4 = 440 Hz).
fn note_name(hz: f32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    let midi = 69.0 + 12.0 * (f64::from(hz) / 440.0).log2();
    let nearest = midi.round();
    let cents = ((midi - nearest) * 100.0).round() as i32;
    let note = nearest as i32;
    let name = NAMES[note.rem_euclid(12) as usize];
    let octave = note.div_euclid(12) - 1;
    format!("{name}{octave} {cents:+} cents")
}
