//! `postload stub`'s options as the stub's configuration.

use std::sync::Arc;
use std::time::Duration;

use super::{catalog_from, latency_ms};
use crate::cli::{PromptEstimateArg, RejectedCostArg, StubOptions};
use crate::openai::bucket::RejectedCost;
use crate::openai::catalog::Catalog;
use crate::stub::{Faults, PromptEstimate, StubConfig};

pub fn catalog(opts: &StubOptions) -> anyhow::Result<Arc<Catalog>> {
    catalog_from(opts.data.mocks.as_deref())
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
