//! Names on the wire that the worker and the widget must spell the same way: one side sends
//! them, the other looks for them, and a typo on either side fails silently.

/// The SSE event name of a card inside a chat stream (`event: oachat.card`), which only the
/// widget's endpoints send; its data is `{"card": name, "data": {...}}`.
pub const CARD_EVENT: &str = "oachat.card";

/// The SSE event name of one tool call the model made (`event: oachat.tool_call`), sent by
/// `/v1/oachat/chat` after the answer's last chunk and before `[DONE]`; its data is
/// `{"id", "name", "arguments"}` with the model's raw arguments text.
pub const TOOL_CALL_EVENT: &str = "oachat.tool_call";

/// The response header that names the server-side conversation a chat turn was stored in; the
/// widget sends it back as `conversation_id` with the next message.
pub const CONVERSATION_HEADER: &str = "x-oachat-conversation";

/// The response header with the request's id, which feedback and the ledger refer to.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The data of OpenAI's end-of-stream event (`data: [DONE]`).
pub const DONE_DATA: &str = "[DONE]";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::{SseParser, DONE_EVENT};

    #[test]
    fn the_done_event_carries_the_done_data() {
        assert_eq!(DONE_EVENT, format!("data: {DONE_DATA}\n\n"));
        let events = SseParser::new().push(DONE_EVENT.as_bytes());
        assert!(events.len() == 1 && events[0].is_done(), "{events:?}");
    }
}
