//! The serialized summary of a case ([`Measured`]): percentiles, counts, tokens and cost, the
//! timeline and the sampled posts, as written to result.json.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::cost::{cost_usd, monthly, Monthly, Tokens};
use super::{hdr, CallKind, FailureCause, Second};
use crate::openai::catalog::Price;

impl Measured {
    /// Goodput: the share of all posts that succeeded within `bound` (SLO attainment), from the
    /// successful posts' histogram; `None` without posts or without that histogram. A value in
    /// the bound's HdrHistogram bucket counts as within it (3 significant figures: 5 ms at 5 s).
    /// A result without histograms (older ones) counts its post sample when it holds every post.
    pub fn goodput(&self, bound: Duration) -> Option<f64> {
        let total = self.posts.total;
        let within = match self.histograms.get("post_ok") {
            Some(text) => super::hlog::decode(text)
                .ok()?
                .count_between(0, bound.as_micros().min(u64::MAX as u128) as u64),
            None if self.posts_sample.len() as u64 == total => {
                let ms = bound.as_secs_f64() * 1000.0;
                self.posts_sample
                    .iter()
                    .filter(|p| p.outcome == PostOutcome::Ok && p.latency_ms <= ms)
                    .count() as u64
            }
            None => return None,
        };
        (total > 0).then(|| within as f64 / total as f64)
    }

    /// Sets the token totals (measured from the responses, or attributed from the stub's counts)
    /// and derives the per-post figures and the cost from them. Unknown tokens have no per-post
    /// figures and no cost.
    ///
    /// "Per post" is per successful post, of the successful posts' own tokens: `wasted` (the
    /// tokens of failed posts' calls, billed yet giving no post) is kept apart, so per post ×
    /// ok posts + wasted = the total. When the split is unknown (`None` with failed posts: the
    /// stub's counts, the planner), the failed posts' tokens are charged to the successful ones.
    pub fn set_tokens(
        &mut self,
        tokens: Tokens,
        source: TokenSource,
        wasted: Option<Tokens>,
        price: Option<&Price>,
        users: u64,
    ) {
        let posts = self.posts.total;
        let ok = self.posts.ok;
        let known = source != TokenSource::Unknown;
        // No failed post: nothing was wasted, whatever counted the tokens.
        let wasted = if self.posts.failed == 0 {
            Some(Tokens::default())
        } else {
            wasted
        }
        .filter(|_| known)
        // Never more than the total (a hand-edited or hostile result).
        .map(|w| tokens.less(tokens.less(w)));
        let own = wasted.map_or(tokens, |w| tokens.less(w));
        self.tokens.total = tokens;
        self.tokens.source = source;
        self.tokens.wasted = wasted;
        self.tokens.per_post = if known && posts > 0 {
            tokens.total() as f64 / posts as f64
        } else {
            0.0
        };
        self.tokens.per_ok_post = (known && ok > 0).then(|| own.total() as f64 / ok as f64);
        self.cost = price.filter(|_| known).map(|p| {
            let total = cost_usd(p, tokens);
            let per_post = if posts > 0 { total / posts as f64 } else { 0.0 };
            let per_ok_post = (ok > 0).then(|| cost_usd(p, own) / ok as f64);
            Cost {
                total_usd: total,
                per_post_usd: per_post,
                per_ok_post_usd: per_ok_post,
                wasted_usd: wasted.map(|w| cost_usd(p, w)),
                per_batch_usd: per_post * users as f64,
                monthly: monthly(users, per_ok_post.unwrap_or(0.0)),
            }
        });
    }
}

impl TokenSummary {
    /// The successful posts' own tokens: the total less the wasted ones (the total when the
    /// waste is unknown).
    pub fn own(&self) -> Tokens {
        self.wasted.map_or(self.total, |w| self.total.less(w))
    }
}

