//! `postload run`: for each scenario × tier, start a fresh embedded stub (or use the given base
//! URL), release the scenario's posts through Goose, fold them into a
//! [`Recorder`](crate::metrics::Recorder), and write `result.json` after every case. Ctrl-C ends
//! the current attack (Goose's killswitch), skips the remaining cases and still writes the
//! report, marked interrupted.

mod alongside;
pub(crate) mod answer;
mod attack;
mod case;
pub mod console;
pub mod post;
mod progress;
mod setup;

pub use self::setup::{Endpoint, OpenAiTarget, RunConfig, RunScenario, ServiceMode};

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use self::case::CaseRun;
use crate::metrics::budget::{Budget, BudgetInfo};
use crate::report::{Exporters, ReportWriter};
use crate::result::{PriceInfo, RunResult, TargetInfo, TierLimitRow, RESULT_SCHEMA};
use crate::scenario::Load;
use crate::stub::StubHandle;

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A run id from the wall clock: `20261128-113500` (UTC).
pub fn new_run_id() -> String {
    chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()
}

/// Runs every case and writes the result in each of `exporters`' formats after every case;
/// returns the result (the caller prints it and applies gates). The run's folder is
/// `cfg.reports_root` joined with the result's `run_id`.
pub async fn execute(cfg: RunConfig, exporters: Exporters) -> anyhow::Result<RunResult> {
    let alongside = alongside::start(&cfg).await?;
    let target_info = target_info(&cfg, alongside.as_ref());
    let budget = RunBudget::of(&cfg);
    // Everything that can fail before the first case has been checked: only now is the run's
    // folder created, so a run that could not start leaves no empty folder behind.
    let dir = crate::report::create_unique_dir(&cfg.reports_root, &cfg.run_id)?;
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| cfg.run_id.clone());
    let writer = ReportWriter::create(&dir)?
        .hurried_by(Arc::clone(&cfg.hurry))
        .with_all(exporters);
    let mut result = RunResult {
        schema: RESULT_SCHEMA.into(),
        postload_version: env!("CARGO_PKG_VERSION").into(),
        run_id,
        started_at: now_rfc3339(),
        finished_at: None,
        interrupted: false,
        target: target_info,
        prices: PriceInfo {
            version: cfg.catalog.prices.version.clone(),
            as_of: cfg.catalog.prices.as_of.clone(),
            source: cfg.catalog.prices.source.clone(),
        },
        budget: None,
        cases: Vec::new(),
        shard: cfg.shard,
        tier_limits: TierLimitRow::of(
            &cfg.catalog,
            cfg.scenarios
                .iter()
                .map(|e| (e.scenario.tier_set.as_str(), e.scenario.model.as_str())),
        ),
    };
    result.budget = budget.as_ref().map(RunBudget::info);
    writer.write(&result)?;
    let run = CaseRun {
        cfg: &cfg,
        dir: &dir,
        alongside: alongside.as_ref(),
        budget: budget.as_ref(),
        progress: progress::shown(cfg.quiet, std::io::stderr().is_terminal()),
    };
    let ran = run.all(&writer, &mut result).await;
    // The stub alongside is stopped before the run returns, its port free for the next run's
    // (a `--find-rate` step's, then the next step's).
    if let Some(stub) = alongside {
        stub.shutdown().await;
    }
    ran?;
    // A service may have called another model than its scenario named (`scenario_model`).
    result.tier_limits = TierLimitRow::of(
        &cfg.catalog,
        cfg.scenarios
            .iter()
            .map(|e| (e.scenario.tier_set.as_str(), e.scenario.model.as_str()))
            .chain(
                result
                    .cases
                    .iter()
                    .map(|c| (c.inputs.tier_set.as_str(), c.inputs.model.as_str())),
            ),
    );
    result.finished_at = Some(now_rfc3339());
    // A signal after the last case still marks the run: the exit code says it was stopped.
    result.interrupted |= cfg.stop.load(Ordering::SeqCst);
    writer.write(&result)?;
    Ok(result)
}

