//! `plan --validate --validate-levers`: each executable design lever, and the plan's best, run
//! live beside the planner at small scale.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use postload::commands::validate::levers::{compare, single_levers};
use postload::commands::validate::{ratio, Validation};
use postload::openai::catalog::Catalog;
use postload::plan::levers::LeverSearch;
use postload::plan::sim::Strategy;
use postload::plan::PlanSpec;
use postload::report::RunResult;

use crate::common::{goose_lock, tempdir};

/// 5 posts at Tier 2 (no 429s), every call served in 400 ms, one seed. The plan's answer for 5
/// users is searched here (the empty search has none), so its best joins the single levers.
/// Each live post is its calls' 400 ms plus the harness's own time, so plan/live is at most 1
/// (0.1 % for the histograms' buckets); under 0.5, calls were serialised or counted twice.
/// Planned, by hand: a sequential post takes 0.8 s and a parallel one 0.4 s; the caption's
/// first token comes with its answer (a fixed latency's time to first token is the latency),
/// at 0.8 s sequential and 0.4 s parallel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_executable_lever_agrees_with_the_live_run_at_small_scale() {
    let _guard = goose_lock().await;
    let spec = PlanSpec {
        models: vec!["gpt-4o".into()],
        tiers: vec![1, 2],
        users: vec![50],
        strategies: vec![Strategy::Sdk],
        seed: 3,
        ..PlanSpec::default()
    };
    let reports = tempdir("validate-levers");
    let rows = compare(
        &Catalog::embedded(),
        &spec,
        &Validation {
            users: vec![5],
            tiers: vec![2],
            time_scale: postload::clock::TimeScale::checked(1.0).unwrap(),
            fixed_latency_ms: Some(400),
            repeat: 1,
            report_dir: reports.clone(),
        },
        &LeverSearch::default(),
        Arc::new(AtomicBool::new(false)),
    )
    .await
    .unwrap();
    // The five single levers in order, then the plan's best unless it is one of them.
    let singles = single_levers();
    assert!(rows.len() >= singles.len(), "{rows:#?}");
    for (row, single) in rows.iter().zip(&singles) {
        assert!(row.design.starts_with(&single.label), "{}", row.design);
        assert_eq!(row.levers, single.design);
    }
    assert!(
        rows.iter().any(|r| r.design.contains("plan's best")),
        "{rows:#?}"
    );
    // Each row's design ran live: one run per row, whose case had the row's levers (burst-50's
    // own values where the design changes none: caps 150 and 200, no supplied image prompts).
    let mut ran: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|d| {
            let bytes = std::fs::read(d.unwrap().path().join("result.json")).unwrap();
            let run: RunResult = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(run.cases.len(), 1);
            let i = &run.cases[0].inputs;
            format!(
                "{} {} {} {}",
                i.parallel_calls,
                i.prompts.image_prompt.max_tokens,
                i.prompts.caption.max_tokens,
                i.image_prompt_share
            )
        })
        .collect();
    let mut asked: Vec<String> = rows
        .iter()
        .map(|r| {
            let d = r.levers;
            format!(
                "{} {} {} {}",
                d.parallel,
                d.image_max_tokens.unwrap_or(150),
                d.caption_max_tokens.unwrap_or(200),
                d.image_prompt_share.unwrap_or(0.0)
            )
        })
        .collect();
    ran.sort();
    asked.sort();
    assert_eq!(ran, asked);
    let near = |v: Option<f64>, want: f64| v.is_some_and(|v| (v - want).abs() < 0.01 * want);
    for r in &rows {
        let s = &r.side;
        let name = &r.design;
        assert_eq!((s.tier, s.users), (2, 5), "{name}");
        assert_eq!((s.live.success, s.planned.success), (1.0, 1.0), "{name}");
        for (what, p, l) in [
            ("p50", s.planned.p50_s, s.live.p50_s),
            ("p95", s.planned.p95_s, s.live.p95_s),
            (
                "1st token p95",
                r.planned_first_token.p95_s,
                r.live_first_token.p95_s,
            ),
        ] {
            let x = ratio(p, l).unwrap_or_else(|| panic!("{name}: {what}: no value"));
            assert!(
                (0.5..=1.001).contains(&x),
                "{name}: {what}: plan/live = {x:.3}"
            );
        }
        // Every post makes both calls unless it brings its image prompt.
        if r.levers.image_prompt_share.is_none() {
            let (post, first) = if r.levers.parallel {
                (0.4, 0.4)
            } else {
                (0.8, 0.8)
            };
            assert!(near(s.planned.p50_s, post), "{name}: {:?}", s.planned);
            assert!(near(s.planned.p95_s, post), "{name}: {:?}", s.planned);
            assert!(near(r.planned_first_token.p95_s, first), "{name}: {r:?}");
        }
    }
}

/// `--validate-levers` belongs to `--validate`: alone it is a usage error (exit 2), before
/// anything runs.
#[test]
fn validate_levers_needs_validate() {
    let dir = tempdir("validate-levers-alone");
    assert_cmd::Command::cargo_bin("postload")
        .unwrap()
        .args(["plan", "--validate-levers", "--report-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--validate"));
    assert_eq!(std::fs::read_dir(&dir).map_or(0, |d| d.count()), 0);
}
