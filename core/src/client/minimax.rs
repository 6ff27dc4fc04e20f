//! MiniMax music-01 through the AI/ML API.
//!
//! Two steps: upload a reference recording (`purpose` song / voice / instrumental, WAV or MP3,
//! 10 s to 10 min) to get a `voice_id` and/or `instrumental_id`; then a generation request with
//! the lyrics that uses them. Its answer either holds the audio already or a generation id to
//! retrieve (usually done in 50-60 s). A result carries `data.audio` (hex-encoded audio or a
//! URL) and `extra_info` (length, size, bitrate, sample rate); errors are
//! `base_resp.status_code` / `status_msg` (0 is success).
//!
//! Paths relative to the base URL (the API host, `https://host`): `POST`
//! [`UPLOAD_PATH`] (multipart `file`, `purpose`), `POST` [`GENERATE_PATH`] (JSON `model`
//! `music-01`, `lyrics`, `refer_voice`, `refer_instrumental`, optional `prompt`) and `GET`
//! [`RETRIEVE_PATH`]`?generation_id=` (the AI/ML API's audio retrieval).
//!
//! Undocumented details and how they are read: the generation id is `id` / `generation_id`
//! (also under `data`); a retrieval answer is read like a generation answer, its state from
//! `data.status` or `status` (1 or `queued` / `generating` in progress, 2 or `completed` done,
//! 3 or `error` failed) and its audio from `data.audio` or `audio_file.url`. Status codes: 1002
//! rate limit (retried), 1004 unauthorized, 1008 balance, 1026 / 1027 sensitive content
//! (moderation), 2013 invalid parameters, 1000 / 1001 / 1024 / 1033 server (retried).

use std::path::Path;
use std::sync::Arc;

use reqwest::blocking::multipart::{Form, Part};
use serde_json::{Value, json};

use super::error::{ApiErrorKind, ClientError};
use super::http::{Body, Http, Req};
use super::jsonx::{f64_at, parse_ok_body, str_at, unshaped_error};
use super::limit::CancelFlag;
use super::provider::{Provider, ProviderKind};
use super::request::{GenerateRequest, JobRequest, Purpose, Reference, non_empty};
use super::rules;
use super::task::{Output, OutputKind, OutputSource, RemoteTask, TaskState, TaskStatus};
use crate::audio::AudioReader;

const KIND: ProviderKind = ProviderKind::Minimax;

/// Where the reference recording is uploaded.
pub const UPLOAD_PATH: &str = "/v2/generate/audio/minimax/upload";
/// Where the generation is requested.
pub const GENERATE_PATH: &str = "/v2/generate/audio/minimax/generate";
/// Where a generation is retrieved by its id (`?generation_id=`).
pub const RETRIEVE_PATH: &str = "/v2/generate/audio";

/// The only model.
pub const MODEL: &str = "music-01";
/// Shortest reference, seconds.
pub const MIN_REFERENCE_S: f64 = 10.0;
/// Longest reference, seconds.
pub const MAX_REFERENCE_S: f64 = 600.0;

/// The MiniMax provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct MiniMax;

fn generate_of(req: &JobRequest) -> Result<&GenerateRequest, ClientError> {
    match req {
        JobRequest::Generate(g) => Ok(g),
        _ => Err(ClientError::invalid(
            KIND,
            "operation",
            "minimax offers only generation",
        )),
    }
}

/// The checks that need no file access, and the generation body without the ids.
fn check_fields(g: &GenerateRequest) -> Result<&Reference, ClientError> {
    rules::only_fields(
        KIND,
        g,
        &[
            "prompt",
            "lyrics",
            "title",
            "model",
            "reference",
            "instrumental",
        ],
    )?;
    rules::one_of(KIND, "model", non_empty(&g.model), &[MODEL])?;
    let reference = g.reference.as_ref().ok_or_else(|| {
        ClientError::invalid(
            KIND,
            "file",
            "a reference recording is required (--reference FILE --purpose song|voice|instrumental)",
        )
    })?;
    rules::required(KIND, "lyrics", non_empty(&g.lyrics), "for music-01")?;
    if g.instrumental && reference.purpose != Purpose::Instrumental {
        return Err(ClientError::invalid(
            KIND,
            "purpose",
            "an instrumental result needs an instrumental reference (--purpose instrumental)",
        ));
    }
    let ext = reference
        .path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if !matches!(ext.as_deref(), Some("wav" | "mp3")) {
        return Err(ClientError::invalid(
            KIND,
            "file",
            format!(
                "{}: only WAV and MP3 are accepted",
                reference.path.display()
            ),
        ));
    }
    Ok(reference)
}

