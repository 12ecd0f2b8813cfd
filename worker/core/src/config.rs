//! `OACHAT_CONFIG`: the one variable that configures the worker.
//!
//! The variable holds either a JSON object or a TOML document. Detection is by the first
//! non-space character: `{` means JSON, anything else TOML. (wrangler hands a `[vars]` table to
//! the worker as a JSON object; the glue serialises it to a JSON string before calling
//! [`Config::load`].) An empty or all-space value means "all defaults".
//!
//! Every key is optional. Unknown keys are rejected with an error that names them, because a
//! typo such as `rmp = 5` must not silently leave a tier unlimited. Errors name the field path,
//! e.g. `tiers.staff.max_tokens: invalid type: string "x", expected u32`.
//!
//! Loading has two steps, both done once per isolate (never on the hot path):
//! 1. [`Config::parse`]: syntax, types, unknown keys, and merging over the defaults;
//! 2. [`Config::validate`]: meaning (references exist, numbers in range), reporting every
//!    problem at once. [`Config::load`] runs both.
//!
//! # Merging over the defaults
//! Scalars replace the default. `upstreams` and every list replace the default list. The tables
//! `aliases`, `prices`, `tiers`, `routes` and `scenarios` merge by name: an entry for an existing
//! name changes only the fields it sets (so `[routes.code] model = "gpt-4o"` keeps the built-in
//! prompt and examples); an entry for a new name starts from: the staff tier (tiers), a blank
//! route (routes) or nothing (prices: input and output prices are then required).
//!
//! # Keys (TOML view)
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `default_model` | `"gpt-4o-mini"` | what `auto` means when routing is off |
//! | `key_strategy` | `"weighted"` | `weighted` random or `round_robin` key choice |
//! | `max_body_bytes` | `1048576` | larger request bodies get 413 |
//! | `connect_timeout_ms` | `10000` | validated but not enforced on its own: a Worker's `fetch` does not expose the connect phase, so `first_byte_timeout_ms` bounds connect + response head |
//! | `first_byte_timeout_ms` | `30000` | upstream time to first byte |
//! | `max_attempts` | `3` | attempts per request over the key pool (1..=10) |
//! | `allowed_origins` | `["http://127.0.0.1:8787", "http://localhost:8787"]` | widget origins, `scheme://host[:port]` or `*` |
//! | `guest_mode` | `false` | unsigned visitors get `guest_tier` |
//! | `guest_tier` | `"guest"` | tier for guests |
//! | `[guest_pool]` | none | what all guests together may use: `rpm`, `daily_usd` (a share of `budget.daily_usd`; employees keep the rest) |
//! | `clock_skew_s` | `60` | token `exp` tolerance (0..=600) |
//! | `max_token_lifetime_s` | `86400` | user tokens living longer than this (`exp - iat`, or `exp - now` without `iat`) are refused |
//! | `token_issuer` | none | when set, a user token's `iss` must equal it |
//! | `token_audience` | none | when set, a user token's `aud` (a string or a list) must contain it |
//! | `history_window_tokens` | `6000` | server-side history trimmed to this many tokens |
//! | `default_tier` | `"staff"` | tier of a token without a (known) `tier` claim |
//! | `org` | `""` | value of `{{org}}` in prompts |
//! | `[[upstreams]]` | one `openai` upstream | see below |
//! | `upstreams[].name` | required | shown in the ledger and key ids |
//! | `upstreams[].base_url` | env `OPENAI_BASE_URL`, else `https://api.openai.com/v1` | OpenAI-compatible base |
//! | `upstreams[].base_url_var` | `"OPENAI_BASE_URL"` | env var read when `base_url` is unset |
//! | `upstreams[].keys_secret` | `"OPENAI_API_KEYS"` | name of the secret holding this upstream's keys |
//! | `upstreams[].models` | the six priced OpenAI models | models this upstream serves |
//! | `upstreams[].weights` | `[]` (all 1) | per-key weights, in the secret's order, each > 0 |
//! | `[aliases]` | `{}` | public name → served model, e.g. `fast = "gpt-4o-mini"` |
//! | `[prices."m"]` | list prices of the six models | `input_per_mtok`, `output_per_mtok`, `cached_input_per_mtok` (USD per 1M tokens; cached defaults to input) |
//! | `[tiers.T]` | `staff`, `guest` | `rpm`, `max_rounds`, `daily_tokens`, `daily_usd` (number or `"unlimited"`), `max_tokens`, `max_n` (default 1), `models`, `allowed_fields` (request fields forwarded upstream; default [`DEFAULT_ALLOWED_FIELDS`]) |
//! | `[budget]` | | `daily_usd = 50.0` (deployment cap, or `"unlimited"`), `lease_slice_usd = 0.5`, `reservation_ttl_s = 600` (10..: how long a reservation outlives its last renewal; a live request renews it every third of this) |
//! | `[routing]` | | `enabled = true`, `conciseness = true`, `default_route = "general"`, `min_confidence = 0.5`, `concise_prompt` |
//! | `[routes.R]` | `code`, `translate`, `summarize`, `writing`, `general` | see the next table |
//! | `[scenarios.S]` | `{}` | `route` (default: the default route), `prompt` (user-message template, default `"{{input}}"`), `title` |
//!
//! Route fields (`[routes.R]`; a new route starts from these defaults, a built-in one from its
//! entry in `routing/default_routes.toml`):
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `enabled` | `true` | disabled routes are never chosen |
//! | `model` | `default_model` | model (or alias) that answers |
//! | `description` | `""` | for people and the admin API |
//! | `system_prompt` | `""` | template: `{{user.name}}`, `{{date}}`, `{{org}}`, `{{name\|fallback}}` |
//! | `max_tokens` | none | cap on the answer when `routing.conciseness` is on |
//! | `temperature` | none (client's) | 0..=2 |
//! | `cache` | `false` | answers may come from the exact-match cache |
//! | `cache_ttl_s` | `3600` | cache lifetime |
//! | `personal` | `false` | the cache key includes the user |
//! | `priority` | `0` | rules of higher-priority routes are tried first |
//! | `keywords` | `[]` | case-insensitive substrings that select the route |
//! | `patterns` | `[]` | globs: `*` any run, `?` one character, `^`/`$` anchors |
//! | `when_code` | `false` | the message containing code selects the route |
//! | `min_chars`, `max_chars` | none | the rule applies only inside these lengths; alone they form a length rule |
//! | `examples` | `[]` | utterances that train the classifier (replaces the built-in list) |
//! | `extra_examples` | `[]` | appended to `examples`: the easy way to teach a built-in route |
//! | `follow_ups` | `[]` | suggested next questions: the widget shows them as quick replies after the answer |
//!
//! Tier defaults: `staff` = rpm 20, max_rounds 30, daily_tokens 200000, daily_usd 2.0,
//! max_tokens 2048, max_n 1, models `["*"]`; `guest` = rpm 5, max_rounds 10, daily_tokens 20000,
//! daily_usd 0.1, max_tokens 512, max_n 1, models `["auto", "gpt-4o-mini"]`. Both forward only
//! [`DEFAULT_ALLOWED_FIELDS`]: fields that change cost or privacy (`service_tier`, `store`,
//! `modalities`, `audio`, `web_search_options`, `prediction`, `metadata`...) are refused with a
//! 400 naming them unless a tier lists them, and `user` is always replaced by oachat's own
//! opaque id for the caller.
//! The built-in prices are OpenAI list prices as known when written; operators should check them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The model name that asks for routing instead of naming a model.
pub const AUTO_MODEL: &str = "auto";

