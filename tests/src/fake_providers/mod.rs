//! Local fake providers (axum on 127.0.0.1) that follow each provider's documented contract,
//! including its failures, for the cloud-client tests.
//!
//! A [`FakeServer`] runs on its own tokio runtime thread, so tests drive the blocking client
//! from the test thread. Every request is logged (method, path, `Authorization` present or not,
//! time); [`Behavior`] scripts failures: errors or malformed bodies before success, 429 storms
//! with `Retry-After`, stalls, failed or moderated tasks, broken SSE streams, truncated or
//! non-audio downloads. Results are small real WAV files generated with hound.

pub mod hanolab;
pub mod minimax;
pub mod musicapi;
pub mod suno;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The key every fake accepts.
pub const TEST_KEY: &str = "sk-test-SECRET-4242-do-not-log";

/// A scripted answer that replaces a normal one.
#[derive(Clone, Debug)]
pub enum Failure {
    /// This HTTP status with the provider's error body for it.
    Status(u16),
    /// A 429 with `Retry-After` (seconds, fractional allowed).
    RateLimited(f64),
    /// A 200 whose body is not JSON.
    Malformed,
    /// Never answers (the client must time out).
    Stall,
}

/// How a task ends.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Succeeds with results.
    Success,
    /// Fails with the provider's failure state.
    Failed,
    /// Refused by moderation.
    Moderation,
}

/// How result files are served.
#[derive(Clone, Debug, PartialEq)]
pub enum DownloadMode {
    /// The whole file.
    Whole,
    /// Cut off half-way the first `n` times (the declared length is the full one).
    TruncateTimes(u32),
    /// Bytes that are not audio.
    NotAudio,
}

/// How the SSE progress stream behaves (HanoLab).
#[derive(Clone, Debug, PartialEq)]
pub enum SseMode {
    /// Progress events, then completion.
    Normal,
    /// The connection breaks after `events` events, the first `times` connections.
    BreakAfter {
        /// Events sent before the break.
        events: u32,
        /// Connections that break.
        times: u32,
    },
    /// The endpoint answers 404 (no stream): the client must poll.
    Missing,
}

/// How MiniMax's generation request answers (both shapes are documented).
#[derive(Clone, Debug, PartialEq)]
pub enum GenerationAnswer {
    /// A generation id, retrieved later.
    Deferred,
    /// The audio at once, hex encoded in `data.audio`.
    InlineHex,
    /// The audio at once, as a URL in `data.audio`.
    InlineUrl,
}

/// How HanoLab's task ends its progress stream and record.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    /// The completed event and the record both carry `output_urls`.
    WithUrls,
    /// The completed progress event carries no `output_urls`; the record does.
    BareEvent,
    /// Neither the completed event nor the record carries `output_urls`.
    NoUrls,
}

/// The script of a fake server.
#[derive(Clone, Debug)]
pub struct Behavior {
    /// Failures answered to submissions, in order, before they succeed.
    pub submit_failures: VecDeque<Failure>,
    /// Failures answered to status polls, in order, before they succeed.
    pub status_failures: VecDeque<Failure>,
    /// Status polls (or SSE progress events) a task stays unfinished.
    pub polls_until_done: u32,
    /// How tasks end.
    pub outcome: Outcome,
    /// How results are served.
    pub download: DownloadMode,
    /// SSE behaviour.
    pub sse: SseMode,
    /// Delay between SSE events.
    pub sse_event_gap: Duration,
    /// Where a finished HanoLab task names its results.
    pub completion: Completion,
    /// How MiniMax's generation request answers.
    pub minimax_answer: GenerationAnswer,
    /// A 429 storm: every request in this window after the first request is refused with this
    /// `Retry-After` (seconds).
    pub storm: Option<(Duration, f64)>,
    /// A careless server: refuses every API request with a 400 whose message quotes the
    /// `Authorization` header (the client must not pass the key on to its errors).
    pub echo_auth: bool,
}

impl Default for Behavior {
    fn default() -> Self {
        Behavior {
            submit_failures: VecDeque::new(),
            status_failures: VecDeque::new(),
            polls_until_done: 2,
            outcome: Outcome::Success,
            download: DownloadMode::Whole,
            sse: SseMode::Normal,
            sse_event_gap: Duration::from_millis(10),
            completion: Completion::WithUrls,
            minimax_answer: GenerationAnswer::Deferred,
            storm: None,
            echo_auth: false,
        }
    }
}

/// One logged request.
#[derive(Clone, Debug)]
pub struct Logged {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Whether the right bearer key was sent.
    pub authorized: bool,
    /// When it arrived.
    pub at: Instant,
    /// The answer's status.
    pub status: u16,
}

