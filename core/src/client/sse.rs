//! A Server-Sent Events reader over any blocking byte stream.
//!
//! Implements the event-stream parsing rules of the HTML standard (fields `event`, `data`, `id`,
//! `retry`; comment lines; CR, LF or CRLF line ends; an event is dispatched at a blank line).
//! An event cut off by the end of the stream is not dispatched.

use std::io::BufRead;

/// One dispatched event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field (`message` when absent).
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen so far in the stream.
    pub id: Option<String>,
    /// A `retry:` the server asked for, in milliseconds.
    pub retry_ms: Option<u64>,
}

/// Reads events from a stream; an `Iterator` of `io::Result<SseEvent>` that ends at the end of
/// the stream.
pub struct SseReader<R> {
    inner: R,
    last_id: Option<String>,
    line: Vec<u8>,
}

impl<R: BufRead> SseReader<R> {
    /// Wraps a buffered reader.
    pub fn new(inner: R) -> Self {
        SseReader {
            inner,
            last_id: None,
            line: Vec::new(),
        }
    }

    /// The last event id seen (for `Last-Event-ID` on reconnection).
    pub fn last_id(&self) -> Option<&str> {
        self.last_id.as_deref()
    }

    /// Reads one line without its terminator; `None` at the end of the stream.
    fn read_line(&mut self) -> std::io::Result<Option<String>> {
        self.line.clear();
        let n = self.inner.read_until(b'\n', &mut self.line)?;
        if n == 0 {
            return Ok(None);
        }
        if self.line.last() != Some(&b'\n') {
            // Cut off mid-line by the end of the stream: the event is incomplete.
            return Ok(None);
        }
        while matches!(self.line.last(), Some(b'\n' | b'\r')) {
            self.line.pop();
        }
        Ok(Some(String::from_utf8_lossy(&self.line).into_owned()))
    }
}

impl<R: BufRead> Iterator for SseReader<R> {
    type Item = std::io::Result<SseEvent>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut event = String::new();
        let mut data: Option<String> = None;
        let mut retry_ms = None;
        loop {
            let line = match self.read_line() {
                Ok(Some(l)) => l,
                Ok(None) => return None,
                Err(e) => return Some(Err(e)),
            };
            if line.is_empty() {
                if let Some(data) = data.take() {
                    return Some(Ok(SseEvent {
                        event: if event.is_empty() {
                            "message".into()
                        } else {
                            std::mem::take(&mut event)
                        },
                        data,
                        id: self.last_id.clone(),
                        retry_ms,
                    }));
                }
                event.clear();
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            match field {
                "event" => event = value.to_string(),
                "data" => match &mut data {
                    Some(d) => {
                        d.push('\n');
                        d.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
                "retry" => retry_ms = value.parse().ok(),
                _ => {}
            }
        }
    }
}
