//! `postload plan`: capacity planning by simulation. [`sim`] is the discrete-event engine; this
//! module runs it over a grid of models × tiers × users × client strategies, judges each cell
//! against a target (p95 and success rate), finds the lowest tier that meets it, shows what the
//! note's caching advice changes, and sets the note's monthly table beside the modelled one.
//! Pure: the caller gives the catalog and gets plain data back.

pub mod account;
pub mod bound;
mod cells;
mod check;
pub mod claims;
pub mod decision;
pub mod levers;
pub mod queue;
pub mod rate;
pub mod sim;
pub mod trace;

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use self::cells::{CachingEffect, CachingRow, Cell, MonthlyRow, Recommendation};
pub use self::check::check;
pub use self::claims::monthly_table;
pub use self::levers::Design;
use self::sim::{PostShape, SimExtra, SimInput, Strategy};
pub use self::trace::PlanTrace;
use crate::claims::{ClaimVerdict, ClaimsFile};
use crate::metrics::cost::DAYS_PER_MONTH;
use crate::openai::bucket::{Limits, RejectedCost};
use crate::openai::catalog::provenance::ProfileInfo;
use crate::openai::catalog::Catalog;
use crate::openai::reasoning::Effort;
use crate::scenario::prompts::{PostRequests, OWN_IMAGE_PROMPT_TOKENS};
use crate::scenario::Prompts;

/// What to plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanSpec {
    pub models: Vec<String>,
    pub tier_set: String,
    pub tiers: Vec<u8>,
    pub users: Vec<u32>,
    pub strategies: Vec<Strategy>,
    /// `None`: every user posts once, all at once (a burst). `Some(n)`: each user posts `n` times
    /// a day, over `days`, following the daily curve.
    pub posts_per_user_per_day: Option<f64>,
    pub days: f64,
    pub curve: Vec<f64>,
    pub prompts: Prompts,
    pub image_prompt_share: f64,
    pub response_cache_hit: f64,
    pub prompt_cache_hit: f64,
    pub target: Goal,
    pub seed: u64,
    /// Serve every call in this many ms instead of the model's profile (as `--latency-ms`).
    #[serde(default)]
    pub fixed_latency_ms: Option<u64>,
    /// The design every cell of the grid runs (`--lever`); the default is the note's feature.
    #[serde(default)]
    pub design: Design,
    /// Each model's prompt-cache share where they differ, taken from their latency profiles
    /// when `--prompt-cache-hit` is not given; a model not listed has `prompt_cache_hit`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prompt_cache_hit_by_model: BTreeMap<String, f64>,
    /// When the tier set is a calibrated account's upgrade path: the account's tier in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<account::AccountTier>,
    /// `--trace`: every cell simulates this trace's arrivals (`users` is then `[1]`, the
    /// trace, and `posts_per_user_per_day` its posts a day).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<PlanTrace>,
    /// `--find-rate`: also search each model × tier for the highest rate of posts the target
    /// holds at ([`rate`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub find_rate: bool,
}

impl PlanSpec {
    /// Takes the models' profiles' `prompt_cache_hit` shares (a plan given no
    /// `--prompt-cache-hit`): one share for all when they agree, else each model's own.
    pub fn take_profile_prompt_cache_hits(&mut self, catalog: &Catalog) {
        let shares: BTreeMap<String, f64> = self
            .models
            .iter()
            .map(|m| (m.clone(), catalog.prompt_cache_hit(m)))
            .collect();
        let first = shares.values().next().copied().unwrap_or(0.0);
        if shares.values().all(|s| *s == first) {
            self.prompt_cache_hit = first;
        } else {
            self.prompt_cache_hit_by_model = shares;
        }
    }

    /// The share of `model`'s eligible calls that hit OpenAI's prompt cache.
    pub fn prompt_cache_hit_of(&self, model: &str) -> f64 {
        self.prompt_cache_hit_by_model
            .get(model)
            .copied()
            .unwrap_or(self.prompt_cache_hit)
    }
}

