//! The plan's decision, stated first: for each model × users, whether the target holds with
//! the design as it is and at which tier; if not, the cheapest change that makes it hold (by
//! the lever search's ranking, never resting on an assumed figure) and the closest that does
//! not, with its miss. Then the tier-upgrade view: for the current design, what each tier step
//! changes and what it takes to qualify. Every monthly figure carries its assumptions. Pure.

use serde::{Deserialize, Serialize};

use super::levers::{miss_text, LeverAnswer, LeverRow, LeverSearch};
use super::sim::Strategy;
use super::{Cell, Goal, PlanSpec};
use crate::openai::catalog::Catalog;

/// The decision: one line per model × users, and the upgrade path of the current design.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Decision {
    /// What every $/month of the plan assumes (users, posts a day, the day's curve, caches).
    pub month_basis: String,
    pub lines: Vec<DecisionLine>,
    pub upgrades: Vec<UpgradePath>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DecisionLine {
    pub model: String,
    pub users: u32,
    /// The lowest tier where the current design holds with SDK (or patient) retries.
    pub holds_as_designed_at: Option<u8>,
    /// The current design at that tier, or at the highest tier tried when it holds nowhere.
    pub as_designed: Option<LeverRow>,
    /// When it does not hold as designed: the cheapest change that does (modelled levers only).
    pub change: Option<LeverRow>,
    /// The closest that does not hold: with no more changes than `change`, or when nothing
    /// holds, the one that misses by least.
    pub closest: Option<LeverRow>,
    /// The best combination that holds only on an assumed figure, shown apart.
    pub assumed: Option<LeverRow>,
    /// The line as printed.
    pub text: String,
}

/// For the current design, one model × users × client: each tier's figures, lowest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpgradePath {
    pub model: String,
    pub users: u32,
    pub strategy: Strategy,
    pub tiers: Vec<TierStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TierStep {
    pub tier: u8,
    /// The calibrated account's own tier (its limits as read), not a published one.
    #[serde(default)]
    pub yours: bool,
    /// What it takes to reach the tier (the tier set's data), or the account's own mark.
    pub qualification: String,
    /// TPM of the model's rate-limit family at the tier.
    pub tpm: u64,
    pub success: f64,
    /// p95 of the whole post (the grid's cell, one seed).
    pub p95_s: Option<f64>,
    pub usd_per_month: Option<f64>,
    /// $ the tier's failed posts were billed in the simulated burst (the grid's `wasted_usd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasted_usd: Option<f64>,
    pub meets_target: bool,
}

/// Dollars as the plan prints them: whole above $100, cents above $1, else five decimals.
pub fn usd(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| {
        if v >= 100.0 {
            format!("${v:.0}")
        } else if v >= 1.0 {
            format!("${v:.2}")
        } else {
            format!("${v:.5}")
        }
    })
}

/// Posts a day per user the monthly figures assume, and whether the user gave it.
pub fn posts_a_day(spec: &PlanSpec) -> String {
    if let Some(t) = &spec.trace {
        return format!(
            "{} posts a day (the trace's {} over {} day(s))",
            crate::limits::num(spec.posts_per_user_per_day.unwrap_or(0.0)),
            t.posts,
            spec.days
        );
    }
    match spec.posts_per_user_per_day {
        Some(n) => format!("{} posts a day (--posts-per-day)", crate::limits::num(n)),
        None => format!(
            "{} posts a day (assumed, the note's middle case; --posts-per-day sets it)",
            crate::limits::num(super::BURST_POSTS_PER_DAY)
        ),
    }
}

/// The decision line's echo of the load: `5 posts a day each (assumed)`, or with the flag.
pub fn posts_each(spec: &PlanSpec) -> String {
    if let Some(t) = &spec.trace {
        return format!("the trace {} (--trace)", t.file);
    }
    match spec.posts_per_user_per_day {
        Some(n) => format!(
            "{} posts a day each (--posts-per-day)",
            crate::limits::num(n)
        ),
        None => format!(
            "{} posts a day each (assumed)",
            crate::limits::num(super::BURST_POSTS_PER_DAY)
        ),
    }
}

/// Who posts, in a line's head: `gpt-4o × 50 users`, or `gpt-4o` alone for a trace (its one
/// "user" is the trace, named beside).
pub fn who(spec: &PlanSpec, model: &str, users: u32) -> String {
    if spec.trace.is_some() {
        model.to_string()
    } else {
        format!("{model} × {users} users")
    }
}

/// The day's curve by name.
fn curve_name(spec: &PlanSpec) -> &'static str {
    if spec.curve == super::sim::BUSINESS_DAY {
        "the business day's curve"
    } else if spec.curve.windows(2).all(|w| w[0] == w[1]) {
        "a flat day"
    } else {
        "a custom daily curve"
    }
}

