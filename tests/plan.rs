//! `postload plan`: the CLI's outputs, and the planner beside the live harness at small scale.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use postload::commands::validate::{compare, ratio, Figures, Validation};
use postload::openai::catalog::Catalog;
use postload::plan::sim::Strategy;
use postload::plan::PlanSpec;
use postload::scenario::Prompts;

use crate::common::{goose_lock, tempdir};

fn spec() -> PlanSpec {
    PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![1, 2],
        users: vec![30],
        strategies: vec![Strategy::Sdk],
        seed: 3,
        ..PlanSpec::default()
    }
}

/// The live bursts of `users` users (every tier of `validation`, one run, as `plan --validate`
/// runs them) beside the planner's cells: per tier, the live case (with the stub's counts) and
/// the planned measurements, for the same seed.
pub(crate) async fn live_beside_planned(
    catalog: &Catalog,
    spec: &PlanSpec,
    validation: &Validation,
    users: u32,
) -> Vec<(postload::report::CaseResult, postload::metrics::Measured)> {
    let mut spec = spec.clone();
    spec.fixed_latency_ms = validation.fixed_latency_ms;
    let design = postload::plan::Design::default();
    let cfg = postload::config::configure(
        &validation.request(&spec, users, &design),
        Arc::new(catalog.clone()),
        Arc::new(AtomicBool::new(false)),
    )
    .unwrap();
    let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
    let result = postload::run::execute(cfg, ex).await.unwrap();
    result
        .cases
        .into_iter()
        .map(|live| {
            let at = postload::plan::CellSpec {
                model: "gpt-4o",
                tier: live.tier,
                users,
                strategy: Strategy::Sdk,
                response_cache_hit: 0.0,
                prompt_cache_hit: 0.0,
                design,
            };
            let planned = postload::plan::simulate_measured(catalog, &spec, at)
                .unwrap()
                .measured;
            (live, planned)
        })
        .collect()
}

/// Where no call meets a 429, the live run and the planner made the same calls with the same
/// draws, exactly: every post ok on both sides, the same tokens by call (the stub's answers
/// against the planner's draws: completions to the token), and the modelled latencies the stub
/// served sum to the planner's call times (within HdrHistogram's 0.1 %, the planner's side
/// being a histogram), the slowest too. Independent draws, a call made twice or one left out
/// would part them (with the planner's seed + 1: 3,511 caption tokens against 3,707).
pub(crate) fn assert_same_draws(
    live: &postload::report::CaseResult,
    planned: &postload::metrics::Measured,
) {
    let m = &live.measured;
    assert_eq!(m.posts.total, planned.posts.total);
    assert_eq!(
        (m.posts.ok, planned.posts.ok),
        (m.posts.total, m.posts.total)
    );
    assert_eq!(m.calls.http_429, 0);
    // Completions to the token; the image prompt's prompt too. The caption's prompt carries the
    // image prompt's answer: the planner counts it at its completion tokens, the stub tokenizes
    // its text within the caption's prompt, a token or two apart a post (38 of 34,500 on 30).
    let (l, p) = (&m.tokens.by_call, &planned.tokens.by_call);
    assert_eq!(l.keys().collect::<Vec<_>>(), ["caption", "image_prompt"]);
    assert_eq!(p.keys().collect::<Vec<_>>(), ["caption", "image_prompt"]);
    for call in ["caption", "image_prompt"] {
        assert_eq!(
            l[call].completion, p[call].completion,
            "{call}: {l:?} / {p:?}"
        );
        assert_eq!(l[call].cached, 0);
    }
    assert_eq!(
        l["image_prompt"].prompt, p["image_prompt"].prompt,
        "{l:?} / {p:?}"
    );
    assert!(
        l["caption"].prompt.abs_diff(p["caption"].prompt) <= 2 * m.posts.total,
        "{l:?} / {p:?}"
    );
    let stub = live.stub.as_ref().expect("the embedded stub's counts");
    let served = &stub.models["gpt-4o"];
    let calls = &planned.call_latency_ms;
    let count: u64 = calls.values().map(|c| c.count).sum();
    assert_eq!(served.ok, count);
    assert_eq!(stub.latency_ms.count, count);
    // The planner's call times as HdrHistogram keeps them (3 significant figures: a mean and a
    // max within 0.1 %); the stub's sum is exact.
    let planned_ms: f64 = calls
        .values()
        .map(|c| c.count as f64 * c.mean.unwrap())
        .sum();
    let within = |got: f64, want: f64, what: &str| {
        assert!(
            (got - want).abs() <= 1e-3 * want,
            "{what}: the stub served {got} ms, the planner {want} ms"
        );
    };
    within(served.latency_ms_sum, planned_ms, "sum of call times");
    let planned_max = calls.values().filter_map(|c| c.max).fold(0.0, f64::max);
    within(stub.latency_ms.max.unwrap(), planned_max, "slowest call");
}

