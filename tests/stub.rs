//! The stub through a real HTTP client on port 0: shapes, validation, SSE, rate limits, refill,
//! determinism, faults, stats and reset.

use std::sync::Arc;
use std::time::{Duration, Instant};

use postload::clock::{ManualClock, SystemClock};
use postload::openai::tokens::bpe;
use postload::stub::Faults;
use serde_json::{json, Value};

use crate::common::{chat_body, client, config, post, post_raw, start, start_clocked, tempdir};

const RATE_HEADERS: [&str; 6] = [
    "x-ratelimit-limit-requests",
    "x-ratelimit-limit-tokens",
    "x-ratelimit-remaining-requests",
    "x-ratelimit-remaining-tokens",
    "x-ratelimit-reset-requests",
    "x-ratelimit-reset-tokens",
];

/// Prompt tokens of `chat_body`, computed here independently with the cookbook formula.
fn expected_prompt_tokens(prompt: &str) -> u64 {
    let t = |s: &str| bpe().count_ordinary(s) as u64;
    3 + (3 + t("system") + t("You write short marketing captions.")) + (3 + t("user") + t(prompt))
}

#[tokio::test]
async fn chat_completion_shape_and_usage_for_both_models() {
    let mut cfg = config();
    cfg.fixed_latency = None; // real profiles, served 100x faster than modelled
    let stub = start_clocked(cfg, Arc::new(SystemClock::scaled(100.0))).await;
    let c = client();
    let prompt = "Write an Instagram caption for a bakery's autumn pumpkin bread.";
    for (model, snapshot) in [
        ("gpt-4o", "gpt-4o-2024-08-06"),
        ("gpt-4o-mini", "gpt-4o-mini-2024-07-18"),
    ] {
        let a = post(&c, &stub, &chat_body(model, prompt, Some(200))).await;
        assert_eq!(a.status, 200, "{}", a.text);
        let v = a.json();
        assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
        assert_eq!(v["object"], "chat.completion");
        assert_eq!(v["model"], snapshot);
        assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
        assert!(v["system_fingerprint"].as_str().unwrap().starts_with("fp_"));
        let choice = &v["choices"][0];
        assert_eq!(choice["message"]["role"], "assistant");
        assert!(choice["message"]["refusal"].is_null());
        let finish = choice["finish_reason"].as_str().unwrap();
        let u = &v["usage"];
        let (p, k) = (
            u["prompt_tokens"].as_u64().unwrap(),
            u["completion_tokens"].as_u64().unwrap(),
        );
        assert_eq!(p, expected_prompt_tokens(prompt));
        assert_eq!(u["total_tokens"].as_u64().unwrap(), p + k);
        assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 0);
        assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
        let content = choice["message"]["content"].as_str().unwrap();
        assert_eq!(
            bpe().count_ordinary(content) as u64,
            k,
            "content is k real tokens"
        );
        assert!(k <= 200);
        assert_eq!(finish == "length", k == 200, "length exactly when capped");
        for h in RATE_HEADERS {
            assert!(a.header(h).is_some(), "{h} missing");
        }
        assert!(a.header("x-request-id").unwrap().starts_with("req_"));
        let ms: u64 = a.header("openai-processing-ms").unwrap().parse().unwrap();
        assert!(ms > 100, "a real profile takes time: {ms} ms");
    }
    // Without max_tokens the length comes from the profile and finishes with "stop".
    let a = post(&c, &stub, &chat_body("gpt-4o", prompt, None)).await;
    assert_eq!(a.json()["choices"][0]["finish_reason"], "stop");
    let stats = stub.stats();
    assert_eq!(stats.models["gpt-4o"].ok, 2);
    assert_eq!(
        stats.models["gpt-4o-mini"].prompt_tokens,
        expected_prompt_tokens(prompt)
    );
}

