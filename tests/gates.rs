//! CI gates: thresholds on a saved result (the frozen default run), exit codes through the
//! binary, JUnit read back by an XML parser, and the GitHub step summary.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

use postload::gate;
use postload::report::RunResult;

use crate::common::tempdir;

const FIXTURE: &str = include_str!("fixtures/result-default-run.json");

fn fixture() -> RunResult {
    serde_json::from_str(FIXTURE).unwrap()
}

fn p95(case: &str) -> f64 {
    let r = fixture();
    let c = r
        .cases
        .iter()
        .find(|c| format!("{} tier {}", c.scenario, c.tier) == case)
        .unwrap();
    // Read from the result itself, not through the gate code under test.
    c.measured.post_latency_ms.ok.p95.unwrap()
}

#[test]
fn a_p95_just_above_the_limit_fails_and_just_below_passes() {
    let v = p95("burst-50 tier 2");
    let check = |limit: f64| {
        let gates = gate::parse(
            "g.toml",
            &format!("[[gate]]\nscenario = \"burst-50\"\ntier = 2\nthresholds = [\"post.p95_ms <= {limit}\"]\n"),
        )
        .unwrap();
        let checks = gate::evaluate(&gates, &fixture()).unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].measured, Some(v));
        checks[0].pass
    };
    assert!(check(v), "equal to the limit holds for <=");
    assert!(check(v + 0.001));
    assert!(!check(v - 0.001));
}

#[test]
fn a_metric_without_a_value_never_passes_and_an_empty_selection_is_an_error() {
    // Tier-1 posts mostly failed; error_rate is real, but a gate on a scenario that is not in
    // the run must not pass silently.
    let gates = gate::parse(
        "g.toml",
        "[[gate]]\nscenario = \"sustained\"\nthresholds = [\"error_rate < 1\"]\n",
    )
    .unwrap();
    assert!(gate::evaluate(&gates, &fixture())
        .unwrap_err()
        .contains("matches no case"));
    let mut r = fixture();
    r.cases[0].measured.post_latency_ms.ok.p95 = None;
    let gates = gate::parse(
        "g.toml",
        "[[gate]]\nthresholds = [\"post.p95_ms < 1e12\"]\n",
    )
    .unwrap();
    let checks = gate::evaluate(&gates, &r).unwrap();
    assert!(!checks[0].pass && checks[0].measured.is_none());
    assert!(checks[1..].iter().all(|c| c.pass));
}

fn write_fixture(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("result.json");
    std::fs::write(&p, FIXTURE).unwrap();
    p
}

fn postload() -> Command {
    let mut c = Command::cargo_bin("postload").unwrap();
    c.env_remove("GITHUB_STEP_SUMMARY");
    c
}

#[test]
fn exit_codes_pass_fail_typo_missing() {
    let dir = tempdir("gates");
    let result = write_fixture(&dir);
    let gate = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let pass = gate(
        "pass.toml",
        "[[gate]]\ntier = 2\nthresholds = [\"error_rate <= 0\", \"post.p95_ms < 60000\"]\n",
    );
    let fail = gate(
        "fail.toml",
        "[[gate]]\ntier = 1\nthresholds = [\"error_rate < 5%\"]\n",
    );
    let typo = gate(
        "typo.toml",
        "[[gate]]\ntier = 2\nthresholds = [\"post.p59_ms < 60000\"]\n",
    );
    postload()
        .args(["check"])
        .arg(&result)
        .arg("--gate")
        .arg(&pass)
        .assert()
        .code(0)
        .stdout(
            contains("PASS burst-50 tier 2: error_rate <= 0 (measured 0)")
                .and(contains("4 passed, 0 failed")),
        );
    postload()
        .arg("check")
        .arg(&result)
        .arg("--gate")
        .arg(&fail)
        .assert()
        .code(1)
        .stdout(contains(
            "FAIL burst-50 tier 1: error_rate < 0.05 (measured 0.96)",
        ));
    postload()
        .arg("check")
        .arg(&result)
        .arg("--gate")
        .arg(&typo)
        .assert()
        .code(2)
        .stderr(contains("typo.toml").and(contains("unknown metric `post.p59_ms`")));
    postload()
        .arg("check")
        .arg(&result)
        .args(["--gate", "/nonexistent/gate.toml"])
        .assert()
        .code(2)
        .stderr(contains("/nonexistent/gate.toml"));
    postload()
        .args(["check", "/nonexistent/result.json", "--gate"])
        .arg(&pass)
        .assert()
        .code(2)
        .stderr(contains("/nonexistent/result.json"));
    // A typo in run --gate is caught before any load is sent.
    postload()
        .args(["run", "--quiet", "--report-dir"])
        .arg(dir.join("reports"))
        .arg("--gate")
        .arg(&typo)
        .assert()
        .code(2)
        .stderr(contains("unknown metric"));
    assert!(!dir.join("reports").exists(), "no run happened");
}

