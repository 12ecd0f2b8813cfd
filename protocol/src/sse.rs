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
//! - An event with a line longer than [`MAX_EVENT_BYTES`], or with more data than that, is dropped
//!   whole (and counted) rather than buffered without bound, because an upstream that never sends a
//!   newline must not exhaust memory. Whole means every line up to the blank line that ends it: the
//!   oversized line is never buffered, so what it said is unknown, and the rest of its event is not
//!   delivered as if it were complete. The `id:` and `retry:` fields of an event take effect when the
//!   event ends (the spec applies `retry:` at once), so a dropped event changes neither.

use std::mem;

/// The longest line, and the most data of one event, the parser buffers. OpenAI chunks are well under
/// 10 KiB even with large tool-call arguments; 8 MiB leaves ample room while bounding memory in a
/// 128 MB isolate.
pub const MAX_EVENT_BYTES: usize = 8 << 20;

/// The terminating event of an OpenAI-style stream, ready to write (data [`crate::DONE_DATA`]).
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
        self.data.trim() == crate::names::DONE_DATA
    }
}

/// Turns a byte stream into [`SseEvent`]s, however the bytes are chunked.
#[derive(Debug)]
pub struct SseParser {
    /// Bytes of a line whose terminator has not arrived yet.
    partial_line: Vec<u8>,
    /// The current line outgrew the limit; its bytes are skipped up to its terminator.
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
    /// The event being assembled had a line longer than the limit, or outgrew it in data, and will be
    /// dropped at dispatch.
    event_oversized: bool,
    event_type: String,
    /// An `id:` field of the event being assembled, committed to `last_event_id` at dispatch.
    pending_event_id: Option<String>,
    /// A `retry:` field of the event being assembled, committed at dispatch.
    pending_reconnection_time_ms: Option<u64>,
    last_event_id: String,
    reconnection_time_ms: Option<u64>,
    dropped_events: u64,
    /// [`MAX_EVENT_BYTES`], except in tests, which exercise the limit with small inputs.
    max_event_bytes: usize,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    pub fn new() -> SseParser {
        SseParser::with_max_event_bytes(MAX_EVENT_BYTES)
    }

