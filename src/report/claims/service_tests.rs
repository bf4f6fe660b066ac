//! The service's own time (service.rs): the mean post less its calls' mean sum, judged as a
//! share of the post, and the cases it cannot be told on.

use super::fixture::{burst, in_service_mode, judge, run, seen, stub, want};
use super::*;

fn claim(max_share: f64) -> String {
    format!(
        r#"
[[claim]]
id = "svc"
statement = "the service adds little"
kind = "service"
users = 10
max_share = {max_share}
"#
    )
}

/// A service-mode burst of 10, `failed` of them failed (other statuses), a mean post of
/// `post_ms`, the stub alongside answering 20 calls of 200 in a mean of 1,000 ms and `limited`
/// of 429.
fn service(post_ms: f64, failed: u64, limited: u64) -> CaseResult {
    let mut c = burst("svc-10", "gpt-4o", 2, 10, 10 - failed, failed);
    if failed > 0 {
        c.measured.posts.failed_by_cause = [(FailureCause::OtherStatus, failed)].into();
    }
    c.measured.post_latency_ms.ok.mean = Some(post_ms);
    let mut st = stub(20, limited, 900.0, 1_800.0);
    st.latency_ms.mean = Some(1_000.0);
    in_service_mode(&mut c, Some(st));
    c
}

const EVIDENCE: &str = "means: post at the service 2.50 s − 2.00 calls a post × 1.00 s a call (the stub's modelled latency of its 20 answers of 200)";

#[test]
fn the_own_time_is_the_mean_post_less_its_calls_as_a_share_of_the_post() {
    // 20 calls over 10 posts = 2 a post × 1,000 ms = 2,000 ms of a 2,500 ms post: 500 ms own,
    // 20 %. The plain burst of 10 (no service) is not judged.
    let r = run(vec![
        burst("burst-10", "gpt-4o", 2, 10, 10, 0),
        service(2_500.0, 0, 0),
    ]);
    let holds = want(
        Some("svc-10 tier 2"),
        "own time 0.50 s of a 2.50 s post (20.0 %), 10 of 10 posts ok",
        Judgement::Holds,
        None,
        EVIDENCE,
    );
    let seen_all = |v: Vec<ClaimVerdict>| v.iter().map(seen).collect::<Vec<_>>();
    assert_eq!(
        seen_all(judge(&claim(0.25), &r)),
        std::slice::from_ref(&holds)
    );
    // 500 / 2,500 is the claimed 0.2 exactly: at the bound, it holds.
    assert_eq!(seen_all(judge(&claim(0.2), &r)), [holds]);
    let v = judge(&claim(0.1), &r);
    assert_eq!(
        (v[0].verdict, v[0].cause.as_deref()),
        (
            Judgement::Fails,
            Some("the service's own time is 20 % of a post (the claim allows 10 %)")
        )
    );
    // 429s the service absorbed, every post answered: judged all the same.
    let v = judge(&claim(0.25), &run(vec![service(2_500.0, 0, 3)]));
    assert_eq!(v[0].verdict, Judgement::Holds);
}

#[test]
fn failed_posts_fail_the_claim_unless_the_stub_429d_them() {
    // 2 of 10 failed with no 429: the service's own failures. 8 ok posts: 20 / 8 = 2.5 calls
    // a post × 1 s = 2.5 s of a 3 s post, 0.5 s own (16.7 %).
    let v = judge(&claim(0.25), &run(vec![service(3_000.0, 2, 0)]));
    assert_eq!(
        (v[0].measured.as_str(), v[0].verdict, v[0].cause.as_deref()),
        (
            "own time 0.50 s of a 3.00 s post (16.7 %), 8 of 10 posts ok",
            Judgement::Fails,
            Some("the service failed posts with no 429 from the stub: failures: 2 other_status")
        )
    );
    // With 429s from the stub the failures are the tier's, not the service's: not judged.
    let v = judge(&claim(0.25), &run(vec![service(3_000.0, 2, 3)]));
    assert_eq!(
        seen(&v[0]),
        want(
            Some("svc-10 tier 2"),
            "8 of 10 posts ok",
            Judgement::NotMeasured,
            None,
            "the stub answered 3 calls with 429 (rate limits, the tier's or a scenario's `first_429`, not the service): judge the service in a case that admits every call (e.g. service-check at Tier 2)"
        )
    );
}

#[test]
fn overlapping_calls_or_no_timed_call_or_no_stub_leave_the_own_time_unmeasured() {
    // A 1.5 s mean post with 2 s of calls in it: they overlap.
    let v = judge(&claim(0.25), &run(vec![service(1_500.0, 0, 0)]));
    assert_eq!(
        seen(&v[0]),
        want(
            Some("svc-10 tier 2"),
            "mean post 1.50 s, its calls 2.00 s",
            Judgement::NotMeasured,
            None,
            "the calls inside a post overlap (their mean sum exceeds the mean post), so the service's own time cannot be told from means"
        )
    );
    // Exactly the calls' 2 s: no own time, but no overlap either: 0 %, holds.
    let v = judge(&claim(0.25), &run(vec![service(2_000.0, 0, 0)]));
    assert_eq!(
        (v[0].measured.as_str(), v[0].verdict),
        (
            "own time 0.00 s of a 2.00 s post (0.0 %), 10 of 10 posts ok",
            Judgement::Holds
        )
    );
    let mut untimed = service(2_500.0, 0, 0);
    untimed.stub.as_mut().unwrap().latency_ms.mean = None;
    let v = judge(&claim(0.25), &run(vec![untimed]));
    assert_eq!(
        v[0].evidence,
        "no successful post, or the stub timed no call"
    );
    let mut no_stub = service(2_500.0, 0, 0);
    no_stub.stub = None;
    let v = judge(&claim(0.25), &run(vec![no_stub]));
    assert_eq!(
        v[0].evidence,
        "needs the stub alongside (`--with-stub PORT`) to time the calls inside the service's posts"
    );
}

#[test]
fn a_service_claim_on_a_load_the_run_did_not_serve_says_so() {
    let v = judge(
        &claim(0.25).replace("users = 10", "users = 50"),
        &run(vec![service(2_500.0, 0, 0)]),
    );
    assert_eq!(
        (v[0].verdict, v[0].evidence.as_str()),
        (
            Judgement::NotMeasured,
            "no service-mode burst of 50 users in this run"
        )
    );
}
