//! `POST /v1/responses` over chat-completions upstreams, pure: the request translated into a
//! chat body (`request.rs`, with `input.rs` for the input items and `tools.rs` for tools and
//! formats), chat-completion chunks translated into Responses events and the final response
//! object (`stream.rs`, on top of `object.rs`), and the bounded conversation kept for
//! `previous_response_id` (`stored.rs`). The worker's `responses.rs` is the shell: it runs
//! the translated request down the chat path, so limits, budgets, routing, metering, the
//! ledger and key failover are the chat path's own.

mod input;
mod object;
mod request;
mod stored;
mod stream;
mod tools;

pub use object::{response_id, usage_json, valid_response_id, ResponseHead, Status};
pub use request::{parse_responses_request, ResponsesRequest};
pub use stored::{read_conversation, stored_conversation, MAX_STORED_BYTES, MAX_STORED_RESPONSES};
pub use stream::ResponsesStream;
