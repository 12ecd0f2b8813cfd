//! Whether a user's message asks for a tool: it names the tool, or says the
//! first word of the tool's description (the description up to its first
//! punctuation mark or whitespace, so `查询年假余额：返回…` is asked for by
//! `查询年假余额`).
//!
//! Matching is exact (case-sensitive substring search): the mock must be
//! predictable, and a test that wants a call writes the word it means.

use super::offered::OfferedTool;

/// Whether `text` asks for `tool` by its name or its description's first word.
pub fn mentions(text: &str, tool: &OfferedTool) -> bool {
    if !tool.name.is_empty() && text.contains(tool.name.as_str()) {
        return true;
    }
    let keyword = description_keyword(&tool.description);
    !keyword.is_empty() && text.contains(keyword)
}

/// The description up to (not including) its first punctuation mark or
/// whitespace; empty when the description starts with one.
pub fn description_keyword(description: &str) -> &str {
    let end = description
        .find(|c: char| c.is_whitespace() || is_punctuation(c))
        .unwrap_or(description.len());
    &description[..end]
}

/// ASCII punctuation, the CJK symbols and punctuation block (`、。「」…`),
/// full-width punctuation (`：，；！？（）`) and general punctuation (`—…“”`).
/// Letters, digits and ideographs are not punctuation, so a Chinese
/// description's first phrase runs up to its first `：` or `，`.
pub fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation()
        || matches!(c,
            '\u{2010}'..='\u{2027}'   // dashes, quotes, bullets, …
            | '\u{2030}'..='\u{205E}' // ‰ ′ ‹ › ※ ‼ and the like
            | '\u{3001}'..='\u{3003}' // 、。〃
            | '\u{3008}'..='\u{3011}' // 〈〉《》「」『』【】
            | '\u{3014}'..='\u{301F}' // 〔〕〖〗〘〙〚〛〜〝〞〟
            | '\u{FE10}'..='\u{FE19}' // vertical forms
            | '\u{FE30}'..='\u{FE6B}' // compatibility and small forms
            | '\u{FF01}'..='\u{FF0F}' // ！＂＃＄％＆＇（）＊＋，－．／
            | '\u{FF1A}'..='\u{FF20}' // ：；＜＝＞？＠
            | '\u{FF3B}'..='\u{FF40}' // ［＼］＾＿｀
            | '\u{FF5B}'..='\u{FF65}' // ｛｜｝～ and half-width ｡｢｣､･
        )
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn tool(name: &str, description: &str) -> OfferedTool {
        OfferedTool {
            name: name.to_owned(),
            description: description.to_owned(),
            parameters: Value::Null,
        }
    }

    #[track_caller]
    fn check_keyword(description: &str, expected: &str) {
        assert_eq!(
            description_keyword(description),
            expected,
            "{description:?}"
        );
    }

    #[test]
    fn keyword_ends_at_the_first_punctuation_or_space() {
        check_keyword("查询年假余额：返回剩余天数", "查询年假余额");
        check_keyword("查询年假余额，返回剩余天数", "查询年假余额");
        check_keyword("预订会议室。需要时间", "预订会议室");
        check_keyword("提交报销；附件", "提交报销");
        check_keyword("打开页面！", "打开页面");
        check_keyword("天气？", "天气");
        check_keyword("部门、人员", "部门");
        check_keyword("请假（年假）", "请假");
        check_keyword("「引号」", "");
        check_keyword("Looks up an HR policy.", "Looks");
        check_keyword("lookup_policy: find it", "lookup");
        check_keyword("search,then answer", "search");
        check_keyword("全角空格\u{3000}之后", "全角空格");
        check_keyword("换行\n之后", "换行");
        check_keyword("一直到底", "一直到底");
        check_keyword("", "");
        check_keyword("：开头就是标点", "");
    }

    #[test]
    fn name_or_description_keyword_triggers() {
        let leave = tool("get_leave_balance", "查询年假余额：返回剩余天数");
        assert!(mentions("请 get_leave_balance 一下", &leave));
        assert!(mentions("帮我查询年假余额", &leave));
        assert!(!mentions("帮我查询年假", &leave));
        assert!(!mentions("返回剩余天数", &leave));
        assert!(!mentions("GET_LEAVE_BALANCE", &leave));
        let undescribed = tool("book_room", "");
        assert!(!mentions("anything at all", &undescribed));
        assert!(mentions("book_room please", &undescribed));
        let punctuated = tool("f", "。");
        assert!(!mentions("。", &tool("", "。")));
        assert!(mentions("f", &punctuated));
    }
}
