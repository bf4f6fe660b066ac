//! The run's charts: post latency histograms with the claim's 2 s and 5 s lines and the failed
//! posts beside them, the percentile distribution of every case on one chart (as far as each
//! sample supports), every post over time, the timeline in bins shared by the run's cases, and
//! tokens per minute against the tier's TPM limit. The monthly cost is in `charts/cost.rs`.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{bins, builder, label_above, legend, plot_builder, rules, under_title, Drawn, PALETTE};
use crate::metrics::{PostOutcome, PostPoint};
use crate::openai::catalog::PriceTable;
use crate::report::claims::{best_case, usd_per_ok_post};
use crate::result::{CaseResult, RunResult};

/// The claim's band of post latency, in seconds: shaded on the percentile chart.
const CLAIM_S: (f64, f64) = (2.0, 5.0);

/// $ per successful post for `model`: measured from a case of that model, else projected from
/// the tokens of the run's best case at that model's prices. `None` without a price or a post.
pub fn usd_per_post(r: &RunResult, prices: &PriceTable, model: &str) -> Option<(f64, bool)> {
    let (case, measured) = match best_case(r, Some(model)) {
        Some(c) => (c, true),
        None => (best_case(r, None)?, false),
    };
    usd_per_ok_post(case, model, prices).map(|usd| (usd, measured))
}

/// The failed posts' bar: vermillion, with the ok posts' blue beside it.
const FAILED: RGBColor = PALETTE[3];

/// The histogram's counts from the sampled posts: successful posts by latency in bins of
/// `bin` s (at least up to 6 s, the last bin holding the slowest), and the failed posts of the
/// same sample, so both bars count the same posts (a run past the 5,000-post sample once set
/// every failed post beside the sample's successes).
pub(super) fn histogram_counts(sample: &[PostPoint], bin: f64) -> (Vec<u64>, u64) {
    let ok: Vec<f64> = sample
        .iter()
        .filter(|p| p.outcome == PostOutcome::Ok)
        .map(|p| p.latency_ms / 1000.0)
        .collect();
    let max_s = ok.iter().copied().fold(6.0f64, f64::max).ceil();
    let bins = (max_s / bin).ceil() as usize;
    let mut counts = vec![0u64; bins + 1];
    for v in &ok {
        counts[((v / bin) as usize).min(bins)] += 1;
    }
    (counts, sample.len() as u64 - ok.len() as u64)
}

/// The histogram of successful posts' latency in 0.25 s bins, the claim's 2 s and 5 s lines
/// labelled above the plot (never on a bar), and at the right a panel with one bar: the failed
/// posts, on the same count scale (their latency is no answer to the claim).
pub(super) fn histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let bin = 0.25;
    let (counts, failed) = histogram_counts(&c.measured.posts_sample, bin);
    let max_s = counts.len().saturating_sub(1) as f64 * bin;
    // Each panel on its own count scale, each with its axis: on a shared one, 243 failures
    // flattened 7 successes into the axis, and their latencies are the chart's subject.
    let top = counts.iter().copied().max().unwrap_or(0).max(1) + 1;
    let failed_top = failed + (failed / 12).max(1);
    let sampled = c.measured.posts_sample.len() as u64;
    let of = if sampled < c.measured.posts.total {
        format!(" (bars: a uniform sample of {sampled})")
    } else {
        String::new()
    };
    let title = format!(
        "Post latency: {} ({}), {} of {} posts ok{of}",
        c.label(),
        c.inputs.model,
        c.measured.posts.ok,
        c.measured.posts.total
    );
    let (_, body) = under_title(root, &title, 24)?;
    let (main, side) = body.split_horizontally(body.dim_in_pixel().0 - 160);
    let mut chart = plot_builder(&main, 60).build_cartesian_2d(0.0..max_s, 0u64..top)?;
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
        chart.draw_series(LineSeries::new(
            vec![(at, 0), (at, top)],
            RED.stroke_width(2),
        ))?;
        label_above(root, &chart, (at, top), label, &RED)?;
    }
    let mut side = ChartBuilder::on(&side)
        .margin(16)
        .margin_top(4)
        .margin_left(4)
        .x_label_area_size(50)
        .y_label_area_size(44)
        .build_cartesian_2d(0.0..1.0, 0u64..failed_top)?;
    side.configure_mesh()
        .disable_mesh()
        .x_labels(1)
        .y_labels(5)
        .x_label_formatter(&|_| String::new())
        .label_style(("sans-serif", 14))
        .x_desc("failed, own scale")
        .axis_desc_style(("sans-serif", 14))
        .draw()?;
    side.draw_series(std::iter::once(Rectangle::new(
        [(0.2, 0), (0.8, failed)],
        FAILED.filled(),
    )))?;
    label_above(
        root,
        &side,
        (0.5, failed_top),
        &format!("{failed} failed"),
        &BLACK,
    )?;
    Ok(())
}

