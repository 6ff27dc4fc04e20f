//! Fake MusicAPI: `POST /api/v1/sonic/create` (and producer / nuro) -> `{code, message,
//! task_id}`; `GET /api/v1/{family}/task/{id}` -> `{code, data: [clips]}`; the Sonic tools;
//! errors `{type, error}`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Outcome, Shared, failure_response};

/// The error body for a status.
pub fn error_body(status: u16) -> Value {
    let (t, e) = match status {
        400 => ("validation_error", "The 'mv' field is invalid."),
        401 => ("unauthorized", "Invalid or missing API key"),
        403 => ("forbidden", "Insufficient credits"),
        404 => ("not_found", "Resource not found"),
        429 => ("rate_limit", "Too many requests"),
        _ => ("server_error", "Internal server error"),
    };
    json!({"type": t, "error": e})
}

/// The routes.
pub fn routes() -> Router<Arc<Shared>> {
    let mut r = Router::new()
        .route("/api/v1/sonic/create", post(create))
        .route("/api/v1/producer/create", post(create))
        .route("/api/v1/nuro/create", post(create))
        .route("/api/v1/sonic/task/{id}", get(task))
        .route("/api/v1/producer/task/{id}", get(task))
        .route("/api/v1/nuro/task/{id}", get(task))
        .route("/api/v1/sonic/bpm", post(bpm))
        .route("/api/v1/sonic/upload", post(upload));
    for tool in [
        "upload-extend",
        "upload-cover",
        "persona",
        "lyrics",
        "vox",
        "upsample-tags",
        "stems/basic",
        "stems/full",
        "wav",
        "midi",
        "aligned-lyrics",
    ] {
        r = r.route(&format!("/api/v1/sonic/{tool}"), post(create));
    }
    r
}

async fn create(
    State(s): State<Arc<Shared>>,
    uri: axum::http::Uri,
    body: axum::body::Bytes,
) -> Response {
    if let Some(f) = s.submit_failure() {
        return failure_response(f, error_body).await;
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(error_body(400))).into_response();
    };
    if let Some(mv) = v.get("mv").and_then(Value::as_str)
        && uri.path().contains("/sonic/")
        && ![
            "sonic-v3-5",
            "sonic-v4",
            "sonic-v4-5",
            "sonic-v4-5-plus",
            "sonic-v5",
        ]
        .contains(&mv)
    {
        return (StatusCode::BAD_REQUEST, axum::Json(error_body(400))).into_response();
    }
    v["_path"] = json!(uri.path());
    let id = s.new_task(v);
    axum::Json(json!({"code": 200, "message": "success", "task_id": id})).into_response()
}

async fn bpm(State(s): State<Arc<Shared>>) -> Response {
    if let Some(f) = s.submit_failure() {
        return failure_response(f, error_body).await;
    }
    axum::Json(json!({"code": 200, "message": "success", "data": {"bpm": 120.0, "clip_id": "c1"}}))
        .into_response()
}

async fn upload(State(s): State<Arc<Shared>>) -> Response {
    if let Some(f) = s.submit_failure() {
        return failure_response(f, error_body).await;
    }
    axum::Json(json!({"code": 200, "message": "success", "clip_id": "uploaded-1"})).into_response()
}

async fn task(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if let Some(f) = s.status_failure() {
        return failure_response(f, error_body).await;
    }
    let Some((polls, done)) = s.poll(&id) else {
        return (StatusCode::NOT_FOUND, axum::Json(error_body(404))).into_response();
    };
    let path = s.tasks.lock().unwrap()[&id].body["_path"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let state = if !done {
        if polls <= 1 { "pending" } else { "running" }
    } else {
        match s.outcome() {
            Outcome::Success => "succeeded",
            _ => "failed",
        }
    };
    let clip = |n: u32| -> Value {
        let mut c = json!({"clip_id": format!("{id}-clip{n}"), "state": state,
                           "title": "Summer Vibes", "image_url": s.file_url("cover.jpg")});
        if state == "succeeded" {
            if path.ends_with("/midi") {
                c["midi_url"] = json!(s.file_url(&format!("{id}-{n}.mid")));
            } else if path.contains("/stems/") {
                c["vocal_url"] = json!(s.file_url(&format!("{id}-{n}-vocal.wav")));
                c["instrumental_url"] = json!(s.file_url(&format!("{id}-{n}-inst.wav")));
            } else {
                c["audio_url"] = json!(s.file_url(&format!("{id}-{n}.wav")));
            }
        }
        if state == "failed" {
            let moderation = s.outcome() == Outcome::Moderation;
            c["error_type"] = json!(if moderation {
                "moderation"
            } else {
                "generation_failed"
            });
            c["error_message"] = json!(if moderation {
                "Lyrics contain sensitive content"
            } else {
                "Generation failed upstream; credits refunded"
            });
        }
        c
    };
    let clips = if path.contains("/sonic/create") || path.ends_with("/create") {
        vec![clip(1), clip(2)]
    } else {
        vec![clip(1)]
    };
    axum::Json(json!({"code": 200, "message": "success", "data": clips})).into_response()
}
