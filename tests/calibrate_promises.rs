//! `postload calibrate`'s promises in docs/calibrate.md that no test held it to: the spend cap
//! holding against a provider that bills the most it may, the printed next step and tier, `--stream auto`'s
//! fall-back and `--stream on`, a model given up after its second dropped call, `--time-scale`
//! checked against the stub, and the overlay standing alone.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::response::IntoResponse;
use postload::cli::{CalibrateArgs, StreamArg};
use postload::clock::SystemClock;
use postload::openai::catalog::Catalog;
use postload::stub::StubConfig;
use serde_json::{json, Value};

use crate::calibrate::{account_mocks, paused_runtime, paused_stub};
use crate::calibrate_hostile::prompt_estimate;
use crate::common::{start_clocked, tempdir};

const KEY_VAR: &str = "POSTLOAD_CALIBRATE_PROMISES_KEY";

/// Calibrate options against `port` on loopback (no spend flags), gpt-4o, quiet.
fn args(port: u16, out: &Path) -> CalibrateArgs {
    CalibrateArgs {
        dest: postload::cli::DestinationArgs {
            base_url: Some(format!("http://127.0.0.1:{port}/v1")),
            api_key_env: None,
        },
        model: vec!["gpt-4o".into()],
        calls: None,
        effort: vec![],
        reasoning_cap: None,
        out: Some(out.to_path_buf()),
        output: Default::default(),
        spend: postload::cli::SpendArgs {
            allow: postload::cli::AllowSpend { allow_spend: false },
            max_cost: None,
        },
        resolve: postload::cli::ResolveArgs { resolve: vec![] },
        data: Default::default(),
        stream: StreamArg::Auto,
        concurrency: 3,
        seed: postload::cli::Seed { seed: Some(7) },
        time: Default::default(),
        verbosity: postload::cli::Verbosity { quiet: true },
    }
}

/// The same, posing as the remote `api.account.test` so that the spend guard runs.
fn remote_args(port: u16, out: &Path, max_cost: f64) -> CalibrateArgs {
    std::env::set_var(KEY_VAR, "sk-promises-test");
    CalibrateArgs {
        dest: postload::cli::DestinationArgs {
            base_url: Some(format!("http://api.account.test:{port}/v1")),
            api_key_env: Some(KEY_VAR.into()),
        },
        spend: postload::cli::SpendArgs {
            allow: postload::cli::AllowSpend { allow_spend: true },
            max_cost: Some(max_cost),
        },
        resolve: postload::cli::ResolveArgs {
            resolve: vec![format!("api.account.test:{port}:127.0.0.1")],
        },
        ..args(port, out)
    }
}

fn read_json(dir: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("calibration.json")).unwrap()).unwrap()
}

/// A test account (docs/calibrate.md's unlike profile, 777 RPM / 123,456 TPM) on paused time.
fn account_config(mocks: &Path) -> StubConfig {
    let mut c = StubConfig::new(Arc::new(Catalog::load_dir(mocks).unwrap()));
    c.tier_set = "test".into();
    c.tier = 1;
    c
}

/// The worst case calibrate prints for 20 calls to `addr`, read from its refusal of a cap of
/// $0.000001 (rounded to 4 places), before any call.
async fn printed_worst_case(addr: SocketAddr, out: &Path) -> f64 {
    let mut probe = remote_args(addr.port(), out, 0.000_001);
    probe.calls = Some(20);
    let err = postload::commands::calibrate::calibrate(probe)
        .await
        .unwrap_err()
        .to_string();
    err.split("worst case of this calibration is $")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{err}"))
}