/// live ≥ planned: every live post is its calls' modelled times (the same draws, above) plus the
/// harness's own time, so every order statistic is too: plan/live ≤ 1 (0.1 % for the
/// histograms' buckets). How far under 1 is the harness's overhead, a performance figure that
/// `plan --validate` reports (docs/planning.md), never bounded here: it depends on the machine.
pub(crate) fn assert_live_not_under_planned(planned: &Figures, live: &Figures, what: &str) {
    for (stat, p, l) in [
        ("p50", planned.p50_s, live.p50_s),
        ("p95", planned.p95_s, live.p95_s),
        ("makespan", Some(planned.makespan_s), Some(live.makespan_s)),
    ] {
        let r = ratio(p, l).unwrap_or_else(|| panic!("{what} {stat}: no value"));
        assert!(
            r <= 1.001,
            "{what} {stat}: plan/live = {r:.4} ({planned:?} / {live:?})"
        );
    }
}

/// Tier 1's 429s and successes for `users` posts at once with 400 ms calls, live against
/// planned: the first wave of calls fits and the rest meet 429s. Live times are the planned
/// times (the same draws, [`assert_same_draws`]) plus the harness's own delays, and a later
/// request finds the bucket no emptier (it refills with time, and only the calls the planner
/// let through took from it), so every call the planner let through the live stub does too:
/// on any machine, live 429s ≤ planned and live success ≥ planned. The other side depends on
/// how long the harness itself took, `harness_s`: Tier 2's live makespan less its planned in
/// the same run (the same posts and calls with no 429, so no retry: a backoff or a refill that
/// ran at the wrong speed cannot widen it, as Tier 1's own makespan would be):
/// - within [`MARGIN_S`]: equal, exactly. The planner's own answer is shown unmoved with every
///   call 0.5 s later (each attempt 250 to 500 tokens fuller; at 0.7 s one more caption gets
///   through, 86 429s), 5 times the margin.
/// - a loaded machine, past it: only the proven side. Before, live was held to the planner with
///   every call 2 × `harness_s` later; in one of five suite runs under load 8 it failed (86 429s
///   live against that envelope's 87): the load moves from minute to minute, so Tier 2's delay
///   does not bound Tier 1's, and a delay that falls on some calls more than others lets one
///   more through. No timing bound holds on a machine whose load moves; the exact check does
///   where the harness is quiet (CI, an idle machine), and catches a backoff run at the wrong
///   speed (an unscaled SDK backoff gave 80 429s against 87).
pub(crate) fn assert_tier_1_429s_agree(
    planned: &Figures,
    live: &Figures,
    harness_s: f64,
    users: u32,
    what: &str,
) {
    assert!(
        live.http_429 <= planned.http_429 && live.success >= planned.success,
        "{what}: live {live:?} / planned {planned:?}"
    );
    let (at, later) = (planned_at(1, users, 400), planned_at(1, users, 900));
    assert_eq!(
        (at.http_429, at.success),
        (planned.http_429, planned.success),
        "{what}: the planner's answer is this one"
    );
    assert_eq!(
        (at.http_429, at.success),
        (later.http_429, later.success),
        "the planner's Tier 1 answer moved with 0.5 s of delay: no margin"
    );
    let excess = harness_s;
    if excess <= MARGIN_S {
        assert_eq!(
            (live.http_429, live.success),
            (planned.http_429, planned.success),
            "{what}: the harness added {excess:.3} s at Tier 2 (under the {MARGIN_S} s margin)"
        );
        return;
    }
    eprintln!(
        "{what}: the harness added {excess:.3} s of modelled time at Tier 2 (a loaded machine), past the {MARGIN_S} s margin: only live 429s <= planned was checked (live {}, planned {})",
        live.http_429, planned.http_429
    );
}

/// See [`assert_tier_1_429s_agree`].
const MARGIN_S: f64 = 0.1;

/// The planner's answer for gpt-4o at `tier` with `users` at once and every call `latency_ms`.
fn planned_at(tier: u8, users: u32, latency_ms: u64) -> Figures {
    let spec = PlanSpec {
        fixed_latency_ms: Some(latency_ms),
        ..spec()
    };
    let at = postload::plan::CellSpec {
        model: "gpt-4o",
        tier,
        users,
        strategy: Strategy::Sdk,
        response_cache_hit: 0.0,
        prompt_cache_hit: 0.0,
        design: postload::plan::Design::default(),
    };
    figures(
        &postload::plan::simulate_measured(&Catalog::embedded(), &spec, at)
            .unwrap()
            .measured,
    )
}

