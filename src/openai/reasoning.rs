//! Reasoning models (the GPT-5 family): the efforts a model accepts, and the hidden reasoning
//! tokens one call spends at an effort. Reasoning tokens are billed as output, count inside
//! `max_completion_tokens`, and come before the first visible token (OpenAI's reasoning guide;
//! docs/sources.md, Reasoning). The efforts a model accepts and its default are API facts and
//! live in `mocks/models.toml`; the tokens each effort draws are a latency-profile fact and live
//! in `mocks/latency.toml` (`reasoning_tokens.<effort>`), so the stub, the run and the planner
//! draw them from one place.

use std::collections::BTreeMap;
use std::fmt;

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

/// A `reasoning_effort` (chat completions) or `reasoning.effort` (Responses API) value.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Effort {
    None,
    Minimal,
    Low,
    Medium,
    High,
    Xhigh,
    Max,
}

impl Effort {
    pub const ALL: [Effort; 7] = [
        Effort::None,
        Effort::Minimal,
        Effort::Low,
        Effort::Medium,
        Effort::High,
        Effort::Xhigh,
        Effort::Max,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Effort::None => "none",
            Effort::Minimal => "minimal",
            Effort::Low => "low",
            Effort::Medium => "medium",
            Effort::High => "high",
            Effort::Xhigh => "xhigh",
            Effort::Max => "max",
        }
    }

    /// The effort named `s` (exactly as the API spells it), if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Effort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The most reasoning tokens one call may draw: the GPT-5 family's 128,000 output tokens.
pub const MAX_REASONING_TOKENS: u32 = 128_000;
/// The widest log-normal spread of reasoning lengths.
const MAX_SIGMA: f64 = 10.0;

/// The reasoning tokens one call spends at one effort: log-normal around `median` with spread
/// `sigma`, clamped to `[min, max]`. `median = 0` draws none (effort `none`, or `minimal` where
/// it reasons not at all).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReasoningTokens {
    pub median: u32,
    pub sigma: f64,
    pub min: u32,
    pub max: u32,
}

impl ReasoningTokens {
    /// Checks the bounds; the error names the field (relative to this table) and the range.
    pub fn check(&self) -> Result<(), (String, String)> {
        if self.max > MAX_REASONING_TOKENS {
            return Err((
                "max".into(),
                format!("{} is more than {MAX_REASONING_TOKENS}", self.max),
            ));
        }
        if !(self.sigma.is_finite() && (0.0..=MAX_SIGMA).contains(&self.sigma)) {
            return Err((
                "sigma".into(),
                format!(
                    "{} is outside [0, {MAX_SIGMA}]",
                    crate::limits::num(self.sigma)
                ),
            ));
        }
        if !(self.min <= self.median && self.median <= self.max) {
            return Err(("median".into(), "need 0 <= min <= median <= max".into()));
        }
        Ok(())
    }

    /// Draws one call's reasoning tokens (one standard-normal draw, even when `median` is 0, so
    /// the draw order does not depend on the figures).
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> u32 {
        let z: f64 = StandardNormal.sample(rng);
        // `as` saturates (and NaN is 0), so any sigma stays within [min, max].
        let drawn = (self.median as f64 * (self.sigma * z).exp()).round();
        (drawn as u32).clamp(self.min, self.max.max(self.min))
    }
}

/// What a reasoning model accepts: its efforts and the one it takes when a request names none.
#[derive(Debug, Clone, PartialEq)]
pub struct Reasoning {
    pub efforts: Vec<Effort>,
    pub default_effort: Effort,
}