/// A server answering every call plainly at its cap, its usage claiming the largest prompt the
/// usage check still believes, 2 × the one sent + 64 (what a provider counting tokens very
/// differently could bill); the count of calls.
async fn overbilling_server() -> (SocketAddr, Arc<AtomicU64>) {
    overbilling_then_429_server(u64::MAX).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cap_at_the_printed_worst_case_holds_against_a_provider_billing_the_most_it_may() {
    // The regression (issue 24): the worst case reserved the prompt sent, while a usage of up to
    // 2 × that + 64 is believed, so a provider billing such a prompt took a $0.0738 cap to
    // $0.0745. The cap here is the printed worst case (read from the refusal of a cap of
    // $0.000001, which is rounded to 4 places, so + $0.0001); every answer bills the largest
    // believed prompt and its whole max_tokens: the spend reaches the worst case and never
    // passes the cap, so all 20 calls are sent and the guard never has to stop one.
    let (addr, count) = overbilling_server().await;
    let out = tempdir("cal-cap-out");
    let worst = printed_worst_case(addr, &out).await;
    assert_eq!(count.load(Ordering::SeqCst), 0, "refused before any call");
    let cap = worst + 0.0001;
    let mut a = remote_args(addr.port(), &out, cap);
    a.calls = Some(20);
    a.concurrency = 1;
    a.stream = StreamArg::Off;
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    let j = read_json(&out);
    let cost = &j["cost"];
    assert_eq!(cost["stopped_by_cap"], false, "{cost}");
    assert_eq!(cost["calls_refused"], 0, "{cost}");
    let run = &j["models"][0]["run"];
    // What was spent is what the answers' usage billed, at gpt-4o's $2.50 / $10 per 1M tokens
    // (no cached tokens here): each observation's prompt is the largest believed, its
    // completion max_tokens, so the sum is the worst case as printed (to its 4 places).
    let spent = cost["spent_usd"].as_f64().unwrap();
    let obs = run["observations"].as_array().unwrap();
    let billed: f64 = obs
        .iter()
        .map(|o| {
            (o["prompt_tokens"].as_f64().unwrap() * 2.5
                + o["completion_tokens"].as_f64().unwrap() * 10.0)
                / 1e6
        })
        .sum();
    assert!((spent - billed).abs() < 1e-9, "{cost}");
    assert!(
        (spent - worst).abs() <= 0.000_05,
        "{spent} vs the printed {worst}"
    );
    assert!(spent <= cap, "{cost}");
    assert_eq!(run["stopped_by_cap"], false);
    assert_eq!(run["attempts"], 20, "{run}");
    assert_eq!(count.load(Ordering::SeqCst), 20);
    assert_eq!(
        obs.len(),
        20,
        "every call's usage was believed and observed"
    );
    // The overlay is written too, and loads.
    for f in ["latency.toml", "tiers.toml"] {
        assert!(out.join(f).is_file(), "{f}");
    }
    Catalog::load_dir(&out).unwrap();
}

/// As [`overbilling_server`] for its first `answered` calls, then a 429 asking 1 ms to every
/// call after them.
async fn overbilling_then_429_server(answered: u64) -> (SocketAddr, Arc<AtomicU64>) {
    let count = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&count);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            async move {
                if n >= answered {
                    let e = json!({"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}});
                    return (
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after-ms", "1")],
                        axum::Json(e),
                    )
                        .into_response();
                }
                let c = body["max_tokens"].as_u64().unwrap();
                let sent = postload::openai::tokens::TokenCounter::default()
                    .prompt(body["messages"].as_array().unwrap()) as u64;
                axum::Json(json!({
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "length"}],
                    "usage": {"prompt_tokens": 2 * sent + 64, "completion_tokens": c}
                }))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, count)
}

/// A 429 is not billed, so the guard charges it nothing: at a cap of the printed worst case of
/// 20 calls (+ $0.0001 for its rounding), 16 answers billing their worst case leave 4 calls'
/// worth, and the 10 429s that follow (calls 17 and 18 meet 5 each and are dropped, and the
/// model is given up after its second drop) must not use it up. Charged their worst case
/// instead, call 17's fourth attempt would have been refused and the calibration would end as
/// "stopped by the cap", exit 3, with money it never spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_charged_nothing_so_429s_after_the_answers_do_not_trip_the_cap() {
    let (addr, count) = overbilling_then_429_server(16).await;
    let out = tempdir("cal-cap-stop");
    let worst = printed_worst_case(addr, &out).await;
    let cap = worst + 0.0001;
    let mut a = remote_args(addr.port(), &out, cap);
    a.calls = Some(20);
    a.concurrency = 1;
    a.stream = StreamArg::Off;
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    let j = read_json(&out);
    let cost = &j["cost"];
    assert_eq!(cost["stopped_by_cap"], false, "{cost}");
    assert_eq!(cost["calls_refused"], 0, "{cost}");
    let run = &j["models"][0]["run"];
    assert_eq!(
        count.load(Ordering::SeqCst),
        26,
        "16 answered + 2 × 5 429s: {run}"
    );
    assert_eq!(
        (run["attempts"].as_u64(), run["rate_limited"].as_u64()),
        (Some(26), Some(10))
    );
    assert_eq!(run["dropped"], 2, "{run}");
    // Spent: the 16 answers' bill at gpt-4o's $2.50 / $10 per 1M tokens, and nothing for the
    // 429s.
    let billed: f64 = run["observations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (o["prompt_tokens"].as_f64().unwrap() * 2.5
                + o["completion_tokens"].as_f64().unwrap() * 10.0)
                / 1e6
        })
        .sum();
    let spent = cost["spent_usd"].as_f64().unwrap();
    assert!((spent - billed).abs() < 1e-9, "{spent} vs {billed}");
}