pub(crate) fn figures(m: &postload::metrics::Measured) -> Figures {
    Figures::pooled(&[m]).unwrap()
}

/// Regression: plan/live was held in [0.5, 1.001], a lower bound set by the machine's load (a
/// two-sided 10 % failed at 0.86 with the load at 9) and too loose to show the sides agree.
/// Now what must agree exactly does ([`assert_same_draws`]), the latencies one-sidedly, and
/// Tier 1's 429s exactly on a quiet machine and within an envelope on any
/// ([`assert_tier_1_429s_agree`]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_planner_agrees_with_the_live_harness_at_small_scale() {
    let _guard = goose_lock().await;
    let validation = Validation {
        users: vec![30],
        tiers: vec![1, 2],
        time_scale: postload::clock::TimeScale::checked(1.0).unwrap(),
        fixed_latency_ms: Some(400),
        repeat: 1,
        report_dir: tempdir("validate"),
    };
    let sides = live_beside_planned(&Catalog::embedded(), &spec(), &validation, 30).await;
    assert_eq!(sides.len(), 2);
    // Tier 2: no 429s; two 400 ms calls a post, the same in both.
    let (live, planned) = &sides[1];
    assert_eq!(live.tier, 2);
    assert_same_draws(live, planned);
    let (t2_live, t2_planned) = (figures(&live.measured), figures(planned));
    assert_live_not_under_planned(&t2_planned, &t2_live, "tier 2");
    let harness_s = t2_live.makespan_s - t2_planned.makespan_s;
    // Tier 1: 30 posts × ~2,300 reserved tokens against 30,000 TPM; the bucket decides who waits
    // and who fails, the same way in both.
    let (live, planned) = &sides[0];
    let (t1_live, t1_planned) = (figures(&live.measured), figures(planned));
    assert!(t1_planned.http_429 > 10, "{t1_planned:?}");
    assert_tier_1_429s_agree(&t1_planned, &t1_live, harness_s, 30, "tier 1");
}

/// `--time-scale` under 429s: at K = 10 the stub's bucket refills and the SDK's backoffs both
/// run 10 times faster in real time. If either did not scale, the 429s and the successes would
/// part from the planner's (which has no real time at all): refill too slow gives more 429s,
/// backoff too slow lets the bucket refill more between retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_scaled_tier_1_burst_agrees_with_the_planner_on_429s() {
    let _guard = goose_lock().await;
    let sides = compare(
        &Catalog::embedded(),
        &spec(),
        &Validation {
            users: vec![30],
            tiers: vec![1, 2],
            time_scale: postload::clock::TimeScale::checked(10.0).unwrap(),
            fixed_latency_ms: Some(400),
            repeat: 1,
            report_dir: tempdir("validate-k10"),
        },
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    let t1 = &sides[0];
    assert_eq!(t1.tier, 1);
    // As at K = 1 (above): 30 posts x ~2,300 reserved tokens against 30,000 TPM. At K = 10 the
    // harness's real milliseconds are 10 times as many modelled ones (0.376 s here with two
    // builds beside it): past the margin more often than at K = 1, then held to the envelope.
    assert!(t1.planned.http_429 > 10, "{t1:?}");
    let t2 = &sides[1];
    assert_eq!((t2.tier, t2.live.http_429), (2, 0), "{t2:?}");
    let harness_s = t2.live.makespan_s - t2.planned.makespan_s;
    assert_tier_1_429s_agree(&t1.planned, &t1.live, harness_s, 30, "tier 1 at K = 10");
}

/// `plan --validate --mocks DIR`: the live side runs on the planner's catalog. A tier set that
/// only DIR has, whose Tier 2 has Tier 1's gpt-4o limits (30,000 TPM), must reach the live stub:
/// 20 image calls reserve ~950 tokens each (19,000), leaving ~11,000 for 20 captions of ~1,350
/// (8 fit; 400 ms of calls refill only 30,000 / 60 × 0.4 = 200 tokens), so at least 11 captions
/// get a 429. On the shipped Tier 2 (450,000 TPM) there would be none; with the embedded
/// catalog the live side would refuse the unknown set.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_runs_the_live_side_on_the_planners_catalog() {
    let _guard = goose_lock().await;
    let mut catalog = Catalog::embedded();
    let mut set = catalog.tier_sets["openai-2025"].clone();
    let tier_1 = set
        .tier
        .iter()
        .find(|t| t.tier == 1)
        .unwrap()
        .limits
        .clone();
    set.tier.iter_mut().find(|t| t.tier == 2).unwrap().limits = tier_1;
    catalog.tier_sets.insert("team-account".into(), set);
    let spec = PlanSpec {
        tier_set: "team-account".into(),
        tiers: vec![2],
        ..spec()
    };
    let sides = compare(
        &catalog,
        &spec,
        &Validation {
            users: vec![20],
            tiers: vec![2],
            time_scale: postload::clock::TimeScale::checked(1.0).unwrap(),
            fixed_latency_ms: Some(400),
            repeat: 1,
            report_dir: tempdir("validate-mocks"),
        },
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    let t2 = &sides[0];
    assert_eq!(t2.tier, 2);
    assert!(t2.live.http_429 >= 11, "{t2:?}");
    assert!(t2.planned.http_429 >= 11, "{t2:?}");
}

