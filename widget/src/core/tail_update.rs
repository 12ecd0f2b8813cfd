//! How to bring the streamed tail's DOM from one HTML string to the next with the least work.
//!
//! While an answer streams, its tail (see [`streaming`](super::streaming)) is re-rendered per
//! update, and most updates only add text at the end of the last paragraph, list item, cell or
//! code block: `<p>Hello wor</p>\n` becomes `<p>Hello world</p>\n`. Replacing the tail's
//! `innerHTML` for that makes the browser parse the HTML, rebuild and restyle every element of
//! the tail, and lay it out anew; appending `ld` to the last text node does none of the first
//! three. [`plan`] finds such updates; anything else is a [`TailUpdate::Replace`].
//!
//! The rule: the new HTML is the old one with text inserted just before a run of closing tags
//! at the end (separated by whitespace only). The closing tags say where that is in the DOM,
//! counting from the tail's element: the last child (or the one before a trailing whitespace
//! text node) of the last child... The view checks each step's tag name against the DOM and
//! replaces the whole tail if anything does not match, so a wrong plan costs speed, not
//! correctness.

/// What to do to the tail's DOM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TailUpdate<'a> {
    /// The HTML did not change.
    Unchanged,
    /// Append `text` (already unescaped, ready for a text node) at the end of the element that
    /// `path` leads to.
    AppendText {
        path: Vec<PathStep<'a>>,
        text: String,
    },
    /// Set the tail's `innerHTML` to the new HTML.
    Replace,
}

/// One step down from an element to its last child element, outermost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathStep<'a> {
    /// The child's tag name as written in the HTML (lowercase).
    pub tag: &'a str,
    /// The child is followed by a whitespace text node (the `\n` comrak writes after a block).
    pub before_trailing_text: bool,
}

/// Elements whose content may be appended to as text. Table and list containers are left out:
/// the HTML parser would move text out of them, so the DOM would no longer match the HTML.
const TEXT_CONTAINERS: &[&str] = &[
    "p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "del", "code", "pre", "a", "td",
    "th", "span", "sup", "sub",
];

/// Plans the update from `old` (what the tail's DOM shows) to `new`.
pub fn plan<'a>(old: &'a str, new: &str) -> TailUpdate<'a> {
    if old == new {
        return TailUpdate::Unchanged;
    }
    if old.is_empty() || new.len() <= old.len() {
        return TailUpdate::Replace;
    }
    let common = old
        .bytes()
        .zip(new.bytes())
        .take_while(|(a, b)| a == b)
        .count();
    // The rest of the old HTML must be all closing tags, and come back unchanged at the end.
    // Checked on bytes first: `common` may fall inside a multi-byte character. Once the byte
    // there is `<`, it is a character boundary, and so is the start of the same run in `new`.
    if !old.as_bytes()[common..].starts_with(b"</") {
        return TailUpdate::Replace;
    }
    let closing = &old[common..];
    if !new.ends_with(closing) {
        return TailUpdate::Replace;
    }
    let inserted = &new[common..new.len() - closing.len()];
    let (Some(text), Some(path)) = (unescape(inserted), closing_path(closing)) else {
        return TailUpdate::Replace;
    };
    match path.last() {
        Some(innermost) if TEXT_CONTAINERS.contains(&innermost.tag) => {
            TailUpdate::AppendText { path, text }
        }
        _ => TailUpdate::Replace,
    }
}

/// Reads `</a>\n</b>\n` into the path from the outermost element (`b`) to the innermost (`a`),
/// or `None` if it holds anything but closing tags and whitespace.
fn closing_path(closing: &str) -> Option<Vec<PathStep<'_>>> {
    let mut path = Vec::new();
    let mut rest = closing;
    while !rest.is_empty() {
        let after_open = rest.strip_prefix("</")?;
        let end = after_open.find('>')?;
        let tag = &after_open[..end];
        if tag.is_empty() || !tag.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return None;
        }
        rest = &after_open[end + 1..];
        let whitespace = rest.len() - rest.trim_start_matches([' ', '\n']).len();
        path.push(PathStep {
            tag,
            before_trailing_text: whitespace > 0,
        });
        rest = &rest[whitespace..];
    }
    path.reverse();
    Some(path)
}

