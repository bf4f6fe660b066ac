//! Daily arrivals: a Poisson stream whose hourly rate follows a curve over the day, drawn
//! lazily by thinning, and the business day the planner assumes unless told otherwise.

use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::openai::world::mix;

/// The next arrival of a daily stream, drawn lazily (thinning against the peak hourly rate).
pub(super) struct DailyStream {
    /// Arrivals per second, by hour of the day.
    rates: Vec<f64>,
    peak: f64,
    end_s: f64,
    t: f64,
    rng: SmallRng,
}

impl DailyStream {
    pub(super) fn new(posts_per_day: f64, days: f64, curve: &[f64], seed: u64) -> Self {
        let total: f64 = curve.iter().sum();
        let rates: Vec<f64> = curve
            .iter()
            .map(|w| posts_per_day * w / total.max(f64::MIN_POSITIVE) / 3600.0)
            .collect();
        let peak = rates.iter().cloned().fold(0.0, f64::max);
        Self {
            rates,
            peak,
            end_s: days * 86_400.0,
            t: 0.0,
            rng: SmallRng::seed_from_u64(mix(seed ^ 0xa11)),
        }
    }

    pub(super) fn next(&mut self) -> Option<Duration> {
        if self.peak <= 0.0 {
            return None;
        }
        loop {
            let u: f64 = self.rng.random::<f64>().max(f64::MIN_POSITIVE);
            self.t += -u.ln() / self.peak;
            if self.t >= self.end_s {
                return None;
            }
            let hour = ((self.t / 3600.0) as usize) % 24;
            if self.rng.random::<f64>() * self.peak <= self.rates[hour] {
                return Some(Duration::from_secs_f64(self.t));
            }
        }
    }
}

/// A marketing app's day: quiet at night, a morning peak around 9-11, steady afternoons and a
/// smaller evening bump (share of the day's posts per hour, local time). An assumption, not a
/// measurement: `--curve flat` spreads posts evenly.
pub const BUSINESS_DAY: [f64; 24] = [
    0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 2.0, 4.0, 6.5, 8.5, 9.0, 8.0, 6.5, 7.0, 7.5, 7.0, 6.0, 5.0, 4.0,
    3.5, 3.0, 2.5, 2.0, 1.2,
];
