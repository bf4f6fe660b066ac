//! `run --find-rate` (issue 29 §2): the live search for the highest sustainable rate names what
//! limits it: the tier's tokens a minute on the embedded stub, the model's latency when every
//! post is slower than the target, the service's own time when its memory store saturates. The
//! steps here are short (seconds, tens of posts: a test's budget); the agreement with the planner
//! at the shipped windows is docs/planning.md's table, measured by its documented command.

use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use postload::commands::run::find_rate::{search, FindRate};
use postload::example::{self, ExampleConfig};
use postload::plan::rate::{RateLimit, StepWindow};
use postload::plan::Goal;
use postload::run::RunConfig;

use crate::common::{goose_lock, tempdir, unused_port};

/// `postload run ARGS --report-dir DIR`'s checked configuration.
fn configured(args: &[&str], dir: &Path) -> RunConfig {
    let mut argv = vec!["postload", "run", "--quiet", "--report-dir"];
    let d = dir.to_string_lossy().into_owned();
    argv.push(&d);
    argv.extend_from_slice(args);
    let cli = postload::cli::Cli::try_parse_from(argv).unwrap();
    let Some(postload::cli::Command::Run(run)) = cli.command else {
        panic!("not a run")
    };
    postload::config::run_config(&run, Arc::new(AtomicBool::new(false))).unwrap()
}

async fn find(cfg: RunConfig, goal: Goal, window: StepWindow, dir: &Path) -> FindRate {
    let _guard = goose_lock().await;
    search(cfg, goal, window, Duration::from_secs(600), dir)
        .await
        .unwrap()
}

/// gpt-4o-mini at Tier 1, calls of 400 ms, at `--time-scale 20`, seed 3, in steps of 40 s
/// (40 to 400 posts), against a 10 s target with 99 % of posts ok.
fn mini_at_tier_1(dir: &Path) -> (RunConfig, StepWindow, Goal) {
    let cfg = configured(
        &[
            "--model",
            "gpt-4o-mini",
            "--tier",
            "1",
            "--latency-ms",
            "400",
            "--time-scale",
            "20",
            "--seed",
            "3",
        ],
        dir,
    );
    let window = StepWindow {
        seconds: 40.0,
        min_posts: 40.0,
        max_posts: 400.0,
    };
    let goal = Goal {
        p95_s: 10.0,
        min_success: 0.99,
    };
    (cfg, window, goal)
}

/// gpt-4o-mini at Tier 1 (200,000 TPM), calls of 400 ms, a 10 s target: a post reserves about
/// 2,350 tokens, so about 1.42 posts a second hold in the long run; over a 40 s step the full
/// bucket (a minute of TPM) lifts that about 2.5 times, for the live side and the planner alike
/// (both run these windows). Past it posts fail on 429s: the limit is the tokens a minute, and
/// the live rate is the planner's within the steps' noise (40 to 400 posts a step).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_embedded_stub_the_tiers_tokens_a_minute_limit_the_rate() {
    let dir = tempdir("find-rate-tpm");
    let (cfg, window, goal) = mini_at_tier_1(&dir);
    let f = find(cfg, goal, window, &dir).await;
    assert_eq!(f.tiers.len(), 1, "{f:?}");
    let t = &f.tiers[0];
    assert_eq!((t.tier, t.cut), (1, None), "{t:?}");
    let RateLimit::Tpm { tpm, .. } = t.live.limit else {
        panic!("not the tokens a minute: {:?}", t.live.limit)
    };
    assert_eq!(tpm, 200_000);
    let failing = t.live.failing_per_s.unwrap();
    let step = t.live.steps.iter().find(|s| s.per_s == failing).unwrap();
    assert!(step.http_429 > 0 && !step.meets, "{step:?}");
    let (live, planned) = (
        t.live.highest_per_s.unwrap(),
        t.planned.as_ref().unwrap().highest_per_s.unwrap(),
    );
    assert!(
        (0.8..=1.25).contains(&(live / planned)),
        "live {live} / planned {planned}: {t:?}"
    );
    // Each live step's goodput, the posts ok within 10 s among all, is at most its posts ok,
    // and all of them where the step held (its p95 within 10 s, so nearly every ok post).
    for st in &t.live.steps {
        let g = st.goodput.unwrap();
        assert!(g <= st.success + 1e-12, "{st:?}");
        if st.meets {
            assert!(g >= 0.95 * st.success, "{st:?}");
        }
    }
    assert!(t
        .planned
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .all(|s| s.goodput.is_none()));
    // The bracket is closed to 5 %, and every step is judged on at least 40 posts.
    assert!(failing / live <= 1.05 + 1e-9, "{live} .. {failing}");
    assert!(t.live.steps.iter().all(|s| s.posts >= 36), "{t:?}");
    // Every step's result.json is kept.
    let steps = std::fs::read_dir(dir.join("steps")).unwrap().count();
    assert_eq!(steps, t.live.steps.len());
}

