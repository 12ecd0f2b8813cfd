//! `[alerts]`: budget thresholds, the error-rate threshold and the webhooks alerts go to. Its
//! own file (type, raw shape, checks) so that the rest of the config only gains one field.
//! The webhooks' secrets (their `secret`, and the tokens DingTalk and WeCom put in the URL)
//! never leave this value: it serialises as format, host and "set"/"unset".

use serde::{Deserialize, Serialize, Serializer};

use crate::tools::check_webhook_url;

/// `[alerts]` as the worker uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertsConfig {
    /// Shares of a budget (0 < t <= 1) whose crossing sends an alert, once per threshold,
    /// period and subject.
    pub thresholds: Vec<f64>,
    /// Share of failed requests over 5 minutes above which an alert is sent; `None`: off.
    pub error_rate: Option<f64>,
    pub webhooks: Vec<AlertWebhook>,
    /// First retry of a failed send after this many seconds, doubling (5 tries).
    pub retry_base_s: u64,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            thresholds: vec![0.5, 0.8, 1.0],
            error_rate: None,
            webhooks: Vec::new(),
            retry_base_s: 40,
        }
    }
}

/// One place alerts are sent.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertWebhook {
    pub url: String,
    pub format: WebhookFormat,
    /// DingTalk's and Feishu's signing secret (`SEC...`); unused by the other formats.
    #[serde(default)]
    pub secret: Option<String>,
}

/// The body a receiver expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// DingTalk (钉钉) custom robot.
    Dingtalk,
    /// WeCom (企业微信) group robot.
    Wecom,
    /// Feishu / Lark (飞书) custom bot.
    Feishu,
    /// Slack incoming webhook.
    Slack,
    /// oachat's own schema (docs/alerts.md).
    Json,
}

impl WebhookFormat {
    pub fn name(self) -> &'static str {
        match self {
            WebhookFormat::Dingtalk => "dingtalk",
            WebhookFormat::Wecom => "wecom",
            WebhookFormat::Feishu => "feishu",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Json => "json",
        }
    }
}

impl AlertWebhook {
    /// The URL's host, the only part of it ever shown (logs, admin answers): DingTalk's
    /// `access_token` and WeCom's `key` are credentials inside the URL.
    pub fn host(&self) -> String {
        url_host(&self.url)
    }
}

/// The host (and port) of `url`, without scheme, credentials, path or query.
pub fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
        .to_string()
}

// Written by hand so that no derive can ever print the URL or the secret.
impl std::fmt::Debug for AlertWebhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertWebhook")
            .field("host", &self.host())
            .field("format", &self.format)
            .field("secret", &set_or_unset(&self.secret))
            .finish()
    }
}

impl Serialize for AlertWebhook {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "host": self.host(),
            "format": self.format,
            "secret": set_or_unset(&self.secret),
        })
        .serialize(serializer)
    }
}

impl Serialize for AlertsConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "thresholds": self.thresholds,
            "error_rate": self.error_rate,
            "webhooks": self.webhooks,
            "retry_base_s": self.retry_base_s,
        })
        .serialize(serializer)
    }
}

fn set_or_unset(secret: &Option<String>) -> &'static str {
    if secret.is_some() {
        "set"
    } else {
        "unset"
    }
}

/// `[alerts]` as written: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AlertsPatch {
    thresholds: Option<Vec<f64>>,
    error_rate: Option<f64>,
    webhooks: Option<Vec<AlertWebhook>>,
    retry_base_s: Option<u64>,
}

impl AlertsPatch {
    pub(super) fn apply(self, alerts: &mut AlertsConfig) {
        if let Some(mut thresholds) = self.thresholds {
            // Crossings are reported lowest first; the order written does not matter.
            thresholds.sort_by(f64::total_cmp);
            thresholds.dedup();
            alerts.thresholds = thresholds;
        }
        if self.error_rate.is_some() {
            alerts.error_rate = self.error_rate;
        }
        if let Some(webhooks) = self.webhooks {
            alerts.webhooks = webhooks;
        }
        if let Some(retry_base_s) = self.retry_base_s {
            alerts.retry_base_s = retry_base_s;
        }
    }
}

