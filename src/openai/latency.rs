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
    pub fn validate(&self) -> Result<(), (String, String)> {
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
        let ttft = self.draw_ttft(rng);
        match self {
            Profile::HeavyTail {
                output_tokens_per_s,
                prompt_tokens_per_output_token,
                ..
            } => {
                let speed = rng.random_range(output_tokens_per_s.min..=output_tokens_per_s.max);
                let generation = completion_tokens.saturating_sub(1) as f64 / speed;
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
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn draws_are_total_for_huge_profile_values() {
        // p99_99 = 1e300 ms passed the old check and panicked converting to a Duration.
        let mut p = gpt4o();
        if let Profile::HeavyTail {
            ttft_ms,
            output_tokens_per_s,
            ..
        } = &mut p
        {
            ttft_ms.p99_99 = 1e300;
            output_tokens_per_s.min = 1e-300;
        }
        assert!(p.ttft_at(100.0) <= MAX_DRAW);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100 {
            assert!(p.draw_call(&mut rng, 128_000, 16_384).total <= MAX_DRAW + MAX_DRAW);
        }
    }

    fn gpt4o() -> Profile {
        Profile::HeavyTail {
            as_of: "test".into(),
            source: "test".into(),
            ttft_ms: TtftPercentiles {
                p50: 639.0,
                p95: 1144.0,
                p99: 4517.0,
                p99_99: 7010.0,
            },
            output_tokens_per_s: Range {
                min: 40.0,
                max: 120.0,
            },
            prompt_tokens_per_output_token: 100.0,
            completion_tokens: LengthDist {
                median: 220,
                sigma: 0.35,
                min: 8,
                max: 2048,
            },
        }
    }

    fn percentile(sorted: &[f64], p: f64) -> f64 {
        let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1]
    }

    fn draws(profile: &Profile, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<f64> = (0..n)
            .map(|_| profile.draw_ttft(&mut rng).as_secs_f64() * 1000.0)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn anchors_are_exact() {
        let p = gpt4o();
        let ms = |z: f64| p.ttft_at(z).as_secs_f64() * 1000.0;
        assert!((ms(0.0) - 639.0).abs() < 1e-6);
        assert!((ms(Z_P95) - 1144.0).abs() < 1e-6);
        assert!((ms(Z_P99) - 4517.0).abs() < 1e-6);
        assert!((ms(Z_P9999) - 7010.0).abs() < 1e-6);
        assert!((ms(10.0) - 7010.0).abs() < 1e-6, "clamped at p99.99");
        assert!(ms(-1.0) < 639.0 && ms(-1.0) > 300.0);
    }

    #[test]
    fn ten_thousand_draws_reproduce_the_published_percentiles_within_5_percent() {
        // A regression check at a fixed seed. Sampling error alone is about 1% at p50, 2% at p95 and
        // 7% at p99 for 10,000 draws, so the statistical check is the next test, on 400,000.
        let p = gpt4o();
        let v = draws(&p, 10_000, 42);
        for (q, want) in [(0.50, 639.0), (0.95, 1144.0), (0.99, 4517.0)] {
            let got = percentile(&v, q);
            assert!(
                (got / want - 1.0).abs() < 0.05,
                "p{q}: got {got:.0} ms, want {want} ms"
            );
        }
    }

    #[test]
    fn many_draws_converge_on_the_published_percentiles() {
        let p = gpt4o();
        for seed in [1, 2, 3] {
            let v = draws(&p, 400_000, seed);
            for (q, want) in [(0.50, 639.0), (0.95, 1144.0), (0.99, 4517.0)] {
                let got = percentile(&v, q);
                assert!(
                    (got / want - 1.0).abs() < 0.03,
                    "seed {seed} p{q}: got {got:.0} ms, want {want} ms"
                );
            }
        }
    }

    #[test]
    fn call_time_adds_generation_and_prompt_reading() {
        let p = gpt4o();
        let mut a = ChaCha8Rng::seed_from_u64(7);
        let mut b = ChaCha8Rng::seed_from_u64(7);
        let short = p.draw_call(&mut a, 100, 1);
        let long = p.draw_call(&mut b, 100, 401);
        assert_eq!(short.ttft, long.ttft, "same seed, same first token");
        let gen = (long.total - long.ttft).as_secs_f64() - (short.total - short.ttft).as_secs_f64();
        // 400 tokens at 40–120 tokens/s
        assert!((400.0 / 120.0..=400.0 / 40.0).contains(&gen), "{gen}");
    }

    #[test]
    fn call_time_is_generation_plus_reading_exactly() {
        // One speed (50 tokens/s) and 100 prompt tokens read per output token's time: a call
        // writing 201 tokens for a 1,000-token prompt takes ttft + 200 / 50 + 1,000 / (100 x 50)
        // = ttft + 4.0 + 0.2 s; the same call with a 6,000-token prompt reads 1.2 s instead.
        let Profile::HeavyTail {
            as_of,
            source,
            ttft_ms,
            completion_tokens,
            ..
        } = gpt4o()
        else {
            unreachable!()
        };
        let p = Profile::HeavyTail {
            as_of,
            source,
            ttft_ms,
            output_tokens_per_s: Range {
                min: 50.0,
                max: 50.0,
            },
            prompt_tokens_per_output_token: 100.0,
            completion_tokens,
        };
        let after_ttft = |prompt: u32| {
            let c = p.draw_call(&mut ChaCha8Rng::seed_from_u64(7), prompt, 201);
            (c.total - c.ttft).as_secs_f64()
        };
        assert!(
            (after_ttft(1_000) - 4.2).abs() < 1e-9,
            "{}",
            after_ttft(1_000)
        );
        assert!(
            (after_ttft(6_000) - 5.2).abs() < 1e-9,
            "{}",
            after_ttft(6_000)
        );
        // The reading term's share of the 6,000-token call: 1.2 of 5.2 s.
        let reading = after_ttft(6_000) - after_ttft(0);
        assert!((reading / after_ttft(6_000) - 1.2 / 5.2).abs() < 1e-9);
    }

    #[test]
    fn completion_lengths_follow_the_profile() {
        let p = gpt4o();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut v: Vec<u32> = (0..10_001)
            .map(|_| p.draw_completion_tokens(&mut rng))
            .collect();
        v.sort();
        let median = v[5_000];
        assert!((210..=230).contains(&median), "{median}");
        assert!(v.iter().all(|&n| (8..=2048).contains(&n)));
    }

    /// An edit of gpt4o()'s TTFT percentiles, speed range and length distribution.
    type Edit = Box<dyn FnOnce(&mut TtftPercentiles, &mut Range, &mut LengthDist)>;

    /// The field `validate` names for gpt4o() changed by `edit`, or "ok".
    fn invalid_field(edit: Edit) -> String {
        let mut p = gpt4o();
        let Profile::HeavyTail {
            ttft_ms,
            output_tokens_per_s,
            completion_tokens,
            ..
        } = &mut p
        else {
            unreachable!()
        };
        edit(ttft_ms, output_tokens_per_s, completion_tokens);
        p.validate()
            .map_or_else(|(field, _)| field, |()| "ok".into())
    }

    #[test]
    fn validate_takes_each_bound_and_refuses_past_it() {
        use crate::limits::{MAX_COMPLETION_TOKENS, MAX_PROFILE_MS};
        let cases: Vec<(&str, Edit)> = vec![
            ("ok", Box::new(|_, _, _| {})),
            // TTFT: in (0, MAX_PROFILE_MS], finite, in order (equal is in order).
            ("ttft_ms.p50", Box::new(|t, _, _| t.p50 = 0.0)),
            ("ttft_ms.p50", Box::new(|t, _, _| t.p50 = f64::NAN)),
            ("ok", Box::new(|t, _, _| t.p99_99 = MAX_PROFILE_MS)),
            (
                "ttft_ms.p99_99",
                Box::new(|t, _, _| t.p99_99 = MAX_PROFILE_MS * 2.0),
            ),
            (
                "ok",
                Box::new(|t, _, _| (t.p50, t.p95, t.p99, t.p99_99) = (5.0, 5.0, 5.0, 5.0)),
            ),
            ("ttft_ms", Box::new(|t, _, _| t.p50 = 1_145.0)),
            ("ttft_ms", Box::new(|t, _, _| t.p95 = 4_518.0)),
            ("ttft_ms", Box::new(|t, _, _| t.p99 = 7_011.0)),
            // Speed: min at least 0.1 token/s, min <= max (equal allowed).
            ("ok", Box::new(|_, r, _| r.min = 0.1)),
            ("output_tokens_per_s.min", Box::new(|_, r, _| r.min = 0.09)),
            ("ok", Box::new(|_, r, _| r.min = 120.0)),
            ("output_tokens_per_s", Box::new(|_, r, _| r.min = 121.0)),
            // Lengths: max at most 16,384; sigma in [0, 10]; 1 <= min <= median <= max.
            ("ok", Box::new(|_, _, c| c.max = MAX_COMPLETION_TOKENS)),
            (
                "completion_tokens.max",
                Box::new(|_, _, c| c.max = MAX_COMPLETION_TOKENS + 1),
            ),
            ("ok", Box::new(|_, _, c| c.sigma = 0.0)),
            ("ok", Box::new(|_, _, c| c.sigma = 10.0)),
            (
                "completion_tokens.sigma",
                Box::new(|_, _, c| c.sigma = 10.5),
            ),
            (
                "completion_tokens.sigma",
                Box::new(|_, _, c| c.sigma = -0.1),
            ),
            (
                "completion_tokens.sigma",
                Box::new(|_, _, c| c.sigma = f64::NAN),
            ),
            (
                "ok",
                Box::new(|_, _, c| (c.min, c.median, c.max) = (1, 1, 1)),
            ),
            ("completion_tokens", Box::new(|_, _, c| c.min = 0)),
            ("completion_tokens", Box::new(|_, _, c| c.min = 221)),
            ("completion_tokens", Box::new(|_, _, c| c.median = 2_049)),
        ];
        for (i, (want, edit)) in cases.into_iter().enumerate() {
            assert_eq!(invalid_field(edit), want, "case {i}");
        }
        // The speed ratio: in (0, 100,000].
        let mut p = gpt4o();
        if let Profile::HeavyTail {
            prompt_tokens_per_output_token: r,
            ..
        } = &mut p
        {
            *r = 0.0;
        }
        assert_eq!(
            p.validate().unwrap_err().0,
            "prompt_tokens_per_output_token"
        );
    }

    #[test]
    fn a_fixed_profile_takes_its_bounds() {
        use crate::limits::{MAX_COMPLETION_TOKENS, MAX_PROFILE_MS};
        let fixed = |latency_ms: u64, completion_tokens: u32| {
            Profile::Fixed {
                as_of: "t".into(),
                source: "t".into(),
                latency_ms,
                completion_tokens,
            }
            .validate()
            .map_or_else(|(field, _)| field, |()| "ok".into())
        };
        let max_ms = MAX_PROFILE_MS as u64;
        assert_eq!(fixed(max_ms, 1), "ok");
        assert_eq!(fixed(max_ms + 1, 1), "latency_ms");
        assert_eq!(fixed(0, MAX_COMPLETION_TOKENS), "ok");
        assert_eq!(fixed(0, 0), "fixed_completion_tokens");
        assert_eq!(
            fixed(0, MAX_COMPLETION_TOKENS + 1),
            "fixed_completion_tokens"
        );
    }

    #[test]
    fn between_anchors_the_log_of_ttft_is_linear_in_z() {
        // Halfway between two anchors (in z), the log is halfway between their logs: the
        // value is their geometric mean. 639 × 1,144 = 731,016, sqrt 855.0; 1,144 × 4,517 =
        // 5,167,448, sqrt 2,273.2; 4,517 × 7,010 = 31,664,170, sqrt 5,627.1. A whole step
        // below p50 mirrors p95: 639² / 1,144 = 356.9.
        let p = gpt4o();
        let ms = |z: f64| p.ttft_at(z).as_secs_f64() * 1000.0;
        for (z, want) in [
            (Z_P95 / 2.0, (639.0f64 * 1144.0).sqrt()),
            ((Z_P95 + Z_P99) / 2.0, (1144.0f64 * 4517.0).sqrt()),
            ((Z_P99 + Z_P9999) / 2.0, (4517.0f64 * 7010.0).sqrt()),
            (-Z_P95, 639.0 * 639.0 / 1144.0),
        ] {
            assert!(
                (ms(z) - want).abs() < 1e-5,
                "z = {z}: {} against {want}",
                ms(z)
            );
        }
    }

    #[test]
    fn completion_lengths_spread_as_the_lognormal_says() {
        // p90 of a lognormal: median × exp(sigma × 1.2816) = 220 × exp(0.4486) = 220 × 1.566
        // = 344.5; p10: 220 / 1.566 = 140.5. Over 10,001 draws the sampling error of each is
        // about 0.6 % (2 tokens), so ±10 tokens is 5 of those.
        let p = gpt4o();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut v: Vec<u32> = (0..10_001)
            .map(|_| p.draw_completion_tokens(&mut rng))
            .collect();
        v.sort();
        assert!((335..=355).contains(&v[9_000]), "p90 {}", v[9_000]);
        assert!((130..=151).contains(&v[1_000]), "p10 {}", v[1_000]);
    }

    #[test]
    fn fixed_profile_is_constant() {
        let p = Profile::Fixed {
            as_of: "t".into(),
            source: "t".into(),
            latency_ms: 250,
            completion_tokens: 100,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..10 {
            let t = p.draw_call(&mut rng, 1_000, 100);
            assert_eq!(t.total, Duration::from_millis(250));
        }
        assert_eq!(p.draw_completion_tokens(&mut rng), 100);
    }
}
