//! The admin API (`Authorization: Bearer <OACHAT_ADMIN_TOKEN>`, or the console's session cookie
//! with its CSRF header, `admin_session.rs`) and the console's files (`console.rs`): virtual keys, per-user tier
//! overrides, usage reports (JSON, CSV, XLSX), key health and the routing explainer; the
//! Users, Ledger, Quality and Config pages' endpoints are `admin_console.rs`.
//! docs/API.md documents every endpoint.

use oachat_core::error::ProxyError;
use oachat_core::identity::{virtual_key_hash, virtual_key_id, VIRTUAL_KEY_PREFIX};
use oachat_core::ledger_store::{KeyListing, LedgerStore};
use oachat_core::routing::RouteRequest;
use oachat_core::usage::{to_csv, UsageQuery};
use oachat_core::user_call::VirtualKeyRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Headers, Method, Request, Response, ResponseBuilder};

use crate::error::HandlerError;
use crate::ledger_d1::D1Ledger;
use crate::respond::{json_response, Cors};
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::user_client::UserClient;
use crate::{admin_console, admin_session, console, health, random};

pub async fn handle(
    mut req: Request,
    env: &Env,
    runtime: &Runtime,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    let path = req.path();
    let method = req.method();
    if runtime.admin_token.is_none() {
        // No admin token configured: neither the admin API nor the console exists.
        return Err(ProxyError::NotFound.into());
    }
    // The console's page and files need no sign-in: they hold no data.
    if method == Method::Get {
        if let Some(response) = console::file(&path) {
            return Ok(response);
        }
    }
    match (&method, path.as_str()) {
        (Method::Post, "/admin/session") => {
            return admin_session::sign_in(&mut req, env, runtime).await
        }
        (Method::Get, "/admin/session") => return admin_session::current(&req, runtime),
        (Method::Post, "/admin/session/logout") => return admin_session::logout(&req, runtime),
        _ => {}
    }
    admin_session::authorize(&req, runtime)?;
    // Ids arrive percent-encoded (`u:%E5%BC%A0%E4%B8%89` is user 张三): decoded once, here.
    let decoded = oachat_core::path::segments(path.trim_start_matches("/admin/"))?;
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let result = match (method, segments.as_slice()) {
        (Method::Post, ["keys"]) => create_key(&mut req, env, runtime).await,
        (Method::Get, ["keys"]) => list_keys(env).await,
        (Method::Delete, ["keys", id]) => revoke_key(env, id).await,
        (Method::Get, ["keys", "health"]) => key_health(env).await,
        (Method::Get, ["keys", "history"]) => key_history(&req, env).await,
        (Method::Put, ["users", user, "tier"]) => set_tier(&mut req, env, runtime, user).await,
        (Method::Put, ["users", user, "blocked"]) => {
            admin_console::set_blocked(&mut req, env, user).await
        }
        (Method::Get, ["users"]) => admin_console::search_users(&req, env, runtime).await,
        // The console's user page: usage, what is left, the tier override and the block.
        (Method::Get, ["users", user]) => admin_console::user_detail(env, user).await,
        (Method::Get, ["users", user, "usage"]) => {
            let usage = UserClient::new(env, user).usage().await?;
            Ok(serde_json::to_value(usage)?)
        }
        (Method::Get, ["usage"]) => return usage(&req, env, cors).await,
        (Method::Get, ["overview"]) => overview(env, runtime).await,
        (Method::Get, ["ledger"]) => admin_console::ledger_page(&req, env).await,
        (Method::Get, ["quality"]) => admin_console::quality(&req, env).await,
        (Method::Get, ["config"]) => Ok(admin_console::config(env, runtime)),
        (Method::Get, ["route"]) => Ok(explain_route(&req, runtime)?),
        _ => return Err(ProxyError::NotFound.into()),
    }?;
    Ok(json_response(200, &result, cors)?)
}

