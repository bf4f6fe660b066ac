//! The claims about tokens and money (cost.rs), each verdict compared whole: the case it
//! picked, the figure, the judgement, the cause and the evidence a reader sees.

use super::fixture::{burst, judge, run, seen_all, tokens, want};
use super::*;
use crate::metrics::cost::Tokens;

#[test]
fn tokens_per_post_counts_the_successful_posts_own_tokens_and_names_the_waste() {
    let mut c = burst("burst-5", "gpt-4o", 1, 5, 3, 2);
    let wasted = Tokens {
        prompt: 100,
        cached: 0,
        completion: 50,
    };
    tokens(&mut c, 6_900, 150, Some(wasted));
    let claim = r#"
[[claim]]
id = "tok"
statement = "2,350 tokens a post"
kind = "tokens_per_post"
model = "gpt-4o"
value = 2350
tolerance = 0.1
"#;
    // (6,900 + 150) / 3 successful posts = 2,350: +0 %; the failed posts' 100 + 50 apart.
    assert_eq!(
        seen_all(&judge(claim, &run(vec![c.clone()]))),
        [want(
            Some("burst-5 tier 1"),
            "2350 tokens (+0 %)",
            Judgement::Holds,
            None,
            "6900 prompt + 150 completion tokens over 3 successful posts (usage reported by the target); 150 tokens of 2 failed posts apart (wasted)"
        )]
    );
    c.measured.tokens.source = TokenSource::Unknown;
    assert_eq!(judge(claim, &run(vec![c]))[0].measured, "unknown");
}

fn cost_per_post(bound: &str) -> String {
    format!(
        r#"
[[claim]]
id = "cost"
statement = "a post costs little"
kind = "cost_per_post"
model = "gpt-4o"
{bound}
"#
    )
}

/// One successful post of 400 prompt tokens at $2.50 a million: exactly $0.001.
fn one_post_at_a_tenth_of_a_cent() -> CaseResult {
    let mut c = burst("burst-1", "gpt-4o", 1, 1, 1, 0);
    tokens(&mut c, 400, 0, None);
    c
}

#[test]
fn a_cost_ceiling_holds_at_the_ceiling_and_fails_above_it_naming_both() {
    let r = run(vec![one_post_at_a_tenth_of_a_cent()]);
    // 400 × 2.5 / 1e6 = 0.001 = the ceiling: holds, no cause.
    assert_eq!(
        seen_all(&judge(&cost_per_post("at_most = 0.001"), &r)),
        [want(
            Some("burst-1 tier 1"),
            "$0.00100 (+0 %)",
            Judgement::Holds,
            None,
            "measured tokens at gpt-4o prices (prices-test)"
        )]
    );
    // Against $0.0009: 0.001 / 0.0009 − 1 = +11 %, above the ceiling.
    let v = judge(&cost_per_post("at_most = 0.0009"), &r);
    assert_eq!(
        (v[0].verdict, v[0].measured.as_str()),
        (Judgement::Fails, "$0.00100 (+11 %)")
    );
    assert_eq!(
        v[0].cause.as_deref(),
        Some("$0.00100 a post is above the ceiling of $0.0009")
    );
    // Near $0.0011 within 10 %: |0.001 − 0.0011| = 0.0001 ≤ 0.00011.
    let v = judge(&cost_per_post("value = 0.0011\ntolerance = 0.1"), &r);
    assert_eq!(
        (v[0].verdict, v[0].cause.as_deref()),
        (Judgement::Holds, None)
    );
}

#[test]
fn a_cost_per_post_without_usage_is_not_measured() {
    let mut c = one_post_at_a_tenth_of_a_cent();
    c.measured.tokens.source = TokenSource::Unknown;
    let v = judge(&cost_per_post("at_most = 0.001"), &run(vec![c]));
    assert_eq!(
        (v[0].verdict, v[0].measured.as_str()),
        (Judgement::NotMeasured, "unknown")
    );
}

fn batch_claim(kind: &str, value: f64) -> String {
    format!(
        r#"
[[claim]]
id = "batch"
statement = "a batch of 100"
kind = "{kind}"
model = "gpt-4o"
users = 100
value = {value}
tolerance = 0.1
"#
    )
}

/// Bursts of 100 on gpt-4o at Tiers 1 (40 ok, 60 failed) and 2 (all 100 ok), of 100 on
/// gpt-4o-mini and of 50 on gpt-4o (all ok): each with its own total cost.
fn bursts() -> Vec<CaseResult> {
    let with_cost = |mut c: CaseResult, usd: f64| {
        c.measured.cost.as_mut().unwrap().total_usd = usd;
        c
    };
    vec![
        with_cost(burst("burst-100", "gpt-4o", 1, 100, 40, 60), 0.34),
        with_cost(burst("burst-100", "gpt-4o", 2, 100, 100, 0), 0.85),
        with_cost(burst("burst-100", "gpt-4o-mini", 2, 100, 100, 0), 0.051),
        with_cost(burst("burst-50", "gpt-4o", 2, 50, 50, 0), 0.43),
    ]
}

