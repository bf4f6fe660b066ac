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
    /// Live steps: the share of all posts that succeeded within the target's p95 (goodput);
    /// the planner's steps leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub goodput: Option<f64>,
    /// Live steps: posts sent more than 10 ms after their arrival time (the harness had no
    /// free user to send them); the planner's steps leave it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_sends: Option<u64>,
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
    /// Service mode, live: no 429s, and the service's own time a post (p95, or the mean when
    /// the service forwards no trace) rose with the rate, from `own_p95_ms_lowest` at the
    /// lowest rate tried to `own_p95_ms` at the first that failed, most of the post.
    Service {
        own_p95_ms_lowest: f64,
        own_p95_ms: f64,
    },
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

/// The search as a stepper, for a caller whose steps are not a plain function (the live run's
/// are async): ask [`Search::next_rate`], try it, give the step to [`Search::record`]. Doubling
/// from [`START_PER_S`] while the target holds, halving down to [`MIN_PER_S`] while it does
/// not, then bisecting the bracket (geometrically) to [`RESOLUTION`], in at most [`MAX_STEPS`].
#[derive(Debug, Clone)]
pub struct Search {
    lo: Option<f64>,
    hi: Option<f64>,
    next: Option<f64>,
    min_per_s: f64,
    max_per_s: f64,
    resolution: f64,
    steps: Vec<RateStep>,
}

impl Search {
    /// From [`START_PER_S`] to [`RESOLUTION`].
    pub fn new(max_per_s: f64) -> Self {
        Self::from(START_PER_S, (MIN_PER_S, max_per_s), RESOLUTION)
    }

    /// From `start_per_s` (within `min_per_s` and `max_per_s`) to `resolution` (above 1),
    /// halving no lower than `min_per_s`: the live search starts at the planner's answer and
    /// stops halving where its steps would take too long.
    pub fn from(start_per_s: f64, (min_per_s, max_per_s): (f64, f64), resolution: f64) -> Self {
        let max_per_s = max_per_s.max(min_per_s);
        Self {
            lo: None,
            hi: None,
            next: Some(start_per_s.clamp(min_per_s, max_per_s)),
            min_per_s,
            max_per_s,
            resolution: resolution.max(1.001),
            steps: Vec::new(),
        }
    }

    /// The rate to try next; `None` when the search is over.
    pub fn next_rate(&self) -> Option<f64> {
        self.next.filter(|_| self.steps.len() < MAX_STEPS)
    }

    /// The step tried at [`Search::next_rate`].
    pub fn record(&mut self, step: RateStep) {
        let rate = step.per_s;
        if step.meets {
            self.lo = Some(rate);
        } else {
            self.hi = Some(rate);
        }
        self.steps.push(step);
        self.next = match (self.lo, self.hi) {
            (Some(l), None) if l < self.max_per_s => Some((l * 2.0).min(self.max_per_s)),
            (None, Some(h)) if h > self.min_per_s => Some((h / 2.0).max(self.min_per_s)),
            (Some(l), Some(h)) if h / l > self.resolution => Some((l * h).sqrt()),
            _ => None,
        };
    }

    /// The steps tried so far.
    pub fn steps(&self) -> &[RateStep] {
        &self.steps
    }

    /// (highest holding, lowest failing, the steps in the order tried).
    pub fn finish(self) -> Searched {
        (self.lo, self.hi, self.steps)
    }
}

/// The search over `step` (which simulates one rate), as [`Search`] steps it. Returns
/// (highest holding, lowest failing, the steps in the order tried).
pub fn search(
    mut step: impl FnMut(f64) -> Result<RateStep, PlanError>,
    max_per_s: f64,
) -> Result<Searched, PlanError> {
    let mut s = Search::new(max_per_s);
    while let Some(rate) = s.next_rate() {
        s.record(step(rate)?);
    }
    Ok(s.finish())
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
    StepWindow::HOUR.at(per_s)
}

/// How long a step runs, in modelled seconds: `seconds`, lengthened to hold `min_posts` and
/// shortened to hold `max_posts`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StepWindow {
    pub seconds: f64,
    pub min_posts: f64,
    pub max_posts: f64,
}

impl StepWindow {
    /// The planner's: an hour, 600 to 50,000 posts.
    pub const HOUR: StepWindow = StepWindow {
        seconds: WINDOW_S,
        min_posts: MIN_STEP_POSTS,
        max_posts: MAX_STEP_POSTS,
    };
    /// The live run's: 10 modelled minutes (30 s of real time at `--time-scale 20`), 300 to
    /// 6,000 posts. 300 posts judge a p95 to within the 92nd to 98th percentile at 95 %
    /// confidence (the 95th percentile's rank 285 ± 1.96 × √(300 × 0.95 × 0.05) = ± 7.4, so
    /// ranks 278 to 292 of 300); the full bucket a client meets first, one minute of the
    /// tier's limits, may lift an answer by up to 60 / 600 = 10 %, the same for the planner
    /// beside it, which runs these windows too.
    pub const LIVE: StepWindow = StepWindow {
        seconds: 600.0,
        min_posts: 300.0,
        max_posts: 6_000.0,
    };

    /// The lowest rate a live search tries: where `min_posts` take four times `seconds`
    /// (0.125 posts/s for [`StepWindow::LIVE`], a step of 40 modelled minutes).
    pub fn floor_per_s(&self) -> f64 {
        self.min_posts / (4.0 * self.seconds)
    }

