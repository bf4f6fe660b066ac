//! `postload merge` of result.json files: the N shards of one run (`--shard i/N`) checked to
//! belong together (one run's shards, each once) and combined into the result one machine
//! would have written: counts, tokens and cost exactly, percentiles from the added histograms.
//! Pure: the caller reads the files and writes the merged result; the claims are judged on it
//! by the reports, as for any result.

mod measured;

use serde_json::Value;

use super::{CaseResult, RunResult};
use crate::limits::MAX_SHARDS;
use crate::openai::catalog::PriceTable;
use crate::shard::Shard;

/// Distinct goodput bounds one merged case recounts (the claims' latency bounds: the planning
/// note's file names 2).
const MAX_GOODPUT_BOUNDS: usize = 64;

/// One shard's result and the name of its file, for messages.
pub struct Input {
    pub file: String,
    pub result: RunResult,
}

/// Why shards cannot be merged: the file, the field and what is wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}: {field}: {message}")]
pub struct MergeError {
    pub file: String,
    pub field: String,
    pub message: String,
}

fn error(file: &str, field: impl Into<String>, message: impl Into<String>) -> MergeError {
    MergeError {
        file: file.into(),
        field: field.into(),
        message: message.into(),
    }
}

/// What a merge left out, said beside its answer.
pub type Notes = Vec<String>;

/// The merged result of `inputs` (in any order), priced with `prices` (the table the shards
/// were priced with: its version must be theirs), under `run_id`.
pub fn merge(
    inputs: &[Input],
    prices: &PriceTable,
    run_id: String,
) -> Result<(RunResult, Notes), MergeError> {
    let mut order = shards_in_order(inputs)?;
    let first = order.remove(0);
    for other in &order {
        same_run(first, other)?;
    }
    order.insert(0, first);
    ran_together(&order)?;
    let mut notes = Vec::new();
    for i in &order {
        if i.result.interrupted {
            notes.push(format!(
                "{}: interrupted: the merged figures cover what it measured, and say interrupted",
                i.file
            ));
        }
        if i.result.budget.as_ref().is_some_and(|b| b.stopped) {
            notes.push(format!(
                "{}: stopped by its spend guard: the merged figures cover what it sent",
                i.file
            ));
        }
    }
    let mut cases = Vec::with_capacity(first.result.cases.len());
    for (k, case) in first.result.cases.iter().enumerate() {
        let parts: Vec<&CaseResult> = order.iter().map(|i| &i.result.cases[k]).collect();
        if parts
            .iter()
            .any(|c| c.stub.is_some() || c.service.is_some())
        {
            notes.push(format!(
                "{}: the stub's counts and the service figures are each machine's own: not in the merged result",
                case.label()
            ));
        }
        cases.push(merge_case(k, &parts, &order, prices)?);
    }
    let r = &first.result;
    let all = || order.iter().map(|i| &i.result);
    let finished: Option<Vec<&String>> = all().map(|r| r.finished_at.as_ref()).collect();
    let budgets: Vec<_> = all().filter_map(|r| r.budget.as_ref()).collect();
    let budget = (!budgets.is_empty()).then(|| crate::metrics::budget::BudgetInfo {
        max_cost_usd: budgets.iter().map(|b| b.max_cost_usd).sum(),
        estimated_max_usd: budgets.iter().map(|b| b.estimated_max_usd).sum(),
        spent_usd: budgets.iter().map(|b| b.spent_usd).sum(),
        stopped: budgets.iter().any(|b| b.stopped),
        calls_refused: budgets.iter().map(|b| b.calls_refused).sum(),
    });
    Ok((
        RunResult {
            schema: r.schema.clone(),
            postload_version: r.postload_version.clone(),
            run_id,
            started_at: all()
                .map(|r| r.started_at.clone())
                .min()
                .unwrap_or_default(),
            finished_at: finished.and_then(|f| f.into_iter().max().cloned()),
            interrupted: all().any(|r| r.interrupted),
            target: r.target.clone(),
            prices: r.prices.clone(),
            budget,
            cases,
            tier_limits: r.tier_limits.clone(),
            shard: None,
        },
        notes,
    ))
}

