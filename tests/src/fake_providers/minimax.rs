//! Fake MiniMax music-01 reseller under `/v1`: `POST /music_upload` (multipart `file`,
//! `purpose`) -> ids; `POST /music_generation` -> `{id}`; `POST /music_generation/retrieve`
//! -> `data.status` 1 / 2 with hex `data.audio` and `extra_info`; errors in `base_resp`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Multipart, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

use super::{Outcome, Shared, failure_response, wav_bytes};

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
        .route("/v1/music_upload", post(upload))
        .route("/v1/music_generation", post(generate))
        .route("/v1/music_generation/retrieve", post(retrieve))
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
    axum::Json(json!({"id": id, "base_resp": ok()})).into_response()
}

async fn retrieve(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    if let Some(f) = s.status_failure() {
        return failure_response(f, error_body).await;
    }
    let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let id = v["generation_id"].as_str().unwrap_or("").to_string();
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
        Outcome::Success => {
            let wav = wav_bytes(7);
            let hex: String = wav.iter().map(|b| format!("{b:02x}")).collect();
            axum::Json(json!({
                "data": {"status": 2, "audio": hex},
                "extra_info": {"audio_length": 250, "audio_size": wav.len(),
                               "audio_bitrate": 128000, "audio_sample_rate": 8000},
                "trace_id": format!("trace-{id}"),
                "base_resp": ok()
            }))
            .into_response()
        }
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
