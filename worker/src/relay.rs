//! The streaming relay: upstream SSE bytes in, client SSE bytes out, metered on the way.
//!
//! Each complete event is forwarded as soon as it is parsed (never buffering the answer).
//! When the stream ends, breaks, or is dropped because the client went away, the relay
//! reports how it ended and what was metered through a oneshot channel; the request's
//! `wait_until` task awaits that to settle budgets and write the ledger row. Dropping the
//! relay drops the upstream body, which cancels the upstream fetch: tokens stop being
//! generated when nobody is reading.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_channel::oneshot;
use futures_util::Stream;
use worker::ByteStream;

use crate::core::ledger::Ending;
use crate::core::metering::StreamMeter;
use crate::core::relay::RelayCore;
use crate::time::now_ms;

/// How a relayed stream ended, with its meter.
pub struct RelayEnd {
    pub ending: Ending,
    pub meter: StreamMeter,
    /// When the first event reached the client (ms since epoch), if any did.
    pub first_event_ms: Option<u64>,
    pub ended_ms: u64,
}

pub struct Relay {
    upstream: ByteStream,
    /// `None` once the end was reported.
    core: Option<RelayCore>,
    report: Option<oneshot::Sender<RelayEnd>>,
    first_event_ms: Option<u64>,
}

impl Relay {
    pub fn new(upstream: ByteStream, core: RelayCore) -> (Relay, oneshot::Receiver<RelayEnd>) {
        let (sender, receiver) = oneshot::channel();
        let relay = Relay {
            upstream,
            core: Some(core),
            report: Some(sender),
            first_event_ms: None,
        };
        (relay, receiver)
    }

    fn end(&mut self, ending: Ending) {
        if let (Some(sender), Some(core)) = (self.report.take(), self.core.take()) {
            let _ = sender.send(RelayEnd {
                ending,
                meter: core.into_meter(),
                first_event_ms: self.first_event_ms,
                ended_ms: now_ms(),
            });
        }
    }
}

impl Stream for Relay {
    type Item = worker::Result<Vec<u8>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.as_mut().get_mut();
        loop {
            if this.report.is_none() {
                return Poll::Ready(None);
            }
            match Pin::new(&mut this.upstream).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => {
                    let out = this
                        .core
                        .as_mut()
                        .map(|core| core.push(&bytes))
                        .unwrap_or_default();
                    if out.is_empty() {
                        continue;
                    }
                    if this.first_event_ms.is_none() {
                        this.first_event_ms = Some(now_ms());
                    }
                    return Poll::Ready(Some(Ok(out.into_bytes())));
                }
                Poll::Ready(Some(Err(_))) => {
                    // The upstream connection broke. After the usage chunk that is only a lost
                    // `[DONE]`; before it, the client's stream ends with an error event after
                    // what arrived, and the ledger records the cut.
                    if this.core.as_ref().is_some_and(RelayCore::completed) {
                        this.end(Ending::Completed);
                        return Poll::Ready(None);
                    }
                    this.end(Ending::UpstreamCut);
                    return Poll::Ready(Some(Ok(RelayCore::broken().into_bytes())));
                }
                Poll::Ready(None) => {
                    let out = this
                        .core
                        .as_mut()
                        .map(RelayCore::finish)
                        .unwrap_or_default();
                    let finished = this.core.as_ref().is_some_and(RelayCore::completed);
                    this.end(if finished {
                        Ending::Completed
                    } else {
                        Ending::UpstreamCut
                    });
                    if out.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(out.into_bytes())));
                }
            }
        }
    }
}

impl Drop for Relay {
    /// Dropped before the end: the client disconnected (or the runtime cancelled us).
    fn drop(&mut self) {
        self.end(Ending::ClientAborted);
    }
}
