//! `postload calibrate` against the stub playing an account (its own profile and limits, posing as
//! a remote host with --resolve so that the spend guard runs), against a test server that sends no
//! rate-limit headers, with 429s, and the overlay's round trip through `run --mocks`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use postload::cli::{CalibrateArgs, StreamArg};
use postload::clock::SystemClock;
use postload::openai::catalog::Catalog;
use postload::stub::{StubConfig, StubHandle};
use serde_json::Value;

use crate::common::{start_clocked, tempdir};

/// The stub's clock: fast enough for a test, slow enough that the stub's own time per call (5 to
/// 10 ms in a debug build on a busy machine, multiplied by the scale: 25 to 50 ms modelled) stays
/// well inside 10 % of a 900 ms TTFT.
const SCALE: f64 = 5.0;
const KEY_VAR: &str = "POSTLOAD_CALIBRATE_TEST_KEY";
const KEY: &str = "sk-calibrate-test-secret-0123456789";

/// An account unlike the shipped data: TTFT p50 900 / p95 2,000 ms, 20-60 tokens/s, 777 RPM and
/// 123,456 TPM (no published tier), half its eligible gpt-4o calls served from the prompt cache.
const LATENCY: &str = r#"
[profiles.gpt-4o]
kind = "heavy_tail"
as_of = "2026-12-01"
source = "test account"
prompt_cache_hit = 0.5
ttft_ms = { p50 = 900.0, p95 = 2000.0, p99 = 7000.0, p99_99 = 11000.0 }
output_tokens_per_s = { min = 20.0, max = 60.0 }
prompt_tokens_per_output_token = 100.0
completion_tokens = { median = 220, sigma = 0.35, min = 8, max = 2048 }

[profiles.gpt-4o-mini]
kind = "heavy_tail"
as_of = "2026-12-01"
source = "test account"
ttft_ms = { p50 = 900.0, p95 = 2000.0, p99 = 7000.0, p99_99 = 11000.0 }
output_tokens_per_s = { min = 20.0, max = 60.0 }
prompt_tokens_per_output_token = 100.0
completion_tokens = { median = 220, sigma = 0.35, min = 8, max = 2048 }

[profiles.fixed]
kind = "fixed"
as_of = "2026-12-01"
source = "test"
latency_ms = 0
fixed_completion_tokens = 100
"#;

fn tiers(rpm: u64, tpm: u64) -> String {
    format!(
        r#"default_set = "test"
[sets.test]
as_of = "2026-12-01"
source = "test account"
[[sets.test.tier]]
tier = 1
qualification = "test"
limits.gpt-4o = {{ rpm = {rpm}, tpm = {tpm} }}
limits.gpt-4o-mini = {{ rpm = {rpm}, tpm = {tpm} }}
"#
    )
}

/// A mocks folder with the test account's profile and the given limits.
pub fn account_mocks(tag: &str, rpm: u64, tpm: u64) -> PathBuf {
    let dir = tempdir(tag);
    std::fs::write(dir.join("latency.toml"), LATENCY).unwrap();
    std::fs::write(dir.join("tiers.toml"), tiers(rpm, tpm)).unwrap();
    dir
}

async fn account_stub(mocks: &Path, retry_after: bool) -> StubHandle {
    let mut c = StubConfig::new(Arc::new(Catalog::load_dir(mocks).unwrap()));
    c.tier_set = "test".into();
    c.tier = 1;
    c.retry_after = retry_after;
    start_clocked(c, Arc::new(SystemClock::scaled(SCALE))).await
}

/// Calibrate options posing as `api.account.test` with --resolve to `port`, with the spend guard.
fn args(port: u16, out: &Path, max_cost: f64) -> CalibrateArgs {
    std::env::set_var(KEY_VAR, KEY);
    CalibrateArgs {
        dest: postload::cli::DestinationArgs {
            base_url: Some(format!("http://api.account.test:{port}/v1")),
            api_key_env: Some(KEY_VAR.into()),
        },
        model: vec!["gpt-4o".into()],
        calls: None,
        effort: vec![],
        reasoning_cap: None,
        out: Some(out.to_path_buf()),
        output: Default::default(),
        spend: postload::cli::SpendArgs {
            allow: postload::cli::AllowSpend { allow_spend: true },
            max_cost: Some(max_cost),
        },
        resolve: postload::cli::ResolveArgs {
            resolve: vec![format!("api.account.test:{port}:127.0.0.1")],
        },
        data: Default::default(),
        stream: StreamArg::Auto,
        concurrency: 3,
        seed: postload::cli::Seed { seed: Some(7) },
        time: postload::clock::TimeScale::checked(SCALE).unwrap().into(),
        verbosity: postload::cli::Verbosity { quiet: true },
    }
}

