//! The recorder's bounded samples against hand-worked runs: the timeline's seconds, the timed
//! posts and attempts kept for the charts, model names, late sends, the post sample and its
//! reservoirs, and the histograms' tags.

use super::super::*;
use super::{call, near, s, tokens};

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
