//! `plan --find-rate`'s chart: for each model (a column), the p95 (above) and the share of posts
//! that succeeded (below) at each rate the search tried, a line per tier; filled where the
//! target held, hollow where it did not; the targets as dashed lines, and each tier's rate
//! found in the legend. A rate fails on either figure: below, the 429s losing posts.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{builder, case_colour, legend, Drawn};
use crate::plan::rate::RateAnswer;
use crate::plan::{Goal, PlanResult};

/// What a rate chart draws: a column per model, a line per answer, judged against `target`.
pub struct RateView<'a> {
    pub models: Vec<String>,
    pub lines: Vec<RateLine<'a>>,
    pub target: Goal,
    /// The p95 is of the first caption token, not the post.
    pub streamed: bool,
}

/// One answer's line: its label ("Tier 2", "live, Tier 2"), its colour's index, and whether
/// it is dashed (the planner beside a live search, in the live line's colour).
pub struct RateLine<'a> {
    pub label: String,
    pub answer: &'a RateAnswer,
    pub colour: usize,
    pub dashed: bool,
}

impl<'a> RateView<'a> {
    /// `plan --find-rate`'s: a line per tier.
    pub fn of_plan(r: &'a PlanResult) -> Self {
        Self {
            models: r.spec.models.clone(),
            // Each model's panel colours its tiers from the first colour.
            lines: r
                .find_rate
                .iter()
                .enumerate()
                .map(|(i, a)| RateLine {
                    label: format!("Tier {}", a.tier),
                    answer: a,
                    colour: r.find_rate[..i]
                        .iter()
                        .filter(|b| b.model == a.model)
                        .count(),
                    dashed: false,
                })
                .collect(),
            target: r.spec.target,
            streamed: r.spec.design.stream_caption,
        }
    }
}

impl super::Draw for RateView<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        view_chart(root, self)
    }
}

/// `run --find-rate`'s chart, `charts/find-rate.png` and `.svg`: the live search's steps and
/// the planner's, a line each per tier.
pub fn find_rate_charts(v: &RateView) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    super::register_font()?;
    Ok(super::files("find-rate", super::png_and_svg(v)?).to_vec())
}

/// The rate chart of a plan: one panel per planned model.
pub(super) fn rate_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &PlanResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    view_chart(root, &RateView::of_plan(r))
}

/// The rate chart of a view: for each model, the p95 above and the posts ok below.
pub(super) fn view_chart<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, v: &RateView) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let n = v.models.len().max(1);
    let (top, bottom) = root.split_vertically(root.dim_in_pixel().1 * 3 / 5);
    for ((p95, ok), model) in top
        .split_evenly((1, n))
        .iter()
        .zip(bottom.split_evenly((1, n)).iter())
        .zip(&v.models)
    {
        rate_panel(p95, v, model)?;
        success_panel(ok, v, model)?;
    }
    Ok(())
}

/// A target across the panel's rates, dashed.
fn target_line(
    from: f64,
    to: f64,
    y: f64,
) -> DashedLineSeries<std::array::IntoIter<(f64, f64), 2>, i32> {
    DashedLineSeries::new([(from, y), (to, y)], 8, 6, BLACK.stroke_width(1))
}

/// A step's mark: filled where the target held, hollow where it did not.
fn marks(
    steps: &[(f64, f64, bool)],
    color: RGBColor,
) -> impl Iterator<Item = Circle<(f64, f64), i32>> + '_ {
    steps.iter().map(move |(x, y, meets)| {
        let style = if *meets {
            color.filled()
        } else {
            color.stroke_width(2)
        };
        Circle::new((*x, *y), 5, style)
    })
}

/// An answer's line and (posts a second, figure, held) per step.
type Line<'a> = (&'a RateLine<'a>, Vec<(f64, f64, bool)>);

/// Each line's steps of `model`, by rate: (posts a second, the figure, the target held).
fn series<'a>(
    v: &'a RateView,
    model: &str,
    figure: impl Fn(&crate::plan::rate::RateStep) -> Option<f64>,
) -> Vec<Line<'a>> {
    v.lines
        .iter()
        .filter(|l| l.answer.model == model)
        .map(|l| {
            let mut steps: Vec<_> = l
                .answer
                .steps
                .iter()
                .filter_map(|s| figure(s).map(|f| (s.per_s, f, s.meets)))
                .collect();
            steps.sort_by(|x, y| x.0.total_cmp(&y.0));
            (l, steps)
        })
        .collect()
}

