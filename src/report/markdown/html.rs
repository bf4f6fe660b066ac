//! `report.html`: the run's [`Document`] as one self-contained HTML file, the charts' SVGs
//! inline (no scripts, no external references).

use std::fmt::Write;

use super::{document, Document};
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

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #ccc;padding:4px 8px;font-size:14px;vertical-align:top}th{background:#f3f3f3}td.r{text-align:right}strong{color:#b00}figure{margin:1.5em 0}svg{max-width:100%;height:auto}";

pub fn html(d: &Document, charts: &[(String, String)]) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head><body>\n<h1>{}</h1>\n<p>{}</p>\n",
        esc(&d.title),
        esc(&d.title),
        esc(&d.intro)
    );
    for sec in &d.sections {
        let _ = writeln!(o, "<h2>{}</h2>", esc(&sec.title));
        for p in &sec.paragraphs {
            let _ = writeln!(o, "<p>{}</p>", esc(p));
        }
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
        for n in &sec.notes {
            let _ = writeln!(o, "<p>{}</p>", esc(n));
        }
    }
    if !charts.is_empty() {
        o.push_str("<h2>Charts</h2>\n");
        for (title, svg) in charts {
            let _ = writeln!(
                o,
                "<figure><figcaption>{}</figcaption>\n{}</figure>",
                esc(title),
                svg
            );
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
        Ok(html(&d, &charts.svgs(r)?).into_bytes())
    }
}
