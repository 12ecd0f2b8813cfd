//! Cards: messages that are more than text. Pure functions from card data (JSON) to HTML.
//!
//! Three sources of cards share one shape, `{"card": name, "data": {...}}`:
//! - the worker, as an SSE event `event: oachat.card` inside a chat stream;
//! - the host page, with `OAChat.addCard(name, data)`;
//! - templates the host page registers with `OAChat.registerCard(name, { template })`, whose
//!   `{{field}}` slots are filled here, always escaped.
//!
//! Built-in cards: `card` (title, markdown body, actions), `link`, `kv` (key-value summary) and
//! `quick-replies` (chips). An action either sends a message (`send`) or opens a link (`url`).
//! Buttons carry `data-action="card-send"` and `data-text`; the controller does the sending.
//! Links go through the markdown module's allow-list (http, https, mailto, relative), so card
//! data can never produce a `javascript:` or `data:` URL, and open in a new tab.
//!
//! Card data is untrusted (it may come from the model's side of the stream): every value is
//! escaped. Only a host-registered template is trusted markup, because the host page wrote it.

use super::json::Json;

use super::highlight::push_escaped;
use super::markdown::{anchor_open_tag, link_url_is_safe, render_markdown};

/// How many actions, rows or chips one card shows at most: a runaway payload must not build an
/// endless DOM.
const MAX_CARD_ITEMS: usize = 50;

/// The built-in card names, for the host page's `registerCard` to know what it overrides.
pub const BUILT_IN_CARDS: [&str; 4] = ["card", "link", "kv", "quick-replies"];

/// The HTML of a built-in card, wrapped in `.oc-card`; `None` for an unknown name.
pub fn built_in_card_html(name: &str, data: &Json) -> Option<String> {
    let mut inner = String::new();
    match name {
        "card" => {
            push_title(&mut inner, data);
            if let Some(body) = text_field(data, "body") {
                inner.push_str("<div class=\"oc-md oc-card-body\">");
                inner.push_str(&render_markdown(&body));
                inner.push_str("</div>");
            }
            push_actions(&mut inner, data.get("actions"));
        }
        "link" => {
            let url = text_field(data, "url").unwrap_or_default();
            let title = text_field(data, "title").unwrap_or_else(|| url.clone());
            if link_url_is_safe(&url) {
                inner.push_str(&anchor_open_tag(&url, "", Some("oc-card-link")));
                push_escaped(&mut inner, &title);
                inner.push_str("</a>");
            } else {
                inner.push_str("<div class=\"oc-card-title\">");
                push_escaped(&mut inner, &title);
                inner.push_str("</div>");
            }
            if let Some(description) = text_field(data, "description") {
                inner.push_str("<p class=\"oc-card-desc\">");
                push_escaped(&mut inner, &description);
                inner.push_str("</p>");
            }
        }
        "kv" => {
            push_title(&mut inner, data);
            inner.push_str("<dl class=\"oc-kv\">");
            for (key, value) in key_values(data.get("items")) {
                inner.push_str("<dt>");
                push_escaped(&mut inner, &key);
                inner.push_str("</dt><dd>");
                push_escaped(&mut inner, &value);
                inner.push_str("</dd>");
            }
            inner.push_str("</dl>");
            push_actions(&mut inner, data.get("actions"));
        }
        "quick-replies" => {
            push_title(&mut inner, data);
            let replies = data.get("replies").or_else(|| data.get("actions"));
            push_actions(&mut inner, replies);
        }
        _ => return None,
    }
    Some(wrap(name, &inner))
}

/// Fills `{{field}}` (or `{{ a.b }}`) slots of a host template with escaped values from `data`.
/// A missing field is empty; numbers and booleans print as JSON does. An unclosed `{{` is text.
pub fn fill_template(template: &str, data: &Json) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(length) = rest[start + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let path = rest[start + 2..start + 2 + length].trim();
        if let Some(value) = lookup(data, path) {
            push_escaped(&mut out, &display(value));
        }
        rest = &rest[start + 2 + length + 2..];
    }
    out.push_str(rest);
    out
}

/// A host template card: the filled template inside the same wrapper as built-in cards.
pub fn template_card_html(name: &str, template: &str, data: &Json) -> String {
    wrap(name, &fill_template(template, data))
}

