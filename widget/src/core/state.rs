//! The widget's one update loop: all of its state in [`WidgetState`], everything that can happen
//! to it as a [`Msg`], and [`update`], which changes the state and returns the [`Effect`]s the
//! shell (app.rs) must run: DOM changes through the view, requests, events for the host page.
//!
//! Pure: no DOM, no clock, no randomness. A new conversation id comes in with the message that
//! needs it, and network answers come back as messages, so every flow the end-to-end tests
//! drive (send, stream, stop, retry, errors, history, cards) is tested here natively.

use super::chat::{Chat, Role, StoredTurn};
use super::failure::Failure;
use super::i18n::Strings;
use super::json::Json;
use super::page_context::{bounded_context, quotable, quote_block};
use super::quota::{Level, Quota, QuotaWords, Span};
use super::settings::Settings;
use super::thinking::Phase;
use super::tools::{Phase as ToolPhase, StoredCall, ToolSpec, Tools};

/// Everything the widget knows. The DOM shows it; it never holds state of its own.
pub struct WidgetState {
    pub settings: Settings,
    pub strings: Strings,
    pub chat: Chat,
    pub open: bool,
    /// Sent as `oachat.conversation_id`, so the worker counts rounds per conversation.
    pub conversation: String,
    pub history: History,
    /// The worker's id for the current conversation (`x-oachat-conversation`), once known.
    pub server_conversation: Option<String>,
    /// Whether the stream running now already asked for a fresh token (it does so once).
    token_refreshed: bool,
    /// The page's tools and the calls of the answer being handled.
    pub tools: Tools,
    /// What the page says about itself, sent with each message (`context`).
    pub context: Option<Json>,
    /// The page's selected text, offered as a quote while the panel is open.
    pub quote: Option<String>,
    /// The user's own quota (`GET /v1/oachat/me`), as last read, and whether its menu shows.
    pub quota: QuotaView,
}

/// The quota menu's state: asked once the panel first opens, again after every answer.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct QuotaView {
    pub known: Option<Quota>,
    pub asked: bool,
    pub shown: bool,
}

/// Server-side conversations, as far as the widget knows them.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct History {
    /// Whether the worker keeps conversations (`GET /v1/oachat/conversations` answered a list).
    pub available: bool,
    /// The conversation list as last fetched, shown at once when the history opens.
    /// Kept in memory only: OA desks are shared, so titles are not left in localStorage.
    pub cached: Option<Vec<Conversation>>,
    pub shown: bool,
}

/// One entry of the history list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    pub id: String,
    pub title: String,
}

/// Everything that can happen to the widget: user actions, API calls, network answers.
#[derive(Debug, Clone)]
pub enum Msg {
    SetOpen(bool),
    Toggle,
    Send(String),
    /// The worker accepted the request for `answer`.
    Started {
        answer: u32,
        request_id: Option<String>,
        conversation: Option<String>,
    },
    /// More text for `answer`, received at `now_ms` (its first ends the thinking).
    Chunk {
        answer: u32,
        text: String,
        now_ms: u64,
    },
    /// More reasoning for `answer` (`delta.reasoning_content`), received at `now_ms`.
    Reasoning {
        answer: u32,
        text: String,
        now_ms: u64,
    },
    /// The thinking timer of `answer` fired: time to update "Thinking… N s".
    ThinkingTick {
        answer: u32,
        now_ms: u64,
    },
    /// The summary line of an answer's reasoning was clicked: open or close the block.
    ToggleThinking {
        answer: u32,
        now_ms: u64,
    },
    /// A card (`event: oachat.card`) inside `answer`.
    StreamCard {
        answer: u32,
        card: Json,
    },
    /// The stream for `answer` is over: finished, stopped (also `Ok`) or failed.
    StreamEnd {
        answer: u32,
        result: Result<(), Failure>,
    },
    Stop,
    /// Streams a new answer to the last question (the retry button and "regenerate").
    Retry,
    /// Forget the chat: `reset()` from the API, or the "new chat" button (`from_button`
    /// also closes the history and focuses the input).
    NewChat {
        conversation_id: String,
        from_button: bool,
    },
    /// New settings and words (`setConfig`, `setLocale`); boxed, as settings are large.
    Configure {
        settings: Box<Settings>,
        strings: Strings,
    },
    /// A card from the host page (`addCard`).
    AddCard {
        name: String,
        data: Json,
    },
    CopyAnswer(u32),
    Feedback {
        answer: u32,
        up: bool,
    },
    /// The answer to the first conversation list request: `None` when the worker keeps none.
    HistoryProbed(Option<Vec<Conversation>>),
    ToggleHistory,
    HistoryListed(Vec<Conversation>),
    OpenConversation(String),
    ConversationLoaded {
        id: String,
        messages: Vec<StoredTurn>,
        /// The page tools its answers called, shown again where they happened.
        calls: Vec<StoredCall>,
        conversation_id: String,
    },
    DeleteConversation(String),
    ConversationDeleted(String),
    /// The page's tools changed (`registerTool`, `unregisterTool`, `tools` in the config).
    SetTools(Vec<ToolSpec>),
    /// A tool call (`event: oachat.tool_call`) at the end of `answer`.
    ToolCall {
        answer: u32,
        id: String,
        name: String,
        arguments: String,
        /// A server tool's call (`server: true`): `Some(confirm)`.
        server: Option<bool>,
    },
    /// The page's `confirm(args)` function answered for call `key`.
    ToolConfirmNeeded {
        key: u32,
        needed: bool,
    },
    /// The user pressed 确认 (`confirmed`) or 取消 on call `key`'s card.
    ToolDecision {
        key: u32,
        confirmed: bool,
    },
    /// Call `key`'s handler answered: its result as JSON text, or its error message.
    ToolFinished {
        key: u32,
        outcome: Result<String, String>,
    },
    /// `OAChat.setContext(...)` (or the `data-context-selector` element): `Null` clears it.
    SetContext(Json),
    /// The user removed the "Using: this page" chip.
    RemoveContext,
    /// The text selected on the page when the panel opened (`None`: nothing selected).
    OfferQuote(Option<String>),
    /// The user took the offer: the input gets the selection as a quote.
    QuoteSelection,
    /// The answer to `GET /v1/oachat/me`: `None` when the worker has none for this user.
    QuotaLoaded(Option<Quota>),
    /// The quota button: open or close the menu.
    ToggleQuota,
}

