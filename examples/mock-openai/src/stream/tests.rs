//! The stream script's exact wire: frame order, usage, reasoning, cuts.
use serde_json::{json, Value};

use super::*;
use crate::chat::plan_chat;

#[track_caller]
fn check_split(text: &str, pieces: usize, expected_pieces: usize) {
    let ranges = split_even(text, pieces);
    assert_eq!(ranges.len(), expected_pieces, "{text:?} into {pieces}");
    let rebuilt: String = ranges.iter().map(|range| &text[range.clone()]).collect();
    assert_eq!(rebuilt, text);
    let sizes: Vec<usize> = ranges
        .iter()
        .map(|range| text[range.clone()].chars().count())
        .collect();
    let (smallest, largest) = (sizes.iter().min(), sizes.iter().max());
    assert!(
        largest.zip(smallest).is_none_or(|(l, s)| l - s <= 1),
        "uneven {sizes:?}"
    );
}

#[test]
fn split_is_even_and_never_breaks_utf8() {
    check_split("abcdefghij", 3, 3);
    check_split("abcdefghij", 40, 10);
    check_split("", 40, 0);
    check_split("x", 0, 1);
    check_split("你好世界，こんにちは😀👍🏽👩‍👩‍👧 mixed ascii", 7, 7);
    check_split("😀😀😀😀😀", 2, 2);
    let long = "ü€😀中".repeat(250);
    for pieces in [1, 2, 3, 40, 999, 1000, 5000] {
        check_split(&long, pieces, pieces.min(1000));
    }
}

fn script_for(request: Value, chunks: usize, cut_after: Option<usize>) -> StreamScript {
    let plan = match plan_chat(request.to_string().as_bytes(), "chatcmpl-mock-7".into(), 9) {
        Ok(plan) => plan,
        Err(error) => panic!("bad test request: {error:?}"),
    };
    StreamScript::new(plan.completion, chunks, plan.include_usage, cut_after)
}

/// The events of a script, with frames decoded (`"[DONE]"` as a string).
fn run(script: StreamScript) -> Vec<Option<Value>> {
    script
        .map(|event| match event {
            Event::Frame(bytes) => {
                let text = std::str::from_utf8(&bytes).unwrap_or_default();
                assert!(
                    text.starts_with("data: ") && text.ends_with("\n\n"),
                    "{text:?}"
                );
                let payload = &text["data: ".len()..text.len() - 2];
                Some(serde_json::from_str(payload).unwrap_or(Value::String(payload.into())))
            }
            Event::Wait(_) | Event::Sleep(_) => None,
            Event::Cut => Some(Value::String("CUT".into())),
        })
        .collect()
}

fn content_of(frames: &[Value], choice: u64) -> String {
    frames
        .iter()
        .filter_map(|frame| frame["choices"].as_array())
        .flatten()
        .filter(|c| c["index"] == choice)
        .filter_map(|c| c["delta"]["content"].as_str())
        .collect()
}

fn request(include_usage: bool) -> Value {
    json!({
        "model": "gpt-4o-mini",
        "stream": true,
        "stream_options": {"include_usage": include_usage},
        "messages": [{"role": "user", "content": "héllo 你好 😀"}],
    })
}

#[test]
fn stream_without_usage() {
    let events = run(script_for(request(false), 10, None));
    let waits = events.iter().filter(|e| e.is_none()).count();
    assert_eq!(waits, 10);
    let frames: Vec<Value> = events.into_iter().flatten().collect();
    // head + 10 content + finish + [DONE]
    assert_eq!(frames.len(), 13);
    assert_eq!(frames[0]["object"], "chat.completion.chunk");
    assert_eq!(frames[0]["id"], "chatcmpl-mock-7");
    assert_eq!(frames[0]["model"], "gpt-4o-mini");
    assert_eq!(
        frames[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert!(frames[0]["choices"][0]["finish_reason"].is_null());
    assert!(frames.iter().all(|frame| frame.get("usage").is_none()));
    assert_eq!(frames[11]["choices"][0]["delta"], json!({}));
    assert_eq!(frames[11]["choices"][0]["finish_reason"], "stop");
    assert_eq!(frames[12], "[DONE]");
    let expected = crate::answer::answer_text("héllo 你好 😀", 0, 1);
    assert_eq!(content_of(&frames, 0), expected);
}

#[test]
fn stream_with_usage_ends_with_a_usage_chunk() {
    let script = script_for(request(true), 40, None);
    let usage = script.usage();
    let frames: Vec<Value> = run(script).into_iter().flatten().collect();
    let (done, rest) = frames.split_last().unwrap_or((&Value::Null, &[]));
    let (usage_chunk, earlier) = rest.split_last().unwrap_or((&Value::Null, &[]));
    assert_eq!(*done, "[DONE]");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(
        usage_chunk["usage"]["completion_tokens"],
        usage.completion_tokens
    );
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], usage.prompt_tokens);
    assert!(earlier
        .iter()
        .all(|frame| frame["usage"].is_null() && frame.get("usage").is_some()));
    let delivered = content_of(&frames, 0);
    assert_eq!(
        crate::tokens::count_tokens(&delivered),
        usage.completion_tokens
    );
}

