//! One vocabulary, checked through clap's own Command API (no process spawned): every
//! subcommand's options against the shared structs, the old spellings, and the value names.

use std::collections::BTreeMap;

use clap::{Args, CommandFactory, Parser};

use super::*;

/// Every shared option as its own struct builds it, by long name.
fn shared() -> BTreeMap<String, clap::Arg> {
    let structs = [
        Mocks::augment_args(clap::Command::new("data")),
        Verbosity::augment_args(clap::Command::new("verbosity")),
        Seed::augment_args(clap::Command::new("seed")),
        TimeScaleArg::augment_args(clap::Command::new("time scale")),
        DestinationArgs::augment_args(clap::Command::new("destination")),
        ResolveArgs::augment_args(clap::Command::new("resolve")),
        AllowSpend::augment_args(clap::Command::new("allow spend")),
        SpendArgs::augment_args(clap::Command::new("spend")),
        ReportDir::augment_args(clap::Command::new("report folder")),
        OutFile::augment_args(clap::Command::new("output file")),
        PromptCacheHit::augment_args(clap::Command::new("prompt cache")),
    ];
    let mut all = BTreeMap::new();
    for s in structs {
        for a in s.get_arguments() {
            all.insert(
                a.get_long().expect("a shared option is long").to_string(),
                a.clone(),
            );
        }
    }
    all
}

/// Every command as a user reaches it: each subcommand, and `postload` alone (run's options).
fn commands() -> Vec<clap::Command> {
    let mut cli = Cli::command();
    cli.build();
    let mut all: Vec<clap::Command> = cli.get_subcommands().cloned().collect();
    all.push(cli);
    all
}

fn text(s: Option<&clap::builder::StyledStr>) -> String {
    s.map(|s| s.to_string()).unwrap_or_default()
}

