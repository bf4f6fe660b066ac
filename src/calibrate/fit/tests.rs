use super::*;
use crate::openai::latency::{LengthDist, Range, TtftPercentiles};

fn shipped(k: f64) -> Profile {
    Profile::HeavyTail {
        as_of: "2025-06-01".into(),
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
        prompt_tokens_per_output_token: k,
        completion_tokens: LengthDist {
            median: 220,
            sigma: 0.35,
            min: 8,
            max: 2048,
        },
    }
}

/// A call of an account whose TTFT is always 500 ms, whose speed is always 50 tokens/s
/// (u = 20 ms per token) and whose prompt factor is 100 (0.2 ms per prompt token):
/// `L = 500 + 20 (c − 1) + 0.2 p`.
fn exact(purpose: Purpose, prompt: u32, completion: u32, streamed: bool) -> Observation {
    let latency = 500.0 + 20.0 * (completion as f64 - 1.0) + 0.2 * prompt as f64;
    Observation {
        purpose,
        prompt_tokens: prompt,
        completion_tokens: completion,
        cached_tokens: 0,
        reasoning_tokens: 0,
        latency_ms: latency,
        first_token_ms: streamed.then_some(500.0),
    }
}

/// Six short probes, two long probes, speed calls of 150–290 tokens, two post-shaped calls.
fn exact_design(streamed: bool) -> Vec<Observation> {
    let mut obs: Vec<Observation> = (0..6)
        .map(|_| exact(Purpose::Probe, 64, 1, streamed))
        .collect();
    obs.push(exact(Purpose::Probe, 1200, 1, streamed));
    obs.push(exact(Purpose::Probe, 1200, 1, streamed));
    obs.extend((0..8).map(|i| exact(Purpose::Speed, 64, 150 + 20 * i, streamed)));
    obs.push(exact(Purpose::ImagePrompt, 800, 150, streamed));
    obs.push(exact(Purpose::Caption, 1200, 200, streamed));
    obs
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * b.abs().max(1.0)
}

#[test]
fn streamed_exact_observations_give_back_ttft_speed_and_prompt_factor() {
    let f = fit("gpt-4o", &exact_design(true), &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.method, Method::Streamed);
    assert_eq!(f.calls, 18);
    // All TTFTs equal: σ = 0, so p50 = p95 = 500, and every resample says the same.
    for e in [f.ttft_p50_ms, f.ttft_p95_ms] {
        assert!(
            close(e.value, 500.0, 1e-12) && close(e.low, 500.0, 1e-12),
            "{e:?}"
        );
    }
    // Long probes: G = 1200 × 20 / 100 = 240 ms, so E[G/p] = 0.2 and k = 20 / 0.2 = 100.
    assert!(close(f.prompt_tokens_per_output_token.value, 100.0, 1e-12));
    // Every writing call: (c − 1 + p/100) × 1000 / G = 50 tokens/s; R = 0 so no padding.
    assert!(close(f.tokens_per_s_min.value, 50.0, 1e-9));
    assert!(close(f.tokens_per_s_max.value, 50.0, 1e-9));
    let Profile::HeavyTail { ttft_ms, .. } = &f.profile else {
        panic!()
    };
    // The tail keeps the shipped ratios to p95: 4517/1144 and 7010/1144.
    assert!(close(ttft_ms.p99, 500.0 * 4517.0 / 1144.0, 1e-12));
    assert!(close(ttft_ms.p99_99, 500.0 * 7010.0 / 1144.0, 1e-12));
    assert!(f.notes.iter().any(|n| n.contains("tail above p95")));
}

#[test]
fn streamed_prompt_factor_converges_from_a_wrong_shipped_start() {
    let f = fit("m", &exact_design(true), &shipped(30.0), "d", "s").unwrap();
    assert!(close(f.prompt_tokens_per_output_token.value, 100.0, 1e-6));
}

