//! The upgrade path of a calibrated account, on the shipped openai-2025 tiers: gpt-4o at
//! Tier 1 30,000 TPM / 500 RPM, Tier 2 450,000 / 5,000, Tier 3 800,000 / 5,000.

use std::collections::BTreeMap;

use super::*;
use crate::openai::bucket::Limits;

/// The shipped catalog with an `account` set of one tier holding gpt-4o's `rpm` and `tpm`.
fn calibrated(rpm: u64, tpm: u64) -> Catalog {
    let mut c = Catalog::embedded();
    let limits: BTreeMap<String, Limits> = [(
        "gpt-4o".to_string(),
        Limits {
            rpm,
            tpm,
            rpd: None,
        },
    )]
    .into();
    c.tier_sets.insert(
        ACCOUNT_SET.into(),
        TierSet {
            as_of: "2026-12-01".into(),
            source: "calibrated".into(),
            tier: vec![Tier {
                tier: 2,
                qualification: "as read".into(),
                limits,
            }],
            families: Default::default(),
        },
    );
    c
}

#[test]
fn a_calibrated_account_matching_tier_2_plans_every_published_tier_beside_its_own() {
    let catalog = calibrated(5_000, 450_000);
    let (path, a) = upgrade_path(&catalog, &Catalog::embedded()).unwrap();
    let tiers: Vec<u8> = path.tier.iter().map(|t| t.tier).collect();
    assert_eq!(tiers, [1, 2, 3, 4, 5]);
    assert_eq!(
        (a.tier, a.matched, a.published_set.as_str()),
        (2, Some(2), "openai-2025")
    );
    assert_eq!(
        a.mark,
        "your account, measured 2026-12-01 (the limits of openai-2025 Tier 2)"
    );
    // Its own tier carries its mark and its limits as read; the others are published.
    assert_eq!(path.tier[1].qualification, a.mark);
    assert_eq!(path.tier[1].limits["gpt-4o"].tpm, 450_000);
    assert_eq!(
        path.tier[2].qualification,
        "$100 paid and 7 days since first payment"
    );
    assert_eq!(path.tier[2].limits["gpt-4o"].tpm, 800_000);
    assert_eq!(path.tier[0].limits["gpt-4o"].tpm, 30_000);
}

#[test]
fn an_account_matching_no_published_tier_says_so_and_stands_beside_the_nearest() {
    // 100,000 TPM: above Tier 1's 30,000, below Tier 2's 450,000.
    let mut catalog = calibrated(1_000, 100_000);
    let a = install(&mut catalog, None).unwrap();
    assert_eq!((a.tier, a.matched), (0, None));
    assert_eq!(
        a.mark,
        "your account, measured 2026-12-01: its limits match no published tier of openai-2025; \
         100000 TPM of gpt-4o: between Tier 1 (30000 TPM) and Tier 2 (450000 TPM)"
    );
    let path = &catalog.tier_sets[ACCOUNT_SET];
    let tiers: Vec<u8> = path.tier.iter().map(|t| t.tier).collect();
    assert_eq!(tiers, [0, 1, 2, 3, 4, 5]);
    assert_eq!(
        catalog
            .limits(ACCOUNT_SET, 0, "gpt-4o")
            .unwrap()
            .unwrap()
            .tpm,
        100_000
    );
}

#[test]
fn another_tier_set_named_or_no_account_set_leaves_the_catalog_as_it_is() {
    let mut catalog = calibrated(5_000, 450_000);
    assert!(install(&mut catalog, Some("openai-2025")).is_none());
    assert_eq!(catalog.tier_sets[ACCOUNT_SET].tier.len(), 1);
    assert!(install(&mut Catalog::embedded(), None).is_none());
}
