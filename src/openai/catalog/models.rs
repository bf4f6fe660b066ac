//! models.toml's checks: each model once, with a known profile, its reasoning efforts drawn by
//! that profile, and its output cap within bounds.

use std::collections::BTreeMap;

use super::{invalid, CatalogError, ModelEntry, Profiles};
use crate::openai::reasoning::{self, Effort, ReasoningTokens};

/// The models of `mf`: at least one, each listed once, each naming a profile of `lf`; a
/// reasoning model's efforts each listed once, its default among them, and each drawn by its
/// profile; a model that does not reason on a profile that draws no reasoning.
pub(super) fn check_models(
    mf: &str,
    lf: &str,
    models: &[ModelEntry],
    p: &Profiles,
) -> Result<(), CatalogError> {
    let profiles = &p.profiles;
    if models.is_empty() {
        return Err(invalid(mf, "model", "no models listed"));
    }
    for (i, m) in models.iter().enumerate() {
        if models[..i].iter().any(|o| o.id == m.id) {
            return Err(invalid(
                mf,
                format!("model[{i}].id"),
                format!("model `{}` is listed twice", m.id),
            ));
        }
        if !profiles.contains_key(&m.profile) {
            return Err(invalid(
                mf,
                format!("model[{i}].profile"),
                format!("no profile `{}` in {lf}", m.profile),
            ));
        }
        check_reasoning(mf, lf, i, m, p.reasoning.get(&m.profile))?;
        if let Some(cap) = m.max_output_tokens {
            let most = MAX_OUTPUT_CAP;
            if !(MIN_OUTPUT_CAP..=most).contains(&cap) {
                return Err(invalid(
                    mf,
                    format!("model[{i}].max_output_tokens"),
                    format!("{cap} is outside {MIN_OUTPUT_CAP} to {most}"),
                ));
            }
        }
    }
    Ok(())
}

/// A model's `max_output_tokens` in models.toml: at least the Responses API's floor, at most
/// the most any model writes here (a reasoning model's 128,000).
const MIN_OUTPUT_CAP: u32 = 16;
const MAX_OUTPUT_CAP: u32 = crate::openai::reasoning::MAX_REASONING_TOKENS;

/// Model `m` (entry `i` of `mf`) against the reasoning tokens its profile draws per effort.
fn check_reasoning(
    mf: &str,
    lf: &str,
    i: usize,
    m: &ModelEntry,
    drawn: Option<&BTreeMap<Effort, ReasoningTokens>>,
) -> Result<(), CatalogError> {
    reasoning::check_efforts(&m.reasoning_efforts, m.default_effort, drawn).map_err(
        |(field, message)| {
            let at = format!("profile `{}` of {lf}", m.profile);
            invalid(
                mf,
                format!("model[{i}].{field}"),
                message.replace("{profile}", &at),
            )
        },
    )
}
