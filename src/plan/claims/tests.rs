//! The planner's claims on small hand-made plans whose answers follow by hand.

use super::*;
use crate::plan::{CachingEffect, PlanSpec, PLAN_SCHEMA};

fn cell(tier: u8, strategy: Strategy, success: f64, p95: f64) -> Cell {
    Cell {
        model: "gpt-4o".into(),
        tier,
        tpm: [30_000, 450_000][tier as usize - 1],
        rpm: 500,
        users: 100,
        strategy,
        posts: 100,
        success,
        p50_s: Some(p95 / 2.0),
        p95_s: Some(p95),
        p99_s: Some(p95),
        makespan_s: p95 + 1.0,
        http_429: if strategy == Strategy::Sdk && success < 1.0 {
            300
        } else {
            0
        },
        wasted_tokens: 0,
        wasted_usd: None,
        rejected_reserved_tokens: 0,
        tokens_per_post: 2_350.0,
        cached_tokens: 0,
        usd_per_post: Some(0.0085),
        usd_per_month: Some(127.5),
        meets_target: false,
        response_cache_hits: 0,
        events: 0,
    }
}

fn row(r: f64, p: f64, success: f64, usd: f64) -> CachingRow {
    CachingRow {
        label: String::new(),
        response_cache_hit: r,
        prompt_cache_hit: p,
        http_429: 0,
        success,
        usd_per_month: Some(usd),
    }
}

fn plan(cells: Vec<Cell>, caching: Vec<CachingEffect>) -> PlanResult {
    PlanResult {
        schema: PLAN_SCHEMA.into(),
        decision: Default::default(),
        spec: PlanSpec {
            models: vec!["gpt-4o".into()],
            tiers: vec![1, 2],
            users: vec![100],
            ..PlanSpec::default()
        },
        cells,
        recommendations: vec![],
        caching,
        monthly: vec![],
        claims: vec![],
        levers: Default::default(),
        tiers_as_of: String::new(),
        prices_as_of: String::new(),
        tiers_from: String::new(),
        latency_profiles: Default::default(),
        find_rate: Vec::new(),
    }
}

fn claims(text: &str) -> ClaimsFile {
    crate::claims::parse("c.toml", text).unwrap()
}

const CACHING: &str =
    "[[claim]]\nid = \"c\"\nstatement = \"caching saves 30 %\"\nkind = \"caching\"\nmin_share = 0.30\n";
const QUEUING: &str =
    "[[claim]]\nid = \"q\"\nstatement = \"queuing\"\nkind = \"queuing\"\nusers = 100\nmax_s = 5\n";

#[test]
fn hits_needed_is_what_is_left_after_prompt_caching() {
    // 30 % in all with prompt caching saving 15.5 %: (1 - h) × 0.845 = 0.70, h = 1 - 0.70/0.845
    // = 0.171597...
    assert!((hits_needed(0.30, 0.155) - 0.171_597).abs() < 1e-6);
    // No prompt caching: the hit share is the saving itself.
    assert_eq!(hits_needed(0.5, 0.0), 0.5);
    // Prompt caching alone saves more than asked: no response cache needed.
    assert_eq!(hits_needed(0.3, 0.4), 0.0);
}

/// Tier 1 loses posts uncached (so its cheap month is not evidence); Tier 2 costs $100 uncached,
/// $80 with prompt caching (20 % saved), and its response cache answers 30 % of posts.
fn caching_plan() -> PlanResult {
    let tier = |tier, success, none| CachingEffect {
        model: "gpt-4o".into(),
        users: 50,
        tier,
        rows: vec![
            row(0.0, 0.0, success, none),
            row(0.3, 0.0, success, none * 0.7),
            row(0.0, 1.0, success, none * 0.8),
            row(0.3, 1.0, success, none * 0.56),
        ],
    };
    plan(vec![], vec![tier(1, 0.02, 17.0), tier(2, 1.0, 100.0)])
}

#[test]
fn caching_is_judged_at_the_lowest_tier_where_every_uncached_post_succeeds() {
    // Both: 1 - (1 - 0.3) × (1 - 0.2) = 1 - 0.56 = 44 % ≥ 30 %: holds.
    let v = judge(&claims(CACHING), &caching_plan());
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].case.as_deref(), Some("gpt-4o, 50 users, Tier 2"));
    assert_eq!(v[0].verdict, Judgement::Holds);
    assert!(
        v[0].measured.contains("prompt caching saves 20.0 %")
            && v[0].measured.contains("30 % of posts")
            && v[0].measured.contains("44.0 % in all"),
        "{}",
        v[0].measured
    );
    // 30 % needs (1 - h) × 0.8 ≤ 0.7: h ≥ 1 - 0.875 = 12.5 %.
    assert!(
        v[0].evidence.contains("at least 12.5 % of posts"),
        "{}",
        v[0].evidence
    );
}

