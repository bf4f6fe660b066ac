//! The human report, built once as a [`Document`] (paragraphs and tables of plain text) and
//! rendered two ways: `report.md`, GitHub-flavoured Markdown that fits a CI step summary, and
//! `report.html`, one self-contained file with the charts' SVGs inline.

use crate::metrics::TokenSource;
use std::fmt::Write;

use super::charts::ChartExporter;
use super::claims::{evaluate, ClaimsFile, Judgement};
use super::{name_of, Exporter, RunResult, TargetInfo};
use crate::openai::catalog::PriceTable;

/// Builds both human formats.
pub struct MarkdownExporter {
    pub claims: ClaimsFile,
    pub prices: PriceTable,
}

/// `report.html`: the same document, self-contained (no scripts, no external references).
pub struct HtmlExporter {
    pub claims: ClaimsFile,
    pub prices: PriceTable,
}

/// A table cell: text, shown strong (bold) or not.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub text: String,
    pub strong: bool,
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Cell {
            text,
            strong: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub title: String,
    pub paragraphs: Vec<String>,
    pub header: Vec<&'static str>,
    /// Columns aligned right (numbers).
    pub right: Vec<bool>,
    pub rows: Vec<Vec<Cell>>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub title: String,
    pub intro: String,
    pub sections: Vec<Section>,
}

fn s(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |v| format!("{:.2}", v / 1000.0))
}

/// Service mode: latency at the service beside the OpenAI calls inside it (the stub's counts).
fn service_section(r: &RunResult) -> Option<Section> {
    if r.cases.iter().all(|c| c.inputs.service.is_none()) {
        return None;
    }
    let mut sec = Section {
        title: "Service and the OpenAI calls inside it".into(),
        paragraphs: vec![
            "Post latency is measured at the service, to the last byte of its answer; the OpenAI \
             calls are the stub's modelled latencies of its 200 answers, when the stub ran \
             alongside (`--with-stub`). The difference is the service's own time: its queueing, \
             its brand-memory look-up and its retries' waits. Seconds."
                .into(),
        ],
        header: vec![
            "scenario",
            "tier",
            "service",
            "posts",
            "post p50",
            "post p95",
            "post p99",
            "OpenAI calls",
            "calls/post",
            "429s",
            "call p50",
            "call p95",
            "call p99",
            "tokens/post",
            "stub tokens/post",
            "tokens from",
        ],
        right: vec![
            false, true, false, true, true, true, true, true, true, true, true, true, true, true,
            true, false,
        ],
        ..Section::default()
    };
    for c in r.cases.iter().filter(|c| c.inputs.service.is_some()) {
        let m = &c.measured;
        let l = &m.post_latency_ms.ok;
        let svc = c.inputs.service.as_ref().expect("filtered");
        let (calls, per_post, r429, p50, p95, p99) = match &c.stub {
            Some(st) => (
                st.chat_requests.to_string(),
                if m.posts.total > 0 {
                    format!("{:.2}", st.chat_requests as f64 / m.posts.total as f64)
                } else {
                    "-".into()
                },
                st.rate_limited_total().to_string(),
                s(st.latency_ms.p50),
                s(st.latency_ms.p95),
                s(st.latency_ms.p99),
            ),
            None => Default::default(),
        };
        let dash = |v: String| if v.is_empty() { "-".to_string() } else { v };
        sec.rows.push(
            [
                c.scenario.clone(),
                c.tier.to_string(),
                format!("{} {}{}", svc.method, svc.url, svc.path),
                m.posts.total.to_string(),
                s(l.p50),
                s(l.p95),
                s(l.p99),
                dash(calls),
                dash(per_post),
                dash(r429),
                dash(p50),
                dash(p95),
                dash(p99),
                if m.tokens.source == TokenSource::Unknown {
                    "unknown".into()
                } else {
                    format!("{:.0}", m.tokens.per_post)
                },
                match (&c.stub, m.posts.total) {
                    (Some(st), n) if n > 0 => {
                        let (p, _, o) = st.tokens();
                        format!("{:.0}", (p + o) as f64 / n as f64)
                    }
                    _ => "-".into(),
                },
                name_of(&m.tokens.source),
            ]
            .map(Cell::from)
            .to_vec(),
        );
        if !m.models_reported.is_empty() {
            let models: Vec<String> = m
                .models_reported
                .iter()
                .map(|(k, v)| format!("{k} ({v})"))
                .collect();
            sec.notes.push(format!(
                "{} tier {}: the service reported model {}.",
                c.scenario,
                c.tier,
                models.join(", ")
            ));
        }
    }
    Some(sec)
}

