//! Claims judged against a run's measurements: a claims file ([`crate::claims`]) and a result
//! in, verdicts out. Pure.

use serde::{Deserialize, Serialize};

use super::{CaseResult, RunResult};
pub use crate::claims::{parse, Check, Claim, ClaimsFile, Pct, EMBEDDED_CLAIMS};
use crate::metrics::cost::{cost_usd, monthly_usd};
use crate::metrics::{FailureCause, TokenSource};
use crate::openai::catalog::PriceTable;

/// A claim's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Holds,
    Fails,
    NotMeasured,
}

impl Judgement {
    pub fn label(self) -> &'static str {
        match self {
            Judgement::Holds => "holds",
            Judgement::Fails => "fails",
            Judgement::NotMeasured => "not measured by this run",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClaimVerdict {
    pub id: String,
    pub statement: String,
    /// The case the evidence comes from (`burst-50 tier 2`), if any.
    pub case: Option<String>,
    pub measured: String,
    pub verdict: Judgement,
    /// Why it fails: `model latency`, `rate limits`, or both.
    pub cause: Option<String>,
    pub evidence: String,
}

fn case_name(c: &CaseResult) -> String {
    c.label()
}

fn within(measured: f64, claimed: f64, tolerance: f64) -> bool {
    (measured - claimed).abs() <= tolerance * claimed.abs()
}

fn pct(measured: f64, claimed: f64) -> String {
    format!("{:+.0} %", (measured / claimed - 1.0) * 100.0)
}

/// The case whose successful posts best represent `model` (any model if `None`): the one with
/// the most successful posts, preferring cases without failures.
pub(crate) fn best_case<'a>(result: &'a RunResult, model: Option<&str>) -> Option<&'a CaseResult> {
    result
        .cases
        .iter()
        .filter(|c| model.is_none_or(|m| c.inputs.model == m) && c.measured.posts.ok > 0)
        .max_by_key(|c| (c.measured.posts.failed == 0, c.measured.posts.ok))
}

/// $ per successful post of `case`'s measured tokens at `model`'s price.
pub(crate) fn usd_per_ok_post(case: &CaseResult, model: &str, prices: &PriceTable) -> Option<f64> {
    let price = prices.models.get(model)?;
    let ok = case.measured.posts.ok;
    let known = case.measured.tokens.source != TokenSource::Unknown;
    (ok > 0 && known).then(|| cost_usd(price, case.measured.tokens.total) / ok as f64)
}

/// $ per successful post at `model`'s prices, projected from the tokens of the run's best case
/// (for a model the run did not use).
fn projected<'a>(
    result: &'a RunResult,
    model: &str,
    prices: &PriceTable,
) -> Option<(&'a CaseResult, f64)> {
    let c = best_case(result, None)?;
    usd_per_ok_post(c, model, prices).map(|p| (c, p))
}

/// Judges every claim against `result`: one verdict per claim, or, for a latency claim, one per
/// case of its scenario.
pub fn evaluate(claims: &ClaimsFile, result: &RunResult, prices: &PriceTable) -> Vec<ClaimVerdict> {
    let mut out = Vec::new();
    for claim in &claims.claim {
        match &claim.check {
            Check::Latency {
                scenario,
                min_s,
                max_s,
                percentile,
            } => out.extend(latency(
                claim,
                result,
                scenario,
                *min_s,
                *max_s,
                *percentile,
            )),
            Check::TokensPerPost { value, tolerance } => {
                out.push(tokens_per_post(claim, result, *value, *tolerance))
            }
            Check::CostPerPost {
                model,
                value,
                tolerance,
            } => out.push(cost_per_post(
                claim, result, prices, model, *value, *tolerance,
            )),
            Check::CostPerBatch {
                model,
                users,
                value,
                tolerance,
            } => out.push(cost_per_batch(
                claim, result, model, *users, *value, *tolerance,
            )),
            Check::MonthlyCost {
                model,
                tolerance,
                table,
            } => out.push(monthly_cost(
                claim, result, prices, model, *tolerance, table,
            )),
        }
    }
    out
}

/// A verdict on `claim`.
fn verdict(
    claim: &Claim,
    case: Option<&CaseResult>,
    measured: String,
    verdict: Judgement,
    cause: Option<String>,
    evidence: String,
) -> ClaimVerdict {
    ClaimVerdict {
        id: claim.id.clone(),
        statement: claim.statement.clone(),
        case: case.map(case_name),
        measured,
        verdict,
        cause,
        evidence,
    }
}

