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
        first.contains("; expected ")
            && first.ends_with(" at tier 1's limits and the shipped latency"),
        "{first}"
    );
    assert!(!stderr.contains('\r'), "{stderr:?}");
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    // Each model's lines (one every 10 s while it runs, if it runs that long), the last one
    // when it ends: all 12 calls sent and each answered or failed, the spend against the cap.
    let mut at = 0;
    for model in ["gpt-4o", "gpt-4o-mini"] {
        let head = format!("calibrate: {model} ");
        let lines: Vec<(usize, &str)> = stderr
            .lines()
            .enumerate()
            .filter(|(_, l)| l.starts_with(&head))
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
        assert!(last.contains(" spent of the $1 cap; done in "), "{last}");
        let count = |word: &str| -> u32 {
            let before = last.split(&format!(" {word}")).next().unwrap();
            before.rsplit(' ').next().unwrap().parse().unwrap()
        };
        assert_eq!(count("answered,") + count("failed,"), 12, "{last}");
        assert!(count("answered,") > 0, "{last}");
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
    assert!(!stderr.contains("calibrate: gpt-4o"), "{stderr}");
    assert!(!stderr.contains("sent,"), "{stderr}");
}
