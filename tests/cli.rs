//! The binary as a user runs it: help, exit codes and error text.

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn postload() -> Command {
    Command::cargo_bin("postload").unwrap()
}

#[test]
fn help_lists_the_stub() {
    postload()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("stub"));
    postload()
        .args(["stub", "--help"])
        .assert()
        .success()
        .stdout(
            contains("--tier")
                .and(contains("--retry-after"))
                .and(contains("--seed")),
        );
}

#[test]
fn a_bad_stub_option_is_exit_2_naming_it() {
    postload()
        .args(["stub", "--port", "0", "--tier", "9"])
        .assert()
        .code(2)
        .stderr(contains("--tier").and(contains("no tier 9")));
    postload()
        .args(["stub", "--port", "0", "--tiers", "nope"])
        .assert()
        .code(2)
        .stderr(contains("unknown tier set `nope`"));
    postload()
        .args(["stub", "--port", "0", "--fault-503", "1.5"])
        .assert()
        .code(2)
        .stderr(contains("--fault-503"));
    postload()
        .args(["stub", "--port", "0", "--mocks", "/nonexistent/dir"])
        .assert()
        .code(2)
        .stderr(contains("--mocks /nonexistent/dir"));
}

#[test]
fn a_bad_mocks_file_is_exit_2_naming_file_and_field() {
    let dir = temp("mocks");
    let text =
        postload::openai::catalog::EMBEDDED_LATENCY.replace("p99 = 4517.0", "p99 = \"slow\"");
    std::fs::write(dir.join("latency.toml"), text).unwrap();
    postload()
        .args(["stub", "--port", "0", "--mocks"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("latency.toml")
                .and(contains("p99"))
                .and(contains("line")),
        );
}

/// A new folder for this test: the process id alone was reused by a later run of the suite
/// (15 hours of uptime), whose tests then counted the old run's folders beside their own.
fn temp(tag: &str) -> std::path::PathBuf {
    crate::common::tempdir(&format!("cli-{tag}"))
}

#[test]
fn a_bad_scenario_file_is_exit_2_naming_file_line_and_field() {
    let dir = temp("badscenario");
    let file = dir.join("typo.toml");
    std::fs::write(
        &file,
        "name = \"typo\"\nmodel = \"gpt-4o\"\n[load]\nkind = \"burst\"\nuser = 5\n",
    )
    .unwrap();
    postload()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("typo.toml")
                .and(contains("line"))
                .and(contains("user")),
        );
    std::fs::write(
        &file,
        "name = \"x\"\nmodel = \"gpt-4o\"\ntiers = [9]\n[load]\nkind = \"burst\"\nusers = 5\n",
    )
    .unwrap();
    postload()
        .args(["run", "--quiet", "--scenario"])
        .arg(&file)
        .arg("--report-dir")
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(
            contains("typo.toml")
                .and(contains("tiers"))
                .and(contains("no tier 9")),
        );
    postload()
        .args(["run", "--scenario", "no-such-scenario", "--report-dir"])
        .arg(&dir)
        .assert()
        .code(2)
        .stderr(contains("no-such-scenario").and(contains("burst-50")));
}

#[test]
fn load_leaves_loopback_only_with_allow_spend_and_max_cost() {
    for url in ["http://10.0.0.5:9000/v1", "http://example.com/v1"] {
        postload()
            .args(["run", "--base-url", url, "--report-dir"])
            .arg(temp("loopback"))
            .assert()
            .code(2)
            .stderr(contains("--base-url").and(contains("--allow-spend")));
    }
    postload()
        .args(["run", "--base-url", "ftp://127.0.0.1/v1", "--report-dir"])
        .arg(temp("loopback"))
        .assert()
        .code(2)
        .stderr(contains("must be http or https"));
    // So does service mode's target.
    postload()
        .args(["run", "--target", "http://10.1.2.3:8000", "--report-dir"])
        .arg(temp("loopback"))
        .assert()
        .code(2)
        .stderr(contains("10.1.2.3").and(contains("--allow-spend")));
    // --resolve may only point at this machine.
    postload()
        .args([
            "run",
            "--resolve",
            "api.openai.com:443:10.0.0.5",
            "--report-dir",
        ])
        .arg(temp("loopback"))
        .assert()
        .code(2)
        .stderr(contains("--resolve").and(contains("loopback")));
}

