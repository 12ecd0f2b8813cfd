//! The resolved configuration: what the rest of the worker reads, and the questions it asks of
//! it (which upstream serves a model, what a model costs, which tier a claim means).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::errors::ModelError;
use super::{ANY_MODEL, AUTO_MODEL};
use crate::provider::Provider;

/// How the key pool picks a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStrategy {
    Weighted,
    RoundRobin,
}

/// An OpenAI-compatible upstream.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Upstream {
    pub name: String,
    /// Which API this is: its default base URL, key header and quirks
    /// (see [`crate::provider`]).
    pub provider: Provider,
    /// `None`: read the env var `base_url_var`, falling back to the provider's default.
    pub base_url: Option<String>,
    pub base_url_var: String,
    /// Name of the secret that holds this upstream's keys.
    pub keys_secret: String,
    pub models: Vec<String>,
    /// Per-key weights in the secret's order; empty means every key weighs 1.
    pub weights: Vec<u32>,
    /// Azure: public model name → deployment name (the URL names the deployment).
    pub deployments: BTreeMap<String, String>,
    /// Azure: the `api-version` query parameter.
    pub api_version: Option<String>,
    /// Overrides the top-level `first_token_timeout_ms` for this upstream.
    pub first_token_timeout_ms: Option<u64>,
}

impl Upstream {
    /// The base URL without a trailing slash. `env` looks up plain vars, which the core
    /// cannot read itself. Empty when neither the config, the env var nor the provider
    /// names one (validation refuses such a config for providers without a default).
    pub fn base_url(&self, env: impl Fn(&str) -> Option<String>) -> String {
        let url = match &self.base_url {
            Some(url) => url.clone(),
            None => env(&self.base_url_var)
                .filter(|value| !value.trim().is_empty())
                .or_else(|| self.provider.preset().default_base_url.map(str::to_string))
                .unwrap_or_default(),
        };
        url.trim().trim_end_matches('/').to_string()
    }
}

/// USD per million tokens. Since 1 USD = 10^6 micro-USD, this is also micro-USD per token.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cached_input_per_mtok: f64,
    /// A reasoning model's budget for its chain of thought, per choice: reserved (and, where
    /// the provider allows, enforced) on top of the answer's cap. `None`: not a reasoning
    /// model, or one whose reasoning the answer's cap already bounds as configured.
    /// Reasoning is billed at `output_per_mtok`.
    #[serde(default)]
    pub max_reasoning_tokens: Option<u32>,
}

impl Price {
    /// Cost in micro-USD, rounded up so many small requests never round to free.
    /// `prompt_tokens` includes the cached ones, as in OpenAI's `usage`.
    ///
    /// Exact: a price with up to six decimals per million tokens is a whole number of
    /// picodollars (10⁻¹² USD) per token, so the sum is integer arithmetic and only the final
    /// conversion rounds (f64 sums of many small requests would drift).
    pub fn cost_micro_usd(
        &self,
        prompt_tokens: u64,
        completion_tokens: u64,
        cached_tokens: u64,
    ) -> u64 {
        let cached = cached_tokens.min(prompt_tokens);
        let uncached = prompt_tokens - cached;
        let picodollars = u128::from(uncached) * picodollars_per_token(self.input_per_mtok)
            + u128::from(cached) * picodollars_per_token(self.cached_input_per_mtok)
            + u128::from(completion_tokens) * picodollars_per_token(self.output_per_mtok);
        u64::try_from(picodollars.div_ceil(1_000_000)).unwrap_or(u64::MAX)
    }
}

/// USD per million tokens is micro-USD per token, so picodollars per token is a scale by 10⁶.
/// `as` saturates: a negative or NaN price (refused by validation anyway) costs nothing.
fn picodollars_per_token(usd_per_mtok: f64) -> u128 {
    (usd_per_mtok * 1e6).round() as u128
}

