//! The HTTP layer shared by all providers: HTTPS only (loopback excepted), a timeout on every
//! request, the client-side rate limiter, retries with back-off after 429 / 5xx / connection
//! errors, and `Retry-After`.

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::blocking::{Client as ReqwestClient, Response, multipart::Form};
use reqwest::{Method, header};
use serde_json::Value;
use url::Url;

use super::config::{ProviderConfig, Tuning, check_url_scheme};
use super::error::{ApiErrorKind, ClientError};
use super::limit::{CancelFlag, RateLimiter};
use super::provider::ProviderKind;
use super::secret::ApiKey;

/// Largest JSON body read into memory.
const MAX_JSON_BYTES: u64 = 32 * 1024 * 1024;

/// Counters of what was sent to one provider (for diagnostics and the figures in the notes).
#[derive(Debug, Default)]
pub struct RequestStats {
    sent: AtomicU64,
    rate_limited: AtomicU64,
    retries: AtomicU64,
}

impl RequestStats {
    /// Requests sent (every attempt counts).
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    /// Responses that were rate-limit refusals.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
    /// Attempts that were retries of an earlier one.
    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }
}

/// A request body.
#[derive(Clone)]
pub(crate) enum Body {
    /// No body.
    None,
    /// A JSON body.
    Json(Value),
    /// A multipart form, rebuilt for each attempt.
    Multipart(Arc<dyn Fn() -> Result<Form, ClientError> + Send + Sync>),
}

/// One request as the retry loop sees it.
#[derive(Clone)]
pub(crate) struct Req {
    pub method: Method,
    pub url: Url,
    pub body: Body,
    /// Whether sending it twice is harmless (GETs; not task creation after a timeout).
    pub idempotent: bool,
    /// Timeout for the headers and for each body read (default: the tuning's request timeout).
    pub timeout: Option<Duration>,
    /// Extra headers (e.g. `Accept: text/event-stream`, `Last-Event-ID`).
    pub headers: Vec<(header::HeaderName, String)>,
    /// Whether to retry at all (SSE connections handle their own reconnection).
    pub retry: bool,
}

impl Req {
    pub fn get(url: Url) -> Self {
        Req {
            method: Method::GET,
            url,
            body: Body::None,
            idempotent: true,
            timeout: None,
            headers: Vec::new(),
            retry: true,
        }
    }

    pub fn post_json(url: Url, body: Value) -> Self {
        Req {
            method: Method::POST,
            url,
            body: Body::Json(body),
            idempotent: false,
            timeout: None,
            headers: Vec::new(),
            retry: true,
        }
    }
}

/// Parses a response (status, body) into JSON or the provider's error.
pub(crate) type ParseFn<'a> = &'a dyn Fn(u16, &[u8]) -> Result<Value, ClientError>;

/// A provider's HTTP connection. Cheap to share: the limiter and statistics are reference
/// counted, the connection pool is inside `reqwest`'s client.
#[derive(Clone)]
pub struct Http {
    kind: ProviderKind,
    base: Url,
    key: ApiKey,
    client: ReqwestClient,
    limiter: Arc<RateLimiter>,
    tuning: Tuning,
    stats: Arc<RequestStats>,
}

impl std::fmt::Debug for Http {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Http")
            .field("provider", &self.kind)
            .field("base", &self.base.as_str())
            .field("key", &self.key)
            .finish()
    }
}

