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
    m.set_tokens(stub, TokenSource::Stub, Some(&price), 2);
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

/// A post of one 40 ms call, sent at `start` ms.
fn post_at(start: u64) -> PostRecord {
    PostRecord {
        intended: s(start),
        calls: vec![call(
            CallKind::Caption,
            start,
            start + 40,
            &[200],
            tokens(1, 1),
        )],
        finished: s(start + 40),
        failure: None,
    }
}

#[test]
fn the_timeline_numbers_its_seconds() {
    let mut r = Recorder::default();
    // A post from 0.5 s to 2.5 s: seconds 0, 1 and 2.
    r.record(&PostRecord {
        intended: s(500),
        calls: vec![],
        finished: s(2_500),
        failure: None,
    });
    let seconds: Vec<u64> = r.timeline().iter().map(|x| x.second).collect();
    assert_eq!(seconds, [0, 1, 2]);
}

#[test]
fn each_post_keeps_its_intervals_and_its_calls_429_waits() {
    let mut r = Recorder::default();
    // Second post first: the timings come back in order of intended send.
    r.record(&PostRecord {
        intended: s(2_000),
        calls: vec![call(CallKind::ImagePrompt, 2_000, 2_500, &[500, 200], None)],
        finished: s(2_500),
        failure: Some(FailureCause::ServerError),
    });
    // Attempts at 0, 500 and 1,000 ms (429, 429, 200): waits 0 -> 0.5 s and 0.5 -> 1.0 s.
    r.record(&PostRecord {
        intended: s(0),
        calls: vec![
            call(
                CallKind::ImagePrompt,
                0,
                1_200,
                &[429, 429, 200],
                tokens(1, 1),
            ),
            call(CallKind::Caption, 1_200, 1_800, &[200], tokens(1, 1)),
        ],
        finished: s(1_800),
        failure: None,
    });
    let span = |kind, start_s, end_s, outcome, backoffs: Vec<[f64; 2]>| CallSpan {
        kind,
        start_s,
        end_s,
        outcome,
        backoffs,
    };
    assert_eq!(
        r.summarize(None, 1).post_timings,
        [
            PostTiming {
                start_s: 0.0,
                end_s: 1.8,
                outcome: PostOutcome::Ok,
                calls: vec![
                    span(
                        CallKind::ImagePrompt,
                        0.0,
                        1.2,
                        PostOutcome::Ok,
                        vec![[0.0, 0.5], [0.5, 1.0]]
                    ),
                    span(CallKind::Caption, 1.2, 1.8, PostOutcome::Ok, vec![]),
                ],
            },
            PostTiming {
                start_s: 2.0,
                end_s: 2.5,
                outcome: PostOutcome::OtherFailure,
                // A 500 is not a 429: no rate-limit wait.
                calls: vec![span(
                    CallKind::ImagePrompt,
                    2.0,
                    2.5,
                    PostOutcome::Ok,
                    vec![]
                )],
            },
        ]
    );
}

#[test]
fn the_timed_posts_are_a_bounded_uniform_sample() {
    let mut r = Recorder::default();
    // 3,000 posts, 1 s apart: TIMED_POSTS (300) are kept. A uniform sample of 300 of 3,000
    // holds 100 of the last 1,000 on average (hypergeometric, sd = sqrt(300 * 1/3 * 2/3 *
    // 2,700 / 2,999) = 7.7); 70..=130 is about 4 sd either side.
    for i in 0..3_000u64 {
        r.record(&post_at(i * 1_000));
    }
    let t = r.summarize(None, 1).post_timings;
    assert_eq!(t.len(), TIMED_POSTS);
    assert!(t.windows(2).all(|w| w[0].start_s < w[1].start_s));
    let late = t.iter().filter(|p| p.start_s >= 2_000.0).count();
    assert!((70..=130).contains(&late), "{late}");
}

