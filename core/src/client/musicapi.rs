//! MusicAPI: Sonic (create / extend / cover / concat and the audio tools), Producer and Nuro.
//!
//! Paths (relative to the base URL): `POST /api/v1/sonic/create` with `task_type`
//! `create_music`, `extend_music`, `cover_music`, `concat_music` or `persona_music`; the tools
//! `/api/v1/sonic/{upload, upload-extend, upload-cover, persona, lyrics, bpm, vox,
//! upsample-tags, stems/basic, stems/full, wav, midi, aligned-lyrics}`; `POST
//! /api/v1/producer/create`, `/api/v1/nuro/create`. Tasks: `GET /api/v1/{sonic|producer|nuro}/
//! task/{task_id}`, states pending / running / succeeded / failed. Errors `{type, error}` with
//! 400, 401, 403 (credits), 404, 429 (standard plan: 1 request per 3 s), 500. HTTPS only.
//!
//! Custom mode (`custom_mode: true`, chosen when lyrics are given) puts the lyrics with their
//! structure tags in `prompt`; description mode puts the description in
//! `gpt_description_prompt`. `mv` is one of [`MODELS`].
//!
//! Undocumented details and how they are read: the tools' request fields follow the create
//! endpoint's names (`clip_id`, `url`, `continue_at`, `prompt`, `tags`, `name`, `description`);
//! an answer with a `task_id` is followed on the Sonic task endpoint, any other answer is the
//! result (kept as JSON, with any audio or MIDI URLs in it downloaded). A task's `data` is a
//! list of clips (or one object); every `*_url` field except images and video is a result.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::error::{ApiErrorKind, ClientError};
use super::hanolab::urlencode;
use super::http::{Http, Req};
use super::jsonx::{f64_at, parse_ok_body, str_at, unshaped_error};
use super::limit::CancelFlag;
use super::provider::{Provider, ProviderKind};
use super::request::{GenerateRequest, JobRequest, non_empty};
use super::rules;
use super::task::{
    Output, OutputKind, OutputSource, RemoteTask, TaskState, TaskStatus, normalize_progress,
};

const KIND: ProviderKind = ProviderKind::Musicapi;

/// The Sonic model versions (`mv`).
pub const MODELS: [&str; 5] = [
    "sonic-v3-5",
    "sonic-v4",
    "sonic-v4-5",
    "sonic-v4-5-plus",
    "sonic-v5",
];

/// The model used when none is given.
pub const DEFAULT_MODEL: &str = "sonic-v4-5";

/// Models that accept `vocal_gender`.
const VOCAL_GENDER_MODELS: [&str; 3] = ["sonic-v4-5", "sonic-v4-5-plus", "sonic-v5"];

/// MusicAPI operations beyond plain creation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// Continue a clip from `continue_at` seconds (`extend_music`).
    Extend {
        /// The clip to continue.
        clip_id: String,
        /// Where to continue, in seconds.
        continue_at: f64,
        /// Lyrics / style of the continuation.
        request: GenerateRequest,
    },
    /// Re-render a clip in a new style (`cover_music`).
    Cover {
        /// The clip to cover.
        clip_id: String,
        /// Lyrics / style of the cover.
        request: GenerateRequest,
    },
    /// Join an extended clip into a whole song (`concat_music`).
    Concat {
        /// The last clip of the chain.
        clip_id: String,
    },
    /// Upload audio from a URL (`sonic/upload`).
    Upload {
        /// The audio URL.
        url: String,
    },
    /// Upload and extend in one request.
    UploadExtend {
        /// The audio URL.
        url: String,
        /// Where to continue, in seconds.
        continue_at: f64,
        /// Lyrics / style of the continuation.
        request: GenerateRequest,
    },
    /// Upload and cover in one request.
    UploadCover {
        /// The audio URL.
        url: String,
        /// Lyrics / style of the cover.
        request: GenerateRequest,
    },
    /// Create a virtual singer from a clip (`sonic/persona`).
    Persona {
        /// The clip.
        clip_id: String,
        /// The persona's name.
        name: String,
        /// A description.
        description: Option<String>,
    },
    /// Generate lyrics from a description (`sonic/lyrics`).
    Lyrics {
        /// The description.
        prompt: String,
    },
    /// BPM of a clip (`sonic/bpm`).
    Bpm {
        /// The clip.
        clip_id: String,
    },
    /// Extract the vocals of a clip (`sonic/vox`).
    Vox {
        /// The clip.
        clip_id: String,
    },
    /// Enhance style tags (`sonic/upsample-tags`).
    UpsampleTags {
        /// The tags.
        tags: String,
    },
    /// Stem separation (`sonic/stems/basic` or `/full`).
    Stems {
        /// The clip.
        clip_id: String,
        /// Full separation (75 credits) instead of basic (15).
        full: bool,
    },
    /// WAV of a clip (`sonic/wav`).
    Wav {
        /// The clip.
        clip_id: String,
    },
    /// MIDI of a clip (`sonic/midi`).
    Midi {
        /// The clip.
        clip_id: String,
    },
    /// Lyrics timeline of a clip (`sonic/aligned-lyrics`).
    AlignedLyrics {
        /// The clip.
        clip_id: String,
    },
    /// Create with the Producer model.
    Producer(GenerateRequest),
    /// Create with the Nuro model.
    Nuro(GenerateRequest),
}

