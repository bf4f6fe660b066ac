//! The designed calls' request bodies: prompts of the designed size in o200k tokens (with the
//! message overhead the API counts), written from one fixed English text. A call whose purpose
//! shares a prefix sends it as an identical system message (byte for byte, so that the account's
//! prompt cache can serve it); everything else opens with a per-call marker, so that no two
//! prompts share more than a few tokens.

use serde_json::{json, Value};

use crate::calibrate::CallSpec;
use crate::openai::reasoning::Effort;
use crate::openai::tokens::{CompletionText, TokenCounter};

/// Writes the bodies of one calibration: `nonce` marks its prompts (another calibration's
/// prompts never share a prefix with these).
pub struct PromptWriter {
    text: CompletionText,
    counter: TokenCounter,
    nonce: u64,
}

impl PromptWriter {
    pub fn new(nonce: u64) -> Self {
        Self {
            text: CompletionText::new(),
            counter: TokenCounter::default(),
            nonce,
        }
    }

    /// The messages of call number `index`, sized to `spec.prompt_tokens` (or just under, where
    /// the text cannot land on it exactly).
    pub fn messages(&mut self, spec: &CallSpec, index: usize) -> Vec<Value> {
        let marker = format!(
            "Calibration {:08x}, call {index}: repeat the text below.\n",
            self.nonce & 0xffff_ffff
        );
        let mut head = Vec::new();
        if spec.shared_prefix_tokens > 0 {
            let shared = format!(
                "Calibration {:08x}, shared context for {:?} calls.\n{}",
                self.nonce & 0xffff_ffff,
                spec.purpose,
                self.text.text(spec.shared_prefix_tokens.max(1))
            );
            head.push(json!({"role": "system", "content": shared}));
        }
        self.sized(head, &marker, spec.prompt_tokens)
    }

    /// `head` then a user message of `marker` and filler text, its filler's length found in a
    /// few steps so that the whole prompt counts `target` tokens.
    fn sized(&mut self, head: Vec<Value>, marker: &str, target: u32) -> Vec<Value> {
        let build = |text: &str| {
            let mut m = head.clone();
            m.push(json!({"role": "user", "content": format!("{marker}{text}")}));
            m
        };
        let base = self.counter.prompt(&build(""));
        let mut filler = target.saturating_sub(base);
        let mut best = build("");
        for _ in 0..6 {
            if filler == 0 {
                break;
            }
            let m = build(self.text.text(filler));
            let n = self.counter.prompt(&m);
            if n <= target {
                best = m;
            }
            if n == target {
                break;
            }
            filler = (filler as i64 + target as i64 - n as i64).max(0) as u32;
        }
        best
    }

    /// The (plain) request body of call `index`. A reasoning model (`effort` given) gets its
    /// cap as `max_completion_tokens` (OpenAI answers `max_tokens` with a 400 for it) and the
    /// `reasoning_effort`; any other model gets `max_tokens`, as before.
    pub fn body(&mut self, spec: &CallSpec, index: usize, effort: Option<Effort>) -> Value {
        let mut body = json!({
            "model": spec.model,
            "messages": self.messages(spec, index),
        });
        match effort {
            None => body["max_tokens"] = json!(spec.max_tokens),
            Some(e) => {
                body["max_completion_tokens"] = json!(spec.max_tokens);
                body["reasoning_effort"] = json!(e.as_str());
            }
        }
        body
    }
}

/// `body` streamed, with the usage chunk asked for.
pub fn streamed(body: &Value) -> Value {
    let mut body = body.clone();
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::Purpose;

    fn spec(purpose: Purpose, prompt: u32, shared: u32) -> CallSpec {
        CallSpec {
            model: "gpt-4o".into(),
            purpose,
            prompt_tokens: prompt,
            max_tokens: 10,
            shared_prefix_tokens: shared,
        }
    }

    #[test]
    fn prompts_have_the_designed_size() {
        let mut w = PromptWriter::new(7);
        let mut counter = TokenCounter::default();
        for (i, s) in [
            spec(Purpose::Probe, 40, 0),
            spec(Purpose::ImagePrompt, 800, 0),
            spec(Purpose::Caption, 1_200, 1_100),
            spec(Purpose::Speed, 100, 0),
        ]
        .iter()
        .enumerate()
        {
            let n = counter.prompt(&w.messages(s, i));
            assert!(
                n <= s.prompt_tokens && n + 2 >= s.prompt_tokens,
                "{:?}: {n}",
                s.purpose
            );
        }
    }

    #[test]
    fn shared_prefixes_are_identical_and_the_rest_differs() {
        let mut w = PromptWriter::new(7);
        let a = w.messages(&spec(Purpose::Caption, 1_300, 1_100), 1);
        let b = w.messages(&spec(Purpose::Caption, 1_300, 1_100), 2);
        assert_eq!(a[0], b[0]);
        assert_ne!(a[1], b[1]);
        let mut counter = TokenCounter::default();
        assert!(counter.content(&a[0]["content"]) >= 1_100);
        // Another calibration's prefix differs.
        let c = PromptWriter::new(8).messages(&spec(Purpose::Caption, 1_300, 1_100), 1);
        assert_ne!(a[0], c[0]);
    }

    #[test]
    fn a_streamed_body_asks_for_usage() {
        let mut w = PromptWriter::new(1);
        let plain = w.body(&spec(Purpose::Probe, 50, 0), 0, None);
        assert!(plain.get("stream").is_none());
        assert_eq!(plain["max_tokens"], 10);
        let b = streamed(&plain);
        assert_eq!(b["stream"], true);
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["messages"], plain["messages"]);
    }

    #[test]
    fn a_reasoning_models_body_caps_with_max_completion_tokens_and_names_its_effort() {
        let mut w = PromptWriter::new(1);
        let b = w.body(&spec(Purpose::Probe, 50, 0), 0, Some(Effort::Minimal));
        // The stub (and OpenAI) answer `max_tokens` with a 400 for a reasoning model.
        assert!(b.get("max_tokens").is_none(), "{b}");
        assert_eq!(b["max_completion_tokens"], 10);
        assert_eq!(b["reasoning_effort"], "minimal");
        // The cap the usage reader checks is the one sent.
        assert_eq!(crate::metrics::usage::completion_cap_of(&b), Some(10));
    }
}
