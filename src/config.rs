//! Turns raw command-line values into checked settings (a run's: [`run_config`], or a typed
//! [`RunRequest`] through [`configure`]). Every error here names the option or the file and
//! field, and maps to exit code 2.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::cli::{PromptEstimateArg, RejectedCostArg, StubOptions};
use crate::limits::{read_text, MAX_REPEAT, MAX_TEXT_FILE_BYTES, MAX_USERS};
use crate::openai::bucket::RejectedCost;
use crate::openai::catalog::Catalog;
use crate::secret::shown_url;
use crate::stub::{Faults, PromptEstimate, StubConfig};

mod run;

pub(crate) use self::run::{check_remote, client_factory, endpoint, spend_cap};
pub use self::run::{
    configure, run_config, Destination, EmbeddedStubOptions, Overrides, RunRequest,
};

// A usage or configuration error is an `anyhow::Error` naming the file, flag or field: no
// caller matches its cause (each ends the command with its message and exit code 2), so it
// carries no type of its own.

pub fn catalog(opts: &StubOptions) -> anyhow::Result<Arc<Catalog>> {
    catalog_from(opts.data.mocks.as_deref())
}

/// A latency option in milliseconds (`--latency-ms`, `--slow-ms`): at most what a latency
/// profile may give.
fn latency_ms(option: &str, ms: Option<u64>) -> anyhow::Result<Option<Duration>> {
    match ms {
        Some(ms) if ms as f64 > crate::limits::MAX_PROFILE_MS => Err(anyhow::Error::msg(format!(
            "{option} {ms}: give at most {} ms (OpenAI's SDK gives up after 600 s)",
            crate::limits::MAX_PROFILE_MS
        ))),
        ms => Ok(ms.map(Duration::from_millis)),
    }
}

pub fn stub_config(opts: &StubOptions) -> anyhow::Result<StubConfig> {
    let catalog = catalog(opts)?;
    let mut c = StubConfig::new(catalog);
    if let Some(set) = &opts.tier_set {
        c.tier_set = set.clone();
    }
    c.tier = opts.tier;
    c.seed = opts.seed.seed.unwrap_or(0);
    c.retry_after = opts.retry_after;
    c.fixed_latency = latency_ms("--latency-ms", opts.latency_ms)?;
    c.missing_max_tokens_reserve = opts.missing_max_tokens;
    c.prompt_cache_hit = opts.prompt_cache.prompt_cache_hit;
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
    c.check().map_err(|m| {
        let m = m
            .replace("server_error_share", "--fault-500")
            .replace("overloaded_share", "--fault-503")
            .replace("slow_share", "--slow-share")
            .replace("prompt_cache_hit", "--prompt-cache-hit");
        anyhow::Error::msg(if m.contains("tier") {
            format!("--tiers/--tier: {m}")
        } else {
            m
        })
    })?;
    Ok(c)
}

/// `compare --tolerance`: a share (`0.1`) or a percentage (`10%`), by the one share parser (a
/// bare `10` is refused, not read as 1,000 %).
pub fn tolerance(text: &str) -> anyhow::Result<f64> {
    crate::share::parse(text).map_err(|e| anyhow::Error::msg(format!("--tolerance {e}")))
}

/// `postload example-service`'s options as the service's configuration. An OpenAI base URL
/// outside loopback would be billed: only with `--allow-spend`.
pub fn example_config(
    args: &crate::cli::ExampleServiceArgs,
) -> anyhow::Result<crate::example::ExampleConfig> {
    let base_url = example_base_url(args);
    if !is_loopback("--base-url", base_url)? && !args.spend.allow_spend {
        return Err(anyhow::Error::msg(format!(
            "--base-url `{}` is not on this machine: its calls would be billed; add --allow-spend to mean it",
            shown_url(base_url)
        )));
    }
    let mut cfg = crate::example::ExampleConfig::new(base_url);
    cfg.model = args.model.clone();
    cfg.endpoint = args.openai_endpoint;
    cfg.memory_delay = Duration::from_millis(args.memory_ms);
    cfg.retry = retry_policy(args.retry);
    cfg.extra_call = args.extra_call;
    if !(0.5..=4.0).contains(&args.prompt_scale) {
        return Err(anyhow::Error::msg(format!(
            "--prompt-scale {}: a factor from 0.5 to 4",
            crate::limits::num(args.prompt_scale)
        )));
    }
    for size in [&mut cfg.prompts.image_prompt, &mut cfg.prompts.caption] {
        size.prompt_tokens = (size.prompt_tokens as f64 * args.prompt_scale).round() as u32;
    }
    if !(400..=599).contains(&args.status_on_429) {
        return Err(anyhow::Error::msg(format!(
            "--status-on-429 {}: an HTTP error status from 400 to 599",
            args.status_on_429
        )));
    }
    cfg.status_on_429 = args.status_on_429;
    cfg.propagate_trace = !args.no_trace_propagation;
    cfg.fault = args.fault;
    let key_var = args.dest.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
    if let Ok(key) = std::env::var(key_var) {
        cfg.api_key = Some(crate::secret::Secret::new(key));
    }
    Ok(cfg)
}

