//! OpenAI's rate limits as continuous token buckets, in exact integer arithmetic.
//!
//! Every public 429 message we checked fits one model: a bucket whose capacity is the per-window
//! limit and which refills continuously at `limit / window`. A request that asks for more than is
//! left must wait `(used + requested - limit) * window / limit`. To keep that exact (the four real
//! messages in the facts file must come out to the millisecond), the bucket stores `used * window`
//! in token-nanoseconds as a `u128`: refilling by `elapsed` then removes exactly `limit * elapsed`,
//! with no floating point anywhere. Time comes in as an argument (`now`, time since an arbitrary
//! origin), never from a clock of its own, so tests and the planner drive it exactly.

use std::time::Duration;

use super::duration::go_duration;

/// One limit (requests or tokens) over one window (a minute or a day).
#[derive(Debug, Clone)]
pub struct Bucket {
    limit: u64,
    window_ns: u128,
    /// `used * window_ns`, in token-nanoseconds.
    used_scaled: u128,
    last: Duration,
}

/// Why a bucket could not give what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shortfall {
    /// More than the whole limit was asked for: it can never succeed.
    TooLarge,
    /// Not enough left now; `wait` is the time until there will be.
    Wait { used: u64, wait: Duration },
}

impl Bucket {
    /// A full bucket (nothing used) at time `now`.
    pub fn new(limit: u64, window: Duration, now: Duration) -> Self {
        Self {
            limit,
            window_ns: window.as_nanos().max(1),
            used_scaled: 0,
            last: now,
        }
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn refill(&mut self, now: Duration) {
        // A clock that goes backwards (it must not, but a caller may pass a stale `now`) refills nothing.
        if now > self.last {
            let elapsed = (now - self.last).as_nanos();
            let refill = (self.limit as u128).saturating_mul(elapsed);
            self.used_scaled = self.used_scaled.saturating_sub(refill);
            self.last = now;
        }
    }

    /// Tokens in use at `now`, rounded up (what OpenAI's messages call "Used").
    pub fn used(&mut self, now: Duration) -> u64 {
        self.refill(now);
        self.used_scaled.div_ceil(self.window_ns) as u64
    }

    /// What is left at `now`, rounded down (the `x-ratelimit-remaining-*` header).
    pub fn remaining(&mut self, now: Duration) -> u64 {
        self.refill(now);
        let capacity = self.limit as u128 * self.window_ns;
        (capacity.saturating_sub(self.used_scaled) / self.window_ns) as u64
    }

    /// Time until the bucket is full again (the `x-ratelimit-reset-*` header).
    pub fn reset_after(&mut self, now: Duration) -> Duration {
        self.refill(now);
        if self.limit == 0 {
            return Duration::ZERO;
        }
        nanos(self.used_scaled.div_ceil(self.limit as u128))
    }

    /// Takes `amount` if it fits; otherwise takes nothing and says how long to wait.
    pub fn try_take(&mut self, now: Duration, amount: u64) -> Result<(), Shortfall> {
        self.refill(now);
        if amount > self.limit {
            return Err(Shortfall::TooLarge);
        }
        let capacity = self.limit as u128 * self.window_ns;
        let wanted = self.used_scaled + amount as u128 * self.window_ns;
        if wanted <= capacity {
            self.used_scaled = wanted;
            Ok(())
        } else {
            let wait = self.refill_ns(wanted - capacity);
            Err(Shortfall::Wait {
                used: self.used_scaled.div_ceil(self.window_ns) as u64,
                wait,
            })
        }
    }

    /// Takes `amount` whether or not it fits (a rejected request that still counts). The bucket
    /// may go past its limit; it then refills from there.
    pub fn force_take(&mut self, now: Duration, amount: u64) {
        self.refill(now);
        self.used_scaled = self
            .used_scaled
            .saturating_add(amount as u128 * self.window_ns);
    }

    /// Time until `amount` would fit (zero if it fits now); `None` if it never can.
    pub fn wait_for(&mut self, now: Duration, amount: u64) -> Option<Duration> {
        self.refill(now);
        if amount > self.limit {
            return None;
        }
        let capacity = self.limit as u128 * self.window_ns;
        let wanted = self.used_scaled + amount as u128 * self.window_ns;
        Some(self.refill_ns(wanted.saturating_sub(capacity)))
    }

    /// Time the bucket takes to refill `amount` (amount × window / limit, rounded up to the
    /// nanosecond): how long `amount` waits in a used-up bucket.
    pub fn refill_time(&self, amount: u64) -> Duration {
        self.refill_ns(amount as u128 * self.window_ns)
    }

    /// The one refill formula: `scaled` token-nanoseconds come back at `limit` per nanosecond.
    fn refill_ns(&self, scaled: u128) -> Duration {
        nanos(scaled.div_ceil(self.limit.max(1) as u128))
    }
}

fn nanos(ns: u128) -> Duration {
    Duration::from_nanos(ns.min(u64::MAX as u128) as u64)
}

/// Which limit a request ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    RequestsPerMinute,
    TokensPerMinute,
    RequestsPerDay,
}