impl Operation {
    /// The operation's name (the CLI subcommand).
    pub fn name(&self) -> &'static str {
        match self {
            Operation::Extend { .. } => "extend",
            Operation::Cover { .. } => "cover",
            Operation::Concat { .. } => "concat",
            Operation::Upload { .. } => "upload",
            Operation::UploadExtend { .. } => "upload-extend",
            Operation::UploadCover { .. } => "upload-cover",
            Operation::Persona { .. } => "persona",
            Operation::Lyrics { .. } => "lyrics",
            Operation::Bpm { .. } => "bpm",
            Operation::Vox { .. } => "vox",
            Operation::UpsampleTags { .. } => "upsample-tags",
            Operation::Stems { full: false, .. } => "stems-basic",
            Operation::Stems { full: true, .. } => "stems-full",
            Operation::Wav { .. } => "wav",
            Operation::Midi { .. } => "midi",
            Operation::AlignedLyrics { .. } => "aligned-lyrics",
            Operation::Producer(_) => "producer",
            Operation::Nuro(_) => "nuro",
        }
    }

    /// Whether the result is a media file (audio or MIDI); uploads, personas, lyrics, BPM, tags
    /// and lyric timelines answer with documents.
    pub fn expects_media(&self) -> bool {
        !matches!(
            self,
            Operation::Upload { .. }
                | Operation::Persona { .. }
                | Operation::Lyrics { .. }
                | Operation::Bpm { .. }
                | Operation::UpsampleTags { .. }
                | Operation::AlignedLyrics { .. }
        )
    }
}

/// The MusicAPI provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct MusicApi;

const CREATE_FIELDS: [&str; 13] = [
    "prompt",
    "lyrics",
    "style",
    "negative",
    "title",
    "instrumental",
    "model",
    "persona_id",
    "vocal_gender",
    "style_weight",
    "weirdness",
    "audio_weight",
    "callback_url",
];

