//! The simulator against hand-worked cases.

use super::*;
use crate::openai::bucket::Limits;
use crate::openai::catalog::Catalog;
use crate::openai::latency::Profile;
use crate::openai::world::serve;

fn input(arrivals: Arrivals, tpm: u64, strategy: Strategy) -> SimInput {
    SimInput {
        limits: Limits {
            rpm: 5_000,
            tpm,
            rpd: None,
        },
        rejected_cost: RejectedCost::Request,
        profile: Profile::Fixed {
            as_of: String::new(),
            source: String::new(),
            latency_ms: 1_000,
            completion_tokens: 100,
        },
        shape: PostShape {
            image_prompt_tokens: 800,
            image_max_tokens: 150,
            caption_base_tokens: 1_050,
            caption_max_tokens: 200,
            image_prompt_share: 0.0,
            own_image_prompt_tokens: 40,
        },
        arrivals,
        strategy,
        response_cache_hit: 0.0,
        response_cache_latency: Duration::from_millis(5),
        prompt_cache_hit: 0.0,
        parallel: false,
        request_timeout: crate::plan::sim::REQUEST_TIMEOUT,
        seed: 1,
        reasoning: None,
    }
}

#[test]
fn an_unlimited_burst_takes_two_call_latencies_per_post() {
    let (r, extra) = simulate(&input(
        Arrivals::Burst { posts: 100 },
        10_000_000,
        Strategy::Sdk,
    ));
    let m = r.summarize(None, 100);
    assert_eq!((m.posts.ok, m.calls.http_429), (100, 0));
    // Two fixed 1 s calls: every post takes exactly 2 s (to HdrHistogram's 3 figures).
    let near = |v: Option<f64>| v.is_some_and(|v| (v - 2_000.0).abs() <= 2.0);
    assert!(near(m.post_latency_ms.ok.min) && near(m.post_latency_ms.ok.max));
    // 100 × (800 + 100) + 100 × (1,050 + the image prompt's 100 + 100).
    assert_eq!(m.tokens.total.total(), 100 * 900 + 100 * 1_250);
    // Per post: its arrival and two answers (sends happen inside them).
    assert_eq!(extra.events, 100 * 3);
}

#[test]
fn the_tpm_bucket_admits_exactly_what_fits_and_the_sdk_gives_up() {
    // By hand. 30,000 TPM, refilled at 500 tokens/s; calls of 1 s; SDK waits of
    // 0.5 x (1 - 0.25u) s in [0.375, 0.5], then 1.0 x (1 - 0.25u) in [0.75, 1.0].
    // t = 0: 40 image calls of 800 + 150 = 950 tokens: 31 fit (29,450), 550 left; 9 get 429.
    // t in [0.375, 0.5]: their retries find at most 550 + 250 = 800 < 950: 9 more 429s.
    //   Second 0 thus has 9 + 9 = 18 429s.
    // t = 1.0: the 31 images answer; their captions reserve 1,050 + 100 + 200 = 1,350 each
    //   against 550 + 500 = 1,050: 31 429s.
    // t in [1.125, 1.5]: the 9 images' last retries; the first finds at least
    //   550 + 562 = 1,112 >= 950 and goes; the other 8 find at most 1,300 - 950 + 188 < 950:
    //   8 429s and 8 posts lost.
    // t in [1.375, 1.5]: the captions' first retries find at most 1,300 - 950 = 350: 31 429s.
    //   Second 1 thus has 31 + 8 + 31 = 70 429s.
    // t in [2.125, 2.5]: the captions' last retries find at most 350 + 500 = 850 < 1,350:
    //   31 429s and 31 posts lost. Only the one late image's post can still succeed.
    let (r, _) = simulate(&input(Arrivals::Burst { posts: 40 }, 30_000, Strategy::Sdk));
    let m = r.summarize(None, 40);
    assert_eq!(m.timeline[0].rate_limited, 18, "{:?}", &m.timeline[..3]);
    assert_eq!(m.timeline[1].rate_limited, 70, "{:?}", &m.timeline[..3]);
    assert!(m.posts.ok <= 1, "{:?}", m.posts);
    assert!(m.posts.failed >= 39, "{:?}", m.posts);
    // 9 + 9 + 8 image 429s and 3 x 31 caption 429s, at least.
    assert!(m.calls.http_429 >= 26 + 93, "{:?}", m.calls);
    assert_eq!(m.posts.ok + m.posts.failed, 40);
    assert_eq!(
        m.posts.failed_by_cause[&FailureCause::RateLimited],
        m.posts.failed
    );
}

