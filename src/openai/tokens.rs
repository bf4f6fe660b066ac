//! Token accounting with the gpt-4o family's tokenizer (o200k_base, embedded by tiktoken-rs).
//!
//! Prompt tokens follow OpenAI's cookbook formula for chat models:
//! `3 + Σ over messages (3 + tokens(role) + tokens(content) [+ tokens(name) + 1])`, where the
//! trailing 3 primes the assistant's reply. A content given as an array of parts counts each
//! text part; an image part counts a flat 85 tokens (OpenAI's low-detail price; high detail is
//! tiled and not modelled). [`prompt_pieces`] lays a prompt out in that order, piece by piece:
//! counting sums the pieces, and prompt caching hashes them into prefixes. Completion text is
//! real English made of words that are one token each, so a completion of N tokens
//! re-tokenizes to exactly N tokens.

use std::hash::BuildHasher;

use rustc_hash::{FxBuildHasher, FxHashMap};

use serde_json::Value;
use tiktoken_rs::CoreBPE;

pub const TOKENS_PER_MESSAGE: u32 = 3;
pub const TOKENS_PER_NAME: u32 = 1;
pub const REPLY_PRIMING: u32 = 3;
pub const IMAGE_PART_TOKENS: u32 = 85;

/// The o200k_base tokenizer, loaded once (about 170 ms in a release build).
pub fn bpe() -> &'static CoreBPE {
    tiktoken_rs::o200k_base_singleton()
}

/// Counts tokens of text, remembering the counts of texts it has seen. A load test sends the same
/// few prompts thousands of times and the stub counts them under its state lock, so a
/// cache hit replaces a tokenization. The key is the text's length and 64-bit FxHash (a
/// collision needs two texts of the same length with the same hash: negligible next to the
/// tokenizer's cost). Bounded: cleared when full.
#[derive(Debug, Default)]
pub struct TokenCounter {
    cache: FxHashMap<(usize, u64), u32>,
}

const CACHE_CAPACITY: usize = 16_384;

impl TokenCounter {
    pub fn count(&mut self, text: &str) -> u32 {
        let key = (text.len(), FxBuildHasher.hash_one(text));
        if let Some(&n) = self.cache.get(&key) {
            return n;
        }
        let n = bpe().count_ordinary(text) as u32;
        if self.cache.len() >= CACHE_CAPACITY {
            self.cache.clear();
        }
        self.cache.insert(key, n);
        n
    }

    /// Tokens of one message's `content` (a string or an array of parts).
    pub fn content(&mut self, content: &Value) -> u32 {
        let mut total = 0;
        content_pieces(content, &mut |p| total += self.piece(p));
        total
    }

    /// Prompt tokens of a validated `messages` array, by the cookbook formula: the tokens of
    /// its [`prompt_pieces`].
    pub fn prompt(&mut self, messages: &[Value]) -> u32 {
        let mut total = 0;
        prompt_pieces(messages, |p| total += self.piece(p));
        total
    }

    /// Tokens of one piece of a prompt.
    pub fn piece(&mut self, piece: Piece<'_>) -> u32 {
        match piece {
            Piece::Text(t) => self.count(t),
            Piece::Marker { tokens, .. } => tokens,
        }
    }
}

/// One stretch of a prompt's tokens, in the order the chat format lays them out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// A text of the request, as many tokens as o200k gives it.
    Text(&'a str),
    /// `tokens` tokens that are no text of the request (the format's own, an image), told
    /// apart by `tag`.
    Marker { tokens: u32, tag: u64 },
}

/// Tags of the format's own tokens: the 3 opening a message, the 1 after a name, the 1 closing
/// a tool call, the 3 priming the reply. An image's tag is its URL's hash.
const MESSAGE_TAG: u64 = 1;
const NAME_TAG: u64 = 2;
const CALL_TAG: u64 = 3;
const PRIMING_TAG: u64 = 4;

/// The pieces of a validated `messages` array in order: per message its 3 opening tokens, role,
/// content, name (and its 1 token), refusal and tool calls (each name and arguments, and 1
/// token), then the 3 tokens priming the reply. Their tokens sum to the cookbook's count; the
/// order is the one prompt caching matches prefixes in.
pub fn prompt_pieces<'a>(messages: &'a [Value], mut f: impl FnMut(Piece<'a>)) {
    let marker = |tokens, tag| Piece::Marker { tokens, tag };
    for m in messages {
        f(marker(TOKENS_PER_MESSAGE, MESSAGE_TAG));
        let text = |key| m.get(key).and_then(Value::as_str);
        if let Some(role) = text("role") {
            f(Piece::Text(role));
        }
        if let Some(content) = m.get("content") {
            content_pieces(content, &mut f);
        }
        if let Some(name) = text("name") {
            f(Piece::Text(name));
            f(marker(TOKENS_PER_NAME, NAME_TAG));
        }
        if let Some(refusal) = text("refusal") {
            f(Piece::Text(refusal));
        }
        if let Some(calls) = m.get("tool_calls").and_then(Value::as_array) {
            for function in calls.iter().filter_map(|c| c.get("function")) {
                for key in ["name", "arguments"] {
                    if let Some(s) = function.get(key).and_then(Value::as_str) {
                        f(Piece::Text(s));
                    }
                }
                f(marker(1, CALL_TAG));
            }
        }
    }
    f(marker(REPLY_PRIMING, PRIMING_TAG));
}

