//! Latency and output-length draws for one model profile (see `mocks/latency.toml`).
//!
//! Time to first token follows a piecewise log-normal through the published percentiles: with
//! `z` a standard-normal draw, `ln(ttft)` is linear in `z` between the anchors p50 (z = 0),
//! p95 (z = 1.6449), p99 (z = 2.3263) and p99.99 (z = 3.7190), continues below p50 with the
//! p50–p95 slope and is clamped at p99.99. This reproduces each published percentile exactly in
//! the limit (a plain log-normal cannot: the data has p95 < 2 × p50 but p99 ≈ 7 × p50), needs no
//! numeric fitting, and keeps the heavy tail between p95 and p99 that the 24 h pings show.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// Standard-normal scores of the anchor percentiles.
const Z_P95: f64 = 1.644_853_626_951_472_2;
const Z_P99: f64 = 2.326_347_874_040_841;
const Z_P9999: f64 = 3.719_016_485_455_68;

/// The longest time one draw gives (a TTFT, or a call's generation after it), whatever the
/// profile: a day. A checked profile stays far below it (10 minutes of TTFT, and 16,384 tokens
/// at 0.1 token/s plus 128,000 prompt tokens make under 2 days only at absurd settings that
/// the draw then caps).
pub const MAX_DRAW: Duration = Duration::from_secs(86_400);
/// Output speeds a profile may give, tokens per second.
const MIN_TOKENS_PER_S: f64 = 0.1;
const MAX_TOKENS_PER_S: f64 = 100_000.0;
/// The widest log-normal spread of completion lengths.
const MAX_SIGMA: f64 = 10.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TtftPercentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub p99_99: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LengthDist {
    pub median: u32,
    pub sigma: f64,
    pub min: u32,
    pub max: u32,
}

/// A latency profile (read from `mocks/latency.toml` by the catalog).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Profile {
    HeavyTail {
        as_of: String,
        source: String,
        ttft_ms: TtftPercentiles,
        output_tokens_per_s: Range,
        prompt_tokens_per_output_token: f64,
        completion_tokens: LengthDist,
    },
    Fixed {
        as_of: String,
        source: String,
        latency_ms: u64,
        completion_tokens: u32,
    },
}

/// One call's drawn timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallTiming {
    pub ttft: Duration,
    pub total: Duration,
}

/// A check's failure: the field (relative to the profile) and what is wrong with it.
type Invalid = (String, String);

fn err(field: &str, m: String) -> Result<(), Invalid> {
    Err((field.to_string(), m))
}

/// `v` is finite and in `(lo, hi]`.
fn within(field: &str, v: f64, lo: f64, hi: f64) -> Result<(), Invalid> {
    if v.is_finite() && v > lo && v <= hi {
        Ok(())
    } else {
        err(
            field,
            format!("{} is outside ({lo}, {hi}]", crate::limits::num(v)),
        )
    }
}

/// The TTFT percentiles: each in range, and in order.
fn check_ttft(t: &TtftPercentiles) -> Result<(), Invalid> {
    use crate::limits::MAX_PROFILE_MS;
    for (f, v) in [
        ("ttft_ms.p50", t.p50),
        ("ttft_ms.p95", t.p95),
        ("ttft_ms.p99", t.p99),
        ("ttft_ms.p99_99", t.p99_99),
    ] {
        within(f, v, 0.0, MAX_PROFILE_MS)?;
    }
    if !(t.p50 <= t.p95 && t.p95 <= t.p99 && t.p99 <= t.p99_99) {
        return err("ttft_ms", "need 0 < p50 <= p95 <= p99 <= p99_99".into());
    }
    Ok(())
}

/// The output speed range and the prompt-to-output speed ratio.
fn check_speed(
    output_tokens_per_s: &Range,
    prompt_tokens_per_output_token: f64,
) -> Result<(), Invalid> {
    within(
        "output_tokens_per_s.min",
        output_tokens_per_s.min,
        0.0,
        MAX_TOKENS_PER_S,
    )?;
    within(
        "output_tokens_per_s.max",
        output_tokens_per_s.max,
        0.0,
        MAX_TOKENS_PER_S,
    )?;
    if output_tokens_per_s.min < MIN_TOKENS_PER_S {
        return err(
            "output_tokens_per_s.min",
            format!("must be at least {MIN_TOKENS_PER_S}"),
        );
    }
    if output_tokens_per_s.min > output_tokens_per_s.max {
        return err("output_tokens_per_s", "need 0 < min <= max".into());
    }
    within(
        "prompt_tokens_per_output_token",
        prompt_tokens_per_output_token,
        0.0,
        MAX_TOKENS_PER_S,
    )
}

/// The completion length distribution: bounded, and `1 <= min <= median <= max`.
fn check_lengths(c: &LengthDist) -> Result<(), Invalid> {
    use crate::limits::MAX_COMPLETION_TOKENS;
    if c.max > MAX_COMPLETION_TOKENS {
        return err(
            "completion_tokens.max",
            format!("{} is more than {MAX_COMPLETION_TOKENS}", c.max),
        );
    }
    if !(c.sigma.is_finite() && (0.0..=MAX_SIGMA).contains(&c.sigma)) {
        return err(
            "completion_tokens.sigma",
            format!(
                "{} is outside [0, {MAX_SIGMA}]",
                crate::limits::num(c.sigma)
            ),
        );
    }
    if !(c.min >= 1 && c.min <= c.median && c.median <= c.max) {
        return err("completion_tokens", "need 1 <= min <= median <= max".into());
    }
    Ok(())
}

