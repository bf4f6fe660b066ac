use super::*;

/// 2026-12-06T08:00:00Z in nanoseconds since the epoch: the tests' "now".
const NOW: i128 = 1_796_544_000 * 1_000_000_000;

fn ok(file: &str, text: &str) -> Trace {
    parse(file, text.as_bytes(), NOW).unwrap()
}

fn bad(file: &str, text: &str) -> TraceError {
    parse(file, text.as_bytes(), NOW).unwrap_err()
}

fn secs(t: &Trace) -> Vec<f64> {
    t.posts.iter().map(|p| p.at.as_secs_f64()).collect()
}

#[test]
fn the_now_constant_is_the_date_it_names() {
    let d = chrono::DateTime::parse_from_rfc3339("2026-12-06T08:00:00Z").unwrap();
    assert_eq!(i128::from(d.timestamp_nanos_opt().unwrap()), NOW);
}

#[test]
fn each_time_column_reads_to_offsets_from_the_first_arrival() {
    // The same three arrivals, 0 s, 1.5 s and 60 s apart from the first, in each form.
    let want = [0.0, 1.5, 60.0];
    let csv = [
        "timestamp\n2026-12-05T09:00:00Z\n2026-12-05T09:00:01.5Z\n2026-12-05T10:01:00+01:00\n",
        "epoch_s\n1796461200\n1796461201.5\n1796461260\n",
        "epoch_ms\n1796461200000\n1796461201500\n1796461260000\n",
        "offset_s\n10\n11.5\n70\n",
    ];
    for text in csv {
        // 10:01:00+01:00 is 09:01:00Z.
        assert_eq!(secs(&ok("t.csv", text)), want, "{text}");
    }
    let jsonl = [
        "{\"timestamp\":\"2026-12-05T09:00:00Z\"}\n{\"timestamp\":\"2026-12-05T09:00:01.5Z\"}\n{\"timestamp\":\"2026-12-05T09:01:00Z\"}\n",
        "{\"epoch_s\":1796461200}\n{\"epoch_s\":1796461201.5}\n{\"epoch_s\":\"1796461260\"}\n",
        "{\"epoch_ms\":1796461200000}\n{\"epoch_ms\":1796461201500}\n{\"epoch_ms\":1796461260000}\n",
        "{\"offset_s\":0}\n\n{\"offset_s\":1.5}\n{\"offset_s\":60}\n",
    ];
    for text in jsonl {
        assert_eq!(secs(&ok("t.jsonl", text)), want, "{text}");
    }
    assert_eq!(Format::of("a.NDJSON"), Some(Format::Jsonl));
}

#[test]
fn per_post_columns_are_kept_and_quoted_commas_read() {
    let t = ok(
        "t.csv",
        "offset_s,business,image_prompt\r\n0,\"Rosa's Bakery, Leeds\",\n1,Pixel Repair,\"A \"\"bold\"\" poster\"\n",
    );
    assert_eq!(t.posts[0].business.as_deref(), Some("Rosa's Bakery, Leeds"));
    assert_eq!(
        t.posts[1].image_prompt.as_deref(),
        Some("A \"bold\" poster")
    );
    assert!(t.has_image_prompts);
    // An empty image prompt: the post makes its own (two calls); a given one: it brings it.
    assert_eq!(t.brings_own(0), Some(false));
    assert_eq!(t.brings_own(1), Some(true));
    assert_eq!(t.posts[0].topic, None);
    // Without the column, the file does not decide: the scenario's share does.
    assert_eq!(ok("t.csv", "offset_s\n0\n").brings_own(0), None);
    let j = ok(
        "t.jsonl",
        "{\"offset_s\":0,\"platform\":\"X\",\"image_prompt\":\"p\"}\n",
    );
    assert_eq!(j.posts[0].platform.as_deref(), Some("X"));
    assert_eq!(j.brings_own(0), Some(true));
}

