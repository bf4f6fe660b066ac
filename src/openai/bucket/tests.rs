//! The rate limiter against OpenAI's published 429 messages and hand-worked bucket arithmetic.

use super::*;

const ORG: &str = "org-XXX";

/// Builds a TPM bucket with exactly `used` tokens in use at t = 0 and asks for `requested`.
fn message_for(limit: u64, used: u64, requested: u64) -> String {
    let t0 = Duration::ZERO;
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 10_000,
            tpm: limit,
            rpd: None,
        },
        RejectedCost::Nothing,
        t0,
    );
    limiter.admit(t0, used).expect("the first reservation fits");
    limiter
        .admit(t0, requested)
        .expect_err("the second reservation must be refused")
        .message("gpt-4o", ORG)
}

#[test]
fn reproduces_the_four_real_429_messages_to_the_millisecond() {
    let cases = [
        (30_000, 29_937, 385, "644ms"),
        (30_000, 28_039, 3_906, "3.89s"),
        (30_000, 14_567, 24_754, "18.642s"),
        (10_000, 8_554, 3_082, "9.816s"),
    ];
    for (limit, used, requested, wait) in cases {
        let expected = format!(
            "Rate limit reached for gpt-4o in organization org-XXX on tokens per min (TPM): Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
        );
        assert_eq!(message_for(limit, used, requested), expected);
    }
}

#[test]
fn request_larger_than_the_limit_is_too_large() {
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 500,
            tpm: 30_000,
            rpd: None,
        },
        RejectedCost::Nothing,
        Duration::ZERO,
    );
    let rejection = limiter.admit(Duration::ZERO, 30_601).unwrap_err();
    assert_eq!(rejection.wait(), None);
    assert_eq!(
        rejection.message("gpt-4o", ORG),
        "Request too large for gpt-4o in organization org-XXX on tokens per min (TPM): Limit 30000, Requested 30601. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more."
    );
}

#[test]
fn refills_continuously_at_limit_per_minute() {
    let mut bucket = Bucket::new(30_000, MINUTE, Duration::ZERO);
    bucket.try_take(Duration::ZERO, 30_000).unwrap();
    assert_eq!(bucket.remaining(Duration::ZERO), 0);
    // 30,000 per minute is 500 per second: after 2 s, 1,000 are back.
    assert_eq!(bucket.remaining(Duration::from_secs(2)), 1_000);
    assert_eq!(
        bucket.reset_after(Duration::from_secs(2)),
        Duration::from_secs(58)
    );
    assert!(bucket.try_take(Duration::from_secs(2), 1_001).is_err());
    bucket.try_take(Duration::from_secs(2), 1_000).unwrap();
    assert_eq!(bucket.remaining(Duration::from_secs(60)), 29_000);
    assert_eq!(bucket.remaining(Duration::from_secs(600)), 30_000);
}

#[test]
fn refill_time_is_amount_times_window_over_limit_rounded_up() {
    // 30,000 TPM: 1,000 tokens come back in 1,000 × 60 s / 30,000 = 2 s.
    let b = Bucket::new(30_000, Duration::from_secs(60), Duration::ZERO);
    assert_eq!(b.refill_time(1_000), Duration::from_secs(2));
    // 7 a minute: one comes back in 60e9 / 7 = 8,571,428,571.4 ns, rounded up to ...572;
    // in whole ms (the stub's forced 429) that is 8,572 = ceil(60,000 / 7).
    let b = Bucket::new(7, Duration::from_secs(60), Duration::ZERO);
    assert_eq!(b.refill_time(1), Duration::from_nanos(8_571_428_572));
    // A used-up bucket's wait for one token is the same figure.
    let mut b = Bucket::new(7, Duration::from_secs(60), Duration::ZERO);
    b.force_take(Duration::ZERO, 7);
    assert_eq!(b.wait_for(Duration::ZERO, 1), Some(b.refill_time(1)));
}

