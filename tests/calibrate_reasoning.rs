//! `postload calibrate` on a reasoning model (gpt-5-mini) against the stub, which answers
//! `max_tokens` with OpenAI's 400 for it: the designed calls send `max_completion_tokens` and
//! the model's lowest `reasoning_effort`, and at that effort (no reasoning) the fit gives back
//! the shipped profile; calls whose reasoning spends the cap are counted, never fitted.

use std::path::Path;
use std::sync::Arc;

use postload::cli::{CalibrateArgs, StreamArg};
use postload::openai::catalog::Catalog;
use postload::openai::reasoning::{Effort, ReasoningTokens};
use postload::stub::StubConfig;
use serde_json::Value;

use crate::calibrate::{paused_runtime, paused_stub};
use crate::common::tempdir;

/// A loopback calibration of gpt-5-mini (no spend guard needed), seeded, at K = 1.
fn args(port: u16, out: &Path) -> CalibrateArgs {
    CalibrateArgs {
        dest: postload::cli::DestinationArgs {
            base_url: Some(format!("http://127.0.0.1:{port}/v1")),
            api_key_env: None,
        },
        model: vec!["gpt-5-mini".into()],
        calls: None,
        effort: None,
        out: Some(out.to_path_buf()),
        output: Default::default(),
        spend: Default::default(),
        resolve: Default::default(),
        data: Default::default(),
        stream: StreamArg::Auto,
        concurrency: 3,
        seed: postload::cli::Seed { seed: Some(7) },
        time: Default::default(),
        verbosity: postload::cli::Verbosity { quiet: true },
    }
}

/// Calibrates gpt-5-mini against the stub serving `catalog`, on paused time.
fn calibrate(
    catalog: Catalog,
    tag: &str,
) -> (
    Result<postload::Outcome, String>,
    Value,
    u64,
    std::path::PathBuf,
) {
    let out = tempdir(tag);
    let (outcome, served) = paused_runtime().block_on(async {
        let stub = paused_stub(StubConfig::new(Arc::new(catalog))).await;
        let outcome = postload::commands::calibrate::calibrate(args(stub.address().port(), &out))
            .await
            .map_err(|e| e.to_string());
        (outcome, stub.stats().chat_requests)
    });
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    (outcome, j, served, out)
}

fn within(got: f64, want: f64, share: f64) -> bool {
    (got - want).abs() <= share * want
}

/// Before: refused before any call ("calibrate does not send `max_completion_tokens` yet").
/// Every one of the 160 designed calls is answered (a `max_tokens` would have been a 400, a
/// failure here), at effort minimal no call reasons, and the fit lands within the 10 % the
/// gpt-4o calibration is held to of the shipped gpt-5-mini profile (mocks/latency.toml: TTFT
/// p50 890, p95 1,593.4 ms, 50 to 95 tokens/s).
#[test]
fn a_default_calibration_of_gpt_5_mini_sends_max_completion_tokens_and_fits_its_profile() {
    let (outcome, j, served, out) = calibrate(Catalog::embedded(), "cal-gpt5mini");
    assert_eq!(outcome, Ok(postload::Outcome::Success), "{j}");
    let m = &j["models"][0];
    let run = &m["run"];
    assert_eq!(run["attempts"], 160, "{run}");
    assert_eq!(run["observations"].as_array().unwrap().len(), 160, "{run}");
    assert_eq!(run["failures"], serde_json::json!({}), "{run}");
    assert_eq!(served, 160);
    assert_eq!(run["effort"], "minimal");
    assert!(run.get("reasoning_tokens").is_none(), "{run}");
    // The worst case prices each call's completion cap, sent as max_completion_tokens (inside
    // which a reasoning model's reasoning is billed), and the largest believable prompt
    // 2 × sent + 64: 88 short probes 192 + 1 ; 8 long probes (1,200) 2,464 + 1 ; 40 speed
    // calls 192 + 1,024 ; 12 image-prompt calls (800) 1,664 + 150 ; 12 captions (1,200)
    // 2,464 + 200. Input 16,896 + 19,712 + 7,680 + 19,968 + 29,568 = 93,824 at $0.25/M =
    // $0.023456; output 88 + 8 + 40,960 + 1,800 + 2,400 = 45,256 at $2/M = $0.090512.
    let worst = j["cost"]["worst_case_usd"].as_f64().unwrap();
    assert!((worst - 0.113_968).abs() < 1e-9, "{worst}");
    let fit = &m["fit"];
    assert_eq!(fit["method"], "streamed", "{fit}");
    for (k, truth) in [
        ("ttft_p50_ms", 890.0),
        ("ttft_p95_ms", 1593.4),
        ("tokens_per_s_min", 50.0),
        ("tokens_per_s_max", 95.0),
    ] {
        let got = fit[k]["value"].as_f64().unwrap();
        assert!(within(got, truth, 0.1), "{k}: {}", fit[k]);
    }
    // The overlay loads, and keeps the shipped reasoning per effort (calibrate fits none).
    let overlay = Catalog::load_dir(&out).unwrap();
    assert_eq!(
        overlay.reasoning_tokens("gpt-5-mini", Effort::Medium),
        Catalog::embedded().reasoning_tokens("gpt-5-mini", Effort::Medium)
    );
    assert!(overlay
        .reasoning_tokens("gpt-5-mini", Effort::Medium)
        .is_some());
}

/// A catalog whose gpt-5-mini reasons 4,096 tokens (exactly) even at minimal: every designed
/// call's cap (1 for a probe, 1,024 for a speed call, the post's caps) is spent on reasoning,
/// so each answer is `length` with no content. Each is counted as reasoned out with its
/// reasoning tokens recorded, none is an observation, and the calibration is an error naming
/// them (nothing to fit) rather than a TTFT or a speed read from empty answers.
#[test]
fn calls_whose_reasoning_spends_the_cap_are_counted_and_never_fitted() {
    let mut catalog = Catalog::embedded();
    let all = ReasoningTokens {
        median: 4_096,
        sigma: 0.0,
        min: 4_096,
        max: 4_096,
    };
    catalog
        .reasoning_tokens
        .get_mut("gpt-5-mini")
        .unwrap()
        .insert(Effort::Minimal, all);
    let (outcome, j, served, _) = calibrate(catalog, "cal-gpt5mini-reasoned-out");
    let err = outcome.unwrap_err();
    assert!(
        err.contains("160 × no visible token: the reasoning spent the completion cap"),
        "{err}"
    );
    let run = &j["models"][0]["run"];
    assert_eq!(served, 160);
    assert_eq!(run["observations"].as_array().unwrap().len(), 0, "{run}");
    let failures = run["failures"].as_object().unwrap();
    assert_eq!(failures.len(), 1, "{run}");
    let (why, n) = failures.iter().next().unwrap();
    assert!(why.contains("reasoning spent the completion cap"), "{why}");
    assert_eq!(n, 160);
    // Each call reasoned its whole cap, so the recorded reasoning is the sum of the designed
    // caps: 88 short + 8 long probes × 1, 40 speed calls × 1,024, 12 image-prompt calls × 150
    // and 12 caption calls × 200 (the post's caps) = 96 + 40,960 + 1,800 + 2,400 = 45,256.
    assert_eq!(run["reasoning_tokens"], 45_256, "{run}");
    assert!(j["models"][0]["fit"].is_null(), "{}", j["models"][0]);
}
