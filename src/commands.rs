//! One file per subcommand, each a thin edge over the pure core: it turns checked settings
//! ([`crate::config`]) into a run, a plan or a report, and maps the result to an [`Outcome`].
//! Helpers shared by several commands (loading a result, applying gates, the step summary) are
//! here, written once.

pub mod calibrate;
pub mod check;
pub mod compare;
pub mod example;
pub mod merge;
pub mod plan;
pub mod report;
pub mod run;
pub mod stub;
pub mod validate;

use crate::cli::{Cli, Command};
use crate::{gate, limits, stop};

/// How a command ended, when it ended without an error. Exit codes are part of the interface:
/// 0 pass, 1 a gate failed or compare found a regression, 2 usage/config/runtime error (an `Err` from [`crate::run`]), 3 stopped by
/// the budget guard, 128 + N stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    GateFailed,
    /// `compare` found a regression beyond the tolerance.
    Regression,
    BudgetStopped,
    /// Stopped by this signal; the report covers what was measured and says so.
    Interrupted(i32),
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::GateFailed | Outcome::Regression => 1,
            Outcome::BudgetStopped => 3,
            Outcome::Interrupted(signal) => stop::exit_code(signal),
        }
    }

    /// This outcome, unless a signal stopped the command: an interrupted run never exits 0
    /// (nor 1: a gate judged on part of a run says nothing).
    pub(crate) fn unless_interrupted(self) -> Self {
        match stop::signal_received() {
            Some(signal) => Outcome::Interrupted(signal),
            None => self,
        }
    }
}

/// The exit code for an error: 2, or 128 + N when signal N stopped the command (its error may
/// be a consequence of the stop).
pub fn error_exit_code() -> u8 {
    stop::signal_received().map_or(2, stop::exit_code)
}

/// The subcommand's entry point; [`crate::run`] calls it.
pub async fn dispatch(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Some(Command::Stub(args)) => self::stub::serve(args).await,
        Some(Command::Run(args)) => self::run::run(*args).await,
        Some(Command::Report(args)) => self::report::render(args),
        Some(Command::Check(args)) => self::check::check(args),
        Some(Command::Merge(args)) => self::merge::merge(args),
        Some(Command::Compare(args)) => self::compare::compare(args),
        Some(Command::ExampleService(args)) => self::example::serve(args).await,
        Some(Command::Plan(args)) => self::plan::plan(*args).await,
        Some(Command::Calibrate(args)) => self::calibrate::calibrate(*args).await,
        None => self::run::run(cli.run).await,
    }
}

/// Checks, prints each threshold with its measured value, writes JUnit, and when
/// `$GITHUB_STEP_SUMMARY` is set appends to it the verdict (which thresholds failed), the gate
/// table, then `then` (report.md, for a run). Outcome: GateFailed if any threshold fails.
fn apply_gates(
    gates: &[gate::Gate],
    result: &crate::report::RunResult,
    junit: &std::path::Path,
    quiet: bool,
    then: &str,
) -> anyhow::Result<Outcome> {
    let checks = gate::evaluate(gates, result).map_err(anyhow::Error::msg)?;
    let failed = checks.iter().filter(|c| c.failed()).count();
    // `--quiet` hides the passing thresholds, never a failed one nor the count.
    let shown: Vec<gate::Check> = checks
        .iter()
        .filter(|c| !quiet || !c.pass || c.skipped)
        .cloned()
        .collect();
    // The verdict first and last: the lines between can be many.
    outln!("{}", gate::verdict_line(&checks));
    out!("{}", gate::lines(&shown));
    outln!("{}", gate::verdict_line(&checks));
    crate::report::write_atomic(junit, &gate::junit(&checks))?;
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let md = format!(
            "{}\n{}\n{then}",
            gate::verdict_markdown(&checks),
            gate::markdown(&checks)
        );
        append_step_summary(std::path::Path::new(&summary), &md)?;
    }
    Ok(if failed > 0 {
        Outcome::GateFailed
    } else {
        Outcome::Success
    })
}

/// Checks, before any load, that a file can be written at `path` (its folder exists and takes a
/// new file): a probe file is created there and removed.
fn check_writable(option: &str, path: &std::path::Path) -> anyhow::Result<()> {
    let bad = |why: String| anyhow::anyhow!("{option} {}: {why}", path.display());
    if path.is_dir() {
        return Err(bad("is a directory".into()));
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let probe = parent.join(format!(".postload-probe-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| bad(format!("cannot write there: {e}")))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Appends to GitHub's step summary file (it collects what each step appends).
fn append_step_summary(path: &std::path::Path, markdown: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| anyhow::anyhow!("GITHUB_STEP_SUMMARY {}: {e}", path.display()))?;
    writeln!(f, "{markdown}")?;
    Ok(())
}

fn load_result(path: &std::path::Path) -> anyhow::Result<crate::report::RunResult> {
    let text = limits::read_text(path, limits::MAX_RESULT_BYTES).map_err(anyhow::Error::msg)?;
    let result: crate::report::RunResult = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not a postload result: {e}", path.display()))?;
    // What reads a result sizes things by its numbers (the charts bin latencies).
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    limits::check_result_numbers(&value).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if result.schema != crate::report::RESULT_SCHEMA {
        anyhow::bail!(
            "{}: field `schema`: `{}` is not `{}`",
            path.display(),
            result.schema,
            crate::report::RESULT_SCHEMA
        );
    }
    // What `report` refuses (two cases with one name, more cases than a run writes) and what
    // cannot be true, refused alike by every command that reads a result.
    crate::report::valid::check(&result).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(result)
}
