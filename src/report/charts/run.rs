//! The run's charts: post latency histograms with the claim's 2 s and 5 s lines, the percentile
//! distribution of every case on one chart, every post over time, the timeline in bins that fit
//! the run,
//! tokens per minute against the tier's TPM limit, and the monthly cost of two models.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{bins, builder, legend, Drawn, PALETTE};
use crate::metrics::cost::{monthly_usd, SEED_POSTS_PER_DAY};
use crate::metrics::PostOutcome;
use crate::openai::catalog::PriceTable;
use crate::report::claims::{best_case, usd_per_ok_post};
use crate::report::{CaseResult, RunResult};

/// The claim's band of post latency, in seconds: shaded on the percentile chart.
const CLAIM_S: (f64, f64) = (2.0, 5.0);

/// The models the cost chart compares.
const COST_MODELS: [&str; 2] = ["gpt-4o", "gpt-4o-mini"];

/// $ per successful post for `model`: measured from a case of that model, else projected from
/// the tokens of the run's best case at that model's prices. `None` without a price or a post.
pub fn usd_per_post(r: &RunResult, prices: &PriceTable, model: &str) -> Option<(f64, bool)> {
    let (case, measured) = match best_case(r, Some(model)) {
        Some(c) => (c, true),
        None => (best_case(r, None)?, false),
    };
    usd_per_ok_post(case, model, prices).map(|usd| (usd, measured))
}

/// Monthly cost at the measured (or projected) $/post, for each model and the seed's loads.
pub(super) fn cost<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &RunResult,
    prices: &PriceTable,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let loads: Vec<(u64, u64)> = [50u64, 100]
        .iter()
        .flat_map(|u| SEED_POSTS_PER_DAY.iter().map(move |p| (*u, *p)))
        .collect();
    let models: Vec<(&str, f64, bool)> = COST_MODELS
        .iter()
        .filter_map(|m| usd_per_post(r, prices, m).map(|(usd, measured)| (*m, usd, measured)))
        .collect();
    let monthly = |users: u64, ppd: u64, usd: f64| monthly_usd(users as f64, ppd as f64, usd);
    let top = models
        .iter()
        .flat_map(|(_, usd, _)| loads.iter().map(move |(u, p)| monthly(*u, *p, *usd)))
        .fold(1.0f64, f64::max)
        * 3.0;
    let bottom = models
        .iter()
        .flat_map(|(_, usd, _)| loads.iter().map(move |(u, p)| monthly(*u, *p, *usd)))
        .fold(top, f64::min)
        / 3.0;
    let n = loads.len() as f64;
    let mut chart = builder(root, "Monthly OpenAI cost at the measured $/post", 80)
        .build_cartesian_2d(0.0..n, (bottom.max(0.01)..top).log_scale())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(loads.len() * 2 + 1)
        .x_label_formatter(&|x| {
            let i = x.floor() as usize;
            if (x - x.floor() - 0.5).abs() < 0.01 && i < loads.len() {
                format!("{} users x {}/day", loads[i].0, loads[i].1)
            } else {
                String::new()
            }
        })
        .y_desc("USD per month (log scale)")
        .x_desc("users x posts per user per day, 30 days")
        .y_label_formatter(&|y| format!("${y:.2}"))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    let width = 0.8 / models.len().max(1) as f64;
    for (k, (model, usd, measured)) in models.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let label = format!(
            "{model}: ${usd:.5}/post ({})",
            if *measured {
                "measured"
            } else {
                "projected from the measured tokens"
            }
        );
        chart
            .draw_series(loads.iter().enumerate().map(|(i, (u, p))| {
                let x0 = i as f64 + 0.1 + k as f64 * width;
                Rectangle::new(
                    [
                        (x0, bottom.max(0.01)),
                        (x0 + width * 0.9, monthly(*u, *p, *usd)),
                    ],
                    color.filled(),
                )
            }))?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

pub(super) fn histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let ok: Vec<f64> = c
        .measured
        .posts_sample
        .iter()
        .filter(|p| p.outcome == PostOutcome::Ok)
        .map(|p| p.latency_ms / 1000.0)
        .collect();
    let max_s = ok.iter().copied().fold(6.0f64, f64::max).ceil();
    let bin = 0.25;
    let bins = (max_s / bin).ceil() as usize;
    let mut counts = vec![0u32; bins + 1];
    for v in &ok {
        counts[((v / bin) as usize).min(bins)] += 1;
    }
    let top = counts.iter().copied().max().unwrap_or(0).max(1) + 1;
    let title = format!(
        "Post latency: {} ({}), {} of {} posts ok",
        c.label(),
        c.inputs.model,
        c.measured.posts.ok,
        c.measured.posts.total
    );
    let mut chart = builder(root, &title, 60).build_cartesian_2d(0.0..max_s, 0u32..top)?;
    chart
        .configure_mesh()
        .x_desc("latency of successful posts (s)")
        .y_desc("posts")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    chart.draw_series(
        counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| {
                let x0 = i as f64 * bin;
                Rectangle::new([(x0, 0), (x0 + bin, *n)], PALETTE[0].mix(0.8).filled())
            }),
    )?;
    for (at, label) in [(2.0, "claim: 2 s"), (5.0, "claim: 5 s")] {
        chart
            .draw_series(LineSeries::new(
                vec![(at, 0), (at, top)],
                RED.stroke_width(2),
            ))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
        chart.draw_series(std::iter::once(Text::new(
            label.to_string(),
            (at + 0.05, top - 1),
            ("sans-serif", 16).into_font().color(&RED),
        )))?;
    }
    Ok(())
}

