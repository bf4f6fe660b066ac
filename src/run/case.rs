//! One case of the run: one scenario at one tier (and repetition) against its target (a fresh
//! embedded stub, a base URL, or a service), its posts sent through Goose, and what they
//! measured as a [`CaseResult`].

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::post::{CaseContext, CaseSetup, Schedule, SendTimes, SpendGuard, Start, Work};
use super::progress::LiveLine;
use super::{attack, OpenAiTarget, RunBudget, RunConfig, RunScenario};
use crate::metrics::{Measured, Recorder, TokenSource};
use crate::openai::bucket::Limits;
use crate::openai::catalog::{Catalog, Price};
use crate::report::{ProfileInfo, ReportWriter};
use crate::result::{CaseInputs, CaseResult, RunResult};
use crate::scenario::prompts::{CapStyle, PostRequests};
use crate::scenario::target::ServiceTarget;
use crate::scenario::{Load, Scenario};
use crate::secret::Secret;
use crate::stub::{self, StubHandle, StubStats};

/// What every case of the run shares.
pub(super) struct CaseRun<'a> {
    pub cfg: &'a RunConfig,
    /// The run's folder.
    pub dir: &'a Path,
    /// Service mode's stub alongside.
    pub alongside: Option<&'a StubHandle>,
    pub budget: Option<&'a RunBudget>,
    /// Draw each case's live progress line on standard error ([`super::progress::shown`]).
    pub progress: bool,
}

