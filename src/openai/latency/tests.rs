//! The latency model against its published anchors, hand-worked call times and check's bounds.

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

/// The field `check` names for gpt4o() changed by `edit`, or "ok".
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
    p.check().map_or_else(|(field, _)| field, |()| "ok".into())
}

#[test]
fn check_takes_each_bound_and_refuses_past_it() {
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
    assert_eq!(p.check().unwrap_err().0, "prompt_tokens_per_output_token");
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
        .check()
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

#[test]
fn a_completion_length_grows_with_its_normal_score() {
    // Each draw is median × e^(sigma × z) for the standard-normal z it takes first from the
    // rng, rounded and clamped to [min, max]: a longer length for a higher z (the other way
    // round, median / e^(sigma × z), has the same spread but pairs each seed with the mirror
    // length).
    let p = gpt4o();
    for seed in 0..200 {
        let z: f64 = StandardNormal.sample(&mut ChaCha8Rng::seed_from_u64(seed));
        let want = ((220.0 * (0.35 * z).exp()).round() as u32).clamp(8, 2048);
        let got = p.draw_completion_tokens(&mut ChaCha8Rng::seed_from_u64(seed));
        assert_eq!(got, want, "seed {seed}, z = {z}");
    }
}

/// gpt-4o's profile at one speed, 50 tokens/s.
fn at_50_tokens_per_s() -> Profile {
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
    Profile::HeavyTail {
        as_of,
        source,
        ttft_ms,
        output_tokens_per_s: Range {
            min: 50.0,
            max: 50.0,
        },
        prompt_tokens_per_output_token: 100.0,
        completion_tokens,
    }
}

#[test]
fn reasoning_tokens_come_before_the_first_visible_token() {
    // At 50 tokens/s, 500 reasoning tokens take 500 / 50 = 10 s before the first visible token;
    // the 201 visible tokens then take 200 / 50 = 4 s and the 1,000-token prompt 1,000 / (100 x
    // 50) = 0.2 s, as without reasoning.
    let p = at_50_tokens_per_s();
    let plain = p.draw_call(&mut ChaCha8Rng::seed_from_u64(7), 1_000, 201);
    let reasoned = p.draw_reasoning_call(&mut ChaCha8Rng::seed_from_u64(7), 1_000, 500, 201);
    assert!(((reasoned.ttft - plain.ttft).as_secs_f64() - 10.0).abs() < 1e-9);
    assert!(((reasoned.total - reasoned.ttft).as_secs_f64() - 4.2).abs() < 1e-9);
    // No reasoning is the plain call, draw for draw.
    let none = p.draw_reasoning_call(&mut ChaCha8Rng::seed_from_u64(7), 1_000, 0, 201);
    assert_eq!(none, plain);
}

#[test]
fn a_call_whose_reasoning_used_the_budget_ends_with_its_reasoning() {
    // 200 reasoning tokens at 50 tokens/s (4 s) and no visible token: the call ends 4 s after
    // the drawn TTFT, plus the 0.2 s of reading its 1,000-token prompt.
    let p = at_50_tokens_per_s();
    let plain = p.draw_call(&mut ChaCha8Rng::seed_from_u64(9), 1_000, 0);
    let empty = p.draw_reasoning_call(&mut ChaCha8Rng::seed_from_u64(9), 1_000, 200, 0);
    assert!(((empty.total - plain.total).as_secs_f64() - 4.0).abs() < 1e-9);
}