/// The report's content, format-free.
pub fn document(r: &RunResult, claims: &ClaimsFile, prices: &PriceTable) -> Document {
    let target = match &r.target {
        TargetInfo::EmbeddedStub { latency, .. } => format!("embedded OpenAI stub ({latency})"),
        TargetInfo::BaseUrl { base_url, remote } => {
            format!(
                "{base_url}{}",
                if *remote { " (remote, billed)" } else { "" }
            )
        }
        TargetInfo::Service { openai_stub } => match openai_stub {
            Some(stub) => format!("service mode, with the OpenAI stub at {stub}"),
            None => "service mode".into(),
        },
    };
    let budget = r.budget.as_ref().map_or(String::new(), |b| {
        format!(
            " Spend guard: cap ${:.4}, worst case ${:.4}, spent ${:.4}{}.",
            b.max_cost_usd,
            b.estimated_max_usd,
            b.spent_usd,
            if b.stopped {
                format!(
                    "; **the cap was reached: the attack stopped** ({} calls not sent)",
                    b.calls_refused
                )
            } else {
                String::new()
            }
        )
    });
    let scales: std::collections::BTreeSet<String> = r
        .cases
        .iter()
        .filter(|c| c.inputs.time_scale != 1.0)
        .map(|c| format!("{}", c.inputs.time_scale))
        .collect();
    let scaled = if scales.is_empty() {
        String::new()
    } else {
        format!(
            " **Time scale {}×**: the stub's latencies and bucket refill and the run's waits ran that much faster; every time here is modelled time (real time × K).",
            scales.into_iter().collect::<Vec<_>>().join("×, ")
        )
    };
    let intro = format!(
        "Started {}{}, postload {}. Target: {target}. Prices: {} (as of {}).{scaled}{budget}{}",
        r.started_at,
        r.finished_at
            .as_ref()
            .map_or(String::new(), |f| format!(", finished {f}")),
        r.postload_version,
        r.prices.version,
        r.prices.as_of,
        if r.interrupted {
            " Interrupted by a signal (Ctrl-C, SIGTERM or SIGHUP): the figures cover what was measured until then; later cases were not run."
        } else {
            ""
        }
    );
    let mut results = Section {
        title: "Results".into(),
        paragraphs: vec![
            "Latencies are of successful posts, in seconds, to the last byte of each response."
                .into(),
        ],
        header: vec![
            "scenario",
            "tier",
            "model",
            "posts",
            "ok %",
            "p50",
            "p95",
            "p99",
            "max",
            "makespan",
            "429s",
            "retries",
            "tokens/post",
            "$/post",
            "$/batch",
        ],
        right: vec![
            false, true, false, true, true, true, true, true, true, true, true, true, true, true,
            true,
        ],
        ..Section::default()
    };
    for c in &r.cases {
        let m = &c.measured;
        let l = &m.post_latency_ms.ok;
        let ok_pct = m.posts.success_percent();
        results.rows.push(
            [
                format!(
                    "{}{}",
                    c.scenario,
                    if c.interrupted { " (interrupted)" } else { "" }
                ),
                c.tier.to_string(),
                c.inputs.model.clone(),
                m.posts.total.to_string(),
                format!("{ok_pct:.1}"),
                s(l.p50),
                s(l.p95),
                s(l.p99),
                s(l.max),
                format!("{:.2}", m.makespan_ms / 1000.0),
                m.calls.http_429.to_string(),
                m.calls.retries.to_string(),
                if m.tokens.source == TokenSource::Unknown {
                    "unknown".into()
                } else {
                    format!("{:.0}", m.tokens.per_post)
                },
                m.cost
                    .as_ref()
                    .map_or("-".into(), |k| format!("${:.5}", k.per_post_usd)),
                m.cost
                    .as_ref()
                    .map_or("-".into(), |k| format!("${:.3}", k.per_batch_usd)),
            ]
            .map(Cell::from)
            .to_vec(),
        );
    }
    let failures: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.measured.posts.failed > 0)
        .map(|c| {
            let causes: Vec<String> = c
                .measured
                .posts
                .failed_by_cause
                .iter()
                .map(|(k, v)| format!("{v} {}", name_of(k)))
                .collect();
            format!("{} tier {}: {}", c.scenario, c.tier, causes.join(", "))
        })
        .collect();
    if !failures.is_empty() {
        results
            .notes
            .push(format!("Failed posts by cause: {}.", failures.join("; ")));
    }
    let unknown: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.measured.tokens.source == TokenSource::Unknown)
        .map(|c| format!("{} tier {}", c.scenario, c.tier))
        .collect();
    if !unknown.is_empty() {
        results.notes.push(format!(
            "Tokens and cost unknown ({}): some responses carried no usage and no stub counted the calls (use --with-stub, or point [target.usage] at the response's usage).",
            unknown.join("; ")
        ));
    }
    let bad: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.measured.tokens.bad_usage > 0)
        .map(|c| format!("{}: {} calls", c.label(), c.measured.tokens.bad_usage))
        .collect();
    if !bad.is_empty() {
        results.notes.push(format!(
            "Impossible usage ({}): a successful answer's usage was not a count (a string, negative, half there) or could not be true (above 10^7 tokens, or a completion above the call's max_tokens). Those calls count as successful; their tokens are unknown and not priced.",
            bad.join("; ")
        ));
    }
    let mut sections = vec![results];
    if let Some(sec) = service_section(r) {
        sections.push(sec);
    }

    let verdicts = evaluate(claims, r, prices);
    if !verdicts.is_empty() {
        let mut sec = Section {
            title: "Claims".into(),
            header: vec!["claim", "case", "measured", "verdict", "evidence"],
            right: vec![false; 5],
            ..Section::default()
        };
        if !claims.source.is_empty() {
            sec.paragraphs.push(format!("From: {}.", claims.source));
        }
        for v in &verdicts {
            let verdict = match (v.verdict, &v.cause) {
                (Judgement::Fails, Some(cause)) => Cell {
                    text: format!("fails: {cause}"),
                    strong: true,
                },
                (Judgement::Fails, None) => Cell {
                    text: "fails".into(),
                    strong: true,
                },
                (j, _) => Cell::from(j.label().to_string()),
            };
            sec.rows.push(vec![
                Cell::from(v.statement.clone()),
                Cell::from(v.case.clone().unwrap_or_else(|| "-".into())),
                Cell::from(v.measured.clone()),
                verdict,
                Cell::from(v.evidence.clone()),
            ]);
        }
        sections.push(sec);
    }

    let mut inputs = Section {
        title: "Inputs".into(),
        header: vec![
            "scenario",
            "tier",
            "limits (RPM / TPM)",
            "users",
            "prompts (image / caption)",
            "retry",
            "seed",
            "latency profile",
        ],
        right: vec![false, true, false, true, false, false, true, false],
        ..Section::default()
    };
    for c in &r.cases {
        let i = &c.inputs;
        inputs.rows.push(
            [
                format!("{} ({})", c.scenario, i.scenario_file),
                format!("{} of {}", i.tier, i.tier_set),
                format!("{} / {}", i.limits.rpm, i.limits.tpm),
                i.load.users().to_string(),
                format!(
                    "{}+{} / {}+{} tokens",
                    i.prompts.image_prompt.prompt_tokens,
                    i.prompts.image_prompt.max_tokens,
                    i.prompts.caption.prompt_tokens,
                    i.prompts.caption.max_tokens
                ),
                name_of(&i.retry),
                i.seed.to_string(),
                i.latency_profile.as_ref().map_or("-".into(), |p| {
                    if p.as_of.is_empty() {
                        p.name.clone()
                    } else {
                        format!("{} (as of {})", p.name, p.as_of)
                    }
                }),
            ]
            .map(Cell::from)
            .to_vec(),
        );
    }
    sections.push(inputs);
    Document {
        title: format!("postload run {}", r.run_id),
        intro,
        sections,
    }
}

