//! `mixsmith voice clone REF... -o VOICE.json`: learn a voice profile from reference clips.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use mixsmith_core::audio::AudioReader;
use mixsmith_core::voice::ProfileBuilder;

use super::write_atomically;
use crate::progress::frames_bar;

/// Arguments of `mixsmith voice clone`.
#[derive(Debug, clap::Args)]
pub struct CloneArgs {
    /// Reference clips of the voice to learn (WAV, FLAC, MP3, OGG/Vorbis or AIFF; any rate of
    /// 8 kHz or more, channels mixed to mono): dry speech or singing, 10 s to 10 min in all.
    #[arg(required = true)]
    pub references: Vec<PathBuf>,
    /// Where to write the profile (JSON; replaced only once complete).
    #[arg(long, short = 'o')]
    pub output: PathBuf,
}

/// Runs `voice clone`: analyses every reference, writes the profile, prints its summary and
/// warnings.
pub fn run(args: &CloneArgs) -> Result<()> {
    let mut builder = ProfileBuilder::new();
    for path in &args.references {
        let reader = AudioReader::open(path)?;
        let spec = reader.spec().clone();
        let buffer = reader.read_all()?;
        let frames = buffer.frames();
        let gain = 1.0 / buffer.num_channels() as f32;
        let mut mono = vec![0.0f32; frames];
        for channel in buffer.channels() {
            for (m, &x) in mono.iter_mut().zip(channel) {
                *m += x * gain;
            }
        }
        let label = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let bar = frames_bar(&label, Some(frames as u64), spec.sample_rate);
        let added = builder.add_clip(&mono, spec.sample_rate as f32, &mut |p| {
            bar.set_position((p * frames as f64) as u64)
        });
        bar.finish_and_clear();
        added.map_err(|e| anyhow!("{}: {e}", path.display()))?;
    }
    let names = args
        .references
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let profile = builder.finish().map_err(|e| anyhow!("{names}: {e}"))?;
    write_atomically(&args.output, |out| writeln!(out, "{}", profile.to_json()))?;
    print!("{}", profile.summary());
    println!("{:<12}{}", "Profile", args.output.display());
    for warning in &profile.warnings {
        eprintln!("warning: {names}: {warning}");
    }
    Ok(())
}