#[test]
fn junit_reads_back_with_measured_values_and_the_step_summary_gets_the_table() {
    let dir = tempdir("junit");
    let result = write_fixture(&dir);
    let gate_file = dir.join("g.toml");
    std::fs::write(
        &gate_file,
        "[[gate]]\nthresholds = [\"error_rate <= 0\", \"tokens_per_post < 3000\"]\n",
    )
    .unwrap();
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let junit = dir.join("out/junit.xml");
    std::fs::create_dir_all(junit.parent().unwrap()).unwrap();
    postload()
        .arg("check")
        .arg(&result)
        .arg("--gate")
        .arg(&gate_file)
        .arg("--junit")
        .arg(&junit)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .assert()
        .code(1);
    let xml = std::fs::read_to_string(&junit).unwrap();
    let doc = roxmltree::Document::parse(&xml).expect("valid XML");
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 8, "2 thresholds x 4 cases");
    let failures: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("failure"))
        .collect();
    // The Tier-1 cases fail both: posts failed, and the tokens their failed posts burned make
    // each successful post cost far more than 3,000 tokens.
    assert_eq!(failures.len(), 4);
    let msg = failures[0].attribute("message").unwrap();
    assert!(
        msg.starts_with("measured 0.96") && msg.contains("error_rate <= 0"),
        "{msg}"
    );
    let tokens = failures[1].attribute("message").unwrap();
    assert!(tokens.contains("tokens_per_post < 3000"), "{tokens}");
    let suite = doc
        .descendants()
        .find(|n| n.has_tag_name("testsuite"))
        .unwrap();
    assert_eq!(suite.attribute("failures"), Some("4"));
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("earlier step\n") && md.contains("## Gates") && md.contains("**FAIL**"));
}

#[test]
fn the_shipped_example_gate_passes_on_the_default_run() {
    let dir = tempdir("example-gate");
    let result = write_fixture(&dir);
    postload()
        .arg("check")
        .arg(&result)
        .args([
            "--gate",
            concat!(env!("CARGO_MANIFEST_DIR"), "/gates/tier2-bursts.toml"),
        ])
        .assert()
        .code(0);
}

#[test]
fn run_with_a_gate_writes_junit_and_exits_by_the_verdict() {
    let dir = tempdir("run-gate");
    let gate = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let pass = gate(
        "pass.toml",
        "[[gate]]\nthresholds = [\"error_rate <= 0\", \"post.p95_ms < 5000\"]\n",
    );
    let fail = gate(
        "fail.toml",
        "[[gate]]\nthresholds = [\"post.p50_ms < 150\"]\n",
    );
    for (gate_file, code) in [(&pass, 0), (&fail, 1)] {
        let reports = dir.join(format!("reports-{code}"));
        postload()
            .args([
                "run",
                "--quiet",
                "--users",
                "5",
                "--tier",
                "2",
                "--latency-ms",
                "100",
            ])
            .arg("--report-dir")
            .arg(&reports)
            .arg("--gate")
            .arg(gate_file)
            .assert()
            .code(code);
        let run = std::fs::read_dir(&reports)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let xml = std::fs::read_to_string(run.join("junit.xml")).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let n = doc
            .descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count();
        // The three default scenarios (burst-50, burst-100, burst-100-mini) at tier 2: a
        // testcase per threshold and case, so 3 x 2 for the pass file and 3 x 1 for the fail.
        assert_eq!(
            n,
            if code == 0 { 6 } else { 3 },
            "three scenarios at tier 2"
        );
    }
}

/// The fixture with its post latencies replaced by `values` (µs), scaled by `factor`.
fn with_latencies(values: &[u64], factor: f64) -> RunResult {
    let mut r = fixture();
    for c in &mut r.cases {
        let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record((*v as f64 * factor) as u64).unwrap();
        }
        c.measured.post_latency_ms.ok = postload::metrics::Percentiles::of(&h);
        c.measured
            .histograms
            .insert("post_ok".into(), postload::metrics::hlog::encode(&h));
    }
    r
}

