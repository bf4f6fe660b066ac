//! `postload compare BASE.json NEW.json`: case-by-case deltas; exit 1 on a regression.

use super::load_result;
use crate::{cli, config, report, Outcome};

/// `postload compare BASE.json NEW.json`.
pub fn compare(args: cli::CompareArgs) -> anyhow::Result<Outcome> {
    let tolerance = config::tolerance(&args.tolerance)?;
    let base = load_result(&args.base)?;
    let new = load_result(&args.new)?;
    let c = crate::compare::compare(&base, &new, tolerance);
    if c.deltas.is_empty() {
        anyhow::bail!(
            "{} and {} share no scenario and tier: nothing to compare",
            args.base.display(),
            args.new.display()
        );
    }
    // The verdict first (what a reviewer reads in the step summary before the table) and last
    // (what a terminal shows after it). `--quiet`: the verdict line alone (it names every
    // regression).
    let mut verdict = regressions_first(&c);
    // Said with the verdict: "no regression" between two different setups is no verdict on
    // either.
    if let Some(line) = crate::compare::inputs_differ_line(&c) {
        verdict.push_str(&format!("{line}\n"));
    }
    outln!("{verdict}");
    if !args.verbosity.quiet {
        out!("{}", crate::compare::markdown(&c));
    }
    if let Some(path) = &args.output.out {
        report::write_atomic(path, &serde_json::to_vec_pretty(&c)?)?;
    }
    let regressions = c.regressions();
    if !args.verbosity.quiet {
        outln!("\n{}", verdict.trim_start_matches("### ").trim_end());
    }
    Ok(if regressions > 0 {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}

/// compare's first line: how many regressions and which (metric, case, base → new, change).
fn regressions_first(c: &crate::compare::Comparison) -> String {
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.2}"));
    let named: Vec<String> = c
        .deltas
        .iter()
        .filter(|d| d.verdict == crate::compare::Verdict::Regression)
        .map(|d| {
            format!(
                "`{}` {} ({} → {}{})",
                d.metric,
                d.case,
                num(d.base),
                num(d.new),
                d.change
                    .map_or(String::new(), |ch| format!(", {:+.1} %", ch * 100.0))
            )
        })
        .collect();
    if named.is_empty() {
        "### postload compare: no regression\n".into()
    } else {
        format!(
            "### postload compare: {} regression{}: {}\n",
            named.len(),
            if named.len() == 1 { "" } else { "s" },
            named.join(", ")
        )
    }
}
