//! A chat request parsed and checked the way OpenAI does it: each bad field gets a 400 with
//! `invalid_request_error` and `param` naming the field (an unknown model gets a 404
//! `model_not_found`). The body is read into `serde_json::Value`s within a budget of values and
//! messages ([`bounded`]), then checked field by field, so no body of any shape can panic the
//! stub or make it hold more than the budget. [`ChatRequest`] is the typed result the core
//! uses: a new parameter (say `reasoning_effort`) is a field there and a check in `fields`.

mod bounded;
mod fields;
mod messages;
mod reasoning;
pub mod responses;

pub use bounded::{MAX_MESSAGES, MAX_VALUES};

use serde_json::{Map, Value};

use crate::openai::catalog::{Catalog, ModelEntry};
use crate::openai::errors::ApiError;
use crate::openai::reasoning::{Effort, MAX_REASONING_TOKENS};

/// Every top-level field of Chat Completions (API reference, 2025); anything else gets OpenAI's
/// "Unrecognized request argument supplied".
const KNOWN_FIELDS: [&str; 34] = [
    "audio",
    "frequency_penalty",
    "function_call",
    "functions",
    "logit_bias",
    "logprobs",
    "max_completion_tokens",
    "max_tokens",
    "messages",
    "metadata",
    "modalities",
    "model",
    "n",
    "parallel_tool_calls",
    "prediction",
    "presence_penalty",
    "prompt_cache_key",
    "reasoning_effort",
    "response_format",
    "safety_identifier",
    "seed",
    "service_tier",
    "stop",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "user",
    "verbosity",
    "web_search_options",
];

/// A request that passed validation, with what the stub needs from it.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub model: &'a ModelEntry,
    pub messages: Vec<Value>,
    /// `max_completion_tokens`, else `max_tokens` (a reasoning model refuses `max_tokens`): for a
    /// reasoning model it caps the reasoning and the visible tokens together.
    pub max_tokens: Option<u32>,
    /// A reasoning model's effort: `reasoning_effort`, else the model's default (`None`: the
    /// model does not reason).
    pub effort: Option<Effort>,
    pub n: u32,
    pub stream: bool,
    pub include_usage: bool,
    /// Characters in all message contents (for a character-based prompt estimate).
    pub prompt_chars: usize,
    /// `response_format` asks for JSON (`json_object` or `json_schema`): the content must parse.
    pub json: bool,
}

/// Parses and checks a chat request body as OpenAI does; the first bad field, in OpenAI's order, names the
/// error.
pub fn parse<'a>(body: &[u8], catalog: &'a Catalog) -> Result<ChatRequest<'a>, ApiError> {
    let mut obj = parse_object(body)?;
    let model = model_name(&obj)?;
    let (messages, prompt_chars) = messages::take(&mut obj)?;
    fields::check_types(&obj)?;
    fields::check_stop(&obj)?;
    fields::check_top_logprobs(&obj)?;
    let json = fields::response_format(&obj, &messages)?;
    // The most any model writes here; a model that does not reason is held to its own most below.
    let max_tokens = fields::max_tokens(&obj, MAX_REASONING_TOKENS as usize)?;
    let n = fields::n(&obj)?;
    let (stream, include_usage) = fields::stream(&obj)?;
    fields::check_sampling(&obj)?;

    // The model is checked last among the required fields, as OpenAI reports a malformed body
    // before an unknown model.
    let model = catalog
        .model(&model)
        .ok_or_else(|| ApiError::model_not_found(&model))?;
    // The model's own most (gpt-4o-2024-05-13 4,096, gpt-4.1 32,768: mocks/models.toml).
    fields::max_tokens(&obj, model.output_cap() as usize)?;
    let effort = reasoning::effort(model, &obj)?;

    Ok(ChatRequest {
        model,
        messages,
        max_tokens,
        effort,
        n,
        stream,
        include_usage,
        prompt_chars,
        json,
    })
}

/// The `model` a body names, read without building anything else (every other value is
/// skipped unbuilt): for a refused body's rate-limit headers. Until issue 24 this re-read the
/// whole body as a `Value`, and a refused 57 MiB body of 2,000,000 messages peaked at 1.5 GB.
pub fn model_of(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Model<'a> {
        #[serde(borrow)]
        model: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Model>(body)
        .ok()?
        .model
        .map(|m| m.into_owned())
}

/// The body as a JSON object of known fields only, read within the stub's bounds
/// ([`bounded`]: at most 2,048 messages and 100,000 values).
fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let obj = bounded::object(body)?;
    if let Some(name) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unrecognized_argument(name));
    }
    Ok(obj)
}

