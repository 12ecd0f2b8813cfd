//! `oachat-check-config [wrangler.toml] [.dev.vars]`: validates `OACHAT_CONFIG` the way the
//! worker will, so `make dev` (and CI) report a bad field before anything starts.
//! `.dev.vars` wins over `[vars]`, as in `wrangler dev`.
//!
//! `oachat-check-config --env` reads what the worker will read from the process environment
//! instead (the self-hosted `run` script calls it before starting workerd), and also refuses a
//! config whose upstreams name a keys secret that is unset or empty.

use std::process::ExitCode;

use oachat_core::config::Config;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--env") {
        return check_environment();
    }
    let wrangler_path = args.next().unwrap_or_else(|| "wrangler.toml".into());
    let dev_vars_path = args.next().unwrap_or_else(|| ".dev.vars".into());

    let mut text = match config_from_wrangler(&wrangler_path) {
        Ok(text) => text,
        Err(message) => {
            eprintln!("oachat: cannot read {wrangler_path}: {message}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(overridden) = config_from_dev_vars(&dev_vars_path) {
        text = overridden;
    }
    // As the worker reads it: a secret from .dev.vars, or from the environment (CI, deploys).
    let tools_secret = dev_var(&dev_vars_path, "OACHAT_TOOLS_SECRET")
        .or_else(|| std::env::var("OACHAT_TOOLS_SECRET").ok());
    let checked = Config::load(&text).and_then(|config| {
        config.check_tools_secret(tools_secret.as_deref())?;
        Ok(config)
    });
    match checked {
        Ok(config) => {
            println!(
                "oachat: OACHAT_CONFIG is valid ({} upstream(s), {} tier(s), {} route(s))",
                config.upstreams.len(),
                config.tiers.len(),
                config.routes.len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("oachat: invalid OACHAT_CONFIG: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `[vars] OACHAT_CONFIG` as text: a string is used as is, a table is re-serialised as JSON.
fn config_from_wrangler(path: &str) -> Result<String, String> {
    let source = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let document: toml::Value = toml::from_str(&source).map_err(|e| e.to_string())?;
    Ok(
        match document
            .get("vars")
            .and_then(|vars| vars.get("OACHAT_CONFIG"))
        {
            None => String::new(),
            Some(toml::Value::String(text)) => text.clone(),
            Some(table) => serde_json::to_string(table).map_err(|e| e.to_string())?,
        },
    )
}

/// `OACHAT_CONFIG=...` on one line of `.dev.vars`, if present.
fn config_from_dev_vars(path: &str) -> Option<String> {
    dev_var(path, "OACHAT_CONFIG")
}

/// `NAME=...` on one line of `.dev.vars`, if present (quotes around the value dropped).
fn dev_var(path: &str, name: &str) -> Option<String> {
    let source = std::fs::read_to_string(path).ok()?;
    source.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix('=')?;
        Some(
            value
                .trim()
                .trim_matches(|c| c == '\'' || c == '"')
                .to_string(),
        )
    })
}

/// `--env`: `OACHAT_CONFIG`, `OACHAT_TOOLS_SECRET`, `otel.headers_secret` and every upstream's
/// keys secret from the environment, as the self-hosted worker receives them.
fn check_environment() -> ExitCode {
    let text = std::env::var("OACHAT_CONFIG").unwrap_or_default();
    let tools_secret = std::env::var("OACHAT_TOOLS_SECRET").ok();
    let config = match Config::load(&text).and_then(|config| {
        config.check_tools_secret(tools_secret.as_deref())?;
        // `otel.headers_secret` must name a secret that is there, as the worker requires.
        let otel_secret = config
            .otel
            .headers_secret
            .as_deref()
            .and_then(|name| std::env::var(name).ok());
        config.otel.export_headers(otel_secret.as_deref())?;
        Ok(config)
    }) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("oachat: invalid OACHAT_CONFIG: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut missing: Vec<(&str, &str)> = config
        .upstreams
        .iter()
        .filter(|upstream| {
            std::env::var(&upstream.keys_secret)
                .map(|keys| keys.split([',', '\n']).all(|key| key.trim().is_empty()))
                .unwrap_or(true)
        })
        .map(|upstream| (upstream.keys_secret.as_str(), upstream.name.as_str()))
        .collect();
    missing.dedup_by_key(|(secret, _)| *secret);
    if !missing.is_empty() {
        for (secret, upstream) in missing {
            eprintln!("oachat: {secret} is not set or empty (the keys of upstream `{upstream}`)");
        }
        return ExitCode::FAILURE;
    }
    println!(
        "oachat: OACHAT_CONFIG is valid ({} upstream(s), {} tier(s), {} route(s)); every upstream has keys",
        config.upstreams.len(),
        config.tiers.len(),
        config.routes.len()
    );
    ExitCode::SUCCESS
}
