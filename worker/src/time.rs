//! The platform clock. The core never reads time itself: the glue passes `now` in.

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