/// A claim this run has no case for.
fn not_measured(claim: &Claim, evidence: String) -> ClaimVerdict {
    verdict(
        claim,
        None,
        "-".into(),
        Judgement::NotMeasured,
        None,
        evidence,
    )
}

fn holds_if(holds: bool) -> Judgement {
    if holds {
        Judgement::Holds
    } else {
        Judgement::Fails
    }
}

/// A latency claim: judged on every case of its scenario.
fn latency(
    claim: &Claim,
    result: &RunResult,
    scenario: &str,
    min_s: f64,
    max_s: f64,
    percentile: Pct,
) -> Vec<ClaimVerdict> {
    let cases: Vec<_> = result
        .cases
        .iter()
        .filter(|c| c.scenario == scenario)
        .collect();
    if cases.is_empty() {
        return vec![not_measured(
            claim,
            format!("no `{scenario}` case in this run"),
        )];
    }
    cases
        .into_iter()
        .map(|c| latency_verdict(claim, c, min_s, max_s, percentile))
        .collect()
}

/// Tokens per successful post, on the run's best case.
fn tokens_per_post(claim: &Claim, result: &RunResult, value: f64, tolerance: f64) -> ClaimVerdict {
    let Some(c) = best_case(result, None) else {
        return not_measured(claim, "no successful post".into());
    };
    if c.measured.tokens.source == TokenSource::Unknown {
        return no_usage(claim, c);
    }
    let m = c.measured.tokens.per_ok_post.unwrap_or(0.0);
    let holds = within(m, value, tolerance);
    let t = c.measured.tokens.total;
    verdict(
        claim,
        Some(c),
        format!("{m:.0} tokens ({})", pct(m, value)),
        holds_if(holds),
        None,
        format!(
            "{} prompt + {} completion tokens over {} successful posts ({})",
            t.prompt,
            t.completion,
            c.measured.posts.ok,
            match c.measured.tokens.source {
                TokenSource::Stub => "counted by the stub alongside the service",
                _ => "usage reported by the target",
            }
        ),
    )
}

/// $ per successful post at `model`'s prices, on the best case of that model; without one, the
/// evidence gives a projection from another model's tokens.
fn cost_per_post(
    claim: &Claim,
    result: &RunResult,
    prices: &PriceTable,
    model: &str,
    value: f64,
    tolerance: f64,
) -> ClaimVerdict {
    match best_case(result, Some(model)) {
        Some(c) if c.measured.tokens.source == TokenSource::Unknown => no_usage(claim, c),
        Some(c) => {
            let m = usd_per_ok_post(c, model, prices).unwrap_or(0.0);
            let holds = within(m, value, tolerance);
            verdict(
                claim,
                Some(c),
                format!("${m:.5} ({})", pct(m, value)),
                holds_if(holds),
                None,
                format!("measured tokens at {model} prices ({})", prices.version),
            )
        }
        None => {
            let projection = projected(result, model, prices).map_or(String::new(), |(c, p)| {
                format!(
                    "; projected from the tokens of {} at {model} prices: ${p:.5} ({})",
                    case_name(c),
                    pct(p, value)
                )
            });
            not_measured(claim, format!("no {model} case in this run{projection}"))
        }
    }
}

/// The total cost of a burst of `users` users of `model`; it holds only if every post succeeded.
fn cost_per_batch(
    claim: &Claim,
    result: &RunResult,
    model: &str,
    users: u64,
    value: f64,
    tolerance: f64,
) -> ClaimVerdict {
    let case = result
        .cases
        .iter()
        .filter(|c| c.inputs.model == model && c.inputs.load.users() as u64 == users)
        .max_by_key(|c| (c.measured.posts.failed == 0, c.measured.posts.ok));
    match case {
        Some(c) if c.interrupted => cut_short(claim, c),
        Some(c) if c.measured.tokens.source == TokenSource::Unknown => no_usage(claim, c),
        Some(c) => {
            let m = c.measured.cost.as_ref().map_or(0.0, |k| k.total_usd);
            let holds = within(m, value, tolerance) && c.measured.posts.failed == 0;
            let cause = (c.measured.posts.failed > 0).then(|| failure_cause(c));
            verdict(
                claim,
                Some(c),
                format!(
                    "${m:.3} ({}), {} of {} posts ok",
                    pct(m, value),
                    c.measured.posts.ok,
                    c.measured.posts.total
                ),
                holds_if(holds),
                cause,
                "total cost of the burst's calls".into(),
            )
        }
        None => not_measured(
            claim,
            format!("no {model} burst of {users} users in this run"),
        ),
    }
}

