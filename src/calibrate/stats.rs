//! Small statistics the fit needs and nothing else in the crate has: the normal quantile,
//! sample quantiles, least squares, the Wilson interval, a seeded bootstrap and the
//! estimators of a log-normal body and of a uniform's end points. Plain functions over slices.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Estimate;

/// The normal score of the 95th percentile (same constant as `openai::latency`).
pub const Z_P95: f64 = 1.644_853_626_951_472_2;
/// The two-sided 95 % normal score.
pub const Z_975: f64 = 1.959_963_984_540_054;

/// The standard-normal quantile, Acklam's rational approximation (relative error < 1.2e-9,
/// ample for plotting positions and interval scores).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    let tail = |q: f64| {
        let q = (-2.0 * q.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.024_25 {
        tail(p)
    } else if p > 1.0 - 0.024_25 {
        -tail(1.0 - p)
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// Sorted copy (NaN-free input assumed; the fit filters non-finite values first).
pub fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

/// The `q` quantile of sorted data, linear between order statistics (type 7).
pub fn quantile_sorted(s: &[f64], q: f64) -> f64 {
    if s.is_empty() {
        return f64::NAN;
    }
    let h = (s.len() - 1) as f64 * q.clamp(0.0, 1.0);
    let (lo, frac) = (h.floor() as usize, h - h.floor());
    let hi = (lo + 1).min(s.len() - 1);
    s[lo] + frac * (s[hi] - s[lo])
}

pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (n − 1).
pub fn sd(xs: &[f64]) -> f64 {
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() as f64 - 1.0)).sqrt()
}

/// The body share of a log-normal sample the fit trusts: below the 90th percentile, safely
/// under p95 where the shipped form's heavier tail begins.
pub const BODY_SHARE: f64 = 0.90;

/// Location and scale (μ, σ) of `ln x` for a sample whose body is log-normal and whose tail
/// above p95 is heavier: a least-squares line through the probability plot of the sorted
/// logs against Blom's normal scores Φ⁻¹((i − 0.375)/(n + 0.25)), using only the points with
/// plotting position ≤ [`BODY_SHARE`]. On an exactly log-normal sample this is nearly as
/// tight as the maximum-likelihood fit; unlike it, the tail points cannot pull σ up.
pub fn lognormal_body(xs: &[f64]) -> (f64, f64) {
    let logs = sorted(&xs.iter().map(|x| x.ln()).collect::<Vec<_>>());
    let n = logs.len() as f64;
    let pts: Vec<(f64, f64)> = logs
        .iter()
        .enumerate()
        .map(|(i, &y)| ((i as f64 + 1.0 - 0.375) / (n + 0.25), y))
        .filter(|(q, _)| *q <= BODY_SHARE)
        .map(|(q, y)| (normal_quantile(q), y))
        .collect();
    if pts.len() < 2 {
        return (quantile_sorted(&logs, 0.5), 0.0);
    }
    let zm = pts.iter().map(|p| p.0).sum::<f64>() / pts.len() as f64;
    let ym = pts.iter().map(|p| p.1).sum::<f64>() / pts.len() as f64;
    let sxy: f64 = pts.iter().map(|(z, y)| (z - zm) * (y - ym)).sum();
    let sxx: f64 = pts.iter().map(|(z, _)| (z - zm) * (z - zm)).sum();
    let sigma = if sxx > 0.0 { (sxy / sxx).max(0.0) } else { 0.0 };
    (ym - sigma * zm, sigma)
}

/// TTFT p50 and p95 from a sample: `exp(μ)` and `exp(μ + 1.645 σ)` of [`lognormal_body`].
pub fn ttft_p50_p95(xs: &[f64]) -> (f64, f64) {
    let (mu, sigma) = lognormal_body(xs);
    (mu.exp(), (mu + Z_P95 * sigma).exp())
}

/// End points of a uniform distribution from a sample: the minimum-variance unbiased
/// estimators `x(1) − R/(n−1)` and `x(n) + R/(n−1)` (R = x(n) − x(1)), each with a 95 %
/// interval from the exact law of the extremes: `(x(1) − a)/(b − a)` is Beta(1, n), so
/// `a` lies in `[x(1) − R̂ t(0.975), x(1) − R̂ t(0.025)]` with `t(q) = 1 − (1 − q)^(1/n)` and
/// `R̂ = R (n+1)/(n−1)` the unbiased range (and mirrored for `b`).
pub fn uniform_ends(xs: &[f64]) -> (Estimate, Estimate) {
    let s = sorted(xs);
    let n = s.len() as f64;
    let (lo, hi) = (s[0], s[s.len() - 1]);
    let r = hi - lo;
    let pad = r / (n - 1.0);
    let full = r * (n + 1.0) / (n - 1.0);
    let t = |q: f64| 1.0 - (1.0 - q).powf(1.0 / n);
    let (t_lo, t_hi) = (t(0.025), t(0.975));
    let min = Estimate {
        value: lo - pad,
        low: lo - full * t_hi,
        high: lo - full * t_lo,
    };
    let max = Estimate {
        value: hi + pad,
        low: hi + full * t_lo,
        high: hi + full * t_hi,
    };
    (min, max)
}

