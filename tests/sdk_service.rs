//! The gate's commands against a service on the official openai SDK, not the example service
//! (issue 17: the figures need nothing but the SDK's habits): tests/fixtures/sdk_service/app.py,
//! a FastAPI service on openai-python, run with `python3 -m uvicorn` under its own gate file.
//! Ignored by default: it needs `pip install openai==3.57.0 fastapi==0.165.0 uvicorn==0.54.0` (`.ci/run` does
//! it, then runs `cargo test --test tests -- --ignored sdk_service`). The same filter runs the
//! SDK's check of both endpoints on a reasoning model (tests/fixtures/sdk_service/endpoints.py).

use std::process::{Child, Command, Stdio};

use postload::cli::{Cli, Command as Cmd, RunArgs};

use crate::common::{goose_lock, tempdir};
use crate::regressions::free_port;

/// The service's process, killed when dropped.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts app.py on `port`, its OpenAI calls to the stub that will listen on `stub_port`.
fn start(port: u16, stub_port: u16, extra_call: bool) -> Service {
    let ok = Command::new("python3")
        .args(["-c", "import openai, fastapi, uvicorn"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "needs python3 with `pip install openai==3.57.0 fastapi==0.165.0 uvicorn==0.54.0`"
    );
    let child = Command::new("python3")
        .args([
            "-m",
            "uvicorn",
            "app:app",
            "--app-dir",
            "tests/fixtures/sdk_service",
        ])
        .args([
            "--host",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--log-level",
            "warning",
        ])
        .env(
            "OPENAI_BASE_URL",
            format!("http://127.0.0.1:{stub_port}/v1"),
        )
        .env("OPENAI_API_KEY", "sk-postload-test")
        .env("SDK_SERVICE_EXTRA_CALL", if extra_call { "1" } else { "0" })
        .stdout(Stdio::null())
        .spawn()
        .expect("python3 starts");
    Service(child)
}

/// The gate's run (the README's command) against app.py: the outcome and the metrics of the
/// thresholds that failed.
async fn gate(extra_call: bool, tag: &str) -> (postload::Outcome, Vec<String>) {
    let (port, stub_port) = (free_port(), free_port());
    let _service = start(port, stub_port, extra_call);
    let dir = tempdir(tag);
    let _guard = goose_lock().await;
    let outcome = postload::run(Cli {
        command: Some(Cmd::Run(Box::new(RunArgs {
            target: Some(format!("http://127.0.0.1:{port}")),
            with_stub: Some(stub_port),
            wait_for_target: Some(30.0),
            latency_ms: Some(50),
            scenario: vec![
                "scenarios/service-check.toml".into(),
                "scenarios/service-429.toml".into(),
            ],
            gate: Some("tests/fixtures/sdk_service/gate.toml".into()),
            output: postload::cli::ReportDir {
                report_dir: dir.join("reports"),
            },
            verbosity: postload::cli::Verbosity { quiet: true },
            ..RunArgs::default()
        }))),
        run: RunArgs::default(),
    })
    .await
    .expect("the run completes");
    (outcome, crate::regressions::failed_in(&dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with openai==3.57.0, fastapi and uvicorn"]
async fn sdk_service_passes_its_gate_and_a_third_call_fails_it() {
    let (outcome, failed) = gate(false, "sdk-ok").await;
    assert_eq!(
        (outcome, failed.len()),
        (postload::Outcome::Success, 0),
        "{failed:?}"
    );
    let (outcome, failed) = gate(true, "sdk-extra-call").await;
    assert_eq!(outcome, postload::Outcome::GateFailed);
    // The third call (max_tokens 30) is neither the image prompt's nor the caption's type.
    assert_eq!(
        failed,
        ["service.calls_per_post", "service.other.calls_per_post"]
    );
}

/// The official openai SDK drives the stub's two endpoints on a reasoning model (issue 30):
/// tests/fixtures/sdk_service/endpoints.py calls `client.responses.create` (streamed and not),
/// `client.responses.stream`, a refused `max_output_tokens`, and chat completions with
/// `max_completion_tokens` (streamed and not), asserting what the SDK parsed; here its
/// figures are checked against the stub's own counters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs python3 with openai==3.57.0"]
async fn sdk_service_drives_responses_and_chat_completions_on_gpt_5_mini() {
    let mut cfg = crate::common::config();
    cfg.fixed_latency = Some(std::time::Duration::from_millis(5));
    let listener = postload::stub::bind_loopback(0).expect("bind 127.0.0.1:0");
    let stub = postload::stub::start(cfg, listener).await.expect("stub");
    let base = stub.base_url();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg("tests/fixtures/sdk_service/endpoints.py")
            .env("OPENAI_BASE_URL", base)
            .env("OPENAI_API_KEY", "sk-postload-test")
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "endpoints.py failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("its JSON");
    assert_eq!(seen["sdk"], "3.57.0", "{seen}");
    // The 400 the SDK raised names the param, with OpenAI's code.
    assert_eq!(
        seen["bad_field"],
        serde_json::json!({"status": 400, "param": "max_output_tokens", "code": "integer_below_min_value"})
    );
    // Five calls answered 200 and one 400: the stub billed what the SDK read, call for call.
    let stats = stub.stats();
    assert_eq!(stats.by_status.get(&200), Some(&5), "{stats:?}");
    assert_eq!(stats.by_status.get(&400), Some(&1));
    let billed: u64 = [
        &seen["responses"]["output_tokens"],
        &seen["responses_stream"]["output_tokens"],
        &seen["responses_stream_helper"]["output_tokens"],
        &seen["chat"]["completion_tokens"],
        &seen["chat_stream"]["completion_tokens"],
    ]
    .iter()
    .map(|v| v.as_u64().expect("a count"))
    .sum();
    assert_eq!(stats.models["gpt-5-mini"].completion_tokens, billed);
}
