//! What `/_mock/last-request` shows: the last chat request as received, so
//! worker tests can assert what oachat sent upstream — the body (the plain
//! endpoint, unchanged for older tests) or, with `?detail=1`, also the
//! method, path, query, dialect and every header. Header values are kept
//! as sent, keys included: the mock is a fake and its keys are `sk-mock-*`.

use std::collections::BTreeMap;

use hyper::header::HeaderMap;
use serde::Serialize;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LastRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub provider: &'static str,
    /// Lower-case header names; a repeated header's values joined by `, `.
    pub headers: BTreeMap<String, String>,
    /// The body as JSON, `null` if it was not JSON.
    pub body: Value,
}

impl LastRequest {
    pub fn new(
        method: &str,
        path: &str,
        query: Option<&str>,
        provider: &'static str,
        headers: &HeaderMap,
    ) -> LastRequest {
        let mut named: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in headers {
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            named
                .entry(name.as_str().to_owned())
                .and_modify(|joined| {
                    joined.push_str(", ");
                    joined.push_str(&value);
                })
                .or_insert(value);
        }
        LastRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            provider,
            headers: named,
            body: Value::Null,
        }
    }
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[test]
    fn headers_are_kept_by_lower_case_name() {
        let mut headers = HeaderMap::new();
        headers.insert("API-Key", HeaderValue::from_static("sk-mock-az"));
        headers.append("x-a", HeaderValue::from_static("1"));
        headers.append("x-a", HeaderValue::from_static("2"));
        let record = LastRequest::new(
            "POST",
            "/openai/deployments/d/chat/completions",
            Some("api-version=1"),
            "azure",
            &headers,
        );
        assert_eq!(record.headers["api-key"], "sk-mock-az");
        assert_eq!(record.headers["x-a"], "1, 2");
        assert!(!record.headers.contains_key("authorization"));
        let value = serde_json::to_value(&record).unwrap_or_default();
        assert_eq!(value["query"], "api-version=1");
        assert_eq!(value["provider"], "azure");
        assert!(value["body"].is_null());
    }
}
