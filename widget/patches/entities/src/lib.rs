//! Named character references for comrak's build script, which turns them into the map behind
//! `&name;` in markdown. This stand-in lists HTML 4's 252 names plus XML's `&apos;` (generated
//! by `generate_entities.py`) instead of HTML5's 2,231, saving ~50 KB of wasm.
//!
//! Behaviour difference: an HTML5-only name (`&check;`, `&NotNestedGreaterGreater;`) is shown as
//! typed instead of as its character. The common ones (`&amp;` `&lt;` `&nbsp;` `&copy;` `&mdash;`
//! `&rarr;` `&hellip;`, Greek letters, math and arrows of HTML 4) and numeric references
//! (`&#x2713;`) work as before. Only the forms with `;` are listed: comrak reads no others.
#![no_std]

mod entities;

/// The code point(s) a reference stands for.
#[derive(Debug)]
pub enum Codepoints {
    Single(u32),
    Double(u32, u32),
}

/// One named character reference.
#[derive(Debug)]
pub struct Entity {
    /// `&name;`
    pub entity: &'static str,
    pub codepoints: Codepoints,
    /// What it stands for.
    pub characters: &'static str,
}

pub use entities::ENTITIES;
