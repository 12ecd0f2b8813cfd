//! Who is calling: the bearer credential, classified and (for user tokens) verified.
//!
//! Two kinds of credential reach the proxy: short-lived HS256 user tokens minted by the OA
//! backend (what the widget carries), and virtual API keys (`oak-...`) created through the
//! admin API for server-side callers such as the official OpenAI SDKs.

use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::ProxyError;
use crate::jwt::{verify_hs256, JwtError};

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
    /// The user token's `dept`, for server tools' webhooks.
    pub dept: Option<String>,
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
    // A leaked token is only as dangerous as it is long-lived: the OA backend mints short ones.
    let lifetime_s = claims
        .exp
        .saturating_sub(claims.iat.unwrap_or(now_s).min(now_s));
    if lifetime_s > config.max_token_lifetime_s {
        return Err(ProxyError::TokenRefused {
            reason: "it lives longer than this deployment's max_token_lifetime_s",
        });
    }
    if let Some(issuer) = &config.token_issuer {
        if claims.iss.as_deref() != Some(issuer.as_str()) {
            return Err(ProxyError::TokenRefused {
                reason: "its `iss` is not this deployment's token_issuer",
            });
        }
    }
    if let Some(audience) = &config.token_audience {
        if !claims.audience_includes(audience) {
            return Err(ProxyError::TokenRefused {
                reason: "its `aud` does not include this deployment's token_audience",
            });
        }
    }
    let tier = match claims.tier.as_deref() {
        Some(tier) if config.tiers.contains_key(tier) => tier.to_string(),
        _ => config.default_tier.clone(),
    };
    Ok(Identity {
        user: format!("u:{}", claims.sub),
        name: claims.name,
        dept: claims.dept,
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

/// A guest. The device id is chosen by the browser, so it is never the limit's key on its own:
/// sixty fresh ids would be sixty fresh budgets. Guest limits are keyed by the client's
/// address (`CF-Connecting-IP`, set by Cloudflare's edge and not by the client), IPv6 by its
/// /64 (one subscriber's whole prefix); the device id is kept as the guest's name. Guests
/// without a known address share one bucket.
pub fn guest_identity(
    device_id: &str,
    client_ip: Option<&str>,
    config: &Config,
) -> Result<Identity, ProxyError> {
    let valid = (8..=64).contains(&device_id.len())
        && device_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !config.guest_mode || !valid {
        return Err(ProxyError::MissingCredential);
    }
    let network = client_ip.map_or_else(|| "unknown".to_string(), guest_network);
    Ok(Identity {
        user: format!("g:{network}"),
        name: Some(device_id.to_string()),
        dept: None,
        tier: config.guest_tier.clone(),
        credential: Credential::Guest,
    })
}

/// The network a guest is limited by: an IPv4 address as it is, an IPv6 address by its first
/// four groups (the /64 one subscriber gets), anything else hashed to a short fixed token.
pub fn guest_network(ip: &str) -> String {
    let ip = ip.trim();
    if let Ok(v4) = ip.parse::<std::net::Ipv4Addr>() {
        return v4.to_string();
    }
    if let Ok(v6) = ip.parse::<std::net::Ipv6Addr>() {
        if let Some(v4) = v6.to_ipv4_mapped() {
            return v4.to_string();
        }
        let groups = v6.segments();
        return format!(
            "{:x}:{:x}:{:x}:{:x}::/64",
            groups[0], groups[1], groups[2], groups[3]
        );
    }
    let digest = Sha256::digest(ip.as_bytes());
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("x{hex}")
}

/// oachat's own id for a caller, sent upstream as `user` (OpenAI's abuse monitoring wants a
/// stable one): a keyed hash, so the upstream learns neither the user's id nor anything the
/// client typed.
pub fn opaque_user_id(user: &str, key: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; this arm cannot run.
        Err(_) => return "oa_anonymous".to_string(),
    };
    mac.update(b"oachat-user:");
    mac.update(user.as_bytes());
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
    format!("oa_{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::sign_hs256;
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
        let ip = Some("203.0.113.9");
        assert!(guest_identity("device-123456", ip, &config).is_err());
        config.guest_mode = true;
        let guest = guest_identity("device-123456", ip, &config).unwrap();
        assert_eq!(guest.user, "g:203.0.113.9");
        assert_eq!(guest.name.as_deref(), Some("device-123456"));
        assert!(guest_identity("short", ip, &config).is_err());
        assert!(guest_identity("bad id with spaces", ip, &config).is_err());
    }

    #[test]
    fn fresh_device_ids_do_not_mint_fresh_guest_budgets() {
        let config = Config {
            guest_mode: true,
            ..Config::default()
        };
        let ip = Some("198.51.100.7");
        let first = guest_identity("device-aaaaaaaa", ip, &config).unwrap();
        let second = guest_identity("device-bbbbbbbb", ip, &config).unwrap();
        assert_eq!(first.user, second.user);
        // One IPv6 subscriber's /64 is one guest network, whatever the interface id.
        assert_eq!(
            guest_network("2001:db8:1:2::a"),
            guest_network("2001:db8:1:2:ffff::1")
        );
        assert_ne!(
            guest_network("2001:db8:1:2::a"),
            guest_network("2001:db8:1:3::a")
        );
        assert_eq!(guest_network("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(
            guest_identity("device-aaaaaaaa", None, &config)
                .unwrap()
                .user,
            "g:unknown"
        );
    }

    #[test]
    fn the_opaque_user_id_is_stable_keyed_and_reveals_nothing() {
        let one = opaque_user_id("u:alice", b"secret-1");
        assert_eq!(one, opaque_user_id("u:alice", b"secret-1"));
        assert_ne!(one, opaque_user_id("u:bob", b"secret-1"));
        assert_ne!(one, opaque_user_id("u:alice", b"secret-2"));
        assert!(one.starts_with("oa_") && !one.contains("alice"));
    }

    #[test]
    fn token_lifetime_issuer_and_audience_are_enforced() {
        let mut config = Config::default();
        let now = 1_000_000;
        let day = 86_400;
        let long = sign_hs256(&json!({"sub":"a","iat":now,"exp":now + day + 1}), SECRET);
        assert!(matches!(
            identify_user_token(&long, Some(SECRET), now, &config),
            Err(ProxyError::TokenRefused { .. })
        ));
        // Without `iat`, what is left of its life counts.
        let no_iat = sign_hs256(&json!({"sub":"a","exp":now + 2 * day}), SECRET);
        assert!(identify_user_token(&no_iat, Some(SECRET), now, &config).is_err());
        let fine = sign_hs256(&json!({"sub":"a","iat":now,"exp":now + 600}), SECRET);
        assert!(identify_user_token(&fine, Some(SECRET), now, &config).is_ok());

        config.token_issuer = Some("https://oa.example.com".into());
        config.token_audience = Some("oachat".into());
        assert!(identify_user_token(&fine, Some(SECRET), now, &config).is_err());
        let claims =
            json!({"sub":"a","exp":now + 600,"iss":"https://oa.example.com","aud":["x","oachat"]});
        let scoped = sign_hs256(&claims, SECRET);
        assert!(identify_user_token(&scoped, Some(SECRET), now, &config).is_ok());
        let wrong = sign_hs256(
            &json!({"sub":"a","exp":now + 600,"iss":"https://oa.example.com","aud":"other"}),
            SECRET,
        );
        assert!(identify_user_token(&wrong, Some(SECRET), now, &config).is_err());
    }

    #[test]
    fn virtual_key_ids_derive_from_the_hash() {
        let hash = virtual_key_hash("oak-secret");
        assert_eq!(hash.len(), 64);
        assert!(virtual_key_id(&hash).starts_with("vk_"));
        assert!(!virtual_key_id(&hash).contains("secret"));
    }
}
