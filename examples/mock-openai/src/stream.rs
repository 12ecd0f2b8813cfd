//! A streamed completion as a lazy sequence of events: SSE frames to send
//! and pauses between them. Pure — no timers, no I/O — so the exact wire
//! sequence is tested here and [`crate::body`] only adds the clock.
//!
//! For each choice (interleaved when `n > 1`, one choice per chunk):
//!
//! 1. a head chunk: `{"role":"assistant","content":"","refusal":null}`, or for
//!    a tool call `content: null` plus the call's index, id, type, name and
//!    empty arguments;
//! 2. for a reasoning request, a [`Pause::Reasoning`] wait, then one
//!    `{"content":null,"reasoning_content":"..."}` chunk per choice —
//!    repeated for each reasoning step (DeepSeek's shape);
//! 3. a [`Pause::Content`] wait, then one content chunk per choice — repeated
//!    for each piece (the text split into `chunks` pieces, tool arguments
//!    into [`TOOL_ARGUMENT_PIECES`]);
//! 4. a chunk with an empty delta and the finish reason;
//!
//! then, only with `include_usage`, a chunk with `"choices":[]` and the usage
//! (earlier chunks then carry `"usage":null`), and finally `data: [DONE]`.
//! A cut stream stops after its allotted content steps with [`Event::Cut`].
//!
//! That is OpenAI's shape; a provider dialect's [`StreamStyle`] moves the
//! usage (onto the finishing chunk, into `choices[0]`, or a running total
//! on every chunk), opens with Azure's prompt-filter chunk, or makes the
//! stream wait behind DeepSeek's `: keep-alive` comments before its head.

use std::ops::Range;

use bytes::Bytes;
use serde::Serialize;

use std::time::Duration;

use crate::chat::{ChoiceOutput, Completion};
use crate::dialect::stream_style::{StreamStyle, UsagePlacement, KEEP_ALIVE_FRAME};
use crate::tokens::count_tokens;
use crate::wire::{self, Usage};

/// Tool-call arguments arrive over this many chunks, enough for clients to
/// prove they concatenate argument fragments.
pub const TOOL_ARGUMENT_PIECES: usize = 3;

const DONE_FRAME: &[u8] = b"data: [DONE]\n\n";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Send these bytes as one body frame.
    Frame(Bytes),
    /// Pause for the configured delay of this kind before continuing.
    Wait(Pause),
    /// Pause for exactly this long (a queue's keep-alive interval).
    Sleep(Duration),
    /// Drop the connection without finishing the stream.
    Cut,
}

/// Which delay a pause takes: reasoning and content are paced apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    Reasoning,
    Content,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    KeepAlive { left: usize },
    Queued { left: usize },
    PromptFilter,
    Head { choice: usize },
    Wait { step: usize },
    Content { step: usize, choice: usize },
    Cut,
    Finish { choice: usize },
    Usage,
    Done,
    End,
}

pub struct StreamScript {
    completion: Completion,
    /// Byte ranges of each choice's pieces, indexed `[choice][step]`.
    pieces: Vec<Vec<Range<usize>>>,
    /// The first `think_steps` steps send reasoning, the rest content.
    think_steps: usize,
    steps: usize,
    style: StreamStyle,
    /// Content steps sent before the connection is cut, if it is to be cut.
    cut_after: Option<usize>,
    phase: Phase,
}

impl StreamScript {
    /// OpenAI's stream. `chunks` is how many pieces each text answer is
    /// split into; `cut_after` cuts the stream after that many content steps.
    #[cfg(test)]
    pub fn new(
        completion: Completion,
        chunks: usize,
        include_usage: bool,
        cut_after: Option<usize>,
    ) -> StreamScript {
        StreamScript::with_style(
            completion,
            chunks,
            StreamStyle::openai(include_usage),
            cut_after,
        )
    }