#[test]
fn compare_flags_a_30_percent_regression_and_not_a_2_percent_one() {
    let values: Vec<u64> = (0..100).map(|i| 5_000_000 + i * 40_000).collect();
    let base = with_latencies(&values, 1.0);
    let slower = postload::compare::compare(&base, &with_latencies(&values, 1.3), 0.10);
    let p95 = slower
        .deltas
        .iter()
        .find(|d| d.case == "burst-50 tier 2" && d.metric == "post.p95_ms")
        .unwrap();
    assert_eq!(p95.verdict, postload::compare::Verdict::Regression);
    assert!((p95.change.unwrap() - 0.3).abs() < 0.01);
    assert!(p95.p_value.unwrap() < 0.001);
    let close = postload::compare::compare(&base, &with_latencies(&values, 1.02), 0.10);
    assert_eq!(close.regressions(), 0);
    assert!(close
        .deltas
        .iter()
        .filter(|d| d.metric.starts_with("post."))
        .all(|d| d.verdict == postload::compare::Verdict::Same));
}

#[test]
fn compare_says_when_a_rise_is_within_noise() {
    // 20 posts; in the new run only the slowest one is twice as slow: p99 (the max of 20)
    // doubles, but the two distributions are nearly the same.
    let values: Vec<u64> = (0..20).map(|i| 5_000_000 + i * 100_000).collect();
    let mut slower = values.clone();
    *slower.last_mut().unwrap() *= 2;
    let c = postload::compare::compare(
        &with_latencies(&values, 1.0),
        &with_latencies(&slower, 1.0),
        0.10,
    );
    let p99 = c
        .deltas
        .iter()
        .find(|d| d.case == "burst-50 tier 2" && d.metric == "post.p99_ms")
        .unwrap();
    assert!(p99.change.unwrap() > 0.5);
    assert_eq!(p99.verdict, postload::compare::Verdict::WithinNoise);
    // The p-value by hand. Pooled and sorted, the 19 shared values are 19 ties of two (average
    // ranks 1.5, 3.5, ..., 37.5), then the base's max (rank 39) and the doubled one (40).
    // R1 = (2 * 190 - 19 * 0.5) + 39 = 409.5; U1 = 409.5 - 20 * 21 / 2 = 199.5; mean 200.
    // Ties: 19 * (2^3 - 2) = 114; var = 400 / 12 * (41 - 114 / (40 * 39)) = 1364.23;
    // z = 0.5 / 36.935 = 0.01354; p = 2 * (1 - 0.50540) = 0.9892.
    let p = p99.p_value.unwrap();
    assert!((p - 0.9892).abs() < 0.0005, "{p}");
}

#[test]
fn compare_command_exit_codes_and_json() {
    let dir = tempdir("compare");
    let values: Vec<u64> = (0..100).map(|i| 5_000_000 + i * 40_000).collect();
    let write = |name: &str, r: &RunResult| {
        let p = dir.join(name);
        std::fs::write(&p, serde_json::to_vec(r).unwrap()).unwrap();
        p
    };
    let base = write("base.json", &with_latencies(&values, 1.0));
    let slow = write("slow.json", &with_latencies(&values, 1.3));
    let close = write("close.json", &with_latencies(&values, 1.02));
    let json = dir.join("deltas.json");
    postload()
        .arg("compare")
        .arg(&base)
        .arg(&slow)
        .arg("--json")
        .arg(&json)
        .assert()
        .code(1)
        .stdout(contains("**REGRESSION**").and(contains("+30.0 %")));
    let deltas: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(deltas["deltas"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["verdict"] == "regression"));
    postload()
        .arg("compare")
        .arg(&base)
        .arg(&close)
        .assert()
        .code(0);
    // Beyond a 1 % tolerance, but a 2 % shift of a 5-9 s spread is not significant.
    postload()
        .arg("compare")
        .arg(&base)
        .arg(&close)
        .args(["--tolerance", "1%"])
        .assert()
        .code(0)
        .stdout(contains("within noise"));
    postload()
        .arg("compare")
        .arg(&base)
        .arg(&slow)
        .args(["--tolerance", "lots"])
        .assert()
        .code(2)
        .stderr(contains("--tolerance"));
}

#[test]
fn thresholds_in_a_scenario_gate_its_run() {
    let dir = tempdir("scenario-thresholds");
    let scenario = dir.join("gated.toml");
    std::fs::write(
        &scenario,
        "name = \"gated\"\nmodel = \"gpt-4o\"\ntiers = [2]\nseed = 4\n[load]\nkind = \"burst\"\nusers = 4\n\n[[thresholds]]\nchecks = [\"error_rate <= 0\", \"post.p50_ms < 150\"]\n",
    )
    .unwrap();
    // Two 100 ms calls per post: p50 is above 150 ms, so the scenario's own gate fails.
    postload()
        .args(["run", "--quiet", "--latency-ms", "100", "--scenario"])
        .arg(&scenario)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .assert()
        .code(1)
        // --quiet hides the passing thresholds, never a failed one nor the count.
        .stdout(
            contains("FAIL gated tier 2: post.p50_ms < 150")
                .and(contains("PASS gated tier 2").not())
                .and(contains("gates: 1 passed, 1 failed")),
        );
}

