//! `postload run`: for each scenario × tier, start a fresh embedded stub (or use the given base
//! URL), release the scenario's posts through Goose, fold them into a [`Recorder`], and write
//! `result.json` after every case. Ctrl-C ends the current attack (Goose's killswitch), skips the
//! remaining cases and still writes the report, marked interrupted.

pub(crate) mod answer;
pub mod console;
pub mod post;
mod setup;

pub use self::setup::{Endpoint, Planned, RunConfig, ServiceMode, Target};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::goose::{Scenario as GooseScenario, Transaction};
use goose::GooseAttack;

use self::post::{Arrivals, CaseContext, CaseSetup, SpendGuard, Start, Work};
use crate::metrics::budget::{Budget, BudgetInfo};
use crate::metrics::Recorder;
use crate::metrics::TokenSource;
use crate::openai::catalog::Catalog;
use crate::openai::latency::Profile;
use crate::report::charts::ChartExporter;
use crate::report::markdown::{HtmlExporter, MarkdownExporter};
use crate::report::{
    summary, CaseInputs, CaseResult, HlogExporter, JsonExporter, PriceInfo, ProfileInfo,
    ReportWriter, RunResult, TargetInfo, RESULT_SCHEMA,
};
use crate::scenario::prompts::PostPlan;
use crate::scenario::target::ServiceTarget;
use crate::scenario::{Load, Scenario};
use crate::secret::Secret;
use crate::stub::{self, StubHandle};

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

/// Runs every case and writes the reports; returns the result (the caller applies gates). The
/// run's folder is `cfg.reports_root` joined with the result's `run_id`.
pub async fn execute(cfg: RunConfig) -> anyhow::Result<RunResult> {
    let exporters = |dir: &std::path::Path| -> anyhow::Result<ReportWriter> {
        Ok(ReportWriter::create(dir)?
            .hurried_by(Arc::clone(&cfg.hurry))
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
            .with(HlogExporter))
    };
    // Service mode with the stub alongside: one stub for the whole run, on the port the
    // service was told, and every service must answer before any load is sent.
    let alongside = match (&cfg.service_mode, &cfg.target) {
        (
            Some(ServiceMode {
                with_stub: Some(port),
                ready_wait,
            }),
            Target::Embedded(template),
        ) => {
            let mut c = template.clone();
            if let Some(first) = cfg.scenarios.first() {
                c.tier_set = first.scenario.tier_set.clone();
                c.tier = first.scenario.tiers[0];
            }
            let listener = stub::bind_loopback(*port).map_err(|e| {
                anyhow::anyhow!("--with-stub {port}: cannot listen on 127.0.0.1:{port}: {e}")
            })?;
            let handle = stub::start_with_clock(
                c,
                listener,
                Arc::new(crate::clock::SystemClock::scaled(cfg.time_scale)),
            )
            .await?;
            eprintln!(
                "postload: OpenAI stub listening; the service must use OPENAI_BASE_URL={}",
                handle.base_url()
            );
            let mut urls: Vec<&str> = cfg
                .scenarios
                .iter()
                .filter_map(|p| p.service.as_ref().map(|s| s.url.as_str()))
                .collect();
            urls.sort_unstable();
            urls.dedup();
            for url in urls {
                wait_until_answering(url, *ready_wait, &handle.base_url(), &cfg).await?;
            }
            Some(handle)
        }
        _ => None,
    };
    let target_info = match (&cfg.service_mode, &cfg.target) {
        (Some(_), _) => TargetInfo::Service {
            openai_stub: alongside.as_ref().map(StubHandle::base_url),
        },
        (None, Target::Embedded(c)) => TargetInfo::EmbeddedStub {
            latency: c.fixed_latency.map_or("model profiles".into(), |d| {
                format!("fixed {} ms", d.as_millis())
            }),
            retry_after: c.retry_after,
        },
        (None, Target::BaseUrl(e)) => TargetInfo::BaseUrl {
            base_url: e.url.clone(),
            remote: e.remote,
        },
    };
    // The spend guard: print the worst case before anything is sent.
    let budget = cfg.max_cost_usd.map(|cap| {
        let estimate = estimate_max_usd(&cfg);
        eprintln!(
            "postload: spend guard: this run costs at most ${estimate:.4} if every call reaches its max_tokens; it stops when spending would pass --max-cost ${cap:.4}"
        );
        (Arc::new(std::sync::Mutex::new(Budget::new(cap))), estimate)
    });
    // Everything that can fail before the first case has been checked: only now is the run's
    // folder created, so a run that could not start leaves no empty folder behind.
    let dir = crate::report::create_unique_dir(&cfg.reports_root, &cfg.run_id)?;
    let run_id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| cfg.run_id.clone());
    let writer = exporters(&dir)?;
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
    };
    let budget_info = |b: &(Arc<std::sync::Mutex<Budget>>, f64)| {
        let g = b.0.lock().unwrap_or_else(|p| p.into_inner());
        BudgetInfo {
            max_cost_usd: g.cap_usd(),
            estimated_max_usd: b.1,
            spent_usd: g.spent_usd(),
            stopped: g.tripped(),
            calls_refused: g.refused(),
        }
    };
    result.budget = budget.as_ref().map(budget_info);
    writer.write(&result)?;

    let repetitions: Vec<Option<u32>> = if cfg.repeat > 1 {
        (1..=cfg.repeat).map(Some).collect()
    } else {
        vec![None]
    };
    'cases: for planned in &cfg.scenarios {
        let scenario = &planned.scenario;
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
            let case = match run_case(
                &cfg,
                &dir,
                planned,
                tier,
                repetition,
                alongside.as_ref(),
                budget.as_ref().map(|b| Arc::clone(&b.0)),
            )
            .await
            {
                Ok(case) => case,
                // A case that could not run at all: with nothing measured yet, the folder holds
                // only the placeholder, so it goes (we created it above, it is ours).
                Err(e) if result.cases.is_empty() => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
                Err(e) => return Err(e),
            };
            result.budget = budget.as_ref().map(budget_info);
            let budget_stopped = result.budget.as_ref().is_some_and(|b| b.stopped);
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
            if budget_stopped {
                eprintln!(
                    "postload: spend guard: --max-cost reached; the attack stopped and the remaining cases were skipped"
                );
                break 'cases;
            }
            if interrupted {
                break 'cases;
            }
        }
    }
    result.finished_at = Some(now_rfc3339());
    // A signal after the last case still marks the run: the exit code says it was stopped.
    result.interrupted |= cfg.stop.load(Ordering::SeqCst);
    writer.write(&result)?;
    // The table is the one thing on standard output, even with --quiet.
    if cfg.print_table {
        out!("{}", summary::table(&result));
    }
    if !cfg.quiet {
        outln!(
            "report: {} and report.md",
            writer.dir().join("result.json").display()
        );
    }
    Ok(result)
}

