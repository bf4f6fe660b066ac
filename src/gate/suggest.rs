//! `postload check BASELINE/result.json --suggest FILE`: a gate file fitted to the team's own
//! service from one baseline run in service mode, so its thresholds start from its figures, not
//! the example service's. Stated margins: what the stub counts exactly (calls, prompt tokens,
//! failed posts, answers and retries under 429s) at its measured value; a timing (the own time)
//! at its measured value plus the larger of twice the per-post spread (p95 − p50 of the own
//! time per post) and half the value, rounded up to a whole millisecond. Pure.

use std::fmt::Write;

use crate::result::{CaseResult, RunResult};

/// The timing margin's share of the measured value.
pub const TIMING_SHARE: f64 = 0.5;
/// The timing margin's multiple of the per-post spread (p95 − p50).
pub const SPREAD_TIMES: f64 = 2.0;

/// The call types a service gate names (`service.<type>.…`).
const CALL_TYPES: [&str; 3] = ["image_prompt", "caption", "other"];

/// A timing threshold: `value` plus its margin, up to a whole millisecond.
pub fn timing_threshold(value: f64, spread: Option<f64>) -> f64 {
    let margin = (TIMING_SHARE * value).max(SPREAD_TIMES * spread.unwrap_or(0.0).max(0.0));
    (value + margin).ceil()
}

/// A measured figure as a threshold's value: the shortest text that reads back as the same
/// number, so an exact threshold holds for the baseline to the last bit.
fn num(v: f64) -> String {
    format!("{v}")
}

/// One suggested threshold: `metric op value`, and where it came from.
#[derive(Debug, Clone, PartialEq)]
struct Suggested {
    metric: String,
    op: &'static str,
    value: f64,
    why: String,
}

/// The thresholds of one service-mode case.
fn thresholds(c: &CaseResult) -> Vec<Suggested> {
    let Some(f) = c.service.as_ref() else {
        return Vec::new();
    };
    let mut out: Vec<Suggested> = Vec::new();
    let mut exact = |metric: &str, op: &'static str, why: &str| {
        if let Some(value) = crate::gate::metric(c, metric) {
            out.push(Suggested {
                metric: metric.to_string(),
                op,
                value,
                why: why.to_string(),
            });
        }
    };
    exact("error_rate", "<=", "exact: the posts that failed");
    exact("service.calls_per_post", "<=", "exact: a call slipped in");
    for t in CALL_TYPES {
        exact(
            &format!("service.{t}.calls_per_post"),
            "<=",
            "exact, by call type",
        );
    }
    for t in CALL_TYPES {
        if f.by_call
            .get(t)
            .and_then(|c| c.prompt_tokens_per_post)
            .is_some()
        {
            exact(
                &format!("service.{t}.prompt_tokens_per_post"),
                "<=",
                "exact: a prompt that grew",
            );
        }
    }
    exact("failed.server_error", "<=", "exact: 500s");
    let met_429 = f.per_post.as_ref().is_some_and(|p| p.under_429.posts > 0);
    if met_429 {
        exact(
            "service.under_429.ungraceful",
            "<=",
            "exact: answers under 429s that are neither a 2xx nor a 429 or 503",
        );
        exact(
            "service.retried_requests",
            ">=",
            "exact: retries the client marked",
        );
        exact(
            "service.retries_per_post",
            ">=",
            "exact: the same call sent again, by trace",
        );
    }
    let own = f.per_post.as_ref().map(|p| &p.own_ms);
    let spread = own.and_then(|o| Some(o.p95? - o.p50?));
    let why = |spread: Option<f64>, v: f64| match spread {
        Some(s) => format!(
            "timing: measured {v:.1} + max({SPREAD_TIMES} × per-post spread {s:.1}, {:.0} %)",
            TIMING_SHARE * 100.0
        ),
        None => format!(
            "timing: measured {v:.1} + {:.0} % (no per-post spread: no traces)",
            TIMING_SHARE * 100.0
        ),
    };
    for (metric, value) in [
        ("service.own_mean_ms", f.own_mean_ms),
        ("service.own_p95_ms", own.and_then(|o| o.p95)),
    ] {
        if let Some(v) = value {
            out.push(Suggested {
                metric: metric.to_string(),
                op: "<=",
                value: timing_threshold(v, spread),
                why: why(spread, v),
            });
        }
    }
    out
}

