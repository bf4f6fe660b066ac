//! Progress on standard error, shared by `run` and `calibrate`: where it goes ([`mode`]: a line
//! redrawn in place on a terminal, whole lines at a slow pace in a CI log, nothing with
//! `--quiet`) and the ticker that writes it ([`Ticker`]). What the line says is the caller's: a
//! closure read at every tick.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One line redrawn in place (standard error is a terminal).
    Live,
    /// Whole lines, at most one a period (a CI log, a pipe, a file: no `\r`, no escapes).
    Lines,
    /// Nothing (`--quiet`).
    Off,
}

/// Where progress goes: nothing when quiet, redrawn on a terminal, whole lines elsewhere.
pub fn mode(quiet: bool, stderr_is_terminal: bool) -> Mode {
    match (quiet, stderr_is_terminal) {
        (true, _) => Mode::Off,
        (false, true) => Mode::Live,
        (false, false) => Mode::Lines,
    }
}

/// The text of the line now.
pub type Text = Box<dyn Fn() -> String + Send + Sync>;
/// Where whole lines are written (standard error, or a test's buffer).
pub type Sink = Arc<dyn Fn(&str) + Send + Sync>;

/// Where a live line is drawn (standard error, or a test's terminal).
pub type Target = Box<dyn Fn() -> ProgressDrawTarget + Send + Sync>;

/// Whole lines to standard error.
pub fn stderr_sink() -> Sink {
    Arc::new(|line: &str| {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    })
}

/// The live line's state, shared by the ticker and its owner.
enum State {
    /// Not drawn yet.
    Waiting,
    Drawn(ProgressBar),
    /// Ended: nothing more is drawn.
    Closed,
}

/// A running progress display; dropping it stops it (and clears a live line).
pub struct Ticker {
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Ticker {
    /// A line redrawn in place on standard error every `redraw`, from `show_after` on.
    pub fn live(text: Text, show_after: Duration, redraw: Duration) -> Self {
        Self::live_to(
            text,
            show_after,
            redraw,
            Box::new(ProgressDrawTarget::stderr),
        )
    }

    /// [`Ticker::live`] drawn on `target` (a test's terminal: no pseudo-terminal needed).
    pub fn live_to(text: Text, show_after: Duration, redraw: Duration, target: Target) -> Self {
        let state = Arc::new(Mutex::new(State::Waiting));
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            tokio::time::sleep(show_after).await;
            let mut every = tokio::time::interval(redraw);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                if !draw(&shared, text(), &target) {
                    return;
                }
            }
        });
        Self { state, task }
    }

    /// A whole line written to `sink` every `every` (the first after one period), never more
    /// often (ticks missed while the runtime was busy are skipped, not caught up).
    pub fn lines(text: Text, every: Duration, sink: Sink) -> Self {
        let state = Arc::new(Mutex::new(State::Waiting));
        let task = tokio::spawn(async move {
            let start = tokio::time::Instant::now() + every;
            let mut ticks = tokio::time::interval_at(start, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                sink(&text());
            }
        });
        Self { state, task }
    }
}

/// Draws `text` (the first time, makes the bar); false once the line is closed.
fn draw(state: &Mutex<State>, text: String, target: &Target) -> bool {
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    match &*state {
        State::Closed => return false,
        State::Drawn(bar) => bar.set_message(text),
        State::Waiting => {
            let bar = ProgressBar::with_draw_target(None, target()).with_style(style());
            bar.set_message(text);
            *state = State::Drawn(bar);
        }
    }
    true
}

/// The message alone, cut to the terminal's width (a wrapped line could not be redrawn in place).
const TEMPLATE: &str = "{wide_msg}";

fn style() -> ProgressStyle {
    ProgressStyle::with_template(TEMPLATE).unwrap_or_else(|_| ProgressStyle::default_spinner())
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.task.abort();
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Drawn(bar) = std::mem::replace(&mut *state, State::Closed) {
            bar.finish_and_clear();
        }
    }
}

