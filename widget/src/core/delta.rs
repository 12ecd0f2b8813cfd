//! What one streamed `chat.completion.chunk` adds to the answer: its reasoning
//! (`choices[0].delta.reasoning_content`, which DeepSeek-R1, Qwen, Kimi, GLM and Doubao stream
//! before the answer) and its answer text (`choices[0].delta.content`).

use super::json::Json;

/// The text one chunk carries; empty strings read as absent, so a chunk that only closes the
/// reasoning (`"reasoning_content": ""`) or only carries a role adds nothing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Delta {
    pub reasoning: Option<String>,
    pub content: Option<String>,
}

/// Reads a chunk's SSE `data`; anything that is not a chunk with a delta reads as empty.
pub fn parse_delta(data: &str) -> Delta {
    let Some(chunk) = Json::parse(data) else {
        return Delta::default();
    };
    let Some(delta) = chunk
        .get("choices")
        .and_then(|choices| choices.get("0"))
        .and_then(|choice| choice.get("delta"))
    else {
        return Delta::default();
    };
    let text = |field: &str| {
        delta
            .get(field)
            .and_then(Json::as_str)
            .filter(|text| !text.is_empty())
            .map(str::to_string)
    };
    Delta {
        reasoning: text("reasoning_content"),
        content: text("content"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(data: &str, reasoning: Option<&str>, content: Option<&str>) {
        let expected = Delta {
            reasoning: reasoning.map(str::to_string),
            content: content.map(str::to_string),
        };
        assert_eq!(parse_delta(data), expected, "{data}");
    }

    #[test]
    fn answer_text_is_the_content() {
        check(
            r#"{"choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
            None,
            Some("Hi"),
        );
    }

    #[test]
    fn reasoning_is_read_apart_from_the_content() {
        check(
            r#"{"choices":[{"delta":{"reasoning_content":"Let me see. ","content":null}}]}"#,
            Some("Let me see. "),
            None,
        );
        // Some providers send both in the chunk where the answer starts.
        check(
            r#"{"choices":[{"delta":{"reasoning_content":"done.","content":"答"}}]}"#,
            Some("done."),
            Some("答"),
        );
    }

    #[test]
    fn empty_strings_role_chunks_usage_chunks_and_garbage_add_nothing() {
        check(
            r#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#,
            None,
            None,
        );
        check(
            r#"{"choices":[{"delta":{"reasoning_content":""}}]}"#,
            None,
            None,
        );
        check(r#"{"choices":[],"usage":{"total_tokens":3}}"#, None, None);
        check(r#"{"choices":[{"delta":{"content":7}}]}"#, None, None);
        check("not json", None, None);
        check("[DONE]", None, None);
    }
}
