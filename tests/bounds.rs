//! Bad or huge input (issue 12, section 4): no panic, hang or runaway memory. Each test is named
//! after what broke; every refusal is exit 2 with a message naming the file or option, the
//! field, and the limit.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use assert_cmd::Command;
use postload::cli::RunArgs;
use postload::config::run_config;
use postload::openai::catalog;
use predicates::prelude::*;
use predicates::str::contains;

use crate::common::tempdir;

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

/// A mocks directory holding one edited file.
fn mocks_with(tag: &str, name: &str, text: &str) -> PathBuf {
    let dir = tempdir(tag);
    std::fs::write(dir.join(name), text).unwrap();
    dir
}

/// `run` with a bad mocks directory stops before the (missing) scenario is even looked at.
fn run_with_mocks(dir: &Path) -> assert_cmd::assert::Assert {
    postload()
        .args(["run", "--quiet", "--scenario", "/nonexistent/scenario.toml"])
        .arg("--mocks")
        .arg(dir)
        .arg("--report-dir")
        .arg(dir)
        .assert()
}

#[test]
fn plan_with_a_p99_99_of_1e300_is_exit_2_not_a_panic() {
    let text = catalog::EMBEDDED_LATENCY.replacen("p99_99 = 7010.0", "p99_99 = 1e300", 1);
    let dir = mocks_with("p9999", "latency.toml", &text);
    postload()
        .args(["plan", "--quiet", "--mocks"])
        .arg(&dir)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("latency.toml")
                .and(contains("profiles.gpt-4o.ttft_ms.p99_99"))
                .and(contains("600000")),
        );
    // The stub refuses the profile too (its threads panicked drawing from it).
    postload()
        .args(["stub", "--port", "0", "--mocks"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("profiles.gpt-4o.ttft_ms.p99_99"));
}

#[test]
fn every_number_in_the_mocks_is_range_checked() {
    let cases = [
        (
            "latency.toml",
            catalog::EMBEDDED_LATENCY.replacen("max = 120.0", "max = inf", 1),
            "profiles.gpt-4o.output_tokens_per_s.max",
        ),
        (
            "latency.toml",
            catalog::EMBEDDED_LATENCY
                .replace("latency_ms = 0", "latency_ms = 18446744073709551615"),
            "profiles.fixed.latency_ms",
        ),
        (
            "latency.toml",
            catalog::EMBEDDED_LATENCY.replacen("sigma = 0.35", "sigma = 1e300", 1),
            "profiles.gpt-4o.completion_tokens.sigma",
        ),
        (
            "tiers.toml",
            catalog::EMBEDDED_TIERS.replacen("tpm = 30_000", "tpm = 9_000_000_000_000_000_000", 1),
            "sets.openai-2025.tier[0].limits.gpt-4o.tpm",
        ),
        (
            "prices.toml",
            catalog::EMBEDDED_PRICES.replacen("output = 10.00", "output = 1e300", 1),
            "models.gpt-4o.output",
        ),
        (
            "prices.toml",
            catalog::EMBEDDED_PRICES.replacen("output = 10.00", "output = nan", 1),
            "models.gpt-4o.output",
        ),
    ];
    for (i, (file, text, field)) in cases.into_iter().enumerate() {
        let embedded = [
            catalog::EMBEDDED_LATENCY,
            catalog::EMBEDDED_TIERS,
            catalog::EMBEDDED_PRICES,
        ];
        assert!(
            !embedded.contains(&text.as_str()),
            "case {i}: nothing replaced"
        );
        let dir = mocks_with(&format!("range{i}"), file, &text);
        run_with_mocks(&dir)
            .code(2)
            .stderr(contains(file).and(contains(format!("field `{field}`"))));
    }
}

#[test]
fn a_duplicate_tier_in_tiers_toml_is_exit_2() {
    // Tier 2 of openai-2025 renumbered 1: two tier 1s, and `--tier 2` would find none.
    let text = catalog::EMBEDDED_TIERS.replacen("tier = 2", "tier = 1", 1);
    let dir = mocks_with("duptier", "tiers.toml", &text);
    run_with_mocks(&dir).code(2).stderr(
        contains("tiers.toml")
            .and(contains("sets.openai-2025.tier[1].tier"))
            .and(contains("tier 1 is listed twice")),
    );
}

