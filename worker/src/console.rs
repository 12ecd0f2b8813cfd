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
/// `?v=` so a deploy changes the URL (the files are cached for a day, the page not at all).
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

/// `GET /admin` (the page) and `GET /admin/<file>`; `None` for every other admin path.
pub fn file(path: &str) -> Option<Response> {
    let (content_type, body, cache) = if path == "/admin" || path == "/admin/" {
        ("text/html; charset=utf-8", PAGE, "no-store")
    } else {
        let name = path.strip_prefix("/admin/")?;
        let (_, content_type, body) = FILES.iter().find(|(file, _, _)| *file == name)?;
        (*content_type, *body, "public, max-age=86400")
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
            .fixed(body.as_bytes().to_vec()),
    )
}
