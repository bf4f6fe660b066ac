//! What happened to each post, as plain data: its calls ([`CallRecord`]) and their attempts,
//! their kinds and the causes of failure; and the borrowed views ([`CallEnd`], [`PostEnd`]) the
//! recorder folds, so the planner can feed it without building records.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::cost::Tokens;

/// The requests a post makes: the two OpenAI calls of the post pipeline, or the one request to
/// the service under test.
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
    schemars::JsonSchema,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CallKind {
    ImagePrompt,
    Caption,
    /// `POST /api/marketing-post` (or the scenario's `[target]`) to the service under test.
    Service,
}

impl CallKind {
    /// The post pipeline's calls (postload makes the OpenAI calls itself).
    pub const PIPELINE: [CallKind; 2] = [CallKind::ImagePrompt, CallKind::Caption];
    /// Service mode: one request per post; the OpenAI calls happen inside the service.
    pub const SERVICE: [CallKind; 1] = [CallKind::Service];
    pub fn name(self) -> &'static str {
        match self {
            CallKind::ImagePrompt => "image_prompt",
            CallKind::Caption => "caption",
            CallKind::Service => "service",
        }
    }
}

/// Why a post failed: the cause of its last failed attempt.
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
    schemars::JsonSchema,
    Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// 429 after the retries ran out.
    RateLimited,
    /// 5xx after the retries ran out.
    ServerError,
    /// No complete answer within the request timeout.
    Timeout,
    /// The connection could not be made (refused, unreachable).
    Connect,
    /// The connection was reset or closed before the whole response arrived.
    Reset,
    /// A 2xx whose body was not a usable chat completion (or, in service mode, not JSON).
    BadBody,
    /// Any other non-2xx status (4xx), or in service mode any status but the expected one.
    OtherStatus,
    /// Not sent: the spend guard's cap was reached (`--max-cost`).
    BudgetStopped,
    /// A 2xx chat completion with no content: a reasoning model that spent its whole
    /// `max_completion_tokens` reasoning ends `length` with nothing written. Billed, but the post
    /// has no text.
    EmptyAnswer,
}

impl FailureCause {
    /// Its gate metric's name after `failed.` (as result.json's `failed_by_cause` keys it).
    pub fn name(self) -> &'static str {
        match self {
            FailureCause::RateLimited => "rate_limited",
            FailureCause::ServerError => "server_error",
            FailureCause::Timeout => "timeout",
            FailureCause::Connect => "connect",
            FailureCause::Reset => "reset",
            FailureCause::BadBody => "bad_body",
            FailureCause::OtherStatus => "other_status",
            FailureCause::BudgetStopped => "budget_stopped",
            FailureCause::EmptyAnswer => "empty_answer",
        }
    }

    /// In a few words, for a person reading the log.
    pub fn label(self) -> &'static str {
        match self {
            FailureCause::RateLimited => "rate limited",
            FailureCause::ServerError => "server error",
            FailureCause::Timeout => "timed out",
            FailureCause::Connect => "connection refused",
            FailureCause::Reset => "connection reset",
            FailureCause::BadBody => "unexpected body",
            FailureCause::OtherStatus => "unexpected status",
            FailureCause::BudgetStopped => "stopped by the spend guard",
            FailureCause::EmptyAnswer => {
                "empty answer (the reasoning used the whole completion cap)"
            }
        }
    }
}

/// Failed posts by cause as one phrase: `5 connection refused (failed.connect), 1 timed out
/// (failed.timeout)`, each cause with the gate metric that counts it; empty when none failed.
pub fn causes_phrase<'a>(
    by_cause: impl IntoIterator<Item = (&'a FailureCause, &'a u64)>,
) -> String {
    by_cause
        .into_iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{n} {} (failed.{})", k.label(), k.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One attempt of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    /// Since the case's origin.
    pub sent: Duration,
    /// Since the case's origin: when its answer (or its failure) came. A 429's backoff wait
    /// runs from here to the next attempt's `sent` (the waterfall chart draws it).
    pub answered: Duration,
    pub status: Option<u16>,
    /// Tokens this attempt asked the rate limiter for (estimated prompt + max_tokens).
    pub reserved_tokens: u64,
}

