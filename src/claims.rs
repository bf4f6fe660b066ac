//! Claims files: statements from the planning note (or a team's own file) with the check that
//! settles each, parsed and range-checked. Pure data: `report::claims` judges them against a
//! run, and the planner sets their monthly tables beside its own.

use serde::Deserialize;

use crate::metrics::Percentiles;
use crate::openai::catalog::PriceTable;

mod numbers;
mod verdict;
pub use verdict::{ClaimVerdict, Judgement};

pub const EMBEDDED_CLAIMS: &str = include_str!("../scenarios/claims.toml");

#[derive(Debug, Clone, PartialEq)]
pub struct ClaimsFile {
    pub source: String,
    pub claim: Vec<Claim>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    pub id: String,
    pub statement: String,
    pub check: Check,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Latency,
    TokensPerPost,
    TokensPerBatch,
    CostPerPost,
    CostPerCall,
    CostPerBatch,
    MonthlyCost,
    ModelSwitch,
    NeedsTier,
    TierLimit,
    Service,
    Planner,
    Caching,
    Queuing,
}

/// A claim as written: one flat table, so TOML errors keep their line and unknown fields are
/// refused (serde cannot do either through a flattened tagged enum).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    source: String,
    claim: Vec<RawClaim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClaim {
    id: String,
    /// The note's own words, so a reader can find the claim there.
    #[allow(dead_code)]
    quote: Option<String>,
    statement: String,
    kind: Kind,
    /// Refused with a hint: a claim names its load (`users`, `model`), not a scenario.
    scenario: Option<String>,
    min_s: Option<f64>,
    max_s: Option<f64>,
    percentile: Option<Pct>,
    model: Option<String>,
    users: Option<u64>,
    value: Option<f64>,
    tolerance: Option<f64>,
    at_most: Option<f64>,
    table: Option<Vec<(u64, u64, f64)>>,
    call: Option<CallName>,
    from: Option<String>,
    to: Option<String>,
    measure: Option<SwitchMeasure>,
    posts_per_day: Option<u64>,
    tier: Option<u8>,
    tpm: Option<u64>,
    min_share: Option<f64>,
    max_share: Option<f64>,
}

impl RawClaim {
    fn into_claim(mut self) -> Result<Claim, String> {
        if self.scenario.is_some() {
            return Err(
                "field `scenario`: a claim names the load it is about, not a scenario: \
                 `users` (a burst of that many users posting at once) and `model`"
                    .into(),
            );
        }
        let (id, statement) = (
            std::mem::take(&mut self.id),
            std::mem::take(&mut self.statement),
        );
        let check = self.check()?;
        Ok(Claim {
            id,
            statement,
            check,
        })
    }

    /// The check of the claim's kind, with the fields that kind needs.
    fn check(self) -> Result<Check, String> {
        Ok(match self.kind {
            Kind::Latency => Check::Latency {
                load: BurstOf {
                    users: need(self.users, "users")?,
                    model: need(self.model, "model")?,
                },
                min_s: self.min_s.unwrap_or(0.0),
                max_s: need(self.max_s, "max_s")?,
                percentile: self.percentile.unwrap_or(Pct::P95),
            },
            Kind::TokensPerPost => Check::TokensPerPost {
                model: self.model,
                value: need(self.value, "value")?,
                tolerance: need(self.tolerance, "tolerance")?,
            },
            Kind::TokensPerBatch => Check::TokensPerBatch {
                load: BurstOf {
                    users: need(self.users, "users")?,
                    model: need(self.model, "model")?,
                },
                value: need(self.value, "value")?,
                tolerance: need(self.tolerance, "tolerance")?,
            },
            Kind::CostPerPost => self.cost_per_post()?,
            Kind::CostPerCall => Check::CostPerCall(CallCost {
                model: need(self.model, "model")?,
                call: need(self.call, "call")?,
                value: need(self.value, "value")?,
                tolerance: need(self.tolerance, "tolerance")?,
            }),
            Kind::ModelSwitch => self.model_switch()?,
            Kind::NeedsTier => Check::NeedsTier {
                users: need(self.users, "users")?,
                tier: need(self.tier, "tier")?,
            },
            Kind::TierLimit => Check::TierLimit {
                model: need(self.model, "model")?,
                tier: need(self.tier, "tier")?,
                tpm: need(self.tpm, "tpm")?,
            },
            Kind::Service => match self.max_share {
                Some(max_share) => Check::ServiceOwnTime {
                    users: self.users,
                    max_share,
                },
                None => Check::Elsewhere(Mode::Service),
            },
            Kind::Planner => Check::Elsewhere(Mode::Planner),
            Kind::Caching => Check::Caching {
                min_share: need(self.min_share, "min_share")?,
            },
            Kind::Queuing => Check::Queuing {
                users: need(self.users, "users")?,
                max_s: need(self.max_s, "max_s")?,
            },
            Kind::CostPerBatch => Check::CostPerBatch {
                model: need(self.model, "model")?,
                users: need(self.users, "users")?,
                value: need(self.value, "value")?,
                tolerance: need(self.tolerance, "tolerance")?,
            },
            Kind::MonthlyCost => Check::MonthlyCost {
                model: need(self.model, "model")?,
                tolerance: need(self.tolerance, "tolerance")?,
                table: need(self.table, "table")?,
            },
        })
    }

