//! Incremental rendering of a markdown answer that arrives in chunks.
//!
//! Re-rendering the whole message on every chunk is O(n²): a 20 KB answer in 2,000 chunks
//! spends most of a second in comrak (BUILD-NOTES). Instead the message is split into a
//! *committed* prefix, rendered once and never again, and a *tail* re-rendered per chunk.
//!
//! **Where to cut.** The tail is parsed on every push anyway (to render it), so the cut comes
//! from comrak's own parse rather than a second, hand-written block scanner. CommonMark block
//! parsing is one forward pass over lines: once a line starts a new top-level block, every
//! top-level block before it has been closed, and no later text can reopen or change it. So
//! the cut goes before the last top-level block that starts on a *complete* line (one followed
//! by a line ending) right after a blank line:
//! - complete, because a block starting on the unfinished last line proves nothing yet: a
//!   half-typed table row could turn out to be something else and end the table;
//! - after a blank line, because GFM tables break the forward pass: a delimiter row turns the
//!   line above it into a header and cuts it out of its paragraph. That line was read as a
//!   paragraph continuation and would read differently on its own (`10. ten` continues a
//!   paragraph but starts a list), so the text from there cannot be rendered separately.
//!   After a blank line no paragraph is open, and a line starting a block reads the same
//!   alone as in context. (A generated-document test found this; see its test.)
//!
//! An open fence, list, table or blockquote is always the last block, so nothing is ever cut
//! inside one; a list is only committed once a following block that is not part of it (say a
//! paragraph) has started. The text before the cut renders on its own exactly as in the full
//! message, and so does the text after it, because it starts fresh at a block start.
//!
//! **What the parse cannot see: link reference definitions.** `[label]: url` anywhere in a
//! message turns every `[label]` in it into a link, before or after the definition.
//! - A definition must never be committed, or the text after it would render without it. So
//!   when text about to be committed has a line containing `]:` outside code blocks (every
//!   definition has one), committing stops for the rest of the message. Conservative, and
//!   long answers with a definition fall back to whole-tail re-rendering (O(n²), as before).
//! - A `[label]` that no definition resolves yet could still become a link. Text about to be
//!   committed is rendered with a broken-link callback; if it fires, committing waits. If the
//!   tail grows past [`FORCED_COMMIT_TAIL_BYTES`] it commits anyway so a long answer with an
//!   early `[1]` does not stay uncommitted forever. **That is the one known divergence** from
//!   [`render_markdown`](super::markdown::render_markdown) of the whole text: a `[label]`
//!   whose definition arrives more than that many bytes later stays text.
//!
//! While a fenced code block is still open, the tail shows it as plain escaped text in
//! `pre.oc-code-pending`; it is highlighted once its fence closes (or at [`finish`]).
//!
//! [`finish`]: StreamingMarkdown::finish

use std::sync::atomic::{AtomicBool, Ordering};

use comrak::nodes::{AstNode, NodeValue};
use comrak::Arena;

use super::markdown::{self, OpenFences};

/// Past this many uncommitted bytes, settled blocks are committed even when they contain a
/// `[label]` a later definition could still resolve. 4 KiB bounds the per-chunk re-render to a
/// few KiB while keeping ordinary answers (which are shorter) exact.
const FORCED_COMMIT_TAIL_BYTES: usize = 4 * 1024;

/// What changed after a [`StreamingMarkdown::push`] or [`StreamingMarkdown::finish`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    /// Newly settled blocks, to append after everything committed before. Often empty.
    pub committed_html: String,
    /// The unsettled rest of the message. Replaces the previous tail.
    pub tail_html: String,
}

/// A growing markdown message: feed chunks with [`push`](Self::push), end with
/// [`finish`](Self::finish).
#[derive(Debug, Clone, Default)]
pub struct StreamingMarkdown {
    text: String,
    /// Bytes of `text` whose HTML has been handed out as `committed_html`. Always at a line
    /// start where a top-level block begins.
    committed_len: usize,
    /// A line that may be a link reference definition was about to be committed: commit no more.
    definition_seen: bool,
    /// The settled text after `committed_len` has an unresolved `[label]`: wait (see module docs).
    unresolved_reference_pending: bool,
}

