//! Planning chat answers: quoting, usage, truncation, tools, reasoning, refusals.
use serde_json::json;

use super::*;

#[track_caller]
fn plan(request: Value) -> ChatPlan {
    match plan_chat(request.to_string().as_bytes(), "chatcmpl-mock-1".into(), 42) {
        Ok(plan) => plan,
        Err(error) => panic!("unexpected error {error:?}"),
    }
}

#[track_caller]
fn plan_error(body: &str) -> ApiError {
    match plan_chat(body.as_bytes(), "chatcmpl-mock-1".into(), 42) {
        Ok(plan) => panic!("expected an error, got {plan:?}"),
        Err(error) => error,
    }
}

fn text_of(output: &ChoiceOutput) -> &str {
    match output {
        ChoiceOutput::Text { text, .. } => text,
        ChoiceOutput::ToolCalls(calls) => &calls[0].arguments,
    }
}

#[test]
fn answers_quote_the_last_user_message() {
    let plan = plan(json!({
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "<b>second</b> 你好 😀"},
        ],
    }));
    assert!(!plan.stream);
    assert!(text_of(&plan.completion.choices[0]).contains("\n\n<b>second</b> 你好 😀\n\n"));
    assert_eq!(
        plan.completion.choices[0].finish_reason(),
        FinishReason::Stop
    );
}

#[test]
fn content_parts_are_joined() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "part one"},
            {"type": "image_url", "image_url": {"url": "http://x"}},
            {"type": "text", "text": "part two"},
        ]}],
    }));
    assert!(text_of(&plan.completion.choices[0]).contains("\n\npart one\npart two\n\n"));
}

#[test]
fn usage_counts_prompt_and_answer() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hello world"}],
    }));
    let answer = text_of(&plan.completion.choices[0]);
    assert_eq!(plan.completion.usage.prompt_tokens, 4 + 4 + 3);
    assert_eq!(
        plan.completion.usage.completion_tokens,
        count_tokens(answer)
    );
}

#[test]
fn max_tokens_truncates_with_finish_reason_length() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
    }));
    let choice = &plan.completion.choices[0];
    assert_eq!(choice.finish_reason(), FinishReason::Length);
    assert_eq!(text_of(choice), "## Mock answer\n\nThis");
    assert_eq!(plan.completion.usage.completion_tokens, 5);
}

#[test]
fn max_completion_tokens_wins_over_max_tokens() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "max_completion_tokens": 2,
    }));
    assert_eq!(plan.completion.usage.completion_tokens, 2);
}

#[test]
fn large_max_tokens_leaves_the_answer_whole() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100000,
    }));
    assert_eq!(
        plan.completion.choices[0].finish_reason(),
        FinishReason::Stop
    );
}

#[test]
fn n_produces_distinct_choices() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "n": 3,
    }));
    assert_eq!(plan.completion.choices.len(), 3);
    assert!(text_of(&plan.completion.choices[2]).contains("choice 3 of 3"));
    let per_choice: u64 = plan
        .completion
        .choices
        .iter()
        .map(|c| count_tokens(text_of(c)))
        .sum();
    assert_eq!(plan.completion.usage.completion_tokens, per_choice);
}

fn calls_of(output: &ChoiceOutput) -> Vec<(&str, &str)> {
    match output {
        ChoiceOutput::ToolCalls(calls) => calls
            .iter()
            .map(|call| (call.name.as_str(), call.arguments.as_str()))
            .collect(),
        ChoiceOutput::Text { .. } => Vec::new(),
    }
}

