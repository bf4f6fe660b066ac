//! postload: measure an OpenAI-backed marketing-post service under load, against the real
//! service or a faithful OpenAI stub. `main` parses the command line and calls [`run`].

pub mod claims;
pub mod cli;
pub mod clock;
pub mod compare;
pub mod config;
pub mod example;
pub mod gate;
pub mod limits;
pub mod metrics;
pub mod openai;
pub mod plan;
pub mod report;
pub mod run;
pub mod scenario;
pub mod stop;
pub mod stub;
pub mod threshold;

use cli::{Cli, Command, RunArgs, StubArgs};

/// How a command ended, when it ended without an error. Exit codes are part of the interface:
/// 0 pass, 1 a gate failed, 2 usage/config/runtime error (an `Err` from [`run`]), 3 stopped by
/// the budget guard, 128 + N stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    GateFailed,
    BudgetStopped,
    /// Stopped by this signal; the report covers what was measured and says so.
    Interrupted(i32),
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::GateFailed => 1,
            Outcome::BudgetStopped => 3,
            Outcome::Interrupted(signal) => stop::exit_code(signal),
        }
    }

    /// This outcome, unless a signal stopped the command: an interrupted run never exits 0
    /// (nor 1: a gate judged on part of a run says nothing).
    fn unless_interrupted(self) -> Self {
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

pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Some(Command::Stub(args)) => serve_stub(args).await,
        Some(Command::Run(args)) => run_scenarios(*args).await,
        Some(Command::Report(args)) => render_report(args),
        Some(Command::Check(args)) => check_result(args),
        Some(Command::Merge(args)) => merge_logs(args),
        Some(Command::Compare(args)) => compare_results(args),
        Some(Command::ExampleService(args)) => serve_example(args).await,
        Some(Command::Plan(args)) => plan_capacity(*args).await,
        None => run_scenarios(cli.run).await,
    }
}

/// `postload plan`: simulate the grid, print the table, write plan.json, plan.md and charts.
async fn plan_capacity(args: cli::PlanArgs) -> anyhow::Result<Outcome> {
    let catalog = config::catalog_from(args.mocks.as_deref())?;
    let claims = config::claims(args.claims.as_deref(), &catalog)?;
    let spec = config::plan_spec(&args, &catalog)?;
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
    let result =
        plan::plan(&catalog, &spec, &claims, &measured).map_err(|e| config::ConfigError(e.0))?;
    let took = started.elapsed();
    print!("{}", report::plan::table(&result));
    let dir = report::create_unique_dir(&args.report_dir, &format!("plan-{}", run::new_run_id()))?;
    std::fs::create_dir_all(dir.join("charts"))?;
    report::write_atomic(&dir.join("plan.json"), &serde_json::to_vec_pretty(&result)?)?;
    report::write_atomic(
        &dir.join("plan.md"),
        report::plan::plan_markdown(&result).as_bytes(),
    )?;
    for (name, bytes) in report::charts::plan_charts(&result)? {
        report::write_atomic(&dir.join(name), &bytes)?;
    }
    if !args.quiet {
        let events: u64 = result.cells.iter().map(|c| c.events).sum();
        println!(
            "plan: {} cells, {} simulated posts, {events} events in {:.2} s; {}",
            result.cells.len(),
            result.cells.iter().map(|c| c.posts).sum::<u64>(),
            took.as_secs_f64(),
            dir.join("plan.md").display()
        );
    }
    if args.validate {
        run::validate::validate(&args, &catalog, &spec, &dir, stop::stop_flag()).await?;
    }
    Ok(Outcome::Success.unless_interrupted())
}

/// `postload example-service`: the reference service, until Ctrl-C.
async fn serve_example(args: cli::ExampleServiceArgs) -> anyhow::Result<Outcome> {
    if !config::is_loopback("--openai-base-url", &args.openai_base_url)?
        && !args.allow_remote_openai
    {
        return Err(config::ConfigError(format!(
            "--openai-base-url `{}` is not on this machine: its calls would be billed; add --allow-remote-openai to mean it",
            args.openai_base_url
        ))
        .into());
    }
    let mut cfg = example::ExampleConfig::new(&args.openai_base_url);
    cfg.model = args.model;
    cfg.memory_delay = std::time::Duration::from_millis(args.memory_ms);
    cfg.retry = config::retry_policy(args.retry);
    if let Ok(key) = std::env::var(&args.api_key_env) {
        cfg.api_key = Some(scenario::target::Secret::new(key));
    }
    let listener = stub::bind_loopback(args.port).map_err(|e| {
        config::ConfigError(format!(
            "--port {}: cannot listen on 127.0.0.1:{}: {e}",
            args.port, args.port
        ))
    })?;
    let handle = example::start(cfg, listener).await?;
    println!(
        "example service: {} (POST /api/marketing-post), OpenAI calls to {}",
        handle.url(),
        args.openai_base_url
    );
    tokio::signal::ctrl_c().await?;
    Ok(Outcome::Success)
}

