//! Language specs for the generic tokenizer, and the alias table.
//!
//! Keyword lists are single space-separated strings rather than slices of `&str`: every slice
//! entry costs a pointer and a length in the wasm data section, one string costs one. Lookups
//! split on demand, which is fast enough for the few thousand identifiers of a code block.

/// How one language is tokenized: which words are keywords, how comments and strings look.
pub(crate) struct Spec {
    /// Space-separated keyword lists (several, so C++ can reuse C's list).
    pub keywords: &'static [&'static str],
    /// Space-separated builtin types and constants.
    pub types: &'static [&'static str],
    pub line_comments: &'static [&'static str],
    pub block_comment: Option<(&'static str, &'static str)>,
    /// Bytes that open and close a string.
    pub quotes: &'static [u8],
    /// The subset of `quotes` whose strings may span lines (JS template strings, Go raw strings).
    pub multiline_quotes: &'static [u8],
    /// Extra identifier bytes besides `[A-Za-z0-9_]` (`$` in PHP and JS, `-` in CSS).
    pub identifier_extras: &'static [u8],
    /// A sigil directly followed by an identifier is a keyword: `#include`, `@media`, `@Override`.
    pub sigils: &'static [u8],
    pub flags: u16,
}

impl Spec {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }
}

/// Keywords match regardless of ASCII case (SQL, PHP).
pub(crate) const CASE_INSENSITIVE: u16 = 1;
/// Identifiers starting with an uppercase letter are types (classes, enums).
pub(crate) const CAPITALIZED_TYPES: u16 = 1 << 1;
/// `'a` is a lifetime, not an unterminated char literal (Rust).
pub(crate) const LIFETIMES: u16 = 1 << 2;
/// `"""` and `'''` strings (Python, Kotlin, Swift, TOML).
pub(crate) const TRIPLE_QUOTES: u16 = 1 << 3;
/// `#` starts a comment only at the start of a word (shells, YAML).
pub(crate) const HASH_COMMENT_AFTER_SPACE: u16 = 1 << 4;
/// `word:` followed by a space or line end is a key (YAML).
pub(crate) const COLON_KEYS: u16 = 1 << 5;
/// `#fff` is a colour literal (CSS).
pub(crate) const HEX_COLORS: u16 = 1 << 6;
/// `name!(` is a macro call (Rust).
pub(crate) const MACRO_BANG: u16 = 1 << 7;

