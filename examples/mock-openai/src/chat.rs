//! Chat completion requests: parse the body, then decide the whole answer up
//! front — texts, tool calls, finish reasons and usage — before any byte is
//! sent. Streaming and non-streaming responses are two renderings of the
//! same [`Completion`], which is what keeps their `usage` identical.
//!
//! Rules beyond [`crate::answer`] and [`crate::tokens`]:
//!
//! * `n` choices (default 1, at most [`MAX_CHOICES`]) each get an answer.
//! * Tools ([`crate::tools`]): a user message that asks for an offered tool
//!   (or `tool_choice`, or a directive) turns every choice into calls, with
//!   arguments built from the tool's schema; a request ending in tool
//!   results is answered by quoting them. Calls cost
//!   `tokens(name) + tokens(arguments)` each and are never truncated by
//!   `max_tokens`; a quote is a text answer like any other.
//! * `max_completion_tokens` (else `max_tokens`) below the answer's token
//!   count truncates the answer to that many tokens, finish reason `length`.
//! * Message content may be a string, an array of parts (the `text` of the
//!   text parts joined with `\n`) or null/absent (empty).
//! * A reasoning request ([`crate::reasoning`]) gets the same chain of
//!   thought on every choice; its tokens are added to `completion_tokens`
//!   and reported as `reasoning_tokens`. `max_tokens` truncates only the
//!   answer, never the reasoning.
//! * A `forbidden-*` model is refused while parsing
//!   ([`crate::request_faults`]); the TPM check needs the server's limit, so
//!   the router applies it to the parsed [`ChatRequest`].

use std::ops::Range;

use serde::Deserialize;
use serde_json::Value;

mod message;
pub use message::Message;

use crate::answer::answer_text;
use crate::errors::ApiError;
use crate::reasoning::{reasoning_steps, think_steps, think_steps_for};
use crate::request_faults::check_model_access;
use crate::tokens::{count_prompt_tokens, count_tokens, truncate_to_tokens, TOKENS_PER_PROMPT};
use crate::tools::{self, call_id, request_digest, Offered, ToolReply};
use crate::wire::{self, Usage};

/// OpenAI's own ceiling on `n`; it also bounds the work one request can ask for.
pub const MAX_CHOICES: u64 = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    Stop,
    Length,
    ToolCalls,
    /// Zhipu's content-safety stop, mid-answer.
    Sensitive,
    /// Zhipu's inference failure, mid-answer.
    NetworkError,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Sensitive => "sensitive",
            FinishReason::NetworkError => "network_error",
        }
    }

    /// The mid-answer endings a `[mock finish=...]` directive can ask for.
    pub fn parse_early(name: &str) -> Option<FinishReason> {
        match name {
            "sensitive" => Some(FinishReason::Sensitive),
            "network_error" => Some(FinishReason::NetworkError),
            _ => None,
        }
    }
}

/// What one choice says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChoiceOutput {
    Text {
        text: String,
        finish_reason: FinishReason,
    },
    /// One or more calls (`[mock tools=N]`), in index order.
    ToolCalls(Vec<ToolCall>),
}

/// One call of a tool-calling choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// A JSON string, as OpenAI sends arguments.
    pub arguments: String,
}

impl ToolCall {
    pub fn tokens(&self) -> u64 {
        count_tokens(&self.name) + count_tokens(&self.arguments)
    }
}

impl ChoiceOutput {
    pub fn finish_reason(&self) -> FinishReason {
        match self {
            ChoiceOutput::Text { finish_reason, .. } => *finish_reason,
            ChoiceOutput::ToolCalls(_) => FinishReason::ToolCalls,
        }
    }

    fn completion_tokens(&self) -> u64 {
        match self {
            ChoiceOutput::Text { text, .. } => count_tokens(text),
            ChoiceOutput::ToolCalls(calls) => calls.iter().map(ToolCall::tokens).sum(),
        }
    }
}

/// Everything a response will say, decided before sending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub choices: Vec<ChoiceOutput>,
    /// The chain of thought; empty when the request does not reason.
    /// Every choice carries it.
    pub reasoning: String,
    /// Byte ranges of `reasoning`, one per reasoning chunk.
    pub reasoning_pieces: Vec<Range<usize>>,
    pub usage: Usage,
}

