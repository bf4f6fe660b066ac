//! The client's own request queue run live (a scenario's `client_queue`, the planner's `queue`
//! strategy): every call's first attempt waits for a client-side token bucket with the tier's
//! limits, first come first served across the case's users, before it is sent.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use assert_cmd::Command;
use postload::cli::RunArgs;
use postload::metrics::FailureCause;
use postload::openai::catalog::Catalog;
use postload::report::{CaseResult, RunResult};
use postload::scenario::prompts::PostRequests;
use postload::scenario::Prompts;
use predicates::prelude::*;
use predicates::str::contains;

use crate::common::{goose_lock, tempdir};

/// A burst scenario file of `users` posts on gpt-4o at Tier 1 of `tier_set` (seed 3), with
/// `fields` (TOML lines) added.
fn burst_file(dir: &Path, name: &str, tier_set: &str, users: u32, fields: &str) -> String {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            "name = \"{name}\"\nmodel = \"gpt-4o\"\ntier_set = \"{tier_set}\"\ntiers = [1]\n\
             seed = 3\n{fields}\n[load]\nkind = \"burst\"\nusers = {users}\n"
        ),
    )
    .unwrap();
    p.to_string_lossy().into_owned()
}

async fn run(args: RunArgs) -> RunResult {
    let _guard = goose_lock().await;
    let cfg = postload::config::run_config(&args, Arc::new(AtomicBool::new(false))).unwrap();
    {
        let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        postload::run::execute(cfg, ex)
    }
    .await
    .unwrap()
}

fn case<'a>(r: &'a RunResult, name: &str) -> &'a CaseResult {
    r.cases.iter().find(|c| c.scenario == name).unwrap()
}

/// The stub's answers with `status` in a case.
fn answered(c: &CaseResult, status: u16) -> u64 {
    let stub = c.stub.as_ref().unwrap();
    stub.by_status.get(&status).copied().unwrap_or(0)
}

