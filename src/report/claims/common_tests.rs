//! The helpers every claim's judgement shares (claims.rs): the tolerance, the change in
//! percent, the best case, $ per successful post and its projection, goodput, and the verdicts
//! for a case cut short, without usage, or with failed posts.

use super::fixture::{
    burst, judge, prices, run, seen, three_ok_and_a_429, tokens, want, NEEDS_TIER_2,
};
use super::*;
use crate::metrics::cost::Tokens;

#[test]
fn within_is_the_tolerance_times_the_claimed_figure_either_side() {
    // |110 − 100| = 10 ≤ 0.1 × 100 = 10: holds at the edge; 10.001 does not.
    assert!(within(110.0, 100.0, 0.1));
    assert!(within(90.0, 100.0, 0.1));
    assert!(!within(110.001, 100.0, 0.1));
    // 200 against 100 at 10 %: off by 100, far outside (as a ratio 2, or 0.1 + 100, it would
    // pass).
    assert!(!within(200.0, 100.0, 0.1));
    // A negative claimed figure: |−110 − (−100)| = 10 ≤ 0.1 × |−100|.
    assert!(within(-110.0, -100.0, 0.1));
}

#[test]
fn pct_is_the_signed_change_from_the_claimed_figure() {
    // 110 / 100 − 1 = +10 %; 98 / 100 − 1 = −2 %; equal is +0 %.
    assert_eq!(pct(110.0, 100.0), "+10 %");
    assert_eq!(pct(98.0, 100.0), "-2 %");
    assert_eq!(pct(100.0, 100.0), "+0 %");
}

#[test]
fn the_best_case_has_no_failures_then_the_most_successful_posts() {
    let failing = burst("a", "gpt-4o", 1, 50, 40, 10);
    let clean = burst("b", "gpt-4o", 2, 10, 10, 0);
    let mini = burst("c", "gpt-4o-mini", 2, 50, 50, 0);
    let none_ok = burst("d", "gpt-4o", 3, 5, 0, 5);
    let r = run(vec![failing, clean, mini, none_ok.clone()]);
    let best = |model| best_case(&r, model).map(|c| c.scenario.as_str());
    // gpt-4o: b (10 ok, none failed) before a (40 ok, 10 failed); d has no successful post.
    assert_eq!(best(Some("gpt-4o")), Some("b"));
    // Any model: c, 50 ok and none failed.
    assert_eq!(best(None), Some("c"));
    assert_eq!(best(Some("gpt-5")), None);
    // A case without a successful post is never the best, even alone.
    let alone = run(vec![none_ok]);
    assert_eq!(best_case(&alone, Some("gpt-4o")).map(|c| c.tier), None);
}

#[test]
fn usd_per_ok_post_prices_the_successful_posts_own_tokens() {
    let mut c = burst("a", "gpt-4o", 1, 5, 3, 2);
    // Own tokens 1,000 prompt + 200 completion; the failed posts' 100 + 50 are apart.
    let wasted = Tokens {
        prompt: 100,
        cached: 0,
        completion: 50,
    };
    tokens(&mut c, 1_000, 200, Some(wasted));
    let p = prices();
    // (1,000 × $2.50 + 200 × $10) / 1e6 = $0.0045 over 3 posts = $0.0015.
    let usd = usd_per_ok_post(&c, "gpt-4o", &p).unwrap();
    assert!((usd - 0.0015).abs() < 1e-15, "{usd}");
    assert_eq!(usd_per_ok_post(&c, "gpt-5", &p), None);
    let mut unknown = c.clone();
    unknown.measured.tokens.source = TokenSource::Unknown;
    assert_eq!(usd_per_ok_post(&unknown, "gpt-4o", &p), None);
    // No successful post: no figure (not $0, not NaN).
    let none_ok = burst("b", "gpt-4o", 1, 5, 0, 5);
    assert_eq!(usd_per_ok_post(&none_ok, "gpt-4o", &p), None);
}

