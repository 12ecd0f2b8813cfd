//! The admin console's files, served by the worker itself under `/admin` (not from the static
//! assets): so the page gets its own strict CSP, lives under the session cookie's
//! `Path=/admin`, and never ships with the widget. They are small (the page, one ES module,
//! one stylesheet, and uPlot for the charts); their URLs carry a version so they can be cached.

use worker::{Headers, Response, ResponseBuilder};

/// As strict as the widget's embed page, minus wasm: scripts only from this origin, no inline
/// script or style, no framing, nothing sent anywhere but this origin.
const CONSOLE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
frame-ancestors 'none'";

/// The files under `/admin/`: path, content type, body. `index.html` names the others with
/// `?v=` ([`version`]) so a deploy changes the URL (the files are cached for a day, the page
/// not at all).
const FILES: &[(&str, &str, &str)] = &[
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/console.js"),
    ),
    (
        "console-i18n.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/console-i18n.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_str!("../console/console.css"),
    ),
    (
        "uplot.js",
        "text/javascript; charset=utf-8",
        include_str!("../../node_modules/uplot/dist/uPlot.iife.min.js"),
    ),
    (
        "uplot.css",
        "text/css; charset=utf-8",
        include_str!("../../node_modules/uplot/dist/uPlot.min.css"),
    ),
];

const PAGE: &str = include_str!("../console/index.html");

/// What `?v=@VERSION@` becomes in the page and the modules: a hash of every file, so a deploy
/// that changes any of them changes every URL and no browser keeps a day-old module.
const VERSION_MARK: &str = "@VERSION@";

fn version() -> String {
    // FNV-1a: no cryptographic need, only "did anything change".
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for body in std::iter::once(PAGE).chain(FILES.iter().map(|(_, _, body)| *body)) {
        for byte in body.bytes() {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{:012x}", hash & 0xffff_ffff_ffff)
}

/// `GET /admin` (the page) and `GET /admin/<file>`; `None` for every other admin path.
pub fn file(path: &str) -> Option<Response> {
    let (content_type, body, cache) = if path == "/admin" || path == "/admin/" {
        ("text/html; charset=utf-8", PAGE, "no-store")
    } else {
        let name = path.strip_prefix("/admin/")?;
        let (_, content_type, body) = FILES.iter().find(|(file, _, _)| *file == name)?;
        (*content_type, *body, "public, max-age=86400")
    };
    let body = if body.contains(VERSION_MARK) {
        body.replace(VERSION_MARK, &version())
    } else {
        body.to_string()
    };
    let headers = Headers::new();
    let _ = headers.set("content-type", content_type);
    let _ = headers.set("cache-control", cache);
    let _ = headers.set("content-security-policy", CONSOLE_CSP);
    let _ = headers.set("x-content-type-options", "nosniff");
    let _ = headers.set("referrer-policy", "no-referrer");
    let _ = headers.set("x-frame-options", "DENY");
    Some(
        ResponseBuilder::new()
            .with_status(200)
            .with_headers(headers)
            .fixed(body.into_bytes()),
    )
}