impl StreamingMarkdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// The whole text received so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Forgets everything, ready for a new message.
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Appends a chunk of the message and returns what to append and the new tail.
    pub fn push(&mut self, chunk: &str) -> Update {
        self.text.push_str(chunk);
        let arena = Arena::new();
        let options = markdown::comrak_options(None);
        let root = comrak::parse_document(&arena, self.tail(), &options);
        let committed_html = self
            .settled_cut(root)
            .and_then(|cut| self.try_commit(root, cut));
        let tail_html = match committed_html {
            // The tail parsed above is still the tail: render it instead of parsing again.
            None => markdown::format_sanitized(&arena, root, &options, OpenFences::ShowPending),
            Some(_) => markdown::render(self.tail(), OpenFences::ShowPending, None),
        };
        Update {
            committed_html: committed_html.unwrap_or_default(),
            tail_html,
        }
    }

    /// Ends the message: the returned tail is final, with open fences highlighted as a full
    /// render would. All committed HTML plus this tail equals `render_markdown(self.text())`
    /// (see the module docs for the one exception).
    pub fn finish(&mut self) -> Update {
        Update {
            committed_html: String::new(),
            tail_html: markdown::render_markdown(self.tail()),
        }
    }

    fn tail(&self) -> &str {
        &self.text[self.committed_len..]
    }

    /// The byte offset in the tail before which everything is settled, if any: the start of
    /// the last top-level block (but the first) that begins on a complete line right after a
    /// blank line.
    ///
    /// Why after a blank line: see the module docs. A delimiter row (`|---|`) reaches one line
    /// back into an open paragraph; after a blank line there is none to reach into.
    fn settled_cut<'a>(&self, root: &'a AstNode<'a>) -> Option<usize> {
        if self.definition_seen {
            return None;
        }
        let tail = self.tail();
        let line_starts = line_starts(tail);
        let mut cut = None;
        for block in root.children().skip(1) {
            let line = block.data().sourcepos.start.line;
            // Line `n` (1-based) starts at `line_starts[n - 1]` and is complete when line
            // `n + 1` has started.
            if line < 2 || line >= line_starts.len() {
                continue;
            }
            let previous_line = &tail[line_starts[line - 2]..line_starts[line - 1]];
            if previous_line
                .bytes()
                .all(|byte| matches!(byte, b' ' | b'\t' | b'\r' | b'\n'))
            {
                cut = Some(line_starts[line - 1]);
            }
        }
        cut
    }

    /// Commits the tail's first `cut` bytes unless a reference could still change them.
    fn try_commit<'a>(&mut self, root: &'a AstNode<'a>, cut: usize) -> Option<String> {
        let forced = self.text.len() - self.committed_len >= FORCED_COMMIT_TAIL_BYTES;
        if self.unresolved_reference_pending && !forced {
            return None;
        }
        let segment = &self.text[self.committed_len..self.committed_len + cut];
        if may_define_references(segment, root) {
            self.definition_seen = true;
            return None;
        }
        let unresolved_reference = AtomicBool::new(false);
        let html = markdown::render(segment, OpenFences::Highlight, Some(&unresolved_reference));
        if unresolved_reference.load(Ordering::Relaxed) && !forced {
            self.unresolved_reference_pending = true;
            return None;
        }
        self.committed_len += cut;
        self.unresolved_reference_pending = false;
        Some(html)
    }
}

/// Byte offsets where lines start, splitting lines as comrak does (`\n`, `\r\n`, lone `\r`).
/// A `\r` at the very end does not end its line yet: the next chunk may bring its `\n`.
fn line_starts(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let mut starts = vec![0];
    let mut index = 0;
    while index < bytes.len() {
        match (bytes[index], bytes.get(index + 1)) {
            (b'\r', Some(b'\n')) => {
                starts.push(index + 2);
                index += 1;
            }
            (b'\r', None) => {}
            (b'\r' | b'\n', _) => starts.push(index + 1),
            _ => {}
        }
        index += 1;
    }
    starts
}

