//! The inverse of [`crate::openai::latency`]: a heavy-tail profile fitted to one model's
//! observations, each figure with a 95 % interval.
//!
//! The model inverted: a call writing `c` tokens after a prompt of `p` takes
//! `L = T + (c − 1)·u + p·u/k` ms, with `T` the time to first token (log-normal up to p95,
//! heavier above), `u = 1000/S` the ms per output token for a speed `S` uniform in
//! `[min, max]`, drawn once per call, and `k` the prompt tokens read per output token's time.
//!
//! **Streamed** (most calls carry `first_token_ms`): every call gives `T` itself, and every
//! call writing two or more tokens gives its own speed from `G = L − T = (c − 1 + p/k)·u`.
//! `k` comes from the long probes (`c = 1`, so `G = p·u/k`): `E[G/p] = E[u]/k`, and `E[u]` is
//! the mean of `G/(c − 1 + p/k)` over the writing calls (a fixed point, reached in a few rounds: the
//! `p/k` there is under 1 % of the denominator for a speed call). Its interval is analytic:
//! `k·exp(±1.96·√(CV²(G/p)/m + CV²(u)/n))`.
//!
//! **Regression** (plain answers): least squares of `L` on `(1, c − 1, p)` over all calls gives
//! `β₁ = E[u]` and `β₂ = E[u]/k`, so `k = β₁/β₂` (interval: seeded bootstrap over calls). The
//! short probes (`c = 1`, `p` = 64) then give `T = L − p·β₂`, a correction of a few ms. Each
//! writing call gives a speed `(c − 1 + p/k)/(L − T̂)` with `T̂` the fitted TTFT median; its
//! own TTFT's deviation from `T̂` is noise in that speed, so the range is read robustly and
//! corrected by simulation (`fit/regression.rs`).
//!
//! **TTFT p50 and p95**: below p95 the shipped form is exactly log-normal with one σ, so the
//! fit is a line through the probability plot of the logs below the 90th percentile
//! (`stats::lognormal_body`): p50 = `exp(μ)`, p95 = `exp(μ + 1.645 σ)`. Intervals are a
//! seeded percentile bootstrap. Above p95 a few hundred calls see too little of the tail:
//! p99 and p99.99 keep the shipped profile's ratios to p95.
//!
//! **Speed range** (streamed): the per-call speeds are a clean uniform sample, so the
//! minimum-variance unbiased end points `x(1) − R/(n−1)`, `x(n) + R/(n−1)` with exact
//! intervals from the Beta law of the extremes (`stats::uniform_ends`).
//!
//! **Completion length**: median `exp(mean ln c)` and σ = sd of `ln c` over the speed calls
//! that stopped before `max_tokens` (a capped answer's length says only "at least");
//! the clamp bounds stay the shipped ones. **Prompt caching**: the share of caption calls
//! after the first (whose prefix primes the cache; observations come in the order sent) that
//! came back with `cached_tokens > 0`, with a Wilson interval.

use serde::Serialize;

use super::design::{CACHE_MIN_PREFIX, LONG_PROBE_FROM, SPEED_MAX_TOKENS};
use super::stats::{self, Z_975};
use super::{Estimate, Method, Observation, Purpose};
use crate::openai::latency::{LengthDist, Profile, Range, TtftPercentiles};

