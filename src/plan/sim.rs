//! The planner's discrete-event simulation: posts arrive (a burst, or a day's Poisson stream
//! under a daily curve), make their calls through the same [`serve`] the stub uses (same buckets,
//! same latency and length draws), back off by the same [`RetryPolicy`] the run uses, or wait in
//! a client-side token-bucket queue, and are folded into the same [`Recorder`] as live posts. No
//! clock, no I/O: time is a number in the event queue, randomness comes from the seed.

use std::collections::VecDeque;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::queue::RadixQueue;
use crate::metrics::cost::Tokens;
use crate::metrics::{Attempt, CallKind, CallRecord, FailureCause, PostRecord, Recorder};
use crate::openai::bucket::{Limits, RateLimiter, RejectedCost};
use crate::openai::latency::Profile;
use crate::openai::retry::{AttemptOutcome, RetryPolicy};
use crate::openai::world::{cached_tokens, serve, CallRequest, Faults, Served};

/// How the client behaves when OpenAI says 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// The official SDK's retries (2, 0.5 s then 1 s).
    Sdk,
    /// The cookbook's patient retries (up to 5, random 1-60 s).
    Patient,
    /// A client-side token bucket with the tier's limits: calls wait in a FIFO queue until they
    /// fit, then go (with the SDK's retries behind it). The note's "request queuing".
    Queue,
}

impl Strategy {
    fn retry(self) -> RetryPolicy {
        match self {
            Strategy::Patient => RetryPolicy::Patient,
            Strategy::Sdk | Strategy::Queue => RetryPolicy::Sdk,
        }
    }
}

/// When posts arrive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrivals {
    /// Every post at time zero.
    Burst { posts: u64 },
    /// A Poisson stream over `days` days whose hourly rates follow `curve` (24 weights).
    Daily {
        posts_per_day: f64,
        days: f64,
        curve: Vec<f64>,
    },
}

/// One post's calls: prompt tokens, completion caps and what prompt caching can reuse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostShape {
    pub image_prompt_tokens: u32,
    pub image_max_tokens: u32,
    /// The caption prompt without the image prompt it carries.
    pub caption_base_tokens: u32,
    pub caption_max_tokens: u32,
    /// Share of posts that bring their own image prompt (one call).
    pub image_prompt_share: f64,
    /// Tokens of a post-supplied image prompt.
    pub own_image_prompt_tokens: u32,
}

/// Everything one simulation needs.
#[derive(Debug, Clone)]
pub struct SimInput {
    pub limits: Limits,
    pub rejected_cost: RejectedCost,
    pub profile: Profile,
    pub shape: PostShape,
    pub arrivals: Arrivals,
    pub strategy: Strategy,
    /// Share of posts answered from the service's response cache (no OpenAI call).
    pub response_cache_hit: f64,
    /// Latency of a cached answer.
    pub response_cache_latency: Duration,
    /// Share of eligible calls (prompt ≥ 1,024 tokens) whose shared prefix is in OpenAI's cache.
    pub prompt_cache_hit: f64,
    pub seed: u64,
}

/// What the simulation adds to the recorder's figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SimExtra {
    /// Tokens billed for calls of posts that failed in the end (paid for, no post).
    pub wasted_tokens: u64,
    /// Posts answered from the response cache.
    pub response_cache_hits: u64,
    /// Events processed (for the benchmark).
    pub events: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// Post `p` arrives.
    Arrive(u32),
    /// The post in slot `s` sends its current call's next attempt (or queues it).
    Send(u32),
    /// The post in slot `s`'s current call answered 200.
    Answered(u32),
    /// The client-side queue may let its head go.
    Pump,
}

struct Live {
    /// The post's number (its random streams), not its slot.
    post: u32,
    intended: Duration,
    calls: Vec<CallRecord>,
    kind: CallKind,
    prompt_tokens: u32,
    max_tokens: u32,
    /// The answered call's usage, until `Answered`.
    pending: Option<Tokens>,
    image_completion: u32,
    retry: u32,
    attempts: u32,
}

/// Live posts by slot; finished posts free their slot, so a day-long stream holds only the posts
/// in flight, not one entry per post.
#[derive(Default)]
struct Slab {
    items: Vec<Option<Live>>,
    free: Vec<u32>,
}

