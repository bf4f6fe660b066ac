//! A reasoning model's hidden reasoning at one effort, fitted from the calls sent at it
//! ([`Purpose::Reasoning`]): the log-normal of `mocks/latency.toml`'s `reasoning_tokens.<effort>`
//! (median and σ; `min` and `max` stay the shipped ones), and, when the calls were streamed, how
//! long a reasoning token takes against a visible one.
//!
//! **Tokens.** Each answer's usage states its reasoning tokens exactly
//! (`completion_tokens_details.reasoning_tokens`), but a call whose reasoning reached its cap
//! (`max_completion_tokens`) says only "at least the cap": it is censored. The fit is a regression
//! on order statistics (Helsel, *Statistics for Censored Environmental Data*, 2012, ch. 6): the
//! counts seen whole, sorted, against the standard normal quantiles of their plotting positions
//! among all `n` calls (Blom's `(i − 3/8)/(n + 1/4)`), the censored calls above them and the
//! calls that reasoned not at all below them. The line's intercept is `ln median`, its slope σ.
//! It needs the median among the counts seen whole: at most half the calls censored, and no
//! more than half at 0 (then the median is 0: the effort reasons not at all on most calls).
//! Intervals: seeded percentile bootstrap over the calls.
//!
//! **Time.** The model (`openai::latency::Profile::draw_reasoning_call`) spends the reasoning at
//! the call's own writing speed before the first visible token: a streamed call's first token
//! comes at `T + r·u`, with `T` the time to first token of a call that does not reason and `u`
//! the call's ms per visible token, read from its own stream as the profile's fit reads it,
//! `u = (L − first)/(c − 1 + p/k)`. The slope of `first` on `r·u` is then 1; it is fitted by
//! Theil–Sen (the median of the pairwise slopes, robust to `T`'s heavy tail) with a bootstrap
//! interval. A slope whose interval leaves out 1 means the account reasons at another speed than
//! it writes, which the model cannot say (the report names it; the overlay keeps the model).

use std::time::Duration;

use serde::Serialize;

use super::stats::{self, least_squares, normal_quantile};
use super::{Estimate, Observation, Purpose};
use crate::openai::latency::Profile;
use crate::openai::reasoning::{Effort, ReasoningTokens, MAX_REASONING_TOKENS};

/// Fewest counts seen whole (not censored, not 0) the token fit takes, and fewest streamed
/// calls the time fit takes.
pub const MIN_SEEN: usize = 5;
/// Bootstrap resamples for the intervals.
const RESAMPLES: u32 = 400;
/// The standard normal's 99th percentile: the default cap leaves room for 99 % of the shipped
/// profile's reasoning.
const Z_99: f64 = 2.326_347_874_040_841;
/// The default room for the reasoning is rounded up to a multiple of this.
const ROOM_STEP: u32 = 256;

/// The reasoning room of a call at an effort by default: the shipped profile's 99th percentile
/// (`median · e^(2.326 σ)`) rounded up to a multiple of 256, at least 256 and at most the
/// profile's `max`.
pub fn default_room(shipped: &ReasoningTokens) -> u32 {
    let p99 = shipped.median as f64 * (Z_99 * shipped.sigma).exp();
    let steps = (p99 / ROOM_STEP as f64).ceil().clamp(1.0, 1e6) as u32;
    (steps * ROOM_STEP).min(shipped.max.max(ROOM_STEP))
}

/// The reasoning a call at an effort is expected to add to its time (modelled): the shipped
/// median tokens (at most the cap) at the middle of the profile's speed range, the typical
/// values [`super::progress::expected_call`] takes for the rest.
pub fn expected_time(profile: &Profile, shipped: &ReasoningTokens, cap: u32) -> Duration {
    match profile {
        Profile::HeavyTail {
            output_tokens_per_s: speed,
            ..
        } => {
            let speed = (speed.min + speed.max) / 2.0;
            let tokens = shipped.median.min(cap) as f64;
            crate::limits::secs(tokens / speed, Duration::from_secs(3_600))
        }
        Profile::Fixed { .. } => Duration::ZERO,
    }
}

/// One reasoning call's count: `censored` when its reasoning reached the cap (no visible token:
/// `tokens` is then the least it would have spent).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub tokens: u32,
    pub censored: bool,
}

