//! Spans as an OTLP/HTTP JSON export request (`ExportTraceServiceRequest`): the proto3 JSON
//! mapping with OTLP's deviations, checked against the OTLP specification ("JSON Protobuf
//! Encoding"): lowerCamelCase keys, trace and span ids as lowercase hex (not base64), enums as
//! integers (`kind` 3 = CLIENT, status `code` 2 = ERROR), 64-bit integers (times in
//! nanoseconds, `intValue`) as decimal strings.

use serde_json::{json, Value};

use super::span::{AttributeValue, ChatSpan};

/// OTLP's `SPAN_KIND_CLIENT`: oachat calls the model over HTTP (the GenAI conventions'
/// recommended kind for an inference span).
const SPAN_KIND_CLIENT: u8 = 3;
/// OTLP's `STATUS_CODE_ERROR`. Successful spans leave the status unset, as instrumentations
/// should.
const STATUS_CODE_ERROR: u8 = 2;

/// The instrumentation scope every span is reported under.
pub const SCOPE_NAME: &str = "oachat";

/// The body of one export: every span under one resource (`service.name`) and one scope.
pub fn export_request(service_name: &str, spans: &[ChatSpan]) -> String {
    let spans: Vec<Value> = spans.iter().map(span).collect();
    json!({
        "resourceSpans": [{
            "resource": {
                "attributes": [
                    key_value("service.name", &AttributeValue::Str(service_name.to_string())),
                    key_value("telemetry.sdk.language", &AttributeValue::Str("rust".into())),
                ],
            },
            "scopeSpans": [{
                "scope": { "name": SCOPE_NAME, "version": env!("CARGO_PKG_VERSION") },
                "spans": spans,
            }],
        }],
    })
    .to_string()
}

fn span(span: &ChatSpan) -> Value {
    let mut out = json!({
        "traceId": span.ids.trace_id.to_hex(),
        "spanId": span.ids.span_id.to_hex(),
        "name": span.name,
        "kind": SPAN_KIND_CLIENT,
        "startTimeUnixNano": nanos(span.start_ms),
        "endTimeUnixNano": nanos(span.end_ms),
        "attributes": span
            .attributes
            .iter()
            .map(|attribute| key_value(attribute.key, &attribute.value))
            .collect::<Vec<_>>(),
        "status": match &span.error {
            Some(message) => json!({ "code": STATUS_CODE_ERROR, "message": message }),
            None => json!({}),
        },
    });
    if let Some(parent) = span.ids.parent_id {
        out["parentSpanId"] = Value::from(parent.to_hex());
    }
    out
}

/// Milliseconds since the epoch as OTLP's nanoseconds, a decimal string (`fixed64`).
fn nanos(ms: u64) -> String {
    (u128::from(ms) * 1_000_000).to_string()
}

fn key_value(key: &str, value: &AttributeValue) -> Value {
    json!({ "key": key, "value": any_value(value) })
}

fn any_value(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::Str(text) => json!({ "stringValue": text }),
        AttributeValue::Int(number) => json!({ "intValue": number.to_string() }),
        AttributeValue::Bool(flag) => json!({ "boolValue": flag }),
        AttributeValue::Double(number) => json!({ "doubleValue": number }),
        AttributeValue::StrArray(items) => json!({
            "arrayValue": {
                "values": items.iter().map(|item| json!({ "stringValue": item })).collect::<Vec<_>>(),
            },
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ending;
    use crate::otel::span::tests::{facts, row};
    use crate::otel::{SpanIds, TraceParent, RANDOM_BYTES};

    fn encoded(spans: &[ChatSpan]) -> Value {
        serde_json::from_str(&export_request("oachat-test", spans)).unwrap_or(Value::Null)
    }

    /// The attribute `key` of an encoded span, as its `AnyValue` object.
    fn attribute<'a>(span: &'a Value, key: &str) -> &'a Value {
        span["attributes"]
            .as_array()
            .and_then(|list| list.iter().find(|kv| kv["key"] == key))
            .map_or(&Value::Null, |kv| &kv["value"])
    }

    #[test]
    fn the_export_has_the_otlp_json_shape() {
        let row = row();
        let reasons = ["stop".to_string(), "length".to_string()];
        let span = ChatSpan::build(crate::otel::ChatSpanFacts {
            finish_reasons: &reasons,
            ..facts(&row)
        });
        let body = encoded(&[span]);
        let resource = &body["resourceSpans"][0];
        assert_eq!(
            resource["resource"]["attributes"][0],
            json!({"key": "service.name", "value": {"stringValue": "oachat-test"}})
        );
        let scope = &resource["scopeSpans"][0];
        assert_eq!(scope["scope"]["name"], "oachat");
        let span = &scope["spans"][0];
        assert_eq!(span["name"], "chat gpt-4o-mini");
        assert_eq!(span["kind"], 3);
        assert_eq!(span["traceId"], "07".repeat(16));
        assert_eq!(span["spanId"], "07".repeat(8));
        assert!(span.get("parentSpanId").is_none());
        assert_eq!(span["startTimeUnixNano"], "1763596800000000000");
        assert_eq!(span["endTimeUnixNano"], "1763596800900000000");
        assert_eq!(span["status"], json!({}));
        assert_eq!(
            attribute(span, "gen_ai.usage.input_tokens"),
            &json!({"intValue": "120"})
        );
        assert_eq!(
            attribute(span, "gen_ai.operation.name"),
            &json!({"stringValue": "chat"})
        );
        assert_eq!(
            attribute(span, "gen_ai.response.finish_reasons"),
            &json!({"arrayValue": {"values": [{"stringValue": "stop"}, {"stringValue": "length"}]}})
        );
        assert_eq!(
            attribute(span, "oachat.stream"),
            &json!({"boolValue": true})
        );
        assert_eq!(
            attribute(span, "oachat.cost_usd"),
            &json!({"doubleValue": 0.000047})
        );
    }

    #[test]
    fn a_failed_request_is_an_error_and_a_child_names_its_parent() {
        let mut failed = row();
        failed.status = 504;
        failed.ending = Ending::Failed;
        let parent = TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let span = ChatSpan::build(crate::otel::ChatSpanFacts {
            ids: SpanIds::new([9; RANDOM_BYTES], parent),
            ..facts(&failed)
        });
        let body = encoded(&[span]);
        let span = &body["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["status"]["code"], 2);
        assert_eq!(span["status"]["message"], "failed (HTTP 504)");
        assert_eq!(span["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(span["parentSpanId"], "00f067aa0ba902b7");
        assert_eq!(span["spanId"], "09".repeat(8));
        assert_eq!(
            attribute(span, "error.type"),
            &json!({"stringValue": "504"})
        );
    }

    #[test]
    fn many_spans_share_one_resource_and_scope() {
        let row = row();
        let spans: Vec<ChatSpan> = (0..3).map(|_| ChatSpan::build(facts(&row))).collect();
        let body = encoded(&spans);
        assert_eq!(body["resourceSpans"].as_array().map(Vec::len), Some(1));
        assert_eq!(
            body["resourceSpans"][0]["scopeSpans"][0]["spans"]
                .as_array()
                .map(Vec::len),
            Some(3)
        );
        assert_eq!(
            encoded(&[])["resourceSpans"][0]["scopeSpans"][0]["spans"],
            json!([])
        );
    }
}
