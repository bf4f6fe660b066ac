//! How precise a calibration is, by simulation: calibrations of a known profile, each one the
//! designed calls answered by [`crate::openai::latency`]'s own draws (as the stub answers
//! them), fitted, and compared with the truth. For each number of calls and each method it
//! gives the median relative error, the share within 10 % of TTFT p50, p95 and the speed
//! range's ends, and the mean width of the p50 and p95 intervals. `docs/calibrate.md`'s table
//! is this module's output (`cargo test --release --lib precision_table -- --ignored
//! --nocapture`); pure and seeded, so the table is the same on every machine.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::design::design;
use super::fit::{fit_with, FitOptions};
use super::{CallSpec, Method, Observation, Purpose};
use crate::openai::latency::{Profile, Range, TtftPercentiles};

/// A profile to calibrate against, by name.
#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub profile: Profile,
}

/// How close one figure came over the simulated calibrations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accuracy {
    /// Median of |fitted / true − 1|.
    pub median_rel_error: f64,
    /// Share of calibrations with |fitted / true − 1| <= 10 %.
    pub within_10: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PrecisionRow {
    pub case: String,
    pub calls: u32,
    pub method: Method,
    pub p50: Accuracy,
    pub p95: Accuracy,
    pub speed_min: Accuracy,
    pub speed_max: Accuracy,
    /// Mean width of the 95 % interval relative to the true value.
    pub p50_width: f64,
    pub p95_width: f64,
    /// Share of calibrations whose p50 (p95) interval holds the true value.
    pub p50_coverage: f64,
    pub p95_coverage: f64,
    /// Calibrations the fit refused (too few usable calls); counted as outside 10 %.
    pub failed: u32,
}

/// The calls per model the table covers.
pub const CALLS: [u32; 8] = [10, 20, 40, 60, 80, 120, 160, 200];
/// The post's two call shapes by default (`scenario::Prompts`).
pub const IMAGE: (u32, u32) = (800, 150);
pub const CAPTION: (u32, u32) = (1_200, 200);

/// The shipped gpt-4o and gpt-4o-mini profiles, and one unlike either (p50 900 / p95 2,000 ms,
/// 20–60 tokens/s) with gpt-4o's tail shape.
pub fn cases() -> Vec<Case> {
    let catalog = crate::openai::catalog::Catalog::embedded();
    let shipped = |m: &str| Case {
        name: m.to_string(),
        profile: catalog.profiles[m].clone(),
    };
    let (gpt4o, mini) = (shipped("gpt-4o"), shipped("gpt-4o-mini"));
    let mut other = gpt4o.profile.clone();
    if let Profile::HeavyTail {
        ttft_ms,
        output_tokens_per_s,
        ..
    } = &mut other
    {
        let (r99, r9999) = (ttft_ms.p99 / ttft_ms.p95, ttft_ms.p99_99 / ttft_ms.p95);
        *ttft_ms = TtftPercentiles {
            p50: 900.0,
            p95: 2_000.0,
            p99: 2_000.0 * r99,
            p99_99: 2_000.0 * r9999,
        };
        *output_tokens_per_s = Range {
            min: 20.0,
            max: 60.0,
        };
    }
    let other = Case {
        name: "p50 900 / p95 2,000 ms, 20–60 tok/s".into(),
        profile: other,
    };
    vec![gpt4o, mini, other]
}

/// The answers `profile` gives to `specs`, drawn with the latency model's own functions:
/// the answer length capped by `max_tokens`, then the call's timing; a caption call after the
/// first hits the prompt cache with probability `cache_hit`.
pub fn observe<R: Rng + ?Sized>(
    profile: &Profile,
    specs: &[CallSpec],
    streamed: bool,
    cache_hit: f64,
    rng: &mut R,
) -> Vec<Observation> {
    let mut primed = false;
    specs
        .iter()
        .map(|s| {
            let completion_tokens = profile.draw_completion_tokens(rng).min(s.max_tokens);
            let t = profile.draw_call(rng, s.prompt_tokens, completion_tokens);
            let hit = primed && rng.random::<f64>() < cache_hit;
            primed |= s.purpose == Purpose::Caption;
            Observation {
                purpose: s.purpose,
                prompt_tokens: s.prompt_tokens,
                completion_tokens,
                cached_tokens: crate::openai::world::cached_tokens(
                    s.prompt_tokens,
                    s.shared_prefix_tokens,
                    hit,
                ),
                reasoning_tokens: 0,
                latency_ms: t.total.as_secs_f64() * 1000.0,
                first_token_ms: streamed.then_some(t.ttft.as_secs_f64() * 1000.0),
            }
        })
        .collect()
}

