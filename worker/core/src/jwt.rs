//! HS256 JSON Web Tokens that carry a signed-in user's identity from the host page to the proxy,
//! so the widget never passes an unsigned user id (dify #16062). Verification is strict: HS256
//! only, canonical base64url, signature checked in constant time before the claims are read.
//!
//! Errors never include the token or the secret, and say no more than the client needs: whether
//! to refresh the token silently ([`JwtError::Expired`]) or give up ([`JwtError::Invalid`]).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Tokens longer than this are rejected before any decoding. A token with a handful of claims is
/// a few hundred bytes; the cap bounds the work an anonymous request can cause.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

const HS256_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The claims oachat reads. Others in the token are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's stable id in the host application; limits and budgets are keyed by it.
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's department, passed on to server tools' webhooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dept: Option<String>,
    /// The plan or group whose limits apply to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Required: a token without an expiry would be valid forever once leaked.
    #[serde(deserialize_with = "numeric_date")]
    pub exp: u64,
    #[serde(
        default,
        deserialize_with = "optional_numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<u64>,
    #[serde(
        default,
        deserialize_with = "optional_numeric_date",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<u64>,
    /// Who minted the token; checked against `token_issuer` when that is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// Whom the token is for: a string or a list (RFC 7519); checked against
    /// `token_audience` when that is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Value>,
}

impl Claims {
    /// Whether `aud` names `audience` (as the string itself or in the list).
    pub fn audience_includes(&self, audience: &str) -> bool {
        match &self.aud {
            Some(Value::String(one)) => one == audience,
            Some(Value::Array(many)) => many.iter().any(|item| item.as_str() == Some(audience)),
            _ => false,
        }
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Well-formed and correctly signed, but past its expiry: the client should fetch a new one.
    Expired,
    /// Anything else; retrying with the same token cannot succeed.
    Invalid(InvalidToken),
}

/// The detail behind [`JwtError::Invalid`], for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidToken {
    /// No secret is configured; verifying against an empty key would accept forged tokens.
    NoSecret,
    /// Not three base64url segments, too long, or a header that is not JSON.
    Malformed,
    /// `alg` is not HS256 (`none` included).
    UnsupportedAlgorithm,
    /// The header lists `crit` extensions, which must be rejected when not understood (RFC 7515).
    UnsupportedCriticalHeader,
    BadSignature,
    /// The payload is not JSON or lacks a required claim such as `exp`.
    BadClaims,
    /// `nbf` is later than now plus the leeway.
    NotYetValid,
    /// `sub` is missing or blank, so there is nobody to meter.
    MissingSubject,
}

impl JwtError {
    pub fn is_expired(&self) -> bool {
        matches!(self, JwtError::Expired)
    }
}

impl fmt::Display for JwtError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self {
            JwtError::Expired => "token expired",
            JwtError::Invalid(InvalidToken::NoSecret) => "token verification is not configured",
            JwtError::Invalid(InvalidToken::Malformed) => "malformed token",
            JwtError::Invalid(InvalidToken::UnsupportedAlgorithm) => "unsupported token algorithm",
            JwtError::Invalid(InvalidToken::UnsupportedCriticalHeader) => {
                "unsupported critical token header"
            }
            JwtError::Invalid(InvalidToken::BadSignature) => "bad token signature",
            JwtError::Invalid(InvalidToken::BadClaims) => "bad token claims",
            JwtError::Invalid(InvalidToken::NotYetValid) => "token not yet valid",
            JwtError::Invalid(InvalidToken::MissingSubject) => "token has no subject",
        };
        formatter.write_str(reason)
    }
}

impl std::error::Error for JwtError {}

impl From<InvalidToken> for JwtError {
    fn from(reason: InvalidToken) -> Self {
        JwtError::Invalid(reason)
    }
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    crit: Option<Value>,
}

