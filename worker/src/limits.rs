//! The proxy's side of admission: builds the reservation for a request, asks the caller's
//! `UserDo` to admit it, and settles it after the answer.

use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Env, Method, Request, RequestInit};

use crate::core::account::{lease_to_keep, AdmitRequest, Refusal, SettleRequest};
use crate::core::budget::BudgetKind;
use crate::core::config::Tier;
use crate::core::error::{BudgetScope, ProxyError};
use crate::core::identity::Identity;
use crate::core::ledger::{Ending, LedgerRow};
use crate::core::request::ChatRequest;
use crate::durable::ledger_outbox::SettleCall;
use crate::durable::user_do::{AdmitAnswer, BINDING};
use crate::runtime::Runtime;
use crate::time::now_ms;

/// What the user's object said.
pub enum Admitted {
    Granted(Admission),
    /// The user has an admin's tier override: plan again under this tier. Nothing was taken.
    Replan {
        tier: String,
    },
}

/// A granted admission, carried to the settle after the answer.
pub struct Admission {
    pub user: String,
    pub request_id: String,
    pub conversation_id: Option<String>,
    /// Deployment lease the user keeps when idle after this request.
    pub keep_lease_micro_usd: u64,
    pub deployment_cap_micro_usd: Option<u64>,
}

#[allow(clippy::too_many_arguments)]
pub async fn admit(
    env: &Env,
    runtime: &Runtime,
    identity: &Identity,
    tier: &Tier,
    chat: &ChatRequest,
    request_id: &str,
    prompt_estimate: u64,
    max_tokens: u64,
    upstream_model: &str,
) -> Result<Admitted, ProxyError> {
    let config = &runtime.config;
    let reserve_tokens = prompt_estimate.saturating_add(max_tokens);
    let reserve_micro_usd = config.price(upstream_model).map_or(0, |price| {
        price.cost_micro_usd(prompt_estimate, max_tokens, 0)
    });
    let deployment_cap = config.deployment_daily_micro_usd();
    let request = AdmitRequest {
        request_id: request_id.to_string(),
        tier: identity.tier.clone(),
        now_ms: now_ms(),
        rpm: tier.rpm,
        max_rounds: tier.max_rounds,
        conversation_id: chat.conversation_id.clone(),
        daily_tokens: tier.daily_tokens,
        daily_micro_usd: tier.daily_micro_usd(),
        reserve_tokens,
        reserve_micro_usd,
        lease_slice_micro_usd: deployment_cap
            .map(|_| crate::core::config::usd_to_micro(config.budget.lease_slice_usd)),
        deployment_cap_micro_usd: deployment_cap,
        reservation_ttl_ms: config.budget.reservation_ttl_s.saturating_mul(1000),
    };
    let answer: AdmitAnswer = call(env, &identity.user, "/admit", &request)
        .await
        .map_err(|error| {
            worker::console_error!("oachat: admission failed: {error}");
            ProxyError::Internal
        })?;
    if let Some(tier) = answer.replan_tier {
        return Ok(Admitted::Replan { tier });
    }
    match answer.refusal {
        None => Ok(Admitted::Granted(Admission {
            user: identity.user.clone(),
            request_id: request_id.to_string(),
            conversation_id: chat.conversation_id.clone(),
            keep_lease_micro_usd: request
                .lease_slice_micro_usd
                .map_or(0, |slice| lease_to_keep(request.reserve_micro_usd, slice)),
            deployment_cap_micro_usd: request.deployment_cap_micro_usd,
        })),
        Some(refusal) => Err(refused(refusal, request.now_ms)),
    }
}

/// The admin's tier override of `user`, if any and known to this deployment. Only asked
/// when the token's tier refuses the model, so the normal path makes no extra call.
pub async fn tier_override(env: &Env, runtime: &Runtime, user: &str) -> Option<String> {
    let tier: Option<String> = send(env, user, Method::Get, "/tier", None).await.ok()?;
    tier.filter(|tier| runtime.config.tiers.contains_key(tier))
}

/// Settles to the metered usage and hands the ledger row to the user's object, which stores
/// both in one transaction. A request that failed before any output gives its round back.
/// `false` when the object could not be reached: the caller must write the row itself.
pub async fn settle(env: &Env, admission: Admission, row: &LedgerRow) -> bool {
    let nothing_delivered = row.completion_tokens == 0
        && matches!(
            row.ending,
            Ending::Failed | Ending::ClientAborted | Ending::UpstreamCut
        );
    let settle = SettleRequest {
        request_id: admission.request_id,
        now_ms: now_ms(),
        // A cached answer cost nothing upstream: its reservation is simply released.
        tokens: if row.ending == Ending::Cached {
            0
        } else {
            row.prompt_tokens + row.completion_tokens
        },
        micro_usd: row.cost_micro_usd,
        conversation_id: admission.conversation_id,
        refund_round: nothing_delivered,
        keep_lease_micro_usd: admission.keep_lease_micro_usd,
        deployment_cap_micro_usd: admission.deployment_cap_micro_usd,
    };
    let call_body = SettleCall {
        settle,
        ledger: Some(row.clone()),
    };
    let settled: worker::Result<serde_json::Value> =
        call(env, &admission.user, "/settle", &call_body).await;
    if let Err(error) = &settled {
        // The reservation expires after its TTL, so a lost settle can only under-use the budget.
        worker::console_error!("oachat: settle failed for {}: {error}", row.id);
    }
    settled.is_ok()
}

fn refused(refusal: Refusal, now: u64) -> ProxyError {
    let seconds_until = |at_ms: u64| at_ms.saturating_sub(now).div_ceil(1000).max(1);
    match refusal {
        Refusal::Rate { retry_after_ms } => ProxyError::RateLimited {
            retry_after_s: retry_after_ms.div_ceil(1000).max(1),
        },
        Refusal::Rounds { max } => ProxyError::MaxRounds { max },
        Refusal::Budget {
            which,
            resets_at_ms,
        } => ProxyError::BudgetExceeded {
            scope: match which {
                BudgetKind::Tokens => BudgetScope::UserTokens,
                BudgetKind::Usd => BudgetScope::UserUsd,
                BudgetKind::Deployment => BudgetScope::Deployment,
            },
            retry_after_s: seconds_until(resets_at_ms),
        },
    }
}

/// POSTs a JSON body to a user's object.
pub async fn call<B: Serialize, T: DeserializeOwned>(
    env: &Env,
    user: &str,
    path: &str,
    body: &B,
) -> worker::Result<T> {
    call_method(env, user, Method::Post, path, body).await
}

/// Sends a JSON body to a user's object with any method.
pub async fn call_method<B: Serialize, T: DeserializeOwned>(
    env: &Env,
    user: &str,
    method: Method,
    path: &str,
    body: &B,
) -> worker::Result<T> {
    send(env, user, method, path, Some(serde_json::to_string(body)?)).await
}

pub async fn send<T: DeserializeOwned>(
    env: &Env,
    user: &str,
    method: Method,
    path: &str,
    body: Option<String>,
) -> worker::Result<T> {
    let stub = env.durable_object(BINDING)?.get_by_name(user)?;
    let mut init = RequestInit::new();
    init.with_method(method).with_body(body.map(Into::into));
    let request = Request::new_with_init(&format!("https://user{path}"), &init)?;
    let response = stub.fetch_with_request(request).await?;
    crate::body::json(response).await
}
