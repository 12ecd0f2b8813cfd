//! The tool fields of a `[mock ...]` directive, read from the last user
//! message, for tests of a proxy's and a widget's bounds:
//!
//! * `tool=NAME`: call NAME, offered or not (a model calling a tool the page
//!   never registered), whatever `tool_choice` says;
//! * `args=BASE64URL`: the call's raw arguments text, base64url-encoded
//!   (padding optional), so it may hold anything, invalid JSON included;
//! * `args_json=TEXT`: the same as percent-encoded text: the directive
//!   splits fields at whitespace and commas and ends at `]`, so write those
//!   as `%20`, `%2C` and `%5D` (and `%` as `%25`); e.g.
//!   `args_json={"city":"上海"}` or `args_json={"a":1%2C"b":2}`;
//! * `tool_loop=1`: after a tool result, call the same tool again (a model
//!   that never stops calling), unless `tool_choice` is `"none"`;
//! * `tools=N`: N parallel calls in one answer (at most [`MAX_PARALLEL_CALLS`]).

use crate::directive::directive_value;

/// Bounds `tools=N`: a directive is hostile input too.
pub const MAX_PARALLEL_CALLS: usize = 8;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolDirective {
    pub tool: Option<String>,
    /// Raw arguments text from `args` or `args_json` (`args` wins).
    pub arguments: Option<String>,
    pub tool_loop: bool,
    /// How many calls one answer makes, at least 1.
    pub parallel: usize,
}

impl ToolDirective {
    pub fn read(last_user_message: &str) -> ToolDirective {
        let text = |value: &str| (!value.is_empty()).then(|| value.to_owned());
        let arguments = directive_value(last_user_message, "args", decode_base64url)
            .or_else(|| directive_value(last_user_message, "args_json", percent_decode));
        ToolDirective {
            tool: directive_value(last_user_message, "tool", text),
            arguments,
            tool_loop: directive_value(last_user_message, "tool_loop", parse_flag).unwrap_or(false),
            parallel: directive_value(last_user_message, "tools", |value| {
                value.parse::<usize>().ok()
            })
            .unwrap_or(1)
            .clamp(1, MAX_PARALLEL_CALLS),
        }
    }
}

fn parse_flag(value: &str) -> Option<bool> {
    match value {
        "1" | "true" | "on" => Some(true),
        "0" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Base64url (RFC 4648 §5) to UTF-8 text; standard `+` and `/` are accepted
/// too, padding is optional. `None` for anything else.
fn decode_base64url(encoded: &str) -> Option<String> {
    let digits = encoded.trim_end_matches('=');
    let mut bytes = Vec::with_capacity(digits.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in digits.chars() {
        let value = match c {
            'A'..='Z' => c as u32 - 'A' as u32,
            'a'..='z' => c as u32 - 'a' as u32 + 26,
            '0'..='9' => c as u32 - '0' as u32 + 52,
            '-' | '+' => 62,
            '_' | '/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | value;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    // A single leftover digit cannot end a valid encoding.
    if bits >= 6 {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// `%XX` sequences to bytes; a `%` not followed by two hex digits stays as
/// it is. `None` if the result is not UTF-8.
fn percent_decode(encoded: &str) -> Option<String> {
    let raw = encoded.as_bytes();
    let mut bytes = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        let hex = |offset: usize| raw.get(at + offset).and_then(|b| (*b as char).to_digit(16));
        match (raw[at], hex(1), hex(2)) {
            (b'%', Some(high), Some(low)) => {
                bytes.push((high * 16 + low) as u8);
                at += 3;
            }
            (byte, _, _) => {
                bytes.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(message: &str, expected: ToolDirective) {
        assert_eq!(ToolDirective::read(message), expected, "{message:?}");
    }

    fn directive() -> ToolDirective {
        ToolDirective {
            parallel: 1,
            ..ToolDirective::default()
        }
    }

    #[test]
    fn no_directive_calls_nothing_special() {
        check("hello", directive());
        check("[mock chunks=3]", directive());
    }

    #[test]
    fn tool_names_a_call_and_args_carry_raw_text() {
        check(
            "call it [mock tool=delete_everything]",
            ToolDirective {
                tool: Some("delete_everything".into()),
                ..directive()
            },
        );
        // {"city":"上海"} and, invalid on purpose, {"a":
        check(
            "[mock tool=weather args=eyJjaXR5Ijoi5LiK5rW3In0]",
            ToolDirective {
                tool: Some("weather".into()),
                arguments: Some(r#"{"city":"上海"}"#.into()),
                ..directive()
            },
        );
        check(
            "[mock args=eyJhIjo=]",
            ToolDirective {
                arguments: Some(r#"{"a":"#.into()),
                ..directive()
            },
        );
        check(
            r#"[mock tool=f args_json={"a":1%2C"b":"x%20y%5D"}]"#,
            ToolDirective {
                tool: Some("f".into()),
                arguments: Some(r#"{"a":1,"b":"x y]"}"#.into()),
                ..directive()
            },
        );
        check(
            "[mock args_json=not%zzjson%]",
            ToolDirective {
                arguments: Some("not%zzjson%".into()),
                ..directive()
            },
        );
        check("[mock args=!!! tool=]", directive());
    }

    #[test]
    fn loop_and_parallel_calls_are_clamped_flags() {
        check(
            "[mock tool_loop=1 tools=2]",
            ToolDirective {
                tool_loop: true,
                parallel: 2,
                ..directive()
            },
        );
        check("[mock tool_loop=maybe tools=0]", directive());
        check("[mock tools=999999999999999999999]", directive());
        check(
            "[mock tools=100]",
            ToolDirective {
                parallel: MAX_PARALLEL_CALLS,
                ..directive()
            },
        );
    }

    #[test]
    fn base64url_round_trips_every_tail_length() {
        assert_eq!(decode_base64url("").as_deref(), Some(""));
        assert_eq!(decode_base64url("YQ").as_deref(), Some("a"));
        assert_eq!(decode_base64url("YWI").as_deref(), Some("ab"));
        assert_eq!(decode_base64url("YWJj").as_deref(), Some("abc"));
        assert_eq!(decode_base64url("YQ==").as_deref(), Some("a"));
        assert_eq!(decode_base64url("P_8-").map(|s| s.len()), None); // not UTF-8
        assert_eq!(decode_base64url("Y"), None);
        assert_eq!(decode_base64url("a b"), None);
    }
}