impl Default for PlanSpec {
    /// `postload plan`'s defaults: gpt-4o and gpt-4o-mini, Tiers 1-5 of openai-2025, 50 and 100
    /// users at once, SDK retries and a client queue, p95 ≤ 5 s with no failed post.
    fn default() -> Self {
        Self {
            models: vec!["gpt-4o".into(), "gpt-4o-mini".into()],
            tier_set: "openai-2025".into(),
            tiers: vec![1, 2, 3, 4, 5],
            users: vec![50, 100],
            strategies: vec![Strategy::Sdk, Strategy::Queue],
            posts_per_user_per_day: None,
            days: 1.0,
            curve: sim::BUSINESS_DAY.to_vec(),
            prompts: Prompts::default(),
            image_prompt_share: 0.0,
            response_cache_hit: 0.0,
            prompt_cache_hit: 0.0,
            target: Goal {
                p95_s: 5.0,
                min_success: 1.0,
            },
            seed: 0,
            fixed_latency_ms: None,
            design: Design::default(),
            prompt_cache_hit_by_model: BTreeMap::new(),
            account: None,
            trace: None,
            find_rate: false,
        }
    }
}

/// The planner's goal for a cell: what "meets the target" means.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Goal {
    /// p95 of successful posts at most this many seconds.
    pub p95_s: f64,
    /// At least this share of posts succeed (1.0: no failed post).
    pub min_success: f64,
}

/// Everything `postload plan` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanResult {
    pub schema: String,
    /// The answer first: per model × users, whether the target holds as designed, else the
    /// cheapest change that does; and what each tier step changes.
    #[serde(default)]
    pub decision: decision::Decision,
    pub spec: PlanSpec,
    pub cells: Vec<Cell>,
    pub recommendations: Vec<Recommendation>,
    pub caching: Vec<CachingEffect>,
    pub monthly: Vec<MonthlyRow>,
    /// The claims the planner settles (caching, queuing), judged on its cells.
    #[serde(default)]
    pub claims: Vec<ClaimVerdict>,
    /// What makes the target hold: the design levers searched (or the one `--lever` named).
    #[serde(default)]
    pub levers: levers::LeverSearch,
    /// The data behind the model, with dates.
    pub tiers_as_of: String,
    pub prices_as_of: String,
    /// Where the tier set came from: `shipped`, or the `--mocks` folder's tiers.toml.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub tiers_from: String,
    /// Each planned model's latency profile, with its date, source and origin.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub latency_profiles: BTreeMap<String, ProfileInfo>,
    /// `--find-rate`: the highest sustainable rate per model × tier.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub find_rate: Vec<rate::RateAnswer>,
}

pub const PLAN_SCHEMA: &str = "postload.plan.v1";

/// A planning input was wrong (the message names the option).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Posts one cell of the plan may simulate.
pub const MAX_PLAN_POSTS: f64 = 1_000_000.0;

/// Posts a day per user a burst's monthly figures assume: the note's middle case.
pub const BURST_POSTS_PER_DAY: f64 = 5.0;

/// Posts per day of `users` at the spec's load (a burst: the note's middle case, 5 a day).
fn posts_per_day(spec: &PlanSpec, users: u32) -> f64 {
    users as f64 * spec.posts_per_user_per_day.unwrap_or(BURST_POSTS_PER_DAY)
}

/// The calls of a post as the run sends them: the same prompt text, sized with the same
/// tokenizer.
///
/// Memoized per (model, prompt sizes) for the process: the default plan simulates about 4,000
/// cells and lever seeds (40 grid cells, 656 designs × 6 seeds, the caching table), each of which
/// needs the shape, and a shape is the prompts' text tokenized: `cargo bench --bench plan --
/// shape` measures one uncached against one memoized (docs/benchmarks.md: 25.8 ms against
/// 0.06 µs on 2026-12-06, so about 100 s of tokenizing per plan without it). A process-wide table
/// rather than state handed down, because every entry is a pure function of its key: no caller
/// can see a stale or another plan's entry, and `plan --validate` and the tests share it freely.
pub fn post_shape(model: &str, spec: &PlanSpec) -> PostShape {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (String, crate::scenario::Prompts);
    static SHAPES: OnceLock<Mutex<HashMap<Key, (u32, u32)>>> = OnceLock::new();
    let table = || {
        SHAPES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    };
    let key = (model.to_string(), spec.prompts);
    let cached = table().get(&key).copied();
    let (image, caption_base) = cached.unwrap_or_else(|| {
        let sizes = shape_sizes(model, spec.prompts);
        table().insert(key, sizes);
        sizes
    });
    PostShape {
        image_prompt_tokens: image,
        image_max_tokens: spec.prompts.image_prompt.max_tokens,
        caption_base_tokens: caption_base,
        caption_max_tokens: spec.prompts.caption.max_tokens,
        image_prompt_share: spec.image_prompt_share,
        own_image_prompt_tokens: OWN_IMAGE_PROMPT_TOKENS,
    }
}

