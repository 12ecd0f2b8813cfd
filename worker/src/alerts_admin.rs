//! `GET /admin/alerts`: the alerts' delivery log (newest first) and what `[alerts]` is set
//! to, webhooks shown as format, host and whether a secret is set, never their URL or secret.

use oachat_core::alerts_call::LogQuery;
use oachat_core::error::ProxyError;
use serde_json::json;
use worker::{Env, Method, Request, Response};

use crate::durable::alerts_do::{BINDING, OBJECT_NAME};
use crate::error::HandlerError;
use crate::respond::{json_response, Cors};
use crate::runtime::Runtime;

/// Entries returned unless `?limit=` asks for fewer (1..=200).
const DEFAULT_LIMIT: u32 = 50;

pub async fn handle(
    req: Request,
    env: &Env,
    runtime: &Runtime,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    crate::admin_session::authorize(&req, runtime)?;
    if req.method() != Method::Get {
        return Err(ProxyError::MethodNotAllowed { allowed: "GET" }.into());
    }
    let limit = req
        .url()?
        .query_pairs()
        .find(|(name, _)| name == "limit")
        .and_then(|(_, value)| value.parse::<u32>().ok())
        .unwrap_or(DEFAULT_LIMIT)
        .clamp(1, oachat_core::alerts::delivery::LOG_KEEP as u32);
    let stub = env.durable_object(BINDING)?.get_by_name(OBJECT_NAME)?;
    let log = crate::durable::client::ask(&stub, LogQuery { limit }).await?;
    Ok(json_response(
        200,
        &json!({
            "config": runtime.config.alerts,
            "pending": log.pending,
            "repeated": log.repeated,
            "deliveries": log.entries,
        }),
        cors,
    )?)
}