#[test]
fn truncated_stream_reports_length_and_delivered_tokens() {
    let mut request = request(true);
    request["max_tokens"] = json!(3);
    let frames: Vec<Value> = run(script_for(request, 40, None))
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(content_of(&frames, 0), "## Mock answ");
    let finish = &frames[frames.len() - 3];
    assert_eq!(finish["choices"][0]["finish_reason"], "length");
    assert_eq!(frames[frames.len() - 2]["usage"]["completion_tokens"], 3);
}

#[test]
fn cut_stream_sends_five_pieces_then_cuts() {
    let events = run(script_for(request(true), 40, Some(5)));
    let (last, before) = events.split_last().unwrap_or((&None, &[]));
    assert_eq!(*last, Some(Value::String("CUT".into())));
    // The cut comes after a pause so the fifth piece is flushed first.
    assert_eq!(before.last(), Some(&None));
    let frames: Vec<Value> = events.into_iter().flatten().collect();
    let content_chunks = frames
        .iter()
        .filter(|f| f["choices"][0]["delta"]["content"].is_string())
        .count();
    assert_eq!(content_chunks, 1 + 5);
    assert!(!frames
        .iter()
        .any(|f| *f == "[DONE]" || f["choices"][0]["finish_reason"].is_string()));
}

#[test]
fn n_choices_are_interleaved() {
    let mut request = request(false);
    request["n"] = json!(2);
    let frames: Vec<Value> = run(script_for(request, 4, None))
        .into_iter()
        .flatten()
        .collect();
    let indexes: Vec<u64> = frames
        .iter()
        .filter_map(|f| f["choices"][0]["index"].as_u64())
        .collect();
    assert_eq!(indexes, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
    assert!(content_of(&frames, 1).contains("choice 2 of 2"));
}

fn tool_request(content: &str, extra: Value) -> Value {
    let mut body = json!({
        "model": "m", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": content}],
        "tools": [
            {"type": "function", "function": {"name": "search", "description": "搜索：全文",
                "parameters": {"type": "object", "required": ["q"], "properties": {
                    "q": {"type": "string", "examples": ["年假 规定"]},
                    "limit": {"type": "integer", "default": 5},
                }}}},
            {"type": "function", "function": {"name": "open_page"}},
        ],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

/// A client's reassembly of streamed calls: per call index, (id, name,
/// arguments), as the SDKs concatenate deltas.
fn reassemble_calls(frames: &[Value]) -> Vec<(String, String, String)> {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let deltas = frames
        .iter()
        .filter_map(|frame| frame["choices"][0]["delta"]["tool_calls"].as_array())
        .flatten();
    for delta in deltas {
        let index = delta["index"].as_u64().unwrap_or(u64::MAX) as usize;
        if index == calls.len() {
            calls.push(Default::default());
        }
        let Some(call) = calls.get_mut(index) else {
            panic!("call index {index} out of order");
        };
        call.0 += delta["id"].as_str().unwrap_or_default();
        call.1 += delta["function"]["name"].as_str().unwrap_or_default();
        call.2 += delta["function"]["arguments"].as_str().unwrap_or_default();
    }
    calls
}

#[test]
fn a_streamed_call_has_openais_shape() {
    let script = script_for(tool_request("请搜索一下", json!({})), 40, None);
    let usage = script.usage();
    let events = run(script);
    let frames: Vec<Value> = events.iter().flatten().cloned().collect();
    let ChoiceOutput::ToolCalls(planned) =
        &plan_of(tool_request("请搜索一下", json!({}))).choices[0]
    else {
        panic!("expected a call");
    };
    let id = planned[0].id.as_str();
    assert_eq!(
        frames[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
            {"index": 0, "id": id, "type": "function", "function": {"name": "search", "arguments": ""}}
        ]})
    );
    let fragments: Vec<&Value> = frames[1..frames.len() - 3]
        .iter()
        .map(|frame| &frame["choices"][0]["delta"])
        .collect();
    assert_eq!(fragments.len(), TOOL_ARGUMENT_PIECES);
    for fragment in &fragments {
        let keys: Vec<&String> = fragment
            .as_object()
            .map(|o| o.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["tool_calls"], "{fragment}");
        let call = &fragment["tool_calls"][0];
        assert_eq!(call["index"], 0);
        assert!(call.get("id").is_none() && call.get("type").is_none());
        assert!(call["function"].get("name").is_none());
        let piece = call["function"]["arguments"].as_str().unwrap_or_default();
        assert!(!piece.is_empty());
        assert!(
            serde_json::from_str::<Value>(piece).is_err(),
            "split inside the JSON: {piece}"
        );
    }
    // Each fragment is paced like content.
    let waits_before_fragments = events[1..1 + 2 * TOOL_ARGUMENT_PIECES]
        .iter()
        .filter(|event| event.is_none())
        .count();
    assert_eq!(waits_before_fragments, TOOL_ARGUMENT_PIECES);
    let calls = reassemble_calls(&frames);
    assert_eq!(
        calls,
        [(
            id.to_owned(),
            "search".to_owned(),
            r#"{"limit":5,"q":"年假 规定"}"#.to_owned()
        )]
    );
    let finish = &frames[frames.len() - 3];
    assert_eq!(finish["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(finish["choices"][0]["delta"], json!({}));
    let usage_chunk = &frames[frames.len() - 2];
    assert_eq!(usage_chunk["choices"], json!([]));
    let expected_tokens = count_tokens("search") + count_tokens(&calls[0].2);
    assert_eq!(usage.completion_tokens, expected_tokens);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], expected_tokens);
    assert_eq!(frames[frames.len() - 1], "[DONE]");
}

fn plan_of(request: Value) -> Completion {
    match plan_chat(request.to_string().as_bytes(), "chatcmpl-mock-7".into(), 9) {
        Ok(plan) => plan.completion,
        Err(error) => panic!("bad test request: {error:?}"),
    }
}

#[test]
fn parallel_calls_stream_one_after_the_other() {
    let frames: Vec<Value> = run(script_for(
        tool_request("search [mock tools=2]", json!({})),
        40,
        None,
    ))
    .into_iter()
    .flatten()
    .collect();
    let calls = reassemble_calls(&frames);
    let names: Vec<(&str, &str)> = calls.iter().map(|c| (c.1.as_str(), c.2.as_str())).collect();
    assert_eq!(
        names,
        [
            ("search", r#"{"limit":5,"q":"年假 规定"}"#),
            ("open_page", "{}")
        ]
    );
    assert_ne!(calls[0].0, calls[1].0);
    // The second call opens in a chunk of its own, after the first's arguments.
    let opening = frames
        .iter()
        .position(|f| f["choices"][0]["delta"]["tool_calls"][0]["index"] == 1)
        .unwrap_or(0);
    assert_eq!(opening, 1 + TOOL_ARGUMENT_PIECES);
    assert_eq!(
        frames[opening]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 1, "id": calls[1].0, "type": "function",
            "function": {"name": "open_page", "arguments": ""}}]})
    );
    let usage = &frames[frames.len() - 2]["usage"];
    assert_eq!(
        usage["completion_tokens"],
        count_tokens("search")
            + count_tokens(&calls[0].2)
            + count_tokens("open_page")
            + count_tokens("{}")
    );
}