pub(crate) enum Syntax {
    Generic(&'static Spec),
    Markup,
}

/// Finds the syntax for a fence info word, ignoring ASCII case.
pub(crate) fn lookup(lang: &str) -> Option<Syntax> {
    let lang = lang.to_ascii_lowercase();
    let spec = match lang.as_str() {
        "rust" | "rs" => &RUST,
        "javascript" | "js" | "jsx" | "mjs" | "cjs" | "node" => &JAVASCRIPT,
        "typescript" | "ts" | "tsx" | "mts" => &TYPESCRIPT,
        "python" | "py" | "python3" | "py3" => &PYTHON,
        "java" => &JAVA,
        "go" | "golang" => &GO,
        "c" => &C,
        "cpp" | "c++" | "cc" | "cxx" | "h" | "hpp" | "hxx" => &CPP,
        "csharp" | "cs" | "c#" => &CSHARP,
        "php" => &PHP,
        "sql" | "mysql" | "postgresql" | "postgres" | "psql" | "sqlite" | "plsql" => &SQL,
        "bash" | "sh" | "shell" | "zsh" | "console" | "shellsession" | "terminal" => &BASH,
        "json" | "jsonc" | "json5" => &JSON,
        "yaml" | "yml" => &YAML,
        "toml" => &TOML,
        "css" | "scss" | "less" | "sass" => &CSS,
        "kotlin" | "kt" | "kts" => &KOTLIN,
        "swift" => &SWIFT,
        "ruby" | "rb" => &RUBY,
        "html" | "htm" | "xhtml" | "xml" | "svg" | "vue" => return Some(Syntax::Markup),
        _ => return None,
    };
    Some(Syntax::Generic(spec))
}

pub(crate) fn contains_word(lists: &[&str], word: &str, case_insensitive: bool) -> bool {
    lists
        .iter()
        .flat_map(|list| list.split(' '))
        .any(|candidate| {
            if case_insensitive {
                candidate.eq_ignore_ascii_case(word)
            } else {
                candidate == word
            }
        })
}

/// Comment and string conventions shared by the C family.
const C_LINE: &[&str] = &["//"];
const C_BLOCK: Option<(&str, &str)> = Some(("/*", "*/"));

const RUST: Spec = Spec {
    keywords: &["as async await break const continue crate dyn else enum extern false fn for if impl in let loop \
                 match mod move mut pub ref return self Self static struct super trait true type unsafe use where \
                 while yield macro_rules"],
    types: &["bool char str u8 u16 u32 u64 u128 usize i8 i16 i32 i64 i128 isize f32 f64"],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"\"",
    identifier_extras: b"",
    sigils: b"#",
    flags: CAPITALIZED_TYPES | LIFETIMES | MACRO_BANG,
};

const JS_KEYWORDS: &str = "async await break case catch class const continue debugger default delete do else \
                           export extends false finally for from function get if import in instanceof let new \
                           null of return set static super switch this throw true try typeof undefined var void \
                           while with yield";

const JAVASCRIPT: Spec = Spec {
    keywords: &[JS_KEYWORDS],
    types: &["console document window globalThis"],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'`",
    multiline_quotes: b"`",
    identifier_extras: b"$",
    sigils: b"@",
    flags: CAPITALIZED_TYPES,
};

const TYPESCRIPT: Spec = Spec {
    keywords: &[
        JS_KEYWORDS,
        "abstract as declare enum implements infer interface is keyof namespace private protected public \
         readonly satisfies type unique",
    ],
    types: &["any bigint boolean never number object string symbol unknown console document window"],
    ..JAVASCRIPT
};

const PYTHON: Spec = Spec {
    keywords: &["False None True and as assert async await break case class continue def del elif else except \
                 finally for from global if import in is lambda match nonlocal not or pass raise return self try \
                 while with yield"],
    types: &["bool bytes dict float int list object set str tuple type"],
    line_comments: &["#"],
    block_comment: None,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"",
    sigils: b"@",
    flags: CAPITALIZED_TYPES | TRIPLE_QUOTES,
};

const JAVA: Spec = Spec {
    keywords: &["abstract assert boolean break byte case catch char class const continue default do double else \
                 enum extends false final finally float for goto if implements import instanceof int interface \
                 long native new null package permits private protected public record return sealed short \
                 static strictfp super switch synchronized this throw throws transient true try var void \
                 volatile while yield"],
    types: &[],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"$",
    sigils: b"@",
    flags: CAPITALIZED_TYPES | TRIPLE_QUOTES,
};

const GO: Spec = Spec {
    keywords: &["break case chan const continue default defer else fallthrough false for func go goto if \
                 import interface iota map nil package range return select struct switch true type var"],
    types: &["any bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64 rune string \
              uint uint8 uint16 uint32 uint64 uintptr"],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'`",
    multiline_quotes: b"`",
    identifier_extras: b"",
    sigils: b"",
    flags: 0,
};

const C_KEYWORDS: &str = "auto bool break case char const continue default do double else enum extern false \
                          float for goto if inline int long register restrict return short signed sizeof static \
                          struct switch true typedef union unsigned void volatile while NULL";
const C_TYPES: &str =
    "size_t ssize_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t \
                       uintptr_t FILE";

const C: Spec = Spec {
    keywords: &[C_KEYWORDS],
    types: &[C_TYPES],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"",
    sigils: b"#",
    flags: 0,
};

const CPP: Spec = Spec {
    keywords: &[
        C_KEYWORDS,
        "alignas alignof and catch class concept consteval constexpr constinit const_cast co_await co_return \
         co_yield decltype delete dynamic_cast explicit export final friend mutable namespace new noexcept not \
         nullptr operator or override private protected public reinterpret_cast requires static_assert \
         static_cast template this thread_local throw try typeid typename using virtual",
    ],
    types: &[C_TYPES, "std string vector"],
    ..C
};

const CSHARP: Spec = Spec {
    keywords: &["abstract as async await base bool break byte case catch char checked class const continue \
                 decimal default delegate do double else enum event explicit extern false finally fixed float \
                 for foreach get goto if implicit in init int interface internal is lock long namespace nameof \
                 new null object operator out override params private protected public readonly record ref \
                 return sbyte sealed set short sizeof stackalloc static string struct switch this throw true try \
                 typeof uint ulong unchecked unsafe ushort using var virtual void volatile where while yield"],
    types: &[],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"",
    sigils: b"#",
    flags: CAPITALIZED_TYPES,
};

const PHP: Spec = Spec {
    keywords: &["abstract and array as break callable case catch class clone const continue declare default do \
                 echo else elseif empty endforeach endif endwhile enum extends false final finally fn for \
                 foreach function global if implements include include_once instanceof interface isset list \
                 match namespace new null or parent print private protected public readonly require \
                 require_once return self static switch throw trait true try unset use var while xor yield"],
    types: &["bool int float string mixed void"],
    line_comments: &["//", "#"],
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"\"'",
    identifier_extras: b"$",
    sigils: b"",
    flags: CASE_INSENSITIVE,
};

const SQL: Spec = Spec {
    keywords: &["add all alter and as asc begin between by cascade case check column commit constraint create \
                 cross default delete desc distinct drop else end exists foreign from full grant group having if \
                 in index inner insert into is join key left like limit not null offset on or order outer primary \
                 references replace returning revoke right rollback select set table then transaction truncate \
                 union unique update values view when where with"],
    types: &["bigint blob bool boolean char date decimal double float int integer json jsonb numeric real serial \
              smallint text timestamp timestamptz uuid varchar true false"],
    line_comments: &["--"],
    block_comment: C_BLOCK,
    quotes: b"'\"",
    multiline_quotes: b"'",
    identifier_extras: b"",
    sigils: b"",
    flags: CASE_INSENSITIVE,
};

const BASH: Spec = Spec {
    keywords: &[
        "if then else elif fi for while until do done case esac in function return local export \
                 readonly declare unset break continue exit select time",
    ],
    types: &[],
    line_comments: &["#"],
    block_comment: None,
    quotes: b"\"'",
    multiline_quotes: b"\"'",
    identifier_extras: b"",
    sigils: b"",
    flags: HASH_COMMENT_AFTER_SPACE,
};

const JSON: Spec = Spec {
    keywords: &["true false null"],
    types: &[],
    // JSON has no comments; accepting them costs nothing and covers JSONC and JSON5.
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"",
    multiline_quotes: b"",
    identifier_extras: b"",
    sigils: b"",
    flags: 0,
};

const YAML: Spec = Spec {
    keywords: &["true false null yes no True False Null"],
    types: &[],
    line_comments: &["#"],
    block_comment: None,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"-.",
    sigils: b"",
    flags: HASH_COMMENT_AFTER_SPACE | COLON_KEYS,
};

const TOML: Spec = Spec {
    keywords: &["true false"],
    types: &[],
    line_comments: &["#"],
    block_comment: None,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"-",
    sigils: b"",
    flags: TRIPLE_QUOTES,
};

const CSS: Spec = Spec {
    keywords: &[],
    types: &[],
    line_comments: &[],
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"-",
    // `@media`, `@import`, and `!important`.
    sigils: b"@!",
    flags: HEX_COLORS,
};

const KOTLIN: Spec = Spec {
    keywords: &["abstract as break by catch class companion const constructor continue data do else enum false \
                 final finally for fun if import in init inline inner interface internal is lateinit null \
                 object open operator out override package private protected public return sealed super suspend \
                 this throw true try typealias val var vararg when where while"],
    types: &[],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"'",
    multiline_quotes: b"",
    identifier_extras: b"",
    sigils: b"@",
    flags: CAPITALIZED_TYPES | TRIPLE_QUOTES,
};

const SWIFT: Spec = Spec {
    keywords: &["any as associatedtype async await break case catch class continue default defer deinit do \
                 else enum extension fallthrough false fileprivate for func guard if import in init inout \
                 internal is let nil open operator private protocol public repeat rethrows return self Self \
                 some static struct subscript super switch throw throws true try var where while"],
    types: &[],
    line_comments: C_LINE,
    block_comment: C_BLOCK,
    quotes: b"\"",
    multiline_quotes: b"",
    identifier_extras: b"",
    sigils: b"@#",
    flags: CAPITALIZED_TYPES | TRIPLE_QUOTES,
};

const RUBY: Spec = Spec {
    keywords: &["alias and begin break case class def do else elsif end ensure false for if in module next nil \
                 not or redo require rescue retry return self super then true undef unless until when while \
                 yield"],
    types: &[],
    line_comments: &["#"],
    block_comment: None,
    quotes: b"\"'",
    multiline_quotes: b"\"'",
    identifier_extras: b"",
    sigils: b"",
    flags: CAPITALIZED_TYPES,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_lists_have_single_spaces_only() {
        // A missing space before a `\` line continuation would glue two keywords together, and a
        // doubled space would add an empty "keyword".
        let specs = [
            &RUST,
            &JAVASCRIPT,
            &TYPESCRIPT,
            &PYTHON,
            &JAVA,
            &GO,
            &C,
            &CPP,
            &CSHARP,
            &PHP,
            &SQL,
            &BASH,
            &JSON,
            &YAML,
            &TOML,
            &CSS,
            &KOTLIN,
            &SWIFT,
            &RUBY,
        ];
        for spec in specs {
            for list in spec.keywords.iter().chain(spec.types) {
                assert!(list.split(' ').all(|word| !word.is_empty()), "{list:?}");
                assert!(
                    list.split(' ').all(|word| word.len() < 20),
                    "glued words in {list:?}"
                );
            }
        }
        assert!(contains_word(RUST.keywords, "macro_rules", false));
        assert!(contains_word(SQL.keywords, "SeLeCt", true));
    }
}
