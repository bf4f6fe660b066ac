//! A run's request ([`RunRequest`]: the scenarios, their overrides, where the load goes, the
//! embedded stub's shape) checked into a [`RunConfig`]. `postload run` builds the request from
//! its command line ([`run_config`]); `plan --validate` builds one of its own. The checks run in a
//! fixed order, so a command line with several mistakes always names the same one first.

use crate::clock::TimeScale;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use super::{
    catalog_from, claims, first_repeat, is_loopback, latency_ms, parse_resolve, retry_policy,
};
use crate::limits::{MAX_CASES, MAX_COMPLETION_TOKENS, MAX_REPEAT, MAX_TIMEOUT_S, MAX_USERS};
use crate::openai::catalog::Catalog;
use crate::openai::retry::RetryPolicy;
use crate::run::post::ClientFactory;
use crate::run::{Endpoint, OpenAiTarget, RunConfig, RunScenario, ServiceMode};
use crate::scenario::target::TargetSpec;
use crate::scenario::{self, Load, Scenario};
use crate::secret::{shown_url, Secret};
use crate::stub::StubConfig;

/// What a run is asked to do, in parsed values. Every field is an option's value as given (`None`
/// or empty: not given); [`configure`] checks them against each other and the scenarios.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// Built-in scenario names or paths to TOML files; empty: the default scenarios.
    pub scenarios: Vec<String>,
    pub overrides: Overrides,
    pub destination: Destination,
    pub stub: EmbeddedStubOptions,
    /// `--time-scale`.
    pub time_scale: Option<TimeScale>,
    /// `--repeat`.
    pub repeat: Option<u32>,
    /// `--claims`: the claims file report.md judges (default: the planning note's).
    pub claims: Option<PathBuf>,
    pub report_dir: PathBuf,
    pub quiet: bool,
    /// `--shard i/N`: send only this shard's posts.
    pub shard: Option<crate::shard::Shard>,
}

/// Values that replace the scenarios' own for every scenario of the run.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub users: Option<u32>,
    pub model: Option<String>,
    /// Run at these tiers instead of the scenarios'.
    pub tiers: Vec<u8>,
    pub tier_set: Option<String>,
    pub seed: Option<u64>,
    pub retry: Option<RetryPolicy>,
    /// The post's design levers a run can execute (`plan --validate-levers` runs the planner's
    /// designs live): `parallel_calls`, each call's `max_tokens`, `image_prompt_share`.
    pub parallel_calls: Option<bool>,
    pub caption_max_tokens: Option<u32>,
    pub image_max_tokens: Option<u32>,
    pub image_prompt_share: Option<f64>,
    /// `--trace FILE`: every scenario replays this trace in place of its load.
    pub trace: Option<String>,
    /// `--trace-speed K`: over the scenarios' `load.speed`.
    pub trace_speed: Option<f64>,
}

/// Where the load goes, and what it may spend there.
#[derive(Debug, Clone, Default)]
pub struct Destination {
    /// `--base-url`: an OpenAI-compatible endpoint instead of the embedded stub.
    pub base_url: Option<String>,
    /// `--target`: service mode, every scenario posted to this service.
    pub target: Option<String>,
    /// `--with-stub PORT`: service mode's stub alongside.
    pub with_stub: Option<u16>,
    /// `--wait-for-target` seconds.
    pub wait_for_target: Option<f64>,
    pub allow_spend: bool,
    /// `--max-cost` USD.
    pub max_cost: Option<f64>,
    /// `--api-key-env`.
    pub api_key_env: Option<String>,
    /// `--resolve HOST:PORT:ADDR`, each as given (checked in its turn).
    pub resolve: Vec<String>,
}

/// Options that shape postload's own stub (refused when the run uses none).
#[derive(Debug, Clone, Default)]
pub struct EmbeddedStubOptions {
    /// `--latency-ms`: every call served with this latency.
    pub latency_ms: Option<u64>,
    /// `--retry-after`: send retry-after headers on 429s.
    pub retry_after: bool,
    /// `--prompt-cache-hit`: the prompt-cache share over the profiles'.
    pub prompt_cache_hit: Option<f64>,
}

