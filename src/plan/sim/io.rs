//! What a simulation takes (the limits, the profile, the post's calls, the arrivals, the
//! client's strategy and the levers) and what it gives back.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::metrics::Recorder;
use crate::openai::bucket::{Limits, RejectedCost};
use crate::openai::latency::Profile;
use crate::openai::retry::RetryPolicy;

/// How the client behaves when OpenAI says 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The official SDK's retries (2, 0.5 s then 1 s).
    Sdk,
    /// The cookbook's patient retries (up to 5, random 1-60 s).
    Patient,
    /// A client-side token bucket with the tier's limits: calls wait in a FIFO queue until they
    /// fit, then go (with the SDK's retries behind it). The note's "request queuing".
    Queue,
}

impl Strategy {
    pub(super) fn retry(self) -> RetryPolicy {
        match self {
            Strategy::Patient => RetryPolicy::Patient,
            Strategy::Sdk | Strategy::Queue => RetryPolicy::Sdk,
        }
    }
}

/// When posts arrive.
#[derive(Debug, Clone, PartialEq)]
pub enum Arrivals {
    /// Every post at time zero.
    Burst { posts: u64 },
    /// A Poisson stream over `days` days whose hourly rates follow `curve` (24 weights).
    Daily {
        posts_per_day: f64,
        days: f64,
        curve: Vec<f64>,
    },
    /// A trace's arrivals (post `i` at its offset ÷ `speed`), each bringing its own image
    /// prompt as the trace says (else drawn by the shape's share), as `run --trace` sends them.
    Trace {
        trace: std::sync::Arc<crate::scenario::trace::Trace>,
        speed: f64,
    },
}

/// One post's calls: prompt tokens, completion caps and what prompt caching can reuse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostShape {
    pub image_prompt_tokens: u32,
    pub image_max_tokens: u32,
    /// The caption prompt without the image prompt it carries.
    pub caption_base_tokens: u32,
    pub caption_max_tokens: u32,
    /// Share of posts that bring their own image prompt (one call).
    pub image_prompt_share: f64,
    /// Tokens of a post-supplied image prompt.
    pub own_image_prompt_tokens: u32,
}

/// Everything one simulation needs.
#[derive(Debug, Clone)]
pub struct SimInput {
    pub limits: Limits,
    pub rejected_cost: RejectedCost,
    pub profile: Profile,
    pub shape: PostShape,
    pub arrivals: Arrivals,
    pub strategy: Strategy,
    /// Share of posts answered from the service's response cache (no OpenAI call).
    pub response_cache_hit: f64,
    /// Latency of a cached answer.
    pub response_cache_latency: Duration,
    /// Share of eligible calls (prompt ≥ 1,024 tokens) whose shared prefix is in OpenAI's cache.
    pub prompt_cache_hit: f64,
    /// A post's two calls go at once (the caption's prompt then lacks the image prompt); the
    /// post ends with the slower.
    pub parallel: bool,
    /// Each attempt's timeout, as the run's client applies it (`request_timeout_s`, the
    /// official SDK's 600 s unless a scenario says otherwise): an answer slower than this is a
    /// timeout at this time, retried by the strategy's policy, never a success.
    pub request_timeout: Duration,
    pub seed: u64,
    /// A reasoning model's reasoning tokens per call at the planned effort (`None`: the model
    /// does not reason). The calls' `max_tokens` is then their `max_completion_tokens`.
    pub reasoning: Option<crate::openai::reasoning::ReasoningTokens>,
}

/// The run's default attempt timeout ([`crate::scenario::DEFAULT_REQUEST_TIMEOUT_S`]: the
/// official SDK's 600 s), the planner's.
pub const REQUEST_TIMEOUT: Duration =
    Duration::from_secs(crate::scenario::DEFAULT_REQUEST_TIMEOUT_S as u64);

/// A simulation's figures: the recorder every post and call went into (with each successful
/// post's time to its caption's first token, what a streamed caption shows the user first),
/// and the counts it adds.
pub struct SimOutput {
    pub recorder: Recorder,
    pub extra: SimExtra,
}

/// What the simulation adds to the recorder's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SimExtra {
    /// Tokens billed for calls of posts that failed in the end (paid for, no post).
    pub wasted_tokens: u64,
    /// Posts answered from the response cache.
    pub response_cache_hits: u64,
    /// Events processed (for the benchmark).
    pub events: u64,
}
