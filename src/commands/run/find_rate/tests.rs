use super::*;
use crate::plan::sim::Strategy;

fn step(per_s: f64, p95_s: f64, http_429: u64, meets: bool) -> RateStep {
    RateStep {
        per_s,
        window_s: 600.0,
        posts: 600,
        success: 1.0,
        p95_s: Some(p95_s),
        http_429,
        meets,
        goodput: None,
        late_sends: None,
    }
}

fn answer(steps: Vec<RateStep>) -> RateAnswer {
    let lo = steps
        .iter()
        .filter(|s| s.meets)
        .map(|s| s.per_s)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let hi = steps
        .iter()
        .filter(|s| !s.meets)
        .map(|s| s.per_s)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.min(r))));
    RateAnswer {
        model: "gpt-4o-mini".into(),
        tier: 3,
        strategy: Strategy::Sdk,
        highest_per_s: lo,
        failing_per_s: hi,
        limit: RateLimit::Latency { p95_s: 1.0 },
        first_minute_lift: 0.1,
        steps,
    }
}

/// A failing step that sent posts late is named beside the answer: 12 of 600 posts at 1.5/s
/// late, the pool max(20, ⌈1.5 · 30⌉ = 45) users all busy; a failing step with none late, or
/// a late step that held, is not.
#[test]
fn a_failing_step_that_sent_posts_late_is_named_as_maybe_the_harnesss() {
    let mut late = step(1.5, 9.0, 0, false);
    late.late_sends = Some(12);
    let mut held = step(1.0, 1.0, 0, true);
    held.late_sends = Some(3);
    let a = answer(vec![held.clone(), late.clone()]);
    assert_eq!(
        late_text(&a),
        " (CAUTION: 12 of 600 posts at 1.5/s were sent late, all 45 of the harness's users busy: that step may have failed on the harness, not the target)"
    );
    late.late_sends = Some(0);
    assert_eq!(late_text(&answer(vec![held.clone(), late])), "");
    assert_eq!(late_text(&answer(vec![held])), "");
    assert_eq!(
        (pool(0.1), pool(1.5), pool(1e9)),
        (20, 45, crate::limits::MAX_USERS)
    );
}

#[test]
fn a_step_just_under_the_success_target_never_reads_as_meeting_it() {
    // 289 of 292 posts ok is 98.97 %: against 99 % it failed, and to one place it read
    // "99.0 %" beside "no" (the live gpt-4o Tier 1 search's first step).
    let mut st = step(0.2089, 9.06, 13, false);
    st.success = 289.0 / 292.0;
    st.goodput = Some(281.0 / 292.0);
    let f = FindRate {
        schema: "postload-find-rate/1",
        model: "gpt-4o".into(),
        scenario: "burst-50".into(),
        target: Goal {
            p95_s: 10.0,
            min_success: 0.99,
        },
        time_scale: 20.0,
        window: StepWindow::LIVE,
        service_mode: false,
        tiers: vec![TierRate {
            tier: 1,
            live: answer(vec![st]),
            planned: None,
            cut: None,
        }],
        interrupted: false,
        error: None,
    };
    let md = markdown(&f);
    assert!(
        md.contains("| 1 | 0.2089 | 600 | 600 | 98.97 % | 9.06 | 96.23 % | 13 | - | no |"),
        "{md}"
    );
}

#[test]
fn the_service_limits_when_its_own_time_rises_and_the_wait_on_openai_does_not() {
    // Lowest rate 5/s: post p95 300 ms, own 200 ms (so 100 ms on OpenAI). First failing,
    // 10/s: post 900 ms, own 800 ms (still 100 ms on OpenAI): own rose 600 ms, the rest 0.
    let a = answer(vec![step(10.0, 0.9, 0, false), step(5.0, 0.3, 0, true)]);
    let own = [(10.0, Some(800.0)), (5.0, Some(200.0))];
    assert_eq!(
        service_limit(&a, &own),
        Some(RateLimit::Service {
            own_p95_ms_lowest: 200.0,
            own_p95_ms: 800.0
        })
    );
    // The wait on OpenAI rose more (post 1,900 ms: 1,100 ms on OpenAI, up 1,000): not the
    // service.
    let a = answer(vec![step(10.0, 1.9, 0, false), step(5.0, 0.3, 0, true)]);
    assert_eq!(service_limit(&a, &own), None);
    // 429s at the failing step: the tier, not the service.
    let a = answer(vec![step(10.0, 0.9, 3, false), step(5.0, 0.3, 0, true)]);
    assert_eq!(service_limit(&a, &own), None);
    // Own time up by less than a tenth (200 to 215 ms) while nothing else moved: noise.
    let a = answer(vec![step(10.0, 0.315, 0, false), step(5.0, 0.3, 0, true)]);
    assert_eq!(
        service_limit(&a, &[(10.0, Some(215.0)), (5.0, Some(200.0))]),
        None
    );
    // No own time measured (a service whose figures are missing), or the failing step the
    // lowest tried: nothing to compare.
    assert_eq!(service_limit(&a, &[(10.0, None), (5.0, Some(200.0))]), None);
    let a = answer(vec![step(5.0, 0.9, 0, false)]);
    assert_eq!(service_limit(&a, &[(5.0, Some(800.0))]), None);
}

/// The loaded run's search, from find-rate's test of a memory store serving 10 look-ups a
/// second: the lowest rate tried, 10/s, is already at its capacity (own p95 400 ms of a
/// 489 ms post); the first failing step, 10.9/s, fails by a hair (506 ms: own 420, up 5 %,
/// within noise); 11.9/s (post 1,275 ms, own 1,190: up 790 ms while the rest moved 0 → 85)
/// shows the service plainly. Before, only the first failing step was asked, and the
/// answer fell back to the model's latency.
#[test]
fn the_service_is_named_from_the_failing_step_where_its_own_time_shows() {
    let a = answer(vec![
        step(10.0, 0.489, 0, true),
        step(20.0, 6.494, 0, false),
        step(14.1, 2.680, 0, false),
        step(11.9, 1.275, 0, false),
        step(10.9, 0.506, 0, false),
        step(10.4, 0.453, 0, true),
    ]);
    let own = [
        (10.0, Some(400.0)),
        (20.0, Some(6_400.0)),
        (14.1, Some(2_590.0)),
        (11.9, Some(1_190.0)),
        (10.9, Some(420.0)),
        (10.4, Some(380.0)),
    ];
    assert_eq!(
        service_limit(&a, &own),
        Some(RateLimit::Service {
            own_p95_ms_lowest: 400.0,
            own_p95_ms: 1_190.0
        })
    );
    // 429s at the first failing step still name the tier, whatever the steps above show.
    let mut tier = a.clone();
    tier.steps[4].http_429 = 2;
    assert_eq!(service_limit(&tier, &own), None);
    // Where no failing step shows the service's own time rising, it is not named.
    let flat = own.map(|(r, _)| (r, Some(400.0)));
    assert_eq!(service_limit(&a, &flat), None);
}
