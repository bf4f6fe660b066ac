//! Measurements of a run, as plain data: what each post did ([`PostRecord`]), the
//! [`Recorder`] that folds posts into HdrHistograms, token sums, counts and a per-second timeline,
//! and the serializable [`CaseSummary`] it produces. No tokio, no clock, no I/O: times come in as
//! durations since the case's origin.

pub mod budget;
pub mod cost;
pub mod hdr;
pub mod hlog;

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use self::cost::{cost_usd, monthly, Monthly, Tokens};
use crate::openai::catalog::Price;

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
}

/// One attempt of one call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    /// Since the case's origin.
    pub sent: Duration,
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
        }
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
    pub fn first_send(&self) -> Duration {
        self.calls
            .first()
            .and_then(|c| c.attempts.first())
            .map_or(self.intended, |a| a.sent)
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

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 3_600_000_000)
}

/// Per-second counters of the timeline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Second {
    pub second: u64,
    /// Attempts sent.
    pub sends: u64,
    /// Posts finished (ok or failed).
    pub completions: u64,
    /// Posts in flight at the end of the second.
    pub in_flight: i64,
    pub rate_limited: u64,
    /// Tokens (prompt + completion) of calls answered in this second.
    pub tokens: u64,
}

/// Folds posts into histograms, counters and the timeline. Memory does not grow with the number
/// of posts (only with the run's length in seconds).
#[derive(Debug, Clone)]
pub struct Recorder {
    pub post_ok: Histogram<u64>,
    pub post_failed: Histogram<u64>,
    pub calls: BTreeMap<CallKind, Histogram<u64>>,
    pub backoff: Histogram<u64>,
    pub tokens: BTreeMap<CallKind, Tokens>,
    pub calls_with_usage: BTreeMap<CallKind, u64>,
    /// Successful calls whose response carried no usage: the token totals are then unknown.
    pub ok_calls_without_usage: u64,
    /// Of those, calls whose usage could not be true.
    pub bad_usage_calls: u64,
    /// The model the responses named (service mode's `model` pointer), by count.
    pub models_reported: BTreeMap<String, u64>,
    pub posts_ok: u64,
    pub failures: BTreeMap<FailureCause, u64>,
    pub late_sends: u64,
    pub call_count: u64,
    pub attempts: u64,
    pub http_429s: u64,
    pub retries: u64,
    pub rejected_reserved_tokens: u64,
    first_send: Option<Duration>,
    last_first_send: Option<Duration>,
    last_finish: Option<Duration>,
    timeline: Vec<Second>,
    in_flight_delta: Vec<i64>,
    /// A send more than this after its intended time counts as late.
    late_after: Duration,
    sample: Vec<PostPoint>,
    seen: u64,
    /// xorshift state for the reservoir (fixed seed: the same posts give the same sample).
    sample_rng: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new(Duration::from_millis(10))
    }
}

/// Distinct model names a recorder keeps (a service echoing junk must not grow it).
const MAX_MODELS_REPORTED: usize = 16;

impl Recorder {
    /// A recorder for the post pipeline's calls.
    pub fn new(late_after: Duration) -> Self {
        Self::for_kinds(late_after, &CallKind::PIPELINE)
    }

