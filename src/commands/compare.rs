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
        return Err(config::ConfigError(format!(
            "{} and {} share no scenario and tier: nothing to compare",
            args.base.display(),
            args.new.display()
        ))
        .into());
    }
    out!("{}", crate::compare::markdown(&c));
    if let Some(path) = &args.json {
        report::write_atomic(path, &serde_json::to_vec_pretty(&c)?)?;
    }
    let regressions = c.regressions();
    outln!("\nregressions: {regressions}");
    Ok(if regressions > 0 {
        Outcome::Regression
    } else {
        Outcome::Success
    })
}