/// Tier 1 of openai-2025 gives gpt-4o 30,000 TPM: 31 image calls of 800 + 150 = 950 tokens fit
/// at once, so a burst of 40 posts with the SDK's retries alone meets 429s at the stub (the
/// 9 image calls that do not fit, at least). With `client_queue`, the same burst (same seed,
/// the model's profile) sends each first attempt only when the client's bucket, with the same
/// limits and the stub's reservation, has room: the stub answers every request 200, no post is
/// lost, no retry is made, and every call waited in the queue (zero waits included). The
/// run's result records the field; report.md says "client queue" and how long calls waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tier_1_burst_through_the_client_queue_loses_no_post_and_meets_no_429() {
    let n = 40u64;
    let dir = tempdir("queue-tier1");
    let args = RunArgs {
        scenario: vec![
            burst_file(
                &dir,
                "queued",
                "openai-2025",
                n as u32,
                "client_queue = true",
            ),
            burst_file(&dir, "sdk", "openai-2025", n as u32, ""),
        ],
        time: postload::clock::TimeScale::checked(20.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let r = run(args).await;
    let (queued, sdk) = (case(&r, "queued"), case(&r, "sdk"));
    assert!(queued.inputs.client_queue && !sdk.inputs.client_queue);
    assert!(answered(sdk, 429) >= 9, "{:?}", sdk.stub);
    assert!(sdk.measured.calls.http_429 >= 9);
    let m = &queued.measured;
    assert_eq!(answered(queued, 429), 0, "{:?}", queued.stub);
    assert_eq!((m.posts.ok, m.posts.failed), (n, 0));
    assert_eq!((m.calls.http_429, m.calls.retries), (0, 0));
    assert_eq!(answered(queued, 200), 2 * n);
    let waits = m.queue_wait_ms.expect("calls went through the queue");
    assert_eq!(waits.count, 2 * n);
    // 31 calls fit at once (29,450 tokens, and the queue's slack: 500 at this time scale); the
    // 9 image calls behind them waited, 0.8 s and more, and so did every caption after: 49 of
    // the 80 calls.
    assert!(waits.p50.unwrap() > 800.0, "{waits:?}");
    assert!(sdk.measured.queue_wait_ms.is_none());
    assert!(m.histograms.contains_key("queue_wait"));
    assert!(!sdk.measured.histograms.contains_key("queue_wait"));
    // The result records the field only where it is on.
    let json =
        std::fs::read_to_string(dir.join("reports").join(&r.run_id).join("result.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let inputs = |i: usize| &v["cases"][i]["inputs"];
    assert_eq!(inputs(0)["client_queue"], true);
    assert!(inputs(1).get("client_queue").is_none(), "{}", inputs(1));
    assert!(v["cases"][1].get("queue_wait_ms").is_none());
    let md =
        std::fs::read_to_string(dir.join("reports").join(&r.run_id).join("report.md")).unwrap();
    assert!(md.contains("sdk + client queue"), "{md}");
    assert!(
        md.contains("Client queue (each call's first attempt waited"),
        "{md}"
    );
    assert!(md.contains("queued tier 1 p50 "), "{md}");
}

/// The queue's order, by hand: Tier 1 of the seed tier set gives gpt-4o 10,000 TPM (500 RPM, far
/// off for 24 requests), `--latency-ms 50` answers every call in 50 ms with 100 tokens, and 12
/// posts go at once. Each image call reserves 800 + 150 = 950 tokens, and a call goes once it
/// fits with the queue's slack to spare: 50 ms of real time's refill, 1 s at `--time-scale
/// 20`, ⌈10,000 × 1 / 60⌉ = 167 tokens. The bucket refills a token every 60 / 10,000 s = 6 ms.
///
/// - t = 0: 10 image calls fit (9,500 + 167 ≤ 10,000); the 11th and 12th queue.
/// - t = 0.05 s: the first ten captions join the queue, behind them.
/// - The 11th image call waits until 950 + 167 − 500 = 617 tokens have come back: 3.702 s. The
///   bucket then has the slack's 167 tokens left.
/// - The 12th waits for its own 950 to come back: 5.7 s more, t = 9.402 s. The 11th's and 12th's
///   captions queue behind the first ten.
/// - Each caption of post i reserves c_i = its base prompt + the image prompt's 100 tokens + 200,
///   and goes c_i × 6 ms after the call before it. The last of the 24 sends is at
///   9.402 s + 6 ms × Σ c_i, whatever order the captions queued in.
///
/// No attempt is sent before its time (the client's bucket cannot let it), and the stub, whose
/// bucket refills as the client's does, never answers 429. Times count from the case's release,
/// and the first send a moment after it only moves every later one as much.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_first_sends_are_spaced_as_the_tier_1_bucket_refills() {
    let n = 12u64;
    let dir = tempdir("queue-order");
    let args = RunArgs {
        scenario: vec![burst_file(
            &dir,
            "order",
            "seed",
            n as u32,
            "client_queue = true",
        )],
        latency_ms: Some(50),
        time: postload::clock::TimeScale::checked(20.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let r = run(args).await;
    let c = case(&r, "order");
    assert_eq!(c.inputs.limits.tpm, 10_000);
    assert_eq!(c.measured.posts.ok, n);
    assert_eq!(answered(c, 429), 0, "{:?}", c.stub);
    let attempts = &c.measured.attempts;
    assert_eq!(attempts.len() as u64, 2 * n);
    // Every image call goes before every caption (they queued before any caption did).
    let reserved: Vec<u64> = attempts.iter().map(|a| a.reserved_tokens).collect();
    assert!(
        reserved[..n as usize].iter().all(|&t| t == 950),
        "{reserved:?}"
    );
    let requests = PostRequests::new("gpt-4o", Prompts::default());
    let mut captions: Vec<u64> = (0..n)
        .map(|i| requests.caption_reservation(i, 100))
        .collect();
    let mut sent_captions = reserved[n as usize..].to_vec();
    captions.sort_unstable();
    sent_captions.sort_unstable();
    assert_eq!(sent_captions, captions);
    // The times: never before the bucket allows. How close after is the harness's own time (×
    // 20), a figure of the machine: no bound here (before: within 1 s, 50 ms of real time).
    // That the queue lets each call go exactly when its bucket has room is shown on a virtual
    // clock by run::post::queue's queued_calls_go_exactly_when_the_bucket_has_room_with_the_slack.
    let sent: Vec<f64> = attempts.iter().map(|a| a.sent_s).collect();
    let at = |i: usize, want: f64| {
        let got = sent[i];
        assert!(
            got >= want - 1e-6,
            "send {}: {got} s, want {want} s: {sent:?}",
            i + 1
        );
    };
    for i in 0..10 {
        at(i, 0.0);
    }
    let s_per_token = 60.0 / 10_000.0;
    at(10, 617.0 * s_per_token);
    at(11, (617.0 + 950.0) * s_per_token);
    let mut t = 9.402;
    for (k, &c) in reserved[n as usize..].iter().enumerate() {
        t += c as f64 * s_per_token;
        // In queue order, each caption goes when its own reservation has come back.
        at(n as usize + k, t);
    }
    let total: u64 = captions.iter().sum();
    assert!((t - (9.402 + total as f64 * s_per_token)).abs() < 1e-9);
}

/// With the same seed, latencies and limits, the live queued burst (Tier 1 of openai-2025, 40
/// posts, `--latency-ms 1000`) and the planner's `queue` strategy agree: the client's bucket
/// lets each call go when the planner's does, plus the queue's slack and the harness's own
/// time, so plan/live is at most 1 (0.1 % for the histograms' buckets); the calls themselves
/// are the planner's, exactly ([`crate::plan::assert_same_draws`]). How far under 1 is the
/// harness's overhead and the queue's slack in real time, bounded nowhere (before: plan/live in
/// [0.5, 1.001], its lower side the machine's load); when the queue lets each call go is
/// `queued_first_sends_are_spaced_as_the_tier_1_bucket_refills`'s. With every call alike in
/// length and time, which post takes which turn does not change the figures; with the model's
/// drawn latencies, two captions whose image prompts answer within the harness's jitter of
/// each other can swap turns, a turn apart (2.8 s at Tier 1), moving the median either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_client_queue_agrees_with_the_planners_queue_strategy() {
    use postload::plan::levers::Design;
    use postload::plan::sim::Strategy;
    use postload::plan::{simulate_measured, CellSpec, PlanSpec};
    let n = 40u32;
    let dir = tempdir("queue-plan");
    let args = RunArgs {
        scenario: vec![burst_file(
            &dir,
            "queued",
            "openai-2025",
            n,
            "client_queue = true",
        )],
        latency_ms: Some(1000),
        time: postload::clock::TimeScale::checked(20.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let r = run(args).await;
    let live = case(&r, "queued");
    let spec = PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![1],
        users: vec![n],
        strategies: vec![Strategy::Queue],
        seed: 3,
        fixed_latency_ms: Some(1000),
        ..PlanSpec::default()
    };
    let at = CellSpec {
        model: "gpt-4o",
        tier: 1,
        users: n,
        strategy: Strategy::Queue,
        response_cache_hit: 0.0,
        prompt_cache_hit: 0.0,
        design: Design::default(),
    };
    let planned = simulate_measured(&Catalog::embedded(), &spec, at).unwrap();
    let (p, l) = (&planned.measured, &live.measured);
    assert_eq!((p.posts.ok, l.posts.ok), (n as u64, n as u64));
    assert_eq!((p.calls.http_429, l.calls.http_429), (0, 0));
    let within = |what: &str, plan: Option<f64>, live: Option<f64>| {
        let r = postload::commands::validate::ratio(plan, live)
            .unwrap_or_else(|| panic!("{what}: no value"));
        assert!(
            r <= 1.001,
            "{what}: plan/live = {r:.4} ({plan:?} / {live:?})"
        );
        r
    };
    crate::plan::assert_same_draws(live, p);
    let (pp, lp) = (&p.post_latency_ms.ok, &l.post_latency_ms.ok);
    let r50 = within("post p50", pp.p50, lp.p50);
    let r95 = within("post p95", pp.p95, lp.p95);
    let rm = within("makespan", Some(p.makespan_ms), Some(l.makespan_ms));
    eprintln!(
        "queue plan/live: p50 {r50:.4} ({:?}/{:?}), p95 {r95:.4} ({:?}/{:?}), makespan {rm:.4} ({}/{})",
        pp.p50, lp.p50, pp.p95, lp.p95, p.makespan_ms, l.makespan_ms
    );
}

/// A call larger than the whole limit can never fit the client's bucket: it fails as rate
/// limited without being sent, as the planner's queue gives it up. Tier 1 of the seed set gives
/// gpt-4o 10,000 TPM; an image call of 9,900 prompt tokens and 150 max_tokens reserves 10,050.
/// Both posts fail `rate_limited` with their one call made of no attempt, and the stub sees no
/// request at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_larger_than_the_limit_fails_rate_limited_without_being_sent() {
    let dir = tempdir("queue-too-large");
    let fields = "client_queue = true\n\
                  [prompts]\nimage_prompt = { prompt_tokens = 9900, max_tokens = 150 }";
    let args = RunArgs {
        scenario: vec![burst_file(&dir, "large", "seed", 2, fields)],
        latency_ms: Some(50),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let r = run(args).await;
    let c = case(&r, "large");
    let m = &c.measured;
    assert_eq!((m.posts.ok, m.posts.failed), (0, 2));
    assert_eq!(
        m.posts.failed_by_cause.get(&FailureCause::RateLimited),
        Some(&2)
    );
    assert_eq!((m.calls.calls, m.calls.attempts), (2, 0));
    assert_eq!(c.stub.as_ref().unwrap().chat_requests, 0);
    assert!(m.queue_wait_ms.is_none(), "no call got through the queue");
}

/// A scenario's `client_queue` must be a boolean: exit 2, naming the file, the line and the
/// field.
#[test]
fn a_bad_client_queue_is_exit_2_naming_file_line_and_field() {
    let dir = tempdir("bad-queue");
    let file = dir.join("queue.toml");
    std::fs::write(
        &file,
        "name = \"x\"\nmodel = \"gpt-4o\"\nclient_queue = \"yes\"\n[load]\nkind = \"burst\"\nusers = 1\n",
    )
    .unwrap();
    Command::cargo_bin("postload")
        .unwrap()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("queue.toml")
                .and(contains("client_queue"))
                .and(contains("line 3")),
        );
}
