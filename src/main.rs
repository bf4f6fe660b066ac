use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = postload::cli::Cli::parse();
    postload::run::console::mute_during_attacks();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("postload: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(postload::run(cli)) {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) => {
            eprintln!("postload: {e:#}");
            ExitCode::from(postload::error_exit_code())
        }
    }
}