fn hidden_aliases(a: &clap::Arg) -> Vec<String> {
    let mut v: Vec<String> = a
        .get_all_aliases()
        .unwrap_or_default()
        .into_iter()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Which commands take each shared option: a command that declared one by hand (a second
/// spelling or description) or lost one would change this table.
const TAKEN_BY: &[(&str, &[&str])] = &[
    (
        "mocks",
        &[
            "calibrate",
            "merge",
            "plan",
            "postload",
            "report",
            "run",
            "stub",
        ],
    ),
    (
        "quiet",
        &[
            "calibrate",
            "check",
            "compare",
            "plan",
            "postload",
            "run",
            "stub",
        ],
    ),
    ("seed", &["calibrate", "plan", "postload", "run", "stub"]),
    (
        "time-scale",
        &["calibrate", "plan", "postload", "run", "stub"],
    ),
    (
        "base-url",
        &["calibrate", "example-service", "postload", "run"],
    ),
    (
        "api-key-env",
        &["calibrate", "example-service", "postload", "run"],
    ),
    ("resolve", &["calibrate", "postload", "run"]),
    (
        "allow-spend",
        &["calibrate", "example-service", "postload", "run"],
    ),
    ("max-cost", &["calibrate", "postload", "run"]),
    (
        "report-dir",
        &["calibrate", "merge", "plan", "postload", "run"],
    ),
    ("out", &["compare", "merge"]),
    ("prompt-cache-hit", &["plan", "postload", "run", "stub"]),
];

#[test]
fn shared_flags_are_spelled_and_described_the_same_in_every_command() {
    let shared = shared();
    let mut taken: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for cmd in commands() {
        let name = cmd.get_name().to_string();
        for a in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            let Some(long) = a.get_long() else { continue };
            let Some(want) = shared.get(long) else {
                continue;
            };
            let at = format!("postload {name} --{long}");
            assert_eq!(text(a.get_help()), text(want.get_help()), "{at}: its help");
            assert_eq!(
                text(a.get_long_help()),
                text(want.get_long_help()),
                "{at}: its long help"
            );
            assert_eq!(
                a.get_value_names(),
                want.get_value_names(),
                "{at}: its value name"
            );
            assert_eq!(a.get_short(), want.get_short(), "{at}: its short flag");
            assert_eq!(
                hidden_aliases(a),
                hidden_aliases(want),
                "{at}: its old spellings"
            );
            taken
                .entry(long.to_string())
                .or_default()
                .push(name.clone());
        }
    }
    for (long, want) in TAKEN_BY {
        let mut got = taken.remove(*long).unwrap_or_default();
        got.sort();
        assert_eq!(got, *want, "the commands that take --{long}");
    }
    assert!(
        taken.is_empty(),
        "shared options missing from TAKEN_BY: {taken:?}"
    );
}

/// The renamed flags: each old spelling still parses, to the new option, and no command shows
/// it (nor offers it as an option of its own: one spelling per idea).
const RENAMED: &[(&str, &str)] = &[
    ("--openai-base-url", "--base-url"),
    ("--allow-remote-openai", "--allow-spend"),
    ("--json", "--out"),
    ("--strategy", "--retry"),
    ("--cache-hit", "--response-cache-hit"),
];

#[test]
fn old_spellings_are_hidden_and_still_parse() {
    for cmd in commands() {
        let mut cmd = cmd.clone();
        let help = cmd.render_long_help().to_string();
        for (old, new) in RENAMED {
            let shown = help.match_indices(old).any(|(i, _)| {
                !help[i + old.len()..].starts_with(|c: char| c == '-' || c.is_alphanumeric())
            });
            assert!(
                !shown,
                "postload {} --help shows {old} (now {new})",
                cmd.get_name()
            );
        }
    }
    let parse = |argv: &[&str]| {
        Cli::try_parse_from([&["postload"], argv].concat())
            .unwrap_or_else(|e| panic!("{argv:?}: {e}"))
            .command
    };
    let Some(Command::ExampleService(a)) = parse(&[
        "example-service",
        "--openai-base-url",
        "http://127.0.0.1:9/v1",
        "--allow-remote-openai",
    ]) else {
        panic!("example-service")
    };
    assert_eq!(a.dest.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
    assert!(a.spend.allow_spend);
    let Some(Command::Compare(a)) = parse(&["compare", "a.json", "b.json", "--json", "d.json"])
    else {
        panic!("compare")
    };
    assert_eq!(a.output.out, Some(PathBuf::from("d.json")));
    let Some(Command::Plan(a)) = parse(&["plan", "--strategy", "queue", "--cache-hit", "0.3"])
    else {
        panic!("plan")
    };
    assert_eq!(a.strategy, vec![StrategyArg::Queue]);
    assert_eq!(a.cache_hit, 0.3);
    // calibrate's old `--out DIR` was the exact folder; it stays so, hidden.
    let Some(Command::Calibrate(a)) = parse(&["calibrate", "--base-url", "u", "--out", "o"]) else {
        panic!("calibrate")
    };
    assert_eq!(a.out, Some(PathBuf::from("o")));
    // The new spellings, for the record.
    let Some(Command::ExampleService(a)) = parse(&["example-service", "--allow-spend"]) else {
        panic!("example-service")
    };
    assert!(a.spend.allow_spend);
    assert_eq!(a.dest.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
}

#[test]
fn no_value_name_is_a_raw_placeholder() {
    // Before: `--rejected-cost <REJECTED_COST>`, `--stream <STREAM>`, `compare <BASE> <NEW>`:
    // clap's fallback, the field's name in capitals. Every option that takes a value names it.
    for cmd in commands() {
        for a in cmd.get_arguments() {
            if !a.get_action().takes_values() {
                continue;
            }
            assert!(
                a.get_value_names().is_some_and(|v| !v.is_empty()),
                "postload {} {}: give it a value_name",
                cmd.get_name(),
                a.get_long()
                    .map_or_else(|| format!("<{}>", a.get_id()), |l| format!("--{l}"))
            );
        }
    }
}

#[test]
fn calibrate_requires_its_base_url_and_the_seed_rule_is_one_text() {
    let e = Cli::try_parse_from(["postload", "calibrate"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--base-url <URL>"), "{e}");
    // The time scale is checked where it is read, with the range in the message.
    let e = Cli::try_parse_from(["postload", "stub", "--time-scale", "0.5"])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("--time-scale 0.5") && e.contains("from 1 to 20"),
        "{e}"
    );
    let Some(Command::Stub(a)) = Cli::parse_from(["postload", "stub", "--time-scale", "4"]).command
    else {
        panic!("stub")
    };
    assert_eq!(
        a.stub.time.time_scale.map(crate::clock::TimeScale::get),
        Some(4.0)
    );
    // example-service reads --base-url from $OPENAI_BASE_URL too: its help names the variable
    // but never shows its value (a URL may carry a key in its query).
    let service = commands()
        .into_iter()
        .find(|c| c.get_name() == "example-service")
        .unwrap();
    let url = service
        .get_arguments()
        .find(|a| a.get_long() == Some("base-url"))
        .unwrap();
    assert!(url.get_env().is_some() && url.is_hide_env_values_set());
}
