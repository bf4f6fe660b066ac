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
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use serde::Deserialize;

use crate::metrics::cost::Tokens;
use crate::metrics::{Attempt, CallKind, CallRecord, FailureCause, PostRecord, Recorder};
use crate::openai::retry::{AttemptOutcome, RetryPolicy};
use crate::scenario::prompts::{PostPlan, OWN_IMAGE_PROMPTS};

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

/// Everything the Goose users of one case share.
#[derive(Debug)]
pub struct CaseContext {
    pub plan: PostPlan,
    pub chat_url: String,
    pub retry: RetryPolicy,
    pub timeout: Duration,
    pub seed: u64,
    pub image_prompt_share: f64,
    /// Set when the start barrier releases the users: the case's time zero.
    origin: OnceLock<Instant>,
    barrier: tokio::sync::Barrier,
    pub start: Start,
    pub recorder: Mutex<Recorder>,
    next_post: AtomicU64,
    stop: Arc<AtomicBool>,
}

impl CaseContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        plan: PostPlan,
        chat_url: String,
        retry: RetryPolicy,
        timeout: Duration,
        seed: u64,
        image_prompt_share: f64,
        users: usize,
        start: Start,
        stop: Arc<AtomicBool>,
    ) -> Self {
        Self {
            plan,
            chat_url,
            retry,
            timeout,
            seed,
            image_prompt_share,
            origin: OnceLock::new(),
            barrier: tokio::sync::Barrier::new(users),
            start,
            recorder: Mutex::new(Recorder::default()),
            next_post: AtomicU64::new(0),
            stop,
        }
    }

    fn now(&self) -> Duration {
        self.origin.get().map_or(Duration::ZERO, Instant::elapsed)
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
            let left = until - now;
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
        let mut calls = Vec::with_capacity(2);
        let (image_prompt, image_prompt_tokens) = if brings_own {
            (
                OWN_IMAGE_PROMPTS[i as usize % OWN_IMAGE_PROMPTS.len()].to_string(),
                40,
            )
        } else {
            let body = self.plan.variant(i).image_body.clone();
            let reserve = self.plan.image_reservation(i);
            let (call, answer) = self
                .call(user, CallKind::ImagePrompt, body, reserve, &mut rng)
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
        let body = self.plan.caption_body(i, &image_prompt).into();
        let reserve = self.plan.caption_reservation(i, image_prompt_tokens);
        let (call, _) = self
            .call(user, CallKind::Caption, body, reserve, &mut rng)
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

    /// One call with retries. Returns the record and, on success, the content and its
    /// completion tokens.
    async fn call(
        &self,
        user: &mut GooseUser,
        kind: CallKind,
        body: bytes::Bytes,
        reserved_tokens: u64,
        rng: &mut ChaCha8Rng,
    ) -> (CallRecord, Option<(String, u32)>) {
        let started = self.now();
        let mut record = CallRecord {
            kind,
            attempts: Vec::new(),
            rate_limit_backoff: Duration::ZERO,
            other_backoff: Duration::ZERO,
            started,
            finished: started,
            usage: None,
            model: None,
            failure: None,
        };
        for retry in 1.. {
            let sent = self.now();
            let (status, outcome) = self.attempt(user, kind, body.clone()).await;
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
                            record.usage = usage;
                            let completion = usage.map_or(0, |u| u.completion as u32);
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
                self.retry.next_delay(retry, &retry_outcome, rng.random())
            };
            match delay {
                Some(d) => {
                    if cause == FailureCause::RateLimited {
                        record.rate_limit_backoff += d;
                    } else {
                        record.other_backoff += d;
                    }
                    tokio::time::sleep(d).await;
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
    ) -> (Option<u16>, Answer) {
        let builder = user
            .client
            .post(&self.chat_url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.timeout);
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
        let bytes = match response.bytes().await {
            Ok(b) => b,
            Err(e) => return (Some(status), transport_failure(&e)),
        };
        if (200..300).contains(&status) {
            return (Some(status), Answer::Ok(parse_completion(&bytes)));
        }
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let retry_after = header("retry-after-ms")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
            .or_else(|| {
                header(RETRY_AFTER.as_str())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s.max(0.0)))
            });
        let should_retry = header("x-should-retry").and_then(|v| match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        let cause = match status {
            429 => FailureCause::RateLimited,
            500..=599 => FailureCause::ServerError,
            408 => FailureCause::Timeout,
            _ => FailureCause::OtherStatus,
        };
        (
            Some(status),
            Answer::Failed(
                cause,
                AttemptOutcome::Status {
                    code: status,
                    retry_after,
                    should_retry,
                },
            ),
        )
    }
}

enum Answer {
    /// A 2xx: the content and usage if the body was a chat completion, else `None`.
    Ok(Option<(String, Option<Tokens>)>),
    Failed(FailureCause, AttemptOutcome),
}

fn transport_failure(e: &reqwest::Error) -> Answer {
    if e.is_timeout() {
        Answer::Failed(FailureCause::Timeout, AttemptOutcome::Timeout)
    } else {
        Answer::Failed(FailureCause::Connect, AttemptOutcome::Connect)
    }
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: u64,
    completion_tokens: u64,
    #[serde(default)]
    prompt_tokens_details: Option<PromptDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

/// The first choice's content and the usage of a chat completion body; `None` if it is not one.
fn parse_completion(body: &[u8]) -> Option<(String, Option<Tokens>)> {
    let c: Completion = serde_json::from_slice(body).ok()?;
    let content = c.choices.into_iter().next()?.message.content?;
    let usage = c.usage.map(|u| Tokens {
        prompt: u.prompt_tokens,
        cached: u
            .prompt_tokens_details
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0),
        completion: u.completion_tokens,
    });
    Some((content, usage))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_and_usage_or_refuses() {
        let ok = br#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":10,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4}}}"#;
        assert_eq!(
            parse_completion(ok),
            Some((
                "hi".into(),
                Some(Tokens {
                    prompt: 10,
                    cached: 4,
                    completion: 2
                })
            ))
        );
        let no_usage = br#"{"choices":[{"message":{"content":"hi"}}]}"#;
        assert_eq!(parse_completion(no_usage), Some(("hi".into(), None)));
        assert_eq!(parse_completion(b"<html>"), None);
        assert_eq!(parse_completion(br#"{"choices":[]}"#), None);
    }
}
