//! The router: one `match` from method and path to a handler, CORS and the error mapping
//! around it. Handlers return `Result<Response, ProxyError>` or, when they also meet platform
//! errors, `Result<Response, HandlerError>` (`error.rs`); only here do errors become responses.

use oachat_core::error::ProxyError;
use oachat_protocol::names::REQUEST_ID_HEADER;
use worker::{Context, Env, Headers, Method, Request, Response, ResponseBuilder};

use crate::error::HandlerError;
use crate::respond::{error_response, json_response, Cors};
use crate::runtime::{runtime, Runtime};
use crate::{admin, alerts_admin, auth, chat, conversations, demo, me, metrics, responses};

pub async fn handle(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    let origin = req.headers().get("origin").ok().flatten();
    let runtime = match runtime(&env) {
        Ok(runtime) => runtime,
        Err(error) => return error_response(&error, &Cors::default()),
    };
    // Browsers send Origin; server-side SDK callers do not and are not subject to it.
    // The admin API and console never answer cross-origin: no CORS headers for any origin
    // (not even `allowed_origins`), so another page can neither read them nor send them the
    // console's CSRF header; the console's own same-origin calls need none.
    let admin = is_admin_path(&req.path());
    let cors = match origin {
        _ if admin => Cors::default(),
        Some(origin) if runtime.config.origin_allowed(&origin) => Cors {
            allowed_origin: Some(origin),
        },
        Some(_) => {
            return error_response(&ProxyError::OriginNotAllowed, &Cors::default());
        }
        None => Cors::default(),
    };
    if req.method() == Method::Options {
        return preflight(&cors);
    }
    let counted = req.method() == Method::Post && metrics::is_chat_path(&req.path());
    let (response, refusal) = match route(req, &env, &ctx, runtime.clone(), &cors).await {
        Ok(response) => (response, None),
        Err(HandlerError { error, request_id }) => {
            if error.status() >= 500 {
                worker::console_warn!("oachat: {} {}", error.status(), error.code());
            }
            let mut response = error_response(&error, &cors)?;
            if let Some(id) = request_id {
                response.headers_mut().set(REQUEST_ID_HEADER, &id)?;
            }
            (response, Some(error.code()))
        }
    };
    if counted && runtime.metrics.is_some() {
        metrics::answered(&runtime, &response, refusal);
        ctx.wait_until(async move { metrics::flush_soon(&env, &runtime).await });
    }
    Ok(response)
}

async fn route(
    req: Request,
    env: &Env,
    ctx: &Context,
    runtime: std::rc::Rc<Runtime>,
    cors: &Cors,
) -> Result<Response, HandlerError> {
    let path = req.path();
    let method = req.method();
    match (path.as_str(), method) {
        ("/v1/chat/completions", Method::Post) => {
            let call = chat::Call {
                env,
                ctx,
                traceparent: crate::otel::incoming(&req, &runtime),
                runtime,
                cors,
            };
            chat::completions(req, &call).await
        }
        ("/v1/chat/completions", _) => Err(ProxyError::MethodNotAllowed { allowed: "POST" }.into()),
        ("/v1/responses", Method::Post) => {
            let call = chat::Call {
                env,
                ctx,
                traceparent: crate::otel::incoming(&req, &runtime),
                runtime,
                cors,
            };
            responses::create(req, &call).await
        }
        ("/v1/responses", _) => Err(ProxyError::MethodNotAllowed { allowed: "POST" }.into()),
        ("/v1/oachat/chat", Method::Post) => {
            conversations::chat(req, env, ctx, runtime, cors).await
        }
        ("/v1/oachat/chat", _) => Err(ProxyError::MethodNotAllowed { allowed: "POST" }.into()),
        ("/v1/oachat/me", Method::Get) => me::show(req, env, &runtime, cors).await,
        ("/v1/oachat/me", _) => Err(ProxyError::MethodNotAllowed { allowed: "GET" }.into()),
        ("/v1/oachat/feedback", Method::Post) => {
            conversations::feedback(req, env, &runtime, cors).await
        }
        ("/v1/oachat/feedback", _) => Err(ProxyError::MethodNotAllowed { allowed: "POST" }.into()),
        (conversation, _)
            if conversation == "/v1/oachat/conversations"
                || conversation.starts_with("/v1/oachat/conversations/") =>
        {
            conversations::handle(req, env, &runtime, cors).await
        }
        ("/v1/models", Method::Get) => {
            // Like OpenAI's: an SDK with a revoked key learns so here too, not only on a chat.
            auth::authenticate(&req, env, &runtime).await?;
            Ok(models(&runtime, cors)?)
        }
        ("/v1/models", _) => Err(ProxyError::MethodNotAllowed { allowed: "GET" }.into()),
        ("/admin/alerts", _) => alerts_admin::handle(req, env, &runtime, cors).await,
        (admin_path, _) if is_admin_path(admin_path) => {
            admin::handle(req, env, &runtime, cors).await
        }
        ("/metrics", Method::Get) => metrics::scrape(&req, env, &runtime).await,
        ("/metrics", _) => Err(ProxyError::MethodNotAllowed { allowed: "GET" }.into()),
        ("/healthz", Method::Get) => {
            Ok(json_response(200, &serde_json::json!({"ok": true}), cors)?)
        }
        ("/demo/token", Method::Get) if runtime.demo => Ok(demo::token(&runtime)?),
        (page, Method::Get) if runtime.demo && (page == "/demo" || page.starts_with("/demo/")) => {
            Ok(demo::page(page)?)
        }
        _ => Err(ProxyError::NotFound.into()),
    }
}

/// `/admin` (the console) and everything under `/admin/` (the admin API).
fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// `GET /v1/models`: what callers may ask for (`auto`, aliases and served models).
fn models(runtime: &Runtime, cors: &Cors) -> Result<Response, HandlerError> {
    let data: Vec<serde_json::Value> = runtime
        .config
        .public_models()
        .into_iter()
        .map(|id| serde_json::json!({"id": id, "object": "model", "created": 0, "owned_by": "oachat"}))
        .collect();
    Ok(json_response(
        200,
        &serde_json::json!({"object": "list", "data": data}),
        cors,
    )?)
}

fn preflight(cors: &Cors) -> worker::Result<Response> {
    let headers = Headers::new();
    cors.apply(&headers)?;
    if cors.allowed_origin.is_some() {
        headers.set(
            "access-control-allow-methods",
            "GET, POST, PUT, PATCH, DELETE, OPTIONS",
        )?;
        // `traceparent` and `tracestate`: a page whose OpenTelemetry instrumentation
        // propagates its trace to oachat must not have its chat refused at the preflight.
        headers.set(
            "access-control-allow-headers",
            "authorization, content-type, x-oachat-device, traceparent, tracestate",
        )?;
        headers.set("access-control-max-age", "86400")?;
    }
    Ok(ResponseBuilder::new()
        .with_status(204)
        .with_headers(headers)
        .empty())
}
