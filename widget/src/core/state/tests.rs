//! The flows the end-to-end tests in widget/tests/*.test.mjs drive, run through `update`.

use std::collections::HashMap;

use super::*;
use crate::core::i18n::Locale;

fn widget() -> WidgetState {
    let mut settings = Settings::default();
    settings.apply("endpoint", "https://chat.example.com");
    WidgetState::new(
        settings,
        Strings::new(Locale::En, HashMap::new()),
        "oc-first".into(),
    )
}

fn chunk(answer: u32, text: &str) -> Msg {
    Msg::Chunk {
        answer,
        text: text.into(),
        now_ms: 0,
    }
}

fn turn(role: Role, text: &str) -> StoredTurn {
    StoredTurn {
        role,
        text: text.into(),
        reasoning: None,
    }
}

fn end(answer: u32, result: Result<(), Failure>) -> Msg {
    Msg::StreamEnd { answer, result }
}

/// Sends `text` and returns the id of the answer it started.
#[track_caller]
fn send(state: &mut WidgetState, text: &str) -> u32 {
    let effects = update(state, Msg::Send(text.into()));
    let answer = effects.iter().find_map(|effect| match effect {
        Effect::Request { answer, .. } => Some(*answer),
        _ => None,
    });
    answer.unwrap_or_else(|| panic!("sending {text:?} starts no request: {effects:?}"))
}

fn emitted(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Emit(event) => Some(event.name()),
            _ => None,
        })
        .collect()
}

fn body(state: &WidgetState) -> Json {
    Json::parse(&state.chat_request().body).expect("the request body is JSON")
}

fn conversations(ids: &[&str]) -> Vec<Conversation> {
    ids.iter()
        .map(|id| Conversation {
            id: id.to_string(),
            title: format!("title of {id}"),
        })
        .collect()
}

#[test]
fn a_send_shows_the_question_and_streams_the_answer() {
    let mut state = widget();
    let effects = update(&mut state, Msg::Send("  hello  ".into()));
    let user = state.chat.messages()[0].id;
    let answer = state.chat.messages()[1].id;
    assert_eq!(
        effects,
        [
            Effect::ClearInput,
            Effect::ShowStarters(false),
            Effect::StopCountdown,
            Effect::ShowMessage(user),
            Effect::Emit(Event::Message {
                role: "user",
                text: "hello".into()
            }),
            Effect::ScrollToBottom,
            Effect::BeginAnswer(answer),
            Effect::SetStreaming(true),
            Effect::Announce(state.strings.get("thinking")),
            Effect::ScrollToBottom,
            Effect::Emit(Event::StreamStart),
            Effect::Request {
                answer,
                refresh_token: false
            },
        ]
    );
    let request = state.chat_request();
    assert_eq!(request.url, "https://chat.example.com/v1/chat/completions");
    let body = body(&state);
    assert_eq!(
        body.get("messages").map(Json::to_string).as_deref(),
        Some(r#"[{"role":"user","content":"hello"}]"#)
    );
    assert_eq!(
        body.get("oachat")
            .and_then(|o| o.get("conversation_id"))
            .and_then(Json::as_str),
        Some("oc-first")
    );
}

#[test]
fn empty_sends_and_sends_while_streaming_do_nothing() {
    let mut state = widget();
    assert_eq!(update(&mut state, Msg::Send("   ".into())), []);
    send(&mut state, "one");
    assert_eq!(update(&mut state, Msg::Send("two".into())), []);
    assert_eq!(state.chat.messages().len(), 2);
}

#[test]
fn chunks_queue_text_and_the_end_finishes_the_answer() {
    let mut state = widget();
    let answer = send(&mut state, "q");
    update(
        &mut state,
        Msg::Started {
            answer,
            request_id: Some("req-1".into()),
            conversation: None,
        },
    );
    assert_eq!(
        update(&mut state, chunk(answer, "Hello")),
        [Effect::QueueText {
            answer,
            text: "Hello".into()
        }]
    );
    update(&mut state, chunk(answer, " world"));
    let effects = update(&mut state, end(answer, Ok(())));
    assert_eq!(
        effects,
        [
            Effect::EndAnswer { answer, keep: true },
            Effect::Emit(Event::Message {
                role: "assistant",
                text: "Hello world".into()
            }),
            Effect::Announce(state.strings.get("answer_done")),
            Effect::Emit(Event::StreamEnd),
            Effect::SetStreaming(false),
            Effect::ScrollToBottom,
            Effect::FetchQuota,
        ]
    );
    let message = state.chat.message(answer).unwrap();
    assert!(message.done);
    assert_eq!(message.request_id.as_deref(), Some("req-1"));
    assert!(!state.chat.is_streaming());
    // The next question carries the whole conversation.
    send(&mut state, "again");
    assert_eq!(
        body(&state).get("messages").map(Json::to_string).as_deref(),
        Some(
            r#"[{"role":"user","content":"q"},{"role":"assistant","content":"Hello world"},{"role":"user","content":"again"}]"#
        )
    );
}

#[test]
fn stop_aborts_and_the_partial_answer_stays() {
    let mut state = widget();
    let answer = send(&mut state, "tell me a long story");
    update(&mut state, chunk(answer, "Once upon"));
    assert_eq!(update(&mut state, Msg::Stop), [Effect::Abort]);
    // An aborted stream ends without a failure.
    let effects = update(&mut state, end(answer, Ok(())));
    assert!(effects.contains(&Effect::EndAnswer { answer, keep: true }));
    assert_eq!(state.chat.message(answer).unwrap().text, "Once upon");
    // And the widget takes the next question.
    send(&mut state, "after stop");
}

#[test]
fn regenerate_replaces_the_last_answer() {
    let mut state = widget();
    let first = send(&mut state, "q");
    update(&mut state, chunk(first, "first try"));
    update(&mut state, end(first, Ok(())));
    let effects = update(&mut state, Msg::Retry);
    let second = state.chat.streaming_id().unwrap();
    assert_eq!(
        effects[..2],
        [Effect::RemoveMessage(first), Effect::RemoveNotices]
    );
    assert!(effects.contains(&Effect::BeginAnswer(second)));
    assert!(state.chat.message(first).is_none());
    assert_eq!(
        body(&state).get("messages").map(Json::to_string).as_deref(),
        Some(r#"[{"role":"user","content":"q"}]"#)
    );
    // Nothing to regenerate while streaming or before any question.
    assert_eq!(update(&mut state, Msg::Retry), []);
    assert_eq!(update(&mut widget(), Msg::Retry), []);
}

#[test]
fn a_dropped_network_shows_a_notice_with_retry_and_retry_works() {
    let mut state = widget();
    let answer = send(&mut state, "断网了");
    let effects = update(&mut state, end(answer, Err(Failure::Network)));
    let notice = state.chat.messages().last().unwrap();
    assert_eq!(notice.role, Role::Notice);
    assert_eq!(
        effects,
        [
            Effect::EndAnswer {
                answer,
                keep: false
            },
            Effect::ShowNotice {
                id: notice.id,
                failure: Failure::Network,
                retry: true,
                countdown_s: None
            },
            Effect::Emit(Event::Error {
                code: "network",
                message: notice.text.clone()
            }),
            Effect::Emit(Event::StreamEnd),
            Effect::SetStreaming(false),
            Effect::ScrollToBottom,
            Effect::FetchQuota,
        ]
    );
    // The empty answer gave way to the notice; retry asks the same question again.
    assert!(state.chat.message(answer).is_none());
    let effects = update(&mut state, Msg::Retry);
    assert!(effects.contains(&Effect::RemoveNotices));
    let again = state.chat.streaming_id().unwrap();
    update(&mut state, chunk(again, "back"));
    update(&mut state, end(again, Ok(())));
    let roles: Vec<Role> = state.chat.messages().iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant]);
}

