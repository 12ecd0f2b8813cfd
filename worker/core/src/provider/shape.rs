//! Each provider's rules applied to the body oachat sends upstream, after the generic
//! rewrite (`ChatRequest::upstream_body`): fields it refuses are removed or refused with a
//! 400 that names them, numbers it reads differently are clamped, and a reasoning model's
//! budget is made to hold.

use serde_json::{Map, Value};

use super::Provider;
use crate::error::ProxyError;

/// The largest `max_completion_tokens` Ark accepts ("value range [0, 65536]").
pub const DOUBAO_MAX_COMPLETION_TOKENS: u64 = 65_536;

/// Applies `provider`'s rules to an upstream body. Run after [`reasoning_budget`], so the caps
/// it clamps are the final ones.
///
/// - Providers that do not take `stream_options` (Zhipu) lose it; they report usage in the
///   last chunk anyway, and the meter reads it wherever it comes.
/// - Zhipu: `temperature` is clamped to its documented range [0, 1] (OpenAI's reaches 2; a
///   clamp keeps the caller's intent, "as random as allowed"). A `tool_choice` other than
///   `"auto"` is refused with a 400 naming it: Zhipu only documents `auto`, and quietly
///   turning "must call this tool" into "may call a tool" would change what the caller gets
///   without telling them.
/// - Doubao: Ark refuses `max_tokens` together with `max_completion_tokens`, and only the
///   latter bounds the reasoning chain, so one `max_completion_tokens` is sent (the larger
///   cap, which the reservation covers), clamped to Ark's maximum.
/// - Qwen: DashScope answers 400 to `enable_thinking` on a call that is not streamed. oachat
///   streams every upstream call (the first-byte timeout and failover depend on it), so this
///   only matters if that ever changes; it is handled here so it cannot be forgotten then.
/// - DeepSeek in thinking mode (`deepseek-reasoner`, or `thinking.type = "enabled"`):
///   `logprobs` and `top_logprobs` are errors upstream, refused here with a clearer 400.
///   (`temperature`, `top_p` and the penalties are accepted and ignored there; left as sent.)
pub fn shape_request(provider: Provider, body: &mut Map<String, Value>) -> Result<(), ProxyError> {
    if !provider.preset().accepts_stream_options {
        body.remove("stream_options");
    }
    match provider {
        Provider::Zhipu => shape_zhipu(body),
        Provider::Doubao => {
            shape_doubao(body);
            Ok(())
        }
        Provider::Qwen => {
            if body.get("stream") != Some(&Value::Bool(true)) {
                body.insert("enable_thinking".into(), Value::Bool(false));
            }
            Ok(())
        }
        Provider::DeepSeek => shape_deepseek(body),
        Provider::OpenAi | Provider::Azure | Provider::Moonshot | Provider::OpenAiCompatible => {
            Ok(())
        }
    }
}

fn shape_zhipu(body: &mut Map<String, Value>) -> Result<(), ProxyError> {
    if let Some(temperature) = body.get("temperature").and_then(Value::as_f64) {
        let clamped = if temperature.is_nan() {
            1.0
        } else {
            temperature.clamp(0.0, 1.0)
        };
        if clamped != temperature {
            body.insert("temperature".into(), clamped.into());
        }
    }
    match body.get("tool_choice") {
        None => Ok(()),
        Some(Value::String(choice)) if choice == "auto" => Ok(()),
        Some(_) => Err(ProxyError::invalid(
            "tool_choice",
            "This model's provider (Zhipu) only supports `tool_choice: \"auto\"`; remove \
             `tool_choice` or set it to \"auto\".",
        )),
    }
}

fn shape_doubao(body: &mut Map<String, Value>) {
    let caps = ["max_tokens", "max_completion_tokens"]
        .iter()
        .filter_map(|field| body.get(*field).and_then(Value::as_u64))
        .max();
    body.remove("max_tokens");
    if let Some(cap) = caps {
        body.insert(
            "max_completion_tokens".into(),
            cap.min(DOUBAO_MAX_COMPLETION_TOKENS).into(),
        );
    }
}

fn shape_deepseek(body: &mut Map<String, Value>) -> Result<(), ProxyError> {
    let reasoner = body
        .get("model")
        .and_then(Value::as_str)
        .is_some_and(|model| model.contains("reasoner"));
    let thinking_on = body
        .get("thinking")
        .and_then(|thinking| thinking.get("type"))
        .and_then(Value::as_str)
        == Some("enabled");
    if !(reasoner || thinking_on) {
        return Ok(());
    }
    for field in ["logprobs", "top_logprobs"] {
        let asks = match body.get(field) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(_) => true,
        };
        if asks {
            return Err(ProxyError::invalid(
                field,
                format!("`{field}` is not supported by DeepSeek's thinking mode; remove it."),
            ));
        }
    }
    Ok(())
}