/// What the shell does for the state: draw, ask the network, tell the host page.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    ShowPanel(bool),
    FocusInput,
    ClearInput,
    ShowStarters(bool),
    ClearLog,
    ShowWelcome,
    ApplySettings,
    RelabelActions,
    ScrollToBottom,
    Announce(String),
    /// The send button becomes "stop" while an answer streams, and back.
    SetStreaming(bool),
    /// Draws a finished message (user text, a stored answer, a notice) from `chat`.
    ShowMessage(u32),
    RemoveMessage(u32),
    RemoveNotices,
    /// Adds the empty answer streaming fills, and starts its request (once the history probe
    /// is answered: the request body depends on it).
    BeginAnswer(u32),
    /// Sends the request for `answer` (again), with a fresh token when `refresh_token`.
    Request {
        answer: u32,
        refresh_token: bool,
    },
    Abort,
    /// Queues streamed text for the next animation frame.
    QueueText {
        answer: u32,
        text: String,
    },
    /// Adds the (empty, open) reasoning block above the streaming `answer`.
    BeginThinking(u32),
    /// Queues streamed reasoning for the next animation frame.
    QueueReasoning {
        answer: u32,
        text: String,
    },
    /// Draws the state of an answer's reasoning block: its summary line, whether the model is
    /// still thinking (`live`) and whether the reasoning shows.
    ShowThinking {
        answer: u32,
        label: String,
        live: bool,
        expanded: bool,
    },
    /// Fires [`Msg::ThinkingTick`] for `answer` in a second (replacing any pending tick).
    StartThinkingTimer(u32),
    StopThinkingTimer,
    /// Renders the rest of the answer's text; `keep` false removes the (empty) answer.
    EndAnswer {
        answer: u32,
        keep: bool,
    },
    /// A card: inside the streaming `answer`, or on its own row.
    ShowCard {
        answer: Option<u32>,
        name: String,
        data: Json,
    },
    /// A failure notice from `chat`, with a retry button, counting down when waiting helps.
    ShowNotice {
        id: u32,
        failure: Failure,
        retry: bool,
        countdown_s: Option<u64>,
    },
    StopCountdown,
    Copy {
        answer: u32,
        text: String,
    },
    ShowFeedback {
        answer: u32,
        rating: Option<bool>,
    },
    PostFeedback {
        request_id: String,
        rating: i32,
    },
    ShowHistoryButton,
    /// Shows the list (`Some`) or hides it.
    ShowHistory(Option<Vec<Conversation>>),
    FetchHistory,
    FetchConversation(String),
    DeleteConversation(String),
    RemoveHistoryItem(String),
    /// Draws (or redraws) the card of tool call `key` from `tools`.
    ShowToolCard(u32),
    /// Asks the page's `confirm(args)` function about call `key`.
    AskConfirm {
        key: u32,
        name: String,
        arguments: String,
    },
    /// Runs the page's handler for call `key` (the arguments are checked JSON).
    RunTool {
        key: u32,
        name: String,
        arguments: String,
    },
    /// Shows or hides the "Using: this page" chip.
    ShowContext(bool),
    /// Shows or hides the "Quote selection" offer.
    ShowQuoteOffer(bool),
    /// Puts text in the input (a quote), the caret after it.
    PrefillInput(String),
    /// Asks the worker for the user's quota (answered by [`Msg::QuotaLoaded`]).
    FetchQuota,
    /// Shows the quota button (`true`) or hides button and menu.
    ShowQuotaButton(bool),
    /// Shows the menu with these lines, or hides it.
    ShowQuota(Option<Vec<String>>),
    /// The note above the input before and when a limit is reached; `None` removes it.
    ShowQuotaNote(Option<String>),
    Emit(Event),
}

