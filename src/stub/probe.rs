//! Asking a postload stub, from the client side, what clock it runs: `--time-scale K` against a
//! `--base-url` (run, calibrate) is only sound when the stub there runs at the same K, since any
//! other endpoint's latencies would be multiplied by K. One probe for every command.

use std::time::Duration;

use super::stats::STATS_PATH;

/// The time scale the postload stub at `base_url` runs at, from its [`STATS_PATH`], asked
/// through `client` (so the caller's `--resolve` applies); `None` when nothing there answers
/// one within 2 s (not a postload stub, not up, or a body past 1 MiB).
pub async fn served_time_scale(client: &reqwest::Client, base_url: &str) -> Option<f64> {
    let url = reqwest::Url::parse(base_url).ok()?.join(STATS_PATH).ok()?;
    let mut resp = client
        .get(url)
        .bearer_auth(super::STUB_API_KEY)
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.ok()? {
        body.extend_from_slice(&chunk);
        if body.len() > 1 << 20 {
            return None;
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    v.get("time_scale")?.as_f64()
}

/// Why `--time-scale k` cannot run against `base_url` whose stub answered `served`, if it
/// cannot: the message both commands print.
pub fn mismatch(k: f64, base_url: &str, served: Option<f64>) -> Option<String> {
    (served != Some(k)).then(|| {
        format!(
            "--time-scale {k}: --base-url `{}` is not a postload stub started with --time-scale {k} ({}): its latencies would be multiplied by {k}",
            crate::secret::shown_url(base_url),
            served.map_or(format!("it does not answer {STATS_PATH}"), |o| format!(
                "it runs at {o}"
            ))
        )
    })
}
