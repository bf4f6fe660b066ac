//! The calibration's overlay as file texts: `latency.toml` (the base profiles with each
//! calibrated one replaced by its fit) and `tiers.toml` (the base sets plus a set `account` with
//! the limits as read). `--mocks DIR` replaces whole files, so each text is complete, and each is
//! checked by parsing it back with the catalog before it is returned. Pure: the command writes
//! the files.
//!
//! The `account` set has one tier. Its number is the tier the account's limits matched in the
//! base's default set (else in any set; else 1), so `run --tiers account --tier N` names the
//! same tier as the published table. Each calibrated model's rate-limit family gets the limits
//! as read; every other family (not calibrated, or whose answers stated no limits) is copied
//! from the base default set's tier of that number (its first tier if it has none), and the
//! set's `source` says which families were read and which copied. With no limits read at all,
//! there is no `account` set.

use std::collections::BTreeMap;

use serde::Serialize;

use super::limits::AccountLimits;
use crate::openai::bucket::Limits;
use crate::openai::catalog::{Catalog, Tier, TierSet};
use crate::openai::latency::{LengthDist, Profile, Range, TtftPercentiles};
use crate::openai::reasoning::{Effort, ReasoningTokens};

/// The tier set the overlay adds.
pub const ACCOUNT_SET: &str = "account";

/// What calibration read of one model's limits.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LimitsRead {
    pub model: String,
    /// Its rate-limit family in models.toml.
    pub family: String,
    pub limits: AccountLimits,
    /// Each base set (but `account`) with the tier the limits match, if any.
    pub matched: Vec<(String, Option<u8>)>,
}

impl LimitsRead {
    /// The matched tier: in `default_set` first, else in any set.
    pub fn tier(&self, default_set: &str) -> Option<u8> {
        self.matched
            .iter()
            .find(|(s, t)| s == default_set && t.is_some())
            .or_else(|| self.matched.iter().find(|(_, t)| t.is_some()))
            .and_then(|(_, t)| *t)
    }
}

/// Every set of `base` (but `account`) with the tier `limits` match for `model`.
pub fn matches(base: &Catalog, model: &str, limits: &AccountLimits) -> Vec<(String, Option<u8>)> {
    base.tier_sets
        .keys()
        .filter(|s| *s != ACCOUNT_SET)
        .map(|s| (s.clone(), super::limits::match_tier(base, s, model, limits)))
        .collect()
}

/// The `account` set, or `None` when no model's limits were read.
/// `date` stamps it; `stamp` opens its source (e.g. "calibrated against HOST on DATE").
pub fn account_set(
    base: &Catalog,
    reads: &[LimitsRead],
    date: &str,
    stamp: &str,
) -> Option<TierSet> {
    let known: Vec<&LimitsRead> = reads.iter().filter(|r| r.limits.known()).collect();
    if known.is_empty() {
        return None;
    }
    let number = known
        .iter()
        .find_map(|r| r.tier(&base.default_tier_set))
        .unwrap_or(1);
    let default = base.tier_sets.get(&base.default_tier_set)?;
    let template = default
        .tier
        .iter()
        .find(|t| t.tier == number)
        .or_else(|| default.tier.first())?;
    let mut limits: BTreeMap<String, Limits> = template.limits.clone();
    let mut read = Vec::new();
    for r in &known {
        let (Some(rpm), Some(tpm)) = (r.limits.rpm, r.limits.tpm) else {
            continue;
        };
        limits.insert(
            r.family.clone(),
            Limits {
                rpm,
                tpm,
                rpd: None,
            },
        );
        read.push(format!("{} (from {})", r.family, r.model));
    }
    let copied: Vec<&str> = limits
        .keys()
        .filter(|f| !known.iter().any(|r| &r.family == *f))
        .map(String::as_str)
        .collect();
    let mut source = format!(
        "{stamp}: limits read from the answers' x-ratelimit headers for {}",
        read.join(", ")
    );
    if !copied.is_empty() {
        source.push_str(&format!(
            "; {} copied from {} tier {}",
            copied.join(", "),
            base.default_tier_set,
            template.tier
        ));
    }
    Some(TierSet {
        as_of: date.to_string(),
        source,
        families: BTreeMap::new(),
        tier: vec![Tier {
            tier: number,
            qualification: match known.iter().find_map(|r| r.tier(&base.default_tier_set)) {
                Some(t) => format!("as read; the limits of {} tier {t}", base.default_tier_set),
                None => "as read; no published tier has these limits".into(),
            },
            limits,
        }],
    })
}

#[derive(Serialize)]
struct TiersOut<'a> {
    default_set: &'a str,
    sets: BTreeMap<&'a str, &'a TierSet>,
}

/// `tiers.toml`: the base's sets (its default kept), with `account` added or replaced.
pub fn tiers_toml(
    base: &Catalog,
    account: Option<&TierSet>,
    header: &str,
) -> Result<String, String> {
    let mut sets: BTreeMap<&str, &TierSet> = base
        .tier_sets
        .iter()
        .filter(|(name, _)| account.is_none() || name.as_str() != ACCOUNT_SET)
        .map(|(name, set)| (name.as_str(), set))
        .collect();
    if let Some(a) = account {
        sets.insert(ACCOUNT_SET, a);
    }
    let body = toml::to_string(&TiersOut {
        default_set: &base.default_tier_set,
        sets,
    })
    .map_err(|e| format!("tiers.toml: {e}"))?;
    Ok(format!("{header}{body}"))
}