/// A line through a series' steps: solid, or dashed for the planner beside a live search.
fn draw_path<DB: DrawingBackend, X, Y>(
    chart: &mut ChartContext<DB, Cartesian2d<X, Y>>,
    steps: &[(f64, f64, bool)],
    color: RGBColor,
    dashed: bool,
) -> Drawn
where
    DB::ErrorType: 'static,
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let points = steps.iter().map(|(x, y, _)| (*x, *y));
    let style = color.stroke_width(2);
    if dashed {
        chart.draw_series(DashedLineSeries::new(points, 6, 5, style))?;
    } else {
        chart.draw_series(LineSeries::new(points, style))?;
    }
    Ok(())
}

/// The share of posts that succeeded at each rate, and the success target.
fn success_panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    v: &RateView,
    model: &str,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let lines = series(v, model, |s| Some(s.success * 100.0));
    let xs = lines.iter().flat_map(|l| l.1.iter().map(|p| p.0));
    let (x_lo, x_hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    if x_lo > x_hi {
        return Ok(());
    }
    let y_lo = lines
        .iter()
        .flat_map(|l| l.1.iter().map(|p| p.1))
        .fold(v.target.min_success * 100.0, f64::min);
    let mut chart = builder(root, &format!("{model}: posts ok"), 70).build_cartesian_2d(
        ((x_lo / 1.5)..(x_hi * 1.5)).log_scale(),
        (y_lo - 5.0).max(0.0)..101.0,
    )?;
    chart
        .configure_mesh()
        .x_desc("posts a second (log)")
        .y_desc("posts ok, %")
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    let target = v.target.min_success * 100.0;
    chart.draw_series(target_line(x_lo / 1.5, x_hi * 1.5, target))?;
    for (line, steps) in &lines {
        let color = case_colour(line.colour);
        draw_path(&mut chart, steps, color, line.dashed)?;
        chart.draw_series(marks(steps, color))?;
    }
    Ok(())
}

fn rate_panel<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, v: &RateView, model: &str) -> Drawn
where
    DB::ErrorType: 'static,
{
    let answers: Vec<_> = v
        .lines
        .iter()
        .map(|l| l.answer)
        .filter(|a| a.model == model)
        .collect();
    let points = || {
        answers
            .iter()
            .flat_map(|a| a.steps.iter())
            .filter_map(|s| s.p95_s.map(|p| (s.per_s, p)))
    };
    let target = v.target.p95_s;
    let (x_lo, x_hi) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| {
        (lo.min(x), hi.max(x))
    });
    let y_hi = points().map(|(_, y)| y).fold(target, f64::max) * 2.5;
    let y_lo = points().map(|(_, y)| y).fold(target, f64::min) / 2.0;
    if x_lo > x_hi {
        return Ok(());
    }
    let mut chart = builder(root, &format!("{model}: p95 against the rate of posts"), 70)
        .build_cartesian_2d(
            ((x_lo / 1.5)..(x_hi * 1.5)).log_scale(),
            (y_lo.max(0.01)..y_hi).log_scale(),
        )?;
    chart
        .configure_mesh()
        .x_desc("posts a second (log)")
        .y_desc(if v.streamed {
            "first-caption-token p95, s (log)"
        } else {
            "post p95, s (log)"
        })
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    chart.draw_series(target_line(x_lo / 1.5, x_hi * 1.5, target))?;
    for (line, steps) in series(v, model, |s| s.p95_s) {
        let color = case_colour(line.colour);
        let found = line
            .answer
            .highest_per_s
            .map_or("none".to_string(), |v| format!("{v:.2}/s"));
        let label = format!("{}: {found}", line.label);
        let style = color.stroke_width(2);
        if line.dashed {
            chart
                .draw_series(DashedLineSeries::new(
                    steps.iter().map(|(x, y, _)| (*x, *y)),
                    6,
                    5,
                    style,
                ))?
                .label(label)
                .legend(move |(x, y)| {
                    EmptyElement::at((x, y))
                        + PathElement::new(vec![(0, 0), (8, 0)], style)
                        + PathElement::new(vec![(12, 0), (20, 0)], style)
                });
        } else {
            chart
                .draw_series(LineSeries::new(
                    steps.iter().map(|(x, y, _)| (*x, *y)),
                    style,
                ))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        chart.draw_series(marks(&steps, color))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}