#[test]
fn a_failure_after_some_text_keeps_the_text_and_adds_the_notice() {
    let mut state = widget();
    let answer = send(&mut state, "q");
    update(&mut state, chunk(answer, "partial"));
    let effects = update(
        &mut state,
        end(
            answer,
            Err(Failure::UpstreamDown {
                retry_after_s: None,
            }),
        ),
    );
    assert_eq!(effects[0], Effect::EndAnswer { answer, keep: true });
    assert!(matches!(
        effects[1],
        Effect::ShowNotice {
            retry: true,
            countdown_s: None,
            ..
        }
    ));
    assert!(emitted(&effects).contains(&"error"));
    assert_eq!(state.chat.message(answer).unwrap().text, "partial");
}

#[test]
fn a_rate_limit_counts_down_instead_of_offering_retry() {
    let mut state = widget();
    let answer = send(&mut state, "second is too soon");
    let failure = Failure::RateLimited { retry_after_s: 7 };
    let effects = update(&mut state, end(answer, Err(failure.clone())));
    let notice = state.chat.messages().last().unwrap();
    assert_eq!(
        effects[1],
        Effect::ShowNotice {
            id: notice.id,
            failure: failure.clone(),
            retry: false,
            countdown_s: Some(7)
        }
    );
    assert_eq!(notice.text, state.strings.failure(&failure, Some(7)));
    // The next send stops the countdown.
    let effects = update(&mut state, Msg::Send("later".into()));
    assert!(effects.contains(&Effect::StopCountdown));
}

#[test]
fn error_events_carry_the_code_the_host_page_sees() {
    for (failure, code) in [
        (
            Failure::RateLimited { retry_after_s: 1 },
            "rate_limit_exceeded",
        ),
        (
            Failure::Budget {
                retry_after_s: None,
            },
            "budget_exceeded",
        ),
        (Failure::MaxRounds, "max_rounds_exceeded"),
        (Failure::MaxToolRounds, "max_tool_rounds_exceeded"),
        (Failure::Unauthorized, "unauthorized"),
        (Failure::Forbidden, "forbidden"),
        (Failure::Blocked, "user_blocked"),
        (
            Failure::UpstreamDown {
                retry_after_s: None,
            },
            "upstream_unavailable",
        ),
        (
            Failure::Other {
                message: "HTTP 500".into(),
            },
            "error",
        ),
    ] {
        let mut state = widget();
        let answer = send(&mut state, "q");
        let effects = update(&mut state, end(answer, Err(failure.clone())));
        let error = effects.iter().find_map(|effect| match effect {
            Effect::Emit(Event::Error { code, .. }) => Some(*code),
            _ => None,
        });
        assert_eq!(error, Some(code), "{failure:?}");
    }
}

#[test]
fn an_expired_token_is_refreshed_once_silently() {
    let mut state = widget();
    let answer = send(&mut state, "with an old token");
    assert_eq!(
        update(&mut state, end(answer, Err(Failure::TokenExpired))),
        [Effect::Request {
            answer,
            refresh_token: true
        }]
    );
    // The fresh token works: the answer streams as usual.
    update(&mut state, chunk(answer, "ok"));
    update(&mut state, end(answer, Ok(())));
    assert_eq!(state.chat.message(answer).unwrap().text, "ok");

    // Each new request may refresh once; a second expiry in a row is shown.
    let answer = send(&mut state, "q");
    update(&mut state, end(answer, Err(Failure::TokenExpired)));
    let effects = update(&mut state, end(answer, Err(Failure::TokenExpired)));
    assert!(effects.iter().any(|effect| matches!(
        effect,
        Effect::Emit(Event::Error {
            code: "token_expired",
            ..
        })
    )));
}

#[test]
fn open_close_and_toggle_emit_once_per_change() {
    let mut state = widget();
    let effects = update(&mut state, Msg::SetOpen(true));
    assert_eq!(
        effects,
        [
            Effect::ShowPanel(true),
            Effect::ScrollToBottom,
            Effect::FocusInput,
            Effect::FetchQuota,
            Effect::Emit(Event::Open)
        ]
    );
    assert_eq!(update(&mut state, Msg::SetOpen(true)), []);
    assert_eq!(
        update(&mut state, Msg::Toggle),
        [Effect::ShowPanel(false), Effect::Emit(Event::Close)]
    );
    assert!(!state.open);
    // The quota is read the first time the panel opens, not each time.
    let reopened = update(&mut state, Msg::Toggle);
    assert!(!reopened.contains(&Effect::FetchQuota));
}

