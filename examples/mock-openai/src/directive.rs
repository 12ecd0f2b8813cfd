//! The `[mock ...]` directive a test writes into its last user message,
//! e.g. `[mock chunks=3 think=4 usage=separate]`: one parser for every
//! field, so pacing, reasoning and the provider dialects read the same
//! words the same way.
//!
//! Only the first directive counts. Fields are `name=value`, separated by
//! whitespace or commas, in any order; a field without `=` is ignored. Each
//! reader decides what a bad value means (usually: ignored), because a
//! directive is only text in a chat message, and the message is still a
//! valid request.

/// What opens a directive; the fields follow after whitespace, up to `]`.
const DIRECTIVE_OPEN: &str = "[mock";

/// The `name=value` fields of the first directive in `text`, in order.
pub fn directive_fields(text: &str) -> impl Iterator<Item = (&str, &str)> {
    let separators = |c: char| c.is_whitespace() || c == ',';
    first_directive(text)
        .unwrap_or_default()
        .split(separators)
        .filter_map(|field| field.split_once('='))
}

/// The last valid value of field `name` in the first directive: a later
/// valid value replaces an earlier one, invalid ones are skipped.
pub fn directive_value<T>(text: &str, name: &str, parse: impl Fn(&str) -> Option<T>) -> Option<T> {
    directive_fields(text)
        .filter(|(field, _)| *field == name)
        .filter_map(|(_, value)| parse(value))
        .last()
}

/// The text between `[mock` and the next `]` of the first directive, which
/// must be `[mock]` or `[mock` plus whitespace (so `[mockery]` is not one).
fn first_directive(text: &str) -> Option<&str> {
    let mut rest = text;
    loop {
        let start = rest.find(DIRECTIVE_OPEN)?;
        let after_open = &rest[start + DIRECTIVE_OPEN.len()..];
        if after_open.starts_with(']') || after_open.starts_with(char::is_whitespace) {
            let end = after_open.find(']')?;
            return Some(&after_open[..end]);
        }
        rest = after_open;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(&str, &str)> {
        directive_fields(text).collect()
    }

    #[test]
    fn fields_of_the_first_directive_only() {
        assert_eq!(
            fields("hi [mock think=3, usage=separate] [mock chunks=2]"),
            [("think", "3"), ("usage", "separate")]
        );
        assert_eq!(
            fields("[mockery think=3] [mock\nfinish=sensitive]"),
            [("finish", "sensitive")]
        );
        assert!(fields("[mock think=3").is_empty());
        assert!(fields("no directive").is_empty());
        assert!(fields("[mock bare words]").is_empty());
    }

    #[test]
    fn last_valid_value_wins() {
        let number = |value: &str| value.parse::<u32>().ok();
        assert_eq!(
            directive_value("[mock think=x think=4 think=y]", "think", number),
            Some(4)
        );
        assert_eq!(
            directive_value("[mock think=1 think=5]", "think", number),
            Some(5)
        );
        assert_eq!(directive_value("[mock chunks=5]", "think", number), None);
    }
}
