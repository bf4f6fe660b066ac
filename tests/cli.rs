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
