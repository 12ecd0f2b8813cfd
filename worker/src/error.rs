//! The handlers' error: what the client is told, a [`ProxyError`], and the id of the request's
//! ledger row when it has one. With `From` for the core's error and for the platform's
//! (`worker::Error`, `serde_json::Error`), `?` works in a handler on both; a platform failure
//! becomes `ProxyError::Internal`, and its detail is logged once, here where it is converted,
//! and never sent. `routes.rs` turns every one of them into a response (`respond.rs`).
//!
//! Why a type of the shell's own rather than `impl From<worker::Error> for ProxyError`:
//! `ProxyError` is the core's, which cannot depend on `worker`, and here both types are
//! foreign, so the orphan rule forbids that impl.

use oachat_core::error::ProxyError;

pub struct HandlerError {
    pub error: ProxyError,
    /// The request's id (`x-request-id`) once it has been planned: a failure after that has a
    /// ledger row under this id, for whoever has to look into it.
    pub request_id: Option<String>,
}

impl HandlerError {
    /// The error of the request named `request_id`.
    pub fn of_request(error: ProxyError, request_id: &str) -> HandlerError {
        HandlerError {
            error,
            request_id: Some(request_id.to_string()),
        }
    }
}

impl From<ProxyError> for HandlerError {
    fn from(error: ProxyError) -> HandlerError {
        HandlerError {
            error,
            request_id: None,
        }
    }
}

impl From<worker::Error> for HandlerError {
    fn from(error: worker::Error) -> HandlerError {
        internal(error).into()
    }
}

impl From<serde_json::Error> for HandlerError {
    fn from(error: serde_json::Error) -> HandlerError {
        internal(error).into()
    }
}

/// A platform failure where a function answers with the core's error: its detail is logged
/// (never sent) and the client is told `ProxyError::Internal`. `map_err(internal)`.
pub fn internal(error: impl std::fmt::Display) -> ProxyError {
    worker::console_error!("oachat: internal error: {error}");
    ProxyError::Internal
}
