//! One `chat.completion` from a streamed answer: the proxy always asks the upstream for a
//! stream (so the first-byte timeout and failover mean the same for every call), and a caller
//! that wanted one JSON answer gets the chunks put back together here.
//!
//! Deltas are joined per choice `index`: `content`, `refusal` and reasoning text concatenate;
//! tool calls join by their own `index` (id, name and arguments); `logprobs.content` entries
//! append; the last non-null `finish_reason` wins; the usage chunk is kept as sent.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

#[derive(Debug, Default)]
pub struct Assembler {
    head: Map<String, Value>,
    choices: BTreeMap<u64, Choice>,
    usage: Option<Value>,
}

#[derive(Debug, Default)]
struct Choice {
    role: Option<String>,
    content: Option<String>,
    refusal: Option<String>,
    reasoning_content: Option<String>,
    tool_calls: BTreeMap<u64, ToolCall>,
    function_call: Option<(String, String)>,
    finish_reason: Option<Value>,
    logprobs: Option<Vec<Value>>,
}

#[derive(Debug, Default)]
struct ToolCall {
    id: Option<String>,
    kind: Option<String>,
    name: String,
    arguments: String,
}

/// Fields of the chunks that the final object carries over as they are.
const HEAD_FIELDS: [&str; 5] = [
    "id",
    "created",
    "model",
    "system_fingerprint",
    "service_tier",
];

impl Assembler {
    /// Adds one event's `data`; anything that is not a chunk object (`[DONE]`, keep-alives) is
    /// ignored.
    pub fn push(&mut self, data: &str) {
        let Ok(Value::Object(chunk)) = serde_json::from_str::<Value>(data) else {
            return;
        };
        for field in HEAD_FIELDS {
            if let Some(value) = chunk.get(field).filter(|value| !value.is_null()) {
                self.head.entry(field).or_insert_with(|| value.clone());
            }
        }
        if let Some(usage) = chunk.get("usage").filter(|usage| usage.is_object()) {
            // Cumulative reports restate the totals: the last one wins.
            self.usage = Some(usage.clone());
        }
        let Some(Value::Array(choices)) = chunk.get("choices") else {
            return;
        };
        // Moonshot puts its usage inside the choice; a completion carries it at the top.
        if !chunk.get("usage").is_some_and(Value::is_object) {
            if let Some(usage) = choices
                .iter()
                .find_map(|choice| choice.get("usage").filter(|usage| usage.is_object()))
            {
                self.usage = Some(usage.clone());
            }
        }
        for choice in choices {
            let index = choice.get("index").and_then(Value::as_u64).unwrap_or(0);
            self.choices.entry(index).or_default().absorb(choice);
        }
    }

    /// The assembled `chat.completion`.
    pub fn finish(self) -> Value {
        let mut object = self.head;
        object.insert("object".into(), json!("chat.completion"));
        let choices: Vec<Value> = self
            .choices
            .into_iter()
            .map(|(index, choice)| choice.into_value(index))
            .collect();
        object.insert("choices".into(), Value::Array(choices));
        if let Some(usage) = self.usage {
            object.insert("usage".into(), usage);
        }
        Value::Object(object)
    }
}

fn append(target: &mut Option<String>, piece: Option<&str>) {
    if let Some(piece) = piece {
        target.get_or_insert_with(String::new).push_str(piece);
    }
}

