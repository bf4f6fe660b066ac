//! Stopping a run by signal. SIGINT, SIGTERM and SIGHUP all mean "stop": the first one sets the
//! stop flag and trips Goose's killswitch, so the attack ends, the posts in flight get
//! [`STOP_GRACE`] to finish, and the report is written with what was measured, marked
//! interrupted. A second signal sets the
//! hurry flag: the run abandons the attack at once and writes only result.json and report.md.
//! If the process is still alive [`HURRY_GRACE`] after that, it exits anyway. The exit code of an
//! interrupted run is 128 + the first signal's number, as shells report it (130, 143, 129).
//!
//! Goose installs its own Ctrl-C handler (which exits with 1 on a second Ctrl-C) through the
//! `ctrlc` crate, which allows one handler per process. We register a `ctrlc` handler first, so
//! Goose's registration fails harmlessly, and handle the signals through `signal-hook` (its
//! handler runs before, and chains to, the `ctrlc` one).

use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long the posts in flight get to finish after the first signal before the attack is
/// abandoned (GitHub Actions sends SIGTERM 7.5 s after SIGINT, and SIGKILL 2.5 s after that).
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long a second signal leaves the run to write result.json and report.md before the
/// process exits regardless.
pub const HURRY_GRACE: Duration = Duration::from_secs(10);

static SIGNAL: AtomicI32 = AtomicI32::new(0);
static TASK: AtomicU8 = AtomicU8::new(Task::Run as u8);

/// What a signal stops, as its messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// A run's attack and its report.
    Run = 0,
    /// `calibrate`'s calls and its calibration files.
    Calibration = 1,
}

/// The messages a signal prints for `task`: on the first signal, on the second, and when the
/// process exits [`HURRY_GRACE`] after the second (each after `postload: SIG...: `).
pub fn messages(task: Task) -> [&'static str; 3] {
    match task {
        Task::Run => [
            "stopping the attack and writing the report (a second signal finishes at once)",
            "abandoning the attack; writing result.json and report.md",
            "the report was not written",
        ],
        Task::Calibration => [
            "stopping the calibration: no more calls are sent, the calls in flight get 2 s, then what was answered is fitted and written (a second signal abandons them at once)",
            "abandoning the calls in flight; writing calibration.json and the overlay",
            "the calibration was not written",
        ],
    }
}

fn task() -> Task {
    match TASK.load(Ordering::SeqCst) {
        1 => Task::Calibration,
        _ => Task::Run,
    }
}

fn flags() -> &'static (Arc<AtomicBool>, Arc<AtomicBool>) {
    static FLAGS: OnceLock<(Arc<AtomicBool>, Arc<AtomicBool>)> = OnceLock::new();
    FLAGS.get_or_init(|| {
        (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        )
    })
}

/// The process-wide hurry flag (set by a second signal).
pub fn hurry_flag() -> Arc<AtomicBool> {
    Arc::clone(&flags().1)
}

/// The first signal received, if any.
pub fn signal_received() -> Option<i32> {
    match SIGNAL.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// The exit code for a run that `signal` interrupted: 128 + its number.
pub fn exit_code(signal: i32) -> u8 {
    u8::try_from(128 + signal).unwrap_or(255)
}

/// The signal's name, for messages (`SIGINT`, ...).
pub fn name(signal: i32) -> &'static str {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    match signal {
        SIGINT => "SIGINT",
        SIGTERM => "SIGTERM",
        SIGHUP => "SIGHUP",
        _ => "signal",
    }
}

/// [`stop_flag`] for `task`, whose name the signal messages then use.
pub fn stop_flag_for(task: Task) -> Arc<AtomicBool> {
    TASK.store(task as u8, Ordering::SeqCst);
    stop_flag()
}

/// The process-wide stop flag, with the signal handlers installed on first use. If the
/// handlers cannot be installed the flag still works (set by the caller); the error is printed.
pub fn stop_flag() -> Arc<AtomicBool> {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        if let Err(e) = install() {
            eprintln!("postload: cannot install signal handlers: {e}");
        }
    });
    Arc::clone(&flags().0)
}

fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    // Keeps Goose from installing its own (see the module doc). An error means one is already
    // set (tests), which serves the same purpose.
    let _ = ctrlc::set_handler(|| {});
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let (stop, hurry) = flags();
    let (stop, hurry) = (Arc::clone(stop), Arc::clone(hurry));
    std::thread::Builder::new()
        .name("postload-signals".into())
        .spawn(move || {
            for sig in signals.forever() {
                on_signal(sig, &stop, &hurry);
            }
        })?;
    Ok(())
}

fn on_signal(sig: i32, stop: &AtomicBool, hurry: &AtomicBool) {
    if SIGNAL
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        stop.store(true, Ordering::SeqCst);
        eprintln!("postload: {}: {}", name(sig), messages(task())[0]);
        goose::trigger_killswitch(name(sig));
        return;
    }
    if hurry.swap(true, Ordering::SeqCst) {
        return;
    }
    let first = signal_received().unwrap_or(sig);
    eprintln!("postload: {}: {}", name(sig), messages(task())[1]);
    std::thread::spawn(move || {
        std::thread::sleep(HURRY_GRACE);
        eprintln!(
            "postload: {} within {} s of the second signal; exiting",
            messages(task())[2],
            HURRY_GRACE.as_secs()
        );
        std::process::exit(i32::from(exit_code(first)));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrates_signal_messages_speak_of_the_calibration() {
        // Before: calibrate's Ctrl-C said "stopping the attack" and "writing result.json".
        for m in messages(Task::Calibration) {
            assert!(m.contains("calibration") || m.contains("calls"), "{m}");
            assert!(
                !m.contains("attack") && !m.contains("result.json") && !m.contains("report"),
                "{m}"
            );
        }
        assert!(messages(Task::Run)[1].contains("result.json"));
        assert!(messages(Task::Calibration)[0].contains(&format!("{} s", STOP_GRACE.as_secs())));
    }
}