impl Slab {
    fn insert(&mut self, live: Live) -> u32 {
        match self.free.pop() {
            Some(s) => {
                self.items[s as usize] = Some(live);
                s
            }
            None => {
                self.items.push(Some(live));
                (self.items.len() - 1) as u32
            }
        }
    }
    fn get(&self, s: u32) -> &Live {
        self.items[s as usize].as_ref().expect("a live post")
    }
    fn get_mut(&mut self, s: u32) -> &mut Live {
        self.items[s as usize].as_mut().expect("a live post")
    }
    fn take(&mut self, s: u32) -> Live {
        self.free.push(s);
        self.items[s as usize].take().expect("a live post")
    }
}

/// A splitmix64 step: independent, cheap streams per (seed, post, attempt).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn rng_for(seed: u64, post: u32, draw: u32) -> SmallRng {
    SmallRng::seed_from_u64(mix(seed ^ mix(((post as u64) << 20) | draw as u64)))
}

/// Runs the simulation and folds every post into `recorder` (created for the pipeline's calls).
pub fn simulate(input: &SimInput) -> (Recorder, SimExtra) {
    let mut recorder = Recorder::new(Duration::from_millis(10));
    let mut extra = SimExtra::default();
    let mut server = RateLimiter::new(input.limits, input.rejected_cost, Duration::ZERO);
    // The client's own bucket never charges a refusal: it only decides when to send.
    let mut client = RateLimiter::new(input.limits, RejectedCost::Nothing, Duration::ZERO);
    let mut queue: VecDeque<u32> = VecDeque::new();
    let mut pump_at: Option<Duration> = None;
    let retry = input.strategy.retry();
    let faults = Faults::default();
    let shape = input.shape;

    let mut events: Events = RadixQueue::default();
    let mut push = |events: &mut Events, t: Duration, ev: Ev| {
        events.push(t.as_nanos() as u64, ev);
    };

    // Arrivals: a burst all at once; a day's stream drawn lazily, one arrival ahead.
    let mut arrival_rng = SmallRng::seed_from_u64(mix(input.seed ^ 0xa11));
    let mut posts = Slab::default();
    let mut next_arrival = 0u32;
    let mut daily_t = 0.0f64;
    let daily = match &input.arrivals {
        Arrivals::Burst { posts: n } => {
            for _ in 0..*n {
                push(&mut events, Duration::ZERO, Ev::Arrive(next_arrival));
                next_arrival += 1;
            }
            None
        }
        Arrivals::Daily {
            posts_per_day,
            days,
            curve,
        } => {
            let total: f64 = curve.iter().sum();
            let rates: Vec<f64> = curve
                .iter()
                .map(|w| posts_per_day * w / total.max(f64::MIN_POSITIVE) / 3600.0)
                .collect();
            Some((rates, days * 86_400.0))
        }
    };
    // The next arrival of a daily stream: thinning against the peak hourly rate.
    let draw_daily = |rng: &mut SmallRng, t: &mut f64| -> Option<Duration> {
        let (rates, end) = daily.as_ref()?;
        let peak = rates.iter().cloned().fold(0.0, f64::max);
        if peak <= 0.0 {
            return None;
        }
        loop {
            let u: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
            *t += -u.ln() / peak;
            if *t >= *end {
                return None;
            }
            let hour = ((*t / 3600.0) as usize) % 24;
            if rng.random::<f64>() * peak <= rates[hour] {
                return Some(Duration::from_secs_f64(*t));
            }
        }
    };
    if let Some(t) = draw_daily(&mut arrival_rng, &mut daily_t) {
        push(&mut events, t, Ev::Arrive(next_arrival));
        next_arrival += 1;
    }

    let reserve = |l: &Live| (l.prompt_tokens + l.max_tokens) as u64;
    while let Some((now_ns, ev)) = events.pop() {
        let now = Duration::from_nanos(now_ns);
        extra.events += 1;
        match ev {
            Ev::Arrive(p) => {
                if daily.is_some() {
                    if let Some(t) = draw_daily(&mut arrival_rng, &mut daily_t) {
                        push(&mut events, t, Ev::Arrive(next_arrival));
                        next_arrival += 1;
                    }
                }
                let mut rng = rng_for(input.seed, p, 0);
                if rng.random::<f64>() < input.response_cache_hit {
                    extra.response_cache_hits += 1;
                    recorder.record(&PostRecord {
                        intended: now,
                        calls: Vec::new(),
                        finished: now + input.response_cache_latency,
                        failure: None,
                    });
                    continue;
                }
                let own = rng.random::<f64>() < shape.image_prompt_share;
                let (kind, prompt, max, image_completion) = if own {
                    (
                        CallKind::Caption,
                        shape.caption_base_tokens + shape.own_image_prompt_tokens,
                        shape.caption_max_tokens,
                        shape.own_image_prompt_tokens,
                    )
                } else {
                    (
                        CallKind::ImagePrompt,
                        shape.image_prompt_tokens,
                        shape.image_max_tokens,
                        0,
                    )
                };
                let slot = posts.insert(Live {
                    post: p,
                    intended: now,
                    calls: Vec::with_capacity(2),
                    kind,
                    prompt_tokens: prompt,
                    max_tokens: max,
                    pending: None,
                    image_completion,
                    retry: 0,
                    attempts: 0,
                });
                push(&mut events, now, Ev::Send(slot));
            }
            Ev::Send(p) => {
                let live = posts.get_mut(p);
                if input.strategy == Strategy::Queue && live.retry == 0 {
                    // First attempts go through the client's bucket in order.
                    if queue.is_empty() && client.admit(now, reserve(live)).is_ok() {
                        // Fits now: send below.
                    } else {
                        queue.push_back(p);
                        if pump_at.is_none() {
                            pump_at = Some(now);
                            push(&mut events, now, Ev::Pump);
                        }
                        continue;
                    }
                }
                send(
                    p,
                    now,
                    input,
                    &mut server,
                    &retry,
                    &faults,
                    &mut posts,
                    &mut events,
                    &mut push,
                    &mut recorder,
                    &mut extra,
                );
            }
            Ev::Pump => {
                pump_at = None;
                while let Some(&head) = queue.front() {
                    let live = posts.get(head);
                    match client.admit(now, reserve(live)) {
                        Ok(()) => {
                            queue.pop_front();
                            send(
                                head,
                                now,
                                input,
                                &mut server,
                                &retry,
                                &faults,
                                &mut posts,
                                &mut events,
                                &mut push,
                                &mut recorder,
                                &mut extra,
                            );
                        }
                        Err(rejection) => match rejection.wait() {
                            Some(wait) => {
                                let at = now + wait.max(Duration::from_micros(1));
                                pump_at = Some(at);
                                push(&mut events, at, Ev::Pump);
                                break;
                            }
                            None => {
                                // Larger than the whole limit: it can never go.
                                queue.pop_front();
                                let mut live = posts.take(head);
                                live.calls.push(CallRecord {
                                    failure: Some(FailureCause::RateLimited),
                                    ..CallRecord::new(live.kind, now)
                                });
                                finish(
                                    live,
                                    now,
                                    Some(FailureCause::RateLimited),
                                    &mut recorder,
                                    &mut extra,
                                );
                            }
                        },
                    }
                }
            }
            Ev::Answered(p) => {
                let live = posts.get_mut(p);
                let call = live.calls.last_mut().expect("the answered call");
                call.finished = now;
                call.usage = live.pending.take();
                let completion = call.usage.map_or(0, |u| u.completion as u32);
                if live.kind == CallKind::ImagePrompt {
                    live.image_completion = completion;
                    live.kind = CallKind::Caption;
                    live.prompt_tokens = shape.caption_base_tokens + completion;
                    live.max_tokens = shape.caption_max_tokens;
                    live.retry = 0;
                    push(&mut events, now, Ev::Send(p));
                } else {
                    let live = posts.take(p);
                    finish(live, now, None, &mut recorder, &mut extra);
                }
            }
        }
    }
    (recorder, extra)
}