impl From<&crate::cli::RunArgs> for RunRequest {
    fn from(args: &crate::cli::RunArgs) -> Self {
        Self {
            scenarios: args.scenario.clone(),
            overrides: Overrides {
                users: args.users,
                model: args.model.clone(),
                tiers: args.tier.clone(),
                tier_set: args.tier_set.clone(),
                seed: args.seed.seed,
                retry: args.retry.map(retry_policy),
                trace: args.trace.clone(),
                trace_speed: args.trace_speed,
                ..Overrides::default()
            },
            destination: Destination {
                base_url: args.dest.base_url.clone(),
                target: args.target.clone(),
                with_stub: args.with_stub,
                wait_for_target: args.wait_for_target,
                allow_spend: args.spend.allow.allow_spend,
                max_cost: args.spend.max_cost,
                api_key_env: args.dest.api_key_env.clone(),
                resolve: args.resolve.resolve.clone(),
            },
            stub: EmbeddedStubOptions {
                latency_ms: args.latency_ms,
                retry_after: args.retry_after,
                prompt_cache_hit: args.prompt_cache.prompt_cache_hit,
            },
            time_scale: args.time.time_scale,
            repeat: args.repeat,
            claims: args.claims.clone(),
            report_dir: args.output.report_dir.clone(),
            quiet: args.verbosity.quiet,
            shard: args.shard,
        }
    }
}

/// Builds a checked run configuration from `postload run`'s options.
pub fn run_config(args: &crate::cli::RunArgs, stop: Arc<AtomicBool>) -> anyhow::Result<RunConfig> {
    let catalog = catalog_from(args.data.mocks.as_deref())?;
    configure(&RunRequest::from(args), catalog, stop)
}

