//! A Responses call's answer: the same draws as a chat call's ([`super::chat`] decides it),
//! written as a `response` object or its event stream ([`crate::stub::responses`]). The ids
//! are the request's next draws after its outcome: the response's, the reasoning item's (a
//! reasoning model's only) and the message's.

use std::time::{SystemTime, UNIX_EPOCH};

use rand_chacha::ChaCha8Rng;

use super::chat::{hex_id, Answer, Drawn};
use super::StubCore;
use crate::stub::request::responses::ResponsesRequest;
use crate::stub::responses::{self, Output, ResponseMeta, ResponsesUsage};

impl StubCore {
    /// A Responses 200's body and content type, its billed output tokens (visible plus
    /// reasoning; in JSON mode, as the JSON tokenizes) and, streamed, where its first part ends.
    pub(super) fn responses_answer(
        &self,
        req: &ResponsesRequest,
        drawn: &Drawn,
        prompt_tokens: u32,
        rng: &mut ChaCha8Rng,
    ) -> Answer {
        let id = format!("resp_{}", hex_id(rng, 48));
        let reasoning_id = req.call.effort.map(|_| format!("rs_{}", hex_id(rng, 48)));
        let message_id = format!("msg_{}", hex_id(rng, 48));
        let created_at = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // One choice: a Responses call has no `n`.
        let (visible, finish) = drawn.choices.first().copied().unwrap_or((0, "stop"));
        let json = req
            .call
            .json
            .then(|| self.json_choices(&drawn.choices).2.swap_remove(0));
        let visible_billed = json.as_ref().map_or(visible, |p| p.len() as u32);
        let output_tokens = visible_billed + drawn.reasoning_tokens;
        let usage = ResponsesUsage::new(
            prompt_tokens,
            drawn.cached_tokens,
            output_tokens,
            drawn.reasoning_tokens,
        );
        let meta = ResponseMeta {
            id: &id,
            reasoning_id: reasoning_id.as_deref(),
            message_id: &message_id,
            created_at,
            completed_at: created_at + drawn.timing.total.as_secs(),
            model: &req.call.model.snapshot,
            request: req,
        };
        let output = Output {
            visible: visible_billed,
            json: json.as_deref(),
            incomplete: finish == "length",
        };
        let (body, content_type, first_part_end) = if req.call.stream {
            let (body, end) = responses::stream(meta, &self.text, output, &usage);
            (body, "text/event-stream; charset=utf-8", Some(end))
        } else {
            let body = responses::object(meta, &self.text, output, &usage);
            (body, "application/json", None)
        };
        Answer {
            body,
            content_type,
            completion_tokens: output_tokens,
            first_part_end,
        }
    }
}
