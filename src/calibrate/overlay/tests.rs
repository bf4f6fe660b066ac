use super::*;
use crate::openai::catalog::{EMBEDDED_MODELS, EMBEDDED_PRICES};

fn read(model: &str, family: &str, rpm: Option<u64>, tpm: Option<u64>) -> LimitsRead {
    let base = Catalog::embedded();
    let limits = AccountLimits {
        rpm,
        tpm,
        ..AccountLimits::default()
    };
    LimitsRead {
        model: model.into(),
        family: family.into(),
        matched: matches(&base, model, &limits),
        limits,
    }
}

fn load(tiers: &str, latency: &str) -> Catalog {
    check(EMBEDDED_MODELS, tiers, latency, EMBEDDED_PRICES).unwrap()
}

#[test]
fn the_base_files_round_trip_unchanged() {
    let base = Catalog::embedded();
    let latency = latency_toml(&base, &BTreeMap::new(), &BTreeMap::new(), "# header\n").unwrap();
    let tiers = tiers_toml(&base, None, "").unwrap();
    assert!(latency.starts_with("# header\n"));
    let back = load(&tiers, &latency);
    assert_eq!(back.profiles, base.profiles);
    assert_eq!(back.prompt_cache_shares, base.prompt_cache_shares);
    assert_eq!(back.default_tier_set, base.default_tier_set);
    assert_eq!(
        toml::to_string(&back.tier_sets).unwrap(),
        toml::to_string(&base.tier_sets).unwrap()
    );
}

#[test]
fn a_fitted_profile_replaces_its_base_profile_only() {
    let base = Catalog::embedded();
    let fitted = Profile::HeavyTail {
        as_of: "2026-12-01".into(),
        source: "calibrated against api.example.test on 2026-12-01: 30 calls, regression".into(),
        ttft_ms: TtftPercentiles {
            p50: 901.04,
            p95: 1_999.96,
            p99: 7_897.3,
            p99_99: 12_256.0,
        },
        output_tokens_per_s: Range {
            min: 20.123,
            max: 59.9,
        },
        prompt_tokens_per_output_token: 100.0,
        completion_tokens: LengthDist {
            median: 210,
            sigma: 0.3333,
            min: 8,
            max: 2048,
        },
    };
    let map = BTreeMap::from([(
        "gpt-4o".to_string(),
        Fitted {
            profile: fitted,
            prompt_cache_hit: Some(0.6667),
        },
    )]);
    let back = load(
        &tiers_toml(&base, None, "").unwrap(),
        &latency_toml(&base, &map, &BTreeMap::new(), "").unwrap(),
    );
    let Profile::HeavyTail {
        ttft_ms,
        output_tokens_per_s,
        completion_tokens,
        source,
        ..
    } = &back.profiles["gpt-4o"]
    else {
        panic!("heavy tail")
    };
    assert_eq!((ttft_ms.p50, ttft_ms.p95), (901.0, 2_000.0));
    assert_eq!(output_tokens_per_s.min, 20.12);
    assert_eq!(completion_tokens.sigma, 0.333);
    assert!(source.starts_with("calibrated against"));
    assert_eq!(back.profiles["gpt-4o-mini"], base.profiles["gpt-4o-mini"]);
    assert_eq!(back.profiles["fixed"], base.profiles["fixed"]);
    // The measured prompt-cache share, rounded; the others keep the base's.
    assert_eq!(back.prompt_cache_hit("gpt-4o"), 0.667);
    assert_eq!(
        back.prompt_cache_shares.get("gpt-4o-mini"),
        base.prompt_cache_shares.get("gpt-4o-mini")
    );
}

#[test]
fn limits_of_no_published_tier_make_an_account_tier_1() {
    let base = Catalog::embedded();
    let r = read("gpt-4o", "gpt-4o", Some(777), Some(123_456));
    assert!(r.matched.iter().all(|(_, t)| t.is_none()));
    let set = account_set(&base, &[r], "2026-12-01", "calibrated").unwrap();
    assert_eq!(set.as_of, "2026-12-01");
    assert_eq!(set.tier.len(), 1);
    let t = &set.tier[0];
    assert_eq!(t.tier, 1);
    assert_eq!(
        t.limits["gpt-4o"],
        Limits {
            rpm: 777,
            tpm: 123_456,
            rpd: None
        }
    );
    // Not calibrated: copied from openai-2025 tier 1, its daily limit too.
    assert_eq!(
        t.limits["gpt-4o-mini"],
        base.limits("openai-2025", 1, "gpt-4o-mini")
            .unwrap()
            .unwrap()
    );
    // Every family not read is copied, gpt-4o-mini among them (the list runs in name order).
    let copied = set.source.split("; ").nth(1).unwrap();
    assert!(copied.contains("gpt-4o-mini"), "{copied}");
    assert!(
        copied.ends_with("copied from openai-2025 tier 1"),
        "{copied}"
    );
    let tiers = tiers_toml(&base, Some(&set), "").unwrap();
    let back = load(
        &tiers,
        &latency_toml(&base, &BTreeMap::new(), &BTreeMap::new(), "").unwrap(),
    );
    assert_eq!(
        back.limits(ACCOUNT_SET, 1, "gpt-4o").unwrap().unwrap().tpm,
        123_456
    );
    assert!(back.tier_sets.contains_key("seed"));
    assert_eq!(back.default_tier_set, "openai-2025");
}