#[test]
fn a_client_queue_trades_429s_for_waiting_and_loses_no_post() {
    let (r, _) = simulate(&input(
        Arrivals::Burst { posts: 100 },
        30_000,
        Strategy::Queue,
    ));
    let m = r.summarize(None, 100);
    assert_eq!((m.posts.ok, m.calls.http_429), (100, 0));
    // 100 posts × (950 + 1,350) reserved tokens at 500 tokens/s after the first 30,000.
    let drain_s = (100.0 * 2_300.0 - 30_000.0) / 500.0;
    let makespan = m.makespan_ms / 1000.0;
    assert!((drain_s..drain_s + 5.0).contains(&makespan), "{makespan}");
}

#[test]
fn response_cache_hits_skip_the_calls_and_prompt_cache_hits_bill_cached_tokens() {
    let mut i = input(
        Arrivals::Burst { posts: 10_000 },
        100_000_000,
        Strategy::Sdk,
    );
    i.limits.rpm = 1_000_000;
    i.response_cache_hit = 0.3;
    i.prompt_cache_hit = 1.0;
    let (r, extra) = simulate(&i);
    let share = extra.response_cache_hits as f64 / 10_000.0;
    assert!((0.28..0.32).contains(&share), "{share}");
    let m = r.summarize(None, 10_000);
    assert_eq!(m.calls.calls, 2 * (10_000 - extra.response_cache_hits));
    // The caption's 1,050-token shared prefix caches 1,024; the 800-token image call nothing.
    let captions = 10_000 - extra.response_cache_hits;
    assert_eq!(m.tokens.total.cached, captions * 1_024);
}

#[test]
fn a_daily_stream_follows_the_curve_and_the_seed() {
    let arrivals = Arrivals::Daily {
        posts_per_day: 50_000.0,
        days: 1.0,
        curve: BUSINESS_DAY.to_vec(),
    };
    let (r, _) = simulate(&input(arrivals.clone(), 100_000_000, Strategy::Sdk));
    let n = r.posts();
    assert!((49_000..51_000).contains(&n), "{n}");
    let tl = r.timeline();
    let hour = |h: usize| -> u64 {
        tl[h * 3600..(h + 1) * 3600]
            .iter()
            .map(|s| s.sends)
            .sum::<u64>()
    };
    // 10:00 carries 9 % of the day, 03:00 0.2 %.
    let total: f64 = BUSINESS_DAY.iter().sum();
    let at10 = hour(10) as f64 / (2.0 * n as f64);
    assert!((at10 - 9.0 / total).abs() < 0.005, "{at10}");
    assert!(hour(3) < hour(10) / 20);
    let (again, _) = simulate(&input(arrivals, 100_000_000, Strategy::Sdk));
    assert_eq!(again.posts(), n);
}

/// One call drawn by hand as the stub serves it: attempt `attempt` of post `post` (its own draw
/// stream), `prompt` tokens in and at most `max` out, at time 0 on `limiter`; the tokens it
/// wrote and its time. Panics unless it is answered.
fn by_hand_call(
    i: &SimInput,
    limiter: &mut RateLimiter,
    post: u64,
    attempt: u32,
    prompt: u32,
    max: u32,
) -> (u32, Duration) {
    let req = CallRequest {
        reserve: u64::from(prompt + max),
        prompt_tokens: prompt,
        max_tokens: Some(max),
        n: 1,
    };
    let mut rng = draw_rng(i.seed, post_stream(post, attempt));
    match serve(
        limiter,
        Duration::ZERO,
        &req,
        &i.profile,
        &Faults::default(),
        &mut rng,
    ) {
        Served::Ok {
            completion_tokens,
            timing,
            ..
        } => (completion_tokens, timing.total),
        other => panic!("{other:?}"),
    }
}

