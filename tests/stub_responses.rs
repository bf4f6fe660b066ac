//! The stub's Responses API (`POST /v1/responses`, issue 30): the `response` object and its
//! usage, the event stream (its events, order and sequence numbers), reasoning tokens in
//! `output_tokens` and the cost, `incomplete` on `max_output_tokens`, the bucket, prompt cache,
//! faults and traces it shares with chat completions, and its 400s naming the bad field.

use std::sync::Arc;
use std::time::Duration;

use postload::clock::ManualClock;
use postload::metrics::cost::{cost_usd, Tokens};
use postload::openai::catalog::Catalog;
use postload::openai::reasoning::{Effort, ReasoningTokens};
use postload::openai::tokens::bpe;
use postload::stub::{Reply, StubConfig, StubCore, StubHandle};
use postload::traceparent::TraceParent;
use serde_json::{json, Value};

use crate::common::{client, config, start, Answer};

const PROMPT: &str = "A caption for a bakery.";

/// A Responses body for `model` with `PROMPT` as its input and `extra` fields.
fn body(model: &str, extra: Value) -> Value {
    let mut b = json!({"model": model, "input": PROMPT});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

/// The chat body that says the same: `PROMPT` as one user message.
fn chat(model: &str, extra: Value) -> Value {
    let mut b = json!({"model": model, "messages": [{"role": "user", "content": PROMPT}]});
    for (k, v) in extra.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

fn core(cfg: StubConfig) -> StubCore {
    StubCore::new(cfg, Arc::new(ManualClock::new())).unwrap()
}

fn ask(core: &StubCore, b: &Value, draw_stream: Option<&str>) -> (Reply, Value) {
    let r = core.responses(&serde_json::to_vec(b).unwrap(), draw_stream);
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r, v)
}

fn ask_chat(core: &StubCore, b: &Value, draw_stream: Option<&str>) -> (Reply, Value) {
    let r = core.chat(&serde_json::to_vec(b).unwrap(), draw_stream);
    let v = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r, v)
}

async fn post(stub: &StubHandle, b: &Value, headers: &[(&str, String)]) -> Answer {
    let mut req = client()
        .post(format!("{}/responses", stub.base_url()))
        .bearer_auth("sk-test-not-a-real-key")
        .json(b);
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let r = req.send().await.expect("request reaches the stub");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.expect("body");
    Answer {
        status,
        headers,
        text,
    }
}

/// The visible text of a response: its message's `output_text`.
fn output_text(v: &Value) -> String {
    v["output"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["type"] == "message")
        .flat_map(|i| i["content"].as_array().unwrap().iter())
        .filter_map(|c| c["text"].as_str())
        .collect()
}

/// (input, cached, output, reasoning, total) of a response's usage.
fn usage(v: &Value) -> (u64, u64, u64, u64, u64) {
    let u = &v["usage"];
    let n = |x: &Value| x.as_u64().unwrap_or_else(|| panic!("not a count: {v}"));
    (
        n(&u["input_tokens"]),
        n(&u["input_tokens_details"]["cached_tokens"]),
        n(&u["output_tokens"]),
        n(&u["output_tokens_details"]["reasoning_tokens"]),
        n(&u["total_tokens"]),
    )
}

