//! The catalog against the embedded mocks/ files and hand-broken copies of them.

use super::*;

fn texts() -> [(String, String); 4] {
    [
        ("models.toml", EMBEDDED_MODELS),
        ("tiers.toml", EMBEDDED_TIERS),
        ("latency.toml", EMBEDDED_LATENCY),
        ("prices.toml", EMBEDDED_PRICES),
    ]
    .map(|(n, t)| (n.to_string(), t.to_string()))
}

#[test]
fn embedded_data_is_consistent() {
    let c = Catalog::embedded();
    assert_eq!(c.model("gpt-4o").unwrap().snapshot, "gpt-4o-2024-08-06");
    let t1 = c.tier("openai-2025", 1).unwrap();
    assert_eq!(t1.limits["gpt-4o"].tpm, 30_000);
    assert_eq!(
        c.tier("openai-2025", 5).unwrap().limits["gpt-4o-mini"].tpm,
        150_000_000
    );
    assert_eq!(c.tier("seed", 2).unwrap().limits["gpt-4o"].tpm, 100_000);
    assert_eq!(c.prices.models["gpt-4o"].output, 10.0);
    assert!(c.tier("seed", 4).unwrap_err().contains("no tier 4"));
    assert!(c.tier("nope", 1).unwrap_err().contains("unknown tier set"));
}

#[test]
fn a_models_limits_at_a_tier_go_through_its_family() {
    let c = Catalog::embedded();
    // tiers.toml: gpt-4o's family at openai-2025 tier 1 has 30,000 TPM and 500 RPM.
    let l = c.limits("openai-2025", 1, "gpt-4o").unwrap().unwrap();
    assert_eq!((l.tpm, l.rpm), (30_000, 500));
    assert_eq!(c.limits("openai-2025", 1, "no-such-model").unwrap(), None);
    assert!(c
        .limits("seed", 4, "gpt-4o")
        .unwrap_err()
        .contains("no tier 4"));
}

#[test]
fn the_unlimited_set_loads() {
    let c = Catalog::unlimited();
    assert_eq!(c.default_tier_set, "unlimited");
    assert!(c.tier("unlimited", 1).unwrap().limits["gpt-4o"].tpm > 1_000_000_000);
}

#[test]
fn unknown_field_names_the_file_and_line() {
    let mut t = texts();
    t[2].1 = t[2]
        .1
        .replace("latency_ms = 0", "latency_ms = 0\nlatncy = 3");
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(err.starts_with("latency.toml:"), "{err}");
    assert!(err.contains("latncy"), "{err}");
    assert!(err.contains("line"), "{err}");
}

#[test]
fn a_wrong_type_names_the_line_and_field() {
    let mut t = texts();
    t[2].1 = t[2].1.replace("p99 = 4517.0", "p99 = \"slow\"");
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(err.contains("line 17"), "{err}");
    assert!(err.contains("p99"), "{err}");
}

#[test]
fn a_field_of_the_other_kind_is_named() {
    let mut t = texts();
    t[2].1 = t[2].1.replace(
        "latency_ms = 0",
        "latency_ms = 0\nttft_ms = { p50 = 1.0, p95 = 1.0, p99 = 1.0, p99_99 = 1.0 }",
    );
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(
        err.contains("profiles.fixed.ttft_ms") && err.contains("not used"),
        "{err}"
    );
}

#[test]
fn bad_percentiles_name_the_profile() {
    let mut t = texts();
    t[2].1 = t[2].1.replace("p95 = 1144.0", "p95 = 100.0");
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(
        err.contains("profiles.gpt-4o") && err.contains("ttft_ms"),
        "{err}"
    );
}

#[test]
fn a_model_without_limits_in_a_tier_is_an_error() {
    let mut t = texts();
    t[1].1 = t[1].1.replacen(
        "limits.gpt-4o-mini = { rpm = 500, tpm = 200_000, rpd = 10_000 }",
        "",
        1,
    );
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(err.contains("sets.openai-2025.tier[0].limits"), "{err}");
}
