//! End to end per provider dialect: the real binary chosen into each
//! dialect by header, path prefix, Azure's path or `--provider`, checked on
//! the bytes it sends back and on what `/_mock/last-request?detail=1` saw.

mod common;

use serde_json::{json, Value};

use common::*;

fn chat(model: &str, stream: bool, message: &str) -> String {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": message}]})
        .to_string()
}

/// The data frames of a stream (not `[DONE]`), decoded.
fn chunks(body: &str) -> Vec<Value> {
    sse_events(body)
        .into_iter()
        .filter(Value::is_object)
        .collect()
}

#[test]
fn azure_path_needs_api_key_and_api_version() {
    let server = MockServer::start(&["--chunks", "3", "--delay-ms", "0"]);
    let path = "/openai/deployments/prod-gpt/chat/completions?api-version=2024-10-21";
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]}).to_string();

    let bearer_only = server.exchange("POST", path, Some("sk-mock-a"), &[], &body);
    assert_eq!(bearer_only.status, 401);
    assert_eq!(bearer_only.json()["error"]["code"], "401");

    let no_version = server.exchange(
        "POST",
        "/openai/deployments/prod-gpt/chat/completions",
        None,
        &[("api-key", "sk-mock-a")],
        &body,
    );
    assert_eq!(no_version.status, 404);
    assert_eq!(
        no_version.json(),
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );

    let answered = server.exchange("POST", path, None, &[("api-key", "sk-mock-az")], &body);
    assert_eq!(answered.status, 200);
    let frames = chunks(&answered.body);
    assert_eq!(frames[0]["choices"], json!([]));
    assert!(frames[0]["prompt_filter_results"].is_array());
    assert_eq!(frames[1]["model"], "gpt-4o-2024-08-06");

    let seen = server
        .exchange("GET", "/_mock/last-request?detail=1", None, &[], "")
        .json();
    assert_eq!(seen["provider"], "azure");
    assert_eq!(
        seen["path"],
        "/openai/deployments/prod-gpt/chat/completions"
    );
    assert_eq!(seen["query"], "api-version=2024-10-21");
    assert_eq!(seen["headers"]["api-key"], "sk-mock-az");
    assert!(seen["headers"].get("authorization").is_none());
    assert_eq!(seen["body"]["messages"][0]["content"], "hi");
    // The plain endpoint still shows only the body, as older tests expect.
    let plain = server
        .exchange("GET", "/_mock/last-request", None, &[], "")
        .json();
    assert_eq!(plain["messages"][0]["content"], "hi");
    assert!(plain.get("headers").is_none());
    // Counted under the api-key, failures under the key or as missing.
    let stats = server.stats();
    assert_eq!(stats["keys"]["sk-mock-az"]["streams_finished"], 1);
    assert_eq!(stats["keys"]["(missing)"]["errors"]["401"], 1);
}

#[test]
fn deepseek_by_path_prefix_answers_its_own_usage_and_402() {
    let server = MockServer::start(&["--chunks", "4", "--delay-ms", "0"]);
    let path = "/_provider/deepseek/chat/completions";
    let streamed = server.exchange(
        "POST",
        path,
        Some("sk-mock-d"),
        &[],
        &chat("deepseek-chat", true, "hi"),
    );
    assert_eq!(streamed.status, 200);
    let frames = chunks(&streamed.body);
    let last = &frames[frames.len() - 1];
    assert_eq!(last["choices"][0]["finish_reason"], "stop");
    assert!(last["usage"]["prompt_cache_miss_tokens"].is_u64());

    let broke = server.exchange(
        "POST",
        path,
        Some("sk-mock-nobalance"),
        &[],
        &chat("deepseek-chat", true, "hi"),
    );
    assert_eq!(broke.status, 402);
    assert_eq!(broke.json()["error"]["message"], "Insufficient Balance");

    let seen = server
        .exchange("GET", "/_mock/last-request?detail=1", None, &[], "")
        .json();
    assert_eq!(seen["provider"], "deepseek");
    assert_eq!(seen["headers"]["authorization"], "Bearer sk-mock-d");
}

