//! The streaming (`stream: true`) body: server-sent events of `chat.completion.chunk` objects, as
//! OpenAI sends them: a role delta, one content delta per token, a chunk with an empty delta and
//! the finish reason, the usage chunk (`choices: []`) when `stream_options.include_usage` is set
//! (every other chunk then carries `"usage": null`), and `data: [DONE]`.

use serde_json::{json, Value};

use crate::openai::tokens::CompletionText;

pub struct Chunking<'a> {
    pub id: &'a str,
    pub created: u64,
    pub model: &'a str,
    pub fingerprint: &'a str,
    pub include_usage: bool,
}

impl Chunking<'_> {
    fn chunk(&self, choices: Value, out: &mut Vec<u8>) {
        let mut c = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": self.fingerprint,
            "choices": choices,
        });
        if self.include_usage {
            c["usage"] = Value::Null;
        }
        push_event(&c, out);
    }

    /// The whole event stream for `choices` given as (completion tokens, finish reason).
    pub fn body(&self, text: &CompletionText, choices: &[(u32, &str)], usage: &Value) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(choices.iter().map(|c| c.0 as usize).sum::<usize>() * 260 + 1024);
        for (index, (tokens, finish)) in choices.iter().enumerate() {
            self.chunk(
                json!([{"index": index, "delta": {"role": "assistant", "content": "", "refusal": null}, "logprobs": null, "finish_reason": null}]),
                &mut out,
            );
            for i in 0..*tokens as usize {
                self.chunk(
                    json!([{"index": index, "delta": {"content": text.token(i)}, "logprobs": null, "finish_reason": null}]),
                    &mut out,
                );
            }
            self.chunk(
                json!([{"index": index, "delta": {}, "logprobs": null, "finish_reason": finish}]),
                &mut out,
            );
        }
        if self.include_usage {
            let c = json!({
                "id": self.id,
                "object": "chat.completion.chunk",
                "created": self.created,
                "model": self.model,
                "service_tier": "default",
                "system_fingerprint": self.fingerprint,
                "choices": [],
                "usage": usage,
            });
            push_event(&c, &mut out);
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
        out
    }
}

fn push_event(v: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    serde_json::to_writer(&mut *out, v).expect("a JSON value always serializes");
    out.extend_from_slice(b"\n\n");
}
