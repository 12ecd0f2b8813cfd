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
//! 1. parsing (`Config::parse`): syntax, types, unknown keys, and merging over the defaults;
//! 2. [`Config::validate`]: meaning (references exist, numbers in range), reporting every
//!    problem at once.
//!
//! [`Config::load`] runs both and is the only way from text to a [`Config`]: parsing is
//! private, so an unvalidated config cannot leave this module.
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
//! | `first_token_timeout_ms` | `30000` | time from the response head to the first generated token (content, reasoning or tool call); `upstreams[].first_token_timeout_ms` overrides it |
//! | `max_attempts` | `3` | attempts per request over the key pool (1..=10) |
//! | `allowed_origins` | `["http://127.0.0.1:8787", "http://localhost:8787"]` | widget origins, `scheme://host[:port]` or `*` |
//! | `guest_mode` | `false` | unsigned visitors get `guest_tier` |
//! | `guest_tier` | `"guest"` | tier for guests |
//! | `[guest_pool]` | none | what all guests together may use: `rpm`, `daily_usd` (a share of `budget.daily_usd`; employees keep the rest) |
//! | `[departments.D]` | none | what the members of department `D` (the user token's `dept` claim) may use together: `daily_usd`, `monthly_usd` (leased through the department's object from the deployment budget), `rpm` (one common per-minute limit); a token without `dept`, or with one not listed, is limited by no department |
//! | `clock_skew_s` | `60` | token `exp` tolerance (0..=600) |
//! | `max_token_lifetime_s` | `86400` | user tokens living longer than this (`exp - iat`, or `exp - now` without `iat`) are refused |
//! | `token_issuer` | none | when set, a user token's `iss` must equal it |
//! | `token_audience` | none | when set, a user token's `aud` (a string or a list) must contain it |
//! | `history_window_tokens` | `6000` | server-side history trimmed to this many tokens |
//! | `default_tier` | `"staff"` | tier of a token without a (known) `tier` claim |
//! | `org` | `""` | value of `{{org}}` in prompts |
//! | `[[upstreams]]` | one `openai` upstream | see below |
//! | `upstreams[].name` | required | shown in the ledger and key ids |
//! | `upstreams[].provider` | `"openai"` | `openai`, `azure`, `deepseek`, `qwen`, `moonshot`, `zhipu`, `doubao` or `openai-compatible`: default base URL, key header and quirks (see [`crate::provider`] and `docs/providers.md`) |
//! | `upstreams[].base_url` | env `base_url_var`, else the provider's default (`https://api.openai.com/v1`, `https://api.deepseek.com`, ...) | OpenAI-compatible base; required for `azure` (`https://{resource}.openai.azure.com`) and `openai-compatible` unless `base_url_var` is set |
//! | `upstreams[].base_url_var` | per provider: `"OPENAI_BASE_URL"`, `"DEEPSEEK_BASE_URL"`, `"QWEN_BASE_URL"`, `"MOONSHOT_BASE_URL"`, `"ZHIPU_BASE_URL"`, `"DOUBAO_BASE_URL"`, `"AZURE_OPENAI_BASE_URL"`, `"OPENAI_COMPATIBLE_BASE_URL"` | env var read when `base_url` is unset |
//! | `upstreams[].keys_secret` | per provider: `"OPENAI_API_KEYS"`, `"DEEPSEEK_API_KEYS"`, ... (`<PROVIDER>_API_KEYS`) | name of the secret holding this upstream's keys |
//! | `upstreams[].models` | `openai`: the six priced OpenAI models; `azure`: the keys of `deployments`; others: required | models this upstream serves |
//! | `upstreams[].weights` | `[]` (all 1) | per-key weights, in the secret's order, each > 0 |
//! | `upstreams[].deployments` | `{}` | `azure` only, required: model name → deployment name, e.g. `{ "gpt-4o" = "prod-4o" }` |
//! | `upstreams[].api_version` | none | `azure` only, required: the `api-version` query parameter, e.g. `"2024-10-21"` |
//! | `upstreams[].first_token_timeout_ms` | top-level value | this upstream's first-token timeout (reasoning models think before their first token) |
//! | `[aliases]` | `{}` | public name → served model, e.g. `fast = "gpt-4o-mini"` |
//! | `[prices."m"]` | list prices of the six models | `input_per_mtok`, `output_per_mtok`, `cached_input_per_mtok` (USD per 1M tokens; cached defaults to input); `max_reasoning_tokens` (reasoning models: the chain of thought's budget per choice, reserved with the answer's cap and enforced where the provider allows; reasoning is billed as output) |
//! | `[tiers.T]` | `staff`, `guest` | `rpm`, `max_rounds`, `daily_tokens`, `daily_usd` (number or `"unlimited"`), `monthly_tokens`, `monthly_usd` (calendar months in `budget.timezone`; default unlimited), `max_tokens`, `max_n` (default 1), `models`, `allowed_fields` (request fields forwarded upstream; default [`DEFAULT_ALLOWED_FIELDS`]) |
//! | `[budget]` | | `daily_usd = 50.0` (deployment cap, or `"unlimited"`), `monthly_usd` (deployment cap per calendar month; default unlimited), `timezone = "Asia/Shanghai"` (IANA zone without DST, or `Etc/GMT±N`: days roll at its midnight, months on its 1st), `lease_slice_usd = 0.5`, `reservation_ttl_s = 600` (10..: how long a reservation outlives its last renewal; a live request renews it every third of this) |
//! | `[tools]` | | OA actions (docs/tools.md): `max_rounds = 5` (continuations after one user message; the one that reaches it goes upstream without tools, one more is a 429; clamped to 0..=20, 0 turns tools off), `max_result_bytes = 8192` (a result is cut to this, clamped to 256..=65536), `context_max_bytes = 4096` (the page's serialized `context`, 400 beyond; clamped to 0..=32768, 0 refuses any), `webhook_timeout_ms = 10000` (a server tool's webhook, clamped to 500..=10000), `webhook_max_bytes = 65536` (the most of its answer read, clamped to 1024..=1048576) |
//! | `[tools.server.<name>]` | | A server tool (docs/tools.md, "Server tools"): `url` (https, or http only to 127.0.0.1 / localhost / [::1]), `description`, `parameters` (JSON Schema object), `confirm = false`. Needs the secret `OACHAT_TOOLS_SECRET` (a config error without it) |
//! | `[metrics]` | | `per_user = false`: also per-user series on `GET /metrics` (`oachat_user_tokens_total{user}`, `oachat_user_spend_usd_total{user}`), at most 1,000 users then `user="other"`. `/metrics` itself is on when the secret `OACHAT_METRICS_TOKEN` is set |
//! | `[alerts]` | | docs/alerts.md: `thresholds = [0.5, 0.8, 1.0]` (shares of a budget, each sent once per period and subject), `error_rate` (share of failed requests over 5 minutes; off when unset), `webhooks = [{ url, format = "dingtalk" \| "wecom" \| "feishu" \| "slack" \| "json", secret }]` (https, or http to this machine; `secret` signs DingTalk, Feishu and json), `retry_base_s = 40` (a failed send is retried after it, doubling, 5 tries). Shown only as host and set/unset |
//! | `[otel]` | | OpenTelemetry traces, one span per chat request (README "Traces (OpenTelemetry)"): `endpoint` (the collector's OTLP/HTTP base URL, `/v1/traces` appended unless it ends so; https, or http to this machine; unset: no traces), `headers = { Name = "value" }` (sent with every export, at most 16; shown only as `set`), `headers_secret` (the name of a secret holding more headers as `name=value` pairs, comma- or newline-separated; a config error when unset), `service_name = "oachat"`, `capture_content = false` (also record prompts and answers, `gen_ai.input.messages` / `gen_ai.output.messages`, each at most 16 KiB). Shown only as host and set/unset |
//! | `[ledger]` | | `tool_args = false`: also keep tool calls' arguments (column `tool_args`, at most 4 KiB); the names are always kept (`tools`) |
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
//! | `tools` | all | the server tools (`[tools.server]`) this route offers on `/v1/oachat/chat` |
//!
//! Tier defaults: `staff` = rpm 20, max_rounds 30, daily_tokens 200000, daily_usd 2.0,
//! max_tokens 2048, max_n 1, models `["*"]`; `guest` = rpm 5, max_rounds 10, daily_tokens 20000,
//! daily_usd 0.1, max_tokens 512, max_n 1, models `["auto", "gpt-4o-mini"]`. Both forward only
//! [`DEFAULT_ALLOWED_FIELDS`]: fields that change cost or privacy (`service_tier`, `store`,
//! `modalities`, `audio`, `web_search_options`, `prediction`, `metadata`...) are refused with a
//! 400 naming them unless a tier lists them, and `user` is always replaced by oachat's own
//! opaque id for the caller.
//! The built-in prices are OpenAI list prices as known when written; operators should check them.
//!
//! # Where things are
//! - `types.rs`: the resolved [`Config`] and the questions the worker asks of it;
//! - `defaults.rs`: the built-in config (`Config::default`);
//! - `merge.rs`: the raw shape as written, merged over the defaults;
//! - `validate.rs`: [`Config::validate`];
//! - `errors.rs`: [`ConfigError`], each problem with its field path.