    /// A recorder keeping a latency histogram for each of `kinds`.
    pub fn for_kinds(late_after: Duration, kinds: &[CallKind]) -> Self {
        Self {
            post_ok: hdr::micros(),
            post_failed: hdr::micros(),
            calls: kinds.iter().map(|k| (*k, hdr::micros())).collect(),
            backoff: hdr::micros(),
            tokens: BTreeMap::new(),
            calls_with_usage: BTreeMap::new(),
            ok_calls_without_usage: 0,
            bad_usage_calls: 0,
            models_reported: BTreeMap::new(),
            posts_ok: 0,
            failures: BTreeMap::new(),
            late_sends: 0,
            call_count: 0,
            attempts: 0,
            http_429s: 0,
            retries: 0,
            rejected_reserved_tokens: 0,
            first_send: None,
            last_first_send: None,
            last_finish: None,
            timeline: Vec::new(),
            in_flight_delta: Vec::new(),
            late_after,
            sample: Vec::new(),
            seen: 0,
            sample_rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn second(&mut self, at: Duration) -> &mut Second {
        let s = at.as_secs() as usize;
        if self.timeline.len() <= s {
            let from = self.timeline.len();
            self.timeline.extend((from..=s).map(|i| Second {
                second: i as u64,
                ..Second::default()
            }));
            self.in_flight_delta.resize(s + 1, 0);
        }
        &mut self.timeline[s]
    }

    /// Keeps a uniform sample of at most SAMPLE_POSTS posts (Algorithm R).
    fn sample_post(&mut self, point: PostPoint) {
        self.seen += 1;
        if self.sample.len() < SAMPLE_POSTS {
            self.sample.push(point);
            return;
        }
        let x = &mut self.sample_rng;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        let j = (*x % self.seen) as usize;
        if j < SAMPLE_POSTS {
            self.sample[j] = point;
        }
    }

    /// Folds one finished post: its attempts, its calls, then the post. The planner calls the
    /// three steps itself as its calls happen (no per-post records); the sum is the same.
    pub fn record(&mut self, post: &PostRecord) {
        let mut backoff = Duration::ZERO;
        for call in &post.calls {
            for a in &call.attempts {
                self.record_attempt(a.sent, a.status, a.reserved_tokens);
            }
            self.record_call(&CallEnd {
                kind: call.kind,
                started: call.started,
                finished: call.finished,
                attempts: call.attempts.len() as u32,
                usage: call.usage,
                bad_usage: call.bad_usage,
                model: call.model.as_deref(),
                failed: call.failure.is_some(),
            });
            backoff += call.rate_limit_backoff;
        }
        self.record_post(&PostEnd {
            intended: post.intended,
            first_send: post.first_send(),
            finished: post.finished,
            failure: post.failure,
            rate_limit_backoff: backoff,
        });
    }

    /// One attempt sent at `sent` that got `status` (None: no answer).
    pub fn record_attempt(&mut self, sent: Duration, status: Option<u16>, reserved_tokens: u64) {
        self.attempts += 1;
        let second = self.second(sent);
        second.sends += 1;
        if status == Some(429) {
            second.rate_limited += 1;
            self.http_429s += 1;
            self.rejected_reserved_tokens += reserved_tokens;
        }
    }

    /// One call, answered or given up.
    pub fn record_call(&mut self, call: &CallEnd) {
        self.call_count += 1;
        let _ = self
            .calls
            .entry(call.kind)
            .or_insert_with(hdr::micros)
            .record(micros(call.finished.saturating_sub(call.started)));
        if let Some(model) = call.model {
            if let Some(n) = self.models_reported.get_mut(model) {
                *n += 1;
            } else if self.models_reported.len() < MAX_MODELS_REPORTED {
                self.models_reported.insert(model.to_owned(), 1);
            }
        }
        self.retries += call.attempts.saturating_sub(1) as u64;
        if let Some(usage) = call.usage {
            self.tokens.entry(call.kind).or_default().add(usage);
            *self.calls_with_usage.entry(call.kind).or_default() += 1;
            self.second(call.finished).tokens += usage.total();
        } else if !call.failed {
            self.ok_calls_without_usage += 1;
            self.bad_usage_calls += u64::from(call.bad_usage);
        }
    }

    /// One post, after its calls.
    pub fn record_post(&mut self, post: &PostEnd) {
        let latency = post.finished.saturating_sub(post.intended);
        self.sample_post(PostPoint {
            sent_s: post.intended.as_secs_f64(),
            latency_ms: latency.as_secs_f64() * 1000.0,
            outcome: match post.failure {
                None => PostOutcome::Ok,
                Some(FailureCause::RateLimited) => PostOutcome::RateLimited,
                Some(_) => PostOutcome::OtherFailure,
            },
        });
        match post.failure {
            None => {
                self.posts_ok += 1;
                let _ = self.post_ok.record(micros(latency));
            }
            Some(cause) => {
                *self.failures.entry(cause).or_default() += 1;
                let _ = self.post_failed.record(micros(latency));
            }
        }
        let first = post.first_send;
        if first.saturating_sub(post.intended) > self.late_after {
            self.late_sends += 1;
        }
        self.first_send = Some(self.first_send.map_or(first, |f| f.min(first)));
        self.last_first_send = Some(self.last_first_send.map_or(first, |f| f.max(first)));
        self.last_finish = Some(
            self.last_finish
                .map_or(post.finished, |f| f.max(post.finished)),
        );
        if !post.rate_limit_backoff.is_zero() {
            let _ = self.backoff.record(micros(post.rate_limit_backoff));
        }
        self.second(post.finished).completions += 1;
        // In flight from the intended send to the finish.
        let (start, end) = (
            post.intended.as_secs() as usize,
            post.finished.as_secs() as usize,
        );
        self.in_flight_delta[start] += 1;
        self.in_flight_delta[end] -= 1;
    }

    /// The histograms by the tags their interval logs use.
    pub fn tagged(&self) -> Vec<(&'static str, &Histogram<u64>)> {
        let mut v = vec![
            ("post_ok", &self.post_ok),
            ("post_failed", &self.post_failed),
        ];
        for (k, h) in &self.calls {
            v.push((k.name(), h));
        }
        v.push(("backoff", &self.backoff));
        v
    }

    pub fn posts(&self) -> u64 {
        self.posts_ok + self.failures.values().sum::<u64>()
    }

    /// First send to last completion.
    pub fn makespan(&self) -> Duration {
        match (self.first_send, self.last_finish) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        }
    }

    /// First to last first-send of the posts.
    pub fn start_spread(&self) -> Duration {
        match (self.first_send, self.last_first_send) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => Duration::ZERO,
        }
    }

