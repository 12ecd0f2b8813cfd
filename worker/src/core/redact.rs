//! Keeping secrets out of what leaves the worker: upstream error text is scrubbed of
//! anything key-like before a client may see it.

/// Keeps an upstream 4xx body only when it is the caller's own mistake (400, 404, 413, 422),
/// in OpenAI's shape, with anything that looks like a key removed.
pub fn scrub_error_body(status: u16, text: &str) -> String {
    let message = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("The model provider refused the request (HTTP {status})."));
    let scrubbed: Vec<&str> = message
        .split_whitespace()
        .map(|word| {
            if looks_like_key(word) {
                "[redacted]"
            } else {
                word
            }
        })
        .collect();
    serde_json::json!({
        "error": {
            "message": scrubbed.join(" "),
            "type": "invalid_request_error",
            "param": null,
            "code": "upstream_rejected",
        }
    })
    .to_string()
}

pub fn looks_like_key(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
    (word.starts_with("sk-") || word.starts_with("sk_") || word.len() >= 32)
        && word.chars().filter(|c| c.is_ascii_alphanumeric()).count() >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_like_words_are_scrubbed() {
        let body = scrub_error_body(
            400,
            r#"{"error":{"message":"Bad key sk-proj-abc123def456 and tool schema"}}"#,
        );
        assert!(!body.contains("sk-proj"), "{body}");
        assert!(body.contains("tool schema"));
    }
}
