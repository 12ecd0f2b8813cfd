//! A small syntax highlighter for fenced code blocks.
//!
//! syntect costs ~700 KiB gzip in the wasm and half a second on first render (BUILD-NOTES), so
//! this is one generic tokenizer driven by a per-language [`Spec`] (keyword lists, comment
//! markers, string quotes, a few flags) plus a separate tokenizer for markup (HTML/XML). It
//! colours tokens, it does not parse: a wrong colour on odd code is acceptable, a panic or an
//! unescaped `<` is not.
//!
//! Output is HTML-escaped text with `<span class="oc-k">` (keyword), `oc-s` (string), `oc-c`
//! (comment), `oc-n` (number), `oc-f` (function or call name) and `oc-t` (type, builtin,
//! attribute or key) spans. An unknown language gives escaped plain text.
//!
//! Panic-freedom: the tokenizers look at bytes and only ever cut the text at ASCII bytes or at
//! the end of a whole character (every cut goes through [`ceil_char_boundary`]), so slicing a
//! `&str` cannot land inside a multi-byte character.

mod languages;

use languages::{Spec, Syntax};

/// Highlights `code` written in `lang` (a fence info word such as `rust`, `py` or `c++`; case
/// does not matter) and returns escaped HTML. Unknown languages come back as escaped text.
pub fn highlight(lang: &str, code: &str) -> String {
    let mut html = String::with_capacity(code.len() + code.len() / 2);
    highlight_into(&mut html, lang, code);
    html
}

/// Like [`highlight`], appending to `out` so the markdown renderer builds a code block in one
/// buffer.
pub(crate) fn highlight_into(out: &mut String, lang: &str, code: &str) {
    match languages::lookup(lang) {
        Some(Syntax::Generic(spec)) => highlight_generic(spec, code, out),
        Some(Syntax::Markup) => highlight_markup(code, out),
        None => push_escaped(out, code),
    }
}

/// Appends `text` to `out` with the five HTML-significant characters escaped, so it is safe
/// both as element content and inside a double- or single-quoted attribute. NUL becomes U+FFFD
/// as CommonMark and comrak do.
pub(crate) fn push_escaped(out: &mut String, text: &str) {
    let mut last = 0;
    for (index, byte) in text.bytes().enumerate() {
        let replacement = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&#39;",
            b'\0' => "\u{fffd}",
            _ => continue,
        };
        // `index` is the position of an ASCII byte, so both slices end on character boundaries.
        out.push_str(&text[last..index]);
        out.push_str(replacement);
        last = index + 1;
    }
    out.push_str(&text[last..]);
}

/// Moves `index` forward to the next character boundary (or the end). Every token end goes
/// through this, which is what makes slicing panic-free whatever the scanners computed.
fn ceil_char_boundary(text: &str, mut index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}

/// Collects plain text between coloured spans and writes both out escaped.
struct Emitter<'a> {
    code: &'a str,
    out: &'a mut String,
    plain_from: usize,
}

impl<'a> Emitter<'a> {
    fn new(code: &'a str, out: &'a mut String) -> Self {
        Emitter {
            code,
            out,
            plain_from: 0,
        }
    }

    /// Writes the pending plain text up to `start`, then `code[start..end]` in a span.
    /// Both bounds must already be character boundaries.
    fn span(&mut self, start: usize, end: usize, class: &str) {
        push_escaped(self.out, &self.code[self.plain_from..start]);
        self.out.push_str("<span class=\"");
        self.out.push_str(class);
        self.out.push_str("\">");
        push_escaped(self.out, &self.code[start..end]);
        self.out.push_str("</span>");
        self.plain_from = end;
    }

    fn finish(self) {
        push_escaped(self.out, &self.code[self.plain_from..]);
    }
}

const KEYWORD: &str = "oc-k";
const STRING: &str = "oc-s";
const COMMENT: &str = "oc-c";
const NUMBER: &str = "oc-n";
const FUNCTION: &str = "oc-f";
const TYPE: &str = "oc-t";

