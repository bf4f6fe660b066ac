//! A service's figures per post, from the traces the stub alongside kept: postload sends a W3C
//! `traceparent` with each post, a service whose OpenAI client forwards it (as
//! OpenTelemetry-instrumented clients do) lets the stub count each post's requests, and postload
//! joins them by trace id with its own latency and status of the post. So the own time is exact
//! per post (its latency less its wait on OpenAI, a percentile and not only a mean), and its
//! answers and retries under 429s are known per post. With no trace seen, none of this has a
//! value. Pure.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::metrics::hdr;
use crate::stub::stats::LatencySummary;
use crate::stub::traces::TraceReport;
use crate::traceparent::TraceParent;

/// Posts kept for the join, as many as the stub keeps traces.
pub const MAX_POSTS: usize = crate::stub::traces::MAX_TRACES;

/// One post as postload saw it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeenPost {
    /// Its number in the case (its trace id comes from it and the case's seed).
    pub post: u64,
    /// From its send to the last byte of the answer, modelled time.
    pub latency: Duration,
    /// The service's status; `None` when no answer came.
    pub status: Option<u16>,
    /// The answer carried a `Retry-After` header.
    pub retry_after: bool,
    /// The post succeeded.
    pub ok: bool,
}

/// How the service answered the posts whose calls met a 429 from the stub.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Under429 {
    /// Posts whose trace met at least one 429.
    pub posts: u64,
    /// Their answers by status (`none`: no answer, e.g. a reset connection or a timeout).
    pub by_status: BTreeMap<String, u64>,
    /// Answers that are neither a 2xx nor a 429 or 503 (a 500, a 502, no answer): a client
    /// cannot tell them from a broken service.
    pub ungraceful: u64,
    /// 429 and 503 answers without `Retry-After` (graceful, but the client must guess when to
    /// come back).
    pub without_retry_after: u64,
}

/// The per-post figures of a service case whose trace the stub saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PerPostFigures {
    /// Posts whose trace the stub saw on at least one OpenAI request.
    pub traced_posts: u64,
    /// Posts whose trace it never saw (no OpenAI call, or the trace not forwarded).
    pub untraced_posts: u64,
    /// The own time of each traced successful post, ms of modelled time: its latency (send to
    /// last byte) less its wait on OpenAI (the union of its requests' modelled latencies).
    /// Retry waits are the service's own time.
    pub own_ms: LatencySummary,
    /// Requests sent again for the same call (the same body, the same trace) per traced post.
    pub retries_per_post: f64,
    pub under_429: Under429,
    /// Traced requests the stub could not keep (past its caps): the figures above miss them.
    pub untracked_requests: u64,
}

/// `2xx`, `429` and `503`: what a client can come back from.
fn graceful(status: Option<u16>) -> bool {
    matches!(status, Some(200..=299 | 429 | 503))
}

/// The tag of the own times per post (µs) among a case's histograms in result.json
/// (`histograms.service_own`): the samples `compare` tests, as `post_ok` for post latency.
pub const OWN_HISTOGRAM: &str = "service_own";

/// Joins postload's posts (of a case with `seed`) with the stub's traces; `None` when the stub
/// saw none of them.
pub fn join(posts: &[SeenPost], seed: u64, traces: &TraceReport) -> Option<PerPostFigures> {
    join_with_samples(posts, seed, traces).map(|(f, _)| f)
}

/// [`join`], with the histogram of the own times per post (µs) its summary comes from.
pub fn join_with_samples(
    posts: &[SeenPost],
    seed: u64,
    traces: &TraceReport,
) -> Option<(PerPostFigures, Histogram<u64>)> {
    let mut own = hdr::micros();
    let (mut traced, mut retries) = (0u64, 0u64);
    let mut under = Under429::default();
    for p in posts {
        let id = TraceParent::for_post(seed, p.post).trace_hex();
        let Some(t) = traces.traces.get(&id) else {
            continue;
        };
        traced += 1;
        retries += t.retries;
        // A trace past its cap misses some of its wait: no exact own time for that post.
        if p.ok && t.untracked_requests == 0 {
            let ms = (p.latency.as_secs_f64() * 1000.0 - t.openai_wait_ms).max(0.0);
            let _ = own.record(((ms * 1000.0).round() as u64).clamp(1, 3_600_000_000));
        }
        if t.by_status.contains_key(&429) {
            under.posts += 1;
            let key = p.status.map_or("none".to_string(), |s| s.to_string());
            *under.by_status.entry(key).or_default() += 1;
            under.ungraceful += u64::from(!graceful(p.status));
            under.without_retry_after +=
                u64::from(matches!(p.status, Some(429 | 503)) && !p.retry_after);
        }
    }
    let figures = PerPostFigures {
        traced_posts: traced,
        untraced_posts: posts.len() as u64 - traced,
        own_ms: LatencySummary::of(&own),
        retries_per_post: retries as f64 / traced as f64,
        under_429: under,
        untracked_requests: traces.untracked_requests,
    };
    (traced > 0).then_some((figures, own))
}

/// The gate metrics of these figures by their name after `service.` (`own_p95_ms`,
/// `under_429.ungraceful`, `under_429.status_500`, ...): `None` when `field` is not one of them,
/// `Some(None)` when it is but has no value (no trace seen).
pub fn metric(f: Option<&PerPostFigures>, field: &str) -> Option<Option<f64>> {
    let value = |get: &dyn Fn(&PerPostFigures) -> Option<f64>| Some(f.and_then(get));
    match field {
        "own_p50_ms" => value(&|f| f.own_ms.p50),
        "own_p95_ms" => value(&|f| f.own_ms.p95),
        "own_max_ms" => value(&|f| f.own_ms.max),
        "retries_per_post" => value(&|f| Some(f.retries_per_post)),
        "traced_posts" => value(&|f| Some(f.traced_posts as f64)),
        "under_429.posts" => value(&|f| Some(f.under_429.posts as f64)),
        "under_429.ungraceful" => value(&|f| Some(f.under_429.ungraceful as f64)),
        "under_429.without_retry_after" => value(&|f| Some(f.under_429.without_retry_after as f64)),
        other => {
            let code = crate::threshold::under_429_status(&format!("service.{other}"))?;
            value(&|f| {
                let n = f.under_429.by_status.get(&code.to_string());
                Some(n.copied().unwrap_or(0) as f64)
            })
        }
    }
}

/// report.md's cells for a case: own time p50 / p95 / max per post, retries per post, and the
/// answers under 429s (`-` without traces).
pub fn cells(f: Option<&PerPostFigures>) -> [String; 3] {
    let Some(f) = f else {
        return ["-".into(), "-".into(), "-".into()];
    };
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
    let answers = if f.under_429.posts == 0 {
        "no 429".to_string()
    } else {
        let statuses: Vec<String> = f
            .under_429
            .by_status
            .iter()
            .map(|(s, n)| format!("{s} ×{n}"))
            .collect();
        format!(
            "{} posts: {}; {} ungraceful",
            f.under_429.posts,
            statuses.join(", "),
            f.under_429.ungraceful
        )
    };
    [
        format!(
            "{} / {} / {}",
            ms(f.own_ms.p50),
            ms(f.own_ms.p95),
            ms(f.own_ms.max)
        ),
        format!("{:.2}", f.retries_per_post),
        answers,
    ]
}

#[cfg(test)]
mod tests;
