//! Response bodies: whole JSON documents, and SSE streams paced by a clock.
//!
//! A stream body drives a [`StreamScript`] itself instead of being fed by a
//! spawned task through a channel: one object per stream, no task, and its
//! `Drop` is the single, reliable place that decides "finished" or
//! "aborted". Hyper drops the body as soon as the connection fails — it
//! watches for the client's EOF even while a response is being written — so
//! a client that hangs up mid-stream is counted within one poll.

use std::error::Error;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use tokio::time::{Instant, Sleep};

use crate::stats::Stats;
use crate::stream::{Event, Pause, StreamScript};
use crate::wire::Usage;

/// Returned to hyper to make it drop the connection without a (complete)
/// response: from the service for a non-streaming cut, from the body for a
/// streaming one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCut;

impl fmt::Display for ConnectionCut {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("connection cut on purpose (sk-mock-cut)")
    }
}

impl Error for ConnectionCut {}

pub enum ResponseBody {
    /// The whole body at once; `None` once it has been handed to hyper.
    Full(Option<Bytes>),
    Stream(Box<SseBody>),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = ConnectionCut;

    fn poll_frame(
        self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ConnectionCut>>> {
        match self.get_mut() {
            ResponseBody::Full(bytes) => {
                Poll::Ready(bytes.take().map(|bytes| Ok(Frame::data(bytes))))
            }
            ResponseBody::Stream(stream) => stream.poll_next_frame(context),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, ResponseBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        // An exact hint makes hyper send Content-Length instead of chunking.
        match self {
            ResponseBody::Full(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::Stream(_) => SizeHint::default(),
        }
    }
}

/// A 200-or-other JSON response.
pub fn json_response(status: StatusCode, value: &impl Serialize) -> Response<ResponseBody> {
    let (status, bytes) = match serde_json::to_vec(value) {
        Ok(bytes) => (status, Bytes::from(bytes)),
        // Only reachable through a bug in a Serialize impl; still answer.
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Bytes::from_static(br#"{"error":{"message":"mock-openai failed to serialise its response","type":"server_error","param":null,"code":null}}"#),
        ),
    };
    let mut response = Response::new(ResponseBody::Full(Some(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON response whose body is already serialised.
pub fn raw_json_response(status: StatusCode, body: String) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Full(Some(Bytes::from(body))));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A `text/event-stream` response around a stream body.
pub fn sse_response(body: SseBody) -> Response<ResponseBody> {
    let mut response = Response::new(ResponseBody::Stream(Box::new(body)));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub struct SseBody {
    script: StreamScript,
    delay: Duration,
    think_delay: Duration,
    /// Pauses end at absolute deadlines, so a stream of `k` pauses lasts
    /// `k × delay` however late the task is woken for any one of them.
    next_deadline: Instant,
    sleep: Pin<Box<Sleep>>,
    sleeping: bool,
    was_cut: bool,
    outcome: StreamOutcome,
}

impl SseBody {
    /// `delay` paces content chunks, `think_delay` reasoning chunks.
    pub fn new(
        script: StreamScript,
        delay: Duration,
        think_delay: Duration,
        stats: Arc<Stats>,
        key: String,
    ) -> SseBody {
        let now = Instant::now();
        let usage = script.usage();
        SseBody {
            script,
            delay,
            think_delay,
            next_deadline: now,
            sleep: Box::pin(tokio::time::sleep_until(now)),
            sleeping: false,
            was_cut: false,
            outcome: StreamOutcome {
                stats,
                key,
                usage,
                finished: false,
            },
        }
    }

    fn delay_of(&self, pause: Pause) -> Duration {
        match pause {
            Pause::Content => self.delay,
            Pause::Reasoning => self.think_delay,
        }
    }

    fn poll_next_frame(
        &mut self,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ConnectionCut>>> {
        loop {
            if self.sleeping {
                ready!(self.sleep.as_mut().poll(context));
                self.sleeping = false;
            }
            match self.script.next() {
                Some(Event::Frame(bytes)) => return Poll::Ready(Some(Ok(Frame::data(bytes)))),
                Some(Event::Wait(pause)) if self.delay_of(pause).is_zero() => {
                    // Yield once anyway: hyper flushes whenever the body is
                    // pending, so each piece still leaves as its own write.
                    context.waker().wake_by_ref();
                    return Poll::Pending;
                }
                Some(Event::Sleep(time)) => {
                    self.next_deadline += time;
                    self.sleep.as_mut().reset(self.next_deadline);
                    self.sleeping = true;
                }
                Some(Event::Wait(pause)) => {
                    self.next_deadline += self.delay_of(pause);
                    self.sleep.as_mut().reset(self.next_deadline);
                    self.sleeping = true;
                }
                Some(Event::Cut) => {
                    self.was_cut = true;
                    return Poll::Ready(Some(Err(ConnectionCut)));
                }
                None => {
                    self.outcome.finished = !self.was_cut;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

/// Records the stream's fate in the stats when the body goes away, whatever
/// the reason: finished, client gone, cut on purpose, or never polled.
struct StreamOutcome {
    stats: Arc<Stats>,
    key: String,
    usage: Usage,
    finished: bool,
}

impl Drop for StreamOutcome {
    fn drop(&mut self) {
        if self.finished {
            self.stats.record_stream_finished(&self.key, self.usage);
        } else {
            self.stats.record_stream_aborted(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;
    use serde_json::json;

    use super::*;
    use crate::chat::plan_chat;

    fn stream_body(
        stats: &Arc<Stats>,
        chunks: usize,
        delay: Duration,
        cut_after: Option<usize>,
    ) -> ResponseBody {
        let request =
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        let plan = match plan_chat(request.to_string().as_bytes(), "id".into(), 0) {
            Ok(plan) => plan,
            Err(error) => panic!("bad test request: {error:?}"),
        };
        let script = StreamScript::new(plan.completion, chunks, false, cut_after);
        ResponseBody::Stream(Box::new(SseBody::new(
            script,
            delay,
            delay,
            stats.clone(),
            "sk-mock-t".into(),
        )))
    }

    #[tokio::test(start_paused = true)]
    async fn finished_stream_is_counted_with_its_usage() {
        let stats = Arc::new(Stats::default());
        let started = Instant::now();
        let mut body = stream_body(&stats, 4, Duration::from_millis(15), None);
        let mut frames = 0;
        while let Some(Ok(_)) = body.frame().await {
            frames += 1;
        }
        assert_eq!(frames, 1 + 4 + 1 + 1);
        assert_eq!(started.elapsed(), Duration::from_millis(60));
        drop(body);
        let counters = stats.snapshot().keys["sk-mock-t"].clone();
        assert_eq!(
            (counters.streams_finished, counters.streams_aborted),
            (1, 0)
        );
        assert!(counters.completion_tokens > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn dropped_stream_is_counted_as_aborted() {
        let stats = Arc::new(Stats::default());
        let mut body = stream_body(&stats, 4, Duration::from_millis(15), None);
        let _head = body.frame().await;
        drop(body);
        let counters = stats.snapshot().keys["sk-mock-t"].clone();
        assert_eq!(
            (counters.streams_finished, counters.streams_aborted),
            (0, 1)
        );
        assert_eq!(counters.completion_tokens, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cut_stream_errors_and_is_counted_as_aborted() {
        let stats = Arc::new(Stats::default());
        let mut body = stream_body(&stats, 40, Duration::ZERO, Some(5));
        let mut frames = 0;
        let ending = loop {
            match body.frame().await {
                Some(Ok(_)) => frames += 1,
                other => break other.map(|result| result.map(|_| ())),
            }
        };
        assert_eq!(ending, Some(Err(ConnectionCut)));
        assert_eq!(frames, 1 + 5);
        drop(body);
        assert_eq!(stats.snapshot().keys["sk-mock-t"].streams_aborted, 1);
    }

    #[test]
    fn full_body_has_an_exact_length() {
        let body = ResponseBody::Full(Some(Bytes::from_static(b"{}")));
        assert_eq!(body.size_hint().exact(), Some(2));
    }

    #[tokio::test(start_paused = true)]
    async fn reasoning_chunks_take_their_own_delay() {
        let stats = Arc::new(Stats::default());
        let request = json!({"model": "m", "stream": true,
            "messages": [{"role": "user", "content": "hi [mock think=3]"}]});
        let plan = match plan_chat(request.to_string().as_bytes(), "id".into(), 0) {
            Ok(plan) => plan,
            Err(error) => panic!("bad test request: {error:?}"),
        };
        let script = StreamScript::new(plan.completion, 2, false, None);
        let mut body = ResponseBody::Stream(Box::new(SseBody::new(
            script,
            Duration::from_millis(10),
            Duration::from_millis(100),
            stats,
            "sk-mock-t".into(),
        )));
        let started = Instant::now();
        while let Some(Ok(_)) = body.frame().await {}
        // Three reasoning pauses of 100 ms, two content pauses of 10 ms.
        assert_eq!(started.elapsed(), Duration::from_millis(320));
    }
}