#[test]
fn a_message_asking_for_a_tool_gets_a_call() {
    let request = json!({
        "model": "m",
        "messages": [{"role": "user", "content": "天气 in \"Paris\"?"}],
        "tools": [
            {"type": "function", "function": {"name": "other"}},
            {"type": "function", "function": {"name": "get_weather", "description": "天气：今天的",
                "parameters": {"type": "object", "properties": {"city": {"type": "string", "examples": ["Paris"]}}}}},
        ],
    });
    let called = plan(request.clone());
    assert_eq!(
        calls_of(&called.completion.choices[0]),
        [("get_weather", r#"{"city":"Paris"}"#)]
    );
    assert_eq!(
        called.completion.choices[0].finish_reason(),
        FinishReason::ToolCalls
    );
    let mut unasked = request;
    unasked["messages"][0]["content"] = json!("hello");
    let answered = plan(unasked);
    assert!(text_of(&answered.completion.choices[0]).contains("## Mock answer"));
}

#[test]
fn choices_get_their_own_call_ids_and_usage_counts_every_call() {
    let request = json!({
        "model": "m", "n": 2,
        "messages": [{"role": "user", "content": "a and b [mock tools=2]"}],
        "tools": [
            {"type": "function", "function": {"name": "a", "parameters": {"type": "object",
                "required": ["q"], "properties": {"q": {"type": "string"}}}}},
            {"type": "function", "function": {"name": "b"}},
        ],
    });
    let planned = plan(request.clone());
    let ids: Vec<&str> = planned
        .completion
        .choices
        .iter()
        .flat_map(|choice| match choice {
            ChoiceOutput::ToolCalls(calls) => calls.iter().map(|call| call.id.as_str()).collect(),
            ChoiceOutput::Text { .. } => Vec::new(),
        })
        .collect();
    assert_eq!(ids.len(), 4);
    assert!(ids.iter().all(|id| id.starts_with("call_")));
    let distinct: std::collections::BTreeSet<&&str> = ids.iter().collect();
    assert_eq!(distinct.len(), 4, "{ids:?}");
    assert_eq!(
        plan(request).completion,
        planned.completion,
        "deterministic"
    );
    // Per choice: a + {"q":""} (1 + 2) and b + {} (1 + 1).
    assert_eq!(planned.completion.usage.completion_tokens, 2 * (3 + 2));
}

#[test]
fn tool_results_are_quoted_and_truncated_like_text() {
    let request = json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "查询年假余额"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "leave", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_9", "content": "{\"days\":5}"},
        ],
        "tools": [{"type": "function", "function": {"name": "leave", "description": "查询年假余额"}}],
    });
    let quoted = plan(request.clone());
    let ChoiceOutput::Text {
        text,
        finish_reason,
    } = &quoted.completion.choices[0]
    else {
        panic!("expected text, got {:?}", quoted.completion.choices[0]);
    };
    assert_eq!(text, "工具 `leave` 返回：\n\n```json\n{\"days\":5}\n```");
    assert_eq!(*finish_reason, FinishReason::Stop);
    assert_eq!(
        quoted.completion.usage.completion_tokens,
        count_tokens(text)
    );
    let mut limited = request;
    limited["max_tokens"] = json!(3);
    let truncated = plan(limited);
    assert_eq!(text_of(&truncated.completion.choices[0]), "工具 `lea");
    assert_eq!(
        truncated.completion.choices[0].finish_reason(),
        FinishReason::Length
    );
}

#[test]
fn legacy_functions_are_offered_too() {
    let planned = plan(json!({
        "model": "m", "messages": [{"role": "user", "content": "call legacy_fn"}],
        "functions": [{"name": "legacy_fn", "parameters": {"type": "object"}}],
    }));
    assert_eq!(
        calls_of(&planned.completion.choices[0]),
        [("legacy_fn", "{}")]
    );
    let refused = plan(json!({
        "model": "m", "messages": [{"role": "user", "content": "call legacy_fn"}],
        "functions": [{"name": "legacy_fn"}], "function_call": "none",
    }));
    assert!(calls_of(&refused.completion.choices[0]).is_empty());
}