/// The tier `models` entry that allows every model.
pub const ANY_MODEL: &str = "*";

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

/// The largest `n` OpenAI accepts; a tier's `max_n` cannot go beyond it.
pub const MAX_N: u32 = 128;

/// The default routes with their example utterances; the same schema as `[routes.*]`.
const DEFAULT_ROUTES_TOML: &str = include_str!("routing/default_routes.toml");

// ---------------------------------------------------------------------------------------------
// Errors

/// One thing wrong with the config, with the path of the field it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted field path such as `tiers.staff.rpm` or `upstreams[0].models`; empty for syntax.
    pub path: String,
    pub message: String,
}

/// Why `OACHAT_CONFIG` was refused: every problem found, each naming its field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl ConfigError {
    fn single(path: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError {
            problems: vec![ConfigProblem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            if problem.path.is_empty() {
                f.write_str(&problem.message)?;
            } else {
                write!(f, "{}: {}", problem.path, problem.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Why a model name could not be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelError {
    /// Neither an alias nor a model of any upstream (maps to 404 `model_not_found`).
    UnknownModel(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::UnknownModel(name) => write!(f, "the model `{name}` does not exist"),
        }
    }
}

impl std::error::Error for ModelError {}

// ---------------------------------------------------------------------------------------------
// The resolved configuration

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
    /// `None`: read the env var `base_url_var`, falling back to OpenAI's public API.
    pub base_url: Option<String>,
    pub base_url_var: String,
    /// Name of the secret that holds this upstream's keys.
    pub keys_secret: String,
    pub models: Vec<String>,
    /// Per-key weights in the secret's order; empty means every key weighs 1.
    pub weights: Vec<u32>,
}

impl Upstream {
    /// The base URL without a trailing slash. `env` looks up plain vars, which the core
    /// cannot read itself.
    pub fn base_url(&self, env: impl Fn(&str) -> Option<String>) -> String {
        let url = match &self.base_url {
            Some(url) => url.clone(),
            None => env(&self.base_url_var)
                .filter(|value| !value.trim().is_empty())
                .unwrap_or_else(|| "https://api.openai.com/v1".to_string()),
        };
        url.trim().trim_end_matches('/').to_string()
    }
}

/// USD per million tokens. Since 1 USD = 10^6 micro-USD, this is also micro-USD per token.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cached_input_per_mtok: f64,
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
    /// A request's `max_tokens` is clamped to this.
    pub max_tokens: u32,
    /// The most choices (`n`) one request may ask for; each is reserved in full.
    pub max_n: u32,
    /// Public model names allowed; `*` allows any, `auto` allows routing.
    pub models: Vec<String>,
    /// Request fields forwarded upstream (see [`DEFAULT_ALLOWED_FIELDS`]); any other field is
    /// refused with a 400 that names it.
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
}

/// The deployment-wide budget.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BudgetConfig {
    /// Cap for the whole deployment per UTC day; `None` is unlimited.
    pub daily_usd: Option<f64>,
    /// Size of the slice a user object leases from the deployment budget at a time.
    pub lease_slice_usd: f64,
    /// A reservation not renewed for this long is presumed dead (its isolate died) and
    /// charged in full; a live request renews it every third of this.
    pub reservation_ttl_s: u64,
}

/// What all guests together may use (`[guest_pool]`); `None` limits are unlimited.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GuestPool {
    /// Guest requests per minute, all guests together.
    pub rpm: Option<u32>,
    /// The share of the deployment's daily cap that guests may hold; employees keep the rest.
    pub daily_usd: Option<f64>,
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
}

impl Route {
    fn blank() -> Route {
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
        }
    }
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
    pub max_attempts: u32,
    pub allowed_origins: Vec<String>,
    pub guest_mode: bool,
    pub guest_tier: String,
    pub guest_pool: Option<GuestPool>,
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

