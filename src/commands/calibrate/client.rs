//! One designed call over HTTP, timed from the request's send to its first content chunk (when
//! streamed) and to the answer's last byte. The answer is never trusted: its body is read up to
//! [`MAX_ANSWER_BYTES`], a body that is no chat completion or lacks a usage is a failed call
//! (counted, never a panic), and the rate-limit headers are read from every answer, 429s included.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::calibrate::limits::AccountLimits;
use crate::calibrate::{CallSpec, Observation};
use crate::metrics::cost::{Tokens, UsageRead};
use crate::secret::Secret;

/// The most bytes of one answer read (a designed answer is a few KiB, streamed a few dozen).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;

/// What one call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// A 2xx with a chat completion and its usage.
    Answered(Observation),
    /// A 429: not an observation; wait as the headers say.
    RateLimited,
    /// Anything else, in a few words (the status, the transport error, what was wrong with the
    /// body); no header value and no key.
    Failed(String),
}

/// A call's outcome with what its answer's headers said of the limits, and the tokens it is
/// billed for (`None`: not known, so the spend guard keeps its worst case).
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub outcome: CallOutcome,
    pub limits: AccountLimits,
    pub tokens: Option<Tokens>,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
}

/// Where and how calls are sent.
pub struct Caller {
    pub client: reqwest::Client,
    /// `<base>/chat/completions`.
    pub url: String,
    pub api_key: Option<Secret>,
    /// Measured times are multiplied by this (a time-scaled stub's clock runs this much faster).
    pub time_scale: f64,
}

impl Caller {
    /// Sends `body` (the call `spec`) and reads its answer.
    pub async fn send(&self, spec: &CallSpec, body: &Value) -> Sent {
        let mut req = self.client.post(&self.url).json(body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        let start = Instant::now();
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return failed(None, transport(&e)),
        };
        let status = resp.status().as_u16();
        let limits = AccountLimits::from_headers(|name| {
            resp.headers().get(name).and_then(|v| v.to_str().ok())
        });
        if status == 429 {
            return Sent {
                outcome: CallOutcome::RateLimited,
                limits,
                tokens: Some(Tokens::default()),
                status: Some(status),
            };
        }
        if !(200..300).contains(&status) {
            return Sent {
                limits,
                ..failed(Some(status), format!("HTTP {status}"))
            };
        }
        let streamed = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let read = read_answer(resp, streamed, start).await;
        let scale = |d: Duration| d.as_secs_f64() * 1000.0 * self.time_scale;
        let mut sent = match read {
            Ok(answer) => match answer.usage {
                UsageRead::Tokens(t) => Sent {
                    outcome: CallOutcome::Answered(Observation {
                        purpose: spec.purpose,
                        prompt_tokens: t.prompt as u32,
                        completion_tokens: t.completion as u32,
                        cached_tokens: t.cached as u32,
                        latency_ms: scale(answer.last_byte),
                        first_token_ms: answer.first_token.map(scale),
                    }),
                    limits,
                    tokens: Some(t),
                    status: Some(status),
                },
                UsageRead::Missing => failed(Some(status), "the answer has no usage".into()),
                UsageRead::Bad => failed(Some(status), "the answer's usage is impossible".into()),
            },
            Err(why) => failed(Some(status), why),
        };
        sent.limits = limits;
        sent
    }
}

fn failed(status: Option<u16>, why: String) -> Sent {
    Sent {
        outcome: CallOutcome::Failed(why),
        limits: AccountLimits::default(),
        tokens: None,
        status,
    }
}

/// A transport error in a few words (reqwest's message may hold the URL, never the key).
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "could not connect".into()
    } else {
        "the connection broke".into()
    }
}

/// A read answer: its usage and when its first content and last byte came.
struct Answer {
    usage: UsageRead,
    first_token: Option<Duration>,
    last_byte: Duration,
}

