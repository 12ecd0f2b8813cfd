//! oachat's chat widget: a drop-in bubble compiled to wasm.
//!
//! `core` is pure Rust (markdown, streaming splitter, highlighter, chat state, the update loop,
//! words) and is tested natively; `app`, `view`, `streaming_view`, `net` and `dom` are the thin
//! web-sys shell around it.
//! The tiny JS loader (`widget/js/loader.js`) draws the bubble and imports this module on
//! first use, then calls [`app::mount`].

pub mod core;

#[cfg(target_arch = "wasm32")]
mod app;
#[cfg(target_arch = "wasm32")]
mod dom;
#[cfg(target_arch = "wasm32")]
mod net;
#[cfg(target_arch = "wasm32")]
mod streaming_view;
#[cfg(target_arch = "wasm32")]
mod view;
