//! The mounted widget: owns the chat state, the view and every listener, and wires
//! user actions and streamed events between them. Exported to the loader as `mount`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::{Rc, Weak};

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, Element, HtmlElement, KeyboardEvent, ShadowRoot};

use crate::core::cards;
use crate::core::chat::{Chat, Role};
use crate::core::failure::Failure;
use crate::core::i18n::{Locale, Strings};
use crate::core::json::Json;
use crate::core::markdown::render_markdown;
use crate::core::settings::{Settings, Theme};
use crate::core::streaming::{StreamingMarkdown, Update};
use crate::core::tail_update::{self, TailUpdate};
use crate::dom::{self, AnimationFrame, Listener, Timeout};
use crate::net::{self, StreamEvent};
use crate::view::{self, AnswerView, View};

// src/panel.css without comments and indentation (build.rs).
const PANEL_CSS: &str = include_str!(concat!(env!("OUT_DIR"), "/panel.min.css"));

/// The handle the loader gets back from `mount`; every public method is part of `OAChat`.
#[wasm_bindgen]
pub struct Widget {
    app: Rc<App>,
}

struct App {
    shadow: ShadowRoot,
    bridge: JsValue,
    settings: RefCell<Settings>,
    strings: RefCell<Strings>,
    chat: RefCell<Chat>,
    /// Sent as `oachat.conversation_id`, so the worker counts rounds per conversation.
    conversation: RefCell<String>,
    /// Whether the worker keeps conversations (`GET /v1/oachat/conversations` answered).
    server_history: Cell<bool>,
    /// True while the first `GET /v1/oachat/conversations` is in flight: a message sent in
    /// that moment waits for it, so it goes to the right endpoint and conversation.
    history_probing: Cell<bool>,
    /// The conversation list as last fetched, shown at once when the history opens.
    history_cache: RefCell<Option<Vec<(String, String)>>>,
    /// The worker's id for the current conversation (`x-oachat-conversation`), once known.
    server_conversation: RefCell<Option<String>>,
    view: View,
    open: Cell<bool>,
    streaming: RefCell<Option<StreamingAnswer>>,
    abort: RefCell<Option<AbortController>>,
    countdown: RefCell<Option<Timeout>>,
    listeners: RefCell<Vec<Listener>>,
}

/// The answer being streamed: its DOM, its incremental renderer, and the text waiting for the
/// next animation frame. Chunks only queue text; the frame renders it once and writes the DOM
/// once, however many chunks arrived since the last paint.
struct StreamingAnswer {
    id: u32,
    view: AnswerView,
    markdown: StreamingMarkdown,
    /// Text received since the last frame, not yet given to `markdown`.
    pending_text: String,
    /// The tail HTML the DOM shows now, to update it by appending text when that is all that
    /// changed (core/tail_update.rs).
    shown_tail: String,
    frame: Option<AnimationFrame>,
}

#[wasm_bindgen]
pub fn mount(shadow: ShadowRoot, config: JsValue, bridge: JsValue) -> Widget {
    let settings = settings_from(&config);
    let strings = strings_for(&settings);
    dom::adopt_css(&shadow, PANEL_CSS);
    let view = View::build(&shadow);
    let app = Rc::new(App {
        shadow,
        bridge,
        settings: RefCell::new(settings),
        strings: RefCell::new(strings),
        chat: RefCell::new(Chat::default()),
        conversation: RefCell::new(new_conversation_id()),
        server_history: Cell::new(false),
        history_probing: Cell::new(false),
        history_cache: RefCell::new(None),
        server_conversation: RefCell::new(None),
        view,
        open: Cell::new(false),
        streaming: RefCell::new(None),
        abort: RefCell::new(None),
        countdown: RefCell::new(None),
        listeners: RefCell::new(Vec::new()),
    });
    app.apply_settings();
    app.show_welcome();
    App::listen(&app);
    // The widget is served by the worker it talks to, so the worker keeps conversations:
    // history is on unless the host page says `data-history="off"` (then the widget sends
    // the whole local history on each request instead).
    if !matches!(dom::prop_string(&config, "history").as_deref(), Some("off")) {
        App::detect_history(&app);
    }
    Widget { app }
}

#[wasm_bindgen]
impl Widget {
    pub fn open(&self) {
        self.app.set_open(true);
    }

    pub fn close(&self) {
        self.app.set_open(false);
    }

    pub fn toggle(&self) {
        self.app.set_open(!self.app.open.get());
    }

