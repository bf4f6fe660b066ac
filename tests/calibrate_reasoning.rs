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
        effort: vec![],
        reasoning_cap: None,
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

/// What a calibration came to: its outcome, calibration.json, the stub's model calls, its folder.
type Calibrated = (
    Result<postload::Outcome, String>,
    Value,
    u64,
    std::path::PathBuf,
);

/// Calibrates gpt-5-mini against the stub serving `catalog`, on paused time.
fn calibrate(catalog: Catalog, tag: &str) -> Calibrated {
    calibrate_with(catalog, tag, |_| {})
}

/// [`calibrate`] with its options changed by `change`.
fn calibrate_with(
    catalog: Catalog,
    tag: &str,
    change: impl FnOnce(&mut CalibrateArgs),
) -> Calibrated {
    let out = tempdir(tag);
    let (outcome, served) = paused_runtime().block_on(async {
        let stub = paused_stub(StubConfig::new(Arc::new(catalog))).await;
        let mut a = args(stub.address().port(), &out);
        change(&mut a);
        let outcome = postload::commands::calibrate::calibrate(a)
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

/// `--effort medium --effort high` on gpt-5-mini: 40 more calls each (a quarter of 160),
/// capped at 4,552 and 13,512 (the caption's 200 + the shipped 99th percentile, 4,352 and
/// 13,312). On paused time the stub serves its draws exactly as modelled, so the fit must give
/// back what it drew from: the shipped medians and σ inside their intervals, a reasoning token
/// at a visible token's time (factor 1 inside its interval), and the profile fitted from the
/// other 160 calls alone as before. No call times out: a high-effort call reasoning 7,000
/// tokens at 50 tokens/s takes 140 s, past the 120 s a designed call is given (before, 2 of 40
/// timed out, the longest reasoners, biasing the median low). The overlay's medium and high
/// are the fit's; low stays shipped.
#[test]
fn efforts_above_the_lowest_are_measured_apart_and_written_to_the_overlay() {
    let (outcome, j, served, out) =
        calibrate_with(Catalog::embedded(), "cal-gpt5mini-efforts", |a| {
            a.effort = vec!["medium".into(), "high".into()];
        });
    assert_eq!(outcome, Ok(postload::Outcome::Success), "{j}");
    let m = &j["models"][0];
    assert_eq!(served, 240);
    assert_eq!(m["run"]["observations"].as_array().unwrap().len(), 240);
    assert_eq!(m["run"]["failures"], serde_json::json!({}), "{}", m["run"]);
    assert_eq!(
        m["run"]["effort"], "minimal",
        "the profile's calls stay at the lowest"
    );
    // The worst case adds, per effort, 20 image-shaped calls (800 prompt: 1,664 believable)
    // and 20 caption-shaped (1,200: 2,464): 82,560 input tokens at $0.25/M = $0.02064; and
    // 40 × the cap in output at $2/M: 182,080 → $0.36416 at medium, 540,480 → $1.08096 at
    // high. $0.113968 + $0.3848 + $1.1016 = $1.600368.
    let worst = j["cost"]["worst_case_usd"].as_f64().unwrap();
    assert!((worst - 1.600_368).abs() < 1e-9, "{worst}");
    let overlay = Catalog::load_dir(&out).unwrap();
    for (i, effort, cap, median) in [
        (0, Effort::Medium, 4_552, 640.0),
        (1, Effort::High, 13_512, 2_048.0),
    ] {
        let r = &m["reasoning"][i];
        // Every one of the 40 designed calls answered: none unanswered (not the 160 + 80 of all
        // the model's calls).
        assert_eq!(
            (r["effort"].as_str(), r["calls"].as_u64(), r["cap"].as_u64()),
            (Some(effort.as_str()), Some(40), Some(cap)),
            "{r}"
        );
        assert_eq!(r["unanswered"], 0, "{r}");
        let holds = |k: &str, truth: f64| {
            let e = &r[k];
            let (low, high) = (e["low"].as_f64().unwrap(), e["high"].as_f64().unwrap());
            assert!(low <= truth && truth <= high, "{effort} {k}: {e}");
            e["value"].as_f64().unwrap()
        };
        let fitted = holds("median", median);
        let sigma = holds("sigma", 0.8);
        holds("time_factor", 1.0);
        // The overlay: the fit's median in whole tokens, σ to 0.001.
        let t = overlay.reasoning_tokens("gpt-5-mini", effort).unwrap();
        assert_eq!(t.median, fitted.round() as u32, "{effort}");
        assert!((t.sigma - sigma).abs() <= 0.0005, "{t:?} {sigma}");
    }
    // The profile's fit reads the 160 designed calls only.
    assert_eq!(m["fit"]["calls"], 160, "{}", m["fit"]);
    assert_eq!(
        overlay.reasoning_tokens("gpt-5-mini", Effort::Low),
        Catalog::embedded().reasoning_tokens("gpt-5-mini", Effort::Low)
    );
    let md = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(
        md.contains("- Reasoning at effort medium: 40 calls capped at 4552 tokens"),
        "{md}"
    );
    assert!(
        md.contains("gpt-5-mini's reasoning tokens at medium, high are the fit's"),
        "{md}"
    );
}

/// `--reasoning-cap 400` at high (shipped median 2,048): nearly every call reasons to the cap,
/// so the median is above it. Nothing is guessed: the calls are counted as reasoned to the
/// cap, the note says to raise the cap, and the overlay keeps the shipped high.
#[test]
fn a_reasoning_cap_below_the_median_writes_no_guess() {
    let (outcome, j, _, out) = calibrate_with(Catalog::embedded(), "cal-gpt5mini-low-cap", |a| {
        a.effort = vec!["high".into()];
        a.reasoning_cap = Some(400);
        a.calls = Some(40);
    });
    assert_eq!(outcome, Ok(postload::Outcome::Success), "{j}");
    let r = &j["models"][0]["reasoning"][0];
    assert_eq!(r["calls"], 10, "a quarter of 40: {r}");
    assert!(r["censored"].as_u64().unwrap() > 5, "{r}");
    assert!(r["median"].is_null(), "{r}");
    let notes = j["models"][0]["reasoning"][0]["notes"].to_string();
    assert!(notes.contains("reasoned to the cap of 400 tokens: the median is above it, not measured (raise --reasoning-cap)"), "{notes}");
    let overlay = Catalog::load_dir(&out).unwrap();
    assert_eq!(
        overlay.reasoning_tokens("gpt-5-mini", Effort::High),
        Catalog::embedded().reasoning_tokens("gpt-5-mini", Effort::High)
    );
}

/// A designed call at an effort that gave no count is counted and named, never left out
/// silently: a loopback server answers every call of the lowest effort plainly, and every
/// second call at medium with a 400 (not retried); each answer states a plausible prompt. Of
/// the 10 medium calls (a quarter of 40), 5 answer (600 reasoning and 20 visible tokens each)
/// and 5 are unanswered; the first line and a note say so.
#[test]
fn calls_at_an_effort_that_gave_no_count_are_counted_and_named() {
    use axum::response::IntoResponse;
    use serde_json::json;
    use std::sync::atomic::{AtomicU64, Ordering};
    let out = tempdir("cal-gpt5mini-unanswered");
    let medium = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&medium);
    let dir = out.clone();
    let j = paused_runtime().block_on(async move {
        let app = axum::Router::new().route(
            "/v1/chat/completions",
            axum::routing::post(move |body: axum::Json<Value>| {
                let reasoning = body["reasoning_effort"] == "medium";
                let refused = reasoning && seen.fetch_add(1, Ordering::SeqCst) % 2 == 0;
                let cap = body["max_completion_tokens"].as_u64().unwrap();
                let (thought, visible) = if reasoning { (600, 20) } else { (0, cap / 2) };
                let prompt = crate::calibrate_hostile::prompt_estimate(&body);
                async move {
                    if refused {
                        let error = json!({"error": {"message": "no", "type": "invalid_request_error"}});
                        return (axum::http::StatusCode::BAD_REQUEST, axum::Json(error)).into_response();
                    }
                    axum::Json(json!({
                        "object": "chat.completion",
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                        "usage": {"prompt_tokens": prompt, "completion_tokens": thought + visible,
                                  "completion_tokens_details": {"reasoning_tokens": thought}}
                    }))
                    .into_response()
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let mut a = args(port, &out);
        a.effort = vec!["medium".into()];
        a.calls = Some(40);
        a.stream = StreamArg::Off;
        let _ = postload::commands::calibrate::calibrate(a).await;
        serde_json::from_str::<Value>(
            &std::fs::read_to_string(out.join("calibration.json")).unwrap(),
        )
        .unwrap()
    });
    assert_eq!(
        medium.load(Ordering::SeqCst),
        10,
        "a quarter of 40 calls at medium"
    );
    let m = &j["models"][0];
    let r = &m["reasoning"][0];
    assert_eq!(
        (&r["calls"], &r["unanswered"]),
        (&json!(5), &json!(5)),
        "{r} {}",
        m["run"]["failures"]
    );
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("5 of the 10 calls at effort medium gave no count"),
        "{notes}"
    );
    let md = std::fs::read_to_string(dir.join("calibration.md")).unwrap();
    assert!(
        md.contains("- Reasoning at effort medium: 5 of 10 calls answered, capped at 4552 tokens"),
        "{md}"
    );
}