#[test]
fn with_stub_fails_clearly_when_the_service_does_not_answer() {
    let closed = crate::common::closed_port();
    let dead = closed.port;
    let stub_port = crate::common::unused_port();
    let target = format!("http://127.0.0.1:{dead}");
    let reports = temp("not-answering");
    postload()
        .args(["run", "--target", &target, "--with-stub"])
        .arg(stub_port.to_string())
        .args(["--wait-for-target", "0.5", "--report-dir"])
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(
            contains("does not answer")
                .and(contains(target.as_str()))
                .and(contains(format!(
                    "OPENAI_BASE_URL=http://127.0.0.1:{stub_port}/v1"
                ))),
        );
    // Before: an empty run folder was left behind.
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
    // --with-stub means service mode.
    postload()
        .args(["run", "--with-stub", "9999", "--report-dir"])
        .arg(temp("not-service"))
        .assert()
        .code(2)
        .stderr(contains("--with-stub"));
}

/// Starts a run whose first case lasts long (calls of 5 s: a post takes 10 s), waits until that
/// case has begun (its progress line on stderr, then 2 s for Goose to launch), and sends
/// `signals` 200 ms apart. Returns the exit code, stderr, the run's folder and the time from
/// just before the first signal to the exit.
fn signalled_run(
    tag: &str,
    signals: &[&str],
) -> (Option<i32>, String, std::path::PathBuf, std::time::Duration) {
    use std::io::BufRead;
    let dir = temp(tag);
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args([
            "run",
            "--users",
            "10",
            "--latency-ms",
            "5000",
            "--report-dir",
        ])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("burst-50 at tier 1") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the run ended before its first case: {seen}");
        }
        seen.push_str(&line);
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    let signalled = std::time::Instant::now();
    for (i, sig) in signals.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let sent = std::process::Command::new("kill")
            .args([&format!("-{sig}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    seen.push_str(&rest);
    let code = child.wait().unwrap().code();
    let took = signalled.elapsed();
    let runs: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    (code, seen, runs[0].clone(), took)
}

/// The run folder's result.json must be the interrupted run's, never the placeholder: one
/// case (the second and later ones skipped), marked interrupted, and no temporary file.
fn assert_honest_interrupted_report(run: &std::path::Path, stderr: &str) {
    let text = std::fs::read_to_string(run.join("result.json")).unwrap();
    let result: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(result["interrupted"], true, "{stderr}");
    let cases = result["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 1, "the remaining cases were skipped: {stderr}");
    assert_eq!(cases[0]["interrupted"], true);
    assert!(result["finished_at"].is_string());
    let md = std::fs::read_to_string(run.join("report.md")).unwrap();
    assert!(md.contains("burst-50"), "{md}");
    for entry in std::fs::read_dir(run).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.contains(".tmp"), "{name}");
    }
}

#[test]
fn ctrl_c_ends_the_run_with_130_and_leaves_a_valid_report_marked_interrupted() {
    // Before: a single Ctrl-C exited 0.
    let (code, stderr, run, took) = signalled_run("sigint", &["INT"]);
    assert_eq!(code, Some(130), "{stderr}");
    // Every post in flight is at most 2 s into its 10 s (the signal came 2 s after the case
    // began), so none can finish: the run gives them the whole grace, at least 2 s from the
    // signal to the exit (timed from before the signal: never less than the wait itself).
    assert_eq!(
        postload::stop::STOP_GRACE,
        std::time::Duration::from_secs(2)
    );
    assert!(
        took >= postload::stop::STOP_GRACE,
        "exited {took:?} after the signal"
    );
    assert_honest_interrupted_report(&run, &stderr);
    // The first signal lets the attack end normally: charts are written too.
    assert!(run.join("charts/latency-burst-50-tier1.png").exists());
}

#[test]
fn sigterm_and_sighup_end_the_run_with_128_plus_their_number() {
    // Before: SIGTERM and SIGHUP killed the process and left the placeholder result.json.
    for (sig, code) in [("TERM", 143), ("HUP", 129)] {
        let (got, stderr, run, _) = signalled_run(&format!("sig{sig}"), &[sig]);
        assert_eq!(got, Some(code), "SIG{sig}: {stderr}");
        assert_honest_interrupted_report(&run, &stderr);
    }
}

#[test]
fn a_second_ctrl_c_still_leaves_the_interrupted_report_not_the_placeholder() {
    // Before: the second Ctrl-C exited at once, during the first case, leaving the placeholder
    // (`"interrupted": false`, no cases). Now it abandons the attack's posts still in flight
    // (each call takes 5 s, so none finished) and writes result.json and report.md.
    let (code, stderr, run, _) = signalled_run("sigint2", &["INT", "INT"]);
    assert_eq!(code, Some(130), "{stderr}");
    assert!(stderr.contains("abandoning the attack"), "{stderr}");
    assert_honest_interrupted_report(&run, &stderr);
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["cases"][0]["posts"]["ok"], 0);
}