    /// A cost per post: near a value, or at most a bound.
    fn cost_per_post(self) -> Result<Check, String> {
        Ok(Check::CostPerPost {
            model: need(self.model, "model")?,
            bound: match (self.at_most, self.value) {
                (Some(at_most), None) => Bound::AtMost(at_most),
                (Some(_), Some(_)) => {
                    return Err("give `value` and `tolerance`, or `at_most`, not both".into())
                }
                (None, value) => Bound::Near {
                    value: need(value, "value")?,
                    tolerance: need(self.tolerance, "tolerance")?,
                },
            },
        })
    }

    /// A model switch's saving, in one of three measures.
    fn model_switch(self) -> Result<Check, String> {
        Ok(Check::ModelSwitch(Switch {
            from: need(self.from, "from")?,
            to: need(self.to, "to")?,
            measure: match need(self.measure, "measure")? {
                SwitchMeasure::MonthlySavingUsd => Saving::MonthlyUsd {
                    users: need(self.users, "users")?,
                    posts_per_day: need(self.posts_per_day, "posts_per_day")?,
                },
                SwitchMeasure::SavingShare => Saving::Share,
                SwitchMeasure::CheaperTimes => Saving::Times,
            },
            value: need(self.value, "value")?,
            tolerance: need(self.tolerance, "tolerance")?,
        }))
    }
}

fn need<T>(v: Option<T>, field: &str) -> Result<T, String> {
    v.ok_or_else(|| format!("field `{field}` is required for this kind"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pct {
    P50,
    P90,
    P95,
    P99,
    Max,
}

impl Pct {
    pub fn of(self, p: &Percentiles) -> Option<f64> {
        match self {
            Pct::P50 => p.p50,
            Pct::P90 => p.p90,
            Pct::P95 => p.p95,
            Pct::P99 => p.p99,
            Pct::Max => p.max,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Pct::P50 => "p50",
            Pct::P90 => "p90",
            Pct::P95 => "p95",
            Pct::P99 => "p99",
            Pct::Max => "max",
        }
    }
}

/// The load a claim is about: a burst of `users` users posting at once on `model`.
#[derive(Debug, Clone, PartialEq)]
pub struct BurstOf {
    pub users: u64,
    pub model: String,
}

/// How a measured figure is compared with the claimed one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// Within `tolerance` (a share) of `value`.
    Near { value: f64, tolerance: f64 },
    /// At most this (a ceiling a team sets itself).
    AtMost(f64),
}

/// The two calls of a post, as claims name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallName {
    ImagePrompt,
    Caption,
}

impl CallName {
    /// The call's key in result.json (`tokens.by_call`, `call_latency_ms`).
    pub fn key(self) -> &'static str {
        match self {
            CallName::ImagePrompt => "image_prompt",
            CallName::Caption => "caption",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SwitchMeasure {
    SavingShare,
    CheaperTimes,
    MonthlySavingUsd,
}

/// What a model switch saves, as the note states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Saving {
    /// 1 - new $/post ÷ old $/post ("90 % savings").
    Share,
    /// old $/post ÷ new $/post ("17x cheaper").
    Times,
    /// (old - new) $/post × users × posts a day × 30 ("$119.85/month").
    MonthlyUsd { users: u64, posts_per_day: u64 },
}

/// What settles a claim a run against the stub cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A run against the team's service (`--target URL --with-stub`).
    Service,
    /// `postload plan` (its caching and queue results, in plan.md).
    Planner,
}

/// $ per successful call of one kind on `model`, within `tolerance` of `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallCost {
    pub model: String,
    pub call: CallName,
    pub value: f64,
    pub tolerance: f64,
}

