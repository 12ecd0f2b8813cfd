//! Routing for model `auto`: which route (and so which model, system prompt, `max_tokens`,
//! temperature and cache policy) answers a message.
//!
//! The decision takes these steps, in order, and stops at the first that decides:
//! 1. **Scenario**: an explicit scenario or route name sent by the widget or a card.
//! 2. **Rules**: the operator's keywords, patterns, length bounds and "contains code"
//!    ([`rules`]).
//! 3. **Classifier**: Naive Bayes over character n-grams, trained at isolate start-up from the
//!    routes' `examples` ([`classifier`]). Below `routing.min_confidence` it defers to step 4.
//! 4. **Default**: `routing.default_route`.
//!
//! [`Router::new`] trains the classifier, so build one per isolate next to the parsed
//! [`Config`] and reuse it; [`Router::decide`] is then a few microseconds and allocates only
//! small vectors. When routing is off, `auto` means `default_model` on the default route.
//!
//! A routed model must be allowed by the caller's tier. If it is not, the decision falls back to
//! `default_model`, then to the tier's first concrete model, and says `downgraded`. A tier that
//! lists no concrete model (only `auto` or `*`) accepts whatever routing picks.

pub mod classifier;
pub mod rules;
pub mod template;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Config, Tier, ANY_MODEL, AUTO_MODEL};
use classifier::Classifier;
use rules::{CompiledRule, MessageView};
pub use template::{render_template, TemplateVars};

/// Why the default route was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultReason {
    RoutingDisabled,
    EmptyMessage,
    NoClassifier,
    LowConfidence,
}

/// Why a route was chosen; goes into the ledger and the admin explain endpoint.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The request named a scenario (or a route directly).
    Scenario {
        name: String,
    },
    /// A configured rule fired; `name` says which and on what.
    Rule {
        name: String,
    },
    Classifier {
        confidence: f32,
    },
    Default {
        why: DefaultReason,
    },
}

impl Reason {
    /// Compact form for a ledger column, e.g. `classifier:0.93` or `rule:code: contains code`.
    pub fn label(&self) -> String {
        match self {
            Reason::Scenario { name } => format!("scenario:{name}"),
            Reason::Rule { name } => format!("rule:{name}"),
            Reason::Classifier { confidence } => format!("classifier:{confidence:.2}"),
            Reason::Default { why } => {
                let why = match why {
                    DefaultReason::RoutingDisabled => "routing_disabled",
                    DefaultReason::EmptyMessage => "empty_message",
                    DefaultReason::NoClassifier => "no_classifier",
                    DefaultReason::LowConfidence => "low_confidence",
                };
                format!("default:{why}")
            }
        }
    }
}

/// One route's classifier probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouteScore {
    pub route: String,
    pub probability: f32,
}

/// The outcome of routing one request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Decision {
    pub route: String,
    /// Public model name (an alias or served model); resolve it with
    /// [`Config::resolve_model`].
    pub model: String,
    pub reason: Reason,
    /// Classifier probabilities, best first; empty when the classifier was not consulted.
    pub scores: Vec<RouteScore>,
    /// The route's model was outside the tier's list and was replaced.
    pub downgraded: bool,
}

/// What the router needs to know about a request.
#[derive(Clone, Copy, Debug, Default)]
pub struct RouteRequest<'a> {
    /// The latest user message.
    pub text: &'a str,
    /// Scenario or route name from the widget or a card.
    pub scenario: Option<&'a str>,
    /// The caller's tier, to keep the routed model inside it.
    pub tier: Option<&'a Tier>,
    /// Compute classifier scores even when an earlier step decides (admin explain endpoint).
    pub explain: bool,
}

/// Routes `auto` requests; build once per isolate with [`Router::new`].
#[derive(Clone, Debug)]
pub struct Router {
    enabled: bool,
    default_route: String,
    default_model: String,
    min_confidence: f32,
    /// Enabled routes and their models.
    route_models: BTreeMap<String, String>,
    /// Scenario name to route name.
    scenarios: BTreeMap<String, String>,
    rules: Vec<CompiledRule>,
    need_chars: bool,
    classifier: Option<Classifier>,
}

