//! `[otel]`: where chat requests' spans go (OTLP/HTTP with JSON encoding), with which headers,
//! and whether prompts and answers go with them. Its own file (type, raw shape, checks) so the
//! rest of the config only gains one field. Header values are credentials (Langfuse's
//! `Authorization: Basic ...`): they never leave this value, which shows itself as the
//! endpoint's host and each header as `set`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use super::alerts::url_host;
use crate::tools::check_webhook_url;

/// The signal path OTLP/HTTP appends to a base endpoint for traces.
pub const TRACES_PATH: &str = "/v1/traces";

/// `[otel]` as the worker uses it. Without an `endpoint`, nothing is recorded or sent.
#[derive(Clone, PartialEq)]
pub struct OtelConfig {
    /// The collector's base URL (`https://...`, or `http://` to this machine), or its full
    /// traces URL (ending in `/v1/traces`).
    pub endpoint: Option<String>,
    /// Sent with every export, e.g. `Authorization`. Values are secrets.
    pub headers: BTreeMap<String, String>,
    /// The name of a secret holding more headers as `name=value` pairs (comma- or
    /// newline-separated), so credentials need not sit in `OACHAT_CONFIG`.
    pub headers_secret: Option<String>,
    /// The resource's `service.name`.
    pub service_name: String,
    /// Record prompts and answers (`gen_ai.input.messages`, `gen_ai.output.messages`),
    /// bounded in size. Off by default: they carry what users typed.
    pub capture_content: bool,
}

impl Default for OtelConfig {
    fn default() -> OtelConfig {
        OtelConfig {
            endpoint: None,
            headers: BTreeMap::new(),
            headers_secret: None,
            service_name: "oachat".to_string(),
            capture_content: false,
        }
    }
}

impl OtelConfig {
    /// The most headers `[otel]` may set (the table and the secret together).
    pub const MAX_HEADERS: usize = 16;
    /// A header value's most bytes: a Basic or Bearer credential is far below this.
    pub const MAX_HEADER_VALUE_BYTES: usize = 4096;
    pub const MAX_SERVICE_NAME_CHARS: usize = 128;

    /// Whether spans are recorded at all.
    pub fn enabled(&self) -> bool {
        self.endpoint.is_some()
    }

    /// Where spans are POSTed: the endpoint with `/v1/traces` appended, unless it already
    /// ends with it (OTLP's base-endpoint rule; Langfuse documents its base URL,
    /// `.../api/public/otel`).
    pub fn traces_url(&self) -> Option<String> {
        let endpoint = self.endpoint.as_deref()?.trim();
        let base = endpoint.trim_end_matches('/');
        if base.ends_with(TRACES_PATH) {
            Some(base.to_string())
        } else {
            Some(format!("{base}{TRACES_PATH}"))
        }
    }

    /// The headers every export carries: the table's, then the secret's (`headers_secret`,
    /// whose value the shell reads; `None` when unset). A named secret that is missing or
    /// malformed refuses the config, like `OACHAT_TOOLS_SECRET` does, rather than exporting
    /// without the credential and failing quietly at the collector.
    pub fn export_headers(
        &self,
        secret: Option<&str>,
    ) -> Result<Vec<(String, String)>, super::ConfigError> {
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        if let Some(name) = &self.headers_secret {
            let Some(text) = secret.filter(|text| !text.trim().is_empty()) else {
                return Err(super::ConfigError::single(
                    "otel.headers_secret",
                    format!("names the secret {name}, which is not set (wrangler secret put {name}, or .dev.vars)"),
                ));
            };
            let more = parse_headers_secret(text).map_err(|message| {
                super::ConfigError::single("otel.headers_secret", format!("{name}: {message}"))
            })?;
            headers.extend(more);
        }
        if headers.len() > Self::MAX_HEADERS {
            return Err(super::ConfigError::single(
                "otel.headers_secret",
                format!("at most {} headers in all", Self::MAX_HEADERS),
            ));
        }
        Ok(headers)
    }

    /// The collector's host, the only part of the endpoint ever shown.
    pub fn endpoint_host(&self) -> Option<String> {
        self.endpoint.as_deref().map(url_host)
    }

