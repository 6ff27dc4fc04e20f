//! API keys that cannot leak through `Debug`, `Display` or serialization.

use std::fmt;

/// A provider API key. `Debug` prints `ApiKey(***)`; there is no `Display`, `Serialize` or
/// `Deserialize`, so a key cannot end up in plugin state, job records or logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key; surrounding whitespace (a trailing newline from a file) is dropped.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into().trim().to_string())
    }

    /// Whether the key is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key itself, for redaction only.
    pub(crate) fn reveal_for_redaction(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value. Only the HTTP layer calls this.
    pub(crate) fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}