/// The `model` field's name (looked up in the catalog only after the other checks).
fn model_name(obj: &Map<String, Value>) -> Result<String, ApiError> {
    match obj.get("model") {
        None | Some(Value::Null) => Err(ApiError::missing("model")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(ApiError::invalid_type("model", "a string", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value) -> Result<(), ApiError> {
        let c = Catalog::embedded();
        parse(body.to_string().as_bytes(), &c).map(|_| ())
    }

    fn param_of(body: Value) -> (u16, Option<String>) {
        let e = check(body).unwrap_err();
        (e.status, e.param)
    }

    fn ok_body() -> Value {
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    }

    fn with(key: &str, v: Value) -> Value {
        let mut b = ok_body();
        b[key] = v;
        b
    }

    #[test]
    fn a_good_request_passes() {
        check(ok_body()).unwrap();
        check(with("max_tokens", json!(150))).unwrap();
        check(json!({"model": "gpt-4o", "messages": [
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c", "content": "42"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]}
        ]}))
        .unwrap();
    }

    /// Each body gets a `status` error whose `param` names the bad field.
    fn assert_named<const N: usize>(cases: [(Value, u16, &str); N]) {
        for (body, status, param) in cases {
            let got = param_of(body.clone());
            assert_eq!(got, (status, Some(param.to_string())), "{body}");
        }
    }

    #[test]
    fn bad_model_and_messages_are_named() {
        assert_named([
            (
                json!({"messages": [{"role": "user", "content": "hi"}]}),
                400,
                "model",
            ),
            (json!({"model": 4, "messages": []}), 400, "model"),
            (json!({"model": "gpt-4o"}), 400, "messages"),
            (json!({"model": "gpt-4o", "messages": []}), 400, "messages"),
            (
                json!({"model": "gpt-4o", "messages": "hi"}),
                400,
                "messages",
            ),
            (
                json!({"model": "gpt-4o", "messages": [3]}),
                400,
                "messages[0]",
            ),
            (
                json!({"model": "gpt-4o", "messages": [{"content": "hi"}]}),
                400,
                "messages[0].role",
            ),
            (
                json!({"model": "gpt-4o", "messages": [{"role": "bot", "content": "hi"}]}),
                400,
                "messages[0].role",
            ),
            (
                json!({"model": "gpt-4o", "messages": [{"role": "user"}]}),
                400,
                "messages[0].content",
            ),
            (
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": 5}]}),
                400,
                "messages[0].content",
            ),
            (
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}, {"role": "tool", "content": "x"}]}),
                400,
                "messages[1].tool_call_id",
            ),
            (
                json!({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "video"}]}]}),
                400,
                "messages[0].content[0].type",
            ),
        ]);
    }

    #[test]
    fn bad_token_limits_and_n_are_named() {
        assert_named([
            (with("max_tokens", json!(0)), 400, "max_tokens"),
            (with("max_tokens", json!(-5)), 400, "max_tokens"),
            (with("max_tokens", json!("many")), 400, "max_tokens"),
            (with("max_tokens", json!(1.5)), 400, "max_tokens"),
            (with("max_tokens", json!(1_000_000)), 400, "max_tokens"),
            (
                with("max_completion_tokens", json!(0)),
                400,
                "max_completion_tokens",
            ),
            (with("n", json!(0)), 400, "n"),
            (with("n", json!(1000)), 400, "n"),
        ]);
    }

    #[test]
    fn bad_streaming_and_sampling_options_are_named() {
        assert_named([
            (with("stream", json!("yes")), 400, "stream"),
            (
                with("stream_options", json!({"include_usage": true})),
                400,
                "stream_options",
            ),
            (with("temperature", json!(3)), 400, "temperature"),
        ]);
    }

    #[test]
    fn bad_tools_typed_fields_and_stops_are_named() {
        assert_named([
            (with("tools", json!("f")), 400, "tools"),
            (with("tools", json!(["f"])), 400, "tools[0]"),
            // OpenAI's most is 128 tools.
            (with("tools", json!(vec![json!({}); 129])), 400, "tools"),
            (with("tool_choice", json!(3)), 400, "tool_choice"),
            (with("seed", json!(1.5)), 400, "seed"),
            (with("logprobs", json!("yes")), 400, "logprobs"),
            (with("stop", json!(5)), 400, "stop"),
            (with("stop", json!(["a", 5])), 400, "stop[1]"),
            (with("top_logprobs", json!(-1)), 400, "top_logprobs"),
        ]);
    }

    #[test]
    fn bad_response_formats_are_named() {
        assert_named([
            (
                with("response_format", json!("json")),
                400,
                "response_format",
            ),
            (
                with("response_format", json!({})),
                400,
                "response_format.type",
            ),
            (
                with("response_format", json!({"type": "json_schema"})),
                400,
                "response_format.json_schema",
            ),
            // json_object needs the word "json" in the messages.
            (
                with("response_format", json!({"type": "json_object"})),
                400,
                "messages",
            ),
        ]);
    }

    /// A gpt-5-mini body with `key` set to `v` (and `max_completion_tokens` 50).
    fn reasoning_with(key: &str, v: Value) -> Value {
        let mut b = json!({"model": "gpt-5-mini", "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 50});
        b[key] = v;
        b
    }

    /// A body for `model` asking `key` = `n`.
    fn asking(model: &str, key: &str, n: u64) -> Value {
        json!({"model": model, "messages": [{"role": "user", "content": "hi"}], key: n})
    }

    #[test]
    fn each_model_is_held_to_its_own_output_cap_with_openais_400() {
        // gpt-4o (2024-08-06 and later): 16,384. The body OpenAI answered 20,480 with, exactly
        // (tailcallhq/forgecode#1185, 2025-07-22; docs/sources.md, Output caps).
        assert_eq!(
            check(asking("gpt-4o", "max_tokens", 20_480))
                .unwrap_err()
                .body(),
            json!({"error": {"message": "max_tokens is too large: 20480. This model supports at most 16384 completion tokens, whereas you provided 20480.",
                "type": "invalid_request_error", "param": "max_tokens", "code": "invalid_value"}})
        );
        check(asking("gpt-4o", "max_tokens", 16_384)).unwrap();
        // Its first snapshot wrote at most 4,096.
        let e = check(asking("gpt-4o-2024-05-13", "max_tokens", 4_097)).unwrap_err();
        assert!(
            e.message.contains("at most 4096 completion tokens"),
            "{}",
            e.message
        );
        check(asking("gpt-4o-2024-05-13", "max_tokens", 4_096)).unwrap();
        // GPT-4.1: 32,768. Before, the stub held every model that does not reason to gpt-4o's
        // 16,384 and refused a 20,480 that OpenAI serves.
        check(asking("gpt-4.1", "max_tokens", 20_480)).unwrap();
        check(asking("gpt-4.1-nano", "max_completion_tokens", 32_768)).unwrap();
        let e = check(asking("gpt-4.1-mini", "max_completion_tokens", 32_769)).unwrap_err();
        assert_eq!(
            (e.status, e.param.as_deref(), e.code),
            (400, Some("max_completion_tokens"), Some("invalid_value"))
        );
        assert!(
            e.message.contains("at most 32768 completion tokens"),
            "{}",
            e.message
        );
        // GPT-5: 128,000, reasoning and visible tokens together.
        check(asking("gpt-5-mini", "max_completion_tokens", 128_000)).unwrap();
        let e = check(asking("gpt-5-mini", "max_completion_tokens", 128_001)).unwrap_err();
        assert!(
            e.message.contains("at most 128000 completion tokens"),
            "{}",
            e.message
        );
    }

    #[test]
    fn a_reasoning_model_refuses_max_tokens_with_openais_400() {
        let e = check(reasoning_with("max_tokens", json!(20))).unwrap_err();
        assert_eq!(
            e.body(),
            json!({"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}})
        );
        // null is no value, as OpenAI reads it.
        check(reasoning_with("max_tokens", Value::Null)).unwrap();
    }

    #[test]
    fn a_reasoning_model_takes_only_the_default_temperature() {
        for (t, shown) in [(json!(0.7), "0.7"), (json!(0), "0"), (json!(2), "2")] {
            let e = check(reasoning_with("temperature", t)).unwrap_err();
            assert_eq!(
                e.body(),
                json!({"error": {"message": format!("Unsupported value: 'temperature' does not support {shown} with this model. Only the default (1) value is supported."),
                    "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}})
            );
        }
        check(reasoning_with("temperature", json!(1))).unwrap();
        check(reasoning_with("temperature", json!(1.0))).unwrap();
        // A plain model keeps its temperatures.
        check(with("temperature", json!(0.7))).unwrap();
    }

    #[test]
    fn reasoning_effort_is_one_of_the_models_efforts_else_its_default() {
        let c = Catalog::embedded();
        let effort = |b: Value| parse(b.to_string().as_bytes(), &c).map(|r| r.effort);
        assert_eq!(
            effort(reasoning_with("reasoning_effort", json!("high"))).unwrap(),
            Some(Effort::High)
        );
        // None given: gpt-5-mini's default, medium (mocks/models.toml).
        assert_eq!(
            effort(reasoning_with("reasoning_effort", Value::Null)).unwrap(),
            Some(Effort::Medium)
        );
        // `none` is an effort of GPT-5.1 and later, not of gpt-5-mini; `extreme` of no model.
        for bad in ["none", "extreme"] {
            let e = effort(reasoning_with("reasoning_effort", json!(bad))).unwrap_err();
            assert_eq!(
                e.body(),
                json!({"error": {"message": format!("Unsupported value: 'reasoning_effort' does not support '{bad}' with this model. Supported values are: 'minimal', 'low', 'medium', and 'high'."),
                    "type": "invalid_request_error", "param": "reasoning_effort", "code": "unsupported_value"}})
            );
        }
        // A model that does not reason refuses the parameter; without it, it has no effort.
        let e = effort(with("reasoning_effort", json!("low"))).unwrap_err();
        assert_eq!(
            (e.status, e.param.as_deref(), e.code, e.message.as_str()),
            (
                400,
                Some("reasoning_effort"),
                Some("unsupported_parameter"),
                "Unsupported parameter: 'reasoning_effort' is not supported with this model."
            )
        );
        assert_eq!(effort(ok_body()).unwrap(), None);
    }

    #[test]
    fn max_completion_tokens_is_the_cap_on_every_model() {
        let c = Catalog::embedded();
        let cap = |b: Value| parse(b.to_string().as_bytes(), &c).unwrap().max_tokens;
        assert_eq!(cap(reasoning_with("n", json!(1))), Some(50));
        assert_eq!(cap(with("max_completion_tokens", json!(70))), Some(70));
        // The GPT-5 family writes up to 128,000 tokens; gpt-4o up to 16,384.
        assert_eq!(
            cap(reasoning_with("max_completion_tokens", json!(128_000))),
            Some(128_000)
        );
        for (b, most) in [
            (
                reasoning_with("max_completion_tokens", json!(128_001)),
                128_000,
            ),
            (with("max_completion_tokens", json!(16_385)), 16_384),
        ] {
            let e = check(b).unwrap_err();
            assert_eq!(e.param.as_deref(), Some("max_completion_tokens"));
            assert!(
                e.message.contains(&format!("at most {most} completion")),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn unknown_fields_are_unrecognized_arguments() {
        let e = check(with("temprature", json!(1))).unwrap_err();
        assert_eq!(
            (e.status, e.param, e.message.as_str()),
            (
                400,
                None,
                "Unrecognized request argument supplied: temprature"
            )
        );
    }

    #[test]
    fn integers_past_u64_are_integers_too_large_not_decimals() {
        let c = Catalog::embedded();
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"n":100000000000000000000000}"#;
        let e = parse(body, &c).unwrap_err();
        assert_eq!(e.code, Some("integer_above_max_value"));
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":-100000000000000000000000}"#;
        assert_eq!(
            parse(body, &c).unwrap_err().code,
            Some("integer_below_min_value")
        );
        // A decimal is still a decimal.
        let e = check(with("max_tokens", json!(1.5))).unwrap_err();
        assert!(e.message.contains("a decimal"), "{}", e.message);
    }

    #[test]
    fn json_mode_is_noted() {
        let mut b = with("response_format", json!({"type": "json_object"}));
        b["messages"][0]["content"] = json!("Answer in JSON.");
        let c = Catalog::embedded();
        let r = parse(b.to_string().as_bytes(), &c).unwrap();
        assert!(r.json);
        assert!(!parse(ok_body().to_string().as_bytes(), &c).unwrap().json);
    }

    #[test]
    fn the_model_of_a_refused_body_is_read_without_the_rest() {
        assert_eq!(
            model_of(br#"{"messages":[1,[2,{"a":3}]],"model":"gpt-\u0034o"}"#).as_deref(),
            Some("gpt-4o")
        );
        assert_eq!(model_of(br#"{"model":4}"#), None);
        assert_eq!(model_of(b"[]"), None);
        assert_eq!(model_of(br#"{"messages":[]}"#), None);
    }

    #[test]
    fn unknown_model_is_404_model_not_found() {
        let e = check(with("model", json!("gpt-5-turbo-max"))).unwrap_err();
        assert_eq!(e.status, 404);
        assert_eq!(e.code, Some("model_not_found"));
        assert!(e.message.contains("`gpt-5-turbo-max` does not exist"));
    }

    #[test]
    fn bodies_that_are_not_json_objects_get_the_parse_error() {
        let c = Catalog::embedded();
        for body in [
            &b""[..],
            b"{",
            b"[]",
            b"null",
            b"42",
            b"\xff\xfe",
            b"{\"model\":",
        ] {
            let e = parse(body, &c).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.starts_with("We could not parse the JSON body"));
        }
    }
}
