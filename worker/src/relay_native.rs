//! The streaming relay's native path, for a stream the client gets exactly as the upstream
//! sent it (`RelayCore::passes_through`: it asked for usage itself, no card, no translation,
//! a bounded answer). No JavaScript or wasm runs per chunk: the runtime moves the bytes.
//!
//! The upstream body (after what the first-token wait read, which is written first) is
//! tee'd. One branch is piped to the client's body; the other is piped into a second native
//! stream that the runtime reads to its end (`arrayBuffer()`). After the last byte, the whole
//! answer is fed to the same [`RelayCore`] the pump would have fed chunk by chunk, so the
//! meter, the ledger row and the ending are the pump's (`relay.rs` unit tests hold the two
//! equal). Per chunk the pump costs the runtime a promise into wasm and a write; at 500
//! chunks that was most of a stream's CPU.
//!
//! Endings, as the pump has them:
//! - the client goes away: its pipe fails with its side errored; the metering pipe is
//!   stopped (which cancels the upstream body, so tokens stop being generated) and what it
//!   took so far is metered, estimated, as `client_aborted`;
//! - the upstream breaks: the client's pipe leaves the client's side open
//!   (`preventAbort`), so the client still gets OpenAI's mid-stream error event after what
//!   arrived, written from `RelayCore::finish`, and the row says `upstream_cut`.
//!
//! The price of not looking at chunks: the metering branch holds the answer in the runtime
//! until the end (so only answers of at most `PASS_THROUGH_MAX_OUTPUT_TOKENS` come this way),
//! and a client slower than the upstream is buffered by the tee rather than slowing the
//! upstream down. The buffer goes into wasm a slice at a time, so a finished answer never
//! grows linear memory (which never shrinks) by more than a slice.

use js_sys::{ArrayBuffer, Uint8Array};
use oachat_core::ledger::Ending;
use oachat_core::relay::RelayCore;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, ReadableStream, StreamPipeOptions, WritableStream, WritableStreamDefaultWriter,
};

use crate::relay::{IdentityTransformStream, RelayEnd};
use crate::time::now_ms;
use crate::upstream_body::UpstreamBody;

/// How much of the buffered answer is copied into wasm at a time.
const FEED_BYTES: u32 = 64 * 1024;

/// A stream being passed through: answer with [`NativeRelay::client_body`], and await
/// [`NativeRelay::finished`] (in `wait_until`), which also drives the pipes.
pub struct NativeRelay {
    client: IdentityTransformStream,
    upstream: UpstreamBody,
    core: RelayCore,
}

impl NativeRelay {
    pub fn start(upstream: UpstreamBody, core: RelayCore) -> Result<NativeRelay, JsValue> {
        Ok(NativeRelay {
            client: IdentityTransformStream::new()?,
            upstream,
            core,
        })
    }

    pub fn client_body(&self) -> ReadableStream {
        self.client.readable()
    }

    /// Moves the stream to the client and meters it; resolves when it ended, broke, or the
    /// client went away.
    pub async fn finished(self) -> RelayEnd {
        let NativeRelay {
            client,
            upstream,
            mut core,
        } = self;
        let (reader, prefix, stream) = upstream.into_parts();
        let first_event_ms = (!prefix.is_empty()).then(now_ms);
        core.push(&prefix);
        let sink = client.writable();
        if !prefix.is_empty() && write(&sink, &prefix).await.is_err() {
            let _ = reader.cancel();
            return ended(core, Ending::ClientAborted, first_event_ms);
        }
        reader.release_lock();
        let piped = match pipe(&stream, &sink).await {
            Ok(piped) => piped,
            Err(_) => {
                // The pipes could not be set up: nothing more reached the client.
                let _ = stream.cancel();
                let _ = sink.abort();
                return ended(core, Ending::UpstreamCut, first_event_ms);
            }
        };
        for start in (0..piped.rest.length()).step_by(FEED_BYTES as usize) {
            let end = piped.rest.length().min(start + FEED_BYTES);
            core.push(&piped.rest.subarray(start, end).to_vec());
        }
        if piped.client_gone {
            return ended(core, Ending::ClientAborted, first_event_ms);
        }
        let tail = core.finish();
        if !piped.delivered {
            // The upstream broke and the client's side is still open: the error event after
            // what arrived (nothing when only `[DONE]` was lost), and the end. An empty write
            // is skipped: on this runtime it never resolves, and the settle would wait forever.
            if !tail.is_empty() {
                let _ = write(&sink, tail.as_bytes()).await;
            }
            if let Ok(writer) = sink.get_writer() {
                let _ = JsFuture::from(writer.close()).await;
            }
        }
        let ending = if core.completed() {
            Ending::Completed
        } else {
            Ending::UpstreamCut
        };
        ended(core, ending, first_event_ms)
    }
}

