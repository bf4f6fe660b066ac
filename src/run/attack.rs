//! One case's Goose attack: the scenario's `post` transaction for every user at once, one
//! iteration each, Goose's own log and report in the run's folder; run until it ends, or until a
//! signal cuts it short.

use std::path::Path;
use std::sync::Arc;

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{Scenario as GooseScenario, Transaction};
use goose::GooseAttack;

use super::post::CaseContext;
use super::{console, wait_for, RunConfig};
use crate::scenario::Scenario;

/// What one case's attack is made of.
pub(super) struct AttackSpec<'a> {
    pub scenario: &'a Scenario,
    pub tier: u8,
    /// The repetition (`--repeat`), which names Goose's report apart.
    pub repetition: Option<u32>,
    /// `http://host:port` of the target (Goose wants a host; the posts use full URLs).
    pub root: &'a str,
    /// Goose users.
    pub users: usize,
    pub time_scale: crate::clock::TimeScale,
}

/// Builds the attack; Goose's files go to `dir/goose/`.
pub(super) fn build(
    spec: &AttackSpec,
    dir: &Path,
    ctx: &Arc<CaseContext>,
) -> anyhow::Result<Box<GooseAttack>> {
    let scenario = spec.scenario;
    let goose_dir = dir.join("goose");
    std::fs::create_dir_all(&goose_dir)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", goose_dir.display()))?;
    // The scenario's name is user data: only its slug becomes a file name.
    let goose_report = goose_dir.join(format!(
        "{}-tier{}{}.html",
        crate::report::slug(&scenario.name),
        spec.tier,
        spec.repetition.map_or(String::new(), |k| format!("-{k}"))
    ));
    let goose_scenario = GooseScenario::new(&scenario.name)
        .register_transaction(Transaction::new(ctx.transaction()).set_name("post"));
    let attack = configure(goose_scenario, spec, &goose_dir, &goose_report).map_err(goose_error)?;
    Ok(attack)
}

/// Goose configured for the case (its errors are Goose's, read by [`goose_error`]).
fn configure(
    goose_scenario: GooseScenario,
    spec: &AttackSpec,
    goose_dir: &Path,
    goose_report: &Path,
) -> Result<Box<GooseAttack>, goose::GooseError> {
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(goose_scenario)
        .set_default(GooseDefault::Host, spec.root)?
        .set_default(GooseDefault::Users, spec.users)?
        .set_default(GooseDefault::IncreaseRate, "100000")?
        .set_default(GooseDefault::Iterations, 1)?
        .set_default(GooseDefault::NoTelnet, true)?
        .set_default(GooseDefault::NoPrintMetrics, true)?
        .set_default(GooseDefault::NoErrorSummary, true)?
        // Goose's console log at warnings only; its full log goes to the report folder (Goose
        // opens it once per process).
        .set_default(GooseDefault::Quiet, 1)?
        .set_default(GooseDefault::LogLevel, 1)?
        .set_default(
            GooseDefault::GooseLog,
            goose_dir.join("goose.log").to_string_lossy().as_ref(),
        )?
        .set_default(
            GooseDefault::Timeout,
            format!(
                "{}",
                spec.time_scale
                    .to_real(spec.scenario.request_timeout_s)
                    .ceil()
                    .max(1.0) as u64
            )
            .as_str(),
        )?
        .set_default(
            GooseDefault::ReportFile,
            goose_report.to_string_lossy().as_ref(),
        )?;
    Ok(attack)
}

/// Runs the attack. A signal ends it (Goose's killswitch); the posts in flight get STOP_GRACE to
/// finish, then the attack is abandoned, as it is at once on a second signal: the posts that
/// finished are reported, the others are not waited for (their tasks end with the process).
/// CI sends SIGKILL a few seconds after SIGTERM: the report must be written before that.
pub(super) async fn run(attack: Box<GooseAttack>, cfg: &RunConfig) -> anyhow::Result<()> {
    let muted = console::Muted::new();
    tokio::select! {
        done = attack.execute() => { done.map_err(goose_error)?; }
        () = wait_for(&cfg.hurry) => {}
        () = async {
            wait_for(&cfg.stop).await;
            tokio::time::sleep(crate::stop::STOP_GRACE).await;
        } => {}
    }
    drop(muted);
    Ok(())
}

/// Goose's error with what it knows. Its own `Display` of an invalid option is "invalid option
/// or value specified" and nothing else, and Goose reports a file it cannot write (its report,
/// its log, its folder: a full disk, a read-only folder) as an invalid option: the disk's error
/// is in the detail, which would be lost.
fn goose_error(e: goose::GooseError) -> anyhow::Error {
    match e {
        goose::GooseError::InvalidOption {
            option,
            value,
            detail,
        } => match option.as_str() {
            "--report-file" | "--output-dir" | "--goose-log" | "--log-file" => {
                anyhow::anyhow!("cannot write {value}: {detail}")
            }
            _ => anyhow::anyhow!("Goose's {option} `{value}`: {detail}"),
        },
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_names_the_disk_error_not_a_goose_option() {
        // What Goose returns when its report cannot be created or written on a full disk
        // (goose 0.19, metrics.rs `report_io_error`): before, postload printed its Display,
        // "GooseError: invalid option or value specified", and nothing of the disk.
        let enospc = std::io::Error::from_raw_os_error(28);
        let e = goose_error(goose::GooseError::InvalidOption {
            option: "--report-file".into(),
            value: "reports/x/goose/burst-50-tier1.html".into(),
            detail: format!("Failed to create report file: {enospc}"),
        });
        let shown = format!("{e:#}");
        assert!(
            shown.contains("No space left on device")
                && shown.contains("reports/x/goose/burst-50-tier1.html")
                && !shown.contains("invalid option"),
            "{shown}"
        );
    }
}
