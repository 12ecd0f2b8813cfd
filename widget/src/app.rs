//! The mounted widget, exported to the loader as `mount`: the thin shell around the pure update
//! loop in core/state.rs. It turns DOM events, API calls and network answers into [`Msg`]s,
//! and runs the [`Effect`]s `update` returns through the view (the only module that knows the
//! markup), the network and the host page's event bridge.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::{Rc, Weak};

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, spawn_local, JsFuture};
use web_sys::{AbortController, Element, KeyboardEvent, ShadowRoot};

use crate::core::cards;
use crate::core::chat::{Message, Role};
use crate::core::failure::Failure;
use crate::core::i18n::{Locale, Strings};
use crate::core::json::Json;
use crate::core::markdown::render_markdown;
use crate::core::quota::Quota;
use crate::core::settings::{Settings, Theme};
use crate::core::state::{self, Effect, Event, Msg, WidgetState};
use crate::core::tool_card::tool_card_html;
use crate::core::tools::{Phase as ToolPhase, ToolSpec};
use crate::dom::{self, AnimationFrame, Listener, Timeout};
use crate::net::{self, StreamEvent};
use crate::streaming_view::{Part, StreamingAnswer};
use crate::view::{self, Action, View};

/// How long the quota reading waits for the answer's settle (see `fetch_quota`).
const QUOTA_READ_DELAY_MS: i32 = 400;

/// How long a message waits for the history probe before it goes to the classic endpoint:
/// a worker answers the list in milliseconds, a hanging network must not hold the chat.
const HISTORY_PROBE_WAIT_MS: i32 = 3000;

/// The live "Thinking… N s" shows whole seconds: one tick a second is all it needs.
const THINKING_TICK_MS: i32 = 1000;

// src/panel.css without comments and indentation (build.rs).
const PANEL_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/panel.min.css"));

/// The handle the loader gets back from `mount`; every public method is part of `OAChat`.
#[wasm_bindgen]
pub struct Widget {
    app: Rc<App>,
}

/// The shell: the widget's state (behind the update loop) and the platform handles that run
/// its effects. Nothing here decides what the widget does.
struct App {
    bridge: JsValue,
    state: RefCell<WidgetState>,
    view: View,
    /// Messages that arrived while effects were running (a host page's event handler calling
    /// `send`): handled in order after them, so effects never interleave.
    queue: RefCell<VecDeque<Msg>>,
    dispatching: Cell<bool>,
    /// The first `GET /v1/oachat/conversations`, settled once its answer is in the state: a
    /// message sent before awaits it, so it goes to the right endpoint and conversation.
    history_probe: RefCell<Option<Promise>>,
    streaming: RefCell<Option<StreamingAnswer>>,
    /// Aborts the request of the answer it names.
    abort: RefCell<Option<(u32, AbortController)>>,
    countdown: RefCell<Option<Timeout>>,
    /// The next tick of "Thinking… N s": one pending timeout while an answer thinks.
    thinking_timer: RefCell<Option<Timeout>>,
    listeners: RefCell<Vec<Listener>>,
}

#[wasm_bindgen]
pub fn mount(shadow: ShadowRoot, config: JsValue, bridge: JsValue) -> Widget {
    let settings = settings_from(&config);
    let strings = strings_for(&settings);
    dom::adopt_css(&shadow, PANEL_CSS);
    let view = View::build(&shadow);
    let app = Rc::new(App {
        bridge,
        state: RefCell::new(WidgetState::new(settings, strings, new_conversation_id())),
        view,
        queue: RefCell::new(VecDeque::new()),
        dispatching: Cell::new(false),
        history_probe: RefCell::new(None),
        streaming: RefCell::new(None),
        abort: RefCell::new(None),
        countdown: RefCell::new(None),
        thinking_timer: RefCell::new(None),
        listeners: RefCell::new(Vec::new()),
    });
    app.apply_settings();
    app.show_welcome();
    App::listen(&app);
    // The widget is served by the worker it talks to, so the worker keeps conversations:
    // history is on unless the host page says `data-history="off"` (then the widget sends
    // the whole local history on each request instead).
    if !matches!(dom::prop_string(&config, "history").as_deref(), Some("off")) {
        App::probe_history(&app);
    }
    Widget { app }
}

#[wasm_bindgen]
impl Widget {
    pub fn open(&self) {
        App::dispatch(&self.app, Msg::SetOpen(true));
    }