/// Noiseless plain answers `L = 500 + 20 (c − 1) + 0.2 p`: least squares on (1, c − 1, p)
/// fits them with zero residual, so β = (500, 20, 0.2) exactly (`regression::tests`), and
/// k = β₁/β₂ = 20/0.2 = 100. A short probe gives T = L − 64 × 0.2 = (500 + 12.8) − 12.8 = 500,
/// so p50 = p95 = 500, and every writing call's speed is (c − 1 + p/100) × 1000 / (L − 500) =
/// 1000/20 = 50. The range's correction simulates the model, whose TTFT has a tail above p95
/// that these answers lack, so it may move the ends a little.
#[test]
fn regression_on_noiseless_answers_recovers_k_and_speed_exactly() {
    let f = fit("m", &exact_design(false), &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.method, Method::Regression);
    assert!(close(f.prompt_tokens_per_output_token.value, 100.0, 1e-9));
    assert!(close(f.ttft_p50_ms.value, 500.0, 1e-9));
    assert!(close(f.ttft_p95_ms.value, 500.0, 1e-9));
    assert!(
        close(f.tokens_per_s_min.value, 50.0, 0.05),
        "{:?}",
        f.tokens_per_s_min
    );
    assert!(
        close(f.tokens_per_s_max.value, 50.0, 0.05),
        "{:?}",
        f.tokens_per_s_max
    );
    assert!(f.notes.iter().any(|n| n.starts_with("regression")));
}

#[test]
fn answer_lengths_come_from_uncapped_speed_calls_only() {
    let mut obs = exact_design(true);
    // Speed answers 150, 170, ..., 290; a capped one is dropped and noted.
    obs.push(exact(Purpose::Speed, 64, SPEED_MAX_TOKENS, true));
    let f = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
    let logs: Vec<f64> = (0..8).map(|i| (150.0 + 20.0 * i as f64).ln()).collect();
    assert!(close(
        f.completion_median.value,
        stats::mean(&logs).exp(),
        1e-12
    ));
    assert!(close(f.completion_sigma.value, stats::sd(&logs), 1e-12));
    assert!(f
        .notes
        .iter()
        .any(|n| n.contains("1 speed calls hit max_tokens")));
}

#[test]
fn cache_hits_count_caption_calls_after_the_first() {
    let mut obs = exact_design(true);
    for cached in [0, 1024, 1024, 0, 1024] {
        let mut o = exact(Purpose::Caption, 1200, 200, true);
        o.cached_tokens = cached;
        obs.push(o);
    }
    // Captions in order: 0 (from exact_design, primes), then 0, 1024, 1024, 0, 1024: 3 of 5.
    let f = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.prompt_cache_hit, Some(stats::wilson(3, 5)));
    let none = fit("m", &exact_design(true)[..18], &shipped(100.0), "d", "s").unwrap();
    assert_eq!(none.prompt_cache_hit, None);
}

#[test]
fn too_few_probes_is_an_error_naming_the_shortfall() {
    let obs: Vec<Observation> = exact_design(false)
        .into_iter()
        .filter(|o| o.purpose != Purpose::Probe || o.prompt_tokens > 64)
        .chain((0..4).map(|_| exact(Purpose::Probe, 64, 1, false)))
        .collect();
    let e = fit("m", &obs, &shipped(100.0), "d", "s").unwrap_err();
    assert_eq!(
        e,
        FitError::TooFewTtft {
            model: "m".into(),
            got: 4,
            need: MIN_TTFT_SAMPLES
        }
    );
}

#[test]
fn a_fixed_shipped_profile_cannot_be_fitted() {
    let fixed = Profile::Fixed {
        as_of: String::new(),
        source: String::new(),
        latency_ms: 0,
        completion_tokens: 100,
    };
    assert!(matches!(
        fit("m", &exact_design(true), &fixed, "d", "s"),
        Err(FitError::ShippedNotHeavyTail { .. })
    ));
}

#[test]
fn the_profile_is_stamped_and_checks() {
    let f = fit(
        "m",
        &exact_design(true),
        &shipped(100.0),
        "2026-12-01",
        "host",
    )
    .unwrap();
    let Profile::HeavyTail { as_of, source, .. } = &f.profile else {
        panic!()
    };
    assert_eq!((as_of.as_str(), source.as_str()), ("2026-12-01", "host"));
    assert!(f.profile.check().is_ok());
}

#[test]
fn an_implausible_prompt_factor_keeps_the_shipped_one() {
    // Long probes answering in 0.0012 ms per prompt token: k = 20 / 0.0012 ≈ 16,667.
    let obs: Vec<Observation> = exact_design(true)
        .into_iter()
        .map(|mut o| {
            if o.purpose == Purpose::Probe && o.prompt_tokens == 1200 {
                o.latency_ms = 500.0 + 1200.0 * 0.0012;
            }
            o
        })
        .collect();
    let f = fit("m", &obs, &shipped(90.0), "d", "s").unwrap();
    let k = f.prompt_tokens_per_output_token;
    assert_eq!((k.value, k.low, k.high), (90.0, 0.0, f64::INFINITY));
    assert!(f
        .notes
        .iter()
        .any(|n| n.contains("outside [1, 10000]: kept the shipped 90")));
}

