//! Each lever's effect on small cases whose answers follow by hand (the fixed profile: every
//! call takes exactly 1 s, its first token at 1 s too, and writes 100 tokens), and the search
//! on a case where only one lever can win.

use std::time::Duration;

use super::*;
use crate::metrics::Measured;
use crate::openai::bucket::{Limits, RejectedCost};
use crate::openai::latency::Profile;
use crate::plan::sim::{run, Arrivals, SimInput, SimOutput};
use crate::plan::Goal;

/// `posts` posts at once, unlimited (unless `tpm` says), every call 1 s and 100 tokens;
/// the image prompt 800 tokens (cap 150), the caption 1,050 + the image prompt (cap 200).
fn burst(posts: u64, design: Design, tpm: u64) -> SimInput {
    SimInput {
        limits: Limits {
            rpm: 1_000_000,
            tpm,
            rpd: None,
        },
        rejected_cost: RejectedCost::Request,
        profile: Profile::Fixed {
            as_of: String::new(),
            source: String::new(),
            latency_ms: 1_000,
            completion_tokens: 100,
        },
        shape: design.shape(PostShape {
            image_prompt_tokens: 800,
            image_max_tokens: 150,
            caption_base_tokens: 1_050,
            caption_max_tokens: 200,
            image_prompt_share: 0.0,
            own_image_prompt_tokens: 40,
        }),
        arrivals: Arrivals::Burst { posts },
        strategy: Strategy::Sdk,
        response_cache_hit: design.response_cache_hit.unwrap_or(0.0),
        response_cache_latency: Duration::from_millis(5),
        prompt_cache_hit: 0.0,
        parallel: design.parallel,
        request_timeout: crate::plan::sim::REQUEST_TIMEOUT,
        seed: 3,
        reasoning: None,
    }
}

fn measured(out: &SimOutput, posts: u64) -> Measured {
    out.recorder.summarize(None, posts)
}

const PARALLEL: Design = Design {
    parallel: true,
    stream_caption: false,
    caption_max_tokens: None,
    image_max_tokens: None,
    image_prompt_share: None,
    response_cache_hit: None,
    effort: None,
};

// HdrHistogram at 3 significant figures keeps 1,000,000 µs in a bucket 512 µs wide
// ([999,936, 1,000,447]: values from 2^19 to 2^20 step by 2^9) and reports its middle,
// 1,000,192 µs; 2,000,000 µs sits in a 1,024 µs bucket from 1,999,872, middle 2,000,384 µs.
const ONE_S_MS: f64 = 1_000.192;
const TWO_S_MS: f64 = 2_000.384;

#[test]
fn parallel_calls_take_the_slower_call_not_the_sum() {
    let seq = run(&burst(20, Design::default(), u64::MAX / 4));
    let par = run(&burst(20, PARALLEL, u64::MAX / 4));
    let (s, p) = (measured(&seq, 20), measured(&par, 20));
    // Sequential: 1 s + 1 s; parallel: both calls in the same second.
    assert_eq!(s.post_latency_ms.ok.max, Some(TWO_S_MS));
    assert_eq!(p.post_latency_ms.ok.max, Some(ONE_S_MS));
    assert_eq!(p.post_latency_ms.ok.min, Some(ONE_S_MS));
    assert_eq!((s.makespan_ms, p.makespan_ms), (2_000.0, 1_000.0));
    assert_eq!((s.calls.calls, p.calls.calls), (40, 40));
    // The caption's prompt lacks the image prompt (the image call's 100 tokens): 800 + 1,150
    // sequential, 800 + 1,050 in parallel; each call writes 100.
    assert_eq!(s.tokens.total.prompt, 20 * 1_950);
    assert_eq!(p.tokens.total.prompt, 20 * 1_850);
    assert_eq!(p.tokens.total.completion, 20 * 200);
}

