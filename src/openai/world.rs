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
    /// A 200: each choice's completion tokens and finish reason, and the call's timing.
    Ok {
        choices: Vec<(u32, &'static str)>,
        completion_tokens: u32,
        timing: CallTiming,
        slow: bool,
    },
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
    let choices: Vec<(u32, &'static str)> = (0..req.n)
        .map(|_| {
            let wanted = profile.draw_completion_tokens(rng);
            match req.max_tokens {
                Some(cap) if wanted >= cap => (cap, "length"),
                _ => (wanted, "stop"),
            }
        })
        .collect();
    let completion_tokens: u32 = choices.iter().map(|c| c.0).sum();
    let longest = choices.iter().map(|c| c.0).max().unwrap_or(0);
    let mut timing = profile.draw_call(rng, req.prompt_tokens, longest);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_caching_starts_at_1024_in_128_token_steps() {
        assert_eq!(cached_tokens(1_200, 1_100, true), 1_024);
        assert_eq!(cached_tokens(2_000, 1_500, true), 1_408);
        assert_eq!(cached_tokens(2_000, 1_500, false), 0);
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
}
