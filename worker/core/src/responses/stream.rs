//! Chat-completion chunks in, Responses events out: the state machine behind a streamed
//! `/v1/responses` answer, and (fed the same chunks, its events discarded) behind a whole one.
//!
//! Text deltas open a `message` item with one `output_text` part; each tool call opens a
//! `function_call` item whose arguments stream as `response.function_call_arguments.delta`.
//! An item is closed (its `.done` events) when the next one opens or the answer ends. Reasoning
//! deltas are not shown (they are metered): the Vercel AI SDK only accepts reasoning events
//! inside a reasoning item with an encrypted state, which a chat upstream cannot give.
//! Every event carries `sequence_number` and goes out as `event: <type>` + `data:`, as
//! OpenAI sends it (the SDKs raise on an `event: error`).

use std::collections::BTreeMap;

use oachat_protocol::encode_event_into;
use serde_json::{json, Map, Value};

use super::object::{response_object, ResponseHead, Status};
use crate::error::ProxyError;
use crate::metering::Usage;

#[derive(Debug)]
pub struct ResponsesStream {
    head: ResponseHead,
    sequence: u64,
    started: bool,
    /// Final JSON of every item, at its `output_index` (an open item holds its opening state).
    output: Vec<Value>,
    text: Option<OpenText>,
    /// Tool calls by their chat `index`.
    calls: BTreeMap<u64, OpenCall>,
    /// The chat index of the call whose item is open.
    open_call: Option<u64>,
    finish_reason: Option<String>,
    /// The final object, once the answer ended.
    ended: Option<Value>,
}

#[derive(Debug)]
struct OpenText {
    output_index: usize,
    id: String,
    text: String,
}

#[derive(Debug, Default)]
struct OpenCall {
    /// Set once the item was opened (that needs the function's name).
    output_index: Option<usize>,
    id: String,
    call_id: String,
    name: String,
    arguments: String,
    closed: bool,
}

impl ResponsesStream {
    pub fn new(head: ResponseHead) -> ResponsesStream {
        ResponsesStream {
            head,
            sequence: 0,
            started: false,
            output: Vec::new(),
            text: None,
            calls: BTreeMap::new(),
            open_call: None,
            finish_reason: None,
            ended: None,
        }
    }

    pub fn head(&self) -> &ResponseHead {
        &self.head
    }

    /// `response.created` and `response.in_progress`, once, before anything else.
    pub fn start(&mut self, out: &mut String) {
        if self.started {
            return;
        }
        self.started = true;
        let response = response_object(&self.head, Status::InProgress, &[], None, None);
        self.emit(out, "response.created", json!({ "response": response }));
        self.emit(out, "response.in_progress", json!({ "response": response }));
    }