    pub fn close(&self) {
        App::dispatch(&self.app, Msg::SetOpen(false));
    }

    pub fn toggle(&self) {
        App::dispatch(&self.app, Msg::Toggle);
    }

    #[wasm_bindgen(js_name = isOpen)]
    pub fn is_open(&self) -> bool {
        self.app.state.borrow().open
    }

    pub fn send(&self, text: String) {
        App::dispatch(&self.app, Msg::SetOpen(true));
        App::dispatch(&self.app, Msg::Send(text));
    }

    pub fn stop(&self) {
        App::dispatch(&self.app, Msg::Stop);
    }

    pub fn reset(&self) {
        let conversation_id = new_conversation_id();
        App::dispatch(
            &self.app,
            Msg::NewChat {
                conversation_id,
                from_button: false,
            },
        );
    }

    #[wasm_bindgen(js_name = setConfig)]
    pub fn set_config(&self, config: JsValue) {
        let settings = settings_from(&config);
        let strings = strings_for(&settings);
        let settings = Box::new(settings);
        App::dispatch(&self.app, Msg::Configure { settings, strings });
    }

    /// The page's tools changed: `[{name, description, parameters, confirm}]` from the loader.
    #[wasm_bindgen(js_name = setTools)]
    pub fn set_tools(&self, list: JsValue) {
        let list = ToolSpec::list_from(&json_value_of(&list));
        App::dispatch(&self.app, Msg::SetTools(list));
    }

    /// The page's context for the model (any JSON; `null` clears it).
    #[wasm_bindgen(js_name = setContext)]
    pub fn set_context(&self, context: JsValue) {
        App::dispatch(&self.app, Msg::SetContext(json_value_of(&context)));
    }

    /// Shows a card in the log, as if the assistant had sent it (host pages and tests).
    #[wasm_bindgen(js_name = addCard)]
    pub fn add_card(&self, name: String, data: JsValue) {
        let data = json_value_of(&data);
        App::dispatch(&self.app, Msg::AddCard { name, data });
    }

    pub fn destroy(&self) {
        App::dispatch(&self.app, Msg::Stop);
        self.app.listeners.borrow_mut().clear();
        self.app.countdown.borrow_mut().take();
        self.app.thinking_timer.borrow_mut().take();
        self.app.view.root.remove();
    }
}

impl App {
    /// Handles `msg` and runs its effects; a message that arrives meanwhile waits its turn.
    fn dispatch(app: &Rc<App>, msg: Msg) {
        app.queue.borrow_mut().push_back(msg);
        if app.dispatching.replace(true) {
            return;
        }
        loop {
            let Some(msg) = app.queue.borrow_mut().pop_front() else {
                break;
            };
            let effects = state::update(&mut app.state.borrow_mut(), msg);
            for effect in effects {
                App::run(app, effect);
            }
        }
        app.dispatching.set(false);
    }

    /// A message an effect produces: handled by the running dispatch loop right after the
    /// effects before it (effects only run inside that loop).
    fn enqueue(&self, msg: Msg) {
        self.queue.borrow_mut().push_back(msg);
    }

    fn listen(app: &Rc<App>) {
        let mut listeners = Vec::new();
        let weak = Rc::downgrade(app);
        listeners.push(Listener::new(&app.view.root, "click", {
            let weak = weak.clone();
            move |event| {
                let Some(app) = weak.upgrade() else { return };
                if let Some(action) = View::action_of(&event) {
                    App::on_action(&app, action);
                }
            }
        }));
        listeners.push(Listener::new(&app.view.input, "keydown", {
            let weak = weak.clone();
            move |event| {
                let Some(app) = weak.upgrade() else { return };
                let Some(key) = event.dyn_ref::<KeyboardEvent>() else {
                    return;
                };
                // Enter sends, Shift+Enter breaks the line, and Enter that confirms an IME
                // composition (Chinese, Japanese input) must never send half a sentence.
                if key.key() == "Enter"
                    && !key.shift_key()
                    && !key.is_composing()
                    && key.key_code() != 229
                {
                    event.prevent_default();
                    let text = app.view.input_text();
                    App::dispatch(&app, Msg::Send(text));
                }
            }
        }));
        listeners.push(Listener::new(&app.view.input, "input", {
            let weak = weak.clone();
            move |_| {
                if let Some(app) = weak.upgrade() {
                    app.view.autosize_input();
                }
            }
        }));
        listeners.push(Listener::new(&app.view.root, "keydown", {
            let weak = weak.clone();
            move |event| {
                let Some(app) = weak.upgrade() else { return };
                if event
                    .dyn_ref::<KeyboardEvent>()
                    .is_some_and(|k| k.key() == "Escape")
                {
                    App::dispatch(&app, Msg::SetOpen(false));
                }
            }
        }));
        if let Some(viewport) = dom::window().visual_viewport() {
            listeners.push(Listener::new(&viewport, "resize", {
                let weak = weak.clone();
                move |_| {
                    if let Some(app) = weak.upgrade() {
                        app.view.fit_visual_viewport();
                    }
                }
            }));
        }
        *app.listeners.borrow_mut() = listeners;
    }