#[test]
fn the_printed_next_step_names_the_account_tier_and_parses_as_a_run() {
    // The embedded data at Tier 5 (not the default 1): calibrate must print the tier it
    // matched and a `run` command at that tier of the account set, which `run` accepts.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let stub = rt.block_on(async {
        let mut c = StubConfig::new(Arc::new(Catalog::embedded()));
        c.tier = 5;
        c.fixed_latency = Some(std::time::Duration::from_millis(5));
        start_clocked(c, Arc::new(SystemClock::new())).await
    });
    let out = tempdir("cal-next-step");
    let output = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args(["calibrate", "--model", "gpt-4o-mini", "--calls", "10"])
        .args(["--base-url", &stub.base_url()])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("gpt-4o-mini: ") && stdout.contains("matches tier 5 of openai-2025"),
        "{stdout}"
    );
    let want = format!(
        "next: postload run --mocks {} --tiers account --tier 5\n",
        out.display()
    );
    assert!(stdout.contains(&want), "{want}\n{stdout}");
    // calibration.md says the same, and the command parses and configures a run.
    let md = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(
        md.contains(want.trim_start_matches("next: ").trim()),
        "{md}"
    );
    let command = want.trim_start_matches("next: ").trim().to_string();
    use clap::Parser;
    let cli = postload::cli::Cli::try_parse_from(command.split(' ')).unwrap();
    let Some(postload::cli::Command::Run(run)) = cli.command else {
        panic!("not a run: {command}")
    };
    assert_eq!(run.tier, vec![5]);
    let catalog = postload::config::catalog_from(run.data.mocks.as_deref()).unwrap();
    let l = catalog
        .limits("account", 5, "gpt-4o-mini")
        .unwrap()
        .unwrap();
    let shipped = Catalog::embedded()
        .limits("openai-2025", 5, "gpt-4o-mini")
        .unwrap()
        .unwrap();
    assert_eq!((l.rpm, l.tpm), (shipped.rpm, shipped.tpm));
}

