//! `postload example-service`: a reference marketing-post service shaped like the planning
//! note's FastAPI service, for trying service mode end to end without the team's code.
//!
//! `POST /api/marketing-post {business, topic, platform, image_prompt?}` looks up the brand
//! memory (a short delay, as the note's Mem0 call), makes the image-prompt call unless the
//! request brings an image prompt, makes the caption call, picks a static image URL and answers
//! `{caption, image_prompt, image_url, model, usage, calls}` (`usage` in chat completions' names
//! whichever endpoint it calls: chat completions, or the Responses API with
//! `--openai-endpoint responses`). Its OpenAI client retries like the
//! official SDK (the same policy code the harness uses) and forwards the request's W3C
//! `traceparent` on its OpenAI calls under a span of its own, as an OpenTelemetry-instrumented
//! client does. `GET /health` answers `ok`, and `GET /static/images/*` serves the images it
//! links.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rand::Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::metrics::usage::UsageShape;
use crate::openai::retry::{AttemptOutcome, RetryPolicy};
use crate::scenario::prompts::{
    brand_memory, caption_request, image_prompt_request, ApiEndpoint, CallShape, CapStyle,
};
use crate::scenario::Prompts;
use crate::secret::Secret;
use crate::traceparent::{self, TraceParent};

/// How the service is set up.
#[derive(Debug, Clone)]
pub struct ExampleConfig {
    /// Where its OpenAI calls go, e.g. `http://127.0.0.1:9000/v1`.
    pub openai_base_url: String,
    pub api_key: Option<Secret>,
    pub model: String,
    /// The endpoint its calls go to (`--openai-endpoint`).
    pub endpoint: ApiEndpoint,
    /// The brand-memory look-up's delay.
    pub memory_delay: Duration,
    /// How many look-ups the memory store serves at once (a client's connection pool); more
    /// wait their turn, so the service's own time rises with the rate past `pool ÷ delay`
    /// posts a second. `None`: any number.
    pub memory_pool: Option<u32>,
    pub retry: RetryPolicy,
    /// Per OpenAI call attempt (the SDK's default is 600 s).
    pub timeout: Duration,
    /// Prompt sizes and completion caps of its two calls.
    pub prompts: Prompts,
    /// A third call per post, after the caption (hashtags for it): the kind of call a
    /// regression slips in, for trying a CI gate on the service.
    pub extra_call: bool,
    /// The status it answers when OpenAI still rate-limits it after its retries (429 passes it
    /// on; 500 is the regression a gate should catch).
    pub status_on_429: u16,
    /// Forward the incoming `traceparent` on its OpenAI calls (off: a service that does not
    /// propagate traces, whose own time postload can only estimate).
    pub propagate_trace: bool,
    /// A broken service, for trying a gate on one.
    pub fault: Option<Fault>,
}

/// How a broken service fails every post (`--fault`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// 500 to every post, before any OpenAI call (a crash in its handler).
    ServerError,
    /// Never answers (a deadlock): posts time out.
    Hang,
    /// Makes its calls, then answers 200 with `{"detail": "ok"}`: no caption.
    BadBody,
}

impl ExampleConfig {
    pub fn new(openai_base_url: &str) -> Self {
        Self {
            openai_base_url: openai_base_url.trim_end_matches('/').to_string(),
            // The stub, like OpenAI, wants a bearer token (any will do).
            api_key: Some(Secret::new(crate::stub::STUB_API_KEY.into())),
            model: "gpt-4o".into(),
            endpoint: ApiEndpoint::Chat,
            memory_delay: Duration::from_millis(20),
            memory_pool: None,
            retry: RetryPolicy::Sdk,
            timeout: Duration::from_secs(600),
            prompts: Prompts::default(),
            extra_call: false,
            status_on_429: 429,
            propagate_trace: true,
            fault: None,
        }
    }
}