impl LimitKind {
    /// The error body's `type` field.
    pub fn error_type(self) -> &'static str {
        match self {
            LimitKind::TokensPerMinute => "tokens",
            LimitKind::RequestsPerMinute | LimitKind::RequestsPerDay => "requests",
        }
    }

    /// How the message names the limit.
    pub fn phrase(self) -> &'static str {
        match self {
            LimitKind::RequestsPerMinute => "requests per min (RPM)",
            LimitKind::TokensPerMinute => "tokens per min (TPM)",
            LimitKind::RequestsPerDay => "requests per day (RPD)",
        }
    }
}

/// A 429 the rate limiter decided on, with everything its message needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    TooLarge {
        kind: LimitKind,
        limit: u64,
        requested: u64,
    },
    Exceeded {
        kind: LimitKind,
        limit: u64,
        used: u64,
        requested: u64,
        wait: Duration,
    },
}

pub const RATE_LIMIT_DOCS: &str =
    "Visit https://platform.openai.com/account/rate-limits to learn more.";

impl Rejection {
    pub fn kind(&self) -> LimitKind {
        match self {
            Rejection::TooLarge { kind, .. } | Rejection::Exceeded { kind, .. } => *kind,
        }
    }

    /// Time after which a retry could succeed; `None` for a request too large ever to fit.
    pub fn wait(&self) -> Option<Duration> {
        match self {
            Rejection::TooLarge { .. } => None,
            Rejection::Exceeded { wait, .. } => Some(*wait),
        }
    }

    /// OpenAI's message, word for word. `model` is the rate-limit family (e.g. `gpt-4o`).
    pub fn message(&self, model: &str, organization: &str) -> String {
        match self {
            Rejection::TooLarge {
                kind,
                limit,
                requested,
            } => format!(
                "Request too large for {model} in organization {organization} on {}: Limit {limit}, Requested {requested}. The input or output tokens must be reduced in order to run successfully. {RATE_LIMIT_DOCS}",
                kind.phrase()
            ),
            Rejection::Exceeded {
                kind,
                limit,
                used,
                requested,
                wait,
            } => format!(
                "Rate limit reached for {model} in organization {organization} on {}: Limit {limit}, Used {used}, Requested {requested}. Please try again in {}. {RATE_LIMIT_DOCS}",
                kind.phrase(),
                go_duration(*wait)
            ),
        }
    }
}

/// Limits of one rate-limit family at one tier.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    pub rpm: u64,
    pub tpm: u64,
    #[serde(default)]
    pub rpd: Option<u64>,
}

/// What a rejected request still costs the buckets. OpenAI says "unsuccessful requests contribute
/// to your per-minute limit" without saying how; the default counts the request, not its tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectedCost {
    /// A rejected request consumes nothing.
    Nothing,
    /// A rejected request consumes one request from the RPM (and RPD) bucket.
    #[default]
    Request,
    /// A rejected request consumes its request and the tokens it asked for.
    RequestAndTokens,
}

/// The bucket levels reported in `x-ratelimit-*` headers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Levels {
    pub limit_requests: u64,
    pub limit_tokens: u64,
    pub remaining_requests: u64,
    pub remaining_tokens: u64,
    pub reset_requests: Duration,
    pub reset_tokens: Duration,
}

impl Levels {
    /// The six `x-ratelimit-*` headers, values in OpenAI's format.
    pub fn headers(&self) -> [(&'static str, String); 6] {
        [
            (
                "x-ratelimit-limit-requests",
                self.limit_requests.to_string(),
            ),
            ("x-ratelimit-limit-tokens", self.limit_tokens.to_string()),
            (
                "x-ratelimit-remaining-requests",
                self.remaining_requests.to_string(),
            ),
            (
                "x-ratelimit-remaining-tokens",
                self.remaining_tokens.to_string(),
            ),
            (
                "x-ratelimit-reset-requests",
                go_duration(self.reset_requests),
            ),
            ("x-ratelimit-reset-tokens", go_duration(self.reset_tokens)),
        ]
    }
}

/// The RPM, TPM and (optional) RPD buckets of one rate-limit family.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    requests: Bucket,
    tokens: Bucket,
    per_day: Option<Bucket>,
    rejected_cost: RejectedCost,
}

