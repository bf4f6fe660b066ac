//! Request validation the way OpenAI does it: each bad field gets a 400 with
//! `invalid_request_error` and `param` naming the field (an unknown model gets a 404
//! `model_not_found`). Works on `serde_json::Value` with explicit checks, so no body of any shape
//! can panic the stub.

use serde_json::Value;

use crate::openai::catalog::{Catalog, ModelEntry};
use crate::openai::errors::ApiError;
use crate::openai::tokens::MAX_COMPLETION_TOKENS;

const ROLES: [&str; 6] = [
    "system",
    "user",
    "assistant",
    "tool",
    "function",
    "developer",
];
const PART_TYPES: [&str; 4] = ["text", "image_url", "input_audio", "file"];
const MAX_N: i64 = 128;
const RESPONSE_FORMATS: [&str; 3] = ["text", "json_object", "json_schema"];
const MAX_STOP: usize = 4;
const MAX_TOP_LOGPROBS: i64 = 20;

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

/// Fields checked for their JSON type only.
#[derive(Clone, Copy)]
enum Kind {
    Bool,
    Integer,
    String,
    Object,
    Array,
    StringOrObject,
}

const TYPED_FIELDS: [(&str, Kind); 13] = [
    ("tools", Kind::Array),
    ("functions", Kind::Array),
    ("modalities", Kind::Array),
    ("logprobs", Kind::Bool),
    ("parallel_tool_calls", Kind::Bool),
    ("store", Kind::Bool),
    ("seed", Kind::Integer),
    ("user", Kind::String),
    ("service_tier", Kind::String),
    ("reasoning_effort", Kind::String),
    ("metadata", Kind::Object),
    ("logit_bias", Kind::Object),
    ("tool_choice", Kind::StringOrObject),
];

/// A request that passed validation, with what the stub needs from it.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub model: &'a ModelEntry,
    pub messages: Vec<Value>,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u32>,
    pub n: u32,
    pub stream: bool,
    pub include_usage: bool,
    /// Characters in all message contents (for a character-based prompt estimate).
    pub prompt_chars: usize,
    /// `response_format` asks for JSON (`json_object` or `json_schema`): the content must parse.
    pub json: bool,
}

