//! Claims judged against a run's measurements: a claims file ([`crate::claims`]) and a result
//! in, verdicts out. Pure.

use serde::{Deserialize, Serialize};

use super::{CaseResult, RunResult};
pub use crate::claims::{parse, Check, Claim, ClaimsFile, Pct, EMBEDDED_CLAIMS};
use crate::claims::{Bound, BurstOf, CallCost, Mode, Saving, Switch};
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

/// The cases that ran the load a claim is about: bursts of `load.users` users on `load.model`,
/// whatever their scenarios are called, at any tier.
fn cases_of<'a>(result: &'a RunResult, load: &BurstOf) -> Vec<&'a CaseResult> {
    result
        .cases
        .iter()
        .filter(|c| is_burst_of(c, load.users) && c.inputs.model == load.model)
        .collect()
}

fn is_burst_of(c: &CaseResult, users: u64) -> bool {
    matches!(c.inputs.load, crate::scenario::Load::Burst { users: u } if u as u64 == users)
}

/// Why no case matched a load: what the run's bursts were instead.
fn load_missing(result: &RunResult, load: &BurstOf) -> String {
    let mut had: Vec<String> = result
        .cases
        .iter()
        .filter_map(|c| match c.inputs.load {
            crate::scenario::Load::Burst { users } => Some(format!(
                "{} had {users} users on {}",
                c.scenario, c.inputs.model
            )),
            _ => None,
        })
        .collect();
    had.dedup();
    let instead = if had.is_empty() {
        "it ran no burst".to_string()
    } else {
        format!("this run's {}", had.join(", "))
    };
    format!(
        "no burst of {} users on {} in this run: {instead}",
        load.users, load.model
    )
}

/// A latency claim: judged on every case of its load, one verdict per tier.
fn latency(
    claim: &Claim,
    result: &RunResult,
    load: &BurstOf,
    min_s: f64,
    max_s: f64,
    percentile: Pct,
) -> Vec<ClaimVerdict> {
    let cases = cases_of(result, load);
    if cases.is_empty() {
        return vec![not_measured(claim, load_missing(result, load))];
    }
    cases
        .into_iter()
        .map(|c| latency_verdict(claim, c, min_s, max_s, percentile))
        .collect()
}

