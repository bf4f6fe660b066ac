//! The catalog against the embedded mocks/ files and hand-broken copies of them.

use super::*;

fn texts() -> [(String, String); 4] {
    [
        ("models.toml", EMBEDDED_MODELS),
        ("tiers.toml", EMBEDDED_TIERS),
        ("latency.toml", EMBEDDED_LATENCY),
        ("prices.toml", EMBEDDED_PRICES),
    ]
    .map(|(n, t)| (n.to_string(), t.to_string()))
}

#[test]
fn embedded_data_is_consistent() {
    let c = Catalog::embedded();
    assert_eq!(c.model("gpt-4o").unwrap().snapshot, "gpt-4o-2024-08-06");
    let t1 = c.tier("openai-2025", 1).unwrap();
    assert_eq!(t1.limits["gpt-4o"].tpm, 30_000);
    assert_eq!(
        c.tier("openai-2025", 5).unwrap().limits["gpt-4o-mini"].tpm,
        150_000_000
    );
    assert_eq!(c.tier("seed", 2).unwrap().limits["gpt-4o"].tpm, 100_000);
    assert_eq!(c.prices.models["gpt-4o"].output, 10.0);
    assert!(c.tier("seed", 4).unwrap_err().contains("no tier 4"));
    assert!(c.tier("nope", 1).unwrap_err().contains("unknown tier set"));
}

#[test]
fn a_models_limits_at_a_tier_go_through_its_family() {
    let c = Catalog::embedded();
    // tiers.toml: gpt-4o's family at openai-2025 tier 1 has 30,000 TPM and 500 RPM.
    let l = c.limits("openai-2025", 1, "gpt-4o").unwrap().unwrap();
    assert_eq!((l.tpm, l.rpm), (30_000, 500));
    assert_eq!(c.limits("openai-2025", 1, "no-such-model").unwrap(), None);
    assert!(c
        .limits("seed", 4, "gpt-4o")
        .unwrap_err()
        .contains("no tier 4"));
}

#[test]
fn the_unlimited_set_loads() {
    let c = Catalog::unlimited();
    assert_eq!(c.default_tier_set, "unlimited");
    assert!(c.tier("unlimited", 1).unwrap().limits["gpt-4o"].tpm > 1_000_000_000);
}

#[test]
fn unknown_field_names_the_file_and_line() {
    let mut t = texts();
    t[2].1 = t[2]
        .1
        .replace("latency_ms = 0", "latency_ms = 0\nlatncy = 3");
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(err.starts_with("latency.toml:"), "{err}");
    assert!(err.contains("latncy"), "{err}");
    assert!(err.contains("line"), "{err}");
}

#[test]
fn a_wrong_type_names_the_line_and_field() {
    let mut t = texts();
    t[2].1 = t[2].1.replacen("p99 = 4517.0", "p99 = \"slow\"", 1);
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(err.contains("line 17"), "{err}");
    assert!(err.contains("p99"), "{err}");
}

#[test]
fn a_field_of_the_other_kind_is_named() {
    let mut t = texts();
    t[2].1 = t[2].1.replace(
        "latency_ms = 0",
        "latency_ms = 0\nttft_ms = { p50 = 1.0, p95 = 1.0, p99 = 1.0, p99_99 = 1.0 }",
    );
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(
        err.contains("profiles.fixed.ttft_ms") && err.contains("not used"),
        "{err}"
    );
}

#[test]
fn bad_percentiles_name_the_profile() {
    let mut t = texts();
    t[2].1 = t[2].1.replacen("p95 = 1144.0", "p95 = 100.0", 1);
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(
        err.contains("profiles.gpt-4o") && err.contains("ttft_ms"),
        "{err}"
    );
}

#[test]
fn a_model_without_limits_in_a_tier_is_an_error() {
    let mut t = texts();
    t[1].1 = t[1].1.replacen(
        "limits.gpt-4o-mini = { rpm = 500, tpm = 200_000, rpd = 10_000 }",
        "",
        1,
    );
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(err.contains("sets.openai-2025.tier[0].limits"), "{err}");
}

