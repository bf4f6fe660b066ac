//! What a chat completion call's answer means to the run: its status or transport error read
//! as a failure cause and a retry outcome, its body read for content and usage (bounded, never
//! trusted), and what the spend guard takes it to have cost.

use serde::Deserialize;

use crate::metrics::budget::worst_case_usd;
use crate::metrics::cost::cost_usd;
use crate::metrics::usage::{read_call_usage, Asked, UsageRead};
use crate::metrics::FailureCause;
use crate::openai::catalog::Price;
use crate::openai::retry::AttemptOutcome;

pub(super) enum Answer {
    /// A 2xx: the content and usage if the body was a chat completion, else `None`.
    Ok(Option<(String, UsageRead)>),
    Failed(FailureCause, AttemptOutcome),
}

pub(super) fn status_cause(status: u16) -> FailureCause {
    match status {
        429 => FailureCause::RateLimited,
        500..=599 => FailureCause::ServerError,
        408 => FailureCause::Timeout,
        _ => FailureCause::OtherStatus,
    }
}

/// A transport error's cause: no connection, a timeout, or a connection that broke mid-answer.
pub(super) fn transport_cause(e: &reqwest::Error) -> FailureCause {
    if e.is_timeout() {
        FailureCause::Timeout
    } else if e.is_connect() {
        FailureCause::Connect
    } else {
        FailureCause::Reset
    }
}

pub(super) fn transport_failure(e: &reqwest::Error) -> Answer {
    Answer::Failed(transport_cause(e), transport_outcome(e))
}

/// What the retry policy sees of a transport error (the run's calls and the example service's).
pub(crate) fn transport_outcome(e: &reqwest::Error) -> AttemptOutcome {
    if e.is_timeout() {
        AttemptOutcome::Timeout
    } else {
        AttemptOutcome::Connect
    }
}

/// What an attempt is taken to have cost: its usage if the answer was a chat completion with a
/// plausible usage; nothing for an HTTP error status (OpenAI bills no failed request) or a
/// connection never made; the worst case otherwise (no usage or an impossible one, a 2xx whose
/// body broke off, a timeout or a broken connection after the request went out). Only a
/// complete answer with a plausible usage settles below the worst case.
pub(super) fn billed(
    price: &Price,
    size: (u64, u64),
    status: Option<u16>,
    outcome: &Answer,
) -> f64 {
    match outcome {
        Answer::Ok(Some((_, UsageRead::Tokens(usage)))) => cost_usd(price, *usage),
        Answer::Failed(_, _) if status.is_some_and(|s| !(200..300).contains(&s)) => 0.0,
        Answer::Failed(FailureCause::Connect, _) if status.is_none() => 0.0,
        _ => worst_case_usd(price, size.0, size.1),
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    /// Read as JSON and checked by [`UsageRead::read`]: a usage that cannot be true is counted,
    /// not trusted, and does not fail the call.
    #[serde(default)]
    usage: serde_json::Value,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

/// The first choice's content and the usage of a chat completion body; `None` if it is not one.
/// `size`: the call's (prompt tokens, max_tokens), which its usage must keep to.
pub(super) fn parse_completion(body: &[u8], size: (u64, u64)) -> Option<(String, UsageRead)> {
    let c: Completion = serde_json::from_slice(body).ok()?;
    let content = c.choices.into_iter().next()?.message.content?;
    let asked = Asked {
        prompt_tokens: Some(size.0),
        max_tokens: Some(size.1),
    };
    Some((content, read_call_usage(Some(&c.usage), asked)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cost::Tokens;

    #[test]
    fn parses_content_and_usage_or_refuses() {
        let ok = br#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        assert_eq!(
            parse_completion(ok, (10, 200)),
            Some((
                "hi".into(),
                UsageRead::Tokens(Tokens {
                    prompt: 10,
                    cached: 4,
                    completion: 2
                })
            ))
        );
        let no_usage = br#"{"choices":[{"message":{"content":"hi"}}]}"#;
        assert_eq!(
            parse_completion(no_usage, (10, 200)),
            Some(("hi".into(), UsageRead::Missing))
        );
        assert_eq!(parse_completion(b"<html>", (10, 200)), None);
        assert_eq!(parse_completion(br#"{"choices":[]}"#, (10, 200)), None);
    }

    #[test]
    fn a_bad_usage_keeps_the_content_and_is_flagged() {
        // Before: a usage that was a string or negative failed the call (BadBody); one of
        // 10^12 tokens was priced at $25 billion per post.
        for usage in [
            r#""lots""#,
            r#"{"prompt_tokens":-1,"completion_tokens":2}"#,
            r#"{"prompt_tokens":10,"completion_tokens":1000000000000}"#,
            r#"{"prompt_tokens":10,"completion_tokens":201}"#,
            // A prompt of 10 tokens read as 10,000 (at most 2 × 10 + 64 = 84).
            r#"{"prompt_tokens":10000,"completion_tokens":2}"#,
        ] {
            let body =
                format!(r#"{{"choices":[{{"message":{{"content":"hi"}}}}],"usage":{usage}}}"#);
            assert_eq!(
                parse_completion(body.as_bytes(), (10, 200)),
                Some(("hi".into(), UsageRead::Bad)),
                "{usage}"
            );
        }
    }

    const GPT_4O: Price = Price {
        input: 2.5,
        cached_input: Some(1.25),
        output: 10.0,
    };

    #[test]
    fn a_2xx_whose_body_broke_off_is_charged_its_worst_case() {
        // Before: any failure with a status cost nothing, so 15 broken 200s left spent_usd 0.
        // 800 in, believed up to 2 × 800 + 64 = 1,664, + 150 out at $2.50 / $10 per 1M:
        // $0.00416 + $0.0015 = $0.00566.
        let broken = Answer::Failed(FailureCause::Reset, AttemptOutcome::Connect);
        let got = billed(&GPT_4O, (800, 150), Some(200), &broken);
        assert!((got - 0.00566).abs() < 1e-12, "{got}");
        // An HTTP error costs nothing, even if its body broke off too.
        assert_eq!(billed(&GPT_4O, (800, 150), Some(500), &broken), 0.0);
        let refused = Answer::Failed(FailureCause::OtherStatus, AttemptOutcome::Connect);
        assert_eq!(billed(&GPT_4O, (800, 150), Some(400), &refused), 0.0);
        // No connection: nothing was sent. A timeout after sending: the worst case.
        let connect = Answer::Failed(FailureCause::Connect, AttemptOutcome::Connect);
        assert_eq!(billed(&GPT_4O, (800, 150), None, &connect), 0.0);
        let timeout = Answer::Failed(FailureCause::Timeout, AttemptOutcome::Timeout);
        assert!((billed(&GPT_4O, (800, 150), None, &timeout) - 0.00566).abs() < 1e-12);
        // A complete answer with a plausible usage: its usage. An impossible one: the worst.
        let ok = |usage| Answer::Ok(Some(("x".into(), usage)));
        let usage = UsageRead::Tokens(Tokens {
            prompt: 800,
            cached: 0,
            completion: 100,
        });
        // 800 × 2.5 + 100 × 10 = 3,000 per 1M: $0.003.
        assert!((billed(&GPT_4O, (800, 150), Some(200), &ok(usage)) - 0.003).abs() < 1e-12);
        assert!(
            (billed(&GPT_4O, (800, 150), Some(200), &ok(UsageRead::Bad)) - 0.00566).abs() < 1e-12
        );
        assert!(
            (billed(&GPT_4O, (800, 150), Some(200), &Answer::Ok(None)) - 0.00566).abs() < 1e-12
        );
    }
}