/// With the model's heavy-tailed latencies, one seed of 20 posts: the p95 and the makespan are
/// the slowest few draws, which two independent samples rarely agree on to 10 %. The live run
/// names each attempt's draw stream to the stub, so both sides draw the same latencies for the
/// same post: shown exactly ([`assert_same_draws`]: the same tokens, and the latencies the stub
/// served summing to the planner's call times). What is left is the harness's own time, so
/// plan/live ≤ 1 for every order statistic. Independent draws would put the planner above the
/// live run about half the time. (Before: a [0.5, 1.001] band on plan/live, its lower side the
/// machine's load.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_same_draws_the_live_run_and_the_planner_agree_on_the_tail() {
    let _guard = goose_lock().await;
    let validation = Validation {
        users: vec![20],
        tiers: vec![2],
        time_scale: postload::clock::TimeScale::checked(4.0).unwrap(),
        fixed_latency_ms: None,
        repeat: 1,
        report_dir: tempdir("same-draws"),
    };
    let sides = live_beside_planned(&Catalog::embedded(), &spec(), &validation, 20).await;
    let (live, planned) = &sides[0];
    assert_eq!(live.tier, 2);
    assert_same_draws(live, planned);
    assert_live_not_under_planned(&figures(planned), &figures(&live.measured), "tier 2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_scaled_run_reports_modelled_time_and_records_its_scale() {
    let _guard = goose_lock().await;
    let dir = tempdir("time-scale");
    let args = postload::cli::RunArgs {
        scenario: vec!["burst-50".into()],
        users: Some(20),
        tier: vec![2],
        latency_ms: Some(1_000),
        time: postload::clock::TimeScale::checked(10.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: dir.clone(),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..postload::cli::RunArgs::default()
    };
    let cfg = postload::config::run_config(&args, Arc::new(AtomicBool::new(false))).unwrap();
    let r = {
        let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        postload::run::execute(cfg, ex)
    }
    .await
    .unwrap();
    let c = &r.cases[0];
    // Two 1 s calls per post, in modelled time: never less than 2 s. (How much faster the run
    // goes in real time is a performance figure: `cargo bench --bench timescale` measures it;
    // a bound here would fail on a loaded machine.)
    let p50 = c.measured.post_latency_ms.ok.p50.unwrap();
    assert!(p50 >= 2_000.0, "{p50}");
    // The stub served modelled latencies: exactly 1,000 ms a call, 40 calls.
    let stub = c.stub.as_ref().unwrap();
    assert_eq!(stub.latency_ms.count, 40);
    // (HdrHistogram's 3 significant figures: within a microsecond bucket of 1,000 ms.)
    let served = stub.latency_ms.p50.unwrap();
    assert!((served - 1_000.0).abs() <= 1.0, "{served}");
    assert_eq!(stub.time_scale, 10.0);
    assert_eq!(c.measured.posts.ok, 20);
    // Before: K was recorded nowhere. Now in the case's inputs and at the top of report.md.
    assert_eq!(c.inputs.time_scale, 10.0);
    let md = std::fs::read_to_string(dir.join(&r.run_id).join("report.md")).unwrap();
    assert!(md.contains("**Time scale 10×**"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_scale_is_refused_with_a_target_whose_clock_postload_does_not_control() {
    use postload::clock::SystemClock;
    let stop = || Arc::new(AtomicBool::new(false));
    let args = |base_url: Option<String>, target: Option<String>| postload::cli::RunArgs {
        scenario: vec!["burst-50".into()],
        dest: postload::cli::DestinationArgs {
            base_url,
            ..Default::default()
        },
        target,
        time: postload::clock::TimeScale::checked(4.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: tempdir("time-scale-refused"),
        },
        ..postload::cli::RunArgs::default()
    };
    // Before: a real server's 0.45 s was reported as 1.8 s at K = 4.
    let plain =
        crate::common::start_clocked(crate::common::config(), Arc::new(SystemClock::new())).await;
    let e = postload::config::run_config(&args(Some(plain.base_url()), None), stop()).unwrap_err();
    assert!(e.to_string().contains("it runs at 1"), "{e}");
    // A postload stub at the same K is postload's clock: accepted.
    let scaled =
        crate::common::start_clocked(crate::common::config(), Arc::new(SystemClock::scaled(4.0)))
            .await;
    postload::config::run_config(&args(Some(scaled.base_url()), None), stop()).unwrap();
    // Something that is no postload stub at all.
    let e = postload::config::run_config(&args(Some("http://127.0.0.1:9/v1".into()), None), stop())
        .unwrap_err();
    assert!(
        e.to_string().contains("does not answer /__postload/stats"),
        "{e}"
    );
    // Service mode: the service's own time never scales.
    let e = postload::config::run_config(&args(None, Some("http://127.0.0.1:9".into())), stop())
        .unwrap_err();
    assert!(
        e.to_string().contains("--time-scale 4: in service mode"),
        "{e}"
    );
}

#[test]
fn plan_writes_its_table_json_markdown_and_charts() {
    let dir = tempdir("plan-cli");
    let out = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args([
            "plan",
            "--model",
            "gpt-4o",
            "--tier",
            "1",
            "--tier",
            "2",
            "--users",
            "20",
            "--users",
            "60",
            "--p95",
            "12",
            "--result",
            "tests/fixtures/result-default-run.json",
            "--report-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("lowest tier meeting the target"),
        "{stdout}"
    );
    let runs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1);
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(runs[0].join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["schema"], "postload.plan.v1");
    // 1 model × 2 tiers × 2 user counts × 2 strategies.
    assert_eq!(plan["cells"].as_array().unwrap().len(), 8);
    // The printed answers follow from the cells: for each user count and strategy, the lowest
    // tier whose p95 is at most 12 s with every post successful (the default --min-success 1),
    // or none. Worked out here from plan.json, not by the planner's own search.
    let cells = plan["cells"].as_array().unwrap();
    for users in [20, 60] {
        for strategy in ["sdk", "queue"] {
            let lowest = cells
                .iter()
                .filter(|c| c["users"] == users && c["strategy"] == strategy)
                .filter(|c| c["success"] == 1.0 && c["p95_s"].as_f64().is_some_and(|p| p <= 12.0))
                .map(|c| c["tier"].as_u64().unwrap())
                .min();
            let line = format!("  gpt-4o × {users} users, {strategy}: ");
            let printed = stdout
                .lines()
                .find(|l| l.starts_with(&line))
                .unwrap_or_else(|| panic!("{line} in {stdout}"));
            match lowest {
                Some(t) => assert!(printed.contains(&format!(": tier {t} (")), "{printed}"),
                None => assert!(printed.ends_with("none of the tiers tried"), "{printed}"),
            }
        }
    }
    // The note's monthly table, reproduced from its own per-post figures.
    // Beside it, the same loads at the fixture run's measured $/post (gpt-4o only: it ran no
    // gpt-4o-mini).
    for row in plan["monthly"].as_array().unwrap() {
        assert_eq!(row["note_usd"], row["from_note_per_post_usd"], "{row}");
        assert_eq!(
            row["measured_usd"].is_number(),
            row["model"] == "gpt-4o",
            "{row}"
        );
    }
    let md = std::fs::read_to_string(runs[0].join("plan.md")).unwrap();
    for s in [
        "## Lowest tier that meets the target",
        "## Caching (the note's advice)",
        "## Monthly cost: the note's table beside the model",
    ] {
        assert!(md.contains(s), "{s}");
    }
    for chart in ["plan-levers", "plan-p95", "plan-cost"] {
        let png = std::fs::read(runs[0].join(format!("charts/{chart}.png"))).unwrap();
        let img = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (1000, 600));
        let first = img.get_pixel(0, 0);
        assert!(
            img.pixels().filter(|p| *p != first).count() > 10_000,
            "{chart} is blank"
        );
        let svg = std::fs::read_to_string(runs[0].join(format!("charts/{chart}.svg"))).unwrap();
        let word = if chart == "plan-levers" {
            "p95"
        } else {
            "tier"
        };
        assert!(svg.contains(word), "{chart}");
    }
    // Bad input: exit 2 naming the option.
    assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["plan", "--cache-hit", "1.5", "--report-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--response-cache-hit"));
    // --validate's own options are checked before anything runs (no plan folder is written).
    for (bad, named) in [
        (["--validate-tier", "9"], "--validate-tier"),
        (["--validate-repeat", "0"], "--validate-repeat"),
        (["--validate-users", "0"], "--validate-users"),
        (["--time-scale", "0"], "--time-scale"),
    ] {
        let before = std::fs::read_dir(&dir).unwrap().count();
        assert_cmd::Command::cargo_bin("postload")
            .unwrap()
            .args(["plan", "--validate", "--report-dir"])
            .arg(&dir)
            .args(bad)
            .assert()
            .code(2)
            .stderr(predicates::str::contains(named));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), before, "{named}");
    }
}

