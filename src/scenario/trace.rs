//! Arrival traces (`load.kind = "trace"`, `--trace FILE`): when each post of a recorded day
//! arrived, from a CSV or JSONL file, with optional per-post inputs (`business`, `topic`,
//! `platform`, `image_prompt`). Pure: [`parse`] takes the file's bytes (read, bounded, by the
//! caller) and the current time, and either returns every arrival as an offset from the first,
//! or names the file and line at fault. The format is documented in docs/run.md ("Trace
//! replay"). Arrivals keep their index in the file as their post number, so a shard of a run
//! (`--shard i/N`, [`crate::shard`]) takes every N-th arrival and keeps each post's seeds.

use std::time::Duration;

use serde_json::Value;

use crate::limits::MAX_DURATION_S;

/// Bytes of a trace file: 64 MiB (a million arrivals with a 40-byte line each is 40 MB).
pub const MAX_TRACE_BYTES: u64 = 64 << 20;

/// Arrivals of a trace: the planner's per-cell bound (`plan::MAX_PLAN_POSTS`), which a run of
/// the same trace shares so that `plan --trace` and `run --trace` take the same files.
pub const MAX_TRACE_POSTS: usize = 1_000_000;

/// Bytes of one per-post text value (an image prompt is about 100 words).
pub const MAX_TRACE_FIELD_BYTES: usize = 4_096;

/// Seconds from a trace's first arrival to its last: 31 days (`plan --days`' bound).
pub const MAX_TRACE_SPAN_S: f64 = 31.0 * 86_400.0;

/// `--trace-speed K`: replay K times faster than the file; at most 100,000 (a month in 27 s).
pub const MAX_TRACE_SPEED: f64 = 100_000.0;

/// The columns (CSV header) or keys (JSONL) a trace may have: exactly one time column, and
/// any of the per-post ones.
pub const TIME_COLUMNS: [&str; 4] = ["timestamp", "epoch_s", "epoch_ms", "offset_s"];
pub const POST_COLUMNS: [&str; 4] = ["business", "topic", "platform", "image_prompt"];

/// A trace could not be used: the file, the line (0: the file as a whole) and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}{}: {message}", if *line > 0 { format!(": line {line}") } else { String::new() })]
pub struct TraceError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// One arrival: its offset from the trace's first, and the inputs the file gives for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TracePost {
    pub at: Duration,
    pub business: Option<String>,
    pub topic: Option<String>,
    pub platform: Option<String>,
    /// `Some` when the file has an `image_prompt` column: the post brings its own image prompt
    /// when the value is not empty (and then makes one call, not two).
    pub image_prompt: Option<String>,
}

/// A parsed, checked trace.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The file as named in messages.
    pub file: String,
    /// In arrival order, strictly increasing, the first at zero.
    pub posts: Vec<TracePost>,
    /// Whether the file has an `image_prompt` column (it then decides, post by post, which
    /// posts bring their own, in place of `image_prompt_share`).
    pub has_image_prompts: bool,
}

impl Trace {
    /// From the first arrival to the last, at the file's pace.
    pub fn span(&self) -> Duration {
        self.posts.last().map_or(Duration::ZERO, |p| p.at)
    }

    /// Whether post `i` brings its own image prompt, if the file says (`None`: draw by share).
    pub fn brings_own(&self, i: u64) -> Option<bool> {
        if !self.has_image_prompts {
            return None;
        }
        let post = self.posts.get(usize::try_from(i).ok()?)?;
        Some(post.image_prompt.as_deref().is_some_and(|s| !s.is_empty()))
    }

    /// Post `i`'s intended send time at `speed` times the file's pace, in modelled time:
    /// its offset divided by the speed. (`--time-scale` then divides the real wait again, and
    /// multiplies measured times back, so it changes no modelled figure.)
    pub fn scheduled(&self, i: usize, speed: f64) -> Option<Duration> {
        self.posts.get(i).map(|p| scaled(p.at, speed))
    }
}

/// An offset replayed `speed` times faster.
pub fn scaled(at: Duration, speed: f64) -> Duration {
    Duration::from_secs_f64(at.as_secs_f64() / speed)
}

/// Checks a `--trace-speed` (or `load.speed`): from 1 to [`MAX_TRACE_SPEED`]. The message
/// names neither file nor option: the caller does.
pub fn check_speed(speed: f64) -> Result<(), String> {
    if !(1.0..=MAX_TRACE_SPEED).contains(&speed) {
        return Err(format!(
            "{speed} is not a speed from 1 to {MAX_TRACE_SPEED} (times the file's pace)"
        ));
    }
    Ok(())
}