    /// A stream shaped by a provider dialect's `style`.
    pub fn with_style(
        completion: Completion,
        chunks: usize,
        style: StreamStyle,
        cut_after: Option<usize>,
    ) -> StreamScript {
        let pieces: Vec<Vec<Range<usize>>> = completion
            .choices
            .iter()
            .map(|choice| match choice {
                ChoiceOutput::Text { text, .. } => split_even(text, chunks),
                ChoiceOutput::ToolCall { arguments, .. } => {
                    split_even(arguments, TOOL_ARGUMENT_PIECES)
                }
            })
            .collect();
        let think_steps = completion.reasoning_pieces.len();
        let steps = think_steps + pieces.iter().map(Vec::len).max().unwrap_or(0);
        StreamScript {
            completion,
            pieces,
            think_steps,
            steps,
            style,
            // The cut counts content steps: the reasoning always goes out.
            cut_after: cut_after.map(|after| (think_steps + after).min(steps)),
            phase: match style.keep_alive {
                Some(keep_alive) => Phase::KeepAlive {
                    left: keep_alive.count(),
                },
                None => Phase::PromptFilter,
            },
        }
    }

    /// The usage this stream reports (and the stats record) once finished.
    pub fn usage(&self) -> Usage {
        self.completion.usage
    }

    fn choice_count(&self) -> usize {
        self.completion.choices.len()
    }

    /// The phase after the content of `step` has been sent for every choice.
    fn after_step(&self, step: usize) -> Phase {
        let next = step + 1;
        if next < self.steps || self.cut_after == Some(next) {
            Phase::Wait { step: next }
        } else {
            Phase::Finish { choice: 0 }
        }
    }

    /// The choice after `choice`, while choices remain in the current round.
    fn next_choice(&self, choice: usize) -> Option<usize> {
        (choice + 1 < self.choice_count()).then_some(choice + 1)
    }

    /// A chunk of one choice; `step` is the last step it completes (`None`
    /// for the head), for a running usage total.
    fn frame(&self, choice: wire::ChunkChoice<'_>, step: Option<usize>) -> Bytes {
        let usage = match self.style.usage {
            UsagePlacement::Running => Some(Some(self.usage_through(step))),
            _ if self.style.null_usage_before => Some(None),
            _ => None,
        };
        self.chunk_bytes(std::slice::from_ref(&choice), usage)
    }

    /// Usage of everything sent up to and including `step` (of every
    /// choice), for Doubao's running totals.
    fn usage_through(&self, step: Option<usize>) -> Usage {
        let Some(step) = step else {
            return Usage {
                completion_tokens: 0,
                reasoning_tokens: 0,
                ..self.completion.usage
            };
        };
        if step + 1 >= self.steps {
            return self.completion.usage;
        }
        let choices = self.choice_count() as u64;
        let thought = self
            .completion
            .reasoning_pieces
            .get(step.min(self.think_steps.saturating_sub(1)))
            .filter(|_| self.think_steps > 0)
            .map_or(0, |range| {
                count_tokens(&self.completion.reasoning[..range.end])
            })
            * choices;
        let answered: u64 = match step.checked_sub(self.think_steps) {
            None => 0,
            Some(content_step) => self
                .completion
                .choices
                .iter()
                .zip(&self.pieces)
                .map(|(choice, pieces)| {
                    let end = pieces
                        .get(content_step)
                        .or(pieces.last())
                        .map_or(0, |range| range.end);
                    match choice {
                        ChoiceOutput::Text { text, .. } => count_tokens(&text[..end]),
                        ChoiceOutput::ToolCall { name, arguments } => {
                            count_tokens(name) + count_tokens(&arguments[..end])
                        }
                    }
                })
                .sum(),
        };
        Usage {
            completion_tokens: thought + answered,
            reasoning_tokens: thought,
            ..self.completion.usage
        }
    }

