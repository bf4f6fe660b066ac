//! The planner's grid, recommendations and monthly table against the embedded data and the
//! note's figures.

use super::*;

fn spec() -> PlanSpec {
    PlanSpec {
        tiers: vec![1, 2, 3],
        target: Goal {
            p95_s: 12.0,
            min_success: 1.0,
        },
        seed: 1,
        ..PlanSpec::default()
    }
}

#[test]
fn the_notes_monthly_table_is_reproduced_exactly_from_its_per_post_figures() {
    let claims: ClaimsFile =
        crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let rows = monthly_table(&claims, &[], &Default::default());
    assert_eq!(rows.len(), 12);
    for r in &rows {
        assert_eq!(r.from_note_per_post_usd, r.note_usd, "{r:?}");
    }
}

#[test]
fn tier_1_cannot_take_a_gpt_4o_burst_and_the_lowest_tier_is_found() {
    let c = Catalog::embedded();
    let claims = crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let r = plan(&c, &spec(), &claims, &Default::default()).unwrap();
    assert_eq!(r.cells.len(), 2 * 2 * 2 * 3);
    let cell = |m: &str, t: u8, u: u32, s: Strategy| {
        r.cells
            .iter()
            .find(|c| c.model == m && c.tier == t && c.users == u && c.strategy == s)
            .unwrap()
    };
    // 30,000 TPM against ~2,300 reserved tokens a post: most of a 100-post burst fails.
    let t1 = cell("gpt-4o", 1, 100, Strategy::Sdk);
    assert!(t1.success < 0.2 && t1.http_429 > 100, "{t1:?}");
    assert!(t1.wasted_tokens > 0);
    // Tier 2 (450,000 TPM) takes it whole.
    let t2 = cell("gpt-4o", 2, 100, Strategy::Sdk);
    assert_eq!((t2.success, t2.http_429), (1.0, 0));
    let rec = r
        .recommendations
        .iter()
        .find(|x| x.model == "gpt-4o" && x.users == 100 && x.strategy == Strategy::Sdk)
        .unwrap();
    assert_eq!(rec.lowest_tier, Some(2));
    // A client-side queue at Tier 1 loses nothing, but waits: p95 far past the target.
    let q = cell("gpt-4o", 1, 100, Strategy::Queue);
    assert_eq!((q.success, q.http_429), (1.0, 0));
    assert!(q.p95_s.unwrap() > 60.0, "{q:?}");
    // gpt-4o-mini's 200,000 TPM at Tier 1 takes 50 posts.
    assert_eq!(cell("gpt-4o-mini", 1, 50, Strategy::Sdk).success, 1.0);
    // Caching cuts the monthly bill.
    let e = &r.caching[1];
    assert_eq!((e.model.as_str(), e.tier), ("gpt-4o", 2));
    let usd = |i: usize| e.rows[i].usd_per_month.unwrap();
    assert!(usd(1) < usd(0) * 0.8 && usd(2) < usd(0) && usd(3) < usd(1));
}

/// `check`'s message for the default spec with `edit` applied (`None`: it passes).
fn check_error(edit: impl FnOnce(&mut PlanSpec)) -> Option<String> {
    let mut s = PlanSpec::default();
    edit(&mut s);
    check(&s, &Catalog::embedded()).err().map(|e| e.0)
}

#[test]
fn check_needs_a_model_a_tier_and_a_user_count() {
    let want = Some("--model, --tier and --users each need at least one value".to_string());
    assert_eq!(check_error(|s| s.models.clear()), want);
    assert_eq!(check_error(|s| s.tiers.clear()), want);
    assert_eq!(check_error(|s| s.users.clear()), want);
    assert_eq!(check_error(|_| {}), None);
    assert_eq!(
        check_error(|s| s.models.push("gpt-9".into())),
        Some("--model: unknown model `gpt-9`".into())
    );
    assert_eq!(
        check_error(|s| s.users.push(0)),
        Some("--users: must be at least 1".into())
    );
}

