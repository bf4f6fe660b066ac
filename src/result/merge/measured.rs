//! One case's figures from its shards' figures, exactly: counts and tokens summed, the
//! histograms added bucket by bucket (their percentiles recomputed, never averaged), the cost
//! priced again from the summed tokens, the goodput recounted from the merged histogram.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::metrics::cost::Tokens;
use crate::metrics::{
    hdr, hlog, percentile_curve, Calls, LatencyPair, Measured, Percentiles, Posts, Second,
    TokenSource, TokenSummary, KEPT_ATTEMPTS, SAMPLE_POSTS, TIMED_POSTS,
};
use crate::openai::catalog::Price;

/// A shard's fault: its position, the field (under the case) and what is wrong.
pub(super) type Fault = (usize, String, String);

/// The histograms every case of `postload run` keeps: a shard without them (a result written
/// before they were kept) cannot be merged exactly.
const REQUIRED_TAGS: [&str; 2] = ["post_ok", "post_failed"];

/// The case's figures over every shard's posts. `price` prices the summed tokens (`None`: the
/// model has none, as in the shards); `users` is the case's `load.users()`, as a run passes
/// it. An error names the field (under `measured`) and, by position, the shard at fault.
pub(super) fn merge(
    parts: &[&Measured],
    price: Option<&Price>,
    users: u64,
) -> Result<Measured, Fault> {
    let histograms = histograms(parts)?;
    let empty = hdr::micros();
    let of = |tag: &str| Percentiles::of(histograms.get(tag).unwrap_or(&empty));
    let present = |tag: &str| {
        histograms
            .get(tag)
            .filter(|h| !h.is_empty())
            .map(Percentiles::of)
    };
    let mut call_latency_ms = BTreeMap::new();
    for p in parts {
        for k in p.call_latency_ms.keys() {
            call_latency_ms.insert(k.clone(), of(k));
        }
    }
    let sum = |f: fn(&Measured) -> u64| parts.iter().map(|p| f(p)).sum::<u64>();
    let max = |f: fn(&Measured) -> f64| parts.iter().map(|p| f(p)).fold(0.0, f64::max);
    let mut failed_by_cause = BTreeMap::new();
    let mut models_reported = BTreeMap::new();
    for p in parts {
        for (c, n) in &p.posts.failed_by_cause {
            *failed_by_cause.entry(*c).or_insert(0) += n;
        }
        for (m, n) in &p.models_reported {
            *models_reported.entry(m.clone()).or_insert(0) += n;
        }
    }
    let tokens = tokens(parts);
    let wasted = parts
        .iter()
        .map(|p| p.tokens.wasted)
        .try_fold(Tokens::default(), |mut acc, w| {
            acc.add(w?);
            Some(acc)
        });
    let mut m = Measured {
        posts: Posts {
            total: sum(|p| p.posts.total),
            ok: sum(|p| p.posts.ok),
            failed: sum(|p| p.posts.failed),
            failed_by_cause,
            late_sends: sum(|p| p.posts.late_sends),
        },
        post_latency_ms: LatencyPair {
            ok: of("post_ok"),
            failed: of("post_failed"),
        },
        call_latency_ms,
        backoff_ms: of("backoff"),
        first_caption_token_ms: present("first_caption_token"),
        queue_wait_ms: present("queue_wait"),
        // The shards' clocks are not one clock: the longest shard's, not the union's.
        makespan_ms: max(|p| p.makespan_ms),
        start_spread_ms: max(|p| p.start_spread_ms),
        calls: Calls {
            calls: sum(|p| p.calls.calls),
            attempts: sum(|p| p.calls.attempts),
            retries: sum(|p| p.calls.retries),
            http_429: sum(|p| p.calls.http_429),
            rejected_reserved_tokens: sum(|p| p.calls.rejected_reserved_tokens),
        },
        tokens: tokens.clone(),
        cost: None,
        timeline: timeline(parts),
        percentile_curve: percentile_curve(histograms.get("post_ok").unwrap_or(&empty)),
        posts_sample: evenly(
            parts.iter().flat_map(|p| p.posts_sample.clone()),
            SAMPLE_POSTS,
        ),
        post_timings: {
            let mut v: Vec<_> = parts.iter().flat_map(|p| p.post_timings.clone()).collect();
            v.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
            evenly(v.into_iter(), TIMED_POSTS)
        },
        attempts: {
            // Each shard kept its earliest attempts: the earliest of their union are the run's.
            let mut v: Vec<_> = parts.iter().flat_map(|p| p.attempts.clone()).collect();
            v.sort_by(|a, b| a.sent_s.total_cmp(&b.sent_s));
            v.truncate(KEPT_ATTEMPTS);
            v
        },
        histograms: histograms
            .iter()
            .map(|(tag, h)| (tag.clone(), hlog::encode(h)))
            .collect(),
        models_reported,
    };
    m.set_tokens(tokens.total, tokens.source, wasted, price, users);
    Ok(m)
}

