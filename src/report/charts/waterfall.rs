//! The waterfall chart of a burst: one row per post in start order, a bar for each call (image
//! prompt, then caption) coloured by how it ended, the 429 backoff waits drawn over them, and
//! the claim's 2 s and 5 s bounds as vertical lines. It draws the recorded post intervals
//! ([`TIMED_POSTS`] at most: a uniform sample beyond, said in the caption).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{builder, legend, Drawn, PALETTE};
use crate::metrics::{CallKind, PostOutcome, PostTiming, TIMED_POSTS};
use crate::report::CaseResult;

/// The colour of a call that ended so.
fn colour(outcome: PostOutcome) -> RGBColor {
    match outcome {
        PostOutcome::Ok => PALETTE[2],
        PostOutcome::RateLimited => PALETTE[3],
        PostOutcome::OtherFailure => PALETTE[4],
    }
}

/// A 429 backoff wait: grey, so the red attempts between the waits stand out.
const WAIT: RGBColor = RGBColor(170, 170, 170);

/// The rows, in start order (at most [`TIMED_POSTS`], whatever the file holds).
pub fn rows(c: &CaseResult) -> Vec<&PostTiming> {
    let mut rows: Vec<&PostTiming> = c.measured.post_timings.iter().take(TIMED_POSTS).collect();
    rows.sort_by(|a, b| a.start_s.total_cmp(&b.start_s));
    rows
}

/// The caption: the case, and the sample when not every post is a row.
pub fn title(c: &CaseResult) -> String {
    let shown = rows(c).len() as u64;
    let total = c.measured.posts.total;
    if shown < total {
        format!(
            "Waterfall: {}, a uniform sample of {shown} of {total} posts",
            c.label()
        )
    } else {
        format!("Waterfall: {}, all {total} posts", c.label())
    }
}

pub(super) fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let rows = rows(c);
    let n = rows.len().max(1);
    let end = rows
        .iter()
        .flat_map(|p| p.calls.iter().map(|c| c.end_s).chain([p.end_s]))
        .fold(6.0f64, f64::max);
    // Room on the right for the legend (lower right: the last posts to start are seldom the
    // last to end), clear of the bars.
    let max_x = end * 1.4;
    let mut chart =
        builder(root, &title(c), 60).build_cartesian_2d(0.0..max_x, 0.0..n as f64 + 0.5)?;
    // Row i (0 = the first post to start) sits at the top: y from n - i - 1 to n - i.
    let top = |i: usize| (n - i) as f64;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("time since start (s)")
        .y_desc("posts in start order (first at the top)")
        .y_label_formatter(&|y| format!("{}", (n as f64 - y).round()))
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    let bar = |i: usize, from: f64, to: f64, inset: f64, style: ShapeStyle| {
        Rectangle::new([(from, top(i) - inset), (to, top(i) - 1.0 + inset)], style)
    };
    for (kind, shade) in [(CallKind::ImagePrompt, 1.0), (CallKind::Caption, 0.55)] {
        chart.draw_series(rows.iter().enumerate().flat_map(|(i, p)| {
            p.calls
                .iter()
                .filter(move |call| call.kind == kind)
                .map(move |call| {
                    let style = colour(call.outcome).mix(shade).filled();
                    bar(i, call.start_s, call.end_s.max(call.start_s), 0.1, style)
                })
        }))?;
    }
    chart.draw_series(rows.iter().enumerate().flat_map(|(i, p)| {
        p.calls.iter().flat_map(move |call| {
            call.backoffs
                .iter()
                .map(move |[from, to]| bar(i, *from, *to, 0.25, WAIT.filled()))
        })
    }))?;
    let keys = [
        ("image prompt ok (caption lighter)", colour(PostOutcome::Ok)),
        ("call failed on 429", colour(PostOutcome::RateLimited)),
        ("call failed otherwise", colour(PostOutcome::OtherFailure)),
        ("waiting out a 429 (backoff)", WAIT),
    ];
    for (label, key) in keys {
        chart
            .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
            .label(label)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], key.filled()));
    }
    let height = n as f64 + 0.5;
    for (at, label) in [(2.0, "claim: 2 s"), (5.0, "claim: 5 s")] {
        chart.draw_series(LineSeries::new(
            vec![(at, 0.0), (at, height)],
            BLACK.stroke_width(2),
        ))?;
        chart.draw_series(std::iter::once(Text::new(
            label.to_string(),
            (at + 0.05, height),
            ("sans-serif", 16).into_font().color(&BLACK),
        )))?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}