/// Fewest TTFT samples and speed samples the fit accepts.
pub const MIN_TTFT_SAMPLES: usize = 5;
pub const MIN_SPEED_SAMPLES: usize = 3;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fit {
    pub model: String,
    /// Observations used.
    pub calls: u32,
    pub method: Method,
    pub ttft_p50_ms: Estimate,
    pub ttft_p95_ms: Estimate,
    pub tokens_per_s_min: Estimate,
    pub tokens_per_s_max: Estimate,
    pub prompt_tokens_per_output_token: Estimate,
    pub completion_median: Estimate,
    pub completion_sigma: Estimate,
    /// Share of calls eligible for prompt caching (prompt >= 1,024 tokens and a prefix sent
    /// before) that came back with cached_tokens > 0; None when no call was eligible.
    pub prompt_cache_hit: Option<Estimate>,
    /// The fitted profile in mocks/latency.toml's form (heavy_tail), its tail above p95 keeping
    /// the shipped profile's shape (p99/p95 and p99.99/p95 ratios).
    pub profile: Profile,
    /// What could not be measured, in plain words.
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{model}: {got} calls gave a time to first token; the fit needs at least {need}")]
    TooFewTtft {
        model: String,
        got: usize,
        need: usize,
    },
    #[error("{model}: {got} calls gave a writing speed; the fit needs at least {need}")]
    TooFewSpeed {
        model: String,
        got: usize,
        need: usize,
    },
    #[error("{model}: the shipped profile is not heavy_tail, so there is no form to fit")]
    ShippedNotHeavyTail { model: String },
    #[error("{model}: the fitted profile is out of range: {field}: {problem}")]
    Invalid {
        model: String,
        field: String,
        problem: String,
    },
}

/// The bootstrap's seed and size; the defaults make [`fit`] deterministic.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    pub seed: u64,
    pub resamples: u32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            seed: 0x0ca1_1b7a_7e5e_ed00,
            resamples: 400,
        }
    }
}

/// The parts of the shipped heavy-tail profile the fit keeps or starts from.
#[derive(Debug, Clone, Copy)]
struct Shipped {
    ttft: TtftPercentiles,
    k: f64,
    lengths: LengthDist,
    speed: Range,
}

impl Shipped {
    /// `E[u]`, the mean ms per output token, of a speed uniform in the shipped range:
    /// `E[1000/S] = 1000 ln(max/min)/(max − min)` (`1000/min` for a single speed).
    fn mean_ms_per_token(&self) -> f64 {
        let Range { min, max } = self.speed;
        if max > min {
            1000.0 * (max / min).ln() / (max - min)
        } else {
            1000.0 / min
        }
    }
}

fn shipped_parts(model: &str, shipped: &Profile) -> Result<Shipped, FitError> {
    match shipped {
        Profile::HeavyTail {
            ttft_ms,
            prompt_tokens_per_output_token,
            completion_tokens,
            output_tokens_per_s,
            ..
        } => Ok(Shipped {
            ttft: *ttft_ms,
            k: *prompt_tokens_per_output_token,
            lengths: *completion_tokens,
            speed: *output_tokens_per_s,
        }),
        Profile::Fixed { .. } => Err(FitError::ShippedNotHeavyTail {
            model: model.to_string(),
        }),
    }
}

/// TTFT, speed and prompt factor, from either method.
#[derive(Debug, Clone, Copy)]
struct Timing {
    used: usize,
    p50: Estimate,
    p95: Estimate,
    min: Estimate,
    max: Estimate,
    k: Estimate,
}

/// One observation reduced to what the timing fit needs: output tokens after the first,
/// prompt tokens, latency, and the first token's time when streamed.
#[derive(Debug, Clone, Copy)]
struct Call {
    gen: f64,
    prompt: f64,
    latency: f64,
    first: Option<f64>,
}

impl Call {
    fn of(o: &Observation) -> Option<Call> {
        let ok = |x: f64| x.is_finite() && x > 0.0;
        // A call at a higher effort spends reasoning before its first token: fitted apart
        // (`calibrate::reasoning`), never in the profile.
        if !ok(o.latency_ms) || matches!(o.purpose, Purpose::Reasoning(_)) {
            return None;
        }
        Some(Call {
            gen: o.completion_tokens.saturating_sub(1) as f64,
            prompt: o.prompt_tokens as f64,
            latency: o.latency_ms,
            first: o.first_token_ms.filter(|&t| ok(t) && t <= o.latency_ms),
        })
    }
    fn writes(&self) -> bool {
        self.gen >= 1.0
    }
    fn long_probe(&self) -> bool {
        !self.writes() && self.prompt >= LONG_PROBE_FROM as f64
    }
    fn short_probe(&self) -> bool {
        !self.writes() && self.prompt < LONG_PROBE_FROM as f64
    }
    /// Output-token equivalents of the call's work after its first token.
    fn work(&self, k: f64) -> f64 {
        self.gen + self.prompt / k
    }
}