/// Every tag of every shard, added exactly (a tag a shard lacks is empty there).
fn histograms(parts: &[&Measured]) -> Result<BTreeMap<String, Histogram<u64>>, Fault> {
    let mut merged: BTreeMap<String, Histogram<u64>> = BTreeMap::new();
    for (k, p) in parts.iter().enumerate() {
        for tag in REQUIRED_TAGS {
            if !p.histograms.contains_key(tag) {
                return Err((
                    k,
                    format!("histograms.{tag}"),
                    "missing (a result without its histograms cannot be merged exactly)".into(),
                ));
            }
        }
        if p.histograms.len() > crate::limits::MAX_HLOG_TAGS {
            return Err((
                k,
                "histograms".into(),
                format!("more than {} tags", crate::limits::MAX_HLOG_TAGS),
            ));
        }
        for (tag, text) in &p.histograms {
            let h = hlog::decode(text).map_err(|e| (k, format!("histograms.{tag}"), e))?;
            let tags = merged.len();
            match merged.get_mut(tag) {
                Some(m) => {
                    hlog::add_checked(m, &h).map_err(|e| (k, format!("histograms.{tag}"), e))?
                }
                // The shards' tags together, bounded as one log's (`merge` of .hlog files).
                None if tags >= crate::limits::MAX_HLOG_TAGS => {
                    return Err((
                        k,
                        format!("histograms.{tag}"),
                        format!(
                            "more than {} tags in all the shards",
                            crate::limits::MAX_HLOG_TAGS
                        ),
                    ))
                }
                None => {
                    merged.insert(tag.clone(), h);
                }
            }
        }
        // The counts the histograms hold must be the posts the shard says it sent.
        let counted = |tag: &str| hlog::decode(&p.histograms[tag]).map_or(0, |h| h.len());
        if (counted("post_ok"), counted("post_failed")) != (p.posts.ok, p.posts.failed) {
            return Err((
                k,
                "histograms.post_ok".into(),
                format!(
                    "holds {} ok and {} failed posts, but posts says {} and {}",
                    counted("post_ok"),
                    counted("post_failed"),
                    p.posts.ok,
                    p.posts.failed
                ),
            ));
        }
    }
    Ok(merged)
}

/// Token totals summed by call and in all; their source the least certain of the shards'.
fn tokens(parts: &[&Measured]) -> TokenSummary {
    let mut by_call: BTreeMap<String, Tokens> = BTreeMap::new();
    let mut total = Tokens::default();
    let mut source = TokenSource::Responses;
    let (mut without, mut bad) = (0, 0);
    for p in parts {
        for (k, t) in &p.tokens.by_call {
            by_call.entry(k.clone()).or_default().add(*t);
        }
        total.add(p.tokens.total);
        source = match (source, p.tokens.source) {
            (TokenSource::Unknown, _) | (_, TokenSource::Unknown) => TokenSource::Unknown,
            (TokenSource::Stub, _) | (_, TokenSource::Stub) => TokenSource::Stub,
            _ => TokenSource::Responses,
        };
        without += p.tokens.calls_without_usage;
        bad += p.tokens.bad_usage;
    }
    TokenSummary {
        by_call,
        total,
        per_post: 0.0,
        per_ok_post: None,
        wasted: None,
        source,
        calls_without_usage: without,
        bad_usage: bad,
    }
}

