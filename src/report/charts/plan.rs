//! The planner's charts: its p95 heat map by tier and user count, and its cost against tier.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{
    builder, case_colour, files, legend, png_and_svg, png_path, register_font, ChartKind, Draw,
    Drawn,
};
use crate::plan::sim::Strategy;
use crate::plan::{Cell, Goal, PlanResult};

/// The plan's heat map: p95 of successful posts (colour) for each tier × user count, per model
/// and strategy (one panel each); a cell that misses the success target is hatched grey.
fn plan_heatmap<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &PlanResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let panels: Vec<(String, Strategy)> = r
        .spec
        .models
        .iter()
        .flat_map(|m| r.spec.strategies.iter().map(move |s| (m.clone(), *s)))
        .collect();
    let (title_area, body) = root.split_vertically(50);
    title_area.titled(
        &format!(
            "post p95, design as it is: green ≤ {} s, orange to red over (red at 3×), grey: under {:.0} % ok",
            r.spec.target.p95_s,
            r.spec.target.min_success * 100.0
        ),
        ("sans-serif", 20),
    )?;
    let cols = panels.len().clamp(1, 2);
    let rows = panels.len().div_ceil(cols).max(1);
    let areas = body.split_evenly((rows, cols));
    for ((model, strategy), area) in panels.iter().zip(areas.iter()) {
        heatmap_panel(area, r, model, *strategy)?;
    }
    Ok(())
}

/// One panel of the heat map: one model and strategy, tiers across and user counts up.
fn heatmap_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &PlanResult,
    model: &str,
    strategy: Strategy,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let tiers = &r.spec.tiers;
    let users = &r.spec.users;
    // The centre of cell i is at i + 0.5: label only those.
    let centre = |v: f64| {
        let i = v - 0.5;
        (i.fract().abs() < 1e-6 && i >= 0.0).then_some(i as usize)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{model}, {}", crate::report::name_of(&strategy)),
            ("sans-serif", 16),
        )
        .margin(8)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..tiers.len() as f64, 0.0..users.len() as f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(tiers.len() * 2 + 1)
        .y_labels(users.len() * 2 + 1)
        .x_label_formatter(&|v| {
            centre(*v)
                .and_then(|i| tiers.get(i))
                .map_or(String::new(), |t| format!("tier {t}"))
        })
        .y_label_formatter(&|v| {
            centre(*v)
                .and_then(|i| users.get(i))
                .map_or(String::new(), |u| format!("{u} users"))
        })
        .label_style(("sans-serif", 13))
        .draw()?;
    for (xi, t) in tiers.iter().enumerate() {
        for (yi, u) in users.iter().enumerate() {
            let Some(c) = r.cells.iter().find(|c| {
                c.model == model && c.strategy == strategy && c.tier == *t && c.users == *u
            }) else {
                continue;
            };
            heatmap_cell(&mut chart, (xi as f64, yi as f64), c, &r.spec.target)?;
        }
    }
    Ok(())
}

/// One cell of a panel, its lower left corner at (`x`, `y`): its colour, a white border, and its
/// p95 and success share as text.
fn heatmap_cell<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    (x, y): (f64, f64),
    c: &Cell,
    target: &Goal,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let color = heat_colour(c, target);
    chart.draw_series(std::iter::once(Rectangle::new(
        [(x, y), (x + 1.0, y + 1.0)],
        color.filled(),
    )))?;
    chart.draw_series(std::iter::once(Rectangle::new(
        [(x, y), (x + 1.0, y + 1.0)],
        WHITE.stroke_width(2),
    )))?;
    let style = ("sans-serif", 15)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    let p95 = c.p95_s.map_or("-".into(), p95_text);
    chart.draw_series([
        Text::new(p95, (x + 0.5, y + 0.62), style.clone()),
        Text::new(
            format!("{:.0} % ok", c.success * 100.0),
            (x + 0.5, y + 0.38),
            style,
        ),
    ])?;
    Ok(())
}

/// A cell's p95 in the width of a cell: tenths under 100 s (`p95 8.9 s`), whole seconds from
/// there (`p95 400 s`: `p95 399.6 s` ran over the cell's edges).
fn p95_text(p: f64) -> String {
    if p < 99.95 {
        format!("p95 {p:.1} s")
    } else {
        format!("p95 {p:.0} s")
    }
}

