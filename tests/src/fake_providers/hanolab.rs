//! Fake HanoLab: `POST /api/v1/{music/generate, voice/convert, voice/clone, toolkit/separate,
//! toolkit/master}` -> `{task_id}`; `GET /api/v1/tasks/{id}`; SSE `GET
//! /api/v1/tasks/{id}/progress`; errors `{error, message, status}`. A completed task names its
//! results in `output_urls` of the record and of the last progress event, unless
//! [`super::Behavior::completion`] leaves them out.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Completion, Failure, Outcome, Shared, SseMode, failure_response};

/// The error body for a status.
pub fn error_body(status: u16) -> Value {
    let (error, message) = match status {
        401 => ("unauthorized", "Invalid API key."),
        402 => (
            "insufficient_credits",
            "Your plan does not have enough credits.",
        ),
        403 => (
            "forbidden",
            "API access requires the Creator plan or above.",
        ),
        404 => ("not_found", "Task not found."),
        429 => ("rate_limited", "Too many concurrent jobs for your plan."),
        _ => ("internal_error", "Something went wrong."),
    };
    json!({"error": error, "message": message, "status": status})
}

/// The routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/api/v1/music/generate", post(submit))
        .route("/api/v1/voice/convert", post(submit))
        .route("/api/v1/voice/clone", post(submit))
        .route("/api/v1/toolkit/separate", post(submit))
        .route("/api/v1/toolkit/master", post(submit))
        .route("/api/v1/tasks/{id}", get(status))
        .route("/api/v1/tasks/{id}/progress", get(progress))
}

async fn submit(State(s): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    if let Some(f) = s.submit_failure() {
        return failure_response(f, error_body).await;
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, axum::Json(error_body(400))).into_response();
    };
    let id = s.new_task(v);
    axum::Json(json!({"task_id": id, "status": "queued"})).into_response()
}

/// Where a task's state is read: the task record, or an event of the progress stream.
#[derive(Clone, Copy, PartialEq)]
enum View {
    Record,
    Event,
}

fn record(s: &Shared, id: &str, polls: u32, done: bool, view: View) -> Value {
    if !done {
        return json!({"id": id, "status": if polls <= 1 { "queued" } else { "processing" },
                      "progress": (polls * 100 / (s.behavior.lock().unwrap().polls_until_done + 1)).min(99)});
    }
    match s.outcome() {
        Outcome::Success => {
            let body = s.tasks.lock().unwrap()[id].body.clone();
            let urls: Vec<String> = match body.get("stems").and_then(Value::as_array) {
                Some(stems) => stems
                    .iter()
                    .map(|st| s.file_url(&format!("{id}-{}.wav", st.as_str().unwrap_or("x"))))
                    .collect(),
                None => vec![s.file_url(&format!("{id}.wav"))],
            };
            let completion = s.behavior.lock().unwrap().completion.clone();
            match (completion, view) {
                (Completion::WithUrls, _) | (Completion::BareEvent, View::Record) => {
                    json!({"id": id, "status": "completed", "progress": 100, "output_urls": urls})
                }
                _ => json!({"id": id, "status": "completed", "progress": 100}),
            }
        }
        Outcome::Failed => json!({"id": id, "status": "failed", "error": "generation_failed",
                                  "message": "The model could not render this prompt."}),
        Outcome::Moderation => json!({"id": id, "status": "failed", "error": "content_moderation",
                                      "message": "The prompt was refused by moderation."}),
    }
}

async fn status(State(s): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    if let Some(f) = s.status_failure() {
        return failure_response(f, error_body).await;
    }
    match s.poll(&id) {
        None => (StatusCode::NOT_FOUND, axum::Json(error_body(404))).into_response(),
        Some((polls, done)) => {
            axum::Json(record(&s, &id, polls, done, View::Record)).into_response()
        }
    }
}

async fn progress(
    State(s): State<Arc<Shared>>,
    Path(id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    s.last_event_ids.lock().unwrap().push(
        headers
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    );
    let (mode, gap) = {
        let b = s.behavior.lock().unwrap();
        (b.sse.clone(), b.sse_event_gap)
    };
    if mode == SseMode::Missing {
        return (StatusCode::NOT_FOUND, axum::Json(error_body(404))).into_response();
    }
    if !s.tasks.lock().unwrap().contains_key(&id) {
        return (StatusCode::NOT_FOUND, axum::Json(error_body(404))).into_response();
    }
    let connection = {
        let mut c = s.sse_connections.lock().unwrap();
        *c += 1;
        *c
    };
    let break_after = match mode {
        SseMode::BreakAfter { events, times } if connection <= times => Some(events),
        _ => None,
    };
    let stream = futures_util::stream::unfold((0u32, false), move |(sent, finished)| {
        let s = s.clone();
        let id = id.clone();
        async move {
            if finished {
                return None;
            }
            if break_after == Some(sent) {
                return Some((Err(std::io::Error::other("stream cut")), (sent, true)));
            }
            tokio::time::sleep(gap).await;
            let (polls, done) = s.poll(&id)?;
            let data = record(&s, &id, polls, done, View::Event);
            let event = if done { "completed" } else { "progress" };
            let text = format!("id: {polls}\nevent: {event}\ndata: {data}\n\n");
            Some((
                Ok::<_, std::io::Error>(axum::body::Bytes::from(text)),
                (sent + 1, done),
            ))
        }
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// A failure answered by the next submission (for tests that script them).
pub fn credits() -> Failure {
    Failure::Status(402)
}