struct App {
    cfg: ExampleConfig,
    client: reqwest::Client,
    /// Brand memory for the (image-prompt, caption) calls.
    memory: (String, String),
    /// The memory store's connections ([`ExampleConfig::memory_pool`]).
    memory_pool: Option<tokio::sync::Semaphore>,
}

/// A running example service. Dropping it stops the server.
#[derive(Debug)]
pub struct ExampleHandle {
    addr: SocketAddr,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl ExampleHandle {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Starts the service on `listener` (see [`crate::stub::bind_loopback`]).
pub async fn start(
    cfg: ExampleConfig,
    listener: std::net::TcpListener,
) -> anyhow::Result<ExampleHandle> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    let addr = listener.local_addr()?;
    let client = reqwest::Client::builder()
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let memory = brand_memory(cfg.prompts);
    let memory_pool = cfg
        .memory_pool
        .map(|n| tokio::sync::Semaphore::new(n.max(1) as usize));
    let app = Arc::new(App {
        cfg,
        client,
        memory,
        memory_pool,
    });
    let router = Router::new()
        .route("/api/marketing-post", post(marketing_post))
        .route("/health", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/static/images/{name}", get(static_image))
        .with_state(app);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(ExampleHandle { addr, _stop: stop })
}

#[derive(Debug, Deserialize)]
struct PostRequest {
    business: String,
    topic: String,
    platform: String,
    #[serde(default)]
    image_prompt: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: CachedTokens,
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

impl Usage {
    /// Adds one call's `usage`, read in `shape`'s names (a Responses usage's input and output
    /// tokens become prompt and completion tokens).
    fn add(&mut self, shape: UsageShape, v: &Value) {
        let n = |p: &str| v.pointer(p).and_then(Value::as_u64).unwrap_or(0);
        let (prompt, completion, cached) = shape.pointers();
        self.prompt_tokens += n(prompt);
        self.completion_tokens += n(completion);
        self.total_tokens += n("/total_tokens");
        self.prompt_tokens_details.cached_tokens += n(cached);
    }
}

/// An OpenAI call that failed after its retries. Its `message` is the service's own words,
/// never the upstream's error text: a hostile or misconfigured upstream can echo the key (or
/// anything) there, and the service's callers must not see it.
#[derive(Debug)]
struct Upstream {
    status: Option<u16>,
    message: String,
    /// The upstream's `x-request-id`, when it is a plain id ([`request_id`]).
    request_id: Option<String>,
    attempts: u32,
}

impl Upstream {
    /// 429 from OpenAI after the retries: tell the client to come back (as the note's service
    /// would if it passed the status on), or answer `status_on_429`; anything else is a bad
    /// gateway.
    fn response(self, status_on_429: u16) -> Response {
        let status = match self.status {
            Some(429) => {
                StatusCode::from_u16(status_on_429).unwrap_or(StatusCode::TOO_MANY_REQUESTS)
            }
            _ => StatusCode::BAD_GATEWAY,
        };
        (
            status,
            Json(json!({"detail": {
                "message": self.message,
                "upstream_status": self.status,
                "upstream_request_id": self.request_id,
                "attempts": self.attempts,
            }})),
        )
            .into_response()
    }
}

/// The image URLs the service picks from (served by `/static/images/`).
const IMAGES: [&str; 4] = ["storefront", "product", "team", "poster"];

async fn marketing_post(
    State(app): State<Arc<App>>,
    headers: header::HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, Response> {
    // FastAPI answers a request that does not fit its model with 422 and `detail`.
    let req: PostRequest = serde_json::from_slice(&body).map_err(|e| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"detail": e.to_string()})),
        )
            .into_response()
    })?;
    before_calls(&app).await?;
    let cfg = &app.cfg;
    let trace = headers
        .get(traceparent::HEADER)
        .and_then(|v| TraceParent::parse(v.to_str().ok()?))
        .filter(|_| cfg.propagate_trace);
    let app = Client { app: &app, trace };
    let mut usage = Usage::default();
    let shape = CallShape {
        model: &cfg.model,
        api: cfg.endpoint,
        cap: cap_style(&cfg.model),
    };
    let read = cfg.endpoint.usage_shape();
    let mut calls = 0;
    let image_prompt = match req.image_prompt.filter(|p| !p.trim().is_empty()) {
        Some(p) => p,
        None => {
            let body = image_prompt_request(
                shape,
                &req.business,
                &req.topic,
                &req.platform,
                &app.memory.0,
                cfg.prompts.image_prompt.max_tokens,
            );
            let (content, u) = app.chat(body).await.map_err(|e| app.fail(e))?;
            calls += 1;
            usage.add(read, &u);
            content
        }
    };
    let body = caption_request(
        shape,
        &req.business,
        &req.topic,
        &req.platform,
        &app.memory.1,
        &image_prompt,
        cfg.prompts.caption.max_tokens,
    );
    let (caption, u) = app.chat(body).await.map_err(|e| app.fail(e))?;
    calls += 1;
    usage.add(read, &u);
    if cfg.extra_call {
        let (_, u) = app
            .chat(hashtags_request(shape, &caption))
            .await
            .map_err(|e| app.fail(e))?;
        calls += 1;
        usage.add(read, &u);
    }
    if cfg.fault == Some(Fault::BadBody) {
        return Ok(Json(json!({"detail": "ok", "usage": usage})));
    }
    let image = IMAGES[rand::rng().random_range(0..IMAGES.len())];
    Ok(Json(json!({
        "caption": caption,
        "image_prompt": image_prompt,
        "image_url": format!("/static/images/{image}.png"),
        "model": cfg.model,
        "usage": usage,
        "calls": calls,
    })))
}