#[test]
fn after_reasoning_the_call_opens_in_its_own_chunk() {
    let frames: Vec<Value> = run(script_for(
        tool_request("search [mock think=2]", json!({})),
        40,
        None,
    ))
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(
        frames[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": null, "refusal": null})
    );
    assert!(frames[1]["choices"][0]["delta"]["reasoning_content"].is_string());
    assert!(frames[2]["choices"][0]["delta"]["reasoning_content"].is_string());
    assert_eq!(
        frames[3]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "search"
    );
    let calls = reassemble_calls(&frames);
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].2, r#"{"limit":5,"q":"年假 规定"}"#);
}

fn reasoning_of(frames: &[Value]) -> String {
    frames
        .iter()
        .filter_map(|frame| frame["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect()
}

#[test]
fn reasoning_streams_before_the_content_and_is_counted() {
    let request = json!({
        "model": "deepseek-reasoner", "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "why?"}],
    });
    let script = script_for(request, 4, None);
    let usage = script.usage();
    let events: Vec<Event> = script.collect();
    let pauses: Vec<Pause> = events
        .iter()
        .filter_map(|event| match event {
            Event::Wait(pause) => Some(*pause),
            _ => None,
        })
        .collect();
    let mut expected = vec![Pause::Reasoning; 8];
    expected.extend([Pause::Content; 4]);
    assert_eq!(pauses, expected);

    let frames: Vec<Value> = run(script_for(
        json!({
            "model": "deepseek-reasoner", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "why?"}],
        }),
        4,
        None,
    ))
    .into_iter()
    .flatten()
    .collect();
    // head, 8 reasoning, 4 content, finish, usage, [DONE]
    assert_eq!(frames.len(), 1 + 8 + 4 + 1 + 1 + 1);
    for frame in &frames[1..9] {
        let delta = &frame["choices"][0]["delta"];
        assert!(delta["reasoning_content"].is_string(), "{frame}");
        assert!(delta["content"].is_null() && delta.get("content").is_some());
    }
    assert!(frames[9..13]
        .iter()
        .all(|f| f["choices"][0]["delta"]["content"].is_string()
            && f["choices"][0]["delta"].get("reasoning_content").is_none()));
    let thought = reasoning_of(&frames);
    assert!(thought.starts_with("The user wants"));
    let reasoning_tokens = crate::tokens::count_tokens(&thought);
    let answer_tokens = crate::tokens::count_tokens(&content_of(&frames, 0));
    assert_eq!(usage.reasoning_tokens, reasoning_tokens);
    let usage_chunk = &frames[frames.len() - 2]["usage"];
    assert_eq!(
        usage_chunk["completion_tokens"],
        reasoning_tokens + answer_tokens
    );
    assert_eq!(
        usage_chunk["completion_tokens_details"]["reasoning_tokens"],
        reasoning_tokens
    );
}

