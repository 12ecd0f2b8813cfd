//! Token metering of chat completions: the usage the upstream reports, an estimate where it reports
//! none, and the arithmetic that turns tokens into money.
//!
//! Bugs in peers that shaped this module: cumulative usage chunks summed instead of the last one taken
//! (one-api #415), a final chunk carrying both usage and choices dropped (LiteLLM #36168), streamed
//! usage recorded as zero so budgets never trigger (LiteLLM #37923).
//!
//! Where providers put usage in a stream, all read here (the last report wins, never the sum):
//! - a usage-only chunk with empty `choices` after the last content (OpenAI, DeepSeek, Qwen
//!   with `stream_options.include_usage`);
//! - on the last content chunk, beside its `finish_reason` (Zhipu, Doubao, several gateways);
//! - inside `choices[0].usage` with no top-level `usage` (Moonshot);
//! - running totals on every chunk (some gateways): each restates the totals so far.
//!
//! Keep-alive SSE comments never reach the meter: `oachat_protocol::sse` drops comment lines.
//!
//! - `estimate.rs`: token estimation without a tokenizer;
//! - `wire.rs`: the `usage` object and the chunk fields the meter reads.

mod estimate;
mod wire;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conversation::push_bounded;
use crate::ledger::Ending;

pub use estimate::{
    estimate_prompt_tokens, estimate_request_prompt_tokens, estimate_tokens, TokenEstimator,
    IMAGE_PART_TOKENS, TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST,
};
pub use wire::usage_from_body;
use wire::{usage_from_value, WireChunk};

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's cache; a subset of `prompt_tokens`.
    pub cached_tokens: u64,
    /// Completion tokens spent on reasoning (`completion_tokens_details.reasoning_tokens`);
    /// a subset of `completion_tokens`, billed at the output price with the rest.
    #[serde(default)]
    pub reasoning_tokens: u64,
    /// Some count here is our estimate rather than the upstream's report.
    pub estimated: bool,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens.saturating_add(self.completion_tokens)
    }
}

/// What the proxy should send the client for one upstream event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// Send the event unchanged.
    AsIs,
    /// A usage-only chunk the client did not ask for: send nothing.
    Drop,
    /// A chunk with both choices and usage the client did not ask for: send this data instead,
    /// which keeps the choices (often the final `finish_reason`) and removes `usage`.
    Rewritten(String),
}

/// Meters one streamed chat completion, fed the `data` of each upstream SSE event in order.
#[derive(Debug, Clone)]
pub struct StreamMeter {
    client_wants_usage: bool,
    reported: Option<Usage>,
    completion_text: TokenEstimator,
    /// The reasoning part of `completion_text`, for `reasoning_tokens` when nothing is
    /// reported.
    reasoning_text: TokenEstimator,
    saw_done: bool,
    /// The delivered `content` text, kept only when asked for (server-side conversations
    /// store the answer), bounded by [`crate::conversation::MAX_STORED_ANSWER_BYTES`].
    captured: Option<String>,
    /// The delivered reasoning text (`reasoning_content` or `reasoning`), kept with
    /// `captured` and bounded the same way.
    captured_reasoning: Option<String>,
    /// The last `finish_reason` a choice reported: only a `stop` answer is complete enough to
    /// cache.
    finish_reason: Option<String>,
    /// The answer's tool calls, assembled only when asked for (the widget's endpoint tells
    /// the page about them and stores them).
    tool_calls: Option<crate::tools::ToolCallAssembler>,
    /// The tools the request offered: only calls to these reach the page.
    offered_tools: Vec<String>,
    /// The server tools as `(name, confirm)`: their calls' events say so.
    server_tools: Vec<(String, bool)>,
}

impl StreamMeter {
    /// `client_wants_usage` is whether the client itself set `stream_options.include_usage`; when it
    /// did not (and the proxy asked upstream for usage on its own behalf), usage is kept from it.
    pub fn new(client_wants_usage: bool) -> StreamMeter {
        StreamMeter {
            client_wants_usage,
            reported: None,
            completion_text: TokenEstimator::default(),
            reasoning_text: TokenEstimator::default(),
            saw_done: false,
            captured: None,
            captured_reasoning: None,
            finish_reason: None,
            tool_calls: None,
            offered_tools: Vec::new(),
            server_tools: Vec::new(),
        }
    }

