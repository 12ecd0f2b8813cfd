//! The proxy's side of admission: asks the caller's `UserDo` to admit a request with its
//! reservation, keeps the reservation alive while the request runs, and settles it after the
//! answer.

use worker::Env;

use std::future::Future;

use futures_util::future::{select, Either};
use oachat_core::account::{
    lease_to_keep, AdmitRequest, DepartmentLimits, GuestPoolLimits, Refusal, SettleRequest,
};
use oachat_core::budget::BudgetKind;
use oachat_core::config::Tier;
use oachat_core::error::{BudgetScope, ProxyError};
use oachat_core::identity::Credential;
use oachat_core::identity::Identity;
use oachat_core::ledger::{Ending, LedgerRow};
use oachat_core::plan::Plan;
use oachat_core::request::ChatRequest;

use oachat_core::config::Price;
use oachat_core::conversation::StoredMessage;
use oachat_core::tools::{ToolCall, ToolResult};
use oachat_core::user_call::{
    AppendCall, BeginTurn, GrowCall, OpenCall, Opened, RenewCall, SettleCall, TurnBegun,
};

use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::user_client::UserClient;

/// What the user's object said.
pub enum Admitted {
    /// With the conversation's history, for a turn of one (empty otherwise), and whether
    /// the model may be offered tools (not on the tool round that reaches the bound).
    Granted {
        admission: Admission,
        history: Vec<StoredMessage>,
        offer_tools: bool,
    },
    /// The user has an admin's tier override: plan again under this tier. Nothing was taken.
    Replan { tier: String },
}

/// A granted admission, carried to the settle after the answer.
pub struct Admission {
    pub user: String,
    pub request_id: String,
    /// How often to renew the reservation while the request runs (a third of its TTL).
    pub renew_every_ms: u64,
    pub conversation_id: Option<String>,
    /// Deployment lease the user keeps when idle after this request.
    pub keep_lease_micro_usd: u64,
    pub deployment_cap_micro_usd: Option<u64>,
    /// The turn of a server-side conversation, stored with the settle.
    pub turn: Option<KeptTurn>,
    /// What the object holds for this request: tokens and micro-USD (with a conversation's
    /// history, what the history added too). A plan that needs more grows it first
    /// ([`cover_plan`]).
    pub reserved_tokens: u64,
    pub reserved_micro_usd: u64,
    /// The request's span in the making (`[otel]`), recorded where its rows are settled.
    pub trace: crate::otel::Trace,
}

/// What is stored of a conversation's turn after its answer: the user's message (or a
/// continuation's results, completed), in this conversation (the answer is what was
/// delivered).
pub struct KeptTurn {
    pub conversation_id: String,
    pub user_message: Option<String>,
    pub tool_results: Vec<ToolResult>,
}

/// A turn of a server-side conversation (`/v1/oachat/chat`), opened with its admission: the
/// object adds the history it holds to the reservation (see `BeginTurn`).
pub struct OpenTurn<'a> {
    pub open: &'a OpenCall,
    /// The reservation's output part (`n` times the clamped cap); the rest is the prompt.
    pub output_tokens: u64,
    pub price: Option<Price>,
}

