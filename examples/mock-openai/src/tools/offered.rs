//! The tools a request offers and what it lets the model do with them:
//! `tools` (`[{type: "function", function: {name, description, parameters}}]`)
//! with `tool_choice`, or the legacy `functions` with `function_call`.
//!
//! Entries the mock cannot use (no string name, another tool type) are
//! skipped rather than refused: the proxy under test decides what is valid,
//! and the mock should answer whatever it forwards.

use serde_json::Value;

/// One callable function, as offered by the request.
#[derive(Debug, Clone, PartialEq)]
pub struct OfferedTool {
    pub name: String,
    /// Empty when the request gives none.
    pub description: String,
    /// The JSON schema of the arguments; `Null` when the request gives none.
    pub parameters: Value,
}

/// `tool_choice` (or legacy `function_call`), read leniently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// Call a tool the user's message asks for, if any (`"auto"` or absent).
    Auto,
    /// Never call a tool (`"none"`).
    Never,
    /// Call a tool whatever: the one asked for, else the first (`"required"`).
    Required,
    /// Call this function whatever the message says.
    Named(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Offered {
    pub tools: Vec<OfferedTool>,
    pub choice: ToolChoice,
}

impl Offered {
    /// Reads `tools` and `functions` (both, in that order) and the choice:
    /// `tool_choice`, else `function_call`.
    pub fn parse(
        tools: &[Value],
        functions: &[Value],
        tool_choice: Option<&Value>,
        function_call: Option<&Value>,
    ) -> Offered {
        let from_tools = tools
            .iter()
            .filter(|tool| {
                matches!(
                    tool.get("type").and_then(Value::as_str),
                    None | Some("function")
                )
            })
            .filter_map(|tool| tool.get("function"))
            .filter_map(offered_function);
        let from_functions = functions.iter().filter_map(offered_function);
        let choice = tool_choice
            .filter(|choice| !choice.is_null())
            .or(function_call.filter(|choice| !choice.is_null()))
            .map_or(ToolChoice::Auto, parse_choice);
        Offered {
            tools: from_tools.chain(from_functions).collect(),
            choice,
        }
    }

    pub fn find(&self, name: &str) -> Option<&OfferedTool> {
        self.tools.iter().find(|tool| tool.name == name)
    }
}

fn offered_function(function: &Value) -> Option<OfferedTool> {
    let text = |field: &str| function.get(field).and_then(Value::as_str);
    Some(OfferedTool {
        name: text("name")?.to_owned(),
        description: text("description").unwrap_or_default().to_owned(),
        parameters: function.get("parameters").cloned().unwrap_or(Value::Null),
    })
}

/// `"none"`, `"auto"`, `"required"`, `{type: "function", function: {name}}`
/// or legacy `{name}`; anything else (e.g. `allowed_tools`) is `Auto`.
fn parse_choice(choice: &Value) -> ToolChoice {
    match choice.as_str() {
        Some("none") => return ToolChoice::Never,
        Some("required") => return ToolChoice::Required,
        Some(_) => return ToolChoice::Auto,
        None => {}
    }
    let name = choice
        .get("function")
        .and_then(|function| function.get("name"))
        .or_else(|| choice.get("name"))
        .and_then(Value::as_str);
    name.map_or(ToolChoice::Auto, |name| ToolChoice::Named(name.to_owned()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(request: Value) -> Offered {
        let array = |field: &str| request[field].as_array().cloned().unwrap_or_default();
        Offered::parse(
            &array("tools"),
            &array("functions"),
            request.get("tool_choice"),
            request.get("function_call"),
        )
    }

    fn names(offered: &Offered) -> Vec<&str> {
        offered
            .tools
            .iter()
            .map(|tool| tool.name.as_str())
            .collect()
    }

    #[test]
    fn tools_and_legacy_functions_are_both_offered() {
        let offered = parse(json!({
            "tools": [
                {"type": "function", "function": {"name": "a", "description": "A.", "parameters": {"type": "object"}}},
                {"type": "custom", "custom": {"name": "not_a_function"}},
                {"type": "function", "function": {"description": "no name"}},
                {"function": {"name": "b"}},
            ],
            "functions": [{"name": "legacy", "description": "旧的"}],
        }));
        assert_eq!(names(&offered), ["a", "b", "legacy"]);
        assert_eq!(offered.tools[0].description, "A.");
        assert_eq!(offered.tools[0].parameters, json!({"type": "object"}));
        assert_eq!(offered.tools[1].parameters, Value::Null);
        assert_eq!(offered.choice, ToolChoice::Auto);
        assert_eq!(
            offered.find("legacy").map(|t| t.description.as_str()),
            Some("旧的")
        );
    }

    #[test]
    fn choices_are_read_from_tool_choice_then_function_call() {
        let choice = |request: Value| parse(request).choice;
        assert_eq!(choice(json!({"tool_choice": "none"})), ToolChoice::Never);
        assert_eq!(
            choice(json!({"tool_choice": "required"})),
            ToolChoice::Required
        );
        assert_eq!(choice(json!({"tool_choice": "auto"})), ToolChoice::Auto);
        assert_eq!(choice(json!({"tool_choice": null})), ToolChoice::Auto);
        assert_eq!(
            choice(json!({"tool_choice": {"type": "function", "function": {"name": "f"}}})),
            ToolChoice::Named("f".into())
        );
        assert_eq!(
            choice(json!({"tool_choice": {"type": "allowed_tools"}})),
            ToolChoice::Auto
        );
        assert_eq!(choice(json!({"function_call": "none"})), ToolChoice::Never);
        assert_eq!(
            choice(json!({"function_call": {"name": "g"}})),
            ToolChoice::Named("g".into())
        );
        assert_eq!(
            choice(json!({"tool_choice": "auto", "function_call": "none"})),
            ToolChoice::Auto
        );
    }
}
