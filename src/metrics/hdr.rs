//! The histogram helpers every latency figure goes through: the one constructor (1 µs to 1 hour
//! at 3 significant figures), a value or a percentile in milliseconds as result.json reports it
//! (the middle of its bucket, `median_equivalent`), and several histograms pooled into one.

use hdrhistogram::Histogram;

use super::hlog;

/// The largest value (µs) a histogram holds: 1 hour. Larger values are recorded as this
/// ([`clamp`]), and a figure at it is flagged, not reported ([`at_ceiling`]).
pub const CEILING_US: u64 = 3_600_000_000;

/// A histogram of microseconds: 1 µs to 1 hour at 3 significant figures (larger values
/// saturate at the top where the caller clamps them).
pub fn micros() -> Histogram<u64> {
    Histogram::new_with_bounds(1, CEILING_US, 3).expect("valid bounds")
}

/// `micros` as a histogram records it: at least 1 µs, at most [`CEILING_US`].
pub fn clamp(micros: u64) -> u64 {
    micros.clamp(1, CEILING_US)
}

/// Whether the recorded value `micros` of `h` shares the bucket of its ceiling (its highest
/// trackable value, [`CEILING_US`] for postload's own): a clamped value lands there, so what it
/// stands for is the ceiling or more (or within the bucket, 2^21 µs for an hour), not a known
/// figure.
pub fn at_ceiling(h: &Histogram<u64>, micros: u64) -> bool {
    h.lowest_equivalent(micros) >= h.lowest_equivalent(h.high())
}

/// A recorded value of `h` (µs) in milliseconds, as the middle of its bucket: the figure
/// result.json reports, whichever end of the bucket `value_at_quantile` or `max` returns.
pub fn ms(h: &Histogram<u64>, micros: u64) -> f64 {
    h.median_equivalent(micros) as f64 / 1000.0
}

/// The `q` quantile (0.95 for p95) of a histogram of microseconds, in milliseconds.
pub fn percentile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    ms(h, h.value_at_quantile(q))
}

/// Histograms added into one (several runs or machines as one sample); `None` when there is
/// none. Each addition is [`hlog::add_checked`]: counts and ranges bounded.
pub fn pool(
    all: impl IntoIterator<Item = Histogram<u64>>,
) -> Result<Option<Histogram<u64>>, String> {
    let mut pooled: Option<Histogram<u64>> = None;
    for h in all {
        match pooled.as_mut() {
            Some(p) => hlog::add_checked(p, &h)?,
            None => pooled = Some(h),
        }
    }
    Ok(pooled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[u64]) -> Histogram<u64> {
        let mut h = micros();
        for &v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn a_percentile_is_the_middle_of_its_bucket_in_ms() {
        // At 3 significant figures the buckets are 1 µs wide below 2,048 µs, 2 µs wide to
        // 4,095 and 4 µs wide to 8,191. 1,000 µs sits alone in [1000, 1000]: 1.000 ms.
        // 5,000 µs sits in [5000, 5003]; value_at_quantile returns the top, 5,003, and the
        // middle is 5,000 + 4 / 2 = 5,002 µs: 5.002 ms (5.003 without median_equivalent).
        let h = of(&[1_000, 5_000]);
        assert_eq!(percentile_ms(&h, 0.5), 1.0);
        assert_eq!(h.value_at_quantile(0.99), 5_003);
        assert_eq!(percentile_ms(&h, 0.99), 5.002);
        assert_eq!(ms(&h, h.max()), 5.002);
    }

    #[test]
    fn a_latency_past_the_ceiling_is_flagged_never_reported_as_the_ceiling() {
        // Two posts of 1 s and one of 2 h, clamped to the 1 h ceiling: p50 is known (1 s);
        // the max, p99 and mean would be 3,600 s, which is not what happened: they are none,
        // and the summary says it is saturated.
        let h = of(&[1_000_000, 1_000_000, clamp(7_200_000_000)]);
        let p = crate::metrics::Percentiles::of(&h);
        // (1 s sits in a 512 µs bucket: its middle is 1,000.192 ms.)
        assert!(p.saturated);
        assert_eq!((p.p50, p.min), (Some(1_000.192), Some(1_000.192)));
        assert_eq!((p.p99, p.max, p.mean), (None, None, None));
        // Below the ceiling's bucket (59 min), nothing is flagged.
        let p = crate::metrics::Percentiles::of(&of(&[3_540_000_000]));
        assert!(!p.saturated && p.max.is_some_and(|m| (m - 3_540_000.0).abs() < 2_000.0));
    }

    #[test]
    fn pooling_adds_every_sample_and_nothing_pools_to_none() {
        // Two runs of 2 and 1 samples: 3 samples; p50 needs ceil(0.5 × 3) = 2 samples, so it is
        // the second smallest, 2,000 µs (below 2,048: a 1 µs bucket, exact): 2.000 ms.
        let pooled = pool([of(&[1_000, 3_000]), of(&[2_000])]).unwrap().unwrap();
        assert_eq!(pooled.len(), 3);
        assert_eq!(percentile_ms(&pooled, 0.5), 2.0);
        assert!(pool(Vec::new()).unwrap().is_none());
    }
}
