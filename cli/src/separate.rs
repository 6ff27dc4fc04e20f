//! `mixsmith separate IN... --out DIR [--model PACK]...`: stems (vocals, drums, bass, other) of
//! each input, with the DSP separator or a chain of model packs.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use anyhow::{Result, bail};
use mixsmith_core::audio::SampleFormat;
use mixsmith_core::inference::{MANIFEST_FILE, ModelPack, scan_packs, user_models_dir};
use mixsmith_core::separate::{
    PackSeparator, SeparateError, SeparateSummary, Stem, StemLayout, separate_file,
    separate_file_with,
};
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
    /// Separate with a model pack (`mdx` or `demucs-onnx`) instead of the DSP separator: a pack
    /// folder, or the name of one in the data folder's `models/` (see `mixsmith models add`).
    /// Repeat to chain packs: each works on what the ones before left of the mix; stems no pack
    /// gives come from the DSP separator.
    #[arg(long, value_name = "PACK")]
    pub model: Vec<PathBuf>,
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
    let packs = if args.model.is_empty() {
        None
    } else {
        let packs = args
            .model
            .iter()
            .map(|m| find_pack(m))
            .collect::<Result<Vec<_>>>()?;
        Some(PackSeparator::load(&packs)?)
    };
    let cancel = AtomicBool::new(false);
    let mut report = Vec::new();
    for (input, folder) in args.inputs.iter().zip(&folders) {
        let started = Instant::now();
        let mut bar = None;
        let mut progress = |done, total, rate| {
            let bar = bar.get_or_insert_with(|| frames_bar("separating", total, rate));
            bar.set_position(done);
        };
        let summary = match &packs {
            None => separate_file(input, folder, layout, format, &cancel, &mut progress),
            Some(packs) => {
                separate_file_with(input, folder, layout, format, packs, &cancel, &mut progress)
            }
        };
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

/// The pack `model` names: a folder holding a manifest, else the pack of that folder or
/// manifest name in the data folder's `models/`.
pub(crate) fn find_pack(model: &Path) -> Result<ModelPack> {
    if model.join(MANIFEST_FILE).is_file() {
        return Ok(ModelPack::load(model)?);
    }
    let name = model.to_string_lossy();
    let installed = user_models_dir()
        .map(|d| scan_packs(&d))
        .unwrap_or_default();
    for (dir, pack) in installed {
        let by_folder = dir.file_name().is_some_and(|f| f == model.as_os_str());
        let by_name = pack.as_ref().is_ok_and(|p| p.manifest().name == name);
        if by_folder || by_name {
            return Ok(pack?);
        }
    }
    bail!(
        "{}: not a model pack folder (no {MANIFEST_FILE}) nor the name of one in {}",
        model.display(),
        user_models_dir().map_or_else(|| "the data folder".to_owned(), |d| d.display().to_string())
    )
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
