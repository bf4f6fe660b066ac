//! `postload example-service`: the reference service shaped like the team's, until Ctrl-C.

use crate::{cli, config, example, stub, Outcome};

pub async fn serve(args: cli::ExampleServiceArgs) -> anyhow::Result<Outcome> {
    let cfg = config::example_config(&args)?;
    let listener = stub::bind_loopback(args.port).map_err(|e| {
        anyhow::anyhow!(
            "--port {}: cannot listen on 127.0.0.1:{}: {e}",
            args.port,
            args.port
        )
    })?;
    let handle = example::start(cfg, listener).await?;
    outln!(
        "example service: {} (POST /api/marketing-post), OpenAI calls to {}",
        handle.url(),
        crate::secret::shown_url(config::example_base_url(&args))
    );
    tokio::signal::ctrl_c().await?;
    Ok(Outcome::Success)
}
