//! Server tools (`[tools.server.<name>]`): tools the worker answers itself through a signed
//! webhook to the OA backend, offered beside the page's tools on `/v1/oachat/chat`. This
//! file holds which of them a route offers, the offer merged with the page's tools, the
//! flags their calls carry to the widget, and the rule that only the worker answers them.

use serde_json::Value;

use super::{ToolCall, ToolResult, ToolSpec, ToolStatus};
use crate::config::{Route, ToolsConfig};
use crate::conversation::StoredMessage;
use crate::error::ProxyError;

/// What a `server` status for a call that is not a server tool's becomes.
pub const NOT_A_SERVER_TOOL: &str = "Not a server tool.";

/// The server tools `route` offers, as the model is offered them: the route's `tools` list
/// (in the config's name order), or all of them when the route lists none.
pub fn route_server_tools(tools: &ToolsConfig, route: Option<&Route>) -> Vec<ToolSpec> {
    let listed = route.and_then(|route| route.tools.as_ref());
    tools
        .server
        .iter()
        .filter(|(name, _)| listed.is_none_or(|listed| listed.contains(name)))
        .map(|(name, tool)| ToolSpec {
            name: name.clone(),
            description: tool.description.clone(),
            parameters: tool.parameters.clone(),
        })
        .collect()
}

/// The page's tools followed by the server tools. A page tool named like a configured
/// server tool (offered on this route or not) is refused: the page must never be able to
/// stand in for the worker's own tool, nor the other way round.
pub fn merge_offer(
    page: &[ToolSpec],
    server: &[ToolSpec],
    tools: &ToolsConfig,
) -> Result<Vec<ToolSpec>, ProxyError> {
    if let Some(index) = page
        .iter()
        .position(|tool| tools.server.contains_key(&tool.name))
    {
        let param = format!("tools[{index}].name");
        return Err(ProxyError::invalid(
            &param,
            format!("`{param}` is the name of a server tool; rename the page's tool."),
        ));
    }
    Ok(page.iter().chain(server).cloned().collect())
}

