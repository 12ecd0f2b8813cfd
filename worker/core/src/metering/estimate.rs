//! Token estimation without a tokenizer: for reservations, and as the fallback when an
//! upstream reports no usage.

use serde_json::Value;

/// Per-message framing that chat models add around each message (role markers and separators), as
/// in OpenAI's published counting recipe.
pub const TOKENS_PER_MESSAGE: u64 = 4;

/// Framing added once per request to prime the assistant's reply.
pub const TOKENS_PER_REQUEST: u64 = 3;

/// What an image part is assumed to cost when reserving budget: a 1024×1024 image at high detail
/// under gpt-4o's tile formula (85 + 4 × 170). The true size is unknown without fetching the image,
/// and over-reserving is the safe side.
pub const IMAGE_PART_TOKENS: u64 = 765;

/// Bytes of ordinary text per estimated token (OpenAI's "about four characters per token" rule).
const BYTES_PER_TOKEN: u64 = 4;

/// Estimates the tokens of `text` without a tokenizer.
///
/// The rule: every CJK ideograph, kana, hangul syllable or jamo, CJK punctuation mark and fullwidth
/// form counts one token; every run of other text counts one token per started 4 bytes of UTF-8.
/// For ASCII that is OpenAI's "4 characters per token"; measuring bytes rather than characters keeps
/// scripts that byte-level BPE splits finer (Cyrillic, Greek, Arabic: 2 bytes a letter; emoji: 4)
/// from being undercounted by 2–4×.
///
/// Error bound, from the commonly published ratios of cl100k/o200k-style tokenizers (not measured
/// in this repository): English prose lands within about ±20%; Chinese is overestimated by up to
/// ~60% for o200k, Qwen or DeepSeek (≈0.6–0.8 tokens per hanzi) and underestimated by up to ~30%
/// for cl100k on rarer characters; code, numbers, URLs and base64 can be underestimated by up to
/// 2×; emoji, especially ZWJ sequences, by up to 3×. Use it for budget reservations and as the
/// fallback when an upstream reports no usage, never in place of a reported count.
pub fn estimate_tokens(text: &str) -> u64 {
    let mut estimator = TokenEstimator::default();
    estimator.push_str(text);
    estimator.tokens()
}

/// [`estimate_tokens`] over text that arrives in pieces. A run of ordinary text continues across
/// pieces, so the total does not depend on how a stream was chunked.
#[derive(Debug, Clone, Default)]
pub struct TokenEstimator {
    closed_tokens: u64,
    open_run_bytes: u64,
}

impl TokenEstimator {
    pub fn push_str(&mut self, text: &str) {
        if text.is_ascii() {
            self.open_run_bytes += text.len() as u64;
            return;
        }
        for character in text.chars() {
            if is_one_token_character(character) {
                self.closed_tokens += self.open_run_bytes.div_ceil(BYTES_PER_TOKEN) + 1;
                self.open_run_bytes = 0;
            } else {
                self.open_run_bytes += character.len_utf8() as u64;
            }
        }
    }

    pub fn tokens(&self) -> u64 {
        self.closed_tokens + self.open_run_bytes.div_ceil(BYTES_PER_TOKEN)
    }
}

fn is_one_token_character(character: char) -> bool {
    matches!(character,
        '\u{1100}'..='\u{11FF}'     // Hangul jamo
        | '\u{3000}'..='\u{303F}'   // CJK symbols and punctuation: 。、「」
        | '\u{3040}'..='\u{30FF}'   // Hiragana, katakana
        | '\u{3130}'..='\u{318F}'   // Hangul compatibility jamo
        | '\u{31F0}'..='\u{31FF}'   // Katakana phonetic extensions
        | '\u{3400}'..='\u{4DBF}'   // CJK extension A
        | '\u{4E00}'..='\u{9FFF}'   // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}'   // Hangul syllables
        | '\u{F900}'..='\u{FAFF}'   // CJK compatibility ideographs
        | '\u{FF00}'..='\u{FFEF}'   // Fullwidth and halfwidth forms: ，！？
        | '\u{20000}'..='\u{3134F}' // CJK extensions B to G
    )
}

