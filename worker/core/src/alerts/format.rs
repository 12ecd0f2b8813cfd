//! The request each receiver expects for an alert, signed where the vendor signs:
//!
//! - DingTalk custom robot: `{"msgtype":"text","text":{"content"}}`; with a secret, the URL
//!   gains `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(secret,
//!   "{timestamp}\n{secret}"))).
//! - WeCom group robot: `{"msgtype":"text","text":{"content"}}` (the key is in the URL).
//! - Feishu / Lark custom bot: `{"msg_type":"text","content":{"text"}}`; with a secret, the
//!   body gains `timestamp` (seconds, a string) and `sign` = base64(HMAC-SHA256 keyed with
//!   "{timestamp}\n{secret}" over an empty message).
//! - Slack incoming webhook: `{"text"}`.
//! - json: oachat's schema `oachat.alert.v1` (docs/alerts.md); with a secret, signed like server
//!   tools' webhooks (`x-oachat-timestamp`, `x-oachat-signature: v1=<hex>`).

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;

use super::event::{Alert, AlertKind};
use super::message::{full_text, text};
use crate::config::{AlertWebhook, WebhookFormat};

/// One POST to a receiver. The URL may carry credentials: it is never logged or shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPost {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The name of oachat's own alert schema, in every `json` body.
pub const JSON_SCHEMA: &str = "oachat.alert.v1";

/// The POST that tells `webhook` about `alert`, signed at `now_ms`.
pub fn webhook_post(webhook: &AlertWebhook, alert: &Alert, now_ms: u64) -> WebhookPost {
    let secret = webhook.secret.as_deref();
    let mut url = webhook.url.clone();
    let mut headers = vec![("content-type", "application/json".to_string())];
    let body = match webhook.format {
        WebhookFormat::Dingtalk => {
            if let Some(secret) = secret {
                let timestamp = now_ms.to_string();
                let sign = percent_encode(&dingtalk_sign(secret, &timestamp));
                let separator = if url.contains('?') { '&' } else { '?' };
                url = format!("{url}{separator}timestamp={timestamp}&sign={sign}");
            }
            json!({"msgtype": "text", "text": {"content": full_text(alert)}})
        }
        WebhookFormat::Wecom => json!({"msgtype": "text", "text": {"content": full_text(alert)}}),
        WebhookFormat::Feishu => {
            let mut body = json!({"msg_type": "text", "content": {"text": full_text(alert)}});
            if let Some(secret) = secret {
                let timestamp = (now_ms / 1000).to_string();
                body["sign"] = feishu_sign(secret, &timestamp).into();
                body["timestamp"] = timestamp.into();
            }
            body
        }
        WebhookFormat::Slack => json!({"text": full_text(alert)}),
        WebhookFormat::Json => json_body(alert),
    };
    let body = body.to_string();
    if let (WebhookFormat::Json, Some(secret)) = (webhook.format, secret) {
        let timestamp = (now_ms / 1000).to_string();
        let signature = crate::tools::sign(secret.as_bytes(), &timestamp, body.as_bytes());
        headers.push(("x-oachat-timestamp", timestamp));
        headers.push(("x-oachat-signature", signature));
    }
    WebhookPost { url, headers, body }
}