/// Where a case's token totals come from.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TokenSource {
    /// The usage of every successful response.
    #[default]
    Responses,
    /// The stub's counts over the case (service mode with `--with-stub`, when the service's
    /// responses carry no usage).
    Stub,
    /// Some successful response had no usage and no stub counted: the totals are a lower bound,
    /// reported as unknown.
    Unknown,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub(super) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Percentiles of a histogram, in milliseconds, exact to its three significant figures (each is
/// the middle of its HdrHistogram bucket). Empty histograms give `None`s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Percentiles {
    pub count: u64,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub p99_9: Option<f64>,
    pub max: Option<f64>,
    /// Some values reached the histogram's ceiling (1 hour, [`hdr::CEILING_US`]): what lies
    /// there is an hour or more, not known. Every figure at the ceiling (and the mean and max)
    /// is then `None` ("-" in the reports, no value for a gate), never the ceiling itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub saturated: bool,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let saturated = hdr::at_ceiling(h, h.max());
        let value = |v: u64| (!hdr::at_ceiling(h, v)).then(|| hdr::ms(h, v));
        let q = |q: f64| value(h.value_at_quantile(q));
        Self {
            count: h.len(),
            min: value(h.min()),
            mean: (!saturated).then(|| h.mean() / 1000.0),
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p99_9: q(0.999),
            max: value(h.max()),
            saturated,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Posts {
    pub total: u64,
    pub ok: u64,
    pub failed: u64,
    pub failed_by_cause: BTreeMap<FailureCause, u64>,
    /// Sends more than 10 ms after their intended time (sustained scenarios).
    pub late_sends: u64,
}

impl Posts {
    /// The success share ok / total, 0 when nothing was posted.
    pub fn success_share(&self) -> f64 {
        self.scaled_success(1.0)
    }

    /// The success share in percent, 100 × ok / total: scaled before the division, so 23 of 40
    /// is 57.5 exactly, not 57.49999999999999 (the reports print what they printed before).
    pub fn success_percent(&self) -> f64 {
        self.scaled_success(100.0)
    }

    fn scaled_success(&self, scale: f64) -> f64 {
        if self.total > 0 {
            scale * self.ok as f64 / self.total as f64
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct LatencyPair {
    pub ok: Percentiles,
    pub failed: Percentiles,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
pub struct Calls {
    pub calls: u64,
    pub attempts: u64,
    pub retries: u64,
    pub http_429: u64,
    /// Tokens that 429-rejected attempts asked to reserve (estimated prompt + max_tokens).
    pub rejected_reserved_tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TokenSummary {
    pub by_call: BTreeMap<String, Tokens>,
    pub total: Tokens,
    /// Total tokens ÷ all posts, failed ones included. Kept for older readers; the reports,
    /// claims, gates and compare use `per_ok_post`.
    pub per_post: f64,
    /// Tokens per successful post: the successful posts' own tokens ÷ successful posts (with
    /// `wasted` unknown, every token ÷ successful posts). "Per post" everywhere.
    pub per_ok_post: Option<f64>,
    /// Tokens of the calls of failed posts (an image prompt answered before its caption
    /// failed): billed, yet no post came of them. Absent when unknown (the stub's counts or
    /// the planner with failed posts, or a result written before this field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasted: Option<Tokens>,
    #[serde(default)]
    pub source: TokenSource,
    /// Successful calls whose response carried no usage (or a bad one).
    #[serde(default)]
    pub calls_without_usage: u64,
    /// Of those, calls whose usage could not be true: a string, negative, half there, above
    /// 10^7 tokens or above the call's max_tokens. Their tokens are unknown, never priced.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub bad_usage: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cost {
    pub total_usd: f64,
    /// Total cost ÷ all posts, failed ones included. Kept for older readers (and the
    /// planner); the reports, claims, gates and compare use `per_ok_post_usd`.
    pub per_post_usd: f64,
    /// $ per successful post, of its own tokens (as `tokens.per_ok_post`). "$/post" everywhere.
    pub per_ok_post_usd: Option<f64>,
    /// $ of `tokens.wasted`: spent on failed posts. Absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasted_usd: Option<f64>,
    /// Total cost ÷ all posts × users: what one burst of every user posting once was billed.
    pub per_batch_usd: f64,
    /// users × 1, 5, 20 posts a day × 30 days × $ per successful post.
    pub monthly: Vec<Monthly>,
}

/// Everything measured in one case (scenario × tier).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Measured {
    pub posts: Posts,
    pub post_latency_ms: LatencyPair,
    pub call_latency_ms: BTreeMap<String, Percentiles>,
    /// Per post that backed off after 429s: the total time it waited (count = such posts).
    pub backoff_ms: Percentiles,
    /// Successful posts' time to their first caption token, in modelled time: the caption's
    /// answering attempt's send, from the post's intended start, plus the time to first token
    /// the stub drew for it (its `x-stub-ttft-ms`). What a streamed caption would show first;
    /// absent when the server does not say (a real OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_caption_token_ms: Option<Percentiles>,
    /// Per call whose first attempt went through the client's own queue (`client_queue`): the
    /// time it waited there for the client's token bucket (count = such calls, zero waits
    /// included); absent without the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait_ms: Option<Percentiles>,
    pub makespan_ms: f64,
    pub start_spread_ms: f64,
    pub calls: Calls,
    pub tokens: TokenSummary,
    /// `None` when the model has no price in the table.
    pub cost: Option<Cost>,
    pub timeline: Vec<Second>,
    /// Latency against percentile for successful posts, HdrHistogram style (for charts).
    #[serde(default)]
    pub percentile_curve: Vec<CurvePoint>,
    /// Up to [`SAMPLE_POSTS`] posts (all of them in a burst): send time, latency and outcome.
    #[serde(default)]
    pub posts_sample: Vec<PostPoint>,
    /// Up to [`TIMED_POSTS`] posts (a uniform sample beyond), in start order: when each call ran
    /// and when it waited out 429s (the waterfall chart).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_timings: Vec<PostTiming>,
    /// The first [`KEPT_ATTEMPTS`] attempts in send order (all of them when `calls.attempts` is
    /// no more): the token bucket chart replays them through the stub's bucket.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attempts: Vec<AttemptPoint>,
    /// The raw histograms (µs), V2-deflate in base64, by tag: post_ok, post_failed,
    /// image_prompt, caption, backoff (and first_caption_token, queue_wait when measured;
    /// service_own, the service's own time per traced post, in service mode). Exact;
    /// `hlog/*.hlog`, `postload merge` and `compare` use them.
    #[serde(default)]
    pub histograms: BTreeMap<String, String>,
    /// Service mode: the model the responses named, by count.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub models_reported: BTreeMap<String, u64>,
}

/// One point of the percentile curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CurvePoint {
    pub percentile: f64,
    pub ms: f64,
}

/// How a post ended, for charts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PostOutcome {
    Ok,
    RateLimited,
    OtherFailure,
}

/// One sampled post.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostPoint {
    /// Intended send time, seconds since the case started.
    pub sent_s: f64,
    pub latency_ms: f64,
    pub outcome: PostOutcome,
}

/// Posts kept for the per-post chart: a uniform sample (reservoir) beyond this many.
pub const SAMPLE_POSTS: usize = 5_000;

/// Posts whose intervals are kept for the waterfall: each is a row, readable up to about this
/// many on a 600-pixel chart; a uniform sample (reservoir) beyond.
pub const TIMED_POSTS: usize = 300;

/// Attempts kept for the token bucket chart: the earliest this many by send time, so the
/// replay is exact up to the last one kept (about 200 KB of result.json at most).
pub const KEPT_ATTEMPTS: usize = 5_000;

/// One post's intervals, in seconds since the case started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PostTiming {
    /// Intended send time.
    pub start_s: f64,
    /// Its last call's answer (or give-up).
    pub end_s: f64,
    pub outcome: PostOutcome,
    pub calls: Vec<CallSpan>,
}

/// One call of a timed post: first send to final answer (or give-up).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CallSpan {
    pub kind: CallKind,
    pub start_s: f64,
    pub end_s: f64,
    pub outcome: PostOutcome,
    /// Its waits after 429s, `[from, to]`: a 429's answer to the next attempt's send.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backoffs: Vec<[f64; 2]>,
}

/// One attempt as the stub's rate limiter saw it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AttemptPoint {
    /// Send time, seconds since the case started.
    pub sent_s: f64,
    /// Tokens it asked the rate limiter for (estimated prompt + max_tokens).
    pub reserved_tokens: u64,
    /// The answer's status (none: no answer).
    pub status: Option<u16>,
}

