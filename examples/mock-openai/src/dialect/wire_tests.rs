//! The wire each dialect streams, decoded frame by frame: usage placement,
//! reasoning, keep-alives and Azure's opening chunk, end to end through the
//! planner, the dialect's shaping and the stream script (no sockets).

use serde_json::{json, Value};

use super::answer::shape_completion;
use super::stream_style::{stream_style, StreamAsk};
use super::Provider;
use crate::chat::ChatRequest;
use crate::stream::{Event, StreamScript};
use crate::tokens::count_tokens;

/// The stream's events: frames decoded (`"[DONE]"` and `": keep-alive"` as
/// strings), pauses as `null`.
fn stream(provider: Provider, body: Value, ask: StreamAsk<'_>) -> Vec<Value> {
    let chat = match ChatRequest::parse_for(body.to_string().as_bytes(), Some("deployment")) {
        Ok(chat) => chat,
        Err(error) => panic!("bad test request {error:?}"),
    };
    let message = chat.last_user_message().to_owned();
    let ask = StreamAsk {
        include_usage: chat.include_usage(),
        chunk_include_usage: chat.chunk_include_usage(),
        ..ask
    };
    let history = chat.history_tokens();
    let mut plan = chat.plan("chatcmpl-mock-1".into(), 1);
    shape_completion(provider, &mut plan.completion, history, &message);
    let script = StreamScript::with_style(plan.completion, 4, stream_style(provider, ask), None);
    script
        .map(|event| match event {
            Event::Frame(bytes) => {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                match text.strip_prefix("data: ") {
                    Some(payload) => serde_json::from_str(payload.trim_end())
                        .unwrap_or(Value::String(payload.trim_end().into())),
                    None => Value::String(text.trim_end().into()),
                }
            }
            Event::Wait(_) | Event::Sleep(_) => Value::Null,
            Event::Cut => Value::String("CUT".into()),
        })
        .collect()
}

fn frames(events: &[Value]) -> Vec<&Value> {
    events.iter().filter(|event| event.is_object()).collect()
}