/// What every $/month assumes.
pub fn month_basis(spec: &PlanSpec) -> String {
    let load = match (&spec.trace, spec.posts_per_user_per_day) {
        (Some(t), _) => format!("at the trace's arrivals, {}× its pace", t.speed),
        (None, Some(_)) => format!("spread over {}", curve_name(spec)),
        (None, None) => "simulated as one burst of every user".into(),
    };
    let prompt = if spec.prompt_cache_hit_by_model.is_empty() {
        format!("{:.0} %", spec.prompt_cache_hit * 100.0)
    } else {
        "each model's profile's share".into()
    };
    format!(
        "$/month = {}{} × 30 days × $/post ({load}); response cache {:.0} %, prompt cache {prompt}",
        if spec.trace.is_some() {
            ""
        } else {
            "users × "
        },
        posts_a_day(spec),
        spec.response_cache_hit * 100.0,
    )
}

/// The latency a row is judged on, in words.
pub fn metric_text(r: &LeverRow) -> &'static str {
    if r.metric == "first_caption_token" {
        "first-caption-token p95"
    } else {
        "post p95"
    }
}

pub fn client(s: Strategy) -> &'static str {
    match s {
        Strategy::Sdk => "SDK retries",
        Strategy::Patient => "patient retries",
        Strategy::Queue => "client queue",
    }
}

/// `post p95 4.20 s [3.9–4.6 s over 6 seeds, marginal]`.
pub fn p95_text(r: &LeverRow, target_s: f64) -> String {
    let interval = r.p95_interval_s.map_or(String::new(), |(lo, hi)| {
        format!(
            " [{lo:.2}–{hi:.2} s over {} seeds{}]",
            r.seeds,
            if r.marginal(target_s) {
                ", marginal"
            } else {
                ""
            }
        )
    });
    let v = r.p95_s.map_or("-".into(), |v| format!("{v:.2} s"));
    format!("{} {v}{interval}", metric_text(r))
}

/// `parallel calls at Tier 2, SDK retries: post p95 4.20 s [...], $62.23/month`.
fn row_text(r: &LeverRow, goal: &Goal) -> String {
    format!(
        "{} at Tier {}, {}: {}, {}/month",
        r.changes_text(),
        r.tier,
        client(r.strategy),
        p95_text(r, goal.p95_s),
        usd(r.usd_per_month)
    )
}

