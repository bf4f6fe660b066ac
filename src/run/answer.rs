//! What a chat completion call's answer means to the run: its status or transport error read
//! as a failure cause and a retry outcome, its body read for content and usage (bounded, never
//! trusted), and what the spend guard takes it to have cost.

use serde::Deserialize;

use crate::metrics::budget::worst_case_usd;
use crate::metrics::cost::{cost_usd, UsageRead};
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

/// What an attempt is taken to have cost: its usage if the answer had one; nothing for an HTTP
/// error (OpenAI bills no failed request); the worst case when it cannot be known (no usage, a
/// timeout or a broken connection after the request went out).
pub(super) fn billed(
    price: &Price,
    size: (u64, u64),
    status: Option<u16>,
    outcome: &Answer,
) -> f64 {
    match outcome {
        Answer::Ok(Some((_, UsageRead::Tokens(usage)))) => cost_usd(price, *usage),
        Answer::Failed(_, _) if status.is_some() => 0.0,
        Answer::Failed(FailureCause::Connect, _) => 0.0,
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
/// `max_tokens`: the call's, which its completion cannot exceed.
pub(super) fn parse_completion(body: &[u8], max_tokens: u64) -> Option<(String, UsageRead)> {
    let c: Completion = serde_json::from_slice(body).ok()?;
    let content = c.choices.into_iter().next()?.message.content?;
    let u = &c.usage;
    let usage = if u.is_null() {
        UsageRead::Missing
    } else if !u.is_object() {
        UsageRead::Bad
    } else {
        UsageRead::read(
            u.get("prompt_tokens"),
            u.get("completion_tokens"),
            u.pointer("/prompt_tokens_details/cached_tokens"),
            Some(max_tokens),
        )
    };
    Some((content, usage))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cost::Tokens;

    #[test]
    fn parses_content_and_usage_or_refuses() {
        let ok = br#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        assert_eq!(
            parse_completion(ok, 200),
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
            parse_completion(no_usage, 200),
            Some(("hi".into(), UsageRead::Missing))
        );
        assert_eq!(parse_completion(b"<html>", 200), None);
        assert_eq!(parse_completion(br#"{"choices":[]}"#, 200), None);
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
        ] {
            let body =
                format!(r#"{{"choices":[{{"message":{{"content":"hi"}}}}],"usage":{usage}}}"#);
            assert_eq!(
                parse_completion(body.as_bytes(), 200),
                Some(("hi".into(), UsageRead::Bad)),
                "{usage}"
            );
        }
    }
}
