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
        serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json")).unwrap();
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
        serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json")).unwrap();
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
            // No failed post wasted nothing; a failed post whose tokens are not known apart
            // (a result written before the split) has no figure to compare.
            ("wasted_tokens", Some(0.0), None, &NotComparable),
            ("wasted_usd", Some(0.0), None, &NotComparable),
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
            Some(0.0),
            None,
            None
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
    // on the posts called it a regression. In service mode a verdict needs 4 runs a side.
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
}

#[test]
fn a_service_timing_is_a_regression_when_its_best_run_more_than_doubled() {
    // 4 runs a side of 10 posts each, every post of a run at the same latency (the own time
    // falls back on them: these cases have no traces). Base runs at 10, 11, 12, 13 ms.
    let posts = |ms: u64| vec![ms * 1_000; 10];
    let four = |from: u64, own| {
        run((0..4)
            .map(|k| service_case(k as u32 + 1, &posts(from + k), own))
            .collect())
    };
    let own = |c: &Comparison| {
        c.deltas
            .iter()
            .find(|d| d.metric == "service.own_mean_ms")
            .unwrap()
            .clone()
    };
    // New runs at 20, 21, 22, 23 ms (own time 30 -> 48, +60 %). The posts of all runs pooled,
    // 40 against 40, every new post slower: U = 0, mean 40 · 40 / 2 = 800; 8 groups of 10
    // ties, Σ(t³ − t) = 8 · 990 = 7,920; variance 40 · 40 / 12 · (81 − 7,920 / (80 · 79)) =
    // 133.3 · 79.75 = 10,633, z = 800 / 103.1 = 7.76: p < 1e-12. But the best run went from
    // 10 to 20 ms, twice and not more: the load can do that, so within noise.
    let c = compare(&four(10, 30.0), &four(20, 48.0), 0.1);
    let d = own(&c);
    assert_eq!((d.posts, d.by_run), (Some([4, 4]), true));
    assert!(d.p_value.unwrap() < 1e-12, "{d:?}");
    assert_eq!(d.floor_ms, Some([10.0, 20.0]));
    assert_eq!(d.verdict, Verdict::WithinNoise);
    assert!(
        markdown(&c).contains("best run 10.0 → 20.0 ms, a regression needs over 20.0"),
        "{}",
        markdown(&c)
    );
    // New runs at 21 to 24 ms: the best run 21 ms (20.992 to HdrHistogram's 3 figures), over
    // twice 10: a regression.
    let d = own(&compare(&four(10, 30.0), &four(21, 48.0), 0.1));
    assert_eq!(d.verdict, Verdict::Regression, "{d:?}");
    assert!((d.floor_ms.unwrap()[1] - 21.0).abs() < 0.01, "{d:?}");
    // Base runs at 10, 40, 40, 40 and new at 21 to 24: the posts are faster on the whole but
    // the best run doubled: the tolerance comes first (own time 30 -> 30: the same).
    let mixed = run([10, 40, 40, 40]
        .iter()
        .enumerate()
        .map(|(k, ms)| service_case(k as u32 + 1, &posts(*ms), 30.0))
        .collect());
    let d = own(&compare(&mixed, &four(21, 30.0), 0.1));
    assert_eq!(d.verdict, Verdict::Same, "{d:?}");
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
        floor_ms: None,
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
        inputs_differ: Vec::new(),
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
         \nCounts are compared exactly; a timing is a regression when it rose beyond the tolerance and its samples differ (Mann–Whitney p < 0.05), judged with at least 10 posts a side, or in service mode 4 runs a side and the new best run more than 100 % slower than the base's.\n\
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

#[test]
fn cases_whose_model_endpoint_or_effort_differ_are_flagged_and_still_compared() {
    use crate::openai::reasoning::Effort;
    use crate::scenario::prompts::ApiEndpoint;
    // The same setup on both sides: nothing flagged, and no line to show.
    let same = compare(
        &run(vec![case("s", None, None)]),
        &run(vec![case("s", None, None)]),
        0.1,
    );
    assert!(same.inputs_differ.is_empty());
    assert_eq!(inputs_differ_line(&same), None);
    // The new side on gpt-5-mini at effort high on the Responses API: three inputs differ.
    let mut n = case("s", None, None);
    n.inputs.model = "gpt-5-mini".into();
    n.inputs.endpoint = ApiEndpoint::Responses;
    n.inputs.reasoning_effort = Some(Effort::High);
    let c = compare(
        &run(vec![case("s", None, None)]),
        &run(vec![n.clone()]),
        0.1,
    );
    let flagged: Vec<String> = c.inputs_differ.iter().map(InputsDiffer::phrase).collect();
    assert_eq!(
        flagged,
        [
            "s tier 1: model gpt-4o → gpt-5-mini",
            "s tier 1: endpoint chat → responses",
            "s tier 1: reasoning_effort - → high",
        ]
    );
    // Still compared metric by metric (a model switch is a question worth asking), with the
    // flag in one line.
    assert_eq!(c.deltas.len(), COMPARED.len());
    let line = inputs_differ_line(&c).unwrap();
    assert!(
        line.starts_with("**Inputs differ**: s tier 1: model gpt-4o → gpt-5-mini; "),
        "{line}"
    );
    // Only the effort differs (low against high on the same model and endpoint).
    let mut b = n.clone();
    b.inputs.reasoning_effort = Some(Effort::Low);
    let c = compare(&run(vec![b]), &run(vec![n]), 0.1);
    let flagged: Vec<String> = c.inputs_differ.iter().map(InputsDiffer::phrase).collect();
    assert_eq!(flagged, ["s tier 1: reasoning_effort low → high"]);
    // In the JSON `--out` writes.
    let v = serde_json::to_value(&c).unwrap();
    assert_eq!(v["inputs_differ"][0]["input"], "reasoning_effort");
}

/// Only the own time falls back on the successful posts' samples: the makespan's samples (all
/// posts) of a side whose failed posts' histogram does not decode are none, so its rank test
/// has no p-value and counts no posts on that side, though both sides have `post_ok`.
#[test]
fn only_the_own_time_falls_back_on_the_successful_posts() {
    let mut b = case("s", None, Some(&[1_000, 2_000, 3_000, 4_000, 5_000]));
    b.measured
        .histograms
        .insert("post_failed".into(), "not a histogram".into());
    let n = case("s", None, Some(&[1_500, 2_500, 3_500, 4_500, 5_500]));
    let c = compare(&run(vec![b]), &run(vec![n]), 0.1);
    let makespan = c.deltas.iter().find(|d| d.metric == "makespan_ms").unwrap();
    assert_eq!((makespan.p_value, makespan.posts), (None, Some([0, 5])));
    let p50 = c.deltas.iter().find(|d| d.metric == "post.p50_ms").unwrap();
    assert_eq!(p50.posts, Some([5, 5]));
    assert!(p50.p_value.is_some());
}