pub fn validate<'a>(body: &[u8], catalog: &'a Catalog) -> Result<ChatRequest<'a>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| ApiError::unparsable_json())?;
    let Value::Object(mut obj) = value else {
        return Err(ApiError::unparsable_json());
    };
    if let Some(name) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(ApiError::unrecognized_argument(name));
    }

    let model = match obj.get("model") {
        None | Some(Value::Null) => return Err(ApiError::missing("model")),
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(ApiError::invalid_type("model", "a string", other)),
    };

    let messages = match obj.remove("messages") {
        None | Some(Value::Null) => return Err(ApiError::missing("messages")),
        Some(Value::Array(a)) if a.is_empty() => return Err(ApiError::empty_array("messages")),
        Some(Value::Array(a)) => a,
        Some(other) => return Err(ApiError::invalid_type("messages", "an array", &other)),
    };
    let mut prompt_chars = 0;
    for (i, m) in messages.iter().enumerate() {
        prompt_chars += check_message(i, m)?;
    }

    for (param, kind) in TYPED_FIELDS {
        check_kind(&obj, param, kind)?;
    }
    if let Some(Value::Array(tools)) = obj.get("tools") {
        for (i, t) in tools.iter().enumerate() {
            if !t.is_object() {
                return Err(ApiError::invalid_type(
                    &format!("tools[{i}]"),
                    "an object",
                    t,
                ));
            }
        }
    }
    match obj.get("stop") {
        None | Some(Value::Null) | Some(Value::String(_)) => {}
        Some(Value::Array(a)) => {
            if a.len() > MAX_STOP {
                return Err(ApiError::array_too_long("stop", MAX_STOP, a.len()));
            }
            if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_string()) {
                return Err(ApiError::invalid_type(&format!("stop[{i}]"), "a string", v));
            }
        }
        Some(other) => {
            return Err(ApiError::invalid_type(
                "stop",
                "a string or an array",
                other,
            ))
        }
    }
    positive_int(&obj, "top_logprobs", 0, Some(MAX_TOP_LOGPROBS))?;
    let json = match obj.get("response_format") {
        None | Some(Value::Null) => false,
        Some(Value::Object(f)) => {
            let ty = match f.get("type") {
                None | Some(Value::Null) => return Err(ApiError::missing("response_format.type")),
                Some(Value::String(t)) => t.as_str(),
                Some(other) => {
                    return Err(ApiError::invalid_type(
                        "response_format.type",
                        "a string",
                        other,
                    ))
                }
            };
            if !RESPONSE_FORMATS.contains(&ty) {
                return Err(ApiError::invalid_value(
                    "response_format.type",
                    ty,
                    &RESPONSE_FORMATS,
                ));
            }
            if ty == "json_schema" && f.get("json_schema").is_none_or(Value::is_null) {
                return Err(ApiError::missing("response_format.json_schema"));
            }
            if ty == "json_object" && !mentions_json(&messages) {
                return Err(ApiError::other(
                    "messages",
                    "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.".into(),
                ));
            }
            ty != "text"
        }
        Some(other) => {
            return Err(ApiError::invalid_type(
                "response_format",
                "an object",
                other,
            ))
        }
    };

    let max_tokens = match positive_int(&obj, "max_completion_tokens", 1, None)? {
        Some(v) => Some(v),
        None => positive_int(&obj, "max_tokens", 1, None)?,
    };
    if let Some(m) = max_tokens {
        if m as usize > MAX_COMPLETION_TOKENS {
            let param = if obj.contains_key("max_completion_tokens") {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            // As sent (a value past u32 was clamped above).
            let m = obj.get(param).map(Value::to_string).unwrap_or_default();
            return Err(ApiError {
                status: 400,
                message: format!("{param} is too large: {m}. This model supports at most {MAX_COMPLETION_TOKENS} completion tokens, whereas you provided {m}."),
                kind: "invalid_request_error",
                param: Some(param.into()),
                code: Some("invalid_value"),
            });
        }
    }
    let n = positive_int(&obj, "n", 1, Some(MAX_N))?.unwrap_or(1);

    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(ApiError::invalid_type("stream", "a boolean", other)),
    };
    let include_usage = match obj.get("stream_options") {
        None | Some(Value::Null) => false,
        Some(Value::Object(o)) => {
            if !stream {
                return Err(ApiError::other(
                    "stream_options",
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled."
                        .into(),
                ));
            }
            match o.get("include_usage") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(ApiError::invalid_type(
                        "stream_options.include_usage",
                        "a boolean",
                        other,
                    ))
                }
            }
        }
        Some(other) => return Err(ApiError::invalid_type("stream_options", "an object", other)),
    };

    for (param, min, max) in [
        ("temperature", 0.0, 2.0),
        ("top_p", 0.0, 1.0),
        ("presence_penalty", -2.0, 2.0),
        ("frequency_penalty", -2.0, 2.0),
    ] {
        match obj.get(param) {
            None | Some(Value::Null) => {}
            Some(v @ Value::Number(num)) => {
                let x = num.as_f64().unwrap_or(f64::NAN);
                if !(min..=max).contains(&x) {
                    return Err(ApiError::out_of_range(param, min, max, v));
                }
            }
            Some(other) => return Err(ApiError::invalid_type(param, "a number", other)),
        }
    }

    // The model is checked last among the required fields, as OpenAI reports a malformed body
    // before an unknown model.
    let model = catalog
        .model(&model)
        .ok_or_else(|| ApiError::model_not_found(&model))?;

    Ok(ChatRequest {
        model,
        messages,
        max_tokens,
        n,
        stream,
        include_usage,
        prompt_chars,
        json,
    })
}

fn check_kind(
    obj: &serde_json::Map<String, Value>,
    param: &str,
    kind: Kind,
) -> Result<(), ApiError> {
    let Some(v) = obj.get(param).filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let (ok, expected) = match kind {
        Kind::Bool => (v.is_boolean(), "a boolean"),
        Kind::Integer => (v.is_i64() || v.is_u64(), "an integer"),
        Kind::String => (v.is_string(), "a string"),
        Kind::Object => (v.is_object(), "an object"),
        Kind::Array => (v.is_array(), "an array"),
        Kind::StringOrObject => (v.is_string() || v.is_object(), "a string or an object"),
    };
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_type(param, expected, v))
    }
}

/// Whether any message's text mentions "json" (any case), as OpenAI requires for `json_object`.
fn mentions_json(messages: &[Value]) -> bool {
    let has = |s: &str| s.to_ascii_lowercase().contains("json");
    messages.iter().any(|m| match m.get("content") {
        Some(Value::String(s)) => has(s),
        Some(Value::Array(parts)) => parts
            .iter()
            .any(|p| p.get("text").and_then(Value::as_str).is_some_and(has)),
        _ => false,
    })
}

fn positive_int(
    obj: &serde_json::Map<String, Value>,
    param: &str,
    min: i64,
    max: Option<i64>,
) -> Result<Option<u32>, ApiError> {
    match obj.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(num)) => {
            // serde_json reads an integer literal past u64 as a float: a whole float that large
            // was written as an integer (a decimal in range would have a fraction or fit).
            let huge = num
                .as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() >= 9.2e18)
                .map(|f| if f < 0.0 { i64::MIN } else { i64::MAX });
            let Some(x) = num
                .as_i64()
                .or_else(|| num.as_u64().map(|_| i64::MAX))
                .or(huge)
            else {
                return Err(ApiError::invalid_type(param, "an integer", v));
            };
            if x < min {
                return Err(ApiError::below_min(param, min, v));
            }
            if let Some(max) = max {
                if x > max {
                    return Err(ApiError::above_max(param, max, v));
                }
            }
            Ok(Some(x.min(u32::MAX as i64) as u32))
        }
        Some(other) => Err(ApiError::invalid_type(param, "an integer", other)),
    }
}