/// Events for the host page (`OAChat.on(name, fn)` and `oachat:<name>` on window).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Open,
    Close,
    Message { role: &'static str, text: String },
    Card { name: String, data: Json },
    StreamStart,
    StreamEnd,
    Error { code: &'static str, message: String },
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Event::Open => "open",
            Event::Close => "close",
            Event::Message { .. } | Event::Card { .. } => "message",
            Event::StreamStart => "stream:start",
            Event::StreamEnd => "stream:end",
            Event::Error { .. } => "error",
        }
    }
}

/// Where a chat request goes and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub url: String,
    pub body: String,
}

impl WidgetState {
    pub fn new(settings: Settings, strings: Strings, conversation_id: String) -> WidgetState {
        WidgetState {
            settings,
            strings,
            chat: Chat::default(),
            open: false,
            conversation: conversation_id,
            history: History::default(),
            server_conversation: None,
            token_refreshed: false,
            tools: Tools::default(),
            quota: QuotaView::default(),
            context: None,
            quote: None,
        }
    }

    /// The request for the answer being streamed: only the new message to `/v1/oachat/chat`
    /// when the worker keeps the conversation, else the whole history to the OpenAI endpoint.
    pub fn chat_request(&self) -> ChatRequest {
        let settings = &self.settings;
        if self.history.available {
            // The results of the last answer's tool calls continue it; else the new message.
            let mut body = match &self.tools.sending {
                Some(results) => Json::object([("tool_results", results.clone())]),
                None => {
                    let message = self.chat.last_user_text().unwrap_or("");
                    Json::object([("message", message.into())])
                }
            };
            if let Some(id) = self.server_conversation.as_deref() {
                body.set("conversation_id", id.into());
            }
            if let Some(tools) = self.tools.wire() {
                body.set("tools", tools);
            }
            // The context goes with the user's message. A continuation may resend it, but the
            // worker would put it after the tool results, where the model (and mock-openai)
            // expects them last: the results alone continue the exchange.
            if let (Some(context), None) = (&self.context, &self.tools.sending) {
                body.set("context", context.clone());
            }
            return ChatRequest {
                url: settings.conversation_chat_url(),
                body: body.to_string(),
            };
        }
        let mut extension = Json::object([("conversation_id", self.conversation.as_str().into())]);
        if let Some(scenario) = &settings.scenario {
            extension.set("scenario", scenario.as_str().into());
        }
        let body = Json::object([
            ("model", settings.model.as_str().into()),
            ("stream", Json::Bool(true)),
            ("messages", self.chat.request_messages(None)),
            ("oachat", extension),
        ]);
        ChatRequest {
            url: settings.chat_url(),
            body: body.to_string(),
        }
    }

    /// The welcome text: the host page's, or the widget's own in the current language.
    pub fn welcome(&self) -> String {
        self.settings
            .welcome
            .clone()
            .unwrap_or_else(|| self.strings.get("welcome"))
    }
}