/// Asks the caller's object to admit a request that reserves `reserve_tokens` and
/// `reserve_micro_usd` (its worst case: the prompt estimate plus every choice's clamped
/// output cap). With a conversation's `turn`, this one call also opens the conversation (and
/// creates it only if the turn is admitted) and reserves its history too.
#[allow(clippy::too_many_arguments)]
pub async fn admit(
    env: &Env,
    runtime: &Runtime,
    identity: &Identity,
    tier: &Tier,
    chat: &ChatRequest,
    request_id: &str,
    reserve_tokens: u64,
    reserve_micro_usd: u64,
    turn: Option<OpenTurn<'_>>,
) -> Result<Admitted, ProxyError> {
    let config = &runtime.config;
    let deployment_cap = config.deployment_daily_micro_usd();
    let guest_pool = match (&identity.credential, &config.guest_pool) {
        (Credential::Guest, Some(pool)) => Some(GuestPoolLimits {
            rpm: pool.rpm,
            cap_micro_usd: pool.daily_usd.map(oachat_core::config::usd_to_micro),
        }),
        _ => None,
    };
    // Leases are needed when the deployment is capped (by the day or by the month), and for
    // guests when their pool has a USD share of its own.
    // A member of a department with a USD budget leases through the department's object.
    let department = identity
        .dept
        .as_ref()
        .and_then(|name| Some((name, config.departments.get(name)?)))
        .map(|(name, department)| DepartmentLimits {
            name: name.clone(),
            rpm: department.rpm,
            daily_micro_usd: department.daily_micro_usd(),
            monthly_micro_usd: department.monthly_micro_usd(),
        });
    let leased = deployment_cap.is_some()
        || config.deployment_monthly_micro_usd().is_some()
        || guest_pool.is_some_and(|pool| pool.cap_micro_usd.is_some())
        || department
            .as_ref()
            .is_some_and(|department| department.leases());
    // A continuation is one more model call of the same round: it counts no round (and gives
    // none back), its tool rounds are bounded by the object instead.
    let continuation = turn
        .as_ref()
        .is_some_and(|turn| turn.open.continuation.is_some());
    let conversation_id = chat.conversation_id.clone().filter(|_| !continuation);
    let request = AdmitRequest {
        request_id: request_id.to_string(),
        tier: identity.tier.clone(),
        now_ms: now_ms(),
        rpm: tier.rpm,
        max_rounds: tier.max_rounds,
        conversation_id: conversation_id.clone(),
        daily_tokens: tier.daily_tokens,
        daily_micro_usd: tier.daily_micro_usd(),
        monthly_tokens: tier.monthly_tokens,
        monthly_micro_usd: tier.monthly_micro_usd(),
        zone: config.zone(),
        department,
        reserve_tokens,
        reserve_micro_usd,
        // A guest's object asks for just what its request lacks: every new address is a new
        // object, and slices held by a few guests in flight would lock the others out.
        lease_slice_micro_usd: leased.then(|| match guest_pool {
            Some(_) => 0,
            None => oachat_core::config::usd_to_micro(config.budget.lease_slice_usd),
        }),
        deployment_cap_micro_usd: deployment_cap,
        reservation_ttl_ms: config.budget.reservation_ttl_s.saturating_mul(1000),
        guest_pool,
    };
    let failed = |error: worker::Error| {
        worker::console_error!("oachat: admission failed: {error}");
        ProxyError::Internal
    };
    let client = UserClient::new(env, &identity.user);
    let mut begin = turn.as_ref().map(|turn| BeginTurn {
        open: turn.open.clone(),
        admit: request.clone(),
        output_tokens: turn.output_tokens,
        price: turn.price,
    });
    let begun = match &begin {
        Some(begin) => client.begin_turn(begin.clone()).await.map_err(failed)?,
        // A request without a conversation opens none.
        None => client
            .admit(request.clone())
            .await
            .map_err(failed)?
            .into_turn(Opened::default),
    };
    let opened = match begun {
        TurnBegun::Admitted(opened) => opened,
        TurnBegun::Replan { tier } => return Ok(Admitted::Replan { tier }),
        TurnBegun::NotFound => return Err(ProxyError::ConversationNotFound),
        TurnBegun::ToolsRefused(refusal) => return Err(refusal.into_error()),
        TurnBegun::Refused(refusal) => {
            return Err(refused(
                refusal,
                request.now_ms,
                request.guest_pool.is_some(),
            ))
        }
    };
    // What the object reserved: with a conversation, the history it added too.
    let (reserved_tokens, reserved_micro_usd) = match &mut begin {
        Some(begin) => {
            begin.reserve_history(&opened.history);
            (begin.admit.reserve_tokens, begin.admit.reserve_micro_usd)
        }
        None => (request.reserve_tokens, request.reserve_micro_usd),
    };
    let turn = turn.map(|turn| KeptTurn {
        conversation_id: opened.id.clone(),
        user_message: (!continuation).then(|| turn.open.new_message.clone()),
        tool_results: opened.results.clone(),
    });
    Ok(Admitted::Granted {
        history: opened.history,
        offer_tools: opened.offer_tools,
        admission: Admission {
            user: identity.user.clone(),
            request_id: request_id.to_string(),
            renew_every_ms: (request.reservation_ttl_ms / 3).max(1_000),
            conversation_id,
            // Guests keep no lease when idle: every new address is a new object, and a few
            // idle guests each keeping a slice would lock all other guests out of their share.
            keep_lease_micro_usd: match (&request.guest_pool, request.lease_slice_micro_usd) {
                (None, Some(slice)) => lease_to_keep(reserved_micro_usd, slice),
                _ => 0,
            },
            deployment_cap_micro_usd: request.deployment_cap_micro_usd,
            turn,
            reserved_tokens,
            reserved_micro_usd,
            trace: crate::otel::Trace::default(),
        },
    })
}

