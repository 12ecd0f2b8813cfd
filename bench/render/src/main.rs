//! Streams one 20 KB markdown answer in 2,000 chunks through
//!   (a) oachat's `StreamingMarkdown::push` (commit settled blocks, re-render the tail), and
//!   (b) `render_markdown(whole text so far)` per chunk (the naive full re-render, comrak),
//! and prints per-variant total time and the slowest single chunk, as JSON, median of N runs.
//! `--write-doc FILE` also writes the document and its chunk boundaries (for the browser
//! benchmark of markdown-it, which must use the very same input).
//! This is native code (x86-64, opt-level 3): the widget runs the same Rust as wasm at
//! opt-level z, which is slower; DOM work is not included here.

use std::time::Instant;

use oachat_widget::core::markdown::render_markdown;
use oachat_widget::core::streaming::StreamingMarkdown;

pub const TARGET_BYTES: usize = 20 * 1024;
pub const CHUNKS: usize = 2000;

/// A deterministic, realistic assistant answer: headings, paragraphs with inline markup and
/// links, lists, fenced code, a table, a quote, some Chinese.
fn document() -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < TARGET_BYTES {
        i += 1;
        s.push_str(&format!("## Step {i}: configure the service\n\n"));
        s.push_str(&format!(
            "To set up part {i}, open the **settings** page and choose *Advanced*. The `timeout_ms` value \
             controls how long a request may wait; see [the guide](https://example.com/docs/{i}) for details. \
             中文说明：请先保存配置，然后重新启动服务。\n\n"
        ));
        s.push_str("- first, check the `config.toml` file\n- then restart with `make dev`\n  - nested: confirm the port\n- finally, run the tests\n\n");
        if i % 2 == 0 {
            s.push_str(&format!(
                "```rust\nfn step_{i}(x: u32) -> u32 {{\n    // multiply and add\n    let y = x * {i} + 7;\n    if y > 100 {{ y - 100 }} else {{ y }}\n}}\n```\n\n"
            ));
        }
        if i % 3 == 0 {
            s.push_str("| option | default | meaning |\n|---|---|---|\n| `rpm` | 20 | requests per minute |\n| `max_tokens` | 2048 | cap on the answer |\n| `daily_usd` | 2.0 | spend per day |\n\n");
        }
        if i % 4 == 0 {
            s.push_str("> Note: changes apply after the next restart. ~~Old behaviour~~ is gone.\n\n");
        }
        s.push_str(&format!("1. Verify step {i}.\n2. Report the result.\n\n"));
    }
    s
}

fn json_string(p: &str) -> String {
    let mut e = String::from("\"");
    for c in p.chars() {
        match c {
            '"' => e.push_str("\\\""),
            '\\' => e.push_str("\\\\"),
            '\n' => e.push_str("\\n"),
            c if (c as u32) < 0x20 => e.push_str(&format!("\\u{:04x}", c as u32)),
            c => e.push(c),
        }
    }
    e.push('"');
    e
}

/// Splits `doc` into `n` chunks of about equal size, at char boundaries.
fn chunks(doc: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..=n {
        let mut end = if k == n { doc.len() } else { doc.len() * k / n };
        while !doc.is_char_boundary(end) {
            end += 1;
        }
        if end > start {
            out.push(&doc[start..end]);
            start = end;
        }
    }
    out
}

struct Run {
    total_ms: f64,
    max_chunk_ms: f64,
    html_bytes: usize,
}

fn incremental(parts: &[&str]) -> Run {
    let mut md = StreamingMarkdown::new();
    let mut max: f64 = 0.0;
    let mut html = 0;
    let t0 = Instant::now();
    for p in parts {
        let t = Instant::now();
        let u = md.push(p);
        max = max.max(t.elapsed().as_secs_f64() * 1e3);
        html += u.committed_html.len();
        std::hint::black_box(&u.tail_html);
    }
    let t = Instant::now();
    let u = md.finish();
    max = max.max(t.elapsed().as_secs_f64() * 1e3);
    html += u.tail_html.len();
    Run { total_ms: t0.elapsed().as_secs_f64() * 1e3, max_chunk_ms: max, html_bytes: html }
}