/// The shards' timelines added second by second (each from its own start: the shards started
/// together). Keyed by second, so a hostile result's far second costs one entry, not a gap.
fn timeline(parts: &[&Measured]) -> Vec<Second> {
    let mut by_second: BTreeMap<u64, Second> = BTreeMap::new();
    for s in parts.iter().flat_map(|p| &p.timeline) {
        let t = by_second.entry(s.second).or_insert(Second {
            second: s.second,
            ..Second::default()
        });
        t.sends += s.sends;
        t.completions += s.completions;
        t.in_flight += s.in_flight;
        t.rate_limited += s.rate_limited;
        t.tokens += s.tokens;
    }
    by_second.into_values().collect()
}

/// At most `keep` of `items`, evenly spread over them (all of them when they fit).
fn evenly<T>(items: impl Iterator<Item = T>, keep: usize) -> Vec<T> {
    let all: Vec<T> = items.collect();
    let n = all.len();
    if n <= keep {
        return all;
    }
    all.into_iter()
        .enumerate()
        .filter(|(i, _)| (i * keep) % n < keep)
        .map(|(_, t)| t)
        .take(keep)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn evenly_keeps_all_that_fit_and_spreads_the_rest() {
        assert_eq!(evenly(0..3, 5), [0, 1, 2]);
        // 10 items, keep 5: i × 5 mod 10 < 5 for the even i.
        assert_eq!(evenly(0..10, 5), [0, 2, 4, 6, 8]);
        assert_eq!(evenly(0..1000, 7).len(), 7);
    }

    #[test]
    fn timelines_add_second_by_second() {
        let sec = |second, sends| Second {
            second,
            sends,
            ..Second::default()
        };
        let mut a = super::super::tests::measured();
        let mut b = a.clone();
        a.timeline = vec![sec(0, 2), sec(1, 3)];
        b.timeline = vec![sec(0, 5)];
        let t = timeline(&[&a, &b]);
        assert_eq!(
            t.iter().map(|s| (s.second, s.sends)).collect::<Vec<_>>(),
            [(0, 7), (1, 3)]
        );
        // A second far out (a hand-edited result) is one entry, not a trillion.
        b.timeline = vec![sec(1_000_000_000_000, 1)];
        assert_eq!(timeline(&[&a, &b]).len(), 3);
    }

    #[test]
    fn a_duration_bound_recounts_goodput_from_the_merged_histogram() {
        // Shard A: one ok post at 1 s; shard B: one at 3 s and one failed: within 2 s, 1 of 3.
        let m = |ok: &[u64], failed: &[u64]| {
            let mut r = crate::metrics::Recorder::default();
            for (list, failure) in [
                (ok, None),
                (failed, Some(crate::metrics::FailureCause::Timeout)),
            ] {
                for &ms in list {
                    r.record_post(&crate::metrics::PostEnd {
                        intended: Duration::ZERO,
                        first_send: Duration::ZERO,
                        finished: Duration::from_millis(ms),
                        failure,
                        rate_limit_backoff: Duration::ZERO,
                    });
                }
            }
            r.summarize(None, 3)
        };
        let merged = merge(&[&m(&[1_000], &[]), &m(&[3_000], &[500])], None, 3).unwrap();
        assert_eq!((merged.posts.total, merged.posts.ok), (3, 2));
        assert_eq!(merged.goodput(Duration::from_secs(2)), Some(1.0 / 3.0));
        assert_eq!(merged.post_latency_ms.ok.count, 2);
    }
}
