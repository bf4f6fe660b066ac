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
use crate::result::{CaseResult, RunResult};

pub use judge::{kind, Kind, RankTest, Samples, Verdict, ALPHA, FLOOR_RISE, MIN_POSTS, MIN_RUNS};

/// The metrics compared, all lower-is-better.
pub const COMPARED: [&str; 9] = [
    "post.p50_ms",
    "post.p95_ms",
    "post.p99_ms",
    "makespan_ms",
    "error_rate",
    "tokens_per_post",
    "cost_per_post_usd",
    "wasted_tokens",
    "wasted_usd",
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
    /// In service mode a timing's minimum is of runs, not posts (`posts` counts runs).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub by_run: bool,
    /// Service mode: each side's best run (the lowest of its runs' medians), ms, base then new.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub floor_ms: Option<[f64; 2]>,
    pub verdict: Verdict,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comparison {
    pub tolerance: f64,
    pub deltas: Vec<Delta>,
    /// Cases in one result only.
    pub unmatched: Vec<String>,
    /// Cases compared whose calls ran differently on each side (model, endpoint, reasoning
    /// effort): their deltas measure that switch, not a change of the same setup.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs_differ: Vec<InputsDiffer>,
}

/// One input of a case that differs between the two results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputsDiffer {
    pub case: String,
    /// `model`, `endpoint` or `reasoning_effort` (the `inputs` field of result.json).
    pub input: &'static str,
    /// Each side's value; `-` for an absent one (a model that does not reason).
    pub base: String,
    pub new: String,
}

impl InputsDiffer {
    /// The inputs of a case's calls that differ between two results: the model, the endpoint,
    /// the reasoning effort (a result written before the last two were recorded reads as
    /// chat completions with no effort).
    fn of(case: &str, b: &crate::result::CaseInputs, n: &crate::result::CaseInputs) -> Vec<Self> {
        let effort = |i: &crate::result::CaseInputs| {
            i.reasoning_effort
                .map_or("-".to_string(), |e| e.to_string())
        };
        let endpoint = |i: &crate::result::CaseInputs| crate::result::name_of(&i.endpoint);
        [
            ("model", b.model.clone(), n.model.clone()),
            ("endpoint", endpoint(b), endpoint(n)),
            ("reasoning_effort", effort(b), effort(n)),
        ]
        .into_iter()
        .filter(|(_, x, y)| x != y)
        .map(|(input, base, new)| Self {
            case: case.to_string(),
            input,
            base,
            new,
        })
        .collect()
    }

    /// `burst-50 tier 1: endpoint chat → responses`.
    pub fn phrase(&self) -> String {
        format!("{}: {} {} → {}", self.case, self.input, self.base, self.new)
    }
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
        Samples::OwnTime => &[crate::result::service::per_post::OWN_HISTOGRAM],
    }
}

/// Compares two results. Cases are matched by scenario and tier; the repetitions of one
/// (`run --repeat K`) are pooled: latency percentiles from the merged histograms, other metrics
/// averaged, and the significance test run on all posts of all repetitions.
pub fn compare(base: &RunResult, new: &RunResult, tolerance: f64) -> Comparison {
    let mut deltas = Vec::new();
    let mut unmatched = Vec::new();
    let mut inputs_differ = Vec::new();
    let (base_groups, new_groups) = (groups(base), groups(new));
    for b in &base_groups {
        let Some(n) = new_groups.iter().find(|n| n.name == b.name) else {
            unmatched.push(format!("{} (only in the baseline)", b.name));
            continue;
        };
        // A group is never empty; its repetitions share their inputs.
        if let (Some(bc), Some(nc)) = (b.cases.first(), n.cases.first()) {
            inputs_differ.extend(InputsDiffer::of(&b.name, &bc.inputs, &nc.inputs));
        }
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
                // A real service's wall clock: the load moves whole runs, so a verdict needs
                // runs, and the best run's rise (judge::FLOOR_RISE).
                Kind::Timing(s) if !service.is_empty() => {
                    let s = match (b.run_medians(s), n.run_medians(s)) {
                        (Some(_), Some(_)) => s,
                        _ => Samples::OkPosts,
                    };
                    let (bm, nm) = (b.run_medians(s), n.run_medians(s));
                    let floor = |h: &Option<Histogram<u64>>| {
                        h.as_ref()
                            .filter(|h| !h.is_empty())
                            .map(|h| h.min() as f64 / 1000.0)
                    };
                    let floors = match (floor(&bm), floor(&nm)) {
                        (Some(x), Some(y)) => Some([x, y]),
                        _ => None,
                    };
                    let runs = |h: &Option<Histogram<u64>>| h.as_ref().map_or(0, |h| h.len());
                    let pooled =
                        rank_test(b.pooled(tags(s)), n.pooled(tags(s)), false, (None, None));
                    Some(RankTest {
                        posts: [runs(&bm), runs(&nm)],
                        by_run: true,
                        p_value: pooled.p_value,
                        floors,
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
                floor_ms: test.and_then(|t| t.floors),
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
        inputs_differ,
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
        floors: None,
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

/// The cases whose calls ran differently on each side, in one line (`None`: none did).
pub fn inputs_differ_line(c: &Comparison) -> Option<String> {
    if c.inputs_differ.is_empty() {
        return None;
    }
    let each: Vec<String> = c.inputs_differ.iter().map(InputsDiffer::phrase).collect();
    Some(format!(
        "**Inputs differ**: {}. These deltas measure that switch, not a change of the same setup.",
        each.join("; ")
    ))
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
            Verdict::WithinNoise => match d.floor_ms {
                Some([b, n]) => format!(
                    "within noise (p = {:.2}; best run {b:.1} → {n:.1} ms, a regression needs over {:.1})",
                    d.p_value.unwrap_or(1.0),
                    b * (1.0 + FLOOR_RISE)
                ),
                None => format!("within noise (p = {:.2})", d.p_value.unwrap_or(1.0)),
            },
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
        "\nCounts are compared exactly; a timing is a regression when it rose beyond the tolerance and its samples differ (Mann–Whitney p < {ALPHA}), judged with at least {MIN_POSTS} posts a side, or in service mode {MIN_RUNS} runs a side and the new best run more than {:.0} % slower than the base's.\n",
        FLOOR_RISE * 100.0
    ));
    for u in &c.unmatched {
        o.push_str(&format!("\nNot compared: {u}.\n"));
    }
    o
}

#[cfg(test)]
mod tests;