#[test]
fn wait_is_exactly_when_the_request_fits() {
    let mut bucket = Bucket::new(10_000, MINUTE, Duration::ZERO);
    bucket.try_take(Duration::ZERO, 8_554).unwrap();
    let Err(Shortfall::Wait { wait, used }) = bucket.try_take(Duration::ZERO, 3_082) else {
        panic!("must be refused")
    };
    assert_eq!(used, 8_554);
    assert_eq!(wait, Duration::from_millis(9_816));
    assert!(bucket
        .try_take(wait - Duration::from_nanos(1), 3_082)
        .is_err());
    assert!(bucket.try_take(wait, 3_082).is_ok());
}

#[test]
fn requests_limit_gives_a_requests_type_429() {
    let now = Duration::ZERO;
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 2,
            tpm: 1_000_000,
            rpd: None,
        },
        RejectedCost::Nothing,
        now,
    );
    limiter.admit(now, 10).unwrap();
    limiter.admit(now, 10).unwrap();
    let rejection = limiter.admit(now, 10).unwrap_err();
    assert_eq!(rejection.kind(), LimitKind::RequestsPerMinute);
    assert_eq!(rejection.kind().error_type(), "requests");
    // 2 per minute: one request back after 30 s.
    assert_eq!(rejection.wait(), Some(Duration::from_secs(30)));
    assert!(rejection.message("gpt-4o", ORG).contains(
        "on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 30s."
    ));
}

#[test]
fn daily_request_limit_is_enforced() {
    let now = Duration::ZERO;
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 500,
            tpm: 200_000,
            rpd: Some(1),
        },
        RejectedCost::Nothing,
        now,
    );
    limiter.admit(now, 10).unwrap();
    let rejection = limiter.admit(Duration::from_secs(61), 10).unwrap_err();
    assert_eq!(rejection.kind(), LimitKind::RequestsPerDay);
    let m = rejection.message("gpt-4o-mini", ORG);
    assert!(m.contains("requests per day (RPD)"), "{m}");
    // One request a day refills over 86,400 s; 61 s after the first, the wait is
    // 86,400 - 61 = 86,339 s = 23 h 58 min 59 s.
    assert!(m.contains("Please try again in 23h58m59s."), "{m}");
}

#[test]
fn rejected_cost_policies_differ_in_what_a_429_consumes() {
    let now = Duration::ZERO;
    let limits = Limits {
        rpm: 100,
        tpm: 1_000,
        rpd: None,
    };
    let remaining_after_rejection = |policy| {
        let mut limiter = RateLimiter::new(limits, policy, now);
        limiter.admit(now, 900).unwrap();
        limiter.admit(now, 200).unwrap_err();
        let levels = limiter.levels(now);
        (levels.remaining_requests, levels.remaining_tokens)
    };
    assert_eq!(remaining_after_rejection(RejectedCost::Nothing), (99, 100));
    assert_eq!(remaining_after_rejection(RejectedCost::Request), (98, 100));
    assert_eq!(
        remaining_after_rejection(RejectedCost::RequestAndTokens),
        (98, 0)
    );
}

#[test]
fn headers_use_openai_formats() {
    let now = Duration::ZERO;
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 500,
            tpm: 30_000,
            rpd: None,
        },
        RejectedCost::Nothing,
        now,
    );
    limiter.admit(now, 1_500).unwrap();
    let headers = limiter.levels(now).headers();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("x-ratelimit-limit-requests"), "500");
    assert_eq!(get("x-ratelimit-limit-tokens"), "30000");
    assert_eq!(get("x-ratelimit-remaining-requests"), "499");
    assert_eq!(get("x-ratelimit-remaining-tokens"), "28500");
    assert_eq!(get("x-ratelimit-reset-requests"), "120ms");
    assert_eq!(get("x-ratelimit-reset-tokens"), "3s");
}