    /// The server tools (`(name, confirm)`), whose calls' events carry `server: true`.
    pub fn with_server_tools(mut self, server_tools: Vec<(String, bool)>) -> StreamMeter {
        self.server_tools = server_tools;
        self
    }

    /// See [`StreamMeter::with_server_tools`].
    pub fn server_tools(&self) -> &[(String, bool)] {
        &self.server_tools
    }

    /// Also assemble the answer's tool calls, for [`StreamMeter::tool_calls`]; `offered` are
    /// the names of the tools the request offered (see [`StreamMeter::calls_for_the_page`]).
    pub fn assembling_tool_calls(mut self, offered: Vec<String>) -> StreamMeter {
        self.tool_calls = Some(crate::tools::ToolCallAssembler::default());
        self.offered_tools = offered;
        self
    }

    /// The calls the page is asked to run: those to a tool this request offered. A model may
    /// name a tool it was not offered (one the page never registered, or any tool on the round
    /// that reached `tools.max_rounds`, which goes without tools); such a call is metered,
    /// ledgered and stored (answered upstream as unanswered), but never run.
    pub fn calls_for_the_page(&self) -> Vec<crate::tools::ToolCall> {
        let mut calls = self.tool_calls();
        calls.retain(|call| self.offered_tools.contains(&call.name));
        calls
    }

    /// The complete tool calls of the answer so far (none unless
    /// [`StreamMeter::assembling_tool_calls`]).
    pub fn tool_calls(&self) -> Vec<crate::tools::ToolCall> {
        self.tool_calls
            .as_ref()
            .map(crate::tools::ToolCallAssembler::calls)
            .unwrap_or_default()
    }

    /// The last `finish_reason` the stream reported, if any.
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// How the stream ended, when its `finish_reason` says it ended abnormally: a content
    /// filter (`content_filter`, Zhipu's `sensitive`) or the upstream's own failure (Zhipu's
    /// `network_error`). `None` for ordinary endings; the shell records those as it sees
    /// them (completed, cut, aborted).
    pub fn ended_abnormally(&self) -> Option<Ending> {
        Ending::from_finish_reason(self.finish_reason())
    }

    /// The error the client should get for how the answer ended, when its `finish_reason`
    /// is one an OpenAI SDK would not read as a failure (see
    /// [`crate::provider::finish_error`]).
    pub fn finish_error(&self) -> Option<crate::error::ProxyError> {
        crate::provider::finish_error(self.finish_reason())
    }

    /// Whether [`StreamMeter::observe`] forwards every event as it came: the client asked for
    /// usage itself (so nothing is stripped) and no tool calls are assembled for the page.
    pub fn forwards_everything(&self) -> bool {
        self.client_wants_usage && self.tool_calls.is_none()
    }

    /// Also keep the answer's `content` text and its reasoning, for
    /// [`StreamMeter::captured_text`] and [`StreamMeter::captured_reasoning`].
    pub fn capturing(mut self) -> StreamMeter {
        self.captured = Some(String::new());
        self.captured_reasoning = Some(String::new());
        self
    }

    /// The content text delivered so far (empty unless [`StreamMeter::capturing`]).
    pub fn captured_text(&self) -> &str {
        self.captured.as_deref().unwrap_or_default()
    }

    /// The reasoning text delivered so far (empty unless [`StreamMeter::capturing`]), for a
    /// conversation to keep beside the answer for display.
    pub fn captured_reasoning(&self) -> &str {
        self.captured_reasoning.as_deref().unwrap_or_default()
    }