/// The planner's calls are the stub's: the prompt tokens it assumes are what the stub counts in
/// the run's real bodies, and the same draws give the same timing distribution.
#[test]
fn the_planners_post_shape_and_timings_are_the_stubs() {
    use postload::openai::bucket::{Limits, RateLimiter, RejectedCost};
    use postload::openai::world::{serve, CallRequest, Served};
    use rand::SeedableRng;
    use std::time::Duration;

    let catalog = Arc::new(Catalog::embedded());
    let mut cfg = postload::stub::StubConfig::new(Arc::clone(&catalog));
    cfg.tier = 5;
    let clock = Arc::new(postload::clock::ManualClock::new());
    let core = postload::stub::StubCore::new(cfg, clock.clone()).unwrap();
    let shape = postload::plan::post_shape("gpt-4o", &spec());
    let plan = postload::scenario::prompts::PostRequests::new("gpt-4o", Prompts::default());
    let text = postload::openai::tokens::CompletionText::new();
    let mut stub = Vec::new();
    for i in 0..3_000u64 {
        let image_prompt = text.text(140).to_string();
        let r = core.chat(&plan.caption_body(i, &image_prompt), None);
        assert_eq!(r.status, 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        let counted = v["usage"]["prompt_tokens"].as_u64().unwrap();
        // The planner sizes every post like the first business's; the others' prompts are sized
        // to the same target and may fall a token or two short, and the label and the image
        // prompt may merge a token at their seam.
        let assumed = (shape.caption_base_tokens + 140) as u64;
        assert!(counted.abs_diff(assumed) <= 3, "{counted} vs {assumed}");
        stub.push(r.delay.as_secs_f64());
        clock.advance(Duration::from_millis(50));
    }
    let image = core.chat(&plan.variant(0).image_body, None);
    let v: serde_json::Value = serde_json::from_slice(&image.body).unwrap();
    assert_eq!(v["usage"]["prompt_tokens"], shape.image_prompt_tokens);

    let profile = &catalog.profiles[&catalog.model("gpt-4o").unwrap().profile];
    let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: u64::MAX / 4,
            tpm: u64::MAX / 4,
            rpd: None,
        },
        RejectedCost::Request,
        Duration::ZERO,
    );
    let planned: Vec<f64> = (0..3_000)
        .filter_map(|_| {
            let req = CallRequest {
                reserve: 1_400,
                prompt_tokens: shape.caption_base_tokens + 140,
                max_tokens: Some(200),
                n: 1,
            };
            match serve(
                &mut limiter,
                Duration::ZERO,
                &req,
                profile,
                &Default::default(),
                &mut rng,
            ) {
                Served::Ok { timing, .. } => Some(timing.total.as_secs_f64()),
                _ => None,
            }
        })
        .collect();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (a, b) = (mean(&stub), mean(&planned));
    assert!(
        (a / b - 1.0).abs() < 0.03,
        "stub mean {a:.3} s, planner mean {b:.3} s"
    );
}

