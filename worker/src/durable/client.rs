//! The transport of every Durable Object protocol (`oachat_core::calls`): a call is the JSON
//! body of one request to the object, its answer the JSON body of the response. Typed at both
//! ends by [`Ask`]: [`ask`] on the caller's side, [`answer`] in the object's `fetch`.

use oachat_core::calls::Ask;
use worker::{Method, Request, RequestInit, Response, Stub};

/// Sends `call` to the object behind `stub` and reads its answer.
pub async fn ask<C: Ask>(stub: &Stub, call: C) -> worker::Result<C::Answer> {
    let body = serde_json::to_string(&C::Call::from(call))?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    // The object reads only the body; the URL just has to be one.
    let request = Request::new_with_init("https://object/", &init)?;
    let response = stub.fetch_with_request(request).await?;
    crate::body::json(response).await
}

/// Reads the call an object was sent.
pub async fn call<P: serde::de::DeserializeOwned>(req: &mut Request) -> worker::Result<P> {
    crate::body::request_json(req).await
}

/// The object's answer to a call of type `C`.
pub fn answer<C: Ask>(answer: C::Answer) -> worker::Result<Response> {
    Response::from_json(&answer)
}