/// `postload report RESULT.json`: report.md, report.html and the charts again, beside the result.
fn render_report(args: cli::ReportArgs) -> anyhow::Result<Outcome> {
    let result = load_result(&args.result)?;
    let catalog = config::catalog_from(args.mocks.as_deref())?;
    let claims = config::claims(args.claims.as_deref(), &catalog)?;
    let dir = args
        .result
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let writer = report::ReportWriter::create(dir)?
        .with(report::markdown::MarkdownExporter {
            claims: claims.clone(),
            prices: catalog.prices.clone(),
        })
        .with(report::markdown::HtmlExporter {
            claims,
            prices: catalog.prices.clone(),
        })
        .with(report::charts::ChartExporter {
            prices: catalog.prices.clone(),
        });
    writer.write(&result)?;
    println!("{}", dir.join("report.md").display());
    Ok(Outcome::Success)
}

async fn run_scenarios(args: RunArgs) -> anyhow::Result<Outcome> {
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
        return Err(config::ConfigError(
            "--junit: there is no gate to report (give --gate FILE, or [[thresholds]] in a scenario)".into(),
        )
        .into());
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
        return Err(config::ConfigError(format!("{file}: {m}")).into());
    }
    if let Some(junit) = &args.junit {
        check_writable("--junit", junit)?;
    }
    let root = config.reports_root.clone();
    let quiet = config.quiet;
    let result = run::execute(config).await?;
    let dir = root.join(&result.run_id);
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        let md = std::fs::read_to_string(dir.join("report.md")).unwrap_or_default();
        append_step_summary(std::path::Path::new(&summary), &md)?;
    }
    let budget_stopped = result.budget.as_ref().is_some_and(|b| b.stopped);
    let outcome = if gates.is_empty() {
        Outcome::Success
    } else {
        let junit = args.junit.unwrap_or_else(|| dir.join("junit.xml"));
        apply_gates(&gates, &result, &junit, quiet)?
    };
    // A signal, then the budget stop win: the run is incomplete, whatever the gates say of what
    // it measured.
    Ok(if budget_stopped {
        Outcome::BudgetStopped
    } else {
        outcome
    }
    .unless_interrupted())
}

/// `postload compare BASE.json NEW.json`.
fn compare_results(args: cli::CompareArgs) -> anyhow::Result<Outcome> {
    let t = args.tolerance.trim();
    let tolerance = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .ok()
    .filter(|v| v.is_finite() && *v >= 0.0)
    .ok_or_else(|| {
        config::ConfigError(format!(
            "--tolerance `{t}`: give a share (0.1) or a percentage (10%)"
        ))
    })?;
    let base = load_result(&args.base)?;
    let new = load_result(&args.new)?;
    let c = compare::compare(&base, &new, tolerance);
    if c.deltas.is_empty() {
        return Err(config::ConfigError(format!(
            "{} and {} share no scenario and tier: nothing to compare",
            args.base.display(),
            args.new.display()
        ))
        .into());
    }
    print!("{}", compare::markdown(&c));
    if let Some(path) = &args.json {
        report::write_atomic(path, &serde_json::to_vec_pretty(&c)?)?;
    }
    let regressions = c.regressions();
    println!("\nregressions: {regressions}");
    Ok(if regressions > 0 {
        Outcome::GateFailed
    } else {
        Outcome::Success
    })
}

/// `postload merge A.hlog B.hlog ...`: exact merge by tag. Each log is read within
/// [`limits::MAX_HLOG_BYTES`] and checked histogram by histogram before it is decoded (see
/// [`metrics::hlog::read_log`]); an empty log is an error, and no count may overflow.
fn merge_logs(args: cli::MergeArgs) -> anyhow::Result<Outcome> {
    use metrics::hlog;
    let mut merged: std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>> =
        std::collections::BTreeMap::new();
    for path in &args.logs {
        let bytes =
            limits::read_bounded(path, limits::MAX_HLOG_BYTES).map_err(config::ConfigError)?;
        let logs = hlog::read_log(&bytes)
            .map_err(|e| config::ConfigError(format!("{}: {e}", path.display())))?;
        if logs.is_empty() {
            return Err(config::ConfigError(format!(
                "{}: no histograms: not an interval log written by `postload run`, or empty",
                path.display()
            ))
            .into());
        }
        for (tag, h) in logs {
            let tags = merged.len();
            match merged.get_mut(&tag) {
                Some(m) => hlog::add_checked(m, &h).map_err(|e| {
                    config::ConfigError(format!("{}: tag `{tag}`: {e}", path.display()))
                })?,
                None if tags >= limits::MAX_HLOG_TAGS => {
                    return Err(config::ConfigError(format!(
                        "{}: tag `{tag}`: more than {} tags in all",
                        path.display(),
                        limits::MAX_HLOG_TAGS
                    ))
                    .into())
                }
                None => {
                    merged.insert(tag, h);
                }
            }
        }
    }
    println!(
        "{:<14} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "tag", "count", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for (tag, h) in &merged {
        let q = |q: f64| h.median_equivalent(h.value_at_quantile(q)) as f64 / 1000.0;
        println!(
            "{:<14} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            if tag.is_empty() { "(untagged)" } else { tag },
            h.len(),
            q(0.5),
            q(0.95),
            q(0.99),
            h.max() as f64 / 1000.0
        );
    }
    if let Some(out) = &args.out {
        let comment = format!("postload merge of {} logs", args.logs.len());
        let bytes = hlog::write_log(
            &comment,
            std::time::SystemTime::now(),
            std::time::Duration::ZERO,
            &merged,
        );
        report::write_atomic(out, &bytes)?;
    }
    Ok(Outcome::Success)
}

