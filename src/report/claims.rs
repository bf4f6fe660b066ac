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
pub struct Verdict {
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

pub fn evaluate(claims: &ClaimsFile, result: &RunResult, prices: &PriceTable) -> Vec<Verdict> {
    let mut out = Vec::new();
    for claim in &claims.claim {
        let verdict =
            |case: Option<&CaseResult>, measured: String, verdict, cause, evidence| Verdict {
                id: claim.id.clone(),
                statement: claim.statement.clone(),
                case: case.map(case_name),
                measured,
                verdict,
                cause,
                evidence,
            };
        match &claim.check {
            Check::Latency {
                scenario,
                min_s,
                max_s,
                percentile,
            } => {
                let cases: Vec<_> = result
                    .cases
                    .iter()
                    .filter(|c| &c.scenario == scenario)
                    .collect();
                if cases.is_empty() {
                    out.push(verdict(
                        None,
                        "-".into(),
                        Judgement::NotMeasured,
                        None,
                        format!("no `{scenario}` case in this run"),
                    ));
                }
                for c in cases {
                    out.push(latency_verdict(claim, c, *min_s, *max_s, *percentile));
                }
            }
            Check::TokensPerPost { value, tolerance } => match best_case(result, None) {
                None => out.push(verdict(
                    None,
                    "-".into(),
                    Judgement::NotMeasured,
                    None,
                    "no successful post".into(),
                )),
                Some(c) if c.measured.tokens.source == TokenSource::Unknown => {
                    out.push(no_usage(claim, c))
                }
                Some(c) => {
                    let m = c.measured.tokens.per_ok_post.unwrap_or(0.0);
                    let holds = within(m, *value, *tolerance);
                    let t = c.measured.tokens.total;
                    out.push(verdict(
                        Some(c),
                        format!("{m:.0} tokens ({})", pct(m, *value)),
                        if holds {
                            Judgement::Holds
                        } else {
                            Judgement::Fails
                        },
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
                    ));
                }
            },
            Check::CostPerPost {
                model,
                value,
                tolerance,
            } => match best_case(result, Some(model)) {
                Some(c) if c.measured.tokens.source == TokenSource::Unknown => {
                    out.push(no_usage(claim, c))
                }
                Some(c) => {
                    let m = usd_per_ok_post(c, model, prices).unwrap_or(0.0);
                    let holds = within(m, *value, *tolerance);
                    out.push(verdict(
                        Some(c),
                        format!("${m:.5} ({})", pct(m, *value)),
                        if holds {
                            Judgement::Holds
                        } else {
                            Judgement::Fails
                        },
                        None,
                        format!("measured tokens at {model} prices ({})", prices.version),
                    ));
                }
                None => {
                    let projection =
                        projected(result, model, prices).map_or(String::new(), |(c, p)| {
                            format!(
                                "; projected from the tokens of {} at {model} prices: ${p:.5} ({})",
                                case_name(c),
                                pct(p, *value)
                            )
                        });
                    out.push(verdict(
                        None,
                        "-".into(),
                        Judgement::NotMeasured,
                        None,
                        format!("no {model} case in this run{projection}"),
                    ));
                }
            },
            Check::CostPerBatch {
                model,
                users,
                value,
                tolerance,
            } => {
                let case = result
                    .cases
                    .iter()
                    .filter(|c| &c.inputs.model == model && c.inputs.load.users() as u64 == *users)
                    .max_by_key(|c| (c.measured.posts.failed == 0, c.measured.posts.ok));
                match case {
                    Some(c) if c.interrupted => out.push(cut_short(claim, c)),
                    Some(c) if c.measured.tokens.source == TokenSource::Unknown => {
                        out.push(no_usage(claim, c))
                    }
                    Some(c) => {
                        let m = c.measured.cost.as_ref().map_or(0.0, |k| k.total_usd);
                        let holds = within(m, *value, *tolerance) && c.measured.posts.failed == 0;
                        let cause = (c.measured.posts.failed > 0).then(|| failure_cause(c));
                        out.push(verdict(
                            Some(c),
                            format!(
                                "${m:.3} ({}), {} of {} posts ok",
                                pct(m, *value),
                                c.measured.posts.ok,
                                c.measured.posts.total
                            ),
                            if holds {
                                Judgement::Holds
                            } else {
                                Judgement::Fails
                            },
                            cause,
                            "total cost of the burst's calls".into(),
                        ));
                    }
                    None => out.push(verdict(
                        None,
                        "-".into(),
                        Judgement::NotMeasured,
                        None,
                        format!("no {model} burst of {users} users in this run"),
                    )),
                }
            }
            Check::MonthlyCost {
                model,
                tolerance,
                table,
            } => {
                let best = best_case(result, Some(model));
                let per_post = best.and_then(|c| usd_per_ok_post(c, model, prices).map(|p| (c, p)));
                match per_post {
                    None if best
                        .is_some_and(|c| c.measured.tokens.source == TokenSource::Unknown) =>
                    {
                        out.push(no_usage(claim, best.expect("checked above")))
                    }
                    Some((c, p)) => {
                        let cells: Vec<(f64, f64)> = table
                            .iter()
                            .map(|(users, ppd, usd)| {
                                (monthly_usd(*users as f64, *ppd as f64, p), *usd)
                            })
                            .collect();
                        let holds = cells
                            .iter()
                            .all(|(m, claimed)| within(*m, *claimed, *tolerance));
                        let measured = cells
                            .iter()
                            .map(|(m, _)| format!("${m:.2}"))
                            .collect::<Vec<_>>()
                            .join(" / ");
                        out.push(verdict(
                            Some(c),
                            measured,
                            if holds {
                                Judgement::Holds
                            } else {
                                Judgement::Fails
                            },
                            None,
                            format!("users x posts/day x 30 days x ${p:.5} measured per post"),
                        ));
                    }
                    None => {
                        let projection =
                            projected(result, model, prices).map_or(String::new(), |(c, p)| {
                                let cells: Vec<String> = table
                                    .iter()
                                    .map(|(users, ppd, _)| {
                                        format!(
                                            "${:.2}",
                                            monthly_usd(*users as f64, *ppd as f64, p)
                                        )
                                    })
                                    .collect();
                                format!(
                                    "; projected from the tokens of {} at {model} prices: {}",
                                    case_name(c),
                                    cells.join(" / ")
                                )
                            });
                        out.push(verdict(
                            None,
                            "-".into(),
                            Judgement::NotMeasured,
                            None,
                            format!("no {model} case in this run{projection}"),
                        ))
                    }
                }
            }
        }
    }
    out
}

/// A claim about a whole case (its latency, its batch cost) on a case a signal cut short: its
/// figures cover only the posts that finished, so it is not judged.
fn cut_short(claim: &Claim, c: &CaseResult) -> Verdict {
    Verdict {
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
fn no_usage(claim: &Claim, c: &CaseResult) -> Verdict {
    Verdict {
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

fn latency_verdict(claim: &Claim, c: &CaseResult, min_s: f64, max_s: f64, p: Pct) -> Verdict {
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
    let rate_limited = m
        .posts
        .failed_by_cause
        .contains_key(&FailureCause::RateLimited);
    let service = c.inputs.service.is_some();
    let inner_429s = c.stub.as_ref().map(|st| st.rate_limited_total());
    if too_slow && hi.is_some() && !rate_limited && service {
        // Service mode: the retries happen inside the service; only the stub saw them.
        causes.push(match inner_429s {
            Some(n) if n > 0 => format!(
                "rate limits: the stub answered {n} 429s to the service's calls, which it retried"
            ),
            Some(_) => "model latency: no 429s inside the service, its calls take this long".into(),
            None => {
                "the service is slower than claimed (run with --with-stub to see its calls)".into()
            }
        });
    } else if too_slow && hi.is_some() && !rate_limited {
        // Slow posts: 429 backoff, or the model itself.
        if m.backoff_ms.count > 0 {
            causes.push(format!(
                "rate limits: {} posts waited in 429 backoff (p95 {:.2} s)",
                m.backoff_ms.count,
                m.backoff_ms.p95.unwrap_or(0.0) / 1000.0
            ));
        } else {
            causes.push("model latency: no 429s, the calls themselves take this long".into());
        }
    }
    let too_fast = lo.is_some_and(|lo| lo < min_s);
    if too_fast {
        causes.push(format!("faster than claimed: p50 below {min_s} s"));
    }
    let holds = m.posts.failed == 0 && !too_slow && !too_fast;
    let call = |k: &str| {
        m.call_latency_ms
            .get(k)
            .and_then(|p| p.p50)
            .map_or("-".into(), |v| format!("{:.2} s", v / 1000.0))
    };
    Verdict {
        id: claim.id.clone(),
        statement: claim.statement.clone(),
        case: Some(case_name(c)),
        measured,
        verdict: if holds {
            Judgement::Holds
        } else {
            Judgement::Fails
        },
        cause: (!holds).then(|| causes.join("; ")),
        evidence: match (&c.stub, service) {
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
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_or_infinite_number_in_a_claim_names_its_field() {
        let claim = |min: &str, max: &str| {
            format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nscenario = \"b\"\nmin_s = {min}\nmax_s = {max}\n")
        };
        let e = parse("c.toml", &claim("nan", "5")).unwrap_err();
        assert!(e.contains("field `min_s`") && !e.contains("exceed"), "{e}");
        let e = parse("c.toml", &claim("2", "inf")).unwrap_err();
        assert!(e.contains("field `max_s`"), "{e}");
        let e = parse(
            "c.toml",
            "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = nan\ntolerance = 0.1\n",
        )
        .unwrap_err();
        assert!(e.contains("field `value`"), "{e}");
    }

    #[test]
    fn the_embedded_claims_parse() {
        let c = parse("scenarios/claims.toml", EMBEDDED_CLAIMS).unwrap();
        assert_eq!(c.claim.len(), 9);
        assert!(matches!(
            c.claim[0].check,
            Check::Latency {
                percentile: Pct::P95,
                ..
            }
        ));
    }

    #[test]
    fn a_bad_claim_names_file_and_claim() {
        let e = parse("c.toml", "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nscenario = \"b\"\nmin_s = 5\nmax_s = 2\npercentile = \"p95\"\n").unwrap_err();
        assert!(
            e.contains("c.toml") && e.contains("claim[0] (x)") && e.contains("min_s"),
            "{e}"
        );
        let e = parse(
            "c.toml",
            "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"vibes\"\n",
        )
        .unwrap_err();
        assert!(e.contains("c.toml") && e.contains("vibes"), "{e}");
        let e = parse("c.toml", "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = 1\ntolerence = 0.1\n").unwrap_err();
        assert!(e.contains("line 6") && e.contains("tolerence"), "{e}");
        let e = parse(
            "c.toml",
            "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = 1\n",
        )
        .unwrap_err();
        assert!(
            e.contains("claim[0] (x)") && e.contains("`tolerance`"),
            "{e}"
        );
    }
}