#[test]
fn the_quota_menu_shows_what_is_left_and_warns_before_the_limit() {
    use crate::core::quota::Quota;
    let mut state = widget();
    let me = |used: u64| {
        let text = format!(
            r#"{{"object":"oachat.me","day":{{"tokens":{{"used":{used},"limit":50000}}}}}}"#
        );
        Quota::parse(&Json::parse(&text).unwrap())
    };
    // No quota (an older worker, or none for this user): no button, no note.
    assert_eq!(
        update(&mut state, Msg::QuotaLoaded(None)),
        [Effect::ShowQuotaButton(false), Effect::ShowQuotaNote(None)]
    );
    assert_eq!(
        update(&mut state, Msg::ToggleQuota),
        [Effect::ShowQuota(None)]
    );
    // Plenty left: the button shows, the menu says how much, no note.
    assert_eq!(
        update(&mut state, Msg::QuotaLoaded(me(38_000))),
        [Effect::ShowQuotaButton(true), Effect::ShowQuotaNote(None)]
    );
    let lines = vec![state.strings.get("quota_day_left").replace("{n}", "12,000")];
    assert_eq!(
        update(&mut state, Msg::ToggleQuota),
        [Effect::ShowQuota(Some(lines)), Effect::FetchQuota]
    );
    // Near the limit: the open menu is redrawn and the note warns before the next question.
    let effects = update(&mut state, Msg::QuotaLoaded(me(46_000)));
    assert!(effects.contains(&Effect::ShowQuotaNote(Some(
        state.strings.get("quota_low_day")
    ))));
    assert!(effects
        .iter()
        .any(|e| matches!(e, Effect::ShowQuota(Some(_)))));
    // Spent: the note says when it comes back.
    let effects = update(&mut state, Msg::QuotaLoaded(me(50_000)));
    assert!(effects.contains(&Effect::ShowQuotaNote(Some(
        state.strings.get("quota_out_day")
    ))));
    assert_eq!(
        update(&mut state, Msg::ToggleQuota),
        [Effect::ShowQuota(None)]
    );
}

#[test]
fn reset_and_new_chat_start_a_new_conversation() {
    let mut state = widget();
    let answer = send(&mut state, "q");
    update(
        &mut state,
        Msg::Started {
            answer,
            request_id: None,
            conversation: Some("srv-1".into()),
        },
    );
    let effects = update(
        &mut state,
        Msg::NewChat {
            conversation_id: "oc-second".into(),
            from_button: false,
        },
    );
    assert_eq!(
        effects,
        [Effect::Abort, Effect::ClearLog, Effect::ShowWelcome]
    );
    assert!(state.chat.messages().is_empty());
    assert_eq!(state.conversation, "oc-second");
    assert_eq!(state.server_conversation, None);
    // The aborted stream's end arrives later and leaves nothing behind.
    let effects = update(&mut state, end(answer, Ok(())));
    assert_eq!(
        effects[0],
        Effect::EndAnswer {
            answer,
            keep: false
        }
    );
    assert!(state.chat.messages().is_empty());

    let effects = update(
        &mut state,
        Msg::NewChat {
            conversation_id: "oc-third".into(),
            from_button: true,
        },
    );
    assert_eq!(
        effects,
        [
            Effect::Abort,
            Effect::ShowHistory(None),
            Effect::ClearLog,
            Effect::ShowWelcome,
            Effect::FocusInput
        ]
    );
}

#[test]
fn a_stream_left_behind_by_a_new_chat_does_not_touch_the_next_answer() {
    let mut state = widget();
    let old = send(&mut state, "q");
    update(
        &mut state,
        Msg::NewChat {
            conversation_id: "oc-second".into(),
            from_button: true,
        },
    );
    let new = send(&mut state, "next");
    let started = Msg::Started {
        answer: old,
        request_id: None,
        conversation: Some("srv-old".into()),
    };
    assert_eq!(update(&mut state, started), []);
    assert_eq!(state.server_conversation, None);
    assert_eq!(
        update(&mut state, end(old, Ok(()))),
        [Effect::Emit(Event::StreamEnd)]
    );
    assert_eq!(state.chat.streaming_id(), Some(new));
}

#[test]
fn a_new_configuration_redraws_the_welcome_only_before_the_first_question() {
    let mut state = widget();
    let settings = state.settings.clone();
    let configure = || Msg::Configure {
        settings: Box::new(settings.clone()),
        strings: Strings::new(Locale::ZhCn, HashMap::new()),
    };
    assert_eq!(
        update(&mut state, configure()),
        [
            Effect::ApplySettings,
            Effect::ClearLog,
            Effect::ShowWelcome,
            Effect::RelabelActions
        ]
    );
    assert_eq!(state.strings.locale(), Locale::ZhCn);
    send(&mut state, "q");
    assert_eq!(
        update(&mut state, configure()),
        [Effect::ApplySettings, Effect::RelabelActions]
    );
}