#[test]
fn check_suggest_writes_a_gate_the_baseline_passes_and_refuses_a_stub_result() {
    let dir = tempdir("suggest");
    let mut r: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/result-default-run.json"
        ))
        .unwrap(),
    )
    .unwrap();
    // A stub-mode result: nothing of a service to fit, exit 2 naming the file.
    let stub = dir.join("stub.json");
    std::fs::write(&stub, r.to_string()).unwrap();
    postload()
        .arg("check")
        .arg(&stub)
        .arg("--suggest")
        .arg(dir.join("never.toml"))
        .assert()
        .code(2)
        .stderr(contains("stub.json: no service-mode case"));
    assert!(!dir.join("never.toml").exists());
    // burst-50 tier 2 (50 posts, all ok) as a service-mode case: 2 calls a post.
    r["cases"][1]["service"] = serde_json::json!({
        "requests_per_post": 2.0, "calls_per_post": 2.0, "prompt_tokens_per_post": 1949.2,
        "completion_tokens_per_post": 200.0, "retried_requests": 0, "own_mean_ms": 30.0,
        "by_call": {}
    });
    let base = dir.join("base.json");
    std::fs::write(&base, r.to_string()).unwrap();
    let gate_file = dir.join("mine.toml");
    postload()
        .arg("check")
        .arg(&base)
        .arg("--suggest")
        .arg(&gate_file)
        .assert()
        .code(0)
        .stdout(contains("mine.toml"));
    let text = std::fs::read_to_string(&gate_file).unwrap();
    // No traces: the own time's margin is half its 30 ms, 45.
    assert!(text.contains("\"service.own_mean_ms <= 45\""), "{text}");
    assert!(text.contains("\"service.calls_per_post <= 2\""), "{text}");
    // The baseline passes the gate it suggested.
    postload()
        .arg("check")
        .arg(&base)
        .arg("--gate")
        .arg(&gate_file)
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .assert()
        .code(0);
    // --suggest and --gate are one or the other.
    postload()
        .arg("check")
        .arg(&base)
        .arg("--gate")
        .arg(&gate_file)
        .arg("--suggest")
        .arg(dir.join("x.toml"))
        .assert()
        .code(2);
}

/// `run --gate` under GitHub Actions: `$GITHUB_STEP_SUMMARY` gets, after what earlier steps
/// wrote, the verdict first, the gate table, then the run's report.md whole; a second run
/// appends its own (here failing) verdict after it, never over it. Exit 0 then 1.
#[test]
fn run_gate_appends_its_verdict_table_and_report_to_the_step_summary() {
    let dir = tempdir("run-gate-summary");
    let summary = dir.join("summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let pass = dir.join("pass.toml");
    std::fs::write(
        &pass,
        "[[gate]]\ntier = 2\nthresholds = [\"error_rate <= 0\"]\n",
    )
    .unwrap();
    let fail = dir.join("fail.toml");
    std::fs::write(
        &fail,
        "[[gate]]\ntier = 2\nthresholds = [\"tokens_per_post <= 1\"]\n",
    )
    .unwrap();
    let run = |gate: &std::path::Path, reports: &std::path::Path, code: i32| {
        postload()
            .args([
                "run",
                "--scenario",
                "burst-50",
                "--users",
                "2",
                "--tier",
                "2",
            ])
            .args(["--latency-ms", "0", "--seed", "5", "--quiet", "--gate"])
            .arg(gate)
            .arg("--report-dir")
            .arg(reports)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .assert()
            .code(code);
        let (run, _) = crate::common::read_result(reports);
        std::fs::read_to_string(run.join("report.md")).unwrap()
    };
    let first_report = run(&pass, &dir.join("pass-reports"), 0);
    let after_first = std::fs::read_to_string(&summary).unwrap();
    let rest = after_first
        .strip_prefix("earlier step\n")
        .unwrap_or_else(|| panic!("the earlier step's text kept first: {after_first}"));
    assert!(rest.starts_with("### postload gate: PASS"), "{rest}");
    let table = rest.find("error_rate <= 0").expect("the gate table");
    let report = rest.find(first_report.trim()).expect("report.md whole");
    assert!(table < report, "{rest}");
    let second_report = run(&fail, &dir.join("fail-reports"), 1);
    let after_second = std::fs::read_to_string(&summary).unwrap();
    let added = after_second
        .strip_prefix(after_first.as_str())
        .unwrap_or_else(|| panic!("appended, not rewritten: {after_second}"));
    assert!(added.starts_with("### postload gate: FAIL"), "{added}");
    assert!(added.contains("tokens_per_post <= 1"), "{added}");
    assert!(added.contains(second_report.trim()), "{added}");
}