    #[wasm_bindgen(js_name = isOpen)]
    pub fn is_open(&self) -> bool {
        self.app.open.get()
    }

    pub fn send(&self, text: String) {
        self.app.set_open(true);
        App::send(&self.app, &text);
    }

    pub fn stop(&self) {
        self.app.stop();
    }

    pub fn reset(&self) {
        self.app.stop();
        self.app.chat.borrow_mut().reset();
        self.app.conversation.replace(new_conversation_id());
        self.app.server_conversation.replace(None);
        self.app.view.clear_log();
        self.app.show_welcome();
    }

    #[wasm_bindgen(js_name = setConfig)]
    pub fn set_config(&self, config: JsValue) {
        *self.app.settings.borrow_mut() = settings_from(&config);
        *self.app.strings.borrow_mut() = strings_for(&self.app.settings.borrow());
        self.app.apply_settings();
        // Switch the words already on screen too: the welcome (while nothing was said yet)
        // and the labels of every answer's buttons.
        if self.app.chat.borrow().messages().is_empty() {
            self.app.view.clear_log();
            self.app.show_welcome();
        }
        self.app.view.relabel_actions(&self.app.strings.borrow());
    }

    /// Shows a card in the log, as if the assistant had sent it (host pages and tests).
    #[wasm_bindgen(js_name = addCard)]
    pub fn add_card(&self, name: String, data: JsValue) {
        self.app.set_open(true);
        self.app.view.show_starters(false);
        let card = self.app.render_card(&name, &data);
        let row = dom::el("div", "oc-msg");
        dom::attrs(&row, &[("data-role", "card")]);
        let _ = row.append_child(&card);
        let _ = self.app.view.log.append_child(&row);
        self.app.view.scroll_to_bottom();
        self.app.emit("message", &card_detail(&name, &data));
    }

    pub fn destroy(&self) {
        self.app.stop();
        self.app.listeners.borrow_mut().clear();
        self.app.countdown.borrow_mut().take();
        self.app.view.root.remove();
    }
}

impl App {
    fn listen(app: &Rc<App>) {
        let mut listeners = Vec::new();
        let weak = Rc::downgrade(app);
        listeners.push(Listener::new(&app.view.root, "click", {
            let weak = weak.clone();
            move |event| {
                if let Some(app) = weak.upgrade() {
                    App::on_click(&app, &event);
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
                    let text = app.view.input.value();
                    App::send(&app, &text);
                }
            }
        }));
        listeners.push(Listener::new(&app.view.input, "input", {
            let weak = weak.clone();
            move |_| {
                if let Some(app) = weak.upgrade() {
                    app.autosize_input();
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
                    app.set_open(false);
                }
            }
        }));
        // Phones: keep the panel exactly as tall as the visible viewport, so the on-screen
        // keyboard never covers the input (100dvh alone does not shrink for the keyboard).
        if let Some(viewport) = dom::window().visual_viewport() {
            listeners.push(Listener::new(&viewport, "resize", {
                let weak = weak.clone();
                move |_| {
                    if let Some(app) = weak.upgrade() {
                        app.fit_visual_viewport();
                    }
                }
            }));
        }
        *app.listeners.borrow_mut() = listeners;
    }

    fn on_click(app: &Rc<App>, event: &web_sys::Event) {
        let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else {
            return;
        };
        if let Ok(Some(copy)) = target.closest("[data-oc-copy]") {
            app.copy_code(&copy);
            return;
        }
        // Host card templates mark their buttons with `data-oc-send="text"`.
        if let Ok(Some(sender)) = target.closest("[data-oc-send]") {
            let text = sender.get_attribute("data-oc-send").unwrap_or_default();
            App::send(app, &text);
            return;
        }
        let Ok(Some(button)) = target.closest("[data-action]") else {
            return;
        };
        let id = button
            .get_attribute("data-id")
            .and_then(|id| id.parse::<u32>().ok());
        match button.get_attribute("data-action").as_deref() {
            Some("send") => {
                let text = app.view.input.value();
                App::send(app, &text);
            }
            Some("stop") => app.stop(),
            Some("close") => app.set_open(false),
            Some("new-chat") => {
                app.stop();
                app.chat.borrow_mut().reset();
                app.conversation.replace(new_conversation_id());
                app.server_conversation.replace(None);
                app.view.show_history(None, &app.strings.borrow());
                app.view.clear_log();
                app.show_welcome();
                app.focus_input();
            }
            Some("starter") => {
                let text = button.text_content().unwrap_or_default();
                App::send(app, &text);
            }
            Some("copy-answer") => {
                if let Some(text) =
                    id.and_then(|id| app.chat.borrow().message(id).map(|m| m.text.clone()))
                {
                    write_clipboard(&text);
                    flash_label(&button, &app.strings.borrow().get("copied"));
                }
            }
            Some("regenerate" | "retry") => App::regenerate(app),
            Some("history") => App::toggle_history(app),
            Some("history-open") => {
                if let Some(id) = button.get_attribute("data-conversation") {
                    App::open_conversation(app, id);
                }
            }
            Some("history-delete") => {
                if let Some(id) = button.get_attribute("data-conversation") {
                    App::delete_conversation(app, id, &button);
                }
            }
            Some("card-send") => {
                let text = button.get_attribute("data-text").unwrap_or_default();
                App::send(app, &text);
            }
            Some(action @ ("thumbs-up" | "thumbs-down")) => {
                if let Some(id) = id {
                    App::feedback(app, id, action == "thumbs-up", &button);
                }
            }
            _ => {}
        }
    }

