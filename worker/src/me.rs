//! `GET /v1/oachat/me`: the caller's own quota (today, this month, the rate window), read
//! from their object without taking anything. The core's `me` module shapes the answer.

use oachat_core::calendar::Zone;
use oachat_core::me::{me, Caller, Limits};
use worker::{Env, Request, Response};

use crate::auth;
use crate::error::{internal, HandlerError};
use crate::respond::{json_response, Cors};
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::user_client::UserClient;

/// The endpoint takes no body: anything sent is refused (413) unread.
const ME_BODY_BYTES: u64 = 0;

pub async fn show(
    mut req: Request,
    env: &Env,
    runtime: &Runtime,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    let identity = auth::authenticate(&req, env, runtime).await?;
    crate::body::request_bytes(&mut req, ME_BODY_BYTES).await?;
    let now = now_ms();
    let answer = UserClient::new(env, &identity.user)
        .me(now)
        .await
        .map_err(internal)?;
    let config = &runtime.config;
    // The admin's override rules when it names a tier this deployment knows, as at admission.
    let tier_name = answer
        .tier_override
        .as_deref()
        .filter(|tier| config.tiers.contains_key(*tier))
        .unwrap_or(&identity.tier);
    let Some(tier) = config.tiers.get(tier_name) else {
        return Err(oachat_core::error::ProxyError::Internal.into());
    };
    let caller = Caller {
        user: &identity.user,
        tier_name,
        tier,
        dept: identity.dept.as_deref(),
    };
    let day_limits = Limits {
        tokens: tier.daily_tokens,
        micro_usd: tier.daily_micro_usd(),
    };
    let view = me(
        &caller,
        &Zone::utc(),
        day_limits,
        Limits::default(),
        &answer,
        now,
    );
    Ok(json_response(200, &serde_json::to_value(view)?, cors)?)
}
