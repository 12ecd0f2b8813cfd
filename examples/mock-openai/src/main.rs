//! mock-openai: the one fake in oachat, standing in for OpenAI in dev, tests
//! and benchmarks.
//!
//! This file parses flags and runs the accept loop; [`router`] is the HTTP
//! glue, and everything that decides what a response says ([`chat`],
//! [`answer`], [`tools`], [`tokens`], [`stream`], [`embeddings`], [`pacing`],
//! [`request_faults`]) is plain Rust with no I/O. Which key does what is in
//! [`keys`]. The server binds 127.0.0.1 only: it is a fake, never a service.

mod answer;
mod args;
mod body;
mod chat;
mod dialect;
mod directive;
mod embeddings;
mod errors;
mod keys;
mod last_request;
mod models;
mod pacing;
mod reasoning;
mod request_faults;
mod router;
mod stats;
mod stream;
mod tokens;
mod tools;
mod wire;

use std::io::{self, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use crate::args::{parse_args, Command, Config, USAGE};
use crate::router::AppState;

/// Room for a benchmark's burst of thousands of simultaneous connects (the
/// kernel caps it at `net.core.somaxconn`); tokio's default is 1024.
const LISTEN_BACKLOG: u32 = 8192;

/// Pause after a failed accept (usually out of file descriptors) so the loop
/// does not spin while connections drain.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve(config)) => config,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("mock-openai: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let served = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .and_then(|runtime| runtime.block_on(serve(config)));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mock-openai: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> io::Result<()> {
    let listener = bind(config.port)?;
    let port = listener.local_addr()?.port();
    {
        // Scripts wait for exactly this line, so it must not sit in a buffer.
        let mut stdout = io::stdout().lock();
        writeln!(stdout, "mock-openai listening on http://127.0.0.1:{port}")?;
        stdout.flush()?;
    }
    let state = Arc::new(AppState::new(&config));
    loop {
        match listener.accept().await {
            Ok((socket, _peer)) => serve_connection(socket, state.clone()),
            Err(error) => {
                eprintln!("mock-openai: accept failed: {error}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

fn bind(port: u16) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Lets a restarted mock reuse its port while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))?;
    socket.listen(LISTEN_BACKLOG)
}

fn serve_connection(socket: TcpStream, state: Arc<AppState>) {
    // Without NODELAY, Nagle holds each small SSE frame until the previous
    // one is acknowledged, and delayed ACK makes that ~40 ms per frame.
    if let Err(error) = socket.set_nodelay(true) {
        eprintln!("mock-openai: could not set TCP_NODELAY: {error}");
    }
    tokio::spawn(async move {
        let service = service_fn(move |request| router::handle(request, state.clone()));
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .serve_connection(TokioIo::new(socket), service);
        // Connection errors are clients hanging up and deliberate cuts:
        // routine for a mock, and nobody to report them to.
        let _ = connection.await;
    });
}
