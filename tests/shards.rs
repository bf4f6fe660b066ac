//! `run --shard i/N` and `merge` of the shards' result.json files: three shards of a small
//! burst against the embedded stub merge to the unsharded run with the same seed; `merge`
//! refuses shards that do not belong together, and over-large inputs, at exit 2.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use assert_cmd::Command;
use postload::cli::RunArgs;
use postload::config::run_config;
use serde_json::{json, Value};

use crate::common::{goose_lock, read_result, tempdir};

/// A claim on the test's own burst (6 users on gpt-4o-mini), so the merge has one to re-judge.
const CLAIMS: &str = r#"
[[claim]]
id = "p95-60s"
statement = "p95 at most 60 s when 6 users post at once on gpt-4o-mini"
kind = "latency"
users = 6
model = "gpt-4o-mini"
max_s = 60.0
"#;

/// The modelled time scale of the runs: their posts take about 5 s of modelled time, 1.25 s
/// of wall clock.
const K: f64 = 4.0;

/// A burst of 6 users on gpt-4o-mini at Tier 5 (limits far above 6 posts: no 429, so no shard's
/// own bucket can answer otherwise than one machine's), seed 11, no prompt caching (a stub's
/// cache remembers the prompts it saw: each shard's stub sees only its own).
fn args(reports: &Path, claims: &Path, shard: Option<u32>) -> RunArgs {
    RunArgs {
        scenario: vec!["burst-50".into()],
        users: Some(6),
        model: Some("gpt-4o-mini".into()),
        tier: vec![5],
        seed: postload::cli::Seed { seed: Some(11) },
        prompt_cache: postload::cli::PromptCacheHit {
            prompt_cache_hit: Some(0.0),
        },
        claims: Some(claims.to_path_buf()),
        time: postload::clock::TimeScale::checked(K).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: reports.to_path_buf(),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        shard: shard.map(|index| postload::shard::Shard { index, count: 3 }),
        ..RunArgs::default()
    }
}

