//! The admin API behind the console's Users, Ledger, Quality and Config pages (docs/API.md):
//! user search, a user's detail and block, ledger pages with filters, ratings by route and
//! model with the rated answers' turns, and the effective config without its secrets.
//! `admin.rs` routes here after `admin_session::authorize`; the parsing, SQL text and
//! redaction are the core's (`admin_query`, `config_view`).

use std::collections::BTreeMap;

use futures_util::future::join_all;
use oachat_core::admin_query::{LedgerPage, QualityQuery, Remaining, UserSearch};
use oachat_core::calendar::{day_label, month_label};
use oachat_core::config_view::{self, SecretsPresent};
use oachat_core::error::ProxyError;
use oachat_core::user_call::{Block, FoundAnswer, BLOCK_REASON_CHARS};
use serde::Deserialize;
use serde_json::{json, Value};
use worker::{Env, Request};

use crate::console_d1;
use crate::error::HandlerError;
use crate::runtime::{text_binding, Runtime};
use crate::time::now_ms;
use crate::user_client::UserClient;

fn query_pairs(req: &Request) -> Result<Vec<(String, String)>, HandlerError> {
    Ok(req
        .url()?
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect())
}

/// `GET /admin/users/<user>`: the tier override, the block, today's and this month's budget
/// use and what is left of it, in one answer for the console's user page.
pub async fn user_detail(env: &Env, user: &str) -> Result<Value, HandlerError> {
    let client = UserClient::new(env, user);
    let usage = client.usage().await?;
    let tier = client.tier().await?;
    let block = client.block().await?;
    Ok(json!({
        "user": user,
        "tier_override": tier,
        "blocked": block,
        "usage": usage,
        "remaining": usage.as_ref().map(Remaining::of),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BlockChange {
    blocked: bool,
    #[serde(default)]
    reason: Option<String>,
}

/// `PUT /admin/users/<user>/blocked` `{"blocked": true, "reason": "..."}` (or `false` to lift
/// it): kept in the user's object, which refuses the user's requests at admission from then on.
pub async fn set_blocked(req: &mut Request, env: &Env, user: &str) -> Result<Value, HandlerError> {
    let change: BlockChange = crate::body::small_json(
        req,
        "blocked",
        "{\"blocked\": true, \"reason\": \"...\"} or {\"blocked\": false}",
    )
    .await?;
    let reason = change.reason.unwrap_or_default().trim().to_string();
    if reason.chars().count() > BLOCK_REASON_CHARS {
        return Err(ProxyError::invalid(
            "reason",
            format!("`reason` must be at most {BLOCK_REASON_CHARS} characters."),
        )
        .into());
    }
    let block = change.blocked.then(|| Block {
        reason,
        since_ms: now_ms(),
    });
    let held = UserClient::new(env, user).set_block(block).await?;
    Ok(json!({ "user": user, "blocked": held.is_some(), "block": held }))
}

#[derive(Deserialize)]
struct SearchRow {
    user: String,
    requests: f64,
    last_ms: Option<f64>,
    today_micro_usd: Option<f64>,
    today_tokens: Option<f64>,
    month_micro_usd: Option<f64>,
    month_tokens: Option<f64>,
}

/// `GET /admin/users?q=&limit=`: the ledger's users whose id contains `q`, most recently
/// active first (at most 50), with what each spent today and this month in `budget.timezone`.
pub async fn search_users(
    req: &Request,
    env: &Env,
    runtime: &Runtime,
) -> Result<Value, HandlerError> {
    let search = UserSearch::parse(query_pairs(req)?.into_iter())?;
    let zone = runtime.config.zone();
    let now = now_ms();
    let today = day_label(zone.day(now));
    let month_start = format!("{}-01", month_label(zone.month(now)));
    let rows: Vec<SearchRow> =
        console_d1::all(env, &search.statement(&today, &month_start)).await?;
    let number = |n: Option<f64>| n.unwrap_or(0.0) as u64;
    let users: Vec<Value> = rows
        .into_iter()
        .map(|row| {
            json!({
                "user": row.user,
                "requests": row.requests as u64,
                "last_ms": number(row.last_ms),
                "today_tokens": number(row.today_tokens),
                "today_micro_usd": number(row.today_micro_usd),
                "month_tokens": number(row.month_tokens),
                "month_micro_usd": number(row.month_micro_usd),
            })
        })
        .collect();
    Ok(json!({ "day": today, "users": users }))
}

/// `GET /admin/ledger`: a page of rows with the filters given, newest first, and where the
/// next page starts (`null` after the last).
pub async fn ledger_page(req: &Request, env: &Env) -> Result<Value, HandlerError> {
    let page = LedgerPage::parse(query_pairs(req)?.into_iter())?;
    let rows: Vec<Value> = console_d1::all(env, &page.statement()).await?;
    Ok(json!({
        "next_offset": page.next_offset(rows.len()),
        "limit": page.limit,
        "offset": page.offset,
        "rows": rows,
    }))
}

#[derive(Deserialize)]
struct CountRow {
    route: String,
    model: String,
    up: Option<f64>,
    down: Option<f64>,
}

/// `GET /admin/quality?from=&to=&limit=`: ratings (the widget's thumbs, the ledger's
/// `feedback`) by route and model, and the answers rated down with their conversation's turn
/// where the user keeps it server-side (`conversation: null` otherwise: "not kept").
pub async fn quality(req: &Request, env: &Env) -> Result<Value, HandlerError> {
    let query = QualityQuery::parse(query_pairs(req)?.into_iter())?;
    let counts: Vec<CountRow> = console_d1::all(env, &query.counts()).await?;
    let mut rows: Vec<Value> = console_d1::all(env, &query.rated_down()).await?;
    // One call per user, not per row; only signed users (`u:`) keep conversations.
    let mut by_user: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in &rows {
        if let (Some(user), Some(id)) = (row["user"].as_str(), row["id"].as_str()) {
            if user.starts_with("u:") {
                by_user
                    .entry(user.to_string())
                    .or_default()
                    .push(id.to_string());
            }
        }
    }
    let lookups = by_user.into_iter().map(|(user, ids)| async move {
        // A user object that cannot answer shows its turns as not kept, not the page as failed.
        UserClient::new(env, &user)
            .find_answers(ids)
            .await
            .unwrap_or_default()
    });
    let found: BTreeMap<String, FoundAnswer> = join_all(lookups)
        .await
        .into_iter()
        .flatten()
        .map(|answer| (answer.request_id.clone(), answer))
        .collect();
    for row in &mut rows {
        let conversation = row["id"]
            .as_str()
            .and_then(|id| found.get(id))
            .map(|answer| {
                json!({
                    "id": answer.conversation_id,
                    "title": answer.title,
                    "question": answer.question,
                    "answer": answer.answer,
                })
            });
        row["conversation"] = conversation.unwrap_or(Value::Null);
    }
    let number = |n: Option<f64>| n.unwrap_or(0.0) as u64;
    let groups: Vec<Value> = counts
        .into_iter()
        .map(|row| json!({"route": row.route, "model": row.model, "up": number(row.up), "down": number(row.down)}))
        .collect();
    let total = |field: &str| groups.iter().filter_map(|g| g[field].as_u64()).sum::<u64>();
    Ok(json!({
        "from": query.from,
        "to": query.to,
        "up": total("up"),
        "down": total("down"),
        "by_route_model": groups,
        "rated_down": rows,
    }))
}

/// `GET /admin/config`: the effective config without a secret in it, which secrets are set,
/// and the validation result (`oachat_core::config_view`).
pub fn config(env: &Env, runtime: &Runtime) -> Value {
    let present = |name: &str| text_binding(env, name).is_some_and(|value| !value.is_empty());
    let secrets = SecretsPresent {
        signing_secret: runtime.signing_secret.is_some(),
        admin_token: runtime.admin_token.is_some(),
        tools_secret: runtime.tools_secret.is_some(),
        metrics_token: present("OACHAT_METRICS_TOKEN"),
        upstream_keys: runtime
            .upstreams
            .iter()
            .map(|upstream| upstream.pool.borrow().len())
            .collect(),
    };
    config_view::view(&runtime.config, &secrets)
}