fn highlight_generic(spec: &Spec, code: &str, out: &mut String) {
    let mut emitter = Emitter::new(code, out);
    let mut position = 0;
    while position < code.len() {
        let (end, class) = scan_token(spec, code, position);
        // A token always advances, and always ends on a character boundary.
        let end = ceil_char_boundary(code, end.max(position + 1));
        if let Some(class) = class {
            emitter.span(position, end, class);
        }
        position = end;
    }
    emitter.finish();
}

/// Scans one token starting at `start` and returns its end and class (`None`: plain text).
fn scan_token(spec: &Spec, code: &str, start: usize) -> (usize, Option<&'static str>) {
    let bytes = code.as_bytes();
    let rest = &bytes[start..];
    let byte = bytes[start];

    if let Some((open, close)) = spec.block_comment {
        if rest.starts_with(open.as_bytes()) {
            let end = find(bytes, start + open.len(), close.as_bytes())
                .map_or(bytes.len(), |found| found + close.len());
            return (end, Some(COMMENT));
        }
    }
    for marker in spec.line_comments {
        if rest.starts_with(marker.as_bytes()) && line_comment_allowed(spec, bytes, start, marker) {
            return (find_line_end(bytes, start), Some(COMMENT));
        }
    }
    if spec.has(languages::TRIPLE_QUOTES)
        && (rest.starts_with(b"\"\"\"") || rest.starts_with(b"'''"))
    {
        let end = find(bytes, start + 3, &rest[..3]).map_or(bytes.len(), |found| found + 3);
        return (end, Some(STRING));
    }
    if spec.quotes.contains(&byte) {
        if byte == b'\'' && spec.has(languages::LIFETIMES) && is_lifetime(code, start) {
            return (scan_identifier(spec, bytes, start + 1), Some(TYPE));
        }
        let multiline = spec.multiline_quotes.contains(&byte);
        return (scan_string(bytes, start, byte, multiline), Some(STRING));
    }
    if byte.is_ascii_digit() {
        return (scan_number(bytes, start), Some(NUMBER));
    }
    if byte == b'#'
        && spec.has(languages::HEX_COLORS)
        && next_is(bytes, start + 1, |b| b.is_ascii_hexdigit())
    {
        return (scan_identifier(spec, bytes, start + 1), Some(NUMBER));
    }
    if spec.sigils.contains(&byte) && next_is(bytes, start + 1, is_identifier_start) {
        return (scan_identifier(spec, bytes, start + 1), Some(KEYWORD));
    }
    let extra_start = spec.identifier_extras.contains(&byte)
        && next_is(bytes, start + 1, |b| {
            b.is_ascii_alphabetic() || spec.identifier_extras.contains(&b)
        });
    if is_identifier_start(byte) || extra_start {
        let end = scan_identifier(spec, bytes, start);
        return classify_identifier(spec, code, start, end);
    }
    // Anything else is one plain character (the caller rounds up to the character's end).
    (start + 1, None)
}

fn classify_identifier(
    spec: &Spec,
    code: &str,
    start: usize,
    end: usize,
) -> (usize, Option<&'static str>) {
    let bytes = code.as_bytes();
    let word = &code[start..end];
    let case_insensitive = spec.has(languages::CASE_INSENSITIVE);
    if languages::contains_word(spec.keywords, word, case_insensitive) {
        return (end, Some(KEYWORD));
    }
    if languages::contains_word(spec.types, word, case_insensitive) {
        return (end, Some(TYPE));
    }
    if spec.has(languages::COLON_KEYS)
        && bytes.get(end) == Some(&b':')
        && bytes.get(end + 1).is_none_or(|b| b.is_ascii_whitespace())
    {
        return (end, Some(TYPE));
    }
    if spec.has(languages::MACRO_BANG)
        && bytes.get(end) == Some(&b'!')
        && matches!(bytes.get(end + 1), Some(b'(' | b'[' | b'{'))
    {
        return (end + 1, Some(FUNCTION));
    }
    let mut after = end;
    while matches!(bytes.get(after), Some(b' ' | b'\t')) {
        after += 1;
    }
    if bytes.get(after) == Some(&b'(') {
        return (end, Some(FUNCTION));
    }
    if spec.has(languages::CAPITALIZED_TYPES) && bytes[start].is_ascii_uppercase() {
        return (end, Some(TYPE));
    }
    (end, None)
}

/// Bytes that start an identifier. Non-ASCII bytes count as identifier bytes so a multi-byte
/// character is always consumed whole.
fn is_identifier_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

