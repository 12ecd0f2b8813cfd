//! Server-side conversations for the widget: the pure rules. The widget sends only the new
//! message and a conversation id; the worker keeps the history in the user's own Durable
//! Object (`durable/user_do.rs`, SQLite tables `conversations` and `messages`) and assembles
//! the prompt from it here.
//!
//! Privacy rests on where the data lives, not on a check: conversations are stored in the
//! caller's own object, named by the caller's verified identity, so another user's id is
//! simply not found there (404). Ids are random anyway, so they cannot be guessed.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::ProxyError;
use crate::metering::{estimate_prompt_tokens, TOKENS_PER_REQUEST};
use crate::tools::{
    filler_result, parse_context, parse_tool_results, parse_tools, tool_message_content,
    upstream_tools, ToolCall, ToolLimits, ToolResult, ToolSpec, ToolStatus,
};

/// Longest conversation id accepted, matching `oachat.conversation_id` in chat requests.
pub const MAX_ID_CHARS: usize = 64;

/// Longest title kept; longer renames are refused, derived titles are cut.
pub const MAX_TITLE_CHARS: usize = 80;

/// Characters of the first message used for a derived title.
pub const DERIVED_TITLE_CHARS: usize = 40;

/// Longest new message the widget may send. An OA question, not a document upload: the
/// body limit still applies on top.
pub const MAX_MESSAGE_CHARS: usize = 32_000;

/// Bytes of an answer kept in the conversation. A Durable Object SQLite row holds at most
/// 2 MB; answers are bounded by `max_tokens` long before this.
pub const MAX_STORED_ANSWER_BYTES: usize = 256 * 1024;

/// Title of a conversation whose first message has no text.
pub const UNTITLED: &str = "New conversation";

/// One stored message, as the widget reads it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    pub role: String,
    pub content: String,
    /// An assistant answer's reasoning text (`reasoning_content`), kept for display only:
    /// see [`upstream_message`] for why it never goes back upstream. Messages stored
    /// before it existed read as `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<String>,
    /// An assistant answer's tool calls (the answer may have no text then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// A `tool` message's call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// A `tool` message's outcome, as the page reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ToolStatus>,
}

impl StoredMessage {
    /// A plain text message.
    pub fn text(role: &str, content: &str) -> StoredMessage {
        StoredMessage {
            role: role.to_string(),
            content: content.to_string(),
            reasoning: None,
            tool_calls: Vec::new(),
            tool_call_id: None,
            status: None,
        }
    }

    /// The `tool` message a call's result is stored as.
    pub fn tool_result(result: &ToolResult) -> StoredMessage {
        StoredMessage {
            tool_call_id: Some(result.id.clone()),
            status: Some(result.status),
            ..StoredMessage::text("tool", &result.content)
        }
    }
}

/// `POST /v1/oachat/chat`: a new message, or the results of the last answer's tool calls.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    /// `None` starts a new conversation.
    pub conversation_id: Option<String>,
    /// The new message; empty for a continuation.
    pub message: String,
    pub scenario: Option<String>,
    pub model: String,
    /// The tools the page offers the model in this request (and only in this one).
    pub tools: Vec<ToolSpec>,
    /// A continuation: the page's results of the last answer's calls, already cut to
    /// `tools.max_result_bytes`.
    pub tool_results: Option<Vec<ToolResult>>,
    /// The page's context, serialized; never stored.
    pub context: Option<String>,
}