/// Applies `msg` to `state` and returns what the shell must do, in order.
pub fn update(state: &mut WidgetState, msg: Msg) -> Vec<Effect> {
    let mut effects = Vec::new();
    match msg {
        Msg::SetOpen(open) => set_open(state, open, &mut effects),
        Msg::Toggle => set_open(state, !state.open, &mut effects),
        Msg::Send(text) => {
            // Calls of the last answer still waiting (a confirmation, a handler) come first.
            if state.tools.busy() {
                return effects;
            }
            let Ok((user, answer)) = state.chat.begin_send(&text) else {
                return effects;
            };
            state.tools.sending = None;
            let text = state.chat.message(user).map(|m| m.text.clone());
            effects.extend([
                Effect::ClearInput,
                Effect::ShowStarters(false),
                Effect::StopCountdown,
                Effect::ShowMessage(user),
                Effect::Emit(Event::Message {
                    role: "user",
                    text: text.unwrap_or_default(),
                }),
                Effect::ScrollToBottom,
            ]);
            begin_answer(state, answer, &mut effects);
        }
        Msg::Started {
            answer,
            request_id,
            conversation,
        } => {
            // A stream the user walked away from (a new chat) must not name the new one.
            if state.chat.streaming_id() != Some(answer) {
                return effects;
            }
            if conversation.is_some() {
                state.server_conversation = conversation;
            }
            if let Some(request_id) = request_id {
                state.chat.set_request_id(answer, request_id);
            }
        }
        Msg::Chunk {
            answer,
            text,
            now_ms,
        } => {
            state.chat.append(answer, &text);
            // The answer starting ends the thinking: the block collapses to its summary.
            if let Some(thinking) = state.chat.thinking_mut(answer) {
                if thinking.conclude(now_ms) {
                    effects.push(Effect::StopThinkingTimer);
                    effects.push(show_thinking(state, answer, now_ms));
                }
            }
            effects.push(Effect::QueueText { answer, text });
        }
        Msg::Reasoning {
            answer,
            text,
            now_ms,
        } => {
            // Reasoning of a stream left behind by a new chat has no block to go to.
            if state.chat.streaming_id() != Some(answer) {
                return effects;
            }
            if state.chat.append_reasoning(answer, &text, now_ms) {
                effects.extend([
                    Effect::BeginThinking(answer),
                    show_thinking(state, answer, now_ms),
                    Effect::StartThinkingTimer(answer),
                ]);
            }
            effects.push(Effect::QueueReasoning { answer, text });
        }
        Msg::ThinkingTick { answer, now_ms } => {
            if is_thinking(state) && state.chat.streaming_id() == Some(answer) {
                effects.extend([
                    show_thinking(state, answer, now_ms),
                    Effect::StartThinkingTimer(answer),
                ]);
            }
        }
        Msg::ToggleThinking { answer, now_ms } => {
            if let Some(thinking) = state.chat.thinking_mut(answer) {
                thinking.toggle();
                effects.push(show_thinking(state, answer, now_ms));
            }
        }
        Msg::StreamCard { answer, card } => {
            let name = card
                .get("card")
                .and_then(Json::as_str)
                .unwrap_or("card")
                .to_string();
            let data = card.get("data").cloned().unwrap_or(Json::Null);
            effects.push(Effect::ShowCard {
                answer: Some(answer),
                name: name.clone(),
                data: data.clone(),
            });
            effects.push(Effect::Emit(Event::Card { name, data }));
        }
        Msg::StreamEnd { answer, result } => end_stream(state, answer, result, &mut effects),
        Msg::Stop => {
            effects.push(Effect::Abort);
            // Calls waiting for a confirmation or a handler end, and nothing more is sent.
            let changed = state.tools.stop("Stopped by the user.");
            effects.extend(changed.into_iter().map(Effect::ShowToolCard));
            if !state.chat.is_streaming() {
                effects.push(Effect::SetStreaming(false));
            }
        }
        Msg::Retry => {
            let last_answer = state
                .chat
                .messages()
                .iter()
                .rev()
                .find(|m| m.role == Role::Assistant)
                .map(|m| m.id);
            if state.tools.busy() {
                return effects;
            }
            let Some(answer) = state.chat.begin_regenerate() else {
                return effects;
            };
            state.tools.sending = None;
            // Everything after the last question goes: the old answer and any notices.
            effects.extend(last_answer.map(Effect::RemoveMessage));
            effects.push(Effect::RemoveNotices);
            begin_answer(state, answer, &mut effects);
        }
        Msg::NewChat {
            conversation_id,
            from_button,
        } => {
            effects.push(Effect::Abort);
            if is_thinking(state) {
                effects.push(Effect::StopThinkingTimer);
            }
            state.chat.reset();
            state.tools.stop("The chat was closed.");
            state.tools.clear();
            state.tools.sending = None;
            state.conversation = conversation_id;
            state.server_conversation = None;
            if from_button {
                state.history.shown = false;
                effects.push(Effect::ShowHistory(None));
            }
            effects.extend([Effect::ClearLog, Effect::ShowWelcome]);
            if from_button {
                effects.push(Effect::FocusInput);
            }
        }
        Msg::Configure { settings, strings } => {
            state.settings = *settings;
            state.strings = strings;
            effects.push(Effect::ApplySettings);
            // The words already on screen switch too: the welcome (while nothing was said
            // yet) and the labels of every answer's buttons.
            if state.chat.messages().is_empty() {
                effects.extend([Effect::ClearLog, Effect::ShowWelcome]);
            }
            effects.push(Effect::RelabelActions);
            // Finished thinking blocks say "Thought for" in the new language; a live one
            // switches at its next tick.
            let answered: Vec<u32> = state
                .chat
                .messages()
                .iter()
                .filter(|m| {
                    m.thinking
                        .as_ref()
                        .is_some_and(|t| t.phase() == Phase::Answered)
                })
                .map(|m| m.id)
                .collect();
            for answer in answered {
                effects.push(show_thinking(state, answer, 0));
            }
        }
        Msg::AddCard { name, data } => {
            set_open(state, true, &mut effects);
            effects.extend([
                Effect::ShowStarters(false),
                Effect::ShowCard {
                    answer: None,
                    name: name.clone(),
                    data: data.clone(),
                },
                Effect::ScrollToBottom,
                Effect::Emit(Event::Card { name, data }),
            ]);
        }
        Msg::CopyAnswer(answer) => {
            if let Some(message) = state.chat.message(answer) {
                effects.push(Effect::Copy {
                    answer,
                    text: message.text.clone(),
                });
            }
        }
        Msg::Feedback { answer, up } => {
            let Some(message) = state.chat.set_feedback(answer, up) else {
                return effects;
            };
            let rating = message.feedback;
            let request_id = message.request_id.clone();
            effects.push(Effect::ShowFeedback { answer, rating });
            if let Some(request_id) = request_id {
                let rating = match rating {
                    Some(true) => 1,
                    Some(false) => -1,
                    None => 0,
                };
                effects.push(Effect::PostFeedback { request_id, rating });
            }
        }
        Msg::QuotaLoaded(quota) => {
            state.quota.known = quota;
            effects.push(Effect::ShowQuotaButton(quota.is_some()));
            if quota.is_none() {
                state.quota.shown = false;
            } else if state.quota.shown {
                effects.push(Effect::ShowQuota(Some(quota_lines(state))));
            }
            effects.push(Effect::ShowQuotaNote(quota_note(state)));
        }
        Msg::ToggleQuota => {
            state.quota.shown = !state.quota.shown && state.quota.known.is_some();
            if state.quota.shown {
                // What was last read shows at once; a fresh reading follows.
                effects.extend([
                    Effect::ShowQuota(Some(quota_lines(state))),
                    Effect::FetchQuota,
                ]);
            } else {
                effects.push(Effect::ShowQuota(None));
            }
        }
        Msg::HistoryProbed(list) => {
            if let Some(list) = list {
                state.history.available = true;
                state.history.cached = Some(list);
                effects.push(Effect::ShowHistoryButton);
            }
        }
        Msg::ToggleHistory => {
            if state.history.shown {
                state.history.shown = false;
                effects.push(Effect::ShowHistory(None));
            } else {
                // Show the list known from the probe or the last opening at once, then refresh it.
                state.history.shown = true;
                if let Some(cached) = &state.history.cached {
                    effects.push(Effect::ShowHistory(Some(cached.clone())));
                }
                effects.push(Effect::FetchHistory);
            }
        }
        Msg::HistoryListed(list) => {
            state.history.shown = true;
            state.history.cached = Some(list.clone());
            effects.push(Effect::ShowHistory(Some(list)));
        }
        Msg::OpenConversation(id) => {
            if !state.chat.is_streaming() {
                effects.push(Effect::FetchConversation(id));
            }
        }
        Msg::ConversationLoaded {
            id,
            messages,
            calls,
            conversation_id,
        } => {
            state.chat.load(messages);
            let cards = state.tools.load_stored(calls);
            state.server_conversation = Some(id);
            state.conversation = conversation_id;
            state.history.shown = false;
            effects.extend([
                Effect::ShowHistory(None),
                Effect::ClearLog,
                Effect::ShowStarters(false),
            ]);
            let cards_after = |shown: usize| {
                cards
                    .iter()
                    .filter(move |(after, _)| *after == shown)
                    .map(|(_, key)| Effect::ShowToolCard(*key))
            };
            effects.extend(cards_after(0));
            for (index, message) in state.chat.messages().iter().enumerate() {
                effects.push(Effect::ShowMessage(message.id));
                if message.thinking.is_some() {
                    effects.push(show_thinking(state, message.id, 0));
                }
                effects.extend(cards_after(index + 1));
            }
            effects.push(Effect::ScrollToBottom);
        }
        Msg::DeleteConversation(id) => effects.push(Effect::DeleteConversation(id)),
        Msg::ConversationDeleted(id) => {
            if let Some(cached) = &mut state.history.cached {
                cached.retain(|conversation| conversation.id != id);
            }
            // Deleting the conversation on screen starts a new one.
            let on_screen = state.server_conversation.as_deref() == Some(id.as_str());
            effects.push(Effect::RemoveHistoryItem(id));
            if on_screen {
                state.server_conversation = None;
                state.chat.reset();
                state.tools.stop("The chat was closed.");
                state.tools.clear();
                effects.extend([Effect::ClearLog, Effect::ShowWelcome]);
            }
        }
        Msg::SetTools(list) => state.tools.registry = list,
        Msg::ToolCall {
            answer,
            id,
            name,
            arguments,
            server,
        } => {
            // Calls of a stream left behind (a new chat, a stop) are not this chat's.
            if state.chat.streaming_id() != Some(answer) {
                return effects;
            }
            let received = match server {
                Some(confirm) => state
                    .tools
                    .receive_server(answer, &id, &name, &arguments, confirm),
                None => state.tools.receive(answer, &id, &name, &arguments),
            };
            let Some(key) = received else {
                return effects;
            };
            effects.extend([Effect::ShowToolCard(key), Effect::ScrollToBottom]);
            next_tool_step(state, key, &mut effects);
        }
        Msg::ToolConfirmNeeded { key, needed } => {
            if state.tools.confirm_needed(key, needed).is_some() {
                effects.push(Effect::ShowToolCard(key));
                next_tool_step(state, key, &mut effects);
            }
        }
        Msg::ToolDecision { key, confirmed } => {
            if state.tools.decide(key, confirmed).is_some() {
                effects.push(Effect::ShowToolCard(key));
                next_tool_step(state, key, &mut effects);
            }
        }
        Msg::ToolFinished { key, outcome } => {
            if state.tools.finish(key, outcome).is_some() {
                effects.push(Effect::ShowToolCard(key));
                next_tool_step(state, key, &mut effects);
            }
        }
        Msg::SetContext(context) => {
            state.context = bounded_context(context);
            effects.push(Effect::ShowContext(state.context.is_some()));
        }
        Msg::RemoveContext => {
            state.context = None;
            effects.extend([Effect::ShowContext(false), Effect::FocusInput]);
        }
        Msg::OfferQuote(selection) => {
            state.quote = selection.as_deref().and_then(quotable);
            effects.push(Effect::ShowQuoteOffer(state.quote.is_some()));
        }
        Msg::QuoteSelection => {
            if let Some(text) = state.quote.take() {
                effects.extend([
                    Effect::ShowQuoteOffer(false),
                    Effect::PrefillInput(quote_block(&text)),
                ]);
            }
        }
    }
    effects
}

