//! The pure core of the widget: markdown rendering, streaming, highlighting and cards, plus the chat
//! state, the widget's update loop (`state`), stream deltas and reasoning (`delta`, `thinking`),
//! failures, words, settings and the user's quota (`quota`).
//!
//! Nothing under `core/` imports `web_sys`, `js_sys` or `wasm_bindgen`: it is plain Rust,
//! tested natively with `cargo test`.

pub mod cards;
pub mod chat;
pub mod delta;
pub mod failure;
pub mod highlight;
pub mod i18n;
pub mod json;
pub mod markdown;
pub mod page_context;
pub mod quota;
pub mod schema;
pub mod settings;
pub mod state;
pub mod streaming;
pub mod tail_update;
pub mod thinking;
pub mod tool_card;
pub mod tools;
