//! What a run produces and how it is written. [`RunResult`] is the versioned `result.json`;
//! each format is an [`Exporter`] that turns a result into bytes, and [`ReportWriter`] is the one
//! component that writes files: atomically (a temporary file, then a rename), and again after each
//! case, so a crash or Ctrl-C still leaves a valid report.

pub mod charts;
pub mod claims;
pub mod decision;
pub mod document;
pub mod levers;
pub mod markdown;
mod paths;
pub mod plan;
pub mod rate;
pub mod service;
pub mod summary;
pub mod valid;
mod writer;

pub use self::paths::{case_slug, create_unique_dir, slug, SLUG_MAX};
pub use self::writer::{write_atomic, Exporters, ReportWriter};
pub use crate::openai::catalog::provenance::{ProfileInfo, SHIPPED};
pub use crate::result::{
    result_schema, CaseInputs, CaseResult, Goodput, PriceInfo, RunResult, TargetInfo, TierLimitRow,
    RESULT_SCHEMA,
};

pub(crate) use crate::result::name_of;

/// A run's formats: result.json, report.md, report.html, the charts and the interval logs, the
/// reports judging `claims` at `prices`.
pub fn run_exporters(
    claims: &crate::claims::ClaimsFile,
    prices: &crate::openai::catalog::PriceTable,
) -> Exporters {
    let (claims, prices) = (claims.clone(), prices.clone());
    vec![
        Box::new(JsonExporter),
        Box::new(markdown::MarkdownExporter {
            claims: claims.clone(),
            prices: prices.clone(),
        }),
        Box::new(markdown::HtmlExporter {
            claims: claims.clone(),
            prices: prices.clone(),
        }),
        Box::new(charts::ChartExporter { claims, prices }),
        Box::new(HlogExporter),
    ]
}

/// One output format.
pub trait Exporter {
    fn file_name(&self) -> &'static str;
    /// Written even when the writer is hurried (a second signal): result.json and report.md.
    fn essential(&self) -> bool {
        false
    }
    fn render(&self, result: &RunResult) -> anyhow::Result<Vec<u8>>;
    /// The files this format writes, as (path relative to the report folder, bytes).
    fn outputs(&self, result: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        Ok(vec![(self.file_name().to_string(), self.render(result)?)])
    }
}

/// `result.json`: pretty-printed, stable field order.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn file_name(&self) -> &'static str {
        "result.json"
    }
    fn essential(&self) -> bool {
        true
    }
    fn render(&self, result: &RunResult) -> anyhow::Result<Vec<u8>> {
        let mut v = serde_json::to_vec_pretty(result)?;
        v.push(b'\n');
        Ok(v)
    }
}

/// `hlog/<scenario>-tier<N>.hlog`: each case's histograms as an HdrHistogram interval log.
pub struct HlogExporter;

impl Exporter for HlogExporter {
    fn file_name(&self) -> &'static str {
        "hlog"
    }
    fn render(&self, _: &RunResult) -> anyhow::Result<Vec<u8>> {
        anyhow::bail!("interval logs are one file per case: use outputs()")
    }
    fn outputs(&self, r: &RunResult) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
        use crate::metrics::hlog;
        let start: std::time::SystemTime = chrono::DateTime::parse_from_rfc3339(&r.started_at)
            .map(|t| t.with_timezone(&chrono::Utc).into())
            .unwrap_or(std::time::UNIX_EPOCH);
        r.cases
            .iter()
            .filter(|c| !c.measured.histograms.is_empty())
            .map(|c| {
                let hists = c
                    .measured
                    .histograms
                    .iter()
                    .map(|(tag, enc)| {
                        hlog::decode(enc).map(|h| (tag.clone(), h)).map_err(|e| {
                            anyhow::anyhow!("{} tier {} histogram `{tag}`: {e}", c.scenario, c.tier)
                        })
                    })
                    .collect::<anyhow::Result<_>>()?;
                let comment = format!(
                    "postload {} run {}: {} tier {} ({}), values in microseconds",
                    r.postload_version, r.run_id, c.scenario, c.tier, c.inputs.model
                );
                let bytes = hlog::write_log(
                    &comment,
                    start,
                    crate::limits::secs(c.duration_ms / 1000.0, std::time::Duration::MAX),
                    &hists,
                );
                Ok((format!("hlog/{}.hlog", case_slug(c)), bytes))
            })
            .collect()
    }
}
