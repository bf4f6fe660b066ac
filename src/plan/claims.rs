//! The claims the planner settles, judged on its own results: what caching saves (from the
//! caching rows) and whether a client queue makes a burst run smoothly (from the grid's queue
//! and SDK cells), and the note's monthly tables set beside the modelled ones. Pure.

use super::sim::Strategy;
use super::{CachingRow, Cell, MonthlyRow, PlanResult};
use crate::claims::{Check, Claim, ClaimVerdict, ClaimsFile, Judgement};
use crate::metrics::cost::monthly_usd;

/// Every caching and queuing claim of `claims`, judged on `r` (one verdict per model, and for
/// queuing per tier where SDK retries lose posts).
pub fn judge(claims: &ClaimsFile, r: &PlanResult) -> Vec<ClaimVerdict> {
    let mut out = Vec::new();
    for claim in &claims.claim {
        match claim.check {
            Check::Caching { min_share } => {
                for model in &r.spec.models {
                    out.push(caching(claim, r, model, min_share));
                }
            }
            Check::Queuing { users, max_s } => {
                for model in &r.spec.models {
                    out.extend(queuing(claim, r, model, users, max_s));
                }
            }
            _ => {}
        }
    }
    out
}

fn verdict(
    claim: &Claim,
    case: Option<String>,
    measured: String,
    verdict: Judgement,
    cause: Option<String>,
    evidence: String,
) -> ClaimVerdict {
    ClaimVerdict::on(claim, case, measured, verdict, cause, evidence)
}

fn not_measured(claim: &Claim, case: Option<String>, evidence: String) -> ClaimVerdict {
    verdict(
        claim,
        case,
        "-".into(),
        Judgement::NotMeasured,
        None,
        evidence,
    )
}

/// The share of posts a response cache must answer so that, with prompt caching saving
/// `prompt_saving`, caching saves `target` in all: a cached post costs nothing, so the cost is
/// (1 − hits) × (1 − prompt_saving) of the uncached one. 0 when prompt caching alone suffices.
pub fn hits_needed(target: f64, prompt_saving: f64) -> f64 {
    (1.0 - (1.0 - target) / (1.0 - prompt_saving)).max(0.0)
}

/// What caching saves on `model`: prompt caching's share, from the planner's rows (exact: the
/// same posts with and without it), and a response cache's, from its hit share (a hit costs
/// nothing), at the lowest tier where every uncached post succeeds (so 429s don't blur cost).
fn caching(claim: &Claim, r: &PlanResult, model: &str, min_share: f64) -> ClaimVerdict {
    let row = |rows: &'_ [CachingRow], rc: bool, pc: bool| -> Option<CachingRow> {
        rows.iter()
            .find(|x| (x.response_cache_hit > 0.0) == rc && (x.prompt_cache_hit > 0.0) == pc)
            .cloned()
    };
    let effect = r
        .caching
        .iter()
        .find(|e| e.model == model && row(&e.rows, false, false).is_some_and(|x| x.success >= 1.0));
    let Some(e) = effect else {
        return not_measured(
            claim,
            Some(model.into()),
            format!(
                "the plan's caching rows for {model} have no tier where every uncached post succeeds (try more tiers)"
            ),
        );
    };
    let case = Some(format!("{model}, {} users, Tier {}", e.users, e.tier));
    let (Some(none), Some(pc), Some(rc)) = (
        row(&e.rows, false, false).and_then(|x| x.usd_per_month),
        row(&e.rows, false, true).and_then(|x| x.usd_per_month),
        row(&e.rows, true, false),
    ) else {
        return not_measured(claim, case, "the caching rows lack a cost".into());
    };
    let prompt_saving = 1.0 - pc / none;
    let hits = rc.response_cache_hit;
    let both = 1.0 - (1.0 - hits) * (1.0 - prompt_saving);
    let need = hits_needed(min_share, prompt_saving);
    let holds = both >= min_share;
    verdict(
        claim,
        case,
        format!(
            "prompt caching saves {:.1} %; with {:.0} % of posts from a response cache (assumed), {:.1} % in all",
            prompt_saving * 100.0,
            hits * 100.0,
            both * 100.0
        ),
        Judgement::holds_if(holds),
        (!holds).then(|| {
            format!(
                "{:.0} % needs a response cache answering at least {:.1} % of posts",
                min_share * 100.0,
                need * 100.0
            )
        }),
        format!(
            "${none:.2}/month uncached, ${pc:.2} with prompt caching (every eligible call hits); \
             a response-cache hit costs nothing, so {:.0} % needs at least {:.1} % of posts \
             answered from the cache: a share only the service's own traffic can tell \
             (--response-cache-hit sets the plan's)",
            min_share * 100.0,
            need * 100.0
        ),
    )
}