fn truth(p: &Profile) -> [f64; 4] {
    match p {
        Profile::HeavyTail {
            ttft_ms,
            output_tokens_per_s,
            ..
        } => [
            ttft_ms.p50,
            ttft_ms.p95,
            output_tokens_per_s.min,
            output_tokens_per_s.max,
        ],
        Profile::Fixed { .. } => [f64::NAN; 4],
    }
}

fn accuracy(errors: &[f64]) -> Accuracy {
    let s = super::stats::sorted(errors);
    Accuracy {
        median_rel_error: super::stats::quantile_sorted(&s, 0.5),
        within_10: s.iter().filter(|e| **e <= 0.10).count() as f64 / s.len() as f64,
    }
}

/// `reps` simulated calibrations of `case` with `calls` calls, fitted by `method`.
pub fn precision(
    case: &Case,
    calls: u32,
    method: Method,
    reps: u32,
    seed: u64,
    resamples: u32,
) -> PrecisionRow {
    let specs = design("m", calls, IMAGE, CAPTION);
    let truth = truth(&case.profile);
    let mut errors: [Vec<f64>; 4] = Default::default();
    let (mut w50, mut w95, mut failed) = (0.0, 0.0, 0);
    let (mut c50, mut c95) = (0, 0);
    let holds = |e: &super::Estimate, v: f64| e.low <= v && v <= e.high;
    for rep in 0..reps {
        let rep_seed = crate::openai::world::mix(seed ^ (rep as u64) << 20 ^ calls as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(rep_seed);
        let obs = observe(
            &case.profile,
            &specs,
            method == Method::Streamed,
            1.0,
            &mut rng,
        );
        let opts = FitOptions {
            seed: rep_seed,
            resamples,
        };
        let Ok(f) = fit_with("m", &obs, &case.profile, "", "", opts) else {
            failed += 1;
            errors.iter_mut().for_each(|e| e.push(f64::INFINITY));
            continue;
        };
        let got = [
            f.ttft_p50_ms.value,
            f.ttft_p95_ms.value,
            f.tokens_per_s_min.value,
            f.tokens_per_s_max.value,
        ];
        for i in 0..4 {
            errors[i].push((got[i] / truth[i] - 1.0).abs());
        }
        w50 += (f.ttft_p50_ms.high - f.ttft_p50_ms.low) / truth[0];
        w95 += (f.ttft_p95_ms.high - f.ttft_p95_ms.low) / truth[1];
        c50 += holds(&f.ttft_p50_ms, truth[0]) as u32;
        c95 += holds(&f.ttft_p95_ms, truth[1]) as u32;
    }
    let fitted = (reps - failed).max(1) as f64;
    PrecisionRow {
        case: case.name.clone(),
        calls,
        method,
        p50: accuracy(&errors[0]),
        p95: accuracy(&errors[1]),
        speed_min: accuracy(&errors[2]),
        speed_max: accuracy(&errors[3]),
        p50_width: w50 / fitted,
        p95_width: w95 / fitted,
        p50_coverage: c50 as f64 / fitted,
        p95_coverage: c95 as f64 / fitted,
        failed,
    }
}

/// The whole sweep: every case, every entry of [`CALLS`], both methods.
pub fn table(reps: u32, seed: u64, resamples: u32) -> Vec<PrecisionRow> {
    let mut rows = Vec::new();
    for case in cases() {
        for method in [Method::Streamed, Method::Regression] {
            for calls in CALLS {
                rows.push(precision(&case, calls, method, reps, seed, resamples));
            }
        }
    }
    rows
}

/// The sweep as a Markdown table: errors and widths in %.
pub fn markdown(rows: &[PrecisionRow]) -> String {
    let pct = |x: f64| format!("{:.1}", 100.0 * x);
    let acc = |a: &Accuracy| format!("{} / {}", pct(a.median_rel_error), pct(a.within_10));
    let mut out = String::from(
        "| profile | method | calls | p50 err / ≤10 % | p95 err / ≤10 % | min err / ≤10 % | \
         max err / ≤10 % | p50 CI width / cover | p95 CI width / cover |\n\
         |---|---|---:|---|---|---|---|---:|---:|\n",
    );
    for r in rows {
        let method = match r.method {
            Method::Streamed => "streamed",
            Method::Regression => "regression",
        };
        out.push_str(&format!(
            "| {} | {method} | {} | {} | {} | {} | {} | {} / {} | {} / {} |\n",
            r.case,
            r.calls,
            acc(&r.p50),
            acc(&r.p95),
            acc(&r.speed_min),
            acc(&r.speed_max),
            pct(r.p50_width),
            pct(r.p50_coverage),
            pct(r.p95_width),
            pct(r.p95_coverage)
        ));
    }
    out
}

/// `profile` with its TTFT p50 multiplied by `factor` (p95 and the tail kept): "20 % slower on
/// TTFT p50" is `slower_p50(p, 1.2)`.
pub fn slower_p50(profile: &Profile, factor: f64) -> Profile {
    let mut p = profile.clone();
    if let Profile::HeavyTail { ttft_ms, .. } = &mut p {
        ttft_ms.p50 *= factor;
    }
    p
}

/// What the drift verdict said over simulated calibrations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct DriftTrials {
    pub reps: u32,
    /// Every deciding figure's interval held the shipped value.
    pub fits: u32,
    /// Some interval excluded it, by less than [`super::drift::PRACTICAL`].
    pub within_noise: u32,
    /// "No longer describes this account".
    pub drifted: u32,
    /// The fit refused (too few usable calls).
    pub failed: u32,
}

