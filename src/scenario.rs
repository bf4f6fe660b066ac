//! Scenario files (`scenarios/*.toml`): what load to send, to which model and tiers, with which
//! prompts, retry policy and seed. The files shipped in `scenarios/` are embedded, so a scenario
//! can be named (`--scenario burst-50`) or given as a path. Unknown fields are rejected, and every
//! error names the file, and the line or field.

mod load;
pub mod prompts;
pub mod target;
pub mod trace;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_COMPLETION_TOKENS, MAX_PROMPT_TOKENS, MAX_TIMEOUT_S, MAX_USERS};
use crate::metrics::budget::worst_case_usd;
use crate::openai::catalog::{Catalog, Price};
use crate::openai::retry::RetryPolicy;

pub use self::load::{Load, DEFAULT_TRACE_IN_FLIGHT};

pub const EMBEDDED: [(&str, &str); 4] = [
    ("burst-50", include_str!("../scenarios/burst-50.toml")),
    ("burst-100", include_str!("../scenarios/burst-100.toml")),
    (
        "burst-100-mini",
        include_str!("../scenarios/burst-100-mini.toml"),
    ),
    ("sustained", include_str!("../scenarios/sustained.toml")),
];

/// The scenarios `postload run` runs when none is named.
pub const DEFAULT_SCENARIOS: [&str; 3] = ["burst-50", "burst-100", "burst-100-mini"];

mod names;
pub use self::names::{built_in_names, run_about, scenario_help};

/// A scenario could not be used. The message names the file and the line or field.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ScenarioError {
    pub file: String,
    pub message: String,
}

fn default_tier_set() -> String {
    "openai-2025".into()
}
fn default_tiers() -> Vec<u8> {
    vec![1]
}
/// A call attempt's timeout when a scenario names none: the official SDK's 600 s (the
/// planner models the same, `plan::sim::REQUEST_TIMEOUT`).
pub const DEFAULT_REQUEST_TIMEOUT_S: f64 = 600.0;

fn default_timeout() -> f64 {
    DEFAULT_REQUEST_TIMEOUT_S
}

/// One call's prompt size and completion cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallSize {
    /// Prompt tokens the call sends (system + user message, with OpenAI's message overhead).
    pub prompt_tokens: u32,
    pub max_tokens: u32,
}

impl CallSize {
    /// A prompt the models can take and a completion cap of at least 1 that they can write.
    fn check(&self) -> Result<(), String> {
        if self.prompt_tokens < prompts::MIN_PROMPT_TOKENS {
            return Err(format!(
                "prompt_tokens must be at least {}",
                prompts::MIN_PROMPT_TOKENS
            ));
        }
        if self.prompt_tokens > MAX_PROMPT_TOKENS {
            return Err(format!(
                "prompt_tokens {} is more than {MAX_PROMPT_TOKENS} (the models' context window)",
                self.prompt_tokens
            ));
        }
        if self.max_tokens == 0 {
            return Err("max_tokens must be at least 1".into());
        }
        if self.max_tokens > MAX_COMPLETION_TOKENS {
            return Err(format!(
                "max_tokens {} is more than {MAX_COMPLETION_TOKENS} (the most the models write)",
                self.max_tokens
            ));
        }
        Ok(())
    }
}

/// The two calls of a post. Defaults match the planning note's split: an image-prompt call of
/// about 800 prompt tokens capped at 150, a caption call of about 1,200 capped at 200.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prompts {
    #[serde(default = "Prompts::default_image")]
    pub image_prompt: CallSize,
    #[serde(default = "Prompts::default_caption")]
    pub caption: CallSize,
}

impl Prompts {
    fn default_image() -> CallSize {
        CallSize {
            prompt_tokens: 800,
            max_tokens: 150,
        }
    }
    fn default_caption() -> CallSize {
        CallSize {
            prompt_tokens: 1_200,
            max_tokens: 200,
        }
    }