/// A fixed profile's latency and completion length.
fn check_fixed(latency_ms: u64, completion_tokens: u32) -> Result<(), Invalid> {
    use crate::limits::{MAX_COMPLETION_TOKENS, MAX_PROFILE_MS};
    if latency_ms as f64 > MAX_PROFILE_MS {
        return err(
            "latency_ms",
            format!("{latency_ms} is more than {MAX_PROFILE_MS}"),
        );
    }
    if !(1..=MAX_COMPLETION_TOKENS).contains(&completion_tokens) {
        return err(
            "fixed_completion_tokens",
            format!("{completion_tokens} is outside [1, {MAX_COMPLETION_TOKENS}]"),
        );
    }
    Ok(())
}

impl Profile {
    /// Checks every number against a sane range (see `docs/limits.md`); the error names the
    /// field (relative to the profile) and the range. What passes, the draws below take
    /// without panicking.
    pub fn check(&self) -> Result<(), (String, String)> {
        match self {
            Profile::HeavyTail {
                ttft_ms,
                output_tokens_per_s,
                prompt_tokens_per_output_token,
                completion_tokens,
                ..
            } => {
                check_ttft(ttft_ms)?;
                check_speed(output_tokens_per_s, *prompt_tokens_per_output_token)?;
                check_lengths(completion_tokens)
            }
            Profile::Fixed {
                latency_ms,
                completion_tokens,
                ..
            } => check_fixed(*latency_ms, *completion_tokens),
        }
    }

    /// Time to first token for a standard-normal score `z`.
    pub fn ttft_at(&self, z: f64) -> Duration {
        match self {
            Profile::HeavyTail { ttft_ms: t, .. } => {
                let (l50, l95, l99, lmax) = (t.p50.ln(), t.p95.ln(), t.p99.ln(), t.p99_99.ln());
                let log_ms = if z <= Z_P95 {
                    l50 + z * (l95 - l50) / Z_P95
                } else if z <= Z_P99 {
                    l95 + (z - Z_P95) * (l99 - l95) / (Z_P99 - Z_P95)
                } else {
                    (l99 + (z - Z_P99) * (lmax - l99) / (Z_P9999 - Z_P99)).min(lmax)
                };
                crate::limits::secs(log_ms.exp() / 1000.0, MAX_DRAW)
            }
            Profile::Fixed { latency_ms, .. } => Duration::from_millis(*latency_ms).min(MAX_DRAW),
        }
    }

    /// Draws the time to first token.
    pub fn draw_ttft<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        let z: f64 = StandardNormal.sample(rng);
        self.ttft_at(z)
    }

    /// Draws how many tokens the model wants to write (before any max_tokens cap).
    pub fn draw_completion_tokens<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        match self {
            Profile::HeavyTail {
                completion_tokens: c,
                ..
            } => {
                let z: f64 = StandardNormal.sample(rng);
                // `as` saturates (and NaN is 0), so any sigma stays within [min, max].
                let drawn = (c.median as f64 * (c.sigma * z).exp()).round();
                (drawn as u32).clamp(c.min, c.max.max(c.min))
            }
            Profile::Fixed {
                completion_tokens, ..
            } => *completion_tokens,
        }
    }

    /// Draws a whole call's timing for the given token counts.
    pub fn draw_call<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        prompt_tokens: u32,
        completion_tokens: u32,
    ) -> CallTiming {
        self.draw_reasoning_call(rng, prompt_tokens, 0, completion_tokens)
    }

    /// Draws a whole call's timing when the model first reasons for `reasoning_tokens` hidden
    /// tokens and then writes `visible_tokens`. The reasoning tokens are generated at the call's
    /// output speed before the first visible token, so the time to first (visible) token is
    /// the drawn TTFT plus `reasoning_tokens / speed`; with no reasoning this is [`draw_call`]
    /// exactly (the same draws in the same order). A call whose reasoning used the whole budget
    /// (`visible_tokens` 0) ends when its reasoning does. A fixed profile ignores reasoning.
    ///
    /// [`draw_call`]: Profile::draw_call
    pub fn draw_reasoning_call<R: Rng + ?Sized>(
        &self,
        rng: &mut R,
        prompt_tokens: u32,
        reasoning_tokens: u32,
        visible_tokens: u32,
    ) -> CallTiming {
        let ttft = self.draw_ttft(rng);
        match self {
            Profile::HeavyTail {
                output_tokens_per_s,
                prompt_tokens_per_output_token,
                ..
            } => {
                let speed = rng.random_range(output_tokens_per_s.min..=output_tokens_per_s.max);
                let ttft = match reasoning_tokens {
                    0 => ttft,
                    r => ttft + crate::limits::secs(r as f64 / speed, MAX_DRAW),
                };
                let generation = visible_tokens.saturating_sub(1) as f64 / speed;
                let reading = prompt_tokens as f64 / (prompt_tokens_per_output_token * speed);
                CallTiming {
                    ttft,
                    total: ttft + crate::limits::secs(generation + reading, MAX_DRAW),
                }
            }
            Profile::Fixed { .. } => CallTiming { ttft, total: ttft },
        }
    }
}

#[cfg(test)]
mod tests;
