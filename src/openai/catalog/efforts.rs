//! What the catalog says of reasoning models: the efforts a model accepts and the reasoning
//! tokens its profile draws at each (checked when the catalog loads; see `openai::reasoning`).

use super::{Catalog, ModelEntry};
use crate::openai::reasoning::{Effort, Reasoning, ReasoningTokens};

impl ModelEntry {
    /// What the model accepts for reasoning, if it is a reasoning model.
    pub fn reasoning(&self) -> Option<Reasoning> {
        Some(Reasoning {
            efforts: self.reasoning_efforts.clone(),
            default_effort: self.default_effort?,
        })
        .filter(|r| !r.efforts.is_empty())
    }

    /// The most a request to this model may ask to be written ([`ModelEntry::max_output_tokens`],
    /// else 16,384, or 128,000 for a reasoning model).
    pub fn output_cap(&self) -> u32 {
        self.max_output_tokens
            .unwrap_or(if self.reasoning().is_none() {
                crate::openai::tokens::MAX_COMPLETION_TOKENS as u32
            } else {
                crate::openai::reasoning::MAX_REASONING_TOKENS
            })
    }
}

impl Catalog {
    /// What `model` accepts for reasoning; `None` for a model that does not reason (or that the
    /// catalog does not know).
    pub fn reasoning(&self, model: &str) -> Option<Reasoning> {
        self.model(model)?.reasoning()
    }

    /// The reasoning tokens one call of `model` draws at `effort`: `None` for a model that does
    /// not reason or an effort it does not take (the catalog's checks make every accepted effort
    /// drawn).
    pub fn reasoning_tokens(&self, model: &str, effort: Effort) -> Option<ReasoningTokens> {
        let m = self.model(model)?;
        if !m.reasoning_efforts.contains(&effort) {
            return None;
        }
        self.reasoning_tokens.get(&m.profile)?.get(&effort).copied()
    }
}
