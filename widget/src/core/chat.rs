//! The chat state machine: messages, the one answer being streamed, and what to send next.
//!
//! Pure state, no DOM: the view layer asks it what changed and draws that.

use super::json::Json;
use super::thinking::Thinking;

/// Who wrote a message. `Notice` is the widget speaking (errors, limits), never sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    Notice,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Notice => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: u32,
    pub role: Role,
    pub text: String,
    /// False while the answer is still streaming.
    pub done: bool,
    /// Thumbs up (`Some(true)`) or down, once the user rated the answer.
    pub feedback: Option<bool>,
    /// The request id the worker gave this answer, for feedback.
    pub request_id: Option<String>,
    /// An answer's reasoning, shown above it; never copied or sent with it.
    pub thinking: Option<Thinking>,
}

/// A message of a stored conversation, as the worker gives it back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTurn {
    pub role: Role,
    pub text: String,
    pub reasoning: Option<String>,
}

/// Why a send was not started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendRefusal {
    Empty,
    Busy,
}

/// The most characters one message may have; the worker's body limit is far larger,
/// this keeps an accidental paste of a whole file from becoming a paid request.
pub const MAX_MESSAGE_CHARS: usize = 16_000;

#[derive(Debug, Default)]
pub struct Chat {
    messages: Vec<Message>,
    next_id: u32,
    streaming: Option<u32>,
}

impl Chat {
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    pub fn message(&self, id: u32) -> Option<&Message> {
        self.messages.iter().find(|message| message.id == id)
    }

    pub fn is_streaming(&self) -> bool {
        self.streaming.is_some()
    }

    pub fn streaming_id(&self) -> Option<u32> {
        self.streaming
    }

    /// Adds the user's message and an empty assistant message to stream into.
    /// Returns `(user_id, assistant_id)`.
    pub fn begin_send(&mut self, text: &str) -> Result<(u32, u32), SendRefusal> {
        let text = text.trim();
        if text.is_empty() {
            return Err(SendRefusal::Empty);
        }
        if self.streaming.is_some() {
            return Err(SendRefusal::Busy);
        }
        let clipped: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
        let user_id = self.push(Role::User, clipped, true);
        let assistant_id = self.push(Role::Assistant, String::new(), false);
        self.streaming = Some(assistant_id);
        Ok((user_id, assistant_id))
    }

    /// Drops the last answer and streams a new one for the same question.
    /// Returns the new assistant message id, or `None` when there is nothing to regenerate.
    pub fn begin_regenerate(&mut self) -> Option<u32> {
        if self.streaming.is_some() {
            return None;
        }
        let last_user = self.messages.iter().rposition(|m| m.role == Role::User)?;
        self.messages.truncate(last_user + 1);
        let assistant_id = self.push(Role::Assistant, String::new(), false);
        self.streaming = Some(assistant_id);
        Some(assistant_id)
    }

    /// An empty answer to stream the model's reply to tool results into (no new question).
    pub fn begin_continuation(&mut self) -> Option<u32> {
        if self.streaming.is_some() {
            return None;
        }
        let assistant_id = self.push(Role::Assistant, String::new(), false);
        self.streaming = Some(assistant_id);
        Some(assistant_id)
    }

