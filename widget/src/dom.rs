//! Small owned wrappers over web-sys: element building, listeners that remove
//! themselves on drop, and timers that cancel on drop.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{Document, Element, Event, EventTarget};

pub fn window() -> web_sys::Window {
    web_sys::window().expect_throw_msg("oachat needs a window")
}

pub fn document() -> Document {
    window()
        .document()
        .expect_throw_msg("oachat needs a document")
}

/// `expect` with a message that says which assumption broke (no meaningless "failed").
trait ExpectThrow<T> {
    fn expect_throw_msg(self, message: &str) -> T;
}

impl<T> ExpectThrow<T> for Option<T> {
    fn expect_throw_msg(self, message: &str) -> T {
        match self {
            Some(value) => value,
            None => wasm_bindgen::throw_str(message),
        }
    }
}

/// Creates `<tag class="...">`, or a plain div when the tag name is refused (never in practice).
pub fn el(tag: &str, class: &str) -> Element {
    let element = document()
        .create_element(tag)
        .unwrap_or_else(|_| wasm_bindgen::throw_str("createElement failed"));
    if !class.is_empty() {
        element.set_class_name(class);
    }
    element
}

/// Sets attributes, ignoring the (impossible for valid names) error.
pub fn attrs(element: &Element, pairs: &[(&str, &str)]) {
    for (name, value) in pairs {
        let _ = element.set_attribute(name, value);
    }
}

/// An event listener that is removed from its target when dropped (gloo's pattern),
/// so a destroyed widget leaves nothing attached to the host page.
pub struct Listener {
    target: EventTarget,
    kind: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl Listener {
    pub fn new(
        target: &EventTarget,
        kind: &'static str,
        handler: impl FnMut(Event) + 'static,
    ) -> Listener {
        let callback = Closure::wrap(Box::new(handler) as Box<dyn FnMut(Event)>);
        let _ = target.add_event_listener_with_callback(kind, callback.as_ref().unchecked_ref());
        Listener {
            target: target.clone(),
            kind,
            callback,
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self
            .target
            .remove_event_listener_with_callback(self.kind, self.callback.as_ref().unchecked_ref());
    }
}

/// A one-shot `setTimeout` that is cleared when dropped.
pub struct Timeout {
    handle: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Timeout {
    pub fn new(millis: i32, handler: impl FnMut() + 'static) -> Timeout {
        let callback = Closure::wrap(Box::new(handler) as Box<dyn FnMut()>);
        let handle = window()
            .set_timeout_with_callback_and_timeout_and_arguments_0(
                callback.as_ref().unchecked_ref(),
                millis,
            )
            .unwrap_or(0);
        Timeout {
            handle,
            _callback: callback,
        }
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        window().clear_timeout_with_handle(self.handle);
    }
}

/// Runs `handler` once after `millis`, for fire-and-forget UI touches (a "Copied" label).
/// The closure frees itself after it runs, so nothing leaks.
pub fn after(millis: i32, handler: impl FnOnce() + 'static) {
    let callback = Closure::once_into_js(handler);
    let _ = window()
        .set_timeout_with_callback_and_timeout_and_arguments_0(callback.unchecked_ref(), millis);
}

/// A promise that resolves after `millis` (a `setTimeout`), to race another promise against.
pub fn delay(millis: i32) -> js_sys::Promise {
    js_sys::Promise::new(&mut |resolve, _reject| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, millis);
    })
}

/// A pending `requestAnimationFrame`, cancelled when dropped.
pub struct AnimationFrame {
    handle: i32,
    _callback: Closure<dyn FnMut()>,
}

impl AnimationFrame {
    pub fn new(handler: impl FnMut() + 'static) -> AnimationFrame {
        let callback = Closure::wrap(Box::new(handler) as Box<dyn FnMut()>);
        let handle = window()
            .request_animation_frame(callback.as_ref().unchecked_ref())
            .unwrap_or(0);
        AnimationFrame {
            handle,
            _callback: callback,
        }
    }
}

impl Drop for AnimationFrame {
    fn drop(&mut self) {
        let _ = window().cancel_animation_frame(self.handle);
    }
}

/// Reads a string property of a JS object (config objects from the host page).
pub fn prop_string(object: &JsValue, key: &str) -> Option<String> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()
        .and_then(|value| {
            value
                .as_string()
                // Numbers (`zIndex: 77`) print through JS: Rust's float printer is big in wasm.
                .or_else(|| {
                    value
                        .as_f64()
                        .and_then(|n| js_sys::Number::from(n).to_string_with_radix(10).ok())
                        .map(String::from)
                })
        })
        .filter(|s| !s.is_empty())
}

/// Reads a property as a JS value, `None` for undefined/null.
pub fn prop(object: &JsValue, key: &str) -> Option<JsValue> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()
        .filter(|value| !value.is_undefined() && !value.is_null())
}

/// Calls `object[method](args...)`, ignoring a missing method.
pub fn call_method(object: &JsValue, method: &str, args: &[JsValue]) -> Option<JsValue> {
    let function = prop(object, method)?.dyn_into::<js_sys::Function>().ok()?;
    let array = js_sys::Array::new();
    for arg in args {
        array.push(arg);
    }
    function.apply(object, &array).ok()
}

/// Adopts a stylesheet into a shadow root (works under a strict style-src CSP),
/// falling back to a `<style>` element on browsers without constructable sheets.
pub fn adopt_css(root: &web_sys::ShadowRoot, css: &str) {
    let adopted = (|| -> Option<()> {
        let constructor = prop(&js_sys::global(), "CSSStyleSheet")?;
        let sheet = js_sys::Reflect::construct(
            constructor.unchecked_ref::<js_sys::Function>(),
            &js_sys::Array::new(),
        )
        .ok()?;
        call_method(&sheet, "replaceSync", &[JsValue::from_str(css)])?;
        let current = prop(root, "adoptedStyleSheets")?
            .dyn_into::<js_sys::Array>()
            .ok()?;
        let next = current.concat(&js_sys::Array::of1(&sheet));
        js_sys::Reflect::set(root, &JsValue::from_str("adoptedStyleSheets"), &next).ok()?;
        Some(())
    })();
    if adopted.is_none() {
        let style = el("style", "");
        style.set_text_content(Some(css));
        let _ = root.append_child(&style);
    }
}
