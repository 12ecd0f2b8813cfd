//! One chat request as one span, following the GenAI semantic conventions for an inference
//! call (`gen_ai.*`: operation, provider, models, usage, finish reasons, conversation) plus
//! oachat's own `oachat.*` facts (route, tier, attempts, cache, ending, cost, opaque user).
//! Built after the request ended, from its ledger row: the span's numbers are the ledger's
//! numbers, never a second count.

use crate::ledger::{Ending, LedgerRow};
use crate::provider::Provider;

use super::content::Bounded;
use super::ids::SpanIds;

/// An attribute's value, as OTLP's `AnyValue` carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeValue {
    Str(String),
    Int(i64),
    Bool(bool),
    Double(f64),
    StrArray(Vec<String>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    pub key: &'static str,
    pub value: AttributeValue,
}

/// A finished chat span, ready to encode.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatSpan {
    pub ids: SpanIds,
    /// `{gen_ai.operation.name} {gen_ai.request.model}`: `chat gpt-4o-mini`.
    pub name: String,
    pub start_ms: u64,
    pub end_ms: u64,
    /// Set when the request failed: the span's status is then ERROR with this message.
    pub error: Option<String>,
    pub attributes: Vec<Attribute>,
}

impl ChatSpan {
    /// The attribute under `key`, if recorded.
    pub fn attribute(&self, key: &str) -> Option<&AttributeValue> {
        self.attributes
            .iter()
            .find(|attribute| attribute.key == key)
            .map(|attribute| &attribute.value)
    }
}

/// What a span is built from, all known once the request ended.
pub struct ChatSpanFacts<'a> {
    pub ids: SpanIds,
    /// The request's own ledger row (not an abandoned attempt's).
    pub row: &'a LedgerRow,
    pub provider: Provider,
    pub tier: &'a str,
    /// The server-side conversation the request belongs to, if any.
    pub conversation_id: Option<&'a str>,
    /// oachat's opaque id for the caller (what goes upstream as `user`), never the identity.
    pub opaque_user: &'a str,
    /// One per answer (choice) received, as the provider spelled them.
    pub finish_reasons: &'a [String],
    /// `gen_ai.input.messages` and `gen_ai.output.messages`, only with
    /// `otel.capture_content`.
    pub input: Option<Bounded>,
    pub output: Option<Bounded>,
}

/// `gen_ai.provider.name`: the conventions' well-known value where one names the provider
/// (`openai`, `azure.ai.openai`, `deepseek`), otherwise the preset's own name (`qwen`,
/// `moonshot`, `zhipu`, `doubao`, `openai-compatible`), as the conventions allow.
pub fn provider_name(provider: Provider) -> &'static str {
    match provider {
        Provider::OpenAi => "openai",
        Provider::Azure => "azure.ai.openai",
        Provider::DeepSeek => "deepseek",
        other => other.as_str(),
    }
}

/// Whether the request failed as its caller saw it, and how (`error.type`: the HTTP status
/// when one was answered, otherwise the ending, e.g. a stream cut or filtered after its 200
/// head). A client that walked away is not a failure of the request.
pub fn failure(row: &LedgerRow) -> Option<String> {
    let failed_ending = matches!(
        row.ending,
        Ending::Failed | Ending::UpstreamCut | Ending::UpstreamError | Ending::Filtered
    );
    if row.status >= 400 {
        Some(row.status.to_string())
    } else if failed_ending {
        Some(row.ending.as_str().to_string())
    } else {
        None
    }
}

impl ChatSpan {
    pub fn build(facts: ChatSpanFacts<'_>) -> ChatSpan {
        let row = facts.row;
        let mut attributes = Vec::with_capacity(28);
        let mut add = |key: &'static str, value: AttributeValue| {
            attributes.push(Attribute { key, value });
        };
        let text = |value: &str| AttributeValue::Str(value.to_string());
        let int = |value: u64| AttributeValue::Int(i64::try_from(value).unwrap_or(i64::MAX));