#[test]
fn check_takes_shares_from_0_to_1() {
    for (name, set) in [
        (
            "--response-cache-hit",
            (|s, v| s.response_cache_hit = v) as fn(&mut PlanSpec, f64),
        ),
        ("--prompt-cache-hit", |s, v| s.prompt_cache_hit = v),
        ("--image-prompt-share", |s, v| s.image_prompt_share = v),
        ("--min-success", |s, v| s.target.min_success = v),
    ] {
        assert_eq!(check_error(|s| set(s, 0.0)), None, "{name}");
        assert_eq!(check_error(|s| set(s, 1.0)), None, "{name}");
        assert_eq!(
            check_error(|s| set(s, 1.5)),
            Some(format!("{name}: must be between 0 and 1, got 1.5"))
        );
        assert_eq!(
            check_error(|s| set(s, -0.25)),
            Some(format!("{name}: must be between 0 and 1, got -0.25"))
        );
    }
}

#[test]
fn check_needs_a_positive_p95_rate_and_days() {
    let p95 = |v: &str| {
        Some(format!(
            "--p95 {v}: give a number of seconds above 0, at most 3600"
        ))
    };
    assert_eq!(check_error(|s| s.target.p95_s = f64::NAN), p95("NaN"));
    assert_eq!(check_error(|s| s.target.p95_s = 0.0), p95("0"));
    // An infinite target drew the plan's charts without end.
    assert_eq!(check_error(|s| s.target.p95_s = f64::INFINITY), p95("inf"));
    assert_eq!(check_error(|s| s.target.p95_s = 3_600.5), p95("3600.5"));
    assert_eq!(check_error(|s| s.target.p95_s = 0.001), None);
    assert_eq!(check_error(|s| s.target.p95_s = 3_600.0), None);
    let rate = Some("--posts-per-day: must be positive".to_string());
    for bad in [0.0, -1.0, f64::INFINITY, f64::NAN] {
        assert_eq!(check_error(|s| s.posts_per_user_per_day = Some(bad)), rate);
    }
    assert_eq!(check_error(|s| s.posts_per_user_per_day = Some(0.5)), None);
    // Days in (0, 31], checked only for a daily load.
    let days = Some("--days: must be in (0, 31]".to_string());
    let daily = |d: f64| {
        check_error(move |s| {
            s.posts_per_user_per_day = Some(1.0);
            s.days = d;
        })
    };
    assert_eq!(daily(0.0), days);
    assert_eq!(daily(31.5), days);
    assert_eq!(daily(31.0), None);
    assert_eq!(check_error(|s| s.days = 0.0), None);
}

/// One cell (gpt-4o, Tier 5, SDK retries) with one named lever: the lever search runs it 6
/// times, the caching table 4, so the whole plan is 11 cells' posts.
fn one_cell(s: &mut PlanSpec) {
    s.models = vec!["gpt-4o".into()];
    s.tiers = vec![5];
    s.strategies = vec![Strategy::Sdk];
    s.design.parallel = true;
}

#[test]
fn check_bounds_a_cells_posts_at_a_million() {
    // A burst: one post per user.
    assert_eq!(
        check_error(|s| {
            one_cell(s);
            s.users = vec![1_000_000];
        }),
        None
    );
    assert_eq!(
        check_error(|s| s.users = vec![1_000_001]),
        Some(
            "--users 1000001: 1000001 posts in a cell, more than 1000000 (the most the planner \
             is measured to simulate in about a second)"
                .into()
        )
    );
    // Daily: 10,000 users × 10 a day × 10 days = 1,000,000; × 10.5 days = 1,050,000.
    let daily = |days| {
        check_error(move |s| {
            one_cell(s);
            s.users = vec![10_000];
            s.posts_per_user_per_day = Some(10.0);
            s.days = days;
        })
    };
    assert_eq!(daily(10.0), None);
    assert_eq!(
        daily(10.5),
        Some(
            "--users 10000 × --posts-per-day 10 × --days 10.5: 1050000 posts in a cell, more \
             than 1000000 (the most the planner is measured to simulate in about a second)"
                .into()
        )
    );
}

