use super::*;
use crate::stub::traces::TraceSummary;

fn post(post: u64, latency_ms: u64, status: Option<u16>, retry_after: bool) -> SeenPost {
    SeenPost {
        post,
        latency: Duration::from_millis(latency_ms),
        status,
        retry_after,
        ok: status == Some(200),
    }
}

fn trace(wait_ms: f64, retries: u64, statuses: &[(u16, u64)]) -> TraceSummary {
    TraceSummary {
        requests: statuses.iter().map(|(_, n)| n).sum(),
        by_status: statuses.iter().copied().collect(),
        retries,
        openai_wait_ms: wait_ms,
        ..TraceSummary::default()
    }
}

fn report(seed: u64, traces: &[(u64, TraceSummary)]) -> TraceReport {
    TraceReport {
        untracked_requests: 0,
        traces: traces
            .iter()
            .map(|(p, t)| (TraceParent::for_post(seed, *p).trace_hex(), t.clone()))
            .collect(),
    }
}

#[test]
fn own_time_is_each_posts_latency_less_its_wait_on_openai() {
    // Two sequential calls of 50 ms each: a wait of 100 ms. Posts of 125, 130 and 160 ms own
    // 25, 30 and 60 ms. The histogram reports the middle of a value's bucket: 16 µs wide from
    // 16,384 to 32,767 µs, so 30,000 reads 30,008 µs; 32 µs wide from 32,768 to 65,535, so
    // 60,000 reads 60,016.
    let posts = [
        post(0, 125, Some(200), false),
        post(1, 130, Some(200), false),
        post(2, 160, Some(200), false),
        // No trace seen: not joined.
        post(3, 999, Some(200), false),
    ];
    let t = trace(100.0, 0, &[(200, 2)]);
    let r = report(7, &[(0, t.clone()), (1, t.clone()), (2, t)]);
    let f = join(&posts, 7, &r).unwrap();
    assert_eq!((f.traced_posts, f.untraced_posts), (3, 1));
    assert_eq!(f.own_ms.count, 3);
    assert_eq!(f.own_ms.p50, Some(30.008));
    assert_eq!(f.own_ms.max, Some(60.016));
    // p95 of 3 samples is the 3rd.
    assert_eq!(f.own_ms.p95, Some(60.016));
    assert_eq!(metric(Some(&f), "own_p95_ms"), Some(Some(60.016)));
    assert_eq!(f.retries_per_post, 0.0);
    assert_eq!(f.under_429, Under429::default());
    assert_eq!(cells(Some(&f)), ["30.0 / 60.0 / 60.0", "0.00", "no 429"]);
    // Another seed's trace ids are other posts': nothing joins.
    assert_eq!(join(&posts, 8, &r), None);
}

#[test]
fn answers_under_429_are_counted_by_status_and_the_ungraceful_ones_apart() {
    let met = trace(50.0, 1, &[(429, 1), (200, 1)]);
    let posts = [
        // Served after its retry: graceful.
        post(0, 600, Some(200), false),
        // Passed on: graceful, one without Retry-After.
        post(1, 10, Some(429), true),
        post(2, 10, Some(429), false),
        // A 500, a 502 and no answer: ungraceful.
        post(3, 10, Some(500), false),
        post(4, 10, Some(502), false),
        post(5, 10, None, false),
        // No 429 in its trace: not counted under 429s.
        post(6, 80, Some(500), false),
        // A 503 with Retry-After: graceful, and with it (4 graceful against 3 ungraceful, 2
        // with Retry-After against 1 without, so neither count can be its complement).
        post(7, 10, Some(503), true),
    ];
    let mut traces: Vec<(u64, TraceSummary)> = (0..6).map(|p| (p, met.clone())).collect();
    traces.push((6, trace(50.0, 0, &[(200, 1)])));
    traces.push((7, met.clone()));
    let f = join(&posts, 1, &report(1, &traces)).unwrap();
    let u = &f.under_429;
    assert_eq!(u.posts, 7);
    assert_eq!(u.ungraceful, 3);
    assert_eq!(u.without_retry_after, 1);
    let by: Vec<(&str, u64)> = u.by_status.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(
        by,
        [
            ("200", 1),
            ("429", 2),
            ("500", 1),
            ("502", 1),
            ("503", 1),
            ("none", 1)
        ]
    );
    assert_eq!(metric(Some(&f), "under_429.status_429"), Some(Some(2.0)));
    assert_eq!(metric(Some(&f), "under_429.status_503"), Some(Some(1.0)));
    assert_eq!(metric(Some(&f), "under_429.status_504"), Some(Some(0.0)));
    assert_eq!(metric(Some(&f), "under_429.ungraceful"), Some(Some(3.0)));
    // 7 retries over 8 traced posts.
    assert_eq!(f.retries_per_post, 7.0 / 8.0);
    // Only the successful post 0 has an own time: 600 - 50 = 550 ms, in a 512 µs bucket from
    // 549,888 µs: its middle, 550.144 ms.
    assert_eq!((f.own_ms.count, f.own_ms.max), (1, Some(550.144)));
    // report.md's cells: 7/8 = 0.875 retries a post, to two decimals 0.88.
    assert_eq!(
        cells(Some(&f)),
        [
            "550.1 / 550.1 / 550.1",
            "0.88",
            "7 posts: 200 ×1, 429 ×2, 500 ×1, 502 ×1, 503 ×1, none ×1; 3 ungraceful"
        ]
    );
}

#[test]
fn without_traces_the_per_post_metrics_have_no_value() {
    let posts = [post(0, 100, Some(200), false)];
    assert_eq!(join(&posts, 1, &TraceReport::default()), None);
    assert_eq!(cells(None), ["-", "-", "-"]);
    for m in [
        "own_p50_ms",
        "own_p95_ms",
        "retries_per_post",
        "under_429.ungraceful",
    ] {
        assert_eq!(metric(None, m), Some(None), "{m}");
    }
    assert_eq!(metric(None, "under_429.status_500"), Some(None));
    // Not one of these metrics at all.
    assert_eq!(metric(None, "calls_per_post"), None);
    assert_eq!(metric(None, "under_429.status_42"), None);
}

#[test]
fn a_trace_past_its_cap_has_no_exact_own_time() {
    let mut t = trace(100.0, 0, &[(200, 64)]);
    t.untracked_requests = 3;
    let f = join(&[post(0, 500, Some(200), false)], 1, &report(1, &[(0, t)])).unwrap();
    assert_eq!((f.traced_posts, f.own_ms.count, f.own_ms.p95), (1, 0, None));
}