/// Checks that `trace`, replayed at `speed`, fits a run: at most [`MAX_DURATION_S`] (a
/// sustained load's bound), at a mean rate of at most `max_rate` posts a second.
pub fn check_replay(trace: &Trace, speed: f64, max_rate: f64) -> Result<(), String> {
    check_speed(speed)?;
    let span = trace.span().as_secs_f64() / speed;
    if span > MAX_DURATION_S {
        return Err(format!(
            "the trace spans {} s, {} s at speed {speed}: more than a run's {MAX_DURATION_S} s (a week); give a larger --trace-speed",
            trace.span().as_secs_f64(),
            span
        ));
    }
    let n = trace.posts.len();
    if n > 1 && (n - 1) as f64 / span > max_rate {
        return Err(format!(
            "{} arrivals in {span} s at speed {speed}: a mean of more than {max_rate} posts/s (a sustained load's bound)",
            n
        ));
    }
    Ok(())
}

/// The file's format, from its name: `.csv`, or `.jsonl` / `.ndjson`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Jsonl,
}

impl Format {
    pub fn of(file: &str) -> Option<Self> {
        let lower = file.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            Some(Format::Csv)
        } else if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Some(Format::Jsonl)
        } else {
            None
        }
    }
}

/// The time column of a trace, and how its values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeKind {
    Rfc3339,
    EpochS,
    EpochMs,
    OffsetS,
}

impl TimeKind {
    fn of(column: &str) -> Option<Self> {
        Some(match column {
            "timestamp" => TimeKind::Rfc3339,
            "epoch_s" => TimeKind::EpochS,
            "epoch_ms" => TimeKind::EpochMs,
            "offset_s" => TimeKind::OffsetS,
            _ => return None,
        })
    }

    /// Nanoseconds since the epoch (or since the offsets' zero) of one value.
    fn read(self, text: &str) -> Result<i128, String> {
        let t = text.trim();
        match self {
            TimeKind::Rfc3339 => chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .and_then(|d| d.timestamp_nanos_opt())
                .map(i128::from)
                .ok_or_else(|| format!("`{t}` is not an RFC 3339 time (2026-12-05T09:00:00Z)")),
            TimeKind::EpochS => decimal_ns(t, 1_000_000_000)
                .ok_or_else(|| format!("`{t}` is not a number of seconds since 1970")),
            TimeKind::EpochMs => decimal_ns(t, 1_000_000)
                .ok_or_else(|| format!("`{t}` is not a number of milliseconds since 1970")),
            TimeKind::OffsetS => decimal_ns(t, 1_000_000_000)
                .ok_or_else(|| format!("`{t}` is not a number of seconds (0 or more)")),
        }
    }

    fn absolute(self) -> bool {
        self != TimeKind::OffsetS
    }
}

/// A plain non-negative decimal (`12`, `12.5`) times `unit` nanoseconds, exactly (so equal
/// times compare equal); `None` for anything else (signs, exponents, `NaN`, over 15 digits
/// before the point, a fraction finer than a nanosecond).
fn decimal_ns(t: &str, unit: i128) -> Option<i128> {
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || int.len() > 15 || !digits(int) || !digits(frac) {
        return None;
    }
    let frac = frac.trim_end_matches('0');
    let mut ns = int.parse::<i128>().ok()? * unit;
    let mut scale = unit;
    for b in frac.bytes() {
        if scale % 10 != 0 {
            return None;
        }
        scale /= 10;
        ns += i128::from(b - b'0') * scale;
    }
    Some(ns)
}

/// One row as read: its line, its time text, and its per-post values by [`POST_COLUMNS`] index.
struct Row {
    line: usize,
    time: String,
    values: [Option<String>; 4],
}

