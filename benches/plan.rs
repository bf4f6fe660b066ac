//! Planner speed: `cargo bench --bench plan`. Simulates one million posts, through the same
//! `openai::world::serve`, retry policies and Recorder as the live run, and prints the time per
//! run (best of 3) and events per second. Goal: 1M posts in under 1 s on the project machine.
//! Then the default `postload plan` whole and its lever search alone (`-- levers`): goal, the
//! search for 2 models × 2 user counts × every combination in under 5 s.

use std::time::{Duration, Instant};

use postload::openai::bucket::RejectedCost;
use postload::openai::catalog::Catalog;
use postload::plan::levers::{search, Design};
use postload::plan::sim::{simulate, Arrivals, SimInput, Strategy, BUSINESS_DAY};
use postload::plan::{post_shape, PlanSpec};

fn input(
    catalog: &Catalog,
    model: &str,
    tier: u8,
    arrivals: Arrivals,
    strategy: Strategy,
) -> SimInput {
    let entry = catalog.model(model).unwrap();
    SimInput {
        limits: catalog.tier("openai-2025", tier).unwrap().limits[&entry.limits],
        rejected_cost: RejectedCost::Request,
        profile: catalog.profiles[&entry.profile].clone(),
        shape: post_shape(model, &PlanSpec::default()),
        arrivals,
        strategy,
        response_cache_hit: 0.0,
        response_cache_latency: Duration::from_millis(5),
        prompt_cache_hit: 0.0,
        parallel: false,
        request_timeout: postload::plan::sim::REQUEST_TIMEOUT,
        seed: 1,
        reasoning: None,
    }
}

fn main() {
    let catalog = Catalog::embedded();
    let cases = [
        (
            "1M posts over a day (business curve), gpt-4o-mini, tier 5, SDK",
            input(
                &catalog,
                "gpt-4o-mini",
                5,
                Arrivals::Daily {
                    posts_per_day: 1_000_000.0,
                    days: 1.0,
                    curve: BUSINESS_DAY.to_vec(),
                },
                Strategy::Sdk,
            ),
        ),
        (
            "1M posts in one burst, gpt-4o-mini, tier 5 (30,000 RPM), client queue",
            input(
                &catalog,
                "gpt-4o-mini",
                5,
                Arrivals::Burst { posts: 1_000_000 },
                Strategy::Queue,
            ),
        ),
        (
            "1M posts in one burst, gpt-4o, tier 2, SDK retries (mostly 429s)",
            input(
                &catalog,
                "gpt-4o",
                2,
                Arrivals::Burst { posts: 1_000_000 },
                Strategy::Sdk,
            ),
        ),
        (
            "1M posts in one burst, gpt-4o, tier 2, patient retries (up to 6 tries)",
            input(
                &catalog,
                "gpt-4o",
                2,
                Arrivals::Burst { posts: 1_000_000 },
                Strategy::Patient,
            ),
        ),
    ];
    println!(
        "{:<72} {:>9} {:>10} {:>12} {:>8}",
        "case", "posts", "events", "best of 3", "ok %"
    );
    // `cargo bench --bench plan -- WORD` runs only the cases whose name holds WORD.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    for (name, i) in cases {
        if !only.is_empty() && !only.iter().any(|w| name.contains(w.as_str())) {
            continue;
        }
        let mut best = Duration::MAX;
        let mut last = None;
        for _ in 0..3 {
            let t = Instant::now();
            let out = simulate(&i);
            best = best.min(t.elapsed());
            last = Some(out);
        }
        let (r, extra) = last.unwrap();
        let posts = r.posts();
        println!(
            "{name:<72} {posts:>9} {:>10} {:>10.3} s {:>7.1}%",
            extra.events,
            best.as_secs_f64(),
            r.posts_ok as f64 * 100.0 / posts.max(1) as f64
        );
    }
    plans(&catalog, &only);
}

/// The default plan whole (grid, caching, claims and lever search), and the lever search alone.
fn plans(catalog: &Catalog, only: &[String]) {
    let spec = PlanSpec::default();
    let claims = postload::claims::parse("claims", postload::claims::EMBEDDED_CLAIMS).unwrap();
    let best_of_3 = |f: &dyn Fn() -> usize| {
        let mut best = Duration::MAX;
        let mut n = 0;
        for _ in 0..3 {
            let t = Instant::now();
            n = f();
            best = best.min(t.elapsed());
        }
        (best, n)
    };
    let wanted = |name: &str| only.is_empty() || only.iter().any(|w| name.contains(w.as_str()));
    let name = "the default plan: grid, caching, claims, lever search (levers)";
    if wanted(name) {
        let (t, n) = best_of_3(&|| {
            let r = postload::plan::plan(catalog, &spec, &claims, &Default::default()).unwrap();
            r.cells.len() + r.levers.evaluated.len()
        });
        println!("{name:<72} {n:>9} rows {:>14.3} s", t.as_secs_f64());
    }
    // The planner's memo of post shapes (`plan::post_shape`): one shape tokenized, against one
    // read from the memo, each the mean of 200 calls.
    let name = "one post shape: tokenized vs memoized (shape)";
    if wanted(name) {
        let mean = |f: &dyn Fn()| {
            let t = Instant::now();
            for _ in 0..200 {
                f();
            }
            t.elapsed() / 200
        };
        let tokenized = mean(&|| {
            std::hint::black_box(postload::plan::shape_sizes("gpt-4o", spec.prompts));
        });
        let memoized = mean(&|| {
            std::hint::black_box(post_shape("gpt-4o", &spec));
        });
        println!(
            "{name:<72} {:>9.1} µs tokenized, {:.2} µs memoized",
            tokenized.as_secs_f64() * 1e6,
            memoized.as_secs_f64() * 1e6
        );
    }
    let name = "the lever search alone: 2 models x 2 user counts x 32 designs (levers)";
    if wanted(name) {
        let (t, n) = best_of_3(&|| {
            search(catalog, &spec, &Design::grid())
                .unwrap()
                .evaluated
                .len()
        });
        println!("{name:<72} {n:>9} rows {:>14.3} s", t.as_secs_f64());
    }
}