/// The admin's tier override of `user`, if any and known to this deployment. Only asked
/// when the token's tier refuses the model, so the normal path makes no extra call.
pub async fn tier_override(env: &Env, runtime: &Runtime, user: &str) -> Option<String> {
    let tier = UserClient::new(env, user).tier().await.ok()?;
    tier.filter(|tier| runtime.config.tiers.contains_key(tier))
}

/// Runs `work` while keeping the request's reservation alive: every third of the TTL the
/// caller's object hears that the request still runs. A reservation must live as long as its
/// request, however long the stream; only a request whose isolate died stops renewing, and
/// its reservation is then charged in full (`core/budget.rs`).
pub async fn while_renewing<F: Future>(env: &Env, admission: &Admission, work: F) -> F::Output {
    let mut work = Box::pin(work);
    loop {
        let tick = worker::Delay::from(std::time::Duration::from_millis(admission.renew_every_ms));
        match select(work, Box::pin(tick)).await {
            Either::Left((output, _)) => return output,
            Either::Right((_, pending)) => {
                work = pending;
                let renewal = RenewCall {
                    request_id: admission.request_id.clone(),
                    now_ms: now_ms(),
                };
                let renewed = UserClient::new(env, &admission.user).renew(renewal).await;
                if let Err(error) = renewed {
                    worker::console_error!(
                        "oachat: renewing {} failed: {error}",
                        admission.request_id
                    );
                }
            }
        }
    }
}

/// Grows the request's reservation by `tokens` and `micro_usd` before it tries another upstream
/// key after an attempt abandoned at the first-byte timeout (which is charged at its prompt
/// estimate): so even a request that fails over stays within its user's budget. `false` when
/// the budget cannot cover it (or the object is unreachable): the request must stop.
pub async fn grow(env: &Env, admission: &Admission, tokens: u64, micro_usd: u64) -> bool {
    let grow = GrowCall {
        request_id: admission.request_id.clone(),
        tokens,
        micro_usd,
        now_ms: now_ms(),
    };
    UserClient::new(env, &admission.user)
        .grow(grow)
        .await
        .unwrap_or(false)
}

/// Grows the reservation to `plan`'s worst case when the plan needs more than was admitted
/// (a continuation routed on its history's user message can land on a dearer route than the
/// plan it was admitted with). `false`: the budget cannot cover it, and nothing may go
/// upstream.
pub async fn cover_plan(env: &Env, admission: &mut Admission, plan: &Plan) -> bool {
    let more_tokens = plan
        .reserve_tokens
        .saturating_sub(admission.reserved_tokens);
    let more_micro_usd = plan
        .reserve_micro_usd
        .saturating_sub(admission.reserved_micro_usd);
    if more_tokens == 0 && more_micro_usd == 0 {
        return true;
    }
    if !grow(env, admission, more_tokens, more_micro_usd).await {
        return false;
    }
    admission.reserved_tokens += more_tokens;
    admission.reserved_micro_usd += more_micro_usd;
    true
}