/// The error `from_texts` gives for the embedded files with `edit` applied to file `i` (0
/// models, 1 tiers, 2 latency, 3 prices).
fn error_with(i: usize, edit: impl FnOnce(&str) -> String) -> String {
    let mut t = texts();
    t[i].1 = edit(&t[i].1);
    Catalog::from_texts(t).unwrap_err().to_string()
}

#[test]
fn a_model_naming_an_unknown_profile_is_an_error() {
    // The first model (model[0], gpt-4o) is the first line `profile = "gpt-4o"`.
    let err = error_with(0, |m| {
        m.replacen(r#"profile = "gpt-4o""#, r#"profile = "gpt-9""#, 1)
    });
    assert_eq!(
        err,
        "models.toml: field `model[0].profile`: no profile `gpt-9` in latency.toml"
    );
}

#[test]
fn a_model_listed_twice_is_an_error() {
    // The second model (model[1]) takes the first one's id.
    let err = error_with(0, |m| {
        m.replacen(r#"id = "gpt-4o-2024-08-06""#, r#"id = "gpt-4o""#, 1)
    });
    assert_eq!(
        err,
        "models.toml: field `model[1].id`: model `gpt-4o` is listed twice"
    );
}

#[test]
fn a_models_output_cap_outside_16_to_128000_is_an_error() {
    // The first model's cap (gpt-4o's 16,384, its first `max_output_tokens` line).
    for (cap, shown) in [("0", "0"), ("15", "15"), ("128001", "128001")] {
        let err = error_with(0, |m| {
            m.replacen(
                "max_output_tokens = 16384",
                &format!("max_output_tokens = {cap}"),
                1,
            )
        });
        assert_eq!(
            err,
            format!(
                "models.toml: field `model[0].max_output_tokens`: {shown} is outside 16 to 128000"
            )
        );
    }
}

#[test]
fn a_models_file_without_models_is_an_error() {
    let err = error_with(0, |_| "as_of = \"x\"\nsource = \"y\"\nmodel = []\n".into());
    assert_eq!(err, "models.toml: field `model`: no models listed");
}

#[test]
fn a_price_outside_its_bounds_is_an_error() {
    // gpt-4o's table comes first in prices.toml and in the BTreeMap (the shortest name).
    let err = error_with(3, |p| p.replacen("output = 10.00", "output = -1.0", 1));
    assert_eq!(
        err,
        "prices.toml: field `models.gpt-4o.output`: -1 is outside [0, 10000] USD per 1M tokens"
    );
    let err = error_with(3, |p| p.replacen("input = 2.50", "input = 10000.5", 1));
    assert_eq!(
        err,
        "prices.toml: field `models.gpt-4o.input`: 10000.5 is outside [0, 10000] USD per 1M tokens"
    );
    let err = error_with(3, |p| {
        p.replacen("cached_input = 1.25", "cached_input = -0.5", 1)
    });
    assert_eq!(
        err,
        "prices.toml: field `models.gpt-4o.cached_input`: -0.5 is outside [0, 10000] USD per 1M tokens"
    );
}

#[test]
fn prices_at_their_bounds_are_accepted() {
    // 0 and MAX_PRICE (10,000) are both inside [0, 10000].
    let mut t = texts();
    t[3].1 = t[3].1.replacen("input = 2.50", "input = 0.0", 1).replacen(
        "output = 10.00",
        "output = 10000.0",
        1,
    );
    let c = Catalog::from_texts(t).unwrap();
    assert_eq!(c.prices.models["gpt-4o"].input, 0.0);
    assert_eq!(c.prices.models["gpt-4o"].output, 10_000.0);
}

#[test]
fn a_limit_of_zero_or_above_its_maximum_is_an_error() {
    // The first tier of the default set: gpt-4o has rpm = 500, tpm = 30_000; gpt-4o-mini also
    // has rpd = 10_000.
    let tier1 = "limits.gpt-4o = { rpm = 500, tpm = 30_000 }";
    let err = error_with(1, |t| {
        t.replacen(tier1, "limits.gpt-4o = { rpm = 0, tpm = 30_000 }", 1)
    });
    assert_eq!(
        err,
        "tiers.toml: field `sets.openai-2025.tier[0].limits.gpt-4o.rpm`: \
         0 is outside [1, 1000000000000]"
    );
    // MAX_TPM + 1 = 10^15 + 1.
    let err = error_with(1, |t| {
        t.replacen(
            tier1,
            "limits.gpt-4o = { rpm = 500, tpm = 1_000_000_000_000_001 }",
            1,
        )
    });
    assert_eq!(
        err,
        "tiers.toml: field `sets.openai-2025.tier[0].limits.gpt-4o.tpm`: \
         1000000000000001 is outside [1, 1000000000000000]"
    );
    let err = error_with(1, |t| t.replacen("rpd = 10_000", "rpd = 0", 1));
    assert_eq!(
        err,
        "tiers.toml: field `sets.openai-2025.tier[0].limits.gpt-4o-mini.rpd`: \
         0 is outside [1, 1000000000000]"
    );
}

#[test]
fn limits_at_their_bounds_are_accepted() {
    // 1 and the maxima (MAX_RPM = 10^12, MAX_TPM = 10^15) are inside [1, max].
    let mut t = texts();
    t[1].1 = t[1].1.replacen(
        "limits.gpt-4o = { rpm = 500, tpm = 30_000 }",
        "limits.gpt-4o = { rpm = 1_000_000_000_000, tpm = 1_000_000_000_000_000, rpd = 1 }",
        1,
    );
    let c = Catalog::from_texts(t).unwrap();
    let l = c.limits("openai-2025", 1, "gpt-4o").unwrap().unwrap();
    assert_eq!(
        (l.rpm, l.tpm, l.rpd),
        (1_000_000_000_000, 1_000_000_000_000_000, Some(1))
    );
}

#[test]
fn the_fixed_profile_takes_its_completion_length_from_the_data() {
    let mut t = texts();
    t[2].1 = t[2].1.replace(
        "fixed_completion_tokens = 100",
        "fixed_completion_tokens = 37",
    );
    let c = Catalog::from_texts(t).unwrap();
    assert_eq!(
        c.fixed_profile(std::time::Duration::from_millis(250)),
        Profile::Fixed {
            as_of: String::new(),
            source: "--latency-ms".into(),
            latency_ms: 250,
            completion_tokens: 37,
        }
    );
}

#[test]
fn without_a_fixed_profile_the_completion_length_is_100() {
    // No model uses the `fixed` profile: cut its table out of latency.toml.
    let mut t = texts();
    let at = t[2].1.find("[profiles.fixed]").unwrap();
    let end = t[2].1[at + 1..]
        .find("\n[profiles.")
        .map_or(t[2].1.len(), |n| at + 1 + n);
    t[2].1.replace_range(at..end, "");
    let c = Catalog::from_texts(t).unwrap();
    assert!(!c.profiles.contains_key("fixed"));
    assert_eq!(
        c.fixed_profile(std::time::Duration::from_millis(1_500)),
        Profile::Fixed {
            as_of: String::new(),
            source: "--latency-ms".into(),
            latency_ms: 1_500,
            completion_tokens: 100,
        }
    );
}

#[test]
fn a_prompt_cache_share_is_read_checked_and_named() {
    // Shipped: 0 for every model.
    let c = Catalog::embedded();
    assert_eq!(c.prompt_cache_hit("gpt-4o"), 0.0);
    assert_eq!(c.prompt_cache_hit("no-such-model"), 0.0);
    // gpt-4o's profile is the first to give one.
    let with = |share: &str| {
        let mut t = texts();
        t[2].1 = t[2].1.replacen(
            "prompt_cache_hit = 0.0",
            &format!("prompt_cache_hit = {share}"),
            1,
        );
        Catalog::from_texts(t)
    };
    let c = with("0.75").unwrap();
    assert_eq!(c.prompt_cache_hit("gpt-4o"), 0.75);
    assert_eq!(c.prompt_cache_hit("gpt-4o-mini"), 0.0);
    for bad in ["1.5", "-0.1", "nan"] {
        let err = with(bad).unwrap_err().to_string();
        assert!(
            err.starts_with("latency.toml: field `profiles.gpt-4o.prompt_cache_hit`: "),
            "{err}"
        );
        assert!(err.ends_with("is outside [0, 1]"), "{err}");
    }
    // A fixed profile has no use for it.
    let mut t = texts();
    t[2].1 = t[2]
        .1
        .replace("latency_ms = 0", "latency_ms = 0\nprompt_cache_hit = 0.5");
    let err = Catalog::from_texts(t).unwrap_err().to_string();
    assert!(
        err.contains("profiles.fixed.prompt_cache_hit") && err.contains("not used"),
        "{err}"
    );
}

#[test]
fn the_current_models_load_with_reasoning_limits_and_prices() {
    let c = Catalog::embedded();
    // models.toml: gpt-5-mini is a reasoning model (minimal to high, medium by default).
    let r = c.reasoning("gpt-5-mini").unwrap();
    assert_eq!(r.default_effort, Effort::Medium);
    assert_eq!(
        r.efforts,
        [Effort::Minimal, Effort::Low, Effort::Medium, Effort::High]
    );
    assert_eq!(
        c.model("gpt-5-mini").unwrap().snapshot,
        "gpt-5-mini-2025-08-07"
    );
    // latency.toml: minimal reasons not at all, medium around 640 tokens.
    let minimal = c.reasoning_tokens("gpt-5-mini", Effort::Minimal).unwrap();
    assert_eq!((minimal.median, minimal.max), (0, 0));
    assert_eq!(
        c.reasoning_tokens("gpt-5-mini", Effort::Medium)
            .unwrap()
            .median,
        640
    );
    // An effort the model does not take, and a model that does not reason, draw nothing.
    assert_eq!(c.reasoning_tokens("gpt-5-mini", Effort::Xhigh), None);
    assert_eq!(c.reasoning("gpt-4.1-mini"), None);
    assert_eq!(c.reasoning_tokens("gpt-4.1-mini", Effort::Medium), None);
    assert_eq!(c.reasoning("gpt-4o"), None);
    // Only GPT-5.6 Sol takes `max`.
    assert!(c.reasoning_tokens("gpt-5.6-sol", Effort::Max).is_some());
    assert!(c.reasoning_tokens("gpt-5.6-luna", Effort::Max).is_none());
    // tiers.toml: gpt-5-mini's Tier 1 after the 2025-09-12 raise; gpt-4.1 as gpt-4o.
    let l = c.limits("openai-2025", 1, "gpt-5-mini").unwrap().unwrap();
    assert_eq!((l.rpm, l.tpm), (500, 500_000));
    let l = c.limits("openai-2025", 5, "gpt-5-mini").unwrap().unwrap();
    assert_eq!(l.tpm, 180_000_000);
    let l = c.limits("openai-2025", 1, "gpt-4.1").unwrap().unwrap();
    assert_eq!((l.rpm, l.tpm), (500, 30_000));
    // The note's tiers give every model the note's limits.
    assert_eq!(
        c.limits("seed", 1, "gpt-5-mini").unwrap().unwrap().tpm,
        10_000
    );
    // prices.toml: the GPT-5 family's cached input is 10 % of input, GPT-4.1's 25 %.
    let p = c.prices.models["gpt-5-mini"];
    assert_eq!(
        (p.input, p.cached_input, p.output),
        (0.25, Some(0.025), 2.0)
    );
    let p = c.prices.models["gpt-4.1-mini"];
    assert_eq!(
        (p.input, p.cached_input, p.output),
        (0.40, Some(0.10), 1.60)
    );
}

#[test]
fn every_model_has_a_price_and_every_family_a_limit_in_every_set() {
    // A model without a price would plan and run with no cost; the tier check already makes
    // every set give every family limits.
    for c in [Catalog::embedded(), Catalog::unlimited()] {
        for m in &c.models {
            assert!(c.prices.models.contains_key(&m.id), "{} has no price", m.id);
            for (name, set) in &c.tier_sets {
                for t in &set.tier {
                    assert!(
                        c.limits(name, t.tier, &m.id).unwrap().is_some(),
                        "{} at {name} tier {}",
                        m.id,
                        t.tier
                    );
                }
            }
        }
    }
}

#[test]
fn every_entry_added_after_the_files_date_carries_its_own_date_and_source() {
    // The first six models and prices are the files' own (stamped 2025-06-01 in the header);
    // every later entry says where its figures come from, and a guessed figure says
    // "estimated".
    let models: ModelsFile = parse("models.toml", EMBEDDED_MODELS).unwrap();
    for m in models.model.iter().filter(|m| !m.id.starts_with("gpt-4o")) {
        assert!(
            m.as_of.as_deref().is_some_and(|d| d.len() == 10) && m.source.is_some(),
            "{}",
            m.id
        );
    }
    let prices: PricesFile = parse("prices.toml", EMBEDDED_PRICES).unwrap();
    for (id, p) in prices
        .models
        .iter()
        .filter(|(id, _)| !id.starts_with("gpt-4o"))
    {
        assert!(p.as_of.is_some() && p.source.is_some(), "{id}");
    }
    let tiers: TiersFile = parse("tiers.toml", EMBEDDED_TIERS).unwrap();
    let set = &tiers.sets["openai-2025"];
    for family in models.model.iter().map(|m| &m.limits) {
        assert!(
            family.starts_with("gpt-4o") || set.families.contains_key(family),
            "{family} has no date and source in openai-2025"
        );
    }
    assert!(set.families["gpt-5-nano"].source.starts_with("estimated"));
    let latency: LatencyFile = parse("latency.toml", EMBEDDED_LATENCY).unwrap();
    for (name, p) in &latency.profiles {
        if p.reasoning_tokens.is_some() {
            assert!(p.source.contains("estimated"), "{name}: {}", p.source);
        }
    }
}

/// The embedded files with gpt-5-mini's first entry (`id = "gpt-5-mini"`, the only one with
/// that exact line) edited by `edit` and the result's error.
fn gpt5_mini_error(edit: impl Fn(&str) -> String) -> String {
    error_with(0, |m| {
        let at = m.find("id = \"gpt-5-mini\"").unwrap();
        let end = at + m[at..].find("\n\n").unwrap();
        format!("{}{}{}", &m[..at], edit(&m[at..end]), &m[end..])
    })
}

#[test]
fn a_reasoning_model_with_wrong_efforts_is_an_error_naming_the_field() {
    // gpt-5-mini is model[14] of models.toml.
    let e =
        gpt5_mini_error(|t| t.replace("default_effort = \"medium\"", "default_effort = \"xhigh\""));
    assert!(
        e.contains("model[14].default_effort") && e.contains("`xhigh` is not among"),
        "{e}"
    );
    let e = gpt5_mini_error(|t| t.replace("\"low\", \"medium\"", "\"low\", \"low\", \"medium\""));
    assert!(e.contains("effort `low` is listed twice"), "{e}");
    let e = gpt5_mini_error(|t| t.replace("\"high\"]", "\"high\", \"xhigh\"]"));
    assert!(
        e.contains("model[14].reasoning_efforts")
            && e.contains("no `reasoning_tokens.xhigh` in profile `gpt-5-mini`"),
        "{e}"
    );
    let e = gpt5_mini_error(|t| t.replace("default_effort = \"medium\"\n", ""));
    assert!(
        e.contains("model[14].default_effort") && e.contains("required"),
        "{e}"
    );
    // Without efforts, a model on a profile that draws reasoning is refused.
    let e = gpt5_mini_error(|t| {
        t.replace(
            "reasoning_efforts = [\"minimal\", \"low\", \"medium\", \"high\"]\n",
            "",
        )
        .replace("default_effort = \"medium\"\n", "")
    });
    assert!(
        e.contains("model[14].reasoning_efforts") && e.contains("draws reasoning tokens"),
        "{e}"
    );
    // A default without efforts, on a model that does not reason.
    let e = error_with(0, |m| {
        m.replacen(
            "limits = \"gpt-4o\"\n",
            "limits = \"gpt-4o\"\ndefault_effort = \"low\"\n",
            1,
        )
    });
    assert!(
        e.contains("model[0].default_effort") && e.contains("no `reasoning_efforts`"),
        "{e}"
    );
    // An effort the API does not know is a parse error naming the line.
    let e = gpt5_mini_error(|t| t.replace("\"minimal\"", "\"tiny\""));
    assert!(
        e.starts_with("models.toml:") && e.contains("tiny") && e.contains("line"),
        "{e}"
    );
}

#[test]
fn bad_reasoning_tokens_name_the_profile_effort_and_field() {
    let e = error_with(2, |l| {
        l.replacen(
            "reasoning_tokens.low = { median = 192, sigma = 0.8, min = 0, max = 8192 }",
            "reasoning_tokens.low = { median = 192, sigma = 0.8, min = 300, max = 8192 }",
            1,
        )
    });
    assert!(
        e.contains("profiles.gpt-5.reasoning_tokens.low.median") && e.contains("min <= median"),
        "{e}"
    );
    let e = error_with(2, |l| l.replacen("max = 65536 }", "max = 1000000 }", 1));
    assert!(
        e.contains("profiles.gpt-5.reasoning_tokens.high.max") && e.contains("128000"),
        "{e}"
    );
    // The fixed profile draws no reasoning.
    let e = error_with(2, |l| {
        l.replace(
            "latency_ms = 0",
            "latency_ms = 0\nreasoning_tokens.low = { median = 1, sigma = 0.0, min = 0, max = 1 }",
        )
    });
    assert!(
        e.contains("profiles.fixed.reasoning_tokens") && e.contains("not used"),
        "{e}"
    );
}

#[test]
fn a_family_stamp_for_a_family_no_tier_gives_is_an_error() {
    let e = error_with(1, |t| {
        t.replacen(
            "# Families added",
            "families.gpt-9 = { as_of = \"2026-01-01\", source = \"x\" }\n# Families added",
            1,
        )
    });
    assert!(
        e.contains("sets.openai-2025.families.gpt-9") && e.contains("no tier"),
        "{e}"
    );
}

#[test]
fn a_mocks_folder_made_before_the_new_models_still_loads_and_names_only_what_it_serves() {
    // A folder with a latency.toml and a tiers.toml for gpt-4o and gpt-4o-mini only (as
    // calibrate wrote them before the catalog grew) and no models.toml of its own.
    let dir = std::env::temp_dir().join(format!("postload-catalog-old-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let latency = EMBEDDED_LATENCY;
    let old = &latency[..latency.find("\n# Added 2026-12-06").unwrap()];
    std::fs::write(dir.join("latency.toml"), old).unwrap();
    let tiers = "default_set = \"t\"\n[sets.t]\nas_of = \"x\"\nsource = \"y\"\n[[sets.t.tier]]\ntier = 1\nqualification = \"q\"\nlimits.gpt-4o = { rpm = 1, tpm = 2 }\nlimits.gpt-4o-mini = { rpm = 1, tpm = 2 }\n";
    std::fs::write(dir.join("tiers.toml"), tiers).unwrap();
    let c = Catalog::load_dir(&dir).unwrap();
    assert!(c.model("gpt-4o").is_some() && c.model("gpt-4o-mini-2024-07-18").is_some());
    assert!(c.model("gpt-4.1-mini").is_none() && c.model("gpt-5-mini").is_none());
    // The first entries stay strict: a folder without gpt-4o's profile is still refused.
    std::fs::write(
        dir.join("latency.toml"),
        old.replace("[profiles.gpt-4o]", "[profiles.gpt-4x]"),
    )
    .unwrap();
    let e = Catalog::load_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("no profile `gpt-4o`"), "{e}");
    // With its own models.toml, a folder is taken as it is: a model without a profile is refused.
    std::fs::write(dir.join("latency.toml"), old).unwrap();
    std::fs::write(dir.join("models.toml"), EMBEDDED_MODELS).unwrap();
    let e = Catalog::load_dir(&dir).unwrap_err().to_string();
    assert!(e.contains("no profile `gpt-4.1`"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}
