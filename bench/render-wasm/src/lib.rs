//! JS bindings for the in-browser render benchmark (see Cargo.toml).
use oachat_widget::core::markdown::render_markdown;
use oachat_widget::core::streaming::{StreamingMarkdown, Update};
use oachat_widget::core::tail_update::{self, TailUpdate};
use wasm_bindgen::prelude::*;

/// oachat's incremental renderer as the widget's app.rs drives it: each update is rendered, then
/// planned against the tail HTML the DOM shows (core/tail_update.rs), so the page can apply it
/// the way view.rs does: append text, or replace the tail.
#[wasm_bindgen]
pub struct Incremental {
    md: StreamingMarkdown,
    /// The tail HTML the page's DOM shows.
    shown_tail: String,
    /// 0: tail unchanged, 1: append `append_text` at `path_tags`/`path_flags`, 2: replace.
    tail_action: u8,
    append_text: String,
    path_tags: String,
    path_flags: String,
}

#[wasm_bindgen]
impl Incremental {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Incremental {
        Incremental {
            md: StreamingMarkdown::new(),
            shown_tail: String::new(),
            tail_action: 0,
            append_text: String::new(),
            path_tags: String::new(),
            path_flags: String::new(),
        }
    }

    /// Pushes text (one chunk, or all chunks of a frame); returns the newly committed HTML.
    pub fn push(&mut self, chunk: &str) -> String {
        let update = self.md.push(chunk);
        self.plan(update)
    }

    /// Ends the message; returns committed HTML.
    pub fn finish(&mut self) -> String {
        let update = self.md.finish();
        self.plan(update)
    }

    fn plan(&mut self, update: Update) -> String {
        self.tail_action = match tail_update::plan(&self.shown_tail, &update.tail_html) {
            TailUpdate::Unchanged => 0,
            TailUpdate::AppendText { path, text } => {
                self.append_text = text;
                self.path_tags = path.iter().map(|step| step.tag).collect::<Vec<_>>().join(" ");
                self.path_flags = path
                    .iter()
                    .map(|step| if step.before_trailing_text { '1' } else { '0' })
                    .collect();
                1
            }
            TailUpdate::Replace => 2,
        };
        self.shown_tail = update.tail_html;
        update.committed_html
    }

    pub fn tail_action(&self) -> u8 {
        self.tail_action
    }

    pub fn append_text(&self) -> String {
        self.append_text.clone()
    }

    pub fn path_tags(&self) -> String {
        self.path_tags.clone()
    }

    pub fn path_flags(&self) -> String {
        self.path_flags.clone()
    }

    pub fn tail(&self) -> String {
        self.shown_tail.clone()
    }
}

impl Default for Incremental {
    fn default() -> Self {
        Self::new()
    }
}

/// The full render of a whole message (what a re-render per chunk calls each time).
#[wasm_bindgen]
pub fn full_render(text: &str) -> String {
    render_markdown(text)
}
