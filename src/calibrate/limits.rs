//! The account's rate limits as its answers' headers state them, and which tier of a tier set
//! they are. OpenAI sends `x-ratelimit-limit-*`, `-remaining-*` and `-reset-*` for requests and
//! tokens on every answer, resets as Go durations (`6m0s`, `120ms`); Azure OpenAI sends resets as
//! whole seconds, `-1` where it reports nothing, and `retry-after-ms` / `retry-after` on 429s.
//! Every figure is optional: an endpoint that sends none of them has "unknown" limits, and
//! calibration goes on without them. Pure: headers come in through a look-up function.

use std::time::Duration;

use serde::Serialize;

use crate::openai::catalog::{Catalog, MAX_RPM, MAX_TPM};

/// What one answer's headers said of the account's limits; `None` where a header was absent or
/// unreadable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct AccountLimits {
    /// Requests per minute (`x-ratelimit-limit-requests`).
    pub rpm: Option<u64>,
    /// Tokens per minute (`x-ratelimit-limit-tokens`).
    pub tpm: Option<u64>,
    pub remaining_requests: Option<u64>,
    pub remaining_tokens: Option<u64>,
    /// Until the request bucket is full again, in milliseconds.
    pub reset_requests_ms: Option<u64>,
    /// Until the token bucket is full again, in milliseconds.
    pub reset_tokens_ms: Option<u64>,
    /// `retry-after-ms`, else `retry-after` (seconds), in milliseconds.
    pub retry_after_ms: Option<u64>,
}

/// The longest duration a header may state (a day); longer values are read as absent.
const MAX_HEADER_MS: u64 = 86_400_000;

impl AccountLimits {
    /// Reads the headers; `header` looks one up by its lower-case name.
    pub fn from_headers<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Self {
        let count = |name: &str| header(name).and_then(parse_count);
        let reset = |name: &str| header(name).and_then(parse_reset_ms);
        let retry_after_ms = header("retry-after-ms")
            .and_then(parse_float)
            .map(|ms| ms.ceil() as u64)
            .or_else(|| {
                header("retry-after")
                    .and_then(parse_float)
                    .map(|s| (s * 1000.0).ceil() as u64)
            })
            .filter(|ms| *ms <= MAX_HEADER_MS);
        Self {
            rpm: count("x-ratelimit-limit-requests").filter(|n| (1..=MAX_RPM).contains(n)),
            tpm: count("x-ratelimit-limit-tokens").filter(|n| (1..=MAX_TPM).contains(n)),
            remaining_requests: count("x-ratelimit-remaining-requests"),
            remaining_tokens: count("x-ratelimit-remaining-tokens"),
            reset_requests_ms: reset("x-ratelimit-reset-requests"),
            reset_tokens_ms: reset("x-ratelimit-reset-tokens"),
            retry_after_ms,
        }
    }

    /// The limit headers an answer sent as counts outside what a tier can be (1 to
    /// [`MAX_RPM`] requests, 1 to [`MAX_TPM`] tokens a minute, as the catalog takes them): read
    /// as absent by [`Self::from_headers`], so that the overlay always loads; named for a note.
    pub fn out_of_range<'a>(header: impl Fn(&str) -> Option<&'a str>) -> Vec<String> {
        [
            ("x-ratelimit-limit-requests", MAX_RPM),
            ("x-ratelimit-limit-tokens", MAX_TPM),
        ]
        .into_iter()
        .filter(|(name, max)| {
            header(name)
                .and_then(parse_count)
                .is_some_and(|n| n == 0 || n > *max)
        })
        .map(|(name, max)| format!("{name} out of range (1 to {max}): ignored"))
        .collect()
    }

    /// Whether the answer stated both per-minute limits.
    pub fn known(&self) -> bool {
        self.rpm.is_some() && self.tpm.is_some()
    }

    /// How long a 429 asks to wait: `retry-after-ms` / `retry-after`, else the later of the two
    /// resets (the bucket that refused is not named in the headers), else `None`.
    pub fn wait_ms(&self) -> Option<u64> {
        self.retry_after_ms
            .or_else(|| match (self.reset_requests_ms, self.reset_tokens_ms) {
                (None, None) => None,
                (a, b) => Some(a.unwrap_or(0).max(b.unwrap_or(0))),
            })
    }
}

