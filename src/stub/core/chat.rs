//! Answering one chat request, in the order its draws and its counters follow: the checks that
//! need no state, the request's place in the arrival order (its random stream and id), the
//! bucket/limits decision with forced 429s and drawn faults, then the answer's body and headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{PromptEstimate, Reply, State, StubCore};
use crate::openai::bucket::{Levels, LimitKind, RateLimiter, Rejection};
use crate::openai::catalog::Catalog;
use crate::openai::errors::ApiError;
use crate::openai::latency::{CallTiming, Profile};
use crate::openai::prompt_cache::{PrefixMemory, MIN_PREFIX};
use crate::openai::reasoning::ReasoningTokens;
use crate::openai::world::{
    cached_tokens, draw_prompt_cache_hit, draw_rng, serve_reasoning, ttft_header_value,
    CallRequest, Served, DRAW_STREAM_HEADER, TTFT_HEADER,
};
use crate::stub::request::responses::ResponsesRequest;
use crate::stub::request::{self, ChatRequest};
use crate::stub::sse::{self, Meta, Usage};
use crate::stub::stats::ModelStats;

impl State {
    /// Takes the next place in the arrival order: its ChaCha8 stream of the seed, and the
    /// request id drawn first from it.
    fn next_request(&mut self, endpoint: Endpoint) -> (ChaCha8Rng, String) {
        self.seq += 1;
        self.stats.count_call(endpoint == Endpoint::Responses);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(self.seq);
        let request_id = format!("req_{}", hex_id(&mut rng, 32));
        (rng, request_id)
    }

    /// Counts a 200 in its model's stats, the latency histogram and the statuses.
    fn record_ok(&mut self, call: &Call, streamed: bool, completion_tokens: u32, drawn: &Drawn) {
        let total = drawn.timing.total;
        let ms: &mut ModelStats = self.stats.models.entry(call.model_id.clone()).or_default();
        ms.ok += 1;
        ms.streamed += streamed as u64;
        ms.prompt_tokens += call.request.prompt_tokens as u64;
        ms.cached_tokens += drawn.cached_tokens as u64;
        ms.completion_tokens += completion_tokens as u64;
        ms.latency_ms_sum += total.as_secs_f64() * 1000.0;
        let t = self.stats.call_type(call.request.max_tokens);
        t.ok += 1;
        t.prompt_tokens += call.request.prompt_tokens as u64;
        t.completion_tokens += completion_tokens as u64;
        let _ = self
            .latency
            .record((total.as_micros() as u64).clamp(1, 3_600_000_000));
        *self.stats.by_status.entry(200).or_default() += 1;
    }
}

/// The checks of a chat request that need no state: the draw stream the client chose, and the
/// validated body or its error with the rate-limit family of the model it names (if known, its
/// answer carries that family's headers).
struct Checked<'a> {
    draw_stream: Result<Option<u64>, ApiError>,
    request: Result<Parsed<'a>, (ApiError, Option<String>)>,
}

/// The endpoint a model call came to: both are served by the same steps (buckets, draws,
/// prompt cache, stats), and answered in their own shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /v1/chat/completions`
    Chat,
    /// `POST /v1/responses`
    Responses,
}

/// A valid request of either endpoint.
enum Parsed<'a> {
    Chat(ChatRequest<'a>),
    Responses(Box<ResponsesRequest<'a>>),
}

impl<'a> Parsed<'a> {
    /// The call as the buckets, the draws and the stats see it.
    fn call(&self) -> &ChatRequest<'a> {
        match self {
            Parsed::Chat(c) => c,
            Parsed::Responses(r) => &r.call,
        }
    }
}

impl<'a> Checked<'a> {
    fn new(
        body: &[u8],
        draw_stream: Option<&str>,
        catalog: &'a Catalog,
        endpoint: Endpoint,
    ) -> Self {
        let draw_stream = draw_stream.map(parse_draw_stream).transpose();
        let parsed = match endpoint {
            Endpoint::Chat => request::parse(body, catalog).map(Parsed::Chat),
            Endpoint::Responses => {
                request::responses::parse(body, catalog).map(|r| Parsed::Responses(Box::new(r)))
            }
        };
        let request = parsed.map_err(|e| {
            // The body may still name a known model: give its rate-limit headers then.
            let family =
                request::model_of(body).and_then(|m| catalog.model(&m).map(|e| e.limits.clone()));
            (e, family)
        });
        Self {
            draw_stream,
            request,
        }
    }

