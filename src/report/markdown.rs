//! `report.md`: GitHub-flavoured Markdown that fits a CI step summary — the run's inputs, one row
//! per scenario × tier, and the claims table.

use std::fmt::Write;

use super::claims::{evaluate, ClaimsFile, Judgement};
use super::{Exporter, RunResult, TargetInfo};
use crate::openai::catalog::PriceTable;

pub struct MarkdownExporter {
    pub claims: ClaimsFile,
    pub prices: PriceTable,
}

fn s(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |v| format!("{:.2}", v / 1000.0))
}

/// Escapes what would break a table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

impl Exporter for MarkdownExporter {
    fn file_name(&self) -> &'static str {
        "report.md"
    }

    fn render(&self, r: &RunResult) -> anyhow::Result<Vec<u8>> {
        let mut o = String::new();
        let _ = writeln!(o, "# postload run {}\n", r.run_id);
        let target = match &r.target {
            TargetInfo::EmbeddedStub { latency, .. } => format!("embedded OpenAI stub ({latency})"),
            TargetInfo::BaseUrl { base_url } => format!("`{base_url}`"),
        };
        let _ = writeln!(
            o,
            "Started {}{}, postload {}. Target: {target}. Prices: `{}` (as of {}).{}\n",
            r.started_at,
            r.finished_at
                .as_ref()
                .map_or(String::new(), |f| format!(", finished {f}")),
            r.postload_version,
            r.prices.version,
            r.prices.as_of,
            if r.interrupted {
                " **Interrupted by Ctrl-C: later cases were not run.**"
            } else {
                ""
            }
        );

        let _ = writeln!(o, "## Results\n");
        let _ = writeln!(
            o,
            "Latencies are of successful posts, in seconds, to the last byte of each response.\n"
        );
        let _ = writeln!(o, "| scenario | tier | model | posts | ok % | p50 | p95 | p99 | max | makespan | 429s | retries | tokens/post | $/post | $/batch |");
        let _ = writeln!(o, "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        for c in &r.cases {
            let m = &c.measured;
            let l = &m.post_latency_ms.ok;
            let ok_pct = if m.posts.total > 0 {
                100.0 * m.posts.ok as f64 / m.posts.total as f64
            } else {
                0.0
            };
            let _ = writeln!(
                o,
                "| {}{} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {:.2} | {} | {} | {:.0} | {} | {} |",
                c.scenario,
                if c.interrupted { " (interrupted)" } else { "" },
                c.tier,
                c.inputs.model,
                m.posts.total,
                ok_pct,
                s(l.p50),
                s(l.p95),
                s(l.p99),
                s(l.max),
                m.makespan_ms / 1000.0,
                m.calls.http_429,
                m.calls.retries,
                m.tokens.per_post,
                m.cost.as_ref().map_or("-".into(), |k| format!("${:.5}", k.per_post_usd)),
                m.cost.as_ref().map_or("-".into(), |k| format!("${:.3}", k.per_batch_usd)),
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
                    .map(|(k, v)| {
                        format!(
                            "{v} {}",
                            serde_json::to_value(k)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_owned))
                                .unwrap_or_default()
                        )
                    })
                    .collect();
                format!("{} tier {}: {}", c.scenario, c.tier, causes.join(", "))
            })
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(o, "\nFailed posts by cause: {}.", failures.join("; "));
        }

        let verdicts = evaluate(&self.claims, r, &self.prices);
        if !verdicts.is_empty() {
            let _ = writeln!(o, "\n## Claims\n");
            if !self.claims.source.is_empty() {
                let _ = writeln!(o, "From: {}.\n", self.claims.source);
            }
            let _ = writeln!(o, "| claim | case | measured | verdict | evidence |");
            let _ = writeln!(o, "| --- | --- | --- | --- | --- |");
            for v in &verdicts {
                let verdict = match (v.verdict, &v.cause) {
                    (Judgement::Fails, Some(cause)) => format!("**fails**: {cause}"),
                    (Judgement::Fails, None) => "**fails**".into(),
                    (j, _) => j.label().into(),
                };
                let _ = writeln!(
                    o,
                    "| {} | {} | {} | {} | {} |",
                    cell(&v.statement),
                    cell(v.case.as_deref().unwrap_or("-")),
                    cell(&v.measured),
                    cell(&verdict),
                    cell(&v.evidence)
                );
            }
        }

        let _ = writeln!(o, "\n## Inputs\n");
        let _ = writeln!(o, "| scenario | tier | limits (RPM / TPM) | users | prompts (image / caption) | retry | seed | latency profile |");
        let _ = writeln!(o, "| --- | ---: | --- | ---: | --- | --- | ---: | --- |");
        for c in &r.cases {
            let i = &c.inputs;
            let _ = writeln!(
                o,
                "| {} (`{}`) | {} of `{}` | {} / {} | {} | {}+{} / {}+{} tokens | {} | {} | {} |",
                c.scenario,
                i.scenario_file,
                i.tier,
                i.tier_set,
                i.limits.rpm,
                i.limits.tpm,
                i.load.users(),
                i.prompts.image_prompt.prompt_tokens,
                i.prompts.image_prompt.max_tokens,
                i.prompts.caption.prompt_tokens,
                i.prompts.caption.max_tokens,
                serde_json::to_value(i.retry)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                i.seed,
                i.latency_profile
                    .as_ref()
                    .map_or("-".into(), |p| if p.as_of.is_empty() {
                        p.name.clone()
                    } else {
                        format!("{} (as of {})", p.name, p.as_of)
                    }),
            );
        }
        Ok(o.into_bytes())
    }
}