#[test]
fn a_model_the_run_did_not_use_is_projected_from_the_best_cases_tokens() {
    let r = run(vec![burst("burst-5", "gpt-4o", 1, 5, 3, 0)]);
    let v = judge(
        r#"
[[claim]]
id = "mini"
statement = "$0.0001 a post on gpt-4o-mini"
kind = "cost_per_post"
model = "gpt-4o-mini"
value = 0.0001
tolerance = 0.1
"#,
        &r,
    );
    // burst() gives 1,000 + 200 tokens a successful post: 3,000 + 600 in all, at gpt-4o-mini's
    // $0.15 / $0.60 a million (450 + 360) / 1e6 = $0.00081, $0.00027 a post; against $0.0001,
    // 2.7 − 1 = +170 %.
    assert_eq!(
        v.iter().map(seen).collect::<Vec<_>>(),
        [want(
            None,
            "-",
            Judgement::NotMeasured,
            None,
            "no gpt-4o-mini case in this run; projected from the tokens of burst-5 tier 1 at gpt-4o-mini prices: $0.00027 (+170 %)"
        )]
    );
}

#[test]
fn goodput_is_given_for_each_distinct_latency_bound_ascending() {
    let claims = parse(
        "c.toml",
        r#"
[[claim]]
id = "a"
statement = "5 s"
kind = "latency"
users = 4
model = "gpt-4o"
max_s = 5.0

[[claim]]
id = "t"
statement = "Tier 2"
kind = "needs_tier"
users = 4
tier = 2

[[claim]]
id = "b"
statement = "2 s"
kind = "latency"
users = 4
model = "gpt-4o"
max_s = 2.0

[[claim]]
id = "c"
statement = "5 s again"
kind = "latency"
users = 4
model = "gpt-4o"
max_s = 5.0
"#,
    )
    .unwrap();
    let mut c = burst("a", "gpt-4o", 1, 4, 3, 1);
    c.measured.posts_sample = three_ok_and_a_429();
    // Of 4 posts, 1 succeeded within 2 s and 2 within 5 s (the failed one never counts).
    let g: Vec<(f64, f64)> = goodput(&claims, &c.measured)
        .iter()
        .map(|g| (g.within_s, g.share))
        .collect();
    assert_eq!(g, [(2.0, 0.25), (5.0, 0.5)]);
}

#[test]
fn a_case_cut_short_is_not_judged_and_says_how_many_posts_finished() {
    let mut c = burst("burst-50", "gpt-4o", 2, 50, 15, 5);
    c.interrupted = true;
    let v = judge(NEEDS_TIER_2, &run(vec![c]));
    assert_eq!(
        v.iter().map(seen).collect::<Vec<_>>(),
        [want(
            Some("burst-50 tier 2"),
            "20 of 50 posts finished",
            Judgement::NotMeasured,
            None,
            "not measured: the run was interrupted during this case, so its figures cover only the posts that finished"
        )]
    );
}

#[test]
fn a_case_without_usage_is_not_measured_and_says_how_many_calls_had_none() {
    let mut c = burst("burst-50", "gpt-4o", 2, 50, 50, 0);
    c.measured.tokens.source = TokenSource::Unknown;
    c.measured.tokens.calls_without_usage = 7;
    let v = judge(
        r#"
[[claim]]
id = "tok"
statement = "2,350 tokens a post"
kind = "tokens_per_post"
value = 2350
tolerance = 0.1
"#,
        &run(vec![c]),
    );
    assert_eq!(
        v.iter().map(seen).collect::<Vec<_>>(),
        [want(
            Some("burst-50 tier 2"),
            "unknown",
            Judgement::NotMeasured,
            None,
            "not measured (no usage from the target): 7 successful calls carried no usage and no stub counted them"
        )]
    );
}

#[test]
fn the_failure_cause_names_rate_limits_alone_or_every_cause_with_its_count() {
    let limited = burst("burst-50", "gpt-4o", 2, 50, 2, 48);
    let mut mixed = burst("burst-50b", "gpt-4o", 3, 50, 47, 3);
    mixed.measured.posts.failed_by_cause =
        [(FailureCause::RateLimited, 2), (FailureCause::Timeout, 1)].into();
    let v = judge(NEEDS_TIER_2, &run(vec![limited, mixed]));
    let causes: Vec<Option<&str>> = v.iter().map(|v| v.cause.as_deref()).collect();
    assert_eq!(
        causes,
        [
            Some("rate limits: 48 of 50 posts failed after 429s"),
            Some("failures: 2 rate_limited, 1 timeout")
        ]
    );
    assert_eq!(v[0].verdict, Judgement::Fails);
    assert_eq!(v[0].measured, "2 of 50 posts ok at Tier 2 on gpt-4o");
    assert_eq!(
        v[0].evidence,
        "openai-2025 (30000 TPM): the claim expects every post to succeed here"
    );
}
