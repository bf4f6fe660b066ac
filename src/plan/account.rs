//! Plan the upgrade from a calibrated account. `calibrate` writes a tier set `account` with one
//! tier: the limits its answers stated. Alone it can only answer "does our tier hold?"; the
//! planner exists for "what does upgrading buy us?". So when a plan runs on such a set, the
//! set becomes an upgrade path: the published tiers of the set the account matched (from the
//! `--mocks` tiers.toml, else the shipped one), with the account's own tier in its place,
//! marked, and every tier planned with the account's calibrated latency. If the limits match no
//! published tier, the account stands as Tier 0 beside every published tier, and the mark
//! names the nearest ones. Pure.

use serde::{Deserialize, Serialize};

use crate::openai::catalog::{Catalog, Tier, TierSet};

/// The tier set calibrate writes.
pub const ACCOUNT_SET: &str = "account";

/// The account's place in an upgrade path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccountTier {
    /// Its tier number in the path (0 when it matches no published tier).
    pub tier: u8,
    /// When calibrate read the limits (the set's `as_of`).
    pub measured: String,
    /// The published set beside it, and where that came from (`shipped` or the --mocks file).
    pub published_set: String,
    pub published_from: String,
    /// The published tier with the same limits, if any.
    pub matched: Option<u8>,
    /// `your account, measured 2026-12-01`, with what it matched or the nearest tiers.
    pub mark: String,
}

/// Whether `tier` has the limits `account` states (RPM and TPM of every family both name).
fn same_limits(account: &Tier, tier: &Tier) -> bool {
    let mut shared = 0;
    for (family, a) in &account.limits {
        if let Some(t) = tier.limits.get(family) {
            if (a.rpm, a.tpm) != (t.rpm, t.tpm) {
                return false;
            }
            shared += 1;
        }
    }
    shared > 0
}

/// The published sets to look in, in order: the catalog's default set, its other sets, then the
/// shipped sets it lacks; each with where it came from.
fn published(catalog: &Catalog, shipped: &Catalog) -> Vec<(String, TierSet, String)> {
    let mut out = Vec::new();
    let mut names: Vec<&String> = catalog.tier_sets.keys().collect();
    names.sort_by_key(|n| *n != &catalog.default_tier_set);
    for name in names {
        if name != ACCOUNT_SET {
            let from = crate::openai::catalog::provenance::ProfileInfo::tier_set(catalog, name)
                .map(|i| i.from)
                .unwrap_or_default();
            out.push((name.clone(), catalog.tier_sets[name].clone(), from));
        }
    }
    let mut names: Vec<&String> = shipped.tier_sets.keys().collect();
    names.sort_by_key(|n| *n != &shipped.default_tier_set);
    for name in names {
        if name != ACCOUNT_SET && !catalog.tier_sets.contains_key(name) {
            out.push((
                name.clone(),
                shipped.tier_sets[name].clone(),
                "shipped".into(),
            ));
        }
    }
    out
}

/// The account set of `catalog` as an upgrade path, with the account's place in it; `None`
/// when there is no `account` set, or it already has more than one tier.
pub fn upgrade_path(catalog: &Catalog, shipped: &Catalog) -> Option<(TierSet, AccountTier)> {
    let set = catalog.tier_sets.get(ACCOUNT_SET)?;
    let [mine] = set.tier.as_slice() else {
        return None;
    };
    let sets = published(catalog, shipped);
    let matched = sets.iter().find_map(|(name, s, from)| {
        s.tier
            .iter()
            .find(|t| same_limits(mine, t))
            .map(|t| (name, s, from, t.tier))
    });
    let measured = format!("your account, measured {}", set.as_of);
    let (tiers, account, families) = match matched {
        Some((name, s, from, n)) => {
            let mark = format!("{measured} (the limits of {name} Tier {n})");
            let tiers = s
                .tier
                .iter()
                .map(|t| match t.tier == n {
                    true => Tier {
                        tier: n,
                        qualification: mark.clone(),
                        limits: mine.limits.clone(),
                    },
                    false => t.clone(),
                })
                .collect();
            let account = AccountTier {
                tier: n,
                measured: set.as_of.clone(),
                published_set: name.clone(),
                published_from: from.clone(),
                matched: Some(n),
                mark,
            };
            (tiers, account, s.families.clone())
        }
        None => {
            let (name, s, from) = sets.first()?;
            let mark = format!(
                "{measured}: its limits match no published tier of {name}; {}",
                nearest(mine, s)
            );
            let mut tiers = vec![Tier {
                tier: 0,
                qualification: mark.clone(),
                limits: mine.limits.clone(),
            }];
            tiers.extend(s.tier.iter().filter(|t| t.tier != 0).cloned());
            let account = AccountTier {
                tier: 0,
                measured: set.as_of.clone(),
                published_set: name.clone(),
                published_from: from.clone(),
                matched: None,
                mark,
            };
            (tiers, account, s.families.clone())
        }
    };
    // The published tiers keep their families' own stamps (the models added after the set).
    let path = TierSet {
        as_of: set.as_of.clone(),
        source: set.source.clone(),
        tier: tiers,
        families,
    };
    Some((path, account))
}

/// `between Tier 1 (30000 TPM) and Tier 2 (450000 TPM) of gpt-4o's limits`: the published
/// tiers below and above the account's TPM, on its first rate-limit family.
fn nearest(mine: &Tier, set: &TierSet) -> String {
    let Some((family, limits)) = mine.limits.iter().next() else {
        return "it states no limits".into();
    };
    let tpm = |t: &Tier| t.limits.get(family).map(|l| l.tpm);
    let below = set
        .tier
        .iter()
        .filter(|t| tpm(t).is_some_and(|v| v <= limits.tpm))
        .max_by_key(|t| tpm(t));
    let above = set
        .tier
        .iter()
        .filter(|t| tpm(t).is_some_and(|v| v > limits.tpm))
        .min_by_key(|t| tpm(t));
    let words =
        |t: Option<&Tier>| t.map(|t| format!("Tier {} ({} TPM)", t.tier, tpm(t).unwrap_or(0)));
    match (words(below), words(above)) {
        (Some(b), Some(a)) => format!("{} TPM of {family}: between {b} and {a}", limits.tpm),
        (Some(b), None) => format!("{} TPM of {family}: above {b}, the highest", limits.tpm),
        (None, Some(a)) => format!("{} TPM of {family}: below {a}, the lowest", limits.tpm),
        (None, None) => format!("no published tier states {family}'s limits"),
    }
}

/// Replaces `catalog`'s account set by its upgrade path when a plan runs on it (`--tiers
/// account`, or no `--tiers` and the `--mocks` folder has one); the account's place, if so.
pub fn install(catalog: &mut Catalog, tier_set: Option<&str>) -> Option<AccountTier> {
    if !matches!(tier_set, None | Some(ACCOUNT_SET)) {
        return None;
    }
    let (path, account) = upgrade_path(catalog, &Catalog::embedded())?;
    catalog.tier_sets.insert(ACCOUNT_SET.into(), path);
    Some(account)
}

#[cfg(test)]
mod tests;
