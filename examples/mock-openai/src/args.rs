//! Command-line flags, parsed by hand, and the stream settings they set.
//!
//! The per-request headers `x-mock-chunks` and `x-mock-delay-ms` and the
//! `[mock ...]` message directive go through the same parsers, so a value is
//! accepted on the command line exactly when it is accepted per request
//! (see [`crate::pacing`]).

use std::time::Duration;

use crate::dialect::Provider;

pub const USAGE: &str = "\
mock-openai: an OpenAI-compatible fake for dev, tests and benchmarks.

Usage: mock-openai [--port PORT] [--chunks N] [--delay-ms MS] [--tpm-limit N]
                   [--provider NAME]

Options:
  --port PORT      TCP port on 127.0.0.1; 0 picks a free one   [default: 9999]
  --chunks N       content chunks per streamed answer          [default: 40]
  --delay-ms MS    pause before each streamed content chunk    [default: 15]
  --tpm-limit N    most tokens one chat request may ask for, prompt plus
                   max_tokens; more gets OpenAI's 429 \"Request too large\"
                   (type tokens); 0 turns the check off        [default: 50000]
  --provider NAME  the dialect spoken when a request names none: openai,
                   openai-compatible, deepseek, qwen, moonshot, zhipu,
                   doubao or azure                             [default: openai]
  -h, --help       print this help

Pacing per request: the headers x-mock-chunks and x-mock-delay-ms, or a
directive in the last user message, [mock chunks=N delay_ms=MS] (either field,
any order; for callers behind a proxy that drops x-mock-* headers). A header
beats the directive, which beats the flags; a bad directive value is ignored.

Reasoning: a model whose name contains reason, think, qwq or qwen3 (e.g.
deepseek-reasoner), or the directive [mock think=N], streams N (default 8)
delta.reasoning_content chunks before the content (think=0: none);
[mock think_ms=MS] paces them (default: like content). Usage counts them in
completion_tokens and completion_tokens_details.reasoning_tokens; a
non-streamed answer carries message.reasoning_content.