#[test]
fn deepseek_queue_sends_the_head_then_keep_alives() {
    let server = MockServer::start(&["--chunks", "2", "--delay-ms", "0"]);
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-q"),
        &[("x-mock-provider", "deepseek"), ("x-mock-queue-ms", "200")],
        &chat("deepseek-chat", true, "wait"),
    );
    assert_eq!(response.status, 200);
    assert!(
        response.body.starts_with(": keep-alive\n\n"),
        "{}",
        response.body
    );
    let keep_alives = response.body.matches(": keep-alive").count();
    assert_eq!(keep_alives, 4);
    let first_data = response.body.find("data: ").unwrap_or(0);
    assert!(!response.body[first_data..].contains(": keep-alive"));
}

#[test]
fn qwen_refuses_thinking_without_stream_and_reports_arrears() {
    let server = MockServer::start(&["--chunks", "2", "--delay-ms", "0"]);
    let qwen = [("x-mock-provider", "qwen")];
    let thinking = json!({"model": "qwen-plus", "enable_thinking": true,
        "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let refused = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-k"),
        &qwen,
        &thinking,
    );
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], "invalid_parameter_error");

    let arrears = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-arrears"),
        &qwen,
        &chat("qwen-plus", false, "x"),
    );
    assert_eq!(arrears.status, 429);
    assert_eq!(arrears.json()["error"]["code"], "Arrearage");
    assert!(
        !arrears.head.contains("retry-after"),
        "a billing state, not a rate limit"
    );

    let region = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-wrongregion"),
        &qwen,
        &chat("qwen-plus", false, "x"),
    );
    assert_eq!(region.status, 401);
    assert_eq!(region.json()["error"]["code"], "invalid_api_key");

    let streamed = json!({"model": "qwen-plus", "stream": true, "enable_thinking": true,
        "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let reasoned = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-k"),
        &qwen,
        &streamed,
    );
    assert_eq!(reasoned.status, 200);
    let thought = chunks(&reasoned.body)
        .iter()
        .filter(|f| f["choices"][0]["delta"]["reasoning_content"].is_string())
        .count();
    assert_eq!(thought, 8);
}

#[test]
fn zhipu_refuses_forced_tools_and_stops_as_sensitive() {
    let server = MockServer::start(&["--chunks", "4", "--delay-ms", "0"]);
    let path = "/_provider/zhipu/api/paas/v4/chat/completions";
    let forced = json!({"model": "glm-4", "tool_choice": "required",
        "tools": [{"type": "function", "function": {"name": "f"}}],
        "messages": [{"role": "user", "content": "x"}]})
    .to_string();
    let refused = server.exchange("POST", path, Some("sk-mock-z"), &[], &forced);
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["code"], "1214");

    let sensitive = server.exchange(
        "POST",
        path,
        Some("sk-mock-z"),
        &[],
        &chat("glm-4", true, "x [mock finish=sensitive]"),
    );
    let frames = chunks(&sensitive.body);
    let last = &frames[frames.len() - 1];
    assert_eq!(last["choices"][0]["finish_reason"], "sensitive");
    assert!(last["usage"]["completion_tokens"].is_u64());
}

#[test]
fn provider_flag_sets_the_default_and_unknown_names_are_refused() {
    let server = MockServer::start(&["--provider", "moonshot", "--chunks", "2", "--delay-ms", "0"]);
    let response = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-m"),
        &[],
        &chat("moonshot-v1-8k", true, "hi"),
    );
    let frames = chunks(&response.body);
    let last = &frames[frames.len() - 1];
    assert!(last["choices"][0]["usage"]["total_tokens"].is_u64());
    assert!(last.get("usage").is_none());

    let unknown = server.exchange(
        "POST",
        "/v1/chat/completions",
        Some("sk-mock-m"),
        &[("x-mock-provider", "claude")],
        &chat("m", false, "hi"),
    );
    assert_eq!(unknown.status, 400);
    assert_eq!(unknown.json()["error"]["param"], "x-mock-provider");
}