/// Maps the common request to the create schema. `sonic`: validate `mv` against [`MODELS`];
/// `needs_text`: creation from nothing needs lyrics or a description.
fn create_fields(
    g: &GenerateRequest,
    sonic: bool,
    needs_text: bool,
) -> Result<Map<String, Value>, ClientError> {
    rules::only_fields(KIND, g, &CREATE_FIELDS)?;
    let mut m = Map::new();
    let lyrics = non_empty(&g.lyrics);
    let description = non_empty(&g.prompt);
    if lyrics.is_some() && description.is_some() {
        return Err(ClientError::invalid(
            KIND,
            "prompt",
            "custom mode (lyrics given) takes the lyrics as `prompt`; give either lyrics or a \
             description, and put the style in `tags` (--style)",
        ));
    }
    let custom = lyrics.is_some() || (g.instrumental && description.is_none());
    m.insert("custom_mode".into(), json!(custom));
    if custom {
        if let Some(l) = lyrics {
            m.insert("prompt".into(), json!(l));
        } else if needs_text && non_empty(&g.style).is_none() {
            return Err(ClientError::invalid(
                KIND,
                "tags",
                "an instrumental in custom mode needs style tags (--style)",
            ));
        }
    } else if let Some(d) = description {
        m.insert("gpt_description_prompt".into(), json!(d));
    } else if needs_text {
        return Err(ClientError::invalid(
            KIND,
            "gpt_description_prompt",
            "required: give lyrics (custom mode) or a description prompt",
        ));
    }
    let mv = non_empty(&g.model).unwrap_or(DEFAULT_MODEL);
    if sonic {
        rules::one_of(KIND, "mv", Some(mv), &MODELS)?;
    }
    m.insert("mv".into(), json!(mv));
    if let Some(t) = non_empty(&g.title) {
        m.insert("title".into(), json!(t));
    }
    if let Some(t) = non_empty(&g.style) {
        m.insert("tags".into(), json!(t));
    }
    if let Some(t) = non_empty(&g.negative) {
        m.insert("negative_tags".into(), json!(t));
    }
    if g.instrumental {
        m.insert("make_instrumental".into(), json!(true));
    }
    if let Some(vg) = non_empty(&g.vocal_gender) {
        rules::one_of(KIND, "vocal_gender", Some(vg), &["m", "f"])?;
        if sonic && !VOCAL_GENDER_MODELS.contains(&mv) {
            return Err(ClientError::invalid(
                KIND,
                "vocal_gender",
                format!("only for {} (mv is {mv})", VOCAL_GENDER_MODELS.join(", ")),
            ));
        }
        m.insert("vocal_gender".into(), json!(vg));
    }
    for (field, value) in [
        ("style_weight", g.style_weight),
        ("weirdness_constraint", g.weirdness),
        ("audio_weight", g.audio_weight),
    ] {
        rules::weight(KIND, field, value)?;
        if let Some(v) = value {
            m.insert(field.into(), json!(v));
        }
    }
    if let Some(p) = non_empty(&g.persona_id) {
        m.insert("persona_id".into(), json!(p));
    }
    if let Some(u) = non_empty(&g.callback_url) {
        rules::https_url(KIND, "webhook_url", u)?;
        m.insert("webhook_url".into(), json!(u));
    }
    Ok(m)
}

fn clip(field: &str, id: &str) -> Result<Value, ClientError> {
    rules::required(KIND, field, Some(id), "")?;
    Ok(json!(id.trim()))
}

fn continue_at(v: f64) -> Result<Value, ClientError> {
    if !v.is_finite() || v < 0.0 {
        return Err(ClientError::invalid(
            KIND,
            "continue_at",
            format!("{v} is not a non-negative number of seconds"),
        ));
    }
    Ok(if v.fract() == 0.0 {
        json!(v as u64)
    } else {
        json!(v)
    })
}