/// The pieces of one message's `content`: a string, or an array whose text parts are texts and
/// whose image parts are [`IMAGE_PART_TOKENS`] tokens tagged by their URL.
fn content_pieces<'a>(content: &'a Value, f: &mut impl FnMut(Piece<'a>)) {
    match content {
        Value::String(s) => f(Piece::Text(s)),
        Value::Array(parts) => {
            for part in parts {
                match part.get("type").and_then(Value::as_str) {
                    Some("text") => {
                        if let Some(t) = part.get("text").and_then(Value::as_str) {
                            f(Piece::Text(t));
                        }
                    }
                    Some("image_url") => {
                        let url = part.pointer("/image_url/url").and_then(Value::as_str);
                        f(Piece::Marker {
                            tokens: IMAGE_PART_TOKENS,
                            tag: FxBuildHasher.hash_one(url.unwrap_or_default()),
                        });
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// Source of completion text: `text(n)` is real English of exactly `n` o200k tokens.
#[derive(Debug)]
pub struct CompletionText {
    text: String,
    /// `ends[i]` is the byte length of the first `i + 1` tokens.
    ends: Vec<usize>,
}

const CORPUS: &str =
    "Your brand deserves a fresh look this season, and this post shows what makes your \
business stand out. Our team has crafted a post that speaks to your customers, shows the \
value you bring, and invites them to take the next step. Bright colors, clear words, and a \
strong call to action help every message land. Share the story of your best product, \
celebrate the people behind it, and give your audience a reason to come back. Great content \
is simple, honest, and made for the moment. Start the conversation today, reach new people, \
and watch your community grow with every share, like, and comment.";

/// The most tokens one completion can have (gpt-4o's output limit).
pub const MAX_COMPLETION_TOKENS: usize = 16_384;

impl CompletionText {
    pub fn new() -> Self {
        let bpe = bpe();
        // Split the corpus into pieces that the tokenizer's pre-split keeps apart: words with their
        // leading space, and single punctuation marks. Keep only pieces that are one token each.
        let mut pieces: Vec<String> = Vec::new();
        for word in CORPUS.split_whitespace() {
            let (w, punct) = match word.strip_suffix(['.', ',']) {
                Some(w) => (w, Some(&word[w.len()..])),
                None => (word, None),
            };
            let piece = format!(" {w}");
            // One token each, and nothing JSON would escape (the stub copies the text verbatim).
            let plain = |p: &str| {
                p.chars().all(|c| c.is_ascii_graphic() || c == ' ') && !p.contains(['"', '\\'])
            };
            if bpe.count_ordinary(&piece) == 1 && plain(&piece) && punct.is_none_or(plain) {
                pieces.push(piece);
                if let Some(p) = punct {
                    pieces.push(p.to_string());
                }
            }
        }
        // The text starts with the first word without its space when that is one token too.
        let first = pieces[0].trim_start();
        let (mut text, mut i) = if bpe.count_ordinary(first) == 1 {
            (first.to_string(), 1)
        } else {
            ("The".to_string(), 0)
        };
        let mut ends = vec![text.len()];
        while ends.len() < MAX_COMPLETION_TOKENS {
            text.push_str(&pieces[i % pieces.len()]);
            ends.push(text.len());
            i += 1;
        }
        Self { text, ends }
    }

    /// The first `n` tokens of the text (n clamped to 1..=MAX_COMPLETION_TOKENS). Printable ASCII
    /// without quotes or backslashes: it needs no escaping in JSON.
    pub fn text(&self, n: u32) -> &str {
        let n = (n as usize).clamp(1, self.ends.len());
        &self.text[..self.ends[n - 1]]
    }

    /// JSON content of about `n` tokens (`{"text":"..."}`, exactly `n` whenever `n` leaves room
    /// for the wrapper), as its o200k tokens: their concatenation parses as a JSON object and
    /// their number is the completion's token count.
    pub fn json(&self, n: u32) -> Vec<String> {
        let bpe = bpe();
        let split = |s: &str| {
            bpe.split_by_token_ordinary(s)
                .unwrap_or_else(|_| vec![s.to_string()])
        };
        let mut m = n as i64 - 6;
        let mut best = split("{}");
        for _ in 0..4 {
            if m < 1 {
                break;
            }
            let pieces = split(&format!("{{\"text\":\"{}\"}}", self.text(m as u32)));
            let got = pieces.len() as i64;
            if got <= n as i64 {
                best = pieces;
            }
            if got == n as i64 {
                break;
            }
            m += n as i64 - got;
        }
        best
    }

    /// Token `i` of the text (for streaming deltas).
    pub fn token(&self, i: usize) -> &str {
        let i = i.min(self.ends.len() - 1);
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

impl Default for CompletionText {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn completion_text_has_exactly_the_asked_number_of_tokens() {
        let c = CompletionText::new();
        for n in (1..=400).chain([1_000, 2_048, 4_096]) {
            let text = c.text(n);
            assert_eq!(bpe().count_ordinary(text) as u32, n, "n = {n}: {text:?}");
        }
        let joined: String = (0..50).map(|i| c.token(i)).collect();
        assert_eq!(joined, c.text(50));
        assert!(c.text(12).starts_with("Your brand deserves"));
        let all = c.text(MAX_COMPLETION_TOKENS as u32);
        assert_eq!(
            serde_json::to_string(all).unwrap(),
            format!("\"{all}\""),
            "needs no escaping"
        );
    }

    #[test]
    fn json_text_parses_and_has_the_asked_number_of_tokens() {
        let c = CompletionText::new();
        for n in [7, 8, 9, 20, 150, 1000] {
            let pieces = c.json(n);
            let text = pieces.concat();
            let v: serde_json::Value = serde_json::from_str(&text).expect("JSON");
            assert!(v.is_object(), "{text}");
            assert_eq!(pieces.len(), n as usize, "{text}");
            assert_eq!(bpe().count_ordinary(&text), n as usize);
        }
        // Too few tokens for the wrapper: still an object.
        let text = c.json(1).concat();
        assert!(serde_json::from_str::<serde_json::Value>(&text)
            .unwrap()
            .is_object());
    }

    #[test]
    fn prompt_tokens_follow_the_cookbook_formula() {
        let mut counter = TokenCounter::default();
        let messages = vec![
            json!({"role": "system", "content": "You are a helpful assistant."}),
            json!({"role": "user", "content": "Hello!", "name": "sam"}),
        ];
        let by_hand = 3
            + (3 + bpe().count_ordinary("system")
                + bpe().count_ordinary("You are a helpful assistant."))
            + (3 + bpe().count_ordinary("user")
                + bpe().count_ordinary("Hello!")
                + bpe().count_ordinary("sam")
                + 1);
        assert_eq!(counter.prompt(&messages) as usize, by_hand);
        // A long text counts as the tokenizer says, the first time and again from the cache.
        let long = "marketing ".repeat(100);
        assert_eq!(counter.count(&long) as usize, bpe().count_ordinary(&long));
        assert_eq!(counter.count(&long) as usize, bpe().count_ordinary(&long));
    }

    #[test]
    fn a_seen_text_is_answered_from_the_cache_and_a_full_cache_is_cleared() {
        let mut counter = TokenCounter::default();
        // Planting a wrong count under the text's key proves the second call reads the cache
        // instead of tokenizing: six characters are at most six tokens, the cache says 7.
        let key = ("Hello!".len(), FxBuildHasher.hash_one("Hello!"));
        counter.cache.insert(key, 7);
        assert_eq!(counter.count("Hello!"), 7);
        // Fill the cache to its capacity with distinct texts; the next new text clears it first
        // and is then its only entry (the planted count is gone).
        for i in counter.cache.len()..CACHE_CAPACITY {
            counter.cache.insert((usize::MAX, i as u64), 1);
        }
        assert_eq!(counter.cache.len(), CACHE_CAPACITY);
        assert_eq!(
            counter.count("a new text") as usize,
            bpe().count_ordinary("a new text")
        );
        assert_eq!(counter.cache.len(), 1);
        assert_eq!(
            counter.count("Hello!") as usize,
            bpe().count_ordinary("Hello!")
        );
    }

    #[test]
    fn an_assistant_turn_counts_its_refusal_and_tool_calls() {
        // The cookbook's formula extended as the API bills: 3 for the reply, then for the
        // message 3 + role + refusal + each call's function name and arguments + 1 per call.
        let mut counter = TokenCounter::default();
        let messages = vec![json!({
            "role": "assistant",
            "refusal": "I cannot help with that.",
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                {"id": "b", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
            ]
        })];
        let n = |s: &str| bpe().count_ordinary(s);
        let by_hand = 3
            + 3
            + n("assistant")
            + n("I cannot help with that.")
            + (n("get_weather") + n("{\"city\":\"Paris\"}") + 1)
            + (n("get_time") + n("{}") + 1);
        assert_eq!(counter.prompt(&messages) as usize, by_hand);
    }

    #[test]
    fn a_token_past_the_end_is_the_last_token() {
        let c = CompletionText::new();
        let last = c.token(MAX_COMPLETION_TOKENS - 1);
        assert!(!last.is_empty());
        assert_eq!(c.token(MAX_COMPLETION_TOKENS), last);
        assert_eq!(c.token(usize::MAX), last);
    }

    #[test]
    fn content_parts_count_text_and_a_flat_image_price() {
        let mut counter = TokenCounter::default();
        let parts = json!([
            {"type": "text", "text": "Describe this"},
            {"type": "image_url", "image_url": {"url": "https://example.invalid/a.png"}}
        ]);
        assert_eq!(
            counter.content(&parts) as usize,
            bpe().count_ordinary("Describe this") + IMAGE_PART_TOKENS as usize
        );
    }
}
