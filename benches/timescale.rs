//! `--time-scale` agreement: `cargo bench --bench timescale`. Runs burst-100 (gpt-4o, the
//! model's latency profile) against the embedded stub at K = 1 and at K = 20, seeds
//! 0..BENCH_REPEAT (default 3), and prints p50, p95, makespan, success and 429s side by side with
//! K20 ÷ K1, plus the wall time each took. The cases:
//!
//! - Tier 2, SDK retries: every post succeeds in about 12 s.
//! - Tier 1, patient retries: the burst drains for over a minute (the case `--time-scale` is for).
//! - Tier 1, SDK retries: one or two posts of the hundred succeed, whichever wins the race for a
//!   refilled bucket; their latency is a race outcome, not a stable figure.
//!
//! Each side pools its seeds (`Figures::pooled`: percentiles over every successful post, means
//! of the rest). Goal: within 10 %.
//!
//! `BENCH_K=20,50,100` compares several K with the one K = 1 run (default 20), and
//! `BENCH_CASES=WORD` runs only the cases whose name holds WORD (`sdk`, `patient`, `tier 2`).
//! A K above `--time-scale`'s cap is set on the checked configuration directly: this bench is
//! what measures where the cap belongs.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::env_or;

use postload::cli::{RetryArg, RunArgs};
use postload::commands::validate::{ratio, Figures};
use postload::config::run_config;
use postload::metrics::Measured;

const CASES: [(&str, u8, RetryArg); 3] = [
    ("tier 2, sdk", 2, RetryArg::Sdk),
    ("tier 1, patient", 1, RetryArg::Patient),
    ("tier 1, sdk", 1, RetryArg::Sdk),
];

/// One case at one K over the seeds: the pooled figures and the wall time.
async fn run(tier: u8, retry: RetryArg, k: f64, seeds: u64) -> (Figures, f64) {
    let started = Instant::now();
    let mut measured: Vec<Measured> = Vec::new();
    for seed in 0..seeds {
        let dir = std::env::temp_dir().join(format!(
            "postload-bench-timescale-{}-{k}-{tier}-{seed}",
            std::process::id()
        ));
        let args = RunArgs {
            scenario: vec!["burst-100".into()],
            tier: vec![tier],
            retry: Some(retry),
            seed: postload::cli::Seed { seed: Some(seed) },
            output: postload::cli::ReportDir {
                report_dir: dir.clone(),
            },
            verbosity: postload::cli::Verbosity { quiet: true },
            ..RunArgs::default()
        };
        let mut cfg = run_config(&args, Arc::new(AtomicBool::new(false))).unwrap();
        // Past the cap on purpose (the bench measures why it is there): unchecked.
        cfg.time_scale = postload::clock::TimeScale::new(k);
        let exporters = vec![Box::new(postload::report::JsonExporter) as _];
        let mut r = postload::run::execute(cfg, exporters).await.unwrap();
        measured.push(r.cases.remove(0).measured);
        let _ = std::fs::remove_dir_all(dir);
    }
    let refs: Vec<&Measured> = measured.iter().collect();
    (
        Figures::pooled(&refs).unwrap(),
        started.elapsed().as_secs_f64(),
    )
}

#[tokio::main]
async fn main() {
    let seeds = env_or("BENCH_REPEAT", 3);
    let ks: Vec<f64> = std::env::var("BENCH_K")
        .unwrap_or_else(|_| "20".into())
        .split(',')
        .map(|k| {
            k.trim()
                .parse()
                .expect("BENCH_K: numbers separated by commas")
        })
        .collect();
    let only = std::env::var("BENCH_CASES").unwrap_or_default();
    println!("burst-100, gpt-4o, seeds 0..{seeds} pooled; K/K1 in brackets");
    println!(
        "{:<16} {:>6} {:>22} {:>22} {:>26} {:>22} {:>20} {:>16}",
        "case",
        "K",
        "p50 s K1 / K",
        "p95 s K1 / K",
        "makespan s K1 / K",
        "ok % K1 / K",
        "429s K1 / K",
        "wall s K1 / K"
    );
    for (name, tier, retry) in CASES {
        if !name.contains(only.as_str()) {
            continue;
        }
        let (m1, wall1) = run(tier, retry, 1.0, seeds).await;
        for &k in &ks {
            let (mk, wallk) = run(tier, retry, k, seeds).await;
            let cols: Vec<String> = [
                &(|f: &Figures| f.p50_s) as &dyn Fn(&Figures) -> Option<f64>,
                &|f: &Figures| f.p95_s,
                &|f: &Figures| Some(f.makespan_s),
                &|f: &Figures| Some(f.success * 100.0),
                &|f: &Figures| Some(f.http_429 as f64),
            ]
            .iter()
            .map(|f| {
                let (a, b) = (f(&m1), f(&mk));
                format!(
                    "{} / {} ({})",
                    a.map_or("-".into(), |v| format!("{v:.2}")),
                    b.map_or("-".into(), |v| format!("{v:.2}")),
                    ratio(b, a).map_or("-".into(), |r| format!("{r:.2}"))
                )
            })
            .collect();
            println!(
                "{name:<16} {k:>6} {:>22} {:>22} {:>26} {:>22} {:>20} {:>16}",
                cols[0],
                cols[1],
                cols[2],
                cols[3],
                cols[4],
                format!("{wall1:.1} / {wallk:.1}")
            );
        }
    }
}