fn wrap(name: &str, inner: &str) -> String {
    let mut html = String::with_capacity(inner.len() + 64);
    html.push_str("<div class=\"oc-card\" part=\"card\" data-card=\"");
    push_escaped(&mut html, name);
    html.push_str("\">");
    html.push_str(inner);
    html.push_str("</div>");
    html
}

fn push_title(out: &mut String, data: &Json) {
    if let Some(title) = text_field(data, "title") {
        out.push_str("<div class=\"oc-card-title\">");
        push_escaped(out, &title);
        out.push_str("</div>");
    }
}

/// Action buttons. An action is a string (send it), or `{label, send}` / `{label, url}`.
fn push_actions(out: &mut String, actions: Option<&Json>) {
    let Some(Json::Array(actions)) = actions else {
        return;
    };
    out.push_str("<div class=\"oc-card-actions\">");
    for action in actions.iter().take(MAX_CARD_ITEMS) {
        let (label, send, url) = match action {
            Json::String(text) => (text.clone(), Some(text.clone()), None),
            Json::Object(_) => {
                let label = text_field(action, "label")
                    .or_else(|| text_field(action, "name"))
                    .or_else(|| text_field(action, "text"))
                    .unwrap_or_default();
                let url = text_field(action, "url");
                let send = text_field(action, "send")
                    .or_else(|| text_field(action, "text"))
                    .or_else(|| url.is_none().then(|| label.clone()));
                (label, send, url)
            }
            _ => continue,
        };
        if label.is_empty() {
            continue;
        }
        match url {
            Some(url) if link_url_is_safe(&url) => {
                out.push_str(&anchor_open_tag(&url, "", Some("oc-card-btn")));
                push_escaped(out, &label);
                out.push_str("</a>");
            }
            // An unsafe link is dropped, not turned into a dead button.
            Some(_) => {}
            None => {
                out.push_str(
                    "<button type=\"button\" class=\"oc-card-btn\" data-action=\"card-send\" data-text=\"",
                );
                push_escaped(out, send.as_deref().unwrap_or(&label));
                out.push_str("\">");
                push_escaped(out, &label);
                out.push_str("</button>");
            }
        }
    }
    out.push_str("</div>");
}

/// Key-value rows from `[{key, value}]`, `[[key, value]]` or `{key: value}`.
fn key_values(items: Option<&Json>) -> Vec<(String, String)> {
    match items {
        Some(Json::Array(rows)) => rows
            .iter()
            .take(MAX_CARD_ITEMS)
            .filter_map(|row| match row {
                Json::Array(pair) if pair.len() == 2 => {
                    Some((display(&pair[0]), display(&pair[1])))
                }
                Json::Object(_) => Some((
                    row.get("key").or_else(|| row.get("label")).map(display)?,
                    row.get("value").map(display).unwrap_or_default(),
                )),
                _ => None,
            })
            .collect(),
        Some(Json::Object(map)) => map
            .iter()
            .take(MAX_CARD_ITEMS)
            .map(|(key, value)| (key.clone(), display(value)))
            .collect(),
        _ => Vec::new(),
    }
}

fn text_field(data: &Json, key: &str) -> Option<String> {
    data.get(key).map(display).filter(|s| !s.is_empty())
}

/// `a.b.0`: object keys and array indexes, as `Json::get` reads them.
fn lookup<'a>(data: &'a Json, path: &str) -> Option<&'a Json> {
    path.split('.').try_fold(data, |value, key| value.get(key))
}