/// Whole seconds as `m:ss`, or `h:mm:ss` from an hour on.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s / 60 % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_on_a_terminal_lines_elsewhere_nothing_quiet() {
        assert_eq!(mode(false, true), Mode::Live);
        assert_eq!(mode(false, false), Mode::Lines);
        assert_eq!(mode(true, true), Mode::Off);
        assert_eq!(mode(true, false), Mode::Off);
    }

    #[test]
    fn the_style_template_is_valid() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn clock_is_minutes_then_hours() {
        assert_eq!(clock(Duration::from_millis(12_900)), "0:12");
        assert_eq!(clock(Duration::from_secs(3723)), "1:02:03");
    }

    /// A terminal that records what is done to it, in order.
    #[derive(Debug, Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<String>>>);

    impl Recorded {
        fn push(&self, what: String) -> std::io::Result<()> {
            self.0.lock().unwrap().push(what);
            Ok(())
        }
        fn seen(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl indicatif::TermLike for Recorded {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.push(format!("up {n}"))
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.push(format!("down {n}"))
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.push(format!("right {n}"))
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.push(format!("left {n}"))
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(format!("line {s}"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.push(format!("str {s}"))
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.push("clear".into())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// The live line without a pseudo-terminal (the integration tests' `script` may be missing):
    /// nothing before `show_after` (3 s), then the text drawn in place, and the line cleared when
    /// the ticker is dropped, nothing drawn after.
    #[tokio::test(start_paused = true)]
    async fn a_live_line_is_drawn_from_show_after_and_cleared_when_dropped() {
        let term = Recorded::default();
        let on = term.clone();
        let target: Target = Box::new(move || ProgressDrawTarget::term_like(Box::new(on.clone())));
        let start = tokio::time::Instant::now();
        let text: Text =
            Box::new(move || format!("at {} s, 2 in flight", start.elapsed().as_secs()));
        let ticker = Ticker::live_to(text, Duration::from_secs(3), Duration::from_secs(1), target);
        tokio::time::sleep(Duration::from_millis(2_999)).await;
        assert!(term.seen().is_empty(), "{:?}", term.seen());
        tokio::time::sleep(Duration::from_millis(2)).await;
        let drawn = term.seen();
        assert!(
            drawn.iter().any(|w| w.contains("at 3 s, 2 in flight")),
            "{drawn:?}"
        );
        assert!(
            !drawn.iter().any(|w| w.starts_with("line ")),
            "in place: {drawn:?}"
        );
        drop(ticker);
        let seen = term.seen();
        let after = &seen[drawn.len()..];
        assert!(after.iter().any(|w| w == "clear"), "cleared: {seen:?}");
        assert!(!after.iter().any(|w| w.contains("in flight")), "{seen:?}");
        let n = seen.len();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(term.seen().len(), n, "nothing after the drop");
    }

    #[tokio::test(start_paused = true)]
    async fn lines_come_once_a_period_never_more_often() {
        // Every 10 s from the start: in 35 s of (paused) time, lines at 10, 20 and 30 s only,
        // each with the text as it was then.
        let written = Arc::new(Mutex::new(Vec::<String>::new()));
        let into = Arc::clone(&written);
        let sink: Sink = Arc::new(move |l: &str| into.lock().unwrap().push(l.to_string()));
        let start = tokio::time::Instant::now();
        let text: Text = Box::new(move || format!("at {} s", start.elapsed().as_secs()));
        let ticker = Ticker::lines(text, Duration::from_secs(10), sink);
        tokio::time::sleep(Duration::from_secs(9)).await;
        assert!(written.lock().unwrap().is_empty());
        tokio::time::sleep(Duration::from_secs(26)).await;
        assert_eq!(*written.lock().unwrap(), ["at 10 s", "at 20 s", "at 30 s"]);
        // Stopped when dropped: nothing at 40 s.
        drop(ticker);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(written.lock().unwrap().len(), 3);
    }
}
