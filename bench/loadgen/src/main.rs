//! oachat-loadgen: the part of the benchmark oha cannot do.
//!
//! `run`:  C connections (keep-alive), each sending POSTs back to back until a request count or a
//!         duration is reached. Per request it records the time to the first body byte (TTFB)
//!         and to the end of the body. Streamed answers must end with `data: [DONE]`.
//! `hold`: opens N streams (spread over a ramp), keeps every one of them reading for `hold`
//!         seconds, then drops them all. A stream that fails to start, returns a non-200 status,
//!         ends early or stalls for longer than `--stall` seconds is an error.
//!
//! `--header-file F` (both modes): one `name: value` line per simulated user; request k (in `run`,
//! counted across connections) or stream k (in `hold`) sends line k mod lines, replacing a `-H`
//! header of the same name. The benchmark uses it to send each request with its own user's token.
//!
//! Every loop is bounded by count and time; it only talks to the URL it is given (the benchmark
//! passes 127.0.0.1 addresses only). Output: one JSON object on stdout.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

struct Args {
    mode: String,
    url: String,
    headers: Vec<(String, String)>,
    /// Rotated per request (`--header-file`): one header per simulated user.
    rotate: Vec<(String, String)>,
    body: Bytes,
    concurrency: usize,
    requests: Option<usize>,
    duration: Duration,
    timeout: Duration,
    expect_done: bool,
    hold: Duration,
    ramp: Duration,
    stall: Duration,
}

fn usage() -> ! {
    eprintln!(
        "usage: oachat-loadgen run|hold --url URL [-H 'name: value']... [--header-file F] [--body JSON | --body-file F]\n\
         \x20 run:  [-c C] [-n N] [-z SECONDS] [--timeout S] [--expect-done]\n\
         \x20 hold: -c STREAMS --hold SECONDS [--ramp SECONDS] [--stall SECONDS] [--timeout S]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let mode = it.next().unwrap_or_else(|| usage());
    if mode != "run" && mode != "hold" {
        usage();
    }
    let mut args = Args {
        mode,
        url: String::new(),
        headers: Vec::new(),
        rotate: Vec::new(),
        body: Bytes::new(),
        concurrency: 1,
        requests: None,
        duration: Duration::from_secs(5),
        timeout: Duration::from_secs(30),
        expect_done: false,
        hold: Duration::from_secs(10),
        ramp: Duration::from_secs(2),
        stall: Duration::from_secs(5),
    };
    let secs = |v: String| Duration::from_secs_f64(v.parse::<f64>().unwrap_or_else(|_| usage()));
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--url" => args.url = value(),
            "-H" => {
                let v = value();
                let (name, val) = v.split_once(':').unwrap_or_else(|| usage());
                args.headers.push((name.trim().to_owned(), val.trim().to_owned()));
            }
            "--header-file" => {
                let text = std::fs::read_to_string(value()).expect("header file");
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    let (name, val) = line.split_once(':').unwrap_or_else(|| usage());
                    args.rotate.push((name.trim().to_owned(), val.trim().to_owned()));
                }
            }
            "--body" => args.body = Bytes::from(value()),
            "--body-file" => args.body = Bytes::from(std::fs::read(value()).expect("body file")),
            "-c" => args.concurrency = value().parse().unwrap_or_else(|_| usage()),
            "-n" => args.requests = Some(value().parse().unwrap_or_else(|_| usage())),
            "-z" => args.duration = secs(value()),
            "--timeout" => args.timeout = secs(value()),
            "--expect-done" => args.expect_done = true,
            "--hold" => args.hold = secs(value()),
            "--ramp" => args.ramp = secs(value()),
            "--stall" => args.stall = secs(value()),
            _ => usage(),
        }
    }
    if !args.url.starts_with("http://") || args.concurrency == 0 {
        usage();
    }
    args
}

struct Target {
    addr: String,
    host: String,
    path: String,
}

fn target(url: &str) -> Target {
    let rest = &url["http://".len()..];
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Target {
        addr: host.to_owned(),
        host: host.to_owned(),
        path: path.to_owned(),
    }
}

type Sender = http1::SendRequest<Full<Bytes>>;