    fn set_open(&self, open: bool) {
        if self.open.get() == open {
            return;
        }
        self.open.set(open);
        let launcher = self.shadow.query_selector(".oc-launcher").ok().flatten();
        if open {
            let _ = self.view.panel.remove_attribute("hidden");
            if let Some(launcher) = &launcher {
                let _ = launcher.set_attribute("aria-expanded", "true");
            }
            self.fit_visual_viewport();
            self.view.scroll_to_bottom();
            self.focus_input();
            self.emit("open", &JsValue::from(Object::new()));
        } else {
            let _ = self.view.panel.set_attribute("hidden", "");
            if let Some(launcher) = launcher {
                let _ = launcher.set_attribute("aria-expanded", "false");
                // Focus goes back where it came from.
                if let Some(launcher) = launcher.dyn_ref::<HtmlElement>() {
                    let _ = launcher.focus();
                }
            }
            self.emit("close", &JsValue::from(Object::new()));
        }
    }

    /// On touch devices autofocus would pop the keyboard over the page: only focus with a fine pointer.
    fn focus_input(&self) {
        let fine_pointer = dom::window()
            .match_media("(pointer: fine)")
            .ok()
            .flatten()
            .is_some_and(|query| query.matches());
        if fine_pointer {
            let _ = self.view.input.focus();
        }
    }

    fn fit_visual_viewport(&self) {
        let Some(viewport) = dom::window().visual_viewport() else {
            return;
        };
        let style = self.view.root.unchecked_ref::<HtmlElement>().style();
        // Whole pixels: formatting an f64 would pull Rust's float printer (~6 KiB gzip) into the wasm.
        let height = viewport.height().round() as i64;
        let _ = style.set_property("--oc-vvh", &format!("{height}px"));
    }

    fn autosize_input(&self) {
        let input: &HtmlElement = self.view.input.unchecked_ref();
        let style = input.style();
        let _ = style.set_property("height", "auto");
        let _ = style.set_property("height", &format!("{}px", input.scroll_height().min(140)));
    }

    fn apply_settings(&self) {
        let settings = self.settings.borrow();
        let dark = match settings.theme {
            Theme::Dark => true,
            Theme::Light => false,
            Theme::Auto => dom::window()
                .match_media("(prefers-color-scheme: dark)")
                .ok()
                .flatten()
                .is_some_and(|query| query.matches()),
        };
        let strings = self.strings.borrow();
        self.view.apply(&settings, &strings, dark);
        self.view
            .set_streaming(self.chat.borrow().is_streaming(), &strings);
    }

    fn show_welcome(&self) {
        let welcome = self
            .settings
            .borrow()
            .welcome
            .clone()
            .unwrap_or_else(|| self.strings.borrow().get("welcome"));
        let message = crate::core::chat::Message {
            id: 0,
            role: Role::Assistant,
            text: welcome.clone(),
            done: true,
            feedback: None,
            request_id: None,
        };
        let row = self.view.append_message(
            &message,
            Some(&render_markdown(&welcome)),
            &self.strings.borrow(),
        );
        // The welcome is not an answer: no copy/rate/regenerate buttons on it.
        if let Ok(Some(actions)) = row.query_selector(".oc-actions") {
            actions.remove();
        }
        self.view.show_starters(true);
    }

