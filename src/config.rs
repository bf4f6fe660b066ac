//! Turns raw command-line values into checked settings. Every error here names the option or
//! the file and field, and maps to exit code 2.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{PromptEstimateArg, RejectedCostArg, StubOptions};
use crate::limits::{
    read_text, MAX_REPEAT, MAX_TEXT_FILE_BYTES, MAX_TIMEOUT_S, MAX_TIME_SCALE, MAX_USERS,
};
use crate::openai::bucket::RejectedCost;
use crate::openai::catalog::Catalog;
use crate::stub::{Faults, PromptEstimate, StubConfig};

/// A usage or configuration error: the run never started. Exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

pub fn catalog(opts: &StubOptions) -> Result<Arc<Catalog>, ConfigError> {
    catalog_from(opts.mocks.as_deref())
}

/// A latency option in milliseconds (`--latency-ms`, `--slow-ms`): at most what a latency
/// profile may give.
fn latency_ms(option: &str, ms: Option<u64>) -> Result<Option<Duration>, ConfigError> {
    match ms {
        Some(ms) if ms as f64 > crate::limits::MAX_PROFILE_MS => Err(ConfigError(format!(
            "{option} {ms}: give at most {} ms (OpenAI's SDK gives up after 600 s)",
            crate::limits::MAX_PROFILE_MS
        ))),
        ms => Ok(ms.map(Duration::from_millis)),
    }
}

pub fn stub_config(opts: &StubOptions) -> Result<StubConfig, ConfigError> {
    let catalog = catalog(opts)?;
    let mut c = StubConfig::new(catalog);
    if let Some(set) = &opts.tier_set {
        c.tier_set = set.clone();
    }
    c.tier = opts.tier;
    c.seed = opts.seed;
    c.retry_after = opts.retry_after;
    c.fixed_latency = latency_ms("--latency-ms", opts.latency_ms)?;
    c.missing_max_tokens_reserve = opts.missing_max_tokens;
    c.retain_limit = opts.retain;
    c.idle_timeout = Duration::from_secs(opts.idle_timeout);
    c.max_body_bytes = (opts.max_body_mib as usize) << 20;
    c.prompt_estimate = match opts.prompt_estimate {
        PromptEstimateArg::Tokens => PromptEstimate::Tokens,
        PromptEstimateArg::CharsDiv4 => PromptEstimate::CharsDiv4,
    };
    c.rejected_cost = match opts.rejected_cost {
        RejectedCostArg::Nothing => RejectedCost::Nothing,
        RejectedCostArg::Request => RejectedCost::Request,
        RejectedCostArg::RequestAndTokens => RejectedCost::RequestAndTokens,
    };
    c.faults = Faults {
        server_error_share: opts.fault_500,
        overloaded_share: opts.fault_503,
        slow_share: opts.slow_share,
        slow_extra: latency_ms("--slow-ms", Some(opts.slow_ms))?.unwrap_or_default(),
        first_n_429: opts.first_429,
    };
    c.validate().map_err(|m| {
        let m = m
            .replace("server_error_share", "--fault-500")
            .replace("overloaded_share", "--fault-503")
            .replace("slow_share", "--slow-share");
        ConfigError(if m.contains("tier") {
            format!("--tiers/--tier: {m}")
        } else {
            m
        })
    })?;
    Ok(c)
}

