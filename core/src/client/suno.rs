//! Suno-style generate API.
//!
//! Paths relative to the base URL (the API host, `https://host`, as for every provider):
//! `POST /api/v1/generate` with `customMode`, `instrumental`, `model`, `prompt`,
//! `style`, `title`, `personaId`, `negativeTags`, `vocalGender`, `styleWeight`,
//! `weirdnessConstraint`, `audioWeight`, `callBackUrl`; the task record is polled with
//! `GET /api/v1/generate/record-info?taskId=`. Two songs per task.
//!
//! Rules enforced before sending: custom mode (chosen when lyrics, a style or a title are given)
//! needs `style` and `title`, and `prompt` (the lyrics, sung as written) unless instrumental;
//! non-custom mode needs only `prompt`, at most 500 characters; `personaId` only in custom
//! mode; weights 0.00-1.00 in steps of 0.01; `vocalGender` `m` or `f`; `model` one of
//! [`MODELS`].
//!
//! Errors come in the body's `code` (also with HTTP 200): 400 invalid / content refused, 401,
//! 404, 405 and 430 call frequency (retried), 413 too long, 429 insufficient credits (this
//! family's documentation; an HTTP 429 without a body code is a rate limit), 455 maintenance
//! (retried), 500. Record states: `PENDING`, `TEXT_SUCCESS`, `FIRST_SUCCESS`, `SUCCESS`,
//! `CREATE_TASK_FAILED`, `GENERATE_AUDIO_FAILED`, `CALLBACK_EXCEPTION`, `SENSITIVE_WORD_ERROR`
//! (moderation); results in `data.response.sunoData[].audioUrl`.

use serde_json::{Map, Value, json};

use super::error::{ApiErrorKind, ClientError};
use super::http::{Http, Req};
use super::jsonx::{parse_ok_body, str_at, unshaped_error};
use super::limit::CancelFlag;
use super::provider::{Provider, ProviderKind};
use super::request::{GenerateRequest, JobRequest, non_empty};
use super::rules;
use super::task::{Output, OutputKind, OutputSource, RemoteTask, TaskState, TaskStatus};

const KIND: ProviderKind = ProviderKind::Suno;

/// Where generation requests are posted (relative to the API host).
pub const GENERATE_PATH: &str = "/api/v1/generate";
/// Where a task's record is read (`?taskId=`).
pub const RECORD_PATH: &str = "/api/v1/generate/record-info";

/// Accepted `model` values.
pub const MODELS: [&str; 5] = ["V4", "V4_5", "V4_5PLUS", "V4_5ALL", "V5"];
/// The model used when none is given (the documentation's example).
pub const DEFAULT_MODEL: &str = "V4_5ALL";
/// Longest non-custom prompt.
pub const MAX_DESCRIPTION_CHARS: usize = 500;

/// The Suno provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct Suno;