    /// The most one post can cost (the spend guard's figure): each call's prompt plus its
    /// `max_tokens`, nothing cached, the image-prompt call counted `image_calls` times (1; 0 when
    /// the post brings its own; the share of posts that make it, for an estimate).
    pub fn worst_case_post_usd(&self, price: &Price, image_calls: f64) -> f64 {
        let call =
            |c: &CallSize| worst_case_usd(price, c.prompt_tokens as u64, c.max_tokens as u64);
        image_calls * call(&self.image_prompt) + call(&self.caption)
    }
}

impl Default for Prompts {
    fn default() -> Self {
        Self {
            image_prompt: Self::default_image(),
            caption: Self::default_caption(),
        }
    }
}

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub model: String,
    #[serde(default = "default_tier_set")]
    pub tier_set: String,
    #[serde(default = "default_tiers")]
    pub tiers: Vec<u8>,
    /// Share of posts that bring their own image prompt (and so make one call, not two).
    #[serde(default)]
    pub image_prompt_share: f64,
    /// Send a post's image-prompt and caption calls at once: the caption's prompt then lacks
    /// the image prompt, and the post takes as long as the slower call. Not in service mode
    /// (the service makes its own calls).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub parallel_calls: bool,
    /// Send each call's first attempt through a client-side token bucket with the case's tier
    /// limits, in one FIFO queue across the case's users: a call waits until it fits, then goes
    /// (retries follow `retry`). The planner's `queue` strategy. Not in service mode.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_queue: bool,
    #[serde(default)]
    pub retry: RetryPolicy,
    #[serde(default = "default_timeout")]
    pub request_timeout_s: f64,
    #[serde(default)]
    pub seed: u64,
    pub load: Load,
    #[serde(default)]
    pub prompts: Prompts,
    /// CI thresholds checked after every run of this scenario (exit 1 if one fails).
    #[serde(default)]
    pub thresholds: Vec<ScenarioThresholds>,
    /// Service mode: post to this service instead of making the OpenAI calls directly.
    #[serde(default)]
    pub target: Option<target::TargetSpec>,
    /// The stub answers the case's first N chat requests 429, whatever its buckets hold (its
    /// `--first-429`, per case): rate limits provoked whatever the prompts' sizes, for a gate on
    /// how a service answers them. 0 (the default): only the tier's buckets limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub first_429: u64,
    /// A reasoning model's `reasoning_effort` (one of the efforts the catalog lists for it);
    /// none: not sent, so OpenAI applies the model's default, as the planner assumes. Its calls
    /// send `max_completion_tokens` (the `[prompts]` `max_tokens`), which a reasoning model
    /// spends on reasoning before its answer: too small a cap ends with no answer, and the post
    /// fails (`failed.empty_answer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<crate::openai::reasoning::Effort>,
    /// The OpenAI endpoint the post pipeline calls: `chat` (chat completions, the default) or
    /// `responses` (the Responses API: `instructions`, `input`, `max_output_tokens`, the
    /// effort as `reasoning.effort`). Refused in service mode (the service picks its own).
    #[serde(default, skip_serializing_if = "prompts::ApiEndpoint::is_chat")]
    pub endpoint: prompts::ApiEndpoint,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The most `first_429` a scenario may ask for.
pub const MAX_FIRST_429: u64 = 1_000_000;

/// `[[thresholds]]` in a scenario: checks (`metric op value`) for its cases, or one tier's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScenarioThresholds {
    #[serde(default)]
    pub tier: Option<u8>,
    pub checks: Vec<String>,
}

/// A TOML error in words: the parser reads a whole number past 64 bits (a seed of
/// 18446744073709551616) as an `i128` nothing can hold, and says so in its own terms.
fn toml_message(e: &toml::de::Error) -> String {
    let text = e.to_string().trim_end().to_string();
    if e.message().contains("as i128") {
        let plain = format!(
            "this whole number is too large: a seed is at most {}, every other count far less",
            u64::MAX
        );
        return text.replace(e.message().trim_end(), &plain);
    }
    text
}

