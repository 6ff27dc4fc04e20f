//! `mixsmith models add FILE.onnx ...`: turns a bare separation model (e.g. a UVR MDX-Net
//! `.onnx`) into a model pack folder: the file and a `manifest.toml` with its SHA-256.
//!
//! The numbers an `mdx` model needs (stem, n_fft, dim_f, dim_t, compensation) are not inside the
//! file. For the UVR MDX-Net models in `models/known/uvr-mdx-net.toml`, recognised by UVR's hash
//! of the file, they come from that table; otherwise, or to override it, from the options.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use mixsmith_core::inference::{MANIFEST_FILE, ModelPack, sha256_file, user_models_dir};
use mixsmith_core::separate::{
    KnownMdxModel, PackSeparator, SeparateError, known_mdx_model, uvr_model_hash,
};

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
    let known = match args.convention {
        Convention::Mdx => {
            let hash = uvr_model_hash(&args.file)?;
            let known = known_mdx_model(&hash);
            match &known {
                Some(model) => eprintln!(
                    "recognised a UVR MDX-Net model (UVR hash {hash}): {}{}, n_fft {}, dim_f {}, \
                     dim_t {}, compensation {}",
                    model.stem,
                    if model.karaoke { " (karaoke)" } else { "" },
                    model.n_fft,
                    model.dim_f,
                    model.dim_t,
                    model.compensation
                ),
                None => eprintln!("not a known UVR MDX-Net model (UVR hash {hash})"),
            }
            known
        }
        Convention::DemucsOnnx => None,
    };
    let head = manifest_head(args, &name, known.as_ref())?;
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

/// The manifest's fields before `[[files]]`; `known` is the table's entry for an `mdx` file, whose
/// numbers the options override.
fn manifest_head(args: &AddArgs, name: &str, known: Option<&KnownMdxModel>) -> Result<String> {
    let mut head = format!(
        "name = {}\ntask = \"separate\"\nsample_rate = 44100\n",
        toml_string(name)
    );
    match args.convention {
        Convention::Mdx => {
            let stem = match (&args.stem[..], known) {
                ([stem], _) => stem.clone(),
                ([], Some(model)) => model.stem.clone(),
                _ => bail!("an mdx model needs exactly one --stem (e.g. vocals or instrumental)"),
            };
            let n_fft = args.n_fft.or(known.map(|m| m.n_fft));
            let dim_f = args.dim_f.or(known.map(|m| m.dim_f));
            let dim_t = args.dim_t.or(known.map(|m| m.dim_t));
            let (Some(n_fft), Some(dim_f), Some(dim_t)) = (n_fft, dim_f, dim_t) else {
                bail!(
                    "{} is not a UVR MDX-Net model Mixsmith knows: give --stem, --n-fft, --dim-f, \
                     --dim-t and --compensation (UVR lists them per model; e.g. --n-fft 6144 \
                     --dim-f 2048 --dim-t 256)",
                    args.file.display()
                );
            };
            let compensation = args
                .compensation
                .or(known.map(|m| m.compensation))
                .unwrap_or(1.0);
            if let Some(model) = known.filter(|m| m.karaoke) {
                head += &format!(
                    "description = {}\n",
                    toml_string(&format!(
                        "UVR MDX-Net karaoke model ({}): separates the lead vocal only; backing \
                         vocals count as accompaniment",
                        model.stem
                    ))
                );
            }
            head += &format!(
                "convention = \"mdx\"\nstems = [{}]\n[params]\nn_fft = {n_fft}\ndim_f = {dim_f}\n\
                 dim_t = {dim_t}\ncompensation = {compensation:?}\n",
                toml_string(&stem),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn mdx_args(stem: &[&str], n_fft: Option<u32>) -> AddArgs {
        AddArgs {
            file: PathBuf::from("Kim_Vocal_2.onnx"),
            convention: Convention::Mdx,
            stem: stem.iter().map(|s| s.to_string()).collect(),
            n_fft,
            dim_f: None,
            dim_t: None,
            compensation: None,
            name: None,
            out: None,
        }
    }

    fn parse(head: &str) -> toml::Table {
        head.parse().unwrap()
    }

    #[test]
    fn a_known_model_needs_no_numbers_and_options_override_the_table() {
        let table = mixsmith_core::separate::known_mdx_models();
        let karaoke = table.values().find(|m| m.karaoke).unwrap();
        let manifest = parse(&manifest_head(&mdx_args(&[], None), "k", Some(karaoke)).unwrap());
        let params = manifest["params"].as_table().unwrap();
        assert_eq!(
            manifest["stems"].as_array().unwrap()[0].as_str(),
            Some(&*karaoke.stem)
        );
        assert_eq!(params["n_fft"].as_integer(), Some(karaoke.n_fft.into()));
        assert_eq!(params["dim_f"].as_integer(), Some(karaoke.dim_f.into()));
        assert_eq!(params["dim_t"].as_integer(), Some(karaoke.dim_t.into()));
        assert_eq!(
            params["compensation"].as_float(),
            Some(karaoke.compensation)
        );
        assert!(
            manifest["description"]
                .as_str()
                .unwrap()
                .contains("lead vocal only")
        );

        let overridden = manifest_head(&mdx_args(&["vocals"], Some(4096)), "k", Some(karaoke));
        let params = parse(&overridden.unwrap())["params"].clone();
        assert_eq!(params["n_fft"].as_integer(), Some(4096));
        assert_eq!(params["dim_t"].as_integer(), Some(karaoke.dim_t.into()));
    }

    #[test]
    fn an_unknown_model_without_numbers_is_refused_naming_the_file_and_the_options() {
        let err = manifest_head(&mdx_args(&["vocals"], None), "k", None).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("Kim_Vocal_2.onnx"), "{message}");
        assert!(message.contains("--dim-t"), "{message}");
        let err = manifest_head(&mdx_args(&[], Some(6144)), "k", None).unwrap_err();
        assert!(err.to_string().contains("--stem"), "{err}");
    }
}
