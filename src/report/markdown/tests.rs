//! The run report's service table, by hand.
use super::*;

fn case_with_stub(ok: u64, failed: u64) -> CaseResult {
    let json = include_str!("../../../tests/fixtures/result-default-run.json");
    let mut c = serde_json::from_str::<RunResult>(json)
        .unwrap()
        .cases
        .remove(0);
    (c.measured.posts.ok, c.measured.posts.failed) = (ok, failed);
    c.measured.posts.total = ok + failed;
    let mut st = crate::stub::StubStats::default();
    for (model, prompt, completion) in [("gpt-4o", 3_000, 1_000), ("gpt-4o-mini", 600, 400)] {
        st.models.insert(
            model.into(),
            crate::stub::stats::ModelStats {
                prompt_tokens: prompt,
                cached_tokens: 500,
                completion_tokens: completion,
                ..Default::default()
            },
        );
    }
    c.stub = Some(st);
    c
}

#[test]
fn stub_tokens_per_post_divide_by_successful_posts_and_only_when_none_failed() {
    // 3,000 + 600 prompt and 1,000 + 400 completion tokens = 5,000 over 4 posts: 1,250 (the
    // cached 500s are part of the prompts, not added again).
    assert_eq!(stub_tokens_per_post(&case_with_stub(4, 0)), "1250");
    // One post failed: the stub cannot tell its tokens apart, so no figure rather than 5,000 ÷ 5
    // (all posts) or 5,000 ÷ 4 (the failed post's tokens counted as the others').
    assert_eq!(stub_tokens_per_post(&case_with_stub(4, 1)), "-");
    // No stub, or no post at all: nothing to divide.
    assert_eq!(stub_tokens_per_post(&case_with_stub(0, 0)), "-");
    let mut none = case_with_stub(4, 0);
    none.stub = None;
    assert_eq!(stub_tokens_per_post(&none), "-");
}

#[test]
fn a_shards_report_says_it_covers_its_posts_only() {
    let json = include_str!("../../../tests/fixtures/result-default-run.json");
    let mut r = serde_json::from_str::<RunResult>(json).unwrap();
    assert!(!intro(&r).contains("Shard"));
    r.shard = Some(crate::shard::Shard { index: 2, count: 3 });
    assert!(
        intro(&r).contains("**Shard 2 of 3**: the figures cover this shard's posts only"),
        "{}",
        intro(&r)
    );
}

#[test]
fn the_results_tables_model_says_the_effort_and_the_responses_api_when_a_case_used_them() {
    use crate::openai::reasoning::Effort;
    use crate::scenario::prompts::ApiEndpoint;
    let mut c = case_with_stub(4, 0);
    // The default case: the model alone (the committed snapshots stay as they are).
    assert_eq!(model_cell(&c.inputs), "gpt-4o");
    c.inputs.model = "gpt-5-mini".into();
    c.inputs.reasoning_effort = Some(Effort::High);
    assert_eq!(model_cell(&c.inputs), "gpt-5-mini (effort high)");
    c.inputs.endpoint = ApiEndpoint::Responses;
    assert_eq!(
        model_cell(&c.inputs),
        "gpt-5-mini (effort high, Responses API)"
    );
    c.inputs.model = "gpt-4o".into();
    c.inputs.reasoning_effort = None;
    assert_eq!(model_cell(&c.inputs), "gpt-4o (Responses API)");
}
