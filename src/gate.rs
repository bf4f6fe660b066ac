//! CI performance gates: thresholds over a result's metrics. Pure: a gate file and a result in,
//! checks out. A gate must never pass by mistake: an unknown metric, a malformed threshold or a
//! selector that matches no case is an error (exit 2), a metric with no value fails (naming why;
//! `missing = "skip"` makes it skip, said so), and a case with no successful post fails.

use serde::{Deserialize, Serialize};

use crate::result::{CaseResult, RunResult};
use crate::scenario::Scenario;

pub use crate::threshold::{Missing, Op, Threshold, METRICS};

mod missing;
pub use self::missing::NO_TRACEPARENT;

pub mod suggest;

#[cfg(test)]
mod not_exercised;

/// The value of `metric` in `case`; `None` when the run has none (e.g. no successful post).
pub fn metric(case: &CaseResult, metric: &str) -> Option<f64> {
    let m = &case.measured;
    let ok = &m.post_latency_ms.ok;
    let ratio = |a: u64, b: u64| (b > 0).then(|| a as f64 / b as f64);
    match metric {
        "post.p50_ms" => ok.p50,
        "post.p90_ms" => ok.p90,
        "post.p95_ms" => ok.p95,
        "post.p99_ms" => ok.p99,
        "post.p99_9_ms" => ok.p99_9,
        "post.max_ms" => ok.max,
        "post.mean_ms" => ok.mean,
        "makespan_ms" => Some(m.makespan_ms),
        "start_spread_ms" => Some(m.start_spread_ms),
        "error_rate" => ratio(m.posts.failed, m.posts.total),
        "rate_limited_ratio" => ratio(m.calls.http_429, m.calls.attempts),
        "tokens_per_post" => m.tokens.per_ok_post,
        "cost_per_post_usd" => m.cost.as_ref().and_then(|c| c.per_ok_post_usd),
        // No failed post wasted nothing, whatever the result says of the split (as the table).
        "wasted_tokens" if m.tokens.source == crate::metrics::TokenSource::Unknown => None,
        "wasted_tokens" if m.posts.failed == 0 => Some(0.0),
        "wasted_tokens" => m.tokens.wasted.map(|w| w.total() as f64),
        "wasted_usd" => m.cost.as_ref().and_then(|c| {
            if m.posts.failed == 0 {
                Some(0.0)
            } else {
                c.wasted_usd
            }
        }),
        "posts_ok" => Some(m.posts.ok as f64),
        "posts_failed" => Some(m.posts.failed as f64),
        "http_429" => Some(m.calls.http_429 as f64),
        "retries" => Some(m.calls.retries as f64),
        "first_caption_token.p50_ms" => m.first_caption_token_ms.and_then(|f| f.p50),
        "first_caption_token.p95_ms" => m.first_caption_token_ms.and_then(|f| f.p95),
        "first_caption_token.p99_ms" => m.first_caption_token_ms.and_then(|f| f.p99),
        other if other.starts_with("service.") => crate::result::service::case_metric(case, other),
        other if other.starts_with("failed.") => {
            let cause = other.strip_prefix("failed.")?;
            Some(
                m.posts
                    .failed_by_cause
                    .iter()
                    .filter(|(k, _)| crate::result::name_of(*k) == cause)
                    .fold(0.0, |sum, (_, n)| sum + *n as f64),
            )
        }
        other => m.goodput(crate::threshold::goodput_bound(other)?),
    }
}

/// Thresholds for the cases a selector picks (all cases when both are absent).
#[derive(Debug, Clone, PartialEq)]
pub struct Gate {
    pub scenario: Option<String>,
    pub tier: Option<u8>,
    pub thresholds: Vec<Threshold>,
}