    fn send(app: &Rc<App>, text: &str) {
        let begun = app.chat.borrow_mut().begin_send(text);
        let Ok((user_id, answer_id)) = begun else {
            return;
        };
        app.view.input.set_value("");
        app.autosize_input();
        app.view.show_starters(false);
        app.countdown.borrow_mut().take();
        if let Some(user) = app.chat.borrow().message(user_id) {
            app.view.append_message(user, None, &app.strings.borrow());
            app.emit("message", &message_detail("user", &user.text));
        }
        app.view.scroll_to_bottom();
        App::stream_answer(app, answer_id);
    }

    fn regenerate(app: &Rc<App>) {
        let last_answer = app
            .chat
            .borrow()
            .messages()
            .iter()
            .rev()
            .find(|m| m.role == Role::Assistant)
            .map(|m| m.id);
        let Some(answer_id) = app.chat.borrow_mut().begin_regenerate() else {
            return;
        };
        // Everything after the last question goes: the old answer and any notices.
        let stale: Vec<u32> = last_answer.into_iter().collect();
        for id in stale {
            app.view.remove_message(id);
        }
        if let Ok(rows) = app.view.log.query_selector_all("[data-role=\"error\"]") {
            for index in 0..rows.length() {
                if let Some(row) = rows.item(index).and_then(|n| n.dyn_into::<Element>().ok()) {
                    row.remove();
                }
            }
        }
        App::stream_answer(app, answer_id);
    }

    fn stream_answer(app: &Rc<App>, answer_id: u32) {
        let answer_view = match app.chat.borrow().message(answer_id) {
            Some(message) => app.view.append_streaming_answer(message),
            None => return,
        };
        *app.streaming.borrow_mut() = Some(StreamingAnswer {
            id: answer_id,
            view: answer_view,
            markdown: StreamingMarkdown::new(),
            pending_text: String::new(),
            shown_tail: String::new(),
            frame: None,
        });
        app.view.set_streaming(true, &app.strings.borrow());
        app.view.announce(&app.strings.borrow().get("thinking"));
        app.view.scroll_to_bottom();
        app.emit("stream:start", &JsValue::from(Object::new()));

        let weak = Rc::downgrade(app);
        spawn_local(async move {
            let result = App::run_stream(&weak, answer_id).await;
            if let Some(app) = weak.upgrade() {
                App::end_stream(&app, answer_id, result);
            }
        });
    }

    async fn run_stream(weak: &Weak<App>, answer_id: u32) -> Result<(), Failure> {
        // Wait (briefly) for the history probe, so the first message already goes to the
        // server-side conversation rather than racing it.
        for _ in 0..100 {
            match weak.upgrade() {
                Some(app) if app.history_probing.get() => {}
                _ => break,
            }
            dom::sleep(30).await;
        }
        let mut refreshed = false;
        loop {
            let (url, body, bridge) = {
                let Some(app) = weak.upgrade() else {
                    return Ok(());
                };
                let settings = app.settings.borrow();
                if app.server_history.get() {
                    // The worker keeps the conversation: send only the new message.
                    let message = app.chat.borrow().last_user_text().unwrap_or("").to_string();
                    let mut body = Json::object([("message", message.into())]);
                    if let Some(id) = app.server_conversation.borrow().as_deref() {
                        body.set("conversation_id", id.into());
                    }
                    (
                        settings.conversation_chat_url(),
                        body.to_string(),
                        app.bridge.clone(),
                    )
                } else {
                    let mut extension = Json::object([(
                        "conversation_id",
                        app.conversation.borrow().as_str().into(),
                    )]);
                    if let Some(scenario) = &settings.scenario {
                        extension.set("scenario", scenario.as_str().into());
                    }
                    let body = Json::object([
                        ("model", settings.model.as_str().into()),
                        ("stream", Json::Bool(true)),
                        ("messages", app.chat.borrow().request_messages(None)),
                        ("oachat", extension),
                    ]);
                    (settings.chat_url(), body.to_string(), app.bridge.clone())
                }
            };
            let token = get_token(&bridge, refreshed).await;
            let controller = AbortController::new().map_err(|_| Failure::Network)?;
            let signal = controller.signal();
            if let Some(app) = weak.upgrade() {
                *app.abort.borrow_mut() = Some(controller);
            }
            let weak_for_events = weak.clone();
            let mut on_event = move |event: StreamEvent| {
                if let Some(app) = weak_for_events.upgrade() {
                    App::on_stream_event(&app, answer_id, event);
                }
            };
            let result =
                net::stream_chat(&url, token.as_deref(), &body, &signal, &mut on_event).await;
            match result {
                Err(Failure::TokenExpired) if !refreshed => refreshed = true,
                other => return other,
            }
        }
    }