/// Where the run's load went, as result.json says it.
fn target_info(cfg: &RunConfig, alongside: Option<&StubHandle>) -> TargetInfo {
    match (&cfg.service_mode, &cfg.target) {
        (Some(_), _) => TargetInfo::Service {
            openai_stub: alongside.map(StubHandle::base_url),
        },
        (None, OpenAiTarget::Embedded(c)) => TargetInfo::EmbeddedStub {
            latency: c.fixed_latency.map_or("model profiles".into(), |d| {
                format!("fixed {} ms", d.as_millis())
            }),
            retry_after: c.retry_after,
        },
        (None, OpenAiTarget::BaseUrl(e)) => TargetInfo::BaseUrl {
            base_url: crate::secret::shown_url(&e.url),
            remote: e.remote,
        },
    }
}

/// The spend guard's budget for the whole run (`--max-cost`), and its worst-case estimate.
struct RunBudget {
    budget: Arc<Mutex<Budget>>,
    estimate_usd: f64,
}

impl RunBudget {
    /// The run's budget, if it has a cap: the worst case is printed before anything is sent.
    fn of(cfg: &RunConfig) -> Option<Self> {
        cfg.max_cost_usd.map(|cap| {
            let estimate = estimate_max_usd(cfg);
            eprintln!(
                "postload: spend guard: this run costs at most ${estimate:.4} if every call reaches its max_tokens; it stops when spending would pass --max-cost ${cap:.4}"
            );
            Self {
                budget: Arc::new(Mutex::new(Budget::new(cap))),
                estimate_usd: estimate,
            }
        })
    }

    fn info(&self) -> BudgetInfo {
        let g = self.budget.lock().unwrap_or_else(|p| p.into_inner());
        BudgetInfo {
            max_cost_usd: g.cap_usd(),
            estimated_max_usd: self.estimate_usd,
            spent_usd: g.spent_usd(),
            stopped: g.tripped(),
            calls_refused: g.refused(),
        }
    }
}

/// Posts a case plans to send (a sustained load's expected count): a shard's share of them.
fn planned_posts(load: &Load, shard: Option<crate::shard::Shard>) -> f64 {
    let count = shard.map_or(1, |s| s.count);
    // Of n posts numbered from 0, those the shard takes.
    let mine = |n: usize| {
        shard.map_or(n as u64, |s| {
            u64::from(s.users(n.min(u32::MAX as usize) as u32))
        })
    };
    match load {
        Load::Burst { users } => mine(*users as usize) as f64,
        Load::Sustained { duration_s, .. } => {
            load.rate_per_s().unwrap_or(0.0) * duration_s / f64::from(count)
        }
        Load::Trace { arrivals, .. } => mine(arrivals.as_ref().map_or(0, |t| t.posts.len())) as f64,
    }
}

/// The share of a scenario's posts (a shard's) that make the image-prompt call: those of a
/// trace that gives no image prompt, when its file says; else those the scenario's share leaves.
fn image_call_share(s: &crate::scenario::Scenario, shard: Option<crate::shard::Shard>) -> f64 {
    if let Load::Trace {
        arrivals: Some(t), ..
    } = &s.load
    {
        if t.has_image_prompts {
            let posts: Vec<u64> = (0..t.posts.len() as u64)
                .filter(|&i| shard.is_none_or(|s| s.takes(i)))
                .collect();
            let make = posts
                .iter()
                .filter(|&&i| t.brings_own(i) == Some(false))
                .count();
            return make as f64 / posts.len().max(1) as f64;
        }
    }
    1.0 - s.image_prompt_share
}

/// The spend guard's estimate: every case's planned posts (a shard's own) with every call at its
/// worst case (the calls a post brings its own image prompt for are left out at the scenario's
/// share).
pub fn estimate_max_usd(cfg: &RunConfig) -> f64 {
    let reps = cfg.repeat.max(1) as f64;
    cfg.scenarios
        .iter()
        .map(|p| {
            let s = &p.scenario;
            let Some(price) = cfg.catalog.prices.models.get(&s.model) else {
                return 0.0;
            };
            let per_post = s
                .prompts
                .worst_case_post_usd(price, image_call_share(s, cfg.shard));
            per_post * planned_posts(&s.load, cfg.shard) * s.tiers.len() as f64 * reps
        })
        .sum()
}

/// Returns once `flag` is set (checked every 50 ms).
async fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