/// The thresholds of a scenario × tier's repetitions: each must hold for every one, so the
/// loosest value of each metric (a metric some repetition lacks is left out: it would fail there).
fn merged(cases: &[&CaseResult]) -> Vec<Suggested> {
    let mut all = cases.iter().map(|c| thresholds(c));
    let mut out = all.next().unwrap_or_default();
    for more in all {
        out.retain_mut(|s| {
            let Some(m) = more.iter().find(|m| m.metric == s.metric) else {
                return false;
            };
            if (s.op == "<=") == (m.value > s.value) {
                *s = m.clone();
            }
            true
        });
    }
    out
}

/// Why a case gets no 429 thresholds, if it gets none.
fn no_429_note(c: &CaseResult) -> Option<String> {
    let f = c.service.as_ref()?;
    let met = f.per_post.as_ref().map(|p| p.under_429.posts);
    match met {
        Some(0) => Some(
            "no post met a 429 in this case: its 429 thresholds are not suggested (not exercised; \
             `first_429` in the scenario provokes them)"
                .into(),
        ),
        None => Some(
            "the stub saw no post's trace (the service does not forward `traceparent`): no \
             per-post thresholds (own_p95_ms, retries_per_post, under_429.*)"
                .into(),
        ),
        Some(_) => None,
    }
}

/// The gate file for `r`'s service-mode cases; an error when it has none.
pub fn suggest(r: &RunResult, source: &str) -> Result<String, String> {
    let cases: Vec<&CaseResult> = r.cases.iter().filter(|c| c.service.is_some()).collect();
    if cases.is_empty() {
        return Err(format!(
            "{source}: no service-mode case (run with --target and --with-stub): --suggest writes a gate on a service's own figures"
        ));
    }
    let mut o = format!(
        "# Suggested by `postload check {source} --suggest` from run {} ({}).\n\
         # Exact figures (calls, tokens, failures, answers and retries under 429s) at their\n\
         # measured value; timings at the measured value plus the larger of {SPREAD_TIMES} × the\n\
         # per-post spread (own time p95 - p50) and {:.0} %, up to a whole ms. Review before use.\n",
        r.run_id,
        r.started_at,
        TIMING_SHARE * 100.0
    );
    let mut groups: Vec<Vec<&CaseResult>> = Vec::new();
    for c in cases {
        match groups
            .iter_mut()
            .find(|g| g[0].scenario == c.scenario && g[0].tier == c.tier)
        {
            Some(g) => g.push(c),
            None => groups.push(vec![c]),
        }
    }
    for g in groups {
        let _ = write!(
            o,
            "\n[[gate]]\nscenario = {}\ntier = {}\n",
            toml_string(&g[0].scenario),
            g[0].tier
        );
        if g.len() > 1 {
            let _ = writeln!(o, "# {} repetitions: the loosest of their values", g.len());
        }
        if let Some(note) = g.iter().find_map(|c| no_429_note(c)) {
            let _ = writeln!(o, "# {note}");
        }
        let suggested = merged(&g);
        if suggested.is_empty() {
            return Err(format!(
                "{source}: {} has no figure to gate (no post was sent)",
                g[0].label()
            ));
        }
        o.push_str("thresholds = [\n");
        for s in suggested {
            let t = format!("{} {} {}", s.metric, s.op, num(s.value));
            let _ = writeln!(o, "    {}, # {}", toml_string(&t), s.why);
        }
        o.push_str("]\n");
    }
    Ok(o)
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

#[cfg(test)]
mod tests;