/// (path, task family, body) of a request.
fn route(req: &JobRequest) -> Result<(&'static str, &'static str, Value), ClientError> {
    let sonic = "sonic";
    Ok(match req {
        JobRequest::Generate(g) => {
            let mut m = create_fields(g, true, true)?;
            let task_type = if m.contains_key("persona_id") {
                "persona_music"
            } else {
                "create_music"
            };
            m.insert("task_type".into(), json!(task_type));
            ("/api/v1/sonic/create", sonic, Value::Object(m))
        }
        JobRequest::Hanolab(op) => {
            return Err(ClientError::invalid(
                KIND,
                "operation",
                format!("`{}` is a HanoLab operation", op.name()),
            ));
        }
        JobRequest::Musicapi(op) => match op {
            Operation::Extend {
                clip_id,
                continue_at: at,
                request,
            } => {
                let mut m = create_fields(request, true, false)?;
                m.insert("task_type".into(), json!("extend_music"));
                m.insert(
                    "continue_clip_id".into(),
                    clip("continue_clip_id", clip_id)?,
                );
                m.insert("continue_at".into(), continue_at(*at)?);
                ("/api/v1/sonic/create", sonic, Value::Object(m))
            }
            Operation::Cover { clip_id, request } => {
                let mut m = create_fields(request, true, false)?;
                m.insert("task_type".into(), json!("cover_music"));
                m.insert(
                    "continue_clip_id".into(),
                    clip("continue_clip_id", clip_id)?,
                );
                ("/api/v1/sonic/create", sonic, Value::Object(m))
            }
            Operation::Concat { clip_id } => (
                "/api/v1/sonic/create",
                sonic,
                json!({"task_type": "concat_music", "continue_clip_id": clip("continue_clip_id", clip_id)?}),
            ),
            Operation::Upload { url } => {
                rules::https_url(KIND, "url", url)?;
                ("/api/v1/sonic/upload", sonic, json!({"url": url}))
            }
            Operation::UploadExtend {
                url,
                continue_at: at,
                request,
            } => {
                rules::https_url(KIND, "url", url)?;
                let mut m = create_fields(request, true, false)?;
                m.insert("url".into(), json!(url));
                m.insert("continue_at".into(), continue_at(*at)?);
                ("/api/v1/sonic/upload-extend", sonic, Value::Object(m))
            }
            Operation::UploadCover { url, request } => {
                rules::https_url(KIND, "url", url)?;
                let mut m = create_fields(request, true, false)?;
                m.insert("url".into(), json!(url));
                ("/api/v1/sonic/upload-cover", sonic, Value::Object(m))
            }
            Operation::Persona {
                clip_id,
                name,
                description,
            } => {
                rules::required(KIND, "name", Some(name), "for a persona")?;
                (
                    "/api/v1/sonic/persona",
                    sonic,
                    json!({"clip_id": clip("clip_id", clip_id)?, "name": name, "description": description}),
                )
            }
            Operation::Lyrics { prompt } => {
                rules::required(KIND, "prompt", Some(prompt), "to write lyrics")?;
                ("/api/v1/sonic/lyrics", sonic, json!({"prompt": prompt}))
            }
            Operation::Bpm { clip_id } => (
                "/api/v1/sonic/bpm",
                sonic,
                json!({"clip_id": clip("clip_id", clip_id)?}),
            ),
            Operation::Vox { clip_id } => (
                "/api/v1/sonic/vox",
                sonic,
                json!({"clip_id": clip("clip_id", clip_id)?}),
            ),
            Operation::UpsampleTags { tags } => {
                rules::required(KIND, "tags", Some(tags), "to upsample")?;
                ("/api/v1/sonic/upsample-tags", sonic, json!({"tags": tags}))
            }
            Operation::Stems { clip_id, full } => (
                if *full {
                    "/api/v1/sonic/stems/full"
                } else {
                    "/api/v1/sonic/stems/basic"
                },
                sonic,
                json!({"clip_id": clip("clip_id", clip_id)?}),
            ),
            Operation::Wav { clip_id } => (
                "/api/v1/sonic/wav",
                sonic,
                json!({"clip_id": clip("clip_id", clip_id)?}),
            ),
            Operation::Midi { clip_id } => (
                "/api/v1/sonic/midi",
                sonic,
                json!({"clip_id": clip("clip_id", clip_id)?}),
            ),
            Operation::AlignedLyrics { clip_id } => (
                "/api/v1/sonic/aligned-lyrics",
                sonic,
                json!({"clip_id": clip("clip_id", clip_id)?}),
            ),
            Operation::Producer(g) => {
                let mut m = create_fields(g, false, true)?;
                m.insert("task_type".into(), json!("create_music"));
                ("/api/v1/producer/create", "producer", Value::Object(m))
            }
            Operation::Nuro(g) => {
                let mut m = create_fields(g, false, true)?;
                m.insert("task_type".into(), json!("create_music"));
                ("/api/v1/nuro/create", "nuro", Value::Object(m))
            }
        },
    })
}

fn kind_of(status: u16, code: &str) -> ApiErrorKind {
    match (status, code) {
        (_, "validation_error") => ApiErrorKind::Invalid,
        (_, "unauthorized") => ApiErrorKind::Unauthorized,
        (403, _) | (_, "forbidden") | (_, "insufficient_credits") => ApiErrorKind::Credits,
        (_, "not_found") => ApiErrorKind::NotFound,
        (_, "rate_limit") => ApiErrorKind::RateLimited,
        (_, "server_error") => ApiErrorKind::Server,
        _ => ApiErrorKind::from_status(status),
    }
}