async fn run(a: &RunArgs) -> (PathBuf, Value) {
    let cfg = run_config(a, Arc::new(AtomicBool::new(false))).expect("valid config");
    let ex = postload::report::run_exporters(&cfg.claims, &cfg.catalog.prices);
    postload::run::execute(cfg, ex)
        .await
        .expect("run completes");
    read_result(&a.output.report_dir)
}

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_shards_merge_to_the_unsharded_run_with_the_same_seed() {
    let dir = tempdir("shards");
    let claims = dir.join("claims.toml");
    std::fs::write(&claims, CLAIMS).unwrap();
    let guard = goose_lock().await;
    let (_, whole) = run(&args(&dir.join("whole"), &claims, None)).await;
    drop(guard);
    // The shards run together, as `merge` asks (it refuses shards that did not overlap in
    // time): three processes started at once (Goose's state is process-wide, so one process
    // runs one attack at a time), with the same options as `args`.
    let children: Vec<std::process::Child> = (1..=3)
        .map(|i| {
            std::process::Command::new(env!("CARGO_BIN_EXE_postload"))
                .args(["run", "--scenario", "burst-50", "--users", "6"])
                .args(["--model", "gpt-4o-mini", "--tier", "5", "--seed", "11"])
                .args(["--prompt-cache-hit", "0", "--time-scale", "4", "--quiet"])
                .arg("--claims")
                .arg(&claims)
                .arg("--report-dir")
                .arg(dir.join(format!("shard{i}")))
                .arg("--shard")
                .arg(format!("{i}/3"))
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("postload run starts")
        })
        .collect();
    let mut shards = Vec::new();
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait().unwrap();
        assert!(status.success(), "shard {}: {status}", i + 1);
        shards.push(read_result(&dir.join(format!("shard{}", i + 1))));
    }
    let w = &whole["cases"][0];
    assert_eq!(whole.get("shard"), None);
    // Each shard sent 2 of the 6 posts (posts i - 1 and i + 2), and says which shard it is.
    for (i, (_, r)) in shards.iter().enumerate() {
        assert_eq!(r["shard"], json!({"index": i + 1, "count": 3}));
        assert_eq!(r["cases"][0]["posts"]["total"], 2, "shard {}", i + 1);
        // Its inputs are the whole run's: the seed, and a burst of 6.
        assert_eq!(r["cases"][0]["inputs"], w["inputs"]);
    }
    let results: Vec<PathBuf> = shards.iter().map(|(d, _)| d.join("result.json")).collect();
    let merged_dir = dir.join("merged");
    let out = postload()
        .arg("merge")
        .args(&results)
        .arg("--report-dir")
        .arg(&merged_dir)
        .arg("--claims")
        .arg(&claims)
        .assert()
        .success();
    let console = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    let (mdir, merged) = read_result(&merged_dir);
    let m = &merged["cases"][0];
    assert_eq!(merged.get("shard"), None);
    // Counts, tokens and cost: exactly the unsharded run's.
    assert_eq!(w["posts"]["total"], 6);
    assert_eq!(
        w["calls"]["http_429"], 0,
        "the test's load must not reach the limits"
    );
    for field in ["total", "ok", "failed", "failed_by_cause"] {
        assert_eq!(m["posts"][field], w["posts"][field], "posts.{field}");
    }
    for field in ["calls", "tokens", "cost"] {
        assert_eq!(m[field], w[field], "{field}");
    }
    // Percentiles: exactly those of the shards' interval logs added together...
    let mut union: Option<hdrhistogram::Histogram<u64>> = None;
    for (d, _) in &shards {
        let bytes = std::fs::read(d.join("hlog/burst-50-tier5.hlog")).unwrap();
        let logs = postload::metrics::hlog::read_log(&bytes).unwrap();
        match union.as_mut() {
            Some(u) => u.add(&logs["post_ok"]).unwrap(),
            None => union = Some(logs["post_ok"].clone()),
        }
    }
    let union = postload::metrics::Percentiles::of(&union.unwrap());
    assert_eq!(
        m["post_latency_ms"]["ok"],
        serde_json::to_value(union).unwrap()
    );
    // ... and, against the unsharded run, the same latencies drawn: the shards' stubs served
    // the calls the one stub served, with the same modelled times (their count and sum exact,
    // to float rounding; the slowest the same). The posts' measured times add the harness's
    // own real milliseconds, which differ run to run and with the machine's load: compared
    // across runs they were held to 50 ms x K, and failed under load (issue 28 §2's rule: no
    // wall-clock bound), so the timed percentiles are checked only against the shards' own
    // logs above, exactly.
    let served = |r: &Value| {
        let l = &r["cases"][0]["stub"]["latency_ms"];
        let count = l["count"].as_u64().unwrap();
        (
            count,
            count as f64 * l["mean"].as_f64().unwrap(),
            l["max"].as_f64().unwrap(),
        )
    };
    let (count, sum, max) = shards
        .iter()
        .map(|(_, r)| served(r))
        .fold((0, 0.0, 0.0_f64), |(c, s, m), (c2, s2, m2)| {
            (c + c2, s + s2, m.max(m2))
        });
    let (w_count, w_sum, w_max) = served(&whole);
    assert_eq!(count, w_count, "calls served");
    assert!(
        (sum - w_sum).abs() <= 1e-9 * w_sum,
        "modelled ms: {sum} / {w_sum}"
    );
    assert_eq!(max, w_max, "the slowest call");
    // The claim is judged again on the merged figures: the merged result holds all 6 posts.
    assert_eq!(m["goodput"][0]["within_s"], 60.0);
    assert_eq!(m["goodput"][0]["share"], w["goodput"][0]["share"]);
    let claim =
        "p95 at most 60 s when 6 users post at once on gpt-4o-mini (burst-50 tier 5): holds";
    assert!(console.contains(claim), "{console}");
    assert!(console.contains("verdict: 1 hold"), "{console}");
    let md = std::fs::read_to_string(mdir.join("report.md")).unwrap();
    assert!(md.contains("p95 at most 60 s when 6 users"), "{md}");
    assert!(mdir.join("hlog/burst-50-tier5.hlog").exists());
    // A shard's result and the merged one are results as any: valid against the committed
    // schema, and read back by `report`.
    let schema: Value =
        serde_json::from_str(include_str!("../schema/result.v1.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    for r in [&merged, &shards[1].1] {
        let errors: Vec<String> = validator.iter_errors(r).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");
    }
    postload()
        .arg("report")
        .arg(mdir.join("result.json"))
        .arg("--claims")
        .arg(&claims)
        .assert()
        .success();

    // Refusals, at exit 2, naming the file and the field.
    let refused = |files: &[&Path], says: &[&str]| {
        let out = postload()
            .arg("merge")
            .args(files)
            .arg("--report-dir")
            .arg(dir.join("refused"))
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        for s in says {
            assert!(err.contains(s), "{s}: {err}");
        }
    };
    let (s1, s2, s3) = (&results[0], &results[1], &results[2]);
    refused(&[s1, s3], &["shard.index", "shard 2/3 missing"]);
    refused(&[s1, s2, s2, s3], &["shard.index", "twice"]);
    let unsharded = read_result(&dir.join("whole")).0.join("result.json");
    refused(
        &[s1, s2, &unsharded],
        &[&unsharded.display().to_string(), ": shard: absent"],
    );
    // A shard of another seed: its inputs differ.
    let mut other: Value = serde_json::from_slice(&std::fs::read(s3).unwrap()).unwrap();
    other["cases"][0]["inputs"]["seed"] = json!(12);
    let other_path = dir.join("other-seed.json");
    std::fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();
    refused(
        &[s1, s2, &other_path],
        &["other-seed.json", "cases[0].inputs.seed"],
    );
    // A log and a result are not one merge.
    let log = shards[0].0.join("hlog/burst-50-tier5.hlog");
    refused(&[s1, &log], &["not both"]);
    // A refused merge leaves no folder behind.
    assert!(!dir.join("refused").exists());
}

