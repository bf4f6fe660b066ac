use serde_json::{json, Value};

use super::*;

fn parse_value(body: &Value) -> Result<ResponsesRequest<'static>, ApiError> {
    let catalog: &'static Catalog = Box::leak(Box::new(Catalog::embedded()));
    parse(body.to_string().as_bytes(), catalog)
}

fn err(body: Value) -> ApiError {
    parse_value(&body).expect_err("refused")
}

fn ok_body() -> Value {
    json!({"model": "gpt-4o", "input": "hi"})
}

fn with(key: &str, v: Value) -> Value {
    let mut b = ok_body();
    b[key] = v;
    b
}

fn reasoning_with(key: &str, v: Value) -> Value {
    let mut b = json!({"model": "gpt-5-mini", "input": "hi"});
    b[key] = v;
    b
}

#[test]
fn a_string_input_is_one_user_message_and_instructions_a_system_one_before_it() {
    let mut b = ok_body();
    b["instructions"] = json!("Be brief.");
    let r = parse_value(&b).unwrap();
    assert_eq!(
        r.call.messages,
        vec![
            json!({"role": "system", "content": "Be brief."}),
            json!({"role": "user", "content": "hi"})
        ]
    );
    // "Be brief." 9 characters, "hi" 2.
    assert_eq!(r.call.prompt_chars, 11);
    assert_eq!(
        (r.call.n, r.call.max_tokens, r.call.effort),
        (1, None, None)
    );
}

#[test]
fn input_items_become_the_chat_messages_they_stand_for() {
    let b = json!({"model": "gpt-4o", "input": [
        {"role": "developer", "content": "Rules."},
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Look:"},
            {"type": "input_image", "image_url": "https://x/y.png"}
        ]},
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"type": "reasoning", "id": "rs_1", "summary": []},
        {"role": "assistant", "content": [{"type": "output_text", "text": "ok"}]}
    ]});
    let r = parse_value(&b).unwrap();
    assert_eq!(
        r.call.messages,
        vec![
            json!({"role": "developer", "content": "Rules."}),
            json!({"role": "user", "content": [
                {"type": "text", "text": "Look:"},
                {"type": "image_url", "image_url": {"url": "https://x/y.png"}}
            ]}),
            json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]}),
            json!({"role": "tool", "tool_call_id": "c1", "content": "42"}),
            json!({"role": "assistant", "content": [{"type": "text", "text": "ok"}]}),
        ]
    );
}

/// Each body gets a 400 whose `param` names the bad field.
fn assert_named(cases: &[(Value, &str)]) {
    for (body, param) in cases {
        let e = err(body.clone());
        assert_eq!(
            (e.status, e.param.as_deref()),
            (400, Some(*param)),
            "{body}: {}",
            e.message
        );
    }
}

#[test]
fn bad_fields_are_named() {
    assert_named(&[
        (json!({"input": "hi"}), "model"),
        (json!({"model": "gpt-4o"}), "input"),
        (with("input", json!(5)), "input"),
        (with("input", json!([])), "input"),
        (with("input", json!([3])), "input[0]"),
        (with("input", json!([{"content": "x"}])), "input[0].role"),
        (
            with("input", json!([{"role": "bot", "content": "x"}])),
            "input[0].role",
        ),
        (with("input", json!([{"role": "user"}])), "input[0].content"),
        (
            with(
                "input",
                json!([{"role": "user", "content": [{"type": "text", "text": "x"}]}]),
            ),
            "input[0].content[0].type",
        ),
        (
            with(
                "input",
                json!([{"role": "user", "content": [{"type": "input_text"}]}]),
            ),
            "input[0].content[0].text",
        ),
        (with("input", json!([{"type": "video"}])), "input[0].type"),
        (
            with(
                "input",
                json!([{"type": "function_call_output", "output": "x"}]),
            ),
            "input[0].call_id",
        ),
        (with("instructions", json!(7)), "instructions"),
        (with("max_output_tokens", json!(15)), "max_output_tokens"),
        (
            with("max_output_tokens", json!("many")),
            "max_output_tokens",
        ),
        (
            with("max_output_tokens", json!(16_385)),
            "max_output_tokens",
        ),
        (with("stream", json!("yes")), "stream"),
        (with("stream_options", json!({})), "stream_options"),
        (with("temperature", json!(3)), "temperature"),
        (with("top_p", json!(-1)), "top_p"),
        (with("reasoning", json!("high")), "reasoning"),
        (
            with("reasoning", json!({"summary": "long"})),
            "reasoning.summary",
        ),
        (
            with("text", json!({"format": {"type": "xml"}})),
            "text.format.type",
        ),
        (
            with("text", json!({"format": {"type": "json_schema"}})),
            "text.format.name",
        ),
        (
            with("text", json!({"format": {"type": "json_object"}})),
            "input",
        ),
        (with("truncation", json!("never")), "truncation"),
        (with("tools", json!("f")), "tools"),
        (with("store", json!("yes")), "store"),
        (with("top_logprobs", json!(21)), "top_logprobs"),
        (with("conversation", json!("conv_1")), "conversation"),
        (with("background", json!(true)), "background"),
        (
            with("input", json!([{"type": "item_reference", "id": "msg_1"}])),
            "input",
        ),
    ]);
}

#[test]
fn an_unknown_field_is_an_unknown_parameter_named_as_openai_names_it() {
    // Responses words it apart from chat's "Unrecognized request argument supplied".
    let e = err(with("max_tokens", json!(100)));
    assert_eq!(
        e.body(),
        json!({"error": {"message": "Unknown parameter: 'max_tokens'.",
            "type": "invalid_request_error", "param": "max_tokens", "code": "unknown_parameter"}})
    );
}

