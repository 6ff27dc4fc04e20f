//! `mixsmith musicapi ...`: MusicAPI's operations beyond plain creation.

use std::path::PathBuf;

use anyhow::Result;
use mixsmith_core::client::{GenerateRequest, JobRequest, ProviderKind, musicapi::Operation};

use crate::cloud::{self, CloudOpts};
use crate::generate::submit;

/// Arguments of `mixsmith musicapi`.
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

/// Lyrics and style of a continuation, cover or Producer/Nuro creation.
#[derive(Debug, Clone, clap::Args)]
pub struct Song {
    /// Description (description mode).
    #[arg(long)]
    pub prompt: Option<String>,
    /// File with lyrics (custom mode).
    #[arg(long, value_name = "FILE")]
    pub lyrics: Option<PathBuf>,
    /// Style tags.
    #[arg(long)]
    pub style: Option<String>,
    /// Styles to avoid.
    #[arg(long)]
    pub negative: Option<String>,
    /// Title.
    #[arg(long)]
    pub title: Option<String>,
    /// No vocals.
    #[arg(long)]
    pub instrumental: bool,
    /// Model (`mv`): sonic-v3-5, sonic-v4, sonic-v4-5, sonic-v4-5-plus, sonic-v5.
    #[arg(long)]
    pub model: Option<String>,
}

impl Song {
    fn request(&self) -> Result<GenerateRequest> {
        Ok(GenerateRequest {
            prompt: self.prompt.clone(),
            lyrics: match &self.lyrics {
                Some(p) => Some(cloud::read_text(p, "lyrics")?),
                None => None,
            },
            style: self.style.clone(),
            negative: self.negative.clone(),
            title: self.title.clone(),
            instrumental: self.instrumental,
            model: self.model.clone(),
            ..Default::default()
        })
    }
}

/// MusicAPI operations.
#[derive(Debug, clap::Subcommand)]
pub enum Op {
    /// Continue a clip from a time (extend_music).
    Extend {
        /// Clip to continue.
        #[arg(long)]
        clip_id: String,
        /// Where to continue, in seconds.
        #[arg(long)]
        continue_at: f64,
        #[command(flatten)]
        song: Song,
    },
    /// Re-render a clip in a new style (cover_music).
    Cover {
        /// Clip to cover.
        #[arg(long)]
        clip_id: String,
        #[command(flatten)]
        song: Song,
    },
    /// Join an extended clip into the whole song (concat_music).
    Concat {
        /// Last clip of the chain.
        #[arg(long)]
        clip_id: String,
    },
    /// Upload audio from an HTTPS URL.
    Upload {
        /// Audio URL.
        #[arg(long)]
        url: String,
    },
    /// Upload and extend in one request.
    UploadExtend {
        /// Audio URL.
        #[arg(long)]
        url: String,
        /// Where to continue, in seconds.
        #[arg(long)]
        continue_at: f64,
        #[command(flatten)]
        song: Song,
    },
    /// Upload and cover in one request.
    UploadCover {
        /// Audio URL.
        #[arg(long)]
        url: String,
        #[command(flatten)]
        song: Song,
    },
    /// Create a virtual singer from a clip.
    Persona {
        /// Clip.
        #[arg(long)]
        clip_id: String,
        /// Persona name.
        #[arg(long)]
        name: String,
        /// Description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Write lyrics from a description.
    Lyrics {
        /// Description.
        #[arg(long)]
        prompt: String,
    },
    /// BPM of a clip.
    Bpm {
        /// Clip.
        #[arg(long)]
        clip_id: String,
    },
    /// Extract the vocals of a clip.
    Vox {
        /// Clip.
        #[arg(long)]
        clip_id: String,
    },
    /// Enhance style tags.
    UpsampleTags {
        /// Tags.
        #[arg(long)]
        tags: String,
    },
    /// Stem separation (basic: 15 credits; --full: 75 credits).
    Stems {
        /// Clip.
        #[arg(long)]
        clip_id: String,
        /// Full separation.
        #[arg(long)]
        full: bool,
    },
    /// WAV of a clip.
    Wav {
        /// Clip.
        #[arg(long)]
        clip_id: String,
    },
    /// MIDI of a clip.
    Midi {
        /// Clip.
        #[arg(long)]
        clip_id: String,
    },
    /// Lyrics timeline of a clip.
    AlignedLyrics {
        /// Clip.
        #[arg(long)]
        clip_id: String,
    },
    /// Create with the Producer model.
    Producer {
        #[command(flatten)]
        song: Song,
    },
    /// Create with the Nuro model.
    Nuro {
        #[command(flatten)]
        song: Song,
    },
}

/// Runs `mixsmith musicapi`.
pub fn run(args: &Args) -> Result<()> {
    let op = match &args.op {
        Op::Extend {
            clip_id,
            continue_at,
            song,
        } => Operation::Extend {
            clip_id: clip_id.clone(),
            continue_at: *continue_at,
            request: song.request()?,
        },
        Op::Cover { clip_id, song } => Operation::Cover {
            clip_id: clip_id.clone(),
            request: song.request()?,
        },
        Op::Concat { clip_id } => Operation::Concat {
            clip_id: clip_id.clone(),
        },
        Op::Upload { url } => Operation::Upload { url: url.clone() },
        Op::UploadExtend {
            url,
            continue_at,
            song,
        } => Operation::UploadExtend {
            url: url.clone(),
            continue_at: *continue_at,
            request: song.request()?,
        },
        Op::UploadCover { url, song } => Operation::UploadCover {
            url: url.clone(),
            request: song.request()?,
        },
        Op::Persona {
            clip_id,
            name,
            description,
        } => Operation::Persona {
            clip_id: clip_id.clone(),
            name: name.clone(),
            description: description.clone(),
        },
        Op::Lyrics { prompt } => Operation::Lyrics {
            prompt: prompt.clone(),
        },
        Op::Bpm { clip_id } => Operation::Bpm {
            clip_id: clip_id.clone(),
        },
        Op::Vox { clip_id } => Operation::Vox {
            clip_id: clip_id.clone(),
        },
        Op::UpsampleTags { tags } => Operation::UpsampleTags { tags: tags.clone() },
        Op::Stems { clip_id, full } => Operation::Stems {
            clip_id: clip_id.clone(),
            full: *full,
        },
        Op::Wav { clip_id } => Operation::Wav {
            clip_id: clip_id.clone(),
        },
        Op::Midi { clip_id } => Operation::Midi {
            clip_id: clip_id.clone(),
        },
        Op::AlignedLyrics { clip_id } => Operation::AlignedLyrics {
            clip_id: clip_id.clone(),
        },
        Op::Producer { song } => Operation::Producer(song.request()?),
        Op::Nuro { song } => Operation::Nuro(song.request()?),
    };
    submit(
        ProviderKind::Musicapi,
        JobRequest::Musicapi(op),
        &args.output,
        args.dry_run,
        &args.cloud,
    )
}