    /// One upstream event's `data` (a chat-completion chunk; anything else says nothing).
    pub fn chunk(&mut self, data: &str, out: &mut String) {
        self.start(out);
        if self.ended.is_some() {
            return;
        }
        let Ok(Value::Object(chunk)) = serde_json::from_str::<Value>(data) else {
            return;
        };
        let Some(choice) = chunk
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|choices| choices.first())
        else {
            return;
        };
        if let Some(delta) = choice.get("delta") {
            if let Some(text) = delta.get("content").and_then(Value::as_str) {
                if !text.is_empty() {
                    self.text_delta(text, out);
                }
            }
            if let Some(calls) = delta.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    self.call_delta(call, out);
                }
            }
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(reason.to_string());
        }
    }

    /// The answer ended normally: closes what is open and sends `response.completed` (or
    /// `response.incomplete` when it was cut by the output cap or a content filter).
    pub fn complete(&mut self, usage: &Usage, out: &mut String) {
        self.start(out);
        if self.ended.is_some() {
            return;
        }
        let status = Status::of_finish_reason(self.finish_reason.as_deref());
        self.close_all(status, out);
        let response = response_object(&self.head, status, &self.output, Some(usage), None);
        let kind = match status {
            Status::Incomplete(_) => "response.incomplete",
            _ => "response.completed",
        };
        self.emit(out, kind, json!({ "response": response }));
        self.ended = Some(response);
    }

    /// The upstream broke off: an `error` event (which makes the SDKs raise), then
    /// `response.failed` with what was delivered.
    pub fn fail(&mut self, error: &ProxyError, usage: &Usage, out: &mut String) {
        self.start(out);
        if self.ended.is_some() {
            return;
        }
        self.close_all(Status::Incomplete("upstream_error"), out);
        let detail = error.to_json()["error"].clone();
        let message = error.message();
        self.emit(
            out,
            "error",
            json!({"code": error.code(), "message": message, "param": null, "error": detail}),
        );
        let failed = json!({"code": error.code(), "message": message});
        let response = response_object(
            &self.head,
            Status::Failed,
            &self.output,
            Some(usage),
            Some(failed),
        );
        self.emit(out, "response.failed", json!({ "response": response }));
        self.ended = Some(response);
    }

    /// The response object: final once the answer ended, else as it stands.
    pub fn response(&self) -> Value {
        self.ended.clone().unwrap_or_else(|| {
            response_object(&self.head, Status::InProgress, &self.output, None, None)
        })
    }

    /// The answer as one chat-completions assistant message, for a stored conversation to
    /// continue from; `None` when nothing was delivered.
    pub fn assistant_message(&self) -> Option<Value> {
        let mut text = String::new();
        let mut calls = Vec::new();
        for item in &self.output {
            match item["type"].as_str() {
                Some("message") => {
                    for part in item["content"].as_array().into_iter().flatten() {
                        text.push_str(part["text"].as_str().unwrap_or_default());
                    }
                }
                Some("function_call") => calls.push(json!({
                    "id": item["call_id"],
                    "type": "function",
                    "function": {"name": item["name"], "arguments": item["arguments"]},
                })),
                _ => {}
            }
        }
        if let Some(open) = &self.text {
            text.push_str(&open.text);
        }
        if text.is_empty() && calls.is_empty() {
            return None;
        }
        let mut message = json!({"role": "assistant", "content": text});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        Some(message)
    }

    fn text_delta(&mut self, text: &str, out: &mut String) {
        if self.text.is_none() {
            self.close_call(Status::Completed, out);
            let output_index = self.output.len();
            let id = self.item_id("msg", output_index);
            let item = json!({"type": "message", "id": id, "status": "in_progress",
                "role": "assistant", "content": []});
            self.output.push(item.clone());
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": output_index, "item": item}),
            );
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": id, "output_index": output_index, "content_index": 0,
                    "part": {"type": "output_text", "text": "", "annotations": []}}),
            );
            self.text = Some(OpenText {
                output_index,
                id,
                text: String::new(),
            });
        }
        let Some(open) = self.text.as_mut() else {
            return;
        };
        open.text.push_str(text);
        let event = json!({"item_id": open.id, "output_index": open.output_index,
            "content_index": 0, "delta": text, "logprobs": []});
        self.emit(out, "response.output_text.delta", event);
    }

    fn call_delta(&mut self, delta: &Value, out: &mut String) {
        let index = delta.get("index").and_then(Value::as_u64).unwrap_or(0);
        let function = delta.get("function");
        let name = function.and_then(|f| f.get("name")).and_then(Value::as_str);
        let arguments = function
            .and_then(|f| f.get("arguments"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let call_id = delta.get("id").and_then(Value::as_str);
        if self.open_call != Some(index) && !self.calls.contains_key(&index) {
            self.close_text(Status::Completed, out);
            self.close_call(Status::Completed, out);
            self.calls.insert(index, OpenCall::default());
            self.open_call = Some(index);
        }
        let Some(call) = self.calls.get_mut(&index) else {
            return;
        };
        if let Some(call_id) = call_id.filter(|_| call.call_id.is_empty()) {
            call.call_id = call_id.to_string();
        }
        if let Some(name) = name {
            call.name.push_str(name);
        }
        call.arguments.push_str(arguments);
        // A call's item opens once its name is known; arguments that came before go out then.
        if call.output_index.is_none() && !call.name.is_empty() && !call.closed {
            let output_index = self.output.len();
            let id = self.item_id("fc", output_index);
            let Some(call) = self.calls.get_mut(&index) else {
                return;
            };
            if call.call_id.is_empty() {
                call.call_id = format!("call_{}", &id[3..]);
            }
            call.output_index = Some(output_index);
            call.id = id.clone();
            let item = json!({"type": "function_call", "id": id, "call_id": call.call_id,
                "name": call.name, "arguments": "", "status": "in_progress"});
            let pending = call.arguments.clone();
            self.output.push(item.clone());
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": output_index, "item": item}),
            );
            if !pending.is_empty() {
                self.emit_arguments(&id, output_index, &pending, out);
            }
        } else if let (Some(output_index), false, false) =
            (call.output_index, arguments.is_empty(), call.closed)
        {
            let id = call.id.clone();
            self.emit_arguments(&id, output_index, arguments, out);
        }
    }

    fn emit_arguments(&mut self, id: &str, output_index: usize, delta: &str, out: &mut String) {
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": output_index, "delta": delta}),
        );
    }

    fn close_all(&mut self, status: Status, out: &mut String) {
        self.close_text(status, out);
        self.close_call(status, out);
    }

    fn close_text(&mut self, status: Status, out: &mut String) {
        let Some(open) = self.text.take() else {
            return;
        };
        let OpenText {
            output_index,
            id,
            text,
        } = open;
        let part = json!({"type": "output_text", "text": text, "annotations": []});
        self.emit(
            out,
            "response.output_text.done",
            json!({"item_id": id, "output_index": output_index, "content_index": 0,
                "text": text, "logprobs": []}),
        );
        self.emit(
            out,
            "response.content_part.done",
            json!({"item_id": id, "output_index": output_index, "content_index": 0,
                "part": part}),
        );
        let item = json!({"type": "message", "id": id, "status": item_status(status),
            "role": "assistant", "content": [part]});
        self.output[output_index] = item.clone();
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
    }

    fn close_call(&mut self, status: Status, out: &mut String) {
        let Some(index) = self.open_call.take() else {
            return;
        };
        let Some(call) = self.calls.get_mut(&index) else {
            return;
        };
        call.closed = true;
        let Some(output_index) = call.output_index else {
            return;
        };
        let (id, call_id, name, arguments) = (
            call.id.clone(),
            call.call_id.clone(),
            call.name.clone(),
            call.arguments.clone(),
        );
        self.emit(
            out,
            "response.function_call_arguments.done",
            json!({"item_id": id, "output_index": output_index, "name": name,
                "arguments": arguments}),
        );
        let item = json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
            "arguments": arguments, "status": item_status(status)});
        self.output[output_index] = item.clone();
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": output_index, "item": item}),
        );
    }

    /// `msg_…` / `fc_…` with the response's own random part and the item's place.
    fn item_id(&self, prefix: &str, output_index: usize) -> String {
        let random = self.head.id.strip_prefix("resp_").unwrap_or(&self.head.id);
        format!("{prefix}_{random}{output_index:02}")
    }

    fn emit(&mut self, out: &mut String, kind: &str, mut event: Value) {
        if let Value::Object(fields) = &mut event {
            let mut ordered = Map::new();
            ordered.insert("type".into(), json!(kind));
            ordered.insert("sequence_number".into(), json!(self.sequence));
            ordered.append(fields);
            event = Value::Object(ordered);
        }
        self.sequence += 1;
        out.push_str("event: ");
        out.push_str(kind);
        out.push('\n');
        encode_event_into(out, &event.to_string());
    }
}

