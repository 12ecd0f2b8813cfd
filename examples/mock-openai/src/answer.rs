//! The deterministic markdown answer every chat completion returns.
//!
//! Its blocks come in a fixed order so renderers can be tested against it:
//! a `## Mock answer` heading, an intro paragraph, the last user message
//! quoted verbatim in a paragraph of its own, a bullet list, a three-column
//! GFM table with two body rows, and a fenced `rust` code block.
//!
//! The quoted message is inserted exactly as received — no escaping, no
//! trimming — because tests push HTML, Chinese and emoji through the whole
//! system and look for them byte for byte on the far side.

/// Shown in place of the quote when the request has no (or an empty) user
/// message, so the answer keeps its block structure.
pub const NO_USER_MESSAGE: &str = "(no user message)";

/// The answer for choice `choice_index` of `choice_count`.
///
/// Only the intro differs between choices, so `n > 1` responses are
/// distinguishable while staying deterministic.
pub fn answer_text(last_user_message: &str, choice_index: usize, choice_count: usize) -> String {
    let quoted = if last_user_message.is_empty() {
        NO_USER_MESSAGE
    } else {
        last_user_message
    };
    let choice_number = choice_index + 1;
    format!(
        "## Mock answer\n\
         \n\
         This is a deterministic reply from mock-openai (choice {choice_number} of {choice_count}). \
         Your last message follows, quoted verbatim.\n\
         \n\
         {quoted}\n\
         \n\
         - a heading and two paragraphs\n\
         - your message, unchanged\n\
         - a table and a fenced code block\n\
         \n\
         | Block | Kind | Checks |\n\
         | --- | --- | --- |\n\
         | table | GFM | column alignment |\n\
         | code | fenced | syntax highlighting |\n\
         \n\
         ```rust\n\
         fn main() {{\n    println!(\"Hello from mock-openai\");\n}}\n\
         ```"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quote must sit alone between blank lines, byte for byte.
    #[track_caller]
    fn check_quoted(message: &str) {
        let answer = answer_text(message, 0, 1);
        let paragraph = format!("\n\n{message}\n\n");
        assert!(answer.contains(&paragraph), "{answer}");
    }

    #[test]
    fn quotes_the_message_verbatim() {
        check_quoted("hello");
        check_quoted("<script>alert('xss')</script><img src=x onerror=alert(1)>");
        check_quoted("你好，世界！请用中文回答。");
        check_quoted("emoji 😀👍🏽 and ZWJ 👩‍👩‍👧");
        check_quoted("  leading and trailing spaces  ");
        check_quoted("**markdown** `code` [link](http://x)");
        check_quoted("line one\nline two");
    }

    #[test]
    fn empty_message_gets_a_placeholder() {
        check_quoted(NO_USER_MESSAGE);
        assert_eq!(answer_text("", 0, 1), answer_text(NO_USER_MESSAGE, 0, 1));
    }

    #[test]
    fn blocks_come_in_the_documented_order() {
        let answer = answer_text("QUOTE", 0, 1);
        let positions: Vec<usize> = [
            "## Mock answer",
            "This is a deterministic reply",
            "\n\nQUOTE\n\n",
            "\n- ",
            "| Block | Kind | Checks |",
            "```rust\n",
        ]
        .iter()
        .map(|needle| answer.find(needle).unwrap_or(usize::MAX))
        .collect();
        assert!(
            positions.windows(2).all(|pair| pair[0] < pair[1]),
            "{positions:?}"
        );
        assert!(answer.starts_with("## Mock answer\n\n"));
        assert!(answer.ends_with("}\n```"));
    }

    #[test]
    fn choices_differ_only_in_the_intro() {
        let first = answer_text("q", 0, 2);
        let second = answer_text("q", 1, 2);
        assert!(first.contains("(choice 1 of 2)"));
        assert!(second.contains("(choice 2 of 2)"));
        assert_eq!(first.replace("choice 1", "choice 2"), second);
    }
}
