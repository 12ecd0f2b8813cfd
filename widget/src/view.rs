//! The panel's DOM: built once, then updated in place. The only module that knows the markup:
//! it draws every element, and it reads clicks back as typed [`Action`]s.

use wasm_bindgen::JsCast;
use web_sys::{CharacterData, Element, Event, HtmlElement, HtmlTextAreaElement, Node, ShadowRoot};

use crate::core::chat::{Message, Role};
use crate::core::i18n::Strings;
use crate::core::settings::{Settings, Side};
use crate::core::state::Conversation;
use crate::core::tail_update::PathStep;
use crate::dom::{self, attrs, el};

const ICON_CLOSE: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M18.3 5.7 12 12l6.3 6.3-1.4 1.4L10.6 13.4 4.3 19.7 2.9 18.3 9.2 12 2.9 5.7 4.3 4.3l6.3 6.3 6.3-6.3z"/></svg>"#;
const ICON_HISTORY: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M13 3a9 9 0 0 0-9 9H1l4 4 4-4H6a7 7 0 1 1 2.1 5l-1.4 1.4A9 9 0 1 0 13 3zm-1 5v5l4.3 2.5.7-1.2-3.5-2.1V8z"/></svg>"#;
/// A gauge: the quota menu's button.
const ICON_QUOTA: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 4a10 10 0 0 0-8.7 15h17.4A10 10 0 0 0 12 4zm0 2a8 8 0 0 1 7.4 11H4.6A8 8 0 0 1 12 6zm4.2 2.4-5.1 5.2a1.5 1.5 0 1 0 1.3 1.3l5.2-5.1z"/></svg>"#;
const ICON_NEW: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M11 5h2v6h6v2h-6v6h-2v-6H5v-2h6z"/></svg>"#;
const ICON_COPY: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M8 3h11a2 2 0 0 1 2 2v11h-2V5H8zM5 7h10a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H5a2 2 0 0 1-2-2V9a2 2 0 0 1 2-2zm0 2v10h10V9z"/></svg>"#;
const ICON_REDO: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 5V2l4 4-4 4V7a5 5 0 1 0 5 5h2a7 7 0 1 1-7-7z"/></svg>"#;
const ICON_UP: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M2 21h4V9H2zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.4-1L13.2 1 6.6 7.6A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1a2 2 0 0 0 .2-.7z"/></svg>"#;
const ICON_DOWN: &str = r#"<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M22 3h-4v12h4zM2 14a2 2 0 0 0 2 2h6.3l-1 4.6v.3a1.5 1.5 0 0 0 .4 1l1.1 1.1 6.6-6.6A2 2 0 0 0 18 15V5a2 2 0 0 0-2-2H7a2 2 0 0 0-1.8 1.2l-3 7.1a2 2 0 0 0-.2.7z"/></svg>"#;

/// What a click in the panel asks for, read from the markup by [`View::action_of`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send,
    Stop,
    Close,
    NewChat,
    /// A starter chip, a card button or a host template's `data-oc-send`: send this text.
    SendText(String),
    CopyAnswer(u32),
    /// A code block's copy button: the code, and the button to flash "Copied" on.
    CopyCode {
        code: String,
        button: Element,
    },
    /// "Regenerate" under an answer and "retry" under a failure notice.
    Regenerate,
    ToggleHistory,
    ToggleQuota,
    OpenConversation(String),
    DeleteConversation(String),
    Feedback {
        answer: u32,
        up: bool,
    },
    /// The summary line of an answer's reasoning: open or close the block.
    ToggleThinking(u32),
    /// 确认 (`confirmed`) or 取消 on a tool call's card.
    ToolDecision {
        key: u32,
        confirmed: bool,
    },
    /// The × on the "Using: this page" chip.
    RemoveContext,
    /// "Quote selection": the page's selected text into the input.
    QuoteSelection,
}

