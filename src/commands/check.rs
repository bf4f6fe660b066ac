//! `postload check RESULT.json --gate FILE`: the gates over a saved result; `--suggest FILE`
//! writes a gate fitted to it instead.

use super::{apply_gates, load_result};
use crate::{cli, config, Outcome};

/// `postload check RESULT.json --gate FILE`, or `--suggest FILE`: a gate fitted to the result.
pub fn check(args: cli::CheckArgs) -> anyhow::Result<Outcome> {
    if let Some(out) = &args.suggest {
        let result = load_result(&args.result)?;
        let text = crate::gate::suggest::suggest(&result, &args.result.display().to_string())
            .map_err(anyhow::Error::msg)?;
        crate::report::write_atomic(out, text.as_bytes())?;
        outln!("gate: {} (review it before use)", out.display());
        return Ok(Outcome::Success);
    }
    let gate = args
        .gate
        .as_ref()
        .ok_or_else(|| anyhow::Error::msg("check: give --gate FILE (or --suggest FILE)"))?;
    let gates = config::gates(gate)?;
    let result = load_result(&args.result)?;
    let junit = args.junit.unwrap_or_else(|| {
        args.result
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("junit.xml")
    });
    apply_gates(&gates, &result, &junit, args.verbosity.quiet, "")
}
