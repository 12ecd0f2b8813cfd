//! Planning a chat request and admitting it: the pure plan (`oachat_core::plan`) under the
//! caller's tier, then one call to the user's object that checks the limits, reserves the
//! budget and, for a conversation's turn, opens the conversation and brings its history.

use oachat_core::config::Tier;
use oachat_core::conversation::{prepend_history, withdraw_tools, StoredMessage};
use oachat_core::error::ProxyError;
use oachat_core::identity::Identity;
use oachat_core::plan::{plan, Plan, PlanInput};
use oachat_core::request::{parse_chat_request, ChatRequest};
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
                admission,
                history,
                offer_tools: true,
            } if history.is_empty() => return Ok((planned, admission, chat)),
            Admitted::Granted {
                admission,
                history,
                offer_tools,
            } => {
                // Only more messages (and maybe fewer tools): the tier, model and fields that
                // passed still pass (a conversation's rounds are counted by the object, not
                // from `messages`), and the reservation the object made is this plan's.
                let chat = with_history(&chat, &history, offer_tools)?;
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

/// The request with a conversation's history before its new message; without tools on the
/// tool round that reaches the bound.
fn with_history(
    chat: &ChatRequest,
    history: &[StoredMessage],
    offer_tools: bool,
) -> Result<ChatRequest, ProxyError> {
    let mut body = chat.body.clone();
    prepend_history(&mut body, history);
    if !offer_tools {
        withdraw_tools(&mut body);
    }
    parse_chat_request(Value::Object(body).to_string().as_bytes())
}

/// `req_` + 20 hex digits from the platform's CSPRNG.
pub fn new_request_id() -> String {
    format!("req_{}", crate::random::hex(10))
}
