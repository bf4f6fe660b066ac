//! The planner's discrete-event simulation: posts arrive (a burst, or a day's Poisson stream
//! under a daily curve), make their calls through the same [`serve`](crate::openai::world::serve) the stub uses (its
//! [`serve_reasoning`] form for a reasoning model) (same buckets,
//! same latency and length draws), back off by the same [`RetryPolicy`] the run uses, or wait in
//! a client-side token-bucket queue, and are folded into the same [`Recorder`] as live posts. No
//! clock, no I/O: time is a number in the event queue, randomness comes from the seed.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::Rng;

use self::daily::DailyStream;
pub use self::daily::BUSINESS_DAY;
use super::queue::RadixQueue;
use crate::metrics::cost::Tokens;
use crate::metrics::{CallEnd, CallKind, FailureCause, PostEnd, Recorder};
use crate::openai::bucket::{RateLimiter, RejectedCost};
use crate::openai::latency::CallTiming;
use crate::openai::retry::{AttemptOutcome, RetryPolicy};
use crate::openai::world::{
    cached_tokens, client_stream, draw_prompt_cache_hit, draw_rng, post_choices, post_stream,
    serve_reasoning, CallRequest, Faults, Served, PARALLEL_CAPTION_ATTEMPTS,
};

mod daily;
mod io;

pub use self::io::{Arrivals, PostShape, SimExtra, SimInput, SimOutput, Strategy, REQUEST_TIMEOUT};
/// The parts of a post whose calls went at once, until the second ends.
#[derive(Debug, Clone, Copy)]
struct Join {
    remaining: u8,
    first_send: u64,
    rate_limit_backoff: u64,
    failure: Option<FailureCause>,
    caption_first_token: u64,
}

/// What happens next. A post in flight is always in exactly one place: inside its one pending
/// event, or in the client's queue. So it travels with its event instead of living in a table
/// the event points into: a million-post burst then reads and writes the event queue in order,
/// where a table of a million posts was read at random (a cache and TLB miss per event, most of
/// the time of a burst with patient retries).
#[derive(Debug, Clone, Copy)]
enum Ev {
    /// Post `p` arrives.
    Arrive(u32),
    /// The post takes its next step (`Live::step`). One variant, not one per step, so the event
    /// is no larger than the post: the steps' tag sits in the post's spare bytes.
    Post(Live),
    /// The client-side queue may let its head go.
    Pump,
}

/// What a post in flight does at its event.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Step {
    /// Send its current call's next attempt (or queue it).
    #[default]
    Send,
    /// Its current call answered 200.
    Answered,
}

/// A post in flight, without heap parts: its attempts and calls go to the recorder as they
/// happen, not into per-post vectors. Times are nanoseconds of modelled time.
#[derive(Debug, Clone, Copy, Default)]
struct Live {
    /// The post's number (its random streams).
    post: u32,
    step: Step,
    kind: Option<CallKind>,
    /// Failed attempts of the current call (at most the policy's retries + 1).
    retry: u8,
    /// Attempts of the post so far (the index of its next random stream).
    attempts: u16,
    prompt_tokens: u32,
    /// The answered call's visible completion tokens, hidden reasoning tokens (a reasoning
    /// model's, billed as completion tokens) and cached tokens, until `Answered`. (The call's
    /// `max_tokens` follows from its kind and the shape: see [`Live::max_tokens`].)
    pending_completion: u32,
    pending_reasoning: u32,
    pending_cached: u32,
    intended: u64,
    /// The post's first send; `u64::MAX` until then.
    first_send: u64,
    /// The current call's first send.
    call_started: u64,
    /// Backoff after 429s over the post's calls.
    rate_limit_backoff: u64,
}

// An event is a post and its time: keep it small.
const _: () = assert!(std::mem::size_of::<(u64, Ev)>() == 72);

impl Live {
    fn kind(&self) -> CallKind {
        self.kind.expect("a live post has a current call")
    }
    /// The current call's `max_tokens` (`max_completion_tokens` for a reasoning model).
    fn max_tokens(&self, shape: &PostShape) -> u32 {
        match self.kind() {
            CallKind::Caption => shape.caption_max_tokens,
            _ => shape.image_max_tokens,
        }
    }
    fn reserve(&self, shape: &PostShape) -> u64 {
        (self.prompt_tokens + self.max_tokens(shape)) as u64
    }
    /// A reasoning model's answer whose reasoning used the whole `max_tokens`: `length` with
    /// empty content, billed but of no use to the post.
    fn empty(&self) -> bool {
        self.pending_completion == 0 && self.pending_reasoning > 0
    }
}

