//! A threshold, `metric op value` (`post.p95_ms <= 5000`, `error_rate <= 1%`), and the metrics
//! it may name: what scenario files' `[[thresholds]]` and gate files both parse into. A leaf:
//! the gate code evaluates thresholds against results.

use std::fmt;

use serde::Serialize;

/// The metric paths a threshold may name.
pub const METRICS: [&str; 22] = [
    "post.p50_ms",
    "post.p90_ms",
    "post.p95_ms",
    "post.p99_ms",
    "post.p99_9_ms",
    "post.max_ms",
    "post.mean_ms",
    "makespan_ms",
    "start_spread_ms",
    "error_rate",
    "rate_limited_ratio",
    "tokens_per_post",
    "cost_per_post_usd",
    "wasted_tokens",
    "wasted_usd",
    "posts_ok",
    "posts_failed",
    "http_429",
    "retries",
    "first_caption_token.p50_ms",
    "first_caption_token.p95_ms",
    "first_caption_token.p99_ms",
];

/// Service mode's figures (`report::service`): in all, per call type, and per post from the
/// stub's traces (with `service.under_429.status_<code>`, see [`under_429_status`]).
pub const SERVICE_METRICS: [&str; 26] = [
    "service.requests_per_post",
    "service.calls_per_post",
    "service.prompt_tokens_per_post",
    "service.completion_tokens_per_post",
    "service.retried_requests",
    "service.own_mean_ms",
    "service.own_p50_ms",
    "service.own_p95_ms",
    "service.own_max_ms",
    "service.retries_per_post",
    "service.traced_posts",
    "service.under_429.posts",
    "service.under_429.ungraceful",
    "service.under_429.without_retry_after",
    "service.image_prompt.requests_per_post",
    "service.image_prompt.calls_per_post",
    "service.image_prompt.prompt_tokens_per_post",
    "service.image_prompt.completion_tokens_per_post",
    "service.caption.requests_per_post",
    "service.caption.calls_per_post",
    "service.caption.prompt_tokens_per_post",
    "service.caption.completion_tokens_per_post",
    "service.other.requests_per_post",
    "service.other.calls_per_post",
    "service.other.prompt_tokens_per_post",
    "service.other.completion_tokens_per_post",
];

/// Posts failed for one cause (`failed.server_error`: a service answering 500 under rate
/// limits, where it should pass the 429 on).
pub const FAILED_METRICS: [&str; 9] = [
    "failed.rate_limited",
    "failed.server_error",
    "failed.timeout",
    "failed.connect",
    "failed.reset",
    "failed.bad_body",
    "failed.other_status",
    "failed.budget_stopped",
    "failed.empty_answer",
];

/// `service.under_429.status_500`: posts whose calls met a 429 that the service answered with
/// this status (100 to 599).
pub fn under_429_status(metric: &str) -> Option<u16> {
    let code: u16 = metric
        .strip_prefix("service.under_429.status_")?
        .parse()
        .ok()?;
    (100..=599).contains(&code).then_some(code)
}

fn known(metric: &str) -> bool {
    METRICS.contains(&metric)
        || SERVICE_METRICS.contains(&metric)
        || under_429_status(metric).is_some()
        || FAILED_METRICS.contains(&metric)
        || goodput_bound(metric).is_some()
}

/// The metrics that are ratios (0 to 1), the only ones a threshold may give in percent.
pub const RATIOS: [&str; 2] = ["error_rate", "rate_limited_ratio"];

/// `goodput_5s`: the share of posts that succeeded within 5 s (any bound from 1 ms to an hour,
/// `goodput_2.5s`). A ratio, so it takes `%`.
pub fn goodput_bound(metric: &str) -> Option<std::time::Duration> {
    let s: f64 = metric
        .strip_prefix("goodput_")?
        .strip_suffix('s')?
        .parse()
        .ok()?;
    (s.is_finite() && (0.001..=3600.0).contains(&s)).then(|| std::time::Duration::from_secs_f64(s))
}

fn is_ratio(metric: &str) -> bool {
    RATIOS.contains(&metric) || goodput_bound(metric).is_some()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn holds(self, measured: f64, limit: f64) -> bool {
        match self {
            Op::Lt => measured < limit,
            Op::Le => measured <= limit,
            Op::Gt => measured > limit,
            Op::Ge => measured >= limit,
        }
    }
    fn symbol(self) -> &'static str {
        match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

/// What a threshold does when its metric has no value in a case (a gate file's
/// `missing = "fail" | "skip"`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    /// Fails: a gate never passes on a figure it could not read.
    #[default]
    Fail,
    /// Neither passes nor fails, and says so (a team without trace propagation keeps the rest
    /// of its gate strict).
    Skip,
}

