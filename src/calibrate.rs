//! `postload calibrate`'s pure core: the calls to send to an account, what each answered call
//! showed, and the latency profile, limits and cache share fitted from them. No tokio, no clap,
//! no network, no files: the command in `commands/calibrate` sends the calls and writes the
//! overlay; this module only turns observations into a profile (the inverse of
//! [`crate::openai::latency`]) and says how far it may be trusted.

pub mod design;
pub mod drift;
pub mod fit;
pub mod limits;
pub mod overlay;
pub mod precision;
pub mod progress;
pub mod reasoning;
mod stats;

use serde::Serialize;

use crate::openai::reasoning::Effort;

/// Why a designed call is sent: each kind pins down a different part of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// A short prompt and `max_tokens` 1: the latency is the time to first token, nearly alone.
    Probe,
    /// A short prompt and a long answer: the writing speed, and the answer-length distribution.
    Speed,
    /// Shaped like the post's image-prompt call (its prompt size and max_tokens).
    ImagePrompt,
    /// Shaped like the post's caption call; its prompts share a long prefix, so that the
    /// account's prompt caching shows in `cached_tokens`.
    Caption,
    /// Shaped like the post's calls at a higher reasoning effort than the rest, with room for
    /// the reasoning: its reasoning tokens (and, streamed, their time) are fitted apart
    /// ([`reasoning`]); the profile's fit leaves these calls out.
    Reasoning(Effort),
}

/// One call to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallSpec {
    pub model: String,
    pub purpose: Purpose,
    /// The prompt's size in tokens (o200k_base); the client writes a prompt of that size.
    pub prompt_tokens: u32,
    pub max_tokens: u32,
    /// The prompt's first this many tokens are the same for every call of this purpose (0: none).
    pub shared_prefix_tokens: u32,
}

/// What one answered (200) call showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observation {
    pub purpose: Purpose,
    /// From the answer's `usage`.
    pub prompt_tokens: u32,
    /// The visible tokens written: the usage's completion less its reasoning tokens (a
    /// reasoning model's hidden tokens come before the first visible one, so the time after
    /// the first token is spent on these alone).
    pub completion_tokens: u32,
    pub cached_tokens: u32,
    /// A reasoning model's hidden tokens, from `completion_tokens_details.reasoning_tokens`
    /// (billed as output; 0 for a model that does not reason).
    #[serde(skip_serializing_if = "is_zero")]
    pub reasoning_tokens: u32,
    /// Request sent to the last byte of the answer, in milliseconds.
    pub latency_ms: f64,
    /// A streamed call: request sent to the first chunk carrying content, in milliseconds.
    pub first_token_ms: Option<f64>,
}

/// A count left out of the JSON when zero (serde's `skip_serializing_if`).
pub fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// How the time to first token was measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From the first content chunk of streamed calls.
    Streamed,
    /// From whole answers: latency regressed on output and prompt tokens.
    Regression,
}

/// A fitted figure and its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that does not reason shows no `reasoning_tokens` in the observations' JSON;
    /// one that does shows its count.
    #[test]
    fn reasoning_tokens_are_left_out_of_the_json_when_zero() {
        let obs = |reasoning_tokens| Observation {
            purpose: Purpose::Probe,
            prompt_tokens: 12,
            completion_tokens: 1,
            cached_tokens: 0,
            reasoning_tokens,
            latency_ms: 250.0,
            first_token_ms: None,
        };
        let plain = serde_json::to_value(obs(0)).unwrap();
        assert!(plain.get("reasoning_tokens").is_none(), "{plain}");
        let reasoned = serde_json::to_value(obs(40)).unwrap();
        assert_eq!(reasoned["reasoning_tokens"], 40, "{reasoned}");
        assert!(is_zero(&0u64) && !is_zero(&7u64));
    }
}
