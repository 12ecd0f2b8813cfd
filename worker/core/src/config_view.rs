//! What `GET /admin/config` shows: the effective `OACHAT_CONFIG` with nothing secret in it,
//! which secrets are set (never their values; an upstream's keys only as a count), and the
//! validation result. Pure: the shell says which secrets are present.
//!
//! The config's own `Serialize` already hides alert webhooks (host, format, set/unset). On top
//! of that, the whole serialised tree goes through [`redact`], which does not trust any field
//! to be harmless by name: every URL becomes its host (DingTalk's, WeCom's and Slack's
//! webhooks, and a server tool's, carry their token in the path or query; a base URL may carry
//! credentials), and every field named like a credential becomes "set" or "unset". A field
//! added to the config later is covered by the same rules without anyone remembering this file.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::config::{url_host, Config};

/// Which secrets the deployment has, by name; values never enter this type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretsPresent {
    pub signing_secret: bool,
    pub admin_token: bool,
    pub tools_secret: bool,
    pub metrics_token: bool,
    /// Per upstream, in config order: how many keys its secret holds.
    pub upstream_keys: Vec<usize>,
}

/// One upstream's keys as shown: the secret's name and how many keys it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UpstreamKeys {
    pub upstream: String,
    pub secret: String,
    pub keys: usize,
}

/// Field names whose values are credentials wherever they appear (compared lowercased).
const CREDENTIAL_FIELDS: &[&str] = &[
    "secret",
    "token",
    "password",
    "api_key",
    "apikey",
    "key",
    "access_token",
    "authorization",
    "headers",
    "signing_secret",
];

/// The whole answer of `GET /admin/config`.
pub fn view(config: &Config, secrets: &SecretsPresent) -> Value {
    let mut effective = serde_json::to_value(config).unwrap_or(Value::Null);
    redact(&mut effective);
    let upstream_keys: Vec<UpstreamKeys> = config
        .upstreams
        .iter()
        .enumerate()
        .map(|(index, upstream)| UpstreamKeys {
            upstream: upstream.name.clone(),
            secret: upstream.keys_secret.clone(),
            keys: secrets.upstream_keys.get(index).copied().unwrap_or(0),
        })
        .collect();
    let set = |present: bool| if present { "set" } else { "unset" };
    json!({
        "config": effective,
        "secrets": {
            "OACHAT_SIGNING_SECRET": set(secrets.signing_secret),
            "OACHAT_ADMIN_TOKEN": set(secrets.admin_token),
            "OACHAT_TOOLS_SECRET": set(secrets.tools_secret),
            "OACHAT_METRICS_TOKEN": set(secrets.metrics_token),
            "upstream_keys": upstream_keys,
        },
        "validation": {
            // A config that fails validation never gets this far: the worker answers every
            // request with 500 bad_config naming the field instead.
            "valid": true,
            "warnings": warnings(config, secrets),
        },
    })
}

/// Things that are allowed but probably not meant: the config validates, yet part of it
/// cannot work with the secrets as they are.
pub fn warnings(config: &Config, secrets: &SecretsPresent) -> Vec<String> {
    let mut warnings = Vec::new();
    for (index, upstream) in config.upstreams.iter().enumerate() {
        if secrets.upstream_keys.get(index).copied().unwrap_or(0) == 0 {
            warnings.push(format!(
                "upstream `{}` has no keys: the secret `{}` is unset or empty, so requests \
                 for its models fail",
                upstream.name, upstream.keys_secret
            ));
        }
    }
    if !secrets.signing_secret {
        warnings.push(
            "OACHAT_SIGNING_SECRET is unset: user tokens cannot be verified, so only virtual \
             keys and guests can chat"
                .to_string(),
        );
    }
    if config.alerts.webhooks.is_empty() && config.alerts.error_rate.is_some() {
        warnings.push(
            "alerts.error_rate is set but [alerts] has no webhooks: alerts are kept in the \
             delivery log only"
                .to_string(),
        );
    }
    warnings
}

/// Replaces, anywhere in `value`, URLs by their host and credential-named fields by "set" or
/// "unset" (a value that already says "set" or "unset" stays).
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => redact_object(map),
        Value::Array(items) => items.iter_mut().for_each(redact),
        // A URL under any name shows only its host. Free text (a system prompt that mentions
        // a link) has spaces and is left readable.
        Value::String(text) if looks_like_url(text) => *text = url_host(text),
        _ => {}
    }
}

fn looks_like_url(text: &str) -> bool {
    text.contains("://") && !text.contains(char::is_whitespace)
}