/// Estimates the prompt tokens of an OpenAI `messages` array: [`TOKENS_PER_MESSAGE`] per message,
/// [`TOKENS_PER_REQUEST`] once, plus the text of each message's content (a string, or an array of
/// parts with `text`), name and tool calls, and [`IMAGE_PART_TOKENS`] per image part.
pub fn estimate_prompt_tokens(messages: &Value) -> u64 {
    let mut tokens = TOKENS_PER_REQUEST;
    for message in messages.as_array().into_iter().flatten() {
        tokens += TOKENS_PER_MESSAGE;
        match message.get("content") {
            Some(Value::String(text)) => tokens += estimate_tokens(text),
            Some(Value::Array(parts)) => {
                for part in parts {
                    tokens += estimate_content_part(part);
                }
            }
            _ => {}
        }
        if let Some(name) = message.get("name").and_then(Value::as_str) {
            tokens += estimate_tokens(name);
        }
        let tool_calls = message.get("tool_calls").and_then(Value::as_array);
        for call in tool_calls.into_iter().flatten() {
            for field in ["/function/name", "/function/arguments"] {
                if let Some(text) = call.pointer(field).and_then(Value::as_str) {
                    tokens += estimate_tokens(text);
                }
            }
        }
    }
    tokens
}

fn estimate_content_part(part: &Value) -> u64 {
    if let Some(text) = part.get("text").and_then(Value::as_str) {
        return estimate_tokens(text);
    }
    match part.get("type").and_then(Value::as_str) {
        Some("image_url" | "input_image" | "image") => IMAGE_PART_TOKENS,
        _ => 0,
    }
}

/// Estimates the prompt of a whole chat request: its messages plus its tool (or legacy function)
/// definitions, which the provider renders into the prompt too.
pub fn estimate_request_prompt_tokens(request: &Value) -> u64 {
    let messages = request.get("messages").unwrap_or(&Value::Null);
    let mut tokens = estimate_prompt_tokens(messages);
    for definitions in ["tools", "functions"] {
        if let Some(definitions) = request.get(definitions).filter(|value| !value.is_null()) {
            tokens += estimate_tokens(&definitions.to_string());
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[track_caller]
    fn check_estimate(text: &str, expected: u64) {
        assert_eq!(estimate_tokens(text), expected, "{text:?}");
    }

    #[test]
    fn estimates_for_english_chinese_and_emoji() {
        check_estimate("", 0);
        check_estimate("a", 1);
        check_estimate("Hello, world!", 4); // 13 bytes; cl100k says 4
        check_estimate("The quick brown fox jumps over the lazy dog.", 11); // 44 bytes; cl100k: 10
        check_estimate("你好，世界！", 6); // one per ideograph and fullwidth punctuation mark
        check_estimate("こんにちは", 5);
        check_estimate("안녕하세요", 5);
        check_estimate("🎉", 1); // 4 bytes
        check_estimate("🎉🎉🎉", 3);
        check_estimate("👨‍👩‍👧", 5); // 18 bytes: three emoji and two zero-width joiners
        check_estimate("Привет", 3); // 12 bytes: Cyrillic is not counted as 4 letters a token
                                     // A run of ordinary text between ideographs costs at least one token.
        check_estimate("用Rust写", 3);
        check_estimate("中a文b", 4);
    }

    #[test]
    fn estimate_does_not_depend_on_chunking() {
        let text = "Rust 是一门系统编程语言 🎉 with zero-cost abstractions.";
        let expected = estimate_tokens(text);
        for split in (0..=text.len()).filter(|&index| text.is_char_boundary(index)) {
            let mut estimator = TokenEstimator::default();
            estimator.push_str(&text[..split]);
            estimator.push_str(&text[split..]);
            assert_eq!(estimator.tokens(), expected, "split at {split}");
        }
    }

    #[test]
    fn prompt_estimate_adds_openai_framing() {
        assert_eq!(estimate_prompt_tokens(&json!([])), 3);
        assert_eq!(estimate_prompt_tokens(&json!(null)), 3);
        let messages = json!([
            {"role": "system", "content": "Be brief."},                  // 9 bytes: 3
            {"role": "user", "name": "ann", "content": [                  // name: 1
                {"type": "text", "text": "你好"},                          // 2
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
            ]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "lookup", "arguments": "{\"q\":1}"}}, // 2 + 2
            ]},
        ]);
        assert_eq!(
            estimate_prompt_tokens(&messages),
            3 + 3 * 4 + 3 + 1 + 2 + IMAGE_PART_TOKENS + 2 + 2
        );
        let request = json!({
            "model": "m",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        });
        let tools_json = request["tools"].to_string();
        assert_eq!(
            estimate_request_prompt_tokens(&request),
            3 + 4 + 1 + estimate_tokens(&tools_json)
        );
    }
}
