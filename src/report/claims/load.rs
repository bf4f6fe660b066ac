//! Claims about a load and a tier: a burst's latency (with its cause and evidence), what tier a
//! burst needs, a tier's limit, and the claims another mode settles. Cases are matched by the
//! load they ran (users, model), never by scenario name.

use super::{
    cut_short, failure_cause, holds_if, not_measured, pct, verdict, CaseResult, Claim,
    ClaimVerdict, Pct, RunResult,
};
use crate::claims::{BurstOf, Mode};
use crate::metrics::FailureCause;

/// The cases that ran the load a claim is about: bursts of `load.users` users on `load.model`,
/// whatever their scenarios are called, at any tier.
pub(super) fn cases_of<'a>(result: &'a RunResult, load: &BurstOf) -> Vec<&'a CaseResult> {
    result
        .cases
        .iter()
        .filter(|c| is_burst_of(c, load.users) && c.inputs.model == load.model)
        .collect()
}

pub(super) fn is_burst_of(c: &CaseResult, users: u64) -> bool {
    matches!(c.inputs.load, crate::scenario::Load::Burst { users: u } if u as u64 == users)
}

/// Why no case matched a load: what the run's bursts were instead.
pub(super) fn load_missing(result: &RunResult, load: &BurstOf) -> String {
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
pub(super) fn latency(
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

/// "A burst of `users` needs Tier `tier`": at a lower tier the claim holds if posts failed, from
/// that tier on if none did. One verdict per case of such a burst (every model).
pub(super) fn needs_tier(
    claim: &Claim,
    result: &RunResult,
    users: u64,
    tier: u8,
) -> Vec<ClaimVerdict> {
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

/// A tier's tokens-per-minute limit, against each tier set the run used for `model` (the
/// catalog in force at run time, kept in result.json), with or without a case at that tier.
/// A result written before `tier_limits` existed is judged on its cases of that tier.
pub(super) fn tier_limit(
    claim: &Claim,
    result: &RunResult,
    model: &str,
    tier: u8,
    tpm: u64,
) -> Vec<ClaimVerdict> {
    let rows: Vec<(&str, u64, u64)> = if result.tier_limits.is_empty() {
        result
            .cases
            .iter()
            .filter(|c| c.tier == tier && c.inputs.model == model)
            .map(|c| {
                (
                    c.inputs.tier_set.as_str(),
                    c.inputs.limits.tpm,
                    c.inputs.limits.rpm,
                )
            })
            .collect()
    } else {
        result
            .tier_limits
            .iter()
            .filter(|r| r.tier == tier && r.model == model)
            .map(|r| (r.tier_set.as_str(), r.tpm, r.rpm))
            .collect()
    };
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for (set, actual, rpm) in rows {
        if seen.contains(&set) {
            continue;
        }
        seen.push(set);
        let case = result
            .cases
            .iter()
            .find(|c| c.tier == tier && c.inputs.model == model && c.inputs.tier_set == set);
        out.push(verdict(
            claim,
            case,
            format!("{actual} TPM ({})", pct(actual as f64, tpm as f64)),
            holds_if(actual == tpm),
            None,
            format!(
                "tier set `{set}`, Tier {tier}, {model}: {actual} tokens and {rpm} requests a minute"
            ),
        ));
    }
    if out.is_empty() {
        let none = if result.tier_limits.is_empty() {
            format!("no Tier {tier} case on {model} in this run")
        } else {
            format!("no Tier {tier} limits for {model} in the tier sets this run used")
        };
        out.push(not_measured(
            claim,
            format!("{none} (`postload plan` reads every tier of the set)"),
        ));
    }
    out
}

/// A claim another mode settles: which one, and how.
pub(super) fn elsewhere(claim: &Claim, result: &RunResult, mode: Mode) -> ClaimVerdict {
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
