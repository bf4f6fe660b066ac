//! A Responses API request (`POST /v1/responses`) parsed and checked as OpenAI does, into the
//! [`ChatRequest`] the core serves (the same buckets, draws, prompt cache and stats as a chat
//! request) and what the answer echoes. `input` (a string, or a list of messages and input
//! items) and `instructions` become the chat-format messages the prompt is counted from, so a
//! Responses call and the chat call with the same text cost the same prompt tokens.
//!
//! Where the Responses API words its 400s differently from chat completions, this follows it:
//! an unknown field is "Unknown parameter: 'x'." (`unknown_parameter`), an unknown model a 400
//! "The requested model 'x' does not exist." (`model_not_found`, `param` `model`),
//! `max_output_tokens` is at least 16, and a reasoning model refuses `temperature` as an
//! unsupported parameter (docs/stub.md, The Responses API, cites each).

use serde_json::{json, Map, Value};

use super::{bounded, fields, reasoning, ChatRequest};
use crate::openai::catalog::Catalog;
use crate::openai::errors::ApiError;
use crate::openai::reasoning::{Effort, MAX_REASONING_TOKENS};

/// Every top-level field of `POST /v1/responses` (API reference and openai-python 3.57.0's
/// `ResponseCreateParams`, read 2026-12-06, less the preview-only ones); anything else is an
/// unknown parameter.
const KNOWN_FIELDS: [&str; 29] = [
    "background",
    "context_management",
    "conversation",
    "include",
    "input",
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "model",
    "parallel_tool_calls",
    "previous_response_id",
    "prompt",
    "prompt_cache_key",
    "prompt_cache_retention",
    "reasoning",
    "safety_identifier",
    "service_tier",
    "store",
    "stream",
    "stream_options",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

/// OpenAI's floor on `max_output_tokens` ("Expected a value >= 16").
pub const MIN_OUTPUT_TOKENS: i64 = 16;

const ROLES: [&str; 4] = ["user", "assistant", "system", "developer"];
const PART_TYPES: [&str; 5] = [
    "input_text",
    "input_image",
    "input_file",
    "output_text",
    "refusal",
];
const ITEM_TYPES: [&str; 5] = [
    "message",
    "function_call",
    "function_call_output",
    "reasoning",
    "item_reference",
];
const FORMATS: [&str; 3] = ["text", "json_object", "json_schema"];
const TRUNCATIONS: [&str; 2] = ["auto", "disabled"];
const SUMMARIES: [&str; 3] = ["auto", "concise", "detailed"];

/// A valid Responses request: the call as the core serves it, and what the response object
/// echoes of the request.
#[derive(Debug, Clone)]
pub struct ResponsesRequest<'a> {
    pub call: ChatRequest<'a>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub temperature: f64,
    pub top_p: f64,
    pub store: bool,
    pub parallel_tool_calls: bool,
    pub tool_choice: Value,
    pub tools: Value,
    pub metadata: Value,
    pub text_format: Value,
    pub truncation: String,
    pub user: Option<String>,
}

/// Parses and checks a Responses body as OpenAI does; the first bad field names the error.
pub fn parse<'a>(body: &[u8], catalog: &'a Catalog) -> Result<ResponsesRequest<'a>, ApiError> {
    let obj = bounded::object(body)?;
    if let Some(name) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        return Err(unknown_parameter(name));
    }
    let model = super::model_name(&obj)?;
    let instructions = optional_string(&obj, "instructions")?;
    let (mut messages, mut prompt_chars) = input(&obj)?;
    if let Some(text) = &instructions {
        messages.insert(0, json!({"role": "system", "content": text}));
        prompt_chars += text.chars().count();
    }
    check_types(&obj)?;
    stateless(&obj)?;
    let (text_format, json) = text_format(&obj, &messages)?;
    let max_output_tokens = max_output_tokens(&obj, MAX_REASONING_TOKENS as usize)?;
    let stream = stream(&obj)?;
    fields::check_sampling(&obj)?;
    reasoning_object(&obj)?;
    let truncation = one_of(&obj, "truncation", &TRUNCATIONS)?.unwrap_or("disabled");

    let model = catalog
        .model(&model)
        .ok_or_else(|| model_not_found(&model))?;
    max_output_tokens_within(&obj, model.output_cap() as usize)?;
    let effort: Option<Effort> = reasoning::responses_effort(model, &obj)?;
    let number = |k: &str| obj.get(k).and_then(Value::as_f64).unwrap_or(1.0);
    let given = |k: &str| obj.get(k).filter(|v| !v.is_null()).cloned();
    Ok(ResponsesRequest {
        call: ChatRequest {
            model,
            messages,
            max_tokens: max_output_tokens,
            effort,
            n: 1,
            stream,
            include_usage: true,
            prompt_chars,
            json,
        },
        instructions,
        max_output_tokens,
        temperature: number("temperature"),
        top_p: number("top_p"),
        store: obj.get("store").and_then(Value::as_bool).unwrap_or(true),
        parallel_tool_calls: obj
            .get("parallel_tool_calls")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        tool_choice: given("tool_choice").unwrap_or_else(|| json!("auto")),
        tools: given("tools").unwrap_or_else(|| json!([])),
        metadata: given("metadata").unwrap_or_else(|| json!({})),
        text_format,
        truncation: truncation.to_string(),
        user: obj.get("user").and_then(Value::as_str).map(str::to_string),
    })
}