/// What call `key` needs next in its phase: the page's confirm function, the user (the card
/// already asks), its handler; once every call is answered, the continuation.
fn next_tool_step(state: &mut WidgetState, key: u32, effects: &mut Vec<Effect>) {
    let Some(call) = state.tools.call(key) else {
        return;
    };
    let (name, arguments) = (call.name.clone(), call.arguments.to_string());
    match call.phase {
        ToolPhase::Checking => effects.push(Effect::AskConfirm {
            key,
            name,
            arguments,
        }),
        ToolPhase::Confirm => effects.push(Effect::Announce(state.strings.get("tool_confirm_ask"))),
        // A server call's result is the worker's: it only waits for the continuation.
        ToolPhase::Running if call.server => continue_with_results(state, effects),
        ToolPhase::Running => effects.push(Effect::RunTool {
            key,
            name,
            arguments,
        }),
        ToolPhase::Done | ToolPhase::Failed | ToolPhase::Declined => {
            continue_with_results(state, effects)
        }
    }
}

/// Sends the tool results once every call of the answer has one and its stream is over:
/// the model's next answer streams below the cards.
fn continue_with_results(state: &mut WidgetState, effects: &mut Vec<Effect>) {
    if state.chat.is_streaming() || state.tools.take_continuation().is_none() {
        return;
    }
    if let Some(answer) = state.chat.begin_continuation() {
        // The worker asks the OA as this answer starts: the server calls' cards say done.
        for key in state.tools.server_calls_sent() {
            effects.push(Effect::ShowToolCard(key));
        }
        begin_answer(state, answer, effects);
    }
}

