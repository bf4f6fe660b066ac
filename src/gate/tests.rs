//! The gate's tests: thresholds, gate files, checks and their outputs, by hand.
use super::*;

#[test]
fn a_percent_on_a_latency_or_a_doubled_percent_is_refused() {
    // `50%` of a latency read as 0.5 ms; `0%%` read as 0.
    let e = "post.p95_ms <= 50%".parse::<Threshold>().unwrap_err();
    assert!(e.contains("post.p95_ms") && e.contains('%'), "{e}");
    let e = "error_rate <= 0%%".parse::<Threshold>().unwrap_err();
    assert!(e.contains("0%%"), "{e}");
    assert!("tokens_per_post < 10%".parse::<Threshold>().is_err());
    // A ratio takes one: 5 % is 0.05.
    let t: Threshold = "rate_limited_ratio <= 5%".parse().unwrap();
    assert_eq!(t.value, 0.05);
}

#[test]
fn thresholds_parse_or_name_what_is_wrong() {
    let t: Threshold = "post.p95_ms <= 5000".parse().unwrap();
    assert_eq!(
        (t.metric.as_str(), t.op, t.value),
        ("post.p95_ms", Op::Le, 5000.0)
    );
    let t: Threshold = "error_rate < 1%".parse().unwrap();
    assert_eq!(t.value, 0.01);
    for (bad, says) in [
        ("post.p59_ms <= 5000", "unknown metric `post.p59_ms`"),
        ("post.p95_ms =< 5000", "unknown operator `=<`"),
        ("post.p95_ms <= fast", "`fast` is not a number"),
        ("post.p95_ms<=5000", "write `metric op value`"),
        ("post.p95_ms <= NaN", "not a number"),
    ] {
        let e = bad.parse::<Threshold>().unwrap_err();
        assert!(e.contains(says), "{bad}: {e}");
    }
}

#[test]
fn gate_files_reject_typos_and_empty_gates() {
    let e = parse("g.toml", "[[gate]]\nthreshold = [\"post.p95_ms < 1\"]\n").unwrap_err();
    assert!(e.contains("g.toml") && e.contains("threshold"), "{e}");
    let e = parse("g.toml", "[[gate]]\nthresholds = [\"post.p95 < 1\"]\n").unwrap_err();
    assert!(
        e.contains("gate[0].thresholds") && e.contains("unknown metric"),
        "{e}"
    );
    assert!(parse("g.toml", "gate = []\n")
        .unwrap_err()
        .contains("no [[gate]]"));
    assert!(parse("g.toml", "[[gate]]\nthresholds = []\n")
        .unwrap_err()
        .contains("empty"));
}

fn fixture() -> RunResult {
    serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json")).unwrap()
}

fn threshold(t: &str) -> Threshold {
    t.parse().unwrap()
}

#[test]
fn every_metric_reads_its_own_field() {
    let mut c = fixture().cases.remove(0);
    let m = &mut c.measured;
    // A distinct figure in every field, so a metric reading a neighbour's field shows.
    let ok = &mut m.post_latency_ms.ok;
    (ok.p50, ok.p90, ok.p95, ok.p99) = (Some(1.0), Some(2.0), Some(3.0), Some(4.0));
    (ok.p99_9, ok.max, ok.mean) = (Some(5.0), Some(6.0), Some(2.5));
    (m.makespan_ms, m.start_spread_ms) = (8.0, 9.0);
    (m.posts.total, m.posts.ok, m.posts.failed) = (20, 15, 5);
    (m.calls.http_429, m.calls.attempts, m.calls.retries) = (12, 16, 13);
    m.tokens.per_ok_post = Some(14.0);
    m.cost.as_mut().unwrap().per_ok_post_usd = Some(0.5);
    m.tokens.wasted = Some(crate::metrics::cost::Tokens {
        prompt: 10,
        cached: 0,
        completion: 7,
    });
    m.cost.as_mut().unwrap().wasted_usd = Some(0.125);
    for (name, want) in [
        ("post.p50_ms", Some(1.0)),
        ("post.p90_ms", Some(2.0)),
        ("post.p95_ms", Some(3.0)),
        ("post.p99_ms", Some(4.0)),
        ("post.p99_9_ms", Some(5.0)),
        ("post.max_ms", Some(6.0)),
        ("post.mean_ms", Some(2.5)),
        ("makespan_ms", Some(8.0)),
        ("start_spread_ms", Some(9.0)),
        // 5 failed of 20: 0.25; 12 429s of 16 attempts: 0.75.
        ("error_rate", Some(0.25)),
        ("rate_limited_ratio", Some(0.75)),
        ("tokens_per_post", Some(14.0)),
        ("cost_per_post_usd", Some(0.5)),
        // 10 prompt + 7 completion tokens of failed posts.
        ("wasted_tokens", Some(17.0)),
        ("wasted_usd", Some(0.125)),
        ("posts_ok", Some(15.0)),
        ("posts_failed", Some(5.0)),
        ("http_429", Some(12.0)),
        ("retries", Some(13.0)),
        ("no.such_metric", None),
    ] {
        assert_eq!(metric(&c, name), want, "{name}");
    }
    // A ratio over nothing has no value (not 0, not NaN).
    let m = &mut c.measured;
    (m.posts.total, m.posts.failed, m.calls.attempts) = (0, 0, 0);
    assert_eq!(metric(&c, "error_rate"), None);
    assert_eq!(metric(&c, "rate_limited_ratio"), None);
}