    /// Records one event and says how to forward it. Data that is not a JSON chunk (an error object,
    /// a keep-alive, garbage) is forwarded unchanged and metered as nothing.
    ///
    /// Once the proxy turns `include_usage` on, the upstream puts `"usage": null` in every chunk.
    /// A client that did not ask gets those chunks without the member, as OpenAI would have sent
    /// them: [`strip_null_usage`] cuts it out of the text without a JSON round trip.
    pub fn observe(&mut self, data: &str) -> Forward {
        if data.trim() == oachat_protocol::names::DONE_DATA {
            self.saw_done = true;
            return Forward::AsIs;
        }
        if let Some(calls) = &mut self.tool_calls {
            calls.push_chunk(data);
        }
        let Ok(chunk) = serde_json::from_str::<WireChunk<'_>>(data) else {
            return Forward::AsIs;
        };
        let mut choices = chunk.choices.unwrap_or_default();
        for choice in &choices {
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.to_string());
            }
            if let Some(delta) = &choice.delta {
                delta.feed(&mut self.completion_text, &mut self.reasoning_text);
                if let (Some(answer), Some(content)) = (&mut self.captured, &delta.content) {
                    push_bounded(answer, content);
                }
                if let Some(reasoning) = &mut self.captured_reasoning {
                    for text in [&delta.reasoning_content, &delta.reasoning]
                        .into_iter()
                        .flatten()
                    {
                        push_bounded(reasoning, text);
                    }
                }
            }
        }
        // Moonshot puts the usage of its last chunk inside the choice, with no top-level
        // member: read it there, and forward the chunk as it came (the client asked a
        // Moonshot-compatible API, and the usage is not in the place oachat strips).
        if chunk.usage.is_none() {
            if let Some(usage) = choices
                .iter_mut()
                .find_map(|choice| choice.usage.take())
                .as_ref()
                .and_then(usage_from_value)
            {
                self.record(usage);
            }
            return Forward::AsIs;
        }
        let usage_value = match chunk.usage {
            None => return Forward::AsIs,
            Some(Value::Null) if self.client_wants_usage => return Forward::AsIs,
            Some(Value::Null) => {
                return match strip_null_usage(data).or_else(|| strip_usage(data)) {
                    Some(rewritten) => Forward::Rewritten(rewritten),
                    None => Forward::AsIs,
                }
            }
            Some(usage_value) => usage_value,
        };
        if let Some(usage) = usage_from_value(&usage_value) {
            self.record(usage);
        }
        if self.client_wants_usage {
            Forward::AsIs
        } else if choices.is_empty() {
            Forward::Drop
        } else {
            // Dropping this chunk would lose the last content or finish_reason (LiteLLM #36168).
            match strip_usage(data) {
                Some(rewritten) => Forward::Rewritten(rewritten),
                None => Forward::AsIs,
            }
        }
    }

    /// Cumulative usage chunks each restate the totals so far, so the last report wins;
    /// summing them overbills (one-api #415). An all-zero report carries no information (some
    /// upstreams send one in every chunk before the real one) and must not replace an earlier
    /// real report.
    fn record(&mut self, usage: Usage) {
        if usage.prompt_tokens != 0 || usage.completion_tokens != 0 {
            self.reported = Some(usage);
        }
    }

    /// The last usage the upstream reported, if any.
    pub fn reported_usage(&self) -> Option<Usage> {
        self.reported
    }

    /// Estimated tokens of the completion text delivered so far (content, refusals, reasoning and
    /// tool-call arguments), for cutting a stream whose budget runs out mid-way.
    pub fn completion_estimate(&self) -> u64 {
        self.completion_text.tokens()
    }

    /// Whether any generated text arrived yet (content, refusal, reasoning or a tool call):
    /// what ends the first-token wait (`Config::first_token_timeout_ms`). Role-only deltas,
    /// empty chunks and keep-alives do not count.
    pub fn first_token_seen(&self) -> bool {
        self.completion_text.tokens() > 0
    }

    /// Whether the `[DONE]` sentinel arrived, i.e. the upstream finished rather than broke off.
    pub fn saw_done(&self) -> bool {
        self.saw_done
    }

    /// The usage to bill. The upstream's last report wins; a count it leaves at zero although tokens
    /// evidently exist (a prompt, or delivered text) is replaced by the estimate, because billing zero
    /// is how budgets silently stop working (LiteLLM #37923). With no report at all, as when the
    /// client disconnects or the upstream ignores `include_usage`, everything is estimated,
    /// reasoning text included (it is billed as output).
    pub fn outcome(&self, prompt_estimate: u64) -> Usage {
        let completion_estimate = self.completion_estimate();
        let Some(reported) = self.reported else {
            return Usage {
                prompt_tokens: prompt_estimate,
                completion_tokens: completion_estimate,
                cached_tokens: 0,
                reasoning_tokens: self.reasoning_text.tokens(),
                estimated: true,
            };
        };
        let mut usage = reported;
        if usage.prompt_tokens == 0 && prompt_estimate > 0 {
            usage.prompt_tokens = prompt_estimate;
            usage.estimated = true;
        }
        if usage.completion_tokens == 0 && completion_estimate > 0 {
            usage.completion_tokens = completion_estimate;
            usage.estimated = true;
        }
        usage
    }
}

