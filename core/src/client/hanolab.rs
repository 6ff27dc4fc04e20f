//! HanoLab: music generation, voice conversion and cloning, stem separation, mastering.
//!
//! Paths (relative to the base URL): `POST /api/v1/music/generate`, `/api/v1/voice/convert`,
//! `/api/v1/voice/clone`, `/api/v1/toolkit/separate`, `/api/v1/toolkit/master` return a task id;
//! `GET /api/v1/tasks/{id}` until `completed` (or failed), or the SSE stream
//! `GET /api/v1/tasks/{id}/progress`; results in `output_urls`. Errors are
//! `{error, message, status}` (402 `insufficient_credits`). Plans cap concurrent jobs (Creator 5,
//! Pro 20: set `max_concurrent`).
//!
//! Undocumented details and how they are read: the submission answer's task id is taken from
//! `task_id`, `id` or `data.task_id`; task states `queued`/`pending`, `processing`/`running`,
//! `completed`/`succeeded`, `failed`/`error`/`cancelled`; `progress` as a fraction or a
//! percentage; SSE events carry the same JSON as the task record in `data:`.

use std::io::BufReader;

use reqwest::header;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::error::{ApiErrorKind, ClientError};
use super::http::{Http, Req};
use super::jsonx::{f64_at, parse_ok_body, str_at, unshaped_error};
use super::limit::CancelFlag;
use super::provider::{ProgressStream, Provider, ProviderKind};
use super::request::{GenerateRequest, JobRequest, non_empty};
use super::rules;
use super::sse::SseReader;
use super::task::{
    Output, OutputKind, OutputSource, RemoteTask, TaskState, TaskStatus, normalize_progress,
};

const KIND: ProviderKind = ProviderKind::Hanolab;

/// The stems `toolkit/separate` knows.
pub const STEMS: [&str; 4] = ["vocals", "drums", "bass", "other"];

/// HanoLab's operations besides music generation. URLs must be HTTPS.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Operation {
    /// `voice/convert`: convert the vocal of `audio_url` to a voice model.
    VoiceConvert {
        /// The input audio.
        audio_url: String,
        /// The target voice model.
        voice_model_id: String,
        /// Pitch shift in semitones.
        pitch_shift: Option<i32>,
        /// Consonant protection (0-1).
        protect: Option<f64>,
    },
    /// `voice/clone`: train a voice model from a reference clip.
    VoiceClone {
        /// The reference clip.
        reference_url: String,
        /// The new model's name.
        name: String,
        /// Training epochs.
        epochs: Option<u32>,
    },
    /// `toolkit/separate`: split into stems.
    Separate {
        /// The input audio.
        audio_url: String,
        /// Stems to produce (any of vocals, drums, bass, other; empty: all four).
        stems: Vec<String>,
    },
    /// `toolkit/master`: master `target_url` to match `reference_url`.
    Master {
        /// The track to master.
        target_url: String,
        /// The reference track.
        reference_url: String,
    },
}

impl Operation {
    /// The operation's name.
    pub fn name(&self) -> &'static str {
        match self {
            Operation::VoiceConvert { .. } => "voice-convert",
            Operation::VoiceClone { .. } => "voice-clone",
            Operation::Separate { .. } => "separate",
            Operation::Master { .. } => "master",
        }
    }

    /// Whether the result is audio (every operation but voice cloning, whose result is the
    /// new model's record).
    pub fn expects_media(&self) -> bool {
        !matches!(self, Operation::VoiceClone { .. })
    }
}

/// The HanoLab provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct HanoLab;

fn generate_body(g: &GenerateRequest) -> Result<Value, ClientError> {
    rules::only_fields(
        KIND,
        g,
        &[
            "prompt",
            "lyrics",
            "style",
            "title",
            "instrumental",
            "duration",
            "model",
            "seed",
            "guidance",
        ],
    )?;
    let prompt = rules::required(KIND, "prompt", non_empty(&g.prompt), "for music/generate")?;
    if g.instrumental && non_empty(&g.lyrics).is_some() {
        return Err(ClientError::invalid(
            KIND,
            "lyrics",
            "an instrumental cannot have lyrics",
        ));
    }
    if let Some(d) = g.duration_s
        && (!d.is_finite() || d <= 0.0)
    {
        return Err(ClientError::invalid(
            KIND,
            "duration",
            format!("{d} is not a positive number of seconds"),
        ));
    }
    rules::in_range(KIND, "guidance", g.guidance, 0.0, 100.0)?;
    let prompt = match non_empty(&g.style) {
        Some(style) => format!("{style}, {prompt}"),
        None => prompt.to_string(),
    };
    Ok(json!({
        "prompt": prompt,
        "lyrics": non_empty(&g.lyrics).unwrap_or(""),
        "duration": g.duration_s.map(|d| if d.fract() == 0.0 { json!(d as u64) } else { json!(d) }),
        "guidance": g.guidance,
        "seed": g.seed,
        "style_model_id": non_empty(&g.model),
    }))
}