/// Maps the common request to the generate body, enforcing the documented rules.
pub fn generate_body(g: &GenerateRequest) -> Result<Value, ClientError> {
    rules::only_fields(
        KIND,
        g,
        &[
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
        ],
    )?;
    let lyrics = non_empty(&g.lyrics);
    let description = non_empty(&g.prompt);
    let style = non_empty(&g.style);
    let title = non_empty(&g.title);
    let custom = lyrics.is_some() || style.is_some() || title.is_some();
    let mut m = Map::new();
    m.insert("customMode".into(), json!(custom));
    m.insert("instrumental".into(), json!(g.instrumental));
    let model = non_empty(&g.model).unwrap_or(DEFAULT_MODEL);
    rules::one_of(KIND, "model", Some(model), &MODELS)?;
    m.insert("model".into(), json!(model));
    if custom {
        if description.is_some() {
            return Err(ClientError::invalid(
                KIND,
                "prompt",
                "in custom mode (lyrics, style or title given) the prompt is the lyrics: give \
                 them with --lyrics, not a description",
            ));
        }
        let style = rules::required(KIND, "style", style, "in custom mode")?;
        let title = rules::required(KIND, "title", title, "in custom mode")?;
        m.insert("style".into(), json!(style));
        m.insert("title".into(), json!(title));
        match lyrics {
            Some(_) if g.instrumental => {
                return Err(ClientError::invalid(
                    KIND,
                    "prompt",
                    "an instrumental takes no lyrics",
                ));
            }
            Some(l) => {
                m.insert("prompt".into(), json!(l));
            }
            None if !g.instrumental => {
                return Err(ClientError::invalid(
                    KIND,
                    "prompt",
                    "required in custom mode unless instrumental (the lyrics, --lyrics)",
                ));
            }
            None => {}
        }
        if let Some(p) = non_empty(&g.persona_id) {
            m.insert("personaId".into(), json!(p));
        }
    } else {
        let prompt = rules::required(KIND, "prompt", description, "in non-custom mode")?;
        rules::max_chars(KIND, "prompt", Some(prompt), MAX_DESCRIPTION_CHARS)?;
        m.insert("prompt".into(), json!(prompt));
        if non_empty(&g.persona_id).is_some() {
            return Err(ClientError::invalid(
                KIND,
                "personaId",
                "only available in custom mode",
            ));
        }
    }
    if let Some(n) = non_empty(&g.negative) {
        m.insert("negativeTags".into(), json!(n));
    }
    if let Some(vg) = non_empty(&g.vocal_gender) {
        rules::one_of(KIND, "vocalGender", Some(vg), &["m", "f"])?;
        m.insert("vocalGender".into(), json!(vg));
    }
    for (field, value) in [
        ("styleWeight", g.style_weight),
        ("weirdnessConstraint", g.weirdness),
        ("audioWeight", g.audio_weight),
    ] {
        rules::weight(KIND, field, value)?;
        if let Some(v) = value {
            m.insert(field.into(), json!(v));
        }
    }
    if let Some(u) = non_empty(&g.callback_url) {
        rules::https_url(KIND, "callBackUrl", u)?;
        m.insert("callBackUrl".into(), json!(u));
    }
    Ok(Value::Object(m))
}

fn body_of(req: &JobRequest) -> Result<Value, ClientError> {
    match req {
        JobRequest::Generate(g) => generate_body(g),
        _ => Err(ClientError::invalid(
            KIND,
            "operation",
            "suno offers only generation",
        )),
    }
}

fn kind_of_code(code: u16) -> ApiErrorKind {
    match code {
        400 | 413 => ApiErrorKind::Invalid,
        401 => ApiErrorKind::Unauthorized,
        404 => ApiErrorKind::NotFound,
        405 | 430 => ApiErrorKind::RateLimited,
        429 => ApiErrorKind::Credits,
        455 | 500..=599 => ApiErrorKind::Server,
        _ => ApiErrorKind::Other,
    }
}

/// Maps an answer: `{code, msg, data}` with `code` 200, else the provider's error.
pub(crate) fn parse(status: u16, body: &[u8]) -> Result<Value, ClientError> {
    let parsed = serde_json::from_slice::<Value>(body).ok();
    let body_code = parsed
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_u64);
    if (200..300).contains(&status) {
        let v = parse_ok_body(KIND, "response", body)?;
        match body_code {
            Some(200) | None => return Ok(v),
            Some(code) => {
                let code = code as u16;
                return Err(ClientError::Api {
                    provider: KIND,
                    status: code,
                    code: code.to_string(),
                    message: str_at(&v, &["/msg", "/message"]).unwrap_or_default(),
                    kind: kind_of_code(code),
                    retry_after: None,
                });
            }
        }
    }
    match (parsed, body_code) {
        (Some(v), Some(code)) => Err(ClientError::Api {
            provider: KIND,
            status,
            code: code.to_string(),
            message: str_at(&v, &["/msg", "/message"]).unwrap_or_default(),
            kind: kind_of_code(code as u16),
            retry_after: None,
        }),
        _ => Err(unshaped_error(KIND, status, body)),
    }
}