/// Each bad input names the file and the line at fault.
#[test]
fn bad_traces_name_the_file_and_line() {
    let cases: [(&str, &str, usize, &str); 18] = [
        ("t.csv", "offset_s\n0\n2\n1\n", 4, "earlier than line 3"),
        ("t.csv", "offset_s\n0\n1\n1\n", 4, "the same time as line 3"),
        ("t.csv", "offset_s\n0\nabc\n", 3, "`abc` is not a number"),
        ("t.csv", "offset_s\n0\n-1\n", 3, "`-1` is not a number"),
        ("t.csv", "offset_s\n0\nNaN\n", 3, "`NaN` is not a number"),
        ("t.csv", "offset_s\n0\n1e3\n", 3, "`1e3` is not a number"),
        (
            "t.csv",
            "epoch_s\n1796461200\n1896461200\n",
            3,
            "in the future",
        ),
        (
            "t.csv",
            "timestamp\n2027-01-01T00:00:00Z\n",
            2,
            "in the future",
        ),
        (
            "t.csv",
            "timestamp\n2026-13-01T00:00:00Z\n",
            2,
            "not an RFC 3339 time",
        ),
        ("t.csv", "offset_s\n0\n2800000\n", 3, "at most 2678400 s"),
        (
            "t.csv",
            "offset_s,business\n0\n",
            2,
            "1 fields, the header has 2",
        ),
        (
            "t.csv",
            "offset_s,busines\n0,a\n",
            1,
            "unknown column `busines`",
        ),
        ("t.csv", "epoch_s,offset_s\n0,0\n", 1, "two time columns"),
        ("t.csv", "business\nx\n", 1, "no time column"),
        ("t.csv", "offset_s,business\n0,\"open\n", 2, "not closed"),
        (
            "t.jsonl",
            "{\"offset_s\":0}\n{\"offset_s\":true}\n",
            2,
            "is not a time",
        ),
        (
            "t.jsonl",
            "{\"offset_s\":0}\n{\"offset_s\":1,\"topic\":\"x\"}\n",
            2,
            "differ",
        ),
        ("t.jsonl", "{\"offset_s\":0}\n[1]\n", 2, "not a JSON object"),
    ];
    for (file, text, line, what) in cases {
        let e = bad(file, text);
        assert_eq!(e.line, line, "{text:?}: {e}");
        let shown = e.to_string();
        assert!(
            shown.starts_with(&format!("{file}: line {line}: ")) && shown.contains(what),
            "{text:?}: {shown}"
        );
    }
}

#[test]
fn empty_unnamed_huge_and_long_traces_are_refused() {
    for (file, text, what) in [
        ("t.csv", "", "empty"),
        ("t.csv", "offset_s\n\n", "no arrivals"),
        ("t.jsonl", "\n\n", "empty"),
        ("t.txt", "offset_s\n0\n", "`.csv`, `.jsonl`"),
    ] {
        let e = bad(file, text);
        assert!(e.to_string().starts_with(&format!("{file}: ")), "{e}");
        assert!(e.to_string().contains(what), "{text:?}: {e}");
    }
    let huge = vec![b'0'; MAX_TRACE_BYTES as usize + 1];
    assert!(parse("t.csv", &huge, NOW)
        .unwrap_err()
        .to_string()
        .contains("bytes"));
    // One arrival past the bound: the line that would be the 1,000,001st is named.
    let mut text = String::from("offset_s\n");
    for i in 0..=MAX_TRACE_POSTS {
        text.push_str(&format!("{i}\n"));
    }
    let e = bad("t.csv", &text);
    assert_eq!(e.line, MAX_TRACE_POSTS + 2, "{e}");
    assert!(e.message.contains("more than 1000000 arrivals"), "{e}");
    let long = format!(
        "offset_s,topic\n0,{}\n",
        "x".repeat(MAX_TRACE_FIELD_BYTES + 1)
    );
    assert!(bad("t.csv", &long)
        .to_string()
        .contains("line 2: `topic` is longer"));
    // Not UTF-8 on line 3.
    let e = parse("t.csv", b"offset_s\n0\n\xff\n", NOW).unwrap_err();
    assert_eq!(e.line, 3, "{e}");
}

#[test]
fn decimals_are_exact_to_the_nanosecond() {
    assert_eq!(
        decimal_ns("1.000000001", 1_000_000_000),
        Some(1_000_000_001)
    );
    assert_eq!(decimal_ns("0.1", 1_000_000_000), Some(100_000_000));
    assert_eq!(decimal_ns("2.5", 1_000_000), Some(2_500_000));
    assert_eq!(decimal_ns("12.", 1_000_000_000), Some(12_000_000_000));
    assert_eq!(decimal_ns("0.0000000001", 1_000_000_000), None);
    assert_eq!(decimal_ns(".5", 1_000_000_000), None);
    assert_eq!(decimal_ns("1234567890123456", 1), None);
}

