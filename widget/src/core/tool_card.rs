//! The card of one tool call: what the model asks to do, in plain words, and where the call is
//! (asking for confirmation, running, done, failed, declined). A pure function to HTML.
//!
//! Everything on it comes from the model (the arguments) or the page's handler (the result):
//! every piece of text is escaped; the only markup is this module's own.

use super::highlight::push_escaped;
use super::i18n::{Locale, Strings};
use super::tools::{plain_arguments, Phase, ToolCall};

/// How much of a result or error the card shows; the model gets all of it.
const MAX_SHOWN_RESULT_CHARS: usize = 300;

/// The card's HTML. Its buttons carry `data-action` and the call's `data-key`.
pub fn tool_card_html(call: &ToolCall, strings: &Strings) -> String {
    let phase = match call.phase {
        Phase::Checking | Phase::Confirm => "confirm",
        Phase::Running => "running",
        Phase::Done => "done",
        Phase::Failed => "failed",
        Phase::Declined => "declined",
    };
    let mut html = String::with_capacity(256);
    html.push_str("<div class=\"oc-tool\" part=\"tool\" role=\"group\" data-phase=\"");
    html.push_str(phase);
    html.push_str("\" aria-label=\"");
    push_escaped(&mut html, &call.title);
    html.push_str("\"><p class=\"oc-tool-summary\"><b class=\"oc-tool-title\">");
    push_escaped(&mut html, &call.title);
    html.push_str("</b>");
    let arguments = plain_arguments(&call.arguments);
    if !arguments.is_empty() {
        html.push_str(match strings.locale() {
            Locale::ZhCn => "：",
            Locale::En => ": ",
        });
        html.push_str("<span class=\"oc-tool-args\">");
        push_escaped(&mut html, &arguments);
        html.push_str("</span>");
    }
    html.push_str("</p><div class=\"oc-tool-status\" role=\"status\">");
    if call.phase == Phase::Running {
        html.push_str("<span class=\"oc-spin\" aria-hidden=\"true\"></span>");
    }
    let label = match call.phase {
        Phase::Checking | Phase::Confirm => "tool_confirm_ask",
        Phase::Running if call.server => "tool_asking_oa",
        Phase::Running => "tool_running",
        Phase::Done => "tool_done",
        Phase::Failed => "tool_failed",
        Phase::Declined => "tool_declined",
    };
    push_escaped(&mut html, &strings.get(label));
    html.push_str("</div>");
    // A server call's result is the worker's: shown once the stored conversation has it.
    let shown_result = call
        .result
        .as_ref()
        .filter(|result| !result.content.is_empty());
    if let (Phase::Done | Phase::Failed, Some(result)) = (call.phase, shown_result) {
        html.push_str("<pre class=\"oc-tool-result\">");
        let mut shown: String = result
            .content
            .chars()
            .take(MAX_SHOWN_RESULT_CHARS)
            .collect();
        if shown.len() < result.content.len() {
            shown.push('…');
        }
        push_escaped(&mut html, &shown);
        html.push_str("</pre>");
    }
    if call.phase == Phase::Confirm {
        let key = call.key.to_string();
        html.push_str("<div class=\"oc-tool-actions\">");
        for (action, class, label) in [
            ("tool-confirm", "oc-tool-ok", "tool_confirm"),
            ("tool-cancel", "oc-tool-no", "tool_cancel"),
        ] {
            html.push_str("<button type=\"button\" class=\"oc-tool-btn ");
            html.push_str(class);
            html.push_str("\" data-action=\"");
            html.push_str(action);
            html.push_str("\" data-key=\"");
            html.push_str(&key);
            html.push_str("\">");
            push_escaped(&mut html, &strings.get(label));
            html.push_str("</button>");
        }
        html.push_str("</div>");
    }
    html.push_str("</div>");
    html
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::core::json::Json;
    use crate::core::tools::ToolResult;

    fn call(phase: Phase, arguments: &str, result: Option<&str>) -> ToolCall {
        ToolCall {
            key: 4,
            id: "call_\"><x".into(),
            name: "submit_leave".into(),
            arguments: Json::parse(arguments).expect("JSON"),
            title: "提交请假申请".into(),
            phase,
            result: result.map(|content| ToolResult {
                status: "ok",
                content: content.into(),
            }),
            server: false,
        }
    }

    fn zh() -> Strings {
        Strings::new(Locale::ZhCn, HashMap::new())
    }

    #[test]
    fn a_confirmation_says_what_will_happen_and_offers_both_buttons() {
        let html = tool_card_html(
            &call(
                Phase::Confirm,
                r#"{"from":"2024-06-24","to":"2024-06-26","type":"年假"}"#,
                None,
            ),
            &zh(),
        );
        assert!(html.contains("<b class=\"oc-tool-title\">提交请假申请</b>：<span class=\"oc-tool-args\">from 2024-06-24, to 2024-06-26, type 年假</span>"), "{html}");
        assert!(
            html.contains("data-action=\"tool-confirm\" data-key=\"4\">确认</button>"),
            "{html}"
        );
        assert!(
            html.contains("data-action=\"tool-cancel\" data-key=\"4\">取消</button>"),
            "{html}"
        );
        assert!(
            !html.contains("call_"),
            "the model's id never reaches the markup: {html}"
        );
    }

    #[test]
    fn hostile_arguments_and_results_are_text() {
        let payload = r#"<img src=x onerror="alert(1)">"#;
        let arguments = Json::object([("note", payload.into())]).to_string();
        let html = tool_card_html(&call(Phase::Done, &arguments, Some(payload)), &zh());
        assert!(!html.contains("<img"), "{html}");
        assert!(
            html.contains("&lt;img src=x onerror=&quot;alert(1)&quot;&gt;"),
            "{html}"
        );
        assert!(
            !html.contains("data-action"),
            "a finished card has no buttons: {html}"
        );
    }

    #[test]
    fn a_server_call_asks_the_oa_and_shows_no_empty_result() {
        let mut asking = call(Phase::Running, "{}", Some(""));
        asking.server = true;
        let html = tool_card_html(&asking, &zh());
        assert!(
            html.contains("正在查询 OA…") && html.contains("oc-spin"),
            "{html}"
        );
        let en = Strings::new(Locale::En, HashMap::new());
        assert!(tool_card_html(&asking, &en).contains("Asking the OA…"));
        asking.phase = Phase::Done;
        let html = tool_card_html(&asking, &zh());
        assert!(html.contains("data-phase=\"done\"") && !html.contains("oc-tool-result"));
    }

    #[test]
    fn each_phase_has_its_label_and_only_running_spins() {
        let en = Strings::new(Locale::En, HashMap::new());
        for (phase, label, spins) in [
            (Phase::Running, "Running…", true),
            (Phase::Done, "Done", false),
            (Phase::Failed, "Failed", false),
            (Phase::Declined, "Declined", false),
        ] {
            let html = tool_card_html(&call(phase, "{}", None), &en);
            assert!(html.contains(label), "{html}");
            assert_eq!(html.contains("oc-spin"), spins, "{html}");
        }
        let long = "x".repeat(1000);
        let html = tool_card_html(&call(Phase::Done, "{}", Some(&long)), &en);
        assert!(
            html.contains(&format!("{}…</pre>", "x".repeat(300))),
            "{html}"
        );
    }
}