/// End points of a uniform from its `p` and `1 − p` quantiles (`a + pR`, `a + (1 − p)R`):
/// less precise than [`uniform_ends`] on clean data, but a noisy or outlying value at either
/// extreme cannot move it. The interval is normal with this estimator's asymptotic standard
/// deviation for a uniform, `R·√(p(1 − p)/(1 − 2p))/√n` (from the order statistics'
/// covariance: the centre has variance `pR²/2n`, the range `2pR²/((1 − 2p)n)`, uncorrelated).
pub fn uniform_ends_trimmed(xs: &[f64], p: f64) -> (Estimate, Estimate) {
    let s = sorted(xs);
    let n = s.len() as f64;
    let (lo, hi) = (quantile_sorted(&s, p), quantile_sorted(&s, 1.0 - p));
    let r = (hi - lo) / (1.0 - 2.0 * p);
    let centre = (lo + hi) / 2.0;
    let half = Z_975 * r * (p * (1.0 - p) / (1.0 - 2.0 * p)).sqrt() / n.sqrt();
    let at = |v: f64| Estimate {
        value: v,
        low: v - half,
        high: v + half,
    };
    (at(centre - r / 2.0), at(centre + r / 2.0))
}

/// The Wilson score interval (95 %) for `hits` out of `n`.
pub fn wilson(hits: u32, n: u32) -> Estimate {
    let (k, n) = (hits as f64, n as f64);
    let p = k / n;
    let z2 = Z_975 * Z_975;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z_975 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    Estimate {
        value: p,
        low: (centre - half).max(0.0),
        high: (centre + half).min(1.0),
    }
}

