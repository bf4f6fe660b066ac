//! One OpenAI call of the post pipeline with its retry loop: its first attempt waits its turn in
//! the client's own queue (with `client_queue`), each attempt reserves its worst case
//! with the spend guard, names its draw stream to the embedded stub, and, when it fails, waits
//! the scenario's retry policy's backoff (its jitter drawn as the planner draws it) before the
//! next. An attempt goes out through Goose's user, or, for the call a parallel post sends while
//! the user is busy with its other call, beside it ([`Via`]).

use std::time::{Duration, Instant};

use goose::goose::{GooseMethod, GooseRequest, GooseUser};
use rand::Rng;
use reqwest::header::CONTENT_TYPE;

use super::queue::Place;
use super::{read_body, CaseContext, Work};
use crate::metrics::budget::worst_case_usd;
use crate::metrics::usage::UsageRead;
use crate::metrics::{Attempt, CallKind, CallRecord, FailureCause};
use crate::openai::retry::{AttemptOutcome, RetryPolicy};
use crate::openai::world::{
    client_stream, draw_rng, parse_ttft_header, post_stream, DRAW_STREAM_HEADER, TTFT_HEADER,
};
use crate::run::answer::{billed, parse_answer, status_cause, transport_failure, Answer, Reply};
use crate::scenario::prompts::ApiEndpoint;

/// A call's attempts so far: they name each attempt's draw stream at the stub and its retry
/// jitter's stream, as in the planner. A sequential post's calls share one count from 1; a
/// parallel post's caption counts on from `world::PARALLEL_CAPTION_ATTEMPTS`. With them, the
/// place in the client's queue a burst's post took for its next call, if it took one.
pub(super) struct PostDraws {
    pub post: u64,
    pub attempts: u32,
    pub place: Option<Place>,
}

/// How a call's attempts go out. Goose's user sends one request at a time (it takes `&mut`),
/// so of a parallel post's two calls one goes through the user and the other beside it,
/// through the same HTTP client; the attempts sent beside are recorded with Goose afterwards
/// ([`Via::record_with`]), so Goose's own report still counts every attempt.
pub(super) enum Via<'u> {
    /// Through Goose's user, which times and records each request itself.
    Goose(&'u mut GooseUser),
    /// Through the user's client, keeping each attempt for Goose.
    Beside {
        client: reqwest::Client,
        sent: Vec<BesideAttempt>,
    },
}

/// An attempt sent beside Goose's user, as Goose records a request: the real time to its
/// response's headers and its status (`None`: no response).
pub(super) struct BesideAttempt {
    took: Duration,
    status: Option<u16>,
}

impl Via<'_> {
    pub(super) fn beside(client: reqwest::Client) -> Self {
        Via::Beside {
            client,
            sent: Vec::new(),
        }
    }

    fn client(&self) -> &reqwest::Client {
        match self {
            Via::Goose(user) => &user.client,
            Via::Beside { client, .. } => client,
        }
    }

    /// Sends one attempt to `api`; `None` when Goose could not send it at all.
    async fn send(
        &mut self,
        kind: CallKind,
        api: ApiEndpoint,
        builder: reqwest::RequestBuilder,
    ) -> Option<Result<reqwest::Response, reqwest::Error>> {
        match self {
            Via::Goose(user) => {
                let path = match api {
                    ApiEndpoint::Chat => "/v1/chat/completions",
                    ApiEndpoint::Responses => "/v1/responses",
                };
                let request = GooseRequest::builder()
                    .method(GooseMethod::Post)
                    .path(path)
                    .name(kind.name())
                    .set_request_builder(builder)
                    .build();
                user.request(request).await.ok().map(|g| g.response)
            }
            Via::Beside { sent, .. } => {
                let started = Instant::now();
                let response = builder.send().await;
                sent.push(BesideAttempt {
                    took: started.elapsed(),
                    status: response.as_ref().ok().map(|r| r.status().as_u16()),
                });
                Some(response)
            }
        }
    }

    /// Records the attempts sent beside with Goose's `user`, under the request name and method
    /// Goose gives the ones it sends itself (`POST <kind>`), so they count together.
    pub(super) async fn record_with(self, user: &mut GooseUser, kind: CallKind) {
        let Via::Beside { sent, .. } = self else {
            return;
        };
        for a in sent {
            let ok = a.status.is_some_and(|s| (200..300).contains(&s));
            let error = match a.status {
                Some(s) => format!("{s}: {}", kind.name()),
                None => format!("no response: {}", kind.name()),
            };
            // Goose only fails this for an empty or spaced label, and these are neither.
            let _ = user
                .record_custom_request_duration(
                    "POST",
                    kind.name(),
                    a.took,
                    ok,
                    a.status,
                    Some(&error),
                )
                .await;
        }
    }
}

