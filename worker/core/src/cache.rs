//! The exact-match response cache's pure parts: the key of a normalized request, the stored
//! answer, and replaying a stored answer as a stream that reads like a live one.
//!
//! Only routes with `cache = true` use it. The key covers everything that changes the answer
//! (model, messages, sampling parameters, tools) and nothing that does not (`stream`,
//! `stream_options`, `user`); the user joins the key only for routes marked `personal`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// Request fields that never change the answer's content.
const IGNORED_FIELDS: [&str; 4] = ["stream", "stream_options", "user", "metadata"];

/// A hex SHA-256 over the canonical JSON of the answer-relevant fields.
/// `serde_json::Map` keeps keys sorted (no `preserve_order`), so equal requests hash equal.
pub fn cache_key(upstream_body: &Map<String, Value>, personal_user: Option<&str>) -> String {
    let mut relevant = Map::new();
    for (field, value) in upstream_body {
        if !IGNORED_FIELDS.contains(&field.as_str()) {
            relevant.insert(field.clone(), value.clone());
        }
    }
    if let Some(user) = personal_user {
        relevant.insert("__oachat_user".into(), Value::String(user.to_string()));
    }
    let canonical = Value::Object(relevant).to_string();
    Sha256::digest(canonical.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// What the cache stores: enough to answer again, streamed or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedAnswer {
    pub model: String,
    pub content: String,
    pub finish_reason: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl CachedAnswer {
    /// The non-streaming `chat.completion` body for a hit. Usage reports the original
    /// token counts, with every prompt token marked cached: nothing was paid upstream.
    pub fn completion(&self, id: &str, created_s: u64) -> Value {
        json!({
            "id": id,
            "object": "chat.completion",
            "created": created_s,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.content, "refusal": null},
                "logprobs": null,
                "finish_reason": self.finish_reason,
            }],
            "usage": self.usage(),
        })
    }

    fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.prompt_tokens},
        })
    }

    /// The SSE events (data payloads) of a replayed stream: role, the content in pieces of
    /// about `piece_chars` characters (so the widget's typewriter still works), the finish
    /// chunk, the usage chunk when asked for, and `[DONE]`.
    pub fn stream_events(
        &self,
        id: &str,
        created_s: u64,
        piece_chars: usize,
        include_usage: bool,
    ) -> Vec<String> {
        let chunk = |delta: Value, finish: Value| {
            json!({
                "id": id, "object": "chat.completion.chunk", "created": created_s, "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
            })
            .to_string()
        };
        let mut events = vec![chunk(
            json!({"role": "assistant", "content": ""}),
            Value::Null,
        )];
        let chars: Vec<char> = self.content.chars().collect();
        for piece in chars.chunks(piece_chars.max(1)) {
            let text: String = piece.iter().collect();
            events.push(chunk(json!({"content": text}), Value::Null));
        }
        events.push(chunk(json!({}), Value::String(self.finish_reason.clone())));
        if include_usage {
            events.push(
                json!({
                    "id": id, "object": "chat.completion.chunk", "created": created_s, "model": self.model,
                    "choices": [], "usage": self.usage(),
                })
                .to_string(),
            );
        }
        events.push(oachat_protocol::names::DONE_DATA.to_string());
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(text: &str, stream: bool) -> Map<String, Value> {
        match json!({"model": "m", "stream": stream, "user": "x", "temperature": 0.2,
                     "messages": [{"role": "user", "content": text}]})
        {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn streaming_and_user_fields_do_not_change_the_key() {
        assert_eq!(
            cache_key(&body("hi", true), None),
            cache_key(&body("hi", false), None)
        );
        assert_ne!(
            cache_key(&body("hi", true), None),
            cache_key(&body("ho", true), None)
        );
    }

    #[test]
    fn personal_routes_key_by_user() {
        let request = body("hi", true);
        assert_ne!(
            cache_key(&request, Some("u:a")),
            cache_key(&request, Some("u:b"))
        );
        assert_ne!(cache_key(&request, Some("u:a")), cache_key(&request, None));
    }

    #[test]
    fn a_replayed_stream_carries_the_whole_answer() {
        let answer = CachedAnswer {
            model: "m".into(),
            content: "你好, world 😀".into(),
            finish_reason: "stop".into(),
            prompt_tokens: 10,
            completion_tokens: 5,
        };
        let events = answer.stream_events("id", 1, 3, true);
        assert_eq!(events.last().unwrap(), "[DONE]");
        let text: String = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        assert_eq!(text, answer.content);
        let usage: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
        assert_eq!(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
        assert_eq!(
            answer.stream_events("id", 1, 3, false).len(),
            events.len() - 1
        );
    }
}