pub struct View {
    shadow: ShadowRoot,
    pub root: Element,
    pub panel: Element,
    pub title: Element,
    pub avatar: Element,
    pub log: Element,
    pub starters: Element,
    pub input: HtmlTextAreaElement,
    pub send: Element,
    pub new_chat: Element,
    pub close: Element,
    /// Shown only when the worker offers server-side conversations.
    pub history_button: Element,
    pub history: Element,
    /// Shown once the worker answered the user's quota (`/v1/oachat/me`).
    pub quota_button: Element,
    /// The quota menu: what is left today and this month.
    pub quota: Element,
    /// The note above the input before and when a limit is reached.
    pub quota_note: Element,
    /// Screen-reader announcements ("answer complete") that must not repeat the whole log.
    pub status: Element,
    /// "Using: this page" and its ×, shown while the page context is sent.
    pub context: Element,
    /// "Quote selection", offered while the page has text selected.
    pub quote: Element,
}

/// The elements of one assistant answer that streaming updates touch.
pub struct AnswerView {
    pub row: Element,
    pub markdown: MarkdownTarget,
}

/// Where one streamed markdown text goes: settled blocks, then the tail still being typed.
#[derive(Clone)]
pub struct MarkdownTarget {
    pub committed: Element,
    pub tail: Element,
}

impl MarkdownTarget {
    /// A committed part and a typing tail inside `parent`.
    fn inside(parent: &Element) -> MarkdownTarget {
        let committed = el("div", "oc-committed");
        let tail = el("div", "oc-tail oc-typing");
        let _ = parent.append_child(&committed);
        let _ = parent.append_child(&tail);
        MarkdownTarget { committed, tail }
    }
}

impl View {
    pub fn build(shadow: &ShadowRoot) -> View {
        let root = el("div", "oc-root");
        let panel = el("div", "oc-panel");
        attrs(
            &panel,
            &[
                ("role", "dialog"),
                ("aria-modal", "false"),
                ("part", "panel"),
                ("hidden", ""),
            ],
        );

        let head = el("div", "oc-head");
        attrs(&head, &[("part", "header")]);
        let avatar = el("img", "oc-avatar");
        attrs(
            &avatar,
            &[
                ("alt", ""),
                ("hidden", ""),
                ("referrerpolicy", "no-referrer"),
            ],
        );
        let title = el("div", "oc-title");
        title.set_id("oc-title");
        let history_button = icon_button(ICON_HISTORY, "history");
        attrs(
            &history_button,
            &[("hidden", ""), ("aria-expanded", "false")],
        );
        let quota_button = icon_button(ICON_QUOTA, "quota");
        attrs(&quota_button, &[("hidden", ""), ("aria-expanded", "false")]);
        let new_chat = icon_button(ICON_NEW, "new-chat");
        let close = icon_button(ICON_CLOSE, "close");
        for child in [
            &avatar,
            &title,
            &quota_button,
            &history_button,
            &new_chat,
            &close,
        ] {
            let _ = head.append_child(child);
        }

        let log = el("div", "oc-log");
        attrs(
            &log,
            &[
                ("role", "log"),
                ("aria-live", "polite"),
                ("part", "log"),
                ("tabindex", "0"),
            ],
        );
        let history = el("div", "oc-history");
        attrs(
            &history,
            &[("hidden", ""), ("part", "history"), ("role", "list")],
        );
        let quota = el("div", "oc-quota");
        attrs(&quota, &[("hidden", ""), ("part", "quota")]);
        let quota_note = el("div", "oc-quota-note");
        attrs(
            &quota_note,
            &[("hidden", ""), ("part", "quota-note"), ("role", "note")],
        );
        let starters = el("div", "oc-starters");
        let status = el("div", "oc-sr");
        attrs(&status, &[("role", "status"), ("aria-live", "polite")]);
        // Above the input: the page context chip and the quote offer (labels set by `apply`).
        let extras = el("div", "oc-extras");
        let context = el("div", "oc-context");
        attrs(&context, &[("hidden", ""), ("part", "context")]);
        context.set_inner_html(
            "<span class=\"oc-context-label\"></span>\
             <button type=\"button\" class=\"oc-context-remove\" data-action=\"context-remove\">×</button>",
        );
        let quote = el("button", "oc-quote");
        attrs(
            &quote,
            &[
                ("type", "button"),
                ("hidden", ""),
                ("data-action", "quote"),
                ("part", "quote"),
            ],
        );
        let _ = extras.append_child(&quota_note);
        let _ = extras.append_child(&context);
        let _ = extras.append_child(&quote);

        let form = el("div", "oc-form");
        let input: HtmlTextAreaElement = el("textarea", "oc-input").unchecked_into();
        attrs(
            &input,
            &[("rows", "1"), ("part", "input"), ("enterkeyhint", "send")],
        );
        let send = el("button", "oc-send");
        attrs(
            &send,
            &[
                ("type", "button"),
                ("data-action", "send"),
                ("part", "send"),
            ],
        );
        let _ = form.append_child(&input);
        let _ = form.append_child(&send);

        for child in [
            &head, &quota, &history, &log, &starters, &extras, &status, &form,
        ] {
            let _ = panel.append_child(child);
        }
        let _ = root.append_child(&panel);
        let _ = shadow.append_child(&root);
        attrs(&panel, &[("aria-labelledby", "oc-title")]);

        View {
            shadow: shadow.clone(),
            root,
            panel,
            title,
            avatar,
            log,
            starters,
            input,
            send,
            new_chat,
            close,
            history_button,
            history,
            quota_button,
            quota,
            quota_note,
            status,
            context,
            quote,
        }
    }