#[test]
fn a_busy_with_stub_port_leaves_no_empty_run_folder() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let reports = temp("busy-port");
    postload()
        .args(["run", "--target", "http://127.0.0.1:9/", "--with-stub"])
        .arg(port.to_string())
        .arg("--report-dir")
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains(format!("--with-stub {port}")));
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
}

/// Every file under `root`, relative to it.
fn files_under(root: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn a_scenario_named_like_a_path_writes_only_inside_its_run_folder() {
    // Before: `name = "../../../../x"` wrote the hlog, Goose HTML, PNG and SVG outside
    // reports/<run>/; an absolute name wrote where it pointed.
    let root = temp("path-names");
    let deep = root.join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    let absolute = root.join("abs-target");
    let mut args = vec![];
    for (i, name) in ["../../../../x".to_string(), absolute.display().to_string()]
        .iter()
        .enumerate()
    {
        let file = deep.join(format!("s{i}.toml"));
        std::fs::write(
            &file,
            format!(
                "name = {name:?}\nmodel = \"gpt-4o\"\ntiers = [2]\n[load]\nkind = \"burst\"\nusers = 2\n"
            ),
        )
        .unwrap();
        args.push(file);
    }
    let reports = deep.join("reports");
    let mut cmd = postload();
    cmd.args(["run", "--quiet", "--latency-ms", "0"]);
    for f in &args {
        cmd.arg("--scenario").arg(f);
    }
    cmd.arg("--report-dir").arg(&reports).assert().success();
    // Outside reports/: only the two scenario files.
    let outside: Vec<String> = files_under(&root)
        .into_iter()
        .filter(|f| !f.starts_with("a/b/c/reports/"))
        .collect();
    assert_eq!(outside, ["a/b/c/s0.toml", "a/b/c/s1.toml"]);
    assert!(!absolute.exists());
    let run = std::fs::read_dir(&reports)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let inside = files_under(&run);
    // The names' slugs: `x`, and the absolute path with its separators as dashes.
    let abs_slug = postload::report::slug(&absolute.display().to_string());
    for expected in [
        "hlog/x-tier2.hlog".to_string(),
        "charts/latency-x-tier2.png".to_string(),
        "goose/x-tier2.html".to_string(),
        format!("charts/latency-{abs_slug}-tier2.svg"),
        format!("goose/{abs_slug}-tier2.html"),
    ] {
        assert!(inside.contains(&expected), "{expected} not in {inside:?}");
    }

    // `postload report` on a result.json whose scenario was edited afterwards.
    let text = std::fs::read_to_string(run.join("result.json")).unwrap();
    let edited = text.replace(
        "\"scenario\": \"../../../../x\"",
        "\"scenario\": \"../../../../y\"",
    );
    assert_ne!(edited, text);
    std::fs::write(run.join("result.json"), edited).unwrap();
    postload()
        .arg("report")
        .arg(run.join("result.json"))
        .assert()
        .success();
    let outside: Vec<String> = files_under(&root)
        .into_iter()
        .filter(|f| !f.starts_with("a/b/c/reports/"))
        .collect();
    assert_eq!(outside, ["a/b/c/s0.toml", "a/b/c/s1.toml"]);
    assert!(run.join("charts/latency-y-tier2.png").exists());
}

#[test]
fn cases_with_one_name_are_refused_before_any_load() {
    // Before: the second case's files overwrote the first's.
    let reports = temp("dup-cases");
    postload()
        .args([
            "run",
            "--scenario",
            "burst-50",
            "--scenario",
            "burst-50",
            "--report-dir",
        ])
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains("--scenario burst-50: given twice"));
    postload()
        .args(["run", "--tier", "2", "--tier", "2", "--report-dir"])
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains("--tier 2: given twice"));
    // Two files whose names have one slug: `my run` and `my-run` both name files `my-run-...`.
    let dir = temp("dup-names");
    for (f, name) in [("a.toml", "my run"), ("b.toml", "my-run")] {
        std::fs::write(
            dir.join(f),
            format!("name = {name:?}\nmodel = \"gpt-4o\"\ntiers = [2]\n[load]\nkind = \"burst\"\nusers = 2\n"),
        )
        .unwrap();
    }
    postload()
        .args(["run", "--scenario"])
        .arg(dir.join("a.toml"))
        .arg("--scenario")
        .arg(dir.join("b.toml"))
        .arg("--report-dir")
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains("b.toml").and(contains("field `name`")));
    postload()
        .args(["plan", "--tier", "2", "--tier", "2", "--report-dir"])
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains("--tier 2: given twice"));
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
}

