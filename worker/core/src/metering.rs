//! Token metering of chat completions: the usage the upstream reports, an estimate where it reports
//! none, and the arithmetic that turns tokens into money.
//!
//! Bugs in peers that shaped this module: cumulative usage chunks summed instead of the last one taken
//! (one-api #415), a final chunk carrying both usage and choices dropped (LiteLLM #36168), streamed
//! usage recorded as zero so budgets never trigger (LiteLLM #37923).

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::conversation::push_bounded;

/// Per-message framing that chat models add around each message (role markers and separators), as
/// in OpenAI's published counting recipe.
pub const TOKENS_PER_MESSAGE: u64 = 4;

/// Framing added once per request to prime the assistant's reply.
pub const TOKENS_PER_REQUEST: u64 = 3;

/// What an image part is assumed to cost when reserving budget: a 1024×1024 image at high detail
/// under gpt-4o's tile formula (85 + 4 × 170). The true size is unknown without fetching the image,
/// and over-reserving is the safe side.
pub const IMAGE_PART_TOKENS: u64 = 765;

/// Bytes of ordinary text per estimated token (OpenAI's "about four characters per token" rule).
const BYTES_PER_TOKEN: u64 = 4;

/// Token counts of one completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// Prompt tokens served from the provider's cache; a subset of `prompt_tokens`.
    pub cached_tokens: u64,
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
    saw_done: bool,
    /// The delivered `content` text, kept only when asked for (server-side conversations
    /// store the answer), bounded by [`crate::conversation::MAX_STORED_ANSWER_BYTES`].
    captured: Option<String>,
    /// The last `finish_reason` a choice reported: only a `stop` answer is complete enough to
    /// cache.
    finish_reason: Option<String>,
}

impl StreamMeter {
    /// `client_wants_usage` is whether the client itself set `stream_options.include_usage`; when it
    /// did not (and the proxy asked upstream for usage on its own behalf), usage is kept from it.
    pub fn new(client_wants_usage: bool) -> StreamMeter {
        StreamMeter {
            client_wants_usage,
            reported: None,
            completion_text: TokenEstimator::default(),
            saw_done: false,
            captured: None,
            finish_reason: None,
        }
    }

    /// The last `finish_reason` the stream reported, if any.
    pub fn finish_reason(&self) -> Option<&str> {
        self.finish_reason.as_deref()
    }

    /// Also keep the answer's `content` text, for [`StreamMeter::captured_text`].
    pub fn capturing(mut self) -> StreamMeter {
        self.captured = Some(String::new());
        self
    }