#[test]
fn a_card_in_the_stream_shows_inside_the_answer() {
    let mut state = widget();
    let answer = send(&mut state, "出差摘要");
    let card = Json::parse(r#"{"card":"kv","data":{"title":"出差审批","items":{"城市":"上海"}}}"#)
        .unwrap();
    let data = card.get("data").cloned().unwrap();
    assert_eq!(
        update(&mut state, Msg::StreamCard { answer, card }),
        [
            Effect::ShowCard {
                answer: Some(answer),
                name: "kv".into(),
                data: data.clone()
            },
            Effect::Emit(Event::Card {
                name: "kv".into(),
                data
            }),
        ]
    );
    // Text before and after a card streams into the same answer.
    update(&mut state, chunk(answer, "after the card"));
    assert_eq!(state.chat.message(answer).unwrap().text, "after the card");
}

#[test]
fn a_card_without_a_name_is_the_generic_card() {
    let mut state = widget();
    let answer = send(&mut state, "q");
    let card = Json::parse(r#"{"data":{"title":"t"}}"#).unwrap();
    let effects = update(&mut state, Msg::StreamCard { answer, card });
    assert!(matches!(&effects[0], Effect::ShowCard { name, .. } if name == "card"));
}

#[test]
fn a_card_from_the_host_page_opens_the_panel() {
    let mut state = widget();
    let data = Json::parse(r#"{"name":"张三","days":3}"#).unwrap();
    let effects = update(
        &mut state,
        Msg::AddCard {
            name: "leave".into(),
            data: data.clone(),
        },
    );
    assert_eq!(effects[0], Effect::ShowPanel(true));
    assert!(effects.contains(&Effect::ShowCard {
        answer: None,
        name: "leave".into(),
        data
    }));
    assert_eq!(emitted(&effects), ["open", "message"]);
}

#[test]
fn copy_and_feedback_act_on_the_answer_they_belong_to() {
    let mut state = widget();
    let answer = send(&mut state, "copy me");
    update(
        &mut state,
        Msg::Started {
            answer,
            request_id: Some("req-9".into()),
            conversation: None,
        },
    );
    update(&mut state, chunk(answer, "copied text"));
    update(&mut state, end(answer, Ok(())));
    assert_eq!(
        update(&mut state, Msg::CopyAnswer(answer)),
        [Effect::Copy {
            answer,
            text: "copied text".into()
        }]
    );
    assert_eq!(
        update(&mut state, Msg::Feedback { answer, up: true }),
        [
            Effect::ShowFeedback {
                answer,
                rating: Some(true)
            },
            Effect::PostFeedback {
                request_id: "req-9".into(),
                rating: 1
            }
        ]
    );
    // The same thumb again takes the rating back.
    assert_eq!(
        update(&mut state, Msg::Feedback { answer, up: true })[1],
        Effect::PostFeedback {
            request_id: "req-9".into(),
            rating: 0
        }
    );
    assert_eq!(update(&mut state, Msg::CopyAnswer(999)), []);
}

#[test]
fn without_server_history_there_is_no_button_and_the_classic_endpoint() {
    let mut state = widget();
    assert_eq!(update(&mut state, Msg::HistoryProbed(None)), []);
    send(&mut state, "q");
    assert!(state.chat_request().url.ends_with("/v1/chat/completions"));
}

#[test]
fn with_server_history_the_first_and_next_messages_share_the_conversation() {
    let mut state = widget();
    assert_eq!(
        update(&mut state, Msg::HistoryProbed(Some(conversations(&["c1"])))),
        [Effect::ShowHistoryButton]
    );
    let answer = send(&mut state, "first");
    let request = state.chat_request();
    assert_eq!(request.url, "https://chat.example.com/v1/oachat/chat");
    assert_eq!(request.body, r#"{"message":"first"}"#);
    update(
        &mut state,
        Msg::Started {
            answer,
            request_id: None,
            conversation: Some("srv-7".into()),
        },
    );
    update(&mut state, end(answer, Ok(())));
    send(&mut state, "next");
    assert_eq!(
        state.chat_request().body,
        r#"{"message":"next","conversation_id":"srv-7"}"#
    );
}

#[test]
fn the_history_opens_with_the_cached_list_then_refreshes() {
    let mut state = widget();
    update(&mut state, Msg::HistoryProbed(Some(conversations(&["c1"]))));
    assert_eq!(
        update(&mut state, Msg::ToggleHistory),
        [
            Effect::ShowHistory(Some(conversations(&["c1"]))),
            Effect::FetchHistory
        ]
    );
    assert_eq!(
        update(&mut state, Msg::HistoryListed(conversations(&["c2", "c1"]))),
        [Effect::ShowHistory(Some(conversations(&["c2", "c1"])))]
    );
    assert_eq!(
        update(&mut state, Msg::ToggleHistory),
        [Effect::ShowHistory(None)]
    );
    // Opened again, the last fetched list shows at once.
    assert_eq!(
        update(&mut state, Msg::ToggleHistory)[0],
        Effect::ShowHistory(Some(conversations(&["c2", "c1"])))
    );
}

#[test]
fn loading_a_conversation_replaces_the_log_and_continues_it() {
    let mut state = widget();
    update(&mut state, Msg::HistoryProbed(Some(conversations(&["c1"]))));
    update(&mut state, Msg::ToggleHistory);
    assert_eq!(
        update(&mut state, Msg::OpenConversation("c1".into())),
        [Effect::FetchConversation("c1".into())]
    );
    let effects = update(
        &mut state,
        Msg::ConversationLoaded {
            calls: Vec::new(),
            id: "c1".into(),
            messages: vec![turn(Role::User, "old q"), turn(Role::Assistant, "old a")],
            conversation_id: "oc-loaded".into(),
        },
    );
    let ids: Vec<u32> = state.chat.messages().iter().map(|m| m.id).collect();
    assert_eq!(
        effects,
        [
            Effect::ShowHistory(None),
            Effect::ClearLog,
            Effect::ShowStarters(false),
            Effect::ShowMessage(ids[0]),
            Effect::ShowMessage(ids[1]),
            Effect::ScrollToBottom,
        ]
    );
    assert!(!state.history.shown);
    send(&mut state, "new q");
    assert_eq!(
        state.chat_request().body,
        r#"{"message":"new q","conversation_id":"c1"}"#
    );
    // No loading while an answer streams.
    assert_eq!(update(&mut state, Msg::OpenConversation("c1".into())), []);
}

#[test]
fn deleting_the_conversation_on_screen_starts_a_new_one() {
    let mut state = widget();
    update(
        &mut state,
        Msg::HistoryProbed(Some(conversations(&["c1", "c2"]))),
    );
    update(
        &mut state,
        Msg::ConversationLoaded {
            calls: Vec::new(),
            id: "c1".into(),
            messages: vec![turn(Role::User, "q")],
            conversation_id: "oc-x".into(),
        },
    );
    assert_eq!(
        update(&mut state, Msg::DeleteConversation("c2".into())),
        [Effect::DeleteConversation("c2".into())]
    );
    // Another conversation goes from the list only.
    assert_eq!(
        update(&mut state, Msg::ConversationDeleted("c2".into())),
        [Effect::RemoveHistoryItem("c2".into())]
    );
    assert_eq!(state.chat.messages().len(), 1);
    assert_eq!(
        update(&mut state, Msg::ConversationDeleted("c1".into())),
        [
            Effect::RemoveHistoryItem("c1".into()),
            Effect::ClearLog,
            Effect::ShowWelcome
        ]
    );
    assert!(state.chat.messages().is_empty());
    assert_eq!(state.server_conversation, None);
    assert_eq!(state.history.cached, Some(Vec::new()));
}

#[test]
fn conversation_lists_come_in_several_shapes() {
    let expected = Some(vec![
        Conversation {
            id: "a".into(),
            title: "First".into(),
        },
        Conversation {
            id: "7".into(),
            title: "Untitled".into(),
        },
    ]);
    for text in [
        r#"[{"id":"a","title":"First"},{"id":7,"title":" "}]"#,
        r#"{"conversations":[{"id":"a","title":"First"},{"id":7}]}"#,
        r#"{"data":[{"id":"a","title":"First"},{"id":7}]}"#,
    ] {
        let list = Json::parse(text).unwrap();
        assert_eq!(conversation_list(&list, "Untitled"), expected, "{text}");
    }
    let not_found = Json::parse(r#"{"error":{"message":"not found"}}"#).unwrap();
    assert_eq!(conversation_list(&not_found, "Untitled"), None);
}

#[test]
fn stored_messages_keep_user_and_assistant_turns_in_order() {
    let detail = Json::parse(
        r#"{"conversation":{"messages":[{"role":"system","content":"s"},{"role":"user","content":"q"},{"role":"assistant","content":"a"}]}}"#,
    )
    .unwrap();
    assert_eq!(
        conversation_messages(&detail),
        [turn(Role::User, "q"), turn(Role::Assistant, "a")]
    );
}

fn reasoning(answer: u32, text: &str, now_ms: u64) -> Msg {
    Msg::Reasoning {
        answer,
        text: text.into(),
        now_ms,
    }
}

fn thinking_shown(label: &str, live: bool, expanded: bool, answer: u32) -> Effect {
    Effect::ShowThinking {
        answer,
        label: label.into(),
        live,
        expanded,
    }
}

#[test]
fn reasoning_opens_a_live_thinking_block_with_a_timer() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    assert_eq!(
        update(&mut state, reasoning(answer, "Let me see. ", 10_000)),
        [
            Effect::BeginThinking(answer),
            thinking_shown("Thinking… 0 s", true, true, answer),
            Effect::StartThinkingTimer(answer),
            Effect::QueueReasoning {
                answer,
                text: "Let me see. ".into()
            },
        ]
    );
    // More reasoning only queues text: one block, one timer.
    assert_eq!(
        update(&mut state, reasoning(answer, "**Two** steps.", 11_000)),
        [Effect::QueueReasoning {
            answer,
            text: "**Two** steps.".into()
        }]
    );
    // Each tick redraws the timer and asks for the next one.
    assert_eq!(
        update(
            &mut state,
            Msg::ThinkingTick {
                answer,
                now_ms: 18_200
            }
        ),
        [
            thinking_shown("Thinking… 8 s", true, true, answer),
            Effect::StartThinkingTimer(answer),
        ]
    );
}

#[test]
fn the_answer_starting_collapses_the_block_and_stops_the_timer() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "Hmm.", 1_000));
    let effects = update(
        &mut state,
        Msg::Chunk {
            answer,
            text: "Because.".into(),
            now_ms: 13_000,
        },
    );
    assert_eq!(
        effects,
        [
            Effect::StopThinkingTimer,
            thinking_shown("Thought for 12 s", false, false, answer),
            Effect::QueueText {
                answer,
                text: "Because.".into()
            },
        ]
    );
    // A tick already on its way does nothing now.
    let tick = Msg::ThinkingTick {
        answer,
        now_ms: 14_000,
    };
    assert_eq!(update(&mut state, tick), []);
    // Later chunks and the end of the stream leave the block alone.
    assert_eq!(
        update(&mut state, chunk(answer, " More.")),
        [Effect::QueueText {
            answer,
            text: " More.".into()
        }]
    );
    let ended = update(&mut state, end(answer, Ok(())));
    assert!(
        !ended
            .iter()
            .any(|e| matches!(e, Effect::ShowThinking { .. } | Effect::StopThinkingTimer)),
        "{ended:?}"
    );
}

#[test]
fn the_summary_line_opens_and_closes_the_reasoning() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "Hmm.", 0));
    update(
        &mut state,
        Msg::Chunk {
            answer,
            text: "A.".into(),
            now_ms: 3_000,
        },
    );
    update(&mut state, end(answer, Ok(())));
    let toggle = || Msg::ToggleThinking {
        answer,
        now_ms: 60_000,
    };
    assert_eq!(
        update(&mut state, toggle()),
        [thinking_shown("Thought for 3 s", false, true, answer)]
    );
    assert_eq!(
        update(&mut state, toggle()),
        [thinking_shown("Thought for 3 s", false, false, answer)]
    );
    // An answer without reasoning has nothing to toggle.
    let plain = send(&mut state, "hi");
    update(&mut state, chunk(plain, "hello"));
    let toggle_plain = Msg::ToggleThinking {
        answer: plain,
        now_ms: 0,
    };
    assert_eq!(update(&mut state, toggle_plain), []);
}

