//! The handlers' error: what the client is told, a [`ProxyError`]. With `From` for the core's
//! error and for the platform's (`worker::Error`, `serde_json::Error`), `?` works in a handler
//! on both; a platform failure becomes `ProxyError::Internal`, and its detail is logged once,
//! here where it is converted, and never sent (`respond.rs` makes the response).
//!
//! Why a type of the shell's own rather than `impl From<worker::Error> for ProxyError`:
//! `ProxyError` is the core's, which cannot depend on `worker`, and here both types are
//! foreign, so the orphan rule forbids that impl.

use oachat_core::error::ProxyError;

pub struct HandlerError(pub ProxyError);

impl From<ProxyError> for HandlerError {
    fn from(error: ProxyError) -> HandlerError {
        HandlerError(error)
    }
}

impl From<worker::Error> for HandlerError {
    fn from(error: worker::Error) -> HandlerError {
        worker::console_error!("oachat: internal error: {error}");
        HandlerError(ProxyError::Internal)
    }
}

impl From<serde_json::Error> for HandlerError {
    fn from(error: serde_json::Error) -> HandlerError {
        worker::console_error!("oachat: internal JSON error: {error}");
        HandlerError(ProxyError::Internal)
    }
}
