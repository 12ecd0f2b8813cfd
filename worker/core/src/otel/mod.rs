//! OpenTelemetry traces of chat requests (`[otel]`): every request that reaches its ledger
//! rows becomes one span, exported over OTLP/HTTP with JSON encoding. Pure: the shell
//! (`worker/src/otel.rs`) draws the random ids, reads the clock and sends the POST.
//!
//! - `ids.rs`: trace and span ids, the W3C `traceparent` of the incoming request;
//! - `span.rs`: a request's span from its ledger row (GenAI conventions plus `oachat.*`);
//! - `content.rs`: prompts and answers as `gen_ai.input.messages` / `gen_ai.output.messages`,
//!   bounded (only with `otel.capture_content`);
//! - `encode.rs`: the OTLP/HTTP JSON export request;
//! - `buffer.rs`: the isolate's bounded span buffer and when to export it.

mod buffer;
mod content;
mod encode;
mod ids;
mod span;

pub use buffer::{
    Batch, Pushed, SpanBuffer, BUFFER_CAPACITY, EXPORT_DELAY_MS, EXPORT_TIMEOUT_MS, STALE_EXPORT_MS,
};
pub use content::{
    input_messages, output_completion, output_text, Bounded, CONTENT_BYTES, PART_BYTES,
};
pub use encode::{export_request, SCOPE_NAME};
pub use ids::{SpanId, SpanIds, TraceId, TraceParent, RANDOM_BYTES};
pub use span::{failure, provider_name, Attribute, AttributeValue, ChatSpan, ChatSpanFacts};

/// The W3C Trace Context request header read to make a span the child of the caller's.
pub const TRACEPARENT_HEADER: &str = "traceparent";
