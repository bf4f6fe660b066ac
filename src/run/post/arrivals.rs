//! When a case's posts are sent: all at once (a burst), on a seeded Poisson schedule of
//! intended send times (a sustained load), or at a trace's times (a trace load).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::scenario::trace::Trace;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// How posts are sent once every user has reached the start barrier.
#[derive(Debug)]
pub enum Start {
    /// Each user sends one post at once.
    Burst,
    /// Users take the next post of the schedule (intended send times) and send it on time, or
    /// late if none was free.
    Schedule(Box<Mutex<Schedule>>),
}

/// A schedule of intended send times, since the case's origin, in modelled time. Posts are
/// numbered in the schedule's order, so a trace's post `i` is its `i`-th arrival.
#[derive(Debug)]
pub enum Schedule {
    Poisson(Box<SendTimes>),
    /// A trace's arrivals at `speed` times its pace (offset ÷ speed: the sustained load's
    /// intended times, so latency counts from them the same way).
    Trace {
        trace: Arc<Trace>,
        speed: f64,
        next: usize,
    },
}

impl Iterator for Schedule {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        match self {
            Schedule::Poisson(times) => times.next(),
            Schedule::Trace { trace, speed, next } => {
                let t = trace.scheduled(*next, *speed)?;
                *next += 1;
                Some(t)
            }
        }
    }
}

/// A seeded Poisson stream of intended send times, drawn as needed (a long run at a high rate
/// holds no list of them).
#[derive(Debug)]
pub struct SendTimes {
    rng: ChaCha8Rng,
    exp: rand_distr::Exp<f64>,
    t: f64,
    end: f64,
}

impl SendTimes {
    pub fn new(rate_per_s: f64, duration: Duration, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(u64::MAX); // apart from the per-post streams
        Self {
            rng,
            exp: rand_distr::Exp::new(rate_per_s).expect("a positive rate"),
            t: 0.0,
            end: duration.as_secs_f64(),
        }
    }
}

impl Iterator for SendTimes {
    type Item = Duration;
    fn next(&mut self) -> Option<Duration> {
        self.t += rand_distr::Distribution::sample(&self.exp, &mut self.rng);
        (self.t < self.end).then(|| Duration::from_secs_f64(self.t))
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_schedule_is_its_offsets_over_the_speed() {
        let trace = crate::scenario::trace::parse("t.csv", b"offset_s\n5\n5.5\n65\n", 0).unwrap();
        let at = |speed| {
            Schedule::Trace {
                trace: Arc::new(trace.clone()),
                speed,
                next: 0,
            }
            .collect::<Vec<_>>()
        };
        // Offsets from the first arrival: 0, 0.5, 60 s; at speed 4: 0, 0.125, 15 s.
        assert_eq!(at(1.0), [0, 500, 60_000].map(Duration::from_millis));
        assert_eq!(at(4.0), [0, 125, 15_000].map(Duration::from_millis));
    }

    #[test]
    fn arrivals_have_the_rate_and_are_seeded() {
        let take =
            |seed| SendTimes::new(10.0, Duration::from_secs(1_000), seed).collect::<Vec<_>>();
        let s = take(7);
        assert!((9_700..=10_300).contains(&s.len()), "{}", s.len());
        assert!(s.windows(2).all(|w| w[0] <= w[1]));
        assert!(s.last().unwrap() < &Duration::from_secs(1_000));
        assert_eq!(s, take(7));
        assert_ne!(s, take(8));
        // Exponential gaps: about 37% of them exceed the mean gap of 100 ms.
        let long = s
            .windows(2)
            .filter(|w| w[1] - w[0] > Duration::from_millis(100))
            .count();
        let share = long as f64 / (s.len() - 1) as f64;
        assert!((0.34..0.40).contains(&share), "{share}");
    }
}
