//! `postload check RESULT.json --gate FILE`: the gates over a saved result.

use super::{apply_gates, load_result};
use crate::{cli, config, Outcome};

/// `postload check RESULT.json --gate FILE`.
pub fn check(args: cli::CheckArgs) -> anyhow::Result<Outcome> {
    let gates = config::gates(&args.gate)?;
    let result = load_result(&args.result)?;
    let junit = args.junit.unwrap_or_else(|| {
        args.result
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("junit.xml")
    });
    apply_gates(&gates, &result, &junit, false, "")
}