async fn run_case(
    cfg: &RunConfig,
    dir: &std::path::Path,
    planned: &Planned,
    tier: u8,
    repetition: Option<u32>,
    alongside: Option<&StubHandle>,
    budget: Option<Arc<std::sync::Mutex<Budget>>>,
) -> anyhow::Result<CaseResult> {
    let file = planned.file.as_str();
    let scenario = &planned.scenario;
    // Repetitions are independent samples: repetition k runs with seed + k - 1.
    let mut scenario = scenario.clone();
    scenario.seed = scenario
        .seed
        .wrapping_add(repetition.map_or(0, |k| u64::from(k) - 1));
    let scenario = &scenario;
    let limits = cfg
        .catalog
        .limits(&scenario.tier_set, tier, &scenario.model)
        .map_err(anyhow::Error::msg)?
        .ok_or_else(|| {
            anyhow::anyhow!("{file}: no limits for `{}` at tier {tier}", scenario.model)
        })?;

    // The target for this case.
    let price = cfg.catalog.prices.models.get(&scenario.model);
    let (stub, work, root) = match (&planned.service, &cfg.target) {
        (Some(service), _) => {
            if let Some(handle) = alongside {
                handle.reset_to(tier, scenario.seed).await?;
            }
            let work = Work::Service {
                target: Box::new(service.clone()),
                model: scenario.model.clone(),
            };
            (None, work, url_root(&service.url)?)
        }
        (None, Target::Embedded(template)) => {
            let mut c = template.clone();
            c.tier_set = scenario.tier_set.clone();
            c.tier = tier;
            c.seed = scenario.seed;
            let handle = stub::start_with_clock(
                c,
                stub::bind_loopback(0)?,
                Arc::new(crate::clock::SystemClock::scaled(cfg.time_scale)),
            )
            .await?;
            let url = handle.base_url();
            let root = url_root(&url)?;
            // Our own stub: each attempt names its draw stream, so the stub's draws follow the
            // posts (as the planner's do), not the order attempts happen to arrive in.
            let key = crate::secret::Secret::new(stub::STUB_API_KEY.into());
            (
                Some(handle),
                pipeline(scenario, &url, Some(key), true),
                root,
            )
        }
        (None, Target::BaseUrl(e)) => (
            None,
            pipeline(scenario, &e.url, e.api_key.clone(), false),
            url_root(&e.url)?,
        ),
    };
    let guard = match (budget, price) {
        (Some(budget), Some(price)) => Some(Arc::new(SpendGuard {
            budget,
            price: *price,
        })),
        (Some(_), None) => anyhow::bail!(
            "{file}: `{}` has no price in prices.toml: the spend guard cannot cap its cost",
            scenario.model
        ),
        _ => None,
    };

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
                max_in_flight
                    .unwrap_or((users as u32 * 4).min(crate::limits::MAX_USERS))
                    .max(1) as usize,
            )
        }
    };
    let ctx = Arc::new(CaseContext::new(CaseSetup {
        work,
        timeout: Duration::from_secs_f64(scenario.request_timeout_s),
        seed: scenario.seed,
        image_prompt_share: scenario.image_prompt_share,
        prompts: scenario.prompts,
        users: goose_users,
        start,
        stop: Arc::clone(&cfg.stop),
        guard,
        client: cfg
            .client
            .as_ref()
            .map(|make| make().build())
            .transpose()
            .map_err(|e| anyhow::anyhow!("cannot build the HTTP client: {e}"))?,
        time_scale: cfg.time_scale,
    }));

    let goose_dir = dir.join("goose");
    std::fs::create_dir_all(&goose_dir)?;
    // The scenario's name is user data: only its slug becomes a file name.
    let goose_report = goose_dir.join(format!(
        "{}-tier{tier}{}.html",
        crate::report::slug(&scenario.name),
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
            format!(
                "{}",
                (scenario.request_timeout_s / cfg.time_scale)
                    .ceil()
                    .max(1.0) as u64
            )
            .as_str(),
        )?
        .set_default(
            GooseDefault::ReportFile,
            goose_report.to_string_lossy().as_ref(),
        )?;
    // A signal ends the attack (Goose's killswitch); the posts in flight get STOP_GRACE to
    // finish, then the attack is abandoned, as it is at once on a second signal: the posts that
    // finished are reported, the others are not waited for (their tasks end with the process).
    // CI sends SIGKILL a few seconds after SIGTERM: the report must be written before that.
    let muted = console::Muted::new();
    tokio::select! {
        done = attack.execute() => { done?; }
        () = wait_for(&cfg.hurry) => {}
        () = async {
            wait_for(&cfg.stop).await;
            tokio::time::sleep(crate::stop::STOP_GRACE).await;
        } => {}
    }
    drop(muted);
    let duration = started.elapsed();
    // The killswitch is Ctrl-C's, unless the spend guard tripped it.
    let budget_tripped = ctx.budget_tripped();
    let interrupted =
        cfg.stop.load(Ordering::SeqCst) || (goose::is_killswitch_triggered() && !budget_tripped);

    let recorder: Recorder = ctx
        .recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut measured = recorder.summarize(price, users as u64);
    let stub_stats = stub.as_ref().or(alongside).map(|h| h.stats());
    // Service mode: a service that reports no usage still had its calls counted by the stub.
    if let (Some(_), Some(stats), TokenSource::Unknown) =
        (&planned.service, &stub_stats, measured.tokens.source)
    {
        let (prompt, cached, completion) = stats.tokens();
        measured.set_tokens(
            crate::metrics::cost::Tokens {
                prompt,
                cached,
                completion,
            },
            TokenSource::Stub,
            price,
            users as u64,
        );
    }
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
            latency_profile: profile_info(&cfg.catalog, &scenario.model, &cfg.target)
                .filter(|_| planned.service.is_none() || alongside.is_some()),
            service: planned.service.as_ref().map(ServiceTarget::info),
            time_scale: cfg.time_scale,
        },
        interrupted,
        duration_ms: duration.as_secs_f64() * 1000.0,
        measured,
        stub: stub_stats,
    })
}

