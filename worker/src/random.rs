//! Randomness from the platform's CSPRNG (`crypto.getRandomValues`), for ids and keys.

use wasm_bindgen::{JsCast, JsValue};

/// `bytes` random bytes as lowercase hex.
pub fn hex(bytes: usize) -> String {
    let buffer = js_sys::Uint8Array::new_with_length(bytes as u32);
    let filled = js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .ok()
        .and_then(|crypto| {
            let get = js_sys::Reflect::get(&crypto, &JsValue::from_str("getRandomValues")).ok()?;
            let get: js_sys::Function = get.dyn_into().ok()?;
            get.call1(&crypto, &buffer).ok()
        });
    if filled.is_none() {
        // Workers always have crypto; refuse to hand out predictable ids if that ever changes.
        wasm_bindgen::throw_str("crypto.getRandomValues is unavailable");
    }
    buffer.to_vec().iter().map(|b| format!("{b:02x}")).collect()
}