/// Checks a run's request against `catalog` and builds its configuration.
pub fn configure(
    req: &RunRequest,
    catalog: Arc<Catalog>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<RunConfig> {
    let dest = &req.destination;
    let scenarios = load_scenarios(&req.scenarios, &req.overrides, &catalog)?;
    // Service mode: every scenario posts to a service, or none does.
    let service_mode = dest.target.is_some() || scenarios.iter().any(|(_, s)| s.target.is_some());
    let entries = with_services(scenarios, service_mode, dest.target.as_deref())?;
    let wait_for_target = check_mode_options(req, service_mode, &entries)?;
    let max_cost = spend_cap(dest)?;
    let resolves = dest
        .resolve
        .iter()
        .map(|r| parse_resolve(r))
        .collect::<Result<Vec<_>, _>>()?;
    let remote = check_remote(dest, &entries)?;
    let client = client_factory(resolves);
    let time_scale = check_time_scale(
        req.time_scale,
        service_mode,
        dest.base_url.as_deref(),
        (!remote).then_some(&client),
    )?;
    let target = target(req, &catalog, remote)?;
    let client = Some(client);
    let claims = claims(req.claims.as_deref(), &catalog)?;
    let repeat = match req.repeat {
        Some(k) if !(1..=MAX_REPEAT).contains(&k) => {
            return Err(anyhow::anyhow!("--repeat {k}: give 1 to {MAX_REPEAT}"))
        }
        k => k.unwrap_or(1),
    };
    check_cases(&entries, repeat)?;
    if let Some(shard) = req.shard {
        check_shard(shard, &entries)?;
    }
    Ok(RunConfig {
        scenarios: entries,
        service_mode: service_mode.then(|| ServiceMode {
            with_stub: dest.with_stub,
            ready_wait: Duration::from_secs_f64(wait_for_target),
        }),
        max_cost_usd: max_cost,
        client,
        catalog,
        target,
        run_id: crate::run::new_run_id(),
        reports_root: req.report_dir.clone(),
        quiet: req.quiet,
        print_claims: !service_mode || req.claims.is_some(),
        stop,
        hurry: crate::stop::hurry_flag(),
        claims,
        time_scale,
        repeat,
        shard: req.shard,
    })
}

/// `--shard i/N` of a burst with fewer users than shards would leave a shard with no post (and
/// Goose with no user): refused on every shard, naming the scenario.
fn check_shard(shard: crate::shard::Shard, entries: &[RunScenario]) -> anyhow::Result<()> {
    for e in entries {
        if let Load::Burst { users } = e.scenario.load {
            if users < shard.count {
                anyhow::bail!(
                    "--shard {shard}: {} is a burst of {users} users, fewer than {} shards: give at most {users} shards",
                    e.file,
                    shard.count
                );
            }
        }
    }
    Ok(())
}

/// A run writes at most [`MAX_CASES`] cases (scenarios × tiers × `--repeat`): what `report`,
/// `check` and `compare` read back.
fn check_cases(entries: &[RunScenario], repeat: u32) -> anyhow::Result<()> {
    let cases: usize = entries
        .iter()
        .map(|e| e.scenario.tiers.len())
        .sum::<usize>()
        * repeat as usize;
    if cases > MAX_CASES {
        anyhow::bail!(
            "--scenario × tiers × --repeat {repeat}: {cases} cases, more than {MAX_CASES} (the most a result holds for report, check and compare)"
        );
    }
    Ok(())
}

/// The run's scenarios (the default ones if none is named), each with the overrides applied
/// and checked, paired with its file name.
fn load_scenarios(
    names: &[String],
    overrides: &Overrides,
    catalog: &Catalog,
) -> anyhow::Result<Vec<(String, Scenario)>> {
    let names: Vec<String> = if names.is_empty() {
        scenario::DEFAULT_SCENARIOS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        names.to_vec()
    };
    let mut scenarios: Vec<(String, Scenario)> = Vec::new();
    for name in &names {
        let (file, mut s) = scenario::load(name).map_err(|e| anyhow::Error::msg(e.to_string()))?;
        overrides.apply(&mut s)?;
        super::read_arrivals(&file, &mut s, overrides.trace.is_some())?;
        s.check_catalog(&file, catalog)
            .map_err(|e| anyhow::anyhow!("{e} (after command-line overrides)"))?;
        if let Some(t) = first_repeat(&s.tiers) {
            return Err(anyhow::Error::msg(if overrides.tiers.is_empty() {
                format!("{file}: field `tiers`: tier {t} is listed twice (its cases would overwrite each other's files)")
            } else {
                format!("--tier {t}: given twice (its cases would overwrite each other's files)")
            }));
        }
        // Each case's files are named after the scenario's slug: two scenarios with one slug
        // (the same file twice, or two files with one `name`) would overwrite each other.
        if let Some((other, _)) = scenarios
            .iter()
            .find(|(_, o)| crate::report::slug(&o.name) == crate::report::slug(&s.name))
        {
            return Err(anyhow::Error::msg(if *other == file {
                format!(
                    "--scenario {name}: given twice (its cases would overwrite each other's files)"
                )
            } else {
                format!(
                    "{file}: field `name`: `{}` names its files like `{other}` does (`{}`); give one of them another name",
                    s.name,
                    crate::report::slug(&s.name)
                )
            }));
        }
        scenarios.push((file, s));
    }
    Ok(scenarios)
}

impl Overrides {
    /// Replaces the scenario's values by the given ones: `--trace` first, so that `--users`
    /// then sets the trace's posts in flight.
    fn apply(&self, s: &mut Scenario) -> anyhow::Result<()> {
        self.apply_trace(s)?;
        if let Some(users) = self.users {
            if !(1..=MAX_USERS).contains(&users) {
                anyhow::bail!(
                    "--users {users}: give 1 to {MAX_USERS} (each is a Goose user, a task of its own)"
                );
            }
            match &mut s.load {
                Load::Burst { users: u }
                | Load::Sustained { users: u, .. }
                | Load::Trace {
                    max_in_flight: u, ..
                } => *u = users,
            }
        }
        if let Some(m) = &self.model {
            s.model = m.clone();
        }
        if !self.tiers.is_empty() {
            s.tiers = self.tiers.clone();
        }
        if let Some(set) = &self.tier_set {
            s.tier_set = set.clone();
        }
        if let Some(seed) = self.seed {
            s.seed = seed;
        }
        if let Some(r) = self.retry {
            s.retry = r;
        }
        self.apply_design(s)
    }

    /// `--trace`: the scenario's load becomes the trace, carried by the scenario's posts in
    /// flight (a trace's or sustained load's `max_in_flight`, else 4 × its users, at most
    /// [`MAX_USERS`]); `--trace-speed` sets the trace's speed.
    fn apply_trace(&self, s: &mut Scenario) -> anyhow::Result<()> {
        if let Some(file) = &self.trace {
            let max_in_flight = match &s.load {
                Load::Trace { max_in_flight, .. }
                | Load::Sustained {
                    max_in_flight: Some(max_in_flight),
                    ..
                } => *max_in_flight,
                other => (other.users().saturating_mul(4)).min(MAX_USERS),
            };
            s.load = Load::Trace {
                file: file.clone(),
                speed: 1.0,
                max_in_flight,
                arrivals: None,
            };
        }
        if let Some(k) = self.trace_speed {
            crate::scenario::trace::check_speed(k)
                .map_err(|m| anyhow::anyhow!("--trace-speed: {m}"))?;
            match &mut s.load {
                Load::Trace { speed, .. } => *speed = k,
                _ => return Err(anyhow::Error::msg(
                    "--trace-speed: needs a trace (--trace FILE, or a scenario whose load.kind is \"trace\")",
                )),
            }
        }
        Ok(())
    }

    /// The design levers, each checked as the scenario file's field would be.
    fn apply_design(&self, s: &mut Scenario) -> anyhow::Result<()> {
        if let Some(p) = self.parallel_calls {
            s.parallel_calls = p;
        }
        for (field, given, call) in [
            (
                "prompts.caption.max_tokens",
                self.caption_max_tokens,
                &mut s.prompts.caption,
            ),
            (
                "prompts.image_prompt.max_tokens",
                self.image_max_tokens,
                &mut s.prompts.image_prompt,
            ),
        ] {
            if let Some(m) = given {
                if !(1..=MAX_COMPLETION_TOKENS).contains(&m) {
                    anyhow::bail!("{field} {m} (override): give 1 to {MAX_COMPLETION_TOKENS}");
                }
                call.max_tokens = m;
            }
        }
        if let Some(share) = self.image_prompt_share {
            if !(0.0..=1.0).contains(&share) {
                anyhow::bail!("image_prompt_share {share} (override): give a share from 0 to 1");
            }
            s.image_prompt_share = share;
        }
        Ok(())
    }
}

/// Each scenario with its service resolved (service mode), from its `[target]` or `--target`.
fn with_services(
    scenarios: Vec<(String, Scenario)>,
    service_mode: bool,
    target_url: Option<&str>,
) -> anyhow::Result<Vec<RunScenario>> {
    let env = |name: &str| std::env::var(name).ok();
    let mut entries = Vec::new();
    for (file, s) in scenarios {
        let service = if service_mode {
            // The service makes its own calls: an endpoint here would change nothing.
            if !s.endpoint.is_chat() {
                anyhow::bail!(
                    "{file}: field `endpoint`: in service mode the service picks its OpenAI endpoint (the example service: --openai-endpoint responses); remove the field"
                );
            }
            let spec = match (&s.target, target_url) {
                (Some(spec), _) => spec.clone(),
                (None, Some(_)) => TargetSpec::default(),
                (None, None) => {
                    return Err(anyhow::anyhow!(
                        "{file}: has no [target], but another scenario of this run does: service-mode and pipeline scenarios cannot share a run (give --target to post every scenario to one service)"
                    ))
                }
            };
            let t = spec
                .resolve(target_url, &env)
                .map_err(|(field, m)| anyhow::anyhow!("{file}: field `{field}`: {m}"))?;
            Some(t)
        } else {
            None
        };
        entries.push(RunScenario {
            file,
            scenario: s,
            service,
        });
    }
    Ok(entries)
}

/// Refuses options that do nothing in this mode (rather than silently ignoring them); returns
/// the wait for the service, in seconds.
fn check_mode_options(
    req: &RunRequest,
    service_mode: bool,
    entries: &[RunScenario],
) -> anyhow::Result<f64> {
    let dest = &req.destination;
    if service_mode && dest.base_url.is_some() {
        return Err(anyhow::Error::msg(
            "--base-url: in service mode the service makes the OpenAI calls; point the service at the endpoint instead (or use --with-stub)",
        ));
    }
    if !service_mode && dest.with_stub.is_some() {
        return Err(anyhow::Error::msg(
            "--with-stub: needs service mode (--target URL, or scenarios with a [target])",
        ));
    }
    if dest.with_stub.is_some() {
        let mut sets: Vec<&str> = entries
            .iter()
            .map(|p| p.scenario.tier_set.as_str())
            .collect();
        sets.sort_unstable();
        sets.dedup();
        if sets.len() > 1 {
            anyhow::bail!(
                "--with-stub: one stub serves the whole run, but the scenarios use the tier sets {}; run them separately or pass --tiers",
                sets.join(" and ")
            );
        }
    }
    let stub_used = if service_mode {
        dest.with_stub.is_some()
    } else {
        dest.base_url.is_none()
    };
    let stub_only = [
        ("--latency-ms", req.stub.latency_ms.is_some()),
        ("--retry-after", req.stub.retry_after),
        ("--prompt-cache-hit", req.stub.prompt_cache_hit.is_some()),
    ];
    if let Some((option, _)) = stub_only.iter().find(|(_, given)| *given && !stub_used) {
        anyhow::bail!(
            "{option}: shapes postload's own stub, and this run uses none ({}); drop it",
            if service_mode {
                "service mode without --with-stub: the service calls its own OpenAI endpoint"
            } else {
                "--base-url sends the calls elsewhere"
            }
        );
    }
    if dest.wait_for_target.is_some() && !service_mode {
        return Err(anyhow::Error::msg(
            "--wait-for-target: only in service mode (it waits for the service before the load)",
        ));
    }
    // With the stub alongside the service is often started just before (in the background):
    // wait for it. Without, a service that does not answer at once is refused, unless told.
    let default_wait = if dest.with_stub.is_some() { 30.0 } else { 0.0 };
    let wait_for_target = dest.wait_for_target.unwrap_or(default_wait);
    if !(0.0..=MAX_TIMEOUT_S).contains(&wait_for_target) {
        anyhow::bail!(
            "--wait-for-target {wait_for_target}: give seconds, from 0 to {MAX_TIMEOUT_S}"
        );
    }
    Ok(wait_for_target)
}

/// `--max-cost`, checked, and required by `--allow-spend`.
pub(crate) fn spend_cap(dest: &Destination) -> anyhow::Result<Option<f64>> {
    let max_cost = match dest.max_cost {
        Some(c) if !(c > 0.0 && c.is_finite()) => {
            return Err(anyhow::anyhow!(
                "--max-cost {c}: give a positive amount of USD"
            ))
        }
        c => c,
    };
    if dest.allow_spend && max_cost.is_none() {
        return Err(anyhow::Error::msg(
            "--allow-spend: also give --max-cost USD, the most this run may spend",
        ));
    }
    Ok(max_cost)
}

/// Whether the load leaves this machine. Anything outside loopback may bill someone: only with
/// --allow-spend and --max-cost.
pub(crate) fn check_remote(dest: &Destination, entries: &[RunScenario]) -> anyhow::Result<bool> {
    let remote_urls: Vec<(&str, &str)> = match &dest.base_url {
        Some(url) => vec![("--base-url", url.as_str())],
        None => entries
            .iter()
            .filter_map(|p| {
                p.service
                    .as_ref()
                    .map(|s| (p.file.as_str(), s.url.as_str()))
            })
            .collect(),
    };
    let mut remote = false;
    for (what, url) in remote_urls {
        if !is_loopback(what, url)? {
            remote = true;
            if !dest.allow_spend {
                let url = shown_url(url);
                anyhow::bail!(
                    "{what}: `{url}` is not on this machine, and load there can cost money: add --allow-spend and --max-cost USD (the run stops before spending more)"
                );
            }
        }
    }
    Ok(remote)
}

/// `--time-scale`: its range first (past the cap the figures are wrong wherever the clock is),
/// then a clock postload controls: its embedded stub, or a `postload stub` at the same K. A
/// service's or a real endpoint's latencies would be multiplied by K.
fn check_time_scale(
    k: Option<TimeScale>,
    service_mode: bool,
    base_url: Option<&str>,
    // The run's client (its `--resolve`), when the base URL is loopback; `None` for a remote
    // endpoint, which is never asked.
    client: Option<&ClientFactory>,
) -> anyhow::Result<TimeScale> {
    let scale = k.unwrap_or(TimeScale::ONE);
    if let Some(k) = k.filter(|k| !k.is_one()).map(TimeScale::get) {
        if service_mode {
            anyhow::bail!(
                "--time-scale {k}: in service mode the service's own time does not scale, so every latency would be off; run without --time-scale"
            );
        }
        if let Some(url) = base_url {
            let served = client.and_then(|c| served_time_scale_blocking(c, url));
            if let Some(m) = crate::stub::probe::mismatch(k, url, served) {
                return Err(anyhow::Error::msg(m));
            }
        }
    }
    Ok(scale)
}

/// Where the pipeline's calls go: `--base-url` with its API key, or the embedded stub's template.
fn target(req: &RunRequest, catalog: &Arc<Catalog>, remote: bool) -> anyhow::Result<OpenAiTarget> {
    Ok(match &req.destination.base_url {
        Some(url) => OpenAiTarget::BaseUrl(endpoint(&req.destination, url, remote)?),
        None => {
            let mut c = StubConfig::new(Arc::clone(catalog));
            c.fixed_latency = latency_ms("--latency-ms", req.stub.latency_ms)?;
            c.retry_after = req.stub.retry_after;
            c.prompt_cache_hit = match req.stub.prompt_cache_hit {
                Some(s) if !(0.0..=1.0).contains(&s) => {
                    return Err(anyhow::anyhow!(
                        "--prompt-cache-hit {}: give a share from 0 to 1",
                        crate::limits::num(s)
                    ))
                }
                share => share,
            };
            OpenAiTarget::Embedded(c)
        }
    })
}

/// `url` with its API key: from `--api-key-env`, else `OPENAI_API_KEY` for a remote URL, else
/// the stub's (a loopback endpoint, a `postload stub`: any bearer token will do). A user or
/// password in the URL is refused: it would go as a second `Authorization` header (Basic) beside
/// the bearer key. A query is kept on every call ([`crate::secret::join_url`]).
pub(crate) fn endpoint(dest: &Destination, url: &str, remote: bool) -> anyhow::Result<Endpoint> {
    if url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some()) {
        anyhow::bail!(
            "--base-url `{}`: remove the user and password from the URL; the API key goes as a bearer token (OPENAI_API_KEY, or the variable --api-key-env names)",
            shown_url(url)
        );
    }
    let key_var = dest
        .api_key_env
        .clone()
        .or_else(|| remote.then(|| "OPENAI_API_KEY".to_string()));
    let api_key = match key_var {
        Some(var) => Some(Secret::new(std::env::var(&var).map_err(|_| {
            anyhow::anyhow!(
                "--base-url `{}`: environment variable `{var}` (the API key) is not set; --api-key-env names another",
                shown_url(url)
            )
        })?)),
        None => Some(Secret::new(crate::stub::STUB_API_KEY.into())),
    };
    Ok(Endpoint {
        url: url.trim_end_matches('/').to_string(),
        api_key,
        remote,
    })
}

/// The HTTP client of every case. Redirects are never followed: OpenAI does not redirect API
/// calls, and a followed redirect could take the load (and the API key) past the spend guard's
/// loopback check. A 3xx is counted as `other_status`.
pub(crate) fn client_factory(resolves: Vec<(String, std::net::SocketAddr)>) -> ClientFactory {
    fn base() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(concat!("postload/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
    }
    if resolves.is_empty() {
        Arc::new(base) as ClientFactory
    } else {
        Arc::new(move || {
            resolves
                .iter()
                .fold(base().no_proxy(), |b, (host, addr)| b.resolve(host, *addr))
        }) as ClientFactory
    }
}

/// [`crate::stub::probe::served_time_scale`] from this synchronous check: on a thread of its
/// own with its own runtime, since the command calling the check may already run on one.
fn served_time_scale_blocking(client: &ClientFactory, url: &str) -> Option<f64> {
    let client = client().build().ok()?;
    std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?
                .block_on(crate::stub::probe::served_time_scale(&client, url))
        })
        .join()
        .ok()
        .flatten()
    })
}

#[cfg(test)]
mod tests;