fn set_open(state: &mut WidgetState, open: bool, effects: &mut Vec<Effect>) {
    if state.open == open {
        return;
    }
    state.open = open;
    effects.push(Effect::ShowPanel(open));
    if open {
        effects.extend([Effect::ScrollToBottom, Effect::FocusInput]);
        // The quota is read when it can first be seen, not on every page view.
        if !state.quota.asked {
            state.quota.asked = true;
            effects.push(Effect::FetchQuota);
        }
    }
    effects.push(Effect::Emit(if open { Event::Open } else { Event::Close }));
}

/// Whether the answer streaming now is still thinking (its timer runs).
fn is_thinking(state: &WidgetState) -> bool {
    state
        .chat
        .streaming_id()
        .and_then(|answer| state.chat.message(answer))
        .and_then(|message| message.thinking.as_ref())
        .is_some_and(|thinking| thinking.phase() == Phase::Thinking)
}

/// The effect that draws answer `answer`'s thinking block as the state has it now.
fn show_thinking(state: &WidgetState, answer: u32, now_ms: u64) -> Effect {
    let thinking = state.chat.message(answer).and_then(|m| m.thinking.as_ref());
    Effect::ShowThinking {
        answer,
        label: thinking
            .map(|t| t.label(&state.strings, now_ms))
            .unwrap_or_default(),
        live: thinking.is_some_and(|t| t.phase() == Phase::Thinking),
        expanded: thinking.is_some_and(|t| t.expanded()),
    }
}

