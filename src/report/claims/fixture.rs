//! The claims' unit tests' inputs: cases reshaped from the frozen default run's first case,
//! a price table with round figures, and a verdict as the tuple a test compares.

use super::{evaluate, parse, CaseResult, ClaimVerdict, Judgement, RunResult};
use crate::metrics::cost::Tokens;
use crate::metrics::{FailureCause, TokenSource};
use crate::openai::catalog::{Price, PriceTable};
use crate::scenario::Load;

/// The frozen default run with `cases` as its cases.
pub(super) fn run(cases: Vec<CaseResult>) -> RunResult {
    let mut r: RunResult = serde_json::from_str(include_str!(
        "../../../tests/fixtures/result-default-run.json"
    ))
    .unwrap();
    r.cases = cases;
    r
}

/// A burst of `users` users on `model` at `tier` (tier set `openai-2025`, 30,000 TPM), named
/// `scenario`: `ok` posts succeeded and `failed` failed, every one after 429s; tokens as
/// [`tokens`] sets them with 1,000 + 200 a successful post and no waste; no histogram, no
/// sample, no stub.
pub(super) fn burst(
    scenario: &str,
    model: &str,
    tier: u8,
    users: u32,
    ok: u64,
    failed: u64,
) -> CaseResult {
    let r: RunResult = serde_json::from_str(include_str!(
        "../../../tests/fixtures/result-default-run.json"
    ))
    .unwrap();
    let mut c = r.cases.into_iter().next().unwrap();
    (c.scenario, c.tier, c.repetition) = (scenario.into(), tier, None);
    c.inputs.model = model.into();
    c.inputs.tier = tier;
    c.inputs.load = Load::Burst { users };
    c.interrupted = false;
    let p = &mut c.measured.posts;
    (p.total, p.ok, p.failed) = (ok + failed, ok, failed);
    p.failed_by_cause.clear();
    if failed > 0 {
        p.failed_by_cause.insert(FailureCause::RateLimited, failed);
    }
    c.measured.histograms.clear();
    c.measured.posts_sample.clear();
    c.stub = None;
    c.inputs.service = None;
    tokens(&mut c, 1_000 * ok, 200 * ok, None);
    c
}

/// Sets the case's tokens: `prompt` + `completion` own tokens (none cached), plus `wasted`
/// ones of failed posts if given, and the source `Responses`.
pub(super) fn tokens(c: &mut CaseResult, prompt: u64, completion: u64, wasted: Option<Tokens>) {
    let own = Tokens {
        prompt,
        cached: 0,
        completion,
    };
    let t = &mut c.measured.tokens;
    t.total = wasted.map_or(own, |w| Tokens {
        prompt: own.prompt + w.prompt,
        cached: 0,
        completion: own.completion + w.completion,
    });
    t.wasted = wasted;
    t.source = TokenSource::Responses;
    let ok = c.measured.posts.ok;
    t.per_ok_post = (ok > 0).then(|| (prompt + completion) as f64 / ok as f64);
}

/// gpt-4o at $2.50 / $10 a million prompt / completion tokens, gpt-4o-mini at $0.15 / $0.60
/// (no cached price: cached tokens cost the input price).
pub(super) fn prices() -> PriceTable {
    let price = |input, output| Price {
        input,
        cached_input: None,
        output,
    };
    PriceTable {
        version: "prices-test".into(),
        as_of: "2026-12-06".into(),
        source: "test".into(),
        models: [
            ("gpt-4o".to_string(), price(2.5, 10.0)),
            ("gpt-4o-mini".to_string(), price(0.15, 0.6)),
        ]
        .into(),
    }
}

/// The verdicts of the claims in `toml` on `result`, at [`prices`].
pub(super) fn judge(toml: &str, result: &RunResult) -> Vec<ClaimVerdict> {
    evaluate(&parse("c.toml", toml).unwrap(), result, &prices())
}

/// A verdict as (case, measured, judgement, cause, evidence).
pub(super) type Seen = (Option<String>, String, Judgement, Option<String>, String);

pub(super) fn seen(v: &ClaimVerdict) -> Seen {
    (
        v.case.clone(),
        v.measured.clone(),
        v.verdict,
        v.cause.clone(),
        v.evidence.clone(),
    )
}

/// The tuple a test expects.
pub(super) fn want(
    case: Option<&str>,
    measured: &str,
    verdict: Judgement,
    cause: Option<&str>,
    evidence: &str,
) -> Seen {
    (
        case.map(Into::into),
        measured.into(),
        verdict,
        cause.map(Into::into),
        evidence.into(),
    )
}

/// The case as service mode ran it (a service posted to), with `stub` as the stub alongside.
pub(super) fn in_service_mode(c: &mut CaseResult, stub: Option<crate::stub::stats::StubStats>) {
    c.inputs.service = Some(crate::scenario::target::ServiceTargetInfo {
        url: "http://127.0.0.1:8000/post".into(),
        method: "POST".into(),
        path: "/post".into(),
        header_names: vec![],
        expect_status: 200,
        usage: Default::default(),
    });
    c.stub = stub;
}

/// The frozen run's stub figures with `ok` answers of 200 (their modelled latency p50 / p95 as
/// given) and `limited` answers of 429.
pub(super) fn stub(
    ok: u64,
    limited: u64,
    p50_ms: f64,
    p95_ms: f64,
) -> crate::stub::stats::StubStats {
    let r: RunResult = serde_json::from_str(include_str!(
        "../../../tests/fixtures/result-default-run.json"
    ))
    .unwrap();
    let mut st = r.cases.into_iter().next().unwrap().stub.unwrap();
    st.by_status = [(200, ok), (429, limited)].into();
    st.latency_ms.count = ok;
    (st.latency_ms.p50, st.latency_ms.p95) = (Some(p50_ms), Some(p95_ms));
    st
}

/// A posts sample of three successes, at 1, 3 and 6 s, and a post failed on a 429 at 0.5 s.
pub(super) fn three_ok_and_a_429() -> Vec<crate::metrics::PostPoint> {
    use crate::metrics::{PostOutcome, PostPoint};
    let point = |latency_ms, outcome| PostPoint {
        sent_s: 0.0,
        latency_ms,
        outcome,
    };
    vec![
        point(1_000.0, PostOutcome::Ok),
        point(3_000.0, PostOutcome::Ok),
        point(6_000.0, PostOutcome::Ok),
        point(500.0, PostOutcome::RateLimited),
    ]
}

/// Every verdict as [`seen`].
pub(super) fn seen_all(v: &[ClaimVerdict]) -> Vec<Seen> {
    v.iter().map(seen).collect()
}

/// One claim: 50 users posting at once need Tier 2.
pub(super) const NEEDS_TIER_2: &str = r#"
[[claim]]
id = "t"
statement = "50 users need Tier 2"
kind = "needs_tier"
users = 50
tier = 2
"#;