fn is_identifier_byte(spec: &Spec, byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || byte == b'_'
        || byte >= 0x80
        || spec.identifier_extras.contains(&byte)
}

fn scan_identifier(spec: &Spec, bytes: &[u8], start: usize) -> usize {
    let mut end = start;
    while end < bytes.len() && is_identifier_byte(spec, bytes[end]) {
        end += 1;
    }
    end
}

fn next_is(bytes: &[u8], index: usize, predicate: impl Fn(u8) -> bool) -> bool {
    bytes.get(index).is_some_and(|&b| predicate(b))
}

/// A `#` comment in shells and YAML only starts a word: `$#` and `a#b` are not comments.
fn line_comment_allowed(spec: &Spec, bytes: &[u8], start: usize, marker: &str) -> bool {
    if !marker.starts_with('#') || !spec.has(languages::HASH_COMMENT_AFTER_SPACE) {
        return true;
    }
    start == 0 || bytes[start - 1].is_ascii_whitespace()
}

/// Rust's `'a` (a lifetime) versus `'a'` (a char literal): a lifetime is a quote, one
/// identifier character, and no closing quote right after it.
fn is_lifetime(code: &str, quote: usize) -> bool {
    let mut chars = code[quote + 1..].chars();
    match (chars.next(), chars.next()) {
        (Some(first), second) => (first.is_alphabetic() || first == '_') && second != Some('\''),
        (None, _) => false,
    }
}

/// Scans a quoted string with backslash escapes. Unless the quote may span lines, an
/// unterminated string stops at the end of its line so one stray apostrophe colours one line,
/// not the rest of the block.
fn scan_string(bytes: &[u8], start: usize, quote: u8, multiline: bool) -> usize {
    let mut index = start + 1;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 2,
            b'\n' if !multiline => return index,
            byte if byte == quote => return index + 1,
            _ => index += 1,
        }
    }
    bytes.len()
}

/// Numbers: digits, letters (hex digits, suffixes like `u32`, `px`), `_` separators, a `.`
/// followed by a digit, and a sign right after a decimal exponent.
fn scan_number(bytes: &[u8], start: usize) -> usize {
    let is_hex = bytes[start] == b'0' && matches!(bytes.get(start + 1), Some(b'x' | b'X'));
    let mut end = start + 1;
    while end < bytes.len() {
        let byte = bytes[end];
        let continues = byte.is_ascii_alphanumeric()
            || byte == b'_'
            || (byte == b'.' && next_is(bytes, end + 1, |b| b.is_ascii_digit()))
            || (matches!(byte, b'+' | b'-') && !is_hex && matches!(bytes[end - 1], b'e' | b'E'));
        if !continues {
            break;
        }
        end += 1;
    }
    end
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    if from > bytes.len() || needle.is_empty() {
        return None;
    }
    bytes[from..]
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|found| from + found)
}

fn find_line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |found| from + found)
}

/// HTML and XML: comments, tag names (`oc-k`), attribute names (`oc-t`) and quoted attribute
/// values (`oc-s`). Text between tags stays plain.
fn highlight_markup(code: &str, out: &mut String) {
    let bytes = code.as_bytes();
    let mut emitter = Emitter::new(code, out);
    let mut position = 0;
    while position < bytes.len() {
        let rest = &bytes[position..];
        if rest.starts_with(b"<!--") {
            let end = find(bytes, position + 4, b"-->").map_or(bytes.len(), |found| found + 3);
            emitter.span(position, end, COMMENT);
            position = end;
        } else if rest[0] == b'<'
            && next_is(bytes, position + 1, |b| {
                b.is_ascii_alphabetic() || b"/!?".contains(&b)
            })
        {
            position = highlight_tag(&mut emitter, bytes, position);
        } else {
            position += 1;
        }
    }
    emitter.finish();
}