#[test]
fn a_batchs_cost_is_judged_on_its_load_and_model_preferring_the_case_without_failures() {
    // gpt-4o at 100 users: Tier 2 (none failed) before Tier 1; $0.85 against $0.85.
    assert_eq!(
        seen_all(&judge(&batch_claim("cost_per_batch", 0.85), &run(bursts()))),
        [want(
            Some("burst-100 tier 2"),
            "$0.850 (+0 %), 100 of 100 posts ok",
            Judgement::Holds,
            None,
            "total cost of the burst's calls"
        )]
    );
    // Tier 1 alone: $0.34 is the claimed $0.34, but 60 posts failed, so it fails.
    let r = run(vec![bursts().remove(0)]);
    assert_eq!(
        seen_all(&judge(&batch_claim("cost_per_batch", 0.34), &r)),
        [want(
            Some("burst-100 tier 1"),
            "$0.340 (+0 %), 40 of 100 posts ok",
            Judgement::Fails,
            Some("rate limits: 60 of 100 posts failed after 429s"),
            "total cost of the burst's calls"
        )]
    );
}

#[test]
fn a_batch_cut_short_or_without_usage_is_not_judged() {
    let mut b = bursts();
    b[1].interrupted = true;
    let v = judge(
        &batch_claim("cost_per_batch", 0.85),
        &run(vec![b[1].clone()]),
    );
    assert_eq!(v[0].measured, "100 of 100 posts finished");
    b[1].interrupted = false;
    b[1].measured.tokens.source = TokenSource::Unknown;
    for kind in ["cost_per_batch", "tokens_per_batch"] {
        let v = judge(&batch_claim(kind, 0.85), &run(vec![b[1].clone()]));
        assert_eq!(
            (v[0].verdict, v[0].measured.as_str()),
            (Judgement::NotMeasured, "unknown"),
            "{kind}"
        );
    }
}

#[test]
fn a_batchs_tokens_are_every_calls_tokens_and_hold_only_if_every_post_succeeded() {
    // burst() gives 1,000 + 200 tokens a successful post: Tier 2's 100 posts 120,000.
    assert_eq!(
        seen_all(&judge(
            &batch_claim("tokens_per_batch", 120_000.0),
            &run(bursts())
        )),
        [want(
            Some("burst-100 tier 2"),
            "120000 tokens (+0 %), 100 of 100 posts ok",
            Judgement::Holds,
            None,
            "prompt + completion tokens of every call of the burst"
        )]
    );
    // Tier 1 alone: 40 posts' 48,000 as claimed, but 60 posts failed.
    let r = run(vec![bursts().remove(0)]);
    let v = judge(&batch_claim("tokens_per_batch", 48_000.0), &r);
    assert_eq!(
        (v[0].verdict, v[0].cause.as_deref()),
        (
            Judgement::Fails,
            Some("rate limits: 60 of 100 posts failed after 429s")
        )
    );
}

const MONTHLY: &str = r#"
[[claim]]
id = "month"
statement = "monthly"
kind = "monthly_cost"
model = "gpt-4o"
tolerance = 0.1
table = [[50, 5, 33.75], [100, 20, 300.0]]
"#;

#[test]
fn the_monthly_table_is_users_by_posts_a_day_by_30_days_by_the_measured_post() {
    // 3 posts of 1,000 + 200 tokens at $2.50 / $10: (7,500 + 6,000) / 1e6 = $0.0135, $0.0045 a
    // post; 50 × 5 × 30 × 0.0045 = $33.75 (holds), 100 × 20 × 30 × 0.0045 = $270 against $300
    // (−10 %, at the edge: 30 ≤ 0.1 × 300 holds).
    let r = run(vec![burst("burst-5", "gpt-4o", 1, 5, 3, 0)]);
    assert_eq!(
        seen_all(&judge(MONTHLY, &r)),
        [want(
            Some("burst-5 tier 1"),
            "$33.75 / $270.00",
            Judgement::Holds,
            None,
            "users x posts/day x 30 days x $0.00450 measured per post"
        )]
    );
}

#[test]
fn a_monthly_table_without_usage_or_without_a_price_is_not_measured_each_its_way() {
    let mut c = burst("burst-5", "gpt-4o", 1, 5, 3, 0);
    c.measured.tokens.source = TokenSource::Unknown;
    let v = judge(MONTHLY, &run(vec![c]));
    assert_eq!(
        (v[0].verdict, v[0].measured.as_str()),
        (Judgement::NotMeasured, "unknown")
    );
    // A case of a model the price table does not list (the test's has two): no figure, and no
    // projection either (its tokens have no price), but not "no usage".
    let c = burst("burst-5", "gpt-4.1", 1, 5, 3, 0);
    let v = judge(&MONTHLY.replace("gpt-4o", "gpt-4.1"), &run(vec![c]));
    assert_eq!(
        seen_all(&v),
        [want(
            None,
            "-",
            Judgement::NotMeasured,
            None,
            "no gpt-4.1 case in this run"
        )]
    );
    // No case at all: not measured, with the projection from the run's best case.
    let mini = burst("burst-5", "gpt-4o-mini", 1, 5, 3, 0);
    let v = judge(MONTHLY, &run(vec![mini]));
    // At gpt-4o prices the mini case's tokens give $0.0045 a post: $33.75 / $270.00.
    assert_eq!(
        v[0].evidence,
        "no gpt-4o case in this run; projected from the tokens of burst-5 tier 1 at gpt-4o prices: $33.75 / $270.00"
    );
}