/// Tokens per successful post, on the run's best case (of `model`, if the claim names one).
fn tokens_per_post(
    claim: &Claim,
    result: &RunResult,
    model: Option<&str>,
    value: f64,
    tolerance: f64,
) -> ClaimVerdict {
    let Some(c) = best_case(result, model) else {
        return not_measured(
            claim,
            match model {
                Some(m) => format!("no successful post on {m} in this run"),
                None => "no successful post".into(),
            },
        );
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
    bound: Bound,
) -> ClaimVerdict {
    let value = match bound {
        Bound::Near { value, .. } | Bound::AtMost(value) => value,
    };
    match best_case(result, Some(model)) {
        Some(c) if c.measured.tokens.source == TokenSource::Unknown => no_usage(claim, c),
        Some(c) => {
            let m = usd_per_ok_post(c, model, prices).unwrap_or(0.0);
            let (holds, cause) = match bound {
                Bound::Near { tolerance, .. } => (within(m, value, tolerance), None),
                Bound::AtMost(_) => (
                    m <= value,
                    (m > value).then(|| format!("${m:.5} a post is above the ceiling of ${value}")),
                ),
            };
            verdict(
                claim,
                Some(c),
                format!("${m:.5} ({})", pct(m, value)),
                holds_if(holds),
                cause,
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

/// The tokens of a burst of `users` on `model`: every call's tokens; it holds only if every
/// post succeeded (a failed post's tokens are not a post's).
fn tokens_per_batch(
    claim: &Claim,
    result: &RunResult,
    load: &BurstOf,
    value: f64,
    tolerance: f64,
) -> ClaimVerdict {
    let case = cases_of(result, load)
        .into_iter()
        .max_by_key(|c| (c.measured.posts.failed == 0, c.measured.posts.ok));
    let Some(c) = case else {
        return not_measured(claim, load_missing(result, load));
    };
    if c.interrupted {
        return cut_short(claim, c);
    }
    if c.measured.tokens.source == TokenSource::Unknown {
        return no_usage(claim, c);
    }
    let m = c.measured.tokens.total.total() as f64;
    let holds = within(m, value, tolerance) && c.measured.posts.failed == 0;
    verdict(
        claim,
        Some(c),
        format!(
            "{m:.0} tokens ({}), {} of {} posts ok",
            pct(m, value),
            c.measured.posts.ok,
            c.measured.posts.total
        ),
        holds_if(holds),
        (c.measured.posts.failed > 0).then(|| failure_cause(c)),
        "prompt + completion tokens of every call of the burst".into(),
    )
}

/// $ per successful call of one kind (image prompt or caption) on `model`.
fn cost_per_call(
    claim: &Claim,
    result: &RunResult,
    prices: &PriceTable,
    check: &CallCost,
) -> ClaimVerdict {
    let CallCost {
        model,
        call,
        value,
        tolerance,
    } = check;
    let (model, value, tolerance) = (model.as_str(), *value, *tolerance);
    let Some(c) = best_case(result, Some(model)) else {
        return not_measured(claim, format!("no {model} case in this run"));
    };
    if c.measured.tokens.source == TokenSource::Unknown {
        return no_usage(claim, c);
    }
    // Failed calls are in the call count but carry no tokens: only a case without failures
    // divides the call's tokens by its calls.
    if c.measured.posts.failed > 0 {
        return not_measured(
            claim,
            format!(
                "every {model} case had failed posts (best: {})",
                case_name(c)
            ),
        );
    }
    let key = call.key();
    let calls = c.measured.call_latency_ms.get(key).map_or(0, |p| p.count);
    let (Some(tokens), Some(price), true) = (
        c.measured.tokens.by_call.get(key),
        prices.models.get(model),
        calls > 0,
    ) else {
        return not_measured(
            claim,
            format!("no successful {key} call in {}", case_name(c)),
        );
    };
    let m = cost_usd(price, *tokens) / calls as f64;
    verdict(
        claim,
        Some(c),
        format!("${m:.5} ({})", pct(m, value)),
        holds_if(within(m, value, tolerance)),
        None,
        format!(
            "{} prompt + {} completion tokens over {calls} {key} calls at {model} prices ({})",
            tokens.prompt, tokens.completion, prices.version
        ),
    )
}

/// What switching `from` one model `to` another saves, from each model's measured $/post.
fn model_switch(
    claim: &Claim,
    result: &RunResult,
    prices: &PriceTable,
    check: &Switch,
) -> ClaimVerdict {
    let Switch {
        from,
        to,
        measure,
        value,
        tolerance,
    } = check;
    let (value, tolerance) = (*value, *tolerance);
    let per_post = |model: &str| {
        best_case(result, Some(model))
            .and_then(|c| usd_per_ok_post(c, model, prices).map(|p| (c, p)))
    };
    let (Some((_, old)), Some((new_case, new))) = (per_post(from), per_post(to)) else {
        return not_measured(
            claim,
            format!("needs a run with successful posts on both {from} and {to}"),
        );
    };
    let (m, measured) = match *measure {
        Saving::Share => {
            let m = 1.0 - new / old;
            (m, format!("{:.1} % saving ({})", m * 100.0, pct(m, value)))
        }
        Saving::Times => {
            let m = old / new;
            (m, format!("{m:.1}x cheaper ({})", pct(m, value)))
        }
        Saving::MonthlyUsd {
            users,
            posts_per_day,
        } => {
            let (u, d) = (users as f64, posts_per_day as f64);
            let m = monthly_usd(u, d, old) - monthly_usd(u, d, new);
            (m, format!("${m:.2}/month saved ({})", pct(m, value)))
        }
    };
    verdict(
        claim,
        Some(new_case),
        measured,
        holds_if(within(m, value, tolerance)),
        None,
        format!("measured $/post: {from} ${old:.5}, {to} ${new:.5}"),
    )
}

/// "A burst of `users` needs Tier `tier`": at a lower tier the claim holds if posts failed, from
/// that tier on if none did. One verdict per case of such a burst (every model).
fn needs_tier(claim: &Claim, result: &RunResult, users: u64, tier: u8) -> Vec<ClaimVerdict> {
    let cases: Vec<&CaseResult> = result
        .cases
        .iter()
        .filter(|c| is_burst_of(c, users))
        .collect();
    if cases.is_empty() {
        return vec![not_measured(
            claim,
            format!("no burst of {users} users in this run"),
        )];
    }
    cases
        .into_iter()
        .map(|c| {
            if c.interrupted {
                return cut_short(claim, c);
            }
            let p = &c.measured.posts;
            let below = c.tier < tier;
            let holds = if below { p.failed > 0 } else { p.failed == 0 };
            let cause = match (holds, below) {
                (true, _) => None,
                (false, true) => Some(format!(
                    "every post succeeded at Tier {} on {}: that tier suffices",
                    c.tier, c.inputs.model
                )),
                (false, false) => Some(failure_cause(c)),
            };
            verdict(
                claim,
                Some(c),
                format!(
                    "{} of {} posts ok at Tier {} on {}",
                    p.ok, p.total, c.tier, c.inputs.model
                ),
                holds_if(holds),
                cause,
                format!(
                    "{} ({} TPM): the claim expects {} here",
                    c.inputs.tier_set,
                    c.inputs.limits.tpm,
                    if below {
                        "failed posts"
                    } else {
                        "every post to succeed"
                    }
                ),
            )
        })
        .collect()
}

/// A tier's tokens-per-minute limit, against the tier set each case of that tier ran with.
fn tier_limit(
    claim: &Claim,
    result: &RunResult,
    model: &str,
    tier: u8,
    tpm: u64,
) -> Vec<ClaimVerdict> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for c in result
        .cases
        .iter()
        .filter(|c| c.tier == tier && c.inputs.model == model)
    {
        if seen.contains(&c.inputs.tier_set.as_str()) {
            continue;
        }
        seen.push(&c.inputs.tier_set);
        let actual = c.inputs.limits.tpm;
        out.push(verdict(
            claim,
            Some(c),
            format!("{actual} TPM ({})", pct(actual as f64, tpm as f64)),
            holds_if(actual == tpm),
            None,
            format!(
                "tier set `{}`, Tier {tier}, {model}: {actual} tokens and {} requests a minute",
                c.inputs.tier_set, c.inputs.limits.rpm
            ),
        ));
    }
    if out.is_empty() {
        out.push(not_measured(
            claim,
            format!("no Tier {tier} case on {model} in this run (`postload plan` reads every tier of the set)"),
        ));
    }
    out
}

/// A claim another mode settles: which one, and how.
fn elsewhere(claim: &Claim, result: &RunResult, mode: Mode) -> ClaimVerdict {
    let how = match mode {
        Mode::Service if result.cases.iter().any(|c| c.inputs.service.is_some()) => {
            "not judged automatically: compare the service's post latency with its OpenAI calls in the Service section"
        }
        Mode::Service => {
            "needs service mode: `postload run --target URL --with-stub` times the service beside its OpenAI calls"
        }
        Mode::Planner => "settled by `postload plan`: its caching and queue results (plan.md)",
    };
    not_measured(claim, how.into())
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
    let goodput = m
        .goodput(std::time::Duration::from_secs_f64(max_s))
        .map_or(String::new(), |g| {
            format!(", {:.0} % done within {max_s} s", g * 100.0)
        });
    let measured = match (lo, hi) {
        (Some(lo), Some(hi)) => format!(
            "p50 {lo:.2} s, {} {hi:.2} s, {} of {} posts ok{goodput}",
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
