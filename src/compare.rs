//! Baselines: compare two results case by case (scenario × tier), metric by metric. Lower is
//! better for every compared metric but retries under 429s. Exact counts (calls, tokens, failed
//! posts, answers under 429s) are compared exactly; a timing (post latency, makespan, the
//! service's own time) is judged on the per-post samples kept in result.json (a Mann–Whitney U
//! test on the exact HdrHistograms), so a rise that the spread of the two runs explains is
//! reported as within noise, and with too few posts as not judged ([`judge`]). Pure.

mod judge;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::gate::metric;
use crate::metrics::{hdr, hlog};
use crate::report::{CaseResult, RunResult};

pub use judge::{kind, Kind, RankTest, Samples, Verdict, ALPHA, MIN_POSTS, MIN_RUNS};

/// The metrics compared, all lower-is-better.
pub const COMPARED: [&str; 7] = [
    "post.p50_ms",
    "post.p95_ms",
    "post.p99_ms",
    "makespan_ms",
    "error_rate",
    "tokens_per_post",
    "cost_per_post_usd",
];

/// In service mode (both sides with the stub alongside), the service's own figures too: a
/// commit that adds a call, grows a prompt, slows its own work, answers 500 under rate limits
/// or stops retrying shows here. The own time per post by its median, not its p95: the p95
/// of a few posts is one post, and the rank test judges the whole sample anyway.
pub const SERVICE_COMPARED: [&str; 8] = [
    "service.calls_per_post",
    "service.requests_per_post",
    "service.prompt_tokens_per_post",
    "service.completion_tokens_per_post",
    "service.own_mean_ms",
    "service.own_p50_ms",
    "service.under_429.ungraceful",
    "service.retries_per_post",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Delta {
    pub case: String,
    pub metric: String,
    pub base: Option<f64>,
    pub new: Option<f64>,
    /// (new − base) ÷ base.
    pub change: Option<f64>,
    /// Two-sided Mann–Whitney p-value of the timing's per-post samples (timings only).
    pub p_value: Option<f64>,
    /// A timing's samples on each side, base then new: posts, or in service mode runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posts: Option<[u64; 2]>,
    /// In service mode a timing's samples are runs (each run's median), not posts.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub by_run: bool,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub tolerance: f64,
    pub deltas: Vec<Delta>,
    /// Cases in one result only.
    pub unmatched: Vec<String>,
}

impl Comparison {
    pub fn regressions(&self) -> usize {
        self.deltas
            .iter()
            .filter(|d| d.verdict == Verdict::Regression)
            .count()
    }
}

/// The cases of one scenario × tier (one per repetition).
struct Group<'a> {
    name: String,
    cases: Vec<&'a CaseResult>,
}

fn groups(r: &RunResult) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for c in &r.cases {
        let name = format!("{} tier {}", c.scenario, c.tier);
        match out.iter_mut().find(|g| g.name == name) {
            Some(g) => g.cases.push(c),
            None => out.push(Group {
                name,
                cases: vec![c],
            }),
        }
    }
    out
}

impl Group<'_> {
    /// Every repetition's histograms of these tags in one (`None` when a case lacks them all,
    /// or one does not decode).
    fn pooled(&self, tags: &[&str]) -> Option<Histogram<u64>> {
        let mut all = Vec::new();
        for c in &self.cases {
            let mut found = false;
            for tag in tags {
                if let Some(text) = c.measured.histograms.get(*tag) {
                    all.push(hlog::decode(text).ok()?);
                    found = true;
                }
            }
            if !found {
                return None;
            }
        }
        hdr::pool(all).ok()?
    }

    /// Every repetition's successful post latencies in one histogram.
    fn post_ok(&self) -> Option<Histogram<u64>> {
        self.pooled(&["post_ok"])
    }

    /// The samples a timing is judged on.
    fn samples(&self, s: Samples, post_ok: Option<&Histogram<u64>>) -> Option<Histogram<u64>> {
        match s {
            Samples::OkPosts => post_ok.cloned(),
            _ => self.pooled(tags(s)),
        }
    }

    /// Service mode: each run's (repetition's) median of a timing's samples, µs; runs without
    /// samples left out.
    fn run_medians(&self, s: Samples) -> Option<Histogram<u64>> {
        let mut medians = hdr::micros();
        for c in &self.cases {
            let one = Group {
                name: String::new(),
                cases: vec![c],
            }
            .pooled(tags(s))?;
            if !one.is_empty() {
                medians.record(one.value_at_quantile(0.5)).ok()?;
            }
        }
        Some(medians)
    }

    /// Every case ran in service mode with the stub alongside.
    fn has_service(&self) -> bool {
        self.cases.iter().all(|c| c.service.is_some())
    }

    /// A latency percentile of the pooled histogram; any other metric, averaged over the
    /// repetitions that have it.
    fn value(&self, m: &str, pooled: Option<&Histogram<u64>>) -> Option<f64> {
        let q = match m {
            "post.p50_ms" => Some(0.50),
            "post.p95_ms" => Some(0.95),
            "post.p99_ms" => Some(0.99),
            _ => None,
        };
        if let (Some(q), Some(h)) = (q, pooled) {
            return (!h.is_empty()).then(|| hdr::percentile_ms(h, q));
        }
        let values: Vec<f64> = self.cases.iter().filter_map(|c| metric(c, m)).collect();
        (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
    }
}