/// Fits `model`'s profile to its observations (see the module docs), stamping the profile
/// with `as_of` and `source`. Deterministic: the bootstrap uses [`FitOptions::default`].
pub fn fit(
    model: &str,
    obs: &[Observation],
    shipped: &Profile,
    as_of: &str,
    source: &str,
) -> Result<Fit, FitError> {
    fit_with(model, obs, shipped, as_of, source, FitOptions::default())
}

/// [`fit`] with an explicit bootstrap seed and size.
pub fn fit_with(
    model: &str,
    obs: &[Observation],
    shipped: &Profile,
    as_of: &str,
    source: &str,
    opts: FitOptions,
) -> Result<Fit, FitError> {
    let sh = shipped_parts(model, shipped)?;
    let calls: Vec<Call> = obs.iter().filter_map(Call::of).collect();
    let streamed = calls.iter().filter(|c| c.first.is_some()).count();
    let mut notes = Vec::new();
    let (method, timing) = if streamed * 2 >= calls.len() && streamed > 0 {
        let used: Vec<Call> = calls.into_iter().filter(|c| c.first.is_some()).collect();
        (
            Method::Streamed,
            streamed_timing(model, &used, &sh, opts, &mut notes)?,
        )
    } else {
        (
            Method::Regression,
            regression::timing(model, &calls, &sh, opts, &mut notes)?,
        )
    };
    notes.push(format!(
        "the tail above p95 is the shipped one's: p99 = {:.2} × p95 and p99.99 = {:.2} × p95",
        sh.ttft.p99 / sh.ttft.p95,
        sh.ttft.p99_99 / sh.ttft.p95
    ));
    let (completion_median, completion_sigma) = lengths(obs, &sh, &mut notes);
    let profile = profile(
        &timing,
        completion_median,
        completion_sigma,
        &sh,
        as_of,
        source,
    );
    profile
        .check()
        .map_err(|(field, problem)| FitError::Invalid {
            model: model.to_string(),
            field,
            problem,
        })?;
    Ok(Fit {
        model: model.to_string(),
        calls: timing.used as u32,
        method,
        ttft_p50_ms: timing.p50,
        ttft_p95_ms: timing.p95,
        tokens_per_s_min: timing.min,
        tokens_per_s_max: timing.max,
        prompt_tokens_per_output_token: timing.k,
        completion_median,
        completion_sigma,
        prompt_cache_hit: cache_hit(obs),
        profile,
        notes,
    })
}

/// p50 and p95 of a TTFT sample with their bootstrap intervals.
fn ttft_estimates(samples: &[f64], opts: FitOptions) -> (Estimate, Estimate) {
    let (p50, p95) = stats::ttft_p50_p95(samples);
    let [i50, i95] = stats::bootstrap(samples, opts.resamples, opts.seed, |s| {
        let (a, b) = stats::ttft_p50_p95(s);
        Some([a, b])
    });
    let est = |value: f64, (low, high): (f64, f64)| Estimate { value, low, high };
    (est(p50, i50), est(p95, i95))
}

fn too_few_ttft(model: &str, got: usize) -> Result<(), FitError> {
    if got < MIN_TTFT_SAMPLES {
        return Err(FitError::TooFewTtft {
            model: model.to_string(),
            got,
            need: MIN_TTFT_SAMPLES,
        });
    }
    Ok(())
}