/// Who may use what, and how much. `None` limits mean unlimited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tier {
    pub rpm: Option<u32>,
    pub max_rounds: Option<u32>,
    pub daily_tokens: Option<u64>,
    pub daily_usd: Option<f64>,
    /// Calendar-month limits in `budget.timezone`.
    pub monthly_tokens: Option<u64>,
    pub monthly_usd: Option<f64>,
    /// A request's `max_tokens` is clamped to this.
    pub max_tokens: u32,
    /// The most choices (`n`) one request may ask for; each is reserved in full.
    pub max_n: u32,
    /// Public model names allowed; `*` allows any, `auto` allows routing.
    pub models: Vec<String>,
    /// Request fields forwarded upstream (see
    /// [`DEFAULT_ALLOWED_FIELDS`](super::DEFAULT_ALLOWED_FIELDS)); any other field is refused
    /// with a 400 that names it.
    pub allowed_fields: Vec<String>,
}

impl Tier {
    /// Whether a public model name (as asked, or as routed) is allowed.
    pub fn allows(&self, model: &str) -> bool {
        self.models
            .iter()
            .any(|allowed| allowed == ANY_MODEL || allowed == model)
    }

    /// `daily_usd` in micro-USD, the unit budgets count in.
    pub fn daily_micro_usd(&self) -> Option<u64> {
        self.daily_usd.map(usd_to_micro)
    }

    /// `monthly_usd` in micro-USD.
    pub fn monthly_micro_usd(&self) -> Option<u64> {
        self.monthly_usd.map(usd_to_micro)
    }
}

/// The deployment-wide budget.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetConfig {
    /// Cap for the whole deployment per local day (`timezone`); `None` is unlimited.
    pub daily_usd: Option<f64>,
    /// Cap for the whole deployment per calendar month (`timezone`); `None` is unlimited.
    pub monthly_usd: Option<f64>,
    /// The IANA zone whose midnight starts a budget day and whose 1st starts a month
    /// (validated: a zone without daylight saving time, see `calendar.rs`).
    pub timezone: String,
    /// Size of the slice a user object leases from the deployment budget at a time.
    pub lease_slice_usd: f64,
    /// A reservation not renewed for this long is presumed dead (its isolate died) and
    /// charged in full; a live request renews it every third of this.
    pub reservation_ttl_s: u64,
}

/// OA actions (`[tools]`): how far a page's tools may take one user message, and how much a
/// page may send back. Clamped when read (`merge.rs`), so every value here is in range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ToolsConfig {
    /// Continuations (`tool_results`) after one user message; the one that reaches this goes
    /// upstream without tools. 0..=20; 0 turns tools off.
    pub max_rounds: u32,
    /// A result's content is cut to this many bytes. 256..=65536.
    pub max_result_bytes: u32,
    /// The page's serialized `context` may be at most this many bytes. 0..=32768; 0 refuses it.
    pub context_max_bytes: u32,
    /// How long a server tool's webhook may take to answer. 500..=10000.
    pub webhook_timeout_ms: u32,
    /// The most of a webhook's answer that is read. 1024..=1048576.
    pub webhook_max_bytes: u32,
    /// Server tools (`[tools.server.<name>]`): run by the worker through a signed webhook to
    /// the OA backend, never by the page.
    pub server: std::collections::BTreeMap<String, ServerTool>,
}

/// One server tool: what the model is offered, and the only URL the worker calls for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerTool {
    /// `https://...`, or `http://` to 127.0.0.1, localhost or [::1] (development, tests).
    pub url: String,
    pub description: String,
    /// A JSON Schema object (the default: an object without properties).
    pub parameters: serde_json::Value,
    /// The user confirms in the widget before the worker calls it.
    pub confirm: bool,
}

impl ToolsConfig {
    pub const MAX_ROUNDS: std::ops::RangeInclusive<u32> = 0..=20;
    pub const RESULT_BYTES: std::ops::RangeInclusive<u32> = 256..=65_536;
    pub const CONTEXT_BYTES: std::ops::RangeInclusive<u32> = 0..=32_768;
    pub const WEBHOOK_TIMEOUT_MS: std::ops::RangeInclusive<u32> = 500..=10_000;
    pub const WEBHOOK_BYTES: std::ops::RangeInclusive<u32> = 1024..=1_048_576;

    /// The limits a request's parsing applies.
    pub fn limits(&self) -> crate::tools::ToolLimits {
        crate::tools::ToolLimits {
            max_result_bytes: self.max_result_bytes as usize,
            context_max_bytes: self.context_max_bytes as usize,
        }
    }
}

/// What the ledger keeps beyond usage (`[ledger]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LedgerConfig {
    /// Keep tool calls' arguments (`tool_args`, bounded): off by default, since arguments
    /// carry what users asked the page to do.
    pub tool_args: bool,
}