#[test]
fn plan_bounds_the_whole_grid_and_lever_search_not_only_each_cell() {
    // At the cell maximum (a million users) the default grid and lever search were
    // 2 models × 5 tiers × 2 strategies × 10^6 posts × (1 + 32 designs × 6 seeds) + caching's
    // 2 × 2 × 4 × 10^6 = 3,876,000,000 posts: past ten minutes and 1.8 GB, nothing written.
    let e = check_error(|s| s.users = vec![1_000_000]).expect("refused");
    assert!(e.contains("about 3.876e9 simulated posts"), "{e}");
    for flag in [
        "--model (2)",
        "--tier (5)",
        "--retry (2)",
        "--users",
        "--lever",
    ] {
        assert!(e.contains(flag), "{flag}: {e}");
    }
    // The default grid at 5,000 users: 20 × 193 × 5,000 + 16 × 5,000 = 19,380,000, under
    // 20,000,000; at 5,200 users 20,155,200, over.
    assert_eq!(check_error(|s| s.users = vec![5_000]), None);
    let e = check_error(|s| s.users = vec![5_200]).expect("refused");
    assert!(e.contains("about 20155200 simulated posts"), "{e}");
    // Daily posts multiply in: 2 users × 10,000 a day × 31 days = 620,000 posts a cell, over
    // 3,860 cell runs: 2.4e9.
    let e = check_error(|s| {
        s.users = vec![2];
        s.posts_per_user_per_day = Some(10_000.0);
        s.days = 31.0;
    })
    .expect("refused");
    assert!(e.contains("--posts-per-day × --days"), "{e}");
}

/// Two users posting at once, every call served in 1 s: a post is its image-prompt call then
/// its caption call, 2 s.
fn two_second_posts() -> PlanSpec {
    PlanSpec {
        models: vec!["gpt-4o-mini".into()],
        tiers: vec![1],
        users: vec![2],
        strategies: vec![Strategy::Sdk],
        fixed_latency_ms: Some(1_000),
        target: Goal {
            p95_s: 12.0,
            min_success: 1.0,
        },
        ..PlanSpec::default()
    }
}

#[test]
fn a_cell_reports_in_seconds_and_a_month_of_five_posts_a_day() {
    let c = Catalog::embedded();
    let spec = two_second_posts();
    let at = CellSpec::of(&spec, "gpt-4o-mini", 1, 2, Strategy::Sdk);
    let cell = simulate_cell(&c, &spec, at).unwrap();
    assert_eq!((cell.posts, cell.success, cell.makespan_s), (2, 1.0, 2.0));
    // 2,000,000 µs sits in HdrHistogram's bucket [1,999,872, 2,000,895]: 2 s to 3 figures.
    for p in [cell.p50_s, cell.p95_s, cell.p99_s] {
        assert!(p.is_some_and(|p| (p - 2.0).abs() < 0.002), "{cell:?}");
    }
    // tiers.toml: gpt-4o-mini at Tier 1 has 200,000 TPM and 500 RPM.
    assert_eq!((cell.tpm, cell.rpm), (200_000, 500));
    // A burst's month: 2 users × 5 posts a day × 30 days = 300 posts.
    let per_post = cell.usd_per_post.unwrap();
    assert!(per_post > 0.0);
    let month = cell.usd_per_month.unwrap();
    assert!((month - per_post * 300.0).abs() < 1e-12 * month, "{cell:?}");
    assert!(cell.meets_target);
    // 2 s is past a 1.5 s target though every post succeeds.
    let mut slow = spec.clone();
    slow.target.p95_s = 1.5;
    assert!(!simulate_cell(&c, &slow, at).unwrap().meets_target);
    // And a 2.5 s target is met.
    let mut just = spec;
    just.target.p95_s = 2.5;
    assert!(simulate_cell(&c, &just, at).unwrap().meets_target);
}

