//! Case folding for comrak's link reference labels (`[Label]` matches `[label]: url`), the one
//! function of caseless comrak calls, built on the lowercase mapping the standard library
//! already links in instead of the full Unicode CaseFolding table (~22 KB of wasm).
//!
//! Behaviour difference from Unicode default case folding: characters fold to their lowercase
//! form, plus the foldings where lowercase is not enough for common text: `ß`/`ẞ` → `ss`, final
//! `ς` → `σ`, long `ſ` → `s`, and the Greek iota forms → `ι`. Rarer full foldings (ligatures
//! such as `ﬁ`, Armenian `և`, Cherokee) are not applied, so such labels match only as typed.

/// Folds `text` so that labels differing only in case compare equal.
pub fn default_case_fold_str(text: &str) -> String {
    let mut folded = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            'ß' | 'ẞ' => folded.push_str("ss"),
            'ς' => folded.push('σ'),
            'ſ' => folded.push('s'),
            '\u{345}' | '\u{1FBE}' => folded.push('ι'),
            _ => folded.extend(character.to_lowercase()),
        }
    }
    folded
}

/// Whether `a` and `b` are equal after [`default_case_fold_str`].
pub fn default_caseless_match_str(a: &str, b: &str) -> bool {
    default_case_fold_str(a) == default_case_fold_str(b)
}

#[cfg(test)]
mod tests {
    use super::default_case_fold_str as fold;

    #[test]
    fn folds_case_across_scripts() {
        assert_eq!(fold("Hello WORLD"), "hello world");
        assert_eq!(fold("ÀÉÎ Ωμέγα"), "àéî ωμέγα");
        assert_eq!(fold("中文 Label"), "中文 label");
    }

    #[test]
    fn folds_the_cases_lowercase_misses() {
        assert_eq!(fold("STRASSE"), fold("Straße"));
        assert_eq!(fold("ẞ"), "ss");
        assert_eq!(fold("ΣΑΣ"), fold("σας"));
        assert_eq!(fold("ſ"), "s");
    }
}
