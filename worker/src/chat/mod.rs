//! `POST /v1/chat/completions`: authenticate, validate, plan and admit (limits and budget
//! reservation), maybe answer from the cache, send upstream over the key pool, relay the
//! answer metered, then settle and write the ledger row after the response.
//!
//! This file is the orchestration; each step lives beside it: `admit.rs` (plan and admit),
//! `cached.rs`, `streamed.rs` and `whole.rs` (the three ways an answer is given) and
//! `finish.rs` (settling, the ledger, an upstream failure as the client sees it).

mod admit;
mod cached;
mod finish;
mod streamed;
mod whole;

use std::rc::Rc;

use oachat_core::error::{BudgetScope, ProxyError};
use oachat_core::identity::Identity;
use oachat_core::plan::Plan;
use oachat_core::request::{parse_chat_request, ChatRequest};
use oachat_core::user_call::OpenCall;
use oachat_protocol::names::REQUEST_ID_HEADER;
use worker::{Context, Env, Headers, Request, Response};

use crate::body;
use crate::error::HandlerError;
use crate::health;
use crate::limits;
use crate::respond::Cors;
use crate::responses::ResponsesTurn;
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::upstream;

/// What every step of one request needs from the platform.
pub struct Call<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub runtime: Rc<Runtime>,
    pub cors: &'a Cors,
    /// The caller's `traceparent`, when valid and `[otel]` is on (`crate::otel::incoming`).
    pub traceparent: Option<oachat_core::otel::TraceParent>,
}

pub async fn completions(mut req: Request, call: &Call<'_>) -> Result<Response, HandlerError> {
    let started_ms = now_ms();
    let identity = crate::auth::authenticate(&req, call.env, &call.runtime).await?;
    let bytes = body::request_bytes(&mut req, call.runtime.config.max_body_bytes).await?;
    let chat = parse_chat_request(&bytes)?;
    serve(call, identity, chat, started_ms, None, None).await
}

/// The path shared by `/v1/chat/completions` and the widget's `/v1/oachat/chat`. With a
/// conversation's `turn` (its body without the history), the conversation is opened with the
/// admission, which brings its history, and the streamed answer is captured and stored in it
/// with the settle: one call to the user's object before the first byte and one after.
///
/// With `responses`, the caller asked `/v1/responses`: everything up to the upstream's answer
/// is this same path, and the answer is given in the Responses dialect.
pub async fn serve(
    call: &Call<'_>,
    identity: Identity,
    chat: ChatRequest,
    started_ms: u64,
    turn: Option<OpenCall>,
    responses: Option<ResponsesTurn>,
) -> Result<Response, HandlerError> {
    let (env, runtime) = (call.env, &call.runtime);
    let (plan, mut admission, chat) =
        admit::plan_and_admit(env, runtime, identity, chat, started_ms, turn.as_ref()).await?;
    admission.trace = crate::otel::begin(call, &plan, &admission);
    if !limits::cover_plan(env, &mut admission, &plan).await {
        return finish::upstream_failed(
            call,
            plan,
            admission,
            budget_cannot_cover(started_ms, &runtime.config.zone()),
        );
    }

    if let Some(cache) = &plan.cache {
        if let Some(hit) = crate::cache::lookup(&cache.key).await {
            return cached::answer(call, plan, admission, &chat, hit, responses).await;
        }
    }

    health::sync_before_first_use(env, runtime).await;
    let mut reports = Vec::new();
    // What an abandoned attempt is charged (see `Plan::with_abandoned`), added to the
    // reservation before the request tries another key.
    let abandoned_cost = runtime
        .config
        .price(&plan.upstream_model)
        .map_or(0, |price| price.cost_micro_usd(plan.prompt_estimate, 0, 0));
    let cover_abandoned = || -> futures_util::future::LocalBoxFuture<'_, bool> {
        Box::pin(limits::grow(
            env,
            &admission,
            plan.prompt_estimate,
            abandoned_cost,
        ))
    };
    let sent = limits::while_renewing(
        env,
        &admission,
        upstream::send(
            runtime,
            plan.upstream_index,
            &plan.target,
            &plan.body,
            &mut reports,
            &cover_abandoned,
        ),
    )
    .await;
    health::share_after_response(call.ctx, env, runtime, reports, sent.is_err());

    match sent {
        Err(failed) => finish::upstream_failed(call, plan, admission, failed),
        Ok(answer) if plan.stream => streamed::answer(
            call,
            plan,
            admission,
            &chat,
            answer,
            turn.is_some(),
            responses,
        ),
        Ok(answer) => whole::answer(call, plan, admission, answer, responses).await,
    }
}

/// The reservation could not grow to the plan's worst case (see [`limits::cover_plan`]):
/// nothing went upstream, and the request gives back what it held.
fn budget_cannot_cover(now_ms: u64, zone: &oachat_core::calendar::Zone) -> upstream::Failed {
    // The next local day (`budget.timezone`) is the soonest it can fit again.
    let next_day_ms = zone.next_day_start_ms(zone.day(now_ms));
    upstream::Failed {
        failure: upstream::Failure::Proxy(ProxyError::BudgetExceeded {
            scope: BudgetScope::UserUsd,
            retry_after_s: next_day_ms.saturating_sub(now_ms).div_ceil(1000).max(1),
        }),
        attempts: 0,
        abandoned: Vec::new(),
    }
}

/// The headers every answer carries: its id, where it was routed, and whether it came from
/// the cache.
fn answer_headers(plan: &Plan, cache: &str, cors: &Cors) -> worker::Result<Headers> {
    let headers = Headers::new();
    headers.set(REQUEST_ID_HEADER, &plan.request_id)?;
    headers.set("x-oachat-route", &plan.route)?;
    headers.set("x-oachat-model", &plan.upstream_model)?;
    headers.set("x-oachat-cache", cache)?;
    cors.apply(&headers)?;
    Ok(headers)
}

/// Headers of a streamed answer, on top of [`answer_headers`].
fn stream_headers(headers: &Headers) -> worker::Result<()> {
    headers.set("content-type", "text/event-stream; charset=utf-8")?;
    headers.set("cache-control", "no-cache")?;
    // Proxies in front of a self-hosted workerd must not buffer the stream.
    headers.set("x-accel-buffering", "no")
}