#[test]
fn plans_started_together_get_their_own_folders() {
    // Before: three plans started in the same second wrote into one folder. Started at once they
    // need not fall in one second (a loaded machine), so the collision is made certain: every
    // folder a plan could name for the next 30 minutes (`plan-` and the UTC second) exists, so
    // each of the three must find its second's folder taken, as the second plan of a second does.
    let reports = temp("plans-together");
    let now = chrono::Utc::now();
    let taken: std::collections::BTreeSet<String> = (-2..1_800)
        .map(|s| {
            let at = now + chrono::Duration::seconds(s);
            format!("plan-{}", at.format("%Y%m%d-%H%M%S"))
        })
        .collect();
    for name in &taken {
        std::fs::create_dir_all(reports.join(name)).unwrap();
    }
    let children: Vec<_> = (0..3)
        .map(|_| {
            std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
                .args([
                    "plan",
                    "--quiet",
                    "--model",
                    "gpt-4o",
                    "--tier",
                    "2",
                    "--users",
                    "10",
                    "--strategy",
                    "sdk",
                    "--report-dir",
                ])
                .arg(&reports)
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let dirs: Vec<_> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| !taken.contains(&d.file_name().unwrap().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    for d in &dirs {
        assert!(d.join("plan.json").exists(), "{}", d.display());
        // `plan-<second>-N`: beside its second's taken folder.
        let name = d.file_name().unwrap().to_string_lossy().into_owned();
        let (stem, n) = name.rsplit_once('-').unwrap();
        assert!(taken.contains(stem), "{name}");
        assert!(n.parse::<u32>().is_ok_and(|n| n >= 2), "{name}");
    }
    // Nothing was written into a folder that existed.
    for name in &taken {
        assert_eq!(
            std::fs::read_dir(reports.join(name)).unwrap().count(),
            0,
            "{name}"
        );
    }
}

#[test]
fn options_that_would_do_nothing_are_refused_naming_them() {
    // Before: each was silently ignored.
    let reports = temp("useless-options");
    let cases: [(&[&str], &str); 6] = [
        (
            &["--base-url", "http://127.0.0.1:9/v1", "--latency-ms", "5"],
            "--latency-ms",
        ),
        (
            &["--base-url", "http://127.0.0.1:9/v1", "--retry-after"],
            "--retry-after",
        ),
        (
            &["--target", "http://127.0.0.1:9", "--latency-ms", "5"],
            "--latency-ms",
        ),
        (
            &["--target", "http://127.0.0.1:9", "--retry-after"],
            "--retry-after",
        ),
        (&["--wait-for-target", "5"], "--wait-for-target"),
        (&["--junit", "j.xml"], "--junit"),
    ];
    for (args, option) in cases {
        postload()
            .arg("run")
            .args(args)
            .arg("--report-dir")
            .arg(&reports)
            .assert()
            .code(2)
            .stderr(contains(format!("postload: {option}")));
    }
    assert_eq!(std::fs::read_dir(&reports).unwrap().count(), 0);
}

#[test]
fn a_gate_that_selects_no_case_and_an_unwritable_junit_fail_before_any_load() {
    // Before: both were found only after the whole load had been sent.
    let dir = temp("gate-early");
    let reports = dir.join("reports");
    let gate = dir.join("gate.toml");
    std::fs::write(
        &gate,
        "[[gate]]\nscenario = \"burst-100\"\nthresholds = [\"error_rate <= 0\"]\n",
    )
    .unwrap();
    postload()
        .args(["run", "--scenario", "burst-50", "--tier", "2", "--gate"])
        .arg(&gate)
        .arg("--report-dir")
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(
            contains("gate.toml")
                .and(contains(
                    "gate[0] (scenario burst-100, tier any) selects none",
                ))
                .and(contains("burst-50 tier 2")),
        );
    std::fs::write(&gate, "[[gate]]\nthresholds = [\"error_rate <= 0\"]\n").unwrap();
    postload()
        .args(["run", "--scenario", "burst-50", "--tier", "2", "--gate"])
        .arg(&gate)
        .args([
            "--junit",
            "/nonexistent-postload-dir/junit.xml",
            "--report-dir",
        ])
        .arg(&reports)
        .assert()
        .code(2)
        .stderr(contains(
            "--junit /nonexistent-postload-dir/junit.xml: cannot write there",
        ));
    assert!(!reports.exists() || std::fs::read_dir(&reports).unwrap().count() == 0);
}

#[test]
fn quiet_prints_only_the_table_and_the_claims_on_stdout() {
    // Before: Goose's "N users launched." and a [WARN] line per failed request reached stdout.
    // 40 users at Tier 1 (30,000 TPM; a post reserves 950 + 1,400 tokens) get 429s, so Goose
    // has failures to warn about.
    let reports = temp("quiet-stdout");
    let out = postload()
        .args([
            "run",
            "-q",
            "--scenario",
            "burst-50",
            "--users",
            "40",
            "--tier",
            "1",
            "--latency-ms",
            "10",
            "--report-dir",
        ])
        .arg(&reports)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("scenario"), "{stdout}");
    assert!(lines[1].starts_with("burst-50"), "{stdout}");
    // Every post met Tier 1's limits: under the table, why they failed.
    assert_eq!(
        lines[2], "failed posts, burst-50 tier 1: 40 rate limited (failed.rate_limited)",
        "{stdout}"
    );
    // Then one line per verdict, indented: the embedded file's 27 claims, each judged once on
    // this one case (no claim has two cases to judge here).
    assert_eq!(lines[3], "claims:", "{stdout}");
    assert!(lines[4..31].iter().all(|l| l.starts_with("  ")), "{stdout}");
    // Then the verdict block, even with -q (27 verdicts on 27 claims here).
    assert!(lines[31].starts_with("verdict: "), "{stdout}");
    assert!(lines[31].contains("(27 verdicts on 27 claims"), "{stdout}");
    // And the last line says that no post succeeded, even with -q.
    assert!(
        lines[lines.len() - 1]
            .starts_with("postload: NO POST SUCCEEDED (burst-50 tier 1: 40 rate limited"),
        "{stdout}"
    );
    // The 50-user claim is not judged on 40 users, and says why.
    assert!(stdout.contains(
        "  2-5 s per post when 50 users post at once: not measured: no burst of 50 users on gpt-4o in this run: this run's burst-50 had 40 users on gpt-4o\n"
    ), "{stdout}");
    assert!(String::from_utf8(out.stderr).unwrap().is_empty());
    // Goose's lines are in the run's log instead.
    let run = std::fs::read_dir(&reports)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(run.join("goose/goose.log")).unwrap();
    assert!(log.contains("WARN"), "{log}");
    // The table's row says what result.json says: scenario, tier, posts, ok %, 429s, retries.
    let result: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("result.json")).unwrap()).unwrap();
    let c = &result["cases"][0];
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    let ok_pct = c["posts"]["ok"].as_f64().unwrap() / 40.0 * 100.0;
    assert_eq!(row[..4], ["burst-50", "1", "40", &format!("{ok_pct:.1}%")]);
    assert_eq!(row[9], c["calls"]["http_429"].to_string(), "{}", lines[1]);
    assert_eq!(row[10], c["calls"]["retries"].to_string(), "{}", lines[1]);
}