    fn on_action(app: &Rc<App>, action: Action) {
        let msg = match action {
            Action::Send => Msg::Send(app.view.input_text()),
            Action::SendText(text) => Msg::Send(text),
            Action::Stop => Msg::Stop,
            Action::Close => Msg::SetOpen(false),
            Action::NewChat => Msg::NewChat {
                conversation_id: new_conversation_id(),
                from_button: true,
            },
            Action::CopyAnswer(answer) => Msg::CopyAnswer(answer),
            // Copying code changes no state: the view has the code, the clipboard takes it.
            Action::CopyCode { code, button } => {
                write_clipboard(&code);
                view::flash_label(&button, &app.state.borrow().strings.get("copied"));
                return;
            }
            Action::Regenerate => Msg::Retry,
            Action::ToggleHistory => Msg::ToggleHistory,
            Action::ToggleQuota => Msg::ToggleQuota,
            Action::OpenConversation(id) => Msg::OpenConversation(id),
            Action::DeleteConversation(id) => Msg::DeleteConversation(id),
            Action::Feedback { answer, up } => Msg::Feedback { answer, up },
            Action::ToggleThinking(answer) => Msg::ToggleThinking {
                answer,
                now_ms: now_ms(),
            },
            Action::ToolDecision { key, confirmed } => Msg::ToolDecision { key, confirmed },
            Action::RemoveContext => Msg::RemoveContext,
            Action::QuoteSelection => Msg::QuoteSelection,
        };
        App::dispatch(app, msg);
    }

