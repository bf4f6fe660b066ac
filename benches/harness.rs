//! Harness benchmarks (issue 3), run with `cargo bench --bench harness`:
//!
//! 1. Overhead: the embedded stub answers every call after a fixed 1,000 ms. A burst of N users
//!    each makes one call (their posts bring their own image prompt), through `postload run`;
//!    the post p99 minus 1,000 ms is what the harness and the stub add together. In the same run
//!    a bare client (reqwest, N concurrent requests, no Goose) loads an identical stub: its p99
//!    minus 1,000 ms is what the stub and the network add alone. Then a steady stream keeps N
//!    posts in flight (N posts/s for 15 s) instead of releasing them at once. N = 100 and 1,000.
//! 2. Memory: `postload stub --latency-ms 0` in one process, `postload run` with a sustained
//!    load of one call per post against it in another; the harness's resident memory is sampled
//!    every second until it has recorded BENCH_CALLS calls (default 1,000,000).
//!
//! Options (environment): BENCH_USERS (comma list, default "100,1000"), BENCH_CALLS, BENCH_RATE
//! (posts/s for the memory run, default 5000).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{env_or, rss_kib};

use postload::cli::RunArgs;
use postload::config::run_config;
use postload::stub::{self, StubConfig};

fn temp(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("postload-bench-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn mocks_dir() -> PathBuf {
    let d = temp("mocks");
    std::fs::write(
        d.join("tiers.toml"),
        postload::openai::catalog::UNLIMITED_TIERS,
    )
    .unwrap();
    d
}

fn burst_file(dir: &Path, users: usize) -> PathBuf {
    let p = dir.join("one-call-burst.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"one-call-burst\"\nmodel = \"gpt-4o\"\ntier_set = \"unlimited\"\ntiers = [1]\nimage_prompt_share = 1.0\nseed = 1\n[load]\nkind = \"burst\"\nusers = {users}\n"
        ),
    )
    .unwrap();
    p
}

/// A steady stream that keeps about `users` posts in flight (rate = users per second, 1 s each).
fn steady_file(dir: &Path, users: usize) -> PathBuf {
    let p = dir.join("one-call-steady.toml");
    std::fs::write(
        &p,
        format!(
            "name = \"one-call-steady\"\nmodel = \"gpt-4o\"\ntier_set = \"unlimited\"\ntiers = [1]\nimage_prompt_share = 1.0\nseed = 1\n[load]\nkind = \"sustained\"\nusers = {users}\nrate_per_s = {users}\nduration_s = 15\nmax_in_flight = {}\n",
            users * 2
        ),
    )
    .unwrap();
    p
}

fn result(dir: &Path) -> serde_json::Value {
    let run = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("result.json").exists())
        .expect("a run folder");
    serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap()
}

/// p99 of N concurrent single calls from a bare reqwest client against a fresh stub, in ms.
async fn bare_p99(users: usize, mocks: &Path, body: &[u8]) -> f64 {
    let mut cfg = StubConfig::new(Arc::new(
        postload::openai::catalog::Catalog::load_dir(mocks).unwrap(),
    ));
    cfg.fixed_latency = Some(Duration::from_millis(1_000));
    let stub = stub::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let url = format!("{}/chat/completions", stub.base_url());
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(users));
    let tasks: Vec<_> = (0..users)
        .map(|_| {
            let (client, url, body, barrier) =
                (client.clone(), url.clone(), body.to_vec(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .header("content-type", "application/json")
                    .bearer_auth(postload::stub::STUB_API_KEY)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                let _ = r.bytes().await.unwrap();
                t.elapsed().as_secs_f64() * 1000.0
            })
        })
        .collect();
    let mut times = Vec::new();
    for t in tasks {
        times.push(t.await.unwrap());
    }
    times.sort_by(f64::total_cmp);
    times[((times.len() as f64 * 0.99).ceil() as usize).clamp(1, times.len()) - 1]
}