#[test]
fn uses_the_catalogs_profile_like_the_stub() {
    let c = Catalog::embedded();
    let mut i = input(Arrivals::Burst { posts: 2_000 }, 100_000_000, Strategy::Sdk);
    i.profile = c.profiles[&c.model("gpt-4o").unwrap().profile].clone();
    let (r, _) = simulate(&i);
    let m = r.summarize(None, 2_000);
    // Each post's time by hand, with the stub's own `serve` and draw streams: the image call
    // is attempt 1 of post p, the caption attempt 2; the caption's prompt is 1,050 tokens
    // plus what the image call wrote. Nothing waits (no limit is near), so a post takes
    // the two calls' times.
    let mut limiter = RateLimiter::new(i.limits, i.rejected_cost, Duration::ZERO);
    let mut by_hand: Vec<f64> = (0..2_000u64)
        .map(|p| {
            let (wrote, image) = by_hand_call(&i, &mut limiter, p, 1, 800, 150);
            let (_, caption) = by_hand_call(&i, &mut limiter, p, 2, 1_050 + wrote, 200);
            (image + caption).as_secs_f64() * 1000.0
        })
        .collect();
    by_hand.sort_by(f64::total_cmp);
    // HdrHistogram's p50 is the value at rank 1,000 of 2,000, its max the largest, each to
    // 3 significant figures.
    let near = |got: Option<f64>, want: f64| (got.unwrap() - want).abs() <= want * 0.001;
    assert!(
        near(m.post_latency_ms.ok.p50, by_hand[999]),
        "{:?} {}",
        m.post_latency_ms.ok.p50,
        by_hand[999]
    );
    assert!(
        near(m.post_latency_ms.ok.max, by_hand[1_999]),
        "{:?} {}",
        m.post_latency_ms.ok.max,
        by_hand[1_999]
    );
}

#[test]
fn patient_retries_try_six_times_where_the_sdk_tries_three() {
    // 100 TPM is less than any call's 950-token reservation: every attempt is a 429. The SDK
    // gives up after its 2 retries (3 attempts a post), the cookbook's patient policy after its
    // 5 (6 attempts).
    for (strategy, attempts) in [(Strategy::Sdk, 3), (Strategy::Patient, 6)] {
        let (r, _) = simulate(&input(Arrivals::Burst { posts: 10 }, 100, strategy));
        let m = r.summarize(None, 10);
        assert_eq!(
            (m.posts.failed, m.calls.attempts, m.calls.http_429),
            (10, 10 * attempts, 10 * attempts),
            "{strategy:?}"
        );
    }
}

#[test]
fn a_call_let_through_on_its_retry_counts_one_retry_and_its_wait() {
    // Every post brings its own image prompt: one caption call of 1,050 + 40 = 1,090 prompt
    // tokens and up to 200 completion tokens, reserving 1,290. A 2,570-token bucket (refilled
    // at 2,570 / 60 = 42.83 tokens/s) takes post 0's call at t = 0 and leaves 1,280 < 1,290:
    // post 1 gets a 429. The SDK's first wait is 0.5 x (1 - 0.25u) in [0.375, 0.5] s, after
    // which the bucket holds at least 1,280 + 0.375 x 42.83 = 1,296 >= 1,290: the retry goes.
    let mut i = input(Arrivals::Burst { posts: 2 }, 2_570, Strategy::Sdk);
    i.shape.image_prompt_share = 1.0;
    let (r, _) = simulate(&i);
    let m = r.summarize(None, 2);
    assert_eq!((m.posts.ok, m.calls.calls), (2, 2));
    assert_eq!(
        (m.calls.attempts, m.calls.retries, m.calls.http_429),
        (3, 1, 1)
    );
    // 2 × (1,090 prompt + 100 written).
    assert_eq!(m.tokens.total.total(), 2 * 1_190);
    assert_eq!(m.call_latency_ms["image_prompt"].count, 0);
    // Post 1's call ran from its first send (t = 0) to its answer, 1 s after the wait; the
    // wait is its 429 backoff. (Bounds widened by HdrHistogram's 0.1 %.)
    let within =
        |v: Option<f64>, lo: f64, hi: f64| v.is_some_and(|v| v >= lo * 0.999 && v <= hi * 1.001);
    assert!(
        within(m.call_latency_ms["caption"].max, 1_375.0, 1_500.0),
        "{:?}",
        m.call_latency_ms
    );
    assert!(
        within(m.call_latency_ms["caption"].min, 1_000.0, 1_000.0),
        "{:?}",
        m.call_latency_ms
    );
    assert_eq!(m.backoff_ms.count, 1);
    assert!(within(m.backoff_ms.max, 375.0, 500.0), "{:?}", m.backoff_ms);
}

