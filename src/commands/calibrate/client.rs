//! One designed call over HTTP, timed from the request's send to its first content chunk (when
//! streamed) and to the answer's last byte. The answer is never trusted: its body is read up to
//! [`MAX_ANSWER_BYTES`], a body that is no chat completion or lacks a usage is a failed call
//! (counted, never a panic), and the rate-limit headers are read from every answer, 429s included.

use std::time::Duration;

// tokio's clock (the wall clock unless a test pauses it), so that a test can time calls exactly.
use tokio::time::Instant;

use serde_json::Value;

use crate::calibrate::limits::AccountLimits;
use crate::calibrate::{CallSpec, Observation, Purpose};
use crate::metrics::cost::Tokens;
use crate::metrics::usage::{
    completion_cap_of, read_call_usage, visible_completion, Asked, UsageRead, UsageShape,
};
use crate::secret::Secret;

/// The most bytes of one answer read (a designed answer is a few KiB, streamed a few dozen).
pub const MAX_ANSWER_BYTES: usize = 4 << 20;
/// The most bytes of one line of a stream before its newline (a chunk is a few hundred bytes):
/// past it the answer fails, so that a stream is read in linear time and bounded memory
/// whatever its framing.
pub const MAX_SSE_LINE_BYTES: usize = 64 << 10;

/// The failure a call whose reasoning left no visible token counts as.
pub const REASONED_OUT: &str =
    "no visible token: the reasoning spent the completion cap (not an observation)";

/// What one call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// A 2xx with a chat completion and its usage.
    Answered(Observation),
    /// A reasoning model's answer with no visible token: its reasoning spent the completion
    /// cap (`finish_reason: "length"`, empty content). Billed, never a timing observation (it
    /// has no first token, and its length says nothing of the writing speed).
    ReasonedOut { reasoning_tokens: u32 },
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
    /// Limit headers ignored as out of range ([`AccountLimits::out_of_range`]).
    pub ignored_headers: Vec<String>,
}

/// Where and how calls are sent.
pub struct Caller {
    pub client: reqwest::Client,
    /// `<base>/chat/completions`.
    pub url: String,
    pub api_key: Option<Secret>,
    /// Measured times are multiplied by this (a time-scaled stub's clock runs this much faster).
    pub time_scale: crate::clock::TimeScale,
    /// The most one attempt may take, from its send to its answer's last byte (real time).
    pub call_timeout: Duration,
}

/// The slowest writing speed of the shipped profiles (tokens/s) and the longest time to first
/// token a call is given (modelled seconds): a call capped at `n` tokens may take `11 + n/20` s.
const SLOWEST_TOKENS_PER_S: f64 = 20.0;
const LONGEST_FIRST_S: f64 = 11.0;

/// The most one attempt capped at `max_tokens` may take (modelled seconds): `base_s`, or, for a
/// call allowed more than the designed calls' 1,024 tokens (a reasoning call, whose reasoning can
/// reach its cap), its cap at the slowest speed after the longest first token. A reasoning call
/// cut off sooner would drop exactly the calls that reasoned longest, and bias the fit low.
pub fn call_limit_s(base_s: f64, max_tokens: u32) -> f64 {
    base_s.max(LONGEST_FIRST_S + max_tokens as f64 / SLOWEST_TOKENS_PER_S)
}

impl Caller {
    /// Sends `body` (the call `spec`) and reads its answer, within [`Caller::call_timeout`]
    /// (or [`call_limit_s`] for a call allowed more tokens): past it the attempt is abandoned
    /// as timed out (its worst case kept).
    pub async fn send(&self, spec: &CallSpec, body: &Value) -> Sent {
        let base_s = self.time_scale.to_modelled(self.call_timeout.as_secs_f64());
        let limit_s = call_limit_s(base_s, spec.max_tokens);
        let limit = self
            .call_timeout
            .max(Duration::from_secs_f64(self.time_scale.to_real(limit_s)));
        match tokio::time::timeout(limit, self.send_unbounded(spec, body)).await {
            Ok(sent) => sent,
            Err(_) => failed(
                None,
                format!(
                    "no whole answer within {} s",
                    crate::limits::num(self.time_scale.to_modelled(limit.as_secs_f64()))
                ),
            ),
        }
    }