    pub fn at(&self, per_s: f64) -> f64 {
        self.seconds
            .max(self.min_posts / per_s)
            .min(self.max_posts / per_s)
    }

    /// "10 min a step (300 to 6,000 posts)".
    pub fn words(&self) -> String {
        let t = if self.seconds >= 3_600.0 && self.seconds % 3_600.0 == 0.0 {
            format!("{} h", self.seconds / 3_600.0)
        } else if self.seconds >= 60.0 && self.seconds % 60.0 == 0.0 {
            format!("{} min", self.seconds / 60.0)
        } else {
            format!("{} s", self.seconds)
        };
        format!(
            "{t} a step ({} to {} posts)",
            crate::limits::num(self.min_posts),
            crate::limits::num(self.max_posts)
        )
    }
}

/// The highest rate `model` sustains at `tier` with the first client of the spec, the target
/// and design of the spec, by simulation, each step [`window_s`] long.
pub fn find_rate(
    catalog: &Catalog,
    spec: &PlanSpec,
    model: &str,
    tier: u8,
) -> Result<RateAnswer, PlanError> {
    find_rate_windowed(catalog, spec, model, tier, &StepWindow::HOUR)
}

/// What a rate search at `tier` needs of the catalog: the tier's limits for `model` and about
/// how many tokens a post reserves and how many calls it makes.
pub struct Demand {
    pub limits: Limits,
    pub reserved_per_post: f64,
    pub calls_per_post: f64,
}

impl Demand {
    pub fn of(
        catalog: &Catalog,
        spec: &PlanSpec,
        model: &str,
        tier: u8,
    ) -> Result<Self, PlanError> {
        let limits = catalog
            .limits(&spec.tier_set, tier, model)
            .map_err(|m| PlanError(format!("--tier: {m}")))?
            .ok_or_else(|| PlanError(format!("no limits for `{model}` at tier {tier}")))?;
        let (reserved, calls) = per_post(&spec.design.shape(super::post_shape(model, spec)));
        Ok(Self {
            limits,
            reserved_per_post: reserved,
            calls_per_post: calls,
        })
    }

    /// The highest rate worth trying in steps of `window`: past four times the lower of the
    /// two limits' rates (at the reservation's upper estimate), lifted by the full bucket a
    /// step meets first (a minute of the limits over the step), a step can only fail on 429s.
    pub fn ceiling_per_s(&self, window: &StepWindow) -> f64 {
        let l = &self.limits;
        (4.0 * (1.0 + 60.0 / window.seconds)
            * (l.tpm as f64 / self.reserved_per_post.max(1.0))
                .min(l.rpm as f64 / self.calls_per_post.max(1.0))
            / 60.0)
            .max(MIN_PER_S)
    }

    /// What limits the rate at `failing` ([`limit_of`]).
    pub fn limit(&self, failing: Option<&RateStep>) -> RateLimit {
        limit_of(
            failing,
            self.limits,
            self.reserved_per_post,
            self.calls_per_post,
        )
    }
}

/// [`find_rate`] with each step at `per_s` lasting `window.at(per_s)` modelled seconds (the
/// live run's steps are shorter than an hour; the planner beside it answers for the same
/// windows).
pub fn find_rate_windowed(
    catalog: &Catalog,
    spec: &PlanSpec,
    model: &str,
    tier: u8,
    window: &StepWindow,
) -> Result<RateAnswer, PlanError> {
    let strategy = spec.strategies.first().copied().unwrap_or(Strategy::Sdk);
    let demand = Demand::of(catalog, spec, model, tier)?;
    let step = |per_s: f64| {
        let window = window.at(per_s);
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
        Ok(RateStep::judged(
            per_s,
            window,
            m.posts.total,
            m.posts.success_share(),
            p95_ms.map(|ms| ms / 1000.0),
            m.calls.http_429,
            &spec.target,
        ))
    };
    let (lo, hi, steps) = search(step, demand.ceiling_per_s(window))?;
    Ok(answer(model, tier, strategy, &demand, (lo, hi, steps)))
}

/// The answer of a finished search.
pub fn answer(
    model: &str,
    tier: u8,
    strategy: Strategy,
    demand: &Demand,
    (lo, hi, steps): Searched,
) -> RateAnswer {
    let failing = hi.and_then(|h| steps.iter().find(|s| s.per_s == h));
    let found = lo.and_then(|l| steps.iter().find(|s| s.per_s == l));
    RateAnswer {
        model: model.to_string(),
        tier,
        strategy,
        highest_per_s: lo,
        failing_per_s: hi,
        limit: demand.limit(failing),
        first_minute_lift: found.map_or(0.0, |s| 60.0 / s.window_s),
        steps,
    }
}

impl RateStep {
    /// A step judged against `target`: it holds when it had posts, enough of them succeeded,
    /// and the p95 is within the target.
    pub fn judged(
        per_s: f64,
        window_s: f64,
        posts: u64,
        success: f64,
        p95_s: Option<f64>,
        http_429: u64,
        target: &super::Goal,
    ) -> Self {
        Self {
            per_s,
            window_s,
            posts,
            success,
            p95_s,
            http_429,
            meets: posts > 0
                && success >= target.min_success
                && p95_s.is_some_and(|p| p <= target.p95_s),
            goodput: None,
            late_sends: None,
        }
    }
}

#[cfg(test)]
mod tests;