/// example-service's `--base-url` (clap gives it its default and `$OPENAI_BASE_URL`; the same
/// default when built by hand).
pub fn example_base_url(args: &crate::cli::ExampleServiceArgs) -> &str {
    args.dest
        .base_url
        .as_deref()
        .unwrap_or("http://127.0.0.1:9000/v1")
}

/// The first value that appears twice in `values`.
fn first_repeat<T: PartialEq>(values: &[T]) -> Option<&T> {
    values
        .iter()
        .enumerate()
        .find(|(i, v)| values[..*i].contains(v))
        .map(|(_, v)| v)
}

/// Reads and checks a gate file (before any load is sent).
pub fn gates(path: &std::path::Path) -> anyhow::Result<Vec<crate::gate::Gate>> {
    let text = read_text(path, MAX_TEXT_FILE_BYTES).map_err(anyhow::Error::msg)?;
    crate::gate::parse(&path.display().to_string(), &text).map_err(anyhow::Error::msg)
}

/// The claims file: the given one, or the planning note's (embedded), checked against the
/// catalog (a claim naming an unknown model would otherwise never be measured).
pub fn claims(
    path: Option<&std::path::Path>,
    catalog: &Catalog,
) -> anyhow::Result<crate::claims::ClaimsFile> {
    use crate::claims;
    let (file, parsed) = match path {
        None => (
            "scenarios/claims.toml".to_string(),
            claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS),
        ),
        Some(p) => {
            let text = read_text(p, MAX_TEXT_FILE_BYTES).map_err(anyhow::Error::msg)?;
            let file = p.display().to_string();
            let parsed = claims::parse(&file, &text);
            (file, parsed)
        }
    };
    let parsed = parsed.map_err(anyhow::Error::msg)?;
    parsed
        .check_models(&file, &catalog.prices)
        .map_err(anyhow::Error::msg)?;
    Ok(parsed)
}

