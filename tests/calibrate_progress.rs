//! `postload calibrate` shows where it is: with standard error not a terminal (a CI log), whole
//! lines per model (its calls sent / answered / failed, its spend against the cap), the last one
//! when the model ends, and no carriage return or escape; nothing with `--quiet`. The expected
//! time is printed beside the worst case before the first call. The calibration runs as the
//! binary against the stub on loopback, in this test's runtime, its clock 20 times the wall's.

use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use postload::clock::SystemClock;
use postload::openai::catalog::Catalog;
use postload::stub::{StubConfig, StubHandle};

use crate::common::{start_clocked, tempdir};

const SCALE: &str = "20";

fn stub(rt: &tokio::runtime::Runtime) -> StubHandle {
    rt.block_on(async {
        let c = StubConfig::new(Arc::new(Catalog::embedded()));
        start_clocked(c, Arc::new(SystemClock::scaled(20.0))).await
    })
}

/// 12 calls to each of the two default models, under a $1 cap, stdout and stderr piped.
fn calibrate(stub: &StubHandle, tag: &str, quiet: bool) -> Output {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("postload"));
    cmd.args([
        "calibrate",
        "--calls",
        "12",
        "--seed",
        "3",
        "--max-cost",
        "1",
    ])
    .args(["--time-scale", SCALE, "--base-url"])
    .arg(stub.base_url())
    .arg("--out")
    .arg(tempdir(tag))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if quiet {
        cmd.arg("--quiet");
    }
    cmd.output().unwrap()
}

#[test]
fn a_calibration_logs_whole_progress_lines_per_model_when_stderr_is_not_a_terminal() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stub = stub(&rt);
    let out = calibrate(&stub, "cal-progress-log", false);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    // The expected time beside the worst case, before the first call.
    let first = stdout.lines().next().unwrap();
    assert!(first.contains("; at most "), "{first}");
    assert!(
        first.contains("; expected ") && first.ends_with(" at tier 1's limits"),
        "{first}"
    );
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    // Each model's lines (one every 10 s while it runs, if it runs that long), the last one
    // when it ends: all 12 calls sent and each answered or failed, the spend against the cap.
    let mut at = 0;
    for model in ["gpt-4o", "gpt-4o-mini"] {
        let head = format!("{model}: ");
        let lines: Vec<(usize, &str)> = stderr
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(&head) && l.contains(" sent, "))
            .collect();
        let (n, last) = *lines
            .last()
            .unwrap_or_else(|| panic!("no {model} line: {stderr}"));
        assert!(
            n >= at,
            "{model}'s lines come after the one before: {stderr}"
        );
        at = n;
        assert!(last.starts_with(&format!("{head}12/12 sent, ")), "{last}");
        assert!(
            last.contains("; done in ") && last.ends_with(" of $1"),
            "{last}"
        );
        let count = |word: &str| -> u32 {
            let before = last.split(&format!(" {word}")).next().unwrap();
            let before = before.trim_end_matches(',');
            before.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(count("ok,") + count("failed"), 12, "{last}");
        assert!(count("ok,") > 0, "{last}");
        for (_, l) in &lines[..lines.len() - 1] {
            assert!(l.contains(" left") && !l.contains("done in"), "{l}");
        }
    }
}

#[test]
fn a_quiet_calibration_shows_no_progress() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stub = stub(&rt);
    let out = calibrate(&stub, "cal-progress-quiet", true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("gpt-4o"), "{stderr}");
    assert!(!stderr.contains("sent,"), "{stderr}");
}

#[test]
fn a_calibration_draws_its_line_on_a_terminal_and_clears_it_before_the_models_last_line() {
    let has_script = Command::new("script")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_script {
        eprintln!("skipped: util-linux `script` (a pseudo-terminal) is not installed");
        return;
    }
    // Every call answered after 1.5 s, one at a time: the first call alone outlasts the line's
    // first second, so the line is drawn while calls are under way.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stub = rt.block_on(async {
        let mut c = StubConfig::new(Arc::new(Catalog::embedded()));
        c.fixed_latency = Some(std::time::Duration::from_millis(1_500));
        start_clocked(c, Arc::new(SystemClock::new())).await
    });
    let run = format!(
        "'{}' calibrate --model gpt-4o-mini --calls 3 --concurrency 1 --max-cost 1 --base-url '{}' --out '{}'",
        assert_cmd::cargo::cargo_bin("postload").display(),
        stub.base_url(),
        tempdir("cal-progress-tty").display()
    );
    // `script` runs the command on a pseudo-terminal and copies what it wrote (stdout and
    // stderr together) to its own stdout.
    let out = Command::new("script")
        .args(["-qec", &run, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    // Drawn with the counts, the spend against the cap and the time left.
    let drawn = tty
        .find("gpt-4o-mini: 1/3 sent, ")
        .expect("the line is drawn");
    let done = tty.find("done in ").expect("the model's last line");
    assert!(drawn < done, "{tty:?}");
    assert!(tty[drawn..done].contains(" left; $0.0"), "{tty:?}");
    assert!(tty[drawn..done].contains(" left; $0.0000 of $1"), "{tty:?}");
    // Cleared (erase line) after its last draw, before the model's last line.
    let last_draw = tty[..done].rfind(" left").unwrap();
    assert!(
        tty[last_draw..done].contains("\x1b[2K"),
        "{:?}",
        &tty[last_draw..done]
    );
    let line_start = tty[..done].rfind('\n').map_or(0, |i| i + 1);
    assert!(
        tty[line_start..].contains("gpt-4o-mini: 3/3 sent, 3 ok, 0 failed; done in 0:0"),
        "{tty:?}"
    );
}
