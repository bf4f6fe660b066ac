//! The post's two requests, built the way the team's service builds them: an image-prompt call
//! (unless the post brings its own image prompt) and a caption call that includes the image
//! prompt (or, sent beside the image call with `parallel_calls`, goes without). Each is sized to the scenario's prompt tokens with real marketing text, counted with
//! the same o200k tokenizer and message overhead the stub uses, once per variant at start-up so
//! that nothing is tokenized on the request path. A call goes to chat completions (`messages`)
//! or to the Responses API (`instructions` + `input`, which the stub and OpenAI count as the
//! same system and user messages): the same text, the same prompt tokens.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Prompts;
use crate::openai::reasoning::Effort;
use crate::openai::tokens::{bpe, TokenCounter};

/// How a call states its completion cap: `max_tokens` for a model that does not reason;
/// `max_completion_tokens` (the only cap OpenAI takes from a reasoning model on chat
/// completions) and the scenario's `reasoning_effort`, if it names one, for one that does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapStyle {
    #[default]
    MaxTokens,
    Reasoning(Option<Effort>),
}

/// The OpenAI endpoint a post's calls go to (a scenario's `endpoint`, the example service's
/// `--openai-endpoint`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum ApiEndpoint {
    /// `POST {base}/chat/completions`: `messages`, `max_tokens` (or `max_completion_tokens`).
    #[default]
    Chat,
    /// `POST {base}/responses`: `instructions`, `input`, `max_output_tokens`, `reasoning`.
    Responses,
}

impl ApiEndpoint {
    /// The path after the base URL (`.../v1`).
    pub fn path(self) -> &'static str {
        match self {
            Self::Chat => "/chat/completions",
            Self::Responses => "/responses",
        }
    }

    /// The shape of its answers' `usage`.
    pub fn usage_shape(self) -> crate::metrics::usage::UsageShape {
        match self {
            Self::Chat => crate::metrics::usage::UsageShape::Chat,
            Self::Responses => crate::metrics::usage::UsageShape::Responses,
        }
    }

    pub fn is_chat(&self) -> bool {
        *self == Self::Chat
    }
}

/// The least `max_output_tokens` the Responses API takes (OpenAI's 400 below it).
pub const MIN_OUTPUT_TOKENS: u32 = 16;

/// How a service's call is sent: its model, endpoint and cap style.
#[derive(Debug, Clone, Copy)]
pub struct CallShape<'a> {
    pub model: &'a str,
    pub api: ApiEndpoint,
    pub cap: CapStyle,
}

/// The smallest prompt a call may be sized to (the fixed instructions take about this much).
pub const MIN_PROMPT_TOKENS: u32 = 64;

/// Per-post inputs, as the service's request would carry them: business, topic, platform.
pub const BUSINESSES: [(&str, &str, &str); 8] = [
    (
        "Rosa's Bakery",
        "the autumn menu with pumpkin bread",
        "Instagram",
    ),
    (
        "Northside Cycles",
        "a weekend group ride for beginners",
        "Facebook",
    ),
    (
        "Lumen Dental",
        "a free whitening consultation this month",
        "Instagram",
    ),
    ("Harbor Yoga", "the new sunrise class on the pier", "TikTok"),
    ("Copper Kettle Cafe", "a loyalty card launch", "Instagram"),
    ("Greenleaf Florist", "Mother's Day pre-orders", "Facebook"),
    ("Atlas Hardware", "a spring gardening workshop", "LinkedIn"),
    ("Pixel Repair", "same-day phone screen repair", "X"),
];

/// The size a post's own image prompt counts for in its caption call, in the run and in the
/// planner alike (the prompts below are about 15 words each).
pub const OWN_IMAGE_PROMPT_TOKENS: u32 = 40;

/// Image prompts that posts bringing their own would send.
pub const OWN_IMAGE_PROMPTS: [&str; 4] = [
    "A sunlit storefront with a hand-painted sign, warm morning light, shallow depth of field, photorealistic",
    "Flat-lay of seasonal products on a rustic wooden table, soft natural shadows, muted autumn palette",
    "Smiling staff member handing a customer a paper bag, candid street photography style, golden hour",
    "Minimalist poster with bold typography and a single product in the centre, pastel background",
];