    /// Runs one effect. Borrows of the state end before anything that may call the host page.
    fn run(app: &Rc<App>, effect: Effect) {
        let view = &app.view;
        match effect {
            Effect::ShowPanel(open) => {
                view.set_open(open);
                if open {
                    view.fit_visual_viewport();
                    // The text the user had selected on the page, to offer as a quote.
                    let selection = dom::call_method(&app.bridge, "takeSelection", &[])
                        .and_then(|text| text.as_string());
                    app.enqueue(Msg::OfferQuote(selection));
                }
            }
            Effect::FocusInput => view.focus_input(),
            Effect::ClearInput => view.clear_input(),
            Effect::ShowStarters(show) => view.show_starters(show),
            Effect::ClearLog => view.clear_log(),
            Effect::ShowWelcome => app.show_welcome(),
            Effect::ApplySettings => app.apply_settings(),
            Effect::RelabelActions => view.relabel_actions(&app.state.borrow().strings),
            Effect::ScrollToBottom => view.scroll_to_bottom(),
            Effect::Announce(text) => view.announce(&text),
            Effect::SetStreaming(streaming) => {
                view.set_streaming(streaming, &app.state.borrow().strings)
            }
            Effect::ShowMessage(id) => {
                let state = app.state.borrow();
                if let Some(message) = state.chat.message(id) {
                    let html =
                        (message.role == Role::Assistant).then(|| render_markdown(&message.text));
                    let row = view.append_message(message, html.as_deref(), &state.strings);
                    // A stored answer's reasoning, rendered whole (ShowThinking draws the rest).
                    if let Some(thinking) = &message.thinking {
                        if let Some(target) = View::add_thinking(&row, id) {
                            target
                                .committed
                                .set_inner_html(&render_markdown(&thinking.text));
                            let _ = target.tail.class_list().remove_1("oc-typing");
                        }
                    }
                }
            }
            Effect::RemoveMessage(id) => view.remove_message(id),
            Effect::RemoveNotices => view.remove_notices(),
            Effect::BeginAnswer(answer) => {
                let answer_view = match app.state.borrow().chat.message(answer) {
                    Some(message) => view.append_streaming_answer(message),
                    None => return,
                };
                *app.streaming.borrow_mut() = Some(StreamingAnswer::new(answer, answer_view));
            }
            Effect::Request {
                answer,
                refresh_token,
            } => {
                let weak = Rc::downgrade(app);
                spawn_local(async move {
                    let result = App::run_stream(&weak, answer, refresh_token).await;
                    if let Some(app) = weak.upgrade() {
                        App::dispatch(&app, Msg::StreamEnd { answer, result });
                    }
                });
            }
            Effect::Abort => {
                if let Some((_, controller)) = app.abort.borrow_mut().take() {
                    controller.abort();
                }
            }
            Effect::QueueText { answer, text } => App::queue_text(app, answer, Part::Answer, &text),
            Effect::BeginThinking(answer) => {
                if let Some(streaming) = app
                    .streaming
                    .borrow_mut()
                    .as_mut()
                    .filter(|a| a.id == answer)
                {
                    if let Some(target) = View::add_thinking(&streaming.view.row, answer) {
                        streaming.begin_reasoning(target);
                    }
                }
            }
            Effect::QueueReasoning { answer, text } => {
                App::queue_text(app, answer, Part::Reasoning, &text)
            }
            Effect::ShowThinking {
                answer,
                label,
                live,
                expanded,
            } => view.show_thinking(answer, &label, live, expanded),
            Effect::StartThinkingTimer(answer) => {
                let weak = Rc::downgrade(app);
                let tick = Timeout::new(THINKING_TICK_MS, move || {
                    if let Some(app) = weak.upgrade() {
                        let now_ms = now_ms();
                        App::dispatch(&app, Msg::ThinkingTick { answer, now_ms });
                    }
                });
                *app.thinking_timer.borrow_mut() = Some(tick);
            }
            Effect::StopThinkingTimer => {
                app.thinking_timer.borrow_mut().take();
            }
            Effect::EndAnswer { answer, keep } => app.end_answer(answer, keep),
            Effect::ShowCard { answer, name, data } => {
                let card = app.render_card(&name, &data);
                match answer {
                    Some(answer) => {
                        if let Some(streaming) =
                            app.streaming.borrow().as_ref().filter(|a| a.id == answer)
                        {
                            let _ = streaming.view.row.append_child(&card);
                        }
                    }
                    None => view.append_card(&card),
                }
            }
            Effect::ShowNotice {
                id,
                failure,
                retry,
                countdown_s,
            } => {
                let row = {
                    let state = app.state.borrow();
                    let Some(notice) = state.chat.message(id) else {
                        return;
                    };
                    let row = view.append_message(notice, None, &state.strings);
                    if retry {
                        view.add_retry(&row, &state.strings);
                    }
                    row
                };
                if let Some(seconds) = countdown_s {
                    App::count_down(app, row, failure, seconds);
                }
            }
            Effect::StopCountdown => {
                app.countdown.borrow_mut().take();
            }
            Effect::Copy { answer, text } => {
                write_clipboard(&text);
                view.flash_copied_answer(answer, &app.state.borrow().strings.get("copied"));
            }
            Effect::ShowFeedback { answer, rating } => view.show_feedback(answer, rating),
            Effect::PostFeedback { request_id, rating } => app.post_feedback(request_id, rating),
            Effect::ShowHistoryButton => view.show_history_button(),
            Effect::ShowHistory(list) => {
                view.show_history(list.as_deref(), &app.state.borrow().strings)
            }
            Effect::FetchHistory => App::fetch_history(app),
            Effect::FetchConversation(id) => App::fetch_conversation(app, id),
            Effect::DeleteConversation(id) => App::delete_conversation(app, id),
            Effect::RemoveHistoryItem(id) => view.remove_history_item(&id),
            Effect::ShowToolCard(key) => {
                let state = app.state.borrow();
                if let Some(call) = state.tools.call(key) {
                    let html = tool_card_html(call, &state.strings);
                    view.show_tool_card(key, &html, call.phase == ToolPhase::Confirm);
                }
            }
            Effect::AskConfirm {
                key,
                name,
                arguments,
            } => {
                let args = [JsValue::from_str(&name), JsValue::from_str(&arguments)];
                // A missing answer asks the user: a confirmation too many beats one too few.
                let needed = dom::call_method(&app.bridge, "confirmTool", &args)
                    .and_then(|answer| answer.as_bool())
                    .unwrap_or(true);
                app.enqueue(Msg::ToolConfirmNeeded { key, needed });
            }
            Effect::RunTool {
                key,
                name,
                arguments,
            } => App::run_tool(app, key, name, arguments),
            Effect::ShowContext(show) => view.show_context(show),
            Effect::ShowQuoteOffer(show) => view.show_quote_offer(show),
            Effect::PrefillInput(text) => view.prefill_input(&text),
            Effect::FetchQuota => App::fetch_quota(app),
            Effect::ShowQuotaButton(show) => view.show_quota_button(show),
            Effect::ShowQuota(lines) => view.show_quota(lines.as_deref()),
            Effect::ShowQuotaNote(note) => view.show_quota_note(note.as_deref()),
            Effect::Emit(event) => app.emit(event),
        }
    }

