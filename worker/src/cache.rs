//! The exact-match cache's Workers Cache API shell: look up and store [`CachedAnswer`]s under
//! a synthetic URL made from the request's key. Cache entries are per data center, which is
//! what an exact-match cache wants: no coordination, and a miss only costs one upstream call.

use oachat_core::cache::CachedAnswer;
use worker::{Cache, Headers, Response, ResponseBuilder};

fn url(key: &str) -> String {
    format!("https://oachat-cache.internal/v1/{key}")
}

pub async fn lookup(key: &str) -> Option<CachedAnswer> {
    let cache = Cache::default();
    let response = cache.get(url(key).as_str(), false).await.ok()??;
    crate::body::json::<CachedAnswer>(response).await.ok()
}

pub async fn store(key: &str, answer: &CachedAnswer, ttl_s: u32) {
    let Ok(body) = serde_json::to_vec(answer) else {
        return;
    };
    let headers = Headers::new();
    let _ = headers.set("content-type", "application/json");
    let _ = headers.set("cache-control", &format!("public, max-age={ttl_s}"));
    let response: Response = ResponseBuilder::new().with_headers(headers).fixed(body);
    if let Err(error) = Cache::default().put(url(key).as_str(), response).await {
        worker::console_warn!("oachat: cache store failed: {error}");
    }
}
