//! Claims files: statements from the planning note (or a team's own file) with the check that
//! settles each, parsed and range-checked. Pure data: `report::claims` judges them against a
//! run, and the planner sets their monthly tables beside its own.

use serde::Deserialize;

use crate::metrics::Percentiles;
use crate::openai::catalog::PriceTable;

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
    CostPerPost,
    CostPerBatch,
    MonthlyCost,
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
    statement: String,
    kind: Kind,
    scenario: Option<String>,
    min_s: Option<f64>,
    max_s: Option<f64>,
    percentile: Option<Pct>,
    model: Option<String>,
    users: Option<u64>,
    value: Option<f64>,
    tolerance: Option<f64>,
    table: Option<Vec<(u64, u64, f64)>>,
}

impl RawClaim {
    fn into_claim(self) -> Result<Claim, String> {
        fn need<T>(v: Option<T>, field: &str) -> Result<T, String> {
            v.ok_or_else(|| format!("field `{field}` is required for this kind"))
        }
        let check = match self.kind {
            Kind::Latency => Check::Latency {
                scenario: need(self.scenario, "scenario")?,
                min_s: need(self.min_s, "min_s")?,
                max_s: need(self.max_s, "max_s")?,
                percentile: self.percentile.unwrap_or(Pct::P95),
            },
            Kind::TokensPerPost => Check::TokensPerPost {
                value: need(self.value, "value")?,
                tolerance: need(self.tolerance, "tolerance")?,
            },
            Kind::CostPerPost => Check::CostPerPost {
                model: need(self.model, "model")?,
                value: need(self.value, "value")?,
                tolerance: need(self.tolerance, "tolerance")?,
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
        };
        Ok(Claim {
            id: self.id,
            statement: self.statement,
            check,
        })
    }
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

#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Latency {
        scenario: String,
        min_s: f64,
        max_s: f64,
        percentile: Pct,
    },
    TokensPerPost {
        value: f64,
        tolerance: f64,
    },
    CostPerPost {
        model: String,
        value: f64,
        tolerance: f64,
    },
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
            Check::TokensPerPost { tolerance, .. }
            | Check::CostPerPost { tolerance, .. }
            | Check::CostPerBatch { tolerance, .. }
            | Check::MonthlyCost { tolerance, .. }
                if !(0.0..1.0).contains(tolerance) =>
            {
                return bad("tolerance must be a share in [0, 1)")
            }
            _ => {}
        }
    }
    Ok(c)
}

/// The largest number a claim may state (seconds, tokens, USD, users, posts a day).
const MAX_CLAIM_NUMBER: f64 = 1e12;

impl Check {
    /// Every number of the claim, by field.
    fn numbers(&self) -> Vec<(&'static str, f64)> {
        match self {
            Check::Latency { min_s, max_s, .. } => vec![("min_s", *min_s), ("max_s", *max_s)],
            Check::TokensPerPost { value, tolerance }
            | Check::CostPerPost {
                value, tolerance, ..
            } => {
                vec![("value", *value), ("tolerance", *tolerance)]
            }
            Check::CostPerBatch {
                users,
                value,
                tolerance,
                ..
            } => vec![
                ("users", *users as f64),
                ("value", *value),
                ("tolerance", *tolerance),
            ],
            Check::MonthlyCost {
                tolerance, table, ..
            } => std::iter::once(("tolerance", *tolerance))
                .chain(table.iter().flat_map(|(users, per_day, usd)| {
                    [
                        ("table", *users as f64),
                        ("table", *per_day as f64),
                        ("table", *usd),
                    ]
                }))
                .collect(),
        }
    }

    fn model(&self) -> Option<&str> {
        match self {
            Check::CostPerPost { model, .. }
            | Check::CostPerBatch { model, .. }
            | Check::MonthlyCost { model, .. } => Some(model),
            Check::Latency { .. } | Check::TokensPerPost { .. } => None,
        }
    }
}

impl ClaimsFile {
    /// Every model a claim names must have a price: a claim on an unknown model (a typo)
    /// would otherwise read as "not measured" for ever.
    pub fn check_models(&self, file: &str, prices: &PriceTable) -> Result<(), String> {
        for (i, claim) in self.claim.iter().enumerate() {
            if let Some(model) = claim.check.model() {
                if !prices.models.contains_key(model) {
                    return Err(format!(
                        "{file}: claim[{i}] ({}): field `model`: unknown model `{model}` (priced: {})",
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
mod tests {
    use super::*;

    #[test]
    fn a_nan_or_infinite_number_in_a_claim_names_its_field() {
        let claim = |min: &str, max: &str| {
            format!("[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nscenario = \"b\"\nmin_s = {min}\nmax_s = {max}\n")
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
    fn the_embedded_claims_parse() {
        let c = parse("scenarios/claims.toml", EMBEDDED_CLAIMS).unwrap();
        assert_eq!(c.claim.len(), 9);
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
        let e = parse("c.toml", "[[claim]]\nid = \"x\"\nstatement = \"s\"\nkind = \"latency\"\nscenario = \"b\"\nmin_s = 5\nmax_s = 2\npercentile = \"p95\"\n").unwrap_err();
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
}
