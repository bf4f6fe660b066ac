//! One post, as the team's service makes it: the image-prompt call (unless the post brings its own
//! image prompt), then the caption call, or with `parallel_calls` both at once, each retried by
//! the scenario's policy. Sent through Goose's user (so Goose's own report sees every attempt)
//! and timed here to the last byte of the response, from the post's intended start. Here the
//! case's shared context and the Goose users' loop; when posts are sent in `arrivals`, the spend
//! guard's reservations in `guard`, one call with its retries in `call`, the client's own
//! request queue (`client_queue`) in `queue`, service mode's post in `service`.

mod arrivals;
mod call;
mod guard;
mod queue;
mod service;

pub use self::arrivals::{Schedule, SendTimes, Start};
pub use self::guard::SpendGuard;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use goose::goose::{GooseUser, TransactionFunction};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use self::call::{PostDraws, Via};
use self::queue::{ClientQueue, Place};
use crate::clock::TimeScale;
use crate::limits::MAX_BODY_BYTES;
use crate::metrics::{CallKind, CallRecord, PostRecord, Recorder};
use crate::openai::bucket::Limits;
use crate::openai::retry::RetryPolicy;
use crate::openai::world::PARALLEL_CAPTION_ATTEMPTS;
use crate::run::progress::Tally;
use crate::scenario::prompts::{PostRequests, OWN_IMAGE_PROMPTS, OWN_IMAGE_PROMPT_TOKENS};
use crate::scenario::target::ServiceTarget;
use crate::scenario::Prompts;
use crate::secret::Secret;

/// A post as it starts: its number, its intended send time (since the case's origin), whether
/// it brings its own image prompt (the first draw of its stream), and the places in the
/// client's queue it took for its first calls (a burst's post, with `client_queue`).
#[derive(Debug, Clone, Copy)]
struct NewPost {
    i: u64,
    intended: Duration,
    brings_own: bool,
    places: [Option<Place>; 2],
}

/// What a post does.
#[derive(Debug)]
pub enum Work {
    /// The post pipeline: postload makes the service's two OpenAI calls itself.
    Pipeline {
        /// The bodies, built for the endpoint `url` names (`requests.api`).
        requests: PostRequests,
        /// `{base}/chat/completions` or `{base}/responses`.
        url: String,
        retry: RetryPolicy,
        /// Sent as `Authorization: Bearer` (marked sensitive); never logged.
        api_key: Option<Secret>,
        /// Send each attempt's draw stream (`x-stub-draw-stream`: post and attempt) to the
        /// embedded stub, so its draws are the planner's for the same seed.
        draw_streams: bool,
        /// Send a post's two calls at once (the scenario's `parallel_calls`).
        parallel_calls: bool,
    },
    /// Service mode: one request per post to the service under test.
    Service {
        target: Box<ServiceTarget>,
        model: String,
    },
}

/// Builds the case's HTTP client (no redirects, `--resolve`).
pub type ClientFactory = Arc<dyn Fn() -> reqwest::ClientBuilder + Send + Sync>;

/// The settings of one case's posts.
pub struct CaseSetup {
    pub work: Work,
    pub timeout: Duration,
    pub seed: u64,
    pub image_prompt_share: f64,
    /// The scenario's call sizes (service mode's worst case for the spend guard).
    pub prompts: Prompts,
    /// Goose users (they all meet at the start barrier).
    pub users: usize,
    pub start: Start,
    pub stop: Arc<AtomicBool>,
    pub guard: Option<Arc<SpendGuard>>,
    /// The client every Goose user of the case sends with, built once (as a service shares one
    /// OpenAI client); `None` keeps Goose's own per-user client.
    pub client: Option<reqwest::Client>,
    /// Modelled seconds per real second (`--time-scale`): waits are divided by it, measured
    /// times multiplied, so the results are in modelled time.
    pub time_scale: TimeScale,
    /// The scenario's `client_queue`: the limits of the client's own bucket (the case's tier's
    /// for its model), which every call's first attempt waits for; `None`: calls go at once.
    pub client_queue: Option<Limits>,
    /// A trace load's arrivals: post `i` brings its own image prompt as the trace says, and in
    /// service mode its business, topic, platform and image prompt fill the body template.
    pub trace: Option<Arc<crate::scenario::trace::Trace>>,
    /// `--shard i/N`: only this shard's posts are sent, each under its unsharded number.
    pub shard: Option<crate::shard::Shard>,
}

