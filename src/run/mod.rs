//! `postload run`: for each scenario × tier, start a fresh embedded stub (or use the given base
//! URL), release the scenario's posts through Goose, fold them into a [`Recorder`], and write
//! `result.json` after every case. Ctrl-C ends the current attack (Goose's killswitch), skips the
//! remaining cases and still writes the report, marked interrupted.

pub mod post;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{Scenario as GooseScenario, Transaction};
use goose::GooseAttack;

use self::post::{Arrivals, CaseContext, Start};
use crate::metrics::Recorder;
use crate::openai::catalog::Catalog;
use crate::openai::latency::Profile;
use crate::report::charts::ChartExporter;
use crate::report::claims::ClaimsFile;
use crate::report::markdown::{HtmlExporter, MarkdownExporter};
use crate::report::{
    summary, CaseInputs, CaseResult, HlogExporter, JsonExporter, PriceInfo, ProfileInfo,
    ReportWriter, RunResult, TargetInfo, RESULT_SCHEMA,
};
use crate::scenario::prompts::PostPlan;
use crate::scenario::{Load, Scenario};
use crate::stub::{self, StubConfig};

/// Where the posts go.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fresh in-process stub per case, configured from this template (tier, tier set and seed
    /// are set per case).
    Embedded(StubConfig),
    /// An OpenAI-compatible base URL such as `http://127.0.0.1:9000/v1`.
    BaseUrl(String),
}

/// A checked run configuration.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// (file name for messages, scenario) in run order.
    pub scenarios: Vec<(String, Scenario)>,
    pub catalog: Arc<Catalog>,
    pub target: Target,
    /// The run's folder (`reports/<run-id>`).
    pub report_dir: PathBuf,
    pub run_id: String,
    pub quiet: bool,
    /// Set to stop the run (Ctrl-C); checked between cases and inside the attack.
    pub stop: Arc<AtomicBool>,
    /// The claims report.md judges.
    pub claims: ClaimsFile,
    /// Run every case this many times (seed + 0, 1, ...), keeping each repetition.
    pub repeat: u32,
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A run id from the wall clock: `20261128-113500` (UTC).
pub fn new_run_id() -> String {
    chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()
}

fn profile_info(catalog: &Catalog, model: &str, target: &Target) -> Option<ProfileInfo> {
    let Target::Embedded(cfg) = target else {
        return None;
    };
    if let Some(d) = cfg.fixed_latency {
        return Some(ProfileInfo {
            name: format!("fixed {} ms", d.as_millis()),
            as_of: String::new(),
            source: "--latency-ms".into(),
        });
    }
    let name = &catalog.model(model)?.profile;
    match catalog.profiles.get(name)? {
        Profile::HeavyTail { as_of, source, .. } | Profile::Fixed { as_of, source, .. } => {
            Some(ProfileInfo {
                name: name.clone(),
                as_of: as_of.clone(),
                source: source.clone(),
            })
        }
    }
}

