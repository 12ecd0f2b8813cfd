//! Who is calling: the bearer credential, classified and (for user tokens) verified.
//!
//! Two kinds of credential reach the proxy: short-lived HS256 user tokens minted by the OA
//! backend (what the widget carries), and virtual API keys (`oak-...`) created through the
//! admin API for server-side callers such as the official OpenAI SDKs.

use sha2::{Digest, Sha256};

use crate::core::config::Config;
use crate::core::error::ProxyError;
use crate::core::jwt::{verify_hs256, JwtError};

/// The prefix of oachat's virtual API keys; anything else with dots is tried as a JWT.
pub const VIRTUAL_KEY_PREFIX: &str = "oak-";

/// The credential kind, as recorded in the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    UserToken,
    VirtualKey { id: String },
    Guest,
}

impl Credential {
    pub fn label(&self) -> String {
        match self {
            Credential::UserToken => "jwt".into(),
            Credential::VirtualKey { id } => format!("vkey:{id}"),
            Credential::Guest => "guest".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Stable and namespaced by credential kind: `u:<sub>`, `k:<key id>`, `g:<device>`.
    /// Names the user's Durable Object.
    pub user: String,
    pub name: Option<String>,
    pub tier: String,
    pub credential: Credential,
}

/// What the `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bearer<'a> {
    Missing,
    UserToken(&'a str),
    VirtualKey(&'a str),
}

pub fn bearer(header: Option<&str>) -> Bearer<'_> {
    let Some(header) = header else {
        return Bearer::Missing;
    };
    let header = header.trim();
    let token = match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
        _ => return Bearer::Missing,
    };
    if token.is_empty() {
        Bearer::Missing
    } else if token.starts_with(VIRTUAL_KEY_PREFIX) {
        Bearer::VirtualKey(token)
    } else {
        Bearer::UserToken(token)
    }
}

/// Verifies a user token and maps its claims to an identity with a known tier.
pub fn identify_user_token(
    token: &str,
    secret: Option<&[u8]>,
    now_s: u64,
    config: &Config,
) -> Result<Identity, ProxyError> {
    let Some(secret) = secret else {
        return Err(ProxyError::InvalidCredential);
    };
    let claims =
        verify_hs256(token, secret, now_s, config.clock_skew_s).map_err(|error| match error {
            JwtError::Expired => ProxyError::ExpiredCredential,
            JwtError::Invalid(_) => ProxyError::InvalidCredential,
        })?;
    let tier = match claims.tier.as_deref() {
        Some(tier) if config.tiers.contains_key(tier) => tier.to_string(),
        _ => config.default_tier.clone(),
    };
    Ok(Identity {
        user: format!("u:{}", claims.sub),
        name: claims.name,
        tier,
        credential: Credential::UserToken,
    })
}

/// Virtual keys are stored only as this hash; the key itself is shown once, at creation.
pub fn virtual_key_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The public id of a virtual key: the first 12 hex digits of its hash.
pub fn virtual_key_id(hash: &str) -> String {
    format!("vk_{}", &hash[..hash.len().min(12)])
}

/// A guest's device id is chosen by the browser, so it is only trusted as a rate-limit
/// bucket: it must look like an id, nothing more.
pub fn guest_identity(device_id: &str, config: &Config) -> Result<Identity, ProxyError> {
    let valid = (8..=64).contains(&device_id.len())
        && device_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !config.guest_mode || !valid {
        return Err(ProxyError::MissingCredential);
    }
    Ok(Identity {
        user: format!("g:{device_id}"),
        name: None,
        tier: config.guest_tier.clone(),
        credential: Credential::Guest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::jwt::sign_hs256;
    use serde_json::json;

    const SECRET: &[u8] = b"test-signing-secret";

    #[test]
    fn bearer_kinds() {
        assert_eq!(bearer(None), Bearer::Missing);
        assert_eq!(bearer(Some("Basic abc")), Bearer::Missing);
        assert_eq!(bearer(Some("Bearer ")), Bearer::Missing);
        assert_eq!(
            bearer(Some("bearer oak-123")),
            Bearer::VirtualKey("oak-123")
        );
        assert_eq!(bearer(Some("Bearer a.b.c")), Bearer::UserToken("a.b.c"));
    }

    #[test]
    fn user_tokens_map_to_known_tiers() {
        let config = Config::default();
        let token = sign_hs256(
            &json!({"sub":"alice","name":"Alice","tier":"nope","exp":2_000}),
            SECRET,
        );
        let identity = identify_user_token(&token, Some(SECRET), 1_000, &config).unwrap();
        assert_eq!(identity.user, "u:alice");
        assert_eq!(identity.tier, config.default_tier);
    }

    #[test]
    fn expired_forged_and_unconfigured_are_distinguished() {
        let config = Config::default();
        let token = sign_hs256(&json!({"sub":"a","exp":1_000}), SECRET);
        let late = 1_000 + config.clock_skew_s + 1;
        assert_eq!(
            identify_user_token(&token, Some(SECRET), late, &config),
            Err(ProxyError::ExpiredCredential)
        );
        assert_eq!(
            identify_user_token(&token, Some(b"other"), 900, &config),
            Err(ProxyError::InvalidCredential)
        );
        assert_eq!(
            identify_user_token(&token, None, 900, &config),
            Err(ProxyError::InvalidCredential)
        );
    }

    #[test]
    fn guests_need_guest_mode_and_a_sane_device_id() {
        let mut config = Config::default();
        assert!(guest_identity("device-123456", &config).is_err());
        config.guest_mode = true;
        assert_eq!(
            guest_identity("device-123456", &config).unwrap().user,
            "g:device-123456"
        );
        assert!(guest_identity("short", &config).is_err());
        assert!(guest_identity("bad id with spaces", &config).is_err());
    }

    #[test]
    fn virtual_key_ids_derive_from_the_hash() {
        let hash = virtual_key_hash("oak-secret");
        assert_eq!(hash.len(), 64);
        assert!(virtual_key_id(&hash).starts_with("vk_"));
        assert!(!virtual_key_id(&hash).contains("secret"));
    }
}