        add("gen_ai.operation.name", text("chat"));
        add("gen_ai.provider.name", text(provider_name(facts.provider)));
        add("gen_ai.request.model", text(&row.model_used));
        // Only an answer has a model that gave it.
        if row.ending != Ending::Failed {
            add("gen_ai.response.model", text(&row.model_used));
        }
        add("gen_ai.usage.input_tokens", int(row.prompt_tokens));
        add("gen_ai.usage.output_tokens", int(row.completion_tokens));
        if !facts.finish_reasons.is_empty() {
            add(
                "gen_ai.response.finish_reasons",
                AttributeValue::StrArray(facts.finish_reasons.to_vec()),
            );
        }
        if let Some(conversation) = facts.conversation_id {
            add("gen_ai.conversation.id", text(conversation));
        }
        let error = failure(row);
        if let Some(kind) = &error {
            add("error.type", text(kind));
        }
        let mut truncated = false;
        if let Some(input) = facts.input {
            truncated |= input.truncated;
            add("gen_ai.input.messages", AttributeValue::Str(input.json));
        }
        if let Some(output) = facts.output {
            truncated |= output.truncated;
            add("gen_ai.output.messages", AttributeValue::Str(output.json));
        }
        if truncated {
            add("oachat.content_truncated", AttributeValue::Bool(true));
        }

        add("oachat.request_id", text(&row.id));
        add("oachat.model_asked", text(&row.model_asked));
        add("oachat.route", text(&row.route));
        add("oachat.route_reason", text(&row.route_reason));
        add("oachat.tier", text(facts.tier));
        add("oachat.user", text(facts.opaque_user));
        add("oachat.upstream", text(&row.upstream));
        add("oachat.attempts", int(u64::from(row.attempts)));
        let cache = if row.ending == Ending::Cached {
            "hit"
        } else {
            "miss"
        };
        add("oachat.cache", text(cache));
        add("oachat.ending", text(row.ending.as_str()));
        add("oachat.status", int(u64::from(row.status)));
        add("oachat.stream", AttributeValue::Bool(row.stream));
        // Micro-USD are exact integers; the double is for dashboards that sum dollars.
        add(
            "oachat.cost_usd",
            AttributeValue::Double(row.cost_micro_usd as f64 / 1_000_000.0),
        );
        add("oachat.cached_tokens", int(row.cached_tokens));
        add("oachat.reasoning_tokens", int(row.reasoning_tokens));
        add("oachat.estimated", AttributeValue::Bool(row.estimated));
        add("oachat.ttfb_ms", int(row.ttfb_ms));

        ChatSpan {
            ids: facts.ids,
            name: format!("chat {}", row.model_used),
            start_ms: row.ts_ms,
            end_ms: row.ts_ms.saturating_add(row.total_ms),
            error: error.map(|_| format!("{} (HTTP {})", row.ending.as_str(), row.status)),
            attributes,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::otel::content::{input_messages, output_text};

    pub(crate) fn row() -> LedgerRow {
        LedgerRow {
            ts_ms: 1_763_596_800_000,
            day: "2025-11-20".into(),
            key_id: "key_1a2b3c4d".into(),
            route: "translate".into(),
            route_reason: "keyword".into(),
            prompt_tokens: 120,
            completion_tokens: 48,
            cached_tokens: 0,
            reasoning_tokens: 0,
            cost_micro_usd: 47,
            ttfb_ms: 210,
            total_ms: 900,
            ..crate::ledger::sample_row("req_0123456789abcdef0123", "u:alice")
        }
    }

    pub(crate) fn facts(row: &LedgerRow) -> ChatSpanFacts<'_> {
        ChatSpanFacts {
            ids: SpanIds::new([7; crate::otel::RANDOM_BYTES], None),
            row,
            provider: Provider::OpenAi,
            tier: "staff",
            conversation_id: None,
            opaque_user: "oa_0011223344556677889900aa",
            finish_reasons: &[],
            input: None,
            output: None,
        }
    }

    #[track_caller]
    fn check(span: &ChatSpan, key: &str, expected: Option<AttributeValue>) {
        assert_eq!(span.attribute(key).cloned(), expected, "{key}");
    }

    fn text(value: &str) -> Option<AttributeValue> {
        Some(AttributeValue::Str(value.into()))
    }

