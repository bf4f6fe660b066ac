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

/// A loopback port nothing listens on (bound, then let go).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn run_target_at_a_closed_port_is_refused_naming_the_url_and_the_error() {
    // Before: "0/10 posts ok", exit 0, no cause.
    let target = format!("http://127.0.0.1:{}", closed_port());
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
