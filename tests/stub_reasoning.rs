//! Reasoning models (the GPT-5 family) on the stub's chat completions, as OpenAI serves them:
//! the 400s for `max_tokens`, a non-default `temperature` and a bad `reasoning_effort` (exact
//! bodies), reasoning tokens drawn per effort, inside `completion_tokens` and the cost, an answer
//! whose reasoning used `max_completion_tokens` (`length`, empty content, streamed too), and the
//! bucket's reservation of the prompt plus `max_completion_tokens`.

use std::sync::Arc;
use std::time::Duration;

use postload::clock::ManualClock;
use postload::metrics::cost::cost_usd;
use postload::metrics::usage::{read_call_usage, Asked, UsageRead};
use postload::openai::catalog::Catalog;
use postload::openai::reasoning::{Effort, ReasoningTokens};
use postload::openai::tokens::bpe;
use postload::openai::world::TTFT_HEADER;
use postload::stub::{Reply, StubConfig, StubCore};
use serde_json::{json, Value};

use crate::common::{client, config, post, start};

/// A gpt-5-mini request of one user message, with `extra` fields.
fn body(extra: Value) -> Value {
    let mut b = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "A caption for a bakery."}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn core(cfg: StubConfig) -> StubCore {
    StubCore::new(cfg, Arc::new(ManualClock::new())).unwrap()
}

fn ask(core: &StubCore, b: &Value, draw_stream: Option<&str>) -> (Reply, Value) {
    let r = core.chat(&serde_json::to_vec(b).unwrap(), draw_stream);
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r, v)
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    &r.headers.iter().find(|h| h.0 == name).unwrap().1
}

/// `(completion_tokens, reasoning_tokens)` of a non-streamed 200.
fn tokens(v: &Value) -> (u64, u64) {
    let u = &v["usage"];
    (
        u["completion_tokens"].as_u64().unwrap(),
        u["completion_tokens_details"]["reasoning_tokens"]
            .as_u64()
            .unwrap(),
    )
}