#[test]
fn a_reader_that_goes_away_is_not_a_panic() {
    // Before: `postload compare A B | head -0` panicked in println! (exit 101) on the broken
    // pipe. The read end is closed before the child can start writing.
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/result-default-run.json"
    );
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args(["compare", fixture, fixture])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn compare_says_with_its_verdict_when_a_cases_endpoint_or_effort_differ() {
    // The new side's first case ran on gpt-5-mini at effort high on the Responses API: the
    // verdict (quiet or not) names the switch, and the exit code still follows the deltas.
    let dir = temp("compare-inputs-differ");
    let base = dir.join("base.json");
    let new = dir.join("new.json");
    let text = include_str!("fixtures/result-default-run.json");
    std::fs::write(&base, text).unwrap();
    let mut r: serde_json::Value = serde_json::from_str(text).unwrap();
    let inputs = &mut r["cases"][0]["inputs"];
    inputs["endpoint"] = "responses".into();
    inputs["reasoning_effort"] = "high".into();
    std::fs::write(&new, serde_json::to_vec(&r).unwrap()).unwrap();
    let case = format!(
        "{} tier {}",
        r["cases"][0]["scenario"].as_str().unwrap(),
        r["cases"][0]["tier"]
    );
    let out = postload()
        .args(["compare", "-q"])
        .arg(&base)
        .arg(&new)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.starts_with("### postload compare: no regression\n**Inputs differ**: "),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{case}: endpoint chat → responses; {case}: reasoning_effort - → high."
        )),
        "{stdout}"
    );
    // The same result on both sides: no such line.
    let same = postload()
        .args(["compare", "-q"])
        .arg(&base)
        .arg(&base)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&same.stdout).contains("Inputs differ"));
}