#[test]
fn the_caching_table_takes_the_specs_hit_ratios_or_the_notes() {
    let c = Catalog::embedded();
    let hits = |spec: &PlanSpec| -> Vec<(String, f64, f64)> {
        caching(&c, spec).unwrap()[0]
            .rows
            .iter()
            .map(|r| (r.label.clone(), r.response_cache_hit, r.prompt_cache_hit))
            .collect()
    };
    let row = |l: &str, r, p| (l.to_string(), r, p);
    // None given: 30 % response cache hits, every prompt-cache-eligible call hits.
    assert_eq!(
        hits(&two_second_posts()),
        [
            row("no caching", 0.0, 0.0),
            row("response cache", 0.3, 0.0),
            row("prompt caching", 0.0, 1.0),
            row("both", 0.3, 1.0),
        ]
    );
    let mut given = two_second_posts();
    (given.response_cache_hit, given.prompt_cache_hit) = (0.5, 0.25);
    assert_eq!(
        hits(&given),
        [
            row("no caching", 0.0, 0.0),
            row("response cache", 0.5, 0.0),
            row("prompt caching", 0.0, 0.25),
            row("both", 0.5, 0.25),
        ]
    );
}

/// A cell of `model` at `tier` for 100 users with SDK retries.
fn cell_at(model: &str, tier: u8, success: f64, meets_target: bool, usd_per_post: f64) -> Cell {
    Cell {
        model: model.into(),
        tier,
        tpm: 0,
        rpm: 0,
        users: 100,
        strategy: Strategy::Sdk,
        posts: 100,
        success,
        p50_s: None,
        p95_s: None,
        p99_s: None,
        makespan_s: 0.0,
        http_429: 0,
        wasted_tokens: 0,
        wasted_usd: None,
        rejected_reserved_tokens: 0,
        tokens_per_post: 0.0,
        cached_tokens: 0,
        usd_per_post: Some(usd_per_post),
        usd_per_month: Some(usd_per_post * 1_000.0),
        meets_target,
        response_cache_hits: 0,
        events: 0,
    }
}

#[test]
fn the_recommendation_is_the_lowest_tier_of_that_model_load_and_strategy_that_meets() {
    let spec = PlanSpec {
        models: vec!["gpt-4o".into()],
        users: vec![100],
        strategies: vec![Strategy::Sdk],
        ..PlanSpec::default()
    };
    let mut other_users = cell_at("gpt-4o", 1, 1.0, true, 0.5);
    other_users.users = 50;
    let mut other_strategy = cell_at("gpt-4o", 1, 1.0, true, 0.5);
    other_strategy.strategy = Strategy::Queue;
    let cells = [
        cell_at("gpt-4o", 1, 0.5, false, 0.1),
        cell_at("gpt-4o", 3, 1.0, true, 0.3),
        cell_at("gpt-4o", 2, 1.0, true, 0.2),
        cell_at("gpt-4o-mini", 1, 1.0, true, 0.5),
        other_users,
        other_strategy,
    ];
    // Tier 2 meets, tier 3 too, tier 1 does not: tier 2, at its 0.2 × 1,000 = $200 a month.
    assert_eq!(
        recommendations(&spec, &cells),
        [Recommendation {
            model: "gpt-4o".into(),
            users: 100,
            strategy: Strategy::Sdk,
            lowest_tier: Some(2),
            usd_per_month: Some(200.0),
        }]
    );
    assert_eq!(recommendations(&spec, &cells[..1])[0].lowest_tier, None);
}

