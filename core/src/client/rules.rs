//! Validation helpers shared by the providers. Every error names the field.

use url::Url;

use super::config::check_url_scheme;
use super::error::ClientError;
use super::provider::ProviderKind;
use super::request::GenerateRequest;

/// Refuses the fields of `req` that the provider cannot honour.
pub(crate) fn only_fields(
    kind: ProviderKind,
    req: &GenerateRequest,
    supported: &[&str],
) -> Result<(), ClientError> {
    match req
        .present_fields()
        .into_iter()
        .find(|f| !supported.contains(f))
    {
        Some(f) => Err(ClientError::invalid(
            kind,
            f,
            format!(
                "not supported by {kind} (supported: {})",
                supported.join(", ")
            ),
        )),
        None => Ok(()),
    }
}

/// A required, non-blank text field.
pub(crate) fn required<'a>(
    kind: ProviderKind,
    field: &str,
    value: Option<&'a str>,
    why: &str,
) -> Result<&'a str, ClientError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(ClientError::invalid(kind, field, format!("required {why}"))),
    }
}

/// At most `max` characters.
pub(crate) fn max_chars(
    kind: ProviderKind,
    field: &str,
    value: Option<&str>,
    max: usize,
) -> Result<(), ClientError> {
    if let Some(v) = value {
        let n = v.chars().count();
        if n > max {
            return Err(ClientError::invalid(
                kind,
                field,
                format!("{n} characters, at most {max} allowed"),
            ));
        }
    }
    Ok(())
}

/// A weight in 0.00-1.00 that is a multiple of 0.01.
pub(crate) fn weight(
    kind: ProviderKind,
    field: &str,
    value: Option<f64>,
) -> Result<(), ClientError> {
    if let Some(v) = value {
        if !v.is_finite() || !(0.0..=1.0).contains(&v) {
            return Err(ClientError::invalid(
                kind,
                field,
                format!("{v} is outside 0.00-1.00"),
            ));
        }
        let hundredths = v * 100.0;
        if (hundredths - hundredths.round()).abs() > 1e-6 {
            return Err(ClientError::invalid(
                kind,
                field,
                format!("{v} is not a multiple of 0.01"),
            ));
        }
    }
    Ok(())
}

/// One of a fixed set of values.
pub(crate) fn one_of(
    kind: ProviderKind,
    field: &str,
    value: Option<&str>,
    allowed: &[&str],
) -> Result<(), ClientError> {
    if let Some(v) = value
        && !allowed.contains(&v)
    {
        return Err(ClientError::invalid(
            kind,
            field,
            format!("`{v}` is not one of {}", allowed.join(", ")),
        ));
    }
    Ok(())
}

/// An HTTPS URL (HTTP only on loopback hosts).
pub(crate) fn https_url(kind: ProviderKind, field: &str, value: &str) -> Result<Url, ClientError> {
    let url = Url::parse(value.trim())
        .map_err(|e| ClientError::invalid(kind, field, format!("`{value}` is not a URL: {e}")))?;
    check_url_scheme(&url)
        .map_err(|_| ClientError::invalid(kind, field, "must be an https:// URL (HTTPS only)"))?;
    Ok(url)
}

/// A finite number within a range.
pub(crate) fn in_range(
    kind: ProviderKind,
    field: &str,
    value: Option<f64>,
    min: f64,
    max: f64,
) -> Result<(), ClientError> {
    if let Some(v) = value
        && (!v.is_finite() || v < min || v > max)
    {
        return Err(ClientError::invalid(
            kind,
            field,
            format!("{v} is outside {min}..={max}"),
        ));
    }
    Ok(())
}
