//! The widget's words in zh-CN and en, each overridable by the host page.

use std::collections::HashMap;

use crate::core::failure::Failure;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    ZhCn,
    En,
}

impl Locale {
    /// `configured` wins; otherwise the browser's language; Chinese variants read zh-CN.
    pub fn detect(configured: Option<&str>, navigator_language: Option<&str>) -> Locale {
        let tag = configured
            .filter(|t| !t.trim().is_empty())
            .or(navigator_language)
            .unwrap_or("en");
        if tag.trim().to_ascii_lowercase().starts_with("zh") {
            Locale::ZhCn
        } else {
            Locale::En
        }
    }

    pub fn tag(self) -> &'static str {
        match self {
            Locale::ZhCn => "zh-CN",
            Locale::En => "en",
        }
    }
}

/// Every string the widget shows, by key. Keys are what host pages override:
/// `OAChat.init({ strings: { send: "发出" } })`.
const KEYS: &[(&str, &str, &str)] = &[
    ("title", "智能助手", "Assistant"),
    ("welcome", "你好！有什么可以帮你？", "Hi! How can I help?"),
    (
        "placeholder",
        "输入问题，Enter 发送，Shift+Enter 换行",
        "Ask anything. Enter to send, Shift+Enter for a new line",
    ),
    ("send", "发送", "Send"),
    ("stop", "停止", "Stop"),
    ("close", "关闭", "Close"),
    ("new_chat", "新对话", "New chat"),
    ("copy", "复制", "Copy"),
    ("copied", "已复制", "Copied"),
    ("copy_answer", "复制回答", "Copy answer"),
    ("regenerate", "重新生成", "Regenerate"),
    ("thumbs_up", "有帮助", "Helpful"),
    ("thumbs_down", "没帮助", "Not helpful"),
    ("retry", "重试", "Retry"),
    ("history", "历史对话", "History"),
    ("history_empty", "还没有历史对话", "No conversations yet"),
    ("delete", "删除", "Delete"),
    ("untitled", "未命名对话", "Untitled conversation"),
    ("thinking", "正在思考…", "Thinking…"),
    ("thinking_live", "正在思考… {s} 秒", "Thinking… {s} s"),
    ("thought_for", "已深度思考 {s} 秒", "Thought for {s} s"),
    ("thought", "已深度思考", "Thought process"),
    ("answer_done", "回答完成", "Answer complete"),
    ("stopped", "已停止生成", "Stopped"),
    ("tool_confirm", "确认", "Confirm"),
    ("tool_cancel", "取消", "Cancel"),
    (
        "tool_confirm_ask",
        "需要你确认后执行",
        "Needs your confirmation",
    ),
    ("tool_running", "正在执行…", "Running…"),
    ("tool_asking_oa", "正在查询 OA…", "Asking the OA…"),
    ("tool_done", "已完成", "Done"),
    ("tool_failed", "执行失败", "Failed"),
    ("tool_declined", "已取消", "Declined"),
    ("context_chip", "正在参考：当前页面", "Using: this page"),
    ("context_remove", "不再参考当前页面", "Stop using this page"),
    ("quote_selection", "引用所选内容", "Quote selection"),
    ("quota", "我的额度", "My usage"),
    ("quota_day_left", "今日剩余约 {n} tokens", "About {n} tokens left today"),
    ("quota_month_left", "本月剩余约 {n} tokens", "About {n} tokens left this month"),
    ("quota_day_used", "今日已用 {n} tokens", "{n} tokens used today"),
    ("quota_month_used", "本月已用 {n} tokens", "{n} tokens used this month"),
    ("quota_share_left", "{period}额度剩余 {p}%", "{p}% of the budget left {period}"),
    ("quota_today", "今日", "today"),
    ("quota_this_month", "本月", "this month"),
    (
        "quota_low_day",
        "今日额度快用完了，较长的问题可能无法完整回答。",
        "Today's budget is almost spent: a long question may not get a full answer.",
    ),
    (
        "quota_low_month",
        "本月额度快用完了，较长的问题可能无法完整回答。",
        "This month's budget is almost spent: a long question may not get a full answer.",
    ),
    (
        "quota_out_day",
        "今日额度已用完，明天 0 点恢复。",
        "Today's budget is spent. It comes back at midnight.",
    ),
    (
        "quota_out_month",
        "本月额度已用完，下月 1 日恢复；如需更多额度请联系管理员。",
        "This month's budget is spent. It comes back on the 1st; ask your administrator if you need more.",
    ),
    (
        "err_rate",
        "请求太频繁，请 {s} 秒后再试。",
        "Too many requests. Try again in {s} s.",
    ),
    (
        "err_rounds",
        "本次对话轮数已达上限，请开始新对话。",
        "This conversation has reached its limit. Start a new chat.",
    ),
    (
        "err_tool_rounds",
        "助手为这个问题调用页面操作的次数已达上限，请换个问法再试。",
        "The assistant used the page's actions too many times for one question. Try asking differently.",
    ),
    (
        "err_budget",
        "今日额度已用完，明天再来吧。",
        "Today's usage budget is spent. Please come back tomorrow.",
    ),
    (
        "err_budget_wait",
        "今日额度已用完，{s} 秒后恢复。",
        "The usage budget is spent. It resets in {s} s.",
    ),
    (
        "err_auth",
        "登录已失效，请刷新页面后重试。",
        "Your sign-in has expired. Reload the page and try again.",
    ),
    (
        "err_forbidden",
        "此页面无权使用智能助手。",
        "This page is not allowed to use the assistant.",
    ),
    (
        "err_blocked",
        "管理员已为你的账号停用智能助手，如有疑问请联系管理员。",
        "An administrator has turned off the assistant for your account. Ask them if you think this is a mistake.",
    ),
    (
        "err_network",
        "网络连接中断。",
        "The network connection dropped.",
    ),
    (
        "err_upstream",
        "模型服务暂时不可用，请稍后再试。",
        "The AI service is unavailable right now. Please try again shortly.",
    ),
    ("err_other", "出错了：{m}", "Something went wrong: {m}"),
];