impl Completion {
    /// Cuts every text answer to its first half and ends it with `reason`,
    /// as Zhipu stops an answer mid-way; usage then counts what was kept.
    pub fn end_early(&mut self, reason: FinishReason) {
        let mut answer_tokens = 0;
        for choice in &mut self.choices {
            if let ChoiceOutput::Text {
                text,
                finish_reason,
            } = choice
            {
                let half = text.chars().count() / 2;
                let cut = text
                    .char_indices()
                    .nth(half)
                    .map_or(text.len(), |(at, _)| at);
                text.truncate(cut);
                *finish_reason = reason;
            }
            answer_tokens += choice.completion_tokens();
        }
        self.usage.completion_tokens = answer_tokens + self.usage.reasoning_tokens;
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatPlan {
    pub completion: Completion,
    pub stream: bool,
    /// `stream_options.include_usage`: add a final usage chunk.
    pub include_usage: bool,
}

#[derive(Deserialize)]
struct RequestBody {
    model: Option<String>,
    messages: Option<Vec<Message>>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
    n: Option<u64>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    /// The legacy spelling of `tools` and `tool_choice`.
    functions: Option<Vec<Value>>,
    function_call: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
    /// Volcengine Ark's running usage on every chunk.
    chunk_include_usage: Option<bool>,
}

/// A chat request that passed validation, before its answer is planned.
/// The router looks at it in between: model access, the request's size
/// against the TPM limit, and the pacing directive in the last user message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRequest {
    pub model: String,
    last_user_message: String,
    prompt_tokens: u64,
    /// Prompt tokens of every message before the last: what a provider's
    /// prompt cache would have seen already (DeepSeek reports it as hits).
    history_tokens: u64,
    stream: bool,
    include_usage: bool,
    chunk_include_usage: bool,
    choice_count: usize,
    /// `max_completion_tokens`, else `max_tokens`.
    token_limit: Option<u64>,
    tool_reply: ToolReply,
    /// Seeds the tool-call ids: the same body always gets the same ids.
    request_digest: u64,
    /// Reasoning chunks to stream before the answer, if the request reasons.
    think_steps: Option<usize>,
}

impl ChatRequest {
    #[cfg(test)]
    pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
        ChatRequest::parse_for(body, None)
    }

    /// Parses a body that may leave `model` out when the endpoint names it
    /// (Azure's deployment): `default_model` then stands in.
    pub fn parse_for(body: &[u8], default_model: Option<&str>) -> Result<ChatRequest, ApiError> {
        let request: RequestBody =
            serde_json::from_slice(body).map_err(|error| ApiError::BadJson(error.to_string()))?;
        let model = request
            .model
            .or_else(|| default_model.map(str::to_owned))
            .ok_or_else(|| ApiError::invalid("model", "you must provide a model parameter"))?;
        check_model_access(&model)?;
        let messages = request.messages.ok_or_else(|| {
            ApiError::invalid("messages", "Missing required parameter: 'messages'.")
        })?;
        let choice_count = request.n.unwrap_or(1);
        if !(1..=MAX_CHOICES).contains(&choice_count) {
            return Err(ApiError::invalid(
                "n",
                format!("n must be between 1 and {MAX_CHOICES}, got {choice_count}."),
            ));
        }
        // Fits: MAX_CHOICES is small.
        let choice_count = choice_count as usize;
        let token_limit = request.max_completion_tokens.or(request.max_tokens);
        if token_limit == Some(0) {
            let param = if request.max_completion_tokens.is_some() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            return Err(ApiError::invalid(
                param,
                format!("{param} must be at least 1."),
            ));
        }

        let message_texts: Vec<String> = messages.iter().map(Message::text).collect();
        let last_user_message = messages
            .iter()
            .zip(&message_texts)
            .rev()
            .find(|(message, _)| message.role == "user")
            .map_or_else(String::new, |(_, text)| text.clone());
        let think_steps = think_steps(&model, &last_user_message);
        let history_tokens = message_texts.split_last().map_or(0, |(_, earlier)| {
            count_prompt_tokens(earlier.iter().map(String::as_str)) - TOKENS_PER_PROMPT
        });
        let (include_usage, chunk_include_usage) =
            request.stream_options.map_or((None, None), |options| {
                (options.include_usage, options.chunk_include_usage)
            });
        let offered = Offered::parse(
            request.tools.as_deref().unwrap_or_default(),
            request.functions.as_deref().unwrap_or_default(),
            request.tool_choice.as_ref(),
            request.function_call.as_ref(),
        );
        let tool_reply = tools::decide(&offered, &messages, &last_user_message);
        Ok(ChatRequest {
            model,
            think_steps,
            history_tokens,
            include_usage: include_usage.unwrap_or(false),
            chunk_include_usage: chunk_include_usage.unwrap_or(false),
            last_user_message,
            prompt_tokens: count_prompt_tokens(message_texts.iter().map(String::as_str)),
            stream: request.stream.unwrap_or(false),
            choice_count,
            token_limit,
            tool_reply,
            request_digest: request_digest(body),
        })
    }

    pub fn include_usage(&self) -> bool {
        self.include_usage
    }

    pub fn chunk_include_usage(&self) -> bool {
        self.chunk_include_usage
    }

    pub fn history_tokens(&self) -> u64 {
        self.history_tokens
    }

