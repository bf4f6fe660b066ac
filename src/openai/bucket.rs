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
mod tests {
    use super::*;

    const ORG: &str = "org-XXX";

    /// Builds a TPM bucket with exactly `used` tokens in use at t = 0 and asks for `requested`.
    fn message_for(limit: u64, used: u64, requested: u64) -> String {
        let t0 = Duration::ZERO;
        let mut limiter = RateLimiter::new(
            Limits {
                rpm: 10_000,
                tpm: limit,
                rpd: None,
            },
            RejectedCost::Nothing,
            t0,
        );
        limiter.admit(t0, used).expect("the first reservation fits");
        limiter
            .admit(t0, requested)
            .expect_err("the second reservation must be refused")
            .message("gpt-4o", ORG)
    }

    #[test]
    fn reproduces_the_four_real_429_messages_to_the_millisecond() {
        let cases = [
            (30_000, 29_937, 385, "644ms"),
            (30_000, 28_039, 3_906, "3.89s"),
            (30_000, 14_567, 24_754, "18.642s"),
            (10_000, 8_554, 3_082, "9.816s"),
        ];
        for (limit, used, requested, wait) in cases {
            let expected = format!(
                "Rate limit reached for gpt-4o in organization org-XXX on tokens per min (TPM): Limit {limit}, Used {used}, Requested {requested}. Please try again in {wait}. Visit https://platform.openai.com/account/rate-limits to learn more."
            );
            assert_eq!(message_for(limit, used, requested), expected);
        }
    }

    #[test]
    fn request_larger_than_the_limit_is_too_large() {
        let mut limiter = RateLimiter::new(
            Limits {
                rpm: 500,
                tpm: 30_000,
                rpd: None,
            },
            RejectedCost::Nothing,
            Duration::ZERO,
        );
        let rejection = limiter.admit(Duration::ZERO, 30_601).unwrap_err();
        assert_eq!(rejection.wait(), None);
        assert_eq!(
            rejection.message("gpt-4o", ORG),
            "Request too large for gpt-4o in organization org-XXX on tokens per min (TPM): Limit 30000, Requested 30601. The input or output tokens must be reduced in order to run successfully. Visit https://platform.openai.com/account/rate-limits to learn more."
        );
    }

    #[test]
    fn refills_continuously_at_limit_per_minute() {
        let mut bucket = Bucket::new(30_000, MINUTE, Duration::ZERO);
        bucket.try_take(Duration::ZERO, 30_000).unwrap();
        assert_eq!(bucket.remaining(Duration::ZERO), 0);
        // 30,000 per minute is 500 per second: after 2 s, 1,000 are back.
        assert_eq!(bucket.remaining(Duration::from_secs(2)), 1_000);
        assert_eq!(
            bucket.reset_after(Duration::from_secs(2)),
            Duration::from_secs(58)
        );
        assert!(bucket.try_take(Duration::from_secs(2), 1_001).is_err());
        bucket.try_take(Duration::from_secs(2), 1_000).unwrap();
        assert_eq!(bucket.remaining(Duration::from_secs(60)), 29_000);
        assert_eq!(bucket.remaining(Duration::from_secs(600)), 30_000);
    }

    #[test]
    fn refill_time_is_amount_times_window_over_limit_rounded_up() {
        // 30,000 TPM: 1,000 tokens come back in 1,000 × 60 s / 30,000 = 2 s.
        let b = Bucket::new(30_000, Duration::from_secs(60), Duration::ZERO);
        assert_eq!(b.refill_time(1_000), Duration::from_secs(2));
        // 7 a minute: one comes back in 60e9 / 7 = 8,571,428,571.4 ns, rounded up to ...572;
        // in whole ms (the stub's forced 429) that is 8,572 = ceil(60,000 / 7).
        let b = Bucket::new(7, Duration::from_secs(60), Duration::ZERO);
        assert_eq!(b.refill_time(1), Duration::from_nanos(8_571_428_572));
        // A used-up bucket's wait for one token is the same figure.
        let mut b = Bucket::new(7, Duration::from_secs(60), Duration::ZERO);
        b.force_take(Duration::ZERO, 7);
        assert_eq!(b.wait_for(Duration::ZERO, 1), Some(b.refill_time(1)));
    }

