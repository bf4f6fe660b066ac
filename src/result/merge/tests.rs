//! The merge of shards: exact against one recorder of every post, and each refusal.

use std::time::Duration;

use super::*;
use crate::metrics::cost::Tokens;
use crate::metrics::{Attempt, CallKind, CallRecord, FailureCause, Measured, PostRecord, Recorder};

/// A post that started at `start_ms` and took `ms`: image prompt (800 + 150 tokens), then the
/// caption (1,000 + 200 tokens), or a caption rate-limited for good when `failed`.
fn post(start_ms: u64, ms: u64, failed: bool) -> PostRecord {
    let at = |ms| Duration::from_millis(ms);
    let call = |kind, from: u64, to: u64, usage: Option<Tokens>, failure: Option<FailureCause>| {
        let mut c = CallRecord::new(kind, at(from));
        c.attempts = vec![Attempt {
            sent: at(from),
            answered: at(to),
            status: Some(if failure.is_some() { 429 } else { 200 }),
            reserved_tokens: 1_000,
        }];
        c.finished = at(to);
        (c.usage, c.failure) = (usage, failure);
        c
    };
    let image = Tokens {
        prompt: 800,
        cached: 0,
        completion: 150,
    };
    let caption = Tokens {
        prompt: 1_000,
        cached: 0,
        completion: 200,
    };
    let cause = failed.then_some(FailureCause::RateLimited);
    let mid = start_ms + ms / 2;
    PostRecord {
        intended: at(start_ms),
        calls: vec![
            call(CallKind::ImagePrompt, start_ms, mid, Some(image), None),
            call(
                CallKind::Caption,
                mid,
                start_ms + ms,
                (!failed).then_some(caption),
                cause,
            ),
        ],
        finished: at(start_ms + ms),
        failure: cause,
    }
}

/// The posts of the whole run: nine, the seventh failed; latencies 1.0 to 5.0 s.
fn posts() -> Vec<PostRecord> {
    (0..9)
        .map(|i| post(i * 100, 1_000 + i * 500, i == 6))
        .collect()
}

fn prices() -> PriceTable {
    crate::openai::catalog::Catalog::embedded().prices.clone()
}

fn summarize(posts: &[PostRecord]) -> Measured {
    let mut r = Recorder::default();
    for p in posts {
        r.record(p);
    }
    r.summarize(prices().models.get("gpt-4o"), 9)
}

/// Any measured figures (for tests that need some).
pub(super) fn measured() -> Measured {
    summarize(&posts())
}

/// A one-case result (gpt-4o, a burst of 9) with `m` as its figures, as shard `index`/`count`.
fn result(m: Measured, shard: Option<(u32, u32)>) -> RunResult {
    let mut r: RunResult = serde_json::from_str(include_str!(
        "../../../tests/fixtures/result-default-run.json"
    ))
    .unwrap();
    r.cases.truncate(1);
    r.prices.version = prices().version;
    let c = &mut r.cases[0];
    c.inputs.model = "gpt-4o".into();
    c.inputs.load = crate::scenario::Load::Burst { users: 9 };
    (c.measured, c.stub, c.goodput) = (m, None, Vec::new());
    r.shard = shard.map(|(index, count)| Shard { index, count });
    r
}

/// Shard `i` of 3 of the nine posts: posts i − 1, i + 2, i + 5 (the strided split).
fn shard(i: u32) -> Input {
    let s = Shard { index: i, count: 3 };
    let mine: Vec<PostRecord> = posts()
        .into_iter()
        .enumerate()
        .filter(|(k, _)| s.takes(*k as u64))
        .map(|(_, p)| p)
        .collect();
    Input {
        file: format!("shard{i}/result.json"),
        result: result(summarize(&mine), Some((i, 3))),
    }
}

fn refused(inputs: &[Input]) -> MergeError {
    merge(inputs, &prices(), "m".into()).unwrap_err()
}