    /// Applies settings and words: called at mount and on every setConfig/setLocale.
    pub fn apply(&self, settings: &Settings, strings: &Strings, dark: bool) {
        let title = settings
            .title
            .clone()
            .unwrap_or_else(|| strings.get("title"));
        self.title.set_text_content(Some(&title));
        match &settings.avatar {
            Some(url) => {
                attrs(&self.avatar, &[("src", url)]);
                let _ = self.avatar.remove_attribute("hidden");
            }
            None => attrs(&self.avatar, &[("hidden", "")]),
        }
        let side = match settings.side {
            Side::Left => "left",
            Side::Right => "right",
        };
        attrs(&self.panel, &[("data-side", side)]);
        attrs(
            &self.root,
            &[("data-theme", if dark { "dark" } else { "light" })],
        );
        attrs(&self.root, &[("lang", strings.locale().tag())]);
        let placeholder = settings
            .placeholder
            .clone()
            .unwrap_or_else(|| strings.get("placeholder"));
        self.input.set_placeholder(&placeholder);
        attrs(&self.input, &[("aria-label", &placeholder)]);
        attrs(
            &self.new_chat,
            &[
                ("aria-label", &strings.get("new_chat")),
                ("title", &strings.get("new_chat")),
            ],
        );
        attrs(
            &self.close,
            &[
                ("aria-label", &strings.get("close")),
                ("title", &strings.get("close")),
            ],
        );
        attrs(
            &self.history_button,
            &[
                ("aria-label", &strings.get("history")),
                ("title", &strings.get("history")),
            ],
        );
        attrs(
            &self.quota_button,
            &[
                ("aria-label", &strings.get("quota")),
                ("title", &strings.get("quota")),
            ],
        );

        if let Ok(Some(label)) = self.context.query_selector(".oc-context-label") {
            label.set_text_content(Some(&strings.get("context_chip")));
        }
        if let Ok(Some(remove)) = self.context.query_selector(".oc-context-remove") {
            let label = strings.get("context_remove");
            attrs(&remove, &[("aria-label", &label), ("title", &label)]);
        }
        self.quote
            .set_text_content(Some(&strings.get("quote_selection")));

        self.starters.set_inner_html("");
        for starter in &settings.starters {
            let chip = el("button", "oc-chip");
            attrs(
                &chip,
                &[
                    ("type", "button"),
                    ("data-action", "starter"),
                    ("part", "starter"),
                ],
            );
            chip.set_text_content(Some(starter));
            let _ = self.starters.append_child(&chip);
        }
    }

    pub fn set_streaming(&self, streaming: bool, strings: &Strings) {
        let label = strings.get(if streaming { "stop" } else { "send" });
        self.send.set_text_content(Some(&label));
        attrs(
            &self.send,
            &[
                ("data-action", if streaming { "stop" } else { "send" }),
                ("aria-label", &label),
            ],
        );
    }

    pub fn show_starters(&self, show: bool) {
        if show {
            let _ = self.starters.remove_attribute("hidden");
        } else {
            attrs(&self.starters, &[("hidden", "")]);
        }
    }

    pub fn announce(&self, text: &str) {
        self.status.set_text_content(Some(text));
    }

