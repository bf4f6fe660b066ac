//! Where a piece of the catalog came from, as reports and plans record it: a latency profile or
//! tier set with its date and source, and whether it is the shipped data or a `--mocks` folder's
//! file (such as `postload calibrate` writes).

use serde::{Deserialize, Serialize};

use super::Catalog;

/// A dated piece of the mocks/ data a case or plan used (a latency profile or a tier set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProfileInfo {
    pub name: String,
    pub as_of: String,
    pub source: String,
    /// `shipped` (the data built into postload), or the `--mocks` folder's file it was read
    /// from; empty when not recorded or not from a file (`--latency-ms`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
}

impl ProfileInfo {
    /// The latency profile `name` of `catalog`, with where it came from.
    pub fn latency_profile(catalog: &Catalog, name: &str) -> Option<Self> {
        use crate::openai::latency::Profile;
        match catalog.profiles.get(name)? {
            Profile::HeavyTail { as_of, source, .. } | Profile::Fixed { as_of, source, .. } => {
                Some(ProfileInfo {
                    name: name.into(),
                    as_of: as_of.clone(),
                    source: source.clone(),
                    from: from_text(&catalog.latency_file),
                })
            }
        }
    }

    /// `--latency-ms`: every call served in `ms` instead of a profile.
    pub fn fixed(ms: u128) -> Self {
        ProfileInfo {
            name: format!("fixed {ms} ms"),
            as_of: String::new(),
            source: "--latency-ms".into(),
            from: String::new(),
        }
    }

    /// The tier set `name` of `catalog`, with where it came from.
    pub fn tier_set(catalog: &Catalog, name: &str) -> Option<Self> {
        let set = catalog.tier_sets.get(name)?;
        Some(ProfileInfo {
            name: name.into(),
            as_of: set.as_of.clone(),
            source: set.source.clone(),
            from: from_text(&catalog.tiers_file),
        })
    }

    /// `gpt-4o (as of 2025-06-01; source: ...; shipped)`: what the reports print.
    pub fn text(&self) -> String {
        let mut parts = Vec::new();
        if !self.as_of.is_empty() {
            parts.push(format!("as of {}", self.as_of));
        }
        if !self.source.is_empty() {
            parts.push(format!("source: {}", self.source));
        }
        match self.from.as_str() {
            "" => {}
            SHIPPED => parts.push("shipped".into()),
            file => parts.push(format!("from {file}")),
        }
        if parts.is_empty() {
            self.name.clone()
        } else {
            format!("{} ({})", self.name, parts.join("; "))
        }
    }
}

/// [`ProfileInfo::from`] for the data built into postload.
pub const SHIPPED: &str = "shipped";

fn from_text(file: &Option<String>) -> String {
    file.clone().unwrap_or_else(|| SHIPPED.into())
}