/// A post's image-prompt and caption-base prompt tokens, tokenized (not memoized).
pub fn shape_sizes(model: &str, prompts: crate::scenario::Prompts) -> (u32, u32) {
    let plan = PostRequests::new(model, prompts);
    let v = plan.variant(0);
    (v.image_prompt_tokens, v.caption_base_tokens)
}

/// Where a cell sits in the grid: model, tier, load and client, with the cache hit ratios it
/// runs at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CellSpec<'a> {
    pub model: &'a str,
    pub tier: u8,
    pub users: u32,
    pub strategy: Strategy,
    pub response_cache_hit: f64,
    pub prompt_cache_hit: f64,
    /// The feature's design levers (parallel calls, output caps, supplied image prompts).
    pub design: Design,
}

impl<'a> CellSpec<'a> {
    /// The cell at `model`, `tier`, `users`, `strategy`, with the spec's cache hit ratios.
    fn of(spec: &PlanSpec, model: &'a str, tier: u8, users: u32, strategy: Strategy) -> Self {
        Self::designed(spec, model, tier, users, strategy, spec.design)
    }

    /// The same cell running `design` (its response cache, if it sets one, over the spec's).
    pub(crate) fn designed(
        spec: &PlanSpec,
        model: &'a str,
        tier: u8,
        users: u32,
        strategy: Strategy,
        design: Design,
    ) -> Self {
        Self {
            model,
            tier,
            users,
            strategy,
            response_cache_hit: design.response_cache_hit.unwrap_or(spec.response_cache_hit),
            prompt_cache_hit: spec.prompt_cache_hit_of(model),
            design,
        }
    }
}

/// One cell's simulation, measured as a live case is, with what only the planner records.
pub struct Simulated {
    pub measured: crate::metrics::Measured,
    pub extra: SimExtra,
    pub limits: Limits,
    /// Each successful post's time to its caption's first token (a streamed caption), in ms.
    pub first_caption_token_ms: crate::metrics::Percentiles,
}

/// One cell's simulation.
pub fn simulate_cell(catalog: &Catalog, spec: &PlanSpec, at: CellSpec) -> Result<Cell, PlanError> {
    let sim = simulate_measured(catalog, spec, at)?;
    Ok(cell(spec, at, sim.limits, &sim.measured, sim.extra))
}

/// One cell's simulation, measured as a live case is (histograms included), with the tier's
/// limits.
pub fn simulate_measured(
    catalog: &Catalog,
    spec: &PlanSpec,
    at: CellSpec,
) -> Result<Simulated, PlanError> {
    let CellSpec {
        model,
        tier,
        users,
        strategy,
        response_cache_hit,
        prompt_cache_hit,
        design,
    } = at;
    let entry = catalog
        .model(model)
        .ok_or_else(|| PlanError(format!("--model: unknown model `{model}`")))?;
    let limits = catalog
        .limits(&spec.tier_set, tier, model)
        .map_err(|m| PlanError(format!("--tier: {m}")))?
        .ok_or_else(|| PlanError(format!("no limits for `{model}` at tier {tier}")))?;
    let profile = match spec.fixed_latency_ms {
        Some(ms) => catalog.fixed_profile(Duration::from_millis(ms)),
        None => catalog.profiles[&entry.profile].clone(),
    };
    let shape = design.shape(post_shape(model, spec));
    let arrivals = trace::arrivals(spec, users)?;
    let input = SimInput {
        limits,
        rejected_cost: RejectedCost::Request,
        profile,
        shape,
        arrivals,
        strategy,
        response_cache_hit,
        response_cache_latency: Duration::from_millis(5),
        prompt_cache_hit,
        parallel: design.parallel,
        request_timeout: sim::REQUEST_TIMEOUT,
        seed: spec.seed,
        reasoning: design
            .effort
            .filter(|_| catalog.reasoning(model).is_some())
            .or_else(|| planned_effort(catalog, model))
            .and_then(|e| catalog.reasoning_tokens(model, e)),
    };
    let out = sim::run(&input);
    let price = catalog.prices.models.get(model);
    let measured = out.recorder.summarize(price, users as u64);
    Ok(Simulated {
        first_caption_token_ms: measured.first_caption_token_ms.unwrap_or_default(),
        measured,
        extra: out.extra,
        limits,
    })
}