#[test]
fn three_shards_merge_to_what_one_recorder_of_every_post_measures() {
    let whole = measured();
    // Given out of order: the merge orders them by shard.
    let (merged, notes) = merge(&[shard(3), shard(1), shard(2)], &prices(), "m".into()).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    assert_eq!(merged.shard, None);
    let m = &merged.cases[0].measured;
    // By hand: 9 posts, 8 ok, 1 rate-limited; 18 calls, 18 attempts, one 429. Tokens: 9 image
    // prompts (800 + 150) and 8 captions (1,000 + 200): 7,200 + 8,000 = 15,200 prompt,
    // 1,350 + 1,600 = 2,950 completion; the failed post's image prompt (950) wasted.
    assert_eq!((m.posts.total, m.posts.ok, m.posts.failed), (9, 8, 1));
    assert_eq!(
        (m.calls.calls, m.calls.attempts, m.calls.http_429),
        (18, 18, 1)
    );
    assert_eq!(
        (m.tokens.total.prompt, m.tokens.total.completion),
        (15_200, 2_950)
    );
    assert_eq!(m.tokens.wasted.map(|w| w.total()), Some(950));
    // And exactly what one machine's recorder of the nine posts says, cost included.
    assert_eq!(m.posts, whole.posts);
    assert_eq!(m.calls, whole.calls);
    assert_eq!(m.tokens, whole.tokens);
    assert_eq!(m.cost, whole.cost);
    assert_eq!(m.post_latency_ms, whole.post_latency_ms);
    assert_eq!(m.call_latency_ms, whole.call_latency_ms);
    assert_eq!(m.backoff_ms, whole.backoff_ms);
    assert_eq!(m.histograms, whole.histograms);
    assert_eq!(m.percentile_curve, whole.percentile_curve);
    assert_eq!(m.attempts, whole.attempts);
}

#[test]
fn a_result_that_is_not_a_shard_is_refused() {
    let mut whole = shard(2);
    whole.result.shard = None;
    let e = refused(&[shard(1), whole, shard(3)]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("shard2/result.json", "shard")
    );
}

#[test]
fn a_missing_shard_is_refused_naming_it() {
    let e = refused(&[shard(1), shard(3)]);
    assert_eq!(e.field, "shard.index");
    assert!(e.message.contains("shard 2/3 missing"), "{e}");
}

#[test]
fn a_shard_given_twice_is_refused() {
    let mut again = shard(2);
    again.file = "copy/result.json".into();
    let e = refused(&[shard(1), shard(2), again, shard(3)]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("copy/result.json", "shard.index")
    );
    assert!(e.message.contains("shard2/result.json"), "{e}");
}

#[test]
fn shards_of_another_count_are_refused() {
    let mut other = shard(2);
    other.result.shard = Some(Shard { index: 2, count: 4 });
    let e = refused(&[shard(1), other, shard(3)]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("shard2/result.json", "shard.count")
    );
}

#[test]
fn a_shard_index_out_of_its_range_is_refused_not_a_panic() {
    for (index, count) in [(0, 3), (4, 3), (1, MAX_SHARDS + 1)] {
        let mut bad = shard(2);
        bad.result.shard = Some(Shard { index, count });
        let e = refused(&[shard(1), bad, shard(3)]);
        assert_eq!(e.field, "shard", "{e}");
    }
}

#[test]
fn a_shard_of_another_seed_or_scenario_is_refused_naming_the_field() {
    let mut other = shard(3);
    other.result.cases[0].inputs.seed += 1;
    let e = refused(&[shard(1), shard(2), other]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("shard3/result.json", "cases[0].inputs.seed")
    );
    let mut other = shard(3);
    other.result.cases[0].inputs.load = crate::scenario::Load::Burst { users: 10 };
    assert_eq!(
        refused(&[shard(1), shard(2), other]).field,
        "cases[0].inputs.load.users"
    );
    let mut other = shard(3);
    other.result.cases[0].tier += 1;
    assert_eq!(refused(&[shard(1), shard(2), other]).field, "cases[0]");
    let mut other = shard(3);
    other.result.postload_version = "0.0.1".into();
    assert_eq!(
        refused(&[shard(1), shard(2), other]).field,
        "postload_version"
    );
}

