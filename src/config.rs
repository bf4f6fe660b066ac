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
    match &opts.mocks {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(ConfigError(format!(
                    "--mocks {}: not a directory",
                    dir.display()
                )));
            }
            Catalog::load_dir(dir)
                .map(Arc::new)
                .map_err(|e| ConfigError(e.to_string()))
        }
        None => Ok(Arc::new(Catalog::embedded())),
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
