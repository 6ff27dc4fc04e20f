//! One error type for every provider.

use std::path::PathBuf;
use std::time::Duration;

use super::provider::ProviderKind;

/// What a provider's error means for the caller, independent of the provider's own codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The request was refused as invalid (400, 413, 422 and the providers' validation codes).
    Invalid,
    /// The key is missing, wrong or revoked (401).
    Unauthorized,
    /// Not enough credits or no API access on this plan (402, MusicAPI's 403).
    Credits,
    /// The task or resource does not exist (404).
    NotFound,
    /// Too many requests (429, Suno's 430); retried after `Retry-After` or a back-off.
    RateLimited,
    /// The server failed (5xx); retried with back-off.
    Server,
    /// The content was refused by moderation (Suno's 455 / sensitive words, and similar).
    Moderation,
    /// Anything else the provider reported.
    Other,
}

impl ApiErrorKind {
    /// Whether sending the same request again later can succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, ApiErrorKind::RateLimited | ApiErrorKind::Server)
    }

    /// The kind implied by an HTTP status code alone.
    pub fn from_status(status: u16) -> Self {
        match status {
            400 | 405 | 409 | 413 | 422 => ApiErrorKind::Invalid,
            401 => ApiErrorKind::Unauthorized,
            402 => ApiErrorKind::Credits,
            404 => ApiErrorKind::NotFound,
            429 => ApiErrorKind::RateLimited,
            500..=599 => ApiErrorKind::Server,
            _ => ApiErrorKind::Other,
        }
    }
}