/// The inputs by shard index, once each and all of them: refused otherwise, naming the file.
fn shards_in_order(inputs: &[Input]) -> Result<Vec<&Input>, MergeError> {
    let Some(first) = inputs.first() else {
        return Err(error("merge", "shard", "no result to merge"));
    };
    if inputs.len() > MAX_SHARDS as usize {
        return Err(error(
            &first.file,
            "shard",
            format!("{} results: at most {MAX_SHARDS} shards", inputs.len()),
        ));
    }
    let shard_of = |i: &Input| -> Result<Shard, MergeError> {
        let s = i.result.shard.ok_or_else(|| {
            error(
                &i.file,
                "shard",
                "absent: not a shard (merge takes the N result.json files of a run with --shard 1/N ... N/N)",
            )
        })?;
        if !(1 <= s.index && s.index <= s.count && s.count <= MAX_SHARDS) {
            return Err(error(
                &i.file,
                "shard",
                format!("{s}: not a shard i/N with 1 ≤ i ≤ N ≤ {MAX_SHARDS}"),
            ));
        }
        Ok(s)
    };
    let count = shard_of(first)?.count;
    let mut by_index: Vec<Option<&Input>> = vec![None; count as usize];
    for i in inputs {
        let s = shard_of(i)?;
        if s.count != count {
            return Err(error(
                &i.file,
                "shard.count",
                format!(
                    "shard {s} is of {} shards, {} is of {count}",
                    s.count, first.file
                ),
            ));
        }
        let slot = &mut by_index[s.index as usize - 1];
        if let Some(other) = slot {
            return Err(error(
                &i.file,
                "shard.index",
                format!("shard {s} twice: {} is shard {s} too", other.file),
            ));
        }
        *slot = Some(i);
    }
    let missing: Vec<String> = (1..=count)
        .filter(|k| by_index[*k as usize - 1].is_none())
        .map(|k| format!("{k}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(error(
            &first.file,
            "shard.index",
            format!(
                "shard {} missing: {} of {count} results given",
                missing.join(", "),
                inputs.len()
            ),
        ));
    }
    Ok(by_index.into_iter().flatten().collect())
}