#[tokio::test]
async fn a_response_has_openais_shape_usage_and_rate_limit_headers() {
    let stub = start(config()).await;
    let b = body(
        "gpt-4o",
        json!({"instructions": "You write short marketing captions.", "max_output_tokens": 300}),
    );
    let a = post(&stub, &b, &[]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let v = a.json();
    assert!(v["id"].as_str().unwrap().starts_with("resp_"), "{v}");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["incomplete_details"], Value::Null);
    assert_eq!(v["model"], "gpt-4o-2024-08-06");
    assert_eq!(v["instructions"], "You write short marketing captions.");
    assert_eq!(v["max_output_tokens"], 300);
    // gpt-4o reasons not: one message item, no reasoning item.
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{v}");
    let message = &output[0];
    assert_eq!(
        (&message["type"], &message["role"], &message["status"]),
        (&json!("message"), &json!("assistant"), &json!("completed"))
    );
    assert!(message["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(message["content"][0]["type"], "output_text");
    // The fixed profile writes 100 tokens; the text re-tokenizes to output_tokens.
    let (input, cached, out, reasoning, total) = usage(&v);
    assert_eq!(bpe().count_ordinary(&output_text(&v)) as u64, out);
    assert_eq!((out, reasoning, cached), (100, 0, 0));
    assert_eq!(total, input + out);
    // instructions + input are the prompt a chat call with a system and a user message has.
    let c = crate::common::post(
        &client(),
        &stub,
        &json!({"model": "gpt-4o", "messages": [
            {"role": "system", "content": "You write short marketing captions."},
            {"role": "user", "content": PROMPT}]}),
    )
    .await;
    assert_eq!(c.json()["usage"]["prompt_tokens"].as_u64().unwrap(), input);
    // The chat call's headers: its family's limits, a request id, the modelled TTFT.
    assert_eq!(a.header("x-ratelimit-limit-tokens").unwrap(), "30000");
    assert!(a.header("x-request-id").unwrap().starts_with("req_"));
    assert!(a.header("x-stub-ttft-ms").is_some());
    // Both counted as model calls, under their call types; the Responses call apart too.
    let stats = stub.stats();
    assert_eq!(stats.chat_requests, 2);
    assert_eq!(stats.responses_requests, 1);
    assert_eq!(stats.models["gpt-4o"].completion_tokens, 200);
}

/// Splits an event stream into (event line, data) pairs, checking each event's `event:` line
/// names its data's `type`.
fn events(body: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(body).unwrap();
    assert!(text.ends_with("\n\n"));
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let (event, data) = e.split_once('\n').expect("two lines");
            let event = event.strip_prefix("event: ").expect("an event line");
            let data: Value =
                serde_json::from_str(data.strip_prefix("data: ").expect("a data line")).unwrap();
            assert_eq!(data["type"], event, "{e}");
            (event.to_string(), data)
        })
        .collect()
}

#[test]
fn the_stream_is_openais_event_sequence_numbered_from_zero() {
    let core = core(config());
    let b = body(
        "gpt-5-mini",
        json!({"stream": true, "max_output_tokens": 8000, "reasoning": {"effort": "low"}}),
    );
    let (r, _) = ask(&core, &b, Some("3"));
    assert_eq!(r.status, 200);
    let ev = events(&r.body);
    let kinds: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    // The fixed profile writes 100 visible tokens: 100 deltas.
    let mut want = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
    ];
    want.extend(["response.output_text.delta"; 100]);
    want.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(kinds, want);
    for (i, (_, data)) in ev.iter().enumerate() {
        assert_eq!(data["sequence_number"], i as u64);
    }
    // The reasoning item first (output 0), then the message (output 1).
    assert_eq!(ev[2].1["item"]["type"], "reasoning");
    assert_eq!(ev[4].1["item"]["status"], "in_progress");
    assert_eq!(ev[2].1["output_index"], 0);
    assert_eq!(ev[6].1["output_index"], 1);
    let msg_id = &ev[4].1["item"]["id"];
    // content_part.added … content_part.done name the message they belong to.
    assert!(ev[5..ev.len() - 2]
        .iter()
        .all(|e| &e.1["item_id"] == msg_id && e.1["content_index"] == 0));
    let deltas: String = ev
        .iter()
        .filter(|e| e.0 == "response.output_text.delta")
        .map(|e| e.1["delta"].as_str().unwrap())
        .collect();
    let done = &ev[ev.len() - 4].1;
    assert_eq!(done["text"], deltas.as_str());
    // The last event holds the whole response: what a non-streamed call answers.
    let last = &ev.last().unwrap().1["response"];
    assert_eq!(last["status"], "completed");
    assert_eq!(output_text(last), deltas);
    let (input, _, out, reasoning, total) = usage(last);
    assert_eq!(out, 100 + reasoning);
    assert!(reasoning > 0);
    assert_eq!(total, input + out);
    // created and in_progress: in progress, nothing out yet, no usage.
    assert_eq!(ev[0].1["response"]["status"], "in_progress");
    assert_eq!(ev[0].1["response"]["usage"], Value::Null);
    // The first part, due at the time to first token, ends after the first text delta.
    let (end, ttft) = r.first_part.expect("a streamed 200 is paced");
    let first = events(&r.body[..end]);
    assert_eq!(first.len(), 7);
    assert_eq!(first[6].0, "response.output_text.delta");
    assert!(ttft <= r.delay);
}

