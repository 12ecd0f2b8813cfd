//! Reading whole bodies through the runtime's own readers.
//!
//! `worker::Response::text` on a streamed body goes through `wasm-streams`, one JS↔wasm
//! round trip and one copy per network chunk. The platform's `Response.text()` reads the
//! body natively and crosses into wasm once, with the whole string.

use oachat_core::error::ProxyError;
use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The body limit of the small JSON endpoints (feedback, rename, admin calls): their bodies
/// are a few hundred bytes, and a worker isolate has 128 MB to lose to a hostile one.
pub const SMALL_BODY_BYTES: u64 = 16 * 1024;

/// A request body of at most `limit` bytes; 413 otherwise, before reading past the limit.
/// A declared `Content-Length` over the limit is refused unread; a body without one (chunked)
/// is read a chunk at a time and abandoned as soon as it passes the limit.
pub async fn request_bytes(req: &mut worker::Request, limit: u64) -> Result<Vec<u8>, ProxyError> {
    let unreadable = || ProxyError::InvalidRequest {
        message: "The request body could not be read.".into(),
        param: None,
    };
    let declared = req
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|length| length.trim().parse::<u64>().ok());
    if let Some(length) = declared {
        if length > limit {
            return Err(ProxyError::BodyTooLarge { limit });
        }
        // The runtime delivers exactly the declared length: one native read.
        let bytes = req.bytes().await.map_err(|_| unreadable())?;
        return match bytes.len() as u64 > limit {
            true => Err(ProxyError::BodyTooLarge { limit }),
            false => Ok(bytes),
        };
    }
    let Some(stream) = req.inner().body() else {
        return Ok(Vec::new());
    };
    let reader: web_sys::ReadableStreamDefaultReader =
        stream.get_reader().dyn_into().map_err(|_| unreadable())?;
    let mut bytes = Vec::new();
    while let Some(array) = next_chunk(&reader).await.map_err(|_| unreadable())? {
        if bytes.len() as u64 + u64::from(array.length()) > limit {
            // Stop reading and answer; the rest is never read. (Cancelling the stream instead
            // makes wrangler's dev proxy drop the connection before the 413 gets out.)
            reader.release_lock();
            return Err(ProxyError::BodyTooLarge { limit });
        }
        append(&mut bytes, &array);
    }
    Ok(bytes)
}

/// The next chunk of a byte stream; `None` at its end.
pub async fn next_chunk(
    reader: &web_sys::ReadableStreamDefaultReader,
) -> Result<Option<js_sys::Uint8Array>, wasm_bindgen::JsValue> {
    let chunk = JsFuture::from(reader.read()).await?;
    let done = js_sys::Reflect::get(&chunk, &"done".into())
        .ok()
        .and_then(|done| done.as_bool())
        .unwrap_or(true);
    if done {
        return Ok(None);
    }
    let value = js_sys::Reflect::get(&chunk, &"value".into())?;
    Ok(Some(value.dyn_into()?))
}

/// Appends a chunk's bytes (one copy out of JS memory).
pub fn append(bytes: &mut Vec<u8>, array: &js_sys::Uint8Array) {
    let start = bytes.len();
    bytes.resize(start + array.length() as usize, 0);
    array.copy_to(&mut bytes[start..]);
}

/// A small JSON request body (at most [`SMALL_BODY_BYTES`]), or a 400 that shows its shape.
pub async fn small_json<T: DeserializeOwned>(
    req: &mut worker::Request,
    param: &str,
    shape: &str,
) -> Result<T, ProxyError> {
    let bytes = request_bytes(req, SMALL_BODY_BYTES).await?;
    serde_json::from_slice(&bytes).map_err(|_| ProxyError::invalid(param, format!("Send {shape}.")))
}

/// The body of `response` as text (invalid UTF-8 is replaced, as `Response.text()` does).
pub async fn text(response: worker::Response) -> worker::Result<String> {
    let response: web_sys::Response = response.into();
    let text = JsFuture::from(response.text()?).await?;
    text.as_string()
        .ok_or_else(|| worker::Error::RustError("body is not text".into()))
}

/// The body of `response` parsed as JSON with `serde_json` (no JS object walk).
pub async fn json<T: DeserializeOwned>(response: worker::Response) -> worker::Result<T> {
    Ok(serde_json::from_str(&text(response).await?)?)
}

/// The raw body stream of `response`, if it has one.
pub fn stream(response: &worker::Response) -> Option<web_sys::ReadableStream> {
    match response.body() {
        worker::ResponseBody::Stream(stream) => Some(stream.clone().unchecked_into()),
        _ => None,
    }
}

/// A request body parsed as JSON with `serde_json` (no JS object walk).
pub async fn request_json<T: DeserializeOwned>(request: &mut worker::Request) -> worker::Result<T> {
    Ok(serde_json::from_str(&request.text().await?)?)
}
