//! What is kept of a response for `previous_response_id`: the conversation as chat messages
//! (the earlier history, this input, the answer), bounded so a long tool loop cannot grow one
//! stored row without limit. The oldest messages go first; a conversation never starts with a
//! tool result whose call was cut away (upstreams refuse that).

use serde_json::Value;

/// Bytes of JSON one stored conversation may take; a Durable Object's SQLite row holds up to
/// 2 MB, and the history also has to fit the next prompt.
pub const MAX_STORED_BYTES: usize = 256 * 1024;

/// Responses kept per user; the oldest are forgotten first.
pub const MAX_STORED_RESPONSES: u32 = 200;

/// `conversation` trimmed to [`MAX_STORED_BYTES`], as the JSON text to store.
pub fn stored_conversation(conversation: &[Value]) -> String {
    let sizes: Vec<usize> = conversation
        .iter()
        .map(|message| message.to_string().len() + 1)
        .collect();
    let mut total: usize = sizes.iter().sum::<usize>() + 2;
    let mut start = 0;
    while start < conversation.len()
        && (total > MAX_STORED_BYTES || conversation[start]["role"] == "tool")
    {
        total -= sizes[start];
        start += 1;
    }
    Value::Array(conversation[start..].to_vec()).to_string()
}

/// A stored conversation read back; anything unreadable is an empty history.
pub fn read_conversation(stored: &str) -> Vec<Value> {
    match serde_json::from_str(stored) {
        Ok(Value::Array(messages)) => messages,
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_small_conversation_is_kept_whole_and_reads_back() {
        let conversation = vec![
            json!({"role": "user", "content": "a"}),
            json!({"role": "assistant", "content": "b"}),
        ];
        assert_eq!(
            read_conversation(&stored_conversation(&conversation)),
            conversation
        );
        assert_eq!(read_conversation("not json"), Vec::<Value>::new());
    }

    #[test]
    fn the_oldest_messages_go_first_and_no_orphan_tool_result_leads() {
        let big = "x".repeat(MAX_STORED_BYTES * 2 / 3);
        let conversation = vec![
            json!({"role": "user", "content": "first"}),
            json!({"role": "assistant", "content": null, "tool_calls": [{"id": "c", "arguments": big}]}),
            json!({"role": "tool", "tool_call_id": "c", "content": big}),
            json!({"role": "user", "content": "last"}),
            json!({"role": "assistant", "content": "answer"}),
        ];
        let kept = read_conversation(&stored_conversation(&conversation));
        assert!(stored_conversation(&conversation).len() <= MAX_STORED_BYTES);
        // Cutting the call away leaves its result leading: it goes too.
        assert!(kept == conversation[3..], "{} messages kept", kept.len());
    }
}
