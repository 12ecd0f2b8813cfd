//! Tools the host page registers (`OAChat.registerTool`) and the calls the model makes to them:
//! what is offered with each request, each call's phase, and the continuation that sends the
//! results back (`tool_results`, see the wire contract in widget/README.md).
//!
//! Pure: the handlers and `confirm` functions stay in the page's JavaScript (the shell runs
//! them and reports back as messages); this module decides what happens to a call. A call's
//! arguments come from the model, so they are parsed and checked against the tool's schema
//! here before any handler sees them.

use super::json::Json;
use super::schema;

/// Whether a call needs the user's yes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfirmPolicy {
    Never,
    Always,
    /// The page's `confirm(args)` function decides, per call.
    Ask,
}

/// One registered tool as the core sees it (the handler stays in JavaScript).
#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    pub parameters: Json,
    pub confirm: ConfirmPolicy,
}

/// Where a call is. Every phase after `Running` is final and carries the call's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The page's `confirm` function is being asked.
    Checking,
    /// Waiting for the user's 确认 / 取消.
    Confirm,
    Running,
    Done,
    Failed,
    Declined,
}

/// A result as the worker takes it (`status` is `ok`, `error` or `declined`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolResult {
    pub status: &'static str,
    pub content: String,
}

/// One call of the model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    /// The widget's own number for the call: the DOM and messages name it by this, never by
    /// the model's `id` (which is untrusted text).
    pub key: u32,
    pub id: String,
    pub name: String,
    /// The parsed arguments (`Null` when they were not JSON).
    pub arguments: Json,
    /// The tool's description up to its first punctuation: the action's name on the card.
    pub title: String,
    pub phase: Phase,
    pub result: Option<ToolResult>,
    /// A server tool's call: the worker runs it (the page only confirms, when asked).
    pub server: bool,
}

/// A call of a stored conversation (`GET /v1/oachat/conversations/<id>`) and the result the
/// page gave it, shown again as a finished card after the `after`-th message on screen.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCall {
    pub after: usize,
    pub id: String,
    pub name: String,
    pub arguments: String,
    /// `ok`, `error` or `declined`; `None` when the page never answered.
    pub status: Option<String>,
    pub content: String,
}

/// How many calls one answer may make: a runaway model must not build an endless log.
pub const MAX_CALLS_PER_ANSWER: usize = 16;

/// The registered tools and the calls of the answer being handled.
#[derive(Debug, Default)]
pub struct Tools {
    pub registry: Vec<ToolSpec>,
    calls: Vec<ToolCall>,
    /// The answer the current calls came with.
    answer: Option<u32>,
    /// Whether that answer's stream is over (the continuation waits for it).
    stream_ended: bool,
    /// The calls are settled: their results were sent, or a stop, a failed stream or a new
    /// chat ended them. They stay on screen; nothing more happens to them.
    settled: bool,
    next_key: u32,
    /// The `tool_results` of the continuation being streamed, kept so a request sent again
    /// (a refreshed token) carries the same ones.
    pub sending: Option<Json>,
}

impl ToolSpec {
    /// The tools from the loader's registry (`[{name, description, parameters, confirm}]`,
    /// `confirm` being `true`, `false` or `"ask"`); entries without a name are skipped.
    pub fn list_from(list: &Json) -> Vec<ToolSpec> {
        let Json::Array(items) = list else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| {
                let name = item.get("name")?.as_str()?.to_string();
                let confirm = match item.get("confirm") {
                    Some(Json::Bool(true)) => ConfirmPolicy::Always,
                    Some(Json::String(ask)) if ask == "ask" => ConfirmPolicy::Ask,
                    _ => ConfirmPolicy::Never,
                };
                Some(ToolSpec {
                    name,
                    description: item
                        .get("description")
                        .and_then(Json::as_str)
                        .unwrap_or("")
                        .to_string(),
                    parameters: item
                        .get("parameters")
                        .cloned()
                        .unwrap_or_else(|| Json::object([("type", "object".into())])),
                    confirm,
                })
            })
            .collect()
    }

    /// The tool as the worker takes it: `confirm` and the handler never leave the page.
    fn wire(&self) -> Json {
        Json::object([
            ("name", self.name.as_str().into()),
            ("description", self.description.as_str().into()),
            ("parameters", self.parameters.clone()),
        ])
    }
}

