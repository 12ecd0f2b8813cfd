//! Minifies src/panel.css into OUT_DIR for `include_str!`: the stylesheet ships inside the wasm,
//! and its comments and indentation cost ~0.7 KiB gzip there. Only whitespace around `{` `}` `;`
//! `,` and comments are removed, so selectors and values (quoted font names, `calc(a - b)`)
//! read exactly as written.
use std::{env, fs, path::Path};

fn main() {
    println!("cargo:rerun-if-changed=src/panel.css");
    let css = fs::read_to_string("src/panel.css").expect("src/panel.css is part of the crate");
    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("panel.min.css");
    fs::write(out, minify(&css)).expect("OUT_DIR is writable");
}

fn minify(css: &str) -> String {
    let mut without_comments = String::with_capacity(css.len());
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        without_comments.push_str(&rest[..start]);
        rest = rest[start + 2..]
            .find("*/")
            .map_or("", |end| &rest[start + 2 + end + 2..]);
    }
    without_comments.push_str(rest);
    let mut minified = String::with_capacity(without_comments.len());
    for word in without_comments.split_whitespace() {
        let joins = minified.ends_with(['{', '}', ';', ',']) || word.starts_with(['{', '}']);
        if !minified.is_empty() && !joins {
            minified.push(' ');
        }
        minified.push_str(word);
    }
    minified.replace(";}", "}")
}
