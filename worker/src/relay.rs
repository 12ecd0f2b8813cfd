//! The streaming relay's platform shell: upstream SSE bytes in, client SSE bytes out, metered
//! on the way by [`RelayCore`].
//!
//! The client's body is the readable side of workerd's `IdentityTransformStream`, a native
//! byte stream: the runtime sends what the pump writes without calling back into JS or wasm
//! per chunk (a body built from a Rust `Stream` costs a JS-backed pull per chunk).
//!
//! The pump is driven by promise callbacks, not by an async Rust loop: each upstream read
//! resolves straight into [`Pump::on_read`], which feeds the core synchronously and writes.
//! An async loop would add a trip through the futures executor (a microtask, a waker, a task
//! poll) for every read and every write; at 500 events per answer that was most of the
//! relay's CPU. At most one write is in flight: output produced meanwhile is appended and
//! goes out with the next write, so a client slower than the upstream gets fewer, larger
//! writes while the first event still leaves at once. Reading pauses while more than
//! [`MAX_PENDING_BYTES`] wait, so a slow client cannot make the relay buffer an answer.
//!
//! The pump's end is awaited in the request's `wait_until`, so the ledger row is written
//! after the last byte even though the response was handed back long before. When the client
//! goes away, its side of the stream errors; the pump cancels the upstream body, which aborts
//! the upstream fetch: tokens stop being generated when nobody is reading.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures_channel::oneshot;
use js_sys::{Function, Promise, Reflect, Uint8Array};
use oachat_core::ledger::Ending;
use oachat_core::metering::StreamMeter;
use oachat_core::relay::RelayCore;
use oachat_core::responses::ResponsesStream;
use wasm_bindgen::prelude::*;
use web_sys::{ReadableStream, ReadableStreamDefaultReader, WritableStreamDefaultWriter};

use crate::relay_native::NativeRelay;
use crate::upstream_body::UpstreamBody;

use crate::time::now_ms;

/// Output waiting for the client above which the pump stops reading the upstream.
const MAX_PENDING_BYTES: usize = 64 * 1024;

#[wasm_bindgen]
extern "C" {
    /// workerd's pass-through byte stream (a Workers runtime global).
    #[wasm_bindgen(extends = web_sys::TransformStream)]
    pub(crate) type IdentityTransformStream;

    #[wasm_bindgen(constructor, catch)]
    pub(crate) fn new() -> Result<IdentityTransformStream, JsValue>;
}

/// How a relayed stream ended, with its meter.
pub struct RelayEnd {
    pub ending: Ending,
    pub meter: StreamMeter,
    /// The Responses translator, when the client asked `/v1/responses`: the answer it gave.
    pub responses_stream: Option<ResponsesStream>,
    /// When the first event reached the client (ms since epoch), if any did.
    pub first_event_ms: Option<u64>,
    pub ended_ms: u64,
}

/// A running relay: answer with [`Relay::client_body`], and await [`Relay::finished`] (in
/// `wait_until`) for how it ended. A stream the client gets unchanged is passed through
/// natively (`relay_native.rs`); any other is pumped through the core chunk by chunk.
pub enum Relay {
    Pumped(Pumped),
    /// Boxed: it holds the core until the end, the pump's own state lives behind an `Rc`.
    Native(Box<NativeRelay>),
}

impl Relay {
    /// Starts moving `upstream` (what the first-token wait read, then the rest) through
    /// `core` into a new client body; natively when `native` allows it and the core
    /// forwards the stream unchanged.
    pub fn start(upstream: UpstreamBody, core: RelayCore, native: bool) -> Result<Relay, JsValue> {
        if native {
            return NativeRelay::start(upstream, core)
                .map(|native| Relay::Native(Box::new(native)));
        }
        Pumped::start(upstream, core).map(Relay::Pumped)
    }

    /// The body to answer with.
    pub fn client_body(&self) -> ReadableStream {
        match self {
            Relay::Pumped(pumped) => pumped.readable.clone(),
            Relay::Native(native) => native.client_body(),
        }
    }

    /// Resolves when the stream ended, broke, or the client went away.
    pub async fn finished(self) -> RelayEnd {
        match self {
            Relay::Pumped(pumped) => pumped.finished().await,
            Relay::Native(native) => native.finished().await,
        }
    }
}

/// The pump: every upstream chunk goes through the core on its way to the client.
pub struct Pumped {
    readable: ReadableStream,
    ended: oneshot::Receiver<RelayEnd>,
    /// The callbacks the promises call; owned here so they live exactly as long as the relay
    /// is awaited (they hold the pump only weakly).
    _callbacks: Callbacks,
    _pump: Rc<RefCell<Pump>>,
}

