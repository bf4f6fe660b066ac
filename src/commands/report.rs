//! `postload report RESULT.json`: render report.md, report.html and the charts again.

use super::load_result;
use crate::{cli, config, Outcome};

/// `postload report RESULT.json`: report.md, report.html and the charts again, beside the result.
pub fn render(args: cli::ReportArgs) -> anyhow::Result<Outcome> {
    let result = load_result(&args.result)?;
    let catalog = config::catalog_from(args.data.mocks.as_deref())?;
    let claims = config::claims(args.claims.as_deref(), &catalog)?;
    let dir = args
        .result
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let writer = crate::report::ReportWriter::create(dir)?
        .with(crate::report::markdown::MarkdownExporter {
            claims: claims.clone(),
            prices: catalog.prices.clone(),
        })
        .with(crate::report::markdown::HtmlExporter {
            claims: claims.clone(),
            prices: catalog.prices.clone(),
        })
        .with(crate::report::charts::ChartExporter {
            claims,
            prices: catalog.prices.clone(),
        });
    writer.write(&result)?;
    outln!("{}", dir.join("report.md").display());
    Ok(Outcome::Success)
}