/// The current design's rows of one model × users (no lever pulled but those `--lever` named,
/// no client queue), lowest tier first.
fn as_designed<'a>(spec: &PlanSpec, rows: &'a [&'a LeverRow]) -> Vec<&'a LeverRow> {
    let mut mine: Vec<&LeverRow> = rows
        .iter()
        .filter(|r| r.design == spec.design && r.strategy != Strategy::Queue)
        .copied()
        .collect();
    mine.sort_by_key(|r| (r.tier, r.strategy != Strategy::Sdk));
    mine
}

/// One model × users' decision from the search's rows and answer.
pub fn decide_one(spec: &PlanSpec, answer: &LeverAnswer, rows: &[&LeverRow]) -> DecisionLine {
    let goal = &spec.target;
    let designed = as_designed(spec, rows);
    let holds = designed.iter().find(|r| r.meets_target).copied();
    let shown = holds.or_else(|| designed.iter().max_by_key(|r| r.tier).copied());
    let head = format!(
        "{}, {}",
        who(spec, &answer.model, answer.users),
        posts_each(spec)
    );
    let design = if spec.design == super::Design::default() {
        "as designed (two sequential calls, the caption shown whole)".to_string()
    } else {
        format!("as designed ({})", spec.design.changes().join(" + "))
    };
    let (change, closest, text) = match (holds, answer.best.first()) {
        (Some(h), _) => {
            let text = format!(
                "{head}: {design} the target holds at Tier {}, {}: {}, {}/month",
                h.tier,
                client(h.strategy),
                p95_text(h, goal.p95_s),
                usd(h.usd_per_month)
            );
            (None, None, text)
        }
        (None, Some(best)) => {
            let mut text = format!(
                "{head}: {design} it does not hold at any tier{}; cheapest change that holds: {}",
                shown.map_or(String::new(), |r| format!(
                    " ({} at Tier {}, {})",
                    p95_text(r, goal.p95_s),
                    r.tier,
                    miss_text(r, goal)
                )),
                row_text(best, goal)
            );
            if let Some(r) = &answer.robust {
                text.push_str(&format!("; on every seed: {}", row_text(r, goal)));
            }
            if let Some(m) = &answer.near_miss {
                text.push_str(&format!(
                    "; closest that does not: {} ({})",
                    row_text(m, goal),
                    miss_text(m, goal)
                ));
            }
            (Some(best.clone()), answer.near_miss.clone(), text)
        }
        (None, None) => {
            let text = match &answer.closest {
                Some(c) => format!(
                    "{head}: {design} it does not hold, and no modelled change of the {} tried does; closest: {} ({})",
                    answer.evaluated,
                    row_text(c, goal),
                    miss_text(c, goal)
                ),
                None => format!("{head}: nothing evaluated"),
            };
            (None, answer.closest.clone(), text)
        }
    };
    DecisionLine {
        model: answer.model.clone(),
        users: answer.users,
        holds_as_designed_at: holds.map(|r| r.tier),
        as_designed: shown.cloned(),
        change,
        closest,
        assumed: answer.assumed.clone(),
        text,
    }
}

/// A line for a combination that holds only on an assumed figure.
pub fn assumed_text(spec: &PlanSpec, line: &DecisionLine) -> Option<String> {
    line.assumed.as_ref().map(|a| {
        format!(
            "{}: {}",
            who(spec, &line.model, line.users),
            row_text(a, &spec.target)
        )
    })
}

/// The decision for the whole plan: every answer of the search, and the current design's
/// tier steps from the grid's cells.
pub fn decide(
    catalog: &Catalog,
    spec: &PlanSpec,
    cells: &[Cell],
    levers: &LeverSearch,
) -> Decision {
    let lines = levers
        .answers
        .iter()
        .map(|a| {
            let rows: Vec<&LeverRow> = levers
                .evaluated
                .iter()
                .filter(|r| r.model == a.model && r.users == a.users)
                .collect();
            decide_one(spec, a, &rows)
        })
        .collect();
    Decision {
        month_basis: month_basis(spec),
        lines,
        upgrades: upgrades(catalog, spec, cells),
    }
}

/// For each model × users, the first non-queue strategy's cells, tier by tier.
fn upgrades(catalog: &Catalog, spec: &PlanSpec, cells: &[Cell]) -> Vec<UpgradePath> {
    let Some(&strategy) = spec
        .strategies
        .iter()
        .find(|s| **s != Strategy::Queue)
        .or(spec.strategies.first())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for model in &spec.models {
        for &users in &spec.users {
            let mut tiers: Vec<TierStep> = cells
                .iter()
                .filter(|c| &c.model == model && c.users == users && c.strategy == strategy)
                .map(|c| TierStep {
                    tier: c.tier,
                    yours: spec.account.as_ref().is_some_and(|a| a.tier == c.tier),
                    qualification: catalog
                        .tier(&spec.tier_set, c.tier)
                        .map(|t| t.qualification.clone())
                        .unwrap_or_default(),
                    tpm: c.tpm,
                    success: c.success,
                    p95_s: c.p95_s,
                    usd_per_month: c.usd_per_month,
                    wasted_usd: c.wasted_usd,
                    meets_target: c.meets_target,
                })
                .collect();
            tiers.sort_by_key(|t| t.tier);
            out.push(UpgradePath {
                model: model.clone(),
                users,
                strategy,
                tiers,
            });
        }
    }
    out
}

/// `Tier 1 → 2 (qualify: $50 paid ...): ok 4 % → 100 %, post p95 11.86 → 8.34 s, $18 → $62/month`.
pub fn step_text(from: &TierStep, to: &TierStep) -> String {
    let p = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let yours = |t: &TierStep| if t.yours { " (your account)" } else { "" };
    let qualify = match (to.yours, to.qualification.is_empty()) {
        (true, _) => String::new(),
        (false, true) => " (to qualify: not stated)".into(),
        (false, false) => format!(" (to qualify: {})", to.qualification),
    };
    format!(
        "Tier {}{} → {}{}{qualify}: ok {:.1} % → {:.1} %, post p95 {} → {} s, {} → {}/month{}",
        from.tier,
        yours(from),
        to.tier,
        yours(to),
        from.success * 100.0,
        to.success * 100.0,
        p(from.p95_s),
        p(to.p95_s),
        usd(from.usd_per_month),
        usd(to.usd_per_month),
        if to.meets_target && !from.meets_target {
            "; the target holds from here".to_string()
        } else {
            match from
                .wasted_usd
                .filter(|w| *w > 0.0 && from.success < to.success)
            {
                Some(w) => format!(
                    "; Tier {}'s failed posts also cost {} a burst (wasted)",
                    from.tier,
                    usd(Some(w))
                ),
                None => String::new(),
            }
        }
    )
}

#[cfg(test)]
mod tests;
