//! Service-mode claims: the service's own time beside the OpenAI calls inside its posts, from
//! the stub's counts. Means, not percentiles: the stub cannot tell which post a call belongs
//! to, but the mean of a sum is the sum of the means, so the mean own time is exact where a
//! percentile of it would be a guess.

use super::{cut_short, elsewhere, holds_if, is_burst_of, verdict, CaseResult, Claim};
use super::{failure_cause, ClaimVerdict, Judgement, RunResult};
use crate::claims::Mode;
use crate::result::service::OwnTime;

/// The service's own time on each service case (bursts of `users`, or every one): at most
/// `max_share` of the mean post latency, with every post answered.
pub(super) fn service_own_time(
    claim: &Claim,
    result: &RunResult,
    users: Option<u64>,
    max_share: f64,
) -> Vec<ClaimVerdict> {
    let cases: Vec<&CaseResult> = result
        .cases
        .iter()
        .filter(|c| c.inputs.service.is_some() && users.is_none_or(|u| is_burst_of(c, u)))
        .collect();
    if cases.is_empty() {
        let mut v = elsewhere(claim, result, Mode::Service);
        if let (Some(u), true) = (
            users,
            result.cases.iter().any(|c| c.inputs.service.is_some()),
        ) {
            v.evidence = format!("no service-mode burst of {u} users in this run");
        }
        return vec![v];
    }
    cases
        .into_iter()
        .map(|c| one_case(claim, c, max_share))
        .collect()
}

fn one_case(claim: &Claim, c: &CaseResult, max_share: f64) -> ClaimVerdict {
    if c.interrupted {
        return cut_short(claim, c);
    }
    let not_measured = |measured: String, evidence: String| {
        verdict(
            claim,
            Some(c),
            measured,
            Judgement::NotMeasured,
            None,
            evidence,
        )
    };
    let p = &c.measured.posts;
    let Some(st) = &c.stub else {
        return not_measured(
            "-".into(),
            "needs the stub alongside (`--with-stub PORT`) to time the calls inside the service's posts".into(),
        );
    };
    let limited = st.rate_limited_total();
    if p.failed > 0 && limited > 0 {
        return not_measured(
            format!("{} of {} posts ok", p.ok, p.total),
            format!(
                "the stub answered {limited} calls with 429 (rate limits, the tier's or a scenario's \
                 `first_429`, not the service): judge the service in a case that admits every call \
                 (e.g. service-check at Tier 2)"
            ),
        );
    }
    let Some(t) = OwnTime::of(c) else {
        return not_measured(
            format!("{} of {} posts ok", p.ok, p.total),
            "no successful post, or the stub timed no call".into(),
        );
    };
    let calls_s = t.calls_per_post * t.call_ms / 1000.0;
    let post_s = t.post_ms / 1000.0;
    if t.own_ms() < 0.0 {
        return not_measured(
            format!("mean post {post_s:.2} s, its calls {calls_s:.2} s"),
            "the calls inside a post overlap (their mean sum exceeds the mean post), so the \
             service's own time cannot be told from means"
                .into(),
        );
    }
    let holds = p.failed == 0 && t.share() <= max_share;
    let cause = if p.failed > 0 {
        Some(format!(
            "the service failed posts with no 429 from the stub: {}",
            failure_cause(c)
        ))
    } else if !holds {
        Some(format!(
            "the service's own time is {:.0} % of a post (the claim allows {:.0} %)",
            t.share() * 100.0,
            max_share * 100.0
        ))
    } else {
        None
    };
    verdict(
        claim,
        Some(c),
        format!(
            "own time {:.2} s of a {post_s:.2} s post ({:.1} %), {} of {} posts ok",
            t.own_ms() / 1000.0,
            t.share() * 100.0,
            p.ok,
            p.total
        ),
        holds_if(holds),
        cause,
        format!(
            "means: post at the service {post_s:.2} s − {:.2} calls a post × {:.2} s a call \
             (the stub's modelled latency of its {} answers of 200)",
            t.calls_per_post,
            t.call_ms / 1000.0,
            st.latency_ms.count
        ),
    )
}