const IMAGE_SYSTEM: &str =
    "You are an art director. Write one vivid, concrete prompt for an image \
generation model that illustrates a social media post. Describe subject, setting, light, mood, \
composition and style in under 120 words. Output only the prompt.";

const CAPTION_SYSTEM: &str = "You are a social media copywriter for small businesses. Write one \
post caption in the brand's voice, with a hook, two or three short sentences, a call to action \
and at most three hashtags. Match the platform's conventions. Output only the caption.";

const BRIEF: &str =
    "Brand notes: the business is family run, proud of its neighbourhood and known \
for friendly service. The audience is local adults aged 25 to 55 who follow small businesses for \
offers, events and behind-the-scenes moments. Voice: warm, confident, a little playful, never \
pushy. Avoid jargon, superlatives without proof and more than one exclamation mark. Previous \
posts that performed well showed real people, real products and a clear reason to visit this \
week. Posts that performed poorly were generic stock imagery with vague slogans. Mention opening \
hours when relevant, keep sentences short, and end with a concrete next step such as booking, \
visiting or replying. Brand memory: the owner's name may appear, the shop has a bright blue door, \
and customers often comment about the welcoming atmosphere and the small touches that make a \
visit feel personal. ";

/// The user message's head for a variant, before the brief filler.
fn image_head(i: usize) -> String {
    let (b, t, p) = BUSINESSES[i];
    format!("Business: {b}. Topic: {t}. Platform: {p}.\n")
}

fn caption_head(i: usize) -> String {
    image_head(i)
}

const IMAGE_PROMPT_LABEL: &str = "\n\nImage prompt: ";

fn messages(system: &str, user: &str) -> Vec<Value> {
    vec![
        json!({"role": "system", "content": system}),
        json!({"role": "user", "content": user}),
    ]
}

/// `head` followed by the first tokens of the brief, so that the prompt of (system, user) has
/// exactly `target` tokens (or as close as the text allows, never above).
fn sized_user(counter: &mut TokenCounter, system: &str, head: &str, target: u32) -> (String, u32) {
    let filler: String = BRIEF.repeat((target as usize / 150) + 2);
    let filler_tokens = bpe().encode_ordinary(&filler);
    let base = counter.prompt(&messages(system, head));
    let mut want = target.saturating_sub(base) as usize;
    loop {
        let cut = want.min(filler_tokens.len());
        let text = bpe().decode(&filler_tokens[..cut]).unwrap_or_default();
        let user = format!("{head}{text}");
        let n = counter.prompt(&messages(system, &user));
        if n <= target || want == 0 {
            return (user, n);
        }
        want -= (n - target) as usize;
    }
}

/// Tokens of the caption prompt without its image prompt. The caption carries the image prompt
/// (up to the image call's max_tokens): size the rest so that a full-length image prompt brings
/// it to the target.
fn caption_target(counter: &mut TokenCounter, sizes: Prompts) -> u32 {
    sizes
        .caption
        .prompt_tokens
        .saturating_sub(sizes.image_prompt.max_tokens)
        .saturating_sub(counter.count(IMAGE_PROMPT_LABEL))
        .max(MIN_PROMPT_TOKENS)
}

/// The brand memory a service adds to each call's user message (the seed's Mem0 look-up),
/// sized once so that the calls come to the scenario's prompt sizes for a typical business:
/// (image-prompt filler, caption filler).
pub fn brand_memory(sizes: Prompts) -> (String, String) {
    let mut counter = TokenCounter::default();
    let head = image_head(0);
    let (image, _) = sized_user(
        &mut counter,
        IMAGE_SYSTEM,
        &head,
        sizes.image_prompt.prompt_tokens,
    );
    let target = caption_target(&mut counter, sizes);
    let (caption, _) = sized_user(&mut counter, CAPTION_SYSTEM, &head, target);
    (
        image[head.len()..].to_string(),
        caption[head.len()..].to_string(),
    )
}