#[tokio::test]
async fn reasoning_rules_over_http_get_openais_exact_400s_and_its_rate_limit_headers() {
    let stub = start(config()).await;
    let c = client();
    let cases = [
        (
            json!({"max_tokens": 20}),
            json!({"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}),
        ),
        (
            json!({"max_completion_tokens": 20, "temperature": 0.7}),
            json!({"error": {"message": "Unsupported value: 'temperature' does not support 0.7 with this model. Only the default (1) value is supported.",
                "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}}),
        ),
        (
            json!({"reasoning_effort": "xhigh"}),
            json!({"error": {"message": "Unsupported value: 'reasoning_effort' does not support 'xhigh' with this model. Supported values are: 'minimal', 'low', 'medium', and 'high'.",
                "type": "invalid_request_error", "param": "reasoning_effort", "code": "unsupported_value"}}),
        ),
    ];
    for (extra, want) in cases {
        let a = post(&c, &stub, &body(extra)).await;
        assert_eq!((a.status, a.json()), (400, want));
        // The model is known: its family's limits ride on the refusal (gpt-5-mini, Tier 1).
        assert_eq!(a.header("x-ratelimit-limit-tokens").unwrap(), "500000");
    }
    // The same model with max_completion_tokens is served.
    let a = post(&c, &stub, &body(json!({"max_completion_tokens": 5000}))).await;
    assert_eq!(a.status, 200, "{}", a.text);
    assert_eq!(a.json()["model"], "gpt-5-mini-2025-08-07");
}

/// gpt-5-mini's reasoning tokens per effort (mocks/latency.toml): minimal none, low median 192,
/// high median 2048, all with sigma 0.8. One draw stream gives every effort the same standard
/// normal z, so reasoning = round(median × e^(0.8 z)) and high/low = 2048/192 up to rounding.
#[test]
fn effort_changes_the_drawn_reasoning_tokens_and_the_time_to_first_token() {
    let mut cfg = config();
    cfg.fixed_latency = None; // gpt-5-mini's own profile: reasoning takes time
    let core = core(cfg);
    let mut seen = vec![];
    for effort in ["minimal", "low", "high"] {
        let (r, v) = ask(&core, &body(json!({"reasoning_effort": effort})), Some("7"));
        assert_eq!(r.status, 200, "{v}");
        let (completion, reasoning) = tokens(&v);
        let content = v["choices"][0]["message"]["content"].as_str().unwrap();
        // Visible tokens are the content; the rest of completion_tokens is reasoning.
        assert_eq!(bpe().count_ordinary(content) as u64, completion - reasoning);
        let ttft: f64 = header(&r, TTFT_HEADER).parse().unwrap();
        seen.push((completion - reasoning, reasoning, ttft));
    }
    let [(v_min, r_min, t_min), (v_low, r_low, t_low), (v_high, r_high, t_high)] = seen[..] else {
        unreachable!()
    };
    assert_eq!(r_min, 0, "minimal draws no reasoning for gpt-5-mini");
    assert!(r_low > 0);
    // |r_high × 192 − r_low × 2048| ≤ (192 + 2048) / 2: both are the same real scaled and rounded.
    assert!(
        (r_high as i64 * 192 - r_low as i64 * 2048).abs() <= 1120,
        "{r_low} {r_high}"
    );
    // The same visible draw at every effort; the reasoning comes before the first token.
    assert_eq!((v_min, v_low), (v_high, v_high));
    assert!(t_min < t_low && t_low < t_high, "{t_min} {t_low} {t_high}");
    // The same speed draw too: the extra wait is proportional to the reasoning (±1 µs rounding).
    let ratio = (t_high - t_min) / (t_low - t_min);
    assert!(
        (ratio - r_high as f64 / r_low as f64).abs() < 0.01,
        "{ratio}"
    );
}

#[test]
fn reasoning_tokens_are_in_completion_tokens_and_in_cost() {
    let core = core(config());
    let b = body(json!({"reasoning_effort": "low", "max_completion_tokens": 8000}));
    let (r, v) = ask(&core, &b, Some("3"));
    assert_eq!(r.status, 200, "{v}");
    let (completion, reasoning) = tokens(&v);
    let visible =
        bpe().count_ordinary(v["choices"][0]["message"]["content"].as_str().unwrap()) as u64;
    assert!(reasoning > 0);
    assert_eq!(completion, visible + reasoning);
    let prompt = v["usage"]["prompt_tokens"].as_u64().unwrap();
    assert_eq!(
        v["usage"]["total_tokens"].as_u64().unwrap(),
        prompt + completion
    );
    // The run's cost path reads completion_tokens, reasoning included, within the call's cap.
    let asked = Asked {
        prompt_tokens: Some(prompt),
        max_tokens: Some(8000),
    };
    let UsageRead::Tokens(t) = read_call_usage(Some(&v["usage"]), asked) else {
        panic!("usage read as bad: {v}")
    };
    assert_eq!(t.completion, visible + reasoning);
    // gpt-5-mini: $0.25 input, $2.00 output per 1M (mocks/prices.toml).
    let price = &Catalog::embedded().prices.models["gpt-5-mini"];
    let hand = (prompt as f64 * 0.25 + (visible + reasoning) as f64 * 2.00) / 1e6;
    assert!((cost_usd(price, t) - hand).abs() < 1e-12);
    // The stub's own counters bill them too.
    assert_eq!(
        core.stats().models["gpt-5-mini"].completion_tokens,
        completion
    );
}

/// A catalog whose gpt-5-mini reasons at least 100 tokens at `high`, so a cap of 16 is always
/// reached (the shipped profile's min is 0).
fn always_reasoning() -> StubConfig {
    let mut catalog = Catalog::embedded();
    let high = catalog
        .reasoning_tokens
        .get_mut("gpt-5-mini")
        .unwrap()
        .get_mut(&Effort::High)
        .unwrap();
    *high = ReasoningTokens { min: 100, ..*high };
    StubConfig::new(Arc::new(catalog)).with_zero_latency()
}

trait ZeroLatency {
    fn with_zero_latency(self) -> Self;
}

impl ZeroLatency for StubConfig {
    fn with_zero_latency(mut self) -> Self {
        self.fixed_latency = Some(Duration::ZERO);
        self
    }
}

#[test]
fn a_reasoning_budget_that_uses_max_completion_tokens_ends_length_with_empty_content() {
    let core = core(always_reasoning());
    let b = body(json!({"reasoning_effort": "high", "max_completion_tokens": 16}));
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 200, "{v}");
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "length");
    assert_eq!(choice["message"]["content"], "");
    // At least 100 reasoning tokens wanted, 16 allowed: all 16 are reasoning, all billed.
    assert_eq!(tokens(&v), (16, 16));

    // Streamed: the role delta, no content delta, `length`, and the usage chunk saying so.
    let mut b = b.clone();
    b["stream"] = json!(true);
    b["stream_options"] = json!({"include_usage": true});
    let (r, _) = ask(&core, &b, None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|e| e.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    assert!(text.ends_with("data: [DONE]\n\n"));
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "");
    let finish: Vec<&Value> = chunks
        .iter()
        .map(|c| &c["choices"][0]["finish_reason"])
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("length")]);
    let usage = &chunks.last().unwrap()["usage"];
    assert_eq!(usage["completion_tokens"], 16);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 16);
}

