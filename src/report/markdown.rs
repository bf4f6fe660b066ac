//! The human report, built once as a [`Document`] (paragraphs and tables of plain text) and
//! rendered two ways: `report.md`, GitHub-flavoured Markdown that fits a CI step summary, and
//! `report.html`, one self-contained file with the charts' SVGs inline ([`html`]).

use std::fmt::Write;

use super::charts::ChartExporter;
use super::claims::{evaluate, ClaimVerdict, ClaimsFile, Judgement};
pub use super::document::{Document, Section, TableCell};
use super::{name_of, CaseResult, Exporter, RunResult, TargetInfo};
use crate::metrics::{Measured, TokenSource};
use crate::openai::catalog::PriceTable;

mod data;
mod html;
pub use self::html::{html, HtmlChart, HtmlExporter, HTML_BUDGET_BYTES};

/// `report.md`: the document as GitHub-flavoured Markdown, with links to the charts.
pub struct MarkdownExporter {
    pub claims: ClaimsFile,
    pub prices: PriceTable,
}

use super::summary::opt_s as s;

/// Tokens per successful post, or `unknown` when no usage came back and no stub counted the
/// calls.
fn tokens_per_post(m: &Measured) -> String {
    if m.tokens.source == TokenSource::Unknown {
        "unknown".into()
    } else {
        super::summary::tokens_per_post(m)
    }
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
        sec.rows.push(service_row(c));
        if let Some(named) = &c.inputs.scenario_model {
            sec.notes.push(format!(
                "{} tier {}: the scenario names {named}, but the service called {} (the stub's \
                 counts): the case is priced, limited and judged as {}.",
                c.scenario, c.tier, c.inputs.model, c.inputs.model
            ));
        }
        let m = &c.measured;
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
        if c.stub.is_some() && m.posts.failed > 0 {
            sec.notes.push(format!(
                "{} tier {}: stub tokens/post is `-`: {} posts failed, and the stub counts calls, \
                 not posts, so it cannot set their tokens apart from the successful posts'.",
                c.scenario, c.tier, m.posts.failed
            ));
        }
    }
    Some(sec)
}

/// The stub's tokens ÷ the successful posts, shown only when every post succeeded: the stub
/// counts calls, not posts, so it cannot set a failed post's tokens apart, and "per post" means
/// per successful post everywhere.
fn stub_tokens_per_post(c: &CaseResult) -> String {
    let m = &c.measured;
    match &c.stub {
        Some(st) if m.posts.ok > 0 && m.posts.failed == 0 => {
            let (p, _, o) = st.tokens();
            format!("{:.0}", (p + o) as f64 / m.posts.ok as f64)
        }
        _ => "-".into(),
    }
}

/// A service-mode case: posts at the service, then the stub's view of the calls inside it
/// (`-` without a stub alongside).
fn service_row(c: &CaseResult) -> Vec<TableCell> {
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
        tokens_per_post(m),
        stub_tokens_per_post(c),
        name_of(&m.tokens.source),
    ]
    .map(TableCell::from)
    .to_vec()
}

/// The report's content, format-free.
pub fn document(r: &RunResult, claims: &ClaimsFile, prices: &PriceTable) -> Document {
    let verdicts = evaluate(claims, r, prices);
    let mut sections = vec![results_section(r)];
    sections.extend(service_section(r));
    sections.extend(super::service::section(r));
    sections.extend(verdicts_section("Claims", &verdicts, &claims.source));
    sections.push(inputs_section(r));
    Document {
        title: format!("postload run {}", r.run_id),
        verdict: (!verdicts.is_empty())
            .then(|| super::claims::headline(claims, &verdicts).section()),
        intro: intro(r),
        sections,
    }
}

/// The paragraph under the title: when, what version, against what, at which prices, and
/// whether time was scaled, money capped or the run interrupted.
fn intro(r: &RunResult) -> String {
    format!(
        "Started {}{}, postload {}. Target: {}. Prices: {} (as of {}).{}{}{}{}",
        r.started_at,
        r.finished_at
            .as_ref()
            .map_or(String::new(), |f| format!(", finished {f}")),
        r.postload_version,
        target_text(&r.target),
        r.prices.version,
        r.prices.as_of,
        time_scale_text(r),
        budget_text(r),
        shard_text(r),
        if r.interrupted {
            " Interrupted by a signal (Ctrl-C, SIGTERM or SIGHUP): the figures cover what was measured until then; later cases were not run."
        } else {
            ""
        }
    )
}