/// Runs every case and writes the reports; returns the result (the caller applies gates).
pub async fn execute(cfg: RunConfig) -> anyhow::Result<RunResult> {
    let writer = ReportWriter::create(&cfg.report_dir)?
        .with(JsonExporter)
        .with(MarkdownExporter {
            claims: cfg.claims.clone(),
            prices: cfg.catalog.prices.clone(),
        })
        .with(HtmlExporter {
            claims: cfg.claims.clone(),
            prices: cfg.catalog.prices.clone(),
        })
        .with(ChartExporter {
            prices: cfg.catalog.prices.clone(),
        })
        .with(HlogExporter);
    let target_info = match &cfg.target {
        Target::Embedded(c) => TargetInfo::EmbeddedStub {
            latency: c.fixed_latency.map_or("model profiles".into(), |d| {
                format!("fixed {} ms", d.as_millis())
            }),
            retry_after: c.retry_after,
        },
        Target::BaseUrl(u) => TargetInfo::BaseUrl {
            base_url: u.clone(),
        },
    };
    let mut result = RunResult {
        schema: RESULT_SCHEMA.into(),
        postload_version: env!("CARGO_PKG_VERSION").into(),
        run_id: cfg.run_id.clone(),
        started_at: now_rfc3339(),
        finished_at: None,
        interrupted: false,
        target: target_info,
        prices: PriceInfo {
            version: cfg.catalog.prices.version.clone(),
            as_of: cfg.catalog.prices.as_of.clone(),
            source: cfg.catalog.prices.source.clone(),
        },
        cases: Vec::new(),
    };
    writer.write(&result)?;

    let repetitions: Vec<Option<u32>> = if cfg.repeat > 1 {
        (1..=cfg.repeat).map(Some).collect()
    } else {
        vec![None]
    };
    'cases: for (file, scenario) in &cfg.scenarios {
        for (&tier, &repetition) in scenario
            .tiers
            .iter()
            .flat_map(|t| repetitions.iter().map(move |r| (t, r)))
        {
            if cfg.stop.load(Ordering::SeqCst) {
                result.interrupted = true;
                break 'cases;
            }
            if !cfg.quiet {
                eprintln!(
                    "postload: {} at tier {tier} of {} ({} users)...",
                    scenario.name,
                    scenario.tier_set,
                    scenario.load.users()
                );
            }
            let case = run_case(&cfg, file, scenario, tier, repetition).await?;
            let interrupted = case.interrupted;
            if !cfg.quiet {
                let m = &case.measured;
                eprintln!(
                    "postload: {} tier {tier}: {}/{} posts ok, {} 429s, makespan {:.2} s{}",
                    scenario.name,
                    m.posts.ok,
                    m.posts.total,
                    m.calls.http_429,
                    m.makespan_ms / 1000.0,
                    if interrupted { " (interrupted)" } else { "" }
                );
            }
            result.cases.push(case);
            result.interrupted |= interrupted;
            writer.write(&result)?;
            if interrupted {
                break 'cases;
            }
        }
    }
    result.finished_at = Some(now_rfc3339());
    writer.write(&result)?;
    if !cfg.quiet {
        print!("{}", summary::table(&result));
        println!(
            "report: {} and report.md",
            writer.dir().join("result.json").display()
        );
    }
    Ok(result)
}

