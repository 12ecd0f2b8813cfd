//! Responses-shaped options as their chat-completions fields: function `tools` (flat in
//! Responses, nested under `function` in chat), `tool_choice`, and `text.format` (chat's
//! `response_format`). Built-in tools (web search, file search, code interpreter, computer
//! use...) run on OpenAI's side and have no chat-completions equivalent: refused by name.

use serde_json::{json, Map, Value};

use super::input::clip;
use crate::error::ProxyError;

/// `tools` as chat-completions tools.
pub fn chat_tools(tools: &Value) -> Result<Vec<Value>, ProxyError> {
    let Value::Array(tools) = tools else {
        return Err(ProxyError::invalid("tools", "`tools` must be an array."));
    };
    tools
        .iter()
        .enumerate()
        .map(|(index, tool)| chat_tool(tool, index))
        .collect()
}

fn chat_tool(tool: &Value, index: usize) -> Result<Value, ProxyError> {
    let at = format!("tools[{index}]");
    let kind = tool.get("type").and_then(Value::as_str).unwrap_or_default();
    if kind != "function" {
        return Err(ProxyError::invalid(
            &format!("{at}.type"),
            format!(
                "Tools of type `{}` are not supported by this deployment's /v1/responses: only \
                 `function` tools (built-in tools run on OpenAI's side).",
                clip(kind)
            ),
        ));
    }
    let name = match tool.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name,
        _ => {
            return Err(ProxyError::invalid(
                &format!("{at}.name"),
                format!("`{at}.name` must be a non-empty string."),
            ))
        }
    };
    let mut function = Map::new();
    function.insert("name".into(), Value::String(name.clone()));
    for field in ["description", "parameters", "strict"] {
        if let Some(value) = tool.get(field).filter(|value| !value.is_null()) {
            function.insert(field.into(), value.clone());
        }
    }
    Ok(json!({"type": "function", "function": function}))
}

/// `tool_choice`: the strings pass as they are; `{type: "function", name}` nests the name.
pub fn chat_tool_choice(choice: &Value) -> Result<Value, ProxyError> {
    match choice {
        Value::String(mode) if ["auto", "none", "required"].contains(&mode.as_str()) => {
            Ok(choice.clone())
        }
        Value::Object(object) if object.get("type") == Some(&json!("function")) => {
            match object.get("name") {
                Some(Value::String(name)) if !name.is_empty() => {
                    Ok(json!({"type": "function", "function": {"name": name}}))
                }
                _ => Err(ProxyError::invalid(
                    "tool_choice.name",
                    "`tool_choice.name` must name a function.",
                )),
            }
        }
        _ => Err(ProxyError::invalid(
            "tool_choice",
            "`tool_choice` must be `auto`, `none`, `required` or `{\"type\": \"function\", \
             \"name\": ...}`.",
        )),
    }
}

/// `text.format` as chat's `response_format`; `None` for plain text (the default).
pub fn chat_response_format(text: &Value) -> Result<Option<Value>, ProxyError> {
    let Some(format) = text.get("format").filter(|format| !format.is_null()) else {
        return Ok(None);
    };
    match format.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(json!({"type": "json_object"}))),
        Some("json_schema") => {
            let mut schema = Map::new();
            for field in ["name", "schema", "strict", "description"] {
                if let Some(value) = format.get(field).filter(|value| !value.is_null()) {
                    schema.insert(field.into(), value.clone());
                }
            }
            Ok(Some(json!({"type": "json_schema", "json_schema": schema})))
        }
        _ => Err(ProxyError::invalid(
            "text.format.type",
            "`text.format.type` must be `text`, `json_object` or `json_schema`.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_tools_nest_under_function() {
        let tools = json!([{"type": "function", "name": "w", "description": "weather",
            "parameters": {"type": "object"}, "strict": true}]);
        assert_eq!(
            chat_tools(&tools).ok(),
            Some(vec![json!({"type": "function", "function": {"name": "w",
                "description": "weather", "parameters": {"type": "object"}, "strict": true}})])
        );
    }

    #[test]
    fn built_in_tools_are_refused_by_type() {
        for kind in [
            "web_search",
            "file_search",
            "code_interpreter",
            "computer_use_preview",
        ] {
            let tools = json!([{"type": "function", "name": "f"}, {"type": kind}]);
            match chat_tools(&tools) {
                Err(ProxyError::InvalidRequest { message, param }) => {
                    assert_eq!(param.as_deref(), Some("tools[1].type"));
                    assert!(message.contains(kind), "{message}");
                }
                other => panic!("{kind}: {other:?}"),
            }
        }
    }

    #[test]
    fn tool_choice_and_text_format_translate() {
        assert_eq!(
            chat_tool_choice(&json!("required")).ok(),
            Some(json!("required"))
        );
        assert_eq!(
            chat_tool_choice(&json!({"type": "function", "name": "w"})).ok(),
            Some(json!({"type": "function", "function": {"name": "w"}}))
        );
        assert!(chat_tool_choice(&json!({"type": "web_search"})).is_err());
        assert_eq!(
            chat_response_format(&json!({"format": {"type": "text"}})).ok(),
            Some(None)
        );
        assert_eq!(
            chat_response_format(&json!({"format": {"type": "json_schema", "name": "s",
                "schema": {"type": "object"}, "strict": true}}))
            .ok(),
            Some(Some(
                json!({"type": "json_schema", "json_schema": {"name": "s",
                "schema": {"type": "object"}, "strict": true}})
            ))
        );
    }
}