#[test]
fn a_streamed_caption_shows_its_first_token_after_the_image_call() {
    // The fixed profile's first token comes with its last, at 1 s: sequential, the caption's
    // first token is at 1 s (image) + 1 s; in parallel at 1 s.
    let seq = run(&burst(10, Design::default(), u64::MAX / 4));
    let par = run(&burst(10, PARALLEL, u64::MAX / 4));
    let p = |o: &SimOutput| measured(o, 10).first_caption_token_ms.unwrap_or_default();
    assert_eq!(p(&seq).count, 10);
    assert_eq!((p(&seq).min, p(&seq).max), (Some(TWO_S_MS), Some(TWO_S_MS)));
    assert_eq!((p(&par).min, p(&par).max), (Some(ONE_S_MS), Some(ONE_S_MS)));
    // A cached answer shows the caption at once: 5 ms (5,000 µs: a 4 µs bucket from 5,000,
    // middle 5,002 µs).
    let cached = run(&burst(
        10,
        Design {
            response_cache_hit: Some(1.0),
            ..Design::default()
        },
        u64::MAX / 4,
    ));
    assert_eq!(p(&cached).max, Some(5.002));
}

#[test]
fn shorter_outputs_and_supplied_image_prompts_shrink_the_post() {
    // Caption capped at 60: each post writes 100 + 60 tokens.
    let capped = Design {
        caption_max_tokens: Some(60),
        ..Design::default()
    };
    let m = measured(&run(&burst(10, capped, u64::MAX / 4)), 10);
    assert_eq!(m.tokens.total.completion, 10 * 160);
    // Every post brings its image prompt: one call of 1,050 + 40 prompt tokens, 1 s.
    let own = Design {
        image_prompt_share: Some(1.0),
        ..Design::default()
    };
    let m = measured(&run(&burst(10, own, u64::MAX / 4)), 10);
    assert_eq!(m.calls.calls, 10);
    assert_eq!(m.tokens.total.prompt, 10 * 1_090);
    assert_eq!(m.post_latency_ms.ok.max, Some(ONE_S_MS));
}

#[test]
fn a_parallel_post_fails_with_either_call_and_wastes_the_others_tokens() {
    // 1,000 TPM: the image call reserves 800 + 150 = 950 and goes; the caption reserves
    // 1,050 + 200 = 1,250, more than the whole limit, so every attempt gets 429 and the SDK
    // gives up after 3. The post fails; the image call's 900 billed tokens are wasted.
    let out = run(&burst(1, PARALLEL, 1_000));
    let m = measured(&out, 1);
    assert_eq!((m.posts.ok, m.posts.failed), (0, 1));
    assert_eq!(
        m.posts
            .failed_by_cause
            .get(&crate::metrics::FailureCause::RateLimited),
        Some(&1)
    );
    assert_eq!(out.extra.wasted_tokens, 900);
    assert_eq!(m.first_caption_token_ms, None);
}

#[test]
fn levers_parse_with_their_values_and_refuse_anything_else() {
    let mut d = Design::default();
    for l in [
        "parallel",
        "stream",
        "caption-max-tokens=120",
        "image-max-tokens = 90",
        "image-prompt-share=25%",
        "cache-hit=0.3",
    ] {
        d.apply(l).unwrap();
    }
    assert_eq!(
        d,
        Design {
            parallel: true,
            stream_caption: true,
            caption_max_tokens: Some(120),
            image_max_tokens: Some(90),
            image_prompt_share: Some(0.25),
            response_cache_hit: Some(0.3),
            effort: None,
        }
    );
    assert_eq!(d.changes().len(), 6);
    for (bad, says) in [
        ("parallel=yes", "takes no value"),
        ("caption-max-tokens", "give a value"),
        ("caption-max-tokens=0", "from 1 to 16384"),
        ("image-prompt-share=1.5", "a share from 0 to 1"),
        ("cache-hit=nan", "a share from 0 to 1"),
        ("cache-hit=30", "write 30% or 0.3"),
        ("cache-hit=150%", "a share from 0 to 1"),
        ("turbo", "unknown lever"),
    ] {
        let e = Design::default().apply(bad).unwrap_err();
        assert!(e.contains(says) && e.starts_with("--lever"), "{bad}: {e}");
    }
}

#[test]
fn the_grid_is_every_combination_of_five_levers_once() {
    let g = Design::grid();
    // 2^5: parallel, caption cap, image cap, supplied image prompts, response cache.
    assert_eq!(g.len(), 32);
    for (i, a) in g.iter().enumerate() {
        assert!(!a.stream_caption);
        assert!(g[i + 1..].iter().all(|b| b != a));
    }
    assert_eq!(g[0], Design::default());
}

#[test]
fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
    assert_eq!(median(&[]), None);
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
}

