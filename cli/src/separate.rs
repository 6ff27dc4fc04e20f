//! `mixsmith separate IN... --out DIR`: stems (vocals, drums, bass, other) of each input.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Result, bail};
use mixsmith_core::audio::SampleFormat;
use mixsmith_core::separate::{SeparateError, SeparateSummary, Stem, StemLayout, separate_file};
use serde::Serialize;

use crate::progress::frames_bar;

/// Arguments of `mixsmith separate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The mixes to separate (WAV, FLAC, MP3, OGG/Vorbis or AIFF; any sample rate and channel
    /// count).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// The folder to write the stems into (`DIR/vocals.wav`, …); with several inputs, one
    /// sub-folder per input, named after it.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Write one stem and the rest of the mix (e.g. `vocals`: `vocals.wav` and
    /// `no_vocals.wav`) instead of four stems.
    #[arg(long, value_name = "STEM")]
    pub two_stems: Option<Stem>,
    /// Write 32-bit float WAV instead of 24-bit integer.
    #[arg(long)]
    pub float: bool,
    /// Print what was written, and how long it took, as one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// One input's entry in the `--json` report.
#[derive(Debug, Serialize)]
struct Separated<'a> {
    input: &'a Path,
    #[serde(flatten)]
    summary: SeparateSummary,
    seconds: f64,
}

/// Runs the command: separates every input, stopping at the first failure.
pub fn run(args: &Args) -> Result<()> {
    let layout = args.two_stems.map_or(StemLayout::Four, StemLayout::Two);
    let format = if args.float {
        SampleFormat::Float32
    } else {
        SampleFormat::Int24
    };
    let folders = output_folders(&args.inputs, &args.out)?;
    let cancel = AtomicBool::new(false);
    let mut report = Vec::new();
    for (input, folder) in args.inputs.iter().zip(&folders) {
        let started = Instant::now();
        let mut bar = None;
        let summary = separate_file(
            input,
            folder,
            layout,
            format,
            &cancel,
            &mut |done, total, rate| {
                let bar = bar.get_or_insert_with(|| frames_bar("separating", total, rate));
                bar.set_position(done);
            },
        );
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        let summary = summary.map_err(|e| match e {
            // The other errors name their file already.
            SeparateError::Unsupported { .. } | SeparateError::Cancelled => {
                anyhow::anyhow!("{}: {e}", input.display())
            }
            e => e.into(),
        })?;
        if summary.non_finite_samples > 0 {
            eprintln!(
                "warning: {}: NaN or infinite samples were read as 0",
                input.display()
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        if !args.json {
            println!(
                "{}: {} in {seconds:.1} s",
                input.display(),
                summary
                    .files
                    .iter()
                    .map(|f| f.path.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        report.push(Separated {
            input,
            summary,
            seconds,
        });
    }
    if args.json {
        println!("{}", serde_json::json!({ "separated": report }));
    }
    Ok(())
}

/// The folder for each input: `out` itself for one input, `out/<file stem>` for several (two
/// inputs with the same file stem are refused, as one would overwrite the other).
fn output_folders(inputs: &[PathBuf], out: &Path) -> Result<Vec<PathBuf>> {
    if let [_] = inputs {
        return Ok(vec![out.to_path_buf()]);
    }
    let folders: Vec<PathBuf> = inputs
        .iter()
        .map(|input| {
            let name = input
                .file_stem()
                .map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned());
            out.join(name)
        })
        .collect();
    for (i, folder) in folders.iter().enumerate() {
        if folders[..i].contains(folder) {
            bail!(
                "{} and {} would both be written to {}",
                inputs[folders.iter().position(|f| f == folder).unwrap_or(0)].display(),
                inputs[i].display(),
                folder.display()
            );
        }
    }
    Ok(folders)
}
