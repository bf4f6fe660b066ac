//! postload: measure an OpenAI-backed marketing-post service under load, against the real
//! service or a faithful OpenAI stub. `main` parses the command line and calls [`run`].

/// `print!` and `println!` that never panic: a reader that went away (`postload merge ... | head`)
/// ends the output, not the process with a panic.
macro_rules! out {
    ($($t:tt)*) => { $crate::run::console::out(format_args!($($t)*)) };
}
macro_rules! outln {
    () => { $crate::run::console::out(format_args!("\n")) };
    ($($t:tt)*) => { $crate::run::console::out(format_args!("{}\n", format_args!($($t)*))) };
}

pub mod calibrate;
pub mod claims;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod compare;
pub mod config;
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
pub mod share;
pub mod stop;
pub mod stub;
pub mod threshold;
pub mod traceparent;

use cli::{Cli, Command};

/// How a command ended, when it ended without an error. Exit codes are part of the interface:
/// 0 pass, 1 a gate failed or compare found a regression, 2 usage/config/runtime error (an `Err` from [`run`]), 3 stopped by
/// the budget guard, 128 + N stopped by signal N (130 SIGINT, 143 SIGTERM, 129 SIGHUP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    GateFailed,
    /// `compare` found a regression beyond the tolerance.
    Regression,
    BudgetStopped,
    /// Stopped by this signal; the report covers what was measured and says so.
    Interrupted(i32),
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::GateFailed | Outcome::Regression => 1,
            Outcome::BudgetStopped => 3,
            Outcome::Interrupted(signal) => stop::exit_code(signal),
        }
    }

    /// This outcome, unless a signal stopped the command: an interrupted run never exits 0
    /// (nor 1: a gate judged on part of a run says nothing).
    pub(crate) fn unless_interrupted(self) -> Self {
        match stop::signal_received() {
            Some(signal) => Outcome::Interrupted(signal),
            None => self,
        }
    }
}

/// The exit code for an error: 2, or 128 + N when signal N stopped the command (its error may
/// be a consequence of the stop).
pub fn error_exit_code() -> u8 {
    stop::signal_received().map_or(2, stop::exit_code)
}

pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Some(Command::Stub(args)) => commands::stub::serve(args).await,
        Some(Command::Run(args)) => commands::run::run(*args).await,
        Some(Command::Report(args)) => commands::report::render(args),
        Some(Command::Check(args)) => commands::check::check(args),
        Some(Command::Merge(args)) => commands::merge::merge(args),
        Some(Command::Compare(args)) => commands::compare::compare(args),
        Some(Command::ExampleService(args)) => commands::example::serve(args).await,
        Some(Command::Plan(args)) => commands::plan::plan(*args).await,
        Some(Command::Calibrate(args)) => commands::calibrate::calibrate(*args).await,
        None => commands::run::run(cli.run).await,
    }
}
