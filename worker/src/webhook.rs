//! Calls server tools' webhooks (docs/tools.md, "Server tools"): the signed request built by
//! `oachat_core::tools::webhook_request`, sent only to the configured URL, redirects never
//! followed, within `tools.webhook_timeout_ms`, the answer read to at most
//! `tools.webhook_max_bytes`. One log line per call: tool, status, duration, request id (never
//! the URL, the secret, or a body).

use futures_util::future::{join_all, select, Either};
use oachat_core::tools::{
    log_line, webhook_request, webhook_result_content, ToolCall, WebhookCaller, WebhookOutcome,
    NOT_A_SERVER_TOOL,
};
use wasm_bindgen::JsCast;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use crate::runtime::Runtime;
use crate::time::now_ms;

/// Answers `calls` (server tools' calls of one continuation) in parallel: `(call id, result
/// content)` for each.
pub async fn answer_calls(
    runtime: &Runtime,
    calls: &[ToolCall],
    caller: &WebhookCaller<'_>,
) -> Vec<(String, String)> {
    let answers = calls.iter().map(|call| answer_call(runtime, call, caller));
    join_all(answers).await
}

async fn answer_call(
    runtime: &Runtime,
    call: &ToolCall,
    caller: &WebhookCaller<'_>,
) -> (String, String) {
    let config = &runtime.config.tools;
    let (Some(tool), Some(secret)) = (config.server.get(&call.name), &runtime.tools_secret) else {
        // The config changed since the call was made: the tool is gone.
        return (call.id.clone(), format!("Error: {NOT_A_SERVER_TOOL}"));
    };
    let started_ms = now_ms();
    let request = webhook_request(call, caller, started_ms / 1000, secret);
    let controller = AbortController::default();
    let timeout_ms = u64::from(config.webhook_timeout_ms);
    let sent = send(
        &tool.url,
        &request,
        controller.signal(),
        config.webhook_max_bytes as usize,
    );
    let outcome = match select(
        Box::pin(sent),
        Box::pin(Delay::from(std::time::Duration::from_millis(timeout_ms))),
    )
    .await
    {
        Either::Left((outcome, _)) => outcome,
        Either::Right((_, unanswered)) => {
            // Given up: the request is cancelled, not left running in the isolate.
            drop(unanswered);
            controller.abort();
            WebhookOutcome::TimedOut
        }
    };
    // At `info`, so it shows beside the request lines (`console.log` is below wrangler's
    // default level).
    let line = log_line(
        &call.name,
        &outcome,
        now_ms().saturating_sub(started_ms),
        caller.request_id,
    );
    web_sys::console::info_1(&line.into());
    let content = webhook_result_content(&outcome, config.max_result_bytes as usize);
    (call.id.clone(), content)
}

/// Sends the request and reads a 2xx answer, at most `max_bytes` of it.
async fn send(
    url: &str,
    webhook: &oachat_core::tools::WebhookRequest,
    signal: worker::AbortSignal,
    max_bytes: usize,
) -> WebhookOutcome {
    let Ok(request) = build(url, webhook) else {
        return WebhookOutcome::Network;
    };
    let response = match Fetch::Request(request).send_with_signal(&signal).await {
        Ok(response) => response,
        Err(_) => return WebhookOutcome::Network,
    };
    let status = response.status_code();
    if !(200..300).contains(&status) {
        // The OA's error body is not read: it never reaches the model or a log.
        return WebhookOutcome::Status(status);
    }
    let Some(stream) = crate::body::stream(&response) else {
        return WebhookOutcome::Answered { body: Vec::new() };
    };
    let Ok(reader) = stream
        .get_reader()
        .dyn_into::<web_sys::ReadableStreamDefaultReader>()
    else {
        return WebhookOutcome::Network;
    };
    let mut body = Vec::new();
    loop {
        match crate::body::next_chunk(&reader).await {
            Ok(Some(array)) => {
                if body.len() + array.length() as usize > max_bytes {
                    let _ = reader.cancel();
                    return WebhookOutcome::TooLarge;
                }
                crate::body::append(&mut body, &array);
            }
            Ok(None) => return WebhookOutcome::Answered { body },
            Err(_) => return WebhookOutcome::Network,
        }
    }
}

fn build(url: &str, webhook: &oachat_core::tools::WebhookRequest) -> worker::Result<Request> {
    let headers = Headers::new();
    for (name, value) in &webhook.headers {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(webhook.body.as_str().into()));
    Request::new_with_init(url, &init)
}