mod alerts;
mod defaults;
mod errors;
mod merge;
mod otel;
mod types;
mod validate;

use serde_json::Value;

pub use alerts::{url_host, AlertWebhook, AlertsConfig, WebhookFormat};
pub use defaults::DEFAULT_ALLOWED_FIELDS;
pub use errors::{ConfigError, ConfigProblem, ModelError};
pub use otel::{check_header, parse_headers_secret, OtelConfig, TRACES_PATH};
pub use types::{
    usd_to_micro, BudgetConfig, Config, Department, GuestPool, KeyStrategy, LedgerConfig,
    MetricsConfig, ModelChoice, Price, ResolvedModel, Route, RoutingConfig, Scenario, ServerTool,
    Tier, ToolsConfig, Upstream,
};

use merge::{from_value_with_path, RawConfig};

/// The model name that asks for routing instead of naming a model.
pub const AUTO_MODEL: &str = "auto";

/// The tier `models` entry that allows every model.
pub const ANY_MODEL: &str = "*";

/// The largest `n` OpenAI accepts; a tier's `max_n` cannot go beyond it.
pub const MAX_N: u32 = 128;

impl Config {
    /// Parse and validate; what the glue calls once per isolate. The only way from text to a
    /// `Config`: parsing alone is private, so a config nobody validated cannot get out.
    pub fn load(text: &str) -> Result<Config, ConfigError> {
        let config = Config::parse(text)?;
        config.validate()?;
        Ok(config)
    }

