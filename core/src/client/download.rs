//! Results: downloaded to a temporary file in the output folder, checked (size cap, content),
//! then renamed to a sanitised name. A partial file never carries the final name.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

use super::error::ClientError;
use super::http::{Http, Req};
use super::limit::CancelFlag;
use super::task::{Output, OutputKind, OutputSource};
use crate::audio::{AudioError, AudioReader};

/// Limits applied to every result.
#[derive(Clone, Copy, Debug)]
pub struct DownloadLimits {
    /// Largest accepted file.
    pub max_bytes: u64,
}

/// Extensions kept from a result URL.
const KNOWN_EXTENSIONS: [&str; 11] = [
    "mp3", "wav", "flac", "ogg", "oga", "aif", "aiff", "m4a", "mid", "midi", "json",
];

/// A file name safe on every platform: letters, digits, `-`, `_`, `.` and spaces turned into
/// `-`; no leading dot, no path separators, at most 80 characters; `output` when nothing is left.
pub fn sanitize_file_name(name: &str) -> String {
    let mut out = String::new();
    let mut last_dash = false;
    for c in name.chars() {
        let keep = if c.is_alphanumeric() || c == '_' || c == '.' {
            Some(c)
        } else if c == '-' || c.is_whitespace() || c == '/' || c == '\\' || c == ':' {
            Some('-')
        } else {
            None
        };
        if let Some(k) = keep {
            if k == '-' {
                if last_dash || out.is_empty() {
                    continue;
                }
                last_dash = true;
            } else {
                last_dash = false;
            }
            out.push(k);
        }
        if out.chars().count() >= 80 {
            break;
        }
    }
    let trimmed = out.trim_matches(|c| c == '-' || c == '.').to_string();
    // Windows reserved device names.
    let upper = trimmed.to_ascii_uppercase();
    let stem = upper.split('.').next().unwrap_or("");
    let reserved = matches!(stem, "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if trimmed.is_empty() || reserved {
        format!(
            "output{}",
            if reserved {
                format!("-{trimmed}")
            } else {
                String::new()
            }
        )
    } else {
        trimmed
    }
}

fn extension_for(output: &Output, first_bytes: &[u8]) -> String {
    if let OutputSource::Url(u) = &output.source
        && let Ok(url) = url::Url::parse(u)
        && let Some(last) = url.path_segments().and_then(|mut s| s.next_back())
        && let Some((_, ext)) = last.rsplit_once('.')
    {
        let ext = ext.to_ascii_lowercase();
        if KNOWN_EXTENSIONS.contains(&ext.as_str()) {
            return ext;
        }
    }
    match output.kind {
        OutputKind::Audio => sniff_audio(first_bytes).unwrap_or("mp3").to_string(),
        k => k.default_extension().to_string(),
    }
}

fn sniff_audio(b: &[u8]) -> Option<&'static str> {
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WAVE") {
        Some("wav")
    } else if b.starts_with(b"fLaC") {
        Some("flac")
    } else if b.starts_with(b"OggS") {
        Some("ogg")
    } else if b.starts_with(b"FORM") {
        Some("aiff")
    } else if b.starts_with(b"ID3") || (b.len() > 1 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0) {
        Some("mp3")
    } else {
        None
    }
}

fn decode_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return Err("odd number of hex digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).map_err(|_| format!("not hex at offset {i}")))
        .collect()
}

/// Checks a finished temporary file against its kind.
fn check_file(path: &Path, kind: OutputKind, len: u64) -> Result<(), String> {
    if len == 0 {
        return Err("empty file".into());
    }
    match kind {
        OutputKind::Audio => {
            let mut reader = AudioReader::open(path).map_err(|e| format!("not audio: {e}"))?;
            loop {
                match reader.next_block() {
                    Ok(Some(_)) => {}
                    Ok(None) => break,
                    Err(AudioError::Truncated { .. }) => {
                        return Err("the audio stream is truncated".into());
                    }
                    Err(e) => return Err(format!("does not decode: {e}")),
                }
            }
            if reader.frames_read() == 0 {
                return Err("decodes to no audio frames".into());
            }
            Ok(())
        }
        OutputKind::Midi => {
            let mut head = [0u8; 4];
            std::fs::File::open(path)
                .and_then(|mut f| f.read_exact(&mut head))
                .map_err(|e| format!("unreadable: {e}"))?;
            if &head != b"MThd" {
                return Err("not a standard MIDI file (no MThd header)".into());
            }
            Ok(())
        }
        OutputKind::Json => {
            let bytes = std::fs::read(path).map_err(|e| format!("unreadable: {e}"))?;
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .map(|_| ())
                .map_err(|e| format!("not JSON: {e}"))
        }
    }
}

/// Renames `tmp` to `<dir>/<stem>.<ext>`, adding `-2`, `-3`, ... instead of overwriting.
fn persist_unique(
    tmp: NamedTempFile,
    dir: &Path,
    stem: &str,
    ext: &str,
) -> Result<PathBuf, ClientError> {
    let mut tmp = tmp;
    for n in 1..10_000 {
        let name = if n == 1 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{n}.{ext}")
        };
        let target = dir.join(name);
        match tmp.persist_noclobber(&target) {
            Ok(_) => return Ok(target),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => tmp = e.file,
            Err(e) => return Err(ClientError::io(&target, e.error)),
        }
    }
    Err(ClientError::Download {
        url: stem.to_string(),
        message: "too many files with this name".into(),
    })
}