/// The histograms a timing's samples come from.
fn tags(s: Samples) -> &'static [&'static str] {
    match s {
        Samples::OkPosts => &["post_ok"],
        Samples::AllPosts => &["post_ok", "post_failed"],
        Samples::OwnTime => &[crate::report::service::per_post::OWN_HISTOGRAM],
    }
}

/// Compares two results. Cases are matched by scenario and tier; the repetitions of one
/// (`run --repeat K`) are pooled: latency percentiles from the merged histograms, other metrics
/// averaged, and the significance test run on all posts of all repetitions.
pub fn compare(base: &RunResult, new: &RunResult, tolerance: f64) -> Comparison {
    let mut deltas = Vec::new();
    let mut unmatched = Vec::new();
    let (base_groups, new_groups) = (groups(base), groups(new));
    for b in &base_groups {
        let Some(n) = new_groups.iter().find(|n| n.name == b.name) else {
            unmatched.push(format!("{} (only in the baseline)", b.name));
            continue;
        };
        let (bh, nh) = (b.post_ok(), n.post_ok());
        let service: &[&str] = if b.has_service() && n.has_service() {
            &SERVICE_COMPARED
        } else {
            &[]
        };
        for &m in COMPARED.iter().chain(service) {
            let (bv, nv) = (b.value(m, bh.as_ref()), n.value(m, nh.as_ref()));
            let change = match (bv, nv) {
                (Some(bv), Some(nv)) if bv != 0.0 => Some((nv - bv) / bv),
                (Some(bv), Some(nv)) if bv == 0.0 && nv == 0.0 => Some(0.0),
                (Some(_), Some(_)) => Some(f64::INFINITY),
                _ => None,
            };
            let kind = kind(m);
            let test = match kind {
                // A real service's wall clock: the runs are the samples.
                Kind::Timing(s) if !service.is_empty() => {
                    let own = |g: &Group| g.run_medians(s);
                    let (bm, nm) = match (own(b), own(n)) {
                        (Some(x), Some(y)) => (Some(x), Some(y)),
                        _ => (
                            b.run_medians(Samples::OkPosts),
                            n.run_medians(Samples::OkPosts),
                        ),
                    };
                    Some(RankTest {
                        by_run: true,
                        ..rank_test(bm, nm, false, (None, None))
                    })
                }
                Kind::Timing(s) => Some(rank_test(
                    b.samples(s, bh.as_ref()),
                    n.samples(s, nh.as_ref()),
                    s == Samples::OwnTime,
                    (bh.as_ref(), nh.as_ref()),
                )),
                _ => None,
            };
            deltas.push(Delta {
                case: b.name.clone(),
                metric: m.to_string(),
                base: bv,
                new: nv,
                change,
                p_value: test.and_then(|t| t.p_value),
                posts: test.map(|t| t.posts),
                by_run: test.is_some_and(|t| t.by_run),
                verdict: judge::verdict(kind, change, test, tolerance),
            });
        }
    }
    for n in &new_groups {
        if !base_groups.iter().any(|b| b.name == n.name) {
            unmatched.push(format!("{} (only in the new result)", n.name));
        }
    }
    Comparison {
        tolerance,
        deltas,
        unmatched,
    }
}

