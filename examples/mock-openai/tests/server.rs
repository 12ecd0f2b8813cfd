//! End to end: the real binary on an ephemeral port, spoken to over raw TCP
//! so the tests see exactly which bytes cross the wire, and when. Plain
//! blocking std sockets keep the client free of the server's machinery.

mod common;

use std::io::Read;
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::*;

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

/// Reads a whole response, noting when its first byte arrived.
fn read_timed(mut socket: TcpStream, sent: Instant) -> (Duration, HttpResponse) {
    let mut raw = Vec::new();
    let mut first_byte = None;
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let read = socket
            .read(&mut buffer)
            .expect("response should be readable");
        if read == 0 {
            break;
        }
        first_byte.get_or_insert_with(|| sent.elapsed());
        raw.extend_from_slice(&buffer[..read]);
    }
    (first_byte.unwrap_or_default(), HttpResponse::parse(&raw))
}

fn content_chunk_count(body: &str) -> usize {
    sse_events(body)
        .iter()
        .filter(|e| {
            e["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|c| !c.is_empty())
        })
        .count()
}

#[test]
fn slowgen_sends_a_non_streamed_head_only_after_generating() {
    const CHUNKS: u64 = 10;
    const DELAY_MS: u64 = 60;
    let generation = Duration::from_millis(CHUNKS * DELAY_MS);
    let server = MockServer::start(&[
        "--chunks",
        &CHUNKS.to_string(),
        "--delay-ms",
        &DELAY_MS.to_string(),
    ]);
    let sent = Instant::now();
    let socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-slowgen"),
        &[],
        &chat_request(false, "take your time"),
    );
    let (first_byte, response) = read_timed(socket, sent);
    assert!(
        first_byte >= generation * 9 / 10,
        "head after only {first_byte:?}"
    );
    assert_eq!(response.status, 200);
    assert!(response.head.contains("content-length:"));
    let completion = response.json();
    assert!(completion["choices"][0]["message"]["content"]
        .as_str()
        .is_some_and(|content| content.contains("\n\ntake your time\n\n")));
    let stats = server.stats();
    let counters = key_stats(&stats, "sk-mock-slowgen");
    assert_eq!(
        counters["completion_tokens"],
        completion["usage"]["completion_tokens"]
    );
    assert_eq!(
        counters["prompt_tokens"],
        completion["usage"]["prompt_tokens"]
    );
}

#[test]
fn slowgen_streams_like_a_normal_key() {
    const CHUNKS: u64 = 10;
    const DELAY_MS: u64 = 60;
    let generation = Duration::from_millis(CHUNKS * DELAY_MS);
    let server = MockServer::start(&[
        "--chunks",
        &CHUNKS.to_string(),
        "--delay-ms",
        &DELAY_MS.to_string(),
    ]);
    let sent = Instant::now();
    let socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-slowgen"),
        &[],
        &chat_request(true, "stream it"),
    );
    let (first_byte, response) = read_timed(socket, sent);
    let finished = sent.elapsed();
    assert!(first_byte < generation / 2, "head after {first_byte:?}");
    assert!(finished >= generation * 9 / 10, "finished in {finished:?}");
    assert_eq!(response.status, 200);
    assert_eq!(content_chunk_count(&response.body), CHUNKS as usize);
    let stats = server.stats();
    assert_eq!(key_stats(&stats, "sk-mock-slowgen")["streams_finished"], 1);
}

#[test]
fn slowgen_wait_follows_the_message_directive() {
    // Without the directive this would be 40 × 1 s.
    let server = MockServer::start(&["--chunks", "40", "--delay-ms", "1000"]);
    let sent = Instant::now();
    let socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-slowgen"),
        &[],
        &chat_request(false, "hi [mock chunks=5 delay_ms=80]"),
    );
    let (first_byte, response) = read_timed(socket, sent);
    assert_eq!(response.status, 200);
    assert!(
        first_byte >= Duration::from_millis(360) && first_byte < Duration::from_secs(5),
        "head after {first_byte:?}"
    );
}