    pub fn clear_log(&self) {
        self.log.set_inner_html("");
    }

    /// Appends a finished message (user text, a stored answer, a notice).
    pub fn append_message(
        &self,
        message: &Message,
        html: Option<&str>,
        strings: &Strings,
    ) -> Element {
        let row = message_row(message);
        let bubble = el("div", "oc-bubble");
        attrs(
            &bubble,
            &[("part", &format!("bubble {}", message.role.as_str()))],
        );
        match (message.role, html) {
            (Role::Assistant, Some(html)) => {
                let markdown = el("div", "oc-md");
                markdown.set_inner_html(html);
                let _ = bubble.append_child(&markdown);
            }
            _ => bubble.set_text_content(Some(&message.text)),
        }
        let _ = row.append_child(&bubble);
        if message.role == Role::Assistant {
            let _ = row.append_child(&actions(message, strings));
        }
        let _ = self.log.append_child(&row);
        row
    }

    /// Appends an empty answer that streaming fills.
    pub fn append_streaming_answer(&self, message: &Message) -> AnswerView {
        let row = message_row(message);
        let bubble = el("div", "oc-bubble");
        attrs(
            &bubble,
            &[("part", "bubble assistant"), ("aria-busy", "true")],
        );
        let markdown = el("div", "oc-md");
        let target = MarkdownTarget::inside(&markdown);
        let _ = bubble.append_child(&markdown);
        let _ = row.append_child(&bubble);
        let _ = self.log.append_child(&row);
        AnswerView {
            row,
            markdown: target,
        }
    }

    /// Puts the reasoning block at the top of an answer's bubble: a summary line that is a real
    /// button (keyboard, `aria-expanded`), and the reasoning under it, rendered as markdown.
    /// Returns where the reasoning streams to; a stored answer fills `committed` at once.
    pub fn add_thinking(row: &Element, answer: u32) -> Option<MarkdownTarget> {
        let bubble = row.query_selector(".oc-bubble").ok().flatten()?;
        let block = el("div", "oc-think");
        attrs(&block, &[("part", "thinking")]);
        // One static template (the id is a number): far less wasm than an element at a time.
        // The label is `aria-live="off"`: the timer changes every second, and inside the
        // log's live region it would be read out each time.
        block.set_inner_html(&format!(
            "<button type=\"button\" class=\"oc-think-toggle\" data-action=\"thinking\" \
             data-id=\"{answer}\" aria-controls=\"oc-think-{answer}\" aria-expanded=\"false\">\
             <span class=\"oc-think-label\" aria-live=\"off\"></span></button>\
             <div class=\"oc-think-body oc-md\" id=\"oc-think-{answer}\" hidden>\
             <div class=\"oc-committed\"></div><div class=\"oc-tail oc-typing\"></div></div>"
        ));
        let part = |class: &str| block.query_selector(class).ok().flatten();
        let target = MarkdownTarget {
            committed: part(".oc-committed")?,
            tail: part(".oc-tail")?,
        };
        let _ = bubble.insert_before(&block, bubble.first_child().as_ref());
        Some(target)
    }

    /// Draws an answer's reasoning block as the state has it: the summary line, whether the
    /// model is still thinking, whether the reasoning shows.
    pub fn show_thinking(&self, answer: u32, label: &str, live: bool, expanded: bool) {
        let Ok(Some(block)) = self
            .log
            .query_selector(&format!(".oc-msg[data-id=\"{answer}\"] .oc-think"))
        else {
            return;
        };
        let part = |class: &str| block.query_selector(class).ok().flatten();
        if let Some(text) = part(".oc-think-label") {
            text.set_text_content(Some(label));
        }
        if live {
            attrs(&block, &[("data-live", "")]);
        } else {
            let _ = block.remove_attribute("data-live");
            if let Some(tail) = part(".oc-think-body .oc-typing") {
                let _ = tail.class_list().remove_1("oc-typing");
            }
        }
        if let Some(toggle) = part(".oc-think-toggle") {
            attrs(
                &toggle,
                &[("aria-expanded", if expanded { "true" } else { "false" })],
            );
        }
        if let Some(body) = part(".oc-think-body") {
            if expanded {
                let _ = body.remove_attribute("hidden");
            } else {
                attrs(&body, &[("hidden", "")]);
            }
        }
    }

