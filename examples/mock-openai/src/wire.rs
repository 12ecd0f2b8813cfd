//! OpenAI's JSON shapes, as the official Python and npm SDKs parse them.
//!
//! Field order follows OpenAI's own responses so captured traffic diffs
//! cleanly. Fields OpenAI sends as `null` are `Option`s serialised as
//! `null`; fields it omits are skipped. `Option<Option<T>>` is used where a
//! field is sometimes absent, sometimes `null` (e.g. `usage` on stream
//! chunks, which is `null` only when `include_usage` was requested).

use serde::Serialize;

/// Every response claims this fingerprint, so clients that log it can tell
/// the mock from the real thing.
pub const SYSTEM_FINGERPRINT: &str = "fp_mock";

/// Token usage of one request, as reported to the client and to the stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    /// Everything generated, reasoning included (as OpenAI and DeepSeek count).
    pub completion_tokens: u64,
    /// The part of `completion_tokens` spent on reasoning.
    pub reasoning_tokens: u64,
    /// The part of `prompt_tokens` served from a prompt cache.
    pub cached_tokens: u64,
    /// DeepSeek's spelling of the cache split as well:
    /// `prompt_cache_hit_tokens` and `prompt_cache_miss_tokens`.
    pub cache_hit_fields: bool,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }
}

impl Serialize for Usage {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct PromptDetails {
            cached_tokens: u64,
        }
        #[derive(Serialize)]
        struct CompletionDetails {
            reasoning_tokens: u64,
        }
        #[derive(Serialize)]
        struct UsageWire {
            prompt_tokens: u64,
            completion_tokens: u64,
            total_tokens: u64,
            #[serde(skip_serializing_if = "Option::is_none")]
            prompt_cache_hit_tokens: Option<u64>,
            #[serde(skip_serializing_if = "Option::is_none")]
            prompt_cache_miss_tokens: Option<u64>,
            prompt_tokens_details: PromptDetails,
            completion_tokens_details: CompletionDetails,
        }
        let cache_split = |tokens: u64| self.cache_hit_fields.then_some(tokens);
        UsageWire {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.completion_tokens,
            total_tokens: self.total_tokens(),
            prompt_cache_hit_tokens: cache_split(self.cached_tokens),
            prompt_cache_miss_tokens: cache_split(
                self.prompt_tokens.saturating_sub(self.cached_tokens),
            ),
            prompt_tokens_details: PromptDetails {
                cached_tokens: self.cached_tokens,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: self.reasoning_tokens,
            },
        }
        .serialize(serializer)
    }
}

/// A non-streaming `chat.completion` object.
#[derive(Serialize)]
pub struct ChatCompletion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: Vec<CompletionChoice<'a>>,
    pub usage: Usage,
    pub system_fingerprint: &'static str,
}

#[derive(Serialize)]
pub struct CompletionChoice<'a> {
    pub index: usize,
    pub message: AssistantMessage<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: &'static str,
}

#[derive(Serialize)]
pub struct AssistantMessage<'a> {
    pub role: &'static str,
    pub content: Option<&'a str>,
    pub refusal: Option<&'a str>,
    /// The chain of thought of a reasoning model; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCall<'a>>>,
}

#[derive(Serialize)]
pub struct ToolCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall<'a>,
}

#[derive(Serialize)]
pub struct FunctionCall<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

/// One `chat.completion.chunk` of a stream. It carries zero or one choice:
/// the mock interleaves choices chunk by chunk, as OpenAI does for `n > 1`.
#[derive(Serialize)]
pub struct ChatChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub system_fingerprint: &'static str,
    pub choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

#[derive(Serialize)]
pub struct ChunkChoice<'a> {
    pub index: usize,
    pub delta: Delta<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
    /// Moonshot reports a stream's usage here, on the finishing choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// The incremental part of a chunk; an all-`None` delta serialises as `{}`.
#[derive(Default, Serialize)]
pub struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refusal: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
pub struct ToolCallDelta<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta<'a>,
}

#[derive(Serialize)]
pub struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_carries_totals_and_zero_details() {
        let usage = Usage {
            prompt_tokens: 7,
            completion_tokens: 5,
            ..Usage::default()
        };
        let json = serde_json::to_string(&usage).unwrap_or_default();
        assert_eq!(
            json,
            r#"{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}"#
        );
    }

    #[test]
    fn reasoning_tokens_are_detailed() {
        let usage = Usage {
            prompt_tokens: 1,
            completion_tokens: 9,
            reasoning_tokens: 6,
            ..Usage::default()
        };
        let value = serde_json::to_value(usage).unwrap_or_default();
        assert_eq!(value["completion_tokens"], 9);
        assert_eq!(value["total_tokens"], 10);
        assert_eq!(value["completion_tokens_details"]["reasoning_tokens"], 6);
    }

    #[test]
    fn deepseek_spells_out_the_cache_split() {
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 1,
            cached_tokens: 4,
            cache_hit_fields: true,
            ..Usage::default()
        };
        let value = serde_json::to_value(usage).unwrap_or_default();
        assert_eq!(value["prompt_cache_hit_tokens"], 4);
        assert_eq!(value["prompt_cache_miss_tokens"], 6);
        assert_eq!(value["prompt_tokens_details"]["cached_tokens"], 4);
        let plain = serde_json::to_value(Usage::default()).unwrap_or_default();
        assert!(plain.get("prompt_cache_hit_tokens").is_none());
    }

    #[test]
    fn empty_delta_is_an_empty_object() {
        let json = serde_json::to_string(&Delta::default()).unwrap_or_default();
        assert_eq!(json, "{}");
    }

    #[test]
    fn chunk_usage_is_absent_null_or_present() {
        let chunk = |usage| ChatChunk {
            id: "chatcmpl-mock-1",
            object: "chat.completion.chunk",
            created: 1,
            model: "m",
            system_fingerprint: SYSTEM_FINGERPRINT,
            choices: &[],
            usage,
        };
        let absent = serde_json::to_value(chunk(None)).unwrap_or_default();
        assert!(absent.get("usage").is_none());
        let null = serde_json::to_value(chunk(Some(None))).unwrap_or_default();
        assert!(null.get("usage").is_some_and(|usage| usage.is_null()));
        let present = serde_json::to_value(chunk(Some(Some(Usage::default())))).unwrap_or_default();
        assert_eq!(present["usage"]["total_tokens"], 0);
    }
}