/// Verifies an HS256 token at time `now_s` (Unix seconds), allowing `leeway_s` of clock skew on
/// `exp` and `nbf`, and returns its claims.
pub fn verify_hs256(
    token: &str,
    secret: &[u8],
    now_s: u64,
    leeway_s: u64,
) -> Result<Claims, JwtError> {
    if secret.is_empty() {
        return Err(InvalidToken::NoSecret.into());
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(InvalidToken::Malformed.into());
    }
    let mut segments = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(InvalidToken::Malformed.into());
    };

    let header: Header = decode_json(header_b64).ok_or(InvalidToken::Malformed)?;
    // Checking `alg` ourselves, rather than trusting it to choose the algorithm, is what defeats
    // `alg: none` and algorithm-confusion attacks.
    if header.alg != "HS256" {
        return Err(InvalidToken::UnsupportedAlgorithm.into());
    }
    if header.crit.is_some() {
        return Err(InvalidToken::UnsupportedCriticalHeader.into());
    }

    // The signature is checked before the payload is parsed, so unauthenticated input gets no
    // further than the header.
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| InvalidToken::Malformed)?;
    let signing_input_len = header_b64.len() + 1 + payload_b64.len();
    let mut mac = keyed_mac(secret);
    mac.update(&token.as_bytes()[..signing_input_len]);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature)
        .map_err(|_| InvalidToken::BadSignature)?;

    let claims: Claims = decode_json(payload_b64).ok_or(InvalidToken::BadClaims)?;
    if now_s >= claims.exp.saturating_add(leeway_s) {
        return Err(JwtError::Expired);
    }
    if claims
        .nbf
        .is_some_and(|nbf| nbf > now_s.saturating_add(leeway_s))
    {
        return Err(InvalidToken::NotYetValid.into());
    }
    if claims.sub.trim().is_empty() {
        return Err(InvalidToken::MissingSubject.into());
    }
    Ok(claims)
}

/// Signs `claims` as an HS256 token, for tests and admin tooling that mint tokens.
pub fn sign_hs256(claims: &Value, secret: &[u8]) -> String {
    let mut token = URL_SAFE_NO_PAD.encode(HS256_HEADER);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims.to_string(), &mut token);
    let mut mac = keyed_mac(secret);
    mac.update(token.as_bytes());
    let signature = mac.finalize().into_bytes();
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    token
}

/// Compares two secrets (such as an admin token) without an early exit on the first differing
/// byte, so response timing does not reveal how much of a guess was right. Unequal lengths return
/// at once: the length of a secret is not what needs hiding.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0u8, |difference, (x, y)| difference | (x ^ y));
    // Keeps the optimiser from turning the fold back into an early-exit comparison.
    std::hint::black_box(difference) == 0
}

fn keyed_mac(secret: &[u8]) -> HmacSha256 {
    // HMAC hashes or pads any key to its block size, so construction cannot fail; the `Result`
    // exists for fixed-length MACs sharing the trait.
    HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of every length")
}

fn decode_json<T: for<'de> Deserialize<'de>>(segment: &str) -> Option<T> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A JWT NumericDate: seconds since the epoch, possibly fractional (RFC 7519 §2). Fractions are
/// dropped, which ends a token at most a second early.
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    let seconds = f64::deserialize(deserializer)?;
    if !(seconds.is_finite() && seconds >= 0.0) {
        return Err(serde::de::Error::custom("NumericDate out of range"));
    }
    Ok(seconds as u64)
}

