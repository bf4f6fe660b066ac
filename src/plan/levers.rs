//! Design levers: what a team can change in the feature besides model, tier and client (the
//! calls at once, a streamed caption, shorter outputs, supplied image prompts, a response
//! cache), and the search over their combinations for the ones that make the target hold,
//! fewest changes first, then the cheapest, each with an interval over seeds. Pure.

use serde::{Deserialize, Serialize};

use super::sim::{PostShape, Strategy};
use super::{simulate_measured, CellSpec, PlanError, PlanSpec};
use crate::openai::catalog::Catalog;
use crate::openai::reasoning::Effort;

/// A design of the feature. `Default` is the note's: two sequential calls, the caption shown
/// whole, the scenario's output caps, no supplied image prompts, no response cache.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Design {
    /// The caption call goes beside the image-prompt call (its prompt then lacks the image
    /// prompt); the post takes as long as the slower call.
    #[serde(default)]
    pub parallel: bool,
    /// The caption streams to the user: the latency that matters is the time to its first
    /// token (modelled from the time-to-first-token draw), not the whole post.
    #[serde(default)]
    pub stream_caption: bool,
    /// The caption's `max_tokens`, if changed.
    #[serde(default)]
    pub caption_max_tokens: Option<u32>,
    /// The image prompt's `max_tokens`, if changed.
    #[serde(default)]
    pub image_max_tokens: Option<u32>,
    /// Share of posts whose request brings its image prompt (one call), if changed.
    #[serde(default)]
    pub image_prompt_share: Option<f64>,
    /// Share of posts the service answers from a response cache, if changed (an assumption:
    /// only the service's traffic can tell it).
    #[serde(default)]
    pub response_cache_hit: Option<f64>,
    /// A reasoning model's `reasoning_effort`, if changed from its default (the search tries the
    /// lowest it takes; never set for a model that does not reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effort: Option<Effort>,
}

/// The values the search tries for each lever beside "unchanged".
pub const SEARCH_CAPTION_MAX_TOKENS: u32 = 120;
pub const SEARCH_IMAGE_MAX_TOKENS: u32 = 100;
pub const SEARCH_IMAGE_PROMPT_SHARE: f64 = 0.5;
pub const SEARCH_RESPONSE_CACHE_HIT: f64 = 0.3;

impl Design {
    /// The post's calls under this design.
    pub fn shape(&self, mut shape: PostShape) -> PostShape {
        if let Some(m) = self.caption_max_tokens {
            shape.caption_max_tokens = m;
        }
        if let Some(m) = self.image_max_tokens {
            shape.image_max_tokens = m;
        }
        if let Some(s) = self.image_prompt_share {
            shape.image_prompt_share = s;
        }
        shape
    }

