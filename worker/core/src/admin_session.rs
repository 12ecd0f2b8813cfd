//! The admin console's sign-in: a stateless, signed session token kept in an HttpOnly cookie,
//! and the CSRF token derived from it that every state-changing console call carries.
//!
//! Nothing is stored: the token is `v1.<expires_ms>.<nonce>.<mac>`, with the MAC under a key
//! derived from both `OACHAT_ADMIN_TOKEN` and `OACHAT_SIGNING_SECRET`, so rotating either one
//! ends every session at once. The CSRF token is a second MAC over the session token (not the
//! cookie itself), so a page that cannot read the HttpOnly cookie can still send it, and a
//! cross-site page that cannot read the console's responses cannot learn it.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::jwt::constant_time_eq;

type HmacSha256 = Hmac<Sha256>;

/// The cookie's name. `__Host-` would pin it to `Path=/`, and the console's cookie is meant to
/// travel only with `/admin` requests, so it is a plain name with `Path=/admin`.
pub const SESSION_COOKIE: &str = "oachat_admin";

/// The header that carries the CSRF token on every state-changing call made with the cookie.
pub const CSRF_HEADER: &str = "x-oachat-csrf";

/// How long a session lasts when `OACHAT_ADMIN_SESSION_TTL_S` does not say: a working day.
pub const DEFAULT_SESSION_TTL_S: u64 = 8 * 3600;

/// The longest lifetime accepted from configuration: a session is meant to be short.
pub const MAX_SESSION_TTL_S: u64 = 7 * 24 * 3600;

/// Session tokens longer than this are refused before any work: a real one is under 100 bytes.
const MAX_TOKEN_LEN: usize = 200;

/// The signing key of sessions and CSRF tokens, derived from the two deployment secrets. The
/// admin token alone would do, but mixing in the signing secret keeps the key unguessable even
/// when a weak admin token is chosen, and a change to either ends all sessions.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    pub fn derive(admin_token: &str, signing_secret: Option<&[u8]>) -> SessionKey {
        let mut mac = keyed(signing_secret.unwrap_or_default());
        mac.update(b"oachat admin session v1\0");
        mac.update(admin_token.as_bytes());
        SessionKey(mac.finalize().into_bytes().into())
    }

    fn mac(&self, purpose: &[u8], text: &str) -> String {
        let mut mac = keyed(&self.0);
        mac.update(purpose);
        mac.update(text.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// A new session that ends `ttl_s` after `now_ms`; `nonce` makes two sign-ins in the same
    /// millisecond different (the shell passes random hex).
    pub fn issue(&self, now_ms: u64, ttl_s: u64, nonce: &str) -> Session {
        let expires_ms = now_ms.saturating_add(ttl_s.saturating_mul(1000));
        let body = format!("v1.{expires_ms}.{nonce}");
        let token = format!("{body}.{}", self.mac(b"session\0", &body));
        let csrf = self.csrf_for(&token);
        Session {
            token,
            csrf,
            expires_ms,
        }
    }

    /// Checks a session token from the cookie: signed by this key, and not yet expired.
    pub fn verify(&self, token: &str, now_ms: u64) -> Result<u64, SessionError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(SessionError::Invalid);
        }
        let (body, signature) = token.rsplit_once('.').ok_or(SessionError::Invalid)?;
        let expected = self.mac(b"session\0", body);
        if !constant_time_eq(signature.as_bytes(), expected.as_bytes()) {
            return Err(SessionError::Invalid);
        }
        // Only a signed body is parsed.
        let mut parts = body.split('.');
        let (Some("v1"), Some(expires), Some(_nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SessionError::Invalid);
        };
        let expires_ms: u64 = expires.parse().map_err(|_| SessionError::Invalid)?;
        if now_ms >= expires_ms {
            return Err(SessionError::Expired);
        }
        Ok(expires_ms)
    }

    /// The CSRF token that belongs to a session token.
    pub fn csrf_for(&self, session_token: &str) -> String {
        self.mac(b"csrf\0", session_token)
    }

    /// Whether `given` (the `x-oachat-csrf` header) belongs to this session.
    pub fn csrf_matches(&self, session_token: &str, given: &str) -> bool {
        let expected = self.csrf_for(session_token);
        constant_time_eq(given.trim().as_bytes(), expected.as_bytes())
    }
}

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of every length; the `Result` exists for fixed-length MACs.
    HmacSha256::new_from_slice(key).expect("HMAC accepts keys of every length")
}

/// A session just issued: the cookie's value, its CSRF token and when it ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub token: String,
    pub csrf: String,
    pub expires_ms: u64,
}

/// Why a session cookie was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// Forged, malformed, or signed by a key that has since been rotated.
    Invalid,
    /// Was valid; sign in again.
    Expired,
}

