//! End to end: the real binary on an ephemeral port, spoken to over raw TCP
//! so the tests see exactly which bytes cross the wire, and when. Plain
//! blocking std sockets keep the client free of the server's machinery.

/// No test waits this long for a byte unless the mock has hung.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

const READY_PREFIX: &str = "mock-openai listening on http://127.0.0.1:";

/// The mock running as a child process, killed when the test ends.
struct MockServer {
    child: Child,
    port: u16,
}

impl MockServer {
    fn start(args: &[&str]) -> MockServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-openai"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the mock-openai binary should start");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut ready_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut ready_line)
            .expect("the mock should print its ready line");
        let port = ready_line
            .trim()
            .strip_prefix(READY_PREFIX)
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected ready line {ready_line:?}"));
        MockServer { child, port }
    }

    fn connect(&self) -> TcpStream {
        let socket = TcpStream::connect(("127.0.0.1", self.port))
            .expect("the mock should accept connections");
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("read timeout should be settable");
        socket
    }

    /// Sends a request on a fresh connection and returns the open socket.
    fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> TcpStream {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        if let Some(key) = key {
            request.push_str(&format!("authorization: Bearer {key}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let mut socket = self.connect();
        socket
            .write_all(request.as_bytes())
            .expect("request should be written");
        socket
    }

    /// A whole request/response exchange, body de-chunked.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        let mut socket = self.send(method, path, key, headers, body);
        let mut raw = Vec::new();
        socket
            .read_to_end(&mut raw)
            .expect("response should be readable");
        HttpResponse::parse(&raw)
    }

    fn stats(&self) -> Value {
        let response = self.exchange("GET", "/_mock/stats", None, &[], "");
        serde_json::from_str(&response.body).expect("stats should be JSON")
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        // The process may already be gone; either way it must not outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct HttpResponse {
    status: u16,
    head: String,
    body: String,
}

impl HttpResponse {
    fn parse(raw: &[u8]) -> HttpResponse {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let head = head.to_ascii_lowercase();
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_owned()
        };
        HttpResponse { status, head, body }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Decodes a complete chunked body; stops quietly at a truncated one.
fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// The JSON payloads of an SSE body (`[DONE]` as a JSON string).
fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|payload| serde_json::from_str(payload).unwrap_or(Value::String(payload.to_owned())))
        .collect()
}

fn chat_request(stream: bool, message: &str) -> String {
    serde_json::json!({
        "model": "gpt-4o-mini",
        "stream": stream,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": message}],
    })
    .to_string()
}

fn key_stats<'a>(stats: &'a Value, key: &str) -> &'a Value {
    &stats["keys"][key]
}