fn display(value: &Json) -> String {
    match value {
        Json::Null => String::new(),
        Json::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test data written with serde_json's macro (a dev-dependency only), as the widget's `Json`.
    macro_rules! json {
        ($($data:tt)+) => {
            Json::parse(&serde_json::json!($($data)+).to_string()).expect("valid test JSON")
        };
    }

    #[track_caller]
    fn check_template(template: &str, data: Json, expected: &str) {
        assert_eq!(fill_template(template, &data), expected);
    }

    #[track_caller]
    fn check_contains(name: &str, data: Json, needles: &[&str]) {
        let html = built_in_card_html(name, &data).expect("a built-in card name");
        for needle in needles {
            assert!(html.contains(needle), "{needle:?} not in {html}");
        }
    }

    #[track_caller]
    fn check_absent(name: &str, data: Json, needles: &[&str]) {
        let html = built_in_card_html(name, &data).expect("a built-in card name");
        for needle in needles {
            assert!(!html.contains(needle), "{needle:?} in {html}");
        }
    }

    #[test]
    fn template_slots_are_filled_and_escaped() {
        check_template("<b>{{name}}</b>", json!({"name": "Ann"}), "<b>Ann</b>");
        check_template(
            "<b>{{ name }}</b>",
            json!({"name": "<img src=x onerror=alert(1)>"}),
            "<b>&lt;img src=x onerror=alert(1)&gt;</b>",
        );
        check_template(
            "<a title=\"{{t}}\">",
            json!({"t": "\" onclick=\"x"}),
            "<a title=\"&quot; onclick=&quot;x\">",
        );
        check_template(
            "{{a.b}}/{{list.1}}",
            json!({"a": {"b": 7}, "list": [1, true]}),
            "7/true",
        );
        check_template("[{{missing}}]", json!({}), "[]");
        check_template("open {{ never closed", json!({}), "open {{ never closed");
        check_template("你好 {{x}} 😀", json!({"x": "世界"}), "你好 世界 😀");
    }

    #[test]
    fn generic_card_has_title_markdown_body_and_actions() {
        check_contains(
            "card",
            json!({"title": "Leave request", "body": "**3 days** approved",
                   "actions": [{"label": "Details", "send": "show details"},
                               {"label": "Open", "url": "https://oa.example/leave/1"}]}),
            &[
                "class=\"oc-card\"",
                "data-card=\"card\"",
                ">Leave request<",
                "<strong>3 days</strong>",
                "data-action=\"card-send\" data-text=\"show details\">Details</button>",
                "href=\"https://oa.example/leave/1\"",
                "rel=\"noopener noreferrer\"",
            ],
        );
    }

    #[test]
    fn card_data_never_becomes_markup_or_a_script_url() {
        let hostile = "<script>alert(1)</script>";
        check_absent(
            "card",
            json!({"title": hostile, "body": hostile,
                   "actions": [{"label": hostile, "url": "javascript:alert(1)"},
                               {"label": "x", "url": "data:text/html,hi"},
                               {"label": hostile, "send": "\"><img onerror=x>"}]}),
            &["<script", "javascript:", "data:", "<img"],
        );
        check_absent(
            "link",
            json!({"title": "t", "url": " javascript:alert(1)"}),
            &["href"],
        );
    }

    #[test]
    fn link_card_opens_a_new_tab() {
        check_contains(
            "link",
            json!({"title": "Handbook", "url": "https://oa.example/hb", "description": "HR <rules>"}),
            &[
                "<a class=\"oc-card-link\" href=\"https://oa.example/hb\" target=\"_blank\" rel=\"noopener noreferrer\">Handbook</a>",
                "HR &lt;rules&gt;",
            ],
        );
    }

    #[test]
    fn key_value_card_takes_pairs_objects_and_maps() {
        check_contains(
            "kv",
            json!({"title": "Trip", "items": [{"key": "City", "value": "上海"}, ["Days", 3]]}),
            &["<dt>City</dt><dd>上海</dd>", "<dt>Days</dt><dd>3</dd>"],
        );
        check_contains(
            "kv",
            json!({"items": {"Status": "approved"}}),
            &["<dt>Status</dt><dd>approved</dd>"],
        );
    }

    #[test]
    fn quick_reply_chips_send_their_text() {
        check_contains(
            "quick-replies",
            json!({"replies": ["Yes", {"label": "No", "send": "no thanks"}]}),
            &[
                "data-text=\"Yes\">Yes</button>",
                "data-text=\"no thanks\">No</button>",
            ],
        );
    }

    #[test]
    fn unknown_names_are_not_built_in() {
        assert_eq!(built_in_card_html("nope", &json!({})), None);
    }

    #[test]
    fn a_runaway_card_is_capped() {
        let replies: Vec<String> = (0..500).map(|i| i.to_string()).collect();
        let html =
            built_in_card_html("quick-replies", &json!({ "replies": replies })).expect("built in");
        assert_eq!(html.matches("<button").count(), MAX_CARD_ITEMS);
    }
}
