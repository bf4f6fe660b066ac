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
fn claims_figures_follow_from_the_fixtures_tokens_by_hand() {
    // The snapshot is not the only check of the claims' arithmetic. From the fixture's tokens
    // and gpt-4o's prices ($2.50 input, $10.00 output per 1M; mini $0.15 / $0.60):
    let verdicts = claims::evaluate(
        &claims::parse("c", claims::EMBEDDED_CLAIMS).unwrap(),
        &fixture(),
        &Catalog::embedded().prices,
    );
    let measured = |id: &str| {
        verdicts
            .iter()
            .find(|v| v.id == id)
            .unwrap_or_else(|| panic!("{id}"))
            .measured
            .clone()
    };
    // burst-100 tier 2: (199,671 + 33,025) / 100 = 2,326.96 tokens a post; 2,326.96 / 2,350 - 1
    // = -0.98 %.
    assert_eq!(measured("tokens-per-post"), "2327 tokens (-1 %)");
    // 199,671 x 2.5e-6 + 33,025 x 1e-5 = 0.4991775 + 0.33025 = $0.8294275 for 100 posts:
    // $0.00829 a post, 0.008294275 / 0.0085 - 1 = -2.4 %.
    assert_eq!(measured("cost-per-post-gpt-4o"), "$0.00829 (-2 %)");
    assert_eq!(measured("batch-100"), "$0.829 (-2 %), 100 of 100 posts ok");
    // burst-50 tier 2: 99,747 x 2.5e-6 + 16,340 x 1e-5 = $0.4127675; / 0.43 - 1 = -4.0 %.
    assert_eq!(measured("batch-50"), "$0.413 (-4 %), 50 of 50 posts ok");
    // Monthly at $0.008294275 a post x 30 days: 50 users x 1, 5, 20 posts = $12.44, $62.21,
    // $248.83; 100 users = $24.88, $124.41, $497.66.
    assert_eq!(
        measured("monthly-gpt-4o"),
        "$12.44 / $62.21 / $248.83 / $24.88 / $124.41 / $497.66"
    );
    // gpt-4o-mini, projected from the same tokens: 199,671 x 0.15e-6 + 33,025 x 0.6e-6 =
    // $0.04976565 for 100 posts, $0.00050 a post; / 0.00051 - 1 = -2.4 %.
    let mini = verdicts
        .iter()
        .find(|v| v.id == "cost-per-post-gpt-4o-mini")
        .unwrap();
    assert!(
        mini.evidence.ends_with("$0.00050 (-2 %)"),
        "{}",
        mini.evidence
    );
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
        "<script", "<link", "src=", "url(", "@import", "<iframe", "<img",
    ] {
        assert!(
            !lower.contains(outside),
            "references something outside itself: {outside}"
        );
    }
    // Links go only to its own sections (the table of contents) or, past the size budget, to
    // a chart's file beside it.
    for (i, _) in lower.match_indices("href=\"") {
        let target = &lower[i + 6..];
        assert!(
            target.starts_with('#') || target.starts_with("charts/"),
            "{}",
            &target[..40.min(target.len())]
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
    assert!(
        html.contains("<h2 id=\"claims\">Claims</h2>")
            && html.contains("<strong>fails: rate limits")
    );
    assert!(html.contains("burst-100 tier 2"));
    // The verdict block comes first, then the contents; each case's charts are folded.
    let at = |needle: &str| html.find(needle).unwrap_or_else(|| panic!("no {needle}"));
    assert!(at("<h2 id=\"verdict\">Verdict</h2>") < at("<nav>"));
    assert!(at("<nav>") < at("<h2 id=\"results\">Results</h2>"));
    assert!(html.contains("<li><a href=\"#claims\">Claims</a></li>"));
    assert_eq!(html.matches("<details><summary>").count(), 4);
}

#[test]
fn report_command_renders_from_a_saved_result() {
    let dir = crate::common::tempdir("report");
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
        claims: claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
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
            // Data is drawn, not only text and axes: anti-aliased labels alone give many
            // colours, but never hundreds of pixels in the series colours (charts.rs's Okabe-Ito palette,
            // drawn as is or, for histogram bars, mixed 0.8 over white: 0.8 c + 0.2 x 255).
            // The sparsest chart of the fixture (every post over time) has about 1,000.
            let rgb = img.to_rgb8();
            const SERIES: [[f64; 3]; 6] = [
                [0.0, 114.0, 178.0],
                [230.0, 159.0, 0.0],
                [0.0, 158.0, 115.0],
                [213.0, 94.0, 0.0],
                [204.0, 121.0, 167.0],
                [86.0, 180.0, 233.0],
            ];
            let near =
                |p: [u8; 3], c: [f64; 3]| (0..3).all(|k| (f64::from(p[k]) - c[k]).abs() <= 2.0);
            let drawn = rgb
                .pixels()
                .filter(|p| {
                    SERIES.iter().any(|c| {
                        near(p.0, *c) || near(p.0, [0, 1, 2].map(|k| 0.8 * c[k] + 0.2 * 255.0))
                    })
                })
                .count();
            assert!(drawn >= 500, "{name}: {drawn} pixels in series colours");
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
    // Regression: the axis ran to 99.99 % on at most 100 successful posts. The fixture's
    // largest sample is 100 ok posts: p(1 - 1/100) = p99 ends the axis; its Tier-1 cases (2 ok
    // posts each) are dashed and say so.
    let percentiles = svg("percentiles");
    assert!(percentiles.contains(">\n99%\n<") && percentiles.contains("n = 100"));
    assert!(!percentiles.contains("99.9%") && !percentiles.contains("99.99%"));
    assert!(percentiles.contains("burst-50 tier 1: only 2 ok posts (dashed)"));
    assert!(percentiles.contains("burst-100 tier 2: 100 ok posts"));
    // Failed posts are shown beside the histogram; the cost chart sets the note's figures
    // (scenarios/claims.toml: $510 for 100 users at 20 a day on gpt-4o) beside the bars.
    assert!(svg("latency-burst-50-tier1").contains("48 failed"));
    assert!(svg("cost").contains("gpt-4o: the note&apos;s figure") && svg("cost").contains("$510"));
    let cost = svg("cost");
    assert!(
        cost.contains("gpt-4o: $0.0082") && cost.contains("(measured)"),
        "measured gpt-4o $/post"
    );
    assert!(
        cost.contains("gpt-4o-mini: $0.000") && cost.contains("projected from the measured tokens")
    );
}

/// The fixture's burst-50 Tier-2 case, its model and users changed: a run with `--users 20`,
/// or a gpt-4o-mini case, as the claims see them.
fn with_case(edit: impl Fn(&mut postload::report::CaseResult)) -> RunResult {
    let mut r = fixture();
    for c in &mut r.cases {
        edit(c);
    }
    r
}

fn verdicts_of(claims_toml: &str, r: &RunResult) -> Vec<claims::ClaimVerdict> {
    claims::evaluate(
        &claims::parse("team.toml", claims_toml).unwrap(),
        r,
        &Catalog::embedded().prices,
    )
}

#[test]
fn a_latency_claim_is_judged_on_the_load_it_names_not_the_scenario_name() {
    // Every burst-50 case ran 20 users (as `--users 20` does): the 50-user claim has no case.
    let r = with_case(|c| {
        if c.scenario == "burst-50" {
            c.inputs.load = postload::scenario::Load::Burst { users: 20 };
        }
    });
    let v = verdicts_of(claims::EMBEDDED_CLAIMS, &r);
    let l50: Vec<_> = v.iter().filter(|v| v.id == "latency-50").collect();
    assert_eq!(l50.len(), 1);
    assert_eq!(l50[0].verdict, Judgement::NotMeasured);
    assert!(
        l50[0].evidence.contains("no burst of 50 users on gpt-4o")
            && l50[0].evidence.contains("burst-50 had 20 users on gpt-4o"),
        "{}",
        l50[0].evidence
    );
    // The 100-user claim still finds its two tiers, by load.
    assert_eq!(v.iter().filter(|v| v.id == "latency-100").count(), 2);
    // A scenario renamed is still the same load.
    let r = with_case(|c| c.scenario = format!("renamed-{}", c.scenario));
    let v = verdicts_of(claims::EMBEDDED_CLAIMS, &r);
    assert_eq!(v.iter().filter(|v| v.id == "latency-50").count(), 2);
}

#[test]
fn a_claims_file_naming_a_scenario_is_refused_with_the_fields_to_use() {
    let e = claims::parse(
        "team.toml",
        "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nscenario = \"burst-50\"\nmax_s = 5\n",
    )
    .unwrap_err();
    assert!(
        e.contains("team.toml") && e.contains("`scenario`") && e.contains("`users`"),
        "{e}"
    );
}

#[test]
fn a_teams_own_latency_claim_and_cost_ceiling_need_no_code() {
    // "p95 <= 3 s at 30 users on gpt-4o-mini" and "<= $0.006 per post": the fixture's Tier-2
    // burst-50 becomes a 30-user gpt-4o-mini burst.
    let r = with_case(|c| {
        if c.scenario == "burst-50" && c.tier == 2 {
            c.inputs.load = postload::scenario::Load::Burst { users: 30 };
            c.inputs.model = "gpt-4o-mini".into();
        }
    });
    let team = "[[claim]]\nid = \"p95-3s\"\nstatement = \"p95 <= 3 s at 30 users on mini\"\nkind = \"latency\"\nusers = 30\nmodel = \"gpt-4o-mini\"\nmax_s = 3\n\
                [[claim]]\nid = \"ceiling\"\nstatement = \"<= $0.006 per post\"\nkind = \"cost_per_post\"\nmodel = \"gpt-4o\"\nat_most = 0.006\n";
    let v = verdicts_of(team, &r);
    let p95 = v.iter().find(|v| v.id == "p95-3s").unwrap();
    assert_eq!(p95.case.as_deref(), Some("burst-50 tier 2"));
    let case = r
        .cases
        .iter()
        .find(|c| c.scenario == "burst-50" && c.tier == 2)
        .unwrap();
    let measured_p95_s = case.measured.post_latency_ms.ok.p95.unwrap() / 1000.0;
    assert_eq!(
        p95.verdict,
        if measured_p95_s <= 3.0 && case.measured.posts.failed == 0 {
            Judgement::Holds
        } else {
            Judgement::Fails
        }
    );
    // gpt-4o's best case (burst-100 tier 2): 199,671 prompt and 33,025 completion tokens over
    // 100 posts at $2.50 / $10 per million: (0.4991775 + 0.33025) / 100 = $0.00829 <= $0.006?
    // No: the ceiling fails, and says by how much.
    let ceiling = v.iter().find(|v| v.id == "ceiling").unwrap();
    assert_eq!(ceiling.verdict, Judgement::Fails);
    assert!(
        ceiling.measured.starts_with("$0.00829"),
        "{}",
        ceiling.measured
    );
    assert!(ceiling
        .cause
        .as_deref()
        .unwrap()
        .contains("above the ceiling of $0.006"));
}

#[test]
fn per_call_costs_batch_tokens_tiers_and_the_switch_by_hand() {
    let v = verdicts_of(claims::EMBEDDED_CLAIMS, &fixture());
    let of = |id: &str| {
        v.iter()
            .find(|v| v.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    // burst-100 tier 2's image calls: 80,000 prompt + 14,797 completion tokens over 100 calls at
    // $2.50 / $10 per million = (0.2 + 0.14797) / 100 = $0.0034797.
    assert!(of("cost-image-prompt").measured.starts_with("$0.00348"));
    assert_eq!(of("cost-image-prompt").verdict, Judgement::Holds);
    // Its captions: 119,671 + 18,228: (0.2991775 + 0.18228) / 100 = $0.00481 (-4 % of $0.0050).
    assert!(of("cost-caption").measured.starts_with("$0.00481 (-4 %)"));
    // The 100-user burst's tokens: 199,671 + 33,025 = 232,696, within 10 % of 235,000.
    assert!(of("tokens-batch-100").measured.starts_with("232696 tokens"));
    // The note's Tier 1 of 10,000 TPM against openai-2025's 30,000: fails, +200 %.
    assert_eq!(of("tier-1-limit").verdict, Judgement::Fails);
    assert!(of("tier-1-limit")
        .measured
        .starts_with("30000 TPM (+200 %)"));
    // "Requires Tier 2+": burst-100 at Tier 1 had failed posts (holds), at Tier 2 none (holds).
    let needs: Vec<_> = v.iter().filter(|v| v.id == "needs-tier-2").collect();
    assert_eq!(needs.len(), 2);
    assert!(needs.iter().all(|v| v.verdict == Judgement::Holds));
    // The switch needs both models: the fixture has only gpt-4o.
    assert_eq!(of("switch-monthly").verdict, Judgement::NotMeasured);
    // With burst-50 tier 2 as a gpt-4o-mini case, the saving is 1 - mini $/post ÷ gpt-4o $/post.
    // The prices alone give 0.15 / 2.50 = 0.06 on prompts and 0.60 / 10 = 0.06 on completions:
    // for the same tokens the mini costs 6 %, a saving of 94 %; the two cases' tokens a post
    // (2,321.7 and 2,327.0) differ by 0.2 %, so the measured saving is 94 % to within 0.5 %.
    let r = with_case(|c| {
        if c.scenario == "burst-50" && c.tier == 2 {
            c.inputs.model = "gpt-4o-mini".into();
        }
    });
    let v = verdicts_of(claims::EMBEDDED_CLAIMS, &r);
    let of = |id: &str| {
        v.iter()
            .find(|v| v.id == id)
            .unwrap_or_else(|| panic!("{id}"))
    };
    let case = |s: &str| {
        r.cases
            .iter()
            .find(|c| c.scenario == s && c.tier == 2)
            .unwrap()
    };
    let per_post = |c: &postload::report::CaseResult, p_in: f64, p_out: f64| {
        let t = c.measured.tokens.total;
        (t.prompt as f64 * p_in + t.completion as f64 * p_out) / 1e6 / c.measured.posts.ok as f64
    };
    let old = per_post(case("burst-100"), 2.50, 10.0);
    let new = per_post(case("burst-50"), 0.15, 0.60);
    let share = 1.0 - new / old;
    assert!((share - 0.94).abs() < 0.005, "{share}");
    assert!(
        of("switch-94-percent")
            .measured
            .starts_with(&format!("{:.1} % saving", share * 100.0)),
        "{}",
        of("switch-94-percent").measured
    );
    assert_eq!(of("switch-94-percent").verdict, Judgement::Holds);
    // 100 users x 5 posts x 30 days x ($old - $new).
    let saved = 100.0 * 5.0 * 30.0 * (old - new);
    assert!(of("switch-monthly")
        .measured
        .starts_with(&format!("${saved:.2}/month")));
}

#[test]
fn the_console_table_widens_its_scenario_column_for_long_names() {
    // Before: "burst-100-mini" (14 characters) overflowed the 12-wide column and pushed its row
    // two characters right of the header. Every row's tier must end where "tier" ends.
    let r = with_case(|c| {
        if c.scenario == "burst-100" {
            c.scenario = "burst-100-mini".into();
        }
    });
    let table = postload::report::summary::table(&r);
    let header = table.lines().next().unwrap();
    let tier_end = header.find("tier").unwrap() + "tier".len();
    // "scenario" padded to 14, a space, then "tier" right-aligned in 4: ends at 14 + 1 + 4.
    assert_eq!(tier_end, 19);
    // The rows, not the lines of failed posts by cause or the `*` note under them.
    for row in table
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("failed posts") && !l.starts_with("* "))
    {
        let tier = &row[..tier_end];
        assert!(tier.ends_with(" 1") || tier.ends_with(" 2"), "{row}");
    }
}

#[test]
fn goodput_is_the_share_of_posts_done_within_the_bound() {
    // The fixture predates the histograms in result.json: its goodput is counted from the
    // post sample, which holds all 100 posts of burst-100 tier 2 (the histogram path is checked
    // live in run::goodput_counts_every_post_in_its_denominator).
    let r = fixture();
    let c = r
        .cases
        .iter()
        .find(|c| c.scenario == "burst-100" && c.tier == 2)
        .unwrap();
    let ok_within = |ms: f64| {
        c.measured
            .posts_sample
            .iter()
            .filter(|p| p.outcome == postload::metrics::PostOutcome::Ok && p.latency_ms <= ms)
            .count() as f64
    };
    let total = c.measured.posts.total as f64;
    let g = postload::gate::metric(c, "goodput_5s").unwrap();
    assert_eq!(g, ok_within(5_000.0) / total);
    assert!(g > 0.0 && g < 1.0, "{g}");
    // Tier 1: 2 of 100 posts succeeded, so at most 2 % are good whatever their times.
    let t1 = r
        .cases
        .iter()
        .find(|c| c.scenario == "burst-100" && c.tier == 1)
        .unwrap();
    assert!(postload::gate::metric(t1, "goodput_5s").unwrap() <= 0.02);
    // The latency verdict says it in words.
    let v = verdicts_of(claims::EMBEDDED_CLAIMS, &r);
    let l100 = v
        .iter()
        .find(|v| v.id == "latency-100" && v.case.as_deref() == Some("burst-100 tier 2"))
        .unwrap();
    assert!(
        l100.measured
            .ends_with(&format!("{:.0} % done within 5 s", g * 100.0)),
        "{}",
        l100.measured
    );
}

/// Seconds as a duration.
fn secs(s: f64) -> std::time::Duration {
    std::time::Duration::from_secs_f64(s)
}

/// A burst of `n` posts as a recorder folds them: every third post's image prompt gets a 429,
/// waits a second and is answered; every seventh post's caption fails with a 500; every fifth
/// post gives up on 429 after two.
fn burst(n: usize) -> postload::metrics::Measured {
    use postload::metrics::{Attempt, CallKind, CallRecord, FailureCause, PostRecord, Recorder};
    let attempt = |sent: f64, answered: f64, status: u16| Attempt {
        sent: secs(sent),
        answered: secs(answered),
        status: Some(status),
        reserved_tokens: 950,
    };
    let mut r = Recorder::default();
    for i in 0..n {
        let t0 = i as f64 * 0.002;
        let mut image = CallRecord::new(CallKind::ImagePrompt, secs(t0));
        let mut post_failure = None;
        if i % 5 == 0 {
            image.attempts = vec![
                attempt(t0, t0 + 0.05, 429),
                attempt(t0 + 1.0, t0 + 1.05, 429),
            ];
            image.rate_limit_backoff = secs(0.95);
            image.finished = secs(t0 + 1.05);
            image.failure = Some(FailureCause::RateLimited);
            post_failure = image.failure;
        } else if i % 3 == 0 {
            image.attempts = vec![
                attempt(t0, t0 + 0.05, 429),
                attempt(t0 + 1.0, t0 + 2.0, 200),
            ];
            image.rate_limit_backoff = secs(0.95);
            image.finished = secs(t0 + 2.0);
        } else {
            image.attempts = vec![attempt(t0, t0 + 1.0 + i as f64 * 0.01, 200)];
            image.finished = image.attempts[0].answered;
        }
        let mut calls = vec![image];
        if post_failure.is_none() {
            let from = calls[0].finished;
            let mut caption = CallRecord::new(CallKind::Caption, from);
            let end = from + secs(1.5 + (i % 10) as f64 * 0.2);
            let status = if i % 7 == 0 { 500 } else { 200 };
            caption.attempts = vec![Attempt {
                sent: from,
                answered: end,
                status: Some(status),
                reserved_tokens: 1_400,
            }];
            caption.finished = end;
            if status == 500 {
                caption.failure = Some(FailureCause::ServerError);
                post_failure = caption.failure;
            }
            calls.push(caption);
        }
        let finished = calls.last().unwrap().finished;
        r.record(&PostRecord {
            intended: secs(t0),
            calls,
            finished,
            failure: post_failure,
        });
    }
    r.summarize(None, n as u64)
}

/// The fixture's burst-100 tier 1 alone, with `measured` in place of its figures.
fn burst_result(measured: postload::metrics::Measured) -> RunResult {
    let mut r = fixture();
    r.cases.retain(|c| c.scenario == "burst-100" && c.tier == 1);
    r.cases[0].measured = measured;
    r
}

#[test]
fn a_burst_gets_a_waterfall_and_a_token_bucket_that_render() {
    let r = burst_result(burst(100));
    let exporter = postload::report::charts::ChartExporter {
        claims: claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        prices: Catalog::embedded().prices,
    };
    let charts = exporter.charts(&r).unwrap();
    let names: Vec<&str> = charts.iter().map(|(n, _)| n.as_str()).collect();
    // The waterfall replaces the scatter of every post; the bucket is drawn for the 429s.
    assert!(
        !names.iter().any(|n| n.starts_with("charts/posts-")),
        "{names:?}"
    );
    for stem in [
        "waterfall-burst-100-tier1",
        "bucket-burst-100-tier1",
        "timeline-burst-100-tier1",
        "percentiles",
    ] {
        let png = &charts
            .iter()
            .find(|(n, _)| n == &format!("charts/{stem}.png"))
            .unwrap_or_else(|| panic!("no {stem} in {names:?}"))
            .1;
        let img = image::load_from_memory(png).unwrap().to_rgb8();
        assert_eq!(img.dimensions(), (1000, 600), "{stem}");
        let drawn = img.pixels().filter(|p| p.0 != [255, 255, 255]).count();
        let colours: std::collections::BTreeSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
        assert!(drawn > 20_000, "{stem}: {drawn} pixels not white");
        assert!(colours.len() > 30, "{stem}: {} colours", colours.len());
    }
    let svg = |stem: &str| {
        let (_, bytes) = charts
            .iter()
            .find(|(n, _)| n == &format!("charts/{stem}.svg"))
            .unwrap();
        String::from_utf8(bytes.clone()).unwrap()
    };
    let waterfall = svg("waterfall-burst-100-tier1");
    assert!(waterfall.contains("all 100 posts") && waterfall.contains("claim: 5 s"));
    assert!(waterfall.contains("waiting out a 429 (backoff)"));
    // Each new chart names its axes.
    for label in [
        "posts in start order (first at the top)",
        "time since start (s)",
    ] {
        assert!(waterfall.contains(label), "waterfall lacks {label:?}");
    }
    let bucket = svg("bucket-burst-100-tier1");
    for label in ["tokens left", "time since start (s)"] {
        assert!(bucket.contains(label), "bucket lacks {label:?}");
    }
    assert!(bucket.contains("TPM bucket as the stub models it: burst-100 tier 1 (30000 TPM)"));
    // Posts 0, 5, ..., 95 get two 429s; the other 27 multiples of 3 one.
    assert!(bucket.contains("429: 67 requests that did not fit"));
    // 100 posts over about 5.5 s: 100 ms bins, derived from the posts and attempts.
    assert!(svg("timeline-burst-100-tier1").contains("time since start (s), in 100 ms bins"));
    assert!(svg("percentiles").contains("claimed: 2-5 s"));
    // report.md links the new charts.
    let links = postload::report::charts::ChartExporter::links(&r);
    assert!(links.iter().any(|(title, path)| title
        == "The TPM token bucket replayed from the attempts: burst-100 tier 1"
        && path == "charts/bucket-burst-100-tier1.png"));
}

#[test]
fn above_300_posts_the_waterfall_samples_and_says_so() {
    let m = burst(1_000);
    assert_eq!(m.post_timings.len(), postload::metrics::TIMED_POSTS);
    // A uniform sample over the start times, kept in start order.
    let starts: Vec<f64> = m.post_timings.iter().map(|p| p.start_s).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]));
    assert!(
        starts[0] < 0.2 && starts[starts.len() - 1] > 1.8,
        "{starts:?}"
    );
    // Every attempt is kept (fewer than KEPT_ATTEMPTS), in send order.
    assert_eq!(m.attempts.len() as u64, m.calls.attempts);
    assert!(m.attempts.windows(2).all(|w| w[0].sent_s <= w[1].sent_s));
    let r = burst_result(m);
    let title = postload::report::charts::waterfall::title(&r.cases[0]);
    assert_eq!(
        title,
        "Waterfall: burst-100 tier 1, a uniform sample of 300 of 1000 posts"
    );
    assert_eq!(
        postload::report::charts::waterfall::rows(&r.cases[0]).len(),
        300
    );
}

