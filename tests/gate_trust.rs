//! Issue 25: a gate a team can leave on. A dead target is refused before any load, failed posts
//! are counted by cause where a user looks, a share is never misread, a threshold with no value
//! says why, and the log leads with the verdict.

use assert_cmd::Command;
use predicates::prelude::PredicateBooleanExt;
use predicates::str::contains;

use crate::common::tempdir;

fn postload() -> Command {
    let mut c = Command::cargo_bin("postload").unwrap();
    c.env_remove("GITHUB_STEP_SUMMARY");
    c
}

#[test]
fn run_target_at_a_closed_port_is_refused_naming_the_url_and_the_error() {
    // Before: "0/10 posts ok", exit 0, no cause.
    let closed = crate::common::closed_port();
    let target = format!("http://127.0.0.1:{}", closed.port);
    let reports = tempdir("dead-target");
    postload()
        .args([
            "run",
            "--target",
            &target,
            "--scenario",
            "scenarios/service-check.toml",
        ])
        .arg("--report-dir")
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(
            contains(format!(
                "the service at {target} does not answer (connection refused)"
            ))
            .and(contains("--wait-for-target")),
        );
    // Nothing was sent: no run folder.
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
    // Told to wait, it waits (a bounded duration), then refuses the same way.
    postload()
        .args(["run", "--target", &target, "--wait-for-target", "300ms"])
        .args(["--scenario", "scenarios/service-check.toml", "--report-dir"])
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains("(connection refused) after 0.3 s"));
    for bad in ["2h", "-1s", "soon", "61m"] {
        postload()
            .args(["run", "--target", &target])
            .arg(format!("--wait-for-target={bad}"))
            .arg("--report-dir")
            .arg(&reports)
            .assert()
            .code(2)
            .stderr(contains("--wait-for-target"));
    }
}

#[test]
fn compare_tolerance_10_is_refused_not_read_as_1000_percent() {
    // Before: 1,000 %, so a third OpenAI call a post (+50 %) passed with exit 0.
    let r = "tests/fixtures/result-default-run.json";
    postload()
        .args(["compare", r, r, "--tolerance", "10"])
        .assert()
        .code(2)
        .stderr(contains("--tolerance").and(contains("write 10% or 0.1")));
    for ok in ["10%", "0.1"] {
        postload()
            .args(["compare", r, r, "--tolerance", ok])
            .assert()
            .code(0);
    }
}

