//! How fast one request's answer comes: the server's flags, overridden by a
//! `[mock chunks=N delay_ms=MS]` directive in the last user message, in turn
//! overridden by the `x-mock-chunks` / `x-mock-delay-ms` headers — field by
//! field, so a header can set the delay while the directive sets the chunks.
//!
//! The directive exists because a proxy under test forwards the message but
//! not a client's `x-mock-*` headers. Both go through the flag parsers in
//! [`crate::args`], so all three accept the same values. They differ in what
//! a bad value does: a bad header is the caller's 400 (it asked the mock
//! directly), a bad directive value is ignored (it is only text in a chat
//! message, and the message is still a valid request).
//!
//! The directive stays in the message: the answer quotes it verbatim like
//! the rest of the message.

use std::time::Duration;

use hyper::header::HeaderMap;

use crate::args::{parse_chunks, parse_delay_ms, StreamSettings};
use crate::directive::directive_value;
use crate::errors::ApiError;

pub const CHUNKS_HEADER: &str = "x-mock-chunks";
pub const DELAY_HEADER: &str = "x-mock-delay-ms";

/// Stream settings one request asks for; `None` keeps the weaker source's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PacingOverrides {
    pub chunks: Option<usize>,
    pub delay: Option<Duration>,
    /// Pause before each reasoning chunk; only the directive sets it, and
    /// without it reasoning is paced like content.
    pub think_delay: Option<Duration>,
}

impl PacingOverrides {
    /// The `x-mock-*` headers. A header that is present but not a valid value
    /// is an error naming the header.
    pub fn from_headers(headers: &HeaderMap) -> Result<PacingOverrides, ApiError> {
        let header = |name: &'static str| -> Result<Option<&str>, ApiError> {
            headers
                .get(name)
                .map(|value| {
                    value.to_str().map_err(|_| {
                        ApiError::invalid(name, format!("{name} must be ASCII digits"))
                    })
                })
                .transpose()
        };
        let chunks = header(CHUNKS_HEADER)?
            .map(|value| {
                parse_chunks(value).map_err(|message| ApiError::invalid(CHUNKS_HEADER, message))
            })
            .transpose()?;
        let delay = header(DELAY_HEADER)?
            .map(|value| {
                parse_delay_ms(value).map_err(|message| ApiError::invalid(DELAY_HEADER, message))
            })
            .transpose()?;
        Ok(PacingOverrides {
            chunks,
            delay,
            think_delay: None,
        })
    }

    /// The first `[mock ...]` directive in a message, e.g.
    /// `[mock chunks=120 delay_ms=1000]` (see [`crate::directive`]); invalid
    /// values are ignored, and a later valid value of a field replaces an
    /// earlier one. `think_ms` sets the pause before each reasoning chunk.
    pub fn from_message(text: &str) -> PacingOverrides {
        PacingOverrides {
            chunks: directive_value(text, "chunks", |value| parse_chunks(value).ok()),
            delay: directive_value(text, "delay_ms", |value| parse_delay_ms(value).ok()),
            think_delay: directive_value(text, "think_ms", |value| parse_delay_ms(value).ok()),
        }
    }

    /// These overrides, falling back to `weaker`'s field by field.
    pub fn or(self, weaker: PacingOverrides) -> PacingOverrides {
        PacingOverrides {
            chunks: self.chunks.or(weaker.chunks),
            delay: self.delay.or(weaker.delay),
            think_delay: self.think_delay.or(weaker.think_delay),
        }
    }

    pub fn apply(self, defaults: StreamSettings) -> StreamSettings {
        StreamSettings {
            chunks: self.chunks.unwrap_or(defaults.chunks),
            delay: self.delay.unwrap_or(defaults.delay),
        }
    }
}

