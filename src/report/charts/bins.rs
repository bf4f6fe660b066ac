//! The timeline chart's bins: a width that fits the run (100 ms for a 10 s burst, 1 s for a
//! minute), and the counts per bin. Bins under a second are derived from the recorded post
//! intervals and attempts, when they hold every post and every attempt; otherwise the
//! recorder's per-second timeline is summed into whole-second bins.

use crate::metrics::{Measured, PostTiming};

/// The widths the timeline chooses from, in milliseconds.
const WIDTHS_MS: [u64; 12] = [
    100, 200, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 3_600_000,
];

/// Bins a chart holds at most (a 1,000-pixel chart: about 9 pixels a bin).
const MAX_BINS: u64 = 100;

/// The narrowest width (ms) that covers `span_ms` in at most [`MAX_BINS`] bins.
pub fn bin_width_ms(span_ms: f64) -> u64 {
    WIDTHS_MS
        .iter()
        .copied()
        .find(|w| span_ms <= (w * MAX_BINS) as f64)
        .unwrap_or(WIDTHS_MS[WIDTHS_MS.len() - 1])
}

/// A width as the axis names it: `100 ms`, `1 s`, `5 min`.
pub fn width_name(ms: u64) -> String {
    match ms {
        ms if ms < 1_000 => format!("{ms} ms"),
        ms if ms < 60_000 || ms % 60_000 != 0 => format!("{} s", ms / 1_000),
        ms => format!("{} min", ms / 60_000),
    }
}

/// One bin's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bin {
    pub start_s: f64,
    /// Posts in flight at the end of the bin.
    pub in_flight: i64,
    /// Posts finished in the bin.
    pub completions: u64,
    /// 429 responses to attempts sent in the bin.
    pub rate_limited: u64,
}

/// The binned timeline of a case.
#[derive(Debug, Clone, PartialEq)]
pub struct Binned {
    pub width_ms: u64,
    pub bins: Vec<Bin>,
}

/// The case's timeline in bins that fit its length.
pub fn binned(m: &Measured) -> Binned {
    binned_at(m, own_width_ms(m))
}

/// Whether the recorded intervals and attempts hold every post and every attempt.
fn complete(m: &Measured) -> bool {
    !m.post_timings.is_empty()
        && m.post_timings.len() as u64 == m.posts.total
        && m.attempts.len() as u64 == m.calls.attempts
}

/// The width a case's timeline needs alone: under a second from its intervals when they are
/// complete and short, else whole seconds that fit its per-second timeline.
fn own_width_ms(m: &Measured) -> u64 {
    if complete(m) {
        let span_ms = m.post_timings.iter().map(|p| p.end_s).fold(0.0, f64::max) * 1000.0;
        let width_ms = bin_width_ms(span_ms);
        if width_ms < 1_000 {
            return width_ms;
        }
    }
    bin_width_ms(m.timeline.len() as f64 * 1000.0).max(1_000)
}

/// The width every timeline of a run uses: the coarsest any of its cases needs alone, so a
/// bin means the same in each of the run's charts (a 200 ms peak of 429s beside a 100 ms one
/// would read as twice the rate).
pub fn shared_width_ms<'a>(cases: impl IntoIterator<Item = &'a Measured>) -> u64 {
    cases
        .into_iter()
        .map(own_width_ms)
        .max()
        .unwrap_or(WIDTHS_MS[0])
}

/// The case's timeline in bins of `width_ms`: counted from the intervals under a second (when
/// they hold every post; else whole seconds), summed from the per-second timeline from a second.
pub fn binned_at(m: &Measured, width_ms: u64) -> Binned {
    if width_ms < 1_000 && complete(m) {
        return from_intervals(m, width_ms);
    }
    from_seconds(m, width_ms.max(1_000))
}

/// Bins of `width_ms` from every post's interval and every attempt.
fn from_intervals(m: &Measured, width_ms: u64) -> Binned {
    let width = width_ms as f64 / 1000.0;
    let index = |t: f64| (t.max(0.0) / width) as usize;
    let last = m
        .post_timings
        .iter()
        .map(|p| index(p.end_s.max(p.start_s)))
        .chain(m.attempts.iter().map(|a| index(a.sent_s)))
        .max()
        .unwrap_or(0);
    let mut bins: Vec<Bin> = (0..=last)
        .map(|i| Bin {
            start_s: i as f64 * width,
            ..Bin::default()
        })
        .collect();
    let mut delta = vec![0i64; last + 1];
    for PostTiming { start_s, end_s, .. } in &m.post_timings {
        let end = index(end_s.max(*start_s));
        bins[end].completions += 1;
        delta[index(*start_s)] += 1;
        delta[end] -= 1;
    }
    for a in m.attempts.iter().filter(|a| a.status == Some(429)) {
        bins[index(a.sent_s)].rate_limited += 1;
    }
    let mut running = 0;
    for (bin, d) in bins.iter_mut().zip(delta) {
        running += d;
        bin.in_flight = running;
    }
    Binned { width_ms, bins }
}

