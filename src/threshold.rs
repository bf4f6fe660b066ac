//! A threshold, `metric op value` (`post.p95_ms <= 5000`, `error_rate <= 1%`), and the metrics
//! it may name: what scenario files' `[[thresholds]]` and gate files both parse into. A leaf:
//! the gate code evaluates thresholds against results.

use std::fmt;

use serde::Serialize;

/// The metric paths a threshold may name.
pub const METRICS: [&str; 17] = [
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
    "posts_ok",
    "posts_failed",
    "http_429",
    "retries",
];

/// The metrics that are ratios (0 to 1), the only ones a threshold may give in percent.
pub const RATIOS: [&str; 2] = ["error_rate", "rate_limited_ratio"];

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

/// One threshold: `metric op value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    pub metric: String,
    pub op: Op,
    pub value: f64,
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
        if !METRICS.contains(&metric) {
            return Err(format!(
                "`{s}`: unknown metric `{metric}` (known: {})",
                METRICS.join(", ")
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
        // One `%`, and only on a ratio: `post.p95_ms <= 50%` would read as 0.5 ms.
        let (number, percent) = match value.strip_suffix('%') {
            Some(n) => (n, true),
            None => (value, false),
        };
        if percent && !RATIOS.contains(&metric) {
            return Err(format!(
                "`{s}`: `{metric}` is not a ratio: give it without `%` (a percentage is only for {})",
                RATIOS.join(" and ")
            ));
        }
        let value: f64 = number
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| format!("`{s}`: `{value}` is not a number"))?;
        let value = if percent { value / 100.0 } else { value };
        Ok(Threshold {
            metric: metric.to_string(),
            op,
            value,
        })
    }
}
