//! postload's own standard output: [`out`], behind the crate's `out!` and `outln!` macros
//! (declared in lib.rs, used by every command), never panics on a reader that went away.

use std::io::Write;

/// Writes to standard output, ignoring errors: a closed pipe (`| head`) or a full disk behind a
/// redirect must not panic the run. (`print!` panics on them.)
pub fn out(args: std::fmt::Arguments) {
    let _ = std::io::stdout().lock().write_fmt(args);
}