fn read_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap()).unwrap()
}

fn within(got: f64, want: f64, share: f64) -> bool {
    (got - want).abs() <= share * want
}

/// Nothing written holds the key.
fn assert_no_key(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(!text.contains(KEY), "the key leaked");
        assert!(!text.contains(KEY_VAR) || !text.contains("Bearer"));
    }
}

/// tokio's clock as the stub's: on a runtime started paused it moves only when every task
/// waits, so the stub serves each latency exactly and calibrate measures exactly what it served.
#[derive(Debug)]
pub struct TokioClock(tokio::time::Instant);

impl TokioClock {
    pub fn new() -> Self {
        Self(tokio::time::Instant::now())
    }
}

impl postload::clock::Clock for TokioClock {
    fn now(&self) -> std::time::Duration {
        self.0.elapsed()
    }
}

/// The stub playing the account on the caller's runtime (paused in these tests), on its clock.
pub async fn paused_stub(config: StubConfig) -> StubHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    postload::stub::start_here(config, listener, Arc::new(TokioClock::new()))
        .await
        .unwrap()
}

/// A current-thread runtime whose clock is paused: the stub and calibrate on it take no real
/// time and no machine load can change a measured latency.
pub fn paused_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

/// Regression: the stub wrote a stream's first part and its rest as two writes with Nagle's
/// algorithm on, so the rest waited for the client's delayed ACK (about 40 ms of real time):
/// at K = 5 that was 200 ms modelled on a call, and on paused time a jump to the next timer
/// (40 of 160 calibrate calls timed out). Each of 20 streams in a row on one connection now
/// ends at its modelled latency (the stub's `openai-processing-ms`, whole ms, up to the 1 ms
/// tokio's timers round up to).
#[test]
fn the_stubs_streams_end_at_their_modelled_latency_on_paused_time() {
    let mocks = account_mocks("cal-nodelay", 777, 123_456);
    paused_runtime().block_on(async {
        let mut c = StubConfig::new(Arc::new(Catalog::load_dir(&mocks).unwrap()));
        c.tier_set = "test".into();
        c.tier = 1;
        let stub = paused_stub(c).await;
        let client = crate::common::client();
        for i in 0..20 {
            let mut body = crate::common::chat_body("gpt-4o", "a caption", Some(200));
            body["stream"] = serde_json::json!(true);
            let start = tokio::time::Instant::now();
            let mut resp = client
                .post(format!("{}/chat/completions", stub.base_url()))
                .bearer_auth("sk-test")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            let total: u64 = resp.headers()["openai-processing-ms"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            while resp.chunk().await.unwrap().is_some() {}
            let took = start.elapsed().as_secs_f64() * 1000.0;
            assert!(
                took >= total as f64 && took <= total as f64 + 1.0,
                "stream {i}: {took} ms, modelled {total} ms"
            );
        }
    });
}

/// The served prompt-cache share: the caption calls after the first (the eligible ones) that
/// came back with cached tokens, counted from the observations as written.
fn served_cache_share(observations: &[Value]) -> (u64, u64) {
    let captions: Vec<&Value> = observations
        .iter()
        .filter(|o| o["purpose"] == "caption")
        .skip(1)
        .collect();
    let hits = captions
        .iter()
        .filter(|o| o["cached_tokens"].as_u64().unwrap() > 0)
        .count();
    (hits as u64, captions.len() as u64)
}

/// Regression: this test ran the stub at K = 5 in real time, so a loaded machine's delays (× 5)
/// landed in every measured latency, against 10 % bounds the precision table meets ~90 % of
/// the time; it widened the speed bounds to 25 % when the method silently fell to regression,
/// and checked the cache share only in (0, 1). Now the stub and calibrate share one paused
/// tokio clock (K = 1 modelled, no real time): calibrate measures exactly the latencies the
/// stub drew (seeded, in arrival order), the method must be `streamed`, and the cache share's
/// Wilson interval must hold both the share served and the 0.5 the account was given.
#[test]
fn a_remote_account_is_recovered_within_ten_percent_for_its_cap() {
    let mocks = account_mocks("cal-account", 777, 123_456);
    let calibrate_paused = |out: &Path| {
        paused_runtime().block_on(async {
            let mut c = StubConfig::new(Arc::new(Catalog::load_dir(&mocks).unwrap()));
            c.tier_set = "test".into();
            c.tier = 1;
            let stub = paused_stub(c).await;
            let mut a = args(stub.address().port(), out, 2.0);
            a.time.time_scale = None;
            let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
            (outcome, stub.stats())
        })
    };
    let out = tempdir("cal-out");
    let (outcome, served) = calibrate_paused(&out);
    assert_eq!(outcome, postload::Outcome::Success);
    let j = read_json(&out);
    // No real time in it: the same calibration again measures the same latencies to the
    // nanosecond and fits the same figures (on this seed: p50 933.9, p95 2,155.1 ms, 19.63 to
    // 59.88 tokens/s, 5 of 11 cache hits).
    let again = tempdir("cal-out-again");
    calibrate_paused(&again);
    let again = read_json(&again);
    assert_eq!(j["models"][0]["run"], again["models"][0]["run"]);
    assert_eq!(j["models"][0]["fit"], again["models"][0]["fit"]);
    assert_eq!(j["time_scale"], 1.0);
    let m = &j["models"][0];
    assert_eq!(m["limits"]["rpm"], 777);
    assert_eq!(m["limits"]["tpm"], 123_456);
    assert!(m["matched"]
        .as_array()
        .unwrap()
        .iter()
        .all(|pair| pair[1].is_null()));
    // Every designed call answered once: 160 by default, no 429, no failure, nothing dropped.
    let run = &m["run"];
    assert_eq!(run["attempts"], 160, "{run}");
    assert_eq!(run["observations"].as_array().unwrap().len(), 160);
    assert_eq!(run["rate_limited"], 0);
    assert_eq!(run["dropped"], 0);
    assert_eq!(served.chat_requests, 160);
    // The stub paces its streams: streamed, every call timing its first token.
    assert_eq!(run["streamed"], true, "{}", run["notes"]);
    let fit = &m["fit"];
    assert_eq!(fit["method"], "streamed", "{fit}");
    let f = |k: &str| fit[k]["value"].as_f64().unwrap();
    // docs/calibrate.md's precision table, 160 streamed calls: p50 within 10 % in 100 % of
    // the simulated calibrations, p95 in ~96 %, min in ~98 %, max in 100 %. The draws are
    // seeded and the time exact, so this one calibration's result is fixed: held to 10 %,
    // and each truth inside the fit's own 95 % interval.
    for (k, truth) in [
        ("ttft_p50_ms", 900.0),
        ("ttft_p95_ms", 2000.0),
        ("tokens_per_s_min", 20.0),
        ("tokens_per_s_max", 60.0),
    ] {
        assert!(within(f(k), truth, 0.1), "{k}: {}", fit[k]);
        let (low, high) = (
            fit[k]["low"].as_f64().unwrap(),
            fit[k]["high"].as_f64().unwrap(),
        );
        assert!(low <= truth && truth <= high, "{k}: {}", fit[k]);
    }
    let spent = j["cost"]["spent_usd"].as_f64().unwrap();
    assert!(spent > 0.0 && spent <= 2.0, "{spent}");
    assert!(j["cost"]["worst_case_usd"].as_f64().unwrap() <= 2.0);
    // The overlay: the account set at tier 1 with the limits as read, the fitted profile.
    let overlay = Catalog::load_dir(&out).unwrap();
    let l = overlay.limits("account", 1, "gpt-4o").unwrap().unwrap();
    assert_eq!((l.rpm, l.tpm), (777, 123_456));
    // The prompt cache: every cached token the stub served is in the observations, the fitted
    // share is the served share (12 caption calls: 11 eligible), and its Wilson interval holds
    // both the served share and the account's 0.5.
    let observations = run["observations"].as_array().unwrap();
    let observed_cached: u64 = observations
        .iter()
        .map(|o| o["cached_tokens"].as_u64().unwrap())
        .sum();
    assert_eq!(observed_cached, served.models["gpt-4o"].cached_tokens);
    let (hits, eligible) = served_cache_share(observations);
    assert_eq!(eligible, 11);
    let share = hits as f64 / eligible as f64;
    let hit = &fit["prompt_cache_hit"];
    assert_eq!(hit["value"].as_f64().unwrap(), share, "{hit}");
    let (low, high) = (hit["low"].as_f64().unwrap(), hit["high"].as_f64().unwrap());
    assert!(low <= share && share <= high, "{hit}");
    assert!(low <= 0.5 && 0.5 <= high, "{hit}");
    assert!(low > 0.0 && high < 1.0, "{hit}");
    assert_eq!(
        overlay.prompt_cache_hit("gpt-4o"),
        (share * 1000.0).round() / 1000.0
    );
    let md = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(md.contains("| ttft p50 (ms) |"), "{md}");
    // The last lines name the plan that answers the upgrade question.
    assert!(
        md.contains(&format!(
            "Upgrade: `postload plan --mocks {}` (what upgrading buys",
            out.display()
        )),
        "{md}"
    );
    assert_no_key(&out);
    stub_and_plan_take(&out);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap()
        .block_on(round_trip(&mocks, &out));
}

/// `stub --mocks DIR --tiers account` and `plan --mocks DIR --tiers account` accept the overlay
/// as it is.
fn stub_and_plan_take(dir: &Path) {
    use clap::Parser;
    use postload::cli::{Cli, Command};
    let dir = dir.to_str().unwrap();
    let parse = |cmd: &str| {
        Cli::try_parse_from(["postload", cmd, "--mocks", dir, "--tiers", "account"])
            .unwrap()
            .command
            .unwrap()
    };
    let Command::Stub(stub) = parse("stub") else {
        panic!("stub")
    };
    let c = postload::config::stub_config(&stub.stub).expect("stub takes the overlay");
    assert_eq!(c.tier_set, "account");
    let Command::Plan(plan) = parse("plan") else {
        panic!("plan")
    };
    let catalog = postload::config::catalog_from(plan.data.mocks.as_deref()).unwrap();
    postload::config::plan_spec(&plan, &catalog).expect("plan takes the overlay");
}

/// The round trip's burst: 40 users posting once on gpt-4o at tier 1 of `set`, seed 11, SDK
/// retries, no prompt cache (as `plan --validate` runs a burst).
fn round_trip_spec(set: &str) -> postload::plan::PlanSpec {
    postload::plan::PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![1],
        users: vec![40],
        strategies: vec![postload::plan::sim::Strategy::Sdk],
        tier_set: set.into(),
        seed: 11,
        ..postload::plan::PlanSpec::default()
    }
}