#[test]
fn caching_fails_when_the_assumed_hits_fall_short_and_says_how_many_would_do() {
    // 50 % asked: 44 % < 50 %; it needs (1 - h) × 0.8 ≤ 0.5: h ≥ 37.5 %.
    let v = judge(&claims(&CACHING.replace("0.30", "0.50")), &caching_plan());
    assert_eq!(v[0].verdict, Judgement::Fails);
    assert_eq!(
        v[0].cause.as_deref(),
        Some("50 % needs a response cache answering at least 37.5 % of posts")
    );
}

#[test]
fn caching_is_not_judged_when_no_tier_lets_every_uncached_post_succeed() {
    let mut p = caching_plan();
    p.caching.truncate(1);
    let v = judge(&claims(CACHING), &p);
    assert_eq!(v[0].verdict, Judgement::NotMeasured);
}

#[test]
fn a_queue_that_turns_429s_into_minutes_of_waiting_fails_and_names_the_upgrade() {
    let p = plan(
        vec![
            cell(1, Strategy::Sdk, 0.01, 6.5),
            cell(2, Strategy::Sdk, 1.0, 8.9),
            cell(1, Strategy::Queue, 1.0, 399.6),
            cell(2, Strategy::Queue, 1.0, 8.9),
        ],
        vec![],
    );
    let v = judge(&claims(QUEUING), &p);
    // Only Tier 1 loses posts with SDK retries: one verdict.
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].case.as_deref(), Some("gpt-4o, 100 users, Tier 1"));
    assert_eq!(v[0].verdict, Judgement::Fails);
    let cause = v[0].cause.as_deref().unwrap();
    assert!(
        cause.contains("p95 399.6 s, over 5 s")
            && cause.contains("Tier 2 with SDK retries and no queue: p95 8.90 s"),
        "{cause}"
    );
    assert!(
        v[0].measured.contains("(SDK retries: 1 % ok)"),
        "{}",
        v[0].measured
    );
}

#[test]
fn a_queue_holds_when_every_post_succeeds_within_the_bound() {
    let p = plan(
        vec![
            cell(1, Strategy::Sdk, 0.5, 4.0),
            cell(1, Strategy::Queue, 1.0, 4.9),
        ],
        vec![],
    );
    assert_eq!(judge(&claims(QUEUING), &p)[0].verdict, Judgement::Holds);
    // A queue that still loses a tenth of the posts fails, fast or not.
    let p = plan(
        vec![
            cell(1, Strategy::Sdk, 0.5, 4.0),
            cell(1, Strategy::Queue, 0.9, 4.9),
        ],
        vec![],
    );
    let v = judge(&claims(QUEUING), &p);
    assert_eq!(v[0].verdict, Judgement::Fails);
    assert_eq!(
        v[0].cause.as_deref(),
        Some("the queue still loses 10 % of posts")
    );
}

#[test]
fn queuing_is_not_judged_without_its_load_or_anything_to_fix() {
    // SDK retries lose nothing: nothing for a queue to fix.
    let p = plan(
        vec![
            cell(1, Strategy::Sdk, 1.0, 4.0),
            cell(1, Strategy::Queue, 1.0, 4.0),
        ],
        vec![],
    );
    let v = judge(&claims(QUEUING), &p);
    assert_eq!(v[0].verdict, Judgement::NotMeasured);
    assert!(v[0].evidence.contains("nothing for a queue to fix"));
    // A plan of 50 users says how to plan the claim's 100.
    let mut p = plan(vec![], vec![]);
    p.spec.users = vec![50];
    let v = judge(&claims(QUEUING), &p);
    assert_eq!(v[0].evidence, "not in this plan: plan with --users 100");
}

#[test]
fn queuing_gives_one_verdict_per_losing_tier_in_tier_order() {
    // SDK retries lose posts at both tiers; the queue is slow at Tier 1 (400 s) and smooth at
    // Tier 2 (4 s): Tier 1 fails, then Tier 2 holds, each judged on its own tier's cells.
    let mut t2 = cell(2, Strategy::Sdk, 0.5, 4.0);
    t2.http_429 = 40;
    let p = plan(
        vec![
            cell(1, Strategy::Sdk, 0.01, 6.5),
            t2,
            cell(1, Strategy::Queue, 1.0, 399.6),
            cell(2, Strategy::Queue, 1.0, 4.0),
        ],
        vec![],
    );
    let v = judge(&claims(QUEUING), &p);
    let got: Vec<(Option<&str>, Judgement)> =
        v.iter().map(|v| (v.case.as_deref(), v.verdict)).collect();
    assert_eq!(
        got,
        [
            (Some("gpt-4o, 100 users, Tier 1"), Judgement::Fails),
            (Some("gpt-4o, 100 users, Tier 2"), Judgement::Holds),
        ]
    );
    assert!(
        v[1].measured.contains("(SDK retries: 50 % ok)"),
        "{}",
        v[1].measured
    );
    assert!(
        v[1].evidence.contains("SDK retries, 40 429s"),
        "{}",
        v[1].evidence
    );
}
