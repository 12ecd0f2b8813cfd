//! What the end-to-end tests share: the real binary on an ephemeral port,
//! spoken to over raw TCP, and decoders for what comes back.
#![allow(dead_code)] // each test file uses its own subset

/// No test waits this long for a byte unless the mock has hung.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use std::time::Duration;

use serde_json::Value;

pub const READY_PREFIX: &str = "mock-openai listening on http://127.0.0.1:";

/// The mock running as a child process, killed when the test ends.
pub struct MockServer {
    child: Child,
    pub port: u16,
}

impl MockServer {
    pub fn start(args: &[&str]) -> MockServer {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mock-openai"))
            .args(["--port", "0"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("the mock-openai binary should start");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut ready_line = String::new();
        BufReader::new(stdout)
            .read_line(&mut ready_line)
            .expect("the mock should print its ready line");
        let port = ready_line
            .trim()
            .strip_prefix(READY_PREFIX)
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("unexpected ready line {ready_line:?}"));
        MockServer { child, port }
    }

    pub fn connect(&self) -> TcpStream {
        let socket = TcpStream::connect(("127.0.0.1", self.port))
            .expect("the mock should accept connections");
        socket
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("read timeout should be settable");
        socket
    }

    /// Sends a request on a fresh connection and returns the open socket.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> TcpStream {
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
            body.len()
        );
        if let Some(key) = key {
            request.push_str(&format!("authorization: Bearer {key}\r\n"));
        }
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        request.push_str(body);
        let mut socket = self.connect();
        socket
            .write_all(request.as_bytes())
            .expect("request should be written");
        socket
    }

    /// A whole request/response exchange, body de-chunked.
    pub fn exchange(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        headers: &[(&str, &str)],
        body: &str,
    ) -> HttpResponse {
        let mut socket = self.send(method, path, key, headers, body);
        let mut raw = Vec::new();
        socket
            .read_to_end(&mut raw)
            .expect("response should be readable");
        HttpResponse::parse(&raw)
    }

    pub fn stats(&self) -> Value {
        let response = self.exchange("GET", "/_mock/stats", None, &[], "");
        serde_json::from_str(&response.body).expect("stats should be JSON")
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        // The process may already be gone; either way it must not outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub struct HttpResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl HttpResponse {
    pub fn parse(raw: &[u8]) -> HttpResponse {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or(0);
        let head = head.to_ascii_lowercase();
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_owned()
        };
        HttpResponse { status, head, body }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// Decodes a complete chunked body; stops quietly at a truncated one.
pub fn dechunk(mut rest: &str) -> String {
    let mut body = String::new();
    while let Some((size_line, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size_line.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        body.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    body
}

/// The JSON payloads of an SSE body (`[DONE]` as a JSON string).
pub fn sse_events(body: &str) -> Vec<Value> {
    body.split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|payload| serde_json::from_str(payload).unwrap_or(Value::String(payload.to_owned())))
        .collect()
}
