//! `plan --validate --validate-levers`: the design levers a live run can execute, live beside
//! the planner (issue 16 §3). For each user count it runs, at the validation's tiers (Tier 2
//! unless `--validate-tier`), the note's design, each executable lever alone at the lever
//! search's value, and the plan's best combination for gpt-4o at that user count less what a run
//! cannot execute: a streamed caption changes no call (its metric, the time to the first caption
//! token, is compared on every row: the live run takes it from the stub's `x-stub-ttft-ms`), and
//! a response cache lives in the service. Both sides share their draws, as in [`super::compare`];
//! a row is flagged when its p50, p95, makespan or success ratio leaves [`AGREEMENT`].

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use serde::Serialize;

use super::{pooled_percentiles, ratio, Side, Validation};
use crate::metrics::Measured;
use crate::openai::catalog::Catalog;
use crate::plan::levers::{
    LeverAnswer, LeverSearch, SEARCH_CAPTION_MAX_TOKENS, SEARCH_IMAGE_MAX_TOKENS,
    SEARCH_IMAGE_PROMPT_SHARE,
};
use crate::plan::{Design, PlanResult, PlanSpec};

/// plan ÷ live within this range counts as agreeing: the "within 10 %".
pub const AGREEMENT: (f64, f64) = (0.9, 1.1);

/// The model whose lever answer is validated (the live bursts run gpt-4o).
const MODEL: &str = "gpt-4o";

/// A design the validation runs, named as its row shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub label: String,
    pub design: Design,
}

impl Candidate {
    fn new(label: impl Into<String>, design: Design) -> Self {
        Self {
            label: label.into(),
            design,
        }
    }
}

/// The note's design and each executable lever alone, at the value the lever search tries.
pub fn single_levers() -> Vec<Candidate> {
    let note = Design::default();
    vec![
        Candidate::new("note's design", note),
        Candidate::new(
            "parallel calls",
            Design {
                parallel: true,
                ..note
            },
        ),
        Candidate::new(
            format!("caption max_tokens {SEARCH_CAPTION_MAX_TOKENS}"),
            Design {
                caption_max_tokens: Some(SEARCH_CAPTION_MAX_TOKENS),
                ..note
            },
        ),
        Candidate::new(
            format!("image prompt max_tokens {SEARCH_IMAGE_MAX_TOKENS}"),
            Design {
                image_max_tokens: Some(SEARCH_IMAGE_MAX_TOKENS),
                ..note
            },
        ),
        Candidate::new(
            format!("image prompt share {SEARCH_IMAGE_PROMPT_SHARE}"),
            Design {
                image_prompt_share: Some(SEARCH_IMAGE_PROMPT_SHARE),
                ..note
            },
        ),
    ]
}

/// What a live run executes of `design`: all but the streamed caption (the same calls; the run
/// measures its metric on every post anyway) and the response cache (the service's).
pub fn executable(design: Design) -> Design {
    Design {
        stream_caption: false,
        response_cache_hit: None,
        ..design
    }
}

fn changes(design: &Design) -> String {
    let c = design.changes();
    if c.is_empty() {
        "the note's design".into()
    } else {
        c.join(" + ")
    }
}

/// From the plan's answer for one model × users: its best combination (the closest one when
/// none holds) made executable, and the best whose every lever a run executes, when that is
/// another design.
pub fn best_executable(answer: &LeverAnswer) -> Vec<Candidate> {
    let mut out = Vec::new();
    let (first, what) = match answer.best.first() {
        Some(best) => (Some(best), "plan's best"),
        None => (answer.closest.as_ref(), "plan's closest"),
    };
    if let Some(row) = first {
        let design = executable(row.design);
        let mut dropped = Vec::new();
        if row.design.stream_caption {
            dropped.push("streamed: see 1st token");
        }
        if row.design.response_cache_hit.is_some() {
            dropped.push("response cache not run");
        }
        let dropped = if dropped.is_empty() {
            String::new()
        } else {
            format!(" ({})", dropped.join("; "))
        };
        out.push(Candidate::new(
            format!("{what}: {}{dropped}", changes(&design)),
            design,
        ));
    }
    let whole = answer
        .best
        .iter()
        .find(|r| executable(r.design) == r.design);
    if let Some(row) = whole.filter(|r| out.first().map(|c| c.design) != Some(r.design)) {
        out.push(Candidate::new(
            format!("plan's best executable: {}", changes(&row.design)),
            row.design,
        ));
    }
    out
}

