//! The built-in configuration: one OpenAI upstream with list prices, the `staff` and `guest`
//! tiers, and the routes of `routing/default_routes.toml`. An empty `OACHAT_CONFIG` means this.

use std::collections::BTreeMap;

use serde_json::Value;

use super::errors::ConfigError;
use super::merge::{from_value_with_path, RoutePatch};
use super::types::{
    BudgetConfig, Config, KeyStrategy, LedgerConfig, Price, Route, RoutingConfig, Tier,
    ToolsConfig, Upstream,
};
use super::{ANY_MODEL, AUTO_MODEL};

/// Request fields a tier forwards upstream unless it lists its own `allowed_fields`: the
/// chat-completions fields whose cost the reservation covers (the output caps are clamped, `n`
/// is bounded by `max_n` and multiplies the reservation). `model`, `messages` and `stream` are
/// always accepted; `user` is always accepted and replaced. Left out on purpose, because they
/// change the price or where data goes: `service_tier`, `store`, `metadata`, `modalities`,
/// `audio`, `web_search_options`, `prediction`.
pub const DEFAULT_ALLOWED_FIELDS: [&str; 20] = [
    "stream_options",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "temperature",
    "top_p",
    "stop",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
    "logprobs",
    "top_logprobs",
    "seed",
    "response_format",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "functions",
    "function_call",
    "reasoning_effort",
];

/// The default routes with their example utterances; the same schema as `[routes.*]`.
const DEFAULT_ROUTES_TOML: &str = include_str!("../routing/default_routes.toml");

pub(super) const DEFAULT_MODELS: [&str; 6] = [
    "gpt-4o-mini",
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.1-mini",
    "gpt-4.1-nano",
    "o4-mini",
];

/// (model, input, output, cached input) in USD per 1M tokens: OpenAI list prices.
const DEFAULT_PRICES: [(&str, f64, f64, f64); 6] = [
    ("gpt-4o-mini", 0.15, 0.60, 0.075),
    ("gpt-4o", 2.50, 10.00, 1.25),
    ("gpt-4.1", 2.00, 8.00, 0.50),
    ("gpt-4.1-mini", 0.40, 1.60, 0.10),
    ("gpt-4.1-nano", 0.10, 0.40, 0.025),
    ("o4-mini", 1.10, 4.40, 0.275),
];

const DEFAULT_CONCISE_PROMPT: &str =
    "Answer concisely in Markdown. Lead with the answer; use short \
paragraphs or bullet lists; skip preambles, apologies and restating the question. Reply in the \
user's language unless asked otherwise.";

pub(super) fn staff_tier() -> Tier {
    Tier {
        rpm: Some(20),
        max_rounds: Some(30),
        daily_tokens: Some(200_000),
        daily_usd: Some(2.0),
        monthly_tokens: None,
        monthly_usd: None,
        max_tokens: 2048,
        max_n: 1,
        models: vec![ANY_MODEL.to_string()],
        allowed_fields: default_allowed_fields(),
    }
}

fn guest_tier() -> Tier {
    Tier {
        rpm: Some(5),
        max_rounds: Some(10),
        daily_tokens: Some(20_000),
        daily_usd: Some(0.1),
        monthly_tokens: None,
        monthly_usd: None,
        max_tokens: 512,
        max_n: 1,
        models: vec![AUTO_MODEL.to_string(), "gpt-4o-mini".to_string()],
        allowed_fields: default_allowed_fields(),
    }
}

fn default_allowed_fields() -> Vec<String> {
    DEFAULT_ALLOWED_FIELDS
        .iter()
        .map(|field| field.to_string())
        .collect()
}

/// The built-in routes; `Err` only if the embedded file is broken, which a test rules out.
fn default_routes() -> Result<BTreeMap<String, Route>, ConfigError> {
    let value: Value = toml::from_str(DEFAULT_ROUTES_TOML)
        .map_err(|error| ConfigError::single("default_routes.toml", error.to_string()))?;
    let patches: BTreeMap<String, RoutePatch> = from_value_with_path(&value, "routes")?;
    Ok(patches
        .into_iter()
        .map(|(name, patch)| (name, patch.apply(Route::blank())))
        .collect())
}