/// check's verdict is its first and its last line, naming the failed threshold: before, the
/// first line was a threshold's and the verdict came only last, as a count.
#[test]
fn check_prints_its_verdict_first_and_last() {
    let dir = tempdir("check-verdict");
    let gate = dir.join("g.toml");
    std::fs::write(
        &gate,
        "[[gate]]\nthresholds = [\"error_rate <= 100%\", \"posts_ok >= 1000\"]\n",
    )
    .unwrap();
    let out = postload()
        .args(["check", "tests/fixtures/result-default-run.json", "--gate"])
        .arg(&gate)
        .arg("--junit")
        .arg(dir.join("junit.xml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let (first, last) = (
        stdout.lines().next().unwrap(),
        stdout.lines().last().unwrap(),
    );
    assert!(
        first.starts_with("postload gate: FAIL (gates: 4 passed, 4 failed): `posts_ok >= 1000` ("),
        "{stdout}"
    );
    assert_eq!(first, last, "{stdout}");
}

#[test]
fn a_ratio_threshold_of_a_bare_5_is_refused_in_a_gate_file() {
    let dir = tempdir("ratio-5");
    let gate = dir.join("g.toml");
    std::fs::write(&gate, "[[gate]]\nthresholds = [\"error_rate <= 5\"]\n").unwrap();
    postload()
        .args(["check", "tests/fixtures/result-default-run.json", "--gate"])
        .arg(&gate)
        .assert()
        .code(2)
        .stderr(contains("g.toml").and(contains("write 5% or 0.05")));
}

/// The shipped scenarios (service-check, service-429) copied under `dir` with a 2 s timeout,
/// so that a hanging service fails in seconds: the same names, so gates/service.toml selects
/// them.
fn quick_scenarios(dir: &std::path::Path) -> Vec<String> {
    ["service-check", "service-429"]
        .iter()
        .map(|name| {
            let text = std::fs::read_to_string(format!("scenarios/{name}.toml")).unwrap();
            assert!(text.contains("request_timeout_s = 30"), "{name}");
            let path = dir.join(format!("{name}.toml"));
            std::fs::write(
                &path,
                text.replace("request_timeout_s = 30", "request_timeout_s = 2"),
            )
            .unwrap();
            path.to_string_lossy().into_owned()
        })
        .collect()
}

/// What the binary printed and wrote, for one run of the recipe against the example service.
struct GateRun {
    code: i32,
    stdout: String,
    stderr: String,
    summary: String,
    result: serde_json::Value,
    /// The run's folder.
    run: std::path::PathBuf,
}

/// The README's recipe, `postload run --target … --with-stub … --gate gates/service.toml`, as
/// the binary, against the example service with `flags` (in this process, on loopback), with
/// `$GITHUB_STEP_SUMMARY` pointed at a file.
async fn recipe(flags: &[&str], extra: &[&str], tag: &str) -> GateRun {
    let dir = tempdir(tag);
    let port = crate::regressions::free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    let mut argv = vec!["postload", "example-service", "--openai-base-url", &base];
    argv.extend_from_slice(flags);
    use clap::Parser;
    let Some(postload::cli::Command::ExampleService(args)) =
        postload::cli::Cli::try_parse_from(argv).unwrap().command
    else {
        panic!("example-service parses");
    };
    let cfg = postload::config::example_config(&args).unwrap();
    let service = postload::example::start(cfg, postload::stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let summary = dir.join("summary.md");
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"));
    cmd.args([
        "run",
        "--target",
        &service.url(),
        "--with-stub",
        &port.to_string(),
    ])
    .args(["--latency-ms", "50", "--wait-for-target", "5s"])
    .args(["--gate", "gates/service.toml", "--report-dir"])
    .arg(dir.join("reports"))
    .env("GITHUB_STEP_SUMMARY", &summary)
    .args(extra);
    for s in quick_scenarios(&dir) {
        cmd.args(["--scenario", &s]);
    }
    let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
        .await
        .unwrap();
    drop(service);
    let (run, result) = crate::common::read_result(&dir.join("reports"));
    GateRun {
        run,
        result,
        code: out.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary: std::fs::read_to_string(&summary).unwrap_or_default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_broken_service_fails_the_shipped_gate_naming_its_cause() {
    // 5xx to every post, a service that never answers, a 200 without a caption: each a named
    // cause of every failed post of service-check (10 posts), on the case line, under the
    // table, as the gate's reason, and on the run's last line when nothing succeeded.
    for (fault, cause, label) in [
        ("server-error", "server_error", "server error"),
        ("hang", "timeout", "timed out"),
        ("bad-body", "bad_body", "unexpected body"),
    ] {
        let r = recipe(&["--fault", fault], &[], &format!("fault-{fault}")).await;
        assert_eq!(r.code, 1, "{fault}: {}\n{}", r.stdout, r.stderr);
        let check = &r.result["cases"][0];
        assert_eq!(check["scenario"], "service-check");
        assert_eq!(check["posts"]["failed_by_cause"][cause], 10, "{fault}");
        let phrase = format!("10 {label} (failed.{cause})");
        assert!(
            r.stderr
                .contains(&format!("service-check tier 2: 0/10 posts ok: {phrase};")),
            "{fault}: {}",
            r.stderr
        );
        assert!(
            r.stdout
                .contains(&format!("failed posts, service-check tier 2: {phrase}")),
            "{fault}: {}",
            r.stdout
        );
        assert!(
            r.stdout
                .contains("FAIL service-check tier 2: error_rate <= 0 (measured 1)"),
            "{fault}: {}",
            r.stdout
        );
        assert!(
            r.stdout
                .lines()
                .last()
                .unwrap()
                .starts_with("postload: NO POST SUCCEEDED (service-check tier 2: ")
                && r.stdout.lines().last().unwrap().contains(&phrase),
            "{fault}: {}",
            r.stdout
        );
        assert!(
            r.summary.starts_with("### postload gate: FAIL"),
            "{}",
            r.summary
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_not_forwarding_traceparent_is_told_how_to_fix_it_in_the_first_screen() {
    let r = recipe(&["--no-trace-propagation"], &["-q"], "no-trace").await;
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    let why = format!("(measured no value: {})", postload::gate::NO_TRACEPARENT);
    assert!(
        r.stdout.contains(&format!(
            "FAIL service-check tier 2: service.own_p95_ms <= 65 {why}"
        )),
        "{}",
        r.stdout
    );
    // The other per-post figures name the figure that needs no trace.
    assert!(
        r.stdout.contains("service.retries_per_post >= 1 (measured no value: the service did not forward `traceparent` to OpenAI: forward it (see docs/gates.md) or gate on service.retried_requests)"),
        "{}",
        r.stdout
    );
    // -q: the failed thresholds and the count, no passing line; service mode: no planning-note
    // claims on the console (they are in report.md).
    assert!(
        r.stdout.contains("\npostload gate: FAIL (gates: ") && !r.stdout.contains("PASS "),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("claims:"), "{}", r.stdout);
    // The first screen: the table (a line and a row per case), then the gate.
    let first = r
        .stdout
        .lines()
        .position(|l| l.contains("traceparent"))
        .unwrap();
    assert!(first < 10, "{}", r.stdout);
    // JUnit names the reason too.
    let junit = std::fs::read_to_string(r.run.join("junit.xml")).unwrap();
    assert!(
        junit.contains("measured no value: the service did not forward `traceparent` to OpenAI"),
        "{junit}"
    );
    // The step summary leads with the verdict and the failed thresholds, then the gate table,
    // then the report (its claims under their own heading).
    let verdict = r.summary.find("### postload gate: FAIL").unwrap();
    let named = r
        .summary
        .find("`service.own_p95_ms <= 65` (service-check tier 2)")
        .unwrap();
    let table = r.summary.find("## Gates").unwrap();
    let claims = r.summary.find("## Claims").unwrap();
    assert!(
        verdict == 0 && named < table && table < claims,
        "{}",
        r.summary
    );
}

#[test]
fn compare_names_its_regressions_before_its_table() {
    // Base: the frozen run; new: the same with burst-50 tier 2 using 1.5 times the tokens a
    // post (the tokens a third call would add): a regression beyond 10 %.
    let dir = tempdir("compare-first");
    let base = "tests/fixtures/result-default-run.json";
    let mut r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(base).unwrap()).unwrap();
    let case = r["cases"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["scenario"] == "burst-50" && c["tier"] == 2)
        .unwrap();
    let per_ok = case["tokens"]["per_ok_post"].as_f64().unwrap();
    case["tokens"]["per_ok_post"] = serde_json::json!(per_ok * 1.5);
    let new = dir.join("new.json");
    std::fs::write(&new, serde_json::to_vec(&r).unwrap()).unwrap();
    let out = postload()
        .args(["compare", base])
        .arg(&new)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap();
    assert!(
        first
            .starts_with("### postload compare: 1 regression: `tokens_per_post` burst-50 tier 2 (")
            && first.ends_with("+50.0 %)"),
        "{stdout}"
    );
    assert!(stdout.find(first).unwrap() < stdout.find("## Comparison").unwrap());
    // And last, after the table (before: `regressions: 1`, the verdict without its reason).
    let last = stdout.lines().last().unwrap();
    assert_eq!(last, first.trim_start_matches("### "), "{stdout}");
    // Unchanged: it says so first.
    postload()
        .args(["compare", base, base])
        .assert()
        .code(0)
        .stdout(predicates::str::starts_with(
            "### postload compare: no regression",
        ));
}