    /// A provider's explicit switch (Qwen's `enable_thinking`) overrides the
    /// model's name; a `[mock think=N]` directive still wins over both.
    pub fn set_thinking(&mut self, on: bool) {
        self.think_steps = think_steps_for(on, &self.last_user_message);
    }

    /// The text of the last `user` message, empty if there is none.
    pub fn last_user_message(&self) -> &str {
        &self.last_user_message
    }

    /// What OpenAI's tokens-per-minute check weighs: the prompt's tokens plus
    /// the most output tokens the request allows (0 when it sets no limit).
    pub fn requested_tokens(&self) -> u64 {
        self.prompt_tokens
            .saturating_add(self.token_limit.unwrap_or(0))
    }

    /// Decides the whole answer. `id` and `created` come from the caller so
    /// tests are deterministic.
    pub fn plan(self, id: String, created: u64) -> ChatPlan {
        let choices: Vec<ChoiceOutput> = (0..self.choice_count)
            .map(|index| match &self.tool_reply {
                ToolReply::Calls(calls) => ChoiceOutput::ToolCalls(
                    calls
                        .iter()
                        .enumerate()
                        .map(|(call_index, call)| ToolCall {
                            id: call_id(self.request_digest, index, call_index),
                            name: call.name.clone(),
                            arguments: call.arguments.clone(),
                        })
                        .collect(),
                ),
                reply => {
                    let full = match reply {
                        ToolReply::QuoteResults(quote) => quote.clone(),
                        _ => answer_text(&self.last_user_message, index, self.choice_count),
                    };
                    match self
                        .token_limit
                        .and_then(|limit| truncate_to_tokens(&full, limit))
                    {
                        Some(truncated) => ChoiceOutput::Text {
                            text: truncated.to_owned(),
                            finish_reason: FinishReason::Length,
                        },
                        None => ChoiceOutput::Text {
                            text: full,
                            finish_reason: FinishReason::Stop,
                        },
                    }
                }
            })
            .collect();
        let steps = self
            .think_steps
            .map(|steps| reasoning_steps(&self.last_user_message, steps))
            .unwrap_or_default();
        let mut reasoning = String::new();
        let reasoning_pieces = steps
            .iter()
            .map(|step| {
                let start = reasoning.len();
                reasoning.push_str(step);
                start..reasoning.len()
            })
            .collect();
        let reasoning_tokens = count_tokens(&reasoning).saturating_mul(choices.len() as u64);
        let answer_tokens: u64 = choices.iter().map(ChoiceOutput::completion_tokens).sum();
        let usage = Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: answer_tokens.saturating_add(reasoning_tokens),
            reasoning_tokens,
            ..Usage::default()
        };
        ChatPlan {
            completion: Completion {
                id,
                created,
                model: self.model,
                choices,
                reasoning,
                reasoning_pieces,
                usage,
            },
            stream: self.stream,
            include_usage: self.include_usage,
        }
    }
}

/// Parses and plans in one go, for tests that only care about the answer.
#[cfg(test)]
pub fn plan_chat(body: &[u8], id: String, created: u64) -> Result<ChatPlan, ApiError> {
    Ok(ChatRequest::parse(body)?.plan(id, created))
}

/// The non-streaming `chat.completion` JSON for a planned completion.
pub fn completion_json(completion: &Completion) -> wire::ChatCompletion<'_> {
    let reasoning_content =
        (!completion.reasoning.is_empty()).then_some(completion.reasoning.as_str());
    let choices = completion
        .choices
        .iter()
        .enumerate()
        .map(|(index, output)| {
            let message = match output {
                ChoiceOutput::Text { text, .. } => wire::AssistantMessage {
                    role: "assistant",
                    content: Some(text),
                    refusal: None,
                    reasoning_content,
                    tool_calls: None,
                },
                ChoiceOutput::ToolCalls(calls) => wire::AssistantMessage {
                    role: "assistant",
                    content: None,
                    refusal: None,
                    reasoning_content,
                    tool_calls: Some(
                        calls
                            .iter()
                            .map(|call| wire::ToolCall {
                                id: &call.id,
                                kind: "function",
                                function: wire::FunctionCall {
                                    name: &call.name,
                                    arguments: &call.arguments,
                                },
                            })
                            .collect(),
                    ),
                },
            };
            wire::CompletionChoice {
                index,
                message,
                logprobs: None,
                finish_reason: output.finish_reason().as_str(),
            }
        })
        .collect();
    wire::ChatCompletion {
        id: &completion.id,
        object: "chat.completion",
        created: completion.created,
        model: &completion.model,
        choices,
        usage: completion.usage,
        system_fingerprint: wire::SYSTEM_FINGERPRINT,
    }
}

#[cfg(test)]
mod tests;