#[test]
fn the_default_plan_judges_the_caching_and_queuing_claims_from_its_own_cells() {
    let (stdout, run, plan) = default_plan("plan-claims");
    let cells = plan["cells"].as_array().unwrap();
    let verdicts = plan["claims"].as_array().unwrap();
    let of = |id: &str, model: &str| -> Vec<&serde_json::Value> {
        verdicts
            .iter()
            .filter(|v| {
                v["id"] == id
                    && v["case"]
                        .as_str()
                        .unwrap()
                        .starts_with(&format!("{model},"))
            })
            .collect()
    };
    for model in ["gpt-4o", "gpt-4o-mini"] {
        // Queuing, worked out from the cells: at each tier where SDK retries lose a post of the
        // 100-user burst, the queue's cell must have every post ok and p95 ≤ 5 s.
        let cell = |strategy: &str, tier: u64| {
            cells
                .iter()
                .find(|c| {
                    c["model"] == model
                        && c["users"] == 100
                        && c["strategy"] == strategy
                        && c["tier"] == tier
                })
                .unwrap()
        };
        let losing: Vec<u64> = (1..=5)
            .filter(|&t| cell("sdk", t)["success"].as_f64().unwrap() < 1.0)
            .collect();
        let q = of("request-queuing", model);
        assert_eq!(q.len(), losing.len(), "{model}: {q:?}");
        for (v, &t) in q.iter().zip(&losing) {
            let queue = cell("queue", t);
            let smooth = queue["success"] == 1.0 && queue["p95_s"].as_f64().unwrap() <= 5.0;
            assert_eq!(v["case"], format!("{model}, 100 users, Tier {t}"));
            assert_eq!(v["verdict"], if smooth { "holds" } else { "fails" }, "{v}");
        }
        // Caching, from the caching rows of the lowest tier where every uncached post
        // succeeds: prompt caching's saving p, the response cache's hit share h, and the claim
        // holds when 1 - (1 - h)(1 - p) ≥ 30 %.
        let effect = plan["caching"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["model"] == model && e["rows"][0]["success"] == 1.0)
            .unwrap();
        let usd = |i: usize| effect["rows"][i]["usd_per_month"].as_f64().unwrap();
        assert_eq!(effect["rows"][0]["label"], "no caching");
        assert_eq!(effect["rows"][2]["label"], "prompt caching");
        let p = 1.0 - usd(2) / usd(0);
        let h = effect["rows"][1]["response_cache_hit"].as_f64().unwrap();
        let both = 1.0 - (1.0 - h) * (1.0 - p);
        let c = of("caching-savings", model);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0]["verdict"], if both >= 0.3 { "holds" } else { "fails" });
        assert!(
            c[0]["measured"]
                .as_str()
                .unwrap()
                .contains(&format!("{:.1} % in all", both * 100.0)),
            "{}",
            c[0]["measured"]
        );
    }
    // The console prints the verdicts after the table, and plan.md has them in a section.
    assert!(
        stdout.contains("claims:\n  caching saves a further 30-50 % (gpt-4o, "),
        "{stdout}"
    );
    let md = std::fs::read_to_string(run.join("plan.md")).unwrap();
    assert!(md.contains("## Claims the planner settles"), "{md}");
    assert!(md.contains(
        "| request queuing makes 100 users at once run smoothly | gpt-4o, 100 users, Tier 1 |"
    ));
}