/// A task on the fake server.
#[derive(Clone, Debug, Default)]
pub struct FakeTask {
    /// Polls (or SSE events) seen so far.
    pub polls: u32,
    /// The submitted body (JSON or the multipart fields).
    pub body: serde_json::Value,
    /// When the task finished (first time a poll saw it done).
    pub finished_at: Option<Instant>,
}

/// State shared by the handlers.
pub struct Shared {
    /// The script.
    pub behavior: Mutex<Behavior>,
    /// The request log.
    pub log: Mutex<Vec<Logged>>,
    /// Tasks by id.
    pub tasks: Mutex<HashMap<String, FakeTask>>,
    /// Counter for ids.
    pub next_id: Mutex<u64>,
    /// Downloads served per file.
    pub downloads: Mutex<HashMap<String, u32>>,
    /// The server's own base (`http://127.0.0.1:port`).
    pub origin: Mutex<String>,
    /// SSE connections opened.
    pub sse_connections: Mutex<u32>,
    /// The `Last-Event-ID` header of each SSE connection (`None` when absent).
    pub last_event_ids: Mutex<Vec<Option<String>>>,
    /// When the first request arrived (for storms).
    pub first_request: Mutex<Option<Instant>>,
}

impl Shared {
    /// A fresh task id.
    pub fn new_task(&self, body: serde_json::Value) -> String {
        let mut n = self.next_id.lock().unwrap();
        *n += 1;
        let id = format!("task-{:04}", *n);
        self.tasks.lock().unwrap().insert(
            id.clone(),
            FakeTask {
                body,
                ..Default::default()
            },
        );
        id
    }

    /// Counts a poll of `id`; `Some(done)` when the task exists.
    pub fn poll(&self, id: &str) -> Option<(u32, bool)> {
        let limit = self.behavior.lock().unwrap().polls_until_done;
        let mut tasks = self.tasks.lock().unwrap();
        let t = tasks.get_mut(id)?;
        t.polls += 1;
        let done = t.polls > limit;
        if done && t.finished_at.is_none() {
            t.finished_at = Some(Instant::now());
        }
        Some((t.polls, done))
    }

    /// The next scripted failure for submissions.
    pub fn submit_failure(&self) -> Option<Failure> {
        self.behavior.lock().unwrap().submit_failures.pop_front()
    }

    /// The next scripted failure for polls.
    pub fn status_failure(&self) -> Option<Failure> {
        self.behavior.lock().unwrap().status_failures.pop_front()
    }

    /// The task's outcome.
    pub fn outcome(&self) -> Outcome {
        self.behavior.lock().unwrap().outcome.clone()
    }

    /// `http://127.0.0.1:port/files/<name>`.
    pub fn file_url(&self, name: &str) -> String {
        format!("{}/files/{name}", self.origin.lock().unwrap())
    }
}