fn purpose(i: u8) -> Purpose {
    [
        Purpose::Probe,
        Purpose::Speed,
        Purpose::ImagePrompt,
        Purpose::Caption,
    ][i as usize % 4]
}

proptest::proptest! {
    /// Whatever an endpoint answers, the fit returns an error or a profile that checks.
    #[test]
    fn any_observations_give_an_error_or_a_valid_profile(
        raw in proptest::collection::vec(
            (0u8..4, 1u32..3_000, 0u32..1_500, 0.0f64..20_000.0, proptest::option::of(0.0f64..20_000.0)),
            0..40,
        ),
    ) {
        let obs: Vec<Observation> = raw
            .into_iter()
            .map(|(p, prompt, completion, latency, first)| Observation {
                purpose: purpose(p),
                prompt_tokens: prompt,
                completion_tokens: completion,
                cached_tokens: 0,
                reasoning_tokens: 0,
                latency_ms: latency,
                first_token_ms: first,
            })
            .collect();
        let opts = FitOptions { seed: 1, resamples: 20 };
        if let Ok(f) = fit_with("m", &obs, &shipped(100.0), "d", "s", opts) {
            proptest::prop_assert!(f.profile.check().is_ok());
            proptest::prop_assert!(f.ttft_p50_ms.value <= f.ttft_p95_ms.value);
        }
    }
}

/// A probe whose latency is not a positive finite number (-1, 0, ∞, NaN) tells nothing and is
/// left out: plain answers are regressed on every call, so one kept would change `calls` (18
/// in `exact_design`) and the fit; adding them must give the same fit as without them.
#[test]
fn calls_without_a_positive_finite_latency_are_left_out() {
    for streamed in [false, true] {
        let clean = fit("m", &exact_design(streamed), &shipped(100.0), "d", "s").unwrap();
        for bad in [-1.0, 0.0, f64::INFINITY, f64::NAN] {
            let mut obs = exact_design(streamed);
            let mut o = exact(Purpose::Probe, 64, 1, streamed);
            o.latency_ms = bad;
            obs.push(o);
            let f = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
            assert_eq!(f.calls, 18, "latency {bad}, streamed {streamed}");
            assert_eq!(f, clean, "latency {bad}, streamed {streamed}");
        }
    }
}

/// A first token timed after the whole answer (400 ms for a 300 ms probe) is not a time to
/// first token: the call keeps its latency but gives no TTFT, so with 18 streamed calls of 19
/// the fit is the streamed one over the 18, as without it (every TTFT 500, p50 = 500; the
/// 400 kept would be the lowest of nineteen TTFTs, inside the body the fit reads, and move it).
#[test]
fn a_first_token_after_the_last_byte_is_not_a_ttft() {
    let clean = fit("m", &exact_design(true), &shipped(100.0), "d", "s").unwrap();
    let mut obs = exact_design(true);
    let mut late = exact(Purpose::Probe, 64, 1, true);
    late.latency_ms = 300.0;
    late.first_token_ms = Some(400.0);
    obs.push(late);
    let f = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.method, Method::Streamed);
    assert_eq!(f.ttft_p50_ms, clean.ttft_p50_ms);
    assert_eq!(f.ttft_p95_ms, clean.ttft_p95_ms);
}

/// A probe whose prompt is exactly `LONG_PROBE_FROM` tokens is a long probe (the prompt
/// factor's), not a short one: its latency carries the prompt's reading time, so it is not a
/// TTFT sample. Four short probes and one at the boundary are four TTFTs, too few.
#[test]
fn a_probe_at_the_long_prompt_boundary_is_not_a_ttft_sample() {
    let obs: Vec<Observation> = exact_design(false)
        .into_iter()
        .filter(|o| o.purpose != Purpose::Probe || o.prompt_tokens > 64)
        .chain((0..4).map(|_| exact(Purpose::Probe, 64, 1, false)))
        .chain([exact(Purpose::Probe, LONG_PROBE_FROM, 1, false)])
        .collect();
    let e = fit("m", &obs, &shipped(100.0), "d", "s").unwrap_err();
    assert_eq!(
        e,
        FitError::TooFewTtft {
            model: "m".into(),
            got: 4,
            need: MIN_TTFT_SAMPLES
        }
    );
}