#[test]
fn a_result_json_without_intervals_still_loads_and_keeps_its_charts() {
    // The fixture predates the recorded intervals: no waterfall, no bucket, the scatter stays.
    let titles = postload::report::charts::ChartExporter::titles(&fixture());
    assert!(titles
        .iter()
        .any(|(_, stem)| stem == "posts-burst-100-tier1"));
    assert!(!titles
        .iter()
        .any(|(_, stem)| stem.starts_with("waterfall-") || stem.starts_with("bucket-")));
}

/// A run on a calibrated `--mocks` folder: report.md's Data paragraph names the profile and the
/// tier set with their calibrated sources and the files they came from, once for the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_on_calibrated_mocks_names_its_data_and_where_it_came_from() {
    use crate::common::{calibrated_mocks, goose_lock, read_result, tempdir, CALIBRATED};
    let mocks = calibrated_mocks("prov-run-mocks");
    let args = postload::cli::RunArgs {
        scenario: vec!["burst-50".into()],
        users: Some(2),
        model: Some("gpt-4o".into()),
        tier: vec![1],
        tier_set: Some("account".into()),
        data: postload::cli::Mocks {
            mocks: Some(mocks.clone()),
        },
        output: postload::cli::ReportDir {
            report_dir: tempdir("prov-run"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..Default::default()
    };
    let _guard = goose_lock().await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let cfg = postload::config::run_config(&args, stop).expect("valid config");
    {
        let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        postload::run::execute(cfg, ex)
    }
    .await
    .expect("run completes");
    let (run, result) = read_result(&args.output.report_dir);
    let inputs = &result["cases"][0]["inputs"];
    let set = &inputs["tier_set_info"];
    assert_eq!(set["as_of"], "2026-12-01", "{inputs}");
    let tiers_file = mocks.join("tiers.toml").display().to_string();
    assert_eq!(set["from"], tiers_file.as_str());
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    let data: Vec<&str> = md.lines().filter(|l| l.starts_with("Data: ")).collect();
    assert_eq!(data.len(), 1, "{md}");
    let latency_file = mocks.join("latency.toml").display().to_string();
    for want in [
        format!("Latency profile gpt-4o (as of 2026-12-01; source: {CALIBRATED}: 40 calls; from {latency_file})"),
        format!("Tier set account (as of 2026-12-01; source: {CALIBRATED}: rate-limit headers; from {tiers_file})"),
    ] {
        assert!(data[0].contains(&want), "{want}\n{}", data[0]);
    }
}

/// report.html keeps to its budget (docs/run.md) at the recorder's limits: five cases like the
/// default run's, each carrying as many attempts (KEPT_ATTEMPTS) and timed posts (TIMED_POSTS)
/// as a case can keep, every chart inline. Before: 861 KB for the default run, with no limit
/// stated; the TPM bucket charts (a segment per attempt) were nearly half of it.
#[test]
fn report_html_keeps_to_its_size_budget_at_the_recorders_limits() {
    // 2,700 posts of `burst`: 1 + 1/5 + (2/15 of the others) attempts each, > 5,000 in all.
    let full = burst(2_700);
    assert_eq!(full.attempts.len(), postload::metrics::KEPT_ATTEMPTS);
    assert_eq!(full.post_timings.len(), postload::metrics::TIMED_POSTS);
    let mut r = fixture();
    let mut five = r.cases[..4].to_vec();
    five.push(r.cases[3].clone());
    five[4].scenario = "burst-100-mini".into();
    for c in &mut five {
        c.measured = full.clone();
    }
    r.cases = five;
    let exporter = postload::report::markdown::HtmlExporter {
        claims: claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        prices: Catalog::embedded().prices,
    };
    let html = exporter.render(&r).unwrap();
    let budget = postload::report::markdown::HTML_BUDGET_BYTES;
    println!("report.html: {} bytes (budget {budget})", html.len());
    assert!(html.len() <= budget, "{} bytes over {budget}", html.len());
    // Every chart is there, inline or linked to its file: none is dropped.
    let text = String::from_utf8(html).unwrap();
    let charts = postload::report::charts::ChartExporter::titles(&r).len();
    let (inline, linked) = (
        text.matches("<svg").count(),
        text.matches("not inlined, so that").count(),
    );
    assert!(
        linked > 0,
        "at these limits some chart is too large to inline"
    );
    assert_eq!(inline + linked, charts);
}

/// One list of built-in scenarios, said from one place. Before: the run's help said the default
/// was burst-50 and burst-100 (it also ran burst-100-mini), the README listed three built-in
/// scenarios and the error message four.
#[test]
fn the_built_in_scenarios_are_listed_from_one_place() {
    let names = postload::scenario::built_in_names();
    assert_eq!(names, "burst-50, burst-100, burst-100-mini, sustained");
    // The error for an unknown name.
    let e = postload::scenario::load("no-such-scenario")
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("(built in: {names})")), "{e}");
    // The run's help and the top-level help, as the binary prints them.
    let help = |args: &[&str]| {
        let out = Command::cargo_bin("postload")
            .unwrap()
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        text.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let run = help(&["run", "--help"]);
    assert!(run.contains(&format!("({names})")), "{run}");
    let defaults = postload::scenario::DEFAULT_SCENARIOS.join(", ");
    assert!(run.contains(&format!("Default: {defaults},")), "{run}");
    let top = help(&["--help"]);
    assert!(top.contains(&format!("(default: {defaults},")), "{top}");
    // The docs that list them, whitespace joined so a wrapped list still reads whole.
    for (doc, text) in [
        ("README.md", include_str!("../README.md")),
        ("docs/run.md", include_str!("../docs/run.md")),
        (
            "scenarios/README.md",
            include_str!("../scenarios/README.md"),
        ),
    ] {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let said: Vec<&str> = flat
            .match_indices("uilt in: ")
            .map(|(i, m)| {
                let rest = &flat[i + m.len()..];
                rest.split([';', '(', ')', '.'])
                    .next()
                    .unwrap_or("")
                    .trim_end()
            })
            .collect();
        assert!(
            !said.is_empty(),
            "{doc} does not list the built-in scenarios"
        );
        for list in said {
            assert_eq!(list, names, "{doc}");
        }
    }
}

