//! Why a gate metric has no value in a case, in words that say what to do: a threshold that
//! fails with "no value" and no reason gets deleted, not fixed. Pure.

use crate::result::CaseResult;

/// What a service that does not forward `traceparent` is told for the per-post own time.
pub const NO_TRACEPARENT: &str = "the service did not forward `traceparent` to OpenAI: forward it (see docs/gates.md) or gate on service.own_mean_ms";

/// The same for the other per-post metrics, each with the figure that needs no trace.
fn no_traceparent(field: &str) -> String {
    let instead = if field.starts_with("own_") {
        return NO_TRACEPARENT.into();
    } else if field == "retries_per_post" {
        "service.retried_requests"
    } else if field.starts_with("under_429.") {
        "failed.server_error"
    } else {
        "service.calls_per_post"
    };
    format!("the service did not forward `traceparent` to OpenAI: forward it (see docs/gates.md) or gate on {instead}")
}

/// Metrics figured over the successful posts only: no successful post, no value.
fn per_ok_post(metric: &str) -> bool {
    metric.starts_with("post.")
        || metric.starts_with("first_caption_token.")
        || matches!(metric, "tokens_per_post" | "cost_per_post_usd")
        || metric.ends_with("calls_per_post")
        || metric.ends_with("tokens_per_post")
        || metric.starts_with("service.own_")
}

/// Why `metric` has no value in `case`.
pub fn why(case: &CaseResult, metric: &str) -> String {
    let posts = &case.measured.posts;
    if posts.total == 0 {
        return "no post was sent".into();
    }
    if posts.ok == 0 && per_ok_post(metric) {
        return format!(
            "no post succeeded: {}",
            crate::metrics::causes_phrase(&posts.failed_by_cause)
        );
    }
    // A 429 metric in a case that met no 429: the scenario did not exercise it.
    if let Some(why) = crate::result::service::why_no_value(case, metric) {
        return why;
    }
    if let Some(field) = metric.strip_prefix("service.") {
        return why_service(case, field);
    }
    if metric.starts_with("first_caption_token.") {
        return "only postload's stub says the time to the first caption token, and this target did not".into();
    }
    match metric {
        "rate_limited_ratio" => {
            "postload made no OpenAI call (in service mode the service makes them: gate on service.*)".into()
        }
        "cost_per_post_usd" => format!("no price for {} in the price list", case.inputs.model),
        "wasted_tokens" | "wasted_usd" if case.measured.tokens.wasted.is_none() => {
            "the tokens of failed posts are not known apart (unknown usage, or the stub's counts, which are not split by post)".into()
        }
        "wasted_usd" => format!("no price for {} in the price list", case.inputs.model),
        _ => "this run has no figure for it".into(),
    }
}

fn why_service(case: &CaseResult, field: &str) -> String {
    if case.inputs.service.is_none() {
        return "service.* figures come from service mode (--target URL --with-stub PORT); this case ran postload's own pipeline".into();
    }
    let (Some(stub), Some(figures)) = (&case.stub, &case.service) else {
        return "service.* figures come from the stub alongside: give --with-stub PORT and point the service's OPENAI_BASE_URL at it".into();
    };
    let per_post = crate::result::service::per_post::metric(None, field).is_some();
    if per_post && figures.per_post.is_none() {
        return if stub.chat_requests == 0 {
            "the stub alongside saw no OpenAI request from the service: is its OPENAI_BASE_URL the stub's?".into()
        } else {
            no_traceparent(field)
        };
    }
    if field == "own_mean_ms" {
        return "the estimate needs the stub's call latencies, and the calls' sum was more than the post (they overlap): gate on service.own_p95_ms".into();
    }
    "this run has no figure for it".into()
}
