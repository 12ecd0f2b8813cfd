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
use crate::metering::{estimate_tokens, TOKENS_PER_MESSAGE, TOKENS_PER_REQUEST};

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
}

/// `POST /v1/oachat/chat`: one new turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    /// `None` starts a new conversation.
    pub conversation_id: Option<String>,
    pub message: String,
    pub scenario: Option<String>,
    pub model: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireTurn {
    conversation_id: Option<String>,
    message: Option<String>,
    scenario: Option<String>,
    model: Option<String>,
}

/// Parses and validates a turn; errors name the field.
pub fn parse_turn(bytes: &[u8]) -> Result<Turn, ProxyError> {
    let wire: WireTurn = serde_json::from_slice(bytes).map_err(|error| {
        ProxyError::invalid(
            "message",
            format!(
                "Send {{\"message\": \"...\", \"conversation_id\"?: \"...\", \"scenario\"?: \"...\", \"model\"?: \"auto\"}} ({error})."
            ),
        )
    })?;
    let message = wire.message.unwrap_or_default();
    if message.trim().is_empty() {
        return Err(ProxyError::invalid(
            "message",
            "`message` must not be empty.",
        ));
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
    Ok(Turn {
        conversation_id: wire.conversation_id,
        message,
        scenario: wire.scenario,
        model,
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

/// What one message adds to a prompt's estimate: its text and its framing.
fn message_tokens(text: &str) -> u64 {
    estimate_tokens(text) + TOKENS_PER_MESSAGE
}

/// What `history` adds to the estimate of a prompt that carries it
/// (`metering::estimate_request_prompt_tokens` counts each message on its own, so this is
/// exactly the difference between a turn's body with the history and without it).
pub fn history_tokens(history: &[StoredMessage]) -> u64 {
    history
        .iter()
        .map(|message| message_tokens(&message.content))
        .sum()
}

/// The newest part of `history` that fits `window_tokens` together with the new message.
///
/// Messages are counted as the proxy counts prompts ([`estimate_tokens`] plus per-message
/// framing) and dropped oldest first. The new message always stays, even alone over the
/// window: the budget check then decides. The kept part starts with a user message, so the
/// model never sees an answer without its question.
pub fn trim_history(
    history: &[StoredMessage],
    new_message: &str,
    window_tokens: u64,
) -> Vec<StoredMessage> {
    let cost = message_tokens;
    let mut used = TOKENS_PER_REQUEST + cost(new_message);
    let mut keep_from = history.len();
    for (index, message) in history.iter().enumerate().rev() {
        used += cost(&message.content);
        if used > window_tokens {
            break;
        }
        keep_from = index;
    }
    let kept = &history[keep_from..];
    let first_user = kept
        .iter()
        .position(|message| message.role == "user")
        .unwrap_or(kept.len());
    kept[first_user..].to_vec()
}

/// The chat-completions body for a turn: the trimmed history, the new message, streaming,
/// and the `oachat` extension carrying the conversation (rounds are counted on it) and the
/// scenario. It then goes through the same validation as any `/v1/chat/completions` body.
pub fn completion_body(turn: &Turn, conversation_id: &str, history: &[StoredMessage]) -> Value {
    let mut messages: Vec<Value> = history.iter().map(upstream_message).collect();
    messages.push(json!({"role": "user", "content": turn.message}));
    let mut extension = Map::new();
    extension.insert("conversation_id".into(), conversation_id.into());
    if let Some(scenario) = &turn.scenario {
        extension.insert("scenario".into(), scenario.as_str().into());
    }
    json!({
        "model": turn.model,
        "stream": true,
        "messages": messages,
        "oachat": extension,
    })
}

/// Puts `history` before the messages of a turn's body (made by [`completion_body`] without
/// it): the body the turn goes upstream with, once its history came with its admission.
pub fn prepend_history(body: &mut Map<String, Value>, history: &[StoredMessage]) {
    if let Some(Value::Array(messages)) = body.get_mut("messages") {
        messages.splice(0..0, history.iter().map(upstream_message));
    }
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
/// (`provider::Preset::reasoning_with_tool_calls`). Stored conversation turns are plain
/// text answers (the widget's endpoint sends no tools), so that case cannot arise here; a
/// client that drives tools through `/v1/chat/completions` sends its own messages, and
/// oachat forwards their `reasoning_content` untouched.
pub fn upstream_message(message: &StoredMessage) -> Value {
    json!({"role": message.role, "content": message.content})
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

    fn message(role: &str, content: &str) -> StoredMessage {
        StoredMessage {
            role: role.into(),
            content: content.into(),
            reasoning: None,
        }
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
        let turn = parse_turn(br#"{"message":"hi"}"#).unwrap();
        assert_eq!((turn.conversation_id, turn.model.as_str()), (None, "auto"));
        let turn = parse_turn(
            br#"{"message":"hi","conversation_id":"c_1","model":"gpt-4o-mini","scenario":"code"}"#,
        )
        .unwrap();
        assert_eq!(turn.conversation_id.as_deref(), Some("c_1"));
        assert_eq!(turn.scenario.as_deref(), Some("code"));
        let param = |body: &str| match parse_turn(body.as_bytes()) {
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
        let turn = parse_turn(br#"{"message":"new","scenario":"code"}"#).unwrap();
        let body = completion_body(
            &turn,
            "c_1",
            &[message("user", "a"), message("assistant", "b")],
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
        let turn = parse_turn(br#"{"model": "gpt-4o-mini", "message": "and in May?"}"#).unwrap();
        let history = [
            message("user", "How many leave days do I have in 2026, 张三?"),
            message("assistant", "You have 25 days; 3 are planned for April."),
        ];
        let without = estimate_request_prompt_tokens(&completion_body(&turn, "c_1", &[]));
        let with = estimate_request_prompt_tokens(&completion_body(&turn, "c_1", &history));
        assert_eq!(with, without + history_tokens(&history));
    }

    #[test]
    fn a_body_with_its_history_prepended_is_the_body_made_with_it() {
        let turn = parse_turn(br#"{"model": "auto", "message": "and in May?"}"#).unwrap();
        let history = [message("user", "leave?"), message("assistant", "25 days.")];
        let Value::Object(mut body) = completion_body(&turn, "c_1", &[]) else {
            panic!("a body is an object");
        };
        prepend_history(&mut body, &history);
        assert_eq!(Value::Object(body), completion_body(&turn, "c_1", &history));
    }

    #[test]
    fn stored_reasoning_is_for_display_and_never_goes_upstream() {
        let turn = parse_turn(br#"{"model": "deepseek-reasoner", "message": "and 3?"}"#)
            .unwrap_or_else(|error| panic!("{error}"));
        let mut answer = message("assistant", "2 is prime.");
        answer.reasoning = Some("2 has no divisors but 1 and itself.".into());
        let history = [message("user", "is 2 prime?"), answer.clone()];
        let body = completion_body(&turn, "c_1", &history);
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
