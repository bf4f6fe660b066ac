//! The one reader of a chat completion's or a Responses answer's `usage` ([`UsageShape`]), for
//! `run`, `calibrate`, the example service and the stub's traces: a usage is never trusted. It
//! must be non-negative integers, whole, within [`MAX_USAGE_TOKENS`], with no more cached than
//! prompt tokens, a completion within the call's cap ([`completion_cap`]:
//! `max_completion_tokens`, else `max_tokens`; a Responses call's `max_output_tokens`) and a
//! prompt near the prompt sent ([`prompt_plausible`]); anything else is [`UsageRead::Bad`],
//! counted and never priced below the call's worst case nor measured. Pure.

use serde::Deserialize;
use serde_json::Value;

use super::cost::Tokens;

/// The most tokens one response's usage may claim for prompt or completion: more than any model's
/// context window (gpt-4o: 128k). Above it, the usage is impossible, not a measurement.
pub const MAX_USAGE_TOKENS: u64 = 10_000_000;

/// What a response's usage says, read from its JSON values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageRead {
    /// No usage at all: the tokens are unknown.
    Missing,
    /// A usage that cannot be true: not a non-negative integer (a string, negative, a
    /// fraction), only half there, above [`MAX_USAGE_TOKENS`], a completion above the call's
    /// `max_tokens`, or more cached tokens than prompt tokens. Counted as `bad_usage` on the call,
    /// and the tokens are unknown, never priced.
    Bad,
    Tokens(Tokens),
}

impl UsageRead {
    /// Reads `prompt_tokens`, `completion_tokens` and `cached_tokens` (each `None` where the
    /// response lacks it). `max_completion`: the call's `max_tokens`, where one call is read.
    pub fn read(
        prompt: Option<&serde_json::Value>,
        completion: Option<&serde_json::Value>,
        cached: Option<&serde_json::Value>,
        max_completion: Option<u64>,
    ) -> Self {
        let count = |v: &serde_json::Value| v.as_u64().filter(|n| *n <= MAX_USAGE_TOKENS);
        let (prompt, completion) = match (prompt, completion) {
            (None, None) => return Self::Missing,
            (Some(p), Some(c)) => match (count(p), count(c)) {
                (Some(p), Some(c)) => (p, c),
                _ => return Self::Bad,
            },
            _ => return Self::Bad,
        };
        let cached = match cached.filter(|v| !v.is_null()) {
            None => 0,
            Some(v) => match count(v) {
                Some(n) if n <= prompt => n,
                _ => return Self::Bad,
            },
        };
        if max_completion.is_some_and(|m| completion > m) {
            return Self::Bad;
        }
        Self::Tokens(Tokens {
            prompt,
            cached,
            completion,
        })
    }

    pub fn tokens(self) -> Option<Tokens> {
        match self {
            Self::Tokens(t) => Some(t),
            _ => None,
        }
    }
}

/// What one call asked for, which its answer's usage must keep to (`None`: not known).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Asked {
    /// The prompt sent, in tokens as the project counts them.
    pub prompt_tokens: Option<u64>,
    /// The call's completion cap ([`completion_cap`]).
    pub max_tokens: Option<u64>,
}

/// A reported prompt may be this many times the prompt sent, or this fraction of it, and
/// [`PROMPT_SLACK_TOKENS`] more: tokenizers and message overheads differ by far less (o200k and
/// cl100k count English within about 10 %), a usage outside is no count of this prompt.
pub const PROMPT_FACTOR: u64 = 2;
/// The absolute slack of [`prompt_plausible`], for short prompts (a few tokens of overhead per
/// message).
pub const PROMPT_SLACK_TOKENS: u64 = 64;

/// The largest prompt count believed for a prompt of `sent` tokens: the spend guard reserves it,
/// so that no usage read as plausible can cost more than its call's reservation.
pub fn max_plausible_prompt(sent: u64) -> u64 {
    sent.saturating_mul(PROMPT_FACTOR)
        .saturating_add(PROMPT_SLACK_TOKENS)
}

/// Whether `reported` prompt tokens can be the count of a prompt of `sent` tokens: within
/// [`PROMPT_FACTOR`] either way, give or take [`PROMPT_SLACK_TOKENS`].
pub fn prompt_plausible(sent: u64, reported: u64) -> bool {
    reported <= max_plausible_prompt(sent)
        && reported
            .saturating_mul(PROMPT_FACTOR)
            .saturating_add(PROMPT_SLACK_TOKENS)
            >= sent
}

