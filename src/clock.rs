//! Clocks for code that must not read time itself. The stub's buckets and latencies take a
//! [`Clock`]; tests use [`ManualClock`] to move time exactly, and `--time-scale K` gives the stub
//! a [`SystemClock`] that runs K times faster than the wall clock. The run measures real time
//! (`Instant`) and converts it to modelled time through [`TimeScale`], the same conversion.

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

/// Modelled seconds per real second (`--time-scale`, at least 1e-3): the one conversion
/// between real and modelled time, the identity at 1 (no rounding through f64 then).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimeScale(f64);

impl TimeScale {
    /// Real time: one modelled second per real second.
    pub const ONE: TimeScale = TimeScale(1.0);

    pub fn new(scale: f64) -> Self {
        Self(scale.max(1e-3))
    }

    /// A user's `--time-scale K`, checked once: a finite factor from 1 to
    /// [`crate::limits::MAX_TIME_SCALE`] (past it the harness's own milliseconds, multiplied by
    /// K, distort the figures).
    pub fn checked(k: f64) -> Result<Self, String> {
        let max = crate::limits::MAX_TIME_SCALE;
        if k.is_finite() && (1.0..=max).contains(&k) {
            Ok(Self(k))
        } else {
            Err(format!(
                "--time-scale {k}: give a factor from 1 to {max} (the largest shown to agree with K = 1; see docs/limits.md)"
            ))
        }
    }

    /// `--time-scale K` as clap reads it.
    pub fn arg(text: &str) -> Result<Self, String> {
        let k = text.trim().parse::<f64>().map_err(|_| {
            format!(
                "--time-scale {text}: give a number from 1 to {}",
                crate::limits::MAX_TIME_SCALE
            )
        })?;
        Self::checked(k)
    }

    /// A real amount of time, in any unit, in modelled time (the same unit).
    pub fn to_modelled(self, real: f64) -> f64 {
        real * self.0
    }

    /// A modelled amount of time, in any unit, in real time (the same unit).
    pub fn to_real(self, modelled: f64) -> f64 {
        modelled / self.0
    }

    /// Whether modelled time is real time.
    pub fn is_one(self) -> bool {
        self.0 == 1.0
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// The modelled time `real` time stands for.
    pub fn modelled(self, real: Duration) -> Duration {
        if self.0 == 1.0 {
            real
        } else {
            real.mul_f64(self.0)
        }
    }

    /// The real time a `modelled` duration takes.
    pub fn real(self, modelled: Duration) -> Duration {
        if self.0 == 1.0 {
            modelled
        } else {
            modelled.div_f64(self.0)
        }
    }
}

impl std::fmt::Display for TimeScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The wall clock, optionally sped up by `scale`.
#[derive(Debug, Clone)]
pub struct SystemClock {
    origin: Instant,
    scale: TimeScale,
}

impl SystemClock {
    pub fn new() -> Self {
        Self::scaled(1.0)
    }

    /// A clock on which `scale` modelled seconds pass per real second (`scale` >= 1e-3).
    pub fn scaled(scale: f64) -> Self {
        Self {
            origin: Instant::now(),
            scale: TimeScale::new(scale),
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
        self.scale.modelled(self.origin.elapsed())
    }
    fn scale(&self) -> f64 {
        self.scale.get()
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
    fn a_time_scale_multiplies_real_time_and_divides_modelled_time() {
        // At 4: 1 s of real time is 4 s modelled; 2 s modelled take 0.5 s. At 1 both are the
        // identity to the nanosecond; below 1e-3 the scale is 1e-3.
        let four = TimeScale::new(4.0);
        assert_eq!(
            four.modelled(Duration::from_secs(1)),
            Duration::from_secs(4)
        );
        assert_eq!(
            four.real(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
        let odd = Duration::new(1, 123_456_789);
        assert_eq!(TimeScale::new(1.0).modelled(odd), odd);
        assert_eq!(TimeScale::new(1.0).real(odd), odd);
        assert_eq!(TimeScale::new(0.0).get(), 1e-3);
    }

    #[test]
    fn a_user_time_scale_is_finite_and_from_1_to_the_cap() {
        // The cap is 20 (limits::MAX_TIME_SCALE): 1, 4.5 and 20 pass as they are; 0.5, 20.5,
        // NaN and infinity are refused, each message naming the flag and the range.
        for k in [1.0, 4.5, 20.0] {
            assert_eq!(TimeScale::checked(k).unwrap().get(), k);
        }
        for k in [0.5, 0.0, -1.0, 20.5, f64::NAN, f64::INFINITY] {
            let e = TimeScale::checked(k).unwrap_err();
            assert!(
                e.contains("--time-scale") && e.contains("from 1 to 20"),
                "{e}"
            );
        }
        assert_eq!(TimeScale::arg(" 10 ").unwrap().get(), 10.0);
        let e = TimeScale::arg("fast").unwrap_err();
        assert!(
            e.contains("--time-scale fast") && e.contains("1 to 20"),
            "{e}"
        );
        assert!(TimeScale::arg("inf").is_err() && TimeScale::arg("NaN").is_err());
        assert!(TimeScale::ONE.is_one() && !TimeScale::checked(2.0).unwrap().is_one());
        assert_eq!(TimeScale::checked(2.5).unwrap().to_string(), "2.5");
        // Plain amounts in any unit: 3 s real at 4 is 12 s modelled; 12 s modelled is 3 s real.
        let four = TimeScale::checked(4.0).unwrap();
        assert_eq!(four.to_modelled(3.0), 12.0);
        assert_eq!(four.to_real(12.0), 3.0);
        assert_eq!(TimeScale::ONE.to_real(0.1), 0.1);
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