#[test]
fn a_request_of_exactly_the_limit_fits_a_full_bucket() {
    let now = Duration::ZERO;
    let limits = Limits {
        rpm: 1,
        tpm: 30_000,
        rpd: None,
    };
    let mut limiter = RateLimiter::new(limits, RejectedCost::Nothing, now);
    assert_eq!(limiter.admit(now, 30_000), Ok(()));
    // The bucket is now empty: 0 of 30,000 left.
    assert_eq!(limiter.levels(now).remaining_tokens, 0);
}

#[test]
fn too_large_is_said_before_any_other_limit() {
    // rpm 1, used up by the first request: a second that is also over the TPM limit is
    // "too large" (it never fits), not "wait for the RPM bucket".
    let now = Duration::ZERO;
    let limits = Limits {
        rpm: 1,
        tpm: 30_000,
        rpd: None,
    };
    let mut limiter = RateLimiter::new(limits, RejectedCost::Nothing, now);
    limiter.admit(now, 10).unwrap();
    assert_eq!(
        limiter.admit(now, 30_001),
        Err(Rejection::TooLarge {
            kind: LimitKind::TokensPerMinute,
            limit: 30_000,
            requested: 30_001,
        })
    );
}

#[test]
fn a_forced_429_charges_what_the_policy_says_and_reads_the_token_bucket() {
    // 100 RPM, 1,000 TPM, 400 tokens in use. A forced 429 reserving 300 tokens:
    let now = Duration::ZERO;
    let limits = Limits {
        rpm: 100,
        tpm: 1_000,
        rpd: Some(50),
    };
    let charged = |policy| {
        let mut limiter = RateLimiter::new(limits, policy, now);
        limiter.admit(now, 400).unwrap();
        limiter.charge_rejected(now, 300);
        let l = limiter.levels(now);
        (
            l.remaining_requests,
            l.remaining_tokens,
            limiter.tokens_used(now),
        )
    };
    // Nothing: 99 requests and 600 tokens left, 400 of 1,000 used.
    assert_eq!(charged(RejectedCost::Nothing), (99, 600, (400, 1_000)));
    // The request: 98 left; the tokens untouched.
    assert_eq!(charged(RejectedCost::Request), (98, 600, (400, 1_000)));
    // Request and tokens: 98 left, 600 - 300 = 300 tokens left, 700 used.
    assert_eq!(
        charged(RejectedCost::RequestAndTokens),
        (98, 300, (700, 1_000))
    );
    // The daily bucket is charged with the minute one: after a request and a forced 429,
    // 50 - 2 = 48 are left today, so 48 more are admitted at once and the next is refused by
    // the daily bucket (the minute bucket still has 100 - 50 = 50).
    let mut limiter = RateLimiter::new(limits, RejectedCost::Request, now);
    limiter.admit(now, 0).unwrap();
    limiter.charge_rejected(now, 0);
    for _ in 0..48 {
        limiter.admit(now, 0).unwrap();
    }
    assert_eq!(
        limiter.admit(now, 0).unwrap_err().kind(),
        LimitKind::RequestsPerDay
    );
}

#[test]
fn the_token_bucket_says_how_long_a_reservation_waits() {
    // 1,000 TPM with 900 in use: 300 more fit once 200 have come back, 200 × 60 s / 1,000 =
    // 12 s; 300 tokens refill in 300 × 60 s / 1,000 = 18 s; more than 1,000 never fit.
    let now = Duration::ZERO;
    let limits = Limits {
        rpm: 100,
        tpm: 1_000,
        rpd: None,
    };
    let mut limiter = RateLimiter::new(limits, RejectedCost::Nothing, now);
    limiter.admit(now, 900).unwrap();
    assert_eq!(limiter.tokens_wait(now, 300), Some(Duration::from_secs(12)));
    assert_eq!(limiter.tokens_wait(now, 100), Some(Duration::ZERO));
    assert_eq!(limiter.tokens_wait(now, 1_001), None);
    assert_eq!(limiter.tokens_refill_time(300), Duration::from_secs(18));
}
