//! How a dialect shapes a stream beyond its content: where `usage` goes,
//! whether chunks before it say `"usage": null`, Azure's prompt-filter
//! chunk, and DeepSeek's keep-alive comments while a request is queued.
//!
//! Usage placement, as the providers document or are reported to send it:
//!
//! | dialect | usage |
//! |---|---|
//! | openai, openai-compatible, azure, qwen | only with `stream_options.include_usage`: a final chunk with `"choices": []` |
//! | deepseek | always, on the chunk with `finish_reason`; `[mock usage=separate]` moves it to a usage-only chunk |
//! | moonshot | always, as `choices[0].usage` on the finishing chunk, no top-level `usage` |
//! | zhipu | always, on the finishing chunk, asked or not |
//! | doubao | with `include_usage` a final `"choices": []` chunk; with `stream_options.chunk_include_usage` or `[mock usage=running]` a running total on every chunk |

use std::time::Duration;

use super::Provider;

/// The SSE comment DeepSeek sends while a request waits to be scheduled.
pub const KEEP_ALIVE_FRAME: &[u8] = b": keep-alive\n\n";

/// The longest pause between keep-alive comments.
const KEEP_ALIVE_EVERY: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsagePlacement {
    /// The stream never reports usage.
    Absent,
    /// A chunk of its own after the finish, with `"choices": []`.
    FinalChunk,
    /// Top-level `usage` on the (last) chunk with a `finish_reason`.
    FinishChunk,
    /// `choices[0].usage` on the (last) chunk with a `finish_reason`.
    InChoice,
    /// Every chunk carries the usage so far; the finishing one the total.
    Running,
}

/// DeepSeek's queue: keep-alive comments every `interval` for `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    pub total: Duration,
    pub interval: Duration,
}

impl KeepAlive {
    /// Keep-alives for a queue of `total`: every min(500 ms, total / 4), so
    /// even a short queue shows several comments.
    pub fn for_queue(total: Duration) -> Option<KeepAlive> {
        if total.is_zero() {
            return None;
        }
        let interval = (total / 4).clamp(Duration::from_millis(1), KEEP_ALIVE_EVERY);
        Some(KeepAlive { total, interval })
    }

    /// How many comments the queue sends (one before each pause).
    pub fn count(self) -> usize {
        let count = self.total.as_nanos() / self.interval.as_nanos().max(1);
        usize::try_from(count).unwrap_or(usize::MAX).max(1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStyle {
    pub usage: UsagePlacement,
    /// OpenAI's `"usage": null` on every chunk before the usage chunk.
    pub null_usage_before: bool,
    /// Azure's first chunk: `"choices": []` and `prompt_filter_results`.
    pub prompt_filter_head: bool,
    pub keep_alive: Option<KeepAlive>,
}

impl StreamStyle {
    /// OpenAI's own stream: usage only when asked, as a final chunk.
    pub fn openai(include_usage: bool) -> StreamStyle {
        StreamStyle {
            usage: if include_usage {
                UsagePlacement::FinalChunk
            } else {
                UsagePlacement::Absent
            },
            null_usage_before: include_usage,
            prompt_filter_head: false,
            keep_alive: None,
        }
    }
}

/// What a request asked for that bears on the stream's shape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamAsk<'a> {
    pub include_usage: bool,
    /// Ark's `stream_options.chunk_include_usage`.
    pub chunk_include_usage: bool,
    /// The `[mock usage=...]` directive: `separate` or `running`.
    pub usage_directive: Option<&'a str>,
    /// `x-mock-queue-ms` or `[mock queue_ms=N]`.
    pub queue: Option<Duration>,
}

pub fn stream_style(provider: Provider, ask: StreamAsk<'_>) -> StreamStyle {
    let openai = StreamStyle::openai(ask.include_usage);
    let plain = |usage| StreamStyle {
        usage,
        null_usage_before: false,
        ..openai
    };
    match provider {
        Provider::OpenAi | Provider::OpenAiCompatible => openai,
        Provider::Azure => StreamStyle {
            prompt_filter_head: true,
            ..openai
        },
        Provider::Qwen => plain(openai.usage),
        Provider::DeepSeek => StreamStyle {
            keep_alive: ask.queue.and_then(KeepAlive::for_queue),
            ..plain(if ask.usage_directive == Some("separate") {
                UsagePlacement::FinalChunk
            } else {
                UsagePlacement::FinishChunk
            })
        },
        Provider::Moonshot => plain(UsagePlacement::InChoice),
        Provider::Zhipu => plain(UsagePlacement::FinishChunk),
        Provider::Doubao if ask.chunk_include_usage || ask.usage_directive == Some("running") => {
            plain(UsagePlacement::Running)
        }
        Provider::Doubao => plain(openai.usage),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage_of(provider: Provider, ask: StreamAsk<'_>) -> UsagePlacement {
        stream_style(provider, ask).usage
    }

    #[test]
    fn each_dialect_places_usage_its_own_way() {
        let asked = StreamAsk {
            include_usage: true,
            ..StreamAsk::default()
        };
        let unasked = StreamAsk::default();
        use UsagePlacement::*;
        for provider in [
            Provider::OpenAi,
            Provider::OpenAiCompatible,
            Provider::Azure,
            Provider::Qwen,
            Provider::Doubao,
        ] {
            assert_eq!(usage_of(provider, asked), FinalChunk, "{provider:?}");
            assert_eq!(usage_of(provider, unasked), Absent, "{provider:?}");
        }
        assert_eq!(usage_of(Provider::DeepSeek, unasked), FinishChunk);
        let separate = StreamAsk {
            usage_directive: Some("separate"),
            ..unasked
        };
        assert_eq!(usage_of(Provider::DeepSeek, separate), FinalChunk);
        assert_eq!(usage_of(Provider::Moonshot, unasked), InChoice);
        assert_eq!(usage_of(Provider::Zhipu, unasked), FinishChunk);
        let running = StreamAsk {
            usage_directive: Some("running"),
            ..unasked
        };
        assert_eq!(usage_of(Provider::Doubao, running), Running);
        let chunked = StreamAsk {
            chunk_include_usage: true,
            ..unasked
        };
        assert_eq!(usage_of(Provider::Doubao, chunked), Running);
        assert!(stream_style(Provider::OpenAi, asked).null_usage_before);
        assert!(!stream_style(Provider::Qwen, asked).null_usage_before);
        assert!(stream_style(Provider::Azure, unasked).prompt_filter_head);
    }

    #[test]
    fn keep_alives_come_every_half_second_or_faster() {
        let long = KeepAlive::for_queue(Duration::from_secs(3));
        assert_eq!(
            long.map(|k| (k.interval, k.count())),
            Some((Duration::from_millis(500), 6))
        );
        let short = KeepAlive::for_queue(Duration::from_millis(400));
        assert_eq!(
            short.map(|k| (k.interval, k.count())),
            Some((Duration::from_millis(100), 4))
        );
        assert_eq!(KeepAlive::for_queue(Duration::ZERO), None);
        let queued = StreamAsk {
            queue: Some(Duration::from_millis(800)),
            ..StreamAsk::default()
        };
        assert!(stream_style(Provider::DeepSeek, queued)
            .keep_alive
            .is_some());
        assert!(stream_style(Provider::OpenAi, queued).keep_alive.is_none());
    }
}
