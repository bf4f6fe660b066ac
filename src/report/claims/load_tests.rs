//! The claims about a load and a tier (load.rs): latency with its cause and evidence, the tier
//! a burst needs, a tier's limit, and the claims another mode settles; each verdict compared
//! with what a reader sees.

use super::fixture::{
    burst, in_service_mode, judge, run, seen, seen_all, stub, three_ok_and_a_429, want, Seen,
    NEEDS_TIER_2,
};
use super::*;
use crate::result::TierLimitRow;
use crate::scenario::Load;

const LATENCY: &str = r#"
[[claim]]
id = "lat"
statement = "2-5 s at 50 users"
kind = "latency"
users = 50
model = "gpt-4o"
min_s = 2.0
max_s = 5.0
percentile = "p95"
"#;

fn timed(mut c: CaseResult, p50_ms: Option<f64>, p95_ms: Option<f64>) -> CaseResult {
    let ok = &mut c.measured.post_latency_ms.ok;
    (ok.p50, ok.p95) = (p50_ms, p95_ms);
    c
}

/// A burst of 50 on gpt-4o at Tier 2, every post ok, p50 / p95 as given, no 429.
fn tier_2(p50_ms: f64, p95_ms: f64) -> CaseResult {
    let mut c = timed(
        burst("burst-50", "gpt-4o", 2, 50, 50, 0),
        Some(p50_ms),
        Some(p95_ms),
    );
    (c.measured.calls.http_429, c.measured.calls.retries) = (0, 0);
    c.measured.backoff_ms.count = 0;
    c
}

// The frozen run's calls: image prompt p50 2,050.56 ms, caption 1,313.28 ms (2.05 s, 1.31 s).
const EVIDENCE_TIER_2: &str =
    "tier 2 (30000 TPM); call p50: image prompt 2.05 s, caption 1.31 s; 0 429s, 0 retries";

#[test]
fn a_latency_claim_is_judged_on_every_case_of_its_load_one_verdict_each() {
    let t1 = timed(
        burst("burst-50", "gpt-4o", 1, 50, 2, 48),
        Some(8_548.352),
        Some(9_302.016),
    );
    let r = run(vec![
        burst("mini-50", "gpt-4o-mini", 2, 50, 50, 0),
        t1,
        burst("burst-100", "gpt-4o", 2, 100, 100, 0),
        tier_2(3_000.0, 4_500.0),
    ]);
    assert_eq!(
        seen_all(&judge(LATENCY, &r)),
        [
            // 8,548.352 ms = 8.55 s, 9,302.016 ms = 9.30 s; the 48 failed posts say why (their
            // 429s), so the slowness adds nothing.
            want(
                Some("burst-50 tier 1"),
                "p50 8.55 s, p95 9.30 s, 2 of 50 posts ok",
                Judgement::Fails,
                Some("rate limits: 48 of 50 posts failed after 429s"),
                "tier 1 (30000 TPM); call p50: image prompt 2.05 s, caption 1.31 s; 148 429s, 100 retries"
            ),
            want(
                Some("burst-50 tier 2"),
                "p50 3.00 s, p95 4.50 s, 50 of 50 posts ok",
                Judgement::Holds,
                None,
                EVIDENCE_TIER_2
            ),
        ]
    );
}

fn one(c: CaseResult) -> Seen {
    let v = judge(LATENCY, &run(vec![c]));
    assert_eq!(v.len(), 1);
    seen(&v[0])
}