/// `postload check RESULT.json --gate FILE`.
fn check_result(args: cli::CheckArgs) -> anyhow::Result<Outcome> {
    let gates = config::gates(&args.gate)?;
    let result = load_result(&args.result)?;
    let junit = args.junit.unwrap_or_else(|| {
        args.result
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("junit.xml")
    });
    apply_gates(&gates, &result, &junit, false)
}

/// Checks, prints each threshold with its measured value, writes JUnit, appends the table to
/// `$GITHUB_STEP_SUMMARY` when set. Outcome: GateFailed if any threshold fails.
fn apply_gates(
    gates: &[gate::Gate],
    result: &report::RunResult,
    junit: &std::path::Path,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let checks = gate::evaluate(gates, result).map_err(config::ConfigError)?;
    let failed = checks.iter().filter(|c| !c.pass).count();
    if !quiet || failed > 0 {
        print!("{}", gate::lines(&checks));
        println!("gates: {} passed, {failed} failed", checks.len() - failed);
    }
    report::write_atomic(junit, &gate::junit(&checks))?;
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        append_step_summary(std::path::Path::new(&summary), &gate::markdown(&checks))?;
    }
    Ok(if failed > 0 {
        Outcome::GateFailed
    } else {
        Outcome::Success
    })
}

/// Checks, before any load, that a file can be written at `path` (its folder exists and takes a
/// new file): a probe file is created there and removed.
fn check_writable(option: &str, path: &std::path::Path) -> Result<(), config::ConfigError> {
    let bad = |why: String| config::ConfigError(format!("{option} {}: {why}", path.display()));
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

fn load_result(path: &std::path::Path) -> anyhow::Result<report::RunResult> {
    let text = limits::read_text(path, limits::MAX_RESULT_BYTES).map_err(config::ConfigError)?;
    let result: report::RunResult = serde_json::from_str(&text).map_err(|e| {
        config::ConfigError(format!("{}: not a postload result: {e}", path.display()))
    })?;
    // What reads a result sizes things by its numbers (the charts bin latencies).
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| config::ConfigError(format!("{}: {e}", path.display())))?;
    limits::check_result_numbers(&value)
        .map_err(|e| config::ConfigError(format!("{}: {e}", path.display())))?;
    if result.schema != report::RESULT_SCHEMA {
        return Err(config::ConfigError(format!(
            "{}: field `schema`: `{}` is not `{}`",
            path.display(),
            result.schema,
            report::RESULT_SCHEMA
        ))
        .into());
    }
    Ok(result)
}

async fn serve_stub(args: StubArgs) -> anyhow::Result<Outcome> {
    let config = config::stub_config(&args.stub)?;
    let listener = stub::bind_loopback(args.port).map_err(|e| {
        config::ConfigError(format!("--port {}: cannot bind 127.0.0.1: {e}", args.port))
    })?;
    let (set, tier, seed) = (config.tier_set.clone(), config.tier, config.seed);
    let scale = config::time_scale(args.stub.time_scale)?;
    let handle = stub::start_with_clock(
        config,
        listener,
        std::sync::Arc::new(clock::SystemClock::scaled(scale)),
    )
    .await?;
    println!("OPENAI_BASE_URL={}", handle.base_url());
    eprintln!(
        "postload stub: tier {tier} of `{set}`, seed {seed}; stats at {}/__postload/stats; Ctrl-C stops",
        handle.base_url().trim_end_matches("/v1")
    );
    tokio::signal::ctrl_c().await?;
    let stats = handle.stats();
    eprintln!(
        "postload stub: served {} chat requests ({} ok, {} rate-limited)",
        stats.chat_requests,
        stats.status(200),
        stats.rate_limited_total()
    );
    Ok(Outcome::Success)
}
