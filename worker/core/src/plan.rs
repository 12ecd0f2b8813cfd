//! Planning a chat request, before anything is sent: what the tier allows, which model and
//! route answer, the upstream body with its caps clamped, the worst case to reserve, the cache
//! policy, and the ledger row template. Pure: the worker's `chat.rs` orchestrates around it
//! (admit, cache, upstream, relay, settle).

use serde_json::Value;

use crate::cache::{cache_key, CachedAnswer};
use crate::calendar::day_label;
use crate::config::{Config, ModelChoice, Price, Tier};
use crate::error::ProxyError;
use crate::identity::{opaque_user_id, Identity};
use crate::keypool::KeyId;
use crate::ledger::{Ending, LedgerRow};
use crate::metering::{estimate_request_prompt_tokens, StreamMeter, Usage};
use crate::provider::{body_output_cap, reasoning_budget, shape_request, UpstreamTarget};
use crate::request::ChatRequest;
use crate::routing::{render_template, RouteRequest, Router, TemplateVars};

/// Everything decided before going upstream, carried into the ledger row.
#[derive(Debug)]
pub struct Plan {
    pub identity: Identity,
    pub request_id: String,
    pub model_asked: String,
    pub upstream_index: usize,
    /// The upstream's name, for the ledger.
    pub upstream_name: String,
    /// Where the shell sends `body` (under the upstream's base URL) and how it sends the key.
    pub target: UpstreamTarget,
    pub upstream_model: String,
    /// The upstream model's price (`None`: free), for the reservation and the ledger.
    pub price: Option<Price>,
    pub route: String,
    pub route_reason: String,
    pub stream: bool,
    pub prompt_estimate: u64,
    /// The worst case reserved: the prompt estimate plus `n` times the clamped output cap
    /// (for a reasoning model, with its reasoning budget; see
    /// [`crate::provider::reasoning_budget`]).
    pub reserve_tokens: u64,
    pub reserve_micro_usd: u64,
    /// The upstream body: clamped, rewritten and shaped for the provider
    /// ([`crate::provider::shape_request`]); the shell sends it as is.
    pub body: String,
    pub started_ms: u64,
    /// The day the request counts on (`YYYY-MM-DD` in `budget.timezone`): the same day its
    /// budgets count it on, so the ledger's days and the budgets' days agree.
    pub day: String,
    /// Set when the route allows cached answers and the request can be answered from one.
    pub cache: Option<CachePlan>,
    /// The route's suggested next questions (widget endpoint only: a quick-replies card).
    pub follow_ups: Vec<String>,
}

impl Plan {
    /// The usage to charge for what `meter` saw. An estimate of the output (the stream broke
    /// off, or the client left) never exceeds what the upstream may generate: `n` times the
    /// clamped cap, which the reservation holds.
    pub fn metered(&self, meter: &StreamMeter) -> Usage {
        self.billing().usage(meter)
    }

    /// How this request's meter becomes billed usage (also the Responses relay's final usage).
    pub fn billing(&self) -> crate::relay::Billing {
        crate::relay::Billing {
            prompt_estimate: self.prompt_estimate,
            output_cap: self.reserve_tokens.saturating_sub(self.prompt_estimate),
        }
    }

    /// This request's ledger row, once it ended with `usage`.
    #[allow(clippy::too_many_arguments)]
    pub fn ledger_row(
        &self,
        key_id: &str,
        usage: Usage,
        status: u16,
        ending: Ending,
        ttfb_ms: u64,
        ended_ms: u64,
        attempts: u32,
    ) -> LedgerRow {
        let cost_micro_usd = self.price.map_or(0, |price| {
            price.cost_micro_usd(
                usage.prompt_tokens,
                usage.completion_tokens,
                usage.cached_tokens,
            )
        });
        LedgerRow {
            id: self.request_id.clone(),
            ts_ms: self.started_ms,
            day: self.day.clone(),
            user: self.identity.user.clone(),
            credential: self.identity.credential.label(),
            upstream: self.upstream_name.clone(),
            key_id: key_id.to_string(),
            model_asked: self.model_asked.clone(),
            model_used: self.upstream_model.clone(),
            route: self.route.clone(),
            route_reason: self.route_reason.clone(),
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            cached_tokens: usage.cached_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            cost_micro_usd,
            status,
            ending,
            ttfb_ms,
            total_ms: ended_ms.saturating_sub(self.started_ms),
            estimated: usage.estimated,
            attempts,
            stream: self.stream,
            tools: String::new(),
            tool_args: None,
            dept: self.identity.dept.clone(),
            tier: self.identity.tier.clone(),
        }
    }