/// The designs to run for one user count: the single levers, then the plan's best; a best that
/// is already among them names that row instead of running twice.
pub fn candidates(answer: Option<&LeverAnswer>) -> Vec<Candidate> {
    let mut out = single_levers();
    for best in answer.map(best_executable).unwrap_or_default() {
        match out.iter_mut().find(|c| c.design == best.design) {
            Some(same) => same.label = format!("{} = {}", same.label, best.label),
            None => out.push(best),
        }
    }
    out
}

/// The plan's lever answer for gpt-4o at `users`, or (when the plan did not search that model
/// or user count) the same search for it alone.
fn answer_for(
    catalog: &Catalog,
    spec: &PlanSpec,
    levers: &LeverSearch,
    users: u32,
) -> anyhow::Result<LeverAnswer> {
    if let Some(a) = levers
        .answers
        .iter()
        .find(|a| a.model == MODEL && a.users == users)
    {
        return Ok(a.clone());
    }
    let alone = PlanSpec {
        models: vec![MODEL.into()],
        users: vec![users],
        ..spec.clone()
    };
    let designs = if spec.design == Design::default() {
        Design::grid()
    } else {
        vec![spec.design]
    };
    let search =
        crate::plan::levers::search(catalog, &alone, &designs).map_err(|e| anyhow::anyhow!(e.0))?;
    search
        .answers
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("the lever search gave no answer for {users} users"))
}

/// The p50 and p95 of the time to the first caption token, in seconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct FirstToken {
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
}

impl FirstToken {
    fn pooled(runs: &[Measured]) -> anyhow::Result<Self> {
        let runs: Vec<&Measured> = runs.iter().collect();
        let (p50_s, p95_s) =
            pooled_percentiles(&runs, "first_caption_token").map_err(anyhow::Error::msg)?;
        Ok(Self { p50_s, p95_s })
    }
}

/// One design at one tier and user count, live and simulated.
#[derive(Debug, Clone, Serialize)]
pub struct LeverSide {
    pub design: String,
    pub levers: Design,
    #[serde(flatten)]
    pub side: Side,
    pub live_first_token: FirstToken,
    pub planned_first_token: FirstToken,
    /// The figures (p50, p95, makespan, success) whose plan ÷ live leaves [`AGREEMENT`].
    pub outside: Vec<&'static str>,
}

/// The figures of `side` whose plan ÷ live leaves [`AGREEMENT`]: a figure on one side only
/// counts as outside; on neither (no successful post anywhere), as agreeing.
pub fn outside(side: &Side) -> Vec<&'static str> {
    let (p, l) = (&side.planned, &side.live);
    let nonzero = |v: f64| (v != 0.0).then_some(v);
    [
        ("p50", p.p50_s, l.p50_s),
        ("p95", p.p95_s, l.p95_s),
        ("makespan", nonzero(p.makespan_s), nonzero(l.makespan_s)),
        ("success", nonzero(p.success), nonzero(l.success)),
    ]
    .into_iter()
    .filter(|(_, planned, live)| match ratio(*planned, *live) {
        Some(r) => !(AGREEMENT.0..=AGREEMENT.1).contains(&r),
        None => planned.is_some() || live.is_some(),
    })
    .map(|(what, _, _)| what)
    .collect()
}