/// Builds a checked run configuration from `postload run`'s options.
pub fn run_config(
    args: &crate::cli::RunArgs,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<crate::run::RunConfig, ConfigError> {
    use crate::run::post::ClientFactory;
    use crate::run::{Endpoint, Planned, RunConfig, ServiceMode, Target};
    use crate::scenario::target::TargetSpec;
    use crate::scenario::{self, Load};
    use crate::secret::Secret;

    let catalog = catalog_from(args.mocks.as_deref())?;
    let names: Vec<String> = if args.scenario.is_empty() {
        scenario::DEFAULT_SCENARIOS
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else {
        args.scenario.clone()
    };
    let mut scenarios = Vec::new();
    for name in &names {
        let (file, mut s) = scenario::load(name).map_err(|e| ConfigError(e.to_string()))?;
        if let Some(users) = args.users {
            if !(1..=MAX_USERS).contains(&users) {
                return Err(ConfigError(format!(
                    "--users {users}: give 1 to {MAX_USERS} (each is a Goose user, a task of its own)"
                )));
            }
            match &mut s.load {
                Load::Burst { users: u } | Load::Sustained { users: u, .. } => *u = users,
            }
        }
        if let Some(m) = &args.model {
            s.model = m.clone();
        }
        if !args.tier.is_empty() {
            s.tiers = args.tier.clone();
        }
        if let Some(set) = &args.tier_set {
            s.tier_set = set.clone();
        }
        if let Some(seed) = args.seed {
            s.seed = seed;
        }
        if let Some(r) = args.retry {
            s.retry = retry_policy(r);
        }
        s.check_catalog(&file, &catalog)
            .map_err(|e| ConfigError(format!("{e} (after command-line overrides)")))?;
        if let Some(t) = first_repeat(&s.tiers) {
            return Err(ConfigError(if args.tier.is_empty() {
                format!("{file}: field `tiers`: tier {t} is listed twice (its cases would overwrite each other's files)")
            } else {
                format!("--tier {t}: given twice (its cases would overwrite each other's files)")
            }));
        }
        // Each case's files are named after the scenario's slug: two scenarios with one slug
        // (the same file twice, or two files with one `name`) would overwrite each other.
        if let Some((other, _)) = scenarios
            .iter()
            .find(|(_, o): &&(String, scenario::Scenario)| {
                crate::report::slug(&o.name) == crate::report::slug(&s.name)
            })
        {
            return Err(ConfigError(if *other == file {
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

    // Service mode: every scenario posts to a service, or none does.
    let service_mode = args.target.is_some() || scenarios.iter().any(|(_, s)| s.target.is_some());
    let env = |name: &str| std::env::var(name).ok();
    let mut planned = Vec::new();
    for (file, s) in scenarios {
        let service = if service_mode {
            let spec = match (&s.target, &args.target) {
                (Some(spec), _) => spec.clone(),
                (None, Some(_)) => TargetSpec::default(),
                (None, None) => {
                    return Err(ConfigError(format!(
                        "{file}: has no [target], but another scenario of this run does: service-mode and pipeline scenarios cannot share a run (give --target to post every scenario to one service)"
                    )))
                }
            };
            let t = spec
                .resolve(args.target.as_deref(), &env)
                .map_err(|(field, m)| ConfigError(format!("{file}: field `{field}`: {m}")))?;
            Some(t)
        } else {
            None
        };
        planned.push(Planned {
            file,
            scenario: s,
            service,
        });
    }
    if service_mode && args.base_url.is_some() {
        return Err(ConfigError(
            "--base-url: in service mode the service makes the OpenAI calls; point the service at the endpoint instead (or use --with-stub)".into(),
        ));
    }
    if !service_mode && args.with_stub.is_some() {
        return Err(ConfigError(
            "--with-stub: needs service mode (--target URL, or scenarios with a [target])".into(),
        ));
    }
    if args.with_stub.is_some() {
        let mut sets: Vec<&str> = planned
            .iter()
            .map(|p| p.scenario.tier_set.as_str())
            .collect();
        sets.sort_unstable();
        sets.dedup();
        if sets.len() > 1 {
            return Err(ConfigError(format!(
                "--with-stub: one stub serves the whole run, but the scenarios use the tier sets {}; run them separately or pass --tiers",
                sets.join(" and ")
            )));
        }
    }
    // Options that would do nothing in this mode are refused, not silently ignored.
    let stub_used = if service_mode {
        args.with_stub.is_some()
    } else {
        args.base_url.is_none()
    };
    let stub_only = [
        ("--latency-ms", args.latency_ms.is_some()),
        ("--retry-after", args.retry_after),
    ];
    if let Some((option, _)) = stub_only.iter().find(|(_, given)| *given && !stub_used) {
        return Err(ConfigError(format!(
            "{option}: shapes postload's own stub, and this run uses none ({}); drop it",
            if service_mode {
                "service mode without --with-stub: the service calls its own OpenAI endpoint"
            } else {
                "--base-url sends the calls elsewhere"
            }
        )));
    }
    if args.wait_for_target.is_some() && !(service_mode && args.with_stub.is_some()) {
        return Err(ConfigError(
            "--wait-for-target: only with --with-stub in service mode (it waits for the service before the load)".into(),
        ));
    }
    let wait_for_target = args.wait_for_target.unwrap_or(30.0);
    if !(0.0..=MAX_TIMEOUT_S).contains(&wait_for_target) {
        return Err(ConfigError(format!(
            "--wait-for-target {wait_for_target}: give seconds, from 0 to {MAX_TIMEOUT_S}"
        )));
    }
    let max_cost = match args.max_cost {
        Some(c) if !(c > 0.0 && c.is_finite()) => {
            return Err(ConfigError(format!(
                "--max-cost {c}: give a positive amount of USD"
            )))
        }
        c => c,
    };
    if args.allow_spend && max_cost.is_none() {
        return Err(ConfigError(
            "--allow-spend: also give --max-cost USD, the most this run may spend".into(),
        ));
    }
    let resolves = args
        .resolve
        .iter()
        .map(|r| parse_resolve(r))
        .collect::<Result<Vec<_>, _>>()?;
    // Anything outside loopback may bill someone: only with --allow-spend and --max-cost.
    let remote_urls: Vec<(&str, &str)> = match &args.base_url {
        Some(url) => vec![("--base-url", url.as_str())],
        None => planned
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
            if !args.allow_spend {
                return Err(ConfigError(format!(
                    "{what}: `{url}` is not on this machine, and load there can cost money: add --allow-spend and --max-cost USD (the run stops before spending more)"
                )));
            }
        }
    }

    // Its range first: past the cap the figures are wrong wherever the clock is.
    let time_scale = time_scale(args.time_scale.unwrap_or(1.0))?;
    // A time scale needs a clock postload controls: its embedded stub, or a `postload stub` at
    // the same K. A service's or a real endpoint's latencies would be multiplied by K.
    if let Some(k) = args.time_scale.filter(|k| *k != 1.0) {
        if service_mode {
            return Err(ConfigError(format!(
                "--time-scale {k}: in service mode the service's own time does not scale, so every latency would be off; run without --time-scale"
            )));
        }
        if let Some(url) = &args.base_url {
            let served = if remote { None } else { stub_time_scale(url) };
            if served != Some(k) {
                return Err(ConfigError(format!(
                    "--time-scale {k}: --base-url `{url}` is not a postload stub started with --time-scale {k} ({}): its latencies would be multiplied by {k}",
                    match served {
                        Some(other) => format!("it runs at {other}"),
                        None => "it does not answer /__postload/stats".to_string(),
                    }
                )));
            }
        }
    }
    let target = match &args.base_url {
        Some(url) => {
            let key_var = args
                .api_key_env
                .clone()
                .or_else(|| remote.then(|| "OPENAI_API_KEY".to_string()));
            let api_key = match key_var {
                Some(var) => Some(Secret::new(std::env::var(&var).map_err(|_| {
                    ConfigError(format!(
                        "--base-url `{url}`: environment variable `{var}` (the API key) is not set; --api-key-env names another"
                    ))
                })?)),
                // A loopback endpoint (a `postload stub`): any bearer token will do.
                None => Some(Secret::new(crate::stub::STUB_API_KEY.into())),
            };
            Target::BaseUrl(Endpoint {
                url: url.trim_end_matches('/').to_string(),
                api_key,
                remote,
            })
        }
        None => {
            let mut c = StubConfig::new(Arc::clone(&catalog));
            c.fixed_latency = latency_ms("--latency-ms", args.latency_ms)?;
            c.retry_after = args.retry_after;
            Target::Embedded(c)
        }
    };
    // Redirects are never followed: OpenAI does not redirect API calls, and a followed redirect
    // could take the load (and the API key) past the spend guard's loopback check. A 3xx is
    // counted as `other_status`.
    fn base() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            .user_agent(concat!("postload/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
    }
    let client: Option<ClientFactory> = Some(if resolves.is_empty() {
        Arc::new(base) as ClientFactory
    } else {
        let resolves = resolves.clone();
        Arc::new(move || {
            resolves
                .iter()
                .fold(base().no_proxy(), |b, (host, addr)| b.resolve(host, *addr))
        }) as ClientFactory
    });
    let claims = claims(args.claims.as_deref(), &catalog)?;
    Ok(RunConfig {
        scenarios: planned,
        service_mode: service_mode.then(|| ServiceMode {
            with_stub: args.with_stub,
            ready_wait: Duration::from_secs_f64(wait_for_target),
        }),
        max_cost_usd: max_cost,
        client,
        catalog,
        target,
        run_id: crate::run::new_run_id(),
        reports_root: args.report_dir.clone(),
        quiet: args.quiet,
        print_table: true,
        stop,
        hurry: crate::stop::hurry_flag(),
        claims,
        time_scale,
        repeat: match args.repeat {
            Some(k) if !(1..=MAX_REPEAT).contains(&k) => {
                return Err(ConfigError(format!("--repeat {k}: give 1 to {MAX_REPEAT}")))
            }
            k => k.unwrap_or(1),
        },
    })
}

/// The time scale of the postload stub at `base_url` (loopback only), from its
/// `/__postload/stats`; `None` if it does not answer one within 2 s.
fn stub_time_scale(base_url: &str) -> Option<f64> {
    use std::io::{Read, Write};
    let url = url::Url::parse(base_url).ok()?;
    let addr = url.socket_addrs(|| Some(80)).ok()?.into_iter().next()?;
    if !addr.ip().is_loopback() {
        return None;
    }
    let wait = Duration::from_secs(2);
    let mut s = std::net::TcpStream::connect_timeout(&addr, wait).ok()?;
    s.set_read_timeout(Some(wait)).ok()?;
    write!(
        s,
        "GET /__postload/stats HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer postload\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    s.take(1 << 20).read_to_end(&mut response).ok()?;
    let text = String::from_utf8_lossy(&response);
    let (_, body) = text.split_once("\r\n\r\n")?;
    let v: serde_json::Value = serde_json::from_str(body.trim()).ok()?;
    v.get("time_scale")?.as_f64()
}

/// `compare --tolerance`: a share (`0.1`) or a percentage (`10%`), finite and not negative.
pub fn tolerance(text: &str) -> Result<f64, ConfigError> {
    let t = text.trim();
    match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .ok()
    .filter(|v| v.is_finite() && *v >= 0.0)
    .ok_or_else(|| {
        ConfigError(format!(
            "--tolerance `{t}`: give a share (0.1) or a percentage (10%)"
        ))
    })
}

/// `postload example-service`'s options as the service's configuration. An OpenAI base URL
/// outside loopback would be billed: only with `--allow-remote-openai`.
pub fn example_config(
    args: &crate::cli::ExampleServiceArgs,
) -> Result<crate::example::ExampleConfig, ConfigError> {
    if !is_loopback("--openai-base-url", &args.openai_base_url)? && !args.allow_remote_openai {
        return Err(ConfigError(format!(
            "--openai-base-url `{}` is not on this machine: its calls would be billed; add --allow-remote-openai to mean it",
            args.openai_base_url
        )));
    }
    let mut cfg = crate::example::ExampleConfig::new(&args.openai_base_url);
    cfg.model = args.model.clone();
    cfg.memory_delay = Duration::from_millis(args.memory_ms);
    cfg.retry = retry_policy(args.retry);
    if let Ok(key) = std::env::var(&args.api_key_env) {
        cfg.api_key = Some(crate::secret::Secret::new(key));
    }
    Ok(cfg)
}

/// The first value that appears twice in `values`.
fn first_repeat<T: PartialEq>(values: &[T]) -> Option<&T> {
    values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v))
        .map(|(_, v)| v)
}

/// `--time-scale K` (run, stub, plan --validate): 1 to [`MAX_TIME_SCALE`].
pub fn time_scale(k: f64) -> Result<f64, ConfigError> {
    if (1.0..=MAX_TIME_SCALE).contains(&k) {
        Ok(k)
    } else {
        Err(ConfigError(format!(
            "--time-scale {k}: give a factor from 1 to {MAX_TIME_SCALE} (the largest shown to agree with K = 1; see docs/limits.md)"
        )))
    }
}

/// Reads and checks a gate file (before any load is sent).
pub fn gates(path: &std::path::Path) -> Result<Vec<crate::gate::Gate>, ConfigError> {
    let text = read_text(path, MAX_TEXT_FILE_BYTES).map_err(ConfigError)?;
    crate::gate::parse(&path.display().to_string(), &text).map_err(ConfigError)
}

/// The claims file: the given one, or the planning note's (embedded), checked against the
/// catalog (a claim naming an unknown model would otherwise never be measured).
pub fn claims(
    path: Option<&std::path::Path>,
    catalog: &Catalog,
) -> Result<crate::claims::ClaimsFile, ConfigError> {
    use crate::claims;
    let (file, parsed) = match path {
        None => (
            "scenarios/claims.toml".to_string(),
            claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS),
        ),
        Some(p) => {
            let text = read_text(p, MAX_TEXT_FILE_BYTES).map_err(ConfigError)?;
            let file = p.display().to_string();
            let parsed = claims::parse(&file, &text);
            (file, parsed)
        }
    };
    let parsed = parsed.map_err(ConfigError)?;
    parsed
        .check_models(&file, &catalog.prices)
        .map_err(ConfigError)?;
    Ok(parsed)
}

/// The catalog from `--mocks DIR`, or the embedded one.
pub fn catalog_from(mocks: Option<&std::path::Path>) -> Result<Arc<Catalog>, ConfigError> {
    match mocks {
        Some(dir) if !dir.is_dir() => Err(ConfigError(format!(
            "--mocks {}: not a directory",
            dir.display()
        ))),
        Some(dir) => Catalog::load_dir(dir)
            .map(Arc::new)
            .map_err(|e| ConfigError(e.to_string())),
        None => Ok(Arc::new(Catalog::embedded())),
    }
}

pub fn retry_policy(r: crate::cli::RetryArg) -> crate::openai::retry::RetryPolicy {
    use crate::cli::RetryArg;
    use crate::openai::retry::RetryPolicy;
    match r {
        RetryArg::Sdk => RetryPolicy::Sdk,
        RetryArg::None => RetryPolicy::None,
        RetryArg::Patient => RetryPolicy::Patient,
    }
}

/// Whether a URL names this machine (127.0.0.0/8, ::1 or localhost). `what` names the option or
/// file in errors.
pub fn is_loopback(what: &str, url: &str) -> Result<bool, ConfigError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ConfigError(format!("{what}: `{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError(format!(
            "{what}: `{url}`: must be http or https"
        )));
    }
    Ok(match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    })
}

/// `--resolve HOST:PORT:ADDR` (ADDR on loopback only: postload's load stays on this machine
/// unless a URL itself names another).
fn parse_resolve(s: &str) -> Result<(String, std::net::SocketAddr), ConfigError> {
    let err = |m: &str| ConfigError(format!("--resolve `{s}`: {m}"));
    let mut parts = s.splitn(3, ':');
    let (Some(host), Some(port), Some(addr)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err("give HOST:PORT:ADDR"));
    };
    let port: u16 = port.parse().map_err(|_| err("PORT is not a port number"))?;
    let ip: std::net::IpAddr = addr
        .trim_matches(|c| c == '[' || c == ']')
        .parse()
        .map_err(|_| err("ADDR is not an IP address"))?;
    if !ip.is_loopback() {
        return Err(err("ADDR must be a loopback address (127.0.0.1 or ::1)"));
    }
    if host.is_empty() {
        return Err(err("HOST is empty"));
    }
    Ok((host.to_string(), std::net::SocketAddr::new(ip, port)))
}

