//! A streamed completion as a lazy sequence of events: SSE frames to send
//! and pauses between them. Pure — no timers, no I/O — so the exact wire
//! sequence is tested here and [`crate::body`] only adds the clock.
//!
//! For each choice (interleaved when `n > 1`, one choice per chunk):
//!
//! 1. a head chunk: `{"role":"assistant","content":"","refusal":null}`, or for
//!    tool calls `content: null` plus the first call's index, id, type, name
//!    and empty arguments (after reasoning, when there is reasoning);
//! 2. for a reasoning request, a [`Pause::Reasoning`] wait, then one
//!    `{"content":null,"reasoning_content":"..."}` chunk per choice —
//!    repeated for each reasoning step (DeepSeek's shape);
//! 3. a [`Pause::Content`] wait, then one content chunk per choice — repeated
//!    for each piece (the text split into `chunks` pieces; each call's
//!    arguments into [`TOOL_ARGUMENT_PIECES`] fragments of its JSON, every
//!    later call opened by a chunk with its index, id, type and name);
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

use crate::chat::{ChoiceOutput, Completion, ToolCall};
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

/// What one content step sends for one choice.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    /// These bytes of the text answer.
    Text(Range<usize>),
    /// The opening of call `call`: its index, id, type and name.
    CallHead(usize),
    /// These bytes of call `call`'s arguments.
    Arguments { call: usize, range: Range<usize> },
}

pub struct StreamScript {
    completion: Completion,
    /// Each choice's pieces, indexed `[choice][step]`.
    pieces: Vec<Vec<Piece>>,
    /// Completion tokens a choice has sent once each of its pieces is out,
    /// indexed like `pieces` (for Doubao's running usage).
    sent_tokens: Vec<Vec<u64>>,
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
        let think_steps = completion.reasoning_pieces.len();
        let pieces: Vec<Vec<Piece>> = completion
            .choices
            .iter()
            .map(|choice| choice_pieces(choice, chunks, think_steps > 0))
            .collect();
        let sent_tokens = completion
            .choices
            .iter()
            .zip(&pieces)
            .map(|(choice, pieces)| tokens_after_each(choice, pieces))
            .collect();
        let steps = think_steps + pieces.iter().map(Vec::len).max().unwrap_or(0);
        StreamScript {
            completion,
            pieces,
            sent_tokens,
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
                .sent_tokens
                .iter()
                .map(|sent| sent.get(content_step).or(sent.last()).copied().unwrap_or(0))
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
            ChoiceOutput::ToolCalls(calls) => wire::Delta {
                role: Some("assistant"),
                content: Some(None),
                refusal: Some(None),
                reasoning_content: None,
                // After reasoning, the first call opens in its own chunk.
                tool_calls: calls
                    .first()
                    .filter(|_| self.think_steps == 0)
                    .map(|call| [call_head(0, call)]),
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
        let piece = self.pieces.get(index)?.get(content_step)?;
        let delta = match (self.completion.choices.get(index)?, piece) {
            (ChoiceOutput::Text { text, .. }, Piece::Text(range)) => wire::Delta {
                content: Some(Some(text.get(range.clone())?)),
                ..wire::Delta::default()
            },
            (ChoiceOutput::ToolCalls(calls), Piece::CallHead(call)) => wire::Delta {
                tool_calls: Some([call_head(*call, calls.get(*call)?)]),
                ..wire::Delta::default()
            },
            (ChoiceOutput::ToolCalls(calls), Piece::Arguments { call, range }) => wire::Delta {
                tool_calls: Some([wire::ToolCallDelta {
                    index: *call,
                    id: None,
                    kind: None,
                    function: wire::FunctionDelta {
                        name: None,
                        arguments: calls.get(*call)?.arguments.get(range.clone())?,
                    },
                }]),
                ..wire::Delta::default()
            },
            _ => return None,
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

/// The delta that opens call `index`: id, type, name and empty arguments.
fn call_head(index: usize, call: &ToolCall) -> wire::ToolCallDelta<'_> {
    wire::ToolCallDelta {
        index,
        id: Some(&call.id),
        kind: Some("function"),
        function: wire::FunctionDelta {
            name: Some(&call.name),
            arguments: "",
        },
    }
}

/// A choice's content steps. `heads_in_pieces`: every call opens in a piece
/// of its own (after reasoning), not only the later ones.
fn choice_pieces(choice: &ChoiceOutput, chunks: usize, heads_in_pieces: bool) -> Vec<Piece> {
    match choice {
        ChoiceOutput::Text { text, .. } => split_even(text, chunks)
            .into_iter()
            .map(Piece::Text)
            .collect(),
        ChoiceOutput::ToolCalls(calls) => {
            let mut pieces = Vec::new();
            for (call, tool_call) in calls.iter().enumerate() {
                if call > 0 || heads_in_pieces {
                    pieces.push(Piece::CallHead(call));
                }
                let fragments = split_even(&tool_call.arguments, TOOL_ARGUMENT_PIECES);
                pieces.extend(
                    fragments
                        .into_iter()
                        .map(|range| Piece::Arguments { call, range }),
                );
            }
            pieces
        }
    }
}

/// The completion tokens a choice has sent once each piece is out: the
/// text so far, or every earlier call whole plus the current call's name
/// and arguments so far.
fn tokens_after_each(choice: &ChoiceOutput, pieces: &[Piece]) -> Vec<u64> {
    let calls: &[ToolCall] = match choice {
        ChoiceOutput::ToolCalls(calls) => calls,
        ChoiceOutput::Text { .. } => &[],
    };
    let before = |call: usize| -> u64 { calls.iter().take(call).map(ToolCall::tokens).sum() };
    let name = |call: usize| calls.get(call).map_or(0, |c| count_tokens(&c.name));
    pieces
        .iter()
        .map(|piece| match (choice, piece) {
            (ChoiceOutput::Text { text, .. }, Piece::Text(range)) => {
                count_tokens(text.get(..range.end).unwrap_or_default())
            }
            (_, Piece::CallHead(call)) => before(*call) + name(*call),
            (_, Piece::Arguments { call, range }) => {
                let arguments = calls.get(*call).map_or("", |c| c.arguments.as_str());
                before(*call)
                    + name(*call)
                    + count_tokens(arguments.get(..range.end).unwrap_or_default())
            }
            _ => 0,
        })
        .collect()
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
mod tests;