fn redact_object(map: &mut Map<String, Value>) {
    for (name, value) in map.iter_mut() {
        let lower = name.to_ascii_lowercase();
        if CREDENTIAL_FIELDS.contains(&lower.as_str()) {
            let shown = match value {
                Value::String(text) if text == "set" || text == "unset" => text.clone(),
                Value::Null => "unset".to_string(),
                Value::String(text) if text.is_empty() => "unset".to_string(),
                _ => "set".to_string(),
            };
            *value = Value::String(shown);
        } else if let (true, Value::String(text)) = (lower.ends_with("url"), &mut *value) {
            // A URL field without a scheme is still a URL.
            *text = url_host(text);
        } else {
            redact(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A config with a secret in every place one can hide.
    const LEAKY: &str = r#"{
        "upstreams": [{
            "name": "openai", "provider": "openai", "keys_secret": "OPENAI_API_KEYS",
            "base_url": "https://user:pa55word@proxy.example.com/v1?api-key=sk-in-the-query",
            "models": ["gpt-4o-mini", "gpt-4o", "gpt-4.1", "gpt-4.1-mini"]
        }],
        "tools": {"server": {"lookup": {
            "url": "https://oa.example.com/hook/tok-in-the-path?sig=tok-in-the-query",
            "description": "Look a thing up"
        }}},
        "alerts": {"webhooks": [
            {"url": "https://oapi.dingtalk.com/robot/send?access_token=ding-secret-token",
             "format": "dingtalk", "secret": "SECdingsigning"},
            {"url": "https://hooks.slack.com/services/T000/B000/slack-secret-path",
             "format": "slack"}
        ], "error_rate": 0.2}
    }"#;

    const SECRETS_IN_LEAKY: &[&str] = &[
        "pa55word",
        "sk-in-the-query",
        "tok-in-the-path",
        "tok-in-the-query",
        "ding-secret-token",
        "SECdingsigning",
        "slack-secret-path",
    ];

    fn leaky_config() -> Config {
        Config::load(LEAKY).expect("the test config is valid")
    }

    #[test]
    fn no_secret_of_the_config_comes_out() {
        let secrets = SecretsPresent {
            upstream_keys: vec![2],
            ..SecretsPresent::default()
        };
        let text = view(&leaky_config(), &secrets).to_string();
        for secret in SECRETS_IN_LEAKY {
            assert!(!text.contains(secret), "`{secret}` leaked in {text}");
        }
        let shown = view(&leaky_config(), &secrets);
        let upstream = &shown["config"]["upstreams"][0];
        assert_eq!(upstream["base_url"], "proxy.example.com");
        assert_eq!(
            upstream["keys_secret"], "OPENAI_API_KEYS",
            "a secret's name is no secret"
        );
        assert_eq!(
            shown["config"]["tools"]["server"]["lookup"]["url"],
            "oa.example.com"
        );
        let webhooks = &shown["config"]["alerts"]["webhooks"];
        assert_eq!(webhooks[0]["secret"], "set");
        assert_eq!(webhooks[1]["secret"], "unset", "unset stays unset");
        assert_eq!(webhooks[1]["host"], "hooks.slack.com");
    }

    #[test]
    fn secrets_are_named_with_set_or_unset_and_keys_counted() {
        let secrets = SecretsPresent {
            signing_secret: true,
            admin_token: true,
            tools_secret: false,
            metrics_token: false,
            upstream_keys: vec![3],
        };
        let shown = view(&leaky_config(), &secrets);
        assert_eq!(shown["secrets"]["OACHAT_SIGNING_SECRET"], "set");
        assert_eq!(shown["secrets"]["OACHAT_TOOLS_SECRET"], "unset");
        assert_eq!(
            shown["secrets"]["upstream_keys"],
            json!([{"upstream": "openai", "secret": "OPENAI_API_KEYS", "keys": 3}])
        );
        assert_eq!(shown["validation"]["valid"], true);
    }

    #[test]
    fn warnings_name_what_cannot_work() {
        let warnings = warnings(&leaky_config(), &SecretsPresent::default());
        assert!(warnings.iter().any(|w| w.contains("`openai` has no keys")));
        assert!(warnings.iter().any(|w| w.contains("OACHAT_SIGNING_SECRET")));
        let ready = SecretsPresent {
            signing_secret: true,
            upstream_keys: vec![1],
            ..SecretsPresent::default()
        };
        assert!(super::warnings(&Config::load("{}").unwrap(), &ready).is_empty());
    }

    #[test]
    fn credential_fields_are_hidden_wherever_they_are() {
        let mut value = json!({
            "a": {"Token": "t0ps3cret", "headers": {"x": "y"}, "api_key": null},
            "prompt": "See https://oa.example.com/help for help.",
            "list": [{"callback_url": "https://h.example/p?k=v"}, "https://x.example/secret-path"],
        });
        redact(&mut value);
        assert_eq!(
            value,
            json!({
                "a": {"Token": "set", "headers": "set", "api_key": "unset"},
                "prompt": "See https://oa.example.com/help for help.",
                "list": [{"callback_url": "h.example"}, "x.example"],
            })
        );
    }
}