fn too_few_speeds(model: &str, got: usize) -> Result<(), FitError> {
    if got < MIN_SPEED_SAMPLES {
        return Err(FitError::TooFewSpeed {
            model: model.to_string(),
            got,
            need: MIN_SPEED_SAMPLES,
        });
    }
    Ok(())
}

/// The prompt factor from streamed calls: long probes against the writing calls' mean ms
/// per token (module docs). Without two long probes, why not, in words (for [`checked_k`]'s
/// note); a `k` that is not finite and positive is [`checked_k`]'s to refuse, naming it.
fn streamed_k(
    writing: &[(f64, f64, f64)],
    long: &[(f64, f64)],
    k0: f64,
) -> Result<Estimate, String> {
    if long.len() < 2 {
        return Err("could not be measured (too few long-prompt calls)".to_string());
    }
    let per_prompt: Vec<f64> = long.iter().map(|(p, g)| g / p).collect();
    let r = stats::mean(&per_prompt);
    let mut k = k0;
    let mut u = Vec::new();
    // A contraction: k moves by about p/(k·(c − 1)) of its error per round (5 % at worst).
    for _ in 0..20 {
        u = writing.iter().map(|(n, p, g)| g / (n + p / k)).collect();
        let next = stats::mean(&u) / r;
        let done = (next - k).abs() <= 1e-12 * k;
        k = next;
        if done {
            break;
        }
    }
    let cv2 = |xs: &[f64]| (stats::sd(xs) / stats::mean(xs)).powi(2) / xs.len() as f64;
    let spread = Z_975 * (cv2(&per_prompt) + cv2(&u)).sqrt();
    Ok(Estimate {
        value: k,
        low: k * (-spread).exp(),
        high: k * spread.exp(),
    })
}

/// Prompt factors the fit believes: a noisy regression can put `k` anywhere, and a profile
/// with an absurd `k` would mislead every run that takes it.
const PLAUSIBLE_K: std::ops::RangeInclusive<f64> = 1.0..=10_000.0;

/// The measured prompt factor when there is one and it is plausible; otherwise the shipped
/// one, marked as not measured (an interval that holds anything) and noted with the reason:
/// `measured`'s error says why there was none.
fn checked_k(
    measured: Result<Estimate, String>,
    sh: &Shipped,
    notes: &mut Vec<String>,
) -> Estimate {
    let why = match measured {
        Ok(k) if PLAUSIBLE_K.contains(&k.value) => return k,
        Ok(k) => format!(
            "came out at {:.3}, outside [{}, {}]",
            k.value,
            PLAUSIBLE_K.start(),
            PLAUSIBLE_K.end()
        ),
        Err(why) => why,
    };
    notes.push(format!(
        "the prompt factor {why}: kept the shipped {}",
        sh.k
    ));
    Estimate {
        value: sh.k,
        low: 0.0,
        high: f64::INFINITY,
    }
}

fn streamed_timing(
    model: &str,
    calls: &[Call],
    sh: &Shipped,
    opts: FitOptions,
    notes: &mut Vec<String>,
) -> Result<Timing, FitError> {
    let ttft: Vec<f64> = calls.iter().filter_map(|c| c.first).collect();
    too_few_ttft(model, ttft.len())?;
    let (p50, p95) = ttft_estimates(&ttft, opts);
    let after = |c: &Call| c.latency - c.first.unwrap_or(0.0);
    let writing: Vec<(f64, f64, f64)> = calls
        .iter()
        .filter(|c| c.writes() && after(c) > 0.0)
        .map(|c| (c.gen, c.prompt, after(c)))
        .collect();
    too_few_speeds(model, writing.len())?;
    let long: Vec<(f64, f64)> = calls
        .iter()
        .filter(|c| c.long_probe() && after(c) > 0.0)
        .map(|c| (c.prompt, after(c)))
        .collect();
    let k = checked_k(streamed_k(&writing, &long, sh.k), sh, notes);
    let speeds: Vec<f64> = writing
        .iter()
        .map(|(n, p, g)| (n + p / k.value) * 1000.0 / g)
        .collect();
    let (min, max) = stats::uniform_ends(&speeds);
    notes.push(format!(
        "streamed: time to first token from the first content chunk of {} calls; speed from \
         {} calls' time after it",
        ttft.len(),
        speeds.len()
    ));
    Ok(Timing {
        used: calls.len(),
        p50,
        p95,
        min,
        max,
        k,
    })
}

