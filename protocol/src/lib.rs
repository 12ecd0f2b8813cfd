//! Wire formats shared by the oachat worker and widget. Plain `std` with no dependencies, so the
//! same code builds for wasm32 (both the Worker and the widget) and is tested natively.

pub mod names;
pub mod sse;

pub use names::{CARD_EVENT, CONVERSATION_HEADER, DONE_DATA, REQUEST_ID_HEADER};
pub use sse::{encode_event, encode_event_into, SseEvent, SseParser};