/// Parses and checks a trace. `file` names it in messages, `bytes` is its content (at most
/// [`MAX_TRACE_BYTES`]), `now_unix_ns` the time a timestamp may not pass.
pub fn parse(file: &str, bytes: &[u8], now_unix_ns: i128) -> Result<Trace, TraceError> {
    let err = |line: usize, message: String| TraceError {
        file: file.to_string(),
        line,
        message,
    };
    if bytes.len() as u64 > MAX_TRACE_BYTES {
        return Err(err(
            0,
            format!("more than {MAX_TRACE_BYTES} bytes (a trace's bound)"),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        err(line, "not UTF-8 text".into())
    })?;
    let format = Format::of(file).ok_or_else(|| {
        err(
            0,
            "name a trace `.csv`, `.jsonl` or `.ndjson` (its format is read from its name)".into(),
        )
    })?;
    let (kind, rows) = match format {
        Format::Csv => csv_rows(text),
        Format::Jsonl => jsonl_rows(text),
    }
    .map_err(|(line, m)| err(line, m))?;
    let has_image_prompts = rows.first().is_some_and(|r| r.values[3].is_some());
    let mut posts = Vec::with_capacity(rows.len());
    let mut first: Option<i128> = None;
    let mut last: Option<(i128, usize)> = None;
    for row in rows {
        let t = kind.read(&row.time).map_err(|m| err(row.line, m))?;
        if kind.absolute() && t > now_unix_ns {
            return Err(err(
                row.line,
                format!(
                    "`{}` is in the future (a trace records arrivals that happened)",
                    row.time.trim()
                ),
            ));
        }
        if let Some((prev, prev_line)) = last {
            if t == prev {
                return Err(err(
                    row.line,
                    format!("the same time as line {prev_line} (two arrivals at one instant: give distinct times)"),
                ));
            }
            if t < prev {
                return Err(err(
                    row.line,
                    format!("earlier than line {prev_line} (sort the trace by time)"),
                ));
            }
        }
        last = Some((t, row.line));
        let zero = *first.get_or_insert(t);
        let offset = t - zero;
        if offset as f64 / 1e9 > MAX_TRACE_SPAN_S {
            return Err(err(
                row.line,
                format!("{} s after the first arrival: a trace spans at most {MAX_TRACE_SPAN_S} s (31 days)", offset / 1_000_000_000),
            ));
        }
        let [business, topic, platform, image_prompt] = row.values;
        posts.push(TracePost {
            at: Duration::from_nanos(offset as u64),
            business,
            topic,
            platform,
            image_prompt,
        });
    }
    if posts.is_empty() {
        return Err(err(
            0,
            "no arrivals (a trace needs at least one row)".into(),
        ));
    }
    Ok(Trace {
        file: file.to_string(),
        posts,
        has_image_prompts,
    })
}

/// Checks a header's (or the first object's) columns: exactly one time column, the rest known.
/// Returns the time column and each per-post column's position among `names`.
fn columns(names: &[&str]) -> Result<(TimeKind, usize, [Option<usize>; 4]), String> {
    let known = || {
        format!(
            "known: {} (one of them), {}",
            TIME_COLUMNS.join(", "),
            POST_COLUMNS.join(", ")
        )
    };
    let mut time = None;
    let mut post = [None; 4];
    for (i, name) in names.iter().enumerate() {
        if let Some(k) = TimeKind::of(name) {
            if let Some((_, j)) = time {
                return Err(format!(
                    "two time columns, `{}` and `{name}` ({})",
                    names[j],
                    known()
                ));
            }
            time = Some((k, i));
        } else if let Some(p) = POST_COLUMNS.iter().position(|c| c == name) {
            if post[p].is_some() {
                return Err(format!("the column `{name}` twice"));
            }
            post[p] = Some(i);
        } else {
            return Err(format!("unknown column `{name}` ({})", known()));
        }
    }
    let (kind, at) = time.ok_or_else(|| format!("no time column ({})", known()))?;
    Ok((kind, at, post))
}

fn check_rows(n: usize, line: usize) -> Result<(), (usize, String)> {
    if n >= MAX_TRACE_POSTS {
        return Err((
            line,
            format!(
                "more than {MAX_TRACE_POSTS} arrivals (a trace's bound, the planner's per cell)"
            ),
        ));
    }
    Ok(())
}

fn check_field(value: &str, column: &str, line: usize) -> Result<(), (usize, String)> {
    if value.len() > MAX_TRACE_FIELD_BYTES {
        return Err((
            line,
            format!("`{column}` is longer than {MAX_TRACE_FIELD_BYTES} bytes"),
        ));
    }
    Ok(())
}

type Rows = Result<(TimeKind, Vec<Row>), (usize, String)>;

/// CSV: a header line naming the columns, then one arrival a line. Fields may be quoted
/// (`"a, b"`, a quote doubled inside); a field does not span lines. Blank lines are skipped.
fn csv_rows(text: &str) -> Rows {
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| !l.trim().is_empty());
    let (header_line, header) = lines
        .next()
        .ok_or((0, "empty: no header line and no arrivals".to_string()))?;
    let names = csv_fields(header).map_err(|m| (header_line, m))?;
    let names: Vec<&str> = names.iter().map(|n| n.trim()).collect();
    let (kind, at, post) = columns(&names).map_err(|m| (header_line, m))?;
    let mut rows = Vec::new();
    for (line, l) in lines {
        check_rows(rows.len(), line)?;
        let fields = csv_fields(l).map_err(|m| (line, m))?;
        if fields.len() != names.len() {
            return Err((
                line,
                format!(
                    "{} fields, the header has {} (quote a value that holds a comma)",
                    fields.len(),
                    names.len()
                ),
            ));
        }
        let mut values: [Option<String>; 4] = Default::default();
        for (p, col) in post.iter().enumerate() {
            if let Some(c) = col {
                check_field(&fields[*c], POST_COLUMNS[p], line)?;
                values[p] = Some(fields[*c].clone());
            }
        }
        rows.push(Row {
            line,
            time: fields[at].clone(),
            values,
        });
    }
    Ok((kind, rows))
}