/// A table of monthly costs (users, posts a day, $), each cell within `tolerance` of the
/// measured $/post of `model` times the load; without a case of that model, the evidence gives
/// a projection.
fn monthly_cost(
    claim: &Claim,
    result: &RunResult,
    prices: &PriceTable,
    model: &str,
    tolerance: f64,
    table: &[(u64, u64, f64)],
) -> ClaimVerdict {
    let best = best_case(result, Some(model));
    let per_post = best.and_then(|c| usd_per_ok_post(c, model, prices).map(|p| (c, p)));
    match per_post {
        None if best.is_some_and(|c| c.measured.tokens.source == TokenSource::Unknown) => {
            no_usage(claim, best.expect("checked above"))
        }
        Some((c, p)) => {
            let cells: Vec<(f64, f64)> = table
                .iter()
                .map(|(users, ppd, usd)| (monthly_usd(*users as f64, *ppd as f64, p), *usd))
                .collect();
            let holds = cells
                .iter()
                .all(|(m, claimed)| within(*m, *claimed, tolerance));
            let measured = cells
                .iter()
                .map(|(m, _)| format!("${m:.2}"))
                .collect::<Vec<_>>()
                .join(" / ");
            verdict(
                claim,
                Some(c),
                measured,
                holds_if(holds),
                None,
                format!("users x posts/day x 30 days x ${p:.5} measured per post"),
            )
        }
        None => {
            let projection = projected(result, model, prices).map_or(String::new(), |(c, p)| {
                let cells: Vec<String> = table
                    .iter()
                    .map(|(users, ppd, _)| {
                        format!("${:.2}", monthly_usd(*users as f64, *ppd as f64, p))
                    })
                    .collect();
                format!(
                    "; projected from the tokens of {} at {model} prices: {}",
                    case_name(c),
                    cells.join(" / ")
                )
            });
            not_measured(claim, format!("no {model} case in this run{projection}"))
        }
    }
}

/// A claim about a whole case (its latency, its batch cost) on a case a signal cut short: its
/// figures cover only the posts that finished, so it is not judged.
fn cut_short(claim: &Claim, c: &CaseResult) -> ClaimVerdict {
    ClaimVerdict {
        id: claim.id.clone(),
        statement: claim.statement.clone(),
        case: Some(case_name(c)),
        measured: match c.inputs.load {
            crate::scenario::Load::Burst { users } => {
                format!("{} of {users} posts finished", c.measured.posts.total)
            }
            _ => format!("{} posts finished", c.measured.posts.total),
        },
        verdict: Judgement::NotMeasured,
        cause: None,
        evidence: "not measured: the run was interrupted during this case, so its figures cover only the posts that finished".into(),
    }
}

/// A token or cost claim on a case whose tokens are unknown: never 0, never "fails".
fn no_usage(claim: &Claim, c: &CaseResult) -> ClaimVerdict {
    ClaimVerdict {
        id: claim.id.clone(),
        statement: claim.statement.clone(),
        case: Some(case_name(c)),
        measured: "unknown".into(),
        verdict: Judgement::NotMeasured,
        cause: None,
        evidence: format!(
            "not measured (no usage from the target): {} successful calls carried no usage and no stub counted them",
            c.measured.tokens.calls_without_usage
        ),
    }
}

fn failure_cause(c: &CaseResult) -> String {
    let p = &c.measured.posts;
    let limited = p
        .failed_by_cause
        .get(&FailureCause::RateLimited)
        .copied()
        .unwrap_or(0);
    if limited == p.failed {
        format!(
            "rate limits: {limited} of {} posts failed after 429s",
            p.total
        )
    } else {
        let causes: Vec<String> = p
            .failed_by_cause
            .iter()
            .map(|(k, v)| format!("{v} {}", super::name_of(k)))
            .collect();
        format!("failures: {}", causes.join(", "))
    }
}

