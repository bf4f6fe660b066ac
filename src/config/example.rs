//! `postload example-service`'s options as the service's configuration.

use std::time::Duration;

use super::{is_loopback, retry_policy};
use crate::secret::shown_url;

/// `postload example-service`'s options as the service's configuration. An OpenAI base URL
/// outside loopback would be billed: only with `--allow-spend`.
pub fn example_config(
    args: &crate::cli::ExampleServiceArgs,
) -> anyhow::Result<crate::example::ExampleConfig> {
    let base_url = example_base_url(args);
    if !is_loopback("--base-url", base_url)? && !args.spend.allow_spend {
        anyhow::bail!(
            "--base-url `{}` is not on this machine: its calls would be billed; add --allow-spend to mean it",
            shown_url(base_url)
        );
    }
    let mut cfg = crate::example::ExampleConfig::new(base_url);
    cfg.model = args.model.clone();
    cfg.endpoint = args.openai_endpoint;
    cfg.memory_delay = Duration::from_millis(args.memory_ms);
    cfg.memory_pool = args.memory_pool;
    cfg.retry = retry_policy(args.retry);
    cfg.extra_call = args.extra_call;
    if !(0.5..=4.0).contains(&args.prompt_scale) {
        anyhow::bail!(
            "--prompt-scale {}: a factor from 0.5 to 4",
            crate::limits::num(args.prompt_scale)
        );
    }
    for size in [&mut cfg.prompts.image_prompt, &mut cfg.prompts.caption] {
        size.prompt_tokens = (size.prompt_tokens as f64 * args.prompt_scale).round() as u32;
    }
    if !(400..=599).contains(&args.status_on_429) {
        anyhow::bail!(
            "--status-on-429 {}: an HTTP error status from 400 to 599",
            args.status_on_429
        );
    }
    cfg.status_on_429 = args.status_on_429;
    cfg.propagate_trace = !args.no_trace_propagation;
    cfg.fault = args.fault;
    let key_var = args.dest.api_key_env.as_deref().unwrap_or("OPENAI_API_KEY");
    if let Ok(key) = std::env::var(key_var) {
        cfg.api_key = Some(crate::secret::Secret::new(key));
    }
    Ok(cfg)
}

/// example-service's `--base-url` (clap gives it its default and `$OPENAI_BASE_URL`; the same
/// default when built by hand).
pub fn example_base_url(args: &crate::cli::ExampleServiceArgs) -> &str {
    args.dest
        .base_url
        .as_deref()
        .unwrap_or("http://127.0.0.1:9000/v1")
}