fn operation_body(op: &Operation) -> Result<(&'static str, Value), ClientError> {
    Ok(match op {
        Operation::VoiceConvert {
            audio_url,
            voice_model_id,
            pitch_shift,
            protect,
        } => {
            rules::https_url(KIND, "audio_url", audio_url)?;
            rules::required(KIND, "voice_model_id", Some(voice_model_id), "")?;
            rules::in_range(KIND, "protect", *protect, 0.0, 1.0)?;
            if let Some(p) = pitch_shift
                && p.abs() > 48
            {
                return Err(ClientError::invalid(
                    KIND,
                    "pitch_shift",
                    format!("{p} semitones is out of range (-48..=48)"),
                ));
            }
            (
                "/api/v1/voice/convert",
                json!({
                    "audio_url": audio_url,
                    "voice_model_id": voice_model_id,
                    "pitch_shift": pitch_shift.unwrap_or(0),
                    "protect": protect.unwrap_or(0.33),
                }),
            )
        }
        Operation::VoiceClone {
            reference_url,
            name,
            epochs,
        } => {
            rules::https_url(KIND, "reference_url", reference_url)?;
            rules::required(KIND, "name", Some(name), "")?;
            if *epochs == Some(0) {
                return Err(ClientError::invalid(KIND, "epochs", "must be at least 1"));
            }
            (
                "/api/v1/voice/clone",
                json!({"reference_url": reference_url, "name": name, "epochs": epochs.unwrap_or(100)}),
            )
        }
        Operation::Separate { audio_url, stems } => {
            rules::https_url(KIND, "audio_url", audio_url)?;
            for s in stems {
                rules::one_of(KIND, "stems", Some(s), &STEMS)?;
            }
            let stems: Vec<&str> = if stems.is_empty() {
                STEMS.to_vec()
            } else {
                stems.iter().map(String::as_str).collect()
            };
            (
                "/api/v1/toolkit/separate",
                json!({"audio_url": audio_url, "stems": stems}),
            )
        }
        Operation::Master {
            target_url,
            reference_url,
        } => {
            rules::https_url(KIND, "target_url", target_url)?;
            rules::https_url(KIND, "reference_url", reference_url)?;
            (
                "/api/v1/toolkit/master",
                json!({"target_url": target_url, "reference_url": reference_url}),
            )
        }
    })
}

fn route(req: &JobRequest) -> Result<(&'static str, Value), ClientError> {
    match req {
        JobRequest::Generate(g) => Ok(("/api/v1/music/generate", generate_body(g)?)),
        JobRequest::Hanolab(op) => operation_body(op),
        JobRequest::Musicapi(op) => Err(ClientError::invalid(
            KIND,
            "operation",
            format!("`{}` is a MusicAPI operation", op.name()),
        )),
    }
}

/// Maps an answer: 2xx JSON, or `{error, message, status}`.
pub(crate) fn parse(status: u16, body: &[u8]) -> Result<Value, ClientError> {
    if (200..300).contains(&status) {
        return parse_ok_body(KIND, "response", body);
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Err(unshaped_error(KIND, status, body));
    };
    let code = str_at(&v, &["/error", "/code"]).unwrap_or_else(|| format!("http_{status}"));
    let message = str_at(&v, &["/message", "/detail"]).unwrap_or_else(|| code.clone());
    let mut kind = ApiErrorKind::from_status(status);
    let lc = code.to_ascii_lowercase();
    if lc.contains("credit") || lc.contains("balance") || lc.contains("plan") {
        kind = ApiErrorKind::Credits;
    } else if lc.contains("moderation") || lc.contains("content_policy") {
        kind = ApiErrorKind::Moderation;
    } else if status == 403 {
        kind = ApiErrorKind::Unauthorized;
    }
    Err(ClientError::Api {
        provider: KIND,
        status,
        code,
        message,
        kind,
        retry_after: None,
    })
}

fn file_stem_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let last = u.path_segments()?.next_back()?.to_string();
    let stem = last
        .rsplit_once('.')
        .map(|(s, _)| s.to_string())
        .unwrap_or(last);
    (!stem.is_empty()).then_some(stem)
}

