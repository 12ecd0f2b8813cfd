//! Durable Object shells: each dispatches to the pure core and persists its state.

pub mod account_store;
pub mod budget_do;
pub mod conversation_store;
pub mod key_health_do;
pub mod ledger_outbox;
pub mod storage;
pub mod user_do;
