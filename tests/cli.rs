//! The binary as a user runs it: help, exit codes and error text.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

#[test]
fn help_lists_the_stub() {
    postload()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("stub"));
    postload()
        .args(["stub", "--help"])
        .assert()
        .success()
        .stdout(
            contains("--tier")
                .and(contains("--retry-after"))
                .and(contains("--seed")),
        );
}

#[test]
fn a_bad_stub_option_is_exit_2_naming_it() {
    postload()
        .args(["stub", "--port", "0", "--tier", "9"])
        .assert()
        .code(2)
        .stderr(contains("--tier").and(contains("no tier 9")));
    postload()
        .args(["stub", "--port", "0", "--tiers", "nope"])
        .assert()
        .code(2)
        .stderr(contains("unknown tier set `nope`"));
    postload()
        .args(["stub", "--port", "0", "--fault-503", "1.5"])
        .assert()
        .code(2)
        .stderr(contains("--fault-503"));
    postload()
        .args(["stub", "--port", "0", "--mocks", "/nonexistent/dir"])
        .assert()
        .code(2)
        .stderr(contains("--mocks /nonexistent/dir"));
}

#[test]
fn a_bad_mocks_file_is_exit_2_naming_file_and_field() {
    let dir = std::env::temp_dir().join(format!("postload-cli-mocks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text =
        postload::openai::catalog::EMBEDDED_LATENCY.replace("p99 = 4517.0", "p99 = \"slow\"");
    std::fs::write(dir.join("latency.toml"), text).unwrap();
    postload()
        .args(["stub", "--port", "0", "--mocks"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("latency.toml")
                .and(contains("p99"))
                .and(contains("line")),
        );
}

fn temp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("postload-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn a_bad_scenario_file_is_exit_2_naming_file_line_and_field() {
    let dir = temp("badscenario");
    let file = dir.join("typo.toml");
    std::fs::write(
        &file,
        "name = \"typo\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nuser = 5\n",
    )
    .unwrap();
    postload()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("typo.toml")
                .and(contains("line"))
                .and(contains("user")),
        );
    std::fs::write(
        &file,
        "name = \"x\"\nmodel = \"gpt-4o\"\ntiers = [9]\n[load]\nkind = \"burst\"\nusers = 5\n",
    )
    .unwrap();
    postload()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("typo.toml")
                .and(contains("tiers"))
                .and(contains("no tier 9")),
        );
    postload()
        .args(["run", "--scenario", "no-such-scenario", "--report-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("no-such-scenario").and(contains("burst-50")));
}

#[test]
fn load_leaves_loopback_only_with_allow_spend_and_max_cost() {
    for url in ["http://10.0.0.5:9000/v1", "http://example.com/v1"] {
        postload()
            .args(["run", "--base-url", url, "--report-dir"])
            .arg(temp("loopback"))
            .assert()
            .code(2)
            .stderr(contains("--base-url").and(contains("--allow-spend")));
    }
    postload()
        .args(["run", "--base-url", "ftp://127.0.0.1/v1", "--report-dir"])
        .arg(temp("loopback"))
        .assert()
        .code(2)
        .stderr(contains("must be http or https"));
    // So does service mode's target.
    postload()
        .args(["run", "--target", "http://10.1.2.3:8000", "--report-dir"])
        .arg(temp("loopback"))
        .assert()
        .code(2)
        .stderr(contains("10.1.2.3").and(contains("--allow-spend")));
    // --resolve may only point at this machine.
    postload()
        .args([
            "run",
            "--resolve",
            "api.openai.com:443:10.0.0.5",
            "--report-dir",
        ])
        .arg(temp("loopback"))
        .assert()
        .code(2)
        .stderr(contains("--resolve").and(contains("loopback")));
}

#[test]
fn with_stub_fails_clearly_when_the_service_does_not_answer() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let stub_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let target = format!("http://127.0.0.1:{dead}");
    postload()
        .args(["run", "--target", &target, "--with-stub"])
        .arg(stub_port.to_string())
        .args(["--wait-for-target", "0.5", "--report-dir"])
        .arg(temp("not-answering"))
        .assert()
        .code(2)
        .stderr(
            contains("does not answer")
                .and(contains(target.as_str()))
                .and(contains(format!(
                    "OPENAI_BASE_URL=http://127.0.0.1:{stub_port}/v1"
                ))),
        );
    // --with-stub means service mode.
    postload()
        .args(["run", "--with-stub", "9999", "--report-dir"])
        .arg(temp("not-service"))
        .assert()
        .code(2)
        .stderr(contains("--with-stub"));
}

#[test]
fn ctrl_c_ends_the_run_and_leaves_a_valid_report_marked_interrupted() {
    let dir = temp("ctrlc");
    // Calls of 3 s (a post takes 6 s): the first case is still running when Ctrl-C comes.
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args([
            "run",
            "--quiet",
            "--users",
            "10",
            "--latency-ms",
            "3000",
            "--report-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let killed = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["interrupted"], true);
    let cases = result["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "the remaining cases were skipped");
    assert_eq!(cases[0]["interrupted"], true);
    assert!(result["finished_at"].is_string());
    // No temporary file is left behind.
    for entry in std::fs::read_dir(&run).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{name}");
    }
}
