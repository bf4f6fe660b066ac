use super::*;
use crate::commands::validate::Figures;
use crate::plan::levers::LeverRow;
use crate::plan::sim::Strategy;

fn row(design: Design) -> LeverRow {
    LeverRow {
        model: "gpt-4o".into(),
        users: 50,
        tier: 2,
        strategy: Strategy::Sdk,
        design,
        changes: design.changes().len() as u32,
        metric: "post".into(),
        p50_s: Some(2.0),
        p95_s: Some(4.0),
        p95_interval_s: Some((3.0, 4.5)),
        seeds: 6,
        success: 1.0,
        http_429: 0,
        usd_per_post: Some(0.008),
        usd_per_month: Some(60.0),
        meets_target: true,
    }
}

fn answer(best: Vec<LeverRow>, closest: Option<LeverRow>) -> LeverAnswer {
    LeverAnswer {
        model: "gpt-4o".into(),
        users: 50,
        holding: best.len() as u32,
        evaluated: 192,
        best,
        robust: None,
        closest,
        near_miss: None,
        assumed: None,
        holds_without_streaming: true,
    }
}

const PARALLEL: Design = Design {
    parallel: true,
    stream_caption: false,
    caption_max_tokens: None,
    image_max_tokens: None,
    image_prompt_share: None,
    response_cache_hit: None,
    effort: None,
};

#[test]
fn the_best_design_loses_its_streamed_caption_and_response_cache_and_keeps_the_rest() {
    // The plan's best: parallel calls, a streamed caption, captions of 120 tokens, a 30 %
    // response cache. A run executes the parallel calls and the 120-token cap only.
    let best = Design {
        stream_caption: true,
        caption_max_tokens: Some(120),
        response_cache_hit: Some(0.3),
        ..PARALLEL
    };
    let got = best_executable(&answer(vec![row(best)], None));
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].design,
        Design {
            caption_max_tokens: Some(120),
            ..PARALLEL
        }
    );
    assert_eq!(
        got[0].label,
        "plan's best: parallel calls + caption max_tokens 120 (streamed: see 1st token; response cache not run)"
    );
}

#[test]
fn the_best_fully_executable_design_is_run_too_when_it_differs() {
    // As the default plan answers gpt-4o × 50: parallel + streamed first, then a supplied image
    // prompt + streamed, then parallel + caption 120 (nothing to drop).
    let whole = Design {
        caption_max_tokens: Some(120),
        ..PARALLEL
    };
    let a = answer(
        vec![
            row(Design {
                stream_caption: true,
                ..PARALLEL
            }),
            row(Design {
                stream_caption: true,
                image_prompt_share: Some(0.5),
                ..Design::default()
            }),
            row(whole),
        ],
        None,
    );
    let got = best_executable(&a);
    let designs: Vec<Design> = got.iter().map(|c| c.design).collect();
    assert_eq!(designs, vec![PARALLEL, whole]);
    assert_eq!(
        got[1].label,
        "plan's best executable: parallel calls + caption max_tokens 120"
    );
    // With the single levers: the best (parallel calls) names the parallel row instead of
    // running again; the fully executable best is a sixth row.
    let all = candidates(Some(&a));
    let labels: Vec<&str> = all.iter().map(|c| c.label.as_str()).collect();
    assert_eq!(
        labels,
        vec![
            "note's design",
            "parallel calls = plan's best: parallel calls (streamed: see 1st token)",
            "caption max_tokens 120",
            "image prompt max_tokens 100",
            "image prompt share 0.5",
            "plan's best executable: parallel calls + caption max_tokens 120",
        ]
    );
    assert_eq!(all[4].design.image_prompt_share, Some(0.5));
    // A best that is only a streamed caption is the note's design live.
    let stream_only = answer(
        vec![row(Design {
            stream_caption: true,
            ..Design::default()
        })],
        None,
    );
    assert_eq!(
        candidates(Some(&stream_only))[0].label,
        "note's design = plan's best: the note's design (streamed: see 1st token)"
    );
    assert_eq!(candidates(Some(&stream_only)).len(), 5);
}

#[test]
fn with_nothing_holding_the_closest_design_is_run() {
    let closest = Design {
        caption_max_tokens: Some(120),
        image_max_tokens: Some(100),
        response_cache_hit: Some(0.3),
        ..Design::default()
    };
    let got = best_executable(&answer(vec![], Some(row(closest))));
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].label,
        "plan's closest: caption max_tokens 120 + image prompt max_tokens 100 (response cache not run)"
    );
    assert_eq!(got[0].design.response_cache_hit, None);
    assert!(best_executable(&answer(vec![], None)).is_empty());
    assert_eq!(candidates(None), single_levers());
}

fn side(planned: Figures, live: Figures) -> Side {
    Side {
        scenario: "burst-50".into(),
        tier: 2,
        users: 50,
        live,
        planned,
    }
}

#[test]
fn a_figure_more_than_10_percent_off_is_flagged() {
    let live = Figures {
        p50_s: Some(6.0),
        p95_s: Some(9.0),
        makespan_s: 10.0,
        success: 1.0,
        http_429: 0,
    };
    // 5.5 / 6 = 0.917, 8.0 / 9 = 0.889, 11.5 / 10 = 1.15; 429s are not judged.
    let planned = Figures {
        p50_s: Some(5.5),
        p95_s: Some(8.0),
        makespan_s: 11.5,
        success: 1.0,
        http_429: 7,
    };
    assert_eq!(outside(&side(planned, live)), vec!["p95", "makespan"]);
    assert!(outside(&side(live, live)).is_empty());
    // No successful post on either side: nothing to compare, nothing flagged; on one side only:
    // flagged.
    let none = Figures {
        p50_s: None,
        p95_s: None,
        success: 0.0,
        ..live
    };
    assert!(outside(&side(none, none)).is_empty());
    assert_eq!(outside(&side(none, live)), vec!["p50", "p95", "success"]);
}