/// One draw stream gives the Responses call the draws the chat call gets (the one model
/// module): the same reasoning and visible tokens; `output_tokens` bills both, and so does
/// the cost.
#[test]
fn reasoning_tokens_are_in_output_tokens_and_in_cost_as_on_chat() {
    let core = core(config());
    let b = body(
        "gpt-5-mini",
        json!({"reasoning": {"effort": "low"}, "max_output_tokens": 8000}),
    );
    let (r, v) = ask(&core, &b, Some("3"));
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(v["reasoning"]["effort"], "low");
    let output = v["output"].as_array().unwrap();
    assert_eq!(output[0]["type"], "reasoning");
    assert!(output[0]["id"].as_str().unwrap().starts_with("rs_"));
    assert_eq!(output[1]["type"], "message");
    let (input, cached, out, reasoning, _) = usage(&v);
    let visible = bpe().count_ordinary(&output_text(&v)) as u64;
    assert!(reasoning > 0);
    assert_eq!(out, visible + reasoning);
    let c = chat(
        "gpt-5-mini",
        json!({"reasoning_effort": "low", "max_completion_tokens": 8000}),
    );
    let (_, cv) = ask_chat(&core, &c, Some("3"));
    let cu = &cv["usage"];
    assert_eq!(cu["completion_tokens"], out);
    assert_eq!(
        cu["completion_tokens_details"]["reasoning_tokens"],
        reasoning
    );
    assert_eq!(cu["prompt_tokens"], input);
    // gpt-5-mini: $0.25 input, $2.00 output per 1M (mocks/prices.toml).
    let price = &Catalog::embedded().prices.models["gpt-5-mini"];
    let t = Tokens {
        prompt: input,
        cached,
        completion: out,
    };
    let hand = (input as f64 * 0.25 + (visible + reasoning) as f64 * 2.00) / 1e6;
    assert!((cost_usd(price, t) - hand).abs() < 1e-12);
    assert_eq!(core.stats().models["gpt-5-mini"].completion_tokens, 2 * out);
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
    let mut cfg = StubConfig::new(Arc::new(catalog));
    cfg.fixed_latency = Some(Duration::ZERO);
    cfg
}

#[test]
fn a_cap_reached_is_incomplete_for_max_output_tokens_streamed_or_not() {
    let core = core(always_reasoning());
    let b = body(
        "gpt-5-mini",
        json!({"reasoning": {"effort": "high"}, "max_output_tokens": 16}),
    );
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 200, "{v}");
    assert_eq!(v["status"], "incomplete");
    assert_eq!(
        v["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
    assert_eq!(v["completed_at"], Value::Null);
    // All 16 tokens went to reasoning: no message item, only the reasoning item, all billed.
    let output = v["output"].as_array().unwrap();
    assert_eq!(output.len(), 1, "{v}");
    assert_eq!(output[0]["type"], "reasoning");
    let (_, _, out, reasoning, _) = usage(&v);
    assert_eq!((out, reasoning), (16, 16));

    let mut s = b.clone();
    s["stream"] = json!(true);
    let (r, _) = ask(&core, &s, None);
    let ev = events(&r.body);
    let kinds: Vec<&str> = ev.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.output_item.done",
            "response.incomplete"
        ]
    );
    let last = &ev[4].1["response"];
    assert_eq!(last["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(usage(last).2, 16);

    // A model that writes past the cap: the message is cut, incomplete, 16 tokens of text.
    let (_, v) = ask(
        &core,
        &body("gpt-4o", json!({"max_output_tokens": 16})),
        None,
    );
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["output"][0]["status"], "incomplete");
    assert_eq!(bpe().count_ordinary(&output_text(&v)), 16);
    assert_eq!(usage(&v).2, 16);
}

/// gpt-5-mini at Tier 1: 500,000 TPM. With time frozen and each call reserving p + 16,000
/// (p ≤ 129 prompt tokens), 31 chat calls fit (31 × 16,129 = 499,999); the Responses call
/// after them is refused from the same bucket, naming what the chat calls used.
#[test]
fn responses_draw_from_the_bucket_chat_completions_fill() {
    let core = core(config());
    let c = chat(
        "gpt-5-mini",
        json!({"reasoning_effort": "minimal", "max_completion_tokens": 16000}),
    );
    let (r, v) = ask_chat(&core, &c, None);
    assert_eq!(r.status, 200, "{v}");
    let each = v["usage"]["prompt_tokens"].as_u64().unwrap() + 16_000;
    assert!(each <= 16_129);
    for k in 2..=31 {
        assert_eq!(ask_chat(&core, &c, None).0.status, 200, "request {k}");
    }
    let b = body(
        "gpt-5-mini",
        json!({"reasoning": {"effort": "minimal"}, "max_output_tokens": 16000}),
    );
    let (r, v) = ask(&core, &b, None);
    assert_eq!(r.status, 429, "{v}");
    assert_eq!(v["error"]["type"], "tokens");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    // The same prompt (one user message of the same text): the same reservation.
    let message = v["error"]["message"].as_str().unwrap();
    let used = 31 * each;
    assert!(
        message.contains(&format!("Limit 500000, Used {used}, Requested {each}.")),
        "{message}"
    );
    let remaining = r
        .headers
        .iter()
        .find(|h| h.0 == "x-ratelimit-remaining-tokens")
        .unwrap();
    assert_eq!(remaining.1, (500_000 - used).to_string());
    assert_eq!(core.stats().rate_limited.tokens, 1);
}