#[tokio::test]
async fn every_bad_field_gets_a_400_naming_it_and_unknown_models_a_404() {
    let stub = start(config()).await;
    let c = client();
    let good = chat_body("gpt-4o", "hi", Some(10));
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "hi"}]}),
            "model",
        ),
        (json!({"model": "gpt-4o"}), "messages"),
        (with("messages", json!([])), "messages"),
        (
            with("messages", json!([{"role": "robot", "content": "x"}])),
            "messages[0].role",
        ),
        (
            with("messages", json!([{"role": "user"}])),
            "messages[0].content",
        ),
        (with("max_tokens", json!(0)), "max_tokens"),
        (
            with("max_completion_tokens", json!(-1)),
            "max_completion_tokens",
        ),
        (with("n", json!(0)), "n"),
        (with("stream", json!(1)), "stream"),
    ];
    for (body, param) in cases {
        let a = post(&c, &stub, &body).await;
        assert_eq!(a.status, 400, "{body}");
        let e = &a.json()["error"];
        assert_eq!(e["type"], "invalid_request_error");
        assert_eq!(e["param"], param, "{body}");
        let message = e["message"].as_str().unwrap();
        if e["code"] != "invalid_value" {
            assert!(message.contains(&format!("'{param}'")), "{message}");
        }
    }
    let a = post(&c, &stub, &with("model", json!("gpt-9"))).await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["error"]["code"], "model_not_found");
    let a = post_raw(&c, &stub, b"{not json".to_vec()).await;
    assert_eq!(a.status, 400);
    assert!(a.json()["error"]["param"].is_null());
    assert_eq!(stub.stats().by_status[&400], 10);
}

#[tokio::test]
async fn no_body_panics_the_stub() {
    let stub = start(config()).await;
    let c = client();
    // Seeded garbage: random bytes, truncated JSON, wrong types at every level.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let good = serde_json::to_vec(&chat_body("gpt-4o", "hello there", Some(5))).unwrap();
    let mut bodies: Vec<Vec<u8>> = vec![];
    for i in 0..150 {
        let mut b = good.clone();
        match i % 3 {
            0 => b.truncate((next() as usize) % good.len()),
            1 => {
                let at = (next() as usize) % b.len();
                b[at] = (next() % 256) as u8;
            }
            _ => b = (0..(next() % 64)).map(|_| (next() % 256) as u8).collect(),
        }
        bodies.push(b);
    }
    for weird in [
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [{}]}]}),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text"}]}]}),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "n": 1e300}),
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}], "max_tokens": 18446744073709551615u64}),
        json!({"model": ["gpt-4o"], "messages": {"role": "user"}}),
        json!({"model": "gpt-4o", "messages": [null, null]}),
    ] {
        bodies.push(serde_json::to_vec(&weird).unwrap());
    }
    for b in bodies {
        let a = post_raw(&c, &stub, b).await;
        assert!(
            matches!(a.status, 200 | 400 | 404),
            "{}: {}",
            a.status,
            a.text
        );
        assert!(a.json()["error"].is_object() || a.status == 200);
    }
    // Still serving.
    assert_eq!(
        post(&c, &stub, &chat_body("gpt-4o", "hi", Some(3)))
            .await
            .status,
        200
    );
}

fn parse_sse(text: &str) -> Vec<String> {
    assert!(text.ends_with("\n\n"), "events end with a blank line");
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            e.strip_prefix("data: ")
                .expect("every event is a data line")
                .to_string()
        })
        .collect()
}

#[tokio::test]
async fn streaming_returns_openai_sse_with_the_usage_chunk() {
    let stub = start(config()).await;
    let c = client();
    let mut body = chat_body("gpt-4o-mini", "A caption for a flower shop", Some(12));
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let a = post(&c, &stub, &body).await;
    assert_eq!(a.status, 200);
    assert!(a
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&a.text);
    assert_eq!(events.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let id = chunks[0]["id"].clone();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == id));
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let finish = &chunks[chunks.len() - 2]["choices"][0];
    assert_eq!(finish["delta"], json!({}));
    assert_eq!(finish["finish_reason"], "length");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null() && c.get("usage").is_some()));
    let content: String = chunks[1..chunks.len() - 2]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(chunks.len() - 3, 12, "one content delta per token");
    assert_eq!(bpe().count_ordinary(&content), 12);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 12);

    // Without include_usage: no usage field at all, no usage chunk.
    body["stream_options"] = json!({"include_usage": false});
    let a = post(&c, &stub, &body).await;
    let events = parse_sse(&a.text);
    let last_chunk: Value = serde_json::from_str(&events[events.len() - 2]).unwrap();
    assert_eq!(last_chunk["choices"][0]["finish_reason"], "length");
    assert!(events.iter().all(|e| !e.contains("\"usage\"")));
    assert_eq!(stub.stats().models["gpt-4o-mini"].streamed, 2);
}