#[test]
fn the_modelled_month_takes_the_models_lowest_tier_without_failures() {
    let claims: ClaimsFile =
        crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    // gpt-4o: tier 1 lost posts, tiers 2 and 3 did not: tier 2's $0.02 a post. gpt-4o-mini's
    // only cell lost posts: it is taken anyway, $0.001.
    let cells = [
        cell_at("gpt-4o", 3, 1.0, true, 0.03),
        cell_at("gpt-4o", 1, 0.5, false, 0.01),
        cell_at("gpt-4o-mini", 1, 0.9, false, 0.001),
        cell_at("gpt-4o", 2, 1.0, true, 0.02),
    ];
    let measured = std::collections::BTreeMap::from([("gpt-4o".to_string(), 0.05)]);
    let rows = monthly_table(&claims, &cells, &measured);
    assert_eq!(rows.len(), 12);
    for r in &rows {
        // users × posts a day × 30 days × $/post.
        let month = |per_post: f64| r.users as f64 * r.posts_per_day as f64 * 30.0 * per_post;
        let (modelled, measured) = match r.model.as_str() {
            "gpt-4o" => (month(0.02), Some(month(0.05))),
            "gpt-4o-mini" => (month(0.001), None),
            m => panic!("{m}"),
        };
        let got = r.modelled_usd.unwrap();
        assert!((got - modelled).abs() <= 1e-12 * modelled, "{r:?}");
        match (r.measured_usd, measured) {
            (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-12 * w, "{r:?}"),
            (g, w) => assert_eq!(g, w, "{r:?}"),
        }
    }
    // The note's per-post figures differ by model: gpt-4o's $0.0085 and gpt-4o-mini's
    // $0.00051 (claims.toml).
    for r in &rows {
        let per_post = if r.model == "gpt-4o" { 0.0085 } else { 0.00051 };
        let raw = r.users as f64 * r.posts_per_day as f64 * 30.0 * per_post;
        assert!(
            (r.from_note_per_post_usd - raw).abs() <= 0.005 + 1e-9,
            "{r:?}"
        );
    }
}

#[test]
fn a_reasoning_model_is_planned_at_its_default_effort_and_its_reasoning_can_empty_the_answer() {
    use crate::openai::catalog::{EMBEDDED_LATENCY, EMBEDDED_PRICES, EMBEDDED_TIERS};
    let s = PlanSpec {
        models: vec!["gpt-5-mini".into(), "gpt-4.1-mini".into()],
        users: vec![20],
        tiers: vec![1],
        ..spec()
    };
    let at = |c: &Catalog, m: &'static str| {
        simulate_cell(c, &s, CellSpec::of(&s, m, 1, 20, Strategy::Sdk)).unwrap()
    };
    let c = Catalog::embedded();
    // gpt-5-mini takes `medium` by default: about 640 reasoning tokens a call (latency.toml),
    // past the note's max_tokens of 150 and 200, so nearly every answer is empty (`length`)
    // and its post fails, billed. gpt-4.1-mini, which does not reason, keeps every post.
    assert_eq!(planned_effort(&c, "gpt-5-mini"), Some(Effort::Medium));
    let medium = at(&c, "gpt-5-mini");
    assert!(medium.success < 0.5, "{medium:?}");
    assert!(medium.wasted_tokens > 0, "{medium:?}");
    assert_eq!(at(&c, "gpt-4.1-mini").success, 1.0);
    let names = latency_profiles(&c, &s);
    assert_eq!(
        names["gpt-5-mini"].name,
        "gpt-5-mini at reasoning effort medium"
    );
    assert_eq!(names["gpt-4.1-mini"].name, "gpt-4.1-mini");
    // With `minimal` as the default (no reasoning tokens), every post is answered.
    let models = crate::openai::catalog::EMBEDDED_MODELS.replace(
        "id = \"gpt-5-mini\"\nsnapshot = \"gpt-5-mini-2025-08-07\"\nprofile = \"gpt-5-mini\"\nlimits = \"gpt-5-mini\"\nmax_output_tokens = 128000\nreasoning_efforts = [\"minimal\", \"low\", \"medium\", \"high\"]\ndefault_effort = \"medium\"",
        "id = \"gpt-5-mini\"\nsnapshot = \"gpt-5-mini-2025-08-07\"\nprofile = \"gpt-5-mini\"\nlimits = \"gpt-5-mini\"\nmax_output_tokens = 128000\nreasoning_efforts = [\"minimal\", \"low\", \"medium\", \"high\"]\ndefault_effort = \"minimal\"",
    );
    let minimal = Catalog::from_texts(
        [
            ("models.toml", models.as_str()),
            ("tiers.toml", EMBEDDED_TIERS),
            ("latency.toml", EMBEDDED_LATENCY),
            ("prices.toml", EMBEDDED_PRICES),
        ]
        .map(|(n, t)| (n.to_string(), t.to_string())),
    )
    .unwrap();
    assert_eq!(
        planned_effort(&minimal, "gpt-5-mini"),
        Some(Effort::Minimal)
    );
    let cell = at(&minimal, "gpt-5-mini");
    assert_eq!(cell.success, 1.0, "{cell:?}");
}