/// The reference's duration, decoding the file when its header does not say.
pub fn reference_duration(path: &Path) -> Result<f64, ClientError> {
    let mut reader = AudioReader::open(path)
        .map_err(|e| ClientError::invalid(KIND, "file", format!("{}: {e}", path.display())))?;
    if let Some(d) = reader.spec().duration_s() {
        return Ok(d);
    }
    let rate = reader.spec().sample_rate as f64;
    while reader
        .next_block()
        .map_err(|e| ClientError::invalid(KIND, "file", format!("{}: {e}", path.display())))?
        .is_some()
    {}
    Ok(reader.frames_read() as f64 / rate.max(1.0))
}

fn check_reference(reference: &Reference) -> Result<(), ClientError> {
    let d = reference_duration(&reference.path)?;
    if !(MIN_REFERENCE_S..=MAX_REFERENCE_S).contains(&d) {
        return Err(ClientError::invalid(
            KIND,
            "file",
            format!(
                "{}: {d:.1} s long; the reference must be 10 s to 10 min",
                reference.path.display()
            ),
        ));
    }
    Ok(())
}

fn kind_of_code(code: i64) -> ApiErrorKind {
    match code {
        1002 | 1039 | 1041 => ApiErrorKind::RateLimited,
        1004 => ApiErrorKind::Unauthorized,
        1008 => ApiErrorKind::Credits,
        1026 | 1027 => ApiErrorKind::Moderation,
        2013 | 2037 | 2039 | 20132 => ApiErrorKind::Invalid,
        1000 | 1001 | 1024 | 1033 => ApiErrorKind::Server,
        _ => ApiErrorKind::Other,
    }
}

/// Maps an answer: JSON with `base_resp.status_code` 0 (or absent), else the provider's error.
pub(crate) fn parse(status: u16, body: &[u8]) -> Result<Value, ClientError> {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.pointer("/base_resp/status_code"))
        .and_then(Value::as_i64);
    match (status, code) {
        (200..=299, None | Some(0)) => parse_ok_body(KIND, "response", body),
        (_, Some(code)) if code != 0 => {
            let v = parsed.unwrap_or(Value::Null);
            let mut kind = kind_of_code(code);
            if kind == ApiErrorKind::Other && !(200..300).contains(&status) {
                kind = ApiErrorKind::from_status(status);
            }
            Err(ClientError::Api {
                provider: KIND,
                status,
                code: code.to_string(),
                message: str_at(&v, &["/base_resp/status_msg"]).unwrap_or_default(),
                kind,
                retry_after: None,
            })
        }
        _ => Err(unshaped_error(KIND, status, body)),
    }
}

/// Maps a generation or retrieval answer.
pub(crate) fn task_status(v: &Value) -> Result<TaskStatus, ClientError> {
    let audio =
        str_at(v, &["/data/audio", "/data/audio_url", "/audio_file/url"]).filter(|a| !a.is_empty());
    let word = str_at(v, &["/data/status", "/status"]).unwrap_or_else(|| {
        if audio.is_some() {
            "2".into()
        } else {
            "1".into()
        }
    });
    let state = match word.to_ascii_lowercase().as_str() {
        "0" | "queued" | "pending" | "waiting" => TaskState::Queued,
        "1" | "processing" | "generating" | "running" => TaskState::Running,
        "2" | "completed" | "succeeded" | "success" | "done" => TaskState::Succeeded,
        "3" | "failed" | "error" => TaskState::Failed,
        other => {
            return Err(ClientError::malformed(
                KIND,
                "retrieve",
                format!("unknown data.status `{other}`"),
            ));
        }
    };
    let mut st = TaskStatus::new(state, word);
    if state == TaskState::Succeeded {
        st.progress = Some(1.0);
        // Finished without audio delivers nothing: the follower reports it, resumably.
        if let Some(audio) = audio {
            let source = if audio.starts_with("https://") || audio.starts_with("http://") {
                OutputSource::Url(audio)
            } else {
                OutputSource::Hex(audio)
            };
            let name = str_at(v, &["/trace_id", "/id"]).unwrap_or_else(|| "music-01".into());
            st.outputs.push(Output {
                source,
                name,
                kind: OutputKind::Audio,
            });
        }
        if let Some(info) = v.get("extra_info") {
            let secs = f64_at(info, &["/audio_length"]).map(|ms| ms / 1000.0);
            st.message = Some(format!(
                "{} Hz, {} bit/s, {} bytes{}",
                f64_at(info, &["/audio_sample_rate"]).unwrap_or(0.0),
                f64_at(info, &["/audio_bitrate"]).unwrap_or(0.0),
                f64_at(info, &["/audio_size"]).unwrap_or(0.0),
                secs.map(|s| format!(", {s:.1} s")).unwrap_or_default()
            ));
        }
    }
    if state == TaskState::Failed {
        st.message = str_at(v, &["/base_resp/status_msg", "/data/error"]);
        st.error_code = str_at(v, &["/base_resp/status_code"]);
    }
    Ok(st)
}

