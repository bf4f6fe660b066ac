//! Response bodies, as typed structs so fields come out in OpenAI's order without an ordered map:
//! the `chat.completion` object and the streaming (`stream: true`) body, server-sent events of
//! `chat.completion.chunk` objects as OpenAI sends them: a role delta, one content delta per
//! token, a chunk with an empty delta and the finish reason, the usage chunk (`choices: []`) when
//! `stream_options.include_usage` is set (every other chunk then carries `"usage": null`), and
//! `data: [DONE]`.

use serde::{Serialize, Serializer};

use crate::openai::tokens::CompletionText;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PromptDetails {
    pub cached_tokens: u32,
    pub audio_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct CompletionDetails {
    pub reasoning_tokens: u32,
    pub audio_tokens: u32,
    pub accepted_prediction_tokens: u32,
    pub rejected_prediction_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub prompt_tokens_details: PromptDetails,
    pub completion_tokens_details: CompletionDetails,
}

impl Usage {
    pub fn new(prompt_tokens: u32, cached_tokens: u32, completion_tokens: u32) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens + completion_tokens,
            prompt_tokens_details: PromptDetails {
                cached_tokens,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

/// What every response names: id, time, model snapshot and fingerprint.
#[derive(Debug, Clone, Copy)]
pub struct Meta<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub fingerprint: &'a str,
}

/// The non-streaming body; `choices` as (completion tokens, finish reason).
///
/// Written by hand rather than through serde: this is the stub's hot path, and the completion text
/// (the bulk of the body) needs no escaping ([`CompletionText`] guarantees it), so it is copied
/// as is instead of being scanned character by character. A test checks the result against the
/// serde-built equivalent.
///
/// `json`, when given, holds each choice's content as tokens (JSON mode); else the content is the
/// first `tokens` tokens of `text`.
pub fn completion(
    meta: Meta<'_>,
    text: &CompletionText,
    choices: &[(u32, &str)],
    json: Option<&[Vec<String>]>,
    usage: &Usage,
) -> Vec<u8> {
    use std::io::Write;
    let content_len: usize = choices.iter().map(|c| text.text(c.0).len()).sum();
    let mut out = Vec::with_capacity(content_len + 600 + choices.len() * 160);
    let model = serde_json::to_string(meta.model).expect("a string serializes");
    // Writes into a Vec cannot fail.
    let _ = write!(
        out,
        r#"{{"id":"{}","object":"chat.completion","created":{},"model":{model},"choices":["#,
        meta.id, meta.created
    );
    for (index, (tokens, finish)) in choices.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        let content = match json {
            // JSON content has quotes: it must be escaped.
            Some(pieces) => {
                serde_json::to_string(&pieces[index].concat()).expect("a string serializes")
            }
            // No visible token (a reasoning model's reasoning used the whole cap): "".
            None if *tokens == 0 => "\"\"".to_string(),
            None => format!("\"{}\"", text.text(*tokens)),
        };
        let _ = write!(
            out,
            r#"{{"index":{index},"message":{{"role":"assistant","content":{content},"refusal":null,"annotations":[]}},"logprobs":null,"finish_reason":"{finish}"}}"#,
        );
    }
    out.extend_from_slice(br#"],"usage":"#);
    serde_json::to_writer(&mut out, usage).expect("plain data always serializes");
    let _ = write!(
        out,
        r#","service_tier":"default","system_fingerprint":"{}"}}"#,
        meta.fingerprint
    );
    out
}

#[derive(Serialize)]
#[serde(untagged)]
enum Delta<'a> {
    First {
        role: &'static str,
        content: &'static str,
        refusal: Option<()>,
    },
    Content {
        content: &'a str,
    },
    Empty {},
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: usize,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

/// The `usage` member of a chunk: absent without include_usage, else null but on the last chunk.
enum UsageField<'a> {
    Absent,
    Null,
    Full(&'a Usage),
}

impl UsageField<'_> {
    fn is_absent(&self) -> bool {
        matches!(self, UsageField::Absent)
    }
}

impl Serialize for UsageField<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            UsageField::Full(u) => u.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: &'a str,
    choices: &'a [ChunkChoice<'a>],
    #[serde(skip_serializing_if = "UsageField::is_absent")]
    usage: UsageField<'a>,
}

