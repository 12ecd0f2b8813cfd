//! Step 2 of routing: the operator's rules, checked before the classifier.
//!
//! A route's rule fires when the message length is inside its bounds (`min_chars`,
//! `max_chars`) and any of its conditions holds: a keyword (case-insensitive substring, which
//! works for Chinese since no word splitting is needed), a pattern, or "contains code". Bounds
//! alone (no other condition) form a length-only rule. Rules are tried by descending `priority`,
//! then by route name, and the first that fires wins.
//!
//! Patterns are deliberately small globs instead of regular expressions: no regex engine in a
//! Worker (size, and no catastrophic backtracking on user text), and operators rarely need more.
//! `*` matches any run of characters, `?` one character; a pattern matches anywhere unless it
//! starts with `^` (anchor at the start) or ends with `$` (anchor at the end). Matching is
//! case-insensitive.
//!
//! Keywords and patterns read only the first and last [`REQUEST_WINDOW_CHARS`] characters of a
//! long message, because that is where the request is ("总结下面这篇文章：…", "…translate
//! this into English"). A pasted document that mentions "SQL" in its middle is not a code
//! request, and a megabyte body is not lower-cased in full. Code detection reads a wider window
//! ([`CODE_WINDOW_CHARS`]): pasted code anywhere near the top or bottom counts.

use std::borrow::Cow;

use crate::config::Route;

/// Characters read at each end of a message for keywords and patterns.
pub const REQUEST_WINDOW_CHARS: usize = 200;

/// Characters read at each end of a message for code detection.
pub const CODE_WINDOW_CHARS: usize = 4000;

/// One route's rule, prepared once per isolate.
#[derive(Clone, Debug)]
pub struct CompiledRule {
    pub route: String,
    priority: i32,
    keywords: Vec<String>,
    patterns: Vec<Glob>,
    when_code: bool,
    min_chars: Option<u32>,
    max_chars: Option<u32>,
}

/// What a message looks like to the rules; computed once per decision.
pub struct MessageView {
    lowered: String,
    /// Lower-cased characters, only built when some rule has patterns.
    chars: Vec<char>,
    char_count: usize,
    has_code: bool,
}

impl MessageView {
    pub fn new(text: &str, need_chars: bool) -> MessageView {
        let lowered = ends_of(text, REQUEST_WINDOW_CHARS).to_lowercase();
        let chars = if need_chars {
            lowered.chars().collect()
        } else {
            Vec::new()
        };
        MessageView {
            char_count: text.chars().count(),
            has_code: contains_code(&ends_of(text, CODE_WINDOW_CHARS)),
            lowered,
            chars,
        }
    }

    pub fn has_code(&self) -> bool {
        self.has_code
    }
}

impl CompiledRule {
    /// `None` when the route has no rule at all.
    pub fn compile(name: &str, route: &Route) -> Option<CompiledRule> {
        let has_condition =
            !route.keywords.is_empty() || !route.patterns.is_empty() || route.when_code;
        let has_bounds = route.min_chars.is_some() || route.max_chars.is_some();
        if !has_condition && !has_bounds {
            return None;
        }
        Some(CompiledRule {
            route: name.to_string(),
            priority: route.priority,
            keywords: route
                .keywords
                .iter()
                .map(|keyword| keyword.to_lowercase())
                .filter(|keyword| !keyword.is_empty())
                .collect(),
            patterns: route
                .patterns
                .iter()
                .map(|pattern| Glob::new(pattern))
                .collect(),
            when_code: route.when_code,
            min_chars: route.min_chars,
            max_chars: route.max_chars,
        })
    }

    /// Sort for evaluation order: priority high to low, then name.
    pub fn sort(rules: &mut [CompiledRule]) {
        rules.sort_by(|a, b| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.route.cmp(&b.route))
        });
    }

    pub fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// Why the rule fired (for the decision's reason), or `None`.
    pub fn check(&self, message: &MessageView) -> Option<String> {
        let count = message.char_count as u64;
        if self.min_chars.is_some_and(|min| count < u64::from(min))
            || self.max_chars.is_some_and(|max| count > u64::from(max))
        {
            return None;
        }
        if self.when_code && message.has_code {
            return Some(format!("{}: contains code", self.route));
        }
        if let Some(keyword) = self
            .keywords
            .iter()
            .find(|keyword| message.lowered.contains(keyword.as_str()))
        {
            return Some(format!("{}: keyword \"{keyword}\"", self.route));
        }
        if let Some(pattern) = self
            .patterns
            .iter()
            .find(|pattern| pattern.matches(&message.chars))
        {
            return Some(format!("{}: pattern \"{}\"", self.route, pattern.source));
        }
        let only_bounds = self.keywords.is_empty() && self.patterns.is_empty() && !self.when_code;
        only_bounds.then(|| format!("{}: length {count}", self.route))
    }
}