/// A scenario's own `[[thresholds]]` as gates on its cases (checked when the scenario loaded).
pub fn of_scenario(s: &Scenario) -> Vec<Gate> {
    s.thresholds
        .iter()
        .map(|t| Gate {
            scenario: Some(s.name.clone()),
            tier: t.tier,
            thresholds: t.checks.iter().filter_map(|c| c.parse().ok()).collect(),
        })
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    gate: Vec<RawGate>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGate {
    scenario: Option<String>,
    tier: Option<u8>,
    thresholds: Vec<RawThreshold>,
}

/// `"metric op value"`, or `{ check = "metric op value", missing = "skip" }`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawThreshold {
    Text(String),
    Table(RawThresholdTable),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawThresholdTable {
    check: String,
    #[serde(default)]
    missing: Missing,
}

/// Parses a gate file; errors name the file, and the gate and threshold or the line.
pub fn parse(file: &str, text: &str) -> Result<Vec<Gate>, String> {
    let raw: RawFile =
        toml::from_str(text).map_err(|e| format!("{file}: {}", e.to_string().trim_end()))?;
    if raw.gate.is_empty() {
        return Err(format!(
            "{file}: no [[gate]]: a gate file must check something"
        ));
    }
    raw.gate
        .into_iter()
        .enumerate()
        .map(|(i, g)| {
            if g.thresholds.is_empty() {
                return Err(format!("{file}: gate[{i}].thresholds: empty"));
            }
            let thresholds = g
                .thresholds
                .iter()
                .map(|t| {
                    let (text, missing) = match t {
                        RawThreshold::Text(text) => (text, Missing::Fail),
                        RawThreshold::Table(t) => (&t.check, t.missing),
                    };
                    text.parse()
                        .map(|t: Threshold| Threshold { missing, ..t })
                        .map_err(|m| format!("{file}: gate[{i}].thresholds: {m}"))
                })
                .collect::<Result<Vec<Threshold>, String>>()?;
            Ok(Gate {
                scenario: g.scenario,
                tier: g.tier,
                thresholds,
            })
        })
        .collect()
}

/// One threshold checked on one case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    pub case: String,
    pub threshold: String,
    pub measured: Option<f64>,
    pub pass: bool,
    /// Why the metric has no value (set whenever `measured` is `None`).
    pub why: Option<String>,
    /// No value, and the threshold said `missing = "skip"`: neither passed nor failed.
    pub skipped: bool,
}

impl Check {
    pub fn failed(&self) -> bool {
        !self.pass && !self.skipped
    }
}

/// Checks every gate against `result`. Errs when a gate's selector matches no case.
impl Gate {
    /// Whether this gate applies to the case of `scenario` at `tier`.
    pub fn selects(&self, scenario: &str, tier: u8) -> bool {
        self.scenario.as_ref().is_none_or(|s| s == scenario) && self.tier.is_none_or(|t| t == tier)
    }

    fn describe(&self, i: usize) -> String {
        format!(
            "gate[{i}] (scenario {}, tier {})",
            self.scenario.as_deref().unwrap_or("any"),
            self.tier.map_or("any".into(), |t| t.to_string())
        )
    }
}

/// Before a run: the first gate that selects none of the planned cases (scenario, tier), as a
/// message. A gate that can select nothing would fail only after the whole load was sent.
pub fn unmatched(gates: &[Gate], cases: &[(&str, u8)]) -> Option<String> {
    let (i, g) = gates
        .iter()
        .enumerate()
        .find(|(_, g)| !cases.iter().any(|(s, t)| g.selects(s, *t)))?;
    let planned: Vec<String> = cases.iter().map(|(s, t)| format!("{s} tier {t}")).collect();
    Some(format!(
        "{} selects none of this run's cases ({})",
        g.describe(i),
        planned.join(", ")
    ))
}

pub fn evaluate(gates: &[Gate], result: &RunResult) -> Result<Vec<Check>, String> {
    let mut out = Vec::new();
    for (i, g) in gates.iter().enumerate() {
        let cases: Vec<&CaseResult> = result
            .cases
            .iter()
            .filter(|c| g.selects(&c.scenario, c.tier))
            .collect();
        if cases.is_empty() {
            return Err(format!("{} matches no case of this run", g.describe(i)));
        }
        for c in cases {
            for t in &g.thresholds {
                let measured = metric(c, &t.metric);
                out.push(Check {
                    case: c.label(),
                    threshold: t.to_string(),
                    measured,
                    // No value never passes.
                    pass: measured.is_some_and(|m| t.op.holds(m, t.value)),
                    why: measured.is_none().then(|| missing::why(c, &t.metric)),
                    skipped: measured.is_none() && t.missing == Missing::Skip,
                });
            }
        }
    }
    // A run in which no post succeeded fails every gate, whatever its thresholds say: a service
    // that is down must not pass a gate of counts and skipped figures. (One case may fail every
    // post by design: the reference service passes every 429 on in service-429.)
    let mut seen: Vec<String> = Vec::new();
    let none_ok = result.cases.iter().all(|c| c.measured.posts.ok == 0);
    for c in result.cases.iter().filter(|_| none_ok) {
        let label = c.label();
        if seen.contains(&label) || !gates.iter().any(|g| g.selects(&c.scenario, c.tier)) {
            continue;
        }
        seen.push(label.clone());
        out.push(Check {
            case: label,
            threshold: "posts_ok >= 1".into(),
            measured: Some(0.0),
            pass: false,
            why: Some(missing::why(c, "post.p50_ms")),
            skipped: false,
        });
    }
    Ok(out)
}

