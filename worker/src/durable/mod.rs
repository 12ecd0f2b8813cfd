//! Durable Object shells: each dispatches to the pure core and persists its state.

pub mod account_store;
pub mod alerts_do;
pub mod budget_do;
pub mod client;
pub mod conversation_store;
pub mod key_health_do;
pub mod ledger_outbox;
pub mod metrics_do;
pub mod response_store;
pub mod storage;
pub mod tables;
pub mod user_do;