fn target_text(target: &TargetInfo) -> String {
    match target {
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
    }
}

/// A shard's run (`--shard i/N`) says so: its figures are its posts only (with a leading space).
fn shard_text(r: &RunResult) -> String {
    r.shard.map_or(String::new(), |s| {
        format!(
            " **Shard {} of {}**: the figures cover this shard's posts only (one in {} of the run's); `postload merge` combines the {} shards' result.json files (docs/shards.md).",
            s.index, s.count, s.count, s.count
        )
    })
}

/// The spend guard's figures, when the run had one (with a leading space).
fn budget_text(r: &RunResult) -> String {
    r.budget.as_ref().map_or(String::new(), |b| {
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
    })
}

/// The time scales other than 1 the cases ran at, if any (with a leading space).
fn time_scale_text(r: &RunResult) -> String {
    let scales: std::collections::BTreeSet<String> = r
        .cases
        .iter()
        .filter(|c| c.inputs.time_scale != 1.0)
        .map(|c| format!("{}", c.inputs.time_scale))
        .collect();
    if scales.is_empty() {
        String::new()
    } else {
        format!(
            " **Time scale {}×**: the stub's latencies and bucket refill and the run's waits ran that much faster; every time here is modelled time (real time × K).",
            scales.into_iter().collect::<Vec<_>>().join("×, ")
        )
    }
}

/// One row per case: posts, latencies, 429s, tokens and cost.
fn results_section(r: &RunResult) -> Section {
    Section {
        title: "Results".into(),
        paragraphs: vec![
            "Latencies are of successful posts, in seconds, to the last byte of each response. \
             Tokens and $ are per successful post, of its own calls; \"wasted\" is the tokens \
             and $ of failed posts' calls (billed, yet no post came of them); $/batch is the \
             whole case's bill."
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
            "wasted",
            "$/batch",
        ],
        right: vec![
            false, true, false, true, true, true, true, true, true, true, true, true, true, true,
            true, true,
        ],
        rows: r.cases.iter().map(result_row).collect(),
        notes: result_notes(r),
    }
}

fn result_row(c: &CaseResult) -> Vec<TableCell> {
    let m = &c.measured;
    let l = &m.post_latency_ms.ok;
    let ok_pct = m.posts.success_percent();
    [
        format!(
            "{}{}",
            c.scenario,
            if c.interrupted { " (interrupted)" } else { "" }
        ),
        c.tier.to_string(),
        model_cell(&c.inputs),
        m.posts.total.to_string(),
        format!("{ok_pct:.1}"),
        s(l.p50),
        s(l.p95),
        s(l.p99),
        s(l.max),
        format!("{:.2}", m.makespan_ms / 1000.0),
        m.calls.http_429.to_string(),
        m.calls.retries.to_string(),
        tokens_per_post(m),
        super::summary::usd_per_post(m),
        super::summary::wasted(m),
        m.cost
            .as_ref()
            .map_or("-".into(), |k| format!("${:.3}", k.per_batch_usd)),
    ]
    .map(TableCell::from)
    .to_vec()
}

/// The case's model, with the reasoning effort it ran at and the Responses API when it used
/// them: `gpt-5-mini (effort high, Responses API)`; the model alone for a default case.
fn model_cell(i: &crate::result::CaseInputs) -> String {
    let mut how = Vec::new();
    if let Some(e) = i.reasoning_effort {
        how.push(format!("effort {e}"));
    }
    if !i.endpoint.is_chat() {
        how.push("Responses API".to_string());
    }
    if how.is_empty() {
        i.model.clone()
    } else {
        format!("{} ({})", i.model, how.join(", "))
    }
}

