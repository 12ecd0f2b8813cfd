//! The HTTP glue: route a request, apply its key's behaviour, read the body,
//! hand it to the pure core, and wrap the result in a response. Nothing here
//! decides what an answer says.
//!
//! A request first gets its dialect ([`crate::dialect::select`]). A chat
//! completion then goes: the dialect's query and key checks → key behaviour
//! (failures answer before the body is read) → `x-mock-*` headers → body →
//! the dialect's body checks → [`ChatRequest::parse_for`] (which refuses
//! `forbidden-*` models) → TPM check → pacing → plan → the dialect's shaping
//! → stream or JSON. Every API request is counted under its key, and every
//! error response by status.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Method, Request, Response, StatusCode};

use crate::args::{parse_delay_ms, Config, StreamSettings};
use crate::body::{json_response, sse_response, ConnectionCut, ResponseBody, SseBody};
use crate::chat::{completion_json, ChatRequest};
use crate::dialect::answer::shape_completion;
use crate::dialect::stream_style::{stream_style, StreamAsk};
use crate::dialect::{checks, query_value, select, Provider, Selected};
use crate::directive::directive_value;
use crate::embeddings::embed_request;
use crate::errors::ApiError;
use crate::keys::{behaviour_for, KeyBehaviour, MISSING_KEY_LABEL};
use crate::last_request::LastRequest;
use crate::models::model_list;
use crate::pacing::{generation_time, PacingOverrides};
use crate::request_faults::check_request_size;
use crate::stats::Stats;
use crate::stream::StreamScript;
use crate::wire::Usage;

/// Far above any chat request a test sends, and small enough that thousands
/// of concurrent requests cannot exhaust memory.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// How long `sk-mock-slow` holds the response head: longer than a typical
/// "first byte" timeout under test, short enough not to stall suites.
pub const SLOW_KEY_DELAY: Duration = Duration::from_secs(3);

/// Content chunks `sk-mock-cut` sends before dropping the connection.
pub const CUT_AFTER_CONTENT_CHUNKS: usize = 5;

const REQUEST_ID_HEADER: &str = "x-request-id";

/// How long a DeepSeek request waits in the queue before its first token.
const QUEUE_HEADER: &str = "x-mock-queue-ms";
/// A key whose every request waits in the queue (DeepSeek dialect): the one of a pool that
/// stalls while the others answer, for the first-token failover.
const QUEUED_KEY: &str = "sk-mock-queued";
const QUEUED_FOR: std::time::Duration = std::time::Duration::from_secs(60);

/// State shared by every connection.
pub struct AppState {
    stream: StreamSettings,
    tpm_limit: u64,
    stats: Arc<Stats>,
    next_completion_id: AtomicU64,
    /// The dialect of requests that name none.
    provider: Provider,
    /// The last chat request, as received: tests check what a proxy forwarded
    /// (clamped caps, refused fields, a replaced `user`, Azure's `api-key`).
    last_chat_request: std::sync::Mutex<Option<LastRequest>>,
}