#[test]
fn posts_the_client_queue_holds_back_send_late() {
    // 30,000 TPM: 31 image calls of 950 tokens fit at t = 0 (29,450); the other 69 posts wait
    // in the queue (the next needs 400 more tokens, 0.8 s at 500 tokens/s): their first sends
    // are more than the recorder's 10 ms after their intended time.
    let (r, _) = simulate(&input(
        Arrivals::Burst { posts: 100 },
        30_000,
        Strategy::Queue,
    ));
    let m = r.summarize(None, 100);
    assert_eq!(m.posts.late_sends, 69);
    assert!(m.start_spread_ms > 0.0);
}

#[test]
fn a_client_queue_fails_a_call_larger_than_the_limit_without_sending_it() {
    // 100 TPM is less than the 950-token image call: it can never go.
    let (r, _) = simulate(&input(Arrivals::Burst { posts: 10 }, 100, Strategy::Queue));
    let m = r.summarize(None, 10);
    assert_eq!(
        (m.posts.failed, m.calls.calls, m.calls.attempts),
        (10, 10, 0)
    );
    assert_eq!(m.posts.failed_by_cause[&FailureCause::RateLimited], 10);
}

#[test]
fn a_daily_posts_latency_counts_from_its_own_arrival() {
    // 2,000 posts over a day, 30 % answered from the response cache in 5 ms, the rest in two
    // 1 s calls: 2 s. Each post draws its own cache hit (1,400 ± 20 misses is 1 sd; ± 5 sd).
    let arrivals = Arrivals::Daily {
        posts_per_day: 2_000.0,
        days: 1.0,
        curve: BUSINESS_DAY.to_vec(),
    };
    let mut i = input(arrivals, 100_000_000, Strategy::Sdk);
    i.response_cache_hit = 0.3;
    let (r, extra) = simulate(&i);
    let m = r.summarize(None, 2_000);
    let share = extra.response_cache_hits as f64 / m.posts.total as f64;
    assert!((0.25..0.35).contains(&share), "{share}");
    let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() <= want * 0.001);
    assert!(
        near(m.post_latency_ms.ok.max, 2_000.0),
        "{:?}",
        m.post_latency_ms.ok
    );
    assert!(
        near(m.post_latency_ms.ok.min, 5.0),
        "{:?}",
        m.post_latency_ms.ok
    );
    // The first caption token counts from the post's own arrival too: 2 s after it (a fixed
    // profile's first token is its whole answer, after the image call's 1 s), 5 ms for a
    // cached answer; not from the start of the day.
    let first = m.first_caption_token_ms.expect("recorded");
    assert!(
        near(first.max, 2_000.0) && near(first.min, 5.0),
        "{first:?}"
    );
}

