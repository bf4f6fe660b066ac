//! The waterfall chart of a burst: one row per post in start order, a bar for each call (image
//! prompt, then caption) coloured by how it ended, the 429 backoff waits drawn over them, and
//! the claim's 2 s and 5 s bounds as vertical lines labelled above the plot, and the key in a
//! strip under the title, so neither covers a bar. Colours are Okabe and Ito's (blue ok,
//! vermillion 429, purple otherwise) and the waits a thin dark line through the row: told
//! apart by shape and lightness, not by hue alone. It draws the recorded post intervals
//! ([`TIMED_POSTS`] at most: a uniform sample beyond, said in the caption).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{keys, label_above, plot_builder, under_title, Drawn, PALETTE};
use crate::metrics::{CallKind, PostOutcome, PostTiming, TIMED_POSTS};
use crate::result::CaseResult;

/// The colour of a call that ended so.
fn colour(outcome: PostOutcome) -> RGBColor {
    match outcome {
        PostOutcome::Ok => PALETTE[0],
        PostOutcome::RateLimited => PALETTE[3],
        PostOutcome::OtherFailure => PALETTE[4],
    }
}

/// A 429 backoff wait: a thin near-black line through the row, darker than every bar and
/// narrower, so it is not read as a failed call (the light grey of old was, beside pale red).
const WAIT: RGBColor = RGBColor(40, 40, 40);

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
    let max_x = end * 1.03;
    let (strip, body) = under_title(root, &title(c), 48)?;
    let mut chart = plot_builder(&body, 60).build_cartesian_2d(0.0..max_x, 0.0..n as f64 + 0.5)?;
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
                .map(move |[from, to]| bar(i, *from, *to, 0.38, WAIT.filled()))
        })
    }))?;
    let (key_row, _) = strip.split_vertically(24);
    keys(
        &key_row,
        &[
            (
                "image prompt ok (caption lighter)",
                colour(PostOutcome::Ok),
                6,
            ),
            ("call failed on 429", colour(PostOutcome::RateLimited), 6),
            (
                "call failed otherwise",
                colour(PostOutcome::OtherFailure),
                6,
            ),
            ("waiting out a 429 (backoff)", WAIT, 2),
        ],
    )?;
    let height = n as f64 + 0.5;
    for (at, label) in [(2.0, "claim: 2 s"), (5.0, "claim: 5 s")] {
        chart.draw_series(LineSeries::new(
            vec![(at, 0.0), (at, height)],
            BLACK.stroke_width(2),
        ))?;
        label_above(root, &chart, (at, height), label, &BLACK)?;
    }
    Ok(())
}
