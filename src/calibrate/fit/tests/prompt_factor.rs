//! The prompt factor's note and the short probes' prompt term when the fit keeps the shipped
//! factor (issue 28 §3).

use super::*;

/// `exact_design` unstreamed, each call's latency `L = 500 + 20 (c − 1) + per_p · p`.
fn unstreamed_with_prompt_slope(per_p: f64) -> Vec<Observation> {
    exact_design(false)
        .into_iter()
        .map(|mut o| {
            o.latency_ms =
                500.0 + 20.0 * (o.completion_tokens as f64 - 1.0) + per_p * o.prompt_tokens as f64;
            o
        })
        .collect()
}

/// Regression: a latency regression whose prompt slope came out negative kept the shipped
/// prompt factor with the note "too few long-prompt calls", though the design had its two
/// long probes. The note now gives the slopes. `L = 500 + 20 (c − 1) − 0.01 p` is solved
/// exactly: β = (500, 20, −0.01).
#[test]
fn a_negative_prompt_slope_is_named_in_the_note_not_too_few_long_prompt_calls() {
    let f = fit(
        "m",
        &unstreamed_with_prompt_slope(-0.01),
        &shipped(100.0),
        "d",
        "s",
    )
    .unwrap();
    assert_eq!(f.method, Method::Regression);
    let k = f.prompt_tokens_per_output_token;
    assert_eq!((k.value, k.low, k.high), (100.0, 0.0, f64::INFINITY));
    let note = f
        .notes
        .iter()
        .find(|n| n.starts_with("the prompt factor"))
        .unwrap();
    assert_eq!(
        note,
        "the prompt factor could not be measured (the latency regression's slopes are 20.0000 \
         ms per answer token and -0.0100 ms per prompt token; both must be positive): kept the \
         shipped 100"
    );
    assert!(
        !f.notes.iter().any(|n| n.contains("long-prompt")),
        "{:?}",
        f.notes
    );
}

/// Regression: calls whose prompt lengths are all 64 (no long probe, no post call) make the
/// prompt column the intercept's: the least squares has no solution, and the note says so.
#[test]
fn collinear_prompt_lengths_are_named_in_the_note() {
    let obs: Vec<Observation> = unstreamed_with_prompt_slope(0.2)
        .into_iter()
        .filter(|o| o.prompt_tokens == 64)
        .collect();
    let f = fit("m", &obs, &shipped(100.0), "d", "s").unwrap();
    assert_eq!(f.method, Method::Regression);
    assert!(
        f.notes.iter().any(|n| n
            == "the prompt factor could not be measured (the calls' prompt lengths do not vary \
                apart from their answer lengths, so the latency regression cannot separate \
                them): kept the shipped 100"),
        "{:?}",
        f.notes
    );
}

/// Regression: with the shipped prompt factor kept, the short probes' prompt term was
/// `p · β₁/k` when the fitted `k` was implausible but 0 when the regression was refused, so
/// the same account's TTFT p50 moved by the term (12.8 ms here) with the reason `k` was not
/// measured. It is now `p · E[u]/k` on every path, `E[u]` = β₁ when positive, else the
/// shipped range's. Probes: p = 64, shipped k = 100, β₁ = 20:
/// - prompt slope −0.01 (refused): L = 500 − 0.64 = 499.36, T = 499.36 − 64 × 20/100 = 486.56
///   (it was 499.36);
/// - prompt slope 0.0012 (k = 20/0.0012 ≈ 16,667, implausible): L = 500.0768,
///   T = 500.0768 − 12.8 = 487.2768 (as before);
/// - collinear (all prompts 64, so no β): E[u] of 40–120 tokens/s is 1000 ln 3 / 80 =
///   13.7327 ms, T = 500 + 12.8 − 64 × 13.7327/100 = 504.0111 (it was 512.8).
#[test]
fn the_short_probes_prompt_term_is_one_formula_whatever_kept_the_shipped_k() {
    let p50 = |obs: &[Observation]| {
        fit("m", obs, &shipped(100.0), "d", "s")
            .unwrap()
            .ttft_p50_ms
            .value
    };
    assert!(close(
        p50(&unstreamed_with_prompt_slope(-0.01)),
        486.56,
        1e-12
    ));
    assert!(close(
        p50(&unstreamed_with_prompt_slope(0.0012)),
        487.2768,
        1e-12
    ));
    let short: Vec<Observation> = unstreamed_with_prompt_slope(0.2)
        .into_iter()
        .filter(|o| o.prompt_tokens == 64)
        .collect();
    let want = 512.8 - 64.0 * 1000.0 * 3f64.ln() / 80.0 / 100.0;
    assert!(close(want, 504.011_101_690_655, 1e-12));
    assert!(close(p50(&short), want, 1e-12), "{}", p50(&short));
}

/// `E[u]` of a uniform speed: 1000 ln(max/min)/(max − min); one speed: 1000/min.
#[test]
fn the_shipped_mean_ms_per_token_by_hand() {
    let sh = |min: f64, max: f64| {
        let mut p = shipped(100.0);
        if let Profile::HeavyTail {
            output_tokens_per_s,
            ..
        } = &mut p
        {
            *output_tokens_per_s = Range { min, max };
        }
        shipped_parts("m", &p).unwrap().mean_ms_per_token()
    };
    // 1000 ln 3 / 80 = 13.732653608351374; 1000 ln 2 / 50 = 13.862943611198906.
    assert!(close(sh(40.0, 120.0), 13.732_653_608_351_374, 1e-14));
    assert!(close(sh(50.0, 100.0), 13.862_943_611_198_906, 1e-14));
    assert_eq!(sh(40.0, 40.0), 25.0);
}

/// A streamed prompt factor that is not finite (G/p = 0 on both long probes, so k = E[u]/0)
/// is refused as out of range, naming the value, not as too few long-prompt calls; one long
/// probe is too few.
#[test]
fn an_infinite_streamed_prompt_factor_is_named_as_such() {
    let writing = [
        (149.0, 64.0, 2992.8),
        (169.0, 64.0, 3392.8),
        (189.0, 64.0, 3792.8),
    ];
    let k = streamed_k(&writing, &[(1200.0, 0.0), (1200.0, 0.0)], 100.0).unwrap();
    assert_eq!(k.value, f64::INFINITY);
    let mut notes = Vec::new();
    let sh = shipped_parts("m", &shipped(90.0)).unwrap();
    assert_eq!(checked_k(Ok(k), &sh, &mut notes).value, 90.0);
    assert_eq!(
        notes,
        ["the prompt factor came out at inf, outside [1, 10000]: kept the shipped 90"]
    );
    let mut notes = Vec::new();
    assert!(streamed_k(&writing, &[(1200.0, 1.0)], 100.0).is_err());
    checked_k(
        streamed_k(&writing, &[(1200.0, 1.0)], 100.0),
        &sh,
        &mut notes,
    );
    assert_eq!(
        notes,
        ["the prompt factor could not be measured (too few long-prompt calls): kept the shipped 90"]
    );
}