impl Turn {
    pub fn is_continuation(&self) -> bool {
        self.tool_results.is_some()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireTurn {
    conversation_id: Option<String>,
    message: Option<String>,
    scenario: Option<String>,
    model: Option<String>,
    tools: Option<Value>,
    tool_results: Option<Value>,
    context: Option<Value>,
}

/// Parses and validates a turn; errors name the field (and, inside `tools` and
/// `tool_results`, the element: `tools[3].name`).
pub fn parse_turn(bytes: &[u8], limits: &ToolLimits) -> Result<Turn, ProxyError> {
    let wire: WireTurn = serde_json::from_slice(bytes).map_err(|error| {
        ProxyError::invalid(
            "message",
            format!(
                "Send {{\"message\": \"...\", \"conversation_id\"?: \"...\", \"scenario\"?: \"...\", \"model\"?: \"auto\", \"tools\"?: [...], \"context\"?: {{...}}}}, or {{\"conversation_id\": \"...\", \"tool_results\": [...]}} ({error})."
            ),
        )
    })?;
    let tool_results = parse_tool_results(wire.tool_results.as_ref(), limits.max_result_bytes)?;
    let message = wire.message.unwrap_or_default();
    match (&tool_results, message.is_empty()) {
        (Some(_), false) => {
            return Err(ProxyError::invalid(
                "tool_results",
                "Send either `message` or `tool_results`, not both.",
            ))
        }
        (Some(_), true) if wire.conversation_id.is_none() => {
            return Err(ProxyError::invalid(
                "conversation_id",
                "`tool_results` continue a conversation: `conversation_id` is required.",
            ))
        }
        (Some(_), true) => {}
        (None, _) if message.trim().is_empty() => {
            return Err(ProxyError::invalid(
                "message",
                "`message` must not be empty.",
            ))
        }
        (None, _) => {}
    }
    if message.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ProxyError::invalid(
            "message",
            format!("`message` is longer than {MAX_MESSAGE_CHARS} characters."),
        ));
    }
    if let Some(id) = &wire.conversation_id {
        if !valid_id(id) {
            return Err(ProxyError::invalid(
                "conversation_id",
                "`conversation_id` must be 1 to 64 letters, digits, `-` or `_`.",
            ));
        }
    }
    if let Some(scenario) = &wire.scenario {
        if scenario.is_empty() || scenario.chars().count() > 64 {
            return Err(ProxyError::invalid(
                "scenario",
                "`scenario` must be a string of 1 to 64 characters.",
            ));
        }
    }
    let model = wire
        .model
        .map(|model| model.trim().to_string())
        .filter(|model| !model.is_empty())
        .unwrap_or_else(|| crate::config::AUTO_MODEL.to_string());
    let tools = parse_tools(wire.tools.as_ref())?;
    let context = parse_context(wire.context.as_ref(), limits.context_max_bytes)?;
    Ok(Turn {
        conversation_id: wire.conversation_id,
        message,
        scenario: wire.scenario,
        model,
        tools,
        tool_results,
        context,
    })
}

/// Whether `id` can name a conversation: 1 to [`MAX_ID_CHARS`] of `[A-Za-z0-9_-]`. Keeps
/// ids safe in URLs, logs and SQL parameters alike.
pub fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_CHARS).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new conversation id from random hex digits (the glue supplies the randomness).
pub fn new_id(random_hex: &str) -> String {
    format!("c_{random_hex}")
}

/// A title from the first message: its first non-empty line, spaces collapsed, cut to
/// [`DERIVED_TITLE_CHARS`] characters with an ellipsis.
pub fn title_from_message(message: &str) -> String {
    let line = message
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or_default();
    let collapsed = line.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return UNTITLED.to_string();
    }
    if collapsed.chars().count() <= DERIVED_TITLE_CHARS {
        return collapsed;
    }
    let mut title: String = collapsed.chars().take(DERIVED_TITLE_CHARS).collect();
    title.truncate(title.trim_end().len());
    title.push('…');
    title
}

/// A title from a rename: trimmed, 1 to [`MAX_TITLE_CHARS`] characters, no control characters.
pub fn validate_title(title: &str) -> Result<String, ProxyError> {
    let title = title.trim();
    let chars = title.chars().count();
    if chars == 0 || chars > MAX_TITLE_CHARS || title.chars().any(char::is_control) {
        return Err(ProxyError::invalid(
            "title",
            format!("`title` must be 1 to {MAX_TITLE_CHARS} characters on one line."),
        ));
    }
    Ok(title.to_string())
}

/// What upstream messages add to a prompt's estimate: their text and their framing.
fn messages_tokens(messages: Vec<Value>) -> u64 {
    estimate_prompt_tokens(&Value::Array(messages)).saturating_sub(TOKENS_PER_REQUEST)
}