/// What `GET /metrics` shows beyond the deployment's totals (`[metrics]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MetricsConfig {
    /// Per-user series (`oachat_user_tokens_total{user}`...): off by default, since each
    /// user is a series; when on, bounded by `metrics::MAX_USERS`.
    pub per_user: bool,
}

/// What all guests together may use (`[guest_pool]`); `None` limits are unlimited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuestPool {
    /// Guest requests per minute, all guests together.
    pub rpm: Option<u32>,
    /// The share of the deployment's daily cap that guests may hold; employees keep the rest.
    pub daily_usd: Option<f64>,
}

/// What one department may use together (`[departments.<name>]`, matched against the user
/// token's `dept` claim); `None` limits are unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Department {
    pub daily_usd: Option<f64>,
    pub monthly_usd: Option<f64>,
    /// The department's requests per minute, all its members together.
    pub rpm: Option<u32>,
}

impl Department {
    pub fn daily_micro_usd(&self) -> Option<u64> {
        self.daily_usd.map(usd_to_micro)
    }

    pub fn monthly_micro_usd(&self) -> Option<u64> {
        self.monthly_usd.map(usd_to_micro)
    }
}

/// How `auto` is routed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoutingConfig {
    pub enabled: bool,
    /// Add `concise_prompt` and apply routes' `max_tokens`.
    pub conciseness: bool,
    pub default_route: String,
    /// Classifier decisions below this confidence go to the default route.
    pub min_confidence: f32,
    pub concise_prompt: String,
}

/// One route: where a kind of request goes and how it is answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Route {
    pub enabled: bool,
    /// `None`: `default_model`.
    pub model: Option<String>,
    pub description: String,
    /// Template; see [`crate::routing::render_template`].
    pub system_prompt: String,
    /// Applied (as a cap on the tier's clamp) when `routing.conciseness` is on.
    pub max_tokens: Option<u32>,
    pub temperature: Option<f32>,
    /// Answers may be served from the exact-match cache.
    pub cache: bool,
    pub cache_ttl_s: u32,
    /// The cache key includes the user.
    pub personal: bool,
    /// Rules of routes with a higher priority are tried first; ties go by name.
    pub priority: i32,
    /// Case-insensitive substrings; any one fires the rule.
    pub keywords: Vec<String>,
    /// Simple case-insensitive globs (`*`, `?`, leading `^`, trailing `$`); any one fires.
    pub patterns: Vec<String>,
    /// The message containing code fires the rule.
    pub when_code: bool,
    /// Length bounds in characters; the rule only applies inside them. Bounds without any
    /// other condition form a length-only rule.
    pub min_chars: Option<u32>,
    pub max_chars: Option<u32>,
    /// Example utterances that train the classifier.
    pub examples: Vec<String>,
    /// Suggested next questions, sent to the widget as a quick-replies card after the answer.
    pub follow_ups: Vec<String>,
    /// The server tools this route offers (`None`: all of them).
    pub tools: Option<Vec<String>>,
}

/// A scenario: a prompt template the widget or a card can pick by name.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scenario {
    /// Route whose model and system prompt answer it; `None`: the default route.
    pub route: Option<String>,
    /// Template for the user message; `{{input}}` is what the user typed.
    pub prompt: String,
    /// Label for starter prompts.
    pub title: String,
}

