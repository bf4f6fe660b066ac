//! The service-mode claims ("the service handles 50-100 concurrent requests easily", "Mem0/S3
//! add no bottleneck") judged on the default run's frozen result, each case turned into a
//! service-mode case with hand-set means, so that every verdict follows by hand.

use postload::openai::catalog::Catalog;
use postload::report::claims::{self, ClaimVerdict, Judgement};
use postload::report::{CaseResult, RunResult};
use postload::scenario::target::{ServiceTargetInfo, UsagePointers};

const FIXTURE: &str = include_str!("fixtures/result-default-run.json");

/// The fixture's Tier-2 burst-100 case as a service case: `ok` of 100 posts ok, mean post
/// `post_ms`, and the stub alongside timed `calls` answers of 200 with mean `call_ms`.
fn service_case(ok: u64, post_ms: f64, calls: u64, call_ms: f64) -> RunResult {
    let mut r: RunResult = serde_json::from_str(FIXTURE).unwrap();
    r.cases
        .retain(|c| c.scenario == "burst-100" && c.tier == 2 && c.inputs.model == "gpt-4o");
    assert_eq!(r.cases.len(), 1);
    let c: &mut CaseResult = &mut r.cases[0];
    c.inputs.service = Some(ServiceTargetInfo {
        url: "http://127.0.0.1:8000".into(),
        method: "POST".into(),
        path: "/api/marketing-post".into(),
        header_names: vec![],
        expect_status: 200,
        usage: UsagePointers::default(),
    });
    let p = &mut c.measured.posts;
    p.total = 100;
    p.ok = ok;
    p.failed = 100 - ok;
    p.failed_by_cause.clear();
    if ok < 100 {
        p.failed_by_cause
            .insert(postload::metrics::FailureCause::ServerError, 100 - ok);
    }
    c.measured.post_latency_ms.ok.mean = Some(post_ms);
    let st = c
        .stub
        .as_mut()
        .expect("the fixture's cases have stub counts");
    st.by_status.clear();
    st.by_status.insert(200, calls);
    st.latency_ms.count = calls;
    st.latency_ms.mean = Some(call_ms);
    r
}