/// Maps a task record (or an SSE event's data) to a status.
pub(crate) fn task_status(v: &Value) -> Result<TaskStatus, ClientError> {
    let record = v.get("data").filter(|d| d.is_object()).unwrap_or(v);
    let word = str_at(record, &["/status", "/state"]).ok_or_else(|| {
        ClientError::malformed(KIND, "task", format!("no `status` in {}", short(v)))
    })?;
    let state = match word.to_ascii_lowercase().as_str() {
        "queued" | "pending" | "submitted" | "waiting" => TaskState::Queued,
        "processing" | "running" | "in_progress" | "started" => TaskState::Running,
        "completed" | "complete" | "succeeded" | "success" | "done" => TaskState::Succeeded,
        "failed" | "error" | "cancelled" | "canceled" | "rejected" => TaskState::Failed,
        other => {
            return Err(ClientError::malformed(
                KIND,
                "task",
                format!("unknown task status `{other}`"),
            ));
        }
    };
    let mut st = TaskStatus::new(state, word);
    st.progress = f64_at(record, &["/progress", "/percent"]).and_then(normalize_progress);
    if state == TaskState::Succeeded {
        st.progress = Some(1.0);
    }
    if let Some(urls) = record.get("output_urls").and_then(Value::as_array) {
        for (i, u) in urls.iter().enumerate() {
            let (url, name) = match u {
                Value::String(s) => (s.clone(), None),
                Value::Object(_) => (
                    str_at(u, &["/url"]).unwrap_or_default(),
                    str_at(u, &["/name", "/stem"]),
                ),
                _ => continue,
            };
            if url.is_empty() {
                continue;
            }
            let name = name
                .or_else(|| file_stem_of(&url))
                .unwrap_or_else(|| format!("output-{}", i + 1));
            st.outputs.push(Output {
                source: OutputSource::Url(url),
                name,
                kind: OutputKind::Audio,
            });
        }
    } else if let Some(map) = record.get("output_urls").and_then(Value::as_object) {
        // Stems keyed by name.
        for (name, u) in map {
            if let Some(url) = u.as_str() {
                st.outputs.push(Output {
                    source: OutputSource::Url(url.to_string()),
                    name: name.clone(),
                    kind: OutputKind::Audio,
                });
            }
        }
    }
    if state == TaskState::Succeeded && st.outputs.is_empty() {
        // Operations such as voice/clone answer with ids, not audio: keep the record.
        st.outputs.push(Output {
            source: OutputSource::Text(serde_json::to_string_pretty(record).unwrap_or_default()),
            name: "result".into(),
            kind: OutputKind::Json,
        });
    }
    if state == TaskState::Failed {
        st.error_code = str_at(record, &["/error_code", "/error/code", "/error"]);
        st.message = str_at(record, &["/message", "/error/message", "/error"]);
        let code = st
            .error_code
            .clone()
            .unwrap_or_default()
            .to_ascii_lowercase();
        st.moderation = code.contains("moderation") || code.contains("content_policy");
    }
    Ok(st)
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    s.chars().take(200).collect()
}

impl Provider for HanoLab {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn validate(&self, req: &JobRequest) -> Result<(), ClientError> {
        route(req).map(|_| ())
    }

    fn request_body(&self, req: &JobRequest) -> Result<Value, ClientError> {
        route(req).map(|(_, b)| b)
    }

    fn submit(
        &self,
        http: &Http,
        req: &JobRequest,
        cancel: &CancelFlag,
    ) -> Result<RemoteTask, ClientError> {
        let (path, body) = route(req)?;
        let v = http.json(&Req::post_json(http.url(path), body), cancel, &parse)?;
        let id =
            str_at(&v, &["/task_id", "/id", "/data/task_id", "/data/id"]).ok_or_else(|| {
                ClientError::malformed(KIND, path, format!("no task id in {}", short(&v)))
            })?;
        Ok(RemoteTask {
            id,
            family: String::new(),
            immediate: None,
        })
    }

    fn status(
        &self,
        http: &Http,
        task: &RemoteTask,
        cancel: &CancelFlag,
    ) -> Result<TaskStatus, ClientError> {
        let url = http.url(&format!("/api/v1/tasks/{}", urlencode(&task.id)));
        let v = http.json(&Req::get(url), cancel, &parse)?;
        task_status(&v)
    }

    fn progress_stream_supported(&self) -> bool {
        true
    }

    fn progress_stream(
        &self,
        http: &Http,
        task: &RemoteTask,
        last_event_id: Option<&str>,
        cancel: &CancelFlag,
    ) -> Option<Result<ProgressStream, ClientError>> {
        let url = http.url(&format!("/api/v1/tasks/{}/progress", urlencode(&task.id)));
        let mut req = Req::get(url);
        req.retry = false;
        req.timeout = Some(http.tuning().sse_idle_timeout);
        req.headers
            .push((header::ACCEPT, "text/event-stream".to_string()));
        if let Some(id) = last_event_id {
            req.headers.push((
                header::HeaderName::from_static("last-event-id"),
                id.to_string(),
            ));
        }
        let resp = match http.stream(&req, cancel, &parse) {
            Ok(r) => r,
            Err(e) => return Some(Err(e)),
        };
        let idle = http.tuning().sse_idle_timeout;
        let http = http.clone();
        let reader = SseReader::new(BufReader::new(resp));
        let stream = reader.filter_map(move |ev| match ev {
            Err(e) => Some(Err(http.io_error("/progress", e, Some(idle)))),
            Ok(ev) => {
                if ev.data.trim().is_empty() {
                    return None;
                }
                match serde_json::from_str::<Value>(&ev.data) {
                    Ok(v) => Some(task_status(&v).map(|st| (st, ev.id.clone()))),
                    Err(e) => Some(Err(ClientError::malformed(
                        KIND,
                        "progress",
                        format!("SSE data is not JSON ({e})"),
                    ))),
                }
            }
        });
        Some(Ok(Box::new(stream)))
    }
}

/// Percent-encodes a path segment.
pub(crate) fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}
