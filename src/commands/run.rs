//! `postload run` (and `postload` alone): check everything, run the cases, apply the gates.

pub mod find_rate;

use super::{append_step_summary, apply_gates, check_writable};
use crate::{cli, config, gate, stop, Outcome};

pub async fn run(args: cli::RunArgs) -> anyhow::Result<Outcome> {
    if args.find_rate {
        return find_rate::find_rate(&args).await;
    }
    let config = config::run_config(&args, stop::stop_flag())?;
    // A gate file is checked before any load is sent: a typo must not cost a run. Scenarios'
    // own [[thresholds]] join it (checked when the scenarios were loaded).
    let mut gates: Vec<gate::Gate> = args
        .gate
        .as_deref()
        .map(config::gates)
        .transpose()?
        .unwrap_or_default();
    for p in &config.scenarios {
        gates.extend(gate::of_scenario(&p.scenario));
    }
    if gates.is_empty() && args.junit.is_some() {
        return Err(anyhow::Error::msg(
            "--junit: there is no gate to report (give --gate FILE, or [[thresholds]] in a scenario)",
        ));
    }
    let planned: Vec<(&str, u8)> = config
        .scenarios
        .iter()
        .flat_map(|p| {
            p.scenario
                .tiers
                .iter()
                .map(|t| (p.scenario.name.as_str(), *t))
        })
        .collect();
    if let Some(m) = gate::unmatched(&gates, &planned) {
        let file = args
            .gate
            .as_ref()
            .map_or("the scenarios' thresholds".into(), |p| {
                p.display().to_string()
            });
        anyhow::bail!("{file}: {m}");
    }
    if let Some(junit) = &args.junit {
        check_writable("--junit", junit)?;
    }
    let root = config.reports_root.clone();
    let quiet = config.quiet;
    let shown = Shown {
        claims: config.print_claims.then(|| config.claims.clone()),
        claim_count: config.claims.claim.len(),
        prices: config.catalog.prices.clone(),
        quiet,
    };
    let exporters = crate::report::run_exporters(&config.claims, &config.catalog.prices);
    let result = crate::run::execute(config, exporters).await?;
    let dir = root.join(&result.run_id);
    shown.print(&result, &dir);
    // The step summary leads with the verdict and the gate table; the report follows.
    let report_md = std::env::var_os("GITHUB_STEP_SUMMARY")
        .map(|_| std::fs::read_to_string(dir.join("report.md")).unwrap_or_default())
        .unwrap_or_default();
    let budget_stopped = result.budget.as_ref().is_some_and(|b| b.stopped);
    let outcome = if gates.is_empty() {
        if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
            let lead = crate::report::summary::no_success(&result)
                .map_or(String::new(), |l| format!("**{l}**\n\n"));
            append_step_summary(
                std::path::Path::new(&summary),
                &format!("{lead}{report_md}"),
            )?;
        }
        Outcome::Success
    } else {
        let junit = args.junit.unwrap_or_else(|| dir.join("junit.xml"));
        apply_gates(&gates, &result, &junit, quiet, &report_md)?
    };
    // The last line says it when a case had no successful post, gated or not.
    if let Some(line) = crate::report::summary::no_success(&result) {
        outln!("{line}");
    }
    // A signal, then the budget stop win: the run is incomplete, whatever the gates say of what
    // it measured.
    Ok(if budget_stopped {
        Outcome::BudgetStopped
    } else {
        outcome
    }
    .unless_interrupted())
}

/// What the console shows of a finished run, whatever its flags: the table, the claims'
/// verdicts (when they are printed), where the report is, and the verdict block last.
struct Shown {
    /// The claims to judge on the console; `None` in service mode without `--claims`.
    claims: Option<crate::claims::ClaimsFile>,
    claim_count: usize,
    prices: crate::openai::catalog::PriceTable,
    quiet: bool,
}

impl Shown {
    fn print(&self, result: &crate::result::RunResult, dir: &std::path::Path) {
        use crate::report::{claims, summary};
        // The table and the claims' verdicts are what standard output shows, even with --quiet.
        let mut verdicts = Vec::new();
        out!("{}", summary::table(result));
        if let Some(file) = &self.claims {
            verdicts = claims::evaluate(file, result, &self.prices);
            out!("{}", claims::console_lines(&verdicts));
        } else if !self.quiet && self.claim_count > 0 {
            outln!(
                "claims: the planning note's {} claims are judged in report.md (Claims); --claims FILE prints a file's here",
                self.claim_count
            );
        }
        if !self.quiet {
            outln!(
                "report: {} and report.md",
                dir.join("result.json").display()
            );
        }
        // The run ends with its verdict block: the answer without counting the lines above.
        if let Some(file) = self.claims.as_ref().filter(|_| !verdicts.is_empty()) {
            out!("{}", claims::headline(file, &verdicts).console());
        }
    }
}