/// A heat-map cell's colour: grey under the success target or without a p95; greens up to the
/// p95 target, then orange to red at 3 × the target.
fn heat_colour(c: &Cell, target: &Goal) -> RGBColor {
    let p95_target = target.p95_s;
    match c.p95_s {
        _ if c.success < target.min_success => RGBColor(170, 170, 170),
        None => RGBColor(170, 170, 170),
        Some(p) if p <= p95_target => {
            let k = (p / p95_target).clamp(0.0, 1.0);
            RGBColor((40.0 + 100.0 * k) as u8, (170.0 + 40.0 * k) as u8, 90)
        }
        Some(p) => {
            let k = ((p / p95_target - 1.0) / 2.0).clamp(0.0, 1.0);
            RGBColor((240.0 - 40.0 * k) as u8, (170.0 * (1.0 - k)) as u8, 40)
        }
    }
}

/// The plan's cost against tier: $/month per model and user count (SDK retries, or the first
/// strategy), with the cells that meet the target marked.
fn plan_cost<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &PlanResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (root, foot) = root.split_vertically(560);
    foot.draw_text(
        &format!(
            "filled: meets post p95 ≤ {} s with {:.0} % ok; hollow: misses. $ of a successful post (failed posts' waste is in plan.md); flat: no limit binds.",
            r.spec.target.p95_s,
            r.spec.target.min_success * 100.0
        ),
        &("sans-serif", 13).into_font().color(&BLACK),
        (16, 8),
    )?;
    let root = &root;
    let strategy = r.spec.strategies.first().copied();
    let cells: Vec<&Cell> = r
        .cells
        .iter()
        .filter(|c| Some(c.strategy) == strategy && c.usd_per_month.is_some())
        .collect();
    let top = cells
        .iter()
        .filter_map(|c| c.usd_per_month)
        .fold(0.01f64, f64::max)
        // A decade and more above the dearest line: the legend (upper left, four or more
        // rows) sits there, clear of every line's points, the lowest tier's included.
        * 12.0;
    let bottom = cells
        .iter()
        .filter_map(|c| c.usd_per_month)
        .fold(top, f64::min)
        / 3.0;
    let (lo, hi) = (
        *r.spec.tiers.iter().min().unwrap_or(&1) as f64 - 0.5,
        *r.spec.tiers.iter().max().unwrap_or(&1) as f64 + 0.5,
    );
    let mut chart = builder(
        root,
        &format!(
            "OpenAI cost per month by tier ({} retries, users × {} posts a day{} × 30 days)",
            strategy.map_or(String::new(), |s| crate::report::name_of(&s)),
            r.spec
                .posts_per_user_per_day
                .unwrap_or(crate::plan::BURST_POSTS_PER_DAY),
            if r.spec.posts_per_user_per_day.is_none() {
                " (assumed)"
            } else {
                ""
            }
        ),
        80,
    )
    .build_cartesian_2d(lo..hi, (bottom.max(0.001)..top).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("tier")
        .y_desc("USD per month (log)")
        .x_labels(r.spec.tiers.len())
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("${v:.2}"))
        .label_style(("sans-serif", 14))
        .draw()?;
    let mut series = 0;
    for model in &r.spec.models {
        for u in &r.spec.users {
            let color = case_colour(series);
            series += 1;
            let pts: Vec<(f64, f64, bool)> = cells
                .iter()
                .filter(|c| &c.model == model && c.users == *u)
                .filter_map(|c| c.usd_per_month.map(|m| (c.tier as f64, m, c.meets_target)))
                .collect();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|(t, m, _)| (*t, *m)),
                    color.stroke_width(2),
                ))?
                .label(format!("{model}, {u} users"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|(t, m, meets)| {
                let style = if *meets {
                    color.filled()
                } else {
                    color.stroke_width(2)
                };
                Circle::new((*t, *m), 6, style)
            }))?;
        }
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

/// What a plan chart shows.
#[derive(Clone, Copy)]
enum PlanDrawing {
    Levers,
    Heatmap,
    Cost,
    Rate,
}