    #[test]
    fn wait_is_exactly_when_the_request_fits() {
        let mut bucket = Bucket::new(10_000, MINUTE, Duration::ZERO);
        bucket.try_take(Duration::ZERO, 8_554).unwrap();
        let Err(Shortfall::Wait { wait, used }) = bucket.try_take(Duration::ZERO, 3_082) else {
            panic!("must be refused")
        };
        assert_eq!(used, 8_554);
        assert_eq!(wait, Duration::from_millis(9_816));
        assert!(bucket
            .try_take(wait - Duration::from_nanos(1), 3_082)
            .is_err());
        assert!(bucket.try_take(wait, 3_082).is_ok());
    }

    #[test]
    fn requests_limit_gives_a_requests_type_429() {
        let now = Duration::ZERO;
        let mut limiter = RateLimiter::new(
            Limits {
                rpm: 2,
                tpm: 1_000_000,
                rpd: None,
            },
            RejectedCost::Nothing,
            now,
        );
        limiter.admit(now, 10).unwrap();
        limiter.admit(now, 10).unwrap();
        let rejection = limiter.admit(now, 10).unwrap_err();
        assert_eq!(rejection.kind(), LimitKind::RequestsPerMinute);
        assert_eq!(rejection.kind().error_type(), "requests");
        // 2 per minute: one request back after 30 s.
        assert_eq!(rejection.wait(), Some(Duration::from_secs(30)));
        assert!(rejection.message("gpt-4o", ORG).contains(
            "on requests per min (RPM): Limit 2, Used 2, Requested 1. Please try again in 30s."
        ));
    }

    #[test]
    fn daily_request_limit_is_enforced() {
        let now = Duration::ZERO;
        let mut limiter = RateLimiter::new(
            Limits {
                rpm: 500,
                tpm: 200_000,
                rpd: Some(1),
            },
            RejectedCost::Nothing,
            now,
        );
        limiter.admit(now, 10).unwrap();
        let rejection = limiter.admit(Duration::from_secs(61), 10).unwrap_err();
        assert_eq!(rejection.kind(), LimitKind::RequestsPerDay);
        let m = rejection.message("gpt-4o-mini", ORG);
        assert!(m.contains("requests per day (RPD)"), "{m}");
        // One request a day refills over 86,400 s; 61 s after the first, the wait is
        // 86,400 - 61 = 86,339 s = 23 h 58 min 59 s.
        assert!(m.contains("Please try again in 23h58m59s."), "{m}");
    }

    #[test]
    fn rejected_cost_policies_differ_in_what_a_429_consumes() {
        let now = Duration::ZERO;
        let limits = Limits {
            rpm: 100,
            tpm: 1_000,
            rpd: None,
        };
        let remaining_after_rejection = |policy| {
            let mut limiter = RateLimiter::new(limits, policy, now);
            limiter.admit(now, 900).unwrap();
            limiter.admit(now, 200).unwrap_err();
            let levels = limiter.levels(now);
            (levels.remaining_requests, levels.remaining_tokens)
        };
        assert_eq!(remaining_after_rejection(RejectedCost::Nothing), (99, 100));
        assert_eq!(remaining_after_rejection(RejectedCost::Request), (98, 100));
        assert_eq!(
            remaining_after_rejection(RejectedCost::RequestAndTokens),
            (98, 0)
        );
    }

    #[test]
    fn headers_use_openai_formats() {
        let now = Duration::ZERO;
        let mut limiter = RateLimiter::new(
            Limits {
                rpm: 500,
                tpm: 30_000,
                rpd: None,
            },
            RejectedCost::Nothing,
            now,
        );
        limiter.admit(now, 1_500).unwrap();
        let headers = limiter.levels(now).headers();
        let get = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("x-ratelimit-limit-requests"), "500");
        assert_eq!(get("x-ratelimit-limit-tokens"), "30000");
        assert_eq!(get("x-ratelimit-remaining-requests"), "499");
        assert_eq!(get("x-ratelimit-remaining-tokens"), "28500");
        assert_eq!(get("x-ratelimit-reset-requests"), "120ms");
        assert_eq!(get("x-ratelimit-reset-tokens"), "3s");
    }
}