impl PostOutcome {
    /// How a post or a call ended: ok, or the cause of its failure.
    pub fn of(failure: Option<FailureCause>) -> Self {
        match failure {
            None => PostOutcome::Ok,
            Some(FailureCause::RateLimited) => PostOutcome::RateLimited,
            Some(_) => PostOutcome::OtherFailure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPT_4O: Price = Price {
        input: 2.5,
        cached_input: Some(1.25),
        output: 10.0,
    };

    fn measured(total: u64, ok: u64) -> Measured {
        let r: crate::report::RunResult =
            serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json"))
                .unwrap();
        let mut m = r.cases.into_iter().next().unwrap().measured;
        (m.posts.total, m.posts.ok, m.posts.failed) = (total, ok, total - ok);
        m
    }

    const TOKENS: Tokens = Tokens {
        prompt: 800,
        cached: 0,
        completion: 200,
    };

    #[test]
    fn set_tokens_derives_the_per_post_figures_and_the_cost() {
        // 800 in + 200 out at $2.50 / $10 per 1M: (2,000 + 2,000) / 1e6 = $0.004. Over 4 posts,
        // 2 of them ok: 1,000 / 4 = 250 tokens and $0.001 a post, 500 and $0.002 an ok post;
        // a batch of 4 users: 4 × $0.001 = $0.004. (Every division here is exact in binary.)
        let mut m = measured(4, 2);
        m.set_tokens(TOKENS, TokenSource::Stub, None, Some(&GPT_4O), 4);
        assert_eq!(
            (m.tokens.total, m.tokens.source),
            (TOKENS, TokenSource::Stub)
        );
        assert_eq!(
            (m.tokens.per_post, m.tokens.per_ok_post),
            (250.0, Some(500.0))
        );
        let c = m.cost.unwrap();
        assert_eq!(
            (
                c.total_usd,
                c.per_post_usd,
                c.per_ok_post_usd,
                c.per_batch_usd
            ),
            (0.004, 0.001, Some(0.002), 0.004)
        );
        let loads: Vec<(u64, u64)> = c
            .monthly
            .iter()
            .map(|m| (m.users, m.posts_per_user_per_day))
            .collect();
        assert_eq!(loads, [(4, 1), (4, 5), (4, 20)]);
    }

    #[test]
    fn no_posts_or_no_ok_post_give_zero_or_no_figure_not_nan() {
        let mut m = measured(0, 0);
        m.set_tokens(TOKENS, TokenSource::Responses, None, Some(&GPT_4O), 4);
        assert_eq!((m.tokens.per_post, m.tokens.per_ok_post), (0.0, None));
        let c = m.cost.unwrap();
        assert_eq!((c.per_post_usd, c.per_ok_post_usd), (0.0, None));
        // 4 posts, none ok: per post 1,000 / 4 = 250, per ok post none.
        let mut m = measured(4, 0);
        m.set_tokens(TOKENS, TokenSource::Responses, None, Some(&GPT_4O), 4);
        assert_eq!((m.tokens.per_post, m.tokens.per_ok_post), (250.0, None));
        assert_eq!(m.cost.unwrap().per_ok_post_usd, None);
    }

    #[test]
    fn unknown_tokens_have_no_per_post_figures_and_no_cost() {
        let mut m = measured(4, 2);
        m.set_tokens(TOKENS, TokenSource::Unknown, None, Some(&GPT_4O), 4);
        assert_eq!((m.tokens.per_post, m.tokens.per_ok_post), (0.0, None));
        assert_eq!(m.cost, None);
        // Known tokens of a model without a price: no cost either.
        let mut m = measured(4, 2);
        m.set_tokens(TOKENS, TokenSource::Responses, None, None, 4);
        assert_eq!(m.cost, None);
    }

    #[test]
    fn bad_usage_is_written_only_when_there_was_some() {
        let mut t = measured(1, 1).tokens;
        t.bad_usage = 0;
        assert!(serde_json::to_value(&t).unwrap().get("bad_usage").is_none());
        t.bad_usage = 2;
        assert_eq!(serde_json::to_value(&t).unwrap()["bad_usage"], 2);
    }

    #[test]
    fn a_duration_is_written_in_milliseconds() {
        // 1.5 s = 1,500 ms; 250 µs = 0.25 ms.
        assert_eq!(ms(Duration::from_millis(1_500)), 1_500.0);
        assert_eq!(ms(Duration::from_micros(250)), 0.25);
    }

    /// Per post means per successful post, of its own calls; failed posts' tokens are wasted,
    /// apart. Before: the table divided every token by all posts (2,173 for burst-100-mini)
    /// and the claims by the successful ones, failed posts' tokens included (2,442).
    #[test]
    fn per_post_is_per_successful_post_and_failed_posts_tokens_are_wasted_apart() {
        use crate::metrics::{Attempt, CallKind, CallRecord, PostRecord, Recorder};
        let call = |kind, usage: Option<Tokens>, failure: Option<FailureCause>| {
            let mut c = CallRecord::new(kind, Duration::ZERO);
            c.attempts = vec![Attempt {
                sent: Duration::ZERO,
                answered: Duration::from_secs(1),
                status: Some(if failure.is_some() { 429 } else { 200 }),
                reserved_tokens: 1_000,
            }];
            c.finished = Duration::from_secs(1);
            (c.usage, c.failure) = (usage, failure);
            c
        };
        let image = Tokens {
            prompt: 800,
            cached: 0,
            completion: 150,
        };
        let caption = Tokens {
            prompt: 1_000,
            cached: 0,
            completion: 200,
        };
        let mut r = Recorder::default();
        for failed in [false, false, true] {
            let cause = failed.then_some(FailureCause::RateLimited);
            let calls = vec![
                call(CallKind::ImagePrompt, Some(image), None),
                call(CallKind::Caption, (!failed).then_some(caption), cause),
            ];
            r.record(&PostRecord {
                intended: Duration::ZERO,
                calls,
                finished: Duration::from_secs(2),
                failure: cause,
            });
        }
        let m = r.summarize(Some(&GPT_4O), 3);
        // Two ok posts of 950 + 1,200 = 2,150 tokens; the failed one's image prompt, 950, wasted.
        // Total 5,250: ÷ 3 posts = 1,750 (the old table), ÷ 2 ok posts = 2,625 (the old claim).
        assert_eq!(m.tokens.total.total(), 5_250);
        assert_eq!(m.tokens.wasted, Some(image));
        assert_eq!(m.tokens.per_ok_post, Some(2_150.0));
        assert_eq!(m.tokens.per_post, 1_750.0);
        let c = m.cost.as_ref().unwrap();
        // At $2.50 / $10 per 1M: wasted 800 × 2.5 + 150 × 10 = 3,500 / 1e6 = $0.0035; an ok post
        // 1,800 × 2.5 + 350 × 10 = 8,000 / 1e6 = $0.008; the total 2 × 0.008 + 0.0035 = $0.0195.
        assert!((c.wasted_usd.unwrap() - 0.0035).abs() < 1e-12, "{c:?}");
        assert!((c.per_ok_post_usd.unwrap() - 0.008).abs() < 1e-12, "{c:?}");
        assert!((c.total_usd - 0.0195).abs() < 1e-12, "{c:?}");
        // A month of 3 users at 5 posts a day: 3 × 5 × 30 × $0.008 = $3.60, from the same figure.
        assert!((c.monthly[1].usd - 3.6).abs() < 1e-9, "{:?}", c.monthly);
        // The console table shows the same figures, and what was wasted.
        let row = crate::report::summary::tokens_per_post(&m);
        assert_eq!(
            (
                row.as_str(),
                crate::report::summary::usd_per_post(&m).as_str()
            ),
            ("2150", "$0.00800")
        );
        assert_eq!(crate::report::summary::wasted(&m), "950 $0.0035");
    }

    #[test]
    fn with_failed_posts_not_split_the_per_post_figures_include_them_and_waste_is_unknown() {
        // The stub's counts (service mode): 1,000 tokens over 4 posts, 2 ok, not split by post:
        // 1,000 / 2 = 500 per ok post, nothing said wasted.
        let mut m = measured(4, 2);
        m.set_tokens(TOKENS, TokenSource::Stub, None, Some(&GPT_4O), 4);
        assert_eq!((m.tokens.per_ok_post, m.tokens.wasted), (Some(500.0), None));
        assert_eq!(m.cost.as_ref().unwrap().wasted_usd, None);
        assert_eq!(crate::report::summary::tokens_per_post(&m), "500*");
        assert_eq!(crate::report::summary::wasted(&m), "-");
        // A wasted figure above the total (a hostile result) is held to the total.
        let mut m = measured(4, 2);
        let huge = Tokens {
            prompt: 10_000,
            cached: 0,
            completion: 10_000,
        };
        m.set_tokens(TOKENS, TokenSource::Responses, Some(huge), Some(&GPT_4O), 4);
        assert_eq!(m.tokens.wasted, Some(TOKENS));
        assert_eq!(m.tokens.per_ok_post, Some(0.0));
    }
}
