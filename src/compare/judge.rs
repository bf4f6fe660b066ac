//! How `compare` judges one metric, so that two runs of unchanged code agree and a regression
//! shows. A count that the stub makes exact (calls, requests, tokens and cost per post, failed
//! posts, answers under 429s) is compared exactly: any rise is a regression, whatever the
//! tolerance, and no fall hides in it. A timing (post latency, makespan, the service's own time)
//! is judged on its per-post samples: a rise beyond the tolerance is a regression only when a
//! Mann–Whitney test finds the two runs' samples differ (p < [`ALPHA`]), and only with at least
//! [`MIN_POSTS`] samples on each side; below that compare says "too few posts to judge" rather
//! than pass or fail. In service mode a timing is a real process's wall clock, which the
//! machine's load moves a whole run at once: there a verdict needs [`MIN_RUNS`] runs a side,
//! and a rise is a regression only when, besides the tolerance and the rank test on the
//! per-post samples of all runs, the new side's best run is more than [`FLOOR_RISE`] slower
//! than the base side's best run (load only ever adds time, so a side's best run is its code's
//! cost with the least load on it). Pure.

use serde::Serialize;

/// Significance level under which a timing difference is not noise.
pub const ALPHA: f64 = 0.05;

/// The fewest samples (posts) each side needs for a timing verdict. Ten posts against ten
/// reach p = 0.0002 when every new post is slower than every old one (U = 0, mean 50,
/// variance 10 · 10 · 21 / 12 = 175, z = 50 / 13.2 = 3.78), so a real slowdown shows; below
/// ten a percentile is one or two posts (the p95 of 9 is the 9th), and p-values are coarse.
pub const MIN_POSTS: u64 = 10;

/// The fewest runs (repetitions, `run --repeat K`) each side needs for a timing verdict in
/// service mode. There a timing is a real process's wall clock, and the machine's load moves a
/// whole run at once: on a shared 2-core machine the reference's own time per post measured
/// 25 to 88 ms from one run to the next, while the 10 posts of one run stayed within a few ms
/// of each other (docs/gates.md). One run a side cannot tell a slower commit from a busier
/// minute; the best of 4 runs is the code's cost with the least load on it ([`FLOOR_RISE`]).
pub const MIN_RUNS: u64 = 4;

/// In service mode, how much slower the new side's best run (the lowest of its runs' medians)
/// must be than the base side's best run for a rise to be a regression: more than this share
/// (1.0: more than twice as slow). Load only adds time, so a side's best run is its code's
/// cost with the least load on it; on the loaded machine of docs/gates.md single runs of the
/// unchanged reference ranged 25 to 88 ms (own time), and its quiet runs 25 to 37 ms, so the
/// best of 4 runs moved by well under this between two sides of the same code, while a
/// slower memory look-up (+50 ms on about 30) more than doubles it. A smaller rise of a
/// service's timing is left to the gate's absolute thresholds, in the same run.
pub const FLOOR_RISE: f64 = 1.0;

/// A metric's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Same,
    Better,
    Regression,
    /// Beyond the tolerance, but the two runs' samples do not differ significantly.
    WithinNoise,
    /// A value is missing on one side.
    NotComparable,
    /// A timing with fewer than [`MIN_POSTS`] samples on a side: neither pass nor fail.
    TooFewPosts,
    /// A service-mode timing with fewer than [`MIN_RUNS`] runs on a side: neither pass nor
    /// fail.
    TooFewRuns,
}

/// Which per-post samples a timing is judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Samples {
    /// The latencies of the successful posts (`post_ok`).
    OkPosts,
    /// The latencies of every post, failed ones too (`post_ok` and `post_failed`): the
    /// makespan is the last of them to end.
    AllPosts,
    /// The service's own time per traced successful post (`service_own`); without traces on
    /// both sides, the successful posts' latencies (the own time estimated from means moves
    /// with them).
    OwnTime,
}

/// How a metric is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A count, the same in two runs of the same code and seed: lower is better, any rise is a
    /// regression.
    Exact,
    /// An exact count where more is better: retries per post under 429s (a client that stops
    /// retrying fails the posts a retry would have saved).
    ExactMoreIsBetter,
    /// A timing, lower is better, judged on these samples.
    Timing(Samples),
}

/// How `metric` is compared.
pub fn kind(metric: &str) -> Kind {
    match metric {
        "post.p50_ms" | "post.p95_ms" | "post.p99_ms" => Kind::Timing(Samples::OkPosts),
        "makespan_ms" => Kind::Timing(Samples::AllPosts),
        "service.own_mean_ms" | "service.own_p50_ms" | "service.own_p95_ms" => {
            Kind::Timing(Samples::OwnTime)
        }
        "service.retries_per_post" => Kind::ExactMoreIsBetter,
        _ => Kind::Exact,
    }
}

/// The rank test of a timing's samples: their counts on each side and, when both have some,
/// the two-sided p-value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankTest {
    /// Posts, or with `by_run` runs, on each side.
    pub posts: [u64; 2],
    /// Service mode: the minimum counted is of runs, and `floors` must rise.
    pub by_run: bool,
    /// The two-sided Mann–Whitney p-value of the per-post samples (of all runs, pooled).
    pub p_value: Option<f64>,
    /// Service mode: each side's best run (the lowest of its runs' medians), ms, base then new.
    pub floors: Option<[f64; 2]>,
}

