//! Service mode: the reference example service behind `--target`/`--with-stub`, a fault server
//! for every way a service can fail, the spend guard against the stub posing as a remote
//! endpoint, and secrets kept out of every output.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use postload::cli::{Cli, Command, RunArgs};
use postload::example::{self, ExampleConfig};
use postload::stub;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{config, goose_lock, read_result, start, tempdir};

use crate::common::unused_port as free_port;

/// `postload run ARGS` in-process; the run's folder and result.
async fn run(args: RunArgs) -> (postload::Outcome, PathBuf, Value) {
    let _guard = goose_lock().await;
    let dir = args.output.report_dir.clone();
    let outcome = postload::run(Cli {
        command: Some(Command::Run(Box::new(args))),
        run: RunArgs::default(),
    })
    .await
    .expect("the run completes");
    let (folder, result) = read_result(&dir);
    (outcome, folder, result)
}

fn scenario_file(dir: &Path, name: &str, users: u32, extra: &str) -> String {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "name = \"{name}\"\nmodel = \"gpt-4o\"\ntiers = [2]\nseed = 5\n{extra}\n[load]\nkind = \"burst\"\nusers = {users}\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_service_with_the_stub_alongside_agrees_with_the_stub() {
    let port = free_port();
    let mut cfg = ExampleConfig::new(&format!("http://127.0.0.1:{port}/v1"));
    cfg.memory_delay = Duration::from_millis(5);
    let service = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let dir = tempdir("e2e");
    let two_calls = scenario_file(&dir, "two-calls", 12, "image_prompt_share = 0.0");
    let one_call = scenario_file(&dir, "own-image-prompt", 8, "image_prompt_share = 1.0");
    let (outcome, folder, r) = run(RunArgs {
        scenario: vec![two_calls, one_call],
        target: Some(service.url()),
        with_stub: Some(port),
        wait_for_target: Some(5.0),
        latency_ms: Some(50),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    })
    .await;
    assert_eq!(outcome, postload::Outcome::Success);
    assert_eq!(r["target"]["kind"], "service");
    assert_eq!(
        r["target"]["openai_stub"],
        format!("http://127.0.0.1:{port}/v1")
    );
    for (case, posts, calls_per_post) in [(&r["cases"][0], 12, 2), (&r["cases"][1], 8, 1)] {
        assert_eq!(u(&case["posts"]["ok"]), posts, "{case}");
        let stub = &case["stub"];
        // posts × calls = stub calls, each answered 200 (Tier 2: no 429s).
        assert_eq!(u(&stub["chat_requests"]), posts * calls_per_post);
        // Chat completions only: no Responses call, and the inputs name no endpoint.
        assert_eq!(stub.get("responses_requests"), None, "{stub}");
        assert_eq!(case["inputs"].get("endpoint"), None);
        assert_eq!(u(&stub["by_status"]["200"]), posts * calls_per_post);
        assert_eq!(u(&stub["latency_ms"]["count"]), posts * calls_per_post);
        assert_eq!(stub["tier"], 2);
        // Tokens the service reported equal the tokens the stub counted.
        let t = &case["tokens"];
        assert_eq!(t["source"], "responses");
        let m = &stub["models"]["gpt-4o"];
        assert_eq!(t["total"]["prompt"], m["prompt_tokens"]);
        assert_eq!(t["total"]["completion"], m["completion_tokens"]);
        assert_eq!(case["models_reported"]["gpt-4o"], posts);
        assert_eq!(case["inputs"]["service"]["path"], "/api/marketing-post");
        // The inner calls took the stub's 50 ms; the post adds the memory look-up and transport.
        let inner = stub["latency_ms"]["p50"].as_f64().unwrap();
        assert!((49.9..=50.1).contains(&inner), "{inner}");
        let post = case["post_latency_ms"]["ok"]["p50"].as_f64().unwrap();
        assert!(post >= calls_per_post as f64 * 50.0 + 5.0, "{post}");
    }
    // About the note's 2,350 tokens per two-call post.
    // Prompts of about 800 and 1,200 tokens plus the fixed profile's completions.
    let per_post = r["cases"][0]["tokens"]["per_ok_post"].as_f64().unwrap();
    assert!((1_900.0..=2_400.0).contains(&per_post), "{per_post}");
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(
        md.contains("## Service and the OpenAI calls inside it"),
        "{md}"
    );
    assert!(md.contains(&format!("POST {}/api/marketing-post", service.url())));
    // The service claims are judged on each case from the stub's counts: 2 and 1 calls of the
    // fixed 50 ms a post. Whether they hold depends on this machine's timing, so only the
    // figures they rest on are asserted.
    let result: postload::report::RunResult =
        serde_json::from_slice(&std::fs::read(folder.join("result.json")).unwrap()).unwrap();
    let verdicts = postload::report::claims::evaluate(
        &postload::report::claims::parse("c", postload::report::claims::EMBEDDED_CLAIMS).unwrap(),
        &result,
        &postload::openai::catalog::Catalog::embedded().prices,
    );
    let own: Vec<_> = verdicts.iter().filter(|v| v.id == "mem0-s3").collect();
    assert_eq!(own.len(), 2);
    assert!(
        own[0]
            .evidence
            .contains("2.00 calls a post × 0.05 s a call"),
        "{}",
        own[0].evidence
    );
    assert!(
        own[1]
            .evidence
            .contains("1.00 calls a post × 0.05 s a call"),
        "{}",
        own[1].evidence
    );
    assert!(
        own.iter().all(|v| v.measured.starts_with("own time ")),
        "{own:?}"
    );
}