#[test]
fn the_copy_button_copies_the_answer_without_its_reasoning() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "secret chain of thought", 0));
    update(&mut state, chunk(answer, "The answer."));
    update(&mut state, end(answer, Ok(())));
    assert_eq!(
        update(&mut state, Msg::CopyAnswer(answer)),
        [Effect::Copy {
            answer,
            text: "The answer.".into()
        }]
    );
}

#[test]
fn stopping_while_thinking_stops_the_timer_and_keeps_what_was_thought() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "Step one. ", 1_000));
    update(&mut state, reasoning(answer, "Step two.", 5_000));
    assert_eq!(update(&mut state, Msg::Stop), [Effect::Abort]);
    let effects = update(&mut state, end(answer, Ok(())));
    assert_eq!(
        effects[..2],
        [
            Effect::StopThinkingTimer,
            thinking_shown("Thought for 4 s", false, false, answer),
        ]
    );
    let message = state.chat.message(answer).unwrap();
    assert_eq!(
        message.thinking.as_ref().unwrap().text,
        "Step one. Step two."
    );
}

#[test]
fn a_failure_while_thinking_stops_the_timer() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "Step one.", 1_000));
    let effects = update(&mut state, end(answer, Err(Failure::Network)));
    assert_eq!(effects[0], Effect::StopThinkingTimer);
    assert!(effects.contains(&Effect::EndAnswer {
        answer,
        keep: false
    }));
}