    /// The request's ledger row followed by one row per upstream attempt it abandoned at the
    /// first-byte timeout: the upstream may have billed those, so each is charged at the prompt
    /// estimate (nothing came back, so no output is known) and marked estimated.
    pub fn with_abandoned(
        &self,
        row: LedgerRow,
        abandoned: &[KeyId],
        now_ms: u64,
    ) -> Vec<LedgerRow> {
        let mut rows = vec![row];
        for (index, key_id) in abandoned.iter().enumerate() {
            let usage = Usage {
                prompt_tokens: self.prompt_estimate,
                estimated: true,
                ..Usage::default()
            };
            let attempt = u32::try_from(index + 1).unwrap_or(u32::MAX);
            let mut extra = self.ledger_row(
                key_id.as_str(),
                usage,
                ProxyError::UpstreamTimeout.status(),
                Ending::Abandoned,
                0,
                now_ms,
                attempt,
            );
            extra.id = format!("{}:a{attempt}", self.request_id);
            rows.push(extra);
        }
        rows
    }
}

/// Where a cacheable request's answer lives in the exact-match cache.
#[derive(Debug)]
pub struct CachePlan {
    pub key: String,
    pub ttl_s: u32,
}

/// What a request is planned from.
pub struct PlanInput<'a> {
    pub config: &'a Config,
    pub router: &'a Router,
    pub identity: Identity,
    pub chat: &'a ChatRequest,
    pub tier: &'a Tier,
    pub started_ms: u64,
    pub request_id: &'a str,
    /// Keys the opaque `user` id sent upstream (the signing secret).
    pub user_key: &'a [u8],
}