/// `GET /admin/overview`: today and this month from the rollups, with the deployment's caps
/// and what has been leased of them.
async fn overview(env: &Env, runtime: &Runtime) -> Result<Value, HandlerError> {
    let now = now_ms();
    let config = &runtime.config;
    let window = oachat_core::overview::Window::at(&config.zone(), now);
    let mut answer = D1Ledger::open(env).await?.overview(&window).await?;
    let stub = env
        .durable_object(crate::durable::budget_do::BINDING)?
        .get_by_name(crate::durable::budget_do::OBJECT_NAME)?;
    let call = oachat_core::deployment_call::CapUsageCall {
        now_ms: now,
        department: None,
    };
    let used = crate::durable::client::ask(&stub, call).await?;
    let usd = |micro: u64| micro as f64 / 1e6;
    answer["budget"] = json!({
        "daily_usd": config.deployment_daily_micro_usd().map(usd),
        "day_granted_usd": usd(used.day_granted_micro_usd),
        "monthly_usd": config.deployment_monthly_micro_usd().map(usd),
        "month_granted_usd": usd(used.month_granted_micro_usd),
    });
    Ok(answer)
}

#[derive(Deserialize)]
struct NewKey {
    name: String,
    tier: Option<String>,
}

async fn create_key(
    req: &mut Request,
    env: &Env,
    runtime: &Runtime,
) -> Result<Value, HandlerError> {
    let new: NewKey =
        crate::body::small_json(req, "name", "{\"name\": \"...\", \"tier\": \"...\"}").await?;
    if new.name.trim().is_empty() || new.name.len() > 100 {
        return Err(ProxyError::invalid("name", "`name` must be 1 to 100 characters.").into());
    }
    if let Some(tier) = &new.tier {
        if !runtime.config.tiers.contains_key(tier) {
            return Err(ProxyError::invalid("tier", format!("Unknown tier `{tier}`.")).into());
        }
    }
    let key = format!("{VIRTUAL_KEY_PREFIX}{}", random::hex(24));
    let hash = virtual_key_hash(&key);
    let record = VirtualKeyRecord {
        id: virtual_key_id(&hash),
        name: new.name.trim().to_string(),
        tier: new.tier,
        created_ms: now_ms(),
        revoked: false,
    };
    let object = format!("vkey:{hash}");
    let record = UserClient::new(env, &object)
        .set_virtual_key(record)
        .await?;
    let listing = KeyListing {
        id: record.id.clone(),
        hash,
        name: record.name.clone(),
        tier: record.tier.clone(),
        created_ms: record.created_ms,
        revoked: false,
    };
    D1Ledger::open(env).await?.add_key(&listing).await?;
    // The only time the key is ever shown.
    Ok(
        json!({ "id": record.id, "key": key, "name": record.name, "tier": record.tier, "created_ms": record.created_ms }),
    )
}

async fn list_keys(env: &Env) -> Result<Value, HandlerError> {
    let keys: Vec<Value> = D1Ledger::open(env)
        .await?
        .keys()
        .await?
        .into_iter()
        .map(|key| json!({"id": key.id, "name": key.name, "tier": key.tier, "created_ms": key.created_ms, "revoked": key.revoked}))
        .collect();
    Ok(json!({ "keys": keys }))
}

async fn revoke_key(env: &Env, id: &str) -> Result<Value, HandlerError> {
    let ledger = D1Ledger::open(env).await?;
    let key = ledger.key(id).await?.ok_or(ProxyError::NotFound)?;
    let record = VirtualKeyRecord {
        id: key.id.clone(),
        name: key.name,
        tier: key.tier,
        created_ms: key.created_ms,
        revoked: true,
    };
    // The record in the key's own object is what authentication reads: revoke there first.
    let object = format!("vkey:{}", key.hash);
    UserClient::new(env, &object)
        .set_virtual_key(record)
        .await?;
    ledger.revoke_key(id).await?;
    Ok(json!({ "id": key.id, "revoked": true }))
}