#[test]
fn the_earliest_attempts_are_kept() {
    let mut r = Recorder::default();
    // KEPT_ATTEMPTS + 2 attempts, sent latest first (1 ms apart): the 5,000 kept are those
    // sent at 0..=4,999 ms, in order, and the two at 5,000 and 5,001 ms are dropped.
    for i in (0..KEPT_ATTEMPTS as u64 + 2).rev() {
        let mut c = call(CallKind::Caption, i, i + 1, &[429], None);
        c.attempts[0].reserved_tokens = i;
        r.record(&PostRecord {
            intended: s(i),
            calls: vec![c],
            finished: s(i + 1),
            failure: None,
        });
    }
    let a = r.summarize(None, 1).attempts;
    assert_eq!(a.len(), KEPT_ATTEMPTS);
    assert_eq!(
        a[0],
        AttemptPoint {
            sent_s: 0.0,
            reserved_tokens: 0,
            status: Some(429)
        }
    );
    assert_eq!(a[KEPT_ATTEMPTS - 1].reserved_tokens, 4_999);
    assert!(a.windows(2).all(|w| w[0].sent_s < w[1].sent_s));
}

#[test]
fn at_most_sixteen_model_names_are_kept() {
    let mut r = Recorder::default();
    // m00..m19, each twice: the first 16 names are kept with 2 each, the last 4 dropped.
    for _ in 0..2 {
        for i in 0..20 {
            r.record_call(&CallEnd {
                kind: CallKind::Caption,
                started: s(0),
                finished: s(10),
                attempts: 1,
                usage: tokens(1, 1),
                bad_usage: false,
                model: Some(&format!("m{i:02}")),
                failed: false,
            });
        }
    }
    let want: BTreeMap<String, u64> = (0..16).map(|i| (format!("m{i:02}"), 2)).collect();
    assert_eq!(r.models_reported, want);
    assert_eq!(r.calls_with_usage[&CallKind::Caption], 40);
}

#[test]
fn only_an_answered_call_without_usage_makes_tokens_unknown() {
    let mut r = Recorder::default();
    let end = |failed, bad_usage| CallEnd {
        kind: CallKind::Caption,
        started: s(0),
        finished: s(10),
        attempts: 1,
        usage: None,
        bad_usage,
        model: None,
        failed,
    };
    // A failed call has no usage to give: it does not count.
    r.record_call(&end(true, true));
    assert_eq!((r.ok_calls_without_usage, r.bad_usage_calls), (0, 0));
    assert_eq!(r.summarize(None, 1).tokens.source, TokenSource::Responses);
    // Three answered without usage, two of them with usage that could not be true.
    r.record_call(&end(false, true));
    r.record_call(&end(false, false));
    r.record_call(&end(false, true));
    assert_eq!((r.ok_calls_without_usage, r.bad_usage_calls), (3, 2));
    assert!(r.calls_with_usage.is_empty());
}

#[test]
fn a_send_exactly_late_after_its_intended_time_is_not_late() {
    let mut r = Recorder::new(s(10));
    let send = |r: &mut Recorder, first_send| {
        r.record_post(&PostEnd {
            intended: s(1_000),
            first_send: s(first_send),
            finished: s(2_000),
            failure: None,
            rate_limit_backoff: Duration::ZERO,
        })
    };
    send(&mut r, 1_010);
    assert_eq!(r.late_sends, 0);
    send(&mut r, 1_011);
    assert_eq!(r.late_sends, 1);
}

#[test]
fn the_post_sample_holds_each_posts_latency_and_outcome() {
    let mut r = Recorder::default();
    // 1.25 s -> 3.5 s: 2,250 ms; the backoff histogram only gets posts that backed off.
    for (failure, backoff) in [
        (None, 0),
        (Some(FailureCause::RateLimited), 700),
        (Some(FailureCause::Timeout), 0),
    ] {
        r.record_post(&PostEnd {
            intended: s(1_250),
            first_send: s(1_250),
            finished: s(3_500),
            failure,
            rate_limit_backoff: s(backoff),
        });
    }
    let m = r.summarize(None, 1);
    let point = |outcome| PostPoint {
        sent_s: 1.25,
        latency_ms: 2_250.0,
        outcome,
    };
    assert_eq!(
        m.posts_sample,
        [
            point(PostOutcome::Ok),
            point(PostOutcome::RateLimited),
            point(PostOutcome::OtherFailure)
        ]
    );
    assert_eq!(m.backoff_ms.count, 1);
    assert!(near(m.backoff_ms.max, 700.0));
    assert_eq!(
        m.posts.failed_by_cause,
        BTreeMap::from([(FailureCause::RateLimited, 1), (FailureCause::Timeout, 1)])
    );
}

