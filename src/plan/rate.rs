//! `plan --find-rate`: the highest rate of posts a model and tier sustain while the target holds,
//! by simulation. Each step is open (Poisson) arrivals at one rate over a long window, judged as
//! a cell is (p95 of the successful posts against the target, and the success share); the
//! search doubles the rate until the target fails, then halves the bracket down to
//! [`RESOLUTION`]. Then it names what limits the rate: the tier's tokens or requests a minute
//! (429s rising), or the model's own latency (no 429s, posts too slow), or failures.
//! Pure: the caller gives a step function, or the catalog and spec.

use serde::{Deserialize, Serialize};

use super::sim::Strategy;
use super::{simulate_measured, CellSpec, PlanError, PlanSpec};
use crate::openai::bucket::Limits;
use crate::openai::catalog::Catalog;

/// The search stops when the bracket's upper end is within this factor of its lower end.
pub const RESOLUTION: f64 = 1.02;
/// The first rate tried, in posts a second (one post every 10 s).
pub const START_PER_S: f64 = 0.1;
/// The lowest rate tried before the search says the target holds at no rate.
pub const MIN_PER_S: f64 = 0.001;
/// Steps of one search at most: doubling from 0.1 to the highest ceiling a shipped tier gives
/// (four times gpt-4o-mini's Tier 5 rate, about 4,000 posts a second) takes 16, halving the
/// bracket to [`RESOLUTION`] 6 more.
pub const MAX_STEPS: usize = 30;
/// A step's window: one modelled hour, so the full bucket a client meets at first (one minute
/// of the tier's limits) lifts an answer by at most 1/60 (1.7 %) ...
pub const WINDOW_S: f64 = 3_600.0;
/// ... unless that is more posts than this (above 13.9 posts a second), when the window
/// shortens to hold this many, and the answer says how much the first minute may lift it.
pub const MAX_STEP_POSTS: f64 = 50_000.0;
/// A step judges at least this many posts (the window lengthens at low rates to hold them).
pub const MIN_STEP_POSTS: f64 = 600.0;

/// One rate tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateStep {
    pub per_s: f64,
    /// Modelled seconds of arrivals.
    pub window_s: f64,
    pub posts: u64,
    pub success: f64,
    /// p95 of the successful posts (the post, or its first caption token when streamed).
    pub p95_s: Option<f64>,
    pub http_429: u64,
    pub meets: bool,
}

/// What stops a higher rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RateLimit {
    /// 429s on tokens: the tier's tokens a minute, and the rate they allow at about
    /// `reserved_per_post` tokens reserved a post.
    Tpm {
        tpm: u64,
        reserved_per_post: f64,
        bound_per_s: f64,
    },
    /// 429s on requests: the tier's requests a minute, at `calls_per_post` calls a post.
    Rpm {
        rpm: u64,
        calls_per_post: f64,
        bound_per_s: f64,
    },
    /// No 429s, and the posts are too slow: the model's latency (or the design's).
    Latency { p95_s: f64 },
    /// Posts fail without 429s (timeouts, faults).
    Failures { success: f64 },
    /// The target held at every rate tried, up to the search's end.
    NotReached,
}

/// The answer for one model × tier × client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RateAnswer {
    pub model: String,
    pub tier: u8,
    pub strategy: Strategy,
    /// The highest rate tried that held, in posts a second; `None` when none did.
    pub highest_per_s: Option<f64>,
    /// The lowest rate tried that did not hold; `None` when every one did.
    pub failing_per_s: Option<f64>,
    pub limit: RateLimit,
    /// How much the first minute's full bucket may lift `highest_per_s`: 60 s over the window
    /// of the step that found it (1.7 % for an hour).
    pub first_minute_lift: f64,
    pub steps: Vec<RateStep>,
}

/// What a search found: (highest holding, lowest failing, the steps in the order tried).
pub type Searched = (Option<f64>, Option<f64>, Vec<RateStep>);

/// The search over `step` (which simulates one rate): doubling from [`START_PER_S`] while the
/// target holds, halving down to [`MIN_PER_S`] while it does not, then bisecting the bracket to
/// [`RESOLUTION`]. Returns (highest holding, lowest failing, the steps in the order tried).
pub fn search(
    mut step: impl FnMut(f64) -> Result<RateStep, PlanError>,
    max_per_s: f64,
) -> Result<Searched, PlanError> {
    let mut steps = Vec::new();
    let (mut lo, mut hi): (Option<f64>, Option<f64>) = (None, None);
    let mut rate = START_PER_S.min(max_per_s);
    while steps.len() < MAX_STEPS {
        let s = step(rate)?;
        let meets = s.meets;
        steps.push(s);
        if meets {
            lo = Some(rate);
        } else {
            hi = Some(rate);
        }
        rate = match (lo, hi) {
            (Some(l), None) if l * 2.0 <= max_per_s => l * 2.0,
            (Some(_), None) => break,
            (None, Some(h)) if h / 2.0 >= MIN_PER_S => h / 2.0,
            (None, Some(_)) => break,
            (Some(l), Some(h)) if h / l > RESOLUTION => (l * h).sqrt(),
            _ => break,
        };
    }
    Ok((lo, hi, steps))
}