/// Which API's `usage` an answer carries: chat completions' (`prompt_tokens`,
/// `prompt_tokens_details.cached_tokens`, `completion_tokens`) or the Responses API's
/// (`input_tokens`, `input_tokens_details.cached_tokens`, `output_tokens`, which counts the
/// reasoning tokens as `completion_tokens` does). The same three counts, read by the same rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageShape {
    #[default]
    Chat,
    Responses,
}

impl UsageShape {
    /// JSON pointers into the `usage` object: (prompt, completion, cached).
    pub fn pointers(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::Chat => (
                "/prompt_tokens",
                "/completion_tokens",
                "/prompt_tokens_details/cached_tokens",
            ),
            Self::Responses => (
                "/input_tokens",
                "/output_tokens",
                "/input_tokens_details/cached_tokens",
            ),
        }
    }
}

impl UsageShape {
    /// The JSON pointer of the reasoning tokens inside the completion count.
    pub fn reasoning_pointer(self) -> &'static str {
        match self {
            Self::Chat => "/completion_tokens_details/reasoning_tokens",
            Self::Responses => "/output_tokens_details/reasoning_tokens",
        }
    }
}

/// The visible tokens of an answer whose usage was `read` from `usage`: its completion less the
/// reasoning tokens the usage reports inside it (a reasoning model's hidden tokens, billed as
/// output but not in the text). A reasoning count that is no count, or above the completion,
/// is taken as none. 0 when the usage was not read.
pub fn visible_completion(shape: UsageShape, usage: Option<&Value>, read: UsageRead) -> u64 {
    let Some(t) = read.tokens() else { return 0 };
    let reasoning = usage
        .and_then(|u| u.pointer(shape.reasoning_pointer()))
        .and_then(Value::as_u64)
        .filter(|r| *r <= t.completion)
        .unwrap_or(0);
    t.completion - reasoning
}

/// Reads the `usage` of one chat completion ([`read_usage`] of [`UsageShape::Chat`]).
pub fn read_call_usage(usage: Option<&Value>, asked: Asked) -> UsageRead {
    read_usage(UsageShape::Chat, usage, asked)
}

/// Reads the `usage` of one call's answer in `shape` (`None`: the answer has none): JSON null
/// or absent is [`UsageRead::Missing`], anything but an object, or an object that cannot be
/// true for the call `asked`, is [`UsageRead::Bad`].
pub fn read_usage(shape: UsageShape, usage: Option<&Value>, asked: Asked) -> UsageRead {
    let u = match usage {
        None | Some(Value::Null) => return UsageRead::Missing,
        Some(u) if !u.is_object() => return UsageRead::Bad,
        Some(u) => u,
    };
    let (prompt, completion, cached) = shape.pointers();
    let read = UsageRead::read(
        u.pointer(prompt),
        u.pointer(completion),
        u.pointer(cached),
        asked.max_tokens,
    );
    match (read, asked.prompt_tokens) {
        (UsageRead::Tokens(t), Some(sent)) if !prompt_plausible(sent, t.prompt) => UsageRead::Bad,
        (read, _) => read,
    }
}

/// The completion caps of a request body.
#[derive(Deserialize)]
struct Caps {
    max_tokens: Option<Value>,
    max_completion_tokens: Option<Value>,
}

impl Caps {
    fn cap(self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)?.as_u64()
    }
}

/// A chat request's completion cap, read from its raw body without reading its messages:
/// `max_completion_tokens`, else `max_tokens` (`None`: neither is a count, or no JSON).
pub fn completion_cap(body: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Caps>(body).ok()?.cap()
}