#[test]
fn think_directive_sets_the_reasoning_chunk_count() {
    let request = json!({
        "model": "gpt-4o-mini", "stream": true,
        "messages": [{"role": "user", "content": "你好 [mock think=3]"}],
    });
    let frames: Vec<Value> = run(script_for(request, 2, None))
        .into_iter()
        .flatten()
        .collect();
    let reasoning_chunks = frames
        .iter()
        .filter(|f| f["choices"][0]["delta"]["reasoning_content"].is_string())
        .count();
    assert_eq!(reasoning_chunks, 3);
    assert!(reasoning_of(&frames).starts_with("用户"));
}

#[test]
fn plain_models_send_no_reasoning() {
    let frames: Vec<Value> = run(script_for(request(true), 4, None))
        .into_iter()
        .flatten()
        .collect();
    assert!(reasoning_of(&frames).is_empty());
    assert_eq!(
        frames[frames.len() - 2]["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );
}

#[test]
fn a_cut_reasoning_stream_still_sends_its_reasoning() {
    let request = json!({
        "model": "mock-thinker", "stream": true,
        "messages": [{"role": "user", "content": "q"}],
    });
    let frames: Vec<Value> = run(script_for(request, 40, Some(5)))
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(frames.last(), Some(&Value::String("CUT".into())));
    assert!(!reasoning_of(&frames).is_empty());
    let content_chunks = frames[1..]
        .iter()
        .filter(|f| f["choices"][0]["delta"]["content"].is_string())
        .count();
    assert_eq!(content_chunks, 5);
}
