//! `--time-scale` agreement: `cargo bench --bench timescale`. Runs burst-100 (gpt-4o, SDK
//! retries, the model's latency profile, seed 0) at Tiers 1 and 2 against the embedded stub at
//! K = 1 and at K = 20, each BENCH_REPEAT times (default 3), and prints the medians of p50, p95,
//! makespan, success and 429s side by side with K20 ÷ K1, plus the wall time each took.
//! Goal: within 10 %.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

mod common;
use common::env_or;

use postload::cli::RunArgs;
use postload::config::run_config;
use postload::run::validate::{ratio, Figures};

#[tokio::main]
async fn main() {
    let repeat = env_or("BENCH_REPEAT", 3);
    let mut rows: Vec<(u8, f64, Vec<Figures>, f64)> = Vec::new();
    for k in [1.0, 20.0] {
        for tier in [1u8, 2] {
            let mut figs = Vec::new();
            let started = Instant::now();
            for rep in 0..repeat {
                let dir = std::env::temp_dir().join(format!(
                    "postload-bench-timescale-{}-{k}-{tier}-{rep}",
                    std::process::id()
                ));
                let args = RunArgs {
                    scenario: vec!["burst-100".into()],
                    tier: vec![tier],
                    seed: Some(rep),
                    time_scale: Some(k),
                    report_dir: dir.clone(),
                    quiet: true,
                    ..RunArgs::default()
                };
                let cfg = run_config(&args, Arc::new(AtomicBool::new(false))).unwrap();
                let r = postload::run::execute(cfg).await.unwrap();
                figs.push(Figures::of_case(&r.cases[0]));
                let _ = std::fs::remove_dir_all(dir);
            }
            rows.push((tier, k, figs, started.elapsed().as_secs_f64()));
        }
    }
    println!("burst-100, gpt-4o, median of {repeat} runs (seeds 0..{repeat}); K20/K1 in brackets");
    println!(
        "{:>4} {:>22} {:>22} {:>26} {:>22} {:>20} {:>16}",
        "tier",
        "p50 s K1 / K20",
        "p95 s K1 / K20",
        "makespan s K1 / K20",
        "ok % K1 / K20",
        "429s K1 / K20",
        "wall s K1 / K20"
    );
    for tier in [1u8, 2] {
        let one = rows.iter().find(|r| r.0 == tier && r.1 == 1.0).unwrap();
        let twenty = rows.iter().find(|r| r.0 == tier && r.1 == 20.0).unwrap();
        let (m1, m20) = (Figures::median(&one.2), Figures::median(&twenty.2));
        let cols: Vec<String> = [
            &(|f: &Figures| f.p50_s) as &dyn Fn(&Figures) -> Option<f64>,
            &|f: &Figures| f.p95_s,
            &|f: &Figures| Some(f.makespan_s),
            &|f: &Figures| Some(f.success * 100.0),
            &|f: &Figures| Some(f.http_429 as f64),
        ]
        .iter()
        .map(|f| {
            let (a, b) = (f(&m1), f(&m20));
            format!(
                "{} / {} ({})",
                a.map_or("-".into(), |v| format!("{v:.2}")),
                b.map_or("-".into(), |v| format!("{v:.2}")),
                ratio(b, a).map_or("-".into(), |r| format!("{r:.2}"))
            )
        })
        .collect();
        println!(
            "{tier:>4} {:>22} {:>22} {:>26} {:>22} {:>20} {:>16}",
            cols[0],
            cols[1],
            cols[2],
            cols[3],
            cols[4],
            format!("{:.1} / {:.1}", one.3, twenty.3)
        );
    }
}
