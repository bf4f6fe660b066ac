//! Charts (plotters, PNG and SVG, with an embedded DejaVu Sans so no system fonts are needed):
//! the house style, the two canvases, and the registry of a run's charts ([`RUN_CHARTS`] and
//! [`CASE_CHARTS`]: file stem, title, drawing) that the chart files, report.md's links and
//! report.html's figures all read. The run's charts are drawn in `charts/run.rs`, a burst's
//! waterfall in `charts/waterfall.rs`, the token bucket replay in `charts/bucket.rs` (the
//! timeline's bins in `charts/bins.rs`), the planner's in `charts/plan.rs`; the pure rules
//! (axis limits, the bucket's window) in `charts/rules.rs`.

use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{CaseResult, Exporter, RunResult};
use crate::claims::ClaimsFile;
use crate::limits::MAX_CHARTED_CASES;
use crate::openai::catalog::PriceTable;

pub mod bins;
pub mod bucket;
mod cost;
mod levers;
mod plan;
mod rate;
pub mod rules;
mod run;
pub mod waterfall;

pub(crate) use self::plan::plan_chart_links;
pub use self::plan::plan_charts;
pub use self::rate::{find_rate_charts, RateLine, RateView};
pub use self::run::usd_per_post;

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

/// The chart files of a run: `charts/<name>.png` and `.svg`. Prices are for the cost chart, and
/// the claims for the note's own monthly figures beside it.
pub struct ChartExporter {
    pub claims: ClaimsFile,
    pub prices: PriceTable,
}

/// What drawing a chart returns.
type Drawn = anyhow::Result<()>;

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

/// The series colours: Okabe and Ito's palette, told apart with any common colour blindness
/// (blue, orange, bluish green, vermillion, reddish purple, sky blue).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(213, 94, 0),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
];

/// The colour of the `i`th case on a chart of every case: the palette with vermillion last,
/// so the first cases do not pair orange with vermillion.
fn case_colour(i: usize) -> RGBColor {
    const ORDER: [usize; 6] = [0, 1, 2, 4, 5, 3];
    PALETTE[ORDER[i % ORDER.len()]]
}

/// A canvas or a part of one.
type Area<DB> = DrawingArea<DB, Shift>;

/// The house title on `root`, then a strip of `strip` pixels under it for labels and keys
/// that must not cover the data ([`label_above`], [`keys`]); returns (strip, plot area).
fn under_title<DB: DrawingBackend>(
    root: &Area<DB>,
    title: &str,
    strip: u32,
) -> anyhow::Result<(Area<DB>, Area<DB>)>
where
    DB::ErrorType: 'static,
{
    let area = root.margin(12, 0, 0, 0).titled(title, ("sans-serif", 24))?;
    Ok(area.split_vertically(strip))
}

/// The house margins and label areas, without a title (see [`under_title`]).
fn plot_builder<'a, 'b, DB: DrawingBackend>(
    area: &'a Area<DB>,
    y_label_width: u32,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(16)
        .margin_top(4)
        .x_label_area_size(50)
        .y_label_area_size(y_label_width);
    b
}

/// `text` centred over the chart point `at` (the top of the plot) and written on `root` just
/// above the plot area, where it cannot cover a bar. `root` is the whole canvas: the point's
/// pixel is the backend's.
fn label_above<DB: DrawingBackend, X: Ranged, Y: Ranged>(
    root: &Area<DB>,
    chart: &ChartContext<'_, DB, Cartesian2d<X, Y>>,
    at: (X::ValueType, Y::ValueType),
    text: &str,
    color: &RGBColor,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let (x, y) = chart.backend_coord(&at);
    let style = ("sans-serif", 16)
        .into_font()
        .color(color)
        .pos(Pos::new(HPos::Center, VPos::Bottom));
    root.draw_text(text, &style, (x, y - 4))?;
    Ok(())
}

/// A key in a strip: its label, the colour of its swatch and the swatch's half height (px).
pub(super) type Key<'a> = (&'a str, RGBColor, i32);

/// The keys in one row across `strip`, from the left: a swatch and a label each. A legend
/// outside the plot, where no bar can be under it.
fn keys<DB: DrawingBackend>(strip: &Area<DB>, keys: &[Key]) -> Drawn
where
    DB::ErrorType: 'static,
{
    let font = ("sans-serif", 15).into_font();
    let style = font.color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    let y = strip.dim_in_pixel().1 as i32 / 2;
    let mut x = 80;
    for (label, colour, half) in keys {
        strip.draw(&Rectangle::new(
            [(x, y - half), (x + 16, y + half)],
            colour.filled(),
        ))?;
        strip.draw_text(label, &style, (x + 22, y))?;
        x += 22 + strip.estimate_text_size(label, &style)?.0 as i32 + 24;
    }
    Ok(())
}

