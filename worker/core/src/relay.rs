//! The pure half of the streaming relay: upstream SSE bytes in, the client's SSE bytes out,
//! every event metered on the way. The platform shell (the worker's `relay.rs`) only moves
//! bytes and reports how the stream ended.

use oachat_protocol::names::CARD_EVENT;
use oachat_protocol::sse::DONE_EVENT;
use oachat_protocol::{encode_event_into, SseEvent, SseParser};

use crate::error::ProxyError;
use crate::metering::{Forward, StreamMeter, Usage};
use crate::provider::{may_finish_abnormally, Provider};
use crate::responses::ResponsesStream;

/// The largest answer (in output tokens) passed through natively. The native path holds the
/// whole answer until its end; at about 200 bytes of SSE per streamed token this keeps that
/// under ~2 MB per stream. Longer answers are pumped, which holds almost nothing per stream.
pub const PASS_THROUGH_MAX_OUTPUT_TOKENS: u64 = 8_192;

/// Parses, meters and re-encodes one streamed completion.
#[derive(Debug)]
pub struct RelayCore {
    parser: SseParser,
    events: Vec<SseEvent>,
    meter: StreamMeter,
    /// Encoded events (an `oachat.card`) sent just before `[DONE]`, once.
    trailer: Option<String>,
    /// Whether the error event for an abnormal `finish_reason` went out.
    told_finish_error: bool,
    /// Whether the tool calls (or the card) went out.
    told_trailer: bool,
    /// The client asked `/v1/responses`: each chunk becomes Responses events instead of being
    /// forwarded. The meter still sees every upstream event first, as on chat completions.
    responses: Option<ResponsesDialect>,
}

/// The Responses translator and what it needs to state the billed usage at the end.
#[derive(Debug)]
struct ResponsesDialect {
    stream: Box<ResponsesStream>,
    billing: Billing,
}

/// How a meter's outcome becomes the billed usage (`Plan::metered`): the prompt estimate for
/// a prompt the upstream did not report, and the output cap that bounds an estimated output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Billing {
    pub prompt_estimate: u64,
    pub output_cap: u64,
}

impl Billing {
    /// The usage to bill for what `meter` saw.
    pub fn usage(&self, meter: &StreamMeter) -> Usage {
        let mut usage = meter.outcome(self.prompt_estimate);
        if usage.estimated {
            usage.completion_tokens = usage.completion_tokens.min(self.output_cap);
        }
        usage
    }
}

impl RelayCore {
    pub fn new(meter: StreamMeter) -> RelayCore {
        RelayCore {
            parser: SseParser::new(),
            events: Vec::new(),
            meter,
            trailer: None,
            responses: None,
            told_finish_error: false,
            told_trailer: false,
        }
    }

    /// A relay that answers in the Responses dialect: `stream` turns the chunks into events,
    /// and its final usage is `billing` applied to the meter (what the ledger records).
    pub fn responses(meter: StreamMeter, stream: ResponsesStream, billing: Billing) -> RelayCore {
        let mut relay = RelayCore::new(meter);
        relay.responses = Some(ResponsesDialect {
            stream: Box::new(stream),
            billing,
        });
        relay
    }

    /// Adds a card after the answer: `event: oachat.card` with `{"card", "data"}`, the format
    /// the widget renders. Only for the widget's own endpoint: plain OpenAI clients do not
    /// expect named events.
    pub fn with_card(mut self, card: &str, data: &serde_json::Value) -> RelayCore {
        let payload = serde_json::json!({ "card": card, "data": data }).to_string();
        let mut trailer = format!("event: {CARD_EVENT}\n");
        encode_event_into(&mut trailer, &payload);
        self.trailer = Some(trailer);
        self
    }