/// The first and last `window` characters of `text` joined by a line break, or all of a text
/// no longer than both.
pub fn ends_of(text: &str, window: usize) -> Cow<'_, str> {
    let head_end = text.char_indices().nth(window).map(|(at, _)| at);
    let tail_start = text
        .char_indices()
        .rev()
        .nth(window.saturating_sub(1))
        .map(|(at, _)| at);
    match (head_end, tail_start) {
        (Some(head_end), Some(tail_start)) if head_end < tail_start => {
            Cow::Owned(format!("{}\n{}", &text[..head_end], &text[tail_start..]))
        }
        _ => Cow::Borrowed(text),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GlobToken {
    AnyRun,
    AnyOne,
    Literal(char),
}

/// A case-insensitive glob; see the module doc.
#[derive(Clone, Debug)]
pub struct Glob {
    source: String,
    tokens: Vec<GlobToken>,
}

impl Glob {
    pub fn new(pattern: &str) -> Glob {
        let lowered = pattern.to_lowercase();
        let anchored_start = lowered.starts_with('^');
        let anchored_end = lowered.ends_with('$') && lowered.len() > usize::from(anchored_start);
        let mut body = lowered.as_str();
        if anchored_start {
            body = &body[1..];
        }
        if anchored_end {
            body = &body[..body.len() - 1];
        }
        let mut tokens = Vec::with_capacity(body.len() + 2);
        if !anchored_start {
            tokens.push(GlobToken::AnyRun);
        }
        for c in body.chars() {
            let token = match c {
                '*' => GlobToken::AnyRun,
                '?' => GlobToken::AnyOne,
                other => GlobToken::Literal(other),
            };
            // Consecutive stars are one star; keeps matching linear in practice.
            if !(token == GlobToken::AnyRun && tokens.last() == Some(&GlobToken::AnyRun)) {
                tokens.push(token);
            }
        }
        if !anchored_end && tokens.last() != Some(&GlobToken::AnyRun) {
            tokens.push(GlobToken::AnyRun);
        }
        Glob {
            source: pattern.to_string(),
            tokens,
        }
    }

    /// Whole-text match of lower-cased characters. Greedy with one backtrack point per star:
    /// O(text × pattern) at worst, never exponential.
    pub fn matches(&self, text: &[char]) -> bool {
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < text.len() {
            match self.tokens.get(p) {
                Some(GlobToken::AnyRun) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(GlobToken::AnyOne) => {
                    t += 1;
                    p += 1;
                }
                Some(GlobToken::Literal(c)) if text.get(t) == Some(c) => {
                    t += 1;
                    p += 1;
                }
                _ => match star {
                    Some((star_p, star_t)) => {
                        p = star_p + 1;
                        t = star_t + 1;
                        star = Some((star_p, star_t + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p.min(self.tokens.len())..]
            .iter()
            .all(|token| *token == GlobToken::AnyRun)
    }
}

/// Marks that settle it alone: a Markdown fence, a shebang, PHP and C preprocessor openers.
const DEFINITE_CODE_MARKS: [&str; 4] = ["```", "#!/", "<?php", "#include"];

/// Case-sensitive tokens that are rare in prose but common in code.
const STRONG_CODE_TOKENS: [&str; 29] = [
    "def ",
    "fn ",
    "func ",
    "function ",
    "=> ",
    "->",
    "::",
    "();",
    ") {",
    "){",
    "</",
    "/>",
    "console.",
    "printf(",
    "System.out",
    "SELECT ",
    "INSERT INTO",
    "UPDATE ",
    "DELETE FROM",
    "CREATE TABLE",
    " WHERE ",
    "$(",
    "${",
    "&&",
    "||",
    "!=",
    "==",
    "+=",
    "import ",
];

/// Whether a message contains code: a definite mark, or enough code-like signals that prose with a
/// parenthesis or an arrow does not trip it. Scores:
/// distinct strong tokens 2 each; lines ending in `;`, `{` or `}` 1 each (at most 3);
/// two or more indented lines 1; `name(` calls twice or more 1; bracket-and-operator density
/// of 8 % or more 1. Three points make code.
pub fn contains_code(text: &str) -> bool {
    if DEFINITE_CODE_MARKS.iter().any(|mark| text.contains(mark)) {
        return true;
    }
    let mut score = 0u32;
    score += 2 * STRONG_CODE_TOKENS
        .iter()
        .filter(|token| text.contains(*token))
        .count() as u32;
    if score >= 3 {
        return true;
    }
    let mut line_ends = 0;
    let mut indented = 0;
    for line in text.lines() {
        let trimmed = line.trim_end();
        if trimmed.ends_with(';') || trimmed.ends_with('{') || trimmed.ends_with('}') {
            line_ends += 1;
        }
        if (line.starts_with("    ") || line.starts_with('\t')) && !line.trim().is_empty() {
            indented += 1;
        }
    }
    score += line_ends.min(3);
    if indented >= 2 {
        score += 1;
    }
    let mut calls = 0;
    let mut dense = 0usize;
    let mut visible = 0usize;
    let mut previous: Option<char> = None;
    for c in text.chars() {
        if !c.is_whitespace() {
            visible += 1;
        }
        if matches!(
            c,
            '{' | '}' | '[' | ']' | '(' | ')' | ';' | '=' | '<' | '>' | '$'
        ) {
            dense += 1;
        }
        if c == '(' && previous.is_some_and(|p| p.is_ascii_alphanumeric() || p == '_') {
            calls += 1;
        }
        previous = Some(c);
    }
    if calls >= 2 {
        score += 1;
    }
    if visible >= 15 && dense * 100 >= visible * 8 {
        score += 1;
    }
    score >= 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_glob(pattern: &str, text: &str, expected: bool) {
        let chars: Vec<char> = text.to_lowercase().chars().collect();
        assert_eq!(
            Glob::new(pattern).matches(&chars),
            expected,
            "{pattern:?} on {text:?}"
        );
    }

    #[test]
    fn globs() {
        check_glob("translate*into", "Please TRANSLATE this into French", true);
        check_glob("^translate", "Please translate", false);
        check_glob("^translate", "Translate this", true);
        check_glob("this$", "Translate this", true);
        check_glob("this$", "this one", false);
        check_glob("翻译*英文", "请把这段翻译成英文", true);
        check_glob("v?n", "the van", true);
        check_glob("v?n", "the vn", false);
        check_glob("^exact$", "exact", true);
        check_glob("^exact$", "exactly", false);
        check_glob("a*b*c", "xxaxxbxxcxx", true);
        check_glob("a*b*c", "xxaxxcxxbxx", false);
        check_glob("^", "", true);
    }

    #[test]
    fn glob_is_not_exponential() {
        let text: Vec<char> = "a".repeat(5000).chars().collect();
        assert!(!Glob::new("a*a*a*a*a*a*a*b").matches(&text));
    }

    #[track_caller]
    fn check_code(text: &str, expected: bool) {
        assert_eq!(contains_code(text), expected, "{text:?}");
    }

    #[test]
    fn code_detection() {
        check_code("```\nanything\n```", true);
        check_code("SELECT name FROM staff WHERE dept = 'HR'", true);
        check_code(
            "def total(items):\n    return sum(i.price for i in items)\n",
            true,
        );
        check_code("if (a == b) {\n  run();\n}", true);
        check_code("const x = await fetch(url);\nconsole.log(x);", true);
        check_code("#!/bin/bash\nfor f in *.log; do gzip \"$f\"; done", true);
        check_code("请在周五(5月3日)前提交报销单(含发票)", false);
        check_code(
            "Please send the report -> finance by Friday (urgent).",
            false,
        );
        check_code("Write a Python script that renames PDFs", false);
        check_code("把这段话翻译成英文：我们将于下周一开会。", false);
        check_code("", false);
    }

    #[test]
    fn rule_conditions_and_bounds() {
        let mut route = Route {
            keywords: vec!["Translate Into".to_string(), "翻译成".to_string()],
            max_chars: Some(40),
            ..Config::default().routes["translate"].clone()
        };
        route.patterns = vec!["^tl;dr".to_string()];
        let Some(rule) = CompiledRule::compile("translate", &route) else {
            panic!("route with keywords compiles to a rule");
        };
        let view = |text: &str| MessageView::new(text, rule.has_patterns());
        assert!(rule.check(&view("please translate into French")).is_some());
        assert!(rule.check(&view("翻译成英文")).is_some());
        assert!(rule.check(&view("TL;DR of this")).is_some());
        assert!(rule.check(&view("what is this")).is_none());
        let long = format!("translate into French: {}", "x".repeat(40));
        assert!(rule.check(&view(&long)).is_none(), "outside the bounds");

        let length_only = Route {
            min_chars: Some(3000),
            ..blank_route()
        };
        let Some(rule) = CompiledRule::compile("summarize", &length_only) else {
            panic!("bounds alone compile to a rule");
        };
        assert!(rule
            .check(&MessageView::new(&"字".repeat(3000), false))
            .is_some());
        assert!(rule.check(&MessageView::new("short", false)).is_none());
        assert!(CompiledRule::compile("general", &blank_route()).is_none());
    }

    #[test]
    fn keywords_read_the_ends_not_a_pasted_middle() {
        let route = Route {
            keywords: vec!["python".to_string()],
            ..blank_route()
        };
        let Some(rule) = CompiledRule::compile("code", &route) else {
            panic!("keywords compile to a rule");
        };
        let article = "公司今年推进数字化。".repeat(100);
        let middle = format!("帮我总结下面这篇文章：\n{article}我们用Python做了报表。{article}");
        assert!(rule.check(&MessageView::new(&middle, false)).is_none());
        let at_end = format!("{article}\n用Python写个脚本处理上面的数据");
        assert!(rule.check(&MessageView::new(&at_end, false)).is_some());
    }

    #[test]
    fn ends_of_keeps_short_text_whole() {
        assert_eq!(ends_of("abcdef", 3), "abcdef");
        assert_eq!(ends_of("abcdefg", 3), "abc\nefg");
        assert_eq!(ends_of("", 3), "");
        assert_eq!(ends_of("你好世界和平", 2), "你好\n和平");
    }

    use crate::config::Config;

    fn blank_route() -> Route {
        Route {
            keywords: Vec::new(),
            patterns: Vec::new(),
            when_code: false,
            min_chars: None,
            max_chars: None,
            ..Config::default().routes["general"].clone()
        }
    }
}