    /// Marks a streamed answer finished and adds its action buttons.
    pub fn finish_answer(&self, answer: &AnswerView, message: &Message, strings: &Strings) {
        let _ = answer.markdown.tail.class_list().remove_1("oc-typing");
        if let Ok(Some(bubble)) = answer.row.query_selector(".oc-bubble") {
            let _ = bubble.remove_attribute("aria-busy");
        }
        let _ = answer.row.append_child(&actions(message, strings));
    }

    /// Shows or hides the history list, newest first.
    pub fn show_history(&self, items: Option<&[Conversation]>, strings: &Strings) {
        let Some(items) = items else {
            attrs(&self.history, &[("hidden", "")]);
            attrs(&self.history_button, &[("aria-expanded", "false")]);
            return;
        };
        self.history.set_inner_html("");
        if items.is_empty() {
            let empty = el("div", "oc-history-empty");
            empty.set_text_content(Some(&strings.get("history_empty")));
            let _ = self.history.append_child(&empty);
        }
        for Conversation { id, title } in items {
            let item = el("div", "oc-history-item");
            attrs(&item, &[("role", "listitem"), ("data-conversation", id)]);
            let open = el("button", "oc-history-open");
            attrs(
                &open,
                &[
                    ("type", "button"),
                    ("data-action", "history-open"),
                    ("data-conversation", id),
                ],
            );
            open.set_text_content(Some(title));
            let delete = el("button", "oc-history-delete");
            let label = strings.get("delete");
            attrs(
                &delete,
                &[
                    ("type", "button"),
                    ("data-action", "history-delete"),
                    ("data-conversation", id),
                    ("aria-label", &label),
                    ("title", &label),
                ],
            );
            delete.set_text_content(Some("×"));
            let _ = item.append_child(&open);
            let _ = item.append_child(&delete);
            let _ = self.history.append_child(&item);
        }
        let _ = self.history.remove_attribute("hidden");
        attrs(&self.history_button, &[("aria-expanded", "true")]);
    }

    /// A "retry" button under a failure notice.
    pub fn add_retry(&self, row: &Element, strings: &Strings) {
        let button = el("button", "oc-retry");
        attrs(
            &button,
            &[
                ("type", "button"),
                ("data-action", "retry"),
                ("part", "retry"),
            ],
        );
        button.set_text_content(Some(&strings.get("retry")));
        let _ = row.append_child(&button);
    }

    /// Puts the current language's labels on every answer's buttons (after `setLocale`).
    pub fn relabel_actions(&self, strings: &Strings) {
        for (action, key) in [
            ("copy-answer", "copy_answer"),
            ("regenerate", "regenerate"),
            ("thumbs-up", "thumbs_up"),
            ("thumbs-down", "thumbs_down"),
            ("retry", "retry"),
        ] {
            let label = strings.get(key);
            let Ok(buttons) = self
                .log
                .query_selector_all(&format!("[data-action=\"{action}\"]"))
            else {
                continue;
            };
            for index in 0..buttons.length() {
                if let Some(button) = buttons
                    .item(index)
                    .and_then(|n| n.dyn_into::<Element>().ok())
                {
                    if action == "retry" {
                        button.set_text_content(Some(&label));
                    } else {
                        attrs(&button, &[("aria-label", &label), ("title", &label)]);
                    }
                }
            }
        }
    }

    pub fn remove_message(&self, id: u32) {
        if let Ok(Some(row)) = self.log.query_selector(&format!("[data-id=\"{id}\"]")) {
            row.remove();
        }
    }