fn cell(
    spec: &PlanSpec,
    at: CellSpec,
    limits: Limits,
    m: &crate::metrics::Measured,
    extra: SimExtra,
) -> Cell {
    let CellSpec {
        model,
        tier,
        users,
        strategy,
        ..
    } = at;
    let posts = m.posts.total;
    let success = m.posts.success_share();
    let s = |v: Option<f64>| v.map(|ms| ms / 1000.0);
    let p95 = s(m.post_latency_ms.ok.p95);
    let per_post = m.cost.as_ref().and_then(|c| c.per_ok_post_usd);
    let meets = success >= spec.target.min_success && p95.is_some_and(|p| p <= spec.target.p95_s);
    Cell {
        model: model.to_string(),
        tier,
        tpm: limits.tpm,
        rpm: limits.rpm,
        users,
        strategy,
        posts,
        success,
        p50_s: s(m.post_latency_ms.ok.p50),
        p95_s: p95,
        p99_s: s(m.post_latency_ms.ok.p99),
        makespan_s: m.makespan_ms / 1000.0,
        http_429: m.calls.http_429,
        wasted_tokens: extra.wasted_tokens,
        wasted_usd: m.cost.as_ref().and_then(|c| c.wasted_usd),
        rejected_reserved_tokens: m.calls.rejected_reserved_tokens,
        tokens_per_post: m.tokens.per_ok_post.unwrap_or(0.0),
        cached_tokens: m.tokens.total.cached,
        usd_per_post: per_post,
        // monthly_usd's figure, multiplied as $/post × posts/day × 30: a different order rounds
        // differently in the last digit (2.22048 becomes 2.2204800000000002 in the caching
        // table), and plan.json stays byte-identical while this order stands.
        usd_per_month: per_post.map(|p| p * posts_per_day(spec, users) * DAYS_PER_MONTH),
        meets_target: meets,
        response_cache_hits: extra.response_cache_hits,
        events: extra.events,
    }
}

/// Runs the whole plan. `measured` maps a model to the $ per successful post a run measured
/// (`--result`).
pub fn plan(
    catalog: &Catalog,
    spec: &PlanSpec,
    claims: &ClaimsFile,
    measured: &std::collections::BTreeMap<String, f64>,
) -> Result<PlanResult, PlanError> {
    check(spec, catalog)?;
    let cells = grid(catalog, spec)?;
    let recommendations = recommendations(spec, &cells);
    let caching = caching(catalog, spec)?;
    let monthly = monthly_table(claims, &cells, measured);
    let designs = if spec.design == Design::default() {
        Design::grid()
    } else {
        vec![spec.design]
    };
    let levers = levers::search(catalog, spec, &designs)?;
    let decision = decision::decide(catalog, spec, &cells, &levers);
    let mut result = PlanResult {
        schema: PLAN_SCHEMA.into(),
        decision,
        spec: spec.clone(),
        cells,
        recommendations,
        caching,
        monthly,
        claims: Vec::new(),
        levers,
        tiers_as_of: catalog
            .tier_sets
            .get(&spec.tier_set)
            .map(|s| format!("{} ({})", s.as_of, s.source))
            .unwrap_or_default(),
        prices_as_of: format!("{} ({})", catalog.prices.as_of, catalog.prices.source),
        tiers_from: ProfileInfo::tier_set(catalog, &spec.tier_set)
            .map(|s| s.from)
            .unwrap_or_default(),
        latency_profiles: latency_profiles(catalog, spec),
        find_rate: Vec::new(),
    };
    if spec.find_rate {
        for model in &spec.models {
            for &tier in &spec.tiers {
                result
                    .find_rate
                    .push(rate::find_rate(catalog, spec, model, tier)?);
            }
        }
    }
    result.claims = self::claims::judge(claims, &result);
    Ok(result)
}

