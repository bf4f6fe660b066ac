//! The built-in scenarios as every text says them: one list ([`EMBEDDED`]), one default
//! ([`DEFAULT_SCENARIOS`]).

use super::{DEFAULT_SCENARIOS, EMBEDDED};

/// The built-in scenarios' names, as every text that lists them says them (the CLI's help, the
/// error for an unknown name; the README is tested against it): "burst-50, burst-100, ...".
pub fn built_in_names() -> String {
    EMBEDDED
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `--scenario`'s help, from [`EMBEDDED`] and [`DEFAULT_SCENARIOS`].
pub fn scenario_help() -> String {
    format!(
        "A scenario: a built-in name ({}) or a path to a TOML file. Repeatable. Default: {}, each at the tiers its file names.",
        built_in_names(),
        DEFAULT_SCENARIOS.join(", ")
    )
}

/// `postload run`'s one-line help, naming the default scenarios.
pub fn run_about() -> String {
    format!(
        "Run scenarios (default: {}, against the embedded stub) and write reports/<run-id>/result.json.",
        DEFAULT_SCENARIOS.join(", ")
    )
}
