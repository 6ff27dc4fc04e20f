//! `mixsmith hanolab ...`: HanoLab's voice and toolkit operations (inputs are audio URLs).

use std::path::PathBuf;

use anyhow::Result;
use mixsmith_core::client::{JobRequest, ProviderKind, hanolab::Operation};

use crate::cloud::CloudOpts;
use crate::generate::submit;

/// Arguments of `mixsmith hanolab`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub op: Op,
    /// Output folder.
    #[arg(
        long,
        short = 'o',
        value_name = "DIR",
        global = true,
        default_value = "."
    )]
    pub output: PathBuf,
    /// Print the request body that would be sent, and send nothing.
    #[arg(long, global = true)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cloud: CloudOpts,
}

/// HanoLab operations.
#[derive(Debug, clap::Subcommand)]
pub enum Op {
    /// Convert the vocal of an audio file to a voice model (voice/convert).
    VoiceConvert {
        /// HTTPS URL of the input audio.
        #[arg(long)]
        audio_url: String,
        /// Target voice model id.
        #[arg(long)]
        voice_model_id: String,
        /// Pitch shift in semitones.
        #[arg(long, allow_hyphen_values = true)]
        pitch_shift: Option<i32>,
        /// Consonant protection, 0-1 (default 0.33).
        #[arg(long)]
        protect: Option<f64>,
    },
    /// Train a voice model from a reference clip (voice/clone).
    VoiceClone {
        /// HTTPS URL of the reference clip.
        #[arg(long)]
        reference_url: String,
        /// Name of the new model.
        #[arg(long)]
        name: String,
        /// Training epochs (default 100).
        #[arg(long)]
        epochs: Option<u32>,
    },
    /// Separate vocals, drums, bass and other (toolkit/separate).
    Separate {
        /// HTTPS URL of the input audio.
        #[arg(long)]
        audio_url: String,
        /// Stems (comma-separated; default all four).
        #[arg(long, value_delimiter = ',')]
        stems: Vec<String>,
    },
    /// Master a track to a reference (toolkit/master).
    Master {
        /// HTTPS URL of the track to master.
        #[arg(long)]
        target_url: String,
        /// HTTPS URL of the reference.
        #[arg(long)]
        reference_url: String,
    },
}

/// Runs `mixsmith hanolab`.
pub fn run(args: &Args) -> Result<()> {
    let op = match &args.op {
        Op::VoiceConvert {
            audio_url,
            voice_model_id,
            pitch_shift,
            protect,
        } => Operation::VoiceConvert {
            audio_url: audio_url.clone(),
            voice_model_id: voice_model_id.clone(),
            pitch_shift: *pitch_shift,
            protect: *protect,
        },
        Op::VoiceClone {
            reference_url,
            name,
            epochs,
        } => Operation::VoiceClone {
            reference_url: reference_url.clone(),
            name: name.clone(),
            epochs: *epochs,
        },
        Op::Separate { audio_url, stems } => Operation::Separate {
            audio_url: audio_url.clone(),
            stems: stems.clone(),
        },
        Op::Master {
            target_url,
            reference_url,
        } => Operation::Master {
            target_url: target_url.clone(),
            reference_url: reference_url.clone(),
        },
    };
    submit(
        ProviderKind::Hanolab,
        JobRequest::Hanolab(op),
        &args.output,
        args.dry_run,
        &args.cloud,
    )
}