#[test]
fn the_search_finds_the_one_lever_that_can_win() {
    // Every call takes 1 s (the fixed profile). Target p95 ≤ 1.5 s: a sequential post takes
    // 2 s whatever its outputs (the profile ignores them); a streamed caption's first token
    // comes at 2 s too; supplied image prompts (half) and a response cache (30 %) leave most
    // posts at 2 s. Only parallel calls (1 s) hold, with or without the other levers.
    let catalog = Catalog::embedded();
    let spec = PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![5],
        users: vec![10],
        fixed_latency_ms: Some(1_000),
        target: Goal {
            p95_s: 1.5,
            min_success: 1.0,
        },
        ..PlanSpec::default()
    };
    let s = search(&catalog, &spec, &Design::grid()).unwrap();
    assert_eq!(s.answers.len(), 1);
    let a = &s.answers[0];
    // 32 designs × 2 strategies (sdk, queue) × 1 tier × (whole, streamed).
    assert_eq!(a.evaluated, 128);
    assert_eq!(s.evaluated.len(), 128);
    // The 16 parallel designs × 2 strategies × 2 metrics.
    assert_eq!(a.holding, 64);
    assert!(s
        .evaluated
        .iter()
        .all(|r| r.meets_target == r.design.parallel));
    let best = &a.best[0];
    assert_eq!(best.design, PARALLEL);
    assert_eq!(best.strategy, Strategy::Sdk);
    assert_eq!(best.changes, 1);
    assert_eq!(best.p95_s, Some(ONE_S_MS / 1000.0));
    // Every seed gives the same 1 s: the interval is that point, and not marginal.
    assert_eq!(
        best.p95_interval_s,
        Some((ONE_S_MS / 1000.0, ONE_S_MS / 1000.0))
    );
    assert!(!best.marginal(1.5));
    assert!(a.holds_without_streaming && a.robust.is_none() && a.closest.is_none());
}

#[test]
fn when_nothing_holds_the_closest_says_how_far_it_misses() {
    // Target 0.5 s: even a parallel post takes 1 s; the closest is a parallel design at 1 s.
    let catalog = Catalog::embedded();
    let spec = PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![5],
        users: vec![10],
        strategies: vec![Strategy::Sdk],
        fixed_latency_ms: Some(1_000),
        target: Goal {
            p95_s: 0.5,
            min_success: 1.0,
        },
        ..PlanSpec::default()
    };
    let s = search(&catalog, &spec, &Design::grid()).unwrap();
    let a = &s.answers[0];
    assert_eq!((a.holding, a.best.len()), (0, 0));
    let c = a.closest.as_ref().unwrap();
    assert_eq!(c.p95_s, Some(ONE_S_MS / 1000.0));
    // The fewest changes among the 1 s ones: parallel calls alone.
    assert_eq!(c.design, PARALLEL);
}

#[test]
fn a_row_is_marginal_when_the_target_falls_inside_its_seeds_range() {
    let row = |lo: f64, hi: f64| LeverRow {
        model: "gpt-4o".into(),
        users: 10,
        tier: 2,
        strategy: Strategy::Queue,
        design: PARALLEL,
        changes: 2,
        metric: "post".into(),
        p50_s: None,
        p95_s: Some(lo),
        p95_interval_s: Some((lo, hi)),
        seeds: 6,
        success: 1.0,
        http_429: 0,
        usd_per_post: None,
        usd_per_month: None,
        meets_target: true,
    };
    // Some seeds at or under 5 s, some over: marginal. All at or under: not. All over: not
    // (it does not hold at all then).
    assert!(row(4.0, 6.0).marginal(5.0));
    assert!(row(5.0, 6.0).marginal(5.0));
    assert!(!row(4.0, 5.0).marginal(5.0));
    assert!(!row(5.1, 6.0).marginal(5.0));
    assert_eq!(
        row(4.0, 6.0).changes_text(),
        "parallel calls + client queue"
    );
    let mut note = row(4.0, 6.0);
    note.design = Design::default();
    note.strategy = Strategy::Sdk;
    assert_eq!(note.changes_text(), "none (the note's design)");
}