    async fn send_unbounded(&self, spec: &CallSpec, body: &Value) -> Sent {
        let mut req = self.client.post(&self.url).json(body);
        if let Some(key) = &self.api_key {
            req = req.bearer_auth(key.expose());
        }
        let start = Instant::now();
        let resp = match req.send().await {
            // Never connected: nothing was sent, nothing can be billed.
            Err(e) if e.is_connect() => {
                return Sent {
                    tokens: Some(Tokens::default()),
                    ..failed(None, transport(&e))
                }
            }
            Err(e) => return failed(None, transport(&e)),
            Ok(r) => r,
        };
        let status = resp.status().as_u16();
        let header = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok());
        let limits = AccountLimits::from_headers(header);
        let ignored_headers = AccountLimits::out_of_range(header);
        if !(200..300).contains(&status) {
            // An HTTP error is not billed (OpenAI bills no failed request; docs/calibrate.md).
            let outcome = if status == 429 {
                CallOutcome::RateLimited
            } else {
                CallOutcome::Failed(format!("HTTP {status}"))
            };
            return Sent {
                outcome,
                limits,
                tokens: Some(Tokens::default()),
                status: Some(status),
                ignored_headers,
            };
        }
        let streamed = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let asked = Asked {
            prompt_tokens: Some(u64::from(spec.prompt_tokens)),
            max_tokens: completion_cap_of(body).or(Some(u64::from(spec.max_tokens))),
        };
        let read = read_answer(resp, streamed, start, asked).await;
        let scale = |d: Duration| self.time_scale.to_modelled(d.as_secs_f64() * 1000.0);
        // Only a complete answer with a plausible usage is observed and priced by its usage;
        // anything else keeps its worst case (`tokens: None`).
        let mut sent = match read {
            Ok(answer) => match answer.usage {
                UsageRead::Tokens(t) => Sent {
                    outcome: observed(
                        spec,
                        t,
                        answer.visible,
                        scale(answer.last_byte),
                        answer.first_token.map(scale),
                    ),
                    limits,
                    tokens: Some(t),
                    status: Some(status),
                    ignored_headers: Vec::new(),
                },
                UsageRead::Missing => failed(Some(status), "the answer has no usage".into()),
                UsageRead::Bad => failed(Some(status), "the answer's usage is impossible".into()),
            },
            Err(why) => failed(Some(status), why),
        };
        sent.limits = limits;
        sent.ignored_headers = ignored_headers;
        sent
    }
}

/// What an answered call with usage `t`, of which `visible` tokens are visible (the rest
/// reasoning), showed: an observation counting the visible tokens as written, or, when none is
/// visible and the reasoning took the tokens, [`CallOutcome::ReasonedOut`] (but for a call at a
/// measured effort, whose count is then censored: an observation with no visible token). Pure.
pub fn observed(
    spec: &CallSpec,
    t: Tokens,
    visible: u64,
    latency_ms: f64,
    first_token_ms: Option<f64>,
) -> CallOutcome {
    let visible = visible.min(t.completion);
    let reasoning = (t.completion - visible) as u32;
    // At a measured effort, reasoning to the cap is what the call shows (a censored count).
    if visible == 0 && reasoning > 0 && !matches!(spec.purpose, Purpose::Reasoning(_)) {
        return CallOutcome::ReasonedOut {
            reasoning_tokens: reasoning,
        };
    }
    CallOutcome::Answered(Observation {
        purpose: spec.purpose,
        prompt_tokens: t.prompt as u32,
        completion_tokens: visible as u32,
        cached_tokens: t.cached as u32,
        reasoning_tokens: reasoning,
        latency_ms,
        first_token_ms,
    })
}

fn failed(status: Option<u16>, why: String) -> Sent {
    Sent {
        outcome: CallOutcome::Failed(why),
        limits: AccountLimits::default(),
        tokens: None,
        status,
        ignored_headers: Vec::new(),
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

/// A read answer: its usage, its visible completion tokens (the completion less the reasoning
/// tokens its usage reports), and when its first content and last byte came.
struct Answer {
    usage: UsageRead,
    visible: u64,
    first_token: Option<Duration>,
    last_byte: Duration,
}

/// Reads the body chunk by chunk (bounded), noting when the first content delta of a stream
/// arrives. A stream is read as it comes, each byte looked at once; a plain answer is parsed
/// whole at its end.
async fn read_answer(
    mut resp: reqwest::Response,
    streamed: bool,
    start: Instant,
    asked: Asked,
) -> Result<Answer, String> {
    let mut body: Vec<u8> = Vec::new();
    let mut read = 0usize;
    let mut events = SseReader::default();
    let mut first_token = None;
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(c)) => c,
            Ok(None) => break,
            Err(e) => return Err(transport(&e)),
        };
        read += chunk.len();
        if read > MAX_ANSWER_BYTES {
            return Err(format!("the answer passed {MAX_ANSWER_BYTES} bytes"));
        }
        if streamed {
            if events.feed(&chunk)? && first_token.is_none() {
                first_token = Some(start.elapsed());
            }
        } else {
            body.extend_from_slice(&chunk);
        }
    }
    let last_byte = start.elapsed();
    let (usage, visible) = if streamed {
        events.finish()?;
        let usage = events.usage(asked)?;
        let visible = visible_completion(UsageShape::Chat, events.usage.as_ref(), usage);
        (usage, visible)
    } else {
        completion_read(&body, asked)?
    };
    Ok(Answer {
        usage,
        visible,
        first_token,
        last_byte,
    })
}

