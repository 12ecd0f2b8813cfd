//! Tool calling, decided from the request alone so the same request always
//! gets the same answer: whether the answer calls tools (which, with what
//! arguments), quotes the results of earlier calls, or is the ordinary
//! markdown answer.
//!
//! * The last message is a user message (or there is no tool result at the
//!   end): a `[mock tool=NAME]` directive calls NAME; otherwise
//!   `tool_choice` decides — `"none"` never calls, a named function is
//!   called whatever the text says, `"required"` calls the first tool the
//!   message asks for ([`matcher`]) or else the first tool, and `"auto"`
//!   calls the first tool the message asks for, if any.
//! * The last message is a tool result: the answer quotes every trailing
//!   result ([`results`]); with `[mock tool_loop=1]` in the last user
//!   message (and `tool_choice` not `"none"`) it calls the same tool again.
//!
//! Arguments come from the tool's schema ([`arguments`]) unless the
//! directive gives them raw ([`directives`]). Each call's id is `call_` and
//! hex digits hashed from the request body, the choice and the call, so ids
//! are stable across runs and differ between requests.

pub mod arguments;
pub mod directives;
pub mod matcher;
pub mod offered;
pub mod results;

use crate::chat::Message;
use arguments::arguments_for;
use directives::ToolDirective;
use matcher::mentions;
pub use offered::{Offered, ToolChoice};
use results::{quote_results, trailing_results};

/// One call an answer makes, before it gets its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCall {
    pub name: String,
    /// The arguments as a JSON string, as OpenAI sends them (or, from a
    /// directive, any text at all).
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolReply {
    /// No tool business: the ordinary markdown answer.
    Answer,
    /// Call these functions, in this order (index 0, 1, ...).
    Calls(Vec<PlannedCall>),
    /// Answer with this text, which quotes the request's tool results.
    QuoteResults(String),
}

/// What the answer does about tools. `last_user_message` holds the
/// directive: it is the last *user* message, which is not the last message
/// when the request carries tool results.
pub fn decide(offered: &Offered, messages: &[Message], last_user_message: &str) -> ToolReply {
    let directive = ToolDirective::read(last_user_message);
    if messages.last().is_some_and(Message::is_tool_result) {
        let results = trailing_results(messages);
        let again = directive
            .tool
            .clone()
            .or_else(|| results.first().map(|result| result.name.clone()));
        return match again {
            Some(name) if directive.tool_loop && offered.choice != ToolChoice::Never => {
                ToolReply::Calls(plan_calls(offered, &directive, name, &[]))
            }
            _ => ToolReply::QuoteResults(quote_results(&results)),
        };
    }
    let asked = messages
        .last()
        .filter(|message| message.role == "user")
        .map(Message::text)
        .unwrap_or_default();
    let matching: Vec<&str> = offered
        .tools
        .iter()
        .filter(|tool| mentions(&asked, tool))
        .map(|tool| tool.name.as_str())
        .collect();
    let first = match (&directive.tool, &offered.choice) {
        (Some(name), _) => Some(name.clone()),
        (None, ToolChoice::Never) => None,
        (None, ToolChoice::Named(name)) => Some(name.clone()),
        (None, ToolChoice::Required) => matching
            .first()
            .copied()
            .or(offered.tools.first().map(|tool| tool.name.as_str()))
            .map(str::to_owned),
        (None, ToolChoice::Auto) => matching.first().map(|name| (*name).to_owned()),
    };
    match first {
        Some(name) => ToolReply::Calls(plan_calls(offered, &directive, name, &matching)),
        None => ToolReply::Answer,
    }
}

/// `first`, then (for `[mock tools=N]`) other tools the message asks for,
/// then other offered tools, up to N distinct names; each with arguments
/// built from its schema (`{}` for a tool the request does not offer),
/// except the first call's when the directive gives them raw.
fn plan_calls(
    offered: &Offered,
    directive: &ToolDirective,
    first: String,
    matching: &[&str],
) -> Vec<PlannedCall> {
    let mut names = vec![first];
    let offered_names = offered.tools.iter().map(|tool| tool.name.as_str());
    for candidate in matching.iter().copied().chain(offered_names) {
        if names.len() >= directive.parallel {
            break;
        }
        if !names.iter().any(|name| name == candidate) {
            names.push(candidate.to_owned());
        }
    }
    names
        .into_iter()
        .enumerate()
        .map(|(index, name)| {
            let raw = directive.arguments.clone().filter(|_| index == 0);
            let arguments = raw.unwrap_or_else(|| {
                let schema = offered.find(&name).map(|tool| &tool.parameters);
                arguments_for(schema.unwrap_or(&serde_json::Value::Null)).to_string()
            });
            PlannedCall { name, arguments }
        })
        .collect()
}

/// A digest of the request body for call ids (64-bit FNV-1a: tiny, and
/// stable across Rust versions, unlike `DefaultHasher`).
pub fn request_digest(body: &[u8]) -> u64 {
    fnv1a(0xcbf2_9ce4_8422_2325, body)
}

/// The id of call `call` of choice `choice`: `call_` and 16 hex digits.
pub fn call_id(request_digest: u64, choice: usize, call: usize) -> String {
    let mut position = [0u8; 16];
    position[..8].copy_from_slice(&(choice as u64).to_le_bytes());
    position[8..].copy_from_slice(&(call as u64).to_le_bytes());
    format!("call_{:016x}", fnv1a(request_digest, &position))
}

fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(seed, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(PRIME)
    })
}

#[cfg(test)]
mod tests;
