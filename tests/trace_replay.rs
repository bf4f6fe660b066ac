//! Trace replay (`--trace`): a small trace against the embedded stub, its posts sent at the
//! trace's times over the speed; `plan --trace` on the same arrivals; bad traces at exit 2.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use assert_cmd::Command;
use postload::cli::RunArgs;
use postload::config::run_config;
use serde_json::Value;

use crate::common::{goose_lock, read_result, tempdir};

/// Five arrivals (epoch milliseconds, 2024-01-01 on), 0, 1, 2.5, 4 and 6 s after the first;
/// the fourth brings its own image prompt (one call, not two).
const TRACE: &str = "epoch_ms,business,image_prompt
1704067200000,Rosa's Bakery,
1704067201000,Pixel Repair,
1704067202500,Harbor Yoga,
1704067204000,Atlas Hardware,\"A shop window at dusk, warm light\"
1704067206000,Lumen Dental,
";

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trace_is_replayed_at_its_times_over_the_speed() {
    let dir = tempdir("trace-replay");
    let a = RunArgs {
        scenario: vec!["burst-50".into()],
        trace: Some(write(&dir, "day.csv", TRACE)),
        trace_speed: Some(2.0),
        tier: vec![5],
        latency_ms: Some(50),
        // Modelled time: the schedule below is the same at any time scale.
        time: postload::clock::TimeScale::checked(10.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let _guard = goose_lock().await;
    let cfg = run_config(&a, Arc::new(AtomicBool::new(false))).expect("valid config");
    {
        let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        postload::run::execute(cfg, ex)
    }
    .await
    .expect("run completes");
    let (_, r): (_, Value) = read_result(&a.output.report_dir);
    // result.json of a trace load is valid against the committed schema.
    let schema: Value =
        serde_json::from_str(include_str!("../schema/result.v1.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&r).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    let c = &r["cases"][0];
    assert_eq!(c["inputs"]["load"]["kind"], "trace");
    assert_eq!(c["inputs"]["load"]["speed"], 2.0);
    // burst-50's 50 users carry 4 × 50 posts in flight.
    assert_eq!(c["inputs"]["load"]["max_in_flight"], 200);
    assert_eq!(c["posts"]["total"], 5);
    assert_eq!(c["posts"]["ok"], 5);
    // Four posts of two calls, one (the trace's image prompt) of one: 9.
    assert_eq!(c["calls"]["calls"], 9);
    // Each post's scheduled time: its offset ÷ 2, in modelled seconds (--time-scale changes
    // the wall clock, not these).
    let mut sent: Vec<f64> = c["posts_sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sent_s"].as_f64().unwrap())
        .collect();
    sent.sort_by(f64::total_cmp);
    let want = [0.0, 0.5, 1.25, 2.0, 3.0];
    assert_eq!(sent.len(), want.len(), "{sent:?}");
    for (s, w) in sent.iter().zip(want) {
        assert!((s - w).abs() < 1e-9, "{sent:?}");
    }
}

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

/// A bad trace stops `run` and `plan` before anything runs, at exit 2, naming file and line.
#[test]
fn bad_traces_exit_2_naming_the_file_and_line() {
    let dir = tempdir("trace-bad");
    let unsorted = write(&dir, "unsorted.csv", "offset_s\n0\n5\n3\n");
    let words = write(
        &dir,
        "words.jsonl",
        "{\"offset_s\":0}\n{\"offset_s\":\"soon\"}\n",
    );
    let empty = write(&dir, "empty.csv", "");
    for (cmd, file, what) in [
        (
            "run",
            &unsorted,
            "unsorted.csv: line 4: earlier than line 3",
        ),
        (
            "plan",
            &unsorted,
            "unsorted.csv: line 4: earlier than line 3",
        ),
        (
            "plan",
            &words,
            "words.jsonl: line 2: `soon` is not a number",
        ),
        ("run", &empty, "empty.csv: empty"),
    ] {
        let out = postload()
            .args([cmd, "--trace", file.as_str(), "--report-dir"])
            .arg(dir.join("reports"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd} {file}: {err}");
        assert!(err.contains(what), "{cmd} {file}: {err}");
    }
    // A speed without a trace is refused, as is a speed below 1.
    let out = postload()
        .args(["run", "--trace-speed", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace-speed: needs a trace"));
    let out = postload()
        .args(["plan", "--trace", unsorted.as_str(), "--trace-speed", "0.5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace-speed: 0.5 is not a speed"));
    // The plan's other loads do not mix with a trace (clap's usage error, exit 2).
    for other in [["--users", "50"], ["--posts-per-day", "5"], ["--days", "2"]] {
        let out = postload()
            .args(["plan", "--trace", unsorted.as_str()])
            .args(other)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{other:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("cannot be used with"),
            "{other:?}"
        );
    }
}

/// The shipped example scenario reads its trace beside it; `--users` sets a trace's posts in
/// flight; the spend guard's estimate counts the trace's own posts and its image prompts.
#[test]
fn the_example_scenario_reads_its_trace_and_the_estimate_counts_its_posts() {
    let root = env!("CARGO_MANIFEST_DIR");
    let a = RunArgs {
        scenario: vec![format!("{root}/scenarios/business-day.toml")],
        users: Some(30),
        output: postload::cli::ReportDir {
            report_dir: tempdir("trace-example"),
        },
        ..RunArgs::default()
    };
    let cfg = run_config(&a, Arc::new(AtomicBool::new(false))).expect("valid config");
    let postload::scenario::Load::Trace {
        arrivals: Some(t),
        speed,
        max_in_flight,
        ..
    } = &cfg.scenarios[0].scenario.load
    else {
        panic!("{:?}", cfg.scenarios[0].scenario.load)
    };
    assert_eq!((t.posts.len(), *speed, *max_in_flight), (500, 60.0, 30));
    // 500 posts, each both calls at their worst on gpt-4o ($2.50 / $10 per 1M tokens), a
    // prompt at the largest count believed (2 × sent + 64): 1,664 × 2.5 + 150 × 10 = 5,660 µ$
    // and 2,464 × 2.5 + 200 × 10 = 8,160 µ$: 500 × 13,820 µ$ = $6.91 in all.
    let usd = postload::run::estimate_max_usd(&cfg);
    assert!((usd - 6.91).abs() < 1e-9, "{usd}");

    // A trace whose file gives two of its four posts an image prompt: their image calls are
    // left out, whatever image_prompt_share says: 2 × 13,820 + 2 × 8,160 µ$ = $0.04396 a case,
    // at burst-50's two tiers $0.08792.
    let dir = tempdir("trace-estimate");
    let a = RunArgs {
        scenario: vec!["burst-50".into()],
        trace: Some(write(
            &dir,
            "own.csv",
            "offset_s,image_prompt\n0,a\n1,\n2,b\n3,\n",
        )),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        ..RunArgs::default()
    };
    let cfg = run_config(&a, Arc::new(AtomicBool::new(false))).expect("valid config");
    let usd = postload::run::estimate_max_usd(&cfg);
    assert!((usd - 0.087_92).abs() < 1e-12, "{usd}");
}

/// `plan --trace` end to end: every cell simulates the trace's posts, and plan.json and
/// plan.md name the trace.
#[test]
fn plan_trace_names_the_trace_and_simulates_its_posts() {
    let dir = tempdir("trace-plan");
    let file = write(&dir, "three.csv", "offset_s\n0\n10\n30\n");
    let reports = dir.join("reports");
    let out = postload()
        .args([
            "plan",
            "--quiet",
            "--model",
            "gpt-4o-mini",
            "--tier",
            "1",
            "--tier",
            "2",
        ])
        .args(["--retry", "sdk", "--trace", file.as_str()])
        .args(["--trace-speed", "10", "--report-dir"])
        .arg(&reports)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan_dir = std::fs::read_dir(&reports)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let plan: Value =
        serde_json::from_slice(&std::fs::read(plan_dir.join("plan.json")).unwrap()).unwrap();
    assert_eq!(plan["spec"]["trace"]["posts"], 3);
    assert_eq!(plan["spec"]["trace"]["speed"], 10.0);
    // Arrivals 0, 1 and 3 s at speed 10: three posts a cell, the last sent at 3 s, so every
    // cell lasts past 3 s. (The exact figures at a fixed latency: plan::tests.)
    let cells = plan["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for c in cells {
        assert_eq!(c["posts"], 3, "{c}");
        assert_eq!(c["users"], 1, "{c}");
        assert!(c["makespan_s"].as_f64().unwrap() > 3.0, "{c}");
    }
    let md = std::fs::read_to_string(plan_dir.join("plan.md")).unwrap();
    assert!(md.contains("the trace "), "{md}");
    assert!(
        md.contains("three.csv: 3 posts over 30 s, replayed at 10× its pace"),
        "{md}"
    );
}