/// `oachat.alert.v1`: stable field names; new fields may be added, none renamed.
fn json_body(alert: &Alert) -> serde_json::Value {
    let (zh, en) = text(alert);
    let mut details = match &alert.kind {
        AlertKind::Budget {
            period,
            threshold_permille,
            used_micro_usd,
            limit_micro_usd,
        } => json!({
            "period": period.period,
            "period_label": period.label,
            "threshold": f64::from(*threshold_permille) / 1000.0,
            "used_micro_usd": used_micro_usd,
            "limit_micro_usd": limit_micro_usd,
        }),
        AlertKind::KeyDisabled { upstream, key_id } => {
            json!({"upstream": upstream, "key_id": key_id})
        }
        AlertKind::UpstreamDown { upstream } => json!({"upstream": upstream}),
        AlertKind::ErrorRate {
            failed,
            total,
            threshold_permille,
        } => json!({
            "failed": failed,
            "total": total,
            "threshold": f64::from(*threshold_permille) / 1000.0,
            "window_s": 300,
        }),
    };
    details["schema"] = JSON_SCHEMA.into();
    details["id"] = alert.dedup_key().into();
    details["kind"] = alert.kind.name().into();
    details["subject"] = serde_json::to_value(&alert.subject).unwrap_or_default();
    details["at_ms"] = alert.at_ms.into();
    details["text_zh"] = zh.into();
    details["text_en"] = en.into();
    details
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC accepts keys of every length");
    mac.update(message);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// DingTalk: base64(HMAC-SHA256(key = secret, message = "{timestamp}\n{secret}")), before
/// URL encoding.
pub fn dingtalk_sign(secret: &str, timestamp_ms: &str) -> String {
    hmac_base64(
        secret.as_bytes(),
        format!("{timestamp_ms}\n{secret}").as_bytes(),
    )
}

/// Feishu: base64(HMAC-SHA256(key = "{timestamp}\n{secret}", message = empty)).
pub fn feishu_sign(secret: &str, timestamp_s: &str) -> String {
    hmac_base64(format!("{timestamp_s}\n{secret}").as_bytes(), b"")
}

/// Percent-encodes everything but RFC 3986's unreserved characters (base64's `+`, `/`, `=`).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::event::{budget_alerts, BudgetPeriod, Subject};

    const NOW_MS: u64 = 1_796_472_000_123;

    fn alert() -> Alert {
        budget_alerts(
            &Subject::Deployment,
            &BudgetPeriod::utc_day(NOW_MS),
            40_000_000,
            50_000_000,
            &[0.8],
            NOW_MS,
        )
        .remove(0)
    }

    fn hook(format: WebhookFormat, url: &str, secret: Option<&str>) -> AlertWebhook {
        AlertWebhook {
            url: url.into(),
            format,
            secret: secret.map(str::to_string),
        }
    }

    fn body(post: &WebhookPost) -> serde_json::Value {
        serde_json::from_str(&post.body).unwrap()
    }

    // Reference values computed independently (Python: hmac.new(key, msg, sha256), base64,
    // urllib.parse.quote_plus), following the vendors' published examples.
    #[test]
    fn signatures_match_independent_computations() {
        assert_eq!(
            dingtalk_sign("SECtest", "1796472000123"),
            "erqnPKlWBrmpcFlHY7J6SfRBBZdDz5Do6jzwiVXxTEg="
        );
        assert_eq!(
            feishu_sign("feishu-secret", "1796472000"),
            "aNc0YexPklxl7JKkuX3xMha9niQMleyhNzR+ORK4KmQ="
        );
    }

    #[test]
    fn dingtalk_signed_url_and_text_body() {
        let post = webhook_post(
            &hook(
                WebhookFormat::Dingtalk,
                "https://oapi.dingtalk.com/robot/send?access_token=tok",
                Some("SECtest"),
            ),
            &alert(),
            NOW_MS,
        );
        let sign = percent_encode(&dingtalk_sign("SECtest", "1796472000123"));
        assert_eq!(
            post.url,
            format!("https://oapi.dingtalk.com/robot/send?access_token=tok&timestamp=1796472000123&sign={sign}")
        );
        assert!(!sign.contains(['+', '/', '=']), "{sign}");
        let body = body(&post);
        assert_eq!(body["msgtype"], "text");
        assert!(body["text"]["content"].as_str().unwrap().starts_with(
            "oachat 预算提醒：本日部署预算已用 80%（40.00 / 50.00 USD）\noachat budget alert"
        ));
        // Unsigned: the URL as configured.
        let plain = webhook_post(
            &hook(
                WebhookFormat::Dingtalk,
                "https://oapi.dingtalk.com/robot/send?access_token=tok",
                None,
            ),
            &alert(),
            NOW_MS,
        );
        assert_eq!(
            plain.url,
            "https://oapi.dingtalk.com/robot/send?access_token=tok"
        );
    }

    #[test]
    fn feishu_signs_in_the_body_with_seconds() {
        let post = webhook_post(
            &hook(
                WebhookFormat::Feishu,
                "https://open.feishu.cn/open-apis/bot/v2/hook/x",
                Some("feishu-secret"),
            ),
            &alert(),
            NOW_MS,
        );
        let body = body(&post);
        assert_eq!(body["msg_type"], "text");
        assert_eq!(body["timestamp"], "1796472000");
        assert_eq!(body["sign"], feishu_sign("feishu-secret", "1796472000"));
        assert!(body["content"]["text"].as_str().unwrap().contains("80%"));
        assert_eq!(post.url, "https://open.feishu.cn/open-apis/bot/v2/hook/x");
    }

    #[test]
    fn wecom_slack_and_json_bodies() {
        let wecom = body(&webhook_post(
            &hook(
                WebhookFormat::Wecom,
                "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k",
                None,
            ),
            &alert(),
            NOW_MS,
        ));
        assert_eq!(wecom["msgtype"], "text");
        assert!(wecom["text"]["content"]
            .as_str()
            .unwrap()
            .contains("预算提醒"));
        let slack = body(&webhook_post(
            &hook(
                WebhookFormat::Slack,
                "https://hooks.slack.com/services/T/B/x",
                None,
            ),
            &alert(),
            NOW_MS,
        ));
        assert!(slack["text"].as_str().unwrap().contains("budget alert"));
        let post = webhook_post(
            &hook(
                WebhookFormat::Json,
                "https://hooks.example/alerts",
                Some("s3"),
            ),
            &alert(),
            NOW_MS,
        );
        let json = body(&post);
        assert_eq!(json["schema"], JSON_SCHEMA);
        assert_eq!(json["kind"], "budget");
        assert_eq!(json["id"], "budget|deployment|day|2026-12-05|800");
        assert_eq!(json["subject"]["type"], "deployment");
        assert_eq!(json["threshold"], 0.8);
        assert_eq!(json["used_micro_usd"], 40_000_000);
        assert_eq!(json["period"], "day");
        let signature = post
            .headers
            .iter()
            .find(|(name, _)| *name == "x-oachat-signature")
            .map(|(_, value)| value.clone());
        assert_eq!(
            signature,
            Some(crate::tools::sign(
                b"s3",
                "1796472000",
                post.body.as_bytes()
            ))
        );
    }
}