#[test]
fn faults_and_the_forced_429s_apply_to_responses_too() {
    let mut cfg = config();
    cfg.faults.server_error_share = 1.0;
    let (r, v) = ask(&core(cfg), &body("gpt-4o", json!({})), None);
    assert_eq!(
        (r.status, &v["error"]["type"]),
        (500, &json!("server_error"))
    );
    let mut cfg = config();
    cfg.faults.first_n_429 = 1;
    let core = core(cfg);
    assert_eq!(ask(&core, &body("gpt-4o", json!({})), None).0.status, 429);
    assert_eq!(ask(&core, &body("gpt-4o", json!({})), None).0.status, 200);
}

/// A prompt of at least 1,024 tokens sent again is served from the prompt cache, whichever
/// endpoint sent it first: the model's one cache.
#[test]
fn a_prompt_a_chat_call_sent_is_cached_for_the_responses_call() {
    let mut cfg = config();
    cfg.prompt_cache_hit = Some(1.0);
    let core = core(cfg);
    let long = "bread and butter ".repeat(400);
    let c = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": long}]});
    let (_, cv) = ask_chat(&core, &c, None);
    let prompt = cv["usage"]["prompt_tokens"].as_u64().unwrap();
    assert!(prompt >= 1_024);
    let (_, v) = ask(&core, &json!({"model": "gpt-4o", "input": long}), None);
    let (input, cached, ..) = usage(&v);
    assert_eq!(input, prompt);
    // The whole prompt was seen: cached in 128-token steps, OpenAI's rule.
    assert_eq!(cached, prompt / 128 * 128);
}

