//! The live progress line of a long case, as the binary draws it: never on a pipe (CI logs stay
//! clean), and on a terminal (a pseudo-terminal from util-linux's `script`) drawn, then cleared
//! before the case's summary line and the table.

use std::process::Stdio;

use assert_cmd::Command;

/// A case that runs past the line's 3 s: 2 users, each post two calls of 2 s.
const LONG_CASE: [&str; 9] = [
    "run",
    "--scenario",
    "burst-50",
    "--users",
    "2",
    "--tier",
    "2",
    "--latency-ms",
    "2000",
];

fn reports(tag: &str) -> std::path::PathBuf {
    crate::common::tempdir(&format!("progress-{tag}"))
}

#[test]
fn a_long_case_draws_no_progress_line_when_stderr_is_not_a_terminal() {
    let out = Command::cargo_bin("postload")
        .unwrap()
        .args(LONG_CASE)
        .arg("--report-dir")
        .arg(reports("pipe"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(!stderr.contains("in flight"), "{stderr}");
    // Only the case's own whole lines: its start and its summary.
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(
        lines[0].starts_with("postload: burst-50 at tier 2"),
        "{stderr}"
    );
    assert!(
        lines[1].starts_with("postload: burst-50 tier 2: 2/2 posts ok"),
        "{stderr}"
    );
}

#[test]
fn a_long_case_draws_its_line_on_a_terminal_and_clears_it_before_the_summary() {
    let has_script = std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: util-linux `script` (a pseudo-terminal) is not installed");
        return;
    }
    let run = format!(
        "'{}' {} --report-dir '{}'",
        assert_cmd::cargo::cargo_bin("postload").display(),
        LONG_CASE.join(" "),
        reports("tty").display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it wrote (stdout and
    // stderr together) to its own stdout.
    let out = std::process::Command::new("script")
        .args(["-qec", &run, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{tty:?}");
    // Drawn from 3 s on, with both posts under way (each takes 4 s).
    assert!(tty.contains("postload: 0:03, "), "{tty:?}");
    assert!(
        tty.contains(", 2 sent, 0 ok, 0 failed, 0 429s, 2 in flight"),
        "{tty:?}"
    );
    // Cleared (erase line) after its last draw, before the case's summary line.
    let summary = tty
        .find("postload: burst-50 tier 2: 2/2")
        .expect("the summary");
    let last_draw = tty[..summary].rfind("in flight").expect("a draw");
    assert!(
        tty[last_draw..summary].contains("\x1b[2K"),
        "{:?}",
        &tty[last_draw..summary]
    );
    // The table starts a line of its own.
    assert!(tty[summary..].contains("\nscenario "), "{tty:?}");
}
