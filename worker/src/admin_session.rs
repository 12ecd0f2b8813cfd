//! The admin console's sign-in shell: `POST /admin/session` trades the admin token for the
//! session cookie, `GET /admin/session` tells a reloaded page its CSRF token,
//! `POST /admin/session/logout` ends it, and [`authorize`] accepts either the bearer admin
//! token (curl and scripts, unchanged) or the cookie (the console, CSRF-checked). The signing
//! and checking are `oachat_core::admin_session`.

use oachat_core::admin_session::{
    clear_cookie, session_from_cookies, session_ttl_s, set_cookie, SessionError, SessionKey,
    CSRF_HEADER,
};
use oachat_core::error::ProxyError;
use oachat_core::jwt::constant_time_eq;
use serde::Deserialize;
use serde_json::json;
use worker::{Env, Method, Request, Response};

use crate::error::HandlerError;
use crate::respond::{json_response, Cors};
use crate::runtime::{text_binding, Runtime};
use crate::time::now_ms;

/// Who is calling the admin API.
pub enum AdminCaller {
    /// `Authorization: Bearer <OACHAT_ADMIN_TOKEN>`: a script; a browser never attaches it by
    /// itself, so it needs no CSRF token.
    Bearer,
    /// The console's cookie, which a browser does attach by itself: state-changing calls must
    /// also carry the session's CSRF token.
    Session { token: String },
}

/// The configured admin token; without one the admin API and the console do not exist.
fn admin_token(runtime: &Runtime) -> Result<&str, ProxyError> {
    runtime.admin_token.as_deref().ok_or(ProxyError::NotFound)
}

fn session_key(runtime: &Runtime) -> Result<SessionKey, ProxyError> {
    Ok(SessionKey::derive(
        admin_token(runtime)?,
        runtime.signing_secret.as_deref(),
    ))
}

fn header(req: &Request, name: &str) -> String {
    req.headers().get(name).ok().flatten().unwrap_or_default()
}

/// Accepts the bearer admin token or a valid session cookie, and for a cookie on a
/// state-changing method, the matching `x-oachat-csrf` header (403 otherwise).
pub fn authorize(req: &Request, runtime: &Runtime) -> Result<AdminCaller, ProxyError> {
    let expected = admin_token(runtime)?;
    let authorization = header(req, "authorization");
    if !authorization.is_empty() {
        let given = authorization
            .strip_prefix("Bearer ")
            .unwrap_or_default()
            .trim();
        if given.is_empty() {
            return Err(ProxyError::MissingCredential);
        }
        if !constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            return Err(ProxyError::InvalidCredential);
        }
        return Ok(AdminCaller::Bearer);
    }
    let cookies = header(req, "cookie");
    let token = session_from_cookies(&cookies).ok_or(ProxyError::MissingCredential)?;
    let key = session_key(runtime)?;
    key.verify(token, now_ms()).map_err(|error| match error {
        SessionError::Expired => ProxyError::SessionExpired,
        SessionError::Invalid => ProxyError::InvalidCredential,
    })?;
    if changes_state(&req.method()) && !key.csrf_matches(token, &header(req, CSRF_HEADER)) {
        return Err(ProxyError::CsrfRefused);
    }
    Ok(AdminCaller::Session {
        token: token.to_string(),
    })
}

fn changes_state(method: &Method) -> bool {
    !matches!(method, Method::Get | Method::Head | Method::Options)
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// `POST /admin/session` `{"token": "<OACHAT_ADMIN_TOKEN>"}` (16 KiB body limit): sets the
/// session cookie and answers the CSRF token and when the session ends.
pub async fn sign_in(
    req: &mut Request,
    env: &Env,
    runtime: &Runtime,
) -> Result<Response, HandlerError> {
    let expected = admin_token(runtime)?;
    let sign_in: SignIn =
        crate::body::small_json(req, "token", "{\"token\": \"<admin token>\"}").await?;
    if !constant_time_eq(sign_in.token.trim().as_bytes(), expected.as_bytes()) {
        return Err(ProxyError::InvalidCredential.into());
    }
    let ttl_s = session_ttl_s(text_binding(env, "OACHAT_ADMIN_SESSION_TTL_S").as_deref());
    let session = session_key(runtime)?.issue(now_ms(), ttl_s, &crate::random::hex(12));
    let mut response = json_response(
        200,
        &json!({ "csrf": session.csrf, "expires_ms": session.expires_ms }),
        &Cors::default(),
    )?;
    response
        .headers_mut()
        .set("set-cookie", &set_cookie(&session, ttl_s))?;
    Ok(response)
}

/// `GET /admin/session`: the signed-in page's CSRF token and expiry (after a reload the page
/// has the cookie but not the token). 401 without a valid session.
pub fn current(req: &Request, runtime: &Runtime) -> Result<Response, HandlerError> {
    let AdminCaller::Session { token } = authorize(req, runtime)? else {
        return Ok(json_response(
            200,
            &json!({ "bearer": true }),
            &Cors::default(),
        )?);
    };
    let key = session_key(runtime)?;
    let expires_ms = key
        .verify(&token, now_ms())
        .map_err(|_| ProxyError::InvalidCredential)?;
    Ok(json_response(
        200,
        &json!({ "csrf": key.csrf_for(&token), "expires_ms": expires_ms }),
        &Cors::default(),
    )?)
}

/// `POST /admin/session/logout` (CSRF-checked like every console write): clears the cookie.
/// The token itself stays valid until it expires (sessions are stateless); rotating the admin
/// token ends them all.
pub fn logout(req: &Request, runtime: &Runtime) -> Result<Response, HandlerError> {
    authorize(req, runtime)?;
    let mut response = json_response(200, &json!({ "ok": true }), &Cors::default())?;
    response.headers_mut().set("set-cookie", &clear_cookie())?;
    Ok(response)
}
