//! The raw, partial shape an operator writes, and how it merges over the defaults: scalars and
//! lists replace, the named tables (`aliases`, `prices`, `tiers`, `routes`, `scenarios`) merge
//! entry by entry.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, DeserializeOwned, Visitor};
use serde::Deserialize;
use serde_json::Value;
use serde_path_to_error::Segment;

use super::defaults::{staff_tier, DEFAULT_MODELS};
use super::errors::{quote_key, ConfigError, ConfigProblem};
use super::types::{
    BudgetConfig, Config, GuestPool, KeyStrategy, Price, Route, RoutingConfig, Scenario,
    ServerTool, Tier, ToolsConfig, Upstream,
};
use crate::provider::Provider;

/// Deserialises `value` as `T`; an error names the field path, under `prefix`.
///
/// serde_json and toml report a line and column but not which field failed; an operator editing
/// a `[vars]` table wants `tiers.staff.rpm`. Both syntaxes are first read into a
/// `serde_json::Value`, whose errors carry no position, and deserialised from it through
/// `serde_path_to_error`, which records the key or index each error came from.
pub(super) fn from_value_with_path<T: DeserializeOwned>(
    value: &Value,
    prefix: &str,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let mut path = prefix.to_string();
        for segment in error.path() {
            match segment {
                Segment::Seq { index } => path.push_str(&format!("[{index}]")),
                Segment::Map { key } | Segment::Enum { variant: key } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(&quote_key(key));
                }
                Segment::Unknown => path.push_str(".?"),
            }
        }
        ConfigError::single(path, error.inner().to_string())
    })
}

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
pub(super) struct RawConfig {
    default_model: Option<String>,
    key_strategy: Option<KeyStrategy>,
    max_body_bytes: Option<u64>,
    connect_timeout_ms: Option<u64>,
    first_byte_timeout_ms: Option<u64>,
    first_token_timeout_ms: Option<u64>,
    max_attempts: Option<u32>,
    allowed_origins: Option<Vec<String>>,
    guest_mode: Option<bool>,
    guest_tier: Option<String>,
    guest_pool: Option<GuestPoolPatch>,
    #[serde(default)]
    departments: BTreeMap<String, DepartmentPatch>,
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
    tools: Option<ToolsPatch>,
    ledger: Option<LedgerPatch>,
    metrics: Option<MetricsPatch>,
    alerts: Option<super::alerts::AlertsPatch>,
    otel: Option<super::otel::OtelPatch>,
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
    #[serde(default)]
    provider: Provider,
    base_url: Option<String>,
    base_url_var: Option<String>,
    keys_secret: Option<String>,
    models: Option<Vec<String>>,
    #[serde(default)]
    weights: Vec<u32>,
    #[serde(default)]
    deployments: BTreeMap<String, String>,
    api_version: Option<String>,
    first_token_timeout_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PricePatch {
    input_per_mtok: Option<f64>,
    output_per_mtok: Option<f64>,
    cached_input_per_mtok: Option<f64>,
    max_reasoning_tokens: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TierPatch {
    rpm: Option<LimitSetting>,
    max_rounds: Option<LimitSetting>,
    daily_tokens: Option<LimitSetting>,
    daily_usd: Option<LimitSetting>,
    monthly_tokens: Option<LimitSetting>,
    monthly_usd: Option<LimitSetting>,
    max_tokens: Option<u32>,
    max_n: Option<u32>,
    models: Option<Vec<String>>,
    allowed_fields: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DepartmentPatch {
    daily_usd: Option<LimitSetting>,
    monthly_usd: Option<LimitSetting>,
    rpm: Option<LimitSetting>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestPoolPatch {
    rpm: Option<LimitSetting>,
    daily_usd: Option<LimitSetting>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsPatch {
    max_rounds: Option<u32>,
    max_result_bytes: Option<u32>,
    context_max_bytes: Option<u32>,
    webhook_timeout_ms: Option<u32>,
    webhook_max_bytes: Option<u32>,
    #[serde(default)]
    server: BTreeMap<String, ServerToolPatch>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerToolPatch {
    url: String,
    #[serde(default)]
    description: String,
    parameters: Option<serde_json::Value>,
    #[serde(default)]
    confirm: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerPatch {
    tool_args: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MetricsPatch {
    per_user: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetPatch {
    daily_usd: Option<LimitSetting>,
    monthly_usd: Option<LimitSetting>,
    timezone: Option<String>,
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
pub(super) struct RoutePatch {
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
    tools: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    route: Option<String>,
    prompt: Option<String>,
    title: Option<String>,
}

impl RawConfig {
    /// Merges what the operator wrote over `base` (the defaults), section by section, and
    /// reports every problem the merge finds (a limit that is not a whole number, a new model
    /// without a price) at once.
    pub(super) fn apply(mut self, base: Config) -> Result<Config, ConfigError> {
        let mut config = base;
        let mut problems = Vec::new();
        self.apply_scalars(&mut config);
        if let Some(pool) = self.guest_pool {
            match pool.into_guest_pool() {
                Ok(pool) => config.guest_pool = Some(pool),
                Err(error) => problems.extend(error.problems),
            }
        }
        for (name, patch) in std::mem::take(&mut self.departments) {
            let rpm = match patch.rpm {
                Some(rpm) => rpm.into_integer(&format!("departments.{name}.rpm")),
                None => Ok(None),
            };
            match rpm {
                Ok(rpm) => {
                    let department = crate::config::Department {
                        daily_usd: patch.daily_usd.and_then(LimitSetting::into_usd),
                        monthly_usd: patch.monthly_usd.and_then(LimitSetting::into_usd),
                        rpm,
                    };
                    config.departments.insert(name, department);
                }
                Err(error) => problems.extend(error.problems),
            }
        }
        if let Some(upstreams) = self.upstreams {
            config.upstreams = upstreams
                .into_iter()
                .map(RawUpstream::into_upstream)
                .collect();
        }
        config.aliases.extend(self.aliases);
        merge_prices(&mut config.prices, self.prices, &mut problems);
        merge_tiers(&mut config.tiers, self.tiers, &mut problems);
        if let Some(budget) = self.budget {
            budget.apply(&mut config.budget);
        }
        if let Some(tools) = self.tools {
            tools.apply(&mut config.tools);
        }
        if let Some(tool_args) = self.ledger.and_then(|ledger| ledger.tool_args) {
            config.ledger.tool_args = tool_args;
        }
        if let Some(per_user) = self.metrics.and_then(|metrics| metrics.per_user) {
            config.metrics.per_user = per_user;
        }
        if let Some(alerts) = self.alerts {
            alerts.apply(&mut config.alerts);
        }
        if let Some(otel) = self.otel {
            otel.apply(&mut config.otel);
        }
        if let Some(routing) = self.routing {
            routing.apply(&mut config.routing);
        }
        merge_routes(&mut config.routes, self.routes);
        config.scenarios.extend(
            self.scenarios
                .into_iter()
                .map(|(name, raw)| (name, raw.into_scenario())),
        );
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError { problems })
        }
    }

    /// The top-level scalars and lists: each one set replaces its default. Takes them out of
    /// `self`, so `apply` can move the sections out afterwards.
    fn apply_scalars(&mut self, config: &mut Config) {
        macro_rules! set {
            ($field:ident) => {
                if let Some(value) = self.$field.take() {
                    config.$field = value;
                }
            };
        }
        set!(default_model);
        set!(key_strategy);
        set!(max_body_bytes);
        set!(connect_timeout_ms);
        set!(first_byte_timeout_ms);
        set!(first_token_timeout_ms);
        set!(max_attempts);
        set!(guest_mode);
        set!(guest_tier);
        set!(clock_skew_s);
        set!(max_token_lifetime_s);
        set!(history_window_tokens);
        set!(default_tier);
        set!(org);
        if let Some(issuer) = self.token_issuer.take() {
            config.token_issuer = Some(issuer).filter(|issuer| !issuer.is_empty());
        }
        if let Some(audience) = self.token_audience.take() {
            config.token_audience = Some(audience).filter(|audience| !audience.is_empty());
        }
        if let Some(origins) = self.allowed_origins.take() {
            // Browsers send scheme and host in lower case.
            config.allowed_origins = origins
                .iter()
                .map(|origin| origin.trim().to_ascii_lowercase())
                .collect();
        }
    }
}

impl GuestPoolPatch {
    /// `[guest_pool]` as written: a limit it does not set is unlimited.
    fn into_guest_pool(self) -> Result<GuestPool, ConfigError> {
        let rpm = match self.rpm {
            Some(rpm) => rpm.into_integer("guest_pool.rpm")?,
            None => None,
        };
        Ok(GuestPool {
            rpm,
            daily_usd: self.daily_usd.and_then(LimitSetting::into_usd),
        })
    }
}

impl RawUpstream {
    /// `[[upstreams]]` replace the default list; unset fields are the default upstream's.
    fn into_upstream(self) -> Upstream {
        let preset = self.provider.preset();
        Upstream {
            name: self.name,
            provider: self.provider,
            base_url: self.base_url,
            // Each provider reads its own variable, so pointing OpenAI at a mock in
            // development never moves another provider's traffic there.
            base_url_var: self
                .base_url_var
                .unwrap_or_else(|| preset.default_base_url_var.to_string()),
            keys_secret: self
                .keys_secret
                .unwrap_or_else(|| preset.default_keys_secret.to_string()),
            // OpenAI's models are the default only for OpenAI; an Azure upstream serves the
            // models it names deployments for; any other provider must list its own.
            models: self.models.unwrap_or_else(|| match self.provider {
                Provider::OpenAi => DEFAULT_MODELS
                    .iter()
                    .map(|model| model.to_string())
                    .collect(),
                Provider::Azure => self.deployments.keys().cloned().collect(),
                _ => Vec::new(),
            }),
            weights: self.weights,
            deployments: self.deployments,
            api_version: self.api_version,
            first_token_timeout_ms: self.first_token_timeout_ms,
        }
    }
}

/// `[prices]` merge by model: a model with a price keeps what the patch does not set; a new
/// model needs its input and output prices.
fn merge_prices(
    prices: &mut BTreeMap<String, Price>,
    patches: BTreeMap<String, PricePatch>,
    problems: &mut Vec<ConfigProblem>,
) {
    for (model, patch) in patches {
        let base = prices.get(&model).copied();
        match patch.apply(base, &model) {
            Ok(price) => {
                prices.insert(model, price);
            }
            Err(problem) => problems.push(problem),
        }
    }
}

impl PricePatch {
    fn apply(self, base: Option<Price>, model: &str) -> Result<Price, ConfigProblem> {
        let path = format!("prices.{}", quote_key(model));
        let input = self
            .input_per_mtok
            .or(base.map(|price| price.input_per_mtok));
        let output = self
            .output_per_mtok
            .or(base.map(|price| price.output_per_mtok));
        match (input, output) {
            (Some(input), Some(output)) => {
                // A new model's cached price defaults to its input price: never cheaper
                // than the operator said.
                let cached = self
                    .cached_input_per_mtok
                    .or(base.map(|price| price.cached_input_per_mtok))
                    .unwrap_or(input);
                Ok(Price {
                    input_per_mtok: input,
                    output_per_mtok: output,
                    cached_input_per_mtok: cached,
                    max_reasoning_tokens: self
                        .max_reasoning_tokens
                        .or(base.and_then(|price| price.max_reasoning_tokens)),
                })
            }
            (None, _) => Err(ConfigProblem {
                path: format!("{path}.input_per_mtok"),
                message: "required for a model without a built-in price".to_string(),
            }),
            (_, None) => Err(ConfigProblem {
                path: format!("{path}.output_per_mtok"),
                message: "required for a model without a built-in price".to_string(),
            }),
        }
    }
}

/// `[tiers]` merge by name: a known tier keeps what the patch does not set; a new tier starts
/// from the staff defaults.
fn merge_tiers(
    tiers: &mut BTreeMap<String, Tier>,
    patches: BTreeMap<String, TierPatch>,
    problems: &mut Vec<ConfigProblem>,
) {
    for (name, patch) in patches {
        let path = format!("tiers.{}", quote_key(&name));
        let base = tiers.get(&name).cloned().unwrap_or_else(staff_tier);
        match patch.apply(base, &path) {
            Ok(tier) => {
                tiers.insert(name, tier);
            }
            Err(error) => problems.extend(error.problems),
        }
    }
}

impl ToolsPatch {
    /// Each value clamped into its range: an operator's typo must not unbound what a page
    /// may make the model do, nor turn results into nothing.
    fn apply(self, tools: &mut ToolsConfig) {
        let clamp = |value: u32, range: std::ops::RangeInclusive<u32>| {
            value.clamp(*range.start(), *range.end())
        };
        if let Some(value) = self.max_rounds {
            tools.max_rounds = clamp(value, ToolsConfig::MAX_ROUNDS);
        }
        if let Some(value) = self.max_result_bytes {
            tools.max_result_bytes = clamp(value, ToolsConfig::RESULT_BYTES);
        }
        if let Some(value) = self.context_max_bytes {
            tools.context_max_bytes = clamp(value, ToolsConfig::CONTEXT_BYTES);
        }
        if let Some(value) = self.webhook_timeout_ms {
            tools.webhook_timeout_ms = clamp(value, ToolsConfig::WEBHOOK_TIMEOUT_MS);
        }
        if let Some(value) = self.webhook_max_bytes {
            tools.webhook_max_bytes = clamp(value, ToolsConfig::WEBHOOK_BYTES);
        }
        for (name, patch) in self.server {
            let parameters = patch
                .parameters
                .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}}));
            tools.server.insert(
                name,
                ServerTool {
                    url: patch.url,
                    description: patch.description,
                    parameters,
                    confirm: patch.confirm,
                },
            );
        }
    }
}

impl BudgetPatch {
    fn apply(self, budget: &mut BudgetConfig) {
        if let Some(daily) = self.daily_usd {
            budget.daily_usd = daily.into_usd();
        }
        if let Some(monthly) = self.monthly_usd {
            budget.monthly_usd = monthly.into_usd();
        }
        if let Some(timezone) = self.timezone {
            budget.timezone = timezone;
        }
        if let Some(slice) = self.lease_slice_usd {
            budget.lease_slice_usd = slice;
        }
        if let Some(ttl) = self.reservation_ttl_s {
            budget.reservation_ttl_s = ttl;
        }
    }
}

impl RoutingPatch {
    fn apply(self, routing: &mut RoutingConfig) {
        if let Some(value) = self.enabled {
            routing.enabled = value;
        }
        if let Some(value) = self.conciseness {
            routing.conciseness = value;
        }
        if let Some(value) = self.default_route {
            routing.default_route = value;
        }
        if let Some(value) = self.min_confidence {
            routing.min_confidence = value;
        }
        if let Some(value) = self.concise_prompt {
            routing.concise_prompt = value;
        }
    }
}

/// `[routes]` merge by name: a built-in route keeps its prompt and examples unless the patch
/// sets them; a new route starts blank.
fn merge_routes(routes: &mut BTreeMap<String, Route>, patches: BTreeMap<String, RoutePatch>) {
    for (name, patch) in patches {
        let base = routes.get(&name).cloned().unwrap_or_else(Route::blank);
        routes.insert(name, patch.apply(base));
    }
}

impl RawScenario {
    fn into_scenario(self) -> Scenario {
        Scenario {
            route: self.route,
            prompt: self.prompt.unwrap_or_else(|| "{{input}}".to_string()),
            title: self.title.unwrap_or_default(),
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
        if let Some(tokens) = self.monthly_tokens {
            tier.monthly_tokens = tokens.into_integer(&format!("{path}.monthly_tokens"))?;
        }
        if let Some(usd) = self.monthly_usd {
            tier.monthly_usd = usd.into_usd();
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
    pub(super) fn apply(self, mut route: Route) -> Route {
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
        if let Some(tools) = self.tools {
            route.tools = Some(tools);
        }
        route.examples.extend(self.extra_examples);
        route
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::{check_error, load};
    use crate::config::Config;

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
}
