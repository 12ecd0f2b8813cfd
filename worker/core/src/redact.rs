//! Keeping secrets out of what leaves the worker: upstream text is first stripped of the
//! exact configured keys (raw, percent-encoded and JSON-escaped, wherever they stand in a
//! word), then of anything else key-like, before a client or a log may see it.

/// Removes the deployment's own upstream keys from text. Built once per isolate from every
/// configured key.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form of every key to remove, longest first, so a form that contains another
    /// is removed whole.
    forms: Vec<String>,
}

/// Keys shorter than this are not searched for: such a "key" is a placeholder, and removing
/// every occurrence of, say, `ok` would shred ordinary text.
const MIN_KEY_CHARS: usize = 8;

/// What a removed key becomes.
pub const REDACTED: &str = "[redacted]";

impl std::fmt::Debug for Redactor {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "Redactor({} forms)", self.forms.len())
    }
}

impl Redactor {
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>) -> Redactor {
        let mut forms = Vec::new();
        for key in keys {
            let key = key.trim();
            if key.chars().count() < MIN_KEY_CHARS {
                continue;
            }
            forms.push(key.to_string());
            forms.push(percent_encode(key, false));
            forms.push(percent_encode(key, true));
            let json = serde_json::to_string(key).unwrap_or_default();
            forms.push(json.trim_matches('"').to_string());
        }
        forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
        forms.dedup();
        Redactor { forms }
    }

    /// `text` with every form of every key replaced by [`REDACTED`].
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for form in &self.forms {
            if out.contains(form.as_str()) {
                out = out.replace(form.as_str(), REDACTED);
            }
        }
        out
    }
}

/// Every byte outside RFC 3986's unreserved set as `%XX` (upper or lower hex).
fn percent_encode(text: &str, lower: bool) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else if lower {
            out.push_str(&format!("%{byte:02x}"));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Keeps an upstream 4xx body only as its message, in OpenAI's shape, with the deployment's
/// keys and then anything that looks like a key removed.
pub fn scrub_error_body(status: u16, text: &str, redactor: &Redactor) -> String {
    let text = redactor.redact(text);
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("The model provider refused the request (HTTP {status})."));
    let scrubbed: Vec<String> = message.split_whitespace().map(scrub_word).collect();
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

/// A word with key-like parts replaced. Words are also split at `=`, `:`, `%3D`, `%3A` and
/// quotes, where an upstream glues a key to its name (`key=sk-...`, `Bearer:sk-...`).
fn scrub_word(word: &str) -> String {
    if looks_like_key(word) {
        return REDACTED.to_string();
    }
    let decoded = word
        .replace("%3D", "=")
        .replace("%3d", "=")
        .replace("%3A", ":")
        .replace("%3a", ":");
    let parts: Vec<&str> = decoded.split(['=', ':', '"', '\'']).collect();
    if parts.len() > 1 && parts.iter().any(|part| looks_like_key(part)) {
        return REDACTED.to_string();
    }
    word.to_string()
}

pub fn looks_like_key(word: &str) -> bool {
    let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '-' && c != '_');
    (word.starts_with("sk-") || word.starts_with("sk_") || word.len() >= 32)
        && word.chars().filter(|c| c.is_ascii_alphanumeric()).count() >= 8
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "sk-mock-echo400";

    #[test]
    fn key_like_words_are_scrubbed() {
        let body = scrub_error_body(
            400,
            r#"{"error":{"message":"Bad key sk-proj-abc123def456 and tool schema"}}"#,
            &Redactor::default(),
        );
        assert!(!body.contains("sk-proj"), "{body}");
        assert!(body.contains("tool schema"));
    }

    #[test]
    fn the_exact_keys_go_in_every_form_the_review_found() {
        let redactor = Redactor::new([KEY, "az/Key+with=symbols-0123"]);
        for text in [
            "key=sk-mock-echo400",
            "Bearer:sk-mock-echo400",
            "key%3Dsk-mock-echo400",
            r#"{"api_key":"sk-mock-echo400"}"#,
            "url?key=az%2FKey%2Bwith%3Dsymbols-0123&x=1",
            "lower az%2fKey%2bwith%3dsymbols-0123",
            "raw az/Key+with=symbols-0123.",
        ] {
            let redacted = redactor.redact(text);
            assert!(!redacted.contains("echo400"), "{text} -> {redacted}");
            assert!(!redacted.contains("symbols"), "{text} -> {redacted}");
        }
        // The JSON error body a client would get keeps none of it either.
        let body = scrub_error_body(
            400,
            r#"{"error":{"message":"Invalid value key=sk-mock-echo400 (Bearer:sk-mock-echo400; key%3Dsk-mock-echo400)"}}"#,
            &redactor,
        );
        assert!(!body.contains("echo400"), "{body}");
        assert!(body.contains("Invalid value"), "{body}");
    }

    #[test]
    fn glued_key_like_words_are_scrubbed_without_knowing_the_key() {
        for word in [
            "key=sk-abcdefghijkl",
            "Bearer:sk-abcdefghijkl",
            "key%3Dsk-abcdefghijkl",
        ] {
            assert_eq!(scrub_word(word), REDACTED, "{word}");
        }
        assert_eq!(scrub_word("ratio=3:4"), "ratio=3:4");
    }

    #[test]
    fn placeholders_shorter_than_a_key_are_left_alone() {
        let redactor = Redactor::new(["ok", ""]);
        assert_eq!(redactor.redact("it is ok"), "it is ok");
    }
}
