//! Goose writes to standard output during an attack: "N users launched." and, through its
//! console logger, a `[WARN]` line for every failed request (hundreds in a Tier-1 burst). The
//! same lines go to the run's `goose/goose.log`. So that postload's standard output holds only
//! its own table, the binary asks for standard output to be pointed at /dev/null while an attack
//! runs ([`mute_during_attacks`]); postload's own progress goes to standard error. A library
//! user (the tests) keeps Goose's output unless it asks the same.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

static MUTE: AtomicBool = AtomicBool::new(false);

/// From now on, attacks run with standard output pointed at /dev/null.
pub fn mute_during_attacks() {
    MUTE.store(true, Ordering::SeqCst);
}

/// While alive, file descriptor 1 points at /dev/null (when muting was asked for); dropping it
/// points it back.
pub struct Muted {
    saved: Option<RawFd>,
}

impl Muted {
    pub fn new() -> Self {
        if !MUTE.load(Ordering::SeqCst) {
            return Self { saved: None };
        }
        let _ = std::io::stdout().flush();
        let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") else {
            return Self { saved: None };
        };
        // SAFETY: dup and dup2 on descriptors we own or that the process always has (1); on
        // failure nothing is changed and we keep writing where we did.
        let saved = unsafe { libc::dup(1) };
        if saved < 0 {
            return Self { saved: None };
        }
        if unsafe { libc::dup2(null.as_raw_fd(), 1) } < 0 {
            unsafe { libc::close(saved) };
            return Self { saved: None };
        }
        Self { saved: Some(saved) }
    }
}

impl Default for Muted {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Muted {
    fn drop(&mut self) {
        if let Some(saved) = self.saved.take() {
            let _ = std::io::stdout().flush();
            // SAFETY: `saved` is the duplicate of the original descriptor 1 made in `new`.
            unsafe {
                libc::dup2(saved, 1);
                libc::close(saved);
            }
        }
    }
}