#[test]
fn a_shard_without_its_histograms_is_refused() {
    let mut old = shard(2);
    old.result.cases[0].measured.histograms.remove("post_ok");
    let e = refused(&[shard(1), old, shard(3)]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("shard2/result.json", "cases[0].histograms.post_ok")
    );
}

#[test]
fn histograms_that_disagree_with_the_counts_are_refused() {
    // A hand-edited result: 1 more ok post than its histogram holds.
    let mut edited = shard(2);
    edited.result.cases[0].measured.posts.ok += 1;
    let e = refused(&[shard(1), edited, shard(3)]);
    assert_eq!(e.field, "cases[0].histograms.post_ok", "{e}");
}

#[test]
fn another_price_table_is_refused_not_used() {
    let mut table = prices();
    table.version = "another".into();
    let e = merge(&[shard(1), shard(2), shard(3)], &table, "m".into()).unwrap_err();
    assert_eq!(e.field, "prices.version", "{e}");
}

#[test]
fn an_interrupted_shard_marks_the_merge_and_is_said() {
    let mut cut = shard(2);
    cut.result.interrupted = true;
    let (merged, notes) = merge(&[shard(1), cut, shard(3)], &prices(), "m".into()).unwrap();
    assert!(merged.interrupted);
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].starts_with("shard2/result.json: interrupted"),
        "{notes:?}"
    );
}

#[test]
fn too_many_tags_or_goodput_bounds_are_refused_not_merged_without_end() {
    // 33 distinct tags across the shards (each shard within its own 32).
    let mut inputs = vec![shard(1), shard(2), shard(3)];
    let h = inputs[0].result.cases[0].measured.histograms["post_ok"].clone();
    for (n, i) in inputs.iter_mut().enumerate() {
        for t in 0..11 {
            i.result.cases[0]
                .measured
                .histograms
                .insert(format!("extra{n}-{t}"), h.clone());
        }
    }
    let e = refused(&inputs);
    assert!(e.message.contains("more than 32 tags"), "{e}");
    // 65 distinct goodput bounds.
    let mut many = shard(2);
    many.result.cases[0].goodput = (1..=65)
        .map(|s| crate::result::Goodput {
            within_s: f64::from(s),
            share: 1.0,
        })
        .collect();
    let e = refused(&[shard(1), many, shard(3)]);
    assert_eq!(e.field, "cases[0].goodput", "{e}");
}

/// The fixture's shards all start at 12:23:12.691 and finish at 12:24:00.106. Shard 2 run the
/// next day (same command, same seed: every other field alike) starts after shards 1 and 3
/// finished: refused, naming it and the shard that had finished. Shards that overlap by a
/// moment (shard 2 starting at 12:24:00.000, before the others' end) merge.
#[test]
fn shards_that_did_not_run_together_are_refused() {
    let mut late = shard(2);
    late.result.started_at = "2026-11-29T12:23:12.691Z".into();
    late.result.finished_at = Some("2026-11-29T12:24:00.106Z".into());
    let e = refused(&[shard(1), late, shard(3)]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("shard2/result.json", "started_at")
    );
    assert!(
        e.message.starts_with("2026-11-29T12:23:12.691Z: after shard1/result.json had finished (2026-11-28T12:24:00.106Z)"),
        "{}",
        e.message
    );
    let mut close = shard(2);
    close.result.started_at = "2026-11-28T12:24:00.000Z".into();
    close.result.finished_at = Some("2026-11-28T12:24:47.415Z".into());
    assert!(merge(&[shard(1), close, shard(3)], &prices(), "m".into()).is_ok());
    // An interrupted shard with no end still has its start compared with the others' ends.
    let mut cut = shard(1);
    cut.result.finished_at = None;
    cut.result.started_at = "2026-11-28T12:30:00Z".into();
    assert_eq!(
        refused(&[cut, shard(2), shard(3)]).file,
        "shard1/result.json"
    );
    // A time that does not read is refused, naming its field.
    let mut bad = shard(3);
    bad.result.finished_at = Some("yesterday".into());
    let e = refused(&[shard(1), shard(2), bad]);
    assert_eq!(
        (e.file.as_str(), e.field.as_str()),
        ("shard3/result.json", "finished_at")
    );
}
