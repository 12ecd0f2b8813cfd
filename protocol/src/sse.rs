//! Incremental `text/event-stream` (Server-Sent Events) parsing and encoding, following the
//! WHATWG HTML "event stream interpretation" rules.
//!
//! Network chunks split events, lines and even UTF-8 sequences at arbitrary byte offsets. The parser
//! therefore works on bytes and only decodes a line once its terminator has arrived: CR and LF never
//! occur inside a multi-byte UTF-8 sequence, so a complete line is always a complete run of
//! characters. Splitting a stream anywhere yields exactly the events of the unsplit stream.
//!
//! Deviations from the spec, both deliberate:
//! - [`SseParser::finish`] dispatches an event that lacks its final blank line instead of discarding
//!   it. Browsers discard it; a proxy that meters tokens would rather see a final usage chunk from a
//!   server that closed the connection early. The caller gets it separately and can ignore it.
//! - Lines and events larger than [`MAX_EVENT_BYTES`] are dropped (and counted) rather than buffered
//!   without bound, because an upstream that never sends a newline must not exhaust memory.

use std::mem;

/// The largest event (or single line) the parser buffers. OpenAI chunks are well under 10 KiB even
/// with large tool-call arguments; 8 MiB leaves ample room while bounding memory in a 128 MB isolate.
pub const MAX_EVENT_BYTES: usize = 8 << 20;

/// The terminating event of an OpenAI-style stream, ready to write.
pub const DONE_EVENT: &str = "data: [DONE]\n\n";

/// A comment event that keeps intermediaries from timing out an idle stream; clients ignore it.
pub const KEEPALIVE_COMMENT: &str = ": keepalive\n\n";

const BYTE_ORDER_MARK: &[u8] = "\u{FEFF}".as_bytes();

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; `None` stands for the default type, `message`.
    pub event: Option<String>,
    /// All `data:` lines of the event joined with `\n`.
    pub data: String,
    /// The stream's last event ID when this event was dispatched. Per the spec an `id:` field
    /// persists for later events until another `id:` replaces it; an empty `id:` clears it.
    pub id: Option<String>,
}

