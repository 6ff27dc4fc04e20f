//! `mixsmith voice convert IN --model PACK -o OUT [--transpose N]`: convert a voice with an RVC v2
//! model pack (ContentVec + synthesizer), each channel on its own.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};
use mixsmith_core::audio::{SampleFormat, WavWriter, read_file};
use mixsmith_core::voice::rvc::RvcChannel;
use mixsmith_core::voice::{ConvertSettings, RvcConverter, RvcSettings};

use super::convert::{ConvertArgs, Transpose};
use crate::master::partial_path;
use crate::progress::frames_bar;
use crate::separate::find_pack;

/// Runs `voice convert` with the pack `model` (a folder, or the name of an installed pack).
pub fn run(args: &ConvertArgs, model: &Path) -> Result<()> {
    let defaults = ConvertSettings::default();
    for (flag, given, default) in [
        ("--formant", args.formant, defaults.formant_semitones),
        ("--protect", args.protect, defaults.protect),
        ("--amount", args.amount, 100.0),
    ] {
        if given != default {
            bail!(
                "{flag} applies to the DSP converter (--voice), not to an RVC pack (--model); \
                 RVC's protect only matters with a feature index, and packs have none"
            );
        }
    }
    let settings = RvcSettings {
        transpose: match args.transpose {
            Transpose::Semitones(st) => st,
            Transpose::Auto => bail!(
                "--transpose auto needs a voice profile's range (--voice); give a number of \
                 semitones with --model"
            ),
        },
        ..RvcSettings::default()
    };
    let pack = find_pack(model)?;
    let converter = RvcConverter::load(&pack)?;
    let audio = read_file(&args.input)?;
    let (rate, frames) = (audio.sample_rate(), audio.frames());
    if frames == 0 {
        bail!("{}: no audio frames (duration 0)", args.input.display());
    }
    let bar = frames_bar("converting", Some(frames as u64), rate);
    let mut progress = |done: usize, total: usize| {
        bar.set_position((done * frames / total) as u64);
    };
    let converted = converter
        .convert(
            audio.channels(),
            rate,
            &settings,
            &mut progress,
            &AtomicBool::new(false),
        )
        .with_context(|| {
            format!(
                "{}: converting with {}",
                args.input.display(),
                model.display()
            )
        })?;
    bar.finish_and_clear();
    let format = if args.float {
        SampleFormat::Float32
    } else {
        SampleFormat::Int24
    };
    let partial = partial_path(&args.output);
    let written = (|| -> Result<u64> {
        let mut writer = WavWriter::create(&partial, rate, converted.len(), format)?;
        writer.write_planar(&converted)?;
        let clipped = writer.clipped_samples();
        writer.finalize()?;
        std::fs::rename(&partial, &args.output)
            .with_context(|| format!("{}: cannot write", args.output.display()))?;
        Ok(clipped)
    })();
    let clipped = match written {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    if clipped > 0 {
        eprintln!(
            "warning: {}: {clipped} samples clipped at full scale (use --float, or lower the input)",
            args.output.display()
        );
    }
    println!(
        "{}: {:.1} s, {} channel(s) at {} Hz, RVC pack `{}` (synthesizer at {} Hz, {} window(s) \
         per channel; streamed, as in the plugin, its output comes {:.2} s later plus the \
         worker's margin)",
        args.output.display(),
        frames as f64 / f64::from(rate),
        converted.len(),
        rate,
        pack.manifest().name,
        converter.sample_rate(),
        RvcConverter::windows(frames, rate),
        RvcChannel::latency_frames(&converter, rate)? as f64 / f64::from(rate)
    );
    Ok(())
}
