//! The Unicode category tests comrak calls, without finl_unicode's 47 KB of per-character pages.
//!
//! comrak uses punctuation and symbol (emphasis flanking next to CJK text, autolink ends) and,
//! for heading ids only, letter/mark/number/connector. Punctuation and symbol are exact, from
//! range tables generated from Python's `unicodedata` (`generate_tables.py`; its Unicode version
//! is in `src/tables.rs`, characters added since then read as neither). Letter and mark are
//! approximated by `char::is_alphabetic`, which covers all letters and the marks that are part
//! of words; heading ids are off in the widget, so that approximation is never reached there.

mod tables;

pub mod categories {
    //! `CharacterCategories`: the part of finl_unicode's trait comrak calls.

    use crate::tables::{PUNCTUATION, SYMBOL};

    /// Unicode general-category tests on `char`.
    #[allow(clippy::wrong_self_convention)]
    pub trait CharacterCategories {
        /// Category P: Pc, Pd, Ps, Pe, Pi, Pf, Po.
        fn is_punctuation(self) -> bool;
        /// Category Pc (`_` and its look-alikes).
        fn is_punctuation_connector(self) -> bool;
        /// Category S: Sm, Sc, Sk, So.
        fn is_symbol(self) -> bool;
        /// Approximately category L (see the crate docs).
        fn is_letter(self) -> bool;
        /// Approximately category M: marks are folded into [`is_letter`](Self::is_letter).
        fn is_mark(self) -> bool;
        /// Category N: Nd, Nl, No.
        fn is_number(self) -> bool;
    }

    impl CharacterCategories for char {
        fn is_punctuation(self) -> bool {
            if self.is_ascii() {
                return self.is_ascii_punctuation() && !is_ascii_symbol(self);
            }
            in_ranges(self, &PUNCTUATION)
        }

        fn is_punctuation_connector(self) -> bool {
            matches!(
                self,
                '_' | '\u{203F}' | '\u{2040}' | '\u{2054}' | '\u{FE33}' | '\u{FE34}' | '\u{FE4D}'
                    ..='\u{FE4F}' | '\u{FF3F}'
            )
        }

        fn is_symbol(self) -> bool {
            if self.is_ascii() {
                return is_ascii_symbol(self);
            }
            in_ranges(self, &SYMBOL)
        }

        fn is_letter(self) -> bool {
            self.is_alphabetic()
        }

        fn is_mark(self) -> bool {
            false
        }

        fn is_number(self) -> bool {
            self.is_numeric()
        }
    }

    /// ASCII characters of category S; the rest of ASCII punctuation is category P.
    fn is_ascii_symbol(character: char) -> bool {
        matches!(
            character,
            '$' | '+' | '<' | '=' | '>' | '^' | '`' | '|' | '~'
        )
    }

    fn in_ranges(character: char, ranges: &[(u32, u32)]) -> bool {
        let code = character as u32;
        ranges
            .binary_search_by(|&(first, last)| {
                if last < code {
                    core::cmp::Ordering::Less
                } else if first > code {
                    core::cmp::Ordering::Greater
                } else {
                    core::cmp::Ordering::Equal
                }
            })
            .is_ok()
    }

    #[cfg(test)]
    mod tests {
        use super::CharacterCategories;

        #[test]
        fn ascii_splits_into_punctuation_and_symbols() {
            for character in "!\"#%&'()*,-./:;?@[\\]_{}".chars() {
                assert!(
                    character.is_punctuation() && !character.is_symbol(),
                    "{character}"
                );
            }
            for character in "$+<=>^`|~".chars() {
                assert!(
                    character.is_symbol() && !character.is_punctuation(),
                    "{character}"
                );
            }
            assert!(!'a'.is_punctuation() && !' '.is_symbol());
        }

        #[test]
        fn reads_the_tables_outside_ascii() {
            assert!('。'.is_punctuation() && '「'.is_punctuation() && '—'.is_punctuation());
            assert!('€'.is_symbol() && '→'.is_symbol() && '😀'.is_symbol());
            assert!(!'中'.is_punctuation() && !'中'.is_symbol() && '中'.is_letter());
            assert!('‿'.is_punctuation_connector() && '٣'.is_number());
        }
    }
}
