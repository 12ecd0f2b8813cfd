//! The HTTP glue: route a request, apply its key's behaviour, read the body,
//! hand it to the pure core, and wrap the result in a response. Nothing here
//! decides what an answer says.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::args::{parse_chunks, parse_delay_ms, StreamSettings};
use crate::body::{json_response, sse_response, ConnectionCut, ResponseBody, SseBody};
use crate::chat::{completion_json, plan_chat};
use crate::embeddings::embed_request;
use crate::errors::ApiError;
use crate::keys::{bearer_key, behaviour_for, KeyBehaviour, MISSING_KEY_LABEL};
use crate::models::model_list;
use crate::stats::Stats;
use crate::stream::StreamScript;

/// Far above any chat request a test sends, and small enough that thousands
/// of concurrent requests cannot exhaust memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How long `sk-mock-slow` holds the response head: longer than a typical
/// "first byte" timeout under test, short enough not to stall suites.
pub const SLOW_KEY_DELAY: Duration = Duration::from_secs(3);

/// Content chunks `sk-mock-cut` sends before dropping the connection.
pub const CUT_AFTER_CONTENT_CHUNKS: usize = 5;

const CHUNKS_HEADER: &str = "x-mock-chunks";
const DELAY_HEADER: &str = "x-mock-delay-ms";
const REQUEST_ID_HEADER: &str = "x-request-id";

/// State shared by every connection.
pub struct AppState {
    stream: StreamSettings,
    stats: Arc<Stats>,
    next_completion_id: AtomicU64,
}

impl AppState {
    pub fn new(stream: StreamSettings) -> AppState {
        AppState {
            stream,
            stats: Arc::new(Stats::default()),
            next_completion_id: AtomicU64::new(1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// OpenAI endpoints: authenticated, counted, subject to key behaviour.
    Api(ApiRoute),
    Stats,
    Reset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ApiRoute {
    ChatCompletions,
    Models,
    Embeddings,
}

fn route(method: &Method, path: &str) -> Result<Route, ApiError> {
    let (allowed, route) = match path {
        "/v1/chat/completions" => (Method::POST, Route::Api(ApiRoute::ChatCompletions)),
        "/v1/models" => (Method::GET, Route::Api(ApiRoute::Models)),
        "/v1/embeddings" => (Method::POST, Route::Api(ApiRoute::Embeddings)),
        "/_mock/stats" => (Method::GET, Route::Stats),
        "/_mock/reset" => (Method::POST, Route::Reset),
        _ => {
            return Err(ApiError::NotFound {
                method: method.clone(),
                path: path.to_owned(),
            })
        }
    };
    if *method == allowed {
        Ok(route)
    } else {
        Err(ApiError::MethodNotAllowed {
            method: method.clone(),
            path: path.to_owned(),
        })
    }
}

/// The hyper service. `Err` tells hyper to drop the connection unanswered.
pub async fn handle(
    request: Request<Incoming>,
    state: Arc<AppState>,
) -> Result<Response<ResponseBody>, ConnectionCut> {
    match route(request.method(), request.uri().path()) {
        Err(error) => Ok(error.into_response()),
        Ok(Route::Stats) => Ok(json_response(StatusCode::OK, &state.stats.snapshot())),
        Ok(Route::Reset) => {
            state.stats.reset();
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "reset": true }),
            ))
        }
        Ok(Route::Api(api_route)) => match handle_api(api_route, request, &state).await {
            Ok(response) => Ok(response),
            Err(Failure::Api(error)) => Ok(error.into_response()),
            Err(Failure::Cut) => Err(ConnectionCut),
        },
    }
}

/// Why an API handler produced no normal response.
enum Failure {
    Api(ApiError),
    Cut,
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Failure {
        Failure::Api(error)
    }
}

async fn handle_api(
    api_route: ApiRoute,
    request: Request<Incoming>,
    state: &AppState,
) -> Result<Response<ResponseBody>, Failure> {
    let key = bearer_key(request.headers()).map(str::to_owned);
    state
        .stats
        .record_request(key.as_deref().unwrap_or(MISSING_KEY_LABEL));
    let key = key.ok_or(ApiError::MissingApiKey)?;
    let cut = match behaviour_for(&key) {
        KeyBehaviour::Fail(error) => return Err(error.into()),
        KeyBehaviour::Slow => {
            tokio::time::sleep(SLOW_KEY_DELAY).await;
            false
        }
        KeyBehaviour::Cut => true,
        KeyBehaviour::Normal => false,
    };
    match api_route {
        ApiRoute::Models if cut => Err(Failure::Cut),
        ApiRoute::Models => Ok(json_response(StatusCode::OK, &model_list())),
        ApiRoute::Embeddings => {
            let body = read_body(request.into_body()).await?;
            let response = embed_request(&body)?;
            if cut {
                return Err(Failure::Cut);
            }
            state.stats.record_usage(
                &key,
                crate::wire::Usage {
                    prompt_tokens: response.prompt_tokens(),
                    completion_tokens: 0,
                },
            );
            Ok(json_response(StatusCode::OK, &response))
        }
        ApiRoute::ChatCompletions => chat_completion(request, state, key, cut).await,
    }
}

