//! What a claim's check names: its numbers by field (range-checked when the file is parsed)
//! and its models (each must have a price).

use super::Bound;
use super::{CallCost, Check, Saving, Switch};

impl Check {
    /// Every number of the claim, by field.
    pub(super) fn numbers(&self) -> Vec<(&'static str, f64)> {
        match self {
            Check::Latency {
                load, min_s, max_s, ..
            } => vec![
                ("users", load.users as f64),
                ("min_s", *min_s),
                ("max_s", *max_s),
            ],
            Check::TokensPerPost {
                value, tolerance, ..
            }
            | Check::CostPerCall(CallCost {
                value, tolerance, ..
            })
            | Check::CostPerPost {
                bound: Bound::Near { value, tolerance },
                ..
            } => {
                vec![("value", *value), ("tolerance", *tolerance)]
            }
            Check::CostPerPost {
                bound: Bound::AtMost(v),
                ..
            } => vec![("at_most", *v)],
            Check::TokensPerBatch {
                load,
                value,
                tolerance,
            } => vec![
                ("users", load.users as f64),
                ("value", *value),
                ("tolerance", *tolerance),
            ],
            Check::ModelSwitch(Switch {
                measure,
                value,
                tolerance,
                ..
            }) => {
                let mut v = vec![("value", *value), ("tolerance", *tolerance)];
                if let Saving::MonthlyUsd {
                    users,
                    posts_per_day,
                } = measure
                {
                    v.push(("users", *users as f64));
                    v.push(("posts_per_day", *posts_per_day as f64));
                }
                v
            }
            Check::NeedsTier { users, .. } => vec![("users", *users as f64)],
            Check::TierLimit { tpm, .. } => vec![("tpm", *tpm as f64)],
            Check::Elsewhere(_) => vec![],
            Check::ServiceOwnTime { users, max_share } => users
                .iter()
                .map(|u| ("users", *u as f64))
                .chain([("max_share", *max_share)])
                .collect(),
            Check::Caching { min_share } => vec![("min_share", *min_share)],
            Check::Queuing { users, max_s } => vec![("users", *users as f64), ("max_s", *max_s)],
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

    /// Every model the claim names, with the field that names it.
    pub(super) fn models(&self) -> Vec<(&'static str, &str)> {
        match self {
            Check::CostPerPost { model, .. }
            | Check::CostPerCall(CallCost { model, .. })
            | Check::CostPerBatch { model, .. }
            | Check::MonthlyCost { model, .. }
            | Check::TierLimit { model, .. } => vec![("model", model)],
            Check::Latency { load, .. } | Check::TokensPerBatch { load, .. } => {
                vec![("model", &load.model)]
            }
            Check::TokensPerPost { model, .. } => {
                model.iter().map(|m| ("model", m.as_str())).collect()
            }
            Check::ModelSwitch(Switch { from, to, .. }) => vec![("from", from), ("to", to)],
            Check::NeedsTier { .. }
            | Check::Elsewhere(_)
            | Check::ServiceOwnTime { .. }
            | Check::Caching { .. }
            | Check::Queuing { .. } => vec![],
        }
    }
}