/// The README's count of the note's claims is the claims file's. Before: the README said 27
/// claims while the console printed 31 lines (a claim about a load or a tier has a verdict per
/// matching case); now the verdict block says both, counted where they are defined.
#[test]
fn the_readmes_claim_count_is_the_claims_files() {
    let n = claims::parse("scenarios/claims.toml", claims::EMBEDDED_CLAIMS)
        .unwrap()
        .claim
        .len();
    let readme = include_str!("../README.md");
    let said: Vec<&str> = readme
        .match_indices(" claims:")
        .map(|(i, _)| readme[..i].rsplit(' ').next().unwrap())
        .collect();
    assert!(!said.is_empty(), "the README gives no count");
    for count in said {
        assert_eq!(count, n.to_string(), "README says {count} claims");
    }
}

/// `postload report RESULT --claims FILE` judges the file's claims, not the planning note's: a
/// team's one claim (100 users within 10 s at p95) gets one verdict per burst-100 case of the
/// fixture: Tier 2 holds (p95 9.36 s, every post ok), Tier 1 fails (98 of 100 posts failed
/// after 429s); none of the note's 27 claims is judged. A claims file that is not there is
/// exit 2 naming it.
#[test]
fn report_judges_the_claims_file_it_is_given() {
    let dir = crate::common::tempdir("report-claims");
    let result = dir.join("result.json");
    std::fs::write(&result, FIXTURE).unwrap();
    let claims = dir.join("team-claims.toml");
    std::fs::write(
        &claims,
        r#"source = "the team's own file"

[[claim]]
id = "team-latency-100"
quote = "a hundred at once in ten seconds"
statement = "within 10 s per post when 100 users post at once"
kind = "latency"
users = 100
model = "gpt-4o"
max_s = 10.0
percentile = "p95"
"#,
    )
    .unwrap();
    Command::cargo_bin("postload")
        .unwrap()
        .arg("report")
        .arg(&result)
        .arg("--claims")
        .arg(&claims)
        .assert()
        .success();
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("verdict: 1 hold, 1 fail, 0 not measured"),
        "{md}"
    );
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| within 10 s per post when 100 users post at once |"))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.contains("| burst-100 tier 2 |") && r.contains("| holds |")),
        "{rows:?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("| burst-100 tier 1 |") && r.contains("fail")),
        "{rows:?}"
    );
    assert!(!md.contains("2-5 s per post"), "{md}");
    let missing = dir.join("no-such-claims.toml");
    Command::cargo_bin("postload")
        .unwrap()
        .arg("report")
        .arg(&result)
        .arg("--claims")
        .arg(&missing)
        .assert()
        .code(2)
        .stderr(contains("no-such-claims.toml"));
}
