//! One post, as the team's service makes it: the image-prompt call (unless the post brings its own
//! image prompt), then the caption call, each retried by the scenario's policy. Sent through
//! Goose's user (so Goose's own report sees every attempt) and timed here to the last byte of the
//! response, from the post's intended start.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use goose::goose::{GooseMethod, GooseRequest, GooseUser, TransactionFunction};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reqwest::header::CONTENT_TYPE;

use super::answer::{
    billed, parse_completion, status_cause, transport_cause, transport_failure, Answer,
};
use crate::clock::TimeScale;
use crate::limits::MAX_BODY_BYTES;
use crate::metrics::budget::{worst_case_usd, Budget, Reservation};
use crate::metrics::cost::{cost_usd, UsageRead};
use crate::metrics::{Attempt, CallKind, CallRecord, FailureCause, PostRecord, Recorder};
use crate::openai::catalog::Price;
use crate::openai::retry::{AttemptOutcome, RetryPolicy};
use crate::openai::world::{client_stream, draw_rng, post_stream, DRAW_STREAM_HEADER};
use crate::scenario::prompts::{PostPlan, OWN_IMAGE_PROMPTS, OWN_IMAGE_PROMPT_TOKENS};
use crate::scenario::target::ServiceTarget;
use crate::scenario::Prompts;
use crate::secret::Secret;

/// How posts are sent once every user has reached the start barrier.
#[derive(Debug)]
pub enum Start {
    /// Each user sends one post at once.
    Burst,
    /// Users take the next post of the schedule (intended send times) and send it on time, or
    /// late if none was free.
    Schedule(Box<Mutex<Arrivals>>),
}

/// A seeded Poisson stream of intended send times, drawn as needed (a long run at a high rate
/// holds no list of them).
#[derive(Debug)]
pub struct Arrivals {
    rng: ChaCha8Rng,
    exp: rand_distr::Exp<f64>,
    t: f64,
    end: f64,
}

impl Arrivals {
    pub fn new(rate_per_s: f64, duration: Duration, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX); // apart from the per-post streams
        Self {
            rng,
            exp: rand_distr::Exp::new(rate_per_s).expect("a positive rate"),
            t: 0.0,
            end: duration.as_secs_f64(),
        }
    }
}

impl Iterator for Arrivals {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        self.t += rand_distr::Distribution::sample(&self.exp, &mut self.rng);
        (self.t < self.end).then(|| Duration::from_secs_f64(self.t))
    }
}

/// A post's attempts so far: they name each attempt's draw stream at the stub and its retry
/// jitter's stream, as in the planner.
struct PostDraws {
    post: u64,
    attempts: u32,
}

/// What a post does.
#[derive(Debug)]
pub enum Work {
    /// The post pipeline: postload makes the service's two OpenAI calls itself.
    Pipeline {
        plan: PostPlan,
        chat_url: String,
        retry: RetryPolicy,
        /// Sent as `Authorization: Bearer` (marked sensitive); never logged.
        api_key: Option<Secret>,
        /// Send each attempt's draw stream (`x-stub-draw-stream`: post and attempt) to the
        /// embedded stub, so its draws are the planner's for the same seed.
        draw_streams: bool,
    },
    /// Service mode: one request per post to the service under test.
    Service {
        target: Box<ServiceTarget>,
        model: String,
    },
}

/// The spend guard of a run against a billed endpoint, shared by every case.
#[derive(Debug)]
pub struct SpendGuard {
    /// One budget for the whole run.
    pub budget: Arc<Mutex<Budget>>,
    /// The case's model's price.
    pub price: Price,
}

impl SpendGuard {
    fn reserve(&self, worst_usd: f64) -> Option<Reservation> {
        let r = self
            .budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(worst_usd);
        if r.is_none() {
            goose::trigger_killswitch("the spend guard's --max-cost was reached");
        }
        r
    }