/// A latency claim on one case: the claimed percentile at most `max_s`, the median at least
/// `min_s`, and every post successful.
fn latency_verdict(claim: &Claim, c: &CaseResult, min_s: f64, max_s: f64, p: Pct) -> ClaimVerdict {
    if c.interrupted {
        return cut_short(claim, c);
    }
    let m = &c.measured;
    let ok = &m.post_latency_ms.ok;
    let hi = p.of(ok).map(|v| v / 1000.0);
    let lo = ok.p50.map(|v| v / 1000.0);
    let measured = match (lo, hi) {
        (Some(lo), Some(hi)) => format!(
            "p50 {lo:.2} s, {} {hi:.2} s, {} of {} posts ok",
            p.name(),
            m.posts.ok,
            m.posts.total
        ),
        _ => format!("no successful post of {}", m.posts.total),
    };
    let mut causes = Vec::new();
    if m.posts.failed > 0 {
        causes.push(failure_cause(c));
    }
    let too_slow = hi.is_none_or(|hi| hi > max_s);
    if too_slow && hi.is_some() {
        causes.extend(slowness_cause(c));
    }
    let too_fast = lo.is_some_and(|lo| lo < min_s);
    if too_fast {
        causes.push(format!("faster than claimed: p50 below {min_s} s"));
    }
    let holds = m.posts.failed == 0 && !too_slow && !too_fast;
    verdict(
        claim,
        Some(c),
        measured,
        holds_if(holds),
        (!holds).then(|| causes.join("; ")),
        latency_evidence(c),
    )
}

/// Why successful posts were slower than claimed, unless failed posts already say it (their
/// 429s): the rate limits (backoff, or 429s inside the service) or the model itself.
fn slowness_cause(c: &CaseResult) -> Option<String> {
    let m = &c.measured;
    let rate_limited = m
        .posts
        .failed_by_cause
        .contains_key(&FailureCause::RateLimited);
    if rate_limited {
        return None;
    }
    if c.inputs.service.is_some() {
        // Service mode: the retries happen inside the service; only the stub saw them.
        let inner_429s = c.stub.as_ref().map(|st| st.rate_limited_total());
        return Some(match inner_429s {
            Some(n) if n > 0 => format!(
                "rate limits: the stub answered {n} 429s to the service's calls, which it retried"
            ),
            Some(_) => "model latency: no 429s inside the service, its calls take this long".into(),
            None => {
                "the service is slower than claimed (run with --with-stub to see its calls)".into()
            }
        });
    }
    // Slow posts: 429 backoff, or the model itself.
    Some(if m.backoff_ms.count > 0 {
        format!(
            "rate limits: {} posts waited in 429 backoff (p95 {:.2} s)",
            m.backoff_ms.count,
            m.backoff_ms.p95.unwrap_or(0.0) / 1000.0
        )
    } else {
        "model latency: no 429s, the calls themselves take this long".into()
    })
}

/// A latency verdict's evidence: the tier, and the OpenAI calls' latencies and 429s, as the run
/// saw them or, in service mode, as the stub alongside saw them.
fn latency_evidence(c: &CaseResult) -> String {
    let m = &c.measured;
    let call = |k: &str| {
        m.call_latency_ms
            .get(k)
            .and_then(|p| p.p50)
            .map_or("-".into(), |v| format!("{:.2} s", v / 1000.0))
    };
    match (&c.stub, c.inputs.service.is_some()) {
        (Some(st), true) => format!(
            "tier {} ({} TPM); the service's OpenAI calls (stub): p50 {}, p95 {}; {} 429s inside the service",
            c.tier,
            c.inputs.limits.tpm,
            st.latency_ms.p50.map_or("-".into(), |v| format!("{:.2} s", v / 1000.0)),
            st.latency_ms.p95.map_or("-".into(), |v| format!("{:.2} s", v / 1000.0)),
            st.rate_limited_total()
        ),
        (None, true) => format!(
            "tier {} ({} TPM) assumed; the service's calls were not observed",
            c.tier, c.inputs.limits.tpm
        ),
        _ => format!(
            "tier {} ({} TPM); call p50: image prompt {}, caption {}; {} 429s, {} retries",
            c.tier,
            c.inputs.limits.tpm,
            call("image_prompt"),
            call("caption"),
            m.calls.http_429,
            m.calls.retries
        ),
    }
}
