//! Client retry policies, as the official SDKs and OpenAI's cookbook implement them (see
//! docs/sources.md, SDK retries). Pure: the caller passes the attempt number, what came back and a
//! uniform random number, and gets the delay before the next attempt, or `None` to give up.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Which retry behaviour a client uses.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, schemars::JsonSchema, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum RetryPolicy {
    /// No retries: the first failure is final.
    None,
    /// openai-python / openai-node defaults: 2 retries, delay min(0.5 × 2^n, 8) s with up to
    /// -25 % jitter; retries 408, 409, 429, >= 500, timeouts and connection errors; honours
    /// `retry-after-ms`, then `retry-after`, when 0 < delay <= 60 s; `x-should-retry` overrides.
    #[default]
    Sdk,
    /// The cookbook's advice (tenacity `wait_random_exponential(min=1, max=60)`,
    /// `stop_after_attempt(6)`): up to 5 retries, each after a random wait between 1 s and
    /// min(60, 2^n) s.
    Patient,
}

/// What an attempt ended with, as far as retrying is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttemptOutcome {
    /// An HTTP answer that was not a success.
    Status {
        code: u16,
        /// `retry-after-ms`, else `retry-after` in seconds, if the server sent one.
        retry_after: Option<Duration>,
        /// `x-should-retry: true|false`, if sent.
        should_retry: Option<bool>,
    },
    /// No answer in time.
    Timeout,
    /// The connection failed or broke.
    Connect,
}

impl AttemptOutcome {
    /// An error status with the headers a client honours: `retry-after-ms`, then `retry-after`
    /// (seconds; an HTTP date is not read), and `x-should-retry`. `header` looks a header up by
    /// its lower-case name.
    pub fn from_status<'a>(code: u16, header: impl Fn(&str) -> Option<&'a str>) -> Self {
        // As openai-python: the first header that parses as a number counts; a value it would
        // not honour (<= 0, NaN, or above 60 s, however large) reads as absent, so no float
        // from a target reaches a `Duration` unbounded.
        let number = |name: &str| header(name).and_then(|v| v.trim().parse::<f64>().ok());
        let retry_after = number("retry-after-ms")
            .map(|ms| ms / 1000.0)
            .or_else(|| number("retry-after"))
            .filter(|s| *s > 0.0 && *s <= SDK_MAX_RETRY_AFTER.as_secs_f64())
            .and_then(|s| Duration::try_from_secs_f64(s).ok());
        let should_retry = header("x-should-retry").and_then(|v| match v {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        });
        AttemptOutcome::Status {
            code,
            retry_after,
            should_retry,
        }
    }
}

const SDK_MAX_RETRIES: u32 = 2;
const SDK_INITIAL: f64 = 0.5;
const SDK_MAX_DELAY: f64 = 8.0;
const SDK_MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
const PATIENT_ATTEMPTS: u32 = 6;

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first retry), or `None` to give up.
    /// `uniform` is a random number in [0, 1).
    pub fn next_delay(
        self,
        retry: u32,
        outcome: &AttemptOutcome,
        uniform: f64,
    ) -> Option<Duration> {
        match self {
            RetryPolicy::None => None,
            RetryPolicy::Sdk => {
                if retry > SDK_MAX_RETRIES || !sdk_retries(outcome) {
                    return None;
                }
                if let AttemptOutcome::Status {
                    retry_after: Some(after),
                    ..
                } = outcome
                {
                    if !after.is_zero() && *after <= SDK_MAX_RETRY_AFTER {
                        return Some(*after);
                    }
                }
                let n = retry - 1; // the SDK counts retries already made
                let base = (SDK_INITIAL * 2f64.powi(n as i32)).min(SDK_MAX_DELAY);
                Some(Duration::from_secs_f64(base * (1.0 - 0.25 * uniform)))
            }
            RetryPolicy::Patient => {
                if retry >= PATIENT_ATTEMPTS || !retryable_status(outcome) {
                    return None;
                }
                let upper = 2f64.powi(retry as i32).min(60.0);
                Some(Duration::from_secs_f64((uniform * upper).max(1.0)))
            }
        }
    }
}

fn sdk_retries(outcome: &AttemptOutcome) -> bool {
    match outcome {
        AttemptOutcome::Status {
            should_retry: Some(flag),
            ..
        } => *flag,
        other => retryable_status(other),
    }
}