impl Tools {
    /// The `tools` of a request: every registered tool, `None` when there are none.
    pub fn wire(&self) -> Option<Json> {
        (!self.registry.is_empty())
            .then(|| Json::Array(self.registry.iter().map(ToolSpec::wire).collect()))
    }

    pub fn call(&self, key: u32) -> Option<&ToolCall> {
        self.calls.iter().find(|call| call.key == key)
    }

    pub fn calls(&self) -> &[ToolCall] {
        &self.calls
    }

    /// Whether calls are still being handled: a new message waits until they are.
    pub fn busy(&self) -> bool {
        !self.settled && !self.calls.is_empty()
    }

    /// Whether `answer` made the calls being handled.
    pub fn belongs_to(&self, answer: u32) -> bool {
        self.answer == Some(answer) && !self.calls.is_empty()
    }

    /// A call from the stream of `answer`: checked, and put in its first phase. An unknown
    /// tool or bad arguments end it at once, with the error the model will read.
    /// `None` past [`MAX_CALLS_PER_ANSWER`].
    pub fn receive(&mut self, answer: u32, id: &str, name: &str, arguments: &str) -> Option<u32> {
        let key = self.next_slot(answer)?;
        let spec = self.registry.iter().find(|spec| spec.name == name);
        let parsed = Json::parse(if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments
        });
        let (phase, result) = match (spec, &parsed) {
            (None, _) => (
                Phase::Failed,
                Some(error(format!("Tool {name} is not available on this page."))),
            ),
            (Some(_), None) => (
                Phase::Failed,
                Some(error("Invalid arguments: $: not valid JSON".into())),
            ),
            (Some(spec), Some(value)) => match schema::validate(&spec.parameters, value) {
                Err(problem) => (
                    Phase::Failed,
                    Some(error(format!("Invalid arguments: {problem}"))),
                ),
                Ok(()) => match spec.confirm {
                    ConfirmPolicy::Never => (Phase::Running, None),
                    ConfirmPolicy::Always => (Phase::Confirm, None),
                    ConfirmPolicy::Ask => (Phase::Checking, None),
                },
            },
        };
        self.calls.push(ToolCall {
            key,
            id: id.to_string(),
            name: name.to_string(),
            arguments: parsed.unwrap_or(Json::Null),
            title: spec
                .map(|spec| action_title(&spec.description, name))
                .unwrap_or_else(|| name.to_string()),
            phase,
            result,
            server: false,
        });
        Some(key)
    }

    /// A server tool's call: no page checks, the worker runs it once the continuation says
    /// `status: "server"`; with `confirm`, the user confirms first.
    pub fn receive_server(
        &mut self,
        answer: u32,
        id: &str,
        name: &str,
        arguments: &str,
        confirm: bool,
    ) -> Option<u32> {
        let key = self.next_slot(answer)?;
        self.calls.push(ToolCall {
            key,
            id: id.to_string(),
            name: name.to_string(),
            arguments: Json::parse(arguments).unwrap_or(Json::Null),
            title: name.to_string(),
            phase: if confirm {
                Phase::Confirm
            } else {
                Phase::Running
            },
            result: (!confirm).then(server_result),
            server: true,
        });
        Some(key)
    }

    /// The key of one more call of `answer`; `None` past [`MAX_CALLS_PER_ANSWER`].
    fn next_slot(&mut self, answer: u32) -> Option<u32> {
        if self.answer != Some(answer) {
            self.clear();
            self.answer = Some(answer);
        }
        if self.calls.len() >= MAX_CALLS_PER_ANSWER {
            return None;
        }
        self.next_key += 1;
        Some(self.next_key)
    }

    /// The calls of a stored conversation, as finished cards: their keys, each with the
    /// message it follows. Nothing about them runs or is sent again.
    pub fn load_stored(&mut self, stored: Vec<StoredCall>) -> Vec<(usize, u32)> {
        self.clear();
        self.settled = true;
        let mut keys = Vec::with_capacity(stored.len());
        for call in stored.into_iter().take(MAX_CALLS_PER_ANSWER * 8) {
            self.next_key += 1;
            let phase = match call.status.as_deref() {
                Some("ok" | "server") => Phase::Done,
                Some("declined") => Phase::Declined,
                _ => Phase::Failed,
            };
            let title = self
                .registry
                .iter()
                .find(|spec| spec.name == call.name)
                .map(|spec| action_title(&spec.description, &call.name))
                .unwrap_or_else(|| call.name.clone());
            self.calls.push(ToolCall {
                key: self.next_key,
                id: call.id,
                arguments: Json::parse(&call.arguments).unwrap_or(Json::Null),
                name: call.name,
                title,
                phase,
                result: Some(ToolResult {
                    status: match phase {
                        Phase::Done => "ok",
                        Phase::Declined => "declined",
                        _ => "error",
                    },
                    content: call.content,
                }),
                server: false,
            });
            keys.push((call.after, self.next_key));
        }
        keys
    }

    /// The page's `confirm(args)` answered: ask the user, or run at once.
    pub fn confirm_needed(&mut self, key: u32, needed: bool) -> Option<Phase> {
        let call = self.pending_mut(key, Phase::Checking)?;
        call.phase = if needed {
            Phase::Confirm
        } else {
            Phase::Running
        };
        Some(call.phase)
    }

    /// The user pressed 确认 (`true`) or 取消 on the card.
    pub fn decide(&mut self, key: u32, confirmed: bool) -> Option<Phase> {
        let call = self.pending_mut(key, Phase::Confirm)?;
        if confirmed {
            call.phase = Phase::Running;
            if call.server {
                call.result = Some(server_result());
            }
        } else {
            call.phase = Phase::Declined;
            call.result = Some(ToolResult {
                status: "declined",
                content: "The user declined.".into(),
            });
        }
        Some(call.phase)
    }

    /// The handler answered: `Ok` with the result as JSON text, or `Err` with its message.
    pub fn finish(&mut self, key: u32, outcome: Result<String, String>) -> Option<Phase> {
        let call = self.pending_mut(key, Phase::Running)?;
        let (phase, result) = match outcome {
            Ok(content) => (
                Phase::Done,
                ToolResult {
                    status: "ok",
                    content,
                },
            ),
            Err(message) => (Phase::Failed, error(message)),
        };
        call.phase = phase;
        call.result = Some(result);
        Some(phase)
    }

    /// The stream of `answer` is over; its calls may now be answered.
    pub fn stream_ended(&mut self, answer: u32) {
        if self.answer == Some(answer) {
            self.stream_ended = true;
        }
    }

    /// Stop, a failed stream, a new chat: the calls still waiting end (a confirm unanswered
    /// is declined, a running handler's result no longer counts) and nothing is sent.
    /// Returns the calls that changed.
    pub fn stop(&mut self, reason: &str) -> Vec<u32> {
        if self.settled {
            return Vec::new();
        }
        self.settled = true;
        let mut changed = Vec::new();
        for call in &mut self.calls {
            let result = match call.phase {
                Phase::Checking | Phase::Confirm => ToolResult {
                    status: "declined",
                    content: "The user declined.".into(),
                },
                Phase::Running => error(reason.to_string()),
                _ => continue,
            };
            call.phase = if result.status == "declined" {
                Phase::Declined
            } else {
                Phase::Failed
            };
            call.result = Some(result);
            changed.push(call.key);
        }
        changed
    }

    /// Every call answered and the stream over: the `tool_results` to send, once. The calls
    /// stay (their cards are drawn from them); the widget is free for the next answer.
    pub fn take_continuation(&mut self) -> Option<Json> {
        let ready = !self.settled
            && self.stream_ended
            && !self.calls.is_empty()
            && self.calls.iter().all(|call| call.result.is_some());
        if !ready {
            return None;
        }
        let results = self
            .calls
            .iter()
            .filter_map(|call| {
                let result = call.result.as_ref()?;
                // A server call's result is the worker's to write: the page sends none.
                if result.status == "server" {
                    return Some(Json::object([
                        ("id", call.id.as_str().into()),
                        ("status", "server".into()),
                    ]));
                }
                Some(Json::object([
                    ("id", call.id.as_str().into()),
                    ("status", result.status.into()),
                    ("content", result.content.as_str().into()),
                ]))
            })
            .collect();
        self.settled = true;
        let results = Json::Array(results);
        self.sending = Some(results.clone());
        Some(results)
    }

    /// The continuation went out: the worker answers the server calls as the next answer
    /// streams, so their cards turn done. Returns their keys.
    pub fn server_calls_sent(&mut self) -> Vec<u32> {
        let mut sent = Vec::new();
        for call in &mut self.calls {
            if call.server && call.phase == Phase::Running {
                call.phase = Phase::Done;
                sent.push(call.key);
            }
        }
        sent
    }

    /// Forgets the calls (a new chat); the registry stays.
    pub fn clear(&mut self) {
        self.calls.clear();
        self.answer = None;
        self.stream_ended = false;
        self.settled = false;
    }

    fn pending_mut(&mut self, key: u32, phase: Phase) -> Option<&mut ToolCall> {
        if self.settled {
            return None;
        }
        self.calls
            .iter_mut()
            .find(|call| call.key == key && call.phase == phase)
    }
}