/// What switching `from` one model `to` another saves, within `tolerance` of `value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Switch {
    pub from: String,
    pub to: String,
    pub measure: Saving,
    pub value: f64,
    pub tolerance: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Latency {
        load: BurstOf,
        min_s: f64,
        max_s: f64,
        percentile: Pct,
    },
    TokensPerPost {
        /// Any model if `None`.
        model: Option<String>,
        value: f64,
        tolerance: f64,
    },
    TokensPerBatch {
        load: BurstOf,
        value: f64,
        tolerance: f64,
    },
    CostPerPost {
        model: String,
        bound: Bound,
    },
    CostPerCall(CallCost),
    CostPerBatch {
        model: String,
        users: u64,
        value: f64,
        tolerance: f64,
    },
    MonthlyCost {
        model: String,
        tolerance: f64,
        table: Vec<(u64, u64, f64)>,
    },
    ModelSwitch(Switch),
    /// A burst of `users` fails below `tier` and succeeds from it: one verdict per case.
    NeedsTier {
        users: u64,
        tier: u8,
    },
    /// The tokens-per-minute limit of `model` at `tier`, against the tier set the run used.
    TierLimit {
        model: String,
        tier: u8,
        tpm: u64,
    },
    /// In service mode with the stub alongside: the service's own time (its mean post latency
    /// minus the OpenAI calls inside a post) at most `max_share` of the mean post latency, with
    /// every post answered, on bursts of `users` (every service case if `None`).
    ServiceOwnTime {
        users: Option<u64>,
        max_share: f64,
    },
    /// `postload plan`: caching saves at least `min_share` of the cost per post, at the plan's
    /// response-cache hit share, on the lowest tier where every post succeeds uncached.
    Caching {
        min_share: f64,
    },
    /// `postload plan`: where SDK retries lose posts of a burst of `users`, a client queue makes
    /// every post succeed with p95 at most `max_s`.
    Queuing {
        users: u64,
        max_s: f64,
    },
    /// Settled by another mode; a run against the stub says which.
    Elsewhere(Mode),
}

/// Parses a claims file; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<ClaimsFile, String> {
    let raw: RawFile =
        toml::from_str(text).map_err(|e| format!("{file}: {}", e.to_string().trim_end()))?;
    let mut claims = Vec::new();
    for (i, r) in raw.claim.into_iter().enumerate() {
        let id = r.id.clone();
        claims.push(
            r.into_claim()
                .map_err(|m| format!("{file}: claim[{i}] ({id}): {m}"))?,
        );
    }
    let c = ClaimsFile {
        source: raw.source,
        claim: claims,
    };
    for (i, claim) in c.claim.iter().enumerate() {
        let bad = |m: &str| Err(format!("{file}: claim[{i}] ({}): {m}", claim.id));
        for (field, v) in claim.check.numbers() {
            if !(v.is_finite() && (0.0..=MAX_CLAIM_NUMBER).contains(&v)) {
                return bad(&format!(
                    "field `{field}`: {} is not a number from 0 to {}",
                    crate::limits::num(v),
                    crate::limits::num(MAX_CLAIM_NUMBER)
                ));
            }
        }
        match &claim.check {
            Check::Latency { min_s, max_s, .. } if min_s > max_s => {
                return bad("min_s must not exceed max_s")
            }
            _ => {}
        }
        if claim
            .check
            .numbers()
            .iter()
            .any(|(field, v)| *field == "tolerance" && *v >= 1.0)
        {
            return bad("tolerance must be a share in [0, 1)");
        }
        if let Some((field, _)) = claim
            .check
            .numbers()
            .into_iter()
            .find(|(field, v)| field.ends_with("_share") && *v > 1.0)
        {
            return bad(&format!("field `{field}`: a share is from 0 to 1"));
        }
    }
    Ok(c)
}

/// The largest number a claim may state (seconds, tokens, USD, users, posts a day).
const MAX_CLAIM_NUMBER: f64 = 1e12;

impl ClaimsFile {
    /// Every model a claim names must have a price: a claim on an unknown model (a typo)
    /// would otherwise read as "not measured" for ever.
    pub fn check_models(&self, file: &str, prices: &PriceTable) -> Result<(), String> {
        for (i, claim) in self.claim.iter().enumerate() {
            for (field, model) in claim.check.models() {
                if !prices.models.contains_key(model) {
                    return Err(format!(
                        "{file}: claim[{i}] ({}): field `{field}`: unknown model `{model}` (priced: {})",
                        claim.id,
                        prices.models.keys().cloned().collect::<Vec<_>>().join(", ")
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