type Events = RadixQueue<Ev>;

/// Sends post `p`'s current call now and schedules what follows.
#[allow(clippy::too_many_arguments)]
fn send(
    p: u32,
    now: Duration,
    input: &SimInput,
    server: &mut RateLimiter,
    retry: &RetryPolicy,
    faults: &Faults,
    posts: &mut Slab,
    events: &mut Events,
    push: &mut impl FnMut(&mut Events, Duration, Ev),
    recorder: &mut Recorder,
    extra: &mut SimExtra,
) {
    let live = posts.get_mut(p);
    if live.retry == 0 {
        live.calls.push(CallRecord {
            // Room for every attempt the policy allows: no regrowth on the hot path.
            attempts: Vec::with_capacity(match input.strategy {
                Strategy::Patient => 6,
                _ => 3,
            }),
            ..CallRecord::new(live.kind, now)
        });
    }
    live.attempts += 1;
    let mut rng = rng_for(input.seed, live.post, live.attempts);
    let req = CallRequest {
        reserve: (live.prompt_tokens + live.max_tokens) as u64,
        prompt_tokens: live.prompt_tokens,
        max_tokens: Some(live.max_tokens),
        n: 1,
    };
    let served = serve(server, now, &req, &input.profile, faults, &mut rng);
    let status = match &served {
        Served::Ok { .. } => 200,
        Served::RateLimited(_) => 429,
        Served::ServerError => 500,
        Served::Overloaded => 503,
    };
    let call = live.calls.last_mut().expect("the current call");
    call.attempts.push(Attempt {
        sent: now,
        status: Some(status),
        reserved_tokens: req.reserve,
    });
    match served {
        Served::Ok {
            completion_tokens,
            timing,
            ..
        } => {
            // Calls whose shared prefix (the system prompt and brand memory, not the image
            // prompt a caption carries) is in OpenAI's cache bill it at the cached price.
            let shared = match live.kind {
                CallKind::Caption => input.shape.caption_base_tokens,
                _ => live.prompt_tokens,
            };
            let hit = rng.random::<f64>() < input.prompt_cache_hit;
            live.pending = Some(Tokens {
                prompt: live.prompt_tokens as u64,
                cached: cached_tokens(live.prompt_tokens, shared, hit) as u64,
                completion: completion_tokens as u64,
            });
            push(events, now + timing.total, Ev::Answered(p));
        }
        _ => {
            live.retry += 1;
            let outcome = AttemptOutcome::Status {
                code: status,
                retry_after: None,
                should_retry: None,
            };
            match retry.next_delay(live.retry, &outcome, rng.random()) {
                Some(d) => {
                    if status == 429 {
                        call.rate_limit_backoff += d;
                    } else {
                        call.other_backoff += d;
                    }
                    push(events, now + d, Ev::Send(p));
                }
                None => {
                    let cause = if status == 429 {
                        FailureCause::RateLimited
                    } else {
                        FailureCause::ServerError
                    };
                    call.failure = Some(cause);
                    call.finished = now;
                    let live = posts.take(p);
                    finish(live, now, Some(cause), recorder, extra);
                }
            }
        }
    }
}

