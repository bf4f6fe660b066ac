//! The checks of the top-level fields besides `model` and `messages`, one function per part of
//! the request: the fields checked for their JSON type (tools among them), `stop`, the token
//! limits and `n`, `response_format`, streaming, and the sampling options.

use serde_json::{Map, Value};

use super::messages;
use crate::openai::errors::ApiError;

const MAX_N: i64 = 128;
const RESPONSE_FORMATS: [&str; 3] = ["text", "json_object", "json_schema"];
const MAX_STOP: usize = 4;
const MAX_TOP_LOGPROBS: i64 = 20;
/// OpenAI's limit ("Invalid 'tools': array too long. Expected an array with maximum length 128").
const MAX_TOOLS: usize = 128;

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

/// The fields checked for their JSON type, then `tools`: at most [`MAX_TOOLS`], each an object.
pub(super) fn check_types(obj: &Map<String, Value>) -> Result<(), ApiError> {
    for (param, kind) in TYPED_FIELDS {
        check_kind(obj, param, kind)?;
    }
    if let Some(Value::Array(tools)) = obj.get("tools") {
        if tools.len() > MAX_TOOLS {
            return Err(ApiError::array_too_long("tools", MAX_TOOLS, tools.len()));
        }
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
    Ok(())
}

fn check_kind(obj: &Map<String, Value>, param: &str, kind: Kind) -> Result<(), ApiError> {
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

/// `stop`: a string, or an array of at most [`MAX_STOP`] strings.
pub(super) fn check_stop(obj: &Map<String, Value>) -> Result<(), ApiError> {
    match obj.get("stop") {
        None | Some(Value::Null) | Some(Value::String(_)) => Ok(()),
        Some(Value::Array(a)) => {
            if a.len() > MAX_STOP {
                return Err(ApiError::array_too_long("stop", MAX_STOP, a.len()));
            }
            if let Some((i, v)) = a.iter().enumerate().find(|(_, v)| !v.is_string()) {
                return Err(ApiError::invalid_type(&format!("stop[{i}]"), "a string", v));
            }
            Ok(())
        }
        Some(other) => Err(ApiError::invalid_type(
            "stop",
            "a string or an array",
            other,
        )),
    }
}

pub(super) fn check_top_logprobs(obj: &Map<String, Value>) -> Result<(), ApiError> {
    positive_int(obj, "top_logprobs", 0, Some(MAX_TOP_LOGPROBS)).map(|_| ())
}

/// `response_format`; returns whether it asks for JSON. `json_object` needs the word "json" in
/// the `messages`, as OpenAI requires.
pub(super) fn response_format(
    obj: &Map<String, Value>,
    messages: &[Value],
) -> Result<bool, ApiError> {
    let f = match obj.get("response_format") {
        None | Some(Value::Null) => return Ok(false),
        Some(Value::Object(f)) => f,
        Some(other) => {
            return Err(ApiError::invalid_type(
                "response_format",
                "an object",
                other,
            ))
        }
    };
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
    if ty == "json_object" && !messages::mention_json(messages) {
        return Err(ApiError::other(
            "messages",
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.".into(),
        ));
    }
    Ok(ty != "text")
}

/// `max_completion_tokens`, else `max_tokens`: at least 1 and at most `most` (what the model
/// writes at most).
pub(super) fn max_tokens(obj: &Map<String, Value>, most: usize) -> Result<Option<u32>, ApiError> {
    let max_tokens = match positive_int(obj, "max_completion_tokens", 1, None)? {
        Some(v) => Some(v),
        None => positive_int(obj, "max_tokens", 1, None)?,
    };
    if let Some(m) = max_tokens {
        if m as usize > most {
            let param = if obj.contains_key("max_completion_tokens") {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            // As sent (a value past u32 was clamped above).
            let m = obj.get(param).map(Value::to_string).unwrap_or_default();
            return Err(ApiError {
                status: 400,
                message: format!("{param} is too large: {m}. This model supports at most {most} completion tokens, whereas you provided {m}."),
                kind: "invalid_request_error",
                param: Some(param.into()),
                code: Some("invalid_value"),
            });
        }
    }
    Ok(max_tokens)
}

/// `n`, the number of choices: 1 unless given.
pub(super) fn n(obj: &Map<String, Value>) -> Result<u32, ApiError> {
    Ok(positive_int(obj, "n", 1, Some(MAX_N))?.unwrap_or(1))
}

/// `stream` and `stream_options.include_usage` (options only with a stream).
pub(super) fn stream(obj: &Map<String, Value>) -> Result<(bool, bool), ApiError> {
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
    Ok((stream, include_usage))
}

/// The sampling options, each a number within OpenAI's range.
pub(super) fn check_sampling(obj: &Map<String, Value>) -> Result<(), ApiError> {
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
    Ok(())
}

pub(super) fn positive_int(
    obj: &Map<String, Value>,
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