/// A profile in `latency.toml`'s flat form.
#[derive(Serialize)]
struct ProfileOut<'a> {
    kind: &'static str,
    as_of: &'a str,
    source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    latency_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fixed_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_tokens_per_output_token: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt_cache_hit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttft_ms: Option<TtftPercentiles>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens_per_s: Option<Range>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion_tokens: Option<LengthDist>,
    /// A reasoning profile's tokens per effort: as shipped, but for the efforts calibrated.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_tokens: Option<BTreeMap<Effort, ReasoningTokens>>,
}

/// `v` to `decimals` places (a fitted figure, so the file reads like the shipped one).
fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

/// The profile in the file's form with its prompt-cache share; `fitted` figures are rounded
/// (0.1 ms, 0.01 token/s, shares to 0.001).
fn profile_out(p: &Profile, cache_hit: Option<f64>, fitted: bool) -> ProfileOut<'_> {
    let round = |v: f64, decimals: i32| if fitted { round(v, decimals) } else { v };
    match p {
        Profile::HeavyTail {
            as_of,
            source,
            ttft_ms,
            output_tokens_per_s,
            prompt_tokens_per_output_token,
            completion_tokens,
            ..
        } => ProfileOut {
            kind: "heavy_tail",
            as_of,
            source,
            latency_ms: None,
            fixed_completion_tokens: None,
            prompt_tokens_per_output_token: Some(round(*prompt_tokens_per_output_token, 2)),
            prompt_cache_hit: cache_hit.map(|h| round(h, 3)),
            ttft_ms: Some(TtftPercentiles {
                p50: round(ttft_ms.p50, 1),
                p95: round(ttft_ms.p95, 1),
                p99: round(ttft_ms.p99, 1),
                p99_99: round(ttft_ms.p99_99, 1),
            }),
            output_tokens_per_s: Some(Range {
                min: round(output_tokens_per_s.min, 2),
                max: round(output_tokens_per_s.max, 2),
            }),
            completion_tokens: Some(LengthDist {
                sigma: round(completion_tokens.sigma, 3),
                ..*completion_tokens
            }),
            reasoning_tokens: None,
        },
        Profile::Fixed {
            as_of,
            source,
            latency_ms,
            completion_tokens,
            ..
        } => ProfileOut {
            kind: "fixed",
            as_of,
            source,
            latency_ms: Some(*latency_ms),
            fixed_completion_tokens: Some(*completion_tokens),
            prompt_tokens_per_output_token: None,
            prompt_cache_hit: None,
            ttft_ms: None,
            output_tokens_per_s: None,
            completion_tokens: None,
            reasoning_tokens: None,
        },
    }
}

#[derive(Serialize)]
struct LatencyOut<'a> {
    profiles: BTreeMap<&'a str, ProfileOut<'a>>,
}

/// A fitted profile and the prompt-cache share measured with it (`None`: not measured).
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted {
    pub profile: Profile,
    pub prompt_cache_hit: Option<f64>,
}

/// `latency.toml`: every base profile with its prompt-cache share, those named in `fitted`
/// replaced (a share not measured keeps the base's), and each profile's reasoning tokens per
/// effort as shipped but for the efforts in `reasoning` (by profile). Fitted figures are
/// rounded (0.1 ms, 0.01 token/s) so the file reads like the shipped one.
pub fn latency_toml(
    base: &Catalog,
    fitted: &BTreeMap<String, Fitted>,
    reasoning: &BTreeMap<String, BTreeMap<Effort, ReasoningTokens>>,
    header: &str,
) -> Result<String, String> {
    let mut profiles: BTreeMap<&str, ProfileOut> = BTreeMap::new();
    for (name, p) in &base.profiles {
        let shipped = base.prompt_cache_shares.get(name).copied();
        let mut out = match fitted.get(name) {
            Some(f) => profile_out(&f.profile, f.prompt_cache_hit.or(shipped), true),
            None => profile_out(p, shipped, false),
        };
        out.reasoning_tokens = base.reasoning_tokens.get(name).map(|shipped| {
            let mut efforts = shipped.clone();
            if let Some(measured) = reasoning.get(name) {
                // Only the efforts the model takes (the base lists them all) are replaced.
                for (e, t) in measured {
                    if let Some(slot) = efforts.get_mut(e) {
                        *slot = *t;
                    }
                }
            }
            efforts
        });
        profiles.insert(name, out);
    }
    let body =
        toml::to_string(&LatencyOut { profiles }).map_err(|e| format!("latency.toml: {e}"))?;
    Ok(format!("{header}{body}"))
}

/// Checks that the overlay's texts load as a catalog together with the base's other files.
pub fn check(models: &str, tiers: &str, latency: &str, prices: &str) -> Result<Catalog, String> {
    Catalog::from_texts([
        ("models.toml".to_string(), models.to_string()),
        ("tiers.toml".to_string(), tiers.to_string()),
        ("latency.toml".to_string(), latency.to_string()),
        ("prices.toml".to_string(), prices.to_string()),
    ])
    .map_err(|e| format!("the overlay does not load: {e}"))
}

#[cfg(test)]
mod tests;
