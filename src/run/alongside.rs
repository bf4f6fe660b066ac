//! Service mode's start: the stub alongside (`--with-stub PORT`), one embedded stub for the whole
//! run on the port the service was told, started before any load; then every service must answer
//! before the first case (with or without the stub: a service that is down is refused, exit 2,
//! never run into "0/10 posts ok").

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{OpenAiTarget, RunConfig};
use crate::stub::{self, StubHandle};

/// Starts the stub alongside when the run asks for one, then waits for the services.
pub(super) async fn start(cfg: &RunConfig) -> anyhow::Result<Option<StubHandle>> {
    let Some(mode) = &cfg.service_mode else {
        return Ok(None);
    };
    let handle = match (mode.with_stub, &cfg.target) {
        (Some(port), OpenAiTarget::Embedded(template)) => {
            Some(start_stub(cfg, port, template).await?)
        }
        _ => None,
    };
    let mut urls: Vec<&str> = cfg
        .scenarios
        .iter()
        .filter_map(|p| p.service.as_ref().map(|s| s.url.as_str()))
        .collect();
    urls.sort_unstable();
    urls.dedup();
    let hint = match &handle {
        Some(h) => format!("start it with OPENAI_BASE_URL={}", h.base_url()),
        None => "start it first".into(),
    };
    for url in urls {
        wait_until_answering(url, mode.ready_wait, &hint, cfg).await?;
    }
    Ok(handle)
}

async fn start_stub(
    cfg: &RunConfig,
    port: u16,
    template: &crate::stub::StubConfig,
) -> anyhow::Result<StubHandle> {
    let mut c = template.clone();
    if let Some(first) = cfg.scenarios.first() {
        c.tier_set = first.scenario.tier_set.clone();
        c.tier = first.scenario.tiers[0];
    }
    // The stub of a run just ended (a `--find-rate` step's) was shut down before that run
    // returned (`StubHandle::shutdown`): its port is free.
    let listener = stub::bind_loopback(port).map_err(|e| {
        anyhow::anyhow!("--with-stub {port}: cannot listen on 127.0.0.1:{port}: {e}")
    })?;
    let handle = stub::start_with_clock(
        c,
        listener,
        Arc::new(crate::clock::SystemClock::scaled(cfg.time_scale.get())),
    )
    .await?;
    eprintln!(
        "postload: OpenAI stub listening; the service must use OPENAI_BASE_URL={}",
        handle.base_url()
    );
    Ok(handle)
}

/// Polls `url` until it answers HTTP (any status), for at most `wait` (0: asked once), or until
/// the run is stopped.
async fn wait_until_answering(
    url: &str,
    wait: Duration,
    hint: &str,
    cfg: &RunConfig,
) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = Instant::now() + wait;
    if !cfg.quiet && !wait.is_zero() {
        eprintln!(
            "postload: waiting up to {} for {} to answer...",
            seconds(wait),
            crate::secret::shown_url(url)
        );
    }
    loop {
        if cfg.stop.load(Ordering::SeqCst) {
            anyhow::bail!(
                "stopped while waiting for {} to answer",
                crate::secret::shown_url(url)
            );
        }
        let last = match client.get(url).send().await {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            let (after, raise) = if wait.is_zero() {
                (String::new(), "give --wait-for-target 30s to wait for it")
            } else {
                (
                    format!(" after {}", seconds(wait)),
                    "raise --wait-for-target",
                )
            };
            anyhow::bail!(
                "the service at {} does not answer ({}){after}: nothing was sent; {hint} (or {raise})",
                crate::secret::shown_url(url),
                why_not(&last)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn seconds(d: Duration) -> String {
    format!(
        "{} s",
        crate::limits::num((d.as_secs_f64() * 10.0).round() / 10.0)
    )
}

/// Why a request got no answer, in a few words: "connection refused", "no answer within 2 s", or
/// the innermost error's own words (a name that does not resolve, a reset).
pub(crate) fn why_not(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    if e.is_timeout() {
        return "no answer within 2 s".into();
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = e.source();
    let mut innermost = None;
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => return "connection refused".into(),
                std::io::ErrorKind::ConnectionReset => return "connection reset".into(),
                _ => {}
            }
        }
        innermost = Some(s);
        source = s.source();
    }
    // The innermost error's words hold no URL (reqwest's own message does).
    innermost.map_or_else(|| "no HTTP answer".into(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_service_url_is_logged_without_its_credentials_or_query() {
        assert_eq!(
            crate::secret::shown_url("http://user:s3cret@127.0.0.1:8000/api?key=s3cret"),
            "http://127.0.0.1:8000/api"
        );
        assert_eq!(
            crate::secret::shown_url("http://127.0.0.1:8000"),
            "http://127.0.0.1:8000"
        );
    }
}