async fn overhead() {
    let mocks = mocks_dir();
    let users: Vec<usize> = std::env::var("BENCH_USERS")
        .unwrap_or_else(|_| "100,1000".into())
        .split(',')
        .filter_map(|u| u.trim().parse().ok())
        .collect();
    let plan = postload::scenario::prompts::PostRequests::new("gpt-4o", Default::default());
    let body = plan.caption_body(0, postload::scenario::prompts::OWN_IMAGE_PROMPTS[0]);
    for n in users {
        let dir = temp(&format!("overhead-{n}"));
        let args = RunArgs {
            scenario: vec![burst_file(&dir, n).to_string_lossy().into_owned()],
            latency_ms: Some(1_000),
            data: postload::cli::Mocks {
                mocks: Some(mocks.clone()),
            },
            output: postload::cli::ReportDir {
                report_dir: dir.join("reports"),
            },
            verbosity: postload::cli::Verbosity { quiet: true },
            ..RunArgs::default()
        };
        let cfg = run_config(&args, Arc::new(AtomicBool::new(false))).unwrap();
        {
            let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
            postload::run::execute(cfg, ex)
        }
        .await
        .unwrap();
        let r = result(&dir.join("reports"));
        let p99 = r["cases"][0]["post_latency_ms"]["ok"]["p99"]
            .as_f64()
            .unwrap();
        let ok = r["cases"][0]["posts"]["ok"].as_u64().unwrap();
        let bare = bare_p99(n, &mocks, &body).await;
        println!(
            "overhead, burst of {n} users ({ok} ok): postload post p99 - 1000 ms = {:.2} ms; bare client p99 - 1000 ms = {:.2} ms; harness alone = {:.2} ms (goal: p99 - 1000 ms <= {} ms)",
            p99 - 1000.0,
            bare - 1000.0,
            p99 - bare,
            if n <= 100 { 1 } else { 5 }
        );
        // The same number of users kept busy by a steady stream instead of released at once.
        let steady_dir = dir.join("steady");
        let args = RunArgs {
            scenario: vec![steady_file(&dir, n).to_string_lossy().into_owned()],
            latency_ms: Some(1_000),
            data: postload::cli::Mocks {
                mocks: Some(mocks.clone()),
            },
            output: postload::cli::ReportDir {
                report_dir: steady_dir.clone(),
            },
            verbosity: postload::cli::Verbosity { quiet: true },
            ..RunArgs::default()
        };
        let cfg = run_config(&args, Arc::new(AtomicBool::new(false))).unwrap();
        {
            let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
            postload::run::execute(cfg, ex)
        }
        .await
        .unwrap();
        let r = result(&steady_dir);
        let c = &r["cases"][0];
        let l = &c["post_latency_ms"]["ok"];
        println!(
            "overhead, steady {n} in flight ({} posts, {} late): postload post p50 - 1000 ms = {:.2} ms, p99 - 1000 ms = {:.2} ms",
            c["posts"]["ok"],
            c["posts"]["late_sends"],
            l["p50"].as_f64().unwrap() - 1000.0,
            l["p99"].as_f64().unwrap() - 1000.0,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn memory() {
    let calls = env_or("BENCH_CALLS", 1_000_000);
    let rate = env_or("BENCH_RATE", 5_000);
    let mocks = mocks_dir();
    let dir = temp("memory");
    let bin = env!("CARGO_BIN_EXE_postload");
    let (mut stub, base) = common::spawn_stub(&mocks, &[]);
    let secs = calls as f64 / rate as f64;
    let scenario = dir.join("firehose.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"firehose\"\nmodel = \"gpt-4o-mini\"\ntier_set = \"unlimited\"\ntiers = [1]\nimage_prompt_share = 1.0\nseed = 5\n[load]\nkind = \"sustained\"\nusers = 50\nrate_per_s = {rate}\nduration_s = {secs}\nmax_in_flight = 200\n"
        ),
    )
    .unwrap();
    let mut harness = std::process::Command::new(bin)
        .args(["run", "--quiet", "--mocks"])
        .arg(&mocks)
        .arg("--scenario")
        .arg(&scenario)
        .args(["--base-url", &base, "--report-dir"])
        .arg(dir.join("reports"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = harness.id();
    let started = Instant::now();
    let mut samples = Vec::new();
    while harness.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_secs(1));
        let (kib, _) = rss_kib(pid);
        if kib > 0 {
            samples.push((started.elapsed().as_secs(), kib));
        }
    }
    let _ = stub.kill();
    let _ = stub.wait();
    let r = result(&dir.join("reports"));
    let c = &r["cases"][0];
    let recorded = c["calls"]["calls"].as_u64().unwrap_or(0);
    let mib = |k: u64| k as f64 / 1024.0;
    let at = |frac: f64| samples[((samples.len() as f64 * frac) as usize).min(samples.len() - 1)].1;
    let max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    println!(
        "memory: {recorded} calls recorded in {:.0} s ({} late sends); harness RSS at 10% {:.1} MiB, 50% {:.1} MiB, 90% {:.1} MiB, max {:.1} MiB (goal: flat, < 100 MB)",
        started.elapsed().as_secs_f64(),
        c["posts"]["late_sends"],
        mib(at(0.1)),
        mib(at(0.5)),
        mib(at(0.9)),
        mib(max),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "overhead") {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(overhead());
    }
    if only.as_deref().is_none_or(|o| o == "memory") {
        memory();
    }
}