impl Http {
    /// Builds the connection for a provider.
    pub fn new(config: &ProviderConfig) -> Result<Self, ClientError> {
        check_url_scheme(&config.base_url)?;
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if check_url_scheme(attempt.url()).is_err() {
                attempt.error("redirect to a non-HTTPS URL refused")
            } else {
                attempt.follow()
            }
        });
        let client = ReqwestClient::builder()
            .user_agent(concat!("mixsmith/", env!("CARGO_PKG_VERSION")))
            .timeout(config.tuning.request_timeout)
            .connect_timeout(config.tuning.request_timeout)
            .redirect(policy)
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {e}")))?;
        Ok(Http {
            kind: config.kind,
            base: config.base_url.clone(),
            key: config.api_key.clone(),
            client,
            limiter: Arc::new(RateLimiter::new(config.tuning.min_interval)),
            tuning: config.tuning.clone(),
            stats: Arc::new(RequestStats::default()),
        })
    }

    /// The provider.
    pub fn kind(&self) -> ProviderKind {
        self.kind
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The timing knobs.
    pub fn tuning(&self) -> &Tuning {
        &self.tuning
    }

    /// What has been sent so far.
    pub fn stats(&self) -> &RequestStats {
        &self.stats
    }

    /// `base` + `path` (the base's own path is kept: `https://h/api` + `/x` = `https://h/api/x`).
    pub(crate) fn url(&self, path: &str) -> Url {
        let mut s = self.base.as_str().trim_end_matches('/').to_string();
        s.push_str(path);
        Url::parse(&s).unwrap_or_else(|_| self.base.clone())
    }

    /// Whether `url` is on the provider's own origin (the key is sent only there).
    fn same_origin(&self, url: &Url) -> bool {
        url.scheme() == self.base.scheme()
            && url.host_str() == self.base.host_str()
            && url.port_or_known_default() == self.base.port_or_known_default()
    }

    /// Sends a request and parses the JSON answer, with retries.
    pub(crate) fn json(
        &self,
        req: &Req,
        cancel: &CancelFlag,
        parse: ParseFn<'_>,
    ) -> Result<Value, ClientError> {
        let what = req.url.path().to_string();
        self.execute(req, cancel, &mut |resp| {
            let status = resp.status().as_u16();
            let body = read_capped(resp, MAX_JSON_BYTES)
                .map_err(|e| self.io_error(&what, e, req.timeout))?;
            parse(status, &body)
        })
    }

    /// Sends a request and returns the response once its status is 2xx (for streams and
    /// downloads); other statuses go through `parse` to become the provider's error.
    pub(crate) fn stream(
        &self,
        req: &Req,
        cancel: &CancelFlag,
        parse: ParseFn<'_>,
    ) -> Result<Response, ClientError> {
        let what = req.url.path().to_string();
        self.execute(req, cancel, &mut |resp| {
            let status = resp.status().as_u16();
            if resp.status().is_success() {
                return Ok(resp);
            }
            let body = read_capped(resp, 64 * 1024).unwrap_or_default();
            match parse(status, &body) {
                Err(e) => Err(e),
                Ok(_) => Err(ClientError::Api {
                    provider: self.kind,
                    status,
                    code: status.to_string(),
                    message: format!("HTTP {status} on {what}"),
                    kind: ApiErrorKind::from_status(status),
                    retry_after: None,
                }),
            }
        })
    }

    /// The retry loop.
    fn execute<T>(
        &self,
        req: &Req,
        cancel: &CancelFlag,
        on_response: &mut dyn FnMut(Response) -> Result<T, ClientError>,
    ) -> Result<T, ClientError> {
        check_url_scheme(&req.url)?;
        let mut attempt: u32 = 0;
        loop {
            self.limiter.acquire(cancel)?;
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            if attempt > 0 {
                self.stats.retries.fetch_add(1, Ordering::Relaxed);
            }
            let result = self.send_once(req).and_then(|resp| {
                let retry_after = parse_retry_after(resp.headers());
                on_response(resp).map_err(|mut e| {
                    if let ClientError::Api {
                        retry_after: ra @ None,
                        ..
                    } = &mut e
                    {
                        *ra = retry_after;
                    }
                    e
                })
            });
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => self.redact(e),
            };
            let wait = match &err {
                ClientError::Api {
                    kind: ApiErrorKind::RateLimited,
                    retry_after,
                    ..
                } => {
                    self.stats.rate_limited.fetch_add(1, Ordering::Relaxed);
                    let w = retry_after.unwrap_or_else(|| self.backoff(attempt));
                    // Every request to this provider waits, not only this one.
                    self.limiter.defer(w);
                    Some(w)
                }
                ClientError::Api {
                    kind: ApiErrorKind::Server,
                    retry_after,
                    ..
                } => Some(retry_after.unwrap_or_else(|| self.backoff(attempt))),
                ClientError::Network { .. } if req.idempotent => Some(self.backoff(attempt)),
                ClientError::Timeout { .. } if req.idempotent => Some(self.backoff(attempt)),
                _ => None,
            };
            match wait {
                Some(w) if req.retry && attempt < self.tuning.max_retries => {
                    cancel.sleep(w)?;
                    attempt += 1;
                }
                _ => return Err(err),
            }
        }
    }

    fn send_once(&self, req: &Req) -> Result<Response, ClientError> {
        let what = req.url.path().to_string();
        let mut builder = self.client.request(req.method.clone(), req.url.clone());
        if self.same_origin(&req.url) {
            builder = builder.header(header::AUTHORIZATION, self.key.bearer());
        }
        if let Some(t) = req.timeout {
            builder = builder.timeout(t);
        }
        for (name, value) in &req.headers {
            builder = builder.header(name, value);
        }
        builder = match &req.body {
            Body::None => builder,
            Body::Json(v) => builder.json(v),
            Body::Multipart(make) => builder.multipart(make()?),
        };
        builder
            .send()
            .map_err(|e| self.transport_error(&what, e, req.timeout))
    }

    /// Maps a transport error (never contains the key: it travels in a header only).
    pub(crate) fn transport_error(
        &self,
        what: &str,
        e: reqwest::Error,
        timeout: Option<Duration>,
    ) -> ClientError {
        if e.is_timeout() || error_chain_mentions_timeout(&e) {
            ClientError::Timeout {
                provider: self.kind,
                what: what.to_string(),
                after: timeout.unwrap_or(self.tuning.request_timeout),
            }
        } else {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message.push_str(": ");
                message.push_str(&s.to_string());
                source = s.source();
            }
            ClientError::Network {
                provider: self.kind,
                what: what.to_string(),
                message,
            }
        }
    }

    /// Removes the key from an error's messages.
    pub(crate) fn redact(&self, e: ClientError) -> ClientError {
        e.redacted(self.key.reveal_for_redaction())
    }

    /// Removes the key from a text.
    pub(crate) fn redact_str(&self, s: &str) -> String {
        let key = self.key.reveal_for_redaction();
        if key.is_empty() {
            s.to_string()
        } else {
            s.replace(key, "***")
        }
    }

    /// Maps an error met while reading a body.
    pub(crate) fn io_error(
        &self,
        what: &str,
        e: std::io::Error,
        timeout: Option<Duration>,
    ) -> ClientError {
        if e.kind() == std::io::ErrorKind::TimedOut || error_chain_mentions_timeout(&e) {
            ClientError::Timeout {
                provider: self.kind,
                what: what.to_string(),
                after: timeout.unwrap_or(self.tuning.request_timeout),
            }
        } else {
            ClientError::Network {
                provider: self.kind,
                what: what.to_string(),
                message: format!("reading the response: {e}"),
            }
        }
    }

    /// Exponential back-off with ±20 % jitter, capped at the longest polling interval.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.tuning.retry_backoff.as_secs_f64() * 2f64.powi(attempt.min(16) as i32);
        let capped = base.min(
            self.tuning
                .max_poll_interval
                .as_secs_f64()
                .max(self.tuning.retry_backoff.as_secs_f64()),
        );
        let jitter = 0.8 + 0.4 * fastrand::f64();
        Duration::from_secs_f64(capped * jitter)
    }

    /// The limiter shared by this connection's requests.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }
}

fn error_chain_mentions_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        if let Some(r) = err.downcast_ref::<reqwest::Error>()
            && r.is_timeout()
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Reads a whole body, refusing more than `cap` bytes.
fn read_capped(resp: Response, cap: u64) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    resp.take(cap).read_to_end(&mut out)?;
    Ok(out)
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn parse_retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let v = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}