/// What one attempt came back with: its status (`None`: no answer), what the answer means, and
/// the time to first token the server said for a 2xx.
struct AttemptEnd {
    status: Option<u16>,
    answer: Answer,
    ttft: Option<Duration>,
}

/// The wait before retry `retry` (1 for the first) of a call, or `None` to give up: `policy`'s
/// delay for what the attempt ended with, its jitter drawn from the client's own stream after
/// attempt `attempt` (counted as [`PostDraws`] counts) of post `post`, the stream the planner
/// draws it from, so a post's retries wait the same in both.
pub(crate) fn backoff(
    policy: RetryPolicy,
    retry: u32,
    outcome: &AttemptOutcome,
    seed: u64,
    post: u64,
    attempt: u32,
) -> Option<Duration> {
    let jitter = draw_rng(seed, client_stream(post, attempt)).random();
    policy.next_delay(retry, outcome, jitter)
}

impl CaseContext {
    /// One call with retries. `size` is (prompt tokens, max_tokens): what the rate limiter is
    /// asked for and what the spend guard reserves. Returns the record and, on success, the
    /// content and its visible completion tokens (less any reasoning tokens).
    pub(super) async fn call(
        &self,
        via: &mut Via<'_>,
        kind: CallKind,
        body: bytes::Bytes,
        size: (u64, u64),
        draws: &mut PostDraws,
    ) -> (CallRecord, Option<(String, u32)>) {
        let reserved_tokens = size.0 + size.1;
        // The call starts when it may go, as the planner's call starts when its queue lets it.
        if let Err(cause) = self
            .wait_in_queue(reserved_tokens, draws.place.take())
            .await
        {
            let mut record = CallRecord::new(kind, self.now());
            record.failure = Some(cause);
            return (record, None);
        }
        let started = self.now();
        let mut record = CallRecord::new(kind, started);
        for retry in 1.. {
            let Ok(reservation) = self.reserve(|price| worst_case_usd(price, size.0, size.1))
            else {
                record.finished = self.now();
                record.failure = Some(FailureCause::BudgetStopped);
                return (record, None);
            };
            let sent = self.now();
            draws.attempts += 1;
            let stream = post_stream(draws.post, draws.attempts);
            let AttemptEnd {
                status,
                answer: outcome,
                ttft,
            } = self.attempt(via, kind, body.clone(), stream, size).await;
            self.tally.answered(status);
            self.settle(reservation, |price| billed(price, size, status, &outcome));
            record.attempts.push(Attempt {
                sent,
                answered: self.now(),
                status,
                reserved_tokens,
            });
            let (cause, retry_outcome) = match outcome {
                Answer::Ok(answer) => {
                    record.finished = self.now();
                    record.ttft = ttft;
                    return answered(record, answer);
                }
                Answer::Failed(cause, retry_outcome) => (cause, retry_outcome),
            };
            let delay = if self.stopping() {
                None
            } else {
                match &self.work {
                    Work::Pipeline { retry: policy, .. } => backoff(
                        *policy,
                        retry,
                        &retry_outcome,
                        self.seed,
                        draws.post,
                        draws.attempts,
                    ),
                    Work::Service { .. } => None,
                }
            };
            let Some(d) = delay else {
                record.finished = self.now();
                record.failure = Some(cause);
                return (record, None);
            };
            if cause == FailureCause::RateLimited {
                record.rate_limit_backoff += d;
            } else {
                record.other_backoff += d;
            }
            tokio::time::sleep(self.real(d)).await;
        }
        unreachable!("the retry loop returns")
    }