/// The reasoning effort a reasoning model is planned at: the one OpenAI gives a request that
/// names none (the note's service names none), so the plan reflects the design as it calls.
/// `None` for a model that does not reason.
pub fn planned_effort(catalog: &Catalog, model: &str) -> Option<Effort> {
    catalog.reasoning(model).map(|r| r.default_effort)
}

/// The latency profile each planned model draws from (as the run names a fixed latency), with
/// the effort a reasoning model is planned at.
fn latency_profiles(catalog: &Catalog, spec: &PlanSpec) -> BTreeMap<String, ProfileInfo> {
    spec.models
        .iter()
        .filter_map(|m| {
            let mut profile = match spec.fixed_latency_ms {
                Some(ms) => ProfileInfo::fixed(ms.into()),
                None => ProfileInfo::latency_profile(catalog, &catalog.model(m)?.profile)?,
            };
            if let Some(e) = planned_effort(catalog, m) {
                profile.name = format!("{} at reasoning effort {e}", profile.name);
            }
            Some((m.clone(), profile))
        })
        .collect()
}

/// Every cell of the grid, in the order model, users, strategy, tier.
fn grid(catalog: &Catalog, spec: &PlanSpec) -> Result<Vec<Cell>, PlanError> {
    let mut cells = Vec::new();
    for model in &spec.models {
        for &users in &spec.users {
            for &strategy in &spec.strategies {
                for &tier in &spec.tiers {
                    let at = CellSpec::of(spec, model, tier, users, strategy);
                    cells.push(simulate_cell(catalog, spec, at)?);
                }
            }
        }
    }
    Ok(cells)
}

/// For each model, user count and strategy, the lowest tier of `cells` that meets the target.
fn recommendations(spec: &PlanSpec, cells: &[Cell]) -> Vec<Recommendation> {
    let mut recommendations = Vec::new();
    for model in &spec.models {
        for &users in &spec.users {
            for &strategy in &spec.strategies {
                let best = cells
                    .iter()
                    .filter(|c| {
                        &c.model == model
                            && c.users == users
                            && c.strategy == strategy
                            && c.meets_target
                    })
                    .min_by_key(|c| c.tier);
                recommendations.push(Recommendation {
                    model: model.clone(),
                    users,
                    strategy,
                    lowest_tier: best.map(|c| c.tier),
                    usd_per_month: best.and_then(|c| c.usd_per_month),
                });
            }
        }
    }
    recommendations
}

/// Caching: the note's response cache (30 % hits unless given) and OpenAI's prompt caching
/// (every eligible call hits unless given), against neither, at the two lowest tiers, for the
/// first user count with SDK retries.
fn caching(catalog: &Catalog, spec: &PlanSpec) -> Result<Vec<CachingEffect>, PlanError> {
    let rc = if spec.response_cache_hit > 0.0 {
        spec.response_cache_hit
    } else {
        0.3
    };
    let mut caching = Vec::new();
    let users = spec.users[0];
    for model in &spec.models {
        let pc = match spec.prompt_cache_hit_of(model) {
            given if given > 0.0 => given,
            _ => 1.0,
        };
        for &tier in spec.tiers.iter().take(2) {
            let mut rows = Vec::new();
            for (label, r, p) in [
                ("no caching", 0.0, 0.0),
                ("response cache", rc, 0.0),
                ("prompt caching", 0.0, pc),
                ("both", rc, pc),
            ] {
                let at = CellSpec {
                    model,
                    tier,
                    users,
                    strategy: Strategy::Sdk,
                    response_cache_hit: r,
                    prompt_cache_hit: p,
                    design: spec.design,
                };
                let c = simulate_cell(catalog, spec, at)?;
                rows.push(CachingRow {
                    label: label.into(),
                    response_cache_hit: r,
                    prompt_cache_hit: p,
                    http_429: c.http_429,
                    success: c.success,
                    usd_per_month: c.usd_per_month,
                });
            }
            caching.push(CachingEffect {
                model: model.clone(),
                users,
                tier,
                rows,
            });
        }
    }
    Ok(caching)
}

#[cfg(test)]
mod tests;