impl Pumped {
    fn start(upstream: UpstreamBody, mut core: RelayCore) -> Result<Pumped, JsValue> {
        let pass = IdentityTransformStream::new()?;
        let writer = pass.writable().get_writer()?;
        let UpstreamBody { reader, prefix, .. } = upstream;
        let first = core.push(&prefix);
        let (report, ended) = oneshot::channel();
        let pump = Rc::new(RefCell::new(Pump {
            reader,
            writer,
            core: Some(core),
            report: Some(report),
            first_event_ms: None,
            pending: Vec::new(),
            writing: false,
            reading: false,
            upstream_ended: None,
            functions: None,
        }));
        let callbacks = Callbacks::new(&pump);
        {
            let mut pump = pump.borrow_mut();
            let functions = callbacks.functions();
            // A client that goes away while the pump waits for the upstream is noticed here.
            let _ = then(
                &pump.writer.closed(),
                &JsValue::UNDEFINED,
                &functions.client_gone,
            );
            pump.functions = Some(functions);
            pump.queue(first.as_bytes());
            pump.flush();
            pump.read();
        }
        Ok(Pumped {
            readable: pass.readable(),
            ended,
            _callbacks: callbacks,
            _pump: pump,
        })
    }

    async fn finished(self) -> RelayEnd {
        let Pumped {
            ended,
            _pump,
            _callbacks,
            ..
        } = self;
        // `_callbacks` must outlive every promise that may still call them: held to the end.
        let end = ended.await;
        drop(_callbacks);
        match end {
            Ok(end) => end,
            // Unreachable while `_pump` holds the sender; a bug here must not lose the meter.
            Err(_) => {
                let (meter, responses_stream) = _pump
                    .borrow_mut()
                    .core
                    .take()
                    .map(RelayCore::into_parts)
                    .unwrap_or_else(|| (StreamMeter::new(false), None));
                RelayEnd {
                    ending: Ending::ClientAborted,
                    meter,
                    responses_stream,
                    first_event_ms: None,
                    ended_ms: now_ms(),
                }
            }
        }
    }
}

/// The JS functions of the relay's callbacks, cloned into the pump to pass to `then`.
#[derive(Clone)]
struct Functions {
    read: Function,
    read_failed: Function,
    written: Function,
    client_gone: Function,
}

struct Callbacks {
    read: Closure<dyn FnMut(JsValue)>,
    read_failed: Closure<dyn FnMut(JsValue)>,
    written: Closure<dyn FnMut(JsValue)>,
    client_gone: Closure<dyn FnMut(JsValue)>,
}

impl Callbacks {
    fn new(pump: &Rc<RefCell<Pump>>) -> Callbacks {
        let on = |handler: fn(&mut Pump, JsValue)| {
            let pump: Weak<RefCell<Pump>> = Rc::downgrade(pump);
            Closure::new(move |value: JsValue| {
                if let Some(pump) = pump.upgrade() {
                    handler(&mut pump.borrow_mut(), value);
                }
            })
        };
        Callbacks {
            read: on(Pump::on_read),
            read_failed: on(Pump::on_read_failed),
            written: on(Pump::on_written),
            client_gone: on(Pump::on_client_gone),
        }
    }

    fn functions(&self) -> Functions {
        let function = |closure: &Closure<dyn FnMut(JsValue)>| -> Function {
            closure.as_ref().clone().unchecked_into()
        };
        Functions {
            read: function(&self.read),
            read_failed: function(&self.read_failed),
            written: function(&self.written),
            client_gone: function(&self.client_gone),
        }
    }
}

struct Pump {
    reader: ReadableStreamDefaultReader,
    writer: WritableStreamDefaultWriter,
    /// `None` once the end was reported.
    core: Option<RelayCore>,
    report: Option<oneshot::Sender<RelayEnd>>,
    first_event_ms: Option<u64>,
    /// Output produced while a write was in flight.
    pending: Vec<u8>,
    writing: bool,
    reading: bool,
    /// Set when the upstream is done; the end is reported once `pending` is written.
    upstream_ended: Option<Ending>,
    functions: Option<Functions>,
}

