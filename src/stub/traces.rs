//! What the stub saw per W3C trace (`traceparent` on chat and Responses requests): for each
//! trace id, its requests, their statuses and call types (by `max_tokens`), the retries (a request whose body
//! the trace already sent: the same call again), and the time its service waited on OpenAI, the
//! union of each request's [arrival, answer] (the stub's work, then its modelled latency; parallel calls overlap, so a
//! union, not a sum). A harness joins it with its own per-post latencies by trace id to get each
//! post's own time exactly. Bounded: at most [`MAX_TRACES`] traces between resets and
//! [`MAX_REQUESTS_PER_TRACE`] requests in one; the rest are counted as untracked. Pure.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::traceparent::TraceParent;

/// Traces kept between resets.
pub const MAX_TRACES: usize = 100_000;
/// Requests kept per trace (a post of the reference service makes 2 to 6).
pub const MAX_REQUESTS_PER_TRACE: usize = 64;

/// One traced chat request, as the server saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Seen {
    pub trace: TraceParent,
    /// A hash of the request's body: the same call sent again has the same body.
    pub body_hash: u64,
    /// `max_completion_tokens`, else `max_tokens`; a Responses call's `max_output_tokens`
    /// ([`super::stats::NO_MAX_TOKENS`] if none).
    pub max_tokens: u32,
    /// Its arrival, in the stub clock's modelled time.
    pub arrival: Duration,
    pub status: u16,
    /// From its arrival to its answer: the stub's work and the modelled latency (zero for an
    /// error), in the stub clock's time.
    pub latency: Duration,
}

impl Seen {
    /// The body's hash and call type (`max_completion_tokens`, else `max_tokens`; a Responses
    /// body's `max_output_tokens`), read from the raw body (a body that is not JSON has no
    /// call type).
    pub fn call_of(body: &[u8], endpoint: super::Endpoint) -> (u64, u32) {
        let mut h = DefaultHasher::new();
        body.hash(&mut h);
        let cap = match endpoint {
            super::Endpoint::Chat => crate::metrics::usage::completion_cap(body),
            // A Responses call's type is its `max_output_tokens`.
            super::Endpoint::Responses => super::request::responses::max_output_tokens_of(body),
        };
        let max_tokens = cap.map_or(super::stats::NO_MAX_TOKENS, |n| {
            n.min(u64::from(u32::MAX - 1)) as u32
        });
        (h.finish(), max_tokens)
    }
}

#[derive(Debug, Default)]
struct Trace {
    /// (body hash, max_tokens) of each request, in arrival order.
    calls: Vec<(u64, u32)>,
    statuses: Vec<u16>,
    /// [arrival, arrival + latency] of each request, µs of modelled time.
    intervals: Vec<(u64, u64)>,
    /// Requests past [`MAX_REQUESTS_PER_TRACE`].
    untracked: u64,
}

/// The store the server fills.
#[derive(Debug, Default)]
pub struct Traces {
    traces: HashMap<u128, Trace>,
    /// Traced requests not kept: past [`MAX_TRACES`] traces or a trace's request cap.
    untracked_requests: u64,
}

fn micros(d: Duration) -> u64 {
    d.as_micros().min(u128::from(u64::MAX)) as u64
}

impl Traces {
    pub fn record(&mut self, seen: Seen) {
        let full = self.traces.len() >= MAX_TRACES;
        let trace = match self.traces.get_mut(&seen.trace.trace_id) {
            Some(t) => t,
            None if full => {
                self.untracked_requests += 1;
                return;
            }
            None => self.traces.entry(seen.trace.trace_id).or_default(),
        };
        if trace.calls.len() >= MAX_REQUESTS_PER_TRACE {
            trace.untracked += 1;
            self.untracked_requests += 1;
            return;
        }
        trace.calls.push((seen.body_hash, seen.max_tokens));
        trace.statuses.push(seen.status);
        let start = micros(seen.arrival);
        trace
            .intervals
            .push((start, start.saturating_add(micros(seen.latency))));
    }