/// A count header: a whole number (Azure's `-1`, "not reported", and anything else unreadable
/// is absent).
fn parse_count(v: &str) -> Option<u64> {
    v.trim().parse::<u64>().ok()
}

/// A finite, non-negative number.
fn parse_float(v: &str) -> Option<f64> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
}

/// A reset header: a Go duration (OpenAI) or a plain number of seconds (Azure OpenAI).
fn parse_reset_ms(v: &str) -> Option<u64> {
    let v = v.trim();
    let ms = match parse_float(v) {
        Some(secs) => (secs * 1000.0).ceil() as u64,
        None => parse_go_duration(v)?.as_millis() as u64,
    };
    (ms <= MAX_HEADER_MS).then_some(ms)
}

/// Parses a Go `time.Duration` string (`644ms`, `3.89s`, `6m0s`, `14h29m11.04s`, `1.5µs`): one
/// or more decimal numbers, each followed by a unit of h, m, s, ms, us/µs or ns. `None` for
/// anything else (a sign, an empty string, a bare number, an overflow).
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total_ns: f64 = 0.0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let value: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let ns_per_unit = match &rest[..unit_len] {
            "h" => 3.6e12,
            "m" => 6e10,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" | "μs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total_ns += value * ns_per_unit;
    }
    if !total_ns.is_finite() || total_ns > MAX_HEADER_MS as f64 * 1e6 {
        return None;
    }
    Some(Duration::from_nanos(total_ns.round() as u64))
}

