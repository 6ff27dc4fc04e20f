//! Fake MiniMax music-01 on the AI/ML API: `POST /v2/generate/audio/minimax/upload` (multipart
//! `file`, `purpose`) -> ids; `POST /v2/generate/audio/minimax/generate` -> the audio at once
//! (hex or a URL in `data.audio`) or a generation id, as [`Behavior::minimax_answer`] says;
//! `GET /v2/generate/audio?generation_id=` -> `data.status` 1 / 2 with hex `data.audio` and
//! `extra_info`; errors in `base_resp`.

use std::sync::Arc;

use std::collections::HashMap;

use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{GenerationAnswer, Outcome, Shared, failure_response, wav_bytes};

/// The error body for a status code.
pub fn error_body(code: u16) -> Value {
    let (c, m) = match code {
        401 => (1004, "not authorized"),
        402 | 403 => (1008, "insufficient balance"),
        429 => (1002, "rate limit"),
        400 => (2013, "invalid params"),
        _ => (1000, "unknown error"),
    };
    json!({"base_resp": {"status_code": c, "status_msg": m}})
}

/// The routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v2/generate/audio/minimax/upload", post(upload))
        .route("/v2/generate/audio/minimax/generate", post(generate))
        .route("/v2/generate/audio", get(retrieve))
}

fn ok() -> Value {
    json!({"status_code": 0, "status_msg": "success"})
}

async fn upload(State(s): State<Arc<Shared>>, mut form: Multipart) -> Response {
    if let Some(f) = s.submit_failure() {
        return failure_response(f, error_body).await;
    }
    let mut purpose = None;
    let mut file_len = 0usize;
    while let Ok(Some(field)) = form.next_field().await {
        match field.name() {
            Some("purpose") => purpose = field.text().await.ok(),
            Some("file") => file_len = field.bytes().await.map(|b| b.len()).unwrap_or(0),
            _ => {}
        }
    }
    if file_len == 0 {
        return axum::Json(
            json!({"base_resp": {"status_code": 2013, "status_msg": "file missing"}}),
        )
        .into_response();
    }
    let mut v = json!({"base_resp": ok()});
    match purpose.as_deref() {
        Some("song") => {
            v["voice_id"] = json!("vocal-2025-test");
            v["instrumental_id"] = json!("instrumental-2025-test");
        }
        Some("voice") => v["voice_id"] = json!("vocal-2025-test"),
        Some("instrumental") => v["instrumental_id"] = json!("instrumental-2025-test"),
        _ => {
            return axum::Json(
                json!({"base_resp": {"status_code": 2013, "status_msg": "bad purpose"}}),
            )
            .into_response();
        }
    }
    s.new_task(json!({"upload": purpose, "bytes": file_len}));
    axum::Json(v).into_response()
}

async fn generate(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(error_body(400)).into_response();
    };
    if v["model"] != "music-01" || v["lyrics"].as_str().unwrap_or("").is_empty() {
        return axum::Json(error_body(400)).into_response();
    }
    let id = s.new_task(v);
    let answer = s.behavior.lock().unwrap().minimax_answer.clone();
    match answer {
        GenerationAnswer::Deferred => {
            axum::Json(json!({"id": id, "status": "queued", "base_resp": ok()})).into_response()
        }
        GenerationAnswer::InlineHex => {
            axum::Json(result(&id, hex_of(&wav_bytes(7)))).into_response()
        }
        GenerationAnswer::InlineUrl => {
            axum::Json(result(&id, s.file_url(&format!("{id}.wav")))).into_response()
        }
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A finished generation holding `audio` (hex or a URL), as the documentation shows it.
fn result(id: &str, audio: String) -> Value {
    json!({
        "data": {"status": 2, "audio": audio},
        "extra_info": {"audio_length": 250, "audio_size": wav_bytes(7).len(),
                       "audio_bitrate": 128000, "audio_sample_rate": 8000},
        "trace_id": format!("trace-{id}"),
        "base_resp": ok()
    })
}

async fn retrieve(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = s.status_failure() {
        return failure_response(f, error_body).await;
    }
    let id = q.get("generation_id").cloned().unwrap_or_default();
    let Some((_, done)) = s.poll(&id) else {
        return axum::Json(
            json!({"base_resp": {"status_code": 1000, "status_msg": "no such generation"}}),
        )
        .into_response();
    };
    if !done {
        return axum::Json(json!({"data": {"status": 1}, "base_resp": ok()})).into_response();
    }
    match s.outcome() {
        Outcome::Success => axum::Json(result(&id, hex_of(&wav_bytes(7)))).into_response(),
        Outcome::Moderation => axum::Json(
            json!({"base_resp": {"status_code": 1027, "status_msg": "output new_sensitive"}}),
        )
        .into_response(),
        Outcome::Failed => axum::Json(
            json!({"data": {"status": 3}, "base_resp": {"status_code": 0, "status_msg": "generation failed"}}),
        )
        .into_response(),
    }
}
