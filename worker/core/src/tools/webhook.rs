//! The webhook a server tool's call becomes: the signed request the worker sends to the OA
//! backend (body, headers, HMAC-SHA256 signature), which URLs may be configured, and how the
//! answer (or its absence) becomes the call's result. The shell (`worker/src/webhook.rs`)
//! only sends it and reads the answer, bounded.

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha2::Sha256;

use super::server::webhook_arguments;
use super::{truncate_result, ToolCall};
use crate::identity::Identity;

/// The signature scheme's version, the prefix of `x-oachat-signature`.
pub const SIGNATURE_VERSION: &str = "v1";
/// Sent as `user-agent`, so an OA backend can tell the worker's calls in its logs.
pub const USER_AGENT: &str = "oachat-webhook/1";

/// One webhook request, ready to send to the configured URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookRequest {
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Who is asking, as the OA backend is told (guests never reach a server tool).
pub struct WebhookCaller<'a> {
    pub identity: &'a Identity,
    pub conversation_id: &'a str,
    pub request_id: &'a str,
}

/// The request for `call` of server tool `tool`, signed at `now_s` with `secret`.
pub fn webhook_request(
    call: &ToolCall,
    caller: &WebhookCaller<'_>,
    now_s: u64,
    secret: &[u8],
) -> WebhookRequest {
    let identity = caller.identity;
    let mut user = Map::new();
    // The user's object name is `u:<sub>`; the OA backend knows its users by `sub`.
    let sub = identity
        .user
        .strip_prefix("u:")
        .unwrap_or(identity.user.as_str());
    user.insert("sub".into(), sub.into());
    if let Some(name) = &identity.name {
        user.insert("name".into(), name.as_str().into());
    }
    user.insert("tier".into(), identity.tier.as_str().into());
    if let Some(dept) = &identity.dept {
        user.insert("dept".into(), dept.as_str().into());
    }
    let body = json!({
        "tool": call.name,
        "call_id": call.id,
        "arguments": webhook_arguments(&call.arguments),
        "user": Value::Object(user),
        "conversation_id": caller.conversation_id,
        "request_id": caller.request_id,
    })
    .to_string();
    let timestamp = now_s.to_string();
    let signature = sign(secret, &timestamp, body.as_bytes());
    WebhookRequest {
        headers: vec![
            ("content-type", "application/json".to_string()),
            ("user-agent", USER_AGENT.to_string()),
            ("x-oachat-timestamp", timestamp),
            (
                "x-oachat-delivery",
                format!("{}:{}", caller.request_id, call.id),
            ),
            ("x-oachat-signature", signature),
        ],
        body,
    }
}

/// `v1=<lowercase hex of HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC accepts keys of every length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut out = format!("{SIGNATURE_VERSION}=");
    for byte in digest {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether a server tool's `url` may be called: `https://` with a host, or `http://` only to
/// this machine (127.0.0.1, localhost, [::1]) for development and tests. No credentials in
/// the URL: the signature is the credential.
pub fn check_webhook_url(url: &str) -> Result<(), String> {
    let (https, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(
            "must start with https:// (or http:// to 127.0.0.1, localhost or [::1])".into(),
        );
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials (the webhook is signed instead)".into());
    }
    let host = if authority.starts_with('[') {
        authority.split(']').next().map(|h| format!("{h}]"))
    } else {
        authority.split(':').next().map(str::to_string)
    }
    .unwrap_or_default();
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.[]:".contains(&b));
    if !valid_host || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be a URL with a host".into());
    }
    let local = matches!(
        host.to_ascii_lowercase().as_str(),
        "127.0.0.1" | "localhost" | "[::1]"
    );
    if !https && !local {
        return Err("must use https:// (http:// only to 127.0.0.1, localhost or [::1])".into());
    }
    Ok(())
}

/// How a webhook call ended, as the shell saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// A 2xx answer's body, at most `webhook_max_bytes` of it.
    Answered { body: Vec<u8> },
    /// Any other status (a 3xx included: redirects are never followed).
    Status(u16),
    /// No answer within `webhook_timeout_ms`.
    TimedOut,
    /// The answer was longer than `webhook_max_bytes`.
    TooLarge,
    /// The request could not be sent or its answer not read.
    Network,
}

impl WebhookOutcome {
    /// For the log line: a status number, or what went wrong. Never the URL nor the body.
    pub fn log_status(&self) -> String {
        match self {
            WebhookOutcome::Answered { .. } => "2xx".into(),
            WebhookOutcome::Status(status) => status.to_string(),
            WebhookOutcome::TimedOut => "timeout".into(),
            WebhookOutcome::TooLarge => "too_large".into(),
            WebhookOutcome::Network => "network".into(),
        }
    }

    /// Whether the call gave a result (rather than an error for the model).
    pub fn answered(&self) -> bool {
        matches!(self, WebhookOutcome::Answered { .. })
    }
}

/// The result content the model gets: a 2xx answer's text cut to `max_result_bytes`, or an
/// error that says what happened and never repeats the OA's raw error body.
pub fn webhook_result_content(outcome: &WebhookOutcome, max_result_bytes: usize) -> String {
    let failure = match outcome {
        WebhookOutcome::Answered { body } => {
            return truncate_result(&String::from_utf8_lossy(body), max_result_bytes)
        }
        WebhookOutcome::Status(status) => format!("answered {status}"),
        WebhookOutcome::TimedOut => "did not answer in time".into(),
        WebhookOutcome::TooLarge => "answered more than the worker reads".into(),
        WebhookOutcome::Network => "could not be reached".into(),
    };
    format!("Error: the OA service {failure}.")
}

