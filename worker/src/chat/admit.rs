//! Planning a chat request and admitting it: the pure plan (`oachat_core::plan`) under the
//! caller's tier, then one call to the user's object that checks the limits, reserves the
//! budget and, for a conversation's turn, opens the conversation and brings its history.

use oachat_core::config::Tier;
use oachat_core::conversation::{prepend_history, withdraw_tools, StoredMessage};
use oachat_core::error::ProxyError;
use oachat_core::identity::Identity;
use oachat_core::plan::{plan, Plan, PlanInput};
use oachat_core::request::{parse_chat_request, ChatRequest};
use oachat_core::tools::{
    apply_server_answers, server_calls_to_answer, withhold_server_tools, WebhookCaller,
};
use oachat_core::user_call::OpenCall;
use serde_json::Value;
use worker::Env;

use crate::limits::{self, Admission, Admitted, OpenTurn};
use crate::runtime::Runtime;

/// Plans the request under the caller's tier and admits it. An admin's tier override lives
/// in the user's object, so it is learnt there: admission answers "plan again" (taking
/// nothing) and the request is planned once more under the override, which then governs
/// models, `max_tokens` and routing as well as the limits. Only overridden users pay the
/// second call; a model refused by the token's tier asks for the override first.
///
/// A conversation's turn is admitted with its history, which comes back with the admission:
/// the request is then planned once more with it (same id, same route), and goes upstream
/// with it.
pub(super) async fn plan_and_admit(
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
            Admitted::Granted {
                mut admission,
                mut history,
                offer_tools,
            } => {
                if turn.is_some() {
                    answer_server_calls(
                        runtime,
                        &planned.identity,
                        &planned.request_id,
                        &mut admission,
                        &mut history,
                    )
                    .await;
                }
                // Only more messages, fewer tools, or the server tools the route does not
                // offer taken out: the tier, model and fields that passed still pass (a
                // conversation's rounds are counted by the object, not from `messages`), and
                // the reservation the object made covers this plan or is grown to it
                // (`limits::cover_plan`).
                let mut body = chat.body.clone();
                let mut changed = !history.is_empty() || !offer_tools;
                prepend_history(&mut body, &history);
                if !offer_tools {
                    withdraw_tools(&mut body);
                }
                if turn.is_some() {
                    let route = runtime.config.routes.get(&planned.route);
                    changed |= withhold_server_tools(&mut body, &runtime.config.tools, route);
                }
                if !changed {
                    return Ok((planned, admission, chat));
                }
                let chat = parse_chat_request(Value::Object(body).to_string().as_bytes())?;
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

/// A continuation's calls of server tools, answered by their webhooks (in parallel) after the
/// admission and before the upstream: the answers go into the history sent upstream and the
/// results stored with the turn.
async fn answer_server_calls(
    runtime: &Runtime,
    identity: &Identity,
    request_id: &str,
    admission: &mut Admission,
    history: &mut [StoredMessage],
) {
    let calls = server_calls_to_answer(history);
    let Some(turn) = admission.turn.as_mut() else {
        return;
    };
    if calls.is_empty() {
        return;
    }
    let caller = WebhookCaller {
        identity,
        conversation_id: &turn.conversation_id,
        request_id,
    };
    let answers = crate::webhook::answer_calls(runtime, &calls, &caller).await;
    apply_server_answers(history, &mut turn.tool_results, &answers);
}

/// `req_` + 20 hex digits from the platform's CSPRNG.
pub fn new_request_id() -> String {
    format!("req_{}", crate::random::hex(10))
}