    /// Forgets every trace (the stub's reset).
    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// What a harness reads: every trace's figures, keyed by its id in hex.
    pub fn report(&self) -> TraceReport {
        TraceReport {
            untracked_requests: self.untracked_requests,
            traces: self
                .traces
                .iter()
                .map(|(id, t)| (format!("{id:032x}"), t.summary()))
                .collect(),
        }
    }
}

impl Trace {
    fn summary(&self) -> TraceSummary {
        let mut by_status = BTreeMap::new();
        for s in &self.statuses {
            *by_status.entry(*s).or_default() += 1;
        }
        let mut by_max_tokens = BTreeMap::new();
        let mut distinct: Vec<u64> = Vec::with_capacity(self.calls.len());
        for (hash, max_tokens) in &self.calls {
            *by_max_tokens.entry(*max_tokens).or_default() += 1;
            if !distinct.contains(hash) {
                distinct.push(*hash);
            }
        }
        TraceSummary {
            requests: self.calls.len() as u64,
            by_status,
            by_max_tokens,
            retries: (self.calls.len() - distinct.len()) as u64,
            openai_wait_ms: union_micros(&self.intervals) as f64 / 1000.0,
            untracked_requests: self.untracked,
        }
    }
}

/// The total length of the union of `[start, end]` intervals.
fn union_micros(intervals: &[(u64, u64)]) -> u64 {
    let mut sorted = intervals.to_vec();
    sorted.sort_unstable();
    let mut total = 0;
    let mut current: Option<(u64, u64)> = None;
    for (start, end) in sorted {
        current = match current {
            Some((s, e)) if start <= e => Some((s, e.max(end))),
            Some((s, e)) => {
                total += e - s;
                Some((start, end))
            }
            None => Some((start, end)),
        };
    }
    total + current.map_or(0, |(s, e)| e - s)
}

/// One trace's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    /// Model calls (chat completions and Responses) kept under this trace.
    pub requests: u64,
    pub by_status: BTreeMap<u16, u64>,
    /// Requests by `max_tokens` (0: none given): the call types.
    pub by_max_tokens: BTreeMap<u32, u64>,
    /// Requests whose body an earlier request of the trace had sent: the same call again.
    pub retries: u64,
    /// The union of the requests' [arrival, answer] (the stub's work and its modelled
    /// latency), in ms of the stub clock's time: what the service waited on OpenAI.
    pub openai_wait_ms: f64,
    /// Requests past [`MAX_REQUESTS_PER_TRACE`]: the figures above miss them.
    pub untracked_requests: u64,
}

