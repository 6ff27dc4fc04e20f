//! `mixsmith generate`: text or lyrics to music with a cloud provider.

use std::path::PathBuf;

use anyhow::Result;
use mixsmith_core::client::{GenerateRequest, JobRequest, ProviderKind, Purpose, Reference};

use crate::cloud::{self, CloudOpts};

/// Arguments of `mixsmith generate`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Provider: hanolab, musicapi, suno or minimax.
    #[arg(long, short = 'p')]
    pub provider: ProviderKind,
    /// Description of the music (description mode; HanoLab's prompt).
    #[arg(long)]
    pub prompt: Option<String>,
    /// File with the lyrics (custom mode), structure tags such as [Verse] allowed.
    #[arg(long, value_name = "FILE")]
    pub lyrics: Option<PathBuf>,
    /// Style or genre tags.
    #[arg(long)]
    pub style: Option<String>,
    /// Styles to avoid.
    #[arg(long)]
    pub negative: Option<String>,
    /// Song title.
    #[arg(long)]
    pub title: Option<String>,
    /// No vocals.
    #[arg(long)]
    pub instrumental: bool,
    /// Length in seconds (HanoLab).
    #[arg(long, value_name = "S")]
    pub duration: Option<f64>,
    /// Model (sonic-v5, V4_5ALL, a HanoLab style model id, music-01, ...).
    #[arg(long, value_name = "M")]
    pub model: Option<String>,
    /// Random seed (HanoLab).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Guidance scale (HanoLab).
    #[arg(long)]
    pub guidance: Option<f64>,
    /// Reference recording to upload first (MiniMax; WAV or MP3, 10 s to 10 min).
    #[arg(long, value_name = "FILE", requires = "purpose")]
    pub reference: Option<PathBuf>,
    /// What the reference holds: song, voice or instrumental.
    #[arg(long, requires = "reference")]
    pub purpose: Option<Purpose>,
    /// Persona id (Suno custom mode, MusicAPI persona music).
    #[arg(long)]
    pub persona_id: Option<String>,
    /// Preferred vocal gender: m or f.
    #[arg(long)]
    pub vocal_gender: Option<String>,
    /// Style weight, 0.00-1.00.
    #[arg(long)]
    pub style_weight: Option<f64>,
    /// Weirdness constraint, 0.00-1.00.
    #[arg(long)]
    pub weirdness: Option<f64>,
    /// Audio weight, 0.00-1.00.
    #[arg(long)]
    pub audio_weight: Option<f64>,
    /// Completion callback / webhook URL (HTTPS).
    #[arg(long, value_name = "URL")]
    pub callback_url: Option<String>,
    /// Output folder.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub output: PathBuf,
    /// Print the request body that would be sent, and send nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cloud: CloudOpts,
}

impl Args {
    /// The common request.
    pub fn request(&self) -> Result<GenerateRequest> {
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
            duration_s: self.duration,
            model: self.model.clone(),
            seed: self.seed,
            guidance: self.guidance,
            reference: match (&self.reference, self.purpose) {
                (Some(path), Some(purpose)) => Some(Reference {
                    path: path.clone(),
                    purpose,
                }),
                _ => None,
            },
            persona_id: self.persona_id.clone(),
            vocal_gender: self.vocal_gender.clone(),
            style_weight: self.style_weight,
            weirdness: self.weirdness,
            audio_weight: self.audio_weight,
            callback_url: self.callback_url.clone(),
        })
    }
}

/// Runs `mixsmith generate`.
pub fn run(args: &Args) -> Result<()> {
    let request = JobRequest::Generate(args.request()?);
    submit(
        args.provider,
        request,
        &args.output,
        args.dry_run,
        &args.cloud,
    )
}

/// Validates, then prints (dry run) or starts and follows one job.
pub fn submit(
    kind: ProviderKind,
    request: JobRequest,
    output: &std::path::Path,
    dry_run: bool,
    cloud: &CloudOpts,
) -> Result<()> {
    if dry_run {
        let provider = mixsmith_core::client::provider_for(kind);
        let body = provider.request_body(&request)?;
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    let client = cloud.client(kind, None)?;
    let handle = client.start(request, output)?;
    eprintln!(
        "job {} started (resume with `mixsmith jobs resume {}` if interrupted)",
        handle.id(),
        handle.id()
    );
    cloud::follow(vec![handle], cloud.verbose)
}