#[test]
fn first_caption_token_metrics_read_its_percentiles_and_have_no_value_without_it() {
    let mut c = fixture().cases.remove(0);
    // The frozen run predates the header: no figure, so a gate on it fails, never passes.
    assert_eq!(c.measured.first_caption_token_ms, None);
    assert_eq!(metric(&c, "first_caption_token.p95_ms"), None);
    let gates = parse(
        "g.toml",
        "[[gate]]\nthresholds = [\"first_caption_token.p95_ms <= 5000\"]\n",
    )
    .unwrap();
    let checks = evaluate(&gates, &fixture()).unwrap();
    assert!(checks.iter().all(|k| k.measured.is_none() && !k.pass));
    c.measured.first_caption_token_ms = Some(crate::metrics::Percentiles {
        count: 3,
        p50: Some(21.0),
        p95: Some(22.0),
        p99: Some(23.0),
        ..Default::default()
    });
    for (name, want) in [
        ("first_caption_token.p50_ms", 21.0),
        ("first_caption_token.p95_ms", 22.0),
        ("first_caption_token.p99_ms", 23.0),
    ] {
        assert_eq!(metric(&c, name), Some(want), "{name}");
    }
}

#[test]
fn a_scenarios_thresholds_become_gates_on_its_cases() {
    let text = "name = \"x\"\nmodel = \"gpt-4o\"\ntiers = [1, 2]\n[load]\nkind = \"burst\"\nusers = 5\n[[thresholds]]\ntier = 2\nchecks = [\"post.p95_ms <= 9000\", \"retries < 3\"]\n";
    let s = Scenario::parse("s.toml", text).unwrap();
    assert_eq!(
        of_scenario(&s),
        vec![Gate {
            scenario: Some("x".into()),
            tier: Some(2),
            thresholds: vec![threshold("post.p95_ms <= 9000"), threshold("retries < 3")],
        }]
    );
}

#[test]
fn a_gate_file_parses_into_its_gates() {
    let text = "[[gate]]\nscenario = \"burst-50\"\ntier = 2\nthresholds = [\"error_rate < 1%\"]\n[[gate]]\nthresholds = [\"posts_ok >= 50\"]\n";
    assert_eq!(
        parse("g.toml", text).unwrap(),
        vec![
            Gate {
                scenario: Some("burst-50".into()),
                tier: Some(2),
                thresholds: vec![threshold("error_rate < 0.01")],
            },
            Gate {
                scenario: None,
                tier: None,
                thresholds: vec![threshold("posts_ok >= 50")],
            },
        ]
    );
}

#[test]
fn a_selector_needs_both_its_scenario_and_its_tier() {
    let gate = |scenario: Option<&str>, tier: Option<u8>| Gate {
        scenario: scenario.map(String::from),
        tier,
        thresholds: vec![],
    };
    let any = gate(None, None);
    assert!(any.selects("a", 1));
    let a = gate(Some("a"), None);
    assert!(a.selects("a", 1) && !a.selects("b", 1));
    let t2 = gate(None, Some(2));
    assert!(t2.selects("b", 2) && !t2.selects("b", 1));
    let a2 = gate(Some("a"), Some(2));
    assert!(a2.selects("a", 2));
    assert!(!a2.selects("a", 1) && !a2.selects("b", 2) && !a2.selects("b", 1));
}

#[test]
fn the_first_gate_selecting_no_planned_case_is_named() {
    let gates = parse(
        "g.toml",
        "[[gate]]\nthresholds = [\"retries < 1\"]\n[[gate]]\nscenario = \"x\"\nthresholds = [\"retries < 1\"]\n[[gate]]\ntier = 3\nthresholds = [\"retries < 1\"]\n",
    )
    .unwrap();
    assert_eq!(
        unmatched(&gates, &[("a", 1), ("a", 2)]).as_deref(),
        Some(
            "gate[1] (scenario x, tier any) selects none of this run's cases (a tier 1, a tier 2)"
        )
    );
    assert_eq!(unmatched(&gates[..1], &[("a", 1)]), None);
    assert_eq!(
        unmatched(&gates[2..], &[("x", 1)]).as_deref(),
        Some("gate[0] (scenario any, tier 3) selects none of this run's cases (x tier 1)")
    );
}

