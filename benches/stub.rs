//! Stub benchmarks (issue 2), run with `cargo bench --bench stub`:
//!
//! 1. Throughput: requests/s of the stub (fixed profile, zero latency, unlimited tier) against a
//!    bare hyper hello-world, loaded by the same closed-loop client in the same run, rounds
//!    interleaved. Both servers run the way wiremock runs its own: one current-thread tokio
//!    runtime on a thread of its own; both get the same POST body (a caption call of about
//!    1,200 prompt tokens).
//! 2. Memory: `postload stub` in a child process serves 100,000 requests; its resident memory is
//!    read from /proc before, after, and after `POST /__postload/reset`.
//!
//! Options (environment): BENCH_SECS per round (default 3), BENCH_ROUNDS (3), BENCH_CONC (32),
//! BENCH_MEM_REQUESTS (100000).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::{env_or, rss_kib};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use postload::openai::catalog::{self, Catalog};
use postload::stub::{self, StubConfig};
use serde_json::json;

/// A short chat request (about 30 prompt tokens).
fn small_body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "Write a caption for a bakery."}],
        "max_tokens": 200
    }))
    .unwrap()
}

/// The seed's caption call: about 1,200 prompt tokens, max_tokens 200.
fn caption_body() -> Vec<u8> {
    let brief = "Business: Rosa's Bakery, a family bakery in Lisbon known for pastel de nata. \
        Topic: the autumn menu with pumpkin bread and chestnut tarts. Platform: Instagram. \
        Brand voice: warm, playful, local. Mention opening hours 7am-7pm and the new terrace. ";
    serde_json::to_vec(&json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a social media copywriter for small businesses."},
            {"role": "user", "content": brief.repeat(20)}
        ],
        "max_tokens": 200
    }))
    .unwrap()
}

/// A bare hyper HTTP/1 server answering "hello" on one current-thread runtime.
fn start_hyper() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |req: hyper::Request<hyper::body::Incoming>| async move {
                            // Read the body, as wiremock does, so both servers do the same I/O.
                            let _ = req.into_body().collect().await;
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"hello"),
                            )))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}

/// Closed loop: `conc` workers each send the next request when the last one is answered.
async fn load(url: &str, body: &[u8], conc: usize, secs: u64) -> (f64, u64) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let body = Bytes::copy_from_slice(body);
    let start = Instant::now();
    let workers: Vec<_> = (0..conc)
        .map(|_| {
            let (client, url, body) = (client.clone(), url.to_string(), body.clone());
            let (done, failed, stop) = (done.clone(), failed.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let r = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    match r {
                        Ok(r) if r.status().is_success() => {
                            let _ = r.bytes().await;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        _ => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        failed.load(Ordering::Relaxed),
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

async fn throughput() {
    let secs = env_or("BENCH_SECS", 3);
    let rounds = env_or("BENCH_ROUNDS", 3);
    let conc = env_or("BENCH_CONC", 32) as usize;

    let hyper_url = format!("http://{}/v1/chat/completions", start_hyper());
    let mut cfg = StubConfig::new(Arc::new(Catalog::unlimited()));
    cfg.fixed_latency = Some(Duration::ZERO);
    let stub = stub::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let stub_url = format!("{}/chat/completions", stub.base_url());

    for (name, body) in [
        ("caption call, 1,200-token prompt", caption_body()),
        ("short prompt", small_body()),
    ] {
        // Warm up both (connections, the token-count cache, allocator).
        load(&hyper_url, &body, conc, 1).await;
        load(&stub_url, &body, conc, 1).await;
        stub.reset().await.unwrap();
        println!("-- {name}: {} B request body", body.len());
        let (mut h, mut s) = (vec![], vec![]);
        for round in 1..=rounds {
            let (hr, hf) = load(&hyper_url, &body, conc, secs).await;
            let (sr, sf) = load(&stub_url, &body, conc, secs).await;
            println!(
                "round {round}: bare hyper {hr:>8.0} req/s ({hf} failed) | stub {sr:>8.0} req/s ({sf} failed) | ratio {:.2}",
                sr / hr
            );
            h.push(hr);
            s.push(sr);
            stub.reset().await.unwrap(); // free wiremock's retained requests between rounds
        }
        let (hm, sm) = (median(h), median(s));
        println!(
            "throughput, {name} (median of {rounds} rounds, {conc} connections, {secs} s each): bare hyper {hm:.0} req/s, stub {sm:.0} req/s, stub/hyper = {:.2} (goal >= 0.50)",
            sm / hm
        );
    }
}

/// Serves `n` caption requests from `postload stub --retain <retain>` in a child process and
/// returns its RSS (KiB) before and after, and its stats.
async fn serve_many(n: u64, retain: u64) -> (u64, u64, serde_json::Value) {
    let conc = 32u64;
    let dir = std::env::temp_dir().join(format!("postload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiers.toml"), catalog::UNLIMITED_TIERS).unwrap();
    let retain = retain.to_string();
    let (mut child, base) = common::spawn_stub(&dir, &["--retain", &retain]);
    let pid = child.id();
    let url = format!("{base}/chat/completions");
    let root = base.trim_end_matches("/v1").to_string();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = Bytes::from(caption_body());
    // One request so the tokenizer and caches are loaded before the baseline.
    client.post(&url).body(body.clone()).send().await.unwrap();
    let (before, _) = rss_kib(pid);
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..conc)
        .map(|_| {
            let (client, url, body, next) =
                (client.clone(), url.clone(), body.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let r = client.post(&url).body(body.clone()).send().await.unwrap();
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let (after, _) = rss_kib(pid);
    let stats: serde_json::Value = client
        .get(format!("{root}/__postload/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    (before, after, stats)
}

async fn memory() {
    let n = env_or("BENCH_MEM_REQUESTS", 100_000);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (before, after, stats) = serve_many(n, postload::stub::DEFAULT_RETAIN_LIMIT).await;
    println!(
        "memory, default --retain {}: RSS {:.1} MiB before, {:.1} MiB after {n} requests ({} compactions, {} requests held at the end)",
        postload::stub::DEFAULT_RETAIN_LIMIT,
        mib(before),
        mib(after),
        stats["compactions"],
        stats["retained_requests"],
    );
    let m = env_or("BENCH_MEM_UNBOUNDED_REQUESTS", 50_000);
    let (before, after, _) = serve_many(m, 0).await;
    println!(
        "memory, --retain 0 (wiremock keeps every request): RSS {:.1} MiB before, {:.1} MiB after {m} requests: {:.1} KB per request",
        mib(before),
        mib(after),
        (after - before) as f64 * 1.024 / m as f64
    );
}

fn main() {
    // The load client's threads (default 1: on this 2-core machine the server under test gets the
    // other core to itself, for both servers alike).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_or("BENCH_CLIENT_THREADS", 1) as usize)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref().is_none_or(|o| o == "throughput") {
        rt.block_on(throughput());
    }
    if only.as_deref().is_none_or(|o| o == "memory") {
        rt.block_on(memory());
    }
}