    /// Every problem, as (field path, message). Messages never quote a header's value.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        match self.endpoint.as_deref().map(str::trim) {
            Some("") => problems.push((
                "otel.endpoint".into(),
                "must not be empty (leave [otel] out to turn traces off)".into(),
            )),
            Some(endpoint) => {
                if let Err(message) = check_endpoint(endpoint) {
                    problems.push(("otel.endpoint".into(), message));
                }
            }
            None if !self.headers.is_empty() || self.capture_content => problems.push((
                "otel.endpoint".into(),
                "is needed with the other [otel] settings: without it nothing is exported".into(),
            )),
            None => {}
        }
        if self.headers.len() > Self::MAX_HEADERS {
            problems.push((
                "otel.headers".into(),
                format!("at most {} headers", Self::MAX_HEADERS),
            ));
        }
        for (name, value) in &self.headers {
            let path = format!("otel.headers.{}", super::errors::quote_key(name));
            if let Err(message) = check_header(name, value) {
                problems.push((path, message));
            }
        }
        if self
            .headers_secret
            .as_deref()
            .is_some_and(|name| name.trim().is_empty())
        {
            problems.push(("otel.headers_secret".into(), "must name a secret".into()));
        }
        let service = self.service_name.trim();
        if service.is_empty() || service.chars().count() > Self::MAX_SERVICE_NAME_CHARS {
            problems.push((
                "otel.service_name".into(),
                format!("must be 1..={} characters", Self::MAX_SERVICE_NAME_CHARS),
            ));
        }
        problems
    }
}

/// The rule tools' and alerts' webhooks follow (https, or http only to this machine), plus:
/// no credentials in the URL, where a log or an admin answer might show them.
fn check_endpoint(endpoint: &str) -> Result<(), String> {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials: put them in otel.headers".into());
    }
    check_webhook_url(endpoint)
}

/// Header names the exporter sets itself, or that the runtime owns.
const RESERVED_HEADERS: [&str; 5] = [
    "content-type",
    "content-length",
    "content-encoding",
    "host",
    "transfer-encoding",
];

/// A header name is an RFC 9110 token; a value has no control characters (a CR or LF would
/// split the request) and is bounded.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || name.len() > 64 || !name.bytes().all(token) {
        return Err(
            "is not a header name (letters, digits and !#$%&'*+-.^_`|~, at most 64)".into(),
        );
    }
    if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
        return Err("is set by the exporter itself".into());
    }
    if value.len() > OtelConfig::MAX_HEADER_VALUE_BYTES {
        return Err(format!(
            "its value is longer than {} bytes",
            OtelConfig::MAX_HEADER_VALUE_BYTES
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return Err("its value has a control character (a line break?)".into());
    }
    Ok(())
}

/// The headers a `headers_secret` holds: `name=value` pairs separated by commas or line
/// breaks, the value everything after the first `=` (base64 ends in `=`), both trimmed.
/// `Err` names the first pair that is not one, by position, never by content.
pub fn parse_headers_secret(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut headers = Vec::new();
    let pairs = text
        .split([',', '\n'])
        .map(str::trim)
        .filter(|pair| !pair.is_empty());
    for (index, pair) in pairs.enumerate() {
        let Some((name, value)) = pair.split_once('=') else {
            return Err(format!("pair {} is not name=value", index + 1));
        };
        let (name, value) = (name.trim(), value.trim());
        check_header(name, value).map_err(|message| format!("pair {}: {message}", index + 1))?;
        headers.push((name.to_string(), value.to_string()));
    }
    Ok(headers)
}

// Written by hand so that no derive can ever print a header's value.
impl std::fmt::Debug for OtelConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OtelConfig")
            .field("endpoint_host", &self.endpoint_host())
            .field("headers", &self.shown_headers())
            .field("headers_secret", &self.headers_secret)
            .field("service_name", &self.service_name)
            .field("capture_content", &self.capture_content)
            .finish()
    }
}

impl OtelConfig {
    /// Each header's name with `set`: what an echo of the config shows of them.
    fn shown_headers(&self) -> BTreeMap<&str, &'static str> {
        self.headers
            .keys()
            .map(|name| (name.as_str(), "set"))
            .collect()
    }
}