/// The `Set-Cookie` value that starts a session. HttpOnly keeps it from scripts, Secure from
/// plain-http networks (browsers accept it on http://localhost and 127.0.0.1 for development),
/// SameSite=Strict from every cross-site request, Path=/admin from every other endpoint.
pub fn set_cookie(session: &Session, ttl_s: u64) -> String {
    format!(
        "{SESSION_COOKIE}={}; Max-Age={ttl_s}; Path=/admin; HttpOnly; Secure; SameSite=Strict",
        session.token
    )
}

/// The `Set-Cookie` value that ends a session in the browser.
pub fn clear_cookie() -> String {
    format!("{SESSION_COOKIE}=; Max-Age=0; Path=/admin; HttpOnly; Secure; SameSite=Strict")
}

/// The session cookie's value in a `Cookie` header, if there is one.
pub fn session_from_cookies(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == SESSION_COOKIE && !value.is_empty()).then_some(value)
    })
}

/// The session lifetime from `OACHAT_ADMIN_SESSION_TTL_S`: the default when unset or not a
/// number, at least 1 s and at most [`MAX_SESSION_TTL_S`].
pub fn session_ttl_s(configured: Option<&str>) -> u64 {
    configured
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(|ttl| ttl.clamp(1, MAX_SESSION_TTL_S))
        .unwrap_or(DEFAULT_SESSION_TTL_S)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn key() -> SessionKey {
        SessionKey::derive("admin-token", Some(b"signing-secret"))
    }

    #[test]
    fn an_issued_session_verifies_until_it_expires() {
        let session = key().issue(NOW, 60, "ab12");
        assert_eq!(session.expires_ms, NOW + 60_000);
        assert_eq!(key().verify(&session.token, NOW), Ok(NOW + 60_000));
        assert_eq!(key().verify(&session.token, NOW + 59_999), Ok(NOW + 60_000));
        assert_eq!(
            key().verify(&session.token, NOW + 60_000),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn rotating_either_secret_ends_sessions() {
        let session = key().issue(NOW, 60, "ab12");
        let new_admin = SessionKey::derive("admin-token-2", Some(b"signing-secret"));
        let new_signing = SessionKey::derive("admin-token", Some(b"signing-secret-2"));
        assert_eq!(
            new_admin.verify(&session.token, NOW),
            Err(SessionError::Invalid)
        );
        assert_eq!(
            new_signing.verify(&session.token, NOW),
            Err(SessionError::Invalid)
        );
    }

    #[test]
    fn a_lengthened_session_is_refused() {
        let session = key().issue(NOW, 60, "ab12");
        let (_, signature) = session.token.rsplit_once('.').unwrap();
        let forged = format!("v1.{}.ab12.{signature}", NOW + 3_600_000);
        assert_eq!(key().verify(&forged, NOW), Err(SessionError::Invalid));
        for junk in ["", "v1", "v1.1.2", "....", &"a".repeat(500), "v1.x.ab.sig"] {
            assert_eq!(
                key().verify(junk, NOW),
                Err(SessionError::Invalid),
                "{junk}"
            );
        }
    }

    #[test]
    fn csrf_belongs_to_one_session() {
        let first = key().issue(NOW, 60, "ab12");
        let second = key().issue(NOW, 60, "cd34");
        assert!(key().csrf_matches(&first.token, &first.csrf));
        assert!(!key().csrf_matches(&first.token, &second.csrf));
        assert!(!key().csrf_matches(&first.token, ""));
        assert_ne!(first.csrf, first.token);
    }

    #[test]
    fn cookie_attributes_and_parsing() {
        let session = key().issue(NOW, 60, "ab12");
        let cookie = set_cookie(&session, 60);
        for attribute in [
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
            "Path=/admin",
            "Max-Age=60",
        ] {
            assert!(cookie.contains(attribute), "{cookie}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
        let header = format!("theme=dark; {SESSION_COOKIE}={}; other=1", session.token);
        assert_eq!(session_from_cookies(&header), Some(session.token.as_str()));
        assert_eq!(session_from_cookies("theme=dark"), None);
        assert_eq!(session_from_cookies(&format!("{SESSION_COOKIE}=")), None);
    }

    #[test]
    fn ttl_is_clamped() {
        assert_eq!(session_ttl_s(None), DEFAULT_SESSION_TTL_S);
        assert_eq!(session_ttl_s(Some("junk")), DEFAULT_SESSION_TTL_S);
        assert_eq!(session_ttl_s(Some("3")), 3);
        assert_eq!(session_ttl_s(Some("0")), 1);
        assert_eq!(session_ttl_s(Some("99999999")), MAX_SESSION_TTL_S);
    }
}