/// One call (with its retries).
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    pub kind: CallKind,
    pub attempts: Vec<Attempt>,
    /// Time spent waiting between attempts after 429s (backoff).
    pub rate_limit_backoff: Duration,
    /// Time spent waiting between attempts after other failures.
    pub other_backoff: Duration,
    /// Since the case's origin: first send and final answer (or give-up).
    pub started: Duration,
    pub finished: Duration,
    pub usage: Option<Tokens>,
    /// The answer was a success but its usage could not be true (see `UsageRead::Bad`).
    pub bad_usage: bool,
    /// The model the response named, where the harness reads it (service mode).
    pub model: Option<String>,
    pub failure: Option<FailureCause>,
    /// The answer's modelled time to first token, after its last attempt's send, when the
    /// server said it (the embedded stub's `x-stub-ttft-ms`; a real OpenAI says nothing).
    pub ttft: Option<Duration>,
}

impl CallRecord {
    /// A call of `kind` starting at `started`, before any attempt.
    pub fn new(kind: CallKind, started: Duration) -> Self {
        Self {
            kind,
            attempts: Vec::new(),
            rate_limit_backoff: Duration::ZERO,
            other_backoff: Duration::ZERO,
            started,
            finished: started,
            usage: None,
            bad_usage: false,
            model: None,
            failure: None,
            ttft: None,
        }
    }

    /// When its answer's first token came, since the case's origin: the last attempt's send
    /// plus the time to first token the server said; `None` for a failed call or when the server
    /// did not say.
    pub fn first_token(&self) -> Option<Duration> {
        let sent = self.attempts.last()?.sent;
        self.ttft
            .filter(|_| self.failure.is_none())
            .map(|t| sent + t)
    }
}

/// One post: the intended send time, its calls, and how it ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PostRecord {
    /// When the post should have been sent (since the case's origin). Latency counts from here,
    /// so a late send is not hidden (no coordinated omission).
    pub intended: Duration,
    pub calls: Vec<CallRecord>,
    pub finished: Duration,
    pub failure: Option<FailureCause>,
}

impl PostRecord {
    /// Its first attempt's send, over all its calls (a parallel post's caption may go first, or
    /// alone when the image call was never sent); the intended time if nothing was sent.
    pub fn first_send(&self) -> Duration {
        self.calls
            .iter()
            .filter_map(|c| c.attempts.first())
            .map(|a| a.sent)
            .min()
            .unwrap_or(self.intended)
    }

    /// A successful post's time to its first caption token (what a streamed caption would show
    /// first), from its intended start: `None` for a failed post, or when the server did not say
    /// its caption's time to first token.
    pub fn first_caption_token(&self) -> Option<Duration> {
        if self.failure.is_some() {
            return None;
        }
        let caption = self.calls.iter().find(|c| c.kind == CallKind::Caption)?;
        Some(caption.first_token()?.saturating_sub(self.intended))
    }
}

/// What [`Recorder::record_call`] needs of a finished call.
#[derive(Debug, Clone, Copy)]
pub struct CallEnd<'a> {
    pub kind: CallKind,
    pub started: Duration,
    pub finished: Duration,
    /// Attempts made (the first and its retries).
    pub attempts: u32,
    pub usage: Option<Tokens>,
    /// A successful answer whose usage could not be true.
    pub bad_usage: bool,
    pub model: Option<&'a str>,
    pub failed: bool,
}

/// What [`Recorder::record_post`] needs of a finished post.
#[derive(Debug, Clone, Copy)]
pub struct PostEnd {
    pub intended: Duration,
    /// The first attempt's send (the intended time if nothing was sent).
    pub first_send: Duration,
    pub finished: Duration,
    pub failure: Option<FailureCause>,
    /// Backoff after 429s, summed over the post's calls.
    pub rate_limit_backoff: Duration,
}
