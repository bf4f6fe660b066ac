//! What judging a claim yields: a verdict with its figure, cause and evidence. Shared by the run's
//! judge (`report::claims`) and the planner's (`plan::claims`), so both print and store the same.

use serde::{Deserialize, Serialize};

/// A claim's judgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    Holds,
    Fails,
    NotMeasured,
}

impl Judgement {
    pub fn label(self) -> &'static str {
        match self {
            Judgement::Holds => "holds",
            Judgement::Fails => "fails",
            Judgement::NotMeasured => "not measured by this run",
        }
    }

    /// Holds if `holds`, else fails.
    pub fn holds_if(holds: bool) -> Self {
        if holds {
            Judgement::Holds
        } else {
            Judgement::Fails
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClaimVerdict {
    pub id: String,
    pub statement: String,
    /// The case the evidence comes from (`burst-50 tier 2`), if any.
    pub case: Option<String>,
    pub measured: String,
    pub verdict: Judgement,
    /// Why it fails: `model latency`, `rate limits`, or both.
    pub cause: Option<String>,
    pub evidence: String,
}

impl ClaimVerdict {
    /// A verdict on `claim` (its id and statement), from `case` if one.
    pub fn on(
        claim: &super::Claim,
        case: Option<String>,
        measured: String,
        verdict: Judgement,
        cause: Option<String>,
        evidence: String,
    ) -> Self {
        ClaimVerdict {
            id: claim.id.clone(),
            statement: claim.statement.clone(),
            case,
            measured,
            verdict,
            cause,
            evidence,
        }
    }
}