#[test]
fn a_new_chat_while_thinking_stops_the_timer_and_ignores_the_old_streams_reasoning() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "Step one.", 1_000));
    let effects = update(
        &mut state,
        Msg::NewChat {
            conversation_id: "oc-2".into(),
            from_button: false,
        },
    );
    assert_eq!(effects[..2], [Effect::Abort, Effect::StopThinkingTimer]);
    let next = send(&mut state, "again");
    // The old stream's last reasoning and tick arrive late: nothing happens.
    assert_eq!(update(&mut state, reasoning(answer, "late", 2_000)), []);
    let tick = Msg::ThinkingTick {
        answer,
        now_ms: 2_000,
    };
    assert_eq!(update(&mut state, tick), []);
    assert!(state.chat.message(next).unwrap().thinking.is_none());
}

#[test]
fn a_loaded_conversation_shows_stored_reasoning_collapsed() {
    let mut state = widget();
    let effects = update(
        &mut state,
        Msg::ConversationLoaded {
            calls: Vec::new(),
            id: "c1".into(),
            messages: vec![
                turn(Role::User, "q"),
                StoredTurn {
                    role: Role::Assistant,
                    text: "a".into(),
                    reasoning: Some("I thought.".into()),
                },
            ],
            conversation_id: "oc-loaded".into(),
        },
    );
    let ids: Vec<u32> = state.chat.messages().iter().map(|m| m.id).collect();
    assert_eq!(
        effects[3..6],
        [
            Effect::ShowMessage(ids[0]),
            Effect::ShowMessage(ids[1]),
            thinking_shown("Thought process", false, false, ids[1]),
        ]
    );
}

#[test]
fn stored_messages_carry_their_reasoning() {
    let detail = Json::parse(
        r#"{"id":"c1","messages":[{"role":"user","content":"q"},{"role":"assistant","content":"a","reasoning":"r"}]}"#,
    )
    .unwrap();
    assert_eq!(
        conversation_messages(&detail)[1].reasoning.as_deref(),
        Some("r")
    );
}

#[test]
fn switching_the_language_relabels_finished_thinking_blocks() {
    let mut state = widget();
    let answer = send(&mut state, "why?");
    update(&mut state, reasoning(answer, "Hmm.", 0));
    update(
        &mut state,
        Msg::Chunk {
            answer,
            text: "A.".into(),
            now_ms: 2_000,
        },
    );
    update(&mut state, end(answer, Ok(())));
    let settings = Box::new(state.settings.clone());
    let effects = update(
        &mut state,
        Msg::Configure {
            settings,
            strings: Strings::new(Locale::ZhCn, HashMap::new()),
        },
    );
    assert_eq!(
        effects.last(),
        Some(&thinking_shown("已深度思考 2 秒", false, false, answer))
    );
}

// Tools the page registers, the calls the model makes, and the continuation.

fn with_tools() -> WidgetState {
    let mut state = widget();
    update(&mut state, Msg::HistoryProbed(Some(Vec::new())));
    let list = Json::parse(
        r#"[{"name":"leave_balance","description":"查询年假余额","parameters":{"type":"object","properties":{}}},
            {"name":"submit_leave","description":"提交请假申请：进入审批","confirm":true,
             "parameters":{"type":"object","required":["from"],"properties":{"from":{"type":"string"}}}}]"#,
    )
    .expect("tools JSON");
    update(&mut state, Msg::SetTools(ToolSpec::list_from(&list)));
    state
}

fn tool_call(answer: u32, id: &str, name: &str, arguments: &str) -> Msg {
    Msg::ToolCall {
        answer,
        id: id.into(),
        name: name.into(),
        arguments: arguments.into(),
        server: None,
    }
}

fn started(state: &mut WidgetState, answer: u32) {
    update(
        state,
        Msg::Started {
            answer,
            request_id: None,
            conversation: Some("c_1".into()),
        },
    );
}

fn requested(effects: &[Effect]) -> Option<u32> {
    effects.iter().find_map(|effect| match effect {
        Effect::Request { answer, .. } => Some(*answer),
        _ => None,
    })
}