fn generation_body(g: &GenerateRequest, voice: Option<&str>, instrumental: Option<&str>) -> Value {
    let mut body = json!({
        "model": MODEL,
        "lyrics": non_empty(&g.lyrics).unwrap_or(""),
    });
    if let Some(p) = non_empty(&g.prompt) {
        body["prompt"] = json!(p);
    }
    if let Some(v) = voice {
        body["refer_voice"] = json!(v);
    }
    if let Some(i) = instrumental {
        body["refer_instrumental"] = json!(i);
    }
    body
}

impl MiniMax {
    fn upload(
        &self,
        http: &Http,
        reference: &Reference,
        cancel: &CancelFlag,
    ) -> Result<(Option<String>, Option<String>), ClientError> {
        let path = reference.path.clone();
        let bytes = Arc::new(std::fs::read(&path).map_err(|e| ClientError::io(&path, e))?);
        let purpose = reference.purpose.as_str();
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "reference.wav".into());
        let mime = if file_name.to_ascii_lowercase().ends_with(".mp3") {
            "audio/mpeg"
        } else {
            "audio/wav"
        };
        let make = move || -> Result<Form, ClientError> {
            let part = Part::bytes(bytes.to_vec())
                .file_name(file_name.clone())
                .mime_str(mime)
                .map_err(|e| ClientError::Config(format!("multipart: {e}")))?;
            Ok(Form::new().text("purpose", purpose).part("file", part))
        };
        let mut req = Req::post_json(http.url(UPLOAD_PATH), Value::Null);
        req.body = Body::Multipart(Arc::new(make));
        let v = http.json(&req, cancel, &parse)?;
        let voice = str_at(&v, &["/voice_id", "/data/voice_id"]);
        let inst = str_at(&v, &["/instrumental_id", "/data/instrumental_id"]);
        let needed_ok = match reference.purpose {
            Purpose::Song => voice.is_some() && inst.is_some(),
            Purpose::Voice => voice.is_some(),
            Purpose::Instrumental => inst.is_some(),
        };
        if !needed_ok {
            return Err(ClientError::malformed(
                KIND,
                UPLOAD_PATH,
                format!("the answer lacks the id(s) for purpose `{purpose}`"),
            ));
        }
        Ok((voice, inst))
    }
}

impl Provider for MiniMax {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn validate(&self, req: &JobRequest) -> Result<(), ClientError> {
        let g = generate_of(req)?;
        let reference = check_fields(g)?;
        check_reference(reference)
    }

    fn request_body(&self, req: &JobRequest) -> Result<Value, ClientError> {
        let g = generate_of(req)?;
        let reference = check_fields(g)?;
        let (v, i) = match reference.purpose {
            Purpose::Song => (Some("<voice_id>"), Some("<instrumental_id>")),
            Purpose::Voice => (Some("<voice_id>"), None),
            Purpose::Instrumental => (None, Some("<instrumental_id>")),
        };
        Ok(generation_body(g, v, i))
    }

    fn submit(
        &self,
        http: &Http,
        req: &JobRequest,
        cancel: &CancelFlag,
    ) -> Result<RemoteTask, ClientError> {
        self.validate(req)?;
        let g = generate_of(req)?;
        let reference = check_fields(g)?;
        let (voice, inst) = self.upload(http, reference, cancel)?;
        let body = generation_body(g, voice.as_deref(), inst.as_deref());
        let v = http.json(
            &Req::post_json(http.url(GENERATE_PATH), body),
            cancel,
            &parse,
        )?;
        let st = task_status(&v)?;
        // The answer is the result when it holds the audio (or the failure); otherwise the
        // generation id is retrieved.
        if st.state == TaskState::Failed || !st.outputs.is_empty() {
            return Ok(RemoteTask {
                id: str_at(&v, &["/trace_id", "/id"]).unwrap_or_else(|| "immediate".into()),
                family: String::new(),
                immediate: Some(st),
            });
        }
        let id = str_at(
            &v,
            &[
                "/id",
                "/generation_id",
                "/task_id",
                "/data/id",
                "/data/generation_id",
            ],
        )
        .ok_or_else(|| {
            ClientError::malformed(KIND, GENERATE_PATH, "no audio and no generation id")
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
        if let Some(st) = &task.immediate {
            return Ok(st.clone());
        }
        let mut url = http.url(RETRIEVE_PATH);
        url.query_pairs_mut().append_pair("generation_id", &task.id);
        match http.json(&Req::get(url), cancel, &parse) {
            Ok(v) => task_status(&v),
            Err(ClientError::Api {
                kind: ApiErrorKind::Moderation,
                code,
                message,
                ..
            }) => {
                let mut st = TaskStatus::new(TaskState::Failed, code.clone());
                st.error_code = Some(code);
                st.message = Some(message);
                st.moderation = true;
                Ok(st)
            }
            Err(e) => Err(e),
        }
    }
}