/// Checks one message; returns the characters of its text content.
fn check_message(i: usize, m: &Value) -> Result<usize, ApiError> {
    let at = |field: &str| format!("messages[{i}].{field}");
    let Value::Object(obj) = m else {
        return Err(ApiError::invalid_type(
            &format!("messages[{i}]"),
            "an object",
            m,
        ));
    };
    let role = match obj.get("role") {
        None | Some(Value::Null) => return Err(ApiError::missing(&at("role"))),
        Some(Value::String(s)) => s.as_str(),
        Some(other) => return Err(ApiError::invalid_type(&at("role"), "a string", other)),
    };
    if !ROLES.contains(&role) {
        return Err(ApiError::invalid_value(&at("role"), role, &ROLES));
    }
    if let Some(name) = obj.get("name") {
        if !name.is_string() && !name.is_null() {
            return Err(ApiError::invalid_type(&at("name"), "a string", name));
        }
    }
    let has_calls = obj
        .get("tool_calls")
        .or_else(|| obj.get("function_call"))
        .is_some_and(|v| !v.is_null());
    if role == "tool" && !obj.get("tool_call_id").is_some_and(Value::is_string) {
        return Err(ApiError::missing(&at("tool_call_id")));
    }
    match obj.get("content") {
        None | Some(Value::Null) if role == "assistant" && has_calls => Ok(0),
        None => Err(ApiError::missing(&at("content"))),
        Some(Value::String(s)) => Ok(s.chars().count()),
        Some(Value::Array(parts)) => {
            if parts.is_empty() {
                return Err(ApiError::empty_array(&at("content")));
            }
            let mut chars = 0;
            for (j, part) in parts.iter().enumerate() {
                let pat = |f: &str| format!("messages[{i}].content[{j}].{f}");
                let ty = match part.get("type") {
                    Some(Value::String(t)) => t.as_str(),
                    None | Some(Value::Null) => return Err(ApiError::missing(&pat("type"))),
                    Some(other) => {
                        return Err(ApiError::invalid_type(&pat("type"), "a string", other))
                    }
                };
                if !PART_TYPES.contains(&ty) {
                    return Err(ApiError::invalid_value(&pat("type"), ty, &PART_TYPES));
                }
                if ty == "text" {
                    match part.get("text") {
                        Some(Value::String(t)) => chars += t.chars().count(),
                        None | Some(Value::Null) => return Err(ApiError::missing(&pat("text"))),
                        Some(other) => {
                            return Err(ApiError::invalid_type(&pat("text"), "a string", other))
                        }
                    }
                }
            }
            Ok(chars)
        }
        Some(other) => Err(ApiError::invalid_type(
            &at("content"),
            "a string or an array",
            other,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(body: Value) -> Result<(), ApiError> {
        let c = Catalog::embedded();
        validate(body.to_string().as_bytes(), &c).map(|_| ())
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

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
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
            (with("stream", json!("yes")), 400, "stream"),
            (
                with("stream_options", json!({"include_usage": true})),
                400,
                "stream_options",
            ),
            (with("temperature", json!(3)), 400, "temperature"),
            (with("tools", json!("f")), 400, "tools"),
            (with("tools", json!(["f"])), 400, "tools[0]"),
            (with("tool_choice", json!(3)), 400, "tool_choice"),
            (with("seed", json!(1.5)), 400, "seed"),
            (with("logprobs", json!("yes")), 400, "logprobs"),
            (with("stop", json!(5)), 400, "stop"),
            (with("stop", json!(["a", 5])), 400, "stop[1]"),
            (with("top_logprobs", json!(-1)), 400, "top_logprobs"),
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
        ];
        for (body, status, param) in cases {
            let got = param_of(body.clone());
            assert_eq!(got, (status, Some(param.to_string())), "{body}");
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
        let e = validate(body, &c).unwrap_err();
        assert_eq!(e.code, Some("integer_above_max_value"));
        let body = br#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":-100000000000000000000000}"#;
        assert_eq!(
            validate(body, &c).unwrap_err().code,
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
        let r = validate(b.to_string().as_bytes(), &c).unwrap();
        assert!(r.json);
        assert!(!validate(ok_body().to_string().as_bytes(), &c).unwrap().json);
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
            let e = validate(body, &c).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.starts_with("We could not parse the JSON body"));
        }
    }
}