#[test]
fn each_message_offers_the_tools_and_the_page_context() {
    let mut state = with_tools();
    update(
        &mut state,
        Msg::SetContext(Json::parse(r#"{"form":"leave"}"#).expect("JSON")),
    );
    send(&mut state, "查询年假余额");
    let body = body(&state);
    assert_eq!(
        body.get("message").and_then(Json::as_str),
        Some("查询年假余额")
    );
    let tools = body.get("tools").map(Json::to_string).unwrap_or_default();
    assert!(
        tools.starts_with(r#"[{"name":"leave_balance","description":"查询年假余额""#),
        "{tools}"
    );
    assert!(!tools.contains("confirm"), "{tools}");
    assert_eq!(
        body.get("context").map(Json::to_string).as_deref(),
        Some(r#"{"form":"leave"}"#)
    );
}

#[test]
fn a_call_without_confirmation_runs_and_its_result_continues_the_answer() {
    let mut state = with_tools();
    update(&mut state, Msg::SetContext("请假单".into()));
    let answer = send(&mut state, "查询年假余额");
    started(&mut state, answer);
    let effects = update(
        &mut state,
        tool_call(answer, "call_1", "leave_balance", "{}"),
    );
    let key = state.tools.calls()[0].key;
    assert_eq!(
        effects,
        [
            Effect::ShowToolCard(key),
            Effect::ScrollToBottom,
            Effect::RunTool {
                key,
                name: "leave_balance".into(),
                arguments: "{}".into()
            },
        ]
    );
    // The handler may answer before the stream is over: the continuation waits for the end.
    let effects = update(
        &mut state,
        Msg::ToolFinished {
            key,
            outcome: Ok(r#"{"days":5}"#.into()),
        },
    );
    assert_eq!(effects, [Effect::ShowToolCard(key)]);
    let effects = update(&mut state, end(answer, Ok(())));
    assert!(
        effects.contains(&Effect::EndAnswer {
            answer,
            keep: false
        }),
        "an answer that only called a tool leaves no empty bubble: {effects:?}"
    );
    assert!(!effects.contains(&Effect::SetStreaming(false)));
    let next = requested(&effects).expect("the continuation is requested");
    assert!(next > answer);
    let body = body(&state);
    // No context with the results (it went with the message).
    assert!(body.get("context").is_none());
    assert_eq!(
        body.to_string(),
        r#"{"tool_results":[{"id":"call_1","status":"ok","content":"{\"days\":5}"}],"conversation_id":"c_1","tools":[{"name":"leave_balance","description":"查询年假余额","parameters":{"type":"object","properties":{}}},{"name":"submit_leave","description":"提交请假申请：进入审批","parameters":{"type":"object","required":["from"],"properties":{"from":{"type":"string"}}}}]}"#
    );
    // The continuation's answer ends like any other; the next message is a message again.
    update(&mut state, chunk(next, "你还有 5 天年假"));
    let effects = update(&mut state, end(next, Ok(())));
    assert!(effects.contains(&Effect::SetStreaming(false)));
    send(&mut state, "谢谢");
    assert_eq!(body_message(&state), Some("谢谢".into()));
}

fn body_message(state: &WidgetState) -> Option<String> {
    let body = body(state);
    assert!(body.get("tool_results").is_none(), "{body}");
    body.get("message")
        .and_then(Json::as_str)
        .map(str::to_string)
}

#[test]
fn a_confirmed_call_runs_and_a_cancelled_one_is_declined() {
    let mut state = with_tools();
    let answer = send(&mut state, "提交请假申请");
    started(&mut state, answer);
    let effects = update(
        &mut state,
        tool_call(answer, "call_a", "submit_leave", r#"{"from":"2024-06-24"}"#),
    );
    let first = state.tools.calls()[0].key;
    assert!(effects.contains(&Effect::Announce(state.strings.get("tool_confirm_ask"))));
    assert!(!effects.iter().any(|e| matches!(e, Effect::RunTool { .. })));
    update(
        &mut state,
        tool_call(answer, "call_b", "submit_leave", r#"{"from":"2024-07-01"}"#),
    );
    let second = state.tools.calls()[1].key;
    update(&mut state, end(answer, Ok(())));
    // A message typed meanwhile waits for the calls.
    assert_eq!(update(&mut state, Msg::Send("别的".into())), []);
    let effects = update(
        &mut state,
        Msg::ToolDecision {
            key: first,
            confirmed: true,
        },
    );
    assert_eq!(
        effects,
        [
            Effect::ShowToolCard(first),
            Effect::RunTool {
                key: first,
                name: "submit_leave".into(),
                arguments: r#"{"from":"2024-06-24"}"#.into()
            }
        ]
    );
    let effects = update(
        &mut state,
        Msg::ToolDecision {
            key: second,
            confirmed: false,
        },
    );
    assert_eq!(requested(&effects), None, "the first call still runs");
    let effects = update(
        &mut state,
        Msg::ToolFinished {
            key: first,
            outcome: Err("OA 系统维护中".into()),
        },
    );
    assert!(requested(&effects).is_some());
    let results = body(&state).get("tool_results").map(Json::to_string);
    assert_eq!(
        results.as_deref(),
        Some(
            r#"[{"id":"call_a","status":"error","content":"OA 系统维护中"},{"id":"call_b","status":"declined","content":"The user declined."}]"#
        )
    );
}

#[test]
fn unknown_tools_and_invalid_arguments_are_answered_without_running_anything() {
    let mut state = with_tools();
    let answer = send(&mut state, "x");
    started(&mut state, answer);
    let effects = update(&mut state, tool_call(answer, "c1", "drop_tables", "{}"));
    assert!(!effects.iter().any(|e| matches!(e, Effect::RunTool { .. })));
    let effects = update(
        &mut state,
        tool_call(answer, "c2", "submit_leave", r#"{"from":3}"#),
    );
    assert!(!effects
        .iter()
        .any(|e| matches!(e, Effect::RunTool { .. } | Effect::Request { .. })));
    let effects = update(&mut state, end(answer, Ok(())));
    assert!(requested(&effects).is_some());
    assert_eq!(
        body(&state)
            .get("tool_results")
            .map(Json::to_string)
            .as_deref(),
        Some(
            r#"[{"id":"c1","status":"error","content":"Tool drop_tables is not available on this page."},{"id":"c2","status":"error","content":"Invalid arguments: $.from: expected string, got number"}]"#
        )
    );
}

#[test]
fn stop_while_a_call_waits_ends_it_and_sends_nothing() {
    let mut state = with_tools();
    let answer = send(&mut state, "提交请假申请");
    started(&mut state, answer);
    update(
        &mut state,
        tool_call(answer, "c1", "submit_leave", r#"{"from":"2024-06-24"}"#),
    );
    update(&mut state, tool_call(answer, "c2", "leave_balance", "{}"));
    update(&mut state, end(answer, Ok(())));
    let keys: Vec<u32> = state.tools.calls().iter().map(|c| c.key).collect();
    let effects = update(&mut state, Msg::Stop);
    assert_eq!(
        effects,
        [
            Effect::Abort,
            Effect::ShowToolCard(keys[0]),
            Effect::ShowToolCard(keys[1]),
            Effect::SetStreaming(false),
        ]
    );
    let phases: Vec<ToolPhase> = state.tools.calls().iter().map(|c| c.phase).collect();
    assert_eq!(phases, [ToolPhase::Declined, ToolPhase::Failed]);
    // The handler answering late sends nothing; the chat is free again.
    let late = update(
        &mut state,
        Msg::ToolFinished {
            key: keys[1],
            outcome: Ok("1".into()),
        },
    );
    assert_eq!(late, []);
    send(&mut state, "下一个问题");
    assert_eq!(body_message(&state), Some("下一个问题".into()));
}

#[test]
fn stop_during_the_stream_that_calls_tools_ends_with_the_button_back() {
    let mut state = with_tools();
    let answer = send(&mut state, "查询年假余额");
    update(&mut state, tool_call(answer, "c1", "leave_balance", "{}"));
    update(&mut state, Msg::Stop);
    let effects = update(&mut state, end(answer, Ok(())));
    assert!(
        effects.contains(&Effect::SetStreaming(false)),
        "{effects:?}"
    );
    assert_eq!(requested(&effects), None);
}

#[test]
fn a_failed_stream_or_a_new_chat_drops_the_calls() {
    let mut state = with_tools();
    let answer = send(&mut state, "查询年假余额");
    update(&mut state, tool_call(answer, "c1", "leave_balance", "{}"));
    let effects = update(&mut state, end(answer, Err(Failure::Network)));
    let key = state.tools.calls()[0].key;
    assert!(effects.contains(&Effect::ShowToolCard(key)));
    assert!(!state.tools.busy());
    let answer = send(&mut state, "查询年假余额");
    update(&mut state, tool_call(answer, "c2", "leave_balance", "{}"));
    update(
        &mut state,
        Msg::NewChat {
            conversation_id: "oc-2".into(),
            from_button: false,
        },
    );
    assert!(state.tools.calls().is_empty() && !state.tools.busy());
    // A call of the stream left behind does not reach the new chat.
    assert_eq!(
        update(&mut state, tool_call(answer, "c3", "leave_balance", "{}")),
        []
    );
}

#[test]
fn the_context_chip_shows_and_removing_it_stops_sending_the_context() {
    let mut state = with_tools();
    let effects = update(&mut state, Msg::SetContext("表单：请假申请".into()));
    assert_eq!(effects, [Effect::ShowContext(true)]);
    let effects = update(&mut state, Msg::RemoveContext);
    assert_eq!(effects, [Effect::ShowContext(false), Effect::FocusInput]);
    send(&mut state, "q");
    assert_eq!(body(&state).get("context"), None);
    let effects = update(&mut state, Msg::SetContext(Json::Null));
    assert_eq!(effects, [Effect::ShowContext(false)]);
}

#[test]
fn a_selection_is_offered_as_a_quote_once() {
    let mut state = widget();
    assert_eq!(
        update(&mut state, Msg::OfferQuote(Some("  ".into()))),
        [Effect::ShowQuoteOffer(false)]
    );
    update(
        &mut state,
        Msg::OfferQuote(Some("年假 3 天\n6/24–6/26".into())),
    );
    assert_eq!(
        update(&mut state, Msg::QuoteSelection),
        [
            Effect::ShowQuoteOffer(false),
            Effect::PrefillInput("> 年假 3 天\n> 6/24–6/26\n\n".into())
        ]
    );
    assert_eq!(update(&mut state, Msg::QuoteSelection), []);
}

#[test]
fn a_loaded_conversation_shows_its_tool_calls_where_they_happened() {
    let mut state = with_tools();
    let detail = Json::parse(
        r#"{"messages":[
            {"role":"user","content":"提交请假申请"},
            {"role":"assistant","content":"","tool_calls":[
                {"id":"c1","name":"submit_leave","arguments":"{\"from\":\"2024-06-24\"}"},
                {"id":"c2","name":"gone_tool","arguments":"{}"}]},
            {"role":"tool","tool_call_id":"c1","status":"declined","content":"The user declined."},
            {"role":"tool","tool_call_id":"c2","status":"error","content":"Tool gone_tool is not available on this page."},
            {"role":"assistant","content":"好的，已取消。"}]}"#,
    )
    .expect("JSON");
    let messages = conversation_messages(&detail);
    assert_eq!(
        messages.len(),
        2,
        "the answer that only called tools is no bubble"
    );
    let calls = conversation_calls(&detail);
    assert_eq!(calls.iter().map(|c| c.after).collect::<Vec<_>>(), [1, 1]);
    assert_eq!(calls[0].status.as_deref(), Some("declined"));
    let effects = update(
        &mut state,
        Msg::ConversationLoaded {
            id: "c_9".into(),
            messages,
            calls,
            conversation_id: "oc-9".into(),
        },
    );
    let shown: Vec<&Effect> = effects
        .iter()
        .filter(|e| matches!(e, Effect::ShowMessage(_) | Effect::ShowToolCard(_)))
        .collect();
    let [Effect::ShowMessage(_), Effect::ShowToolCard(first), Effect::ShowToolCard(second), Effect::ShowMessage(_)] =
        shown.as_slice()
    else {
        panic!("cards after the question, before the answer: {shown:?}");
    };
    let phase = |key: &u32| state.tools.call(*key).map(|c| (c.title.clone(), c.phase));
    assert_eq!(
        phase(first),
        Some(("提交请假申请".into(), ToolPhase::Declined))
    );
    assert_eq!(phase(second), Some(("gone_tool".into(), ToolPhase::Failed)));
    // Nothing about them runs again, and the chat is free.
    assert!(!state.tools.busy());
    send(&mut state, "再来");
}
