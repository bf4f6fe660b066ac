//! When a case's posts are sent: all at once (a burst), or on a seeded Poisson schedule of
//! intended send times (a sustained load).

use std::sync::Mutex;
use std::time::Duration;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// How posts are sent once every user has reached the start barrier.
#[derive(Debug)]
pub enum Start {
    /// Each user sends one post at once.
    Burst,
    /// Users take the next post of the schedule (intended send times) and send it on time, or
    /// late if none was free.
    Schedule(Box<Mutex<SendTimes>>),
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