    pub fn timeline(&self) -> Vec<Second> {
        let mut running = 0i64;
        self.timeline
            .iter()
            .zip(&self.in_flight_delta)
            .map(|(s, d)| {
                running += d;
                Second {
                    in_flight: running,
                    ..*s
                }
            })
            .collect()
    }

    /// All tokens of all calls.
    pub fn total_tokens(&self) -> Tokens {
        let mut t = Tokens::default();
        for v in self.tokens.values() {
            t.add(*v);
        }
        t
    }

    pub fn summarize(&self, price: Option<&Price>, users: u64) -> Measured {
        let posts = self.posts();
        let tokens = self.total_tokens();
        // One response without usage makes the totals a lower bound, not a measurement.
        let source = if self.ok_calls_without_usage > 0 {
            TokenSource::Unknown
        } else {
            TokenSource::Responses
        };
        let mut m = Measured {
            posts: Posts {
                total: posts,
                ok: self.posts_ok,
                failed: posts - self.posts_ok,
                failed_by_cause: self.failures.clone(),
                late_sends: self.late_sends,
            },
            post_latency_ms: LatencyPair {
                ok: Percentiles::of(&self.post_ok),
                failed: Percentiles::of(&self.post_failed),
            },
            call_latency_ms: self
                .calls
                .iter()
                .map(|(k, h)| (k.name().to_string(), Percentiles::of(h)))
                .collect(),
            backoff_ms: Percentiles::of(&self.backoff),
            makespan_ms: ms(self.makespan()),
            start_spread_ms: ms(self.start_spread()),
            calls: Calls {
                calls: self.call_count,
                attempts: self.attempts,
                retries: self.retries,
                http_429: self.http_429s,
                rejected_reserved_tokens: self.rejected_reserved_tokens,
            },
            tokens: TokenSummary {
                by_call: self
                    .tokens
                    .iter()
                    .map(|(k, t)| (k.name().to_string(), *t))
                    .collect(),
                total: tokens,
                per_post: 0.0,
                per_ok_post: None,
                source,
                calls_without_usage: self.ok_calls_without_usage,
                bad_usage: self.bad_usage_calls,
            },
            cost: None,
            models_reported: self.models_reported.clone(),
            timeline: self.timeline(),
            percentile_curve: self
                .post_ok
                .iter_quantiles(2)
                .map(|v| CurvePoint {
                    percentile: v.quantile_iterated_to() * 100.0,
                    ms: hdr::ms(&self.post_ok, v.value_iterated_to()),
                })
                .collect(),
            posts_sample: self.sample.clone(),
            histograms: self
                .tagged()
                .into_iter()
                .map(|(tag, h)| (tag.to_string(), hlog::encode(h)))
                .collect(),
        };
        m.set_tokens(tokens, source, price, users);
        m
    }
}