/// What the results table cannot show: failures by cause, unknown tokens, impossible usage.
fn result_notes(r: &RunResult) -> Vec<String> {
    let mut notes = Vec::new();
    let failures: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.measured.posts.failed > 0)
        .map(|c| {
            format!(
                "{} tier {}: {}",
                c.scenario,
                c.tier,
                crate::metrics::causes_phrase(&c.measured.posts.failed_by_cause)
            )
        })
        .collect();
    if !failures.is_empty() {
        notes.push(format!("Failed posts by cause: {}.", failures.join("; ")));
    }
    notes.extend(super::summary::unsplit_note(r));
    notes.extend(first_caption_token_note(r));
    notes.extend(queue_wait_note(r));
    notes.extend(super::summary::token_notes(r));
    let saturated: Vec<String> = r
        .cases
        .iter()
        .filter(|c| {
            c.measured.post_latency_ms.ok.saturated || c.measured.post_latency_ms.failed.saturated
        })
        .map(|c| c.label())
        .collect();
    if !saturated.is_empty() {
        notes.push(format!(
            "Latencies past the histograms' 1-hour ceiling ({}): a figure at the ceiling is unknown (an hour or more) and shown as \"-\", never as the ceiling.",
            saturated.join("; ")
        ));
    }
    if r.cases.len() > crate::limits::MAX_CHARTED_CASES {
        notes.push(format!(
            "Charts are drawn for the first {} of the {} cases only (a case's charts are about 650 KB).",
            crate::limits::MAX_CHARTED_CASES,
            r.cases.len()
        ));
    }
    notes
}

/// The cases whose stub said each caption's time to first token: when a streamed caption's
/// first token would have reached the user, modelled (the stub sends each answer whole).
fn first_caption_token_note(r: &RunResult) -> Option<String> {
    let cases: Vec<String> = r
        .cases
        .iter()
        .filter_map(|c| {
            let f = c.measured.first_caption_token_ms.as_ref()?;
            Some(format!(
                "{} p50 {} s, p95 {} s",
                c.label(),
                s(f.p50),
                s(f.p95)
            ))
        })
        .collect();
    (!cases.is_empty()).then(|| {
        format!(
            "Time to first caption token, modelled (what a streamed caption would show first: \
             the caption's send plus the stub's drawn time to first token; the stub does not \
             stream at that pace): {}.",
            cases.join("; ")
        )
    })
}

/// The cases whose calls waited in the client's own queue (`client_queue`): how long.
fn queue_wait_note(r: &RunResult) -> Option<String> {
    let cases: Vec<String> = r
        .cases
        .iter()
        .filter_map(|c| {
            let w = c.measured.queue_wait_ms.as_ref()?;
            Some(format!(
                "{} p50 {} s, p95 {} s, max {} s over {} calls",
                c.label(),
                s(w.p50),
                s(w.p95),
                s(w.max),
                w.count
            ))
        })
        .collect();
    (!cases.is_empty()).then(|| {
        format!(
            "Client queue (each call's first attempt waited for the client's own token bucket \
             with the tier's limits, first come first served): {}.",
            cases.join("; ")
        )
    })
}

/// A table of verdicts (the run's, or the planner's in plan.md); `None` without any.
pub(crate) fn verdicts_section(
    title: &str,
    verdicts: &[ClaimVerdict],
    source: &str,
) -> Option<Section> {
    if verdicts.is_empty() {
        return None;
    }
    let mut sec = Section {
        title: title.into(),
        header: vec!["claim", "case", "measured", "verdict", "evidence"],
        right: vec![false; 5],
        ..Section::default()
    };
    if !source.is_empty() {
        sec.paragraphs.push(format!("From: {source}."));
    }
    for v in verdicts {
        let verdict = match (v.verdict, &v.cause) {
            (Judgement::Fails, Some(cause)) => TableCell {
                text: format!("fails: {cause}"),
                strong: true,
            },
            (Judgement::Fails, None) => TableCell {
                text: "fails".into(),
                strong: true,
            },
            (j, _) => TableCell::from(j.label().to_string()),
        };
        sec.rows.push(vec![
            TableCell::from(v.statement.clone()),
            TableCell::from(v.case.clone().unwrap_or_else(|| "-".into())),
            TableCell::from(v.measured.clone()),
            verdict,
            TableCell::from(v.evidence.clone()),
        ]);
    }
    Some(sec)
}