fn item_status(status: Status) -> &'static str {
    match status {
        Status::Incomplete(_) | Status::Failed => "incomplete",
        _ => "completed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> ResponseHead {
        ResponseHead {
            id: "resp_abc".into(),
            created_at: 7,
            model: "gpt-4o-mini".into(),
            echo: Map::new(),
        }
    }

    fn text_chunk(text: &str) -> String {
        json!({"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}]})
            .to_string()
    }

    fn finish_chunk(reason: &str) -> String {
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}).to_string()
    }

    fn usage() -> Usage {
        Usage {
            prompt_tokens: 11,
            completion_tokens: 5,
            cached_tokens: 3,
            reasoning_tokens: 1,
            estimated: false,
        }
    }

    /// The events of `out` as (type, data) in order, checking the sequence numbers and that
    /// each `event:` line names its data's `type`.
    fn events(out: &str) -> Vec<(String, Value)> {
        let mut parsed = Vec::new();
        for block in out.split("\n\n").filter(|block| !block.is_empty()) {
            let mut lines = block.lines();
            let kind = lines
                .next()
                .and_then(|l| l.strip_prefix("event: "))
                .unwrap();
            let data: Value =
                serde_json::from_str(lines.next().and_then(|l| l.strip_prefix("data: ")).unwrap())
                    .unwrap();
            assert_eq!(data["type"], kind);
            assert_eq!(data["sequence_number"], json!(parsed.len()));
            parsed.push((kind.to_string(), data));
        }
        parsed
    }

    fn kinds(events: &[(String, Value)]) -> Vec<&str> {
        events.iter().map(|(kind, _)| kind.as_str()).collect()
    }

    #[test]
    fn a_text_answer_is_one_message_item_with_deltas_and_usage_at_the_end() {
        let mut stream = ResponsesStream::new(head());
        let mut out = String::new();
        let role =
            json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]});
        stream.chunk(&role.to_string(), &mut out);
        stream.chunk(&text_chunk("Hel"), &mut out);
        stream.chunk(
            &json!({"choices": [{"index": 0, "delta": {"reasoning_content": "hmm"}}]}).to_string(),
            &mut out,
        );
        stream.chunk(&text_chunk("lo 👋"), &mut out);
        stream.chunk(&finish_chunk("stop"), &mut out);
        stream.complete(&usage(), &mut out);
        let events = events(&out);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        assert_eq!(events[0].1["response"]["status"], "in_progress");
        assert_eq!(events[0].1["response"]["model"], "gpt-4o-mini");
        assert_eq!(events[4].1["delta"], "Hel");
        assert_eq!(events[4].1["item_id"], events[2].1["item"]["id"]);
        assert_eq!(events[6].1["text"], "Hello 👋");
        let done = &events[9].1["response"];
        assert_eq!(done["status"], "completed");
        assert_eq!(done["output"][0]["content"][0]["text"], "Hello 👋");
        assert_eq!(done["usage"]["input_tokens"], 11);
        assert_eq!(done["usage"]["input_tokens_details"]["cached_tokens"], 3);
        assert_eq!(
            done["usage"]["output_tokens_details"]["reasoning_tokens"],
            1
        );
        assert_eq!(done["usage"]["total_tokens"], 16);
        assert_eq!(stream.response(), *done);
        assert_eq!(
            stream.assistant_message(),
            Some(json!({"role": "assistant", "content": "Hello 👋"}))
        );
    }

    #[test]
    fn tool_calls_become_function_call_items_with_argument_deltas() {
        let mut stream = ResponsesStream::new(head());
        let mut out = String::new();
        let first = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
            "id": "call_1", "type": "function", "function": {"name": "w", "arguments": ""}}]}}]});
        let args = |index: u64, piece: &str| {
            json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": index,
                "function": {"arguments": piece}}]}}]})
            .to_string()
        };
        stream.chunk(&first.to_string(), &mut out);
        stream.chunk(&args(0, "{\"city\":"), &mut out);
        stream.chunk(&args(0, "\"A\"}"), &mut out);
        // The second call's name arrives after its first arguments: sent once the item opens.
        stream.chunk(&args(1, "{}"), &mut out);
        let named = json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1,
            "id": "call_2", "function": {"name": "v"}}]}}]});
        stream.chunk(&named.to_string(), &mut out);
        stream.chunk(&finish_chunk("tool_calls"), &mut out);
        stream.complete(&usage(), &mut out);
        let events = events(&out);
        assert_eq!(
            kinds(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        let added = &events[2].1["item"];
        assert_eq!(added["call_id"], "call_1");
        assert_eq!(added["name"], "w");
        assert_eq!(events[5].1["arguments"], "{\"city\":\"A\"}");
        assert_eq!(events[8].1["delta"], "{}");
        let output = &events[11].1["response"]["output"];
        assert_eq!(output[1]["call_id"], "call_2");
        assert_eq!(output[1]["status"], "completed");
        assert_eq!(
            stream
                .assistant_message()
                .map(|m| m["tool_calls"][1]["function"]["name"].clone()),
            Some(json!("v"))
        );
    }

    #[test]
    fn a_length_cut_is_incomplete_with_its_reason() {
        let mut stream = ResponsesStream::new(head());
        let mut out = String::new();
        stream.chunk(&text_chunk("partial"), &mut out);
        stream.chunk(&finish_chunk("length"), &mut out);
        stream.complete(&usage(), &mut out);
        let events = events(&out);
        let (kind, last) = events.last().unwrap();
        assert_eq!(kind, "response.incomplete");
        assert_eq!(
            last["response"]["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        assert_eq!(last["response"]["output"][0]["status"], "incomplete");
    }

    #[test]
    fn a_broken_stream_sends_an_error_then_response_failed_once() {
        let mut stream = ResponsesStream::new(head());
        let mut out = String::new();
        stream.chunk(&text_chunk("half"), &mut out);
        stream.fail(&ProxyError::UpstreamBroken, &usage(), &mut out);
        stream.complete(&usage(), &mut out);
        let events = events(&out);
        let kinds = kinds(&events);
        assert_eq!(kinds[kinds.len() - 2..], ["error", "response.failed"]);
        let error = &events[events.len() - 2].1;
        assert_eq!(error["code"], "upstream_broken");
        assert_eq!(error["error"]["code"], "upstream_broken");
        assert_eq!(
            events.last().unwrap().1["response"]["error"]["code"],
            "upstream_broken"
        );
    }
}