/// Reservation of `chat_body(model, prompt, Some(max))`: prompt tokens + max_tokens.
fn reservation(prompt: &str, max: u64) -> u64 {
    expected_prompt_tokens(prompt) + max
}

#[tokio::test]
async fn a_burst_past_the_tpm_bucket_gets_exactly_the_predicted_200s_and_429s() {
    // Tier 1 gpt-4o: 30,000 TPM, 500 RPM. Time is frozen, so nothing refills during the burst.
    let clock = ManualClock::new();
    let stub = start_clocked(config(), Arc::new(clock.clone())).await;
    let c = client();
    let prompt = "Write a caption for a coffee shop's new seasonal latte. ".repeat(40);
    let max = 1_000;
    let each = reservation(&prompt, max);
    let fits = 30_000 / each;
    let burst = 3 * fits as usize;
    let body = chat_body("gpt-4o", &prompt, Some(max as u32));
    let answers = futures_join_all((0..burst).map(|_| post(&c, &stub, &body))).await;
    let ok: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
    let limited: Vec<_> = answers.iter().filter(|a| a.status == 429).collect();
    assert_eq!(ok.len() as u64, fits);
    assert_eq!(limited.len(), burst - fits as usize);
    let used = fits * each;
    for a in &limited {
        let e = &a.json()["error"];
        assert_eq!(e["type"], "tokens");
        assert_eq!(e["code"], "rate_limit_exceeded");
        assert!(e["param"].is_null());
        let wait_ms = (used + each - 30_000) * 60_000 / 30_000; // exact: 30,000 divides 60,000 × n
        let msg = format!(
            "Rate limit reached for gpt-4o in organization org-postloadstub on tokens per min (TPM): Limit 30000, Used {used}, Requested {each}. Please try again in {}. Visit https://platform.openai.com/account/rate-limits to learn more.",
            postload::openai::duration::format_ms(wait_ms)
        );
        assert_eq!(e["message"], msg);
        assert_eq!(
            a.header("x-ratelimit-remaining-tokens").unwrap(),
            (30_000 - used).to_string()
        );
        assert_eq!(a.header("x-ratelimit-limit-tokens").unwrap(), "30000");
        assert!(
            a.header("retry-after").is_none(),
            "OpenAI sends no retry-after by default"
        );
        assert!(a.header("x-request-id").is_some());
    }
    // Rejected requests count against RPM by default (and never against TPM).
    let rejected = (burst - fits as usize) as u64;
    let stats = stub.stats();
    assert_eq!(stats.rate_limited.tokens, rejected);
    assert_eq!(
        stats.buckets["gpt-4o"].remaining_requests,
        500 - burst as u64
    );
    assert_eq!(
        stats.models["gpt-4o"].rejected_reserved_tokens,
        rejected * each
    );
    drop(clock);
}

#[tokio::test]
async fn refill_lets_requests_through_exactly_when_the_message_says() {
    let clock = ManualClock::new();
    let stub = start_clocked(config(), Arc::new(clock.clone())).await;
    let c = client();
    let prompt = "Caption for a gym opening. ".repeat(100);
    let body = chat_body("gpt-4o", &prompt, Some(4_000));
    let each = reservation(&prompt, 4_000);
    let mut admitted = 0;
    while post(&c, &stub, &body).await.status == 200 {
        admitted += 1;
    }
    assert_eq!(admitted, 30_000 / each);
    let a = post(&c, &stub, &body).await;
    let msg = a.json()["error"]["message"].as_str().unwrap().to_string();
    let wait = msg
        .split("try again in ")
        .nth(1)
        .unwrap()
        .split(". Visit")
        .next()
        .unwrap();
    let wait = parse_go(wait);
    clock.advance(wait - Duration::from_millis(2));
    assert_eq!(
        post(&c, &stub, &body).await.status,
        429,
        "1 ms early is still too early"
    );
    clock.advance(Duration::from_millis(2));
    assert_eq!(post(&c, &stub, &body).await.status, 200, "on time it fits");
    // A full minute refills the whole bucket.
    clock.advance(Duration::from_secs(60));
    let a = post(&c, &stub, &body).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.header("x-ratelimit-remaining-tokens").unwrap(),
        (30_000 - each).to_string()
    );
}

fn parse_go(s: &str) -> Duration {
    if let Some(ms) = s.strip_suffix("ms") {
        Duration::from_millis(ms.parse().unwrap())
    } else {
        Duration::from_secs_f64(s.strip_suffix('s').unwrap().parse().unwrap())
    }
}

