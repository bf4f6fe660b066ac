//! What a chat completion or Responses call's answer means to the run: its status or transport
//! error read as a failure cause and a retry outcome, its body read for content and usage
//! (bounded, never trusted), and what the spend guard takes it to have cost.

use serde::Deserialize;

use crate::metrics::budget::worst_case_usd;
use crate::metrics::cost::cost_usd;
use crate::metrics::usage::{read_usage, visible_completion, Asked, UsageRead, UsageShape};
use crate::metrics::FailureCause;
use crate::openai::catalog::Price;
use crate::openai::retry::AttemptOutcome;
use crate::scenario::prompts::ApiEndpoint;

pub(super) enum Answer {
    /// A 2xx: the reply if the body was an answer of the endpoint's, else `None`.
    Ok(Option<Reply>),
    Failed(FailureCause, AttemptOutcome),
}

/// What a 2xx answer said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Reply {
    pub text: String,
    pub usage: UsageRead,
    /// Its visible completion tokens: the completion less the reasoning tokens its usage reports
    /// inside it (0 when the usage was not read). What the text counts for in a later prompt
    /// (the caption's image prompt), as the planner counts it.
    pub visible: u64,
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
        Answer::Ok(Some(Reply {
            usage: UsageRead::Tokens(usage),
            ..
        })) => cost_usd(price, *usage),
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

