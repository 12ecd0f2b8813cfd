//! The admin API (`Authorization: Bearer <OACHAT_ADMIN_TOKEN>`): virtual keys, per-user tier
//! overrides, usage reports, key health, the routing explainer and recent ledger rows.
//! docs/API.md documents every endpoint.

use oachat_core::error::ProxyError;
use oachat_core::identity::{virtual_key_hash, virtual_key_id, VIRTUAL_KEY_PREFIX};
use oachat_core::jwt::constant_time_eq;
use oachat_core::routing::RouteRequest;
use oachat_core::usage::{row, to_csv, UsageQuery, UsageRow};
use oachat_core::user_call::VirtualKeyRecord;
use serde::Deserialize;
use serde_json::{json, Value};
use wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, Request, Response, ResponseBuilder};

use crate::error::HandlerError;
use crate::respond::{json_response, Cors};
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::user_client::UserClient;
use crate::{health, ledger_d1, random};

const VKEY_TABLE: &str = "CREATE TABLE IF NOT EXISTS virtual_keys (
    id TEXT PRIMARY KEY, hash TEXT NOT NULL, name TEXT NOT NULL, tier TEXT,
    created_ms INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)";

pub async fn handle(
    mut req: Request,
    env: &Env,
    runtime: &Runtime,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    authorize(&req, runtime)?;
    // Ids arrive percent-encoded (`u:%E5%BC%A0%E4%B8%89` is user 张三): decoded once, here.
    let path = req.path();
    let decoded = oachat_core::path::segments(path.trim_start_matches("/admin/"))?;
    let segments: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let method = req.method();
    let result = match (method, segments.as_slice()) {
        (Method::Post, ["keys"]) => create_key(&mut req, env, runtime).await,
        (Method::Get, ["keys"]) => list_keys(env).await,
        (Method::Delete, ["keys", id]) => revoke_key(env, id).await,
        (Method::Get, ["keys", "health"]) => key_health(env).await,
        (Method::Put, ["users", user, "tier"]) => set_tier(&mut req, env, runtime, user).await,
        (Method::Get, ["users", user, "usage"]) => {
            let usage = UserClient::new(env, user).usage().await?;
            Ok(serde_json::to_value(usage)?)
        }
        (Method::Get, ["usage"]) => return usage(&req, env, cors).await,
        (Method::Get, ["ledger"]) => recent_ledger(&req, env).await,
        (Method::Get, ["route"]) => Ok(explain_route(&req, runtime)?),
        _ => return Err(ProxyError::NotFound.into()),
    }?;
    Ok(json_response(200, &result, cors)?)
}

fn authorize(req: &Request, runtime: &Runtime) -> Result<(), ProxyError> {
    let Some(expected) = &runtime.admin_token else {
        // No admin token configured: the admin API does not exist.
        return Err(ProxyError::NotFound);
    };
    let header = req
        .headers()
        .get("authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let given = header.strip_prefix("Bearer ").unwrap_or_default().trim();
    if given.is_empty() {
        return Err(ProxyError::MissingCredential);
    }
    if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        return Err(ProxyError::InvalidCredential);
    }
    Ok(())
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
    let db = env.d1(ledger_d1::BINDING)?;
    db.prepare(VKEY_TABLE).run().await?;
    db.prepare(
        "INSERT INTO virtual_keys (id, hash, name, tier, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(&[
        record.id.as_str().into(),
        hash.as_str().into(),
        record.name.as_str().into(),
        record
            .tier
            .as_deref()
            .map_or(JsValue::NULL, JsValue::from_str),
        JsValue::from_f64(record.created_ms as f64),
    ])?
    .run()
    .await?;
    // The only time the key is ever shown.
    Ok(
        json!({ "id": record.id, "key": key, "name": record.name, "tier": record.tier, "created_ms": record.created_ms }),
    )
}

#[derive(Deserialize)]
struct KeyRow {
    id: String,
    hash: String,
    name: String,
    tier: Option<String>,
    created_ms: f64,
    revoked: f64,
}

