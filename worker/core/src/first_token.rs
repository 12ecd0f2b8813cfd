//! The first-token wait, pure: whether an upstream answer has started yet. A key can send its
//! response head at once and then nothing but `: keep-alive` comments for minutes (DeepSeek
//! while the request is queued). Until the answer starts, nothing has reached the client, so
//! such a key can still be given up for another one (`Config::first_token_timeout_ms`).

use oachat_protocol::SseParser;
use serde_json::Value;

use crate::metering::StreamMeter;

/// Fed the upstream's bytes as they arrive, until [`FirstTokenWatch::push`] says the answer
/// started. Comments (keep-alives) are not events, and events without generated text (a
/// role-only first delta, Azure's `prompt_filter_results` chunk) do not start it.
#[derive(Debug)]
pub struct FirstTokenWatch {
    parser: SseParser,
    meter: StreamMeter,
}

impl Default for FirstTokenWatch {
    fn default() -> Self {
        FirstTokenWatch {
            parser: SseParser::new(),
            meter: StreamMeter::new(true),
        }
    }
}

impl FirstTokenWatch {
    /// `true` once the answer has started: a generated token (content, reasoning or a tool
    /// call), a finish reason, usage, `[DONE]` or an error event. Each of those is for the
    /// client (or the ledger) to see, so the wait is over.
    pub fn push(&mut self, bytes: &[u8]) -> bool {
        for event in self.parser.push(bytes) {
            self.meter.observe(&event.data);
            if self.meter.first_token_seen()
                || self.meter.saw_done()
                || self.meter.reported_usage().is_some()
                || self.meter.finish_reason().is_some()
                || is_error(&event.data)
            {
                return true;
            }
        }
        false
    }
}

fn is_error(data: &str) -> bool {
    data.contains("\"error\"")
        && serde_json::from_str::<Value>(data).is_ok_and(|value| value.get("error").is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alives_and_empty_chunks_do_not_start_an_answer() {
        let mut watch = FirstTokenWatch::default();
        assert!(!watch.push(b": keep-alive\n\n: keep-alive\n\n"));
        // Azure's first chunk, and a role-only delta.
        assert!(!watch
            .push(b"data: {\"choices\":[],\"prompt_filter_results\":[{\"prompt_index\":0}]}\n\n"));
        assert!(!watch.push(
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        ));
        assert!(
            watch.push(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n")
        );
    }

    #[test]
    fn reasoning_starts_an_answer_even_split_across_chunks() {
        let mut watch = FirstTokenWatch::default();
        let event =
            b"data: {\"choices\":[{\"index\":0,\"delta\":{\"reasoning_content\":\"Let me\"}}]}\n\n";
        let (head, tail) = event.split_at(30);
        assert!(!watch.push(head));
        assert!(watch.push(tail));
    }

    #[test]
    fn an_ending_usage_or_error_ends_the_wait() {
        for data in [
            "data: [DONE]\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":0,\"total_tokens\":3}}\n\n",
            "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"sensitive\"}]}\n\n",
            "data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
        ] {
            assert!(FirstTokenWatch::default().push(data.as_bytes()), "{data}");
        }
    }
}