impl Reasoning {
    /// The effort a request gets: `asked` if the model accepts it, else OpenAI-style wording of
    /// why not.
    pub fn effort(&self, model: &str, asked: Option<Effort>) -> Result<Effort, String> {
        match asked {
            None => Ok(self.default_effort),
            Some(e) if self.efforts.contains(&e) => Ok(e),
            Some(e) => Err(format!(
                "Unsupported value: 'reasoning_effort' does not support '{e}' with the model \
                 '{model}'. Supported values are: {}.",
                self.efforts
                    .iter()
                    .map(|e| format!("'{e}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
}

/// A model's efforts against the reasoning tokens its profile draws (`drawn`, per effort): each
/// effort listed once and drawn, the default among them, and a model that lists none on a
/// profile that draws none. The error is (field, message); `{profile}` in the message stands
/// for the profile's name.
pub fn check_efforts(
    efforts: &[Effort],
    default: Option<Effort>,
    drawn: Option<&BTreeMap<Effort, ReasoningTokens>>,
) -> Result<(), (&'static str, String)> {
    for (j, e) in efforts.iter().enumerate() {
        if efforts[..j].contains(e) {
            return Err(("reasoning_efforts", format!("effort `{e}` is listed twice")));
        }
        if !drawn.is_some_and(|d| d.contains_key(e)) {
            let m = format!("effort `{e}` has no `reasoning_tokens.{e}` in {{profile}}");
            return Err(("reasoning_efforts", m));
        }
    }
    let m = |s: &str| s.to_string();
    match (efforts.is_empty(), default) {
        (true, Some(_)) => Err((
            "default_effort",
            m("given for a model with no `reasoning_efforts`"),
        )),
        (false, None) => Err((
            "default_effort",
            m("required for a model with `reasoning_efforts`"),
        )),
        (false, Some(d)) if !efforts.contains(&d) => Err((
            "default_effort",
            format!("`{d}` is not among `reasoning_efforts`"),
        )),
        // No efforts on a profile that draws reasoning would bill tokens no request asked for.
        (true, None) if drawn.is_some() => Err((
            "reasoning_efforts",
            m("required: {profile} draws reasoning tokens"),
        )),
        _ => Ok(()),
    }
}

/// A profile's reasoning tokens per effort: at least one, each within bounds. The error is
/// (field below `reasoning_tokens`, with its leading dot, or empty; message).
pub fn check_tokens(efforts: &BTreeMap<Effort, ReasoningTokens>) -> Result<(), (String, String)> {
    if efforts.is_empty() {
        return Err((String::new(), "no efforts listed".into()));
    }
    for (effort, t) in efforts {
        t.check()
            .map_err(|(field, m)| (format!(".{effort}.{field}"), m))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn efforts_spell_as_the_api_does() {
        for e in Effort::ALL {
            assert_eq!(Effort::parse(e.as_str()), Some(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
        }
        assert_eq!(Effort::parse("Medium"), None);
        assert_eq!(Effort::parse("extra"), None);
    }

    #[test]
    fn a_zero_median_draws_no_reasoning_and_draws_are_clamped() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let none = ReasoningTokens {
            median: 0,
            sigma: 1.0,
            min: 0,
            max: 0,
        };
        let some = ReasoningTokens {
            median: 500,
            sigma: 2.0,
            min: 64,
            max: 1000,
        };
        for _ in 0..1000 {
            assert_eq!(none.draw(&mut rng), 0);
            let n = some.draw(&mut rng);
            assert!((64..=1000).contains(&n), "{n}");
        }
    }

    #[test]
    fn sigma_zero_draws_the_median() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t = ReasoningTokens {
            median: 384,
            sigma: 0.0,
            min: 0,
            max: 4096,
        };
        assert_eq!(t.draw(&mut rng), 384);
    }

    #[test]
    fn check_names_the_field() {
        let ok = ReasoningTokens {
            median: 10,
            sigma: 0.5,
            min: 0,
            max: 100,
        };
        assert!(ok.check().is_ok());
        let e = ReasoningTokens { max: 200_000, ..ok }.check().unwrap_err();
        assert_eq!(e.0, "max");
        let e = ReasoningTokens {
            sigma: f64::NAN,
            ..ok
        }
        .check()
        .unwrap_err();
        assert_eq!(e.0, "sigma");
        let e = ReasoningTokens { min: 20, ..ok }.check().unwrap_err();
        assert_eq!(e.0, "median");
    }

    #[test]
    fn an_effort_the_model_does_not_take_is_refused_naming_the_values() {
        let r = Reasoning {
            efforts: vec![Effort::Minimal, Effort::Low, Effort::Medium, Effort::High],
            default_effort: Effort::Medium,
        };
        assert_eq!(r.effort("gpt-5-mini", None), Ok(Effort::Medium));
        assert_eq!(r.effort("gpt-5-mini", Some(Effort::Low)), Ok(Effort::Low));
        let e = r.effort("gpt-5-mini", Some(Effort::None)).unwrap_err();
        assert!(e.contains("'none'") && e.contains("'gpt-5-mini'"), "{e}");
        assert!(e.contains("'minimal', 'low', 'medium', 'high'"), "{e}");
    }
}
