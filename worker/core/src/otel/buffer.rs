//! The isolate's span buffer: spans wait here after their requests end, and one export sends
//! everything buffered. The first span into a buffer with no export pending asks the shell to
//! schedule one ([`Pushed::ScheduleExport`], on that request's `wait_until`, after
//! [`EXPORT_DELAY_MS`]), so a burst of requests costs one POST. Bounded: past its capacity
//! the oldest span is dropped and counted, so a collector that is down never grows an
//! isolate's memory. Time is injected.

use std::collections::VecDeque;

use super::span::ChatSpan;

/// How long the first span waits for others before the export: ~1 s batches a burst while
/// keeping traces near real time.
pub const EXPORT_DELAY_MS: u64 = 1_000;

/// How long one export may take before it is given up (the POST is aborted).
pub const EXPORT_TIMEOUT_MS: u64 = 5_000;

/// An export scheduled this long ago and never run (its request's `wait_until` was cut short,
/// the isolate evicted) no longer holds up the next one.
pub const STALE_EXPORT_MS: u64 = EXPORT_DELAY_MS + EXPORT_TIMEOUT_MS + 10_000;

/// Spans one isolate holds at most: with content capped at 2 × 16 KiB a span, an export
/// stays under ~7 MB.
pub const BUFFER_CAPACITY: usize = 200;

/// What the shell must do after a push.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// No export is pending: schedule one on this request's `wait_until`.
    ScheduleExport,
    /// An export is already pending; it will take this span too.
    Buffered,
}

/// What one export sends: the spans, and how many were dropped since the last export.
#[derive(Debug, Default, PartialEq)]
pub struct Batch {
    pub spans: Vec<ChatSpan>,
    pub dropped: u64,
}

#[derive(Debug)]
pub struct SpanBuffer {
    spans: VecDeque<ChatSpan>,
    capacity: usize,
    dropped: u64,
    /// When the pending export was scheduled; `None`: none is.
    export_scheduled_ms: Option<u64>,
}

impl Default for SpanBuffer {
    fn default() -> SpanBuffer {
        SpanBuffer::new(BUFFER_CAPACITY)
    }
}

impl SpanBuffer {
    pub fn new(capacity: usize) -> SpanBuffer {
        SpanBuffer {
            spans: VecDeque::new(),
            capacity: capacity.max(1),
            dropped: 0,
            export_scheduled_ms: None,
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Buffers `span`, dropping the oldest when full, and says whether an export must be
    /// scheduled.
    pub fn push(&mut self, span: ChatSpan, now_ms: u64) -> Pushed {
        if self.spans.len() >= self.capacity {
            self.spans.pop_front();
            self.dropped += 1;
        }
        self.spans.push_back(span);
        let pending = self
            .export_scheduled_ms
            .is_some_and(|at| now_ms.saturating_sub(at) < STALE_EXPORT_MS);
        if pending {
            Pushed::Buffered
        } else {
            self.export_scheduled_ms = Some(now_ms);
            Pushed::ScheduleExport
        }
    }

    /// Everything buffered, for the export that is due; the next push schedules the next
    /// one.
    pub fn take(&mut self) -> Batch {
        self.export_scheduled_ms = None;
        Batch {
            spans: self.spans.drain(..).collect(),
            dropped: std::mem::take(&mut self.dropped),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::otel::span::tests::{facts, row};

    fn span(id: &str) -> ChatSpan {
        let mut row = row();
        row.id = id.to_string();
        ChatSpan::build(facts(&row))
    }

    fn ids(batch: &Batch) -> Vec<String> {
        batch
            .spans
            .iter()
            .filter_map(|span| match span.attribute("oachat.request_id") {
                Some(crate::otel::AttributeValue::Str(id)) => Some(id.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_first_span_schedules_one_export_for_the_burst() {
        let mut buffer = SpanBuffer::new(10);
        assert_eq!(buffer.push(span("a"), 1_000), Pushed::ScheduleExport);
        assert_eq!(buffer.push(span("b"), 1_200), Pushed::Buffered);
        assert_eq!(buffer.push(span("c"), 1_900), Pushed::Buffered);
        let batch = buffer.take();
        assert_eq!(ids(&batch), ["a", "b", "c"]);
        assert_eq!(batch.dropped, 0);
        assert!(buffer.is_empty());
        // The export took everything: the next span schedules the next export.
        assert_eq!(buffer.push(span("d"), 2_100), Pushed::ScheduleExport);
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_and_counts_them() {
        let mut buffer = SpanBuffer::new(3);
        for (index, id) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            buffer.push(span(id), 1_000 + index as u64);
        }
        assert_eq!(buffer.len(), 3);
        let batch = buffer.take();
        assert_eq!(ids(&batch), ["c", "d", "e"]);
        assert_eq!(batch.dropped, 2);
        assert_eq!(buffer.take(), Batch::default());
    }

    #[test]
    fn an_export_that_never_ran_does_not_hold_up_the_next() {
        let mut buffer = SpanBuffer::new(10);
        assert_eq!(buffer.push(span("a"), 0), Pushed::ScheduleExport);
        assert_eq!(
            buffer.push(span("b"), STALE_EXPORT_MS - 1),
            Pushed::Buffered
        );
        // The scheduled export died with its request: a later span schedules another,
        // which takes both.
        assert_eq!(
            buffer.push(span("c"), STALE_EXPORT_MS),
            Pushed::ScheduleExport
        );
        assert_eq!(ids(&buffer.take()), ["a", "b", "c"]);
    }
}