fn begin_answer(state: &mut WidgetState, answer: u32, effects: &mut Vec<Effect>) {
    state.token_refreshed = false;
    effects.extend([
        Effect::BeginAnswer(answer),
        Effect::SetStreaming(true),
        Effect::Announce(state.strings.get("thinking")),
        Effect::ScrollToBottom,
        Effect::Emit(Event::StreamStart),
        Effect::Request {
            answer,
            refresh_token: false,
        },
    ]);
}

fn end_stream(
    state: &mut WidgetState,
    answer: u32,
    result: Result<(), Failure>,
    effects: &mut Vec<Effect>,
) {
    // The end of a stream left behind by a new chat, while the next answer already streams:
    // that answer's view and button stay as they are.
    if state.chat.is_streaming() && state.chat.streaming_id() != Some(answer) {
        effects.push(Effect::Emit(Event::StreamEnd));
        return;
    }
    // The thinking timer never outlives its stream. A stream that ends while still thinking
    // (stopped, cut off) thought until its last reasoning.
    let concluded = state
        .chat
        .thinking_mut(answer)
        .is_some_and(|thinking| thinking.conclude_at_last_chunk());
    if concluded {
        effects.extend([Effect::StopThinkingTimer, show_thinking(state, answer, 0)]);
    }
    let failure = match result {
        // An expired token is fetched again silently and the request sent once more.
        Err(Failure::TokenExpired) if !state.token_refreshed => {
            state.token_refreshed = true;
            effects.push(Effect::Request {
                answer,
                refresh_token: true,
            });
            return;
        }
        Err(failure) => failure,
        Ok(()) => {
            state.chat.finish(answer);
            let text = state.chat.message(answer).map(|m| m.text.clone());
            let called_tools = state.tools.belongs_to(answer);
            effects.push(Effect::EndAnswer {
                answer,
                // An answer that only called tools leaves its cards, not an empty bubble.
                keep: text
                    .as_deref()
                    .is_some_and(|t| !(t.is_empty() && called_tools)),
            });
            if let Some(text) = text {
                effects.push(Effect::Emit(Event::Message {
                    role: "assistant",
                    text,
                }));
            }
            effects.extend([
                Effect::Announce(state.strings.get("answer_done")),
                Effect::Emit(Event::StreamEnd),
            ]);
            if called_tools && state.tools.busy() {
                // The stop button stays while calls wait; their results continue the answer.
                state.tools.stream_ended(answer);
                continue_with_results(state, effects);
            } else {
                effects.push(Effect::SetStreaming(false));
            }
            effects.extend([Effect::ScrollToBottom, Effect::FetchQuota]);
            return;
        }
    };
    // A stream that failed after calling tools: its calls cannot be answered any more.
    if state.tools.belongs_to(answer) {
        let changed = state.tools.stop("The answer was cut off.");
        effects.extend(changed.into_iter().map(Effect::ShowToolCard));
    }
    let countdown_s = failure.countdown_s();
    let message = state.strings.failure(&failure, countdown_s);
    // A partial answer stays, with the notice after it; an empty one gives way to the notice.
    let partial = state
        .chat
        .message(answer)
        .is_some_and(|m| !m.text.is_empty());
    let notice = state.chat.fail(answer, message.clone());
    effects.push(Effect::EndAnswer {
        answer,
        keep: partial,
    });
    effects.push(Effect::ShowNotice {
        id: notice,
        // Waiting helps a rate limit: the countdown says how long. A dropped network or a
        // provider outage may pass any moment: offer to try again.
        retry: matches!(failure, Failure::Network | Failure::UpstreamDown { .. }),
        countdown_s,
        failure: failure.clone(),
    });
    effects.extend([
        Effect::Emit(Event::Error {
            code: failure_code(&failure),
            message,
        }),
        Effect::Emit(Event::StreamEnd),
        Effect::SetStreaming(false),
        Effect::ScrollToBottom,
        Effect::FetchQuota,
    ]);
}

/// The quota menu's lines in the widget's words.
fn quota_lines(state: &WidgetState) -> Vec<String> {
    let Some(quota) = &state.quota.known else {
        return Vec::new();
    };
    let s = &state.strings;
    let words = [
        "quota_day_left",
        "quota_month_left",
        "quota_day_used",
        "quota_month_used",
        "quota_share_left",
        "quota_today",
        "quota_this_month",
    ]
    .map(|key| s.get(key));
    quota.lines(&QuotaWords {
        day_left: &words[0],
        month_left: &words[1],
        day_used: &words[2],
        month_used: &words[3],
        share_left: &words[4],
        today: &words[5],
        this_month: &words[6],
    })
}