/// `--trace-speed K` divides every offset by K; `--time-scale` leaves modelled times alone.
#[test]
fn speed_divides_the_offsets() {
    let t = ok("t.csv", "offset_s\n100\n160\n3700\n");
    // Offsets from the first: 0, 60, 3,600 s. At speed 60: 0, 1, 60 s.
    let at = |k: f64| {
        (0..3)
            .map(|i| t.scheduled(i, k).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(at(1.0), [0, 60, 3_600].map(Duration::from_secs));
    assert_eq!(at(60.0), [0, 1, 60].map(Duration::from_secs));
    assert_eq!(t.scheduled(3, 1.0), None);
    assert_eq!(t.span(), Duration::from_secs(3_600));
}

#[test]
fn speed_and_the_replays_length_and_rate_are_bounded() {
    let t = ok("t.csv", "offset_s\n0\n1\n1209600\n");
    // Two weeks: past a run's week at speed 1, within it at speed 2.
    assert!(check_replay(&t, 1.0, 10_000.0)
        .unwrap_err()
        .contains("a week"));
    assert!(check_replay(&t, 2.0, 10_000.0).is_ok());
    for k in [0.5, 0.0, f64::NAN, 100_001.0] {
        assert!(check_replay(&t, k, 10_000.0).is_err(), "{k}");
    }
    // 3 arrivals in 1 s at speed 1 is a mean of 2 posts/s (2 gaps in 1 s).
    let fast = ok("t.csv", "offset_s\n0\n0.5\n1\n");
    assert!(check_replay(&fast, 1.0, 2.0).is_ok());
    assert!(check_replay(&fast, 1.0, 1.9)
        .unwrap_err()
        .contains("posts/s"));
}

#[test]
fn a_curve_makes_its_hours_shares_evenly_spaced() {
    // 10 posts over a 4-hour "day" weighted 1, 0, 3, 1: 2, 0, 6, 2 posts; hour 0's two at
    // 900 s and 2,700 s, hour 2's six 600 s apart from 7,500 s.
    let text = from_curve(10, &[1.0, 0.0, 3.0, 1.0]);
    let t = ok("c.csv", &text);
    assert_eq!(t.posts.len(), 10);
    assert!(
        text.starts_with("offset_s\n900.000\n2700.000\n7500.000\n8100.000\n"),
        "{text}"
    );
    // Remainders: 3 posts over weights 1,1,1 are one each; 2 go to the earliest hours.
    assert_eq!(
        from_curve(2, &[1.0, 1.0, 1.0]),
        "offset_s\n1800.000\n5400.000\n"
    );
}

/// docs/trace.md's ten-line example is a valid trace, read as documented.
#[test]
fn the_documented_example_parses() {
    let doc = include_str!("../../../docs/trace.md");
    let start = doc.find("```csv\n").unwrap() + "```csv\n".len();
    let text = &doc[start..start + doc[start..].find("```").unwrap()];
    assert_eq!(text.lines().count(), 10);
    let t = ok("example.csv", text);
    assert_eq!(t.posts.len(), 9);
    // 08:59:58 to 09:00:52: 54 s; the third post 5.5 s after the first.
    assert_eq!(t.span(), Duration::from_secs(54));
    assert_eq!(t.posts[2].at, Duration::from_millis(5_500));
    assert_eq!(
        t.posts[2].image_prompt.as_deref(),
        Some("A bright, calm clinic, morning light")
    );
    assert_eq!(
        (t.brings_own(2), t.brings_own(3)),
        (Some(true), Some(false))
    );
    assert_eq!(t.posts[8].business.as_deref(), Some("Rosa's Bakery"));
}

#[test]
fn a_trace_load_in_a_scenario_is_checked_by_field() {
    use crate::scenario::{Load, Scenario};
    let base = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"trace\"\nfile = \"day.csv\"\n";
    let s = Scenario::parse("s.toml", base).unwrap();
    assert!(matches!(
        s.load,
        Load::Trace { speed, max_in_flight: 400, arrivals: None, .. } if speed == 1.0
    ));
    for (extra, field) in [
        ("speed = 0.5\n", "load.speed"),
        ("max_in_flight = 0\n", "load.max_in_flight"),
        ("max_in_flight = 5001\n", "load.max_in_flight"),
    ] {
        let e = Scenario::parse("s.toml", &format!("{base}{extra}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains(&format!("field `{field}`")), "{extra}: {e}");
    }
    let e = Scenario::parse("s.toml", &base.replace("day.csv", " "))
        .unwrap_err()
        .to_string();
    assert!(e.contains("field `load.file`"), "{e}");
    // The arrivals are read by the run's configuration, never from the scenario file.
    let e = Scenario::parse("s.toml", &format!("{base}arrivals = 1\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `arrivals`"), "{e}");
}
