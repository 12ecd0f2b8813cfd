//! An upstream answer's body once its head is in: read until the answer starts (the
//! first-token wait, `oachat_core::first_token`), and then handed on with what was read so
//! far, to the relay (streamed) or read to its end (assembled).

use futures_util::future::{select, Either};
use oachat_core::first_token::FirstTokenWatch;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ReadableStream, ReadableStreamDefaultReader};
use worker::Delay;

use crate::body::{append, next_chunk};
use crate::relay::IdentityTransformStream;

/// A started answer: the bytes read while waiting, and the reader of the rest.
pub struct UpstreamBody {
    pub reader: ReadableStreamDefaultReader,
    pub prefix: Vec<u8>,
    /// The stream `reader` reads, for [`UpstreamBody::read_all`].
    stream: ReadableStream,
}

/// Reads `response` until its answer starts, at most `timeout_ms`. `None`: it did not start
/// in time, and the body is cancelled. A body that ends or breaks before it starts counts as
/// started: the relay or the assembler reads that end and tells the client.
pub async fn wait_first_token(
    response: &worker::Response,
    timeout_ms: u64,
) -> Option<UpstreamBody> {
    // No body at all: an empty one, whose end tells the relay what happened.
    let stream = crate::body::stream(response).or_else(|| {
        web_sys::Response::new_with_opt_str(Some(""))
            .ok()
            .and_then(|empty| empty.body())
    })?;
    let reader: ReadableStreamDefaultReader = stream.get_reader().unchecked_into();
    let mut prefix = Vec::new();
    let waited = {
        let watch = watch(&reader, &mut prefix);
        let deadline = Delay::from(std::time::Duration::from_millis(timeout_ms));
        matches!(
            select(Box::pin(watch), Box::pin(deadline)).await,
            Either::Left(_)
        )
    };
    if !waited {
        let _ = reader.cancel();
        return None;
    }
    Some(UpstreamBody {
        reader,
        prefix,
        stream,
    })
}

async fn watch(reader: &ReadableStreamDefaultReader, prefix: &mut Vec<u8>) {
    let mut watch = FirstTokenWatch::default();
    while let Ok(Some(chunk)) = next_chunk(reader).await {
        let start = prefix.len();
        append(prefix, &chunk);
        if watch.push(&prefix[start..]) {
            return;
        }
    }
}

impl UpstreamBody {
    /// The reader (still locked), what was read while waiting, and the stream it reads.
    pub fn into_parts(self) -> (ReadableStreamDefaultReader, Vec<u8>, ReadableStream) {
        (self.reader, self.prefix, self.stream)
    }

    /// The whole body: what was read while waiting, then the rest. The rest is read by the
    /// runtime itself (the stream, unlocked, piped into a native stream that a `Response`
    /// reads with `arrayBuffer()`), not chunk by chunk through wasm: a promise into wasm per network
    /// chunk cost a non-streamed answer about 1 CPU ms (the bench's cost ladder).
    pub async fn read_all(self) -> Result<Vec<u8>, JsValue> {
        let UpstreamBody {
            reader,
            prefix: mut bytes,
            stream,
        } = self;
        reader.release_lock();
        // A stream that was read from cannot be a `Response` body, but it can be piped: the
        // runtime moves the rest into a fresh native stream, which `arrayBuffer()` reads.
        let pass = IdentityTransformStream::new()?;
        let _piping = stream.pipe_to(&pass.writable());
        let rest = web_sys::Response::new_with_opt_readable_stream(Some(&pass.readable()))?;
        let buffer = JsFuture::from(rest.array_buffer()?).await?;
        append(&mut bytes, &js_sys::Uint8Array::new(&buffer));
        Ok(bytes)
    }
}