/// The rank test of a timing's samples. The own time without traces on both sides (the mean
/// estimate of a service that does not forward `traceparent`) falls back on the successful
/// posts' latencies, which it moves with.
fn rank_test(
    base: Option<Histogram<u64>>,
    new: Option<Histogram<u64>>,
    own: bool,
    post_ok: (Option<&Histogram<u64>>, Option<&Histogram<u64>>),
) -> RankTest {
    let (base, new) = match (base, new) {
        (Some(b), Some(n)) => (Some(b), Some(n)),
        _ if own => (post_ok.0.cloned(), post_ok.1.cloned()),
        (b, n) => (b, n),
    };
    let len = |h: &Option<Histogram<u64>>| h.as_ref().map_or(0, |h| h.len());
    let p_value = match (&base, &new) {
        (Some(x), Some(y)) if !x.is_empty() && !y.is_empty() => Some(mann_whitney_p(x, y)),
        _ => None,
    };
    RankTest {
        posts: [len(&base), len(&new)],
        by_run: false,
        p_value,
    }
}

/// Two-sided p-value of the Mann–Whitney U test between two histograms (normal approximation
/// with the tie correction; values in the same HdrHistogram bucket are ties).
pub fn mann_whitney_p(x: &Histogram<u64>, y: &Histogram<u64>) -> f64 {
    // Distinct bucket values with their counts in x and y, in order.
    let mut values: Vec<(u64, u64, u64)> = Vec::new();
    for v in x.iter_recorded() {
        values.push((
            x.highest_equivalent(v.value_iterated_to()),
            v.count_at_value(),
            0,
        ));
    }
    for v in y.iter_recorded() {
        values.push((
            y.highest_equivalent(v.value_iterated_to()),
            0,
            v.count_at_value(),
        ));
    }
    values.sort_by_key(|v| v.0);
    let mut merged: Vec<(u64, u64, u64)> = Vec::new();
    for (v, a, b) in values {
        match merged.last_mut() {
            Some(last) if last.0 == v => {
                last.1 += a;
                last.2 += b;
            }
            _ => merged.push((v, a, b)),
        }
    }
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let n = n1 + n2;
    let mut rank = 0.0;
    let mut r1 = 0.0;
    let mut ties = 0.0;
    for (_, a, b) in &merged {
        let t = (*a + *b) as f64;
        let avg = rank + (t + 1.0) / 2.0;
        r1 += *a as f64 * avg;
        ties += t * t * t - t;
        rank += t;
    }
    let u1 = r1 - n1 * (n1 + 1.0) / 2.0;
    let mean = n1 * n2 / 2.0;
    let var = n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0)));
    if var <= 0.0 {
        return 1.0;
    }
    let z = (u1 - mean).abs() / var.sqrt();
    (2.0 * (1.0 - phi(z))).clamp(0.0, 1.0)
}

/// The standard normal CDF (Abramowitz & Stegun 7.1.26 for erf; |error| < 1.5e-7).
fn phi(z: f64) -> f64 {
    let x = z / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x.abs());
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erf = 1.0 - poly * (-x * x).exp();
    let erf = if x >= 0.0 { erf } else { -erf };
    0.5 * (1.0 + erf)
}