    /// Runs the page's handler through the loader (which applies the timeout) and reports
    /// its `{status, content}` back as a message.
    fn run_tool(app: &Rc<App>, key: u32, name: String, arguments: String) {
        let args = [JsValue::from_str(&name), JsValue::from_str(&arguments)];
        let promise = dom::call_method(&app.bridge, "runTool", &args)
            .and_then(|value| value.dyn_into::<Promise>().ok());
        let weak = Rc::downgrade(app);
        spawn_local(async move {
            let outcome = match promise {
                Some(promise) => match JsFuture::from(promise).await {
                    Ok(result) => {
                        let content = dom::prop_string(&result, "content").unwrap_or_default();
                        match dom::prop_string(&result, "status").as_deref() {
                            Some("ok") => Ok(content),
                            _ => Err(content),
                        }
                    }
                    Err(_) => Err("The tool failed.".to_string()),
                },
                None => Err("The tool could not be run.".to_string()),
            };
            if let Some(app) = weak.upgrade() {
                App::dispatch(&app, Msg::ToolFinished { key, outcome });
            }
        });
    }

    fn apply_settings(&self) {
        let state = self.state.borrow();
        let dark = match state.settings.theme {
            Theme::Dark => true,
            Theme::Light => false,
            Theme::Auto => dom::window()
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
                .is_some_and(|query| query.matches()),
        };
        self.view.apply(&state.settings, &state.strings, dark);
        self.view
            .set_streaming(state.chat.is_streaming(), &state.strings);
    }

    fn show_welcome(&self) {
        let state = self.state.borrow();
        let welcome = state.welcome();
        let html = render_markdown(&welcome);
        let message = Message {
            id: 0,
            role: Role::Assistant,
            text: welcome,
            done: true,
            feedback: None,
            request_id: None,
            thinking: None,
        };
        self.view.show_welcome(&message, &html, &state.strings);
    }

