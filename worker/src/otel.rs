//! OpenTelemetry traces (`[otel]`), the shell: a chat request's [`Trace`] rides on its
//! admission to where its ledger rows are settled, becomes a span there (built by
//! `oachat_core::otel`) and waits in this isolate's buffer; the first span of a batch schedules
//! one export on its request's `wait_until`, which sends everything buffered a second later in
//! one POST. Nothing here runs before a response is sent, and nothing a collector does (down,
//! slow, 500) reaches a client: the POST is time-boxed and its failure is one log line without
//! the URL's path, the headers or a body.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use futures_util::future::{select, Either};
use oachat_core::identity::opaque_user_id;
use oachat_core::ledger::LedgerRow;
use oachat_core::otel::{
    export_request, input_messages, output_completion, output_text, Bounded, ChatSpan,
    ChatSpanFacts, Pushed, SpanBuffer, SpanIds, TraceParent, EXPORT_DELAY_MS, EXPORT_TIMEOUT_MS,
    RANDOM_BYTES, TRACEPARENT_HEADER,
};
use oachat_core::plan::Plan;
use oachat_core::provider::Provider;
use serde_json::Value;
use wasm_bindgen::JsCast;
use worker::{
    AbortController, Context, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use crate::chat::Call;
use crate::limits::Admission;
use crate::runtime::Runtime;
use crate::time::now_ms;

thread_local! {
    /// Spans waiting for this isolate's next export.
    static BUFFER: RefCell<SpanBuffer> = RefCell::new(SpanBuffer::default());
}

/// The caller's valid `traceparent`, read only when traces are on: the span becomes a child
/// of the caller's trace.
pub fn incoming(req: &Request, runtime: &Runtime) -> Option<TraceParent> {
    if !runtime.config.otel.enabled() {
        return None;
    }
    let header = req.headers().get(TRACEPARENT_HEADER).ok().flatten()?;
    TraceParent::parse(&header)
}

/// A chat request's trace in the making, carried on its [`Admission`] to the settle. Empty,
/// and free, when `[otel]` is off.
#[derive(Default)]
pub struct Trace(Option<Box<Pending>>);

struct Pending {
    /// The request's own context, owned, so the export can go on its `wait_until` from
    /// wherever the request ends.
    ctx: Context,
    runtime: Rc<Runtime>,
    parent: Option<TraceParent>,
    tier: String,
    provider: Provider,
    conversation_id: Option<String>,
    /// The body sent upstream, kept only with `otel.capture_content` (turned into
    /// `gen_ai.input.messages` after the response, not on the request's path).
    upstream_body: Option<String>,
    finish_reasons: Vec<String>,
    output: Option<Bounded>,
}

/// Starts the trace of a planned and admitted request (`chat::serve`).
pub fn begin(call: &Call<'_>, plan: &Plan, admission: &Admission) -> Trace {
    let otel = &call.runtime.config.otel;
    if !otel.enabled() {
        return Trace::default();
    }
    let provider = call
        .runtime
        .config
        .upstreams
        .get(plan.upstream_index)
        .map_or(Provider::OpenAi, |upstream| upstream.provider);
    // A widget turn's conversation may be the one its admission just created.
    let conversation_id = admission.conversation_id.clone().or_else(|| {
        admission
            .turn
            .as_ref()
            .map(|turn| turn.conversation_id.clone())
    });
    let js_context: &wasm_bindgen::JsValue = call.ctx.as_ref().as_ref();
    Trace(Some(Box::new(Pending {
        ctx: Context::new(js_context.clone().unchecked_into()),
        runtime: call.runtime.clone(),
        parent: call.traceparent,
        tier: plan.identity.tier.clone(),
        provider,
        conversation_id,
        upstream_body: otel.capture_content.then(|| plan.body.clone()),
        finish_reasons: Vec::new(),
        output: None,
    })))
}

impl Trace {
    /// Whether the answer's text is recorded (a stream captures it only then).
    pub fn wants_content(&self) -> bool {
        self.0
            .as_ref()
            .is_some_and(|pending| pending.upstream_body.is_some())
    }

    /// The answer as streamed or cached: how it finished, and its text.
    pub fn answered(&mut self, finish_reason: Option<&str>, text: &str) {
        let Some(pending) = self.0.as_mut() else {
            return;
        };
        pending.finish_reasons = finish_reason.map(str::to_string).into_iter().collect();
        if pending.upstream_body.is_some() {
            pending.output = Some(output_text(text, finish_reason));
        }
    }

    /// A whole (non-streamed) completion: one finish reason per choice.
    pub fn answered_whole(&mut self, completion: &Value) {
        let Some(pending) = self.0.as_mut() else {
            return;
        };
        pending.finish_reasons = completion
            .get("choices")
            .and_then(Value::as_array)
            .map(|choices| {
                choices
                    .iter()
                    .filter_map(|choice| choice.get("finish_reason").and_then(Value::as_str))
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        if pending.upstream_body.is_some() {
            pending.output = Some(output_completion(completion));
        }
    }

    /// The request ended with `rows` (its own first): its span goes into the buffer, and the
    /// first span of a batch schedules the export on this request's `wait_until`. Once: the
    /// trace is empty afterwards.
    pub fn end(&mut self, rows: &[LedgerRow]) {
        let (Some(pending), Some(row)) = (self.0.take(), rows.first()) else {
            return;
        };
        let Some(ids) = SpanIds::from_random_hex(&crate::random::hex(RANDOM_BYTES), pending.parent)
        else {
            return;
        };
        // The same keyed id the upstream got as `user`: the identity never leaves.
        let user_key = pending
            .runtime
            .signing_secret
            .as_deref()
            .unwrap_or(b"oachat");
        let opaque_user = opaque_user_id(&row.user, user_key);
        let span = ChatSpan::build(ChatSpanFacts {
            ids,
            row,
            provider: pending.provider,
            tier: &pending.tier,
            conversation_id: pending.conversation_id.as_deref(),
            opaque_user: &opaque_user,
            finish_reasons: &pending.finish_reasons,
            input: pending.upstream_body.as_deref().map(input_messages),
            output: pending.output,
        });
        let pushed = BUFFER.with(|buffer| buffer.borrow_mut().push(span, now_ms()));
        if pushed == Pushed::ScheduleExport {
            let runtime = pending.runtime;
            pending.ctx.wait_until(export_after_delay(runtime));
        }
    }
}

/// How one export ended.
enum Outcome {
    Sent { rejected: u64 },
    Status(u16),
    Network,
    TimedOut,
}

/// Waits for the batch to fill, then sends everything buffered in one POST.
async fn export_after_delay(runtime: Rc<Runtime>) {
    Delay::from(Duration::from_millis(EXPORT_DELAY_MS)).await;
    let batch = BUFFER.with(|buffer| buffer.borrow_mut().take());
    let otel = &runtime.config.otel;
    let Some(url) = otel.traces_url() else {
        return;
    };
    let started_ms = now_ms();
    let outcome = if batch.spans.is_empty() {
        Outcome::Sent { rejected: 0 }
    } else {
        let body = export_request(&otel.service_name, &batch.spans);
        let controller = AbortController::default();
        let sent = send(&url, &runtime.otel_headers, body, controller.signal());
        match select(
            Box::pin(sent),
            Box::pin(Delay::from(Duration::from_millis(EXPORT_TIMEOUT_MS))),
        )
        .await
        {
            Either::Left((outcome, _)) => outcome,
            Either::Right((_, unanswered)) => {
                // Given up: the POST is cancelled, not left running in the isolate.
                drop(unanswered);
                controller.abort();
                Outcome::TimedOut
            }
        }
    };
    let failed = match outcome {
        Outcome::Sent { rejected: 0 } => None,
        Outcome::Sent { rejected } => Some(format!("the collector rejected {rejected}")),
        Outcome::Status(status) => Some(format!("HTTP {status}")),
        Outcome::Network => Some("network error".to_string()),
        Outcome::TimedOut => Some(format!("no answer in {EXPORT_TIMEOUT_MS} ms")),
    };
    let dropped = match batch.dropped {
        0 => String::new(),
        dropped => format!("; {dropped} older spans dropped (buffer full)"),
    };
    // One line, naming the collector's host only: its URL may carry a token, its headers do.
    if failed.is_some() || !dropped.is_empty() {
        worker::console_warn!(
            "oachat: otel export of {} spans to {}: {} ({} ms){dropped}",
            batch.spans.len(),
            otel.endpoint_host().unwrap_or_default(),
            failed.as_deref().unwrap_or("sent"),
            now_ms().saturating_sub(started_ms),
        );
    }
}

/// POSTs one export; redirects are not followed (the headers carry credentials).
async fn send(
    url: &str,
    headers: &[(String, String)],
    body: String,
    signal: worker::AbortSignal,
) -> Outcome {
    let Ok(request) = build(url, headers, body) else {
        return Outcome::Network;
    };
    let response = match Fetch::Request(request).send_with_signal(&signal).await {
        Ok(response) => response,
        Err(_) => return Outcome::Network,
    };
    let status = response.status_code();
    if !(200..300).contains(&status) {
        return Outcome::Status(status);
    }
    // A 200 may still reject some spans (OTLP's partial success).
    let text = crate::body::text(response).await.unwrap_or_default();
    let rejected = serde_json::from_str::<Value>(&text)
        .ok()
        .and_then(|answer| {
            let rejected = &answer["partialSuccess"]["rejectedSpans"];
            rejected
                .as_u64()
                .or_else(|| rejected.as_str().and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0);
    Outcome::Sent { rejected }
}

fn build(url: &str, extra: &[(String, String)], body: String) -> worker::Result<Request> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    for (name, value) in extra {
        headers.set(name, value)?;
    }
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual)
        .with_body(Some(body.into()));
    Request::new_with_init(url, &init)
}
