//! Scenario files parsed and checked: fields, defaults, errors naming the file and field.

use super::*;

#[test]
fn the_worst_case_of_a_post_is_its_calls_at_max_tokens() {
    // gpt-4o at $2.50 in / $10 out per 1M tokens, the default calls, each prompt at the largest
    // count believed (2 × sent + 64): image prompt 1,664 × 2.5 + 150 × 10 = 5,660 µ$;
    // caption 2,464 × 2.5 + 200 × 10 = 8,160 µ$.
    let price = Price {
        input: 2.5,
        cached_input: None,
        output: 10.0,
    };
    let p = Prompts::default();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(close(p.worst_case_post_usd(&price, 1.0), 0.01382));
    assert!(close(p.worst_case_post_usd(&price, 0.0), 0.00816));
    // Half the posts bring their image prompt: 8,160 + 5,660 / 2 = 10,990 µ$.
    assert!(close(p.worst_case_post_usd(&price, 0.5), 0.01099));
}

#[test]
fn embedded_scenarios_parse_and_fit_the_catalog() {
    let catalog = Catalog::embedded();
    for (name, _) in EMBEDDED {
        let (file, s) = load(name).unwrap();
        s.check_catalog(&file, &catalog).unwrap();
        assert_eq!(s.name, name);
    }
    let (_, b) = load("burst-100").unwrap();
    assert_eq!(b.load, Load::Burst { users: 100 });
    assert_eq!(b.tiers, [1, 2]);
    assert_eq!(b.prompts, Prompts::default());
    let (_, s) = load("sustained").unwrap();
    let rate = s.load.rate_per_s().unwrap();
    assert!((rate - 100.0 * 20.0 / (8.0 * 3600.0) * 60.0).abs() < 1e-9);
}

#[test]
fn unknown_fields_name_file_and_line() {
    let text = "name = \"x\"\nmodel = \"gpt-4o\"\nusers = 5\n[load]\nkind = \"burst\"\nusers = 5\n";
    let e = Scenario::parse("my.toml", text).unwrap_err().to_string();
    assert!(e.starts_with("my.toml:"), "{e}");
    assert!(
        e.contains("line 3") && e.contains("unknown field `users`"),
        "{e}"
    );
    let text = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nuser = 5\n";
    let e = Scenario::parse("my.toml", text).unwrap_err().to_string();
    // The toml crate reports an unknown key of a table at the table's header: `[load]`,
    // line 3 (the key `user` itself is on line 5).
    assert!(e.contains("at line 3, column 1"), "{e}");
    assert!(e.contains("user"), "{e}");
}