/// Takes out of an upstream body's `tools` the server tools `route` does not offer (the turn
/// offered all of them before its route was known). `true` when anything was taken out.
pub fn withhold_server_tools(
    body: &mut serde_json::Map<String, Value>,
    tools: &ToolsConfig,
    route: Option<&Route>,
) -> bool {
    let offered: Vec<String> = route_server_tools(tools, route)
        .into_iter()
        .map(|tool| tool.name)
        .collect();
    let Some(Value::Array(listed)) = body.get_mut("tools") else {
        return false;
    };
    let before = listed.len();
    listed.retain(|tool| {
        let name = tool
            .pointer("/function/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        !tools.server.contains_key(name) || offered.iter().any(|offered| offered == name)
    });
    let changed = listed.len() != before;
    if listed.is_empty() {
        body.remove("tools");
        body.remove("tool_choice");
    }
    changed
}

/// The flags a call's `oachat.tool_call` event carries: `(server, confirm)`.
pub fn call_flags(tools: &[(String, bool)], name: &str) -> (bool, bool) {
    tools
        .iter()
        .find(|(server, _)| server == name)
        .map_or((false, false), |(_, confirm)| (true, *confirm))
}

/// The configured server tools as `(name, confirm)`, for the events.
pub fn server_flags(tools: &ToolsConfig) -> Vec<(String, bool)> {
    tools
        .server
        .iter()
        .map(|(name, tool)| (name.clone(), tool.confirm))
        .collect()
}

/// Checks one result against the call it answers: the result to keep (a `server` status for
/// a page tool's call becomes an error), or `None` when the page claims a result for a server
/// tool's call (only the worker answers those; declining stays the user's right).
pub fn check_result_status(
    result: ToolResult,
    call_name: &str,
    server_names: &[String],
) -> Option<ToolResult> {
    let is_server = server_names.iter().any(|name| name == call_name);
    match (result.status, is_server) {
        (ToolStatus::Server, false) => Some(ToolResult {
            id: result.id,
            status: ToolStatus::Error,
            content: NOT_A_SERVER_TOOL.to_string(),
        }),
        (ToolStatus::Ok | ToolStatus::Error, true) => None,
        _ => Some(result),
    }
}

/// A call's arguments as the webhook gets them: the parsed JSON, or the raw text as a string
/// when the model wrote something that is not JSON.
pub fn webhook_arguments(arguments: &str) -> Value {
    serde_json::from_str(arguments).unwrap_or_else(|_| Value::String(arguments.to_string()))
}

/// The calls a continuation's history leaves to the worker: those whose result (the `tool`
/// messages it ends with) has the `server` status, with the call as stored (its name and
/// arguments are the model's, never the page's).
pub fn server_calls_to_answer(history: &[StoredMessage]) -> Vec<ToolCall> {
    let results_start = history
        .iter()
        .rposition(|message| message.role != "tool")
        .map_or(0, |index| index + 1);
    let Some(answer) = results_start.checked_sub(1).map(|index| &history[index]) else {
        return Vec::new();
    };
    history[results_start..]
        .iter()
        .filter(|message| message.status == Some(ToolStatus::Server))
        .filter_map(|message| {
            let id = message.tool_call_id.as_deref()?;
            answer.tool_calls.iter().find(|call| call.id == id).cloned()
        })
        .collect()
}

/// Puts the webhooks' answers (`(call id, content)`) into the history's trailing `tool`
/// messages and into the results stored with the turn.
pub fn apply_server_answers(
    history: &mut [StoredMessage],
    results: &mut [ToolResult],
    answers: &[(String, String)],
) {
    for (id, content) in answers {
        let trailing = history
            .iter_mut()
            .rev()
            .take_while(|message| message.role == "tool");
        for message in trailing {
            if message.tool_call_id.as_deref() == Some(id) {
                message.content = content.clone();
            }
        }
        for result in results.iter_mut().filter(|result| &result.id == id) {
            result.content = content.clone();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use serde_json::json;

    fn config() -> Config {
        Config::load(
            r#"
            [tools.server.leave_balance]
            url = "https://oa.example.com/api/ai/leave-balance"
            description = "查询年假余额"
            parameters = { type = "object", properties = { year = { type = "integer" } } }
            [tools.server.approve]
            url = "http://127.0.0.1:9000/approve"
            confirm = true
            [routes.hr]
            tools = ["leave_balance"]
            "#,
        )
        .unwrap()
    }

    fn page(name: &str) -> ToolSpec {
        ToolSpec {
            name: name.into(),
            description: String::new(),
            parameters: json!({"type": "object"}),
        }
    }

    #[test]
    fn a_route_offers_its_listed_tools_or_all() {
        let config = config();
        let names = |route: Option<&Route>| -> Vec<String> {
            route_server_tools(&config.tools, route)
                .into_iter()
                .map(|tool| tool.name)
                .collect()
        };
        assert_eq!(names(config.routes.get("hr")), ["leave_balance"]);
        assert_eq!(
            names(config.routes.get("general")),
            ["approve", "leave_balance"]
        );
        assert_eq!(names(None), ["approve", "leave_balance"]);
        let offered = route_server_tools(&config.tools, config.routes.get("hr"));
        assert_eq!(offered[0].description, "查询年假余额");
        assert_eq!(
            offered[0].parameters["properties"]["year"]["type"],
            "integer"
        );
    }

    #[test]
    fn a_page_tool_may_not_take_a_server_tools_name() {
        let config = config();
        let server = route_server_tools(&config.tools, config.routes.get("hr"));
        let merged = merge_offer(&[page("submit_leave")], &server, &config.tools).unwrap();
        assert_eq!(merged.len(), 2);
        // Even a server tool this route does not offer.
        match merge_offer(&[page("a"), page("approve")], &server, &config.tools) {
            Err(ProxyError::InvalidRequest { param, .. }) => {
                assert_eq!(param.as_deref(), Some("tools[1].name"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_route_body_keeps_only_its_server_tools() {
        let config = config();
        let all = route_server_tools(&config.tools, None);
        let offer = merge_offer(&[page("submit_leave")], &all, &config.tools).unwrap();
        let mut body = serde_json::Map::new();
        body.insert("tools".into(), crate::tools::upstream_tools(&offer));
        body.insert("tool_choice".into(), "auto".into());
        assert!(withhold_server_tools(
            &mut body,
            &config.tools,
            config.routes.get("hr")
        ));
        assert_eq!(
            crate::tools::offered_names(&body),
            ["submit_leave", "leave_balance"]
        );
        assert!(!withhold_server_tools(
            &mut body,
            &config.tools,
            config.routes.get("hr")
        ));
        // Nothing left: no tools at all go upstream.
        let mut only_server = serde_json::Map::new();
        only_server.insert(
            "tools".into(),
            crate::tools::upstream_tools(&route_server_tools(&config.tools, None)[..1]),
        );
        only_server.insert("tool_choice".into(), "auto".into());
        assert!(withhold_server_tools(
            &mut only_server,
            &config.tools,
            config.routes.get("hr")
        ));
        assert!(only_server.is_empty());
    }

    #[test]
    fn events_flag_server_calls_and_their_confirmation() {
        let flags = server_flags(&config().tools);
        assert_eq!(call_flags(&flags, "approve"), (true, true));
        assert_eq!(call_flags(&flags, "leave_balance"), (true, false));
        assert_eq!(call_flags(&flags, "submit_leave"), (false, false));
    }

    #[test]
    fn only_the_worker_answers_server_calls() {
        let names = vec!["leave_balance".to_string()];
        let result = |status| ToolResult {
            id: "call_x".into(),
            status,
            content: "claimed".into(),
        };
        assert!(check_result_status(result(ToolStatus::Ok), "leave_balance", &names).is_none());
        assert!(check_result_status(result(ToolStatus::Error), "leave_balance", &names).is_none());
        assert_eq!(
            check_result_status(result(ToolStatus::Declined), "leave_balance", &names),
            Some(result(ToolStatus::Declined))
        );
        assert_eq!(
            check_result_status(result(ToolStatus::Server), "leave_balance", &names),
            Some(result(ToolStatus::Server))
        );
        let not_server =
            check_result_status(result(ToolStatus::Server), "submit_leave", &names).unwrap();
        assert_eq!(
            (not_server.status, not_server.content.as_str()),
            (ToolStatus::Error, NOT_A_SERVER_TOOL)
        );
    }

    #[test]
    fn the_worker_answers_the_stored_calls_left_to_it() {
        let call = |id: &str, name: &str| ToolCall {
            id: id.into(),
            name: name.into(),
            arguments: "{\"year\":2024}".into(),
        };
        let mut answer = StoredMessage::text("assistant", "");
        answer.tool_calls = vec![call("call_a", "leave_balance"), call("call_b", "submit")];
        let result = |id: &str, status| ToolResult {
            id: id.into(),
            status,
            content: String::new(),
        };
        let mut results = vec![
            result("call_a", ToolStatus::Server),
            result("call_b", ToolStatus::Declined),
        ];
        let mut history = vec![StoredMessage::text("user", "余额")];
        history.push(answer);
        history.extend(results.iter().map(StoredMessage::tool_result));
        assert_eq!(
            server_calls_to_answer(&history),
            [call("call_a", "leave_balance")]
        );
        apply_server_answers(
            &mut history,
            &mut results,
            &[("call_a".into(), "{\"days\":5}".into())],
        );
        assert_eq!(history[2].content, "{\"days\":5}");
        assert_eq!(history[3].content, "");
        assert_eq!(results[0].content, "{\"days\":5}");
        assert!(server_calls_to_answer(&history[..2]).is_empty());
        assert!(server_calls_to_answer(&[]).is_empty());
    }

    #[test]
    fn arguments_are_parsed_or_kept_as_text() {
        assert_eq!(webhook_arguments("{\"year\":2024}"), json!({"year": 2024}));
        assert_eq!(webhook_arguments("{year"), json!("{year"));
    }
}