impl RankTest {
    /// In service mode, the new side's best run is more than [`FLOOR_RISE`] slower than the
    /// base side's; outside it, always.
    fn floor_rose(&self) -> bool {
        !self.by_run
            || self
                .floors
                .is_some_and(|[b, n]| b > 0.0 && n > b * (1.0 + FLOOR_RISE))
    }
}

/// Two values are the same count when they differ by less than this share (per-post figures
/// are ratios of the same integers, so equal counts give equal floats; this only absorbs the
/// last bit of an average over repetitions).
const SAME: f64 = 1e-9;

/// The verdict on a metric whose values changed by `change` ((new − base) ÷ base; `None` when
/// one is missing). `test`: a timing's rank test.
pub fn verdict(kind: Kind, change: Option<f64>, test: Option<RankTest>, tolerance: f64) -> Verdict {
    let Some(change) = change else {
        return Verdict::NotComparable;
    };
    match kind {
        Kind::Exact | Kind::ExactMoreIsBetter => {
            let worse = if kind == Kind::Exact {
                change > SAME
            } else {
                change < -SAME
            };
            if worse {
                Verdict::Regression
            } else if change.abs() > SAME {
                Verdict::Better
            } else {
                Verdict::Same
            }
        }
        Kind::Timing(_) => {
            let by_run = test.is_some_and(|t| t.by_run);
            let least = if by_run { MIN_RUNS } else { MIN_POSTS };
            let Some(t) = test.filter(|t| t.posts.iter().all(|n| *n >= least)) else {
                return if by_run {
                    Verdict::TooFewRuns
                } else {
                    Verdict::TooFewPosts
                };
            };
            if change > tolerance {
                if t.p_value.is_some_and(|p| p < ALPHA) && t.floor_rose() {
                    Verdict::Regression
                } else {
                    Verdict::WithinNoise
                }
            } else if change < -tolerance {
                Verdict::Better
            } else {
                Verdict::Same
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test(n: [u64; 2], p: f64) -> Option<RankTest> {
        Some(RankTest {
            posts: n,
            by_run: false,
            p_value: Some(p),
            floors: None,
        })
    }

    #[test]
    fn an_exact_count_is_compared_exactly_whatever_the_tolerance() {
        use Verdict::*;
        let v = |change| verdict(Kind::Exact, Some(change), None, 0.5);
        // 2 calls a post, then 2.1: +5 %, inside a 50 % tolerance, still a regression.
        assert_eq!(v(0.05), Regression);
        // 800.1 prompt tokens a post, then 800.2: +0.0125 %.
        assert_eq!(v(0.1 / 800.1), Regression);
        assert_eq!(v(0.0), Same);
        assert_eq!(v(-0.05), Better);
        // From zero (0 ungraceful answers, then 3): an infinite rise.
        assert_eq!(v(f64::INFINITY), Regression);
        assert_eq!(verdict(Kind::Exact, None, None, 0.1), NotComparable);
    }

    #[test]
    fn fewer_retries_under_429s_is_the_regression() {
        use Verdict::*;
        let v = |change| verdict(Kind::ExactMoreIsBetter, Some(change), None, 0.1);
        // 2 retries a post, then none (`--retry none`): -100 %.
        assert_eq!(v(-1.0), Regression);
        assert_eq!(v(0.5), Better);
        assert_eq!(v(0.0), Same);
    }

    #[test]
    fn a_timing_needs_the_tolerance_and_the_test_and_enough_posts() {
        use Verdict::*;
        let own = Kind::Timing(Samples::OwnTime);
        // +30 % at p = 0.001 with 10 posts a side: a regression.
        assert_eq!(
            verdict(own, Some(0.3), test([10, 10], 0.001), 0.1),
            Regression
        );
        // The same rise the samples do not show (p = 0.2): within noise.
        assert_eq!(
            verdict(own, Some(0.3), test([10, 10], 0.2), 0.1),
            WithinNoise
        );
        // p = 0.05 exactly is not under 0.05.
        assert_eq!(
            verdict(own, Some(0.3), test([10, 10], ALPHA), 0.1),
            WithinNoise
        );
        // Significant but inside the tolerance: the same.
        assert_eq!(verdict(own, Some(0.05), test([40, 40], 1e-9), 0.1), Same);
        assert_eq!(verdict(own, Some(-0.3), test([10, 10], 0.001), 0.1), Better);
        // 9 posts on one side: too few, whatever the figures say.
        assert_eq!(
            verdict(own, Some(3.0), test([9, 40], 1e-9), 0.1),
            TooFewPosts
        );
        assert_eq!(
            verdict(own, Some(3.0), test([40, 9], 1e-9), 0.1),
            TooFewPosts
        );
        // No samples at all (a result without histograms).
        assert_eq!(verdict(own, Some(3.0), None, 0.1), TooFewPosts);
        // Enough posts on each side but no test: not significant.
        let untested = Some(RankTest {
            posts: [10, 10],
            by_run: false,
            p_value: None,
            floors: None,
        });
        assert_eq!(verdict(own, Some(3.0), untested, 0.1), WithinNoise);
        // A value missing is not comparable before anything else.
        assert_eq!(
            verdict(own, None, test([10, 10], 0.001), 0.1),
            NotComparable
        );
    }

    #[test]
    fn a_service_timing_needs_four_runs_a_side_and_its_best_run_doubled() {
        use Verdict::*;
        let own = Kind::Timing(Samples::OwnTime);
        let runs = |n: [u64; 2], p: f64, floors: [f64; 2]| {
            Some(RankTest {
                posts: n,
                by_run: true,
                p_value: Some(p),
                floors: Some(floors),
            })
        };
        let v = |change, t| verdict(own, Some(change), t, 0.1);
        // One run a side, however small p and however far the best runs: too few runs.
        assert_eq!(v(2.0, runs([1, 1], 1e-9, [30.0, 90.0])), TooFewRuns);
        assert_eq!(v(2.0, runs([4, 3], 1e-9, [30.0, 90.0])), TooFewRuns);
        // 4 a side, the posts differ (p = 1e-9), the best run 30 -> 61 ms: over twice as slow.
        assert_eq!(v(1.5, runs([4, 4], 1e-9, [30.0, 61.0])), Regression);
        // Twice exactly is not over twice: within noise.
        assert_eq!(v(1.5, runs([4, 4], 1e-9, [30.0, 60.0])), WithinNoise);
        // The unchanged service of docs/gates.md on a busier minute: runs at 33, 35, 47, 32
        // ms, then 45, 65, 84, 71 (+60 % by median, every post slower): the best run 32 -> 45,
        // +41 %: the load, not the code.
        assert_eq!(v(0.6, runs([4, 4], 1e-9, [32.0, 45.0])), WithinNoise);
        // The best run doubled but the posts do not differ: within noise.
        assert_eq!(v(1.5, runs([4, 4], 0.2, [30.0, 61.0])), WithinNoise);
        // Inside the tolerance, whatever the best runs: the same; faster: better.
        assert_eq!(v(0.05, runs([4, 4], 1e-9, [30.0, 61.0])), Same);
        assert_eq!(v(-0.5, runs([4, 4], 1e-9, [61.0, 30.0])), Better);
        // No best run on a side (no samples), or a best run of 0 ms: never a regression.
        let no_floor = Some(RankTest {
            floors: None,
            ..runs([4, 4], 1e-9, [0.0, 0.0]).unwrap()
        });
        assert_eq!(v(1.5, no_floor), WithinNoise);
        assert_eq!(v(1.5, runs([4, 4], 1e-9, [0.0, 61.0])), WithinNoise);
        // Outside service mode the best runs play no part: 10 posts a side, p = 0.001.
        assert_eq!(
            v(
                1.5,
                Some(RankTest {
                    by_run: false,
                    ..runs([10, 10], 0.001, [30.0, 30.0]).unwrap()
                })
            ),
            Regression
        );
    }

    #[test]
    fn each_compared_metric_has_its_kind() {
        use Kind::*;
        assert_eq!(kind("post.p95_ms"), Timing(Samples::OkPosts));
        assert_eq!(kind("makespan_ms"), Timing(Samples::AllPosts));
        assert_eq!(kind("service.own_p95_ms"), Timing(Samples::OwnTime));
        assert_eq!(kind("service.own_mean_ms"), Timing(Samples::OwnTime));
        assert_eq!(kind("service.retries_per_post"), ExactMoreIsBetter);
        for m in [
            "error_rate",
            "tokens_per_post",
            "cost_per_post_usd",
            "service.calls_per_post",
            "service.requests_per_post",
            "service.prompt_tokens_per_post",
            "service.completion_tokens_per_post",
            "service.under_429.ungraceful",
        ] {
            assert_eq!(kind(m), Exact, "{m}");
        }
    }

    /// The edges: a count that moved by exactly `SAME` (1e-9 of itself, the last bit of an
    /// average) is the same, by twice that it moved; a timing exactly at the tolerance is the
    /// same, either way.
    #[test]
    fn a_change_exactly_at_the_edge_is_the_same() {
        use Verdict::*;
        let exact = |change| verdict(Kind::Exact, Some(change), None, 0.5);
        assert_eq!(exact(1e-9), Same);
        assert_eq!(exact(-1e-9), Same);
        assert_eq!(exact(2e-9), Regression);
        assert_eq!(exact(-2e-9), Better);
        let more = |change| verdict(Kind::ExactMoreIsBetter, Some(change), None, 0.5);
        assert_eq!(more(-1e-9), Same);
        assert_eq!(more(1e-9), Same);
        assert_eq!(more(-2e-9), Regression);
        assert_eq!(more(2e-9), Better);
        let own = Kind::Timing(Samples::OwnTime);
        assert_eq!(verdict(own, Some(0.1), test([10, 10], 1e-9), 0.1), Same);
        assert_eq!(verdict(own, Some(-0.1), test([10, 10], 1e-9), 0.1), Same);
    }
}
