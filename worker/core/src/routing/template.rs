//! Prompt templates: `{{user.name}}`, `{{date}}`, `{{org}}` and `{{input}}`.
//!
//! `{{name|fallback}}` renders `fallback` when the value is empty, so a prompt can say
//! "the assistant of {{org|the company}}" without reading oddly when `org` is unset. Unknown
//! variables stay as written, so a typo is visible in the output rather than silently dropped.
//! Values are inserted once and never re-scanned: a user typing `{{org}}` into their message
//! gets those characters back, not the organisation's name.

/// Values for the template variables.
#[derive(Clone, Copy, Debug, Default)]
pub struct TemplateVars<'a> {
    pub user_name: &'a str,
    /// The user's date, e.g. `2026-11-20`; the glue decides the format and time zone.
    pub date: &'a str,
    pub org: &'a str,
    pub input: &'a str,
}

impl<'a> TemplateVars<'a> {
    fn lookup(&self, name: &str) -> Option<&'a str> {
        match name {
            "user.name" => Some(self.user_name),
            "date" => Some(self.date),
            "org" => Some(self.org),
            "input" => Some(self.input),
            _ => None,
        }
    }
}

/// Render `template` with `vars`; see the module doc.
pub fn render_template(template: &str, vars: &TemplateVars<'_>) -> String {
    let mut out = String::with_capacity(template.len() + vars.input.len());
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        out.push_str(&rest[..open]);
        let after_open = &rest[open + 2..];
        let Some(close) = after_open.find("}}") else {
            out.push_str(&rest[open..]);
            return out;
        };
        let inner = &after_open[..close];
        let (name, fallback) = match inner.split_once('|') {
            Some((name, fallback)) => (name.trim(), Some(fallback.trim())),
            None => (inner.trim(), None),
        };
        match vars.lookup(name) {
            Some("") => out.push_str(fallback.unwrap_or("")),
            Some(value) => out.push_str(value),
            None => {
                out.push_str("{{");
                out.push_str(inner);
                out.push_str("}}");
            }
        }
        rest = &after_open[close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(template: &str, expected: &str) {
        let vars = TemplateVars {
            user_name: "王芳",
            date: "2026-11-20",
            org: "",
            input: "notes: {{org}}",
        };
        assert_eq!(render_template(template, &vars), expected);
    }

    #[test]
    fn renders_known_variables() {
        check(
            "Hi {{user.name}}, today is {{ date }}.",
            "Hi 王芳, today is 2026-11-20.",
        );
    }

    #[test]
    fn empty_value_uses_fallback() {
        check("at {{org|the company}}", "at the company");
        check("at {{org}}!", "at !");
    }

    #[test]
    fn unknown_and_unclosed_are_left_alone() {
        check("{{user.email}} and {{date", "{{user.email}} and {{date");
        check("no variables", "no variables");
        check("", "");
    }

    #[test]
    fn input_is_not_rescanned() {
        check("Report: {{input}}", "Report: notes: {{org}}");
    }
}
