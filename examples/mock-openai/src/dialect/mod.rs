//! Provider dialects: the ways DeepSeek, DashScope (Qwen), Moonshot, Zhipu,
//! Volcengine Ark (Doubao) and Azure OpenAI differ from OpenAI on the same
//! chat-completions wire, so every oachat preset can be tested against one
//! fake.
//!
//! A request's dialect is chosen, strongest first, by the `x-mock-provider`
//! header, a `/_provider/NAME/...` path prefix (one mock serving several
//! upstreams with different base URLs), Azure's own path
//! `/openai/deployments/{deployment}/chat/completions`, and finally the
//! `--provider` flag (default `openai`). What each dialect changes lives in
//! [`stream_style`] (where usage goes in a stream, keep-alives, Azure's
//! filter chunk), [`checks`] (requests a provider refuses, its auth) and
//! [`errors`] (its error bodies).

pub mod answer;
pub mod checks;
pub mod errors;
pub mod stream_style;
#[cfg(test)]
mod wire_tests;

use hyper::header::HeaderMap;

/// The header that picks a dialect for one request.
pub const PROVIDER_HEADER: &str = "x-mock-provider";

/// The path prefix that picks a dialect: `/_provider/NAME/...`.
const PROVIDER_PATH_PREFIX: &str = "/_provider/";

/// Azure's chat path is `/openai/deployments/{deployment}/chat/completions`.
const AZURE_DEPLOYMENTS_PREFIX: &str = "/openai/deployments/";
const CHAT_COMPLETIONS_SUFFIX: &str = "/chat/completions";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Provider {
    #[default]
    OpenAi,
    OpenAiCompatible,
    DeepSeek,
    Qwen,
    Moonshot,
    Zhipu,
    Doubao,
    Azure,
}

impl Provider {
    pub const ALL: [Provider; 8] = [
        Provider::OpenAi,
        Provider::OpenAiCompatible,
        Provider::DeepSeek,
        Provider::Qwen,
        Provider::Moonshot,
        Provider::Zhipu,
        Provider::Doubao,
        Provider::Azure,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::OpenAiCompatible => "openai-compatible",
            Provider::DeepSeek => "deepseek",
            Provider::Qwen => "qwen",
            Provider::Moonshot => "moonshot",
            Provider::Zhipu => "zhipu",
            Provider::Doubao => "doubao",
            Provider::Azure => "azure",
        }
    }

    /// The dialect called `name` (case-insensitive), if there is one.
    pub fn parse(name: &str) -> Option<Provider> {
        let name = name.trim();
        Provider::ALL
            .into_iter()
            .find(|provider| provider.name().eq_ignore_ascii_case(name))
    }
}

/// Where a request goes once its dialect is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selected {
    pub provider: Provider,
    /// The path to route, without any `/_provider/NAME` prefix; Azure's chat
    /// path becomes `/v1/chat/completions`.
    pub path: String,
    /// Azure only: the deployment named in the path.
    pub deployment: Option<String>,
}

/// Chooses the dialect and the path to route. An unknown provider name in
/// the header or the prefix is `Err(name)`: a test typo should fail loudly,
/// not fall back to OpenAI.
pub fn select(headers: &HeaderMap, path: &str, default: Provider) -> Result<Selected, String> {
    let from_header = match headers.get(PROVIDER_HEADER) {
        Some(value) => {
            let name = value.to_str().unwrap_or_default();
            Some(Provider::parse(name).ok_or_else(|| name.to_owned())?)
        }
        None => None,
    };
    let (from_prefix, path) = match path.strip_prefix(PROVIDER_PATH_PREFIX) {
        Some(rest) => {
            let (name, rest) = rest.split_once('/').unwrap_or((rest, ""));
            let provider = Provider::parse(name).ok_or_else(|| name.to_owned())?;
            (Some(provider), normalise_api_path(&format!("/{rest}")))
        }
        None => (None, path.to_owned()),
    };
    let deployment = azure_deployment(&path);
    let provider = from_header
        .or(from_prefix)
        .or(deployment.as_ref().map(|_| Provider::Azure))
        .unwrap_or(default);
    let path = if deployment.is_some() {
        "/v1/chat/completions".to_owned()
    } else {
        path
    };
    Ok(Selected {
        provider,
        path,
        deployment,
    })
}

