//! report.md's table of a service's own figures ([`crate::result::service`]): what a CI gate
//! on the service names, per case.

use super::document::{Section, TableCell};
use crate::result::service::{per_post, ServiceFigures};
use crate::result::{CaseResult, RunResult};

/// report.md's words above the table of the service's own figures.
const SECTION_TEXT: &str = "From the stub alongside, exact: OpenAI requests per post (retries and \
     429s included) and calls answered per successful post, in all and by call type (told apart \
     by max_tokens: the scenario's [prompts], 150 and 200 by default; `other` is anything else), \
     tokens per successful post, the requests the service's client marked as retries, and its \
     own time (mean post latency less its calls, an estimate from means). Where the service \
     forwards the `traceparent` postload sends with each post, the stub counts each post's \
     requests: its own time per post (latency less its wait on OpenAI, the union of its calls; \
     p50 / p95 / max), the requests it sent again for the same call, and what it answered the \
     posts whose calls met a 429 (ungraceful: neither a 2xx nor a 429 or 503). Gate on them as \
     `service.calls_per_post`, `service.caption.prompt_tokens_per_post`, \
     `service.own_p95_ms`, `service.under_429.ungraceful`, ... (docs/gates.md).";

/// report.md's table of the service's own figures (service mode with the stub alongside).
pub fn section(r: &RunResult) -> Option<Section> {
    let cases: Vec<(&CaseResult, &ServiceFigures)> = r
        .cases
        .iter()
        .filter_map(|c| c.service.as_ref().map(|f| (c, f)))
        .collect();
    if cases.is_empty() {
        return None;
    }
    let n = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    let calls = |f: &ServiceFigures, k: &str| n(f.by_call.get(k).and_then(|c| c.calls_per_post));
    let mut sec = Section {
        title: "The service's own figures (gate metrics)".into(),
        paragraphs: vec![SECTION_TEXT.into()],
        header: vec![
            "scenario",
            "tier",
            "requests/post",
            "calls/post",
            "image prompt",
            "caption",
            "other",
            "prompt tok/post",
            "completion tok/post",
            "retried requests",
            "own time ms (mean)",
            "own time ms per post (p50 / p95 / max)",
            "retries/post",
            "answers under 429s",
        ],
        right: [vec![false], vec![true; 12], vec![false]].concat(),
        ..Section::default()
    };
    for (c, f) in cases {
        let [own, retries, under_429] = per_post::cells(f.per_post.as_ref());
        if f.per_post.is_none() {
            sec.notes.push(format!(
                "{}: the stub saw no `traceparent` (the service does not forward it on its \
                 OpenAI calls): no own time per post; its own time is the aggregate estimate \
                 `service.own_mean_ms`.",
                c.label()
            ));
        }
        sec.rows.push(
            [
                c.scenario.clone(),
                c.tier.to_string(),
                format!("{:.2}", f.all.requests_per_post),
                n(f.all.calls_per_post),
                calls(f, "image_prompt"),
                calls(f, "caption"),
                calls(f, "other"),
                n(f.all.prompt_tokens_per_post),
                n(f.all.completion_tokens_per_post),
                f.retried_requests.to_string(),
                n(f.own_mean_ms),
                own,
                retries,
                under_429,
            ]
            .map(TableCell::from)
            .to_vec(),
        );
    }
    Some(sec)
}
