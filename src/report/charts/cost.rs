//! The monthly cost chart: for 50 and 100 users at 1, 5 or 20 posts a day, the cost at the
//! measured (or projected) $/post of each model, each bar with its value, and beside it, an
//! outlined bar, the planning note's own figure from the claims' monthly tables.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::FontTransform;

use super::{builder, legend, run::usd_per_post, Drawn, PALETTE};
use crate::claims::{Check, ClaimsFile};
use crate::metrics::cost::{monthly_usd, SEED_POSTS_PER_DAY};
use crate::openai::catalog::PriceTable;
use crate::result::RunResult;

/// The models the cost chart compares.
const COST_MODELS: [&str; 2] = ["gpt-4o", "gpt-4o-mini"];

/// The note's monthly figure for `model` at `users` × `per_day`, from the claims' monthly table
/// of that model; `None` when the claims have no such cell.
pub fn note_monthly(claims: &ClaimsFile, model: &str, users: u64, per_day: u64) -> Option<f64> {
    claims.claim.iter().find_map(|c| match &c.check {
        Check::MonthlyCost {
            model: m, table, ..
        } if m == model => table
            .iter()
            .find(|(u, p, _)| *u == users && *p == per_day)
            .map(|(_, _, usd)| *usd),
        _ => None,
    })
}

/// A bar's value as written on it: `$510`, `$12.45`, `$0.77`.
pub fn usd_label(usd: f64) -> String {
    if usd >= 100.0 {
        format!("${usd:.0}")
    } else {
        format!("${usd:.2}")
    }
}

/// One model's bars: its name, $/post, whether measured, its colour, and per load (its index
/// in the loads) the monthly cost at that $/post and the note's own figure where it has one.
struct Series<'a> {
    model: &'a str,
    usd: f64,
    measured: bool,
    colour: RGBColor,
    bars: Vec<(usize, f64)>,
    notes: Vec<(usize, f64)>,
}

impl Series<'_> {
    /// The legend's line for the model's measured bars.
    fn label(&self) -> String {
        let how = if self.measured {
            "measured"
        } else {
            "projected from the measured tokens"
        };
        format!("{}: ${:.5}/post ({how})", self.model, self.usd)
    }
}

/// The bars of each model in [`COST_MODELS`] that has a $/post, at each of `loads` (users,
/// posts per user per day).
fn series(
    r: &RunResult,
    prices: &PriceTable,
    claims: &ClaimsFile,
    loads: &[(u64, u64)],
) -> Vec<Series<'static>> {
    COST_MODELS
        .iter()
        .enumerate()
        .filter_map(|(k, m)| {
            let (usd, measured) = usd_per_post(r, prices, m)?;
            let bars = loads
                .iter()
                .enumerate()
                .map(|(i, (u, p))| (i, monthly_usd(*u as f64, *p as f64, usd)))
                .collect();
            let notes = loads
                .iter()
                .enumerate()
                .filter_map(|(i, (u, p))| note_monthly(claims, m, *u, *p).map(|v| (i, v)))
                .collect();
            Some(Series {
                model: m,
                usd,
                measured,
                colour: PALETTE[k % PALETTE.len()],
                bars,
                notes,
            })
        })
        .collect()
}

pub(super) fn cost<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    r: &RunResult,
    prices: &PriceTable,
    claims: &ClaimsFile,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let loads: Vec<(u64, u64)> = [50u64, 100]
        .iter()
        .flat_map(|u| SEED_POSTS_PER_DAY.iter().map(move |p| (*u, *p)))
        .collect();
    let series = series(r, prices, claims, &loads);
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.bars.iter().chain(&s.notes).map(|(_, v)| *v))
        .collect();
    // Room above the tallest bar for its value, written upwards.
    let top = values.iter().copied().fold(1.0f64, f64::max) * 8.0;
    let bottom = (values.iter().copied().fold(top, f64::min) / 3.0).max(0.01);
    let n = loads.len() as f64;
    let mut chart = builder(
        root,
        "Monthly OpenAI cost at the measured $/post, beside the note's",
        80,
    )
    .build_cartesian_2d(0.0..n, (bottom..top).log_scale())?;
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
    // Per load: each model's measured bar, then the note's beside it (outlined).
    let width = 0.84 / (series.len().max(1) * 2) as f64;
    let value_style = ("sans-serif", 13)
        .into_font()
        .transform(FontTransform::Rotate270)
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (k, s) in series.iter().enumerate() {
        let colour = s.colour;
        let x0 = |i: usize, j: usize| i as f64 + 0.08 + (2 * k + j) as f64 * width;
        chart
            .draw_series(s.bars.iter().map(|(i, v)| {
                Rectangle::new(
                    [(x0(*i, 0), bottom), (x0(*i, 0) + width * 0.9, *v)],
                    colour.filled(),
                )
            }))?
            .label(s.label())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 15, y + 5)], colour.filled()));
        if !s.notes.is_empty() {
            chart
                .draw_series(s.notes.iter().map(|(i, v)| {
                    Rectangle::new(
                        [(x0(*i, 1), bottom), (x0(*i, 1) + width * 0.9, *v)],
                        colour.stroke_width(2),
                    )
                }))?
                .label(format!("{}: the note's figure", s.model))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 15, y + 5)], colour.stroke_width(2))
                });
        }
        let written = s
            .bars
            .iter()
            .map(|(i, v)| (x0(*i, 0), *v))
            .chain(s.notes.iter().map(|(i, v)| (x0(*i, 1), *v)));
        chart.draw_series(written.map(|(x, v)| {
            Text::new(
                usd_label(v),
                (x + width * 0.45, v * 1.08),
                value_style.clone(),
            )
        }))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::{parse, EMBEDDED_CLAIMS};

    #[test]
    fn the_note_s_figures_come_from_the_claims_monthly_tables() {
        // scenarios/claims.toml: gpt-4o 100 users × 5/day is $127.50, gpt-4o-mini 50 × 1 $0.77.
        let c = parse("scenarios/claims.toml", EMBEDDED_CLAIMS).unwrap();
        assert_eq!(note_monthly(&c, "gpt-4o", 100, 5), Some(127.5));
        assert_eq!(note_monthly(&c, "gpt-4o-mini", 50, 1), Some(0.77));
        assert_eq!(note_monthly(&c, "gpt-4o", 100, 7), None);
        assert_eq!(note_monthly(&c, "gpt-5", 100, 5), None);
        assert_eq!(usd_label(510.0), "$510");
        assert_eq!(usd_label(12.454), "$12.45");
        assert_eq!(usd_label(0.766), "$0.77");
    }
}