/// The regression method's speed ends carry a normal interval, the estimate ± 1.96 times the
/// simulated replicates' spread: symmetric about the estimate, and not empty (the simulated
/// TTFTs vary, so the replicates do).
#[test]
fn regression_speed_intervals_are_symmetric_about_their_estimates() {
    let f = fit("m", &exact_design(false), &shipped(100.0), "d", "s").unwrap();
    for e in [f.tokens_per_s_min, f.tokens_per_s_max] {
        assert!(e.low < e.value && e.value < e.high, "{e:?}");
        let (below, above) = (e.value - e.low, e.high - e.value);
        assert!((below - above).abs() <= 1e-9 * e.value, "{e:?}");
    }
}

/// The answer length's intervals, by hand (Python's statistics module) for the eight speed
/// answers 150, 170, ..., 290: mean of the logs m = ln 215.0888, sample sd s = 0.229693; the
/// median's interval exp(m ± 1.96 s/√8) = [183.4395, 252.1987], σ's s (1 ∓ 1.96/√14) =
/// [0.109375, 0.350011].
#[test]
fn the_answer_lengths_intervals_by_hand() {
    let f = fit("m", &exact_design(true), &shipped(100.0), "d", "s").unwrap();
    let (m, s) = (f.completion_median, f.completion_sigma);
    assert!(close(m.value, 215.088_819_193_611_4, 1e-12), "{m:?}");
    assert!(close(m.low, 183.439_492_287_251_4, 1e-12), "{m:?}");
    assert!(close(m.high, 252.198_692_687_491_9, 1e-12), "{m:?}");
    assert!(close(s.value, 0.229_692_972_540_021_27, 1e-12), "{s:?}");
    assert!(close(s.low, 0.109_374_646_422_903_6, 1e-12), "{s:?}");
    assert!(close(s.high, 0.350_011_298_657_138_9, 1e-12), "{s:?}");
}

/// Three uncapped speed answers are enough to fit the length; two are not, and the shipped
/// distribution (median 220, σ 0.35) is kept with a point interval and a note.
#[test]
fn three_uncapped_answers_fit_the_length_and_two_keep_the_shipped_one() {
    let with_speed_calls = |n: u32| -> Vec<Observation> {
        exact_design(true)
            .into_iter()
            .filter(|o| o.purpose != Purpose::Speed)
            .chain((0..n).map(|i| exact(Purpose::Speed, 64, 100 * (i + 1), true)))
            .collect()
    };
    let three = fit("m", &with_speed_calls(3), &shipped(100.0), "d", "s").unwrap();
    // exp(mean(ln 100, ln 200, ln 300)) = (100 × 200 × 300)^(1/3) = 181.7121.
    assert!(close(
        three.completion_median.value,
        181.712_059_283_213_97,
        1e-12
    ));
    let two = fit("m", &with_speed_calls(2), &shipped(100.0), "d", "s").unwrap();
    let (m, s) = (two.completion_median, two.completion_sigma);
    assert_eq!((m.value, m.low, m.high), (220.0, 220.0, 220.0));
    assert_eq!((s.value, s.low, s.high), (0.35, 0.35, 0.35));
    assert!(two.notes.iter().any(|n| n.starts_with("too few uncapped")));
}

/// The streamed prompt factor's interval, k·exp(±1.96·√(CV²(G/p)/m + CV²(u)/n)), on long
/// probes that disagree: G = 240 and 360 ms for 1,200 prompt tokens, so G/p is 0.2 and 0.3
/// (mean 0.25, CV² / 2 = 0.04). The ten writing calls are `L − T = 20 (c − 1) + 0.2 p`; the
/// fixed point k = mean(G/(c − 1 + p/k)) / 0.25 and the interval, worked out in Python:
/// k = 79.734126, CV²(u)/10 = 2.92e-6, spread 0.392007, interval [53.876294, 118.002379].
#[test]
fn the_streamed_prompt_factors_interval_by_hand() {
    let mut obs = exact_design(true);
    let mut long = obs
        .iter_mut()
        .filter(|o| o.purpose == Purpose::Probe && o.prompt_tokens == 1200);
    long.next().unwrap().latency_ms = 500.0 + 240.0;
    long.next().unwrap().latency_ms = 500.0 + 360.0;
    let k = fit("m", &obs, &shipped(100.0), "d", "s")
        .unwrap()
        .prompt_tokens_per_output_token;
    assert!(close(k.value, 79.734_126_146_295_08, 1e-9), "{k:?}");
    assert!(close(k.low, 53.876_294_188_431_21, 1e-9), "{k:?}");
    assert!(close(k.high, 118.002_378_747_097_3, 1e-9), "{k:?}");
}