/// The tier of `set` whose limits for `model`'s rate-limit family are exactly the account's RPM
/// and TPM; `None` when the limits are unknown, the set or the model is not in the catalog, or no
/// tier matches.
pub fn match_tier(catalog: &Catalog, set: &str, model: &str, limits: &AccountLimits) -> Option<u8> {
    let (rpm, tpm) = (limits.rpm?, limits.tpm?);
    let family = &catalog.model(model)?.limits;
    catalog
        .tier_sets
        .get(set)?
        .tier
        .iter()
        .find(|t| {
            t.limits
                .get(family)
                .is_some_and(|l| l.rpm == rpm && l.tpm == tpm)
        })
        .map(|t| t.tier)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(pairs: &[(&str, &str)]) -> AccountLimits {
        AccountLimits::from_headers(|name| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn go_durations_as_openai_sends_them() {
        let ms = |s: &str| parse_go_duration(s).map(|d| d.as_millis());
        assert_eq!(ms("644ms"), Some(644));
        assert_eq!(ms("3.89s"), Some(3_890));
        assert_eq!(ms("18.642s"), Some(18_642));
        assert_eq!(ms("6m0s"), Some(360_000));
        assert_eq!(ms("1h0m0s"), Some(3_600_000));
        assert_eq!(ms("14h29m11.04s"), Some(52_151_040));
        assert_eq!(ms("0s"), Some(0));
        assert_eq!(
            parse_go_duration("1500us"),
            Some(Duration::from_micros(1_500))
        );
        assert_eq!(
            parse_go_duration("1.5µs"),
            Some(Duration::from_nanos(1_500))
        );
        for bad in [
            "",
            "s",
            "12",
            "-1s",
            "1x",
            "ms5",
            "1e3s",
            "99999999h",
            "1..2s",
        ] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_duration_the_stub_formats_parses_back() {
        for ms in [
            0, 1, 12, 120, 644, 999, 1_000, 3_890, 60_000, 360_000, 52_151_040,
        ] {
            let text = crate::openai::duration::format_ms(ms);
            assert_eq!(
                parse_go_duration(&text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn the_stubs_tier_1_headers_read_as_500_and_30000() {
        let l = read(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-remaining-tokens", "28950"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-reset-tokens", "2.1s"),
        ]);
        assert_eq!(
            l,
            AccountLimits {
                rpm: Some(500),
                tpm: Some(30_000),
                remaining_requests: Some(499),
                remaining_tokens: Some(28_950),
                reset_requests_ms: Some(120),
                reset_tokens_ms: Some(2_100),
                retry_after_ms: None,
            }
        );
        assert!(l.known());
        assert_eq!(l.wait_ms(), Some(2_100));
        let catalog = Catalog::embedded();
        assert_eq!(match_tier(&catalog, "openai-2025", "gpt-4o", &l), Some(1));
        // The same figures are no gpt-4o-mini tier (its Tier 1 allows 200,000 TPM).
        assert_eq!(match_tier(&catalog, "openai-2025", "gpt-4o-mini", &l), None);
        // A snapshot shares its alias's family.
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-4o-2024-08-06", &l),
            Some(1)
        );
    }

    #[test]
    fn tiers_match_exactly_or_not_at_all() {
        let catalog = Catalog::embedded();
        let at = |rpm, tpm| AccountLimits {
            rpm: Some(rpm),
            tpm: Some(tpm),
            ..AccountLimits::default()
        };
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-4o", &at(5_000, 800_000)),
            Some(3)
        );
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-4o-mini", &at(500, 200_000)),
            Some(1)
        );
        assert_eq!(
            match_tier(&catalog, "seed", "gpt-4o", &at(5_000, 100_000)),
            Some(2)
        );
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-4o", &at(777, 123_456)),
            None
        );
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-4o", &at(500, 30_001)),
            None
        );
        assert_eq!(
            match_tier(&catalog, "nope", "gpt-4o", &at(500, 30_000)),
            None
        );
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-9", &at(500, 30_000)),
            None
        );
        let unknown = AccountLimits::default();
        assert_eq!(
            match_tier(&catalog, "openai-2025", "gpt-4o", &unknown),
            None
        );
    }

    #[test]
    fn header_limits_out_of_range_are_ignored_with_a_note() {
        // Before: 18446744073709551615 was read, written to tiers.toml, and the overlay then
        // failed to load after every call was sent.
        let pairs = [
            ("x-ratelimit-limit-requests", "18446744073709551615"),
            ("x-ratelimit-limit-tokens", "1000000000000001"),
        ];
        let l = read(&pairs);
        assert_eq!((l.rpm, l.tpm), (None, None));
        let header = |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert_eq!(AccountLimits::out_of_range(header).len(), 2);
        // The bounds themselves are in range: 10^12 requests, 10^15 tokens.
        let top = [
            ("x-ratelimit-limit-requests", "1000000000000"),
            ("x-ratelimit-limit-tokens", "1000000000000000"),
        ];
        let l = read(&top);
        assert_eq!((l.rpm, l.tpm), (Some(MAX_RPM), Some(MAX_TPM)));
        let header = |name: &str| top.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        assert!(AccountLimits::out_of_range(header).is_empty());
    }

    #[test]
    fn no_headers_are_unknown_limits() {
        let l = read(&[]);
        assert_eq!(l, AccountLimits::default());
        assert!(!l.known());
        assert_eq!(l.wait_ms(), None);
    }

    #[test]
    fn azure_variants_seconds_resets_minus_one_and_retry_after() {
        let l = read(&[
            ("x-ratelimit-limit-tokens", "-1"),
            ("x-ratelimit-remaining-tokens", "-1"),
            ("x-ratelimit-remaining-requests", "59"),
            ("x-ratelimit-reset-tokens", "37"),
            ("retry-after-ms", "1500"),
            ("retry-after", "2"),
        ]);
        assert_eq!(l.tpm, None);
        assert_eq!(l.remaining_tokens, None);
        assert_eq!(l.remaining_requests, Some(59));
        assert_eq!(l.reset_tokens_ms, Some(37_000));
        assert_eq!(l.retry_after_ms, Some(1_500));
        assert_eq!(l.wait_ms(), Some(1_500));
        assert!(!l.known());
        // retry-after alone, in (fractional) seconds.
        assert_eq!(read(&[("retry-after", "0.25")]).retry_after_ms, Some(250));
        // An HTTP date, junk, a negative or absurd value: absent.
        for junk in [
            "Wed, 21 Oct 2026 07:28:00 GMT",
            "soon",
            "-3",
            "1e300",
            "NaN",
        ] {
            assert_eq!(
                read(&[("retry-after", junk)]).retry_after_ms,
                None,
                "{junk}"
            );
        }
        assert_eq!(read(&[("x-ratelimit-limit-requests", "0")]).rpm, None);
        assert_eq!(
            read(&[("x-ratelimit-reset-requests", "99999h")]).reset_requests_ms,
            None
        );
    }

    /// A day (86,400,000 ms) is the longest wait a header may state, in each of its forms:
    /// `retry-after-ms`, `retry-after` in seconds, a reset in seconds and a Go duration. A
    /// millisecond more is read as absent.
    #[test]
    fn a_day_is_the_longest_header_duration_in_every_form() {
        assert_eq!(
            read(&[("retry-after-ms", "86400000")]).retry_after_ms,
            Some(86_400_000)
        );
        assert_eq!(read(&[("retry-after-ms", "86400001")]).retry_after_ms, None);
        assert_eq!(
            read(&[("retry-after", "86400")]).retry_after_ms,
            Some(86_400_000)
        );
        assert_eq!(read(&[("retry-after", "86400.001")]).retry_after_ms, None);
        let reset = |v: &str| read(&[("x-ratelimit-reset-tokens", v)]).reset_tokens_ms;
        assert_eq!(reset("86400"), Some(86_400_000));
        assert_eq!(reset("86400.001"), None);
        assert_eq!(reset("24h0m0s"), Some(86_400_000));
        assert_eq!(reset("24h0m0.001s"), None);
        assert_eq!(parse_go_duration("24h"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_go_duration("24h1ns"), None);
        // Nanoseconds, Go's smallest unit: 1,500 ns = 1.5 µs.
        assert_eq!(
            parse_go_duration("1500ns"),
            Some(Duration::from_nanos(1_500))
        );
    }

    /// A wait of 0 is a wait (retry now), not an absent header.
    #[test]
    fn a_zero_retry_after_is_read() {
        assert_eq!(read(&[("retry-after", "0")]).retry_after_ms, Some(0));
        assert_eq!(read(&[("retry-after-ms", "0")]).wait_ms(), Some(0));
    }

    /// Without retry-after the wait is the later reset; one reset alone is the wait.
    #[test]
    fn the_wait_is_the_later_reset_or_the_only_one() {
        let only_tokens = read(&[("x-ratelimit-reset-tokens", "3s")]);
        assert_eq!(only_tokens.wait_ms(), Some(3_000));
        let only_requests = read(&[("x-ratelimit-reset-requests", "750ms")]);
        assert_eq!(only_requests.wait_ms(), Some(750));
        let both = read(&[
            ("x-ratelimit-reset-requests", "9s"),
            ("x-ratelimit-reset-tokens", "2s"),
        ]);
        assert_eq!(both.wait_ms(), Some(9_000));
    }

    /// Both limits are needed to know them: an RPM alone, or a TPM alone, is not known.
    #[test]
    fn one_limit_alone_is_not_known() {
        assert!(!read(&[("x-ratelimit-limit-requests", "500")]).known());
        assert!(!read(&[("x-ratelimit-limit-tokens", "30000")]).known());
    }

    /// A limit of 0 is out of range and named; one past the maximum is too; the maximum and a
    /// tier's ordinary figures are not.
    #[test]
    fn a_zero_limit_is_named_out_of_range() {
        let named = |pairs: &[(&str, &str)]| {
            AccountLimits::out_of_range(|name| {
                pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
            })
        };
        assert_eq!(
            named(&[("x-ratelimit-limit-requests", "0")]),
            vec!["x-ratelimit-limit-requests out of range (1 to 1000000000000): ignored"]
        );
        assert_eq!(
            named(&[("x-ratelimit-limit-tokens", "1000000000000001")]),
            vec!["x-ratelimit-limit-tokens out of range (1 to 1000000000000000): ignored"]
        );
        assert!(named(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-limit-tokens", "30000")
        ])
        .is_empty());
    }
}