/// `gates: 11 passed, 0 failed` (and `, 2 skipped (no value)` when any were).
pub fn summary_line(checks: &[Check]) -> String {
    let failed = checks.iter().filter(|c| c.failed()).count();
    let skipped = checks.iter().filter(|c| c.skipped).count();
    let passed = checks.len() - failed - skipped;
    let mut line = format!("gates: {passed} passed, {failed} failed");
    if skipped > 0 {
        line.push_str(&format!(
            ", {skipped} skipped (no value, missing = \"skip\")"
        ));
    }
    line
}

/// The failed thresholds, each with its case: `` `post.p95_ms <= 5000` (burst-100 tier 2) ``.
fn failed_names(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c.failed())
        .map(|c| format!("`{}` ({})", c.threshold, c.case))
        .collect()
}

/// The console's verdict line, first and last of `check`'s output (and of a gated run's gate
/// lines): `postload gate: FAIL (gates: 1 passed, 1 failed): `post.p95_ms <= 5000` (burst-100
/// tier 2)`, or `postload gate: PASS (...)`.
pub fn verdict_line(checks: &[Check]) -> String {
    let failed = failed_names(checks);
    if failed.is_empty() {
        format!("postload gate: PASS ({})", summary_line(checks))
    } else {
        format!(
            "postload gate: FAIL ({}): {}",
            summary_line(checks),
            failed.join(", ")
        )
    }
}

/// The step summary's first line: the verdict and, when it failed, which thresholds (metric
/// and case), so that a reviewer sees why before any table.
pub fn verdict_markdown(checks: &[Check]) -> String {
    let failed = failed_names(checks);
    if failed.is_empty() {
        format!("### postload gate: PASS ({})\n", summary_line(checks))
    } else {
        format!(
            "### postload gate: FAIL ({})\n\nFailed: {}\n",
            summary_line(checks),
            failed.join(", ")
        )
    }
}

/// What a check measured, for a person: `12.5`, or `no value: <why>`.
fn measured_text(c: &Check, number: impl Fn(f64) -> String) -> String {
    match (c.measured, &c.why) {
        (Some(m), Some(why)) => format!("{}: {why}", number(m)),
        (Some(m), None) => number(m),
        (None, Some(why)) => format!("no value: {why}"),
        (None, None) => "no value".into(),
    }
}

fn verdict(c: &Check) -> &'static str {
    if c.skipped {
        "SKIP"
    } else if c.pass {
        "PASS"
    } else {
        "FAIL"
    }
}

/// JUnit XML: one testsuite, one testcase per check; a failure carries the measured value, or
/// why there is none; a skipped check is `<skipped>` with its reason.
pub fn junit(checks: &[Check]) -> Vec<u8> {
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    let failures = checks.iter().filter(|c| c.failed()).count();
    let skipped = checks.iter().filter(|c| c.skipped).count();
    let skipped_attr = if skipped > 0 {
        format!(" skipped=\"{skipped}\"")
    } else {
        String::new()
    };
    let mut o = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"postload\" tests=\"{}\" failures=\"{failures}\"{skipped_attr}>\n<testsuite name=\"postload gates\" tests=\"{}\" failures=\"{failures}\"{skipped_attr}>\n",
        checks.len(),
        checks.len()
    );
    for c in checks {
        let measured = measured_text(c, |m| format!("{m}"));
        o.push_str(&format!(
            "  <testcase classname=\"{}\" name=\"{}\">",
            esc(&c.case),
            esc(&c.threshold)
        ));
        if c.skipped {
            o.push_str(&format!(
                "<skipped message=\"measured {}, missing = skip\"/>",
                esc(&measured)
            ));
        } else if !c.pass {
            o.push_str(&format!(
                "<failure message=\"measured {}, threshold {}\"/>",
                esc(&measured),
                esc(&c.threshold)
            ));
        } else {
            o.push_str(&format!(
                "<system-out>measured {}</system-out>",
                esc(&measured)
            ));
        }
        o.push_str("</testcase>\n");
    }
    o.push_str("</testsuite>\n</testsuites>\n");
    o.into_bytes()
}

/// The checks as text lines and as a Markdown table.
pub fn lines(checks: &[Check]) -> String {
    checks
        .iter()
        .map(|c| {
            format!(
                "{} {}: {} (measured {})\n",
                verdict(c),
                c.case,
                c.threshold,
                measured_text(c, |m| format!("{m:.6}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string())
            )
        })
        .collect()
}

pub fn markdown(checks: &[Check]) -> String {
    let mut o = String::from(
        "## Gates\n\n| case | threshold | measured | verdict |\n| --- | --- | ---: | --- |\n",
    );
    for c in checks {
        o.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            c.case,
            c.threshold,
            measured_text(c, |m| format!("{m:.4}")),
            if c.skipped {
                "skipped"
            } else if c.pass {
                "pass"
            } else {
                "**FAIL**"
            }
        ));
    }
    o
}

#[cfg(test)]
mod tests;