/// About how many tokens a post reserves, and how many calls it makes: its calls' prompts plus
/// their `max_tokens`, a post bringing its own image prompt (the shape's share) making only the
/// caption call.
fn per_post(shape: &super::sim::PostShape) -> (f64, f64) {
    let own = shape.image_prompt_share;
    let image = (shape.image_prompt_tokens + shape.image_max_tokens) as f64;
    let caption = (shape.caption_base_tokens + shape.caption_max_tokens) as f64;
    // The caption prompt carries the image prompt: the call's answer, or the post's own.
    let carried =
        (1.0 - own) * shape.image_max_tokens as f64 + own * shape.own_image_prompt_tokens as f64;
    ((1.0 - own) * image + caption + carried, 2.0 - own)
}

/// What limits the rate at `failing`: 429s name the limit the demand presses hardest (tokens
/// or requests a minute, as a share of the tier's); without 429s, slow posts name the latency
/// and lost ones the failures.
pub fn limit_of(
    failing: Option<&RateStep>,
    limits: Limits,
    reserved_per_post: f64,
    calls_per_post: f64,
) -> RateLimit {
    let Some(f) = failing else {
        return RateLimit::NotReached;
    };
    let tpm_bound = limits.tpm as f64 / reserved_per_post.max(1.0) / 60.0;
    let rpm_bound = limits.rpm as f64 / calls_per_post.max(1.0) / 60.0;
    if f.http_429 > 0 {
        if tpm_bound <= rpm_bound {
            RateLimit::Tpm {
                tpm: limits.tpm,
                reserved_per_post,
                bound_per_s: tpm_bound,
            }
        } else {
            RateLimit::Rpm {
                rpm: limits.rpm,
                calls_per_post,
                bound_per_s: rpm_bound,
            }
        }
    } else {
        match f.p95_s {
            Some(p95) if f.success > 0.0 => RateLimit::Latency { p95_s: p95 },
            _ => RateLimit::Failures { success: f.success },
        }
    }
}

/// The window a step at `per_s` runs: an hour, at least [`MIN_STEP_POSTS`], at most
/// [`MAX_STEP_POSTS`].
pub fn window_s(per_s: f64) -> f64 {
    WINDOW_S
        .max(MIN_STEP_POSTS / per_s)
        .min(MAX_STEP_POSTS / per_s)
}

/// The highest rate `model` sustains at `tier` with the first client of the spec, the target
/// and design of the spec, by simulation.
pub fn find_rate(
    catalog: &Catalog,
    spec: &PlanSpec,
    model: &str,
    tier: u8,
) -> Result<RateAnswer, PlanError> {
    let strategy = spec.strategies.first().copied().unwrap_or(Strategy::Sdk);
    let limits = catalog
        .limits(&spec.tier_set, tier, model)
        .map_err(|m| PlanError(format!("--tier: {m}")))?
        .ok_or_else(|| PlanError(format!("no limits for `{model}` at tier {tier}")))?;
    let (reserved, calls) = per_post(&spec.design.shape(super::post_shape(model, spec)));
    // Past four times the lower of the two limits' rates (at the reservation's upper estimate)
    // a step can only fail on 429s.
    let ceiling = 4.0
        * (limits.tpm as f64 / reserved.max(1.0)).min(limits.rpm as f64 / calls.max(1.0))
        / 60.0;
    let step = |per_s: f64| {
        let window = window_s(per_s);
        let mut s = spec.clone();
        s.trace = None;
        s.users = vec![1];
        s.posts_per_user_per_day = Some(per_s * 86_400.0);
        s.days = window / 86_400.0;
        s.curve = vec![1.0; 24];
        let sim = simulate_measured(catalog, &s, CellSpec::of(&s, model, tier, 1, strategy))?;
        let m = &sim.measured;
        let p95_ms = if spec.design.stream_caption {
            sim.first_caption_token_ms.p95
        } else {
            m.post_latency_ms.ok.p95
        };
        let p95_s = p95_ms.map(|ms| ms / 1000.0);
        let success = m.posts.success_share();
        Ok(RateStep {
            per_s,
            window_s: window,
            posts: m.posts.total,
            success,
            p95_s,
            http_429: m.calls.http_429,
            meets: m.posts.total > 0
                && success >= spec.target.min_success
                && p95_s.is_some_and(|p| p <= spec.target.p95_s),
        })
    };
    let (lo, hi, steps) = search(step, ceiling.max(MIN_PER_S))?;
    let failing = hi.and_then(|h| steps.iter().find(|s| s.per_s == h));
    let found = lo.and_then(|l| steps.iter().find(|s| s.per_s == l));
    Ok(RateAnswer {
        model: model.to_string(),
        tier,
        strategy,
        highest_per_s: lo,
        failing_per_s: hi,
        limit: limit_of(failing, limits, reserved, calls),
        first_minute_lift: found.map_or(0.0, |s| 60.0 / s.window_s),
        steps,
    })
}

#[cfg(test)]
mod tests;
