//! Authentication glue: user tokens are verified in the core; virtual keys are looked up in
//! their own `UserDo` (named by the key's hash); guests need guest mode and a device id, and
//! are limited by their network address.

use oachat_core::error::ProxyError;
use oachat_core::identity::{
    bearer, guest_identity, identify_user_token, virtual_key_hash, virtual_key_id, Bearer,
    Credential, Identity,
};
use worker::{Env, Request};

use crate::error::internal;
use crate::runtime::Runtime;
use crate::time::now_ms;
use crate::user_client::UserClient;

/// The header a guest widget sends its device id in (guest mode only).
pub const DEVICE_HEADER: &str = "x-oachat-device";

pub async fn authenticate(
    req: &Request,
    env: &Env,
    runtime: &Runtime,
) -> Result<Identity, ProxyError> {
    let header = req.headers().get("authorization").ok().flatten();
    match bearer(header.as_deref()) {
        Bearer::UserToken(token) => identify_user_token(
            token,
            runtime.signing_secret.as_deref(),
            now_ms() / 1000,
            &runtime.config,
        ),
        Bearer::VirtualKey(key) => virtual_key(env, runtime, key).await,
        Bearer::Missing => {
            let device = req
                .headers()
                .get(DEVICE_HEADER)
                .ok()
                .flatten()
                .unwrap_or_default();
            // Set by Cloudflare's edge from the connection, never taken from the client.
            let client_ip = req.headers().get("cf-connecting-ip").ok().flatten();
            guest_identity(&device, client_ip.as_deref(), &runtime.config)
        }
    }
}

async fn virtual_key(env: &Env, runtime: &Runtime, key: &str) -> Result<Identity, ProxyError> {
    let hash = virtual_key_hash(key);
    let object = format!("vkey:{hash}");
    let record = UserClient::new(env, &object)
        .virtual_key()
        .await
        .map_err(internal)?;
    // The object is found by the key's hash, so reaching a record already proves the key;
    // no comparison of secrets happens here at all.
    let record = record
        .filter(|record| !record.revoked)
        .ok_or(ProxyError::InvalidCredential)?;
    let tier = record
        .tier
        .filter(|tier| runtime.config.tiers.contains_key(tier))
        .unwrap_or_else(|| runtime.config.default_tier.clone());
    let id = virtual_key_id(&hash);
    Ok(Identity {
        user: format!("k:{id}"),
        name: Some(record.name),
        dept: None,
        tier,
        credential: Credential::VirtualKey { id },
    })
}
