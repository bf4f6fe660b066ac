//! Service mode's post: one request to the service under test, timed to its last byte, with a
//! W3C `traceparent` of the post's own (so the stub alongside can count the post's OpenAI calls
//! if the service forwards it). No retries here: the service retries its own OpenAI calls, and
//! its users do not resend a post.

use std::time::Duration;

use goose::goose::{GooseMethod, GooseRequest, GooseUser};
use rand_chacha::ChaCha8Rng;
use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};

use super::{read_body, CaseContext, NewPost};
use crate::metrics::cost::cost_usd;
use crate::metrics::{Attempt, CallKind, CallRecord, FailureCause, PostRecord};
use crate::openai::catalog::Price;
use crate::result::service::per_post::{SeenPost, MAX_POSTS};
use crate::run::answer::{status_cause, transport_cause};
use crate::scenario::target::{ServiceAnswer, ServiceTarget};
use crate::traceparent::{self, TraceParent};

impl CaseContext {
    /// One post through the service. `rng` is the post's own stream, past its first draw.
    pub(super) async fn service_post(
        &self,
        user: &mut GooseUser,
        target: &ServiceTarget,
        model: &str,
        post: NewPost,
        mut rng: ChaCha8Rng,
    ) -> PostRecord {
        let given = self
            .trace
            .as_ref()
            .and_then(|t| t.posts.get(post.i as usize));
        let body = target.body(post.i, model, post.brings_own, given, &mut rng);
        let started = self.now();
        let mut call = CallRecord::new(CallKind::Service, started);
        let done = |mut call: CallRecord, now: Duration| {
            call.finished = now;
            let failure = call.failure;
            PostRecord {
                intended: post.intended,
                calls: vec![call],
                finished: now,
                failure,
            }
        };
        // The service's calls cannot be seen from here: reserve the scenario's worst case.
        let worst = |price: &Price| self.service_worst_usd(price, post.brings_own);
        let Ok(reservation) = self.reserve(worst) else {
            call.failure = Some(FailureCause::BudgetStopped);
            return done(call, self.now());
        };
        let trace = TraceParent::for_post(self.seed, post.i);
        let request = self.service_request(user, target, body, trace);
        let sent = self.now();
        let (status, retry_after, result) = send(user, request, target).await;
        self.tally.answered(status);
        let answered = self.now();
        call.attempts.push(Attempt {
            sent,
            answered,
            status,
            reserved_tokens: 0,
        });
        self.seen_post(SeenPost {
            post: post.i,
            latency: answered.saturating_sub(sent),
            status,
            retry_after,
            ok: result.is_ok(),
        });
        self.settle(reservation, |price| match (&result, status) {
            (Ok(a), _) => a
                .tokens
                .map_or_else(|| worst(price), |t| cost_usd(price, t)),
            // Refused: nothing reached the service.
            (Err(FailureCause::Connect), None) => 0.0,
            // An error status or a broken answer: the service may have called OpenAI.
            _ => worst(price),
        });
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

    /// Keeps a post for the join with the stub's traces (the first [`MAX_POSTS`] of a case).
    fn seen_post(&self, post: SeenPost) {
        let mut posts = self.seen_posts.lock().unwrap_or_else(|p| p.into_inner());
        if posts.len() < MAX_POSTS {
            posts.push(post);
        }
    }

    /// The request to the service: its method, endpoint and headers (marked sensitive), with
    /// the post's `traceparent` (unless the scenario sets one) and the case's timeout.
    fn service_request<'a>(
        &self,
        user: &GooseUser,
        target: &'a ServiceTarget,
        body: Vec<u8>,
        trace: TraceParent,
    ) -> GooseRequest<'a> {
        let mut builder = user
            .client
            .request(target.method.clone(), target.endpoint())
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .timeout(self.real(self.timeout));
        if !target
            .headers
            .iter()
            .any(|(name, _)| name.as_str().eq_ignore_ascii_case(traceparent::HEADER))
        {
            builder = builder.header(traceparent::HEADER, trace.header());
        }
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
        GooseRequest::builder()
            .method(method)
            .path(target.path.as_str())
            .name("service")
            .set_request_builder(builder)
            .build()
    }

    /// The most one post through the service can cost, assuming it makes the scenario's calls.
    fn service_worst_usd(&self, price: &Price, brings_own: bool) -> f64 {
        // 0 × the image call + the caption is the caption alone, to the last bit.
        let image_calls = if brings_own { 0.0 } else { 1.0 };
        self.prompts.worst_case_post_usd(price, image_calls)
    }
}

/// Sends the request through Goose's user and reads the answer: its status (if one came back),
/// whether it carried `Retry-After`, and the service's answer or why the post failed.
async fn send(
    user: &mut GooseUser,
    request: GooseRequest<'_>,
    target: &ServiceTarget,
) -> (Option<u16>, bool, Result<ServiceAnswer, FailureCause>) {
    match user.request(request).await {
        Err(_) => (None, false, Err(FailureCause::Connect)),
        Ok(goose) => match goose.response {
            Err(e) => (None, false, Err(transport_cause(&e))),
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key(RETRY_AFTER);
                let result = match read_body(response).await {
                    Err(e) => Err(transport_cause(&e)),
                    Ok(_) if status != target.expect_status => Err(status_cause(status)),
                    Ok(bytes) => target.parse(&bytes).ok_or(FailureCause::BadBody),
                };
                (Some(status), retry_after, result)
            }
        },
    }
}