#[test]
fn max_output_tokens_below_16_is_openais_400() {
    let e = err(with("max_output_tokens", json!(10)));
    assert_eq!(
        e.body(),
        json!({"error": {"message": "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16, but got 10 instead.",
            "type": "invalid_request_error", "param": "max_output_tokens", "code": "integer_below_min_value"}})
    );
    assert_eq!(
        parse_value(&with("max_output_tokens", json!(16)))
            .unwrap()
            .call
            .max_tokens,
        Some(16)
    );
}

#[test]
fn an_unknown_model_is_a_400_naming_model() {
    let e = err(with("model", json!("gpt-9")));
    assert_eq!(
        e.body(),
        json!({"error": {"message": "The requested model 'gpt-9' does not exist.",
            "type": "invalid_request_error", "param": "model", "code": "model_not_found"}})
    );
}

#[test]
fn a_previous_response_is_never_found_the_stub_keeps_none() {
    let e = err(with("previous_response_id", json!("resp_abc")));
    assert_eq!(
        (e.status, e.param.as_deref(), e.code, e.message.as_str()),
        (
            400,
            Some("previous_response_id"),
            Some("previous_response_not_found"),
            "Previous response with id 'resp_abc' not found."
        )
    );
}

#[test]
fn a_reasoning_model_refuses_temperature_as_responses_does() {
    let e = err(reasoning_with("temperature", json!(0.2)));
    assert_eq!(
        e.body(),
        json!({"error": {"message": "Unsupported parameter: 'temperature' is not supported with this model.",
            "type": "invalid_request_error", "param": "temperature", "code": null}})
    );
    // Its default goes through; a plain model keeps its temperatures.
    parse_value(&reasoning_with("temperature", json!(1))).unwrap();
    assert_eq!(
        parse_value(&with("temperature", json!(0.2)))
            .unwrap()
            .temperature,
        0.2
    );
}

#[test]
fn reasoning_effort_is_the_models_else_its_default_else_refused() {
    let effort = |b: Value| parse_value(&b).map(|r| r.call.effort);
    assert_eq!(
        effort(reasoning_with("reasoning", json!({"effort": "minimal"}))).unwrap(),
        Some(Effort::Minimal)
    );
    // gpt-5-mini's default, medium (mocks/models.toml).
    assert_eq!(
        effort(reasoning_with("reasoning", json!({}))).unwrap(),
        Some(Effort::Medium)
    );
    let e = effort(reasoning_with("reasoning", json!({"effort": "xhigh"}))).unwrap_err();
    assert_eq!(
        e.body(),
        json!({"error": {"message": "Unsupported value: 'reasoning.effort' does not support 'xhigh' with this model. Supported values are: 'minimal', 'low', 'medium', and 'high'.",
            "type": "invalid_request_error", "param": "reasoning.effort", "code": "unsupported_value"}})
    );
    let e = effort(with("reasoning", json!({"effort": "low"}))).unwrap_err();
    assert_eq!(
        (e.param.as_deref(), e.code),
        (Some("reasoning.effort"), Some("unsupported_parameter"))
    );
    assert_eq!(effort(ok_body()).unwrap(), None);
    // A reasoning model writes up to 128,000 tokens here too.
    let cap = reasoning_with("max_output_tokens", json!(128_000));
    assert_eq!(parse_value(&cap).unwrap().call.max_tokens, Some(128_000));
    let e = err(reasoning_with("max_output_tokens", json!(128_001)));
    assert_eq!(e.param.as_deref(), Some("max_output_tokens"));
}

#[test]
fn json_mode_is_noted_and_echoed() {
    let b = json!({"model": "gpt-4o", "input": "Answer in JSON.",
        "text": {"format": {"type": "json_object"}}});
    let r = parse_value(&b).unwrap();
    assert!(r.call.json);
    assert_eq!(r.text_format, json!({"type": "json_object"}));
    assert!(!parse_value(&ok_body()).unwrap().call.json);
}

#[test]
fn the_max_output_tokens_of_a_body_is_read_alone() {
    assert_eq!(
        max_output_tokens_of(br#"{"input":[1,2],"max_output_tokens":200}"#),
        Some(200)
    );
    assert_eq!(max_output_tokens_of(br#"{"input":"x"}"#), None);
    assert_eq!(max_output_tokens_of(b"[]"), None);
}

#[test]
fn max_output_tokens_is_held_to_the_models_own_cap() {
    // gpt-4.1 writes up to 32,768 (docs/sources.md, Output caps): 20,000 passes (the stub held
    // it to gpt-4o's 16,384 before), 32,769 is refused naming the field.
    let b = |n: u64| json!({"model": "gpt-4.1", "input": "hi", "max_output_tokens": n});
    parse_value(&b(20_000)).unwrap();
    let e = err(b(32_769));
    assert_eq!(
        (e.status, e.param.as_deref()),
        (400, Some("max_output_tokens"))
    );
    assert!(
        e.message.contains("Expected a value <= 32768"),
        "{}",
        e.message
    );
    // gpt-4o-2024-05-13: 4,096.
    let e = err(json!({"model": "gpt-4o-2024-05-13", "input": "hi", "max_output_tokens": 5_000}));
    assert!(
        e.message.contains("Expected a value <= 4096"),
        "{}",
        e.message
    );
}
