//! `postload merge A.hlog B.hlog ...`: merge interval logs exactly, by tag.

use crate::{cli, limits, report, Outcome};

/// `postload merge A.hlog B.hlog ...`: exact merge by tag. Each log is read within
/// [`limits::MAX_HLOG_BYTES`] and checked histogram by histogram before it is decoded (see
/// [`metrics::hlog::read_log`]); an empty log is an error, and no count may overflow.
pub fn merge(args: cli::MergeArgs) -> anyhow::Result<Outcome> {
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
