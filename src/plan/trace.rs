//! `plan --trace FILE`: the trace a plan simulates in place of its users and posts a day.

use serde::{Deserialize, Serialize};

use super::sim::Arrivals;
use super::PlanError;

/// The trace a plan simulates (`plan --trace FILE`), as plan.json names it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PlanTrace {
    pub file: String,
    pub posts: u64,
    /// From the first arrival to the last, at the file's pace.
    pub span_s: f64,
    /// `--trace-speed`: the arrivals come this many times faster than the file's.
    pub speed: f64,
    /// The arrivals (not written to plan.json).
    #[serde(skip)]
    #[schemars(skip)]
    pub arrivals: Option<std::sync::Arc<crate::scenario::trace::Trace>>,
}

impl PlanTrace {
    /// A plan of `trace` at `speed`; the spec's load becomes the trace: one "user" posting the
    /// trace's posts a day, a day being its span in whole days (at least one, at the file's
    /// pace: the speed changes the arrivals, not the monthly volume).
    pub fn install(spec: &mut super::PlanSpec, trace: crate::scenario::trace::Trace, speed: f64) {
        let posts = trace.posts.len() as u64;
        let span_s = trace.span().as_secs_f64();
        let days = (span_s / 86_400.0).ceil().max(1.0);
        spec.users = vec![1];
        spec.posts_per_user_per_day = Some(posts as f64 / days);
        spec.days = days;
        spec.trace = Some(PlanTrace {
            file: trace.file.clone(),
            posts,
            span_s,
            speed,
            arrivals: Some(std::sync::Arc::new(trace)),
        });
    }
}

/// The arrivals a cell of `users` simulates: the trace's, a burst of every user, or the day's
/// stream.
pub(super) fn arrivals(spec: &super::PlanSpec, users: u32) -> Result<Arrivals, PlanError> {
    Ok(match (&spec.trace, spec.posts_per_user_per_day) {
        (Some(t), _) => Arrivals::Trace {
            trace: t.arrivals.clone().ok_or_else(|| {
                PlanError(format!("--trace {}: its arrivals were not read", t.file))
            })?,
            speed: t.speed,
        },
        (None, None) => Arrivals::Burst {
            posts: users as u64,
        },
        (None, Some(_)) => Arrivals::Daily {
            posts_per_day: super::posts_per_day(spec, users),
            days: spec.days,
            curve: spec.curve.clone(),
        },
    })
}