    /// The content text delivered so far (empty unless [`StreamMeter::capturing`]).
    pub fn captured_text(&self) -> &str {
        self.captured.as_deref().unwrap_or_default()
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
        let Ok(chunk) = serde_json::from_str::<WireChunk<'_>>(data) else {
            return Forward::AsIs;
        };
        let choices = chunk.choices.unwrap_or_default();
        for choice in &choices {
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.to_string());
            }
            if let Some(delta) = &choice.delta {
                delta.feed(&mut self.completion_text);
                if let (Some(answer), Some(content)) = (&mut self.captured, &delta.content) {
                    push_bounded(answer, content);
                }
            }
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
        // Cumulative usage chunks each restate the totals so far, so the last report wins; summing
        // them overbills (one-api #415). An all-zero report carries no information (some upstreams
        // send one in every chunk before the real one) and must not replace an earlier real report.
        if let Some(usage) = usage_from_value(&usage_value) {
            if usage.prompt_tokens != 0 || usage.completion_tokens != 0 {
                self.reported = Some(usage);
            }
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

    /// The last usage the upstream reported, if any.
    pub fn reported_usage(&self) -> Option<Usage> {
        self.reported
    }

    /// Estimated tokens of the completion text delivered so far (content, refusals, reasoning and
    /// tool-call arguments), for cutting a stream whose budget runs out mid-way.
    pub fn completion_estimate(&self) -> u64 {
        self.completion_text.tokens()
    }

    /// Whether the `[DONE]` sentinel arrived, i.e. the upstream finished rather than broke off.
    pub fn saw_done(&self) -> bool {
        self.saw_done
    }

    /// The usage to bill. The upstream's last report wins; a count it leaves at zero although tokens
    /// evidently exist (a prompt, or delivered text) is replaced by the estimate, because billing zero
    /// is how budgets silently stop working (LiteLLM #37923). With no report at all, as when the
    /// client disconnects or the upstream ignores `include_usage`, everything is estimated.
    pub fn outcome(&self, prompt_estimate: u64) -> Usage {
        let completion_estimate = self.completion_estimate();
        let Some(reported) = self.reported else {
            return Usage {
                prompt_tokens: prompt_estimate,
                completion_tokens: completion_estimate,
                cached_tokens: 0,
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

/// The usage of a non-streamed completion body, if it reports one.
pub fn usage_from_body(body: &Value) -> Option<Usage> {
    usage_from_value(body.get("usage")?)
}

/// Reads an OpenAI `usage` object. Lenient about number shapes (`12.0`, `"12"`) because one odd
/// provider must not make a request free; `None` when neither count is present.
fn usage_from_value(usage: &Value) -> Option<Usage> {
    let prompt_tokens = count_field(usage.get("prompt_tokens"));
    let completion_tokens = count_field(usage.get("completion_tokens"));
    if prompt_tokens.is_none() && completion_tokens.is_none() {
        return None;
    }
    let prompt_tokens = prompt_tokens.unwrap_or(0);
    // OpenAI reports cached prompt tokens in `prompt_tokens_details`; DeepSeek as a top-level
    // `prompt_cache_hit_tokens`.
    let cached_tokens = count_field(usage.pointer("/prompt_tokens_details/cached_tokens"))
        .or_else(|| count_field(usage.get("prompt_cache_hit_tokens")))
        .unwrap_or(0);
    Some(Usage {
        prompt_tokens,
        completion_tokens: completion_tokens.unwrap_or(0),
        cached_tokens: cached_tokens.min(prompt_tokens),
        estimated: false,
    })
}

fn count_field(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Number(number) => number.as_u64().or_else(|| {
            let float = number.as_f64()?;
            (float.is_finite() && float >= 0.0).then(|| float.round() as u64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        _ => None,
    }
}

// The subset of a chat.completion.chunk the meter reads. Unknown fields are skipped without being
// materialised, which keeps the per-event cost well below parsing into a `Value`.
#[derive(Deserialize)]
struct WireChunk<'a> {
    #[serde(default, borrow)]
    choices: Option<Vec<WireChoice<'a>>>,
    /// `Some(Value::Null)` for `"usage": null`, `None` when the member is absent.
    #[serde(default, deserialize_with = "present")]
    usage: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
struct WireChoice<'a> {
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    #[serde(default, borrow)]
    finish_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    // Reasoning text is billed as completion tokens; providers name it either way.
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<WireToolCall<'a>>>,
    #[serde(default, borrow)]
    function_call: Option<WireFunction<'a>>,
}

#[derive(Deserialize)]
struct WireToolCall<'a> {
    #[serde(default, borrow)]
    function: Option<WireFunction<'a>>,
}

#[derive(Deserialize)]
struct WireFunction<'a> {
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    arguments: Option<Cow<'a, str>>,
}

impl WireDelta<'_> {
    fn feed(&self, estimator: &mut TokenEstimator) {
        let texts = [
            &self.content,
            &self.refusal,
            &self.reasoning_content,
            &self.reasoning,
        ];
        for text in texts.into_iter().flatten() {
            estimator.push_str(text);
        }
        let calls = self.tool_calls.iter().flatten();
        let functions = calls
            .filter_map(|call| call.function.as_ref())
            .chain(&self.function_call);
        for function in functions {
            for text in [&function.name, &function.arguments].into_iter().flatten() {
                estimator.push_str(text);
            }
        }
    }
}

/// Estimates the tokens of `text` without a tokenizer.
///
/// The rule: every CJK ideograph, kana, hangul syllable or jamo, CJK punctuation mark and fullwidth
/// form counts one token; every run of other text counts one token per started 4 bytes of UTF-8.
/// For ASCII that is OpenAI's "4 characters per token"; measuring bytes rather than characters keeps
/// scripts that byte-level BPE splits finer (Cyrillic, Greek, Arabic: 2 bytes a letter; emoji: 4)
/// from being undercounted by 2–4×.
///
/// Error bound, from the commonly published ratios of cl100k/o200k-style tokenizers (not measured
/// in this repository): English prose lands within about ±20%; Chinese is overestimated by up to
/// ~60% for o200k, Qwen or DeepSeek (≈0.6–0.8 tokens per hanzi) and underestimated by up to ~30%
/// for cl100k on rarer characters; code, numbers, URLs and base64 can be underestimated by up to
/// 2×; emoji, especially ZWJ sequences, by up to 3×. Use it for budget reservations and as the
/// fallback when an upstream reports no usage, never in place of a reported count.
pub fn estimate_tokens(text: &str) -> u64 {
    let mut estimator = TokenEstimator::default();
    estimator.push_str(text);
    estimator.tokens()
}

/// [`estimate_tokens`] over text that arrives in pieces. A run of ordinary text continues across
/// pieces, so the total does not depend on how a stream was chunked.
#[derive(Debug, Clone, Default)]
pub struct TokenEstimator {
    closed_tokens: u64,
    open_run_bytes: u64,
}

impl TokenEstimator {
    pub fn push_str(&mut self, text: &str) {
        if text.is_ascii() {
            self.open_run_bytes += text.len() as u64;
            return;
        }
        for character in text.chars() {
            if is_one_token_character(character) {
                self.closed_tokens += self.open_run_bytes.div_ceil(BYTES_PER_TOKEN) + 1;
                self.open_run_bytes = 0;
            } else {
                self.open_run_bytes += character.len_utf8() as u64;
            }
        }
    }

    pub fn tokens(&self) -> u64 {
        self.closed_tokens + self.open_run_bytes.div_ceil(BYTES_PER_TOKEN)
    }
}

fn is_one_token_character(character: char) -> bool {
    matches!(character,
        '\u{1100}'..='\u{11FF}'     // Hangul jamo
        | '\u{3000}'..='\u{303F}'   // CJK symbols and punctuation: 。、「」
        | '\u{3040}'..='\u{30FF}'   // Hiragana, katakana
        | '\u{3130}'..='\u{318F}'   // Hangul compatibility jamo
        | '\u{31F0}'..='\u{31FF}'   // Katakana phonetic extensions
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FF00}'..='\u{FFEF}'   // Fullwidth and halfwidth forms: ，！？
        | '\u{20000}'..='\u{3134F}' // CJK extensions B to G
    )
}

/// Estimates the prompt tokens of an OpenAI `messages` array: [`TOKENS_PER_MESSAGE`] per message,
/// [`TOKENS_PER_REQUEST`] once, plus the text of each message's content (a string, or an array of
/// parts with `text`), name and tool calls, and [`IMAGE_PART_TOKENS`] per image part.
pub fn estimate_prompt_tokens(messages: &Value) -> u64 {
    let mut tokens = TOKENS_PER_REQUEST;
    for message in messages.as_array().into_iter().flatten() {
        tokens += TOKENS_PER_MESSAGE;
        match message.get("content") {
            Some(Value::String(text)) => tokens += estimate_tokens(text),
            Some(Value::Array(parts)) => {
                for part in parts {
                    tokens += estimate_content_part(part);
                }
            }
            _ => {}
        }
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            tokens += estimate_tokens(name);
        }
        let tool_calls = message.get("tool_calls").and_then(Value::as_array);
        for call in tool_calls.into_iter().flatten() {
            for field in ["/function/name", "/function/arguments"] {
                if let Some(text) = call.pointer(field).and_then(Value::as_str) {
                    tokens += estimate_tokens(text);
                }
            }
        }
    }
    tokens
}