#[tokio::test]
async fn too_large_requests_and_requests_limits_get_their_own_429s() {
    let stub = start(config()).await;
    let c = client();
    let a = post(&c, &stub, &chat_body("gpt-4o", "hi", Some(16_000))).await;
    assert_eq!(a.status, 200);
    let a = post(
        &c,
        &stub,
        &chat_body("gpt-4o", &"word ".repeat(20_000), Some(16_000)),
    )
    .await;
    assert_eq!(a.status, 429);
    let m = a.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(m.starts_with("Request too large for gpt-4o in organization org-postloadstub on tokens per min (TPM): Limit 30000, Requested "), "{m}");
    assert_eq!(stub.stats().rate_limited.too_large, 1);

    // RPM: the seed's tiers keep OpenAI's 500 RPM at tier 1; a tiny tier set shows the requests type.
    let dir = tempdir("tiny-tiers");
    std::fs::write(
        dir.join("tiers.toml"),
        r#"default_set = "tiny"
[sets.tiny]
as_of = "2026-11-28"
source = "test"
[[sets.tiny.tier]]
tier = 1
qualification = "test"
limits.gpt-4o = { rpm = 3, tpm = 1000000 }
limits.gpt-4o-mini = { rpm = 3, tpm = 1000000 }
"#,
    )
    .unwrap();
    let mut cfg = config();
    cfg.catalog = Arc::new(postload::openai::catalog::Catalog::load_dir(&dir).unwrap());
    cfg.tier_set = "tiny".into();
    let stub = start(cfg).await;
    let statuses: Vec<u16> = {
        let mut v = vec![];
        for _ in 0..5 {
            v.push(
                post(&c, &stub, &chat_body("gpt-4o", "hi", Some(5)))
                    .await
                    .status,
            );
        }
        v
    };
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let a = post(&c, &stub, &chat_body("gpt-4o", "hi", Some(5))).await;
    assert_eq!(a.json()["error"]["type"], "requests");
    assert!(a.text.contains("on requests per min (RPM): Limit 3, Used"));
}

#[tokio::test]
async fn retry_after_headers_only_when_asked() {
    // Tier 1 gpt-4o, 30,000 TPM, time frozen. Each request reserves e = prompt + 10,000 tokens;
    // two fit, the third waits (2e + e - 30,000) x 60,000 / 30,000 ms = (3e - 30,000) x 2 ms.
    // retry-after-ms says exactly that; retry-after is it in whole seconds, rounded up.
    let e = reservation("hi", 10_000);
    let wait_ms = (3 * e - 30_000) * 2;
    for asked in [true, false] {
        let mut cfg = config();
        cfg.retry_after = asked;
        let stub = start_clocked(cfg, Arc::new(ManualClock::new())).await;
        let c = client();
        let body = chat_body("gpt-4o", "hi", Some(10_000));
        for _ in 0..2 {
            assert_eq!(post(&c, &stub, &body).await.status, 200);
        }
        let a = post(&c, &stub, &body).await;
        assert_eq!(a.status, 429);
        let said = postload::openai::duration::format_ms(wait_ms);
        assert!(
            a.text.contains(&format!("Please try again in {said}.")),
            "{}",
            a.text
        );
        if asked {
            assert_eq!(a.header("retry-after-ms"), Some(wait_ms.to_string()));
            assert_eq!(
                a.header("retry-after"),
                Some(wait_ms.div_ceil(1000).to_string())
            );
        } else {
            assert_eq!(a.header("retry-after-ms"), None);
            assert_eq!(a.header("retry-after"), None);
        }
    }
}

#[tokio::test]
async fn first_n_requests_get_429_then_the_buckets_decide() {
    let mut cfg = config();
    cfg.faults.first_n_429 = 3;
    let stub = start(cfg).await;
    let c = client();
    let mut statuses = vec![];
    for _ in 0..5 {
        statuses.push(
            post(&c, &stub, &chat_body("gpt-4o", "hi", Some(10)))
                .await
                .status,
        );
    }
    assert_eq!(statuses, [429, 429, 429, 200, 200]);
    assert_eq!(stub.stats().rate_limited.forced, 3);
}