/// `reps` simulated calibrations of an account answering with `truth`, `calls` calls each
/// (the default design), fitted as `calibrate` fits them (default bootstrap size) and judged
/// against `shipped` by [`super::drift::drift`], the verdict `calibrate` prints.
pub fn drift_trials(
    truth: &Profile,
    shipped: &Profile,
    calls: u32,
    method: Method,
    reps: u32,
    seed: u64,
) -> DriftTrials {
    let specs = design("m", calls, IMAGE, CAPTION);
    let mut out = DriftTrials {
        reps,
        ..DriftTrials::default()
    };
    for rep in 0..reps {
        let rep_seed = crate::openai::world::mix(seed ^ (rep as u64) << 20 ^ calls as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(rep_seed);
        let obs = observe(truth, &specs, method == Method::Streamed, 1.0, &mut rng);
        let opts = FitOptions {
            seed: rep_seed,
            ..FitOptions::default()
        };
        let Ok(f) = fit_with("m", &obs, shipped, "", "", opts) else {
            out.failed += 1;
            continue;
        };
        let d = super::drift::drift(&f, shipped);
        if !d.fair {
            out.drifted += 1;
        } else if d.rows.iter().take(4).all(|r| r.within) {
            out.fits += 1;
        } else {
            out.within_noise += 1;
        }
    }
    out
}

/// docs/calibrate.md's drift table: for each shipped profile and method, calibrations of an
/// account serving it exactly and of one 20 % slower on TTFT p50.
pub fn drift_table(reps: u32, seed: u64, calls: u32) -> String {
    let mut out = String::from(
        "| account serves | method | calls | calibrations | fits | within noise | drifted | fit refused |\n\
         |---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for case in cases().into_iter().take(2) {
        for (label, truth) in [
            (format!("{} as shipped", case.name), case.profile.clone()),
            (
                format!("{}, TTFT p50 × 1.2", case.name),
                slower_p50(&case.profile, 1.2),
            ),
        ] {
            for method in [Method::Streamed, Method::Regression] {
                let t = drift_trials(&truth, &case.profile, calls, method, reps, seed);
                out.push_str(&format!(
                    "| {label} | {} | {calls} | {} | {} | {} | {} | {} |\n",
                    match method {
                        Method::Streamed => "streamed",
                        Method::Regression => "regression",
                    },
                    t.reps,
                    t.fits,
                    t.within_noise,
                    t.drifted,
                    t.failed
                ));
            }
        }
    }
    out
}

/// Share of calibrations whose p50 interval, scaled about its estimate by each of `factors`,
/// holds the true p50: how far an interval must widen to cover as it claims.
pub fn p50_coverage_scaled(
    case: &Case,
    calls: u32,
    method: Method,
    reps: u32,
    seed: u64,
    factors: &[f64],
) -> Vec<f64> {
    let specs = design("m", calls, IMAGE, CAPTION);
    let truth = truth(&case.profile)[0];
    let mut held = vec![0u32; factors.len()];
    let mut fitted = 0u32;
    for rep in 0..reps {
        let rep_seed = crate::openai::world::mix(seed ^ (rep as u64) << 20 ^ calls as u64);
        let mut rng = ChaCha8Rng::seed_from_u64(rep_seed);
        let obs = observe(
            &case.profile,
            &specs,
            method == Method::Streamed,
            1.0,
            &mut rng,
        );
        let opts = FitOptions {
            seed: rep_seed,
            ..FitOptions::default()
        };
        let Ok(f) = fit_with("m", &obs, &case.profile, "", "", opts) else {
            continue;
        };
        fitted += 1;
        let e = f.ttft_p50_ms;
        for (h, g) in held.iter_mut().zip(factors) {
            let (lo, hi) = (
                e.value - g * (e.value - e.low),
                e.value + g * (e.high - e.value),
            );
            *h += (lo <= truth && truth <= hi) as u32;
        }
    }
    held.iter()
        .map(|h| *h as f64 / fitted.max(1) as f64)
        .collect()
}

#[cfg(test)]
mod tests;