impl Scenario {
    /// Parses and checks a scenario's text; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, ScenarioError> {
        let err = |message: String| ScenarioError {
            file: file.to_string(),
            message,
        };
        let s: Scenario = toml::from_str(text).map_err(|e| err(toml_message(&e)))?;
        s.check()
            .map_err(|(field, m)| err(format!("field `{field}`: {m}")))?;
        Ok(s)
    }

    /// Checks values serde cannot; returns the field and the problem.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        self.check_fields()?;
        self.check_thresholds()?;
        for (field, c) in [
            ("prompts.image_prompt", self.prompts.image_prompt),
            ("prompts.caption", self.prompts.caption),
        ] {
            c.check().map_err(|m| (field, m))?;
            if self.endpoint == prompts::ApiEndpoint::Responses
                && c.max_tokens < prompts::MIN_OUTPUT_TOKENS
            {
                return Err((
                    field,
                    format!(
                        "max_tokens {} is below {}, the least `max_output_tokens` the Responses API takes (`endpoint = \"responses\"`)",
                        c.max_tokens,
                        prompts::MIN_OUTPUT_TOKENS
                    ),
                ));
            }
        }
        self.load.check()
    }

    /// The scenario's own values: name, tiers, image prompt share, timeout and users.
    fn check_fields(&self) -> Result<(), (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "must not be empty".into()));
        }
        if self.tiers.is_empty() {
            return Err(("tiers", "name at least one tier".into()));
        }
        if !(0.0..=1.0).contains(&self.image_prompt_share) {
            return Err((
                "image_prompt_share",
                format!("must be between 0 and 1, got {}", self.image_prompt_share),
            ));
        }
        if !(self.request_timeout_s > 0.0 && self.request_timeout_s <= MAX_TIMEOUT_S) {
            return Err((
                "request_timeout_s",
                format!(
                    "{} is not a number of seconds from 0 to {MAX_TIMEOUT_S} (0 excluded)",
                    self.request_timeout_s
                ),
            ));
        }
        if self.first_429 > MAX_FIRST_429 {
            return Err((
                "first_429",
                format!("{} is more than {MAX_FIRST_429}", self.first_429),
            ));
        }
        if !(1..=MAX_USERS).contains(&self.load.users()) {
            return Err((
                match self.load {
                    Load::Trace { .. } => "load.max_in_flight",
                    _ => "load.users",
                },
                format!("{} is outside 1 to {MAX_USERS}", self.load.users()),
            ));
        }
        Ok(())
    }

    /// Each `[[thresholds]]`: checks that parse, for a tier the scenario runs.
    fn check_thresholds(&self) -> Result<(), (&'static str, String)> {
        for t in &self.thresholds {
            if t.checks.is_empty() {
                return Err(("thresholds.checks", "empty".into()));
            }
            for c in &t.checks {
                c.parse::<crate::threshold::Threshold>()
                    .map_err(|m| ("thresholds.checks", m))?;
            }
            if t.tier.is_some_and(|tier| !self.tiers.contains(&tier)) {
                return Err((
                    "thresholds.tier",
                    format!("tier {} is not among `tiers`", t.tier.unwrap_or(0)),
                ));
            }
        }
        Ok(())
    }

    /// Checks the scenario against the data: model, tier set and tiers must exist.
    pub fn check_catalog(&self, file: &str, catalog: &Catalog) -> Result<(), ScenarioError> {
        let err = |message: String| ScenarioError {
            file: file.to_string(),
            message,
        };
        if catalog.model(&self.model).is_none() {
            return Err(err(format!(
                "field `model`: unknown model `{}` (known: {})",
                self.model,
                catalog
                    .models
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        match (catalog.reasoning(&self.model), self.reasoning_effort) {
            (None, Some(e)) => {
                return Err(err(format!(
                    "field `reasoning_effort`: `{}` is not a reasoning model; it takes no effort (\"{e}\")",
                    self.model
                )))
            }
            (Some(r), Some(e)) if !r.efforts.contains(&e) => {
                return Err(err(format!(
                    "field `reasoning_effort`: `{}` takes {} (\"{e}\" given)",
                    self.model,
                    r.efforts
                        .iter()
                        .map(|e| format!("\"{e}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
            _ => {}
        }
        // Every call of a post would get OpenAI's 400 "max_tokens is too large": say it before
        // the run, not in 400s (gpt-4o-2024-05-13 writes at most 4,096).
        let cap = catalog
            .model(&self.model)
            .map_or(u32::MAX, |m| m.output_cap());
        for (field, size) in [
            (
                "prompts.image_prompt.max_tokens",
                &self.prompts.image_prompt,
            ),
            ("prompts.caption.max_tokens", &self.prompts.caption),
        ] {
            if size.max_tokens > cap {
                return Err(err(format!(
                    "field `{field}`: {} is more than `{}` writes ({cap}: mocks/models.toml's max_output_tokens)",
                    size.max_tokens, self.model
                )));
            }
        }
        for t in &self.tiers {
            catalog
                .tier(&self.tier_set, *t)
                .map_err(|m| err(format!("field `tiers`/`tier_set`: {m}")))?;
        }
        Ok(())
    }
}

/// Loads a scenario by embedded name or by path. Returns the name used in messages and the scenario.
pub fn load(name_or_path: &str) -> Result<(String, Scenario), ScenarioError> {
    if let Some((name, text)) = EMBEDDED.iter().find(|(n, _)| *n == name_or_path) {
        let file = format!("scenarios/{name}.toml");
        return Scenario::parse(&file, text).map(|s| (file, s));
    }
    let path = Path::new(name_or_path);
    if !path.exists() {
        return Err(ScenarioError {
            file: name_or_path.to_string(),
            message: format!(
                "no such file, and not a built-in scenario (built in: {})",
                built_in_names()
            ),
        });
    }
    let text = crate::limits::read_text(path, crate::limits::MAX_TEXT_FILE_BYTES).map_err(|e| {
        ScenarioError {
            // The message names the path already.
            file: "scenario".into(),
            message: e,
        }
    })?;
    Scenario::parse(name_or_path, &text).map(|s| (name_or_path.to_string(), s))
}

#[cfg(test)]
mod tests;

/// Kept inline, not in `tests.rs`: it reaches `crate::gate`, which only a `#[cfg(test)]` module
/// may name without making `scenario` depend on `gate`.
#[cfg(test)]
mod threshold_tests {
    use super::*;

    #[test]
    fn thresholds_in_a_scenario_are_checked_when_loaded() {
        let base =
            "name = \"x\"\nmodel = \"gpt-4o\"\ntiers = [1, 2]\n[load]\nkind = \"burst\"\nusers = 5\n";
        let ok = format!("{base}[[thresholds]]\ntier = 2\nchecks = [\"post.p95_ms <= 9000\"]\n");
        let s = Scenario::parse("s.toml", &ok).unwrap();
        let gates = crate::gate::of_scenario(&s);
        assert_eq!(gates.len(), 1);
        assert_eq!(
            (gates[0].scenario.as_deref(), gates[0].tier),
            (Some("x"), Some(2))
        );
        let typo = format!("{base}[[thresholds]]\nchecks = [\"post.p59_ms <= 9000\"]\n");
        let e = Scenario::parse("s.toml", &typo).unwrap_err().to_string();
        assert!(
            e.contains("field `thresholds.checks`") && e.contains("unknown metric"),
            "{e}"
        );
        let tier = format!("{base}[[thresholds]]\ntier = 3\nchecks = [\"error_rate < 1\"]\n");
        let e = Scenario::parse("s.toml", &tier).unwrap_err().to_string();
        assert!(e.contains("thresholds.tier"), "{e}");
    }
}
