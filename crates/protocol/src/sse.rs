//! Server-sent events: an incremental parser for upstream streams and an encoder for clients.

/// One parsed event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
    pub id: Option<String>,
}

/// Incremental SSE parser: feed it chunks as they arrive, collect complete events.
#[derive(Debug, Default)]
pub struct SseParser {
    line: Vec<u8>,
    data: String,
    has_data: bool,
    event: Option<String>,
    id: Option<String>,
    last_was_cr: bool,
    /// Upper bound for one event's size; a larger event is an error, not unbounded memory.
    max_event_bytes: usize,
    /// The last `retry:` value seen (milliseconds), for reconnecting.
    pub retry_ms: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("server-sent event larger than {0} bytes")]
pub struct SseTooLarge(pub usize);

impl SseParser {
    pub fn new(max_event_bytes: usize) -> Self {
        Self {
            max_event_bytes,
            ..Self::default()
        }
    }

    /// The id of the last complete event (the stream's `Last-Event-ID`).
    pub fn last_event_id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Feed a chunk; complete events are appended to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseTooLarge> {
        for &b in chunk {
            match b {
                b'\n' if self.last_was_cr => {
                    self.last_was_cr = false;
                }
                b'\n' | b'\r' => {
                    self.last_was_cr = b == b'\r';
                    self.end_line(out);
                }
                _ => {
                    self.last_was_cr = false;
                    self.line.push(b);
                    if self.line.len() + self.data.len() > self.max_event_bytes {
                        return Err(SseTooLarge(self.max_event_bytes));
                    }
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        if self.line.is_empty() {
            if self.has_data {
                out.push(SseEvent {
                    event: self.event.take(),
                    data: std::mem::take(&mut self.data),
                    id: self.id.clone(),
                });
            }
            self.has_data = false;
            self.data.clear();
            self.event = None;
            return;
        }
        let line = std::mem::take(&mut self.line);
        if line[0] == b':' {
            return;
        }
        let (field, value) = match line.iter().position(|&c| c == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (&line[..], &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            b"event" => self.event = Some(value.into_owned()),
            b"id" => self.id = Some(value.into_owned()),
            b"retry" => self.retry_ms = value.trim().parse().ok().or(self.retry_ms),
            _ => {}
        }
        self.line = line;
        self.line.clear();
    }
}

/// Encode one JSON-RPC message as an SSE `message` event. Raw payloads may contain newlines
/// (pretty-printed upstream JSON), so each line becomes its own `data:` line.
pub fn encode_event(json: &[u8], id: Option<&str>, out: &mut Vec<u8>) {
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(id.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"event: message\n");
    for line in json.split(|&c| c == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line);
        out.push(b'\n');
    }
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_split_chunks_multiline_data_and_crlf() {
        let mut p = SseParser::new(1 << 20);
        let mut out = Vec::new();
        let input =
            b": comment\r\nid: 1\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\ndata: x\n\n";
        for chunk in input.chunks(3) {
            p.feed(chunk, &mut out).unwrap();
        }
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].data, "{\"a\":\n1}");
        assert_eq!(out[0].event.as_deref(), Some("message"));
        assert_eq!(out[0].id.as_deref(), Some("1"));
        assert_eq!(out[1].data, "x");
        assert_eq!(out[1].event, None);
    }

    #[test]
    fn priming_event_sets_id_and_retry() {
        let mut p = SseParser::new(1 << 20);
        let mut out = Vec::new();
        p.feed(b"id: 0/0\nretry: 500\ndata: \n\n", &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data, "");
        assert_eq!(p.last_event_id(), Some("0/0"));
        assert_eq!(p.retry_ms, Some(500));
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let mut buf = Vec::new();
        encode_event(b"{\n  \"x\": 1\n}", Some("7"), &mut buf);
        let mut p = SseParser::new(1 << 20);
        let mut out = Vec::new();
        p.feed(&buf, &mut out).unwrap();
        assert_eq!(out[0].data, "{\n  \"x\": 1\n}");
    }

    #[test]
    fn oversized_event_is_an_error() {
        let mut p = SseParser::new(8);
        let mut out = Vec::new();
        assert!(p.feed(b"data: 0123456789\n\n", &mut out).is_err());
    }
}
