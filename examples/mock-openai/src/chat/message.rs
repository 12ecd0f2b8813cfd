//! One chat message as the mock reads it: the role, the content flattened
//! to text, and the tool-call fields that link a tool result to its call.

use serde::Deserialize;
use serde_json::Value;

/// Fields other than `role` are read leniently (`Value`): the mock answers
/// whatever a proxy forwards, and a malformed field only means "absent".
#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: String,
    #[serde(default)]
    content: Value,
    /// An assistant message's `[{id, type, function: {name, arguments}}]`.
    #[serde(default)]
    tool_calls: Value,
    /// A `tool` message's link to the call it answers.
    #[serde(default)]
    tool_call_id: Value,
    /// A legacy `function` message's function (some clients send it on
    /// `tool` messages too).
    #[serde(default)]
    name: Value,
}

impl Message {
    /// The content as text: a string as is, the `text` of the text parts
    /// joined with `\n`, or empty (null, absent, anything else).
    pub fn text(&self) -> String {
        match &self.content {
            Value::String(text) => text.clone(),
            Value::Array(parts) => parts
                .iter()
                .filter(|part| {
                    matches!(
                        part.get("type").and_then(Value::as_str),
                        None | Some("text")
                    )
                })
                .filter_map(|part| part.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("\n"),
            _ => String::new(),
        }
    }

    /// Whether this message carries the result of a call.
    pub fn is_tool_result(&self) -> bool {
        self.role == "tool" || self.role == "function"
    }

    pub fn tool_call_id(&self) -> Option<&str> {
        self.tool_call_id.as_str()
    }

    pub fn name(&self) -> Option<&str> {
        self.name.as_str()
    }

    /// The function name of this assistant message's call with `id`.
    pub fn called_function(&self, id: &str) -> Option<&str> {
        self.tool_calls
            .as_array()?
            .iter()
            .find(|call| call.get("id").and_then(Value::as_str) == Some(id))?
            .get("function")?
            .get("name")?
            .as_str()
    }
}