Tool calling: with tools (or legacy functions) offered, a last user message
containing a tool's name, or its description up to the first punctuation mark
or whitespace (ASCII or CJK: ：，。...), is answered with a call of
the first such tool (finish_reason tool_calls). Arguments come from the
schema: each property's examples[0], else default; required ones without
either get a placeholder (\"\", 0, false, [], {}; nested objects recurse).
tool_choice \"none\" never calls, {\"type\":\"function\",\"function\":{\"name\":N}}
always calls N, \"required\" calls the asked-for tool or else the first. Call
ids are call_ + hex hashed from the request. Streamed: the head chunk opens
the call, its arguments follow in 3 fragments paced like content, then the
finish chunk and usage as for text. A request ending in tool messages is
answered in text quoting each result (工具 `NAME` 返回： and a fenced
block), never with another call, unless a directive asks. Directives (in the
last user message):
  [mock tool=NAME]         call NAME, offered or not, whatever tool_choice says
  [mock args=BASE64URL]    the first call's raw arguments text (any UTF-8
                           text, invalid JSON included)
  [mock args_json=TEXT]    the same, percent-encoded: write whitespace, comma,
                           ] and % as %20 %2C %5D %25, e.g. args_json={\"a\":1%2C\"b\":2}
  [mock tool_loop=1]       after a tool result, call the same tool again
                           (not with tool_choice \"none\")
  [mock tools=N]           up to N (at most 8) parallel calls: the asked-for
                           tools, then the other offered ones

Keys (Authorization: Bearer KEY; for Azure the api-key: KEY header):
  sk-mock-<other>        a normal answer
  sk-mock-slow           waits 3 s before the response head
  sk-mock-slowgen        non-streamed chat: waits chunks x delay generating,
                         then sends it all; billed even if the client left
  sk-mock-cut            drops the connection after 5 chunks (or at once)
  sk-mock-reset          drops the connection before any byte, streamed or not
  sk-mock-429            429 rate_limit_exceeded, Retry-After: 1
  sk-mock-quota          429 insufficient_quota
  sk-mock-401            401 invalid_api_key (as does any key not sk-mock-*)
  sk-mock-500            500 server_error
  sk-mock-deactivated    403 account_deactivated
  sk-mock-echo400[-*]    400 invalid_value whose message quotes the key
  sk-mock-nobalance      402 with DeepSeek's Insufficient Balance body
  sk-mock-wrongregion    401 DashScope's invalid_api_key (a key of another region)
  sk-mock-arrears        429 with DashScope's Arrearage body: a billing state of
                         the key, not a rate limit (DashScope itself sends 400:
                         sk-mock-arrears400)
  sk-mock-queued[-*]     DeepSeek dialect: every request queued 60 s (head, then
                         `: keep-alive` comments only), as a stalled key does
Models: any model named forbidden-* gets 403 model_not_found, on every key.

Provider dialects, chosen per request by the header x-mock-provider: NAME, a
path prefix /_provider/NAME/... (base_url http://127.0.0.1:PORT/_provider/NAME;
under it any path ending in /chat/completions, /models or /embeddings works),
Azure's path /openai/deployments/DEPLOYMENT/chat/completions?api-version=V,
else --provider:
  openai, openai-compatible  as above: usage only with include_usage
  deepseek   usage (with prompt_cache_hit_tokens/miss) on the finish chunk, or
             a usage-only chunk with [mock usage=separate]; x-mock-queue-ms: N
             or [mock queue_ms=N] sends `: keep-alive` comments for N ms first
  qwen       usage chunk with include_usage; enable_thinking needs stream:true
             (else 400); enable_thinking turns reasoning on or off
  moonshot   usage as choices[0].usage on the finish chunk, unasked
  zhipu      usage on the finish chunk, unasked; [mock finish=sensitive] or
             [mock finish=network_error] ends the answer half-way with that
             finish_reason; tool_choice other than auto, or temperature
             outside [0,1]: 400 (Zhipu's error code 1214)
  doubao     ep-... models answer as doubao-1-5-pro-32k-250115; usage chunk
             with include_usage, a running total on every chunk with
             stream_options.chunk_include_usage or [mock usage=running];
             max_tokens with max_completion_tokens: 400
  azure      key in the api-key header (Bearer alone: 401), api-version
             required (else 404); the stream opens with a choices:[] chunk of
             prompt_filter_results; answers name the model gpt-4o-2024-08-06

GET /_mock/stats counts per key; POST /_mock/reset zeroes the counts;
GET /_mock/last-request shows the body of the last chat request as received;
GET /_mock/last-request?detail=1 shows {method, path, query, provider,
headers, body} of it (headers as sent, keys included: it is a fake).
Prints `mock-openai listening on http://127.0.0.1:PORT` once ready.";

pub const DEFAULT_PORT: u16 = 9999;
pub const DEFAULT_CHUNKS: usize = 40;
pub const DEFAULT_DELAY: Duration = Duration::from_millis(15);
/// Tokens one request may ask for: the same order as a low OpenAI tier's
/// per-minute limit, so a prompt of a few hundred kilobytes is refused.
pub const DEFAULT_TPM_LIMIT: u64 = 50_000;

/// Bounds the frames one request can make the server produce.
pub const MAX_CHUNKS: usize = 10_000;
/// A minute per chunk is already far beyond any test's patience.
pub const MAX_DELAY_MS: u64 = 60_000;

/// How a streamed answer is paced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings {
    pub chunks: usize,
    pub delay: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    pub port: u16,
    pub stream: StreamSettings,
    /// Most tokens (prompt plus `max_tokens`) one chat request may ask for;
    /// 0 means no limit.
    pub tpm_limit: u64,
    /// The dialect of requests that name none.
    pub provider: Provider,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            port: DEFAULT_PORT,
            stream: StreamSettings {
                chunks: DEFAULT_CHUNKS,
                delay: DEFAULT_DELAY,
            },
            tpm_limit: DEFAULT_TPM_LIMIT,
            provider: Provider::OpenAi,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Serve(Config),
    Help,
}

/// Parses the arguments after the program name. Accepts `--flag value` and
/// `--flag=value`.
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline_value) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        if flag == "-h" || flag == "--help" {
            return Ok(Command::Help);
        }
        if !matches!(
            flag.as_str(),
            "--port" | "--chunks" | "--delay-ms" | "--tpm-limit" | "--provider"
        ) {
            return Err(format!("unknown argument '{flag}'"));
        }
        let value = inline_value
            .or_else(|| args.next())
            .ok_or_else(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--port" => {
                config.port = value.parse().map_err(|_| {
                    format!("--port must be a number from 0 to 65535, got '{value}'")
                })?;
            }
            "--chunks" => config.stream.chunks = parse_chunks(&value)?,
            "--provider" => {
                config.provider = Provider::parse(&value)
                    .ok_or_else(|| format!("--provider must name a dialect, got '{value}'"))?;
            }
            "--tpm-limit" => {
                config.tpm_limit = value.trim().parse().map_err(|_| {
                    format!(
                        "--tpm-limit must be a number of tokens (0 for no limit), got '{value}'"
                    )
                })?;
            }
            _ => config.stream.delay = parse_delay_ms(&value)?,
        }
    }
    Ok(Command::Serve(config))
}