/// The `max_output_tokens` a Responses body names, read without building anything else: the
/// call type the stub's traces count it under.
pub fn max_output_tokens_of(body: &[u8]) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Cap {
        max_output_tokens: Option<u64>,
    }
    serde_json::from_slice::<Cap>(body).ok()?.max_output_tokens
}

/// The Responses API's 400 for a field it does not have.
fn unknown_parameter(name: &str) -> ApiError {
    ApiError {
        status: 400,
        message: format!("Unknown parameter: '{name}'."),
        kind: "invalid_request_error",
        param: Some(name.to_string()),
        code: Some("unknown_parameter"),
    }
}

/// The Responses API's answer to a model it does not know: a 400 naming `model` (chat
/// completions answers 404).
fn model_not_found(model: &str) -> ApiError {
    let shown: String = model.chars().take(100).collect();
    ApiError {
        status: 400,
        message: format!("The requested model '{shown}' does not exist."),
        kind: "invalid_request_error",
        param: Some("model".into()),
        code: Some("model_not_found"),
    }
}

fn optional_string(obj: &Map<String, Value>, param: &str) -> Result<Option<String>, ApiError> {
    match obj.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid_type(param, "a string", other)),
    }
}

/// A string field that must be one of `allowed` (absent or null: `None`).
fn one_of<'o>(
    obj: &'o Map<String, Value>,
    param: &str,
    allowed: &[&str],
) -> Result<Option<&'o str>, ApiError> {
    match obj.get(param) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        Some(Value::String(s)) => Err(ApiError::invalid_value(param, s, allowed)),
        Some(other) => Err(ApiError::invalid_type(param, "a string", other)),
    }
}

/// `input` as chat-format messages (what the prompt is counted and cached from), with the
/// characters of its text.
fn input(obj: &Map<String, Value>) -> Result<(Vec<Value>, usize), ApiError> {
    match obj.get("input") {
        None | Some(Value::Null) => Err(ApiError::missing("input")),
        Some(Value::String(s)) => Ok((
            vec![json!({"role": "user", "content": s})],
            s.chars().count(),
        )),
        Some(Value::Array(items)) if items.is_empty() => Err(ApiError::empty_array("input")),
        Some(Value::Array(items)) => {
            let mut messages = Vec::with_capacity(items.len());
            let mut chars = 0;
            for (i, item) in items.iter().enumerate() {
                if let Some((message, n)) = input_item(i, item)? {
                    messages.push(message);
                    chars += n;
                }
            }
            Ok((messages, chars))
        }
        Some(other) => Err(ApiError::invalid_type(
            "input",
            "a string or an array",
            other,
        )),
    }
}

/// Input item `i` as a chat message and its text's characters (`None`: an item that adds no
/// prompt, a reasoning item).
fn input_item(i: usize, item: &Value) -> Result<Option<(Value, usize)>, ApiError> {
    let at = |field: &str| format!("input[{i}].{field}");
    let Value::Object(o) = item else {
        return Err(ApiError::invalid_type(
            &format!("input[{i}]"),
            "an object",
            item,
        ));
    };
    let ty = match o.get("type") {
        None | Some(Value::Null) => "message",
        Some(Value::String(t)) if ITEM_TYPES.contains(&t.as_str()) => t.as_str(),
        Some(Value::String(t)) => return Err(ApiError::invalid_value(&at("type"), t, &ITEM_TYPES)),
        Some(other) => return Err(ApiError::invalid_type(&at("type"), "a string", other)),
    };
    let string = |field: &str| match o.get(field) {
        Some(Value::String(s)) => Ok(s.as_str()),
        None | Some(Value::Null) => Err(ApiError::missing(&at(field))),
        Some(other) => Err(ApiError::invalid_type(&at(field), "a string", other)),
    };
    match ty {
        "message" => message(i, o).map(Some),
        "function_call" => {
            let (call_id, name, arguments) =
                (string("call_id")?, string("name")?, string("arguments")?);
            let m = json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            ]});
            Ok(Some((m, name.chars().count() + arguments.chars().count())))
        }
        "function_call_output" => {
            let (call_id, output) = (string("call_id")?, string("output")?);
            let m = json!({"role": "tool", "tool_call_id": call_id, "content": output});
            Ok(Some((m, output.chars().count())))
        }
        "item_reference" => {
            // The stub stores no item: every id is unknown, as an expired one is to OpenAI.
            let id = string("id")?;
            Err(not_found(
                "input",
                &format!("Item with id '{id}' not found."),
            ))
        }
        // A reasoning item from an earlier turn: its tokens are not the prompt's.
        _ => Ok(None),
    }
}