/// A server whose streamed answers come whole (one write: the first chunk with the last), plain
/// answers otherwise; the counts of streamed and of all calls.
async fn whole_stream_server() -> (SocketAddr, Arc<AtomicU64>, Arc<AtomicU64>) {
    let (streamed, all) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (s, a) = (Arc::clone(&streamed), Arc::clone(&all));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            a.fetch_add(1, Ordering::SeqCst);
            let stream = body["stream"] == true;
            if stream {
                s.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                // 30 ms + 2 ms a token, so that the regression has latencies to fit.
                let c = body["max_tokens"].as_u64().unwrap().min(60);
                tokio::time::sleep(std::time::Duration::from_millis(30 + 2 * c)).await;
                let usage = json!({"prompt_tokens": prompt_estimate(&body), "completion_tokens": c});
                if stream {
                    let text = format!(
                        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
                        json!({"choices": [{"index": 0, "delta": {"content": "x ".repeat(c as usize)}}]}),
                        json!({"choices": [], "usage": usage})
                    );
                    ([("content-type", "text/event-stream")], text).into_response()
                } else {
                    axum::Json(json!({
                        "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                        "usage": usage
                    }))
                    .into_response()
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, streamed, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_auto_falls_back_to_plain_calls_when_the_stream_comes_whole() {
    let (addr, streamed, all) = whole_stream_server().await;
    let out = tempdir("cal-stream-auto");
    let mut a = args(addr.port(), &out);
    a.calls = Some(30);
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    // The first call alone is streamed; the 29 after it are plain.
    assert_eq!(streamed.load(Ordering::SeqCst), 1);
    assert_eq!(all.load(Ordering::SeqCst), 30);
    let m = &read_json(&out)["models"][0];
    assert_eq!(m["run"]["streamed"], false);
    assert!(
        m["run"]["notes"].to_string().contains(
            "does not stream as it writes (the first chunk came with the last): plain calls"
        ),
        "{}",
        m["run"]["notes"]
    );
    assert_eq!(m["fit"]["method"], "regression", "{}", m["fit_error"]);
    // No observation claims a time to first token.
    assert!(m["run"]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["first_token_ms"].is_null()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_auto_falls_back_to_plain_calls_when_the_first_stream_fails() {
    // An endpoint that refuses streamed calls (HTTP 400) and answers plain ones: the first
    // call fails, is counted, and the 29 after it are sent plain and answered.
    let streamed = Arc::new(AtomicU64::new(0));
    let s = Arc::clone(&streamed);
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let stream = body["stream"] == true;
            if stream {
                s.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                if stream {
                    return (axum::http::StatusCode::BAD_REQUEST, "no streams here").into_response();
                }
                let c = body["max_tokens"].as_u64().unwrap().min(60);
                axum::Json(json!({
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_estimate(&body), "completion_tokens": c}
                }))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let out = tempdir("cal-stream-fails");
    let mut a = args(addr.port(), &out);
    a.calls = Some(30);
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    assert_eq!(streamed.load(Ordering::SeqCst), 1);
    let run = &read_json(&out)["models"][0]["run"];
    assert_eq!(run["attempts"], 30, "{run}");
    assert_eq!(run["failures"]["HTTP 400"], 1, "{run}");
    assert_eq!(run["observations"].as_array().unwrap().len(), 29);
    assert_eq!(run["streamed"], false);
    assert!(
        run["notes"]
            .to_string()
            .contains("the first streamed call failed (HTTP 400): plain calls"),
        "{run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_on_keeps_streaming_a_whole_stream_but_times_no_first_token() {
    let (addr, streamed, all) = whole_stream_server().await;
    let out = tempdir("cal-stream-on");
    let mut a = args(addr.port(), &out);
    a.calls = Some(30);
    a.stream = StreamArg::On;
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    assert_eq!(streamed.load(Ordering::SeqCst), 30);
    assert_eq!(all.load(Ordering::SeqCst), 30);
    let m = &read_json(&out)["models"][0];
    assert_eq!(m["run"]["streamed"], false);
    assert!(
        m["run"]["notes"]
            .to_string()
            .contains("streamed calls, but time to first token by regression"),
        "{}",
        m["run"]["notes"]
    );
    assert_eq!(m["fit"]["method"], "regression", "{}", m["fit_error"]);
    assert!(m["run"]["observations"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["first_token_ms"].is_null()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_is_given_up_after_its_second_dropped_call_and_the_next_model_still_runs() {
    // gpt-4o-mini always meets a 429 (wait 1 ms); gpt-4o is answered. One call at a time: each
    // call is sent 5 times (4 429s allowed, the 5th drops it); the second drop gives the model
    // up, so exactly 10 attempts, and gpt-4o still gets all of its 20.
    let (mini, other) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (m2, o2) = (Arc::clone(&mini), Arc::clone(&other));
    let app = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |body: axum::Json<Value>| {
            let is_mini = body["model"] == "gpt-4o-mini";
            if is_mini { &m2 } else { &o2 }.fetch_add(1, Ordering::SeqCst);
            async move {
                if is_mini {
                    return (
                        axum::http::StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after-ms", "1")],
                        axum::Json(json!({"error": {"message": "slow down"}})),
                    )
                        .into_response();
                }
                let c = body["max_tokens"].as_u64().unwrap().min(60);
                axum::Json(json!({
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_estimate(&body), "completion_tokens": c}
                }))
                .into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let out = tempdir("cal-given-up");
    let mut a = args(addr.port(), &out);
    a.model = vec!["gpt-4o-mini".into(), "gpt-4o".into()];
    a.calls = Some(20);
    a.concurrency = 1;
    a.stream = StreamArg::Off;
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    assert_eq!(mini.load(Ordering::SeqCst), 10);
    assert_eq!(other.load(Ordering::SeqCst), 20);
    let j = read_json(&out);
    let given_up = &j["models"][0]["run"];
    assert_eq!(j["models"][0]["model"], "gpt-4o-mini");
    assert_eq!(given_up["attempts"], 10, "{given_up}");
    assert_eq!(given_up["rate_limited"], 10);
    assert_eq!(given_up["dropped"], 2);
    assert!(given_up["observations"].as_array().unwrap().is_empty());
    assert!(
        given_up["notes"].to_string().contains(
            "2 of the calls met 5 429s in a row each and were dropped (10 429s in all): the limits are spent (a daily limit?), the model was given up"
        ),
        "{given_up}"
    );
    let next = &j["models"][1]["run"];
    assert_eq!(next["attempts"], 20);
    assert_eq!(next["observations"].as_array().unwrap().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_scale_is_checked_against_the_stubs_own_before_any_call() {
    // A stub at K = 5 and calibrate told 4: refused before any chat call (its latencies would
    // be read 4/5 of their length), naming both; told 5, it calibrates.
    let stub = start_clocked(
        StubConfig::new(Arc::new(Catalog::embedded())),
        Arc::new(SystemClock::scaled(5.0)),
    )
    .await;
    let out = tempdir("cal-scale-wrong");
    let mut a = args(stub.address().port(), &out);
    a.time.time_scale = Some(postload::clock::TimeScale::checked(4.0).unwrap());
    let err = postload::commands::calibrate::calibrate(a)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--time-scale 4: --base-url")
            && err.contains("is not a postload stub started with --time-scale 4 (it runs at 5)"),
        "{err}"
    );
    assert_eq!(stub.stats().chat_requests, 0);
    assert!(!out.join("calibration.json").exists());
    // An endpoint that is not a stub at all: no /__postload/stats.
    let (addr, _, all) = whole_stream_server().await;
    let out = tempdir("cal-scale-not-stub");
    let mut a = args(addr.port(), &out);
    a.time.time_scale = Some(postload::clock::TimeScale::checked(5.0).unwrap());
    let err = postload::commands::calibrate::calibrate(a)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("it does not answer /__postload/stats"),
        "{err}"
    );
    assert_eq!(all.load(Ordering::SeqCst), 0);
    // The stub's own scale: accepted, and written into calibration.json.
    let out = tempdir("cal-scale-right");
    let mut a = args(stub.address().port(), &out);
    a.time.time_scale = Some(postload::clock::TimeScale::checked(5.0).unwrap());
    a.calls = Some(10);
    a.model = vec!["gpt-4o-mini".into()];
    let outcome = postload::commands::calibrate::calibrate(a).await.unwrap();
    assert_eq!(outcome, postload::Outcome::Success);
    assert_eq!(read_json(&out)["time_scale"], 5.0);
    assert_eq!(stub.stats().chat_requests, 10);
}

#[test]
fn the_overlay_stands_alone_with_the_bases_models_and_prices_copied() {
    // A base folder whose prices differ from the embedded ones (gpt-4o-mini input $0.15 →
    // $0.17): the overlay must carry the base's models.toml and prices.toml byte for byte, and
    // load with those prices once the base folder is gone.
    let base = account_mocks("cal-alone-base", 777, 123_456);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mocks");
    // The note's two models (the shipped file's first part): the base's latency.toml has
    // profiles for those alone, and a models.toml naming a model with no profile is refused.
    let shipped_models = std::fs::read_to_string(shipped.join("models.toml")).unwrap();
    let cut = shipped_models.find("# Added 2026-12-06").unwrap();
    let models = shipped_models.as_bytes()[..cut].to_vec();
    let prices = std::fs::read_to_string(shipped.join("prices.toml"))
        .unwrap()
        .replacen(
            "[models.gpt-4o-mini]\ninput = 0.15",
            "[models.gpt-4o-mini]\ninput = 0.17",
            1,
        );
    assert!(prices.contains("input = 0.17"));
    std::fs::write(base.join("models.toml"), &models).unwrap();
    std::fs::write(base.join("prices.toml"), &prices).unwrap();
    let out = tempdir("cal-alone-out");
    let outcome = paused_runtime().block_on(async {
        let stub = paused_stub(account_config(&base)).await;
        let mut a = args(stub.address().port(), &out);
        a.data.mocks = Some(base.clone());
        a.calls = Some(40);
        postload::commands::calibrate::calibrate(a).await.unwrap()
    });
    assert_eq!(outcome, postload::Outcome::Success);
    assert_eq!(std::fs::read(out.join("models.toml")).unwrap(), models);
    assert_eq!(
        std::fs::read_to_string(out.join("prices.toml")).unwrap(),
        prices
    );
    std::fs::remove_dir_all(&base).unwrap();
    let overlay = Catalog::load_dir(&out).unwrap();
    assert_eq!(overlay.prices.models["gpt-4o-mini"].input, 0.17);
    assert!(overlay.limits("account", 1, "gpt-4o").unwrap().is_some());
    // The base's own tier set is kept beside the account set.
    assert!(overlay.tier_sets.contains_key("test"));
}