/// How long a whole answer takes to generate at this pace: what a streamed
/// answer spends in its pauses, spent up front by `sk-mock-slowgen`.
pub fn generation_time(settings: StreamSettings) -> Duration {
    // Within the flag bounds this is at most 10 000 × 60 s; saturating only
    // keeps the arithmetic total.
    let chunks = u32::try_from(settings.chunks).unwrap_or(u32::MAX);
    settings.delay.saturating_mul(chunks)
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    const DEFAULTS: StreamSettings = StreamSettings {
        chunks: 40,
        delay: Duration::from_millis(15),
    };

    /// Settings as `(chunks, delay in ms)` for readable expectations.
    fn pair(settings: StreamSettings) -> (usize, u64) {
        (settings.chunks, settings.delay.as_millis() as u64)
    }

    #[track_caller]
    fn check_headers(headers: &[(&'static str, &str)], expected: Result<(usize, u64), &str>) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(*name, value);
            }
        }
        let settings = PacingOverrides::from_headers(&map)
            .map(|overrides| pair(overrides.apply(DEFAULTS)))
            .map_err(|error| match error {
                ApiError::InvalidParameter { param, .. } => param,
                _ => "other",
            });
        assert_eq!(settings, expected, "{headers:?}");
    }

    #[test]
    fn headers_override_stream_settings() {
        check_headers(&[], Ok((40, 15)));
        check_headers(&[("x-mock-chunks", "3")], Ok((3, 15)));
        check_headers(
            &[("x-mock-chunks", "3"), ("x-mock-delay-ms", "0")],
            Ok((3, 0)),
        );
        check_headers(&[("x-mock-chunks", "0")], Err("x-mock-chunks"));
        check_headers(&[("x-mock-delay-ms", "soon")], Err("x-mock-delay-ms"));
    }

    #[track_caller]
    fn check_directive(message: &str, expected: (usize, u64)) {
        let settings = PacingOverrides::from_message(message).apply(DEFAULTS);
        assert_eq!(pair(settings), expected, "{message:?}");
    }

    #[test]
    fn directive_sets_either_field_in_any_order() {
        check_directive("[mock chunks=120 delay_ms=1000]", (120, 1000));
        check_directive("[mock delay_ms=1000 chunks=120]", (120, 1000));
        check_directive("please answer slowly [mock delay_ms=250] thanks", (40, 250));
        check_directive("[mock chunks=7]", (7, 15));
        check_directive("[mock  chunks=7,delay_ms=0 ]", (7, 0));
        check_directive("[mock\nchunks=2]", (2, 15));
        check_directive("no directive here", (40, 15));
        check_directive("", (40, 15));
    }

    #[test]
    fn directive_ignores_what_it_cannot_use() {
        check_directive("[mock chunks=0 delay_ms=1000]", (40, 1000));
        check_directive("[mock chunks=abc delay_ms=-1]", (40, 15));
        check_directive("[mock chunks=10001]", (40, 15));
        check_directive("[mock delay_ms=60001]", (40, 15));
        check_directive("[mock speed=fast chunks]", (40, 15));
        check_directive("[mock chunks=5", (40, 15));
        check_directive("[mockery chunks=5]", (40, 15));
        check_directive("[MOCK chunks=5]", (40, 15));
        check_directive("[mock chunks=abc chunks=9]", (9, 15));
    }

    #[test]
    fn first_directive_wins() {
        check_directive("[mockup] [mock chunks=3] [mock chunks=4]", (3, 15));
        check_directive("[mock] [mock chunks=4]", (40, 15));
    }

    #[test]
    fn header_beats_directive_field_by_field() {
        let mut headers = HeaderMap::new();
        headers.insert(CHUNKS_HEADER, HeaderValue::from_static("5"));
        let from_headers = PacingOverrides::from_headers(&headers).unwrap_or_default();
        let from_message = PacingOverrides::from_message("[mock chunks=3 delay_ms=700]");
        assert_eq!(
            pair(from_headers.or(from_message).apply(DEFAULTS)),
            (5, 700)
        );
    }

    #[test]
    fn generation_time_is_chunks_times_delay() {
        let time = |chunks, millis| {
            generation_time(StreamSettings {
                chunks,
                delay: Duration::from_millis(millis),
            })
        };
        assert_eq!(time(40, 15), Duration::from_millis(600));
        assert_eq!(time(120, 1000), Duration::from_secs(120));
        assert_eq!(time(3, 0), Duration::ZERO);
        assert_eq!(time(usize::MAX, u64::MAX), Duration::MAX);
    }
}
