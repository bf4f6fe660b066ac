//! The body read into JSON values within a budget, so that what a request can make the stub hold
//! is bounded by the request's count of values, not only by its bytes. A `serde_json::Value`
//! tree costs far more than its text: a one-word message (`{"role":"user","content":"w"},`, 30
//! bytes) became about 950 bytes of maps and strings, so a 57 MiB body of 2,000,000 of them
//! peaked at 1.9 GB. Here:
//!
//! - `messages` holds at most [`MAX_MESSAGES`] (OpenAI's own limit, 2,048): past it the rest of
//!   the array is skipped unbuilt, only counted, and the request gets OpenAI's
//!   `array_above_max_length` 400 with the array's real length;
//! - the whole body holds at most [`MAX_VALUES`] values (objects, arrays, strings, numbers,
//!   booleans, nulls and object keys each count one): past it reading stops, and the request
//!   gets a 400 in OpenAI's shape whose words are the stub's own (OpenAI states no such count).
//!
//! Values are built as they are read (serde's visitors over `serde_json`'s parser, with its
//! nesting limit of 128), so a refused body never exists as a tree. The checks in the sibling
//! modules then read the `Value`s as before.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::openai::errors::ApiError;

/// OpenAI's limit on `messages` ("array too long. Expected an array with maximum length 2048").
pub const MAX_MESSAGES: usize = 2048;

/// The most JSON values one request body may hold (the stub's own bound). 2,048 messages of
/// text (3 values each, 5 with their keys) take about 10,000; 128 tools with their schemas a
/// few thousand more.
pub const MAX_VALUES: usize = 100_000;

/// Why reading stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refused {
    TooManyValues,
    /// `messages` longer than [`MAX_MESSAGES`]: its length.
    Messages(usize),
}

/// What reading may still take, shared by the visitors of one body.
struct Budget {
    values_left: Cell<usize>,
    refused: Cell<Option<Refused>>,
}

impl Budget {
    fn take<E: de::Error>(&self) -> Result<(), E> {
        match self.values_left.get().checked_sub(1) {
            Some(left) => {
                self.values_left.set(left);
                Ok(())
            }
            None => self.refuse(Refused::TooManyValues),
        }
    }

    fn refuse<T, E: de::Error>(&self, why: Refused) -> Result<T, E> {
        self.refused.set(Some(why));
        Err(E::custom("refused by the stub's bounds"))
    }
}

/// The body as a JSON object, each value built within the budget. A body that is not one JSON
/// object gets OpenAI's parse error; a body past a bound, its 400.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    object_within(body, MAX_VALUES)
}

fn object_within(body: &[u8], max_values: usize) -> Result<Map<String, Value>, ApiError> {
    let budget = Budget {
        values_left: Cell::new(max_values),
        refused: Cell::new(None),
    };
    let mut de = serde_json::Deserializer::from_slice(body);
    let read = Top(&budget)
        .deserialize(&mut de)
        .and_then(|obj| de.end().map(|()| obj));
    match (read, budget.refused.get()) {
        (_, Some(Refused::Messages(len))) => {
            Err(ApiError::array_too_long("messages", MAX_MESSAGES, len))
        }
        (_, Some(Refused::TooManyValues)) => Err(ApiError {
            status: 400,
            message: format!("The request body holds more than {max_values} JSON values (objects, arrays, strings, numbers and keys); this stub reads at most {max_values} per request."),
            kind: "invalid_request_error",
            param: None,
            code: None,
        }),
        (Ok(Some(obj)), None) => Ok(obj),
        (Ok(None) | Err(_), None) => Err(ApiError::unparsable_json()),
    }
}

/// The top level: an object (`Some`), or anything else (`None`, read and dropped).
struct Top<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for Top<'_> {
    type Value = Option<Map<String, Value>>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Top<'_> {
    type Value = Option<Map<String, Value>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        self.0.take()?;
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.0.take()?;
            let cap = (key == "messages").then_some(MAX_MESSAGES);
            let value = map.next_value_seed(Bounded {
                budget: self.0,
                cap,
            })?;
            obj.insert(key, value);
        }
        Ok(Some(obj))
    }

    // Not an object: skipped without building (the caller answers the parse error).
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