/// The whole validated configuration.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Config {
    pub default_model: String,
    pub key_strategy: KeyStrategy,
    pub max_body_bytes: u64,
    pub connect_timeout_ms: u64,
    pub first_byte_timeout_ms: u64,
    /// How long a stream may go without its first token (content, reasoning or a tool
    /// call) once the head arrived; upstreams may override it. The shell does the timing.
    pub first_token_timeout_ms: u64,
    pub max_attempts: u32,
    pub allowed_origins: Vec<String>,
    pub guest_mode: bool,
    pub guest_tier: String,
    pub guest_pool: Option<GuestPool>,
    /// `[departments.<name>]`: budgets and a rate shared by a department's members.
    pub departments: BTreeMap<String, Department>,
    pub clock_skew_s: u64,
    pub max_token_lifetime_s: u64,
    pub token_issuer: Option<String>,
    pub token_audience: Option<String>,
    pub history_window_tokens: u32,
    pub default_tier: String,
    pub org: String,
    pub upstreams: Vec<Upstream>,
    pub aliases: BTreeMap<String, String>,
    pub prices: BTreeMap<String, Price>,
    pub tiers: BTreeMap<String, Tier>,
    pub budget: BudgetConfig,
    pub tools: ToolsConfig,
    pub ledger: LedgerConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[alerts]` (config/alerts.rs).
    pub alerts: super::alerts::AlertsConfig,
    /// `[otel]` (config/otel.rs): chat requests' spans over OTLP/HTTP.
    pub otel: super::otel::OtelConfig,
    pub routing: RoutingConfig,
    pub routes: BTreeMap<String, Route>,
    pub scenarios: BTreeMap<String, Scenario>,
}

/// Where a concrete model is served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedModel {
    /// Index into [`Config::upstreams`].
    pub upstream_index: usize,
    /// The model name sent upstream (aliases resolved).
    pub upstream_model: String,
}

/// What a requested model name means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelChoice {
    /// `auto`: let [`crate::routing`] decide, then resolve the route's model.
    Auto,
    Served(ResolvedModel),
}

impl Config {
    /// A model served by several upstreams goes to the first that lists it.
    pub fn resolve_model(&self, asked: &str) -> Result<ModelChoice, ModelError> {
        if asked == AUTO_MODEL {
            return Ok(ModelChoice::Auto);
        }
        let model = self.aliases.get(asked).map(String::as_str).unwrap_or(asked);
        self.upstreams
            .iter()
            .position(|upstream| upstream.models.iter().any(|served| served == model))
            .map(|upstream_index| {
                ModelChoice::Served(ResolvedModel {
                    upstream_index,
                    upstream_model: model.to_string(),
                })
            })
            .ok_or_else(|| ModelError::UnknownModel(asked.to_string()))
    }

    /// Public model names for `GET /v1/models`: `auto`, aliases and served models.
    pub fn public_models(&self) -> Vec<String> {
        let mut names = BTreeSet::new();
        for upstream in &self.upstreams {
            names.extend(upstream.models.iter().cloned());
        }
        names.extend(self.aliases.keys().cloned());
        let mut list = vec![AUTO_MODEL.to_string()];
        list.extend(names);
        list
    }

    /// The price of a model as sent upstream or asked (aliases resolved).
    pub fn price(&self, model: &str) -> Option<&Price> {
        let model = self.aliases.get(model).map(String::as_str).unwrap_or(model);
        self.prices.get(model)
    }

    /// The model a route uses (its own or `default_model`).
    pub fn route_model<'a>(&'a self, route: &'a Route) -> &'a str {
        route.model.as_deref().unwrap_or(&self.default_model)
    }

    /// The tier for a token's `tier` claim: unknown or missing claims get `default_tier`.
    pub fn tier(&self, claimed: Option<&str>) -> Option<&Tier> {
        claimed
            .and_then(|name| self.tiers.get(name))
            .or_else(|| self.tiers.get(&self.default_tier))
    }

    /// Whether a request's `Origin` header is allowed (exact, case-insensitive, or `*`).
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|allowed| allowed == "*" || allowed.eq_ignore_ascii_case(origin))
    }

    /// The first-token timeout of the upstream at `upstream_index`: its own, or the
    /// top-level one.
    pub fn first_token_timeout_ms(&self, upstream_index: usize) -> u64 {
        self.upstreams
            .get(upstream_index)
            .and_then(|upstream| upstream.first_token_timeout_ms)
            .unwrap_or(self.first_token_timeout_ms)
    }

    /// `budget.monthly_usd` in micro-USD.
    pub fn deployment_monthly_micro_usd(&self) -> Option<u64> {
        self.budget.monthly_usd.map(usd_to_micro)
    }

    /// `budget.timezone` as a zone (UTC if it were not valid, which validation refuses).
    pub fn zone(&self) -> crate::calendar::Zone {
        crate::calendar::Zone::parse(&self.budget.timezone).unwrap_or_default()
    }

    /// `budget.daily_usd` in micro-USD.
    pub fn deployment_daily_micro_usd(&self) -> Option<u64> {
        self.budget.daily_usd.map(usd_to_micro)
    }
}

/// Whole USD to micro-USD, rounded; negative or NaN becomes 0.
pub fn usd_to_micro(usd: f64) -> u64 {
    (usd * 1_000_000.0).round().max(0.0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::load;

    #[test]
    fn costs_are_exact_and_round_up() {
        let mini = Price {
            input_per_mtok: 0.15,
            output_per_mtok: 0.6,
            cached_input_per_mtok: 0.075,
            max_reasoning_tokens: None,
        };
        // 2 uncached × 0.15 + 1 cached × 0.075 + 7 × 0.6 = 4.575 µ$, rounded up.
        assert_eq!(mini.cost_micro_usd(3, 7, 1), 5);
        assert_eq!(mini.cost_micro_usd(0, 0, 0), 0);
        // A million of each at gpt-4o prices: $2.50 + $10.00.
        let gpt_4o = Price {
            input_per_mtok: 2.5,
            output_per_mtok: 10.0,
            cached_input_per_mtok: 1.25,
            max_reasoning_tokens: None,
        };
        assert_eq!(gpt_4o.cost_micro_usd(1_000_000, 1_000_000, 0), 12_500_000);
        assert_eq!(gpt_4o.cost_micro_usd(1_000_000, 0, 400_000), 2_000_000);
    }

    #[test]
    fn cost_is_exact_in_micro_usd() {
        let price = Config::default().prices["gpt-4o-mini"];
        // 1000 prompt (400 cached) and 500 completion tokens:
        // 600 * 0.15 + 400 * 0.075 + 500 * 0.6 = 90 + 30 + 300 micro-USD.
        assert_eq!(price.cost_micro_usd(1000, 500, 400), 420);
        assert_eq!(price.cost_micro_usd(1, 0, 0), 1, "rounds up, never free");
        assert_eq!(usd_to_micro(2.0), 2_000_000);
    }

    #[test]
    fn base_url_comes_from_env_when_unset() {
        let upstream = &Config::default().upstreams[0];
        let from_env = upstream.base_url(|name| {
            (name == "OPENAI_BASE_URL").then(|| "http://127.0.0.1:9999/v1/".to_string())
        });
        assert_eq!(from_env, "http://127.0.0.1:9999/v1");
        assert_eq!(upstream.base_url(|_| None), "https://api.openai.com/v1");
    }

    #[test]
    fn tier_lookup_and_model_allowance() {
        let config = Config::default();
        assert!(config
            .tier(Some("staff"))
            .is_some_and(|tier| tier.allows("o4-mini")));
        let guest = config.tier(Some("guest"));
        assert!(guest.is_some_and(|tier| tier.allows("auto") && !tier.allows("gpt-4o")));
        assert_eq!(config.tier(Some("unknown")), config.tiers.get("staff"));
        assert_eq!(config.tier(None), config.tiers.get("staff"));
    }

    #[test]
    fn resolve_model_follows_aliases_to_upstreams() {
        let config = load(
            r#"
            [[upstreams]]
            name = "openai"
            models = ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini"]
            [[upstreams]]
            name = "local"
            base_url = "http://10.0.0.5:8000/v1"
            keys_secret = "LOCAL_KEYS"
            models = ["qwen2.5"]
            [aliases]
            fast = "gpt-4o-mini"
            cheap = "qwen2.5"
            [prices."qwen2.5"]
            input_per_mtok = 0
            output_per_mtok = 0
        "#,
        );
        assert_eq!(config.resolve_model("auto"), Ok(ModelChoice::Auto));
        assert_eq!(
            config.resolve_model("cheap"),
            Ok(ModelChoice::Served(ResolvedModel {
                upstream_index: 1,
                upstream_model: "qwen2.5".to_string()
            }))
        );
        assert_eq!(
            config.resolve_model("fast"),
            Ok(ModelChoice::Served(ResolvedModel {
                upstream_index: 0,
                upstream_model: "gpt-4o-mini".to_string()
            }))
        );
        assert_eq!(
            config.resolve_model("gpt-5"),
            Err(ModelError::UnknownModel("gpt-5".to_string()))
        );
        assert!(config.public_models().contains(&"cheap".to_string()));
        assert_eq!(
            config
                .price("cheap")
                .map(|p| p.cost_micro_usd(1000, 1000, 0)),
            Some(0)
        );
    }
}