/// Every case's latency against percentile, on a 1/(1 − p) axis that stops where the largest
/// sample supports a percentile (p(1 − 1/n): [`rules::percentile_axis_end`]), each curve at
/// its own; a curve from fewer than [`rules::THIN_POSTS`] successful posts is dashed and says
/// how few.
pub(super) fn percentiles<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let cases = super::charted(r);
    let n_max = cases.iter().map(|c| c.measured.posts.ok).max().unwrap_or(0);
    let end = rules::percentile_axis_end(cases.iter().map(|c| c.measured.posts.ok));
    let max_ms = cases
        .iter()
        .flat_map(|c| c.measured.percentile_curve.iter().map(|p| p.ms))
        .fold(CLAIM_S.1 * 1_100.0, f64::max);
    let y_max = max_ms / 1000.0 * 1.05;
    let mut chart = builder(root, "Post latency by percentile, all cases", 60)
        .margin_right(40)
        .build_cartesian_2d(0.0..end, 0.0..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .x_desc(format!(
            "percentile (the axis stops at 1 - 1/n, the highest with a post beyond it; n = {n_max})"
        ))
        .y_desc("latency of successful posts (s)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 16))
        .draw()?;
    // The percentile ticks where the axis has them (p50, p90, p99, …, and its end).
    let tick_style = ("sans-serif", 16)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Top));
    for x in rules::percentile_ticks(end) {
        chart.draw_series(LineSeries::new(
            vec![(x, 0.0), (x, y_max)],
            BLACK.mix(0.2).stroke_width(1),
        ))?;
        let (px, py) = chart.backend_coord(&(x, 0.0));
        root.draw_text(&rules::percentile_label(x), &tick_style, (px, py + 6))?;
    }
    let band = RGBColor(255, 224, 160);
    chart
        .draw_series(std::iter::once(Rectangle::new(
            [(0.0, CLAIM_S.0), (end, CLAIM_S.1)],
            band.mix(0.7).filled(),
        )))?
        .label("claimed: 2-5 s")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], band.filled()));
    for (i, c) in cases.iter().enumerate() {
        let color = super::case_colour(i);
        let n = c.measured.posts.ok;
        let pts = rules::supported_curve(&c.measured.percentile_curve, n);
        if pts.is_empty() {
            continue;
        }
        let thin = n < rules::THIN_POSTS;
        let label = if thin {
            let posts = if n == 1 { "post" } else { "posts" };
            format!("{}: only {n} ok {posts} (dashed)", c.label())
        } else {
            format!("{}: {n} ok posts", c.label())
        };
        let style = color.stroke_width(2);
        let series = if thin {
            chart.draw_series(DashedLineSeries::new(pts.clone(), 8, 6, style))?;
            chart.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))?
        } else {
            chart.draw_series(LineSeries::new(pts, style))?
        };
        series.label(label).legend(move |(x, y)| {
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
    let (strip, body) = under_title(root, &format!("Every post over time: {}", c.label()), 28)?;
    let mut chart = plot_builder(&body, 60).build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("intended send time (s since start)")
        .y_desc("post latency (s)")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    // The colours of the waterfall and the histogram: blue ok, vermillion 429.
    let kinds = [
        (PostOutcome::Ok, PALETTE[0], "ok"),
        (PostOutcome::RateLimited, PALETTE[3], "failed on 429"),
        (PostOutcome::OtherFailure, PALETTE[4], "failed otherwise"),
    ];
    let mut labels = Vec::new();
    for (outcome, color, label) in kinds {
        let mine: Vec<_> = pts.iter().filter(|p| p.outcome == outcome).collect();
        chart.draw_series(
            mine.iter()
                .map(|p| Circle::new((p.sent_s, p.latency_ms / 1000.0), 3, color.filled())),
        )?;
        labels.push((format!("{label}: {}", mine.len()), color));
    }
    // The key above the plot, where no point can be under it.
    let keyed: Vec<super::Key> = labels.iter().map(|(l, c)| (l.as_str(), *c, 6)).collect();
    super::keys(&strip, &keyed)?;
    Ok(())
}

/// The case's timeline in the bins every case of the run shares (`run`: the charted cases), on
/// the same time axis, so a peak reads the same in each case's chart.
pub(super) fn timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &CaseResult,
    run: &[&CaseResult],
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let width_ms = bins::shared_width_ms(run.iter().map(|c| &c.measured));
    let binned = bins::binned_at(&c.measured, width_ms);
    let width = width_ms as f64 / 1000.0;
    let per = bins::width_name(width_ms);
    let max_x = run
        .iter()
        .map(|c| bins::binned_at(&c.measured, width_ms).bins.len())
        .max()
        .unwrap_or(0)
        .max(binned.bins.len())
        .max(1) as f64
        * width;
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
    let title = format!(
        "Timeline in {per} bins (the run's, shared by its cases): {}",
        c.label()
    );
    let mut chart = builder(root, &title, 60).build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
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

/// Tokens per minute: what the calls used (counted when they were answered) and what the
/// admitted requests reserved from the bucket (estimated prompt + max_tokens, when they were
/// sent), each over the last 60 s, against the TPM limit and the most a bucket that starts
/// full can admit in that window (its capacity plus the refill): why the lines may cross the
/// limit in a run's first minute without a 429.
pub(super) fn tokens_per_minute<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &CaseResult,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let m = &c.measured;
    let last_sent = m.attempts.iter().map(|a| a.sent_s).fold(0.0f64, f64::max);
    let seconds = m.timeline.len().max(last_sent.ceil() as usize + 1);
    // Per second: tokens used (answered in it) and reserved by admitted attempts (sent in it).
    let mut used = vec![0.0f64; seconds];
    for (i, s) in m.timeline.iter().enumerate() {
        used[i] = s.tokens as f64;
    }
    let mut reserved = vec![0.0f64; seconds];
    for a in m.attempts.iter().filter(|a| a.status != Some(429)) {
        reserved[(a.sent_s.max(0.0) as usize).min(seconds - 1)] += a.reserved_tokens as f64;
    }
    // The 60 s ending at the end of each second.
    let rolling = |per: &[f64]| -> Vec<(f64, f64)> {
        (0..per.len())
            .map(|i| (i as f64 + 1.0, per[i.saturating_sub(59)..=i].iter().sum()))
            .collect()
    };
    let tpm = c.inputs.limits.tpm;
    let limit = tpm as f64;
    let max_x = seconds.max(1) as f64 + 1.0;
    let admits: Vec<(f64, f64)> = (0..=(max_x.ceil() as usize))
        .map(|t| (t as f64, rules::bucket_admits_in_window(tpm, t as f64)))
        .collect();
    let used = rolling(&used);
    let reserved = if m.attempts.is_empty() {
        Vec::new()
    } else {
        rolling(&reserved)
    };
    let max_y = used
        .iter()
        .chain(&reserved)
        .chain(&admits)
        .map(|p| p.1)
        .fold(limit, f64::max)
        * 1.35;
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
        .draw_series(LineSeries::new(used, PALETTE[0].stroke_width(2)))?
        .label("used: prompt + completion of the calls answered")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[0].stroke_width(2)));
    if !reserved.is_empty() {
        chart
            .draw_series(LineSeries::new(reserved, PALETTE[1].stroke_width(2)))?
            .label("reserved at send by the requests admitted (prompt + max_tokens)")
            .legend(|(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], PALETTE[1].stroke_width(2))
            });
    }
    chart
        .draw_series(LineSeries::new(
            vec![(0.0, limit), (max_x, limit)],
            RED.stroke_width(2),
        ))?
        .label(format!("tier {} limit: {} TPM", c.tier, tpm))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RED.stroke_width(2)));
    chart
        .draw_series(DashedLineSeries::new(admits, 8, 6, BLACK.stroke_width(1)))?
        .label(format!(
            "most a full bucket admits in 60 s: {tpm} + {:.0}/s refill since the start",
            limit / 60.0
        ))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(1)));
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(latency_ms: f64, outcome: PostOutcome) -> PostPoint {
        PostPoint {
            sent_s: 0.0,
            latency_ms,
            outcome,
        }
    }

    #[test]
    fn the_failed_bar_counts_the_same_sample_as_the_latency_bars() {
        // 0.1 s and 0.2 s fall in bin 0 (0-0.25 s), 2.3 s in bin 9 (2.25-2.5 s); the axis runs
        // to 6 s at least: 24 bins and the one at 6 s, 25 counts. Two failures of the sample.
        let sample = [
            post(100.0, PostOutcome::Ok),
            post(200.0, PostOutcome::Ok),
            post(2_300.0, PostOutcome::Ok),
            post(9_000.0, PostOutcome::RateLimited),
            post(50.0, PostOutcome::OtherFailure),
        ];
        let (counts, failed) = histogram_counts(&sample, 0.25);
        assert_eq!(counts.len(), 25);
        assert_eq!(
            (counts[0], counts[9], counts.iter().sum::<u64>()),
            (2, 1, 3)
        );
        assert_eq!(failed, 2);
        // A post of 7.1 s stretches the axis to 8 s: 33 counts, the 7.1 s in bin 28.
        let (counts, _) = histogram_counts(&[post(7_100.0, PostOutcome::Ok)], 0.25);
        assert_eq!((counts.len(), counts[28]), (33, 1));
    }
}