fn per_call(value: f64) -> String {
    format!(
        r#"
[[claim]]
id = "call"
statement = "a caption costs half a cent"
kind = "cost_per_call"
model = "gpt-4o"
call = "caption"
value = {value}
tolerance = 0.1
"#
    )
}

/// One post whose 2 caption calls took 2,400 prompt + 400 completion tokens.
fn two_captions() -> CaseResult {
    let mut c = burst("burst-1", "gpt-4o", 1, 1, 1, 0);
    c.measured.tokens.by_call.insert(
        "caption".into(),
        Tokens {
            prompt: 2_400,
            cached: 0,
            completion: 400,
        },
    );
    c.measured.call_latency_ms.get_mut("caption").unwrap().count = 2;
    c
}

#[test]
fn a_calls_cost_is_its_tokens_price_over_its_calls() {
    // (2,400 × 2.5 + 400 × 10) / 1e6 = $0.01 over 2 calls = $0.005.
    assert_eq!(
        seen_all(&judge(&per_call(0.005), &run(vec![two_captions()]))),
        [want(
            Some("burst-1 tier 1"),
            "$0.00500 (+0 %)",
            Judgement::Holds,
            None,
            "2400 prompt + 400 completion tokens over 2 caption calls at gpt-4o prices (prices-test)"
        )]
    );
}

#[test]
fn a_calls_cost_is_not_measured_with_failed_posts_no_calls_or_no_usage() {
    let mut failed = two_captions();
    failed.measured.posts.failed = 1;
    failed.measured.posts.total = 2;
    let v = judge(&per_call(0.005), &run(vec![failed]));
    assert_eq!(
        (v[0].verdict, v[0].evidence.as_str()),
        (
            Judgement::NotMeasured,
            "every gpt-4o case had failed posts (best: burst-1 tier 1)"
        )
    );
    let mut no_calls = two_captions();
    no_calls
        .measured
        .call_latency_ms
        .get_mut("caption")
        .unwrap()
        .count = 0;
    let v = judge(&per_call(0.005), &run(vec![no_calls]));
    assert_eq!(
        v[0].evidence,
        "no successful caption call in burst-1 tier 1"
    );
    let mut unknown = two_captions();
    unknown.measured.tokens.source = TokenSource::Unknown;
    let v = judge(&per_call(0.005), &run(vec![unknown]));
    assert_eq!(v[0].measured, "unknown");
}

fn switch(measure: &str, value: f64) -> String {
    format!(
        r#"
[[claim]]
id = "switch"
statement = "gpt-4o-mini saves"
kind = "model_switch"
from = "gpt-4o"
to = "gpt-4o-mini"
measure = "{measure}"
value = {value}
tolerance = 0.1
"#
    )
}

#[test]
fn a_model_switch_is_measured_as_a_share_a_ratio_or_dollars_a_month() {
    // The same 3 posts of 1,000 + 200 tokens on each: gpt-4o $0.0135 / 3 = $0.0045 a post,
    // gpt-4o-mini (450 + 360) / 1e6 / 3 = $0.00027.
    let r = run(vec![
        burst("burst-5", "gpt-4o", 1, 5, 3, 0),
        burst("burst-5m", "gpt-4o-mini", 1, 5, 3, 0),
    ]);
    let evidence = "measured $/post: gpt-4o $0.00450, gpt-4o-mini $0.00027";
    // 1 − 0.00027 / 0.0045 = 1 − 0.06 = 94.0 %; against 90 %: 0.94 / 0.9 − 1 = +4 %.
    assert_eq!(
        seen_all(&judge(&switch("saving_share", 0.9), &r)),
        [want(
            Some("burst-5m tier 1"),
            "94.0 % saving (+4 %)",
            Judgement::Holds,
            None,
            evidence
        )]
    );
    // 0.0045 / 0.00027 = 16.67x; against 17: −2 %.
    let v = judge(&switch("cheaper_times", 17.0), &r);
    assert_eq!(v[0].measured, "16.7x cheaper (-2 %)");
    // 100 users × 5 posts × 30 days = 15,000 posts: $67.50 − $4.05 = $63.45; against $60: +6 %.
    let v = judge(
        &switch("monthly_saving_usd", 60.0)
            .replace("value", "users = 100\nposts_per_day = 5\nvalue"),
        &r,
    );
    assert_eq!(v[0].measured, "$63.45/month saved (+6 %)");
    assert_eq!(v[0].verdict, Judgement::Holds);
}