fn request(extra: Value) -> Value {
    let mut body = json!({
        "model": "m", "stream": true,
        "messages": [{"role": "user", "content": "hello there"}],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

fn content(frames: &[&Value]) -> String {
    frames
        .iter()
        .filter_map(|f| f["choices"][0]["delta"]["content"].as_str())
        .collect()
}

#[test]
fn deepseek_puts_usage_with_cache_split_on_the_finish_chunk() {
    let body = json!({"model": "deepseek-chat", "stream": true, "messages": [
        {"role": "user", "content": "first question"},
        {"role": "assistant", "content": "first answer"},
        {"role": "user", "content": "second"},
    ]});
    let events = stream(Provider::DeepSeek, body, StreamAsk::default());
    let frames = frames(&events);
    let finish = frames[frames.len() - 1];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    let usage = &finish["usage"];
    assert_eq!(usage["completion_tokens"], count_tokens(&content(&frames)));
    // "first question" and "first answer" are 4 tokens each, plus 4 framing each.
    assert_eq!(usage["prompt_cache_hit_tokens"], 16);
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 16);
    assert_eq!(
        usage["prompt_cache_miss_tokens"].as_u64().unwrap_or(0) + 16,
        usage["prompt_tokens"].as_u64().unwrap_or(0)
    );
    assert!(frames[..frames.len() - 1]
        .iter()
        .all(|f| f.get("usage").is_none()));
    assert_eq!(events.last(), Some(&json!("[DONE]")));
}

#[test]
fn deepseek_separate_usage_is_a_chunk_of_its_own() {
    let ask = StreamAsk {
        usage_directive: Some("separate"),
        ..StreamAsk::default()
    };
    let events = stream(Provider::DeepSeek, request(json!({})), ask);
    let frames = frames(&events);
    let last = frames[frames.len() - 1];
    assert_eq!(last["choices"], json!([]));
    assert!(last["usage"]["prompt_cache_hit_tokens"].is_u64());
    assert!(frames[frames.len() - 2].get("usage").is_none());
}

#[test]
fn deepseek_reasoner_reasons_first() {
    let body = json!({"model": "deepseek-reasoner", "stream": true,
        "messages": [{"role": "user", "content": "9.11 or 9.8?"}]});
    let events = stream(Provider::DeepSeek, body, StreamAsk::default());
    let frames = frames(&events);
    let thought: Vec<&Value> = frames
        .iter()
        .copied()
        .filter(|f| f["choices"][0]["delta"]["reasoning_content"].is_string())
        .collect();
    assert_eq!(thought.len(), 8);
    let first_content = frames.iter().position(|f| {
        f["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    });
    let last_thought = frames
        .iter()
        .rposition(|f| f["choices"][0]["delta"]["reasoning_content"].is_string());
    assert!(last_thought < first_content);
    let usage = &frames[frames.len() - 1]["usage"];
    assert!(usage["completion_tokens_details"]["reasoning_tokens"].as_u64() > Some(0));
}

#[test]
fn deepseek_queue_sends_keep_alives_before_the_head() {
    let ask = StreamAsk {
        queue: Some(std::time::Duration::from_millis(2000)),
        ..StreamAsk::default()
    };
    let events = stream(Provider::DeepSeek, request(json!({})), ask);
    let head = events.iter().position(Value::is_object).unwrap_or(0);
    let keep_alives = events[..head]
        .iter()
        .filter(|e| **e == json!(": keep-alive"))
        .count();
    assert_eq!(keep_alives, 4);
    assert_eq!(events[0], json!(": keep-alive"));
    assert_eq!(events[1], Value::Null, "a pause follows each keep-alive");
    assert!(!events[head + 1..].contains(&json!(": keep-alive")));
}

#[test]
fn moonshot_reports_usage_inside_the_finishing_choice() {
    let events = stream(Provider::Moonshot, request(json!({})), StreamAsk::default());
    let frames = frames(&events);
    let finish = frames[frames.len() - 1];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
    assert_eq!(
        finish["choices"][0]["usage"]["completion_tokens"],
        count_tokens(&content(&frames))
    );
    assert!(frames.iter().all(|f| f.get("usage").is_none()));
}

#[test]
fn qwen_usage_comes_last_only_when_asked() {
    let asked = request(json!({"stream_options": {"include_usage": true}}));
    let events = stream(Provider::Qwen, asked, StreamAsk::default());
    let frames = frames(&events);
    assert_eq!(frames[frames.len() - 1]["choices"], json!([]));
    assert!(frames[frames.len() - 1]["usage"]["total_tokens"].is_u64());
    assert!(frames[..frames.len() - 1]
        .iter()
        .all(|f| f.get("usage").is_none()));
    let unasked = stream(Provider::Qwen, request(json!({})), StreamAsk::default());
    assert!(frames_have_no_usage(&unasked));
}

fn frames_have_no_usage(events: &[Value]) -> bool {
    frames(events)
        .iter()
        .all(|f| f.get("usage").is_none() && f["choices"][0].get("usage").is_none())
}

#[test]
fn zhipu_reports_usage_unasked_and_can_stop_as_sensitive() {
    let events = stream(Provider::Zhipu, request(json!({})), StreamAsk::default());
    let frames = frames(&events);
    assert!(frames[frames.len() - 1]["usage"]["total_tokens"].is_u64());

    let body = json!({"model": "glm-4", "stream": true,
        "messages": [{"role": "user", "content": "tell me [mock finish=network_error]"}]});
    let ended = stream(Provider::Zhipu, body, StreamAsk::default());
    let frames = self::frames(&ended);
    let finish = frames[frames.len() - 1];
    assert_eq!(finish["choices"][0]["finish_reason"], "network_error");
    let delivered = content(&frames);
    assert!(!delivered.contains("```"), "the answer stops half-way");
    assert_eq!(
        finish["usage"]["completion_tokens"],
        count_tokens(&delivered)
    );
    assert_eq!(ended.last(), Some(&json!("[DONE]")));
}

#[test]
fn doubao_running_usage_grows_to_the_total() {
    let body = request(json!({"model": "ep-20250101-x",
        "stream_options": {"include_usage": true, "chunk_include_usage": true}}));
    let events = stream(Provider::Doubao, body, StreamAsk::default());
    let frames = frames(&events);
    assert!(frames
        .iter()
        .all(|f| f["model"] == "doubao-1-5-pro-32k-250115"));
    let totals: Vec<u64> = frames
        .iter()
        .map(|f| f["usage"]["completion_tokens"].as_u64().unwrap_or(u64::MAX))
        .collect();
    assert!(
        totals.windows(2).all(|pair| pair[0] <= pair[1]),
        "{totals:?}"
    );
    assert_eq!(totals[0], 0);
    assert_eq!(
        totals.last().copied(),
        Some(count_tokens(&content(&frames)))
    );
}

#[test]
fn azure_opens_with_prompt_filter_results_and_names_the_model() {
    let body = json!({"stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let events = stream(Provider::Azure, body, StreamAsk::default());
    let frames = frames(&events);
    assert_eq!(frames[0]["choices"], json!([]));
    assert_eq!(frames[0]["prompt_filter_results"][0]["prompt_index"], 0);
    assert_eq!(
        frames[0]["prompt_filter_results"][0]["content_filter_results"]["hate"]["filtered"],
        false
    );
    assert_eq!(frames[1]["model"], "gpt-4o-2024-08-06");
    assert_eq!(frames[1]["choices"][0]["delta"]["role"], "assistant");
}

#[test]
fn openai_compatible_streams_like_openai() {
    let asked = request(json!({"stream_options": {"include_usage": true}}));
    let openai = stream(Provider::OpenAi, asked.clone(), StreamAsk::default());
    let compatible = stream(Provider::OpenAiCompatible, asked, StreamAsk::default());
    assert_eq!(openai, compatible);
}

/// Where a stream's final usage sits: `"top"` (a chunk's `usage`) or
/// `"choice"` (`choices[0].usage`), with the chunk's finish reason.
fn final_usage<'a>(frames: &[&'a Value]) -> Option<(&'static str, &'a Value, &'a Value)> {
    frames.iter().rev().find_map(|frame| {
        let finish = &frame["choices"][0]["finish_reason"];
        if frame["usage"].is_object() {
            Some(("top", &frame["usage"], finish))
        } else if frame["choices"][0]["usage"].is_object() {
            Some(("choice", &frame["choices"][0]["usage"], finish))
        } else {
            None
        }
    })
}

#[test]
fn tool_calls_stream_in_every_dialect_with_its_usage_placement() {
    let body = request(json!({
        "messages": [{"role": "user", "content": "please lookup"}],
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {
            "type": "object", "properties": {"q": {"type": "string", "examples": ["假期"]}}}}}],
    }));
    let arguments = r#"{"q":"假期"}"#;
    let expected_tokens = count_tokens("lookup") + count_tokens(arguments);
    for provider in Provider::ALL {
        let events = stream(provider, body.clone(), StreamAsk::default());
        let frames = frames(&events);
        let streamed: String = frames
            .iter()
            .filter_map(|f| {
                f["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(streamed, arguments, "{provider:?}");
        let finish = frames
            .iter()
            .find_map(|f| f["choices"][0]["finish_reason"].as_str());
        assert_eq!(finish, Some("tool_calls"), "{provider:?}");
        let Some((place, usage, finish_of_usage_chunk)) = final_usage(&frames) else {
            panic!("{provider:?} sent no usage");
        };
        assert_eq!(usage["completion_tokens"], expected_tokens, "{provider:?}");
        let expected_place = match provider {
            Provider::Moonshot => ("choice", json!("tool_calls")),
            Provider::DeepSeek | Provider::Zhipu => ("top", json!("tool_calls")),
            // A running total on every chunk (Doubao only with chunk_include_usage).
            _ => ("top", Value::Null),
        };
        assert_eq!(
            (place, finish_of_usage_chunk.clone()),
            expected_place,
            "{provider:?}"
        );
    }
}
