//! One chat completion as OpenAI decides it, free of HTTP: admission against the model family's
//! buckets, then the seeded draws of a fault, the completion lengths and the timing. The stub
//! turns the outcome into an HTTP answer; the planner turns it into simulated events. Both call
//! [`serve`], so both follow exactly the same rules and the same draw order.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::bucket::{RateLimiter, Rejection};
use super::latency::{CallTiming, Profile};
use super::reasoning::ReasoningTokens;

/// Faults injected on purpose, drawn from the request's seeded stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Faults {
    /// Share of admitted requests answered 500 `server_error`.
    pub server_error_share: f64,
    /// Share of admitted requests answered 503 "overloaded".
    pub overloaded_share: f64,
    /// Share of successful responses that take `slow_extra` longer.
    pub slow_share: f64,
    pub slow_extra: Duration,
    /// The first N chat requests get a 429 (type tokens) whatever the buckets say (the stub's).
    pub first_n_429: u64,
}

/// What a chat request asks of the model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallRequest {
    /// Tokens the rate limiter reserves: the estimated prompt plus n × max_tokens.
    pub reserve: u64,
    /// The prompt's tokens (o200k, with the message overhead).
    pub prompt_tokens: u32,
    pub max_tokens: Option<u32>,
    pub n: u32,
}

/// How the call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Served {
    /// A 429 from the buckets.
    RateLimited(Rejection),
    /// A 500 `server_error` fault.
    ServerError,
    /// A 503 "overloaded" fault.
    Overloaded,
    /// A 200: each choice's visible completion tokens and finish reason, the call's billed
    /// completion tokens (the visible ones plus any reasoning tokens) and its timing.
    Ok {
        choices: Vec<(u32, &'static str)>,
        completion_tokens: u32,
        timing: CallTiming,
        slow: bool,
    },
}

impl Served {
    /// The hidden reasoning tokens of a 200 (billed, not in any choice's content); 0 otherwise.
    pub fn reasoning_tokens(&self) -> u32 {
        match self {
            Served::Ok {
                choices,
                completion_tokens,
                ..
            } => completion_tokens.saturating_sub(choices.iter().map(|c| c.0).sum()),
            _ => 0,
        }
    }
}

/// Serves one request at `now` (modelled time). `rng` is the request's own stream: the draws
/// come in a fixed order (fault, slow, lengths, timing), so a seed always yields the same answers.
pub fn serve<R: Rng + ?Sized>(
    limiter: &mut RateLimiter,
    now: Duration,
    req: &CallRequest,
    profile: &Profile,
    faults: &Faults,
    rng: &mut R,
) -> Served {
    serve_reasoning(limiter, now, req, profile, None, faults, rng)
}

