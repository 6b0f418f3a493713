//! A Server-Sent Events parser (the WHATWG `text/event-stream` format):
//! bytes in, events out, no I/O.
//!
//! It handles the `id`, `event`, `data` and `retry` fields, multi-line data,
//! comments (lines starting with `:`), dispatch on a blank line, LF, CRLF and
//! CR line endings (also split across chunks), a leading BOM, and UTF-8 split
//! across chunks. An event still incomplete when the stream ends is dropped,
//! as the format requires.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field; `message` when the event named none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last event id in effect when the event was dispatched (ids persist
    /// from one event to the next until changed).
    pub id: Option<String>,
}

/// Incremental parser; feed it chunks with [`SseParser::push`].
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of the line being read.
    line: Vec<u8>,
    /// The previous byte was a CR, so an LF now ends nothing new.
    after_cr: bool,
    /// No line of this connection has been read yet (a BOM may lead).
    seen_line: bool,
    /// Event type buffer.
    event: String,
    /// Data buffer; every `data:` line adds its value and a `\n`.
    data: String,
    /// Last event id buffer.
    last_id: Option<String>,
    /// Reconnection delay the server asked for, in milliseconds.
    retry_ms: Option<u64>,
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses `chunk` and returns the events it completed, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        for &byte in chunk {
            match byte {
                b'\n' if self.after_cr => self.after_cr = false,
                b'\n' => self.end_line(&mut events),
                b'\r' => {
                    self.end_line(&mut events);
                    self.after_cr = true;
                }
                _ => {
                    self.after_cr = false;
                    self.line.push(byte);
                }
            }
        }
        events
    }

    /// Forgets the partial line and event of a connection that ended, keeping
    /// the last event id and retry delay for the next connection.
    pub fn reconnected(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.seen_line = false;
        self.event.clear();
        self.data.clear();
    }

    /// The id to send as `Last-Event-ID` when reconnecting.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_id.as_deref().filter(|id| !id.is_empty())
    }

    /// The reconnection delay the server set with `retry:`, if any.
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    fn end_line(&mut self, events: &mut Vec<SseEvent>) {
        let bytes = std::mem::take(&mut self.line);
        let decoded = String::from_utf8_lossy(&bytes);
        let mut line: &str = &decoded;
        if !self.seen_line {
            self.seen_line = true;
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        self.process(line, events);
    }

    fn process(&mut self, line: &str, events: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = Some(value.to_owned()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry_ms = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop();
        let event = if event.is_empty() {
            "message".to_owned()
        } else {
            event
        };
        events.push(SseEvent {
            event,
            data,
            id: self.last_id.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(input: &str) -> Vec<SseEvent> {
        SseParser::new().push(input.as_bytes())
    }

    fn event(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn an_event_has_its_id_kind_and_data() {
        let events = parse("id: 3\nevent: RUN_STARTED\ndata: {\"seq\":3}\n\n");
        assert_eq!(events, vec![event("RUN_STARTED", "{\"seq\":3}", Some("3"))]);
    }

    #[test]
    fn data_lines_are_joined_with_newlines() {
        let events = parse("data: first\ndata:second\ndata\ndata:  indented\n\n");
        assert_eq!(
            events,
            vec![event("message", "first\nsecond\n\n indented", None)]
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let events = parse(": keep-alive\nfoo: bar\ndata: x\n:another\n\n: ping\n\n");
        assert_eq!(events, vec![event("message", "x", None)]);
    }

    #[test]
    fn crlf_and_lone_cr_end_lines() {
        assert_eq!(parse("data: a\r\n\r\n"), vec![event("message", "a", None)]);
        assert_eq!(
            parse("data: a\r\rdata: b\r\r"),
            vec![event("message", "a", None), event("message", "b", None)]
        );
    }

    #[test]
    fn an_event_split_anywhere_across_chunks_parses_the_same() {
        let input = "id: 7\r\nevent: TOOL_RESULT\r\ndata: {\"output\":\"h\u{e9}llo\"}\r\n\r\n";
        let whole = parse(input);
        assert_eq!(whole.len(), 1);
        let bytes = input.as_bytes();
        for split in 1..bytes.len() {
            let mut parser = SseParser::new();
            let mut events = parser.push(&bytes[..split]);
            events.extend(parser.push(&bytes[split..]));
            assert_eq!(events, whole, "split at byte {split}");
        }
    }

    #[test]
    fn a_blank_line_without_data_dispatches_nothing_and_resets_the_kind() {
        let events = parse("event: lonely\n\ndata: x\n\n");
        assert_eq!(events, vec![event("message", "x", None)]);
    }

    #[test]
    fn an_empty_data_field_still_dispatches() {
        assert_eq!(parse("data\n\n"), vec![event("message", "", None)]);
        assert_eq!(parse("data:\n\n"), vec![event("message", "", None)]);
    }

    #[test]
    fn the_id_persists_until_changed() {
        let mut parser = SseParser::new();
        let events = parser.push(b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");
        assert_eq!(
            events,
            vec![
                event("message", "a", Some("1")),
                event("message", "b", Some("1")),
                event("message", "c", Some(""))
            ]
        );
        assert_eq!(parser.last_event_id(), None);
    }

    #[test]
    fn an_id_with_nul_is_ignored() {
        let mut parser = SseParser::new();
        parser.push(b"id: 4\n\nid: 5\0x\n\n");
        assert_eq!(parser.last_event_id(), Some("4"));
    }

    #[test]
    fn a_leading_bom_is_skipped() {
        assert_eq!(
            parse("\u{feff}data: x\n\n"),
            vec![event("message", "x", None)]
        );
    }

    #[test]
    fn an_incomplete_event_is_not_dispatched() {
        let mut parser = SseParser::new();
        assert!(parser.push(b"id: 9\ndata: partial\n").is_empty());
        parser.reconnected();
        assert_eq!(parser.last_event_id(), Some("9"));
        assert_eq!(
            parser.push(b"data: next\n\n"),
            vec![event("message", "next", Some("9"))]
        );
    }

    #[test]
    fn retry_sets_the_reconnection_delay_when_it_is_digits() {
        let mut parser = SseParser::new();
        parser.push(b"retry: 1500\n\nretry: soon\n\n");
        assert_eq!(parser.retry_ms(), Some(1500));
    }
}
