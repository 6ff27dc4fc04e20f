//! Where a provider lives, its key and its timing knobs.
//!
//! Base URL: `--base-url`, else `MIXSMITH_<PROVIDER>_BASE_URL`, else `base_url` under
//! `[<provider>]` in the config file (`<config dir>/mixsmith/config.toml`). The providers'
//! documentation gives no fixed hosts, so there is no built-in default. For every provider the
//! base URL is the API host (`https://host`, a trailing `/` allowed); the documented paths
//! (`/api/v1/...`, `/v2/...`) are appended to it. A base URL ending with `/api/v1` (the old
//! Suno-style form) is read as its host, with a notice in [`ProviderConfig::notices`].
//!
//! Key: `MIXSMITH_<PROVIDER>_API_KEY`, else `api_key` in the config file, which is refused unless
//! only its owner can read it (mode 0600 or stricter).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::error::ClientError;
use super::provider::ProviderKind;
use super::secret::ApiKey;

/// The default config file: `<config dir>/mixsmith/config.toml` (`$XDG_CONFIG_HOME` on Linux).
pub fn config_file_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("mixsmith").join("config.toml"))
}

/// Timing and limits for one provider. Defaults follow each provider's documentation; tests and
/// users can shrink or widen them in the config file.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuning {
    /// Minimum time between two requests to the provider (client-side rate limiter).
    pub min_interval: Duration,
    /// Jobs of this provider followed at once (the plan's concurrency cap).
    pub max_concurrent: usize,
    /// First polling interval.
    pub poll_interval: Duration,
    /// Longest polling interval the back-off grows to.
    pub max_poll_interval: Duration,
    /// Timeout of every request (until the headers, and for each read of a body).
    pub request_timeout: Duration,
    /// How long an SSE stream may stay silent before it counts as broken.
    pub sse_idle_timeout: Duration,
    /// SSE reconnections before falling back to polling.
    pub sse_reconnects: u32,
    /// Retries of one request after 429 / 5xx / connection errors.
    pub max_retries: u32,
    /// First back-off after a failed request (doubles, with jitter, up to `max_poll_interval`).
    pub retry_backoff: Duration,
    /// Largest result file accepted.
    pub max_download_bytes: u64,
    /// Give up following a job after this long.
    pub job_deadline: Duration,
}

impl Tuning {
    /// The documented defaults of a provider.
    pub fn defaults(kind: ProviderKind) -> Self {
        let base = Tuning {
            min_interval: Duration::from_millis(200),
            max_concurrent: 5,
            poll_interval: Duration::from_secs(5),
            max_poll_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            sse_idle_timeout: Duration::from_secs(90),
            sse_reconnects: 3,
            max_retries: 5,
            retry_backoff: Duration::from_secs(2),
            max_download_bytes: 512 * 1024 * 1024,
            job_deadline: Duration::from_secs(60 * 60),
        };
        match kind {
            // Creator plan: 5 concurrent jobs (Pro: 20, set `max_concurrent`).
            ProviderKind::Hanolab => Tuning {
                poll_interval: Duration::from_secs(3),
                ..base
            },
            // Standard plan: 1 request per 3 s; "poll every 15-25 seconds".
            ProviderKind::Musicapi => Tuning {
                min_interval: Duration::from_secs(3),
                poll_interval: Duration::from_secs(15),
                max_poll_interval: Duration::from_secs(25),
                ..base
            },
            ProviderKind::Suno => Tuning {
                poll_interval: Duration::from_secs(10),
                ..base
            },
            // "usually done in 50-60 s".
            ProviderKind::Minimax => Tuning {
                poll_interval: Duration::from_secs(10),
                max_poll_interval: Duration::from_secs(20),
                ..base
            },
        }
    }