    fn with_max_event_bytes(max_event_bytes: usize) -> SseParser {
        SseParser {
            partial_line: Vec::new(),
            skipping_oversized_line: false,
            skip_leading_lf: false,
            at_stream_start: true,
            data: String::new(),
            has_data: false,
            event_oversized: false,
            event_type: String::new(),
            pending_event_id: None,
            pending_reconnection_time_ms: None,
            last_event_id: String::new(),
            reconnection_time_ms: None,
            dropped_events: 0,
            max_event_bytes,
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
        *self = SseParser::with_max_event_bytes(self.max_event_bytes);
        self.dropped_events = dropped_events;
        events.pop()
    }

    /// The last event ID of the stream as of the last completed event, for a `Last-Event-ID` header
    /// on reconnect.
    pub fn last_event_id(&self) -> Option<&str> {
        Some(self.last_event_id.as_str()).filter(|id| !id.is_empty())
    }

    /// The reconnection delay most recently requested by a `retry:` field.
    pub fn reconnection_time_ms(&self) -> Option<u64> {
        self.reconnection_time_ms
    }

    /// How many events were dropped for a line longer than [`MAX_EVENT_BYTES`] or more data than
    /// that.
    pub fn dropped_events(&self) -> u64 {
        self.dropped_events
    }

    fn buffer_partial_line(&mut self, bytes: &[u8]) {
        if self.skipping_oversized_line || bytes.is_empty() {
            return;
        }
        if self.partial_line.len() + bytes.len() > self.max_event_bytes {
            self.skipping_oversized_line = true;
            self.drop_event_of_oversized_line();
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
        // A line that arrived whole in one chunk is as oversized as one that had to be buffered:
        // the limit must not depend on how the network split the stream.
        if self.partial_line.len() + tail.len() > self.max_event_bytes {
            self.drop_event_of_oversized_line();
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

    /// The current line is longer than the limit. It is not buffered, and so its event cannot be
    /// delivered faithfully: the event is dropped at dispatch and nothing more of it is kept.
    fn drop_event_of_oversized_line(&mut self) {
        self.partial_line = Vec::new();
        // The oversized line was the stream's first line, if any was, so a byte-order mark on the
        // next line is no longer at the stream's start.
        self.at_stream_start = false;
        self.event_oversized = true;
        self.data = String::new();
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
                self.pending_event_id = Some(String::from_utf8_lossy(value).into_owned());
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                // All digits, so only overflow can fail; an absurd value is ignored like junk.
                let millis = std::str::from_utf8(value)
                    .ok()
                    .and_then(|digits| digits.parse().ok());
                if millis.is_some() {
                    self.pending_reconnection_time_ms = millis;
                }
            }
            _ => {} // Unknown fields, and known ones with unusable values, are ignored.
        }
    }

    fn append_data(&mut self, value: &[u8]) {
        if self.event_oversized {
            return;
        }
        if self.data.len() + value.len() + 1 > self.max_event_bytes {
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
        let event_id = self.pending_event_id.take();
        let reconnection_time_ms = self.pending_reconnection_time_ms.take();
        if oversized {
            self.dropped_events += 1;
            self.data.clear();
            return;
        }
        // As the spec says, an event without data still sets the stream's last event ID.
        if let Some(event_id) = event_id {
            self.last_event_id = event_id;
        }
        if reconnection_time_ms.is_some() {
            self.reconnection_time_ms = reconnection_time_ms;
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
        parse_chunks_with_limit(MAX_EVENT_BYTES, chunks).events
    }

    /// What a parser made of a whole stream.
    #[derive(Debug, PartialEq, Eq)]
    struct Parsed {
        events: Vec<SseEvent>,
        dropped_events: u64,
    }

    /// Parses `chunks` with a parser whose limit is `max_event_bytes`, checking after every push
    /// that it buffers no more than the limit.
    fn parse_chunks_with_limit<'a>(
        max_event_bytes: usize,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Parsed {
        let mut parser = SseParser::with_max_event_bytes(max_event_bytes);
        let mut events = Vec::new();
        for chunk in chunks {
            parser.push_into(chunk, &mut events);
            assert!(parser.partial_line.len() <= max_event_bytes);
            assert!(parser.data.len() <= max_event_bytes);
        }
        events.extend(parser.finish());
        Parsed {
            events,
            dropped_events: parser.dropped_events(),
        }
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

    /// `data: one`, a 9 MiB `data:` line, `data: two` and a blank line used to be delivered as one
    /// event with data "one\ntwo": only the oversized line was dropped.
    #[test]
    fn oversized_line_drops_its_whole_event_not_just_the_line() {
        let mut oversized_line = b"data: ".to_vec();
        oversized_line.resize(9 << 20, b'x');
        oversized_line.push(b'\n');
        let head = b"event: big\nid: 7\nretry: 10\ndata: one\n";
        let tail = b"data: two\nid: 8\n\ndata: next\n\n";
        let stream = [&head[..], &oversized_line, &tail[..]].concat();
        // In one chunk the oversized line is complete when seen; in 64 KiB chunks it is buffered
        // until it outgrows the limit. Either way nothing of its event survives, not even its
        // event type, id or retry, and the next event parses normally.
        for chunk_size in [stream.len(), 64 << 10] {
            let mut parser = SseParser::new();
            let mut events = Vec::new();
            for chunk in stream.chunks(chunk_size) {
                parser.push_into(chunk, &mut events);
            }
            assert_eq!(events, [event("next")], "chunks of {chunk_size} bytes");
            assert_eq!(parser.dropped_events(), 1);
            assert_eq!(parser.last_event_id(), None);
            assert_eq!(parser.reconnection_time_ms(), None);
            assert!(parser.partial_line.capacity() <= MAX_EVENT_BYTES);
        }
        // An event that ends with the stream, without its blank line, is dropped by `finish`.
        let mut parser = SseParser::new();
        parser.push(b"data: one\n");
        parser.push(&oversized_line);
        assert_eq!(parser.push(b"data: two\n"), []);
        assert_eq!(parser.finish(), None);
        assert_eq!(parser.dropped_events(), 1);
    }

    #[test]
    fn a_line_at_the_limit_is_kept_and_one_byte_longer_drops_its_event() {
        let at_limit = "data: 0123456789";
        let over_limit = "data: 0123456789A";
        let limit = at_limit.len();
        for (input, expected, dropped_events) in [
            (format!("{at_limit}\n\n"), vec![event("0123456789")], 0),
            (format!("{over_limit}\n\ndata: b\n\n"), vec![event("b")], 1),
            // A comment is part of its event like any other line.
            (format!("data: a\n: {over_limit}\n\n"), vec![], 1),
            // An oversized first line still counts as the stream's start: a BOM after it is kept.
            (
                format!("\u{FEFF}{over_limit}\r\u{FEFF}\rdata: c\r\r"),
                vec![],
                1,
            ),
        ] {
            let input = input.as_bytes();
            let expected = Parsed {
                events: expected,
                dropped_events,
            };
            for split in 0..=input.len() {
                let (head, tail) = input.split_at(split);
                assert_eq!(
                    parse_chunks_with_limit(limit, [head, tail]),
                    expected,
                    "{:?} split at byte {split}",
                    String::from_utf8_lossy(input)
                );
            }
        }
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

    /// Property tests over generated streams: split invariance and oversized events.
    mod properties {
        use proptest::prelude::*;
        use proptest::sample::{select, Index};

        use super::*;

        /// The parser's limit in these tests: small, so oversized lines are cheap to generate. No
        /// ordinary generated line reaches it, and an event's data rarely does.
        const LIMIT: usize = 128;
        /// What oversized lines are made of, and nothing else is: found in an event, it means an
        /// oversized line leaked. Four UTF-8 bytes, so splits land inside it.
        const OVERSIZED_MARK: char = '\u{1F4A3}';
        /// Appended to every other line of an event that has an oversized line: found in an event,
        /// it means the rest of a dropped event leaked.
        const DOOMED_MARK: char = '\u{2620}';
        /// Cases per property: the whole set runs in well under a second natively.
        const CASES: u32 = 256;

        /// Short values: arbitrary Unicode without line ends or marks, or a tricky one.
        fn value() -> impl Strategy<Value = String> {
            prop_oneof![
                3 => "[^\r\n\u{1F4A3}\u{2620}]{0,6}",
                1 => "[ -~]{0,6}",
                1 => select(&["", " ", ":", " : ", "[DONE]", "\u{FEFF}", "é", "中文", "🎉", "\0"][..])
                    .prop_map(str::to_owned),
            ]
        }

        /// One line without its terminator, and whether it is oversized.
        fn line() -> impl Strategy<Value = (Vec<u8>, bool)> {
            let data_line = (select(&["data:", "data: ", "data:  ", "data"][..]), value())
                .prop_map(|(field, value)| (format!("{field}{value}").into_bytes(), false));
            let other_line = (
                select(
                    &[
                        "event:", "event: ", "id: ", "id:", ": ", ":", "foo: ", "Data: ", "data :",
                        "retry: ",
                    ][..],
                ),
                value(),
            )
                .prop_map(|(field, value)| (format!("{field}{value}").into_bytes(), false));
            let retry_line = "retry: [0-9]{1,4}".prop_map(|line| (line.into_bytes(), false));
            // Invalid UTF-8 becomes U+FFFD; the bytes never form either mark.
            let raw_line = prop::collection::vec(
                select(&[b'a', b' ', b':', 0, 0x80, 0xC3, 0xE4, 0xFF][..]),
                0..8,
            )
            .prop_map(|bytes| ([&b"data: "[..], &bytes].concat(), false));
            let oversized_line = (
                select(
                    &[
                        "data: ", "data:", "event: ", "id: ", ": ", "foo: ", "retry: ",
                    ][..],
                ),
                LIMIT / 4 + 1..LIMIT / 4 + 8,
            )
                .prop_map(|(field, length)| {
                    let value = OVERSIZED_MARK.to_string().repeat(length);
                    (format!("{field}{value}").into_bytes(), true)
                });
            prop_oneof![
                6 => data_line,
                3 => other_line,
                1 => retry_line,
                1 => raw_line,
                1 => oversized_line,
            ]
        }

        fn line_end() -> impl Strategy<Value = &'static str> {
            select(&["\n", "\r\n", "\r"][..])
        }

        /// An event: field lines, each with its line end, then the blank line's end. Every line
        /// of an event with an oversized line carries [`DOOMED_MARK`].
        fn event_block() -> impl Strategy<Value = Vec<(Vec<u8>, &'static str)>> {
            (
                prop::collection::vec((line(), line_end()), 0..5),
                line_end(),
            )
                .prop_map(|(lines, blank_line_end)| {
                    let doomed = lines.iter().any(|((_, oversized), _)| *oversized);
                    let mut block: Vec<_> = lines
                        .into_iter()
                        .map(|((mut line, oversized), end)| {
                            if doomed && !oversized {
                                line.extend_from_slice(DOOMED_MARK.to_string().as_bytes());
                            }
                            (line, end)
                        })
                        .collect();
                    block.push((Vec::new(), blank_line_end));
                    block
                })
        }

        /// How a generated stream ends.
        #[derive(Debug, Clone, Copy)]
        enum Ending {
            Complete,
            WithoutBlankLine,
            WithoutLastLineEnd,
        }

        /// A whole stream: an optional byte-order mark, events, and an ending.
        fn stream() -> impl Strategy<Value = Vec<u8>> {
            (
                any::<bool>(),
                prop::collection::vec(event_block(), 0..6),
                select(
                    &[
                        Ending::Complete,
                        Ending::WithoutBlankLine,
                        Ending::WithoutLastLineEnd,
                    ][..],
                ),
            )
                .prop_map(|(byte_order_mark, events, ending)| {
                    let mut lines: Vec<_> = events.into_iter().flatten().collect();
                    if !matches!(ending, Ending::Complete) {
                        lines.pop();
                    }
                    let mut stream = Vec::new();
                    if byte_order_mark {
                        stream.extend_from_slice(BYTE_ORDER_MARK);
                    }
                    for (line, end) in &lines {
                        stream.extend_from_slice(line);
                        stream.extend_from_slice(end.as_bytes());
                    }
                    if matches!(ending, Ending::WithoutLastLineEnd) {
                        if let Some((_, end)) = lines.last() {
                            stream.truncate(stream.len() - end.len());
                        }
                    }
                    stream
                })
        }

        /// `stream` cut at the given positions (any byte offset, so also inside a CRLF pair and
        /// inside a multi-byte character).
        fn split_at_positions<'a>(stream: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
            let mut positions: Vec<usize> =
                cuts.iter().map(|cut| cut.index(stream.len() + 1)).collect();
            positions.sort_unstable();
            let mut chunks = Vec::new();
            let mut start = 0;
            for position in positions {
                chunks.push(&stream[start..position]);
                start = position;
            }
            chunks.push(&stream[start..]);
            chunks
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]

            #[test]
            fn splitting_a_stream_anywhere_changes_nothing(
                stream in stream(),
                cuts in prop::collection::vec(any::<Index>(), 0..12),
            ) {
                let whole = parse_chunks_with_limit(LIMIT, [&stream[..]]);
                let split = parse_chunks_with_limit(LIMIT, split_at_positions(&stream, &cuts));
                prop_assert_eq!(&split, &whole);
                let byte_by_byte = parse_chunks_with_limit(LIMIT, stream.chunks(1));
                prop_assert_eq!(&byte_by_byte, &whole);
            }

            #[test]
            fn nothing_of_an_event_with_an_oversized_line_is_delivered(stream in stream()) {
                let parsed = parse_chunks_with_limit(LIMIT, [&stream[..]]);
                for event in &parsed.events {
                    let fields = [
                        Some(event.data.as_str()),
                        event.event.as_deref(),
                        event.id.as_deref(),
                    ];
                    for field in fields.into_iter().flatten() {
                        prop_assert!(
                            !field.contains([OVERSIZED_MARK, DOOMED_MARK]),
                            "{:?} leaked from a dropped event", event
                        );
                    }
                }
            }
        }
    }
}
