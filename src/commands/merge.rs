//! `postload merge`: interval logs (`A.hlog B.hlog ...`) exactly, by tag; or the result.json
//! files of one run's shards (`--shard i/N`) into the result one machine would have written,
//! with its reports. The input decides: every file a `.json` result, or every file a log.

use crate::{cli, limits, report, Outcome};

/// `postload merge FILE...`: results when every file ends in `.json`, interval logs when none
/// does; a mix is refused.
pub fn merge(args: cli::MergeArgs) -> anyhow::Result<Outcome> {
    let is_json = |p: &std::path::PathBuf| p.extension().is_some_and(|e| e == "json");
    match args.logs.iter().filter(|p| is_json(p)).count() {
        0 => merge_logs(args),
        n if n == args.logs.len() => merge_results(args),
        _ => anyhow::bail!(
            "merge: give interval logs (.hlog) or result.json files, not both: {} and {}",
            args.logs
                .iter()
                .find(|p| !is_json(p))
                .map_or(String::new(), |p| p.display().to_string()),
            args.logs
                .iter()
                .find(|p| is_json(p))
                .map_or(String::new(), |p| p.display().to_string()),
        ),
    }
}

/// The shards' results merged ([`crate::result::merge`]) into `<report-dir>/<run-id>/`, with
/// report.md, report.html, the charts and the interval logs, the claims judged on the merged
/// figures; the table and the verdicts printed as `run` prints them.
fn merge_results(args: cli::MergeArgs) -> anyhow::Result<Outcome> {
    use crate::result::merge;
    if args.output.out.is_some() {
        anyhow::bail!(
            "--out: writes a merged interval log; a merge of result.json files writes a report folder (--report-dir DIR)"
        );
    }
    if args.logs.len() > limits::MAX_SHARDS as usize {
        anyhow::bail!(
            "merge: {} results: at most {} shards",
            args.logs.len(),
            limits::MAX_SHARDS
        );
    }
    // Sized before any is read: together they must fit the bound (each its own, as read).
    let mut total: u64 = 0;
    for path in &args.logs {
        total = total.saturating_add(std::fs::metadata(path).map_or(0, |m| m.len()));
        if total > limits::MAX_MERGE_BYTES {
            anyhow::bail!(
                "{}: the results given pass {} in all",
                path.display(),
                limits::size(limits::MAX_MERGE_BYTES)
            );
        }
    }
    let mut inputs = Vec::with_capacity(args.logs.len());
    for path in &args.logs {
        inputs.push(merge::Input {
            file: path.display().to_string(),
            result: super::load_result(path)?,
        });
    }
    let catalog = crate::config::catalog_from(args.data.mocks.as_deref())?;
    let claims = crate::config::claims(args.claims.as_deref(), &catalog)?;
    let run_id = format!("{}-merged", crate::run::new_run_id());
    let (mut result, notes) = merge::merge(&inputs, &catalog.prices, run_id.clone())?;
    // Only a merge that holds gets a folder (named as its run, a suffix if that one is taken).
    let dir = report::create_unique_dir(&args.report_dir.report_dir, &run_id)?;
    result.run_id = dir
        .file_name()
        .map_or(run_id, |n| n.to_string_lossy().into_owned());
    report::ReportWriter::create(&dir)?
        .with_all(report::run_exporters(&claims, &catalog.prices))
        .write(&result)?;
    for n in &notes {
        eprintln!("postload: merge: {n}");
    }
    let verdicts = report::claims::evaluate(&claims, &result, &catalog.prices);
    out!("{}", report::summary::table(&result));
    out!("{}", report::claims::console_lines(&verdicts));
    outln!(
        "merged {} shards: {}",
        inputs.len(),
        dir.join("result.json").display()
    );
    if !verdicts.is_empty() {
        out!("{}", report::claims::headline(&claims, &verdicts).console());
    }
    Ok(Outcome::Success)
}

/// `postload merge A.hlog B.hlog ...`: exact merge by tag. Each log is read within
/// [`limits::MAX_HLOG_BYTES`] and checked histogram by histogram before it is decoded (see
/// [`metrics::hlog::read_log`]); an empty log is an error, and no count may overflow.
fn merge_logs(args: cli::MergeArgs) -> anyhow::Result<Outcome> {
    use crate::metrics::{hdr, hlog};
    let mut merged: std::collections::BTreeMap<String, hdrhistogram::Histogram<u64>> =
        std::collections::BTreeMap::new();
    for path in &args.logs {
        let bytes =
            limits::read_bounded(path, limits::MAX_HLOG_BYTES).map_err(anyhow::Error::msg)?;
        let logs =
            hlog::read_log(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if logs.is_empty() {
            anyhow::bail!(
                "{}: no histograms: not an interval log written by `postload run`, or empty",
                path.display()
            );
        }
        for (tag, h) in logs {
            let tags = merged.len();
            match merged.get_mut(&tag) {
                Some(m) => hlog::add_checked(m, &h)
                    .map_err(|e| anyhow::anyhow!("{}: tag `{tag}`: {e}", path.display()))?,
                None if tags >= limits::MAX_HLOG_TAGS => {
                    return Err(anyhow::anyhow!(
                        "{}: tag `{tag}`: more than {} tags in all",
                        path.display(),
                        limits::MAX_HLOG_TAGS
                    ))
                }
                None => {
                    merged.insert(tag, h);
                }
            }
        }
    }
    outln!(
        "{:<14} {:>8} {:>10} {:>10} {:>10} {:>10}",
        "tag",
        "count",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms"
    );
    for (tag, h) in &merged {
        let q = |q: f64| hdr::percentile_ms(h, q);
        outln!(
            "{:<14} {:>8} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            if tag.is_empty() { "(untagged)" } else { tag },
            h.len(),
            q(0.5),
            q(0.95),
            q(0.99),
            h.max() as f64 / 1000.0
        );
    }
    if let Some(out) = &args.output.out {
        let comment = format!("postload merge of {} logs", args.logs.len());
        let bytes = hlog::write_log(
            &comment,
            std::time::SystemTime::now(),
            std::time::Duration::ZERO,
            &merged,
        );
        report::write_atomic(out, &bytes)?;
    }
    Ok(Outcome::Success)
}
