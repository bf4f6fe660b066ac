//! `postload plan`: simulate the grid, print the table, write plan.json, plan.md and charts; with `--validate`, run the live side beside it ([`super::validate`]).

use super::load_result;
use crate::{cli, config, report, run, stop, Outcome};

/// `postload plan`: simulate the grid, print the table, write plan.json, plan.md and charts.
pub async fn plan(args: cli::PlanArgs) -> anyhow::Result<Outcome> {
    let mut catalog = config::catalog_from(args.data.mocks.as_deref())?;
    // A calibrated account's one tier becomes an upgrade path (plan::account), and the plan's
    // tier set unless --tiers names another.
    let account = crate::plan::account::install(
        std::sync::Arc::make_mut(&mut catalog),
        args.tier_set.as_deref(),
    );
    let claims = config::claims(args.claims.as_deref(), &catalog)?;
    let mut spec = {
        let mut args = args.clone();
        if account.is_some() {
            args.tier_set = Some(crate::plan::account::ACCOUNT_SET.into());
        }
        config::plan_spec(&args, &catalog)?
    };
    spec.account = account;
    let started = std::time::Instant::now();
    // A run's measured $/post, for the monthly table (only models the run used).
    let mut measured = std::collections::BTreeMap::new();
    if let Some(path) = &args.result {
        let run = load_result(path)?;
        for model in &spec.models {
            if let Some((usd, true)) = report::charts::usd_per_post(&run, &catalog.prices, model) {
                measured.insert(model.clone(), usd);
            }
        }
    }
    let result = crate::plan::plan(&catalog, &spec, &claims, &measured)
        .map_err(|e| anyhow::Error::msg(e.0))?;
    let took = started.elapsed();
    out!("{}", report::decision::console(&result));
    out!("{}", report::rate::console(&result));
    out!("\n{}", report::plan::table(&result));
    out!("{}", report::levers::answer_lines(&result));
    if !result.claims.is_empty() {
        out!("{}", report::claims::console_lines(&result.claims));
    }
    let dir = report::create_unique_dir(
        &args.output.report_dir,
        &format!("plan-{}", run::new_run_id()),
    )?;
    std::fs::create_dir_all(dir.join("charts"))?;
    report::write_atomic(&dir.join("plan.json"), &serde_json::to_vec_pretty(&result)?)?;
    report::write_atomic(
        &dir.join("plan.md"),
        report::plan::plan_markdown(&result).as_bytes(),
    )?;
    for (name, bytes) in report::charts::plan_charts(&result)? {
        report::write_atomic(&dir.join(name), &bytes)?;
    }
    if !args.verbosity.quiet {
        let events: u64 = result.cells.iter().map(|c| c.events).sum();
        outln!(
            "plan: {} cells, {} simulated posts, {events} events in {:.2} s; {}",
            result.cells.len(),
            result.cells.iter().map(|c| c.posts).sum::<u64>(),
            took.as_secs_f64(),
            dir.join("plan.md").display()
        );
    }
    if args.validate {
        super::validate::validate(&args, &catalog, &spec, &result, &dir, stop::stop_flag()).await?;
    }
    Ok(Outcome::Success.unless_interrupted())
}