/// Saves one output into `dir` as `<stem>.<ext>`: download (or decode) into a temporary file,
/// check it, rename it. On any failure the temporary file is removed.
pub(crate) fn save_output(
    http: &Http,
    output: &Output,
    dir: &Path,
    stem: &str,
    limits: DownloadLimits,
    cancel: &CancelFlag,
) -> Result<PathBuf, ClientError> {
    std::fs::create_dir_all(dir).map_err(|e| ClientError::io(dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".mixsmith-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| ClientError::io(dir, e))?;
    let mut head = Vec::new();
    let len = match &output.source {
        OutputSource::Url(u) => {
            let url = super::rules::https_url(http.kind(), "output URL", u).map_err(|e| {
                ClientError::Download {
                    url: u.clone(),
                    message: e.to_string(),
                }
            })?;
            fetch(http, &url, tmp.as_file_mut(), &mut head, limits, cancel)?
        }
        OutputSource::Hex(h) => {
            let bytes = decode_hex(h).map_err(|m| ClientError::Download {
                url: "data.audio".into(),
                message: format!("hex audio: {m}"),
            })?;
            write_limited(tmp.as_file_mut(), &bytes, limits, "data.audio")?;
            head.extend_from_slice(&bytes[..bytes.len().min(16)]);
            bytes.len() as u64
        }
        OutputSource::Text(t) => {
            write_limited(tmp.as_file_mut(), t.as_bytes(), limits, "result")?;
            t.len() as u64
        }
    };
    tmp.as_file()
        .sync_all()
        .map_err(|e| ClientError::io(tmp.path(), e))?;
    let ext = extension_for(output, &head);
    // The decoder picks its format from the extension: check under a name that has it.
    let checked = tempfile::Builder::new()
        .prefix(".mixsmith-")
        .suffix(&format!(".part.{ext}"))
        .tempfile_in(dir)
        .map_err(|e| ClientError::io(dir, e))?;
    let checked_path = checked.path().to_path_buf();
    let tmp_path = tmp.path().to_path_buf();
    tmp.persist(&checked_path)
        .map_err(|e| ClientError::io(&checked_path, e.error))?;
    // `checked` now names the downloaded bytes; it is deleted on drop if anything fails.
    check_file(&checked_path, output.kind, len).map_err(|message| ClientError::Check {
        path: tmp_path,
        message,
    })?;
    let stem = sanitize_file_name(stem);
    persist_unique(checked, dir, &stem, &ext)
}

fn write_limited(
    f: &mut std::fs::File,
    bytes: &[u8],
    limits: DownloadLimits,
    what: &str,
) -> Result<(), ClientError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(ClientError::Download {
            url: what.into(),
            message: format!(
                "{} bytes is over the {} byte cap",
                bytes.len(),
                limits.max_bytes
            ),
        });
    }
    f.write_all(bytes)
        .map_err(|e| ClientError::io(Path::new(what), e))
}

fn fetch(
    http: &Http,
    url: &url::Url,
    out: &mut std::fs::File,
    head: &mut Vec<u8>,
    limits: DownloadLimits,
    cancel: &CancelFlag,
) -> Result<u64, ClientError> {
    let shown = {
        let mut u = url.clone();
        u.set_query(None);
        u.to_string()
    };
    let parse = |status: u16, body: &[u8]| -> Result<serde_json::Value, ClientError> {
        Err(ClientError::Download {
            url: shown.clone(),
            message: format!("HTTP {status}: {}", super::error::body_excerpt(body, 120)),
        })
    };
    let mut resp = http.stream(&Req::get(url.clone()), cancel, &parse)?;
    let expected = resp.content_length();
    if let Some(n) = expected
        && n > limits.max_bytes
    {
        return Err(ClientError::Download {
            url: shown,
            message: format!("{n} bytes is over the {} byte cap", limits.max_bytes),
        });
    }
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        cancel.check()?;
        let n = match resp.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                let err = http.io_error(url.path(), e, None);
                return Err(ClientError::Download {
                    url: shown,
                    message: format!("after {total} bytes: {err}"),
                });
            }
        };
        total += n as u64;
        if total > limits.max_bytes {
            return Err(ClientError::Download {
                url: shown,
                message: format!("over the {} byte cap", limits.max_bytes),
            });
        }
        if head.len() < 16 {
            head.extend_from_slice(&buf[..n.min(16 - head.len())]);
        }
        out.write_all(&buf[..n])
            .map_err(|e| ClientError::io(Path::new(&shown), e))?;
    }
    if let Some(n) = expected
        && total != n
    {
        return Err(ClientError::Download {
            url: shown,
            message: format!("truncated: received {total} of {n} bytes"),
        });
    }
    Ok(total)
}