/// The shipped example trace is the business day's curve at the note's 100 users × 5 posts a
/// day, made by `trace::from_curve` (and so regenerated, not hand-edited).
#[test]
fn the_shipped_business_day_trace_is_the_curve_at_500_posts() {
    let shipped = include_str!("../../scenarios/business-day.csv");
    assert_eq!(
        shipped,
        crate::scenario::trace::from_curve(500, &super::sim::BUSINESS_DAY)
    );
    // 95.5 weights in all; hour 10's 9.0 is 47.1 posts (47), hour 2's 0.2 is 1.05 (1).
    let t = crate::scenario::trace::parse("business-day.csv", shipped.as_bytes(), 0).unwrap();
    assert_eq!(t.posts.len(), 500);
    let in_hour = |h: u64| {
        // Offsets count from the first arrival, at 600 s (hour 0's first of 3).
        t.posts
            .iter()
            .filter(|p| (p.at.as_secs() + 600) / 3600 == h)
            .count()
    };
    assert_eq!((in_hour(10), in_hour(2)), (47, 1));
}

/// A plan of a three-post trace, every call served in 1 s: each post is its two calls, 2 s.
fn three_post_trace(text: &str, speed: f64) -> PlanSpec {
    let mut spec = two_second_posts();
    let trace = crate::scenario::trace::parse("day.csv", text.as_bytes(), 0).unwrap();
    PlanTrace::install(&mut spec, trace, speed);
    spec
}

#[test]
fn plan_trace_simulates_the_traces_arrivals_known_by_hand() {
    let c = Catalog::embedded();
    // Arrivals 0, 10 and 30 s apart from the first (the file's offsets start at 5 s).
    let spec = three_post_trace("offset_s\n5\n15\n35\n", 1.0);
    assert_eq!(spec.users, [1]);
    let at = CellSpec::of(&spec, "gpt-4o-mini", 1, 1, Strategy::Sdk);
    let cell = simulate_cell(&c, &spec, at).unwrap();
    // 3 posts of 2 s each, never overlapping (gpt-4o-mini at Tier 1: 500 RPM, 200,000 TPM,
    // far above 6 calls); the last arrives at 30 s and ends at 32 s.
    assert_eq!((cell.posts, cell.success, cell.makespan_s), (3, 1.0, 32.0));
    assert!(
        cell.p95_s.is_some_and(|p| (p - 2.0).abs() < 0.002),
        "{cell:?}"
    );
    // The month: the trace's 3 posts over its one day, × 30 days.
    let per_post = cell.usd_per_post.unwrap();
    let month = cell.usd_per_month.unwrap();
    assert!((month - per_post * 90.0).abs() < 1e-12 * month, "{cell:?}");

    // At speed 10 the arrivals are 0, 1 and 3 s: the last ends at 5 s.
    let fast = three_post_trace("offset_s\n5\n15\n35\n", 10.0);
    let cell = simulate_cell(&c, &fast, at).unwrap();
    assert_eq!((cell.posts, cell.makespan_s), (3, 5.0));

    // A trace that gives the last post its own image prompt: that post is one call (1 s), so
    // the plan ends at 31 s, whatever --image-prompt-share says.
    let mut own = three_post_trace("offset_s,image_prompt\n5,\n15,\n35,a shop at dusk\n", 1.0);
    own.image_prompt_share = 1.0;
    let cell = simulate_cell(&c, &own, at).unwrap();
    assert_eq!((cell.posts, cell.makespan_s), (3, 31.0));
    assert!(
        cell.p50_s.is_some_and(|p| (p - 2.0).abs() < 0.002),
        "{cell:?}"
    );
}