/// `GET /admin/keys/history?days=7`: every key's state changes over the last `days` (1-30),
/// oldest first, and the current states to draw them up to now.
async fn key_history(req: &Request, env: &Env) -> Result<Value, HandlerError> {
    let mut days = 7u64;
    for (name, value) in req.url()?.query_pairs() {
        match name.as_ref() {
            "days" => {
                days = value
                    .parse::<u64>()
                    .ok()
                    .filter(|d| (1..=30).contains(d))
                    .ok_or_else(|| {
                        ProxyError::invalid("days", "`days` must be a whole number from 1 to 30.")
                    })?
            }
            other => {
                return Err(
                    ProxyError::invalid(other, format!("Unknown parameter `{other}`.")).into(),
                )
            }
        }
    }
    let now = now_ms();
    let since_ms = now.saturating_sub(days * 86_400_000);
    let stub = env
        .durable_object(health::BINDING)?
        .get_by_name(health::OBJECT_NAME)?;
    let query = oachat_core::key_history::HistoryQuery {
        since_ms,
        limit: oachat_core::key_history::MAX_ANSWER,
    };
    let history = crate::durable::client::ask(&stub, query).await?;
    let snapshots = health::exchange(env, Vec::new()).await?;
    let current: Vec<Value> = snapshots
        .upstreams
        .iter()
        .flat_map(|(upstream, snapshot)| {
            snapshot.keys.iter().map(move |(id, state)| {
                json!({
                    "upstream": upstream,
                    "key_id": id.as_str(),
                    "state": oachat_core::key_history::state_name(state, now),
                })
            })
        })
        .collect();
    Ok(
        json!({ "since_ms": since_ms, "now_ms": now, "changes": history.changes, "current": current }),
    )
}

async fn key_health(env: &Env) -> Result<Value, HandlerError> {
    let snapshots = health::exchange(env, Vec::new()).await?;
    Ok(serde_json::to_value(&snapshots)?)
}

#[derive(Deserialize)]
struct TierChange {
    tier: Option<String>,
}

async fn set_tier(
    req: &mut Request,
    env: &Env,
    runtime: &Runtime,
    user: &str,
) -> Result<Value, HandlerError> {
    let change: TierChange =
        crate::body::small_json(req, "tier", "{\"tier\": \"name\"} or {\"tier\": null}").await?;
    if let Some(tier) = &change.tier {
        if !runtime.config.tiers.contains_key(tier) {
            return Err(ProxyError::invalid("tier", format!("Unknown tier `{tier}`.")).into());
        }
    }
    let tier = UserClient::new(env, user).set_tier(change.tier).await?;
    Ok(json!({ "user": user, "tier": tier }))
}

async fn usage(req: &Request, env: &Env, cors: &Cors) -> Result<Response, HandlerError> {
    let url = req.url()?;
    // `format=xlsx` is answered here; the report's own parser knows json and csv.
    let xlsx = url
        .query_pairs()
        .any(|(k, v)| k == "format" && v.trim() == "xlsx");
    let query = UsageQuery::parse(
        url.query_pairs()
            .filter(|(k, _)| !(xlsx && k == "format"))
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    )?;
    let rows = D1Ledger::open(env).await?.usage(&query).await?;
    if xlsx {
        let headers = Headers::new();
        let _ = headers.set("content-type", oachat_core::xlsx::CONTENT_TYPE);
        let _ = headers.set(
            "content-disposition",
            "attachment; filename=\"oachat-usage.xlsx\"",
        );
        let _ = headers.set("cache-control", "no-store");
        let _ = cors.apply(&headers);
        return Ok(ResponseBuilder::new()
            .with_status(200)
            .with_headers(headers)
            .fixed(oachat_core::xlsx::usage_workbook(query.group, &rows)));
    }
    if query.csv {
        let headers = Headers::new();
        let _ = headers.set("content-type", "text/csv; charset=utf-8");
        let _ = headers.set(
            "content-disposition",
            "attachment; filename=\"oachat-usage.csv\"",
        );
        let _ = cors.apply(&headers);
        return Ok(ResponseBuilder::new()
            .with_status(200)
            .with_headers(headers)
            .fixed(to_csv(query.group, &rows).into_bytes()));
    }
    Ok(json_response(
        200,
        &json!({ "group": query.group.column(), "data": rows }),
        cors,
    )?)
}

/// `GET /admin/route?text=...&scenario=...&tier=...`: the decision for a text, no upstream call.
fn explain_route(req: &Request, runtime: &Runtime) -> Result<Value, HandlerError> {
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let text = param("text").ok_or_else(|| ProxyError::invalid("text", "`text` is required."))?;
    let scenario = param("scenario");
    let tier = param("tier").and_then(|name| runtime.config.tiers.get(&name).cloned());
    let decision = runtime.router.decide(&RouteRequest {
        text: &text,
        scenario: scenario.as_deref(),
        tier: tier.as_ref(),
        explain: true,
    });
    Ok(json!({
        "route": decision.route,
        "model": decision.model,
        "reason": decision.reason,
        "reason_label": decision.reason.label(),
        "scores": decision.scores,
        "downgraded": decision.downgraded,
    }))
}