/// Maps an answer: 2xx JSON (with `code` 200 when present), or `{type, error}`.
pub(crate) fn parse(status: u16, body: &[u8]) -> Result<Value, ClientError> {
    if (200..300).contains(&status) {
        let v = parse_ok_body(KIND, "response", body)?;
        if let Some(code) = v.get("code").and_then(Value::as_u64)
            && code != 200
        {
            let code = code as u16;
            let t = str_at(&v, &["/type"]).unwrap_or_else(|| code.to_string());
            return Err(ClientError::Api {
                provider: KIND,
                status: code,
                message: str_at(&v, &["/error", "/message"]).unwrap_or_else(|| t.clone()),
                kind: kind_of(code, &t),
                code: t,
                retry_after: None,
            });
        }
        return Ok(v);
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Err(unshaped_error(KIND, status, body));
    };
    let code = str_at(&v, &["/type", "/code"]).unwrap_or_else(|| format!("http_{status}"));
    let message = str_at(&v, &["/error", "/message"]).unwrap_or_else(|| code.clone());
    Err(ClientError::Api {
        provider: KIND,
        status,
        kind: kind_of(status, &code),
        code,
        message,
        retry_after: None,
    })
}

/// Keys holding URLs that are not results.
const NOT_RESULTS: [&str; 4] = ["image_url", "image_large_url", "video_url", "webhook_url"];

/// The downloadable URLs in one clip or result object.
fn collect_outputs(obj: &Value, fallback_name: &str, out: &mut Vec<Output>) {
    let Some(map) = obj.as_object() else { return };
    let base = str_at(obj, &["/title"])
        .filter(|t| !t.trim().is_empty())
        .map(|t| match str_at(obj, &["/clip_id", "/id"]) {
            Some(id) => {
                let count = id.chars().count();
                format!(
                    "{t}-{}",
                    id.chars().skip(count.saturating_sub(8)).collect::<String>()
                )
            }
            None => t,
        })
        .or_else(|| str_at(obj, &["/clip_id", "/id"]))
        .unwrap_or_else(|| fallback_name.to_string());
    for (key, value) in map {
        let Some(url) = value.as_str() else { continue };
        if !key.ends_with("_url") || NOT_RESULTS.contains(&key.as_str()) {
            continue;
        }
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            continue;
        }
        let stem = key.trim_end_matches("_url");
        let lower = url.to_ascii_lowercase();
        let kind = if stem.contains("midi") || lower.ends_with(".mid") || lower.ends_with(".midi") {
            OutputKind::Midi
        } else {
            OutputKind::Audio
        };
        let name = if stem == "audio" {
            base.clone()
        } else {
            format!("{base}-{stem}")
        };
        out.push(Output {
            source: OutputSource::Url(url.to_string()),
            name,
            kind,
        });
    }
}

fn clip_state(word: &str) -> Result<TaskState, ClientError> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "pending" | "queued" | "submitted" => TaskState::Queued,
        "running" | "processing" | "streaming" => TaskState::Running,
        "succeeded" | "success" | "complete" | "completed" => TaskState::Succeeded,
        "failed" | "error" => TaskState::Failed,
        other => {
            return Err(ClientError::malformed(
                KIND,
                "task",
                format!("unknown state `{other}`"),
            ));
        }
    })
}

