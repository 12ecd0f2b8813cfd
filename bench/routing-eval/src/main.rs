//! `cargo run --release -p oachat-routing-eval`: the routing report `make bench` puts in
//! bench/RESULTS.md (accuracy on held-out utterances, cross-validation, time per decision).

use std::process::ExitCode;

use oachat_core::config::Config;
use oachat_routing_eval::{evaluate, HELD_OUT_SET};

fn main() -> ExitCode {
    match evaluate(&Config::default(), HELD_OUT_SET) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("routing eval: {error}");
            ExitCode::FAILURE
        }
    }
}
