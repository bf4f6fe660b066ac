//! The stub's brain, free of HTTP: takes a request body, returns a [`Reply`] (status, headers,
//! body, delay). The server calls it synchronously on its one thread, so everything here is
//! bounded and cheap: the body is validated before the state lock is taken, token counts are
//! cached, the random stream is derived per request from the seed, and the delay is served by
//! the server after the call.
//!
//! Determinism: request k (in arrival order) draws from ChaCha8 stream k of the seed, so the same
//! seed and the same arrival order give the same completion lengths, latencies, faults and ids;
//! with an injected clock, the same 429s too.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::sse::{self, Meta, Usage};
use super::stats::{LatencySummary, ModelStats, StubStats};
use super::validate::validate;
use crate::clock::Clock;
use crate::metrics::hdr;
use crate::openai::bucket::{Levels, LimitKind, RateLimiter, RejectedCost, Rejection};
use crate::openai::catalog::Catalog;
use crate::openai::errors::ApiError;
use crate::openai::latency::Profile;
use crate::openai::tokens::{CompletionText, TokenCounter};
use crate::openai::world::{draw_rng, serve, CallRequest, Served, DRAW_STREAM_HEADER};

/// How the stub estimates a request's prompt for the rate limiter (OpenAI estimates before it
/// tokenizes; its guide says from the character count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptEstimate {
    /// The exact o200k prompt token count (the cookbook throttler's choice).
    #[default]
    Tokens,
    /// Characters of the message contents ÷ 4.
    CharsDiv4,
}

pub use crate::openai::world::Faults;

/// Everything that shapes the stub's answers.
#[derive(Debug, Clone)]
pub struct StubConfig {
    pub catalog: Arc<Catalog>,
    pub tier_set: String,
    pub tier: u8,
    pub seed: u64,
    /// Serve every model with constant latency (the `fixed` profile) instead of its own profile.
    pub fixed_latency: Option<Duration>,
    /// Send `retry-after` and `retry-after-ms` on 429s (Azure OpenAI does; OpenAI does not).
    pub retry_after: bool,
    /// Tokens reserved for the completion when a request names no max_tokens. OpenAI does not
    /// document this; default 0 (the prompt estimate alone), as its "Requested" figures suggest.
    pub missing_max_tokens_reserve: u32,
    pub prompt_estimate: PromptEstimate,
    pub rejected_cost: RejectedCost,
    pub faults: Faults,
    pub organization: String,
    /// No effect: the stub keeps no request past its answer (it once bounded wiremock's store).
    pub retain_limit: u64,
    /// Request bodies above this many bytes get a 413 and are not read whole.
    pub max_body_bytes: usize,
    /// A connection that owes the stub its next request's headers, or the rest of a body, or
    /// reads none of its answer, for this long is closed (wall-clock time, whatever the clock's
    /// scale).
    pub idle_timeout: Duration,
}

impl StubConfig {
    /// Defaults: embedded data, the default tier set at tier 1, seed 0, each model's own profile.
    pub fn new(catalog: Arc<Catalog>) -> Self {
        Self {
            tier_set: catalog.default_tier_set.clone(),
            catalog,
            tier: 1,
            seed: 0,
            fixed_latency: None,
            retry_after: false,
            missing_max_tokens_reserve: 0,
            prompt_estimate: PromptEstimate::Tokens,
            rejected_cost: RejectedCost::Request,
            faults: Faults::default(),
            organization: "org-postloadstub".into(),
            retain_limit: super::DEFAULT_RETAIN_LIMIT,
            max_body_bytes: super::DEFAULT_MAX_BODY_BYTES,
            idle_timeout: super::DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// Checks the configuration; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        self.catalog.tier(&self.tier_set, self.tier)?;
        let f = &self.faults;
        for (name, share) in [
            ("server_error_share", f.server_error_share),
            ("overloaded_share", f.overloaded_share),
            ("slow_share", f.slow_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return Err(format!("{name} must be between 0 and 1, got {share}"));
            }
        }
        if f.server_error_share + f.overloaded_share > 1.0 {
            return Err("server_error_share + overloaded_share must not exceed 1".into());
        }
        Ok(())
    }
}

/// An HTTP answer, before the server writes it.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Modelled time the answer takes (the server divides by the clock's scale).
    pub delay: Duration,
}

struct State {
    seq: u64,
    /// The tier and seed now served (the config's until [`StubCore::reset_to`]).
    tier: u8,
    seed: u64,
    limiters: BTreeMap<String, RateLimiter>,
    counter: TokenCounter,
    stats: StubStats,
    /// Modelled latencies of 200 responses, µs (summarised in the stats).
    latency: Histogram<u64>,
}

pub struct StubCore {
    config: StubConfig,
    clock: Arc<dyn Clock>,
    text: CompletionText,
    fixed_profile: Option<Profile>,
    state: Mutex<State>,
}