    fn on_stream_event(app: &Rc<App>, answer_id: u32, event: StreamEvent) {
        match event {
            StreamEvent::Started {
                request_id,
                conversation,
            } => {
                if conversation.is_some() {
                    app.server_conversation.replace(conversation);
                }
                if let Some(request_id) = request_id {
                    app.chat.borrow_mut().set_request_id(answer_id, request_id);
                }
            }
            StreamEvent::Card(json) => {
                let data = js_sys::JSON::parse(&json).unwrap_or(JsValue::NULL);
                let name = dom::prop_string(&data, "card").unwrap_or_else(|| "card".into());
                let card_data = dom::prop(&data, "data").unwrap_or(JsValue::NULL);
                let card = app.render_card(&name, &card_data);
                if let Some(answer) = app
                    .streaming
                    .borrow()
                    .as_ref()
                    .filter(|a| a.id == answer_id)
                {
                    let _ = answer.view.row.append_child(&card);
                }
                app.emit("message", &card_detail(&name, &card_data));
            }
            StreamEvent::Delta(text) => {
                app.chat.borrow_mut().append(answer_id, &text);
                let mut streaming = app.streaming.borrow_mut();
                let Some(answer) = streaming.as_mut().filter(|a| a.id == answer_id) else {
                    return;
                };
                answer.pending_text.push_str(&text);
                if answer.frame.is_none() {
                    let weak = Rc::downgrade(app);
                    answer.frame = Some(AnimationFrame::new(move || {
                        if let Some(app) = weak.upgrade() {
                            app.flush();
                        }
                    }));
                }
            }
        }
    }

    /// Renders the text received since the last frame and writes it to the DOM: new settled
    /// blocks are appended, the tail updated. The scroll position follows the answer only if the
    /// user was already at the bottom.
    fn flush(&self) {
        let mut streaming = self.streaming.borrow_mut();
        let Some(answer) = streaming.as_mut() else {
            return;
        };
        answer.frame = None;
        if answer.pending_text.is_empty() {
            return;
        }
        let update = answer.markdown.push(&answer.pending_text);
        answer.pending_text.clear();
        drop(streaming);
        self.show_update(update);
    }

    /// Writes one renderer update to the streaming answer's DOM.
    fn show_update(&self, update: Update) {
        // Read before writing: after the writes this read would force a layout of its own.
        let follow = self.view.near_bottom();
        let mut streaming = self.streaming.borrow_mut();
        let Some(answer) = streaming.as_mut() else {
            return;
        };
        if !update.committed_html.is_empty() {
            let _ = answer
                .view
                .committed
                .insert_adjacent_html("beforeend", &update.committed_html);
        }
        let appended = match tail_update::plan(&answer.shown_tail, &update.tail_html) {
            TailUpdate::Unchanged => true,
            TailUpdate::AppendText { path, text } => {
                view::append_text_at(&answer.view.tail, &path, &text)
            }
            TailUpdate::Replace => false,
        };
        if !appended {
            answer.view.tail.set_inner_html(&update.tail_html);
        }
        answer.shown_tail = update.tail_html;
        drop(streaming);
        if follow {
            self.view.scroll_to_bottom();
        }
    }

