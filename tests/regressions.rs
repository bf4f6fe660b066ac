//! The regressions `postload example-service` can inject for trying a CI gate on a service
//! (issue 17): each changes what the stub alongside sees, or what the service answers, by an
//! amount worked out by hand.

use std::path::PathBuf;

use clap::Parser;
use postload::cli::{Cli, Command, RunArgs};
use postload::{example, stub};
use serde_json::Value;

use crate::common::{goose_lock, read_result, tempdir};

pub(crate) use crate::common::unused_port as free_port;

/// The example service as `postload example-service FLAGS` configures it, calling a stub on
/// `port`, then a service-mode burst of `users` at `tier` (50 ms a call): the result.
async fn run_against(flags: &[&str], users: u32, tier: u8, tag: &str) -> Value {
    let dir: PathBuf = tempdir(tag);
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!("name = \"s\"\nmodel = \"gpt-4o\"\ntiers = [{tier}]\nseed = 5\n[load]\nkind = \"burst\"\nusers = {users}\n"),
    )
    .unwrap();
    let args = RunArgs {
        scenario: vec![file.to_string_lossy().into_owned()],
        ..RunArgs::default()
    };
    run_with(flags, args, &dir).await.1
}

/// The example service with `flags`, and `postload run` in service mode against it with `args`
/// (the stub alongside, 50 ms a call, reports under `dir`): the outcome and the result.
pub(crate) async fn run_with(
    flags: &[&str],
    args: RunArgs,
    dir: &std::path::Path,
) -> (postload::Outcome, Value) {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let mut argv = vec!["postload", "example-service", "--openai-base-url", &base];
    argv.extend_from_slice(flags);
    let Some(Command::ExampleService(service_args)) = Cli::try_parse_from(argv).unwrap().command
    else {
        panic!("example-service parses");
    };
    let cfg = postload::config::example_config(&service_args).unwrap();
    let service = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let _guard = goose_lock().await;
    let outcome = postload::run(Cli {
        command: Some(Command::Run(Box::new(RunArgs {
            target: Some(service.url()),
            with_stub: Some(port),
            wait_for_target: Some(5.0),
            latency_ms: Some(50),
            output: postload::cli::ReportDir {
                report_dir: dir.join("reports"),
            },
            verbosity: postload::cli::Verbosity { quiet: true },
            ..args
        }))),
        run: RunArgs::default(),
    })
    .await
    .expect("the run completes");
    (outcome, read_result(&dir.join("reports")).1)
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_extra_call_is_a_third_request_a_post_and_its_tokens_are_billed() {
    let r = run_against(&["--extra-call"], 4, 2, "extra-call").await;
    let case = &r["cases"][0];
    assert_eq!(u(&case["posts"]["ok"]), 4);
    // 4 posts × (image prompt, caption, hashtags) at Tier 2: 12 requests, each answered.
    assert_eq!(u(&case["stub"]["chat_requests"]), 12);
    assert_eq!(u(&case["stub"]["by_status"]["200"]), 12);
    // The service's usage covers all three: the stub's count, token for token.
    let m = &case["stub"]["models"]["gpt-4o"];
    assert_eq!(case["tokens"]["total"]["prompt"], m["prompt_tokens"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_scale_makes_the_prompts_that_much_longer() {
    let base = run_against(&[], 4, 2, "scale-1").await;
    let long = run_against(&["--prompt-scale", "1.3"], 4, 2, "scale-1.3").await;
    let prompt = |r: &Value| u(&r["cases"][0]["stub"]["models"]["gpt-4o"]["prompt_tokens"]) as f64;
    // The prompts are sized to 800 and 1,200 tokens (the caption's including its image
    // prompt); scaled, to 1,040 and 1,560: 2,600 / 2,000 = 1.3, give or take the sizing's few
    // tokens per call.
    let ratio = prompt(&long) / prompt(&base);
    assert!((1.27..=1.33).contains(&ratio), "{ratio}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_answering_500_under_rate_limits_is_told_from_one_passing_429_on() {
    // Tier 1 (30,000 TPM) and 40 posts at once: only 31 image calls of about 950 tokens fit,
    // so some posts fail after the service's SDK retries whatever it answers.
    let passes = run_against(&[], 40, 1, "on-429").await;
    let breaks = run_against(&["--status-on-429", "500"], 40, 1, "on-500").await;
    let causes = |r: &Value| r["cases"][0]["posts"]["failed_by_cause"].clone();
    let failed = |r: &Value| u(&r["cases"][0]["posts"]["failed"]);
    assert!(failed(&passes) > 0 && failed(&breaks) > 0);
    // Passing 429 on: every failure is the client's rate limit; answering 500: a server error.
    assert_eq!(causes(&passes)["rate_limited"], failed(&passes));
    assert!(
        causes(&passes).get("server_error").is_none(),
        "{}",
        causes(&passes)
    );
    assert_eq!(causes(&breaks)["server_error"], failed(&breaks));
    assert!(
        causes(&breaks).get("rate_limited").is_none(),
        "{}",
        causes(&breaks)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_429_scenario_provokes_429s_whatever_the_prompt_sizes() {
    // Before: service-429 relied on Tier 1's buckets, and a service with ~400-token prompts fit
    // them: no 429, and its 429 thresholds failed as "retried_requests 0". Now the stub answers
    // the case's first 120 requests 429 (`first_429`), here with prompts half the reference's.
    let dir = tempdir("first-429");
    let args = RunArgs {
        scenario: vec!["scenarios/service-429.toml".into()],
        ..RunArgs::default()
    };
    let (_, r) = run_with(&["--prompt-scale", "0.5"], args, &dir).await;
    let case = &r["cases"][0];
    // 40 posts, each image call sent 3 times (the SDK's 2 retries) and answered 429 each
    // time: the first 120 requests, and no caption call can come before them.
    assert_eq!(u(&case["stub"]["chat_requests"]), 120);
    assert_eq!(u(&case["stub"]["by_status"]["429"]), 120);
    assert_eq!(u(&case["posts"]["failed_by_cause"]["rate_limited"]), 40);
    let s = &case["service"];
    assert_eq!(u(&s["retried_requests"]), 80);
    assert_eq!(s["per_post"]["retries_per_post"], 2.0);
    assert_eq!(u(&s["per_post"]["under_429"]["posts"]), 40);
    assert_eq!(u(&s["per_post"]["under_429"]["by_status"]["429"]), 40);
    assert_eq!(u(&s["per_post"]["under_429"]["ungraceful"]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_429_applies_to_a_case_on_the_embedded_stub_too() {
    // 2 posts at Tier 2 (no bucket 429s), the first 3 requests forced to 429: postload's own
    // SDK-like retries meet exactly 3, then every post succeeds.
    let dir = tempdir("first-429-stub");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "name = \"s\"\nmodel = \"gpt-4o\"\ntiers = [2]\nseed = 5\nfirst_429 = 3\n[load]\nkind = \"burst\"\nusers = 2\n",
    )
    .unwrap();
    let _guard = goose_lock().await;
    postload::run(Cli {
        command: Some(Command::Run(Box::new(RunArgs {
            scenario: vec![file.to_string_lossy().into_owned()],
            latency_ms: Some(50),
            output: postload::cli::ReportDir {
                report_dir: dir.join("reports"),
            },
            verbosity: postload::cli::Verbosity { quiet: true },
            ..RunArgs::default()
        }))),
        run: RunArgs::default(),
    })
    .await
    .expect("the run completes");
    let r = read_result(&dir.join("reports")).1;
    let case = &r["cases"][0];
    assert_eq!(u(&case["stub"]["by_status"]["429"]), 3);
    assert_eq!(u(&case["posts"]["ok"]), 2);
}

#[test]
fn bad_regression_flags_are_refused_naming_the_flag() {
    for (flag, value, says) in [
        (
            "--prompt-scale",
            "9",
            "--prompt-scale 9: a factor from 0.5 to 4",
        ),
        ("--prompt-scale", "NaN", "--prompt-scale NaN"),
        (
            "--status-on-429",
            "200",
            "--status-on-429 200: an HTTP error status",
        ),
    ] {
        assert_cmd::Command::cargo_bin("postload")
            .unwrap()
            .args(["example-service", flag, value, "--port", "0"])
            .assert()
            .code(2)
            .stderr(predicates::str::contains(says));
    }
}

/// The shipped gate (gates/service.toml) on its two scenarios against the example service with
/// `flags`: the outcome, the metrics of the thresholds that failed (from junit.xml) and the
/// result.
async fn gate(flags: &[&str], tag: &str) -> (postload::Outcome, Vec<String>, Value) {
    let dir = tempdir(tag);
    let args = RunArgs {
        scenario: vec![
            "scenarios/service-check.toml".into(),
            "scenarios/service-429.toml".into(),
        ],
        gate: Some("gates/service.toml".into()),
        ..RunArgs::default()
    };
    let (outcome, result) = run_with(flags, args, &dir).await;
    (outcome, failed_in(&dir), result)
}

/// The metrics of the thresholds that failed in the run under `dir`/reports (from junit.xml).
pub(crate) fn failed_in(dir: &std::path::Path) -> Vec<String> {
    let run = std::fs::read_dir(dir.join("reports"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let junit = std::fs::read_to_string(run.join("junit.xml")).unwrap();
    // Each failed threshold is a <testcase name="…: metric op value"> holding a <failure>.
    junit
        .split("<testcase ")
        .filter(|t| t.contains("<failure"))
        .filter_map(|t| {
            let name = t.split(" name=\"").nth(1)?.split('"').next()?;
            Some(name.split(' ').next()?.to_string())
        })
        .collect()
}

/// service-check's own time per post as a mean (estimated from means) and a median (traced).
fn own_time(r: &Value) -> (f64, f64) {
    let s = &r["cases"][0]["service"];
    assert_eq!(r["cases"][0]["scenario"], "service-check");
    let ms = |v: &Value| v.as_f64().unwrap_or_else(|| panic!("no own time: {s}"));
    (ms(&s["own_mean_ms"]), ms(&s["per_post"]["own_ms"]["p50"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_service_gate_passes_the_reference_and_names_each_regression() {
    let own = ["service.own_mean_ms", "service.own_p95_ms"];
    let (outcome, failed, reference) = gate(&[], "gate-ok").await;
    // Every exact threshold (calls, tokens, retries, answers under 429s) holds for the
    // reference. Its own time is a timing: the shipped 65 ms is set for a release build, where
    // the reference measures about 30 (docs/gates.md: 40 release runs passed it); a debug build
    // on a loaded machine measures 50-110 (before: this test failed there). So the reference's
    // own time is not held to 65 here; the memory regression is held to the lower bound its
    // injected wait sets (below).
    assert!(
        failed.iter().all(|m| own.contains(&m.as_str())),
        "{failed:?}"
    );
    assert_eq!(
        outcome == postload::Outcome::Success,
        failed.is_empty(),
        "{failed:?}"
    );
    // The reference's own time includes its 20 ms memory look-up (its only bound on a
    // loaded machine: a lower one).
    let (ref_mean, ref_p50) = own_time(&reference);
    assert!(ref_mean >= 20.0 && ref_p50 >= 20.0, "{ref_mean} {ref_p50}");
    for (flags, metrics) in [
        (
            &["--extra-call"][..],
            &["service.calls_per_post", "service.other.calls_per_post"][..],
        ),
        (
            &["--prompt-scale", "1.3"],
            &[
                "service.image_prompt.prompt_tokens_per_post",
                "service.caption.prompt_tokens_per_post",
            ],
        ),
        (
            &["--retry", "none"],
            &["service.retried_requests", "service.retries_per_post"],
        ),
        (
            &["--status-on-429", "500"],
            &["failed.server_error", "service.under_429.ungraceful"],
        ),
        (
            &["--memory-ms", "70"],
            &["service.own_mean_ms", "service.own_p95_ms"],
        ),
    ] {
        let (outcome, mut failed, result) = gate(flags, "gate-regression").await;
        assert_eq!(outcome, postload::Outcome::GateFailed, "{flags:?}");
        // Calls, tokens, retries and statuses are exact against the stub; the own time is a
        // timing on this machine, so only its own regression is asked to trip it (a third
        // call's round trip, on a loaded machine, may add a few ms of its own). The memory
        // regression trips the shipped 65 ms whatever the machine: each of its posts waits
        // 70 ms for its memory look-up, inside its own time.
        if metrics != own {
            failed.retain(|m| !own.contains(&m.as_str()));
        } else {
            // Each post sleeps 70 ms for its memory look-up inside its own time, so its own
            // time is at least 70 ms on any machine (load only adds to it), past the shipped
            // 65. Before, this compared with the reference's own time measured minutes apart,
            // and failed once when load made the reference slower (103.6 ms) than the
            // regression's 70 ms over a lighter moment (120.0 ms: +16, not the +25 asked).
            let (mean, p50) = own_time(&result);
            assert!(mean >= 70.0 && p50 >= 70.0, "{mean} {p50}");
        }
        assert_eq!(failed, metrics, "{flags:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_with_the_last_result_shows_a_third_call_as_a_regression() {
    let base: postload::report::RunResult =
        serde_json::from_value(run_against(&[], 4, 2, "cmp-base").await).unwrap();
    let new: postload::report::RunResult =
        serde_json::from_value(run_against(&["--extra-call"], 4, 2, "cmp-new").await).unwrap();
    let c = postload::compare::compare(&base, &new, 0.10);
    let delta = |m: &str| c.deltas.iter().find(|d| d.metric == m).unwrap().clone();
    // 2 calls a post, then 3: +50 %, beyond the 10 % tolerance; requests likewise (no 429s at
    // Tier 2, so each call is one request).
    let calls = delta("service.calls_per_post");
    assert_eq!((calls.base, calls.new), (Some(2.0), Some(3.0)));
    assert_eq!(calls.verdict, postload::compare::Verdict::Regression);
    assert_eq!(
        delta("service.requests_per_post").verdict,
        postload::compare::Verdict::Regression
    );
    // The third call's tokens: the caption (about 200 words) as its prompt, 30 max_tokens, and
    // the fixed profile's 100 completion tokens capped at 30: +30 a post over 200, +15 %.
    let completion = delta("service.completion_tokens_per_post");
    assert_eq!(
        (completion.base, completion.new),
        (Some(200.0), Some(230.0))
    );
    // The per-post figures from the traces are compared too: no 429 at Tier 2, so the answers
    // under 429s are not exercised on either side (no value, not a 0 that would pass); the
    // own time per post has a value on both, but one run a side is too few to judge it (a
    // service's timings are judged on runs: the machine's load moves a whole run).
    let ungraceful = delta("service.under_429.ungraceful");
    assert_eq!((ungraceful.base, ungraceful.new), (None, None));
    assert_eq!(
        ungraceful.verdict,
        postload::compare::Verdict::NotComparable
    );
    let own = delta("service.own_p50_ms");
    assert!(own.base.is_some() && own.new.is_some(), "{own:?}");
    assert_eq!(
        (own.posts, own.verdict),
        (Some([1, 1]), postload::compare::Verdict::TooFewRuns)
    );
}