    fn apply(&mut self, t: &ProviderSection) {
        let ms = Duration::from_millis;
        if let Some(v) = t.min_interval_ms {
            self.min_interval = ms(v);
        }
        if let Some(v) = t.max_concurrent {
            self.max_concurrent = v.max(1);
        }
        if let Some(v) = t.poll_interval_ms {
            self.poll_interval = ms(v);
        }
        if let Some(v) = t.max_poll_interval_ms {
            self.max_poll_interval = ms(v);
        }
        if let Some(v) = t.request_timeout_ms {
            self.request_timeout = ms(v.max(1));
        }
        if let Some(v) = t.sse_idle_timeout_ms {
            self.sse_idle_timeout = ms(v.max(1));
        }
        if let Some(v) = t.sse_reconnects {
            self.sse_reconnects = v;
        }
        if let Some(v) = t.max_retries {
            self.max_retries = v;
        }
        if let Some(v) = t.retry_backoff_ms {
            self.retry_backoff = ms(v);
        }
        if let Some(v) = t.max_download_mb {
            self.max_download_bytes = v.saturating_mul(1024 * 1024);
        }
        if let Some(v) = t.job_deadline_s {
            self.job_deadline = Duration::from_secs(v);
        }
    }
}

/// One `[<provider>]` table of the config file: `base_url`, `api_key` and the tuning keys.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSection {
    base_url: Option<String>,
    api_key: Option<String>,
    min_interval_ms: Option<u64>,
    max_concurrent: Option<usize>,
    poll_interval_ms: Option<u64>,
    max_poll_interval_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    sse_idle_timeout_ms: Option<u64>,
    sse_reconnects: Option<u32>,
    max_retries: Option<u32>,
    retry_backoff_ms: Option<u64>,
    max_download_mb: Option<u64>,
    job_deadline_s: Option<u64>,
}

/// The parsed config file (`[hanolab]`, `[musicapi]`, `[suno]`, `[minimax]` tables).
#[derive(Clone, Default)]
pub struct ConfigFile {
    path: Option<PathBuf>,
    sections: BTreeMap<String, ProviderSection>,
    /// Permission bits of the file (Unix), for the key check.
    mode: Option<u32>,
}

impl std::fmt::Debug for ConfigFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigFile")
            .field("path", &self.path)
            .field("providers", &self.sections.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ConfigFile {
    /// Reads a config file; a missing file is an empty configuration.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ConfigFile {
                    path: Some(path.to_path_buf()),
                    ..Default::default()
                });
            }
            Err(e) => return Err(ClientError::io(path, e)),
        };
        let sections: BTreeMap<String, ProviderSection> = toml::from_str(&text)
            .map_err(|e| ClientError::Config(format!("{}: {}", path.display(), e.message())))?;
        for name in sections.keys() {
            if ProviderKind::from_id(name).is_none() {
                return Err(ClientError::Config(format!(
                    "{}: unknown provider table [{name}] (expected hanolab, musicapi, suno or minimax)",
                    path.display()
                )));
            }
        }
        let mode = file_mode(path)?;
        Ok(ConfigFile {
            path: Some(path.to_path_buf()),
            sections,
            mode,
        })
    }

    /// Reads the default config file (see [`config_file_path`]).
    pub fn load_default() -> Result<Self, ClientError> {
        match config_file_path() {
            Some(p) => Self::load(&p),
            None => Ok(ConfigFile::default()),
        }
    }

    fn display_path(&self) -> String {
        self.path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "the config file".into())
    }
}

#[cfg(unix)]
fn file_mode(path: &Path) -> Result<Option<u32>, ClientError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| ClientError::io(path, e))?;
    Ok(Some(meta.permissions().mode() & 0o7777))
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> Result<Option<u32>, ClientError> {
    Ok(None)
}

/// Everything needed to talk to one provider.
#[derive(Clone, Debug)]
pub struct ProviderConfig {
    /// The provider.
    pub kind: ProviderKind,
    /// Its base URL (HTTPS, or HTTP on a loopback host).
    pub base_url: Url,
    /// Its API key.
    pub api_key: ApiKey,
    /// Timing and limits.
    pub tuning: Tuning,
    /// What the user should be told about this configuration (an old base URL form that was
    /// rewritten); empty when there is nothing to say.
    pub notices: Vec<String>,
}

/// Resolves [`ProviderConfig`]s from flags, the environment and a [`ConfigFile`].
#[derive(Clone, Debug, Default)]
pub struct ClientConfig {
    /// The config file (possibly empty).
    pub file: ConfigFile,
}

impl ClientConfig {
    /// Loads the default config file.
    pub fn load_default() -> Result<Self, ClientError> {
        Ok(ClientConfig {
            file: ConfigFile::load_default()?,
        })
    }