/// What one stored message adds to a prompt's estimate.
fn message_tokens(message: &StoredMessage) -> u64 {
    messages_tokens(vec![upstream_message(message)])
}

/// What `history` adds to the estimate of a prompt that carries it
/// (`metering::estimate_request_prompt_tokens` counts each message on its own, so this is
/// exactly the difference between a turn's body with the history and without it).
pub fn history_tokens(history: &[StoredMessage]) -> u64 {
    messages_tokens(upstream_messages(history))
}

/// What a continuation's own results add to its body before its admission (they stand in
/// for the exchange the history then brings, see [`completion_body`]).
pub fn results_tokens(results: &[ToolResult]) -> u64 {
    messages_tokens(results.iter().map(result_message).collect())
}

/// The newest part of `history` that fits `window_tokens` together with the new message.
///
/// Messages are counted as the proxy counts prompts ([`estimate_tokens`] plus per-message
/// framing) and dropped oldest first. The new message always stays, even alone over the
/// window: the budget check then decides. The kept part starts with a user message, so the
/// model never sees an answer without its question.
///
/// Starting at a user message also keeps every answer's tool calls with their `tool`
/// messages: those never come before the user message they answer.
pub fn trim_history(
    history: &[StoredMessage],
    new_message: &str,
    window_tokens: u64,
) -> Vec<StoredMessage> {
    let new_tokens = message_tokens(&StoredMessage::text("user", new_message));
    let keep_from = window_start(history, new_tokens, window_tokens);
    let kept = &history[keep_from..];
    let first_user = kept
        .iter()
        .position(|message| message.role == "user")
        .unwrap_or(kept.len());
    kept[first_user..].to_vec()
}

/// A continuation's history (ending with the results of the last answer's calls): as
/// [`trim_history`], but the exchange since the last user message always stays, however
/// long: without its question and calls the results mean nothing (and a `tool` message
/// without its call is an upstream 400).
pub fn trim_continued_history(history: &[StoredMessage], window_tokens: u64) -> Vec<StoredMessage> {
    let last_user = history
        .iter()
        .rposition(|message| message.role == "user")
        .unwrap_or(0);
    let keep_from = window_start(history, 0, window_tokens).min(last_user);
    let kept = &history[keep_from..];
    let first_user = kept
        .iter()
        .position(|message| message.role == "user")
        .unwrap_or(0);
    kept[first_user..].to_vec()
}

/// The index of the oldest message that still fits the window with `new_tokens`.
fn window_start(history: &[StoredMessage], new_tokens: u64, window_tokens: u64) -> usize {
    let mut used = TOKENS_PER_REQUEST + new_tokens;
    let mut keep_from = history.len();
    for (index, message) in history.iter().enumerate().rev() {
        used += message_tokens(message);
        if used > window_tokens {
            break;
        }
        keep_from = index;
    }
    keep_from
}

/// The chat-completions body for a turn: the trimmed history, the new message, streaming,
/// and the `oachat` extension carrying the conversation (rounds are counted on it) and the
/// scenario. It then goes through the same validation as any `/v1/chat/completions` body.
///
/// The page's context goes as a system message right before the new message (after the
/// results, for a continuation). With tools, the model is offered exactly the page's tools of
/// this request (`tool_choice: "auto"`); `offer_tools: false` (the tool round that reaches
/// the bound) sends none.
///
/// A continuation's body made before its admission has no history yet: the page's results
/// stand in for the exchange (so the estimate covers them); [`prepend_history`] replaces them
/// with the stored exchange, completed.
pub fn completion_body(
    turn: &Turn,
    conversation_id: &str,
    history: &[StoredMessage],
    offer_tools: bool,
) -> Value {
    let mut messages = upstream_messages(history);
    match &turn.tool_results {
        Some(results) if history.is_empty() => messages.extend(results.iter().map(result_message)),
        Some(_) => {}
        None => {}
    }
    if let Some(context) = &turn.context {
        messages.push(crate::tools::context_message(context));
    }
    if !turn.is_continuation() {
        messages.push(json!({"role": "user", "content": turn.message}));
    }
    let mut extension = Map::new();
    extension.insert("conversation_id".into(), conversation_id.into());
    if let Some(scenario) = &turn.scenario {
        extension.insert("scenario".into(), scenario.as_str().into());
    }
    let mut body = json!({
        "model": turn.model,
        "stream": true,
        "messages": messages,
        "oachat": extension,
    });
    if offer_tools && !turn.tools.is_empty() {
        body["tools"] = upstream_tools(&turn.tools);
        body["tool_choice"] = "auto".into();
    }
    body
}