    /// Applies one `--lever` (`parallel`, `stream`, `caption-max-tokens=N`,
    /// `image-max-tokens=N`, `image-prompt-share=S`, `cache-hit=S`).
    pub fn apply(&mut self, lever: &str) -> Result<(), String> {
        let (name, value) = match lever.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim())),
            None => (lever.trim(), None),
        };
        let tokens = |v: Option<&str>| -> Result<u32, String> {
            let v = v.ok_or_else(|| format!("--lever {name}: give a value, e.g. {name}=120"))?;
            match v.parse::<u32>() {
                Ok(n) if (1..=16_384).contains(&n) => Ok(n),
                _ => Err(format!("--lever {name}={v}: a token count from 1 to 16384")),
            }
        };
        let share = |v: Option<&str>| -> Result<f64, String> {
            let v = v.ok_or_else(|| format!("--lever {name}: give a share, e.g. {name}=0.5"))?;
            // The one share parser: `50%` or `0.5`; a bare `50` says what to write.
            match crate::share::parse(v) {
                Ok(s) if (0.0..=1.0).contains(&s) => Ok(s),
                Ok(_) => Err(format!("--lever {name}={v}: a share from 0 to 1")),
                Err(e) => Err(format!("--lever {name}={v}: a share from 0 to 1: {e}")),
            }
        };
        let flag = |v: Option<&str>| match v {
            None => Ok(()),
            Some(v) => Err(format!("--lever {name}={v}: `{name}` takes no value")),
        };
        match name {
            "parallel" => flag(value).map(|()| self.parallel = true),
            "stream" => flag(value).map(|()| self.stream_caption = true),
            "caption-max-tokens" => tokens(value).map(|n| self.caption_max_tokens = Some(n)),
            "image-max-tokens" => tokens(value).map(|n| self.image_max_tokens = Some(n)),
            "image-prompt-share" => share(value).map(|s| self.image_prompt_share = Some(s)),
            "cache-hit" => share(value).map(|s| self.response_cache_hit = Some(s)),
            "effort" => {
                let v = value.ok_or_else(|| {
                    format!("--lever {name}: give an effort, e.g. {name}=minimal")
                })?;
                Effort::parse(v)
                    .map(|e| self.effort = Some(e))
                    .ok_or_else(|| {
                        format!(
                            "--lever {name}={v}: one of {}",
                            Effort::ALL.map(Effort::as_str).join(", ")
                        )
                    })
            }
            _ => Err(format!(
                "--lever {lever}: unknown lever (parallel, stream, caption-max-tokens=N, \
                 image-max-tokens=N, image-prompt-share=S, cache-hit=S, effort=E)"
            )),
        }
    }

    /// The levers this design pulls, in words.
    pub fn changes(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.parallel {
            out.push("parallel calls".to_string());
        }
        if self.stream_caption {
            out.push("streamed caption".to_string());
        }
        if let Some(m) = self.caption_max_tokens {
            out.push(format!("caption max_tokens {m}"));
        }
        if let Some(m) = self.image_max_tokens {
            out.push(format!("image prompt max_tokens {m}"));
        }
        if let Some(s) = self.image_prompt_share {
            out.push(format!("{:.0} % bring an image prompt", s * 100.0));
        }
        if let Some(s) = self.response_cache_hit {
            out.push(format!("response cache {:.0} % (assumed)", s * 100.0));
        }
        if let Some(e) = self.effort {
            out.push(format!("reasoning effort {e}"));
        }
        out
    }

    /// A named effort: some model must reason, and each that does must take it.
    pub fn check_effort(&self, catalog: &Catalog, models: &[String]) -> Result<(), String> {
        let Some(effort) = self.effort else {
            return Ok(());
        };
        let reasoning: Vec<_> = models
            .iter()
            .filter_map(|m| catalog.reasoning(m).map(|r| (m, r)))
            .collect();
        if reasoning.is_empty() {
            return Err(format!(
                "--lever effort={effort}: none of the models planned reasons ({})",
                models.join(", ")
            ));
        }
        for (m, r) in reasoning {
            if !r.efforts.contains(&effort) {
                let takes: Vec<&str> = r.efforts.iter().map(|e| e.as_str()).collect();
                return Err(format!(
                    "--lever effort={effort}: `{m}` takes {}",
                    takes.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The designs searched for `model`: `designs` as given for a model that does not reason
    /// (and without an effort, which it could not take); for one that does, each also at the
    /// lowest effort it takes, when that is not its default (the effort lever's one search
    /// value, as each other lever has one).
    pub fn for_model(designs: &[Design], catalog: &Catalog, model: &str) -> Vec<Design> {
        let Some(r) = catalog.reasoning(model) else {
            return designs
                .iter()
                .map(|d| Design { effort: None, ..*d })
                .collect();
        };
        let lowest = r
            .efforts
            .iter()
            .copied()
            .min()
            .filter(|e| *e != r.default_effort);
        let mut out = designs.to_vec();
        if let Some(low) = lowest {
            out.extend(
                designs
                    .iter()
                    .filter(|d| d.effort.is_none())
                    .map(|d| Design {
                        effort: Some(low),
                        ..*d
                    }),
            );
        }
        out
    }

    /// Whether this design rests on a lever value nobody measured: one the search assumed
    /// (a response-cache hit share) rather than one the user `given` (`--lever`, `--response-cache-hit`).
    /// A model-switch lever would be modelled (the catalog's profile), so it never assumes.
    pub fn assumes(&self, given: &Design) -> bool {
        self.response_cache_hit.is_some() && self.response_cache_hit != given.response_cache_hit
    }

    /// Every design the search tries: each lever unchanged or at its search value (streaming
    /// is judged on the same simulation, so it is not a separate design here).
    pub fn grid() -> Vec<Design> {
        let mut out = Vec::new();
        for bits in 0u32..32 {
            let on = |i: u32| bits & (1 << i) != 0;
            out.push(Design {
                parallel: on(0),
                stream_caption: false,
                caption_max_tokens: on(1).then_some(SEARCH_CAPTION_MAX_TOKENS),
                image_max_tokens: on(2).then_some(SEARCH_IMAGE_MAX_TOKENS),
                image_prompt_share: on(3).then_some(SEARCH_IMAGE_PROMPT_SHARE),
                response_cache_hit: on(4).then_some(SEARCH_RESPONSE_CACHE_HIT),
                effort: None,
            });
        }
        out
    }
}

/// One evaluated combination: a design at its lowest tier tried that loses no post to 429s
/// (or the highest tier tried), with a client strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeverRow {
    pub model: String,
    pub users: u32,
    pub tier: u8,
    pub strategy: Strategy,
    pub design: Design,
    /// Levers pulled (a client queue counts as one).
    pub changes: u32,
    /// `post` (the whole post) or `first_caption_token` (a streamed caption).
    pub metric: String,
    /// The median seed's p50 and p95 of the metric, in seconds.
    pub p50_s: Option<f64>,
    pub p95_s: Option<f64>,
    /// The lowest and highest p95 over the seeds (`seeds` of them): with 6 seeds, a 97 %
    /// interval for the median burst's p95 (`p95_s`).
    #[serde(default)]
    pub p95_interval_s: Option<(f64, f64)>,
    #[serde(default)]
    pub seeds: u32,
    /// Means over the seeds (429s per burst, rounded down).
    pub success: f64,
    pub http_429: u64,
    pub usd_per_post: Option<f64>,
    pub usd_per_month: Option<f64>,
    pub meets_target: bool,
}

impl LeverRow {
    /// Within the interval the target sits: it holds on some seeds, not on others.
    pub fn marginal(&self, target_s: f64) -> bool {
        self.p95_interval_s
            .is_some_and(|(lo, hi)| lo <= target_s && target_s < hi)
    }

    pub fn changes_text(&self) -> String {
        let mut c = self.design.changes();
        if self.strategy == Strategy::Queue {
            c.push("client queue".into());
        }
        if c.is_empty() {
            "none (the note's design)".into()
        } else {
            c.join(" + ")
        }
    }
}

/// For one model and user count: the combinations that meet the target (best first), or the
/// closest one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeverAnswer {
    pub model: String,
    pub users: u32,
    /// How many evaluated combinations meet the target.
    pub holding: u32,
    pub evaluated: u32,
    /// The best few that hold: fewest changes, then those that hold on every seed before the
    /// marginal ones, then lowest $/month, then lowest tier.
    pub best: Vec<LeverRow>,
    /// When the best is marginal: the best that holds on every seed, if any does.
    #[serde(default)]
    pub robust: Option<LeverRow>,
    /// When none holds: the one whose p95 misses by least (among those losing no post, if any).
    pub closest: Option<LeverRow>,
    /// When one holds: of the combinations that do not, with no more changes than the best,
    /// the one that misses by least (what the best's extra change buys).
    #[serde(default)]
    pub near_miss: Option<LeverRow>,
    /// The best that holds only on an assumed figure (a response-cache share nobody measured),
    /// shown apart: `best`, `robust`, `closest` and `near_miss` never rest on one.
    #[serde(default)]
    pub assumed: Option<LeverRow>,
    /// Whether any combination without a streamed caption holds.
    pub holds_without_streaming: bool,
}

/// The lever search: every combination evaluated, and an answer per model × users.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LeverSearch {
    pub answers: Vec<LeverAnswer>,
    pub evaluated: Vec<LeverRow>,
}

/// Seeds each combination is simulated over: its p95 is the median seed's, its interval the
/// lowest and highest seed's.
pub const SEEDS: u64 = 6;
/// Rows an answer shows.
pub const BEST_SHOWN: usize = 3;

/// Searches `designs` (the grid, or one design the user named) for each model × users of the
/// spec: at each strategy, the tiers from the lowest until one loses no post to 429s (a higher
/// tier cannot change a burst that no limit touched), each judged whole and streamed.
pub fn search(
    catalog: &Catalog,
    spec: &PlanSpec,
    designs: &[Design],
) -> Result<LeverSearch, PlanError> {
    let mut out = LeverSearch::default();
    let mut tiers = spec.tiers.clone();
    tiers.sort_unstable();
    for model in &spec.models {
        for &users in &spec.users {
            let mut rows = Vec::new();
            let searched = if designs.len() > 1 {
                Design::for_model(designs, catalog, model)
            } else {
                designs.to_vec()
            };
            for design in &searched {
                for &strategy in &spec.strategies {
                    for &tier in &tiers {
                        let (whole, streamed, clean) =
                            evaluate(catalog, spec, model, users, tier, strategy, *design)?;
                        rows.push(whole);
                        rows.extend(streamed);
                        if clean {
                            break;
                        }
                    }
                }
            }
            let answer = answer(spec, model, users, &rows);
            out.answers.push(answer);
            out.evaluated.extend(rows);
        }
    }
    Ok(out)
}

/// A design at one tier and strategy over [`SEEDS`] seeds (the spec's and the next ones): the
/// row judged on the whole post, the row judged on the streamed caption (unless the design
/// already streams), and whether no post of any seed met a 429.
fn evaluate(
    catalog: &Catalog,
    spec: &PlanSpec,
    model: &str,
    users: u32,
    tier: u8,
    strategy: Strategy,
    design: Design,
) -> Result<(LeverRow, Option<LeverRow>, bool), PlanError> {
    let plain = Design {
        stream_caption: false,
        ..design
    };
    let mut whole = Seeds::default();
    let mut streamed = Seeds::default();
    let mut clean = true;
    for k in 0..SEEDS {
        let mut s = spec.clone();
        s.seed = spec.seed.wrapping_add(k);
        let sim = simulate_measured(
            catalog,
            &s,
            CellSpec::designed(spec, model, tier, users, strategy, plain),
        )?;
        let m = &sim.measured;
        let success = m.posts.success_share();
        let usd = m.cost.as_ref().and_then(|c| c.per_ok_post_usd);
        let ok = &m.post_latency_ms.ok;
        let f = &sim.first_caption_token_ms;
        whole.add(ok.p50, ok.p95, success, m.calls.http_429, usd);
        streamed.add(f.p50, f.p95, success, m.calls.http_429, usd);
        clean &= m.calls.http_429 == 0;
    }
    let row = |design: Design, seeds: &Seeds| {
        let p95 = seeds.median_p95();
        let success = seeds.mean(&seeds.success);
        let usd = seeds.usd.flatten();
        LeverRow {
            model: model.to_string(),
            users,
            tier,
            strategy,
            design,
            changes: design.changes().len() as u32 + u32::from(strategy == Strategy::Queue),
            metric: if design.stream_caption {
                "first_caption_token".into()
            } else {
                "post".into()
            },
            p50_s: seeds.median_p50(),
            p95_s: p95,
            p95_interval_s: seeds.p95_range(),
            seeds: SEEDS as u32,
            success,
            http_429: seeds.http_429 / SEEDS,
            usd_per_post: usd,
            // As the grid's cells multiply it.
            usd_per_month: usd.map(|u| {
                u * super::posts_per_day(spec, users) * crate::metrics::cost::DAYS_PER_MONTH
            }),
            meets_target: success >= spec.target.min_success
                && p95.is_some_and(|p| p <= spec.target.p95_s),
        }
    };
    let with_stream = Design {
        stream_caption: true,
        ..design
    };
    Ok(if design.stream_caption {
        (row(with_stream, &streamed), None, clean)
    } else {
        (row(plain, &whole), Some(row(with_stream, &streamed)), clean)
    })
}

/// One metric over the seeds of a combination.
#[derive(Default)]
struct Seeds {
    p50: Vec<f64>,
    p95: Vec<f64>,
    success: Vec<f64>,
    /// $ per successful post on the plan's own seed (the first), not a mean over the seeds: the
    /// grid's cell and the tier-upgrade line for the same design show the same dollars. The
    /// other seeds move the latency; they only redraw token counts (a few cents a month).
    usd: Option<Option<f64>>,
    http_429: u64,
}

impl Seeds {
    fn add(
        &mut self,
        p50: Option<f64>,
        p95: Option<f64>,
        success: f64,
        r429: u64,
        usd: Option<f64>,
    ) {
        // A seed with no successful post has no latency: it counts against the success share.
        self.p50.extend(p50.map(|ms| ms / 1000.0));
        self.p95.extend(p95.map(|ms| ms / 1000.0));
        self.success.push(success);
        self.usd.get_or_insert(usd);
        self.http_429 += r429;
    }

    fn mean(&self, v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / v.len().max(1) as f64
    }

    fn median_p50(&self) -> Option<f64> {
        median(&self.p50)
    }

    /// The median seed's p95: the point estimate the target is judged on.
    fn median_p95(&self) -> Option<f64> {
        median(&self.p95)
    }

    /// The lowest and highest seed's p95: with 6 seeds, the median burst's p95 lies outside it
    /// with probability 2 × 0.5⁶ = 3.1 % (a 97 % interval, free of any assumed distribution).
    fn p95_range(&self) -> Option<(f64, f64)> {
        let lo = self.p95.iter().cloned().reduce(f64::min)?;
        let hi = self.p95.iter().cloned().reduce(f64::max)?;
        Some((lo, hi))
    }
}

/// The median (the mean of the middle two for an even count); `None` for none.
pub fn median(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// Ranks the rows of one model × users and says whether streaming is needed. Rows resting on
/// an assumed figure ([`Design::assumes`]) are ranked apart, never as the answer.
pub(crate) fn answer(spec: &PlanSpec, model: &str, users: u32, rows: &[LeverRow]) -> LeverAnswer {
    let target = spec.target.p95_s;
    let order = |a: &&LeverRow, b: &&LeverRow| {
        let key = |r: &LeverRow| (r.changes, r.marginal(target), r.usd_per_month, r.tier);
        key(a)
            .partial_cmp(&key(b))
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    let assumed = |r: &LeverRow| r.design.assumes(&spec.design);
    let modelled: Vec<LeverRow> = rows.iter().filter(|r| !assumed(r)).cloned().collect();
    let mut holding: Vec<&LeverRow> = modelled.iter().filter(|r| r.meets_target).collect();
    holding.sort_by(order);
    let best: Vec<LeverRow> = holding
        .iter()
        .take(BEST_SHOWN)
        .map(|r| (*r).clone())
        .collect();
    let robust = best
        .first()
        .filter(|b| b.marginal(target))
        .and_then(|_| holding.iter().find(|r| !r.marginal(target)))
        .map(|r| (*r).clone());
    let closest = if holding.is_empty() {
        closest(&modelled, spec.target.min_success).cloned()
    } else {
        None
    };
    let near_miss = best.first().and_then(|b| {
        let within: Vec<LeverRow> = modelled
            .iter()
            .filter(|r| !r.meets_target && r.changes <= b.changes)
            .cloned()
            .collect();
        self::closest(&within, spec.target.min_success).cloned()
    });
    let assumed = rows
        .iter()
        .filter(|r| assumed(r) && r.meets_target)
        .min_by(order)
        .cloned();
    LeverAnswer {
        model: model.to_string(),
        users,
        holding: rows.iter().filter(|r| r.meets_target).count() as u32,
        evaluated: rows.len() as u32,
        best,
        robust,
        closest,
        near_miss,
        assumed,
        holds_without_streaming: holding.iter().any(|r| !r.design.stream_caption),
    }
}

/// How a row that does not hold misses the target, never a negative amount: the share of posts
/// lost when too few succeed (whatever its p95), else how far its p95 is over.
pub fn miss_text(r: &LeverRow, target: &super::Goal) -> String {
    if r.success < target.min_success {
        return format!(
            "{:.1} % of posts ok, under the {:.0} % required",
            (r.success * 1000.0).floor() / 10.0,
            target.min_success * 100.0
        );
    }
    match r.p95_s {
        Some(p) if p > target.p95_s => format!("misses by {:.2} s", p - target.p95_s),
        Some(_) => "holds".into(),
        None => "no post succeeded".into(),
    }
}

/// Fewest changes, then lowest $/month, then lowest tier.
fn rank(r: &LeverRow) -> (u32, f64, u8) {
    (r.changes, r.usd_per_month.unwrap_or(f64::INFINITY), r.tier)
}

/// The row whose p95 misses the target by least, among those with enough successful posts
/// (any, if none has).
fn closest(rows: &[LeverRow], min_success: f64) -> Option<&LeverRow> {
    let by_p95 = |a: &&LeverRow, b: &&LeverRow| {
        let p = |r: &LeverRow| r.p95_s.unwrap_or(f64::INFINITY);
        p(a).partial_cmp(&p(b))
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(
                rank(a)
                    .partial_cmp(&rank(b))
                    .unwrap_or(std::cmp::Ordering::Equal),
            )
    };
    rows.iter()
        .filter(|r| r.success >= min_success)
        .min_by(by_p95)
        .or_else(|| rows.iter().min_by(by_p95))
}

#[cfg(test)]
mod tests;
