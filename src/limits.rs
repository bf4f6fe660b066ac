//! Upper bounds on what postload accepts from its inputs (options, data files, logs) and from a
//! target (headers, usage, bodies), so that no input makes it panic, hang or grow without bound.
//! Each limit is checked before anything runs, and its message says the limit; `docs/limits.md`
//! gives each value and why.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

/// Goose users of one case (`--users`, `load.users`, `load.max_in_flight`, `--validate-users`).
/// Measured (release build, 1 s calls, this 2-core machine): 5,000 users all succeed, 1.1 GB
/// RSS, p99 1.3 s above the calls; at 10,000 every post failed to connect (likely the
/// descriptor limit: the embedded stub shares the process, two descriptors a connection).
/// The planning note asks about 50 and 100.
pub const MAX_USERS: u32 = 5_000;

/// Prompt tokens of one call: the context window of the catalog's models (gpt-4o and
/// gpt-4o-mini, 128,000 tokens). The prompt text is built, and counted, before the first send.
pub const MAX_PROMPT_TOKENS: u32 = 128_000;

/// `max_tokens` of one call: the most either catalog model writes (16,384 tokens).
pub const MAX_COMPLETION_TOKENS: u32 = 16_384;

/// Repetitions of a run (`--repeat`, `--validate-repeat`).
pub const MAX_REPEAT: u32 = 100;

/// `--time-scale K`: the largest K at which every case of `cargo bench --bench timescale` has
/// agreed with K = 1 (docs/benchmarks.md). Past it the harness's own milliseconds, multiplied
/// by K, distort the figures: Tier 2's p50 is 11 % slow at K = 50, 4.8 times at K = 1,000.
pub const MAX_TIME_SCALE: f64 = 20.0;

/// Seconds a request may be given (`request_timeout_s`, `--wait-for-target`).
pub const MAX_TIMEOUT_S: f64 = 3_600.0;

/// A duration flag (`--wait-for-target 30s`) in seconds: `500ms`, `30s`, `2m`, or bare seconds;
/// from 0 to [`MAX_TIMEOUT_S`]. A clap value parser.
pub fn duration_arg(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let (number, unit) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let secs = number
        .trim_end()
        .parse::<f64>()
        .ok()
        .map(|v| v * unit)
        .filter(|v| v.is_finite() && (0.0..=MAX_TIMEOUT_S).contains(v))
        .ok_or_else(|| {
            format!("`{t}`: give a duration from 0 to {MAX_TIMEOUT_S} s (500ms, 30s, 2m)")
        })?;
    Ok(secs)
}

/// Whether `secs` is a latency target the planner and find-rate can judge: above 0, at most
/// [`MAX_TIMEOUT_S`] (no request waits longer, so no post's latency can be past it; an infinite
/// target also hung the plan's charts).
pub fn p95_ok(secs: f64) -> bool {
    secs > 0.0 && secs <= MAX_TIMEOUT_S
}

/// `--p95 SECS` ([`p95_ok`]). A clap value parser.
pub fn p95_arg(text: &str) -> Result<f64, String> {
    let t = text.trim();
    t.parse::<f64>()
        .ok()
        .filter(|v| p95_ok(*v))
        .ok_or_else(|| format!("`{t}`: give a number of seconds above 0, at most {MAX_TIMEOUT_S}"))
}

/// Seconds of a sustained load (`load.duration_s`): a week.
pub const MAX_DURATION_S: f64 = 7.0 * 86_400.0;

/// Posts per second of a sustained load.
pub const MAX_RATE_PER_S: f64 = 10_000.0;

/// Bytes of a target's response body postload reads (a chat completion is a few KB).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// Bytes of a text file users edit: scenario, gate, claims and each mocks/ file.
pub const MAX_TEXT_FILE_BYTES: u64 = 1 << 20;

/// Bytes of a result.json (`report`, `check`, `compare`, `plan --result`). The default run's
/// (4 cases, 300 posts) is about 340 KB; a case keeps at most 5,000 sampled posts, 300 posts'
/// intervals and 5,000 attempts.
pub const MAX_RESULT_BYTES: u64 = 256 << 20;

/// Cases one run writes, and one result.json (`report`, `check`, `compare`, `plan --result`)
/// may hold: scenarios × tiers × `--repeat`, checked before any load. The default run is 4
/// cases, `--repeat 100` of it 400. Past this, report.md and report.html grow without use (2,000
/// cases wrote 178 MB of HTML; 45,000 needed over 10 GB).
pub const MAX_CASES: usize = 1_000;

/// Cases whose charts `report` (and a run) draws: the first this many; report.md and
/// report.html say the others have none. A case's charts are about 650 KB (PNG and SVG).
pub const MAX_CHARTED_CASES: usize = 20;

/// Bytes of an interval log (`merge`). A run's log is a few KB per case.
pub const MAX_HLOG_BYTES: u64 = 64 << 20;

