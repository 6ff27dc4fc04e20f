//! The provider trait and the list of providers.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::ClientError;
use super::http::Http;
use super::limit::CancelFlag;
use super::request::JobRequest;
use super::task::{RemoteTask, TaskStatus};

/// The providers Mixsmith speaks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// HanoLab (music, voice, toolkit; tasks with an SSE progress stream).
    Hanolab,
    /// MusicAPI (Sonic, Producer, Nuro).
    Musicapi,
    /// Suno-style generate API.
    Suno,
    /// MiniMax music-01 through a reseller API.
    Minimax,
}

impl ProviderKind {
    /// Every provider.
    pub const ALL: [ProviderKind; 4] = [
        ProviderKind::Hanolab,
        ProviderKind::Musicapi,
        ProviderKind::Suno,
        ProviderKind::Minimax,
    ];

    /// The lower-case id used in flags, config tables and job records.
    pub fn id(self) -> &'static str {
        match self {
            ProviderKind::Hanolab => "hanolab",
            ProviderKind::Musicapi => "musicapi",
            ProviderKind::Suno => "suno",
            ProviderKind::Minimax => "minimax",
        }
    }

    /// Parses an id.
    pub fn from_id(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.id() == s.to_ascii_lowercase())
    }

    /// `MIXSMITH_<PROVIDER>`, the prefix of its environment variables.
    pub fn env_prefix(self) -> String {
        format!("MIXSMITH_{}", self.id().to_ascii_uppercase())
    }

    /// The documented base URL, where the documentation names one (none of the four does).
    pub fn default_base_url(self) -> Option<&'static str> {
        None
    }

    /// The prefix all of this provider's documented paths share, when it is `/api/v1`. The base
    /// URL is the API host alone; one that ends with this prefix (the form the Suno-style
    /// provider used to take) has it stripped, with a notice.
    pub fn api_prefix(self) -> Option<&'static str> {
        match self {
            ProviderKind::Hanolab | ProviderKind::Musicapi | ProviderKind::Suno => Some("/api/v1"),
            ProviderKind::Minimax => None,
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        ProviderKind::from_id(s).ok_or_else(|| {
            format!("unknown provider `{s}` (expected hanolab, musicapi, suno or minimax)")
        })
    }
}

/// An iterator of task states (with the SSE event id, for resuming) read from a progress
/// stream; it ends when the stream ends.
pub type ProgressStream =
    Box<dyn Iterator<Item = Result<(TaskStatus, Option<String>), ClientError>> + Send>;

/// One cloud provider: request mapping, validation, submission, following.
pub trait Provider: Send + Sync + fmt::Debug {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// Checks `req` against the provider's documented rules; nothing is sent. The error names
    /// the offending field.
    fn validate(&self, req: &JobRequest) -> Result<(), ClientError>;

    /// The JSON body `req` maps to (after validation), for inspection and dry runs. Multi-step
    /// providers return the body of their main request.
    fn request_body(&self, req: &JobRequest) -> Result<serde_json::Value, ClientError>;

    /// Validates and submits `req`; returns the remote task to follow.
    fn submit(
        &self,
        http: &Http,
        req: &JobRequest,
        cancel: &CancelFlag,
    ) -> Result<RemoteTask, ClientError>;

    /// Polls the task once.
    fn status(
        &self,
        http: &Http,
        task: &RemoteTask,
        cancel: &CancelFlag,
    ) -> Result<TaskStatus, ClientError>;

    /// Whether the provider offers a progress stream.
    fn progress_stream_supported(&self) -> bool {
        false
    }

    /// Opens the provider's progress stream (SSE), if it has one. `last_event_id` resumes a
    /// broken stream.
    fn progress_stream(
        &self,
        _http: &Http,
        _task: &RemoteTask,
        _last_event_id: Option<&str>,
        _cancel: &CancelFlag,
    ) -> Option<Result<ProgressStream, ClientError>> {
        None
    }
}

/// The implementation of a provider.
pub fn provider_for(kind: ProviderKind) -> Box<dyn Provider> {
    match kind {
        ProviderKind::Hanolab => Box::new(super::hanolab::HanoLab),
        ProviderKind::Musicapi => Box::new(super::musicapi::MusicApi),
        ProviderKind::Suno => Box::new(super::suno::Suno),
        ProviderKind::Minimax => Box::new(super::minimax::MiniMax),
    }
}