/// Whether `segment` (a prefix of the text `root` was parsed from) has a line that might be
/// a link reference definition: one containing `]:`, outside code blocks where definitions
/// cannot be (so TypeScript's `[key: string]: T` in a fence does not stop committing).
fn may_define_references<'a>(segment: &str, root: &'a AstNode<'a>) -> bool {
    let code_lines: Vec<(usize, usize)> = root
        .descendants()
        .filter(|node| matches!(node.data().value, NodeValue::CodeBlock(_)))
        .map(|node| {
            let sourcepos = node.data().sourcepos;
            (sourcepos.start.line, sourcepos.end.line)
        })
        .collect();
    let starts = line_starts(segment);
    starts.iter().enumerate().any(|(index, &start)| {
        let end = starts.get(index + 1).copied().unwrap_or(segment.len());
        let line_number = index + 1;
        segment[start..end].contains("]:")
            && !code_lines
                .iter()
                .any(|&(first, last)| (first..=last).contains(&line_number))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::markdown::render_markdown;

    /// Realistic assistant answers, each exercising block kinds that are easy to cut wrongly.
    const ANSWERS: &[&str] = &[
        // Headings, paragraphs, lists, a table, a fence, a blockquote.
        "# Setting up the widget\n\nAdd **one** script tag to your page. It loads the `.wasm` next to it \
         and renders a bubble in the corner.\n\n## Steps\n\n1. Copy the snippet.\n2. Paste it before \
         `</body>`.\n3. Reload.\n\n| Option | Default | Meaning |\n|--------|:-------:|---------|\n| `theme` \
         | `auto` | Light or dark |\n| `position` | `right` | Corner |\n\n```html\n<script src=\"/oachat.js\" \
         data-key=\"pk_123\"></script>\n```\n\n> **Note:** the key is public; limits protect it.\n> Rotate it \
         if it leaks.\n\n---\n\nThat's it. See [the docs](https://docs.example.com/widget) for more.\n",
        // Loose lists, nested lists, code inside list items, a list followed by another list type.
        "Here is the plan:\n\n- First, install:\n\n  ```bash\n  npm install oachat\n  ```\n\n- Then configure \
         it.\n  - nested one\n  - nested two\n\n- Finally, deploy.\n\n1. an ordered list\n2. right after\n\n* a \
         star list\n\nA closing paragraph with a soft\nbreak and a hard  \nbreak.\n",
        // Fences with tildes, longer fences containing shorter ones, indented code, setext headings.
        "Title\n=====\n\nSubtitle\n--------\n\n~~~~markdown\n```rust\nfn inner() {}\n```\n\n~~~\nnot closing\n\
         ~~~~\n\n    indented code\n\n    still code\n\nText after.\n\n````\n```\nstill inside\n````\n\nDone.\n",
        // Blockquotes with lazy continuation, nested quotes and lists, thematic breaks, HTML.
        "> quoted line\nlazy continuation\n\n> > nested\n> - list in quote\n> - second\n\n***\n\n<details>\n\
         <summary>Raw HTML</summary>\n\nshown as text\n</details>\n\n<!-- an HTML comment\n\nspanning blank \
         lines -->\n\nAfter the comment.\n",
        // Tables directly after paragraphs, tasks, autolinks, emphasis across lines.
        "Results:\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\nafter the table\n\n- [x] done\n- [ ] todo\n\nVisit \
         www.example.com or mail help@example.com. *Emphasis\nacross lines* and ~~strike~~.\n\n# Heading \
         right after\nParagraph right after heading.\n",
        // Reference links used before and after their definitions, citations.
        "According to the spec [1], streaming is fine. See also [the guide][guide].\n\nMore detail in \
         [guide] and [unknown].\n\n[1]: https://spec.example.com\n[guide]: https://guide.example.com \
         \"Guide\"\n\nAfter the definitions, [1] still links.\n",
        // A TypeScript fence with `]:` (not a definition), array indexing in prose code spans.
        "Use an index signature:\n\n```ts\ninterface Bag {\n  [key: string]: number;\n}\n```\n\nThen read \
         `bag[\"a\"]` and `xs[0]`.\n\nAnd a final paragraph.\n",
    ];

    /// Feeds `chunks` and checks, after every push, that what was committed is a prefix of the
    /// full render (so committed output never has to change), and at the end that committed
    /// plus the final tail is exactly the full render.
    #[track_caller]
    fn check_streaming<'c>(chunks: impl IntoIterator<Item = &'c str>) -> Vec<Update> {
        let mut stream = StreamingMarkdown::new();
        let mut updates = Vec::new();
        let mut committed = String::new();
        for chunk in chunks {
            let update = stream.push(chunk);
            committed.push_str(&update.committed_html);
            updates.push(update);
        }
        let expected = render_markdown(stream.text());
        assert!(
            expected.starts_with(&committed),
            "committed output is not a prefix of the full render\ntext: {:?}\ncommitted: {committed}\nexpected: {expected}",
            stream.text()
        );
        let last = stream.finish();
        assert_eq!(last.committed_html, "");
        assert_eq!(
            format!("{committed}{}", last.tail_html),
            expected,
            "streamed render differs for {:?}",
            stream.text()
        );
        updates
    }

    /// Every char boundary of `text`.
    fn boundaries(text: &str) -> impl Iterator<Item = usize> + '_ {
        (0..=text.len()).filter(|&index| text.is_char_boundary(index))
    }

    /// Splits `text` into chunks of 1 to `max_chunk` bytes (rounded to char boundaries) with a
    /// deterministic xorshift generator.
    fn random_chunks(text: &str, seed: u64, max_chunk: usize) -> Vec<&str> {
        let mut state = seed | 1;
        let mut chunks = Vec::new();
        let mut start = 0;
        while start < text.len() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut end = (start + 1 + (state % max_chunk as u64) as usize).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            chunks.push(&text[start..end]);
            start = end;
        }
        chunks
    }

    #[test]
    fn every_two_piece_split_renders_like_the_whole() {
        for answer in ANSWERS {
            for split in boundaries(answer) {
                check_streaming([&answer[..split], &answer[split..]]);
            }
        }
    }

    #[test]
    fn one_char_at_a_time_renders_like_the_whole() {
        for answer in ANSWERS {
            let chunks: Vec<&str> = boundaries(answer)
                .collect::<Vec<_>>()
                .windows(2)
                .map(|pair| &answer[pair[0]..pair[1]])
                .collect();
            check_streaming(chunks);
        }
    }

    #[test]
    fn random_chunkings_render_like_the_whole() {
        for answer in ANSWERS {
            for seed in 1..=25 {
                check_streaming(random_chunks(
                    answer,
                    seed * 7919,
                    1 + (seed as usize % 4) * 8,
                ));
            }
        }
    }

    #[test]
    fn answers_without_references_do_commit() {
        // Guards the properties above against passing because nothing was ever committed.
        for answer in ANSWERS.iter().filter(|answer| !answer.contains("]:")) {
            let updates = check_streaming(random_chunks(answer, 99, 9));
            assert!(
                updates
                    .iter()
                    .any(|update| !update.committed_html.is_empty()),
                "{answer:?}"
            );
        }
    }

    #[test]
    fn generated_documents_render_like_the_whole() {
        // Lines that start, continue or end blocks in tricky ways, glued in random orders.
        const LINES: &[&str] = &[
            "",
            "",
            "",
            "Some paragraph text.",
            "more *text* here",
            "- item",
            "* star item",
            "+ plus item",
            "  - nested item",
            "    indented or continuation",
            "1. one",
            "2) two",
            "10. ten",
            "> quote",
            "> - quoted item",
            ">",
            "```",
            "```rust",
            "````",
            "~~~",
            "~~~ py",
            "# Heading",
            "Heading ##",
            "===",
            "---",
            "***",
            "| a | b |",
            "|---|:-:|",
            "| 1 | 2 |",
            "no pipes row",
            "a | b",
            "|-",
            "-|-",
            "|---|",
            ":-:|",
            "<div>",
            "</div>",
            "<!--",
            "-->",
            "<pre>",
            "</pre>",
            "- [ ] task",
            "- [x] done",
            "see [x] and [y][]",
            "`code` span",
            "a  ",
            "b\\",
            "\t tab",
            "www.example.com",
            "<https://example.com>",
            "[x]: /url",
            "[y]: <u> 't'",
            "  ```",
            "   ~~~",
            "- ```",
            "> ```",
            "<script>",
            "</script>",
            "<?php",
            "?>",
            "<!X",
            "<![CDATA[",
            "]]>",
            "<custom-tag>",
            "  > nested quote",
            "1.",
            "-",
            "    - deep",
            "      code in item",
            "Term",
            ": detail",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for _ in 0..300 {
            let mut text = String::new();
            let line_ending = ["\n", "\n", "\n", "\r\n"][next(4)];
            for _ in 0..(5 + next(30)) {
                text.push_str(LINES[next(LINES.len())]);
                text.push_str(line_ending);
            }
            let seed = next(1_000_000) as u64;
            check_streaming(random_chunks(&text, seed, 1 + next(24)));
            let split = next(text.len() + 1);
            if text.is_char_boundary(split) {
                check_streaming([&text[..split], &text[split..]]);
            }
        }
    }

    #[test]
    fn crlf_and_lone_cr_line_endings_render_like_the_whole() {
        for answer in ANSWERS.iter().take(4) {
            for ending in ["\r\n", "\r"] {
                let text = answer.replace('\n', ending);
                for seed in 1..=10 {
                    check_streaming(random_chunks(&text, seed * 104_729, 12));
                }
                // A chunk ending between `\r` and `\n` in particular.
                for split in boundaries(&text).filter(|&split| text[..split].ends_with('\r')) {
                    check_streaming([&text[..split], &text[split..]]);
                }
            }
        }
    }

    #[test]
    fn settled_blocks_are_committed_once() {
        let updates = check_streaming([
            "# Title\n\nFirst paragraph.\n\nSecond",
            " paragraph.\n\nThird",
        ]);
        assert_eq!(updates[0].committed_html, "<h1>Title</h1>\n");
        assert_eq!(
            updates[0].tail_html,
            "<p>First paragraph.</p>\n<p>Second</p>\n"
        );
        // "Third" is on an unfinished line, so it does not yet prove "Second paragraph." settled.
        assert_eq!(updates[1].committed_html, "<p>First paragraph.</p>\n");
        assert_eq!(
            updates[1].tail_html,
            "<p>Second paragraph.</p>\n<p>Third</p>\n"
        );
    }

    #[test]
    fn half_typed_table_row_does_not_end_the_table() {
        let updates = check_streaming([
            "Intro.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n| 3",
            " | 4 |\n\nAfter.\n",
        ]);
        assert_eq!(updates[0].committed_html, "<p>Intro.</p>\n");
        assert!(
            updates[0].tail_html.contains("<td>3</td>"),
            "{}",
            updates[0].tail_html
        );
        assert!(
            updates[1].committed_html.contains("<td>3</td>\n<td>4</td>"),
            "{}",
            updates[1].committed_html
        );
        assert_eq!(updates[1].tail_html, "<p>After.</p>\n");
    }

    #[test]
    fn table_delimiter_reaching_into_a_paragraph_is_not_a_cut_point() {
        // Found by `generated_documents_render_like_the_whole`. `|-` makes `10. ten` a table
        // header cut out of the paragraph above; alone, `10. ten` would start a list.
        let updates = check_streaming(["Intro.\n\nline one\n10. ten\n|-\n", "\nAfter.\n"]);
        assert_eq!(updates[0].committed_html, "<p>Intro.</p>\n");
        // And a half-typed `|-` that briefly makes a table, then does not.
        check_streaming(["Intro.\n\n-->\nSome text.\n|-", "--|:-:|\nmore\n\nAfter.\n"]);
    }

    #[test]
    fn a_list_is_not_committed_while_a_blank_line_may_continue_it() {
        let updates = check_streaming(["- a\n- b\n\n", "- c\n\n", "Para", "graph.\n"]);
        for update in &updates[..3] {
            assert_eq!(update.committed_html, "", "a list item may still follow");
        }
        // Now the paragraph closed the list, which turned loose when `- c` joined it.
        assert!(
            updates[3]
                .committed_html
                .starts_with("<ul>\n<li>\n<p>a</p>"),
            "{}",
            updates[3].committed_html
        );
    }

    #[test]
    fn open_fence_is_pending_plain_text_until_it_closes() {
        let updates = check_streaming(["Intro.\n\n```rust\nfn main() {", "}\n``", "`\n"]);
        assert_eq!(
            updates[0].tail_html,
            "<pre class=\"oc-code-pending\"><code>fn main() {</code></pre>\n"
        );
        assert!(
            updates[1]
                .tail_html
                .starts_with("<pre class=\"oc-code-pending\">"),
            "`` is not a fence yet"
        );
        assert!(
            updates[2]
                .tail_html
                .contains("<span class=\"oc-k\">fn</span>"),
            "{}",
            updates[2].tail_html
        );
    }

    #[test]
    fn unclosed_fence_is_highlighted_at_finish() {
        let mut stream = StreamingMarkdown::new();
        stream.push("```py\nprint(1)\n");
        assert!(stream
            .finish()
            .tail_html
            .contains("<span class=\"oc-f\">print</span>"));
    }

    #[test]
    fn reference_used_before_its_definition_is_not_committed_as_text() {
        let text = "See [docs].\n\nMore text.\n\nEven more.\n\n[docs]: https://docs.example.com\n";
        let updates = check_streaming(text.split_inclusive('\n'));
        let committed: String = updates
            .iter()
            .map(|update| update.committed_html.as_str())
            .collect();
        assert!(!committed.contains("[docs]"), "{committed}");
    }

    #[test]
    fn definition_stops_committing() {
        let mut stream = StreamingMarkdown::new();
        stream.push("[d]: https://d.example\n\nUse [d].\n\nMore.\n\nAnd more.\n");
        assert!(stream.definition_seen);
        assert_eq!(stream.committed_len, 0);
    }

    #[test]
    fn long_answer_with_an_early_citation_still_commits() {
        let mut text = String::from("As shown in [1], this works.\n\n");
        for index in 0..200 {
            text.push_str(&format!(
                "Paragraph {index} explains one more detail of the answer.\n\n"
            ));
        }
        let mut stream = StreamingMarkdown::new();
        let mut committed = String::new();
        for chunk in random_chunks(&text, 42, 16) {
            committed.push_str(&stream.push(chunk).committed_html);
        }
        assert!(
            committed.contains("[1]"),
            "forced commit should have happened"
        );
        assert!(stream.text().len() - stream.committed_len < 2 * FORCED_COMMIT_TAIL_BYTES);
        // Without a definition the result is still exact.
        assert_eq!(
            format!("{committed}{}", stream.finish().tail_html),
            render_markdown(&text)
        );
    }

    #[test]
    fn reset_forgets_the_message() {
        let mut stream = StreamingMarkdown::new();
        stream.push("# One\n\nTwo\n\n[x]: y\n\n");
        stream.reset();
        assert_eq!(stream.text(), "");
        let update = stream.push("Fresh\n\nstart\n");
        assert_eq!(update.committed_html, "<p>Fresh</p>\n");
        assert_eq!(stream.text(), "Fresh\n\nstart\n");
    }

    #[test]
    fn line_starts_split_like_comrak() {
        assert_eq!(line_starts("a\nb\r\nc\rd"), vec![0, 2, 5, 7]);
        assert_eq!(
            line_starts("a\r"),
            vec![0],
            "a trailing CR may be half of CRLF"
        );
        assert_eq!(line_starts(""), vec![0]);
    }

    /// About 20 KB of varied markdown: the answers above, repeated.
    fn long_answer() -> String {
        let mut text = String::new();
        while text.len() < 20_000 {
            for answer in ANSWERS.iter().filter(|answer| !answer.contains("]:")) {
                text.push_str(answer);
                text.push('\n');
            }
        }
        text
    }

    /// Roughly 2,000 chunks of about ten bytes, like a token stream.
    fn token_sized_chunks(text: &str) -> Vec<&str> {
        random_chunks(text, 2024, 19)
    }

    #[test]
    fn twenty_kilobyte_answer_in_two_thousand_chunks_renders_like_the_whole() {
        let text = long_answer();
        let chunks = token_sized_chunks(&text);
        assert!(chunks.len() >= 1_500, "{} chunks", chunks.len());
        check_streaming(chunks);
    }
}