/// What the service does before its model calls: the configured fault, then the brand-memory
/// look-up (on one of the pool's connections when it has a pool).
async fn before_calls(app: &App) -> Result<(), Response> {
    match app.cfg.fault {
        Some(Fault::ServerError) => {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"detail": "Internal Server Error"})),
            )
                .into_response())
        }
        Some(Fault::Hang) => std::future::pending::<()>().await,
        _ => {}
    }
    {
        let _connection = match &app.memory_pool {
            Some(pool) => Some(pool.acquire().await.map_err(|_| {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"detail": "memory store closed"})),
                )
                    .into_response()
            })?),
            None => None,
        };
        tokio::time::sleep(app.cfg.memory_delay).await;
    }
    Ok(())
}

/// How one attempt at a chat completion ended.
enum Attempt {
    /// A 200: its content and usage.
    Answered(String, Value),
    /// A failure, for the retry policy: its outcome, the status if one came, and the message
    /// to report if no retry follows (with the upstream's request id).
    Failed(AttemptOutcome, Option<u16>, String, Option<String>),
}

const HASHTAGS_SYSTEM: &str =
    "Suggest three hashtags for this social media caption. Output only the hashtags.";

/// The extra call `extra_call` adds: three hashtags for the caption.
fn hashtags_request(shape: CallShape<'_>, caption: &str) -> Vec<u8> {
    crate::scenario::prompts::body(shape, HASHTAGS_SYSTEM, caption, 30)
}

/// How the service caps its calls: `max_completion_tokens` for a reasoning model (OpenAI refuses
/// it `max_tokens`, with a 400), `max_tokens` for the others, as the SDK's caller must choose.
fn cap_style(model: &str) -> CapStyle {
    static CATALOG: std::sync::OnceLock<crate::openai::catalog::Catalog> =
        std::sync::OnceLock::new();
    let catalog = CATALOG.get_or_init(crate::openai::catalog::Catalog::embedded);
    match catalog.reasoning(model) {
        Some(_) => CapStyle::Reasoning(None),
        None => CapStyle::MaxTokens,
    }
}

/// The service's OpenAI client for one incoming request: the app's, under the request's trace.
struct Client<'a> {
    app: &'a App,
    trace: Option<TraceParent>,
}

impl std::ops::Deref for Client<'_> {
    type Target = App;
    fn deref(&self) -> &App {
        self.app
    }
}