impl AppState {
    pub fn new(config: &Config) -> AppState {
        AppState {
            stream: config.stream,
            tpm_limit: config.tpm_limit,
            stats: Arc::new(Stats::default()),
            next_completion_id: AtomicU64::new(1),
            provider: config.provider,
            last_chat_request: std::sync::Mutex::new(None),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// OpenAI endpoints: authenticated, counted, subject to key behaviour.
    Api(ApiRoute),
    Stats,
    Reset,
    LastRequest,
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
        "/_mock/last-request" => (Method::GET, Route::LastRequest),
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
    let selected = match select(request.headers(), request.uri().path(), state.provider) {
        Ok(selected) => selected,
        Err(name) => {
            let message = format!("mock-openai speaks no provider dialect named '{name}'.");
            return Ok(ApiError::invalid("x-mock-provider", message).into_response());
        }
    };
    match route(request.method(), &selected.path) {
        Err(error) => Ok(error.into_response()),
        Ok(Route::Stats) => Ok(json_response(StatusCode::OK, &state.stats.snapshot())),
        Ok(Route::LastRequest) => {
            let last = state
                .last_chat_request
                .lock()
                .map(|last| last.clone())
                .unwrap_or_default();
            if query_value(request.uri().query(), "detail").is_some() {
                Ok(json_response(StatusCode::OK, &last))
            } else {
                let body = last.map(|last| last.body);
                Ok(json_response(StatusCode::OK, &body))
            }
        }
        Ok(Route::Reset) => {
            state.stats.reset();
            Ok(json_response(
                StatusCode::OK,
                &serde_json::json!({ "reset": true }),
            ))
        }
        Ok(Route::Api(api_route)) => {
            match handle_api(api_route, request, &state, &selected).await {
                Ok(response) => Ok(response),
                Err(Failure::Api(error)) => Ok(error.into_response()),
                Err(Failure::Cut) => Err(ConnectionCut),
            }
        }
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
    selected: &Selected,
) -> Result<Response<ResponseBody>, Failure> {
    let provider = selected.provider;
    let key = checks::request_key(provider, request.headers()).map(|key| key.map(str::to_owned));
    let label = key.as_ref().ok().and_then(Option::as_deref);
    let label = label.unwrap_or(MISSING_KEY_LABEL).to_owned();
    state.stats.record_request(&label);
    let answered = match (checks::check_query(provider, request.uri().query()), key) {
        (Err(error), _) | (Ok(()), Err(error)) => Err(error.into()),
        (Ok(()), Ok(key)) => answer_api(api_route, request, state, key.as_deref(), selected).await,
    };
    let label = label.as_str();
    if let Err(Failure::Api(error)) = &answered {
        state.stats.record_error(label, error.status().as_u16());
    }
    answered
}

async fn answer_api(
    api_route: ApiRoute,
    request: Request<Incoming>,
    state: &AppState,
    key: Option<&str>,
    selected: &Selected,
) -> Result<Response<ResponseBody>, Failure> {
    let key = key.ok_or(ApiError::MissingApiKey)?;
    let behaviour = match behaviour_for(key) {
        KeyBehaviour::Fail(error) => return Err(error.into()),
        KeyBehaviour::Reset => return Err(Failure::Cut),
        KeyBehaviour::Slow => {
            tokio::time::sleep(SLOW_KEY_DELAY).await;
            KeyBehaviour::Slow
        }
        other => other,
    };
    let cut = behaviour == KeyBehaviour::Cut;
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
                key,
                Usage {
                    prompt_tokens: response.prompt_tokens(),
                    completion_tokens: 0,
                    ..Usage::default()
                },
            );
            Ok(json_response(StatusCode::OK, &response))
        }
        ApiRoute::ChatCompletions => {
            chat_completion(request, state, key, behaviour, selected).await
        }
    }
}