/// A running fake provider.
pub struct FakeServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    /// Starts a server with `routes` (built by a provider module) and the file and logging
    /// layers.
    pub fn start(behavior: Behavior, routes: fn() -> Router<Arc<Shared>>) -> FakeServer {
        let shared = Arc::new(Shared {
            behavior: Mutex::new(behavior),
            log: Mutex::new(Vec::new()),
            tasks: Mutex::new(HashMap::new()),
            next_id: Mutex::new(0),
            downloads: Mutex::new(HashMap::new()),
            origin: Mutex::new(String::new()),
            sse_connections: Mutex::new(0),
            last_event_ids: Mutex::new(Vec::new()),
            first_request: Mutex::new(None),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("tokio runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                let addr = listener.local_addr().unwrap();
                *state.origin.lock().unwrap() = format!("http://{addr}");
                let app = routes()
                    .route("/files/{name}", get(serve_file))
                    .layer(middleware::from_fn_with_state(state.clone(), gate))
                    .with_state(state.clone());
                addr_tx.send(addr).unwrap();
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = rx => {}
                }
            });
            rt.shutdown_background();
        });
        let addr = addr_rx.recv().expect("fake server address");
        FakeServer {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:port`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The shared state (script, log, tasks).
    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Changes the script.
    pub fn set_behavior(&self, f: impl FnOnce(&mut Behavior)) {
        f(&mut self.shared.behavior.lock().unwrap());
    }

    /// A copy of the request log.
    pub fn log(&self) -> Vec<Logged> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.path.starts_with(prefix))
            .count()
    }

    /// Every request except file downloads.
    pub fn api_requests(&self) -> usize {
        self.log()
            .iter()
            .filter(|l| !l.path.starts_with("/files/"))
            .count()
    }

    /// SSE connections opened.
    pub fn sse_connections(&self) -> u32 {
        *self.shared.sse_connections.lock().unwrap()
    }

    /// The `Last-Event-ID` sent with each SSE connection.
    pub fn last_event_ids(&self) -> Vec<Option<String>> {
        self.shared.last_event_ids.lock().unwrap().clone()
    }

    /// The submitted bodies, oldest first.
    pub fn submitted_bodies(&self) -> Vec<serde_json::Value> {
        let tasks = self.shared.tasks.lock().unwrap();
        let mut ids: Vec<&String> = tasks.keys().collect();
        ids.sort();
        ids.iter().map(|id| tasks[*id].body.clone()).collect()
    }

    /// When the first task finished (as its poll saw it).
    pub fn first_finished_at(&self) -> Option<Instant> {
        self.shared
            .tasks
            .lock()
            .unwrap()
            .values()
            .filter_map(|t| t.finished_at)
            .min()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Logs every request, checks the key (401 with the provider-neutral body `{error, message,
/// status}` unless the route answers itself) and applies 429 storms.
async fn gate(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let authorized = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {TEST_KEY}"));
    let now = Instant::now();
    let first = *shared.first_request.lock().unwrap().get_or_insert(now);
    let (storm, echo_auth) = {
        let b = shared.behavior.lock().unwrap();
        (b.storm, b.echo_auth)
    };
    let auth_header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let response = if echo_auth && !path.starts_with("/files/") {
        let m = format!("malformed header `Authorization: {auth_header}`");
        (
            StatusCode::BAD_REQUEST,
            axum::Json(
                serde_json::json!({"error": m, "message": m, "type": "validation_error",
                                          "status": 400, "msg": m, "code": 400}),
            ),
        )
            .into_response()
    } else if let Some((window, retry_after)) = storm
        && now.duration_since(first) < window
        && !path.starts_with("/files/")
    {
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            axum::Json(serde_json::json!({"type": "rate_limit", "error": "Too many requests", "code": 429})),
        )
            .into_response();
        r.headers_mut().insert(
            header::RETRY_AFTER,
            format!("{retry_after}").parse().unwrap(),
        );
        r
    } else if !authorized && !path.starts_with("/files/") {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({
                "error": "unauthorized", "type": "unauthorized", "code": 401,
                "message": "Invalid or missing API key", "status": 401,
                "base_resp": {"status_code": 1004, "status_msg": "not authorized"}
            })),
        )
            .into_response()
    } else {
        next.run(req).await
    };
    shared.log.lock().unwrap().push(Logged {
        method,
        path,
        authorized,
        at: now,
        status: response.status().as_u16(),
    });
    response
}

/// A small real WAV: 0.25 s of a 440 Hz sine, 8 kHz mono 16-bit.
pub fn wav_bytes(seed: u32) -> Vec<u8> {
    let mut cursor = std::io::Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut cursor, spec).unwrap();
    let f = 440.0 + seed as f32;
    for i in 0..2000 {
        let s = (i as f32 * f * std::f32::consts::TAU / 8000.0).sin() * 0.5;
        w.write_sample((s * i16::MAX as f32) as i16).unwrap();
    }
    w.finalize().unwrap();
    cursor.into_inner()
}

/// Writes a WAV of `seconds` (8 kHz mono) to `path`.
pub fn write_wav(path: &std::path::Path, seconds: f32) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(seconds * 8000.0) as u32 {
        let s = (i as f32 * 330.0 * std::f32::consts::TAU / 8000.0).sin() * 0.3;
        w.write_sample((s * i16::MAX as f32) as i16).unwrap();
    }
    w.finalize().unwrap();
}

async fn serve_file(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> Response {
    let served = {
        let mut d = shared.downloads.lock().unwrap();
        let n = d.entry(name.clone()).or_insert(0);
        *n += 1;
        *n
    };
    let mode = shared.behavior.lock().unwrap().download.clone();
    let seed = name.bytes().map(u32::from).sum::<u32>() % 200;
    let bytes = if name.ends_with(".mid") {
        let mut m = b"MThd\0\0\0\x06\0\0\0\x01\0\x60".to_vec();
        m.extend_from_slice(b"MTrk\0\0\0\x04\0\xff\x2f\0");
        m
    } else {
        wav_bytes(seed)
    };
    match mode {
        DownloadMode::NotAudio => (
            [(header::CONTENT_TYPE, "audio/wav")],
            b"<html>this is not audio</html>".repeat(20),
        )
            .into_response(),
        DownloadMode::TruncateTimes(n) if served <= n => {
            let total = bytes.len();
            let half = bytes[..total / 2].to_vec();
            // The first half is flushed, then the connection is cut.
            let stream = futures_util::stream::unfold(0u8, move |step| {
                let half = half.clone();
                async move {
                    match step {
                        0 => Some((Ok(axum::body::Bytes::from(half)), 1)),
                        1 => {
                            tokio::time::sleep(Duration::from_millis(30)).await;
                            Some((Err(std::io::Error::other("connection cut")), 2))
                        }
                        _ => None,
                    }
                }
            });
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_LENGTH, total.to_string().parse().unwrap());
            (headers, Body::from_stream(stream)).into_response()
        }
        _ => ([(header::CONTENT_TYPE, "audio/wav")], bytes).into_response(),
    }
}

