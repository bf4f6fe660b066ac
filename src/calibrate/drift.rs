//! The fit beside the shipped profile, figure by figure: a shipped figure is `within` when it
//! lies inside the fit's 95 % interval, and the shipped profile is a fair model of the account
//! when the figures that decide a run's latency (TTFT p50 and p95, the speed range) all are.

use serde::Serialize;

use super::fit::Fit;
use super::Estimate;
use crate::openai::latency::Profile;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    pub rows: Vec<DriftRow>,
    /// TTFT p50, p95 and both ends of the speed range are within.
    pub fair: bool,
    /// One plain sentence saying so, naming what moved.
    pub verdict: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftRow {
    pub figure: String,
    pub shipped: f64,
    pub fitted: Estimate,
    pub within: bool,
}

/// Figures whose drift makes the shipped profile unfair.
const DECISIVE: [&str; 4] = [
    "ttft p50 (ms)",
    "ttft p95 (ms)",
    "speed min (tokens/s)",
    "speed max (tokens/s)",
];

/// Compares `fit` with `shipped` (a fixed shipped profile has no figures to compare: no rows,
/// and not fair).
pub fn drift(fit: &Fit, shipped: &Profile) -> Drift {
    let Profile::HeavyTail {
        ttft_ms,
        output_tokens_per_s,
        prompt_tokens_per_output_token,
        completion_tokens,
        ..
    } = shipped
    else {
        return Drift {
            rows: Vec::new(),
            fair: false,
            verdict: format!(
                "{}: the shipped profile is fixed, not a latency model; use the fitted one",
                fit.model
            ),
        };
    };
    let row = |figure: &str, shipped: f64, fitted: Estimate| DriftRow {
        figure: figure.to_string(),
        shipped,
        fitted,
        within: fitted.low <= shipped && shipped <= fitted.high,
    };
    let rows = vec![
        row(DECISIVE[0], ttft_ms.p50, fit.ttft_p50_ms),
        row(DECISIVE[1], ttft_ms.p95, fit.ttft_p95_ms),
        row(DECISIVE[2], output_tokens_per_s.min, fit.tokens_per_s_min),
        row(DECISIVE[3], output_tokens_per_s.max, fit.tokens_per_s_max),
        row(
            "prompt tokens per output token",
            *prompt_tokens_per_output_token,
            fit.prompt_tokens_per_output_token,
        ),
        row(
            "completion median (tokens)",
            completion_tokens.median as f64,
            fit.completion_median,
        ),
        row(
            "completion sigma",
            completion_tokens.sigma,
            fit.completion_sigma,
        ),
    ];
    let moved: Vec<&str> = rows
        .iter()
        .filter(|r| DECISIVE.contains(&r.figure.as_str()) && !r.within)
        .map(|r| r.figure.as_str())
        .collect();
    let fair = moved.is_empty();
    let verdict = if fair {
        format!(
            "{}: the shipped profile is still a fair model of this account (TTFT p50, p95 and \
             the speed range all lie within the fit's 95 % intervals)",
            fit.model
        )
    } else {
        format!(
            "{}: the shipped profile no longer describes this account: {} moved outside the \
             fit's 95 % interval; use the calibrated profile",
            fit.model,
            moved.join(", ")
        )
    };
    Drift {
        rows,
        fair,
        verdict,
    }
}