#[test]
fn stream_arrives_as_many_chunks_spread_over_time() {
    const CHUNKS: usize = 20;
    const DELAY_MS: u64 = 25;
    let server = MockServer::start(&[
        "--chunks",
        &CHUNKS.to_string(),
        "--delay-ms",
        &DELAY_MS.to_string(),
    ]);
    let message = "<img src=x onerror=alert(1)> 你好 😀";
    let mut socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &chat_request(true, message),
    );

    let started = Instant::now();
    let mut raw = Vec::new();
    let mut reads_with_data = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = socket.read(&mut buffer).expect("stream should be readable");
        if read == 0 {
            break;
        }
        if buffer[..read].windows(6).any(|window| window == b"data: ") {
            reads_with_data.push(started.elapsed());
        }
        raw.extend_from_slice(&buffer[..read]);
    }

    // Each paced chunk leaves as its own write; a few may coalesce on a busy machine.
    assert!(
        reads_with_data.len() >= CHUNKS * 3 / 4,
        "only {} separate reads",
        reads_with_data.len()
    );
    let spread = reads_with_data.last().copied().unwrap_or_default() - reads_with_data[0];
    let expected = Duration::from_millis(DELAY_MS * CHUNKS as u64);
    assert!(
        spread >= expected * 4 / 5,
        "chunks spread over only {spread:?}"
    );

    let response = HttpResponse::parse(&raw);
    assert_eq!(response.status, 200);
    assert!(response.head.contains("content-type: text/event-stream"));
    let events = sse_events(&response.body);
    let content: String = events
        .iter()
        .filter_map(|event| event["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert!(content.contains(&format!("\n\n{message}\n\n")), "{content}");
    let content_chunks = events
        .iter()
        .filter(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
        .count();
    assert_eq!(content_chunks, CHUNKS);
    assert_eq!(events.last(), Some(&Value::String("[DONE]".into())));

    let usage = &events[events.len() - 2]["usage"];
    let stats = server.stats();
    let counters = key_stats(&stats, "sk-mock-ok");
    assert_eq!(counters["streams_finished"], 1);
    assert_eq!(counters["streams_aborted"], 0);
    assert_eq!(counters["completion_tokens"], usage["completion_tokens"]);
    assert_eq!(counters["prompt_tokens"], usage["prompt_tokens"]);
}

#[test]
fn aborting_mid_stream_counts_as_aborted() {
    let server = MockServer::start(&["--chunks", "50", "--delay-ms", "20"]);
    let mut socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-abort"),
        &[],
        &chat_request(true, "bye"),
    );
    let mut events_seen = 0;
    let mut buffer = [0u8; 16 * 1024];
    while events_seen < 3 {
        let read = socket.read(&mut buffer).expect("stream should be readable");
        assert!(read > 0, "stream ended before the client hung up");
        events_seen += buffer[..read]
            .windows(6)
            .filter(|window| *window == b"data: ")
            .count();
    }
    drop(socket);

    let deadline = Instant::now() + Duration::from_secs(3);
    let counters = loop {
        let stats = server.stats();
        let counters = key_stats(&stats, "sk-mock-abort").clone();
        if counters["streams_aborted"] == 1 || Instant::now() > deadline {
            break counters;
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(counters["streams_aborted"], 1, "{counters}");
    assert_eq!(counters["streams_finished"], 0);
    assert_eq!(counters["requests"], 1);
    assert_eq!(counters["completion_tokens"], 0);
}

#[test]
fn headers_override_pacing_per_request() {
    let server = MockServer::start(&["--chunks", "40", "--delay-ms", "1000"]);
    let started = Instant::now();
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[("x-mock-chunks", "3"), ("x-mock-delay-ms", "0")],
        &chat_request(true, "quick"),
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    let content_chunks = sse_events(&response.body)
        .iter()
        .filter(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
        .count();
    assert_eq!(content_chunks, 3);
}

#[test]
fn cut_key_drops_the_connection_after_five_chunks() {
    let server = MockServer::start(&["--chunks", "40", "--delay-ms", "5"]);
    let mut socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-cut"),
        &[],
        &chat_request(true, "x"),
    );
    let mut raw = Vec::new();
    // A reset is as good as a close here: both end the stream early.
    let _ = socket.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    assert_eq!(text.matches("data: ").count(), 1 + 5, "{text}");
    assert!(!text.contains("[DONE]"));
    assert!(
        !text.ends_with("0\r\n\r\n"),
        "the chunked body must not be terminated"
    );

    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-cut"),
        &[],
        &chat_request(false, "x"),
    );
    assert_eq!(response.status, 0, "non-streaming cut should send nothing");
    let stats = server.stats();
    assert_eq!(key_stats(&stats, "sk-mock-cut")["requests"], 2);
    assert_eq!(key_stats(&stats, "sk-mock-cut")["streams_aborted"], 1);
}

#[test]
fn failing_keys_and_bad_requests_get_openai_errors() {
    let server = MockServer::start(&[]);
    let body = chat_request(false, "x");
    let cases = [
        (
            Some("sk-mock-429"),
            429,
            "requests",
            Value::from("rate_limit_exceeded"),
        ),
        (
            Some("sk-mock-quota"),
            429,
            "insufficient_quota",
            Value::from("insufficient_quota"),
        ),
        (
            Some("sk-mock-401"),
            401,
            "invalid_request_error",
            Value::from("invalid_api_key"),
        ),
        (
            Some("sk-real-key"),
            401,
            "invalid_request_error",
            Value::from("invalid_api_key"),
        ),
        (Some("sk-mock-500"), 500, "server_error", Value::Null),
        (None, 401, "invalid_request_error", Value::Null),
    ];
    for (key, status, kind, code) in cases {
        let response = server.exchange("POST", "/v1/chat/completions", key, &[], &body);
        assert_eq!(response.status, status, "{key:?}");
        let error = &response.json()["error"];
        assert_eq!(error["type"], kind, "{key:?}");
        assert_eq!(error["code"], code, "{key:?}");
        assert!(
            error["param"].is_null() && error["message"].is_string(),
            "{key:?}"
        );
    }
    let limited = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-429"),
        &[],
        &body,
    );
    assert!(limited.head.contains("retry-after: 1"));

    let bad_json = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        "{nope",
    );
    assert_eq!(bad_json.status, 400);
    let not_found = server.exchange("GET", "/v1/nothing", Some("sk-mock-ok"), &[], "");
    assert_eq!(not_found.status, 404);
    let wrong_method = server.exchange("GET", "/v1/chat/completions", Some("sk-mock-ok"), &[], "");
    assert_eq!(wrong_method.status, 405);

    let stats = server.stats();
    assert_eq!(key_stats(&stats, "sk-mock-429")["requests"], 2);
    assert_eq!(key_stats(&stats, "(missing)")["requests"], 1);

    let reset = server.exchange("POST", "/_mock/reset", None, &[], "");
    assert_eq!(reset.status, 200);
    assert_eq!(server.stats()["total"]["requests"], 0);
}

#[test]
fn non_streaming_usage_matches_the_stats() {
    let server = MockServer::start(&[]);
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &chat_request(false, "你好"),
    );
    assert_eq!(response.status, 200);
    assert!(response.head.contains("content-length:"));
    let completion = response.json();
    assert_eq!(completion["object"], "chat.completion");
    assert!(completion["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|content| content.contains("\n\n你好\n\n")));
    let stats = server.stats();
    assert_eq!(
        key_stats(&stats, "sk-mock-ok")["completion_tokens"],
        completion["usage"]["completion_tokens"]
    );
    assert_eq!(key_stats(&stats, "sk-mock-ok")["streams_finished"], 0);
}
