//! What the page tells the model about itself: the page context (`OAChat.setContext`, or the
//! element `data-context-selector` names) and a quote of the text the user selected.

use super::json::Json;

/// The most bytes the context may take serialized; the worker refuses more (its
/// `context_max_bytes` default), so the widget never sends more.
pub const MAX_CONTEXT_BYTES: usize = 4096;

/// The most characters of a page selection the widget offers to quote.
pub const MAX_QUOTE_CHARS: usize = 2000;

/// The context as sent: `None` for nothing (`null`, blank text); a value whose JSON is over
/// [`MAX_CONTEXT_BYTES`] is sent as the start of its text instead, cut to fit.
pub fn bounded_context(context: Json) -> Option<Json> {
    let text = match context {
        Json::Null => return None,
        Json::String(text) if text.trim().is_empty() => return None,
        Json::String(text) => text,
        other => {
            let serialized = other.to_string();
            if serialized.len() <= MAX_CONTEXT_BYTES {
                return Some(other);
            }
            serialized
        }
    };
    let mut keep = text.len().min(MAX_CONTEXT_BYTES);
    loop {
        while !text.is_char_boundary(keep) {
            keep -= 1;
        }
        let candidate = Json::String(text[..keep].to_string());
        let size = candidate.to_string().len();
        if size <= MAX_CONTEXT_BYTES {
            return Some(candidate);
        }
        // Escapes made it longer than its text: drop at least the excess and measure again.
        keep -= (size - MAX_CONTEXT_BYTES).min(keep);
    }
}

/// The selection to offer as a quote: trimmed, not empty, not too long.
pub fn quotable(selection: &str) -> Option<String> {
    let text = selection.trim();
    (!text.is_empty() && text.chars().count() <= MAX_QUOTE_CHARS).then(|| text.to_string())
}

/// The input's text for a quote: each line a markdown quote line, then an empty line to type
/// the question on.
pub fn quote_block(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for line in text.lines() {
        out.push_str("> ");
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_contexts_go_as_they_are_and_empty_ones_not_at_all() {
        let form = Json::parse(r#"{"form":"leave","days":3}"#).expect("JSON");
        assert_eq!(bounded_context(form.clone()), Some(form));
        assert_eq!(bounded_context(Json::Null), None);
        assert_eq!(bounded_context("  \n ".into()), None);
    }

    #[test]
    fn large_contexts_are_cut_to_fit_at_a_character_boundary() {
        let text = "请假".repeat(2000);
        let cut = bounded_context(text.as_str().into()).expect("context");
        let size = cut.to_string().len();
        assert!(
            size <= MAX_CONTEXT_BYTES && size > MAX_CONTEXT_BYTES - 8,
            "{size}"
        );
        // Escapes count: a text of quotes still fits.
        let quotes = bounded_context("\"".repeat(5000).into()).expect("context");
        assert!(quotes.to_string().len() <= MAX_CONTEXT_BYTES);
        let big = Json::Array(vec![Json::String("x".repeat(100)); 100]);
        let cut = bounded_context(big).expect("context");
        assert!(cut.as_str().is_some_and(|text| text.starts_with("[\"xxx")));
    }

    #[test]
    fn selections_become_quote_blocks() {
        assert_eq!(quotable("  \n "), None);
        assert_eq!(quotable(&"字".repeat(MAX_QUOTE_CHARS + 1)), None);
        assert_eq!(
            quotable(" 第一行\n第二行 ").as_deref(),
            Some("第一行\n第二行")
        );
        assert_eq!(quote_block("第一行\n第二行"), "> 第一行\n> 第二行\n\n");
    }
}
