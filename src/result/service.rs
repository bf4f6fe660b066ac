//! A service's own figures in service mode, from the stub alongside (exact counts, not
//! samples): the OpenAI requests and calls a post makes, in all and per call type (told apart
//! by `max_tokens`), their tokens, the client's retries, and the service's own time: a mean
//! estimate here, exact per post in [`per_post`] when the service forwards `traceparent`. What
//! a CI gate on the service names (`service.calls_per_post`, ...). Pure.

pub mod per_post;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::CaseResult;
use crate::stub::stats::{CallTypeStats, StubStats};

/// One call type's figures, per post.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallFigures {
    /// Requests the stub saw (retries and 429s included) per post.
    pub requests_per_post: f64,
    /// Calls answered 200 per successful post.
    pub calls_per_post: Option<f64>,
    pub prompt_tokens_per_post: Option<f64>,
    pub completion_tokens_per_post: Option<f64>,
}

/// A service case's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ServiceFigures {
    #[serde(flatten)]
    pub all: CallFigures,
    /// Requests the service's client marked as retries (`x-stainless-retry-count` > 0).
    pub retried_requests: u64,
    /// The service's own time, mean per successful post: its mean latency less the calls a
    /// post made times their mean modelled latency. An estimate from means (the stub cannot
    /// tell which post a call belongs to): exact as a mean, not per post. `None` when a figure
    /// is missing or the calls overlap (their sum exceeds the post).
    pub own_mean_ms: Option<f64>,
    /// By call type: `image_prompt` and `caption` (the requests asking for the scenario's
    /// `[prompts]` max_tokens, 150 and 200 by default: the reference service's shape), and
    /// `other` (anything else).
    pub by_call: BTreeMap<String, CallFigures>,
    /// Per post, from the stub's traces (`traceparent`): exact own time, retries, answers
    /// under 429s. `None` when the stub saw no post's trace (the service does not forward it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_post: Option<per_post::PerPostFigures>,
}

/// The mean own time of a post: its mean latency at the service, less the calls a post made
/// (the stub's 200 answers ÷ successful posts) times their mean modelled latency.
pub struct OwnTime {
    pub post_ms: f64,
    pub calls_per_post: f64,
    pub call_ms: f64,
}

impl OwnTime {
    pub fn of(c: &CaseResult) -> Option<Self> {
        let st = c.stub.as_ref()?;
        let ok = c.measured.posts.ok;
        let post_ms = c.measured.post_latency_ms.ok.mean?;
        let call_ms = st.latency_ms.mean?;
        (ok > 0).then(|| OwnTime {
            post_ms,
            calls_per_post: st.latency_ms.count as f64 / ok as f64,
            call_ms,
        })
    }

    pub fn own_ms(&self) -> f64 {
        self.post_ms - self.calls_per_post * self.call_ms
    }

    pub fn share(&self) -> f64 {
        self.own_ms() / self.post_ms
    }
}

fn per(n: u64, posts: u64) -> Option<f64> {
    (posts > 0).then(|| n as f64 / posts as f64)
}

fn figures(t: &CallTypeStats, posts: u64, ok_posts: u64) -> CallFigures {
    CallFigures {
        requests_per_post: per(t.requests, posts).unwrap_or(0.0),
        calls_per_post: per(t.ok, ok_posts),
        prompt_tokens_per_post: per(t.prompt_tokens, ok_posts),
        completion_tokens_per_post: per(t.completion_tokens, ok_posts),
    }
}

impl ServiceFigures {
    /// A service-mode case with the stub alongside; `None` otherwise.
    pub fn of(c: &CaseResult) -> Option<Self> {
        c.inputs.service.as_ref()?;
        let st: &StubStats = c.stub.as_ref()?;
        let (posts, ok) = (c.measured.posts.total, c.measured.posts.ok);
        let (prompt, _, completion) = st.tokens();
        let all = CallFigures {
            requests_per_post: per(st.chat_requests, posts).unwrap_or(0.0),
            calls_per_post: per(st.ok_calls(), ok),
            prompt_tokens_per_post: per(prompt, ok),
            completion_tokens_per_post: per(completion, ok),
        };
        let name = |max_tokens: u32| {
            let p = &c.inputs.prompts;
            if max_tokens == p.image_prompt.max_tokens {
                "image_prompt"
            } else if max_tokens == p.caption.max_tokens {
                "caption"
            } else {
                "other"
            }
        };
        let mut sums: BTreeMap<String, CallTypeStats> = BTreeMap::new();
        for (&max_tokens, t) in &st.by_max_tokens {
            let s = sums.entry(name(max_tokens).to_string()).or_default();
            s.requests += t.requests;
            s.ok += t.ok;
            s.prompt_tokens += t.prompt_tokens;
            s.completion_tokens += t.completion_tokens;
        }
        Some(ServiceFigures {
            all,
            retried_requests: st.retried_requests,
            own_mean_ms: OwnTime::of(c).map(|t| t.own_ms()).filter(|ms| *ms >= 0.0),
            by_call: sums
                .iter()
                .map(|(k, t)| (k.clone(), figures(t, posts, ok)))
                .collect(),
            per_post: None,
        })
    }

    /// A gate metric `service.…` of these figures (`None`: not one of them, or no value).
    pub fn metric(&self, name: &str) -> Option<f64> {
        if let Some(v) = per_post::metric(self.per_post.as_ref(), name.strip_prefix("service.")?) {
            return v;
        }
        let (calls, field) = match name.strip_prefix("service.")?.split_once('.') {
            Some((call, field)) => (self.by_call.get(call).copied().unwrap_or_default(), field),
            None => (self.all, name.strip_prefix("service.")?),
        };
        match field {
            "requests_per_post" => Some(calls.requests_per_post),
            "calls_per_post" => Some(calls.calls_per_post.unwrap_or(0.0)),
            "prompt_tokens_per_post" => calls.prompt_tokens_per_post,
            "completion_tokens_per_post" => calls.completion_tokens_per_post,
            "retried_requests" => Some(self.retried_requests as f64),
            "own_mean_ms" => self.own_mean_ms,
            _ => None,
        }
    }
}

/// The metrics of how a service meets rate limits: its retries and its answers under 429s.
pub fn is_429_metric(name: &str) -> bool {
    matches!(
        name,
        "service.retried_requests" | "service.retries_per_post"
    ) || name.starts_with("service.under_429.")
}

/// The case met 429s: the stub answered at least one of its requests 429.
fn met_429(c: &CaseResult) -> bool {
    c.stub
        .as_ref()
        .is_some_and(|s| s.by_status.get(&429).is_some_and(|n| *n > 0))
}

/// A gate metric `service.…` of a case: as [`ServiceFigures::metric`], except that a 429
/// metric has no value in a case that met no 429 (not exercised: its 0 retries and 0
/// ungraceful answers would say nothing about the service).
pub fn case_metric(c: &CaseResult, name: &str) -> Option<f64> {
    if is_429_metric(name) && !met_429(c) {
        return None;
    }
    c.service.as_ref()?.metric(name)
}

/// Why a service metric has no value in a case, when postload knows.
pub fn why_no_value(c: &CaseResult, name: &str) -> Option<String> {
    if is_429_metric(name) && c.service.is_some() && !met_429(c) {
        return Some(format!(
            "not exercised: the stub answered none of {}'s requests 429 (its calls fit the \
             tier's limits); provoke them with `first_429` in the scenario \
             (scenarios/service-429.toml)",
            c.label()
        ));
    }
    None
}
