//! The edge's own decisions: the worst case in time, the expected time, the outcome.
use std::time::Duration;

use crate::clock::TimeScale;

#[test]
fn the_worst_case_in_time_is_each_models_bound_and_grace() {
    // Two models at K = 1: 2 × (30 min + 2 s) = 3,604 s, printed as 61 min (rounded up).
    assert_eq!(
        super::worst_time_of(2, TimeScale::ONE),
        Duration::from_secs(3_604)
    );
    assert_eq!(
        super::minutes(super::worst_time_of(2, TimeScale::ONE)),
        "61 min"
    );
    // One model at K = 5: 1,800 / 5 + 2 + the time-scale check's 2 = 364 s: 7 min.
    assert_eq!(
        super::worst_time_of(1, TimeScale::checked(5.0).unwrap()),
        Duration::from_secs(364)
    );
    assert_eq!(
        super::minutes(super::worst_time_of(1, TimeScale::checked(5.0).unwrap())),
        "7 min"
    );
    assert_eq!(super::minutes(Duration::from_millis(1_500)), "2 s");
}

fn default_settings() -> super::Settings {
    settings_with(&[])
}

fn settings_with(more: &[&str]) -> super::Settings {
    let mut argv = vec!["--base-url", "http://127.0.0.1:9/v1", "--seed", "1"];
    argv.extend_from_slice(more);
    settings_from(&argv)
}

/// `postload calibrate ARGV...`'s settings.
fn settings_from(args: &[&str]) -> super::Settings {
    use clap::Parser as _;
    let mut argv = vec!["postload", "calibrate"];
    argv.extend_from_slice(args);
    let cli = crate::cli::Cli::try_parse_from(argv).unwrap();
    let Some(crate::cli::Command::Calibrate(args)) = cli.command else {
        panic!("not calibrate")
    };
    super::settings::settings(&args).unwrap()
}

#[test]
fn a_default_calibration_is_expected_to_take_what_the_docs_say() {
    // gpt-4o at tier 1 (500 RPM, 30,000 TPM), paced to half: a call's gap is its tokens at
    // 15,000 a minute (4 ms a token; even a probe's 65 tokens, 0.26 s, pass 60 / 250 =
    // 0.24 s a request), far slower than 3 calls at a time. The first call (a speed call,
    // 64 + 1,024 tokens) goes alone and takes 0.639 s + 219 tokens at 80/s + 64 / 8,000 s
    // = 3.3845 s; then every gap but the first's and the last's: (87,048 - 1,088 - 65)
    // tokens x 4 ms = 343.58 s; then the last call (a probe: 0.639 + 0.008 = 0.647 s).
    // 3.3845 + 343.58 + 0.647 = 347.6115 s.
    let s = default_settings();
    let took: Vec<Duration> = s
        .models
        .iter()
        .map(|m| super::expected_time(&s, m))
        .collect();
    assert_eq!(s.models[0].model, "gpt-4o");
    assert_eq!(took[0].as_millis(), 347_611);
    // gpt-4o-mini (200,000 TPM): at least its 158 request gaps of 0.24 s between the first send and the last (37.92 s), at
    // most every call one after the other (each at most 0.536 + 1,023 / 82.5 + 1,264 /
    // 8,250 s = 13.1 s).
    assert!(took[1] > Duration::from_secs_f64(37.92), "{:?}", took[1]);
    assert!(took[1] < Duration::from_secs(160 * 14), "{:?}", took[1]);
    // Printed (and documented) rounded up: 347.6 + 96.0 s is 7.4 min, "8 min".
    assert_eq!(super::minutes(took.iter().sum()), "8 min");
}

