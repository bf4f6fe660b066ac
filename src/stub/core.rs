//! The stub's brain, free of HTTP: takes a request body, returns a [`Reply`] (status, headers,
//! body, delay). The server calls it synchronously on its one thread, so everything here is
//! bounded and cheap: the body is validated before the state lock is taken, token counts are
//! cached, the random stream is derived per request from the seed, and the delay is served by
//! the server after the call.
//!
//! Determinism: request k (in arrival order) draws from ChaCha8 stream k of the seed, so the same
//! seed and the same arrival order give the same completion lengths, latencies, faults and ids;
//! with an injected clock, the same 429s too, and with prompt caching on, the same cached tokens
//! (the prefixes a model remembers follow the arrival order).

mod chat;
mod responses;

pub use chat::Endpoint;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use hdrhistogram::Histogram;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::stats::{LatencySummary, StubStats};
use crate::clock::Clock;
use crate::metrics::hdr;
use crate::openai::bucket::{RateLimiter, RejectedCost};
use crate::openai::catalog::Catalog;
use crate::openai::latency::Profile;
use crate::openai::prompt_cache::{PrefixHasher, PrefixMemory};
use crate::openai::tokens::{CompletionText, TokenCounter};

/// How the stub estimates a request's prompt for the rate limiter (OpenAI estimates before it
/// tokenizes; its guide says from the character count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptEstimate {
    /// The exact o200k prompt token count (the cookbook throttler's choice).
    #[default]
    Tokens,
    /// Characters of the message contents ÷ 4.
    CharsDiv4,
}

pub use crate::openai::world::Faults;

/// Everything that shapes the stub's answers.
#[derive(Debug, Clone)]
pub struct StubConfig {
    pub catalog: Arc<Catalog>,
    pub tier_set: String,
    pub tier: u8,
    pub seed: u64,
    /// Serve every model with constant latency (the `fixed` profile) instead of its own profile.
    pub fixed_latency: Option<Duration>,
    /// Send `retry-after` and `retry-after-ms` on 429s (Azure OpenAI does; OpenAI does not).
    pub retry_after: bool,
    /// Tokens reserved for the completion when a request names no max_tokens. OpenAI does not
    /// document this; default 0 (the prompt estimate alone), as its "Requested" figures suggest.
    pub missing_max_tokens_reserve: u32,
    pub prompt_estimate: PromptEstimate,
    pub rejected_cost: RejectedCost,
    pub faults: Faults,
    pub organization: String,
    /// No effect: the stub keeps no request past its answer (see [`super::DEFAULT_RETAIN_LIMIT`]).
    pub retain_limit: u64,
    /// Request bodies above this many bytes get a 413 and are not read whole.
    pub max_body_bytes: usize,
    /// A connection that owes the stub its next request's headers, or the rest of a body, or
    /// reads none of its answer, for this long is closed (wall-clock time, whatever the clock's
    /// scale).
    pub idle_timeout: Duration,
    /// Share of eligible calls served from OpenAI's prompt cache (`--prompt-cache-hit`), over
    /// each model's profile's `prompt_cache_hit`.
    pub prompt_cache_hit: Option<f64>,
    /// Prefixes each model's prompt cache holds at most (see [`PrefixMemory`]).
    pub prompt_cache_slots: usize,
}

impl StubConfig {
    /// Defaults: embedded data, the default tier set at tier 1, seed 0, each model's own profile.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            tier_set: catalog.default_tier_set.clone(),
            catalog,
            tier: 1,
            seed: 0,
            fixed_latency: None,
            retry_after: false,
            missing_max_tokens_reserve: 0,
            prompt_estimate: PromptEstimate::Tokens,
            rejected_cost: RejectedCost::Request,
            faults: Faults::default(),
            organization: "org-postloadstub".into(),
            retain_limit: super::DEFAULT_RETAIN_LIMIT,
            max_body_bytes: super::DEFAULT_MAX_BODY_BYTES,
            idle_timeout: super::DEFAULT_IDLE_TIMEOUT,
            prompt_cache_hit: None,
            prompt_cache_slots: crate::openai::prompt_cache::MEMORY_SLOTS,
        }
    }

    /// Checks the configuration; the message names the option.
    pub fn check(&self) -> Result<(), String> {
        self.catalog.tier(&self.tier_set, self.tier)?;
        let f = &self.faults;
        for (name, share) in [
            ("server_error_share", f.server_error_share),
            ("overloaded_share", f.overloaded_share),
            ("slow_share", f.slow_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be between 0 and 1, got {share}"));
            }
        }
        if f.server_error_share + f.overloaded_share > 1.0 {
            return Err("server_error_share + overloaded_share must not exceed 1".into());
        }
        if let Some(share) = self.prompt_cache_hit.filter(|s| !(0.0..=1.0).contains(s)) {
            return Err(format!(
                "prompt_cache_hit must be between 0 and 1, got {share}"
            ));
        }
        Ok(())
    }
}

/// An HTTP answer, before the server writes it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Modelled time the answer takes (the server divides by the clock's scale).
    pub delay: Duration,
    /// A streamed 200's first part: the body up to this byte (the role delta and the first
    /// content chunk) is due at this modelled time to first token, the rest at `delay`.
    pub first_part: Option<(usize, Duration)>,
}