impl Serialize for OtelConfig {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serde_json::json!({
            "endpoint_host": self.endpoint_host(),
            "headers": self.shown_headers(),
            "headers_secret": self.headers_secret,
            "service_name": self.service_name,
            "capture_content": self.capture_content,
        })
        .serialize(serializer)
    }
}

/// `[otel]` as written: every key optional.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OtelPatch {
    endpoint: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    headers_secret: Option<String>,
    service_name: Option<String>,
    capture_content: Option<bool>,
}

impl OtelPatch {
    pub(super) fn apply(self, otel: &mut OtelConfig) {
        if let Some(endpoint) = self.endpoint {
            otel.endpoint = Some(endpoint.trim().to_string());
        }
        if let Some(headers) = self.headers {
            otel.headers = headers;
        }
        if self.headers_secret.is_some() {
            otel.headers_secret = self.headers_secret;
        }
        if let Some(service_name) = self.service_name {
            otel.service_name = service_name.trim().to_string();
        }
        if let Some(capture) = self.capture_content {
            otel.capture_content = capture;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const SECRET: &str = "Basic cGstbGYtMTIzOnNrLWxmLTQ1Ng==";

    #[track_caller]
    fn check_url(endpoint: &str, expected: &str) {
        let otel = OtelConfig {
            endpoint: Some(endpoint.into()),
            ..OtelConfig::default()
        };
        assert_eq!(otel.traces_url().as_deref(), Some(expected));
    }

    #[test]
    fn the_traces_path_is_appended_unless_it_is_there() {
        check_url(
            "https://cloud.langfuse.com/api/public/otel",
            "https://cloud.langfuse.com/api/public/otel/v1/traces",
        );
        check_url(
            "https://cloud.langfuse.com/api/public/otel/",
            "https://cloud.langfuse.com/api/public/otel/v1/traces",
        );
        check_url(
            "http://127.0.0.1:4318/v1/traces",
            "http://127.0.0.1:4318/v1/traces",
        );
        check_url("http://localhost:4318", "http://localhost:4318/v1/traces");
        assert_eq!(OtelConfig::default().traces_url(), None);
        assert!(!OtelConfig::default().enabled());
    }

    #[test]
    fn loading_defaults_and_sets_every_key() {
        let defaults = Config::default().otel;
        assert_eq!(defaults, OtelConfig::default());
        assert_eq!(defaults.service_name, "oachat");
        assert!(!defaults.capture_content);
        let config = Config::load(&format!(
            "[otel]\nendpoint = \"https://cloud.langfuse.com/api/public/otel\"\nservice_name = \"oachat-prod\"\ncapture_content = true\nheaders_secret = \"OTEL_HEADERS\"\n[otel.headers]\nAuthorization = \"{SECRET}\"\n"
        ))
        .unwrap_or_else(|error| panic!("{error}"));
        assert!(config.otel.enabled());
        assert!(config.otel.capture_content);
        assert_eq!(config.otel.service_name, "oachat-prod");
        assert_eq!(config.otel.headers["Authorization"], SECRET);
        assert_eq!(config.otel.headers_secret.as_deref(), Some("OTEL_HEADERS"));
        let error = Config::load("[otel]\nendpont = \"https://x.example\"")
            .unwrap_err()
            .to_string();
        assert!(error.contains("otel.endpont"), "{error}");
    }

    #[test]
    fn header_values_are_shown_as_set_and_never_printed() {
        let config = Config::load(&format!(
            "[otel]\nendpoint = \"https://cloud.langfuse.com/api/public/otel\"\n[otel.headers]\nAuthorization = \"{SECRET}\"\n"
        ))
        .unwrap_or_else(|error| panic!("{error}"));
        let shown = format!(
            "{:?} {:?} {}",
            config.otel,
            config,
            serde_json::to_string(&config).unwrap_or_default()
        );
        assert!(!shown.contains("cGstbGYt"), "{shown}");
        let json = serde_json::to_value(&config.otel).unwrap_or_default();
        assert_eq!(json["headers"]["Authorization"], "set");
        assert_eq!(json["endpoint_host"], "cloud.langfuse.com");
    }

    #[test]
    fn the_endpoint_follows_the_webhook_rule_and_carries_no_credentials() {
        let problems = |endpoint: &str| {
            OtelConfig {
                endpoint: Some(endpoint.into()),
                ..OtelConfig::default()
            }
            .problems()
        };
        assert!(problems("https://otel.example.com").is_empty());
        assert!(problems("http://127.0.0.1:4318").is_empty());
        assert!(problems("http://localhost:4318/v1/traces").is_empty());
        for refused in [
            "http://collector.example.com:4318",
            "ftp://collector.example.com",
            "",
            "https://user:token@collector.example.com",
        ] {
            let found = problems(refused);
            assert_eq!(found.len(), 1, "{refused}: {found:?}");
            assert_eq!(found[0].0, "otel.endpoint");
            assert!(!found[0].1.contains("token"), "{found:?}");
        }
        let headers_alone = OtelConfig {
            headers: BTreeMap::from([("x-a".to_string(), "b".to_string())]),
            ..OtelConfig::default()
        };
        assert_eq!(headers_alone.problems()[0].0, "otel.endpoint");
    }

    #[test]
    fn headers_are_bounded_and_checked_without_quoting_values() {
        let mut headers: BTreeMap<String, String> = (0..17)
            .map(|index| (format!("x-h{index}"), "v".to_string()))
            .collect();
        headers.insert("bad name".into(), "secret-value-1".into());
        headers.insert("x-split".into(), "secret-value-2\r\nx-evil: 1".into());
        headers.insert("Content-Type".into(), "text/plain".into());
        headers.insert("x-long".into(), "a".repeat(5000));
        let otel = OtelConfig {
            endpoint: Some("https://otel.example.com".into()),
            headers,
            service_name: " ".into(),
            headers_secret: Some(String::new()),
            ..OtelConfig::default()
        };
        let problems = otel.problems();
        let paths: Vec<&str> = problems.iter().map(|(path, _)| path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "otel.headers",
                "otel.headers.Content-Type",
                "otel.headers.\"bad name\"",
                "otel.headers.x-long",
                "otel.headers.x-split",
                "otel.headers_secret",
                "otel.service_name",
            ]
        );
        assert!(problems
            .iter()
            .all(|(_, message)| !message.contains("secret-value")));
    }

    #[test]
    fn a_headers_secret_reads_like_otel_exporter_otlp_headers() {
        assert_eq!(
            parse_headers_secret(&format!(
                "Authorization={SECRET}, x-langfuse-ingestion-version = 4\n"
            )),
            Ok(vec![
                ("Authorization".to_string(), SECRET.to_string()),
                ("x-langfuse-ingestion-version".to_string(), "4".to_string()),
            ])
        );
        assert_eq!(parse_headers_secret(""), Ok(Vec::new()));
        let refused = parse_headers_secret("x-ok=1,just-a-token-abc").unwrap_err();
        assert_eq!(refused, "pair 2 is not name=value");
        assert!(parse_headers_secret("bad name=1").is_err());
    }

    #[test]
    fn a_named_headers_secret_must_be_there() {
        let otel = OtelConfig {
            endpoint: Some("https://otel.example.com".into()),
            headers: BTreeMap::from([("x-team".to_string(), "oa".to_string())]),
            headers_secret: Some("OTEL_HEADERS".into()),
            ..OtelConfig::default()
        };
        let headers = otel
            .export_headers(Some(&format!("Authorization={SECRET}")))
            .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(headers.len(), 2);
        assert_eq!(
            headers[1],
            ("Authorization".to_string(), SECRET.to_string())
        );
        for missing in [None, Some(""), Some("  ")] {
            let error = otel.export_headers(missing).unwrap_err().to_string();
            assert!(error.contains("OTEL_HEADERS"), "{error}");
        }
        let error = otel
            .export_headers(Some("Authorization Basic abc"))
            .unwrap_err()
            .to_string();
        assert!(!error.contains("abc"), "{error}");
        let plain = OtelConfig::default();
        assert_eq!(plain.export_headers(None), Ok(Vec::new()));
    }
}