fn service_verdicts(r: &RunResult) -> Vec<ClaimVerdict> {
    claims::evaluate(
        &claims::parse("claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        r,
        &Catalog::embedded().prices,
    )
    .into_iter()
    .filter(|v| v.id == "fastapi-concurrency" || v.id == "mem0-s3")
    .collect()
}

#[test]
fn own_time_within_a_tenth_of_a_post_holds() {
    // 100 posts, 200 calls of 2,850 ms: 2 calls a post, 5,700 ms; a 6,000 ms post leaves
    // 300 ms of the service's own, 5.0 % of the post (the claims allow 10 %).
    let v = service_verdicts(&service_case(100, 6_000.0, 200, 2_850.0));
    assert_eq!(v.len(), 2);
    for v in &v {
        assert_eq!(v.verdict, Judgement::Holds, "{v:?}");
        assert_eq!(v.case.as_deref(), Some("burst-100 tier 2"));
        assert_eq!(
            v.measured,
            "own time 0.30 s of a 6.00 s post (5.0 %), 100 of 100 posts ok"
        );
        assert!(
            v.evidence.contains("2.00 calls a post × 2.85 s a call"),
            "{}",
            v.evidence
        );
    }
}

#[test]
fn own_time_over_a_tenth_fails_with_its_share() {
    // 7,000 − 5,700 = 1,300 ms: 18.6 % of the post, over 10 %.
    let v = service_verdicts(&service_case(100, 7_000.0, 200, 2_850.0));
    assert!(v.iter().all(|v| v.verdict == Judgement::Fails));
    assert_eq!(
        v[0].cause.as_deref(),
        Some("the service's own time is 19 % of a post (the claim allows 10 %)")
    );
}

#[test]
fn failed_posts_fail_the_claim_unless_the_stub_rate_limited_the_calls() {
    // 90 ok, no 429 from the stub: the service lost 10 posts itself.
    let v = service_verdicts(&service_case(90, 6_000.0, 180, 2_850.0));
    assert_eq!(v[0].verdict, Judgement::Fails);
    assert!(
        v[0].cause
            .as_deref()
            .unwrap()
            .contains("no 429 from the stub"),
        "{:?}",
        v[0].cause
    );
    // The same with 429s from the stub: the tier's limits, not the service: not judged.
    let mut r = service_case(90, 6_000.0, 180, 2_850.0);
    r.cases[0].stub.as_mut().unwrap().by_status.insert(429, 40);
    let v = service_verdicts(&r);
    assert_eq!(v[0].verdict, Judgement::NotMeasured);
    assert!(
        v[0].evidence.contains("answered 40 calls with 429"),
        "{}",
        v[0].evidence
    );
}

#[test]
fn overlapping_calls_or_no_stub_leave_the_claim_unjudged() {
    // Calls made in parallel: 2 × 2,850 = 5,700 ms of calls in a 4,000 ms post.
    let v = service_verdicts(&service_case(100, 4_000.0, 200, 2_850.0));
    assert_eq!(v[0].verdict, Judgement::NotMeasured);
    assert!(v[0].evidence.contains("overlap"), "{}", v[0].evidence);
    let mut r = service_case(100, 6_000.0, 200, 2_850.0);
    r.cases[0].stub = None;
    let v = service_verdicts(&r);
    assert_eq!(v[0].verdict, Judgement::NotMeasured);
    assert!(v[0].evidence.contains("--with-stub"), "{}", v[0].evidence);
}

#[test]
fn a_run_against_the_stub_says_service_mode_would_settle_them() {
    let r: RunResult = serde_json::from_str(FIXTURE).unwrap();
    let v = service_verdicts(&r);
    assert_eq!(v.len(), 2);
    for v in v {
        assert_eq!(v.verdict, Judgement::NotMeasured);
        assert!(v.evidence.contains("needs service mode"), "{}", v.evidence);
    }
}

#[test]
fn a_batch_cost_is_judged_on_a_burst_not_on_a_sustained_load_of_as_many_users() {
    // The fixture's burst-50 cases, turned into a minute of posts from 50 users: the note's
    // "$0.43 per batch of 50 users at once" has no case then.
    let mut r: RunResult = serde_json::from_str(FIXTURE).unwrap();
    for c in r.cases.iter_mut().filter(|c| c.scenario == "burst-50") {
        c.inputs.load = postload::scenario::Load::Sustained {
            users: 50,
            posts_per_user_per_day: None,
            active_hours_per_day: None,
            arrival_multiplier: None,
            rate_per_s: Some(1.0),
            duration_s: 60.0,
            max_in_flight: None,
        };
    }
    let v: Vec<ClaimVerdict> = claims::evaluate(
        &claims::parse("claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        &r,
        &Catalog::embedded().prices,
    )
    .into_iter()
    .filter(|v| v.id == "batch-50")
    .collect();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].verdict, Judgement::NotMeasured);
    assert!(
        v[0].evidence
            .starts_with("no burst of 50 users on gpt-4o in this run"),
        "{}",
        v[0].evidence
    );
}

#[test]
fn a_tier_limit_is_judged_against_the_tier_set_in_use_even_without_a_case_at_that_tier() {
    // The default run has Tier 1 and 2 cases only; the note's "Tier 3: 500,000 tokens/minute"
    // is judged against the run's tier sets, kept in result.json. openai-2025's Tier 3 for
    // gpt-4o is 800,000 TPM (+60 %); the note's own `seed` set says 500,000 (holds).
    let mut r: RunResult = serde_json::from_str(FIXTURE).unwrap();
    r.tier_limits = postload::report::TierLimitRow::of(
        &Catalog::embedded(),
        [
            ("openai-2025", "gpt-4o"),
            ("seed", "gpt-4o"),
            ("openai-2025", "gpt-4o"),
        ],
    );
    // 5 tiers of openai-2025 and 3 of seed; the repeated pair adds nothing.
    assert_eq!(r.tier_limits.len(), 8);
    let v: Vec<ClaimVerdict> = claims::evaluate(
        &claims::parse("claims.toml", claims::EMBEDDED_CLAIMS).unwrap(),
        &r,
        &Catalog::embedded().prices,
    )
    .into_iter()
    .filter(|v| v.id == "tier-3-limit")
    .collect();
    assert_eq!(v.len(), 2, "{v:?}");
    assert_eq!(v[0].verdict, Judgement::Fails);
    assert_eq!(v[0].measured, "800000 TPM (+60 %)");
    assert_eq!(v[0].case, None);
    assert!(
        v[0].evidence.starts_with("tier set `openai-2025`, Tier 3"),
        "{}",
        v[0].evidence
    );
    assert_eq!(v[1].verdict, Judgement::Holds);
    assert_eq!(v[1].measured, "500000 TPM (+0 %)");
}