/// Runs every candidate design of every user count live and simulated; `levers` is the plan's
/// lever search (an answer it lacks is searched here).
pub async fn compare(
    catalog: &Catalog,
    spec: &PlanSpec,
    validation: &Validation,
    levers: &LeverSearch,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Vec<LeverSide>> {
    let mut timed = spec.clone();
    timed.fixed_latency_ms = validation.fixed_latency_ms;
    let mut rows = Vec::new();
    for &u in &validation.users {
        let answer = answer_for(catalog, spec, levers, u)?;
        for c in candidates(Some(&answer)) {
            let pairs = validation
                .measure(catalog, &timed, u, &c.design, Arc::clone(&stop))
                .await?;
            for pair in pairs {
                let side = pair.side(format!("burst-{u}"), u)?;
                rows.push(LeverSide {
                    design: c.label.clone(),
                    levers: c.design,
                    outside: outside(&side),
                    side,
                    live_first_token: FirstToken::pooled(&pair.live)?,
                    planned_first_token: FirstToken::pooled(&pair.planned)?,
                });
            }
        }
    }
    Ok(rows)
}

/// The side-by-side table, one row per design, tier and user count.
pub fn table(rows: &[LeverSide]) -> String {
    use std::fmt::Write;
    let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let width = rows
        .iter()
        .map(|r| r.design.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<width$} {:>5} {:>4} | {:>17} | {:>17} | {:>20} | {:>20} | {:>16} | {:>23} | within 10 %",
        "design",
        "users",
        "tier",
        "p50 s live/plan",
        "p95 s live/plan",
        "makespan s live/plan",
        "ok % live/plan",
        "429s live/plan",
        "1st token p95 live/plan",
    );
    for r in rows {
        let s = &r.side;
        let x = |p: Option<f64>, l: Option<f64>| f(ratio(p, l));
        let _ = writeln!(
            o,
            "{:<width$} {:>5} {:>4} | {:>5} {:>5} x{:>5} | {:>5} {:>5} x{:>5} | {:>6.2} {:>6.2} x{:>5} | {:>6.1} {:>6.1} x{:>5} | {:>4} {:>4} x{:>5} | {:>7} {:>7} x{:>6} | {}",
            r.design,
            s.users,
            s.tier,
            f(s.live.p50_s),
            f(s.planned.p50_s),
            x(s.planned.p50_s, s.live.p50_s),
            f(s.live.p95_s),
            f(s.planned.p95_s),
            x(s.planned.p95_s, s.live.p95_s),
            s.live.makespan_s,
            s.planned.makespan_s,
            x(Some(s.planned.makespan_s), Some(s.live.makespan_s)),
            s.live.success * 100.0,
            s.planned.success * 100.0,
            x(Some(s.planned.success), Some(s.live.success)),
            s.live.http_429,
            s.planned.http_429,
            x(Some(s.planned.http_429 as f64), Some(s.live.http_429 as f64)),
            f(r.live_first_token.p95_s),
            f(r.planned_first_token.p95_s),
            x(r.planned_first_token.p95_s, r.live_first_token.p95_s),
            if r.outside.is_empty() {
                "yes".to_string()
            } else {
                format!("NO: {}", r.outside.join(", "))
            },
        );
    }
    o
}

/// `plan --validate --validate-levers`: prints the table, writes validation-levers.json and .txt.
pub async fn validate(
    catalog: &Catalog,
    spec: &PlanSpec,
    result: &PlanResult,
    validation: &Validation,
    dir: &Path,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<()> {
    outln!(
        "\nvalidation of the executable design levers (gpt-4o, SDK retries, tier {}): each design run live and simulated over the same seeds and draws; the plan's best less a streamed caption (its metric is the 1st token columns: the stub's modelled time to first token, live) and a response cache (the service's); x = plan / live, outside [{}, {}] flagged",
        validation
            .tiers
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        AGREEMENT.0,
        AGREEMENT.1
    );
    let rows = compare(catalog, spec, validation, &result.levers, stop).await?;
    let t = table(&rows);
    out!("{t}");
    crate::report::write_atomic(
        &dir.join("validation-levers.json"),
        &serde_json::to_vec_pretty(&rows)?,
    )?;
    crate::report::write_atomic(&dir.join("validation-levers.txt"), t.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests;