/// The one log line of a webhook call: tool, status, duration and request id.
pub fn log_line(
    tool: &str,
    outcome: &WebhookOutcome,
    duration_ms: u64,
    request_id: &str,
) -> String {
    format!(
        "oachat: webhook tool={tool} status={} duration_ms={duration_ms} request_id={request_id}",
        outcome.log_status()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Credential;

    fn identity(name: Option<&str>) -> Identity {
        Identity {
            user: "u:zhangsan".into(),
            name: name.map(str::to_string),
            dept: name.map(|_| "HR".to_string()),
            tier: "staff".into(),
            credential: Credential::UserToken,
        }
    }

    #[test]
    fn the_signature_matches_an_independent_computation() {
        // node -e 'console.log(require("crypto").createHmac("sha256","s3cret")
        //   .update("1700000000.{\"tool\":\"leave_balance\"}").digest("hex"))'
        assert_eq!(
            sign(b"s3cret", "1700000000", br#"{"tool":"leave_balance"}"#),
            "v1=2f59b58879bceeb94511ee55b1ecd221447bdf117add4fb83f60736e4615c47e"
        );
    }

    #[test]
    fn the_request_carries_the_call_the_user_and_a_verifiable_signature() {
        let call = ToolCall {
            id: "call_x".into(),
            name: "leave_balance".into(),
            arguments: "{\"year\":2024}".into(),
        };
        let identity = identity(Some("张三"));
        let caller = WebhookCaller {
            identity: &identity,
            conversation_id: "c_1",
            request_id: "req_1",
        };
        let request = webhook_request(&call, &caller, 1_700_000_000, b"k");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(
            body,
            json!({"tool": "leave_balance", "call_id": "call_x", "arguments": {"year": 2024},
                "user": {"sub": "zhangsan", "name": "张三", "tier": "staff", "dept": "HR"},
                "conversation_id": "c_1", "request_id": "req_1"})
        );
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.clone())
                .unwrap()
        };
        assert_eq!(header("x-oachat-timestamp"), "1700000000");
        assert_eq!(header("x-oachat-delivery"), "req_1:call_x");
        assert_eq!(header("user-agent"), "oachat-webhook/1");
        assert_eq!(
            header("x-oachat-signature"),
            sign(b"k", "1700000000", request.body.as_bytes())
        );
        // A different timestamp or secret signs differently.
        assert_ne!(
            header("x-oachat-signature"),
            sign(b"k", "1700000001", request.body.as_bytes())
        );
        assert_ne!(
            header("x-oachat-signature"),
            sign(b"K", "1700000000", request.body.as_bytes())
        );
        // No name or dept in the token, none in the body; raw arguments stay text.
        let anonymous = identity_without_name();
        let caller = WebhookCaller {
            identity: &anonymous,
            ..caller
        };
        let call = ToolCall {
            arguments: "not json".into(),
            ..call
        };
        let body: Value =
            serde_json::from_str(&webhook_request(&call, &caller, 1, b"k").body).unwrap();
        assert_eq!(body["user"], json!({"sub": "zhangsan", "tier": "staff"}));
        assert_eq!(body["arguments"], "not json");
    }

    fn identity_without_name() -> Identity {
        identity(None)
    }

    #[track_caller]
    fn check_url(url: &str, allowed: bool) {
        assert_eq!(check_webhook_url(url).is_ok(), allowed, "{url}");
    }

    #[test]
    fn only_https_or_this_machine_over_http() {
        check_url("https://oa.example.com/api/ai/leave-balance", true);
        check_url("https://oa.example.com:8443/x?y=1", true);
        check_url("http://127.0.0.1:9000/x", true);
        check_url("http://localhost/x", true);
        check_url("http://[::1]:8080/x", true);
        check_url("http://oa.example.com/x", false);
        check_url("http://127.0.0.1.evil.com/x", false);
        check_url("http://localhost@evil.com/x", false);
        check_url("https://user:pw@oa.example.com/x", false);
        check_url("ftp://oa.example.com/x", false);
        check_url("https:///x", false);
        check_url("https://oa example.com/x", false);
        check_url("", false);
    }

    #[test]
    fn outcomes_become_results_for_the_model() {
        let answered = WebhookOutcome::Answered {
            body: "{\"days\":5}".into(),
        };
        assert_eq!(webhook_result_content(&answered, 8192), "{\"days\":5}");
        let long = WebhookOutcome::Answered {
            body: "假".repeat(1000).into_bytes(),
        };
        let cut = webhook_result_content(&long, 256);
        assert!(cut.len() <= 256 && cut.ends_with(super::super::TRUNCATED_MARK));
        for (outcome, text) in [
            (
                WebhookOutcome::Status(502),
                "Error: the OA service answered 502.",
            ),
            (
                WebhookOutcome::Status(302),
                "Error: the OA service answered 302.",
            ),
            (
                WebhookOutcome::TimedOut,
                "Error: the OA service did not answer in time.",
            ),
            (
                WebhookOutcome::TooLarge,
                "Error: the OA service answered more than the worker reads.",
            ),
            (
                WebhookOutcome::Network,
                "Error: the OA service could not be reached.",
            ),
        ] {
            assert_eq!(webhook_result_content(&outcome, 8192), text);
            assert!(!outcome.answered());
        }
        assert_eq!(
            log_line("leave_balance", &WebhookOutcome::TimedOut, 12, "req_1"),
            "oachat: webhook tool=leave_balance status=timeout duration_ms=12 request_id=req_1"
        );
    }
}
