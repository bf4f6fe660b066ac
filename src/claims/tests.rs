//! The claims parser's checks: fields, ranges, models.

use super::*;

#[test]
fn a_nan_or_infinite_number_in_a_claim_names_its_field() {
    let claim = |min: &str, max: &str| {
        format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nusers = 50\nmodel = \"gpt-4o\"\nmin_s = {min}\nmax_s = {max}\n")
    };
    let e = parse("c.toml", &claim("nan", "5")).unwrap_err();
    assert!(e.contains("field `min_s`") && !e.contains("exceed"), "{e}");
    let e = parse("c.toml", &claim("2", "inf")).unwrap_err();
    assert!(e.contains("field `max_s`"), "{e}");
    let e = parse(
        "c.toml",
        "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = nan\ntolerance = 0.1\n",
    )
    .unwrap_err();
    assert!(e.contains("field `value`"), "{e}");
}

#[test]
fn an_unknown_model_names_the_field_that_names_it() {
    let prices = crate::openai::catalog::Catalog::embedded().prices;
    let switch = |from: &str, to: &str| {
        format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"model_switch\"\nfrom = \"{from}\"\nto = \"{to}\"\nmeasure = \"saving_share\"\nvalue = 0.9\ntolerance = 0.1\n")
    };
    let check = |text: String| {
        parse("c.toml", &text)
            .unwrap()
            .check_models("c.toml", &prices)
    };
    let e = check(switch("gpt-4o", "gpt-9")).unwrap_err();
    assert!(e.contains("field `to`: unknown model `gpt-9`"), "{e}");
    let e = check(switch("gpt-3", "gpt-4o-mini")).unwrap_err();
    assert!(e.contains("field `from`: unknown model `gpt-3`"), "{e}");
    assert!(check(switch("gpt-4o", "gpt-4o-mini")).is_ok());
}

#[test]
fn the_embedded_claims_parse() {
    let c = parse("scenarios/claims.toml", EMBEDDED_CLAIMS).unwrap();
    assert_eq!(c.claim.len(), 27);
    assert!(matches!(
        c.claim[0].check,
        Check::Latency {
            percentile: Pct::P95,
            ..
        }
    ));
}

#[test]
fn a_bad_claim_names_file_and_claim() {
    let e = parse("c.toml", "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nusers = 50\nmodel = \"gpt-4o\"\nmin_s = 5\nmax_s = 2\npercentile = \"p95\"\n").unwrap_err();
    assert!(
        e.contains("c.toml") && e.contains("claim[0] (x)") && e.contains("min_s"),
        "{e}"
    );
    let e = parse(
        "c.toml",
        "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"vibes\"\n",
    )
    .unwrap_err();
    assert!(e.contains("c.toml") && e.contains("vibes"), "{e}");
    let e = parse("c.toml", "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = 1\ntolerence = 0.1\n").unwrap_err();
    assert!(e.contains("line 6") && e.contains("tolerence"), "{e}");
    let e = parse(
        "c.toml",
        "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = 1\n",
    )
    .unwrap_err();
    assert!(
        e.contains("claim[0] (x)") && e.contains("`tolerance`"),
        "{e}"
    );
}

fn latency(min: &str, max: &str) -> String {
    format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nusers = 50\nmodel = \"gpt-4o\"\nmin_s = {min}\nmax_s = {max}\n")
}

fn tokens(value: &str, tolerance: &str) -> String {
    format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"tokens_per_post\"\nvalue = {value}\ntolerance = {tolerance}\n")
}

/// Every number is from 0 to 10^12: -1 and 10^12 + 1 are refused naming the field, both
/// bounds themselves are taken.
#[test]
fn claim_numbers_run_from_0_to_a_trillion() {
    let e = parse("c.toml", &tokens("-1", "0.1")).unwrap_err();
    assert!(
        e.contains("field `value`: -1 is not a number from 0 to 1e12"),
        "{e}"
    );
    let e = parse("c.toml", &tokens("1000000000001", "0.1")).unwrap_err();
    assert!(e.contains("field `value`"), "{e}");
    assert!(parse("c.toml", &tokens("1000000000000", "0.1")).is_ok());
    assert!(parse("c.toml", &tokens("0", "0")).is_ok());
}