/// Reads the body chunk by chunk (bounded), noting when the first content delta of a stream
/// arrives.
async fn read_answer(
    mut resp: reqwest::Response,
    streamed: bool,
    start: Instant,
) -> Result<Answer, String> {
    let mut body: Vec<u8> = Vec::new();
    let mut events = SseReader::default();
    let mut first_token = None;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(transport(&e)),
        };
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(format!("the answer passed {MAX_ANSWER_BYTES} bytes"));
        }
        body.extend_from_slice(&chunk);
        if streamed && first_token.is_none() && events.feed(&chunk) {
            first_token = Some(start.elapsed());
        }
    }
    let last_byte = start.elapsed();
    let usage = if streamed {
        stream_usage(&body)?
    } else {
        completion_usage(&body)?
    };
    Ok(Answer {
        usage,
        first_token,
        last_byte,
    })
}

/// Finds the first content delta in a stream as its bytes arrive.
#[derive(Default)]
struct SseReader {
    pending: Vec<u8>,
}

impl SseReader {
    /// Takes more bytes; true once a complete event carries a non-empty content delta.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        self.pending.extend_from_slice(bytes);
        while let Some(end) = find(&self.pending, b"\n") {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if let Some(v) = data_json(&line) {
                let content = v
                    .pointer("/choices/0/delta/content")
                    .and_then(Value::as_str);
                if content.is_some_and(|c| !c.is_empty()) {
                    return true;
                }
            }
        }
        false
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JSON of an SSE `data:` line (not `[DONE]`).
fn data_json(line: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let data = text.strip_prefix("data:")?.trim();
    serde_json::from_str(data).ok()
}

fn read_usage(u: &Value, max: Option<u64>) -> UsageRead {
    if u.is_null() {
        UsageRead::Missing
    } else if !u.is_object() {
        UsageRead::Bad
    } else {
        UsageRead::read(
            u.get("prompt_tokens"),
            u.get("completion_tokens"),
            u.pointer("/prompt_tokens_details/cached_tokens"),
            max,
        )
    }
}

/// The usage of a `chat.completion` body.
fn completion_usage(body: &[u8]) -> Result<UsageRead, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_string())?;
    if v.pointer("/choices/0/message").is_none() {
        return Err("the answer is no chat completion".into());
    }
    Ok(read_usage(v.get("usage").unwrap_or(&Value::Null), None))
}

/// The usage of a stream: its last non-null `usage` (the usage chunk with
/// `stream_options.include_usage`).
fn stream_usage(body: &[u8]) -> Result<UsageRead, String> {
    let mut usage = UsageRead::Missing;
    let mut chunks = 0;
    for line in body.split(|b| *b == b'\n') {
        if let Some(v) = data_json(line) {
            chunks += 1;
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                usage = read_usage(u, None);
            }
        }
    }
    if chunks == 0 {
        return Err("the stream has no chunks".into());
    }
    Ok(usage)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_content_delta_is_found_across_chunk_boundaries() {
        let mut r = SseReader::default();
        assert!(!r.feed(
            b"data: {\"choices\":[{\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n"
        ));
        assert!(!r.feed(b"data: {\"choices\":[{\"delta\":{\"cont"));
        assert!(r.feed(b"ent\":\"Hi\"}}]}\n\n"));
        let mut junk = SseReader::default();
        assert!(!junk.feed(b"data: not json\n\ndata: [DONE]\n\n: comment\n"));
    }

    #[test]
    fn usage_from_a_stream_or_a_completion_or_a_refusal() {
        let stream = b"data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}],\"usage\":null}\n\n\
data: {\"choices\":[],\"usage\":{\"prompt_tokens\":12,\"completion_tokens\":1,\"prompt_tokens_details\":{\"cached_tokens\":0}}}\n\n\
data: [DONE]\n\n";
        assert_eq!(
            stream_usage(stream),
            Ok(UsageRead::Tokens(Tokens {
                prompt: 12,
                cached: 0,
                completion: 1
            }))
        );
        assert_eq!(
            stream_usage(b"data: {\"choices\":[]}\n\n"),
            Ok(UsageRead::Missing)
        );
        assert!(stream_usage(b"<html>").is_err());
        let plain = br#"{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
        assert!(matches!(completion_usage(plain), Ok(UsageRead::Tokens(_))));
        assert_eq!(
            completion_usage(br#"{"choices":[{"message":{}}],"usage":"lots"}"#),
            Ok(UsageRead::Bad)
        );
        assert!(completion_usage(b"{}").is_err());
        assert!(completion_usage(b"\xff\xfe").is_err());
    }
}