/// The post pipeline's work against an OpenAI-compatible base URL.
fn pipeline(
    scenario: &Scenario,
    base_url: &str,
    api_key: Option<Secret>,
    draw_streams: bool,
) -> Work {
    Work::Pipeline {
        plan: PostPlan::new(&scenario.model, scenario.prompts),
        chat_url: format!("{base_url}/chat/completions"),
        retry: scenario.retry,
        api_key,
        draw_streams,
    }
}

/// Posts a case plans to send (a sustained load's expected count).
fn planned_posts(load: &Load) -> f64 {
    match load {
        Load::Burst { users } => *users as f64,
        Load::Sustained { duration_s, .. } => load.rate_per_s().unwrap_or(0.0) * duration_s,
    }
}

/// The spend guard's estimate: every case's planned posts with every call at its worst case
/// (the calls a post brings its own image prompt for are left out at the scenario's share).
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
                .worst_case_post_usd(price, 1.0 - s.image_prompt_share);
            per_post * planned_posts(&s.load) * s.tiers.len() as f64 * reps
        })
        .sum()
}

/// Returns once `flag` is set (checked every 50 ms).
async fn wait_for(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `url` until it answers HTTP (any status), for at most `wait`, or until the run is
/// stopped.
async fn wait_until_answering(
    url: &str,
    wait: Duration,
    openai_base_url: &str,
    cfg: &RunConfig,
) -> anyhow::Result<()> {
    let quiet = cfg.quiet;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + wait;
    if !quiet {
        eprintln!(
            "postload: waiting up to {:.0} s for {url} to answer...",
            wait.as_secs_f64()
        );
    }
    loop {
        if cfg.stop.load(Ordering::SeqCst) {
            anyhow::bail!("stopped while waiting for {url} to answer");
        }
        let last = match client.get(url).send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            let why = if last.is_connect() {
                "connection refused or unreachable".to_string()
            } else if last.is_timeout() {
                "no answer within 2 s".to_string()
            } else {
                last.to_string()
            };
            anyhow::bail!(
                "the service at {url} does not answer ({why}) after {:.0} s; start it with OPENAI_BASE_URL={openai_base_url} (or raise --wait-for-target)",
                wait.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
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
