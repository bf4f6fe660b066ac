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
fn claims_on_an_interrupted_case_are_not_judged() {
    // Before: a case cut short by Ctrl-C was judged on the posts that happened to finish.
    let mut r = fixture();
    let c = r
        .cases
        .iter_mut()
        .find(|c| c.scenario == "burst-100" && c.tier == 2)
        .unwrap();
    c.interrupted = true;
    let verdicts = claims::evaluate(
        &claims::parse("c", claims::EMBEDDED_CLAIMS).unwrap(),
        &r,
        &Catalog::embedded().prices,
    );
    for id in ["latency-100", "batch-100"] {
        let v = verdicts
            .iter()
            .find(|v| v.id == id && v.case.as_deref() == Some("burst-100 tier 2"))
            .unwrap_or_else(|| panic!("{id}"));
        assert_eq!(v.verdict, Judgement::NotMeasured, "{id}");
        // The fixture's case finished all 100 of its 100 posts.
        assert_eq!(v.measured, "100 of 100 posts finished", "{id}");
        assert!(v.evidence.contains("interrupted"), "{id}");
    }
    // The uninterrupted tier-1 case is still judged.
    let t1 = verdicts
        .iter()
        .find(|v| v.id == "latency-100" && v.case.as_deref() == Some("burst-100 tier 1"))
        .unwrap();
    assert_eq!(t1.verdict, Judgement::Fails);
}

#[test]
fn html_report_is_one_self_contained_file() {
    let exporter = postload::report::markdown::HtmlExporter {
        claims: claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        prices: Catalog::embedded().prices,
    };
    let html = String::from_utf8(exporter.render(&fixture()).unwrap()).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    let lower = html.to_lowercase();
    for outside in [
        "<script", "<link", "src=", "href=", "url(", "@import", "<iframe", "<img",
    ] {
        assert!(
            !lower.contains(outside),
            "references something outside itself: {outside}"
        );
    }
    // The only URL is the SVG namespace.
    let urls: Vec<&str> = lower
        .match_indices("http")
        .map(|(i, _)| &lower[i..(i + 40).min(lower.len())])
        .filter(|u| !u.starts_with("http://www.w3.org/"))
        .collect();
    assert!(urls.is_empty(), "{urls:?}");
    assert_eq!(
        html.matches("<svg").count(),
        2 + 4 * 4,
        "every chart inline"
    );
    assert!(html.contains("<h2>Claims</h2>") && html.contains("<strong>fails: rate limits"));
    assert!(html.contains("burst-100 tier 2"));
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

#[test]
fn charts_are_real_images_with_labelled_axes() {
    let charts = postload::report::charts::ChartExporter {
        prices: Catalog::embedded().prices,
    }
    .charts(&fixture())
    .unwrap();
    // percentiles, cost, and 4 charts for each of the 4 cases, each as PNG and SVG.
    assert_eq!(charts.len(), 2 * (2 + 4 * 4));
    for (name, bytes) in &charts {
        if name.ends_with(".png") {
            let img = image::load_from_memory(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!((img.width(), img.height()), (1000, 600), "{name}");
            // Not blank: a chart has many colours.
            let rgb = img.to_rgb8();
            let distinct: std::collections::HashSet<_> = rgb.pixels().map(|p| p.0).collect();
            assert!(distinct.len() > 20, "{name}: {} colours", distinct.len());
        } else {
            let svg = std::str::from_utf8(bytes).unwrap();
            assert!(svg.starts_with("<svg"), "{name}");
            let label = if name.contains("latency-") {
                "latency of successful posts (s)"
            } else if name.contains("percentiles") {
                "percentile"
            } else if name.contains("posts-") {
                "intended send time (s since start)"
            } else if name.contains("tokens-") {
                "tokens in the last 60 s"
            } else if name.contains("cost") {
                "USD per month (log scale)"
            } else {
                "time since start (s)"
            };
            assert!(svg.contains(label), "{name} lacks its axis label {label:?}");
        }
    }
    let svg = |stem: &str| {
        String::from_utf8(
            charts
                .iter()
                .find(|(n, _)| n == &format!("charts/{stem}.svg"))
                .unwrap()
                .1
                .clone(),
        )
        .unwrap()
    };
    assert!(svg("latency-burst-50-tier2").contains("claim: 5 s"));
    assert!(svg("tokens-burst-100-tier1").contains("tier 1 limit: 30000 TPM"));
    assert!(svg("percentiles").contains("99.9%"));
    let cost = svg("cost");
    assert!(
        cost.contains("gpt-4o: $0.0082") && cost.contains("(measured)"),
        "measured gpt-4o $/post"
    );
    assert!(
        cost.contains("gpt-4o-mini: $0.000") && cost.contains("projected from the measured tokens")
    );
}
