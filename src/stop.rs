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

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// How long the posts in flight get to finish after the first signal before the attack is
/// abandoned (GitHub Actions sends SIGTERM 7.5 s after SIGINT, and SIGKILL 2.5 s after that).
pub const STOP_GRACE: Duration = Duration::from_secs(2);

/// How long a second signal leaves the run to write result.json and report.md before the
/// process exits regardless.
pub const HURRY_GRACE: Duration = Duration::from_secs(10);

static SIGNAL: AtomicI32 = AtomicI32::new(0);

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
        eprintln!(
            "postload: {}: stopping the attack and writing the report (a second signal finishes at once)",
            name(sig)
        );
        goose::trigger_killswitch(name(sig));
        return;
    }
    if hurry.swap(true, Ordering::SeqCst) {
        return;
    }
    let first = signal_received().unwrap_or(sig);
    eprintln!(
        "postload: {}: abandoning the attack; writing result.json and report.md",
        name(sig)
    );
    std::thread::spawn(move || {
        std::thread::sleep(HURRY_GRACE);
        eprintln!(
            "postload: the report was not written within {} s of the second signal; exiting",
            HURRY_GRACE.as_secs()
        );
        std::process::exit(i32::from(exit_code(first)));
    });
}
