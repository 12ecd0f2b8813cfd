//! What a parsed config means: references exist and numbers are in range. Every problem is
//! reported at once, each with the path of its field.

use std::collections::BTreeSet;

use super::errors::{quote_key, ConfigError, ConfigProblem};
use super::types::{Config, ModelChoice, Upstream};
use super::{ANY_MODEL, AUTO_MODEL, MAX_N};
use crate::provider::Provider;

impl Config {
    /// Check meaning: references exist, numbers are in range. Reports every problem.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Problems::default();
        self.validate_scalars(&mut problems);
        self.validate_upstreams(&mut problems);
        self.validate_models(&mut problems);
        self.validate_tiers(&mut problems);
        self.validate_routes(&mut problems);
        self.validate_server_tools(&mut problems);
        for (path, message) in self.alerts.problems() {
            problems.add(path, message);
        }
        for (path, message) in self.otel.problems() {
            problems.add(path, message);
        }
        if problems.list.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                problems: problems.list,
            })
        }
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
        if self.first_token_timeout_ms == 0 {
            problems.add("first_token_timeout_ms", "must be greater than 0");
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
        check_usd(problems, "budget.monthly_usd", self.budget.monthly_usd);
        if crate::calendar::Zone::parse(&self.budget.timezone).is_none() {
            problems.add(
                "budget.timezone",
                format!(
                    "`{}` is not a time zone oachat knows: use an IANA name of a zone without \
                     daylight saving time (e.g. `Asia/Shanghai`, `Asia/Tokyo`, `UTC`) or \
                     `Etc/GMT-8`-style fixed offsets",
                    self.budget.timezone
                ),
            );
        }
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
        for (name, department) in &self.departments {
            let path = format!("departments.{name}");
            check_usd(problems, &format!("{path}.daily_usd"), department.daily_usd);
            check_usd(
                problems,
                &format!("{path}.monthly_usd"),
                department.monthly_usd,
            );
            if name.trim().is_empty() {
                problems.add(path, "a department needs a name");
            }
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
            if upstream.first_token_timeout_ms == Some(0) {
                problems.add(
                    format!("{path}.first_token_timeout_ms"),
                    "must be greater than 0",
                );
            }
            validate_provider(upstream, &path, problems);
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
            if price.max_reasoning_tokens == Some(0) {
                problems.add(
                    format!("{path}.max_reasoning_tokens"),
                    "must be greater than 0 (leave it out for a model that does not reason)",
                );
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
            check_usd(problems, &format!("{path}.monthly_usd"), tier.monthly_usd);
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

impl Config {
    /// `[tools.server.*]`: names the model accepts, URLs the worker may call, schemas as
    /// bounded as a page's; and routes' `tools` naming configured server tools.
    fn validate_server_tools(&self, problems: &mut Problems) {
        use crate::tools::{
            too_deep, valid_tool_name, MAX_DESCRIPTION_CHARS, MAX_JSON_DEPTH, MAX_PARAMETERS_BYTES,
        };
        for (name, tool) in &self.tools.server {
            let path = format!("tools.server.{}", quote_key(name));
            if !valid_tool_name(name) {
                problems.add(
                    &path,
                    "the name must be 1 to 64 letters, digits, `_` or `-`",
                );
            }
            if let Err(message) = crate::tools::check_webhook_url(&tool.url) {
                problems.add(format!("{path}.url"), message);
            }
            if tool.description.chars().count() > MAX_DESCRIPTION_CHARS {
                problems.add(
                    format!("{path}.description"),
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                );
            }
            let bytes = serde_json::to_string(&tool.parameters).map_or(usize::MAX, |t| t.len());
            if !tool.parameters.is_object()
                || bytes > MAX_PARAMETERS_BYTES
                || too_deep(&tool.parameters, MAX_JSON_DEPTH)
            {
                problems.add(
                    format!("{path}.parameters"),
                    format!(
                        "must be a JSON Schema object of at most {} KiB, nested at most {MAX_JSON_DEPTH} deep",
                        MAX_PARAMETERS_BYTES / 1024
                    ),
                );
            }
        }
        for (name, route) in &self.routes {
            for (index, tool) in route.tools.iter().flatten().enumerate() {
                if !self.tools.server.contains_key(tool) {
                    problems.add(
                        format!("routes.{}.tools[{index}]", quote_key(name)),
                        format!("no server tool named `{tool}` (see [tools.server])"),
                    );
                }
            }
        }
    }

    /// A config with server tools needs `OACHAT_TOOLS_SECRET` to sign their webhooks: without
    /// it the worker refuses to start rather than call an OA backend unsigned.
    pub fn check_tools_secret(&self, secret: Option<&str>) -> Result<(), ConfigError> {
        if self.tools.server.is_empty() || secret.is_some_and(|secret| !secret.is_empty()) {
            return Ok(());
        }
        Err(ConfigError::single(
            "tools.server",
            "server tools need the secret OACHAT_TOOLS_SECRET (wrangler secret put OACHAT_TOOLS_SECRET, or .dev.vars) to sign their webhooks",
        ))
    }
}

/// What an upstream's provider requires of it: Azure names deployments and an API version;
/// providers without a public default need a base URL; Azure-only keys elsewhere are typos.
fn validate_provider(upstream: &Upstream, path: &str, problems: &mut Problems) {
    let provider = upstream.provider;
    let preset = provider.preset();
    if preset.default_base_url.is_none()
        && upstream.base_url.is_none()
        && upstream.base_url_var == preset.default_base_url_var
    {
        let example = match provider {
            Provider::Azure => "https://{resource}.openai.azure.com",
            _ => "http://10.0.0.5:8000/v1",
        };
        problems.add(
            format!("{path}.base_url"),
            format!(
                "required for provider `{provider}`, which has no public default (e.g. \
                 `{example}`); or set base_url_var to the env var that holds it"
            ),
        );
    }
    if provider == Provider::Azure {
        match upstream.api_version.as_deref().map(str::trim) {
            None | Some("") => problems.add(
                format!("{path}.api_version"),
                "required for provider `azure` (e.g. \"2024-10-21\")",
            ),
            Some(_) => {}
        }
        if upstream.deployments.is_empty() {
            problems.add(
                format!("{path}.deployments"),
                "required for provider `azure`: a table of model name = deployment name",
            );
        }
        for model in &upstream.models {
            match upstream.deployments.get(model) {
                Some(deployment) if !deployment.trim().is_empty() => {}
                Some(_) => problems.add(
                    format!("{path}.deployments.{}", quote_key(model)),
                    "must name a deployment",
                ),
                None if upstream.deployments.is_empty() => {}
                None => problems.add(
                    format!("{path}.deployments"),
                    format!("no deployment for `{model}`, which this upstream serves"),
                ),
            }
        }
    } else {
        if !upstream.deployments.is_empty() {
            problems.add(
                format!("{path}.deployments"),
                format!("only used with provider = \"azure\" (this upstream is `{provider}`)"),
            );
        }
        if upstream.api_version.is_some() {
            problems.add(
                format!("{path}.api_version"),
                format!("only used with provider = \"azure\" (this upstream is `{provider}`)"),
            );
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::{check_error, load};

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
    fn budget_timezone_and_monthly_limits() {
        let config = Config::load("").ok();
        assert_eq!(
            config.as_ref().map(|c| c.budget.timezone.as_str()),
            Some("Asia/Shanghai"),
            "the default zone"
        );
        let config = Config::load(
            r#"
            [budget]
            timezone = "Asia/Tokyo"
            monthly_usd = 900
            [tiers.staff]
            monthly_tokens = 3000000
            monthly_usd = "unlimited"
        "#,
        );
        let config = config.ok();
        assert_eq!(config.as_ref().map(|c| c.zone().offset_minutes), Some(540));
        assert_eq!(
            config
                .as_ref()
                .and_then(|c| c.deployment_monthly_micro_usd()),
            Some(900_000_000)
        );
        let staff = config.as_ref().map(|c| &c.tiers["staff"]);
        assert_eq!(staff.and_then(|t| t.monthly_tokens), Some(3_000_000));
        assert_eq!(staff.and_then(|t| t.monthly_usd), None);
        let error = Config::load("[budget]\ntimezone = \"Europe/Berlin\"")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("budget.timezone"), "{error}");
        assert!(error.contains("Europe/Berlin"), "{error}");
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
    fn azure_needs_deployments_an_api_version_and_a_base_url() {
        let error = Config::load(
            r#"
            default_model = "gpt-4o"
            [[upstreams]]
            name = "azure"
            provider = "azure"
            models = ["gpt-4o"]
        "#,
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        for expected in [
            "upstreams[0].base_url: required for provider `azure`",
            "upstreams[0].api_version: required for provider `azure`",
            "upstreams[0].deployments: required for provider `azure`",
        ] {
            assert!(
                error.contains(expected),
                "expected `{expected}` in `{error}`"
            );
        }
        check_error(
            r#"
            default_model = "gpt-4o"
            [[upstreams]]
            name = "azure"
            provider = "azure"
            base_url = "https://contoso.openai.azure.com"
            api_version = "2024-10-21"
            models = ["gpt-4o", "gpt-4o-mini"]
            deployments = { "gpt-4o" = "prod-4o" }
        "#,
            "upstreams[0].deployments: no deployment for `gpt-4o-mini`",
        );
        let config = load(
            r#"
            [[upstreams]]
            name = "openai"
            [[upstreams]]
            name = "azure"
            provider = "azure"
            base_url = "https://contoso.openai.azure.com"
            api_version = "2024-10-21"
            deployments = { "gpt-4o-eu" = "prod-4o" }
            [prices.gpt-4o-eu]
            input_per_mtok = 2.5
            output_per_mtok = 10
        "#,
        );
        let azure = &config.upstreams[1];
        assert_eq!(azure.models, vec!["gpt-4o-eu".to_string()]);
        assert_eq!(azure.keys_secret, "AZURE_OPENAI_API_KEYS");
    }

    #[test]
    fn azure_keys_elsewhere_are_refused_and_other_providers_need_models() {
        check_error(
            r#"
            default_model = "deepseek-chat"
            [[upstreams]]
            name = "ds"
            provider = "deepseek"
            models = ["deepseek-chat"]
            api_version = "2024-10-21"
            [prices.deepseek-chat]
            input_per_mtok = 0.27
            output_per_mtok = 1.1
        "#,
            "upstreams[0].api_version: only used with provider = \"azure\"",
        );
        check_error(
            "[[upstreams]]\nname = \"ds\"\nprovider = \"deepseek\"",
            "upstreams[0].models: must list at least one model",
        );
        check_error(
            "[[upstreams]]\nname = \"x\"\nprovider = \"gemini\"",
            "upstreams[0].provider: unknown variant `gemini`",
        );
        check_error(
            "[[upstreams]]\nname = \"x\"\nprovider = \"openai-compatible\"\nmodels = [\"m\"]",
            "upstreams[0].base_url: required for provider `openai-compatible`",
        );
    }

    #[test]
    fn timeouts_and_reasoning_budgets_are_positive() {
        check_error(
            "first_token_timeout_ms = 0",
            "first_token_timeout_ms: must be greater than 0",
        );
        check_error(
            "[[upstreams]]\nname = \"o\"\nfirst_token_timeout_ms = 0",
            "upstreams[0].first_token_timeout_ms: must be greater than 0",
        );
        check_error(
            "[prices.o4-mini]\nmax_reasoning_tokens = 0",
            "prices.o4-mini.max_reasoning_tokens: must be greater than 0",
        );
        let config = load(
            r#"
            first_token_timeout_ms = 20000
            [[upstreams]]
            name = "openai"
            [[upstreams]]
            name = "ds"
            provider = "deepseek"
            models = ["deepseek-reasoner"]
            first_token_timeout_ms = 90000
            [prices.deepseek-reasoner]
            input_per_mtok = 0.55
            output_per_mtok = 2.19
            cached_input_per_mtok = 0.14
            max_reasoning_tokens = 8000
        "#,
        );
        assert_eq!(config.first_token_timeout_ms(0), 20_000);
        assert_eq!(config.first_token_timeout_ms(1), 90_000);
        assert_eq!(config.first_token_timeout_ms(7), 20_000);
        assert_eq!(
            config.prices["deepseek-reasoner"].max_reasoning_tokens,
            Some(8000)
        );
        let deepseek = &config.upstreams[1];
        assert_eq!(deepseek.keys_secret, "DEEPSEEK_API_KEYS");
        assert_eq!(deepseek.base_url(|_| None), "https://api.deepseek.com");
        // OPENAI_BASE_URL (the dev mock) does not move DeepSeek.
        let mock = |name: &str| (name == "OPENAI_BASE_URL").then(|| "http://mock/v1".to_string());
        assert_eq!(deepseek.base_url(mock), "https://api.deepseek.com");
        assert_eq!(config.upstreams[0].base_url(mock), "http://mock/v1");
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
}
