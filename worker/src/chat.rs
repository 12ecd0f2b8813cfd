//! `POST /v1/chat/completions`: authenticate, validate, route, admit (limits and budget
//! reservation), send upstream over the key pool, relay the answer metered, then settle
//! and write the ledger row after the response.

use std::rc::Rc;

use oachat_core::assemble::Assembler;
use oachat_core::cache::CachedAnswer;
use oachat_core::config::Tier;
use oachat_core::conversation::{prepend_history, StoredMessage};
use oachat_core::error::ProxyError;
use oachat_core::identity::Identity;
use oachat_core::ledger::{Ending, LedgerRow};
use oachat_core::metering::{StreamMeter, Usage};
use oachat_core::plan::{cached_answer, plan, Plan, PlanInput};
use oachat_core::relay::RelayCore;
use oachat_core::request::{parse_chat_request, ChatRequest};
use oachat_core::user_call::OpenCall;
use oachat_protocol::names::REQUEST_ID_HEADER;
use oachat_protocol::{encode_event_into, SseParser};
use serde_json::Value;
use worker::{Context, Env, Headers, Request, Response, ResponseBody, ResponseBuilder};

use crate::auth;
use crate::body;
use crate::health;
use crate::ledger_d1;
use crate::limits::{self, Admission, Admitted, OpenTurn};
use crate::relay::{Relay, RelayEnd};
use crate::respond::{error_response, Cors};
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::upstream::{self, Failure};

pub async fn completions(
    mut req: Request,
    env: &Env,
    ctx: &Context,
    runtime: Rc<Runtime>,
    cors: &Cors,
) -> Result<Response, ProxyError> {
    let started_ms = now_ms();
    let identity = auth::authenticate(&req, env, &runtime).await?;
    let bytes = body::request_bytes(&mut req, runtime.config.max_body_bytes).await?;
    let chat = parse_chat_request(&bytes)?;
    serve(env, ctx, runtime, cors, identity, chat, started_ms, None).await
}

