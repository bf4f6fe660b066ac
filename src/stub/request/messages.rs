//! The checks of `messages`: each message's role, name, tool call id and content (a string, or
//! an array of typed parts), and the characters of their text for a character-based prompt
//! estimate.

use serde_json::{Map, Value};

use crate::openai::errors::ApiError;

const ROLES: [&str; 6] = [
    "system",
    "user",
    "assistant",
    "tool",
    "function",
    "developer",
];
const PART_TYPES: [&str; 4] = ["text", "image_url", "input_audio", "file"];

/// Takes `messages` out of the body and checks each one; returns them with the characters of
/// their text content.
pub(super) fn take(obj: &mut Map<String, Value>) -> Result<(Vec<Value>, usize), ApiError> {
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
    Ok((messages, prompt_chars))
}

/// Whether any message's text mentions "json" (any case), as OpenAI requires for `json_object`.
pub(super) fn mention_json(messages: &[Value]) -> bool {
    let has = |s: &str| s.to_ascii_lowercase().contains("json");
    messages.iter().any(|m| match m.get("content") {
        Some(Value::String(s)) => has(s),
        Some(Value::Array(parts)) => parts
            .iter()
            .any(|p| p.get("text").and_then(Value::as_str).is_some_and(has)),
        _ => false,
    })
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
                chars += part_chars(i, j, part)?;
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

/// Checks part `j` of message `i`'s content; returns the characters of its text.
fn part_chars(i: usize, j: usize, part: &Value) -> Result<usize, ApiError> {
    let pat = |f: &str| format!("messages[{i}].content[{j}].{f}");
    let ty = match part.get("type") {
        Some(Value::String(t)) => t.as_str(),
        None | Some(Value::Null) => return Err(ApiError::missing(&pat("type"))),
        Some(other) => return Err(ApiError::invalid_type(&pat("type"), "a string", other)),
    };
    if !PART_TYPES.contains(&ty) {
        return Err(ApiError::invalid_value(&pat("type"), ty, &PART_TYPES));
    }
    if ty != "text" {
        return Ok(0);
    }
    match part.get("text") {
        Some(Value::String(t)) => Ok(t.chars().count()),
        None | Some(Value::Null) => Err(ApiError::missing(&pat("text"))),
        Some(other) => Err(ApiError::invalid_type(&pat("text"), "a string", other)),
    }
}