#[test]
fn the_histograms_are_tagged_by_what_they_time() {
    let r = Recorder::default();
    let tags: Vec<&str> = r.tagged().into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        tags,
        [
            "post_ok",
            "post_failed",
            "image_prompt",
            "caption",
            "backoff"
        ]
    );
    let r = Recorder::for_kinds(s(10), &CallKind::SERVICE);
    let m = r.summarize(None, 1);
    assert_eq!(
        m.histograms.keys().collect::<Vec<_>>(),
        ["backoff", "post_failed", "post_ok", "service"]
    );
}

#[test]
fn a_zero_latency_counts_as_one_microsecond() {
    // HdrHistogram's lowest bucket here is 1 µs: micros clamps 0 up to it, and an hour is the
    // top.
    assert_eq!(micros(Duration::ZERO), 1);
    assert_eq!(micros(Duration::from_micros(2)), 2);
    assert_eq!(micros(Duration::from_secs(7_200)), 3_600_000_000);
}

#[test]
fn the_timed_posts_reservoir_replaces_the_slots_its_xorshift_draws() {
    // From the seed 0x2545_f491_4f6c_dd1d the first two xorshift64 outputs are
    // 0x7f6c_280b_eaa8_e3e7 = 9,181,757,771,948,286,951 and 0xe471_1987_1cf9_abe0 =
    // 16,460,966,181,113,277,408 (xorshift64 with Marsaglia's shifts 13, 7 and 17, worked out in Python). The 301st post draws
    // slot 9,181,757,771,948,286,951 mod 301 = 83 and replaces post 83; the 302nd draws
    // 16,460,966,181,113,277,408 mod 302 = 162 and replaces post 162.
    let mut r = Recorder::default();
    for i in 0..302u64 {
        r.record(&post_at(i * 1_000));
    }
    let kept: Vec<u64> = r
        .summarize(None, 1)
        .post_timings
        .iter()
        .map(|t| t.start_s as u64)
        .collect();
    let want: Vec<u64> = (0..302).filter(|i| *i != 83 && *i != 162).collect();
    assert_eq!(kept, want);
}

#[test]
fn the_post_sample_reservoir_replaces_the_slots_its_xorshift_draws() {
    // From the seed 0x9e37_79b9_7f4a_7c15 the first two xorshift64 outputs are
    // 0xdc1b_77ae_0bf3_4dad = 15,860,402,102,123,842,989 and 0x64f0_eeb9_026e_6076 =
    // 7,273,575,876,580,499,574 (the same xorshift64, in Python). The 5,001st post draws 15,860,402,102,123,842,989 mod 5,001
    // = 4,461 and takes slot 4,461; the 5,002nd draws 7,273,575,876,580,499,574 mod 5,002 =
    // 4,902 and takes slot 4,902.
    let mut r = Recorder::default();
    for i in 0..5_002u64 {
        r.record_post(&PostEnd {
            intended: s(i * 1_000),
            first_send: s(i * 1_000),
            finished: s(i * 1_000 + 40),
            failure: None,
            rate_limit_backoff: Duration::ZERO,
        });
    }
    let sent: Vec<u64> = r
        .summarize(None, 1)
        .posts_sample
        .iter()
        .map(|p| p.sent_s as u64)
        .collect();
    let mut want: Vec<u64> = (0..5_000).collect();
    (want[4_461], want[4_902]) = (5_000, 5_001);
    assert_eq!(sent, want);
}