pub(super) fn percentiles<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    // x = log10(1 / (1 - p)): 0 at p50 would be 0.3; 1 = 90 %, 2 = 99 %, 3 = 99.9 %.
    let x_of = |pct: f64| (1.0 / (1.0 - (pct / 100.0).min(0.9999))).log10();
    let max_ms = r
        .cases
        .iter()
        .flat_map(|c| c.measured.percentile_curve.iter().map(|p| p.ms))
        .fold(CLAIM_S.1 * 1_100.0, f64::max);
    // The right margin leaves room for the last label, 99.99 %, centred on the axis's end.
    let mut chart = builder(root, "Post latency by percentile, all cases", 60)
        .margin_right(40)
        .build_cartesian_2d(0.0..4.0f64, 0.0..(max_ms / 1000.0 * 1.05))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency of successful posts (s)")
        .x_labels(5)
        .x_label_formatter(&|x| {
            let p = 100.0 * (1.0 - 10f64.powf(-x));
            let digits = format!("{p:.4}");
            format!("{}%", digits.trim_end_matches('0').trim_end_matches('.'))
        })
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    let band = RGBColor(255, 224, 160);
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, CLAIM_S.0), (4.0, CLAIM_S.1)],
            band.mix(0.7).filled(),
        )))?
        .label("claimed: 2-5 s")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], band.filled()));
    for (i, c) in r.cases.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let pts: Vec<(f64, f64)> = c
            .measured
            .percentile_curve
            .iter()
            .map(|p| (x_of(p.percentile), p.ms / 1000.0))
            .collect();
        if pts.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(pts, color.stroke_width(2)))?
            .label(c.label())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    // Below the band: the curves of a burst start at or above 2 s.
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

pub(super) fn posts_over_time<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &CaseResult,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let pts = &c.measured.posts_sample;
    let max_x = pts.iter().map(|p| p.sent_s).fold(1.0f64, f64::max) * 1.05;
    let max_y = pts
        .iter()
        .map(|p| p.latency_ms / 1000.0)
        .fold(1.0f64, f64::max)
        * 1.05;
    let mut chart = builder(root, &format!("Every post over time: {}", c.label()), 60)
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("intended send time (s since start)")
        .y_desc("post latency (s)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    for (outcome, color, label) in [
        (PostOutcome::Ok, PALETTE[2], "ok"),
        (PostOutcome::RateLimited, PALETTE[3], "failed on 429"),
        (PostOutcome::OtherFailure, PALETTE[4], "failed otherwise"),
    ] {
        chart
            .draw_series(
                pts.iter()
                    .filter(|p| p.outcome == outcome)
                    .map(|p| Circle::new((p.sent_s, p.latency_ms / 1000.0), 3, color.filled())),
            )?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

pub(super) fn timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let binned = bins::binned(&c.measured);
    let width = binned.width_ms as f64 / 1000.0;
    let per = bins::width_name(binned.width_ms);
    let max_x = (binned.bins.len().max(1) as f64 * width).max(width);
    let max_y = binned
        .bins
        .iter()
        .flat_map(|b| {
            [
                b.in_flight as f64,
                b.completions as f64,
                b.rate_limited as f64,
            ]
        })
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = builder(root, &format!("Timeline in {per} bins: {}", c.label()), 60)
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc(format!("time since start (s), in {per} bins"))
        .y_desc(format!("posts in flight; posts or 429s per {per}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    type Pick = fn(&bins::Bin) -> f64;
    let series: [(&str, RGBColor, Pick); 3] = [
        ("posts in flight (end of bin)", PALETTE[0], |b| {
            b.in_flight as f64
        }),
        ("posts completed", PALETTE[2], |b| b.completions as f64),
        ("429 responses", PALETTE[3], |b| b.rate_limited as f64),
    ];
    for (label, color, pick) in series {
        chart
            .draw_series(LineSeries::new(
                binned
                    .bins
                    .iter()
                    .map(|b| (b.start_s + width / 2.0, pick(b))),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}

pub(super) fn tokens_per_minute<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &CaseResult,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let t = &c.measured.timeline;
    // Tokens answered in the 60 s ending at each second.
    let rolling: Vec<(f64, f64)> = (0..t.len())
        .map(|i| {
            let from = i.saturating_sub(59);
            (
                i as f64 + 1.0,
                t[from..=i].iter().map(|s| s.tokens as f64).sum(),
            )
        })
        .collect();
    let limit = c.inputs.limits.tpm as f64;
    let max_y = rolling.iter().map(|p| p.1).fold(limit, f64::max) * 1.1;
    let max_x = t.len().max(1) as f64 + 1.0;
    let mut chart = builder(
        root,
        &format!("Tokens per minute against the TPM limit: {}", c.label()),
        90,
    )
    .build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("tokens in the last 60 s")
        .y_label_formatter(&|y| format!("{y:.0}"))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    chart
        .draw_series(LineSeries::new(rolling, PALETTE[0].stroke_width(2)))?
        .label("tokens used (prompt + completion)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0].stroke_width(2)));
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, limit), (max_x, limit)],
            RED.stroke_width(2),
        ))?
        .label(format!(
            "tier {} limit: {} TPM",
            c.tier, c.inputs.limits.tpm
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    Ok(())
}
