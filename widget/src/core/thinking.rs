//! An answer's reasoning ("深度思考"): its text, whether the model is still thinking or has
//! started to answer, how long it thought, and whether the block is open on screen.
//!
//! Time comes in as milliseconds from the caller (the shell reads the clock), so the live
//! timer and the final duration are tested here without one.

use super::i18n::Strings;

/// Where the reasoning stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reasoning is streaming and no answer text came yet: the block is open, a timer runs.
    Thinking,
    /// The answer started (or the stream ended): the block collapses to one line.
    Answered,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thinking {
    pub text: String,
    phase: Phase,
    /// When the first reasoning arrived, and the latest: a stream that ends while still
    /// thinking (stopped, cut off) thought until its last reasoning chunk.
    started_ms: u64,
    last_ms: u64,
    /// How long it thought, once answered; `None` for reasoning read back from a stored
    /// conversation, which does not keep it.
    duration_ms: Option<u64>,
    /// Whether the block shows the reasoning or only its one-line summary.
    expanded: bool,
}

impl Thinking {
    /// Reasoning that starts streaming at `now_ms`: open, with the timer at zero.
    pub fn live(now_ms: u64) -> Thinking {
        Thinking {
            text: String::new(),
            phase: Phase::Thinking,
            started_ms: now_ms,
            last_ms: now_ms,
            duration_ms: None,
            expanded: true,
        }
    }

    /// Reasoning of a stored answer: collapsed, duration unknown.
    pub fn stored(text: String) -> Thinking {
        Thinking {
            text,
            phase: Phase::Answered,
            started_ms: 0,
            last_ms: 0,
            duration_ms: None,
            expanded: false,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn expanded(&self) -> bool {
        self.expanded
    }

    /// More reasoning, received at `now_ms`.
    pub fn push(&mut self, text: &str, now_ms: u64) {
        self.text.push_str(text);
        self.last_ms = self.last_ms.max(now_ms);
    }

    /// The answer started at `now_ms`: the thinking time is fixed and the block collapses.
    /// Returns false when it had already ended.
    pub fn conclude(&mut self, now_ms: u64) -> bool {
        if self.phase == Phase::Answered {
            return false;
        }
        self.phase = Phase::Answered;
        self.duration_ms = Some(now_ms.saturating_sub(self.started_ms));
        self.expanded = false;
        true
    }

    /// The stream ended while still thinking: it thought until its last reasoning chunk.
    pub fn conclude_at_last_chunk(&mut self) -> bool {
        self.conclude(self.last_ms)
    }

    /// Opens or closes the block (the summary line's button); returns the new state.
    pub fn toggle(&mut self) -> bool {
        self.expanded = !self.expanded;
        self.expanded
    }

    /// The summary line: "Thinking… 8 s" while thinking (whole seconds so far), "Thought for
    /// 12 s" after (rounded, at least 1), plain "Thought process" when the time is unknown.
    pub fn label(&self, strings: &Strings, now_ms: u64) -> String {
        let fill = |key: &str, seconds: u64| strings.get(key).replace("{s}", &seconds.to_string());
        match (self.phase, self.duration_ms) {
            (Phase::Thinking, _) => fill(
                "thinking_live",
                now_ms.saturating_sub(self.started_ms) / 1000,
            ),
            (Phase::Answered, Some(duration_ms)) => fill(
                "thought_for",
                (duration_ms.saturating_add(500) / 1000).max(1),
            ),
            (Phase::Answered, None) => strings.get("thought"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::core::i18n::Locale;

    fn english() -> Strings {
        Strings::new(Locale::En, HashMap::new())
    }

    fn chinese() -> Strings {
        Strings::new(Locale::ZhCn, HashMap::new())
    }

    #[test]
    fn the_live_timer_counts_whole_seconds_from_the_first_reasoning() {
        let mut thinking = Thinking::live(10_000);
        thinking.push("Let me see. ", 10_000);
        assert_eq!(thinking.label(&english(), 10_000), "Thinking… 0 s");
        assert_eq!(thinking.label(&english(), 18_999), "Thinking… 8 s");
        assert_eq!(thinking.label(&chinese(), 18_999), "正在思考… 8 秒");
        assert_eq!(thinking.phase(), Phase::Thinking);
        assert!(thinking.expanded());
    }

    #[test]
    fn the_answer_starting_fixes_the_duration_and_collapses_the_block() {
        let mut thinking = Thinking::live(1_000);
        assert!(thinking.conclude(12_600));
        assert_eq!(thinking.phase(), Phase::Answered);
        assert!(!thinking.expanded());
        // The clock moving on changes nothing once answered.
        assert_eq!(thinking.label(&english(), 99_000), "Thought for 12 s");
        assert_eq!(thinking.label(&chinese(), 99_000), "已深度思考 12 秒");
        assert!(!thinking.conclude(50_000), "concluded once");
        assert_eq!(thinking.label(&english(), 0), "Thought for 12 s");
    }

    #[test]
    fn a_short_thought_reads_one_second_not_zero() {
        let mut thinking = Thinking::live(1_000);
        thinking.conclude(1_200);
        assert_eq!(thinking.label(&english(), 1_200), "Thought for 1 s");
    }

    #[test]
    fn a_stream_that_ends_while_thinking_thought_until_its_last_chunk() {
        let mut thinking = Thinking::live(1_000);
        thinking.push("a", 2_000);
        thinking.push("b", 4_000);
        assert!(thinking.conclude_at_last_chunk());
        assert_eq!(thinking.label(&english(), 60_000), "Thought for 3 s");
    }

    #[test]
    fn a_clock_that_goes_back_never_underflows() {
        let mut thinking = Thinking::live(5_000);
        assert_eq!(thinking.label(&english(), 1_000), "Thinking… 0 s");
        thinking.push("late", 1_000);
        thinking.conclude(1_000);
        assert_eq!(thinking.label(&english(), 1_000), "Thought for 1 s");
    }

    #[test]
    fn stored_reasoning_is_collapsed_without_a_duration() {
        let mut thinking = Thinking::stored("Because 2 is prime.".into());
        assert_eq!(thinking.phase(), Phase::Answered);
        assert!(!thinking.expanded());
        assert_eq!(thinking.label(&chinese(), 5_000), "已深度思考");
        assert_eq!(thinking.label(&english(), 5_000), "Thought process");
        assert!(thinking.toggle());
        assert!(!thinking.toggle());
    }

    #[test]
    fn the_host_page_can_reword_the_labels() {
        let overrides = HashMap::from([("thought_for".to_string(), "想了 {s} 秒".to_string())]);
        let mut thinking = Thinking::live(0);
        thinking.conclude(3_000);
        let strings = Strings::new(Locale::ZhCn, overrides);
        assert_eq!(thinking.label(&strings, 0), "想了 3 秒");
    }
}