/// The planner's burst on `catalog` at tier 1 of `set`: no real time in it.
fn planned_burst(catalog: &Catalog, set: &str) -> postload::metrics::Measured {
    let at = postload::plan::CellSpec {
        model: "gpt-4o",
        tier: 1,
        users: 40,
        strategy: postload::plan::sim::Strategy::Sdk,
        response_cache_hit: 0.0,
        prompt_cache_hit: 0.0,
        design: postload::plan::Design::default(),
    };
    postload::plan::simulate_measured(catalog, &round_trip_spec(set), at)
        .unwrap()
        .measured
}

/// The issue's round trip: a burst on the overlay (`--mocks OUT --tiers account`) gives post p50
/// and p95 within 10 % of the same burst on the account itself, same seed.
///
/// Regression: both bursts ran live at K = 5 in real time, so a loaded machine's delays (× 5)
/// landed in both sides of a 10 % bound. Now the comparison is the planner's, on each catalog
/// (exact, the same seed's draws from each profile), and a live run on the overlay is shown to
/// be that same burst: the same calls with the same draws as the planner's
/// ([`crate::plan::assert_same_draws`]: tokens, and the latencies the stub served), live never
/// under planned. (40 posts × about 2,300 reserved tokens fit the account's 123,456 TPM: no
/// 429s, whose count would depend on real time.)
async fn round_trip(account: &Path, overlay: &Path) {
    let on_account = planned_burst(&Catalog::load_dir(account).unwrap(), "test");
    let overlay_catalog = Catalog::load_dir(overlay).unwrap();
    let on_overlay = planned_burst(&overlay_catalog, "account");
    for (p, a, b) in [
        (
            "p50",
            on_account.post_latency_ms.ok.p50,
            on_overlay.post_latency_ms.ok.p50,
        ),
        (
            "p95",
            on_account.post_latency_ms.ok.p95,
            on_overlay.post_latency_ms.ok.p95,
        ),
    ] {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            within(b, a, 0.1),
            "post {p}: account {a} ms, overlay {b} ms"
        );
    }
    let _guard = crate::common::goose_lock().await;
    let validation = postload::commands::validate::Validation {
        users: vec![40],
        tiers: vec![1],
        time_scale: postload::clock::TimeScale::checked(SCALE).unwrap(),
        fixed_latency_ms: None,
        repeat: 1,
        report_dir: tempdir("cal-run-overlay"),
    };
    let sides = crate::plan::live_beside_planned(
        &overlay_catalog,
        &round_trip_spec("account"),
        &validation,
        40,
    )
    .await;
    let (live, planned) = &sides[0];
    assert_eq!(live.tier, 1);
    assert_eq!(planned, &on_overlay);
    crate::plan::assert_same_draws(live, planned);
    crate::plan::assert_live_not_under_planned(
        &crate::plan::figures(planned),
        &crate::plan::figures(&live.measured),
        "the overlay's burst",
    );
}