    /// Whether the shell may pass the stream through natively and meter it after the fact
    /// (`relay_native.rs`): the client gets the upstream's events exactly as they came (no
    /// Responses translation, no card, nothing stripped or assembled, and an upstream that
    /// never ends with a `finish_reason` needing an error event after it), and the answer,
    /// held by the runtime until its end, is bounded: at most `output_cap` tokens, no more
    /// than [`PASS_THROUGH_MAX_OUTPUT_TOKENS`].
    pub fn passes_through(&self, provider: Provider, output_cap: u64) -> bool {
        self.responses.is_none()
            && self.trailer.is_none()
            && self.meter.forwards_everything()
            && !may_finish_abnormally(provider)
            && output_cap <= PASS_THROUGH_MAX_OUTPUT_TOKENS
    }

    /// Feeds one network chunk; returns what the client should get now (often nothing, when the
    /// chunk ended mid-event).
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.parser.push_into(bytes, &mut self.events);
        self.encode()
    }

    /// The upstream body ended: flushes an event left without its blank line, and ends a stream
    /// that never said `[DONE]` with [`RelayCore::broken`]'s error event.
    pub fn finish(&mut self) -> String {
        if let Some(event) = self.parser.finish() {
            self.events.push(event);
        }
        let mut out = self.encode();
        if !self.completed() {
            out.push_str(&self.break_off());
        } else if let Some(dialect) = &mut self.responses {
            // Ended after its usage chunk without `[DONE]`: the answer is whole.
            let usage = dialect.billing.usage(&self.meter);
            dialect.stream.complete(&usage, &mut out);
        } else {
            self.tell_finish_error(&mut out);
            // Ended after its usage chunk without `[DONE]`: the calls are whole all the same.
            self.tell_trailer(&mut out);
        }
        out
    }

    /// What goes after the answer, once: one `oachat.tool_call` event per call the answer
    /// made (when the meter assembles them), else the card. An answer that asks the page to
    /// act is not followed by quick replies.
    fn tell_trailer(&mut self, out: &mut String) {
        tell_trailer(&self.meter, &mut self.told_trailer, &mut self.trailer, out);
    }

    /// What the client gets when the upstream connection broke. After the usage chunk only
    /// the ending was lost: nothing on chat completions, `response.completed` in the Responses
    /// dialect. Before it, [`RelayCore::broken`], or in the Responses dialect an `error` event
    /// and `response.failed`.
    pub fn break_off(&mut self) -> String {
        let completed = self.completed();
        match &mut self.responses {
            None if completed => {
                let mut out = String::new();
                tell_finish_error(&self.meter, &mut self.told_finish_error, &mut out);
                out
            }
            None => Self::broken(),
            Some(dialect) if completed => {
                let mut out = String::new();
                let usage = dialect.billing.usage(&self.meter);
                dialect.stream.complete(&usage, &mut out);
                out
            }
            Some(dialect) => {
                let mut out = String::new();
                let usage = dialect.billing.usage(&self.meter);
                dialect
                    .stream
                    .fail(&ProxyError::UpstreamBroken, &usage, &mut out);
                out
            }
        }
    }

    /// After an answer that ended with a `finish_reason` an SDK would not read as a failure
    /// (Zhipu's `sensitive`, `network_error`), OpenAI's mid-stream error event, once: the
    /// chunk itself went through unchanged, and the SDK now raises instead of passing the cut
    /// answer off as complete.
    fn tell_finish_error(&mut self, out: &mut String) {
        tell_finish_error(&self.meter, &mut self.told_finish_error, out);
    }

    /// The last event of a stream the upstream broke off: OpenAI's mid-stream error shape, so an
    /// SDK raises instead of passing a truncated answer off as complete. (The widget keeps the
    /// answer as it stands and shows the error's message after it.) Nothing may be retried
    /// here: part of the answer already reached the client.
    pub fn broken() -> String {
        let mut out = String::new();
        encode_event_into(&mut out, &ProxyError::UpstreamBroken.to_json().to_string());
        out
    }

    /// Whether the upstream finished rather than broke off: `[DONE]` arrived, or the usage
    /// chunk did, which the proxy always asks for and which comes last (some OpenAI-compatible
    /// servers end their streams without `[DONE]`).
    pub fn completed(&self) -> bool {
        self.meter.saw_done() || self.meter.reported_usage().is_some()
    }

    pub fn into_meter(self) -> StreamMeter {
        self.meter
    }

    /// The meter, and the Responses translator when the relay had one (its final response and
    /// answer are what a stored conversation keeps).
    pub fn into_parts(self) -> (StreamMeter, Option<ResponsesStream>) {
        let stream = self.responses.map(|dialect| *dialect.stream);
        (self.meter, stream)
    }

    fn encode(&mut self) -> String {
        let mut out = String::new();
        if let Some(dialect) = &mut self.responses {
            for event in self.events.drain(..) {
                self.meter.observe(&event.data);
                if event.is_done() {
                    let usage = dialect.billing.usage(&self.meter);
                    dialect.stream.complete(&usage, &mut out);
                } else {
                    dialect.stream.chunk(&event.data, &mut out);
                }
            }
            return out;
        }
        for event in self.events.drain(..) {
            // `[DONE]` goes through the meter too: it is what tells a finished stream from a cut one.
            match self.meter.observe(&event.data) {
                Forward::AsIs if event.is_done() => {
                    tell_finish_error(&self.meter, &mut self.told_finish_error, &mut out);
                    tell_trailer(
                        &self.meter,
                        &mut self.told_trailer,
                        &mut self.trailer,
                        &mut out,
                    );
                    out.push_str(DONE_EVENT)
                }
                Forward::AsIs => encode_event_into(&mut out, &event.data),
                Forward::Rewritten(data) => encode_event_into(&mut out, &data),
                Forward::Drop => {}
            }
        }
        out
    }
}