#[test]
fn a_caption_caches_its_own_prefix_not_the_image_prompt_it_carries() {
    // Caption prompts of 1,100 shared tokens plus the image call's 100: 1,200. Cached in
    // 128-token steps up to the shared 1,100: 1,024 (1,152 would reach into the image
    // prompt). The 800-token image call is under 1,024: nothing.
    let mut i = input(Arrivals::Burst { posts: 10 }, 100_000_000, Strategy::Sdk);
    i.shape.caption_base_tokens = 1_100;
    i.prompt_cache_hit = 1.0;
    let (r, _) = simulate(&i);
    assert_eq!(r.summarize(None, 10).tokens.total.cached, 10 * 1_024);
}

/// Reasoning of exactly `tokens` per call (sigma 0 draws the median).
fn reasoning(tokens: u32) -> Option<crate::openai::reasoning::ReasoningTokens> {
    Some(crate::openai::reasoning::ReasoningTokens {
        median: tokens,
        sigma: 0.0,
        min: 0,
        max: tokens,
    })
}

#[test]
fn reasoning_tokens_are_billed_and_the_caption_reads_only_the_visible_image_prompt() {
    // 40 reasoning tokens a call, within the caps (150, 200): the image call bills 800 + 100 +
    // 40, the caption (1,050 + the image prompt's 100 visible tokens) 1,150 + 100 + 40.
    let mut i = input(Arrivals::Burst { posts: 10 }, 10_000_000, Strategy::Sdk);
    i.reasoning = reasoning(40);
    let (r, _) = simulate(&i);
    let m = r.summarize(None, 10);
    assert_eq!(m.posts.ok, 10);
    assert_eq!(m.tokens.total.total(), 10 * (940 + 1_290));
    assert_eq!(m.tokens.total.completion, 10 * 2 * 140);
}

#[test]
fn an_answer_whose_reasoning_used_max_tokens_fails_its_post_and_is_billed() {
    // 150 reasoning tokens reach the image call's cap of 150: `length` with no visible token.
    // The post fails (an empty answer, no caption is sent) and its 800 + 150 billed tokens are wasted.
    let mut i = input(Arrivals::Burst { posts: 10 }, 10_000_000, Strategy::Sdk);
    i.reasoning = reasoning(150);
    let (r, extra) = simulate(&i);
    let m = r.summarize(None, 10);
    assert_eq!(m.posts.ok, 0);
    assert_eq!(
        m.posts.failed_by_cause.get(&FailureCause::EmptyAnswer),
        Some(&10)
    );
    assert_eq!(m.tokens.total.total(), 10 * 950);
    assert_eq!(extra.wasted_tokens, 10 * 950);
    // No caption was answered, so no first caption token was recorded.
    assert_eq!(m.first_caption_token_ms, None);
}

/// One post whose every call takes `latency_ms`, unlimited, at `strategy`, with the SDK's
/// 600 s timeout.
fn slow_post(latency_ms: u64, strategy: Strategy) -> crate::metrics::Measured {
    let mut i = input(Arrivals::Burst { posts: 1 }, 1_000_000_000, strategy);
    i.profile = Profile::Fixed {
        as_of: String::new(),
        source: String::new(),
        latency_ms,
        completion_tokens: 100,
    };
    assert_eq!(i.request_timeout, Duration::from_secs(600));
    let (r, _) = simulate(&i);
    r.summarize(None, 1)
}

#[test]
fn a_call_slower_than_the_request_timeout_times_out_as_the_run_does() {
    // Every call takes 700 s, past the SDK's 600 s. Attempt 1 (at 0 s) times out at 600 s and
    // waits the SDK's first delay, 0.5 s × (1 - 0.25 u), 0.375 to 0.5 s; attempt 2 times out
    // 600 s later and waits 1 s × (1 - 0.25 u), 0.75 to 1 s; attempt 3 times out 600 s later:
    // both retries spent, the post fails with a timeout at 1,801.125 to 1,801.5 s after 3
    // attempts. (Before, the planner waited out both calls: a success at 1,400 s.) At 1.8e9 µs
    // the histogram's buckets are 2^20 µs wide: the figure is within 0.53 s of the truth.
    let m = slow_post(700_000, Strategy::Sdk);
    assert_eq!((m.posts.ok, m.posts.failed), (0, 1));
    assert_eq!(m.posts.failed_by_cause[&FailureCause::Timeout], 1);
    assert_eq!(
        (m.calls.calls, m.calls.attempts, m.calls.retries),
        (1, 3, 2)
    );
    let s = m.post_latency_ms.failed.max.unwrap() / 1000.0;
    assert!((1_800.59..=1_802.03).contains(&s), "{s}");
    assert_eq!(m.post_latency_ms.ok.count, 0);
    // Just under the timeout, both calls answer: 2 × 599 s = 1,198 s.
    let m = slow_post(599_000, Strategy::Sdk);
    assert_eq!((m.posts.ok, m.calls.attempts), (1, 2));
    let s = m.post_latency_ms.ok.max.unwrap() / 1000.0;
    assert!((1_197.4..=1_198.6).contains(&s), "{s}");
}