#[test]
fn tool_choice_none_answers_in_text_and_named_choice_is_honoured() {
    let tools = json!([
        {"type": "function", "function": {"name": "first"}},
        {"type": "function", "function": {"name": "second"}},
    ]);
    let none = plan(json!({
        "model": "m", "messages": [], "tools": tools, "tool_choice": "none",
    }));
    assert!(matches!(
        none.completion.choices[0],
        ChoiceOutput::Text { .. }
    ));
    let named = plan(json!({
        "model": "m", "messages": [], "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "second"}},
    }));
    assert!(calls_of(&named.completion.choices[0]) == [("second", "{}")]);
    let empty = plan(json!({"model": "m", "messages": [], "tools": []}));
    assert!(matches!(
        empty.completion.choices[0],
        ChoiceOutput::Text { .. }
    ));
}

#[test]
fn stream_options_are_read() {
    let plan = plan(json!({
        "model": "m", "messages": [], "stream": true,
        "stream_options": {"include_usage": true},
    }));
    assert!(plan.stream && plan.include_usage);
}

#[test]
fn bad_requests_are_rejected_without_panicking() {
    assert!(matches!(plan_error("{not json"), ApiError::BadJson(_)));
    assert!(matches!(plan_error("[]"), ApiError::BadJson(_)));
    assert!(matches!(
        plan_error(r#"{"model":"m","messages":"x"}"#),
        ApiError::BadJson(_)
    ));
    assert!(matches!(
        plan_error(r#"{"model":"m","messages":[{"content":"x"}]}"#),
        ApiError::BadJson(_)
    ));
    assert!(matches!(
        plan_error(r#"{"messages":[]}"#),
        ApiError::InvalidParameter { param: "model", .. }
    ));
    assert!(matches!(
        plan_error(r#"{"model":"m"}"#),
        ApiError::InvalidParameter {
            param: "messages",
            ..
        }
    ));
    assert!(matches!(
        plan_error(r#"{"model":"m","messages":[],"n":0}"#),
        ApiError::InvalidParameter { param: "n", .. }
    ));
    assert!(matches!(
        plan_error(r#"{"model":"m","messages":[],"n":100000}"#),
        ApiError::InvalidParameter { param: "n", .. }
    ));
    assert!(matches!(
        plan_error(r#"{"model":"m","messages":[],"n":-1}"#),
        ApiError::BadJson(_)
    ));
    assert!(matches!(
        plan_error(r#"{"model":"m","messages":[],"max_tokens":0}"#),
        ApiError::InvalidParameter {
            param: "max_tokens",
            ..
        }
    ));
}

#[track_caller]
fn parsed(request: Value) -> ChatRequest {
    match ChatRequest::parse(request.to_string().as_bytes()) {
        Ok(parsed) => parsed,
        Err(error) => panic!("unexpected error {error:?}"),
    }
}

#[track_caller]
fn check_requested(request: Value, expected: u64) {
    assert_eq!(
        parsed(request.clone()).requested_tokens(),
        expected,
        "{request}"
    );
}

#[test]
fn requested_tokens_are_prompt_plus_output_limit() {
    let hello = json!([{"role": "user", "content": "hello world"}]);
    // "hello world" is 4 tokens, plus 4 for the message and 3 for the prompt.
    check_requested(json!({"model": "m", "messages": hello}), 11);
    check_requested(
        json!({"model": "m", "messages": hello, "max_tokens": 100}),
        111,
    );
    check_requested(
        json!({"model": "m", "messages": hello, "max_tokens": 100, "max_completion_tokens": 7}),
        18,
    );
    check_requested(
        json!({"model": "m", "messages": hello, "max_tokens": u64::MAX}),
        u64::MAX,
    );
    let big_prompt = "x".repeat(300 * 1024);
    check_requested(
        json!({"model": "m", "messages": [{"role": "user", "content": big_prompt}]}),
        300 * 1024 / 4 + 4 + 3,
    );
}

#[test]
fn last_user_message_is_kept_for_the_pacing_directive() {
    let request = parsed(json!({
        "model": "m",
        "messages": [
            {"role": "user", "content": "[mock chunks=1] old"},
            {"role": "user", "content": "new [mock chunks=2]"},
            {"role": "assistant", "content": "[mock chunks=3]"},
        ],
    }));
    assert_eq!(request.last_user_message(), "new [mock chunks=2]");
    let plan = request.plan("id".into(), 0);
    assert!(text_of(&plan.completion.choices[0]).contains("\n\nnew [mock chunks=2]\n\n"));
    assert_eq!(
        parsed(json!({"model": "m", "messages": []})).last_user_message(),
        ""
    );
}

#[test]
fn forbidden_models_are_refused() {
    assert_eq!(
        plan_error(r#"{"model":"forbidden-gpt-5","messages":[]}"#),
        ApiError::ModelNotAllowed {
            model: "forbidden-gpt-5".into()
        }
    );
}

#[test]
fn nulls_are_accepted_where_openai_accepts_them() {
    let plan = plan(json!({
        "model": "m",
        "messages": [{"role": "assistant", "content": null}, {"role": "user", "content": "x"}],
        "stream": null, "stream_options": null, "n": null, "max_tokens": null, "tools": null,
    }));
    assert_eq!(plan.completion.choices.len(), 1);
}

#[test]
fn non_streaming_json_has_the_openai_shape() {
    let plan = plan(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}));
    let value = serde_json::to_value(completion_json(&plan.completion)).unwrap_or_default();
    assert_eq!(value["object"], "chat.completion");
    assert_eq!(value["id"], "chatcmpl-mock-1");
    assert_eq!(value["created"], 42);
    assert_eq!(value["model"], "gpt-4o");
    assert_eq!(value["system_fingerprint"], "fp_mock");
    let choice = &value["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(choice["message"]["refusal"].is_null());
    assert!(choice["message"].get("tool_calls").is_none());
    assert!(choice["logprobs"].is_null());
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(value["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
}

#[test]
fn non_streaming_tool_call_has_null_content() {
    let plan = plan(json!({
        "model": "m", "messages": [{"role": "user", "content": "lookup [mock tools=2]"}],
        "tools": [
            {"type": "function", "function": {"name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string", "default": "x"}}}}},
            {"type": "function", "function": {"name": "second"}},
        ],
    }));
    let value = serde_json::to_value(completion_json(&plan.completion)).unwrap_or_default();
    let message = &value["choices"][0]["message"];
    assert!(message["content"].is_null());
    assert_eq!(message["role"], "assistant");
    let ChoiceOutput::ToolCalls(calls) = &plan.completion.choices[0] else {
        panic!("expected calls");
    };
    assert_eq!(message["tool_calls"][0]["id"], calls[0].id.as_str());
    assert_eq!(message["tool_calls"][0]["type"], "function");
    assert_eq!(message["tool_calls"][0]["function"]["name"], "lookup");
    assert_eq!(
        message["tool_calls"][0]["function"]["arguments"],
        r#"{"q":"x"}"#
    );
    assert_eq!(message["tool_calls"][1]["function"]["name"], "second");
    assert_eq!(message["tool_calls"][1]["function"]["arguments"], "{}");
    assert_eq!(value["choices"][0]["finish_reason"], "tool_calls");
}

#[test]
fn non_streamed_reasoning_is_in_the_message_and_the_usage() {
    let plan = plan(json!({
        "model": "deepseek-reasoner",
        "messages": [{"role": "user", "content": "hello"}],
    }));
    let value = serde_json::to_value(completion_json(&plan.completion)).unwrap_or_default();
    let reasoning = value["choices"][0]["message"]["reasoning_content"]
        .as_str()
        .unwrap_or_default();
    assert!(reasoning.starts_with("The user wants"), "{value}");
    let reasoning_tokens = count_tokens(reasoning);
    let answer_tokens = count_tokens(text_of(&plan.completion.choices[0]));
    assert_eq!(
        value["usage"]["completion_tokens"],
        reasoning_tokens + answer_tokens
    );
    assert_eq!(
        value["usage"]["completion_tokens_details"]["reasoning_tokens"],
        reasoning_tokens
    );
    let plain = self::plan(json!({"model": "m", "messages": []}));
    let value = serde_json::to_value(completion_json(&plain.completion)).unwrap_or_default();
    assert!(value["choices"][0]["message"]
        .get("reasoning_content")
        .is_none());
}
