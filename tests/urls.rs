//! Secrets in URLs (issue 24, item 5): a user, password, query or fragment given in `--base-url`
//! or `--target` reaches no output (result.json, report.md, report.html, JUnit, charts, the
//! console); a base URL's query no longer swallows the request path; and the example service
//! never relays an upstream's error text (where a hostile upstream can echo the key).

use std::path::Path;
use std::sync::{Arc, Mutex};

use postload::{example, stub};
use serde_json::Value;

use crate::common::{config, start, tempdir};
use crate::regressions::free_port;

/// Every part of the URLs below that may hold a key; none may appear in any output.
const SECRETS: [&str; 4] = ["SECRETUSER", "SECRETPASS", "SECRETQUERY", "SECRETFRAG"];

fn scenario(dir: &Path) -> String {
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "name = \"s\"\nmodel = \"gpt-4o\"\ntiers = [1]\nseed = 5\n[load]\nkind = \"burst\"\nusers = 3\n[[thresholds]]\nchecks = [\"post.p95_ms <= 600000\"]\n",
    )
    .unwrap();
    file.to_string_lossy().into_owned()
}

/// `postload ARGS` as a process (off the runtime's threads): exit code and console.
async fn postload(args: Vec<String>) -> (i32, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
            .args(&args)
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap();
        let console = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code().unwrap_or(-1), console)
    })
    .await
    .unwrap()
}

/// Every file under `dir`, read as text (lossy): (path, text).
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files(&p));
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap()).into_owned();
            out.push((p.display().to_string(), text));
        }
    }
    out
}