/// A chart ready to draw: the same drawing goes on the PNG and the SVG canvas.
trait Draw {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static;
}

/// Draws `chart` on an SVG canvas; returns its text.
fn svg(chart: &impl Draw) -> anyhow::Result<Vec<u8>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        chart.draw(&root)?;
        root.present()?;
    }
    Ok(svg.into_bytes())
}

/// Draws `chart` on a PNG and an SVG canvas; returns both files' bytes.
fn png_and_svg(chart: &impl Draw) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        chart.draw(&root)?;
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
    Ok((png, svg(chart)?))
}

/// Where a chart's PNG is written, and what report.md and plan.md link to.
fn png_path(stem: &str) -> String {
    format!("charts/{stem}.png")
}

/// A chart's two files, `charts/<stem>.png` and `.svg`, as the writer takes them.
fn files(stem: &str, (png, svg): (Vec<u8>, Vec<u8>)) -> [(String, Vec<u8>); 2] {
    [(png_path(stem), png), (format!("charts/{stem}.svg"), svg)]
}

/// A kind of chart: its file stem, its title (in the reports' chart lists, not the caption drawn
/// on the chart) and what draws it.
struct ChartKind<D> {
    stem: &'static str,
    title: &'static str,
    drawing: D,
}

/// A burst with recorded post intervals gets the waterfall; any other case (a sustained load,
/// or a result.json written before the intervals were recorded) the scatter of every post.
fn has_waterfall(c: &CaseResult) -> bool {
    matches!(c.inputs.load, crate::scenario::Load::Burst { .. })
        && !c.measured.post_timings.is_empty()
}

/// A case with 429s and recorded attempts gets the token bucket chart.
fn has_bucket(c: &CaseResult) -> bool {
    c.measured.calls.http_429 > 0 && !c.measured.attempts.is_empty()
}

/// Which function of `charts/run.rs` draws a run chart.
#[derive(Clone, Copy)]
enum Drawing {
    // From the whole run.
    Percentiles,
    Cost,
    // From one case.
    Histogram,
    PostsOverTime,
    Waterfall,
    TokenBucket,
    Timeline,
    TokensPerMinute,
}

impl Drawing {
    /// Whether a case has this chart: the waterfall replaces the scatter of every post for a
    /// burst, and the token bucket is drawn where there were 429s.
    fn is_drawn_for(self, c: &CaseResult) -> bool {
        match self {
            Drawing::Waterfall => has_waterfall(c),
            Drawing::PostsOverTime => !has_waterfall(c),
            Drawing::TokenBucket => has_bucket(c),
            _ => true,
        }
    }
}

/// The charts of the whole run, first in the reports: `charts/<stem>`, titled `<title>`.
const RUN_CHARTS: [ChartKind<Drawing>; 2] = [
    ChartKind {
        stem: "percentiles",
        title: "Post latency by percentile, all cases",
        drawing: Drawing::Percentiles,
    },
    ChartKind {
        stem: "cost",
        title: "Monthly cost at the measured $/post, gpt-4o against gpt-4o-mini",
        drawing: Drawing::Cost,
    },
];

/// The charts of each case, after the run's, case by case: `charts/<stem>-<case slug>`, titled
/// `<title>: <case label>`, for the cases each is drawn for ([`Drawing::is_drawn_for`]).
const CASE_CHARTS: [ChartKind<Drawing>; 6] = [
    ChartKind {
        stem: "latency",
        title: "Post latency histogram",
        drawing: Drawing::Histogram,
    },
    ChartKind {
        stem: "waterfall",
        title: "Waterfall of every post's calls and 429 waits",
        drawing: Drawing::Waterfall,
    },
    ChartKind {
        stem: "posts",
        title: "Every post over time",
        drawing: Drawing::PostsOverTime,
    },
    ChartKind {
        stem: "bucket",
        title: "The TPM token bucket replayed from the attempts",
        drawing: Drawing::TokenBucket,
    },
    ChartKind {
        stem: "timeline",
        title: "Timeline of posts in flight, completions and 429s",
        drawing: Drawing::Timeline,
    },
    ChartKind {
        stem: "tokens",
        title: "Tokens per minute against the TPM limit",
        drawing: Drawing::TokensPerMinute,
    },
];