    /// The action a click asks for, from the element clicked or the nearest one around it
    /// that carries one; `None` for clicks on nothing actionable.
    pub fn action_of(event: &Event) -> Option<Action> {
        let target = event.target()?.dyn_into::<Element>().ok()?;
        let closest = |selector: &str| target.closest(selector).ok().flatten();
        if let Some(button) = closest("[data-oc-copy]") {
            let code = button
                .closest(".oc-code")
                .ok()
                .flatten()
                .and_then(|block| block.query_selector("code").ok().flatten())
                .and_then(|code| code.text_content())?;
            return Some(Action::CopyCode { code, button });
        }
        // Host card templates mark their buttons with `data-oc-send="text"`.
        if let Some(sender) = closest("[data-oc-send]") {
            let text = sender.get_attribute("data-oc-send").unwrap_or_default();
            return Some(Action::SendText(text));
        }
        let button = closest("[data-action]")?;
        let id = || button.get_attribute("data-id")?.parse::<u32>().ok();
        let conversation = || button.get_attribute("data-conversation");
        let action = match button.get_attribute("data-action")?.as_str() {
            "send" => Action::Send,
            "stop" => Action::Stop,
            "close" => Action::Close,
            "new-chat" => Action::NewChat,
            "starter" => Action::SendText(button.text_content().unwrap_or_default()),
            "card-send" => Action::SendText(button.get_attribute("data-text").unwrap_or_default()),
            "copy-answer" => Action::CopyAnswer(id()?),
            "regenerate" | "retry" => Action::Regenerate,
            "history" => Action::ToggleHistory,
            "quota" => Action::ToggleQuota,
            "history-open" => Action::OpenConversation(conversation()?),
            "history-delete" => Action::DeleteConversation(conversation()?),
            "thumbs-up" => Action::Feedback {
                answer: id()?,
                up: true,
            },
            "thumbs-down" => Action::Feedback {
                answer: id()?,
                up: false,
            },
            "thinking" => Action::ToggleThinking(id()?),
            "tool-confirm" | "tool-cancel" => Action::ToolDecision {
                key: button.get_attribute("data-key")?.parse().ok()?,
                confirmed: button.get_attribute("data-action")? == "tool-confirm",
            },
            "context-remove" => Action::RemoveContext,
            "quote" => Action::QuoteSelection,
            _ => return None,
        };
        Some(action)
    }

    /// Opens or closes the panel; the loader's bubble says so, and gets the focus back on close.
    pub fn set_open(&self, open: bool) {
        let launcher = self.shadow.query_selector(".oc-launcher").ok().flatten();
        if open {
            let _ = self.panel.remove_attribute("hidden");
        } else {
            attrs(&self.panel, &[("hidden", "")]);
        }
        if let Some(launcher) = launcher {
            attrs(
                &launcher,
                &[("aria-expanded", if open { "true" } else { "false" })],
            );
            if !open {
                if let Some(launcher) = launcher.dyn_ref::<HtmlElement>() {
                    let _ = launcher.focus();
                }
            }
        }
    }

    pub fn input_text(&self) -> String {
        self.input.value()
    }

    pub fn clear_input(&self) {
        self.input.set_value("");
        self.autosize_input();
    }

    /// On touch devices autofocus would pop the keyboard over the page: only focus with a fine pointer.
    pub fn focus_input(&self) {
        let fine_pointer = dom::window()
            .match_media("(pointer: fine)")
            .ok()
            .flatten()
            .is_some_and(|query| query.matches());
        if fine_pointer {
            let _ = self.input.focus();
        }
    }

    /// The input grows with its text, up to a limit, then scrolls.
    pub fn autosize_input(&self) {
        let input: &HtmlElement = self.input.unchecked_ref();
        let style = input.style();
        let _ = style.set_property("height", "auto");
        let _ = style.set_property("height", &format!("{}px", input.scroll_height().min(140)));
    }

    /// Phones: keep the panel exactly as tall as the visible viewport, so the on-screen
    /// keyboard never covers the input (100dvh alone does not shrink for the keyboard).
    pub fn fit_visual_viewport(&self) {
        let Some(viewport) = dom::window().visual_viewport() else {
            return;
        };
        let style = self.root.unchecked_ref::<HtmlElement>().style();
        // Whole pixels: formatting an f64 would pull Rust's float printer (~6 KiB gzip) into the wasm.
        let height = viewport.height().round() as i64;
        let _ = style.set_property("--oc-vvh", &format!("{height}px"));
    }

    /// The welcome message: like an answer, but without copy/rate/regenerate buttons.
    pub fn show_welcome(&self, welcome: &Message, html: &str, strings: &Strings) {
        let row = self.append_message(welcome, Some(html), strings);
        if let Ok(Some(actions)) = row.query_selector(".oc-actions") {
            actions.remove();
        }
        self.show_starters(true);
    }

