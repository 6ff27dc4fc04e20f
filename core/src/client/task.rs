//! Task states common to every provider.

use serde::{Deserialize, Serialize};

/// The state of a remote task, mapped from each provider's own states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Accepted, not started (`pending`, `queued`, `PENDING`).
    Queued,
    /// Being processed (`running`, `processing`, `TEXT_SUCCESS`, `FIRST_SUCCESS`).
    Running,
    /// Finished; the outputs can be downloaded.
    Succeeded,
    /// Finished without a result.
    Failed,
}

impl TaskState {
    /// Whether the task will not change any more.
    pub fn is_terminal(self) -> bool {
        matches!(self, TaskState::Succeeded | TaskState::Failed)
    }
}

/// What kind of file an output is, which decides how it is checked after download.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputKind {
    /// Audio: must decode as audio.
    Audio,
    /// A standard MIDI file: must start with `MThd`.
    Midi,
    /// A JSON document (lyrics, BPM, timelines, ids): must parse as JSON.
    Json,
}

impl OutputKind {
    /// The file extension used when the URL does not give one.
    pub fn default_extension(self) -> &'static str {
        match self {
            OutputKind::Audio => "mp3",
            OutputKind::Midi => "mid",
            OutputKind::Json => "json",
        }
    }
}

/// Where an output's bytes come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputSource {
    /// Download from this URL (HTTPS, or HTTP on loopback).
    Url(String),
    /// The bytes are in the response, hex encoded (MiniMax's `data.audio`).
    Hex(String),
    /// The bytes are in the response as text (JSON results).
    Text(String),
}

/// One result of a finished task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Where to get it.
    pub source: OutputSource,
    /// A name suggested by the provider (title, clip id, stem name); sanitised before use.
    pub name: String,
    /// What it is.
    pub kind: OutputKind,
}

/// A snapshot of a remote task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The common state.
    pub state: TaskState,
    /// The provider's own state word.
    pub provider_state: String,
    /// Progress in 0..=1 when the provider reports it.
    pub progress: Option<f32>,
    /// The results (complete only once `state` is `Succeeded`).
    pub outputs: Vec<Output>,
    /// The provider's error code when failed.
    pub error_code: Option<String>,
    /// The provider's message when failed (or a status note).
    pub message: Option<String>,
    /// Whether a failure was a moderation refusal.
    pub moderation: bool,
}

impl TaskStatus {
    /// Whether the outputs hold the job's result: at least one output, and a media file (not
    /// only a JSON document) when `media` is expected.
    pub fn delivers(&self, media: bool) -> bool {
        if media {
            self.outputs.iter().any(|o| o.kind != OutputKind::Json)
        } else {
            !self.outputs.is_empty()
        }
    }

    /// A status with just a state.
    pub fn new(state: TaskState, provider_state: impl Into<String>) -> Self {
        TaskStatus {
            state,
            provider_state: provider_state.into(),
            progress: None,
            outputs: Vec::new(),
            error_code: None,
            message: None,
            moderation: false,
        }
    }
}

/// A task as the provider knows it: what is needed to follow it after a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoteTask {
    /// The provider's task id (MusicAPI `task_id`, Suno `taskId`, HanoLab task id, MiniMax
    /// generation id).
    pub id: String,
    /// The endpoint family that follows it (`sonic`, `producer`, `nuro` for MusicAPI; empty
    /// otherwise).
    #[serde(default)]
    pub family: String,
    /// A result that came with the submission itself (operations without a task).
    #[serde(default)]
    pub immediate: Option<TaskStatus>,
}

/// Normalises a progress figure that may be a fraction or a percentage.
pub(crate) fn normalize_progress(v: f64) -> Option<f32> {
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let f = if v > 1.0 { v / 100.0 } else { v };
    Some(f.clamp(0.0, 1.0) as f32)
}