fn retryable_status(outcome: &AttemptOutcome) -> bool {
    match outcome {
        AttemptOutcome::Status { code, .. } => matches!(code, 408 | 409 | 429) || *code >= 500,
        AttemptOutcome::Timeout | AttemptOutcome::Connect => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_of_1e300_is_ignored_not_a_panic() {
        // 1e300 is finite, but no Duration holds 1e300 s. Above 60 s (or at or below zero) the
        // SDK ignores the header, so it reads as absent.
        for (name, value) in [
            ("retry-after", "1e300"),
            ("retry-after-ms", "1e300"),
            ("retry-after", "61"),
            ("retry-after-ms", "60001"),
            ("retry-after", "-1"),
            ("retry-after", "0"),
            ("retry-after-ms", "0"),
            ("retry-after", "1.8e19"),
        ] {
            let got = AttemptOutcome::from_status(429, |n: &str| (n == name).then_some(value));
            assert_eq!(got, status(429), "{name}: {value}");
        }
        let got = AttemptOutcome::from_status(429, |n: &str| (n == "retry-after").then_some("60"));
        assert_eq!(
            got,
            AttemptOutcome::Status {
                code: 429,
                retry_after: Some(Duration::from_secs(60)),
                should_retry: None
            }
        );
    }

    fn status(code: u16) -> AttemptOutcome {
        AttemptOutcome::Status {
            code,
            retry_after: None,
            should_retry: None,
        }
    }

    #[test]
    fn sdk_backs_off_half_then_one_second_with_jitter_then_gives_up() {
        let p = RetryPolicy::Sdk;
        assert_eq!(
            p.next_delay(1, &status(429), 0.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            p.next_delay(1, &status(429), 1.0),
            Some(Duration::from_millis(375))
        );
        assert_eq!(
            p.next_delay(2, &status(500), 0.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.next_delay(2, &status(503), 1.0),
            Some(Duration::from_millis(750))
        );
        assert_eq!(p.next_delay(3, &status(429), 0.0), None);
    }

    #[test]
    fn sdk_retries_what_the_sdk_retries() {
        let p = RetryPolicy::Sdk;
        for code in [408, 409, 429, 500, 502, 503] {
            assert!(p.next_delay(1, &status(code), 0.5).is_some(), "{code}");
        }
        for code in [400, 401, 403, 404, 422] {
            assert!(p.next_delay(1, &status(code), 0.5).is_none(), "{code}");
        }
        assert!(p.next_delay(1, &AttemptOutcome::Timeout, 0.5).is_some());
        assert!(p.next_delay(1, &AttemptOutcome::Connect, 0.5).is_some());
        let forbid = AttemptOutcome::Status {
            code: 429,
            retry_after: None,
            should_retry: Some(false),
        };
        assert!(p.next_delay(1, &forbid, 0.5).is_none());
        let force = AttemptOutcome::Status {
            code: 400,
            retry_after: None,
            should_retry: Some(true),
        };
        assert!(p.next_delay(1, &force, 0.5).is_some());
    }

    #[test]
    fn sdk_honours_retry_after_up_to_60_seconds() {
        let p = RetryPolicy::Sdk;
        let after = |d| AttemptOutcome::Status {
            code: 429,
            retry_after: Some(d),
            should_retry: None,
        };
        assert_eq!(
            p.next_delay(1, &after(Duration::from_millis(644)), 0.9),
            Some(Duration::from_millis(644))
        );
        // Above 60 s (or zero) the SDK falls back to its own backoff.
        assert_eq!(
            p.next_delay(1, &after(Duration::from_secs(61)), 0.0),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            p.next_delay(1, &after(Duration::ZERO), 0.0),
            Some(Duration::from_millis(500))
        );
    }

    #[test]
    fn patient_waits_between_1_and_60_seconds_for_5_retries() {
        let p = RetryPolicy::Patient;
        assert_eq!(
            p.next_delay(1, &status(429), 0.0),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.next_delay(3, &status(429), 0.999_999),
            Some(Duration::from_secs_f64(0.999_999 * 8.0))
        );
        assert_eq!(
            p.next_delay(5, &status(429), 0.999_999).unwrap().as_secs(),
            31
        );
        assert_eq!(p.next_delay(6, &status(429), 0.5), None);
        // The fifth retry's cap is 2^5 = 32 s (below the 60 s ceiling): u = 1 waits all of it.
        assert_eq!(
            p.next_delay(5, &status(429), 1.0),
            Some(Duration::from_secs(32))
        );
    }

    #[test]
    fn none_never_retries() {
        assert_eq!(RetryPolicy::None.next_delay(1, &status(429), 0.0), None);
    }

    #[test]
    fn status_headers_are_read_and_junk_is_ignored() {
        let h = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        };
        assert_eq!(
            AttemptOutcome::from_status(
                429,
                h(&[("retry-after-ms", "1500"), ("retry-after", "9")])
            ),
            AttemptOutcome::Status {
                code: 429,
                retry_after: Some(Duration::from_millis(1500)),
                should_retry: None
            }
        );
        assert_eq!(
            AttemptOutcome::from_status(
                503,
                h(&[("retry-after", "2"), ("x-should-retry", "false")])
            ),
            AttemptOutcome::Status {
                code: 503,
                retry_after: Some(Duration::from_secs(2)),
                should_retry: Some(false)
            }
        );
        // `x-should-retry: true` forces a retry; anything but `true` or `false` is not read.
        assert_eq!(
            AttemptOutcome::from_status(400, h(&[("x-should-retry", "true")])),
            AttemptOutcome::Status {
                code: 400,
                retry_after: None,
                should_retry: Some(true)
            }
        );
        assert_eq!(
            AttemptOutcome::from_status(400, h(&[("x-should-retry", "yes")])),
            status(400)
        );
        // Regression: "inf" parses as a float and used to reach Duration::from_secs_f64 (a panic).
        for junk in ["inf", "NaN", "soon"] {
            let pairs: &'static [(&'static str, &'static str)] =
                Box::leak(vec![("retry-after", junk), ("retry-after-ms", junk)].into_boxed_slice());
            assert_eq!(
                AttemptOutcome::from_status(429, h(pairs)),
                AttemptOutcome::Status {
                    code: 429,
                    retry_after: None,
                    should_retry: None
                }
            );
        }
    }
}
