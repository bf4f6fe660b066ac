//! Responses API bodies (`POST /v1/responses`): the `response` object, and the streaming body,
//! server-sent events each with an `event:` line naming its type and a `data:` line holding it
//! with its `sequence_number` (from 0), as OpenAI sends them (API reference, Streaming events;
//! openai-python 3.57.0's `ResponseStreamEvent` types, read 2026-12-06):
//!
//! `response.created`, `response.in_progress` (the response `in_progress`, no output, no usage);
//! for a reasoning model its `reasoning` item (`response.output_item.added` and `.done`); then
//! the message: `response.output_item.added`, `response.content_part.added`, one
//! `response.output_text.delta` per token, `response.output_text.done`,
//! `response.content_part.done`, `response.output_item.done`; and last `response.completed`
//! (or `response.incomplete` when `max_output_tokens` cut it) with the whole response and its
//! usage. No `data: [DONE]`: the Responses stream ends with its terminal event.
//!
//! A response whose reasoning used the whole `max_output_tokens` has no message item, only its
//! reasoning item, and is `incomplete` (reason `max_output_tokens`), as OpenAI's reasoning
//! guide describes it.

use serde::Serialize;
use serde_json::{json, Value};

use crate::openai::tokens::CompletionText;
use crate::stub::request::responses::ResponsesRequest;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct InputDetails {
    pub cached_tokens: u32,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct OutputDetails {
    pub reasoning_tokens: u32,
}

/// A response's `usage`: output tokens count the reasoning tokens, as OpenAI bills them.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ResponsesUsage {
    pub input_tokens: u32,
    pub input_tokens_details: InputDetails,
    pub output_tokens: u32,
    pub output_tokens_details: OutputDetails,
    pub total_tokens: u32,
}

impl ResponsesUsage {
    pub fn new(input: u32, cached: u32, output: u32, reasoning: u32) -> Self {
        Self {
            input_tokens: input,
            input_tokens_details: InputDetails {
                cached_tokens: cached,
            },
            output_tokens: output,
            output_tokens_details: OutputDetails {
                reasoning_tokens: reasoning,
            },
            total_tokens: input + output,
        }
    }
}

/// What one response names: its ids (the reasoning item's only for a reasoning model), time
/// and model snapshot, and the request it echoes.
#[derive(Debug, Clone, Copy)]
pub struct ResponseMeta<'a> {
    pub id: &'a str,
    pub reasoning_id: Option<&'a str>,
    pub message_id: &'a str,
    pub created_at: u64,
    pub completed_at: u64,
    pub model: &'a str,
    pub request: &'a ResponsesRequest<'a>,
}

/// The drawn output: visible tokens (their text, or JSON pieces in JSON mode) and whether the
/// cap cut it (`incomplete`).
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    pub visible: u32,
    pub json: Option<&'a [String]>,
    pub incomplete: bool,
}

impl Output<'_> {
    fn text(&self, text: &CompletionText) -> String {
        match (self.json, self.visible) {
            (Some(pieces), _) => pieces.concat(),
            (None, 0) => String::new(),
            (None, n) => text.text(n).to_string(),
        }
    }

    /// The message item is there unless reasoning used the whole cap.
    fn has_message(&self) -> bool {
        self.visible > 0 || !self.incomplete
    }

    fn token<'t>(&'t self, text: &'t CompletionText, i: usize) -> &'t str {
        match self.json {
            Some(pieces) => &pieces[i],
            None => text.token(i),
        }
    }
}

fn reasoning_item(id: &str) -> Value {
    json!({"id": id, "type": "reasoning", "summary": []})
}

fn output_text(text: &str) -> Value {
    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text})
}

fn message_item(id: &str, status: &str, content: Vec<Value>) -> Value {
    json!({"id": id, "type": "message", "status": status, "content": content, "role": "assistant"})
}

/// The response object at `status` with `output` and `usage` (`None` while in progress).
fn response(
    meta: &ResponseMeta<'_>,
    status: &str,
    output: Vec<Value>,
    usage: Option<&ResponsesUsage>,
) -> Value {
    let r = meta.request;
    let effort = r.call.effort.map(|e| e.as_str());
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    let completed_at = (status == "completed").then_some(meta.completed_at);
    json!({
        "id": meta.id,
        "object": "response",
        "created_at": meta.created_at,
        "status": status,
        "background": false,
        "completed_at": completed_at,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": r.instructions,
        "max_output_tokens": r.max_output_tokens,
        "max_tool_calls": null,
        "model": meta.model,
        "output": output,
        "parallel_tool_calls": r.parallel_tool_calls,
        "previous_response_id": null,
        "reasoning": {"effort": effort, "summary": null},
        "service_tier": "default",
        "store": r.store,
        "temperature": r.temperature,
        "text": {"format": r.text_format, "verbosity": "medium"},
        "tool_choice": r.tool_choice,
        "tools": r.tools,
        "top_logprobs": 0,
        "top_p": r.top_p,
        "truncation": r.truncation,
        "usage": usage,
        "user": r.user,
        "metadata": r.metadata,
    })
}