#[tokio::test]
async fn bad_fields_get_openais_400_naming_the_param() {
    let stub = start(config()).await;
    let cases = [
        (
            body("gpt-4o", json!({"max_tokens": 100})),
            json!({"error": {"message": "Unknown parameter: 'max_tokens'.",
                "type": "invalid_request_error", "param": "max_tokens", "code": "unknown_parameter"}}),
        ),
        (
            body("gpt-4o", json!({"max_output_tokens": 10})),
            json!({"error": {"message": "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead.",
                "type": "invalid_request_error", "param": "max_output_tokens", "code": "integer_below_min_value"}}),
        ),
        (
            body("gpt-5-mini", json!({"temperature": 0.7})),
            json!({"error": {"message": "Unsupported parameter: 'temperature' is not supported with this model.",
                "type": "invalid_request_error", "param": "temperature", "code": null}}),
        ),
        (
            body("gpt-5-mini", json!({"reasoning": {"effort": "xhigh"}})),
            json!({"error": {"message": "Unsupported value: 'reasoning.effort' does not support 'xhigh' with this model. Supported values are: 'minimal', 'low', 'medium', and 'high'.",
                "type": "invalid_request_error", "param": "reasoning.effort", "code": "unsupported_value"}}),
        ),
        (
            body("gpt-4o", json!({"input": [{"role": "user", "content": 5}]})),
            json!({"error": {"message": "Invalid type for 'input[0].content': expected a string or an array, but got an integer instead.",
                "type": "invalid_request_error", "param": "input[0].content", "code": "invalid_type"}}),
        ),
    ];
    for (b, want) in cases {
        let a = post(&stub, &b, &[]).await;
        assert_eq!((a.status, a.json()), (400, want));
        // The model is known: its family's limits ride on the refusal.
        assert!(a.header("x-ratelimit-limit-tokens").is_some(), "{b}");
    }
    let a = post(&stub, &body("gpt-9", json!({})), &[]).await;
    assert_eq!(
        (a.status, &a.json()["error"]["param"]),
        (400, &json!("model"))
    );
    // No bearer token: OpenAI's 401, counted like a chat request's.
    let r = client()
        .post(format!("{}/responses", stub.base_url()))
        .json(&body("gpt-4o", json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let stats = stub.stats();
    assert_eq!(stats.by_status[&400], 6);
    assert_eq!(stats.by_status[&401], 1);
}

/// A Responses call carrying a `traceparent` is counted under its trace, its call type its
/// `max_output_tokens`.
#[tokio::test]
async fn a_traced_responses_call_counts_under_its_max_output_tokens() {
    let stub = start(config()).await;
    let trace = TraceParent::for_post(5, 0);
    let b = body("gpt-4o", json!({"max_output_tokens": 150}));
    let a = post(&stub, &b, &[("traceparent", trace.header())]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    let report = stub.traces();
    let t = &report.traces[&trace.trace_hex()];
    assert_eq!(t.requests, 1);
    assert_eq!(t.by_max_tokens.get(&150), Some(&1));
}

/// The Responses route reads its body within the chat route's bounds: over `max_body_bytes`
/// a 413 (counted as a model call's refusal), under it an answer; any method but POST a 405.
#[tokio::test]
async fn a_responses_body_over_the_limit_gets_413_and_other_methods_405() {
    let mut cfg = config();
    cfg.max_body_bytes = 4096;
    let stub = start(cfg).await;
    let big = body("gpt-4o", json!({"input": "bread ".repeat(1000)}));
    assert!(serde_json::to_vec(&big).unwrap().len() > 4096);
    let a = post(&stub, &big, &[]).await;
    assert_eq!(a.status, 413, "{}", a.text);
    assert_eq!(a.json()["error"]["type"], "invalid_request_error");
    let small = body("gpt-4o", json!({"input": "bread ".repeat(100)}));
    assert_eq!(post(&stub, &small, &[]).await.status, 200);
    let stats = stub.stats();
    assert_eq!(
        (stats.chat_requests, stats.by_status.get(&413)),
        (2, Some(&1))
    );
    // The 413 the front answered itself is a Responses call too.
    assert_eq!(stats.responses_requests, 2);
    let r = client()
        .get(format!("{}/responses", stub.base_url()))
        .bearer_auth("sk-test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");
}

/// The same seed and arrival order give the same response: ids, text and usage.
#[test]
fn a_seed_repeats_its_responses_ids_and_all() {
    let b = body("gpt-5-mini", json!({"max_output_tokens": 4000}));
    let strip = |mut v: Value| {
        // Wall-clock stamps aside.
        v["created_at"] = Value::Null;
        v["completed_at"] = Value::Null;
        v
    };
    let one = strip(ask(&core(config()), &b, None).1);
    let two = strip(ask(&core(config()), &b, None).1);
    assert_eq!(one, two);
    let mut other = config();
    other.seed = 1;
    assert_ne!(one["id"], strip(ask(&core(other), &b, None).1)["id"]);
}

/// Seeded garbage never panics the Responses path: byte-level damage to a rich body, and every
/// value of its tree replaced by each JSON type in turn. Each answer is a 200, an OpenAI error
/// (400, or 429 once frozen time has filled the bucket) or the stream, never anything else.
#[test]
fn no_responses_body_panics_the_stub() {
    let core = core(config());
    let good = json!({"model": "gpt-5-mini", "instructions": "Be brief.", "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "hi"},
            {"type": "input_image", "image_url": "https://x/y.png"}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "1"}],
        "max_output_tokens": 64, "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": {}}},
        "stream": false, "metadata": {"a": "b"}, "tools": [], "truncation": "auto"});
    let answers_well = |b: &[u8]| {
        let r = core.responses(b, None);
        assert!(matches!(r.status, 200 | 400 | 429), "{}", r.status);
        if r.status != 200 {
            let v: Value = serde_json::from_slice(&r.body).unwrap();
            assert!(v["error"]["message"].is_string(), "{v}");
        }
    };
    // Every value of the tree (by JSON pointer) replaced by each type.
    fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| pointers(x, format!("{at}/{k}"), out)),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| pointers(x, format!("{at}/{i}"), out)),
            _ => {}
        }
        out.push(at);
    }
    let mut all = vec![];
    pointers(&good, String::new(), &mut all);
    let kinds = [
        json!(null),
        json!(-1),
        json!(1e300),
        json!(18_446_744_073_709_551_615u64),
        json!("x"),
        json!([]),
        json!({}),
        json!([{}]),
        json!(true),
    ];
    for p in all.iter().filter(|p| !p.is_empty()) {
        for k in &kinds {
            let mut b = good.clone();
            *b.pointer_mut(p).unwrap() = k.clone();
            answers_well(&serde_json::to_vec(&b).unwrap());
        }
    }
    // Byte-level damage, seeded.
    let bytes = serde_json::to_vec(&good).unwrap();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state as usize
    };
    for i in 0..300 {
        let mut b = bytes.clone();
        match i % 2 {
            0 => b.truncate(next() % bytes.len()),
            _ => {
                let at = next() % b.len();
                b[at] = (next() % 256) as u8;
            }
        }
        answers_well(&b);
    }
}