#[test]
fn the_default_plan_answers_with_the_fewest_levers_that_hold() {
    let (stdout, run, plan) = default_plan("plan-levers");
    let evaluated = plan["levers"]["evaluated"].as_array().unwrap();
    let answers = plan["levers"]["answers"].as_array().unwrap();
    // 2 models × 2 user counts.
    assert_eq!(answers.len(), 4);
    for a in answers {
        let mine: Vec<&serde_json::Value> = evaluated
            .iter()
            .filter(|r| r["model"] == a["model"] && r["users"] == a["users"])
            .collect();
        assert_eq!(a["evaluated"].as_u64().unwrap() as usize, mine.len());
        // Worked out from plan.json: a row holds when every post succeeded (mean success 1)
        // and its p95 (the median seed's) is at most 5 s.
        let holds = |r: &serde_json::Value| {
            r["success"] == 1.0 && r["p95_s"].as_f64().is_some_and(|p| p <= 5.0)
        };
        let holding: Vec<&&serde_json::Value> = mine.iter().filter(|r| holds(r)).collect();
        assert_eq!(a["holding"].as_u64().unwrap() as usize, holding.len());
        let fewest = holding.iter().map(|r| r["changes"].as_u64().unwrap()).min();
        let best = &a["best"][0];
        assert_eq!(best["changes"].as_u64(), fewest, "{a}");
        assert!(holds(best));
        // The console line names the same levers and tier.
        let line = format!(
            "  {}, {} users: holds with ",
            a["model"].as_str().unwrap(),
            a["users"]
        );
        let printed = stdout
            .lines()
            .find(|l| l.starts_with(&line))
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(
            printed.contains(&format!(" at Tier {}, ", best["tier"])),
            "{printed}"
        );
    }
    let md = std::fs::read_to_string(run.join("plan.md")).unwrap();
    assert!(md.contains("## What makes the target hold: design levers"));
}

