//! `report.html`: the run's [`Document`] as one self-contained HTML file, the charts' SVGs
//! inline (no scripts, no external references): the verdict first, a table of contents, each
//! case's charts folded.

use std::fmt::Write;

use super::{document, Document, Section};
use crate::openai::catalog::PriceTable;
use crate::report::charts::ChartExporter;
use crate::report::claims::ClaimsFile;
use crate::report::{Exporter, RunResult};

/// `report.html`: the same document, self-contained (no scripts, no external references).
pub struct HtmlExporter {
    pub claims: ClaimsFile,
    pub prices: PriceTable,
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;font-size:14px;vertical-align:top}th{background:#f3f3f3}td.r{text-align:right}strong{color:#b00}figure{margin:1.5em 0}svg{max-width:100%;height:auto}summary{cursor:pointer;font-weight:bold;margin:.5em 0}nav li{margin:.2em 0}";

/// The size report.html keeps to: 1 MiB. Its inline SVGs are nearly all of it (the default
/// run's 25 charts are 847 KB of its 862 KB; each TPM bucket chart draws a segment per attempt,
/// up to 1 MB at the recorder's limits). Charts are inlined in report order while they fit; the
/// rest are linked (`charts/<stem>.svg`, beside report.html), saying so. `tests/report.rs`
/// renders five cases at the recorder's limits and holds the file to this.
pub const HTML_BUDGET_BYTES: usize = 1 << 20;

/// Room kept for the wrappers, the table of contents and the closing tags.
const HTML_MARGIN_BYTES: usize = 16 << 10;

/// A chart as report.html takes it: its title, its SVG, and its file under the report folder.
#[derive(Debug, Clone)]
pub struct HtmlChart {
    pub title: String,
    pub svg: String,
    pub path: String,
}

/// An anchor for a section title: lower case letters and digits, the rest as `-`.
fn anchor(title: &str) -> String {
    title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect()
}

fn section(o: &mut String, sec: &Section) {
    let _ = writeln!(
        o,
        "<h2 id=\"{}\">{}</h2>",
        anchor(&sec.title),
        esc(&sec.title)
    );
    for p in &sec.paragraphs {
        let _ = writeln!(o, "<p>{}</p>", esc(p));
    }
    if !sec.header.is_empty() {
        o.push_str("<table><tr>");
        for h in &sec.header {
            let _ = write!(o, "<th>{}</th>", esc(h));
        }
        o.push_str("</tr>\n");
        for row in &sec.rows {
            o.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                let class = if sec.right.get(i).copied().unwrap_or(false) {
                    " class=\"r\""
                } else {
                    ""
                };
                let text = if c.strong {
                    format!("<strong>{}</strong>", esc(&c.text))
                } else {
                    esc(&c.text)
                };
                let _ = write!(o, "<td{class}>{text}</td>");
            }
            o.push_str("</tr>\n");
        }
        o.push_str("</table>\n");
    }
    for n in &sec.notes {
        let _ = writeln!(o, "<p>{}</p>", esc(n));
    }
}

/// A chart inline if it fits in `room` (then taken from it), else a link to its file.
fn figure(o: &mut String, c: &HtmlChart, room: &mut usize) {
    if c.svg.len() <= *room {
        *room -= c.svg.len();
        let _ = writeln!(
            o,
            "<figure><figcaption>{}</figcaption>\n{}</figure>",
            esc(&c.title),
            c.svg
        );
    } else {
        let _ = writeln!(
            o,
            "<p>{}: <a href=\"{}\">{}</a> ({} KB: not inlined, so that this file keeps to its {} KB budget)</p>",
            esc(&c.title),
            esc(&c.path),
            esc(&c.path),
            c.svg.len() / 1024,
            HTML_BUDGET_BYTES / 1024
        );
    }
}

/// The document as HTML: the title, the verdict block, a table of contents, the intro and the
/// sections, then the charts: the run's open, each case's folded in a `<details>` (closed).
/// A chart whose title ends with `: <case>` for one of `cases` is that case's. Charts are
/// inlined in that order while the file stays within [`HTML_BUDGET_BYTES`]; the rest linked.
pub fn html(d: &Document, charts: &[HtmlChart], cases: &[String]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n",
        esc(&d.title),
        esc(&d.title),
    );
    if let Some(v) = &d.verdict {
        section(&mut o, v);
    }
    o.push_str("<nav><h2>Contents</h2><ul>\n");
    for t in d
        .sections
        .iter()
        .map(|s| s.title.as_str())
        .chain((!charts.is_empty()).then_some("Charts"))
    {
        let _ = writeln!(o, "<li><a href=\"#{}\">{}</a></li>", anchor(t), esc(t));
    }
    o.push_str("</ul></nav>\n");
    let _ = writeln!(o, "<p>{}</p>", esc(&d.intro));
    for sec in &d.sections {
        section(&mut o, sec);
    }
    if !charts.is_empty() {
        // What the SVGs may take: the budget less the text so far and a margin for the rest.
        let mut room = HTML_BUDGET_BYTES.saturating_sub(o.len() + HTML_MARGIN_BYTES);
        o.push_str("<h2 id=\"charts\">Charts</h2>\n");
        let of_case = |title: &str, case: &str| title.ends_with(&format!(": {case}"));
        for c in charts
            .iter()
            .filter(|c| !cases.iter().any(|case| of_case(&c.title, case)))
        {
            figure(&mut o, c, &mut room);
        }
        for case in cases {
            let mine: Vec<&HtmlChart> = charts.iter().filter(|c| of_case(&c.title, case)).collect();
            if mine.is_empty() {
                continue;
            }
            let _ = writeln!(
                o,
                "<details><summary>{} ({} charts)</summary>",
                esc(case),
                mine.len()
            );
            for c in mine {
                figure(&mut o, c, &mut room);
            }
            o.push_str("</details>\n");
        }
    }
    o.push_str("</body></html>\n");
    o
}

impl Exporter for HtmlExporter {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &RunResult) -> anyhow::Result<Vec<u8>> {
        let d = document(r, &self.claims, &self.prices);
        let charts = ChartExporter {
            claims: self.claims.clone(),
            prices: self.prices.clone(),
        };
        let cases: Vec<String> = r.cases.iter().map(|c| c.label()).collect();
        // `svgs` and `titles` list the same charts in the same order.
        let charts: Vec<HtmlChart> = charts
            .svgs(r)?
            .into_iter()
            .zip(ChartExporter::titles(r))
            .map(|((title, svg), (_, stem))| HtmlChart {
                title,
                svg,
                path: format!("charts/{stem}.svg"),
            })
            .collect();
        Ok(html(&d, &charts, &cases).into_bytes())
    }
}