fn status(output: &Output<'_>) -> &'static str {
    if output.incomplete {
        "incomplete"
    } else {
        "completed"
    }
}

/// The finished output items.
fn items(meta: &ResponseMeta<'_>, text: &CompletionText, output: &Output<'_>) -> Vec<Value> {
    let mut items = Vec::with_capacity(2);
    if let Some(id) = meta.reasoning_id {
        items.push(reasoning_item(id));
    }
    if output.has_message() {
        let content = vec![output_text(&output.text(text))];
        items.push(message_item(meta.message_id, status(output), content));
    }
    items
}

/// The non-streaming body: the finished response object.
pub fn object(
    meta: ResponseMeta<'_>,
    text: &CompletionText,
    output: Output<'_>,
    usage: &ResponsesUsage,
) -> Vec<u8> {
    let items = items(&meta, text, &output);
    let body = response(&meta, status(&output), items, Some(usage));
    serde_json::to_vec(&body).expect("plain data always serializes")
}

/// Writes events with their sequence numbers.
struct Events {
    out: Vec<u8>,
    seq: u64,
}

impl Events {
    fn push(&mut self, kind: &str, mut data: Value) {
        if let Value::Object(o) = &mut data {
            o.insert("type".into(), json!(kind));
            o.insert("sequence_number".into(), json!(self.seq));
        }
        self.seq += 1;
        self.out.extend_from_slice(b"event: ");
        self.out.extend_from_slice(kind.as_bytes());
        self.out.extend_from_slice(b"\ndata: ");
        serde_json::to_writer(&mut self.out, &data).expect("plain data always serializes");
        self.out.extend_from_slice(b"\n\n");
    }
}

/// The whole event stream, and where its first part ends: after the first text delta (what a
/// client sees at the time to first token), or, without one, before the terminal event.
pub fn stream(
    meta: ResponseMeta<'_>,
    text: &CompletionText,
    output: Output<'_>,
    usage: &ResponsesUsage,
) -> (Vec<u8>, usize) {
    let mut ev = Events {
        out: Vec::with_capacity(output.visible as usize * 200 + 4096),
        seq: 0,
    };
    let started = response(&meta, "in_progress", Vec::new(), None);
    ev.push("response.created", json!({"response": started}));
    ev.push("response.in_progress", json!({"response": started}));
    let mut index = 0;
    if let Some(id) = meta.reasoning_id {
        let item = reasoning_item(id);
        ev.push(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        ev.push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        index += 1;
    }
    let mut first_part = None;
    if output.has_message() {
        let id = meta.message_id;
        let at = json!({"item_id": id, "output_index": index, "content_index": 0});
        let with = |extra: Value| {
            let mut v = at.clone();
            if let (Value::Object(o), Value::Object(e)) = (&mut v, extra) {
                o.extend(e);
            }
            v
        };
        ev.push(
            "response.output_item.added",
            json!({"output_index": index, "item": message_item(id, "in_progress", Vec::new())}),
        );
        ev.push(
            "response.content_part.added",
            with(json!({"part": output_text("")})),
        );
        let tokens = match output.json {
            Some(pieces) => pieces.len(),
            None => output.visible as usize,
        };
        for i in 0..tokens {
            ev.push(
                "response.output_text.delta",
                with(json!({"delta": output.token(text, i), "logprobs": []})),
            );
            if i == 0 {
                first_part = Some(ev.out.len());
            }
        }
        let full = output.text(text);
        ev.push(
            "response.output_text.done",
            with(json!({"text": full, "logprobs": []})),
        );
        ev.push(
            "response.content_part.done",
            with(json!({"part": output_text(&full)})),
        );
        let item = message_item(id, status(&output), vec![output_text(&full)]);
        ev.push(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
    }
    let first_part = first_part.unwrap_or(ev.out.len());
    let done = response(
        &meta,
        status(&output),
        items(&meta, text, &output),
        Some(usage),
    );
    let terminal = if output.incomplete {
        "response.incomplete"
    } else {
        "response.completed"
    };
    ev.push(terminal, json!({"response": done}));
    (ev.out, first_part)
}