#[test]
fn evaluate_checks_each_threshold_on_each_selected_case() {
    let r = fixture();
    // The fixture's burst-50 tier 2 case, read from the result itself.
    let c = r
        .cases
        .iter()
        .find(|c| c.scenario == "burst-50" && c.tier == 2)
        .unwrap();
    let ok = c.measured.posts.ok as f64;
    let gates = parse(
        "g.toml",
        &format!("[[gate]]\nscenario = \"burst-50\"\ntier = 2\nthresholds = [\"posts_ok >= {ok}\", \"posts_ok > {ok}\"]\n"),
    )
    .unwrap();
    let checks = evaluate(&gates, &r).unwrap();
    let check = |threshold: String, pass| Check {
        case: "burst-50 tier 2".into(),
        threshold,
        measured: Some(ok),
        pass,
        why: None,
        skipped: false,
    };
    assert_eq!(
        checks,
        vec![
            check(format!("posts_ok >= {ok}"), true),
            check(format!("posts_ok > {ok}"), false)
        ]
    );
    // The 4 cases of the fixture, each checked.
    let all = parse("g.toml", "[[gate]]\nthresholds = [\"retries >= 0\"]\n").unwrap();
    assert_eq!(evaluate(&all, &r).unwrap().len(), 4);
    let none = parse(
        "g.toml",
        "[[gate]]\ntier = 1\nthresholds = [\"retries >= 0\"]\n[[gate]]\ntier = 9\nthresholds = [\"retries >= 0\"]\n",
    )
    .unwrap();
    assert_eq!(
        evaluate(&none, &r).unwrap_err(),
        "gate[1] (scenario any, tier 9) matches no case of this run"
    );
}

fn two_checks() -> Vec<Check> {
    vec![
        Check {
            case: "a<b> & \"c\" tier 1".into(),
            threshold: "post.p95_ms <= 20".into(),
            measured: Some(12.5),
            pass: true,
            why: None,
            skipped: false,
        },
        Check {
            case: "d tier 2".into(),
            threshold: "retries < 1".into(),
            measured: None,
            pass: false,
            why: None,
            skipped: false,
        },
        Check {
            case: "d tier 3".into(),
            threshold: "retries < 1".into(),
            measured: Some(3.0),
            pass: false,
            why: None,
            skipped: false,
        },
    ]
}

#[test]
fn junit_has_one_testcase_per_check_and_escapes_names() {
    let xml = String::from_utf8(junit(&two_checks())).unwrap();
    assert_eq!(
        xml,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"postload\" tests=\"3\" failures=\"2\">\n\
         <testsuite name=\"postload gates\" tests=\"3\" failures=\"2\">\n\
         \x20 <testcase classname=\"a&lt;b&gt; &amp; &quot;c&quot; tier 1\" name=\"post.p95_ms &lt;= 20\"><system-out>measured 12.5</system-out></testcase>\n\
         \x20 <testcase classname=\"d tier 2\" name=\"retries &lt; 1\"><failure message=\"measured no value, threshold retries &lt; 1\"/></testcase>\n\
         \x20 <testcase classname=\"d tier 3\" name=\"retries &lt; 1\"><failure message=\"measured 3, threshold retries &lt; 1\"/></testcase>\n\
         </testsuite>\n</testsuites>\n"
    );
}

#[test]
fn lines_and_markdown_give_each_verdict_and_value() {
    // 12.5 to 6 places, trailing zeros cut: 12.5; 3.000000 cut to 3.
    assert_eq!(
        lines(&two_checks()),
        "PASS a<b> & \"c\" tier 1: post.p95_ms <= 20 (measured 12.5)\n\
         FAIL d tier 2: retries < 1 (measured no value)\n\
         FAIL d tier 3: retries < 1 (measured 3)\n"
    );
    assert_eq!(
        markdown(&two_checks()),
        "## Gates\n\n| case | threshold | measured | verdict |\n| --- | --- | ---: | --- |\n\
         | a<b> & \"c\" tier 1 | `post.p95_ms <= 20` | 12.5000 | pass |\n\
         | d tier 2 | `retries < 1` | no value | **FAIL** |\n\
         | d tier 3 | `retries < 1` | 3.0000 | **FAIL** |\n"
    );
}