/// Parallel calls (the design lever): the caption goes beside the image prompt, without its
/// output, so with two fixed 1 s calls each post takes 1 s, not 2, and its caption's first
/// token (a fixed profile's first token is its whole answer) comes 1 s after its arrival.
/// Tokens: 100 × (800 + 100) for the images and 100 × (1,050 + 100) for the captions, which
/// carry no image prompt. Events: an arrival and two answers a post.
#[test]
fn parallel_calls_end_a_post_with_its_slower_call() {
    let mut i = input(Arrivals::Burst { posts: 100 }, 10_000_000, Strategy::Sdk);
    i.parallel = true;
    let (r, extra) = simulate(&i);
    let m = r.summarize(None, 100);
    assert_eq!((m.posts.ok, m.posts.failed, m.calls.calls), (100, 0, 200));
    let near = |v: Option<f64>| v.is_some_and(|v| (v - 1_000.0).abs() <= 1.0);
    assert!(
        near(m.post_latency_ms.ok.min) && near(m.post_latency_ms.ok.max),
        "{:?}",
        m.post_latency_ms.ok
    );
    let first = m.first_caption_token_ms.expect("recorded");
    assert_eq!(first.count, 100);
    assert!(near(first.min) && near(first.max), "{first:?}");
    assert_eq!(m.tokens.total.total(), 100 * 900 + 100 * 1_150);
    assert_eq!((extra.events, extra.wasted_tokens), (300, 0));
}

/// A parallel post whose caption can never fit (at 1,000 TPM the image's 950 reserved tokens
/// fit, the caption's 1,050 + 200 never do) fails when its caption gives up, after the image answered at 1 s: the post fails for
/// rate limits, its image's 900 billed tokens are wasted, and no first caption token is
/// recorded. The post ends with the later call, the caption's third attempt after waits of
/// 0.375–0.5 s and 0.75–1.0 s: at 1.125–1.5 s.
#[test]
fn a_parallel_posts_caption_giving_up_fails_it_and_wastes_the_images_tokens() {
    let mut i = input(Arrivals::Burst { posts: 1 }, 1_000, Strategy::Sdk);
    i.parallel = true;
    let (r, extra) = simulate(&i);
    let m = r.summarize(None, 1);
    assert_eq!((m.posts.ok, m.posts.failed), (0, 1));
    assert_eq!(m.posts.failed_by_cause[&FailureCause::RateLimited], 1);
    assert_eq!(extra.wasted_tokens, 900);
    assert!(m.first_caption_token_ms.is_none_or(|p| p.count == 0));
    let end = m.post_latency_ms.failed.max.expect("a failed post");
    assert!((1_125.0..=1_502.0).contains(&end), "{end}");
}