/// Bins of `width_ms` (whole seconds) summed from the recorder's per-second timeline.
fn from_seconds(m: &Measured, width_ms: u64) -> Binned {
    let per = (width_ms / 1_000).max(1) as usize;
    let bins = m
        .timeline
        .chunks(per)
        .enumerate()
        .map(|(i, seconds)| Bin {
            start_s: (i * per) as f64,
            in_flight: seconds.last().map_or(0, |s| s.in_flight),
            completions: seconds.iter().map(|s| s.completions).sum(),
            rate_limited: seconds.iter().map(|s| s.rate_limited).sum(),
        })
        .collect();
    Binned { width_ms, bins }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Attempt, CallKind, CallRecord, PostRecord, Recorder};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// A post sent at 0 whose one call has `attempts` (sent, answered, status) in ms.
    fn post(attempts: &[(u64, u64, u16)]) -> PostRecord {
        let mut call = CallRecord::new(CallKind::ImagePrompt, Duration::ZERO);
        call.attempts = attempts
            .iter()
            .map(|&(sent, answered, status)| Attempt {
                sent: ms(sent),
                answered: ms(answered),
                status: Some(status),
                reserved_tokens: 1_000,
            })
            .collect();
        call.finished = ms(attempts.last().unwrap().1);
        PostRecord {
            intended: Duration::ZERO,
            finished: call.finished,
            calls: vec![call],
            failure: None,
        }
    }

    #[test]
    fn a_width_is_named_in_the_largest_unit_it_fills_whole() {
        // Under a second in ms; whole minutes in min; anything else in s, 90 s included (not
        // "1 min"). cargo-mutants found the name untested (issue 28 §3).
        for (ms, name) in [
            (100, "100 ms"),
            (999, "999 ms"),
            (1_000, "1 s"),
            (30_000, "30 s"),
            (60_000, "1 min"),
            (90_000, "90 s"),
            (300_000, "5 min"),
        ] {
            assert_eq!(width_name(ms), name, "{ms} ms");
        }
    }

    #[test]
    fn a_short_burst_is_counted_in_100_ms_bins_from_its_intervals() {
        // Two posts sent at 0: one answered at 250 ms, one 429'd at 0 and answered at 450 ms.
        // 0.45 s fits 100 ms bins: both in flight through bins 0-1, one through 2-3, none at 4.
        let mut r = Recorder::default();
        r.record(&post(&[(0, 250, 200)]));
        r.record(&post(&[(0, 50, 429), (300, 450, 200)]));
        let b = binned(&r.summarize(None, 2));
        assert_eq!(b.width_ms, 100);
        let got: Vec<(i64, u64, u64)> = b
            .bins
            .iter()
            .map(|b| (b.in_flight, b.completions, b.rate_limited))
            .collect();
        assert_eq!(got, [(2, 0, 1), (2, 0, 0), (1, 1, 0), (1, 0, 0), (0, 1, 0)]);
        assert!((b.bins[4].start_s - 0.4).abs() < 1e-12);
    }

    #[test]
    fn without_every_post_the_bins_are_whole_seconds_of_the_timeline() {
        // The recorder's per-post path only: no intervals, so the per-second timeline is used.
        let mut r = Recorder::default();
        r.record_post(&crate::metrics::PostEnd {
            intended: Duration::ZERO,
            first_send: Duration::ZERO,
            finished: ms(2_500),
            failure: None,
            rate_limit_backoff: Duration::ZERO,
        });
        let b = binned(&r.summarize(None, 1));
        assert_eq!(b.width_ms, 1_000);
        let in_flight: Vec<i64> = b.bins.iter().map(|b| b.in_flight).collect();
        assert_eq!(in_flight, [1, 1, 0]);
    }

    #[test]
    fn complete_intervals_of_15_s_are_binned_at_200_ms() {
        // One post answered at 15 s: its span is 15,000 ms, past 100 bins of 100 ms, within
        // 100 of 200 ms. cargo-mutants: the span taken as seconds + 1,000 or seconds / 1,000
        // (both 100 ms) went unnoticed by the 0.45 s burst.
        let mut r = Recorder::default();
        r.record(&post(&[(0, 15_000, 200)]));
        assert_eq!(binned(&r.summarize(None, 1)).width_ms, 200);
    }

    #[test]
    fn intervals_that_miss_a_post_are_not_binned_under_a_second() {
        // The 0.45 s burst above (both posts with intervals), and a third post recorded
        // without them (as past the recorder's interval cap): the intervals hold 2 of 3 posts,
        // so the bins are whole seconds of the timeline, not 100 ms bins that would miss a
        // post. cargo-mutants: `!empty || (all posts && all attempts)` went unnoticed.
        let mut r = Recorder::default();
        r.record(&post(&[(0, 250, 200)]));
        r.record(&post(&[(0, 50, 429), (300, 450, 200)]));
        r.record_post(&crate::metrics::PostEnd {
            intended: Duration::ZERO,
            first_send: Duration::ZERO,
            finished: ms(400),
            failure: None,
            rate_limit_backoff: Duration::ZERO,
        });
        let m = r.summarize(None, 3);
        assert_eq!((m.post_timings.len(), m.posts.total), (2, 3));
        assert_eq!(binned(&m).width_ms, 1_000);
        // Asked for 100 ms bins (a run's shared width), still whole seconds.
        assert_eq!(binned_at(&m, 100).width_ms, 1_000);
    }

    #[test]
    fn a_timeline_past_100_seconds_without_intervals_is_binned_at_2_s() {
        // A post recorded without intervals, finished at 150 s: 151 seconds of timeline, past
        // 100 bins of 1 s, within 100 of 2 s. cargo-mutants: the timeline's length taken as
        // seconds + 1,000 or seconds / 1,000 (both 1 s) went unnoticed.
        let mut r = Recorder::default();
        r.record_post(&crate::metrics::PostEnd {
            intended: Duration::ZERO,
            first_send: Duration::ZERO,
            finished: ms(150_000),
            failure: None,
            rate_limit_backoff: Duration::ZERO,
        });
        let b = binned(&r.summarize(None, 1));
        assert_eq!(b.width_ms, 2_000);
        // 151 seconds in bins of 2: 76, the second starting at 2 s, the post in flight
        // through the bin before its end and finished in the last.
        assert_eq!(b.bins.len(), 76);
        assert_eq!(b.bins[1].start_s, 2.0);
        assert_eq!((b.bins[74].in_flight, b.bins[75].completions), (1, 1));
    }

    #[test]
    fn a_run_s_timelines_share_the_coarsest_width_any_case_needs() {
        // Regression: each timeline chose its own bins (100 ms beside 200 ms in one run), so
        // the same height meant twice the rate in one chart as in the next.
        // Case A: the 0.45 s burst above, 100 ms bins alone. Case B: a 2.5 s post recorded
        // without intervals, whole seconds alone. Together: 1 s, and A is summed from its
        // per-second timeline: both posts finish and the 429 comes in second 0, none in flight.
        let mut a = Recorder::default();
        a.record(&post(&[(0, 250, 200)]));
        a.record(&post(&[(0, 50, 429), (300, 450, 200)]));
        let a = a.summarize(None, 2);
        let mut b = Recorder::default();
        b.record_post(&crate::metrics::PostEnd {
            intended: Duration::ZERO,
            first_send: Duration::ZERO,
            finished: ms(2_500),
            failure: None,
            rate_limit_backoff: Duration::ZERO,
        });
        let b = b.summarize(None, 1);
        assert_eq!(shared_width_ms([&a]), 100);
        assert_eq!(shared_width_ms([&a, &b]), 1_000);
        assert_eq!(shared_width_ms([&b, &a]), 1_000);
        let got = binned_at(&a, shared_width_ms([&a, &b]));
        assert_eq!(got.width_ms, 1_000);
        let counts: Vec<(i64, u64, u64)> = got
            .bins
            .iter()
            .map(|b| (b.in_flight, b.completions, b.rate_limited))
            .collect();
        assert_eq!(counts, [(0, 2, 1)]);
        // Alone, A keeps its 100 ms bins.
        assert_eq!(binned_at(&a, 100), binned(&a));
    }

    #[test]
    fn the_width_fits_the_run_in_at_most_100_bins() {
        assert_eq!(bin_width_ms(10_000.0), 100);
        assert_eq!(bin_width_ms(10_001.0), 200);
        assert_eq!(bin_width_ms(14_800.0), 200);
        assert_eq!(bin_width_ms(50_000.0), 500);
        assert_eq!(bin_width_ms(60_000.0), 1_000);
        assert_eq!(bin_width_ms(3_600_000.0), 60_000);
        assert_eq!(bin_width_ms(0.0), 100);
        assert_eq!(bin_width_ms(1e12), 3_600_000);
        assert_eq!(width_name(100), "100 ms");
        assert_eq!(width_name(1_000), "1 s");
        assert_eq!(width_name(30_000), "30 s");
        assert_eq!(width_name(300_000), "5 min");
    }
}
