//! Reasoning ("thinking") output, as DeepSeek's `deepseek-reasoner`, Qwen's
//! thinking models and OpenAI's o-series produce it: a chain of thought sent
//! as `delta.reasoning_content` chunks before the answer's content (or as
//! `message.reasoning_content` when not streamed), and counted in
//! `usage.completion_tokens` and `completion_tokens_details.reasoning_tokens`.
//!
//! A request reasons when its model name contains `reason` or `think`
//! (`deepseek-reasoner`, `mock-thinker`), or `qwq`/`qwen3` (Qwen's thinking
//! models), or when its last user message carries `[mock think=N]`. The
//! directive's `N` (1 to [`MAX_CHUNKS`]) is the number of reasoning chunks;
//! `think=0` turns reasoning off even for a reasoning model. Each chunk is
//! one short step of a canned chain of thought, in Chinese when the prompt
//! contains CJK text, else in English.

use crate::args::MAX_CHUNKS;
use crate::directive::directive_value;

/// Reasoning chunks when the model (not the directive) asks for reasoning.
pub const DEFAULT_THINK_STEPS: usize = 8;

/// Words in a model name that make it a reasoning model.
const REASONING_MODEL_MARKERS: [&str; 4] = ["reason", "think", "qwq", "qwen3"];

const ENGLISH_STEPS: [&str; 8] = [
    "The user wants an answer to their last message. ",
    "Let me restate the question to be sure I read it right. ",
    "First, what facts do I already know here? ",
    "Next, which parts need more care? ",
    "Checking the edge cases one by one. ",
    "That looks consistent so far. ",
    "A short structured answer will read best. ",
    "Done thinking; writing the answer now.\n",
];

const CHINESE_STEPS: [&str; 8] = [
    "用户希望我回答最后一条消息。",
    "先把问题复述一遍，确认理解无误。",
    "首先，这里已知哪些事实？",
    "接着，哪些部分需要更仔细地考虑？",
    "逐一检查边界情况。",
    "到目前为止都是一致的。",
    "简短而有条理的回答最好读。",
    "思考完毕，现在开始作答。\n",
];

/// How many reasoning chunks this request streams, `None` when it does
/// not reason. The directive beats the model name.
pub fn think_steps(model: &str, last_user_message: &str) -> Option<usize> {
    think_steps_for(is_reasoning_model(model), last_user_message)
}

/// As [`think_steps`], for a request whose reasoning is on or off by
/// something other than its model name; the directive still wins.
pub fn think_steps_for(reasons: bool, last_user_message: &str) -> Option<usize> {
    let directive = directive_value(last_user_message, "think", |value| {
        value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|steps| *steps <= MAX_CHUNKS)
    });
    match directive {
        Some(0) => None,
        Some(steps) => Some(steps),
        None => reasons.then_some(DEFAULT_THINK_STEPS),
    }
}

pub fn is_reasoning_model(model: &str) -> bool {
    let model = model.to_ascii_lowercase();
    REASONING_MODEL_MARKERS
        .iter()
        .any(|marker| model.contains(marker))
}

/// The chain of thought, one string per chunk, cycling through the canned
/// steps when more are asked for than there are.
pub fn reasoning_steps(last_user_message: &str, steps: usize) -> Vec<String> {
    let canned: &[&str] = if last_user_message.chars().any(crate::tokens::is_cjk) {
        &CHINESE_STEPS
    } else {
        &ENGLISH_STEPS
    };
    canned
        .iter()
        .cycle()
        .take(steps)
        .map(|step| (*step).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(model: &str, message: &str, expected: Option<usize>) {
        assert_eq!(think_steps(model, message), expected, "{model} / {message}");
    }

    #[test]
    fn model_names_and_the_directive_turn_reasoning_on() {
        check("deepseek-reasoner", "hi", Some(8));
        check("mock-thinker", "hi", Some(8));
        check("QwQ-32B", "hi", Some(8));
        check("qwen3-235b-a22b", "hi", Some(8));
        check("gpt-4o-mini", "hi", None);
        check("deepseek-chat", "hi", None);
        check("gpt-4o-mini", "hi [mock think=3]", Some(3));
        check("deepseek-reasoner", "[mock think=2]", Some(2));
        check("deepseek-reasoner", "[mock think=0]", None);
        check("gpt-4o", "[mock think=lots]", None);
        check("gpt-4o", "[mock think=10001]", None);
    }

    #[test]
    fn steps_follow_the_prompt_language_and_count() {
        let english = reasoning_steps("hello", 3);
        assert_eq!(english.len(), 3);
        assert!(english[0].starts_with("The user"));
        let chinese = reasoning_steps("你好", 10);
        assert_eq!(chinese.len(), 10);
        assert_eq!(chinese[8], chinese[0]);
        assert!(chinese[0].starts_with("用户"));
        assert!(reasoning_steps("x", 0).is_empty());
    }
}