/// The note before and when a limit is reached: near a limit, say so before the next
/// question fails half-way; at the limit, say when it comes back.
fn quota_note(state: &WidgetState) -> Option<String> {
    let key = match state.quota.known.as_ref()?.level() {
        Level::Plenty => return None,
        Level::Low(Span::Day) => "quota_low_day",
        Level::Low(Span::Month) => "quota_low_month",
        Level::Out(Span::Day) => "quota_out_day",
        Level::Out(Span::Month) => "quota_out_month",
    };
    Some(state.strings.get(key))
}

/// The `code` of an `error` event: the worker's error codes, plus the widget's own.
pub fn failure_code(failure: &Failure) -> &'static str {
    match failure {
        Failure::RateLimited { .. } => "rate_limit_exceeded",
        Failure::MaxRounds => "max_rounds_exceeded",
        Failure::MaxToolRounds => "max_tool_rounds_exceeded",
        Failure::Budget { .. } => "budget_exceeded",
        Failure::MonthlyBudget => "monthly_budget_exceeded",
        Failure::TokenExpired => "token_expired",
        Failure::Unauthorized => "unauthorized",
        Failure::Forbidden => "forbidden",
        Failure::Blocked => "user_blocked",
        Failure::Network => "network",
        Failure::UpstreamDown { .. } => "upstream_unavailable",
        Failure::Other { .. } => "error",
    }
}

/// The entries of a conversation list: a bare array, or one under `conversations`, `items` or
/// `data`; untitled ones get `untitled`. `None` when the answer is not a list at all (a worker
/// without server-side conversations).
pub fn conversation_list(list: &Json, untitled: &str) -> Option<Vec<Conversation>> {
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
                    .filter(|title| !title.trim().is_empty())
                    .unwrap_or(untitled)
                    .to_string();
                Some(Conversation { id, title })
            })
            .collect(),
    )
}

/// The user and assistant turns of a stored conversation (`messages` at the top or under
/// `conversation`), in order, each answer with its `reasoning` when the worker kept it. An
/// answer that only called tools has no turn (its calls show as cards).
pub fn conversation_messages(detail: &Json) -> Vec<StoredTurn> {
    stored_messages(detail)
        .iter()
        .filter_map(stored_turn)
        .collect()
}

/// The tool calls of a stored conversation, each after the turn it followed, with the result
/// its `tool` message holds.
pub fn conversation_calls(detail: &Json) -> Vec<StoredCall> {
    let messages = stored_messages(detail);
    let text = |value: Option<&Json>| match value {
        Some(Json::String(text)) => text.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut calls = Vec::new();
    let mut shown = 0;
    for message in messages {
        if stored_turn(message).is_some() {
            shown += 1;
        }
        let Some(Json::Array(made)) = message.get("tool_calls") else {
            continue;
        };
        for call in made {
            let id = text(call.get("id"));
            // OpenAI's shape nests name and arguments under `function`; the worker's does not.
            let function = call.get("function").unwrap_or(call);
            let result = messages.iter().find(|m| {
                m.get("role").and_then(Json::as_str) == Some("tool")
                    && m.get("tool_call_id").and_then(Json::as_str) == Some(id.as_str())
            });
            calls.push(StoredCall {
                after: shown,
                name: text(function.get("name")),
                arguments: text(function.get("arguments")),
                status: result.map(|r| {
                    r.get("status")
                        .and_then(Json::as_str)
                        .unwrap_or("ok")
                        .to_string()
                }),
                content: text(result.and_then(|r| r.get("content"))),
                id,
            });
        }
    }
    calls
}

fn stored_messages(detail: &Json) -> &[Json] {
    let messages = detail
        .get("messages")
        .or_else(|| detail.get("conversation").and_then(|c| c.get("messages")));
    match messages {
        Some(Json::Array(messages)) => messages,
        _ => &[],
    }
}

fn stored_turn(message: &Json) -> Option<StoredTurn> {
    let role = match message.get("role").and_then(Json::as_str)? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        _ => return None,
    };
    let text = message.get("content").and_then(Json::as_str)?;
    let called_tools =
        matches!(message.get("tool_calls"), Some(Json::Array(calls)) if !calls.is_empty());
    if text.is_empty() && called_tools {
        return None;
    }
    let reasoning = message
        .get("reasoning")
        .and_then(Json::as_str)
        .map(str::to_string);
    Some(StoredTurn {
        role,
        text: text.to_string(),
        reasoning,
    })
}

#[cfg(test)]
mod tests;