fn rng_for(seed: u64, post: u32, draw: u32) -> SmallRng {
    draw_rng(seed, post_stream(post as u64, draw))
}

fn ns(d: Duration) -> u64 {
    d.as_nanos() as u64
}

fn dur(ns: u64) -> Duration {
    Duration::from_nanos(ns)
}

/// The simulation's state: the event queue, OpenAI's buckets, the client's bucket and queue,
/// the live posts and the recorder they are folded into.
struct Sim<'a> {
    input: &'a SimInput,
    retry: RetryPolicy,
    faults: Faults,
    events: RadixQueue<Ev>,
    server: RateLimiter,
    /// The client's own bucket (`Strategy::Queue`) never charges a refusal: it only decides
    /// when to send.
    client: RateLimiter,
    queue: VecDeque<Live>,
    pump_pending: bool,
    daily: Option<DailyStream>,
    /// A trace's arrivals and speed.
    trace: Option<(&'a crate::scenario::trace::Trace, f64)>,
    /// The next post number of a daily stream or a trace.
    next_post: u32,
    recorder: Recorder,
    extra: SimExtra,
    /// Posts whose calls went at once, by post number, while in flight.
    joins: HashMap<u32, Join>,
    /// Tokens billed for a post's answered calls, indexed by post number, until the post ends:
    /// wasted if it fails. Kept here, split as a price reads them (prompt, cached, completion),
    /// not in the post's event, which stays small (see the size check on `Ev`); a vector, not
    /// a map, because every answered call touches it (a hashed table doubled the time of a
    /// million-post queued burst). At most 24 bytes × a cell's posts (1,000,000: 24 MB).
    billed: Vec<Tokens>,
}

/// Runs the simulation and folds every post into a recorder (created for the pipeline's calls).
pub fn simulate(input: &SimInput) -> (Recorder, SimExtra) {
    let out = run(input);
    (out.recorder, out.extra)
}

/// Runs the simulation: the recorder, the counts, and the times to the first caption token.
pub fn run(input: &SimInput) -> SimOutput {
    let mut sim = Sim {
        input,
        retry: input.strategy.retry(),
        faults: Faults::default(),
        events: RadixQueue::default(),
        server: RateLimiter::new(input.limits, input.rejected_cost, Duration::ZERO),
        client: RateLimiter::new(input.limits, RejectedCost::Nothing, Duration::ZERO),
        queue: VecDeque::new(),
        pump_pending: false,
        daily: match &input.arrivals {
            Arrivals::Burst { .. } => None,
            Arrivals::Daily {
                posts_per_day,
                days,
                curve,
            } => Some(DailyStream::new(*posts_per_day, *days, curve, input.seed)),
            Arrivals::Trace { .. } => None,
        },
        trace: match &input.arrivals {
            Arrivals::Trace { trace, speed } => Some((trace.as_ref(), *speed)),
            _ => None,
        },
        next_post: 0,
        recorder: Recorder::new(Duration::from_millis(10)),
        extra: SimExtra::default(),
        joins: HashMap::new(),
        billed: Vec::new(),
    };
    match &input.arrivals {
        Arrivals::Burst { posts } => {
            // Simultaneous events leave the queue last in, first out: pushed from the last post
            // down, the burst's posts send in their numbers' order, as the live harness's users
            // do (each takes the next number as it is released, and sends).
            for p in (0..*posts as u32).rev() {
                sim.push(0, Ev::Arrive(p));
            }
        }
        Arrivals::Daily { .. } | Arrivals::Trace { .. } => sim.schedule_next(),
    }
    while let Some((now, ev)) = sim.events.pop() {
        sim.extra.events += 1;
        match ev {
            Ev::Arrive(p) => sim.arrive(p, now),
            Ev::Post(live) => match live.step {
                Step::Send => sim.send_or_queue(live, now),
                Step::Answered => sim.answered(live, now),
            },
            Ev::Pump => sim.pump(now),
        }
    }
    SimOutput {
        recorder: sim.recorder,
        extra: sim.extra,
    }
}

