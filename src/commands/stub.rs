//! `postload stub`: the OpenAI stub on 127.0.0.1 until Ctrl-C.

use crate::{cli, clock, config, stub, Outcome};

pub async fn serve(args: cli::StubArgs) -> anyhow::Result<Outcome> {
    // Every option is checked before the port is bound.
    let config = config::stub_config(&args.stub)?;
    let scale = args
        .stub
        .time
        .time_scale
        .unwrap_or(clock::TimeScale::ONE)
        .get();
    let listener = stub::bind_loopback(args.port)
        .map_err(|e| anyhow::anyhow!("--port {}: cannot bind 127.0.0.1: {e}", args.port))?;
    let (set, tier, seed) = (config.tier_set.clone(), config.tier, config.seed);
    let handle = stub::start_with_clock(
        config,
        listener,
        std::sync::Arc::new(clock::SystemClock::scaled(scale)),
    )
    .await?;
    // Ctrl-C is caught from here on, before the first line: a script that reads the URL and
    // then interrupts always gets the orderly stop.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    outln!("OPENAI_BASE_URL={}", handle.base_url());
    // `--quiet`: the URL alone (scripts read it), then errors only.
    let quiet = args.verbosity.quiet;
    if !quiet {
        eprintln!(
            "postload stub: tier {tier} of `{set}`, seed {seed}; stats at {}{}; Ctrl-C stops",
            handle.base_url().trim_end_matches("/v1"),
            crate::stub::stats::STATS_PATH
        );
    }
    interrupt.recv().await;
    let stats = handle.stats();
    if !quiet {
        eprintln!(
            "postload stub: served {} model calls ({} to the Responses API; {} ok, {} rate-limited)",
            stats.chat_requests,
            stats.responses_requests,
            stats.status(200),
            stats.rate_limited_total()
        );
    }
    Ok(Outcome::Success)
}