/// A service's image-prompt request for one post.
pub fn image_prompt_request(
    shape: CallShape<'_>,
    business: &str,
    topic: &str,
    platform: &str,
    memory: &str,
    max_tokens: u32,
) -> Vec<u8> {
    let user = format!("Business: {business}. Topic: {topic}. Platform: {platform}.\n{memory}");
    body(shape, IMAGE_SYSTEM, &user, max_tokens)
}

/// A service's caption request for one post, carrying its image prompt.
pub fn caption_request(
    shape: CallShape<'_>,
    business: &str,
    topic: &str,
    platform: &str,
    memory: &str,
    image_prompt: &str,
    max_tokens: u32,
) -> Vec<u8> {
    let user = format!(
        "Business: {business}. Topic: {topic}. Platform: {platform}.\n{memory}{IMAGE_PROMPT_LABEL}{image_prompt}"
    );
    body(shape, CAPTION_SYSTEM, &user, max_tokens)
}

/// One variant's prepared requests.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The image-prompt request body, ready to send (shared, not copied, per post).
    pub image_body: bytes::Bytes,
    /// Its exact prompt tokens.
    pub image_prompt_tokens: u32,
    /// The caption request body, split where the image prompt (JSON-escaped) goes, so a post's
    /// caption request is two copies and an escape, not a JSON serialization.
    caption_head: Vec<u8>,
    caption_tail: Vec<u8>,
    /// Prompt tokens of the caption call without the image prompt's own tokens.
    pub caption_base_tokens: u32,
}

/// Everything needed to send posts of one scenario.
#[derive(Debug, Clone)]
pub struct PostRequests {
    pub model: String,
    /// The endpoint the bodies are for.
    pub api: ApiEndpoint,
    pub sizes: Prompts,
    pub variants: Vec<Variant>,
}

impl PostRequests {
    /// A model that does not reason: its calls send `max_tokens`.
    pub fn new(model: &str, sizes: Prompts) -> Self {
        Self::with_cap(model, sizes, CapStyle::MaxTokens)
    }

    /// Chat completions' bodies for `model`, its cap stated as `cap` says.
    pub fn with_cap(model: &str, sizes: Prompts, cap: CapStyle) -> Self {
        Self::for_api(model, sizes, cap, ApiEndpoint::Chat)
    }

    /// The bodies of `api`'s requests: the same text (so the same prompt tokens) on either.
    pub fn for_api(model: &str, sizes: Prompts, cap: CapStyle, api: ApiEndpoint) -> Self {
        let shape = CallShape { model, api, cap };
        let mut counter = TokenCounter::default();
        let variants = (0..BUSINESSES.len())
            .map(|i| {
                let (user, image_prompt_tokens) = sized_user(
                    &mut counter,
                    IMAGE_SYSTEM,
                    &image_head(i),
                    sizes.image_prompt.prompt_tokens,
                );
                let image_body =
                    body(shape, IMAGE_SYSTEM, &user, sizes.image_prompt.max_tokens).into();
                let caption_target = caption_target(&mut counter, sizes);
                let (caption_user, _) = sized_user(
                    &mut counter,
                    CAPTION_SYSTEM,
                    &caption_head(i),
                    caption_target,
                );
                let caption_base_tokens = counter.prompt(&messages(
                    CAPTION_SYSTEM,
                    &format!("{caption_user}{IMAGE_PROMPT_LABEL}"),
                ));
                let marker = "\u{1}IMAGE_PROMPT\u{1}";
                let full = body(
                    shape,
                    CAPTION_SYSTEM,
                    &format!("{caption_user}{IMAGE_PROMPT_LABEL}{marker}"),
                    sizes.caption.max_tokens,
                );
                let escaped = serde_json::to_string(marker).expect("a string serializes");
                let escaped = escaped.trim_matches('"').as_bytes();
                let at = full
                    .windows(escaped.len())
                    .position(|w| w == escaped)
                    .expect("the marker is in the body");
                Variant {
                    image_body,
                    image_prompt_tokens,
                    caption_head: full[..at].to_vec(),
                    caption_tail: full[at + escaped.len()..].to_vec(),
                    caption_base_tokens,
                }
            })
            .collect();
        Self {
            model: model.to_string(),
            api,
            sizes,
            variants,
        }
    }

