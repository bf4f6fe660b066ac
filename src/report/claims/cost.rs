//! Claims about tokens and money: per post, per call, per batch, per month, and what a model
//! switch saves, each from the measured tokens at the price table's prices.

use super::load::{cases_of, load_missing};
use super::{
    best_case, case_name, cut_short, failure_cause, holds_if, no_usage, not_measured, pct,
    projected, usd_per_ok_post, verdict, within, Claim, ClaimVerdict, RunResult,
};
use crate::claims::{Bound, BurstOf, CallCost, Saving, Switch};
use crate::metrics::cost::{cost_usd, monthly_usd};
use crate::metrics::TokenSource;
use crate::openai::catalog::PriceTable;

/// Tokens per successful post, on the run's best case (of `model`, if the claim names one).
pub(super) fn tokens_per_post(
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
    let t = c.measured.tokens.own();
    let wasted = match (c.measured.tokens.wasted, c.measured.posts.failed) {
        (_, 0) => String::new(),
        (Some(w), n) => format!("; {} tokens of {n} failed posts apart (wasted)", w.total()),
        (None, n) => format!("; with the tokens of {n} failed posts (not split by post)"),
    };
    verdict(
        claim,
        Some(c),
        format!("{m:.0} tokens ({})", pct(m, value)),
        holds_if(holds),
        None,
        format!(
            "{} prompt + {} completion tokens over {} successful posts ({}){wasted}",
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
pub(super) fn cost_per_post(
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
pub(super) fn cost_per_batch(
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
        .filter(|c| c.inputs.model == model && super::load::is_burst_of(c, users))
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
            super::load::load_missing(
                result,
                &crate::claims::BurstOf {
                    users,
                    model: model.into(),
                },
            ),
        ),
    }
}

/// A table of monthly costs (users, posts a day, $), each cell within `tolerance` of the
/// measured $/post of `model` times the load; without a case of that model, the evidence gives
/// a projection.
pub(super) fn monthly_cost(
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
pub(super) fn tokens_per_batch(
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
pub(super) fn cost_per_call(
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
pub(super) fn model_switch(
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
