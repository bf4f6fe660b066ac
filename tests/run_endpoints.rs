//! The scenario's `endpoint`: the post pipeline on chat completions or on the Responses API
//! against the embedded stub (one seed, the same posts, tokens and cost on either), and the
//! example service on the Responses API in service mode, its calls counted by the stub alongside.

use clap::Parser;
use postload::cli::{Cli, Command, RunArgs};
use postload::example;
use postload::scenario::prompts::ApiEndpoint;
use postload::stub;
use serde_json::Value;

use crate::common::{goose_lock, read_result, tempdir};

/// `postload run` on a scenario file (`extra` lines before `[load]`): 20 posts at once, tier 2
/// (no 429s at this size), on the embedded stub with the models' own profiles (so completions
/// are drawn, not fixed) at 20 times speed; its one case.
fn run_case(tag: &str, model: &str, extra: &str) -> Value {
    let dir = tempdir(tag);
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!("name = \"s\"\nmodel = \"{model}\"\ntiers = [2]\nseed = 11\n{extra}[load]\nkind = \"burst\"\nusers = 20\n"),
    )
    .unwrap();
    let out = dir.join("reports");
    let _ = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["run", "--quiet", "--time-scale", "20", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&out)
        .output()
        .unwrap();
    let (_, r) = read_result(&out);
    r["cases"][0].clone()
}

/// The figures that must not depend on the endpoint: posts and their causes, calls, tokens
/// (all, by call), cost, and what the stub counted (its modelled latencies' sum rounded to the
/// µs: the same latencies summed in another arrival order differ in the last bits).
fn figures(c: &Value) -> Value {
    let mut models = c["stub"]["models"].clone();
    for (_, m) in models
        .as_object_mut()
        .expect("the stub's models")
        .iter_mut()
    {
        let sum = m["latency_ms_sum"].as_f64().expect("a latency sum");
        m["latency_ms_sum"] = ((sum * 1000.0).round() as u64).into();
    }
    serde_json::json!({
        "posts": {
            "total": c["posts"]["total"],
            "ok": c["posts"]["ok"],
            "failed_by_cause": c["posts"]["failed_by_cause"],
        },
        "calls": c["calls"]["calls"],
        "tokens": c["tokens"]["total"],
        "token_source": c["tokens"]["source"],
        "bad_usage": c["tokens"]["bad_usage"],
        "by_call": c["tokens"]["by_call"],
        "cost": c["cost"]["total_usd"],
        "stub_requests": c["stub"]["chat_requests"],
        "stub_200": c["stub"]["by_status"]["200"],
        "stub_models": models,
    })
}

/// The case's figures on chat and on the Responses API (the scenario's `extra` lines after
/// the endpoint's), checked equal, every post answered; the chat run's.
fn same_on_either(tag: &str, model: &str, extra: &str) -> Value {
    let chat = figures(&run_case(&format!("{tag}-chat"), model, extra));
    let resp = figures(&run_case(
        &format!("{tag}-resp"),
        model,
        &format!("endpoint = \"responses\"\n{extra}"),
    ));
    assert_eq!(chat["posts"]["ok"], 20, "{tag}: {chat}");
    assert_eq!(chat["calls"], 40, "{tag}: {chat}");
    // 20 posts × 2 calls reached the stub, all answered.
    assert_eq!(resp["stub_requests"], 40, "{tag}: {resp}");
    assert_eq!(chat, resp, "{tag}");
    chat
}

#[test]
fn one_seed_gives_the_same_posts_tokens_and_cost_on_either_endpoint() {
    // The stub draws a call's tokens from its draw stream (post, attempt) whatever the
    // endpoint, and counts `instructions` as the system message: the same prompts, the same
    // draws, so the same figures to the token and the dollar.
    //
    // gpt-4o: every call's usage is read, so the cost is known (and must match).
    let chat = same_on_either("ep-4o", "gpt-4o", "");
    assert_eq!(chat["token_source"], "responses", "{chat}");
    assert!(chat["cost"].as_f64().unwrap() > 0.0, "{chat}");
    // Drawn completions, not the fixed profile's 100 a call.
    assert_ne!(chat["tokens"]["completion"], 4_000, "{chat}");

    // A reasoning model with room to reason: its reasoning tokens are drawn alike.
    let chat = same_on_either(
        "ep-5-low",
        "gpt-5-mini",
        "reasoning_effort = \"low\"\n[prompts]\nimage_prompt = { prompt_tokens = 800, max_tokens = 4000 }\ncaption = { prompt_tokens = 1200, max_tokens = 4000 }\n",
    );
    // Regression: the caption's prompt was estimated with the image call's whole completion,
    // reasoning included (hundreds of tokens the image prompt does not have), so its true
    // usage looked impossible: 2 of the 40 usages at this seed read as bad, so the tokens were
    // unknown and the cost too.
    // Now only the visible tokens count, as the planner counts them.
    assert_eq!(chat["bad_usage"], Value::Null, "{chat}");
    assert_eq!(chat["token_source"], "responses", "{chat}");
    assert!(chat["cost"].as_f64().unwrap() > 0.0, "{chat}");
}