/// Puts `history` before the messages of a turn's body (made by [`completion_body`] without
/// it): the body the turn goes upstream with, once its history came with its admission. The
/// body's leading `tool` messages (a continuation's results standing in for its exchange)
/// give way to the history, which ends with them, completed.
pub fn prepend_history(body: &mut Map<String, Value>, history: &[StoredMessage]) {
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        if history.last().is_some_and(|last| last.role == "tool") {
            let stand_ins = messages
                .iter()
                .take_while(|message| message.get("role").and_then(Value::as_str) == Some("tool"))
                .count();
            messages.drain(..stand_ins);
        }
        messages.splice(0..0, upstream_messages(history));
    }
}

/// Takes the tools off a body: the tool round that reaches the bound must be answered in words.
pub fn withdraw_tools(body: &mut Map<String, Value>) {
    body.remove("tools");
    body.remove("tool_choice");
}

/// Stored messages as they go upstream. Every answer's calls are followed by one `tool`
/// message each, in the calls' order: a call the page never answered (the user wrote
/// something new instead) gets [`filler_result`], since a call without its result is an
/// upstream 400; a `tool` message without its call is left out for the same reason.
pub fn upstream_messages(history: &[StoredMessage]) -> Vec<Value> {
    let mut messages = Vec::with_capacity(history.len());
    let mut index = 0;
    while index < history.len() {
        let message = &history[index];
        index += 1;
        if message.role == "tool" {
            continue; // Its call is not right before it: an orphan.
        }
        messages.push(upstream_message(message));
        if message.tool_calls.is_empty() {
            continue;
        }
        let answered_from = index;
        while index < history.len() && history[index].role == "tool" {
            index += 1;
        }
        let answers = &history[answered_from..index];
        for call in &message.tool_calls {
            let answer = answers
                .iter()
                .find(|answer| answer.tool_call_id.as_deref() == Some(call.id.as_str()));
            messages.push(match answer {
                Some(answer) => upstream_message(answer),
                None => result_message(&filler_result(&call.id)),
            });
        }
    }
    messages
}

/// A result as its upstream `tool` message.
fn result_message(result: &ToolResult) -> Value {
    json!({
        "role": "tool",
        "tool_call_id": result.id,
        "content": tool_message_content(result.status, &result.content),
    })
}

/// A stored message as it goes upstream in a later turn: role and content, never its
/// reasoning.
///
/// The rule, by provider: reasoning models do not take their earlier chains of thought
/// back (OpenAI drops reasoning between turns; DeepSeek ignores `reasoning_content` of a
/// turn without tool calls, and its older `deepseek-reasoner` answered 400 to it; it would
/// also cost prompt tokens for nothing). The one exception is DeepSeek's thinking mode with
/// tool calls: an assistant message that *called tools* must carry its `reasoning_content`
/// back within the same user turn, or the API answers 400
/// (`provider::Preset::reasoning_with_tool_calls`). A stored answer that called a page's
/// tools goes back without it too: a DeepSeek thinking model driving page actions is the one
/// case this does not cover (docs/tools.md). A client that drives tools through
/// `/v1/chat/completions` sends its own messages, and oachat forwards their
/// `reasoning_content` untouched.
///
/// An answer's calls go as OpenAI's `tool_calls` (content `null` when it had no text), a
/// result as a `tool` message whose content says first when the call was declined or failed.
pub fn upstream_message(message: &StoredMessage) -> Value {
    if message.role == "tool" {
        return result_message(&ToolResult {
            id: message.tool_call_id.clone().unwrap_or_default(),
            status: message.status.unwrap_or_default(),
            content: message.content.clone(),
        });
    }
    if message.tool_calls.is_empty() {
        return json!({"role": message.role, "content": message.content});
    }
    let calls: Vec<Value> = message
        .tool_calls
        .iter()
        .map(|call| {
            json!({"id": call.id, "type": "function",
                "function": {"name": call.name, "arguments": call.arguments}})
        })
        .collect();
    let content = if message.content.is_empty() {
        Value::Null
    } else {
        message.content.as_str().into()
    };
    json!({"role": message.role, "content": content, "tool_calls": calls})
}

