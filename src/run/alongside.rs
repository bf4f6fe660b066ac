//! Service mode's stub alongside (`--with-stub PORT`): one embedded stub for the whole run, on
//! the port the service was told, started before any load; every service must answer before the
//! first case.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{OpenAiTarget, RunConfig, ServiceMode};
use crate::stub::{self, StubHandle};

/// Starts the stub alongside and waits for the services, when the run asks for one.
pub(super) async fn start(cfg: &RunConfig) -> anyhow::Result<Option<StubHandle>> {
    let (
        Some(ServiceMode {
            with_stub: Some(port),
            ready_wait,
        }),
        OpenAiTarget::Embedded(template),
    ) = (&cfg.service_mode, &cfg.target)
    else {
        return Ok(None);
    };
    let mut c = template.clone();
    if let Some(first) = cfg.scenarios.first() {
        c.tier_set = first.scenario.tier_set.clone();
        c.tier = first.scenario.tiers[0];
    }
    let listener = stub::bind_loopback(*port).map_err(|e| {
        anyhow::anyhow!("--with-stub {port}: cannot listen on 127.0.0.1:{port}: {e}")
    })?;
    let handle = stub::start_with_clock(
        c,
        listener,
        Arc::new(crate::clock::SystemClock::scaled(cfg.time_scale)),
    )
    .await?;
    eprintln!(
        "postload: OpenAI stub listening; the service must use OPENAI_BASE_URL={}",
        handle.base_url()
    );
    let mut urls: Vec<&str> = cfg
        .scenarios
        .iter()
        .filter_map(|p| p.service.as_ref().map(|s| s.url.as_str()))
        .collect();
    urls.sort_unstable();
    urls.dedup();
    for url in urls {
        wait_until_answering(url, *ready_wait, &handle.base_url(), cfg).await?;
    }
    Ok(Some(handle))
}

/// Polls `url` until it answers HTTP (any status), for at most `wait`, or until the run is
/// stopped.
async fn wait_until_answering(
    url: &str,
    wait: Duration,
    openai_base_url: &str,
    cfg: &RunConfig,
) -> anyhow::Result<()> {
    let quiet = cfg.quiet;
    let shown = crate::secret::shown_url(url);
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + wait;
    if !quiet {
        eprintln!(
            "postload: waiting up to {:.0} s for {shown} to answer...",
            wait.as_secs_f64()
        );
    }
    loop {
        if cfg.stop.load(Ordering::SeqCst) {
            anyhow::bail!("stopped while waiting for {shown} to answer");
        }
        let last = match client.get(url).send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            let why = if last.is_connect() {
                "connection refused or unreachable".to_string()
            } else if last.is_timeout() {
                "no answer within 2 s".to_string()
            } else {
                last.without_url().to_string()
            };
            anyhow::bail!(
                "the service at {shown} does not answer ({why}) after {:.0} s; start it with OPENAI_BASE_URL={openai_base_url} (or raise --wait-for-target)",
                wait.as_secs_f64()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