    /// The request and its draw stream, or the error to answer (a bad draw stream first) with
    /// the rate-limit family whose headers it carries.
    fn into_request(self) -> Result<(Parsed<'a>, Option<u64>), (ApiError, Option<String>)> {
        let draw_stream = self.draw_stream.map_err(|e| (e, None))?;
        Ok((self.request?, draw_stream))
    }
}

/// A valid request as the buckets and the stats see it.
struct Call<'a> {
    model_id: String,
    /// The model's rate-limit family (the bucket it draws from).
    family: String,
    profile: &'a Profile,
    /// A reasoning model's reasoning tokens per call at the request's effort (`None`: the model
    /// does not reason).
    reasoning: Option<ReasoningTokens>,
    /// One of the first `faults.first_n_429` requests: a 429 whatever the buckets hold.
    forced: bool,
    request: CallRequest,
    /// Share of eligible calls served from the prompt cache (0: prompt caching off).
    prompt_cache_hit: f64,
}

/// Each choice's completion tokens and finish reason.
pub(super) type Choices = Vec<(u32, &'static str)>;

/// What a 200 drew: each choice's visible completion tokens and finish reason, the call's
/// billed completion tokens (visible plus reasoning) and its reasoning tokens, its timing and
/// its prompt tokens served from the prompt cache.
pub(super) struct Drawn {
    pub(super) choices: Choices,
    pub(super) completion_tokens: u32,
    pub(super) reasoning_tokens: u32,
    pub(super) timing: CallTiming,
    pub(super) cached_tokens: u32,
}

/// A 200's body, as [`StubCore::answer`] writes it.
pub(super) struct Answer {
    pub(super) body: Vec<u8>,
    pub(super) content_type: &'static str,
    /// Billed completion tokens: in JSON mode, as the JSON content tokenizes, plus the
    /// reasoning tokens.
    pub(super) completion_tokens: u32,
    /// A streamed body's first part ends here (see [`Reply::first_part`]).
    pub(super) first_part_end: Option<usize>,
}

impl StubCore {
    /// Answers one `POST /v1/chat/completions`. Its fault, lengths and latency come from the
    /// draw stream the client chose (the `x-stub-draw-stream` header's value, see [`draw_rng`]),
    /// else from the request's place in the arrival order. A stream that is not an unsigned
    /// integer is a 400 naming the header.
    pub fn chat(&self, body: &[u8], draw_stream: Option<&str>) -> Reply {
        self.chat_with(body, draw_stream, 0)
    }

    /// [`Self::chat`] for a request its client marked as retry `retry_count` (the SDKs'
    /// `x-stainless-retry-count`; 0 for a first attempt).
    pub fn chat_with(&self, body: &[u8], draw_stream: Option<&str>, retry_count: u32) -> Reply {
        self.call_with(body, draw_stream, retry_count, Endpoint::Chat)
    }

    /// Answers one `POST /v1/responses` as [`Self::chat`] answers a chat request: the same
    /// validation steps, buckets, draws, faults, prompt cache and stats, in the Responses shape.
    pub fn responses(&self, body: &[u8], draw_stream: Option<&str>) -> Reply {
        self.call_with(body, draw_stream, 0, Endpoint::Responses)
    }

    /// One model call to `endpoint` (`retry_count` as in [`Self::chat_with`]).
    pub fn call_with(
        &self,
        body: &[u8],
        draw_stream: Option<&str>,
        retry_count: u32,
        endpoint: Endpoint,
    ) -> Reply {
        // Parsing and validating (the costly part for a large body) needs no state: do it before
        // taking the lock, so other requests are not held up.
        let checked = Checked::new(body, draw_stream, &self.config.catalog, endpoint);
        let now = self.clock.now();
        let mut st = self.lock();
        let st = &mut *st;
        // The request's own stream; its first draw is the request id, even for a refused body.
        let (mut rng, request_id) = st.next_request(endpoint);
        if retry_count > 0 {
            st.stats.retried_requests += 1;
        }
        let (parsed, draw_stream) = match checked.into_request() {
            Ok(r) => r,
            Err((e, family)) => {
                let levels = family.and_then(|f| st.limiters.get_mut(&f).map(|l| l.levels(now)));
                return self.error_reply(st, &e, levels, request_id, None);
            }
        };
        let req = parsed.call();
        let call = self.measure(st, req);
        let (served, levels, hit) = self.decide(st, &call, draw_stream, &mut rng, now);
        let mut drawn = match self.settle(st, served, &call) {
            Ok(drawn) => drawn,
            Err((e, retry_in)) => {
                return self.error_reply(st, &e, Some(levels), request_id, retry_in)
            }
        };
        drawn.cached_tokens = self.prompt_cached(st, &call, req, hit);
        let answer = match &parsed {
            Parsed::Chat(req) => self.answer(req, &drawn, call.request.prompt_tokens, &mut rng),
            Parsed::Responses(r) => {
                self.responses_answer(r, &drawn, call.request.prompt_tokens, &mut rng)
            }
        };
        st.record_ok(&call, req.stream, answer.completion_tokens, &drawn);
        let mut headers = common_headers(&levels, request_id, &self.config.organization);
        headers.push((
            "openai-processing-ms",
            drawn.timing.total.as_millis().to_string(),
        ));
        // When the first token comes (modelled time), for clients that read no stream.
        headers.push((TTFT_HEADER, ttft_header_value(drawn.timing.ttft)));
        Reply {
            status: 200,
            headers,
            content_type: answer.content_type,
            body: answer.body,
            delay: drawn.timing.total,
            first_part: answer.first_part_end.map(|end| (end, drawn.timing.ttft)),
        }
    }

    /// The prompt tokens a 200 is served from its model's prompt cache: OpenAI's rule
    /// ([`cached_tokens`]) on the longest prefix of this prompt the model was sent before, when
    /// the call's draw `hit`. The prompt's prefixes are then remembered (bounded). With prompt
    /// caching off (a share of 0), or a prompt under 1,024 tokens, nothing is hashed or held.
    fn prompt_cached(&self, st: &mut State, call: &Call, req: &ChatRequest, hit: bool) -> u32 {
        let prompt_tokens = call.request.prompt_tokens;
        if call.prompt_cache_hit <= 0.0 || prompt_tokens < MIN_PREFIX {
            return 0;
        }
        let keys = st.prefixes.keys(&mut st.counter, &req.messages);
        if !st.prompt_cache.contains_key(&call.model_id) {
            let memory = PrefixMemory::with_slots(self.config.prompt_cache_slots);
            st.prompt_cache.insert(call.model_id.clone(), memory);
        }
        let memory = st
            .prompt_cache
            .get_mut(&call.model_id)
            .expect("inserted above");
        let shared = memory.longest(&keys);
        memory.remember(&keys);
        cached_tokens(prompt_tokens, shared, hit)
    }

    /// Counts a valid request against its model and measures it for the buckets: its prompt
    /// tokens, what the limiter reserves (the prompt estimate plus n × max_tokens, or the
    /// configured reserve for a request without max_tokens), its latency profile, and whether
    /// it is one of the first `faults.first_n_429` requests (or the case's `first_429`), answered
    /// 429 whatever the buckets.
    fn measure(&self, st: &mut State, req: &ChatRequest) -> Call<'_> {
        let model_id = req.model.id.clone();
        let family = req.model.limits.clone();
        let prompt_tokens = st.counter.prompt(&req.messages);
        let estimate = match self.config.prompt_estimate {
            PromptEstimate::Tokens => prompt_tokens,
            PromptEstimate::CharsDiv4 => req.prompt_chars.div_ceil(4) as u32,
        } as u64;
        let reserve = estimate
            + req.n as u64
                * req
                    .max_tokens
                    .unwrap_or(self.config.missing_max_tokens_reserve) as u64;
        let model_stats = st.stats.models.entry(model_id.clone()).or_default();
        model_stats.requests += 1;
        st.stats.call_type(req.max_tokens).requests += 1;
        let profile = self
            .fixed_profile
            .as_ref()
            .unwrap_or_else(|| &self.config.catalog.profiles[&req.model.profile]);
        let prompt_cache_hit = self
            .config
            .prompt_cache_hit
            .unwrap_or_else(|| self.config.catalog.prompt_cache_hit(&model_id));
        let reasoning = req
            .effort
            .and_then(|e| self.config.catalog.reasoning_tokens(&model_id, e));
        Call {
            model_id,
            family,
            profile,
            reasoning,
            prompt_cache_hit,
            forced: st.stats.chat_requests <= st.first_n_429,
            request: CallRequest {
                reserve,
                prompt_tokens,
                max_tokens: req.max_tokens,
                n: req.n,
            },
        }
    }

    /// The buckets' decision and the drawn outcome: a forced 429, else what [`serve_reasoning`] draws
    /// from the client's draw stream or the request's own `rng`, then on a 200 whether it hits
    /// the prompt cache (the same stream's next draw, as the planner takes it). Returns them
    /// with the family's bucket levels after it.
    fn decide(
        &self,
        st: &mut State,
        call: &Call,
        draw_stream: Option<u64>,
        rng: &mut ChaCha8Rng,
        now: Duration,
    ) -> (Served, Levels, bool) {
        let limiter = st
            .limiters
            .get_mut(&call.family)
            .expect("the catalog checks every model's family has limits in every tier");
        let (profile, faults) = (call.profile, &self.config.faults);
        let reasoning = call.reasoning.as_ref();
        let hit = |served: &Served, rng: &mut dyn RngCore| {
            matches!(served, Served::Ok { .. }) && draw_prompt_cache_hit(rng, call.prompt_cache_hit)
        };
        let (served, hit) = if call.forced {
            (forced_429(limiter, now, call.request.reserve), false)
        } else {
            match draw_stream {
                Some(stream) => {
                    let mut drawn = draw_rng(st.seed, stream);
                    let served = serve_reasoning(
                        limiter,
                        now,
                        &call.request,
                        profile,
                        reasoning,
                        faults,
                        &mut drawn,
                    );
                    let hit = hit(&served, &mut drawn);
                    (served, hit)
                }
                None => {
                    let served = serve_reasoning(
                        limiter,
                        now,
                        &call.request,
                        profile,
                        reasoning,
                        faults,
                        rng,
                    );
                    let hit = hit(&served, rng);
                    (served, hit)
                }
            }
        };
        (served, limiter.levels(now), hit)
    }

    /// Counts what [`serve_reasoning`] decided in the stats: a 429 or a fault becomes its error (with the
    /// wait a 429 announces), a 200 its drawn choices and timing.
    fn settle(
        &self,
        st: &mut State,
        served: Served,
        call: &Call,
    ) -> Result<Drawn, (ApiError, Option<Duration>)> {
        match served {
            Served::RateLimited(rejection) => {
                let e = ApiError::rate_limited(
                    rejection.kind().error_type(),
                    rejection.message(&call.family, &self.config.organization),
                );
                let rl = &mut st.stats.rate_limited;
                match rejection.kind().error_type() {
                    "tokens" => rl.tokens += 1,
                    _ => rl.requests += 1,
                }
                rl.too_large += matches!(rejection, Rejection::TooLarge { .. }) as u64;
                rl.forced += call.forced as u64;
                st.stats
                    .models
                    .entry(call.model_id.clone())
                    .or_default()
                    .rejected_reserved_tokens += call.request.reserve;
                Err((e, rejection.wait()))
            }
            Served::ServerError => {
                st.stats.faults.server_error += 1;
                Err((ApiError::server_error(), None))
            }
            Served::Overloaded => {
                st.stats.faults.overloaded += 1;
                Err((ApiError::overloaded(), None))
            }
            Served::Ok {
                choices,
                completion_tokens,
                timing,
                slow,
            } => {
                // What the choices do not show is reasoning (as `Served::reasoning_tokens`).
                let visible: u32 = choices.iter().map(|c| c.0).sum();
                let reasoning_tokens = completion_tokens.saturating_sub(visible);
                st.stats.faults.slow += slow as u64;
                Ok(Drawn {
                    choices,
                    completion_tokens,
                    reasoning_tokens,
                    timing,
                    cached_tokens: 0,
                })
            }
        }
    }

    /// A 200's body and content type, its completion tokens (in JSON mode, as the JSON
    /// content tokenizes) and, streamed, where its first part ends. The chat and fingerprint
    /// ids are the request's next draws from `rng`.
    fn answer(
        &self,
        req: &ChatRequest,
        drawn: &Drawn,
        prompt_tokens: u32,
        rng: &mut ChaCha8Rng,
    ) -> Answer {
        let chat_id = format!("chatcmpl-{}", alnum_id(rng, 29));
        let fingerprint = format!("fp_{}", hex_id(rng, 10));
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // JSON mode: each choice's content is a JSON object, counted as it tokenizes.
        let (choices, completion_tokens, json) = if req.json {
            let (choices, total, pieces) = self.json_choices(&drawn.choices);
            (choices, total + drawn.reasoning_tokens, Some(pieces))
        } else {
            (drawn.choices.clone(), drawn.completion_tokens, None)
        };
        let mut usage = Usage::new(prompt_tokens, drawn.cached_tokens, completion_tokens);
        // Counted inside completion_tokens (and billed), as OpenAI reports them.
        usage.completion_tokens_details.reasoning_tokens = drawn.reasoning_tokens;
        let meta = Meta {
            id: &chat_id,
            created,
            model: &req.model.snapshot,
            fingerprint: &fingerprint,
        };
        let (body, content_type, first_part_end) = if req.stream {
            let (body, first_part_end) = sse::stream(
                meta,
                req.include_usage,
                &self.text,
                &choices,
                json.as_deref(),
                &usage,
            );
            (
                body,
                "text/event-stream; charset=utf-8",
                Some(first_part_end),
            )
        } else {
            let body = sse::completion(meta, &self.text, &choices, json.as_deref(), &usage);
            (body, "application/json", None)
        };
        Answer {
            body,
            content_type,
            completion_tokens,
            first_part_end,
        }
    }

    /// JSON-mode choices: each choice's content pieces (a JSON object as long as its drawn
    /// length; none when its reasoning left no visible token), the choices' lengths and finish
    /// reasons in pieces, and their total.
    pub(super) fn json_choices(
        &self,
        choices: &[(u32, &'static str)],
    ) -> (Choices, u32, Vec<Vec<String>>) {
        let pieces: Vec<Vec<String>> = choices
            .iter()
            .map(|(n, _)| match n {
                0 => Vec::new(),
                n => self.text.json(*n),
            })
            .collect();
        let choices: Choices = choices
            .iter()
            .zip(&pieces)
            .map(|((_, finish), p)| (p.len() as u32, *finish))
            .collect();
        let total = choices.iter().map(|c| c.0).sum();
        (choices, total, pieces)
    }

    fn error_reply(
        &self,
        st: &mut State,
        e: &ApiError,
        levels: Option<Levels>,
        request_id: String,
        retry_in: Option<Duration>,
    ) -> Reply {
        *st.stats.by_status.entry(e.status).or_default() += 1;
        let mut headers = match &levels {
            Some(l) => common_headers(l, request_id, &self.config.organization),
            None => vec![("x-request-id", request_id)],
        };
        headers.push(("openai-processing-ms", "0".into()));
        if self.config.retry_after && e.status == 429 {
            if let Some(wait) = retry_in {
                let ms = crate::openai::duration::ceil_ms(wait);
                headers.push(("retry-after", ms.div_ceil(1000).to_string()));
                headers.push(("retry-after-ms", ms.to_string()));
            }
        }
        Reply {
            status: e.status,
            headers,
            content_type: "application/json",
            body: e.to_bytes(),
            delay: Duration::ZERO,
            first_part: None,
        }
    }
}

/// The 429 of `faults.first_n_429`: the reserve is charged as a rejected request, and the wait
/// is the bucket's, or when the reserve fits now or never, the time it takes to refill.
fn forced_429(limiter: &mut RateLimiter, now: Duration, reserve: u64) -> Served {
    limiter.charge_rejected(now, reserve);
    let (used, limit) = limiter.tokens_used(now);
    let wait = limiter
        .tokens_wait(now, reserve)
        .filter(|w| !w.is_zero())
        // Fits now or never: the time `reserve` takes to refill, in whole ms (rounding the
        // bucket's ns up to the ms is the ceiling of reserve × 60,000 / limit ms).
        .unwrap_or_else(|| {
            let ns = limiter.tokens_refill_time(reserve).as_nanos();
            Duration::from_millis(ns.div_ceil(1_000_000) as u64)
        });
    Served::RateLimited(Rejection::Exceeded {
        kind: LimitKind::TokensPerMinute,
        limit,
        used,
        requested: reserve,
        wait,
    })
}

fn common_headers(
    levels: &Levels,
    request_id: String,
    organization: &str,
) -> Vec<(&'static str, String)> {
    let mut h: Vec<(&'static str, String)> = levels.headers().into_iter().collect();
    h.push(("x-request-id", request_id));
    h.push(("openai-organization", organization.to_string()));
    h.push(("openai-version", "2020-10-01".into()));
    h
}

fn parse_draw_stream(text: &str) -> Result<u64, ApiError> {
    text.trim().parse::<u64>().map_err(|_| {
        ApiError::other(
            DRAW_STREAM_HEADER,
            format!("Invalid {DRAW_STREAM_HEADER} header: '{text}'. Expected an unsigned integer."),
        )
    })
}

pub(super) fn hex_id(rng: &mut ChaCha8Rng, len: usize) -> String {
    id_from(rng, len, b"0123456789abcdef")
}

fn alnum_id(rng: &mut ChaCha8Rng, len: usize) -> String {
    id_from(
        rng,
        len,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    )
}

/// `len` characters of `alphabet`, six random bits each (ids must look right and be unique; the
/// slight bias of 64 mod 62 does not matter).
fn id_from(rng: &mut ChaCha8Rng, len: usize, alphabet: &[u8]) -> String {
    let mut s = String::with_capacity(len);
    let mut word = 0u64;
    for i in 0..len {
        if i % 10 == 0 {
            word = rng.random();
        }
        s.push(alphabet[(word & 63) as usize % alphabet.len()] as char);
        word >>= 6;
    }
    s
}