/// Appends delivered answer text to `answer`, never past [`MAX_STORED_ANSWER_BYTES`] and
/// never splitting a character.
pub fn push_bounded(answer: &mut String, text: &str) {
    let room = MAX_STORED_ANSWER_BYTES.saturating_sub(answer.len());
    if text.len() <= room {
        answer.push_str(text);
        return;
    }
    let mut cut = room;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    answer.push_str(&text[..cut]);
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ToolLimits = ToolLimits {
        max_result_bytes: 8192,
        context_max_bytes: 4096,
    };

    fn message(role: &str, content: &str) -> StoredMessage {
        StoredMessage::text(role, content)
    }

    #[track_caller]
    fn check_title(message: &str, expected: &str) {
        assert_eq!(title_from_message(message), expected);
    }

    #[test]
    fn titles_come_from_the_first_line() {
        check_title(
            "  How do I file leave?\nMore detail",
            "How do I file leave?",
        );
        check_title("\n\n   \n  spaced    out   words ", "spaced out words");
        check_title("   ", UNTITLED);
        check_title(
            "Please summarise this very long approval thread for me today",
            "Please summarise this very long approval…",
        );
        // Characters, not bytes: Chinese titles are cut at 40 characters.
        let chinese = "请".repeat(50);
        assert_eq!(title_from_message(&chinese).chars().count(), 41);
    }

    #[test]
    fn renames_are_validated() {
        assert_eq!(validate_title("  Budget Q3 "), Ok("Budget Q3".to_string()));
        assert!(validate_title("").is_err());
        assert!(validate_title("a\nb").is_err());
        assert!(validate_title(&"x".repeat(81)).is_err());
    }

    #[test]
    fn ids_are_url_safe_and_bounded() {
        assert!(valid_id("c_0123abcd"));
        assert!(valid_id("conv-A_9"));
        assert!(!valid_id(""));
        assert!(!valid_id("../etc"));
        assert!(!valid_id("a b"));
        assert!(!valid_id(&"a".repeat(65)));
        assert_eq!(new_id("00ff"), "c_00ff");
    }

    #[test]
    fn turns_are_parsed_with_defaults_and_named_errors() {
        let turn = parse_turn(br#"{"message":"hi"}"#, &LIMITS).unwrap();
        assert_eq!((turn.conversation_id, turn.model.as_str()), (None, "auto"));
        let turn = parse_turn(
            br#"{"message":"hi","conversation_id":"c_1","model":"gpt-4o-mini","scenario":"code"}"#,
            &LIMITS,
        )
        .unwrap();
        assert_eq!(turn.conversation_id.as_deref(), Some("c_1"));
        assert_eq!(turn.scenario.as_deref(), Some("code"));
        let param = |body: &str| match parse_turn(body.as_bytes(), &LIMITS) {
            Err(ProxyError::InvalidRequest { param, .. }) => param,
            other => panic!("{other:?}"),
        };
        assert_eq!(param(r#"{"message":"  "}"#).as_deref(), Some("message"));
        assert_eq!(
            param(r#"{"message":"x","conversation_id":"a/b"}"#).as_deref(),
            Some("conversation_id")
        );
        assert_eq!(
            param(r#"{"message":"x","scenario":""}"#).as_deref(),
            Some("scenario")
        );
        assert_eq!(param("not json").as_deref(), Some("message"));
        assert_eq!(
            param(r#"{"message":"x","extra":1}"#).as_deref(),
            Some("message")
        );
    }

    #[test]
    fn history_keeps_the_newest_turns_that_fit() {
        let history = vec![
            message("user", &"old question ".repeat(40)),
            message("assistant", &"old answer ".repeat(40)),
            message("user", "recent question"),
            message("assistant", "recent answer"),
        ];
        // Everything fits a large window.
        assert_eq!(trim_history(&history, "new", 10_000), history);
        // A small window keeps only the recent pair.
        assert_eq!(trim_history(&history, "new", 40), history[2..].to_vec());
        // Too small for anything: only the new message will be sent.
        assert!(trim_history(&history, "new", 5).is_empty());
    }

    #[test]
    fn trimmed_history_never_starts_with_an_answer() {
        let history = vec![
            message("user", &"q".repeat(400)),
            message("assistant", "short answer"),
        ];
        assert!(trim_history(&history, "next", 40).is_empty());
    }

    #[test]
    fn the_completion_body_streams_with_the_conversation() {
        let turn = parse_turn(br#"{"message":"new","scenario":"code"}"#, &LIMITS).unwrap();
        let body = completion_body(
            &turn,
            "c_1",
            &[message("user", "a"), message("assistant", "b")],
            true,
        );
        assert_eq!(body["stream"], true);
        assert_eq!(body["model"], "auto");
        assert_eq!(body["messages"].as_array().map(Vec::len), Some(3));
        assert_eq!(
            body["messages"][2],
            json!({"role": "user", "content": "new"})
        );
        assert_eq!(
            body["oachat"],
            json!({"conversation_id": "c_1", "scenario": "code"})
        );
        // It is a valid chat request, conversation id included.
        let parsed = crate::request::parse_chat_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(parsed.conversation_id.as_deref(), Some("c_1"));
    }

    #[test]
    fn stored_answers_are_bounded_on_a_character_boundary() {
        let mut answer = "x".repeat(MAX_STORED_ANSWER_BYTES - 1);
        push_bounded(&mut answer, "好好");
        assert_eq!(answer.len(), MAX_STORED_ANSWER_BYTES - 1);
        let mut answer = String::new();
        push_bounded(&mut answer, "short");
        assert_eq!(answer, "short");
    }

    /// The user's object reserves a turn's history on its own (`user_call::BeginTurn`): what it
    /// adds must be exactly what the history adds to the whole body's estimate.
    #[test]
    fn history_tokens_are_what_the_history_adds_to_the_prompt_estimate() {
        use crate::metering::estimate_request_prompt_tokens;
        let turn = parse_turn(
            br#"{"model": "gpt-4o-mini", "message": "and in May?"}"#,
            &LIMITS,
        )
        .unwrap();
        let history = [
            message("user", "How many leave days do I have in 2026, 张三?"),
            message("assistant", "You have 25 days; 3 are planned for April."),
        ];
        let without = estimate_request_prompt_tokens(&completion_body(&turn, "c_1", &[], true));
        let with = estimate_request_prompt_tokens(&completion_body(&turn, "c_1", &history, true));
        assert_eq!(with, without + history_tokens(&history));
    }

    #[test]
    fn a_body_with_its_history_prepended_is_the_body_made_with_it() {
        let turn = parse_turn(br#"{"model": "auto", "message": "and in May?"}"#, &LIMITS).unwrap();
        let history = [message("user", "leave?"), message("assistant", "25 days.")];
        let Value::Object(mut body) = completion_body(&turn, "c_1", &[], true) else {
            panic!("a body is an object");
        };
        prepend_history(&mut body, &history);
        assert_eq!(
            Value::Object(body),
            completion_body(&turn, "c_1", &history, true)
        );
    }

    #[test]
    fn stored_reasoning_is_for_display_and_never_goes_upstream() {
        let turn = parse_turn(
            br#"{"model": "deepseek-reasoner", "message": "and 3?"}"#,
            &LIMITS,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let mut answer = message("assistant", "2 is prime.");
        answer.reasoning = Some("2 has no divisors but 1 and itself.".into());
        let history = [message("user", "is 2 prime?"), answer.clone()];
        let body = completion_body(&turn, "c_1", &history, true);
        assert_eq!(
            body["messages"][1],
            json!({"role": "assistant", "content": "2 is prime."})
        );
        assert!(!body.to_string().contains("divisors"));
        // The widget reads it back; older rows without it read as None.
        let stored = serde_json::to_value(&answer).unwrap_or_default();
        assert_eq!(stored["reasoning"], "2 has no divisors but 1 and itself.");
        let old: Option<StoredMessage> =
            serde_json::from_str(r#"{"role":"assistant","content":"hi"}"#).ok();
        assert_eq!(old.and_then(|message| message.reasoning), None);
        let plain = serde_json::to_string(&message("user", "x")).unwrap_or_default();
        assert!(!plain.contains("reasoning"));
    }
}

#[cfg(test)]
mod tool_tests {
    use super::*;
    use crate::metering::estimate_request_prompt_tokens;

    const LIMITS: ToolLimits = ToolLimits {
        max_result_bytes: 256,
        context_max_bytes: 64,
    };

    fn calling(ids: &[&str]) -> StoredMessage {
        let mut message = StoredMessage::text("assistant", "");
        message.tool_calls = ids
            .iter()
            .map(|id| ToolCall {
                id: id.to_string(),
                name: "submit_leave".into(),
                arguments: r#"{"from":"2024-06-24"}"#.into(),
            })
            .collect();
        message
    }

    fn result(id: &str, status: ToolStatus, content: &str) -> ToolResult {
        ToolResult {
            id: id.into(),
            status,
            content: content.into(),
        }
    }

    #[track_caller]
    fn param(body: &str) -> Option<String> {
        match parse_turn(body.as_bytes(), &LIMITS) {
            Err(ProxyError::InvalidRequest { param, .. }) => param,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn a_turn_is_a_message_or_results_never_both() {
        assert_eq!(
            param(r#"{"conversation_id":"c_1"}"#).as_deref(),
            Some("message")
        );
        assert_eq!(
            param(r#"{"message":"x","conversation_id":"c_1","tool_results":[{"id":"a"}]}"#)
                .as_deref(),
            Some("tool_results")
        );
        assert_eq!(
            param(r#"{"tool_results":[{"id":"a"}]}"#).as_deref(),
            Some("conversation_id")
        );
        assert_eq!(
            param(r#"{"message":"x","tools":[{"name":"a b"}]}"#).as_deref(),
            Some("tools[0].name")
        );
        assert_eq!(
            param(&format!(
                r#"{{"message":"x","context":"{}"}}"#,
                "c".repeat(80)
            ))
            .as_deref(),
            Some("context")
        );
        let turn = parse_turn(
            br#"{"conversation_id":"c_1","tool_results":[{"id":"call_a","content":"ok"}],"tools":[{"name":"f"}]}"#,
            &LIMITS,
        )
        .unwrap();
        assert!(turn.is_continuation() && turn.message.is_empty());
        assert_eq!(turn.tools.len(), 1);
    }

    #[test]
    fn tools_and_context_go_upstream_only_as_offered() {
        let turn = parse_turn(
            br#"{"message":"submit_leave tomorrow","tools":[{"name":"submit_leave"}],"context":{"form":"leave"}}"#,
            &LIMITS,
        )
        .unwrap();
        let body = completion_body(&turn, "c_1", &[], true);
        assert_eq!(body["tool_choice"], "auto");
        assert_eq!(body["tools"][0]["function"]["name"], "submit_leave");
        let messages = body["messages"].as_array().unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0]["role"], "system");
        assert!(messages[0]["content"]
            .as_str()
            .unwrap()
            .ends_with(r#"{"form":"leave"}"#));
        assert_eq!(
            messages[1],
            json!({"role": "user", "content": "submit_leave tomorrow"})
        );
        let without = completion_body(&turn, "c_1", &[], false);
        assert!(without.get("tools").is_none() && without.get("tool_choice").is_none());
    }

    #[test]
    fn history_goes_upstream_as_a_complete_exchange() {
        let history = [
            StoredMessage::text("user", "请假"),
            calling(&["call_a", "call_b"]),
            StoredMessage::tool_result(&result("call_b", ToolStatus::Declined, "")),
            StoredMessage::text("assistant", "OK"),
            StoredMessage::tool_result(&result("orphan", ToolStatus::Ok, "x")),
            StoredMessage::text("user", "again"),
            calling(&["call_c"]),
        ];
        let messages = upstream_messages(&history);
        let roles: Vec<_> = messages
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            [
                "user",
                "assistant",
                "tool",
                "tool",
                "assistant",
                "user",
                "assistant",
                "tool"
            ]
        );
        assert_eq!(messages[1]["content"], Value::Null);
        assert_eq!(
            messages[1]["tool_calls"][0]["function"]["name"],
            "submit_leave"
        );
        // The calls' order, the page's answer where it gave one, a filler where it did not.
        assert_eq!(messages[2]["tool_call_id"], "call_a");
        assert_eq!(
            messages[2]["content"],
            "Error: No result: the page did not answer."
        );
        assert_eq!(messages[3]["content"], "The user declined this action.");
        assert_eq!(messages[7]["tool_call_id"], "call_c");
        // The estimate of what the history adds counts exactly what is sent.
        let turn = parse_turn(br#"{"message":"next"}"#, &LIMITS).unwrap();
        let without = estimate_request_prompt_tokens(&completion_body(&turn, "c_1", &[], true));
        let with = estimate_request_prompt_tokens(&completion_body(&turn, "c_1", &history, true));
        assert_eq!(with, without + history_tokens(&history));
    }

    #[test]
    fn a_continuation_body_gets_the_stored_exchange_in_place_of_its_stand_ins() {
        let turn = parse_turn(
            br#"{"conversation_id":"c_1","tool_results":[{"id":"call_a","content":"{\"days\":5}"}],"context":{"f":1}}"#,
            &LIMITS,
        )
        .unwrap();
        let Value::Object(mut body) = completion_body(&turn, "c_1", &[], true) else {
            panic!("a body is an object");
        };
        let stand_ins = turn.tool_results.clone().unwrap();
        assert_eq!(body["messages"][0]["role"], "tool");
        assert_eq!(body["messages"][1]["role"], "system");
        let before = estimate_request_prompt_tokens(&Value::Object(body.clone()));
        let mut history = vec![
            StoredMessage::text("user", "请假"),
            calling(&["call_a", "call_b"]),
        ];
        history.push(StoredMessage::tool_result(&stand_ins[0]));
        history.push(StoredMessage::tool_result(&filler_result("call_b")));
        prepend_history(&mut body, &history);
        let roles: Vec<_> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(roles, ["user", "assistant", "tool", "tool", "system"]);
        // The reservation the user's object adds is exactly the difference.
        let after = estimate_request_prompt_tokens(&Value::Object(body));
        assert_eq!(
            after,
            before + history_tokens(&history) - results_tokens(&stand_ins)
        );
    }

    #[test]
    fn trimming_keeps_calls_with_their_results_and_a_continuation_its_exchange() {
        let long = "word ".repeat(200);
        let history = vec![
            StoredMessage::text("user", &long),
            calling(&["call_a"]),
            StoredMessage::tool_result(&result("call_a", ToolStatus::Ok, &long)),
            StoredMessage::text("assistant", "done"),
            StoredMessage::text("user", &long),
            calling(&["call_b"]),
            StoredMessage::tool_result(&result("call_b", ToolStatus::Ok, "{}")),
        ];
        // A tiny window keeps nothing of a new turn's history...
        assert!(trim_history(&history, "new", 20).is_empty());
        // ...but a continuation always keeps its exchange, from its user message on.
        let kept = trim_continued_history(&history, 20);
        assert_eq!(kept, history[4..].to_vec());
        assert_eq!(trim_continued_history(&history, 1_000_000), history);
        // Whatever the window, what is kept never starts inside an exchange.
        for window in (0..2_000).step_by(7) {
            let kept = trim_history(&history, "new", window);
            assert!(
                kept.first().is_none_or(|first| first.role == "user"),
                "{window}"
            );
        }
    }
}