/// `postload plan`'s options as a checked plan.
pub fn plan_spec(
    args: &crate::cli::PlanArgs,
    catalog: &Catalog,
) -> Result<crate::plan::PlanSpec, ConfigError> {
    use crate::cli::{CurveArg, StrategyArg};
    use crate::plan::sim::{Strategy, BUSINESS_DAY};
    let tier_set = args
        .tier_set
        .clone()
        .unwrap_or_else(|| catalog.default_tier_set.clone());
    if let Some(t) = first_repeat(&args.tier) {
        return Err(ConfigError(format!("--tier {t}: given twice")));
    }
    if let Some(u) = first_repeat(&args.users) {
        return Err(ConfigError(format!("--users {u}: given twice")));
    }
    if let Some(m) = first_repeat(&args.model) {
        return Err(ConfigError(format!("--model {m}: given twice")));
    }
    let tiers = if args.tier.is_empty() {
        catalog
            .tier_sets
            .get(&tier_set)
            .map(|s| s.tier.iter().map(|t| t.tier).collect())
            .ok_or_else(|| ConfigError(format!("--tiers: unknown tier set `{tier_set}`")))?
    } else {
        args.tier.clone()
    };
    let strategies = if args.strategy.is_empty() {
        crate::plan::PlanSpec::default().strategies
    } else {
        let mut v: Vec<Strategy> = args
            .strategy
            .iter()
            .map(|s| match s {
                StrategyArg::Sdk => Strategy::Sdk,
                StrategyArg::Patient => Strategy::Patient,
                StrategyArg::Queue => Strategy::Queue,
            })
            .collect();
        v.dedup();
        v
    };
    let defaults = crate::plan::PlanSpec::default();
    let spec = crate::plan::PlanSpec {
        models: if args.model.is_empty() {
            defaults.models.clone()
        } else {
            args.model.clone()
        },
        tier_set,
        tiers,
        users: if args.users.is_empty() {
            defaults.users.clone()
        } else {
            args.users.clone()
        },
        strategies,
        posts_per_user_per_day: args.posts_per_day,
        days: args.days,
        curve: match args.curve {
            CurveArg::Business => BUSINESS_DAY.to_vec(),
            CurveArg::Flat => vec![1.0; 24],
        },
        image_prompt_share: args.image_prompt_share,
        response_cache_hit: args.cache_hit,
        prompt_cache_hit: args.prompt_cache_hit,
        target: crate::plan::Target {
            p95_s: args.p95,
            min_success: args.min_success,
        },
        seed: args.seed,
        ..defaults
    };
    crate::plan::check(&spec, catalog).map_err(|e| ConfigError(e.0))?;
    if args.validate {
        check_validation(args, &spec, catalog)?;
    }
    Ok(spec)
}

/// `--validate`'s own options, checked before anything runs.
fn check_validation(
    args: &crate::cli::PlanArgs,
    spec: &crate::plan::PlanSpec,
    catalog: &Catalog,
) -> Result<(), ConfigError> {
    if !(1..=MAX_REPEAT).contains(&args.validate_repeat) {
        return Err(ConfigError(format!(
            "--validate-repeat {}: give 1 to {MAX_REPEAT}",
            args.validate_repeat
        )));
    }
    time_scale(args.time_scale)?;
    if let Some(u) = args
        .validate_users
        .iter()
        .find(|u| !(1..=MAX_USERS).contains(*u))
    {
        return Err(ConfigError(format!(
            "--validate-users {u}: give 1 to {MAX_USERS}"
        )));
    }
    for &t in &args.validate_tier {
        catalog
            .tier(&spec.tier_set, t)
            .map_err(|m| ConfigError(format!("--validate-tier: {m}")))?;
    }
    Ok(())
}
