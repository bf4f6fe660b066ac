//! The short table `postload run` prints: one row per scenario × tier.

use std::fmt::Write;

use super::RunResult;

/// Milliseconds as seconds with two decimals, or `-`: the tables' latency cells.
pub(crate) fn opt_s(ms: Option<f64>) -> String {
    ms.map_or("-".into(), |v| format!("{:.2}", v / 1000.0))
}

/// Failed posts whose tokens are not known apart (the stub's counts, a result written before
/// the split): the per-post figures then include theirs, marked `*`.
fn unsplit(m: &crate::metrics::Measured) -> &'static str {
    if m.posts.failed > 0 && m.tokens.wasted.is_none() {
        "*"
    } else {
        ""
    }
}

/// Tokens per successful post (its own tokens), or `-` when the tokens are unknown (no usage
/// from the target), never 0; `*` when it includes failed posts' tokens ([`unsplit`]).
pub(crate) fn tokens_per_post(m: &crate::metrics::Measured) -> String {
    match m.tokens.per_ok_post {
        Some(t) if m.tokens.source != crate::metrics::TokenSource::Unknown => {
            format!("{t:.0}{}", unsplit(m))
        }
        _ => "-".into(),
    }
}

/// $ per successful post, or `-` (unknown tokens, no price, no successful post); `*` as above.
pub(crate) fn usd_per_post(m: &crate::metrics::Measured) -> String {
    m.cost
        .as_ref()
        .and_then(|c| c.per_ok_post_usd)
        .map_or("-".into(), |u| format!("${u:.5}{}", unsplit(m)))
}

/// What failed posts' calls spent: `0` with none, `tokens $usd` (tokens alone without a price),
/// `-` when unknown (the tokens, or their split by post).
pub(crate) fn wasted(m: &crate::metrics::Measured) -> String {
    if m.tokens.source == crate::metrics::TokenSource::Unknown {
        return "-".into();
    }
    if m.posts.failed == 0 {
        return "0".into();
    }
    match (m.tokens.wasted, m.cost.as_ref().and_then(|c| c.wasted_usd)) {
        (Some(w), _) if w.total() == 0 => "0".into(),
        (Some(w), Some(usd)) => format!("{} ${usd:.4}", w.total()),
        (Some(w), None) => w.total().to_string(),
        (None, _) => "-".into(),
    }
}

/// The note under a table with `*` figures, if any.
pub(crate) fn unsplit_note(r: &RunResult) -> Option<String> {
    let cases: Vec<String> = r
        .cases
        .iter()
        .filter(|c| !unsplit(&c.measured).is_empty())
        .map(|c| c.label())
        .collect();
    (!cases.is_empty()).then(|| {
        format!(
            "* {}: the tokens of failed posts are not known apart (the stub's counts, or a result written before postload split them), so the per-post figures include them.",
            cases.join("; ")
        )
    })
}

/// Why a case's tokens and cost are `-`: responses without usage and no stub to count the
/// calls, or usage that could not be true (a server that lies). Under the console's table and in
/// report.md alike.
pub(crate) fn token_notes(r: &RunResult) -> Vec<String> {
    let mut notes = Vec::new();
    let unknown: Vec<String> = r
        .cases
        .iter()
        .filter(|c| c.measured.tokens.source == crate::metrics::TokenSource::Unknown)
        .map(|c| format!("{} tier {}", c.scenario, c.tier))
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
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
        notes.push(format!(
            "Impossible usage ({}): a successful answer's usage was not a count (a string, negative, half there) or could not be true (above 10^7 tokens, or a completion above the call's max_tokens). Those calls count as successful; their tokens are unknown and not priced.",
            bad.join("; ")
        ));
    }
    notes
}