impl Router {
    /// Compile the rules and train the classifier from `config` (a few milliseconds).
    pub fn new(config: &Config) -> Router {
        let enabled_routes = || config.routes.iter().filter(|(_, route)| route.enabled);
        let route_models = enabled_routes()
            .map(|(name, route)| (name.clone(), config.route_model(route).to_string()))
            .collect();
        let scenarios = config
            .scenarios
            .iter()
            .map(|(name, scenario)| {
                let route = scenario
                    .route
                    .clone()
                    .unwrap_or_else(|| config.routing.default_route.clone());
                (name.clone(), route)
            })
            .collect();
        let mut rules: Vec<CompiledRule> = enabled_routes()
            .filter_map(|(name, route)| CompiledRule::compile(name, route))
            .collect();
        CompiledRule::sort(&mut rules);
        let need_chars = rules.iter().any(CompiledRule::has_patterns);
        let classifier = Classifier::train(enabled_routes().flat_map(|(name, route)| {
            route
                .examples
                .iter()
                .map(move |example| (name.as_str(), example.as_str()))
        }));
        Router {
            enabled: config.routing.enabled,
            default_route: config.routing.default_route.clone(),
            default_model: config.default_model.clone(),
            min_confidence: config.routing.min_confidence,
            route_models,
            scenarios,
            rules,
            need_chars,
            classifier,
        }
    }

    /// Whether `name` is a scenario or an enabled route (the glue may refuse unknown ones).
    pub fn knows_scenario(&self, name: &str) -> bool {
        self.scenarios.contains_key(name) || self.route_models.contains_key(name)
    }

    /// Route one request; see the module doc for the steps.
    pub fn decide(&self, request: &RouteRequest<'_>) -> Decision {
        let scenario_route = request.scenario.and_then(|name| {
            self.scenarios
                .get(name)
                .filter(|route| self.route_models.contains_key(route.as_str()))
                .or_else(|| {
                    self.route_models
                        .get_key_value(name)
                        .map(|(route, _)| route)
                })
                .map(|route| (name, route.clone()))
        });
        let text = request.text.trim();
        let wants_scores = request.explain || (self.enabled && scenario_route.is_none());
        let prediction = match &self.classifier {
            Some(classifier) if wants_scores && !text.is_empty() => {
                Some((classifier, classifier.predict(text)))
            }
            _ => None,
        };
        let scores = prediction
            .as_ref()
            .map(|(classifier, prediction)| {
                let mut scores: Vec<RouteScore> = classifier
                    .labels()
                    .iter()
                    .zip(&prediction.probabilities)
                    .map(|(route, probability)| RouteScore {
                        route: route.clone(),
                        probability: *probability,
                    })
                    .collect();
                scores.sort_by(|a, b| b.probability.total_cmp(&a.probability));
                scores
            })
            .unwrap_or_default();

        let (route, reason) = if let Some((name, route)) = scenario_route {
            (
                route,
                Reason::Scenario {
                    name: name.to_string(),
                },
            )
        } else if !self.enabled {
            let why = DefaultReason::RoutingDisabled;
            (self.default_route.clone(), Reason::Default { why })
        } else if text.is_empty() {
            let why = DefaultReason::EmptyMessage;
            (self.default_route.clone(), Reason::Default { why })
        } else if let Some((route, name)) = self.first_rule(text) {
            (route, Reason::Rule { name })
        } else {
            match &prediction {
                None => {
                    let why = DefaultReason::NoClassifier;
                    (self.default_route.clone(), Reason::Default { why })
                }
                Some((_, prediction)) if prediction.confidence < self.min_confidence => {
                    let why = DefaultReason::LowConfidence;
                    (self.default_route.clone(), Reason::Default { why })
                }
                Some((classifier, prediction)) => {
                    let route = classifier.labels().get(prediction.best).cloned();
                    match route {
                        Some(route) => (
                            route,
                            Reason::Classifier {
                                confidence: prediction.confidence,
                            },
                        ),
                        None => {
                            let why = DefaultReason::NoClassifier;
                            (self.default_route.clone(), Reason::Default { why })
                        }
                    }
                }
            }
        };

        let routed_model = if self.enabled || matches!(reason, Reason::Scenario { .. }) {
            self.route_models.get(&route).cloned()
        } else {
            None
        };
        let routed_model = routed_model.unwrap_or_else(|| self.default_model.clone());
        let (model, downgraded) = self.fit_to_tier(routed_model, request.tier);
        Decision {
            route,
            model,
            reason,
            scores,
            downgraded,
        }
    }