#[test]
fn slowgen_bills_the_answer_even_if_the_client_left() {
    let server = MockServer::start(&["--chunks", "20", "--delay-ms", "100"]);
    let sent = Instant::now();
    let socket = server.send(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-slowgen"),
        &[],
        &chat_request(false, "never mind"),
    );
    thread::sleep(Duration::from_millis(200));
    drop(socket);

    let stats = server.stats();
    let counters = key_stats(&stats, "sk-mock-slowgen");
    assert_eq!(counters["requests"], 1);
    assert_eq!(
        counters["completion_tokens"], 0,
        "billed before generation ended"
    );

    let deadline = Instant::now() + Duration::from_secs(6);
    let counters = loop {
        let stats = server.stats();
        let counters = key_stats(&stats, "sk-mock-slowgen").clone();
        if counters["completion_tokens"].as_u64().unwrap_or(0) > 0 || Instant::now() > deadline {
            break counters;
        }
        thread::sleep(Duration::from_millis(50));
    };
    assert!(sent.elapsed() >= Duration::from_millis(1800));
    assert!(
        counters["completion_tokens"].as_u64().unwrap_or(0) > 0,
        "{counters}"
    );
    assert!(counters["prompt_tokens"].as_u64().unwrap_or(0) > 0);
    assert_eq!(counters["errors"], serde_json::json!({}));
}

#[test]
fn echo400_quotes_the_callers_key_for_redaction_tests() {
    let server = MockServer::start(&[]);
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-echo400"),
        &[],
        &chat_request(false, "x"),
    );
    assert_eq!(response.status, 400);
    // The JSON form of the key is escaped once more inside the message string.
    assert!(
        response.body.contains(r#"\"api_key\":\"sk-mock-echo400\""#),
        "{}",
        response.body
    );
    let error = &response.json()["error"];
    assert_eq!(error["type"], "invalid_request_error");
    assert_eq!(error["code"], "invalid_value");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("Invalid header value key=sk-mock-echo400 (Bearer:sk-mock-echo400; query key%3Dsk-mock-echo400;"), "{message}");

    // A longer key of the family, whose percent-encoding differs from it.
    let odd_key = "sk-mock-echo400-a+b/c=";
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some(odd_key),
        &[],
        &chat_request(false, "x"),
    );
    assert_eq!(response.status, 400);
    let message = response.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for form in [
        "key=sk-mock-echo400-a+b/c=",
        "Bearer:sk-mock-echo400-a+b/c=",
        "key%3Dsk-mock-echo400-a+b/c=",
        r#""api_key":"sk-mock-echo400-a+b/c=""#,
        "sk-mock-echo400-a%2Bb%2Fc%3D",
    ] {
        assert!(message.contains(form), "{form:?} missing from {message:?}");
    }
    let stats = server.stats();
    assert_eq!(
        key_stats(&stats, "sk-mock-echo400")["errors"],
        serde_json::json!({"400": 1})
    );
}

#[test]
fn deactivated_key_gets_a_403() {
    let server = MockServer::start(&[]);
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-deactivated"),
        &[],
        &chat_request(true, "x"),
    );
    assert_eq!(response.status, 403);
    assert_eq!(
        response.json(),
        serde_json::json!({"error": {
            "message": "This key belongs to a deactivated account (mock-openai: key sk-mock-deactivated).",
            "type": "invalid_request_error",
            "param": null,
            "code": "account_deactivated",
        }})
    );
    let stats = server.stats();
    let counters = key_stats(&stats, "sk-mock-deactivated");
    assert_eq!(counters["requests"], 1);
    assert_eq!(counters["errors"], serde_json::json!({"403": 1}));
}

#[test]
fn forbidden_models_get_the_project_restriction_on_every_key() {
    let server = MockServer::start(&[]);
    let body = serde_json::json!({
        "model": "forbidden-gpt-5",
        "messages": [{"role": "user", "content": "x"}],
    })
    .to_string();
    let expected = r#"{"error":{"message":"Project `proj_mock` does not have access to model `forbidden-gpt-5`","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
    for key in ["sk-mock-ok", "sk-mock-slowgen"] {
        let response = server.exchange("POST", "/v1/chat/completions", Some(key), &[], &body);
        assert_eq!(response.status, 403, "{key}");
        assert_eq!(response.body, expected, "{key}");
    }
    let embedding = server.exchange(
        "POST",
        "/v1/embeddings",
        Some("sk-mock-ok"),
        &[],
        r#"{"model":"forbidden-embed","input":"x"}"#,
    );
    assert_eq!(embedding.status, 403);
    assert_eq!(embedding.json()["error"]["code"], "model_not_found");

    let stats = server.stats();
    let counters = key_stats(&stats, "sk-mock-ok");
    assert_eq!(counters["requests"], 2);
    assert_eq!(counters["errors"], serde_json::json!({"403": 2}));
    assert_eq!(counters["completion_tokens"], 0);
    assert_eq!(key_stats(&stats, "sk-mock-slowgen")["requests"], 1);
}