#[test]
fn the_search_stops_at_the_first_tier_no_429_touches_and_prices_a_month() {
    // 50 gpt-4o posts at once: at Tier 1 (30,000 TPM) only 31 image calls of about 950
    // reserved tokens fit, so 429s come and Tier 2 is tried; at Tier 2 (450,000) the whole
    // burst's ~117,500 tokens fit, so Tier 3 is never simulated: 2 tiers × (whole, streamed).
    let catalog = Catalog::embedded();
    let spec = PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![3, 1, 2],
        users: vec![50],
        strategies: vec![Strategy::Sdk],
        fixed_latency_ms: Some(1_000),
        ..PlanSpec::default()
    };
    let s = search(&catalog, &spec, &[Design::default()]).unwrap();
    let tiers: Vec<u8> = s.evaluated.iter().map(|r| r.tier).collect();
    assert_eq!(tiers, [1, 1, 2, 2]);
    let t1 = &s.evaluated[0];
    assert!(t1.http_429 > 0 && t1.success < 1.0, "{t1:?}");
    let t2 = &s.evaluated[2];
    assert_eq!((t2.http_429, t2.success, t2.seeds), (0, 1.0, 6));
    // A burst is priced at the note's middle load: 50 users × 5 posts a day × 30 days = 7,500
    // posts a month at the row's $/post.
    let (per_post, month) = (t2.usd_per_post.unwrap(), t2.usd_per_month.unwrap());
    assert!(
        (month - 7_500.0 * per_post).abs() < 1e-9,
        "{month} vs {per_post}"
    );
    // Two sequential 1 s calls: 2 s whole, the first caption token at 2 s as well.
    assert_eq!(t2.p95_s, Some(TWO_S_MS / 1000.0));
    assert_eq!(t2.p50_s, Some(TWO_S_MS / 1000.0));
    // Tier 1's 429s are the mean over the 6 seeds of each seed's cell (the grid's own
    // simulation of the same cell), rounded down.
    let per_seed: u64 = (0..6)
        .map(|k| {
            let s = PlanSpec {
                seed: spec.seed + k,
                ..spec.clone()
            };
            let at = CellSpec {
                model: "gpt-4o",
                tier: 1,
                users: 50,
                strategy: Strategy::Sdk,
                response_cache_hit: 0.0,
                prompt_cache_hit: 0.0,
                design: Design::default(),
            };
            crate::plan::simulate_cell(&catalog, &s, at)
                .unwrap()
                .http_429
        })
        .sum();
    assert_eq!(t1.http_429, per_seed / 6);
    assert_eq!(s.evaluated[3].p95_s, Some(TWO_S_MS / 1000.0));
    assert_eq!(s.evaluated[3].metric, "first_caption_token");
}

#[test]
fn the_median_of_an_odd_count_past_three_is_its_middle() {
    // Sorted 1, 2, 3, 4, 5: the third.
    assert_eq!(median(&[5.0, 1.0, 4.0, 2.0, 3.0]), Some(3.0));
}

/// A row of 10 gpt-4o users at Tier 2 with `design`, its p95, seeds' range and success.
fn row(design: Design, p95: f64, range: (f64, f64), success: f64) -> LeverRow {
    LeverRow {
        model: "gpt-4o".into(),
        users: 10,
        tier: 2,
        strategy: Strategy::Sdk,
        design,
        changes: design.changes().len() as u32,
        metric: "post".into(),
        p50_s: Some(p95 / 2.0),
        p95_s: Some(p95),
        p95_interval_s: Some(range),
        seeds: 6,
        success,
        http_429: 0,
        usd_per_post: Some(0.008),
        usd_per_month: Some(10.0),
        meets_target: success >= 1.0 && p95 <= 5.0,
    }
}

#[test]
fn a_marginal_best_comes_with_the_best_that_holds_on_every_seed() {
    let streamed = Design {
        stream_caption: true,
        ..PARALLEL
    };
    let rows = [
        // Two changes, holding on every seed.
        row(streamed, 1.2, (1.0, 1.5), 1.0),
        // One change, marginal (4.6 to 5.4 s around the 5 s target): ranked first.
        row(PARALLEL, 4.6, (4.2, 5.4), 1.0),
    ];
    let a = answer(&PlanSpec::default(), "gpt-4o", 10, &rows);
    assert_eq!(a.best[0].design, PARALLEL);
    assert_eq!(a.robust.as_ref().map(|r| r.design), Some(streamed));
    // The one-change row holds without streaming.
    assert!(a.holds_without_streaming);
    // Only the streamed row holding: no combination without streaming does.
    let a = answer(&PlanSpec::default(), "gpt-4o", 10, &rows[..1]);
    assert!(!a.holds_without_streaming && a.robust.is_none());
}