/// The path shared by `/v1/chat/completions` and the widget's `/v1/oachat/chat`. With a
/// conversation's `turn` (its body without the history), the conversation is opened with the
/// admission, which brings its history, and the streamed answer is captured and stored in it
/// with the settle: one call to the user's object before the first byte and one after.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    env: &Env,
    ctx: &Context,
    runtime: Rc<Runtime>,
    cors: &Cors,
    identity: Identity,
    chat: ChatRequest,
    started_ms: u64,
    turn: Option<OpenCall>,
) -> Result<Response, ProxyError> {
    let (plan, admission, chat) =
        plan_and_admit(env, &runtime, identity, chat, started_ms, turn.as_ref()).await?;

    if let Some(cache) = &plan.cache {
        if let Some(hit) = crate::cache::lookup(&cache.key).await {
            return serve_cached(ctx, env, cors, plan, admission, &chat, hit);
        }
    }

    health::sync_before_first_use(env, &runtime).await;
    let mut reports = Vec::new();
    // What an abandoned attempt is charged (see `with_abandoned`), added to the reservation
    // before the request tries another key.
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
            &runtime,
            plan.upstream_index,
            "/chat/completions",
            &plan.body,
            &mut reports,
            &cover_abandoned,
        ),
    )
    .await;
    health::share_after_response(ctx, env, &runtime, reports);

    let answer = match sent {
        Ok(answer) => answer,
        Err(upstream::Failed {
            failure,
            attempts,
            abandoned,
        }) => {
            let status = match &failure {
                Failure::Proxy(error) => error.status(),
                Failure::Upstream(pass) => pass.status,
            };
            let row = plan.ledger_row(
                "",
                Usage::default(),
                status,
                Ending::Failed,
                0,
                now_ms(),
                attempts,
            );
            let rows = plan.with_abandoned(row, &abandoned, now_ms());
            finish_after_response(ctx, env, admission, rows);
            return match failure {
                Failure::Proxy(error) => failure_response(&error, cors, &plan.request_id),
                Failure::Upstream(pass) => {
                    let mut response =
                        passthrough_response(pass, cors).map_err(|_| ProxyError::Internal)?;
                    let _ = response
                        .headers_mut()
                        .set(REQUEST_ID_HEADER, &plan.request_id);
                    Ok(response)
                }
            };
        }
    };

    let headers = Headers::new();
    let _ = headers.set(REQUEST_ID_HEADER, &plan.request_id);
    let _ = headers.set("x-oachat-route", &plan.route);
    let _ = headers.set("x-oachat-model", &plan.upstream_model);
    let _ = headers.set("x-oachat-cache", "miss");
    let _ = cors.apply(&headers);
    let key_id = answer.key_id.as_str().to_string();
    let attempts = answer.attempts;
    let abandoned = answer.abandoned;

    if plan.stream {
        let upstream_body = body::stream(&answer.response).ok_or(ProxyError::Internal)?;
        let meter = StreamMeter::new(chat.client_wants_usage);
        let meter = if turn.is_some() || plan.cache.is_some() {
            meter.capturing()
        } else {
            meter
        };
        let core = RelayCore::new(meter);
        // Cards are for the widget's own endpoint; OpenAI clients get a plain OpenAI stream.
        let core = if turn.is_some() && !plan.follow_ups.is_empty() {
            core.with_card(
                "quick-replies",
                &serde_json::json!({ "replies": plan.follow_ups }),
            )
        } else {
            core
        };
        let relay = Relay::start(&upstream_body, core).map_err(|_| ProxyError::Internal)?;
        let client_body = relay.client_body();
        // Dropping the controller must not abort the stream: it lives as long as the pump.
        let controller = answer._controller;
        let _ = headers.set("content-type", "text/event-stream; charset=utf-8");
        let _ = headers.set("cache-control", "no-cache");
        let _ = headers.set("x-accel-buffering", "no");
        let plan_for_ledger = plan;
        let env_for_ledger = env.clone();
        ctx.wait_until(async move {
            let end = limits::while_renewing(&env_for_ledger, &admission, relay.finished()).await;
            drop(controller);
            if let Some(cache) = &plan_for_ledger.cache {
                // Only a complete answer is worth replaying: a `length` cut is not one.
                let complete = end.ending == Ending::Completed
                    && end.meter.finish_reason() == Some("stop")
                    && !end.meter.captured_text().is_empty();
                if complete {
                    let usage = end.meter.outcome(plan_for_ledger.prompt_estimate);
                    let answer = CachedAnswer {
                        model: plan_for_ledger.upstream_model.clone(),
                        content: end.meter.captured_text().to_string(),
                        finish_reason: "stop".into(),
                        prompt_tokens: usage.prompt_tokens,
                        completion_tokens: usage.completion_tokens,
                    };
                    crate::cache::store(&cache.key, &answer, cache.ttl_s).await;
                }
            }
            let RelayEnd {
                ending,
                meter,
                first_event_ms: first_ms,
                ended_ms,
            } = end;
            let usage = plan_for_ledger.metered(&meter);
            let ttfb = first_ms.map_or(0, |at| at.saturating_sub(plan_for_ledger.started_ms));
            let row =
                plan_for_ledger.ledger_row(&key_id, usage, 200, ending, ttfb, ended_ms, attempts);
            let rows = plan_for_ledger.with_abandoned(row, &abandoned, now_ms());
            let answer = meter.captured_text();
            settle_and_record(&env_for_ledger, admission, rows, answer).await;
        });
        return Ok(ResponseBuilder::new()
            .with_status(200)
            .with_headers(headers)
            .body(ResponseBody::Stream(client_body)));
    }

    // The caller wants one JSON answer; the upstream streamed it (see `core/assemble.rs`).
    let ttfb = now_ms().saturating_sub(plan.started_ms);
    let read = limits::while_renewing(env, &admission, body::text(answer.response)).await;
    let mut meter = StreamMeter::new(true);
    let mut assembler = Assembler::default();
    if let Ok(text) = &read {
        let mut parser = SseParser::new();
        let mut events = parser.push(text.as_bytes());
        events.extend(parser.finish());
        for event in &events {
            meter.observe(&event.data);
            assembler.push(&event.data);
        }
    }
    let usage = match read {
        Ok(_) => plan.metered(&meter),
        // The body broke off and what it carried is lost with it: the upstream may have
        // generated up to the whole reservation, so that is what is charged (estimated).
        Err(_) => Usage {
            prompt_tokens: plan.prompt_estimate,
            completion_tokens: plan.reserve_tokens.saturating_sub(plan.prompt_estimate),
            cached_tokens: 0,
            reasoning_tokens: 0,
            estimated: true,
        },
    };
    // Finished: `[DONE]` or the usage chunk (always asked for, and last) arrived.
    if read.is_err() || !(meter.saw_done() || meter.reported_usage().is_some()) {
        // The body broke off after a 200 head. Nothing reached the client, but the upstream
        // billed what it generated: charge the metered estimate, and answer with an error,
        // not a truncated answer passed off as complete.
        let error = ProxyError::UpstreamBroken;
        let row = plan.ledger_row(
            &key_id,
            usage,
            error.status(),
            Ending::UpstreamCut,
            ttfb,
            now_ms(),
            attempts,
        );
        finish_after_response(
            ctx,
            env,
            admission,
            plan.with_abandoned(row, &abandoned, now_ms()),
        );
        return failure_response(&error, cors, &plan.request_id);
    }
    let completion = assembler.finish();
    if let (Some(cache), Some(answer)) = (&plan.cache, cached_answer(&completion, &usage)) {
        let key = cache.key.clone();
        let ttl_s = cache.ttl_s;
        ctx.wait_until(async move { crate::cache::store(&key, &answer, ttl_s).await });
    }
    let row = plan.ledger_row(
        &key_id,
        usage,
        200,
        Ending::Completed,
        ttfb,
        now_ms(),
        attempts,
    );
    finish_after_response(
        ctx,
        env,
        admission,
        plan.with_abandoned(row, &abandoned, now_ms()),
    );
    let _ = headers.set("content-type", "application/json");
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(completion.to_string().into_bytes()))
}