#[test]
fn a_whole_plan_of_a_trace_runs_every_cell_on_its_arrivals_and_names_it() {
    let c = Catalog::embedded();
    let claims = crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let mut spec = three_post_trace("offset_s\n0\n10\n30\n", 1.0);
    spec.tiers = vec![1, 2];
    let r = plan(&c, &spec, &claims, &Default::default()).unwrap();
    assert_eq!(r.cells.len(), 2);
    assert!(
        r.cells.iter().all(|c| c.posts == 3 && c.makespan_s == 32.0),
        "{:?}",
        r.cells
    );
    // plan.json names the trace, without its arrivals.
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json["spec"]["trace"],
        serde_json::json!({"file": "day.csv", "posts": 3, "span_s": 30.0, "speed": 1.0})
    );
}

/// The effort lever: a reasoning model's designs are searched at its default effort and at the
/// lowest it takes; a model that does not reason is searched as before and never gets one.
#[test]
fn the_lever_search_tries_a_reasoning_models_lowest_effort_and_names_it() {
    let c = Catalog::embedded();
    let grid = Design::grid();
    // gpt-5-mini takes minimal, low, medium, high, medium by default (mocks/models.toml): its
    // 32 designs twice, the second 32 at minimal.
    let five = Design::for_model(&grid, &c, "gpt-5-mini");
    assert_eq!(five.len(), 64);
    assert!(five[..32].iter().all(|d| d.effort.is_none()));
    assert!(five[32..].iter().all(|d| d.effort == Some(Effort::Minimal)));
    assert_eq!(
        Design {
            effort: Some(Effort::Minimal),
            ..Design::default()
        }
        .changes(),
        vec!["reasoning effort minimal".to_string()]
    );
    // gpt-4o does not reason: the same 32, and an effort given is dropped for it.
    let with_effort: Vec<Design> = grid
        .iter()
        .map(|d| Design {
            effort: Some(Effort::Low),
            ..*d
        })
        .collect();
    assert_eq!(Design::for_model(&with_effort, &c, "gpt-4o"), grid);

    // The decision: at the note's caps gpt-5-mini's default effort (about 640 reasoning
    // tokens a call) empties nearly every answer, so nothing holds without the effort lever;
    // at minimal (no reasoning tokens) the design's calls are answered. So whatever change
    // the decision names for it, it includes the effort.
    let s = PlanSpec {
        models: vec!["gpt-5-mini".into()],
        users: vec![20],
        tiers: vec![1],
        ..spec()
    };
    let designs = Design::grid();
    let search = levers::search(&c, &s, &designs).unwrap();
    let a = &search.answers[0];
    let best = a.best.first().expect("a change that holds");
    assert_eq!(best.design.effort, Some(Effort::Minimal), "{best:?}");
    assert!(
        search
            .evaluated
            .iter()
            .filter(|r| r.design.effort.is_none())
            .all(|r| !r.meets_target),
        "no design holds at the default effort"
    );
}

#[test]
fn an_effort_lever_must_be_one_a_planned_reasoning_model_takes() {
    let c = Catalog::embedded();
    let with = |models: &[&str], effort: Effort| PlanSpec {
        models: models.iter().map(|m| m.to_string()).collect(),
        design: Design {
            effort: Some(effort),
            ..Design::default()
        },
        ..spec()
    };
    let e = check(&with(&["gpt-4o"], Effort::Low), &c)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("none of the models planned reasons (gpt-4o)"),
        "{e}"
    );
    // gpt-5-mini takes minimal, low, medium, high: not none.
    let e = check(&with(&["gpt-4o", "gpt-5-mini"], Effort::None), &c)
        .unwrap_err()
        .0;
    assert!(
        e.contains("`gpt-5-mini` takes minimal, low, medium, high"),
        "{e}"
    );
    assert!(check(&with(&["gpt-4o", "gpt-5-mini"], Effort::Low), &c).is_ok());
}

