//! The Prometheus text exposition format (version 0.0.4) of [`Counts`] and [`Gauges`]: a
//! `# HELP` and `# TYPE` line per family, then its samples, label values escaped.

use std::fmt::Write;

use super::{Counts, Gauges, Histogram};

/// `GET /metrics`' content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The whole exposition.
pub fn render(counts: &Counts, gauges: &Gauges) -> String {
    let mut out = Exposition::default();
    out.family(
        "oachat_requests_total",
        "counter",
        "Chat requests answered, by route, model (as sent upstream) and HTTP status.",
    );
    for ((route, model, status), n) in counts.requests.iter() {
        let status = status.to_string();
        out.sample(
            "oachat_requests_total",
            &[("route", route), ("model", model), ("status", &status)],
            *n as f64,
        );
    }
    out.family(
        "oachat_upstream_attempts_total",
        "counter",
        "Upstream attempts, by upstream and outcome.",
    );
    for ((upstream, outcome), n) in counts.attempts.iter() {
        out.sample(
            "oachat_upstream_attempts_total",
            &[("upstream", upstream), ("outcome", outcome)],
            *n as f64,
        );
    }
    out.family(
        "oachat_tokens_total",
        "counter",
        "Tokens metered. output includes reasoning; input includes cached.",
    );
    for (kind, n) in [
        ("input", counts.input_tokens),
        ("output", counts.output_tokens),
        ("reasoning", counts.reasoning_tokens),
        ("cached", counts.cached_tokens),
    ] {
        out.sample("oachat_tokens_total", &[("type", kind)], n as f64);
    }
    out.family(
        "oachat_spend_usd_total",
        "counter",
        "Cost charged, in USD, by model (as sent upstream).",
    );
    for (model, micro_usd) in counts.spend_micro_usd.iter() {
        out.sample(
            "oachat_spend_usd_total",
            &[("model", model)],
            usd(*micro_usd),
        );
    }
    out.histogram(
        "oachat_time_to_first_token_seconds",
        "From the request's arrival to the first answer token.",
        &counts.time_to_first_token,
    );
    out.histogram(
        "oachat_request_duration_seconds",
        "From the request's arrival to its end.",
        &counts.duration,
    );
    out.family(
        "oachat_cache_hits_total",
        "counter",
        "Answers served from the exact-match cache.",
    );
    out.sample("oachat_cache_hits_total", &[], counts.cache_hits as f64);
    out.family(
        "oachat_rate_limited_total",
        "counter",
        "Requests refused with 429, by reason (the error code).",
    );
    for (reason, n) in counts.rate_limited.iter() {
        out.sample(
            "oachat_rate_limited_total",
            &[("reason", reason)],
            *n as f64,
        );
    }
    out.family(
        "oachat_budget_remaining_usd",
        "gauge",
        "What is left of the deployment's cap this day or month, in USD (unlimited: absent).",
    );
    for (period, remaining) in &gauges.deployment_remaining_usd {
        out.sample(
            "oachat_budget_remaining_usd",
            &[("scope", "deployment"), ("period", period)],
            *remaining,
        );
    }
    out.family(
        "oachat_upstream_key_state",
        "gauge",
        "Each upstream key's state: 0 ok, 1 cooling, 2 disabled. Keys by id, never the key.",
    );
    for (upstream, key_id, state) in &gauges.key_states {
        out.sample(
            "oachat_upstream_key_state",
            &[("upstream", upstream), ("key_id", key_id)],
            f64::from(*state),
        );
    }
    if !counts.user_tokens.is_empty() {
        out.family(
            "oachat_user_tokens_total",
            "counter",
            "Tokens metered per user (`[metrics] per_user`; past the bound, user=\"other\").",
        );
        for (user, n) in counts.user_tokens.iter() {
            out.sample("oachat_user_tokens_total", &[("user", user)], *n as f64);
        }
        out.family(
            "oachat_user_spend_usd_total",
            "counter",
            "Cost charged per user, in USD (`[metrics] per_user`).",
        );
        for (user, micro_usd) in counts.user_micro_usd.iter() {
            out.sample(
                "oachat_user_spend_usd_total",
                &[("user", user)],
                usd(*micro_usd),
            );
        }
    }
    out.text
}

fn usd(micro_usd: u64) -> f64 {
    micro_usd as f64 / 1e6
}

#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape_label(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn histogram(&mut self, name: &str, help: &str, histogram: &Histogram) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in histogram.cumulative() {
            let le = bound.map_or_else(|| "+Inf".to_string(), |bound| bound.to_string());
            self.sample(&bucket, &[("le", &le)], count as f64);
        }
        self.sample(
            &format!("{name}_sum"),
            &[],
            histogram.sum_ms() as f64 / 1000.0,
        );
        self.sample(&format!("{name}_count"), &[], histogram.count() as f64);
    }
}

/// A label value: backslash, double quote and line feed escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Help text: backslash and line feed escaped.
fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Ending;
    use crate::metrics::tests::row;

    #[test]
    fn every_required_family_is_there_even_before_traffic() {
        let text = render(&Counts::default(), &Gauges::default());
        for family in [
            "oachat_requests_total counter",
            "oachat_upstream_attempts_total counter",
            "oachat_tokens_total counter",
            "oachat_spend_usd_total counter",
            "oachat_time_to_first_token_seconds histogram",
            "oachat_request_duration_seconds histogram",
            "oachat_budget_remaining_usd gauge",
            "oachat_upstream_key_state gauge",
            "oachat_cache_hits_total counter",
            "oachat_rate_limited_total counter",
        ] {
            assert!(text.contains(&format!("# TYPE {family}\n")), "{family}");
        }
        assert!(text.contains("oachat_tokens_total{type=\"reasoning\"} 0\n"));
        assert!(
            !text.contains("oachat_user_"),
            "per-user families only when on"
        );
    }

    #[test]
    fn samples_carry_their_labels_and_histograms_accumulate() {
        let mut counts = Counts::default();
        counts.request("general", "gpt-4o-mini", 200, None);
        counts.rows(
            &[row("req_1", "u:\"quoted\"\nuser", Ending::Completed)],
            true,
        );
        let gauges = Gauges {
            deployment_remaining_usd: vec![("day", 4.5)],
            key_states: vec![("openai".into(), "key_1a2b".into(), 1)],
        };
        let text = render(&counts, &gauges);
        assert!(text.contains(
            "oachat_requests_total{route=\"general\",model=\"gpt-4o-mini\",status=\"200\"} 1\n"
        ));
        assert!(text.contains("oachat_spend_usd_total{model=\"gpt-4o-mini\"} 0.00003\n"));
        assert!(text.contains("oachat_time_to_first_token_seconds_bucket{le=\"0.25\"} 0\n"));
        assert!(text.contains("oachat_time_to_first_token_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("oachat_time_to_first_token_seconds_bucket{le=\"+Inf\"} 1\n"));
        assert!(text.contains("oachat_request_duration_seconds_sum 1.5\n"));
        assert!(
            text.contains("oachat_budget_remaining_usd{scope=\"deployment\",period=\"day\"} 4.5\n")
        );
        assert!(
            text.contains("oachat_upstream_key_state{upstream=\"openai\",key_id=\"key_1a2b\"} 1\n")
        );
        assert!(text.contains("oachat_user_tokens_total{user=\"u:\\\"quoted\\\"\\nuser\"} 30\n"));
    }
}