#[test]
fn the_cases_inputs_record_the_endpoint_and_the_effort_only_when_not_the_default() {
    // The default run's inputs carry neither (so earlier results and snapshots stay as they
    // were): chat completions on gpt-4o, which does not reason.
    let default = run_case("in-default", "gpt-4o", "");
    let inputs = default["inputs"].as_object().unwrap();
    assert!(!inputs.contains_key("endpoint"), "{default:#}");
    assert!(!inputs.contains_key("reasoning_effort"), "{default:#}");
    // The Responses API on a model that does not reason: the endpoint alone.
    let resp = run_case("in-resp", "gpt-4o", "endpoint = \"responses\"\n");
    assert_eq!(resp["inputs"]["endpoint"], "responses", "{resp:#}");
    assert_eq!(resp["inputs"].get("reasoning_effort"), None, "{resp:#}");
    // gpt-5-mini at a named effort on chat: the effort alone.
    let high = run_case(
        "in-high",
        "gpt-5-mini",
        "reasoning_effort = \"high\"\n[prompts]\nimage_prompt = { prompt_tokens = 800, max_tokens = 4000 }\ncaption = { prompt_tokens = 1200, max_tokens = 4000 }\n",
    );
    assert_eq!(high["inputs"]["reasoning_effort"], "high", "{high:#}");
    assert_eq!(high["inputs"].get("endpoint"), None, "{high:#}");
    // Naming none runs at the model's default (medium for gpt-5-mini, mocks/models.toml),
    // and that is what the case ran at: recorded, with the endpoint.
    let default_effort = run_case("in-5-resp", "gpt-5-mini", "endpoint = \"responses\"\n");
    assert_eq!(default_effort["inputs"]["reasoning_effort"], "medium");
    assert_eq!(default_effort["inputs"]["endpoint"], "responses");
}

#[test]
fn reasoning_that_spends_the_whole_cap_fails_the_same_posts_as_empty_answers_on_either_endpoint() {
    // gpt-5-mini at its default effort (medium, a median of 640 reasoning tokens) with the
    // note's caps (150, 200): nearly every image call spends its cap reasoning. On chat that
    // is `length` with empty content; on the Responses API an `incomplete` response with no
    // message. Either way the post fails `empty_answer`, billed: the same posts, the same cost.
    let chat = figures(&run_case("ep-empty-chat", "gpt-5-mini", ""));
    let resp = figures(&run_case(
        "ep-empty-resp",
        "gpt-5-mini",
        "endpoint = \"responses\"\n",
    ));
    let failed = resp["posts"]["failed_by_cause"]["empty_answer"]
        .as_u64()
        .unwrap_or(0);
    assert!(failed >= 18, "{resp}");
    assert!(resp["cost"].as_f64().unwrap() > 0.0, "{resp}");
    assert_eq!(chat, resp);
}

#[test]
fn a_responses_scenario_with_a_cap_below_16_is_refused_naming_the_field() {
    let dir = tempdir("ep-cap");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "name = \"s\"\nmodel = \"gpt-4o\"\nendpoint = \"responses\"\n[load]\nkind = \"burst\"\nusers = 1\n[prompts]\nimage_prompt = { prompt_tokens = 800, max_tokens = 8 }\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("field `prompts.image_prompt`: max_tokens 8 is below 16"),
        "{err}"
    );
}

#[test]
fn a_responses_endpoint_in_service_mode_is_refused_naming_the_field() {
    // The service makes its own calls: the scenario's endpoint would change nothing.
    let dir = tempdir("ep-svc-field");
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        "name = \"s\"\nmodel = \"gpt-4o\"\nendpoint = \"responses\"\n[load]\nkind = \"burst\"\nusers = 1\n",
    )
    .unwrap();
    let out = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args([
            "run",
            "--quiet",
            "--target",
            "http://127.0.0.1:9",
            "--scenario",
        ])
        .arg(&file)
        .arg("--report-dir")
        .arg(dir.join("reports"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("field `endpoint`: in service mode the service picks its OpenAI endpoint"),
        "{err}"
    );
}