impl Measured {
    /// Sets the token totals (measured from the responses, or attributed from the stub's counts)
    /// and derives the per-post figures and the cost from them. Unknown tokens have no per-post
    /// figures and no cost.
    pub fn set_tokens(
        &mut self,
        tokens: Tokens,
        source: TokenSource,
        price: Option<&Price>,
        users: u64,
    ) {
        let posts = self.posts.total;
        let ok = self.posts.ok;
        let known = source != TokenSource::Unknown;
        self.tokens.total = tokens;
        self.tokens.source = source;
        self.tokens.per_post = if known && posts > 0 {
            tokens.total() as f64 / posts as f64
        } else {
            0.0
        };
        self.tokens.per_ok_post = (known && ok > 0).then(|| tokens.total() as f64 / ok as f64);
        self.cost = price.filter(|_| known).map(|p| {
            let total = cost_usd(p, tokens);
            let per_post = if posts > 0 { total / posts as f64 } else { 0.0 };
            Cost {
                total_usd: total,
                per_post_usd: per_post,
                per_ok_post_usd: (ok > 0).then(|| total / ok as f64),
                per_batch_usd: per_post * users as f64,
                monthly: monthly(users, per_post),
            }
        });
    }
}

/// Where a case's token totals come from.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The usage of every successful response.
    #[default]
    Responses,
    /// The stub's counts over the case (service mode with `--with-stub`, when the service's
    /// responses carry no usage).
    Stub,
    /// Some successful response had no usage and no stub counted: the totals are a lower bound,
    /// reported as unknown.
    Unknown,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Percentiles of a histogram, in milliseconds, exact to its three significant figures (each is
/// the middle of its HdrHistogram bucket). Empty histograms give `None`s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p99_9: Option<f64>,
    pub max: Option<f64>,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let q = |q: f64| Some(hdr::percentile_ms(h, q));
        Self {
            count: h.len(),
            min: Some(hdr::ms(h, h.min())),
            mean: Some(h.mean() / 1000.0),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            max: Some(hdr::ms(h, h.max())),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Posts {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub failed_by_cause: BTreeMap<FailureCause, u64>,
    /// Sends more than 10 ms after their intended time (sustained scenarios).
    pub late_sends: u64,
}

impl Posts {
    /// The success share ok / total, 0 when nothing was posted.
    pub fn success_share(&self) -> f64 {
        self.scaled_success(1.0)
    }

    /// The success share in percent, 100 × ok / total: scaled before the division, so 23 of 40
    /// is 57.5 exactly, not 57.49999999999999 (the reports print what they printed before).
    pub fn success_percent(&self) -> f64 {
        self.scaled_success(100.0)
    }

    fn scaled_success(&self, scale: f64) -> f64 {
        if self.total > 0 {
            scale * self.ok as f64 / self.total as f64
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct LatencyPair {
    pub ok: Percentiles,
    pub failed: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Calls {
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub http_429: u64,
    /// Tokens that 429-rejected attempts asked to reserve (estimated prompt + max_tokens).
    pub rejected_reserved_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenSummary {
    pub by_call: BTreeMap<String, Tokens>,
    pub total: Tokens,
    /// Total tokens ÷ posts (failed posts included: their first call may have used tokens).
    pub per_post: f64,
    pub per_ok_post: Option<f64>,
    #[serde(default)]
    pub source: TokenSource,
    /// Successful calls whose response carried no usage (or a bad one).
    #[serde(default)]
    pub calls_without_usage: u64,
    /// Of those, calls whose usage could not be true: a string, negative, half there, above
    /// 10^7 tokens or above the call's max_tokens. Their tokens are unknown, never priced.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_usage: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cost {
    pub total_usd: f64,
    /// Total cost ÷ posts.
    pub per_post_usd: f64,
    pub per_ok_post_usd: Option<f64>,
    /// $/post × users: one burst of every user posting once.
    pub per_batch_usd: f64,
    /// users × 1, 5, 20 posts a day × 30 days × $/post.
    pub monthly: Vec<Monthly>,
}

/// Everything measured in one case (scenario × tier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Measured {
    pub posts: Posts,
    pub post_latency_ms: LatencyPair,
    pub call_latency_ms: BTreeMap<String, Percentiles>,
    /// Per post that backed off after 429s: the total time it waited (count = such posts).
    pub backoff_ms: Percentiles,
    pub makespan_ms: f64,
    pub start_spread_ms: f64,
    pub calls: Calls,
    pub tokens: TokenSummary,
    /// `None` when the model has no price in the table.
    pub cost: Option<Cost>,
    pub timeline: Vec<Second>,
    /// Latency against percentile for successful posts, HdrHistogram style (for charts).
    #[serde(default)]
    pub percentile_curve: Vec<CurvePoint>,
    /// Up to [`SAMPLE_POSTS`] posts (all of them in a burst): send time, latency and outcome.
    #[serde(default)]
    pub posts_sample: Vec<PostPoint>,
    /// The raw histograms (µs), V2-deflate in base64, by tag: post_ok, post_failed,
    /// image_prompt, caption, backoff. Exact; `hlog/*.hlog` and `postload merge` use them.
    #[serde(default)]
    pub histograms: BTreeMap<String, String>,
    /// Service mode: the model the responses named, by count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models_reported: BTreeMap<String, u64>,
}

/// One point of the percentile curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CurvePoint {
    pub percentile: f64,
    pub ms: f64,
}

/// How a post ended, for charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostOutcome {
    Ok,
    RateLimited,
    OtherFailure,
}

/// One sampled post.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostPoint {
    /// Intended send time, seconds since the case started.
    pub sent_s: f64,
    pub latency_ms: f64,
    pub outcome: PostOutcome,
}

/// Posts kept for the per-post chart: a uniform sample (reservoir) beyond this many.
pub const SAMPLE_POSTS: usize = 5_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_share_is_ok_over_total_and_zero_without_posts() {
        let posts = |total, ok| Posts {
            total,
            ok,
            failed: total - ok,
            failed_by_cause: BTreeMap::new(),
            late_sends: 0,
        };
        // 3 of 4: 0.75, 75 %; nothing posted: 0, not NaN.
        assert_eq!(posts(4, 3).success_share(), 0.75);
        assert_eq!(posts(4, 3).success_percent(), 75.0);
        assert_eq!(posts(0, 0).success_share(), 0.0);
        assert_eq!(posts(0, 0).success_percent(), 0.0);
        // 23 of 40: 100 × 23 = 2300, / 40 = 57.5 exactly; 23 / 40 first, then × 100, would
        // give 57.49999999999999.
        assert_eq!(posts(40, 23).success_percent(), 57.5);
    }

    fn s(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// Within HdrHistogram's 3 significant figures.
    fn near(got: Option<f64>, want: f64) -> bool {
        got.is_some_and(|g| (g - want).abs() <= want * 0.001)
    }

    fn call(
        kind: CallKind,
        start: u64,
        end: u64,
        statuses: &[u16],
        usage: Option<Tokens>,
    ) -> CallRecord {
        CallRecord {
            kind,
            attempts: statuses
                .iter()
                .enumerate()
                .map(|(i, st)| Attempt {
                    sent: s(start + i as u64 * 500),
                    status: Some(*st),
                    reserved_tokens: 1_000,
                })
                .collect(),
            rate_limit_backoff: s(500 * statuses.iter().filter(|x| **x == 429).count() as u64),
            other_backoff: Duration::ZERO,
            started: s(start),
            finished: s(end),
            usage,
            bad_usage: false,
            model: None,
            failure: None,
        }
    }

    fn tokens(p: u64, c: u64) -> Option<Tokens> {
        Some(Tokens {
            prompt: p,
            cached: 0,
            completion: c,
        })
    }

    #[test]
    fn folds_posts_into_counts_tokens_latency_and_timeline() {
        let mut r = Recorder::default();
        // ok post: 0..3 s; failed post: 429 twice on the image prompt then gave up at 1.2 s.
        r.record(&PostRecord {
            intended: s(0),
            calls: vec![
                call(CallKind::ImagePrompt, 0, 1_000, &[200], tokens(800, 150)),
                call(CallKind::Caption, 1_000, 3_000, &[200], tokens(1_200, 200)),
            ],
            finished: s(3_000),
            failure: None,
        });
        let mut failed = call(CallKind::ImagePrompt, 100, 1_200, &[429, 429, 429], None);
        failed.failure = Some(FailureCause::RateLimited);
        r.record(&PostRecord {
            intended: s(100),
            calls: vec![failed],
            finished: s(1_200),
            failure: Some(FailureCause::RateLimited),
        });
        let price = Price {
            input: 2.5,
            cached_input: Some(1.25),
            output: 10.0,
        };
        let m = r.summarize(Some(&price), 2);
        assert_eq!((m.posts.total, m.posts.ok, m.posts.failed), (2, 1, 1));
        assert_eq!(m.posts.failed_by_cause[&FailureCause::RateLimited], 1);
        assert_eq!(m.calls.calls, 3);
        assert_eq!(m.calls.attempts, 5);
        assert_eq!(m.calls.retries, 2);
        assert_eq!(m.calls.http_429, 3);
        assert_eq!(m.calls.rejected_reserved_tokens, 3_000);
        assert_eq!(
            m.tokens.total,
            Tokens {
                prompt: 2_000,
                cached: 0,
                completion: 350
            }
        );
        assert_eq!(m.tokens.per_post, 1_175.0);
        let cost = m.cost.unwrap();
        assert!((cost.total_usd - 0.0085).abs() < 1e-12);
        assert!((cost.per_post_usd - 0.00425).abs() < 1e-12);
        assert!((cost.per_batch_usd - 0.0085).abs() < 1e-12);
        assert_eq!(cost.monthly[1].posts_per_user_per_day, 5);
        assert_eq!(m.makespan_ms, 3_000.0);
        assert_eq!(m.start_spread_ms, 100.0);
        assert!(near(m.post_latency_ms.ok.p50, 3_000.0));
        assert!(near(m.post_latency_ms.failed.max, 1_100.0));
        assert_eq!(m.call_latency_ms["caption"].count, 1);
        assert!(near(m.backoff_ms.max, 1_500.0));
        let t = m.timeline;
        assert_eq!(t.len(), 4);
        assert_eq!(t[0].sends, 3); // image 0 ms, 429s at 100 and 600 ms
        assert_eq!(t[1].sends, 2); // caption 1,000 ms, third 429 at 1,100 ms
        assert_eq!(t[0].rate_limited, 2);
        assert_eq!(t[0].in_flight, 2);
        assert_eq!(t[1].in_flight, 1, "the failed post ended in second 1");
        assert_eq!(t[3].in_flight, 0);
        assert_eq!(t[1].completions, 1);
        assert_eq!(t[3].completions, 1);
        assert_eq!(t[1].tokens, 950);
        assert_eq!(t[3].tokens, 1_400);
    }

    #[test]
    fn percentiles_are_exact_to_three_significant_figures() {
        let mut h = hdr::micros();
        for v in 1..=1_000u64 {
            h.record(v * 1_000).unwrap(); // 1..1000 ms
        }
        let p = Percentiles::of(&h);
        assert_eq!(p.count, 1_000);
        assert!(near(p.p50, 500.0), "{p:?}");
        assert!(near(p.p90, 900.0));
        assert!(near(p.p95, 950.0));
        assert!(near(p.p99, 990.0));
        assert!(near(p.p99_9, 999.0));
        assert!(near(p.max, 1_000.0));
        assert!(near(p.min, 1.0));
        assert!(near(p.mean, 500.5));
        assert_eq!(Percentiles::of(&hdr::micros()).p50, None);
    }

    #[test]
    fn the_post_sample_is_bounded_and_keeps_outcomes() {
        let mut r = Recorder::default();
        for i in 0..(SAMPLE_POSTS as u64 * 3) {
            r.record(&PostRecord {
                intended: s(i),
                calls: vec![],
                finished: s(i + 100),
                failure: (i % 2 == 0).then_some(FailureCause::RateLimited),
            });
        }
        let m = r.summarize(None, 1);
        assert_eq!(m.posts_sample.len(), SAMPLE_POSTS);
        // Uniform over the run: late posts are as likely as early ones.
        let late = m
            .posts_sample
            .iter()
            .filter(|p| p.sent_s > SAMPLE_POSTS as f64 * 2.0 / 1000.0)
            .count();
        assert!((1_400..=1_950).contains(&late), "{late}");
        assert!(m
            .posts_sample
            .iter()
            .any(|p| p.outcome == PostOutcome::RateLimited));
        let curve = &m.percentile_curve;
        assert!(curve
            .windows(2)
            .all(|w| w[0].percentile <= w[1].percentile && w[0].ms <= w[1].ms));
        assert!((curve.last().unwrap().percentile - 100.0).abs() < 1e-9);
    }

    #[test]
    fn late_sends_are_counted_from_the_intended_time() {
        let mut r = Recorder::new(s(10));
        let mut post = PostRecord {
            intended: s(1_000),
            calls: vec![call(
                CallKind::Caption,
                1_500,
                2_000,
                &[200],
                tokens(10, 10),
            )],
            finished: s(2_000),
            failure: None,
        };
        r.record(&post);
        post.calls[0] = call(CallKind::Caption, 1_005, 2_000, &[200], tokens(10, 10));
        r.record(&post);
        assert_eq!(r.late_sends, 1);
        // Latency counts from the intended time, not the late send.
        assert!(near(Percentiles::of(&r.post_ok).max, 1_000.0));
    }

    #[test]
    fn a_response_without_usage_makes_tokens_unknown_until_the_stub_attributes_them() {
        let mut r = Recorder::for_kinds(s(10), &CallKind::SERVICE);
        let with = Tokens {
            prompt: 2_000,
            cached: 0,
            completion: 350,
        };
        for usage in [Some(with), None] {
            let mut c = call(CallKind::Service, 0, 3_000, &[200], usage);
            c.model = Some("gpt-4o-2024-08-06".into());
            r.record(&PostRecord {
                intended: s(0),
                calls: vec![c],
                finished: s(3_000),
                failure: None,
            });
        }
        let price = Price {
            input: 2.5,
            cached_input: Some(1.25),
            output: 10.0,
        };
        let mut m = r.summarize(Some(&price), 2);
        assert_eq!(m.tokens.source, TokenSource::Unknown);
        assert_eq!(m.tokens.calls_without_usage, 1);
        assert_eq!((m.tokens.per_ok_post, m.cost.is_none()), (None, true));
        assert_eq!(m.models_reported["gpt-4o-2024-08-06"], 2);
        assert_eq!(m.call_latency_ms.keys().collect::<Vec<_>>(), ["service"]);

        // The stub counted both posts' calls: 4,000 in + 700 out = $0.017.
        let stub = Tokens {
            prompt: 4_000,
            cached: 0,
            completion: 700,
        };
        m.set_tokens(stub, TokenSource::Stub, Some(&price), 2);
        assert_eq!(m.tokens.per_ok_post, Some(2_350.0));
        let c = m.cost.unwrap();
        assert!((c.total_usd - 0.017).abs() < 1e-12, "{}", c.total_usd);
        assert!((c.per_ok_post_usd.unwrap() - 0.0085).abs() < 1e-12);
    }
}