fn finish(
    live: Live,
    now: Duration,
    failure: Option<FailureCause>,
    recorder: &mut Recorder,
    extra: &mut SimExtra,
) {
    if failure.is_some() {
        extra.wasted_tokens += live
            .calls
            .iter()
            .filter_map(|c| c.usage)
            .map(|u| u.total())
            .sum::<u64>();
    }
    recorder.record(&PostRecord {
        intended: live.intended,
        calls: live.calls,
        finished: now,
        failure,
    });
}

/// A marketing app's day: quiet at night, a morning peak around 9-11, steady afternoons and a
/// smaller evening bump (share of the day's posts per hour, local time). An assumption, not a
/// measurement: `--curve flat` spreads posts evenly.
pub const BUSINESS_DAY: [f64; 24] = [
    0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2.0, 4.0, 6.5, 8.5, 9.0, 8.0, 6.5, 7.0, 7.5, 7.0, 6.0, 5.0, 4.0,
    3.5, 3.0, 2.5, 2.0, 1.2,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::catalog::Catalog;

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
            seed: 1,
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
        assert_eq!(extra.events, 100 * 5);
    }

    #[test]
    fn the_tpm_bucket_admits_exactly_what_fits_and_the_sdk_gives_up() {
        // 30,000 TPM: 31 image calls reserve 950 each = 29,450; the 32nd does not fit.
        let (r, _) = simulate(&input(Arrivals::Burst { posts: 40 }, 30_000, Strategy::Sdk));
        let m = r.summarize(None, 40);
        assert!(m.calls.http_429 > 0);
        assert!(m.posts.failed > 0);
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

    #[test]
    fn uses_the_catalogs_profile_like_the_stub() {
        let c = Catalog::embedded();
        let mut i = input(Arrivals::Burst { posts: 2_000 }, 100_000_000, Strategy::Sdk);
        i.profile = c.profiles[&c.model("gpt-4o").unwrap().profile].clone();
        let (r, _) = simulate(&i);
        let m = r.summarize(None, 2_000);
        // Two heavy-tailed calls writing up to 150 and 200 tokens: several seconds.
        let p50 = m.post_latency_ms.ok.p50.unwrap();
        assert!((3_000.0..9_000.0).contains(&p50), "{p50}");
    }
}