/// Maps a record-info answer to a status.
pub(crate) fn task_status(v: &Value) -> Result<TaskStatus, ClientError> {
    let data = v
        .get("data")
        .filter(|d| d.is_object())
        .ok_or_else(|| ClientError::malformed(KIND, "record-info", "no `data` object"))?;
    let word = str_at(data, &["/status"])
        .ok_or_else(|| ClientError::malformed(KIND, "record-info", "no `data.status`"))?;
    let state = match word.as_str() {
        "PENDING" => TaskState::Queued,
        "TEXT_SUCCESS" | "FIRST_SUCCESS" => TaskState::Running,
        "SUCCESS" => TaskState::Succeeded,
        "CREATE_TASK_FAILED"
        | "GENERATE_AUDIO_FAILED"
        | "CALLBACK_EXCEPTION"
        | "SENSITIVE_WORD_ERROR" => TaskState::Failed,
        other => {
            return Err(ClientError::malformed(
                KIND,
                "record-info",
                format!("unknown status `{other}`"),
            ));
        }
    };
    let mut st = TaskStatus::new(state, word.clone());
    st.progress = match word.as_str() {
        "PENDING" => Some(0.0),
        "TEXT_SUCCESS" => Some(0.33),
        "FIRST_SUCCESS" => Some(0.66),
        "SUCCESS" => Some(1.0),
        _ => None,
    };
    if state == TaskState::Succeeded {
        // A SUCCESS without songs delivers nothing: the follower reports it and keeps the job
        // resumable.
        let songs = data
            .pointer("/response/sunoData")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (i, song) in songs.iter().enumerate() {
            let Some(url) = str_at(song, &["/audioUrl", "/audio_url"]) else {
                continue;
            };
            let id = str_at(song, &["/id"]).unwrap_or_else(|| format!("{}", i + 1));
            let name = match str_at(song, &["/title"]) {
                Some(t) => format!("{t}-{}", tail(&id, 8)),
                None => id,
            };
            st.outputs.push(Output {
                source: OutputSource::Url(url),
                name,
                kind: OutputKind::Audio,
            });
        }
    }
    if state == TaskState::Failed {
        st.error_code = str_at(data, &["/errorCode"]).or_else(|| Some(word.clone()));
        st.message = str_at(data, &["/errorMessage"]).or_else(|| Some(word.clone()));
        st.moderation = word == "SENSITIVE_WORD_ERROR";
    }
    Ok(st)
}

/// The last `n` characters (ids often share their first ones).
fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    s.chars().skip(count.saturating_sub(n)).collect()
}

impl Provider for Suno {
    fn kind(&self) -> ProviderKind {
        KIND
    }

    fn validate(&self, req: &JobRequest) -> Result<(), ClientError> {
        body_of(req).map(|_| ())
    }

    fn request_body(&self, req: &JobRequest) -> Result<Value, ClientError> {
        body_of(req)
    }

    fn submit(
        &self,
        http: &Http,
        req: &JobRequest,
        cancel: &CancelFlag,
    ) -> Result<RemoteTask, ClientError> {
        let body = body_of(req)?;
        let v = http.json(
            &Req::post_json(http.url(GENERATE_PATH), body),
            cancel,
            &parse,
        )?;
        let id = str_at(&v, &["/data/taskId", "/data/task_id", "/taskId"]).ok_or_else(|| {
            ClientError::malformed(KIND, GENERATE_PATH, "no data.taskId in the answer")
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
        let mut url = http.url(RECORD_PATH);
        url.query_pairs_mut().append_pair("taskId", &task.id);
        let v = http.json(&Req::get(url), cancel, &parse)?;
        task_status(&v)
    }
}