impl Count {
    /// An answered reasoning call's count: censored when nothing was visible.
    pub fn of(o: &Observation) -> Count {
        Count {
            tokens: o.reasoning_tokens,
            censored: o.completion_tokens == 0 && o.reasoning_tokens > 0,
        }
    }
}

/// `(ln median, σ)` by regression on order statistics (module docs), or `None` when the median
/// is not among the counts seen whole, fewer than [`MIN_SEEN`] were, or the line falls.
pub fn ros(counts: &[Count]) -> Option<(f64, f64)> {
    let n = counts.len();
    let zeros = counts.iter().filter(|c| c.tokens == 0).count();
    let censored = counts.iter().filter(|c| c.censored).count();
    let mut seen: Vec<f64> = counts
        .iter()
        .filter(|c| !c.censored && c.tokens > 0)
        .map(|c| (c.tokens as f64).ln())
        .collect();
    if seen.len() < MIN_SEEN || 2 * censored > n || 2 * zeros > n {
        return None;
    }
    seen.sort_by(f64::total_cmp);
    let rows: Vec<([f64; 2], f64)> = seen
        .iter()
        .enumerate()
        .map(|(i, &ln)| {
            let rank = (zeros + i + 1) as f64;
            let z = normal_quantile((rank - 0.375) / (n as f64 + 0.25));
            ([1.0, z], ln)
        })
        .collect();
    let [mu, sigma] = least_squares(&rows)?;
    (mu.is_finite() && sigma.is_finite() && sigma >= 0.0).then_some((mu, sigma))
}