/// Answers from the exact-match cache, streamed like a live answer when asked. Metered as
/// cached: the ledger keeps the tokens with every prompt token marked cached, at zero cost,
/// and the reservation is released.
#[allow(clippy::too_many_arguments)]
fn serve_cached(
    ctx: &Context,
    env: &Env,
    cors: &Cors,
    plan: Plan,
    admission: Admission,
    chat: &ChatRequest,
    hit: CachedAnswer,
) -> Result<Response, ProxyError> {
    let headers = Headers::new();
    let _ = headers.set(REQUEST_ID_HEADER, &plan.request_id);
    let _ = headers.set("x-oachat-route", &plan.route);
    let _ = headers.set("x-oachat-model", &plan.upstream_model);
    let _ = headers.set("x-oachat-cache", "hit");
    let _ = cors.apply(&headers);
    let created_s = plan.started_ms / 1000;
    let id = format!("chatcmpl-{}", plan.request_id);
    let usage = Usage {
        prompt_tokens: hit.prompt_tokens,
        completion_tokens: hit.completion_tokens,
        cached_tokens: hit.prompt_tokens,
        reasoning_tokens: 0,
        estimated: false,
    };
    let mut row = plan.ledger_row("", usage, 200, Ending::Cached, 0, now_ms(), 0);
    row.cost_micro_usd = 0;
    finish_after_response(ctx, env, admission, vec![row]);
    if plan.stream {
        let mut body = String::new();
        // Pieces of ~24 characters keep the widget's typewriter feel on a cached answer.
        for event in hit.stream_events(&id, created_s, 24, chat.client_wants_usage) {
            encode_event_into(&mut body, &event);
        }
        let _ = headers.set("content-type", "text/event-stream; charset=utf-8");
        let _ = headers.set("cache-control", "no-cache");
        return Ok(ResponseBuilder::new()
            .with_status(200)
            .with_headers(headers)
            .fixed(body.into_bytes()));
    }
    let _ = headers.set("content-type", "application/json");
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(hit.completion(&id, created_s).to_string().into_bytes()))
}