    async fn run_stream(weak: &Weak<App>, answer: u32, refresh_token: bool) -> Result<(), Failure> {
        // The request depends on the history probe's answer (which endpoint, which body), so
        // the first message waits for it, but not for ever: a hanging probe must not hold the
        // chat, which then goes to the classic endpoint.
        let probe = weak
            .upgrade()
            .and_then(|app| app.history_probe.borrow().clone());
        if let Some(probe) = probe {
            let waited = js_sys::Array::of2(&probe, &dom::delay(HISTORY_PROBE_WAIT_MS));
            let _ = JsFuture::from(Promise::race(&waited)).await;
        }
        let (request, bridge) = {
            let Some(app) = weak.upgrade() else {
                return Ok(());
            };
            let request = app.state.borrow().chat_request();
            (request, app.bridge.clone())
        };
        let token = get_token(&bridge, refresh_token).await;
        let controller = AbortController::new().map_err(|_| Failure::Network)?;
        let signal = controller.signal();
        if let Some(app) = weak.upgrade() {
            *app.abort.borrow_mut() = Some((answer, controller));
        }
        let weak_for_events = weak.clone();
        let mut on_event = move |event: StreamEvent| {
            let Some(app) = weak_for_events.upgrade() else {
                return;
            };
            let msg = match event {
                StreamEvent::Started {
                    request_id,
                    conversation,
                } => Msg::Started {
                    answer,
                    request_id,
                    conversation,
                },
                StreamEvent::Delta(text) => Msg::Chunk {
                    answer,
                    text,
                    now_ms: now_ms(),
                },
                StreamEvent::Reasoning(text) => Msg::Reasoning {
                    answer,
                    text,
                    now_ms: now_ms(),
                },
                StreamEvent::Card(json) => Msg::StreamCard {
                    answer,
                    card: Json::parse(&json).unwrap_or(Json::Null),
                },
                StreamEvent::ToolCall(json) => {
                    let call = Json::parse(&json).unwrap_or(Json::Null);
                    let text = |key: &str| match call.get(key) {
                        Some(Json::String(text)) => text.clone(),
                        Some(other) => other.to_string(),
                        None => String::new(),
                    };
                    Msg::ToolCall {
                        answer,
                        id: text("id"),
                        name: text("name"),
                        arguments: text("arguments"),
                        server: (call.get("server") == Some(&Json::Bool(true)))
                            .then(|| call.get("confirm") == Some(&Json::Bool(true))),
                    }
                }
            };
            App::dispatch(&app, msg);
        };
        let result = net::stream_chat(
            &request.url,
            token.as_deref(),
            &request.body,
            &signal,
            &mut on_event,
        )
        .await;
        if let Some(app) = weak.upgrade() {
            let mut abort = app.abort.borrow_mut();
            if abort.as_ref().is_some_and(|(owner, _)| *owner == answer) {
                abort.take();
            }
        }
        result
    }

    /// Queues streamed answer or reasoning text for the next animation frame.
    fn queue_text(app: &Rc<App>, answer: u32, part: Part, text: &str) {
        let mut streaming = app.streaming.borrow_mut();
        let Some(streaming) = streaming.as_mut().filter(|a| a.id == answer) else {
            return;
        };
        if streaming.queue(part, text) {
            let weak = Rc::downgrade(app);
            streaming.set_frame(AnimationFrame::new(move || {
                if let Some(app) = weak.upgrade() {
                    if let Some(streaming) = app.streaming.borrow_mut().as_mut() {
                        streaming.render_pending(&app.view);
                    }
                }
            }));
        }
    }

    /// Renders what is left of the streamed answer, then gives it its buttons (`keep`) or
    /// removes it (an empty answer that gave way to a notice).
    fn end_answer(&self, answer: u32, keep: bool) {
        let Some(mut streaming) = self
            .streaming
            .borrow_mut()
            .take_if(|streaming| streaming.id == answer)
        else {
            return;
        };
        streaming.render_rest(&self.view);
        let state = self.state.borrow();
        match state.chat.message(answer) {
            Some(message) if keep => {
                self.view
                    .finish_answer(&streaming.view, message, &state.strings)
            }
            _ => streaming.view.row.remove(),
        }
    }

    /// Updates a rate-limit or budget notice every second until the wait is over.
    fn count_down(app: &Rc<App>, row: Element, failure: Failure, seconds_left: u64) {
        let text = app
            .state
            .borrow()
            .strings
            .failure(&failure, Some(seconds_left));
        app.view.set_notice_text(&row, &text);
        if seconds_left == 0 {
            app.countdown.borrow_mut().take();
            return;
        }
        let weak = Rc::downgrade(app);
        let timeout = Timeout::new(1000, move || {
            if let Some(app) = weak.upgrade() {
                App::count_down(&app, row.clone(), failure.clone(), seconds_left - 1);
            }
        });
        *app.countdown.borrow_mut() = Some(timeout);
    }