impl AlertsConfig {
    /// Every problem, as (field path, message). Messages never quote a URL or a secret.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        for (index, threshold) in self.thresholds.iter().enumerate() {
            if !(threshold.is_finite() && *threshold > 0.0 && *threshold <= 1.0) {
                problems.push((
                    format!("alerts.thresholds[{index}]"),
                    "must be a share of the budget, above 0 and at most 1 (0.8 is 80%)".into(),
                ));
            }
        }
        if let Some(rate) = self.error_rate {
            if !(rate.is_finite() && rate > 0.0 && rate <= 1.0) {
                problems.push((
                    "alerts.error_rate".into(),
                    "must be a share of requests, above 0 and at most 1 (0.2 is 20%)".into(),
                ));
            }
        }
        if !(1..=3600).contains(&self.retry_base_s) {
            problems.push((
                "alerts.retry_base_s".into(),
                "must be 1..=3600 seconds".into(),
            ));
        }
        for (index, webhook) in self.webhooks.iter().enumerate() {
            if let Err(message) = check_webhook_url(&webhook.url) {
                problems.push((format!("alerts.webhooks[{index}].url"), message));
            }
            if webhook.secret.as_deref() == Some("") {
                problems.push((
                    format!("alerts.webhooks[{index}].secret"),
                    "must not be empty (leave it out for an unsigned webhook)".into(),
                ));
            }
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_host_is_all_that_is_shown_of_a_url() {
        let webhook = AlertWebhook {
            url: "https://oapi.dingtalk.com/robot/send?access_token=tok-123".into(),
            format: WebhookFormat::Dingtalk,
            secret: Some("SECabc".into()),
        };
        assert_eq!(webhook.host(), "oapi.dingtalk.com");
        let shown = format!(
            "{webhook:?} {}",
            serde_json::to_string(&AlertsConfig {
                webhooks: vec![webhook.clone()],
                ..AlertsConfig::default()
            })
            .unwrap()
        );
        assert!(
            !shown.contains("tok-123") && !shown.contains("SECabc"),
            "{shown}"
        );
        assert!(shown.contains("\"secret\":\"set\""), "{shown}");
        assert_eq!(url_host("http://user:pw@127.0.0.1:9/x"), "127.0.0.1:9");
    }

    #[test]
    fn problems_name_their_field_and_never_the_url() {
        let alerts = AlertsConfig {
            thresholds: vec![0.5, 1.5, 0.0],
            error_rate: Some(2.0),
            webhooks: vec![AlertWebhook {
                url: "ftp://hooks.example/secret-token".into(),
                format: WebhookFormat::Json,
                secret: Some(String::new()),
            }],
            retry_base_s: 0,
        };
        let problems = alerts.problems();
        let paths: Vec<&str> = problems.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "alerts.thresholds[1]",
                "alerts.thresholds[2]",
                "alerts.error_rate",
                "alerts.retry_base_s",
                "alerts.webhooks[0].url",
                "alerts.webhooks[0].secret"
            ]
        );
        assert!(problems.iter().all(|(_, m)| !m.contains("secret-token")));
        assert!(AlertsConfig::default().problems().is_empty());
    }

    #[test]
    fn loading_names_the_field_path_and_sorts_thresholds() {
        use crate::config::Config;
        let error = Config::load(
            r#"{"alerts":{"webhooks":[{"url":"https://oapi.dingtalk.com/robot/send?access_token=t","format":"lark"}]}}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("alerts.webhooks[0].format: unknown variant `lark`"),
            "{error}"
        );
        assert!(!error.contains("access_token"), "{error}");
        let error = Config::load("[alerts]\nthreshold = [0.5]\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("threshold"), "{error}");
        let config = Config::load(
            "[alerts]\nthresholds = [1.0, 0.5, 0.8, 0.5]\nerror_rate = 0.2\n[[alerts.webhooks]]\nurl = \"https://hooks.slack.com/services/x\"\nformat = \"slack\"\n",
        )
        .unwrap();
        assert_eq!(config.alerts.thresholds, [0.5, 0.8, 1.0]);
        assert_eq!(config.alerts.error_rate, Some(0.2));
        assert_eq!(config.alerts.webhooks[0].format, WebhookFormat::Slack);
        assert_eq!(Config::default().alerts, AlertsConfig::default());
    }
}