/// The reply of `text` with `usage` (in `shape`) for a call of `size`.
fn reply(text: String, shape: UsageShape, usage: &serde_json::Value, size: (u64, u64)) -> Reply {
    let asked = Asked {
        prompt_tokens: Some(size.0),
        max_tokens: Some(size.1),
    };
    let read = read_usage(shape, Some(usage), asked);
    Reply {
        text,
        usage: read,
        visible: visible_completion(shape, Some(usage), read),
    }
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

/// The text and usage of a 2xx body from `api` ([`parse_completion`], [`parse_response`]).
pub(super) fn parse_answer(api: ApiEndpoint, body: &[u8], size: (u64, u64)) -> Option<Reply> {
    match api {
        ApiEndpoint::Chat => parse_completion(body, size),
        ApiEndpoint::Responses => parse_response(body, size),
    }
}

/// The first choice's content and the usage of a chat completion body; `None` if it is not one.
/// `size`: the call's (prompt tokens, max_tokens), which its usage must keep to.
pub(super) fn parse_completion(body: &[u8], size: (u64, u64)) -> Option<Reply> {
    let c: Completion = serde_json::from_slice(body).ok()?;
    let content = c.choices.into_iter().next()?.message.content?;
    Some(reply(content, UsageShape::Chat, &c.usage, size))
}

/// The output text and the usage of a Responses API body (`object: "response"`): the text of
/// its message items' `output_text` parts, joined, as the SDK's `output_text` joins them. An
/// `incomplete` response with no message (a reasoning model that spent the whole
/// `max_output_tokens` reasoning) is an empty answer with its usage (billed, the post fails
/// `empty_answer`), as chat's `length` with empty content is; a `completed` one with no message,
/// or a body that is no response, is `None`. `size` as for [`parse_completion`].
pub(super) fn parse_response(body: &[u8], size: (u64, u64)) -> Option<Reply> {
    let r: serde_json::Value = serde_json::from_slice(body).ok()?;
    let text = response_text(&r)?;
    let usage = r.get("usage").unwrap_or(&serde_json::Value::Null);
    Some(reply(text, UsageShape::Responses, usage, size))
}

/// The output text of a Responses API object, by [`parse_response`]'s rules (the run's calls
/// and the example service's alike); `None` if it is no finished response.
pub(crate) fn response_text(r: &serde_json::Value) -> Option<String> {
    use serde_json::Value;
    let status = r.get("status")?.as_str()?;
    let output = r.get("output")?.as_array()?;
    let kind = |v: &Value| v.get("type").and_then(Value::as_str).map(str::to_owned);
    let messages: Vec<&Value> = output
        .iter()
        .filter(|i| kind(i).as_deref() == Some("message"))
        .collect();
    match (status, messages.is_empty()) {
        ("incomplete", true) => Some(String::new()),
        ("completed" | "incomplete", false) => {
            let mut text = String::new();
            for m in messages {
                let parts = match m.get("content") {
                    None => continue,
                    Some(c) => c.as_array()?,
                };
                for p in parts
                    .iter()
                    .filter(|p| kind(p).as_deref() == Some("output_text"))
                {
                    match p.get("text") {
                        None | Some(Value::Null) => {}
                        Some(t) => text.push_str(t.as_str()?),
                    }
                }
            }
            Some(text)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::cost::Tokens;

    /// The text and usage of a reply (what most tests look at).
    fn parse_completion(body: &[u8], size: (u64, u64)) -> Option<(String, UsageRead)> {
        super::parse_completion(body, size).map(|r| (r.text, r.usage))
    }

    fn parse_response(body: &[u8], size: (u64, u64)) -> Option<(String, UsageRead)> {
        super::parse_response(body, size).map(|r| (r.text, r.usage))
    }

    fn parse_answer(
        api: ApiEndpoint,
        body: &[u8],
        size: (u64, u64),
    ) -> Option<(String, UsageRead)> {
        super::parse_answer(api, body, size).map(|r| (r.text, r.usage))
    }

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

    fn tokens(prompt: u64, cached: u64, completion: u64) -> UsageRead {
        UsageRead::Tokens(Tokens {
            prompt,
            cached,
            completion,
        })
    }

    #[test]
    fn a_responses_body_gives_its_message_text_and_usage() {
        // A reasoning model's answer: its reasoning item, then the message (two text parts,
        // joined, and a refusal part, not text). Output tokens count the reasoning tokens.
        let ok = br#"{"id":"resp_1","object":"response","status":"completed","output":[
            {"id":"rs_1","type":"reasoning","summary":[]},
            {"id":"msg_1","type":"message","status":"completed","role":"assistant","content":[
                {"type":"output_text","annotations":[],"text":"Fresh "},
                {"type":"refusal","refusal":"no"},
                {"type":"output_text","annotations":[],"text":"bread!"}]}],
            "usage":{"input_tokens":800,"input_tokens_details":{"cached_tokens":256},
                "output_tokens":90,"output_tokens_details":{"reasoning_tokens":64},"total_tokens":890}}"#;
        assert_eq!(
            parse_response(ok, (800, 150)),
            Some(("Fresh bread!".into(), tokens(800, 256, 90)))
        );
        assert_eq!(
            parse_answer(ApiEndpoint::Responses, ok, (800, 150)),
            parse_response(ok, (800, 150))
        );
        // Of its 90 output tokens, 64 were reasoning: 26 are the text's.
        assert_eq!(super::parse_response(ok, (800, 150)).unwrap().visible, 26);
        // Read as a chat completion, it is none.
        assert_eq!(parse_answer(ApiEndpoint::Chat, ok, (800, 150)), None);
        // Cut by max_output_tokens mid-answer: the partial text counts, as chat's `length`.
        let cut = br#"{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
            "output":[{"type":"message","status":"incomplete","content":[{"type":"output_text","text":"Fresh"}]}],
            "usage":{"input_tokens":800,"output_tokens":150}}"#;
        assert_eq!(
            parse_response(cut, (800, 150)),
            Some(("Fresh".into(), tokens(800, 0, 150)))
        );
    }

    #[test]
    fn an_incomplete_response_without_a_message_is_an_empty_answer_with_its_usage() {
        // The reasoning used the whole cap: no message item, only the reasoning one.
        let body = br#"{"status":"incomplete","incomplete_details":{"reason":"max_output_tokens"},
            "output":[{"id":"rs_1","type":"reasoning","summary":[]}],
            "usage":{"input_tokens":800,"output_tokens":150,"output_tokens_details":{"reasoning_tokens":150}}}"#;
        let got = super::parse_response(body, (800, 150));
        assert_eq!(
            got,
            Some(Reply {
                text: String::new(),
                usage: tokens(800, 0, 150),
                visible: 0
            })
        );
        // ... which the call reads as an empty answer, billed its usage: 800 × 2.5 + 150 × 10
        // = 3,500 per 1M, $0.0035.
        let answer = Answer::Ok(got);
        assert!((billed(&GPT_4O, (800, 150), Some(200), &answer) - 0.0035).abs() < 1e-12);
    }

    #[test]
    fn a_responses_body_without_usage_or_not_a_response_is_read_as_chat_ones_are() {
        let no_usage = br#"{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]}"#;
        assert_eq!(
            parse_response(no_usage, (10, 200)),
            Some(("hi".into(), UsageRead::Missing))
        );
        let null_usage = br#"{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":null}"#;
        assert_eq!(
            parse_response(null_usage, (10, 200)),
            Some(("hi".into(), UsageRead::Missing))
        );
        // A usage past the cap (201 of 200): the text stays, the usage is bad.
        let over = br#"{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":10,"output_tokens":201}}"#;
        assert_eq!(
            parse_response(over, (10, 200)),
            Some(("hi".into(), UsageRead::Bad))
        );
        // A message without text parts: an empty answer, not a body error.
        let empty = br#"{"status":"completed","output":[{"type":"message","content":[]}]}"#;
        assert_eq!(
            parse_response(empty, (10, 200)),
            Some((String::new(), UsageRead::Missing))
        );
        for not_one in [
            &b"<html>"[..],
            br#"{"choices":[{"message":{"content":"hi"}}]}"#,
            // Completed, yet no message: nothing answered it.
            br#"{"status":"completed","output":[{"type":"reasoning"}]}"#,
            br#"{"status":"failed","output":[]}"#,
            br#"{"status":"in_progress","output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]}"#,
            br#"{"status":"completed","output":"hi"}"#,
            br#"{"output":[{"type":"message","content":[{"type":"output_text","text":"hi"}]}]}"#,
            br#"{"status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":7}]}]}"#,
        ] {
            assert_eq!(
                parse_response(not_one, (10, 200)),
                None,
                "{}",
                String::from_utf8_lossy(not_one)
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
        let ok = |usage| {
            Answer::Ok(Some(Reply {
                text: "x".into(),
                usage,
                visible: 0,
            }))
        };
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