    fn settle(&self, r: Reservation, actual_usd: f64) {
        self.budget
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .settle(r, actual_usd);
    }
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
    pub time_scale: f64,
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
                Duration::from_millis(10).mul_f64(setup.time_scale.max(1.0)),
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
            time_scale: TimeScale::new(setup.time_scale),
        }
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
        self.origin.get_or_init(Instant::now);
        match &self.start {
            Start::Burst => {
                let i = self.next_post.fetch_add(1, Ordering::Relaxed);
                let record = self.post(user, i, self.now()).await;
                self.record(&record);
            }
            Start::Schedule(arrivals) => loop {
                // Take the next post and its time together, so post numbers follow send order.
                let (i, intended) = {
                    let mut a = arrivals.lock().unwrap_or_else(|p| p.into_inner());
                    let Some(t) = a.next() else { break };
                    (self.next_post.fetch_add(1, Ordering::Relaxed), t)
                };
                if !self.sleep_until(intended).await {
                    break;
                }
                let record = self.post(user, i, intended).await;
                self.record(&record);
            },
        }
    }

    fn record(&self, post: &PostRecord) {
        self.recorder
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(post);
    }

    async fn post(&self, user: &mut GooseUser, i: u64, intended: Duration) -> PostRecord {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        rng.set_stream(i);
        let brings_own = rng.random::<f64>() < self.image_prompt_share;
        match &self.work {
            Work::Pipeline { plan, .. } => {
                self.pipeline_post(user, plan, i, intended, brings_own)
                    .await
            }
            Work::Service { target, model } => {
                self.service_post(user, target, model, i, intended, brings_own, rng)
                    .await
            }
        }
    }

    /// The post pipeline: the image-prompt call unless the post brings one, then the caption.
    async fn pipeline_post(
        &self,
        user: &mut GooseUser,
        plan: &PostPlan,
        i: u64,
        intended: Duration,
        brings_own: bool,
    ) -> PostRecord {
        let mut draws = PostDraws {
            post: i,
            attempts: 0,
        };
        let mut calls = Vec::with_capacity(2);
        let (image_prompt, image_prompt_tokens) = if brings_own {
            (
                OWN_IMAGE_PROMPTS[i as usize % OWN_IMAGE_PROMPTS.len()].to_string(),
                OWN_IMAGE_PROMPT_TOKENS,
            )
        } else {
            let body = plan.variant(i).image_body.clone();
            let prompt = plan.variant(i).image_prompt_tokens as u64;
            let max = plan.sizes.image_prompt.max_tokens as u64;
            let (call, answer) = self
                .call(user, CallKind::ImagePrompt, body, (prompt, max), &mut draws)
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
        let body = plan.caption_body(i, &image_prompt).into();
        let max = plan.sizes.caption.max_tokens as u64;
        let prompt = plan.caption_reservation(i, image_prompt_tokens) - max;
        let (call, _) = self
            .call(user, CallKind::Caption, body, (prompt, max), &mut draws)
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

    /// Service mode: one request to the service, timed to its last byte. No retries here: the
    /// service retries its own OpenAI calls, and its users do not resend a post.
    #[allow(clippy::too_many_arguments)]
    async fn service_post(
        &self,
        user: &mut GooseUser,
        target: &ServiceTarget,
        model: &str,
        i: u64,
        intended: Duration,
        brings_own: bool,
        mut rng: ChaCha8Rng,
    ) -> PostRecord {
        let body = target.body(i, model, brings_own, &mut rng);
        let started = self.now();
        let mut call = CallRecord::new(CallKind::Service, started);
        let done = |mut call: CallRecord, now: Duration| {
            call.finished = now;
            let failure = call.failure;
            PostRecord {
                intended,
                calls: vec![call],
                finished: now,
                failure,
            }
        };
        // The service's calls cannot be seen from here: reserve the scenario's worst case.
        let reservation = match &self.guard {
            Some(g) => match g.reserve(self.service_worst_usd(&g.price, brings_own)) {
                Some(r) => Some(r),
                None => {
                    call.failure = Some(FailureCause::BudgetStopped);
                    return done(call, self.now());
                }
            },
            None => None,
        };
        let mut builder = user
            .client
            .request(target.method.clone(), target.endpoint())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.real(self.timeout));
        for (name, value) in &target.headers {
            let mut v = reqwest::header::HeaderValue::from_str(value.expose())
                .expect("header values are checked when the scenario loads");
            v.set_sensitive(true);
            builder = builder.header(name.clone(), v);
        }
        let method = match target.method.as_str() {
            "PUT" => GooseMethod::Put,
            "PATCH" => GooseMethod::Patch,
            _ => GooseMethod::Post,
        };
        let request = GooseRequest::builder()
            .method(method)
            .path(target.path.as_str())
            .name("service")
            .set_request_builder(builder)
            .build();
        let sent = self.now();
        let (status, result) = match user.request(request).await {
            Err(_) => (None, Err(FailureCause::Connect)),
            Ok(goose) => match goose.response {
                Err(e) => (None, Err(transport_cause(&e))),
                Ok(response) => {
                    let status = response.status().as_u16();
                    match read_body(response).await {
                        Err(e) => (Some(status), Err(transport_cause(&e))),
                        Ok(_) if status != target.expect_status => {
                            (Some(status), Err(status_cause(status)))
                        }
                        Ok(bytes) => (
                            Some(status),
                            target.parse(&bytes).ok_or(FailureCause::BadBody),
                        ),
                    }
                }
            },
        };
        call.attempts.push(Attempt {
            sent,
            status,
            reserved_tokens: 0,
        });
        if let (Some(g), Some(r)) = (&self.guard, reservation) {
            let actual = match (&result, status) {
                (Ok(a), _) => a.tokens.map_or_else(
                    || self.service_worst_usd(&g.price, brings_own),
                    |t| cost_usd(&g.price, t),
                ),
                // Refused: nothing reached the service.
                (Err(FailureCause::Connect), None) => 0.0,
                // An error status or a broken answer: the service may have called OpenAI.
                _ => self.service_worst_usd(&g.price, brings_own),
            };
            g.settle(r, actual);
        }
        match result {
            Ok(answer) => {
                call.usage = answer.tokens;
                call.bad_usage = answer.bad_usage;
                call.model = answer.model;
            }
            Err(cause) => call.failure = Some(cause),
        }
        done(call, self.now())
    }

    /// The most one post through the service can cost, assuming it makes the scenario's calls.
    fn service_worst_usd(&self, price: &Price, brings_own: bool) -> f64 {
        // 0 × the image call + the caption is the caption alone, to the last bit.
        let image_calls = if brings_own { 0.0 } else { 1.0 };
        self.prompts.worst_case_post_usd(price, image_calls)
    }

    /// One call with retries. `size` is (prompt tokens, max_tokens): what the rate limiter is
    /// asked for and what the spend guard reserves. Returns the record and, on success, the
    /// content and its completion tokens.
    async fn call(
        &self,
        user: &mut GooseUser,
        kind: CallKind,
        body: bytes::Bytes,
        size: (u64, u64),
        draws: &mut PostDraws,
    ) -> (CallRecord, Option<(String, u32)>) {
        let reserved_tokens = size.0 + size.1;
        let started = self.now();
        let mut record = CallRecord::new(kind, started);
        for retry in 1.. {
            let reservation = match &self.guard {
                Some(g) => match g.reserve(worst_case_usd(&g.price, size.0, size.1)) {
                    Some(r) => Some(r),
                    None => {
                        record.finished = self.now();
                        record.failure = Some(FailureCause::BudgetStopped);
                        return (record, None);
                    }
                },
                None => None,
            };
            let sent = self.now();
            draws.attempts += 1;
            let stream = post_stream(draws.post, draws.attempts);
            let (status, outcome) = self.attempt(user, kind, body.clone(), stream, size.1).await;
            if let (Some(g), Some(r)) = (&self.guard, reservation) {
                g.settle(r, billed(&g.price, size, status, &outcome));
            }
            record.attempts.push(Attempt {
                sent,
                status,
                reserved_tokens,
            });
            let failed = match outcome {
                Answer::Ok(answer) => {
                    record.finished = self.now();
                    match answer {
                        Some((content, usage)) => {
                            record.usage = usage.tokens();
                            record.bad_usage = usage == UsageRead::Bad;
                            let completion = record.usage.map_or(0, |u| u.completion as u32);
                            return (record, Some((content, completion)));
                        }
                        None => {
                            record.failure = Some(FailureCause::BadBody);
                            return (record, None);
                        }
                    }
                }
                Answer::Failed(cause, retry_outcome) => (cause, retry_outcome),
            };
            let (cause, retry_outcome) = failed;
            let delay = if self.stopping() {
                None
            } else {
                match &self.work {
                    Work::Pipeline { retry: policy, .. } => {
                        let stream = client_stream(draws.post, draws.attempts);
                        let jitter = draw_rng(self.seed, stream).random();
                        policy.next_delay(retry, &retry_outcome, jitter)
                    }
                    Work::Service { .. } => None,
                }
            };
            match delay {
                Some(d) => {
                    if cause == FailureCause::RateLimited {
                        record.rate_limit_backoff += d;
                    } else {
                        record.other_backoff += d;
                    }
                    tokio::time::sleep(self.real(d)).await;
                }
                None => {
                    record.finished = self.now();
                    record.failure = Some(cause);
                    return (record, None);
                }
            }
        }
        unreachable!("the retry loop returns")
    }

    async fn attempt(
        &self,
        user: &mut GooseUser,
        kind: CallKind,
        body: bytes::Bytes,
        draw_stream: u64,
        max_tokens: u64,
    ) -> (Option<u16>, Answer) {
        let Work::Pipeline {
            chat_url,
            api_key,
            draw_streams,
            ..
        } = &self.work
        else {
            unreachable!("only the pipeline makes OpenAI calls")
        };
        let mut builder = user
            .client
            .post(chat_url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.real(self.timeout));
        if let Some(key) = api_key {
            builder = builder.bearer_auth(key.expose());
        }
        if *draw_streams {
            builder = builder.header(DRAW_STREAM_HEADER, draw_stream);
        }
        let request = GooseRequest::builder()
            .method(GooseMethod::Post)
            .path("/v1/chat/completions")
            .name(kind.name())
            .set_request_builder(builder)
            .build();
        let response = match user.request(request).await {
            Ok(goose) => goose.response,
            Err(_) => {
                return (
                    None,
                    Answer::Failed(FailureCause::Connect, AttemptOutcome::Connect),
                )
            }
        };
        let response = match response {
            Ok(r) => r,
            Err(e) => return (None, transport_failure(&e)),
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = match read_body(response).await {
            Ok(b) => b,
            Err(e) => return (Some(status), transport_failure(&e)),
        };
        if (200..300).contains(&status) {
            return (
                Some(status),
                Answer::Ok(parse_completion(&bytes, max_tokens)),
            );
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        (
            Some(status),
            Answer::Failed(
                status_cause(status),
                AttemptOutcome::from_status(status, header),
            ),
        )
    }
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
