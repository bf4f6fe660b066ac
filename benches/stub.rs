//! Stub benchmarks (issues 2 and 12), run with `cargo bench --bench stub`:
//!
//! 1. Throughput: requests/s of three servers loaded by the same closed-loop client in the same
//!    run, rounds interleaved: a bare hyper hello-world, the stub's engine before issue 12
//!    (wiremock 0.6 with store compaction, `legacy_stub`) and the stub as it is (its hyper
//!    front); the two stubs serve the same `StubCore` (fixed profile, zero latency, unlimited
//!    tier). All three run one current-thread tokio runtime on a thread of its own and get the
//!    same POST body.
//! 2. Memory: each stub in a child process serves BENCH_MEM_REQUESTS caption requests, one after
//!    the other in the same run; resident memory is read from /proc before, after and at peak.
//!    The old engine runs as this bench binary (`stub legacy-serve`), the new one as
//!    `postload stub`.
//!
//! Options (environment): BENCH_SECS per round (default 3), BENCH_ROUNDS (3), BENCH_CONC (32),
//! BENCH_MEM_REQUESTS (1000000).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
mod legacy_stub;
use common::{env_or, rss_kib};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use postload::clock::SystemClock;
use postload::openai::catalog::{self, Catalog};
use postload::stub::{self, StubConfig, StubCore};
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
                        .bearer_auth(stub::STUB_API_KEY)
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

fn stub_config() -> StubConfig {
    let mut cfg = StubConfig::new(Arc::new(Catalog::unlimited()));
    cfg.fixed_latency = Some(Duration::ZERO);
    cfg
}

fn legacy_core() -> Arc<StubCore> {
    Arc::new(StubCore::new(stub_config(), Arc::new(SystemClock::new())).unwrap())
}

