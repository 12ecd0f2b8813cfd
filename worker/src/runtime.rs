//! Per-isolate state: the parsed config, the secrets, the key pools and the trained router.
//!
//! Built once per isolate on the first request and reused, so no request pays for parsing
//! TOML or training the classifier. A bad config is cached too: every request answers it
//! with the same clear error until the deployment is fixed.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use oachat_core::config::{Config, KeyStrategy};
use oachat_core::error::ProxyError;
use oachat_core::keypool::{KeyPool, Strategy};
use oachat_core::redact::Redactor;
use oachat_core::routing::Router;
use wasm_bindgen::JsValue;
use worker::Env;

/// One upstream as this isolate sees it.
pub struct UpstreamRuntime {
    pub name: String,
    pub base_url: String,
    /// This isolate's view of the keys' health, merged with the shared view of the
    /// `KeyHealthDo` after requests (never on the hot path).
    pub pool: RefCell<KeyPool>,
}

pub struct Runtime {
    pub config: Config,
    pub upstreams: Vec<UpstreamRuntime>,
    pub router: Router,
    /// `OACHAT_SIGNING_SECRET`: verifies user tokens minted by the OA backend.
    pub signing_secret: Option<Vec<u8>>,
    /// `OACHAT_TOOLS_SECRET`: signs server tools' webhooks (required when there are any).
    pub tools_secret: Option<Vec<u8>>,
    /// `OACHAT_ADMIN_TOKEN`: guards /admin.
    pub admin_token: Option<String>,
    /// `OACHAT_DEMO=1` serves the demo OA page and its dev token endpoint.
    pub demo: bool,
    /// When this isolate last pulled key health from the `KeyHealthDo`.
    pub health_synced_ms: Cell<u64>,
    /// Requests finished and failed since the last health exchange (`health.rs` sends them).
    pub request_counts: Cell<oachat_core::key_health_call::RequestCounts>,
    /// Removes every configured upstream key from upstream text before anything else reads it.
    pub redactor: Redactor,
    /// What this isolate counted for `GET /metrics`; `None` (nothing counted) while
    /// `OACHAT_METRICS_TOKEN` is unset.
    pub metrics: Option<crate::metrics::IsolateMetrics>,
    /// The headers every trace export carries: `otel.headers` and `otel.headers_secret`'s.
    pub otel_headers: Vec<(String, String)>,
}

/// How often an isolate refreshes its view of shared key health.
pub const HEALTH_SYNC_INTERVAL_MS: u64 = 2_000;

thread_local! {
    static RUNTIME: RefCell<Option<Result<Rc<Runtime>, ProxyError>>> = const { RefCell::new(None) };
}

/// The isolate's runtime, built on first use.
pub fn runtime(env: &Env) -> Result<Rc<Runtime>, ProxyError> {
    if let Some(cached) = RUNTIME.with(|cell| cell.borrow().clone()) {
        return cached;
    }
    let built = build(env).map(Rc::new);
    if let Err(error) = &built {
        worker::console_error!("oachat: {error}");
    }
    RUNTIME.with(|cell| *cell.borrow_mut() = Some(built.clone()));
    built
}

fn build(env: &Env) -> Result<Runtime, ProxyError> {
    let config_text = config_text(env);
    let config = Config::load(&config_text).map_err(|error| ProxyError::BadConfig {
        message: error.to_string(),
    })?;
    let tools_secret = text_binding(env, "OACHAT_TOOLS_SECRET").filter(|s| !s.is_empty());
    config
        .check_tools_secret(tools_secret.as_deref())
        .map_err(|error| ProxyError::BadConfig {
            message: error.to_string(),
        })?;
    let otel_secret = config
        .otel
        .headers_secret
        .as_deref()
        .and_then(|name| text_binding(env, name));
    let otel_headers = config
        .otel
        .export_headers(otel_secret.as_deref())
        .map_err(|error| ProxyError::BadConfig {
            message: error.to_string(),
        })?;
    let upstreams = config
        .upstreams
        .iter()
        .zip(key_pools(env, &config))
        .map(|(upstream, pool)| UpstreamRuntime {
            name: upstream.name.clone(),
            base_url: upstream.base_url(|name| text_binding(env, name)),
            pool: RefCell::new(pool),
        })
        .collect();
    let router = Router::new(&config);
    let secrets: Vec<String> = config
        .upstreams
        .iter()
        .filter_map(|upstream| text_binding(env, &upstream.keys_secret))
        .collect();
    let redactor = Redactor::new(secrets.iter().flat_map(|secret| split_keys(secret)));
    Ok(Runtime {
        redactor,
        otel_headers,
        router,
        upstreams,
        signing_secret: text_binding(env, "OACHAT_SIGNING_SECRET")
            .filter(|s| !s.is_empty())
            .map(String::into_bytes),
        tools_secret: tools_secret.map(String::into_bytes),
        admin_token: text_binding(env, "OACHAT_ADMIN_TOKEN").filter(|s| !s.is_empty()),
        demo: text_binding(env, "OACHAT_DEMO").is_some_and(|v| v == "1" || v == "true"),
        health_synced_ms: Cell::new(0),
        request_counts: Cell::new(Default::default()),
        metrics: crate::metrics::IsolateMetrics::new(
            text_binding(env, "OACHAT_METRICS_TOKEN"),
            config.metrics.per_user,
        ),
        config,
    })
}

/// One key pool per upstream, in config order, from the upstreams' key secrets.
pub fn key_pools(env: &Env, config: &Config) -> Vec<KeyPool> {
    let strategy = match config.key_strategy {
        KeyStrategy::Weighted => Strategy::WeightedRandom,
        KeyStrategy::RoundRobin => Strategy::RoundRobin,
    };
    config
        .upstreams
        .iter()
        .map(|upstream| {
            let secret = text_binding(env, &upstream.keys_secret).unwrap_or_default();
            let keys = split_keys(&secret)
                .enumerate()
                .map(|(index, key)| {
                    (
                        key.to_string(),
                        upstream.weights.get(index).copied().unwrap_or(1),
                    )
                })
                .collect();
            KeyPool::new(keys, strategy)
        })
        .collect()
}

/// `OACHAT_CONFIG` arrives as a string (JSON or TOML) or, when written as a TOML table under
/// `[vars]` in wrangler.toml, as an object: serialise that to JSON for the parser.
fn config_text(env: &Env) -> String {
    let Ok(value) = js_sys::Reflect::get(env, &JsValue::from_str("OACHAT_CONFIG")) else {
        return String::new();
    };
    if let Some(text) = value.as_string() {
        return text;
    }
    if value.is_object() {
        return js_sys::JSON::stringify(&value)
            .ok()
            .and_then(|s| s.as_string())
            .unwrap_or_default();
    }
    String::new()
}

/// A var or secret as text; both are plain strings on `env`.
pub fn text_binding(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .and_then(|value| value.as_string())
        .map(|value| value.trim().to_string())
}

/// Keys are separated by commas or newlines (secrets pasted from a file have newlines).
fn split_keys(secret: &str) -> impl Iterator<Item = &str> {
    secret
        .split([',', '\n'])
        .map(str::trim)
        .filter(|key| !key.is_empty())
}
