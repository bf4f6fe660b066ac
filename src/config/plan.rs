//! `postload plan`'s options as a checked plan (and `--validate`'s own options).

use std::path::Path;

use super::{first_repeat, read_trace};
use crate::limits::{MAX_REPEAT, MAX_USERS};
use crate::openai::catalog::Catalog;

/// `postload plan`'s options as a checked plan.
pub fn plan_spec(
    args: &crate::cli::PlanArgs,
    catalog: &Catalog,
) -> anyhow::Result<crate::plan::PlanSpec> {
    use crate::cli::CurveArg;
    use crate::plan::sim::BUSINESS_DAY;
    let tier_set = args
        .tier_set
        .clone()
        .unwrap_or_else(|| catalog.default_tier_set.clone());
    if let Some(t) = first_repeat(&args.tier) {
        anyhow::bail!("--tier {t}: given twice");
    }
    if let Some(u) = first_repeat(&args.users) {
        anyhow::bail!("--users {u}: given twice");
    }
    if let Some(m) = first_repeat(&args.model) {
        anyhow::bail!("--model {m}: given twice");
    }
    let tiers = plan_tiers(&args.tier, &tier_set, catalog)?;
    let strategies = plan_strategies(&args.strategy);
    let defaults = crate::plan::PlanSpec::default();
    let mut spec = crate::plan::PlanSpec {
        models: if args.model.is_empty() {
            defaults.models.clone()
        } else {
            args.model.clone()
        },
        tier_set,
        tiers,
        users: if args.users.is_empty() {
            defaults.users.clone()
        } else {
            args.users.clone()
        },
        strategies,
        posts_per_user_per_day: args.posts_per_day,
        days: args.days,
        curve: match args.curve {
            CurveArg::Business => BUSINESS_DAY.to_vec(),
            CurveArg::Flat => vec![1.0; 24],
        },
        image_prompt_share: args.image_prompt_share,
        response_cache_hit: args.cache_hit,
        prompt_cache_hit: args.prompt_cache.prompt_cache_hit.unwrap_or(0.0),
        target: crate::plan::Goal {
            p95_s: args.p95,
            min_success: args.min_success,
        },
        seed: args.seed.seed.unwrap_or(0),
        find_rate: args.find_rate,
        design: {
            let mut d = crate::plan::Design::default();
            for lever in &args.lever {
                d.apply(lever).map_err(anyhow::Error::msg)?;
            }
            d
        },
        ..defaults
    };
    if args.prompt_cache.prompt_cache_hit.is_none() {
        spec.take_profile_prompt_cache_hits(catalog);
    }
    if let Some(file) = &args.trace {
        let speed = args.trace_speed.unwrap_or(1.0);
        crate::scenario::trace::check_speed(speed)
            .map_err(|m| anyhow::anyhow!("--trace-speed: {m}"))?;
        crate::plan::PlanTrace::install(&mut spec, read_trace(file, Path::new(file))?, speed);
    }
    crate::plan::check(&spec, catalog).map_err(|e| anyhow::Error::msg(e.0))?;
    if args.validate {
        check_validation(args, &spec, catalog)?;
    }
    Ok(spec)
}

/// The plan's tiers: the given ones, or every tier of the tier set.
fn plan_tiers(given: &[u8], tier_set: &str, catalog: &Catalog) -> anyhow::Result<Vec<u8>> {
    if given.is_empty() {
        catalog
            .tier_sets
            .get(tier_set)
            .map(|s| s.tier.iter().map(|t| t.tier).collect())
            .ok_or_else(|| anyhow::anyhow!("--tiers: unknown tier set `{tier_set}`"))
    } else {
        Ok(given.to_vec())
    }
}

/// The plan's retry strategies: the given ones (a run of repeats once), or the default ones.
fn plan_strategies(given: &[crate::cli::StrategyArg]) -> Vec<crate::plan::sim::Strategy> {
    use crate::cli::StrategyArg;
    use crate::plan::sim::Strategy;
    if given.is_empty() {
        crate::plan::PlanSpec::default().strategies
    } else {
        let mut v: Vec<Strategy> = given
            .iter()
            .map(|s| match s {
                StrategyArg::Sdk => Strategy::Sdk,
                StrategyArg::Patient => Strategy::Patient,
                StrategyArg::Queue => Strategy::Queue,
            })
            .collect();
        v.dedup();
        v
    }
}

/// `--validate`'s own options, checked before anything runs.
fn check_validation(
    args: &crate::cli::PlanArgs,
    spec: &crate::plan::PlanSpec,
    catalog: &Catalog,
) -> anyhow::Result<()> {
    if !(1..=MAX_REPEAT).contains(&args.validate_repeat) {
        anyhow::bail!(
            "--validate-repeat {}: give 1 to {MAX_REPEAT}",
            args.validate_repeat
        );
    }
    if let Some(u) = args
        .validate_users
        .iter()
        .find(|u| !(1..=MAX_USERS).contains(*u))
    {
        anyhow::bail!("--validate-users {u}: give 1 to {MAX_USERS}");
    }
    for &t in &args.validate_tier {
        catalog
            .tier(&spec.tier_set, t)
            .map_err(|m| anyhow::anyhow!("--validate-tier: {m}"))?;
    }
    Ok(())
}
