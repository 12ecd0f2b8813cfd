//! Deterministic token counting, standing in for a real tokenizer.
//!
//! The rule, applied left to right over the text:
//!
//! * whitespace separates tokens and is never a token itself;
//! * every CJK character (Han, kana, Hangul, CJK punctuation, full-width
//!   forms) is one token on its own;
//! * every other maximal run of non-whitespace, non-CJK characters is cut
//!   into pieces of four characters (the last piece may be shorter), and each
//!   piece is one token — so a run of `c` characters costs `ceil(c / 4)`.
//!
//! Examples: `"hello world"` is 4 tokens (`hell`, `o`, `worl`, `d`);
//! `"你好"` is 2; `"## Mock"` is 2; `"😀"` is 1.
//!
//! Because tokens are spans of the text, truncating to `n` tokens is "cut
//! after the n-th span", and counting the truncated text gives exactly `n`
//! again. That is what lets `usage` agree with what a stream delivered.
//!
//! Prompt tokens: each message costs its content's tokens plus
//! [`TOKENS_PER_MESSAGE`], and every prompt costs [`TOKENS_PER_PROMPT`] more
//! (the same shape as OpenAI's own accounting for chat framing).

/// Framing overhead charged for each chat message (role and separators).
pub const TOKENS_PER_MESSAGE: u64 = 4;

/// Framing overhead charged once per prompt (the assistant reply primer).
pub const TOKENS_PER_PROMPT: u64 = 3;

/// Characters of non-CJK text that make one token.
const CHARS_PER_TOKEN: usize = 4;

/// Number of tokens in `text` under the module's rule.
pub fn count_tokens(text: &str) -> u64 {
    token_ends(text).count() as u64
}

/// The prefix of `text` holding its first `max_tokens` tokens, or `None` when
/// the text already fits. The prefix never ends in whitespace.
pub fn truncate_to_tokens(text: &str, max_tokens: u64) -> Option<&str> {
    let limit = usize::try_from(max_tokens).unwrap_or(usize::MAX);
    if limit == 0 {
        return (!text.is_empty()).then_some("");
    }
    let mut ends = token_ends(text).skip(limit - 1);
    let cut_at = ends.next()?;
    // Only a truncation if some token comes after the cut.
    ends.next().map(|_| &text[..cut_at])
}

/// Prompt tokens for a list of message contents (already flattened to text).
pub fn count_prompt_tokens<'a>(message_texts: impl IntoIterator<Item = &'a str>) -> u64 {
    message_texts
        .into_iter()
        .map(|text| count_tokens(text) + TOKENS_PER_MESSAGE)
        .sum::<u64>()
        + TOKENS_PER_PROMPT
}

/// Whether `c` counts as one token by itself.
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{3000}'..='\u{303F}'   // CJK symbols and punctuation
        | '\u{3040}'..='\u{30FF}' // Hiragana, Katakana
        | '\u{3400}'..='\u{4DBF}' // CJK extension A
        | '\u{4E00}'..='\u{9FFF}' // CJK unified ideographs
        | '\u{AC00}'..='\u{D7AF}' // Hangul syllables
        | '\u{F900}'..='\u{FAFF}' // CJK compatibility ideographs
        | '\u{FF00}'..='\u{FFEF}' // Half-width and full-width forms
        | '\u{20000}'..='\u{2FFFF}' // CJK extensions B and later
    )
}

/// Byte offsets just past the end of each token, in order.
fn token_ends(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut chars = text.char_indices().peekable();
    std::iter::from_fn(move || {
        // Skip the whitespace before the next token.
        while chars.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let (start, first) = chars.next()?;
        let mut end = start + first.len_utf8();
        if is_cjk(first) {
            return Some(end);
        }
        for _ in 1..CHARS_PER_TOKEN {
            match chars.next_if(|&(_, c)| !c.is_whitespace() && !is_cjk(c)) {
                Some((offset, c)) => end = offset + c.len_utf8(),
                None => break,
            }
        }
        Some(end)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_count(text: &str, expected: u64) {
        assert_eq!(count_tokens(text), expected, "tokens of {text:?}");
    }

    #[test]
    fn counts_latin_runs_by_four_chars() {
        check_count("", 0);
        check_count("   \n\t ", 0);
        check_count("a", 1);
        check_count("abcd", 1);
        check_count("abcde", 2);
        check_count("hello world", 4);
        check_count("## Mock answer", 4);
    }

    #[test]
    fn counts_each_cjk_char_as_one_token() {
        check_count("你好", 2);
        check_count("你好，世界", 5);
        check_count("こんにちは", 5);
        check_count("abc中def", 3);
    }

    #[test]
    fn emoji_and_html_are_counted_as_ordinary_runs() {
        check_count("😀", 1);
        check_count("<script>alert(1)</script>", 7);
    }

    #[track_caller]
    fn check_truncate(text: &str, max: u64, expected: Option<&str>) {
        let truncated = truncate_to_tokens(text, max);
        assert_eq!(truncated, expected, "truncate {text:?} to {max}");
        if let Some(prefix) = truncated {
            assert_eq!(count_tokens(prefix), max, "recount of {prefix:?}");
        }
    }

    #[test]
    fn truncation_cuts_after_the_nth_token() {
        check_truncate("hello world", 1, Some("hell"));
        check_truncate("hello world", 2, Some("hello"));
        check_truncate("hello world", 3, Some("hello worl"));
        check_truncate("hello world", 4, None);
        check_truncate("hello world", 99, None);
        check_truncate("你好世界", 3, Some("你好世"));
        check_truncate("ab 你好", 2, Some("ab 你"));
        check_truncate("", 0, None);
        check_truncate("a", 0, Some(""));
    }

    #[test]
    fn truncation_recounts_exactly_for_every_limit() {
        let text = "## Mock answer\n\n你好 wörld 😀😀😀😀😀 <b>bold</b> — done.";
        let total = count_tokens(text);
        for max in 1..total {
            let prefix = truncate_to_tokens(text, max).expect("shorter than text");
            assert_eq!(count_tokens(prefix), max, "prefix {prefix:?}");
        }
        assert_eq!(truncate_to_tokens(text, total), None);
    }

    #[test]
    fn prompt_tokens_add_framing_per_message_and_per_prompt() {
        assert_eq!(count_prompt_tokens([]), 3);
        assert_eq!(count_prompt_tokens(["hello world"]), 4 + 4 + 3);
        assert_eq!(count_prompt_tokens(["", "你好"]), 4 + (2 + 4) + 3);
    }
}