#[test]
fn a_latency_at_its_bounds_holds_and_past_them_says_why() {
    // p50 exactly 2 s and p95 exactly 5 s: inside.
    assert_eq!(
        one(tier_2(2_000.0, 5_000.0)),
        want(
            Some("burst-50 tier 2"),
            "p50 2.00 s, p95 5.00 s, 50 of 50 posts ok",
            Judgement::Holds,
            None,
            EVIDENCE_TIER_2
        )
    );
    let cause = |c: CaseResult| {
        let (_, _, j, cause, _) = one(c);
        (j, cause.unwrap_or_default())
    };
    let fails = |s: &str| (Judgement::Fails, s.to_string());
    assert_eq!(
        cause(tier_2(3_000.0, 6_000.0)),
        fails("model latency: no 429s, the calls themselves take this long")
    );
    let mut backoff = tier_2(3_000.0, 6_000.0);
    (
        backoff.measured.backoff_ms.count,
        backoff.measured.backoff_ms.p95,
    ) = (3, Some(1_500.0));
    assert_eq!(
        cause(backoff),
        fails("rate limits: 3 posts waited in 429 backoff (p95 1.50 s)")
    );
    assert_eq!(
        cause(tier_2(1_500.0, 4_000.0)),
        fails("faster than claimed: p50 below 2 s")
    );
    // No successful post: no percentile, and the failures are the whole cause.
    let mut none_ok = timed(burst("burst-50", "gpt-4o", 2, 50, 0, 50), None, None);
    none_ok.measured.posts.failed_by_cause = [(FailureCause::Timeout, 50)].into();
    let (_, measured, j, cause, _) = one(none_ok);
    assert_eq!(
        (measured.as_str(), j, cause.as_deref()),
        (
            "no successful post of 50",
            Judgement::Fails,
            Some("failures: 50 timeout")
        )
    );
}

#[test]
fn a_latency_verdict_gives_the_goodput_within_the_claimed_bound() {
    // 4 posts: 3 ok in 1, 3 and 6 s, 1 failed; within 5 s: 2 of 4 = 50 %.
    let mut c = timed(
        burst("burst-50", "gpt-4o", 2, 50, 3, 1),
        Some(3_000.0),
        Some(6_000.0),
    );
    c.measured.posts_sample = three_ok_and_a_429();
    let (_, measured, j, cause, _) = one(c);
    assert_eq!(
        (measured.as_str(), j, cause.as_deref()),
        (
            "p50 3.00 s, p95 6.00 s, 3 of 4 posts ok, 50 % done within 5 s",
            Judgement::Fails,
            Some("rate limits: 1 of 4 posts failed after 429s")
        )
    );
}

#[test]
fn in_service_mode_the_slowness_and_the_evidence_come_from_the_stub_alongside() {
    let slow = || tier_2(3_000.0, 6_000.0);
    let mut limited = slow();
    in_service_mode(&mut limited, Some(stub(40, 3, 1_200.0, 2_500.0)));
    let (_, _, _, cause, evidence) = one(limited);
    assert_eq!(
        (cause.as_deref(), evidence.as_str()),
        (
            Some("rate limits: the stub answered 3 429s to the service's calls, which it retried"),
            "tier 2 (30000 TPM); the service's OpenAI calls (stub): p50 1.20 s, p95 2.50 s; 3 429s inside the service"
        )
    );
    let mut unlimited = slow();
    in_service_mode(&mut unlimited, Some(stub(40, 0, 1_200.0, 2_500.0)));
    assert_eq!(
        one(unlimited).3.as_deref(),
        Some("model latency: no 429s inside the service, its calls take this long")
    );
    let mut unseen = slow();
    in_service_mode(&mut unseen, None);
    let (_, _, _, cause, evidence) = one(unseen);
    assert_eq!(
        (cause.as_deref(), evidence.as_str()),
        (
            Some("the service is slower than claimed (run with --with-stub to see its calls)"),
            "tier 2 (30000 TPM) assumed; the service's calls were not observed"
        )
    );
}