#[tokio::test]
async fn server_errors_and_overloads_at_the_configured_shares() {
    // One uniform draw u per request: u < 0.2 is a 500, 0.2 <= u < 0.3 a 503. Over n = 4,000
    // requests the counts are binomial: 500s have mean 800 and sigma sqrt(4000 x 0.2 x 0.8) =
    // 25.3, 503s mean 400 and sigma sqrt(4000 x 0.1 x 0.9) = 19.0. Bands of 4 sigma: 500s in
    // [699, 901], 503s in [324, 476]. A share of 0.15 (600) or 0.05 (200) falls outside them.
    let mut cfg = config();
    cfg.faults = Faults {
        server_error_share: 0.2,
        overloaded_share: 0.1,
        ..Faults::default()
    };
    cfg.seed = 11;
    // Tier 5 (gpt-4o-mini: 30,000 RPM): the buckets never answer before the faults do.
    cfg.tier = 5;
    let stub = start(cfg).await;
    // A few over HTTP: the fault answers carry OpenAI's body.
    let c = client();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 3 {
        let a = post(&c, &stub, &chat_body("gpt-4o-mini", "hi", Some(5))).await;
        if a.status >= 500 {
            assert_eq!(a.json()["error"]["type"], "server_error");
        }
        seen.insert(a.status);
    }
    // The rest through the core directly (the same draws, without HTTP's cost).
    stub.core().reset();
    let body = serde_json::to_vec(&chat_body("gpt-4o-mini", "hi", Some(5))).unwrap();
    let mut counts = std::collections::BTreeMap::new();
    for _ in 0..4_000 {
        *counts
            .entry(stub.core().chat(&body, None).status)
            .or_insert(0u64) += 1;
    }
    assert!((699..=901).contains(&counts[&500]), "{counts:?}");
    assert!((324..=476).contains(&counts[&503]), "{counts:?}");
    let s = stub.stats();
    assert_eq!(s.faults.server_error, counts[&500]);
    assert_eq!(s.faults.overloaded, counts[&503]);
}

#[tokio::test]
async fn slow_tail_adds_latency() {
    let mut cfg = config();
    cfg.fixed_latency = Some(Duration::from_millis(10));
    cfg.faults.slow_share = 1.0;
    cfg.faults.slow_extra = Duration::from_millis(300);
    let stub = start_clocked(cfg, Arc::new(SystemClock::new())).await;
    let c = client();
    let t = Instant::now();
    let a = post(&c, &stub, &chat_body("gpt-4o", "hi", Some(5))).await;
    assert!(t.elapsed() >= Duration::from_millis(310));
    assert_eq!(a.header("openai-processing-ms").unwrap(), "310");
}

#[tokio::test]
async fn same_seed_same_results_other_seed_other_results() {
    async fn run(seed: u64) -> Vec<(u64, String, String)> {
        let mut cfg = config();
        cfg.fixed_latency = None;
        cfg.seed = seed;
        // Modelled latencies of seconds, served 1000x faster; the headers report modelled time.
        let stub = start_clocked(cfg, Arc::new(SystemClock::scaled(1000.0))).await;
        let c = client();
        let mut out = vec![];
        for i in 0..20 {
            let a = post(
                &c,
                &stub,
                &chat_body("gpt-4o", &format!("caption {i}"), Some(400)),
            )
            .await;
            let v = a.json();
            out.push((
                v["usage"]["completion_tokens"].as_u64().unwrap(),
                a.header("openai-processing-ms").unwrap(),
                v["id"].as_str().unwrap().to_string(),
            ));
        }
        out
    }
    let (a, b, other) = (run(7).await, run(7).await, run(8).await);
    assert_eq!(a, b);
    assert_ne!(a, other);
}