impl Client<'_> {
    /// The service's answer when an OpenAI call failed after its retries.
    fn fail(&self, e: Upstream) -> Response {
        e.response(self.cfg.status_on_429)
    }

    /// One call to the configured endpoint with the configured retries: (content, usage).
    async fn chat(&self, body: Vec<u8>) -> Result<(String, Value), Upstream> {
        let url = crate::secret::join_url(&self.cfg.openai_base_url, self.cfg.endpoint.path());
        for attempt in 1u32.. {
            let (outcome, status, message, request_id) =
                match self.attempt(&url, &body, attempt).await? {
                    Attempt::Answered(content, usage) => return Ok((content, usage)),
                    Attempt::Failed(outcome, status, message, id) => (outcome, status, message, id),
                };
            let uniform: f64 = rand::rng().random();
            match self.cfg.retry.next_delay(attempt, &outcome, uniform) {
                Some(d) => tokio::time::sleep(d).await,
                None => {
                    return Err(Upstream {
                        status,
                        message,
                        request_id,
                        attempts: attempt,
                    })
                }
            }
        }
        unreachable!("the retry loop returns")
    }

    /// Attempt `attempt` (from 1, sent as the SDK's retry count) at posting `body` to `url`.
    async fn attempt(&self, url: &str, body: &[u8], attempt: u32) -> Result<Attempt, Upstream> {
        let mut request = self
            .client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .header("x-stainless-retry-count", (attempt - 1).to_string())
            .timeout(self.cfg.timeout)
            .body(body.to_vec());
        if let Some(key) = &self.cfg.api_key {
            request = request.bearer_auth(key.expose());
        }
        // Each attempt is a client span of its own under the request's trace.
        if let Some(trace) = self.trace {
            let span = trace.child(rand::rng().random());
            request = request.header(traceparent::HEADER, span.header());
        }
        match request.send().await {
            Err(e) => Ok(Attempt::Failed(
                crate::run::answer::transport_outcome(&e),
                None,
                if e.is_timeout() {
                    "timed out"
                } else {
                    "connection failed"
                }
                .to_string(),
                None,
            )),
            Ok(r) => {
                let status = r.status().as_u16();
                let headers = r.headers().clone();
                let read = crate::run::post::read_body(r).await;
                let key = self.cfg.api_key.as_ref().map(Secret::expose);
                read_answer(self.cfg.endpoint, status, &headers, read, attempt, key)
            }
        }
    }
}

/// The upstream's `x-request-id` if it is a plain id (at most 128 letters, digits, `-`, `_`
/// or `.`, as OpenAI's `req_...`) that does not hold the service's own key; else none.
fn request_id(headers: &header::HeaderMap, key: Option<&str>) -> Option<String> {
    let id = headers.get("x-request-id")?.to_str().ok()?;
    let plain = !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    let holds_key = key.is_some_and(|k| !k.is_empty() && id.contains(k));
    (plain && !holds_key).then(|| id.to_string())
}

/// An answer of OpenAI's from `api`: a 200's content (a Responses object's output text, read as
/// the run reads it) and usage (a 200 without JSON is an error no retry mends), or the failure
/// its status and headers, or a body that broke off, make. An error's message is the service's
/// own ("OpenAI answered 401"): the upstream's text is never relayed.
fn read_answer(
    api: ApiEndpoint,
    status: u16,
    headers: &header::HeaderMap,
    read: Result<Vec<u8>, reqwest::Error>,
    attempt: u32,
    key: Option<&str>,
) -> Result<Attempt, Upstream> {
    let request_id = request_id(headers, key);
    match read {
        Ok(bytes) if status == 200 => {
            let v: Value = serde_json::from_slice(&bytes).map_err(|_| Upstream {
                status: Some(200),
                message: "OpenAI answered 200 without JSON".into(),
                request_id: request_id.clone(),
                attempts: attempt,
            })?;
            let content = match api {
                ApiEndpoint::Chat => v
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                ApiEndpoint::Responses => crate::run::answer::response_text(&v),
            }
            .unwrap_or_default();
            Ok(Attempt::Answered(
                content,
                v.get("usage").cloned().unwrap_or(Value::Null),
            ))
        }
        Ok(_) => {
            let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
            Ok(Attempt::Failed(
                AttemptOutcome::from_status(status, header),
                Some(status),
                format!("OpenAI answered {status}"),
                request_id,
            ))
        }
        Err(_) => Ok(Attempt::Failed(
            AttemptOutcome::Connect,
            Some(status),
            "the connection broke mid-answer".into(),
            request_id,
        )),
    }
}