    fn chunk_bytes(
        &self,
        choices: &[wire::ChunkChoice<'_>],
        usage: Option<Option<Usage>>,
    ) -> Bytes {
        let chunk = wire::ChatChunk {
            id: &self.completion.id,
            object: "chat.completion.chunk",
            created: self.completion.created,
            model: &self.completion.model,
            system_fingerprint: wire::SYSTEM_FINGERPRINT,
            choices,
            usage,
        };
        sse_frame(&chunk)
    }

    fn head_frame(&self, index: usize) -> Option<Bytes> {
        let delta = match self.completion.choices.get(index)? {
            ChoiceOutput::Text { .. } => wire::Delta {
                role: Some("assistant"),
                content: Some(Some("")),
                refusal: Some(None),
                ..wire::Delta::default()
            },
            ChoiceOutput::ToolCall { name, .. } => wire::Delta {
                role: Some("assistant"),
                content: Some(None),
                refusal: Some(None),
                reasoning_content: None,
                tool_calls: Some([wire::ToolCallDelta {
                    index: 0,
                    id: Some(wire::TOOL_CALL_ID),
                    kind: Some("function"),
                    function: wire::FunctionDelta {
                        name: Some(name),
                        arguments: "",
                    },
                }]),
            },
        };
        Some(self.frame(chunk_choice(index, delta, None), None))
    }

    /// The content chunk for `step` of choice `index`, if that choice has
    /// that many pieces (short answers may have fewer than `chunks`).
    fn content_frame(&self, index: usize, step: usize) -> Option<Bytes> {
        if step < self.think_steps {
            return self.reasoning_frame(index, step);
        }
        let content_step = step - self.think_steps;
        let range = self.pieces.get(index)?.get(content_step)?.clone();
        let delta = match self.completion.choices.get(index)? {
            ChoiceOutput::Text { text, .. } => wire::Delta {
                content: Some(Some(&text[range])),
                ..wire::Delta::default()
            },
            ChoiceOutput::ToolCall { arguments, .. } => wire::Delta {
                tool_calls: Some([wire::ToolCallDelta {
                    index: 0,
                    id: None,
                    kind: None,
                    function: wire::FunctionDelta {
                        name: None,
                        arguments: &arguments[range],
                    },
                }]),
                ..wire::Delta::default()
            },
        };
        Some(self.frame(chunk_choice(index, delta, None), Some(step)))
    }

    /// Reasoning step `step` of choice `index`.
    fn reasoning_frame(&self, index: usize, step: usize) -> Option<Bytes> {
        let range = self.completion.reasoning_pieces.get(step)?.clone();
        let delta = wire::Delta {
            content: Some(None),
            reasoning_content: Some(Some(self.completion.reasoning.get(range)?)),
            ..wire::Delta::default()
        };
        Some(self.frame(chunk_choice(index, delta, None), Some(step)))
    }

    /// The finish chunk of choice `index`; the last choice's carries the
    /// usage when the dialect puts it there.
    fn finish_frame(&self, index: usize) -> Option<Bytes> {
        let reason = self.completion.choices.get(index)?.finish_reason().as_str();
        let mut choice = chunk_choice(index, wire::Delta::default(), Some(reason));
        let last = index + 1 == self.choice_count();
        let usage = self.completion.usage;
        let top_level = match self.style.usage {
            UsagePlacement::FinishChunk if last => Some(Some(usage)),
            UsagePlacement::Running => Some(Some(usage)),
            UsagePlacement::InChoice if last => {
                choice.usage = Some(usage);
                None
            }
            _ if self.style.null_usage_before => Some(None),
            _ => None,
        };
        Some(self.chunk_bytes(std::slice::from_ref(&choice), top_level))
    }

    /// Azure's opening chunk: no choices, the prompt's filter verdicts.
    fn prompt_filter_frame() -> Bytes {
        let safe = serde_json::json!({"filtered": false, "severity": "safe"});
        sse_frame(&serde_json::json!({
            "choices": [],
            "created": 0,
            "id": "",
            "model": "",
            "object": "",
            "prompt_filter_results": [{
                "prompt_index": 0,
                "content_filter_results": {
                    "hate": safe, "self_harm": safe, "sexual": safe, "violence": safe,
                },
            }],
        }))
    }
}

impl Iterator for StreamScript {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        loop {
            let (event, next_phase) = match self.phase {
                Phase::KeepAlive { left } => (
                    Some(Event::Frame(Bytes::from_static(KEEP_ALIVE_FRAME))),
                    Phase::Queued { left },
                ),
                Phase::Queued { left } => {
                    let interval = self.style.keep_alive.map(|k| k.interval);
                    let next = if left > 1 {
                        Phase::KeepAlive { left: left - 1 }
                    } else {
                        Phase::PromptFilter
                    };
                    (interval.map(Event::Sleep), next)
                }
                Phase::PromptFilter => {
                    let frame = self
                        .style
                        .prompt_filter_head
                        .then(|| Event::Frame(StreamScript::prompt_filter_frame()));
                    (frame, Phase::Head { choice: 0 })
                }
                Phase::Head { choice } => {
                    let next = match self.next_choice(choice) {
                        Some(choice) => Phase::Head { choice },
                        None if self.steps > 0 || self.cut_after.is_some() => {
                            Phase::Wait { step: 0 }
                        }
                        None => Phase::Finish { choice: 0 },
                    };
                    (self.head_frame(choice).map(Event::Frame), next)
                }
                Phase::Wait { step } => {
                    let next = if self.cut_after == Some(step) {
                        Phase::Cut
                    } else {
                        Phase::Content { step, choice: 0 }
                    };
                    let pause = if step < self.think_steps {
                        Pause::Reasoning
                    } else {
                        Pause::Content
                    };
                    (Some(Event::Wait(pause)), next)
                }
                Phase::Content { step, choice } => {
                    let next = match self.next_choice(choice) {
                        Some(choice) => Phase::Content { step, choice },
                        None => self.after_step(step),
                    };
                    (self.content_frame(choice, step).map(Event::Frame), next)
                }
                Phase::Cut => (Some(Event::Cut), Phase::End),
                Phase::Finish { choice } => {
                    let next = match self.next_choice(choice) {
                        Some(choice) => Phase::Finish { choice },
                        None if self.style.usage == UsagePlacement::FinalChunk => Phase::Usage,
                        None => Phase::Done,
                    };
                    (self.finish_frame(choice).map(Event::Frame), next)
                }
                Phase::Usage => {
                    let frame = self.chunk_bytes(&[], Some(Some(self.completion.usage)));
                    (Some(Event::Frame(frame)), Phase::Done)
                }
                Phase::Done => (
                    Some(Event::Frame(Bytes::from_static(DONE_FRAME))),
                    Phase::End,
                ),
                Phase::End => return None,
            };
            self.phase = next_phase;
            if let Some(event) = event {
                return Some(event);
            }
        }
    }
}

