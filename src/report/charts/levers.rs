//! The plan's lever chart: for each model × users, the designs the decision weighs (the design
//! as it is, the chosen change, the one that holds on every seed, the closest miss, and the one
//! resting on an assumed cache share) against the target: p95 with its interval over seeds,
//! coloured by the latency it judges, $/month beside, the chosen one marked.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Drawn;
use crate::plan::decision::DecisionLine;
use crate::plan::levers::LeverRow;
use crate::plan::sim::Strategy;
use crate::plan::PlanResult;

const POST: RGBColor = RGBColor(40, 90, 170);
const FIRST_TOKEN: RGBColor = RGBColor(220, 120, 20);
const ASSUMED: RGBColor = RGBColor(150, 150, 150);

/// A lever row in a few characters: `par+stream T2`, `as designed T2`.
fn short(r: &LeverRow) -> String {
    let d = &r.design;
    let mut parts = Vec::new();
    if d.parallel {
        parts.push("parallel".to_string());
    }
    if d.stream_caption {
        parts.push("stream".into());
    }
    if let Some(m) = d.caption_max_tokens {
        parts.push(format!("caption {m}"));
    }
    if let Some(m) = d.image_max_tokens {
        parts.push(format!("image {m}"));
    }
    if let Some(s) = d.image_prompt_share {
        parts.push(format!("own {:.0}%", s * 100.0));
    }
    if let Some(s) = d.response_cache_hit {
        parts.push(format!("cache {:.0}%", s * 100.0));
    }
    if r.strategy == Strategy::Queue {
        parts.push("queue".into());
    }
    if parts.is_empty() {
        parts.push("as designed".into());
    }
    format!("{} T{}", parts.join("+"), r.tier)
}

/// The rows one panel shows, top to bottom, with their role.
fn rows<'a>(
    l: &'a DecisionLine,
    robust: Option<&'a LeverRow>,
) -> Vec<(&'static str, &'a LeverRow)> {
    let mut out = Vec::new();
    if let Some(r) = &l.as_designed {
        out.push(("as is", r));
    }
    if let Some(r) = &l.change {
        out.push(("chosen", r));
    }
    if let Some(r) = robust {
        out.push(("every seed", r));
    }
    if let Some(r) = &l.closest {
        out.push(("closest miss", r));
    }
    if let Some(r) = &l.assumed {
        out.push(("assumed", r));
    }
    out
}

/// The whole chart: a title saying what the marks mean, and one panel per model × users.
pub(super) fn levers_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &PlanResult,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (title, body) = root.split_vertically(56);
    let style = ("sans-serif", 17).into_font().color(&BLACK);
    title.draw_text(
        &format!(
            "Designs against p95 ≤ {} s (red line): dot = median seed's p95, bar = lowest–highest of {} seeds",
            r.spec.target.p95_s,
            crate::plan::levers::SEEDS
        ),
        &style,
        (10, 6),
    )?;
    title.draw_text(
        "blue: whole post; orange: first caption token (streamed); grey: an assumed cache share; filled: holds; $/month at the right",
        &("sans-serif", 14).into_font().color(&BLACK),
        (10, 32),
    )?;
    let lines = &r.decision.lines;
    let cols = lines.len().clamp(1, 2);
    let rows_n = lines.len().div_ceil(cols).max(1);
    let areas = body.split_evenly((rows_n, cols));
    for (l, area) in lines.iter().zip(areas.iter()) {
        let robust = r
            .levers
            .answers
            .iter()
            .find(|a| a.model == l.model && a.users == l.users)
            .and_then(|a| a.robust.as_ref());
        panel(area, r, l, robust)?;
    }
    Ok(())
}

/// One model × users: a row per design weighed, the target as a vertical line.
fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    r: &PlanResult,
    l: &DecisionLine,
    robust: Option<&LeverRow>,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let shown = rows(l, robust);
    let target = r.spec.target.p95_s;
    let hi = shown
        .iter()
        .filter_map(|(_, x)| x.p95_interval_s.map(|i| i.1).or(x.p95_s))
        .fold(target, f64::max)
        * 1.35;
    let n = shown.len().max(1);
    let labels: Vec<String> = shown
        .iter()
        .map(|(role, x)| format!("{role}: {}", short(x)))
        .collect();
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!("{}, {} users", l.model, l.users),
            ("sans-serif", 15),
        )
        .margin(6)
        .x_label_area_size(30)
        .y_label_area_size(250)
        .build_cartesian_2d(0.0..hi, -0.5..n as f64 - 0.5)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n)
        .y_label_formatter(&|v| {
            let i = v.round();
            if (v - i).abs() > 1e-6 || i < 0.0 {
                return String::new();
            }
            // Row 0 at the top.
            labels.get(n - 1 - i as usize).cloned().unwrap_or_default()
        })
        .x_desc("p95, s")
        .label_style(("sans-serif", 12))
        .draw()?;
    chart.draw_series(std::iter::once(PathElement::new(
        vec![(target, -0.5), (target, n as f64 - 0.5)],
        RED.stroke_width(2),
    )))?;
    for (i, (role, x)) in shown.iter().enumerate() {
        let y = (n - 1 - i) as f64;
        let color = if x.design.assumes(&r.spec.design) {
            ASSUMED
        } else if x.metric == "first_caption_token" {
            FIRST_TOKEN
        } else {
            POST
        };
        if let Some((lo, hi)) = x.p95_interval_s {
            chart.draw_series(std::iter::once(PathElement::new(
                vec![(lo, y), (hi, y)],
                color.stroke_width(3),
            )))?;
        }
        if let Some(p) = x.p95_s {
            let style = if x.meets_target {
                color.filled()
            } else {
                color.stroke_width(2)
            };
            let size = if *role == "chosen" { 9 } else { 6 };
            chart.draw_series(std::iter::once(Circle::new((p, y), size, style)))?;
        }
        let text = format!(
            "{}{}",
            crate::plan::decision::usd(x.usd_per_month),
            if *role == "chosen" { "  (chosen)" } else { "" }
        );
        chart.draw_series(std::iter::once(Text::new(
            text,
            (hi * 0.99, y + 0.25),
            ("sans-serif", 12)
                .into_font()
                .color(&BLACK)
                .pos(Pos::new(HPos::Right, VPos::Center)),
        )))?;
    }
    Ok(())
}
