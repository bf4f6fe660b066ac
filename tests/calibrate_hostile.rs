//! `postload calibrate`, and the spend guard of `run`, against small local servers that misbehave
//! as a proxy, a gateway or a broken provider can (issue 24): impossible usage, HTTP errors,
//! answers that break off, limit headers out of range or tiny, streams that never end, an
//! `--out` that cannot be written, signals. Each test is named after what broke.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::response::IntoResponse;
use postload::cli::{CalibrateArgs, StreamArg};
use postload::openai::catalog::Catalog;
use serde_json::{json, Value};

use crate::common::tempdir;

const KEY_VAR: &str = "POSTLOAD_CALIBRATE_HOSTILE_KEY";

/// Calibrate options posing as the remote `api.hostile.test` (so the spend guard runs with
/// `--max-cost`) resolved to `addr`: gpt-4o-mini, `calls` plain calls, one at a time.
fn args(addr: SocketAddr, out: &Path, calls: u32) -> CalibrateArgs {
    std::env::set_var(KEY_VAR, "sk-hostile-test");
    CalibrateArgs {
        dest: postload::cli::DestinationArgs {
            base_url: Some(format!("http://api.hostile.test:{}/v1", addr.port())),
            api_key_env: Some(KEY_VAR.into()),
        },
        model: vec!["gpt-4o-mini".into()],
        calls: Some(calls),
        effort: vec![],
        reasoning_cap: None,
        out: Some(out.to_path_buf()),
        output: Default::default(),
        spend: postload::cli::SpendArgs {
            allow: postload::cli::AllowSpend { allow_spend: true },
            max_cost: Some(1.0),
        },
        resolve: postload::cli::ResolveArgs {
            resolve: vec![format!("api.hostile.test:{}:127.0.0.1", addr.port())],
        },
        data: Default::default(),
        stream: StreamArg::Off,
        concurrency: 1,
        seed: postload::cli::Seed { seed: Some(7) },
        time: Default::default(),
        verbosity: postload::cli::Verbosity { quiet: true },
    }
}

fn read_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap()).unwrap()
}

/// An axum server on 127.0.0.1:0 answering every chat call with `reply(n, request body)`, and the
/// count of calls it received.
async fn server<F>(reply: F) -> (SocketAddr, Arc<AtomicU64>)
where
    F: Fn(u64, Value) -> axum::response::Response + Clone + Send + Sync + 'static,
{
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let reply = reply.clone();
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move { reply(n, body.0) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, count)
}

/// A chat completion with this usage.
fn completion(usage: Value) -> Value {
    json!({
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
        "usage": usage
    })
}