fn assert_no_secret(what: &str, text: &str) {
    for s in SECRETS {
        assert!(!text.contains(s), "{what} shows `{s}`:\n{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_in_the_base_urls_query_or_fragment_reaches_no_output() {
    let stub = start(config()).await;
    let dir = tempdir("urls-base");
    let base = format!("{}?key=SECRETQUERY#SECRETFRAG", stub.base_url());
    let (code, console) = postload(vec![
        "run".into(),
        "--scenario".into(),
        scenario(&dir),
        "--base-url".into(),
        base,
        "--report-dir".into(),
        dir.join("reports").display().to_string(),
        "--junit".into(),
        dir.join("junit.xml").display().to_string(),
    ])
    .await;
    assert_eq!(code, 0, "{console}");
    assert_no_secret("the console", &console);
    let written = files(&dir);
    assert!(written.iter().any(|(p, _)| p.ends_with("result.json")));
    assert!(written.iter().any(|(p, _)| p.ends_with("report.md")));
    assert!(written.iter().any(|(p, _)| p.ends_with("report.html")));
    assert!(written.iter().any(|(p, _)| p.ends_with("junit.xml")));
    for (path, text) in &written {
        assert_no_secret(path, text);
    }
    // The URL is shown, without its query and fragment.
    let (_, result) = crate::common::read_result(&dir.join("reports"));
    let shown = result["target"]["base_url"].as_str().unwrap_or_default();
    assert_eq!(shown, stub.base_url(), "{}", result["target"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_password_in_the_target_url_reach_no_output() {
    let port = free_port();
    let mut cfg = example::ExampleConfig::new(&format!("http://127.0.0.1:{port}/v1"));
    cfg.memory_delay = std::time::Duration::ZERO;
    let service = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let target = service
        .url()
        .replace("http://", "http://SECRETUSER:SECRETPASS@")
        + "/?token=SECRETQUERY#SECRETFRAG";
    let dir = tempdir("urls-target");
    let (code, console) = postload(vec![
        "run".into(),
        "--scenario".into(),
        scenario(&dir),
        "--target".into(),
        target,
        "--with-stub".into(),
        port.to_string(),
        "--wait-for-target".into(),
        "5".into(),
        "--latency-ms".into(),
        "0".into(),
        "--report-dir".into(),
        dir.join("reports").display().to_string(),
        "--junit".into(),
        dir.join("junit.xml").display().to_string(),
    ])
    .await;
    assert_eq!(code, 0, "{console}");
    assert_no_secret("the console", &console);
    for (path, text) in files(&dir) {
        assert_no_secret(&path, &text);
    }
    let (_, result) = crate::common::read_result(&dir.join("reports"));
    let url = result["cases"][0]["inputs"]["service"]["url"].clone();
    assert_eq!(url, Value::String(service.url()), "{result}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_and_password_in_the_base_url_are_refused_without_being_echoed() {
    let dir = tempdir("urls-userinfo");
    let (code, console) = postload(vec![
        "run".into(),
        "--scenario".into(),
        scenario(&dir),
        "--base-url".into(),
        "http://SECRETUSER:SECRETPASS@127.0.0.1:9/v1?k=SECRETQUERY".into(),
        "--report-dir".into(),
        dir.join("reports").display().to_string(),
    ])
    .await;
    assert_eq!(code, 2, "{console}");
    assert!(
        console.contains("--base-url `http://127.0.0.1:9/v1`"),
        "{console}"
    );
    assert_no_secret("the console", &console);
}

/// A loopback server answering every POST with a completion, recording each request's target
/// (path and query) as the server saw it.
async fn recording_server() -> (std::net::SocketAddr, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let log = Arc::clone(&log);
        async move {
            log.lock().unwrap().push(uri.to_string());
            axum::Json(serde_json::json!({
                "id": "chatcmpl-x",
                "object": "chat.completion",
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "word word"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102}
            }))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_in_the_base_url_no_longer_swallows_the_request_path() {
    // Before: the server saw `POST /v1?api-version=7/chat/completions`.
    let (addr, seen) = recording_server().await;
    let dir = tempdir("urls-join");
    let (code, console) = postload(vec![
        "run".into(),
        "--scenario".into(),
        scenario(&dir),
        "--base-url".into(),
        format!(
            "http://127.0.0.1:{}/v1/?api-version=7#SECRETFRAG",
            addr.port()
        ),
        "--report-dir".into(),
        dir.join("reports").display().to_string(),
    ])
    .await;
    assert_eq!(code, 0, "{console}");
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for target in &seen {
        assert_eq!(target, "/v1/chat/completions?api-version=7");
    }
}

/// An upstream that refuses every call with OpenAI's 401, echoing the key it was sent in the
/// message and in `x-request-id` (as a hostile or misconfigured gateway can).
async fn echoing_upstream() -> std::net::SocketAddr {
    use axum::http::HeaderMap;
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let key = auth.trim_start_matches("Bearer ").to_string();
        (
            axum::http::StatusCode::UNAUTHORIZED,
            [("x-request-id", key.clone())],
            axum::Json(serde_json::json!({"error": {
                "message": format!("Incorrect API key provided: {key}."),
                "type": "invalid_request_error", "param": null, "code": "invalid_api_key"
            }})),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_never_relays_an_upstreams_error_text_holding_the_key() {
    let upstream = echoing_upstream().await;
    let mut cfg = example::ExampleConfig::new(&format!("http://{upstream}/v1"));
    cfg.api_key = Some(postload::secret::Secret::new("sk-SECRETPASS".into()));
    cfg.memory_delay = std::time::Duration::ZERO;
    cfg.retry = postload::openai::retry::RetryPolicy::None;
    let service = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let r = crate::common::client()
        .post(format!("{}/api/marketing-post", service.url()))
        .json(&serde_json::json!({"business": "a", "topic": "b", "platform": "c"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = format!("{:?}", r.headers());
    let body = r.text().await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert_no_secret("the service's answer", &body);
    assert_no_secret("the service's headers", &headers);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["detail"]["upstream_status"], 401);
    assert_eq!(v["detail"]["message"], "OpenAI answered 401");
    // The id held the key: it is dropped, not relayed.
    assert!(v["detail"]["upstream_request_id"].is_null(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calibrate_joins_and_redacts_the_base_url_as_run_does() {
    let (addr, seen) = recording_server().await;
    let dir = tempdir("urls-calibrate");
    let (_, console) = postload(vec![
        "calibrate".into(),
        "--base-url".into(),
        format!(
            "http://127.0.0.1:{}/v1?key=SECRETQUERY#SECRETFRAG",
            addr.port()
        ),
        "--model".into(),
        "gpt-4o".into(),
        "--calls".into(),
        "12".into(),
        "--stream".into(),
        "off".into(),
        "--out".into(),
        dir.join("cal").display().to_string(),
    ])
    .await;
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "{console}");
    for target in &seen {
        assert_eq!(target, "/v1/chat/completions?key=SECRETQUERY");
    }
    assert_no_secret("the console", &console);
    let written = files(&dir);
    assert!(
        written.iter().any(|(p, _)| p.ends_with("calibration.json")),
        "{console}"
    );
    for (path, text) in &written {
        assert_no_secret(path, text);
    }
}