impl Sim<'_> {
    fn push(&mut self, at_ns: u64, ev: Ev) {
        self.events.push(at_ns, ev);
    }

    fn schedule_arrival(&mut self, at: Duration) {
        let p = self.next_post;
        self.next_post += 1;
        self.push(ns(at), Ev::Arrive(p));
    }

    /// A daily stream's or a trace's next arrival, if any: one at a time, so the queue never
    /// holds a day's posts at once.
    fn schedule_next(&mut self) {
        let next = match self.trace {
            Some((trace, speed)) => trace.scheduled(self.next_post as usize, speed),
            None => self.daily.as_mut().and_then(DailyStream::next),
        };
        if let Some(t) = next {
            self.schedule_arrival(t);
        }
    }

    fn arrive(&mut self, p: u32, now: u64) {
        if self.daily.is_some() || self.trace.is_some() {
            self.schedule_next();
        }
        let input = self.input;
        let shape = input.shape;
        let (cached, drawn_own) = post_choices(
            input.seed,
            p as u64,
            input.response_cache_hit,
            shape.image_prompt_share,
        );
        // A trace with an `image_prompt` column says which posts bring their own.
        let own = self
            .trace
            .and_then(|(t, _)| t.brings_own(p as u64))
            .unwrap_or(drawn_own);
        if cached {
            self.extra.response_cache_hits += 1;
            self.recorder.record_post(&PostEnd {
                intended: dur(now),
                first_send: dur(now),
                finished: dur(now) + input.response_cache_latency,
                failure: None,
                rate_limit_backoff: Duration::ZERO,
            });
            self.record_first_caption_token(ns(input.response_cache_latency));
            return;
        }
        let (kind, prompt_tokens) = if own {
            (
                CallKind::Caption,
                shape.caption_base_tokens + shape.own_image_prompt_tokens,
            )
        } else {
            (CallKind::ImagePrompt, shape.image_prompt_tokens)
        };
        let live = Live {
            post: p,
            kind: Some(kind),
            prompt_tokens,
            intended: now,
            first_send: u64::MAX,
            ..Live::default()
        };
        if input.parallel && !own {
            // The caption goes beside the image prompt, without it, on its own draw streams.
            let caption = Live {
                kind: Some(CallKind::Caption),
                prompt_tokens: shape.caption_base_tokens,
                attempts: PARALLEL_CAPTION_ATTEMPTS as u16,
                ..live
            };
            self.joins.insert(
                p,
                Join {
                    remaining: 2,
                    first_send: u64::MAX,
                    rate_limit_backoff: 0,
                    failure: None,
                    caption_first_token: 0,
                },
            );
            self.send_or_queue(live, now);
            self.send_or_queue(caption, now);
            return;
        }
        // Sent at once: the event would be the next one out anyway (same time, last in).
        self.send_or_queue(live, now);
    }

    /// The caption's first token comes at `first_token`. A sequential post can no longer fail
    /// once its caption is answered: its time is recorded now. A parallel post's waits for its
    /// other call.
    fn caption_answered(&mut self, live: &Live, first_token: u64) {
        if self.input.parallel {
            if let Some(join) = self.joins.get_mut(&live.post) {
                join.caption_first_token = first_token;
                return;
            }
        }
        self.record_first_caption_token(first_token - live.intended);
    }

    fn record_first_caption_token(&mut self, since_arrival_ns: u64) {
        self.recorder
            .record_first_caption_token(dur(since_arrival_ns));
    }

    fn send_or_queue(&mut self, live: Live, now: u64) {
        if self.input.strategy == Strategy::Queue && live.retry == 0 {
            // First attempts go through the client's bucket in order.
            let fits = self.queue.is_empty()
                && self
                    .client
                    .admit(dur(now), live.reserve(&self.input.shape))
                    .is_ok();
            if !fits {
                self.queue.push_back(live);
                if !self.pump_pending {
                    self.pump_pending = true;
                    self.push(now, Ev::Pump);
                }
                return;
            }
        }
        self.send(live, now);
    }

    fn pump(&mut self, now: u64) {
        self.pump_pending = false;
        while let Some(head) = self.queue.front() {
            match self.client.admit(dur(now), head.reserve(&self.input.shape)) {
                Ok(()) => {
                    let live = self.queue.pop_front().expect("the head");
                    self.send(live, now);
                }
                Err(rejection) => match rejection.wait() {
                    Some(wait) => {
                        self.pump_pending = true;
                        let at = now + ns(wait.max(Duration::from_micros(1)));
                        self.push(at, Ev::Pump);
                        return;
                    }
                    None => {
                        // Larger than the whole limit: it can never go.
                        let mut live = self.queue.pop_front().expect("the head");
                        live.call_started = now;
                        self.give_up(&live, now, FailureCause::RateLimited);
                    }
                },
            }
        }
    }

    /// Sends the post's current call now and schedules what follows.
    fn send(&mut self, mut live: Live, now: u64) {
        let input = self.input;
        if live.retry == 0 {
            live.call_started = now;
        }
        live.first_send = live.first_send.min(now);
        live.attempts += 1;
        let mut rng = rng_for(input.seed, live.post, live.attempts as u32);
        let req = CallRequest {
            reserve: live.reserve(&input.shape),
            prompt_tokens: live.prompt_tokens,
            max_tokens: Some(live.max_tokens(&input.shape)),
            n: 1,
        };
        let served = serve_reasoning(
            &mut self.server,
            dur(now),
            &req,
            &input.profile,
            input.reasoning.as_ref(),
            &self.faults,
            &mut rng,
        );
        // The client gives up on an answer slower than its timeout (OpenAI still counted the
        // request against the limits): no status, as the run records a timeout.
        let timeout = ns(input.request_timeout);
        if matches!(&served, Served::Ok { timing, .. } if ns(timing.total) > timeout) {
            self.recorder.record_attempt(dur(now), None, req.reserve);
            self.timed_out(live, now + timeout);
            return;
        }
        let reasoning = served.reasoning_tokens();
        let status = match &served {
            Served::Ok { .. } => 200,
            Served::RateLimited(_) => 429,
            Served::ServerError => 500,
            Served::Overloaded => 503,
        };
        self.recorder
            .record_attempt(dur(now), Some(status), req.reserve);
        match served {
            Served::Ok {
                completion_tokens,
                timing,
                ..
            } => self.served_ok(
                live,
                now,
                completion_tokens - reasoning,
                reasoning,
                timing,
                &mut rng,
            ),
            _ => self.failed(live, now, status),
        }
    }

    /// The attempt sent at `now` was answered with `visible` completion and `reasoning` tokens
    /// after `timing`: its cached share drawn, and the answer scheduled.
    fn served_ok(
        &mut self,
        mut live: Live,
        now: u64,
        visible: u32,
        reasoning: u32,
        timing: CallTiming,
        rng: &mut SmallRng,
    ) {
        let input = self.input;
        live.pending_completion = visible;
        live.pending_reasoning = reasoning;
        // Calls whose shared prefix (the system prompt and brand memory, not the image
        // prompt a caption carries) is in OpenAI's cache bill it at the cached price.
        let shared = match live.kind() {
            CallKind::Caption => input.shape.caption_base_tokens,
            _ => live.prompt_tokens,
        };
        let hit = draw_prompt_cache_hit(rng, input.prompt_cache_hit);
        if live.kind() == CallKind::Caption && !live.empty() {
            self.caption_answered(&live, now + ns(timing.ttft));
        }
        live.pending_cached = cached_tokens(live.prompt_tokens, shared, hit);
        self.push(
            now + ns(timing.total),
            Ev::Post(Live {
                step: Step::Answered,
                ..live
            }),
        );
    }

    /// The attempt sent at `now` failed with `status`: retried after the policy's delay, or the
    /// post given up.
    fn failed(&mut self, mut live: Live, now: u64, status: u16) {
        let input = self.input;
        live.retry += 1;
        let outcome = AttemptOutcome::Status {
            code: status,
            retry_after: None,
            should_retry: None,
        };
        let jitter = draw_rng(
            input.seed,
            client_stream(live.post as u64, live.attempts as u32),
        )
        .random();
        match self.retry.next_delay(live.retry as u32, &outcome, jitter) {
            Some(d) => {
                if status == 429 {
                    live.rate_limit_backoff += ns(d);
                }
                self.push(
                    now + ns(d),
                    Ev::Post(Live {
                        step: Step::Send,
                        ..live
                    }),
                );
            }
            None => {
                let cause = if status == 429 {
                    FailureCause::RateLimited
                } else {
                    FailureCause::ServerError
                };
                self.give_up(&live, now, cause);
            }
        }
    }

    /// The current call's attempt timed out at `now`: retried after the policy's delay (the
    /// SDK retries timeouts), or the post fails with a timeout.
    fn timed_out(&mut self, mut live: Live, now: u64) {
        live.retry += 1;
        let jitter = draw_rng(
            self.input.seed,
            client_stream(live.post as u64, live.attempts as u32),
        )
        .random();
        match self
            .retry
            .next_delay(live.retry as u32, &AttemptOutcome::Timeout, jitter)
        {
            Some(d) => self.push(
                now + ns(d),
                Ev::Post(Live {
                    step: Step::Send,
                    ..live
                }),
            ),
            None => self.give_up(&live, now, FailureCause::Timeout),
        }
    }

    fn answered(&mut self, mut live: Live, now: u64) {
        let usage = Tokens {
            prompt: live.prompt_tokens as u64,
            cached: live.pending_cached as u64,
            completion: (live.pending_completion + live.pending_reasoning) as u64,
        };
        let post = live.post as usize;
        if post >= self.billed.len() {
            self.billed.resize(post + 1, Tokens::default());
        }
        self.billed[post].add(usage);
        let kind = live.kind();
        // An empty answer (the reasoning used the whole max_tokens) is billed but leaves the
        // post without its text: the post fails, as a client that finds no content fails it.
        let empty = live.empty();
        self.recorder.record_call(&CallEnd {
            kind,
            started: dur(live.call_started),
            finished: dur(now),
            attempts: live.retry as u32 + 1,
            usage: Some(usage),
            bad_usage: false,
            model: None,
            failed: empty,
        });
        if empty {
            self.end(&live, now, Some(FailureCause::EmptyAnswer));
            return;
        }
        if kind == CallKind::ImagePrompt
            && !(self.input.parallel && self.joins.contains_key(&live.post))
        {
            let shape = self.input.shape;
            live.kind = Some(CallKind::Caption);
            live.prompt_tokens = shape.caption_base_tokens + live.pending_completion;
            live.retry = 0;
            // The caption goes at once (as in `arrive`).
            self.send_or_queue(live, now);
        } else {
            self.end(&live, now, None);
        }
    }

    /// The post's current call failed for good, and with it the post.
    fn give_up(&mut self, live: &Live, now: u64, cause: FailureCause) {
        self.recorder.record_call(&CallEnd {
            kind: live.kind(),
            started: dur(live.call_started),
            finished: dur(now),
            attempts: live.retry as u32,
            usage: None,
            bad_usage: false,
            model: None,
            failed: true,
        });
        self.end(live, now, Some(cause));
    }

    /// A post ended: its billed tokens leave the table and, if it failed, are wasted (in the
    /// recorder, split for pricing, as a live run attributes them).
    fn settle_billed(&mut self, post: u32, failed: bool) {
        let billed = self
            .billed
            .get_mut(post as usize)
            .map(std::mem::take)
            .unwrap_or_default();
        if failed {
            self.extra.wasted_tokens += billed.total();
            self.recorder.attribute_failed(billed);
        }
    }

    /// The post's last call ended (`failure`: it failed for good). A post whose calls went at
    /// once ends with its second call: the first to fail names the failure, the waits behind
    /// 429s overlap (the longer counts), and every billed token is wasted if it failed.
    fn end(&mut self, live: &Live, now: u64, failure: Option<FailureCause>) {
        let join = match self.input.parallel {
            true => self.joins.get_mut(&live.post),
            false => None,
        };
        let Some(join) = join else {
            self.settle_billed(live.post, failure.is_some());
            self.finish(live, live.first_send, live.rate_limit_backoff, now, failure);
            return;
        };
        join.remaining -= 1;
        join.first_send = join.first_send.min(live.first_send);
        join.rate_limit_backoff = join.rate_limit_backoff.max(live.rate_limit_backoff);
        join.failure = join.failure.or(failure);
        if join.remaining > 0 {
            return;
        }
        let join = self.joins.remove(&live.post).expect("just seen");
        self.settle_billed(live.post, join.failure.is_some());
        if join.failure.is_none() {
            self.record_first_caption_token(join.caption_first_token - live.intended);
        }
        self.finish(
            live,
            join.first_send,
            join.rate_limit_backoff,
            now,
            join.failure,
        );
    }

    fn finish(
        &mut self,
        live: &Live,
        first_send: u64,
        rate_limit_backoff: u64,
        now: u64,
        failure: Option<FailureCause>,
    ) {
        self.recorder.record_post(&PostEnd {
            intended: dur(live.intended),
            first_send: dur(if first_send == u64::MAX {
                live.intended
            } else {
                first_send
            }),
            finished: dur(now),
            failure,
            rate_limit_backoff: dur(rate_limit_backoff),
        });
    }
}

#[cfg(test)]
mod tests;
