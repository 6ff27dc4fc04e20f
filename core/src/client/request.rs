//! The common request and the job requests built on it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{hanolab, musicapi};

/// What the reference audio is, for providers that take one (MiniMax `purpose`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    /// Vocals and accompaniment (gives a voice id and an instrumental id).
    Song,
    /// Sung acapella only (gives a voice id).
    Voice,
    /// Accompaniment only (gives an instrumental id).
    Instrumental,
}

impl Purpose {
    /// The provider's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Song => "song",
            Purpose::Voice => "voice",
            Purpose::Instrumental => "instrumental",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "song" => Ok(Purpose::Song),
            "voice" => Ok(Purpose::Voice),
            "instrumental" => Ok(Purpose::Instrumental),
            _ => Err(format!(
                "unknown purpose `{s}` (expected song, voice or instrumental)"
            )),
        }
    }
}

/// A local reference recording to upload.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    /// The WAV or MP3 file.
    pub path: PathBuf,
    /// What it contains.
    pub purpose: Purpose,
}

/// The provider-independent generation request. Each provider maps the fields it supports to
/// its schema and refuses, naming the field, the ones it cannot honour.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GenerateRequest {
    /// Text description of the music (a description prompt; not lyrics).
    pub prompt: Option<String>,
    /// Lyrics, with structure tags such as `[Verse]` where the provider uses them.
    pub lyrics: Option<String>,
    /// Style or genre tags.
    pub style: Option<String>,
    /// Styles to avoid.
    pub negative: Option<String>,
    /// Title of the song.
    pub title: Option<String>,
    /// No vocals.
    #[serde(default)]
    pub instrumental: bool,
    /// Length in seconds (HanoLab).
    pub duration_s: Option<f64>,
    /// Provider model name (`sonic-v5`, `V4_5ALL`, a HanoLab style model id, ...).
    pub model: Option<String>,
    /// Random seed (HanoLab).
    pub seed: Option<u64>,
    /// Guidance scale (HanoLab).
    pub guidance: Option<f64>,
    /// Reference recording to upload first (MiniMax).
    pub reference: Option<Reference>,
    /// Persona id (Suno custom mode, MusicAPI persona music).
    pub persona_id: Option<String>,
    /// Preferred vocal gender, `m` or `f` (Suno; MusicAPI sonic-v4-5 and later).
    pub vocal_gender: Option<String>,
    /// Style weight, 0.00-1.00 in steps of 0.01.
    pub style_weight: Option<f64>,
    /// Weirdness constraint, 0.00-1.00 in steps of 0.01.
    pub weirdness: Option<f64>,
    /// Audio weight, 0.00-1.00 in steps of 0.01.
    pub audio_weight: Option<f64>,
    /// Completion callback / webhook URL (HTTPS).
    pub callback_url: Option<String>,
}

/// One job for a provider: a generation, or one of a provider's extra operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum JobRequest {
    /// Text/lyrics to music (every provider).
    Generate(GenerateRequest),
    /// A HanoLab voice or toolkit operation.
    Hanolab(hanolab::Operation),
    /// A MusicAPI operation beyond plain creation.
    Musicapi(musicapi::Operation),
}

impl JobRequest {
    /// A short name for file names and listings.
    pub fn label(&self) -> String {
        match self {
            JobRequest::Generate(g) => g
                .title
                .clone()
                .or_else(|| g.prompt.clone())
                .or_else(|| g.style.clone())
                .unwrap_or_else(|| "generated".into()),
            JobRequest::Hanolab(op) => op.name().to_string(),
            JobRequest::Musicapi(op) => op.name().to_string(),
        }
    }

    /// Whether the job's result is a media file (audio or MIDI) rather than only a document
    /// (ids, lyrics, a BPM). A finished task of such a job that names no media file has not
    /// delivered its result.
    pub fn expects_media(&self) -> bool {
        match self {
            JobRequest::Generate(_) => true,
            JobRequest::Hanolab(op) => op.expects_media(),
            JobRequest::Musicapi(op) => op.expects_media(),
        }
    }
}

/// `Some(s)` when `s` has non-blank text.
pub(crate) fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl GenerateRequest {
    /// The names of the fields that are set (as the CLI and this struct name them).
    pub fn present_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut add = |set: bool, name: &'static str| {
            if set {
                out.push(name)
            }
        };
        add(non_empty(&self.prompt).is_some(), "prompt");
        add(non_empty(&self.lyrics).is_some(), "lyrics");
        add(non_empty(&self.style).is_some(), "style");
        add(non_empty(&self.negative).is_some(), "negative");
        add(non_empty(&self.title).is_some(), "title");
        add(self.instrumental, "instrumental");
        add(self.duration_s.is_some(), "duration");
        add(non_empty(&self.model).is_some(), "model");
        add(self.seed.is_some(), "seed");
        add(self.guidance.is_some(), "guidance");
        add(self.reference.is_some(), "reference");
        add(non_empty(&self.persona_id).is_some(), "persona_id");
        add(non_empty(&self.vocal_gender).is_some(), "vocal_gender");
        add(self.style_weight.is_some(), "style_weight");
        add(self.weirdness.is_some(), "weirdness");
        add(self.audio_weight.is_some(), "audio_weight");
        add(non_empty(&self.callback_url).is_some(), "callback_url");
        out
    }
}
