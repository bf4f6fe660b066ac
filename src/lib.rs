//! postload: measure an OpenAI-backed marketing-post service under load, against the real
//! service or a faithful OpenAI stub. `main` parses the command line and calls [`run`].

/// `print!` and `println!` that never panic: a reader that went away (`postload merge ... | head`)
/// ends the output, not the process with a panic.
macro_rules! out {
    ($($t:tt)*) => { $crate::console::out(format_args!($($t)*)) };
}
macro_rules! outln {
    () => { $crate::console::out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::console::out(format_args!("{}\n", format_args!($($t)*))) };
}

pub mod calibrate;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod compare;
pub mod config;
pub mod console;
pub mod example;
pub mod gate;
pub mod limits;
pub mod metrics;
pub mod openai;
pub mod plan;
mod progress;
pub mod report;
pub mod result;
pub mod run;
pub mod scenario;
pub mod secret;
pub mod shard;
pub mod share;
pub mod stop;
pub mod stub;
pub mod threshold;
pub mod traceparent;

use cli::Cli;

pub use commands::{error_exit_code, Outcome};

/// Runs the command `cli` names (`run` when it names none).
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    commands::dispatch(cli).await
}