    /// Parse JSON or TOML and merge it over the defaults. Does not check meaning; see
    /// [`Config::validate`].
    fn parse(text: &str) -> Result<Config, ConfigError> {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    pub(super) fn check_error(text: &str, expected: &str) {
        let error = match Config::load(text) {
            Ok(_) => String::from("(loaded fine)"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains(expected),
            "expected `{expected}` in `{error}`"
        );
    }

    #[test]
    fn per_user_metrics_are_off_unless_asked_for() {
        assert!(!load("").metrics.per_user);
        assert!(load("[metrics]\nper_user = true").metrics.per_user);
    }

    #[test]
    fn tools_and_ledger_settings_default_and_clamp() {
        let defaults = load("");
        assert_eq!(
            (
                defaults.tools.max_rounds,
                defaults.tools.max_result_bytes,
                defaults.tools.context_max_bytes,
                defaults.ledger.tool_args
            ),
            (5, 8192, 4096, false)
        );
        let hostile = load(
            "[tools]\nmax_rounds = 1000\nmax_result_bytes = 1\ncontext_max_bytes = 99999999\n[ledger]\ntool_args = true",
        );
        assert_eq!(
            (
                hostile.tools.max_rounds,
                hostile.tools.max_result_bytes,
                hostile.tools.context_max_bytes,
                hostile.ledger.tool_args
            ),
            (20, 256, 32_768, true)
        );
        assert_eq!(load("[tools]\nmax_rounds = 0").tools.max_rounds, 0);
        check_error("[tools]\nmax_round = 3", "tools");
    }

    #[test]
    fn server_tools_and_their_webhook_bounds() {
        let defaults = load("");
        assert_eq!(
            (
                defaults.tools.webhook_timeout_ms,
                defaults.tools.webhook_max_bytes
            ),
            (10_000, 65_536)
        );
        let hostile = load("[tools]\nwebhook_timeout_ms = 0\nwebhook_max_bytes = 4000000000");
        assert_eq!(
            (
                hostile.tools.webhook_timeout_ms,
                hostile.tools.webhook_max_bytes
            ),
            (500, 1_048_576)
        );
        let config = load(
            "[tools.server.leave_balance]\nurl = \"https://oa.example.com/x\"\nconfirm = true\n[routes.hr]\ntools = [\"leave_balance\"]",
        );
        let tool = &config.tools.server["leave_balance"];
        assert!(tool.confirm);
        assert_eq!(tool.parameters["type"], "object");
        assert_eq!(
            config.routes["hr"].tools.as_deref(),
            Some(&["leave_balance".to_string()][..])
        );
        check_error(
            "[tools.server.x]\nurl = \"http://oa.example.com/x\"",
            "tools.server.x.url",
        );
        check_error(
            "[tools.server.x]\ndescription = \"no url\"",
            "tools.server.x",
        );
        check_error(
            "[tools.server.\"bad name\"]\nurl = \"https://oa.example.com/x\"",
            "tools.server.\"bad name\"",
        );
        check_error(
            "[tools.server.x]\nurl = \"https://a.example\"\nparameters = \"object\"",
            "tools.server.x.parameters",
        );
        check_error(
            "[tools.server.x]\nurl = \"https://a.example\"\nsecret = \"no\"",
            "tools.server.x",
        );
        check_error("[routes.hr]\ntools = [\"missing\"]", "routes.hr.tools[0]");
        // The secret is required once there is a server tool, and only then.
        assert!(defaults.check_tools_secret(None).is_ok());
        assert!(config.check_tools_secret(Some("k")).is_ok());
        for missing in [None, Some("")] {
            let error = config.check_tools_secret(missing).unwrap_err().to_string();
            assert!(error.contains("OACHAT_TOOLS_SECRET"), "{error}");
        }
    }

    #[track_caller]
    pub(super) fn load(text: &str) -> Config {
        match Config::load(text) {
            Ok(config) => config,
            Err(error) => panic!("config should load: {error}"),
        }
    }

    #[test]
    fn empty_text_means_defaults() {
        assert_eq!(load("  \n"), Config::default());
        assert_eq!(load("{}"), Config::default());
        assert_eq!(load("\u{feff}{}").org, "");
    }

    #[test]
    fn syntax_errors_say_which_syntax() {
        check_error("{\"org\": ", "JSON syntax");
        check_error("org = ", "TOML syntax");
        check_error("[1, 2]", "TOML syntax");
    }
}