/// Settles to the metered usage and hands the ledger rows (the request's own first, then its
/// abandoned attempts) to the user's object, which stores them with the settle in one
/// transaction; a conversation's turn that delivered an `answer` is stored with them. Every row's tokens and cost are charged. A request that failed before any
/// output gives its round back. `false` when the object could not be reached even on a
/// second try: the caller must then write the rows itself, and the reservation, no longer
/// renewed, expires into a charge of its full worst case (so a lost settle errs towards the
/// budget: it charges at least the reservation, not nothing).
pub async fn settle(
    env: &Env,
    admission: Admission,
    rows: &[LedgerRow],
    answer: &str,
    reasoning: &str,
    tool_calls: &[ToolCall],
) -> bool {
    let Some(row) = rows.first() else {
        return true;
    };
    let nothing_delivered = row.completion_tokens == 0
        && matches!(
            row.ending,
            Ending::Failed | Ending::ClientAborted | Ending::UpstreamCut
        );
    // A cached answer cost nothing upstream: its reservation is simply released.
    let charged = rows.iter().filter(|row| row.ending != Ending::Cached);
    let settle = SettleRequest {
        request_id: admission.request_id,
        now_ms: now_ms(),
        tokens: charged
            .clone()
            .map(|row| row.prompt_tokens + row.completion_tokens)
            .sum(),
        micro_usd: charged.map(|row| row.cost_micro_usd).sum(),
        conversation_id: admission.conversation_id,
        refund_round: nothing_delivered,
        keep_lease_micro_usd: admission.keep_lease_micro_usd,
        deployment_cap_micro_usd: admission.deployment_cap_micro_usd,
    };
    // A turn that delivered neither text nor calls (the upstream failed before any) is not
    // stored: a continuation can then be sent again, its calls still waiting.
    let turn = admission
        .turn
        .filter(|_| !answer.is_empty() || !tool_calls.is_empty())
        .map(|turn| AppendCall {
            conversation_id: turn.conversation_id,
            // The request's own row is the first: its id is the request's.
            request_id: Some(row.id.clone()),
            user_message: turn.user_message,
            tool_results: turn.tool_results,
            tool_calls: tool_calls.to_vec(),
            answer: answer.to_string(),
            reasoning: (!reasoning.is_empty()).then(|| reasoning.to_string()),
            now_ms: settle.now_ms,
        });
    let call_body = SettleCall {
        settle,
        ledger: rows.to_vec(),
        turn,
    };
    for attempt in 0..2 {
        let settled = UserClient::new(env, &admission.user)
            .settle(call_body.clone())
            .await;
        match settled {
            Ok(_) => return true,
            Err(error) => {
                worker::console_error!("oachat: settle of {} failed: {error}", row.id);
                if attempt == 0 {
                    worker::Delay::from(std::time::Duration::from_millis(200)).await;
                }
            }
        }
    }
    false
}

/// The client's error for a refusal; for a guest under a guest pool, the deployment's lease
/// is the guests' share.
fn refused(refusal: Refusal, now: u64, pooled_guest: bool) -> ProxyError {
    let seconds_until = |at_ms: u64| at_ms.saturating_sub(now).div_ceil(1000).max(1);
    match refusal {
        Refusal::Rate { retry_after_ms } => ProxyError::RateLimited {
            retry_after_s: retry_after_ms.div_ceil(1000).max(1),
        },
        Refusal::Rounds { max } => ProxyError::MaxRounds { max },
        Refusal::Blocked => ProxyError::UserBlocked,
        Refusal::Budget {
            which,
            resets_at_ms,
        } => ProxyError::BudgetExceeded {
            scope: match which {
                BudgetKind::Tokens => BudgetScope::UserTokens,
                BudgetKind::Usd => BudgetScope::UserUsd,
                BudgetKind::Deployment if pooled_guest => BudgetScope::Guests,
                BudgetKind::Deployment => BudgetScope::Deployment,
                BudgetKind::MonthlyTokens => BudgetScope::UserMonthlyTokens,
                BudgetKind::MonthlyUsd => BudgetScope::UserMonthlyUsd,
                BudgetKind::DeploymentMonthly => BudgetScope::DeploymentMonthly,
                BudgetKind::Department => BudgetScope::Department,
                BudgetKind::DepartmentMonthly => BudgetScope::DepartmentMonthly,
            },
            retry_after_s: seconds_until(resets_at_ms),
        },
    }
}