/// What the pipes did.
struct Piped {
    /// Every byte the upstream sent after the prefix (up to the client's leaving), still in
    /// the runtime's memory.
    rest: Uint8Array,
    /// The client's pipe ended with the upstream's end (and closed the client's side).
    delivered: bool,
    /// The client went away before the end.
    client_gone: bool,
}

/// Tees `upstream` into `client` and into a native buffer read to its end.
async fn pipe(upstream: &ReadableStream, client: &WritableStream) -> Result<Piped, JsValue> {
    let branches = upstream.tee();
    let to_client: ReadableStream = branches.get(0).unchecked_into();
    let to_meter: ReadableStream = branches.get(1).unchecked_into();
    let collector = IdentityTransformStream::new()?;
    let collected = web_sys::Response::new_with_opt_readable_stream(Some(&collector.readable()))?
        .array_buffer()?;
    let stop = AbortController::new()?;
    // The metering side stops when told (the client left), and leaves its buffer open so
    // what it took so far can still be read.
    let stoppable = StreamPipeOptions::new();
    stoppable.set_signal(&stop.signal());
    stoppable.set_prevent_abort(true);
    let metering = to_meter.pipe_to_with_options(&collector.writable(), &stoppable);
    // The client's side stays open when the upstream breaks (for the error event), and the
    // client's branch is cancelled here, not by the pipe, when the client leaves.
    let keep_open = StreamPipeOptions::new();
    keep_open.set_prevent_abort(true);
    keep_open.set_prevent_cancel(true);
    let delivered = JsFuture::from(to_client.pipe_to_with_options(client, &keep_open))
        .await
        .is_ok();
    // Both endings fail the pipe the same way ("Network connection lost"), and the client's
    // side looks writable in both: a write tells them apart. It fails when the client left;
    // after an upstream break it goes out, and the blank lines end any event the break cut
    // in half, so the error event that follows is read on its own.
    let client_gone = !delivered && write(client, b"\n\n").await.is_err();
    if client_gone {
        stop.abort();
        let _ = to_client.cancel();
    }
    if JsFuture::from(metering).await.is_err() {
        // Stopped, or the upstream broke: the buffer ends with what it took.
        if let Ok(writer) = collector.writable().get_writer() {
            let _ = writer.close();
        }
    }
    let buffer: ArrayBuffer = JsFuture::from(collected).await?.unchecked_into();
    Ok(Piped {
        rest: Uint8Array::new(&buffer),
        delivered,
        client_gone,
    })
}

/// Writes `bytes` to `sink` (unlocked) and releases it again.
async fn write(sink: &WritableStream, bytes: &[u8]) -> Result<(), JsValue> {
    let writer: WritableStreamDefaultWriter = sink.get_writer()?;
    let wrote = JsFuture::from(writer.write_with_chunk(&Uint8Array::from(bytes))).await;
    writer.release_lock();
    wrote.map(|_| ())
}

fn ended(core: RelayCore, ending: Ending, first_event_ms: Option<u64>) -> RelayEnd {
    let (meter, responses_stream) = core.into_parts();
    RelayEnd {
        ending,
        meter,
        responses_stream,
        first_event_ms,
        ended_ms: now_ms(),
    }
}