/// OpenAI reserves the prompt estimate plus n × max_completion_tokens of a reasoning request
/// (docs/stub.md, Reasoning models). gpt-5-mini at Tier 1: 500,000 TPM. With time frozen and
/// each request reserving p + 16,000, floor(500,000 / (p + 16,000)) = 31 fit for any p ≤ 129
/// (31 × 16,129 = 499,999), and the 32nd is refused naming what it asked.
#[test]
fn the_bucket_reserves_the_prompt_and_max_completion_tokens() {
    let core = core(config());
    let b = body(json!({"reasoning_effort": "minimal", "max_completion_tokens": 16000}));
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 200, "{v}");
    let each = v["usage"]["prompt_tokens"].as_u64().unwrap() + 16_000;
    assert!(each <= 16_129);
    for k in 2..=31 {
        assert_eq!(ask(&core, &b, None).0.status, 200, "request {k}");
    }
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 429, "{v}");
    let used = 31 * each;
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("Limit 500000, Used {used}, Requested {each}.")),
        "{message}"
    );
    // n = 2 reserves two completions: p + 32,000.
    let core2 = self::core(config());
    let mut two = b.clone();
    two["n"] = json!(2);
    let fits = 500_000 / (each + 16_000);
    for _ in 0..fits {
        assert_eq!(ask(&core2, &two, None).0.status, 200);
    }
    let (r, v) = ask(&core2, &two, None);
    assert_eq!(r.status, 429, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains(&format!("Requested {}.", each + 16_000)));
}

/// JSON mode counts its content as it tokenizes; the reasoning tokens are added on top, and a
/// choice whose reasoning used the cap has no JSON at all ("", not "{}").
#[test]
fn json_mode_adds_the_reasoning_tokens_and_an_exhausted_budget_writes_no_json() {
    let core = core(always_reasoning());
    let mut b = body(
        json!({"reasoning_effort": "high", "max_completion_tokens": 16,
        "response_format": {"type": "json_object"}}),
    );
    b["messages"][0]["content"] = json!("A caption for a bakery, in JSON.");
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(v["choices"][0]["message"]["content"], "");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(tokens(&v), (16, 16));
    // With room to write: the JSON parses, and completion = its tokens + the reasoning.
    b["max_completion_tokens"] = json!(128_000);
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 200, "{v}");
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    serde_json::from_str::<Value>(content).unwrap();
    let (completion, reasoning) = tokens(&v);
    assert!(reasoning >= 100, "{reasoning}");
    assert_eq!(
        completion,
        bpe().split_by_token_ordinary(content).unwrap().len() as u64 + reasoning
    );
}

