//! What the stub served, for `GET /__postload/stats` and the in-process handle: requests by
//! status, 429s by type, tokens per model and the bucket levels. A run reads it to attribute
//! tokens even when the service under test reports none.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::metrics::hdr;
use crate::openai::bucket::Levels;

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct ModelStats {
    /// Model calls (chat completions and Responses) that named this model and passed validation.
    pub requests: u64,
    /// Of those, answered 200.
    pub ok: u64,
    pub streamed: u64,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub completion_tokens: u64,
    /// Tokens that rejected (429) requests asked to reserve.
    pub rejected_reserved_tokens: u64,
    /// Sum of the modelled latencies of 200 responses, in ms (for a mean).
    pub latency_ms_sum: f64,
}

/// Valid chat requests that asked for one `max_tokens`: how a service's calls tell apart (its
/// image prompt asks for 150, its caption for 200).
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct CallTypeStats {
    pub requests: u64,
    /// Of those, answered 200.
    pub ok: u64,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// Distinct `max_tokens` values counted apart; the rest share [`OTHER_MAX_TOKENS`], so a client
/// cannot grow the stats without end.
pub const MAX_CALL_TYPES: usize = 32;
/// The key of requests without `max_tokens`.
pub const NO_MAX_TOKENS: u32 = 0;
/// The key of requests past [`MAX_CALL_TYPES`] distinct values.
pub const OTHER_MAX_TOKENS: u32 = u32::MAX;

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct RateLimitedCounts {
    /// `type: tokens` 429s (TPM), including "Request too large".
    pub tokens: u64,
    /// `type: requests` 429s (RPM and RPD).
    pub requests: u64,
    /// Of all 429s, those for a request larger than the whole limit.
    pub too_large: u64,
    /// Of all 429s, those forced by the "first N requests get 429" fault.
    pub forced: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct FaultCounts {
    pub server_error: u64,
    pub overloaded: u64,
    pub slow: u64,
}

/// Percentiles of the modelled latency of the 200 responses (what the calls inside a service
/// took, before any queueing at the service), in ms, to HdrHistogram's 3 significant figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl LatencySummary {
    /// From a histogram of microseconds.
    pub fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        Self {
            count: h.len(),
            mean: Some(h.mean() / 1000.0),
            p50: Some(hdr::percentile_ms(h, 0.50)),
            p95: Some(hdr::percentile_ms(h, 0.95)),
            p99: Some(hdr::percentile_ms(h, 0.99)),
            max: Some(hdr::ms(h, h.max())),
        }
    }
}

/// Where the stub answers its counters (and its time scale) to a GET.
pub const STATS_PATH: &str = "/__postload/stats";

/// A snapshot of the stub's counters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct StubStats {
    /// The tier served (of the stub's tier set).
    #[serde(default)]
    pub tier: u8,
    /// Model calls received (valid or not), on either endpoint: chat completions and, since the
    /// stub serves it, the Responses API (`responses_requests` of them). The name predates the
    /// Responses API; the field stays the total so that every reader of schema v1 (service
    /// mode's requests per post, `compare` against an older baseline, the gates) keeps counting
    /// every call.
    pub chat_requests: u64,
    /// Of `chat_requests`, those to `POST /v1/responses` (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub responses_requests: u64,
    /// Responses to chat completion requests by HTTP status.
    pub by_status: BTreeMap<u16, u64>,
    pub rate_limited: RateLimitedCounts,
    pub faults: FaultCounts,
    /// Modelled latency of the 200 responses.
    #[serde(default)]
    pub latency_ms: LatencySummary,
    /// Per model id as the request named it.
    pub models: BTreeMap<String, ModelStats>,
    /// Valid chat requests by their `max_tokens` ([`NO_MAX_TOKENS`] when absent,
    /// [`OTHER_MAX_TOKENS`] past [`MAX_CALL_TYPES`] values).
    #[serde(default)]
    pub by_max_tokens: BTreeMap<u32, CallTypeStats>,
    /// Model calls a client marked as a retry (`x-stainless-retry-count` above 0, as the
    /// official SDKs send it).
    #[serde(default)]
    pub retried_requests: u64,
    /// Bucket levels per rate-limit family at the time of the snapshot.
    pub buckets: BTreeMap<String, BucketLevels>,
    /// Always 0: the stub keeps no request past its answer. Kept so that readers of schema v1
    /// find the field; the stub's earlier engine (wiremock, until 2026-11-30) counted here the
    /// requests, and their body bytes, that it held.
    pub retained_requests: u64,
    pub retained_body_bytes: u64,
    /// Always 0, kept for schema v1 like `retained_requests`: how often that engine's store
    /// was emptied.
    pub compactions: u64,
    /// The stub's `--time-scale`: its latencies and refill run this many times faster. A run
    /// with `--time-scale K --base-url` checks that the stub there runs at the same K.
    #[serde(default = "one")]
    pub time_scale: f64,
}

fn one() -> f64 {
    1.0
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct BucketLevels {
    pub limit_requests: u64,
    pub limit_tokens: u64,
    pub remaining_requests: u64,
    pub remaining_tokens: u64,
    pub reset_requests_ms: u64,
    pub reset_tokens_ms: u64,
}

impl From<Levels> for BucketLevels {
    fn from(l: Levels) -> Self {
        Self {
            limit_requests: l.limit_requests,
            limit_tokens: l.limit_tokens,
            remaining_requests: l.remaining_requests,
            remaining_tokens: l.remaining_tokens,
            reset_requests_ms: crate::openai::duration::ceil_ms(l.reset_requests),
            reset_tokens_ms: crate::openai::duration::ceil_ms(l.reset_tokens),
        }
    }
}

impl StubStats {
    /// Counts one model call received, to the Responses API or to chat completions.
    pub fn count_call(&mut self, responses: bool) {
        self.chat_requests += 1;
        if responses {
            self.responses_requests += 1;
        }
    }

    /// The entry of requests asking for `max_tokens`.
    pub fn call_type(&mut self, max_tokens: Option<u32>) -> &mut CallTypeStats {
        let mut key = max_tokens.unwrap_or(NO_MAX_TOKENS);
        if !self.by_max_tokens.contains_key(&key) && self.by_max_tokens.len() >= MAX_CALL_TYPES - 1
        {
            key = OTHER_MAX_TOKENS;
        }
        self.by_max_tokens.entry(key).or_default()
    }

    /// Token sums over every model.
    pub fn tokens(&self) -> (u64, u64, u64) {
        self.models.values().fold((0, 0, 0), |(p, c, o), m| {
            (
                p + m.prompt_tokens,
                c + m.cached_tokens,
                o + m.completion_tokens,
            )
        })
    }

    /// 200 responses over every model.
    pub fn ok_calls(&self) -> u64 {
        self.models.values().map(|m| m.ok).sum()
    }

    /// All 429s.
    pub fn rate_limited_total(&self) -> u64 {
        self.by_status.get(&429).copied().unwrap_or(0)
    }

    pub fn status(&self, code: u16) -> u64 {
        self.by_status.get(&code).copied().unwrap_or(0)
    }
}