impl Pump {
    /// Asks the upstream for the next chunk, unless a read is out, the upstream is done, or the
    /// client is too far behind (the next write's completion asks again).
    fn read(&mut self) {
        let Some(functions) = &self.functions else {
            return;
        };
        if self.reading
            || self.upstream_ended.is_some()
            || self.report.is_none()
            || self.pending.len() > MAX_PENDING_BYTES
        {
            return;
        }
        self.reading = true;
        let _ = then(&self.reader.read(), &functions.read, &functions.read_failed);
    }

    fn on_read(&mut self, result: JsValue) {
        self.reading = false;
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let done = KEYS
            .with(|keys| Reflect::get(&result, &keys.done))
            .map(|done| done.is_truthy())
            .unwrap_or(true);
        if done {
            let out = core.finish();
            let ending = if core.completed() {
                Ending::Completed
            } else {
                Ending::UpstreamCut
            };
            self.queue(out.as_bytes());
            self.upstream_ended = Some(ending);
            self.flush();
            return;
        }
        let value = KEYS
            .with(|keys| Reflect::get(&result, &keys.value))
            .unwrap_or_default();
        if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
            let out = core.push(&bytes.to_vec());
            self.queue(out.as_bytes());
            self.flush();
        }
        self.read();
    }

    /// The upstream connection broke. After the usage chunk that is only a lost `[DONE]`;
    /// before it, the client's stream ends with an error event after what arrived, and the
    /// ledger records the cut (`RelayCore::break_off` says what the client gets either way).
    fn on_read_failed(&mut self, _error: JsValue) {
        self.reading = false;
        let Some(core) = self.core.as_mut() else {
            return;
        };
        let ending = if core.completed() {
            Ending::Completed
        } else {
            Ending::UpstreamCut
        };
        let ending_events = core.break_off();
        self.queue(ending_events.as_bytes());
        self.upstream_ended = Some(ending);
        self.flush();
    }

    fn on_written(&mut self, _: JsValue) {
        self.writing = false;
        self.flush();
        self.read();
    }

    fn on_client_gone(&mut self, _: JsValue) {
        self.writing = false;
        self.pending.clear();
        if self.upstream_ended.is_none() {
            let _ = self.reader.cancel();
        }
        self.report(Ending::ClientAborted);
    }

    fn queue(&mut self, out: &[u8]) {
        if out.is_empty() {
            return;
        }
        if self.first_event_ms.is_none() {
            self.first_event_ms = Some(now_ms());
        }
        self.pending.extend_from_slice(out);
    }

    /// Writes what is pending unless a write is in flight; reports the end once the upstream
    /// is done and everything went out.
    fn flush(&mut self) {
        if self.writing || self.report.is_none() {
            return;
        }
        if !self.pending.is_empty() {
            let Some(functions) = &self.functions else {
                return;
            };
            let chunk = Uint8Array::from(self.pending.as_slice());
            self.pending.clear();
            self.writing = true;
            let _ = then(
                &self.writer.write_with_chunk(&chunk),
                &functions.written,
                &functions.client_gone,
            );
            return;
        }
        if let Some(ending) = self.upstream_ended {
            if let Some(functions) = &self.functions {
                // Closing fails only when the client is already gone; the end is the same.
                let _ = then(
                    &self.writer.close(),
                    &JsValue::UNDEFINED,
                    &functions.client_gone,
                );
            }
            self.report(ending);
        }
    }

    fn report(&mut self, ending: Ending) {
        if let (Some(report), Some(core)) = (self.report.take(), self.core.take()) {
            let (meter, responses_stream) = core.into_parts();
            let _ = report.send(RelayEnd {
                ending,
                meter,
                responses_stream,
                first_event_ms: self.first_event_ms,
                ended_ms: now_ms(),
            });
        }
        // Nothing calls back into the pump after this; let the callbacks go with the relay.
        self.functions = None;
    }
}

/// Property names read per chunk, created once rather than per read.
struct Keys {
    done: JsValue,
    value: JsValue,
}

thread_local! {
    static KEYS: Keys = Keys {
        done: JsValue::from_str("done"),
        value: JsValue::from_str("value"),
    };
}

#[wasm_bindgen]
extern "C" {
    /// A promise whose `then` takes plain functions (js-sys's takes closures only).
    #[wasm_bindgen(extends = Promise)]
    type Then;

    #[wasm_bindgen(method, js_name = then)]
    fn then_functions(this: &Then, resolve: &JsValue, reject: &Function) -> Promise;
}

/// `promise.then(resolve, reject)`; `resolve` may be `undefined`.
fn then(promise: &Promise, resolve: &JsValue, reject: &Function) -> Promise {
    promise
        .unchecked_ref::<Then>()
        .then_functions(resolve, reject)
}