/// Under a provider prefix the rest of the path is whatever the preset's
/// base URL adds (`/v1`, `/compatible-mode/v1`, `/api/paas/v4`,
/// `/api/v3`, or nothing), so only its last segments decide the endpoint.
fn normalise_api_path(path: &str) -> String {
    if azure_deployment(path).is_some() {
        return path.to_owned();
    }
    for endpoint in [CHAT_COMPLETIONS_SUFFIX, "/models", "/embeddings"] {
        if path.ends_with(endpoint) {
            return format!("/v1{endpoint}");
        }
    }
    path.to_owned()
}

/// The deployment of an Azure chat path, if `path` is one.
fn azure_deployment(path: &str) -> Option<String> {
    let deployment = path
        .strip_prefix(AZURE_DEPLOYMENTS_PREFIX)?
        .strip_suffix(CHAT_COMPLETIONS_SUFFIX)?;
    (!deployment.is_empty() && !deployment.contains('/')).then(|| deployment.to_owned())
}

/// The value of query parameter `name`, if present (no percent-decoding:
/// the mock only reads plain tokens such as `api-version=2024-10-21`).
pub fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use hyper::header::HeaderValue;

    use super::*;

    #[track_caller]
    fn check(
        header: Option<&str>,
        path: &str,
        expected: Result<(Provider, &str, Option<&str>), &str>,
    ) {
        let mut headers = HeaderMap::new();
        if let Some(header) = header {
            if let Ok(value) = HeaderValue::from_str(header) {
                headers.insert(PROVIDER_HEADER, value);
            }
        }
        let selected = select(&headers, path, Provider::OpenAi)
            .map(|selected| (selected.provider, selected.path, selected.deployment));
        let expected = expected
            .map(|(provider, path, deployment)| {
                (provider, path.to_owned(), deployment.map(str::to_owned))
            })
            .map_err(str::to_owned);
        assert_eq!(selected, expected, "{header:?} {path}");
    }

    #[test]
    fn names_round_trip() {
        for provider in Provider::ALL {
            assert_eq!(Provider::parse(provider.name()), Some(provider));
        }
        assert_eq!(Provider::parse("DeepSeek"), Some(Provider::DeepSeek));
        assert_eq!(Provider::parse("anthropic"), None);
    }

    #[test]
    fn header_prefix_azure_path_and_default_select_the_dialect() {
        check(
            None,
            "/v1/chat/completions",
            Ok((Provider::OpenAi, "/v1/chat/completions", None)),
        );
        check(
            Some("qwen"),
            "/v1/chat/completions",
            Ok((Provider::Qwen, "/v1/chat/completions", None)),
        );
        check(
            None,
            "/_provider/deepseek/chat/completions",
            Ok((Provider::DeepSeek, "/v1/chat/completions", None)),
        );
        check(
            None,
            "/_provider/zhipu/api/paas/v4/chat/completions",
            Ok((Provider::Zhipu, "/v1/chat/completions", None)),
        );
        check(
            None,
            "/_provider/qwen/compatible-mode/v1/models",
            Ok((Provider::Qwen, "/v1/models", None)),
        );
        check(
            Some("moonshot"),
            "/_provider/deepseek/v1/chat/completions",
            Ok((Provider::Moonshot, "/v1/chat/completions", None)),
        );
        check(
            None,
            "/openai/deployments/my-gpt/chat/completions",
            Ok((Provider::Azure, "/v1/chat/completions", Some("my-gpt"))),
        );
        check(
            None,
            "/_provider/azure/openai/deployments/d1/chat/completions",
            Ok((Provider::Azure, "/v1/chat/completions", Some("d1"))),
        );
        check(
            None,
            "/openai/deployments//chat/completions",
            Ok((
                Provider::OpenAi,
                "/openai/deployments//chat/completions",
                None,
            )),
        );
        check(Some("nope"), "/v1/chat/completions", Err("nope"));
        check(None, "/_provider/nope/chat/completions", Err("nope"));
    }

    #[test]
    fn query_values_are_found_by_name() {
        assert_eq!(
            query_value(Some("api-version=2024-10-21"), "api-version"),
            Some("2024-10-21")
        );
        assert_eq!(
            query_value(Some("a=1&api-version=x"), "api-version"),
            Some("x")
        );
        assert_eq!(query_value(Some("api-version"), "api-version"), Some(""));
        assert_eq!(query_value(Some("version=1"), "api-version"), None);
        assert_eq!(query_value(None, "api-version"), None);
    }
}
