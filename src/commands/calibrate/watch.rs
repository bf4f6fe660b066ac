//! How one model's progress is shown while its calls go: a live line on a terminal, a whole
//! line every [`LOG_EVERY`] in a log, and one when the model ends ([`crate::progress`] draws
//! them; [`crate::calibrate::progress`] says what they say).

use std::sync::Arc;
use std::time::Duration;

use crate::calibrate::progress::{done_line, line, time_left, Snapshot};
use crate::progress::{Mode, Sink, Ticker};

/// On a terminal, the line appears after this and is redrawn every [`REDRAW`].
const SHOW_AFTER: Duration = Duration::from_secs(1);
const REDRAW: Duration = Duration::from_millis(250);
/// In a log, a line every this long while a model's calls go (and one when they end).
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// How a model's progress is shown.
pub struct Watch {
    pub mode: Mode,
    /// Where whole lines go (standard error).
    pub sink: Sink,
    pub cap_usd: Option<f64>,
    /// The expected duration of the models still to calibrate after this one (real time).
    pub later: Duration,
}

impl Watch {
    /// No progress shown.
    #[cfg(test)]
    pub fn off() -> Self {
        Self {
            mode: Mode::Off,
            sink: Arc::new(|_: &str| {}),
            cap_usd: None,
            later: Duration::ZERO,
        }
    }

    /// Starts showing the line `snapshot` gives, as the mode says; stopped when dropped.
    pub fn start(&self, snapshot: impl Fn() -> Snapshot + Send + Sync + 'static) -> Option<Ticker> {
        let text = Box::new(move || line(&snapshot()));
        match self.mode {
            Mode::Off => None,
            Mode::Live => Some(Ticker::live(text, SHOW_AFTER, REDRAW)),
            Mode::Lines => Some(Ticker::lines(text, LOG_EVERY, Arc::clone(&self.sink))),
        }
    }

    /// The time left over the calibration: this model's from its queued calls' pacing gaps
    /// (`pace_ms`, modelled) and the mean latency answered so far (`latency_ms`, modelled;
    /// none yet: unknown) for `calls_left` at `concurrency` ([`time_left`]), plus the models
    /// after it. Each figure is bounded by a model's time bound `bound`.
    pub fn left(
        &self,
        pace_ms: f64,
        latency_ms: Option<f64>,
        time_scale: crate::clock::TimeScale,
        (calls_left, concurrency, bound): (u32, u32, Duration),
    ) -> Option<Duration> {
        let real = |ms: f64| crate::limits::secs(time_scale.to_real(ms / 1000.0), bound);
        let latency = real(latency_ms?);
        // The pacing is real time as the session makes it (a checked scale is never below 1).
        let pace = real(pace_ms);
        Some(time_left(pace, calls_left, latency, concurrency) + self.later)
    }

    /// The model's last line, once its ticker is dropped (a live line cleared): how it ended
    /// and how long it took.
    pub fn finish(&self, mut last: Snapshot, took: Duration) {
        last.left = None;
        if self.mode != Mode::Off {
            (self.sink)(&done_line(&last, took));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_left_is_in_real_time_plus_the_models_after() {
        // At K = 4: 40,000 ms of modelled gaps are 10 s, a 8,000 ms mean latency 2 s; 10 calls
        // 3 at a time: max(10 + 2, 4 rounds x 2) = 12 s; plus 60 s for the models after: 72 s.
        let mut w = Watch::off();
        w.later = Duration::from_secs(60);
        let bound = Duration::from_secs(1_800);
        let four = crate::clock::TimeScale::checked(4.0).unwrap();
        let got = w.left(40_000.0, Some(8_000.0), four, (10, 3, bound));
        assert_eq!(got, Some(Duration::from_secs(72)));
        // Nothing answered yet: unknown.
        assert_eq!(w.left(40_000.0, None, four, (10, 3, bound)), None);
    }
}