#[test]
fn calibrate_refuses_bad_input_naming_the_flag() {
    // A remote URL without --max-cost.
    postload()
        .args([
            "calibrate",
            "--base-url",
            "https://api.example.test/v1",
            "--allow-spend",
        ])
        .assert()
        .code(2)
        .stderr(contains("--max-cost"));
    // A remote URL without --allow-spend.
    postload()
        .args(["calibrate", "--base-url", "https://api.example.test/v1"])
        .assert()
        .code(2)
        .stderr(contains("--allow-spend"));
    // --resolve to a non-loopback address.
    postload()
        .args([
            "calibrate",
            "--base-url",
            "http://api.example.test:9/v1",
            "--allow-spend",
            "--max-cost",
            "1",
            "--resolve",
            "api.example.test:9:10.0.0.1",
        ])
        .assert()
        .code(2)
        .stderr(contains("--resolve").and(contains("loopback")));
    // No calls.
    postload()
        .args([
            "calibrate",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--calls",
            "0",
        ])
        .assert()
        .code(2)
        .stderr(contains("--calls 0"));
    // An unknown model, two models sharing one profile, too many in flight.
    postload()
        .args([
            "calibrate",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "gpt-9",
        ])
        .assert()
        .code(2)
        .stderr(contains("--model gpt-9: not in models.toml"));
    // An effort the model does not take, or a reasoning cap past its output cap (or without an
    // effort), is refused before any call.
    let effort = |more: &[&str]| {
        postload()
            .args([
                "calibrate",
                "--base-url",
                "http://127.0.0.1:9/v1",
                "--model",
                "gpt-5-mini",
            ])
            .args(more)
            .assert()
            .code(2)
    };
    effort(&["--effort", "xhigh"]).stderr(contains(
        "--effort xhigh: gpt-5-mini takes minimal, low, medium, high",
    ));
    effort(&["--effort", "high", "--reasoning-cap", "200000"])
        .stderr(contains("--reasoning-cap 200000: give 201 to 128000"));
    effort(&["--reasoning-cap", "5000"]).stderr(contains("--effort"));
    postload()
        .args([
            "calibrate",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--model",
            "gpt-4o",
            "--model",
            "gpt-4o-2024-08-06",
        ])
        .assert()
        .code(2)
        .stderr(contains("shares the latency profile `gpt-4o`"));
    postload()
        .args([
            "calibrate",
            "--base-url",
            "http://127.0.0.1:9/v1",
            "--concurrency",
            "50",
        ])
        .assert()
        .code(2)
        .stderr(contains("--concurrency 50"));
    // A worst case above the cap: refused before anything is sent.
    postload()
        .env("POSTLOAD_CAL_CLI_KEY", "sk-not-shown-anywhere")
        .args([
            "calibrate",
            "--base-url",
            "https://api.example.test/v1",
            "--allow-spend",
            "--max-cost",
            "0.001",
            "--api-key-env",
            "POSTLOAD_CAL_CLI_KEY",
        ])
        .assert()
        .code(2)
        .stderr(contains("--max-cost").and(contains("worst case")))
        .stderr(contains("sk-not-shown-anywhere").not())
        .stdout(contains("sk-not-shown-anywhere").not());
}