const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

impl RateLimiter {
    pub fn new(limits: Limits, rejected_cost: RejectedCost, now: Duration) -> Self {
        Self {
            requests: Bucket::new(limits.rpm, MINUTE, now),
            tokens: Bucket::new(limits.tpm, MINUTE, now),
            per_day: limits.rpd.map(|rpd| Bucket::new(rpd, DAY, now)),
            rejected_cost,
        }
    }

    /// Admits a request that reserves `tokens` (its estimated prompt plus n × max_tokens), or says
    /// why not. An admitted request takes one request and its tokens; a rejected one takes what
    /// the [`RejectedCost`] policy says.
    pub fn admit(&mut self, now: Duration, tokens: u64) -> Result<(), Rejection> {
        let result = self.check(now, tokens);
        match (&result, self.rejected_cost) {
            (Ok(()), _) => {
                self.take_request(now);
                self.tokens.force_take(now, tokens);
            }
            (Err(_), RejectedCost::Nothing) => {}
            (Err(_), RejectedCost::Request) => self.take_request(now),
            (Err(_), RejectedCost::RequestAndTokens) => {
                self.take_request(now);
                self.tokens.force_take(now, tokens);
            }
        }
        result
    }

    /// Decides without taking anything. Order: a request too large for the TPM limit; the daily
    /// request limit; the minute request limit; the minute token limit.
    fn check(&mut self, now: Duration, tokens: u64) -> Result<(), Rejection> {
        if tokens > self.tokens.limit() {
            return Err(Rejection::TooLarge {
                kind: LimitKind::TokensPerMinute,
                limit: self.tokens.limit(),
                requested: tokens,
            });
        }
        let buckets = [
            (LimitKind::RequestsPerDay, self.per_day.as_mut(), 1),
            (LimitKind::RequestsPerMinute, Some(&mut self.requests), 1),
            (LimitKind::TokensPerMinute, Some(&mut self.tokens), tokens),
        ];
        for (kind, bucket, amount) in buckets {
            let Some(bucket) = bucket else { continue };
            let probe = bucket.wait_for(now, amount);
            match probe {
                Some(wait) if wait.is_zero() => {}
                Some(wait) => {
                    return Err(Rejection::Exceeded {
                        kind,
                        limit: bucket.limit(),
                        used: bucket.used(now),
                        requested: amount,
                        wait,
                    })
                }
                None => {
                    return Err(Rejection::TooLarge {
                        kind,
                        limit: bucket.limit(),
                        requested: amount,
                    })
                }
            }
        }
        Ok(())
    }

    fn take_request(&mut self, now: Duration) {
        self.requests.force_take(now, 1);
        if let Some(day) = self.per_day.as_mut() {
            day.force_take(now, 1);
        }
    }

    /// Takes `tokens` from the token bucket without a check (used for a deterministic forced 429
    /// whose policy charges tokens).
    pub fn charge_rejected(&mut self, now: Duration, tokens: u64) {
        match self.rejected_cost {
            RejectedCost::Nothing => {}
            RejectedCost::Request => self.take_request(now),
            RejectedCost::RequestAndTokens => {
                self.take_request(now);
                self.tokens.force_take(now, tokens);
            }
        }
    }

    /// Tokens in use and the token limit (for a forced 429's message).
    pub fn tokens_used(&mut self, now: Duration) -> (u64, u64) {
        (self.tokens.used(now), self.tokens.limit())
    }

    /// Time the token bucket takes to refill `tokens`.
    pub fn tokens_refill_time(&self, tokens: u64) -> Duration {
        self.tokens.refill_time(tokens)
    }

    /// Time until `tokens` would fit in the token bucket.
    pub fn tokens_wait(&mut self, now: Duration, tokens: u64) -> Option<Duration> {
        self.tokens.wait_for(now, tokens)
    }

    pub fn levels(&mut self, now: Duration) -> Levels {
        Levels {
            limit_requests: self.requests.limit(),
            limit_tokens: self.tokens.limit(),
            remaining_requests: self.requests.remaining(now),
            remaining_tokens: self.tokens.remaining(now),
            reset_requests: self.requests.reset_after(now),
            reset_tokens: self.tokens.reset_after(now),
        }
    }
}

#[cfg(test)]
mod tests;