/// What each case ran with: scenario file, tier and limits, users, prompt sizes, retry policy,
/// seed and latency profile.
fn inputs_section(r: &RunResult) -> Section {
    Section {
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
        rows: r.cases.iter().map(input_row).collect(),
        paragraphs: data::paragraph(r).into_iter().collect(),
        ..Section::default()
    }
}

fn input_row(c: &CaseResult) -> Vec<TableCell> {
    let i = &c.inputs;
    [
        format!("{} ({})", c.scenario, i.scenario_file),
        format!("{} of {}", i.tier, i.tier_set),
        format!("{} / {}", i.limits.rpm, i.limits.tpm),
        i.load.users().to_string(),
        format!(
            "{}+{} / {}+{} tokens{}",
            i.prompts.image_prompt.prompt_tokens,
            i.prompts.image_prompt.max_tokens,
            i.prompts.caption.prompt_tokens,
            i.prompts.caption.max_tokens,
            if i.parallel_calls {
                ", calls in parallel"
            } else {
                ""
            }
        ),
        if i.client_queue {
            format!("{} + client queue", name_of(&i.retry))
        } else {
            name_of(&i.retry)
        },
        i.seed.to_string(),
        i.latency_profile.as_ref().map_or("-".into(), |p| {
            if p.as_of.is_empty() {
                p.name.clone()
            } else {
                format!("{} (as of {})", p.name, p.as_of)
            }
        }),
    ]
    .map(TableCell::from)
    .to_vec()
}

/// Escapes what would break a Markdown table cell.
fn md_cell(c: &TableCell) -> String {
    let t = md_line_breaks(&c.text).replace('|', "\\|");
    if c.strong {
        format!("**{t}**")
    } else {
        t
    }
}

/// Text of one Markdown block (a heading, a paragraph, a note, a link's title): on one line,
/// whatever user data it holds (a scenario name with newlines, a run id), and never opening a
/// block of its own (a heading, a quote, a list, a table row).
fn md_line(text: &str) -> String {
    let one = md_line_breaks(text);
    let bare = one.trim_start();
    let opens_block = bare.starts_with(['#', '>', '-', '+', '*', '=', '`', '~', '<'])
        || bare.split_once(['.', ')']).is_some_and(|(n, rest)| {
            !n.is_empty()
                && n.chars().all(|c| c.is_ascii_digit())
                && (rest.is_empty() || rest.starts_with([' ', '\t']))
        });
    if opens_block {
        format!("\\{bare}")
    } else {
        bare.to_string()
    }
}

/// `text` with every line break (CommonMark's `\r` too, and Unicode's) as a space.
fn md_line_breaks(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{85}' | '\u{2028}' | '\u{2029}' => ' ',
            c => c,
        })
        .collect()
}

/// A link's text: on one line, its brackets escaped.
fn md_link_text(text: &str) -> String {
    md_line(text).replace('[', "\\[").replace(']', "\\]")
}

fn markdown_section(o: &mut String, sec: &Section) {
    let _ = writeln!(o, "## {}\n", md_line(&sec.title));
    for p in &sec.paragraphs {
        let _ = writeln!(o, "{}\n", md_line(p));
    }
    // A section of paragraphs only (plan.md's decision) has no table.
    if !sec.header.is_empty() {
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
    }
    for n in &sec.notes {
        let _ = writeln!(o, "\n{}", md_line(n));
    }
    let _ = writeln!(o);
}

/// The document as Markdown: the title, the verdict block, the intro, the sections, the charts'
/// links.
pub fn markdown(d: &Document, chart_links: &[(String, String)]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# {}\n", md_line(&d.title));
    if let Some(v) = &d.verdict {
        markdown_section(&mut o, v);
    }
    let _ = writeln!(o, "{}\n", md_line(&d.intro));
    for sec in &d.sections {
        markdown_section(&mut o, sec);
    }
    if !chart_links.is_empty() {
        let _ = writeln!(o, "## Charts\n");
        for (title, path) in chart_links {
            let _ = writeln!(o, "- [{}]({path})", md_link_text(title));
        }
    }
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
        Ok(markdown(&d, &ChartExporter::links(r)).into_bytes())
    }
}

#[cfg(test)]
mod tests;