const DEFAULT_MODELS: [&str; 6] = [
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

fn staff_tier() -> Tier {
    Tier {
        rpm: Some(20),
        max_rounds: Some(30),
        daily_tokens: Some(200_000),
        daily_usd: Some(2.0),
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
            max_attempts: 3,
            allowed_origins: vec![
                "http://127.0.0.1:8787".to_string(),
                "http://localhost:8787".to_string(),
            ],
            guest_mode: false,
            guest_tier: "guest".to_string(),
            guest_pool: None,
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
            }],
            aliases: BTreeMap::new(),
            prices: DEFAULT_PRICES
                .iter()
                .map(|&(model, input, output, cached)| {
                    let price = Price {
                        input_per_mtok: input,
                        output_per_mtok: output,
                        cached_input_per_mtok: cached,
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
                lease_slice_usd: 0.5,
                reservation_ttl_s: 600,
            },
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

impl Config {
    /// Parse and validate; what the glue calls once per isolate.
    pub fn load(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Parse JSON or TOML and merge it over the defaults. Does not check meaning; see
    /// [`Config::validate`].
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        // A byte-order mark from an editor is not content.
        let trimmed = text.trim_start_matches('\u{feff}').trim_start();
        let value: Value = if trimmed.is_empty() {
            Value::Object(serde_json::Map::new())
        } else if trimmed.starts_with('{') {
            serde_json::from_str(trimmed)
                .map_err(|error| ConfigError::single("", format!("JSON syntax: {error}")))?
        } else {
            toml::from_str(trimmed).map_err(|error| {
                // toml's message spans several lines with a source excerpt; one line reads
                // better in an HTTP error and a terminal.
                let message = error
                    .to_string()
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                ConfigError::single("", format!("TOML syntax: {message}"))
            })?
        };
        if !value.is_object() {
            return Err(ConfigError::single(
                "",
                "the config must be a table (object)",
            ));
        }
        let raw: RawConfig = from_value_with_path(&value, "")?;
        raw.apply(Config::default())
    }

    /// Check meaning: references exist, numbers are in range. Reports every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        self.validate_scalars(&mut problems);
        self.validate_upstreams(&mut problems);
        self.validate_models(&mut problems);
        self.validate_tiers(&mut problems);
        self.validate_routes(&mut problems);
        if problems.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: problems.list,
            })
        }
    }

    /// What a requested model name means: `auto`, an alias, or a served model.
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

    /// `budget.daily_usd` in micro-USD.
    pub fn deployment_daily_micro_usd(&self) -> Option<u64> {
        self.budget.daily_usd.map(usd_to_micro)
    }

    fn model_exists(&self, model: &str) -> bool {
        matches!(self.resolve_model(model), Ok(ModelChoice::Served(_)))
    }

    fn validate_scalars(&self, problems: &mut Problems) {
        if self.max_body_bytes == 0 {
            problems.add("max_body_bytes", "must be greater than 0");
        }
        if self.connect_timeout_ms == 0 {
            problems.add("connect_timeout_ms", "must be greater than 0");
        }
        if self.first_byte_timeout_ms == 0 {
            problems.add("first_byte_timeout_ms", "must be greater than 0");
        }
        if !(1..=10).contains(&self.max_attempts) {
            problems.add("max_attempts", "must be between 1 and 10");
        }
        // Tokens are short-lived; a large skew would make `exp` meaningless.
        if self.clock_skew_s > 600 {
            problems.add("clock_skew_s", "must be at most 600 seconds");
        }
        if self.history_window_tokens == 0 {
            problems.add("history_window_tokens", "must be greater than 0");
        }
        for (index, origin) in self.allowed_origins.iter().enumerate() {
            if !is_valid_origin(origin) {
                problems.add(
                    format!("allowed_origins[{index}]"),
                    format!(
                        "`{origin}` is not `scheme://host[:port]` (http or https, no path) or `*`"
                    ),
                );
            }
        }
        if !self.tiers.contains_key(&self.default_tier) {
            problems.add(
                "default_tier",
                format!("no tier named `{}`", self.default_tier),
            );
        }
        if self.guest_mode && !self.tiers.contains_key(&self.guest_tier) {
            problems.add("guest_tier", format!("no tier named `{}`", self.guest_tier));
        }
        check_usd(problems, "budget.daily_usd", self.budget.daily_usd);
        if !(self.budget.lease_slice_usd.is_finite() && self.budget.lease_slice_usd > 0.0) {
            problems.add("budget.lease_slice_usd", "must be a number greater than 0");
        }
        // Live requests renew their reservation every third of this, so it only bounds how
        // long a dead isolate's reservation holds budget before it is charged in full.
        if self.budget.reservation_ttl_s < 10 {
            problems.add("budget.reservation_ttl_s", "must be at least 10 seconds");
        }
        if self.max_token_lifetime_s == 0 {
            problems.add("max_token_lifetime_s", "must be greater than 0");
        }
        if let Some(pool) = &self.guest_pool {
            check_usd(problems, "guest_pool.daily_usd", pool.daily_usd);
        }
        if !(0.0..=1.0).contains(&self.routing.min_confidence) {
            problems.add("routing.min_confidence", "must be between 0 and 1");
        }
    }

    fn validate_upstreams(&self, problems: &mut Problems) {
        if self.upstreams.is_empty() {
            problems.add("upstreams", "at least one upstream is needed");
        }
        let mut names = BTreeSet::new();
        for (index, upstream) in self.upstreams.iter().enumerate() {
            let path = format!("upstreams[{index}]");
            if upstream.name.trim().is_empty() {
                problems.add(format!("{path}.name"), "must not be empty");
            } else if !names.insert(upstream.name.as_str()) {
                problems.add(
                    format!("{path}.name"),
                    format!("`{}` is used twice", upstream.name),
                );
            }
            if let Some(url) = &upstream.base_url {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.add(
                        format!("{path}.base_url"),
                        "must start with http:// or https://",
                    );
                }
            }
            if upstream.keys_secret.trim().is_empty() {
                problems.add(format!("{path}.keys_secret"), "must name a secret");
            }
            if upstream.models.is_empty() {
                problems.add(format!("{path}.models"), "must list at least one model");
            }
            for (model_index, model) in upstream.models.iter().enumerate() {
                if model.trim().is_empty() || model == AUTO_MODEL {
                    problems.add(
                        format!("{path}.models[{model_index}]"),
                        "must be a real model name (not empty or `auto`)",
                    );
                }
            }
            for (weight_index, weight) in upstream.weights.iter().enumerate() {
                if *weight == 0 {
                    problems.add(
                        format!("{path}.weights[{weight_index}]"),
                        "must be greater than 0",
                    );
                }
            }
        }
    }

    fn validate_models(&self, problems: &mut Problems) {
        if !self.model_exists(&self.default_model) {
            problems.add(
                "default_model",
                format!(
                    "`{}` is not served by any upstream or alias",
                    self.default_model
                ),
            );
        }
        for (alias, target) in &self.aliases {
            let path = format!("aliases.{}", quote_key(alias));
            if alias == AUTO_MODEL {
                problems.add(path, "`auto` is reserved for routing");
            } else if self
                .upstreams
                .iter()
                .any(|upstream| upstream.models.contains(alias))
            {
                problems.add(path, "shadows a model an upstream serves");
            } else if !self
                .upstreams
                .iter()
                .any(|upstream| upstream.models.contains(target))
            {
                problems.add(
                    path,
                    format!("target `{target}` is not served by any upstream"),
                );
            }
        }
        for (model, price) in &self.prices {
            let path = format!("prices.{}", quote_key(model));
            for (field, value) in [
                ("input_per_mtok", price.input_per_mtok),
                ("output_per_mtok", price.output_per_mtok),
                ("cached_input_per_mtok", price.cached_input_per_mtok),
            ] {
                if !(value.is_finite() && value >= 0.0) {
                    problems.add(format!("{path}.{field}"), "must be a non-negative number");
                }
            }
        }
        // Without a price, usage costs nothing and USD budgets never trigger.
        for (index, upstream) in self.upstreams.iter().enumerate() {
            for model in &upstream.models {
                if !self.prices.contains_key(model) {
                    problems.add(
                        format!("prices.{}", quote_key(model)),
                        format!("missing: upstreams[{index}] serves `{model}`; give it a price (0 if free)"),
                    );
                }
            }
        }
    }

    fn validate_tiers(&self, problems: &mut Problems) {
        for (name, tier) in &self.tiers {
            let path = format!("tiers.{}", quote_key(name));
            if tier.max_tokens == 0 {
                problems.add(format!("{path}.max_tokens"), "must be greater than 0");
            }
            if !(1..=MAX_N).contains(&tier.max_n) {
                problems.add(
                    format!("{path}.max_n"),
                    format!("must be between 1 and {MAX_N}"),
                );
            }
            for (index, field) in tier.allowed_fields.iter().enumerate() {
                if field.trim().is_empty() || field == "oachat" {
                    problems.add(
                        format!("{path}.allowed_fields[{index}]"),
                        "must name a request field (not empty, not `oachat`)",
                    );
                }
            }
            check_usd(problems, &format!("{path}.daily_usd"), tier.daily_usd);
            if tier.models.is_empty() {
                problems.add(
                    format!("{path}.models"),
                    "must list at least one model (or `*`)",
                );
            }
            for (index, model) in tier.models.iter().enumerate() {
                if model != ANY_MODEL && model != AUTO_MODEL && !self.model_exists(model) {
                    problems.add(
                        format!("{path}.models[{index}]"),
                        format!("`{model}` is not served by any upstream or alias"),
                    );
                }
            }
        }
    }

    fn validate_routes(&self, problems: &mut Problems) {
        match self.routes.get(&self.routing.default_route) {
            None => problems.add(
                "routing.default_route",
                format!("no route named `{}`", self.routing.default_route),
            ),
            Some(route) if !route.enabled => {
                problems.add("routing.default_route", "the default route must be enabled")
            }
            Some(_) => {}
        }
        for (name, route) in &self.routes {
            let path = format!("routes.{}", quote_key(name));
            if let Some(model) = &route.model {
                if !self.model_exists(model) {
                    problems.add(
                        format!("{path}.model"),
                        format!("`{model}` is not served by any upstream or alias"),
                    );
                }
            }
            if route.max_tokens == Some(0) {
                problems.add(format!("{path}.max_tokens"), "must be greater than 0");
            }
            if let Some(temperature) = route.temperature {
                if !(0.0..=2.0).contains(&temperature) {
                    problems.add(format!("{path}.temperature"), "must be between 0 and 2");
                }
            }
            for (index, keyword) in route.keywords.iter().enumerate() {
                if keyword.trim().is_empty() {
                    problems.add(format!("{path}.keywords[{index}]"), "must not be empty");
                }
            }
            for (index, pattern) in route.patterns.iter().enumerate() {
                let core = pattern.trim_start_matches('^').trim_end_matches('$');
                if core.chars().all(|c| c == '*') {
                    problems.add(
                        format!("{path}.patterns[{index}]"),
                        "matches everything; use min_chars/max_chars or remove it",
                    );
                }
            }
            if let (Some(min), Some(max)) = (route.min_chars, route.max_chars) {
                if min > max {
                    problems.add(format!("{path}.min_chars"), "is greater than max_chars");
                }
            }
        }
        for (name, scenario) in &self.scenarios {
            let path = format!("scenarios.{}", quote_key(name));
            if let Some(route) = &scenario.route {
                match self.routes.get(route) {
                    None => {
                        problems.add(format!("{path}.route"), format!("no route named `{route}`"))
                    }
                    Some(found) if !found.enabled => problems.add(
                        format!("{path}.route"),
                        format!("route `{route}` is disabled"),
                    ),
                    Some(_) => {}
                }
            }
            if scenario.prompt.trim().is_empty() {
                problems.add(format!("{path}.prompt"), "must not be empty");
            }
        }
    }
}