#[test]
fn a_threshold_can_skip_a_missing_value_and_says_so() {
    let text = "[[gate]]\nthresholds = [\n  { check = \"first_caption_token.p95_ms <= 5000\", missing = \"skip\" },\n  \"retries >= 0\",\n]\n";
    let gates = parse("g.toml", text).unwrap();
    assert_eq!(gates[0].thresholds[0].missing, Missing::Skip);
    assert_eq!(gates[0].thresholds[1].missing, Missing::Fail);
    let checks = evaluate(&gates, &fixture()).unwrap();
    // 4 cases × 2 thresholds: the frozen run has no first-token figure (skipped, with a
    // reason), and retries >= 0 holds.
    assert_eq!(checks.len(), 8);
    let skipped: Vec<&Check> = checks.iter().filter(|c| c.skipped).collect();
    assert_eq!(skipped.len(), 4);
    assert!(skipped.iter().all(|c| !c.failed()
        && c.why
            .as_deref()
            .is_some_and(|w| w.contains("first caption token"))));
    assert_eq!(
        summary_line(&checks),
        "gates: 4 passed, 0 failed, 4 skipped (no value, missing = \"skip\")"
    );
    assert!(lines(&checks).starts_with("SKIP burst-50 tier 1: first_caption_token.p95_ms <= 5000 (measured no value: only postload's stub"));
    let xml = String::from_utf8(junit(&checks)).unwrap();
    assert!(
        xml.contains("failures=\"0\" skipped=\"4\"") && xml.contains("<skipped message="),
        "{xml}"
    );
    // The default fails, and so does a value that is there but misses.
    let fail = parse(
        "g.toml",
        "[[gate]]\nthresholds = [{ check = \"first_caption_token.p95_ms <= 5000\" }]\n",
    )
    .unwrap();
    assert!(evaluate(&fail, &fixture())
        .unwrap()
        .iter()
        .all(Check::failed));
    // A typo in the table or its value is refused, naming the file.
    for bad in [
        "[[gate]]\nthresholds = [{ check = \"retries >= 0\", missin = \"skip\" }]\n",
        "[[gate]]\nthresholds = [{ check = \"retries >= 0\", missing = \"maybe\" }]\n",
    ] {
        assert!(
            parse("g.toml", bad).unwrap_err().starts_with("g.toml"),
            "{bad}"
        );
    }
}

#[test]
fn a_run_with_no_successful_post_fails_its_gate_naming_the_causes() {
    // Before: a gate of counts (`retries >= 0`, `failed.server_error <= 0`) passed a service
    // that refused every connection.
    let mut r = fixture();
    r.cases.truncate(1);
    let p = &mut r.cases[0].measured.posts;
    (p.ok, p.failed) = (0, p.total);
    p.failed_by_cause = [(crate::metrics::FailureCause::Connect, p.total)].into();
    let total = p.total;
    r.cases[0].measured.post_latency_ms.ok = Default::default();
    let gates = parse(
        "g.toml",
        "[[gate]]\nthresholds = [\"retries >= 0\", \"failed.server_error <= 0\"]\n",
    )
    .unwrap();
    let checks = evaluate(&gates, &r).unwrap();
    assert_eq!(checks.iter().filter(|c| c.failed()).count(), 1);
    let last = checks.last().unwrap();
    assert_eq!(
        (last.threshold.as_str(), last.measured, last.pass),
        ("posts_ok >= 1", Some(0.0), false)
    );
    assert_eq!(
        lines(std::slice::from_ref(last)),
        format!("FAIL burst-50 tier 1: posts_ok >= 1 (measured 0: no post succeeded: {total} connection refused (failed.connect))\n")
    );
    // A per-post figure's missing value names the same cause.
    let p95 = parse("g.toml", "[[gate]]\nthresholds = [\"post.p95_ms <= 1\"]\n").unwrap();
    let checks = evaluate(&p95, &r).unwrap();
    assert_eq!(
        checks[0].why.as_deref(),
        Some(format!("no post succeeded: {total} connection refused (failed.connect)").as_str())
    );
}

#[test]
fn ops_compare_as_written() {
    assert!(Op::Lt.holds(1.0, 2.0) && !Op::Lt.holds(2.0, 2.0));
    assert!(Op::Le.holds(2.0, 2.0) && !Op::Le.holds(2.000001, 2.0));
    assert!(Op::Gt.holds(3.0, 2.0) && !Op::Gt.holds(2.0, 2.0));
    assert!(Op::Ge.holds(2.0, 2.0) && !Op::Ge.holds(1.999999, 2.0));
}