pub fn parse_chunks(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(chunks) if (1..=MAX_CHUNKS).contains(&chunks) => Ok(chunks),
        _ => Err(format!(
            "chunks must be a number from 1 to {MAX_CHUNKS}, got '{value}'"
        )),
    }
}

pub fn parse_delay_ms(value: &str) -> Result<Duration, String> {
    match value.trim().parse::<u64>() {
        Ok(millis) if millis <= MAX_DELAY_MS => Ok(Duration::from_millis(millis)),
        _ => Err(format!(
            "delay-ms must be a number from 0 to {MAX_DELAY_MS}, got '{value}'"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(args: &[&str], expected: Result<Command, &str>) {
        let parsed = parse_args(args.iter().map(|arg| arg.to_string()));
        assert_eq!(parsed, expected.map_err(str::to_owned), "{args:?}");
    }

    fn serve(port: u16, chunks: usize, delay_ms: u64) -> Result<Command, &'static str> {
        serve_with_tpm(port, chunks, delay_ms, DEFAULT_TPM_LIMIT)
    }

    fn serve_with_tpm(
        port: u16,
        chunks: usize,
        delay_ms: u64,
        tpm_limit: u64,
    ) -> Result<Command, &'static str> {
        Ok(Command::Serve(Config {
            port,
            stream: StreamSettings {
                chunks,
                delay: Duration::from_millis(delay_ms),
            },
            tpm_limit,
            provider: Provider::OpenAi,
        }))
    }

    #[test]
    fn defaults_and_flags() {
        check(&[], serve(9999, 40, 15));
        check(&["--port", "0"], serve(0, 40, 15));
        check(
            &["--port", "8080", "--chunks", "3", "--delay-ms", "0"],
            serve(8080, 3, 0),
        );
        check(&["--chunks=7", "--delay-ms=250"], serve(9999, 7, 250));
        check(&["--help"], Ok(Command::Help));
        check(&["--port", "1", "-h"], Ok(Command::Help));
    }

    #[test]
    fn tpm_limit_defaults_to_fifty_thousand_and_zero_turns_it_off() {
        check(&[], serve_with_tpm(9999, 40, 15, 50_000));
        check(&["--tpm-limit", "120"], serve_with_tpm(9999, 40, 15, 120));
        check(&["--tpm-limit=0"], serve_with_tpm(9999, 40, 15, 0));
        check(
            &["--tpm-limit", "-5"],
            Err("--tpm-limit must be a number of tokens (0 for no limit), got '-5'"),
        );
        check(&["--tpm-limit"], Err("--tpm-limit needs a value"));
    }

    #[test]
    fn usage_names_every_key_and_flag() {
        for needle in [
            "--tpm-limit",
            "[mock chunks=N delay_ms=MS]",
            "[mock think=N]",
            "think_ms",
            "sk-mock-slowgen",
            "sk-mock-deactivated",
            "sk-mock-echo400",
            "forbidden-*",
            "--provider",
            "x-mock-provider",
            "/_provider/NAME",
            "/openai/deployments/",
            "sk-mock-nobalance",
            "sk-mock-wrongregion",
            "sk-mock-arrears",
            "sk-mock-queued",
            "[mock usage=separate]",
            "[mock usage=running]",
            "[mock finish=sensitive]",
            "queue_ms",
            "?detail=1",
        ] {
            assert!(USAGE.contains(needle), "USAGE lacks {needle}");
        }
    }

    #[test]
    fn provider_flag_sets_the_default_dialect() {
        let provider = |args: &[&str]| match parse_args(args.iter().map(|a| a.to_string())) {
            Ok(Command::Serve(config)) => Ok(config.provider),
            Ok(Command::Help) => Err("help".to_owned()),
            Err(message) => Err(message),
        };
        assert_eq!(provider(&[]), Ok(Provider::OpenAi));
        assert_eq!(
            provider(&["--provider", "deepseek"]),
            Ok(Provider::DeepSeek)
        );
        assert_eq!(provider(&["--provider=azure"]), Ok(Provider::Azure));
        assert_eq!(
            provider(&["--provider", "claude"]),
            Err("--provider must name a dialect, got 'claude'".to_owned())
        );
    }

    #[test]
    fn bad_flags_are_explained() {
        check(&["--port"], Err("--port needs a value"));
        check(
            &["--port", "70000"],
            Err("--port must be a number from 0 to 65535, got '70000'"),
        );
        check(
            &["--chunks", "0"],
            Err("chunks must be a number from 1 to 10000, got '0'"),
        );
        check(
            &["--delay-ms", "-1"],
            Err("delay-ms must be a number from 0 to 60000, got '-1'"),
        );
        check(&["--verbose"], Err("unknown argument '--verbose'"));
    }
}