/// A request naming its draw stream gets the planner's draws for that stream: the same answer
/// whatever order requests arrive in, and the same completion length and latency as
/// `openai::world::serve` with `draw_rng(seed, stream)`.
#[tokio::test]
async fn a_named_draw_stream_gives_the_same_draws_in_any_arrival_order() {
    use postload::openai::bucket::{Limits, RateLimiter, RejectedCost};
    use postload::openai::catalog::Catalog;
    use postload::openai::world::{draw_rng, serve, CallRequest, Served, DRAW_STREAM_HEADER};

    async fn ask(stub: &postload::stub::StubHandle, stream: &str) -> (u16, Value, Option<String>) {
        let r = client()
            .post(format!("{}/chat/completions", stub.base_url()))
            .header("content-type", "application/json")
            .bearer_auth("sk-test")
            .header(DRAW_STREAM_HEADER, stream)
            .json(&chat_body("gpt-4o", "a caption for a bakery", Some(200)))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let ms = r
            .headers()
            .get("openai-processing-ms")
            .map(|v| v.to_str().unwrap().to_string());
        (status, r.json().await.unwrap(), ms)
    }
    async fn answers(order: &[u64]) -> Vec<(u64, u64, String)> {
        let mut cfg = config();
        cfg.fixed_latency = None;
        cfg.seed = 11;
        let stub = start_clocked(cfg, Arc::new(SystemClock::scaled(1000.0))).await;
        let mut out = vec![];
        for s in order {
            let (status, v, ms) = ask(&stub, &s.to_string()).await;
            assert_eq!(status, 200, "{v}");
            out.push((
                *s,
                v["usage"]["completion_tokens"].as_u64().unwrap(),
                ms.unwrap(),
            ));
        }
        out.sort();
        out
    }
    let streams: Vec<u64> = (0..12).map(|i| (i << 20) | 1).collect();
    let reversed: Vec<u64> = streams.iter().rev().cloned().collect();
    let forward = answers(&streams).await;
    assert_eq!(forward, answers(&reversed).await);
    // Not all alike: the streams really differ.
    let latencies: std::collections::BTreeSet<&String> = forward.iter().map(|a| &a.2).collect();
    assert!(latencies.len() > 8, "{forward:?}");

    // The planner's `serve` with the same stream draws the same length and latency.
    let catalog = Catalog::embedded();
    let profile = &catalog.profiles[&catalog.model("gpt-4o").unwrap().profile];
    let mut limiter = RateLimiter::new(
        Limits {
            rpm: 1_000_000,
            tpm: 1_000_000_000,
            rpd: None,
        },
        RejectedCost::Nothing,
        Duration::ZERO,
    );
    let prompt = expected_prompt_tokens("a caption for a bakery") as u32;
    for (stream, completion, ms) in &forward {
        let req = CallRequest {
            reserve: (prompt + 200) as u64,
            prompt_tokens: prompt,
            max_tokens: Some(200),
            n: 1,
        };
        let served = serve(
            &mut limiter,
            Duration::ZERO,
            &req,
            profile,
            &Faults::default(),
            &mut draw_rng(11, *stream),
        );
        let Served::Ok {
            completion_tokens,
            timing,
            ..
        } = served
        else {
            panic!("admitted: {served:?}")
        };
        assert_eq!(completion_tokens as u64, *completion);
        assert_eq!(timing.total.as_millis().to_string(), *ms);
    }

    // A value that is not a number is the client's mistake, named.
    let stub = start(config()).await;
    let (status, v, _) = ask(&stub, "post-7").await;
    assert_eq!(status, 400);
    assert_eq!(v["error"]["param"], DRAW_STREAM_HEADER);
    assert!(v["error"]["message"].as_str().unwrap().contains("post-7"));
    // Counted like any other rejected request.
    let stats = stub.stats();
    assert_eq!((stats.chat_requests, stats.by_status[&400]), (1, 1));
}