/// Whole USD to micro-USD, rounded; negative or NaN becomes 0.
pub fn usd_to_micro(usd: f64) -> u64 {
    (usd * 1_000_000.0).round().max(0.0) as u64
}

#[derive(Default)]
struct Problems {
    list: Vec<ConfigProblem>,
}

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.list.push(ConfigProblem {
            path: path.into(),
            message: message.into(),
        });
    }
}

fn check_usd(problems: &mut Problems, path: &str, usd: Option<f64>) {
    if let Some(value) = usd {
        if !(value.is_finite() && value >= 0.0) {
            problems.add(path, "must be a non-negative number or \"unlimited\"");
        }
    }
}

/// `*`, or `http(s)://host[:port]` with nothing after; what browsers send as `Origin`.
fn is_valid_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    if scheme != "http" && scheme != "https" {
        return false;
    }
    let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
        // IPv6 literal: [::1]:8787
        let Some((inside, after)) = after_bracket.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => (inside, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (inside, Some(port)),
                None => return false,
            },
        }
    } else {
        let (host, port) = match rest.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
        if !host_ok {
            return false;
        }
        (host, port)
    };
    let port_ok = match port {
        None => true,
        Some(port) => {
            !port.is_empty()
                && port.len() <= 5
                && port.chars().all(|c| c.is_ascii_digit())
                && port
                    .parse::<u32>()
                    .map(|n| (1..=65535).contains(&n))
                    .unwrap_or(false)
        }
    };
    !host.is_empty() && port_ok
}

