//! Charts (plotters, PNG and SVG, with an embedded DejaVu Sans so no system fonts are needed):
//! post latency histograms with the claim's 2 s and 5 s lines, the percentile distribution of
//! every case on one chart, every post over time, the per-second timeline, and tokens per minute
//! against the tier's TPM limit.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::claims::{best_case, usd_per_ok_post};
use super::{CaseResult, Exporter, RunResult};
use crate::metrics::cost::{monthly_usd, SEED_POSTS_PER_DAY};
use crate::metrics::PostOutcome;
use crate::openai::catalog::PriceTable;

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
fn cost<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, data: (&RunResult, &PriceTable)) -> Drawn
where
    DB::ErrorType: 'static,
{
    let (r, prices) = data;
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

const FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
const SIZE: (u32, u32) = (1000, 600);

fn register_font() -> anyhow::Result<()> {
    static DONE: OnceLock<bool> = OnceLock::new();
    let ok = *DONE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, FONT).is_ok()
            && plotters::style::register_font("sans-serif", FontStyle::Bold, FONT).is_ok()
    });
    anyhow::ensure!(ok, "the embedded font could not be loaded");
    Ok(())
}

/// The chart files of a run: `charts/<name>.png` and `.svg`. Prices are for the cost chart.
pub struct ChartExporter {
    pub prices: PriceTable,
}

/// A chart's file stem and how to draw it.
type Drawn = anyhow::Result<()>;

fn case_label(c: &CaseResult) -> String {
    c.label()
}

fn slug(c: &CaseResult) -> String {
    c.slug()
}

/// A chart with the house layout: title, margins and label areas.
fn builder<'a, 'b, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    y_label_width: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(root);
    b.caption(title, ("sans-serif", 24))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(y_label_width);
    b
}

/// The legend, in the house style.
fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 16))
        .position(position)
        .draw()?;
    Ok(())
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn histogram<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
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
        case_label(c),
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

fn percentiles<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, r: &RunResult) -> Drawn
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
        .fold(1_000.0f64, f64::max);
    let mut chart = builder(root, "Post latency by percentile, all cases", 60)
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
            .label(case_label(c))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

fn posts_over_time<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
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
    let mut chart = builder(
        root,
        &format!("Every post over time: {}", case_label(c)),
        60,
    )
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

fn timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let t = &c.measured.timeline;
    let max_x = t.len().max(1) as f64;
    let max_y = t
        .iter()
        .flat_map(|s| {
            [
                s.in_flight as f64,
                s.completions as f64,
                s.rate_limited as f64,
            ]
        })
        .fold(1.0f64, f64::max)
        * 1.1;
    let mut chart = builder(root, &format!("Per second: {}", case_label(c)), 60)
        .build_cartesian_2d(0.0..max_x, 0.0..max_y)?;
    chart
        .configure_mesh()
        .x_desc("time since start (s)")
        .y_desc("posts or 429 responses")
        .label_style(("sans-serif", 16))
        .axis_desc_style(("sans-serif", 18))
        .draw()?;
    type Pick = fn(&crate::metrics::Second) -> f64;
    let series: [(&str, RGBColor, Pick); 3] = [
        ("posts in flight", PALETTE[0], |s| s.in_flight as f64),
        ("posts completed", PALETTE[2], |s| s.completions as f64),
        ("429 responses", PALETTE[3], |s| s.rate_limited as f64),
    ];
    for (label, color, pick) in series {
        chart
            .draw_series(LineSeries::new(
                t.iter().map(|s| (s.second as f64 + 0.5, pick(s))),
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

fn tokens_per_minute<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, c: &CaseResult) -> Drawn
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
        &format!("Tokens per minute against the TPM limit: {}", case_label(c)),
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

/// Draws with `draw` on an SVG canvas; returns its text.
macro_rules! svg {
    ($draw:ident, $data:expr) => {{
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
            $draw(&root, $data)?;
            root.present()?;
        }
        svg.into_bytes()
    }};
}

/// Draws with `draw` on a PNG and an SVG canvas; returns both files' bytes.
macro_rules! both {
    ($draw:ident, $data:expr) => {{
        let (w, h) = SIZE;
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
            $draw(&root, $data)?;
            root.present()?;
        }
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &rgb,
            w,
            h,
            image::ColorType::Rgb8,
        )?;
        (png, svg!($draw, $data))
    }};
}

impl ChartExporter {
    /// Every chart's title and file stem, in report order.
    pub fn titles(r: &RunResult) -> Vec<(String, String)> {
        let mut t = vec![
            (
                "Post latency by percentile, all cases".to_string(),
                "percentiles".to_string(),
            ),
            (
                "Monthly cost at the measured $/post, gpt-4o against gpt-4o-mini".to_string(),
                "cost".to_string(),
            ),
        ];
        for c in &r.cases {
            let l = case_label(c);
            t.push((
                format!("Post latency histogram: {l}"),
                format!("latency-{}", slug(c)),
            ));
            t.push((
                format!("Every post over time: {l}"),
                format!("posts-{}", slug(c)),
            ));
            t.push((
                format!("Per-second timeline: {l}"),
                format!("timeline-{}", slug(c)),
            ));
            t.push((
                format!("Tokens per minute against the TPM limit: {l}"),
                format!("tokens-{}", slug(c)),
            ));
        }
        t
    }

    /// Every chart as SVG text, with its title, in report order (for report.html).
    pub fn svgs(&self, r: &RunResult) -> anyhow::Result<Vec<(String, String)>> {
        register_font()?;
        let titles = Self::titles(r);
        let mut svgs = vec![svg!(percentiles, r), svg!(cost, (r, &self.prices))];
        for c in &r.cases {
            svgs.push(svg!(histogram, c));
            svgs.push(svg!(posts_over_time, c));
            svgs.push(svg!(timeline, c));
            svgs.push(svg!(tokens_per_minute, c));
        }
        Ok(titles
            .into_iter()
            .zip(svgs)
            .map(|((title, _), svg)| (title, String::from_utf8_lossy(&svg).into_owned()))
            .collect())
    }

    /// Every chart as (file name under `charts/`, bytes).
    pub fn charts(&self, r: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        register_font()?;
        let mut out = Vec::new();
        let mut push = |stem: String, (png, svg): (Vec<u8>, Vec<u8>)| {
            out.push((format!("charts/{stem}.png"), png));
            out.push((format!("charts/{stem}.svg"), svg));
        };
        push("percentiles".into(), both!(percentiles, r));
        push("cost".into(), both!(cost, (r, &self.prices)));
        for c in &r.cases {
            push(format!("latency-{}", slug(c)), both!(histogram, c));
            push(format!("posts-{}", slug(c)), both!(posts_over_time, c));
            push(format!("timeline-{}", slug(c)), both!(timeline, c));
            push(format!("tokens-{}", slug(c)), both!(tokens_per_minute, c));
        }
        Ok(out)
    }
}

impl Exporter for ChartExporter {
    fn file_name(&self) -> &'static str {
        "charts"
    }
    fn render(&self, _: &RunResult) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("charts are many files: use outputs()")
    }
    fn outputs(&self, r: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        self.charts(r)
    }
}

// After the macros above: the plan's charts use them.
mod plan;
pub use self::plan::plan_charts;
