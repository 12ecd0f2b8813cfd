//! Tool rounds: after one user message the model may call tools, get their results and call
//! again. Each continuation (`tool_results`) is one more model call, bounded by
//! `tools.max_rounds`: the continuation that reaches the bound is sent without tools, so the
//! model must answer in words, and one beyond it is refused (429 `max_tool_rounds_exceeded`).
//! Counted from the stored conversation itself, so nothing else has to be kept in step.

use serde::{Deserialize, Serialize};

use super::results::{filler_result, ToolResult};
use super::server::check_result_status;
use crate::conversation::StoredMessage;
use crate::error::ProxyError;

/// A continuation that may go upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Continuation {
    /// One result per call of the last answer, in the calls' order; calls the page left
    /// unanswered get [`filler_result`].
    pub results: Vec<ToolResult>,
    /// Which tool round of its user message this is (the first continuation is 1).
    pub round: u32,
    /// Whether the model is offered tools again: not on the round that reaches the bound.
    pub offer_tools: bool,
}

/// Why a continuation cannot go upstream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolRefusal {
    /// `tool_results[index].id` is not a call of the last answer waiting for its result.
    UnknownId { index: usize },
    /// `tool_results[index]` claims an `ok` or `error` result for a server tool's call: only
    /// the worker answers those.
    ServerCall { index: usize },
    /// The user message already had `max` tool rounds.
    TooManyRounds { max: u32 },
}

impl ToolRefusal {
    pub fn into_error(self) -> ProxyError {
        match self {
            ToolRefusal::UnknownId { index } => {
                let param = format!("tool_results[{index}].id");
                ProxyError::invalid(
                    &param,
                    format!(
                        "`{param}` is not a tool call of this conversation's last answer that \
                         is waiting for its result."
                    ),
                )
            }
            ToolRefusal::ServerCall { index } => {
                let param = format!("tool_results[{index}].status");
                ProxyError::invalid(
                    &param,
                    format!(
                        "`{param}` answers a server tool's call: only \"server\" (or \"declined\") \
                         is accepted, the worker answers it."
                    ),
                )
            }
            ToolRefusal::TooManyRounds { max } => ProxyError::MaxToolRounds { max },
        }
    }
}

