//! A 429 metric in a case that met no 429: no value, and the gate says why.

use serde_json::{json, Value};

use crate::result::service::{case_metric, is_429_metric, why_no_value};
use crate::result::RunResult;

/// The frozen default run with its burst-50 tier 2 case (100 requests, all answered 200, no
/// 429) as a service-mode case whose service retried nothing and answered no post under 429s.
fn no_429_run() -> RunResult {
    let mut r: Value =
        serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json")).unwrap();
    let c = &mut r["cases"][1];
    c["service"] = json!({
        "requests_per_post": 2.0, "calls_per_post": 2.0, "prompt_tokens_per_post": 1949.2,
        "completion_tokens_per_post": 200.0, "retried_requests": 0, "own_mean_ms": 30.0,
        "by_call": {},
        "per_post": {"traced_posts": 50, "untraced_posts": 0,
                     "own_ms": {"count": 50, "mean": 30.0, "p50": 30.0, "p95": 35.0,
                                "p99": 35.0, "max": 35.0},
                     "retries_per_post": 0.0,
                     "under_429": {"posts": 0, "by_status": {}, "ungraceful": 0,
                                   "without_retry_after": 0},
                     "untracked_requests": 0}
    });
    serde_json::from_value(r).unwrap()
}

#[test]
fn the_429_metrics_of_a_case_that_met_no_429_are_not_exercised_not_zero() {
    // Before: an independent service whose prompts fit Tier 1 met no 429 in service-429, and
    // its gate failed as "service.retried_requests >= 1 (measured 0)", as if it did not retry.
    let r = no_429_run();
    let c = &r.cases[1];
    for m in [
        "service.retried_requests",
        "service.retries_per_post",
        "service.under_429.ungraceful",
        "service.under_429.status_429",
    ] {
        assert!(is_429_metric(m), "{m}");
        assert_eq!(case_metric(c, m), None, "{m}");
        assert!(why_no_value(c, m).unwrap().starts_with(
            "not exercised: the stub answered none of burst-50 tier 2's requests 429"
        ));
    }
    // The other figures keep their values, and need no reason.
    assert_eq!(case_metric(c, "service.calls_per_post"), Some(2.0));
    assert_eq!(case_metric(c, "service.own_p95_ms"), Some(35.0));
    assert_eq!(why_no_value(c, "service.own_p95_ms"), None);
    // The gate names why, on the console and in JUnit; no value still fails.
    let gates = crate::gate::parse(
        "g.toml",
        "[[gate]]\nscenario = \"burst-50\"\ntier = 2\nthresholds = [\"service.retried_requests >= 1\"]\n",
    )
    .unwrap();
    let checks = crate::gate::evaluate(&gates, &r).unwrap();
    assert!(!checks[0].pass);
    let line = crate::gate::lines(&checks);
    assert!(
        line.starts_with("FAIL burst-50 tier 2: service.retried_requests >= 1 (measured no value: not exercised: the stub answered none of burst-50 tier 2's requests 429 (its calls fit the tier's limits); provoke them with `first_429` in the scenario"),
        "{line}"
    );
    let xml = String::from_utf8(crate::gate::junit(&checks)).unwrap();
    assert!(xml.contains("measured no value: not exercised"), "{xml}");
}

#[test]
fn a_case_that_met_429s_keeps_its_429_metrics() {
    // The fixture's burst-50 tier 1 met 429s: its zeros are figures.
    let mut r = no_429_run();
    r.cases[0].service = r.cases[1].service.clone();
    let c = &r.cases[0];
    assert!(c.stub.as_ref().unwrap().by_status[&429] > 0);
    assert_eq!(case_metric(c, "service.retried_requests"), Some(0.0));
    assert_eq!(case_metric(c, "service.under_429.ungraceful"), Some(0.0));
    assert_eq!(why_no_value(c, "service.retried_requests"), None);
}