/// Counters one histogram of an interval log may claim (its range and precision set how many
/// the decoder allocates). postload's own (1 µs to 1 h, 3 significant figures) have 23,552; 4
/// figures over an hour of nanoseconds need 475,136. With [`MAX_HLOG_TAGS`] this bounds a
/// merge's counters to 32 × 4 MiB.
pub const MAX_HLOG_COUNTERS: u64 = 1 << 19;

/// Samples one histogram, or one merged tag, may hold: 2^53, where a count is still exact as
/// an f64 (percentiles are computed in f64) and far from u64 overflow.
pub const MAX_HLOG_COUNT: u64 = 1 << 53;

/// Distinct tags a merge keeps (postload writes 5).
pub const MAX_HLOG_TAGS: usize = 32;

/// Shards of a run (`--shard i/N`) and result.json files one `merge` takes: 256 machines
/// (at the measured one-machine ceiling, docs/limits.md, far past OpenAI's largest tier).
pub const MAX_SHARDS: u32 = 256;

/// Bytes of all the result.json files one `merge` reads together (each is also held to
/// [`MAX_RESULT_BYTES`]): a shard's result is a few hundred KB to a few MB.
pub const MAX_MERGE_BYTES: u64 = 1 << 30;

/// Milliseconds of a latency-profile time (TTFT percentiles, a fixed latency): OpenAI's SDK
/// gives up on a request after 600 s.
pub const MAX_PROFILE_MS: f64 = 600_000.0;

/// Reads at most `limit` bytes of `path`; more is an error naming the file and the limit
/// (`/dev/zero` must not be read forever).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!(
            "{}: larger than {}, the most postload reads of such a file",
            path.display(),
            size(limit)
        ));
    }
    Ok(bytes)
}

/// [`read_bounded`] as UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> Result<String, String> {
    String::from_utf8(read_bounded(path, limit)?)
        .map_err(|_| format!("{}: not UTF-8 text", path.display()))
}

/// `limit` in words: `1 MiB`, `256 MiB`.
pub fn size(limit: u64) -> String {
    if limit >= 1 << 20 && limit % (1 << 20) == 0 {
        format!("{} MiB", limit >> 20)
    } else {
        format!("{limit} bytes")
    }
}

/// The largest number a result.json may hold (counts, tokens, USD), seeds apart: 10^12.
pub const MAX_RESULT_NUMBER: f64 = 1e12;
/// The largest time in milliseconds (a field named `*_ms`) a result.json may hold: 10^9 ms,
/// 11.6 days (a week-long sustained run with its last post's retries). Charts bin by it.
pub const MAX_RESULT_MS: f64 = 1e9;

/// Checks every number of a result.json against [`MAX_RESULT_NUMBER`] and [`MAX_RESULT_MS`]
/// (what reads a result, charts above all, sizes things by them); the error names the field
/// by its JSON path.
pub fn check_result_numbers(v: &serde_json::Value) -> Result<(), String> {
    fn walk(v: &serde_json::Value, path: &mut String, key: &str) -> Result<(), String> {
        use serde_json::Value;
        match v {
            Value::Number(n) if key != "seed" => {
                let x = n.as_f64().unwrap_or(f64::INFINITY);
                let max = if key.ends_with("_ms") {
                    MAX_RESULT_MS
                } else {
                    MAX_RESULT_NUMBER
                };
                if x.abs() > max {
                    return Err(format!(
                        "field `{}`: {} is more than {} in size",
                        path.trim_start_matches('.'),
                        num(x),
                        num(max)
                    ));
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!("[{i}]"));
                    walk(item, path, key)?;
                    path.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    let len = path.len();
                    path.push('.');
                    path.push_str(k);
                    walk(item, path, k)?;
                    path.truncate(len);
                }
            }
            _ => {}
        }
        Ok(())
    }
    walk(v, &mut String::new(), "")
}