/// Whether `history` can be continued with `results`, and how. `history` is the whole
/// stored conversation, untrimmed; `server_names` the configured server tools (a call is
/// judged by the name stored with it, never by what the page says).
pub fn continuation(
    history: &[StoredMessage],
    results: &[ToolResult],
    max_rounds: u32,
    server_names: &[String],
) -> Result<Continuation, ToolRefusal> {
    let this_user_message = history
        .iter()
        .rposition(|message| message.role == "user")
        .map_or(0, |index| index + 1);
    let since = &history[this_user_message..];
    // Rounds done: answers with calls that got their results (the tool messages after them).
    let done = since
        .windows(2)
        .filter(|pair| !pair[0].tool_calls.is_empty() && pair[1].role == "tool")
        .count();
    let round = u32::try_from(done).unwrap_or(u32::MAX).saturating_add(1);
    if round > max_rounds {
        return Err(ToolRefusal::TooManyRounds { max: max_rounds });
    }
    // Only the last answer's calls wait for results, and only when nothing answered them yet.
    let pending = match history.last() {
        Some(last) if last.role == "assistant" => last.tool_calls.as_slice(),
        _ => &[],
    };
    let mut checked = Vec::with_capacity(results.len());
    for (index, result) in results.iter().enumerate() {
        let Some(call) = pending.iter().find(|call| call.id == result.id) else {
            return Err(ToolRefusal::UnknownId { index });
        };
        let result = check_result_status(result.clone(), &call.name, server_names)
            .ok_or(ToolRefusal::ServerCall { index })?;
        checked.push(result);
    }
    let results = pending
        .iter()
        .map(|call| {
            checked
                .iter()
                .find(|result| result.id == call.id)
                .cloned()
                .unwrap_or_else(|| filler_result(&call.id))
        })
        .collect();
    Ok(Continuation {
        results,
        round,
        offer_tools: round < max_rounds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::{ToolCall, ToolStatus};

    fn user(text: &str) -> StoredMessage {
        StoredMessage::text("user", text)
    }

    fn calling(ids: &[&str]) -> StoredMessage {
        let mut message = StoredMessage::text("assistant", "");
        message.tool_calls = ids
            .iter()
            .map(|id| ToolCall {
                id: id.to_string(),
                name: "submit_leave".into(),
                arguments: "{}".into(),
            })
            .collect();
        message
    }

    fn tool(id: &str) -> StoredMessage {
        StoredMessage::tool_result(&ToolResult {
            id: id.into(),
            status: ToolStatus::Ok,
            content: "{}".into(),
        })
    }

    fn ok(id: &str) -> ToolResult {
        ToolResult {
            id: id.into(),
            status: ToolStatus::Ok,
            content: "done".into(),
        }
    }

    #[test]
    fn results_follow_the_calls_order_and_missing_ones_are_filled() {
        let history = [user("请假"), calling(&["call_a", "call_b", "call_c"])];
        let continued = continuation(&history, &[ok("call_c"), ok("call_a")], 5, &[]).unwrap();
        let ids: Vec<_> = continued.results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["call_a", "call_b", "call_c"]);
        assert_eq!(continued.results[1], filler_result("call_b"));
        assert_eq!((continued.round, continued.offer_tools), (1, true));
    }

    #[test]
    fn ids_must_be_calls_of_the_last_answer_still_waiting() {
        let history = [
            user("a"),
            calling(&["call_old"]),
            tool("call_old"),
            StoredMessage::text("assistant", "done"),
            user("b"),
            calling(&["call_new"]),
        ];
        // An id of an earlier message is not waiting any more.
        assert_eq!(
            continuation(&history, &[ok("call_new"), ok("call_old")], 5, &[]),
            Err(ToolRefusal::UnknownId { index: 1 })
        );
        assert_eq!(
            continuation(&history, &[ok("call_made_up")], 5, &[]),
            Err(ToolRefusal::UnknownId { index: 0 })
        );
        // The last answer called nothing: nothing waits.
        assert_eq!(
            continuation(&history[..4], &[ok("call_old")], 5, &[]),
            Err(ToolRefusal::UnknownId { index: 0 })
        );
        // Results already stored: the call does not wait any more.
        let answered = [user("a"), calling(&["call_x"]), tool("call_x")];
        assert_eq!(
            continuation(&answered, &[ok("call_x")], 5, &[]),
            Err(ToolRefusal::UnknownId { index: 0 })
        );
        assert!(continuation(&[], &[ok("x")], 5, &[]).is_err());
    }

    #[test]
    fn the_round_that_reaches_the_bound_offers_no_tools_and_one_beyond_is_refused() {
        let mut history = vec![user("loop")];
        for round in 1..=3u32 {
            let id = format!("call_{round}");
            history.push(calling(&[&id]));
            let continued = continuation(&history, &[ok(&id)], 3, &[]).unwrap();
            assert_eq!(continued.round, round);
            assert_eq!(continued.offer_tools, round < 3, "round {round}");
            history.push(tool(&id));
        }
        // The last round answered in words; another continuation is one too many.
        history.push(StoredMessage::text("assistant", "done"));
        assert_eq!(
            continuation(&history, &[ok("call_3")], 3, &[]),
            Err(ToolRefusal::TooManyRounds { max: 3 })
        );
        // A new user message starts the count again.
        history.push(user("again"));
        history.push(calling(&["call_9"]));
        assert_eq!(
            continuation(&history, &[ok("call_9")], 3, &[]).map(|c| c.round),
            Ok(1)
        );
        // With no rounds allowed, nothing continues.
        assert_eq!(
            continuation(&history, &[ok("call_9")], 0, &[]),
            Err(ToolRefusal::TooManyRounds { max: 0 })
        );
    }

    #[test]
    fn a_server_tools_call_is_answered_by_the_worker_only() {
        let history = [user("余额"), calling(&["call_a", "call_b"])];
        let server = vec!["submit_leave".to_string()];
        // Every call here names `submit_leave`, a server tool: `ok` from the page is refused.
        assert_eq!(
            continuation(&history, &[ok("call_a")], 5, &server),
            Err(ToolRefusal::ServerCall { index: 0 })
        );
        let server_status = ToolResult {
            id: "call_b".into(),
            status: ToolStatus::Server,
            content: String::new(),
        };
        let continued =
            continuation(&history, std::slice::from_ref(&server_status), 5, &server).unwrap();
        assert_eq!(continued.results[1], server_status);
        // Not a server tool: `server` becomes an error result.
        let continued = continuation(&history, &[server_status], 5, &[]).unwrap();
        assert_eq!(continued.results[1].status, ToolStatus::Error);
        match (ToolRefusal::ServerCall { index: 3 }).into_error() {
            ProxyError::InvalidRequest { param, .. } => {
                assert_eq!(param.as_deref(), Some("tool_results[3].status"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_become_the_clients_errors() {
        match (ToolRefusal::UnknownId { index: 2 }).into_error() {
            ProxyError::InvalidRequest { param, .. } => {
                assert_eq!(param.as_deref(), Some("tool_results[2].id"))
            }
            other => panic!("{other:?}"),
        }
        let error = (ToolRefusal::TooManyRounds { max: 5 }).into_error();
        assert_eq!(
            (error.status(), error.code()),
            (429, "max_tool_rounds_exceeded")
        );
    }
}
