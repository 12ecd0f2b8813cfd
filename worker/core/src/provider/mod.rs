//! Upstream providers: the OpenAI-compatible APIs oachat can send a chat completion to, and
//! what differs between them (base URL, how the key is sent, request quirks, error codes).
//!
//! Every provider speaks the chat-completions wire format; a [`Provider`] only names the
//! differences, as data ([`Preset`]) where it can and as code where it must:
//! - `preset.rs`: the facts of each provider (default base URL, key header, whether
//!   `stream_options` may be sent, whether its output cap bounds the chain of thought);
//! - `shape.rs`: [`shape_request`], the provider's rules applied to the upstream body, and
//!   [`reasoning_budget`], how a reasoning model's budget is made to hold;
//! - `errors.rs`: [`classify_quirk`], the provider's own error codes that say "this key"
//!   where the generic reading would say otherwise, and [`finish_error`], the endings
//!   (Zhipu's `sensitive`, `network_error`) a client must hear about as errors.
//!
//! Where each fact comes from is noted beside it; facts that could not be checked against
//! the provider's documentation say so.

mod errors;
mod preset;
mod shape;

use std::fmt;

use serde::{Deserialize, Serialize};

pub use errors::{classify_quirk, finish_error, may_finish_abnormally};
pub use preset::{KeyHeader, Preset};
pub use shape::{body_output_cap, reasoning_budget, shape_request, ReasoningBudget};

use crate::config::Upstream;

/// Which API an upstream is. Spelled in config as `openai` (the default), `azure`,
/// `deepseek`, `qwen`, `moonshot`, `zhipu`, `doubao` or `openai-compatible`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// OpenAI's own API.
    #[default]
    #[serde(rename = "openai")]
    OpenAi,
    /// Azure OpenAI: deployments instead of model names, an `api-key` header.
    Azure,
    /// DeepSeek (`api.deepseek.com`).
    DeepSeek,
    /// Alibaba Cloud Model Studio (DashScope), OpenAI-compatible mode.
    Qwen,
    /// Moonshot AI (Kimi).
    Moonshot,
    /// Zhipu AI (GLM, `open.bigmodel.cn`).
    Zhipu,
    /// ByteDance Volcano Engine Ark (Doubao).
    Doubao,
    /// Any other OpenAI-compatible server (vLLM, Ollama, a gateway): no quirks assumed.
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
}

impl Provider {
    /// Every provider, for tests and documentation.
    pub const ALL: [Provider; 8] = [
        Provider::OpenAi,
        Provider::Azure,
        Provider::DeepSeek,
        Provider::Qwen,
        Provider::Moonshot,
        Provider::Zhipu,
        Provider::Doubao,
        Provider::OpenAiCompatible,
    ];

    /// The name as written in config.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::OpenAi => "openai",
            Provider::Azure => "azure",
            Provider::DeepSeek => "deepseek",
            Provider::Qwen => "qwen",
            Provider::Moonshot => "moonshot",
            Provider::Zhipu => "zhipu",
            Provider::Doubao => "doubao",
            Provider::OpenAiCompatible => "openai-compatible",
        }
    }

    /// This provider's facts.
    pub fn preset(self) -> &'static Preset {
        preset::of(self)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

/// The path of the chat-completions endpoint under a base URL.
pub const CHAT_COMPLETIONS_PATH: &str = "/chat/completions";

