//! Reasoning models (the GPT-5 family) on the stub: not served yet. OpenAI's chat completions
//! refuse `max_tokens` and a non-default `temperature` for them, take `max_completion_tokens` and
//! `reasoning_effort`, and report `completion_tokens_details.reasoning_tokens`; until the stub
//! follows those rules (issue 30, section 2), it answers a reasoning model with a clear 400 of its
//! own rather than serving it as a model that does not reason (wrong usage, cost and latency).
//! The catalog already holds their data, and `postload plan` plans them.

use super::request::ChatRequest;
use crate::openai::errors::ApiError;

/// `request`, or the stub's 400 when it names a reasoning model.
pub fn not_yet(request: ChatRequest<'_>) -> Result<ChatRequest<'_>, ApiError> {
    match request.model.reasoning() {
        None => Ok(request),
        Some(_) => Err(refusal(&request.model.id)),
    }
}

/// The stub's 400 for reasoning model `model`: OpenAI-shaped, `param` `model`, and the message
/// says it is the stub's limit, not OpenAI's.
pub fn refusal(model: &str) -> ApiError {
    ApiError {
        status: 400,
        message: format!(
            "postload's stub does not serve reasoning models yet: '{model}' needs \
             max_completion_tokens, reasoning_effort and reasoning tokens, which the stub does not \
             model. Plan it with `postload plan --model {model}`."
        ),
        kind: "invalid_request_error",
        param: Some("model".into()),
        code: Some("model_not_supported_by_stub"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::catalog::Catalog;

    fn body(model: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "model": model,
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
        }))
        .unwrap()
    }

    #[test]
    fn a_reasoning_model_is_refused_and_a_new_plain_one_is_served() {
        let c = Catalog::embedded();
        let r = crate::stub::request::parse(&body("gpt-5-mini"), &c).unwrap();
        let e = not_yet(r).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("model")));
        assert!(e
            .message
            .starts_with("postload's stub does not serve reasoning models yet: 'gpt-5-mini'"));
        let r = crate::stub::request::parse(&body("gpt-4.1-mini"), &c).unwrap();
        assert_eq!(not_yet(r).unwrap().model.id, "gpt-4.1-mini");
    }
}