/// One chart of a run: a kind, with its case for a case chart.
struct RunChart<'a> {
    kind: &'static ChartKind<Drawing>,
    case: Option<&'a CaseResult>,
}

impl RunChart<'_> {
    fn stem(&self) -> String {
        match self.case {
            Some(c) => format!("{}-{}", self.kind.stem, super::case_slug(c)),
            None => self.kind.stem.to_string(),
        }
    }

    fn title(&self) -> String {
        match self.case {
            Some(c) => format!("{}: {}", self.kind.title, c.label()),
            None => self.kind.title.to_string(),
        }
    }
}

/// The cases of `r` that get charts: the first [`MAX_CHARTED_CASES`].
fn charted(r: &RunResult) -> Vec<&CaseResult> {
    r.cases.iter().take(MAX_CHARTED_CASES).collect()
}

/// Every chart of `r`, in report order: the run's, then each case's, for the first
/// [`MAX_CHARTED_CASES`] cases (a case's charts are about 650 KB; 2,000 cases drew 1.3 GB).
fn run_charts(r: &RunResult) -> Vec<RunChart<'_>> {
    let whole = RUN_CHARTS.iter().map(|kind| RunChart { kind, case: None });
    let cases = charted(r).into_iter().flat_map(|c| {
        CASE_CHARTS
            .iter()
            .filter(|kind| kind.drawing.is_drawn_for(c))
            .map(move |kind| RunChart {
                kind,
                case: Some(c),
            })
    });
    whole.chain(cases).collect()
}

/// A run chart with what it is drawn from.
struct RunDrawing<'a> {
    chart: &'a RunChart<'a>,
    result: &'a RunResult,
    prices: &'a PriceTable,
    claims: &'a ClaimsFile,
}

impl Draw for RunDrawing<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Drawn
    where
        DB::ErrorType: 'static,
    {
        let case = || {
            self.chart.case.ok_or_else(|| {
                anyhow::anyhow!("the {} chart is drawn for a case", self.chart.kind.stem)
            })
        };
        match self.chart.kind.drawing {
            Drawing::Percentiles => run::percentiles(root, self.result),
            Drawing::Cost => cost::cost(root, self.result, self.prices, self.claims),
            Drawing::Histogram => run::histogram(root, case()?),
            Drawing::PostsOverTime => run::posts_over_time(root, case()?),
            Drawing::Waterfall => waterfall::draw(root, case()?),
            Drawing::TokenBucket => bucket::draw(root, case()?),
            Drawing::Timeline => run::timeline(root, case()?, &charted(self.result)),
            Drawing::TokensPerMinute => run::tokens_per_minute(root, case()?),
        }
    }
}

impl ChartExporter {
    /// Every chart's title and file stem, in report order.
    pub fn titles(r: &RunResult) -> Vec<(String, String)> {
        run_charts(r)
            .iter()
            .map(|chart| (chart.title(), chart.stem()))
            .collect()
    }

    /// Every chart's title and the path of its PNG, in report order (report.md's links).
    pub fn links(r: &RunResult) -> Vec<(String, String)> {
        run_charts(r)
            .iter()
            .map(|chart| (chart.title(), png_path(&chart.stem())))
            .collect()
    }

    /// Every chart as SVG text, with its title, in report order (for report.html).
    pub fn svgs(&self, r: &RunResult) -> anyhow::Result<Vec<(String, String)>> {
        register_font()?;
        run_charts(r)
            .iter()
            .map(|chart| {
                let svg = svg(&self.drawing(chart, r))?;
                Ok((chart.title(), String::from_utf8_lossy(&svg).into_owned()))
            })
            .collect()
    }

    /// Every chart as (file name under `charts/`, bytes).
    pub fn charts(&self, r: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        register_font()?;
        let mut out = Vec::new();
        for chart in &run_charts(r) {
            out.extend(files(&chart.stem(), png_and_svg(&self.drawing(chart, r))?));
        }
        Ok(out)
    }

    fn drawing<'a>(&'a self, chart: &'a RunChart<'a>, result: &'a RunResult) -> RunDrawing<'a> {
        RunDrawing {
            chart,
            result,
            prices: &self.prices,
            claims: &self.claims,
        }
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
