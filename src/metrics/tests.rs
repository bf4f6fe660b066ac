//! The recorder and the summary types against small hand-counted runs.

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
                answered: s(start + i as u64 * 500),
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
        ttft: None,
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
    m.set_tokens(stub, TokenSource::Stub, None, Some(&price), 2);
    assert_eq!(m.tokens.per_ok_post, Some(2_350.0));
    let c = m.cost.unwrap();
    assert!((c.total_usd - 0.017).abs() < 1e-12, "{}", c.total_usd);
    assert!((c.per_ok_post_usd.unwrap() - 0.0085).abs() < 1e-12);
}

#[test]
fn a_successful_posts_first_caption_token_is_its_captions_last_send_plus_the_ttft() {
    let mut r = Recorder::default();
    // Post at 100 ms: image prompt 100..1,100 ms; caption 429'd at 1,100 ms, sent again at
    // 1,600 ms (the helper spaces attempts 500 ms apart) with a time to first token of 250 ms:
    // (1,600 − 100) + 250 = 1,750 ms. The image call's own ttft does not count.
    let mut image = call(CallKind::ImagePrompt, 100, 1_100, &[200], tokens(800, 150));
    image.ttft = Some(s(40));
    let mut caption = call(
        CallKind::Caption,
        1_100,
        2_500,
        &[429, 200],
        tokens(1_200, 200),
    );
    caption.ttft = Some(s(250));
    let post = PostRecord {
        intended: s(100),
        calls: vec![image, caption.clone()],
        finished: s(2_500),
        failure: None,
    };
    assert_eq!(post.first_caption_token(), Some(s(1_750)));
    r.record(&post);
    // A parallel post (caption listed first or not): caption sent at 0 with 300 ms: 300 ms.
    let mut parallel = call(CallKind::Caption, 0, 900, &[200], tokens(1_050, 200));
    parallel.ttft = Some(s(300));
    r.record(&PostRecord {
        intended: s(0),
        calls: vec![
            call(CallKind::ImagePrompt, 0, 1_000, &[200], tokens(800, 150)),
            parallel,
        ],
        finished: s(1_000),
        failure: None,
    });
    // Not counted: a failed post (even with an answered caption), and a post whose server
    // did not say (no ttft).
    let mut failed_caption = caption.clone();
    failed_caption.failure = Some(FailureCause::ServerError);
    assert_eq!(failed_caption.first_token(), None);
    r.record(&PostRecord {
        intended: s(0),
        calls: vec![caption.clone()],
        finished: s(2_500),
        failure: Some(FailureCause::ServerError),
    });
    let silent = PostRecord {
        intended: s(0),
        calls: vec![call(CallKind::Caption, 0, 900, &[200], tokens(1_050, 200))],
        finished: s(900),
        failure: None,
    };
    assert_eq!(silent.first_caption_token(), None);
    r.record(&silent);
    let m = r.summarize(None, 4);
    let f = m.first_caption_token_ms.expect("two posts said");
    assert_eq!(f.count, 2);
    assert!(near(f.min, 300.0) && near(f.max, 1_750.0), "{f:?}");
    assert!(m.histograms.contains_key("first_caption_token"));

    // No server said: the figure and its histogram are absent, not 0.
    let mut r = Recorder::default();
    r.record(&silent);
    let m = r.summarize(None, 1);
    assert_eq!(m.first_caption_token_ms, None);
    assert!(!m.histograms.contains_key("first_caption_token"));
    let json = serde_json::to_value(&m).unwrap();
    assert!(json.get("first_caption_token_ms").is_none());
}

#[test]
fn a_posts_first_send_is_its_earliest_attempt_over_its_calls() {
    // A parallel post due at 0 whose image call was never sent (the spend guard) and whose
    // caption went at 5 ms: its first send is 5 ms, not its due time.
    let never_sent = CallRecord::new(CallKind::ImagePrompt, s(0));
    let caption = call(CallKind::Caption, 5, 900, &[200], tokens(1_050, 200));
    let post = |calls| PostRecord {
        intended: s(0),
        calls,
        finished: s(900),
        failure: None,
    };
    assert_eq!(post(vec![never_sent, caption.clone()]).first_send(), s(5));
    // Caption listed second but sent first (at 5 ms, the image prompt at 7 ms): 5 ms.
    let image = call(CallKind::ImagePrompt, 7, 800, &[200], tokens(800, 150));
    assert_eq!(post(vec![image, caption]).first_send(), s(5));
    // Nothing sent: the due time.
    assert_eq!(post(vec![]).first_send(), s(0));
}

mod samples;