/// The shards ran at one time: every shard started before every finished shard finished. Shards
/// of the same command and seed run on another day (yesterday's shard 1 beside today's shard 2,
/// maybe against another build of the service) are otherwise alike, and their merge would pass
/// for one run: a burst's users would not have posted together. Refused, naming the shard that
/// started after another had finished; a time that does not read is refused too.
fn ran_together(shards: &[&Input]) -> Result<(), MergeError> {
    let at = |i: &Input, field: &str, t: &str| {
        chrono::DateTime::parse_from_rfc3339(t)
            .map_err(|_| error(&i.file, field, format!("`{t}`: not an RFC 3339 time")))
    };
    let mut earliest_end: Option<(chrono::DateTime<chrono::FixedOffset>, &Input)> = None;
    let mut latest_start: Option<(chrono::DateTime<chrono::FixedOffset>, &Input)> = None;
    for &i in shards {
        let start = at(i, "started_at", &i.result.started_at)?;
        if latest_start.is_none_or(|(t, _)| start > t) {
            latest_start = Some((start, i));
        }
        // An interrupted shard may have no end: it ran until it was stopped.
        if let Some(f) = &i.result.finished_at {
            let end = at(i, "finished_at", f)?;
            if earliest_end.is_none_or(|(t, _)| end < t) {
                earliest_end = Some((end, i));
            }
        }
    }
    match (latest_start, earliest_end) {
        (Some((start, late)), Some((end, done))) if start > end => Err(error(
            &late.file,
            "started_at",
            format!(
                "{}: after {} had finished ({}): the shards did not run together, so they are not one run (start every shard at one time: docs/shards.md)",
                late.result.started_at,
                done.file,
                done.result.finished_at.as_deref().unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// `other` is a shard of the run `first` is one of: the same postload, prices, target, tier
/// limits and cases, each case with the same inputs (its scenario, load and seed).
fn same_run(first: &Input, other: &Input) -> Result<(), MergeError> {
    let (a, b) = (&first.result, &other.result);
    let differs = |field: &str, mine: String, theirs: String| {
        error(
            &other.file,
            field,
            format!("`{theirs}`, not `{mine}` as in {}", first.file),
        )
    };
    if a.postload_version != b.postload_version {
        return Err(differs(
            "postload_version",
            a.postload_version.clone(),
            b.postload_version.clone(),
        ));
    }
    if a.prices.version != b.prices.version {
        return Err(differs(
            "prices.version",
            a.prices.version.clone(),
            b.prices.version.clone(),
        ));
    }
    let kind = |r: &RunResult| json(&r.target)["kind"].to_string();
    if kind(a) != kind(b) {
        return Err(differs("target.kind", kind(a), kind(b)));
    }
    if a.cases.len() != b.cases.len() {
        return Err(differs(
            "cases",
            format!("{} cases", a.cases.len()),
            format!("{} cases", b.cases.len()),
        ));
    }
    for (k, (x, y)) in a.cases.iter().zip(&b.cases).enumerate() {
        if x.label() != y.label() {
            return Err(differs(&format!("cases[{k}]"), x.label(), y.label()));
        }
        if let Some((path, mine, theirs)) = first_difference(&json(&x.inputs), &json(&y.inputs)) {
            return Err(differs(&format!("cases[{k}].inputs{path}"), mine, theirs));
        }
    }
    if a.tier_limits != b.tier_limits {
        return Err(differs(
            "tier_limits",
            "the first's".into(),
            "other limits".into(),
        ));
    }
    Ok(())
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The first place two JSON values differ: its path (`.seed`, `.load.users`) and both values.
fn first_difference(a: &Value, b: &Value) -> Option<(String, String, String)> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            keys.into_iter().find_map(|k| {
                let (u, v) = (
                    x.get(k).unwrap_or(&Value::Null),
                    y.get(k).unwrap_or(&Value::Null),
                );
                first_difference(u, v).map(|(p, m, t)| (format!(".{k}{p}"), m, t))
            })
        }
        _ if a == b => None,
        _ => Some((String::new(), a.to_string(), b.to_string())),
    }
}

/// Case `k` of every shard (in shard order) as one case.
fn merge_case(
    k: usize,
    parts: &[&CaseResult],
    order: &[&Input],
    prices: &PriceTable,
) -> Result<CaseResult, MergeError> {
    let first = parts[0];
    let model = &first.inputs.model;
    let priced = parts.iter().any(|c| c.measured.cost.is_some());
    let price = prices.models.get(model);
    if priced {
        if prices.version != order[0].result.prices.version {
            return Err(error(
                &order[0].file,
                "prices.version",
                format!(
                    "`{}`, but the price table here is `{}`: give --mocks DIR with the shards' prices",
                    order[0].result.prices.version, prices.version
                ),
            ));
        }
        if price.is_none() {
            return Err(error(
                &order[0].file,
                format!("cases[{k}].inputs.model"),
                format!("`{model}` has no price in the price table here"),
            ));
        }
    }
    let measured: Vec<&crate::metrics::Measured> = parts.iter().map(|c| &c.measured).collect();
    let users = u64::from(first.inputs.load.users());
    let m = measured::merge(&measured, price.filter(|_| priced), users)
        .map_err(|(s, field, e)| error(&order[s].file, format!("cases[{k}].{field}"), e))?;
    let mut bounds: Vec<f64> = parts
        .iter()
        .flat_map(|c| c.goodput.iter().map(|g| g.within_s))
        .collect();
    bounds.sort_by(f64::total_cmp);
    bounds.dedup();
    // A claims file names a few bounds; each is a count over the merged histogram.
    if bounds.len() > MAX_GOODPUT_BOUNDS {
        return Err(error(
            &order[0].file,
            format!("cases[{k}].goodput"),
            format!("more than {MAX_GOODPUT_BOUNDS} latency bounds in all the shards"),
        ));
    }
    let goodput = bounds
        .into_iter()
        .filter_map(|s| {
            let d = std::time::Duration::try_from_secs_f64(s).ok()?;
            Some(super::Goodput {
                within_s: s,
                share: m.goodput(d)?,
            })
        })
        .collect();
    Ok(CaseResult {
        scenario: first.scenario.clone(),
        tier: first.tier,
        repetition: first.repetition,
        inputs: first.inputs.clone(),
        interrupted: parts.iter().any(|c| c.interrupted),
        duration_ms: parts.iter().map(|c| c.duration_ms).fold(0.0, f64::max),
        measured: m,
        stub: None,
        goodput,
        service: None,
    })
}

#[cfg(test)]
mod tests;
