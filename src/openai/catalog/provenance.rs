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

#[cfg(test)]
mod tests {
    use super::*;

    /// The shipped catalog's profile and tier set say `shipped`; a `--mocks` folder's name its
    /// file; an unknown name is none.
    #[test]
    fn where_a_profile_or_tier_set_came_from() {
        let mut c = Catalog::embedded();
        let p = ProfileInfo::latency_profile(&c, "gpt-4o").unwrap();
        assert_eq!((p.name.as_str(), p.from.as_str()), ("gpt-4o", SHIPPED));
        assert!(!p.as_of.is_empty() && !p.source.is_empty(), "{p:?}");
        let t = ProfileInfo::tier_set(&c, "openai-2025").unwrap();
        assert_eq!((t.name.as_str(), t.from.as_str()), ("openai-2025", SHIPPED));
        assert!(!t.as_of.is_empty(), "{t:?}");
        assert_eq!(ProfileInfo::latency_profile(&c, "nope"), None);
        assert_eq!(ProfileInfo::tier_set(&c, "nope"), None);
        c.latency_file = Some("mine/latency.toml".into());
        c.tiers_file = Some("mine/tiers.toml".into());
        let p = ProfileInfo::latency_profile(&c, "gpt-4o").unwrap();
        assert_eq!(p.from, "mine/latency.toml");
        assert_eq!(
            ProfileInfo::tier_set(&c, "openai-2025").unwrap().from,
            "mine/tiers.toml"
        );
    }

    /// What the reports print: each part only when known, `shipped` or `from FILE`.
    #[test]
    fn the_printed_provenance_names_only_what_is_known() {
        let info = |as_of: &str, source: &str, from: &str| ProfileInfo {
            name: "gpt-4o".into(),
            as_of: as_of.into(),
            source: source.into(),
            from: from.into(),
        };
        assert_eq!(
            info("2025-06-01", "docs", SHIPPED).text(),
            "gpt-4o (as of 2025-06-01; source: docs; shipped)"
        );
        assert_eq!(
            info("", "host", "m/latency.toml").text(),
            "gpt-4o (source: host; from m/latency.toml)"
        );
        assert_eq!(
            info("2026-12-01", "", "").text(),
            "gpt-4o (as of 2026-12-01)"
        );
        assert_eq!(info("", "", "").text(), "gpt-4o");
        assert_eq!(
            ProfileInfo::fixed(250).text(),
            "fixed 250 ms (source: --latency-ms)"
        );
    }
}
