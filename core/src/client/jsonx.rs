//! Small helpers for reading loosely specified JSON answers.

use serde_json::Value;

use super::error::{ApiErrorKind, ClientError, body_excerpt};
use super::provider::ProviderKind;

/// The first of several JSON pointers that holds a string (numbers are turned into strings).
pub(crate) fn str_at(v: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| match v.pointer(p) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// The first of several JSON pointers that holds a number.
pub(crate) fn f64_at(v: &Value, pointers: &[&str]) -> Option<f64> {
    pointers.iter().find_map(|p| match v.pointer(p) {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().trim_end_matches('%').parse().ok(),
        _ => None,
    })
}

/// Parses a 2xx body as JSON, or fails with [`ClientError::Malformed`] quoting its start.
pub(crate) fn parse_ok_body(
    kind: ProviderKind,
    what: &str,
    body: &[u8],
) -> Result<Value, ClientError> {
    serde_json::from_slice(body).map_err(|e| {
        ClientError::malformed(
            kind,
            what,
            format!("not JSON ({e}): {}", body_excerpt(body, 200)),
        )
    })
}

/// An error answer whose body is not in the provider's documented shape.
pub(crate) fn unshaped_error(kind: ProviderKind, status: u16, body: &[u8]) -> ClientError {
    let text = body_excerpt(body, 200);
    ClientError::Api {
        provider: kind,
        status,
        code: format!("http_{status}"),
        message: if text.trim().is_empty() {
            format!("HTTP {status} without a body")
        } else {
            text
        },
        kind: ApiErrorKind::from_status(status),
        retry_after: None,
    }
}