/// One long probe is not enough for the prompt factor: the shipped one is kept and noted.
#[test]
fn one_long_probe_keeps_the_shipped_prompt_factor() {
    let mut obs = exact_design(true);
    let i = obs.iter().position(|o| o.prompt_tokens == 1200).unwrap();
    obs.remove(i);
    let f = fit("m", &obs, &shipped(30.0), "d", "s").unwrap();
    let k = f.prompt_tokens_per_output_token;
    assert_eq!((k.value, k.low, k.high), (30.0, 0.0, f64::INFINITY));
    assert!(f.notes.iter().any(|n| n.contains("could not be measured")));
}

/// The fewest calls a streamed fit takes: five TTFTs, three of them from writing calls (two
/// probes and three speed calls); one call fewer of either kind is refused, naming it.
#[test]
fn the_fewest_calls_a_streamed_fit_takes() {
    let calls = |probes: u32, speed: u32| -> Vec<Observation> {
        (0..probes)
            .map(|_| exact(Purpose::Probe, 64, 1, true))
            .chain((0..speed).map(|i| exact(Purpose::Speed, 64, 150 + 20 * i, true)))
            .collect()
    };
    let f = fit("m", &calls(2, 3), &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.calls, 5);
    let e = fit("m", &calls(1, 3), &shipped(100.0), "d", "s").unwrap_err();
    assert_eq!(
        e,
        FitError::TooFewTtft {
            model: "m".into(),
            got: 4,
            need: 5
        }
    );
    let e = fit("m", &calls(3, 2), &shipped(100.0), "d", "s").unwrap_err();
    assert_eq!(
        e,
        FitError::TooFewSpeed {
            model: "m".into(),
            got: 2,
            need: 3
        }
    );
}

/// The method follows the majority: half the calls streamed (18 of 36) is streamed, one plain
/// call more (18 of 37) is regression.
#[test]
fn half_the_calls_streamed_is_the_streamed_method() {
    let mut obs = exact_design(true);
    obs.extend(exact_design(false));
    assert_eq!(
        fit("m", &obs, &shipped(100.0), "d", "s").unwrap().method,
        Method::Streamed
    );
    obs.push(exact(Purpose::Probe, 64, 1, false));
    assert_eq!(
        fit("m", &obs, &shipped(100.0), "d", "s").unwrap().method,
        Method::Regression
    );
}

/// A call whose whole answer came with its first token (latency = TTFT = 500 ms) spent no
/// time after it: it gives a TTFT but no speed (its G = 0 would be an infinite speed) and,
/// for a long probe, no prompt factor (its G/p = 0 would pull the mean of G/p from 0.2 to
/// 0.133 and k from 100 to 150). The fit stays the exact one: 50 tokens/s, k = 100.
#[test]
fn a_call_with_no_time_after_its_first_token_gives_no_speed_or_prompt_factor() {
    let mut obs = exact_design(true);
    for (purpose, prompt, completion) in
        [(Purpose::ImagePrompt, 800, 150), (Purpose::Probe, 1200, 1)]
    {
        let mut o = exact(purpose, prompt, completion, true);
        o.latency_ms = 500.0;
        obs.push(o);
    }
    let f = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.calls, 20);
    assert!(
        close(f.tokens_per_s_max.value, 50.0, 1e-9),
        "{:?}",
        f.tokens_per_s_max
    );
    assert!(
        close(f.tokens_per_s_min.value, 50.0, 1e-9),
        "{:?}",
        f.tokens_per_s_min
    );
    assert!(close(f.prompt_tokens_per_output_token.value, 100.0, 1e-12));
}