/// One CSV line's fields.
fn csv_fields(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("a quoted field is not closed on its line".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => return Err(format!("`{c}` after a quoted field (expected a comma)")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

/// JSONL: one JSON object a line, with the same keys on every line. A time is a number or a
/// string (`timestamp`: a string); a per-post value a string. Blank lines are skipped.
fn jsonl_rows(text: &str) -> Rows {
    let mut kind_and_keys: Option<(TimeKind, Vec<String>)> = None;
    let mut rows = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = i + 1;
        if l.trim().is_empty() {
            continue;
        }
        check_rows(rows.len(), line)?;
        let v: Value = serde_json::from_str(l).map_err(|e| (line, format!("not JSON: {e}")))?;
        let Value::Object(obj) = v else {
            return Err((line, "not a JSON object".into()));
        };
        let keys: Vec<String> = obj.keys().cloned().collect();
        let kind = match &kind_and_keys {
            Some((kind, first)) => {
                let mut a = keys.clone();
                let mut b = first.clone();
                a.sort();
                b.sort();
                if a != b {
                    return Err((
                        line,
                        format!(
                            "keys {} differ from the first line's {}",
                            keys.join(", "),
                            first.join(", ")
                        ),
                    ));
                }
                *kind
            }
            None => {
                let names: Vec<&str> = keys.iter().map(String::as_str).collect();
                let (kind, _, _) = columns(&names).map_err(|m| (line, m))?;
                kind_and_keys = Some((kind, keys));
                kind
            }
        };
        let mut time = None;
        let mut values: [Option<String>; 4] = Default::default();
        for (k, v) in &obj {
            if TimeKind::of(k).is_some() {
                time = Some(match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) if kind != TimeKind::Rfc3339 => json_number(n),
                    other => {
                        return Err((line, format!("`{k}`: {other} is not a time")));
                    }
                });
            } else if let Some(p) = POST_COLUMNS.iter().position(|c| c == k) {
                let Value::String(s) = v else {
                    return Err((line, format!("`{k}`: give a string")));
                };
                check_field(s, k, line)?;
                values[p] = Some(s.clone());
            }
        }
        rows.push(Row {
            line,
            time: time.unwrap_or_default(),
            values,
        });
    }
    if kind_and_keys.is_none() {
        return Err((0, "empty: no arrivals".into()));
    }
    Ok((
        kind_and_keys.map(|(k, _)| k).unwrap_or(TimeKind::OffsetS),
        rows,
    ))
}

/// A JSON number as plain decimal text (Rust prints an `f64` without an exponent).
fn json_number(n: &serde_json::Number) -> String {
    match (n.as_u64(), n.as_f64()) {
        (Some(u), _) => u.to_string(),
        (None, Some(f)) => format!("{f}"),
        (None, None) => n.to_string(),
    }
}

/// A deterministic trace of `posts_per_day` posts over one day whose hourly shares follow
/// `curve` (24 weights): hour h gets round(posts × w_h / Σw) posts (the rounding's remainder
/// going to the largest shares), spaced evenly inside the hour, the k-th of n at
/// h × 3600 + (k + ½) × 3600 / n seconds. As CSV with an `offset_s` column, to the millisecond.
/// `scenarios/business-day.csv` is this of the planner's `BUSINESS_DAY` curve at 500 posts
/// (the planning note's 100 users × 5 posts a day).
pub fn from_curve(posts_per_day: u64, curve: &[f64]) -> String {
    let total: f64 = curve.iter().sum();
    let exact: Vec<f64> = curve
        .iter()
        .map(|w| posts_per_day as f64 * w / total)
        .collect();
    let mut counts: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    // Largest remainders first (ties: the earlier hour), until the day's total is met.
    let mut order: Vec<usize> = (0..curve.len()).collect();
    order.sort_by(|&a, &b| {
        let ra = exact[a] - exact[a].floor();
        let rb = exact[b] - exact[b].floor();
        rb.total_cmp(&ra).then(a.cmp(&b))
    });
    let short = posts_per_day.saturating_sub(counts.iter().sum());
    for &h in order.iter().take(short as usize) {
        counts[h] += 1;
    }
    let mut out = String::from("offset_s\n");
    for (h, &n) in counts.iter().enumerate() {
        for k in 0..n {
            // Milliseconds, exactly: (h × 3600 + (k + ½) × 3600 / n) × 1000.
            let ms = h as u64 * 3_600_000 + (2 * k + 1) * 1_800_000 / n;
            out.push_str(&format!("{}.{:03}\n", ms / 1000, ms % 1000));
        }
    }
    out
}

#[cfg(test)]
mod tests;
