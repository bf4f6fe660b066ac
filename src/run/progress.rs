//! The live progress line of a long case, on standard error: wall-clock time elapsed (and expected,
//! for a sustained load), posts sent, ok, failed, 429s and in flight. It is drawn only when
//! standard error is a terminal and the run is not quiet ([`shown`]), only once the case has run
//! [`SHOW_AFTER`] (a short case never flashes a line), and it is cleared when the case ends, before
//! its summary line. The posts keep its counts in a [`Tally`] of atomics, so they never wait on a
//! lock for it; a ticker task reads them a few times a second.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::progress::clock;

/// How long a case runs before its line appears.
const SHOW_AFTER: Duration = Duration::from_secs(3);

/// How often the line is redrawn.
const REDRAW: Duration = Duration::from_millis(250);

/// Whether the run draws the line: never with `--quiet`, never when standard error is not a
/// terminal (a CI log, a pipe, a file keep only whole lines; a case's start and summary lines say
/// enough there).
pub(crate) fn shown(quiet: bool, stderr_is_terminal: bool) -> bool {
    crate::progress::mode(quiet, stderr_is_terminal) == crate::progress::Mode::Live
}

/// A case's running counts, as the posts see them happen.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    sent: AtomicU64,
    ok: AtomicU64,
    failed: AtomicU64,
    http_429: AtomicU64,
    /// When the start barrier released the users.
    released: OnceLock<Instant>,
}

impl Tally {
    /// The users were released at `origin` (the first call counts).
    pub(crate) fn mark_released(&self, origin: Instant) {
        let _ = self.released.set(origin);
    }

    /// A post starts.
    pub(crate) fn sent(&self) {
        self.sent.fetch_add(1, Ordering::Relaxed);
    }

    /// A post ends, answered or failed.
    pub(crate) fn finished(&self, ok: bool) {
        let n = if ok { &self.ok } else { &self.failed };
        n.fetch_add(1, Ordering::Relaxed);
    }

    /// An attempt got `status` back (None: no answer).
    pub(crate) fn answered(&self, status: Option<u16>) {
        if status == Some(429) {
            self.http_429.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The counts now, read one by one while posts go on (so [`Counts::in_flight`] saturates).
    pub(crate) fn counts(&self) -> Counts {
        Counts {
            sent: self.sent.load(Ordering::Relaxed),
            ok: self.ok.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            http_429: self.http_429.load(Ordering::Relaxed),
        }
    }
}

/// What the line shows of a case's posts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub sent: u64,
    pub ok: u64,
    pub failed: u64,
    pub http_429: u64,
}

impl Counts {
    /// Posts sent and not yet ended.
    fn in_flight(&self) -> u64 {
        self.sent.saturating_sub(self.ok + self.failed)
    }
}

/// The line's text: `elapsed / expected` (`expected` is a sustained load's arrival window; a
/// burst has none), then the counts.
pub(crate) fn line(counts: Counts, elapsed: Duration, expected: Option<Duration>) -> String {
    let time = match expected {
        Some(e) => format!("{} / {}", clock(elapsed), clock(e)),
        None => clock(elapsed),
    };
    format!(
        "postload: {time}, {} sent, {} ok, {} failed, {} 429s, {} in flight",
        counts.sent,
        counts.ok,
        counts.failed,
        counts.http_429,
        counts.in_flight()
    )
}

/// When a case that started at `started` is expected to end, since then: its arrival window
/// after the users' release (launching thousands of users can take seconds); unknown before
/// the release, or without a window (a burst).
fn expected(
    started: Instant,
    released: Option<Instant>,
    window: Option<Duration>,
) -> Option<Duration> {
    Some(released?.saturating_duration_since(started) + window?)
}

/// One case's line while the case runs: its ticker redraws it, and dropping it (when the case
/// ends, or fails) clears it.
pub(super) struct LiveLine {
    _ticker: crate::progress::Ticker,
}

impl LiveLine {
    /// Starts the case's ticker now; the line appears after [`SHOW_AFTER`]. `window` is the
    /// wall-clock time its arrivals take from the users' release, if known.
    pub(super) fn start(tally: Arc<Tally>, window: Option<Duration>) -> Self {
        let started = Instant::now();
        let text = Box::new(move || {
            let expected = expected(started, tally.released.get().copied(), window);
            line(tally.counts(), started.elapsed(), expected)
        });
        Self {
            _ticker: crate::progress::Ticker::live(text, SHOW_AFTER, REDRAW),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_only_on_a_terminal_and_never_quiet() {
        assert!(shown(false, true));
        assert!(!shown(true, true));
        assert!(!shown(false, false));
        assert!(!shown(true, false));
    }

    #[test]
    fn a_sustained_line_has_elapsed_over_expected_and_every_count() {
        let counts = Counts {
            sent: 340,
            ok: 300,
            failed: 12,
            http_429: 57,
        };
        assert_eq!(
            line(
                counts,
                Duration::from_millis(12_900),
                Some(Duration::from_secs(60))
            ),
            "postload: 0:12 / 1:00, 340 sent, 300 ok, 12 failed, 57 429s, 28 in flight"
        );
    }

    #[test]
    fn a_burst_line_has_elapsed_only_and_hours_past_the_hour() {
        let counts = Counts {
            sent: 50,
            ok: 3,
            failed: 0,
            http_429: 120,
        };
        assert_eq!(
            line(counts, Duration::from_secs(3723), None),
            "postload: 1:02:03, 50 sent, 3 ok, 0 failed, 120 429s, 47 in flight"
        );
    }

    #[test]
    fn the_tally_counts_starts_ends_and_only_429s() {
        let t = Tally::default();
        t.sent();
        t.sent();
        t.sent();
        t.finished(true);
        t.finished(false);
        for status in [Some(429), Some(200), None, Some(503), Some(429)] {
            t.answered(status);
        }
        assert_eq!(
            t.counts(),
            Counts {
                sent: 3,
                ok: 1,
                failed: 1,
                http_429: 2,
            }
        );
        assert_eq!(t.counts().in_flight(), 1);
    }

    #[test]
    fn expected_counts_the_window_from_the_release() {
        let started = Instant::now();
        let window = Some(Duration::from_secs(60));
        let released = Some(started + Duration::from_secs(13));
        assert_eq!(
            expected(started, released, window),
            Some(Duration::from_secs(73))
        );
        assert_eq!(expected(started, None, window), None);
        assert_eq!(expected(started, released, None), None);
    }
}
