//! `mixsmith models add FILE.onnx ...`: turns a bare separation model (e.g. a UVR MDX-Net
//! `.onnx`) into a model pack folder: the file and a `manifest.toml` with its SHA-256.
//!
//! The numbers an `mdx` model needs (n_fft, dim_f, dim_t, compensation) are not inside the file
//! and come from the options; there is no table of known files.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mixsmith_core::inference::{MANIFEST_FILE, ModelPack, sha256_file, user_models_dir};
use mixsmith_core::separate::{PackSeparator, SeparateError};

/// Arguments of `mixsmith models`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make a model pack of an ONNX separation model, in the data folder's `models/` (or --out).
    Add(AddArgs),
}

/// The conventions `models add` can describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Convention {
    /// UVR MDX-Net: one stem per model.
    Mdx,
    /// HTDemucs split export: four or six sources.
    DemucsOnnx,
}

/// Arguments of `mixsmith models add`.
#[derive(Debug, clap::Args)]
struct AddArgs {
    /// The `.onnx` model file (copied into the pack).
    file: PathBuf,
    /// The model's I/O convention.
    #[arg(long, value_enum, default_value = "mdx")]
    convention: Convention,
    /// mdx: the stem the model outputs (vocals, drums, bass, other, or instrumental for an
    /// accompaniment model). demucs-onnx: the sources in output order, repeated (default drums,
    /// bass, other, vocals).
    #[arg(long)]
    stem: Vec<String>,
    /// mdx: the STFT size.
    #[arg(long)]
    n_fft: Option<u32>,
    /// mdx: the frequency bins the model takes.
    #[arg(long)]
    dim_f: Option<u32>,
    /// mdx: the STFT frames the model takes.
    #[arg(long)]
    dim_t: Option<u32>,
    /// mdx: the factor the model's output is multiplied by.
    #[arg(long)]
    compensation: Option<f64>,
    /// The pack's name (default: the file name without `.onnx`); also its folder's name.
    #[arg(long)]
    name: Option<String>,
    /// The folder to create the pack folder in (default: the data folder's `models/`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: &Args) -> Result<()> {
    match &args.command {
        Command::Add(add) => run_add(add),
    }
}

fn run_add(args: &AddArgs) -> Result<()> {
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".onnx"))
        .with_context(|| format!("{}: not an .onnx file", args.file.display()))?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| file_name.trim_end_matches(".onnx").to_owned());
    let folder: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let parent = match &args.out {
        Some(out) => out.clone(),
        None => user_models_dir().context("no data folder to install the pack into: use --out")?,
    };
    let folder = folder.trim_start_matches('.');
    let dir = parent.join(folder);
    if dir.exists() {
        bail!("{}: already exists", dir.display());
    }
    let head = manifest_head(args, &name)?;
    let sha = sha256_file(&args.file)?;
    // Built beside its final place and renamed into it once complete.
    std::fs::create_dir_all(&parent).with_context(|| parent.display().to_string())?;
    let partial = parent.join(format!(".{folder}.mixsmith-partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let written = (|| -> Result<()> {
        std::fs::create_dir_all(&partial)?;
        std::fs::copy(&args.file, partial.join(&file_name))
            .with_context(|| args.file.display().to_string())?;
        std::fs::write(
            partial.join(MANIFEST_FILE),
            format!(
                "{head}\n[[files]]\npath = {}\nsha256 = \"{sha}\"\n",
                toml_string(&file_name)
            ),
        )?;
        ModelPack::load(&partial)?;
        std::fs::rename(&partial, &dir).with_context(|| dir.display().to_string())?;
        Ok(())
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    // Open the graph to check it against the manifest when ONNX Runtime is there.
    let pack = ModelPack::load(&dir)?;
    match PackSeparator::load(&[pack]) {
        Ok(_) => {}
        Err(SeparateError::Model(e)) if e.is_runtime_unavailable() => {
            eprintln!("warning: the graph was not checked: {e}");
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e.into());
        }
    }
    println!("{}", dir.display());
    Ok(())
}

/// The manifest's fields before `[[files]]`.
fn manifest_head(args: &AddArgs, name: &str) -> Result<String> {
    let mut head = format!(
        "name = {}\ntask = \"separate\"\nsample_rate = 44100\n",
        toml_string(name)
    );
    match args.convention {
        Convention::Mdx => {
            let stem = match &args.stem[..] {
                [stem] => stem,
                _ => bail!("an mdx model needs exactly one --stem (e.g. vocals or instrumental)"),
            };
            let (Some(n_fft), Some(dim_f), Some(dim_t)) = (args.n_fft, args.dim_f, args.dim_t)
            else {
                bail!(
                    "an mdx model needs --n-fft, --dim-f and --dim-t (UVR lists them per model; \
                     e.g. --n-fft 6144 --dim-f 2048 --dim-t 256)"
                );
            };
            head += &format!(
                "convention = \"mdx\"\nstems = [{}]\n[params]\nn_fft = {n_fft}\ndim_f = {dim_f}\n\
                 dim_t = {dim_t}\ncompensation = {:?}\n",
                toml_string(stem),
                args.compensation.unwrap_or(1.0)
            );
        }
        Convention::DemucsOnnx => {
            if args.n_fft.is_some() || args.dim_f.is_some() || args.dim_t.is_some() {
                bail!("--n-fft, --dim-f and --dim-t are for mdx models");
            }
            let stems: Vec<String> = if args.stem.is_empty() {
                ["drums", "bass", "other", "vocals"]
                    .map(String::from)
                    .to_vec()
            } else {
                args.stem.clone()
            };
            let list: Vec<String> = stems.iter().map(|s| toml_string(s)).collect();
            head += &format!(
                "convention = \"demucs-onnx\"\nstems = [{}]\n",
                list.join(", ")
            );
        }
    }
    Ok(head)
}

/// `s` as a TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