    fn first_rule(&self, text: &str) -> Option<(String, String)> {
        if self.rules.is_empty() {
            return None;
        }
        let message = MessageView::new(text, self.need_chars);
        self.rules
            .iter()
            .find_map(|rule| rule.check(&message).map(|name| (rule.route.clone(), name)))
    }

    fn fit_to_tier(&self, model: String, tier: Option<&Tier>) -> (String, bool) {
        let Some(tier) = tier else {
            return (model, false);
        };
        let concrete = |name: &&String| name.as_str() != ANY_MODEL && name.as_str() != AUTO_MODEL;
        if tier.allows(&model) || !tier.models.iter().any(|name| concrete(&name)) {
            return (model, false);
        }
        if tier.allows(&self.default_model) {
            return (self.default_model.clone(), true);
        }
        match tier.models.iter().find(concrete) {
            Some(first) => (first.clone(), true),
            None => (model, false),
        }
    }
}

/// The system prompt for a route: its template rendered, followed by the conciseness policy
/// when `routing.conciseness` is on. `None` when both are empty or the route is unknown.
pub fn system_prompt(config: &Config, route: &str, vars: &TemplateVars<'_>) -> Option<String> {
    let route = config.routes.get(route)?;
    let mut prompt = render_template(&route.system_prompt, vars)
        .trim()
        .to_string();
    if config.routing.conciseness && !config.routing.concise_prompt.trim().is_empty() {
        if !prompt.is_empty() {
            prompt.push_str("\n\n");
        }
        prompt.push_str(config.routing.concise_prompt.trim());
    }
    (!prompt.is_empty()).then_some(prompt)
}

/// The `max_tokens` to send upstream (and to reserve budget for): what the client asked, never
/// above the tier's cap, and never above the route's when conciseness is on.
pub fn clamp_max_tokens(
    config: &Config,
    route: Option<&str>,
    tier: &Tier,
    requested: Option<u32>,
) -> u32 {
    let mut cap = tier.max_tokens;
    if config.routing.conciseness {
        if let Some(route_cap) = route
            .and_then(|name| config.routes.get(name))
            .and_then(|route| route.max_tokens)
        {
            cap = cap.min(route_cap);
        }
    }
    requested.map_or(cap, |asked| asked.clamp(1, cap.max(1)))
}