#[tokio::test]
async fn models_stats_and_reset_over_http() {
    let stub = start(config()).await;
    let c = client();
    let root = stub.base_url().trim_end_matches("/v1").to_string();
    let models: Value = c
        .get(format!("{}/models", stub.base_url()))
        .bearer_auth("sk-test")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"gpt-4o") && ids.contains(&"gpt-4o-mini"));
    let r = c
        .get(format!("{}/models/gpt-9", stub.base_url()))
        .bearer_auth("sk-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    for _ in 0..3 {
        post(&c, &stub, &chat_body("gpt-4o", "hello", Some(7))).await;
    }
    let stats: Value = c
        .get(format!("{root}/__postload/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["chat_requests"], 3);
    assert_eq!(stats["by_status"]["200"], 3);
    assert_eq!(stats["models"]["gpt-4o"]["completion_tokens"], 21);
    assert_eq!(
        stats["models"]["gpt-4o"]["prompt_tokens"],
        3 * expected_prompt_tokens("hello")
    );
    assert_eq!(stats["buckets"]["gpt-4o"]["limit_tokens"], 30_000);
    assert_eq!(stats["retained_requests"], 0, "the stub keeps no requests");

    let r = c
        .post(format!("{root}/__postload/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let s = stub.stats();
    assert_eq!(s.chat_requests, 0);
    assert_eq!(s.buckets["gpt-4o"].remaining_tokens, 30_000);
    assert_eq!(
        post(&c, &stub, &chat_body("gpt-4o", "hello", Some(7)))
            .await
            .status,
        200
    );

    stub.reset().await.unwrap();
    let s = stub.stats();
    assert_eq!(s.chat_requests, 0);
    assert_eq!(
        post(&c, &stub, &chat_body("gpt-4o", "hello", Some(7)))
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resets_under_load_never_fail_a_request() {
    // 16 clients keep sending while the stub is reset 50 times: every answer is a 200 (this
    // once checked wiremock's store compaction, which could answer 404 between reset and
    // re-mount).
    let mut cfg = config();
    cfg.catalog = Arc::new(postload::openai::catalog::Catalog::unlimited());
    cfg.tier_set = "unlimited".into();
    let stub = Arc::new(start(cfg).await);
    let c = client();
    let body = chat_body("gpt-4o", "A caption for a bike shop", Some(20));
    let url = format!("{}/chat/completions", stub.base_url());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (c, body, url) = (c.clone(), body.clone(), url.clone());
            tokio::spawn(async move {
                let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
                for _ in 0..150 {
                    let r = c
                        .post(&url)
                        .bearer_auth("sk-test")
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    *statuses.entry(r.status().as_u16()).or_default() += 1;
                    let _ = r.bytes().await;
                }
                statuses
            })
        })
        .collect();
    let resets = {
        let stub = Arc::clone(&stub);
        tokio::spawn(async move {
            for _ in 0..50 {
                stub.reset().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut total = std::collections::BTreeMap::<u16, u32>::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *total.entry(k).or_default() += v;
        }
    }
    resets.await.unwrap();
    assert_eq!(total, [(200, 2400)].into_iter().collect());
    let s = stub.stats();
    assert_eq!((s.retained_requests, s.retained_body_bytes), (0, 0));
}

/// `join_all` without another dependency: spawn-free, polls all futures together.
async fn futures_join_all<F: std::future::Future>(
    futs: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let futs: Vec<_> = futs.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futs.iter().map(|_| None).collect();
    let mut futs: Vec<Option<_>> = futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, slot) in futs.iter_mut().enumerate() {
            if let Some(f) = slot {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        outputs[i] = Some(v);
                        *slot = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

#[tokio::test]
async fn reset_to_switches_tier_and_seed_and_stats_summarise_latency() {
    let mut cfg = config();
    cfg.fixed_latency = Some(Duration::from_millis(40));
    let stub = start(cfg).await;
    let c = client();
    assert_eq!(stub.stats().tier, 1);
    for _ in 0..4 {
        post(&c, &stub, &chat_body("gpt-4o", "hello", Some(7))).await;
    }
    let s = stub.stats();
    assert_eq!(s.latency_ms.count, 4);
    // The fixed profile's 40 ms, to three significant figures.
    assert!((39.9..=40.1).contains(&s.latency_ms.p50.unwrap()), "{s:?}");
    assert_eq!(s.ok_calls(), 4);
    assert_eq!(s.tokens().2, 28);

    stub.reset_to(2, 9).await.unwrap();
    let s = stub.stats();
    assert_eq!((s.tier, s.chat_requests, s.latency_ms.count), (2, 0, 0));
    assert_eq!(s.buckets["gpt-4o"].limit_tokens, 450_000);
    let a = post(&c, &stub, &chat_body("gpt-4o", "hello", Some(7))).await;
    assert_eq!(
        a.header("x-ratelimit-limit-tokens").as_deref(),
        Some("450000")
    );
    // A tier the set lacks is refused and changes nothing.
    assert!(stub.reset_to(9, 0).await.is_err());
    assert_eq!(stub.stats().tier, 2);
}

/// Issue 30's catalog: a new plain model is served with its snapshot, and a reasoning model too
/// (its rules: tests/stub_reasoning.rs).
#[tokio::test]
async fn a_new_plain_model_and_a_reasoning_model_are_served() {
    let stub = start(config()).await;
    let c = client();
    let a = post(&c, &stub, &chat_body("gpt-4.1-mini", "hi", Some(20))).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["model"], "gpt-4.1-mini-2025-04-14");
    let mut b = chat_body("gpt-5-mini", "hi", None);
    b["max_completion_tokens"] = json!(5000);
    let a = post(&c, &stub, &b).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["model"], "gpt-5-mini-2025-08-07");
}