/// Plans the request under the caller's tier and admits it. An admin's tier override lives
/// in the user's object, so it is learnt there: admission answers "plan again" (taking
/// nothing) and the request is planned once more under the override, which then governs
/// models, `max_tokens` and routing as well as the limits. Only overridden users pay the
/// second call; a model refused by the token's tier asks for the override first.
///
/// A conversation's turn is admitted with its history, which comes back with the admission:
/// the request is then planned once more with it (same id, same route), and goes upstream
/// with it.
async fn plan_and_admit(
    env: &Env,
    runtime: &Runtime,
    mut identity: Identity,
    chat: ChatRequest,
    started_ms: u64,
    turn: Option<&OpenCall>,
) -> Result<(Plan, Admission, ChatRequest), ProxyError> {
    let request_id = new_request_id();
    let mut replanned = false;
    loop {
        let tier = runtime
            .config
            .tiers
            .get(&identity.tier)
            .cloned()
            .ok_or(ProxyError::Internal)?;
        let planned = match plan_with(
            runtime,
            identity.clone(),
            &chat,
            &tier,
            started_ms,
            &request_id,
        ) {
            Ok(planned) => planned,
            Err(ProxyError::ModelNotAllowed { model }) if !replanned => {
                match limits::tier_override(env, runtime, &identity.user).await {
                    Some(overridden) if overridden != identity.tier => {
                        replanned = true;
                        identity.tier = overridden;
                        continue;
                    }
                    _ => return Err(ProxyError::ModelNotAllowed { model }),
                }
            }
            Err(error) => return Err(error),
        };
        let open_turn = turn.map(|open| OpenTurn {
            open,
            output_tokens: planned.reserve_tokens - planned.prompt_estimate,
            price: runtime.config.price(&planned.upstream_model).copied(),
        });
        let admitted = limits::admit(
            env,
            runtime,
            &planned.identity,
            &tier,
            &chat,
            &planned.request_id,
            planned.reserve_tokens,
            planned.reserve_micro_usd,
            open_turn,
        )
        .await?;
        match admitted {
            Admitted::Granted { admission, history } if history.is_empty() => {
                return Ok((planned, admission, chat))
            }
            Admitted::Granted { admission, history } => {
                // Only more messages: the tier, model and fields that passed still pass (a
                // conversation's rounds are counted by the object, not from `messages`), and
                // the reservation the object made is this plan's.
                let chat = with_history(&chat, &history)?;
                let planned = plan_with(
                    runtime,
                    planned.identity,
                    &chat,
                    &tier,
                    started_ms,
                    &request_id,
                )?;
                return Ok((planned, admission, chat));
            }
            Admitted::Replan { tier } if !replanned => {
                replanned = true;
                identity.tier = tier;
            }
            // The override changed between the two calls: give up rather than loop.
            Admitted::Replan { .. } => return Err(ProxyError::Internal),
        }
    }
}

/// Plans under this isolate's config, router and signing secret.
fn plan_with(
    runtime: &Runtime,
    identity: Identity,
    chat: &ChatRequest,
    tier: &Tier,
    started_ms: u64,
    request_id: &str,
) -> Result<Plan, ProxyError> {
    plan(PlanInput {
        config: &runtime.config,
        router: &runtime.router,
        identity,
        chat,
        tier,
        started_ms,
        request_id,
        user_key: runtime.signing_secret.as_deref().unwrap_or(b"oachat"),
    })
}

/// The request with a conversation's history before its new message.
fn with_history(chat: &ChatRequest, history: &[StoredMessage]) -> Result<ChatRequest, ProxyError> {
    let mut body = chat.body.clone();
    prepend_history(&mut body, history);
    parse_chat_request(Value::Object(body).to_string().as_bytes())
}

fn finish_after_response(ctx: &Context, env: &Env, admission: Admission, rows: Vec<LedgerRow>) {
    let env = env.clone();
    ctx.wait_until(async move {
        settle_and_record(&env, admission, rows, "").await;
    });
}

/// Settles the reservation to what was metered (releasing the rest); the user's object stores
/// the rows (and a conversation's turn with its delivered `answer`) with the settle and moves
/// the rows to D1. Should the object be unreachable, the rows go to D1 directly, so a request
/// is never missing from the ledger.
async fn settle_and_record(env: &Env, admission: Admission, rows: Vec<LedgerRow>, answer: &str) {
    if limits::settle(env, admission, &rows, answer).await {
        return;
    }
    if let Err(error) = ledger_d1::insert_all(env, &rows).await {
        worker::console_error!("oachat: ledger write failed for {}: {error}", rows[0].id);
    }
}

/// An upstream failure as the client sees it: the error response, plus the request id that
/// names its ledger row, for whoever has to look into it.
fn failure_response(
    error: &ProxyError,
    cors: &Cors,
    request_id: &str,
) -> Result<Response, ProxyError> {
    worker::console_warn!("oachat: {} {}", error.status(), error.code());
    let mut response = error_response(error, cors).map_err(|_| ProxyError::Internal)?;
    let _ = response.headers_mut().set(REQUEST_ID_HEADER, request_id);
    Ok(response)
}

fn passthrough_response(pass: upstream::PassThrough, cors: &Cors) -> worker::Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    cors.apply(&headers)?;
    Ok(ResponseBuilder::new()
        .with_status(pass.status)
        .with_headers(headers)
        .fixed(pass.body.into_bytes()))
}

/// `req_` + 20 hex digits from the platform's CSPRNG.
pub fn new_request_id() -> String {
    format!("req_{}", crate::random::hex(10))
}