/// Least squares `y ≈ X β` for up to three columns (normal equations, Gaussian elimination
/// with partial pivoting); `None` when the columns are collinear.
pub fn least_squares<const K: usize>(rows: &[([f64; K], f64)]) -> Option<[f64; K]> {
    let mut a = [[0.0; K]; K];
    let mut b = [0.0; K];
    for (x, y) in rows {
        for i in 0..K {
            b[i] += x[i] * y;
            for j in 0..K {
                a[i][j] += x[i] * x[j];
            }
        }
    }
    // A pivot this small next to its column's own scale means the columns are collinear.
    let scale: [f64; K] = std::array::from_fn(|i| a[i][i]);
    for col in 0..K {
        let piv = (col..K).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() <= 1e-10 * scale[col] || a[piv][col].is_nan() {
            return None;
        }
        a.swap(col, piv);
        b.swap(col, piv);
        let pivot_row = a[col];
        for r in col + 1..K {
            let f = a[r][col] / pivot_row[col];
            for (x, p) in a[r][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[r] -= f * b[col];
        }
    }
    let mut beta = [0.0; K];
    for i in (0..K).rev() {
        let s: f64 = (i + 1..K).map(|j| a[i][j] * beta[j]).sum();
        beta[i] = (b[i] - s) / a[i][i];
    }
    Some(beta)
}

/// A seeded percentile bootstrap: `stat` over `resamples` resamples (with replacement) of
/// `xs`, each statistic's 2.5th and 97.5th percentiles. Deterministic for a given seed.
pub fn bootstrap<T: Clone, const K: usize>(
    xs: &[T],
    resamples: u32,
    seed: u64,
    stat: impl Fn(&[T]) -> Option<[f64; K]>,
) -> [(f64, f64); K] {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draws: [Vec<f64>; K] = std::array::from_fn(|_| Vec::new());
    let mut buf = Vec::with_capacity(xs.len());
    for _ in 0..resamples {
        buf.clear();
        buf.extend((0..xs.len()).map(|_| xs[rng.random_range(0..xs.len())].clone()));
        if let Some(v) = stat(&buf) {
            for (d, x) in draws.iter_mut().zip(v) {
                if x.is_finite() {
                    d.push(x);
                }
            }
        }
    }
    draws.map(|d| {
        let s = sorted(&d);
        (quantile_sorted(&s, 0.025), quantile_sorted(&s, 0.975))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn normal_quantile_matches_the_tables() {
        assert!(close(normal_quantile(0.5), 0.0, 1e-12));
        assert!(close(normal_quantile(0.975), Z_975, 1e-8));
        assert!(close(normal_quantile(0.95), Z_P95, 1e-8));
        assert!(close(normal_quantile(0.001), -3.090_232_306, 1e-8));
    }

    /// For x(1) = 10, x(n) = 50, n = 5: R = 40, pad R/(n−1) = 10, so the ends are 0 and 60.
    /// The unbiased range is 40 × 6/4 = 60; t(0.025) = 1 − 0.975^(1/5) = 0.005050,
    /// t(0.975) = 1 − 0.025^(1/5) = 0.521823: min in [10 − 60 × 0.521823, 10 − 60 × 0.005050]
    /// = [−21.309, 9.697] and max in [50.303, 81.309].
    #[test]
    fn uniform_ends_on_a_known_sample() {
        let (min, max) = uniform_ends(&[30.0, 10.0, 50.0, 20.0, 40.0]);
        assert!(close(min.value, 0.0, 1e-12) && close(max.value, 60.0, 1e-12));
        assert!(
            close(min.low, -21.309, 1e-3) && close(min.high, 9.697, 1e-3),
            "{min:?}"
        );
        assert!(
            close(max.low, 50.303, 1e-3) && close(max.high, 81.309, 1e-3),
            "{max:?}"
        );
    }

    /// 0, 1, ..., 100: q10 = 10, q90 = 90, so R = 80/0.8 = 100 and the ends are 0 and 100.
    #[test]
    fn trimmed_uniform_ends_on_a_known_sample() {
        let xs: Vec<f64> = (0..=100).map(f64::from).collect();
        let (min, max) = uniform_ends_trimmed(&xs, 0.1);
        assert!(close(min.value, 0.0, 1e-9) && close(max.value, 100.0, 1e-9));
        // √(0.1 × 0.9 / 0.8) = 0.335.
        let half = Z_975 * 0.1125f64.sqrt() * 100.0 / 101f64.sqrt();
        assert!(close(max.high - max.value, half, 1e-9));
    }

    /// 8 of 10, z = 1.96: the textbook Wilson interval (0.4902, 0.9433).
    #[test]
    fn wilson_interval_by_hand() {
        let w = wilson(8, 10);
        assert!(close(w.value, 0.8, 1e-12));
        assert!(
            close(w.low, 0.4902, 1e-4) && close(w.high, 0.9433, 1e-4),
            "{w:?}"
        );
        assert_eq!(wilson(0, 5).low, 0.0);
    }

    /// Points exactly on the probability plot of ln x = 6 + 0.4 z give back μ = 6, σ = 0.4.
    #[test]
    fn lognormal_body_recovers_an_exact_sample() {
        let n = 40.0;
        let xs: Vec<f64> = (1..=40)
            .map(|i| (6.0 + 0.4 * normal_quantile((i as f64 - 0.375) / (n + 0.25))).exp())
            .collect();
        let (mu, sigma) = lognormal_body(&xs);
        assert!(close(mu, 6.0, 1e-9) && close(sigma, 0.4, 1e-9));
        // A tail far above the body does not move the fit.
        let mut tailed = xs.clone();
        tailed[39] = 1e6;
        assert_eq!(lognormal_body(&tailed), (mu, sigma));
    }

    #[test]
    fn least_squares_solves_an_exact_system_and_refuses_collinear_columns() {
        let rows: Vec<([f64; 2], f64)> = (0..5)
            .map(|i| ([1.0, i as f64], 3.0 + 2.0 * i as f64))
            .collect();
        let b = least_squares(&rows).unwrap();
        assert!(close(b[0], 3.0, 1e-12) && close(b[1], 2.0, 1e-12));
        let flat: Vec<([f64; 2], f64)> = (0..5).map(|_| ([1.0, 1.0], 1.0)).collect();
        assert_eq!(least_squares(&flat), None);
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed() {
        let xs: Vec<f64> = (0..50).map(f64::from).collect();
        let f = |s: &[f64]| Some([mean(s)]);
        assert_eq!(bootstrap(&xs, 100, 7, f), bootstrap(&xs, 100, 7, f));
        let [(lo, hi)] = bootstrap(&xs, 200, 7, f);
        assert!(lo < 24.5 && 24.5 < hi);
    }

    /// Acklam's approximation against Python's `statistics.NormalDist().inv_cdf` (Wichura's
    /// AS 241, accurate to about 1e-16) in each of its three regions: the lower tail below
    /// 0.02425, the centre and the upper tail above 0.97575, at both breakpoints, deep in
    /// both tails and at the clamp's ends (p = 0 is taken as 1e-300, p = 1 as 1 − 2^-53).
    /// Acklam's relative error is below 1.2e-9, hence the tolerance of 2e-9 × max(1, |z|).
    #[test]
    fn normal_quantile_in_each_region_and_at_the_clamp() {
        let table = [
            (0.0, -37.047_096_299_361_2),
            (1e-300, -37.047_096_299_361_2),
            (1e-6, -4.753_424_308_822_899),
            (0.001, -3.090_232_306_167_813),
            (0.02, -2.053_748_910_631_822_5),
            (0.024_25, -1.972_961_051_311_884_5),
            (0.03, -1.880_793_608_151_251),
            (0.2, -0.841_621_233_572_914_2),
            (0.7, 0.524_400_512_708_040_7),
            (0.97, 1.880_793_608_151_250_4),
            (0.975_75, 1.972_961_051_311_884_7),
            (0.98, 2.053_748_910_631_822),
            (0.999, 3.090_232_306_167_813),
            (1.0 - 1e-6, 4.753_424_308_817_089),
            (1.0, 8.209_536_151_601_386),
            (1.5, 8.209_536_151_601_386),
        ];
        for (p, z) in table {
            let got = normal_quantile(p);
            assert!(
                close(got, z, 2e-9 * z.abs().max(1.0)),
                "p = {p}: {got} vs {z}"
            );
        }
    }

    /// Type-7 quantiles of 1, 2, 4, 8 by hand: h = 3q; q = 0.5 gives h = 1.5, halfway from
    /// 2 to 4 = 3; q = 0.25 gives h = 0.75, 1 + 0.75 × 1 = 1.75; q = 1 (and above) the
    /// last, 8; q = 0 (and below) the first, 1. No data: NaN.
    #[test]
    fn quantile_sorted_interpolates_between_order_statistics() {
        let s = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_sorted(&s, 0.5), 3.0);
        assert_eq!(quantile_sorted(&s, 0.25), 1.75);
        assert_eq!(quantile_sorted(&s, 1.0), 8.0);
        assert_eq!(quantile_sorted(&s, 2.0), 8.0);
        assert_eq!(quantile_sorted(&s, 0.0), 1.0);
        assert_eq!(quantile_sorted(&s, -1.0), 1.0);
        assert_eq!(quantile_sorted(&[5.0], 0.7), 5.0);
        assert!(quantile_sorted(&[], 0.5).is_nan());
        assert_eq!(sorted(&[3.0, -1.0, 2.0]), vec![-1.0, 2.0, 3.0]);
    }

    /// 2, 4, 4, 4, 5, 5, 7, 9: mean 40/8 = 5, squares about it 9+1+1+1+0+0+4+16 = 32, so
    /// the sample sd is √(32/7) = 2.138090 (the population one would be 2).
    #[test]
    fn mean_and_sample_sd_by_hand() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&xs), 5.0);
        assert!(close(sd(&xs), (32.0f64 / 7.0).sqrt(), 1e-12), "{}", sd(&xs));
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
    }

    /// ln x = 6 + 0.4 z exactly: p50 = e^6 = 403.4288, p95 = e^(6 + 1.644854 × 0.4) =
    /// 778.9458. One point: its own log and σ = 0. Two points (plotting positions 0.278
    /// and 0.722, both in the body) are a line already: ln 100 and ln 400 at z = ∓0.5894
    /// give μ = ln 200, σ = ln 2 / 0.5894.
    #[test]
    fn ttft_from_the_body_and_the_smallest_samples() {
        let n = 40.0;
        let xs: Vec<f64> = (1..=40)
            .map(|i| (6.0 + 0.4 * normal_quantile((i as f64 - 0.375) / (n + 0.25))).exp())
            .collect();
        let (p50, p95) = ttft_p50_p95(&xs);
        assert!(close(p50, 403.428_793_492_735, 1e-6), "{p50}");
        assert!(close(p95, 778.945_787_311_256, 1e-6), "{p95}");
        assert_eq!(lognormal_body(&[3f64.exp()]), (3f64.exp().ln(), 0.0));
        let (mu, sigma) = lognormal_body(&[400.0, 100.0]);
        // z for (2 − 0.375)/2.25 = 0.7222: Python's NormalDist gives 0.5894557978
        let z = normal_quantile(1.625 / 2.25);
        assert!(close(z, 0.589_455_797_849_778_5, 2e-9), "{z}");
        assert!(close(mu, 200f64.ln(), 1e-12), "{mu}");
        assert!(close(sigma, 2f64.ln() / z, 1e-12), "{sigma}");
    }

    /// y = 1 + 2a − 3b on six rows whose columns are not collinear; then two columns that
    /// differ by d·i (i = 0..4): the pivot left after eliminating the first is Σ(d(i − 2))²
    /// = 10d² against the column's own scale Σ1 = 5, so d = 1e-3 (ratio 2e-6) is solved
    /// and d = 3e-6 (ratio 1.8e-11, under 1e-10) is refused as collinear.
    #[test]
    fn least_squares_three_columns_and_the_collinearity_threshold() {
        let pts = [
            (0.0, 0.0),
            (1.0, 0.0),
            (0.0, 1.0),
            (2.0, 1.0),
            (1.0, 3.0),
            (3.0, 2.0),
        ];
        let rows: Vec<([f64; 3], f64)> = pts
            .iter()
            .map(|&(a, b)| ([1.0, a, b], 1.0 + 2.0 * a - 3.0 * b))
            .collect();
        let beta = least_squares(&rows).unwrap();
        for (got, want) in beta.iter().zip([1.0, 2.0, -3.0]) {
            assert!(close(*got, want, 1e-9), "{beta:?}");
        }
        let near = |d: f64| -> Vec<([f64; 2], f64)> {
            (0..5)
                .map(|i| ([1.0, 1.0 + d * i as f64], 4.0 + 2.0 * d * i as f64))
                .collect()
        };
        // y = 2 + 2 x2 when x2 = 1 + d i: β = (2, 2).
        let b = least_squares(&near(1e-3)).unwrap();
        assert!(close(b[0], 2.0, 1e-6) && close(b[1], 2.0, 1e-6), "{b:?}");
        assert_eq!(least_squares(&near(3e-6)), None);
        let nan: Vec<([f64; 1], f64)> = vec![([f64::NAN], 1.0)];
        assert_eq!(least_squares(&nan), None);
    }

    /// Acklam's regions as published: the lower tail for p < 0.02425, the centre for
    /// 0.02425 <= p <= 0.97575, the upper tail above. At the breakpoints themselves the value is
    /// the central rational's; evaluated in Python (the same coefficients, Horner's order) it is
    /// ∓1.9729610490848712, where the tail's gives ∓1.972961053530962 (both within Acklam's
    /// 1.2e-9 of Φ⁻¹ = ∓1.9729610513118845, so the table test cannot tell them apart; they
    /// differ by 4.4e-9, far above the 1e-14 allowed here).
    #[test]
    fn acklams_breakpoints_belong_to_the_central_region() {
        let central = 1.972_961_049_084_871_2;
        let lower = normal_quantile(0.024_25);
        let upper = normal_quantile(1.0 - 0.024_25);
        assert!(close(lower, -central, 1e-14), "{lower}");
        assert!(close(upper, central, 1e-14), "{upper}");
    }

    /// An asymmetric sample, 0 1 2 3 5 8 13 21 34 55 89 (n = 11), at p = 0.1: type 7 puts
    /// q10 at h = 1 (x = 1) and q90 at h = 9 (x = 55), so R = 54/0.8 = 67.5, the centre 28
    /// and the ends 28 ∓ 33.75 = −5.75 and 61.75. The half-width is 1.959964 × 67.5 ×
    /// √(0.1 × 0.9/0.8)/√11 = 1.959964 × 67.5 × 0.3354102/3.3166248 = 13.379250: min in
    /// [−19.129250, 7.629250], max in [48.370750, 75.129250], each edge checked.
    #[test]
    fn trimmed_uniform_ends_on_an_asymmetric_sample_every_edge() {
        let xs = [89.0, 0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0, 21.0, 34.0, 55.0];
        let (min, max) = uniform_ends_trimmed(&xs, 0.1);
        let half = 13.379_250_419_199_348;
        for (e, v) in [(min, -5.75), (max, 61.75)] {
            assert!(close(e.value, v, 1e-9), "{e:?}");
            assert!(close(e.low, v - half, 1e-9), "{e:?}");
            assert!(close(e.high, v + half, 1e-9), "{e:?}");
        }
    }
}
