//! OpenAI's error bodies: `{"error": {"message", "type", "param", "code"}}`, with the wording of
//! real responses (see docs/sources.md, Error bodies).

use serde_json::Value;

/// One API error: the HTTP status and the body's four fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    pub kind: &'static str,
    pub param: Option<String>,
    pub code: Option<&'static str>,
}

#[derive(serde::Serialize)]
struct Envelope<'a> {
    error: Fields<'a>,
}

#[derive(serde::Serialize)]
struct Fields<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: Option<&'a str>,
}

impl ApiError {
    /// The body as OpenAI writes it, fields in its order: message, type, param, code.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&Envelope {
            error: Fields {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        })
        .expect("plain strings always serialize")
    }

    /// The body as a JSON value (for inspection).
    pub fn body(&self) -> Value {
        serde_json::from_slice(&self.to_bytes()).expect("just serialized")
    }

    fn invalid(param: Option<String>, code: Option<&'static str>, message: String) -> Self {
        Self {
            status: 400,
            message,
            kind: "invalid_request_error",
            param,
            code,
        }
    }

    pub fn unparsable_json() -> Self {
        Self::invalid(None, None, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)".into())
    }

    pub fn missing(param: &str) -> Self {
        Self::invalid(
            Some(param.into()),
            Some("missing_required_parameter"),
            format!("Missing required parameter: '{param}'."),
        )
    }

    pub fn invalid_type(param: &str, expected: &str, got: &Value) -> Self {
        Self::invalid(
            Some(param.into()),
            Some("invalid_type"),
            format!(
                "Invalid type for '{param}': expected {expected}, but got {} instead.",
                json_type(got)
            ),
        )
    }

    pub fn below_min(param: &str, min: i64, got: &Value) -> Self {
        Self::invalid(
            Some(param.into()),
            Some("integer_below_min_value"),
            format!("Invalid '{param}': integer below minimum value. Expected a value >= {min}, but got {got} instead."),
        )
    }

    pub fn above_max(param: &str, max: i64, got: &Value) -> Self {
        Self::invalid(
            Some(param.into()),
            Some("integer_above_max_value"),
            format!("Invalid '{param}': integer above maximum value. Expected a value <= {max}, but got {got} instead."),
        )
    }

    /// A number outside `min..=max`: OpenAI names the side it fell off.
    pub fn out_of_range(param: &str, min: f64, max: f64, got: &Value) -> Self {
        let below = got.as_f64().is_some_and(|x| x < min);
        let (code, side, bound) = if below {
            (
                "decimal_below_min_value",
                "below minimum value. Expected a value >=",
                min,
            )
        } else {
            (
                "decimal_above_max_value",
                "above maximum value. Expected a value <=",
                max,
            )
        };
        Self::invalid(
            Some(param.into()),
            Some(code),
            format!("Invalid '{param}': decimal {side} {bound}, but got {got} instead."),
        )
    }

    pub fn array_too_long(param: &str, max: usize, len: usize) -> Self {
        Self::invalid(
            Some(param.into()),
            Some("array_above_max_length"),
            format!("Invalid '{param}': array too long. Expected an array with maximum length {max}, but got an array with length {len} instead."),
        )
    }

    pub fn unrecognized_argument(name: &str) -> Self {
        Self::invalid(
            None,
            None,
            format!("Unrecognized request argument supplied: {name}"),
        )
    }

    /// No `Authorization: Bearer <key>` header (the stub accepts any key).
    pub fn missing_api_key() -> Self {
        Self {
            status: 401,
            message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.".into(),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// A path OpenAI does not serve.
    pub fn invalid_url(method: &str, path: &str) -> Self {
        Self {
            status: 404,
            message: format!("Invalid URL ({method} {path})"),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// A path OpenAI serves, with another method.
    pub fn invalid_method(method: &str, path: &str) -> Self {
        Self {
            status: 405,
            message: format!("Invalid method for URL ({method} {path})"),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// A body over the stub's limit (OpenAI's own limit and wording are not documented).
    pub fn body_too_large(limit: usize) -> Self {
        Self {
            status: 413,
            message: format!("Request body too large: this server accepts at most {limit} bytes ({} MiB) per request.", limit >> 20),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    /// A body that did not arrive within the idle timeout.
    pub fn body_timeout(timeout: std::time::Duration) -> Self {
        Self {
            status: 408,
            message: format!(
                "Request timed out: the request body did not arrive within {} s.",
                timeout.as_secs_f64()
            ),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }
    }

    pub fn empty_array(param: &str) -> Self {
        Self::invalid(
            Some(param.into()),
            Some("empty_array"),
            format!("Invalid '{param}': empty array. Expected an array with minimum length 1, but got an empty array instead."),
        )
    }

    pub fn invalid_value(param: &str, got: &str, supported: &[&str]) -> Self {
        let list = match supported {
            [] => String::new(),
            [one] => format!("'{one}'"),
            [init @ .., last] => format!(
                "{}, and '{last}'",
                init.iter()
                    .map(|s| format!("'{s}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Self::invalid(
            Some(param.into()),
            Some("invalid_value"),
            format!("Invalid value: '{got}'. Supported values are: {list}."),
        )
    }

    pub fn other(param: &str, message: String) -> Self {
        Self::invalid(Some(param.into()), None, message)
    }

    pub fn model_not_found(model: &str) -> Self {
        Self {
            status: 404,
            message: format!("The model `{model}` does not exist or you do not have access to it."),
            kind: "invalid_request_error",
            param: None,
            code: Some("model_not_found"),
        }
    }

    pub fn rate_limited(kind: &'static str, message: String) -> Self {
        Self {
            status: 429,
            message,
            kind,
            param: None,
            code: Some("rate_limit_exceeded"),
        }
    }

    pub fn server_error() -> Self {
        Self {
            status: 500,
            message: "The server had an error while processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if the error persists.".into(),
            kind: "server_error",
            param: None,
            code: None,
        }
    }

    pub fn overloaded() -> Self {
        Self {
            status: 503,
            message: "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists.".into(),
            kind: "server_error",
            param: None,
            code: None,
        }
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        // An integer literal past u64, read as a float (see validate's positive_int).
        Value::Number(n)
            if n.as_f64()
                .is_some_and(|f| f.fract() == 0.0 && f.abs() >= 9.2e18) =>
        {
            "an integer"
        }
        Value::Number(_) => "a decimal",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_come_in_openai_order() {
        let text = String::from_utf8(ApiError::missing("model").to_bytes()).unwrap();
        assert_eq!(
            text,
            r#"{"error":{"message":"Missing required parameter: 'model'.","type":"invalid_request_error","param":"model","code":"missing_required_parameter"}}"#
        );
    }

    #[test]
    fn bodies_have_the_four_fields() {
        let b = ApiError::missing("messages").body();
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["param"], "messages");
        assert_eq!(b["error"]["code"], "missing_required_parameter");
        let b = ApiError::server_error().body();
        assert!(b["error"]["param"].is_null() && b["error"]["code"].is_null());
    }

    #[test]
    fn out_of_range_names_the_side_the_number_fell_off() {
        let below = ApiError::out_of_range("temperature", 0.0, 2.0, &serde_json::json!(-0.5));
        assert_eq!(below.code, Some("decimal_below_min_value"));
        assert_eq!(
            below.message,
            "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got -0.5 instead."
        );
        let above = ApiError::out_of_range("temperature", 0.0, 2.0, &serde_json::json!(2.5));
        assert_eq!(above.code, Some("decimal_above_max_value"));
        assert_eq!(
            above.message,
            "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."
        );
    }

    #[test]
    fn invalid_type_names_the_json_type_it_got() {
        let got = |text: &str| {
            let v: Value = serde_json::from_str(text).unwrap();
            let m = ApiError::invalid_type("n", "an integer", &v).message;
            m["Invalid type for 'n': expected an integer, but got ".len()..]
                .trim_end_matches(" instead.")
                .to_string()
        };
        for (text, kind) in [
            ("null", "null"),
            ("true", "a boolean"),
            ("5", "an integer"),
            ("-5", "an integer"),
            // Past i64::MAX (9,223,372,036,854,775,807): a u64 only.
            ("10000000000000000000", "an integer"),
            // Past u64::MAX: serde reads a float; whole and at least 9.2e18, an integer literal.
            ("100000000000000000000", "an integer"),
            ("-1e19", "an integer"),
            ("1.5", "a decimal"),
            // Whole but small: written as a decimal.
            ("2.0", "a decimal"),
            ("\"x\"", "a string"),
            ("[]", "an array"),
            ("{}", "an object"),
        ] {
            assert_eq!(got(text), kind, "{text}");
        }
    }

    #[test]
    fn invalid_value_lists_supported_values_like_openai() {
        let e =
            ApiError::invalid_value("messages[0].role", "bot", &["system", "user", "assistant"]);
        assert_eq!(
            e.message,
            "Invalid value: 'bot'. Supported values are: 'system', 'user', and 'assistant'."
        );
    }
}