/// `GET /__postload/traces`: at most [`MAX_TRACES`] traces of at most
/// [`MAX_REQUESTS_PER_TRACE`] requests each, so bounded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TraceReport {
    /// Requests with a valid `traceparent` that were not kept (past the caps).
    pub untracked_requests: u64,
    /// By trace id (32 lower-case hex digits).
    pub traces: BTreeMap<String, TraceSummary>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stub::Endpoint;

    fn seen(post: u64, body: &[u8], arrival_ms: u64, status: u16, latency_ms: u64) -> Seen {
        let (body_hash, max_tokens) = Seen::call_of(body, Endpoint::Chat);
        Seen {
            trace: TraceParent::for_post(1, post),
            body_hash,
            max_tokens,
            arrival: Duration::from_millis(arrival_ms),
            status,
            latency: Duration::from_millis(latency_ms),
        }
    }

    #[test]
    fn the_wait_is_the_union_of_the_calls_and_a_resent_body_is_a_retry() {
        let image = br#"{"max_tokens":150,"messages":[]}"#;
        let caption = br#"{"max_completion_tokens":200,"max_tokens":9,"messages":[]}"#;
        let mut t = Traces::default();
        // Post 0: the image call 429 at 0 ms, sent again at 500 ms and answered in 50 ms; the
        // caption at 560 ms for 50 ms. Waits: 0 + [500, 550] + [560, 610] = 100 ms.
        t.record(seen(0, image, 0, 429, 0));
        t.record(seen(0, image, 500, 200, 50));
        t.record(seen(0, caption, 560, 200, 50));
        // Post 1: both calls at once, [0, 50] and [10, 70]: a union of 70 ms, not 110.
        t.record(seen(1, image, 0, 200, 50));
        t.record(seen(1, caption, 10, 200, 60));
        let r = t.report();
        assert_eq!(r.traces.len(), 2);
        let p0 = &r.traces[&TraceParent::for_post(1, 0).trace_hex()];
        assert_eq!(p0.requests, 3);
        assert_eq!(p0.retries, 1);
        assert_eq!(p0.by_status, BTreeMap::from([(200, 2), (429, 1)]));
        // max_completion_tokens wins over max_tokens, as the stub's validation reads it.
        assert_eq!(p0.by_max_tokens, BTreeMap::from([(150, 2), (200, 1)]));
        assert_eq!(p0.openai_wait_ms, 100.0);
        let p1 = &r.traces[&TraceParent::for_post(1, 1).trace_hex()];
        assert_eq!((p1.retries, p1.openai_wait_ms), (0, 70.0));
    }

    #[test]
    fn traces_and_requests_past_the_caps_are_counted_not_kept() {
        let mut t = Traces::default();
        for i in 0..MAX_REQUESTS_PER_TRACE as u64 + 3 {
            t.record(seen(0, format!("{i}").as_bytes(), i, 200, 1));
        }
        let r = t.report();
        let p0 = &r.traces[&TraceParent::for_post(1, 0).trace_hex()];
        assert_eq!(p0.requests, MAX_REQUESTS_PER_TRACE as u64);
        assert_eq!((p0.untracked_requests, r.untracked_requests), (3, 3));
        for post in 1..MAX_TRACES as u64 + 2 {
            t.record(seen(post, b"x", 0, 200, 1));
        }
        // MAX_TRACES traces kept (post 0's among them): the last two posts' requests are not.
        assert_eq!(t.traces.len(), MAX_TRACES);
        assert_eq!(t.report().untracked_requests, 3 + 2);
        t.clear();
        assert_eq!(t.report(), TraceReport::default());
    }

    #[test]
    fn a_body_that_is_not_json_has_no_call_type() {
        let chat = |b: &[u8]| Seen::call_of(b, Endpoint::Chat);
        assert_eq!(chat(b"\xff{").1, super::super::stats::NO_MAX_TOKENS);
        assert_eq!(chat(br#"{"max_tokens":-1}"#).1, 0);
        assert_ne!(chat(b"a").0, chat(b"b").0);
    }

    #[test]
    fn a_cap_past_u32_is_kept_just_under_u32_max() {
        // 5e9 does not fit a u32: it is clamped to u32::MAX − 1 = 4,294,967,294.
        let chat = |b: &[u8]| Seen::call_of(b, Endpoint::Chat).1;
        assert_eq!(chat(br#"{"max_tokens":5000000000}"#), 4_294_967_294);
        // One under the clamp is kept as sent.
        assert_eq!(chat(br#"{"max_tokens":4294967293}"#), 4_294_967_293);
    }

    #[test]
    fn a_responses_call_type_is_its_max_output_tokens() {
        let body = br#"{"max_output_tokens":300,"max_tokens":9,"input":"hi"}"#;
        assert_eq!(Seen::call_of(body, Endpoint::Responses).1, 300);
        assert_eq!(Seen::call_of(body, Endpoint::Chat).1, 9);
        let none = Seen::call_of(br#"{"input":"hi"}"#, Endpoint::Responses).1;
        assert_eq!(none, super::super::stats::NO_MAX_TOKENS);
    }
}