/// The comparison as a Markdown table.
pub fn markdown(c: &Comparison) -> String {
    let mut o = format!(
        "## Comparison (tolerance {:.0} %)\n\n| case | metric | base | new | change | p (latency) | verdict |\n| --- | --- | ---: | ---: | ---: | ---: | --- |\n",
        c.tolerance * 100.0
    );
    let num = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.4}"));
    for d in &c.deltas {
        let verdict = match d.verdict {
            Verdict::Same => "same".into(),
            Verdict::Better => "better".into(),
            Verdict::Regression => "**REGRESSION**".into(),
            Verdict::WithinNoise => format!("within noise (p = {:.2})", d.p_value.unwrap_or(1.0)),
            Verdict::NotComparable => "not comparable".into(),
            Verdict::TooFewPosts => {
                let [b, n] = d.posts.unwrap_or_default();
                format!("too few posts to judge ({b} and {n}; needs {MIN_POSTS} a side)")
            }
            Verdict::TooFewRuns => {
                let [b, n] = d.posts.unwrap_or_default();
                format!(
                    "too few runs to judge ({b} and {n}; a service's timing needs {MIN_RUNS} a side: run --repeat {MIN_RUNS})"
                )
            }
        };
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {verdict} |\n",
            d.case,
            d.metric,
            num(d.base),
            num(d.new),
            d.change
                .map_or("-".into(), |c| format!("{:+.1} %", c * 100.0)),
            d.p_value.map_or("-".into(), |p| format!("{p:.3}")),
        ));
    }
    o.push_str(&format!(
        "\nCounts are compared exactly; a timing is a regression when it rose beyond the tolerance and its samples differ (Mann–Whitney p < {ALPHA}), judged with at least {MIN_POSTS} posts a side, or in service mode {MIN_RUNS} runs a side (each run's median).\n"
    ));
    for u in &c.unmatched {
        o.push_str(&format!("\nNot compared: {u}.\n"));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::new_with_bounds(1, 3_600_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    /// A case of the frozen default run, renamed, with `post_ok` as its only histogram (µs).
    fn case(scenario: &str, repetition: Option<u32>, post_ok: Option<&[u64]>) -> CaseResult {
        let r: RunResult =
            serde_json::from_str(include_str!("../tests/fixtures/result-default-run.json"))
                .unwrap();
        let mut c = r.cases.into_iter().next().unwrap();
        (c.scenario, c.tier, c.repetition) = (scenario.into(), 1, repetition);
        c.measured.histograms.clear();
        if let Some(values) = post_ok {
            let h = hist(values.iter().copied());
            c.measured
                .histograms
                .insert("post_ok".into(), hlog::encode(&h));
        }
        c
    }

    fn run(cases: Vec<CaseResult>) -> RunResult {
        let mut r: RunResult =
            serde_json::from_str(include_str!("../tests/fixtures/result-default-run.json"))
                .unwrap();
        r.cases = cases;
        r
    }

    fn verdicts(c: &Comparison) -> Vec<(&str, Option<f64>, Option<f64>, &Verdict)> {
        c.deltas
            .iter()
            .map(|d| (d.metric.as_str(), d.base, d.new, &d.verdict))
            .collect()
    }

    #[test]
    fn each_metric_gets_its_change_and_verdict() {
        // Without histograms every metric is read from the summary figures.
        let set = |c: &mut CaseResult, p: [f64; 3], makespan, failed, tokens, usd| {
            let m = &mut c.measured;
            let ok = &mut m.post_latency_ms.ok;
            (ok.p50, ok.p95, ok.p99) = (Some(p[0]), Some(p[1]), Some(p[2]));
            m.makespan_ms = makespan;
            (m.posts.total, m.posts.ok, m.posts.failed) = (10, 10 - failed, failed);
            m.tokens.per_ok_post = tokens;
            m.cost.as_mut().unwrap().per_ok_post_usd = Some(usd);
        };
        let mut b = case("s", None, None);
        set(&mut b, [100.0, 200.0, 300.0], 1_000.0, 0, Some(100.0), 0.0);
        let mut n = case("s", None, None);
        set(&mut n, [130.0, 220.0, 150.0], 900.0, 1, None, 0.0);
        let c = compare(
            &run(vec![b, case("gone", None, None)]),
            &run(vec![n, case("fresh", None, None)]),
            0.1,
        );
        use Verdict::*;
        assert_eq!(
            verdicts(&c),
            vec![
                // 100 -> 130: +30 %, but no per-post samples to test (a result without
                // histograms): a timing is not judged on two summary figures.
                ("post.p50_ms", Some(100.0), Some(130.0), &TooFewPosts),
                ("post.p95_ms", Some(200.0), Some(220.0), &TooFewPosts),
                ("post.p99_ms", Some(300.0), Some(150.0), &TooFewPosts),
                ("makespan_ms", Some(1_000.0), Some(900.0), &TooFewPosts),
                // 0 of 10 failed -> 1 of 10: from zero, an infinite rise.
                ("error_rate", Some(0.0), Some(0.1), &Regression),
                ("tokens_per_post", Some(100.0), None, &NotComparable),
                // 0 -> 0: no change.
                ("cost_per_post_usd", Some(0.0), Some(0.0), &Same),
            ]
        );
        // No samples: 0 posts a side for the timings, none for the counts.
        let posts: Vec<Option<[u64; 2]>> = c.deltas.iter().map(|d| d.posts).collect();
        assert_eq!(posts[..4], [Some([0, 0]); 4]);
        assert!(posts[4..].iter().all(Option::is_none));
        let change: Vec<Option<f64>> = c.deltas.iter().map(|d| d.change).collect();
        assert_eq!(
            change,
            [
                Some(0.3),
                Some(0.1),
                Some(-0.5),
                Some(-0.1),
                Some(f64::INFINITY),
                None,
                Some(0.0)
            ]
        );
        assert!(c
            .deltas
            .iter()
            .all(|d| d.case == "s tier 1" && d.p_value.is_none()));
        assert_eq!(c.regressions(), 1);
        assert_eq!(
            c.unmatched,
            [
                "gone tier 1 (only in the baseline)",
                "fresh tier 1 (only in the new result)"
            ]
        );
    }

    #[test]
    fn repetitions_pool_their_histograms_and_average_the_rest() {
        // Baseline: two repetitions, {1, 2} ms and {3} ms, pooled {1, 2, 3} ms. New: {4, 5, 6}
        // ms. p50: 2,000 µs (a 1 µs bucket) = 2.000 ms against 5,000 µs, in the 4 µs bucket
        // [5000, 5003]: middle 5,002 µs = 5.002 ms. p95 and p99 (the 3rd of 3): 3,000 µs in
        // [3000, 3001], middle 3,001 µs = 3.001 ms, against 6,000 in [6000, 6003]: 6.002 ms.
        // The ranks are those of {1,2,3} against {4,5,6}: p = 0.0495 (the hand case below),
        // under 0.05, but 3 posts a side are too few to judge.
        let mut b1 = case("s", Some(1), Some(&[1_000, 2_000]));
        let mut b2 = case("s", Some(2), Some(&[3_000]));
        let n = case("s", None, Some(&[4_000, 5_000, 6_000]));
        // Makespan averaged over the repetitions: (1,000 + 2,000) / 2 = 1,500.
        (b1.measured.makespan_ms, b2.measured.makespan_ms) = (1_000.0, 2_000.0);
        let mut n = n;
        n.measured.makespan_ms = 1_500.0;
        let c = compare(&run(vec![b1, b2]), &run(vec![n]), 0.1);
        let latency: Vec<_> = verdicts(&c).into_iter().take(4).collect();
        use Verdict::*;
        assert_eq!(
            latency,
            vec![
                ("post.p50_ms", Some(2.0), Some(5.002), &TooFewPosts),
                ("post.p95_ms", Some(3.001), Some(6.002), &TooFewPosts),
                ("post.p99_ms", Some(3.001), Some(6.002), &TooFewPosts),
                // The makespan's samples are every post: 3 a side, too few as well.
                ("makespan_ms", Some(1_500.0), Some(1_500.0), &TooFewPosts),
            ]
        );
        // The two repetitions' posts pooled: 2 + 1 against 3.
        assert_eq!(c.deltas[0].posts, Some([3, 3]));
        let p = c.deltas[0].p_value.unwrap();
        assert!((p - 0.0495).abs() < 0.0005, "{p}");
        // The p-value belongs to the timing rows only.
        assert_eq!(c.deltas[4].p_value, None);
    }

    #[test]
    fn a_rise_the_spread_explains_is_within_noise() {
        // {1, ..., 10} ms against {2, ..., 11} ms, 10 posts a side. Pooled, 1 has rank 1, each
        // of 2..10 is a tie of two (ranks 2k - 2 and 2k - 1, average 2k - 1.5), 11 has rank 20.
        // R1 = 1 + sum(2k - 1.5, k = 2..10) = 1 + 108 - 13.5 = 95.5; U1 = 95.5 - 55 = 40.5,
        // mean 50. Ties: 9 * (2^3 - 2) = 54; var = 100 / 12 * (21 - 54 / 380) = 173.816;
        // z = 9.5 / 13.184 = 0.7206, p = 2 * (1 - 0.7644) = 0.471: no evidence.
        let ms = |from: u64| (from..from + 10).map(|v| v * 1_000).collect::<Vec<u64>>();
        let b = case("s", None, Some(&ms(1)));
        let n = case("s", None, Some(&ms(2)));
        let c = compare(&run(vec![b]), &run(vec![n]), 0.1);
        use Verdict::*;
        // p50, the 5th post: 5,000 µs in [5000, 5003], 5.002 ms, against 6.002 ms: +20 %,
        // past 10 %: within noise. p95, the 10th: 10,000 µs in [10000, 10007], 10.004 ms,
        // against 11.004 ms: +9.996 %, not past it.
        assert_eq!(
            verdicts(&c)[..2],
            [
                ("post.p50_ms", Some(5.002), Some(6.002), &WithinNoise),
                ("post.p95_ms", Some(10.004), Some(11.004), &Same),
            ]
        );
        let p = c.deltas[0].p_value.unwrap();
        assert!((p - 0.471).abs() < 0.001, "{p}");
        assert_eq!(c.regressions(), 0);
    }

    /// `case` in service mode: service figures with an own time estimate of `own_ms`.
    fn service_case(repetition: u32, post_ok: &[u64], own_ms: f64) -> CaseResult {
        let mut c = case("s", Some(repetition), Some(post_ok));
        c.service = Some(
            serde_json::from_value(serde_json::json!({
                "requests_per_post": 2.0, "calls_per_post": 2.0, "prompt_tokens_per_post": 10.0,
                "completion_tokens_per_post": 5.0, "retried_requests": 0,
                "own_mean_ms": own_ms, "by_call": {}
            }))
            .unwrap(),
        );
        c
    }

    #[test]
    fn a_service_timing_is_judged_on_its_runs_not_its_posts() {
        // Before: two single runs of an unchanged service, 10 posts each, differed by 60 % in
        // own time on a loaded machine, every post of a run moved together, and the rank test
        // on the posts called it a regression. In service mode the runs are the samples.
        let posts = |ms: u64| vec![ms * 1_000; 10];
        let one = |ms, own| run(vec![service_case(1, &posts(ms), own)]);
        let c = compare(&one(10, 30.0), &one(16, 48.0), 0.1);
        let own = c
            .deltas
            .iter()
            .find(|d| d.metric == "service.own_mean_ms")
            .unwrap();
        // 10 posts a side, all 60 % slower: p = 0.00002 by posts, but one run a side.
        assert_eq!((own.posts, own.by_run), (Some([1, 1]), true));
        assert_eq!(own.verdict, Verdict::TooFewRuns);
        assert_eq!(c.regressions(), 0);
        // 4 runs a side, medians 10, 11, 12, 13 ms against 20, 21, 22, 23 ms (own time
        // 30 -> 48 on average, +60 %): every new run slower, U = 0, p = 0.021 (MIN_RUNS).
        let four = |from: u64, own| {
            run((0..4)
                .map(|k| service_case(k as u32 + 1, &posts(from + k), own))
                .collect())
        };
        let c = compare(&four(10, 30.0), &four(20, 48.0), 0.1);
        let own = c
            .deltas
            .iter()
            .find(|d| d.metric == "service.own_mean_ms")
            .unwrap();
        assert_eq!(
            (own.posts, own.verdict.clone()),
            (Some([4, 4]), Verdict::Regression)
        );
        assert!((own.p_value.unwrap() - 0.021).abs() < 0.001, "{own:?}");
    }

    #[test]
    fn an_empty_histogram_has_no_percentiles_and_no_p_value() {
        let b = case("s", None, Some(&[1_000]));
        let n = case("s", None, Some(&[]));
        let c = compare(&run(vec![b]), &run(vec![n]), 0.1);
        let d = &c.deltas[0];
        assert_eq!(
            (d.base, d.new, d.p_value, &d.verdict),
            (Some(1.0), None, None, &Verdict::NotComparable)
        );
    }

    #[test]
    fn markdown_shows_each_verdict() {
        let d = |metric: &str, base, new, change, p_value, verdict| Delta {
            case: "s tier 1".into(),
            metric: metric.into(),
            base,
            new,
            change,
            p_value,
            posts: None,
            by_run: false,
            verdict,
        };
        let too_few = Delta {
            posts: Some([9, 40]),
            ..d(
                "service.own_p95_ms",
                Some(30.0),
                Some(90.0),
                Some(2.0),
                Some(0.001),
                Verdict::TooFewPosts,
            )
        };
        let c = Comparison {
            tolerance: 0.1,
            deltas: vec![
                d(
                    "post.p50_ms",
                    Some(2.0),
                    Some(5.002),
                    Some(1.501),
                    Some(0.0421),
                    Verdict::Regression,
                ),
                d(
                    "post.p95_ms",
                    Some(1.0),
                    Some(1.25),
                    Some(0.25),
                    Some(0.0679),
                    Verdict::WithinNoise,
                ),
                d(
                    "makespan_ms",
                    Some(10.0),
                    Some(5.0),
                    Some(-0.5),
                    None,
                    Verdict::Better,
                ),
                d(
                    "error_rate",
                    Some(0.0),
                    Some(0.0),
                    Some(0.0),
                    None,
                    Verdict::Same,
                ),
                d(
                    "tokens_per_post",
                    Some(1.0),
                    None,
                    None,
                    None,
                    Verdict::NotComparable,
                ),
                too_few,
            ],
            unmatched: vec!["x tier 2 (only in the baseline)".into()],
        };
        // 1.501 as a percent to one place: +150.1 %; p = 0.0421 to 3 places: 0.042; the
        // within-noise row's p = 0.0679 to 2 places: 0.07.
        assert_eq!(
            markdown(&c),
            "## Comparison (tolerance 10 %)\n\n\
             | case | metric | base | new | change | p (latency) | verdict |\n\
             | --- | --- | ---: | ---: | ---: | ---: | --- |\n\
             | s tier 1 | post.p50_ms | 2.0000 | 5.0020 | +150.1 % | 0.042 | **REGRESSION** |\n\
             | s tier 1 | post.p95_ms | 1.0000 | 1.2500 | +25.0 % | 0.068 | within noise (p = 0.07) |\n\
             | s tier 1 | makespan_ms | 10.0000 | 5.0000 | -50.0 % | - | better |\n\
             | s tier 1 | error_rate | 0.0000 | 0.0000 | +0.0 % | - | same |\n\
             | s tier 1 | tokens_per_post | 1.0000 | - | - | - | not comparable |\n\
             | s tier 1 | service.own_p95_ms | 30.0000 | 90.0000 | +200.0 % | 0.001 | too few posts to judge (9 and 40; needs 10 a side) |\n\
             \nCounts are compared exactly; a timing is a regression when it rose beyond the tolerance and its samples differ (Mann–Whitney p < 0.05), judged with at least 10 posts a side, or in service mode 4 runs a side (each run's median).\n\
             \nNot compared: x tier 2 (only in the baseline).\n"
        );
    }

    #[test]
    fn phi_is_the_normal_cdf() {
        assert!((phi(0.0) - 0.5).abs() < 1e-7);
        assert!((phi(1.959_964) - 0.975).abs() < 1e-6);
        assert!((phi(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_matches_a_hand_computed_case() {
        // x = {1,2,3}, y = {4,5,6}: U1 = 0, mean 4.5, var = 9 * 7 / 12 = 5.25, z = 1.964,
        // p = 0.0495 (normal approximation, no ties).
        let p = mann_whitney_p(&hist([1, 2, 3]), &hist([4, 5, 6]));
        assert!((p - 0.0495).abs() < 0.0005, "{p}");
        // Identical samples: no evidence of a difference.
        assert!((mann_whitney_p(&hist([5, 6, 7, 8]), &hist([5, 6, 7, 8])) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn mann_whitney_corrects_for_ties() {
        // x = {1,1,2}, y = {2,3,3}. Sorted: 1 1 | 2 2 | 3 3, three ties of 2 with average ranks
        // 1.5, 3.5 and 5.5. R1 = 1.5 + 1.5 + 3.5 = 6.5, U1 = 6.5 - 3 * 4 / 2 = 0.5, mean 4.5.
        // Tie term: 3 * (2^3 - 2) = 18; var = 9 / 12 * (7 - 18 / (6 * 5)) = 0.75 * 6.4 = 4.8;
        // z = 4 / sqrt(4.8) = 1.8257, p = 2 * (1 - 0.96606) = 0.0679. Without the correction
        // var would be 5.25, z = 1.7457 and p = 0.0809.
        let p = mann_whitney_p(&hist([1, 1, 2]), &hist([2, 3, 3]));
        assert!((p - 0.0679).abs() < 0.0005, "{p}");
        // All values tied: no variance, no evidence.
        assert_eq!(mann_whitney_p(&hist([7, 7]), &hist([7, 7, 7])), 1.0);
    }

    #[test]
    fn a_shifted_distribution_is_significant_and_a_resample_is_not() {
        let base = hist((0..200).map(|i| 5_000_000 + i * 10_000));
        let slower = hist((0..200).map(|i| 6_500_000 + i * 10_000));
        let same = hist((0..200).map(|i| 5_005_000 + i * 10_000));
        assert!(mann_whitney_p(&base, &slower) < 1e-6);
        assert!(mann_whitney_p(&base, &same) > 0.5);
    }
}