#[test]
fn the_closest_misses_by_least_among_rows_that_lose_no_post() {
    let capped = Design {
        caption_max_tokens: Some(120),
        ..PARALLEL
    };
    let rows = [
        // Fastest, but loses posts: not the closest while another loses none.
        row(Design::default(), 5.5, (5.0, 6.0), 0.9),
        // Two changes at 6 s, then one change at 6 s: the tie goes to fewer changes.
        row(capped, 6.0, (5.5, 6.5), 1.0),
        row(PARALLEL, 6.0, (5.5, 6.5), 1.0),
        row(Design::default(), 7.0, (6.5, 7.5), 1.0),
    ];
    assert_eq!(closest(&rows, 1.0).map(|r| r.design), Some(PARALLEL));
    // With every row losing posts, the fastest of all.
    assert_eq!(closest(&rows[..1], 1.0).map(|r| r.p95_s), Some(Some(5.5)));
}

#[test]
fn an_assumed_cache_share_is_never_the_answer_unless_the_user_gave_it() {
    let cached = Design {
        response_cache_hit: Some(0.3),
        ..Design::default()
    };
    let capped = Design {
        caption_max_tokens: Some(120),
        ..PARALLEL
    };
    let rows = [
        // One change, holds on every seed, cheapest: but it rests on the assumed 30 %.
        row(cached, 4.0, (3.8, 4.2), 1.0),
        // Two modelled changes that hold.
        row(capped, 4.5, (4.2, 4.8), 1.0),
        // One modelled change that misses.
        row(PARALLEL, 5.5, (5.2, 5.8), 1.0),
    ];
    let a = answer(&PlanSpec::default(), "gpt-4o", 10, &rows);
    assert_eq!(a.best[0].design, capped);
    assert_eq!(a.assumed.as_ref().map(|r| r.design), Some(cached));
    // What the extra change buys: the one-change design that misses, never the assumed one.
    assert_eq!(a.near_miss.as_ref().map(|r| r.design), Some(PARALLEL));
    // Given by the user (`--lever cache-hit=0.3`), the share is theirs: it may be the answer.
    let given = PlanSpec {
        design: cached,
        ..PlanSpec::default()
    };
    let a = answer(&given, "gpt-4o", 10, &rows);
    assert_eq!(a.best[0].design, cached);
    assert!(a.assumed.is_none());
    // When only assumed rows hold, the closest is a modelled one.
    let a = answer(
        &PlanSpec::default(),
        "gpt-4o",
        10,
        &[rows[0].clone(), rows[2].clone()],
    );
    assert!(a.best.is_empty());
    assert_eq!(a.closest.as_ref().map(|r| r.design), Some(PARALLEL));
}

#[test]
fn plan_never_prints_misses_by_a_negative_amount() {
    // The closest row when every row loses posts may have a p95 under the target (4 s against
    // 5 s): it misses on success, not by -1 s.
    let goal = Goal {
        p95_s: 5.0,
        min_success: 1.0,
    };
    let losing = row(PARALLEL, 4.0, (3.5, 4.5), 0.9);
    assert_eq!(
        miss_text(&losing, &goal),
        "90.0 % of posts ok, under the 100 % required"
    );
    let slow = row(PARALLEL, 5.25, (5.0, 5.5), 1.0);
    assert_eq!(miss_text(&slow, &goal), "misses by 0.25 s");
    let mut none = slow.clone();
    none.p95_s = None;
    assert_eq!(miss_text(&none, &goal), "no post succeeded");
}

/// A model that does not reason (gpt-4o) is searched without an effort, even when a design
/// names one; a reasoning one (gpt-5: minimal, low, medium, high, medium by default) is searched
/// as given and again at its lowest effort, minimal, for each design without one.
#[test]
fn the_effort_lever_follows_the_model() {
    let catalog = crate::openai::catalog::Catalog::embedded();
    let with_effort = Design {
        effort: Some(crate::openai::reasoning::Effort::High),
        ..PARALLEL
    };
    assert_eq!(
        Design::for_model(&[PARALLEL, with_effort], &catalog, "gpt-4o"),
        vec![PARALLEL, PARALLEL]
    );
    let minimal = Design {
        effort: Some(crate::openai::reasoning::Effort::Minimal),
        ..PARALLEL
    };
    assert_eq!(
        Design::for_model(&[PARALLEL, with_effort], &catalog, "gpt-5"),
        vec![PARALLEL, with_effort, minimal]
    );
}