/// The user message for a scenario: its prompt rendered with the user's input as `{{input}}`.
/// `None` for an unknown scenario (a plain route name has no prompt: send the input as is).
pub fn scenario_message(
    config: &Config,
    scenario: &str,
    vars: &TemplateVars<'_>,
) -> Option<String> {
    config
        .scenarios
        .get(scenario)
        .map(|scenario| render_template(&scenario.prompt, vars))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(&Config::default())
    }

    #[track_caller]
    fn check(text: &str, expected_route: &str) {
        let decision = router().decide(&RouteRequest {
            text,
            ..RouteRequest::default()
        });
        assert_eq!(decision.route, expected_route, "{text:?}: {decision:?}");
    }

    #[test]
    fn each_route_in_both_languages() {
        check("帮我写个SQL，查出本月没有打卡的员工", "code");
        check(
            "Write a bash script that deletes temp files older than a week",
            "code",
        );
        check("把这句话翻译成英文：下午三点开会", "translate");
        check("Translate this notice into Japanese", "translate");
        check("帮我总结一下这份会议记录的要点", "summarize");
        check("Summarize this email thread in three bullets", "summarize");
        check("帮我起草一份国庆放假的通知", "writing");
        check(
            "Draft an email inviting the team to the year-end party",
            "writing",
        );
        check("产假有多少天", "general");
        check("How do I reset my VPN password?", "general");
    }

    #[test]
    fn pasted_code_goes_to_code_by_rule() {
        let decision = router().decide(&RouteRequest {
            text: "为什么报错？\n```python\nprint(items[0])\n```",
            ..RouteRequest::default()
        });
        assert_eq!(decision.route, "code");
        assert!(
            matches!(decision.reason, Reason::Rule { .. }),
            "{decision:?}"
        );
        assert_eq!(decision.model, "gpt-4.1");
    }

    #[test]
    fn scenario_overrides_everything() {
        let config = match Config::load(
            "[scenarios.weekly_report]\nroute = \"writing\"\nprompt = \"Weekly report for {{user.name}}: {{input}}\"",
        ) {
            Ok(config) => config,
            Err(error) => panic!("{error}"),
        };
        let router = Router::new(&config);
        let decision = router.decide(&RouteRequest {
            text: "```\nfn main() {}\n```",
            scenario: Some("weekly_report"),
            ..RouteRequest::default()
        });
        assert_eq!(decision.route, "writing");
        assert_eq!(
            decision.reason,
            Reason::Scenario {
                name: "weekly_report".to_string()
            }
        );
        assert!(
            decision.scores.is_empty(),
            "the classifier is not consulted"
        );
        // A route name works as a scenario too.
        let direct = router.decide(&RouteRequest {
            text: "hello",
            scenario: Some("translate"),
            ..RouteRequest::default()
        });
        assert_eq!(direct.route, "translate");
        // An unknown scenario falls through to the normal steps.
        let unknown = router.decide(&RouteRequest {
            text: "把这句话翻译成英文：谢谢",
            scenario: Some("nope"),
            ..RouteRequest::default()
        });
        assert_eq!(unknown.route, "translate");
        let vars = TemplateVars {
            user_name: "Li Lei",
            input: "shipped v2",
            ..TemplateVars::default()
        };
        assert_eq!(
            scenario_message(&config, "weekly_report", &vars).as_deref(),
            Some("Weekly report for Li Lei: shipped v2")
        );
    }

    #[test]
    fn low_confidence_and_empty_go_to_default() {
        let decision = router().decide(&RouteRequest {
            text: "   ",
            ..RouteRequest::default()
        });
        assert_eq!(decision.route, "general");
        assert_eq!(
            decision.reason,
            Reason::Default {
                why: DefaultReason::EmptyMessage
            }
        );
        let gibberish = router().decide(&RouteRequest {
            text: "ЖЖЖ ЩЩЩ",
            ..RouteRequest::default()
        });
        assert_eq!(gibberish.route, "general");
        assert_eq!(gibberish.reason.label(), "default:low_confidence");
    }

    #[test]
    fn routing_disabled_means_default_model() {
        let config =
            match Config::load("default_model = \"gpt-4.1-nano\"\n[routing]\nenabled = false") {
                Ok(config) => config,
                Err(error) => panic!("{error}"),
            };
        let decision = Router::new(&config).decide(&RouteRequest {
            text: "Write a SQL query",
            ..RouteRequest::default()
        });
        assert_eq!(decision.model, "gpt-4.1-nano");
        assert_eq!(decision.reason.label(), "default:routing_disabled");
    }

    #[test]
    fn routed_model_stays_inside_the_tier() {
        let config = Config::default();
        let guest = &config.tiers["guest"];
        let decision = Router::new(&config).decide(&RouteRequest {
            text: "```\nSELECT 1;\n```",
            tier: Some(guest),
            ..RouteRequest::default()
        });
        assert_eq!(decision.route, "code");
        assert_eq!(decision.model, "gpt-4o-mini");
        assert!(decision.downgraded);
        let staff = &config.tiers["staff"];
        let decision = Router::new(&config).decide(&RouteRequest {
            text: "```\nSELECT 1;\n```",
            tier: Some(staff),
            ..RouteRequest::default()
        });
        assert_eq!(decision.model, "gpt-4.1");
        assert!(!decision.downgraded);
    }

    #[test]
    fn explain_always_has_scores() {
        let decision = router().decide(&RouteRequest {
            text: "translate this",
            scenario: Some("code"),
            explain: true,
            ..RouteRequest::default()
        });
        assert_eq!(decision.scores.len(), 5);
        assert_eq!(decision.route, "code");
    }

    #[test]
    fn system_prompt_and_max_tokens() {
        let config = Config::default();
        let vars = TemplateVars {
            user_name: "Ann",
            date: "2026-11-20",
            org: "",
            input: "",
        };
        let prompt = system_prompt(&config, "general", &vars).unwrap_or_default();
        assert!(
            prompt.contains("the company")
                && prompt.contains("Ann")
                && prompt.contains("concisely")
        );
        assert!(!prompt.contains("{{"), "{prompt}");
        let staff = &config.tiers["staff"];
        assert_eq!(clamp_max_tokens(&config, Some("general"), staff, None), 800);
        assert_eq!(
            clamp_max_tokens(&config, Some("general"), staff, Some(100)),
            100
        );
        assert_eq!(
            clamp_max_tokens(&config, Some("code"), staff, Some(100_000)),
            2048
        );
        assert_eq!(clamp_max_tokens(&config, None, staff, Some(0)), 1);
    }
}