/// The note's switch done only in a scenario file: the scenario says gpt-4o-mini, the service
/// still calls gpt-4o. The case must be priced (and its claims judged) as gpt-4o.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_calls_another_model_is_priced_as_the_model_it_called() {
    let port = free_port();
    let service = example::start(
        ExampleConfig::new(&format!("http://127.0.0.1:{port}/v1")),
        stub::bind_loopback(0).unwrap(),
    )
    .await
    .unwrap();
    let dir = tempdir("served-model");
    let file = dir.join("mini.toml");
    std::fs::write(
        &file,
        "name = \"mini\"\nmodel = \"gpt-4o-mini\"\ntiers = [1]\nseed = 5\n[load]\nkind = \"burst\"\nusers = 4\n",
    )
    .unwrap();
    let (outcome, folder, r) = run(RunArgs {
        scenario: vec![file.to_string_lossy().into_owned()],
        target: Some(service.url()),
        with_stub: Some(port),
        wait_for_target: Some(5.0),
        latency_ms: Some(50),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    })
    .await;
    assert_eq!(outcome, postload::Outcome::Success);
    let case = &r["cases"][0];
    assert_eq!(case["inputs"]["model"], "gpt-4o");
    assert_eq!(case["inputs"]["scenario_model"], "gpt-4o-mini");
    // gpt-4o's Tier-1 limits, not gpt-4o-mini's 200,000 TPM.
    assert_eq!(case["inputs"]["limits"]["tpm"], 30_000);
    // The cost is the stub's gpt-4o tokens at gpt-4o's $2.50 and $10.00 per million
    // (mocks/prices.toml), not at gpt-4o-mini's $0.15 and $0.60.
    let m = &case["stub"]["models"]["gpt-4o"];
    assert_eq!(u(&m["ok"]), 8);
    let (p, o) = (
        u(&m["prompt_tokens"]) as f64,
        u(&m["completion_tokens"]) as f64,
    );
    let usd = case["cost"]["total_usd"].as_f64().unwrap();
    assert!(
        (usd - (p * 2.5 + o * 10.0) / 1e6).abs() < 1e-9,
        "{usd} for {p} + {o}"
    );
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(
        md.contains("the scenario names gpt-4o-mini, but the service called gpt-4o"),
        "{md}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_without_usage_gets_tokens_from_the_stub_or_unknown() {
    let no_usage = "[target]\nusage = { prompt_tokens = \"\", completion_tokens = \"\" }\n";
    // With the stub alongside: the stub's counts.
    let port = free_port();
    let service = example::start(
        ExampleConfig::new(&format!("http://127.0.0.1:{port}/v1")),
        stub::bind_loopback(0).unwrap(),
    )
    .await
    .unwrap();
    let dir = tempdir("no-usage-stub");
    let s = scenario_file(&dir, "no-usage", 6, no_usage);
    let (_, _, r) = run(RunArgs {
        scenario: vec![s],
        target: Some(service.url()),
        with_stub: Some(port),
        latency_ms: Some(20),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    })
    .await;
    let c = &r["cases"][0];
    assert_eq!(c["tokens"]["source"], "stub");
    assert_eq!(c["tokens"]["calls_without_usage"], 6);
    let m = &c["stub"]["models"]["gpt-4o"];
    assert_eq!(c["tokens"]["total"]["prompt"], m["prompt_tokens"]);
    assert!(u(&m["prompt_tokens"]) > 6 * 1_500);
    assert!(c["cost"]["per_ok_post_usd"].as_f64().unwrap() > 0.005);

    // Without it: unknown, not zero, and no cost.
    let other = start(config()).await;
    let service = example::start(
        ExampleConfig::new(&other.base_url()),
        stub::bind_loopback(0).unwrap(),
    )
    .await
    .unwrap();
    let dir = tempdir("no-usage-alone");
    let s = scenario_file(&dir, "no-usage", 6, no_usage);
    let (_, folder, r) = run(RunArgs {
        scenario: vec![s],
        target: Some(service.url()),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    })
    .await;
    let c = &r["cases"][0];
    assert_eq!(c["posts"]["ok"], 6);
    assert_eq!(c["tokens"]["source"], "unknown");
    assert_eq!(c["tokens"]["per_ok_post"], Value::Null);
    assert_eq!(c["cost"], Value::Null);
    assert_eq!(c["stub"], Value::Null);
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(md.contains("| unknown |"), "{md}");
    assert!(md.contains("Tokens and cost unknown"));
}