/// A 1×1 PNG: the static images are placeholders (the note's images are static files).
const PIXEL_PNG: [u8; 67] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0a, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

async fn static_image(Path(name): Path<String>) -> Response {
    match name.strip_suffix(".png") {
        Some(stem) if IMAGES.contains(&stem) => {
            ([(header::CONTENT_TYPE, "image/png")], PIXEL_PNG.to_vec()).into_response()
        }
        _ => (StatusCode::NOT_FOUND, Json(json!({"detail": "Not Found"}))).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(id: &str) -> header::HeaderMap {
        let mut h = header::HeaderMap::new();
        h.insert("x-request-id", id.parse().unwrap());
        h
    }

    #[test]
    fn an_upstreams_error_text_is_never_relayed_only_its_status_and_request_id() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-live-123","type":"invalid_request_error"}}"#;
        let got = read_answer(
            ApiEndpoint::Chat,
            401,
            &headers("req_abc-1"),
            Ok(body.to_vec()),
            1,
            Some("sk-live-123"),
        );
        let Ok(Attempt::Failed(_, status, message, id)) = got else {
            panic!("a 401 is a failure");
        };
        assert_eq!(status, Some(401));
        assert_eq!(message, "OpenAI answered 401");
        assert_eq!(id.as_deref(), Some("req_abc-1"));
    }

    #[test]
    fn a_responses_answer_gives_its_output_text_and_its_usage_in_chat_names() {
        let body = br#"{"status":"completed","output":[{"type":"reasoning"},{"type":"message","content":[{"type":"output_text","text":"hi"}]}],"usage":{"input_tokens":800,"input_tokens_details":{"cached_tokens":128},"output_tokens":20,"total_tokens":820}}"#;
        let got = read_answer(
            ApiEndpoint::Responses,
            200,
            &header::HeaderMap::new(),
            Ok(body.to_vec()),
            1,
            None,
        );
        let Ok(Attempt::Answered(content, u)) = got else {
            panic!("a 200 with a response is an answer");
        };
        assert_eq!(content, "hi");
        let mut usage = Usage::default();
        usage.add(UsageShape::Responses, &u);
        usage.add(UsageShape::Responses, &u);
        // Two calls: 2 × 800 in (256 cached), 2 × 20 out, 2 × 820 in all.
        assert_eq!(
            (
                usage.prompt_tokens,
                usage.prompt_tokens_details.cached_tokens,
                usage.completion_tokens,
                usage.total_tokens
            ),
            (1_600, 256, 40, 1_640)
        );
        // The same body read as a chat completion has no content.
        let got = read_answer(
            ApiEndpoint::Chat,
            200,
            &header::HeaderMap::new(),
            Ok(body.to_vec()),
            1,
            None,
        );
        assert!(matches!(got, Ok(Attempt::Answered(c, _)) if c.is_empty()));
    }

    #[test]
    fn a_request_id_holding_the_key_or_not_an_id_is_dropped() {
        let key = Some("sk-live-123");
        assert_eq!(request_id(&headers("req_1"), key).as_deref(), Some("req_1"));
        assert_eq!(request_id(&headers("x-sk-live-123"), key), None);
        assert_eq!(request_id(&headers("key is sk"), key), None);
        assert_eq!(request_id(&headers(&"a".repeat(129)), key), None);
        assert_eq!(request_id(&header::HeaderMap::new(), key), None);
    }
}