fn server_result() -> ToolResult {
    ToolResult {
        status: "server",
        content: String::new(),
    }
}

fn error(content: String) -> ToolResult {
    ToolResult {
        status: "error",
        content,
    }
}

/// The description up to its first punctuation (`提交请假申请：…` → `提交请假申请`): the name
/// of the action on its card; the tool's name when that leaves nothing.
pub fn action_title(description: &str, name: &str) -> String {
    let title = description
        .split(|c: char| "：，。；！？、（）:,.;!?()\n".contains(c))
        .next()
        .unwrap_or("")
        .trim();
    if title.is_empty() {
        name.to_string()
    } else {
        title.chars().take(80).collect()
    }
}

/// The arguments in plain words, in the model's order: `from 2024-06-24, to 2024-06-26`.
/// Strings as they are, anything else as compact JSON, each value clipped.
pub fn plain_arguments(arguments: &Json) -> String {
    const MAX_VALUE_CHARS: usize = 200;
    const MAX_ENTRIES: usize = 30;
    let clip = |text: String| -> String {
        if text.chars().count() > MAX_VALUE_CHARS {
            let mut clipped: String = text.chars().take(MAX_VALUE_CHARS).collect();
            clipped.push('…');
            clipped
        } else {
            text
        }
    };
    let show = |value: &Json| match value {
        Json::String(text) => clip(text.clone()),
        other => clip(other.to_string()),
    };
    match arguments {
        Json::Object(pairs) => pairs
            .iter()
            .take(MAX_ENTRIES)
            .map(|(key, value)| format!("{key} {}", show(value)))
            .collect::<Vec<_>>()
            .join(", "),
        Json::Null => String::new(),
        other => show(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Vec<ToolSpec> {
        let list = Json::parse(
            r#"[{"name":"leave_balance","description":"查询年假余额","parameters":{"type":"object","properties":{}}},
                {"name":"submit_leave","description":"提交请假申请：提交后进入审批","confirm":true,
                 "parameters":{"type":"object","required":["from","to"],"additionalProperties":false,
                   "properties":{"from":{"type":"string"},"to":{"type":"string"},"type":{"enum":["年假","病假"]}}}},
                {"name":"book_room","description":"预订会议室","confirm":"ask"},
                {"description":"no name"}]"#,
        )
        .expect("registry JSON");
        ToolSpec::list_from(&list)
    }

    fn tools() -> Tools {
        Tools {
            registry: registry(),
            ..Tools::default()
        }
    }

    #[test]
    fn the_registry_reads_confirm_policies_and_sends_no_handlers() {
        let tools = tools();
        let policies: Vec<_> = tools.registry.iter().map(|s| s.confirm).collect();
        assert_eq!(
            policies,
            [
                ConfirmPolicy::Never,
                ConfirmPolicy::Always,
                ConfirmPolicy::Ask
            ]
        );
        let wire = tools.wire().expect("tools").to_string();
        assert!(wire.starts_with(r#"[{"name":"leave_balance","description":"查询年假余额","parameters":{"type":"object","properties":{}}}"#), "{wire}");
        assert!(!wire.contains("confirm"), "{wire}");
        assert_eq!(Tools::default().wire(), None);
    }

    #[test]
    fn unknown_tools_and_bad_arguments_end_at_once_with_the_error_the_model_reads() {
        let mut tools = tools();
        let unknown = tools.receive(7, "call_1", "drop_table", "{}").expect("key");
        let not_json = tools
            .receive(7, "call_2", "submit_leave", "{\"from\":")
            .expect("key");
        let off_schema = tools
            .receive(
                7,
                "call_3",
                "submit_leave",
                r#"{"from":"a","to":"b","type":"婚假"}"#,
            )
            .expect("key");
        let result = |key| {
            tools
                .call(key)
                .and_then(|c| c.result.clone())
                .expect("result")
        };
        assert_eq!(
            result(unknown),
            error("Tool drop_table is not available on this page.".into())
        );
        assert_eq!(
            result(not_json),
            error("Invalid arguments: $: not valid JSON".into())
        );
        assert_eq!(
            result(off_schema).content,
            "Invalid arguments: $.type: must be one of \"年假\", \"病假\""
        );
        assert!(tools.calls().iter().all(|c| c.phase == Phase::Failed));
    }

    #[test]
    fn confirm_then_run_then_the_continuation_carries_every_result_once() {
        let mut tools = tools();
        let balance = tools
            .receive(3, "call_a", "leave_balance", "")
            .expect("key");
        let submit = tools
            .receive(
                3,
                "call_b",
                "submit_leave",
                r#"{"from":"2024-06-24","to":"2024-06-26"}"#,
            )
            .expect("key");
        assert_eq!(tools.call(balance).map(|c| c.phase), Some(Phase::Running));
        assert_eq!(tools.call(submit).map(|c| c.phase), Some(Phase::Confirm));
        assert_eq!(
            tools.call(submit).map(|c| c.title.as_str()),
            Some("提交请假申请")
        );
        // A result for a call that is not running (a click on an old card) changes nothing.
        assert_eq!(tools.finish(submit, Ok("1".into())), None);
        assert_eq!(tools.decide(submit, true), Some(Phase::Running));
        assert_eq!(
            tools.finish(balance, Ok(r#"{"days":5}"#.into())),
            Some(Phase::Done)
        );
        assert_eq!(
            tools.finish(submit, Err("OA is down".into())),
            Some(Phase::Failed)
        );
        assert!(tools.busy());
        // Not before the stream is over.
        assert_eq!(tools.take_continuation(), None);
        tools.stream_ended(3);
        let results = tools.take_continuation().expect("continuation");
        assert_eq!(
            results.to_string(),
            r#"[{"id":"call_a","status":"ok","content":"{\"days\":5}"},{"id":"call_b","status":"error","content":"OA is down"}]"#
        );
        assert!(!tools.busy());
        assert_eq!(tools.take_continuation(), None);
        assert_eq!(tools.sending, Some(results));
    }

    #[test]
    fn cancel_declines_and_ask_policies_ask_the_page_first() {
        let mut tools = tools();
        let room = tools.receive(1, "c1", "book_room", "{}").expect("key");
        assert_eq!(tools.call(room).map(|c| c.phase), Some(Phase::Checking));
        assert_eq!(tools.confirm_needed(room, true), Some(Phase::Confirm));
        assert_eq!(tools.decide(room, false), Some(Phase::Declined));
        let result = tools.call(room).and_then(|c| c.result.clone());
        assert_eq!(result.map(|r| r.status), Some("declined"));
        let other = tools.receive(1, "c2", "book_room", "{}").expect("key");
        assert_eq!(tools.confirm_needed(other, false), Some(Phase::Running));
    }

    #[test]
    fn stop_resolves_what_waits_and_nothing_is_sent() {
        let mut tools = tools();
        let balance = tools.receive(2, "a", "leave_balance", "{}").expect("key");
        let submit = tools
            .receive(2, "b", "submit_leave", r#"{"from":"x","to":"y"}"#)
            .expect("key");
        tools.stream_ended(2);
        assert_eq!(tools.stop("Stopped by the user."), vec![balance, submit]);
        assert_eq!(tools.call(balance).map(|c| c.phase), Some(Phase::Failed));
        assert_eq!(tools.call(submit).map(|c| c.phase), Some(Phase::Declined));
        // The handler answering late, or a click on the card, changes nothing.
        assert_eq!(tools.finish(balance, Ok("1".into())), None);
        assert_eq!(tools.decide(submit, true), None);
        assert_eq!(tools.take_continuation(), None);
        assert!(!tools.busy());
    }

    #[test]
    fn a_new_answer_starts_a_new_round_and_runaway_calls_are_capped() {
        let mut tools = tools();
        tools.receive(1, "a", "leave_balance", "{}");
        tools.receive(2, "b", "leave_balance", "{}");
        assert_eq!(tools.calls().len(), 1);
        assert!(tools.belongs_to(2) && !tools.belongs_to(1));
        for index in 1..MAX_CALLS_PER_ANSWER {
            assert!(tools.receive(2, &index.to_string(), "x", "{}").is_some());
        }
        assert_eq!(tools.receive(2, "over", "x", "{}"), None);
    }

    #[test]
    fn server_calls_wait_for_the_worker_and_send_no_content() {
        let mut tools = tools();
        // No page checks: the worker runs it, its result is `server` at once.
        let asked = tools
            .receive_server(5, "call_s", "leave_balance", "{\"year\":2024}", false)
            .expect("key");
        let confirm = tools
            .receive_server(5, "call_c", "oa_approve", "{}", true)
            .expect("key");
        assert_eq!(tools.call(asked).map(|c| c.phase), Some(Phase::Running));
        assert_eq!(tools.call(confirm).map(|c| c.phase), Some(Phase::Confirm));
        tools.stream_ended(5);
        assert!(
            tools.take_continuation().is_none(),
            "the user has not confirmed"
        );
        assert_eq!(tools.decide(confirm, true), Some(Phase::Running));
        let sent = tools.take_continuation().expect("results");
        assert_eq!(
            sent.to_string(),
            r#"[{"id":"call_s","status":"server"},{"id":"call_c","status":"server"}]"#
        );
        assert_eq!(tools.server_calls_sent(), [asked, confirm]);
        assert_eq!(tools.call(asked).map(|c| c.phase), Some(Phase::Done));
        // Declined before the worker runs it: declined, like a page tool.
        let mut tools = super::Tools::default();
        let key = tools
            .receive_server(6, "call_d", "oa_approve", "{}", true)
            .expect("key");
        tools.stream_ended(6);
        tools.decide(key, false);
        let sent = tools.take_continuation().expect("results").to_string();
        assert!(sent.contains(r#""status":"declined""#), "{sent}");
        // Reloaded: the stored result of a server call shows as done.
        let keys = tools.load_stored(vec![StoredCall {
            after: 1,
            id: "call_s".into(),
            name: "leave_balance".into(),
            arguments: "{}".into(),
            status: Some("server".into()),
            content: "{\"days\":5}".into(),
        }]);
        assert_eq!(tools.call(keys[0].1).map(|c| c.phase), Some(Phase::Done));
    }

    #[test]
    fn titles_and_plain_words() {
        assert_eq!(
            action_title("提交请假申请：提交后进入审批", "x"),
            "提交请假申请"
        );
        assert_eq!(
            action_title("Book a room. Needs a slot", "x"),
            "Book a room"
        );
        assert_eq!(action_title("", "book_room"), "book_room");
        let arguments = Json::parse(
            r#"{"from":"2024-06-24","to":"2024-06-26","type":"年假","days":3,"tags":["a"]}"#,
        )
        .expect("JSON");
        assert_eq!(
            plain_arguments(&arguments),
            r#"from 2024-06-24, to 2024-06-26, type 年假, days 3, tags ["a"]"#
        );
        let long = Json::String("x".repeat(300));
        assert_eq!(plain_arguments(&long).chars().count(), 201);
    }
}