/// Maps a task answer to a status (all clips must succeed).
pub(crate) fn task_status(v: &Value) -> Result<TaskStatus, ClientError> {
    let data = v.get("data").unwrap_or(v);
    let clips: Vec<&Value> = match data {
        Value::Array(a) => a.iter().collect(),
        Value::Object(_) => match data.get("clips").and_then(Value::as_array) {
            Some(a) => a.iter().collect(),
            None => vec![data],
        },
        _ => {
            return Err(ClientError::malformed(
                KIND,
                "task",
                "`data` is neither a list of clips nor an object",
            ));
        }
    };
    if clips.is_empty() {
        return Ok(TaskStatus::new(TaskState::Queued, "pending"));
    }
    let mut states = Vec::new();
    let mut words = Vec::new();
    for c in &clips {
        let w = str_at(c, &["/state", "/status"]).ok_or_else(|| {
            ClientError::malformed(KIND, "task", "a clip has no `state`".to_string())
        })?;
        states.push(clip_state(&w)?);
        words.push(w);
    }
    let state = if states.iter().all(|s| *s == TaskState::Succeeded) {
        TaskState::Succeeded
    } else if states.contains(&TaskState::Failed)
        && !states
            .iter()
            .any(|s| matches!(s, TaskState::Running | TaskState::Queued))
    {
        TaskState::Failed
    } else if states
        .iter()
        .any(|s| matches!(s, TaskState::Running | TaskState::Succeeded))
    {
        TaskState::Running
    } else {
        TaskState::Queued
    };
    let mut st = TaskStatus::new(state, words.join(","));
    let progress: Vec<f32> = clips
        .iter()
        .filter_map(|c| f64_at(c, &["/progress"]).and_then(normalize_progress))
        .collect();
    if !progress.is_empty() {
        st.progress = Some(progress.iter().sum::<f32>() / progress.len() as f32);
    }
    if state == TaskState::Succeeded {
        st.progress = Some(1.0);
        for (i, c) in clips.iter().enumerate() {
            collect_outputs(c, &format!("clip-{}", i + 1), &mut st.outputs);
        }
        let audio = st.outputs.iter().any(|o| o.kind != OutputKind::Json);
        if !audio {
            st.outputs.push(json_output(data));
        }
    }
    if state == TaskState::Failed
        && let Some(c) = clips.iter().find(|c| {
            str_at(c, &["/state", "/status"])
                .is_some_and(|w| clip_state(&w).ok() == Some(TaskState::Failed))
        })
    {
        st.error_code = str_at(c, &["/error_type", "/error_code", "/type"]);
        st.message = str_at(c, &["/error_message", "/error", "/message", "/fail_reason"]);
        let text = format!(
            "{} {}",
            st.error_code.as_deref().unwrap_or(""),
            st.message.as_deref().unwrap_or("")
        )
        .to_ascii_lowercase();
        st.moderation = ["moderat", "sensitive", "policy", "copyright"]
            .iter()
            .any(|w| text.contains(w));
    }
    Ok(st)
}

fn json_output(data: &Value) -> Output {
    Output {
        source: OutputSource::Text(serde_json::to_string_pretty(data).unwrap_or_default()),
        name: "result".into(),
        kind: OutputKind::Json,
    }
}

impl Provider for MusicApi {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn validate(&self, req: &JobRequest) -> Result<(), ClientError> {
        route(req).map(|_| ())
    }

    fn request_body(&self, req: &JobRequest) -> Result<Value, ClientError> {
        route(req).map(|(_, _, b)| b)
    }

    fn submit(
        &self,
        http: &Http,
        req: &JobRequest,
        cancel: &CancelFlag,
    ) -> Result<RemoteTask, ClientError> {
        let (path, family, body) = route(req)?;
        let v = http.json(&Req::post_json(http.url(path), body), cancel, &parse)?;
        if let Some(id) = str_at(&v, &["/task_id", "/data/task_id"]) {
            return Ok(RemoteTask {
                id,
                family: family.to_string(),
                immediate: None,
            });
        }
        // A tool that answers at once (upload, persona, bpm, lyrics, ...).
        let data = v.get("data").cloned().unwrap_or_else(|| v.clone());
        let mut st = TaskStatus::new(TaskState::Succeeded, "immediate");
        st.progress = Some(1.0);
        let name = match req {
            JobRequest::Musicapi(op) => op.name(),
            _ => "result",
        };
        match &data {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    collect_outputs(item, &format!("{name}-{}", i + 1), &mut st.outputs);
                }
            }
            other => collect_outputs(other, name, &mut st.outputs),
        }
        let mut j = json_output(&data);
        j.name = name.to_string();
        st.outputs.push(j);
        Ok(RemoteTask {
            id: str_at(&data, &["/clip_id", "/persona_id", "/id"])
                .unwrap_or_else(|| "immediate".into()),
            family: family.to_string(),
            immediate: Some(st),
        })
    }

    fn status(
        &self,
        http: &Http,
        task: &RemoteTask,
        cancel: &CancelFlag,
    ) -> Result<TaskStatus, ClientError> {
        if let Some(st) = &task.immediate {
            return Ok(st.clone());
        }
        let family = if task.family.is_empty() {
            "sonic"
        } else {
            task.family.as_str()
        };
        let url = http.url(&format!("/api/v1/{family}/task/{}", urlencode(&task.id)));
        let v = http.json(&Req::get(url), cancel, &parse)?;
        task_status(&v)
    }
}