/// A latency window may be a single instant (min_s = max_s); only a min above the max is
/// refused.
#[test]
fn a_latency_window_may_be_one_instant() {
    assert!(parse("c.toml", &latency("2", "2")).is_ok());
    let e = parse("c.toml", &latency("2.5", "2")).unwrap_err();
    assert!(e.ends_with("min_s must not exceed max_s"), "{e}");
}

/// A tolerance is a share under 1 (0.999 is taken, 1 refused); other numbers, such as a
/// value of 5, may exceed 1. A share field (`min_share`, `max_share`) runs to 1 inclusive.
#[test]
fn tolerances_are_under_1_and_shares_at_most_1() {
    assert!(parse("c.toml", &tokens("5", "0.999")).is_ok());
    let e = parse("c.toml", &tokens("5", "1")).unwrap_err();
    assert!(e.ends_with("tolerance must be a share in [0, 1)"), "{e}");
    let caching = |share: &str| {
        parse(
            "c.toml",
            &format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"caching\"\nmin_share = {share}\n"),
        )
    };
    assert!(caching("1").is_ok());
    let e = caching("1.01").unwrap_err();
    assert!(
        e.ends_with("field `min_share`: a share is from 0 to 1"),
        "{e}"
    );
}

/// A claim naming a scenario is refused: claims name their load (`users`, `model`).
#[test]
fn a_claim_naming_a_scenario_is_refused() {
    let e = parse(
        "c.toml",
        "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"planner\"\nscenario = \"burst-50\"\n",
    )
    .unwrap_err();
    assert!(
        e.contains("claim[0] (x): field `scenario`: a claim names the load"),
        "{e}"
    );
}

/// Each percentile reads its own field and prints its own name; each call its own key.
#[test]
fn each_percentile_reads_its_own_figure() {
    let p = Percentiles {
        p50: Some(1.0),
        p90: Some(2.0),
        p95: Some(3.0),
        p99: Some(4.0),
        max: Some(5.0),
        ..Percentiles::default()
    };
    let all = [Pct::P50, Pct::P90, Pct::P95, Pct::P99, Pct::Max];
    let read: Vec<(Option<f64>, &str)> = all.iter().map(|q| (q.of(&p), q.name())).collect();
    assert_eq!(
        read,
        vec![
            (Some(1.0), "p50"),
            (Some(2.0), "p90"),
            (Some(3.0), "p95"),
            (Some(4.0), "p99"),
            (Some(5.0), "max")
        ]
    );
    assert_eq!(
        (CallName::ImagePrompt.key(), CallName::Caption.key()),
        ("image_prompt", "caption")
    );
}

/// A verdict carries its claim's id and statement; each judgement its label.
#[test]
fn a_verdict_carries_its_claim_and_each_judgement_its_label() {
    let c = &parse("c.toml", &latency("0", "5")).unwrap().claim[0];
    let v = ClaimVerdict::on(
        c,
        Some("burst-50 tier 2".into()),
        "4.2 s".into(),
        Judgement::holds_if(true),
        None,
        "p95".into(),
    );
    assert_eq!((v.id.as_str(), v.statement.as_str()), ("x", "s"));
    assert_eq!(v.case.as_deref(), Some("burst-50 tier 2"));
    assert_eq!((v.measured.as_str(), v.evidence.as_str()), ("4.2 s", "p95"));
    assert_eq!(v.verdict, Judgement::Holds);
    assert_eq!(Judgement::holds_if(false), Judgement::Fails);
    assert_eq!(
        [
            Judgement::Holds.label(),
            Judgement::Fails.label(),
            Judgement::NotMeasured.label()
        ],
        ["holds", "fails", "not measured by this run"]
    );
}