impl<'a> CaseRun<'a> {
    /// Runs every scenario × tier (× repetition) in order, adding each case to `result` and
    /// rewriting the reports after it; stops early on a signal or when the spend guard trips.
    pub(super) async fn all(
        &self,
        writer: &ReportWriter,
        result: &mut RunResult,
    ) -> anyhow::Result<()> {
        let cfg = self.cfg;
        let repetitions: Vec<Option<u32>> = if cfg.repeat > 1 {
            (1..=cfg.repeat).map(Some).collect()
        } else {
            vec![None]
        };
        for entry in &cfg.scenarios {
            let scenario = &entry.scenario;
            for (&tier, &repetition) in scenario
                .tiers
                .iter()
                .flat_map(|t| repetitions.iter().map(move |r| (t, r)))
            {
                if cfg.stop.load(Ordering::SeqCst) {
                    result.interrupted = true;
                    return Ok(());
                }
                if !cfg.quiet {
                    eprintln!(
                        "postload: {} at tier {tier} of {} ({} users{})...",
                        scenario.name,
                        scenario.tier_set,
                        scenario.load.users(),
                        cfg.shard
                            .map_or(String::new(), |s| format!(", shard {s}: its posts only"))
                    );
                }
                let case = match self.case(entry, tier, repetition).await {
                    Ok(case) => case,
                    // A case that could not run at all: with nothing measured yet, the folder
                    // holds only the placeholder, so it goes (we created it above, it is ours).
                    Err(e) if result.cases.is_empty() => {
                        let _ = std::fs::remove_dir_all(self.dir);
                        return Err(e);
                    }
                    Err(e) => return Err(e),
                };
                result.budget = self.budget.map(RunBudget::info);
                let budget_stopped = result.budget.as_ref().is_some_and(|b| b.stopped);
                let interrupted = case.interrupted;
                if !cfg.quiet {
                    let m = &case.measured;
                    let causes = crate::metrics::causes_phrase(&m.posts.failed_by_cause);
                    eprintln!(
                        "postload: {} tier {tier}: {}/{} posts ok{} {} 429s, makespan {:.2} s{}",
                        scenario.name,
                        m.posts.ok,
                        m.posts.total,
                        if causes.is_empty() {
                            ",".to_string()
                        } else {
                            format!(": {causes};")
                        },
                        m.calls.http_429,
                        m.makespan_ms / 1000.0,
                        if interrupted { " (interrupted)" } else { "" }
                    );
                }
                result.cases.push(case);
                result.interrupted |= interrupted;
                writer.write(result)?;
                if budget_stopped {
                    eprintln!(
                        "postload: spend guard: --max-cost reached; the attack stopped and the remaining cases were skipped"
                    );
                    return Ok(());
                }
                if interrupted {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// One case: its target, its posts through Goose, and what they measured.
    async fn case(
        &self,
        entry: &RunScenario,
        tier: u8,
        repetition: Option<u32>,
    ) -> anyhow::Result<CaseResult> {
        let cfg = self.cfg;
        let file = entry.file.as_str();
        // Repetitions are independent samples: repetition k runs with seed + k - 1.
        let mut scenario = entry.scenario.clone();
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
        let price = cfg.catalog.prices.models.get(&scenario.model);
        let (stub, work, root) = self.case_target(entry, scenario, tier).await?;
        let guard = self.spend_guard(file, scenario, price)?;
        let users = scenario.load.users() as usize;
        let (start, goose_users) = start_of(scenario, cfg.shard);
        let ctx = Arc::new(CaseContext::new(self.setup(
            entry,
            scenario,
            limits,
            work,
            guard,
            goose_users,
            start,
        )?));
        let spec = attack::AttackSpec {
            scenario,
            tier,
            repetition,
            root: &root,
            users: goose_users,
            time_scale: cfg.time_scale,
        };
        let started = Instant::now();
        let line = self
            .progress
            .then(|| LiveLine::start(ctx.tally(), arrival_window(scenario, cfg.time_scale)));
        attack::run(attack::build(&spec, self.dir, &ctx)?, cfg).await?;
        let duration = started.elapsed();
        // Cleared before the case's summary line.
        drop(line);
        // The killswitch is Ctrl-C's, unless the spend guard tripped it.
        let budget_tripped = ctx.budget_tripped();
        let interrupted = cfg.stop.load(Ordering::SeqCst)
            || (goose::is_killswitch_triggered() && !budget_tripped);
        let stub_stats = stub.as_ref().or(self.alongside).map(|h| h.stats());
        let traces = self.alongside.map(|h| h.traces());
        let mut inputs = self.case_inputs(entry, scenario, tier, limits);
        let price = self
            .as_served(&mut inputs, entry, stub_stats.as_ref())
            .or(price);
        let measured = measure(&ctx, entry, stub_stats.as_ref(), price, users as u64);
        Ok(CaseResult {
            scenario: scenario.name.clone(),
            tier,
            repetition,
            inputs,
            interrupted,
            duration_ms: duration.as_secs_f64() * 1000.0,
            goodput: crate::report::claims::goodput(&self.cfg.claims, &measured),
            measured,
            stub: stub_stats,
            service: None,
        }
        .with_service_figures()
        .with_per_post(&ctx.seen_posts(), traces.as_ref()))
    }

    /// The case's target: its service (with the stub alongside reset to the case's tier and
    /// seed), a fresh embedded stub, or the base URL. Returns the embedded stub's handle, the
    /// posts' work and the target's `http://host:port`.
    /// The spend guard of a case: the run's budget at the model's price; a model without a
    /// price cannot be capped, so a run with a cap refuses it.
    fn spend_guard(
        &self,
        file: &str,
        scenario: &crate::scenario::Scenario,
        price: Option<&crate::openai::catalog::Price>,
    ) -> anyhow::Result<Option<Arc<SpendGuard>>> {
        Ok(match (self.budget, price) {
            (Some(b), Some(price)) => Some(Arc::new(SpendGuard {
                budget: Arc::clone(&b.budget),
                price: *price,
            })),
            (Some(_), None) => anyhow::bail!(
                "{file}: `{}` has no price in prices.toml: the spend guard cannot cap its cost",
                scenario.model
            ),
            _ => None,
        })
    }

    /// What every user of the case shares: where and how posts are sent, the seed, the spend
    /// guard, the client and its queue, the trace's arrivals.
    #[allow(clippy::too_many_arguments)]
    fn setup(
        &self,
        entry: &RunScenario,
        scenario: &crate::scenario::Scenario,
        limits: crate::openai::bucket::Limits,
        work: Work,
        guard: Option<Arc<SpendGuard>>,
        goose_users: usize,
        start: Start,
    ) -> anyhow::Result<CaseSetup> {
        let cfg = self.cfg;
        Ok(CaseSetup {
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
            shard: cfg.shard,
            client_queue: (scenario.client_queue && entry.service.is_none()).then_some(limits),
            trace: match &scenario.load {
                Load::Trace { arrivals, .. } => arrivals.clone(),
                _ => None,
            },
        })
    }

    async fn case_target(
        &self,
        entry: &RunScenario,
        scenario: &Scenario,
        tier: u8,
    ) -> anyhow::Result<(Option<StubHandle>, Work, String)> {
        Ok(match (&entry.service, &self.cfg.target) {
            (Some(service), _) => {
                if let Some(handle) = self.alongside {
                    handle.reset_to(tier, scenario.seed).await?;
                    handle.set_first_429((scenario.first_429 > 0).then_some(scenario.first_429));
                }
                let work = Work::Service {
                    target: Box::new(service.clone()),
                    model: scenario.model.clone(),
                };
                (None, work, url_root(&service.url)?)
            }
            (None, OpenAiTarget::Embedded(template)) => {
                let mut c = template.clone();
                c.tier_set = scenario.tier_set.clone();
                c.tier = tier;
                c.seed = scenario.seed;
                if scenario.first_429 > 0 {
                    c.faults.first_n_429 = scenario.first_429;
                }
                let handle = stub::start_with_clock(
                    c,
                    stub::bind_loopback(0)?,
                    Arc::new(crate::clock::SystemClock::scaled(self.cfg.time_scale.get())),
                )
                .await?;
                let url = handle.base_url();
                let root = url_root(&url)?;
                // Our own stub: each attempt names its draw stream, so the stub's draws follow
                // the posts (as the planner's do), not the order attempts happen to arrive in.
                let key = crate::secret::Secret::new(stub::STUB_API_KEY.into());
                (
                    Some(handle),
                    pipeline(scenario, &self.cfg.catalog, &url, Some(key), true),
                    root,
                )
            }
            (None, OpenAiTarget::BaseUrl(e)) => (
                None,
                pipeline(
                    scenario,
                    &self.cfg.catalog,
                    &e.url,
                    e.api_key.clone(),
                    false,
                ),
                url_root(&e.url)?,
            ),
        })
    }

    /// What the case ran with, as its report records it.
    /// In service mode, the endpoint the stub alongside saw the calls on; and when it answered
    /// another model than the scenario names: the case's inputs say so, with that model's limits and profile, and its price is
    /// the one to use (`None`: the scenario's model stands).
    fn as_served(
        &self,
        inputs: &mut CaseInputs,
        entry: &RunScenario,
        stats: Option<&StubStats>,
    ) -> Option<&'a Price> {
        // The service picks its endpoint: the Responses API when the stub alongside saw every
        // call there.
        if entry.service.is_some()
            && stats.is_some_and(|s| s.chat_requests > 0 && s.responses_requests == s.chat_requests)
        {
            inputs.endpoint = crate::scenario::prompts::ApiEndpoint::Responses;
        }
        let catalog = &self.cfg.catalog;
        let model = served_model(entry, stats, catalog).filter(|m| *m != inputs.model)?;
        let model = model.to_owned();
        if let Ok(Some(l)) = catalog.limits(&inputs.tier_set, inputs.tier, &model) {
            inputs.limits = l;
        }
        inputs.latency_profile = profile_info(catalog, &model, &self.cfg.target);
        inputs.scenario_model = Some(std::mem::replace(&mut inputs.model, model));
        catalog.prices.models.get(&inputs.model)
    }

    fn case_inputs(
        &self,
        entry: &RunScenario,
        scenario: &Scenario,
        tier: u8,
        limits: Limits,
    ) -> CaseInputs {
        let cfg = self.cfg;
        CaseInputs {
            scenario_file: entry.file.clone(),
            description: scenario.description.clone(),
            model: scenario.model.clone(),
            scenario_model: None,
            tier_set: scenario.tier_set.clone(),
            tier,
            limits,
            load: scenario.load.clone(),
            prompts: scenario.prompts,
            image_prompt_share: scenario.image_prompt_share,
            parallel_calls: scenario.parallel_calls && entry.service.is_none(),
            client_queue: scenario.client_queue && entry.service.is_none(),
            retry: scenario.retry,
            request_timeout_s: scenario.request_timeout_s,
            seed: scenario.seed,
            latency_profile: profile_info(&cfg.catalog, &scenario.model, &cfg.target)
                .filter(|_| entry.service.is_none() || self.alongside.is_some()),
            tier_set_info: ProfileInfo::tier_set(&cfg.catalog, &scenario.tier_set),
            service: entry.service.as_ref().map(ServiceTarget::info),
            endpoint: scenario.endpoint,
            reasoning_effort: cfg
                .catalog
                .reasoning(&scenario.model)
                .filter(|_| entry.service.is_none())
                .map(|r| scenario.reasoning_effort.unwrap_or(r.default_effort)),
            time_scale: cfg.time_scale.get(),
        }
    }
}

/// How the case's posts start, and its Goose users: a burst's users each send one post; a
/// sustained load's users take the posts of a seeded schedule.
fn start_of(scenario: &Scenario, shard: Option<crate::shard::Shard>) -> (Start, usize) {
    let users = scenario.load.users() as usize;
    match &scenario.load {
        // A shard's users send its share of the burst's posts (config refused an empty share).
        Load::Burst { users } => (
            Start::Burst,
            shard.map_or(*users, |s| s.users(*users)) as usize,
        ),
        Load::Sustained {
            duration_s,
            max_in_flight,
            ..
        } => {
            let rate = scenario.load.rate_per_s().unwrap_or(0.0);
            let arrivals =
                SendTimes::new(rate, Duration::from_secs_f64(*duration_s), scenario.seed);
            (
                Start::Schedule(Box::new(Mutex::new(Schedule::Poisson(Box::new(arrivals))))),
                max_in_flight
                    .unwrap_or((users as u32 * 4).min(crate::limits::MAX_USERS))
                    .max(1) as usize,
            )
        }
        Load::Trace {
            arrivals,
            speed,
            max_in_flight,
            ..
        } => {
            // Configuring the run read the trace; a scenario read back without it has no posts.
            let schedule = match arrivals {
                Some(trace) => Schedule::Trace {
                    trace: Arc::clone(trace),
                    speed: *speed,
                    next: 0,
                },
                None => Schedule::Poisson(Box::new(SendTimes::new(1.0, Duration::ZERO, 0))),
            };
            (
                Start::Schedule(Box::new(Mutex::new(schedule))),
                (*max_in_flight).max(1) as usize,
            )
        }
    }
}

/// The wall-clock time a sustained load's arrivals take (a burst's end is not known beforehand).
fn arrival_window(scenario: &Scenario, time_scale: crate::clock::TimeScale) -> Option<Duration> {
    match scenario.load {
        Load::Burst { .. } => None,
        Load::Sustained { duration_s, .. } => {
            Duration::try_from_secs_f64(time_scale.to_real(duration_s)).ok()
        }
        Load::Trace {
            ref arrivals,
            speed,
            ..
        } => arrivals.as_ref().and_then(|t| {
            Duration::try_from_secs_f64(time_scale.to_real(t.span().as_secs_f64() / speed)).ok()
        }),
    }
}

/// In service mode the service picks its model: when the stub alongside answered exactly one
/// priced model, that is the case's model, for its price, limits and claims.
fn served_model<'a>(
    entry: &RunScenario,
    stats: Option<&'a StubStats>,
    catalog: &Catalog,
) -> Option<&'a str> {
    entry.service.as_ref()?;
    let mut answered = stats?.models.iter().filter(|(_, m)| m.ok > 0);
    let (first, _) = answered.next()?;
    (answered.next().is_none() && catalog.prices.models.contains_key(first))
        .then_some(first.as_str())
}

/// The case's figures from its recorder. In service mode, a service that reports no usage still
/// had its calls counted by the stub: its tokens come from there.
fn measure(
    ctx: &CaseContext,
    entry: &RunScenario,
    stub_stats: Option<&StubStats>,
    price: Option<&Price>,
    users: u64,
) -> Measured {
    let recorder: Recorder = ctx
        .recorder
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let mut measured = recorder.summarize(price, users);
    if let (Some(_), Some(stats), TokenSource::Unknown) =
        (&entry.service, stub_stats, measured.tokens.source)
    {
        let (prompt, cached, completion) = stats.tokens();
        measured.set_tokens(
            crate::metrics::cost::Tokens {
                prompt,
                cached,
                completion,
            },
            TokenSource::Stub,
            // The stub's counts are not split by post.
            None,
            price,
            users,
        );
    }
    measured
}

/// The post pipeline's work against an OpenAI-compatible base URL.
fn pipeline(
    scenario: &Scenario,
    catalog: &Catalog,
    base_url: &str,
    api_key: Option<Secret>,
    draw_streams: bool,
) -> Work {
    Work::Pipeline {
        requests: PostRequests::for_api(
            &scenario.model,
            scenario.prompts,
            match catalog.reasoning(&scenario.model) {
                Some(_) => CapStyle::Reasoning(scenario.reasoning_effort),
                None => CapStyle::MaxTokens,
            },
            scenario.endpoint,
        ),
        url: crate::secret::join_url(base_url, scenario.endpoint.path()),
        retry: scenario.retry,
        api_key,
        draw_streams,
        parallel_calls: scenario.parallel_calls,
    }
}

fn profile_info(catalog: &Catalog, model: &str, target: &OpenAiTarget) -> Option<ProfileInfo> {
    let OpenAiTarget::Embedded(cfg) = target else {
        return None;
    };
    if let Some(d) = cfg.fixed_latency {
        return Some(ProfileInfo::fixed(d.as_millis()));
    }
    ProfileInfo::latency_profile(catalog, &catalog.model(model)?.profile)
}

/// `http://host:port` of a base URL (Goose wants a host; our requests use the full URL).
fn url_root(base_url: &str) -> anyhow::Result<String> {
    let shown = crate::secret::shown_url(base_url);
    let url =
        reqwest::Url::parse(base_url).map_err(|e| anyhow::anyhow!("base URL `{shown}`: {e}"))?;
    let host = url
        .host_str()
        .ok_or_else(|| anyhow::anyhow!("base URL `{shown}` has no host"))?;
    Ok(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipeline_posts_to_the_scenarios_endpoint_with_bodies_for_it() {
        use crate::scenario::prompts::ApiEndpoint;
        let catalog = Catalog::embedded();
        let base = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nusers = 5\n";
        for (extra, api, url) in [
            (
                "",
                ApiEndpoint::Chat,
                "http://127.0.0.1:9/v1/chat/completions",
            ),
            (
                "endpoint = \"responses\"\n",
                ApiEndpoint::Responses,
                "http://127.0.0.1:9/v1/responses",
            ),
        ] {
            let s = Scenario::parse("s.toml", &format!("{extra}{base}")).unwrap();
            let Work::Pipeline {
                requests, url: got, ..
            } = pipeline(&s, &catalog, "http://127.0.0.1:9/v1", None, false)
            else {
                panic!("a pipeline");
            };
            assert_eq!((requests.api, got.as_str()), (api, url));
            let body: serde_json::Value =
                serde_json::from_slice(&requests.variant(0).image_body).unwrap();
            assert_eq!(body.get("input").is_some(), api == ApiEndpoint::Responses);
        }
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
