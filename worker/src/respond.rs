//! The one place where a [`ProxyError`] becomes an HTTP response, plus small response helpers.

use oachat_core::error::ProxyError;
use worker::{Headers, Response, ResponseBuilder};

/// OpenAI-shaped error JSON with the status, `Retry-After` and CORS headers the error calls for.
pub fn error_response(error: &ProxyError, cors: &Cors) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    if let Some(seconds) = error.retry_after_s() {
        headers.set("retry-after", &seconds.to_string())?;
    }
    if let ProxyError::MethodNotAllowed { allowed } = error {
        headers.set("allow", allowed)?;
    }
    cors.apply(&headers)?;
    ResponseBuilder::new()
        .with_status(error.status())
        .with_headers(headers)
        .from_json(&error.to_json())
}

/// A JSON response with CORS applied.
pub fn json_response(
    status: u16,
    value: &serde_json::Value,
    cors: &Cors,
) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    headers.set("cache-control", "no-store")?;
    cors.apply(&headers)?;
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .from_json(value)
}

/// CORS headers for one request: the origin is echoed only when it is allowed.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allowed_origin: Option<String>,
}

impl Cors {
    pub fn apply(&self, headers: &Headers) -> worker::Result<()> {
        if let Some(origin) = &self.allowed_origin {
            headers.set("access-control-allow-origin", origin)?;
            headers.set("vary", "Origin")?;
            // The widget reads these to show where the answer came from and when to retry.
            headers.set(
                "access-control-expose-headers",
                "x-oachat-route, x-oachat-model, x-oachat-cache, x-oachat-conversation, x-request-id, retry-after",
            )?;
        }
        Ok(())
    }
}
