//! Turns raw command-line values into checked settings. Every error here names the option or
//! the file and field, and maps to exit code 2.

use std::sync::Arc;
use std::time::Duration;

use crate::cli::{PromptEstimateArg, RejectedCostArg, StubOptions};
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

pub fn stub_config(opts: &StubOptions) -> Result<StubConfig, ConfigError> {
    let catalog = catalog(opts)?;
    let mut c = StubConfig::new(catalog);
    if let Some(set) = &opts.tier_set {
        c.tier_set = set.clone();
    }
    c.tier = opts.tier;
    c.seed = opts.seed;
    c.retry_after = opts.retry_after;
    c.fixed_latency = opts.latency_ms.map(Duration::from_millis);
    c.missing_max_tokens_reserve = opts.missing_max_tokens;
    c.retain_limit = opts.retain;
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
        slow_extra: Duration::from_millis(opts.slow_ms),
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
    use crate::cli::RetryArg;
    use crate::openai::retry::RetryPolicy;
    use crate::run::{RunConfig, Target};
    use crate::scenario::{self, Load};

    let catalog = match &args.mocks {
        Some(dir) if !dir.is_dir() => {
            return Err(ConfigError(format!(
                "--mocks {}: not a directory",
                dir.display()
            )))
        }
        Some(dir) => Arc::new(Catalog::load_dir(dir).map_err(|e| ConfigError(e.to_string()))?),
        None => Arc::new(Catalog::embedded()),
    };
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
            if users == 0 {
                return Err(ConfigError("--users: must be at least 1".into()));
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
            s.retry = match r {
                RetryArg::Sdk => RetryPolicy::Sdk,
                RetryArg::None => RetryPolicy::None,
                RetryArg::Patient => RetryPolicy::Patient,
            };
        }
        s.check_catalog(&file, &catalog)
            .map_err(|e| ConfigError(format!("{e} (after command-line overrides)")))?;
        scenarios.push((file, s));
    }

    let target = match &args.base_url {
        Some(url) => {
            check_loopback(url)?;
            Target::BaseUrl(url.trim_end_matches('/').to_string())
        }
        None => {
            let mut c = StubConfig::new(Arc::clone(&catalog));
            c.fixed_latency = args.latency_ms.map(Duration::from_millis);
            c.retry_after = args.retry_after;
            Target::Embedded(c)
        }
    };
    let run_id = crate::run::new_run_id();
    let mut report_dir = args.report_dir.join(&run_id);
    let mut n = 2;
    while report_dir.exists() {
        report_dir = args.report_dir.join(format!("{run_id}-{n}"));
        n += 1;
    }
    Ok(RunConfig {
        scenarios,
        catalog,
        target,
        run_id: report_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(run_id),
        report_dir,
        quiet: args.quiet,
        stop,
        claims: claims(args.claims.as_deref())?,
        repeat: match args.repeat {
            Some(0) => return Err(ConfigError("--repeat: must be at least 1".into())),
            k => k.unwrap_or(1),
        },
    })
}

/// Reads and checks a gate file (before any load is sent).
pub fn gates(path: &std::path::Path) -> Result<Vec<crate::gate::Gate>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("{}: cannot read: {e}", path.display())))?;
    crate::gate::parse(&path.display().to_string(), &text).map_err(ConfigError)
}

/// The claims file: the given one, or the planning note's (embedded).
pub fn claims(
    path: Option<&std::path::Path>,
) -> Result<crate::report::claims::ClaimsFile, ConfigError> {
    use crate::report::claims;
    match path {
        None => {
            claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS).map_err(ConfigError)
        }
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ConfigError(format!("{}: cannot read: {e}", p.display())))?;
            claims::parse(&p.display().to_string(), &text).map_err(ConfigError)
        }
    }
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

/// Load goes only to this machine until the spend guard exists: a base URL must name a loopback
/// address (127.0.0.0/8, ::1 or localhost).
pub fn check_loopback(url: &str) -> Result<(), ConfigError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| ConfigError(format!("--base-url `{url}`: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConfigError(format!(
            "--base-url `{url}`: must be http or https"
        )));
    }
    let loopback = match parsed.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if !loopback {
        return Err(ConfigError(format!(
            "--base-url `{url}`: postload only sends load to loopback addresses (127.0.0.1, ::1, localhost)"
        )));
    }
    Ok(())
}