/// Everything the Goose users of one case share.
pub struct CaseContext {
    pub work: Work,
    pub timeout: Duration,
    pub seed: u64,
    pub image_prompt_share: f64,
    prompts: Prompts,
    /// Set when the start barrier releases the users: the case's time zero.
    origin: OnceLock<Instant>,
    barrier: tokio::sync::Barrier,
    pub start: Start,
    pub recorder: Mutex<Recorder>,
    next_post: AtomicU64,
    stop: Arc<AtomicBool>,
    guard: Option<Arc<SpendGuard>>,
    client: Option<reqwest::Client>,
    time_scale: TimeScale,
    /// The client's own request queue (`client_queue`).
    queue: Option<ClientQueue>,
    /// The counts the case's progress line reads.
    tally: Arc<Tally>,
    /// Service mode: each post's latency and answer, for the join with the stub's traces.
    seen_posts: Mutex<Vec<crate::result::service::per_post::SeenPost>>,
    /// A trace load's arrivals (their per-post inputs).
    trace: Option<Arc<crate::scenario::trace::Trace>>,
    shard: Option<crate::shard::Shard>,
}

impl std::fmt::Debug for CaseContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseContext")
            .field("work", &self.work)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl CaseContext {
    pub fn new(setup: CaseSetup) -> Self {
        let kinds: &[CallKind] = match setup.work {
            Work::Pipeline { .. } => &CallKind::PIPELINE,
            Work::Service { .. } => &CallKind::SERVICE,
        };
        Self {
            // A send is late past 10 ms of real time (harness jitter is real time, whatever the
            // time scale).
            recorder: Mutex::new(Recorder::for_kinds(
                Duration::from_millis(10).mul_f64(setup.time_scale.get().max(1.0)),
                kinds,
            )),
            work: setup.work,
            timeout: setup.timeout,
            seed: setup.seed,
            image_prompt_share: setup.image_prompt_share,
            prompts: setup.prompts,
            origin: OnceLock::new(),
            barrier: tokio::sync::Barrier::new(setup.users),
            start: setup.start,
            next_post: AtomicU64::new(0),
            stop: setup.stop,
            guard: setup.guard,
            client: setup.client,
            time_scale: setup.time_scale,
            queue: setup.client_queue.map(|limits| {
                let margin = setup.time_scale.modelled(queue::TRANSPORT_MARGIN);
                ClientQueue::new(limits, margin)
            }),
            tally: Arc::default(),
            seen_posts: Mutex::default(),
            trace: setup.trace,
            shard: setup.shard,
        }
    }

    /// The counts the case's progress line reads.
    pub(crate) fn tally(&self) -> Arc<Tally> {
        Arc::clone(&self.tally)
    }

    /// Service mode's posts so far, for the join with the stub's traces.
    pub fn seen_posts(&self) -> Vec<crate::result::service::per_post::SeenPost> {
        self.seen_posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The spend guard refused a call (the run must stop).
    pub fn budget_tripped(&self) -> bool {
        self.guard
            .as_ref()
            .is_some_and(|g| g.budget.lock().unwrap_or_else(|p| p.into_inner()).tripped())
    }

    /// Modelled time since the case's origin.
    fn now(&self) -> Duration {
        let real = self.origin.get().map_or(Duration::ZERO, Instant::elapsed);
        self.time_scale.modelled(real)
    }

    /// The real time a modelled duration takes.
    fn real(&self, modelled: Duration) -> Duration {
        self.time_scale.real(modelled)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || goose::is_killswitch_triggered()
    }

    /// Sleeps until `until` (since the origin), waking early if the run is stopped. Tokio's timer
    /// rounds up to whole milliseconds, which would send every post up to 1 ms late: the timer
    /// covers all but the last 2 ms, and yielding covers the rest.
    async fn sleep_until(&self, until: Duration) -> bool {
        const SPIN: Duration = Duration::from_millis(2);
        loop {
            if self.stopping() {
                return false;
            }
            let now = self.now();
            if now >= until {
                return true;
            }
            let left = self.real(until - now);
            if left > SPIN {
                tokio::time::sleep((left - SPIN).min(Duration::from_millis(100))).await;
            } else {
                tokio::task::yield_now().await;
            }
        }
    }

    /// The Goose transaction: one user's share of the case's posts.
    pub fn transaction(self: &Arc<Self>) -> TransactionFunction {
        let ctx = Arc::clone(self);
        Arc::new(move |user| {
            let ctx = Arc::clone(&ctx);
            Box::pin(async move {
                ctx.run_user(user).await;
                Ok(())
            })
        })
    }

    async fn run_user(&self, user: &mut GooseUser) {
        if let Some(client) = &self.client {
            user.client = client.clone();
        }
        // All users start together once Goose has launched them all (or not at all on Ctrl-C).
        let released = tokio::select! {
            _ = self.barrier.wait() => true,
            _ = self.sleep_until(Duration::MAX) => false,
        };
        if !released {
            return;
        }
        self.tally
            .mark_released(*self.origin.get_or_init(Instant::now));
        match &self.start {
            Start::Burst => {
                // A shard's k-th user post is the burst's post i − 1 + kN (its seeds with it).
                let next = || {
                    let k = self.next_post.fetch_add(1, Ordering::Relaxed);
                    self.shard.map_or(k, |s| s.global(k))
                };
                let (i, places) = match &self.queue {
                    Some(queue) => queue.number_post(next, |i| self.first_calls(i)),
                    None => (next(), [None; 2]),
                };
                let record = self.post(user, i, self.now(), places).await;
                self.record(&record);
            }
            Start::Schedule(arrivals) => loop {
                // Take the next post and its time together, so post numbers follow send order. A
                // shard passes over the other shards' arrivals: its posts keep their numbers
                // and times (and so their seeds).
                let (i, intended) = {
                    let mut a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(next) = next_of_shard(&mut *a, &self.next_post, self.shard) else {
                        break;
                    };
                    next
                };
                if !self.sleep_until(intended).await {
                    break;
                }
                let record = self.post(user, i, intended, [None; 2]).await;
                self.record(&record);
            },
        }
    }

    fn record(&self, post: &PostRecord) {
        self.tally.finished(post.failure.is_none());
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(post);
    }

    /// Whether post `i` brings its own image prompt: as its trace says, else drawn as the
    /// planner draws it (no response cache in a live run).
    fn brings_own(&self, i: u64) -> bool {
        self.trace
            .as_ref()
            .and_then(|t| t.brings_own(i))
            .unwrap_or_else(|| {
                crate::openai::world::post_choices(self.seed, i, 0.0, self.image_prompt_share).1
            })
    }

    /// How many calls post `i` sends first: two when they go at once, else one.
    fn first_calls(&self, i: u64) -> usize {
        match &self.work {
            Work::Pipeline {
                parallel_calls: true,
                ..
            } if !self.brings_own(i) => 2,
            _ => 1,
        }
    }

    async fn post(
        &self,
        user: &mut GooseUser,
        i: u64,
        intended: Duration,
        places: [Option<Place>; 2],
    ) -> PostRecord {
        self.tally.sent();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(i);
        let post = NewPost {
            i,
            intended,
            brings_own: self.brings_own(i),
            places,
        };
        match &self.work {
            Work::Pipeline {
                requests,
                parallel_calls: true,
                ..
            } if !post.brings_own => self.parallel_post(user, requests, post).await,
            Work::Pipeline { requests, .. } => self.pipeline_post(user, requests, post).await,
            Work::Service { target, model } => {
                self.service_post(user, target, model, post, rng).await
            }
        }
    }

    /// The post pipeline: the image-prompt call unless the post brings one, then the caption
    /// with the image prompt in its prompt. Attempts count over both calls from 1.
    async fn pipeline_post(
        &self,
        user: &mut GooseUser,
        requests: &PostRequests,
        post: NewPost,
    ) -> PostRecord {
        let NewPost {
            i,
            intended,
            brings_own,
            places,
        } = post;
        let mut draws = PostDraws {
            post: i,
            attempts: 0,
            place: places[0],
        };
        let via = &mut Via::Goose(user);
        let mut calls = Vec::with_capacity(2);
        let (image_prompt, image_prompt_tokens) = if brings_own {
            (
                OWN_IMAGE_PROMPTS[i as usize % OWN_IMAGE_PROMPTS.len()].to_string(),
                OWN_IMAGE_PROMPT_TOKENS,
            )
        } else {
            let body = requests.variant(i).image_body.clone();
            let (call, answer) = self
                .call(
                    via,
                    CallKind::ImagePrompt,
                    body,
                    image_size(requests, i),
                    &mut draws,
                )
                .await;
            let failure = call.failure;
            calls.push(call);
            match answer {
                Some((text, completion_tokens)) => (text, completion_tokens),
                None => {
                    return PostRecord {
                        intended,
                        calls,
                        finished: self.now(),
                        failure,
                    }
                }
            }
        };
        let body = requests.caption_body(i, &image_prompt).into();
        let size = caption_size(requests, i, image_prompt_tokens);
        let (call, _) = self
            .call(via, CallKind::Caption, body, size, &mut draws)
            .await;
        let failure = call.failure;
        calls.push(call);
        PostRecord {
            intended,
            calls,
            finished: self.now(),
            failure,
        }
    }

    /// A post whose two calls go at once (`parallel_calls`): the image prompt through Goose's
    /// user, the caption beside it, its prompt without an image prompt. The post ends when both
    /// have, and fails with the first call to fail for good. The image prompt's attempts count
    /// from 1, the caption's from [`PARALLEL_CAPTION_ATTEMPTS`] + 1, so each call draws what the
    /// planner draws for it whichever answers first.
    async fn parallel_post(
        &self,
        user: &mut GooseUser,
        requests: &PostRequests,
        post: NewPost,
    ) -> PostRecord {
        let i = post.i;
        let mut image_draws = PostDraws {
            post: i,
            attempts: 0,
            place: post.places[0],
        };
        let mut caption_draws = PostDraws {
            post: i,
            attempts: PARALLEL_CAPTION_ATTEMPTS,
            place: post.places[1],
        };
        let mut beside = Via::beside(user.client.clone());
        let mut goose = Via::Goose(user);
        let image_body = requests.variant(i).image_body.clone();
        let caption_body = requests.parallel_caption_body(i).into();
        let ((image, _), (caption, _)) = tokio::join!(
            self.call(
                &mut goose,
                CallKind::ImagePrompt,
                image_body,
                image_size(requests, i),
                &mut image_draws,
            ),
            self.call(
                &mut beside,
                CallKind::Caption,
                caption_body,
                caption_size(requests, i, 0),
                &mut caption_draws,
            ),
        );
        let finished = self.now();
        beside.record_with(user, CallKind::Caption).await;
        let failure = first_failure(&[&image, &caption]);
        PostRecord {
            intended: post.intended,
            calls: vec![image, caption],
            finished,
            failure,
        }
    }
}

/// The schedule's next arrival this shard sends (every arrival without a shard), numbered by
/// its place in the whole schedule: `(post number, intended send time)`.
fn next_of_shard(
    arrivals: &mut dyn Iterator<Item = Duration>,
    numbers: &AtomicU64,
    shard: Option<crate::shard::Shard>,
) -> Option<(u64, Duration)> {
    loop {
        let t = arrivals.next()?;
        let i = numbers.fetch_add(1, Ordering::Relaxed);
        if shard.is_none_or(|s| s.takes(i)) {
            return Some((i, t));
        }
    }
}

/// The image-prompt call's (prompt tokens, max_tokens) for post `i`.
fn image_size(requests: &PostRequests, i: u64) -> (u64, u64) {
    (
        requests.variant(i).image_prompt_tokens as u64,
        requests.sizes.image_prompt.max_tokens as u64,
    )
}

/// The caption call's (prompt tokens, max_tokens) for post `i`, its image prompt counted at
/// `image_prompt_tokens` (0: a parallel caption, without one).
fn caption_size(requests: &PostRequests, i: u64, image_prompt_tokens: u32) -> (u64, u64) {
    let max = requests.sizes.caption.max_tokens as u64;
    (
        requests.caption_reservation(i, image_prompt_tokens) - max,
        max,
    )
}

/// The cause of the call that failed for good first (the earliest to finish), if any did.
fn first_failure(calls: &[&CallRecord]) -> Option<crate::metrics::FailureCause> {
    calls
        .iter()
        .filter(|c| c.failure.is_some())
        .min_by_key(|c| c.finished)
        .and_then(|c| c.failure)
}

/// A response's body, read up to [`MAX_BODY_BYTES`]: past it the rest is dropped unread (and
/// the cut body does not parse), so a target cannot make postload buffer without end.
pub(crate) async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY_BYTES - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() == MAX_BODY_BYTES {
            break;
        }
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_takes_every_nth_arrival_at_its_own_time_and_number() {
        // Seven arrivals at 0, 10, ..., 60 ms; shard 2/3 takes arrivals 1 and 4 (10 and 40 ms),
        // then finds none: 7 is past the end. Without a shard, every arrival in order.
        let times: Vec<Duration> = (0..7).map(|k| Duration::from_millis(10 * k)).collect();
        let take = |shard| {
            let mut it = times.clone().into_iter();
            let numbers = AtomicU64::new(0);
            std::iter::from_fn(|| next_of_shard(&mut it, &numbers, shard)).collect::<Vec<_>>()
        };
        let ms = Duration::from_millis;
        assert_eq!(
            take(Some(crate::shard::Shard { index: 2, count: 3 })),
            [(1, ms(10)), (4, ms(40))]
        );
        assert_eq!(take(None).len(), 7);
        assert_eq!(take(None)[6], (6, ms(60)));
    }
}