/// One threshold: `metric op value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub metric: String,
    pub op: Op,
    pub value: f64,
    pub missing: Missing,
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.metric, self.op.symbol(), self.value)
    }
}

impl std::str::FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split_whitespace().collect();
        let [metric, op, value] = parts[..] else {
            return Err(format!(
                "`{s}`: write `metric op value`, e.g. `post.p95_ms <= 5000`"
            ));
        };
        if !known(metric) {
            return Err(format!(
                "`{s}`: unknown metric `{metric}` (known: {}, goodput_Ns for N from 0.001 to 3600, service.*: {}, service.under_429.status_<code>, failed.*: {})",
                METRICS.join(", "),
                SERVICE_METRICS.join(", "),
                FAILED_METRICS.join(", ")
            ));
        }
        let op = match op {
            "<" => Op::Lt,
            "<=" => Op::Le,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            other => {
                return Err(format!(
                    "`{s}`: unknown operator `{other}` (use <, <=, > or >=)"
                ))
            }
        };
        // One `%`, and only on a ratio: `post.p95_ms <= 50%` would read as 0.5 ms. A ratio's
        // value is a share, read by the one share parser: `error_rate <= 5` is refused (it
        // would hold for any run), not read as 500 %.
        if is_ratio(metric) {
            let value = crate::share::parse(value)
                .map_err(|e| format!("`{s}`: `{metric}` is a ratio: {e}"))?;
            // A ratio never passes 100 %: past it the threshold holds for every run, or for
            // none, whatever the run measured.
            if value > 1.0 {
                return Err(format!(
                    "`{s}`: `{metric}` is a ratio from 0 to 100 %: past 100 % the threshold would hold for every run or for none"
                ));
            }
            return Ok(Threshold {
                metric: metric.to_string(),
                op,
                value,
                missing: Missing::Fail,
            });
        }
        if value.ends_with('%') {
            return Err(format!(
                "`{s}`: `{metric}` is not a ratio: give it without `%` (a percentage is only for {} and goodput_Ns)",
                RATIOS.join(" and ")
            ));
        }
        let value: f64 = value
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("`{s}`: `{value}` is not a number"))?;
        Ok(Threshold {
            metric: metric.to_string(),
            op,
            value,
            missing: Missing::Fail,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn goodput_names_its_bound_in_seconds_and_takes_a_percentage() {
        assert_eq!(goodput_bound("goodput_5s"), Some(Duration::from_secs(5)));
        assert_eq!(
            goodput_bound("goodput_2.5s"),
            Some(Duration::from_millis(2_500))
        );
        // No unit, no bound, a bound of 0 or over an hour: not a metric.
        for bad in [
            "goodput_5",
            "goodput_s",
            "goodput_0s",
            "goodput_3601s",
            "goodput_nans",
        ] {
            assert_eq!(goodput_bound(bad), None, "{bad}");
            assert!(
                format!("{bad} >= 0.9").parse::<Threshold>().is_err(),
                "{bad}"
            );
        }
        let t: Threshold = "goodput_5s >= 90%".parse().unwrap();
        assert_eq!(
            (t.metric.as_str(), t.op, t.value),
            ("goodput_5s", Op::Ge, 0.9)
        );
        // Other metrics still refuse `%`.
        assert!("posts_ok >= 90%".parse::<Threshold>().is_err());
    }

    #[test]
    fn a_ratio_threshold_above_1_is_refused_not_read_as_hundreds_of_percent() {
        // `error_rate <= 5` held for every run (no rate passes 1); it meant 5 %.
        let e = "error_rate <= 5".parse::<Threshold>().unwrap_err();
        assert!(e.contains("write 5% or 0.05"), "{e}");
        assert!("goodput_5s >= 90".parse::<Threshold>().is_err());
        for (text, want) in [("error_rate <= 0.05", 0.05), ("error_rate <= 5%", 0.05)] {
            assert_eq!(text.parse::<Threshold>().unwrap().value, want, "{text}");
        }
        // Counts and timings above 1 are plain numbers.
        assert_eq!("posts_ok >= 10".parse::<Threshold>().unwrap().value, 10.0);
        // A percentage past 100 % cannot judge a ratio: `error_rate <= 200%` passed every run.
        for bad in [
            "error_rate <= 200%",
            "rate_limited_ratio < 100.5%",
            "goodput_5s >= 150%",
        ] {
            let e = bad.parse::<Threshold>().unwrap_err();
            assert!(
                e.contains("is a ratio from 0 to 100 %: past 100 %"),
                "{bad}: {e}"
            );
        }
        assert_eq!(
            "error_rate <= 100%".parse::<Threshold>().unwrap().value,
            1.0
        );
    }

    #[test]
    fn answers_under_429_are_named_by_any_http_status() {
        assert_eq!(under_429_status("service.under_429.status_500"), Some(500));
        assert_eq!(under_429_status("service.under_429.status_100"), Some(100));
        for bad in [
            "service.under_429.status_99",
            "service.under_429.status_600",
            "service.under_429.status_",
            "service.under_429.status_5xx",
            "service.under_429.status_-1",
            "service.under_429.ungraceful",
        ] {
            assert_eq!(under_429_status(bad), None, "{bad}");
        }
        let t: Threshold = "service.under_429.status_502 <= 0".parse().unwrap();
        assert_eq!(t.metric, "service.under_429.status_502");
        assert!("service.under_429.status_42 <= 0"
            .parse::<Threshold>()
            .is_err());
        for m in [
            "service.own_p95_ms",
            "service.retries_per_post",
            "service.under_429.ungraceful",
        ] {
            assert!(format!("{m} <= 1").parse::<Threshold>().is_ok(), "{m}");
        }
    }

    /// Each operator at, below and above its limit: `<` and `>` are strict, `<=` and `>=`
    /// hold at the limit itself.
    #[test]
    fn each_operator_at_below_and_above_its_limit() {
        let at = |op: Op| [op.holds(4.0, 5.0), op.holds(5.0, 5.0), op.holds(6.0, 5.0)];
        assert_eq!(at(Op::Lt), [true, false, false]);
        assert_eq!(at(Op::Le), [true, true, false]);
        assert_eq!(at(Op::Gt), [false, false, true]);
        assert_eq!(at(Op::Ge), [false, true, true]);
    }

    /// A threshold prints as it is written, each operator with its own symbol, and reads back.
    #[test]
    fn a_threshold_prints_as_written_and_reads_back() {
        for text in [
            "post.p95_ms < 5000",
            "post.p95_ms <= 5000",
            "posts_ok > 10",
            "posts_ok >= 10.5",
        ] {
            let t: Threshold = text.parse().unwrap();
            assert_eq!(t.to_string(), text);
            assert_eq!(t.missing, Missing::Fail);
            assert_eq!(t.to_string().parse::<Threshold>().unwrap(), t);
        }
    }

    /// One metric from each family is known on its own (the families are alternatives, not
    /// all required), and a name in none of them is refused with the list.
    #[test]
    fn a_metric_from_each_family_is_known_and_others_are_refused() {
        for m in [
            "makespan_ms",
            "service.own_p50_ms",
            "service.under_429.status_429",
            "failed.timeout",
            "goodput_1s",
        ] {
            assert!(known(m), "{m}");
            assert!(format!("{m} >= 0").parse::<Threshold>().is_ok(), "{m}");
        }
        assert!(!known("post.p42_ms"));
        let e = "post.p42_ms <= 1".parse::<Threshold>().unwrap_err();
        assert!(e.contains("unknown metric `post.p42_ms`"), "{e}");
        assert!(e.contains("failed.empty_answer"), "{e}");
        assert!(!is_ratio("posts_ok") && is_ratio("rate_limited_ratio") && is_ratio("goodput_3s"));
    }

    /// Malformed thresholds are refused, each saying why, never read as something else.
    #[test]
    fn malformed_thresholds_say_what_is_wrong() {
        let err = |s: &str| s.parse::<Threshold>().unwrap_err();
        assert!(err("post.p95_ms <=").contains("write `metric op value`"));
        assert!(err("post.p95_ms <= 5 ms").contains("write `metric op value`"));
        assert!(err("post.p95_ms == 5").contains("unknown operator `==`"));
        for v in ["abc", "inf", "NaN"] {
            let e = err(&format!("post.p95_ms <= {v}"));
            assert!(e.contains(&format!("`{v}` is not a number")), "{e}");
        }
        assert!(err("post.p95_ms <= 50%").contains("is not a ratio"));
    }
}