async fn chat_completion(
    request: Request<Incoming>,
    state: &AppState,
    key: String,
    cut: bool,
) -> Result<Response<ResponseBody>, Failure> {
    let settings = stream_settings(request.headers(), state.stream)?;
    let body = read_body(request.into_body()).await?;
    let sequence = state.next_completion_id.fetch_add(1, Ordering::Relaxed);
    let id = format!("chatcmpl-mock-{sequence}");
    let plan = plan_chat(&body, id.clone(), unix_now())?;

    let mut response = if plan.stream {
        let cut_after = cut.then_some(CUT_AFTER_CONTENT_CHUNKS);
        let script = StreamScript::new(
            plan.completion,
            settings.chunks,
            plan.include_usage,
            cut_after,
        );
        sse_response(SseBody::new(
            script,
            settings.delay,
            state.stats.clone(),
            key,
        ))
    } else if cut {
        return Err(Failure::Cut);
    } else {
        state.stats.record_usage(&key, plan.completion.usage);
        json_response(StatusCode::OK, &completion_json(&plan.completion))
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// The server's stream settings with this request's header overrides.
fn stream_settings(
    headers: &HeaderMap,
    defaults: StreamSettings,
) -> Result<StreamSettings, ApiError> {
    let header = |name: &'static str| -> Result<Option<&str>, ApiError> {
        headers
            .get(name)
            .map(|value| {
                value
                    .to_str()
                    .map_err(|_| ApiError::invalid(name, format!("{name} must be ASCII digits")))
            })
            .transpose()
    };
    let mut settings = defaults;
    if let Some(value) = header(CHUNKS_HEADER)? {
        settings.chunks =
            parse_chunks(value).map_err(|message| ApiError::invalid(CHUNKS_HEADER, message))?;
    }
    if let Some(value) = header(DELAY_HEADER)? {
        settings.delay =
            parse_delay_ms(value).map_err(|message| ApiError::invalid(DELAY_HEADER, message))?;
    }
    Ok(settings)
}

async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(ApiError::BodyTooLarge {
            limit_bytes: MAX_BODY_BYTES,
        }),
        Err(_) => Err(ApiError::BadJson(
            "the request body could not be read".to_owned(),
        )),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since_epoch| since_epoch.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check_route(method: Method, path: &str, expected: Result<Route, u16>) {
        let routed = route(&method, path).map_err(|error| error.status().as_u16());
        assert_eq!(routed, expected, "{method} {path}");
    }

    #[test]
    fn routes_known_paths_and_rejects_the_rest() {
        check_route(
            Method::POST,
            "/v1/chat/completions",
            Ok(Route::Api(ApiRoute::ChatCompletions)),
        );
        check_route(Method::GET, "/v1/models", Ok(Route::Api(ApiRoute::Models)));
        check_route(
            Method::POST,
            "/v1/embeddings",
            Ok(Route::Api(ApiRoute::Embeddings)),
        );
        check_route(Method::GET, "/_mock/stats", Ok(Route::Stats));
        check_route(Method::POST, "/_mock/reset", Ok(Route::Reset));
        check_route(Method::GET, "/v1/chat/completions", Err(405));
        check_route(Method::POST, "/v1/models", Err(405));
        check_route(Method::POST, "/v1/completions", Err(404));
        check_route(Method::GET, "/", Err(404));
    }

    #[track_caller]
    fn check_settings(headers: &[(&'static str, &str)], expected: Result<(usize, u64), &str>) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(value) = HeaderValue::from_str(value) {
                map.insert(*name, value);
            }
        }
        let defaults = StreamSettings {
            chunks: 40,
            delay: Duration::from_millis(15),
        };
        let settings = stream_settings(&map, defaults)
            .map(|s| (s.chunks, s.delay.as_millis() as u64))
            .map_err(|error| match error {
                ApiError::InvalidParameter { param, .. } => param,
                _ => "other",
            });
        assert_eq!(settings, expected, "{headers:?}");
    }

    #[test]
    fn headers_override_stream_settings() {
        check_settings(&[], Ok((40, 15)));
        check_settings(&[("x-mock-chunks", "3")], Ok((3, 15)));
        check_settings(
            &[("x-mock-chunks", "3"), ("x-mock-delay-ms", "0")],
            Ok((3, 0)),
        );
        check_settings(&[("x-mock-chunks", "0")], Err("x-mock-chunks"));
        check_settings(&[("x-mock-delay-ms", "soon")], Err("x-mock-delay-ms"));
    }
}