/// Plans a request: checks what the tier allows (model, fields, `n`, rounds without a
/// conversation), picks the model (routing `auto`), clamps the output caps, writes the upstream
/// body and works out the worst case to reserve and the cache policy. Pure: no clock, no I/O.
pub fn plan(input: PlanInput<'_>) -> Result<Plan, ProxyError> {
    let PlanInput {
        config,
        router,
        identity,
        chat,
        tier,
        started_ms,
        request_id,
        user_key,
    } = input;
    if !tier.allows(&chat.model) {
        return Err(ProxyError::ModelNotAllowed {
            model: chat.model.clone(),
        });
    }
    // Fields the reservation cannot price never reach the upstream.
    chat.check_fields(&tier.allowed_fields)?;
    // Every choice is generated and billed: `n` multiplies the worst case.
    if chat.n > u64::from(tier.max_n) {
        return Err(ProxyError::invalid(
            "n",
            format!(
                "`n` may be at most {} for your tier: each choice is billed in full.",
                tier.max_n
            ),
        ));
    }
    // Without a server-side conversation, a round is a user turn of `messages`: the request
    // carrying the k-th user message is round k.
    if let (None, Some(max)) = (&chat.conversation_id, tier.max_rounds) {
        if chat.user_turns() > max {
            return Err(ProxyError::MaxRounds { max });
        }
    }
    let day = day_label(config.zone().day(started_ms));
    let mut route = String::new();
    let mut route_reason = String::from("asked");
    let mut system_prompt = None;
    let mut route_max_tokens = None;
    let mut temperature = None;
    // (ttl, personal) when the chosen route may be answered from the cache.
    let mut cache_policy = None;
    let mut follow_ups = Vec::new();
    let resolved = match config.resolve_model(&chat.model) {
        Ok(ModelChoice::Served(resolved)) => resolved,
        Ok(ModelChoice::Auto) => {
            let text = chat.last_user_text();
            let decision = router.decide(&RouteRequest {
                text: &text,
                scenario: chat.scenario.as_deref(),
                tier: Some(tier),
                explain: false,
            });
            route_reason = decision.reason.label();
            if let Some(chosen) = config.routes.get(&decision.route) {
                let user_name = identity.name.clone().unwrap_or_default();
                let vars = TemplateVars {
                    user_name: &user_name,
                    date: &day,
                    org: &config.org,
                    input: &text,
                };
                let mut prompt = render_template(&chosen.system_prompt, &vars);
                if config.routing.conciseness {
                    if !prompt.is_empty() {
                        prompt.push_str("\n\n");
                    }
                    prompt.push_str(&config.routing.concise_prompt);
                    route_max_tokens = chosen.max_tokens;
                }
                system_prompt = Some(prompt).filter(|p| !p.trim().is_empty());
                temperature = chosen.temperature;
                follow_ups = chosen.follow_ups.clone();
                if chosen.cache && single_text_answer(chat) {
                    cache_policy = Some((chosen.cache_ttl_s, chosen.personal));
                }
            }
            route = decision.route;
            match config.resolve_model(&decision.model) {
                Ok(ModelChoice::Served(resolved)) => resolved,
                _ => {
                    return Err(ProxyError::ModelNotFound {
                        model: decision.model,
                    })
                }
            }
        }
        Err(_) => {
            return Err(ProxyError::ModelNotFound {
                model: chat.model.clone(),
            })
        }
    };

    // The caller's cap, clamped to the tier's cap and (for routed answers) the route's.
    let mut cap = u64::from(tier.max_tokens);
    if let Some(route_cap) = route_max_tokens {
        cap = cap.min(u64::from(route_cap));
    }
    let max_tokens = chat.max_tokens.map_or(cap, |asked| asked.min(cap));
    let opaque_user = opaque_user_id(&identity.user, user_key);
    let mut body = chat.upstream_body(&resolved.upstream_model, cap, &opaque_user);
    if let Some(prompt) = system_prompt {
        if let Some(Value::Array(messages)) = body.get_mut("messages") {
            messages.insert(0, serde_json::json!({"role": "system", "content": prompt}));
        }
    }
    if let Some(temperature) = temperature {
        body.entry("temperature")
            .or_insert(serde_json::json!(temperature));
    }
    // The provider's rules come last, so they see the body as it will be sent: a reasoning
    // budget widens the caps first, then the provider clamps what it must.
    let upstream = &config.upstreams[resolved.upstream_index];
    let price = config.price(&resolved.upstream_model).copied();
    let budget = reasoning_budget(
        upstream.provider,
        &mut body,
        price
            .and_then(|price| price.max_reasoning_tokens)
            .map(u64::from),
    );
    shape_request(upstream.provider, &mut body)?;
    let cache = cache_policy.map(|(ttl_s, personal)| CachePlan {
        key: cache_key(&body, personal.then_some(identity.user.as_str())),
        ttl_s,
    });
    // What one choice may cost in output: the cap the body carries (it already includes a
    // budget the cap bounds), plus a reasoning budget the cap does not bound.
    let per_choice = body_output_cap(&body)
        .unwrap_or(max_tokens)
        .saturating_add(budget.extra_tokens);
    let target = UpstreamTarget::chat(upstream, &resolved.upstream_model);
    let body = Value::Object(body);
    let prompt_estimate = estimate_request_prompt_tokens(&body);
    let output_tokens = per_choice.saturating_mul(chat.n);
    let reserve_tokens = prompt_estimate.saturating_add(output_tokens);
    let reserve_micro_usd = price.map_or(0, |price| {
        price.cost_micro_usd(prompt_estimate, output_tokens, 0)
    });
    Ok(Plan {
        request_id: request_id.to_string(),
        model_asked: chat.model.clone(),
        upstream_index: resolved.upstream_index,
        upstream_name: upstream.name.clone(),
        target,
        upstream_model: resolved.upstream_model,
        price,
        route,
        route_reason,
        stream: chat.stream,
        prompt_estimate,
        reserve_tokens,
        reserve_micro_usd,
        body: body.to_string(),
        started_ms,
        day,
        identity,
        cache,
        follow_ups,
    })
}

