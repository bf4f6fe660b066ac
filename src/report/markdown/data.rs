//! The report's one "Data" paragraph: each latency profile and tier set the cases used, with its
//! date, source and origin (shipped, or a `--mocks` folder's file such as `calibrate` writes), so
//! a reader can tell measured-against-the-docs from measured-against-an-account.

use crate::report::{ProfileInfo, RunResult};

/// `Data: Latency profile gpt-4o (as of ...; source: ...; shipped). Tier set ... .`, or `None`
/// for a run without cases.
pub(super) fn paragraph(r: &RunResult) -> Option<String> {
    let profiles = distinct(
        r.cases
            .iter()
            .filter_map(|c| c.inputs.latency_profile.clone()),
    );
    // A result written before tier sets carried their date and source names the set only.
    let sets = distinct(r.cases.iter().map(|c| {
        c.inputs
            .tier_set_info
            .clone()
            .unwrap_or_else(|| ProfileInfo {
                name: c.inputs.tier_set.clone(),
                as_of: String::new(),
                source: String::new(),
                from: String::new(),
            })
    }));
    let sentences: Vec<String> = [
        named("Latency profile", &profiles),
        named("Tier set", &sets),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!sentences.is_empty()).then(|| format!("Data: {}", sentences.join(" ")))
}

/// Each item once, in the order the cases first use it, as the report prints it.
fn distinct(items: impl Iterator<Item = ProfileInfo>) -> Vec<String> {
    let mut seen: Vec<ProfileInfo> = Vec::new();
    for p in items {
        if !seen.contains(&p) {
            seen.push(p);
        }
    }
    seen.iter().map(ProfileInfo::text).collect()
}

/// `Latency profile X (...).`, `Latency profiles X (...), Y (...).`, or `None` for none: a
/// sentence each, since a calibrated source has commas and semicolons of its own.
fn named(what: &str, list: &[String]) -> Option<String> {
    let plural = if list.len() > 1 { "s" } else { "" };
    (!list.is_empty()).then(|| format!("{what}{plural} {}.", list.join(", ")))
}
