//! `plan --find-rate`'s answer ([`crate::plan::rate`]): a line per model × tier on the console
//! and a table in plan.md, each saying the rate found, the first that failed, and what limits it.

use super::document::{Section, TableCell};
use crate::plan::rate::{RateAnswer, RateLimit};
use crate::plan::PlanResult;

/// `3.21 posts/s (193 a minute)`.
fn rate(per_s: f64) -> String {
    format!("{} posts/s ({:.0} a minute)", figure(per_s), per_s * 60.0)
}

/// Three significant figures, at least two decimals under 1.
fn figure(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

/// What limits the rate, in words.
pub fn limit_text(a: &RateAnswer) -> String {
    match &a.limit {
        RateLimit::Tpm {
            tpm,
            reserved_per_post,
            bound_per_s,
        } => format!(
            "tokens a minute (429s): Tier {}'s {tpm} TPM ÷ about {reserved_per_post:.0} tokens reserved a post = {} posts/s",
            a.tier,
            figure(*bound_per_s)
        ),
        RateLimit::Rpm {
            rpm,
            calls_per_post,
            bound_per_s,
        } => format!(
            "requests a minute (429s): Tier {}'s {rpm} RPM ÷ {calls_per_post:.1} calls a post = {} posts/s",
            a.tier,
            figure(*bound_per_s)
        ),
        RateLimit::Latency { p95_s } => {
            format!("the model's latency: p95 {p95_s:.2} s with no 429s")
        }
        RateLimit::Failures { success } => format!(
            "posts failing without 429s: {:.1} % ok",
            success * 100.0
        ),
        RateLimit::Service {
            own_p95_ms_lowest,
            own_p95_ms,
        } => format!(
            "the service's own time: p95 {} ms a post at the first rate that failed, {} ms at the lowest rate tried, with no 429s",
            own_p95_ms.round(),
            own_p95_ms_lowest.round()
        ),
        RateLimit::NotReached => "nothing within the search".into(),
    }
}

/// The answer in a sentence: the rate found and the first that failed, or why none holds.
pub fn answer_text(a: &RateAnswer) -> String {
    let lift = if a.first_minute_lift > 0.02 {
        format!(
            " (windows of {:.0} s: the first minute's full bucket may lift it by up to {:.0} %)",
            60.0 / a.first_minute_lift,
            a.first_minute_lift * 100.0
        )
    } else {
        String::new()
    };
    match (a.highest_per_s, a.failing_per_s) {
        (Some(lo), Some(hi)) => format!(
            "{}{lift}; {} did not hold; limited by {}",
            rate(lo),
            figure(hi),
            limit_text(a)
        ),
        (Some(lo), None) => format!("at least {}: the target held at every rate tried", rate(lo)),
        (None, Some(hi)) => format!(
            "the target holds at no rate (none down to {} posts/s); limited by {}",
            figure(hi),
            limit_text(a)
        ),
        (None, None) => "no rate was tried".into(),
    }
}

/// The heading both outputs share: the load each step is and the target it is judged on.
fn heading(r: &PlanResult) -> String {
    format!(
        "highest sustainable rate (open Poisson arrivals, an hour a step, the bracket to 2 %; target: {} ≤ {} s, at least {:.0} % of posts ok; {})",
        if r.spec.design.stream_caption {
            "first-caption-token p95"
        } else {
            "post p95"
        },
        r.spec.target.p95_s,
        r.spec.target.min_success * 100.0,
        r.find_rate
            .first()
            .map_or("", |a| crate::plan::decision::client(a.strategy)),
    )
}

/// The console lines; empty without `--find-rate`.
pub fn console(r: &PlanResult) -> String {
    if r.find_rate.is_empty() {
        return String::new();
    }
    let mut o = format!("{}:\n", heading(r));
    for a in &r.find_rate {
        o.push_str(&format!(
            "  {} Tier {}: {}\n",
            a.model,
            a.tier,
            answer_text(a)
        ));
    }
    o
}

/// plan.md's table; `None` without `--find-rate`.
pub fn section(r: &PlanResult) -> Option<Section> {
    if r.find_rate.is_empty() {
        return None;
    }
    let mut s = Section {
        title: "Highest sustainable rate".into(),
        paragraphs: vec![format!(
            "{}. Each step simulates one modelled hour of arrivals at one rate (at least 600 \
             posts, at most 50,000); the search doubles the rate until the target fails, then \
             halves the bracket until its ends are within 2 %. A client meets a full bucket \
             first, one minute of the tier's limits: over an hour that lifts an answer by at most \
             1.7 %.",
            heading(r)
        )],
        header: vec![
            "model",
            "tier",
            "highest posts/s",
            "a minute",
            "first failing posts/s",
            "limited by",
            "steps",
        ],
        right: vec![false, true, true, true, true, false, true],
        ..Section::default()
    };
    for a in &r.find_rate {
        s.rows.push(
            [
                a.model.clone(),
                a.tier.to_string(),
                a.highest_per_s.map_or("-".into(), figure),
                a.highest_per_s
                    .map_or("-".into(), |v| format!("{:.0}", v * 60.0)),
                a.failing_per_s.map_or("-".into(), figure),
                limit_text(a),
                a.steps.len().to_string(),
            ]
            .map(TableCell::from)
            .to_vec(),
        );
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::sim::Strategy;

    fn answer(highest: Option<f64>, failing: Option<f64>, limit: RateLimit) -> RateAnswer {
        RateAnswer {
            model: "gpt-4o".into(),
            tier: 2,
            strategy: Strategy::Sdk,
            highest_per_s: highest,
            failing_per_s: failing,
            limit,
            first_minute_lift: 60.0 / 3_600.0,
            steps: Vec::new(),
        }
    }

    #[test]
    fn each_answer_says_the_rate_the_first_failure_and_the_limit() {
        let tpm = RateLimit::Tpm {
            tpm: 450_000,
            reserved_per_post: 2_350.0,
            bound_per_s: 3.1915,
        };
        // 3.31 posts/s × 60 = 198.6: "199 a minute"; an hour's window (lift 1.7 %) says nothing.
        assert_eq!(
            answer_text(&answer(Some(3.31), Some(3.34), tpm)),
            "3.31 posts/s (199 a minute); 3.34 did not hold; limited by tokens a minute (429s): \
             Tier 2's 450000 TPM ÷ about 2350 tokens reserved a post = 3.19 posts/s"
        );
        assert_eq!(
            answer_text(&answer(
                None,
                Some(0.0015625),
                RateLimit::Latency { p95_s: 9.03 }
            )),
            "the target holds at no rate (none down to 0.0016 posts/s); limited by the model's \
             latency: p95 9.03 s with no 429s"
        );
        let mut a = answer(Some(92.89), None, RateLimit::NotReached);
        // A 538 s window: 60 / 538 = 11 %, said.
        a.first_minute_lift = 60.0 / 538.0;
        assert_eq!(
            answer_text(&a),
            "at least 92.89 posts/s (5573 a minute): the target held at every rate tried"
        );
        a.failing_per_s = Some(93.9);
        a.limit = RateLimit::Rpm {
            rpm: 10_000,
            calls_per_post: 2.0,
            bound_per_s: 83.333,
        };
        assert_eq!(
            answer_text(&a),
            "92.89 posts/s (5573 a minute) (windows of 538 s: the first minute's full bucket may \
             lift it by up to 11 %); 93.90 did not hold; limited by requests a minute (429s): \
             Tier 2's 10000 RPM ÷ 2.0 calls a post = 83.33 posts/s"
        );
    }
}