/// The median of the slopes between every two points of different `x` (Theil–Sen), or `None`
/// for fewer than two such pairs.
pub fn theil_sen(points: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(points.len() * points.len() / 2);
    for (i, a) in points.iter().enumerate() {
        for b in &points[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    (slopes.len() >= 2).then(|| stats::quantile_sorted(&stats::sorted(&slopes), 0.5))
}

/// A streamed reasoning call's point for the time fit: (`r·u`, first token), both in ms, or
/// `None` when it does not time both (not streamed, censored, no reasoning, or fewer than two
/// visible tokens). `k` is the prompt tokens read per output token's time (the profile's fit).
pub fn time_point(o: &Observation, k: f64) -> Option<(f64, f64)> {
    let first = o.first_token_ms?;
    if o.reasoning_tokens == 0 || o.completion_tokens < 2 || k.is_nan() || k <= 0.0 {
        return None;
    }
    let writing = o.latency_ms - first;
    let u = writing / ((o.completion_tokens - 1) as f64 + o.prompt_tokens as f64 / k);
    (u.is_finite() && u > 0.0).then_some((o.reasoning_tokens as f64 * u, first))
}

/// What one effort's calls showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReasoningFit {
    pub effort: Effort,
    /// Answered calls at this effort.
    pub calls: u32,
    /// Calls designed at this effort that gave no count (not sent, failed, timed out, or cut
    /// in flight by a signal or the model's time bound); set by [`ReasoningFit::asked`].
    #[serde(default)]
    pub unanswered: u32,
    /// Of them, reasoning that reached the cap (no visible token).
    pub censored: u32,
    /// Of them, no reasoning at all.
    pub none: u32,
    /// The calls' `max_completion_tokens`.
    pub cap: u32,
    /// The median reasoning tokens of a call (`None`: not measured; `notes` says why).
    pub median: Option<Estimate>,
    pub sigma: Option<Estimate>,
    /// A reasoning token's time over a visible token's (1 in the model), from streamed calls.
    pub time_factor: Option<Estimate>,
    /// The shipped profile's figures at this effort.
    pub shipped: ReasoningTokens,
    /// The most reasoning tokens one answer reported.
    pub most: u32,
    pub notes: Vec<String>,
}

impl ReasoningFit {
    /// The fit of `asked` designed calls: those not answered are counted, and named in a note
    /// when there are any, since the calls cut in flight are the likeliest to have reasoned
    /// longest: without them the median may read low.
    pub fn asked(mut self, asked: u32) -> Self {
        self.unanswered = asked.saturating_sub(self.calls);
        if self.unanswered > 0 {
            self.notes.push(format!(
                "{} of the {asked} calls at effort {} gave no count (not sent, failed, timed out or cut in flight; the model's notes say which): a call cut in flight is likelier to have reasoned long, so the median may read low",
                self.unanswered, self.effort
            ));
        }
        self
    }

    /// The overlay's `reasoning_tokens.<effort>`: the fitted median (whole tokens) and σ (to
    /// 0.001), the shipped `min`, and the shipped `max` raised to the most seen; `None` when
    /// the median was not measured.
    pub fn tokens(&self) -> Option<ReasoningTokens> {
        let median = self.median?.value.round();
        let sigma = self
            .sigma
            .map_or(0.0, |s| (s.value * 1000.0).round() / 1000.0);
        let max = self
            .shipped
            .max
            .max(self.most)
            .max(median as u32)
            .min(MAX_REASONING_TOKENS);
        let t = ReasoningTokens {
            median: (median as u32).clamp(self.shipped.min, max),
            sigma,
            min: self.shipped.min,
            max,
        };
        t.check().is_ok().then_some(t)
    }

    /// The time factor's interval leaves out 1: the account reasons at another speed than it
    /// writes.
    pub fn time_differs(&self) -> bool {
        self.time_factor
            .is_some_and(|f| !(f.low..=f.high).contains(&1.0))
    }
}

/// Fits the calls of `obs` sent at `effort` (each with `cap` as `max_completion_tokens`),
/// against the shipped figures; `k` is the profile fit's prompt factor (for the time fit).
pub fn fit(
    effort: Effort,
    obs: &[Observation],
    cap: u32,
    shipped: ReasoningTokens,
    k: f64,
    seed: u64,
) -> ReasoningFit {
    let mine: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.purpose == Purpose::Reasoning(effort))
        .collect();
    let counts: Vec<Count> = mine.iter().map(|o| Count::of(o)).collect();
    let n = counts.len();
    let censored = counts.iter().filter(|c| c.censored).count();
    let none = counts.iter().filter(|c| c.tokens == 0).count();
    let seen = n - censored - none;
    let mut notes = Vec::new();
    let (median, sigma) = if 2 * none > n && n > 0 {
        // Most calls reasoned not at all: the median is 0 (drawn as none), whatever the rest.
        let zero = Estimate {
            value: 0.0,
            low: 0.0,
            high: 0.0,
        };
        notes.push(format!(
            "{none} of {n} calls at effort {effort} reasoned not at all: the median is 0"
        ));
        (Some(zero), Some(zero))
    } else {
        match ros(&counts) {
            Some((mu, s)) => {
                let [m, sg] = stats::bootstrap(&counts, RESAMPLES, seed, |c| {
                    ros(c).map(|(mu, s)| [mu.exp(), s])
                });
                let est = |value: f64, (low, high): (f64, f64)| Estimate { value, low, high };
                (Some(est(mu.exp(), m)), Some(est(s, sg)))
            }
            None if 2 * censored > n => {
                notes.push(format!(
                    "{censored} of {n} calls at effort {effort} reasoned to the cap of {cap} tokens: the median is above it, not measured (raise --reasoning-cap)"
                ));
                (None, None)
            }
            None => {
                notes.push(format!(
                    "{seen} of {n} calls at effort {effort} showed their reasoning whole ({censored} reached the cap, {none} reasoned not at all): too few to fit (at least {MIN_SEEN})"
                ));
                (None, None)
            }
        }
    };
    let points: Vec<(f64, f64)> = mine.iter().filter_map(|o| time_point(o, k)).collect();
    let time_factor = if points.len() >= MIN_SEEN {
        theil_sen(&points).map(|value| {
            let [(low, high)] = stats::bootstrap(&points, RESAMPLES, seed ^ 0x7e, |p| {
                theil_sen(p).map(|b| [b])
            });
            Estimate { value, low, high }
        })
    } else {
        None
    };
    if time_factor.is_none() && n > 0 {
        notes.push(format!(
            "the reasoning's time at effort {effort} was not measured ({} calls timed both their first token and their writing; at least {MIN_SEEN}: streamed calls that wrote two visible tokens or more)",
            points.len()
        ));
    }
    ReasoningFit {
        effort,
        calls: n as u32,
        unanswered: 0,
        censored: censored as u32,
        none: none as u32,
        cap,
        median,
        sigma,
        time_factor,
        shipped,
        most: counts.iter().map(|c| c.tokens).max().unwrap_or(0),
        notes,
    }
}

#[cfg(test)]
mod tests;
