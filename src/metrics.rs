//! Measurements of a run, as plain data: what each post did (`record`: [`PostRecord`]), the
//! [`Recorder`] here that folds posts into HdrHistograms, token sums, counts and a per-second
//! timeline, and the serialized summary it produces (`summary`: [`Measured`]). No tokio, no
//! clock, no I/O: times come in as durations since the case's origin.

pub mod budget;
pub mod cost;
pub mod hdr;
pub mod hlog;
mod record;
mod summary;
pub mod usage;

pub use self::record::*;
pub use self::summary::*;

use std::collections::{BTreeMap, BinaryHeap};
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use self::cost::Tokens;
use crate::openai::catalog::Price;

fn micros(d: Duration) -> u64 {
    hdr::clamp(d.as_micros().min(u64::MAX as u128) as u64)
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
    /// Successful posts' modelled time to their first caption token (when the server says it).
    pub first_caption_token: Histogram<u64>,
    /// Per call sent through the client's own queue: the time its first attempt waited there.
    pub queue_wait: Histogram<u64>,
    pub tokens: BTreeMap<CallKind, Tokens>,
    pub calls_with_usage: BTreeMap<CallKind, u64>,
    /// Successful calls whose response carried no usage: the token totals are then unknown.
    pub ok_calls_without_usage: u64,
    /// Of those, calls whose usage could not be true.
    pub bad_usage_calls: u64,
    /// Tokens of the calls of posts that failed (billed, yet no post came of them), summed by
    /// [`Recorder::record`]; `attributed_failed` counts the failed posts it saw. A post folded
    /// step by step (the planner) is not attributed: with such failed posts the waste is unknown.
    pub wasted: Tokens,
    pub attributed_failed: u64,
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
    intervals: Intervals,
}

/// What the waterfall and token bucket charts need of the posts: a reservoir of
/// [`TIMED_POSTS`] posts' intervals and the [`KEPT_ATTEMPTS`] earliest attempts (a max-heap on
/// send time that drops the latest). Fed by [`Recorder::record`] only: the planner, which folds
/// calls without records, leaves both empty.
#[derive(Debug, Clone)]
struct Intervals {
    timings: Vec<PostTiming>,
    seen: u64,
    rng: u64,
    /// (sent, reserved tokens, status): ordered by send time first.
    attempts: BinaryHeap<(Duration, u64, Option<u16>)>,
}

impl Intervals {
    fn new() -> Self {
        Self {
            timings: Vec::new(),
            seen: 0,
            rng: 0x2545_f491_4f6c_dd1d,
            attempts: BinaryHeap::new(),
        }
    }

    /// Keeps a uniform sample of at most TIMED_POSTS posts (Algorithm R).
    fn post(&mut self, post: &PostRecord) {
        self.seen += 1;
        let slot = if self.timings.len() < TIMED_POSTS {
            self.timings.len()
        } else {
            let x = &mut self.rng;
            *x ^= *x << 13;
            *x ^= *x >> 7;
            *x ^= *x << 17;
            (*x % self.seen) as usize
        };
        if slot >= TIMED_POSTS {
            return;
        }
        let timing = PostTiming {
            start_s: post.intended.as_secs_f64(),
            end_s: post.finished.as_secs_f64(),
            outcome: PostOutcome::of(post.failure),
            calls: post.calls.iter().map(span).collect(),
        };
        if slot == self.timings.len() {
            self.timings.push(timing);
        } else {
            self.timings[slot] = timing;
        }
    }

    /// Keeps the attempt if it is among the earliest KEPT_ATTEMPTS so far.
    fn attempt(&mut self, a: &Attempt) {
        self.attempts.push((a.sent, a.reserved_tokens, a.status));
        if self.attempts.len() > KEPT_ATTEMPTS {
            self.attempts.pop();
        }
    }

    fn timings(&self) -> Vec<PostTiming> {
        let mut v = self.timings.clone();
        v.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
        v
    }