    /// Removes every failure notice (before an answer is regenerated).
    pub fn remove_notices(&self) {
        let Ok(rows) = self.log.query_selector_all("[data-role=\"error\"]") else {
            return;
        };
        for index in 0..rows.length() {
            if let Some(row) = rows.item(index).and_then(|n| n.dyn_into::<Element>().ok()) {
                row.remove();
            }
        }
    }

    /// Rewrites a notice's text (a countdown ticking).
    pub fn set_notice_text(&self, row: &Element, text: &str) {
        if let Ok(Some(bubble)) = row.query_selector(".oc-bubble") {
            bubble.set_text_content(Some(text));
        }
    }

    /// A card on its own row in the log (`addCard` from the host page).
    pub fn append_card(&self, card: &Element) {
        let row = el("div", "oc-msg");
        attrs(&row, &[("data-role", "card")]);
        let _ = row.append_child(card);
        let _ = self.log.append_child(&row);
    }

    /// An empty card element for a host render callback to draw into.
    pub fn card_element(name: &str) -> Element {
        let card = el("div", "oc-card");
        attrs(&card, &[("part", "card"), ("data-card", name)]);
        card
    }

    /// A card element from its (already escaped) HTML.
    pub fn card_from_html(html: &str) -> Element {
        let holder = el("div", "");
        holder.set_inner_html(html);
        holder
            .first_element_child()
            .unwrap_or_else(|| el("div", "oc-card"))
    }

    /// Draws a tool call's card (HTML from core/tool_card.rs, every text escaped) on its own
    /// row, or redraws it in place; a card that asks for confirmation takes the focus, so
    /// Enter confirms and Tab reaches 取消.
    pub fn show_tool_card(&self, key: u32, html: &str, focus: bool) {
        let selector = format!(".oc-msg[data-role=\"tool\"][data-key=\"{key}\"]");
        let row = match self.log.query_selector(&selector).ok().flatten() {
            Some(row) => row,
            None => {
                let row = el("div", "oc-msg");
                attrs(
                    &row,
                    &[("data-role", "tool"), ("data-key", &key.to_string())],
                );
                let _ = self.log.append_child(&row);
                row
            }
        };
        row.set_inner_html(html);
        if focus {
            if let Ok(Some(button)) = row.query_selector("[data-action=\"tool-confirm\"]") {
                let _ = button.unchecked_ref::<HtmlElement>().focus();
            }
        }
    }

    pub fn show_context(&self, show: bool) {
        show_element(&self.context, show);
    }

    /// Shows the quota button, or hides it with its menu (no quota for this user).
    pub fn show_quota_button(&self, show: bool) {
        show_element(&self.quota_button, show);
        if !show {
            self.show_quota(None);
        }
    }

    /// Shows the quota menu with `lines` (as text, never markup), or hides it.
    pub fn show_quota(&self, lines: Option<&[String]>) {
        let Some(lines) = lines else {
            show_element(&self.quota, false);
            attrs(&self.quota_button, &[("aria-expanded", "false")]);
            return;
        };
        self.quota.set_inner_html("");
        for line in lines {
            let row = el("div", "oc-quota-line");
            row.set_text_content(Some(line));
            let _ = self.quota.append_child(&row);
        }
        show_element(&self.quota, true);
        attrs(&self.quota_button, &[("aria-expanded", "true")]);
    }

    /// The note before and when a limit is reached (text only), or none.
    pub fn show_quota_note(&self, note: Option<&str>) {
        self.quota_note.set_text_content(note);
        show_element(&self.quota_note, note.is_some());
    }

    pub fn show_quote_offer(&self, show: bool) {
        show_element(&self.quote, show);
    }

    /// Puts `text` in the input, the caret at its end, ready for the question.
    pub fn prefill_input(&self, text: &str) {
        self.input.set_value(text);
        self.autosize_input();
        let _ = self.input.focus();
        let end = self.input.value().len() as u32;
        let _ = self.input.set_selection_range(end, end);
    }

    /// Presses the thumb that matches `rating` under an answer, and releases the other.
    pub fn show_feedback(&self, answer: u32, rating: Option<bool>) {
        for (action, up) in [("thumbs-up", true), ("thumbs-down", false)] {
            if let Some(button) = self.answer_button(answer, action) {
                let pressed = rating == Some(up);
                attrs(
                    &button,
                    &[("aria-pressed", if pressed { "true" } else { "false" })],
                );
            }
        }
    }