    #[test]
    fn a_completed_request_has_the_conventions_and_oachats_attributes() {
        let row = row();
        let reasons = ["stop".to_string()];
        let span = ChatSpan::build(ChatSpanFacts {
            finish_reasons: &reasons,
            conversation_id: Some("conv_abc"),
            ..facts(&row)
        });
        assert_eq!(span.name, "chat gpt-4o-mini");
        assert_eq!((span.start_ms, span.end_ms), (row.ts_ms, row.ts_ms + 900));
        assert_eq!(span.error, None);
        check(&span, "gen_ai.operation.name", text("chat"));
        check(&span, "gen_ai.provider.name", text("openai"));
        check(&span, "gen_ai.request.model", text("gpt-4o-mini"));
        check(&span, "gen_ai.response.model", text("gpt-4o-mini"));
        check(
            &span,
            "gen_ai.usage.input_tokens",
            Some(AttributeValue::Int(120)),
        );
        check(
            &span,
            "gen_ai.usage.output_tokens",
            Some(AttributeValue::Int(48)),
        );
        check(
            &span,
            "gen_ai.response.finish_reasons",
            Some(AttributeValue::StrArray(vec!["stop".into()])),
        );
        check(&span, "gen_ai.conversation.id", text("conv_abc"));
        check(&span, "oachat.route", text("translate"));
        check(&span, "oachat.route_reason", text("keyword"));
        check(&span, "oachat.tier", text("staff"));
        check(&span, "oachat.attempts", Some(AttributeValue::Int(1)));
        check(&span, "oachat.cache", text("miss"));
        check(&span, "oachat.ending", text("completed"));
        check(&span, "oachat.request_id", text("req_0123456789abcdef0123"));
        check(
            &span,
            "oachat.cost_usd",
            Some(AttributeValue::Double(0.000047)),
        );
        check(&span, "oachat.user", text("oa_0011223344556677889900aa"));
        check(&span, "error.type", None);
        // Content is opt-in: absent unless given.
        check(&span, "gen_ai.input.messages", None);
        check(&span, "gen_ai.output.messages", None);
        // The caller's identity is never an attribute value.
        assert!(span
            .attributes
            .iter()
            .all(|a| a.value != AttributeValue::Str("u:alice".into())));
    }

    #[test]
    fn providers_use_well_known_names_where_there_are_some() {
        assert_eq!(provider_name(Provider::OpenAi), "openai");
        assert_eq!(provider_name(Provider::Azure), "azure.ai.openai");
        assert_eq!(provider_name(Provider::DeepSeek), "deepseek");
        assert_eq!(provider_name(Provider::Qwen), "qwen");
        assert_eq!(provider_name(Provider::Zhipu), "zhipu");
        assert_eq!(
            provider_name(Provider::OpenAiCompatible),
            "openai-compatible"
        );
    }

    #[test]
    fn failures_are_errors_and_an_abandoned_client_is_not() {
        let mut failed = row();
        failed.status = 502;
        failed.ending = Ending::Failed;
        failed.completion_tokens = 0;
        let span = ChatSpan::build(facts(&failed));
        check(&span, "error.type", text("502"));
        check(&span, "gen_ai.response.model", None);
        assert_eq!(span.error.as_deref(), Some("failed (HTTP 502)"));

        let mut cut = row();
        cut.ending = Ending::UpstreamCut;
        check(
            &ChatSpan::build(facts(&cut)),
            "error.type",
            text("upstream_cut"),
        );

        let mut filtered = row();
        filtered.ending = Ending::Filtered;
        assert!(ChatSpan::build(facts(&filtered)).error.is_some());

        let mut left = row();
        left.ending = Ending::ClientAborted;
        assert_eq!(ChatSpan::build(facts(&left)).error, None);

        let mut cached = row();
        cached.ending = Ending::Cached;
        cached.cost_micro_usd = 0;
        check(
            &ChatSpan::build(facts(&cached)),
            "oachat.cache",
            text("hit"),
        );
    }

    #[test]
    fn content_goes_in_only_when_given_and_says_when_it_was_cut() {
        let row = row();
        let body = serde_json::json!({"messages": [{"role": "user", "content": "hi"}]});
        let span = ChatSpan::build(ChatSpanFacts {
            input: Some(input_messages(&body.to_string())),
            output: Some(output_text(&"x".repeat(10_000), Some("length"))),
            ..facts(&row)
        });
        assert!(matches!(
            span.attribute("gen_ai.input.messages"),
            Some(AttributeValue::Str(json)) if json.contains("\"hi\"")
        ));
        assert!(span.attribute("gen_ai.output.messages").is_some());
        check(
            &span,
            "oachat.content_truncated",
            Some(AttributeValue::Bool(true)),
        );
    }
}