impl SseEvent {
    /// Whether this is OpenAI's end-of-stream sentinel, `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// Turns a byte stream into [`SseEvent`]s, however the bytes are chunked.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of a line whose terminator has not arrived yet.
    partial_line: Vec<u8>,
    /// The current line outgrew [`MAX_EVENT_BYTES`]; its bytes are skipped up to its terminator.
    skipping_oversized_line: bool,
    /// The previous push ended in CR, so an LF opening the next push ends that same line.
    skip_leading_lf: bool,
    /// No line has been completed yet, so a byte-order mark may still have to be stripped.
    at_stream_start: bool,
    /// The data buffer of the event being assembled, without the spec's trailing LF.
    data: String,
    /// Whether the event being assembled has seen a `data` field. Tracked apart from `data` because a
    /// bare `data:` line yields an event with empty data, which must still be dispatched.
    has_data: bool,
    /// The event being assembled outgrew [`MAX_EVENT_BYTES`] and will be dropped at dispatch.
    event_oversized: bool,
    event_type: String,
    last_event_id: String,
    reconnection_time_ms: Option<u64>,
    dropped_events: u64,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser {
            partial_line: Vec::new(),
            skipping_oversized_line: false,
            skip_leading_lf: false,
            at_stream_start: true,
            data: String::new(),
            has_data: false,
            event_oversized: false,
            event_type: String::new(),
            last_event_id: String::new(),
            reconnection_time_ms: None,
            dropped_events: 0,
        }
    }

    /// Feeds one network chunk and returns the events it completed (usually zero or one; an empty
    /// `Vec` does not allocate).
    pub fn push(&mut self, chunk: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        self.push_into(chunk, &mut events);
        events
    }

    /// Like [`SseParser::push`], but appends to the caller's buffer so a long-lived stream reuses
    /// one allocation.
    pub fn push_into(&mut self, chunk: &[u8], events: &mut Vec<SseEvent>) {
        let mut rest = chunk;
        if self.skip_leading_lf && !rest.is_empty() {
            self.skip_leading_lf = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        while let Some(end) = rest.iter().position(|&byte| byte == b'\n' || byte == b'\r') {
            let line = &rest[..end];
            let ended_with_cr = rest[end] == b'\r';
            rest = &rest[end + 1..];
            if ended_with_cr {
                // CRLF is one line end; when the LF has not arrived yet, remember to skip it.
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    None => self.skip_leading_lf = true,
                }
            }
            self.complete_line(line, events);
        }
        self.buffer_partial_line(rest);
    }

    /// Ends the stream. Returns the pending event if it has data, even though its closing blank line
    /// (or the terminator of its last line) never arrived; see the module docs for why. The parser is
    /// reset and can be reused for a new stream.
    pub fn finish(&mut self) -> Option<SseEvent> {
        let mut events = Vec::new();
        if !self.partial_line.is_empty() {
            self.complete_line(&[], &mut events);
        }
        self.dispatch(&mut events);
        let dropped_events = self.dropped_events;
        *self = SseParser::new();
        self.dropped_events = dropped_events;
        events.pop()
    }

    /// The last event ID seen, for a `Last-Event-ID` header on reconnect.
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.last_event_id.as_str()).filter(|id| !id.is_empty())
    }

    /// The reconnection delay most recently requested by a `retry:` field.
    pub fn reconnection_time_ms(&self) -> Option<u64> {
        self.reconnection_time_ms
    }

    /// How many events (or lines) were dropped for exceeding [`MAX_EVENT_BYTES`].
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    fn buffer_partial_line(&mut self, bytes: &[u8]) {
        if self.skipping_oversized_line || bytes.is_empty() {
            return;
        }
        if self.partial_line.len() + bytes.len() > MAX_EVENT_BYTES {
            self.partial_line = Vec::new();
            self.skipping_oversized_line = true;
            self.dropped_events += 1;
            return;
        }
        self.partial_line.extend_from_slice(bytes);
    }

    /// Handles a line whose terminator has arrived; `tail` is its part from the current chunk.
    fn complete_line(&mut self, tail: &[u8], events: &mut Vec<SseEvent>) {
        if self.skipping_oversized_line {
            self.skipping_oversized_line = false;
            return;
        }
        if self.partial_line.is_empty() {
            // The hot path: the whole line lies in this chunk, so it is parsed without copying.
            self.process_line(tail, events);
        } else {
            let mut line = mem::take(&mut self.partial_line);
            line.extend_from_slice(tail);
            self.process_line(&line, events);
            line.clear();
            self.partial_line = line;
        }
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<SseEvent>) {
        let mut line = line;
        if self.at_stream_start {
            self.at_stream_start = false;
            line = line.strip_prefix(BYTE_ORDER_MARK).unwrap_or(line);
        }
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line[0] == b':' {
            return; // A comment, typically a keep-alive.
        }
        let (field, value) = match line.iter().position(|&byte| byte == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => self.append_data(value),
            b"event" => self.event_type = String::from_utf8_lossy(value).into_owned(),
            // An id containing NUL is ignored, as the spec requires.
            b"id" if !value.contains(&0) => {
                self.last_event_id = String::from_utf8_lossy(value).into_owned();
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All digits, so only overflow can fail; an absurd value is ignored like junk.
                let millis = std::str::from_utf8(value)
                    .ok()
                    .and_then(|digits| digits.parse().ok());
                if millis.is_some() {
                    self.reconnection_time_ms = millis;
                }
            }
            _ => {} // Unknown fields, and known ones with unusable values, are ignored.
        }
    }

    fn append_data(&mut self, value: &[u8]) {
        if self.event_oversized {
            return;
        }
        if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
            self.event_oversized = true;
            self.data = String::new();
            return;
        }
        if self.has_data {
            self.data.push('\n');
        }
        self.has_data = true;
        // Invalid UTF-8 becomes U+FFFD; valid input (the normal case) is copied without re-allocation.
        self.data.push_str(&String::from_utf8_lossy(value));
    }

    fn dispatch(&mut self, events: &mut Vec<SseEvent>) {
        let has_data = mem::replace(&mut self.has_data, false);
        let oversized = mem::replace(&mut self.event_oversized, false);
        let event_type = mem::take(&mut self.event_type);
        if oversized {
            self.dropped_events += 1;
            self.data.clear();
            return;
        }
        if !has_data {
            return; // The spec dispatches nothing for an event without data lines.
        }
        events.push(SseEvent {
            event: Some(event_type).filter(|name| !name.is_empty()),
            data: mem::take(&mut self.data),
            id: self.last_event_id().map(str::to_owned),
        });
    }
}

/// Encodes `data` as one event: a `data:` line per line of `data` (split at CRLF, CR or LF, the
/// same line ends the parser accepts), then the blank line that dispatches it.
pub fn encode_event(data: &str) -> String {
    let mut encoded = String::with_capacity(data.len() + 8);
    encode_event_into(&mut encoded, data);
    encoded
}