/// Whether a client queue makes a burst of `users` on `model` run smoothly (every post ok,
/// p95 ≤ `max_s`) at each tier where SDK retries lose posts.
fn queuing(
    claim: &Claim,
    r: &PlanResult,
    model: &str,
    users: u64,
    max_s: f64,
) -> Vec<ClaimVerdict> {
    let case = Some(format!("{model}, {users} users"));
    let cell = |strategy: Strategy, tier: u8| {
        r.cells.iter().find(|c| {
            c.model == model && c.users as u64 == users && c.strategy == strategy && c.tier == tier
        })
    };
    let missing = if r.spec.posts_per_user_per_day.is_some() {
        Some("the claim is about a burst: plan without --posts-per-day".to_string())
    } else if !r.spec.users.iter().any(|&u| u as u64 == users) {
        Some(format!("plan with --users {users}"))
    } else if !(r.spec.strategies.contains(&Strategy::Sdk)
        && r.spec.strategies.contains(&Strategy::Queue))
    {
        Some("plan with --retry sdk --retry queue".into())
    } else {
        None
    };
    if let Some(how) = missing {
        return vec![not_measured(
            claim,
            case,
            format!("not in this plan: {how}"),
        )];
    }
    let mut tiers = r.spec.tiers.clone();
    tiers.sort_unstable();
    // The lowest tier at which SDK retries already succeed: the queue's alternative.
    let upgrade = tiers
        .iter()
        .filter_map(|&t| cell(Strategy::Sdk, t))
        .find(|c| c.success >= 1.0);
    let mut out = Vec::new();
    for &t in &tiers {
        let (Some(sdk), Some(q)) = (cell(Strategy::Sdk, t), cell(Strategy::Queue, t)) else {
            continue;
        };
        if sdk.success >= 1.0 {
            continue;
        }
        out.push(queue_verdict(claim, sdk, q, upgrade, max_s));
    }
    if out.is_empty() {
        out.push(not_measured(
            claim,
            case,
            "SDK retries lose no post of this burst at any tier tried: nothing for a queue to fix"
                .into(),
        ));
    }
    out
}

fn queue_verdict(
    claim: &Claim,
    sdk: &Cell,
    q: &Cell,
    upgrade: Option<&Cell>,
    max_s: f64,
) -> ClaimVerdict {
    let p95 = q.p95_s.unwrap_or(f64::INFINITY);
    let all_ok = q.success >= 1.0;
    let holds = all_ok && p95 <= max_s;
    let alternative = upgrade.map_or(String::new(), |u| {
        format!(
            "; Tier {} with SDK retries and no queue: p95 {:.2} s",
            u.tier,
            u.p95_s.unwrap_or(f64::NAN)
        )
    });
    let cause = if !all_ok {
        Some(format!(
            "the queue still loses {:.0} % of posts",
            (1.0 - q.success) * 100.0
        ))
    } else if !holds {
        Some(format!(
            "the queue turns 429s into waiting for Tier {}'s {} tokens a minute: p95 {p95:.1} s, over {max_s} s{alternative}",
            q.tier, q.tpm
        ))
    } else {
        None
    };
    verdict(
        claim,
        Some(format!("{}, {} users, Tier {}", q.model, q.users, q.tier)),
        format!(
            "queue: {:.0} % ok, p95 {}, makespan {:.1} s (SDK retries: {:.0} % ok)",
            q.success * 100.0,
            q.p95_s.map_or("-".into(), |v| format!("{v:.2} s")),
            q.makespan_s,
            sdk.success * 100.0
        ),
        Judgement::holds_if(holds),
        cause,
        format!(
            "the plan's cells at Tier {} ({} TPM): SDK retries, {} 429s; a client queue, {} 429s",
            q.tier, q.tpm, sdk.http_429, q.http_429
        ),
    )
}

/// The note's monthly tables (from the claims file): each row recomputed from the note's own
/// $/post, beside the same load at the planner's $/post for that model (its lowest-tier cell
/// with no failed post, else any).
pub fn monthly_table(
    claims: &ClaimsFile,
    cells: &[Cell],
    measured: &std::collections::BTreeMap<String, f64>,
) -> Vec<MonthlyRow> {
    let per_post = |model: &str| {
        claims.claim.iter().find_map(|c| match &c.check {
            Check::CostPerPost {
                model: m,
                bound: crate::claims::Bound::Near { value, .. },
            } if m == model => Some(*value),
            _ => None,
        })
    };
    let modelled = |model: &str| {
        let mut of_model: Vec<&Cell> = cells.iter().filter(|c| c.model == model).collect();
        of_model.sort_by_key(|c| (c.success < 1.0, c.tier));
        of_model.first().and_then(|c| c.usd_per_post)
    };
    let mut rows = Vec::new();
    for c in &claims.claim {
        let Check::MonthlyCost { model, table, .. } = &c.check else {
            continue;
        };
        let Some(note_per_post) = per_post(model) else {
            continue;
        };
        for &(users, ppd, note_usd) in table {
            let raw = monthly_usd(users as f64, ppd as f64, note_per_post);
            rows.push(MonthlyRow {
                model: model.clone(),
                users,
                posts_per_day: ppd,
                note_usd,
                from_note_per_post_usd: (raw * 100.0).round() / 100.0,
                modelled_usd: modelled(model).map(|p| monthly_usd(users as f64, ppd as f64, p)),
                measured_usd: measured
                    .get(model)
                    .map(|p| monthly_usd(users as f64, ppd as f64, *p)),
            });
        }
    }
    rows
}

#[cfg(test)]
mod tests;