/// The plan's charts, in plan.md's order.
const PLAN_CHARTS: [ChartKind<PlanDrawing>; 3] = [
    ChartKind {
        stem: "plan-levers",
        title: "Designs against the target",
        drawing: PlanDrawing::Levers,
    },
    ChartKind {
        stem: "plan-p95",
        title: "p95 by tier and users",
        drawing: PlanDrawing::Heatmap,
    },
    ChartKind {
        stem: "plan-cost",
        title: "Cost against tier",
        drawing: PlanDrawing::Cost,
    },
];

/// `plan --find-rate`'s chart, drawn only when the plan searched rates.
const RATE_CHART: ChartKind<PlanDrawing> = ChartKind {
    stem: "plan-rate",
    title: "p95 against the rate of posts (--find-rate)",
    drawing: PlanDrawing::Rate,
};

/// The charts `r` has: the three, and the rate chart with `--find-rate`.
fn kinds(r: &PlanResult) -> Vec<&'static ChartKind<PlanDrawing>> {
    let mut k: Vec<_> = PLAN_CHARTS.iter().collect();
    if !r.find_rate.is_empty() {
        k.push(&RATE_CHART);
    }
    k
}

/// A plan chart with the plan it is drawn from.
struct PlanChart<'a> {
    kind: &'a ChartKind<PlanDrawing>,
    plan: &'a PlanResult,
}

impl Draw for PlanChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        match self.kind.drawing {
            PlanDrawing::Levers => super::levers::levers_chart(root, self.plan),
            PlanDrawing::Heatmap => plan_heatmap(root, self.plan),
            PlanDrawing::Cost => plan_cost(root, self.plan),
            PlanDrawing::Rate => super::rate::rate_chart(root, self.plan),
        }
    }
}

/// The plan's charts: `charts/plan-levers`, `charts/plan-p95` and `charts/plan-cost`, PNG and
/// SVG.
pub fn plan_charts(r: &PlanResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    register_font()?;
    let mut out = Vec::new();
    for kind in kinds(r) {
        out.extend(files(kind.stem, png_and_svg(&PlanChart { kind, plan: r })?));
    }
    Ok(out)
}

/// Each plan chart's title and the path of its PNG (plan.md's links).
pub(crate) fn plan_chart_links(r: &PlanResult) -> Vec<(String, String)> {
    kinds(r)
        .into_iter()
        .map(|kind| (kind.title.to_string(), png_path(kind.stem)))
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::plan::PlanResult;

    #[test]
    fn the_rate_chart_is_drawn_and_linked_only_when_the_plan_searched_rates() {
        let c = crate::openai::catalog::Catalog::embedded();
        let claims = crate::claims::parse("c", crate::claims::EMBEDDED_CLAIMS).unwrap();
        let mut spec = crate::plan::PlanSpec {
            models: vec!["gpt-4o-mini".into()],
            tiers: vec![1],
            users: vec![10],
            ..Default::default()
        };
        let names = |r: &PlanResult| -> Vec<String> {
            super::plan_charts(r)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let r = crate::plan::plan(&c, &spec, &claims, &Default::default()).unwrap();
        assert!(!names(&r).iter().any(|n| n.contains("plan-rate")));
        assert_eq!(super::plan_chart_links(&r).len(), 3);
        spec.find_rate = true;
        let r = crate::plan::plan(&c, &spec, &claims, &Default::default()).unwrap();
        let n = names(&r);
        assert!(
            n.contains(&"charts/plan-rate.png".to_string())
                && n.contains(&"charts/plan-rate.svg".to_string()),
            "{n:?}"
        );
        let links = super::plan_chart_links(&r);
        assert_eq!(links.len(), 4);
        assert_eq!(links[3].1, "charts/plan-rate.png");
    }

    #[test]
    fn a_p95_of_minutes_fits_its_heat_map_cell() {
        // Regression: 399.64 s was written `p95 399.6 s`, wider than the cell.
        assert_eq!(super::p95_text(399.64), "p95 400 s");
        assert_eq!(super::p95_text(8.94), "p95 8.9 s");
        assert_eq!(super::p95_text(99.96), "p95 100 s");
    }
}
