//! The data the model of the world runs on: models, latency profiles, rate-limit tiers and
//! prices, read from `mocks/*.toml`. The files are embedded in the binary (so `postload` works
//! anywhere) and may be replaced by a user's edited copies with `--mocks DIR`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::bucket::Limits;
use super::latency::{LengthDist, Profile, Range, TtftPercentiles};
use super::reasoning::{self, Effort, ReasoningTokens};

pub const EMBEDDED_MODELS: &str = include_str!("../../mocks/models.toml");
pub const EMBEDDED_TIERS: &str = include_str!("../../mocks/tiers.toml");
pub const EMBEDDED_LATENCY: &str = include_str!("../../mocks/latency.toml");
pub const EMBEDDED_PRICES: &str = include_str!("../../mocks/prices.toml");

/// A tier set (`unlimited`, tier 1) whose limits no benchmark reaches: for measuring the stub
/// and the harness without 429s.
pub const UNLIMITED_TIERS: &str = r#"default_set = "unlimited"
[sets.unlimited]
as_of = "2026-11-28"
source = "postload: limits high enough that no request is rate-limited (benchmarks, tests)"
[[sets.unlimited.tier]]
tier = 1
qualification = "none"
limits.gpt-4o = { rpm = 1000000000000, tpm = 1000000000000000 }
limits.gpt-4o-mini = { rpm = 1000000000000, tpm = 1000000000000000 }
limits."gpt-4.1" = { rpm = 1000000000000, tpm = 1000000000000000 }
limits."gpt-4.1-mini" = { rpm = 1000000000000, tpm = 1000000000000000 }
limits."gpt-4.1-nano" = { rpm = 1000000000000, tpm = 1000000000000000 }
limits.gpt-5 = { rpm = 1000000000000, tpm = 1000000000000000 }
limits.gpt-5-mini = { rpm = 1000000000000, tpm = 1000000000000000 }
limits.gpt-5-nano = { rpm = 1000000000000, tpm = 1000000000000000 }
limits."gpt-5.6-sol" = { rpm = 1000000000000, tpm = 1000000000000000 }
limits."gpt-5.6-terra" = { rpm = 1000000000000, tpm = 1000000000000000 }
limits."gpt-5.6-luna" = { rpm = 1000000000000, tpm = 1000000000000000 }
"#;

/// Rate limits a tier may give (requests per minute or day; tokens per minute): the
/// `unlimited` set's, which no load reaches.
pub const MAX_RPM: u64 = 1_000_000_000_000;
pub const MAX_TPM: u64 = 1_000_000_000_000_000;
/// USD per 1M tokens: 100 times today's dearest model.
const MAX_PRICE: f64 = 10_000.0;

/// A data file could not be used. Each variant names the file; `Invalid` also names the field.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Parse { file: String, message: String },
    #[error("{file}: field `{field}`: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub id: String,
    pub snapshot: String,
    pub profile: String,
    pub limits: String,
    /// A reasoning model's accepted `reasoning_effort` values (empty: not a reasoning model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasoning_efforts: Vec<Effort>,
    /// The effort a request that names none gets (a reasoning model only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_effort: Option<Effort>,
    /// The most a request may ask to be written (`max_tokens`, `max_completion_tokens`,
    /// `max_output_tokens`): larger gets OpenAI's 400 "max_tokens is too large". `None`: 16,384
    /// for a model that does not reason (gpt-4o's), 128,000 for one that does (GPT-5's). For
    /// a reasoning model it holds the reasoning and the visible tokens together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// The entry's own date and source, where they differ from the file's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Where one rate-limit family's figures in a tier set come from, when not from the set's own