    fn end_stream(app: &Rc<App>, answer_id: u32, result: Result<(), Failure>) {
        app.abort.borrow_mut().take();
        let last_update = app.streaming.borrow_mut().as_mut().map(|answer| {
            answer.frame = None;
            let mut update = answer.markdown.push(&answer.pending_text);
            answer.pending_text.clear();
            let last = answer.markdown.finish();
            update.committed_html.push_str(&last.committed_html);
            update.tail_html = last.tail_html;
            update
        });
        if let Some(update) = last_update {
            app.show_update(update);
        }
        let streaming = app.streaming.borrow_mut().take();
        let strings = app.strings.borrow().clone();
        match result {
            Ok(()) => {
                app.chat.borrow_mut().finish(answer_id);
                if let (Some(answer), Some(message)) =
                    (streaming, app.chat.borrow().message(answer_id))
                {
                    app.view.finish_answer(&answer.view, message, &strings);
                    app.emit("message", &message_detail("assistant", &message.text));
                }
                app.view.announce(&strings.get("answer_done"));
                app.emit("stream:end", &JsValue::from(Object::new()));
            }
            Err(failure) => {
                let countdown = failure.countdown_s();
                let notice_text = strings.failure(&failure, countdown);
                let partial = app
                    .chat
                    .borrow()
                    .message(answer_id)
                    .is_some_and(|m| !m.text.is_empty());
                let notice_id = app.chat.borrow_mut().fail(answer_id, notice_text);
                match (streaming, app.chat.borrow().message(answer_id)) {
                    (Some(answer), Some(message)) if partial => {
                        app.view.finish_answer(&answer.view, message, &strings)
                    }
                    (Some(answer), _) => answer.view.row.remove(),
                    _ => {}
                }
                if let Some(notice) = app.chat.borrow().message(notice_id) {
                    let row = app.view.append_message(notice, None, &strings);
                    // Waiting helps a rate limit: the countdown says how long. A dropped network
                    // or a provider outage may pass any moment: offer to try again.
                    if matches!(failure, Failure::Network | Failure::UpstreamDown { .. }) {
                        app.view.add_retry(&row, &strings);
                    }
                    if let Some(seconds) = countdown {
                        App::count_down(app, row, failure.clone(), seconds);
                    }
                }
                let detail = Object::new();
                let _ = Reflect::set(&detail, &"code".into(), &failure_code(&failure).into());
                let _ = Reflect::set(&detail, &"message".into(), &notice_text_of(app, notice_id));
                app.emit("error", &detail);
                app.emit("stream:end", &JsValue::from(Object::new()));
            }
        }
        app.view.set_streaming(false, &strings);
        app.view.scroll_to_bottom();
    }