async fn list_keys(env: &Env) -> Result<Value, HandlerError> {
    let db = env.d1(ledger_d1::BINDING)?;
    db.prepare(VKEY_TABLE).run().await?;
    let rows: Vec<KeyRow> = db
        .prepare("SELECT id, hash, name, tier, created_ms, revoked FROM virtual_keys ORDER BY created_ms")
        .all()
        .await
        ?
        .results()
        ?;
    let keys: Vec<Value> = rows
        .into_iter()
        .map(|row| json!({"id": row.id, "name": row.name, "tier": row.tier, "created_ms": row.created_ms as u64, "revoked": row.revoked != 0.0}))
        .collect();
    Ok(json!({ "keys": keys }))
}

async fn revoke_key(env: &Env, id: &str) -> Result<Value, HandlerError> {
    let db = env.d1(ledger_d1::BINDING)?;
    db.prepare(VKEY_TABLE).run().await?;
    let row: Option<KeyRow> = db
        .prepare("SELECT id, hash, name, tier, created_ms, revoked FROM virtual_keys WHERE id = ?1")
        .bind(&[id.into()])?
        .first(None)
        .await?;
    let row = row.ok_or(ProxyError::NotFound)?;
    let record = VirtualKeyRecord {
        id: row.id.clone(),
        name: row.name,
        tier: row.tier,
        created_ms: row.created_ms as u64,
        revoked: true,
    };
    // The record in the key's own object is what authentication reads: revoke there first.
    let object = format!("vkey:{}", row.hash);
    UserClient::new(env, &object)
        .set_virtual_key(record)
        .await?;
    db.prepare("UPDATE virtual_keys SET revoked = 1 WHERE id = ?1")
        .bind(&[id.into()])?
        .run()
        .await?;
    Ok(json!({ "id": row.id, "revoked": true }))
}

async fn key_health(env: &Env) -> Result<Value, HandlerError> {
    let snapshots = health::exchange(env, &[]).await?;
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

#[derive(Deserialize)]
struct AggregateRow {
    key: Option<String>,
    requests: f64,
    prompt_tokens: Option<f64>,
    completion_tokens: Option<f64>,
    cost_micro_usd: Option<f64>,
}

async fn usage(req: &Request, env: &Env, cors: &Cors) -> Result<Response, HandlerError> {
    let url = req.url()?;
    let query = UsageQuery::parse(
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned())),
    )?;
    ledger_d1::ensure_schema(env).await?;
    let (sql, values) = query.sql();
    let bound: Vec<JsValue> = values.iter().map(|v| JsValue::from_str(v)).collect();
    let db = env.d1(ledger_d1::BINDING)?;
    let rows: Vec<AggregateRow> = db.prepare(sql).bind(&bound)?.all().await?.results()?;
    let number = |n: Option<f64>| n.unwrap_or(0.0) as u64;
    let rows: Vec<UsageRow> = rows
        .into_iter()
        .map(|r| {
            row(
                r.key.unwrap_or_default(),
                r.requests as u64,
                number(r.prompt_tokens),
                number(r.completion_tokens),
                number(r.cost_micro_usd),
            )
        })
        .collect();
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

async fn recent_ledger(req: &Request, env: &Env) -> Result<Value, HandlerError> {
    let url = req.url()?;
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let limit = param("limit")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(50)
        .min(1000);
    // Paging through a large ledger (the soak reconciles every row): bounded like `limit`.
    let offset = param("offset")
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0)
        .min(10_000_000);
    let user = param("user").filter(|user| !user.is_empty() && user.len() <= 256);
    ledger_d1::ensure_schema(env).await?;
    let db = env.d1(ledger_d1::BINDING)?;
    let limit = JsValue::from_f64(f64::from(limit));
    let offset = JsValue::from_f64(f64::from(offset));
    let statement = match &user {
        Some(user) => db
            .prepare(
                "SELECT * FROM ledger WHERE user = ?3 ORDER BY ts_ms DESC, id LIMIT ?1 OFFSET ?2",
            )
            .bind(&[limit, offset, user.as_str().into()]),
        None => db
            .prepare("SELECT * FROM ledger ORDER BY ts_ms DESC, id LIMIT ?1 OFFSET ?2")
            .bind(&[limit, offset]),
    };
    let rows: Vec<Value> = statement?.all().await?.results()?;
    Ok(json!({ "rows": rows }))
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
