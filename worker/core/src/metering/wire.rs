//! Reading what an upstream reports: the `usage` object (wherever a provider puts it, in
//! whatever number shape) and the parts of a streamed chunk the meter needs.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{TokenEstimator, Usage};

/// The usage of a non-streamed completion body, if it reports one.
pub fn usage_from_body(body: &Value) -> Option<Usage> {
    usage_from_value(body.get("usage")?)
}

/// Reads an OpenAI `usage` object. Lenient about number shapes (`12.0`, `"12"`) because one odd
/// provider must not make a request free; `None` when no count is present.
///
/// - Cached input: OpenAI's `prompt_tokens_details.cached_tokens`, or DeepSeek's
///   `prompt_cache_hit_tokens` (its `prompt_cache_miss_tokens` are the rest of the prompt, and
///   stand in for `prompt_tokens` if that is missing).
/// - Reasoning: `completion_tokens_details.reasoning_tokens`, part of `completion_tokens` as
///   OpenAI, DeepSeek and Ark report it. A report whose reasoning exceeds the completion it
///   should be part of must have counted it apart, and is billed for both.
pub(super) fn usage_from_value(usage: &Value) -> Option<Usage> {
    let cache_hit = count_field(usage.get("prompt_cache_hit_tokens"));
    let cache_miss = count_field(usage.get("prompt_cache_miss_tokens"));
    let prompt_tokens = count_field(usage.get("prompt_tokens")).or(match (cache_hit, cache_miss) {
        (None, None) => None,
        (hit, miss) => Some(hit.unwrap_or(0).saturating_add(miss.unwrap_or(0))),
    });
    let completion_tokens = count_field(usage.get("completion_tokens"));
    if prompt_tokens.is_none() && completion_tokens.is_none() {
        return None;
    }
    let prompt_tokens = prompt_tokens.unwrap_or(0);
    let cached_tokens = count_field(usage.pointer("/prompt_tokens_details/cached_tokens"))
        .or(cache_hit)
        .unwrap_or(0);
    let reasoning_tokens =
        count_field(usage.pointer("/completion_tokens_details/reasoning_tokens")).unwrap_or(0);
    let mut completion_tokens = completion_tokens.unwrap_or(0);
    if reasoning_tokens > completion_tokens {
        completion_tokens = completion_tokens.saturating_add(reasoning_tokens);
    }
    Some(Usage {
        prompt_tokens,
        completion_tokens,
        cached_tokens: cached_tokens.min(prompt_tokens),
        reasoning_tokens,
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
pub(super) struct WireChunk<'a> {
    #[serde(default, borrow)]
    pub choices: Option<Vec<WireChoice<'a>>>,
    /// `Some(Value::Null)` for `"usage": null`, `None` when the member is absent.
    #[serde(default, deserialize_with = "present")]
    pub usage: Option<Value>,
}

fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
pub(super) struct WireChoice<'a> {
    #[serde(default, borrow)]
    pub delta: Option<WireDelta<'a>>,
    #[serde(default, borrow)]
    pub finish_reason: Option<Cow<'a, str>>,
    /// Moonshot's place for the usage of its last chunk.
    #[serde(default)]
    pub usage: Option<Value>,
}

#[derive(Deserialize)]
pub(super) struct WireDelta<'a> {
    #[serde(default, borrow)]
    pub content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    refusal: Option<Cow<'a, str>>,
    // Reasoning text is billed as completion tokens; providers name it either way
    // (DeepSeek, Qwen, Zhipu and Ark `reasoning_content`; OpenRouter-style `reasoning`).
    #[serde(default, borrow)]
    pub reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub reasoning: Option<Cow<'a, str>>,
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
    /// Adds the delta's generated text to `completion`, and its reasoning to `reasoning` too.
    pub fn feed(&self, completion: &mut TokenEstimator, reasoning: &mut TokenEstimator) {
        for text in [&self.content, &self.refusal].into_iter().flatten() {
            completion.push_str(text);
        }
        for text in [&self.reasoning_content, &self.reasoning]
            .into_iter()
            .flatten()
        {
            completion.push_str(text);
            reasoning.push_str(text);
        }
        let estimator = completion;
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reported(prompt_tokens: u64, completion_tokens: u64, cached_tokens: u64) -> Usage {
        Usage {
            prompt_tokens,
            completion_tokens,
            cached_tokens,
            ..Usage::default()
        }
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

    #[test]
    fn deepseek_cache_hits_and_misses_make_the_prompt() {
        let deepseek = json!({"usage": {"prompt_cache_hit_tokens": 70,
            "prompt_cache_miss_tokens": 30, "completion_tokens": 9}});
        assert_eq!(usage_from_body(&deepseek), Some(reported(100, 9, 70)));
        let both = json!({"usage": {"prompt_tokens": 100, "prompt_cache_hit_tokens": 70,
            "prompt_cache_miss_tokens": 30, "completion_tokens": 9}});
        assert_eq!(usage_from_body(&both), Some(reported(100, 9, 70)));
    }

    #[test]
    fn reasoning_tokens_are_part_of_the_completion() {
        let openai = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 500,
            "completion_tokens_details": {"reasoning_tokens": 448}}});
        assert_eq!(
            usage_from_body(&openai),
            Some(Usage {
                reasoning_tokens: 448,
                ..reported(10, 500, 0)
            })
        );
        // Reasoning reported apart from (larger than) the completion is billed on top.
        let apart = json!({"usage": {"prompt_tokens": 10, "completion_tokens": 20,
            "completion_tokens_details": {"reasoning_tokens": 300}}});
        assert_eq!(
            usage_from_body(&apart),
            Some(Usage {
                reasoning_tokens: 300,
                ..reported(10, 320, 0)
            })
        );
    }
}