/// Median and σ of the answer length from the speed calls that stopped on their own.
fn lengths(obs: &[Observation], sh: &Shipped, notes: &mut Vec<String>) -> (Estimate, Estimate) {
    let speed = obs.iter().filter(|o| o.purpose == Purpose::Speed);
    let (free, capped): (Vec<&Observation>, Vec<&Observation>) = speed
        .filter(|o| o.completion_tokens >= 1)
        .partition(|o| o.completion_tokens < SPEED_MAX_TOKENS);
    if !capped.is_empty() {
        notes.push(format!(
            "{} speed calls hit max_tokens ({SPEED_MAX_TOKENS}) and were left out of the answer-length fit",
            capped.len()
        ));
    }
    let logs: Vec<f64> = free
        .iter()
        .map(|o| (o.completion_tokens as f64).ln())
        .collect();
    if logs.len() < 3 {
        notes.push(
            "too few uncapped answers to fit their length: kept the shipped distribution".into(),
        );
        let fixed = |v: f64| Estimate {
            value: v,
            low: v,
            high: v,
        };
        return (fixed(sh.lengths.median as f64), fixed(sh.lengths.sigma));
    }
    let (m, s, n) = (stats::mean(&logs), stats::sd(&logs), logs.len() as f64);
    let half = Z_975 * s / n.sqrt();
    let rel = Z_975 / (2.0 * (n - 1.0)).sqrt();
    let median = Estimate {
        value: m.exp(),
        low: (m - half).exp(),
        high: (m + half).exp(),
    };
    let sigma = Estimate {
        value: s,
        low: (s * (1.0 - rel)).max(0.0),
        high: s * (1.0 + rel),
    };
    (median, sigma)
}

/// The share of cache-eligible caption calls that hit: those with a cacheable prompt, after
/// the first caption call (which primes the cache).
fn cache_hit(obs: &[Observation]) -> Option<Estimate> {
    let eligible: Vec<&Observation> = obs
        .iter()
        .filter(|o| o.purpose == Purpose::Caption)
        .skip(1)
        .filter(|o| o.prompt_tokens >= CACHE_MIN_PREFIX)
        .collect();
    if eligible.is_empty() {
        return None;
    }
    let hits = eligible.iter().filter(|o| o.cached_tokens > 0).count();
    Some(stats::wilson(hits as u32, eligible.len() as u32))
}

/// The fitted heavy-tail profile: measured body, shipped tail ratios and length bounds.
fn profile(
    t: &Timing,
    median: Estimate,
    sigma: Estimate,
    sh: &Shipped,
    as_of: &str,
    source: &str,
) -> Profile {
    let p95 = t.p95.value.max(t.p50.value);
    let min = t.min.value.max(0.1);
    let l = sh.lengths;
    Profile::HeavyTail {
        as_of: as_of.to_string(),
        source: source.to_string(),
        ttft_ms: TtftPercentiles {
            p50: t.p50.value,
            p95,
            p99: p95 * sh.ttft.p99 / sh.ttft.p95,
            p99_99: p95 * sh.ttft.p99_99 / sh.ttft.p95,
        },
        output_tokens_per_s: Range {
            min,
            max: t.max.value.max(min),
        },
        prompt_tokens_per_output_token: t.k.value,
        completion_tokens: LengthDist {
            median: (median.value.round() as u32).clamp(l.min, l.max),
            sigma: sigma.value,
            min: l.min,
            max: l.max,
        },
    }
}

mod regression;
#[cfg(test)]
mod tests;
