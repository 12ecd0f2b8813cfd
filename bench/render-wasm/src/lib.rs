//! JS bindings for the in-browser render benchmark (see Cargo.toml).
use oachat_widget::core::markdown::render_markdown;
use oachat_widget::core::streaming::StreamingMarkdown;
use wasm_bindgen::prelude::*;

/// oachat's incremental renderer, one chunk at a time, as the widget's app.rs drives it.
#[wasm_bindgen]
pub struct Incremental {
    md: StreamingMarkdown,
    tail: String,
}

#[wasm_bindgen]
impl Incremental {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Incremental {
        Incremental { md: StreamingMarkdown::new(), tail: String::new() }
    }

    /// Pushes a chunk; returns the newly committed HTML (often empty). The new tail is `tail()`.
    pub fn push(&mut self, chunk: &str) -> String {
        let update = self.md.push(chunk);
        self.tail = update.tail_html;
        update.committed_html
    }

    /// Ends the message; returns committed HTML, the final tail is `tail()`.
    pub fn finish(&mut self) -> String {
        let update = self.md.finish();
        self.tail = update.tail_html;
        update.committed_html
    }

    pub fn tail(&self) -> String {
        self.tail.clone()
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