/// `postload run` on a gpt-5-mini scenario file (`extra` lines before `[load]`), 20 users at
/// once on the embedded stub at 1 ms latencies; its one case of result.json.
fn run_gpt5_mini(tag: &str, extra: &str) -> Value {
    let dir = crate::common::tempdir(tag);
    let file = dir.join("gpt5.toml");
    std::fs::write(
        &file,
        format!("name = \"gpt5\"\nmodel = \"gpt-5-mini\"\nseed = 3\n{extra}[load]\nkind = \"burst\"\nusers = 20\n"),
    )
    .unwrap();
    let out = dir.join("reports");
    let _ = assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["run", "--quiet", "--latency-ms", "1", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&out)
        .output()
        .unwrap();
    let (_, r) = crate::common::read_result(&out);
    r["cases"][0].clone()
}

#[test]
fn a_run_on_a_reasoning_model_sends_max_completion_tokens_and_fails_posts_left_without_an_answer() {
    // Before: a scenario on gpt-5-mini was refused (the run sent `max_tokens`, which OpenAI
    // refuses for reasoning models). Now its calls send `max_completion_tokens`.
    //
    // At effort minimal gpt-5-mini reasons not at all (mocks/latency.toml): every post is
    // answered, 20 ok, nothing failed, and no call writes past its cap (150 and 200).
    let c = run_gpt5_mini("gpt5-minimal", "reasoning_effort = \"minimal\"\n");
    assert_eq!(c["posts"]["ok"], 20, "{}", c["posts"]);
    assert_eq!(c["calls"]["calls"], 40, "{}", c["calls"]);
    let by_call = &c["tokens"]["by_call"];
    assert!(by_call["image_prompt"]["completion"].as_u64().unwrap() <= 20 * 150);
    assert!(by_call["caption"]["completion"].as_u64().unwrap() <= 20 * 200);

    // At the default effort (not sent: medium, a median of 640 reasoning tokens, σ 0.8) the
    // image-prompt call's 150-token cap is spent reasoning unless the draw is below 150:
    // P = Φ(ln(150/640) / 0.8) = Φ(-1.81) ≈ 3.5 %; its caption would then need a draw below
    // 200 too (Φ(-1.45) ≈ 7 %). So nearly every post fails as an empty answer, each image call
    // billed its whole cap: tokens are spent, nothing is written.
    let c = run_gpt5_mini("gpt5-medium", "");
    let failed = c["posts"]["failed_by_cause"]["empty_answer"]
        .as_u64()
        .unwrap_or(0);
    assert!(failed >= 18, "{}", c["posts"]);
    assert_eq!(c["posts"]["failed"], failed, "{}", c["posts"]);
    let image = &by_call_of(&c)["image_prompt"];
    // Every image call that failed wrote exactly its cap (reasoning only): at least 150 × failed.
    assert!(
        image["completion"].as_u64().unwrap() >= 150 * failed,
        "{image}"
    );
    assert!(c["cost"]["total_usd"].as_f64().unwrap() > 0.0);

    // With room to reason (a 4,000-token cap at effort low, median 192): answered, and the
    // reasoning is billed as completion: each call writes more than the caption's own tokens.
    let c = run_gpt5_mini(
        "gpt5-low",
        "reasoning_effort = \"low\"\n[prompts]\nimage_prompt = { prompt_tokens = 800, max_tokens = 4000 }\ncaption = { prompt_tokens = 1200, max_tokens = 4000 }\n",
    );
    assert!(c["posts"]["ok"].as_u64().unwrap() >= 19, "{}", c["posts"]);
}

fn by_call_of(case: &Value) -> &Value {
    &case["tokens"]["by_call"]
}