fn chunk_choice<'a>(
    index: usize,
    delta: wire::Delta<'a>,
    finish_reason: Option<&'static str>,
) -> wire::ChunkChoice<'a> {
    wire::ChunkChoice {
        index,
        delta,
        logprobs: None,
        finish_reason,
        usage: None,
    }
}

/// `data: <json>\n\n` for one event.
fn sse_frame(payload: &impl Serialize) -> Bytes {
    let mut frame = b"data: ".to_vec();
    // Serialising these plain structs cannot fail (no maps, no custom
    // serialisers that error), so there is no error to report.
    if serde_json::to_writer(&mut frame, payload).is_ok() {
        frame.extend_from_slice(b"\n\n");
    }
    Bytes::from(frame)
}

/// Byte ranges cutting `text` into `pieces` runs of as-equal-as-possible
/// character counts. Boundaries fall between characters, never inside one;
/// a text shorter than `pieces` characters gets one piece per character, and
/// an empty text gets none.
pub fn split_even(text: &str, pieces: usize) -> Vec<Range<usize>> {
    let mut char_starts: Vec<usize> = text.char_indices().map(|(offset, _)| offset).collect();
    let char_count = char_starts.len();
    char_starts.push(text.len());
    let pieces = pieces.clamp(1, char_count.max(1));
    if char_count == 0 {
        return Vec::new();
    }
    (0..pieces)
        .map(|piece| {
            let first_char = piece * char_count / pieces;
            let end_char = (piece + 1) * char_count / pieces;
            char_starts[first_char]..char_starts[end_char]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::chat::plan_chat;

    #[track_caller]
    fn check_split(text: &str, pieces: usize, expected_pieces: usize) {
        let ranges = split_even(text, pieces);
        assert_eq!(ranges.len(), expected_pieces, "{text:?} into {pieces}");
        let rebuilt: String = ranges.iter().map(|range| &text[range.clone()]).collect();
        assert_eq!(rebuilt, text);
        let sizes: Vec<usize> = ranges
            .iter()
            .map(|range| text[range.clone()].chars().count())
            .collect();
        let (smallest, largest) = (sizes.iter().min(), sizes.iter().max());
        assert!(
            largest.zip(smallest).is_none_or(|(l, s)| l - s <= 1),
            "uneven {sizes:?}"
        );
    }

    #[test]
    fn split_is_even_and_never_breaks_utf8() {
        check_split("abcdefghij", 3, 3);
        check_split("abcdefghij", 40, 10);
        check_split("", 40, 0);
        check_split("x", 0, 1);
        check_split("你好世界，こんにちは😀👍🏽👩‍👩‍👧 mixed ascii", 7, 7);
        check_split("😀😀😀😀😀", 2, 2);
        let long = "ü€😀中".repeat(250);
        for pieces in [1, 2, 3, 40, 999, 1000, 5000] {
            check_split(&long, pieces, pieces.min(1000));
        }
    }

    fn script_for(request: Value, chunks: usize, cut_after: Option<usize>) -> StreamScript {
        let plan = match plan_chat(request.to_string().as_bytes(), "chatcmpl-mock-7".into(), 9) {
            Ok(plan) => plan,
            Err(error) => panic!("bad test request: {error:?}"),
        };
        StreamScript::new(plan.completion, chunks, plan.include_usage, cut_after)
    }

    /// The events of a script, with frames decoded (`"[DONE]"` as a string).
    fn run(script: StreamScript) -> Vec<Option<Value>> {
        script
            .map(|event| match event {
                Event::Frame(bytes) => {
                    let text = std::str::from_utf8(&bytes).unwrap_or_default();
                    assert!(
                        text.starts_with("data: ") && text.ends_with("\n\n"),
                        "{text:?}"
                    );
                    let payload = &text["data: ".len()..text.len() - 2];
                    Some(serde_json::from_str(payload).unwrap_or(Value::String(payload.into())))
                }
                Event::Wait(_) | Event::Sleep(_) => None,
                Event::Cut => Some(Value::String("CUT".into())),
            })
            .collect()
    }

    fn content_of(frames: &[Value], choice: u64) -> String {
        frames
            .iter()
            .filter_map(|frame| frame["choices"].as_array())
            .flatten()
            .filter(|c| c["index"] == choice)
            .filter_map(|c| c["delta"]["content"].as_str())
            .collect()
    }

    fn request(include_usage: bool) -> Value {
        json!({
            "model": "gpt-4o-mini",
            "stream": true,
            "stream_options": {"include_usage": include_usage},
            "messages": [{"role": "user", "content": "héllo 你好 😀"}],
        })
    }

    #[test]
    fn stream_without_usage() {
        let events = run(script_for(request(false), 10, None));
        let waits = events.iter().filter(|e| e.is_none()).count();
        assert_eq!(waits, 10);
        let frames: Vec<Value> = events.into_iter().flatten().collect();
        // head + 10 content + finish + [DONE]
        assert_eq!(frames.len(), 13);
        assert_eq!(frames[0]["object"], "chat.completion.chunk");
        assert_eq!(frames[0]["id"], "chatcmpl-mock-7");
        assert_eq!(frames[0]["model"], "gpt-4o-mini");
        assert_eq!(
            frames[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "refusal": null})
        );
        assert!(frames[0]["choices"][0]["finish_reason"].is_null());
        assert!(frames.iter().all(|frame| frame.get("usage").is_none()));
        assert_eq!(frames[11]["choices"][0]["delta"], json!({}));
        assert_eq!(frames[11]["choices"][0]["finish_reason"], "stop");
        assert_eq!(frames[12], "[DONE]");
        let expected = crate::answer::answer_text("héllo 你好 😀", 0, 1);
        assert_eq!(content_of(&frames, 0), expected);
    }

    #[test]
    fn stream_with_usage_ends_with_a_usage_chunk() {
        let script = script_for(request(true), 40, None);
        let usage = script.usage();
        let frames: Vec<Value> = run(script).into_iter().flatten().collect();
        let (done, rest) = frames.split_last().unwrap_or((&Value::Null, &[]));
        let (usage_chunk, earlier) = rest.split_last().unwrap_or((&Value::Null, &[]));
        assert_eq!(*done, "[DONE]");
        assert_eq!(usage_chunk["choices"], json!([]));
        assert_eq!(
            usage_chunk["usage"]["completion_tokens"],
            usage.completion_tokens
        );
        assert_eq!(usage_chunk["usage"]["prompt_tokens"], usage.prompt_tokens);
        assert!(earlier
            .iter()
            .all(|frame| frame["usage"].is_null() && frame.get("usage").is_some()));
        let delivered = content_of(&frames, 0);
        assert_eq!(
            crate::tokens::count_tokens(&delivered),
            usage.completion_tokens
        );
    }

    #[test]
    fn truncated_stream_reports_length_and_delivered_tokens() {
        let mut request = request(true);
        request["max_tokens"] = json!(3);
        let frames: Vec<Value> = run(script_for(request, 40, None))
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(content_of(&frames, 0), "## Mock answ");
        let finish = &frames[frames.len() - 3];
        assert_eq!(finish["choices"][0]["finish_reason"], "length");
        assert_eq!(frames[frames.len() - 2]["usage"]["completion_tokens"], 3);
    }

    #[test]
    fn cut_stream_sends_five_pieces_then_cuts() {
        let events = run(script_for(request(true), 40, Some(5)));
        let (last, before) = events.split_last().unwrap_or((&None, &[]));
        assert_eq!(*last, Some(Value::String("CUT".into())));
        // The cut comes after a pause so the fifth piece is flushed first.
        assert_eq!(before.last(), Some(&None));
        let frames: Vec<Value> = events.into_iter().flatten().collect();
        let content_chunks = frames
            .iter()
            .filter(|f| f["choices"][0]["delta"]["content"].is_string())
            .count();
        assert_eq!(content_chunks, 1 + 5);
        assert!(!frames
            .iter()
            .any(|f| *f == "[DONE]" || f["choices"][0]["finish_reason"].is_string()));
    }

    #[test]
    fn n_choices_are_interleaved() {
        let mut request = request(false);
        request["n"] = json!(2);
        let frames: Vec<Value> = run(script_for(request, 4, None))
            .into_iter()
            .flatten()
            .collect();
        let indexes: Vec<u64> = frames
            .iter()
            .filter_map(|f| f["choices"][0]["index"].as_u64())
            .collect();
        assert_eq!(indexes, [0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
        assert!(content_of(&frames, 1).contains("choice 2 of 2"));
    }

    #[test]
    fn tool_call_arguments_arrive_in_three_pieces() {
        let request = json!({
            "model": "m", "stream": true,
            "messages": [{"role": "user", "content": "find 你好"}],
            "tools": [{"type": "function", "function": {"name": "search"}}],
        });
        let frames: Vec<Value> = run(script_for(request, 40, None))
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            frames[0]["choices"][0]["delta"],
            json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                {"index": 0, "id": "call_mock_1", "type": "function", "function": {"name": "search", "arguments": ""}}
            ]})
        );
        let pieces: Vec<&str> = frames[1..4]
            .iter()
            .filter_map(|f| {
                f["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str()
            })
            .collect();
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), r#"{"query":"find 你好"}"#);
        assert!(frames[1]["choices"][0]["delta"]["tool_calls"][0]
            .get("id")
            .is_none());
        assert_eq!(frames[4]["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(frames[5], "[DONE]");
    }

    fn reasoning_of(frames: &[Value]) -> String {
        frames
            .iter()
            .filter_map(|frame| frame["choices"][0]["delta"]["reasoning_content"].as_str())
            .collect()
    }

    #[test]
    fn reasoning_streams_before_the_content_and_is_counted() {
        let request = json!({
            "model": "deepseek-reasoner", "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "why?"}],
        });
        let script = script_for(request, 4, None);
        let usage = script.usage();
        let events: Vec<Event> = script.collect();
        let pauses: Vec<Pause> = events
            .iter()
            .filter_map(|event| match event {
                Event::Wait(pause) => Some(*pause),
                _ => None,
            })
            .collect();
        let mut expected = vec![Pause::Reasoning; 8];
        expected.extend([Pause::Content; 4]);
        assert_eq!(pauses, expected);

        let frames: Vec<Value> = run(script_for(
            json!({
                "model": "deepseek-reasoner", "stream": true,
                "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": "why?"}],
            }),
            4,
            None,
        ))
        .into_iter()
        .flatten()
        .collect();
        // head, 8 reasoning, 4 content, finish, usage, [DONE]
        assert_eq!(frames.len(), 1 + 8 + 4 + 1 + 1 + 1);
        for frame in &frames[1..9] {
            let delta = &frame["choices"][0]["delta"];
            assert!(delta["reasoning_content"].is_string(), "{frame}");
            assert!(delta["content"].is_null() && delta.get("content").is_some());
        }
        assert!(frames[9..13]
            .iter()
            .all(|f| f["choices"][0]["delta"]["content"].is_string()
                && f["choices"][0]["delta"].get("reasoning_content").is_none()));
        let thought = reasoning_of(&frames);
        assert!(thought.starts_with("The user wants"));
        let reasoning_tokens = crate::tokens::count_tokens(&thought);
        let answer_tokens = crate::tokens::count_tokens(&content_of(&frames, 0));
        assert_eq!(usage.reasoning_tokens, reasoning_tokens);
        let usage_chunk = &frames[frames.len() - 2]["usage"];
        assert_eq!(
            usage_chunk["completion_tokens"],
            reasoning_tokens + answer_tokens
        );
        assert_eq!(
            usage_chunk["completion_tokens_details"]["reasoning_tokens"],
            reasoning_tokens
        );
    }

    #[test]
    fn think_directive_sets_the_reasoning_chunk_count() {
        let request = json!({
            "model": "gpt-4o-mini", "stream": true,
            "messages": [{"role": "user", "content": "你好 [mock think=3]"}],
        });
        let frames: Vec<Value> = run(script_for(request, 2, None))
            .into_iter()
            .flatten()
            .collect();
        let reasoning_chunks = frames
            .iter()
            .filter(|f| f["choices"][0]["delta"]["reasoning_content"].is_string())
            .count();
        assert_eq!(reasoning_chunks, 3);
        assert!(reasoning_of(&frames).starts_with("用户"));
    }

    #[test]
    fn plain_models_send_no_reasoning() {
        let frames: Vec<Value> = run(script_for(request(true), 4, None))
            .into_iter()
            .flatten()
            .collect();
        assert!(reasoning_of(&frames).is_empty());
        assert_eq!(
            frames[frames.len() - 2]["usage"]["completion_tokens_details"]["reasoning_tokens"],
            0
        );
    }

    #[test]
    fn a_cut_reasoning_stream_still_sends_its_reasoning() {
        let request = json!({
            "model": "mock-thinker", "stream": true,
            "messages": [{"role": "user", "content": "q"}],
        });
        let frames: Vec<Value> = run(script_for(request, 40, Some(5)))
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(frames.last(), Some(&Value::String("CUT".into())));
        assert!(!reasoning_of(&frames).is_empty());
        let content_chunks = frames[1..]
            .iter()
            .filter(|f| f["choices"][0]["delta"]["content"].is_string())
            .count();
        assert_eq!(content_chunks, 5);
    }
}