impl Default for Config {
    fn default() -> Config {
        Config {
            default_model: "gpt-4o-mini".to_string(),
            key_strategy: KeyStrategy::Weighted,
            max_body_bytes: 1024 * 1024,
            connect_timeout_ms: 10_000,
            first_byte_timeout_ms: 30_000,
            first_token_timeout_ms: 30_000,
            max_attempts: 3,
            allowed_origins: vec![
                "http://127.0.0.1:8787".to_string(),
                "http://localhost:8787".to_string(),
            ],
            guest_mode: false,
            guest_tier: "guest".to_string(),
            guest_pool: None,
            departments: BTreeMap::new(),
            clock_skew_s: 60,
            max_token_lifetime_s: 86_400,
            token_issuer: None,
            token_audience: None,
            history_window_tokens: 6000,
            default_tier: "staff".to_string(),
            org: String::new(),
            upstreams: vec![Upstream {
                name: "openai".to_string(),
                base_url: None,
                base_url_var: "OPENAI_BASE_URL".to_string(),
                keys_secret: "OPENAI_API_KEYS".to_string(),
                models: DEFAULT_MODELS
                    .iter()
                    .map(|model| model.to_string())
                    .collect(),
                weights: Vec::new(),
                provider: crate::provider::Provider::OpenAi,
                deployments: BTreeMap::new(),
                api_version: None,
                first_token_timeout_ms: None,
            }],
            aliases: BTreeMap::new(),
            prices: DEFAULT_PRICES
                .iter()
                .map(|&(model, input, output, cached)| {
                    let price = Price {
                        input_per_mtok: input,
                        output_per_mtok: output,
                        cached_input_per_mtok: cached,
                        max_reasoning_tokens: None,
                    };
                    (model.to_string(), price)
                })
                .collect(),
            tiers: BTreeMap::from([
                ("staff".to_string(), staff_tier()),
                ("guest".to_string(), guest_tier()),
            ]),
            budget: BudgetConfig {
                daily_usd: Some(50.0),
                monthly_usd: None,
                timezone: crate::calendar::DEFAULT_TIMEZONE.to_string(),
                lease_slice_usd: 0.5,
                reservation_ttl_s: 600,
            },
            tools: ToolsConfig {
                max_rounds: 5,
                max_result_bytes: 8192,
                context_max_bytes: 4096,
                webhook_timeout_ms: 10_000,
                webhook_max_bytes: 65_536,
                server: BTreeMap::new(),
            },
            ledger: LedgerConfig { tool_args: false },
            metrics: super::types::MetricsConfig::default(),
            alerts: super::alerts::AlertsConfig::default(),
            otel: super::otel::OtelConfig::default(),
            routing: RoutingConfig {
                enabled: true,
                conciseness: true,
                default_route: "general".to_string(),
                min_confidence: 0.5,
                concise_prompt: DEFAULT_CONCISE_PROMPT.to_string(),
            },
            // Without routes, `auto` still works: validation then flags the missing
            // default route, which is the clearest failure for a broken build.
            routes: default_routes().unwrap_or_default(),
            scenarios: BTreeMap::new(),
        }
    }
}

impl Route {
    pub(super) fn blank() -> Route {
        Route {
            enabled: true,
            model: None,
            description: String::new(),
            system_prompt: String::new(),
            max_tokens: None,
            temperature: None,
            cache: false,
            cache_ttl_s: 3600,
            personal: false,
            priority: 0,
            keywords: Vec::new(),
            patterns: Vec::new(),
            when_code: false,
            min_chars: None,
            max_chars: None,
            examples: Vec::new(),
            follow_ups: Vec::new(),
            tools: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_complete() {
        let config = Config::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.upstreams[0].keys_secret, "OPENAI_API_KEYS");
        assert_eq!(config.tiers["staff"].rpm, Some(20));
        assert_eq!(config.tiers["guest"].max_tokens, 512);
        for route in ["code", "translate", "summarize", "writing", "general"] {
            assert!(config.routes.contains_key(route), "missing route {route}");
            assert!(
                config.routes[route].examples.len() >= 40,
                "few examples in {route}"
            );
        }
    }
}
