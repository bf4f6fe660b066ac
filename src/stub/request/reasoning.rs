//! The chat-completions rules of a reasoning model (the GPT-5 family), as OpenAI applies them:
//! `max_tokens` is refused (`max_completion_tokens` takes its place), `temperature` takes only
//! its default 1, and `reasoning_effort` must be one of the model's efforts (absent: the model's
//! default). A model that does not reason refuses `reasoning_effort`. Each refusal is OpenAI's
//! 400, word for word (docs/stub.md, Reasoning models, cites the public reports of each).

use serde_json::{Map, Value};

use crate::openai::catalog::ModelEntry;
use crate::openai::errors::ApiError;
use crate::openai::reasoning::Effort;

/// The effort `model` serves this body at (`None`: the model does not reason), or OpenAI's 400.
/// Checked in OpenAI's order as far as one request shows it: `max_tokens`, `temperature`, then
/// `reasoning_effort`.
pub(super) fn effort(
    model: &ModelEntry,
    obj: &Map<String, Value>,
) -> Result<Option<Effort>, ApiError> {
    let given = |param: &str| obj.get(param).filter(|v| !v.is_null());
    let Some(reasoning) = model.reasoning() else {
        return match given("reasoning_effort") {
            Some(_) => Err(unsupported_parameter("reasoning_effort", None)),
            None => Ok(None),
        };
    };
    if given("max_tokens").is_some() {
        return Err(unsupported_parameter(
            "max_tokens",
            Some("max_completion_tokens"),
        ));
    }
    if let Some(t) = given("temperature") {
        // Its type and range were checked before; only the default (1) is served.
        if t.as_f64() != Some(1.0) {
            return Err(unsupported_value(
                "temperature",
                &t.to_string(),
                "Only the default (1) value is supported.".into(),
            ));
        }
    }
    let Some(v) = given("reasoning_effort") else {
        return Ok(Some(reasoning.default_effort));
    };
    // Its type (a string) was checked before.
    let name = v.as_str().unwrap_or_default();
    let allowed: Vec<&str> = reasoning.efforts.iter().map(|e| e.as_str()).collect();
    match Effort::parse(name).filter(|e| reasoning.efforts.contains(e)) {
        Some(e) => Ok(Some(e)),
        None => Err(unsupported_value(
            "reasoning_effort",
            &format!("'{}'", shown(name)),
            format!("Supported values are: {}.", quoted_list(&allowed)),
        )),
    }
}

/// The effort `model` serves a Responses body at (`None`: the model does not reason), or
/// OpenAI's 400. The Responses API names the effort `reasoning.effort`, and refuses a reasoning
/// model's `temperature` as a parameter it does not take (its public 400: "Unsupported
/// parameter: 'temperature' is not supported with this model.", `code` null); the stub, as on
/// chat, lets the default value 1 through.
pub(super) fn responses_effort(
    model: &ModelEntry,
    obj: &Map<String, Value>,
) -> Result<Option<Effort>, ApiError> {
    let effort = obj
        .get("reasoning")
        .and_then(|r| r.get("effort"))
        .filter(|v| !v.is_null());
    let Some(reasoning) = model.reasoning() else {
        return match effort {
            Some(_) => Err(unsupported_parameter("reasoning.effort", None)),
            None => Ok(None),
        };
    };
    if let Some(t) = obj.get("temperature").filter(|v| !v.is_null()) {
        if t.as_f64() != Some(1.0) {
            let mut e = unsupported_parameter("temperature", None);
            e.code = None;
            return Err(e);
        }
    }
    let Some(v) = effort else {
        return Ok(Some(reasoning.default_effort));
    };
    // Its type (a string) was checked before.
    let name = v.as_str().unwrap_or_default();
    let allowed: Vec<&str> = reasoning.efforts.iter().map(|e| e.as_str()).collect();
    match Effort::parse(name).filter(|e| reasoning.efforts.contains(e)) {
        Some(e) => Ok(Some(e)),
        None => Err(unsupported_value(
            "reasoning.effort",
            &format!("'{}'", shown(name)),
            format!("Supported values are: {}.", quoted_list(&allowed)),
        )),
    }
}

/// OpenAI's 400 for a parameter the model does not take, naming what to use instead if anything.
fn unsupported_parameter(param: &str, instead: Option<&str>) -> ApiError {
    let hint = instead.map_or(String::new(), |i| format!(" Use '{i}' instead."));
    ApiError {
        status: 400,
        message: format!(
            "Unsupported parameter: '{param}' is not supported with this model.{hint}"
        ),
        kind: "invalid_request_error",
        param: Some(param.into()),
        code: Some("unsupported_parameter"),
    }
}

/// OpenAI's 400 for a value the model does not take (`shown`: the value as the message shows it).
fn unsupported_value(param: &str, shown: &str, rest: String) -> ApiError {
    ApiError {
        status: 400,
        message: format!(
            "Unsupported value: '{param}' does not support {shown} with this model. {rest}"
        ),
        kind: "invalid_request_error",
        param: Some(param.into()),
        code: Some("unsupported_value"),
    }
}

/// At most the first 100 characters of a value echoed in a message (a body may send a long one).
fn shown(value: &str) -> &str {
    value
        .char_indices()
        .nth(100)
        .map_or(value, |(i, _)| &value[..i])
}

/// `'a', 'b', and 'c'`, as OpenAI lists supported values.
fn quoted_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => format!("'{one}'"),
        [init @ .., last] => format!(
            "{}, and '{last}'",
            init.iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}