/// A parallel post's caption draws from its own streams (its attempts count from
/// `PARALLEL_CAPTION_ATTEMPTS`), not the image prompt's: each post takes the slower of the image
/// call (attempt 1, 800 prompt tokens) and the caption (attempt 1,025, 1,050 tokens: it carries
/// no image prompt), each drawn by hand with the stub's `serve` as above.
#[test]
fn a_parallel_caption_draws_from_its_own_streams() {
    let c = Catalog::embedded();
    let mut i = input(Arrivals::Burst { posts: 400 }, 100_000_000, Strategy::Sdk);
    i.profile = c.profiles[&c.model("gpt-4o").unwrap().profile].clone();
    i.parallel = true;
    let (r, _) = simulate(&i);
    let m = r.summarize(None, 400);
    let mut limiter = RateLimiter::new(i.limits, i.rejected_cost, Duration::ZERO);
    let mut by_hand: Vec<f64> = (0..400u64)
        .map(|p| {
            let (_, image) = by_hand_call(&i, &mut limiter, p, 1, 800, 150);
            let caption_attempt = PARALLEL_CAPTION_ATTEMPTS + 1;
            let (_, caption) = by_hand_call(&i, &mut limiter, p, caption_attempt, 1_050, 200);
            image.max(caption).as_secs_f64() * 1000.0
        })
        .collect();
    by_hand.sort_by(f64::total_cmp);
    let near = |got: Option<f64>, want: f64| (got.unwrap() - want).abs() <= want * 0.001;
    let ok = &m.post_latency_ms.ok;
    assert!(near(ok.p50, by_hand[199]), "{:?} {}", ok.p50, by_hand[199]);
    assert!(near(ok.max, by_hand[399]), "{:?} {}", ok.max, by_hand[399]);
}

/// A sequential post's caption that times out is sent again as a caption, not taken for
/// answered (its event still said "answered" from the image call). A profile without spread:
/// first token at 100 ms, 10 tokens/s, every answer its max_tokens, no prompt reading time. The
/// image call (150 tokens) takes 0.1 + 14.9 = 15 s, under the 17.5 s timeout; the caption (200
/// tokens) 0.1 + 19.9 = 20 s, over it, every time: after its 3 attempts the post fails with a
/// timeout (1 image attempt + 3 caption attempts).
#[test]
fn a_timed_out_caption_is_retried_as_a_caption() {
    let mut i = input(Arrivals::Burst { posts: 1 }, 100_000_000, Strategy::Sdk);
    i.profile = Profile::HeavyTail {
        as_of: String::new(),
        source: String::new(),
        ttft_ms: crate::openai::latency::TtftPercentiles {
            p50: 100.0,
            p95: 100.0,
            p99: 100.0,
            p99_99: 100.0,
        },
        output_tokens_per_s: crate::openai::latency::Range {
            min: 10.0,
            max: 10.0,
        },
        prompt_tokens_per_output_token: 1e12,
        completion_tokens: crate::openai::latency::LengthDist {
            median: 1_000,
            sigma: 0.0,
            min: 1_000,
            max: 1_000,
        },
    };
    i.request_timeout = Duration::from_millis(17_500);
    let (r, _) = simulate(&i);
    let m = r.summarize(None, 1);
    assert_eq!((m.posts.ok, m.posts.failed), (0, 1));
    assert_eq!(m.posts.failed_by_cause[&FailureCause::Timeout], 1);
    assert_eq!((m.calls.attempts, m.calls.retries), (4, 2));
}

/// A parallel post's first caption token counts from its own arrival, as a sequential post's
/// does: over a day of arrivals, two fixed 1 s calls at once, each post's first caption token
/// (a fixed profile's whole answer) comes 1 s after it arrives.
#[test]
fn a_parallel_posts_first_caption_token_counts_from_its_own_arrival() {
    let arrivals = Arrivals::Daily {
        posts_per_day: 500.0,
        days: 1.0,
        curve: BUSINESS_DAY.to_vec(),
    };
    let mut i = input(arrivals, 100_000_000, Strategy::Sdk);
    i.parallel = true;
    let (r, _) = simulate(&i);
    let m = r.summarize(None, 500);
    let first = m.first_caption_token_ms.expect("recorded");
    let near = |v: Option<f64>| v.is_some_and(|v| (v - 1_000.0).abs() <= 1.0);
    assert!(
        first.count > 0 && near(first.min) && near(first.max),
        "{first:?}"
    );
}
