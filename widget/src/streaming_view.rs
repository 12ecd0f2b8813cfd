//! The answer being streamed, on screen: its DOM, its incremental renderer, and the text waiting
//! for the next animation frame. Chunks only queue text; the frame renders it once and writes
//! the DOM once, however many chunks arrived since the last paint.

use crate::core::streaming::{StreamingMarkdown, Update};
use crate::core::tail_update::{self, TailUpdate};
use crate::dom::AnimationFrame;
use crate::view::{self, AnswerView, View};

pub struct StreamingAnswer {
    pub id: u32,
    pub view: AnswerView,
    markdown: StreamingMarkdown,
    /// Text received since the last frame, not yet given to `markdown`.
    pending_text: String,
    /// The tail HTML the DOM shows now, to update it by appending text when that is all that
    /// changed (core/tail_update.rs).
    shown_tail: String,
    frame: Option<AnimationFrame>,
}

impl StreamingAnswer {
    pub fn new(id: u32, view: AnswerView) -> StreamingAnswer {
        StreamingAnswer {
            id,
            view,
            markdown: StreamingMarkdown::new(),
            pending_text: String::new(),
            shown_tail: String::new(),
            frame: None,
        }
    }

    /// Queues text for the next frame; true when no frame is requested yet (the caller asks
    /// for one with [`StreamingAnswer::set_frame`]).
    pub fn queue(&mut self, text: &str) -> bool {
        self.pending_text.push_str(text);
        self.frame.is_none()
    }

    pub fn set_frame(&mut self, frame: AnimationFrame) {
        self.frame = Some(frame);
    }

    /// The frame: renders the text received since the last one and writes it to the DOM.
    pub fn render_pending(&mut self, log: &View) {
        self.frame = None;
        if self.pending_text.is_empty() {
            return;
        }
        let update = self.markdown.push(&self.pending_text);
        self.pending_text.clear();
        self.show(update, log);
    }

    /// The end of the stream: renders everything left, the unfinished tail included.
    pub fn render_rest(&mut self, log: &View) {
        self.frame = None;
        let mut update = self.markdown.push(&self.pending_text);
        self.pending_text.clear();
        let last = self.markdown.finish();
        update.committed_html.push_str(&last.committed_html);
        update.tail_html = last.tail_html;
        self.show(update, log);
    }

    /// Writes one renderer update: new settled blocks are appended, the tail updated. The
    /// scroll position follows the answer only if the user was already at the bottom.
    fn show(&mut self, update: Update, log: &View) {
        // Read before writing: after the writes this read would force a layout of its own.
        let follow = log.near_bottom();
        if !update.committed_html.is_empty() {
            let _ = self
                .view
                .committed
                .insert_adjacent_html("beforeend", &update.committed_html);
        }
        let appended = match tail_update::plan(&self.shown_tail, &update.tail_html) {
            TailUpdate::Unchanged => true,
            TailUpdate::AppendText { path, text } => {
                view::append_text_at(&self.view.tail, &path, &text)
            }
            TailUpdate::Replace => false,
        };
        if !appended {
            self.view.tail.set_inner_html(&update.tail_html);
        }
        self.shown_tail = update.tail_html;
        if follow {
            log.scroll_to_bottom();
        }
    }
}
