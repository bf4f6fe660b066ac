use super::*;

fn burst_50() -> Scenario {
    scenario::load("burst-50").unwrap().1
}

#[test]
fn the_design_overrides_reach_the_scenario() {
    // burst-50 as shipped: sequential calls, caps 150 and 200, no supplied image prompts.
    let mut s = burst_50();
    let shipped = s.clone();
    assert!(!s.parallel_calls);
    assert_eq!(
        (
            s.prompts.image_prompt.max_tokens,
            s.prompts.caption.max_tokens
        ),
        (150, 200)
    );
    Overrides {
        parallel_calls: Some(true),
        caption_max_tokens: Some(120),
        image_max_tokens: Some(100),
        image_prompt_share: Some(0.5),
        ..Overrides::default()
    }
    .apply(&mut s)
    .unwrap();
    assert!(s.parallel_calls);
    assert_eq!(s.prompts.caption.max_tokens, 120);
    assert_eq!(s.prompts.image_prompt.max_tokens, 100);
    assert_eq!(s.image_prompt_share, 0.5);
    // The prompts' sizes are the scenario's own.
    assert_eq!(
        s.prompts.caption.prompt_tokens,
        shipped.prompts.caption.prompt_tokens
    );
    // None given: the scenario's values stay; `Some(false)` turns a parallel scenario back.
    let mut same = shipped.clone();
    Overrides::default().apply(&mut same).unwrap();
    assert_eq!(same, shipped);
    Overrides {
        parallel_calls: Some(false),
        ..Overrides::default()
    }
    .apply(&mut s)
    .unwrap();
    assert!(!s.parallel_calls);
}

#[test]
fn a_design_override_out_of_range_is_refused_naming_the_field() {
    for (o, field) in [
        (
            Overrides {
                caption_max_tokens: Some(0),
                ..Overrides::default()
            },
            "prompts.caption.max_tokens 0",
        ),
        (
            Overrides {
                image_max_tokens: Some(MAX_COMPLETION_TOKENS + 1),
                ..Overrides::default()
            },
            "prompts.image_prompt.max_tokens 16385",
        ),
        (
            Overrides {
                image_prompt_share: Some(1.5),
                ..Overrides::default()
            },
            "image_prompt_share 1.5",
        ),
    ] {
        let e = o.apply(&mut burst_50()).unwrap_err().to_string();
        assert!(e.starts_with(field), "{e}");
    }
}

#[test]
fn service_mode_prints_the_claims_only_when_a_claims_file_is_named() {
    // The planning note's claims are about postload's model: in service mode they crowded the
    // console's first screen (31 lines before the gate).
    let catalog = || crate::config::catalog_from(None).unwrap();
    let stop = || Arc::new(AtomicBool::new(false));
    let mut req = RunRequest {
        scenarios: vec!["burst-50".into()],
        ..RunRequest::default()
    };
    assert!(configure(&req, catalog(), stop()).unwrap().print_claims);
    req.destination.target = Some("http://127.0.0.1:9".into());
    assert!(!configure(&req, catalog(), stop()).unwrap().print_claims);
    req.claims = Some("scenarios/claims.toml".into());
    assert!(configure(&req, catalog(), stop()).unwrap().print_claims);
}