/// The answer to a scripted failure, in a provider's error shape.
pub async fn failure_response(f: Failure, error_body: fn(u16) -> serde_json::Value) -> Response {
    match f {
        Failure::Status(code) => (
            StatusCode::from_u16(code).unwrap(),
            axum::Json(error_body(code)),
        )
            .into_response(),
        Failure::RateLimited(secs) => {
            let mut r =
                (StatusCode::TOO_MANY_REQUESTS, axum::Json(error_body(429))).into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, format!("{secs}").parse().unwrap());
            r
        }
        Failure::Malformed => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"task_id\": \"abc\", oops",
        )
            .into_response(),
        Failure::Stall => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
    }
}

/// A client wired to a fake server, with a job store and an output folder in a temporary
/// directory.
pub struct TestClient {
    /// The client.
    pub client: mixsmith_core::client::Client,
    /// Owns the folders.
    pub dir: tempfile::TempDir,
    /// Where results go.
    pub out: std::path::PathBuf,
}

/// Tiny intervals so tests run in milliseconds; the logic is the same as with the defaults.
pub fn fast_tuning(kind: mixsmith_core::client::ProviderKind) -> mixsmith_core::client::Tuning {
    let mut t = mixsmith_core::client::Tuning::defaults(kind);
    t.min_interval = Duration::ZERO;
    t.poll_interval = Duration::from_millis(10);
    t.max_poll_interval = Duration::from_millis(40);
    t.request_timeout = Duration::from_secs(5);
    t.sse_idle_timeout = Duration::from_secs(2);
    t.sse_reconnects = 2;
    t.max_retries = 4;
    t.retry_backoff = Duration::from_millis(10);
    t.job_deadline = Duration::from_secs(30);
    t
}

/// A client for `kind` on `server` with [`fast_tuning`] changed by `tweak`.
pub fn test_client(
    server: &FakeServer,
    kind: mixsmith_core::client::ProviderKind,
    tweak: impl FnOnce(&mut mixsmith_core::client::Tuning),
) -> TestClient {
    let dir = tempfile::tempdir().unwrap();
    let store = mixsmith_core::client::JobStore::new(dir.path().join("jobs")).unwrap();
    let mut tuning = fast_tuning(kind);
    tweak(&mut tuning);
    let config = mixsmith_core::client::ProviderConfig {
        kind,
        base_url: url_of(&server.origin()),
        api_key: mixsmith_core::client::ApiKey::new(TEST_KEY),
        tuning,
        notices: Vec::new(),
    };
    let client = mixsmith_core::client::Client::new(&config, store).unwrap();
    let out = dir.path().join("out");
    TestClient { client, dir, out }
}

fn url_of(s: &str) -> url::Url {
    url::Url::parse(s).unwrap()
}

/// Runs a job to its end, collecting its events.
pub fn run_job(
    tc: &TestClient,
    request: mixsmith_core::client::JobRequest,
) -> (
    mixsmith_core::client::JobOutcome,
    Vec<mixsmith_core::client::JobEvent>,
) {
    let handle = tc.client.start(request, &tc.out).expect("job starts");
    let events: Vec<_> = handle.events().iter().collect();
    let outcome = handle.wait();
    (outcome, events)
}

/// The files in a folder (names), sorted; hidden temporary files included.
pub fn files_in(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The `mixsmith` CLI binary: `MIXSMITH_CLI` if set, else `<workspace>/target/debug/mixsmith`
/// (built by `cargo test --workspace` / `cargo xtask test`, or `cargo build -p mixsmith`).
pub fn cli_binary() -> std::path::PathBuf {
    let path = match std::env::var_os("MIXSMITH_CLI") {
        Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
        _ => crate::paths::workspace_root()
            .join("target")
            .join("debug")
            .join("mixsmith"),
    };
    assert!(
        path.is_file(),
        "CLI binary {} not found: run `cargo build -p mixsmith` (cargo xtask test builds it)",
        path.display()
    );
    path
}
