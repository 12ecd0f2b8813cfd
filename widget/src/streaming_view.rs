//! The answer being streamed, on screen: its DOM, its incremental renderers (the answer's, and
//! its reasoning's once some arrives), and the text waiting for the next animation frame.
//! Chunks only queue text; the frame renders it once and writes the DOM once, however many
//! chunks arrived since the last paint.

use web_sys::Element;

use crate::core::streaming::{StreamingMarkdown, Update};
use crate::core::tail_update::{self, TailUpdate};
use crate::dom::AnimationFrame;
use crate::view::{self, AnswerView, MarkdownTarget, View};

pub struct StreamingAnswer {
    pub id: u32,
    pub view: AnswerView,
    answer: MarkdownStream,
    /// The reasoning shown above the answer, from its first `reasoning_content` on.
    reasoning: Option<MarkdownStream>,
    frame: Option<AnimationFrame>,
}

/// Which of the two texts a chunk belongs to.
#[derive(Clone, Copy)]
pub enum Part {
    Answer,
    Reasoning,
}

/// One markdown text streamed into a committed part and a tail (see core/streaming.rs).
struct MarkdownStream {
    markdown: StreamingMarkdown,
    /// Text received since the last frame, not yet given to `markdown`.
    pending_text: String,
    /// The tail HTML the DOM shows now, to update it by appending text when that is all that
    /// changed (core/tail_update.rs).
    shown_tail: String,
    committed: Element,
    tail: Element,
}

impl StreamingAnswer {
    pub fn new(id: u32, view: AnswerView) -> StreamingAnswer {
        let answer = MarkdownStream::new(view.markdown.clone());
        StreamingAnswer {
            id,
            view,
            answer,
            reasoning: None,
            frame: None,
        }
    }

    /// Gives the answer its reasoning block to stream into.
    pub fn begin_reasoning(&mut self, target: MarkdownTarget) {
        self.reasoning = Some(MarkdownStream::new(target));
    }

    /// Queues text for the next frame; true when no frame is requested yet (the caller asks
    /// for one with [`StreamingAnswer::set_frame`]).
    pub fn queue(&mut self, part: Part, text: &str) -> bool {
        let stream = match part {
            Part::Answer => Some(&mut self.answer),
            Part::Reasoning => self.reasoning.as_mut(),
        };
        match stream {
            Some(stream) => {
                stream.pending_text.push_str(text);
                self.frame.is_none()
            }
            None => false,
        }
    }

    pub fn set_frame(&mut self, frame: AnimationFrame) {
        self.frame = Some(frame);
    }

    /// The frame: renders the text received since the last one and writes it to the DOM.
    /// The scroll position follows the answer only if the user was already at the bottom.
    pub fn render_pending(&mut self, log: &View) {
        self.frame = None;
        // Read before writing: after the writes this read would force a layout of its own.
        let follow = log.near_bottom();
        if let Some(reasoning) = &mut self.reasoning {
            reasoning.render_pending();
        }
        self.answer.render_pending();
        if follow {
            log.scroll_to_bottom();
        }
    }

    /// The end of the stream: renders everything left, the unfinished tails included.
    pub fn render_rest(&mut self, log: &View) {
        self.frame = None;
        let follow = log.near_bottom();
        if let Some(reasoning) = &mut self.reasoning {
            reasoning.render_rest();
        }
        self.answer.render_rest();
        if follow {
            log.scroll_to_bottom();
        }
    }
}

impl MarkdownStream {
    fn new(target: MarkdownTarget) -> MarkdownStream {
        MarkdownStream {
            markdown: StreamingMarkdown::new(),
            pending_text: String::new(),
            shown_tail: String::new(),
            committed: target.committed,
            tail: target.tail,
        }
    }

    fn render_pending(&mut self) {
        if self.pending_text.is_empty() {
            return;
        }
        let update = self.markdown.push(&self.pending_text);
        self.pending_text.clear();
        self.show(update);
    }

    fn render_rest(&mut self) {
        let mut update = self.markdown.push(&self.pending_text);
        self.pending_text.clear();
        let last = self.markdown.finish();
        update.committed_html.push_str(&last.committed_html);
        update.tail_html = last.tail_html;
        self.show(update);
    }

    /// Writes one renderer update: new settled blocks are appended, the tail updated.
    fn show(&mut self, update: Update) {
        if !update.committed_html.is_empty() {
            let _ = self
                .committed
                .insert_adjacent_html("beforeend", &update.committed_html);
        }
        let appended = match tail_update::plan(&self.shown_tail, &update.tail_html) {
            TailUpdate::Unchanged => true,
            TailUpdate::AppendText { path, text } => view::append_text_at(&self.tail, &path, &text),
            TailUpdate::Replace => false,
        };
        if !appended {
            self.tail.set_inner_html(&update.tail_html);
        }
        self.shown_tail = update.tail_html;
    }
}