/// Highlights one tag starting at its `<` and returns the position after it (after `>`, or at
/// the next `<` or the end when the tag is unterminated).
fn highlight_tag(emitter: &mut Emitter<'_>, bytes: &[u8], open: usize) -> usize {
    let is_name_byte = |b: u8| b.is_ascii_alphanumeric() || b"-_:.".contains(&b) || b >= 0x80;
    let mut position = open + 1;
    if matches!(bytes.get(position), Some(b'/' | b'!' | b'?')) {
        position += 1;
    }
    let name_start = position;
    while position < bytes.len() && is_name_byte(bytes[position]) {
        position += 1;
    }
    if position > name_start {
        emitter.span(name_start, position, KEYWORD);
    }
    while position < bytes.len() {
        match bytes[position] {
            b'>' => return position + 1,
            b'<' => return position,
            quote @ (b'"' | b'\'') => {
                let end =
                    find(bytes, position + 1, &[quote]).map_or(bytes.len(), |found| found + 1);
                emitter.span(position, end, STRING);
                position = end;
            }
            byte if is_name_byte(byte) => {
                let start = position;
                while position < bytes.len() && is_name_byte(bytes[position]) {
                    position += 1;
                }
                emitter.span(start, position, TYPE);
            }
            _ => position += 1,
        }
    }
    position
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(lang: &str, code: &str, expected_html: &str) {
        assert_eq!(
            highlight(lang, code),
            expected_html,
            "lang {lang:?}, code {code:?}"
        );
    }

    /// Removes tags and decodes the five entities: what a browser would show as text.
    fn visible_text(html: &str) -> String {
        let mut text = String::new();
        let mut in_tag = false;
        for c in html.chars() {
            match c {
                '<' => in_tag = true,
                '>' if in_tag => in_tag = false,
                _ if !in_tag => text.push(c),
                _ => {}
            }
        }
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&amp;", "&")
    }

    #[test]
    fn rust_keywords_strings_numbers_comments_and_calls() {
        check(
            "rust",
            "fn main() {\n    let x = 42; // answer\n    println!(\"{x}\");\n}\n",
            "<span class=\"oc-k\">fn</span> <span class=\"oc-f\">main</span>() {\n    \
             <span class=\"oc-k\">let</span> x = <span class=\"oc-n\">42</span>; \
             <span class=\"oc-c\">// answer</span>\n    \
             <span class=\"oc-f\">println!</span>(<span class=\"oc-s\">&quot;{x}&quot;</span>);\n}\n",
        );
    }

    #[test]
    fn rust_lifetime_is_not_a_char_literal() {
        check(
            "rs",
            "&'a str 'b'",
            "&amp;<span class=\"oc-t\">&#39;a</span> <span class=\"oc-t\">str</span> <span class=\"oc-s\">&#39;b&#39;</span>",
        );
    }

    #[test]
    fn python_hash_comment_triple_quotes_and_capitalized_class() {
        check(
            "py",
            "def f(x):  # hi\n    return \"\"\"doc\nmore\"\"\" + Foo\n",
            "<span class=\"oc-k\">def</span> <span class=\"oc-f\">f</span>(x):  \
             <span class=\"oc-c\"># hi</span>\n    <span class=\"oc-k\">return</span> \
             <span class=\"oc-s\">&quot;&quot;&quot;doc\nmore&quot;&quot;&quot;</span> + \
             <span class=\"oc-t\">Foo</span>\n",
        );
    }

    #[test]
    fn javascript_template_string_spans_lines_and_block_comment() {
        check(
            "js",
            "/* a */ const s = `x\ny`;",
            "<span class=\"oc-c\">/* a */</span> <span class=\"oc-k\">const</span> s = \
             <span class=\"oc-s\">`x\ny`</span>;",
        );
    }

    #[test]
    fn sql_keywords_are_case_insensitive() {
        check(
            "SQL",
            "SELECT id FROM users -- all\nwhere name = 'o''k';",
            "<span class=\"oc-k\">SELECT</span> id <span class=\"oc-k\">FROM</span> users \
             <span class=\"oc-c\">-- all</span>\n<span class=\"oc-k\">where</span> name = \
             <span class=\"oc-s\">&#39;o&#39;</span><span class=\"oc-s\">&#39;k&#39;</span>;",
        );
    }

    #[test]
    fn bash_hash_is_a_comment_only_at_a_word_start() {
        check(
            "sh",
            "echo $# # count",
            "echo $# <span class=\"oc-c\"># count</span>",
        );
    }

    #[test]
    fn yaml_keys_and_values() {
        check(
            "yml",
            "name: oachat\nenabled: true # on\n",
            "<span class=\"oc-t\">name</span>: oachat\n<span class=\"oc-t\">enabled</span>: \
             <span class=\"oc-k\">true</span> <span class=\"oc-c\"># on</span>\n",
        );
    }

    #[test]
    fn html_tags_attributes_and_comments() {
        check(
            "html",
            "<!-- c --><a href=\"x\">t</a>",
            "<span class=\"oc-c\">&lt;!-- c --&gt;</span>&lt;<span class=\"oc-k\">a</span> \
             <span class=\"oc-t\">href</span>=<span class=\"oc-s\">&quot;x&quot;</span>&gt;t&lt;/\
             <span class=\"oc-k\">a</span>&gt;",
        );
    }

    #[test]
    fn c_preprocessor_and_css_at_rules_and_colors() {
        check(
            "c",
            "#include <stdio.h>",
            "<span class=\"oc-k\">#include</span> &lt;stdio.h&gt;",
        );
        check(
            "css",
            "@media x { a { color: #fff; margin: -2px } }",
            "<span class=\"oc-k\">@media</span> x { a { color: <span class=\"oc-n\">#fff</span>; \
             margin: -<span class=\"oc-n\">2px</span> } }",
        );
    }

    #[test]
    fn unknown_language_is_escaped_plain_text() {
        check("brainfuck", "<&>\"'", "&lt;&amp;&gt;&quot;&#39;");
        check("", "a < b", "a &lt; b");
    }

    #[test]
    fn aliases_resolve() {
        for lang in [
            "rust",
            "rs",
            "javascript",
            "js",
            "jsx",
            "typescript",
            "ts",
            "tsx",
            "python",
            "py",
            "java",
            "go",
            "golang",
            "c",
            "cpp",
            "c++",
            "cc",
            "h",
            "hpp",
            "csharp",
            "cs",
            "c#",
            "php",
            "sql",
            "bash",
            "sh",
            "shell",
            "zsh",
            "console",
            "json",
            "yaml",
            "yml",
            "html",
            "xml",
            "css",
            "kotlin",
            "kt",
            "swift",
            "ruby",
            "rb",
            "toml",
            "scss",
        ] {
            assert!(languages::lookup(lang).is_some(), "{lang} should be known");
        }
    }

    #[test]
    fn never_panics_and_never_loses_text() {
        let nasty = [
            "",
            "\"unterminated",
            "'",
            "/* open comment",
            "<!-- open",
            "<a href=\"open",
            "\"\"\"",
            "'é",
            "'\\",
            "\"\\",
            "0x",
            "1e",
            "#",
            "@",
            "é'ü'日本語\"字\\",
            "🦀'🦀'\"🦀",
            "r#\"raw\"#",
            "<",
            "<é",
            "a\u{0}b",
            "x = '\u{1F600}",
        ];
        let languages = [
            "rust", "js", "ts", "python", "java", "go", "c", "cpp", "cs", "php", "sql", "bash",
            "json", "yaml", "html", "css", "kotlin", "swift", "ruby", "toml", "none",
        ];
        for lang in languages {
            for code in nasty {
                let html = highlight(lang, code);
                assert_eq!(
                    visible_text(&html),
                    code.replace('\0', "\u{fffd}"),
                    "{lang} {code:?}"
                );
            }
        }
    }

    #[test]
    fn pseudo_random_inputs_round_trip_for_every_language() {
        // A deterministic soup of the characters the scanners care about.
        let alphabet: Vec<char> = "ab_1.9e+-x'\"`\\/*#<>!-@$:( )\n\té日🦀\u{0}"
            .chars()
            .collect();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..400 {
            let mut code = String::new();
            for _ in 0..(round % 40) {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                code.push(alphabet[(state % alphabet.len() as u64) as usize]);
            }
            for lang in [
                "rust", "python", "bash", "sql", "html", "css", "yaml", "c", "js",
            ] {
                let html = highlight(lang, &code);
                assert_eq!(
                    visible_text(&html),
                    code.replace('\0', "\u{fffd}"),
                    "{lang} {code:?}"
                );
                assert!(!html.contains('\''), "apostrophes must be escaped: {html}");
            }
        }
    }
}