/// Removes the top-level `usage` member from a chunk's JSON. `None` when `data` is not a JSON object
/// or has no `usage`. Member order may change in the output; JSON objects are unordered.
pub fn strip_usage(data: &str) -> Option<String> {
    let mut chunk: Value = serde_json::from_str(data).ok()?;
    chunk.as_object_mut()?.remove("usage")?;
    Some(chunk.to_string())
}

/// Removes a top-level `"usage": null` member from a chunk's JSON text, with its separating
/// comma, leaving every other byte as it was. `None` unless the text holds exactly one member
/// named `usage` and its value is `null` (the caller checked that the top-level one is): with a
/// second one, nested somewhere, the text alone cannot tell which is which.
///
/// The search is sound on raw JSON text because a `"` inside a string is always escaped: the
/// seven bytes `"usage"` followed by `:` can only be an object key.
pub fn strip_null_usage(data: &str) -> Option<String> {
    const KEY: &str = "\"usage\"";
    let mut member = None;
    let mut from = 0;
    while let Some(offset) = data[from..].find(KEY) {
        let start = from + offset;
        from = start + KEY.len();
        let Some(value) = data[from..].trim_start().strip_prefix(':') else {
            continue;
        };
        if member.is_some() {
            return None;
        }
        let after_null = value.trim_start().strip_prefix("null")?;
        member = Some((start, data.len() - after_null.len()));
    }
    let (start, end) = member?;
    let before = data[..start].trim_end();
    let after = data[end..].trim_start();
    let mut out = String::with_capacity(data.len());
    if let Some(before) = before.strip_suffix(',') {
        out.push_str(before.trim_end());
        out.push_str(&data[end..]);
    } else if let Some(after) = after.strip_prefix(',') {
        out.push_str(&data[..start]);
        out.push_str(after.trim_start());
    } else {
        out.push_str(&data[..start]);
        out.push_str(&data[end..]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chunk(content: &str) -> String {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}],
            "usage": null,
        })
        .to_string()
    }

    /// How [`chunk`] reaches a client that did not ask for usage: without its `"usage": null`.
    fn without_null_usage(content: &str) -> Forward {
        let mut bare: Value = serde_json::from_str(&chunk(content)).unwrap_or_default();
        bare.as_object_mut().map(|chunk| chunk.remove("usage"));
        Forward::Rewritten(bare.to_string())
    }

    fn usage_only(prompt: u64, completion: u64, cached: u64) -> String {
        json!({
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached},
            },
        })
        .to_string()
    }

    fn reported(prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens,
            ..Usage::default()
        }
    }

    /// Feeds `events` to a meter and checks what each is forwarded as and the billed usage.
    #[track_caller]
    fn check(
        client_wants_usage: bool,
        events: &[(&str, Forward)],
        prompt_estimate: u64,
        expected: Usage,
    ) {
        let mut meter = StreamMeter::new(client_wants_usage);
        for (index, (data, forward)) in events.iter().enumerate() {
            assert_eq!(&meter.observe(data), forward, "event {index}: {data}");
        }
        assert_eq!(meter.outcome(prompt_estimate), expected);
    }

    #[test]
    fn captured_content_is_the_delivered_text_only_when_asked() {
        let mut meter = StreamMeter::new(false).capturing();
        for data in [chunk("Hello, "), chunk("世界"), usage_only(5, 3, 0)] {
            meter.observe(&data);
        }
        assert_eq!(meter.captured_text(), "Hello, 世界");
        let mut plain = StreamMeter::new(false);
        plain.observe(&chunk("not kept"));
        assert_eq!(plain.captured_text(), "");
    }

    #[test]
    fn reported_usage_wins_over_estimates() {
        check(
            false,
            &[
                (&chunk("Hello"), without_null_usage("Hello")),
                (&chunk(" world"), without_null_usage(" world")),
                (&usage_only(30, 2, 16), Forward::Drop),
                ("[DONE]", Forward::AsIs),
            ],
            999,
            reported(30, 2, 16),
        );
    }

    #[test]
    fn cumulative_usage_chunks_take_the_last_not_the_sum_one_api_415() {
        let cumulative = |completion: u64| {
            json!({
                "choices": [{"index": 0, "delta": {"content": "x"}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": completion},
            })
            .to_string()
        };
        let mut meter = StreamMeter::new(true);
        for completion in 1..=3 {
            assert_eq!(meter.observe(&cumulative(completion)), Forward::AsIs);
        }
        assert_eq!(meter.outcome(0), reported(10, 3, 0));
    }

    #[test]
    fn usage_only_chunk_is_kept_when_the_client_asked_for_usage() {
        check(
            true,
            &[
                (&chunk("hi"), Forward::AsIs),
                (&usage_only(5, 1, 0), Forward::AsIs),
            ],
            0,
            reported(5, 1, 0),
        );
    }

    #[test]
    fn final_chunk_with_usage_and_choices_is_rewritten_not_dropped_litellm_36168() {
        let last = json!({
            "id": "chatcmpl-1",
            "choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 8, "completion_tokens": 3},
        });
        let mut without_usage = last.clone();
        without_usage
            .as_object_mut()
            .map(|chunk| chunk.remove("usage"));

        let mut meter = StreamMeter::new(false);
        let Forward::Rewritten(rewritten) = meter.observe(&last.to_string()) else {
            panic!("a chunk with choices and usage must be rewritten");
        };
        let rewritten: Value = serde_json::from_str(&rewritten).unwrap_or_default();
        assert_eq!(rewritten, without_usage);
        assert_eq!(meter.outcome(0), reported(8, 3, 0));
        // Forwarded untouched when the client asked for usage itself.
        assert_eq!(
            StreamMeter::new(true).observe(&last.to_string()),
            Forward::AsIs
        );
    }

    #[test]
    fn strip_usage_needs_an_object_with_usage() {
        assert_eq!(
            strip_usage(r#"{"a":1,"usage":{"prompt_tokens":1}}"#),
            Some(r#"{"a":1}"#.to_owned())
        );
        assert_eq!(strip_usage(r#"{"a":1}"#), None);
        assert_eq!(strip_usage("[1]"), None);
        assert_eq!(strip_usage("not json"), None);
    }

    #[track_caller]
    fn check_strip_null_usage(data: &str, expected: Option<&str>) {
        assert_eq!(strip_null_usage(data).as_deref(), expected, "{data}");
    }

    #[test]
    fn null_usage_is_cut_from_the_text_with_its_comma() {
        check_strip_null_usage(r#"{"a":1,"usage":null}"#, Some(r#"{"a":1}"#));
        check_strip_null_usage(r#"{"usage":null,"a":1}"#, Some(r#"{"a":1}"#));
        check_strip_null_usage(r#"{"a":1,"usage":null,"b":2}"#, Some(r#"{"a":1,"b":2}"#));
        check_strip_null_usage(r#"{ "a": 1 , "usage" : null }"#, Some(r#"{ "a": 1 }"#));
        check_strip_null_usage(r#"{"usage":null}"#, Some("{}"));
        // Text that merely mentions usage, even quoted, is left alone.
        check_strip_null_usage(
            r#"{"c":"\"usage\":null","usage":null}"#,
            Some(r#"{"c":"\"usage\":null"}"#),
        );
        check_strip_null_usage(r#"{"c":"usage","usage":null}"#, Some(r#"{"c":"usage"}"#));
        // Not null, absent, or ambiguous: the caller falls back to a JSON rewrite.
        check_strip_null_usage(r#"{"a":1,"usage":{"prompt_tokens":1}}"#, None);
        check_strip_null_usage(r#"{"a":1}"#, None);
        check_strip_null_usage(r#"{"x":{"usage":null},"usage":null}"#, None);
    }

    #[test]
    fn null_usage_is_kept_for_clients_that_asked_and_the_usage_chunk_follows() {
        check(
            true,
            &[
                (&chunk("Hello"), Forward::AsIs),
                (&usage_only(9, 1, 0), Forward::AsIs),
                ("[DONE]", Forward::AsIs),
            ],
            0,
            reported(9, 1, 0),
        );
        // A nested `usage` makes the text ambiguous; the JSON rewrite still removes the top one.
        let nested = r#"{"choices":[{"delta":{"content":"x"},"usage":null}],"usage":null}"#;
        let Forward::Rewritten(rewritten) = StreamMeter::new(false).observe(nested) else {
            panic!("the top-level null usage must go");
        };
        let rewritten: Value = serde_json::from_str(&rewritten).unwrap_or_default();
        assert_eq!(
            rewritten,
            json!({"choices":[{"delta":{"content":"x"},"usage":null}]})
        );
    }

    #[test]
    fn stream_without_usage_is_estimated_from_delivered_text() {
        check(
            false,
            &[
                (&chunk("你好"), without_null_usage("你好")),
                (&chunk("abcd"), without_null_usage("abcd")),
                ("[DONE]", Forward::AsIs),
            ],
            12,
            Usage {
                prompt_tokens: 12,
                completion_tokens: 3,
                cached_tokens: 0,
                reasoning_tokens: 0,
                estimated: true,
            },
        );
    }

    #[test]
    fn zero_usage_reports_do_not_make_a_stream_free_litellm_37923() {
        // An all-zero report after a real one is ignored.
        let zeros = usage_only(0, 0, 0);
        check(
            false,
            &[
                (&usage_only(7, 2, 0), Forward::Drop),
                (&zeros, Forward::Drop),
            ],
            0,
            reported(7, 2, 0),
        );
        // Zero completion tokens reported for delivered text: the text is estimated instead.
        check(
            false,
            &[
                (&chunk("abcdefgh"), without_null_usage("abcdefgh")),
                (&usage_only(7, 0, 0), Forward::Drop),
            ],
            0,
            Usage {
                prompt_tokens: 7,
                completion_tokens: 2,
                cached_tokens: 0,
                reasoning_tokens: 0,
                estimated: true,
            },
        );
    }

    #[test]
    fn completion_estimate_counts_tool_arguments_refusals_and_reasoning() {
        let mut meter = StreamMeter::new(false);
        let tool_delta = json!({"choices": [{"delta": {"tool_calls": [
            {"index": 0, "id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": "{\"city\":"}}
        ]}}]});
        meter.observe(&tool_delta.to_string());
        let tool_delta = json!({"choices": [{"delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": "\"北京\"}"}}
        ]}}]});
        meter.observe(&tool_delta.to_string());
        meter.observe(&json!({"choices": [{"delta": {"refusal": "no"}}]}).to_string());
        meter.observe(&json!({"choices": [{"delta": {"reasoning_content": "hmm"}}]}).to_string());
        let text = "get_weather{\"city\":\"北京\"}nohmm";
        assert_eq!(meter.completion_estimate(), estimate_tokens(text));
        assert!(!meter.saw_done());
    }

    #[test]
    fn non_chunk_data_is_forwarded_and_not_metered() {
        check(
            false,
            &[
                ("not json", Forward::AsIs),
                (r#"{"error":{"message":"overloaded"}}"#, Forward::AsIs),
                (
                    r#"{"choices":[],"usage":null}"#,
                    Forward::Rewritten(r#"{"choices":[]}"#.to_owned()),
                ),
            ],
            4,
            Usage {
                prompt_tokens: 4,
                completion_tokens: 0,
                cached_tokens: 0,
                reasoning_tokens: 0,
                estimated: true,
            },
        );
    }

    /// One provider's stream, as it places usage, and what the meter must bill for it.
    #[track_caller]
    fn check_provider_stream(events: &[Value], expected: Usage) {
        let mut meter = StreamMeter::new(false);
        for event in events {
            meter.observe(&event.to_string());
        }
        meter.observe("[DONE]");
        assert_eq!(meter.outcome(999), expected);
    }

    #[test]
    fn usage_is_read_wherever_each_provider_puts_it() {
        let content = |text: &str| json!({"choices": [{"index": 0, "delta": {"content": text}}]});
        // OpenAI, DeepSeek, Qwen: a usage-only chunk after the last content.
        check_provider_stream(
            &[
                content("Hi"),
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 2}}),
            ],
            reported(12, 2, 0),
        );
        // Zhipu, Doubao: on the last content chunk, with its finish_reason.
        check_provider_stream(
            &[
                content("Hi"),
                json!({"choices": [{"index": 0, "delta": {"content": "!"}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 12, "completion_tokens": 3,
                                 "prompt_tokens_details": {"cached_tokens": 4}}}),
            ],
            reported(12, 3, 4),
        );
        // Moonshot: inside the choice, no top-level usage.
        check_provider_stream(
            &[
                content("Hi"),
                json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
                                    "usage": {"prompt_tokens": 19, "completion_tokens": 13,
                                              "total_tokens": 32}}]}),
            ],
            reported(19, 13, 0),
        );
        // Running totals on every chunk: the last is taken, never the sum.
        check_provider_stream(
            &[
                json!({"choices": [{"delta": {"content": "a"}}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 1}}),
                json!({"choices": [{"delta": {"content": "b"}}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
                json!({"choices": [{"delta": {}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 5, "completion_tokens": 2}}),
            ],
            reported(5, 2, 0),
        );
        // DeepSeek reasoning: cache hits and misses, reasoning inside the completion.
        check_provider_stream(
            &[
                json!({"choices": [{"delta": {"reasoning_content": "Let me think."}}]}),
                content("42"),
                json!({"choices": [], "usage": {"prompt_tokens": 100, "completion_tokens": 60,
                       "prompt_cache_hit_tokens": 64, "prompt_cache_miss_tokens": 36,
                       "completion_tokens_details": {"reasoning_tokens": 58}}}),
            ],
            Usage {
                reasoning_tokens: 58,
                ..reported(100, 60, 64)
            },
        );
    }

    #[test]
    fn a_moonshot_usage_chunk_goes_to_the_client_as_it_came() {
        let last = json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop",
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}]})
        .to_string();
        assert_eq!(StreamMeter::new(false).observe(&last), Forward::AsIs);
    }

    #[test]
    fn reasoning_without_usage_is_estimated_and_counted_as_output() {
        let mut meter = StreamMeter::new(false);
        meter.observe(
            &json!({"choices": [{"delta": {"reasoning_content": "abcdefgh"}}]}).to_string(),
        );
        meter.observe(&json!({"choices": [{"delta": {"reasoning": "ijkl"}}]}).to_string());
        meter.observe(&json!({"choices": [{"delta": {"content": "mnop"}}]}).to_string());
        assert_eq!(
            meter.outcome(7),
            Usage {
                prompt_tokens: 7,
                completion_tokens: 4,
                cached_tokens: 0,
                reasoning_tokens: 3,
                estimated: true,
            }
        );
    }

    #[test]
    fn reasoning_is_captured_apart_from_the_answer() {
        let mut meter = StreamMeter::new(false).capturing();
        meter.observe(
            &json!({"choices": [{"delta": {"reasoning_content": "First, "}}]}).to_string(),
        );
        meter.observe(&json!({"choices": [{"delta": {"reasoning": "think."}}]}).to_string());
        meter.observe(&chunk("Answer."));
        assert_eq!(meter.captured_reasoning(), "First, think.");
        assert_eq!(meter.captured_text(), "Answer.");
        let mut plain = StreamMeter::new(false);
        plain.observe(&json!({"choices": [{"delta": {"reasoning_content": "x"}}]}).to_string());
        assert_eq!(plain.captured_reasoning(), "");
    }

    #[test]
    fn the_first_token_is_generated_text_not_a_role_or_an_empty_chunk() {
        let mut meter = StreamMeter::new(false);
        meter.observe(
            &json!({"choices": [{"delta": {"role": "assistant", "content": ""}}]}).to_string(),
        );
        meter.observe(&json!({"choices": []}).to_string());
        assert!(!meter.first_token_seen());
        meter.observe(&json!({"choices": [{"delta": {"reasoning_content": "Hm"}}]}).to_string());
        assert!(meter.first_token_seen());
    }

    #[test]
    fn zhipu_filter_and_failure_endings_are_visible() {
        let ending = |reason: &str| {
            let mut meter = StreamMeter::new(true);
            meter.observe(&chunk("partial"));
            meter
                .observe(&json!({"choices": [{"delta": {}, "finish_reason": reason}]}).to_string());
            meter.ended_abnormally()
        };
        assert_eq!(ending("sensitive"), Some(Ending::Filtered));
        assert_eq!(ending("network_error"), Some(Ending::UpstreamError));
        assert_eq!(ending("stop"), None);
        assert_eq!(StreamMeter::new(true).ended_abnormally(), None);
    }
}