use crate::common::unused_port as free_port;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_on_the_responses_api_is_counted_by_the_stub_alongside() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}/v1");
    // Set up as `postload example-service --openai-endpoint responses` sets it up.
    let argv = [
        "postload",
        "example-service",
        "--base-url",
        &base,
        "--memory-ms",
        "5",
        "--openai-endpoint",
        "responses",
    ];
    let Some(Command::ExampleService(service_args)) = Cli::try_parse_from(argv).unwrap().command
    else {
        panic!("example-service parses");
    };
    let cfg = postload::config::example_config(&service_args).unwrap();
    assert_eq!(cfg.endpoint, ApiEndpoint::Responses);
    let service = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let dir = tempdir("ep-service");
    let file = dir.join("svc.toml");
    std::fs::write(
        &file,
        "name = \"svc\"\nmodel = \"gpt-4o\"\ntiers = [2]\nseed = 5\n[load]\nkind = \"burst\"\nusers = 12\n",
    )
    .unwrap();
    let args = RunArgs {
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
    };
    let outcome = {
        let _guard = goose_lock().await;
        postload::run(Cli {
            command: Some(Command::Run(Box::new(args))),
            run: RunArgs::default(),
        })
        .await
        .expect("the run completes")
    };
    assert_eq!(outcome, postload::Outcome::Success);
    let (run_dir, r) = read_result(&dir.join("reports"));
    let case = &r["cases"][0];
    assert_eq!(case["posts"]["ok"], 12, "{case}");
    // 12 posts × 2 Responses calls, each answered 200, each counted by the stub: in all
    // (`chat_requests`, the total) and apart.
    let stub = &case["stub"];
    assert_eq!(stub["chat_requests"], 24, "{stub}");
    assert_eq!(stub["responses_requests"], 24, "{stub}");
    // The service called the Responses API for every post: the case's inputs say so.
    assert_eq!(
        case["inputs"]["endpoint"], "responses",
        "{}",
        case["inputs"]
    );
    assert_eq!(stub["by_status"]["200"], 24, "{stub}");
    // The tokens the service reported (its Responses usage, summed in chat's names) are the
    // tokens the stub counted.
    let t = &case["tokens"];
    assert_eq!(t["source"], "responses");
    let m = &stub["models"]["gpt-4o"];
    assert_eq!(t["total"]["prompt"], m["prompt_tokens"], "{t} {m}");
    assert_eq!(t["total"]["completion"], m["completion_tokens"], "{t} {m}");
    // The service's per-post figures count the Responses calls: two calls a post, one of each
    // type (told apart by max_output_tokens 150 and 200), every post traced.
    let s = &case["service"];
    assert_eq!(s["calls_per_post"], 2.0, "{s}");
    assert_eq!(s["requests_per_post"], 2.0, "{s}");
    assert_eq!(s["by_call"]["image_prompt"]["calls_per_post"], 1.0, "{s}");
    assert_eq!(s["by_call"]["caption"]["calls_per_post"], 1.0, "{s}");
    assert_eq!(s["per_post"]["traced_posts"], 12, "{s}");
    assert_eq!(s["per_post"]["untraced_posts"], 0, "{s}");
    assert_eq!(s["per_post"]["retries_per_post"], 0.0, "{s}");
    assert_eq!(s["per_post"]["untracked_requests"], 0, "{s}");
    // report.md's service table: 24 OpenAI calls, 2.00 a post; the results table's model says
    // the Responses API.
    let md = std::fs::read_to_string(run_dir.join("report.md")).unwrap();
    let row = md
        .lines()
        .find(|l| l.starts_with("| svc | 2 | ") && l.contains("127.0.0.1"))
        .unwrap_or_else(|| panic!("a service row: {md}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    // | scenario | tier | service | posts | p50 | p95 | p99 | OpenAI calls | calls/post | ...
    assert_eq!(
        (cells[4], cells[8], cells[9]),
        ("12", "24", "2.00"),
        "{row}"
    );
    assert!(md.contains("| gpt-4o (Responses API) |"), "{md}");
}

#[test]
fn the_example_services_endpoint_is_chat_by_default_and_another_name_is_refused() {
    let parse = |extra: &[&str]| {
        let mut argv = vec!["postload", "example-service"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).map(|c| c.command) {
            Ok(Some(Command::ExampleService(a))) => Ok(a.openai_endpoint),
            Ok(_) => panic!("example-service parses as itself"),
            Err(e) => Err(e.to_string()),
        }
    };
    assert_eq!(parse(&[]), Ok(ApiEndpoint::Chat));
    assert_eq!(parse(&["--openai-endpoint", "chat"]), Ok(ApiEndpoint::Chat));
    let e = parse(&["--openai-endpoint", "completions"]).unwrap_err();
    assert!(
        e.contains("--openai-endpoint") && e.contains("chat") && e.contains("responses"),
        "{e}"
    );
}

/// An upstream that answers only `POST /v1/responses` (anything else 404), with a fixed
/// response, keeping each body it was sent.
async fn responses_only_upstream() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::routing::post;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Value>::new()));
    let keep = std::sync::Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/v1/responses",
        post(move |body: axum::Json<Value>| {
            let keep = std::sync::Arc::clone(&keep);
            async move {
                keep.lock().unwrap().push(body.0);
                axum::Json(serde_json::json!({
                    "id": "resp_1", "object": "response", "status": "completed",
                    "output": [
                        {"type": "reasoning", "summary": []},
                        {"type": "message", "role": "assistant", "content": [
                            {"type": "output_text", "text": "Fresh bread, "},
                            {"type": "output_text", "text": "warm at 7."}]}],
                    "usage": {"input_tokens": 900, "input_tokens_details": {"cached_tokens": 100},
                        "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 10},
                        "total_tokens": 940}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_with_openai_endpoint_responses_sends_responses_bodies_and_reads_them()
{
    let (base, seen) = responses_only_upstream().await;
    let argv = [
        "postload",
        "example-service",
        "--base-url",
        &base,
        "--memory-ms",
        "0",
        "--openai-endpoint",
        "responses",
    ];
    let (status, a) = post_once_to_example_service(&argv).await;
    // On chat completions this upstream answers 404: a 200 means both calls went to /responses.
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["calls"], 2, "{a}");
    // The message's two text parts, joined; the reasoning item is no text.
    assert_eq!(a["caption"], "Fresh bread, warm at 7.");
    assert_eq!(a["image_prompt"], "Fresh bread, warm at 7.");
    // Two calls' Responses usage in chat's names: 2 × 900 in (2 × 100 cached), 2 × 40 out.
    let u = &a["usage"];
    assert_eq!(
        (
            &u["prompt_tokens"],
            &u["prompt_tokens_details"]["cached_tokens"],
            &u["completion_tokens"],
            &u["total_tokens"]
        ),
        (
            &Value::from(1_800),
            &Value::from(200),
            &Value::from(80),
            &Value::from(1_880)
        )
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    for (body, cap) in seen.iter().zip([150, 200]) {
        assert_eq!(body["max_output_tokens"], cap, "{body}");
        assert!(body["instructions"].is_string(), "{body}");
        assert!(body["input"]
            .as_str()
            .unwrap()
            .starts_with("Business: Rosa's Bakery"));
        assert_eq!(body.get("messages"), None, "{body}");
        assert_eq!(body.get("max_tokens"), None, "{body}");
    }
    // The caption's input carries the image prompt the first call wrote.
    assert!(seen[1]["input"]
        .as_str()
        .unwrap()
        .ends_with("Image prompt: Fresh bread, warm at 7."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_service_on_a_reasoning_model_caps_its_chat_calls_with_max_completion_tokens() {
    // Before: the example service sent `max_tokens` whatever its model, so on gpt-5-mini every
    // chat call got OpenAI's 400 ("Unsupported parameter: 'max_tokens' ..."). Now a reasoning
    // model's calls, the extra hashtags call too, send `max_completion_tokens`.
    let mut c = crate::common::config();
    c.fixed_latency = Some(std::time::Duration::from_millis(1));
    let openai = crate::common::start(c).await;
    let base = openai.base_url();
    let argv = [
        "postload",
        "example-service",
        "--base-url",
        &base,
        "--model",
        "gpt-5-mini",
        "--memory-ms",
        "0",
        "--extra-call",
    ];
    let (status, a) = post_once_to_example_service(&argv).await;
    assert_eq!(status, 200, "{a}");
    let s = openai.stats();
    // Three calls (image prompt, caption, hashtags), every one answered 200: none refused.
    assert_eq!(s.chat_requests, 3, "{s:?}");
    assert_eq!(s.by_status.get(&200), Some(&3), "{:?}", s.by_status);
    assert_eq!(s.by_status.get(&400), None, "{:?}", s.by_status);
}

/// Starts `postload example-service` as `argv` configures it and posts it one marketing post:
/// the status and the JSON it answered.
async fn post_once_to_example_service(argv: &[&str]) -> (u16, Value) {
    let Some(Command::ExampleService(args)) = Cli::try_parse_from(argv).unwrap().command else {
        panic!("example-service parses");
    };
    let cfg = postload::config::example_config(&args).unwrap();
    let service = example::start(cfg, stub::bind_loopback(0).unwrap())
        .await
        .unwrap();
    let r = crate::common::client()
        .post(format!("{}/api/marketing-post", service.url()))
        .json(&serde_json::json!({"business": "Rosa's Bakery", "topic": "bread", "platform": "X"}))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}
