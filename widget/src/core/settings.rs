//! The widget's configuration after merging script data attributes, `window.OAChatConfig`
//! and `OAChat.init(...)` (the loader merges; this is the typed result).

use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    Light,
    Dark,
    /// Follows `prefers-color-scheme`.
    Auto,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub title: Option<String>,
    pub avatar: Option<String>,
    pub welcome: Option<String>,
    pub side: Side,
    pub theme: Theme,
    pub locale: Option<String>,
    /// Where the worker lives (the script's origin unless configured).
    pub endpoint: String,
    /// `auto` lets the worker route the request.
    pub model: String,
    pub placeholder: Option<String>,
    pub starters: Vec<String>,
    /// Per-key overrides of the widget's words.
    pub strings: HashMap<String, String>,
    /// A scenario every request carries (the worker's scenario prompts).
    pub scenario: Option<String>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            title: None,
            avatar: None,
            welcome: None,
            side: Side::Right,
            theme: Theme::Auto,
            locale: None,
            endpoint: String::new(),
            model: "auto".into(),
            placeholder: None,
            starters: Vec::new(),
            strings: HashMap::new(),
            scenario: None,
        }
    }
}

impl Settings {
    /// Applies one string-valued key, as found in data attributes or a config object.
    pub fn apply(&mut self, key: &str, value: &str) {
        let value = value.trim();
        let text = || Some(value.to_string()).filter(|v| !v.is_empty());
        match key {
            "title" => self.title = text(),
            "avatar" => self.avatar = text().filter(|url| safe_image_url(url)),
            "welcome" => self.welcome = text(),
            "position" => {
                self.side = if value.eq_ignore_ascii_case("left") {
                    Side::Left
                } else {
                    Side::Right
                }
            }
            "theme" => {
                self.theme = match value.to_ascii_lowercase().as_str() {
                    "dark" => Theme::Dark,
                    "light" => Theme::Light,
                    _ => Theme::Auto,
                }
            }
            "locale" => self.locale = text(),
            "endpoint" => self.endpoint = value.trim_end_matches('/').to_string(),
            "model" => self.model = text().unwrap_or_else(|| "auto".into()),
            "placeholder" => self.placeholder = text(),
            "scenario" => self.scenario = text(),
            _ => {}
        }
    }

    pub fn chat_url(&self) -> String {
        format!("{}/v1/chat/completions", self.endpoint)
    }

    /// Server-side conversations (list, load, delete), when the worker offers them.
    pub fn conversations_url(&self) -> String {
        format!("{}/v1/oachat/conversations", self.endpoint)
    }

    /// The user's own quota (today and this month against the limits).
    pub fn me_url(&self) -> String {
        format!("{}/v1/oachat/me", self.endpoint)
    }

    /// Chat within a server-side conversation: `{conversation_id?, message}` in, SSE out.
    pub fn conversation_chat_url(&self) -> String {
        format!("{}/v1/oachat/chat", self.endpoint)
    }
}

/// Avatars are host-configured, but still only http(s) or same-page relative URLs:
/// a `javascript:` avatar must not become an `<img src>`.
pub fn safe_image_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with('/')
        || lower.starts_with("./")
        || lower.starts_with("data:image/png")
        || lower.starts_with("data:image/jpeg")
        || lower.starts_with("data:image/gif")
        || lower.starts_with("data:image/webp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_apply_with_sane_fallbacks() {
        let mut settings = Settings::default();
        settings.apply("position", "LEFT");
        settings.apply("theme", "dark");
        settings.apply("model", "  ");
        settings.apply("endpoint", "https://chat.example.com/");
        assert_eq!(settings.side, Side::Left);
        assert_eq!(settings.theme, Theme::Dark);
        assert_eq!(settings.model, "auto");
        assert_eq!(
            settings.chat_url(),
            "https://chat.example.com/v1/chat/completions"
        );
    }

    #[test]
    fn unsafe_avatars_are_dropped() {
        let mut settings = Settings::default();
        settings.apply("avatar", "javascript:alert(1)");
        assert_eq!(settings.avatar, None);
        settings.apply("avatar", "data:image/svg+xml,<svg onload=alert(1)>");
        assert_eq!(settings.avatar, None);
        settings.apply("avatar", "https://oa.example.com/bot.png");
        assert!(settings.avatar.is_some());
    }
}