struct State {
    seq: u64,
    /// The tier and seed now served (the config's until [`StubCore::reset_to`]).
    tier: u8,
    seed: u64,
    /// The first requests answered 429 whatever the buckets (the config's
    /// `faults.first_n_429` until [`StubCore::reset_to`] names another).
    first_n_429: u64,
    limiters: BTreeMap<String, RateLimiter>,
    counter: TokenCounter,
    stats: StubStats,
    /// Modelled latencies of 200 responses, µs (summarised in the stats).
    latency: Histogram<u64>,
    /// The prompt prefixes each model was sent (by model id), while prompt caching is on.
    prefixes: PrefixHasher,
    prompt_cache: BTreeMap<String, PrefixMemory>,
}

pub struct StubCore {
    config: StubConfig,
    clock: Arc<dyn Clock>,
    text: CompletionText,
    fixed_profile: Option<Profile>,
    state: Mutex<State>,
}

impl std::fmt::Debug for StubCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubCore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StubCore {
    pub fn new(config: StubConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        config.check()?;
        let fixed_profile = config
            .fixed_latency
            .map(|d| config.catalog.fixed_profile(d));
        let state = State {
            seq: 0,
            tier: config.tier,
            seed: config.seed,
            first_n_429: config.faults.first_n_429,
            limiters: Self::limiters(&config, config.tier, clock.now())?,
            counter: TokenCounter::default(),
            stats: StubStats::default(),
            latency: hdr::micros(),
            prefixes: PrefixHasher::default(),
            prompt_cache: BTreeMap::new(),
        };
        Ok(Self {
            text: CompletionText::new(),
            fixed_profile,
            config,
            clock,
            state: Mutex::new(state),
        })
    }

    fn limiters(
        config: &StubConfig,
        tier: u8,
        now: Duration,
    ) -> Result<BTreeMap<String, RateLimiter>, String> {
        let tier = config.catalog.tier(&config.tier_set, tier)?;
        Ok(tier
            .limits
            .iter()
            .map(|(family, limits)| {
                (
                    family.clone(),
                    RateLimiter::new(*limits, config.rejected_cost, now),
                )
            })
            .collect())
    }

    pub fn config(&self) -> &StubConfig {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug; the state is still usable counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters and bucket levels now.
    pub fn stats(&self) -> StubStats {
        let now = self.clock.now();
        let mut st = self.lock();
        let mut stats = st.stats.clone();
        stats.tier = st.tier;
        stats.time_scale = self.clock.scale();
        stats.latency_ms = LatencySummary::of(&st.latency);
        stats.buckets = st
            .limiters
            .iter_mut()
            .map(|(family, l)| (family.clone(), l.levels(now).into()))
            .collect();
        stats
    }

    /// Counts a model call the server answered itself (`status`: 401, 408, 413, or 400 for a
    /// body that broke off) without touching the seeded sequence.
    pub fn count_front_error(&self, status: u16, endpoint: Endpoint) {
        let mut st = self.lock();
        st.stats.count_call(endpoint == Endpoint::Responses);
        *st.stats.by_status.entry(status).or_default() += 1;
    }

    /// Zeroes the counters, refills the buckets and restarts the request sequence (so a rerun with
    /// the same seed repeats its draws).
    pub fn reset(&self) {
        let (tier, seed) = {
            let st = self.lock();
            (st.tier, st.seed)
        };
        self.reset_to(tier, seed)
            .expect("the tier in use was checked");
    }

    /// Like [`reset`](Self::reset), and from now on serves `tier` of the configured tier set
    /// with `seed` (a harness runs one case per tier against one long-lived stub).
    pub fn reset_to(&self, tier: u8, seed: u64) -> Result<(), String> {
        let now = self.clock.now();
        let limiters = Self::limiters(&self.config, tier, now)?;
        let mut st = self.lock();
        st.seq = 0;
        st.tier = tier;
        st.seed = seed;
        st.limiters = limiters;
        st.stats = StubStats::default();
        st.latency.reset();
        st.prompt_cache.clear();
        Ok(())
    }

    /// From now on answers the first `n` chat requests since the last reset 429, whatever the
    /// buckets (`None`: the config's `faults.first_n_429`): a case's `first_429`.
    pub fn set_first_429(&self, n: Option<u64>) {
        self.lock().first_n_429 = n.unwrap_or(self.config.faults.first_n_429);
    }

    /// Prompt prefixes held now, per model id (each at most `prompt_cache_slots`).
    pub fn prompt_prefixes_held(&self) -> BTreeMap<String, usize> {
        let st = self.lock();
        st.prompt_cache
            .iter()
            .map(|(model, memory)| (model.clone(), memory.len()))
            .collect()
    }

    /// The model list for `GET /v1/models`.
    pub fn models_body(&self) -> Value {
        json!({
            "object": "list",
            "data": self.config.catalog.models.iter().map(|m| json!({
                "id": m.id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"
            })).collect::<Vec<_>>()
        })
    }
}
