//! The demo OA page and its dev-only token endpoint, served when `OACHAT_DEMO=1`
//! (`make dev` sets it; deployments leave it off).

use oachat_core::error::ProxyError;
use oachat_core::jwt::sign_hs256;
use serde_json::json;
use worker::{Headers, Response, ResponseBuilder};

use crate::error::internal;
use crate::runtime::Runtime;
use crate::time::now_ms;

/// The demo pages: one per way of embedding the widget, plus the hostile-CSS and
/// strict-CSP pages the end-to-end tests use.
const PAGES: &[(&str, &str)] = &[
    ("", include_str!("../../examples/oa-page/index.html")),
    ("config", include_str!("../../examples/oa-page/config.html")),
    (
        "chatsdk",
        include_str!("../../examples/oa-page/chatsdk.html"),
    ),
    (
        "hostile",
        include_str!("../../examples/oa-page/hostile.html"),
    ),
    ("csp", include_str!("../../examples/oa-page/csp.html")),
];

/// A strict policy: the widget must work with only 'self' and 'wasm-unsafe-eval'.
const STRICT_CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; \
style-src 'self'; connect-src 'self'; img-src 'self' data:";

/// How long a demo token lives: short, so the widget's silent refresh gets exercised.
const DEMO_TOKEN_TTL_S: u64 = 15 * 60;

/// `/demo` and `/demo/<name>`.
pub fn page(path: &str) -> Result<Response, ProxyError> {
    let name = path.trim_start_matches("/demo").trim_matches('/');
    let (_, html) = PAGES
        .iter()
        .find(|(page, _)| *page == name)
        .ok_or(ProxyError::NotFound)?;
    let headers = Headers::new();
    let _ = headers.set("content-type", "text/html; charset=utf-8");
    let _ = headers.set("cache-control", "no-store");
    if name == "csp" {
        let _ = headers.set("content-security-policy", STRICT_CSP);
    }
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(html.as_bytes().to_vec()))
}

/// What an OA backend does on login: mint a short-lived user token. Here the "logged-in
/// user" is a fixed demo employee.
pub fn token(runtime: &Runtime) -> Result<Response, ProxyError> {
    let secret = runtime
        .signing_secret
        .as_deref()
        .ok_or(ProxyError::BadConfig {
            message: "OACHAT_SIGNING_SECRET is not set".into(),
        })?;
    let now = now_ms() / 1000;
    let token = sign_hs256(
        &json!({"sub": "demo-employee", "name": "演示员工 Demo", "tier": runtime.config.default_tier, "iat": now, "exp": now + DEMO_TOKEN_TTL_S}),
        secret,
    );
    Response::from_json(&json!({"token": token, "expires_in": DEMO_TOKEN_TTL_S})).map_err(internal)
}
