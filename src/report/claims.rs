//! Claims judged against a run's measurements: a claims file ([`crate::claims`]) and a result
//! in, verdicts out. Pure.

use super::{CaseResult, RunResult};
pub use crate::claims::{
    parse, Check, Claim, ClaimVerdict, ClaimsFile, Judgement, Pct, EMBEDDED_CLAIMS,
};
use crate::metrics::cost::cost_usd;
use crate::metrics::{FailureCause, TokenSource};
use crate::openai::catalog::PriceTable;

mod cost;
mod headline;
mod load;
mod service;

use self::cost::{
    cost_per_batch, cost_per_call, cost_per_post, model_switch, monthly_cost, tokens_per_batch,
    tokens_per_post,
};
pub use self::headline::{headline, Answer, Headline, Question};
use self::load::{elsewhere, is_burst_of, latency, needs_tier, tier_limit};
use self::service::service_own_time;

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

/// $ per successful post of `case`'s measured tokens at `model`'s price: the successful posts'
/// own tokens (the tokens of failed posts are wasted, shown apart), as `cost.per_ok_post_usd`.
pub(crate) fn usd_per_ok_post(case: &CaseResult, model: &str, prices: &PriceTable) -> Option<f64> {
    let price = prices.models.get(model)?;
    let ok = case.measured.posts.ok;
    let known = case.measured.tokens.source != TokenSource::Unknown;
    (ok > 0 && known).then(|| cost_usd(price, case.measured.tokens.own()) / ok as f64)
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

/// Judges every claim against `result`: one verdict per claim, or, for a claim about a load or
/// a tier, one per case that matches it.
pub fn evaluate(claims: &ClaimsFile, result: &RunResult, prices: &PriceTable) -> Vec<ClaimVerdict> {
    let mut out = Vec::new();
    for claim in &claims.claim {
        match &claim.check {
            Check::Latency {
                load,
                min_s,
                max_s,
                percentile,
            } => out.extend(latency(claim, result, load, *min_s, *max_s, *percentile)),
            Check::TokensPerPost {
                model,
                value,
                tolerance,
            } => out.push(tokens_per_post(
                claim,
                result,
                model.as_deref(),
                *value,
                *tolerance,
            )),
            Check::TokensPerBatch {
                load,
                value,
                tolerance,
            } => out.push(tokens_per_batch(claim, result, load, *value, *tolerance)),
            Check::CostPerPost { model, bound } => {
                out.push(cost_per_post(claim, result, prices, model, *bound))
            }
            Check::CostPerCall(check) => out.push(cost_per_call(claim, result, prices, check)),
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
            Check::ModelSwitch(check) => out.push(model_switch(claim, result, prices, check)),
            Check::NeedsTier { users, tier } => {
                out.extend(needs_tier(claim, result, *users, *tier))
            }
            Check::TierLimit { model, tier, tpm } => {
                out.extend(tier_limit(claim, result, model, *tier, *tpm))
            }
            Check::Elsewhere(mode) => out.push(elsewhere(claim, result, *mode)),
            Check::ServiceOwnTime { users, max_share } => {
                out.extend(service_own_time(claim, result, *users, *max_share))
            }
            Check::Caching { .. } | Check::Queuing { .. } => {
                out.push(elsewhere(claim, result, crate::claims::Mode::Planner))
            }
        }
    }
    out
}

/// Goodput for every latency bound the claims name (each distinct `max_s`, ascending).
pub fn goodput(claims: &ClaimsFile, measured: &crate::metrics::Measured) -> Vec<super::Goodput> {
    let mut bounds: Vec<f64> = claims
        .claim
        .iter()
        .filter_map(|c| match c.check {
            Check::Latency { max_s, .. } => Some(max_s),
            _ => None,
        })
        .collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    bounds
        .into_iter()
        .filter_map(|s| {
            let share = measured.goodput(std::time::Duration::from_secs_f64(s))?;
            Some(super::Goodput { within_s: s, share })
        })
        .collect()
}

/// The verdicts as the console prints them after the table: one line each, in words a reader
/// can forward (the statement, the case, the verdict, the figure, and why it fails).
pub fn console_lines(verdicts: &[ClaimVerdict]) -> String {
    let mut out = String::from("claims:\n");
    for v in verdicts {
        let case = v
            .case
            .as_deref()
            .map_or(String::new(), |c| format!(" ({c})"));
        let line = match v.verdict {
            Judgement::NotMeasured => format!("not measured: {}", v.evidence),
            j => {
                let cause = v
                    .cause
                    .as_deref()
                    .map_or(String::new(), |c| format!(": {c}"));
                format!("{}, {}{cause}", j.label(), v.measured)
            }
        };
        out.push_str(&format!("  {}{case}: {line}\n", v.statement));
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
    ClaimVerdict::on(
        claim,
        case.map(case_name),
        measured,
        verdict,
        cause,
        evidence,
    )
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
    Judgement::holds_if(holds)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_lines_say_verdict_figure_and_cause() {
        let v =
            |statement: &str, case: Option<&str>, verdict, measured: &str, cause: Option<&str>| {
                ClaimVerdict {
                    id: "x".into(),
                    statement: statement.into(),
                    case: case.map(Into::into),
                    measured: measured.into(),
                    verdict,
                    cause: cause.map(Into::into),
                    evidence: "needs service mode".into(),
                }
            };
        let text = console_lines(&[
            v(
                "2-5 s at 100 users",
                Some("burst-100 tier 2"),
                Judgement::Fails,
                "p50 4.10 s, p95 8.10 s, 100 of 100 posts ok",
                Some("model latency: no 429s"),
            ),
            v(
                "$0.0085 a post",
                Some("burst-100 tier 2"),
                Judgement::Holds,
                "$0.00829 (-2 %)",
                None,
            ),
            v("Mem0 is fast", None, Judgement::NotMeasured, "-", None),
        ]);
        assert_eq!(
            text,
            "claims:\n\
             \x20 2-5 s at 100 users (burst-100 tier 2): fails, p50 4.10 s, p95 8.10 s, 100 of 100 posts ok: model latency: no 429s\n\
             \x20 $0.0085 a post (burst-100 tier 2): holds, $0.00829 (-2 %)\n\
             \x20 Mem0 is fast: not measured: needs service mode\n"
        );
    }
}

#[cfg(test)]
mod common_tests;
#[cfg(test)]
mod cost_tests;
#[cfg(test)]
mod fixture;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod service_tests;