async fn chat_completion(
    request: Request<Incoming>,
    state: &AppState,
    key: &str,
    behaviour: KeyBehaviour,
    selected: &Selected,
) -> Result<Response<ResponseBody>, Failure> {
    let provider = selected.provider;
    let header_pacing = PacingOverrides::from_headers(request.headers())?;
    let queue_header = request
        .headers()
        .get(QUEUE_HEADER)
        .map(|value| {
            parse_delay_ms(value.to_str().unwrap_or_default())
                .map_err(|message| ApiError::invalid(QUEUE_HEADER, message))
        })
        .transpose()?;
    let mut record = LastRequest::new(
        request.method().as_str(),
        request.uri().path(),
        request.uri().query(),
        provider.name(),
        request.headers(),
    );
    let body = read_body(request.into_body()).await?;
    record.body = serde_json::from_slice(&body).unwrap_or_default();
    checks::check_chat_body(provider, &record.body)?;
    let thinking = checks::requested_thinking(provider, &record.body);
    if let Ok(mut last) = state.last_chat_request.lock() {
        *last = Some(record);
    }
    let mut chat = ChatRequest::parse_for(&body, selected.deployment.as_deref())?;
    if let Some(on) = thinking {
        chat.set_thinking(on);
    }
    check_request_size(&chat.model, chat.requested_tokens(), state.tpm_limit)?;
    let message = chat.last_user_message().to_owned();
    let overrides = header_pacing.or(PacingOverrides::from_message(&message));
    let settings = overrides.apply(state.stream);
    let think_delay = overrides.think_delay.unwrap_or(settings.delay);
    let usage_directive = directive_value(&message, "usage", |value| Some(value.to_owned()));
    let queue = queue_header
        .or(directive_value(&message, "queue_ms", |value| {
            parse_delay_ms(value).ok()
        }))
        .or_else(|| key.starts_with(QUEUED_KEY).then_some(QUEUED_FOR));
    let style = stream_style(
        provider,
        StreamAsk {
            include_usage: chat.include_usage(),
            chunk_include_usage: chat.chunk_include_usage(),
            usage_directive: usage_directive.as_deref(),
            queue,
        },
    );
    let history_tokens = chat.history_tokens();
    let sequence = state.next_completion_id.fetch_add(1, Ordering::Relaxed);
    let id = format!("chatcmpl-mock-{sequence}");
    let mut plan = chat.plan(id.clone(), unix_now());
    shape_completion(provider, &mut plan.completion, history_tokens, &message);

    let mut response = if plan.stream {
        let cut_after = (behaviour == KeyBehaviour::Cut).then_some(CUT_AFTER_CONTENT_CHUNKS);
        let script = StreamScript::with_style(plan.completion, settings.chunks, style, cut_after);
        sse_response(SseBody::new(
            script,
            settings.delay,
            think_delay,
            state.stats.clone(),
            key.to_owned(),
        ))
    } else {
        if let Some(queue) = style.keep_alive.map(|keep_alive| keep_alive.total) {
            // DeepSeek holds a queued non-streamed request open (sending
            // blank lines); the mock only holds it.
            tokio::time::sleep(queue).await;
        }
        match behaviour {
            KeyBehaviour::Cut => return Err(Failure::Cut),
            KeyBehaviour::SlowGeneration => {
                let usage = plan.completion.usage;
                generate_slowly(&state.stats, key, usage, generation_time(settings)).await?;
            }
            _ => state.stats.record_usage(key, plan.completion.usage),
        }
        json_response(StatusCode::OK, &completion_json(&plan.completion))
    };
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    Ok(response)
}

/// `sk-mock-slowgen`'s generation: the wait and the billing run in a task of
/// their own, so a client that hangs up (and makes hyper drop this handler)
/// still gets billed when generation ends, as a real upstream bills what it
/// generated. Awaiting the task orders the billing before the response head.
async fn generate_slowly(
    stats: &Arc<Stats>,
    key: &str,
    usage: Usage,
    time: Duration,
) -> Result<(), Failure> {
    let stats = stats.clone();
    let key = key.to_owned();
    let generation = tokio::spawn(async move {
        tokio::time::sleep(time).await;
        stats.record_usage(&key, usage);
    });
    // The task only fails if the runtime is shutting down: nobody to answer.
    generation.await.map_err(|_| Failure::Cut)
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
        check_route(Method::GET, "/_mock/last-request", Ok(Route::LastRequest));
        check_route(Method::GET, "/v1/chat/completions", Err(405));
        check_route(Method::POST, "/v1/models", Err(405));
        check_route(Method::POST, "/v1/completions", Err(404));
        check_route(Method::GET, "/", Err(404));
    }

    const USAGE: Usage = Usage {
        prompt_tokens: 10,
        completion_tokens: 20,
        reasoning_tokens: 0,
        cached_tokens: 0,
        cache_hit_fields: false,
    };

    #[tokio::test(start_paused = true)]
    async fn slow_generation_bills_when_it_ends() {
        let stats = Arc::new(Stats::default());
        let started = tokio::time::Instant::now();
        let generated = generate_slowly(&stats, "sk-mock-slowgen", USAGE, Duration::from_secs(2));
        assert!(generated.await.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        let counters = stats.snapshot().keys["sk-mock-slowgen"].clone();
        assert_eq!(
            (counters.prompt_tokens, counters.completion_tokens),
            (10, 20)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn slow_generation_bills_even_if_the_client_left() {
        let stats = Arc::new(Stats::default());
        let generated = generate_slowly(&stats, "sk-mock-slowgen", USAGE, Duration::from_secs(2));
        // The client hangs up after half a second: hyper drops the handler.
        let gave_up = tokio::time::timeout(Duration::from_millis(500), generated).await;
        assert!(gave_up.is_err());
        assert!(
            stats.snapshot().keys.is_empty(),
            "billed before generation ended"
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
        let counters = stats.snapshot().keys["sk-mock-slowgen"].clone();
        assert_eq!(
            (counters.prompt_tokens, counters.completion_tokens),
            (10, 20)
        );
    }
}