/// The full URL to send `path` (e.g. [`CHAT_COMPLETIONS_PATH`]) for `model` to, under
/// `base_url` (the upstream's resolved base URL, see [`Upstream::base_url`]).
///
/// Azure addresses a deployment rather than a model:
/// `{base}/openai/deployments/{deployment}{path}?api-version={version}`, with the deployment
/// looked up in `deployments` by the model name (validation makes sure every model of an
/// Azure upstream has one; an unknown model falls back to its own name, which Azure answers
/// with a 404 the failover treats as the request's). Every other provider is `{base}{path}`.
pub fn upstream_url(upstream: &Upstream, base_url: &str, path: &str, model: &str) -> String {
    let base = base_url.trim_end_matches('/');
    match upstream.provider {
        Provider::Azure => {
            let deployment = upstream
                .deployments
                .get(model)
                .map(String::as_str)
                .unwrap_or(model);
            let version = upstream.api_version.as_deref().unwrap_or_default();
            format!(
                "{base}/openai/deployments/{}{path}?api-version={}",
                encode_component(deployment),
                encode_component(version)
            )
        }
        _ => format!("{base}{path}"),
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: deployment names and
/// versions come from config, but a space or `/` in one must not change the URL's shape.
fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Where and how the shell sends a planned request: read by the worker's `upstream.rs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamTarget {
    pub provider: Provider,
    /// What goes after the upstream's base URL (path and, for Azure, the query).
    pub path_and_query: String,
    /// How the key is sent.
    pub key_header: KeyHeader,
}

impl UpstreamTarget {
    /// The target of a chat completion for `model` on `upstream`.
    pub fn chat(upstream: &Upstream, model: &str) -> UpstreamTarget {
        UpstreamTarget {
            provider: upstream.provider,
            path_and_query: upstream_url(upstream, "", CHAT_COMPLETIONS_PATH, model),
            key_header: upstream.provider.preset().key_header,
        }
    }

    /// The full URL under the upstream's resolved base URL.
    pub fn url(&self, base_url: &str) -> String {
        format!("{}{}", base_url.trim_end_matches('/'), self.path_and_query)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn upstream(provider: Provider) -> Upstream {
        Upstream {
            name: "u".into(),
            provider,
            base_url: None,
            base_url_var: "X".into(),
            keys_secret: "K".into(),
            models: vec!["gpt-4o".into()],
            weights: Vec::new(),
            deployments: BTreeMap::new(),
            api_version: None,
            first_token_timeout_ms: None,
        }
    }

    #[test]
    fn names_round_trip_through_serde() {
        for provider in Provider::ALL {
            let json = serde_json::to_string(&provider).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", provider.as_str()));
            assert_eq!(serde_json::from_str::<Provider>(&json).ok(), Some(provider));
        }
        assert!(serde_json::from_str::<Provider>("\"OpenAI\"").is_err());
    }

    #[test]
    fn azure_urls_name_the_deployment_and_the_api_version() {
        let mut azure = upstream(Provider::Azure);
        azure
            .deployments
            .insert("gpt-4o".into(), "prod 4o/eu".into());
        azure.api_version = Some("2024-10-21".into());
        assert_eq!(
            upstream_url(
                &azure,
                "https://contoso.openai.azure.com/",
                CHAT_COMPLETIONS_PATH,
                "gpt-4o"
            ),
            "https://contoso.openai.azure.com/openai/deployments/prod%204o%2Feu/chat/completions?api-version=2024-10-21"
        );
        let target = UpstreamTarget::chat(&azure, "gpt-4o");
        assert_eq!(target.key_header, KeyHeader::ApiKey);
        assert_eq!(
            target.url("https://contoso.openai.azure.com"),
            "https://contoso.openai.azure.com/openai/deployments/prod%204o%2Feu/chat/completions?api-version=2024-10-21"
        );
    }

    /// Every config block of `docs/providers.md` loads, beside the default OpenAI upstream
    /// the default tiers and routes refer to.
    #[test]
    fn the_documented_config_blocks_load() {
        let doc = include_str!("../../../../docs/providers.md");
        let blocks: Vec<&str> = doc
            .split("```toml")
            .skip(1)
            .filter_map(|rest| rest.split("```").next())
            .collect();
        assert_eq!(blocks.len(), Provider::ALL.len());
        for block in blocks {
            let text = if block.contains("name = \"openai\"") {
                block.to_string()
            } else {
                format!("[[upstreams]]\nname = \"openai\"\n{block}")
            };
            if let Err(error) = crate::config::Config::load(&text) {
                panic!("{error}\n{block}");
            }
        }
    }

    #[test]
    fn other_providers_append_the_path() {
        let deepseek = upstream(Provider::DeepSeek);
        assert_eq!(
            upstream_url(
                &deepseek,
                "https://api.deepseek.com",
                CHAT_COMPLETIONS_PATH,
                "deepseek-chat"
            ),
            "https://api.deepseek.com/chat/completions"
        );
        let target = UpstreamTarget::chat(&deepseek, "deepseek-chat");
        assert_eq!(target.key_header, KeyHeader::Bearer);
        assert_eq!(target.path_and_query, "/chat/completions");
    }
}