/// [`serve`] for a model that reasons (`reasoning`: the tokens its effort draws; `None` is
/// [`serve`] exactly, draw for draw). Each choice first spends its drawn reasoning tokens, then
/// writes; `max_tokens` (for a reasoning model, `max_completion_tokens`) caps both together, as
/// OpenAI counts them: reasoning that reaches the cap leaves no visible token, and the choice
/// ends `length` with empty content. The reasoning tokens are billed as completion tokens and
/// come before the first visible token. Draw order: fault, slow, then per choice its visible
/// length and its reasoning, then the timing.
pub fn serve_reasoning<R: Rng + ?Sized>(
    limiter: &mut RateLimiter,
    now: Duration,
    req: &CallRequest,
    profile: &Profile,
    reasoning: Option<&ReasoningTokens>,
    faults: &Faults,
    rng: &mut R,
) -> Served {
    if let Err(rejection) = limiter.admit(now, req.reserve) {
        return Served::RateLimited(rejection);
    }
    let fault: f64 = rng.random();
    let slow: f64 = rng.random();
    if fault < faults.server_error_share {
        return Served::ServerError;
    }
    if fault < faults.server_error_share + faults.overloaded_share {
        return Served::Overloaded;
    }
    // Each choice: (visible tokens, finish reason, reasoning tokens).
    let drawn: Vec<(u32, &'static str, u32)> = (0..req.n)
        .map(|_| {
            let wanted = profile.draw_completion_tokens(rng);
            let thought = reasoning.map_or(0, |t| t.draw(rng));
            let thought = req.max_tokens.map_or(thought, |cap| thought.min(cap));
            match req.max_tokens.map(|cap| cap - thought) {
                Some(room) if wanted >= room => (room, "length", thought),
                _ => (wanted, "stop", thought),
            }
        })
        .collect();
    let choices: Vec<(u32, &'static str)> = drawn.iter().map(|c| (c.0, c.1)).collect();
    let completion_tokens: u32 = drawn.iter().map(|c| c.0.saturating_add(c.2)).sum();
    let longest = drawn.iter().map(|c| c.0).max().unwrap_or(0);
    let thought = drawn.iter().map(|c| c.2).max().unwrap_or(0);
    let mut timing = profile.draw_reasoning_call(rng, req.prompt_tokens, thought, longest);
    let slow = slow < faults.slow_share;
    if slow {
        timing.total += faults.slow_extra;
    }
    Served::Ok {
        choices,
        completion_tokens,
        timing,
        slow,
    }
}

/// The header a client sends to choose a request's draw stream (see [`draw_rng`]).
pub const DRAW_STREAM_HEADER: &str = "x-stub-draw-stream";

/// A splitmix64 step: cheap, well-mixed keys for independent streams.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Draw stream `stream` of `seed`: the random numbers one request draws in [`serve`] (and what
/// its client draws after it). The planner gives attempt `a` of post `p` stream
/// [`post_stream`]`(p, a)`; a live client that sends the same number in
/// [`DRAW_STREAM_HEADER`] gets the same draws from the stub whatever order its requests arrive
/// in, so a live run and a simulation of it can be compared draw for draw (common random
/// numbers), and a live run repeats its draws under a different arrival order.
pub fn draw_rng(seed: u64, stream: u64) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed ^ mix(stream)))
}

/// The draw stream of attempt `attempt` (counted over the post's calls, from 1; 0 is the post's
/// own draws) of post `post`.
pub fn post_stream(post: u64, attempt: u32) -> u64 {
    (post << 20) | u64::from(attempt)
}

/// In a post whose two calls go at once (`parallel_calls`), the caption's attempts count from
/// here (the image prompt's from 1, as in a sequential post), so each call keeps its own draw
/// streams in the planner and the live run alike.
pub const PARALLEL_CAPTION_ATTEMPTS: u32 = 1 << 10;

/// The header the stub sets on a 200: the answer's modelled time to first token, in
/// milliseconds (modelled time, before `--time-scale`). A streamed answer's first chunk comes
/// then; a plain answer comes whole at the end, so the header says when it would have begun.
pub const TTFT_HEADER: &str = "x-stub-ttft-ms";

/// [`TTFT_HEADER`]'s value for a time to first token: milliseconds with three decimals (whole
/// microseconds), so a client can add it to its own send time without rounding it away.
pub fn ttft_header_value(ttft: Duration) -> String {
    let us = ttft.as_micros();
    format!("{}.{:03}", us / 1_000, us % 1_000)
}

/// The time to first token a [`TTFT_HEADER`] value says, or `None` when it is not a number of
/// milliseconds from 0 to an hour (a server that is not our stub may send anything).
pub fn parse_ttft_header(value: &str) -> Option<Duration> {
    let ms: f64 = value.trim().parse().ok()?;
    (ms.is_finite() && (0.0..=3_600_000.0).contains(&ms))
        .then(|| Duration::from_micros((ms * 1_000.0).round() as u64))
}

/// A post's own choices, drawn from its stream 0 in this order: whether the service's response
/// cache answers it (a `cache_hit` share; the planner's: a live run has no cache) and whether
/// its request brings its own image prompt (an `own_share` share). The planner and the run draw
/// them alike, so with the same seed a post brings its image prompt in both or in neither.
pub fn post_choices(seed: u64, post: u64, cache_hit: f64, own_share: f64) -> (bool, bool) {
    let mut rng = draw_rng(seed, post_stream(post, 0));
    let cached = rng.random::<f64>() < cache_hit;
    let own = rng.random::<f64>() < own_share;
    (cached, own)
}

/// The client's own draws after attempt `attempt` of post `post` (its retry jitter), apart from
/// the stub's draws for that attempt. The planner and the live run both take the jitter from
/// here, so a post's retries wait the same in both.
pub fn client_stream(post: u64, attempt: u32) -> u64 {
    post_stream(post, attempt) | 1 << 63
}

