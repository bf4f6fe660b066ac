//! The charts' pure rules, apart from the drawing: how far the percentile axis may run for a
//! sample of n posts, where a case's curve stops on it, which curves are too thin to read a
//! p95 from, and the most tokens a TPM bucket that starts full admits in a minute's window.

use crate::metrics::CurvePoint;

/// Below this many successful posts a case's curve is drawn dashed and said to be thin: a
/// sample of n supports percentiles up to p(1 − 1/n) (see [`supported_percentile`]), so under
/// 20 posts it does not reach p95, the percentile the claims and gates judge.
pub const THIN_POSTS: u64 = 20;

/// The highest percentile (0–100) a sample of `n` supports: the highest with at least one
/// sample beyond it. With the n values sorted, n × (1 − p) of them lie above percentile p; at
/// least one means p ≤ 1 − 1/n. `None` without a sample.
pub fn supported_percentile(n: u64) -> Option<f64> {
    (n > 0).then(|| 100.0 * (1.0 - 1.0 / n as f64))
}

/// The percentile axis's position of `pct`: log10(1 / (1 − p)), so 90 % is 1, 99 % is 2 and
/// 99.9 % is 3, and p(1 − 1/n) is log10(n). Percentiles past 99.9999 % are drawn there.
pub fn percentile_x(pct: f64) -> f64 {
    (1.0 / (1.0 - (pct / 100.0).min(0.999_999))).log10()
}

/// Where the percentile axis ends for cases of these successful-post counts: at the percentile
/// the largest sample supports, log10(n), and never before p50 (x = log10 2) so that a run of
/// one post still has an axis.
pub fn percentile_axis_end(ok_posts: impl IntoIterator<Item = u64>) -> f64 {
    let n = ok_posts.into_iter().max().unwrap_or(0).max(2);
    (n as f64).log10()
}

/// A case's curve as (axis x, seconds), stopped at the percentile its `n` successful posts
/// support. The curve is HdrHistogram's: the value at each point holds up to that percentile,
/// so the last point is the value of the first recorded point at or past the limit.
pub fn supported_curve(curve: &[CurvePoint], n: u64) -> Vec<(f64, f64)> {
    let Some(limit) = supported_percentile(n) else {
        return Vec::new();
    };
    let point = |pct: f64, ms: f64| (percentile_x(pct), ms / 1000.0);
    let mut out: Vec<(f64, f64)> = curve
        .iter()
        .take_while(|p| p.percentile < limit)
        .map(|p| point(p.percentile, p.ms))
        .collect();
    if let Some(at) = curve.iter().find(|p| p.percentile >= limit) {
        out.push(point(limit, at.ms));
    }
    out
}

/// The key points of the percentile axis up to `end`: the minimum (0), p50, p90, p99, p99.9,
/// p99.99 where they fit, and the end itself.
pub fn percentile_ticks(end: f64) -> Vec<f64> {
    let mut ticks: Vec<f64> = [0.0, 2f64.log10(), 1.0, 2.0, 3.0, 4.0]
        .into_iter()
        .filter(|x| *x < end - 0.15)
        .collect();
    ticks.push(end);
    ticks
}

/// A percentile axis position as its label: `min`, `50%`, `99.9%`, `98%`.
pub fn percentile_label(x: f64) -> String {
    if x <= 0.0 {
        return "min".into();
    }
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let digits = format!("{p:.2}");
    format!("{}%", digits.trim_end_matches('0').trim_end_matches('.'))
}