#[test]
fn a_merge_of_too_many_or_too_large_results_is_refused_before_reading_them() {
    let dir = tempdir("shards-bounds");
    // 257 results: more than MAX_SHARDS (256); none is read (they do not exist).
    let many: Vec<String> = (0..=postload::limits::MAX_SHARDS)
        .map(|i| dir.join(format!("r{i}.json")).display().to_string())
        .collect();
    let out = postload().arg("merge").args(&many).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("at most 256 shards"), "{err}");
    // Five results of 250 MiB (sparse: nothing is written, nor read): past MAX_MERGE_BYTES in
    // all (1 GiB), though each is within MAX_RESULT_BYTES (256 MiB).
    let big: Vec<PathBuf> = (1..=5)
        .map(|i| {
            let p = dir.join(format!("big{i}.json"));
            std::fs::File::create(&p)
                .unwrap()
                .set_len(250 << 20)
                .unwrap();
            p
        })
        .collect();
    let out = postload().arg("merge").args(&big).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("big5.json") && err.contains("in all"), "{err}");
}

#[test]
fn a_bad_shard_flag_is_refused_naming_it() {
    for bad in ["0/3", "4/3", "3", "1/257", "a/b"] {
        let out = postload()
            .args(["run", "--scenario", "burst-50", "--shard", bad])
            .assert()
            .code(2);
        let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(
            err.contains("--shard") && err.contains("give i/N"),
            "{bad}: {err}"
        );
    }
    // A burst of 2 users cannot be split in 3: a shard would send nothing.
    let out = postload()
        .args([
            "run",
            "--scenario",
            "burst-50",
            "--users",
            "2",
            "--shard",
            "1/3",
        ])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("--shard 1/3") && err.contains("burst of 2 users"),
        "{err}"
    );
}