impl std::fmt::Debug for StubCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StubCore")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl StubCore {
    pub fn new(config: StubConfig, clock: Arc<dyn Clock>) -> Result<Self, String> {
        config.validate()?;
        let fixed_profile = config
            .fixed_latency
            .map(|d| config.catalog.fixed_profile(d));
        let state = State {
            seq: 0,
            tier: config.tier,
            seed: config.seed,
            limiters: Self::limiters(&config, config.tier, clock.now())?,
            counter: TokenCounter::default(),
            stats: StubStats::default(),
            latency: hdr::micros(),
        };
        Ok(Self {
            text: CompletionText::new(),
            fixed_profile,
            config,
            clock,
            state: Mutex::new(state),
        })
    }

    fn limiters(
        config: &StubConfig,
        tier: u8,
        now: Duration,
    ) -> Result<BTreeMap<String, RateLimiter>, String> {
        let tier = config.catalog.tier(&config.tier_set, tier)?;
        Ok(tier
            .limits
            .iter()
            .map(|(family, limits)| {
                (
                    family.clone(),
                    RateLimiter::new(*limits, config.rejected_cost, now),
                )
            })
            .collect())
    }

    pub fn config(&self) -> &StubConfig {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug; the state is still usable counters.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counters and bucket levels now.
    pub fn stats(&self) -> StubStats {
        let now = self.clock.now();
        let mut st = self.lock();
        let mut stats = st.stats.clone();
        stats.tier = st.tier;
        stats.time_scale = self.clock.scale();
        stats.latency_ms = LatencySummary::of(&st.latency);
        stats.buckets = st
            .limiters
            .iter_mut()
            .map(|(family, l)| (family.clone(), l.levels(now).into()))
            .collect();
        stats
    }

    /// Counts a chat request the server answered itself (`status`: 401, 408, 413, or 400 for a
    /// body that broke off) without touching the seeded sequence.
    pub fn count_front_error(&self, status: u16) {
        let mut st = self.lock();
        st.stats.chat_requests += 1;
        *st.stats.by_status.entry(status).or_default() += 1;
    }

    /// Zeroes the counters, refills the buckets and restarts the request sequence (so a rerun with
    /// the same seed repeats its draws).
    pub fn reset(&self) {
        let (tier, seed) = {
            let st = self.lock();
            (st.tier, st.seed)
        };
        self.reset_to(tier, seed)
            .expect("the tier in use was checked");
    }

    /// Like [`reset`](Self::reset), and from now on serves `tier` of the configured tier set
    /// with `seed` (a harness runs one case per tier against one long-lived stub).
    pub fn reset_to(&self, tier: u8, seed: u64) -> Result<(), String> {
        let now = self.clock.now();
        let limiters = Self::limiters(&self.config, tier, now)?;
        let mut st = self.lock();
        st.seq = 0;
        st.tier = tier;
        st.seed = seed;
        st.limiters = limiters;
        st.stats = StubStats::default();
        st.latency.reset();
        Ok(())
    }

    /// The model list for `GET /v1/models`.
    pub fn models_body(&self) -> Value {
        json!({
            "object": "list",
            "data": self.config.catalog.models.iter().map(|m| json!({
                "id": m.id, "object": "model", "created": 1_715_367_049u64, "owned_by": "system"
            })).collect::<Vec<_>>()
        })
    }

    /// Answers one `POST /v1/chat/completions`. Its fault, lengths and latency come from the
    /// draw stream the client chose (the `x-stub-draw-stream` header's value, see [`draw_rng`]),
    /// else from the request's place in the arrival order. A stream that is not an unsigned
    /// integer is a 400 naming the header.
    pub fn chat(&self, body: &[u8], draw_stream: Option<&str>) -> Reply {
        let catalog = &self.config.catalog;
        // Parsing and validating (the costly part for a large body) needs no state: do it before
        // taking the lock, so other requests are not held up.
        let draw_stream = draw_stream.map(parse_draw_stream).transpose();
        let validated = validate(body, catalog).map_err(|e| {
            // The body may still name a known model: give its rate-limit headers then.
            let family = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v.get("model")?.as_str().map(str::to_owned))
                .and_then(|m| catalog.model(&m).map(|e| e.limits.clone()));
            (e, family)
        });
        let now = self.clock.now();
        let mut st = self.lock();
        let st = &mut *st;
        st.seq += 1;
        st.stats.chat_requests += 1;
        let mut rng = ChaCha8Rng::seed_from_u64(st.seed);
        rng.set_stream(st.seq);
        let request_id = format!("req_{}", hex_id(&mut rng, 32));

        let draw_stream = match draw_stream {
            Ok(s) => s,
            Err(e) => return self.error_reply(st, &e, None, request_id, None),
        };
        let req = match validated {
            Ok(r) => r,
            Err((e, family)) => {
                let levels =
                    family.and_then(|family| st.limiters.get_mut(&family).map(|l| l.levels(now)));
                return self.error_reply(st, &e, levels, request_id, None);
            }
        };
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

        let limiter = st
            .limiters
            .get_mut(&family)
            .expect("the catalog checks every model's family has limits in every tier");
        let forced = st.stats.chat_requests <= self.config.faults.first_n_429;
        let profile = self
            .fixed_profile
            .as_ref()
            .unwrap_or_else(|| &catalog.profiles[&req.model.profile]);
        let served = if forced {
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
        } else {
            let call = CallRequest {
                reserve,
                prompt_tokens,
                max_tokens: req.max_tokens,
                n: req.n,
            };
            match draw_stream {
                Some(stream) => {
                    let mut drawn = draw_rng(st.seed, stream);
                    serve(
                        limiter,
                        now,
                        &call,
                        profile,
                        &self.config.faults,
                        &mut drawn,
                    )
                }
                None => serve(limiter, now, &call, profile, &self.config.faults, &mut rng),
            }
        };
        let levels = limiter.levels(now);
        let (choices, completion_tokens, timing) = match served {
            Served::RateLimited(rejection) => {
                let e = ApiError::rate_limited(
                    rejection.kind().error_type(),
                    rejection.message(&family, &self.config.organization),
                );
                let rl = &mut st.stats.rate_limited;
                match rejection.kind().error_type() {
                    "tokens" => rl.tokens += 1,
                    _ => rl.requests += 1,
                }
                rl.too_large += matches!(rejection, Rejection::TooLarge { .. }) as u64;
                rl.forced += forced as u64;
                st.stats
                    .models
                    .entry(model_id)
                    .or_default()
                    .rejected_reserved_tokens += reserve;
                return self.error_reply(st, &e, Some(levels), request_id, rejection.wait());
            }
            Served::ServerError => {
                st.stats.faults.server_error += 1;
                return self.error_reply(
                    st,
                    &ApiError::server_error(),
                    Some(levels),
                    request_id,
                    None,
                );
            }
            Served::Overloaded => {
                st.stats.faults.overloaded += 1;
                return self.error_reply(
                    st,
                    &ApiError::overloaded(),
                    Some(levels),
                    request_id,
                    None,
                );
            }
            Served::Ok {
                choices,
                completion_tokens,
                timing,
                slow,
            } => {
                st.stats.faults.slow += slow as u64;
                (choices, completion_tokens, timing)
            }
        };
        let chat_id = format!("chatcmpl-{}", alnum_id(&mut rng, 29));
        let fingerprint = format!("fp_{}", hex_id(&mut rng, 10));
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // JSON mode: each choice's content is a JSON object, counted as it tokenizes.
        let (choices, completion_tokens, json) = if req.json {
            let pieces: Vec<Vec<String>> =
                choices.iter().map(|(n, _)| self.text.json(*n)).collect();
            let choices: Vec<(u32, &str)> = choices
                .iter()
                .zip(&pieces)
                .map(|((_, finish), p)| (p.len() as u32, *finish))
                .collect();
            let total = choices.iter().map(|c| c.0).sum();
            (choices, total, Some(pieces))
        } else {
            (choices, completion_tokens, None)
        };
        let usage = Usage::new(prompt_tokens, 0, completion_tokens);
        let meta = Meta {
            id: &chat_id,
            created,
            model: &req.model.snapshot,
            fingerprint: &fingerprint,
        };
        let (body, content_type) = if req.stream {
            (
                sse::stream(
                    meta,
                    req.include_usage,
                    &self.text,
                    &choices,
                    json.as_deref(),
                    &usage,
                ),
                "text/event-stream; charset=utf-8",
            )
        } else {
            (
                sse::completion(meta, &self.text, &choices, json.as_deref(), &usage),
                "application/json",
            )
        };

        let ms: &mut ModelStats = st.stats.models.entry(model_id).or_default();
        ms.ok += 1;
        ms.streamed += req.stream as u64;
        ms.prompt_tokens += prompt_tokens as u64;
        ms.completion_tokens += completion_tokens as u64;
        ms.latency_ms_sum += timing.total.as_secs_f64() * 1000.0;
        let _ = st
            .latency
            .record((timing.total.as_micros() as u64).clamp(1, 3_600_000_000));
        *st.stats.by_status.entry(200).or_default() += 1;

        let mut headers = common_headers(&levels, request_id, &self.config.organization);
        headers.push(("openai-processing-ms", timing.total.as_millis().to_string()));
        Reply {
            status: 200,
            headers,
            content_type,
            body,
            delay: timing.total,
        }
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
        }
    }
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

fn hex_id(rng: &mut ChaCha8Rng, len: usize) -> String {
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