    /// Loads a given config file.
    pub fn load(path: &Path) -> Result<Self, ClientError> {
        Ok(ClientConfig {
            file: ConfigFile::load(path)?,
        })
    }

    /// The configuration of `kind`: `base_url_flag` (e.g. `--base-url`) wins over the
    /// environment, which wins over the file.
    pub fn provider(
        &self,
        kind: ProviderKind,
        base_url_flag: Option<&str>,
    ) -> Result<ProviderConfig, ClientError> {
        self.provider_with_env(kind, base_url_flag, |k| std::env::var(k).ok())
    }

    /// As [`ClientConfig::provider`], reading variables through `env` (for tests).
    pub fn provider_with_env(
        &self,
        kind: ProviderKind,
        base_url_flag: Option<&str>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<ProviderConfig, ClientError> {
        let section = self
            .file
            .sections
            .get(kind.id())
            .cloned()
            .unwrap_or_default();
        let base_var = format!("{}_BASE_URL", kind.env_prefix());
        let key_var = format!("{}_API_KEY", kind.env_prefix());
        let base = base_url_flag
            .map(str::to_string)
            .or_else(|| env(&base_var).filter(|s| !s.trim().is_empty()))
            .or(section.base_url.clone())
            .or_else(|| kind.default_base_url().map(str::to_string))
            .ok_or_else(|| {
                ClientError::Config(format!(
                    "{kind}: no base URL: the provider's documentation names no fixed host; pass \
                     --base-url, set {base_var}, or set `base_url` under [{}] in {}",
                    kind.id(),
                    self.file.display_path()
                ))
            })?;
        let (base_url, notice) = host_base_url(kind, parse_base_url(&base)?);

        if section.api_key.is_some()
            && let Some(mode) = self.file.mode
            && mode & 0o077 != 0
        {
            return Err(ClientError::ConfigFileMode {
                path: self.file.path.clone().unwrap_or_default(),
                mode,
            });
        }
        let key = env(&key_var)
            .filter(|s| !s.trim().is_empty())
            .or(section.api_key.clone())
            .map(ApiKey::new)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ClientError::MissingKey {
                provider: kind,
                env_var: key_var.clone(),
                config: self.file.display_path(),
            })?;
        let mut tuning = Tuning::defaults(kind);
        tuning.apply(&section);
        Ok(ProviderConfig {
            kind,
            base_url,
            api_key: key,
            tuning,
            notices: notice.into_iter().collect(),
        })
    }
}

/// Parses a base URL and applies the HTTPS-only rule.
pub(crate) fn parse_base_url(s: &str) -> Result<Url, ClientError> {
    let url = Url::parse(s.trim())
        .map_err(|e| ClientError::Config(format!("base URL `{s}` is not a URL: {e}")))?;
    check_url_scheme(&url)?;
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() {
        return Err(ClientError::Config(format!(
            "base URL `{}` must not carry credentials or a query",
            url.host_str().unwrap_or("?")
        )));
    }
    Ok(url)
}

/// The API host of a configured base URL: a trailing `/` is dropped, and so is the provider's
/// `/api/v1` prefix (the old Suno-style form), which yields the notice returned alongside.
pub(crate) fn host_base_url(kind: ProviderKind, mut url: Url) -> (Url, Option<String>) {
    let path = url.path().trim_end_matches('/').to_string();
    let Some(stripped) = kind.api_prefix().and_then(|p| path.strip_suffix(p)) else {
        url.set_path(&path);
        return (url, None);
    };
    let old = url.clone();
    url.set_path(stripped);
    let notice = format!(
        "{kind}: the base URL is the API host; `{}` ends with `{}`, which the client now adds \
         itself, so `{}` is used (update the setting to silence this notice)",
        old.as_str().trim_end_matches('/'),
        kind.api_prefix().unwrap_or_default(),
        url.as_str().trim_end_matches('/')
    );
    (url, Some(notice))
}

/// HTTPS only, except for loopback hosts (`localhost`, 127.0.0.0/8, `::1`).
pub(crate) fn check_url_scheme(url: &Url) -> Result<(), ClientError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(url) => Ok(()),
        _ => {
            let mut shown = url.clone();
            shown.set_query(None);
            let _ = shown.set_password(None);
            let _ = shown.set_username("");
            Err(ClientError::InsecureUrl {
                url: shown.to_string(),
            })
        }
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}