/// A map key as it appears in a path: quoted when it contains a dot or space.
fn quote_key(key: &str) -> String {
    if key.is_empty() || key.contains(['.', ' ', '"', '[', ']']) {
        format!("{key:?}")
    } else {
        key.to_string()
    }
}

// ---------------------------------------------------------------------------------------------
// The raw, partial shape as written by the operator

/// A number limit, or the word `"unlimited"` (TOML has no null).
#[derive(Clone, Copy, Debug, PartialEq)]
enum LimitSetting {
    Unlimited,
    Number(f64),
}

impl<'de> Deserialize<'de> for LimitSetting {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct LimitVisitor;
        impl Visitor<'_> for LimitVisitor {
            type Value = LimitSetting;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a non-negative number or \"unlimited\"")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<LimitSetting, E> {
                Ok(LimitSetting::Number(value as f64))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<LimitSetting, E> {
                if value < 0 {
                    return Err(E::invalid_value(de::Unexpected::Signed(value), &self));
                }
                Ok(LimitSetting::Number(value as f64))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<LimitSetting, E> {
                if !(value.is_finite() && value >= 0.0) {
                    return Err(E::invalid_value(de::Unexpected::Float(value), &self));
                }
                Ok(LimitSetting::Number(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<LimitSetting, E> {
                if value == "unlimited" {
                    Ok(LimitSetting::Unlimited)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(value), &self))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<LimitSetting, E> {
                Ok(LimitSetting::Unlimited)
            }
        }
        deserializer.deserialize_any(LimitVisitor)
    }
}

impl LimitSetting {
    fn into_integer<T: TryFrom<u64>>(self, path: &str) -> Result<Option<T>, ConfigError> {
        match self {
            LimitSetting::Unlimited => Ok(None),
            LimitSetting::Number(value) => {
                let whole = value.fract() == 0.0 && value <= u64::MAX as f64;
                let converted = if whole {
                    T::try_from(value as u64).ok()
                } else {
                    None
                };
                converted.map(Some).ok_or_else(|| {
                    ConfigError::single(
                        path,
                        format!("expected a whole number in range or \"unlimited\", got {value}"),
                    )
                })
            }
        }
    }

    fn into_usd(self) -> Option<f64> {
        match self {
            LimitSetting::Unlimited => None,
            LimitSetting::Number(value) => Some(value),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    default_model: Option<String>,
    key_strategy: Option<KeyStrategy>,
    max_body_bytes: Option<u64>,
    connect_timeout_ms: Option<u64>,
    first_byte_timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    allowed_origins: Option<Vec<String>>,
    guest_mode: Option<bool>,
    guest_tier: Option<String>,
    guest_pool: Option<GuestPoolPatch>,
    clock_skew_s: Option<u64>,
    max_token_lifetime_s: Option<u64>,
    token_issuer: Option<String>,
    token_audience: Option<String>,
    history_window_tokens: Option<u32>,
    default_tier: Option<String>,
    org: Option<String>,
    upstreams: Option<Vec<RawUpstream>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    #[serde(default)]
    prices: BTreeMap<String, PricePatch>,
    #[serde(default)]
    tiers: BTreeMap<String, TierPatch>,
    budget: Option<BudgetPatch>,
    routing: Option<RoutingPatch>,
    #[serde(default)]
    routes: BTreeMap<String, RoutePatch>,
    #[serde(default)]
    scenarios: BTreeMap<String, RawScenario>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpstream {
    name: String,
    base_url: Option<String>,
    base_url_var: Option<String>,
    keys_secret: Option<String>,
    models: Option<Vec<String>>,
    #[serde(default)]
    weights: Vec<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricePatch {
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    cached_input_per_mtok: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierPatch {
    rpm: Option<LimitSetting>,
    max_rounds: Option<LimitSetting>,
    daily_tokens: Option<LimitSetting>,
    daily_usd: Option<LimitSetting>,
    max_tokens: Option<u32>,
    max_n: Option<u32>,
    models: Option<Vec<String>>,
    allowed_fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestPoolPatch {
    rpm: Option<LimitSetting>,
    daily_usd: Option<LimitSetting>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetPatch {
    daily_usd: Option<LimitSetting>,
    lease_slice_usd: Option<f64>,
    reservation_ttl_s: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutingPatch {
    enabled: Option<bool>,
    conciseness: Option<bool>,
    default_route: Option<String>,
    min_confidence: Option<f32>,
    concise_prompt: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoutePatch {
    enabled: Option<bool>,
    model: Option<String>,
    description: Option<String>,
    system_prompt: Option<String>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    cache: Option<bool>,
    cache_ttl_s: Option<u32>,
    personal: Option<bool>,
    priority: Option<i32>,
    keywords: Option<Vec<String>>,
    patterns: Option<Vec<String>>,
    when_code: Option<bool>,
    min_chars: Option<u32>,
    max_chars: Option<u32>,
    examples: Option<Vec<String>>,
    /// Appended to the (default or given) examples: the easy way to teach a built-in route.
    #[serde(default)]
    extra_examples: Vec<String>,
    follow_ups: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    route: Option<String>,
    prompt: Option<String>,
    title: Option<String>,
}

impl RawConfig {
    fn apply(self, base: Config) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let mut config = base;
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = self.$field {
                    config.$field = value;
                }
            };
        }
        set!(default_model);
        set!(key_strategy);
        set!(max_body_bytes);
        set!(connect_timeout_ms);
        set!(first_byte_timeout_ms);
        set!(max_attempts);
        set!(guest_mode);
        set!(guest_tier);
        set!(clock_skew_s);
        set!(max_token_lifetime_s);
        if let Some(issuer) = self.token_issuer {
            config.token_issuer = Some(issuer).filter(|issuer| !issuer.is_empty());
        }
        if let Some(audience) = self.token_audience {
            config.token_audience = Some(audience).filter(|audience| !audience.is_empty());
        }
        if let Some(pool) = self.guest_pool {
            let rpm = match pool.rpm {
                Some(rpm) => rpm.into_integer("guest_pool.rpm"),
                None => Ok(None),
            };
            match rpm {
                Ok(rpm) => {
                    config.guest_pool = Some(GuestPool {
                        rpm,
                        daily_usd: pool.daily_usd.and_then(LimitSetting::into_usd),
                    })
                }
                Err(error) => problems.extend(error.problems),
            }
        }
        set!(history_window_tokens);
        set!(default_tier);
        set!(org);
        if let Some(origins) = self.allowed_origins {
            // Browsers send scheme and host in lower case.
            config.allowed_origins = origins
                .iter()
                .map(|origin| origin.trim().to_ascii_lowercase())
                .collect();
        }
        if let Some(upstreams) = self.upstreams {
            config.upstreams = upstreams
                .into_iter()
                .map(|raw| Upstream {
                    name: raw.name,
                    base_url: raw.base_url,
                    base_url_var: raw
                        .base_url_var
                        .unwrap_or_else(|| "OPENAI_BASE_URL".to_string()),
                    keys_secret: raw
                        .keys_secret
                        .unwrap_or_else(|| "OPENAI_API_KEYS".to_string()),
                    models: raw.models.unwrap_or_else(|| {
                        DEFAULT_MODELS
                            .iter()
                            .map(|model| model.to_string())
                            .collect()
                    }),
                    weights: raw.weights,
                })
                .collect();
        }
        config.aliases.extend(self.aliases);
        for (model, patch) in self.prices {
            let path = format!("prices.{}", quote_key(&model));
            let base = config.prices.get(&model).copied();
            let input = patch
                .input_per_mtok
                .or(base.map(|price| price.input_per_mtok));
            let output = patch
                .output_per_mtok
                .or(base.map(|price| price.output_per_mtok));
            match (input, output) {
                (Some(input), Some(output)) => {
                    // A new model's cached price defaults to its input price: never cheaper
                    // than the operator said.
                    let cached = patch
                        .cached_input_per_mtok
                        .or(base.map(|price| price.cached_input_per_mtok))
                        .unwrap_or(input);
                    config.prices.insert(
                        model,
                        Price {
                            input_per_mtok: input,
                            output_per_mtok: output,
                            cached_input_per_mtok: cached,
                        },
                    );
                }
                (None, _) => problems.push(ConfigProblem {
                    path: format!("{path}.input_per_mtok"),
                    message: "required for a model without a built-in price".to_string(),
                }),
                (_, None) => problems.push(ConfigProblem {
                    path: format!("{path}.output_per_mtok"),
                    message: "required for a model without a built-in price".to_string(),
                }),
            }
        }
        for (name, patch) in self.tiers {
            let path = format!("tiers.{}", quote_key(&name));
            let base = config.tiers.get(&name).cloned().unwrap_or_else(staff_tier);
            match patch.apply(base, &path) {
                Ok(tier) => {
                    config.tiers.insert(name, tier);
                }
                Err(error) => problems.extend(error.problems),
            }
        }
        if let Some(budget) = self.budget {
            if let Some(daily) = budget.daily_usd {
                config.budget.daily_usd = daily.into_usd();
            }
            if let Some(slice) = budget.lease_slice_usd {
                config.budget.lease_slice_usd = slice;
            }
            if let Some(ttl) = budget.reservation_ttl_s {
                config.budget.reservation_ttl_s = ttl;
            }
        }
        if let Some(routing) = self.routing {
            let target = &mut config.routing;
            if let Some(value) = routing.enabled {
                target.enabled = value;
            }
            if let Some(value) = routing.conciseness {
                target.conciseness = value;
            }
            if let Some(value) = routing.default_route {
                target.default_route = value;
            }
            if let Some(value) = routing.min_confidence {
                target.min_confidence = value;
            }
            if let Some(value) = routing.concise_prompt {
                target.concise_prompt = value;
            }
        }
        for (name, patch) in self.routes {
            let base = config
                .routes
                .get(&name)
                .cloned()
                .unwrap_or_else(Route::blank);
            config.routes.insert(name, patch.apply(base));
        }
        for (name, raw) in self.scenarios {
            config.scenarios.insert(
                name,
                Scenario {
                    route: raw.route,
                    prompt: raw.prompt.unwrap_or_else(|| "{{input}}".to_string()),
                    title: raw.title.unwrap_or_default(),
                },
            );
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }
}

impl TierPatch {
    fn apply(self, mut tier: Tier, path: &str) -> Result<Tier, ConfigError> {
        if let Some(rpm) = self.rpm {
            tier.rpm = rpm.into_integer(&format!("{path}.rpm"))?;
        }
        if let Some(rounds) = self.max_rounds {
            tier.max_rounds = rounds.into_integer(&format!("{path}.max_rounds"))?;
        }
        if let Some(tokens) = self.daily_tokens {
            tier.daily_tokens = tokens.into_integer(&format!("{path}.daily_tokens"))?;
        }
        if let Some(usd) = self.daily_usd {
            tier.daily_usd = usd.into_usd();
        }
        if let Some(max_tokens) = self.max_tokens {
            tier.max_tokens = max_tokens;
        }
        if let Some(max_n) = self.max_n {
            tier.max_n = max_n;
        }
        if let Some(models) = self.models {
            tier.models = models;
        }
        if let Some(fields) = self.allowed_fields {
            tier.allowed_fields = fields;
        }
        Ok(tier)
    }
}

impl RoutePatch {
    fn apply(self, mut route: Route) -> Route {
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = self.$field {
                    route.$field = value;
                }
            };
        }
        macro_rules! set_option {
            ($field:ident) => {
                if let Some(value) = self.$field {
                    route.$field = Some(value);
                }
            };
        }
        set!(enabled);
        set_option!(model);
        set!(description);
        set!(system_prompt);
        set_option!(max_tokens);
        set_option!(temperature);
        set!(cache);
        set!(cache_ttl_s);
        set!(personal);
        set!(priority);
        set!(keywords);
        set!(patterns);
        set!(when_code);
        set_option!(min_chars);
        set_option!(max_chars);
        set!(examples);
        set!(follow_ups);
        route.examples.extend(self.extra_examples);
        route
    }
}

// ---------------------------------------------------------------------------------------------
// Deserialising a JSON value while tracking the field path.
//
// serde_json and toml report a line and column but not which field failed; an operator editing
// a `[vars]` table wants `tiers.staff.rpm`. Both syntaxes are first read into a
// `serde_json::Value`, then deserialised through this small deserializer that prefixes every
// error with the path of the key or index it came from.

fn from_value_with_path<T: DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, ConfigError> {
    T::deserialize(ValueDeserializer { value }).map_err(|error| {
        let mut path = prefix.to_string();
        for segment in error.path.iter().rev() {
            match segment {
                PathSegment::Key(key) => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&quote_key(key));
                }
                PathSegment::Index(index) => path.push_str(&format!("[{index}]")),
            }
        }
        ConfigError::single(path, error.message)
    })
}

enum PathSegment {
    Key(String),
    Index(usize),
}

/// A deserialisation error with the path collected innermost-first as it bubbles up.
struct PathError {
    path: Vec<PathSegment>,
    message: String,
}

impl PathError {
    fn within(mut self, segment: PathSegment) -> PathError {
        self.path.push(segment);
        self
    }
}

impl fmt::Debug for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PathError {}

impl de::Error for PathError {
    fn custom<T: fmt::Display>(message: T) -> PathError {
        PathError {
            path: Vec::new(),
            message: message.to_string(),
        }
    }
}

struct ValueDeserializer<'a> {
    value: &'a Value,
}

impl<'de> de::Deserializer<'de> for ValueDeserializer<'de> {
    type Error = PathError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(value) => visitor.visit_bool(*value),
            Value::Number(number) => {
                if let Some(value) = number.as_u64() {
                    visitor.visit_u64(value)
                } else if let Some(value) = number.as_i64() {
                    visitor.visit_i64(value)
                } else {
                    visitor.visit_f64(number.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(text) => visitor.visit_borrowed_str(text),
            Value::Array(items) => visitor.visit_seq(SeqWithPath {
                items: items.iter().enumerate(),
            }),
            Value::Object(map) => visitor.visit_map(MapWithPath {
                entries: map.iter(),
                pending: None,
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, PathError> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, PathError> {
        match self.value {
            Value::String(text) => visitor.visit_enum(text.as_str().into_deserializer()),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, PathError> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

struct SeqWithPath<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> de::SeqAccess<'de> for SeqWithPath<'de> {
    type Error = PathError;

    fn next_element_seed<T: de::DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, PathError> {
        match self.items.next() {
            None => Ok(None),
            Some((index, value)) => seed
                .deserialize(ValueDeserializer { value })
                .map(Some)
                .map_err(|error| error.within(PathSegment::Index(index))),
        }
    }
}

struct MapWithPath<'a> {
    entries: serde_json::map::Iter<'a>,
    pending: Option<(&'a String, &'a Value)>,
}

impl<'de> de::MapAccess<'de> for MapWithPath<'de> {
    type Error = PathError;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, PathError> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.pending = Some((key, value));
                let key_deserializer: de::value::BorrowedStrDeserializer<'de, PathError> =
                    de::value::BorrowedStrDeserializer::new(key);
                seed.deserialize(key_deserializer)
                    .map(Some)
                    .map_err(|error| error.within(PathSegment::Key(key.clone())))
            }
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, PathError> {
        match self.pending.take() {
            Some((key, value)) => seed
                .deserialize(ValueDeserializer { value })
                .map_err(|error| error.within(PathSegment::Key(key.clone()))),
            None => Err(de::Error::custom("value requested before its key")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_exact_and_round_up() {
        let mini = Price {
            input_per_mtok: 0.15,
            output_per_mtok: 0.6,
            cached_input_per_mtok: 0.075,
        };
        // 2 uncached × 0.15 + 1 cached × 0.075 + 7 × 0.6 = 4.575 µ$, rounded up.
        assert_eq!(mini.cost_micro_usd(3, 7, 1), 5);
        assert_eq!(mini.cost_micro_usd(0, 0, 0), 0);
        // A million of each at gpt-4o prices: $2.50 + $10.00.
        let gpt_4o = Price {
            input_per_mtok: 2.5,
            output_per_mtok: 10.0,
            cached_input_per_mtok: 1.25,
        };
        assert_eq!(gpt_4o.cost_micro_usd(1_000_000, 1_000_000, 0), 12_500_000);
        assert_eq!(gpt_4o.cost_micro_usd(1_000_000, 0, 400_000), 2_000_000);
    }

    #[track_caller]
    fn check_error(text: &str, expected: &str) {
        let error = match Config::load(text) {
            Ok(_) => String::from("(loaded fine)"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains(expected),
            "expected `{expected}` in `{error}`"
        );
    }

    #[track_caller]
    fn load(text: &str) -> Config {
        match Config::load(text) {
            Ok(config) => config,
            Err(error) => panic!("config should load: {error}"),
        }
    }

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

    #[test]
    fn empty_text_means_defaults() {
        assert_eq!(load("  \n"), Config::default());
        assert_eq!(load("{}"), Config::default());
        assert_eq!(load("\u{feff}{}").org, "");
    }

    #[test]
    fn toml_and_json_give_the_same_config() {
        let toml_text = r#"
            default_tier = "vip"
            org = "ACME"
            [tiers.vip]
            rpm = 60
            daily_usd = "unlimited"
            [aliases]
            fast = "gpt-4o-mini"
        "#;
        let json_text = r#" {"default_tier":"vip","org":"ACME",
            "tiers":{"vip":{"rpm":60,"daily_usd":"unlimited"}},"aliases":{"fast":"gpt-4o-mini"}}"#;
        let from_toml = load(toml_text);
        assert_eq!(from_toml, load(json_text));
        let vip = &from_toml.tiers["vip"];
        assert_eq!(vip.rpm, Some(60));
        assert_eq!(vip.daily_usd, None);
        // Unset fields of a new tier come from the staff defaults.
        assert_eq!(vip.max_tokens, 2048);
        assert!(from_toml.tiers.contains_key("staff"));
    }

    #[test]
    fn wrong_type_names_the_field_path() {
        check_error(
            "[tiers.staff]\nmax_tokens = \"x\"",
            "tiers.staff.max_tokens: invalid type: string \"x\", expected u32",
        );
        check_error(
            r#"{"max_attempts": -1}"#,
            "max_attempts: invalid value: integer `-1`, expected u32",
        );
        check_error(
            r#"{"upstreams":[{"name":"a","models":["m", 3]}]}"#,
            "upstreams[0].models[1]: invalid type: integer `3`, expected a string",
        );
        check_error(
            "[tiers.staff]\nrpm = \"x\"",
            "tiers.staff.rpm: invalid value: string \"x\"",
        );
        check_error(
            "[tiers.staff]\nrpm = 2.5",
            "tiers.staff.rpm: expected a whole number",
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_their_path() {
        check_error(
            "[tiers.staff]\nrmp = 5",
            "tiers.staff.rmp: unknown field `rmp`",
        );
        check_error(
            "max_atempts = 2",
            "max_atempts: unknown field `max_atempts`",
        );
        check_error(
            r#"{"routes":{"code":{"modle":"gpt-4o"}}}"#,
            "routes.code.modle: unknown field",
        );
        check_error(
            "[prices.\"gpt-4.1\"]\ninput = 1",
            "prices.\"gpt-4.1\".input: unknown field",
        );
        check_error(
            "key_strategy = \"random\"",
            "key_strategy: unknown variant `random`",
        );
    }

    #[test]
    fn syntax_errors_say_which_syntax() {
        check_error("{\"org\": ", "JSON syntax");
        check_error("org = ", "TOML syntax");
        check_error("[1, 2]", "TOML syntax");
    }

    #[test]
    fn semantic_errors_name_fields_and_all_are_reported() {
        let text = r#"
            default_tier = "boss"
            allowed_origins = ["https://oa.example.com/", "ftp://x", "https://oa.example.com:8443", "*"]
            [tiers.staff]
            models = ["gpt-5"]
            [routes.code]
            model = "nope"
            temperature = 3.0
            [routing]
            default_route = "missing"
            [scenarios.report]
            route = "nowhere"
            prompt = "{{input}}"
            [[upstreams]]
            name = "local"
            models = ["llama"]
            weights = [1, 0]
        "#;
        let error = Config::load(text)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        for expected in [
            "default_tier: no tier named `boss`",
            "allowed_origins[0]",
            "allowed_origins[1]",
            "tiers.staff.models[0]: `gpt-5`",
            "routes.code.model: `nope`",
            "routes.code.temperature",
            "routing.default_route: no route named `missing`",
            "scenarios.report.route: no route named `nowhere`",
            "upstreams[0].weights[1]",
            "prices.llama: missing",
            "default_model: `gpt-4o-mini` is not served",
        ] {
            assert!(
                error.contains(expected),
                "expected `{expected}` in `{error}`"
            );
        }
        assert!(!error.contains("allowed_origins[2]"), "{error}");
        assert!(!error.contains("allowed_origins[3]"), "{error}");
    }

    #[test]
    fn origins() {
        for good in [
            "*",
            "http://127.0.0.1:8787",
            "https://oa.example.com",
            "http://[::1]:3000",
        ] {
            assert!(is_valid_origin(good), "{good}");
        }
        for bad in [
            "",
            "oa.example.com",
            "https://oa.example.com/",
            "https://oa.example.com/path",
            "https://user@oa.example.com",
            "https://oa.example.com:0",
            "https://oa.example.com:99999",
            "https://:80",
            "file://x",
        ] {
            assert!(!is_valid_origin(bad), "{bad}");
        }
        let config = load("allowed_origins = [\"HTTPS://OA.Example.com\"]");
        assert!(config.origin_allowed("https://oa.example.com"));
        assert!(!config.origin_allowed("https://evil.example.com"));
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

    #[test]
    fn alias_may_not_shadow_a_model_or_auto() {
        check_error(
            "[aliases]\n\"gpt-4o\" = \"gpt-4o-mini\"",
            "aliases.gpt-4o: shadows",
        );
        check_error(
            "[aliases]\nauto = \"gpt-4o-mini\"",
            "aliases.auto: `auto` is reserved",
        );
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
    fn route_patch_keeps_built_in_examples() {
        let config = load(
            "[routes.code]\nmodel = \"gpt-4o\"\nextra_examples = [\"帮我看看这个存储过程为什么慢\"]",
        );
        let defaults = Config::default();
        let code = &config.routes["code"];
        assert_eq!(code.model.as_deref(), Some("gpt-4o"));
        assert_eq!(code.system_prompt, defaults.routes["code"].system_prompt);
        assert_eq!(
            code.examples.len(),
            defaults.routes["code"].examples.len() + 1
        );
    }

    #[test]
    fn new_price_needs_input_and_output() {
        check_error(
            "[[upstreams]]\nname=\"x\"\nmodels=[\"m\"]\n[prices.m]\noutput_per_mtok = 1",
            "prices.m.input_per_mtok: required",
        );
        let config = load(
            r#"
            default_model = "m"
            [[upstreams]]
            name = "x"
            models = ["m"]
            [prices.m]
            input_per_mtok = 1
            output_per_mtok = 2
            # Built-in tiers and routes name OpenAI models; a config without them says so.
            [tiers.guest]
            models = ["auto", "m"]
            [routes.code]
            model = "m"
            [routes.writing]
            model = "m"
            "#,
        );
        assert_eq!(config.prices["m"].cached_input_per_mtok, 1.0);
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
}