    /// Updates a rate-limit or budget notice every second until the wait is over.
    fn count_down(app: &Rc<App>, row: Element, failure: Failure, seconds_left: u64) {
        let Ok(Some(bubble)) = row.query_selector(".oc-bubble") else {
            return;
        };
        let text = app.strings.borrow().failure(&failure, Some(seconds_left));
        bubble.set_text_content(Some(&text));
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

    fn stop(&self) {
        if let Some(controller) = self.abort.borrow_mut().take() {
            controller.abort();
        }
    }

    fn copy_code(&self, button: &Element) {
        let code = button
            .closest(".oc-code")
            .ok()
            .flatten()
            .and_then(|block| block.query_selector("code").ok().flatten())
            .and_then(|code| code.text_content());
        if let Some(code) = code {
            write_clipboard(&code);
            flash_label(button, &self.strings.borrow().get("copied"));
        }
    }

    fn feedback(app: &Rc<App>, id: u32, up: bool, button: &Element) {
        let (rating, request_id) = {
            let mut chat = app.chat.borrow_mut();
            let Some(message) = chat.set_feedback(id, up) else {
                return;
            };
            (message.feedback, message.request_id.clone())
        };
        if let Some(bar) = button.parent_element() {
            for (action, value) in [("thumbs-up", true), ("thumbs-down", false)] {
                if let Ok(Some(other)) = bar.query_selector(&format!("[data-action=\"{action}\"]"))
                {
                    let pressed = rating == Some(value);
                    let _ =
                        other.set_attribute("aria-pressed", if pressed { "true" } else { "false" });
                }
            }
        }
        let Some(request_id) = request_id else { return };
        let url = format!("{}/v1/oachat/feedback", app.settings.borrow().endpoint);
        let rating = rating.map(|up| if up { 1 } else { -1 }).unwrap_or(0);
        let body = Json::object([
            ("request_id", request_id.into()),
            ("rating", Json::from(rating)),
        ])
        .to_string();
        let bridge = app.bridge.clone();
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            // Feedback is best effort: a failure must not disturb the chat.
            let _ = net::request_json("POST", &url, token.as_deref(), Some(&body)).await;
        });
    }

    /// Asks the worker once whether it keeps conversations; only then the history button shows.
    /// A worker without the endpoint (404) leaves the widget exactly as it was.
    fn detect_history(app: &Rc<App>) {
        let weak = Rc::downgrade(app);
        let url = app.settings.borrow().conversations_url();
        let bridge = app.bridge.clone();
        app.history_probing.set(true);
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            let answer = net::request_json("GET", &url, token.as_deref(), None).await;
            let Some(app) = weak.upgrade() else {
                return;
            };
            app.history_probing.set(false);
            let Ok(list) = answer else {
                return;
            };
            let items = conversation_items(&list, &app.strings.borrow());
            if let Some(items) = items {
                *app.history_cache.borrow_mut() = Some(items);
                app.server_history.set(true);
                let _ = app.view.history_button.remove_attribute("hidden");
            }
        });
    }

    fn toggle_history(app: &Rc<App>) {
        if app.view.history.has_attribute("hidden") {
            // Show the list known from the probe or the last opening at once, then refresh it.
            // Kept in memory only: OA desks are shared, so titles are not left in localStorage.
            if let Some(cached) = app.history_cache.borrow().as_ref() {
                app.view.show_history(Some(cached), &app.strings.borrow());
            }
            let weak = Rc::downgrade(app);
            let url = app.settings.borrow().conversations_url();
            let bridge = app.bridge.clone();
            spawn_local(async move {
                let token = get_token(&bridge, false).await;
                let answer = net::request_json("GET", &url, token.as_deref(), None).await;
                let Some(app) = weak.upgrade() else { return };
                let strings = app.strings.borrow();
                let items = answer
                    .ok()
                    .and_then(|list| conversation_items(&list, &strings))
                    .unwrap_or_default();
                app.view.show_history(Some(&items), &strings);
                *app.history_cache.borrow_mut() = Some(items);
            });
        } else {
            app.view.show_history(None, &app.strings.borrow());
        }
    }

    fn open_conversation(app: &Rc<App>, id: String) {
        if app.chat.borrow().is_streaming() {
            return;
        }
        let weak = Rc::downgrade(app);
        let url = conversation_url(app, &id);
        let bridge = app.bridge.clone();
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            let answer = net::request_json("GET", &url, token.as_deref(), None).await;
            let (Some(app), Ok(detail)) = (weak.upgrade(), answer) else {
                return;
            };
            let history = conversation_messages(&detail);
            app.chat.borrow_mut().load(history);
            app.server_conversation.replace(Some(id));
            app.conversation.replace(new_conversation_id());
            let strings = app.strings.borrow().clone();
            app.view.show_history(None, &strings);
            app.view.clear_log();
            app.view.show_starters(false);
            for message in app.chat.borrow().messages() {
                let html =
                    (message.role == Role::Assistant).then(|| render_markdown(&message.text));
                app.view.append_message(message, html.as_deref(), &strings);
            }
            app.view.scroll_to_bottom();
        });
    }

    fn delete_conversation(app: &Rc<App>, id: String, button: &Element) {
        let weak = Rc::downgrade(app);
        let url = conversation_url(app, &id);
        let bridge = app.bridge.clone();
        let item = button.closest(".oc-history-item").ok().flatten();
        spawn_local(async move {
            let token = get_token(&bridge, false).await;
            if net::request_json("DELETE", &url, token.as_deref(), None)
                .await
                .is_err()
            {
                return;
            }
            if let Some(item) = item {
                item.remove();
            }
            let Some(app) = weak.upgrade() else { return };
            // Deleting the conversation on screen starts a new one.
            if app.server_conversation.borrow().as_deref() == Some(id.as_str()) {
                app.server_conversation.replace(None);
                app.chat.borrow_mut().reset();
                app.view.clear_log();
                app.show_welcome();
            }
        });
    }

    /// A card element: a host render callback, a host template (slots escaped), or a built-in.
    /// Unknown names fall back to the generic `card` (title, body, actions).
    fn render_card(&self, name: &str, data: &JsValue) -> Element {
        let registered = dom::prop(&self.bridge, "cards").and_then(|cards| dom::prop(&cards, name));
        if let Some(definition) = &registered {
            if let Some(render) =
                dom::prop(definition, "render").and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            {
                let card = dom::el("div", "oc-card");
                dom::attrs(&card, &[("part", "card"), ("data-card", name)]);
                // The host page's own code draws into its element; its errors stay its own.
                let _ = render.call2(definition, data, &card);
                return card;
            }
        }
        let value = json_value_of(data);
        let html = match registered
            .as_ref()
            .and_then(|definition| dom::prop_string(definition, "template"))
        {
            Some(template) => cards::template_card_html(name, &template, &value),
            None => cards::built_in_card_html(name, &value)
                .or_else(|| cards::built_in_card_html("card", &value))
                .unwrap_or_default(),
        };
        let holder = dom::el("div", "");
        holder.set_inner_html(&html);
        holder
            .first_element_child()
            .unwrap_or_else(|| dom::el("div", "oc-card"))
    }

    fn emit(&self, name: &str, detail: &JsValue) {
        dom::call_method(
            &self.bridge,
            "emit",
            &[JsValue::from_str(name), detail.clone()],
        );
    }
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