/// Reads a stream line by line as its bytes arrive: the first content delta, the chunks, the
/// last non-null `usage` (the usage chunk with `stream_options.include_usage`). Each byte is
/// scanned once and a pending line holds at most [`MAX_SSE_LINE_BYTES`].
#[derive(Default)]
struct SseReader {
    pending: Vec<u8>,
    content: bool,
    chunks: u64,
    usage: Option<Value>,
}

impl SseReader {
    /// Takes more bytes; `Ok(true)` when they brought the first content delta, an error when a
    /// line passes [`MAX_SSE_LINE_BYTES`].
    fn feed(&mut self, bytes: &[u8]) -> Result<bool, String> {
        let before = self.content;
        let mut rest = bytes;
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            let (line, tail) = rest.split_at(end);
            rest = &tail[1..];
            if self.pending.is_empty() {
                self.line(line)?;
            } else {
                self.hold(line)?;
                let whole = std::mem::take(&mut self.pending);
                self.line(&whole)?;
            }
        }
        self.hold(rest)?;
        Ok(self.content && !before)
    }

    /// Keeps the start of a line whose end has not come yet.
    fn hold(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.pending.len() + bytes.len() > MAX_SSE_LINE_BYTES {
            return Err(format!(
                "a line of the stream passed {MAX_SSE_LINE_BYTES} bytes"
            ));
        }
        self.pending.extend_from_slice(bytes);
        Ok(())
    }

    fn line(&mut self, line: &[u8]) -> Result<(), String> {
        if line.len() > MAX_SSE_LINE_BYTES {
            return Err(format!(
                "a line of the stream passed {MAX_SSE_LINE_BYTES} bytes"
            ));
        }
        let Some(v) = data_json(line) else {
            return Ok(());
        };
        self.chunks += 1;
        let content = v
            .pointer("/choices/0/delta/content")
            .and_then(Value::as_str);
        if content.is_some_and(|c| !c.is_empty()) {
            self.content = true;
        }
        if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
            self.usage = Some(u.clone());
        }
        Ok(())
    }

    /// The stream ended: its last line may lack a newline.
    fn finish(&mut self) -> Result<(), String> {
        let last = std::mem::take(&mut self.pending);
        self.line(&last)
    }

    /// The stream's usage, checked against the call `asked`.
    fn usage(&self, asked: Asked) -> Result<UsageRead, String> {
        if self.chunks == 0 {
            return Err("the stream has no chunks".into());
        }
        Ok(read_call_usage(self.usage.as_ref(), asked))
    }
}

/// The JSON of an SSE `data:` line (not `[DONE]`).
fn data_json(line: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(line).ok()?.trim();
    let data = text.strip_prefix("data:")?.trim();
    serde_json::from_str(data).ok()
}

/// The usage of a `chat.completion` body, checked against the call `asked`, and its visible
/// completion tokens.
fn completion_read(body: &[u8], asked: Asked) -> Result<(UsageRead, u64), String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| "the answer is not JSON".to_string())?;
    if v.pointer("/choices/0/message").is_none() {
        return Err("the answer is no chat completion".into());
    }
    let usage = read_call_usage(v.get("usage"), asked);
    Ok((
        usage,
        visible_completion(UsageShape::Chat, v.get("usage"), usage),
    ))
}

/// The usage of a `chat.completion` body (tests).
#[cfg(test)]
fn completion_usage(body: &[u8], asked: Asked) -> Result<UsageRead, String> {
    completion_read(body, asked).map(|(u, _)| u)
}

/// The usage of a whole stream's bytes (tests and the property tests).
#[cfg(test)]
fn stream_usage(body: &[u8], asked: Asked) -> Result<UsageRead, String> {
    let mut r = SseReader::default();
    r.feed(body)?;
    r.finish()?;
    r.usage(asked)
}

#[cfg(test)]
mod tests;
