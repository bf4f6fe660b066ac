//! Clocks for code that must not read time itself. The stub's buckets and latencies and the
//! run's timings take a [`Clock`]; tests use [`ManualClock`] to move time exactly, and
//! `--time-scale K` uses a [`SystemClock`] that runs K times faster than the wall clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Modelled time since the clock's origin.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    fn now(&self) -> Duration;
    /// How many modelled seconds pass per real second (1 for the wall clock).
    fn scale(&self) -> f64 {
        1.0
    }
}

/// The wall clock, optionally sped up by `scale`.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
    scale: f64,
}

impl SystemClock {
    pub fn new() -> Self {
        Self::scaled(1.0)
    }

    /// A clock on which `scale` modelled seconds pass per real second (`scale` >= 1e-3).
    pub fn scaled(scale: f64) -> Self {
        Self {
            origin: Instant::now(),
            scale: scale.max(1e-3),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        let real = self.origin.elapsed();
        if self.scale == 1.0 {
            real
        } else {
            real.mul_f64(self.scale)
        }
    }
    fn scale(&self) -> f64 {
        self.scale
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
    pub fn set(&self, to: Duration) {
        self.nanos.store(to.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new();
        assert_eq!(c.now(), Duration::ZERO);
        c.advance(Duration::from_millis(1500));
        let shared = c.clone();
        shared.advance(Duration::from_millis(500));
        assert_eq!(c.now(), Duration::from_secs(2));
    }

    #[test]
    fn scaled_clock_runs_exactly_scale_times_faster() {
        // Bounded from both sides by the real time read just before and just after: the
        // modelled time is the real time since the origin times 250, never more, never less.
        // (Before: any scale of 1,000 or more passed.)
        let c = SystemClock::scaled(250.0);
        std::thread::sleep(Duration::from_millis(2));
        let before = c.origin.elapsed();
        let now = c.now();
        let after = c.origin.elapsed();
        assert!(now >= before.mul_f64(250.0), "{now:?} < 250 x {before:?}");
        assert!(now <= after.mul_f64(250.0), "{now:?} > 250 x {after:?}");
        assert_eq!(c.scale(), 250.0);
        // Scale 1 is the wall clock itself.
        let w = SystemClock::new();
        let before = w.origin.elapsed();
        let now = w.now();
        assert!(now >= before && now <= w.origin.elapsed());
    }
}
