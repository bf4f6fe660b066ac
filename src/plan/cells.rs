//! What the planner found per cell of its grid, per recommendation, and for the note's caching
//! and monthly tables: plain serialized data (`plan.json`), built in [`super`].

use serde::{Deserialize, Serialize};

use super::sim::Strategy;

/// One simulated cell.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cell {
    pub model: String,
    pub tier: u8,
    pub tpm: u64,
    pub rpm: u64,
    pub users: u32,
    pub strategy: Strategy,
    pub posts: u64,
    pub success: f64,
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    pub p99_s: Option<f64>,
    pub makespan_s: f64,
    pub http_429: u64,
    /// Tokens billed for posts that failed in the end.
    pub wasted_tokens: u64,
    /// Their cost ($ of `wasted_tokens`), apart from `usd_per_post`. Absent without a price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasted_usd: Option<f64>,
    /// Tokens 429-rejected calls asked to reserve.
    pub rejected_reserved_tokens: u64,
    /// A successful post's own tokens (wasted ones apart), as a run's `tokens.per_ok_post`; 0
    /// when no post succeeded.
    pub tokens_per_post: f64,
    pub cached_tokens: u64,
    /// $ per successful post, of its own tokens (as a run's `per_ok_post_usd`): what a post
    /// costs, the same definition in the plan, the run, the claims and the gates.
    pub usd_per_post: Option<f64>,
    /// At the load's posts a day (a burst: the note's middle case, 5 posts per user per day).
    pub usd_per_month: Option<f64>,
    pub meets_target: bool,
    pub response_cache_hits: u64,
    pub events: u64,
}

/// For a model, user count and strategy: the lowest tier that meets the target, if any.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Recommendation {
    pub model: String,
    pub users: u32,
    pub strategy: Strategy,
    pub lowest_tier: Option<u8>,
    pub usd_per_month: Option<f64>,
}

/// Caching's effect on one model × users × tier (SDK retries).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CachingEffect {
    pub model: String,
    pub users: u32,
    pub tier: u8,
    /// (label, response cache hit ratio, prompt cache hit ratio, 429s, success, $/month)
    pub rows: Vec<CachingRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CachingRow {
    pub label: String,
    pub response_cache_hit: f64,
    pub prompt_cache_hit: f64,
    pub http_429: u64,
    pub success: f64,
    pub usd_per_month: Option<f64>,
}

/// The note's monthly table, recomputed from its per-post figures, beside the modelled one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MonthlyRow {
    pub model: String,
    pub users: u64,
    pub posts_per_day: u64,
    /// As printed in the note.
    pub note_usd: f64,
    /// users × posts/day × 30 × the note's $/post, rounded to the cent.
    pub from_note_per_post_usd: f64,
    /// The same load at the planner's $/post.
    pub modelled_usd: Option<f64>,
    /// The same load at the $/post a run measured (`--result`), if it ran this model.
    #[serde(default)]
    pub measured_usd: Option<f64>,
}