    pub fn append(&mut self, id: u32, delta: &str) {
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            message.text.push_str(delta);
        }
    }

    /// Adds reasoning to answer `id`, received at `now_ms`. Returns true when it is the
    /// answer's first (its thinking block appears and its timer starts).
    pub fn append_reasoning(&mut self, id: u32, delta: &str, now_ms: u64) -> bool {
        let Some(message) = self.messages.iter_mut().find(|m| m.id == id) else {
            return false;
        };
        let first = message.thinking.is_none();
        message
            .thinking
            .get_or_insert_with(|| Thinking::live(now_ms))
            .push(delta, now_ms);
        first
    }

    pub fn thinking_mut(&mut self, id: u32) -> Option<&mut Thinking> {
        self.messages
            .iter_mut()
            .find(|m| m.id == id)?
            .thinking
            .as_mut()
    }

    pub fn set_request_id(&mut self, id: u32, request_id: String) {
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            message.request_id = Some(request_id);
        }
    }

    /// Ends the stream. A stopped answer keeps what arrived.
    pub fn finish(&mut self, id: u32) {
        if let Some(message) = self.messages.iter_mut().find(|m| m.id == id) {
            message.done = true;
        }
        if self.streaming == Some(id) {
            self.streaming = None;
        }
    }

    /// Ends the stream with a failure: an empty answer is replaced by a notice,
    /// a partial one is kept and the notice follows it. Returns the notice id.
    pub fn fail(&mut self, id: u32, notice: String) -> u32 {
        let empty = self.message(id).is_some_and(|m| m.text.is_empty());
        if empty {
            self.messages.retain(|m| m.id != id);
        } else {
            self.finish(id);
        }
        if self.streaming == Some(id) {
            self.streaming = None;
        }
        self.push(Role::Notice, notice, true)
    }

    pub fn set_feedback(&mut self, id: u32, up: bool) -> Option<&Message> {
        let message = self.messages.iter_mut().find(|m| m.id == id)?;
        message.feedback = if message.feedback == Some(up) {
            None
        } else {
            Some(up)
        };
        Some(message)
    }

    pub fn reset(&mut self) {
        self.messages.clear();
        self.streaming = None;
    }

    /// The newest user message: what `/v1/oachat/chat` takes (the worker keeps the rest).
    pub fn last_user_text(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.text.as_str())
    }

    /// Replaces the log with a stored conversation (history from the worker).
    pub fn load(&mut self, history: Vec<StoredTurn>) {
        self.reset();
        for turn in history {
            self.push(turn.role, turn.text, true);
            let reasoning = turn.reasoning.filter(|text| !text.trim().is_empty());
            // `push` just added the message last.
            if let (Some(reasoning), Some(message)) = (reasoning, self.messages.last_mut()) {
                message.thinking = Some(Thinking::stored(reasoning));
            }
        }
    }

    /// The OpenAI `messages` array for the next request: every finished user and
    /// assistant turn, notices left out, the answer being streamed left out.
    pub fn request_messages(&self, system: Option<&str>) -> Json {
        let mut out = Vec::with_capacity(self.messages.len() + 1);
        if let Some(system) = system.filter(|s| !s.is_empty()) {
            out.push(Json::object([
                ("role", "system".into()),
                ("content", system.into()),
            ]));
        }
        for message in &self.messages {
            let keep = match message.role {
                Role::User => true,
                Role::Assistant => message.done && !message.text.is_empty(),
                Role::Notice => false,
            };
            if keep && Some(message.id) != self.streaming {
                out.push(Json::object([
                    ("role", message.role.as_str().into()),
                    ("content", message.text.as_str().into()),
                ]));
            }
        }
        Json::Array(out)
    }

    fn push(&mut self, role: Role, text: String, done: bool) -> u32 {
        self.next_id += 1;
        let id = self.next_id;
        self.messages.push(Message {
            id,
            role,
            text,
            done,
            feedback: None,
            request_id: None,
            thinking: None,
        });
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_streams_into_a_new_answer() {
        let mut chat = Chat::default();
        let (user, answer) = chat.begin_send("  hello ").unwrap();
        assert_eq!(chat.message(user).unwrap().text, "hello");
        assert!(chat.is_streaming());
        chat.append(answer, "Hi");
        chat.append(answer, " there");
        chat.finish(answer);
        assert_eq!(chat.message(answer).unwrap().text, "Hi there");
        assert!(!chat.is_streaming());
    }

    #[test]
    fn empty_and_concurrent_sends_are_refused() {
        let mut chat = Chat::default();
        assert_eq!(chat.begin_send("   "), Err(SendRefusal::Empty));
        chat.begin_send("one").unwrap();
        assert_eq!(chat.begin_send("two"), Err(SendRefusal::Busy));
    }

    #[test]
    fn request_messages_leave_out_notices_and_the_open_answer() {
        let mut chat = Chat::default();
        let (_, first) = chat.begin_send("q1").unwrap();
        chat.append(first, "a1");
        chat.finish(first);
        let (_, second) = chat.begin_send("q2").unwrap();
        chat.fail(second, "rate limited".into());
        let (_, _third) = chat.begin_send("q3").unwrap();
        let messages = chat.request_messages(Some("be brief"));
        let Json::Array(messages) = messages else {
            panic!("messages are an array: {messages}");
        };
        let roles: Vec<&str> = messages
            .iter()
            .filter_map(|m| m.get("role").and_then(Json::as_str))
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user", "user"]);
    }

    #[test]
    fn a_failed_empty_answer_becomes_a_notice_but_partial_text_is_kept() {
        let mut chat = Chat::default();
        let (_, answer) = chat.begin_send("q").unwrap();
        chat.fail(answer, "oops".into());
        assert!(chat.message(answer).is_none());
        let (_, answer) = chat.begin_send("q").unwrap();
        chat.append(answer, "partial");
        chat.fail(answer, "cut".into());
        assert_eq!(chat.message(answer).unwrap().text, "partial");
        assert_eq!(chat.messages().last().unwrap().role, Role::Notice);
    }

    #[test]
    fn regenerate_replaces_the_last_answer() {
        let mut chat = Chat::default();
        let (_, answer) = chat.begin_send("q").unwrap();
        chat.append(answer, "first try");
        chat.finish(answer);
        let again = chat.begin_regenerate().unwrap();
        assert!(chat.message(answer).is_none());
        assert_eq!(chat.streaming_id(), Some(again));
        assert_eq!(
            chat.request_messages(None),
            Json::Array(vec![Json::object([
                ("role", "user".into()),
                ("content", "q".into())
            ])])
        );
    }

    #[test]
    fn reasoning_is_kept_apart_from_the_answer_and_never_sent_back() {
        let mut chat = Chat::default();
        let (_, answer) = chat.begin_send("q").unwrap();
        assert!(chat.append_reasoning(answer, "Let me see. ", 1_000));
        assert!(!chat.append_reasoning(answer, "Yes.", 2_000));
        chat.append(answer, "42");
        chat.finish(answer);
        let message = chat.message(answer).unwrap();
        assert_eq!(message.text, "42");
        assert_eq!(message.thinking.as_ref().unwrap().text, "Let me see. Yes.");
        let sent = chat.request_messages(None).to_string();
        assert!(!sent.contains("Let me see"), "{sent}");
    }

    #[test]
    fn a_loaded_conversation_keeps_each_answers_reasoning() {
        let mut chat = Chat::default();
        let turn = |role, text: &str, reasoning: Option<&str>| StoredTurn {
            role,
            text: text.into(),
            reasoning: reasoning.map(str::to_string),
        };
        chat.load(vec![
            turn(Role::User, "q1", None),
            turn(Role::Assistant, "a1", Some("because")),
            turn(Role::User, "q2", None),
            turn(Role::Assistant, "a2", Some("  ")),
        ]);
        let thoughts: Vec<Option<&str>> = chat
            .messages()
            .iter()
            .map(|m| m.thinking.as_ref().map(|t| t.text.as_str()))
            .collect();
        assert_eq!(thoughts, [None, Some("because"), None, None]);
    }

    #[test]
    fn feedback_toggles() {
        let mut chat = Chat::default();
        let (_, answer) = chat.begin_send("q").unwrap();
        chat.finish(answer);
        assert_eq!(
            chat.set_feedback(answer, true).unwrap().feedback,
            Some(true)
        );
        assert_eq!(chat.set_feedback(answer, true).unwrap().feedback, None);
        assert_eq!(
            chat.set_feedback(answer, false).unwrap().feedback,
            Some(false)
        );
    }
}