#[test]
fn limits_that_give_the_model_up_expect_only_its_first_call() {
    // Tier 1 of 1 RPM: 120 s between sends at half of it, past the 60 s bound, so the
    // session gives the model up at its second send: expected is the first call alone,
    // gpt-4o-mini's speed call, 0.536 s + 219 tokens at 82.5/s + 64 / 8,250 s = 3.1983 s
    // (not 30 min of pacing).
    let dir = std::env::temp_dir().join(format!("postload-expect-tiny-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("tiers.toml"),
        "default_set = \"t\"\n[sets.t]\nas_of = \"2026-12-01\"\nsource = \"test\"\n[[sets.t.tier]]\ntier = 1\nqualification = \"test\"\nlimits.gpt-4o-mini = { rpm = 1, tpm = 1 }\nlimits.gpt-4o = { rpm = 1, tpm = 1 }\n",
    )
    .unwrap();
    let s = settings_with(&["--model", "gpt-4o-mini", "--mocks", dir.to_str().unwrap()]);
    let took = super::expected_time(&s, &s.models[0]);
    assert_eq!(took.as_micros() / 100, 31_983, "{took:?}");
}

#[test]
fn a_calibration_stopped_by_its_cap_exits_3_even_with_nothing_answered() {
    // Issue 28 §2: calibrate's exit 3 had no test. It is a second line of defence (a cap
    // must cover the printed worst case to start, and no believed usage costs more than its
    // reservation), so it is tested where the outcome is decided: a cap stop is exit 3 and
    // not the "no call was answered" error (exit 2) it would otherwise also be; a signal
    // wins over both (128 + N); with neither, nothing answered is an error naming the file.
    use crate::metrics::budget::Budget;
    use crate::Outcome;
    let s = default_settings();
    let mut c = super::assemble(&s, Vec::new(), &Budget::new(1.0));
    assert!(c.models.iter().all(|m| m.run.observations.is_empty()));
    let e = super::outcome(&s, &c, None).unwrap_err().to_string();
    assert!(
        e.contains("no call was answered") && e.contains("calibration.md"),
        "{e}"
    );
    c.cost.stopped_by_cap = true;
    let o = super::outcome(&s, &c, None).unwrap();
    assert_eq!((o, o.exit_code()), (Outcome::BudgetStopped, 3));
    let o = super::outcome(&s, &c, Some(2)).unwrap();
    assert_eq!((o, o.exit_code()), (Outcome::Interrupted(2), 130));
}

/// Issue 28 §2: calibrate stopping at its cap with exit 3 and what it measured written, end to
/// end. Against a cap that covers the worst case the guard cannot stop a calibration (each call
/// is charged at most its worst case once; a 429 is charged nothing and sent again), so the
/// guard is given half the worst case here, the one way to reach its stop. The guard's
/// contract, both sides: the spend never passes the cap, and it stopped only when the next
/// call's worst case no longer fitted (spent > cap - the largest worst case of a call).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guard_below_the_worst_case_stops_with_exit_3_and_writes_what_was_answered() {
    use std::sync::Arc;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut c = crate::stub::StubConfig::new(Arc::new(crate::openai::catalog::Catalog::embedded()));
    c.tier = 5;
    c.fixed_latency = Some(Duration::from_millis(5));
    let stub = crate::stub::start(c, listener).await.unwrap();
    let out = std::env::temp_dir().join(format!("postload-cap-stop-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let (url, dir) = (stub.base_url(), out.display().to_string());
    let s = settings_from(&[
        "--base-url",
        &url,
        "--model",
        "gpt-4o-mini",
        "--calls",
        "10",
        "--concurrency",
        "1",
        "--stream",
        "off",
        "--seed",
        "1",
        "--out",
        &dir,
        "--quiet",
    ]);
    // gpt-4o-mini's 10 calls (seed 1): worst case $0.0027522, the largest call's $0.0006432;
    // the stub bills them $0.0008502 in all (their usage, far under the worst case). A quarter
    // of the worst case, $0.00068805, lets the largest call go alone but not all 10.
    let cap = s.worst_usd() / 4.0;
    let catalog = crate::openai::catalog::Catalog::embedded();
    let price = &catalog.prices.models["gpt-4o-mini"];
    let largest = s.models[0]
        .calls
        .iter()
        .map(|c| {
            crate::metrics::budget::worst_case_usd(
                price,
                c.prompt_tokens as u64,
                c.max_tokens as u64,
            )
        })
        .fold(0.0, f64::max);
    assert!(largest <= cap, "{largest} / {cap}");
    let o = super::measure(&s, &[Duration::ZERO], cap).await.unwrap();
    assert_eq!((o, o.exit_code()), (crate::Outcome::BudgetStopped, 3));
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("calibration.json")).unwrap())
            .unwrap();
    let cost = &j["cost"];
    assert_eq!(cost["stopped_by_cap"], true, "{cost}");
    assert_eq!(
        cost["calls_refused"], 1,
        "one at a time: the first refusal stops it"
    );
    assert_eq!(
        cost["max_cost_usd"].as_f64(),
        Some(cap),
        "the cap the guard held"
    );
    let spent = cost["spent_usd"].as_f64().unwrap();
    assert!(spent <= cap, "{spent} past the cap {cap}");
    assert!(spent > cap - largest, "stopped early: {spent} of {cap}");
    let answered = j["models"][0]["run"]["observations"]
        .as_array()
        .unwrap()
        .len();
    assert!((1..10).contains(&answered), "{answered} answered");
    // What was answered is fitted and written: the overlay loads, the report says why it
    // stopped.
    assert!(out.join("latency.toml").is_file() && out.join("tiers.toml").is_file());
    crate::openai::catalog::Catalog::load_dir(&out).unwrap();
    let md = std::fs::read_to_string(out.join("calibration.md")).unwrap();
    assert!(
        md.contains("the spend guard stopped it (1 calls not sent)"),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&out);
}