/// The (id, title) pairs of a conversation list: a bare array, or one under `conversations`,
/// `items` or `data`. `None` when the answer is not a list at all.
/// `GET`/`DELETE` address of one stored conversation.
fn conversation_url(app: &App, id: &str) -> String {
    format!(
        "{}/{}",
        app.settings.borrow().conversations_url(),
        encode_path(id)
    )
}

fn conversation_items(
    list: &Json,
    strings: &crate::core::i18n::Strings,
) -> Option<Vec<(String, String)>> {
    let items = match list {
        Json::Array(_) => list,
        _ => list
            .get("conversations")
            .or_else(|| list.get("items"))
            .or_else(|| list.get("data"))?,
    };
    let Json::Array(items) = items else {
        return None;
    };
    Some(
        items
            .iter()
            .filter_map(|item| {
                let id = match item.get("id")? {
                    Json::String(id) => id.clone(),
                    other => other.to_string(),
                };
                let title = item
                    .get("title")
                    .and_then(Json::as_str)
                    .filter(|t| !t.trim().is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| strings.get("untitled"));
                Some((id, title))
            })
            .collect(),
    )
}

/// The user and assistant turns of a stored conversation (`messages` at the top or under
/// `conversation`), in order.
fn conversation_messages(detail: &Json) -> Vec<(Role, String)> {
    let messages = detail
        .get("messages")
        .or_else(|| detail.get("conversation").and_then(|c| c.get("messages")));
    let Some(Json::Array(messages)) = messages else {
        return Vec::new();
    };
    messages
        .iter()
        .filter_map(|message| {
            let role = match message.get("role").and_then(Json::as_str)? {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                _ => return None,
            };
            let text = message.get("content").and_then(Json::as_str)?;
            Some((role, text.to_string()))
        })
        .collect()
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

/// Card data from the host page or the stream, as JSON for the pure card module.
fn json_value_of(data: &JsValue) -> Json {
    js_sys::JSON::stringify(data)
        .ok()
        .and_then(|text| text.as_string())
        .and_then(|text| Json::parse(&text))
        .unwrap_or(Json::Null)
}

fn card_detail(name: &str, data: &JsValue) -> JsValue {
    let detail = Object::new();
    let _ = Reflect::set(&detail, &"role".into(), &"card".into());
    let _ = Reflect::set(&detail, &"card".into(), &name.into());
    let _ = Reflect::set(&detail, &"data".into(), data);
    detail.into()
}

fn notice_text_of(app: &App, notice_id: u32) -> JsValue {
    app.chat
        .borrow()
        .message(notice_id)
        .map(|m| JsValue::from_str(&m.text))
        .unwrap_or(JsValue::UNDEFINED)
}

fn message_detail(role: &str, text: &str) -> JsValue {
    let detail = Object::new();
    let _ = Reflect::set(&detail, &"role".into(), &role.into());
    let _ = Reflect::set(&detail, &"text".into(), &text.into());
    detail.into()
}

fn failure_code(failure: &Failure) -> &'static str {
    match failure {
        Failure::RateLimited { .. } => "rate_limit_exceeded",
        Failure::MaxRounds => "max_rounds_exceeded",
        Failure::Budget { .. } => "budget_exceeded",
        Failure::TokenExpired => "token_expired",
        Failure::Unauthorized => "unauthorized",
        Failure::Forbidden => "forbidden",
        Failure::Network => "network",
        Failure::UpstreamDown { .. } => "upstream_unavailable",
        Failure::Other { .. } => "error",
    }
}

fn write_clipboard(text: &str) {
    let clipboard = dom::window().navigator().clipboard();
    let _ = clipboard.write_text(text);
}

/// Shows "Copied" on a button for a moment.
fn flash_label(button: &Element, label: &str) {
    let _ = button.set_attribute("data-flash", label);
    let previous = button.get_attribute("aria-label");
    let _ = button.set_attribute("aria-label", label);
    if button.class_name().contains("oc-copy") {
        let before = button.text_content().unwrap_or_default();
        button.set_text_content(Some(label));
        let button = button.clone();
        dom::after(1500, move || button.set_text_content(Some(&before)));
    } else if let Some(previous) = previous {
        let button = button.clone();
        dom::after(1500, move || {
            let _ = button.set_attribute("aria-label", &previous);
        });
    }
}