    fn attempts(&self) -> Vec<AttemptPoint> {
        self.attempts
            .clone()
            .into_sorted_vec()
            .into_iter()
            .map(|(sent, reserved_tokens, status)| AttemptPoint {
                sent_s: sent.as_secs_f64(),
                reserved_tokens,
                status,
            })
            .collect()
    }
}

/// A call's interval and its 429 backoff waits (from a 429's answer to the next send).
fn span(call: &CallRecord) -> CallSpan {
    let backoffs = call
        .attempts
        .windows(2)
        .filter(|w| w[0].status == Some(429))
        .map(|w| [w[0].answered.as_secs_f64(), w[1].sent.as_secs_f64()])
        .collect();
    CallSpan {
        kind: call.kind,
        start_s: call.started.as_secs_f64(),
        end_s: call.finished.as_secs_f64(),
        outcome: PostOutcome::of(call.failure),
        backoffs,
    }
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
            first_caption_token: hdr::micros(),
            queue_wait: hdr::micros(),
            tokens: BTreeMap::new(),
            calls_with_usage: BTreeMap::new(),
            ok_calls_without_usage: 0,
            bad_usage_calls: 0,
            wasted: Tokens::default(),
            attributed_failed: 0,
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
            intervals: Intervals::new(),
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
                self.intervals.attempt(a);
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
        self.intervals.post(post);
        if post.failure.is_some() {
            self.attributed_failed += 1;
            for usage in post.calls.iter().filter_map(|c| c.usage) {
                self.wasted.add(usage);
            }
        }
        if let Some(t) = post.first_caption_token() {
            self.record_first_caption_token(t);
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

    /// A successful post's time to its first caption token, from its intended start.
    pub fn record_first_caption_token(&mut self, since_start: Duration) {
        let _ = self.first_caption_token.record(micros(since_start));
    }

    /// A call's wait in the client's own queue, from its arrival there to its first send.
    pub fn record_queue_wait(&mut self, waited: Duration) {
        let _ = self.queue_wait.record(micros(waited));
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
        if !self.first_caption_token.is_empty() {
            v.push(("first_caption_token", &self.first_caption_token));
        }
        if !self.queue_wait.is_empty() {
            v.push(("queue_wait", &self.queue_wait));
        }
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

    /// A failed post folded step by step (the planner's): its calls' billed tokens are wasted.
    /// Call once per failed post, beside the post's own record, so the waste is known.
    pub fn attribute_failed(&mut self, billed: Tokens) {
        self.attributed_failed += 1;
        self.wasted.add(billed);
    }

    /// Tokens of failed posts' calls, when every failed post was folded by [`Recorder::record`].
    pub fn wasted_tokens(&self) -> Option<Tokens> {
        let failed = self.failures.values().sum::<u64>();
        (self.attributed_failed == failed).then_some(self.wasted)
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
            first_caption_token_ms: (!self.first_caption_token.is_empty())
                .then(|| Percentiles::of(&self.first_caption_token)),
            queue_wait_ms: (!self.queue_wait.is_empty()).then(|| Percentiles::of(&self.queue_wait)),
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
                wasted: None,
                source,
                calls_without_usage: self.ok_calls_without_usage,
                bad_usage: self.bad_usage_calls,
            },
            cost: None,
            models_reported: self.models_reported.clone(),
            timeline: self.timeline(),
            percentile_curve: percentile_curve(&self.post_ok),
            posts_sample: self.sample.clone(),
            post_timings: self.intervals.timings(),
            attempts: self.intervals.attempts(),
            histograms: self
                .tagged()
                .into_iter()
                .map(|(tag, h)| (tag.to_string(), hlog::encode(h)))
                .collect(),
        };
        m.set_tokens(tokens, source, self.wasted_tokens(), price, users);
        m
    }
}

/// Latency against percentile of a histogram, HdrHistogram style (the charts' curve).
pub fn percentile_curve(h: &Histogram<u64>) -> Vec<CurvePoint> {
    h.iter_quantiles(2)
        .map(|v| CurvePoint {
            percentile: v.quantile_iterated_to() * 100.0,
            ms: hdr::ms(h, v.value_iterated_to()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
