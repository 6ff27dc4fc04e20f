//! Cloud providers for text-to-music generation and their extra operations.
//!
//! One [`Provider`] trait and one module per provider ([`hanolab`], [`musicapi`], [`suno`],
//! [`minimax`]). Each maps the common [`GenerateRequest`] (or its own extra operations) to its
//! schema, its errors to [`ClientError`] (keeping the provider's code and message) and its task
//! states to [`TaskState`]. The documented validation rules are checked before any request is sent.
//!
//! A [`Client`] owns one provider's HTTP connection, its rate limiter and its concurrency cap, and
//! starts [`JobHandle`]s: a background thread that submits the job, follows it (SSE where the
//! provider offers it, reconnecting and then falling back to polling; otherwise polling with
//! back-off), and downloads the results to a temporary file that is checked (size cap, decodes as
//! audio) and then renamed into the output folder. Job records are kept in a [`JobStore`] (the
//! user data folder by default), so a restarted DAW or CLI resumes following and downloading.
//!
//! Nothing here blocks an audio thread: every call is blocking I/O meant for worker threads, and a
//! [`JobHandle`] is observed through a channel of [`JobEvent`]s and an atomically updated
//! snapshot.
//!
//! ```no_run
//! use mixsmith_core::client::{
//!     Client, ClientConfig, GenerateRequest, JobEvent, JobRequest, JobStore, ProviderKind,
//! };
//! # fn main() -> Result<(), mixsmith_core::client::ClientError> {
//! // Once per provider (e.g. when the Generate tab opens), off the audio thread:
//! let config = ClientConfig::load_default()?.provider(ProviderKind::Suno, None)?;
//! let client = Client::new(&config, JobStore::open_default()?)?;
//! // Validation errors come back at once and name the field; nothing is sent then.
//! let request = JobRequest::Generate(GenerateRequest {
//!     prompt: Some("a calm piano piece".into()),
//!     ..Default::default()
//! });
//! let handle = client.start(request, std::path::Path::new("/tmp/generated"))?;
//! // A GUI reads `handle.snapshot()` each frame (lock-free) or drains the channel:
//! for event in handle.events().try_iter() {
//!     if let JobEvent::Saved { path } = event {
//!         println!("{}", path.display());
//!     }
//! }
//! // Dropping the handle stops following (resumable later with `client.resume(id)`);
//! // `handle.cancel()` cancels the job.
//! # Ok(()) }
//! ```
//!
//! Keys ([`ApiKey`]) come from `MIXSMITH_<PROVIDER>_API_KEY` or the user config file (refused
//! unless its mode is 0600); they are redacted in `Debug`, never serialized and never put into job
//! records, events or error messages. Only HTTPS is spoken, except to loopback hosts.

mod config;
mod download;
mod error;
mod follow;
mod http;
mod jsonx;
mod limit;
mod provider;
mod request;
mod rules;
mod secret;
mod sse;
mod store;
mod task;

pub mod hanolab;
pub mod minimax;
pub mod musicapi;
pub mod suno;

#[cfg(test)]
mod tests;

pub use config::{ClientConfig, ConfigFile, ProviderConfig, Tuning, config_file_path};
pub use download::{DownloadLimits, sanitize_file_name};
pub use error::{ApiErrorKind, ClientError};
pub use follow::{Client, JobEvent, JobHandle, JobOutcome, JobSnapshot};
pub use http::{Http, RequestStats};
pub use limit::{CancelFlag, ConcurrencyCap, RateLimiter};
pub use provider::{Provider, ProviderKind, provider_for};
pub use request::{GenerateRequest, JobRequest, Purpose, Reference};
pub use secret::ApiKey;
pub use sse::{SseEvent, SseReader};
pub use store::{JobLock, JobPhase, JobRecord, JobStore, SavedFile, default_jobs_dir};
pub use task::{Output, OutputKind, RemoteTask, TaskState, TaskStatus};
