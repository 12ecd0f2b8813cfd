//! The pure core of the worker. This crate does not depend on `worker`, `js-sys`, `web-sys` or
//! `wasm-bindgen`, so nothing here can import the platform: the compiler keeps it pure, and
//! everything below is unit-tested natively with `cargo test`.

pub mod account;
pub mod account_rows;
pub mod admin_session;
pub mod alerts;
pub mod alerts_call;
pub mod assemble;
pub mod budget;
pub mod cache;
pub mod calendar;
pub mod calls;
pub mod config;
pub mod conversation;
pub mod department;
pub mod deployment_call;
pub mod error;
pub mod failover;
pub mod first_token;
pub mod identity;
pub mod jwt;
pub mod key_health_call;
pub mod keypool;
pub mod ledger;
pub mod ledger_store;
pub mod limiter;
pub mod me;
pub mod metering;
pub mod metrics;
pub mod metrics_call;
pub mod otel;
pub mod overview;
pub mod path;
pub mod plan;
pub mod provider;
pub mod redact;
pub mod relay;
pub mod request;
pub mod responses;
pub mod rollup;
pub mod routing;
pub mod tools;
pub mod usage;
pub mod user_call;