impl Choice {
    fn absorb(&mut self, choice: &Value) {
        if let Some(reason) = choice
            .get("finish_reason")
            .filter(|reason| !reason.is_null())
        {
            self.finish_reason = Some(reason.clone());
        }
        if let Some(Value::Array(entries)) = choice.pointer("/logprobs/content") {
            self.logprobs
                .get_or_insert_with(Vec::new)
                .extend(entries.iter().cloned());
        }
        let Some(delta) = choice.get("delta") else {
            return;
        };
        let text = |field: &str| delta.get(field).and_then(Value::as_str);
        if let Some(role) = text("role") {
            self.role = Some(role.to_string());
        }
        append(&mut self.content, text("content"));
        append(&mut self.refusal, text("refusal"));
        append(
            &mut self.reasoning_content,
            text("reasoning_content").or(text("reasoning")),
        );
        if let Some(Value::Array(calls)) = delta.get("tool_calls") {
            for (position, call) in calls.iter().enumerate() {
                let index = call
                    .get("index")
                    .and_then(Value::as_u64)
                    .unwrap_or(position as u64);
                let entry = self.tool_calls.entry(index).or_default();
                if let Some(id) = call.get("id").and_then(Value::as_str) {
                    entry.id = Some(id.to_string());
                }
                if let Some(kind) = call.get("type").and_then(Value::as_str) {
                    entry.kind = Some(kind.to_string());
                }
                if let Some(function) = call.get("function") {
                    if let Some(name) = function.get("name").and_then(Value::as_str) {
                        entry.name.push_str(name);
                    }
                    if let Some(arguments) = function.get("arguments").and_then(Value::as_str) {
                        entry.arguments.push_str(arguments);
                    }
                }
            }
        }
        if let Some(function) = delta.get("function_call") {
            let (name, arguments) = self.function_call.get_or_insert_with(Default::default);
            if let Some(piece) = function.get("name").and_then(Value::as_str) {
                name.push_str(piece);
            }
            if let Some(piece) = function.get("arguments").and_then(Value::as_str) {
                arguments.push_str(piece);
            }
        }
    }

    fn into_value(self, index: u64) -> Value {
        let mut message = Map::new();
        message.insert(
            "role".into(),
            json!(self.role.unwrap_or_else(|| "assistant".into())),
        );
        message.insert("content".into(), json!(self.content));
        message.insert("refusal".into(), json!(self.refusal));
        if let Some(reasoning) = self.reasoning_content {
            message.insert("reasoning_content".into(), json!(reasoning));
        }
        if !self.tool_calls.is_empty() {
            let calls: Vec<Value> = self
                .tool_calls
                .into_values()
                .map(|call| {
                    json!({
                        "id": call.id,
                        "type": call.kind.unwrap_or_else(|| "function".into()),
                        "function": {"name": call.name, "arguments": call.arguments},
                    })
                })
                .collect();
            message.insert("tool_calls".into(), Value::Array(calls));
        }
        if let Some((name, arguments)) = self.function_call {
            message.insert(
                "function_call".into(),
                json!({"name": name, "arguments": arguments}),
            );
        }
        json!({
            "index": index,
            "message": message,
            "logprobs": self.logprobs.map(|content| json!({"content": content})),
            "finish_reason": self.finish_reason.unwrap_or(Value::Null),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(events: &[&str]) -> Value {
        let mut assembler = Assembler::default();
        for event in events {
            assembler.push(event);
        }
        assembler.finish()
    }

    #[test]
    fn text_choices_and_usage_come_back_as_one_completion() {
        let answer = assemble(&[
            r#"{"id":"c1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":1,"delta":{"role":"assistant","content":"B"}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"}}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"length"}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[{"index":1,"delta":{},"finish_reason":"stop"}]}"#,
            r#"{"id":"c1","created":7,"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}"#,
            "[DONE]",
        ]);
        assert_eq!(answer["object"], "chat.completion");
        assert_eq!(answer["id"], "c1");
        assert_eq!(answer["choices"][0]["message"]["content"], "Hello");
        assert_eq!(answer["choices"][0]["finish_reason"], "length");
        assert_eq!(answer["choices"][1]["message"]["content"], "B");
        assert_eq!(answer["choices"][1]["finish_reason"], "stop");
        assert_eq!(answer["usage"]["total_tokens"], 7);
    }

    #[test]
    fn moonshot_usage_inside_the_choice_comes_back_at_the_top() {
        let answer = assemble(&[
            r#"{"id":"c1","choices":[{"index":0,"delta":{"content":"你好"}}]}"#,
            r#"{"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop","usage":{"prompt_tokens":19,"completion_tokens":13,"total_tokens":32}}]}"#,
            "[DONE]",
        ]);
        assert_eq!(answer["usage"]["total_tokens"], 32);
        assert_eq!(answer["choices"][0]["message"]["content"], "你好");
    }

    #[test]
    fn tool_calls_join_by_their_index() {
        let answer = assemble(&[
            r#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_","arguments":""}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"name":"weather","arguments":"{\"ci"}}]}}]}"#,
            r#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ty\":1}"}}]},"finish_reason":"tool_calls"}]}"#,
        ]);
        let call = &answer["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["id"], "call_1");
        assert_eq!(call["function"]["name"], "get_weather");
        assert_eq!(call["function"]["arguments"], "{\"city\":1}");
        assert_eq!(answer["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    }
}