/// OpenAI's automatic prompt caching: prompts of at least 1,024 tokens are cached in 128-token
/// steps, up to the part they share with earlier requests. Returns the cached tokens of a prompt
/// of `prompt_tokens` whose first `shared_prefix` tokens were seen recently (`hit`).
pub fn cached_tokens(prompt_tokens: u32, shared_prefix: u32, hit: bool) -> u32 {
    const MIN: u32 = 1_024;
    const STEP: u32 = 128;
    let prefix = shared_prefix.min(prompt_tokens);
    if !hit || prompt_tokens < MIN || prefix < MIN {
        return 0;
    }
    prefix / STEP * STEP
}

/// Whether an answered call finds its shared prefix in OpenAI's prompt cache, a `share` of the
/// time. Drawn from the call's own stream right after [`serve`]'s draws, and only when `share`
/// is above 0, so that without prompt caching the stream is left as it was (the stub's ids come
/// after it). The planner and the stub both draw it here.
pub fn draw_prompt_cache_hit<R: Rng + ?Sized>(rng: &mut R, share: f64) -> bool {
    share > 0.0 && rng.random::<f64>() < share
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::openai::bucket::{LimitKind, Limits, RejectedCost};

    const FIXED: Profile = Profile::Fixed {
        as_of: String::new(),
        source: String::new(),
        latency_ms: 100,
        completion_tokens: 50,
    };

    fn limiter() -> RateLimiter {
        let limits = Limits {
            rpm: 100,
            tpm: 1_000,
            rpd: None,
        };
        RateLimiter::new(limits, RejectedCost::Nothing, Duration::ZERO)
    }

    fn request(max_tokens: Option<u32>) -> CallRequest {
        CallRequest {
            reserve: 200,
            prompt_tokens: 100,
            max_tokens,
            n: 2,
        }
    }

    /// The first two numbers of stream 1 of seed 7: serve's fault draw, then its slow draw.
    fn fault_and_slow() -> (f64, f64) {
        let mut rng = draw_rng(7, 1);
        (rng.random(), rng.random())
    }

    fn served(req: &CallRequest, faults: &Faults) -> Served {
        serve(
            &mut limiter(),
            Duration::ZERO,
            req,
            &FIXED,
            faults,
            &mut draw_rng(7, 1),
        )
    }

    #[test]
    fn a_request_the_buckets_refuse_is_rate_limited_before_any_draw() {
        // 1,000 TPM: a reservation of 1,001 never fits.
        let req = CallRequest {
            reserve: 1_001,
            ..request(None)
        };
        let Served::RateLimited(r) = served(&req, &Faults::default()) else {
            panic!("must be rate-limited")
        };
        assert_eq!(r.kind(), LimitKind::TokensPerMinute);
    }

    #[test]
    fn the_fault_draw_picks_server_error_then_overloaded_below_their_shares() {
        let (f, _) = fault_and_slow();
        let faults = |server_error_share, overloaded_share| Faults {
            server_error_share,
            overloaded_share,
            ..Faults::default()
        };
        // A draw below the 500 share is a 500; at it, it is not (the share is strict).
        let just_above = f + f64::EPSILON;
        assert_eq!(
            served(&request(None), &faults(just_above, 0.0)),
            Served::ServerError
        );
        // 503s take the band [500 share, 500 share + 503 share): f/2 + f = 1.5 f > f.
        assert_eq!(
            served(&request(None), &faults(f / 2.0, f)),
            Served::Overloaded
        );
        assert_eq!(
            served(&request(None), &faults(f, just_above - f)),
            Served::Overloaded
        );
        // f/2 + f/2 = f exactly: the draw is at the band's end, so served.
        assert!(matches!(
            served(&request(None), &faults(f / 2.0, f / 2.0)),
            Served::Ok { .. }
        ));
    }

    #[test]
    fn choices_are_capped_at_max_tokens_and_a_slow_draw_adds_the_extra() {
        let (_, s) = fault_and_slow();
        let ok = |max_tokens, slow_share| {
            let faults = Faults {
                slow_share,
                slow_extra: Duration::from_secs(1),
                ..Faults::default()
            };
            match served(&request(max_tokens), &faults) {
                Served::Ok {
                    choices,
                    completion_tokens,
                    timing,
                    slow,
                } => (choices, completion_tokens, timing.total, slow),
                other => panic!("{other:?}"),
            }
        };
        // The fixed profile writes 50 tokens per choice, 2 choices: 100 tokens, 100 ms.
        let ms = Duration::from_millis;
        assert_eq!(
            ok(None, 0.0),
            (vec![(50, "stop"), (50, "stop")], 100, ms(100), false)
        );
        assert_eq!(
            ok(Some(51), 0.0),
            (vec![(50, "stop"), (50, "stop")], 100, ms(100), false)
        );
        // A cap of exactly 50 is reached: finish reason "length".
        assert_eq!(
            ok(Some(50), 0.0),
            (vec![(50, "length"), (50, "length")], 100, ms(100), false)
        );
        assert_eq!(
            ok(Some(30), 0.0),
            (vec![(30, "length"), (30, "length")], 60, ms(100), false)
        );
        // The slow draw s: below the share, 100 ms + 1 s; at it, not slow.
        assert_eq!(ok(None, s + f64::EPSILON).2, ms(1_100));
        assert!(ok(None, s + f64::EPSILON).3);
        assert_eq!(ok(None, s).2, ms(100));
    }

    #[test]
    fn mix_is_splitmix64() {
        // SplitMix64's published first outputs from state 0: each is mix of the state after
        // adding the golden gamma 0x9e3779b97f4a7c15 once (then twice) to 0.
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(mix(0x9e37_79b9_7f4a_7c15), 0x6e78_9e6a_a1b9_65f4);
    }

    #[test]
    fn streams_of_a_seed_differ_and_repeat() {
        for seed in [0, 1, u64::MAX] {
            let first = |stream| draw_rng(seed, stream).random::<u64>();
            assert_ne!(first(1), first(2), "seed {seed}");
            assert_eq!(first(1), first(1));
        }
        // Post 3, attempt 5: 3 × 2^20 + 5 = 3,145,733; its client draws set bit 63 as well.
        assert_eq!(post_stream(3, 5), 3_145_733);
        assert_eq!(client_stream(3, 5), 3_145_733 + (1 << 63));
    }

    #[test]
    fn the_ttft_header_keeps_whole_microseconds_and_reads_back() {
        // 812,345 µs = 812.345 ms; 50 ms = "50.000"; 7 µs = "0.007".
        let us = Duration::from_micros;
        assert_eq!(ttft_header_value(us(812_345)), "812.345");
        assert_eq!(ttft_header_value(Duration::from_millis(50)), "50.000");
        assert_eq!(ttft_header_value(us(7)), "0.007");
        // Below a microsecond is dropped, as the value says whole microseconds.
        assert_eq!(ttft_header_value(Duration::from_nanos(1_999)), "0.001");
        for d in [us(0), us(7), us(812_345), us(3_600_000_000)] {
            assert_eq!(parse_ttft_header(&ttft_header_value(d)), Some(d));
        }
        // Another server's value: a plain integer reads; junk, negatives, NaN or more than an
        // hour (3,600,000 ms) are no value.
        assert_eq!(parse_ttft_header("120"), Some(Duration::from_millis(120)));
        for bad in ["", "soon", "-1", "NaN", "inf", "3600000.001"] {
            assert_eq!(parse_ttft_header(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_prompt_cache_draw_takes_one_number_and_none_at_share_0() {
        // Share 0: no draw, so the stream's next number is its first.
        let first = draw_rng(7, 1).random::<f64>();
        let mut rng = draw_rng(7, 1);
        assert!(!draw_prompt_cache_hit(&mut rng, 0.0));
        assert_eq!(rng.random::<f64>(), first);
        // Above 0: the first number decides (strictly below the share is a hit).
        let mut rng = draw_rng(7, 1);
        assert!(draw_prompt_cache_hit(&mut rng, first + f64::EPSILON));
        assert!(!draw_prompt_cache_hit(&mut draw_rng(7, 1), first));
        assert!(draw_prompt_cache_hit(&mut draw_rng(7, 1), 1.0));
    }

    #[test]
    fn prompt_caching_starts_at_1024_in_128_token_steps() {
        assert_eq!(cached_tokens(1_200, 1_100, true), 1_024);
        assert_eq!(cached_tokens(2_000, 1_500, true), 1_408);
        assert_eq!(cached_tokens(2_000, 1_500, false), 0);
        // Exactly 1,024 prompt tokens, all shared: cached.
        assert_eq!(cached_tokens(1_024, 1_024, true), 1_024);
        assert_eq!(
            cached_tokens(1_000, 1_000, true),
            0,
            "below 1,024 nothing is cached"
        );
        assert_eq!(
            cached_tokens(1_200, 900, true),
            0,
            "the shared part must reach 1,024"
        );
        assert_eq!(
            cached_tokens(1_100, 5_000, true),
            1_024,
            "never more than the prompt"
        );
    }

    fn served_reasoning(max_tokens: Option<u32>, thought: u32) -> Served {
        // sigma 0: every draw is the median, so the reasoning is exactly `thought` tokens.
        let t = ReasoningTokens {
            median: thought,
            sigma: 0.0,
            min: 0,
            max: thought,
        };
        let req = CallRequest {
            n: 1,
            ..request(max_tokens)
        };
        serve_reasoning(
            &mut limiter(),
            Duration::ZERO,
            &req,
            &FIXED,
            Some(&t),
            &Faults::default(),
            &mut draw_rng(7, 1),
        )
    }

    #[test]
    fn reasoning_tokens_are_billed_beside_the_visible_ones() {
        // FIXED writes 50 visible tokens; 300 reasoning tokens before them make 350 billed,
        // within a max_completion_tokens of 1,000.
        let s = served_reasoning(Some(1_000), 300);
        let Served::Ok {
            choices,
            completion_tokens,
            ..
        } = &s
        else {
            panic!("{s:?}")
        };
        assert_eq!(choices, &[(50, "stop")]);
        assert_eq!(*completion_tokens, 350);
        assert_eq!(s.reasoning_tokens(), 300);
    }

    #[test]
    fn reasoning_that_reaches_max_completion_tokens_leaves_empty_content_and_length() {
        // 300 reasoning tokens under a cap of 200: all 200 go to reasoning, none is visible.
        let s = served_reasoning(Some(200), 300);
        let Served::Ok {
            choices,
            completion_tokens,
            ..
        } = &s
        else {
            panic!("{s:?}")
        };
        assert_eq!(choices, &[(0, "length")]);
        assert_eq!(*completion_tokens, 200);
        // 150 reasoning tokens leave room for 50: FIXED's 50 reach it, so `length` too, and
        // 149 leave 51, so the 50 end with `stop` (as a plain call at the cap).
        let Served::Ok { choices, .. } = served_reasoning(Some(200), 150) else {
            panic!()
        };
        assert_eq!(choices, [(50, "length")]);
        let Served::Ok { choices, .. } = served_reasoning(Some(200), 149) else {
            panic!()
        };
        assert_eq!(choices, [(50, "stop")]);
    }

    #[test]
    fn no_reasoning_serves_as_serve_does_draw_for_draw() {
        let p = Profile::HeavyTail {
            as_of: String::new(),
            source: String::new(),
            ttft_ms: crate::openai::latency::TtftPercentiles {
                p50: 500.0,
                p95: 900.0,
                p99: 3000.0,
                p99_99: 5000.0,
            },
            output_tokens_per_s: crate::openai::latency::Range {
                min: 40.0,
                max: 120.0,
            },
            prompt_tokens_per_output_token: 100.0,
            completion_tokens: crate::openai::latency::LengthDist {
                median: 220,
                sigma: 0.35,
                min: 8,
                max: 2048,
            },
        };
        let req = request(Some(150));
        let f = Faults::default();
        let plain = serve(
            &mut limiter(),
            Duration::ZERO,
            &req,
            &p,
            &f,
            &mut draw_rng(3, 9),
        );
        let none = serve_reasoning(
            &mut limiter(),
            Duration::ZERO,
            &req,
            &p,
            None,
            &f,
            &mut draw_rng(3, 9),
        );
        assert_eq!(plain, none);
        assert_eq!(plain.reasoning_tokens(), 0);
    }
}