/// One value, built within the budget; an array at this level holds at most `cap` elements.
struct Bounded<'b> {
    budget: &'b Budget,
    cap: Option<usize>,
}

impl<'de> DeserializeSeed<'de> for Bounded<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Bounded<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::String(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.budget.take()?;
        Ok(Value::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.take()?;
        let mut items = Vec::new();
        loop {
            if self.cap.is_some_and(|cap| items.len() == cap) {
                // One more is too many: count the rest unbuilt, for OpenAI's message.
                let mut len = items.len();
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    len += 1;
                }
                if len > items.len() {
                    drop(items);
                    return self.budget.refuse(Refused::Messages(len));
                }
                break;
            }
            let seed = Bounded {
                budget: self.budget,
                cap: None,
            };
            match seq.next_element_seed(seed)? {
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.take()?;
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.budget.take()?;
            let value = map.next_value_seed(Bounded {
                budget: self.budget,
                cap: None,
            })?;
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(n: usize) -> Vec<u8> {
        let one = r#"{"role":"user","content":"w"}"#;
        let all = vec![one; n].join(",");
        format!(r#"{{"model":"gpt-4o","messages":[{all}]}}"#).into_bytes()
    }

    #[test]
    fn bodies_within_the_bounds_read_as_serde_json_reads_them() {
        for body in [
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "n": 2}),
            json!({"a": [1, -2, 2.5, true, null, "s", {"b": []}], "messages": []}),
            json!({"messages": "not an array", "x": {"y": {"z": [[]]}}}),
        ] {
            let bytes = body.to_string().into_bytes();
            assert_eq!(Value::Object(object(&bytes).unwrap()), body);
        }
        // 2,048 messages is OpenAI's most, and passes.
        let obj = object(&messages(MAX_MESSAGES)).unwrap();
        assert_eq!(obj["messages"].as_array().unwrap().len(), MAX_MESSAGES);
    }

    #[test]
    fn two_million_one_word_messages_are_refused_with_their_count_not_built() {
        // Before: built whole as Values, 57 MiB of them peaked at 1.9 GB. Now the 2,049th ends
        // the building and the rest are only counted.
        let e = object(&messages(2_000_000)).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("messages")));
        assert_eq!(e.code, Some("array_above_max_length"));
        assert!(e
            .message
            .contains("maximum length 2048, but got an array with length 2000000"));
        let e = object(&messages(MAX_MESSAGES + 1)).unwrap_err();
        assert!(e.message.contains("length 2049 instead"), "{}", e.message);
    }

    #[test]
    fn a_body_past_the_value_budget_is_refused_wherever_its_values_are() {
        // 12 values: the object, 2 keys, "gpt-4o", the array and 7 numbers. A budget of 11 stops.
        let body = br#"{"model":"gpt-4o","tools":[1,2,3,4,5,6,7]}"#;
        assert!(object_within(body, 12).is_ok());
        let e = object_within(body, 11).unwrap_err();
        assert_eq!((e.status, e.param.clone(), e.code), (400, None, None));
        assert!(
            e.message.contains("more than 11 JSON values"),
            "{}",
            e.message
        );
        // Deep inside a message too.
        let parts = vec![r#"{"type":"text","text":"a"}"#; 60_000].join(",");
        let body = format!(r#"{{"model":"m","messages":[{{"role":"user","content":[{parts}]}}]}}"#);
        let e = object(body.as_bytes()).unwrap_err();
        assert!(
            e.message.contains("more than 100000 JSON values"),
            "{}",
            e.message
        );
    }

    #[test]
    fn what_is_not_one_json_object_is_the_parse_error() {
        for body in [
            &b""[..],
            b"[]",
            b"[1,2]",
            b"null",
            b"42",
            b"\"s\"",
            b"{",
            b"{} {}",
            b"\xff",
        ] {
            let e = object(body).unwrap_err();
            assert!(e.message.starts_with("We could not parse"), "{body:?}");
        }
    }
}