/// Everything that can go wrong in client mode. Messages never contain an API key.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A field of the request breaks the provider's documented rules; nothing was sent.
    #[error("{provider}: invalid field `{field}`: {message}")]
    Validation {
        /// The provider whose rules were applied.
        provider: ProviderKind,
        /// The field, named as the provider's documentation names it.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The configuration is incomplete or wrong (base URL, config file, tuning values).
    #[error("configuration: {0}")]
    Config(String),
    /// No API key was found for the provider.
    #[error("{provider}: no API key: set {env_var} or `api_key` under [{provider}] in {config}")]
    MissingKey {
        /// The provider.
        provider: ProviderKind,
        /// The environment variable that would have been read.
        env_var: String,
        /// The config file that would have been read.
        config: String,
    },
    /// The config file holds a key but can be read by other users.
    #[error(
        "{}: mode {mode:o} lets other users read the API key; run `chmod 600` on it",
        path.display()
    )]
    ConfigFileMode {
        /// The config file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A URL that is not HTTPS and not a loopback host.
    #[error("refusing {url}: only https:// is allowed (http:// only for loopback hosts)")]
    InsecureUrl {
        /// The refused URL (without credentials: keys never go into URLs).
        url: String,
    },
    /// The provider answered with an error (HTTP status or an error code in the body).
    #[error("{provider}: {code} ({status}): {message}")]
    Api {
        /// The provider.
        provider: ProviderKind,
        /// The HTTP status, or the status code from the body when the HTTP status was 200.
        status: u16,
        /// The provider's own error code or type (`insufficient_credits`, `rate_limit`, `430`, ...).
        code: String,
        /// The provider's own message.
        message: String,
        /// What it means.
        kind: ApiErrorKind,
        /// The `Retry-After` the server sent, if any.
        retry_after: Option<Duration>,
    },
    /// The server did not answer in time.
    #[error("{provider}: timed out after {:.1} s waiting for {what}", after.as_secs_f64())]
    Timeout {
        /// The provider.
        provider: ProviderKind,
        /// What was being waited for (the request path).
        what: String,
        /// The timeout.
        after: Duration,
    },
    /// The connection failed.
    #[error("{provider}: network error on {what}: {message}")]
    Network {
        /// The provider.
        provider: ProviderKind,
        /// The request path.
        what: String,
        /// The transport's message.
        message: String,
    },
    /// The server's answer could not be understood.
    #[error("{provider}: unexpected response from {what}: {message}")]
    Malformed {
        /// The provider.
        provider: ProviderKind,
        /// The request path.
        what: String,
        /// What was wrong (with the start of the body).
        message: String,
    },
    /// The provider reports the task as failed.
    #[error("{provider}: task {task_id} failed{}: {message}", code.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    TaskFailed {
        /// The provider.
        provider: ProviderKind,
        /// The provider's task id.
        task_id: String,
        /// The provider's error code, if given.
        code: Option<String>,
        /// The provider's message.
        message: String,
        /// Whether the failure was a moderation refusal.
        moderation: bool,
    },
    /// The provider reports the task as finished but names no result file, not even in the task
    /// record read afterwards; nothing was saved and the job stays resumable.
    #[error(
        "{provider}: task {task_id} finished but its record names no result file; nothing was \
         saved"
    )]
    NoResult {
        /// The provider.
        provider: ProviderKind,
        /// The provider's task id.
        task_id: String,
    },
    /// A result could not be downloaded whole.
    #[error("download of {url} failed: {message}")]
    Download {
        /// The result URL.
        url: String,
        /// Why.
        message: String,
    },
    /// A downloaded result failed its checks (size cap, not audio).
    #[error("{}: rejected: {message}", path.display())]
    Check {
        /// The temporary file that was checked (already removed).
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A job record could not be read or written.
    #[error("job record {}: {message}", path.display())]
    Store {
        /// The record file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The job was cancelled.
    #[error("cancelled")]
    Cancelled,
}

impl ClientError {
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ClientError::Io {
            path: path.into(),
            source,
        }
    }

    /// A validation error.
    pub fn invalid(provider: ProviderKind, field: &str, message: impl Into<String>) -> Self {
        ClientError::Validation {
            provider,
            field: field.to_string(),
            message: message.into(),
        }
    }

    /// A malformed-response error that quotes the start of the body.
    pub fn malformed(provider: ProviderKind, what: &str, message: impl Into<String>) -> Self {
        ClientError::Malformed {
            provider,
            what: what.to_string(),
            message: message.into(),
        }
    }

    /// The kind of a provider error, if this is one.
    pub fn api_kind(&self) -> Option<ApiErrorKind> {
        match self {
            ClientError::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Replaces every occurrence of `secret` in the messages (a server that echoes the key in
    /// an error must not make it reach a log).
    pub(crate) fn redacted(self, secret: &str) -> Self {
        if secret.is_empty() {
            return self;
        }
        let r = |s: String| s.replace(secret, "***");
        match self {
            ClientError::Api {
                provider,
                status,
                code,
                message,
                kind,
                retry_after,
            } => ClientError::Api {
                provider,
                status,
                code: r(code),
                message: r(message),
                kind,
                retry_after,
            },
            ClientError::Malformed {
                provider,
                what,
                message,
            } => ClientError::Malformed {
                provider,
                what,
                message: r(message),
            },
            ClientError::Network {
                provider,
                what,
                message,
            } => ClientError::Network {
                provider,
                what,
                message: r(message),
            },
            ClientError::Download { url, message } => ClientError::Download {
                url: r(url),
                message: r(message),
            },
            ClientError::TaskFailed {
                provider,
                task_id,
                code,
                message,
                moderation,
            } => ClientError::TaskFailed {
                provider,
                task_id,
                code: code.map(r),
                message: r(message),
                moderation,
            },
            other => other,
        }
    }

    /// Whether following a job may go on after this error (transient network or server trouble).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Api { kind, .. } => kind.is_retryable(),
            ClientError::Timeout { .. } | ClientError::Network { .. } => true,
            _ => false,
        }
    }
}

/// The first `n` characters of a response body, for error messages.
pub(crate) fn body_excerpt(body: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        out.push('…');
    }
    out
}