/// `as_of` and `source` (families added to a set later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    pub as_of: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModelsFile {
    as_of: String,
    source: String,
    model: Vec<ModelEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub tier: u8,
    pub qualification: String,
    pub limits: BTreeMap<String, Limits>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSet {
    pub as_of: String,
    pub source: String,
    /// Per rate-limit family: its own date and source (families added after the set's date).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub families: BTreeMap<String, Stamp>,
    pub tier: Vec<Tier>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TiersFile {
    default_set: String,
    sets: BTreeMap<String, TierSet>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LatencyFile {
    profiles: BTreeMap<String, RawProfile>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ProfileKind {
    HeavyTail,
    Fixed,
}

/// A profile as written: one flat table, so that TOML errors keep their line and field (an
/// internally tagged enum would lose both).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    kind: ProfileKind,
    as_of: String,
    source: String,
    ttft_ms: Option<TtftPercentiles>,
    output_tokens_per_s: Option<Range>,
    prompt_tokens_per_output_token: Option<f64>,
    completion_tokens: Option<LengthDist>,
    latency_ms: Option<u64>,
    fixed_completion_tokens: Option<u32>,
    /// Share of eligible calls whose prompt prefix is in OpenAI's prompt cache (heavy_tail only).
    prompt_cache_hit: Option<f64>,
    /// A reasoning model's hidden reasoning tokens per effort (heavy_tail only).
    reasoning_tokens: Option<BTreeMap<Effort, ReasoningTokens>>,
}

impl RawProfile {
    fn into_profile(self) -> Result<Profile, (&'static str, String)> {
        fn need<T>(
            v: Option<T>,
            field: &'static str,
            kind: &str,
        ) -> Result<T, (&'static str, String)> {
            v.ok_or((field, format!("required for kind = \"{kind}\"")))
        }
        fn forbid<T>(
            v: &Option<T>,
            field: &'static str,
            kind: &str,
        ) -> Result<(), (&'static str, String)> {
            match v {
                Some(_) => Err((field, format!("not used by kind = \"{kind}\""))),
                None => Ok(()),
            }
        }
        match self.kind {
            ProfileKind::HeavyTail => {
                let k = "heavy_tail";
                forbid(&self.latency_ms, "latency_ms", k)?;
                forbid(&self.fixed_completion_tokens, "fixed_completion_tokens", k)?;
                Ok(Profile::HeavyTail {
                    ttft_ms: need(self.ttft_ms, "ttft_ms", k)?,
                    output_tokens_per_s: need(self.output_tokens_per_s, "output_tokens_per_s", k)?,
                    prompt_tokens_per_output_token: need(
                        self.prompt_tokens_per_output_token,
                        "prompt_tokens_per_output_token",
                        k,
                    )?,
                    completion_tokens: need(self.completion_tokens, "completion_tokens", k)?,
                    as_of: self.as_of,
                    source: self.source,
                })
            }
            ProfileKind::Fixed => {
                let k = "fixed";
                forbid(&self.ttft_ms, "ttft_ms", k)?;
                forbid(&self.output_tokens_per_s, "output_tokens_per_s", k)?;
                forbid(
                    &self.prompt_tokens_per_output_token,
                    "prompt_tokens_per_output_token",
                    k,
                )?;
                forbid(&self.completion_tokens, "completion_tokens", k)?;
                forbid(&self.prompt_cache_hit, "prompt_cache_hit", k)?;
                forbid(&self.reasoning_tokens, "reasoning_tokens", k)?;
                Ok(Profile::Fixed {
                    latency_ms: need(self.latency_ms, "latency_ms", k)?,
                    completion_tokens: need(
                        self.fixed_completion_tokens,
                        "fixed_completion_tokens",
                        k,
                    )?,
                    as_of: self.as_of,
                    source: self.source,
                })
            }
        }
    }
}

/// USD per 1M tokens for one model.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    #[serde(default)]
    pub cached_input: Option<f64>,
    pub output: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceEntry {
    input: f64,
    #[serde(default)]
    cached_input: Option<f64>,
    output: f64,
    since: String,
    /// The entry's own date and source, where they differ from the file's.
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    source: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesFile {
    version: String,
    as_of: String,
    source: String,
    models: BTreeMap<String, PriceEntry>,
}

/// A dated price table.
#[derive(Debug, Clone, Serialize)]
pub struct PriceTable {
    pub version: String,
    pub as_of: String,
    pub source: String,
    pub models: BTreeMap<String, Price>,
}

/// Everything in `mocks/`, checked for consistency.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub models: Vec<ModelEntry>,
    pub profiles: BTreeMap<String, Profile>,
    /// Each profile's `prompt_cache_hit` share where it gives one (else 0): the account's prompt
    /// caching, kept beside the latency profile because no latency draw depends on it.
    pub prompt_cache_shares: BTreeMap<String, f64>,
    /// Each reasoning profile's reasoning tokens per effort (see [`Catalog::reasoning_tokens`]).
    pub reasoning_tokens: BTreeMap<String, BTreeMap<Effort, ReasoningTokens>>,
    pub default_tier_set: String,
    pub tier_sets: BTreeMap<String, TierSet>,
    pub prices: PriceTable,
    /// The `--mocks` folder's `tiers.toml` the tier sets were read from (`None`: the shipped,
    /// embedded copy), which reports name beside each set's date and source.
    pub tiers_file: Option<String>,
    /// The same for `latency.toml` and the latency profiles.
    pub latency_file: Option<String>,
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> Result<T, CatalogError> {
    toml::from_str(text).map_err(|e| CatalogError::Parse {
        file: file.to_string(),
        message: e.to_string().trim_end().to_string(),
    })
}

pub(crate) fn invalid(
    file: &str,
    field: impl Into<String>,
    message: impl Into<String>,
) -> CatalogError {
    CatalogError::Invalid {
        file: file.to_string(),
        field: field.into(),
        message: message.into(),
    }
}

/// The profiles, the prompt-cache shares and the reasoning tokens they give.
struct Profiles {
    profiles: BTreeMap<String, Profile>,
    shares: BTreeMap<String, f64>,
    reasoning: BTreeMap<String, BTreeMap<Effort, ReasoningTokens>>,
}

/// Each profile of `latency.toml` (file `lf`), converted from its flat form and validated, with
/// its `prompt_cache_hit` share where it gives one (a share: 0 to 1).
fn checked_profiles(lf: &str, latency: LatencyFile) -> Result<Profiles, CatalogError> {
    let mut profiles = BTreeMap::new();
    let mut shares = BTreeMap::new();
    let mut reasoning = BTreeMap::new();
    for (name, raw) in latency.profiles {
        if let Some(efforts) = &raw.reasoning_tokens {
            reasoning::check_tokens(efforts).map_err(|(field, m)| {
                invalid(lf, format!("profiles.{name}.reasoning_tokens{field}"), m)
            })?;
            if matches!(raw.kind, ProfileKind::HeavyTail) {
                reasoning.insert(name.clone(), efforts.clone());
            }
        }
        if let Some(share) = raw.prompt_cache_hit {
            if !(0.0..=1.0).contains(&share) {
                return Err(invalid(
                    lf,
                    format!("profiles.{name}.prompt_cache_hit"),
                    format!("{} is outside [0, 1]", crate::limits::num(share)),
                ));
            }
            shares.insert(name.clone(), share);
        }
        let profile = raw
            .into_profile()
            .map_err(|(field, m)| invalid(lf, format!("profiles.{name}.{field}"), m))?;
        profile
            .check()
            .map_err(|(field, m)| invalid(lf, format!("profiles.{name}.{field}"), m))?;
        profiles.insert(name, profile);
    }
    Ok(Profiles {
        profiles,
        shares,
        reasoning,
    })
}

/// The tier sets of `tf`: the default set exists, and every set lists tiers, each once, each
/// giving limits for every model's family, each limit within its bounds.
fn check_tiers(tf: &str, tiers: &TiersFile, models: &[ModelEntry]) -> Result<(), CatalogError> {
    if !tiers.sets.contains_key(&tiers.default_set) {
        return Err(invalid(
            tf,
            "default_set",
            format!("no set `{}`", tiers.default_set),
        ));
    }
    for (set_name, set) in &tiers.sets {
        if set.tier.is_empty() {
            return Err(invalid(
                tf,
                format!("sets.{set_name}.tier"),
                "no tiers listed",
            ));
        }
        for family in set.families.keys() {
            if !set.tier.iter().any(|t| t.limits.contains_key(family)) {
                return Err(invalid(
                    tf,
                    format!("sets.{set_name}.families.{family}"),
                    format!("no tier of set `{set_name}` gives limits for `{family}`"),
                ));
            }
        }
        for (i, tier) in set.tier.iter().enumerate() {
            // A second tier of one number would hide the first (lookups take the first).
            if set.tier[..i].iter().any(|t| t.tier == tier.tier) {
                return Err(invalid(
                    tf,
                    format!("sets.{set_name}.tier[{i}].tier"),
                    format!("tier {} is listed twice in set `{set_name}`", tier.tier),
                ));
            }
            check_tier(tf, &format!("sets.{set_name}.tier[{i}]"), tier, models)?;
        }
    }
    Ok(())
}

/// One tier (at field path `at` of `tf`): limits for every model's family, each within bounds.
fn check_tier(tf: &str, at: &str, tier: &Tier, models: &[ModelEntry]) -> Result<(), CatalogError> {
    for m in models {
        if !tier.limits.contains_key(&m.limits) {
            return Err(invalid(
                tf,
                format!("{at}.limits"),
                format!("no limits for `{}` (used by model `{}`)", m.limits, m.id),
            ));
        }
    }
    for (family, l) in &tier.limits {
        for (name, v, max) in [
            ("rpm", Some(l.rpm), MAX_RPM),
            ("tpm", Some(l.tpm), MAX_TPM),
            ("rpd", l.rpd, MAX_RPM),
        ] {
            match v {
                Some(v) if v == 0 || v > max => {
                    return Err(invalid(
                        tf,
                        format!("{at}.limits.{family}.{name}"),
                        format!("{v} is outside [1, {max}]"),
                    ))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Every price of `pf` within [0, MAX_PRICE].
fn check_prices(pf: &str, prices: &PricesFile) -> Result<(), CatalogError> {
    for (name, p) in &prices.models {
        for (field, v) in [
            ("input", Some(p.input)),
            ("cached_input", p.cached_input),
            ("output", Some(p.output)),
        ] {
            if let Some(v) = v.filter(|v| !(0.0..=MAX_PRICE).contains(v)) {
                return Err(invalid(
                    pf,
                    format!("models.{name}.{field}"),
                    format!(
                        "{} is outside [0, {MAX_PRICE}] USD per 1M tokens",
                        crate::limits::num(v)
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl Catalog {
    /// The data embedded at build time.
    pub fn embedded() -> Self {
        Self::from_texts(
            [
                ("mocks/models.toml", EMBEDDED_MODELS),
                ("mocks/tiers.toml", EMBEDDED_TIERS),
                ("mocks/latency.toml", EMBEDDED_LATENCY),
                ("mocks/prices.toml", EMBEDDED_PRICES),
            ]
            .map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .expect("the embedded mocks/ files are checked by the tests")
    }

    /// The embedded data with [`UNLIMITED_TIERS`] as the only tier set.
    pub fn unlimited() -> Self {
        Self::from_texts(
            [
                ("mocks/models.toml", EMBEDDED_MODELS),
                ("unlimited tiers", UNLIMITED_TIERS),
                ("mocks/latency.toml", EMBEDDED_LATENCY),
                ("mocks/prices.toml", EMBEDDED_PRICES),
            ]
            .map(|(n, t)| (n.to_string(), t.to_string())),
        )
        .expect("the unlimited tier set fits the embedded models")
    }

    /// Reads `models.toml`, `tiers.toml`, `latency.toml` and `prices.toml` from `dir`; a file that
    /// is not there is taken from the embedded copy. Without a `models.toml` of its own, the
    /// folder gets the shipped models less the entries added after the first ones (those with
    /// their own `as_of`) that its `latency.toml` or `tiers.toml` does not cover: a folder made
    /// for gpt-4o before the catalog grew keeps loading, and names only the models it serves.
    pub fn load_dir(dir: &Path) -> Result<Self, CatalogError> {
        let read = |name: &str, embedded: &str| -> Result<(String, String), CatalogError> {
            let path: PathBuf = dir.join(name);
            if path.exists() {
                let text = crate::limits::read_text(&path, crate::limits::MAX_TEXT_FILE_BYTES)
                    .map_err(|message| CatalogError::Parse {
                        file: path.display().to_string(),
                        message,
                    })?;
                Ok((path.display().to_string(), text))
            } else {
                Ok((format!("mocks/{name} (embedded)"), embedded.to_string()))
            }
        };
        let prune = !dir.join("models.toml").exists();
        let mut catalog = Self::build(
            [
                read("models.toml", EMBEDDED_MODELS)?,
                read("tiers.toml", EMBEDDED_TIERS)?,
                read("latency.toml", EMBEDDED_LATENCY)?,
                read("prices.toml", EMBEDDED_PRICES)?,
            ],
            prune,
        )?;
        let own = |name: &str| {
            let path = dir.join(name);
            path.exists().then(|| path.display().to_string())
        };
        catalog.tiers_file = own("tiers.toml");
        catalog.latency_file = own("latency.toml");
        Ok(catalog)
    }

    /// Parses the four files (given as `(name, text)` in the order models, tiers, latency, prices)
    /// and checks that they refer to each other correctly.
    pub fn from_texts(files: [(String, String); 4]) -> Result<Self, CatalogError> {
        Self::build(files, false)
    }

    /// [`Catalog::from_texts`]; with `prune`, the later model entries (with their own `as_of`)
    /// that the profiles or tier sets do not cover are left out instead of refused.
    fn build(files: [(String, String); 4], prune: bool) -> Result<Self, CatalogError> {
        let [(mf, mt), (tf, tt), (lf, lt), (pf, pt)] = files;
        let mut models: ModelsFile = parse(&mf, &mt)?;
        let tiers: TiersFile = parse(&tf, &tt)?;
        let latency: LatencyFile = parse(&lf, &lt)?;
        let prices: PricesFile = parse(&pf, &pt)?;

        let p = checked_profiles(&lf, latency)?;
        if prune {
            models.model.retain(|m| {
                let covered = p.profiles.contains_key(&m.profile)
                    && tiers
                        .sets
                        .values()
                        .all(|set| set.tier.iter().all(|t| t.limits.contains_key(&m.limits)));
                m.as_of.is_none() || covered
            });
        }
        models::check_models(&mf, &lf, &models.model, &p)?;
        check_tiers(&tf, &tiers, &models.model)?;
        check_prices(&pf, &prices)?;
        Ok(Catalog {
            models: models.model,
            profiles: p.profiles,
            prompt_cache_shares: p.shares,
            reasoning_tokens: p.reasoning,
            default_tier_set: tiers.default_set,
            tier_sets: tiers.sets,
            tiers_file: None,
            latency_file: None,
            prices: PriceTable {
                version: prices.version,
                as_of: prices.as_of,
                source: prices.source,
                models: prices
                    .models
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            Price {
                                input: v.input,
                                cached_input: v.cached_input,
                                output: v.output,
                            },
                        )
                    })
                    .collect(),
            },
        })
    }

    /// The profile serving every call in `latency` (`--latency-ms`), writing the `fixed`
    /// profile's completion length (100 tokens if the data has no such profile).
    pub fn fixed_profile(&self, latency: std::time::Duration) -> Profile {
        let completion_tokens = match self.profiles.get("fixed") {
            Some(Profile::Fixed {
                completion_tokens, ..
            }) => *completion_tokens,
            _ => 100,
        };
        Profile::Fixed {
            as_of: String::new(),
            source: "--latency-ms".into(),
            latency_ms: latency.as_millis() as u64,
            completion_tokens,
        }
    }

    /// The share of eligible calls of `model` that hit OpenAI's prompt cache: its profile's
    /// `prompt_cache_hit`, 0 when the profile gives none or the model is unknown.
    pub fn prompt_cache_hit(&self, model: &str) -> f64 {
        self.model(model)
            .and_then(|m| self.prompt_cache_shares.get(&m.profile))
            .copied()
            .unwrap_or(0.0)
    }

    pub fn model(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The limits of `model` at `tier` of `set`: `Err` for an unknown set or tier, `Ok(None)`
    /// for a model the catalog does not know or that has no limits at that tier.
    pub fn limits(&self, set: &str, tier: u8, model: &str) -> Result<Option<Limits>, String> {
        let family = self
            .model(model)
            .map(|m| m.limits.as_str())
            .unwrap_or_default();
        Ok(self.tier(set, tier)?.limits.get(family).copied())
    }

    /// The limits of every rate-limit family at `tier` of `set`.
    pub fn tier(&self, set: &str, tier: u8) -> Result<&Tier, String> {
        let s = self.tier_sets.get(set).ok_or_else(|| {
            format!(
                "unknown tier set `{set}` (known: {})",
                self.tier_sets
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
        s.tier.iter().find(|t| t.tier == tier).ok_or_else(|| {
            format!(
                "tier set `{set}` has no tier {tier} (it has {})",
                s.tier
                    .iter()
                    .map(|t| t.tier.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }
}

pub mod efforts;
mod models;
pub mod provenance;

#[cfg(test)]
mod tests;