#[test]
fn a_duplicate_model_in_models_toml_is_exit_2() {
    let text = catalog::EMBEDDED_MODELS.replacen("id = \"gpt-4o-mini\"", "id = \"gpt-4o\"", 1);
    assert_ne!(text, catalog::EMBEDDED_MODELS);
    let dir = mocks_with("dupmodel", "models.toml", &text);
    run_with_mocks(&dir)
        .code(2)
        .stderr(contains("models.toml").and(contains("listed twice")));
}

fn run_args(tag: &str) -> RunArgs {
    RunArgs {
        scenario: vec!["burst-50".into()],
        output: postload::cli::ReportDir {
            report_dir: tempdir(tag),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        ..RunArgs::default()
    }
}

fn config_error(args: &RunArgs) -> String {
    match run_config(args, Arc::new(AtomicBool::new(false))) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_million_users_is_refused_before_anything_runs() {
    let mut a = run_args("users");
    a.users = Some(1_000_000);
    let e = config_error(&a);
    assert!(e.contains("--users") && e.contains("5000"), "{e}");
    a.users = Some(5_000);
    assert!(run_config(&a, Arc::new(AtomicBool::new(false))).is_ok());
}

#[test]
fn repeat_and_time_scale_past_their_limits_are_refused() {
    let mut a = run_args("repeat");
    a.repeat = Some(1_000_000);
    let e = config_error(&a);
    assert!(e.contains("--repeat") && e.contains("100"), "{e}");
    // The time scale is checked where it is read (clap's value parser), once.
    use clap::Parser;
    let e = postload::cli::Cli::try_parse_from(["postload", "run", "--time-scale", "1000"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--time-scale") && e.contains("20"), "{e}");
    let mut a = run_args("timescale");
    a.time.time_scale = Some(postload::clock::TimeScale::checked(20.0).unwrap());
    assert!(run_config(&a, Arc::new(AtomicBool::new(false))).is_ok());
}

fn scenario_error(tag: &str, load: &str, extra: &str) -> String {
    let dir = tempdir(tag);
    let file = dir.join("s.toml");
    std::fs::write(
        &file,
        format!("name = \"s\"\nmodel = \"gpt-4o\"\n{extra}\n[load]\n{load}\n"),
    )
    .unwrap();
    let mut a = run_args(tag);
    a.scenario = vec![file.display().to_string()];
    config_error(&a)
}

#[test]
fn prompt_tokens_of_ten_million_is_refused_before_the_prompt_is_built() {
    let e = scenario_error(
        "prompt",
        "kind = \"burst\"\nusers = 5",
        "[prompts]\ncaption = { prompt_tokens = 10000000, max_tokens = 200 }",
    );
    assert!(
        e.contains("s.toml") && e.contains("prompts.caption") && e.contains("128000"),
        "{e}"
    );
    let e = scenario_error(
        "maxtok",
        "kind = \"burst\"\nusers = 5",
        "[prompts]\ncaption = { prompt_tokens = 1200, max_tokens = 4000000000 }",
    );
    assert!(e.contains("prompts.caption") && e.contains("16384"), "{e}");
}

#[test]
fn a_negative_or_huge_users_names_load_users() {
    for users in ["-5", "99999999999", "1000000"] {
        let e = scenario_error(
            &format!("users{}", users.len()),
            &format!("kind = \"burst\"\nusers = {users}"),
            "",
        );
        assert!(
            e.contains("s.toml") && e.contains("load.users"),
            "{users}: {e}"
        );
    }
}

#[test]
fn huge_times_in_a_scenario_are_refused_not_a_panic() {
    let e = scenario_error(
        "timeout",
        "kind = \"burst\"\nusers = 5",
        "request_timeout_s = 1e300",
    );
    assert!(e.contains("request_timeout_s") && e.contains("3600"), "{e}");
    let e = scenario_error(
        "duration",
        "kind = \"sustained\"\nusers = 5\nrate_per_s = 1.0\nduration_s = 1e300",
        "",
    );
    assert!(e.contains("load.duration_s") && e.contains("604800"), "{e}");
    let e = scenario_error(
        "inflight",
        "kind = \"sustained\"\nusers = 5\nrate_per_s = 1.0\nduration_s = 10\nmax_in_flight = 4000000000",
        "",
    );
    assert!(e.contains("load.max_in_flight"), "{e}");
}

#[test]
fn deep_nesting_names_the_file() {
    let deep = format!("x = {}1{}\n", "[".repeat(50_000), "]".repeat(50_000));
    let e = scenario_error("deep", "kind = \"burst\"\nusers = 5", &deep);
    assert!(e.contains("s.toml"), "{e}");
    let dir = tempdir("deepjson");
    let file = dir.join("result.json");
    std::fs::write(
        &file,
        format!("{}{}", "[".repeat(50_000), "]".repeat(50_000)),
    )
    .unwrap();
    postload()
        .arg("check")
        .arg(&file)
        .args(["--gate", "gates/tier2-bursts.toml"])
        .assert()
        .code(2)
        .stderr(contains("result.json"));
}

#[test]
fn check_of_dev_zero_stops_at_the_limit() {
    postload()
        .args(["check", "/dev/zero", "--gate", "gates/tier2-bursts.toml"])
        .assert()
        .code(2)
        .stderr(contains("/dev/zero").and(contains("256 MiB")));
    postload()
        .args([
            "check",
            "tests/fixtures/result-default-run.json",
            "--gate",
            "/dev/zero",
        ])
        .assert()
        .code(2)
        .stderr(contains("/dev/zero").and(contains("1 MiB")));
    postload()
        .args(["run", "--scenario", "/dev/zero", "--report-dir"])
        .arg(tempdir("devzero"))
        .assert()
        .code(2)
        .stderr(contains("/dev/zero").and(contains("1 MiB")));
    postload()
        .args(["merge", "/dev/zero"])
        .assert()
        .code(2)
        .stderr(contains("/dev/zero").and(contains("64 MiB")));
}

#[test]
fn a_claim_naming_an_unknown_model_is_exit_2() {
    let dir = tempdir("claims-model");
    let file = dir.join("claims.toml");
    std::fs::write(
        &file,
        "[[claim]]\nid = \"c\"\nstatement = \"cheap\"\nkind = \"cost_per_post\"\nmodel = \"gpt-9\"\nvalue = 0.01\ntolerance = 0.1\n",
    )
    .unwrap();
    let mut a = run_args("claims-model");
    a.claims = Some(file);
    let e = config_error(&a);
    assert!(
        e.contains("claims.toml") && e.contains("claim[0]") && e.contains("unknown model `gpt-9`"),
        "{e}"
    );
}

/// An interval log line holding `bytes` as its histogram.
fn hlog_line(tag: &str, bytes: &[u8]) -> String {
    use base64::Engine;
    format!(
        "Tag={tag},0.000,1.000,1.000,{}\n",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A V2 (uncompressed) histogram header with no counts.
fn v2_header(payload_len: u32, digits: u32, low: u64, high: u64) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend(0x1c84_9313u32.to_be_bytes());
    b.extend(payload_len.to_be_bytes());
    b.extend(0u32.to_be_bytes());
    b.extend(digits.to_be_bytes());
    b.extend(low.to_be_bytes());
    b.extend(high.to_be_bytes());
    b.extend(1.0f64.to_be_bytes());
    b
}

fn merge(tag: &str, log: &[u8]) -> assert_cmd::assert::Assert {
    let dir = tempdir(tag);
    let file = dir.join("a.hlog");
    std::fs::write(&file, log).unwrap();
    postload().arg("merge").arg(&file).assert()
}

#[test]
fn merge_of_an_empty_hlog_is_exit_2() {
    merge("hlog-empty", b"")
        .code(2)
        .stderr(contains("a.hlog").and(contains("no histograms")));
    merge(
        "hlog-comments",
        b"#[StartTime: 1.000 (seconds since epoch)]\n",
    )
    .code(2)
    .stderr(contains("no histograms"));
}

#[test]
fn merge_of_counts_that_overflow_is_exit_2_not_a_panic() {
    // Three histograms of i64::MAX samples each under one tag: 3 × (2^63 − 1) > u64::MAX.
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    h.record_n(1_000, i64::MAX as u64).unwrap();
    let line = hlog_line("post_ok", &{
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(postload::metrics::hlog::encode(&h))
            .unwrap()
    });
    merge("hlog-overflow", line.repeat(3).as_bytes())
        .code(2)
        .stderr(
            contains("a.hlog")
                .and(contains("post_ok"))
                .and(contains("samples")),
        );
}

#[test]
fn merge_refuses_a_histogram_claiming_a_huge_range_before_allocating_it() {
    // 5 significant figures up to 2^62: (46 buckets + 1) × 131,072 = 6,160,384 counters (49 MB).
    merge(
        "hlog-range",
        hlog_line("x", &v2_header(0, 5, 1, 1 << 62)).as_bytes(),
    )
    .code(2)
    .stderr(
        contains("a.hlog")
            .and(contains("line 1"))
            .and(contains("524288")),
    );
    // A payload of 4 GiB claimed by a 40-byte histogram.
    merge(
        "hlog-payload",
        hlog_line("x", &v2_header(u32::MAX, 3, 1, 3_600_000_000)).as_bytes(),
    )
    .code(2)
    .stderr(contains("a.hlog").and(contains("line 1")));
}

#[test]
fn merge_errors_are_in_words() {
    let out = merge(
        "hlog-words",
        b"Tag=x,0.0,1.0,1.0,@@@@\nnot a log line at all\n",
    )
    .code(2)
    .get_output()
    .stderr
    .clone();
    let e = String::from_utf8_lossy(&out);
    assert!(e.contains("a.hlog") && e.contains("line 1"), "{e}");
    assert!(
        !e.contains("ParseError") && !e.contains("UsizeTypeTooSmall") && !e.contains("{"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_1e300_is_ignored_and_the_run_ends() {
    use wiremock::matchers::method;
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let _guard = crate::common::goose_lock().await;
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "1e300"))
        .mount(&server)
        .await;
    let mut a = run_args("retry-after");
    a.users = Some(2);
    a.tier = vec![1];
    a.dest.base_url = Some(format!("{}/v1", server.uri()));
    let dir = a.output.report_dir.clone();
    let cfg = run_config(&a, Arc::new(AtomicBool::new(false))).unwrap();
    {
        let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
        postload::run::execute(cfg, ex)
    }
    .await
    .unwrap();
    let c = &crate::common::read_result(&dir).1["cases"][0];
    // Each post's image-prompt call: 1 attempt + the SDK's 2 retries, all 429: 2 posts fail,
    // 2 × 3 = 6 answers are 429 and 2 × 2 = 4 retries, after the SDK's own backoff.
    assert_eq!(c["posts"]["failed"], 2);
    assert_eq!(c["calls"]["http_429"], 6);
    assert_eq!(c["calls"]["retries"], 4);
}

#[test]
fn report_of_a_result_with_a_latency_of_1e300_is_exit_2_not_a_panic() {
    // The latency chart made one bin per 0.25 s up to the slowest post: 4e302 bins.
    let text = std::fs::read_to_string("tests/fixtures/result-default-run.json").unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["cases"][1]["posts_sample"][0]["latency_ms"] = serde_json::json!(1e300);
    let dir = tempdir("report-1e300");
    let file = dir.join("result.json");
    std::fs::write(&file, serde_json::to_vec(&v).unwrap()).unwrap();
    postload().arg("report").arg(&file).assert().code(2).stderr(
        contains("result.json")
            .and(contains("cases[1].posts_sample[0].latency_ms"))
            .and(contains("1e9")),
    );
}

#[test]
fn plan_with_posts_per_day_of_1e300_is_refused_not_a_hang() {
    // 100 users × 1e300 posts a day: the simulation would never end.
    let dir = tempdir("plan-posts");
    postload()
        .args([
            "plan",
            "--quiet",
            "--users",
            "100",
            "--posts-per-day",
            "1e300",
        ])
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("--posts-per-day").and(contains("1000000")));
    postload()
        .args(["plan", "--quiet", "--users", "4000000000"])
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("--users 4000000000"));
}

#[test]
fn a_fixed_latency_past_ten_minutes_is_refused() {
    // --latency-ms 18446744073709551615 held every post until its timeout.
    let mut a = run_args("latency-ms");
    a.latency_ms = Some(u64::MAX);
    let e = config_error(&a);
    assert!(e.contains("--latency-ms") && e.contains("600000"), "{e}");
}