/// What a reasoning budget adds to a choice's reservation beyond the output cap in the body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReasoningBudget {
    /// Tokens reserved per choice on top of the body's output cap.
    pub extra_tokens: u64,
    /// Whether the upstream enforces the whole reservation (false: the budget is reserved,
    /// but nothing upstream stops a model that thinks longer).
    pub enforced: bool,
}

/// Makes a reasoning model's budget (`max_reasoning_tokens` of its price) hold, before
/// [`shape_request`]. Three cases, by what the provider offers:
/// - its output cap bounds the chain of thought (OpenAI's `max_completion_tokens`,
///   DeepSeek's `max_tokens`, Ark's `max_completion_tokens`): every cap in the body grows by
///   the budget, so the answer keeps the room the tier gives it, and the reservation (read
///   from the body's cap) covers both exactly. Nothing extra is reserved.
/// - it has its own field for the budget (DashScope's `thinking_budget`): the field is set to
///   the budget (or the caller's smaller value), and that much is reserved on top of the cap.
/// - neither (Moonshot, Zhipu, other compatible servers, as far as documented): the budget is
///   reserved on top of the cap; the upstream does not enforce it.
///
/// Without a budget nothing changes: a model not marked as reasoning reserves its cap only.
pub fn reasoning_budget(
    provider: Provider,
    body: &mut Map<String, Value>,
    max_reasoning_tokens: Option<u64>,
) -> ReasoningBudget {
    let Some(budget) = max_reasoning_tokens.filter(|budget| *budget > 0) else {
        return ReasoningBudget {
            extra_tokens: 0,
            enforced: true,
        };
    };
    let preset = provider.preset();
    if preset.cap_bounds_reasoning {
        for field in ["max_tokens", "max_completion_tokens"] {
            if let Some(cap) = body.get(field).and_then(Value::as_u64) {
                body.insert(field.into(), cap.saturating_add(budget).into());
            }
        }
        return ReasoningBudget {
            extra_tokens: 0,
            enforced: true,
        };
    }
    if let Some(field) = preset.reasoning_budget_field {
        let asked = body
            .get(field)
            .and_then(Value::as_u64)
            .filter(|asked| *asked > 0);
        let granted = asked.map_or(budget, |asked| asked.min(budget));
        body.insert(field.into(), granted.into());
        return ReasoningBudget {
            extra_tokens: granted,
            enforced: true,
        };
    }
    ReasoningBudget {
        extra_tokens: budget,
        enforced: false,
    }
}

