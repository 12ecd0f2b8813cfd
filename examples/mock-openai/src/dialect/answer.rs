//! How a dialect changes a planned answer before it is sent: DeepSeek's
//! prompt-cache split, Zhipu's mid-answer endings, and the model name Azure
//! and Volcengine Ark report.

use super::Provider;
use crate::chat::{Completion, FinishReason};
use crate::directive::directive_value;

/// The model Azure answers with whatever the deployment is called: a
/// deployment is a name for an underlying model, and responses name that.
pub const AZURE_MODEL: &str = "gpt-4o-2024-08-06";

/// The model Ark answers with for an endpoint id (`ep-...`).
pub const DOUBAO_ENDPOINT_MODEL: &str = "doubao-1-5-pro-32k-250115";

/// `history_tokens`: the prompt tokens before the last message, which the
/// mock treats as a cache hit (earlier turns of the same conversation).
pub fn shape_completion(
    provider: Provider,
    completion: &mut Completion,
    history_tokens: u64,
    last_user_message: &str,
) {
    match provider {
        Provider::DeepSeek => {
            completion.usage.cached_tokens = history_tokens.min(completion.usage.prompt_tokens);
            completion.usage.cache_hit_fields = true;
        }
        Provider::Zhipu => {
            if let Some(reason) =
                directive_value(last_user_message, "finish", FinishReason::parse_early)
            {
                completion.end_early(reason);
            }
        }
        Provider::Azure => completion.model = AZURE_MODEL.to_owned(),
        Provider::Doubao if completion.model.starts_with("ep-") => {
            completion.model = DOUBAO_ENDPOINT_MODEL.to_owned();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::chat::{plan_chat, ChoiceOutput};
    use crate::tokens::count_tokens;

    fn completion(model: &str, messages: serde_json::Value) -> Completion {
        let body = json!({"model": model, "messages": messages}).to_string();
        match plan_chat(body.as_bytes(), "id".into(), 0) {
            Ok(plan) => plan.completion,
            Err(error) => panic!("bad test request {error:?}"),
        }
    }

    #[test]
    fn deepseek_counts_earlier_turns_as_cache_hits() {
        let messages = json!([
            {"role": "user", "content": "hello world"},
            {"role": "assistant", "content": "hi"},
            {"role": "user", "content": "again"},
        ]);
        let mut answer = completion("deepseek-chat", messages);
        // (4 + 4) + (1 + 4) tokens of history.
        shape_completion(Provider::DeepSeek, &mut answer, 13, "again");
        assert_eq!(answer.usage.cached_tokens, 13);
        assert!(answer.usage.cache_hit_fields);
        let value = serde_json::to_value(answer.usage).unwrap_or_default();
        assert_eq!(value["prompt_cache_hit_tokens"], 13);
        assert_eq!(
            value["prompt_cache_miss_tokens"],
            answer.usage.prompt_tokens - 13
        );
    }

    #[test]
    fn zhipu_ends_half_way_with_the_directives_reason() {
        let message = "stop early [mock finish=sensitive]";
        let mut answer = completion("glm-4", json!([{"role": "user", "content": message}]));
        let full = match &answer.choices[0] {
            ChoiceOutput::Text { text, .. } => text.clone(),
            ChoiceOutput::ToolCalls(_) => String::new(),
        };
        shape_completion(Provider::Zhipu, &mut answer, 0, message);
        let ChoiceOutput::Text {
            text,
            finish_reason,
        } = &answer.choices[0]
        else {
            panic!("expected text");
        };
        assert_eq!(*finish_reason, FinishReason::Sensitive);
        assert!(full.starts_with(text.as_str()) && text.len() < full.len());
        assert_eq!(answer.usage.completion_tokens, count_tokens(text));

        let mut other = completion("glm-4", json!([{"role": "user", "content": message}]));
        shape_completion(Provider::OpenAi, &mut other, 0, message);
        assert_eq!(other.choices[0].finish_reason(), FinishReason::Stop);
    }

    #[test]
    fn azure_and_ark_endpoints_answer_with_the_underlying_model() {
        let mut azure = completion("my-deployment", json!([]));
        shape_completion(Provider::Azure, &mut azure, 0, "");
        assert_eq!(azure.model, AZURE_MODEL);
        let mut ark = completion("ep-20240601-abc", json!([]));
        shape_completion(Provider::Doubao, &mut ark, 0, "");
        assert_eq!(ark.model, DOUBAO_ENDPOINT_MODEL);
        let mut named = completion("doubao-seed-1-6", json!([]));
        shape_completion(Provider::Doubao, &mut named, 0, "");
        assert_eq!(named.model, "doubao-seed-1-6");
    }
}