/// Only plain single-choice text answers are cached: tool calls, several choices and
/// log-probabilities are not what [`CachedAnswer`] stores.
pub fn single_text_answer(chat: &ChatRequest) -> bool {
    let one_choice = chat.body.get("n").and_then(Value::as_u64).unwrap_or(1) == 1;
    let no_tools = chat
        .body
        .get("tools")
        .and_then(Value::as_array)
        .is_none_or(|tools| tools.is_empty());
    let no_logprobs = !chat
        .body
        .get("logprobs")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    one_choice && no_tools && no_logprobs
}

/// The text answer of a finished non-streamed completion, for the cache.
pub fn cached_answer(body: &Value, usage: &Usage) -> Option<CachedAnswer> {
    let choice = body.get("choices")?.get(0)?;
    let content = choice.get("message")?.get("content")?.as_str()?;
    let finish_reason = choice.get("finish_reason")?.as_str()?;
    (finish_reason == "stop" && !content.is_empty()).then(|| CachedAnswer {
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        content: content.to_string(),
        finish_reason: finish_reason.to_string(),
        prompt_tokens: usage.prompt_tokens,
        completion_tokens: usage.completion_tokens,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Credential;
    use crate::request::parse_chat_request;

    fn identity() -> Identity {
        Identity {
            user: "u:alice".into(),
            name: Some("Alice".into()),
            dept: None,
            tier: "staff".into(),
            credential: Credential::UserToken,
        }
    }

    fn plan_of(config: &Config, body: &str) -> Result<Plan, ProxyError> {
        plan_at(config, body, 1_763_596_800_000)
    }

    fn plan_at(config: &Config, body: &str, started_ms: u64) -> Result<Plan, ProxyError> {
        let router = Router::new(config);
        let chat = parse_chat_request(body.as_bytes())?;
        let tier = config.tiers.get("staff").cloned().unwrap_or_else(|| {
            panic!("the default config has a staff tier");
        });
        plan(PlanInput {
            config,
            router: &router,
            identity: identity(),
            chat: &chat,
            tier: &tier,
            started_ms,
            request_id: "req_test",
            user_key: b"key",
        })
    }

    #[track_caller]
    fn check_refused(config: &Config, body: &str, param: &str) {
        match plan_of(config, body) {
            Err(ProxyError::InvalidRequest { param: got, .. }) => {
                assert_eq!(got.as_deref(), Some(param), "{body}")
            }
            other => panic!("expected {param} refused for {body}, got {other:?}"),
        }
    }

    #[test]
    fn a_row_counts_on_the_budget_day_of_the_deployment_zone_not_on_the_utc_day() {
        // 2025-11-19T20:00Z is already the 20th in Shanghai (UTC+8) and still the 19th in UTC.
        let evening_utc = 1_763_582_400_000;
        let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}"#;
        let mut config = Config::default();
        let row = |config: &Config| {
            plan_at(config, body, evening_utc).map(|planned| {
                planned
                    .ledger_row(
                        "key_1",
                        Usage::default(),
                        200,
                        Ending::Completed,
                        1,
                        evening_utc,
                        1,
                    )
                    .day
            })
        };
        assert_eq!(row(&config), Ok("2025-11-20".to_string()));
        config.budget.timezone = "UTC".into();
        assert_eq!(row(&config), Ok("2025-11-19".to_string()));
    }

    #[test]
    fn the_tier_bounds_n_fields_and_rounds_before_anything_is_reserved() {
        let mut config = Config::default();
        check_refused(
            &config,
            r#"{"model":"gpt-4o-mini","n":2,"messages":[{"role":"user","content":"x"}]}"#,
            "n",
        );
        check_refused(
            &config,
            r#"{"model":"gpt-4o-mini","store":true,"messages":[{"role":"user","content":"x"}]}"#,
            "store",
        );
        if let Some(staff) = config.tiers.get_mut("staff") {
            staff.max_rounds = Some(1);
        }
        let two_turns = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"a"},
            {"role":"assistant","content":"b"},{"role":"user","content":"c"}]}"#;
        assert_eq!(
            plan_of(&config, two_turns).err(),
            Some(ProxyError::MaxRounds { max: 1 })
        );
    }

    #[test]
    fn the_reservation_covers_every_choice_at_the_clamped_cap() {
        let mut config = Config::default();
        if let Some(staff) = config.tiers.get_mut("staff") {
            staff.max_n = 4;
            staff.max_tokens = 200;
        }
        let planned = plan_of(
            &config,
            r#"{"model":"gpt-4o-mini","n":3,"max_tokens":100000,"user":"alice@corp",
                "messages":[{"role":"user","content":"hello"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(planned.reserve_tokens, planned.prompt_estimate + 3 * 200);
        let price = planned.price.unwrap_or_else(|| panic!("priced"));
        assert_eq!(
            planned.reserve_micro_usd,
            price.cost_micro_usd(planned.prompt_estimate, 600, 0)
        );
        let body: Value = serde_json::from_str(&planned.body).unwrap_or_default();
        assert_eq!(body["max_tokens"], 200);
        assert_eq!(body["stream"], true);
        assert!(body["user"]
            .as_str()
            .is_some_and(|user| user.starts_with("oa_")));
        assert_eq!(planned.upstream_name, "openai");
        assert!(
            planned.cache.is_none(),
            "gpt-4o-mini asked by name is not a cached route"
        );
    }

    #[test]
    fn a_routed_cacheable_request_gets_a_cache_key_unless_it_asks_for_several_choices() {
        let config = Config::default();
        let text = "Translate into Chinese: the library closes early on Friday";
        let one =
            format!(r#"{{"model":"auto","messages":[{{"role":"user","content":"{text}"}}]}}"#);
        let planned = plan_of(&config, &one).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(planned.route, "translate");
        assert!(planned.cache.is_some());
        assert!(single_text_answer(
            &parse_chat_request(one.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
        ));
        let tools = format!(
            r#"{{"model":"auto","tools":[{{"type":"function"}}],"messages":[{{"role":"user","content":"{text}"}}]}}"#
        );
        assert!(!single_text_answer(
            &parse_chat_request(tools.as_bytes()).unwrap_or_else(|e| panic!("{e}"))
        ));
    }

    #[test]
    fn abandoned_attempts_get_rows_of_their_own_at_the_prompt_estimate() {
        let config = Config::default();
        let planned = plan_of(
            &config,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hello"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let row = planned.ledger_row("key_b", Usage::default(), 200, Ending::Completed, 5, 10, 2);
        let abandoned = [KeyId::for_secret("sk-a")];
        let rows = planned.with_abandoned(row, &abandoned, 20);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].id, "req_test:a1");
        assert_eq!(rows[1].ending, Ending::Abandoned);
        assert!(rows[1].estimated);
        assert_eq!(rows[1].prompt_tokens, planned.prompt_estimate);
        let price = planned.price.unwrap_or_else(|| panic!("priced"));
        assert_eq!(
            rows[1].cost_micro_usd,
            price.cost_micro_usd(planned.prompt_estimate, 0, 0)
        );
    }

    /// One upstream per provider under test, each serving one model with a reasoning budget
    /// where the test needs one.
    fn providers_config() -> Config {
        let text = r#"
            [[upstreams]]
            name = "openai"
            [[upstreams]]
            name = "azure"
            provider = "azure"
            base_url = "https://contoso.openai.azure.com"
            api_version = "2024-10-21"
            deployments = { "gpt-4o-eu" = "prod-4o" }
            [[upstreams]]
            name = "doubao"
            provider = "doubao"
            models = ["doubao-seed-1-6"]
            [[upstreams]]
            name = "qwen"
            provider = "qwen"
            models = ["qwen-plus"]
            [[upstreams]]
            name = "zhipu"
            provider = "zhipu"
            models = ["glm-4.5"]
            [prices.gpt-4o-eu]
            input_per_mtok = 2.5
            output_per_mtok = 10
            [prices.o4-mini]
            max_reasoning_tokens = 3000
            [prices.doubao-seed-1-6]
            input_per_mtok = 0.11
            output_per_mtok = 1.1
            max_reasoning_tokens = 4000
            [prices.qwen-plus]
            input_per_mtok = 0.11
            output_per_mtok = 0.28
            max_reasoning_tokens = 2000
            [prices."glm-4.5"]
            input_per_mtok = 0.28
            output_per_mtok = 1.1
            [tiers.staff]
            max_tokens = 1000
        "#;
        Config::load(text).unwrap_or_else(|error| panic!("{error}"))
    }

    fn planned_body(planned: &Plan) -> Value {
        serde_json::from_str(&planned.body).unwrap_or_default()
    }

    #[test]
    fn azure_plans_target_the_deployment_with_an_api_key() {
        let config = providers_config();
        let planned = plan_of(
            &config,
            r#"{"model":"gpt-4o-eu","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(planned.upstream_name, "azure");
        assert_eq!(
            planned.target.key_header,
            crate::provider::KeyHeader::ApiKey
        );
        assert_eq!(
            planned.target.url("https://contoso.openai.azure.com"),
            "https://contoso.openai.azure.com/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
        );
        let openai = plan_of(
            &config,
            r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(openai.target.path_and_query, "/chat/completions");
    }

    #[test]
    fn a_reasoning_budget_is_reserved_and_held_by_the_cap_that_bounds_it() {
        let config = providers_config();
        // OpenAI: max_completion_tokens bounds reasoning, so the cap grows by the budget.
        let o4 = plan_of(
            &config,
            r#"{"model":"o4-mini","max_completion_tokens":500,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(planned_body(&o4)["max_completion_tokens"], 3500);
        assert_eq!(o4.reserve_tokens, o4.prompt_estimate + 3500);
        // Doubao: one max_completion_tokens, the tier's cap plus the budget.
        let doubao = plan_of(
            &config,
            r#"{"model":"doubao-seed-1-6","max_tokens":800,"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let body = planned_body(&doubao);
        assert_eq!(body.get("max_tokens"), None);
        assert_eq!(body["max_completion_tokens"], 4800);
        assert_eq!(doubao.reserve_tokens, doubao.prompt_estimate + 4800);
        // Qwen: thinking_budget caps the reasoning, reserved on top of the answer's cap.
        let qwen = plan_of(
            &config,
            r#"{"model":"qwen-plus","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let body = planned_body(&qwen);
        assert_eq!(body["max_tokens"], 1000);
        assert_eq!(body["thinking_budget"], 2000);
        assert_eq!(qwen.reserve_tokens, qwen.prompt_estimate + 3000);
        let price = qwen.price.unwrap_or_else(|| panic!("priced"));
        assert_eq!(
            qwen.reserve_micro_usd,
            price.cost_micro_usd(qwen.prompt_estimate, 3000, 0)
        );
    }

    #[test]
    fn zhipu_rules_apply_before_anything_is_reserved() {
        let mut config = providers_config();
        if let Some(staff) = config.tiers.get_mut("staff") {
            staff.allowed_fields.push("tool_choice".into());
        }
        check_refused(
            &config,
            r#"{"model":"glm-4.5","tool_choice":"required","tools":[{"type":"function","function":{"name":"f"}}],
                "messages":[{"role":"user","content":"hi"}]}"#,
            "tool_choice",
        );
        let planned = plan_of(
            &config,
            r#"{"model":"glm-4.5","temperature":1.8,"stream_options":{"include_usage":true},
                "messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let body = planned_body(&planned);
        assert_eq!(body["temperature"], 1.0);
        assert_eq!(body.get("stream_options"), None);
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn ledger_rows_carry_reasoning_tokens_and_bill_them_as_output() {
        let config = providers_config();
        let planned = plan_of(
            &config,
            r#"{"model":"o4-mini","messages":[{"role":"user","content":"hi"}]}"#,
        )
        .unwrap_or_else(|error| panic!("{error}"));
        let usage = Usage {
            prompt_tokens: 1000,
            completion_tokens: 600,
            cached_tokens: 400,
            reasoning_tokens: 500,
            estimated: false,
        };
        let row = planned.ledger_row("key_a", usage, 200, Ending::Completed, 5, 10, 1);
        assert_eq!(row.reasoning_tokens, 500);
        // o4-mini: 600 uncached × 1.10 + 400 cached × 0.275 + 600 output × 4.40 micro-USD;
        // the 500 reasoning tokens are inside the 600 output ones, not billed twice.
        assert_eq!(row.cost_micro_usd, 660 + 110 + 2640);
    }
}