/// `-q` on check and compare (they had none, issue 27): compare prints its verdict line alone
/// (it names every regression), check hides the thresholds that pass but never a failed one
/// nor its count line.
#[test]
fn quiet_compare_and_check_print_only_their_verdict() {
    let dir = temp("quiet-verdicts");
    let result = dir.join("result.json");
    std::fs::write(&result, include_str!("fixtures/result-default-run.json")).unwrap();
    let stdout = |args: &[&str], code: i32| {
        let out = postload()
            .args(args)
            .assert()
            .code(code)
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    };
    let r = result.to_str().unwrap();
    let quiet = stdout(&["compare", r, r, "-q"], 0);
    assert_eq!(quiet.trim_end().lines().count(), 1, "{quiet}");
    assert!(quiet.contains("no regression"), "{quiet}");
    assert!(stdout(&["compare", r, r], 0).lines().count() > 3);
    let junit = dir.join("junit.xml");
    let j = junit.to_str().unwrap();
    let gate = ["--gate", "gates/tier2-bursts.toml", "--junit", j];
    let loud_out = postload().arg("check").arg(r).args(gate).output().unwrap();
    let code = loud_out.status.code().unwrap();
    let loud = String::from_utf8(loud_out.stdout).unwrap();
    let quiet = stdout(&[&["check", r, "--quiet"][..], &gate[..]].concat(), code);
    // The same verdict line last; fewer lines, each of them one of the full output's.
    assert_eq!(quiet.lines().last(), loud.lines().last(), "{quiet}");
    assert!(
        quiet.lines().count() < loud.lines().count(),
        "{loud}\n---\n{quiet}"
    );
    assert!(
        quiet.lines().all(|l| loud.lines().any(|m| m == l)),
        "{quiet}"
    );
}

/// `stub -q` prints its OPENAI_BASE_URL line and nothing else, not even the stop line; the
/// orderly stop (exit 0) proves the stub was past its start-up lines when interrupted.
#[test]
fn quiet_stub_prints_only_its_url() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("postload"))
        .args(["stub", "--port", "0", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("OPENAI_BASE_URL=http://127.0.0.1:"),
        "{line}"
    );
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
    assert_eq!(rest, "");
}

/// The promise in `postload --help` and src/cli.rs: with no subcommand, postload runs, with
/// `run`'s options. The same small run with and without `run` writes the same cases; a
/// mistake in `run`'s options is refused alike.
#[test]
fn postload_without_a_subcommand_is_run() {
    let quick = [
        "--scenario",
        "burst-50",
        "--users",
        "2",
        "--tier",
        "2",
        "--latency-ms",
        "0",
        "--seed",
        "5",
        "--quiet",
        "--report-dir",
    ];
    let cases = |with_run: bool| {
        let reports = temp(if with_run { "sub-run" } else { "sub-none" });
        let mut c = postload();
        if with_run {
            c.arg("run");
        }
        c.args(quick).arg(&reports).assert().code(0);
        let (_, result) = crate::common::read_result(&reports);
        let case = &result["cases"][0];
        (
            result["cases"].as_array().unwrap().len(),
            case["scenario"].clone(),
            case["tier"].clone(),
            case["posts"]["total"].clone(),
            case["posts"]["ok"].clone(),
            case["tokens"]["total"].clone(),
        )
    };
    let bare = cases(false);
    assert_eq!(bare, cases(true));
    assert_eq!(bare.0, 1);
    assert_eq!(
        (bare.1.as_str(), bare.3.as_u64(), bare.4.as_u64()),
        (Some("burst-50"), Some(2), Some(2))
    );
    let refused = temp("sub-refused");
    for with_run in [false, true] {
        let mut c = postload();
        if with_run {
            c.arg("run");
        }
        c.args(["--junit", "j.xml", "--report-dir"])
            .arg(&refused)
            .assert()
            .code(2)
            .stderr(contains("postload: --junit"));
    }
    assert_eq!(std::fs::read_dir(&refused).unwrap().count(), 0);
}