    pub fn variant(&self, post: u64) -> &Variant {
        &self.variants[post as usize % self.variants.len()]
    }

    /// The caption request for post `post` with its image prompt.
    pub fn caption_body(&self, post: u64, image_prompt: &str) -> Vec<u8> {
        let v = self.variant(post);
        let quoted = serde_json::to_string(image_prompt).expect("a string serializes");
        let escaped = &quoted[1..quoted.len() - 1];
        let mut out =
            Vec::with_capacity(v.caption_head.len() + escaped.len() + v.caption_tail.len());
        out.extend_from_slice(&v.caption_head);
        out.extend_from_slice(escaped.as_bytes());
        out.extend_from_slice(&v.caption_tail);
        out
    }

    /// The caption request of post `post` when it goes beside the image-prompt call
    /// (`parallel_calls`): no image prompt. Its label stays, so its prompt is exactly
    /// `caption_base_tokens`, what the planner counts for a caption without an image prompt.
    pub fn parallel_caption_body(&self, post: u64) -> Vec<u8> {
        self.caption_body(post, "")
    }

    /// Tokens the caption call asks for, estimating the image prompt at `image_prompt_tokens`.
    pub fn caption_reservation(&self, post: u64, image_prompt_tokens: u32) -> u64 {
        (self.variant(post).caption_base_tokens
            + image_prompt_tokens
            + self.sizes.caption.max_tokens) as u64
    }
}