/// The catalog from `--mocks DIR`, or the embedded one.
pub fn catalog_from(mocks: Option<&std::path::Path>) -> anyhow::Result<Arc<Catalog>> {
    match mocks {
        Some(dir) if !dir.is_dir() => Err(anyhow::Error::msg(format!(
            "--mocks {}: not a directory",
            dir.display()
        ))),
        Some(dir) => Catalog::load_dir(dir)
            .map(Arc::new)
            .map_err(|e| anyhow::Error::msg(e.to_string())),
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
pub fn is_loopback(what: &str, url: &str) -> anyhow::Result<bool> {
    let parsed = reqwest::Url::parse(url)
        .map_err(|e| anyhow::Error::msg(format!("{what}: `{}`: {e}", shown_url(url))))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(anyhow::Error::msg(format!(
            "{what}: `{}`: must be http or https",
            shown_url(url)
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
pub(crate) fn parse_resolve(s: &str) -> anyhow::Result<(String, std::net::SocketAddr)> {
    let err = |m: &str| anyhow::Error::msg(format!("--resolve `{s}`: {m}"));
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
) -> anyhow::Result<crate::plan::PlanSpec> {
    use crate::cli::CurveArg;
    use crate::plan::sim::BUSINESS_DAY;
    let tier_set = args
        .tier_set
        .clone()
        .unwrap_or_else(|| catalog.default_tier_set.clone());
    if let Some(t) = first_repeat(&args.tier) {
        return Err(anyhow::Error::msg(format!("--tier {t}: given twice")));
    }
    if let Some(u) = first_repeat(&args.users) {
        return Err(anyhow::Error::msg(format!("--users {u}: given twice")));
    }
    if let Some(m) = first_repeat(&args.model) {
        return Err(anyhow::Error::msg(format!("--model {m}: given twice")));
    }
    let tiers = plan_tiers(&args.tier, &tier_set, catalog)?;
    let strategies = plan_strategies(&args.strategy);
    let defaults = crate::plan::PlanSpec::default();
    let mut spec = crate::plan::PlanSpec {
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
        prompt_cache_hit: args.prompt_cache.prompt_cache_hit.unwrap_or(0.0),
        target: crate::plan::Goal {
            p95_s: args.p95,
            min_success: args.min_success,
        },
        seed: args.seed.seed.unwrap_or(0),
        design: {
            let mut d = crate::plan::Design::default();
            for lever in &args.lever {
                d.apply(lever).map_err(anyhow::Error::msg)?;
            }
            d
        },
        ..defaults
    };
    if args.prompt_cache.prompt_cache_hit.is_none() {
        spec.take_profile_prompt_cache_hits(catalog);
    }
    if let Some(file) = &args.trace {
        let speed = args.trace_speed.unwrap_or(1.0);
        crate::scenario::trace::check_speed(speed)
            .map_err(|m| anyhow::Error::msg(format!("--trace-speed: {m}")))?;
        crate::plan::PlanTrace::install(&mut spec, read_trace(file, Path::new(file))?, speed);
    }
    crate::plan::check(&spec, catalog).map_err(|e| anyhow::Error::msg(e.0))?;
    if args.validate {
        check_validation(args, &spec, catalog)?;
    }
    Ok(spec)
}

/// Reads and checks a trace file (`file` names it in messages), timestamps no later than now.
pub fn read_trace(file: &str, path: &Path) -> anyhow::Result<crate::scenario::trace::Trace> {
    use crate::scenario::trace;
    let bytes = crate::limits::read_bounded(path, trace::MAX_TRACE_BYTES)
        .map_err(|m| anyhow::Error::msg(format!("--trace: {m}")))?;
    let now = chrono::Utc::now()
        .timestamp_nanos_opt()
        .map_or(i128::MAX, i128::from);
    trace::parse(file, &bytes, now).map_err(|e| anyhow::Error::msg(e.to_string()))
}

/// A trace load's arrivals, read and checked: from `--trace`'s path as given, or from
/// `load.file` beside the scenario file.
pub(crate) fn read_arrivals(
    file: &str,
    s: &mut crate::scenario::Scenario,
    from_flag: bool,
) -> anyhow::Result<()> {
    let crate::scenario::Load::Trace {
        file: trace_file,
        speed,
        arrivals,
        ..
    } = &mut s.load
    else {
        return Ok(());
    };
    let path = if from_flag {
        std::path::PathBuf::from(trace_file.as_str())
    } else {
        std::path::Path::new(file)
            .parent()
            .unwrap_or(std::path::Path::new(""))
            .join(trace_file.as_str())
    };
    let shown = path.display().to_string();
    let trace = read_trace(&shown, &path)?;
    crate::scenario::trace::check_replay(&trace, *speed, crate::limits::MAX_RATE_PER_S).map_err(
        |m| {
            anyhow::Error::msg(format!(
                "{shown}: replayed at speed {speed} (--trace-speed or load.speed): {m}"
            ))
        },
    )?;
    *arrivals = Some(Arc::new(trace));
    Ok(())
}

/// The plan's tiers: the given ones, or every tier of the tier set.
fn plan_tiers(given: &[u8], tier_set: &str, catalog: &Catalog) -> anyhow::Result<Vec<u8>> {
    if given.is_empty() {
        catalog
            .tier_sets
            .get(tier_set)
            .map(|s| s.tier.iter().map(|t| t.tier).collect())
            .ok_or_else(|| anyhow::Error::msg(format!("--tiers: unknown tier set `{tier_set}`")))
    } else {
        Ok(given.to_vec())
    }
}

/// The plan's retry strategies: the given ones (a run of repeats once), or the default ones.
fn plan_strategies(given: &[crate::cli::StrategyArg]) -> Vec<crate::plan::sim::Strategy> {
    use crate::cli::StrategyArg;
    use crate::plan::sim::Strategy;
    if given.is_empty() {
        crate::plan::PlanSpec::default().strategies
    } else {
        let mut v: Vec<Strategy> = given
            .iter()
            .map(|s| match s {
                StrategyArg::Sdk => Strategy::Sdk,
                StrategyArg::Patient => Strategy::Patient,
                StrategyArg::Queue => Strategy::Queue,
            })
            .collect();
        v.dedup();
        v
    }
}

/// `--validate`'s own options, checked before anything runs.
fn check_validation(
    args: &crate::cli::PlanArgs,
    spec: &crate::plan::PlanSpec,
    catalog: &Catalog,
) -> anyhow::Result<()> {
    if !(1..=MAX_REPEAT).contains(&args.validate_repeat) {
        return Err(anyhow::Error::msg(format!(
            "--validate-repeat {}: give 1 to {MAX_REPEAT}",
            args.validate_repeat
        )));
    }
    if let Some(u) = args
        .validate_users
        .iter()
        .find(|u| !(1..=MAX_USERS).contains(*u))
    {
        return Err(anyhow::Error::msg(format!(
            "--validate-users {u}: give 1 to {MAX_USERS}"
        )));
    }
    for &t in &args.validate_tier {
        catalog
            .tier(&spec.tier_set, t)
            .map_err(|m| anyhow::Error::msg(format!("--validate-tier: {m}")))?;
    }
    Ok(())
}
