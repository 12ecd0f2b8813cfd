//! The facts of each provider, as data: one [`Preset`] per [`Provider`].
//!
//! Sources (checked when written): OpenAI's and DeepSeek's API references and error-code
//! pages; Alibaba Cloud Model Studio's error-code page and its OpenAI-compatible guide;
//! Zhipu's `docs.bigmodel.cn` chat-completion reference; BytePlus/Volcano Ark's chat API
//! reference; Moonshot's streamed usage placement as reported by client libraries (Higress
//! #1568, go-moonshot #17). Azure's URL shape and `api-key` header from its REST reference.

use super::Provider;

/// How an upstream key is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyHeader {
    /// `Authorization: Bearer <key>` (OpenAI and every compatible API).
    Bearer,
    /// `api-key: <key>` (Azure OpenAI's key authentication).
    ApiKey,
}

impl KeyHeader {
    /// The header name and value for `key`.
    pub fn header(self, key: &str) -> (&'static str, String) {
        match self {
            KeyHeader::Bearer => ("Authorization", format!("Bearer {key}")),
            KeyHeader::ApiKey => ("api-key", key.to_string()),
        }
    }
}

/// What oachat needs to know about a provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Preset {
    pub provider: Provider,
    /// The base URL when the config sets none (`None`: the config must, as for Azure, whose
    /// URL names the operator's own resource).
    pub default_base_url: Option<&'static str>,
    /// The env var read for the base URL when `base_url` is unset (the dev setup points it
    /// at mock-openai). One per provider, so pointing OpenAI at a mock never moves DeepSeek.
    pub default_base_url_var: &'static str,
    /// The secret holding the keys when `keys_secret` is unset: one per provider, so a
    /// provider's keys are never sent to another provider by default.
    pub default_keys_secret: &'static str,
    pub key_header: KeyHeader,
    /// Whether `stream_options` may be sent. Where it may not, the provider reports usage
    /// in its last chunk on its own.
    pub accepts_stream_options: bool,
    /// Whether the output cap oachat sends (after [`super::shape_request`]) also bounds the
    /// chain of thought. Where it does, the reservation of output already covers reasoning;
    /// where it does not, a reasoning model's `max_reasoning_tokens` is reserved on top.
    pub cap_bounds_reasoning: bool,
    /// The provider's own request field that caps reasoning tokens, if it has one.
    pub reasoning_budget_field: Option<&'static str>,
    /// Whether an assistant turn that called tools must be sent back with its
    /// `reasoning_content` (DeepSeek's thinking mode answers 400 otherwise).
    pub reasoning_with_tool_calls: bool,
}

const OPENAI: Preset = Preset {
    provider: Provider::OpenAi,
    default_base_url: Some("https://api.openai.com/v1"),
    default_base_url_var: "OPENAI_BASE_URL",
    default_keys_secret: "OPENAI_API_KEYS",
    key_header: KeyHeader::Bearer,
    accepts_stream_options: true,
    // Reasoning tokens count against `max_completion_tokens` (an o-series answer can come
    // back empty with finish_reason `length`); o-series models refuse `max_tokens`.
    cap_bounds_reasoning: true,
    reasoning_budget_field: None,
    reasoning_with_tool_calls: false,
};

/// The facts of `provider`.
pub(super) fn of(provider: Provider) -> &'static Preset {
    match provider {
        Provider::OpenAi => &OPENAI,
        Provider::Azure => &Preset {
            provider: Provider::Azure,
            default_base_url: None,
            default_base_url_var: "AZURE_OPENAI_BASE_URL",
            default_keys_secret: "AZURE_OPENAI_API_KEYS",
            key_header: KeyHeader::ApiKey,
            ..OPENAI
        },
        Provider::DeepSeek => &Preset {
            provider: Provider::DeepSeek,
            default_base_url: Some("https://api.deepseek.com"),
            default_base_url_var: "DEEPSEEK_BASE_URL",
            default_keys_secret: "DEEPSEEK_API_KEYS",
            // DeepSeek: "max_tokens: the longest answer, chain of thought included".
            cap_bounds_reasoning: true,
            reasoning_with_tool_calls: true,
            ..OPENAI
        },
        Provider::Qwen => &Preset {
            provider: Provider::Qwen,
            default_base_url: Some("https://dashscope.aliyuncs.com/compatible-mode/v1"),
            default_base_url_var: "QWEN_BASE_URL",
            default_keys_secret: "QWEN_API_KEYS",
            // Not confirmed that `max_tokens` bounds the thinking part; DashScope has its own
            // cap for it, `thinking_budget`, so oachat sends that and reserves it on top.
            cap_bounds_reasoning: false,
            reasoning_budget_field: Some("thinking_budget"),
            ..OPENAI
        },
        Provider::Moonshot => &Preset {
            provider: Provider::Moonshot,
            default_base_url: Some("https://api.moonshot.cn/v1"),
            default_base_url_var: "MOONSHOT_BASE_URL",
            default_keys_secret: "MOONSHOT_API_KEYS",
            // Unknown: a thinking model's budget is reserved on top of the cap.
            cap_bounds_reasoning: false,
            ..OPENAI
        },
        Provider::Zhipu => &Preset {
            provider: Provider::Zhipu,
            default_base_url: Some("https://open.bigmodel.cn/api/paas/v4"),
            default_base_url_var: "ZHIPU_BASE_URL",
            default_keys_secret: "ZHIPU_API_KEYS",
            // Not in Zhipu's documented parameters; its last streamed chunk carries usage.
            accepts_stream_options: false,
            cap_bounds_reasoning: false,
            ..OPENAI
        },
        Provider::Doubao => &Preset {
            provider: Provider::Doubao,
            default_base_url: Some("https://ark.cn-beijing.volces.com/api/v3"),
            default_base_url_var: "DOUBAO_BASE_URL",
            default_keys_secret: "DOUBAO_API_KEYS",
            // Ark: `max_tokens` excludes the reasoning chain, `max_completion_tokens`
            // includes it; shaping sends only the latter, so the cap sent bounds both.
            cap_bounds_reasoning: true,
            ..OPENAI
        },
        Provider::OpenAiCompatible => &Preset {
            provider: Provider::OpenAiCompatible,
            default_base_url: None,
            default_base_url_var: "OPENAI_COMPATIBLE_BASE_URL",
            default_keys_secret: "OPENAI_COMPATIBLE_API_KEYS",
            cap_bounds_reasoning: false,
            ..OPENAI
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_names_its_own_provider() {
        for provider in Provider::ALL {
            assert_eq!(provider.preset().provider, provider);
        }
    }

    #[test]
    fn providers_never_share_a_default_secret_or_base_url_var() {
        for (index, first) in Provider::ALL.iter().enumerate() {
            for second in &Provider::ALL[index + 1..] {
                let (a, b) = (first.preset(), second.preset());
                assert_ne!(a.default_keys_secret, b.default_keys_secret);
                assert_ne!(a.default_base_url_var, b.default_base_url_var);
            }
        }
    }

    #[test]
    fn only_azure_sends_the_key_as_api_key() {
        for provider in Provider::ALL {
            let (name, value) = provider.preset().key_header.header("sk-1");
            if provider == Provider::Azure {
                assert_eq!((name, value.as_str()), ("api-key", "sk-1"));
            } else {
                assert_eq!((name, value.as_str()), ("Authorization", "Bearer sk-1"));
            }
        }
    }
}
