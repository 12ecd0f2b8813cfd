//! Streaming chat requests to the worker: `fetch` + a body reader + the shared SSE parser.

use js_sys::{Reflect, Uint8Array};
use oachat_protocol::names::TOOL_CALL_EVENT;
use oachat_protocol::{SseParser, CARD_EVENT, CONVERSATION_HEADER, REQUEST_ID_HEADER};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortSignal, ReadableStreamDefaultReader, RequestInit, Response};

use crate::core::delta::parse_delta;
use crate::core::failure::Failure;
use crate::core::json::Json;
use crate::dom::window;

/// What a stream delivers to the view, one event at a time.
pub enum StreamEvent {
    /// The worker accepted the request; its id is used for feedback. `conversation` is the
    /// server-side conversation (`x-oachat-conversation`) when the worker keeps one.
    Started {
        request_id: Option<String>,
        conversation: Option<String>,
    },
    /// More answer text.
    Delta(String),
    /// More reasoning (`delta.reasoning_content`), shown above the answer.
    Reasoning(String),
    /// A card, from an `event: oachat.card` SSE event: `{"card": name, "data": {...}}` as JSON.
    Card(String),
    /// A tool call, from an `event: oachat.tool_call` SSE event: `{id, name, arguments}`.
    ToolCall(String),
}

/// Posts `body` and calls `on_event` for each piece of the streamed answer.
/// Returns when the stream ends; an abort via `signal` returns `Ok(())` too.
pub async fn stream_chat(
    url: &str,
    token: Option<&str>,
    body: &str,
    signal: &AbortSignal,
    on_event: &mut dyn FnMut(StreamEvent),
) -> Result<(), Failure> {
    let response = post_json(url, token, body, Some(signal)).await?;
    if !response.ok() {
        return Err(failure_of(response).await);
    }
    let request_id = response.headers().get(REQUEST_ID_HEADER).ok().flatten();
    let conversation = response.headers().get(CONVERSATION_HEADER).ok().flatten();
    on_event(StreamEvent::Started {
        request_id,
        conversation,
    });

    let Some(stream) = response.body() else {
        return Ok(());
    };
    let reader: ReadableStreamDefaultReader = stream
        .get_reader()
        .dyn_into()
        .map_err(|_| Failure::Network)?;
    let mut parser = SseParser::new();
    loop {
        let chunk = match JsFuture::from(reader.read()).await {
            Ok(chunk) => chunk,
            Err(_) if signal.aborted() => return Ok(()),
            Err(_) => return Err(Failure::Network),
        };
        if Reflect::get(&chunk, &JsValue::from_str("done"))
            .ok()
            .and_then(|d| d.as_bool())
            .unwrap_or(true)
        {
            break;
        }
        let Ok(value) = Reflect::get(&chunk, &JsValue::from_str("value")) else {
            continue;
        };
        let bytes = Uint8Array::new(&value).to_vec();
        for event in parser.push(&bytes) {
            if event.is_done() {
                return Ok(());
            }
            if event.event.as_deref() == Some(CARD_EVENT) {
                on_event(StreamEvent::Card(event.data));
                continue;
            }
            if event.event.as_deref() == Some(TOOL_CALL_EVENT) {
                on_event(StreamEvent::ToolCall(event.data));
                continue;
            }
            // The answer so far stays on screen, with the worker's notice after it.
            if let Some(failure) = Failure::from_stream_event(&event.data) {
                return Err(failure);
            }
            let delta = parse_delta(&event.data);
            // A chunk carrying both ends the reasoning with its first answer text.
            if let Some(reasoning) = delta.reasoning {
                on_event(StreamEvent::Reasoning(reasoning));
            }
            if let Some(text) = delta.content {
                on_event(StreamEvent::Delta(text));
            }
        }
    }
    Ok(())
}

/// Sends a small JSON request (feedback, history) and returns the parsed answer.
pub async fn request_json(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> Result<Json, Failure> {
    let init = RequestInit::new();
    init.set_method(method);
    let headers = web_sys::Headers::new().map_err(|_| Failure::Network)?;
    if let Some(token) = token {
        let _ = headers.set("authorization", &format!("Bearer {token}"));
    }
    if let Some(body) = body {
        let _ = headers.set("content-type", "application/json");
        init.set_body(&JsValue::from_str(body));
    }
    init.set_headers(&headers);
    let response = fetch(url, &init).await?;
    if !response.ok() {
        return Err(failure_of(response).await);
    }
    let text = JsFuture::from(response.text().map_err(|_| Failure::Network)?)
        .await
        .map_err(|_| Failure::Network)?;
    Ok(Json::parse(&text.as_string().unwrap_or_default()).unwrap_or(Json::Null))
}

async fn post_json(
    url: &str,
    token: Option<&str>,
    body: &str,
    signal: Option<&AbortSignal>,
) -> Result<Response, Failure> {
    let init = RequestInit::new();
    init.set_method("POST");
    let headers = web_sys::Headers::new().map_err(|_| Failure::Network)?;
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("accept", "text/event-stream");
    if let Some(token) = token {
        let _ = headers.set("authorization", &format!("Bearer {token}"));
    }
    init.set_headers(&headers);
    init.set_body(&JsValue::from_str(body));
    init.set_signal(signal);
    fetch(url, &init).await
}

async fn fetch(url: &str, init: &RequestInit) -> Result<Response, Failure> {
    let promise = window().fetch_with_str_and_init(url, init);
    let response = JsFuture::from(promise)
        .await
        .map_err(|_| Failure::Network)?;
    response
        .dyn_into::<Response>()
        .map_err(|_| Failure::Network)
}

async fn failure_of(response: Response) -> Failure {
    let status = response.status();
    let retry_after = response.headers().get("retry-after").ok().flatten();
    let body = match response.text() {
        Ok(promise) => JsFuture::from(promise)
            .await
            .ok()
            .and_then(|t| t.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    };
    Failure::from_response(status, &body, retry_after.as_deref())
}
