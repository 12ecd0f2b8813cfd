//! The `response` object, as `response.created` carries it at the start of a stream, as
//! `response.completed` carries it at the end, and as a non-streamed call answers it: one
//! builder for all three, so the streamed and the whole answer cannot drift apart.

use serde_json::{json, Map, Value};

use crate::metering::Usage;

/// What a response says about itself before any output: its id, when, which model answered,
/// and the request's options echoed back (as OpenAI does).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseHead {
    pub id: String,
    pub created_at: u64,
    /// The model that answered (after aliasing and `auto` routing).
    pub model: String,
    /// Request options echoed in every response object (`instructions`, `tools`, `metadata`...).
    pub echo: Map<String, Value>,
}

/// `resp_` with the request's own random part: the response and its ledger row (`req_…`)
/// name each other.
pub fn response_id(request_id: &str) -> String {
    format!(
        "resp_{}",
        request_id.strip_prefix("req_").unwrap_or(request_id)
    )
}

/// Whether `id` could be one of ours (`resp_` + lowercase hex): anything else is not looked up.
pub fn valid_response_id(id: &str) -> bool {
    id.strip_prefix("resp_").is_some_and(|hex| {
        (8..=64).contains(&hex.len())
            && hex
                .bytes()
                .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    })
}

/// How a response ended (or that it has not yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InProgress,
    Completed,
    /// Cut short: `max_output_tokens` or a content filter (the reason).
    Incomplete(&'static str),
    Failed,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Incomplete(_) => "incomplete",
            Status::Failed => "failed",
        }
    }

    /// The status of a chat answer that ended with `finish_reason`.
    pub fn of_finish_reason(finish_reason: Option<&str>) -> Status {
        match finish_reason {
            Some("length") => Status::Incomplete("max_output_tokens"),
            Some("content_filter" | "sensitive") => Status::Incomplete("content_filter"),
            _ => Status::Completed,
        }
    }
}

/// The Responses `usage` object of a metered answer.
pub fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
        "total_tokens": usage.total_tokens(),
    })
}

/// One response object.
pub fn response_object(
    head: &ResponseHead,
    status: Status,
    output: &[Value],
    usage: Option<&Usage>,
    error: Option<Value>,
) -> Value {
    let mut object = Map::new();
    object.insert("id".into(), json!(head.id));
    object.insert("object".into(), json!("response"));
    object.insert("created_at".into(), json!(head.created_at));
    object.insert("status".into(), json!(status.name()));
    object.insert("background".into(), json!(false));
    object.insert("error".into(), error.unwrap_or(Value::Null));
    let incomplete = match status {
        Status::Incomplete(reason) => json!({ "reason": reason }),
        _ => Value::Null,
    };
    object.insert("incomplete_details".into(), incomplete);
    object.insert("model".into(), json!(head.model));
    object.insert("output".into(), Value::Array(output.to_vec()));
    for (field, value) in &head.echo {
        object.insert(field.clone(), value.clone());
    }
    object.insert("usage".into(), usage.map_or(Value::Null, usage_json));
    Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_request_id_and_only_ours_are_looked_up() {
        let id = response_id("req_0123456789abcdef0123");
        assert_eq!(id, "resp_0123456789abcdef0123");
        assert!(valid_response_id(&id));
        for bad in [
            "resp_",
            "resp_XYZ12345",
            "req_0123456789",
            "resp_../../etc",
            "",
        ] {
            assert!(!valid_response_id(bad), "{bad}");
        }
    }

    #[test]
    fn usage_has_the_fields_sdks_read() {
        let usage = Usage {
            prompt_tokens: 10,
            completion_tokens: 7,
            cached_tokens: 4,
            reasoning_tokens: 2,
            estimated: false,
        };
        assert_eq!(
            usage_json(&usage),
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 4},
                "output_tokens": 7, "output_tokens_details": {"reasoning_tokens": 2},
                "total_tokens": 17})
        );
    }

    #[test]
    fn an_incomplete_response_says_why() {
        let head = ResponseHead {
            id: "resp_1".into(),
            created_at: 5,
            model: "m".into(),
            echo: Map::new(),
        };
        let object = response_object(
            &head,
            Status::of_finish_reason(Some("length")),
            &[],
            None,
            None,
        );
        assert_eq!(object["status"], "incomplete");
        assert_eq!(object["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(
            Status::of_finish_reason(Some("sensitive")),
            Status::Incomplete("content_filter")
        );
        assert_eq!(
            Status::of_finish_reason(Some("tool_calls")),
            Status::Completed
        );
    }
}