/// Like [`encode_event`], appending to `out`.
pub fn encode_event_into(out: &mut String, data: &str) {
    let mut rest = data;
    loop {
        let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
        let line = &rest[..end];
        // The space after the colon is stripped by parsers, so it also protects a line that itself
        // begins with a space; an empty line needs none.
        out.push_str(if line.is_empty() { "data:" } else { "data: " });
        out.push_str(line);
        out.push('\n');
        if end == rest.len() {
            break;
        }
        let terminator_len = if rest[end..].starts_with("\r\n") {
            2
        } else {
            1
        };
        rest = &rest[end + terminator_len..];
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> SseEvent {
        SseEvent {
            event: None,
            data: data.to_owned(),
            id: None,
        }
    }

    fn typed(event_type: &str, data: &str) -> SseEvent {
        SseEvent {
            event: Some(event_type.to_owned()),
            ..event(data)
        }
    }

    fn with_id(id: &str, data: &str) -> SseEvent {
        SseEvent {
            id: Some(id.to_owned()),
            ..event(data)
        }
    }

    fn parse_chunks<'a>(chunks: impl IntoIterator<Item = &'a [u8]>) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in chunks {
            parser.push_into(chunk, &mut events);
        }
        events.extend(parser.finish());
        events
    }

    /// Parses `input` whole, split into two pieces at every byte offset, and byte by byte; every way
    /// of chunking must give `expected`.
    #[track_caller]
    fn check_bytes(input: &[u8], expected: &[SseEvent]) {
        assert_eq!(parse_chunks([input]), expected, "unsplit input");
        for split in 0..=input.len() {
            let (head, tail) = input.split_at(split);
            assert_eq!(
                parse_chunks([head, tail]),
                expected,
                "split at byte {split}"
            );
        }
        assert_eq!(parse_chunks(input.chunks(1)), expected, "fed byte by byte");
    }

    #[track_caller]
    fn check(input: &str, expected: &[SseEvent]) {
        check_bytes(input.as_bytes(), expected);
    }

    /// The shape of a real OpenAI stream with `stream_options.include_usage`: a role chunk, content
    /// in Chinese and emoji (multi-byte sequences that network chunks split), a keep-alive comment,
    /// the usage-only chunk and the sentinel.
    const OPENAI_STREAM: &str = concat!(
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"你好，世界！\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        ": OPENROUTER PROCESSING\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"🎉 家族 👨‍👩‍👧 ok\"},\"finish_reason\":null}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"chatcmpl-9\",\"object\":\"chat.completion.chunk\",\"choices\":[],\"usage\":{\"prompt_tokens\":21,\"completion_tokens\":9,\"total_tokens\":30,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n",
        "data: [DONE]\n\n",
    );

    fn openai_stream_events() -> Vec<SseEvent> {
        OPENAI_STREAM
            .split("\n\n")
            .filter(|block| block.starts_with("data: "))
            .map(|block| event(&block["data: ".len()..]))
            .collect()
    }

    #[test]
    fn openai_stream_survives_every_split() {
        let expected = openai_stream_events();
        assert_eq!(expected.len(), 6);
        assert!(expected[1].data.contains("你好，世界！"));
        assert!(expected[2].data.contains("👨‍👩‍👧"));
        assert!(expected[5].is_done());
        check(OPENAI_STREAM, &expected);
    }

    #[test]
    fn openai_stream_with_crlf_and_cr_line_ends() {
        let expected = openai_stream_events();
        // The every-offset split in `check` also cuts each CRLF between two pushes, which must still
        // count as one line end: counted as two, `data: x\r|\n` would dispatch before its blank line.
        check(&OPENAI_STREAM.replace('\n', "\r\n"), &expected);
        check(&OPENAI_STREAM.replace('\n', "\r"), &expected);
    }

    #[test]
    fn crlf_split_across_pushes_is_one_line_end() {
        let events = parse_chunks([&b"data: a\r"[..], b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(events, [event("a\nb")]);
    }

    #[test]
    fn mixed_line_ends() {
        check("data: a\rdata: b\ndata: c\r\n\r\n", &[event("a\nb\nc")]);
        check("data: 1\n\rdata: 2\r\r", &[event("1"), event("2")]);
    }

    #[test]
    fn multi_line_data_is_joined_with_lf() {
        check(
            "data: first\ndata: second\ndata:\ndata:  indented\n\n",
            &[event("first\nsecond\n\n indented")],
        );
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        check(
            ": hello\ndata: x\n:another\nfoo: bar\n\n:tail\n\n",
            &[event("x")],
        );
    }

    #[test]
    fn only_one_space_after_colon_is_stripped_and_no_colon_means_empty_value() {
        check("data:no-space\n\n", &[event("no-space")]);
        check("data:  two\n\n", &[event(" two")]);
        check("data\n\n", &[event("")]);
        check("data:\n\n", &[event("")]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        check("event: ping\n\n\n\nid: 7\n\n", &[]);
        // The event type of the undispatched block must not leak into the next event.
        check("event: ping\n\ndata: x\n\n", &[event("x")]);
    }

    #[test]
    fn event_type_and_persistent_id() {
        check(
            "event: delta\nid: 1\ndata: a\n\ndata: b\n\nid:\ndata: c\n\n",
            &[
                SseEvent {
                    id: Some("1".to_owned()),
                    ..typed("delta", "a")
                },
                with_id("1", "b"),
                event("c"),
            ],
        );
        // An id containing NUL is ignored.
        check("id: 5\n\nid: a\0b\ndata: x\n\n", &[with_id("5", "x")]);
    }

    #[test]
    fn retry_field_sets_reconnection_time_only_when_all_digits() {
        let mut parser = SseParser::new();
        parser.push(b"retry: 1500\n\nretry: 2s\n\nretry: 99999999999999999999999\n\n");
        assert_eq!(parser.reconnection_time_ms(), Some(1500));
    }

    #[test]
    fn byte_order_mark_is_stripped_only_at_stream_start() {
        check("\u{FEFF}data: a\n\n", &[event("a")]);
        check("\u{FEFF}\ndata: a\n\n", &[event("a")]);
        // A second BOM is part of the field name, which is then unknown.
        check("\u{FEFF}\u{FEFF}data: a\n\ndata: b\n\n", &[event("b")]);
    }

    #[test]
    fn invalid_utf8_becomes_replacement_characters() {
        check_bytes(b"data: a\xFF\xC3b\n\n", &[event("a\u{FFFD}\u{FFFD}b")]);
        check_bytes(b"da\xFFta: x\n\ndata: y\n\n", &[event("y")]);
    }

    #[test]
    fn finish_dispatches_a_trailing_event_without_blank_line() {
        check("data: a\n\ndata: b\n", &[event("a"), event("b")]);
        check("data: a\n\ndata: [DONE]", &[event("a"), event("[DONE]")]);
        let mut parser = SseParser::new();
        assert_eq!(parser.push(b"data: x"), []);
        assert_eq!(parser.finish(), Some(event("x")));
        assert_eq!(parser.finish(), None);
        // A CR pending at finish must not swallow the LF of the next stream.
        parser.push(b"data: 1\r");
        parser.finish();
        assert_eq!(parser.push(b"\ndata: 2\n\n"), [event("2")]);
    }

    #[test]
    fn oversized_lines_and_events_are_dropped_not_buffered() {
        let mut parser = SseParser::new();
        let filler = vec![b'x'; MAX_EVENT_BYTES / 2 + 1];
        parser.push(b"data: ");
        parser.push(&filler);
        parser.push(&filler);
        assert!(parser.partial_line.capacity() <= MAX_EVENT_BYTES);
        assert_eq!(parser.push(b"tail\n\ndata: ok\n\n"), [event("ok")]);
        assert_eq!(parser.dropped_events(), 1);

        let mut line = b"data: ".to_vec();
        line.extend_from_slice(&filler);
        line.push(b'\n');
        let mut events = Vec::new();
        parser.push_into(&line, &mut events);
        parser.push_into(&line, &mut events);
        parser.push_into(b"\ndata: next\n\n", &mut events);
        assert_eq!(events, [event("next")]);
        assert_eq!(parser.dropped_events(), 2);
    }

    #[test]
    fn done_detection() {
        assert!(event("[DONE]").is_done());
        assert!(event(" [DONE] ").is_done());
        assert!(!event("{\"content\":\"[DONE]\"}").is_done());
    }

    #[test]
    fn encode_round_trips_through_the_parser() {
        assert_eq!(encode_event("hello"), "data: hello\n\n");
        assert_eq!(encode_event(""), "data:\n\n");
        assert_eq!(
            encode_event("a\nb\r\nc\rd"),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        for data in [
            "",
            "x",
            " leading space",
            "a\n\nb",
            "trailing\n",
            "中文🎉\r\nline",
        ] {
            let normalised = data.replace("\r\n", "\n").replace('\r', "\n");
            check(&encode_event(data), &[event(&normalised)]);
        }
        check(DONE_EVENT, &[event("[DONE]")]);
        check(KEEPALIVE_COMMENT, &[]);
    }
}
