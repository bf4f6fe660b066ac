//! A scenario's `[load]`: how its posts arrive (a burst, a sustained Poisson stream, or a
//! trace's recorded times), with the checks serde cannot make.

use serde::{Deserialize, Serialize};

use super::trace;
use crate::limits::{MAX_DURATION_S, MAX_RATE_PER_S, MAX_USERS};

/// How posts arrive.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Load {
    /// `users` Goose users, released together by a barrier, one post each.
    Burst {
        #[serde(deserialize_with = "users_field")]
        users: u32,
    },
    /// An open Poisson stream of posts for `duration_s`: `users × posts_per_user_per_day`
    /// spread over `active_hours_per_day`, times `arrival_multiplier`; or `rate_per_s` directly.
    Sustained {
        #[serde(deserialize_with = "users_field")]
        users: u32,
        #[serde(default)]
        posts_per_user_per_day: Option<f64>,
        #[serde(default)]
        active_hours_per_day: Option<f64>,
        #[serde(default)]
        arrival_multiplier: Option<f64>,
        #[serde(default)]
        rate_per_s: Option<f64>,
        duration_s: f64,
        /// Goose users carrying the posts (the most posts in flight at once); default 4 × users.
        #[serde(default)]
        max_in_flight: Option<u32>,
    },
    /// Posts at the times a file recorded (docs/trace.md), replayed `speed` times faster than
    /// the file's pace, carried by `max_in_flight` Goose users.
    Trace {
        /// The trace file: a path relative to the scenario file (`--trace FILE`: as given).
        file: String,
        /// Times the file's pace (`--trace-speed` replaces it); at least 1.
        #[serde(default = "one")]
        speed: f64,
        /// Goose users carrying the posts (the most posts in flight at once).
        #[serde(default = "default_trace_in_flight")]
        max_in_flight: u32,
        /// The arrivals, read from `file` when the run is configured.
        #[serde(skip)]
        #[schemars(skip)]
        arrivals: Option<std::sync::Arc<trace::Trace>>,
    },
}

fn one() -> f64 {
    1.0
}

/// A trace's posts in flight at once unless it says: as many as a 100-user sustained load's.
pub const DEFAULT_TRACE_IN_FLIGHT: u32 = 400;

fn default_trace_in_flight() -> u32 {
    DEFAULT_TRACE_IN_FLIGHT
}

/// `load.users` as any integer, so that a negative or huge one is named (serde's own message
/// names neither the field nor the limit).
fn users_field<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = i64::deserialize(d)?;
    u32::try_from(n).map_err(|_| {
        serde::de::Error::custom(format!(
            "field `load.users`: {n} is outside 1 to {MAX_USERS}"
        ))
    })
}

impl Load {
    pub fn users(&self) -> u32 {
        match self {
            Load::Burst { users } | Load::Sustained { users, .. } => *users,
            Load::Trace { max_in_flight, .. } => *max_in_flight,
        }
    }

    /// A sustained load's arrival rate (given one way, not both), duration, posts in flight,
    /// multiplier and active hours; a burst has nothing more to check.
    pub(super) fn check(&self) -> Result<(), (&'static str, String)> {
        if let Load::Trace { speed, file, .. } = self {
            if file.trim().is_empty() {
                return Err(("load.file", "name the trace file".into()));
            }
            return trace::check_speed(*speed).map_err(|m| ("load.speed", m));
        }
        let Load::Sustained {
            posts_per_user_per_day,
            rate_per_s,
            duration_s,
            arrival_multiplier,
            active_hours_per_day,
            max_in_flight,
            ..
        } = self
        else {
            return Ok(());
        };
        match (posts_per_user_per_day, rate_per_s) {
            (Some(_), Some(_)) => {
                return Err((
                    "load",
                    "give posts_per_user_per_day or rate_per_s, not both".into(),
                ))
            }
            (None, None) => {
                return Err((
                    "load",
                    "a sustained load needs posts_per_user_per_day or rate_per_s".into(),
                ))
            }
            _ => {}
        }
        let rate = self.rate_per_s().unwrap_or(0.0);
        if !(rate > 0.0 && rate <= MAX_RATE_PER_S) {
            return Err((
                "load",
                format!("the arrival rate ({rate} posts/s) must be above 0 and at most {MAX_RATE_PER_S}"),
            ));
        }
        if !(*duration_s > 0.0 && *duration_s <= MAX_DURATION_S) {
            return Err((
                "load.duration_s",
                format!("{duration_s} is not a number of seconds from 0 to {MAX_DURATION_S} (0 excluded)"),
            ));
        }
        if let Some(n) = max_in_flight.filter(|n| !(1..=MAX_USERS).contains(n)) {
            return Err((
                "load.max_in_flight",
                format!("{n} is outside 1 to {MAX_USERS}"),
            ));
        }
        if arrival_multiplier.is_some_and(|m| m.is_nan() || m <= 0.0) {
            return Err(("load.arrival_multiplier", "must be positive".into()));
        }
        if active_hours_per_day.is_some_and(|h| !(h > 0.0 && h <= 24.0)) {
            return Err(("load.active_hours_per_day", "must be in (0, 24]".into()));
        }
        Ok(())
    }

    /// Posts per second of a sustained load.
    pub fn rate_per_s(&self) -> Option<f64> {
        match self {
            Load::Burst { .. } | Load::Trace { .. } => None,
            Load::Sustained {
                users,
                posts_per_user_per_day,
                active_hours_per_day,
                arrival_multiplier,
                rate_per_s,
                ..
            } => rate_per_s.or_else(|| {
                let per_day = *users as f64 * posts_per_user_per_day.unwrap_or(0.0);
                let active = active_hours_per_day.unwrap_or(24.0) * 3600.0;
                Some(per_day / active * arrival_multiplier.unwrap_or(1.0))
            }),
        }
    }
}