fn optional_numeric_date<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct Wrapper(#[serde(deserialize_with = "numeric_date")] u64);
    let wrapper = Option::<Wrapper>::deserialize(deserializer)?;
    Ok(wrapper.map(|Wrapper(seconds)| seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &[u8] = b"test-secret-0123456789abcdef";
    const NOW: u64 = 1_700_000_000;

    fn b64(text: &str) -> String {
        URL_SAFE_NO_PAD.encode(text)
    }

    /// Builds a token by hand from raw header and payload JSON, signed with `secret`.
    fn hand_made(header: &str, payload: &str, secret: &[u8]) -> String {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        let mut mac = keyed_mac(secret);
        mac.update(signing_input.as_bytes());
        let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{signature}")
    }

    fn valid_payload() -> Value {
        json!({"sub": "u-42", "name": "Ada", "tier": "pro", "exp": NOW + 600, "iat": NOW})
    }

    #[track_caller]
    fn check(token: &str, expected: Result<Claims, JwtError>) {
        let verified = verify_hs256(token, SECRET, NOW, 30);
        assert_eq!(verified, expected);
        if let Err(error) = verified {
            let message = error.to_string();
            assert!(token.is_empty() || !message.contains(token));
            assert!(!message.contains("test-secret"));
        }
    }

    #[track_caller]
    fn check_invalid(token: &str, reason: InvalidToken) {
        check(token, Err(JwtError::Invalid(reason)));
    }

    #[test]
    fn hmac_matches_the_jwt_io_known_answer() {
        // jwt.io's example token, signed with the secret "your-256-bit-secret".
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
        // Its signature verifies; it is refused only because it has no `exp`.
        assert_eq!(
            verify_hs256(token, b"your-256-bit-secret", NOW, 0),
            Err(JwtError::Invalid(InvalidToken::BadClaims))
        );
        assert_eq!(
            verify_hs256(token, b"another-secret", NOW, 0),
            Err(JwtError::Invalid(InvalidToken::BadSignature))
        );
    }

    #[test]
    fn hand_made_token_verifies_and_matches_sign() {
        let payload = r#"{"sub":"u-42","name":"Ada","tier":"pro","exp":1700000600,"iat":1700000000,"extra":[1]}"#;
        let token = hand_made(HS256_HEADER, payload, SECRET);
        let expected = Claims {
            sub: "u-42".to_owned(),
            name: Some("Ada".to_owned()),
            dept: None,
            tier: Some("pro".to_owned()),
            exp: NOW + 600,
            iat: Some(NOW),
            nbf: None,
            iss: None,
            aud: None,
        };
        check(&token, Ok(expected.clone()));
        check(&sign_hs256(&valid_payload(), SECRET), Ok(expected));
        // sign_hs256 produces exactly the hand-made encoding for the same payload text.
        let payload_value: Value = serde_json::from_str(payload).unwrap_or_default();
        assert_eq!(
            sign_hs256(&payload_value, SECRET),
            hand_made(HS256_HEADER, &payload_value.to_string(), SECRET)
        );
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let token = sign_hs256(&valid_payload(), SECRET);
        let segments: Vec<&str> = token.split('.').collect();
        let forged_payload = b64(&json!({"sub": "admin", "exp": NOW + 600}).to_string());
        let forged = format!("{}.{}.{}", segments[0], forged_payload, segments[2]);
        check_invalid(&forged, InvalidToken::BadSignature);
        check_invalid(&format!("{token}x"), InvalidToken::BadSignature);
        assert_eq!(
            verify_hs256(&token, b"wrong-secret", NOW, 30),
            Err(JwtError::Invalid(InvalidToken::BadSignature))
        );
    }

    #[test]
    fn algorithms_other_than_hs256_are_rejected() {
        let payload = valid_payload().to_string();
        let unsigned = format!(
            "{}.{}.",
            b64(r#"{"alg":"none","typ":"JWT"}"#),
            b64(&payload)
        );
        check_invalid(&unsigned, InvalidToken::UnsupportedAlgorithm);
        // Even correctly HMAC-signed, a token claiming another algorithm is refused.
        for header in [
            r#"{"alg":"none"}"#,
            r#"{"alg":"HS512"}"#,
            r#"{"alg":"RS256"}"#,
            r#"{"alg":"hs256"}"#,
        ] {
            check_invalid(
                &hand_made(header, &payload, SECRET),
                InvalidToken::UnsupportedAlgorithm,
            );
        }
        check_invalid(
            &hand_made(r#"{"typ":"JWT"}"#, &payload, SECRET),
            InvalidToken::Malformed,
        );
        check_invalid(
            &hand_made(r#"{"alg":"HS256","crit":["exp"]}"#, &payload, SECRET),
            InvalidToken::UnsupportedCriticalHeader,
        );
    }

    #[test]
    fn expiry_and_not_before_honour_the_leeway() {
        let token_expiring_at = |exp: u64| sign_hs256(&json!({"sub": "u", "exp": exp}), SECRET);
        // Leeway 30 s: valid until exp + 30 exclusive.
        check(
            &token_expiring_at(NOW - 29),
            Ok(Claims {
                sub: "u".to_owned(),
                name: None,
                dept: None,
                tier: None,
                exp: NOW - 29,
                iat: None,
                nbf: None,
                iss: None,
                aud: None,
            }),
        );
        check(&token_expiring_at(NOW - 30), Err(JwtError::Expired));
        check(&token_expiring_at(NOW - 86_400), Err(JwtError::Expired));
        assert!(JwtError::Expired.is_expired());

        let not_before =
            |nbf: u64| sign_hs256(&json!({"sub": "u", "exp": NOW + 600, "nbf": nbf}), SECRET);
        assert!(verify_hs256(&not_before(NOW + 30), SECRET, NOW, 30).is_ok());
        check_invalid(&not_before(NOW + 31), InvalidToken::NotYetValid);
        // Fractional NumericDates are accepted.
        let fractional = sign_hs256(
            &json!({"sub": "u", "exp": NOW as f64 + 0.5 + 100.0}),
            SECRET,
        );
        assert_eq!(
            verify_hs256(&fractional, SECRET, NOW, 0).map(|claims| claims.exp),
            Ok(NOW + 100)
        );
    }

    #[test]
    fn bad_encodings_and_claims_are_invalid_not_panics() {
        let signed = |payload: Value| sign_hs256(&payload, SECRET);
        check_invalid("", InvalidToken::Malformed);
        check_invalid("a.b", InvalidToken::Malformed);
        check_invalid("a.b.c.d", InvalidToken::Malformed);
        check_invalid("!!!.e30.AAAA", InvalidToken::Malformed);
        check_invalid(&"a".repeat(MAX_TOKEN_BYTES + 1), InvalidToken::Malformed);
        let token = signed(valid_payload());
        // Padding is not canonical base64url.
        check_invalid(&format!("{token}="), InvalidToken::Malformed);
        check_invalid(
            &hand_made(HS256_HEADER, "not json", SECRET),
            InvalidToken::BadClaims,
        );
        check_invalid(&signed(json!({"sub": "u"})), InvalidToken::BadClaims);
        check_invalid(
            &signed(json!({"sub": "u", "exp": -5})),
            InvalidToken::BadClaims,
        );
        check_invalid(
            &signed(json!({"sub": "u", "exp": "soon"})),
            InvalidToken::BadClaims,
        );
        check_invalid(
            &signed(json!({"sub": 7, "exp": NOW + 9})),
            InvalidToken::BadClaims,
        );
        check_invalid(
            &signed(json!({"sub": " ", "exp": NOW + 9})),
            InvalidToken::MissingSubject,
        );
        check_invalid(
            &signed(json!({"exp": NOW + 9, "sub": ""})),
            InvalidToken::MissingSubject,
        );
        assert_eq!(
            verify_hs256(&sign_hs256(&valid_payload(), b""), b"", NOW, 0),
            Err(JwtError::Invalid(InvalidToken::NoSecret))
        );
    }

    #[test]
    fn constant_time_comparison() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"admin-token", b"admin-token"));
        assert!(!constant_time_eq(b"admin-token", b"admin-tokeN"));
        assert!(!constant_time_eq(b"Admin-token", b"admin-token"));
        assert!(!constant_time_eq(b"admin", b"admin-token"));
    }
}