    fn post_feedback(&self, request_id: String, rating: i32) {
        let url = format!(
            "{}/v1/oachat/feedback",
            self.state.borrow().settings.endpoint
        );
        let body = Json::object([
            ("request_id", request_id.into()),
            ("rating", Json::from(i64::from(rating))),
        ])
        .to_string();
        let bridge = self.bridge.clone();
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            // Feedback is best effort: a failure must not disturb the chat.
            let _ = net::request_json("POST", &url, token.as_deref(), Some(&body)).await;
        });
    }

    /// Asks the worker once whether it keeps conversations; only then the history button shows.
    /// A worker without the endpoint (404) leaves the widget exactly as it was.
    fn probe_history(app: &Rc<App>) {
        let weak = Rc::downgrade(app);
        let url = app.state.borrow().settings.conversations_url();
        let bridge = app.bridge.clone();
        // A promise rather than a plain spawned future: every message sent meanwhile can await
        // it (and a settled one answers at once).
        let probe = future_to_promise(async move {
            let list = fetch_conversation_list(&bridge, &url).await;
            if let Some(app) = weak.upgrade() {
                let list = list.and_then(|list| {
                    state::conversation_list(&list, &app.state.borrow().strings.get("untitled"))
                });
                App::dispatch(&app, Msg::HistoryProbed(list));
                // Settled: later messages need not wait (those waiting hold their own handle).
                app.history_probe.take();
            }
            Ok(JsValue::UNDEFINED)
        });
        app.history_probe.replace(Some(probe));
    }

    fn fetch_history(app: &Rc<App>) {
        let weak = Rc::downgrade(app);
        let url = app.state.borrow().settings.conversations_url();
        let bridge = app.bridge.clone();
        spawn_local(async move {
            let list = fetch_conversation_list(&bridge, &url).await;
            let Some(app) = weak.upgrade() else { return };
            let list = list
                .and_then(|list| {
                    state::conversation_list(&list, &app.state.borrow().strings.get("untitled"))
                })
                .unwrap_or_default();
            App::dispatch(&app, Msg::HistoryListed(list));
        });
    }

    /// Reads the user's quota; any failure (an older worker, a guest without one) is no quota.
    /// It waits a moment first: the worker settles an answer just after its stream ends, and
    /// a reading taken before that would still count the answer's whole reservation.
    fn fetch_quota(app: &Rc<App>) {
        let weak = Rc::downgrade(app);
        let url = app.state.borrow().settings.me_url();
        let bridge = app.bridge.clone();
        spawn_local(async move {
            let _ = JsFuture::from(dom::delay(QUOTA_READ_DELAY_MS)).await;
            let token = get_token(&bridge, false).await;
            let answer = net::request_json("GET", &url, token.as_deref(), None).await;
            let Some(app) = weak.upgrade() else { return };
            let quota = answer.ok().as_ref().and_then(Quota::parse);
            App::dispatch(&app, Msg::QuotaLoaded(quota));
        });
    }

    fn fetch_conversation(app: &Rc<App>, id: String) {
        let weak = Rc::downgrade(app);
        let url = app.conversation_url(&id);
        let bridge = app.bridge.clone();
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            let answer = net::request_json("GET", &url, token.as_deref(), None).await;
            let (Some(app), Ok(detail)) = (weak.upgrade(), answer) else {
                return;
            };
            let msg = Msg::ConversationLoaded {
                id,
                messages: state::conversation_messages(&detail),
                calls: state::conversation_calls(&detail),
                conversation_id: new_conversation_id(),
            };
            App::dispatch(&app, msg);
        });
    }

    fn delete_conversation(app: &Rc<App>, id: String) {
        let weak = Rc::downgrade(app);
        let url = app.conversation_url(&id);
        let bridge = app.bridge.clone();
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            let deleted = net::request_json("DELETE", &url, token.as_deref(), None).await;
            if let (Some(app), Ok(_)) = (weak.upgrade(), deleted) {
                App::dispatch(&app, Msg::ConversationDeleted(id));
            }
        });
    }

    /// `GET`/`DELETE` address of one stored conversation.
    fn conversation_url(&self, id: &str) -> String {
        let base = self.state.borrow().settings.conversations_url();
        format!("{base}/{}", encode_path(id))
    }

    /// A card element: a host render callback, a host template (slots escaped), or a built-in.
    /// Unknown names fall back to the generic `card` (title, body, actions).
    fn render_card(&self, name: &str, data: &Json) -> Element {
        let registered = dom::prop(&self.bridge, "cards").and_then(|cards| dom::prop(&cards, name));
        if let Some(definition) = &registered {
            if let Some(render) =
                dom::prop(definition, "render").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            {
                let card = View::card_element(name);
                // The host page's own code draws into its element; its errors stay its own.
                let _ = render.call2(definition, &js_value_of(data), &card);
                return card;
            }
        }
        let html = match registered
            .as_ref()
            .and_then(|definition| dom::prop_string(definition, "template"))
        {
            Some(template) => cards::template_card_html(name, &template, data),
            None => cards::built_in_card_html(name, data)
                .or_else(|| cards::built_in_card_html("card", data))
                .unwrap_or_default(),
        };
        View::card_from_html(&html)
    }

    /// Tells the host page (`OAChat.on`, and `oachat:<name>` on window).
    fn emit(&self, event: Event) {
        let detail = Object::new();
        let set = |key: &str, value: &JsValue| {
            let _ = Reflect::set(&detail, &key.into(), value);
        };
        match &event {
            Event::Open | Event::Close | Event::StreamStart | Event::StreamEnd => {}
            Event::Message { role, text } => {
                set("role", &(*role).into());
                set("text", &text.as_str().into());
            }
            Event::Card { name, data } => {
                set("role", &"card".into());
                set("card", &name.as_str().into());
                set("data", &js_value_of(data));
            }
            Event::Error { code, message } => {
                set("code", &(*code).into());
                set("message", &message.as_str().into());
            }
        }
        dom::call_method(
            &self.bridge,
            "emit",
            &[JsValue::from_str(event.name()), detail.into()],
        );
    }
}

