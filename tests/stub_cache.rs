//! The stub's prompt caching (OpenAI's rule: from 1,024 tokens, in 128-token steps, up to the
//! longest prefix the model was sent before, a profile's share of the time) and its paced
//! stream, over real HTTP; and what prompt caching does to a run's cost.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use postload::cli::RunArgs;
use postload::config::run_config;
use postload::openai::tokens::bpe;
use serde_json::{json, Value};

use crate::common::{client, config, goose_lock, post, read_result, start, tempdir};

/// `words` o200k tokens: "hello" then " hello" again and again, one token each.
fn hellos(words: usize) -> String {
    let mut s = "hello".to_string();
    s.push_str(&" hello".repeat(words - 1));
    s
}

fn one_message(content: &str) -> Value {
    json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "max_tokens": 5})
}

fn usage(a: &crate::common::Answer) -> (u64, u64) {
    assert_eq!(a.status, 200, "{}", a.text);
    let u = &a.json()["usage"];
    (
        u["prompt_tokens"].as_u64().unwrap(),
        u["prompt_tokens_details"]["cached_tokens"]
            .as_u64()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_repeated_prompt_is_cached_from_1024_tokens_in_128_token_steps() {
    assert_eq!(bpe().count_ordinary(&hellos(1_293)), 1_293);
    let mut cfg = config();
    cfg.prompt_cache_hit = Some(1.0);
    let stub = start(cfg).await;
    let c = client();
    // 3 priming + 3 opening the message + "user" (1) + 1,293 = 1,300 prompt tokens. Sent once,
    // nothing was remembered: 0 cached. Sent again, its prefixes at 1,024, 1,152 and 1,280 are
    // remembered; the longest, 1,280 (= 1,024 + 2 × 128, the last step within 1,300), is
    // cached.
    let long = one_message(&hellos(1_293));
    assert_eq!(usage(&post(&c, &stub, &long).await), (1_300, 0));
    assert_eq!(usage(&post(&c, &stub, &long).await), (1_300, 1_280));
    // The same first 1,200 words, then another ending: 4 + 1,200 = 1,204 tokens are shared, so
    // the prefixes at 1,024 and 1,152 are, and 1,280 is not: 1,152 cached.
    let other = one_message(&format!("{} {}", hellos(1_200), "cherry tart ".repeat(100)));
    let (prompt, cached) = usage(&post(&c, &stub, &other).await);
    assert!(prompt >= 1_280, "{prompt}");
    assert_eq!(cached, 1_152);
    // Under 1,024 tokens (1,000 + 7 = 1,007), nothing is cached however often it is sent.
    let short = one_message(&hellos(1_000));
    for _ in 0..2 {
        assert_eq!(usage(&post(&c, &stub, &short).await), (1_007, 0));
    }
    // A streamed answer's usage chunk says the same.
    let mut streamed = long.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let a = post(&c, &stub, &streamed).await;
    let usage_chunk = a
        .text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .find(|c| c["usage"].is_object())
        .expect("a usage chunk");
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"],
        1_280
    );
    // The stats add it up: 1,280 + 1,152 + 1,280.
    assert_eq!(stub.stats().models["gpt-4o"].cached_tokens, 3_712);
}

#[tokio::test]
async fn without_a_share_nothing_is_cached_and_nothing_is_remembered() {
    // The shipped profiles' share is 0: what the stub always served.
    let stub = start(config()).await;
    let c = client();
    let long = one_message(&hellos(1_293));
    for _ in 0..3 {
        assert_eq!(usage(&post(&c, &stub, &long).await), (1_300, 0));
    }
    assert!(stub.core().prompt_prefixes_held().is_empty());
    // An explicit 0 alike.
    let mut cfg = config();
    cfg.prompt_cache_hit = Some(0.0);
    let stub = start(cfg).await;
    for _ in 0..2 {
        assert_eq!(usage(&post(&c, &stub, &long).await), (1_300, 0));
    }
}

#[tokio::test]
async fn the_prefix_memory_never_grows_past_its_slots() {
    let mut cfg = config();
    cfg.prompt_cache_hit = Some(1.0);
    cfg.prompt_cache_slots = 4;
    let stub = start(cfg).await;
    let c = client();
    // 12 distinct prompts of 3 prefixes each: 36 prefixes for 4 slots.
    for i in 0..12 {
        let a = post(&c, &stub, &one_message(&format!("{i} {}", hellos(1_290)))).await;
        assert_eq!(
            usage(&a).1,
            0,
            "a new prompt shares no prefix of 1,024 tokens"
        );
        let held = stub.core().prompt_prefixes_held();
        assert!(held["gpt-4o"] <= 4, "{held:?}");
    }
    // A reset forgets them.
    stub.reset().await.unwrap();
    assert!(stub.core().prompt_prefixes_held().is_empty());
}

/// Regression: this test ran the stub at 0 ms latency and checked only the chunked encoding, so
/// a stub writing the whole stream at once (or both parts at the end) passed. Now on paused
/// tokio time with gpt-4o's shipped profile: the role delta and the first content delta arrive
/// at the drawn time to first token (`x-stub-ttft-ms`), nothing more until the full latency
/// (`openai-processing-ms`), then the other 11 deltas, the finish and `[DONE]`. Times on
/// tokio's paused clock are exact up to the 1 ms its timers round to.
#[tokio::test(start_paused = true)]
async fn a_streamed_answer_is_paced_and_a_plain_one_is_whole() {
    let stub = crate::calibrate::paused_stub(postload::stub::StubConfig::new(std::sync::Arc::new(
        postload::openai::catalog::Catalog::embedded(),
    )))
    .await;
    let c = client();
    let mut body = one_message("A caption for a flower shop");
    body["max_tokens"] = json!(12);
    body["stream"] = json!(true);
    let start = tokio::time::Instant::now();
    let ms = |t: tokio::time::Instant| (t - start).as_secs_f64() * 1000.0;
    let mut r = c
        .post(format!("{}/chat/completions", stub.base_url()))
        .header("authorization", "Bearer sk-test")
        .json(&body)
        .send()
        .await
        .unwrap();
    // A paced body goes out in parts (chunked), not as one body of known length.
    assert!(r.headers().get("content-length").is_none());
    assert_eq!(r.headers()["transfer-encoding"], "chunked");
    let header = |name: &str| -> f64 { r.headers()[name].to_str().unwrap().parse().unwrap() };
    let (ttft, total) = (header("x-stub-ttft-ms"), header("openai-processing-ms"));
    let first = r.chunk().await.unwrap().expect("a first part");
    let first_at = ms(tokio::time::Instant::now());
    let first = String::from_utf8(first.to_vec()).unwrap();
    let mut rest = String::new();
    while let Some(part) = r.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&part).unwrap());
    }
    let end_at = ms(tokio::time::Instant::now());
    // 12 tokens at gpt-4o's shipped speed take well over a millisecond: two distinct times.
    assert!(
        total >= ttft.floor() + 2.0,
        "ttft {ttft} ms, total {total} ms"
    );
    assert!(
        first_at >= ttft && first_at <= ttft + 1.0,
        "first part at {first_at} ms, ttft {ttft} ms"
    );
    assert!(
        end_at >= total && end_at <= total + 1.0,
        "end at {end_at} ms, total {total} ms"
    );
    let events = |text: &str| -> Vec<String> {
        text.split("\n\n")
            .filter(|e| !e.is_empty())
            .map(str::to_string)
            .collect()
    };
    let (first, rest) = (events(&first), events(&rest));
    // The first part: the role delta and the first content delta; the rest: 11 content deltas,
    // the finish, [DONE].
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(first[0].contains(r#""role":"assistant""#), "{first:?}");
    assert!(first[1].contains(r#""content":"#), "{first:?}");
    assert_eq!(rest.len(), 13, "{rest:?}");
    assert!(
        rest[..11].iter().all(|e| e.contains(r#""content":"#)),
        "{rest:?}"
    );
    assert!(rest[11].contains(r#""finish_reason":"length""#), "{rest:?}");
    assert_eq!(rest[12], "data: [DONE]");
    // Not streamed: one body of known length.
    body["stream"] = json!(false);
    let r = c
        .post(format!("{}/chat/completions", stub.base_url()))
        .header("authorization", "Bearer sk-test")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("content-length").is_some());
}

async fn run_cost(prompt_cache_hit: Option<f64>, tag: &str) -> Value {
    let _guard = goose_lock().await;
    let args = RunArgs {
        scenario: vec!["burst-50".into()],
        users: Some(16),
        tier: vec![2],
        latency_ms: Some(0),
        prompt_cache: postload::cli::PromptCacheHit { prompt_cache_hit },
        output: postload::cli::ReportDir {
            report_dir: tempdir(tag),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    };
    let dir = args.output.report_dir.clone();
    let cfg = run_config(&args, Arc::new(AtomicBool::new(false))).expect("valid config");
    {
        let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        postload::run::execute(cfg, ex)
    }
    .await
    .expect("run completes");
    read_result(&dir).1["cases"][0].clone()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prompt_caching_lowers_a_runs_cost_per_post_at_the_cached_price() {
    let plain = run_cost(None, "cache-off").await;
    let cached = run_cost(Some(1.0), "cache-on").await;
    // 16 posts over the scenario's 8 businesses: each business's caption prompt goes twice,
    // the same both times (the image prompt in it is the fixed profile's 100 tokens, alike for
    // every post). The businesses' prompts part in their first line, so the first caption of
    // each finds no prefix of 1,024 tokens; the second finds its whole prompt, 1,148 to 1,150
    // tokens (18,380 for 16 captions), of which the 1,024 below the next step (1,152) are
    // cached: 8 × 1,024 = 8,192. Image prompts (800 tokens) are never cached.
    let (p, c) = (&plain["tokens"], &cached["tokens"]);
    assert_eq!(p["total"]["prompt"], c["total"]["prompt"]);
    assert_eq!(c["by_call"]["caption"]["prompt"], 18_380);
    assert_eq!(p["total"]["cached"], 0);
    assert_eq!(c["by_call"]["caption"]["cached"], 8_192);
    assert_eq!(c["by_call"]["image_prompt"]["cached"], 0);
    // gpt-4o bills cached input at $1.25 per 1M instead of $2.50: 8,192 × $1.25 / 1M =
    // $0.01024 less for the run, $0.00064 per post.
    let saved = f(&plain["cost"]["total_usd"]) - f(&cached["cost"]["total_usd"]);
    assert!((saved - 0.010_24).abs() < 1e-12, "{saved}");
    let per_post = f(&plain["cost"]["per_post_usd"]) - f(&cached["cost"]["per_post_usd"]);
    assert!((per_post - 0.000_64).abs() < 1e-12, "{per_post}");
}

/// A request naming its draw stream hits the prompt cache exactly when the planner's draws for
/// that stream say so: `serve`'s draws, then `draw_prompt_cache_hit`, from `draw_rng(seed,
/// stream)`.
#[tokio::test]
async fn a_named_draw_stream_hits_the_prompt_cache_as_the_planner_draws_it() {
    use std::time::Duration;

    use postload::openai::bucket::{Limits, RateLimiter, RejectedCost};
    use postload::openai::catalog::Catalog;
    use postload::openai::world::{
        draw_prompt_cache_hit, draw_rng, serve, CallRequest, Faults, DRAW_STREAM_HEADER,
    };

    let mut cfg = config();
    cfg.seed = 11;
    cfg.tier = 5; // 25 calls of 1,305 tokens fit its TPM (Tier 1's 30,000 would refuse some)
    cfg.prompt_cache_hit = Some(0.5);
    let stub = start(cfg).await;
    let c = client();
    let long = one_message(&hellos(1_293));
    // The first answer remembers the prompt's prefixes (1,300 tokens: 1,280 cached on a hit).
    post(&c, &stub, &long).await;
    let profile = Catalog::embedded().fixed_profile(Duration::ZERO);
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 1_000_000,
            tpm: 1_000_000_000,
            rpd: None,
        },
        RejectedCost::Nothing,
        Duration::ZERO,
    );
    let req = CallRequest {
        reserve: 1_305,
        prompt_tokens: 1_300,
        max_tokens: Some(5),
        n: 1,
    };
    let mut hits = 0;
    for stream in 0..24u64 {
        let r = c
            .post(format!("{}/chat/completions", stub.base_url()))
            .bearer_auth("sk-test")
            .header(DRAW_STREAM_HEADER, stream.to_string())
            .json(&long)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let cached = v["usage"]["prompt_tokens_details"]["cached_tokens"].as_u64();
        let mut rng = draw_rng(11, stream);
        serve(
            &mut limiter,
            Duration::ZERO,
            &req,
            &profile,
            &Faults::default(),
            &mut rng,
        );
        let hit = draw_prompt_cache_hit(&mut rng, 0.5);
        assert_eq!(
            cached,
            Some(if hit { 1_280 } else { 0 }),
            "stream {stream}: {v}"
        );
        hits += hit as u32;
    }
    // Both outcomes occur at a share of 0.5.
    assert!(hits > 0 && hits < 24, "{hits}");
}

#[test]
fn the_options_take_a_share_and_plan_defaults_to_the_profiles() {
    use clap::Parser;
    use postload::cli::{Cli, Command};

    let parse = |args: &[&str]| Cli::try_parse_from([&["postload"], args].concat()).unwrap();
    // `stub --prompt-cache-hit`: a share, or exit 2 naming the option.
    let stub_opts = |share: &str| match parse(&["stub", "--prompt-cache-hit", share]).command {
        Some(Command::Stub(a)) => postload::config::stub_config(&a.stub),
        _ => unreachable!("a stub command"),
    };
    assert_eq!(stub_opts("0.25").unwrap().prompt_cache_hit, Some(0.25));
    // A bare number above 1 is refused by the share parser (not read as 150 %); as a
    // percentage it parses, and the option's own range refuses it.
    let err = Cli::try_parse_from(["postload", "stub", "--prompt-cache-hit", "1.5"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--prompt-cache-hit") && err.contains("write 1.5% or 0.015"),
        "{err}"
    );
    assert_eq!(stub_opts("25%").unwrap().prompt_cache_hit, Some(0.25));
    let err = stub_opts("150%").unwrap_err().to_string();
    assert!(
        err.contains("--prompt-cache-hit") && err.contains("1.5"),
        "{err}"
    );
    // `run --prompt-cache-hit`: for its own stub only, and a share.
    let run_err = |share: f64, base_url: Option<&str>| {
        let args = RunArgs {
            scenario: vec!["burst-50".into()],
            prompt_cache: postload::cli::PromptCacheHit {
                prompt_cache_hit: Some(share),
            },
            dest: postload::cli::DestinationArgs {
                base_url: base_url.map(str::to_string),
                ..Default::default()
            },
            output: postload::cli::ReportDir {
                report_dir: tempdir("prompt-cache-run"),
            },
            ..RunArgs::default()
        };
        run_config(&args, Arc::new(AtomicBool::new(false)))
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(run_err(0.5, None), None);
    let err = run_err(1.5, None).unwrap();
    assert!(err.contains("--prompt-cache-hit 1.5"), "{err}");
    let err = run_err(0.5, Some("http://127.0.0.1:9/v1")).unwrap();
    assert!(
        err.starts_with("--prompt-cache-hit: shapes postload's own stub"),
        "{err}"
    );
    // `plan`: the profiles' share unless given, each model's own where they differ.
    let dir = tempdir("prompt-cache-mocks");
    let latency = postload::openai::catalog::EMBEDDED_LATENCY.replacen(
        "prompt_cache_hit = 0.0",
        "prompt_cache_hit = 0.6",
        1,
    );
    std::fs::write(dir.join("latency.toml"), latency).unwrap();
    let mocks = dir.to_str().unwrap();
    let plan = |extra: &[&str]| {
        let args = parse(&[&["plan", "--mocks", mocks], extra].concat());
        let Some(Command::Plan(a)) = args.command else {
            unreachable!("a plan command")
        };
        let catalog = postload::openai::catalog::Catalog::load_dir(dir.as_path()).unwrap();
        postload::config::plan_spec(&a, &catalog).unwrap()
    };
    let both = plan(&[]);
    assert_eq!(both.prompt_cache_hit_of("gpt-4o"), 0.6);
    assert_eq!(both.prompt_cache_hit_of("gpt-4o-mini"), 0.0);
    let one = plan(&["--model", "gpt-4o"]);
    assert_eq!(
        (one.prompt_cache_hit, one.prompt_cache_hit_by_model.len()),
        (0.6, 0)
    );
    let given = plan(&["--prompt-cache-hit", "0.2"]);
    assert_eq!(given.prompt_cache_hit_of("gpt-4o"), 0.2);
    assert_eq!(given.prompt_cache_hit_of("gpt-4o-mini"), 0.2);
    // The shipped profiles: 0, as the option's old default.
    let shipped = parse(&["plan"]);
    let Some(Command::Plan(a)) = shipped.command else {
        unreachable!("a plan command")
    };
    let spec = postload::config::plan_spec(&a, &postload::openai::catalog::Catalog::embedded());
    let spec = spec.unwrap();
    assert_eq!(spec.prompt_cache_hit, 0.0);
    assert!(spec.prompt_cache_hit_by_model.is_empty());
}

/// A client that reads a streamed answer's first part and goes away: the stub drops the rest
/// and goes on serving (no panic, no stuck connection task).
#[tokio::test]
async fn a_client_leaving_mid_stream_leaves_the_stub_serving() {
    use postload::clock::SystemClock;

    let mut cfg = config();
    cfg.fixed_latency = None; // gpt-4o's profile: the rest comes well after the first part
    let stub = crate::common::start_clocked(cfg, Arc::new(SystemClock::scaled(20.0))).await;
    let mut body = one_message("A caption for a flower shop");
    body["max_tokens"] = json!(2_000);
    body["stream"] = json!(true);
    for _ in 0..3 {
        let mut r = client()
            .post(format!("{}/chat/completions", stub.base_url()))
            .bearer_auth("sk-test")
            .json(&body)
            .send()
            .await
            .unwrap();
        let first = r.chunk().await.unwrap().expect("the first part");
        assert!(first.starts_with(b"data: "));
        // The response and its client (and connection) are dropped here.
    }
    body["stream"] = json!(false);
    let a = post(&client(), &stub, &body).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let stats = stub.stats();
    assert_eq!(stats.models["gpt-4o"].ok, 4);
    assert_eq!(stats.models["gpt-4o"].streamed, 3);
}