#[test]
fn requests_over_the_tpm_limit_are_too_large() {
    let server = MockServer::start(&[]);
    let huge_prompt = "lorem ipsum dolor sit amet ".repeat(300 * 1024 / 27);
    for key in ["sk-mock-ok", "sk-mock-slowgen"] {
        let response = server.exchange(
            "POST",
            "/v1/chat/completions",
            Some(key),
            &[],
            &chat_request(true, &huge_prompt),
        );
        assert_eq!(response.status, 429, "{key}");
        assert!(!response.head.contains("retry-after"), "{key}");
        let error = &response.json()["error"];
        assert_eq!(error["type"], "tokens");
        assert_eq!(error["code"], "rate_limit_exceeded");
        assert!(error["param"].is_null());
        let message = error["message"].as_str().unwrap_or_default();
        let prefix = "Request too large for gpt-4o-mini in organization org-mock on tokens per min (TPM): Limit 50000, Requested ";
        let suffix = ". The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more.";
        let requested = message
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .and_then(|number| number.parse::<u64>().ok());
        assert!(requested.is_some_and(|n| n > 50_000), "{message}");
    }

    // A small prompt asking for too much output is too large as well.
    let greedy = serde_json::json!({
        "model": "gpt-4o",
        "max_tokens": 49_990,
        "messages": [{"role": "user", "content": "hello world"}],
    })
    .to_string();
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &greedy,
    );
    assert_eq!(response.status, 429);
    assert!(response.json()["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("for gpt-4o in") && m.contains("Requested 50001.")));
    let stats = server.stats();
    assert_eq!(
        key_stats(&stats, "sk-mock-ok")["errors"],
        serde_json::json!({"429": 2})
    );

    let unlimited = MockServer::start(&["--tpm-limit", "0", "--delay-ms", "0"]);
    let response = unlimited.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &chat_request(false, &huge_prompt),
    );
    assert_eq!(response.status, 200);
}

#[test]
fn message_directive_paces_when_headers_cannot_reach_the_mock() {
    let server = MockServer::start(&["--chunks", "40", "--delay-ms", "1000"]);
    let started = Instant::now();
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &chat_request(true, "quick [mock delay_ms=0 chunks=3]"),
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(content_chunk_count(&response.body), 3);

    // A header beats the directive, field by field.
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[("x-mock-chunks", "5")],
        &chat_request(true, "[mock chunks=3 delay_ms=0]"),
    );
    assert_eq!(content_chunk_count(&response.body), 5);

    // An unusable value is ignored, not an error: the flag's 40 chunks stay.
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[("x-mock-delay-ms", "0")],
        &chat_request(true, "[mock chunks=0]"),
    );
    assert_eq!(response.status, 200);
    assert_eq!(content_chunk_count(&response.body), 40);
}

/// One turn of an OA action over the wire: the page's tool is called
/// (streamed), and the result sent back is quoted in the next answer.
#[test]
fn a_tool_round_trip_over_the_wire() {
    let server = MockServer::start(&["--delay-ms", "0"]);
    let tools = serde_json::json!([{"type": "function", "function": {
        "name": "leave_balance", "description": "查询年假余额：返回剩余天数",
        "parameters": {"type": "object", "required": ["year"],
            "properties": {"year": {"type": "integer", "examples": [2025]}}}}}]);
    let ask = serde_json::json!({
        "model": "gpt-4o-mini", "stream": true, "stream_options": {"include_usage": true},
        "tools": tools, "messages": [{"role": "user", "content": "帮我查询年假余额"}],
    });
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &ask.to_string(),
    );
    assert_eq!(response.status, 200);
    let events = sse_events(&response.body);
    let call_chunks = events
        .iter()
        .filter(|event| event["choices"][0]["delta"]["tool_calls"].is_array())
        .count();
    assert!(call_chunks >= 3, "a head and at least two fragments");
    let id = events[0]["choices"][0]["delta"]["tool_calls"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(id.starts_with("call_"), "{id}");
    let arguments: String = events
        .iter()
        .filter_map(|event| {
            event["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
        })
        .collect();
    assert_eq!(arguments, r#"{"year":2025}"#);
    assert!(events
        .iter()
        .any(|event| event["choices"][0]["finish_reason"] == "tool_calls"));

    let answer = serde_json::json!({
        "model": "gpt-4o-mini", "tools": tools, "messages": [
            {"role": "user", "content": "帮我查询年假余额"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": id, "type": "function",
                "function": {"name": "leave_balance", "arguments": arguments}}]},
            {"role": "tool", "tool_call_id": id, "content": "{\"days\":5}"},
        ],
    });
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-ok"),
        &[],
        &answer.to_string(),
    );
    let completion = response.json();
    assert_eq!(completion["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        completion["choices"][0]["message"]["content"],
        "工具 `leave_balance` 返回：\n\n```json\n{\"days\":5}\n```"
    );
}
