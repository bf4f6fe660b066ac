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