/// An input message (role and content) as a chat message and its text's characters.
fn message(i: usize, o: &Map<String, Value>) -> Result<(Value, usize), ApiError> {
    let at = |field: &str| format!("input[{i}].{field}");
    let role = match o.get("role") {
        None | Some(Value::Null) => return Err(ApiError::missing(&at("role"))),
        Some(Value::String(r)) if ROLES.contains(&r.as_str()) => r.as_str(),
        Some(Value::String(r)) => return Err(ApiError::invalid_value(&at("role"), r, &ROLES)),
        Some(other) => return Err(ApiError::invalid_type(&at("role"), "a string", other)),
    };
    let parts = match o.get("content") {
        None | Some(Value::Null) => return Err(ApiError::missing(&at("content"))),
        Some(Value::String(s)) => {
            return Ok((json!({"role": role, "content": s}), s.chars().count()))
        }
        Some(Value::Array(parts)) if parts.is_empty() => {
            return Err(ApiError::empty_array(&at("content")))
        }
        Some(Value::Array(parts)) => parts,
        Some(other) => {
            return Err(ApiError::invalid_type(
                &at("content"),
                "a string or an array",
                other,
            ))
        }
    };
    let mut chat_parts = Vec::with_capacity(parts.len());
    let mut chars = 0;
    for (j, part) in parts.iter().enumerate() {
        let pat = |f: &str| format!("input[{i}].content[{j}].{f}");
        let ty = match part.get("type") {
            Some(Value::String(t)) if PART_TYPES.contains(&t.as_str()) => t.as_str(),
            Some(Value::String(t)) => {
                return Err(ApiError::invalid_value(&pat("type"), t, &PART_TYPES))
            }
            None | Some(Value::Null) => return Err(ApiError::missing(&pat("type"))),
            Some(other) => return Err(ApiError::invalid_type(&pat("type"), "a string", other)),
        };
        let key = match ty {
            "input_image" => {
                // Counted as chat counts an image part: a flat price, told apart by its URL.
                let url = ["image_url", "file_id"]
                    .iter()
                    .find_map(|k| part.get(*k).and_then(Value::as_str))
                    .unwrap_or_default();
                chat_parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
                continue;
            }
            "input_file" => continue,
            "refusal" => "refusal",
            _ => "text",
        };
        let text = match part.get(key) {
            Some(Value::String(t)) => t,
            None | Some(Value::Null) => return Err(ApiError::missing(&pat(key))),
            Some(other) => return Err(ApiError::invalid_type(&pat(key), "a string", other)),
        };
        chars += text.chars().count();
        chat_parts.push(json!({"type": "text", "text": text}));
    }
    Ok((json!({"role": role, "content": chat_parts}), chars))
}

/// The fields checked for their JSON type, and `tools` (at most 128 objects, as chat).
fn check_types(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let mut typed = Map::new();
    for key in ["tools", "tool_choice", "metadata", "user"] {
        if let Some(v) = obj.get(key) {
            typed.insert(key.to_string(), v.clone());
        }
    }
    fields::check_types(&typed)?;
    for (param, expected, ok) in [
        (
            "store",
            "a boolean",
            Value::is_boolean as fn(&Value) -> bool,
        ),
        ("background", "a boolean", Value::is_boolean),
        ("parallel_tool_calls", "a boolean", Value::is_boolean),
        ("include", "an array", Value::is_array),
        ("prompt_cache_key", "a string", Value::is_string),
        ("safety_identifier", "a string", Value::is_string),
        ("service_tier", "a string", Value::is_string),
        ("previous_response_id", "a string", Value::is_string),
        ("text", "an object", Value::is_object),
        ("reasoning", "an object", Value::is_object),
    ] {
        if let Some(v) = obj.get(param).filter(|v| !v.is_null() && !ok(v)) {
            return Err(ApiError::invalid_type(param, expected, v));
        }
    }
    fields::positive_int(obj, "top_logprobs", 0, Some(20))?;
    fields::positive_int(obj, "max_tool_calls", 1, None)?;
    Ok(())
}