/// The table as text (seconds for latencies; tokens and $ per successful post, and what the
/// failed posts wasted).
pub fn table(result: &RunResult) -> String {
    let mut out = String::new();
    // The scenario column fits the longest name (at least 12, as "scenario" and "burst-100" do);
    // names are user data, so it stops growing at 40.
    let w = result
        .cases
        .iter()
        .map(|c| c.scenario.chars().count())
        .max()
        .unwrap_or(0)
        .clamp(12, 40);
    let _ = writeln!(
        out,
        "{:<w$} {:>4} {:>5} {:>6} {:>7} {:>7} {:>7} {:>7} {:>9} {:>6} {:>7} {:>8} {:>9} {:>14}",
        "scenario",
        "tier",
        "posts",
        "ok%",
        "p50 s",
        "p95 s",
        "p99 s",
        "max s",
        "makespan",
        "429s",
        "retries",
        "tok/post",
        "$/post",
        "wasted"
    );
    for c in &result.cases {
        let m = &c.measured;
        let ok_pct = m.posts.success_percent();
        let l = &m.post_latency_ms.ok;
        let _ = writeln!(
            out,
            "{:<w$} {:>4} {:>5} {:>5.1}% {:>7} {:>7} {:>7} {:>7} {:>8.2}s {:>6} {:>7} {:>8} {:>9} {:>14}{}",
            c.scenario,
            c.tier,
            m.posts.total,
            ok_pct,
            opt_s(l.p50),
            opt_s(l.p95),
            opt_s(l.p99),
            opt_s(l.max),
            m.makespan_ms / 1000.0,
            m.calls.http_429,
            m.calls.retries,
            tokens_per_post(m),
            usd_per_post(m),
            wasted(m),
            if c.interrupted { "  (interrupted)" } else { "" },
        );
    }
    if let Some(note) = unsplit_note(result) {
        let _ = writeln!(out, "{note}");
    }
    for note in token_notes(result) {
        let _ = writeln!(out, "{note}");
    }
    // What the table's ok% cannot say: why the others failed.
    for c in result.cases.iter().filter(|c| c.measured.posts.failed > 0) {
        let _ = writeln!(
            out,
            "failed posts, {}: {}",
            c.label(),
            crate::metrics::causes_phrase(&c.measured.posts.failed_by_cause)
        );
    }
    out
}

/// The run's last line when no post of any case succeeded (`None` when one did): each case's
/// causes. (One case failing every post can be its design: the reference service passes every
/// 429 on in service-429; the table's lines of failed posts show it.)
pub fn no_success(result: &RunResult) -> Option<String> {
    if result.cases.iter().any(|c| c.measured.posts.ok > 0) {
        return None;
    }
    let cases: Vec<String> = result
        .cases
        .iter()
        .map(|c| {
            let causes = crate::metrics::causes_phrase(&c.measured.posts.failed_by_cause);
            if causes.is_empty() {
                format!("{}: no post sent", c.label())
            } else {
                format!("{}: {causes}", c.label())
            }
        })
        .collect();
    Some(format!(
        "postload: NO POST SUCCEEDED ({}): nothing was measured but failures",
        if cases.is_empty() {
            "no case ran".to_string()
        } else {
            cases.join("; ")
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::TokenSource;

    fn fixture() -> RunResult {
        serde_json::from_str(include_str!("../../tests/fixtures/result-default-run.json")).unwrap()
    }

    /// A server that lies about usage: the console's table, whose tok/post shows `-`, says why
    /// under it, as report.md does. The default run's fixture (every usage counted) has no such
    /// note.
    #[test]
    fn the_console_says_why_tokens_are_unknown() {
        let mut r = fixture();
        assert!(token_notes(&r).is_empty());
        assert!(!table(&r).contains("Impossible usage"));
        r.cases[0].measured.tokens.source = TokenSource::Unknown;
        r.cases[0].measured.tokens.bad_usage = 3;
        let t = table(&r);
        assert!(
            t.contains(
                "\nTokens and cost unknown (burst-50 tier 1): some responses carried no usage"
            ),
            "{t}"
        );
        assert!(
            t.contains(
                "\nImpossible usage (burst-50 tier 1: 3 calls): a successful answer's usage"
            ),
            "{t}"
        );
    }
}