/// See [`RelayCore::tell_trailer`]; a function of the fields it needs, like
/// [`tell_finish_error`].
fn tell_trailer(
    meter: &StreamMeter,
    told: &mut bool,
    trailer: &mut Option<String>,
    out: &mut String,
) {
    if *told {
        return;
    }
    *told = true;
    let calls = meter.calls_for_the_page();
    if !calls.is_empty() {
        out.push_str(&crate::tools::tool_call_events(
            &calls,
            meter.server_tools(),
        ));
    } else if let Some(trailer) = trailer.take() {
        out.push_str(&trailer);
    }
}

/// See [`RelayCore::tell_finish_error`]; a function of the fields it needs, so it can run
/// while the parsed events are being drained.
fn tell_finish_error(meter: &StreamMeter, told: &mut bool, out: &mut String) {
    if *told {
        return;
    }
    if let Some(error) = meter.finish_error() {
        *told = true;
        encode_event_into(out, &error.to_json().to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An OpenAI stream with `include_usage`: `"usage": null` in every chunk, then the usage.
    fn stream_with_usage() -> String {
        let mut input = String::new();
        for word in ["Hello", " there", ", 你好"] {
            input.push_str(&format!(
                "data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{word}\"}}}}],\"usage\":null}}\n\n"
            ));
        }
        input.push_str("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n");
        input.push_str("data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":5,\"total_tokens\":14}}\n\n");
        input.push_str("data: [DONE]\n\n");
        input
    }

    #[test]
    fn only_a_bounded_answer_the_client_gets_unchanged_is_passed_through() {
        let cap = 2_048;
        let plain = RelayCore::new(StreamMeter::new(true));
        assert!(plain.passes_through(Provider::OpenAi, cap));
        assert!(plain.passes_through(Provider::DeepSeek, cap));
        // Zhipu may end with `sensitive`, which needs an error event after it.
        assert!(!plain.passes_through(Provider::Zhipu, cap));
        assert!(!plain.passes_through(Provider::OpenAiCompatible, cap));
        // The native path holds the answer until its end: a long one is pumped instead.
        assert!(plain.passes_through(Provider::OpenAi, PASS_THROUGH_MAX_OUTPUT_TOKENS));
        assert!(!plain.passes_through(Provider::OpenAi, PASS_THROUGH_MAX_OUTPUT_TOKENS + 1));
        // The usage chunk and `"usage": null` are stripped for a client that did not ask.
        assert!(!RelayCore::new(StreamMeter::new(false)).passes_through(Provider::OpenAi, cap));
        let carded = RelayCore::new(StreamMeter::new(true)).with_card("c", &serde_json::json!({}));
        assert!(!carded.passes_through(Provider::OpenAi, cap));
        let assembling = StreamMeter::new(true).assembling_tool_calls(vec!["x".into()]);
        assert!(!RelayCore::new(assembling).passes_through(Provider::OpenAi, cap));
    }

    /// The native path sends the upstream's bytes and meters them all at once after the
    /// last one: that must be what the pump would have sent and metered chunk by chunk.
    #[test]
    fn a_passed_through_stream_is_what_the_pump_sends_and_meters_the_same() {
        let input = stream_with_usage();
        let mut pumped = RelayCore::new(StreamMeter::new(true));
        let mut out = String::new();
        for chunk in input.as_bytes().chunks(7) {
            out.push_str(&pumped.push(chunk));
        }
        out.push_str(&pumped.finish());
        assert_eq!(
            out, input,
            "the pump changed a stream it should forward unchanged"
        );

        let mut after = RelayCore::new(StreamMeter::new(true));
        after.push(input.as_bytes());
        after.finish();
        assert!(after.completed());
        let (a, b) = (pumped.into_meter(), after.into_meter());
        assert_eq!(a.outcome(3), b.outcome(3));
        assert_eq!(b.outcome(3).completion_tokens, 5);
        assert_eq!(a.finish_reason(), b.finish_reason());
    }

    #[test]
    fn a_call_to_a_tool_the_request_did_not_offer_never_reaches_the_page() {
        let head = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"submit_leave","arguments":"{}"}}]}}]}"#;
        let finish = r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#;
        let input = format!("{head}\n\n{finish}\n\ndata: [DONE]\n\n");
        // Offered something else (or nothing, on the round that reached the bound).
        for offered in [vec!["leave_balance".to_string()], vec![]] {
            let meter = StreamMeter::new(false).assembling_tool_calls(offered);
            let mut relay = RelayCore::new(meter);
            let mut out = relay.push(input.as_bytes());
            out.push_str(&relay.finish());
            assert!(!out.contains("oachat.tool_call"), "{out}");
            // Still metered and kept for the ledger and the conversation.
            assert_eq!(relay.into_meter().tool_calls()[0].name, "submit_leave");
        }
    }

    #[test]
    fn tool_calls_go_out_as_events_just_before_done_instead_of_the_card() {
        let head = r#"data: {"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"submit_leave","arguments":""}}]}}]}"#;
        let args = r#"data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"from\":1}"}}]}}]}"#;
        let finish = r#"data: {"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#;
        let usage = "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":4,\"total_tokens\":7}}\n\n";
        for done in ["data: [DONE]\n\n", ""] {
            let mut relay = RelayCore::new(
                StreamMeter::new(false).assembling_tool_calls(vec!["submit_leave".into()]),
            )
            .with_card("quick-replies", &serde_json::json!({"replies": ["a"]}));
            let mut out =
                relay.push(format!("{head}\n\n{args}\n\n{finish}\n\n{usage}{done}").as_bytes());
            out.push_str(&relay.finish());
            let event = out
                .find("event: oachat.tool_call\ndata: {")
                .expect("call sent");
            assert!(out.find("tool_calls\"}").unwrap() < event, "{out}");
            if !done.is_empty() {
                assert!(event < out.find("data: [DONE]").unwrap(), "{out}");
            }
            assert_eq!(out.matches("event: oachat.tool_call").count(), 1, "{out}");
            assert!(out.contains(r#""arguments":"{\"from\":1}""#), "{out}");
            assert!(!out.contains("oachat.card"), "{out}");
            assert_eq!(relay.into_meter().tool_calls()[0].name, "submit_leave");
        }
    }

    #[test]
    fn a_card_goes_out_once_just_before_done() {
        let mut relay = RelayCore::new(StreamMeter::new(false))
            .with_card("quick-replies", &serde_json::json!({"items": ["a", "b"]}));
        let chunk = r#"data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}"#;
        let out = relay.push(format!("{chunk}\n\ndata: [DONE]\n\n").as_bytes());
        let card = out.find("event: oachat.card\ndata: {").expect("card sent");
        let done = out.find("data: [DONE]").expect("done sent");
        assert!(out.find("hi").unwrap() < card && card < done, "{out}");
        assert_eq!(out.matches("oachat.card").count(), 1);
    }

    /// A stream as mock-openai sends it with `include_usage` on (the proxy always turns it on).
    const STREAM: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"你好 👋 world\"}}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
        "data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":5,\"total_tokens\":16}}\n\n",
        "data: [DONE]\n\n",
    );

    const FOR_CLIENT_WITHOUT_USAGE: &str = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"你好 👋 world\"}}]}\n\n",
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    );

    /// Relays `input` cut into network chunks at `splits`, and checks the client's bytes, whether
    /// the stream counts as completed, and the billed completion tokens.
    #[track_caller]
    fn check(
        client_wants_usage: bool,
        input: &str,
        splits: &[usize],
        expected: &str,
        completed: bool,
        completion_tokens: u64,
    ) {
        let mut relay = RelayCore::new(StreamMeter::new(client_wants_usage));
        let mut out = String::new();
        let mut start = 0;
        for &split in splits.iter().chain([input.len()].iter()) {
            out.push_str(&relay.push(&input.as_bytes()[start..split]));
            start = split;
        }
        out.push_str(&relay.finish());
        assert_eq!(out, expected, "splits {splits:?}");
        assert_eq!(relay.completed(), completed, "splits {splits:?}");
        assert_eq!(
            relay.into_meter().outcome(3).completion_tokens,
            completion_tokens
        );
    }

    #[test]
    fn done_marks_the_stream_completed_regression_every_stream_was_recorded_as_cut() {
        check(true, STREAM, &[], STREAM, true, 5);
        check(false, STREAM, &[], FOR_CLIENT_WITHOUT_USAGE, true, 5);
    }

    #[test]
    fn every_split_point_gives_the_same_bytes_and_verdict() {
        // Bytes, not characters, arrive from the network: splits inside a character count too.
        for split in 1..STREAM.len() {
            check(false, STREAM, &[split], FOR_CLIENT_WITHOUT_USAGE, true, 5);
            check(true, STREAM, &[split], STREAM, true, 5);
        }
    }

    #[test]
    fn an_ending_sdks_cannot_read_is_followed_by_an_error_event_once() {
        let zhipu = |reason: &str, done: &str| {
            format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"半\"}}}}]}}\n\n\
                 data: {{\"choices\":[{{\"index\":0,\"delta\":{{}},\"finish_reason\":\"{reason}\"}}],\
                 \"usage\":{{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}}}\n\n{done}"
            )
        };
        for (reason, code) in [
            ("sensitive", "content_filter"),
            ("network_error", "upstream_model_error"),
        ] {
            for done in ["data: [DONE]\n\n", ""] {
                let mut relay = RelayCore::new(StreamMeter::new(true));
                let mut out = relay.push(zhipu(reason, done).as_bytes());
                out.push_str(&relay.finish());
                assert_eq!(out.matches("\"error\"").count(), 1, "{out}");
                assert!(out.contains(&format!("\"code\":\"{code}\"")), "{out}");
                // The chunk itself is relayed unchanged, and the error comes before `[DONE]`.
                assert!(out.contains(&format!("\"finish_reason\":\"{reason}\"")));
                if !done.is_empty() {
                    assert!(out.find("\"error\"") < out.find("[DONE]"), "{out}");
                }
            }
        }
        // OpenAI's own content_filter is an ending SDKs know: no extra event.
        let mut relay = RelayCore::new(StreamMeter::new(true));
        let mut out = relay.push(zhipu("content_filter", "data: [DONE]\n\n").as_bytes());
        out.push_str(&relay.finish());
        assert!(!out.contains("\"error\""), "{out}");
    }

    #[test]
    fn a_stream_that_ends_after_its_usage_chunk_without_done_is_completed() {
        let without_done = STREAM.trim_end_matches("data: [DONE]\n\n");
        let expected = FOR_CLIENT_WITHOUT_USAGE.trim_end_matches("data: [DONE]\n\n");
        check(false, without_done, &[], expected, true, 5);
    }

    fn responses_relay() -> RelayCore {
        let head = crate::responses::ResponseHead {
            id: "resp_1".into(),
            created_at: 1,
            model: "m".into(),
            echo: serde_json::Map::new(),
        };
        let billing = Billing {
            prompt_estimate: 3,
            output_cap: 100,
        };
        RelayCore::responses(StreamMeter::new(false), ResponsesStream::new(head), billing)
    }

    #[test]
    fn the_responses_dialect_meters_the_upstream_bytes_and_reports_them_as_usage() {
        for split in [0, 1, 57, STREAM.len() / 2, STREAM.len() - 3] {
            let mut relay = responses_relay();
            let mut out = relay.push(&STREAM.as_bytes()[..split]);
            out.push_str(&relay.push(&STREAM.as_bytes()[split..]));
            out.push_str(&relay.finish());
            assert!(relay.completed());
            assert!(
                !out.contains("chat.completion") && !out.contains("[DONE]"),
                "{out}"
            );
            assert_eq!(
                out.matches("event: response.completed\n").count(),
                1,
                "{out}"
            );
            assert!(out.contains(r#""delta":"你好 👋 world""#), "{out}");
            assert!(out.contains(r#""input_tokens":11"#) && out.contains(r#""output_tokens":5"#));
            let (meter, stream) = relay.into_parts();
            assert_eq!(meter.outcome(3).completion_tokens, 5);
            assert_eq!(
                stream.map(|s| s.response()["status"].clone()),
                Some("completed".into())
            );
        }
    }

    #[test]
    fn a_broken_responses_stream_ends_with_an_error_and_response_failed() {
        let cut = &STREAM[..STREAM
            .find("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},")
            .unwrap_or(0)];
        let mut relay = responses_relay();
        let mut out = relay.push(cut.as_bytes());
        out.push_str(&relay.finish());
        assert!(!relay.completed());
        let error = out.find("event: error\n").expect("an error event");
        let failed = out
            .find("event: response.failed\n")
            .expect("response.failed");
        assert!(
            error < failed && !out.contains("response.completed"),
            "{out}"
        );
    }

    #[test]
    fn a_stream_without_done_is_not_completed_and_its_text_is_estimated() {
        let cut = &STREAM[..STREAM
            .find("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},")
            .unwrap_or(0)];
        let expected = &FOR_CLIENT_WITHOUT_USAGE[..FOR_CLIENT_WITHOUT_USAGE
            .find("data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},")
            .unwrap_or(0)];
        let expected = format!("{expected}{}", RelayCore::broken());
        // "你好 👋 world": two ideographs, then " 👋 world" as one 11-byte run.
        check(false, cut, &[40], &expected, false, 5);
        assert!(RelayCore::broken().starts_with("data: {\"error\":{"));
        assert!(RelayCore::broken().contains("\"code\":\"upstream_broken\""));
    }
}