/// A test server that answers every chat call with a fixed completion and no rate-limit headers.
async fn headerless_server() -> std::net::SocketAddr {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: axum::Json<Value>| async move {
            let max = body["max_tokens"].as_u64().unwrap_or(16).min(40);
            let prompt = crate::calibrate_hostile::prompt_estimate(&body);
            axum::Json(serde_json::json!({
                "id": "chatcmpl-x",
                "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "word ".repeat(max as usize)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt, "completion_tokens": max, "total_tokens": prompt + max}
            }))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_without_rate_limit_headers_completes_with_limits_unknown() {
    let addr = headerless_server().await;
    let out = tempdir("cal-headerless");
    let mut a = args(addr.port(), &out, 1.0);
    a.dest.base_url = Some(format!("http://127.0.0.1:{}/v1", addr.port()));
    a.resolve.resolve.clear();
    a.spend.allow.allow_spend = false;
    a.spend.max_cost = None;
    a.dest.api_key_env = None;
    a.time.time_scale = None;
    a.calls = Some(30);
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    let j = read_json(&out);
    let m = &j["models"][0];
    assert_eq!(m["limits_known"], false);
    assert!(m["limits"]["rpm"].is_null());
    assert!(j["account"].is_null());
    assert!(j["notes"][0].as_str().unwrap().contains("limits unknown"));
    assert_eq!(m["run"]["observations"].as_array().unwrap().len(), 30);
    // The overlay still loads: no account set, the base sets kept.
    let overlay = Catalog::load_dir(&out).unwrap();
    assert!(!overlay.tier_sets.contains_key("account"));
    assert!(overlay.tier_sets.contains_key("openai-2025"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daily_limit_met_during_calibration_is_reported_and_the_cap_holds() {
    // A small tier: 25 requests a day, and 40 calls to send.
    let dir = tempdir("cal-rpd");
    std::fs::write(dir.join("latency.toml"), LATENCY).unwrap();
    std::fs::write(
        dir.join("tiers.toml"),
        tiers(500, 200_000).replace(
            "limits.gpt-4o = { rpm = 500, tpm = 200000 }",
            "limits.gpt-4o = { rpm = 500, tpm = 200000, rpd = 25 }",
        ),
    )
    .unwrap();
    let stub = account_stub(&dir, false).await;
    let out = tempdir("cal-rpd-out");
    let mut a = args(stub.address().port(), &out, 0.5);
    a.calls = Some(40);
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    let j = read_json(&out);
    let run = &j["models"][0]["run"];
    assert!(run["rate_limited"].as_u64().unwrap() > 0, "{run}");
    assert_eq!(run["observations"].as_array().unwrap().len(), 25);
    assert!(!run["notes"].as_array().unwrap().is_empty());
    assert!(j["cost"]["spent_usd"].as_f64().unwrap() <= 0.5);
    assert!(std::fs::read_to_string(out.join("calibration.md"))
        .unwrap()
        .contains("429"));
    Catalog::load_dir(&out).unwrap();
}

/// One call as [`recording_proxy`] relayed it: when it arrived and when its answer came back
/// (tokio's clock, from the proxy's start), the status and the `retry-after-ms` it carried.
#[derive(Debug, Clone, Copy)]
struct Relayed {
    arrived: std::time::Duration,
    answered: std::time::Duration,
    status: u16,
    retry_after_ms: Option<u64>,
}

/// A proxy on loopback in front of `to` (a `/v1` base URL) that relays plain chat calls with
/// their status, rate-limit and retry headers, and logs each call in order.
async fn recording_proxy(to: String) -> (u16, Arc<std::sync::Mutex<Vec<Relayed>>>) {
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let origin = tokio::time::Instant::now();
    let client = crate::common::client();
    let seen = Arc::clone(&log);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::body::Bytes| {
            let (client, to, seen) = (client.clone(), to.clone(), Arc::clone(&seen));
            async move {
                let arrived = origin.elapsed();
                let r = client
                    .post(format!("{to}/chat/completions"))
                    .header("content-type", "application/json")
                    .header("authorization", "Bearer sk-relayed")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let mut headers = axum::http::HeaderMap::new();
                for (name, value) in r.headers() {
                    let name = name.as_str();
                    if name.starts_with("x-ratelimit")
                        || name.starts_with("retry-after")
                        || name == "content-type"
                    {
                        headers.insert(
                            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                            axum::http::HeaderValue::from_bytes(value.as_bytes()).unwrap(),
                        );
                    }
                }
                let retry_after_ms = r
                    .headers()
                    .get("retry-after-ms")
                    .map(|v| v.to_str().unwrap().parse().unwrap());
                let text = r.bytes().await.unwrap();
                seen.lock().unwrap().push(Relayed {
                    arrived,
                    answered: origin.elapsed(),
                    status,
                    retry_after_ms,
                });
                (
                    axum::http::StatusCode::from_u16(status).unwrap(),
                    headers,
                    text,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, log)
}

/// Regression: this test counted three 429s and twenty answers but measured no wait, so a
/// calibrate that ignored `retry-after` passed it. Now one call at a time on paused tokio time
/// (the stub, a recording proxy and calibrate on one clock, no real time): after each of the
/// stub's three 429s the next call reaches the stub no sooner than the `retry-after-ms` it
/// carried after that 429 was answered. The first retry follows the first call, sent before any
/// limit was known (no pacing), so there the gap is the 429's wait alone.
#[test]
fn the_stubs_retry_after_is_waited_and_tier_1_is_recognised() {
    // The shipped data at Tier 1 (500 RPM / 30,000 TPM for gpt-4o); the first three calls
    // answer 429 with retry-after and retry-after-ms.
    let out = tempdir("cal-retry-after");
    let (outcome, log) = paused_runtime().block_on(async {
        let mut c = StubConfig::new(Arc::new(Catalog::embedded()));
        c.retry_after = true;
        c.faults.first_n_429 = 3;
        c.fixed_latency = Some(std::time::Duration::from_millis(200));
        let stub = paused_stub(c).await;
        let (port, log) = recording_proxy(stub.base_url()).await;
        let mut a = args(port, &out, 0.5);
        a.calls = Some(20);
        a.concurrency = 1;
        a.stream = StreamArg::Off;
        a.time.time_scale = None;
        let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
        let log = log.lock().unwrap().clone();
        (outcome, log)
    });
    assert_eq!(outcome, postload::Outcome::Success);
    // 3 429s, then 20 answers, one at a time.
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses[..3], [429; 3], "{log:?}");
    assert_eq!(statuses[3..], [200; 20], "{log:?}");
    for (k, pair) in log.windows(2).enumerate() {
        assert!(pair[1].arrived >= pair[0].answered, "call {k}: {log:?}");
    }
    for k in 0..3 {
        // The stub's wait for a forced 429: its reserve's refill at 30,000 TPM, 2 ms a token.
        let wait = log[k]
            .retry_after_ms
            .expect("the 429 says how long to wait");
        assert!(wait >= 100, "429 {k}: {wait} ms");
        let gap = log[k + 1].arrived - log[k].answered;
        assert!(
            gap >= std::time::Duration::from_millis(wait),
            "after 429 {k}: {gap:?}, asked {wait} ms: {log:?}"
        );
    }
    let j = read_json(&out);
    let m = &j["models"][0];
    assert_eq!(m["run"]["rate_limited"], 3);
    assert_eq!(m["run"]["observations"].as_array().unwrap().len(), 20);
    assert_eq!(m["limits"]["rpm"], 500);
    assert_eq!(m["limits"]["tpm"], 30_000);
    let matched = m["matched"].as_array().unwrap();
    assert!(matched
        .iter()
        .any(|pair| pair[0] == "openai-2025" && pair[1] == 1));
    // The account set takes the matched tier's number.
    let overlay = Catalog::load_dir(&out).unwrap();
    assert!(overlay.limits("account", 1, "gpt-4o").unwrap().is_some());
}

/// A server whose answers go wrong in turn: a good completion, HTML, a completion without usage,
/// a body far past the answer cap, a 500.
async fn unruly_server() -> std::net::SocketAddr {
    use axum::response::IntoResponse;
    use axum::routing::post;
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|body: axum::Json<Value>| async move {
            let good = serde_json::json!({
                "choices": [{"message": {"content": "fine"}}],
                "usage": {"prompt_tokens": crate::calibrate_hostile::prompt_estimate(&body), "completion_tokens": 1}
            });
            match N.fetch_add(1, Ordering::Relaxed) % 5 {
                0 => axum::Json(good).into_response(),
                1 => "<html>oops</html>".into_response(),
                2 => axum::Json(serde_json::json!({"choices": [{"message": {"content": "x"}}]}))
                    .into_response(),
                3 => vec![b'x'; 5 << 20].into_response(),
                _ => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "no").into_response(),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_go_wrong_are_counted_by_cause_never_a_crash() {
    let addr = unruly_server().await;
    let out = tempdir("cal-unruly");
    let mut a = args(addr.port(), &out, 1.0);
    a.dest.base_url = Some(format!("http://127.0.0.1:{}/v1", addr.port()));
    a.resolve.resolve.clear();
    a.spend.allow.allow_spend = false;
    a.spend.max_cost = None;
    a.dest.api_key_env = None;
    a.time.time_scale = None;
    a.stream = StreamArg::Off;
    a.calls = Some(20);
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    let j = read_json(&out);
    let run = &j["models"][0]["run"];
    assert_eq!(run["observations"].as_array().unwrap().len(), 4);
    let failures = run["failures"].as_object().unwrap();
    assert_eq!(failures["the answer is not JSON"], 4, "{failures:?}");
    assert_eq!(failures["the answer has no usage"], 4, "{failures:?}");
    assert_eq!(
        failures[&format!(
            "the answer passed {} bytes",
            postload::commands::calibrate::MAX_ANSWER_BYTES
        )],
        4,
        "{failures:?}"
    );
    assert_eq!(failures["HTTP 500"], 4, "{failures:?}");
    // Four answers are too few to fit: said, and the base profile kept.
    assert!(j["models"][0]["fit"].is_null());
    assert!(j["models"][0]["fit_error"].is_string());
    Catalog::load_dir(&out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_key_stops_at_the_first_call_and_is_an_error() {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        post(|| async { (axum::http::StatusCode::UNAUTHORIZED, "{\"error\":{}}") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let out = tempdir("cal-401");
    let mut a = args(addr.port(), &out, 1.0);
    a.dest.base_url = Some(format!("http://127.0.0.1:{}/v1", addr.port()));
    a.resolve.resolve.clear();
    a.time.time_scale = None;
    a.model = vec!["gpt-4o".into(), "gpt-4o-mini".into()];
    let err = postload::commands::calibrate::calibrate(a)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no call was answered (2 × HTTP 401)"), "{err}");
    assert!(!err.contains(KEY));
    let j = read_json(&out);
    assert_eq!(j["models"][0]["run"]["attempts"], 1);
    assert_no_key(&out);
}

/// The call at which [`held_call_server`] holds its answer (0-based: the 20th).
const HELD: u64 = 19;

/// A server in a runtime of its own answering plain completions (its prompt as estimated, up to
/// 60 tokens, after 30 ms + 2 ms a token of real time, so that a fit has something to fit),
/// except call [`HELD`]: it tells `in_flight` it has it, and answers only once `release` is
/// notified. The count is of every call it received.
fn held_call_server() -> (
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<()>,
    Arc<tokio::sync::Notify>,
    Arc<std::sync::atomic::AtomicU64>,
    tokio::runtime::Runtime,
) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, in_flight) = std::sync::mpsc::channel();
    let tx = Arc::new(std::sync::Mutex::new(tx));
    let release = Arc::new(tokio::sync::Notify::new());
    let count = Arc::new(AtomicU64::new(0));
    let (held, seen) = (Arc::clone(&release), Arc::clone(&count));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (held, tx) = (Arc::clone(&held), Arc::clone(&tx));
            async move {
                let c = body["max_tokens"].as_u64().unwrap().min(60);
                if n == HELD {
                    let released = held.notified();
                    tx.lock().unwrap().send(()).unwrap();
                    released.await;
                } else {
                    tokio::time::sleep(std::time::Duration::from_millis(30 + 2 * c)).await;
                }
                let prompt = crate::calibrate_hostile::prompt_estimate(&body);
                axum::Json(serde_json::json!({
                    "object": "chat.completion",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": c, "total_tokens": prompt + c}
                }))
            }
        }),
    );
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, in_flight, release, count, rt)
}

/// Regression: this test slept 2 s after "sending" and accepted 1 to 9 attempts, so it could
/// not tell whether the call in flight at the signal was waited for and fitted. Now the server
/// says when the 20th call is in flight, SIGINT is sent, and the call is answered only once
/// calibrate has said it heard the signal: exactly 20 calls sent, all 20 answered and fitted,
/// none abandoned, none sent after the signal.
#[test]
fn ctrl_c_stops_sending_and_still_writes_the_calibration_marked_interrupted() {
    use std::io::BufRead;
    let (addr, in_flight, release, count, _rt) = held_call_server();
    let out = tempdir("cal-sigint");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args(["calibrate", "--model", "gpt-4o-mini", "--calls", "40"])
        .args(["--concurrency", "1", "--stream", "off", "--base-url"])
        .arg(format!("http://127.0.0.1:{}/v1", addr.port()))
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    in_flight.recv().unwrap();
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    // The signal is heard (the stop flag is set before this line is printed).
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("postload: SIGINT") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("calibrate ended before it heard the signal: {seen}");
        }
        seen.push_str(&line);
    }
    release.notify_one();
    let status = child.wait().unwrap();
    // 128 + SIGINT's 2.
    assert_eq!(status.code(), Some(130), "{seen}");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), HELD + 1);
    let json = read_json(&out);
    assert_eq!(json["interrupted"], true);
    assert!(
        json["notes"].to_string().contains("interrupted by SIGINT"),
        "{json}"
    );
    let m = &json["models"][0];
    let run = &m["run"];
    assert_eq!(run["attempts"], HELD + 1, "{run}");
    assert_eq!(run["abandoned"], 0, "{run}");
    assert_eq!(
        run["observations"].as_array().unwrap().len() as u64,
        HELD + 1,
        "{run}"
    );
    // The held call is fitted with the 19 before it.
    assert_eq!(m["fit"]["calls"], HELD + 1, "{}", m["fit_error"]);
    let md = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(md.contains("interrupted by SIGINT"), "{md}");
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{name}");
    }
}