/// The whole event stream for `choices` given as (completion tokens, finish reason), and where
/// its first part ends: the byte after the first choice's first content chunk (after its role
/// delta when it has no content), what a client sees at the time to first token.
pub fn stream(
    meta: Meta<'_>,
    include_usage: bool,
    text: &CompletionText,
    choices: &[(u32, &str)],
    json: Option<&[Vec<String>]>,
    usage: &Usage,
) -> (Vec<u8>, usize) {
    let tokens: usize = choices.iter().map(|c| c.0 as usize).sum();
    let mut out = Vec::with_capacity(tokens * 300 + 1024);
    let mut first_part = 0;
    let push = |out: &mut Vec<u8>, choices: &[ChunkChoice<'_>], usage: UsageField<'_>| {
        let chunk = Chunk {
            id: meta.id,
            object: "chat.completion.chunk",
            created: meta.created,
            model: meta.model,
            service_tier: "default",
            system_fingerprint: meta.fingerprint,
            choices,
            usage,
        };
        out.extend_from_slice(b"data: ");
        serde_json::to_writer(&mut *out, &chunk).expect("plain data always serializes");
        out.extend_from_slice(b"\n\n");
    };
    let every = || {
        if include_usage {
            UsageField::Null
        } else {
            UsageField::Absent
        }
    };
    for (index, (n, finish)) in choices.iter().enumerate() {
        let one = |delta, finish_reason| {
            [ChunkChoice {
                index,
                delta,
                logprobs: None,
                finish_reason,
            }]
        };
        let first = Delta::First {
            role: "assistant",
            content: "",
            refusal: None,
        };
        push(&mut out, &one(first, None), every());
        if index == 0 && *n == 0 {
            first_part = out.len();
        }
        for i in 0..*n as usize {
            push(
                &mut out,
                &one(
                    Delta::Content {
                        content: match json {
                            Some(pieces) => &pieces[index][i],
                            None => text.token(i),
                        },
                    },
                    None,
                ),
                every(),
            );
            if index == 0 && i == 0 {
                first_part = out.len();
            }
        }
        push(&mut out, &one(Delta::Empty {}, Some(finish)), every());
    }
    if include_usage {
        push(&mut out, &[], UsageField::Full(usage));
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
    (out, first_part)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn hand_written_completion_equals_the_serde_built_one() {
        let text = CompletionText::new();
        let usage = Usage::new(42, 0, 7 + 3);
        let meta = Meta {
            id: "chatcmpl-abc",
            created: 1_700_000_000,
            model: "gpt-4o-2024-08-06",
            fingerprint: "fp_0123456789",
        };
        let body = completion(meta, &text, &[(7, "stop"), (3, "length")], None, &usage);
        let got: Value = serde_json::from_slice(&body).expect("valid JSON");
        let want = json!({
            "id": "chatcmpl-abc", "object": "chat.completion", "created": 1_700_000_000u64,
            "model": "gpt-4o-2024-08-06",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text.text(7), "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "stop"},
                {"index": 1, "message": {"role": "assistant", "content": text.text(3), "refusal": null, "annotations": []}, "logprobs": null, "finish_reason": "length"}
            ],
            "usage": serde_json::to_value(usage).unwrap(),
            "service_tier": "default",
            "system_fingerprint": "fp_0123456789",
        });
        assert_eq!(got, want);
        let s = String::from_utf8(body).unwrap();
        assert!(s.starts_with(r#"{"id":"chatcmpl-abc","object":"chat.completion","created":"#));
    }

    #[test]
    fn a_streams_first_part_is_the_role_delta_and_the_first_content_chunk() {
        let text = CompletionText::new();
        let usage = Usage::new(42, 0, 7);
        let meta = Meta {
            id: "chatcmpl-abc",
            created: 1_700_000_000,
            model: "gpt-4o-2024-08-06",
            fingerprint: "fp_0123456789",
        };
        let (body, end) = stream(meta, true, &text, &[(7, "stop")], None, &usage);
        let events = |b: &[u8]| -> Vec<String> {
            String::from_utf8(b.to_vec())
                .unwrap()
                .split("\n\n")
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect()
        };
        let (first, rest) = (events(&body[..end]), events(&body[end..]));
        assert_eq!(first.len(), 2);
        assert!(first[0].contains(r#""delta":{"role":"assistant","content":"","refusal":null}"#));
        assert!(first[1].contains(&format!(r#""delta":{{"content":"{}"}}"#, text.token(0))));
        // 6 more content chunks, the finish, the usage chunk and [DONE].
        assert_eq!(rest.len(), 9);
        assert_eq!(rest[8], "data: [DONE]");
    }
}