/// Every post is two calls of 600 ms: 1.2 s, past a 1 s target at any rate. The planner says
/// the target holds at no rate; the live search tries its floor (40 posts over 4 × 40 s: 0.25
/// a second, a 160 s step), which fails with no 429s, and stops there (half of it is below the
/// floor): the limit is the model's latency.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_slower_than_the_target_at_any_rate_name_the_latency() {
    let dir = tempdir("find-rate-latency");
    let cfg = configured(
        &[
            "--model",
            "gpt-4o-mini",
            "--tier",
            "5",
            "--latency-ms",
            "600",
            "--time-scale",
            "20",
        ],
        &dir,
    );
    let window = StepWindow {
        seconds: 40.0,
        min_posts: 40.0,
        max_posts: 400.0,
    };
    let goal = Goal {
        p95_s: 1.0,
        min_success: 0.99,
    };
    let f = find(cfg, goal, window, &dir).await;
    let t = &f.tiers[0];
    assert_eq!(t.live.highest_per_s, None, "{t:?}");
    assert_eq!(t.live.steps.len(), 1, "{t:?}");
    assert_eq!(t.live.steps[0].per_s, 0.25);
    assert_eq!(t.live.steps[0].http_429, 0);
    let RateLimit::Latency { p95_s } = t.live.limit else {
        panic!("not the latency: {:?}", t.live.limit)
    };
    assert!(p95_s >= 1.2, "{p95_s}");
    assert_eq!(t.planned.as_ref().unwrap().highest_per_s, None);
}

/// Service mode's steps here: 6 s (60 to 600 posts, so from 10 a second), a 0.5 s target with
/// 99 % of posts ok.
fn service_steps() -> (StepWindow, Goal) {
    (
        StepWindow {
            seconds: 6.0,
            min_posts: 60.0,
            max_posts: 600.0,
        },
        Goal {
            p95_s: 0.5,
            min_success: 0.99,
        },
    )
}

/// Service mode: the example service's memory store serves one look-up of 100 ms at a time, 10
/// posts a second at most, while gpt-4o-mini at Tier 3 allows far more. Toward 10 a second the
/// look-ups queue (at 7 a second a post waits 0.7 / (2 × 10 × 0.3) = 0.12 s on average for the
/// store, M/D/1; its p95 several times that) and the service's own time rises with the rate
/// while the stub's 50 ms calls meet no 429: against a 0.5 s target (a post is 0.2 s unloaded)
/// the limit is the service, found near 10 a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_memory_store_names_the_service() {
    let port = unused_port();
    let mut svc = ExampleConfig::new(&format!("http://127.0.0.1:{port}/v1"));
    svc.model = "gpt-4o-mini".into();
    svc.memory_delay = Duration::from_millis(100);
    svc.memory_pool = Some(1);
    let service = example::start(svc, postload::stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let dir = tempdir("find-rate-service");
    let url = service.url();
    let p = port.to_string();
    let cfg = configured(
        &[
            "--model",
            "gpt-4o-mini",
            "--tier",
            "3",
            "--latency-ms",
            "50",
            "--target",
            &url,
            "--with-stub",
            &p,
            "--wait-for-target",
            "5s",
        ],
        &dir,
    );
    let (window, goal) = service_steps();
    let f = find(cfg, goal, window, &dir).await;
    assert!(f.service_mode);
    // From 10 a second (60 posts in 6 s; the planner's OpenAI-side answer is higher).
    assert_eq!(f.tiers[0].live.steps[0].per_s, 10.0, "{f:?}");
    let t = &f.tiers[0];
    let RateLimit::Service {
        own_p95_ms_lowest,
        own_p95_ms,
    } = t.live.limit
    else {
        panic!("not the service: {t:?}")
    };
    assert!(own_p95_ms > 1.1 * own_p95_ms_lowest, "{t:?}");
    // At the store's 10 a second a 6 s step may hold (its queue a random walk of ~60 posts);
    // at 12.5 a second it queues 2.5 posts a second more than it serves, 15 by the step's
    // end, 1.5 s of waiting: past the target.
    let live = t.live.highest_per_s.unwrap();
    assert!(
        live <= 12.5,
        "{live}: well above the memory store's 10 a second"
    );
    // The planner, which sees only the OpenAI side, answers far higher.
    let planned = t.planned.as_ref().unwrap().highest_per_s.unwrap();
    assert!(planned > 2.0 * live, "{planned} / {live}");
}