/// The most tokens a TPM bucket of `tpm` that is full at time zero can admit in the 60 s
/// ending at `t_s`: its capacity plus the refill (tpm / 60 a second) over the part of the
/// window since zero. Why the tokens of a minute can pass the TPM line in a run's first minute.
pub fn bucket_admits_in_window(tpm: u64, t_s: f64) -> f64 {
    let tpm = tpm as f64;
    tpm + tpm / 60.0 * t_s.clamp(0.0, 60.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(percentile: f64, ms: f64) -> CurvePoint {
        CurvePoint { percentile, ms }
    }

    #[test]
    fn a_sample_of_n_supports_percentiles_up_to_one_minus_one_over_n() {
        // 100 posts: one lies beyond p99, none beyond p99.9. 50: p98. 20: p95. 1: the minimum.
        assert_eq!(supported_percentile(100), Some(99.0));
        assert_eq!(supported_percentile(50), Some(98.0));
        assert_eq!(supported_percentile(20), Some(95.0));
        assert_eq!(supported_percentile(1), Some(0.0));
        assert_eq!(supported_percentile(0), None);
        assert!(supported_percentile(THIN_POSTS - 1).unwrap() < 95.0);
    }

    #[test]
    fn the_axis_of_a_100_post_run_stops_at_p99_not_p99_99() {
        // Regression: the axis ran to 99.99 % (x = 4) on 50 to 100 samples.
        // log10(100) = 2 (p99); log10(50) = 1.69897 (p98) alone; a run of 1 post keeps p50.
        assert!((percentile_axis_end([50, 100, 2]) - 2.0).abs() < 1e-12);
        assert!((percentile_axis_end([50]) - 1.698_970_004).abs() < 1e-9);
        assert!((percentile_axis_end([1]) - std::f64::consts::LOG10_2).abs() < 1e-9);
        assert!((percentile_axis_end([]) - std::f64::consts::LOG10_2).abs() < 1e-9);
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(50f64.log10()), "98%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(2f64.log10()), "50%");
        assert_eq!(percentile_label(0.0), "min");
        // Ticks: the minimum, p50 and p90 fit under p99; p99 is the end itself; nothing past.
        let t = percentile_ticks(2.0);
        assert_eq!(t.len(), 4);
        assert!(
            t[0] == 0.0
                && (t[1] - std::f64::consts::LOG10_2).abs() < 1e-12
                && t[2] == 1.0
                && t[3] == 2.0
        );
    }

    #[test]
    fn a_curve_stops_where_its_own_sample_does() {
        // The burst-50 tier-2 curve of a default run (50 ok posts: p98 at most): the points up
        // to 97.66 % stay; the next one recorded, 98.44 % at 10,899 ms, holds at p98 and ends
        // the line there (x = log10 50); the 100 % point (the maximum) is not drawn at 99.99 %.
        let curve = [
            pt(0.0, 4807.0),
            pt(50.0, 6867.0),
            pt(96.88, 10850.0),
            pt(97.66, 10850.0),
            pt(98.44, 10899.0),
            pt(100.0, 10899.0),
        ];
        let got = supported_curve(&curve, 50);
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], (0.0, 4.807));
        assert!((got[1].0 - std::f64::consts::LOG10_2).abs() < 1e-12);
        let (x, s) = got[4];
        assert!((x - 50f64.log10()).abs() < 1e-9 && s == 10.899, "{got:?}");
        // One ok post: its only supported point is the minimum, at 0.
        assert_eq!(
            supported_curve(&[pt(0.0, 11760.0), pt(100.0, 11760.0)], 1),
            [(0.0, 11.76)]
        );
        assert!(supported_curve(&curve, 0).is_empty());
    }

    #[test]
    fn a_full_bucket_admits_its_capacity_plus_the_refill_within_a_minute() {
        // 30,000 TPM refills 500 a second: 13 s into a run, 30,000 + 13 × 500 = 36,500 tokens
        // may have been admitted in the last 60 s; from a minute on, 2 × 30,000 at most.
        assert_eq!(bucket_admits_in_window(30_000, 0.0), 30_000.0);
        assert_eq!(bucket_admits_in_window(30_000, 13.0), 36_500.0);
        assert_eq!(bucket_admits_in_window(30_000, 600.0), 60_000.0);
    }
}