/// A number for a message: `1e300`, not three hundred digits.
pub fn num(v: f64) -> String {
    if v.is_finite() && v.abs() >= 1e9 {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Seconds as a `Duration`, total: NaN and negatives are zero, and anything past `max` (or
/// past what a `Duration` holds) is `max`.
pub fn secs(s: f64, max: Duration) -> Duration {
    if s.is_nan() || s <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(s).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_a_unit_and_stay_within_an_hour() {
        for (text, want) in [
            ("30s", 30.0),
            ("500ms", 0.5),
            ("2m", 120.0),
            ("5", 5.0),
            ("0", 0.0),
        ] {
            assert_eq!(duration_arg(text), Ok(want), "{text}");
        }
        for bad in ["-1s", "2h", "61m", "1e300", "NaN", "s", "soon"] {
            assert!(duration_arg(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_p95_target_is_above_0_and_at_most_an_hour() {
        for (text, want) in [("5", 5.0), (" 0.001", 0.001), ("3600", 3_600.0)] {
            assert_eq!(p95_arg(text), Ok(want), "{text}");
        }
        // `inf` made `plan` draw its charts without end (found 2026-12-06).
        for bad in ["0", "-1", "3600.5", "inf", "1e300", "NaN", "5s", ""] {
            assert_eq!(
                p95_arg(bad),
                Err(format!(
                    "`{}`: give a number of seconds above 0, at most 3600",
                    bad.trim()
                )),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_result_number_past_its_limit_is_named_by_path() {
        let v = serde_json::json!({"seed": 18446744073709551615u64, "cases": [{"duration_ms": 5.0}, {"posts_sample": [{"latency_ms": 1e300}]}]});
        let e = check_result_numbers(&v).unwrap_err();
        assert!(
            e.contains("cases[1].posts_sample[0].latency_ms") && e.contains("1e300"),
            "{e}"
        );
        let ok = serde_json::json!({"seed": 18446744073709551615u64, "tokens": 1e12, "makespan_ms": 1e9});
        assert!(check_result_numbers(&ok).is_ok());
        assert!(check_result_numbers(&serde_json::json!({"makespan_ms": 1.1e9})).is_err());
    }

    #[test]
    fn secs_is_total() {
        let max = Duration::from_secs(10);
        assert_eq!(secs(1.5, max), Duration::from_millis(1_500));
        assert_eq!(secs(1e300, max), max);
        assert_eq!(secs(f64::INFINITY, max), max);
        assert_eq!(secs(f64::NAN, max), Duration::ZERO);
        assert_eq!(secs(-3.0, max), Duration::ZERO);
    }

    #[test]
    fn reading_dev_zero_stops_at_the_limit() {
        let e = read_bounded(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(e.contains("/dev/zero") && e.contains("1 MiB"), "{e}");
    }

    #[test]
    fn a_file_at_the_limit_is_read() {
        let p = std::env::temp_dir().join(format!("postload-limits-{}", std::process::id()));
        std::fs::write(&p, [b'x'; 16]).unwrap();
        assert_eq!(read_bounded(&p, 16).unwrap().len(), 16);
        assert!(read_bounded(&p, 15).unwrap_err().contains("15 bytes"));
        let _ = std::fs::remove_file(p);
    }

    /// The byte and count limits are the values docs/limits.md gives (written out here from
    /// the doc, not from the code): a week is 7 × 86,400 = 604,800 s; 16 MiB = 16,777,216
    /// bytes; 1 MiB = 1,048,576; 256 MiB = 268,435,456; 64 MiB = 67,108,864; 2^19 = 524,288;
    /// 2^53 = 9,007,199,254,740,992.
    #[test]
    fn the_limits_are_the_documented_values() {
        assert_eq!(MAX_DURATION_S, 604_800.0);
        assert_eq!(MAX_BODY_BYTES, 16_777_216);
        assert_eq!(MAX_TEXT_FILE_BYTES, 1_048_576);
        assert_eq!(MAX_RESULT_BYTES, 268_435_456);
        assert_eq!(MAX_HLOG_BYTES, 67_108_864);
        assert_eq!(MAX_HLOG_COUNTERS, 524_288);
        assert_eq!(MAX_HLOG_COUNT, 9_007_199_254_740_992);
        assert_eq!(size(MAX_RESULT_BYTES), "256 MiB");
        // 256 shards; 1 GiB = 1,073,741,824 bytes.
        assert_eq!(MAX_SHARDS, 256);
        assert_eq!(MAX_MERGE_BYTES, 1_073_741_824);
    }

    /// Whole MiB print as MiB; anything else (0, half a MiB, one and a half) in bytes.
    #[test]
    fn a_size_is_in_mib_only_when_whole() {
        assert_eq!(size(1 << 20), "1 MiB");
        assert_eq!(size(3 << 20), "3 MiB");
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1 << 19), "524288 bytes");
        assert_eq!(size(3 << 19), "1572864 bytes");
    }

    /// Below 10^9 a number prints plainly; from 10^9 in exponent form.
    #[test]
    fn numbers_in_messages_switch_to_exponents_at_a_billion() {
        assert_eq!(num(5.0), "5");
        assert_eq!(num(-2.5), "-2.5");
        assert_eq!(num(999_999_999.0), "999999999");
        assert_eq!(num(1e9), "1e9");
        assert_eq!(num(-1e12), "-1e12");
    }

    #[test]
    fn read_text_gives_the_text_and_refuses_other_bytes() {
        let dir = std::env::temp_dir();
        let ok = dir.join(format!("postload-limits-text-{}", std::process::id()));
        let bad = dir.join(format!("postload-limits-bin-{}", std::process::id()));
        std::fs::write(&ok, "a = 1\n").unwrap();
        std::fs::write(&bad, [0xff, 0xfe, 0x00]).unwrap();
        assert_eq!(read_text(&ok, 16).unwrap(), "a = 1\n");
        let e = read_text(&bad, 16).unwrap_err();
        assert!(e.ends_with(": not UTF-8 text"), "{e}");
        let _ = std::fs::remove_file(ok);
        let _ = std::fs::remove_file(bad);
    }
}