#[test]
fn a_missing_load_names_the_bursts_the_run_had_instead() {
    let claim = LATENCY.replace("users = 50", "users = 60");
    let r = run(vec![
        burst("burst-50", "gpt-4o", 1, 50, 50, 0),
        burst("burst-50", "gpt-4o", 2, 50, 50, 0),
        burst("mini-50", "gpt-4o-mini", 2, 50, 50, 0),
    ]);
    // The two gpt-4o cases of burst-50 are one burst.
    assert_eq!(
        seen_all(&judge(&claim, &r)),
        [want(
            None,
            "-",
            Judgement::NotMeasured,
            None,
            "no burst of 60 users on gpt-4o in this run: this run's burst-50 had 50 users on gpt-4o, mini-50 had 50 users on gpt-4o-mini"
        )]
    );
    let mut sustained = burst("steady", "gpt-4o", 1, 5, 5, 0);
    sustained.inputs.load = Load::Sustained {
        users: 5,
        posts_per_user_per_day: None,
        active_hours_per_day: None,
        arrival_multiplier: None,
        rate_per_s: Some(1.0),
        duration_s: 10.0,
        max_in_flight: None,
    };
    let v = judge(&claim, &run(vec![sustained]));
    assert_eq!(
        v[0].evidence,
        "no burst of 60 users on gpt-4o in this run: it ran no burst"
    );
}

#[test]
fn needs_tier_holds_below_the_tier_if_posts_failed_and_from_it_if_none_did() {
    let r = run(vec![
        burst("burst-100", "gpt-4o", 1, 100, 10, 90),
        burst("burst-50", "gpt-4o", 1, 50, 2, 48),
        burst("burst-50b", "gpt-4o", 1, 50, 50, 0),
        burst("burst-50", "gpt-4o", 2, 50, 50, 0),
        burst("burst-50", "gpt-4o-mini", 3, 50, 50, 0),
    ]);
    let below = "openai-2025 (30000 TPM): the claim expects failed posts here";
    let from = "openai-2025 (30000 TPM): the claim expects every post to succeed here";
    assert_eq!(
        seen_all(&judge(NEEDS_TIER_2, &r)),
        [
            want(
                Some("burst-50 tier 1"),
                "2 of 50 posts ok at Tier 1 on gpt-4o",
                Judgement::Holds,
                None,
                below
            ),
            want(
                Some("burst-50b tier 1"),
                "50 of 50 posts ok at Tier 1 on gpt-4o",
                Judgement::Fails,
                Some("every post succeeded at Tier 1 on gpt-4o: that tier suffices"),
                below
            ),
            want(
                Some("burst-50 tier 2"),
                "50 of 50 posts ok at Tier 2 on gpt-4o",
                Judgement::Holds,
                None,
                from
            ),
            want(
                Some("burst-50 tier 3"),
                "50 of 50 posts ok at Tier 3 on gpt-4o-mini",
                Judgement::Holds,
                None,
                from
            ),
        ]
    );
    let v = judge(&NEEDS_TIER_2.replace("50", "60"), &r);
    assert_eq!(
        seen_all(&v),
        [want(
            None,
            "-",
            Judgement::NotMeasured,
            None,
            "no burst of 60 users in this run"
        )]
    );
}

const TIER_1_LIMIT: &str = r#"
[[claim]]
id = "lim"
statement = "Tier 1 allows 10,000 tokens a minute"
kind = "tier_limit"
model = "gpt-4o"
tier = 1
tpm = 10000
"#;

/// gpt-4o-mini at Tier 1 (200,000 TPM) and gpt-4o at Tier 2 (450,000) before gpt-4o at Tier 1
/// (30,000, twice), all of the tier set `openai-2025`.
fn tiers() -> Vec<CaseResult> {
    let limits = |mut c: CaseResult, tpm, rpm| {
        (c.inputs.limits.tpm, c.inputs.limits.rpm) = (tpm, rpm);
        c
    };
    vec![
        limits(burst("mini-50", "gpt-4o-mini", 1, 50, 50, 0), 200_000, 500),
        limits(burst("burst-50", "gpt-4o", 2, 50, 50, 0), 450_000, 5_000),
        limits(burst("burst-50", "gpt-4o", 1, 50, 50, 0), 30_000, 500),
        limits(burst("burst-100", "gpt-4o", 1, 100, 100, 0), 30_000, 500),
    ]
}