async fn post_reset(client: &reqwest::Client, root: &str) {
    let r = client
        .post(format!("{root}/__postload/reset"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

async fn throughput() {
    let secs = env_or("BENCH_SECS", 3);
    let rounds = env_or("BENCH_ROUNDS", 3);
    let conc = env_or("BENCH_CONC", 32) as usize;
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let hyper_url = format!("http://{}/v1/chat/completions", start_hyper());
    let legacy = legacy_stub::start(
        legacy_core(),
        stub::bind_loopback(0).unwrap(),
        stub::DEFAULT_RETAIN_LIMIT,
    )
    .await;
    let legacy_url = format!("{}/chat/completions", legacy.base_url());
    let legacy_root = legacy.base_url().trim_end_matches("/v1").to_string();
    let stub = stub::start(stub_config(), stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let stub_url = format!("{}/chat/completions", stub.base_url());

    for (name, body) in [
        ("caption call, 1,200-token prompt", caption_body()),
        ("short prompt", small_body()),
    ] {
        // Warm up all three (connections, the token-count cache, allocator).
        load(&hyper_url, &body, conc, 1).await;
        load(&legacy_url, &body, conc, 1).await;
        load(&stub_url, &body, conc, 1).await;
        post_reset(&client, &legacy_root).await;
        stub.reset().await.unwrap();
        println!("-- {name}: {} B request body", body.len());
        let (mut h, mut w, mut s) = (vec![], vec![], vec![]);
        for round in 1..=rounds {
            let (hr, hf) = load(&hyper_url, &body, conc, secs).await;
            let (wr, wf) = load(&legacy_url, &body, conc, secs).await;
            let (sr, sf) = load(&stub_url, &body, conc, secs).await;
            println!(
                "round {round}: bare hyper {hr:>8.0} req/s ({hf} failed) | wiremock stub (before) {wr:>8.0} req/s ({wf} failed) | hyper-front stub (now) {sr:>8.0} req/s ({sf} failed) | now/before {:.2}",
                sr / wr
            );
            h.push(hr);
            w.push(wr);
            s.push(sr);
            // As before issue 12: empty wiremock's store between rounds.
            post_reset(&client, &legacy_root).await;
            stub.reset().await.unwrap();
        }
        let (hm, wm, sm) = (median(h), median(w), median(s));
        println!(
            "throughput, {name} (median of {rounds} rounds, {conc} connections, {secs} s each): bare hyper {hm:.0} req/s, before (wiremock) {wm:.0} req/s, now {sm:.0} req/s; now/before = {:.2} (goal >= 0.90), now/hyper = {:.2}, before/hyper = {:.2}",
            sm / wm,
            sm / hm,
            wm / hm
        );
    }
}

/// Serves `n` caption requests from the stub at `base` (a child process) and returns its RSS
/// (KiB) after one warm-up request, after the `n`, and at peak.
async fn serve_many(pid: u32, base: &str, n: u64) -> (u64, u64, u64) {
    let conc = 32u64;
    let url = format!("{base}/chat/completions");
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let body = Bytes::from(caption_body());
    // One request so the tokenizer and caches are loaded before the baseline.
    client
        .post(&url)
        .bearer_auth(stub::STUB_API_KEY)
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let (before, _) = rss_kib(pid);
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..conc)
        .map(|_| {
            let (client, url, body, next) =
                (client.clone(), url.clone(), body.clone(), next.clone());
            tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let r = client
                        .post(&url)
                        .bearer_auth(stub::STUB_API_KEY)
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    assert!(r.status().is_success());
                    let _ = r.bytes().await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    let (after, peak) = rss_kib(pid);
    (before, after, peak)
}

/// This bench binary as a child serving the old engine; returns it and its base URL.
fn spawn_legacy() -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("legacy-serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let base = line
        .trim()
        .trim_start_matches("OPENAI_BASE_URL=")
        .to_string();
    (child, base)
}

async fn memory() {
    let n = env_or("BENCH_MEM_REQUESTS", 1_000_000);
    let mib = |kib: u64| kib as f64 / 1024.0;

    let (mut child, base) = spawn_legacy();
    let (before, after, peak) = serve_many(child.id(), &base, n).await;
    let _ = child.kill();
    let _ = child.wait();
    println!(
        "memory, before (wiremock engine, --retain {}): RSS {:.1} MiB after warm-up, {:.1} MiB after {n} caption requests (peak {:.1} MiB)",
        stub::DEFAULT_RETAIN_LIMIT,
        mib(before),
        mib(after),
        mib(peak)
    );

    let dir = std::env::temp_dir().join(format!("postload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiers.toml"), catalog::UNLIMITED_TIERS).unwrap();
    let (mut child, base) = common::spawn_stub(&dir, &[]);
    let (before, after, peak) = serve_many(child.id(), &base, n).await;
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "memory, now (`postload stub`, hyper front): RSS {:.1} MiB after warm-up, {:.1} MiB after {n} caption requests (peak {:.1} MiB)",
        mib(before),
        mib(after),
        mib(peak)
    );
}

/// `stub legacy-serve`: the old engine on a free port until killed (for [`memory`]).
async fn legacy_serve() {
    let legacy = legacy_stub::start(
        legacy_core(),
        stub::bind_loopback(0).unwrap(),
        stub::DEFAULT_RETAIN_LIMIT,
    )
    .await;
    println!("OPENAI_BASE_URL={}", legacy.base_url());
    std::future::pending::<()>().await;
}

fn main() {
    // The load client's threads (default 1: on this 2-core machine the server under test gets the
    // other core to itself, for every server alike).
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_or("BENCH_CLIENT_THREADS", 1) as usize)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::args().nth(1).filter(|a| !a.starts_with('-'));
    if only.as_deref() == Some("legacy-serve") {
        rt.block_on(legacy_serve());
        return;
    }
    if only.as_deref().is_none_or(|o| o == "throughput") {
        rt.block_on(throughput());
    }
    if only.as_deref().is_none_or(|o| o == "memory") {
        rt.block_on(memory());
    }
}
