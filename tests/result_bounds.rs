//! What `report`, `check` and `compare` read (issue 24, items 6 and 7): a bounded number of
//! cases, one validation for all three (duplicate names, figures that cannot be true), and a
//! report.md whose structure no scenario name can break. Each test is named after what broke.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use assert_cmd::Command;
use postload::cli::RunArgs;
use postload::config::run_config;
use postload::report::markdown::MarkdownExporter;
use postload::report::{Exporter, RunResult};
use predicates::prelude::*;
use predicates::str::contains;

use crate::common::tempdir;

const FIXTURE: &str = include_str!("fixtures/result-default-run.json");

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

fn fixture() -> RunResult {
    serde_json::from_str(FIXTURE).unwrap()
}

/// `r` written as `<dir>/result.json`.
fn write(dir: &Path, r: &RunResult) -> PathBuf {
    let p = dir.join("result.json");
    std::fs::write(&p, serde_json::to_vec(r).unwrap()).unwrap();
    p
}

fn gate_file(dir: &Path) -> PathBuf {
    let p = dir.join("gate.toml");
    std::fs::write(
        &p,
        "[[gate]]\nscenario = \"burst-50\"\nthresholds = [\"error_rate < 1\"]\n",
    )
    .unwrap();
    p
}

/// `report`, `check` and `compare` (as the new result) on `path`: each exit 2, naming the file
/// and `field`; nothing written beside it.
fn all_three_refuse(path: &Path, field: &str) {
    let dir = path.parent().unwrap();
    let good = tempdir("valid-good").join("base.json");
    std::fs::write(&good, FIXTURE).unwrap();
    let name = path.display().to_string();
    let expect = || contains(name.clone()).and(contains(field));
    postload()
        .arg("report")
        .arg(path)
        .assert()
        .code(2)
        .stderr(expect());
    postload()
        .arg("check")
        .arg(path)
        .arg("--gate")
        .arg(gate_file(dir))
        .assert()
        .code(2)
        .stderr(expect());
    postload()
        .arg("compare")
        .arg(&good)
        .arg(path)
        .assert()
        .code(2)
        .stderr(expect());
    for written in ["report.md", "report.html", "junit.xml", "charts"] {
        assert!(!dir.join(written).exists(), "{written} was written");
    }
}

#[test]
fn check_and_compare_refuse_duplicate_case_names_as_report_does() {
    let dir = tempdir("valid-dup");
    let mut r = fixture();
    r.cases[1] = r.cases[0].clone();
    all_three_refuse(&write(&dir, &r), "cases[1]");
}

#[test]
fn check_and_compare_refuse_a_negative_makespan() {
    let dir = tempdir("valid-makespan");
    let mut r = fixture();
    r.cases[2].measured.makespan_ms = -5.0;
    all_three_refuse(&write(&dir, &r), "cases[2].makespan_ms");
}

#[test]
fn check_and_compare_refuse_more_ok_posts_than_posts() {
    let dir = tempdir("valid-ok");
    let mut r = fixture();
    let p = &mut r.cases[0].measured.posts;
    p.ok = p.total + 7;
    all_three_refuse(&write(&dir, &r), "cases[0].posts.ok");
}

#[test]
fn a_result_with_more_cases_than_a_run_writes_is_refused_naming_the_count() {
    // 1,001 cases of the fixture's smallest, each its own name: one past MAX_CASES (1,000).
    let dir = tempdir("valid-cases");
    let mut r = fixture();
    let one = r.cases[0].clone();
    r.cases = (0..1_001)
        .map(|i| postload::report::CaseResult {
            scenario: format!("s{i}"),
            ..one.clone()
        })
        .collect();
    all_three_refuse(&write(&dir, &r), "1001 cases");
}

#[test]
fn a_run_of_more_cases_than_a_result_holds_is_refused_before_any_load() {
    // 3 scenarios × 5 tiers × 100 repetitions = 1,500 cases, past MAX_CASES (1,000); at
    // --repeat 66 it is 990 and accepted.
    let mut a = RunArgs {
        scenario: vec!["burst-50".into(), "burst-100".into(), "sustained".into()],
        tier: vec![1, 2, 3, 4, 5],
        repeat: Some(100),
        output: postload::cli::ReportDir {
            report_dir: tempdir("valid-run"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let e = match run_config(&a, Arc::new(AtomicBool::new(false))) {
        Ok(_) => panic!("1,500 cases accepted"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("1500 cases") && e.contains("1000"), "{e}");
    assert!(e.contains("--repeat"), "{e}");
    a.repeat = Some(66);
    assert!(run_config(&a, Arc::new(AtomicBool::new(false))).is_ok());
}

/// report.md's skeleton: each line's kind (heading, table row, list item, blank, text).
fn skeleton(md: &str) -> Vec<&'static str> {
    md.lines()
        .map(|l| match l.trim_start() {
            "" => "blank",
            t if t.starts_with('#') => "heading",
            t if t.starts_with('|') => "table",
            t if t.starts_with("- ") => "item",
            t if t.starts_with('>') => "quote",
            _ => "text",
        })
        .collect()
}

#[test]
fn a_scenario_name_with_newlines_cannot_break_report_md() {
    let render = |name: &str| {
        let mut r = fixture();
        for c in &mut r.cases {
            c.scenario = format!("{name}{}", c.scenario);
        }
        r.run_id = format!("{name}run");
        let catalog = postload::openai::catalog::Catalog::embedded();
        let exporter = MarkdownExporter {
            claims: postload::config::claims(None, &catalog).unwrap(),
            prices: catalog.prices.clone(),
        };
        String::from_utf8(exporter.render(&r).unwrap()).unwrap()
    };
    let plain = render("x");
    let hostile =
        render("x\n\n# Injected\n\n| a | b |\n|---|---|\n> quoted\r- item ](http://evil) ");
    assert_eq!(skeleton(&hostile), skeleton(&plain), "{hostile}");
    assert!(!hostile.lines().any(|l| l == "# Injected"), "{hostile}");
    // A name that starts a block where a line starts (a note names the case first).
    let leading = render("# ");
    assert_eq!(skeleton(&leading), skeleton(&plain), "{leading}");
}

#[test]
fn plan_at_the_documented_maxima_is_refused_before_simulating() {
    // A million users (the cell maximum) on the default grid and lever search: 3.876e9
    // simulated posts. Refused at once, naming the options, nothing written.
    let dir = tempdir("plan-grid");
    postload()
        .args(["plan", "--quiet", "--users", "1000000", "--report-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("--model (2)")
                .and(contains("--tier (5)"))
                .and(contains("--retry (2)"))
                .and(contains("--users"))
                .and(contains("20000000")),
        );
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}