/// The text that HTML stands for, if it is text only: no tags, and only the five entities the
/// renderers write (`&amp;` `&lt;` `&gt;` `&quot;` `&#39;`).
fn unescape(html: &str) -> Option<String> {
    if html.contains(['<', '>']) {
        return None;
    }
    let mut text = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(ampersand) = rest.find('&') {
        text.push_str(&rest[..ampersand]);
        rest = &rest[ampersand..];
        let (character, length) = [
            ("&amp;", '&'),
            ("&lt;", '<'),
            ("&gt;", '>'),
            ("&quot;", '"'),
            ("&#39;", '\''),
        ]
        .iter()
        .find(|(entity, _)| rest.starts_with(entity))
        .map(|(entity, character)| (*character, entity.len()))?;
        text.push(character);
        rest = &rest[length..];
    }
    text.push_str(rest);
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(tag: &str, before_trailing_text: bool) -> PathStep<'_> {
        PathStep {
            tag,
            before_trailing_text,
        }
    }

    #[track_caller]
    fn check_append(old: &str, new: &str, path: &[PathStep], text: &str) {
        assert_eq!(
            plan(old, new),
            TailUpdate::AppendText {
                path: path.to_vec(),
                text: text.to_owned()
            }
        );
    }

    #[test]
    fn text_added_to_the_last_paragraph_is_appended() {
        check_append(
            "<h1>Title</h1>\n<p>Hello wor</p>\n",
            "<h1>Title</h1>\n<p>Hello world</p>\n",
            &[step("p", true)],
            "ld",
        );
    }

    #[test]
    fn the_path_follows_nested_closing_tags() {
        check_append(
            "<ul>\n<li>one</li>\n<li><strong>tw</strong></li>\n</ul>\n",
            "<ul>\n<li>one</li>\n<li><strong>two</strong></li>\n</ul>\n",
            &[step("ul", true), step("li", true), step("strong", false)],
            "o",
        );
        check_append(
            "<pre class=\"oc-code-pending\"><code>fn main() {\n</code></pre>\n",
            "<pre class=\"oc-code-pending\"><code>fn main() {\n    let x = &quot;&lt;b&gt;&quot;;</code></pre>\n",
            &[step("pre", true), step("code", false)],
            "    let x = \"<b>\";",
        );
    }

    #[test]
    fn text_after_an_inline_element_goes_to_its_parent() {
        check_append(
            "<p>a <em>b</em></p>\n",
            "<p>a <em>b</em> and c</p>\n",
            &[step("p", true)],
            " and c",
        );
    }

    #[test]
    fn structural_changes_replace_the_tail() {
        // Emphasis closing turns text into an element.
        assert_eq!(
            plan("<p>**bol</p>\n", "<p><strong>bold</strong></p>\n"),
            TailUpdate::Replace
        );
        // A new block, not text.
        assert_eq!(
            plan("<p>a</p>\n", "<p>a</p>\n<p>b</p>\n"),
            TailUpdate::Replace
        );
        // Text inside a table row or list container would be moved by the HTML parser.
        assert_eq!(
            plan("<table><tr></tr></table>\n", "<table><tr>x</tr></table>\n"),
            TailUpdate::Replace
        );
        // Shorter, unknown entities, and the first render.
        assert_eq!(plan("<p>ab</p>\n", "<p>a</p>\n"), TailUpdate::Replace);
        assert_eq!(plan("<p>a</p>\n", "<p>a&copy;</p>\n"), TailUpdate::Replace);
        assert_eq!(plan("", "<p>a</p>\n"), TailUpdate::Replace);
        assert_eq!(plan("<p>a</p>\n", "<p>a</p>\n"), TailUpdate::Unchanged);
    }

    #[test]
    fn multibyte_text_is_cut_at_character_boundaries() {
        check_append("<p>中</p>\n", "<p>中文</p>\n", &[step("p", true)], "文");
        // The common prefix ends inside `中`/`丫` (same first bytes): not an append.
        assert_eq!(plan("<p>中</p>\n", "<p>丫x</p>\n"), TailUpdate::Replace);
    }
}
