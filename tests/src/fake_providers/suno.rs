//! Fake Suno-style API under `/api/v1`: `POST /generate` -> `{code, msg, data: {taskId}}`;
//! `GET /generate/record-info?taskId=` -> the record; errors in the body's `code`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Failure, Outcome, Shared, failure_response};

/// The error body for a code (always with HTTP 200 unless scripted otherwise).
pub fn error_body(code: u16) -> Value {
    let msg = match code {
        400 => "Parameter error",
        401 => "Unauthorized",
        404 => "Not found",
        405 => "Rate limit exceeded",
        413 => "Prompt too long",
        429 => "Insufficient credits",
        430 => "Your call frequency is too high. Please try again later.",
        455 => "System maintenance",
        _ => "Server error",
    };
    json!({"code": code, "msg": msg})
}

/// The routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/generate", post(generate))
        .route("/api/v1/generate/record-info", get(record))
}

async fn body_code_failure(f: Failure) -> Response {
    match f {
        // Suno reports most errors with HTTP 200 and the code in the body.
        Failure::Status(code) if code != 500 => axum::Json(error_body(code)).into_response(),
        other => failure_response(other, error_body).await,
    }
}

async fn generate(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    if let Some(f) = s.submit_failure() {
        return body_code_failure(f).await;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return axum::Json(error_body(400)).into_response();
    };
    let id = s.new_task(v);
    axum::Json(json!({"code": 200, "msg": "success", "data": {"taskId": id}})).into_response()
}

async fn record(
    State(s): State<Arc<Shared>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(f) = s.status_failure() {
        return body_code_failure(f).await;
    }
    let id = q.get("taskId").cloned().unwrap_or_default();
    let Some((polls, done)) = s.poll(&id) else {
        return axum::Json(error_body(404)).into_response();
    };
    let status = if !done {
        ["PENDING", "TEXT_SUCCESS", "FIRST_SUCCESS"][(polls as usize - 1).min(2)]
    } else {
        match s.outcome() {
            Outcome::Success => "SUCCESS",
            Outcome::Failed => "GENERATE_AUDIO_FAILED",
            Outcome::Moderation => "SENSITIVE_WORD_ERROR",
        }
    };
    let mut data = json!({"taskId": id, "status": status, "type": "GENERATE",
                          "errorCode": null, "errorMessage": null});
    if status == "SUCCESS" {
        let title = s.tasks.lock().unwrap()[&id].body["title"]
            .as_str()
            .unwrap_or("Untitled")
            .to_string();
        data["response"] = json!({"taskId": id, "sunoData": [
            {"id": format!("{id}-a"), "audioUrl": s.file_url(&format!("{id}-a.wav")),
             "streamAudioUrl": s.file_url("stream"), "imageUrl": s.file_url("x.jpeg"),
             "title": title, "duration": 0.25},
            {"id": format!("{id}-b"), "audioUrl": s.file_url(&format!("{id}-b.wav")),
             "title": title, "duration": 0.25}
        ]});
    } else if status == "GENERATE_AUDIO_FAILED" {
        data["errorCode"] = json!("GENERATE_AUDIO_FAILED");
        data["errorMessage"] = json!("Audio generation failed");
    } else if status == "SENSITIVE_WORD_ERROR" {
        data["errorMessage"] = json!("Content contains sensitive words");
    }
    axum::Json(json!({"code": 200, "msg": "success", "data": data})).into_response()
}