/// How the fault server answers, by request path.
#[derive(Default)]
struct FaultCounts {
    resets: AtomicU64,
    authorized: AtomicU64,
    unauthorized: AtomicU64,
    /// Requests that reached `/redirected` (a followed redirect).
    redirected: AtomicU64,
}

const COMPLETION: &str = r#"{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"A bright storefront.","refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":800,"completion_tokens":100,"total_tokens":900}}"#;

/// A server that fails on purpose: `/reset` resets every other connection mid-burst, `/hang`
/// never answers, `/500`, `/html` (200, not JSON), `/no-usage` (200, JSON without usage),
/// `/bad-usage` (usage a string), `/huge-usage` (10^12 completion tokens), `/redirect` (302 to
/// `/redirected`);
/// `/auth` and `.../chat/completions` answer only with `Authorization: Bearer <one of tokens>`.
async fn fault_server(tokens: Vec<String>) -> (u16, Arc<FaultCounts>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counts = Arc::new(FaultCounts::default());
    let shared = Arc::clone(&counts);
    let seen = Arc::new(AtomicU64::new(0));
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let counts = Arc::clone(&shared);
            let tokens = tokens.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                // Read the head and the body (Content-Length).
                let (head, body_len) = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_string();
                        let len = head
                            .lines()
                            .find_map(|l| {
                                let (k, v) = l.split_once(':')?;
                                k.eq_ignore_ascii_case("content-length")
                                    .then(|| v.trim().parse::<usize>().ok())?
                            })
                            .unwrap_or(0);
                        break (head, end + 4 + len);
                    }
                };
                while buf.len() < body_len {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let auth_ok = head.lines().any(|l| {
                    l.split_once(':').is_some_and(|(k, v)| {
                        k.eq_ignore_ascii_case("authorization")
                            && tokens.iter().any(|t| v.trim() == format!("Bearer {t}"))
                    })
                });
                let answer = |status: &str, ctype: &str, body: &str| {
                    format!(
                        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let ok_usage = r#"{"caption":"hi","model":"gpt-4o","usage":{"prompt_tokens":2000,"completion_tokens":350}}"#;
                let reply = match path.as_str() {
                    "/reset" => {
                        if seen.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
                            counts.resets.fetch_add(1, Ordering::SeqCst);
                            // RST instead of FIN: the client sees a reset mid-exchange.
                            let _ = sock.set_zero_linger();
                            drop(sock);
                            return;
                        }
                        answer("200 OK", "application/json", ok_usage)
                    }
                    "/hang" => {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        return;
                    }
                    "/500" => answer(
                        "500 Internal Server Error",
                        "application/json",
                        r#"{"detail":"boom"}"#,
                    ),
                    "/html" => answer("200 OK", "text/html", "<html><body>Oops</body></html>"),
                    "/no-usage" => answer("200 OK", "application/json", r#"{"caption":"hi"}"#),
                    "/bad-usage" => answer(
                        "200 OK",
                        "application/json",
                        r#"{"caption":"hi","usage":{"prompt_tokens":"lots","completion_tokens":350}}"#,
                    ),
                    "/huge-usage" => answer(
                        "200 OK",
                        "application/json",
                        r#"{"caption":"hi","usage":{"prompt_tokens":2000,"completion_tokens":1000000000000}}"#,
                    ),
                    "/redirect" => format!(
                        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{port}/redirected\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    ),
                    "/redirected" => {
                        counts.redirected.fetch_add(1, Ordering::SeqCst);
                        answer("200 OK", "application/json", ok_usage)
                    }
                    p if p == "/auth" || p.ends_with("/chat/completions") => {
                        if auth_ok {
                            counts.authorized.fetch_add(1, Ordering::SeqCst);
                            let body = if p == "/auth" { ok_usage } else { COMPLETION };
                            answer("200 OK", "application/json", body)
                        } else {
                            counts.unauthorized.fetch_add(1, Ordering::SeqCst);
                            answer("401 Unauthorized", "application/json", r#"{"detail":"no"}"#)
                        }
                    }
                    _ => answer(
                        "404 Not Found",
                        "application/json",
                        r#"{"detail":"Not Found"}"#,
                    ),
                };
                let _ = sock.write_all(reply.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    (port, counts)
}

fn fault_scenario(dir: &Path, name: &str, url: &str, path: &str) -> String {
    scenario_file(
        dir,
        name,
        6,
        &format!("request_timeout_s = 1\n[target]\nurl = \"{url}\"\npath = \"{path}\"\n"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_fault_is_counted_by_kind_and_the_run_completes() {
    let (port, counts) = fault_server(vec!["unused".into()]).await;
    let url = format!("http://127.0.0.1:{port}");
    // A service refusing connections is no longer counted here: it is refused before any load
    // (exit 2; tests/gate_trust.rs).
    let dir = tempdir("faults");
    let scenarios = vec![
        fault_scenario(&dir, "reset", &url, "/reset"),
        fault_scenario(&dir, "timeout", &url, "/hang"),
        fault_scenario(&dir, "server-error", &url, "/500"),
        fault_scenario(&dir, "not-json", &url, "/html"),
        fault_scenario(&dir, "no-usage", &url, "/no-usage"),
        fault_scenario(&dir, "bad-usage", &url, "/bad-usage"),
        fault_scenario(&dir, "huge-usage", &url, "/huge-usage"),
        fault_scenario(&dir, "redirect", &url, "/redirect"),
    ];
    let (outcome, folder, r) = run(RunArgs {
        scenario: scenarios,
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    })
    .await;
    assert_eq!(outcome, postload::Outcome::Success);
    let case = |name: &str| -> &Value {
        r["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["scenario"] == name)
            .unwrap_or_else(|| panic!("no case {name}"))
    };
    let failed = |name: &str, cause: &str| u(&case(name)["posts"]["failed_by_cause"][cause]);
    let resets = counts.resets.load(Ordering::SeqCst);
    assert_eq!(resets, 3, "every other of 6 connections");
    assert_eq!(failed("reset", "reset"), resets);
    assert_eq!(u(&case("reset")["posts"]["ok"]), 6 - resets);
    assert_eq!(failed("timeout", "timeout"), 6);
    let t = case("timeout")["post_latency_ms"]["failed"]["p50"]
        .as_f64()
        .unwrap();
    assert!(
        (950.0..3_000.0).contains(&t),
        "the 1 s request timeout: {t}"
    );
    assert_eq!(failed("server-error", "server_error"), 6);
    assert_eq!(failed("not-json", "bad_body"), 6);
    let nu = case("no-usage");
    assert_eq!(u(&nu["posts"]["ok"]), 6);
    assert_eq!(u(&nu["tokens"]["calls_without_usage"]), 6);
    assert_eq!(nu["tokens"]["source"], "unknown");
    assert_eq!(
        nu["tokens"].get("bad_usage"),
        None,
        "no usage is not a bad one"
    );
    // Before: a usage that was a string failed the post (bad_body); one of 10^12 tokens was
    // priced ($10 per 1M output tokens: $10 million a post). Now both are successful posts with
    // a counted bad usage and unknown tokens: no cost at all.
    for name in ["bad-usage", "huge-usage"] {
        let c = case(name);
        assert_eq!(u(&c["posts"]["ok"]), 6, "{name}");
        assert_eq!(u(&c["tokens"]["bad_usage"]), 6, "{name}");
        assert_eq!(c["tokens"]["source"], "unknown", "{name}");
        assert_eq!(c["cost"], Value::Null, "{name}");
    }
    // Before: the 302 was followed. Now it is an `other_status` failure and nothing reaches
    // the redirect's target.
    assert_eq!(failed("redirect", "other_status"), 6);
    assert_eq!(counts.redirected.load(Ordering::SeqCst), 0);
    // Each case's failures are the only ones it has.
    for c in r["cases"].as_array().unwrap() {
        let by: u64 = c["posts"]["failed_by_cause"]
            .as_object()
            .unwrap()
            .values()
            .map(u)
            .sum();
        assert_eq!(by, u(&c["posts"]["failed"]), "{}", c["scenario"]);
    }
    for f in ["result.json", "report.md", "report.html"] {
        assert!(folder.join(f).is_file(), "{f}");
    }
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(
        md.contains("3 connection reset (failed.reset)")
            && md.contains("6 timed out (failed.timeout)"),
        "{md}"
    );
    assert!(
        md.contains("Impossible usage (bad-usage tier 2: 6 calls; huge-usage tier 2: 6 calls)"),
        "{md}"
    );
    // Token and cost claims on unknown tokens: not measured, never "$0.00000 (-100 %) fails".
    assert!(
        md.contains("not measured (no usage from the target)"),
        "{md}"
    );
    assert!(!md.contains("-100 %"), "{md}");
}

/// Every file under `dir`, recursively.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn assert_secret_absent(secret: &str, dir: &Path, streams: &[&[u8]]) {
    let all = files(dir);
    assert!(all.len() >= 5, "{all:?}");
    for f in all {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret is in {}",
            f.display()
        );
    }
    for s in streams {
        assert!(!s.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }
}

fn random_token(tag: &str) -> String {
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn postload_process(
    args: Vec<String>,
    env: Vec<(&'static str, String)>,
) -> std::process::Output {
    let _guard = goose_lock().await;
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
            .args(args)
            .envs(env)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_sent_but_never_written() {
    let token = random_token("svc-token");
    let key = random_token("sk-test");
    let (port, counts) = fault_server(vec![token.clone(), key.clone()]).await;

    // Service mode: the header reads the environment.
    let dir = tempdir("secrets");
    let s = scenario_file(
        &dir,
        "auth",
        5,
        &format!(
            "[target]\nurl = \"http://127.0.0.1:{port}\"\npath = \"/auth\"\nheaders = {{ Authorization = \"Bearer ${{POSTLOAD_TEST_TOKEN}}\" }}\n"
        ),
    );
    let out = postload_process(
        vec![
            "run".into(),
            "--scenario".into(),
            s,
            "--report-dir".into(),
            dir.join("reports").to_string_lossy().into(),
        ],
        vec![("POSTLOAD_TEST_TOKEN", token.clone())],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        counts.authorized.load(Ordering::SeqCst),
        5,
        "the header was sent"
    );
    let (_, r) = read_result(&dir.join("reports"));
    assert_eq!(
        r["cases"][0]["inputs"]["service"]["header_names"][0],
        "authorization"
    );
    assert_secret_absent(&token, &dir.join("reports"), &[&out.stdout, &out.stderr]);

    // A missing variable is exit 2 naming the file and field, before any load.
    let out = postload_process(
        vec![
            "run".into(),
            "--scenario".into(),
            dir.join("auth.toml").to_string_lossy().into(),
            "--report-dir".into(),
            dir.join("none").to_string_lossy().into(),
        ],
        vec![],
    )
    .await;
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("auth.toml") && err.contains("target.headers.Authorization"),
        "{err}"
    );
    assert!(!dir.join("none").exists());

    // The pipeline against a "remote" endpoint: the API key from the environment.
    let dir = tempdir("secrets-key");
    let out = postload_process(
        vec![
            "run".into(),
            "--scenario".into(),
            "burst-50".into(),
            "--users".into(),
            "4".into(),
            "--tier".into(),
            "2".into(),
            "--base-url".into(),
            format!("http://api.openai.test:{port}/v1"),
            "--resolve".into(),
            format!("api.openai.test:{port}:127.0.0.1"),
            "--allow-spend".into(),
            "--max-cost".into(),
            "1".into(),
            "--api-key-env".into(),
            "POSTLOAD_TEST_KEY".into(),
            "--report-dir".into(),
            dir.to_string_lossy().into(),
        ],
        vec![("POSTLOAD_TEST_KEY", key.clone())],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // 4 posts × 2 calls, each with the key (and the 5 service posts before).
    let (_, r) = read_result(&dir);
    assert_eq!(
        r["cases"][0]["posts"]["ok"], 4,
        "{}",
        r["cases"][0]["posts"]
    );
    assert_eq!(counts.authorized.load(Ordering::SeqCst), 5 + 8);
    assert_eq!(counts.unauthorized.load(Ordering::SeqCst), 0);
    assert_secret_absent(&key, &dir, &[&out.stdout, &out.stderr]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_spend_guard_stops_at_the_cap_with_exit_3_and_writes_the_report() {
    let mut c = config();
    c.tier = 2;
    c.fixed_latency = Some(Duration::from_millis(20));
    let stub = start(c).await;
    let port = stub.address().port();
    let remote = format!("http://api.openai.test:{port}/v1");
    let resolve = format!("api.openai.test:{port}:127.0.0.1");
    let base = |dir: &Path| -> Vec<String> {
        [
            "run",
            "--scenario",
            "burst-50",
            "--tier",
            "2",
            "--base-url",
            &remote,
            "--resolve",
            &resolve,
            "--api-key-env",
            "POSTLOAD_TEST_KEY",
            "--report-dir",
            &dir.to_string_lossy(),
        ]
        .map(String::from)
        .to_vec()
    };
    let key = || vec![("POSTLOAD_TEST_KEY", "sk-test-budget".to_string())];

    // Outside loopback without --allow-spend, or without --max-cost: exit 2, nothing sent.
    let dir = tempdir("guard-refused");
    let out = postload_process(base(&dir), key()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-spend"));
    let mut args = base(&dir);
    args.push("--allow-spend".into());
    let out = postload_process(args, key()).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-cost"));
    assert_eq!(stub.stats().chat_requests, 0);

    // With both: the estimate first, then a stop at the cap.
    let dir = tempdir("guard");
    let mut args = base(&dir);
    args.extend(["--allow-spend", "--max-cost", "0.05"].map(String::from));
    let out = postload_process(args, key()).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    // 50 posts × ($0.00566 + $0.00816) if every call reaches max_tokens and bills the largest
    // prompt a usage may report and be believed (2 × sent + 64): image 1,664 × 2.5 + 150 × 10,
    // caption 2,464 × 2.5 + 200 × 10 per 1M.
    assert!(stderr.contains("at most $0.6910"), "{stderr}");
    let (folder, r) = read_result(&dir);
    let b = &r["budget"];
    assert_eq!(b["stopped"], true);
    assert!(u(&b["calls_refused"]) > 0);
    let spent = b["spent_usd"].as_f64().unwrap();
    assert!(spent > 0.0 && spent <= 0.05, "{spent}");
    // What the guard counted is what the stub served, at gpt-4o prices.
    let s = stub.stats();
    let (prompt, _, completion) = s.tokens();
    let stub_cost = (prompt as f64 * 2.5 + completion as f64 * 10.0) / 1e6;
    assert!((spent - stub_cost).abs() < 1e-9, "{spent} vs {stub_cost}");
    // A post's image call reserves its worst case first: 1,664 x $2.50 + 150 x $10.00 per 1M =
    // $0.00566. The 50 posts reserve at once: 0.05 / 0.00566 = 8.8, so exactly 8 fit, the
    // 9th trips the guard, and the attack stops before anything else is sent.
    assert_eq!(s.chat_requests, 8);
    let case = &r["cases"][0];
    assert!(u(&case["posts"]["failed_by_cause"]["budget_stopped"]) > 0);
    assert_eq!(r["interrupted"], false, "a budget stop is not a Ctrl-C");
    let md = std::fs::read_to_string(folder.join("report.md")).unwrap();
    assert!(md.contains("the cap was reached"), "{md}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_answers_like_the_notes_service_and_retries_like_the_sdk() {
    let mut c = config();
    c.tier = 2;
    c.faults.first_n_429 = 2;
    let openai = start(c).await;
    let mut cfg = ExampleConfig::new(&openai.base_url());
    cfg.memory_delay = Duration::from_millis(1);
    let service = example::start(cfg.clone(), stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let client = crate::common::client();
    let post = |body: Value| {
        let client = client.clone();
        let url = format!("{}/api/marketing-post", service.url());
        async move {
            let r = client.post(url).json(&body).send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    // The first two OpenAI calls get 429s: the SDK policy retries them and the post succeeds.
    let (status, a) = post(serde_json::json!({
        "business": "Rosa's Bakery", "topic": "pumpkin bread", "platform": "Instagram"
    }))
    .await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["calls"], 2);
    assert_eq!(a["model"], "gpt-4o");
    assert!(!a["caption"].as_str().unwrap().is_empty());
    assert!(!a["image_prompt"].as_str().unwrap().is_empty());
    let s = openai.stats();
    assert_eq!((s.status(429), s.status(200)), (2, 2));
    let (prompt, _, completion) = s.tokens();
    assert_eq!(a["usage"]["prompt_tokens"], prompt);
    assert_eq!(a["usage"]["completion_tokens"], completion);
    // About the note's 800 + 1,200 prompt tokens.
    assert!((1_900..=2_100).contains(&prompt), "{prompt}");

    // A post that brings its image prompt makes one call, with that prompt in it.
    let (status, b) = post(serde_json::json!({
        "business": "Atlas Hardware", "topic": "a workshop", "platform": "LinkedIn",
        "image_prompt": "A workbench in morning light"
    }))
    .await;
    assert_eq!((status, b["calls"].as_u64()), (200, Some(1)));
    assert_eq!(b["image_prompt"], "A workbench in morning light");
    assert_eq!(openai.stats().status(200), 3);

    // The image it links is served, and is a PNG.
    let img = client
        .get(format!(
            "{}{}",
            service.url(),
            b["image_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(img.status(), 200);
    let bytes = img.bytes().await.unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1, 1));

    // FastAPI's 422 for a body that does not fit.
    let (status, e) = post(serde_json::json!({"business": "x"})).await;
    assert_eq!(status, 422);
    assert!(e["detail"].as_str().unwrap().contains("topic"), "{e}");

    // Without retries, the 429 comes back to the client as a 429.
    openai.reset().await.unwrap();
    cfg.retry = postload::openai::retry::RetryPolicy::None;
    let strict = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let r = client
        .post(format!("{}/api/marketing-post", strict.url()))
        .json(&serde_json::json!({"business": "a", "topic": "b", "platform": "c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["detail"]["upstream_status"], 429);
    assert_eq!(body["detail"]["attempts"], 1);
}