#[test]
fn bad_values_name_the_field() {
    let base = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nusers = 5\n";
    let cases = [
        (base.replace("users = 5", "users = 0"), "load.users"),
        (
            format!("image_prompt_share = 2.0\n{base}"),
            "image_prompt_share",
        ),
        (format!("tiers = []\n{base}"), "tiers"),
        (format!("first_429 = 1000001\n{base}"), "first_429"),
        (
            format!("request_timeout_s = 0\n{base}"),
            "request_timeout_s",
        ),
        (
            format!("{base}[prompts]\ncaption = {{ prompt_tokens = 1200, max_tokens = 0 }}\n"),
            "prompts.caption",
        ),
        (
            base.replace(
                "kind = \"burst\"\nusers = 5",
                "kind = \"sustained\"\nusers = 5\nduration_s = 10",
            ),
            "load",
        ),
    ];
    for (text, field) in cases {
        let e = Scenario::parse("s.toml", &text).unwrap_err().to_string();
        assert!(e.contains(&format!("field `{field}`")), "{field}: {e}");
    }
    let e = Scenario::parse(
        "s.toml",
        &base.replace("[load]", "retry = \"eager\"\n[load]"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("retry") && e.contains("line"), "{e}");
}

#[test]
fn parallel_calls_is_a_boolean_off_by_default() {
    let base = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nusers = 5\n";
    assert!(!Scenario::parse("s.toml", base).unwrap().parallel_calls);
    let on = Scenario::parse("s.toml", &format!("parallel_calls = true\n{base}")).unwrap();
    assert!(on.parallel_calls);
    // Written only when on, so a scenario without it serializes as before.
    let off = serde_json::to_value(Scenario::parse("s.toml", base).unwrap()).unwrap();
    assert!(off.get("parallel_calls").is_none(), "{off}");
    assert_eq!(serde_json::to_value(&on).unwrap()["parallel_calls"], true);
    // Not a boolean: the file, the line and the field are named.
    let e = Scenario::parse("s.toml", &format!("parallel_calls = \"yes\"\n{base}"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("s.toml:"), "{e}");
    assert!(e.contains("line 1") && e.contains("parallel_calls"), "{e}");
}

#[test]
fn client_queue_is_a_boolean_off_by_default_written_only_when_on() {
    let base = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nusers = 5\n";
    let off = Scenario::parse("s.toml", base).unwrap();
    assert!(!off.client_queue);
    let on = Scenario::parse("s.toml", &format!("client_queue = true\n{base}")).unwrap();
    assert!(on.client_queue);
    let off = serde_json::to_value(off).unwrap();
    assert!(off.get("client_queue").is_none(), "{off}");
    assert_eq!(serde_json::to_value(&on).unwrap()["client_queue"], true);
    let e = Scenario::parse("s.toml", &format!("client_queue = \"yes\"\n{base}"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("s.toml:"), "{e}");
    assert!(e.contains("line 1") && e.contains("client_queue"), "{e}");
}

#[test]
fn plain_and_reasoning_models_run_and_an_effort_must_be_one_the_model_takes() {
    let catalog = Catalog::embedded();
    let with = |m: &str, effort: &str| {
        let text =
            format!("name = \"x\"\nmodel = \"{m}\"\n{effort}[load]\nkind = \"burst\"\nusers = 5\n");
        Scenario::parse("s.toml", &text)
            .unwrap()
            .check_catalog("s.toml", &catalog)
    };
    assert!(with("gpt-4.1-mini", "").is_ok());
    assert!(with("gpt-5-mini", "").is_ok());
    assert!(with("gpt-5-mini", "reasoning_effort = \"minimal\"\n").is_ok());
    // gpt-5-mini takes minimal, low, medium, high (mocks/models.toml): not none.
    let e = with("gpt-5-mini", "reasoning_effort = \"none\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `reasoning_effort`")
            && e.contains(r#"takes "minimal", "low", "medium", "high" ("none" given)"#),
        "{e}"
    );
    let e = with("gpt-4o", "reasoning_effort = \"low\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("`gpt-4o` is not a reasoning model"), "{e}");
    // An effort the API never takes is a parse error naming the field.
    let e = Scenario::parse(
        "s.toml",
        "name = \"x\"\nmodel = \"gpt-5-mini\"\nreasoning_effort = \"huge\"\n[load]\nkind = \"burst\"\nusers = 5\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("reasoning_effort") && e.contains("huge"), "{e}");
}

#[test]
fn the_endpoint_is_chat_by_default_written_only_when_responses() {
    use prompts::ApiEndpoint;
    let base = "name = \"x\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nusers = 5\n";
    let chat = Scenario::parse("s.toml", base).unwrap();
    assert_eq!(chat.endpoint, ApiEndpoint::Chat);
    assert!(serde_json::to_value(&chat)
        .unwrap()
        .get("endpoint")
        .is_none());
    let explicit = Scenario::parse("s.toml", &format!("endpoint = \"chat\"\n{base}")).unwrap();
    assert_eq!(explicit, chat);
    let resp = Scenario::parse("s.toml", &format!("endpoint = \"responses\"\n{base}")).unwrap();
    assert_eq!(resp.endpoint, ApiEndpoint::Responses);
    assert_eq!(
        serde_json::to_value(&resp).unwrap()["endpoint"],
        "responses"
    );
    // Another name: the file, line and field are named.
    let e = Scenario::parse("s.toml", &format!("endpoint = \"completions\"\n{base}"))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("s.toml:") && e.contains("line 1"), "{e}");
    assert!(e.contains("endpoint") && e.contains("completions"), "{e}");
}

#[test]
fn a_cap_below_16_is_refused_on_the_responses_endpoint_only() {
    // OpenAI's Responses API refuses max_output_tokens below 16; chat takes 1.
    let text = |endpoint: &str, max: u32| {
        format!(
            "name = \"x\"\nmodel = \"gpt-4o\"\n{endpoint}[load]\nkind = \"burst\"\nusers = 5\n[prompts]\ncaption = {{ prompt_tokens = 1200, max_tokens = {max} }}\n"
        )
    };
    assert!(Scenario::parse("s.toml", &text("", 15)).is_ok());
    assert!(Scenario::parse("s.toml", &text("endpoint = \"responses\"\n", 16)).is_ok());
    let e = Scenario::parse("s.toml", &text("endpoint = \"responses\"\n", 15))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("field `prompts.caption`: max_tokens 15 is below 16")
            && e.contains("endpoint = \"responses\""),
        "{e}"
    );
}

#[test]
fn unknown_model_or_tier_is_reported_against_the_catalog() {
    let catalog = Catalog::embedded();
    let base = "name = \"x\"\nmodel = \"gpt-9\"\n[load]\nkind = \"burst\"\nusers = 5\n";
    let s = Scenario::parse("s.toml", base).unwrap();
    let e = s.check_catalog("s.toml", &catalog).unwrap_err().to_string();
    assert!(e.contains("unknown model `gpt-9`"), "{e}");
    let s = Scenario::parse(
        "s.toml",
        &base
            .replace("gpt-9", "gpt-4o")
            .replace("[load]", "tiers = [7]\n[load]"),
    )
    .unwrap();
    let e = s.check_catalog("s.toml", &catalog).unwrap_err().to_string();
    assert!(e.contains("no tier 7"), "{e}");
}

#[test]
fn a_max_tokens_past_the_models_output_cap_is_refused_before_the_run() {
    // gpt-4o-2024-05-13 writes at most 4,096: a caption asking 5,000 would be OpenAI's 400 on
    // every post. gpt-4o (16,384) takes it.
    let catalog = Catalog::embedded();
    let text = "name = \"x\"\nmodel = \"gpt-4o-2024-05-13\"\n[prompts.caption]\nprompt_tokens = 1200\nmax_tokens = 5000\n[load]\nkind = \"burst\"\nusers = 5\n";
    let s = Scenario::parse("s.toml", text).unwrap();
    let e = s.check_catalog("s.toml", &catalog).unwrap_err().to_string();
    assert!(
        e.contains("s.toml")
            && e.contains("field `prompts.caption.max_tokens`: 5000 is more than `gpt-4o-2024-05-13` writes (4096"),
        "{e}"
    );
    let s = Scenario::parse("s.toml", &text.replace("gpt-4o-2024-05-13", "gpt-4o")).unwrap();
    s.check_catalog("s.toml", &catalog).unwrap();
}

#[test]
fn a_missing_file_lists_the_built_in_names() {
    let e = load("nope.toml").unwrap_err().to_string();
    assert!(e.contains("burst-50") && e.contains("nope.toml"), "{e}");
}