/// [`completion_cap`] of a request already in JSON.
pub fn completion_cap_of(request: &Value) -> Option<u64> {
    let field = |name| request.get(name).filter(|v: &&Value| !v.is_null()).cloned();
    Caps {
        max_tokens: field("max_tokens"),
        max_completion_tokens: field("max_completion_tokens"),
    }
    .cap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn usage_that_cannot_be_true_is_bad_not_a_measurement() {
        let read = |p: serde_json::Value, c: serde_json::Value, max| {
            UsageRead::read(Some(&p), Some(&c), None, max)
        };
        assert_eq!(
            read(json!(800), json!(150), Some(150)),
            UsageRead::Tokens(Tokens {
                prompt: 800,
                cached: 0,
                completion: 150
            })
        );
        assert_eq!(UsageRead::read(None, None, None, None), UsageRead::Missing);
        assert_eq!(read(json!("800"), json!(150), None), UsageRead::Bad);
        assert_eq!(read(json!(-1), json!(150), None), UsageRead::Bad);
        assert_eq!(read(json!(800), json!(1.5), None), UsageRead::Bad);
        // One above max_tokens (150): impossible for that call.
        assert_eq!(read(json!(800), json!(151), Some(150)), UsageRead::Bad);
        // 10^7 is the bound; 10^7 + 1 is past it.
        assert!(matches!(
            read(json!(10_000_000u64), json!(0), None),
            UsageRead::Tokens(_)
        ));
        assert_eq!(read(json!(10_000_001u64), json!(0), None), UsageRead::Bad);
        assert_eq!(read(json!(1e30), json!(0), None), UsageRead::Bad);
        // Half a usage, and more cached than prompt tokens.
        assert_eq!(
            UsageRead::read(Some(&json!(800)), None, None, None),
            UsageRead::Bad
        );
        assert_eq!(
            UsageRead::read(Some(&json!(800)), Some(&json!(1)), Some(&json!(801)), None),
            UsageRead::Bad
        );
        // Only a usage that was read has tokens.
        let t = Tokens {
            prompt: 800,
            cached: 0,
            completion: 150,
        };
        assert_eq!(UsageRead::Tokens(t).tokens(), Some(t));
        assert_eq!(UsageRead::Missing.tokens(), None);
        assert_eq!(UsageRead::Bad.tokens(), None);
        // Every prompt token cached (800 of 800) is possible.
        assert_eq!(
            UsageRead::read(Some(&json!(800)), Some(&json!(1)), Some(&json!(800)), None),
            UsageRead::Tokens(Tokens {
                prompt: 800,
                cached: 800,
                completion: 1
            })
        );
        assert_eq!(
            UsageRead::read(Some(&json!(800)), Some(&json!(1)), Some(&json!(null)), None)
                .tokens()
                .map(|t| t.cached),
            Some(0)
        );
    }

    #[test]
    fn a_call_usage_is_checked_against_what_the_call_asked() {
        let asked = Asked {
            prompt_tokens: Some(1_000),
            max_tokens: Some(150),
        };
        let usage = |p: u64, c: u64| json!({"prompt_tokens": p, "completion_tokens": c});
        let tokens = |p, c| {
            UsageRead::Tokens(Tokens {
                prompt: p,
                cached: 0,
                completion: c,
            })
        };
        assert_eq!(
            read_call_usage(Some(&usage(1_000, 150)), asked),
            tokens(1_000, 150)
        );
        assert_eq!(read_call_usage(None, asked), UsageRead::Missing);
        assert_eq!(
            read_call_usage(Some(&Value::Null), asked),
            UsageRead::Missing
        );
        assert_eq!(read_call_usage(Some(&json!("lots")), asked), UsageRead::Bad);
        // The issue's 9,999,999 completion tokens for a call capped at 150 (within 10^7).
        assert_eq!(
            read_call_usage(Some(&usage(1_000, 9_999_999)), asked),
            UsageRead::Bad
        );
        // The prompt: 1,000 sent, so 2 × 1,000 + 64 = 2,064 at most and (1,000 − 64) / 2 = 468
        // at least.
        assert_eq!(
            read_call_usage(Some(&usage(2_064, 1)), asked),
            tokens(2_064, 1)
        );
        assert_eq!(
            read_call_usage(Some(&usage(2_065, 1)), asked),
            UsageRead::Bad
        );
        assert_eq!(read_call_usage(Some(&usage(468, 1)), asked), tokens(468, 1));
        assert_eq!(read_call_usage(Some(&usage(467, 1)), asked), UsageRead::Bad);
        assert_eq!(read_call_usage(Some(&usage(0, 1)), asked), UsageRead::Bad);
        // Nothing asked: only the counts themselves are checked.
        assert_eq!(
            read_call_usage(Some(&usage(5, 9_999_999)), Asked::default()),
            tokens(5, 9_999_999)
        );
        // A 10-token prompt: 0 to 84 reported are plausible.
        assert!(prompt_plausible(10, 0) && prompt_plausible(10, 84) && !prompt_plausible(10, 85));
        assert!(prompt_plausible(u64::MAX, u64::MAX));
    }

    #[test]
    fn a_responses_usage_is_read_by_the_same_rules_from_its_own_names() {
        let asked = Asked {
            prompt_tokens: Some(1_000),
            max_tokens: Some(150),
        };
        let read = |u: Value| read_usage(UsageShape::Responses, Some(&u), asked);
        // output_tokens counts the reasoning tokens (40 of the 120): billed as output.
        assert_eq!(
            read(
                json!({"input_tokens": 1_000, "input_tokens_details": {"cached_tokens": 512},
                "output_tokens": 120, "output_tokens_details": {"reasoning_tokens": 40},
                "total_tokens": 1_120})
            ),
            UsageRead::Tokens(Tokens {
                prompt: 1_000,
                cached: 512,
                completion: 120
            })
        );
        assert_eq!(
            read_usage(UsageShape::Responses, None, asked),
            UsageRead::Missing
        );
        assert_eq!(read(Value::Null), UsageRead::Missing);
        // A chat-shaped usage has none of the Responses names: no usage, not a misread one.
        assert_eq!(
            read(json!({"prompt_tokens": 1_000, "completion_tokens": 10})),
            UsageRead::Missing
        );
        // The same bounds: above the cap, more cached than input, half a usage, a string.
        assert_eq!(
            read(json!({"input_tokens": 1_000, "output_tokens": 151})),
            UsageRead::Bad
        );
        assert_eq!(
            read(json!({"input_tokens": 1_000, "output_tokens": 1,
                "input_tokens_details": {"cached_tokens": 1_001}})),
            UsageRead::Bad
        );
        assert_eq!(read(json!({"input_tokens": 1_000})), UsageRead::Bad);
        assert_eq!(
            read(json!({"input_tokens": "1000", "output_tokens": 1})),
            UsageRead::Bad
        );
        // An input far from the prompt sent (2 × 1,000 + 64 = 2,064 at most).
        assert_eq!(
            read(json!({"input_tokens": 2_065, "output_tokens": 1})),
            UsageRead::Bad
        );
        assert_eq!(read(json!([1, 2])), UsageRead::Bad);
    }

    #[test]
    fn the_visible_completion_is_the_completion_less_its_reasoning_tokens() {
        let asked = Asked::default();
        for (shape, u) in [
            (
                UsageShape::Chat,
                json!({"prompt_tokens": 800, "completion_tokens": 700,
                    "completion_tokens_details": {"reasoning_tokens": 640}}),
            ),
            (
                UsageShape::Responses,
                json!({"input_tokens": 800, "output_tokens": 700,
                    "output_tokens_details": {"reasoning_tokens": 640}}),
            ),
        ] {
            let read = read_usage(shape, Some(&u), asked);
            // 700 written, 640 of them reasoning: 60 visible.
            assert_eq!(visible_completion(shape, Some(&u), read), 60);
            // The other shape's names report no reasoning: all 700 are visible.
            let other = match shape {
                UsageShape::Chat => UsageShape::Responses,
                UsageShape::Responses => UsageShape::Chat,
            };
            assert_eq!(visible_completion(other, Some(&u), read), 700);
        }
        let u = json!({"prompt_tokens": 800, "completion_tokens": 70,
            "completion_tokens_details": {"reasoning_tokens": 71}});
        let read = read_call_usage(Some(&u), asked);
        // More reasoning than completion cannot be: none is taken.
        assert_eq!(visible_completion(UsageShape::Chat, Some(&u), read), 70);
        assert_eq!(
            visible_completion(UsageShape::Chat, Some(&u), UsageRead::Bad),
            0
        );
    }

    #[test]
    fn the_completion_cap_is_max_completion_tokens_else_max_tokens() {
        let both = br#"{"messages":[],"max_tokens":10,"max_completion_tokens":20}"#;
        assert_eq!(completion_cap(both), Some(20));
        assert_eq!(completion_cap(br#"{"max_tokens":10}"#), Some(10));
        assert_eq!(
            completion_cap(br#"{"max_tokens":10,"max_completion_tokens":null}"#),
            Some(10)
        );
        assert_eq!(completion_cap(br#"{"max_tokens":-1}"#), None);
        assert_eq!(completion_cap(b"not json"), None);
        assert_eq!(
            completion_cap_of(&json!({"max_tokens": 10, "max_completion_tokens": 20})),
            Some(20)
        );
        assert_eq!(
            completion_cap_of(&json!({"max_tokens": 10, "max_completion_tokens": null})),
            Some(10)
        );
        assert_eq!(completion_cap_of(&json!({})), None);
    }
}