fn estimate_content_part(part: &Value) -> u64 {
    if let Some(text) = part.get("text").and_then(Value::as_str) {
        return estimate_tokens(text);
    }
    match part.get("type").and_then(Value::as_str) {
        Some("image_url" | "input_image" | "image") => IMAGE_PART_TOKENS,
        _ => 0,
    }
}

/// Estimates the prompt of a whole chat request: its messages plus its tool (or legacy function)
/// definitions, which the provider renders into the prompt too.
pub fn estimate_request_prompt_tokens(request: &Value) -> u64 {
    let messages = request.get("messages").unwrap_or(&Value::Null);
    let mut tokens = estimate_prompt_tokens(messages);
    for definitions in ["tools", "functions"] {
        if let Some(definitions) = request.get(definitions).filter(|value| !value.is_null()) {
            tokens += estimate_tokens(&definitions.to_string());
        }
    }
    tokens
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
            estimated: false,
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
                estimated: true,
            },
        );
    }

    #[test]
    fn usage_from_non_streamed_body() {
        let body = json!({
            "choices": [{"message": {"role": "assistant", "content": "hi"}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120,
                      "prompt_tokens_details": {"cached_tokens": 64}},
        });
        assert_eq!(usage_from_body(&body), Some(reported(100, 20, 64)));
        let deepseek = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 1,
                                        "prompt_cache_hit_tokens": 8}});
        assert_eq!(usage_from_body(&deepseek), Some(reported(10, 1, 8)));
        let odd_numbers = json!({"usage": {"prompt_tokens": 10.0, "completion_tokens": "3"}});
        assert_eq!(usage_from_body(&odd_numbers), Some(reported(10, 3, 0)));
        assert_eq!(usage_from_body(&json!({"usage": null})), None);
        assert_eq!(usage_from_body(&json!({"usage": {}})), None);
        assert_eq!(usage_from_body(&json!({})), None);
        // Cached tokens can never exceed the prompt they are part of.
        let inconsistent = json!({"usage": {"prompt_tokens": 5, "completion_tokens": 1,
                                            "prompt_tokens_details": {"cached_tokens": 50}}});
        assert_eq!(usage_from_body(&inconsistent), Some(reported(5, 1, 5)));
    }

    #[track_caller]
    fn check_estimate(text: &str, expected: u64) {
        assert_eq!(estimate_tokens(text), expected, "{text:?}");
    }

    #[test]
    fn estimates_for_english_chinese_and_emoji() {
        check_estimate("", 0);
        check_estimate("a", 1);
        check_estimate("Hello, world!", 4); // 13 bytes; cl100k says 4
        check_estimate("The quick brown fox jumps over the lazy dog.", 11); // 44 bytes; cl100k: 10
        check_estimate("你好，世界！", 6); // one per ideograph and fullwidth punctuation mark
        check_estimate("こんにちは", 5);
        check_estimate("안녕하세요", 5);
        check_estimate("🎉", 1); // 4 bytes
        check_estimate("🎉🎉🎉", 3);
        check_estimate("👨‍👩‍👧", 5); // 18 bytes: three emoji and two zero-width joiners
        check_estimate("Привет", 3); // 12 bytes: Cyrillic is not counted as 4 letters a token
                                     // A run of ordinary text between ideographs costs at least one token.
        check_estimate("用Rust写", 3);
        check_estimate("中a文b", 4);
    }

    #[test]
    fn estimate_does_not_depend_on_chunking() {
        let text = "Rust 是一门系统编程语言 🎉 with zero-cost abstractions.";
        let expected = estimate_tokens(text);
        for split in (0..=text.len()).filter(|&index| text.is_char_boundary(index)) {
            let mut estimator = TokenEstimator::default();
            estimator.push_str(&text[..split]);
            estimator.push_str(&text[split..]);
            assert_eq!(estimator.tokens(), expected, "split at {split}");
        }
    }

    #[test]
    fn prompt_estimate_adds_openai_framing() {
        assert_eq!(estimate_prompt_tokens(&json!([])), 3);
        assert_eq!(estimate_prompt_tokens(&json!(null)), 3);
        let messages = json!([
            {"role": "system", "content": "Be brief."},                  // 9 bytes: 3
            {"role": "user", "name": "ann", "content": [                  // name: 1
                {"type": "text", "text": "你好"},                          // 2
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "lookup", "arguments": "{\"q\":1}"}}, // 2 + 2
            ]},
        ]);
        assert_eq!(
            estimate_prompt_tokens(&messages),
            3 + 3 * 4 + 3 + 1 + 2 + IMAGE_PART_TOKENS + 2 + 2
        );
        let request = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        });
        let tools_json = request["tools"].to_string();
        assert_eq!(
            estimate_request_prompt_tokens(&request),
            3 + 4 + 1 + estimate_tokens(&tools_json)
        );
    }
}