/// What needs state the stub does not keep: an earlier response, a conversation, a stored
/// prompt, a background response. OpenAI answers an id it does not know with a 400; every id is
/// unknown to the stub.
fn stateless(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let given = |k: &str| obj.get(k).filter(|v| !v.is_null());
    if let Some(id) = given("previous_response_id").and_then(Value::as_str) {
        let mut e = not_found(
            "previous_response_id",
            &format!("Previous response with id '{id}' not found."),
        );
        e.code = Some("previous_response_not_found");
        return Err(e);
    }
    for param in ["conversation", "prompt", "context_management"] {
        if given(param).is_some() {
            return Err(ApiError::other(
                param,
                format!("The stub keeps no state: '{param}' is not served (send the whole input instead)."),
            ));
        }
    }
    if given("background").and_then(Value::as_bool) == Some(true) {
        return Err(ApiError::other(
            "background",
            "The stub keeps no state: background responses are not served.".into(),
        ));
    }
    Ok(())
}

fn not_found(param: &str, message: &str) -> ApiError {
    let message: String = message.chars().take(200).collect();
    ApiError::other(param, message)
}

/// `text.format`: its type (text, json_object or json_schema, which needs a `name`), echoed;
/// and whether it asks for JSON. `json_object` needs the word "json" in the input.
fn text_format(obj: &Map<String, Value>, messages: &[Value]) -> Result<(Value, bool), ApiError> {
    let plain = json!({"type": "text"});
    let Some(format) = obj
        .get("text")
        .and_then(|t| t.get("format"))
        .filter(|f| !f.is_null())
    else {
        return Ok((plain, false));
    };
    let Value::Object(f) = format else {
        return Err(ApiError::invalid_type("text.format", "an object", format));
    };
    let ty = match f.get("type") {
        None | Some(Value::Null) => return Err(ApiError::missing("text.format.type")),
        Some(Value::String(t)) if FORMATS.contains(&t.as_str()) => t.as_str(),
        Some(Value::String(t)) => {
            return Err(ApiError::invalid_value("text.format.type", t, &FORMATS))
        }
        Some(other) => {
            return Err(ApiError::invalid_type(
                "text.format.type",
                "a string",
                other,
            ))
        }
    };
    if ty == "json_schema" && !f.get("name").is_some_and(Value::is_string) {
        return Err(ApiError::missing("text.format.name"));
    }
    if ty == "json_object" && !super::messages::mention_json(messages) {
        return Err(ApiError::other(
            "input",
            "Response input messages must contain the word 'json' in some form to use 'text.format' of type 'json_object'.".into(),
        ));
    }
    Ok((format.clone(), ty != "text"))
}

/// `max_output_tokens`: at least [`MIN_OUTPUT_TOKENS`] and at most `most`.
fn max_output_tokens(obj: &Map<String, Value>, most: usize) -> Result<Option<u32>, ApiError> {
    let cap = fields::positive_int(obj, "max_output_tokens", MIN_OUTPUT_TOKENS, None)?;
    if cap.is_some_and(|m| m as usize > most) {
        return max_output_tokens_within(obj, most).map(|()| cap);
    }
    Ok(cap)
}

/// The 400 for a `max_output_tokens` above what the model writes, if it is.
fn max_output_tokens_within(obj: &Map<String, Value>, most: usize) -> Result<(), ApiError> {
    let Some(v) = obj.get("max_output_tokens").filter(|v| !v.is_null()) else {
        return Ok(());
    };
    if v.as_u64().is_some_and(|m| m as usize <= most) {
        return Ok(());
    }
    Err(ApiError::above_max("max_output_tokens", most as i64, v))
}

/// `stream`, and `stream_options` only with a stream.
fn stream(obj: &Map<String, Value>) -> Result<bool, ApiError> {
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(ApiError::invalid_type("stream", "a boolean", other)),
    };
    match obj.get("stream_options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(_)) if !stream => {
            return Err(ApiError::other(
                "stream_options",
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.".into(),
            ))
        }
        Some(Value::Object(_)) => {}
        Some(other) => return Err(ApiError::invalid_type("stream_options", "an object", other)),
    }
    Ok(stream)
}

/// `reasoning`'s own fields: `effort` a string (checked against the model later), `summary`
/// one of OpenAI's.
fn reasoning_object(obj: &Map<String, Value>) -> Result<(), ApiError> {
    let Some(Value::Object(r)) = obj.get("reasoning") else {
        return Ok(());
    };
    if let Some(e) = r.get("effort").filter(|v| !v.is_null() && !v.is_string()) {
        return Err(ApiError::invalid_type("reasoning.effort", "a string", e));
    }
    one_of(r, "summary", &SUMMARIES).map_err(|mut e| {
        e.param = Some("reasoning.summary".into());
        e
    })?;
    Ok(())
}

#[cfg(test)]
mod tests;