/// One call's body. On the Responses API the system text is `instructions`, the user text
/// `input`, and the cap `max_output_tokens` whatever the model (it caps reasoning and visible
/// tokens together); a reasoning model's effort, if named, is `reasoning.effort`.
/// One call's body: a system text and a user text, capped at `max_tokens` as `shape` states it.
pub fn body(shape: CallShape<'_>, system: &str, user: &str, max_tokens: u32) -> Vec<u8> {
    let b = match (shape.api, shape.cap) {
        (ApiEndpoint::Chat, cap) => {
            let mut b = json!({
                "model": shape.model,
                "messages": messages(system, user),
            });
            match cap {
                CapStyle::MaxTokens => b["max_tokens"] = max_tokens.into(),
                CapStyle::Reasoning(effort) => {
                    b["max_completion_tokens"] = max_tokens.into();
                    if let Some(e) = effort {
                        b["reasoning_effort"] = e.as_str().into();
                    }
                }
            }
            b
        }
        (ApiEndpoint::Responses, cap) => {
            let mut b = json!({
                "model": shape.model,
                "instructions": system,
                "input": user,
                "max_output_tokens": max_tokens,
            });
            if let CapStyle::Reasoning(Some(e)) = cap {
                b["reasoning"] = json!({"effort": e.as_str()});
            }
            b
        }
    };
    serde_json::to_vec(&b).expect("a JSON value always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::CallSize;

    #[test]
    fn image_calls_have_exactly_the_configured_prompt_tokens() {
        let requests = PostRequests::new("gpt-4o", Prompts::default());
        let mut counter = TokenCounter::default();
        for (i, v) in requests.variants.iter().enumerate() {
            assert_eq!(v.image_prompt_tokens, 800, "variant {i}");
            let body: Value = serde_json::from_slice(&v.image_body).unwrap();
            let msgs = body["messages"].as_array().unwrap().clone();
            assert_eq!(counter.prompt(&msgs), 800);
            assert_eq!(body["max_tokens"], 150);
            assert!(msgs[1]["content"]
                .as_str()
                .unwrap()
                .starts_with("Business: "));
        }
    }

    #[test]
    fn caption_calls_reach_the_target_with_a_full_length_image_prompt() {
        let requests = PostRequests::new("gpt-4o", Prompts::default());
        let image_prompt = crate::openai::tokens::CompletionText::new()
            .text(150)
            .to_string();
        let mut counter = TokenCounter::default();
        for post in 0..8 {
            let body: Value =
                serde_json::from_slice(&requests.caption_body(post, &image_prompt)).unwrap();
            let n = counter.prompt(body["messages"].as_array().unwrap());
            // The label and the image prompt may merge a token at their seam.
            assert!((1_198..=1_200).contains(&n), "post {post}: {n}");
            assert_eq!(body["max_tokens"], 200);
            let base = requests.variant(post).caption_base_tokens;
            assert!(n.abs_diff(base + 150) <= 2, "{n} vs {base} + 150");
            assert_eq!(
                requests.caption_reservation(post, 150),
                (base + 150 + 200) as u64
            );
        }
    }

    #[test]
    fn spliced_caption_bodies_are_valid_json_with_the_image_prompt_verbatim() {
        let requests = PostRequests::new("gpt-4o", Prompts::default());
        for prompt in [
            "plain",
            "quotes \" and \\ backslashes\nand a newline",
            "emoji 🎨 and \u{1}",
        ] {
            let body: Value = serde_json::from_slice(&requests.caption_body(3, prompt)).unwrap();
            let user = body["messages"][1]["content"].as_str().unwrap();
            assert!(
                user.ends_with(&format!("{IMAGE_PROMPT_LABEL}{prompt}")),
                "{user}"
            );
            assert!(user.starts_with("Business: "));
            assert_eq!(body["model"], "gpt-4o");
            assert_eq!(body["max_tokens"], 200);
        }
    }

    #[test]
    fn a_parallel_caption_has_exactly_the_base_tokens_and_no_image_prompt() {
        let requests = PostRequests::new("gpt-4o", Prompts::default());
        let mut counter = TokenCounter::default();
        for post in 0..8 {
            let body: Value =
                serde_json::from_slice(&requests.parallel_caption_body(post)).unwrap();
            let msgs = body["messages"].as_array().unwrap();
            assert_eq!(
                counter.prompt(msgs),
                requests.variant(post).caption_base_tokens,
                "post {post}"
            );
            let user = msgs[1]["content"].as_str().unwrap();
            assert!(user.ends_with(IMAGE_PROMPT_LABEL), "{user}");
            // The reservation counts no image prompt either.
            assert_eq!(
                requests.caption_reservation(post, 0),
                (requests.variant(post).caption_base_tokens + 200) as u64
            );
        }
    }

    #[test]
    fn small_and_large_sizes_work() {
        let sizes = Prompts {
            image_prompt: CallSize {
                prompt_tokens: 120,
                max_tokens: 20,
            },
            caption: CallSize {
                prompt_tokens: 4_000,
                max_tokens: 500,
            },
        };
        let requests = PostRequests::new("gpt-4o-mini", sizes);
        assert!(requests
            .variants
            .iter()
            .all(|v| v.image_prompt_tokens == 120));
        assert!(requests
            .variants
            .iter()
            .all(|v| v.caption_base_tokens > 3_000));
    }

    #[test]
    fn a_reasoning_model_is_sent_max_completion_tokens_and_its_effort_only_when_named() {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
        let plain = PostRequests::new("gpt-4o", Prompts::default());
        let b = parse(&plain.variant(0).image_body);
        assert_eq!(
            (b["max_tokens"].as_u64(), b.get("max_completion_tokens")),
            (Some(150), None)
        );
        for (effort, sent) in [(None, None), (Some(Effort::Low), Some("low"))] {
            let r = PostRequests::with_cap(
                "gpt-5-mini",
                Prompts::default(),
                CapStyle::Reasoning(effort),
            );
            for b in [
                parse(&r.variant(0).image_body),
                parse(&r.caption_body(0, "a cat")),
            ] {
                assert_eq!(b.get("max_tokens"), None, "{b}");
                assert_eq!(
                    b.get("reasoning_effort").and_then(Value::as_str),
                    sent,
                    "{b}"
                );
                assert!(
                    b["max_completion_tokens"] == 150 || b["max_completion_tokens"] == 200,
                    "{b}"
                );
            }
            // The prompt is the same text: its tokens do not depend on the cap's name.
            assert_eq!(
                r.variant(3).image_prompt_tokens,
                plain.variant(3).image_prompt_tokens
            );
            assert_eq!(
                r.variant(3).caption_base_tokens,
                plain.variant(3).caption_base_tokens
            );
        }
    }

    #[test]
    fn a_responses_body_carries_the_chat_bodys_text_as_instructions_and_input() {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
        let chat = PostRequests::new("gpt-4o", Prompts::default());
        let resp = PostRequests::for_api(
            "gpt-4o",
            Prompts::default(),
            CapStyle::MaxTokens,
            ApiEndpoint::Responses,
        );
        assert_eq!(resp.api, ApiEndpoint::Responses);
        let mut counter = TokenCounter::default();
        for post in 0..8 {
            let (c, r) = (
                parse(&chat.variant(post).image_body),
                parse(&resp.variant(post).image_body),
            );
            // The same two texts: system as instructions, user as input.
            assert_eq!(r["instructions"], c["messages"][0]["content"]);
            assert_eq!(r["input"], c["messages"][1]["content"]);
            assert_eq!(r["max_output_tokens"], 150);
            for absent in [
                "messages",
                "max_tokens",
                "max_completion_tokens",
                "reasoning",
            ] {
                assert_eq!(r.get(absent), None, "{absent}: {r}");
            }
            // Counted as the stub counts it (instructions a system message): 800, as on chat.
            let as_chat = messages(
                r["instructions"].as_str().unwrap(),
                r["input"].as_str().unwrap(),
            );
            assert_eq!(counter.prompt(&as_chat), 800);
            assert_eq!(
                resp.variant(post).caption_base_tokens,
                chat.variant(post).caption_base_tokens
            );
            // The caption's image prompt is spliced into `input`, escaped.
            let prompt = "a \"quoted\" cat\non a mat";
            let (c, r) = (
                parse(&chat.caption_body(post, prompt)),
                parse(&resp.caption_body(post, prompt)),
            );
            assert_eq!(r["input"], c["messages"][1]["content"]);
            assert!(r["input"].as_str().unwrap().ends_with(prompt));
            assert_eq!(r["max_output_tokens"], 200);
        }
    }

    #[test]
    fn a_reasoning_model_on_responses_sends_its_effort_as_reasoning_effort() {
        let parse = |b: &[u8]| serde_json::from_slice::<Value>(b).unwrap();
        for (effort, sent) in [(None, None), (Some(Effort::Minimal), Some("minimal"))] {
            let r = PostRequests::for_api(
                "gpt-5-mini",
                Prompts::default(),
                CapStyle::Reasoning(effort),
                ApiEndpoint::Responses,
            );
            for b in [
                parse(&r.variant(0).image_body),
                parse(&r.parallel_caption_body(0)),
            ] {
                assert_eq!(
                    b.pointer("/reasoning/effort").and_then(Value::as_str),
                    sent,
                    "{b}"
                );
                assert_eq!(b.get("reasoning_effort"), None, "{b}");
                assert_eq!(b.get("max_completion_tokens"), None, "{b}");
                assert!(b["max_output_tokens"].is_u64(), "{b}");
            }
        }
        // The example service's requests take the same shape.
        let shape = CallShape {
            model: "gpt-4o",
            api: ApiEndpoint::Responses,
            cap: CapStyle::MaxTokens,
        };
        let b = parse(&caption_request(
            shape, "B", "T", "X", "memory", "a cat", 200,
        ));
        assert_eq!(b["max_output_tokens"], 200);
        assert_eq!(b["instructions"], CAPTION_SYSTEM);
        assert!(b["input"].as_str().unwrap().ends_with("a cat"));
    }
}
