//! Reading and editing nice-plug's JSON plugin state:
//! `{"version": "...", "params": {"gain": {"f32": -6.0}, ...}, "fields": {"session": "<json>"}}`.

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The magic that starts a `vst3-host` state envelope (component + controller streams).
const VST3_HOST_MAGIC: &[u8; 16] = b"VST3HOST_STATE\0\0";
/// The size of the envelope's header: magic, version, component length, controller length.
const VST3_HOST_HEADER: usize = 28;

/// Parses a state blob as JSON.
pub fn parse(blob: &[u8]) -> Result<Value> {
    serde_json::from_slice(blob).with_context(|| {
        format!(
            "the plugin state is not JSON (first bytes: {:?})",
            String::from_utf8_lossy(&blob[..blob.len().min(60)])
        )
    })
}

/// Serialises a state back to bytes.
pub fn to_bytes(state: &Value) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(state)?)
}

/// The plain value of a float parameter (`params.<id>.f32`).
pub fn param_f32(state: &Value, id: &str) -> Result<f64> {
    state
        .pointer(&format!("/params/{id}/f32"))
        .and_then(Value::as_f64)
        .with_context(|| format!("state has no float params.{id}: {state}"))
}

/// The value of a bool parameter (`params.<id>.bool`).
pub fn param_bool(state: &Value, id: &str) -> Result<bool> {
    state
        .pointer(&format!("/params/{id}/bool"))
        .and_then(Value::as_bool)
        .with_context(|| format!("state has no bool params.{id}: {state}"))
}

/// The session (`fields.session`, itself a JSON string) parsed.
pub fn session(state: &Value) -> Result<Value> {
    let raw = state
        .pointer("/fields/session")
        .and_then(Value::as_str)
        .with_context(|| format!("state has no string fields.session: {state}"))?;
    serde_json::from_str(raw).with_context(|| format!("fields.session is not JSON: {raw}"))
}

/// Replaces `fields.session` by the raw string `raw`.
pub fn set_session_raw(state: &mut Value, raw: &str) -> Result<()> {
    let fields = state
        .get_mut("fields")
        .and_then(Value::as_object_mut)
        .context("state has no fields object")?;
    fields.insert("session".to_owned(), Value::String(raw.to_owned()));
    Ok(())
}

/// Replaces the top-level plugin version.
pub fn set_version(state: &mut Value, version: &str) -> Result<()> {
    let object = state.as_object_mut().context("state is not an object")?;
    object.insert("version".to_owned(), Value::String(version.to_owned()));
    Ok(())
}

/// The JSON inside a CLAP state stream: nice-plug prefixes it with its length (`u64`, little
/// endian) because CLAP streams cannot tell how much data is left.
pub fn clap_unframe(blob: &[u8]) -> Result<Vec<u8>> {
    let Some((length, json)) = blob.split_first_chunk::<8>() else {
        bail!("CLAP state of {} bytes has no length prefix", blob.len());
    };
    let length = u64::from_le_bytes(*length) as usize;
    if length != json.len() {
        bail!(
            "CLAP state length prefix says {length} bytes, {} follow",
            json.len()
        );
    }
    Ok(json.to_vec())
}

/// A CLAP state stream for `json` (see [`clap_unframe`]).
pub fn clap_frame(json: &[u8]) -> Vec<u8> {
    let mut blob = (json.len() as u64).to_le_bytes().to_vec();
    blob.extend_from_slice(json);
    blob
}

/// The component state inside a blob from `vst3_host::Plugin::save_state` (which wraps the
/// component and controller streams in its own envelope). A blob without the envelope is
/// returned as is; `load_state` accepts bare component streams too.
pub fn vst3_component(blob: &[u8]) -> Result<Vec<u8>> {
    if !blob.starts_with(VST3_HOST_MAGIC) {
        return Ok(blob.to_vec());
    }
    if blob.len() < VST3_HOST_HEADER {
        bail!("truncated vst3-host state envelope ({} bytes)", blob.len());
    }
    let len = u32::from_le_bytes([blob[20], blob[21], blob[22], blob[23]]) as usize;
    blob.get(VST3_HOST_HEADER..VST3_HOST_HEADER + len)
        .map(<[u8]>::to_vec)
        .context("vst3-host state envelope shorter than its component length")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_edits_round_trip() {
        let mut state = parse(
            br#"{"version":"0.1.0","params":{"gain":{"f32":-6.0},"bypass":{"bool":false}},
                "fields":{"session":"{\"version\":1,\"tab\":\"Engine\",\"notice\":null}"}}"#,
        )
        .unwrap();
        assert_eq!(param_f32(&state, "gain").unwrap(), -6.0);
        assert!(!param_bool(&state, "bypass").unwrap());
        assert_eq!(session(&state).unwrap()["tab"], "Engine");
        set_session_raw(&mut state, "{not json").unwrap();
        assert!(session(&state).is_err());
        set_version(&mut state, "0.0.1").unwrap();
        assert_eq!(state["version"], "0.0.1");
    }

    #[test]
    fn clap_framing_round_trips() {
        let framed = clap_frame(b"{}");
        assert_eq!(framed.len(), 10);
        assert_eq!(clap_unframe(&framed).unwrap(), b"{}");
        assert!(clap_unframe(b"{}").is_err());
    }

    #[test]
    fn vst3_envelope_is_unwrapped() {
        let mut blob = VST3_HOST_MAGIC.to_vec();
        blob.extend_from_slice(&1u32.to_le_bytes());
        blob.extend_from_slice(&3u32.to_le_bytes());
        blob.extend_from_slice(&u32::MAX.to_le_bytes());
        blob.extend_from_slice(b"abc");
        assert_eq!(vst3_component(&blob).unwrap(), b"abc");
        assert_eq!(vst3_component(b"{}").unwrap(), b"{}");
    }
}