async fn connect(t: &Target) -> Result<Sender, String> {
    let stream = TcpStream::connect(&t.addr)
        .await
        .map_err(|e| format!("connect: {}", e.kind()))?;
    stream.set_nodelay(true).ok();
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| "handshake".to_owned())?;
    tokio::task::spawn_local(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// Request number `k`: the `-H` headers, with line k mod lines of `--header-file` in place of the
/// header of the same name.
fn request(args: &Args, t: &Target, k: usize) -> Request<Full<Bytes>> {
    let mut builder = Request::post(t.path.as_str()).header("host", t.host.as_str());
    let rotated = (!args.rotate.is_empty()).then(|| &args.rotate[k % args.rotate.len()]);
    for (name, value) in &args.headers {
        if rotated.is_some_and(|(r, _)| r.eq_ignore_ascii_case(name)) {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some((name, value)) = rotated {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
        .header("content-length", args.body.len())
        .body(Full::new(args.body.clone()))
        .expect("request")
}

#[derive(Default)]
struct Tally {
    ttfb_us: Vec<u64>,
    total_us: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn error(&mut self, kind: &str) {
        *self.errors.entry(kind.to_owned()).or_default() += 1;
    }
}

/// One request on a connection: (ttfb, total) or an error kind. `Err` with `reconnect` set means the
/// connection can't be reused.
async fn one(sender: &mut Sender, args: &Args, t: &Target, k: usize) -> Result<(u64, u64), String> {
    let start = Instant::now();
    let response = sender
        .send_request(request(args, t, k))
        .await
        .map_err(|_| "send".to_owned())?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut ttfb = None;
    let mut tail: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| "body".to_owned())?;
        if let Ok(data) = frame.into_data() {
            if data.is_empty() {
                continue;
            }
            ttfb.get_or_insert_with(|| start.elapsed().as_micros() as u64);
            tail.extend_from_slice(&data);
            if tail.len() > 64 {
                tail.drain(..tail.len() - 64);
            }
        }
    }
    let total = start.elapsed().as_micros() as u64;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    if args.expect_done && !String::from_utf8_lossy(&tail).contains("[DONE]") {
        return Err("stream without [DONE]".to_owned());
    }
    Ok((ttfb.unwrap_or(total), total))
}

async fn run(args: Rc<Args>) -> String {
    let t = Rc::new(target(&args.url));
    let tally = Rc::new(RefCell::new(Tally::default()));
    let issued = Rc::new(RefCell::new(0usize));
    let start = Instant::now();
    let deadline = start + args.duration;
    let mut tasks = Vec::new();
    for _ in 0..args.concurrency {
        let (args, t, tally, issued) = (args.clone(), t.clone(), tally.clone(), issued.clone());
        tasks.push(tokio::task::spawn_local(async move {
            let mut sender: Option<Sender> = None;
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                if sender.as_ref().is_none_or(|s| s.is_closed()) {
                    match tokio::time::timeout(args.timeout, connect(&t)).await {
                        Ok(Ok(s)) => sender = Some(s),
                        Ok(Err(kind)) => {
                            tally.borrow_mut().error(&kind);
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                        Err(_) => {
                            tally.borrow_mut().error("connect timeout");
                            continue;
                        }
                    }
                }
                let s = sender.as_mut().expect("connected");
                if s.ready().await.is_err() {
                    // The server closed the idle keep-alive connection: open another one.
                    sender = None;
                    continue;
                }
                // Claim a request only once a connection is ready, so -n counts requests sent.
                let k = {
                    let mut n = issued.borrow_mut();
                    if args.requests.is_some_and(|max| *n >= max) {
                        break;
                    }
                    *n += 1;
                    *n - 1
                };
                match tokio::time::timeout(args.timeout, one(s, &args, &t, k)).await {
                    Ok(Ok((ttfb, total))) => {
                        let mut tally = tally.borrow_mut();
                        tally.ttfb_us.push(ttfb);
                        tally.total_us.push(total);
                    }
                    Ok(Err(kind)) => {
                        tally.borrow_mut().error(&kind);
                        sender = None;
                    }
                    Err(_) => {
                        tally.borrow_mut().error("timeout");
                        sender = None;
                    }
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut tally = tally.borrow_mut();
    let ok = tally.total_us.len();
    let ttfb = stats_json(&mut tally.ttfb_us);
    let total = stats_json(&mut tally.total_us);
    format!(
        "{{\"mode\":\"run\",\"concurrency\":{},\"ok\":{},\"errors\":{},\"error_kinds\":{},\"elapsed_s\":{:.3},\"rps\":{:.1},\"ttfb_ms\":{},\"total_ms\":{}}}",
        args.concurrency,
        ok,
        tally.errors.values().sum::<u64>(),
        kinds_json(&tally.errors),
        elapsed,
        ok as f64 / elapsed,
        ttfb,
        total,
    )
}

fn kinds_json(errors: &BTreeMap<String, u64>) -> String {
    let items: Vec<String> = errors
        .iter()
        .map(|(k, v)| format!("\"{}\":{}", k.replace('"', "'"), v))
        .collect();
    format!("{{{}}}", items.join(","))
}

fn stats_json(values: &mut [u64]) -> String {
    if values.is_empty() {
        return "null".to_owned();
    }
    values.sort_unstable();
    let pick = |q: f64| {
        let i = ((values.len() as f64 * q).ceil() as usize).clamp(1, values.len()) - 1;
        values[i] as f64 / 1000.0
    };
    let mean = values.iter().sum::<u64>() as f64 / values.len() as f64 / 1000.0;
    format!(
        "{{\"p50\":{:.3},\"p90\":{:.3},\"p99\":{:.3},\"max\":{:.3},\"mean\":{:.3}}}",
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(1.0),
        mean
    )
}

#[derive(Default)]
struct HoldTally {
    started: usize,
    held: usize,
    open_now: usize,
    max_open: usize,
    errors: BTreeMap<String, u64>,
    ttfb_us: Vec<u64>,
}

async fn hold(args: Rc<Args>) -> String {
    let t = Rc::new(target(&args.url));
    let tally = Rc::new(RefCell::new(HoldTally::default()));
    let start = Instant::now();
    let ramp_end = start + args.ramp;
    let hold_end = ramp_end + args.hold;
    let n = args.concurrency;
    let mut tasks = Vec::new();
    for i in 0..n {
        let (args, t, tally) = (args.clone(), t.clone(), tally.clone());
        let begin = start + args.ramp.mul_f64(i as f64 / n as f64);
        tasks.push(tokio::task::spawn_local(async move {
            tokio::time::sleep_until(begin.into()).await;
            let fail = |kind: &str| {
                let mut t = tally.borrow_mut();
                *t.errors.entry(kind.to_owned()).or_default() += 1;
            };
            let mut sender = match tokio::time::timeout(args.timeout, connect(&t)).await {
                Ok(Ok(s)) => s,
                Ok(Err(kind)) => return fail(&kind),
                Err(_) => return fail("connect timeout"),
            };
            let sent = Instant::now();
            let response =
                match tokio::time::timeout(args.timeout, sender.send_request(request(&args, &t, i)))
                    .await
                {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => return fail("send"),
                    Err(_) => return fail("head timeout"),
                };
            if response.status() != 200 {
                return fail(&format!("status {}", response.status().as_u16()));
            }
            let mut body = response.into_body();
            let mut first = true;
            loop {
                let now = Instant::now();
                if now >= hold_end {
                    break;
                }
                let wait = if first { args.timeout } else { args.stall };
                let limit = (now + wait).min(hold_end);
                match tokio::time::timeout_at(limit.into(), body.frame()).await {
                    Err(_) if Instant::now() >= hold_end => break,
                    Err(_) => {
                        if !first {
                            tally.borrow_mut().open_now -= 1;
                        }
                        return fail(if first { "first byte timeout" } else { "stalled" });
                    }
                    Ok(None) => {
                        if !first {
                            tally.borrow_mut().open_now -= 1;
                        }
                        return fail("ended early");
                    }
                    Ok(Some(Err(_))) => {
                        if !first {
                            tally.borrow_mut().open_now -= 1;
                        }
                        return fail("body error");
                    }
                    Ok(Some(Ok(_))) => {
                        if first {
                            first = false;
                            let mut t = tally.borrow_mut();
                            t.started += 1;
                            t.open_now += 1;
                            t.max_open = t.max_open.max(t.open_now);
                            t.ttfb_us.push(sent.elapsed().as_micros() as u64);
                        }
                    }
                }
            }
            if !first {
                let mut t = tally.borrow_mut();
                t.held += 1;
            }
            // Dropping the body and the connection closes the stream.
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let mut t = tally.borrow_mut();
    let ttfb = stats_json(&mut t.ttfb_us);
    format!(
        "{{\"mode\":\"hold\",\"streams\":{},\"started\":{},\"held\":{},\"max_open\":{},\"errors\":{},\"error_kinds\":{},\"hold_s\":{:.1},\"ttfb_ms\":{}}}",
        n,
        t.started,
        t.held,
        t.max_open,
        t.errors.values().sum::<u64>(),
        kinds_json(&t.errors),
        args.hold.as_secs_f64(),
        ttfb,
    )
}

fn main() {
    let args = Rc::new(parse_args());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let local = tokio::task::LocalSet::new();
    let out = local.block_on(&runtime, async move {
        if args.mode == "run" {
            run(args).await
        } else {
            hold(args).await
        }
    });
    println!("{out}");
}