    /// Shows "Copied" for a moment on an answer's copy button.
    pub fn flash_copied_answer(&self, answer: u32, label: &str) {
        if let Some(button) = self.answer_button(answer, "copy-answer") {
            flash_label(&button, label);
        }
    }

    pub fn show_history_button(&self) {
        let _ = self.history_button.remove_attribute("hidden");
    }

    pub fn remove_history_item(&self, id: &str) {
        let Ok(items) = self.history.query_selector_all(".oc-history-item") else {
            return;
        };
        for index in 0..items.length() {
            if let Some(item) = items.item(index).and_then(|n| n.dyn_into::<Element>().ok()) {
                if item.get_attribute("data-conversation").as_deref() == Some(id) {
                    item.remove();
                }
            }
        }
    }

    fn answer_button(&self, answer: u32, action: &str) -> Option<Element> {
        self.log
            .query_selector(&format!(
                "[data-id=\"{answer}\"] [data-action=\"{action}\"]"
            ))
            .ok()
            .flatten()
    }

    pub fn near_bottom(&self) -> bool {
        let log: &HtmlElement = self.log.unchecked_ref();
        log.scroll_height() - log.scroll_top() - log.client_height() < 48
    }

    pub fn scroll_to_bottom(&self) {
        let log: &HtmlElement = self.log.unchecked_ref();
        log.set_scroll_top(log.scroll_height());
    }
}

fn show_element(element: &Element, show: bool) {
    if show {
        let _ = element.remove_attribute("hidden");
    } else {
        attrs(element, &[("hidden", "")]);
    }
}

fn message_row(message: &Message) -> Element {
    let row = el("div", "oc-msg");
    attrs(
        &row,
        &[
            ("data-role", message.role.as_str()),
            ("data-id", &message.id.to_string()),
        ],
    );
    row
}

fn icon_button(svg: &str, action: &str) -> Element {
    let button = el("button", "oc-icon-btn");
    attrs(&button, &[("type", "button"), ("data-action", action)]);
    button.set_inner_html(svg);
    button
}

fn actions(message: &Message, strings: &Strings) -> Element {
    let bar = el("div", "oc-actions");
    let id = message.id.to_string();
    for (svg, action, label) in [
        (ICON_COPY, "copy-answer", "copy_answer"),
        (ICON_REDO, "regenerate", "regenerate"),
        (ICON_UP, "thumbs-up", "thumbs_up"),
        (ICON_DOWN, "thumbs-down", "thumbs_down"),
    ] {
        let button = icon_button(svg, action);
        let label = strings.get(label);
        attrs(
            &button,
            &[("data-id", &id), ("aria-label", &label), ("title", &label)],
        );
        if action.starts_with("thumbs") {
            let pressed = match message.feedback {
                Some(up) => (action == "thumbs-up") == up,
                None => false,
            };
            attrs(
                &button,
                &[("aria-pressed", if pressed { "true" } else { "false" })],
            );
        }
        let _ = bar.append_child(&button);
    }
    bar
}

/// Appends `text` at the end of the element `path` leads to from `tail` (see
/// core/tail_update.rs), extending its last text node when it has one. Returns false, having
/// changed nothing, when the DOM does not have the shape the path describes.
pub fn append_text_at(tail: &Element, path: &[PathStep], text: &str) -> bool {
    let mut element = tail.clone();
    for step in path {
        let mut child = element.last_child();
        if step.before_trailing_text {
            child = child
                .filter(|node| node.node_type() == Node::TEXT_NODE)
                .and_then(|node| node.previous_sibling());
        }
        match child.and_then(|node| node.dyn_into::<Element>().ok()) {
            Some(next) if next.local_name() == step.tag => element = next,
            _ => return false,
        }
    }
    match element.last_child() {
        Some(last) if last.node_type() == Node::TEXT_NODE => last
            .unchecked_ref::<CharacterData>()
            .append_data(text)
            .is_ok(),
        _ => element.append_with_str_1(text).is_ok(),
    }
}

/// Shows a label ("Copied") on a button for a moment.
pub fn flash_label(button: &Element, label: &str) {
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
