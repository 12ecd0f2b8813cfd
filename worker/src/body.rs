//! Reading whole bodies through the runtime's own readers.
//!
//! `worker::Response::text` on a streamed body goes through `wasm-streams`, one JS↔wasm
//! round trip and one copy per network chunk. The platform's `Response.text()` reads the
//! body natively and crosses into wasm once, with the whole string.

use serde::de::DeserializeOwned;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

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