/// The output cap a shaped body carries: the larger of its two cap fields (the generic
/// rewrite always sets one).
pub fn body_output_cap(body: &Map<String, Value>) -> Option<u64> {
    ["max_tokens", "max_completion_tokens"]
        .iter()
        .filter_map(|field| body.get(*field).and_then(Value::as_u64))
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[track_caller]
    fn check_shape(provider: Provider, body: Value, expected: Value) {
        let mut body = object(body);
        assert_eq!(shape_request(provider, &mut body), Ok(()));
        assert_eq!(Value::Object(body), expected);
    }

    #[track_caller]
    fn check_refused(provider: Provider, body: Value, param: &str) {
        let mut body = object(body);
        match shape_request(provider, &mut body) {
            Err(ProxyError::InvalidRequest { param: got, .. }) => {
                assert_eq!(got.as_deref(), Some(param))
            }
            other => panic!("expected `{param}` refused, got {other:?}"),
        }
    }

    #[test]
    fn openai_bodies_are_left_alone() {
        let body = json!({"model": "gpt-4o", "stream": true, "max_tokens": 10,
            "stream_options": {"include_usage": true}, "temperature": 1.7,
            "tool_choice": "required"});
        for provider in [
            Provider::OpenAi,
            Provider::Azure,
            Provider::OpenAiCompatible,
        ] {
            check_shape(provider, body.clone(), body.clone());
        }
    }

    #[test]
    fn zhipu_loses_stream_options_and_clamps_temperature() {
        check_shape(
            Provider::Zhipu,
            json!({"model": "glm-4.5", "stream": true, "temperature": 1.5,
                   "stream_options": {"include_usage": true}, "tool_choice": "auto"}),
            json!({"model": "glm-4.5", "stream": true, "temperature": 1.0,
                   "tool_choice": "auto"}),
        );
        check_shape(
            Provider::Zhipu,
            json!({"temperature": -0.5}),
            json!({"temperature": 0.0}),
        );
        check_shape(
            Provider::Zhipu,
            json!({"temperature": 0.3}),
            json!({"temperature": 0.3}),
        );
    }

    #[test]
    fn zhipu_refuses_a_forced_tool_choice() {
        check_refused(
            Provider::Zhipu,
            json!({"tool_choice": "required"}),
            "tool_choice",
        );
        check_refused(
            Provider::Zhipu,
            json!({"tool_choice": "none"}),
            "tool_choice",
        );
        check_refused(
            Provider::Zhipu,
            json!({"tool_choice": {"type": "function", "function": {"name": "f"}}}),
            "tool_choice",
        );
    }

    #[test]
    fn doubao_gets_one_cap_that_bounds_reasoning_too() {
        check_shape(
            Provider::Doubao,
            json!({"max_tokens": 300, "max_completion_tokens": 500}),
            json!({"max_completion_tokens": 500}),
        );
        check_shape(
            Provider::Doubao,
            json!({"max_tokens": 100000}),
            json!({"max_completion_tokens": DOUBAO_MAX_COMPLETION_TOKENS}),
        );
        check_shape(Provider::Doubao, json!({}), json!({}));
    }

    #[test]
    fn qwen_turns_thinking_off_only_for_calls_that_are_not_streamed() {
        check_shape(
            Provider::Qwen,
            json!({"stream": true, "enable_thinking": true}),
            json!({"stream": true, "enable_thinking": true}),
        );
        check_shape(
            Provider::Qwen,
            json!({"stream": false, "enable_thinking": true}),
            json!({"stream": false, "enable_thinking": false}),
        );
    }

    #[test]
    fn deepseek_thinking_mode_refuses_logprobs() {
        check_refused(
            Provider::DeepSeek,
            json!({"model": "deepseek-reasoner", "logprobs": true}),
            "logprobs",
        );
        check_refused(
            Provider::DeepSeek,
            json!({"model": "deepseek-chat", "thinking": {"type": "enabled"}, "top_logprobs": 2}),
            "top_logprobs",
        );
        let plain = json!({"model": "deepseek-chat", "logprobs": true, "top_logprobs": 2});
        check_shape(Provider::DeepSeek, plain.clone(), plain);
        let off = json!({"model": "deepseek-reasoner", "logprobs": false});
        check_shape(Provider::DeepSeek, off.clone(), off);
    }

    #[track_caller]
    fn check_budget(
        provider: Provider,
        body: Value,
        budget: Option<u64>,
        expected_body: Value,
        expected: ReasoningBudget,
    ) {
        let mut body = object(body);
        assert_eq!(reasoning_budget(provider, &mut body, budget), expected);
        assert_eq!(Value::Object(body), expected_body);
    }

    #[test]
    fn a_budget_widens_caps_that_bound_reasoning() {
        let exact = ReasoningBudget {
            extra_tokens: 0,
            enforced: true,
        };
        check_budget(
            Provider::OpenAi,
            json!({"max_completion_tokens": 1000}),
            Some(4000),
            json!({"max_completion_tokens": 5000}),
            exact,
        );
        check_budget(
            Provider::DeepSeek,
            json!({"max_tokens": 1000}),
            Some(4000),
            json!({"max_tokens": 5000}),
            exact,
        );
        check_budget(
            Provider::OpenAi,
            json!({"max_tokens": 1000}),
            None,
            json!({"max_tokens": 1000}),
            exact,
        );
    }

    #[test]
    fn qwen_budgets_go_in_thinking_budget_and_are_reserved_on_top() {
        check_budget(
            Provider::Qwen,
            json!({"max_tokens": 1000}),
            Some(4000),
            json!({"max_tokens": 1000, "thinking_budget": 4000}),
            ReasoningBudget {
                extra_tokens: 4000,
                enforced: true,
            },
        );
        // A caller's smaller budget is kept; a larger one is clamped.
        check_budget(
            Provider::Qwen,
            json!({"max_tokens": 1000, "thinking_budget": 500}),
            Some(4000),
            json!({"max_tokens": 1000, "thinking_budget": 500}),
            ReasoningBudget {
                extra_tokens: 500,
                enforced: true,
            },
        );
        check_budget(
            Provider::Qwen,
            json!({"max_tokens": 1000, "thinking_budget": 50000}),
            Some(4000),
            json!({"max_tokens": 1000, "thinking_budget": 4000}),
            ReasoningBudget {
                extra_tokens: 4000,
                enforced: true,
            },
        );
    }

    #[test]
    fn providers_without_a_bound_reserve_the_budget_unenforced() {
        check_budget(
            Provider::Moonshot,
            json!({"max_tokens": 1000}),
            Some(2000),
            json!({"max_tokens": 1000}),
            ReasoningBudget {
                extra_tokens: 2000,
                enforced: false,
            },
        );
    }

    #[test]
    fn doubao_budget_then_shape_holds_exactly() {
        let mut body = object(json!({"max_tokens": 1000}));
        let budget = reasoning_budget(Provider::Doubao, &mut body, Some(3000));
        assert_eq!(shape_request(Provider::Doubao, &mut body), Ok(()));
        assert_eq!(budget.extra_tokens, 0);
        assert_eq!(
            Value::Object(body.clone()),
            json!({"max_completion_tokens": 4000})
        );
        assert_eq!(body_output_cap(&body), Some(4000));
    }
}