#[test]
fn a_matched_tier_gives_the_account_set_its_number() {
    let base = Catalog::embedded();
    let reads = [
        read("gpt-4o", "gpt-4o", Some(5_000), Some(800_000)),
        read("gpt-4o-mini", "gpt-4o-mini", Some(5_000), Some(4_000_000)),
    ];
    assert_eq!(reads[0].tier("openai-2025"), Some(3));
    let set = account_set(&base, &reads, "d", "s").unwrap();
    assert_eq!(set.tier[0].tier, 3);
    // Both families read; only the families not read (the newer models') are copied.
    let copied = set.source.split("; ").nth(1).unwrap_or_default();
    assert!(!copied.contains("gpt-4o"), "{copied}");
    assert!(set.tier[0].qualification.contains("openai-2025 tier 3"));
}

#[test]
fn unknown_limits_make_no_account_set() {
    let base = Catalog::embedded();
    assert!(account_set(&base, &[read("gpt-4o", "gpt-4o", None, None)], "d", "s").is_none());
    // Half-known limits are not enough either.
    assert!(account_set(
        &base,
        &[read("gpt-4o", "gpt-4o", Some(500), None)],
        "d",
        "s"
    )
    .is_none());
    assert!(account_set(&base, &[], "d", "s").is_none());
}

#[test]
fn a_base_account_set_is_replaced_not_matched() {
    let base = Catalog::embedded();
    let first = account_set(
        &base,
        &[read("gpt-4o", "gpt-4o", Some(777), Some(123_456))],
        "d",
        "s",
    )
    .unwrap();
    let with_account = load(
        &tiers_toml(&base, Some(&first), "").unwrap(),
        &latency_toml(&base, &BTreeMap::new(), &BTreeMap::new(), "").unwrap(),
    );
    let limits = AccountLimits {
        rpm: Some(777),
        tpm: Some(123_456),
        ..AccountLimits::default()
    };
    assert!(matches(&with_account, "gpt-4o", &limits)
        .iter()
        .all(|(s, t)| s != ACCOUNT_SET && t.is_none()));
}

#[test]
fn a_calibrated_effort_replaces_its_reasoning_tokens_only() {
    // gpt-5-mini's profile ships minimal, low, medium (640, σ 0.8) and high; medium measured.
    let base = Catalog::embedded();
    let medium = ReasoningTokens {
        median: 704,
        sigma: 0.744,
        min: 0,
        max: 32_768,
    };
    let measured = BTreeMap::from([(
        "gpt-5-mini".to_string(),
        BTreeMap::from([(Effort::Medium, medium)]),
    )]);
    let back = load(
        &tiers_toml(&base, None, "").unwrap(),
        &latency_toml(&base, &BTreeMap::new(), &measured, "").unwrap(),
    );
    let mut want = base.reasoning_tokens["gpt-5-mini"].clone();
    assert_eq!(
        want[&Effort::Medium].median,
        640,
        "the shipped figure differs"
    );
    want.insert(Effort::Medium, medium);
    assert_eq!(back.reasoning_tokens["gpt-5-mini"], want);
    // Every other profile's reasoning, and every profile, as shipped.
    for (name, efforts) in &base.reasoning_tokens {
        if name != "gpt-5-mini" {
            assert_eq!(&back.reasoning_tokens[name], efforts, "{name}");
        }
    }
    assert_eq!(back.profiles, base.profiles);
    // An effort the profile does not list is not added (the model does not take it).
    let xhigh = BTreeMap::from([(
        "gpt-5-mini".to_string(),
        BTreeMap::from([(Effort::Xhigh, medium)]),
    )]);
    let back = load(
        &tiers_toml(&base, None, "").unwrap(),
        &latency_toml(&base, &BTreeMap::new(), &xhigh, "").unwrap(),
    );
    assert_eq!(
        back.reasoning_tokens["gpt-5-mini"],
        base.reasoning_tokens["gpt-5-mini"]
    );
}

#[test]
fn the_matched_tier_is_the_default_sets_first_then_any_sets() {
    let with = |matched: &[(&str, Option<u8>)]| LimitsRead {
        model: "gpt-4o".into(),
        family: "gpt-4o".into(),
        limits: AccountLimits::default(),
        matched: matched.iter().map(|(s, t)| (s.to_string(), *t)).collect(),
    };
    // Another set matched first, the default set later: the default set's tier.
    let r = with(&[("azure", Some(2)), ("openai-2025", Some(3))]);
    assert_eq!(r.tier("openai-2025"), Some(3));
    // The default set matched nothing: the first set that matched.
    let r = with(&[("openai-2025", None), ("azure", Some(2)), ("seed", Some(4))]);
    assert_eq!(r.tier("openai-2025"), Some(2));
    assert_eq!(with(&[("openai-2025", None)]).tier("openai-2025"), None);
}