    /// One attempt: the request to the endpoint's URL, through `via`, and what its answer means.
    async fn attempt(
        &self,
        via: &mut Via<'_>,
        kind: CallKind,
        body: bytes::Bytes,
        draw_stream: u64,
        size: (u64, u64),
    ) -> AttemptEnd {
        let Work::Pipeline {
            requests,
            url,
            api_key,
            draw_streams,
            ..
        } = &self.work
        else {
            unreachable!("only the pipeline makes OpenAI calls")
        };
        let mut builder = via
            .client()
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.real(self.timeout));
        if let Some(key) = api_key {
            builder = builder.bearer_auth(key.expose());
        }
        if *draw_streams {
            builder = builder.header(DRAW_STREAM_HEADER, draw_stream);
        }
        let failed = |status, answer| AttemptEnd {
            status,
            answer,
            ttft: None,
        };
        let response = match via.send(kind, requests.api, builder).await {
            None => {
                return failed(
                    None,
                    Answer::Failed(FailureCause::Connect, AttemptOutcome::Connect),
                )
            }
            Some(Err(e)) => return failed(None, transport_failure(&e)),
            Some(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = match read_body(response).await {
            Ok(b) => b,
            Err(e) => return failed(Some(status), transport_failure(&e)),
        };
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if (200..300).contains(&status) {
            return AttemptEnd {
                status: Some(status),
                answer: Answer::Ok(parse_answer(requests.api, &bytes, size)),
                ttft: header(TTFT_HEADER).and_then(parse_ttft_header),
            };
        }
        failed(
            Some(status),
            Answer::Failed(
                status_cause(status),
                AttemptOutcome::from_status(status, header),
            ),
        )
    }
}

/// A 2xx's record and, if its body was a chat completion (or a response) with content, the
/// content and its visible completion tokens; a body that was none fails the call. So does an empty
/// answer (a reasoning model that spent its whole `max_completion_tokens` reasoning ends
/// `length` with no content, or `incomplete` with no message on the Responses API):
/// it is billed its usage, but the post has no text, as the planner counts it.
fn answered(mut record: CallRecord, answer: Option<Reply>) -> (CallRecord, Option<(String, u32)>) {
    match answer {
        Some(Reply {
            text,
            usage,
            visible,
        }) => {
            record.usage = usage.tokens();
            record.bad_usage = usage == UsageRead::Bad;
            if text.is_empty() {
                record.failure = Some(FailureCause::EmptyAnswer);
                return (record, None);
            }
            // The text's own tokens: a reasoning model's reasoning is not in it.
            (record, Some((text, visible as u32)))
        }
        None => {
            record.failure = Some(FailureCause::BadBody);
            (record, None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate_limited() -> AttemptOutcome {
        AttemptOutcome::Status {
            code: 429,
            retry_after: None,
            should_retry: None,
        }
    }

    /// Issue 14: how the run feeds jitter into the retry delay. Post 3 of a case seeded 7, its
    /// first call answered 429 twice, then its second call once. Each wait takes the jitter j of
    /// the client's stream after the attempt that failed (attempts count over the post's calls),
    /// the stream the planner draws from:
    ///
    /// - after attempt 1, j1 = 0.0900600, retry 1: min(0.5 × 2^0, 8) × (1 − 0.25 × j1)
    ///   = 0.5 × 0.9774850 = 0.4887425 s;
    /// - after attempt 2, j2 = 0.1981727, retry 2: min(0.5 × 2^1, 8) × (1 − 0.25 × j2)
    ///   = 1.0 × 0.9504568 = 0.9504568 s;
    /// - attempt 3 (the caption call's first), j3 = 0.7540512, retry 1:
    ///   0.5 × (1 − 0.25 × j3) = 0.5 × 0.8114872 = 0.4057436 s.
    #[test]
    fn each_backoff_takes_the_jitter_drawn_after_its_attempt() {
        let (seed, post) = (7, 3);
        let draw = |attempt| -> f64 { draw_rng(seed, client_stream(post, attempt)).random() };
        let near = |got: f64, want: f64| (got - want).abs() < 1e-7;
        let (j1, j2, j3) = (draw(1), draw(2), draw(3));
        assert!(near(j1, 0.090_060_0), "{j1}");
        assert!(near(j2, 0.198_172_7), "{j2}");
        assert!(near(j3, 0.754_051_2), "{j3}");
        let sdk = |retry, attempt| {
            backoff(
                RetryPolicy::Sdk,
                retry,
                &rate_limited(),
                seed,
                post,
                attempt,
            )
            .map(|d| d.as_secs_f64())
        };
        let wait = |retry, attempt| sdk(retry, attempt).expect("a retry");
        assert!(near(wait(1, 1), 0.488_742_5), "{:?}", sdk(1, 1));
        assert!(near(wait(2, 2), 0.950_456_8), "{:?}", sdk(2, 2));
        assert!(near(wait(1, 3), 0.405_743_6), "{:?}", sdk(1, 3));
        // Exactly the policy's delay at those draws, to the nanosecond.
        assert_eq!(
            sdk(1, 1),
            Some(Duration::from_secs_f64(0.5 * (1.0 - 0.25 * j1)).as_secs_f64())
        );
        assert_eq!(
            sdk(2, 2),
            Some(Duration::from_secs_f64(1.0 * (1.0 - 0.25 * j2)).as_secs_f64())
        );
        // A third retry: the SDK gives up, whatever the draw.
        assert_eq!(sdk(3, 3), None);
        // `patient` from the same draw: max(j × 2^retry, 1) s, so j3 × 2 = 1.5081023 s.
        let patient = backoff(RetryPolicy::Patient, 1, &rate_limited(), seed, post, 3);
        assert!(
            near(patient.unwrap().as_secs_f64(), 1.508_102_3),
            "{patient:?}"
        );
        // Another seed or post draws otherwise.
        let elsewhere = |seed, post| {
            backoff(RetryPolicy::Sdk, 1, &rate_limited(), seed, post, 1).map(|d| d.as_secs_f64())
        };
        assert_ne!(elsewhere(seed + 1, post), sdk(1, 1));
        assert_ne!(elsewhere(seed, post + 1), sdk(1, 1));
    }
}