/// Five arrivals 0, 1, 2.5, 4 and 6 s after the first; the fourth (post 3) brings its own image
/// prompt (one call, not two).
const TRACE: &str = "offset_s,image_prompt
0,
1,
2.5,
4,\"A shop window at dusk, warm light\"
6,
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_of_a_trace_sends_every_nth_arrival_at_its_own_time_with_its_own_inputs() {
    let dir = tempdir("shards-trace");
    let trace = dir.join("day.csv");
    std::fs::write(&trace, TRACE).unwrap();
    let a = RunArgs {
        scenario: vec!["burst-50".into()],
        trace: Some(trace.display().to_string()),
        trace_speed: Some(2.0),
        tier: vec![5],
        latency_ms: Some(50),
        time: postload::clock::TimeScale::checked(10.0).unwrap().into(),
        output: postload::cli::ReportDir {
            report_dir: dir.join("reports"),
        },
        verbosity: postload::cli::Verbosity { quiet: true },
        shard: Some(postload::shard::Shard { index: 2, count: 2 }),
        ..RunArgs::default()
    };
    let _guard = goose_lock().await;
    let (_, r) = run(&a).await;
    let c = &r["cases"][0];
    // Shard 2/2 takes arrivals 1 and 3: scheduled at 1 ÷ 2 = 0.5 s and 4 ÷ 2 = 2 s (modelled,
    // from the trace's first arrival, as the unsharded run schedules them), not from its own
    // first arrival; post 3 keeps its own image prompt: 2 + 1 = 3 calls.
    assert_eq!(c["posts"]["total"], 2);
    assert_eq!(c["calls"]["calls"], 3);
    let mut sent: Vec<f64> = c["posts_sample"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["sent_s"].as_f64().unwrap())
        .collect();
    sent.sort_by(f64::total_cmp);
    assert_eq!(sent.len(), 2, "{sent:?}");
    for (s, w) in sent.iter().zip([0.5, 2.0]) {
        assert!((s - w).abs() < 1e-9, "{sent:?}");
    }
}

/// The spend guard's worst case on a shard is the shard's own posts', so each shard's
/// `--max-cost` can be its share of the budget and its printed estimate says what it may spend.
#[test]
fn a_shards_spend_estimate_is_its_own_posts() {
    let dir = tempdir("shards-estimate");
    let trace = dir.join("own.csv");
    std::fs::write(&trace, "offset_s,image_prompt\n0,a\n1,\n2,b\n3,\n").unwrap();
    let estimate = |shard: Option<(u32, u32)>, users: Option<u32>, trace: Option<&Path>| {
        let a = RunArgs {
            scenario: vec!["burst-50".into()],
            users,
            trace: trace.map(|t| t.display().to_string()),
            output: postload::cli::ReportDir {
                report_dir: dir.join("reports"),
            },
            shard: shard.map(|(index, count)| postload::shard::Shard { index, count }),
            ..RunArgs::default()
        };
        let cfg = run_config(&a, Arc::new(AtomicBool::new(false))).expect("valid config");
        postload::run::estimate_max_usd(&cfg)
    };
    // The trace's posts 0 and 2 bring their own image prompt (the caption alone, 8,160 µ$ at
    // worst on gpt-4o); posts 1 and 3 make both calls (13,820 µ$), at burst-50's two tiers.
    // Shard 1/2 takes posts 0 and 2: 2 × 2 × 8,160 µ$ = $0.03264; shard 2/2 posts 1 and 3:
    // 2 × 2 × 13,820 µ$ = $0.05528; together the whole run's $0.08792.
    let one = estimate(Some((1, 2)), None, Some(&trace));
    let two = estimate(Some((2, 2)), None, Some(&trace));
    assert!((one - 0.032_64).abs() < 1e-12, "{one}");
    assert!((two - 0.055_28).abs() < 1e-12, "{two}");
    assert!((estimate(None, None, Some(&trace)) - 0.087_92).abs() < 1e-12);
    // A burst of 5 in 2 shards: 3 posts and 2.
    let whole = estimate(None, Some(5), None);
    let (a, b) = (
        estimate(Some((1, 2)), Some(5), None),
        estimate(Some((2, 2)), Some(5), None),
    );
    assert!((a * 5.0 - whole * 3.0).abs() < 1e-12, "{a} of {whole}");
    assert!((b * 5.0 - whole * 2.0).abs() < 1e-12, "{b} of {whole}");
}