/// `--time-budget`: a step that would end past the budget is not started, and the answer says
/// the bracket is open. gpt-4o-mini at Tier 1 from the planner's answer (about 3.5 a second for
/// 40 s steps): each step is 40 s / 20 = 2 s of real time, so a 5 s budget lets at most two
/// start (the third would end past 6 s); the search needs more to close its bracket to 5 %.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_budget_ends_the_search_with_the_bracket_said_open() {
    let dir = tempdir("find-rate-budget");
    let (cfg, window, goal) = mini_at_tier_1(&dir);
    let _guard = goose_lock().await;
    let f = search(cfg, goal, window, Duration::from_secs(5), &dir)
        .await
        .unwrap();
    let t = &f.tiers[0];
    assert_eq!(
        t.cut,
        Some(postload::commands::run::find_rate::Cut::TimeBudget)
    );
    assert!((1..=2).contains(&t.live.steps.len()), "{t:?}");
    let console = postload::commands::run::find_rate::console(&f);
    assert!(
        console.contains("NOT BRACKETED: the time budget ended first"),
        "{console}"
    );
    let md = postload::commands::run::find_rate::markdown(&f);
    assert!(md.contains("NOT BRACKETED"), "{md}");
}

/// What `--find-rate` cannot measure without spending, or a flag without it: exit 2, named.
#[test]
fn find_rate_refuses_what_it_cannot_measure_and_its_flags_stand_only_with_it() {
    let postload = |args: &[&str]| {
        let o = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = postload(&["run", "--find-rate", "--base-url", "http://127.0.0.1:9/v1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("--find-rate: runs against the embedded stub"),
        "{err}"
    );
    let (code, err) = postload(&["run", "--p95", "3"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--find-rate"), "{err}");
    let (code, err) = postload(&["run", "--find-rate", "--step", "30s"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--step 30 s: give at least 1m"), "{err}");
    let (code, err) = postload(&["run", "--find-rate", "--p95", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("invalid value '0' for '--p95 <SECS>': `0`: give a number of seconds above 0"),
        "{err}"
    );
    let (code, err) = postload(&["run", "--find-rate", "--repeat", "2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--repeat"), "{err}");
}

/// A signal mid-search: the step under way is dropped (its arrivals incomplete, not judged),
/// the steps before it are kept, and find-rate.json and find-rate.md are written, marked
/// interrupted, with exit 130. The signal is sent once the second step has started (its
/// folder exists), so the first is complete; the wait for it is a liveness bound, not a
/// measurement.
#[test]
fn a_signal_keeps_the_finished_steps_and_writes_the_answer_marked_interrupted() {
    let dir = tempdir("find-rate-sigint");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args([
            "run",
            "--find-rate",
            "--model",
            "gpt-4o-mini",
            "--tier",
            "1",
            "--latency-ms",
            "400",
            "--time-scale",
            "20",
            "--step",
            "1m",
            "--p95",
            "10",
            "--quiet",
            "--report-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let second_step = || {
        std::fs::read_dir(&dir).ok()?.flatten().find_map(|run| {
            run.path()
                .join("steps/tier-1-step-02")
                .exists()
                .then(|| run.path())
        })
    };
    let started = std::time::Instant::now();
    let run = loop {
        if let Some(run) = second_step() {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "the second step never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("find-rate.json")).unwrap())
            .unwrap();
    assert_eq!(j["interrupted"], true, "{j}");
    let t = &j["tiers"][0];
    assert_eq!(t["cut"], "interrupted", "{t}");
    let steps = t["live"]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "only the finished step is kept: {t}");
    // The kept step judged its whole window: at least the 300 posts of a step (a 60 s step at
    // the planner's ~2 a second is lengthened to hold them), a Poisson count within 4 sd below.
    assert!(steps[0]["posts"].as_u64().unwrap() >= 300 - 4 * 17, "{t}");
    let md = std::fs::read_to_string(run.join("find-rate.md")).unwrap();
    assert!(md.contains("NOT BRACKETED: interrupted"), "{md}");
}

/// A step that cannot run (here the service never answers, so the stub alongside waits for it
/// in vain) ends the search with the error, and what was found before it is still written:
/// the tier's answer marked as cut by a failed step, with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_that_cannot_run_ends_the_search_and_says_why() {
    let dir = tempdir("find-rate-dead-service");
    let dead = crate::common::closed_port();
    let url = format!("http://127.0.0.1:{}", dead.port);
    let p = unused_port().to_string();
    let cfg = configured(
        &[
            "--model",
            "gpt-4o-mini",
            "--tier",
            "3",
            "--target",
            &url,
            "--with-stub",
            &p,
            "--wait-for-target",
            "0s",
        ],
        &dir,
    );
    let (window, goal) = service_steps();
    let f = find(cfg, goal, window, &dir).await;
    let t = &f.tiers[0];
    assert_eq!(
        t.cut,
        Some(postload::commands::run::find_rate::Cut::Failed),
        "{t:?}"
    );
    assert!(t.live.steps.is_empty(), "{t:?}");
    let e = f.error.as_deref().unwrap();
    assert!(e.contains(&url), "{e}");
    let md = postload::commands::run::find_rate::markdown(&f);
    assert!(
        md.contains("A step could not run, and the search ended there")
            && md.contains("NOT BRACKETED: a step could not run"),
        "{md}"
    );
}
