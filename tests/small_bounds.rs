//! Issue 24, item 7: a seed too large for its type, a report whose charts folder cannot be
//! written, a full disk; a latency target past any request's wait. Each test is named after what
//! broke.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

use crate::common::tempdir;

const FIXTURE: &str = include_str!("fixtures/result-default-run.json");

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

#[test]
fn a_seed_too_large_for_its_type_gets_a_plain_message() {
    // 2^64: one past u64::MAX. Before: clap's "number too large to fit in target type".
    let big = "18446744073709551616";
    let dir = tempdir("seed");
    for args in [
        vec!["run", "--quiet", "--seed", big],
        vec!["plan", "--quiet", "--seed", big],
        vec!["stub", "--port", "0", "--seed", big],
        vec!["calibrate", "--seed", big],
    ] {
        postload()
            .args(&args)
            .current_dir(&dir)
            .assert()
            .code(2)
            .stderr(
                contains("--seed")
                    .and(contains(
                        "too large: a seed is a whole number from 0 to 18446744073709551615",
                    ))
                    .and(contains("target type").not()),
            );
    }
    postload()
        .args(["plan", "--quiet", "--seed", "1.5"])
        .current_dir(&dir)
        .assert()
        .code(2)
        .stderr(contains("not a whole number: a seed is a whole number"));
    // In a scenario file, TOML's reader says `i128`.
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scenarios/burst-50.toml"
    ))
    .unwrap();
    assert!(text.contains("\nseed = "), "the scenario sets a seed");
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("seed = ") {
                format!("seed = {big}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let file = dir.join("big-seed.toml");
    std::fs::write(&file, text).unwrap();
    postload()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("big-seed.toml")
                .and(contains(
                    "too large: a seed is at most 18446744073709551615",
                ))
                .and(contains("i128").not()),
        );
}

#[test]
fn report_checks_the_charts_folder_before_writing_any_output() {
    // `charts` is a file: the charts cannot be written. Before, report.md and report.html were
    // written first, then the charts failed, leaving a report whose charts do not exist.
    let dir = tempdir("charts-file");
    std::fs::write(dir.join("result.json"), FIXTURE).unwrap();
    std::fs::write(dir.join("charts"), "not a folder").unwrap();
    postload()
        .arg("report")
        .arg(dir.join("result.json"))
        .assert()
        .code(2)
        .stderr(contains("charts"));
    for f in ["report.md", "report.html"] {
        assert!(!dir.join(f).exists(), "{f} was written");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("charts")).unwrap(),
        "not a folder"
    );
}

#[test]
fn a_full_disk_names_the_disk_error() {
    // /dev/full answers every write with ENOSPC. Before, a named output was written to a
    // temporary file beside it and renamed over it: /dev/full (as root, /dev/null too) was
    // replaced by a file and the "full disk" went unnoticed.
    // Only where /dev/full really is the full device: a CI sandbox once had a /dev/full that
    // took every write (this test then failed on exit 0 with nothing on stderr).
    use std::io::Write;
    use std::os::unix::fs::FileTypeExt;
    let is_full_device = std::fs::metadata("/dev/full")
        .is_ok_and(|m| m.file_type().is_char_device())
        && std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .and_then(|mut f| f.write_all(b"x").and_then(|()| f.flush()))
            .is_err_and(|e| e.raw_os_error() == Some(28)); // ENOSPC
    if !is_full_device {
        eprintln!("skipped: /dev/full here is not a device that answers ENOSPC");
        return;
    }
    let dir = tempdir("dev-full");
    let base = dir.join("base.json");
    std::fs::write(&base, FIXTURE).unwrap();
    postload()
        .arg("compare")
        .arg(&base)
        .arg(&base)
        .args(["--json", "/dev/full"])
        .assert()
        .code(2)
        .stderr(contains("cannot write /dev/full").and(contains("No space left on device")));
    assert!(std::fs::metadata("/dev/full")
        .unwrap()
        .file_type()
        .is_char_device());
}

#[test]
fn an_infinite_p95_target_is_refused_not_planned_without_end() {
    // Before: `plan --p95 inf` printed its decision, then drew its charts without end (killed
    // after 5 min); find-rate refused it with another message. Now one rule and one message.
    let dir = tempdir("p95-inf");
    for args in [
        vec!["plan", "--quiet", "--p95", "inf"],
        vec!["plan", "--quiet", "--p95", "3601"],
        vec!["run", "--find-rate", "--p95", "inf"],
    ] {
        postload()
            .args(&args)
            .current_dir(&dir)
            // A guard against the hang this test is about, never a performance bound: the
            // refusal comes before any work.
            .timeout(std::time::Duration::from_secs(120))
            .assert()
            .code(2)
            .stderr(
                contains("'--p95 <SECS>'")
                    .and(contains("give a number of seconds above 0, at most 3600")),
            );
    }
}
