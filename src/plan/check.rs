//! The plan's input checks: every option in range and the plan bounded, before anything is
//! simulated.

use super::{bound, PlanError, PlanSpec, MAX_PLAN_POSTS};
use crate::openai::catalog::Catalog;

/// Checks the spec; the message names the option.
pub fn check(spec: &PlanSpec, catalog: &Catalog) -> Result<(), PlanError> {
    let e = |m: String| Err(PlanError(m));
    if spec.models.is_empty() || spec.tiers.is_empty() || spec.users.is_empty() {
        return e("--model, --tier and --users each need at least one value".into());
    }
    for m in &spec.models {
        if catalog.model(m).is_none() {
            return e(format!("--model: unknown model `{m}`"));
        }
    }
    for t in &spec.tiers {
        catalog
            .tier(&spec.tier_set, *t)
            .map_err(|m| PlanError(format!("--tier/--tiers: {m}")))?;
    }
    if spec.users.contains(&0) {
        return e("--users: must be at least 1".into());
    }
    for (name, v) in [
        ("--response-cache-hit", spec.response_cache_hit),
        ("--prompt-cache-hit", spec.prompt_cache_hit),
        ("--image-prompt-share", spec.image_prompt_share),
        ("--min-success", spec.target.min_success),
    ] {
        if !(0.0..=1.0).contains(&v) {
            return e(format!("{name}: must be between 0 and 1, got {v}"));
        }
    }
    if !crate::limits::p95_ok(spec.target.p95_s) {
        return e(format!(
            "--p95 {}: give a number of seconds above 0, at most {}",
            spec.target.p95_s,
            crate::limits::MAX_TIMEOUT_S
        ));
    }
    if let Some(p) = spec.posts_per_user_per_day {
        if !(p > 0.0 && p.is_finite()) {
            return e("--posts-per-day: must be positive".into());
        }
        if !(spec.days > 0.0 && spec.days <= 31.0) {
            return e("--days: must be in (0, 31]".into());
        }
    }
    // A cell's posts, the planner's cost: the benchmarked million takes about a second and
    // up to 580 MB (docs/benchmarks.md, `cargo bench --bench plan`).
    for &users in &spec.users {
        let posts = bound::cell_posts(spec, users);
        if posts > MAX_PLAN_POSTS {
            return e(format!(
                "--users {users}{}: {} posts in a cell, more than {MAX_PLAN_POSTS} (the most the planner is measured to simulate in about a second)",
                spec.posts_per_user_per_day.map_or(String::new(), |p| format!(
                    " × --posts-per-day {} × --days {}",
                    crate::limits::num(p),
                    spec.days
                )),
                crate::limits::num(posts.round())
            ));
        }
    }
    spec.design
        .check_effort(catalog, &spec.models)
        .map_err(PlanError)?;
    // And the whole plan's: the cells' number times the lever search's runs of each.
    bound::check(spec, catalog)
}
