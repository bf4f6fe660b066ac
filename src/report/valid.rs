//! The one check of a result.json's contents that every command reading one runs (`report`,
//! `check`, `compare`, `plan --result`), after its numbers are bounded: at most
//! [`MAX_CASES`] cases, no two cases with one name, and no figure that cannot be true (a
//! negative time, more ok posts than posts). A result that `report` would refuse is refused
//! by `check` and `compare` too, before any gate or delta is computed from it.

use super::{CaseResult, RunResult};
use crate::limits::{num, MAX_CASES};
use crate::metrics::Percentiles;

/// Checks `r`; the error names the field by its JSON path (`cases[2].posts.ok`).
pub fn check(r: &RunResult) -> Result<(), String> {
    if r.cases.len() > MAX_CASES {
        return Err(format!(
            "field `cases`: {} cases, more than {MAX_CASES} (the most a run writes)",
            r.cases.len()
        ));
    }
    // Each case's files are named by its slug, and gates and comparisons find a case by its
    // label: two cases with one slug are one name.
    let mut seen = std::collections::HashMap::new();
    for (i, c) in r.cases.iter().enumerate() {
        if let Some(j) = seen.insert(super::case_slug(c), i) {
            return Err(format!(
                "field `cases[{i}]`: `{}` has the name of `cases[{j}]` (`{}`): two cases with one name (scenario, tier and repetition)",
                c.label().escape_debug(),
                r.cases[j].label().escape_debug()
            ));
        }
        case(c).map_err(|e| format!("field `cases[{i}].{e}"))?;
    }
    Ok(())
}

/// One case's figures that cannot be true; the error starts with the field's path inside it
/// and its closing backtick.
fn case(c: &CaseResult) -> Result<(), String> {
    let m = &c.measured;
    for (field, v) in [
        ("duration_ms", c.duration_ms),
        ("makespan_ms", m.makespan_ms),
        ("start_spread_ms", m.start_spread_ms),
    ] {
        if v.is_sign_negative() {
            return Err(format!("{field}`: {} is negative", num(v)));
        }
    }
    let p = &m.posts;
    if p.ok > p.total {
        return Err(format!(
            "posts.ok`: {} ok posts, more than its {} posts (`posts.total`)",
            p.ok, p.total
        ));
    }
    if p.failed != p.total - p.ok {
        return Err(format!(
            "posts.failed`: {} failed posts, but {} of {} posts were not ok",
            p.failed,
            p.total - p.ok,
            p.total
        ));
    }
    let latencies = [
        ("post_latency_ms.ok", Some(&m.post_latency_ms.ok)),
        ("post_latency_ms.failed", Some(&m.post_latency_ms.failed)),
        ("backoff_ms", Some(&m.backoff_ms)),
        ("first_caption_token_ms", m.first_caption_token_ms.as_ref()),
        ("queue_wait_ms", m.queue_wait_ms.as_ref()),
    ];
    let calls = m
        .call_latency_ms
        .iter()
        .map(|(k, v)| (format!("call_latency_ms.{k}"), Some(v)));
    for (field, pct) in latencies
        .into_iter()
        .map(|(f, v)| (f.to_string(), v))
        .chain(calls)
    {
        if let Some(pct) = pct {
            percentiles(pct).map_err(|e| format!("{field}.{e}"))?;
        }
    }
    Ok(())
}

/// A latency summary's times are not negative.
fn percentiles(p: &Percentiles) -> Result<(), String> {
    for (name, v) in [
        ("min", p.min),
        ("mean", p.mean),
        ("p50", p.p50),
        ("p90", p.p90),
        ("p95", p.p95),
        ("p99", p.p99),
        ("p99_9", p.p99_9),
        ("max", p.max),
    ] {
        if let Some(v) = v.filter(|v| v.is_sign_negative()) {
            return Err(format!("{name}`: {} is negative", num(v)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> RunResult {
        serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json"))
            .expect("the fixture parses")
    }

    #[test]
    fn the_default_runs_result_is_valid() {
        assert_eq!(check(&fixture()), Ok(()));
    }

    #[test]
    fn duplicate_case_names_are_refused_naming_both() {
        let mut r = fixture();
        r.cases[2] = r.cases[0].clone();
        let e = check(&r).unwrap_err();
        assert!(e.contains("cases[2]") && e.contains("cases[0]"), "{e}");
    }

    #[test]
    fn negative_makespan_is_refused_naming_the_field() {
        let mut r = fixture();
        r.cases[1].measured.makespan_ms = -1.0;
        let e = check(&r).unwrap_err();
        assert!(e.starts_with("field `cases[1].makespan_ms`"), "{e}");
    }

    #[test]
    fn more_ok_posts_than_posts_is_refused_naming_the_field() {
        let mut r = fixture();
        let p = &mut r.cases[3].measured.posts;
        p.ok = p.total + 1;
        let e = check(&r).unwrap_err();
        assert!(e.starts_with("field `cases[3].posts.ok`"), "{e}");
    }

    #[test]
    fn a_negative_percentile_is_refused_naming_the_field() {
        let mut r = fixture();
        r.cases[0].measured.post_latency_ms.ok.p95 = Some(-3.0);
        let e = check(&r).unwrap_err();
        assert!(
            e.starts_with("field `cases[0].post_latency_ms.ok.p95`"),
            "{e}"
        );
    }

    #[test]
    fn more_cases_than_a_run_writes_are_refused() {
        let mut r = fixture();
        let one = r.cases[0].clone();
        // MAX_CASES + 1 cases, each its own scenario name (names are not what fails here).
        r.cases = (0..=MAX_CASES)
            .map(|i| CaseResult {
                scenario: format!("s{i}"),
                ..one.clone()
            })
            .collect();
        let e = check(&r).unwrap_err();
        assert!(e.contains("1001 cases") && e.contains("1000"), "{e}");
        r.cases.pop();
        assert_eq!(check(&r), Ok(()));
    }
}