/// Escapes what would break a Markdown table cell.
fn md_cell(c: &Cell) -> String {
    let t = c.text.replace('|', "\\|").replace('\n', " ");
    if c.strong {
        format!("**{t}**")
    } else {
        t
    }
}

pub fn markdown(d: &Document, chart_links: &[(String, String)]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n\n{}\n", d.title, d.intro);
    for sec in &d.sections {
        let _ = writeln!(o, "## {}\n", sec.title);
        for p in &sec.paragraphs {
            let _ = writeln!(o, "{p}\n");
        }
        let _ = writeln!(o, "| {} |", sec.header.join(" | "));
        let aligns: Vec<&str> = sec
            .right
            .iter()
            .map(|r| if *r { "---:" } else { "---" })
            .collect();
        let _ = writeln!(o, "| {} |", aligns.join(" | "));
        for row in &sec.rows {
            let cells: Vec<String> = row.iter().map(md_cell).collect();
            let _ = writeln!(o, "| {} |", cells.join(" | "));
        }
        for n in &sec.notes {
            let _ = writeln!(o, "\n{n}");
        }
        let _ = writeln!(o);
    }
    if !chart_links.is_empty() {
        let _ = writeln!(o, "## Charts\n");
        for (title, path) in chart_links {
            let _ = writeln!(o, "- [{title}]({path})");
        }
    }
    o
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

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> &'static str {
        "report.md"
    }
    fn essential(&self) -> bool {
        true
    }

    fn render(&self, r: &RunResult) -> anyhow::Result<Vec<u8>> {
        let d = document(r, &self.claims, &self.prices);
        let links: Vec<(String, String)> = ChartExporter::titles(r)
            .into_iter()
            .map(|(title, stem)| (title, format!("charts/{stem}.png")))
            .collect();
        Ok(markdown(&d, &links).into_bytes())
    }
}

impl Exporter for HtmlExporter {
    fn file_name(&self) -> &'static str {
        "report.html"
    }

    fn render(&self, r: &RunResult) -> anyhow::Result<Vec<u8>> {
        let d = document(r, &self.claims, &self.prices);
        let charts = ChartExporter {
            prices: self.prices.clone(),
        };
        Ok(html(&d, &charts.svgs(r)?).into_bytes())
    }
}
