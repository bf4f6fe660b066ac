//! Per-post figures from W3C `traceparent` (issue 17): the stub's per-trace accounting over real
//! HTTP, and service mode joining it with postload's own posts into an exact own time per post,
//! retries per post and the service's answers under 429s. Timings are modelled: the stub's
//! latency is fixed at 50 ms, so a post's wait on OpenAI is known exactly and the own time is
//! checked against the post's latency less it, within the histogram's resolution.

use std::sync::Arc;
use std::time::Duration;

use postload::cli::RunArgs;
use postload::clock::ManualClock;
use postload::traceparent::TraceParent;
use serde_json::Value;

use crate::common::{chat_body, client, config, start_clocked, tempdir};
use crate::regressions::run_with;

#[tokio::test]
async fn the_stub_keeps_each_traces_requests_retries_and_wait_on_openai() {
    let clock = ManualClock::new();
    let mut cfg = config();
    cfg.fixed_latency = Some(Duration::from_millis(50));
    let stub = start_clocked(cfg, Arc::new(clock.clone())).await;
    let c = client();
    let post = |body: Value, traceparent: &str| {
        c.post(format!("{}/chat/completions", stub.base_url()))
            .bearer_auth("sk-test")
            .header("traceparent", traceparent.to_string())
            .json(&body)
            .send()
    };
    let trace = TraceParent::for_post(3, 0);
    let image = chat_body("gpt-4o", "an image prompt", Some(150));
    let caption = chat_body("gpt-4o", "a caption", Some(200));
    // The image call at 0 ms (modelled) for 50 ms; the same body again at 100 ms (a retry);
    // the caption at 110 ms, overlapping it. Wait: [0, 50] + [100, 160] = 110 ms, not 150.
    assert_eq!(
        post(image.clone(), &trace.header()).await.unwrap().status(),
        200
    );
    clock.advance(Duration::from_millis(100));
    post(image.clone(), &trace.child(7).header()).await.unwrap();
    clock.advance(Duration::from_millis(10));
    post(caption, &trace.child(8).header()).await.unwrap();
    // A malformed header is ignored: answered as usual, kept nowhere.
    let bad = post(image, "00-zz-00f067aa0ba902b7-01").await.unwrap();
    assert_eq!(bad.status(), 200);
    let report: Value = c
        .get(format!("http://{}/__postload/traces", stub.address()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(report["traces"].as_object().unwrap().len(), 1, "{report}");
    let t = &report["traces"][trace.trace_hex()];
    assert_eq!(t["requests"], 3);
    assert_eq!(t["retries"], 1);
    assert_eq!(t["by_status"]["200"], 3);
    assert_eq!(
        (&t["by_max_tokens"]["150"], &t["by_max_tokens"]["200"]),
        (&2.into(), &1.into())
    );
    assert_eq!(t["openai_wait_ms"], 110.0);
    // A reset forgets the traces, as it zeroes the counts.
    stub.reset().await.unwrap();
    assert!(stub.traces().traces.is_empty());
}

/// A service-mode burst of `users` posts at `tier` against the example service with `flags`,
/// with `args` (50 ms a call): the case of its result.
async fn case_of(flags: &[&str], users: u32, tier: u8, args: RunArgs, tag: &str) -> Value {
    let dir = tempdir(tag);
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!("name = \"s\"\nmodel = \"gpt-4o\"\ntiers = [{tier}]\nseed = 5\n[load]\nkind = \"burst\"\nusers = {users}\n"),
    )
    .unwrap();
    let args = RunArgs {
        scenario: vec![file.to_string_lossy().into_owned()],
        ..args
    };
    run_with(flags, args, &dir).await.1["cases"][0].clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_time_per_post_is_the_post_less_its_two_calls_of_50_ms() {
    let case = case_of(&[], 6, 2, RunArgs::default(), "own-time").await;
    let p = &case["service"]["per_post"];
    assert_eq!(
        (&p["traced_posts"], &p["untraced_posts"]),
        (&6.into(), &0.into())
    );
    // Two sequential calls of 50 ms, no 429 at Tier 2: every post waits at least 100 ms on
    // OpenAI (each call's modelled 50 ms, plus the stub's own work before it), so its own time
    // is at most its latency less 100 ms, and at least the 20 ms brand-memory look-up. The
    // same posts in the same order: own p50 <= post p50 - 100, to within the histograms'
    // buckets (64 µs wide at 120 ms) and the µs between postload's post start and its send.
    let (own_p50, post_p50) = (
        f(&p["own_ms"]["p50"]),
        f(&case["post_latency_ms"]["ok"]["p50"]),
    );
    assert!(own_p50 <= post_p50 - 100.0 + 1.0, "{own_p50} {post_p50}");
    assert!(own_p50 >= 20.0, "{own_p50}");
    let (own_max, post_max) = (
        f(&p["own_ms"]["max"]),
        f(&case["post_latency_ms"]["ok"]["max"]),
    );
    assert!(own_max <= post_max - 100.0 + 1.0, "{own_max} {post_max}");
    // Without the stub's work, the estimate from means says the same: the mean own time per
    // post is at most the estimate (which counts only the modelled 50 ms a call).
    assert!(
        f(&p["own_ms"]["mean"]) <= f(&case["service"]["own_mean_ms"]) + 1.0,
        "{p}"
    );
    assert_eq!(p["own_ms"]["count"], 6);
    assert_eq!(p["retries_per_post"], 0.0);
    assert_eq!(p["under_429"]["posts"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_does_not_forward_traceparent_has_only_the_estimate() {
    let dir = tempdir("no-trace");
    let gate = dir.join("gate.toml");
    std::fs::write(
        &gate,
        "[[gate]]\nthresholds = [\"service.own_mean_ms <= 100000\", \"service.own_p95_ms <= 100000\"]\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("s.toml"),
        "name = \"s\"\nmodel = \"gpt-4o\"\ntiers = [2]\nseed = 5\n[load]\nkind = \"burst\"\nusers = 4\n",
    )
    .unwrap();
    let args = RunArgs {
        scenario: vec![dir.join("s.toml").to_string_lossy().into_owned()],
        gate: Some(gate),
        ..RunArgs::default()
    };
    let (outcome, r) = run_with(&["--no-trace-propagation"], args, &dir).await;
    let service = &r["cases"][0]["service"];
    // The calls are still counted; the per-post figures are absent, so a threshold on them
    // fails (no value) while the estimate holds.
    assert_eq!(service["calls_per_post"], 2.0);
    assert!(service.get("per_post").is_none(), "{service}");
    assert!(f(&service["own_mean_ms"]) >= 20.0);
    assert_eq!(outcome, postload::Outcome::GateFailed);
    let run = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    // The failure says why there is no value, and what to do.
    assert!(
        junit.contains(&format!(
            "measured no value: {}, threshold service.own_p95_ms",
            postload::gate::NO_TRACEPARENT
        )),
        "{junit}"
    );
    assert!(!junit.contains("threshold service.own_mean_ms"), "{junit}");
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(
        md.contains("the stub saw no `traceparent`") && md.contains("aggregate estimate"),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_under_429s_are_counted_per_post_and_500s_are_ungraceful() {
    // Tier 1 (30,000 TPM) and 40 posts at once: some posts' calls meet 429s; the SDK's retries
    // resend the same body under the same trace.
    let passes = case_of(&[], 40, 1, RunArgs::default(), "u429-pass").await;
    let breaks = case_of(
        &["--status-on-429", "500"],
        40,
        1,
        RunArgs::default(),
        "u429-500",
    )
    .await;
    let none = case_of(&["--retry", "none"], 40, 1, RunArgs::default(), "u429-none").await;
    let under = |c: &Value| c["service"]["per_post"]["under_429"].clone();
    let failed =
        |c: &Value, cause: &str| c["posts"]["failed_by_cause"][cause].as_u64().unwrap_or(0);
    // Every failed post failed because its calls met 429s: passing the 429 on, each is one of
    // the posts under 429s answered 429 (graceful); answering 500, each is a 500 (ungraceful).
    assert!(failed(&passes, "rate_limited") > 0);
    assert_eq!(
        under(&passes)["by_status"]["429"],
        failed(&passes, "rate_limited")
    );
    assert_eq!(under(&passes)["ungraceful"], 0);
    assert!(failed(&breaks, "server_error") > 0);
    assert_eq!(
        under(&breaks)["by_status"]["500"],
        failed(&breaks, "server_error")
    );
    assert_eq!(
        under(&breaks)["ungraceful"],
        failed(&breaks, "server_error")
    );
    // SDK retries resend a call under its trace; without retries, no body is sent twice.
    assert!(f(&passes["service"]["per_post"]["retries_per_post"]) > 0.0);
    assert_eq!(none["service"]["per_post"]["retries_per_post"], 0.0);
}