#[derive(Debug, Clone)]
pub struct Strings {
    locale: Locale,
    overrides: HashMap<String, String>,
}

impl Strings {
    pub fn new(locale: Locale, overrides: HashMap<String, String>) -> Strings {
        Strings { locale, overrides }
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// The string for `key`; an unknown key reads as itself, so a typo shows, not vanishes.
    pub fn get(&self, key: &str) -> String {
        if let Some(text) = self.overrides.get(key) {
            return text.clone();
        }
        KEYS.iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, zh, en)| match self.locale {
                Locale::ZhCn => *zh,
                Locale::En => *en,
            })
            .unwrap_or(key)
            .to_string()
    }

    /// The notice for a failure; `{s}` is the countdown, `{m}` the worker's message.
    pub fn failure(&self, failure: &Failure, seconds_left: Option<u64>) -> String {
        let seconds = seconds_left.unwrap_or(0).to_string();
        match failure {
            Failure::RateLimited { .. } => self.get("err_rate").replace("{s}", &seconds),
            Failure::MaxRounds => self.get("err_rounds"),
            Failure::MaxToolRounds => self.get("err_tool_rounds"),
            Failure::Budget { .. } if seconds_left.is_some() => {
                self.get("err_budget_wait").replace("{s}", &seconds)
            }
            Failure::Budget { .. } => self.get("err_budget"),
            Failure::MonthlyBudget => self.get("quota_out_month"),
            Failure::TokenExpired | Failure::Unauthorized => self.get("err_auth"),
            Failure::Forbidden => self.get("err_forbidden"),
            Failure::Blocked => self.get("err_blocked"),
            Failure::Network => self.get("err_network"),
            Failure::UpstreamDown { .. } => self.get("err_upstream"),
            Failure::Other { message } => self.get("err_other").replace("{m}", message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locale_follows_config_then_browser() {
        assert_eq!(Locale::detect(Some("en"), Some("zh-CN")), Locale::En);
        assert_eq!(Locale::detect(None, Some("zh-TW")), Locale::ZhCn);
        assert_eq!(Locale::detect(Some(""), Some("fr")), Locale::En);
    }

    #[test]
    fn overrides_win_and_placeholders_fill() {
        let mut overrides = HashMap::new();
        overrides.insert("send".to_string(), "Go".to_string());
        let strings = Strings::new(Locale::ZhCn, overrides);
        assert_eq!(strings.get("send"), "Go");
        assert_eq!(strings.get("stop"), "停止");
        let text = strings.failure(&Failure::RateLimited { retry_after_s: 9 }, Some(4));
        assert!(text.contains("4 秒"), "{text}");
    }

    #[test]
    fn every_key_has_both_languages() {
        for (key, zh, en) in KEYS {
            assert!(!zh.is_empty() && !en.is_empty(), "{key}");
        }
    }
}