async fn run_case(
    cfg: &RunConfig,
    file: &str,
    scenario: &Scenario,
    tier: u8,
    repetition: Option<u32>,
) -> anyhow::Result<CaseResult> {
    // Repetitions are independent samples: repetition k runs with seed + k - 1.
    let mut scenario = scenario.clone();
    scenario.seed = scenario
        .seed
        .wrapping_add(repetition.map_or(0, |k| u64::from(k) - 1));
    let scenario = &scenario;
    let limits = cfg
        .catalog
        .tier(&scenario.tier_set, tier)
        .map_err(anyhow::Error::msg)?
        .limits
        .get(
            &cfg.catalog
                .model(&scenario.model)
                .map(|m| m.limits.clone())
                .unwrap_or_default(),
        )
        .copied()
        .ok_or_else(|| {
            anyhow::anyhow!("{file}: no limits for `{}` at tier {tier}", scenario.model)
        })?;

    // The target for this case.
    let (stub, base_url) = match &cfg.target {
        Target::Embedded(template) => {
            let mut c = template.clone();
            c.tier_set = scenario.tier_set.clone();
            c.tier = tier;
            c.seed = scenario.seed;
            let handle = stub::start(c, stub::bind_loopback(0)?).await?;
            let url = handle.base_url();
            (Some(handle), url)
        }
        Target::BaseUrl(u) => (None, u.trim_end_matches('/').to_string()),
    };
    let root = url_root(&base_url)?;

    let users = scenario.load.users() as usize;
    let (start, goose_users) = match &scenario.load {
        Load::Burst { users } => (Start::Burst, *users as usize),
        Load::Sustained {
            duration_s,
            max_in_flight,
            ..
        } => {
            let rate = scenario.load.rate_per_s().unwrap_or(0.0);
            let arrivals = Arrivals::new(rate, Duration::from_secs_f64(*duration_s), scenario.seed);
            (
                Start::Schedule(Box::new(std::sync::Mutex::new(arrivals))),
                max_in_flight.unwrap_or(users as u32 * 4).max(1) as usize,
            )
        }
    };
    let ctx = Arc::new(CaseContext::new(
        PostPlan::new(&scenario.model, scenario.prompts),
        format!("{base_url}/chat/completions"),
        scenario.retry,
        Duration::from_secs_f64(scenario.request_timeout_s),
        scenario.seed,
        scenario.image_prompt_share,
        goose_users,
        start,
        Arc::clone(&cfg.stop),
    ));

    let goose_dir = cfg.report_dir.join("goose");
    std::fs::create_dir_all(&goose_dir)?;
    let goose_report = goose_dir.join(format!(
        "{}-tier{tier}{}.html",
        scenario.name,
        repetition.map_or(String::new(), |k| format!("-{k}"))
    ));
    let goose_scenario = GooseScenario::new(&scenario.name)
        .register_transaction(Transaction::new(ctx.transaction()).set_name("post"));
    let started = Instant::now();
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())?
        .register_scenario(goose_scenario)
        .set_default(GooseDefault::Host, root.as_str())?
        .set_default(GooseDefault::Users, goose_users)?
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
            format!("{}", scenario.request_timeout_s.ceil() as u64).as_str(),
        )?
        .set_default(
            GooseDefault::ReportFile,
            goose_report.to_string_lossy().as_ref(),
        )?;
    attack.execute().await?;
    let duration = started.elapsed();
    let interrupted = cfg.stop.load(Ordering::SeqCst) || goose::is_killswitch_triggered();

    let recorder: Recorder = ctx
        .recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let price = cfg.catalog.prices.models.get(&scenario.model);
    let measured = recorder.summarize(price, users as u64);
    let stub_stats = stub.as_ref().map(|h| h.stats());
    Ok(CaseResult {
        scenario: scenario.name.clone(),
        tier,
        repetition,
        inputs: CaseInputs {
            scenario_file: file.to_string(),
            description: scenario.description.clone(),
            model: scenario.model.clone(),
            tier_set: scenario.tier_set.clone(),
            tier,
            limits,
            load: scenario.load.clone(),
            prompts: scenario.prompts,
            image_prompt_share: scenario.image_prompt_share,
            retry: scenario.retry,
            request_timeout_s: scenario.request_timeout_s,
            seed: scenario.seed,
            latency_profile: profile_info(&cfg.catalog, &scenario.model, &cfg.target),
        },
        interrupted,
        duration_ms: duration.as_secs_f64() * 1000.0,
        measured,
        stub: stub_stats,
    })
}

/// `http://host:port` of a base URL (Goose wants a host; our requests use the full URL).
fn url_root(base_url: &str) -> anyhow::Result<String> {
    let url =
        reqwest::Url::parse(base_url).map_err(|e| anyhow::anyhow!("base URL `{base_url}`: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("base URL `{base_url}` has no host"))?;
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrivals_have_the_rate_and_are_seeded() {
        let take = |seed| Arrivals::new(10.0, Duration::from_secs(1_000), seed).collect::<Vec<_>>();
        let s = take(7);
        assert!((9_700..=10_300).contains(&s.len()), "{}", s.len());
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        assert!(s.last().unwrap() < &Duration::from_secs(1_000));
        assert_eq!(s, take(7));
        assert_ne!(s, take(8));
        // Exponential gaps: about 37% of them exceed the mean gap of 100 ms.
        let long = s
            .windows(2)
            .filter(|w| w[1] - w[0] > Duration::from_millis(100))
            .count();
        let share = long as f64 / (s.len() - 1) as f64;
        assert!((0.34..0.40).contains(&share), "{share}");
    }

    #[test]
    fn url_root_keeps_scheme_host_and_port() {
        assert_eq!(
            url_root("http://127.0.0.1:9000/v1").unwrap(),
            "http://127.0.0.1:9000"
        );
        assert!(url_root("not a url").is_err());
    }
}
