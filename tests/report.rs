//! Reports rendered from a saved result (a default run, frozen in tests/fixtures): the Markdown
//! and its claims table are snapshot-tested; `postload report` is run as a user would.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

use postload::openai::catalog::Catalog;
use postload::report::claims::{self, Judgement};
use postload::report::markdown::MarkdownExporter;
use postload::report::{Exporter, RunResult};

const FIXTURE: &str = include_str!("fixtures/result-default-run.json");

fn fixture() -> RunResult {
    serde_json::from_str(FIXTURE).expect("the fixture is a result.json")
}

fn markdown() -> String {
    let exporter = MarkdownExporter {
        claims: claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        prices: Catalog::embedded().prices,
    };
    String::from_utf8(exporter.render(&fixture()).unwrap()).unwrap()
}

#[test]
fn markdown_report_snapshot() {
    insta::assert_snapshot!("report_md", markdown());
}

#[test]
fn claims_table_snapshot_and_verdicts() {
    let md = markdown();
    let table: String = md
        .split("## Claims")
        .nth(1)
        .unwrap()
        .split("## Inputs")
        .next()
        .unwrap()
        .to_string();
    insta::assert_snapshot!("claims_table", table);
    let verdicts = claims::evaluate(
        &claims::parse("c", claims::EMBEDDED_CLAIMS).unwrap(),
        &fixture(),
        &Catalog::embedded().prices,
    );
    let of = |id: &str, case: &str| {
        verdicts
            .iter()
            .find(|v| v.id == id && v.case.as_deref() == Some(case))
            .unwrap_or_else(|| panic!("{id} {case}"))
            .clone()
    };
    // Tier 1 fails on rate limits, Tier 2 on model latency.
    let t1 = of("latency-50", "burst-50 tier 1");
    assert_eq!(t1.verdict, Judgement::Fails);
    assert!(t1.cause.unwrap().starts_with("rate limits"));
    let t2 = of("latency-100", "burst-100 tier 2");
    assert_eq!(t2.verdict, Judgement::Fails);
    assert!(t2.cause.unwrap().starts_with("model latency"));
    assert_eq!(
        of("tokens-per-post", "burst-100 tier 2").verdict,
        Judgement::Holds
    );
    let mini = verdicts
        .iter()
        .find(|v| v.id == "cost-per-post-gpt-4o-mini")
        .unwrap();
    assert_eq!(mini.verdict, Judgement::NotMeasured);
    assert!(mini.evidence.contains("projected"));
}

#[test]
fn report_command_renders_from_a_saved_result() {
    let dir = std::env::temp_dir().join(format!("postload-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let result = dir.join("result.json");
    std::fs::write(&result, FIXTURE).unwrap();
    Command::cargo_bin("postload")
        .unwrap()
        .arg("report")
        .arg(&result)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(dir.join("report.md")).unwrap(),
        markdown()
    );

    std::fs::write(
        &result,
        FIXTURE.replace("postload.result.v1", "postload.result.v0"),
    )
    .unwrap();
    Command::cargo_bin("postload")
        .unwrap()
        .arg("report")
        .arg(&result)
        .assert()
        .code(2)
        .stderr(contains("result.json").and(contains("schema")));
    Command::cargo_bin("postload")
        .unwrap()
        .args(["report", "/nonexistent/result.json"])
        .assert()
        .code(2)
        .stderr(contains("/nonexistent/result.json"));
}