/// A conversation list from the worker, `None` when it answers none (guests, old workers).
async fn fetch_conversation_list(bridge: &JsValue, url: &str) -> Option<Json> {
    let token = get_token(bridge, false).await;
    net::request_json("GET", url, token.as_deref(), None)
        .await
        .ok()
}

/// Asks the loader for a token (data-token, getToken callback or token URL).
async fn get_token(bridge: &JsValue, refresh: bool) -> Option<String> {
    let result = dom::call_method(bridge, "getToken", &[JsValue::from_bool(refresh)])?;
    let promise = result.dyn_into::<Promise>().ok()?;
    JsFuture::from(promise).await.ok()?.as_string()
}

fn settings_from(config: &JsValue) -> Settings {
    let mut settings = Settings::default();
    for key in [
        "title",
        "avatar",
        "welcome",
        "position",
        "theme",
        "locale",
        "endpoint",
        "model",
        "placeholder",
        "scenario",
    ] {
        if let Some(value) = dom::prop_string(config, key) {
            settings.apply(key, &value);
        }
    }
    if let Some(starters) = dom::prop(config, "starters") {
        if let Some(list) = starters.dyn_ref::<js_sys::Array>() {
            settings.starters = list.iter().filter_map(|v| v.as_string()).collect();
        } else if let Some(text) = starters.as_string() {
            settings.starters = text
                .split('|')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
        }
    }
    if let Some(strings) = dom::prop(config, "strings") {
        let mut overrides = HashMap::new();
        let strings_object: &Object = strings.unchecked_ref();
        for key in Object::keys(strings_object).iter() {
            if let (Some(key), Some(value)) = (
                key.as_string(),
                Reflect::get(&strings, &key)
                    .ok()
                    .and_then(|v| v.as_string()),
            ) {
                overrides.insert(key, value);
            }
        }
        settings.strings = overrides;
    }
    settings
}

fn strings_for(settings: &Settings) -> Strings {
    let navigator_language = dom::window().navigator().language();
    let locale = Locale::detect(settings.locale.as_deref(), navigator_language.as_deref());
    Strings::new(locale, settings.strings.clone())
}

/// The clock the core's timers read: milliseconds since the epoch (only differences matter).
fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A conversation id as one URL path segment.
fn encode_path(id: &str) -> String {
    js_sys::encode_uri_component(id).into()
}

/// A random id for a new conversation (not a secret: it only groups rounds). `crypto.randomUUID`
/// needs a secure context, which intranet pages on plain http are not, so `Math.random` it is.
fn new_conversation_id() -> String {
    let high = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    let low = (js_sys::Math::random() * 4_294_967_296.0) as u64;
    format!("oc-{:016x}", (high << 32) | low)
}

/// Card data from the host page, as JSON for the pure card module.
fn json_value_of(data: &JsValue) -> Json {
    js_sys::JSON::stringify(data)
        .ok()
        .and_then(|text| text.as_string())
        .and_then(|text| Json::parse(&text))
        .unwrap_or(Json::Null)
}

/// Card data as a JS value, for host render callbacks and event details.
fn js_value_of(data: &Json) -> JsValue {
    js_sys::JSON::parse(&data.to_string()).unwrap_or(JsValue::NULL)
}

fn write_clipboard(text: &str) {
    let clipboard = dom::window().navigator().clipboard();
    let _ = clipboard.write_text(text);
}