#[test]
fn a_tier_limit_is_read_from_the_cases_of_that_tier_and_model_once_per_tier_set() {
    let r = run(tiers());
    // 30,000 against 10,000: +200 %.
    assert_eq!(
        seen_all(&judge(TIER_1_LIMIT, &r)),
        [want(
            Some("burst-50 tier 1"),
            "30000 TPM (+200 %)",
            Judgement::Fails,
            None,
            "tier set `openai-2025`, Tier 1, gpt-4o: 30000 tokens and 500 requests a minute"
        )]
    );
    let v = judge(&TIER_1_LIMIT.replace("10000", "30000"), &r);
    assert_eq!(
        (v[0].verdict, v[0].measured.as_str()),
        (Judgement::Holds, "30000 TPM (+0 %)")
    );
    let v = judge(&TIER_1_LIMIT.replace("tier = 1", "tier = 3"), &r);
    assert_eq!(
        seen_all(&v),
        [want(
            None,
            "-",
            Judgement::NotMeasured,
            None,
            "no Tier 3 case on gpt-4o in this run (`postload plan` reads every tier of the set)"
        )]
    );
}

#[test]
fn a_tier_limit_is_read_from_every_tier_set_the_run_used_with_or_without_a_case() {
    let mut r = run(tiers());
    let row = |tier_set: &str, tier, model: &str, tpm, rpm| TierLimitRow {
        tier_set: tier_set.into(),
        tier,
        model: model.into(),
        tpm,
        rpm,
    };
    r.tier_limits = vec![
        row("openai-2025", 1, "gpt-4o-mini", 200_000, 500),
        row("openai-2025", 2, "gpt-4o", 450_000, 5_000),
        row("openai-2025", 1, "gpt-4o", 30_000, 500),
        row("custom", 1, "gpt-4o", 10_000, 100),
    ];
    assert_eq!(
        seen_all(&judge(TIER_1_LIMIT, &r)),
        [
            want(
                Some("burst-50 tier 1"),
                "30000 TPM (+200 %)",
                Judgement::Fails,
                None,
                "tier set `openai-2025`, Tier 1, gpt-4o: 30000 tokens and 500 requests a minute"
            ),
            // No case ran the custom set: the limit is judged all the same.
            want(
                None,
                "10000 TPM (+0 %)",
                Judgement::Holds,
                None,
                "tier set `custom`, Tier 1, gpt-4o: 10000 tokens and 100 requests a minute"
            ),
        ]
    );
    let v = judge(&TIER_1_LIMIT.replace("tier = 1", "tier = 3"), &r);
    assert_eq!(
        v[0].evidence,
        "no Tier 3 limits for gpt-4o in the tier sets this run used (`postload plan` reads every tier of the set)"
    );
}

#[test]
fn a_claim_another_mode_settles_says_which_and_how() {
    let service = "[[claim]]\nid = \"s\"\nstatement = \"fast\"\nkind = \"service\"\n";
    let planner = "[[claim]]\nid = \"p\"\nstatement = \"plan\"\nkind = \"planner\"\n";
    let plain = run(vec![burst("burst-50", "gpt-4o", 2, 50, 50, 0)]);
    let mut in_service = burst("svc-50", "gpt-4o", 2, 50, 50, 0);
    in_service_mode(&mut in_service, None);
    let with_service = run(vec![in_service]);
    let evidence = |toml: &str, r: &RunResult| judge(toml, r)[0].evidence.clone();
    assert_eq!(
        evidence(service, &plain),
        "needs service mode: `postload run --target URL --with-stub` times the service beside its OpenAI calls"
    );
    assert_eq!(
        evidence(service, &with_service),
        "not judged automatically: compare the service's post latency with its OpenAI calls in the Service section"
    );
    assert_eq!(
        evidence(planner, &plain),
        "settled by `postload plan`: its caching and queue results (plan.md)"
    );
}