#[test]
fn a_named_lever_runs_every_cell_and_the_answer_with_that_design() {
    let dir = tempdir("plan-lever");
    let out = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args([
            "plan",
            "--model",
            "gpt-4o",
            "--users",
            "50",
            "--tier",
            "2",
            "--strategy",
            "sdk",
            "--lever",
            "parallel",
            "--lever",
            "caption-max-tokens=120",
            "--report-dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["spec"]["design"]["parallel"], true);
    assert_eq!(plan["spec"]["design"]["caption_max_tokens"], 120);
    // One design, judged whole and streamed, at the one tier and strategy.
    let rows = plan["levers"]["evaluated"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r["design"]["parallel"] == true));
    assert_eq!(rows[1]["design"]["stream_caption"], true);
    // The grid's cell runs the design too: the caption's prompt lacks the image prompt, so a
    // post's tokens are below the note's design's ~2,330 (about 150 fewer prompt tokens, and
    // at most 120 caption tokens instead of the profile's median 220 capped at 200).
    let per_post = plan["cells"][0]["tokens_per_post"].as_f64().unwrap();
    assert!(per_post < 2_150.0, "{per_post}");
    // A lever that does not exist is refused, naming the option.
    assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["plan", "--lever", "turbo"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--lever turbo: unknown lever"));
}

/// `postload plan` with its defaults into a fresh folder: its stdout, its folder and plan.json.
fn default_plan(tag: &str) -> (String, std::path::PathBuf, serde_json::Value) {
    let dir = tempdir(tag);
    let out = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["plan", "--report-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let plan = serde_json::from_slice(&std::fs::read(run.join("plan.json")).unwrap()).unwrap();
    (String::from_utf8_lossy(&out.stdout).into_owned(), run, plan)
}

/// `plan --mocks DIR --tiers account` on a calibrated folder: plan.md names the tier set and each
/// model's latency profile with their calibrated sources and the files they came from.
#[test]
fn a_plan_on_calibrated_mocks_names_its_tiers_and_latency_profiles() {
    use crate::common::{calibrated_mocks, CALIBRATED};
    let mocks = calibrated_mocks("prov-plan-mocks");
    let dir = tempdir("prov-plan");
    assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["plan", "--model", "gpt-4o", "--tier", "1", "--users", "5"])
        .args(["--tiers", "account", "--mocks"])
        .arg(&mocks)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .success();
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let md = std::fs::read_to_string(run.join("plan.md")).unwrap();
    let file = |name: &str| mocks.join(name).display().to_string();
    for want in [
        format!(
            "Tiers: account 2026-12-01 ({CALIBRATED}: rate-limit headers), from {}.",
            file("tiers.toml")
        ),
        format!(
            "Latency: gpt-4o (as of 2026-12-01; source: {CALIBRATED}: 40 calls; from {}).",
            file("latency.toml")
        ),
    ] {
        assert!(md.contains(&want), "{want}\n{md}");
    }
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["latency_profiles"]["gpt-4o"]["as_of"], "2026-12-01");
}

/// `plan --mocks DIR` on a calibrated folder (no --tiers): the account's one tier becomes an
/// upgrade path. The fixture's account states gpt-4o 500 RPM / 30,000 TPM and gpt-4o-mini 500 /
/// 200,000: the shipped openai-2025 Tier 1 (its folder has no published set of its own), so
/// Tier 1 is the account, marked, and Tiers 2-5 are openai-2025's, at the account's latency.
#[test]
fn a_plan_on_a_calibrated_account_shows_every_tier_with_its_own_marked() {
    use crate::common::calibrated_mocks;
    let mocks = calibrated_mocks("upgrade-plan-mocks");
    let dir = tempdir("upgrade-plan");
    let out = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args([
            "plan",
            "--model",
            "gpt-4o",
            "--users",
            "5",
            "--strategy",
            "sdk",
        ])
        .arg("--mocks")
        .arg(&mocks)
        .arg("--report-dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "tiers: Tier 1 is your account, measured 2026-12-01 (the limits of openai-2025 \
             Tier 1); the others are openai-2025's published tiers (shipped)"
        ),
        "{stdout}"
    );
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["spec"]["tier_set"], "account");
    assert_eq!(plan["spec"]["tiers"], serde_json::json!([1, 2, 3, 4, 5]));
    assert_eq!(plan["spec"]["account"]["matched"], 1);
    let steps = plan["decision"]["upgrades"][0]["tiers"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[0]["yours"], true);
    assert_eq!(
        steps[0]["qualification"],
        "your account, measured 2026-12-01 (the limits of openai-2025 Tier 1)"
    );
    assert_eq!(steps[0]["tpm"], 30_000);
    assert_eq!(steps[1]["yours"], false);
    assert_eq!(
        steps[1]["qualification"],
        "$50 paid and 7 days since first payment"
    );
    assert_eq!(steps[1]["tpm"], 450_000);
    assert_eq!(steps[4]["tpm"], 30_000_000);
    let md = std::fs::read_to_string(run.join("plan.md")).unwrap();
    assert!(md.contains("## Decision"), "{md}");
    // The decision is paragraphs only: no empty table under it.
    assert!(!md.contains("|  |"), "{md}");
    assert!(
        md.contains("| gpt-4o | 5 | sdk | 1 | your account, measured 2026-12-01"),
        "{md}"
    );
}