/// [`drift`] with one more row when the fit measured prompt caching: the hit share beside the
/// shipped profile's (`Catalog::prompt_cache_hit`). It does not decide fairness (latency does),
/// but the verdict names it when it moved, since the cost per post rests on it.
pub fn drift_with_cache(fit: &Fit, shipped: &Profile, shipped_cache_hit: f64) -> Drift {
    let mut d = drift(fit, shipped);
    let Some(hit) = fit.prompt_cache_hit else {
        return d;
    };
    let within = hit.low <= shipped_cache_hit && shipped_cache_hit <= hit.high;
    d.rows.push(DriftRow {
        figure: "prompt cache hit share".into(),
        shipped: shipped_cache_hit,
        fitted: hit,
        within,
    });
    if !within {
        d.verdict.push_str(&format!(
            "; the prompt cache hit {:.0} % of eligible calls against the shipped {:.0} %, so \
             cost per post rests on the calibrated share",
            100.0 * hit.value,
            100.0 * shipped_cache_hit
        ));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrate::Method;
    use crate::openai::latency::{LengthDist, Range, TtftPercentiles};

    fn est(value: f64, low: f64, high: f64) -> Estimate {
        Estimate { value, low, high }
    }

    fn shipped() -> Profile {
        Profile::HeavyTail {
            as_of: "2025-06-01".into(),
            source: "test".into(),
            ttft_ms: TtftPercentiles {
                p50: 639.0,
                p95: 1144.0,
                p99: 4517.0,
                p99_99: 7010.0,
            },
            output_tokens_per_s: Range {
                min: 40.0,
                max: 120.0,
            },
            prompt_tokens_per_output_token: 100.0,
            completion_tokens: LengthDist {
                median: 220,
                sigma: 0.35,
                min: 8,
                max: 2048,
            },
        }
    }

    /// A fit whose intervals hold every shipped figure.
    fn fit_around_shipped() -> Fit {
        Fit {
            model: "gpt-4o".into(),
            calls: 160,
            method: Method::Streamed,
            ttft_p50_ms: est(650.0, 620.0, 680.0),
            ttft_p95_ms: est(1100.0, 1000.0, 1200.0),
            tokens_per_s_min: est(41.0, 38.0, 43.0),
            tokens_per_s_max: est(118.0, 115.0, 124.0),
            prompt_tokens_per_output_token: est(90.0, 60.0, 130.0),
            completion_median: est(215.0, 200.0, 230.0),
            completion_sigma: est(0.33, 0.28, 0.40),
            prompt_cache_hit: None,
            profile: shipped(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn every_figure_within_is_fair() {
        let d = drift(&fit_around_shipped(), &shipped());
        assert_eq!(d.rows.len(), 7);
        assert!(d.rows.iter().all(|r| r.within));
        assert!(d.fair);
        assert!(d.verdict.contains("still a fair model"), "{}", d.verdict);
    }

    #[test]
    fn an_interval_end_equal_to_the_shipped_figure_counts_as_within() {
        let mut f = fit_around_shipped();
        f.ttft_p50_ms = est(600.0, 560.0, 639.0);
        assert!(drift(&f, &shipped()).rows[0].within);
    }

    #[test]
    fn a_moved_p95_or_speed_end_is_not_fair_and_is_named() {
        let mut f = fit_around_shipped();
        f.ttft_p95_ms = est(2000.0, 1800.0, 2300.0);
        f.tokens_per_s_min = est(20.0, 18.0, 22.0);
        let d = drift(&f, &shipped());
        assert!(!d.fair);
        assert!(!d.rows[1].within && !d.rows[2].within && d.rows[0].within);
        assert!(
            d.verdict
                .contains("ttft p95 (ms), speed min (tokens/s) moved"),
            "{}",
            d.verdict
        );
    }

    #[test]
    fn a_moved_secondary_figure_leaves_the_verdict_fair() {
        let mut f = fit_around_shipped();
        f.completion_median = est(400.0, 380.0, 420.0);
        f.prompt_tokens_per_output_token = est(30.0, 20.0, 40.0);
        let d = drift(&f, &shipped());
        assert!(d.fair);
        assert!(!d.rows[4].within && !d.rows[5].within);
    }

    #[test]
    fn a_measured_cache_share_is_a_row_that_names_itself_when_it_moved() {
        let mut f = fit_around_shipped();
        assert_eq!(drift_with_cache(&f, &shipped(), 0.0).rows.len(), 7);
        // 10 of 11 hits: Wilson interval (0.62, 0.98), which 0 lies outside.
        f.prompt_cache_hit = Some(crate::calibrate::stats::wilson(10, 11));
        let d = drift_with_cache(&f, &shipped(), 0.0);
        assert_eq!(d.rows.len(), 8);
        assert!(!d.rows[7].within && d.fair);
        assert!(d
            .verdict
            .ends_with("cost per post rests on the calibrated share"));
        let same = drift_with_cache(&f, &shipped(), 0.9);
        assert!(same.rows[7].within && same.verdict == drift(&f, &shipped()).verdict);
    }

    #[test]
    fn a_fixed_shipped_profile_has_nothing_to_compare() {
        let fixed = Profile::Fixed {
            as_of: String::new(),
            source: String::new(),
            latency_ms: 0,
            completion_tokens: 100,
        };
        let d = drift(&fit_around_shipped(), &fixed);
        assert!(d.rows.is_empty() && !d.fair);
    }
}