/// What the request asked: its completion cap.
fn cap(body: &Value) -> u64 {
    body["max_tokens"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_usage_is_never_fitted_nor_priced_below_its_worst_case() {
    // Before: 9,999,999 completion tokens (under the 10^7 bound, far above every call's
    // max_tokens) were fitted as observations and priced: $100 "spent" against a $1 cap.
    // The odd calls claim a prompt of 5,000,000 tokens for prompts of at most 1,200.
    let (addr, _) = server(|n, _| {
        let usage = if n % 2 == 0 {
            json!({"prompt_tokens": 60, "completion_tokens": 9_999_999})
        } else {
            json!({"prompt_tokens": 5_000_000, "completion_tokens": 1})
        };
        axum::Json(completion(usage)).into_response()
    })
    .await;
    let out = tempdir("cal-impossible");
    let err = postload::commands::calibrate::calibrate(args(addr, &out, 20))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no call was answered"), "{err}");
    let j = read_json(&out);
    let run = &j["models"][0]["run"];
    assert_eq!(run["observations"].as_array().unwrap().len(), 0, "{run}");
    assert_eq!(
        run["failures"]["the answer's usage is impossible"], 20,
        "{run}"
    );
    // Every call charged its worst case: spent is the printed worst case, within the cap.
    let (spent, worst) = (
        j["cost"]["spent_usd"].as_f64().unwrap(),
        j["cost"]["worst_case_usd"].as_f64().unwrap(),
    );
    assert!((spent - worst).abs() < 1e-9, "spent {spent}, worst {worst}");
    assert!(spent <= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibrate_charges_nothing_for_http_errors() {
    // Before: a 500 kept its worst case, unlike docs/calibrate.md ("an HTTP error costs
    // nothing") and run.
    let (addr, count) = server(|n, _| {
        let status = if n % 2 == 0 { 500 } else { 400 };
        (
            axum::http::StatusCode::from_u16(status).unwrap(),
            axum::Json(json!({"error": {"message": "no", "type": "server_error"}})),
        )
            .into_response()
    })
    .await;
    let out = tempdir("cal-http-errors");
    let err = postload::commands::calibrate::calibrate(args(addr, &out, 10))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("5 × HTTP 400, 5 × HTTP 500"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 10);
    assert_eq!(read_json(&out)["cost"]["spent_usd"], 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_calibration_with_nothing_answered_names_no_next_step() {
    let (addr, _) =
        server(|_, _| (axum::http::StatusCode::UNAUTHORIZED, "{\"error\":{}}").into_response())
            .await;
    let out = tempdir("cal-no-next");
    postload::commands::calibrate::calibrate(args(addr, &out, 10))
        .await
        .unwrap_err();
    let md = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(
        !md.contains("Next:") && !md.contains("postload run"),
        "{md}"
    );
}

/// About the tokens of a request's prompt: 4 characters a token, 4 tokens a message (English;
/// well inside the factor of 2 the usage check allows).
pub fn prompt_estimate(body: &Value) -> u64 {
    body["messages"].as_array().map_or(0, |m| {
        m.iter()
            .map(|m| m["content"].as_str().map_or(0, str::len) as u64 / 4 + 4)
            .sum()
    })
}

/// A plausible answer to `body`: its prompt as estimated, half its cap written.
fn plausible(body: &Value) -> Value {
    completion(json!({
        "prompt_tokens": prompt_estimate(body),
        "completion_tokens": cap(body).div_ceil(2)
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limit_headers_out_of_range_are_ignored_and_the_overlay_still_loads() {
    // Before: 18446744073709551615 RPM was read, written to tiers.toml, and the overlay failed
    // to load after every call was sent: nothing was written, exit 2.
    let (addr, _) = server(|_, body| {
        (
            [
                ("x-ratelimit-limit-requests", "18446744073709551615"),
                ("x-ratelimit-limit-tokens", "18446744073709551615"),
            ],
            axum::Json(plausible(&body)),
        )
            .into_response()
    })
    .await;
    let out = tempdir("cal-huge-limits");
    let outcome = postload::commands::calibrate::calibrate(args(addr, &out, 30)).await;
    let j = read_json(&out);
    let m = &j["models"][0];
    assert!(
        m["limits"]["rpm"].is_null() && m["limits"]["tpm"].is_null(),
        "{m}"
    );
    let notes = m["run"]["notes"].to_string();
    assert!(
        notes.contains("x-ratelimit-limit-requests out of range"),
        "{notes}"
    );
    assert!(outcome.is_ok(), "{outcome:?}");
    Catalog::load_dir(&out).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_of_1_rpm_and_1_tpm_give_the_model_up_instead_of_sleeping_for_hours() {
    // Before: the pacing at half of 1 RPM / 1 TPM slept about 2 h 10 min between calls,
    // silently.
    let (addr, count) = server(|_, body| {
        (
            [
                ("x-ratelimit-limit-requests", "1"),
                ("x-ratelimit-limit-tokens", "1"),
            ],
            axum::Json(plausible(&body)),
        )
            .into_response()
    })
    .await;
    let out = tempdir("cal-tiny-limits");
    let _ = postload::commands::calibrate::calibrate(args(addr, &out, 20)).await;
    assert_eq!(count.load(Ordering::SeqCst), 1);
    let run = &read_json(&out)["models"][0]["run"];
    let notes = run["notes"].to_string();
    assert!(
        notes.contains("(1 RPM / 1 TPM) ask") && notes.contains("the model was given up"),
        "{notes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_that_cannot_be_written_is_refused_before_any_call() {
    // Before: every call was sent and paid for, then calibration.json could not be written.
    let (addr, count) = server(|_, body| axum::Json(plausible(&body)).into_response()).await;
    let out = tempdir("cal-out-taken");
    std::fs::create_dir_all(out.join("calibration.json")).unwrap();
    let err = postload::commands::calibrate::calibrate(args(addr, &out, 10))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("calibration.json is a folder there"), "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 0);
}

/// A server on 127.0.0.1:0, in a runtime of its own, whose every answer is a stream that never
/// ends (a content chunk every 100 ms); the receiver hears of each request.
fn endless_stream_server() -> (
    SocketAddr,
    std::sync::mpsc::Receiver<()>,
    tokio::runtime::Runtime,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                let _ = sock.read(&mut buf).await;
                let _ = tx.send(());
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let line = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n";
                let chunk = format!("{:x}\r\n{line}\r\n", line.len());
                while sock.write_all(chunk.as_bytes()).await.is_ok() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            });
        }
    });
    (addr, rx, rt)
}

/// Starts `postload calibrate` against `addr` (loopback: no spend flags), and waits until its
/// first call is at the server.
fn calibrate_process(
    addr: SocketAddr,
    out: &Path,
    seen: &std::sync::mpsc::Receiver<()>,
) -> std::process::Child {
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args(["calibrate", "--model", "gpt-4o-mini", "--calls", "20"])
        .args(["--concurrency", "1", "--base-url"])
        .arg(format!("http://127.0.0.1:{}/v1", addr.port()))
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    seen.recv().unwrap();
    child
}

fn sigint(child: &std::process::Child) {
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The calibration written after a signal: interrupted, its one call in flight abandoned and
/// charged its worst case.
fn assert_abandoned_and_written(out: &Path, when: &str) {
    let j = read_json(out);
    assert_eq!(j["interrupted"], true, "{j}");
    let run = &j["models"][0]["run"];
    assert_eq!(run["attempts"], 1, "{run}");
    assert_eq!(run["abandoned"], 1, "{run}");
    assert!(
        run["notes"]
            .to_string()
            .contains(&format!("abandoned {when}, charged their worst case")),
        "{run}"
    );
    assert!(j["cost"]["spent_usd"].as_f64().unwrap() > 0.0);
    assert!(out.join("calibration.md").exists());
}

#[test]
fn a_stream_that_never_ends_is_abandoned_2_s_after_sigint_and_the_calibration_written() {
    // Before: the call in flight was awaited until the client's 600 s timeout, so calibrate
    // stayed alive after SIGINT.
    let (addr, seen, _rt) = endless_stream_server();
    let out = tempdir("cal-sigint-endless");
    let child = calibrate_process(addr, &out, &seen);
    // The call in flight never ends, so calibrate must give it the whole grace: at least 2 s
    // from the signal to the exit (timed from before the signal is sent: never less than the
    // wait itself; no upper bound, which would be the machine's speed).
    let signalled = std::time::Instant::now();
    sigint(&child);
    let output = child.wait_with_output().unwrap();
    let took = signalled.elapsed();
    assert!(
        took >= postload::stop::STOP_GRACE,
        "exited {took:?} after the signal"
    );
    assert_eq!(
        postload::stop::STOP_GRACE,
        std::time::Duration::from_secs(2)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("SIGINT: stopping the calibration"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("attack") && !stderr.contains("result.json"),
        "{stderr}"
    );
    assert_abandoned_and_written(&out, "2 s after the signal");
}

#[test]
fn a_second_signal_abandons_the_calls_in_flight_and_still_writes_the_calibration() {
    // Before: the second signal's 10 s exit came while the never-ending call was still awaited:
    // --out was left empty.
    use std::io::BufRead;
    let (addr, seen, _rt) = endless_stream_server();
    let out = tempdir("cal-sigint-twice");
    let mut child = calibrate_process(addr, &out, &seen);
    sigint(&child);
    // The first signal is taken (its message printed) before the second is sent, so that the
    // two are not merged into one.
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen_err = String::new();
    while !seen_err.contains("stopping the calibration") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen_err}");
        seen_err.push_str(&line);
    }
    sigint(&child);
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen_err}{rest}");
    assert!(rest.contains("abandoning the calls in flight"), "{rest}");
    assert_abandoned_and_written(&out, "at the second signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlay_that_cannot_be_built_still_leaves_calibration_json() {
    // Before: when the overlay failed its load check, nothing was written, though every call
    // had been sent and paid for. Here the base's models.toml is broken while the calls are
    // out (the server breaks it at its first call), so the overlay built on it cannot load.
    let mocks = tempdir("cal-broken-base");
    let models = mocks.join("models.toml");
    std::fs::write(&models, postload::openai::catalog::EMBEDDED_MODELS).unwrap();
    let (addr, _) = server(move |_, body| {
        std::fs::write(&models, "[[model]\nid = ").unwrap();
        axum::Json(plausible(&body)).into_response()
    })
    .await;
    let out = tempdir("cal-no-overlay");
    let mut a = args(addr, &out, 20);
    a.data.mocks = Some(mocks);
    let err = format!(
        "{:#}",
        postload::commands::calibrate::calibrate(a)
            .await
            .unwrap_err()
    );
    assert!(err.contains("the overlay could not be built"), "{err}");
    let j = read_json(&out);
    assert_eq!(
        j["models"][0]["run"]["observations"]
            .as_array()
            .unwrap()
            .len(),
        20
    );
    assert!(
        j["notes"]
            .to_string()
            .contains("the overlay could not be built"),
        "{j}"
    );
    assert!(!out.join("latency.toml").exists() && !out.join("tiers.toml").exists());
    assert!(std::fs::read_to_string(out.join("calibration.md"))
        .unwrap()
        .contains("the overlay could not be built"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_429_note_counts_what_calibration_json_counts() {
    // Before: the note said "2 calls met 5 429s in a row each" when the model was given up,
    // though calls in flight could still be dropped after it (calibration.json's `dropped`).
    let (addr, count) = server(|_, _| {
        (
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            [("retry-after-ms", "10")],
            axum::Json(json!({"error": {"message": "slow down", "type": "requests"}})),
        )
            .into_response()
    })
    .await;
    let out = tempdir("cal-429-note");
    let mut a = args(addr, &out, 20);
    a.concurrency = 3;
    postload::commands::calibrate::calibrate(a)
        .await
        .unwrap_err();
    let run = &read_json(&out)["models"][0]["run"];
    let (dropped, limited) = (
        run["dropped"].as_u64().unwrap(),
        run["rate_limited"].as_u64().unwrap(),
    );
    assert!(dropped >= 2, "{run}");
    assert_eq!(limited, count.load(Ordering::SeqCst), "{run}");
    let want = format!(
        "{dropped} of the calls met 5 429s in a row each and were dropped ({limited} 429s in all)"
    );
    assert!(run["notes"].to_string().contains(&want), "{want}\n{run}");
}

/// A server that answers every request 200 with a JSON body that breaks off (a Content-Length
/// of 1,000 and 10 bytes sent), and the count of requests.
async fn broken_200_server() -> (SocketAddr, Arc<AtomicU64>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                // The whole request (head and Content-Length body) first.
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len = text
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                seen.fetch_add(1, Ordering::SeqCst);
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\nconnection: close\r\n\r\n{\"choices\"")
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (addr, count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_charges_a_2xx_whose_body_broke_off_its_worst_case() {
    // Before: any failure with a status settled at $0, so 15 broken 200s left
    // `spent_usd: 0.0` under `--max-cost 0.02`.
    let (addr, count) = broken_200_server().await;
    let dir = tempdir("run-broken-200");
    let port = addr.port();
    let out = tokio::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args([
            "run",
            "--scenario",
            "burst-50",
            "--users",
            "4",
            "--tier",
            "2",
        ])
        .arg("--base-url")
        .arg(format!("http://api.broken.test:{port}/v1"))
        .arg("--resolve")
        .arg(format!("api.broken.test:{port}:127.0.0.1"))
        .args([
            "--allow-spend",
            "--max-cost",
            "0.02",
            "--api-key-env",
            KEY_VAR,
        ])
        .arg("--report-dir")
        .arg(&dir)
        .env(KEY_VAR, "sk-broken-test")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let run = std::fs::read_dir(&dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap();
    let spent = r["budget"]["spent_usd"].as_f64().unwrap();
    // Every attempt was an image call, charged its worst case: the largest prompt a usage may
    // report and be believed (2 × 800 + 64 = 1,664) and its 150 completion tokens,
    // 1,664 × $2.50 + 150 × $10 per 1M = $0.00566 each, so 0.02 / 0.00566 = 3.5: at most 3 were
    // sent before the guard tripped.
    let n = count.load(Ordering::SeqCst);
    assert!((1..=3).contains(&n), "{n} {stderr}");
    assert!(
        (spent - n as f64 * 0.00566).abs() < 1e-9,
        "{spent} for {n} attempts\n{stderr}"
    );
    assert!(spent <= 0.02);
}

mod props {
    //! Hostile answers for calibrate's client, end to end (as tests/props.rs does for the
    //! files): each case is a one-call calibration against a server whose answer has a random
    //! status, hostile rate-limit headers, and a body that is a chat completion or a stream
    //! with hostile usage values and framing. Whatever comes back: no panic, the spend within
    //! the worst case, no observation the call could not have made, limits in range, and an
    //! overlay that loads when one is written.

    use super::*;
    use proptest::prelude::*;
    use std::sync::Mutex;

    const HOSTILE: &[&str] = &[
        "-1",
        "0",
        "1",
        "0.5",
        "1e300",
        "9999999",
        "10000001",
        "18446744073709551615",
        "18446744073709551616",
        "\"7\"",
        "null",
        "[]",
        "{}",
        "true",
    ];

    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            proptest::sample::select(HOSTILE).prop_map(str::to_string),
            (0u64..2_000).prop_map(|n| n.to_string()),
        ]
    }

    fn usage() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (number(), number(), number()).prop_map(|(p, c, k)| format!(
                r#"{{"prompt_tokens":{p},"completion_tokens":{c},"prompt_tokens_details":{{"cached_tokens":{k}}}}}"#
            )),
            1 => proptest::sample::select(HOSTILE).prop_map(str::to_string),
        ]
    }

    /// An answer: status, headers, content type and body.
    #[derive(Debug, Clone)]
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        stream: bool,
        body: Vec<u8>,
    }

    fn reply() -> impl Strategy<Value = Reply> {
        let header_value = prop_oneof![
            number(),
            "[ -~]{0,24}",
            Just("6m0s".to_string()),
            Just("-1".to_string()),
            Just("1".to_string()),
        ];
        let names = proptest::sample::subsequence(
            vec![
                "x-ratelimit-limit-requests",
                "x-ratelimit-limit-tokens",
                "x-ratelimit-remaining-requests",
                "x-ratelimit-remaining-tokens",
                "x-ratelimit-reset-requests",
                "x-ratelimit-reset-tokens",
                "retry-after-ms",
                "retry-after",
            ],
            0..8,
        );
        let headers = (names, proptest::collection::vec(header_value, 8))
            .prop_map(|(n, v)| n.into_iter().zip(v).collect::<Vec<_>>());
        let end = prop_oneof![Just("\n\n"), Just("\r\n"), Just("\n"), Just("")];
        let chunk = prop_oneof![
            Just(r#"data: {"choices":[{"delta":{"content":"a"}}]}"#.to_string()),
            Just("data: [DONE]".to_string()),
            Just(": ping".to_string()),
            Just("data: {\"choi".to_string()),
            usage().prop_map(|u| format!(r#"data: {{"choices":[],"usage":{u}}}"#)),
        ];
        let stream_body = proptest::collection::vec((chunk, end), 0..10).prop_map(|c| {
            c.into_iter()
                .flat_map(|(l, e)| format!("{l}{e}").into_bytes())
                .collect::<Vec<u8>>()
        });
        let plain_body = prop_oneof![
            usage().prop_map(|u| format!(
                r#"{{"choices":[{{"message":{{"content":"x"}}}}],"usage":{u}}}"#
            )
            .into_bytes()),
            Just(b"{\"choices\":[]}".to_vec()),
            Just(b"<html>".to_vec()),
        ];
        let status =
            prop_oneof![8 => Just(200u16), 1 => Just(429u16), 1 => Just(500u16), 1 => Just(204u16)];
        (status, headers, any::<bool>(), stream_body, plain_body).prop_map(
            |(status, mut headers, stream, s, p)| {
                if status == 429 {
                    // A 429 is sent again (five times) after its wait and the pacing the limits
                    // ask: both kept to 1 ms here, so that a case takes no real time (the
                    // readers of those headers have their own property test in the client).
                    headers
                        .retain(|(n, _)| !n.starts_with("retry-after") && !n.contains("-limit-"));
                    headers.push(("retry-after-ms", "1".into()));
                }
                Reply {
                    status,
                    headers,
                    stream,
                    body: if stream { s } else { p },
                }
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn a_hostile_answer_is_never_trusted_by_calibrate(reply in reply()) {
            let rt = tokio::runtime::Runtime::new().unwrap();
            let served = Arc::new(Mutex::new(None::<u64>));
            let cap_seen = Arc::clone(&served);
            let r = reply.clone();
            let (addr, _) = rt.block_on(server(move |_, body| {
                *cap_seen.lock().unwrap() = body["max_tokens"].as_u64();
                let mut b = axum::http::Response::builder().status(r.status).header(
                    "content-type",
                    if r.stream { "text/event-stream" } else { "application/json" },
                );
                for (name, value) in &r.headers {
                    if let Ok(v) = axum::http::HeaderValue::from_str(value) {
                        b = b.header(*name, v);
                    }
                }
                b.body(axum::body::Body::from(r.body.clone())).unwrap()
            }));
            let out = tempdir("cal-prop");
            let mut a = args(addr, &out, 1);
            a.stream = StreamArg::Auto;
            let result = rt.block_on(postload::commands::calibrate::calibrate(a));
            let j = read_json(&out);
            let (spent, worst) = (
                j["cost"]["spent_usd"].as_f64().unwrap(),
                j["cost"]["worst_case_usd"].as_f64().unwrap(),
            );
            prop_assert!((0.0..=worst + 1e-12).contains(&spent), "spent {spent} of {worst}");
            let m = &j["models"][0];
            let cap = served.lock().unwrap().unwrap_or(0);
            for o in m["run"]["observations"].as_array().unwrap() {
                let c = o["completion_tokens"].as_u64().unwrap();
                prop_assert!(c <= cap, "{c} completion tokens for max_tokens {cap}");
                prop_assert!(o["cached_tokens"].as_u64() <= o["prompt_tokens"].as_u64());
            }
            let rpm = m["limits"]["rpm"].as_u64();
            prop_assert!(rpm.is_none_or(|r| (1..=1_000_000_000_000).contains(&r)));
            let tpm = m["limits"]["tpm"].as_u64();
            prop_assert!(tpm.is_none_or(|t| (1..=1_000_000_000_000_000).contains(&t)));
            if out.join("latency.toml").exists() {
                prop_assert!(Catalog::load_dir(&out).is_ok());
            }
            prop_assert!(result.is_ok() || !m["run"]["failures"].as_object().unwrap().is_empty() || m["run"]["rate_limited"].as_u64() > Some(0) || m["run"]["notes"].as_array().is_some_and(|n| !n.is_empty()), "{result:?}");
            let _ = std::fs::remove_dir_all(&out);
        }
    }
}

/// docs/calibrate.md and src/stop.rs: after a second signal the process exits 10 s later
/// whatever it is doing. Here the writing can never end: `calibration.json` in `--out` is a
/// named pipe nobody reads (written in place, as a pipe the user names is), so opening it
/// blocks. After two SIGINTs calibrate must exit on its own, 130, at least 10 s after the
/// second (timed from before it is sent: never less than the wait itself; the guard against a
/// hang is no performance bound), saying the calibration was not written.
#[test]
fn a_second_signal_exits_10_s_later_even_when_the_writing_never_ends() {
    use std::io::BufRead;
    use std::os::unix::ffi::OsStrExt;
    let (addr, seen, _rt) = endless_stream_server();
    let out = tempdir("cal-sigint-stuck");
    let fifo = out.join("calibration.json");
    let c_path = std::ffi::CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates the file.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let mut child = calibrate_process(addr, &out, &seen);
    sigint(&child);
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen_err = String::new();
    while !seen_err.contains("stopping the calibration") {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "{seen_err}");
        seen_err.push_str(&line);
    }
    let second = std::time::Instant::now();
    sigint(&child);
    let guard = std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if second.elapsed() > guard {
            let _ = child.kill();
            panic!("still running {guard:?} after the second signal: {seen_err}");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let took = second.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    assert_eq!(status.code(), Some(130), "{seen_err}{rest}");
    assert_eq!(
        postload::stop::HURRY_GRACE,
        std::time::Duration::from_secs(10)
    );
    assert!(
        took >= postload::stop::HURRY_GRACE,
        "exited {took:?} after the second signal"
    );
    assert!(rest.contains("abandoning the calls in flight"), "{rest}");
    assert!(
        rest.contains("the calibration was not written within 10 s of the second signal; exiting"),
        "{rest}"
    );
    let _ = std::fs::remove_file(&fifo);
}