fn full(parts: &[&str]) -> Run {
    let mut text = String::new();
    let mut max: f64 = 0.0;
    let mut html = 0;
    let t0 = Instant::now();
    for p in parts {
        text.push_str(p);
        let t = Instant::now();
        let out = render_markdown(&text);
        max = max.max(t.elapsed().as_secs_f64() * 1e3);
        html = out.len();
        std::hint::black_box(&out);
    }
    Run { total_ms: t0.elapsed().as_secs_f64() * 1e3, max_chunk_ms: max, html_bytes: html }
}

fn summary(name: &str, mut runs: Vec<Run>) -> String {
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let mut totals: Vec<f64> = runs.iter().map(|r| r.total_ms).collect();
    let mut maxes: Vec<f64> = runs.iter().map(|r| r.max_chunk_ms).collect();
    let (t, tmin, tmax) = med(&mut totals);
    let (m, mmin, mmax) = med(&mut maxes);
    let html = runs.pop().map(|r| r.html_bytes).unwrap_or(0);
    format!(
        "\"{name}\":{{\"runs\":{},\"total_ms\":{{\"median\":{t:.2},\"min\":{tmin:.2},\"max\":{tmax:.2}}},\"max_chunk_ms\":{{\"median\":{m:.3},\"min\":{mmin:.3},\"max\":{mmax:.3}}},\"html_bytes\":{html}}}",
        totals.len()
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut runs = 5;
    let mut write_doc = None;
    let mut write_updates = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--write-doc" => write_doc = args.next(),
            "--write-updates" => write_updates = args.next(),
            _ => {
                eprintln!("usage: oachat-render-bench [--runs N] [--write-doc FILE] [--write-updates FILE]");
                std::process::exit(2);
            }
        }
    }
    let doc = document();
    let parts = chunks(&doc, CHUNKS);
    if let Some(path) = write_doc {
        // JSON array of the chunks, so every benchmark streams byte-identical input.
        let json: Vec<String> = parts
            .iter()
            .map(|p| {
                let mut e = String::from("\"");
                for c in p.chars() {
                    match c {
                        '"' => e.push_str("\\\""),
                        '\\' => e.push_str("\\\\"),
                        '\n' => e.push_str("\\n"),
                        c if (c as u32) < 0x20 => e.push_str(&format!("\\u{:04x}", c as u32)),
                        c => e.push(c),
                    }
                }
                e.push('"');
                e
            })
            .collect();
        std::fs::write(&path, format!("[{}]\n", json.join(","))).expect("write doc");
    }
    // The incremental renderer must produce what a full render produces.
    let mut md = StreamingMarkdown::new();
    let mut html = String::new();
    let mut tail = String::new();
    for p in &parts {
        let u = md.push(p);
        html.push_str(&u.committed_html);
        tail = u.tail_html;
    }
    let _ = tail;
    html.push_str(&md.finish().tail_html);
    if let Some(path) = write_updates {
        // Every update the widget's view would apply: [committed_html, tail_html] per chunk, then
        // the final tail; the browser benchmark replays them into the DOM the way the view does.
        let mut md = StreamingMarkdown::new();
        let mut items: Vec<String> = parts
            .iter()
            .map(|p| {
                let u = md.push(p);
                format!("[{},{}]", json_string(&u.committed_html), json_string(&u.tail_html))
            })
            .collect();
        let u = md.finish();
        items.push(format!("[{},{}]", json_string(&u.committed_html), json_string(&u.tail_html)));
        std::fs::write(&path, format!("[{}]\n", items.join(","))).expect("write updates");
    }
    let identical = html == render_markdown(&doc);

    let inc: Vec<Run> = (0..runs).map(|_| incremental(&parts)).collect();
    let fullr: Vec<Run> = (0..runs).map(|_| full(&parts)).collect();
    println!(
        "{{\"doc_bytes\":{},\"chunks\":{},\"identical_to_full_render\":{identical},{},{}}}",
        doc.len(),
        parts.len(),
        summary("incremental", inc),
        summary("full_comrak", fullr)
    );
}