#[test]
fn a_post_costs_its_own_tokens_and_failed_posts_are_wasted_apart() {
    // Issue 27 §2: "$/post" is a successful post's own tokens, everywhere. Before, the planner
    // divided the whole burst's bill by all posts: at gpt-4o Tier 1, 100 users, about 1 % of
    // posts succeed, so its $/post came out near 1/100 of Tier 2's (the failed posts' image
    // calls spread over every post), and its $/month looked 90 % cheaper than Tier 2's.
    let c = Catalog::embedded();
    let claims = crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let r = plan(&c, &spec(), &claims, &Default::default()).unwrap();
    let cell = |t: u8| {
        r.cells
            .iter()
            .find(|c| c.model == "gpt-4o" && c.tier == t && c.users == 100)
            .filter(|c| c.strategy == Strategy::Sdk)
            .unwrap()
    };
    let (t1, t2) = (cell(1), cell(2));
    assert!(t1.success < 0.2 && t2.success == 1.0, "{t1:?}");
    // The same post (two calls, the same draws' distribution) costs about the same at either
    // tier: within 5 % (one gpt-4o post is $0.0083 ± a few %; the 1 % of posts that succeed at
    // Tier 1 are one or two posts).
    let (p1, p2) = (t1.usd_per_post.unwrap(), t2.usd_per_post.unwrap());
    assert!((p1 / p2 - 1.0).abs() < 0.05, "{p1} vs {p2}");
    // What failed posts were billed stands apart, in tokens and in dollars; a known $0 at Tier 2.
    assert!(
        t1.wasted_tokens > 0 && t1.wasted_usd.unwrap() > 0.0,
        "{t1:?}"
    );
    assert_eq!((t2.wasted_tokens, t2.wasted_usd), (0, Some(0.0)));
    // A wasted token costs between the cheapest and dearest gpt-4o rate ($2.50 and $10 per
    // million): the $ is of those tokens, not of the burst.
    let per_token = t1.wasted_usd.unwrap() / t1.wasted_tokens as f64;
    assert!((2.5e-6..=10e-6).contains(&per_token), "{per_token}");
    // Tokens per post are a successful post's own: about 2,300 at both tiers (within 5 %).
    assert!((t1.tokens_per_post / t2.tokens_per_post - 1.0).abs() < 0.05);
}

#[test]
fn a_designs_dollars_are_the_grid_cells_for_the_same_tokens() {
    // Issue 27 §2: a lever row averaged its $ over 6 seeds while the grid and the tier-upgrade
    // lines used the plan's seed ($62.26 vs $62.23 a month for one design). A streamed caption
    // changes what the user waits for, not one token: its row's $/month must be the grid cell's.
    let c = Catalog::embedded();
    let claims = crate::claims::parse("claims.toml", crate::claims::EMBEDDED_CLAIMS).unwrap();
    let r = plan(&c, &spec(), &claims, &Default::default()).unwrap();
    let streamed = Design {
        stream_caption: true,
        ..Design::default()
    };
    let mut compared = 0;
    for row in r.levers.evaluated.iter().filter(|x| x.design == streamed) {
        let cell = r
            .cells
            .iter()
            .find(|c| {
                (c.model.as_str(), c.tier, c.users, c.strategy)
                    == (row.model.as_str(), row.tier, row.users, row.strategy)
            })
            .unwrap();
        assert_eq!(row.usd_per_month, cell.usd_per_month, "{row:?}");
        compared += 1;
    }
    assert!(compared >= 4, "{compared}");
}
