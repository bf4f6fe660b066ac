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

/// The error `from_texts` gives for the embedded files with `edit` applied to file `i` (0
/// models, 1 tiers, 2 latency, 3 prices).
fn error_with(i: usize, edit: impl FnOnce(&str) -> String) -> String {
    let mut t = texts();
    t[i].1 = edit(&t[i].1);
    Catalog::from_texts(t).unwrap_err().to_string()
}

#[test]
fn a_model_naming_an_unknown_profile_is_an_error() {
    // The first model (model[0], gpt-4o) is the first line `profile = "gpt-4o"`.
    let err = error_with(0, |m| {
        m.replacen(r#"profile = "gpt-4o""#, r#"profile = "gpt-5""#, 1)
    });
    assert_eq!(
        err,
        "models.toml: field `model[0].profile`: no profile `gpt-5` in latency.toml"
    );
}

#[test]
fn a_model_listed_twice_is_an_error() {
    // The second model (model[1]) takes the first one's id.
    let err = error_with(0, |m| {
        m.replacen(r#"id = "gpt-4o-2024-08-06""#, r#"id = "gpt-4o""#, 1)
    });
    assert_eq!(
        err,
        "models.toml: field `model[1].id`: model `gpt-4o` is listed twice"
    );
}

#[test]
fn a_models_file_without_models_is_an_error() {
    let err = error_with(0, |_| "as_of = \"x\"\nsource = \"y\"\nmodel = []\n".into());
    assert_eq!(err, "models.toml: field `model`: no models listed");
}

#[test]
fn a_price_outside_its_bounds_is_an_error() {
    // gpt-4o's table comes first in prices.toml and in the BTreeMap (the shortest name).
    let err = error_with(3, |p| p.replacen("output = 10.00", "output = -1.0", 1));
    assert_eq!(
        err,
        "prices.toml: field `models.gpt-4o.output`: -1 is outside [0, 10000] USD per 1M tokens"
    );
    let err = error_with(3, |p| p.replacen("input = 2.50", "input = 10000.5", 1));
    assert_eq!(
        err,
        "prices.toml: field `models.gpt-4o.input`: 10000.5 is outside [0, 10000] USD per 1M tokens"
    );
    let err = error_with(3, |p| {
        p.replacen("cached_input = 1.25", "cached_input = -0.5", 1)
    });
    assert_eq!(
        err,
        "prices.toml: field `models.gpt-4o.cached_input`: -0.5 is outside [0, 10000] USD per 1M tokens"
    );
}

#[test]
fn prices_at_their_bounds_are_accepted() {
    // 0 and MAX_PRICE (10,000) are both inside [0, 10000].
    let mut t = texts();
    t[3].1 = t[3].1.replacen("input = 2.50", "input = 0.0", 1).replacen(
        "output = 10.00",
        "output = 10000.0",
        1,
    );
    let c = Catalog::from_texts(t).unwrap();
    assert_eq!(c.prices.models["gpt-4o"].input, 0.0);
    assert_eq!(c.prices.models["gpt-4o"].output, 10_000.0);
}

#[test]
fn a_limit_of_zero_or_above_its_maximum_is_an_error() {
    // The first tier of the default set: gpt-4o has rpm = 500, tpm = 30_000; gpt-4o-mini also
    // has rpd = 10_000.
    let tier1 = "limits.gpt-4o = { rpm = 500, tpm = 30_000 }";
    let err = error_with(1, |t| {
        t.replacen(tier1, "limits.gpt-4o = { rpm = 0, tpm = 30_000 }", 1)
    });
    assert_eq!(
        err,
        "tiers.toml: field `sets.openai-2025.tier[0].limits.gpt-4o.rpm`: \
         0 is outside [1, 1000000000000]"
    );
    // MAX_TPM + 1 = 10^15 + 1.
    let err = error_with(1, |t| {
        t.replacen(
            tier1,
            "limits.gpt-4o = { rpm = 500, tpm = 1_000_000_000_000_001 }",
            1,
        )
    });
    assert_eq!(
        err,
        "tiers.toml: field `sets.openai-2025.tier[0].limits.gpt-4o.tpm`: \
         1000000000000001 is outside [1, 1000000000000000]"
    );
    let err = error_with(1, |t| t.replacen("rpd = 10_000", "rpd = 0", 1));
    assert_eq!(
        err,
        "tiers.toml: field `sets.openai-2025.tier[0].limits.gpt-4o-mini.rpd`: \
         0 is outside [1, 1000000000000]"
    );
}

#[test]
fn limits_at_their_bounds_are_accepted() {
    // 1 and the maxima (MAX_RPM = 10^12, MAX_TPM = 10^15) are inside [1, max].
    let mut t = texts();
    t[1].1 = t[1].1.replacen(
        "limits.gpt-4o = { rpm = 500, tpm = 30_000 }",
        "limits.gpt-4o = { rpm = 1_000_000_000_000, tpm = 1_000_000_000_000_000, rpd = 1 }",
        1,
    );
    let c = Catalog::from_texts(t).unwrap();
    let l = c.limits("openai-2025", 1, "gpt-4o").unwrap().unwrap();
    assert_eq!(
        (l.rpm, l.tpm, l.rpd),
        (1_000_000_000_000, 1_000_000_000_000_000, Some(1))
    );
}

#[test]
fn the_fixed_profile_takes_its_completion_length_from_the_data() {
    let mut t = texts();
    t[2].1 = t[2].1.replace(
        "fixed_completion_tokens = 100",
        "fixed_completion_tokens = 37",
    );
    let c = Catalog::from_texts(t).unwrap();
    assert_eq!(
        c.fixed_profile(std::time::Duration::from_millis(250)),
        Profile::Fixed {
            as_of: String::new(),
            source: "--latency-ms".into(),
            latency_ms: 250,
            completion_tokens: 37,
        }
    );
}

#[test]
fn without_a_fixed_profile_the_completion_length_is_100() {
    // The `fixed` profile is the last table of latency.toml; no model uses it.
    let mut t = texts();
    let at = t[2].1.find("[profiles.fixed]").unwrap();
    t[2].1.truncate(at);
    let c = Catalog::from_texts(t).unwrap();
    assert!(!c.profiles.contains_key("fixed"));
    assert_eq!(
        c.fixed_profile(std::time::Duration::from_millis(1_500)),
        Profile::Fixed {
            as_of: String::new(),
            source: "--latency-ms".into(),
            latency_ms: 1_500,
            completion_tokens: 100,
        }
    );
}

#[test]
fn a_prompt_cache_share_is_read_checked_and_named() {
    // Shipped: 0 for every model.
    let c = Catalog::embedded();
    assert_eq!(c.prompt_cache_hit("gpt-4o"), 0.0);
    assert_eq!(c.prompt_cache_hit("no-such-model"), 0.0);
    // gpt-4o's profile is the first to give one.
    let with = |share: &str| {
        let mut t = texts();
        t[2].1 = t[2].1.replacen(
            "prompt_cache_hit = 0.0",
            &format!("prompt_cache_hit = {share}"),
            1,
        );
        Catalog::from_texts(t)
    };
    let c = with("0.75").unwrap();
    assert_eq!(c.prompt_cache_hit("gpt-4o"), 0.75);
    assert_eq!(c.prompt_cache_hit("gpt-4o-mini"), 0.0);
    for bad in ["1.5", "-0.1", "nan"] {
        let err = with(bad).unwrap_err().to_string();
        assert!(
            err.starts_with("latency.toml: field `profiles.gpt-4o.prompt_cache_hit`: "),
            "{err}"
        );
        assert!(err.ends_with("is outside [0, 1]"), "{err}");
    }
    // A fixed profile has no use for it.
    let mut t = texts();
    t[2].1 = t[2]
        .1
        .replace("latency_ms = 0", "latency_ms = 0\nprompt_cache_hit = 0.5");
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(
        err.contains("profiles.fixed.prompt_cache_hit") && err.contains("not used"),
        "{err}"
    );
}