/// The regression method's prompt-factor bootstrap and range simulation draw from the fit's
/// seed: on the same noisy answers (gpt-4o's shipped profile, reading its prompt 20 times
/// faster than shipped (k = 5) so that the long probes show it clearly, answering the default
/// design unstreamed), four seeds give four different k intervals and four different speed-range
/// intervals, while one seed gives the same fit twice.
#[test]
fn the_regression_fits_resamples_follow_its_seed() {
    use rand::SeedableRng;
    let mut profile = super::super::precision::cases()[0].profile.clone();
    if let Profile::HeavyTail {
        prompt_tokens_per_output_token,
        ..
    } = &mut profile
    {
        *prompt_tokens_per_output_token = 5.0;
    }
    let specs = super::super::design::design("m", 160, (800, 150), (1_200, 200));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let obs = super::super::precision::observe(&profile, &specs, false, 1.0, &mut rng);
    let at = |seed: u64| {
        let opts = FitOptions {
            seed,
            resamples: 40,
        };
        fit_with("m", &obs, &profile, "d", "s", opts).unwrap()
    };
    let fits: Vec<Fit> = (0..4).map(at).collect();
    assert_eq!(fits[0].method, Method::Regression, "{:?}", fits[0].notes);
    assert_eq!(at(0), fits[0]);
    for i in 0..4 {
        for j in i + 1..4 {
            let (a, b) = (&fits[i], &fits[j]);
            let k = |f: &Fit| {
                (
                    f.prompt_tokens_per_output_token.low,
                    f.prompt_tokens_per_output_token.high,
                )
            };
            assert_ne!(k(a), k(b), "seeds {i} and {j}");
            assert_ne!(a.tokens_per_s_min, b.tokens_per_s_min, "seeds {i} and {j}");
        }
    }
}

/// The regression method's range correction simulates the fitted TTFT with the shipped
/// profile's tail above p95. Against a shipped profile without a tail (p99 = p99.99 = p95)
/// the noiseless answers' TTFT is 500 ms at every percentile, so each simulated call takes
/// exactly the time the model gives, every simulated speed is the candidate's, the
/// correction has nothing to correct, and the ends are the observed 50 tokens/s with no
/// spread. The prompt factor's bootstrap is as exact: every resample of noiseless answers
/// gives k = 20 / 0.2 = 100.
#[test]
fn regression_without_a_shipped_tail_corrects_nothing() {
    let mut flat = shipped(100.0);
    if let Profile::HeavyTail { ttft_ms, .. } = &mut flat {
        ttft_ms.p99 = ttft_ms.p95;
        ttft_ms.p99_99 = ttft_ms.p95;
    }
    let f = fit("m", &exact_design(false), &flat, "d", "s").unwrap();
    assert_eq!(f.method, Method::Regression);
    for e in [f.tokens_per_s_min, f.tokens_per_s_max] {
        assert!(
            close(e.value, 50.0, 1e-9) && close(e.low, 50.0, 1e-9) && close(e.high, 50.0, 1e-9),
            "{e:?}"
        );
    }
    let k = f.prompt_tokens_per_output_token;
    assert!(
        close(k.low, 100.0, 1e-9) && close(k.high, 100.0, 1e-9),
        "{k:?}"
    );
}

mod prompt_factor;

/// Calls at a measured effort spend reasoning before their first token: the profile's fit
/// leaves them out, so adding them (streamed or not, slow or censored) changes nothing.
#[test]
fn calls_at_a_measured_effort_are_left_out_of_the_profiles_fit() {
    use crate::openai::reasoning::Effort;
    for streamed in [true, false] {
        let alone = fit("m", &exact_design(streamed), &shipped(100.0), "d", "s").unwrap();
        let mut obs = exact_design(streamed);
        for (r, v) in [(640, 150), (2_000, 200), (4_552, 0)] {
            let mut o = exact(
                Purpose::Reasoning(Effort::Medium),
                1_200,
                v.max(1),
                streamed,
            );
            // 640 reasoning tokens at 20 ms a token: 12.8 s before the first visible one.
            o.first_token_ms = o.first_token_ms.map(|f| f + 20.0 * r as f64);
            o.latency_ms += 20.0 * r as f64;
            (o.completion_tokens, o.reasoning_tokens) = (v, r);
            obs.push(o);
        }
        let with = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
        assert_eq!(with, alone, "streamed {streamed}");
    }
}
